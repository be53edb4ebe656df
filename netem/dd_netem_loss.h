/* dd_netem_loss: netem's packet loss models (random with correlation, the 4-state GI Markov
 * model "loss state", the Gilbert-Elliott model "loss gemodel") and their analytic loss rate and
 * mean burst length.
 *
 * Models (tc-netem(8) "loss"; Salsano, Ludovici, Ordine, "Definition of a general and intuitive
 * loss model for packet networks and its implementation in the Netem module in the Linux
 * kernel", the reference cited by sch_netem.c):
 *   random P [CORR]       each packet lost with probability P; CORR correlates successive draws
 *                         (see dd_netem_dist.h for the two correlation modes).
 *   state p13 [p31 [p32 [p23 [p14]]]]
 *                         4-state chain. 1 = received in a gap period, 2 = received within a
 *                         burst, 3 = lost within a burst, 4 = isolated loss in a gap. Each packet
 *                         moves the chain once; it is lost when the NEW state is 3 or 4.
 *                         1 -> 4 (p14), 1 -> 3 (p13), else stay; 2 -> 3 (p23), else stay;
 *                         3 -> 2 (p32), 3 -> 1 (p31), else stay; 4 -> 1 always.
 *                         tc defaults: p31 = 1 - p13, p32 = 0, p23 = 1, p14 = 0 (Bernoulli).
 *   gemodel p [r [1-h [1-k]]]
 *                         2 states, Good (1) and Bad (2). Per packet: first the transition
 *                         (G -> B with p, B -> G with r), then a loss draw with the loss
 *                         probability of the state the packet found (1-k in G, 1-h in B), as
 *                         sch_netem.c loss_gilb_ell() does. tc defaults: r = 1 - p, 1-h = 1,
 *                         1-k = 0 (Bernoulli with p); (p, r) is Simple Gilbert, (p, r, 1-h)
 *                         Gilbert, all four Gilbert-Elliott.
 * Both Markov chains start in state 1 and are moved with independent uniform draws (netem does
 * not correlate them: the chain is the correlation). */
#ifndef DD_NETEM_LOSS_H
#define DD_NETEM_LOSS_H

#include <stdbool.h>

#include "dd_netem_dist.h"
#include "dd_rng.h"

typedef enum {
  DD_NETEM_LOSS_RANDOM = 0, /* Bernoulli, optionally correlated ("loss random") */
  DD_NETEM_LOSS_STATE,      /* 4-state GI model ("loss state") */
  DD_NETEM_LOSS_GEMODEL,    /* Gilbert-Elliott ("loss gemodel") */
  DD_NETEM_LOSS_COUNT
} dd_netem_loss_model_t;

/* Probabilities are in [0, 1] (not percent). */
typedef struct {
  dd_netem_loss_model_t model;    /* which of the groups below applies */
  double p;                       /* random: loss probability */
  double corr;                    /* random: correlation of successive draws */
  double p13, p31, p32, p23, p14; /* state: transition probabilities */
  double ge_p;                    /* gemodel: Good -> Bad */
  double ge_r;                    /* gemodel: Bad -> Good */
  double ge_1h;                   /* gemodel: loss probability in Bad (1-h) */
  double ge_1k;                   /* gemodel: loss probability in Good (1-k) */
} dd_netem_loss_params_t;

/* Running state of one loss generator. */
typedef struct {
  int state;              /* Markov state, 1..4 (state) or 1..2 (gemodel) */
  dd_netem_crand_t crand; /* correlated source for the random model */
} dd_netem_loss_t;

/* Pass for an omitted trailing argument of the helpers below: it takes tc's default. */
#define DD_NETEM_DEFAULT (-1.0)

/* Fill p like "loss random PROB CORR". */
void dd_netem_loss_random(dd_netem_loss_params_t *p, double prob, double corr);
/* Fill p like "loss state p13 [p31 [p32 [p23 [p14]]]]" (DD_NETEM_DEFAULT for omitted ones). */
void dd_netem_loss_state(dd_netem_loss_params_t *p, double p13, double p31, double p32, double p23,
                         double p14);
/* Fill p like "loss gemodel p [r [1-h [1-k]]]" (DD_NETEM_DEFAULT for omitted ones). */
void dd_netem_loss_gemodel(dd_netem_loss_params_t *p, double pp, double r, double one_minus_h,
                           double one_minus_k);

/* 0, or DD_EINVAL for an unknown model, a probability outside [0, 1] or NaN, or a state whose
 * outgoing probabilities sum above 1 (p13 + p14, p31 + p32). */
int dd_netem_loss_check(const dd_netem_loss_params_t *p);

/* Start in state 1 with a fresh correlated source. */
void dd_netem_loss_init(dd_netem_loss_t *self);
/* Back to state 1 (model changed); the correlated source is kept. */
void dd_netem_loss_reset(dd_netem_loss_t *self);

/* Decide one packet: true when lost. p must have passed dd_netem_loss_check(). */
bool dd_netem_loss_next(dd_netem_loss_t *self, const dd_netem_loss_params_t *p, dd_rng_t *rng,
                        dd_netem_corr_mode_t mode);

/* Long-run expectations of a loss process. A burst is a maximal run of consecutive losses, a
 * gap a maximal run of consecutive deliveries. */
typedef struct {
  double loss_rate;  /* fraction of packets lost */
  double mean_burst; /* mean burst length (packets); 0 if no loss, INFINITY if never recovers */
  double mean_gap;   /* mean gap length (packets); INFINITY if never lost */
  double state[4];   /* stationary probability of Markov states 1..4 (unused ones 0) */
} dd_netem_loss_expect_t;

/* Analytic loss rate and burst/gap lengths. Markov models: stationary distribution of the chain
 * reached from state 1 (the closed class it ends in when the chain is reducible), loss rate
 * L = sum pi_s e_s, burst-start rate B = P(delivered, then lost), mean burst L / B, mean gap
 * (1 - L) / B. Random model: L = p; with correlation in PRESERVE mode B = p - Phi2(h, h; rho)
 * with h = Phi^-1(p) (bivariate normal orthant, Plackett's formula integrated numerically).
 * Returns 0, DD_EINVAL for invalid parameters, DD_ENOTSUP for correlated random loss in NETEM
 * mode (netem's recurrence has no simple closed form). */
int dd_netem_loss_expected(const dd_netem_loss_params_t *p, dd_netem_corr_mode_t mode,
                           dd_netem_loss_expect_t *out);

const char *dd_netem_loss_model_name(dd_netem_loss_model_t m); /* "random", "state", "gemodel" */

#endif
