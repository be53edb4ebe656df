/* dd_netem_dist: delay distributions of netem (uniform, normal, pareto, paretonormal) computed
 * analytically, and the correlated random source that feeds them and the probability draws.
 *
 * Distributions. netem draws a delay as mu + sigma * t, where t comes from a 16-bit table holding
 * a scaled inverse CDF (tc-netem(8) "distribution"; iproute2 netem/README.distribution; the
 * tables are integers scaled by NETEM_DIST_SCALE = 8192, so |t| <= 32767/8192, about 4). Here
 * the same standardized variate t is computed in closed form from a uniform u (and, where it
 * helps, the matching standard normal z = Phi^-1(u)):
 *   uniform       t = 2u - 1                       (netem: no table, rnd % 2sigma - sigma)
 *                 mean 0, sd 1/sqrt(3)
 *   normal        t = z, limited to [-4, 4]        mean 0, sd 0.99994
 *   pareto        t = 4/3 ((1-u)^(-1/3) - 1.5) (shape a = 3, x_m = 1, centred on the
 *                 untruncated mean 1.5 and scaled by 4/3), limited to t <= 4 as in the table;
 *                 range [-2/3, 4], mean -0.0329, sd 0.8209, P(t = 4) = 1/91.125
 *   paretonormal  t = 0.25 z + 0.75 pareto(u), both taken at the SAME u (the table generator
 *                 combines the two inverse CDFs index by index: value = (normal + 3 pareto) / 4,
 *                 so this is a comonotone blend, not a mixture), limited to [-4, 4];
 *                 mean -0.0247, sd 0.8349.
 * The [-4, 4] limit is the range of netem's 16-bit tables; it also keeps every delay bounded by
 * mu + 4 sigma. Delay samples below zero are clamped to 0 by the caller.
 *
 * Correlation. netem's get_crandom() makes next = (1 - rho) * fresh + rho * last on uniforms.
 * That shrinks the spread (stationary variance (1-rho)/(1+rho) of the uniform's), so a
 * correlated "loss 1% 25%" loses far fewer than 1% of packets and correlated jitter is narrower
 * than configured (the reason tc-netem(8) calls loss correlation deprecated). Two modes:
 *   DD_NETEM_CORR_PRESERVE (default): a Gaussian AR(1) latent z_n = rho z_(n-1) +
 *     sqrt(1 - rho^2) e_n mapped through u = Phi(z). Each draw is still exactly Uniform(0,1)
 *     (so loss rates and delay distributions are what was configured) and successive draws are
 *     correlated: latent correlation rho, rank (Spearman) correlation 6/pi asin(rho/2).
 *   DD_NETEM_CORR_NETEM: netem's recurrence, flaw included, for side-by-side comparisons.
 * With rho = 0 both modes are plain independent draws. */
#ifndef DD_NETEM_DIST_H
#define DD_NETEM_DIST_H

#include <stdbool.h>

#include "dd_rng.h"

typedef enum {
  DD_NETEM_DIST_NORMAL = 0, /* default, as tc-netem(8) "distribution" */
  DD_NETEM_DIST_UNIFORM,
  DD_NETEM_DIST_PARETO,
  DD_NETEM_DIST_PARETONORMAL,
  DD_NETEM_DIST_COUNT
} dd_netem_dist_t;

typedef enum {
  DD_NETEM_CORR_PRESERVE = 0, /* Gaussian-copula AR(1): marginal stays uniform (default) */
  DD_NETEM_CORR_NETEM,        /* netem get_crandom(): (1-rho) fresh + rho last */
  DD_NETEM_CORR_COUNT
} dd_netem_corr_mode_t;

/* The limit on standardized variates: the range of netem's tables, 32767 / 8192 rounded. */
#define DD_NETEM_DIST_LIMIT 4.0

/* State of one correlated random source (one per purpose: delay, loss, duplicate, ...). */
typedef struct {
  double last_u; /* previous uniform (netem mode) */
  double last_z; /* previous latent normal (preserve mode), if z_valid */
  bool z_valid;  /* last_z is Phi^-1(last_u) */
  bool primed;   /* last_u holds a value */
} dd_netem_crand_t;

void dd_netem_crand_init(dd_netem_crand_t *self);

/* Next correlated draw with correlation rho in [0, 1]: *u in [0, 1) and the matching standard
 * normal *z = Phi^-1(u) (either may be NULL). Uses only rng for randomness. */
void dd_netem_crand_next(dd_netem_crand_t *self, dd_rng_t *rng, double rho,
                         dd_netem_corr_mode_t mode, double *u, double *z);

/* Standardized variate t of distribution d for the uniform u and its normal z = Phi^-1(u). */
double dd_netem_dist_std(dd_netem_dist_t d, double u, double z);

/* The same from u alone (inverse CDF); u in [0, 1). */
double dd_netem_dist_quantile(dd_netem_dist_t d, double u);

/* Standard normal CDF Phi and its inverse (Acklam's rational approximation refined by one
 * Halley step; absolute error below 1e-12 on (1e-300, 1 - 1e-16)). */
double dd_netem_norm_cdf(double z);
double dd_netem_norm_quantile(double u);

/* "uniform", "normal", "pareto", "paretonormal" (tc-netem(8) names); "?" when out of range. */
const char *dd_netem_dist_name(dd_netem_dist_t d);
/* Parse a name; 0 or DD_EINVAL. */
int dd_netem_dist_from_name(const char *name, dd_netem_dist_t *out);

#endif
