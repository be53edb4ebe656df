/* dd_netem_dist: netem's delay distributions in closed form and the correlated random source. */
#include "dd_netem_dist.h"

#include <assert.h>
#include <math.h>
#include <string.h>

#include "dd_err.h"

static const char *const s_dist_names[DD_NETEM_DIST_COUNT] = {
    [DD_NETEM_DIST_NORMAL] = "normal",
    [DD_NETEM_DIST_UNIFORM] = "uniform",
    [DD_NETEM_DIST_PARETO] = "pareto",
    [DD_NETEM_DIST_PARETONORMAL] = "paretonormal",
};

static double s_clamp(double x, double lo, double hi) { return x < lo ? lo : (x > hi ? hi : x); }

double dd_netem_norm_cdf(double z) { return 0.5 * erfc(-z / M_SQRT2); }

double dd_netem_norm_quantile(double u) {
  /* P. J. Acklam, "An algorithm for computing the inverse normal cumulative distribution
   * function" (2003): rational approximations on a central region and two tails (relative error
   * 1.15e-9), then one Halley step on Phi(x) - u brings it to double precision. */
  static const double a[6] = {-3.969683028665376e+01, 2.209460984245205e+02,
                              -2.759285104469687e+02, 1.383577518672690e+02,
                              -3.066479806614716e+01, 2.506628277459239e+00};
  static const double b[5] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                              6.680131188771972e+01, -1.328068155288572e+01};
  static const double c[6] = {-7.784894002430293e-03, -3.223964580411365e-01,
                              -2.400758277161838e+00, -2.549732539343734e+00,
                              4.374664141464968e+00,  2.938163982698783e+00};
  static const double d[4] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                              3.754408661907416e+00};
  const double plow = 0.02425;
  if (!(u > 0.0)) return -INFINITY;
  if (!(u < 1.0)) return INFINITY;
  double x;
  if (u < plow) {
    double q = sqrt(-2.0 * log(u));
    x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1.0);
  } else if (u <= 1.0 - plow) {
    double q = u - 0.5, r = q * q;
    x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
        (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1.0);
  } else {
    double q = sqrt(-2.0 * log1p(-u));
    x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1.0);
  }
  /* Halley refinement. In the upper tail compare complements to keep precision. */
  double e = (u > 0.5) ? (1.0 - u) - 0.5 * erfc(x / M_SQRT2) : dd_netem_norm_cdf(x) - u;
  double t = e * sqrt(2.0 * M_PI) * exp(0.5 * x * x);
  x = x - t / (1.0 + 0.5 * x * t);
  return x;
}

/* netem's pareto table (iproute2 netem/pareto.c): shape 3, centred by 1.5, scaled by 4/3;
 * the 16-bit table saturates at +4. Written as an inverse CDF in u. */
static double s_pareto(double u) {
  double tail = 1.0 - u; /* > 0 for u in [0, 1) */
  if (!(tail > 0.0)) return DD_NETEM_DIST_LIMIT;
  double t = (4.0 / 3.0) * (pow(tail, -1.0 / 3.0) - 1.5);
  return t > DD_NETEM_DIST_LIMIT ? DD_NETEM_DIST_LIMIT : t;
}

double dd_netem_dist_std(dd_netem_dist_t d, double u, double z) {
  switch (d) {
  case DD_NETEM_DIST_UNIFORM: return 2.0 * u - 1.0;
  case DD_NETEM_DIST_NORMAL: return s_clamp(z, -DD_NETEM_DIST_LIMIT, DD_NETEM_DIST_LIMIT);
  case DD_NETEM_DIST_PARETO: return s_pareto(u);
  case DD_NETEM_DIST_PARETONORMAL:
    /* iproute2 netem/paretonormal.c: value = (normal + 3 * pareto) / 4 at one table index. */
    return s_clamp(0.25 * z + 0.75 * s_pareto(u), -DD_NETEM_DIST_LIMIT, DD_NETEM_DIST_LIMIT);
  case DD_NETEM_DIST_COUNT: break;
  }
  assert(!"unknown distribution");
  return 0.0;
}

double dd_netem_dist_quantile(dd_netem_dist_t d, double u) {
  return dd_netem_dist_std(d, u, dd_netem_norm_quantile(u));
}

void dd_netem_crand_init(dd_netem_crand_t *self) {
  assert(self);
  memset(self, 0, sizeof *self);
}

void dd_netem_crand_next(dd_netem_crand_t *self, dd_rng_t *rng, double rho,
                         dd_netem_corr_mode_t mode, double *u, double *z) {
  assert(self && rng);
  double uu, zz = 0.0;
  bool have_z = false;
  if (rho > 0.0 && mode == DD_NETEM_CORR_PRESERVE) {
    /* Stationary Gaussian AR(1): z_n = rho z_(n-1) + sqrt(1 - rho^2) e_n, z_0 ~ N(0, 1). */
    double last;
    if (!self->primed)
      last = dd_rng_normal(rng);
    else
      last = self->z_valid ? self->last_z : dd_netem_norm_quantile(self->last_u);
    zz = rho * last + sqrt(1.0 - rho * rho) * dd_rng_normal(rng);
    have_z = true;
    uu = dd_netem_norm_cdf(zz);
  } else if (rho > 0.0) {
    /* sch_netem.c get_crandom(): answer = (value * (2^32 - rho) + last * rho) >> 32, the first
     * "last" being a fresh random value (init_crandom). */
    if (!self->primed) self->last_u = dd_rng_unit(rng);
    uu = (1.0 - rho) * dd_rng_unit(rng) + rho * self->last_u;
  } else {
    uu = dd_rng_unit(rng); /* independent draw */
  }
  if (uu >= 1.0) uu = nextafter(1.0, 0.0);
  if (z && !have_z) {
    zz = dd_netem_norm_quantile(uu);
    have_z = true;
  }
  self->last_u = uu;
  self->last_z = zz;
  self->z_valid = have_z;
  self->primed = true;
  if (u) *u = uu;
  if (z) *z = zz;
}

const char *dd_netem_dist_name(dd_netem_dist_t d) {
  return ((unsigned)d < DD_NETEM_DIST_COUNT) ? s_dist_names[d] : "?";
}

int dd_netem_dist_from_name(const char *name, dd_netem_dist_t *out) {
  if (!name || !out) return DD_EINVAL;
  for (int i = 0; i < DD_NETEM_DIST_COUNT; i++)
    if (strcmp(name, s_dist_names[i]) == 0) {
      *out = (dd_netem_dist_t)i;
      return 0;
    }
  return DD_EINVAL;
}
