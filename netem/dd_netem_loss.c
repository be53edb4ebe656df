/* dd_netem_loss: netem's loss generators and the analytic loss rate and burst length. */
#include "dd_netem_loss.h"

#include <assert.h>
#include <math.h>
#include <string.h>

#include "dd_err.h"

static const char *const s_model_names[DD_NETEM_LOSS_COUNT] = {
    [DD_NETEM_LOSS_RANDOM] = "random",
    [DD_NETEM_LOSS_STATE] = "state",
    [DD_NETEM_LOSS_GEMODEL] = "gemodel",
};

static bool s_prob_ok(double x) { return x >= 0.0 && x <= 1.0; } /* false for NaN */

static double s_or(double x, double dflt) { return x == DD_NETEM_DEFAULT ? dflt : x; }

void dd_netem_loss_random(dd_netem_loss_params_t *p, double prob, double corr) {
  assert(p);
  memset(p, 0, sizeof *p);
  p->model = DD_NETEM_LOSS_RANDOM;
  p->p = prob;
  p->corr = s_or(corr, 0.0);
}

void dd_netem_loss_state(dd_netem_loss_params_t *p, double p13, double p31, double p32, double p23,
                         double p14) {
  assert(p);
  memset(p, 0, sizeof *p);
  p->model = DD_NETEM_LOSS_STATE;
  /* tc-netem(8) "loss state": p13 alone is Bernoulli; iproute2 q_netem.c sets the defaults
   * p31 = 1 - p13, p32 = 0, p23 = 1, p14 = 0. */
  p->p13 = p13;
  p->p31 = s_or(p31, 1.0 - p13);
  p->p32 = s_or(p32, 0.0);
  p->p23 = s_or(p23, 1.0);
  p->p14 = s_or(p14, 0.0);
}

void dd_netem_loss_gemodel(dd_netem_loss_params_t *p, double pp, double r, double one_minus_h,
                           double one_minus_k) {
  assert(p);
  memset(p, 0, sizeof *p);
  p->model = DD_NETEM_LOSS_GEMODEL;
  /* tc-netem(8) "loss gemodel": defaults r = 1 - p, 1-h = 1, 1-k = 0. */
  p->ge_p = pp;
  p->ge_r = s_or(r, 1.0 - pp);
  p->ge_1h = s_or(one_minus_h, 1.0);
  p->ge_1k = s_or(one_minus_k, 0.0);
}

int dd_netem_loss_check(const dd_netem_loss_params_t *p) {
  if (!p) return DD_EINVAL;
  switch (p->model) {
  case DD_NETEM_LOSS_RANDOM: return (s_prob_ok(p->p) && s_prob_ok(p->corr)) ? 0 : DD_EINVAL;
  case DD_NETEM_LOSS_STATE:
    if (!s_prob_ok(p->p13) || !s_prob_ok(p->p31) || !s_prob_ok(p->p32) || !s_prob_ok(p->p23) ||
        !s_prob_ok(p->p14))
      return DD_EINVAL;
    /* The outgoing probabilities of states 1 and 3 must leave room for "stay". */
    if (p->p13 + p->p14 > 1.0 || p->p31 + p->p32 > 1.0) return DD_EINVAL;
    return 0;
  case DD_NETEM_LOSS_GEMODEL:
    return (s_prob_ok(p->ge_p) && s_prob_ok(p->ge_r) && s_prob_ok(p->ge_1h) && s_prob_ok(p->ge_1k))
               ? 0
               : DD_EINVAL;
  case DD_NETEM_LOSS_COUNT: break;
  }
  return DD_EINVAL;
}

void dd_netem_loss_init(dd_netem_loss_t *self) {
  assert(self);
  self->state = 1;
  dd_netem_crand_init(&self->crand);
}

void dd_netem_loss_reset(dd_netem_loss_t *self) {
  assert(self);
  self->state = 1;
}

/* One step of the 4-state GI chain; lost when the new state is 3 or 4 (Salsano et al.; the
 * same transitions as sch_netem.c loss_4state()). One uniform draw per packet. */
static bool s_step_state(dd_netem_loss_t *self, const dd_netem_loss_params_t *p, dd_rng_t *rng) {
  double r = dd_rng_unit(rng);
  switch (self->state) {
  case 1:
    if (r < p->p14) {
      self->state = 4;
      return true;
    }
    if (r < p->p14 + p->p13) {
      self->state = 3;
      return true;
    }
    return false;
  case 2:
    if (r < p->p23) {
      self->state = 3;
      return true;
    }
    return false;
  case 3:
    if (r < p->p32) {
      self->state = 2;
      return false;
    }
    if (r < p->p32 + p->p31) {
      self->state = 1;
      return false;
    }
    return true;
  default: /* 4: an isolated loss is always followed by a delivery in the gap period */
    self->state = 1;
    return false;
  }
}

/* One step of Gilbert-Elliott as sch_netem.c loss_gilb_ell(): transition draw, then a loss draw
 * with the loss probability of the state the packet found. */
static bool s_step_ge(dd_netem_loss_t *self, const dd_netem_loss_params_t *p, dd_rng_t *rng) {
  double t = dd_rng_unit(rng);
  double l = dd_rng_unit(rng);
  if (self->state == 1) {
    if (t < p->ge_p) self->state = 2;
    return l < p->ge_1k;
  }
  if (t < p->ge_r) self->state = 1;
  return l < p->ge_1h;
}

bool dd_netem_loss_next(dd_netem_loss_t *self, const dd_netem_loss_params_t *p, dd_rng_t *rng,
                        dd_netem_corr_mode_t mode) {
  assert(self && p && rng);
  switch (p->model) {
  case DD_NETEM_LOSS_RANDOM: {
    if (p->p <= 0.0) return false;
    double u;
    dd_netem_crand_next(&self->crand, rng, p->corr, mode, &u, NULL);
    return u < p->p;
  }
  case DD_NETEM_LOSS_STATE: return s_step_state(self, p, rng);
  case DD_NETEM_LOSS_GEMODEL: return s_step_ge(self, p, rng);
  case DD_NETEM_LOSS_COUNT: break;
  }
  assert(!"unknown loss model");
  return false;
}

/* Phi2(h, h; rho) = Phi(h)^2 + 1/(2 pi) * integral_0^asin(rho) exp(-h^2 / (1 + sin t)) dt:
 * Plackett's identity d Phi2 / d rho = phi2, with rho = sin t removing the 1/sqrt(1 - rho^2)
 * singularity. Composite Simpson on a smooth integrand. */
static double s_orthant(double h, double rho) {
  double ph = dd_netem_norm_cdf(h);
  double top = asin(rho);
  const int n = 2000; /* even */
  double step = top / n, sum = 0.0;
  for (int i = 0; i <= n; i++) {
    double t = i * step;
    double f = exp(-h * h / (1.0 + sin(t)));
    sum += f * ((i == 0 || i == n) ? 1.0 : ((i & 1) ? 4.0 : 2.0));
  }
  return ph * ph + sum * step / 3.0 / (2.0 * M_PI);
}

static void s_finish(dd_netem_loss_expect_t *out, double loss, double start) {
  if (start < 0.0) start = 0.0;
  out->loss_rate = loss;
  if (start > 0.0) {
    out->mean_burst = loss / start;
    out->mean_gap = (1.0 - loss) / start;
  } else {
    out->mean_burst = loss > 0.0 ? INFINITY : 0.0;
    out->mean_gap = loss < 1.0 ? INFINITY : 0.0;
  }
}

int dd_netem_loss_expected(const dd_netem_loss_params_t *p, dd_netem_corr_mode_t mode,
                           dd_netem_loss_expect_t *out) {
  if (!out || dd_netem_loss_check(p) != 0 || (unsigned)mode >= DD_NETEM_CORR_COUNT)
    return DD_EINVAL;
  memset(out, 0, sizeof *out);
  switch (p->model) {
  case DD_NETEM_LOSS_RANDOM: {
    double q = p->p;
    double both; /* P(lost at n-1 and lost at n) */
    if (p->corr <= 0.0 || q <= 0.0 || q >= 1.0)
      both = q * q;
    else if (mode == DD_NETEM_CORR_NETEM)
      return DD_ENOTSUP;
    else if (p->corr >= 1.0)
      both = q;
    else
      both = s_orthant(dd_netem_norm_quantile(q), p->corr);
    s_finish(out, q, q - both);
    return 0;
  }
  case DD_NETEM_LOSS_STATE: {
    double p13 = p->p13, p31 = p->p31, p32 = p->p32, p23 = p->p23, p14 = p->p14;
    double *pi = out->state;
    if (p13 == 0.0 && p14 == 0.0) {
      pi[0] = 1.0; /* never leaves state 1 */
    } else if (p13 == 0.0) {
      pi[0] = 1.0 / (1.0 + p14); /* only 1 <-> 4 */
      pi[3] = p14 / (1.0 + p14);
    } else if (p23 == 0.0 && p32 > 0.0) {
      pi[1] = 1.0; /* state 2 is absorbing and reached through 3 */
    } else if (p31 == 0.0) {
      if (p32 == 0.0) {
        pi[2] = 1.0; /* stuck losing in 3 */
      } else {
        pi[1] = p32 / (p23 + p32); /* closed class {2, 3}: pi2 p23 = pi3 p32 */
        pi[2] = p23 / (p23 + p32);
      }
    } else {
      /* Balance: pi1 p13 = pi3 p31 (the flow 1 -> 4 -> 1 cancels), pi2 p23 = pi3 p32,
       * pi4 = pi1 p14. */
      double w1 = 1.0, w3 = p13 / p31, w2 = (p23 > 0.0) ? p32 * w3 / p23 : 0.0, w4 = p14;
      double s = w1 + w2 + w3 + w4;
      pi[0] = w1 / s;
      pi[1] = w2 / s;
      pi[2] = w3 / s;
      pi[3] = w4 / s;
    }
    double loss = pi[2] + pi[3];
    double start = pi[0] * (p13 + p14) + pi[1] * p23;
    s_finish(out, loss, start);
    return 0;
  }
  case DD_NETEM_LOSS_GEMODEL: {
    double gp = p->ge_p, gr = p->ge_r, eg = p->ge_1k, eb = p->ge_1h;
    double pg, pb;
    if (gp == 0.0) {
      pg = 1.0, pb = 0.0; /* starts Good and stays */
    } else if (gr == 0.0) {
      pg = 0.0, pb = 1.0; /* ends Bad and stays */
    } else {
      pg = gr / (gp + gr);
      pb = gp / (gp + gr);
    }
    out->state[0] = pg;
    out->state[1] = pb;
    double loss = pg * eg + pb * eb;
    /* The loss of a packet depends only on the state it found; the next packet finds the
     * state after one transition. */
    double start = pg * (1.0 - eg) * ((1.0 - gp) * eg + gp * eb) +
                   pb * (1.0 - eb) * (gr * eg + (1.0 - gr) * eb);
    s_finish(out, loss, start);
    return 0;
  }
  case DD_NETEM_LOSS_COUNT: break;
  }
  return DD_EINVAL;
}

const char *dd_netem_loss_model_name(dd_netem_loss_model_t m) {
  return ((unsigned)m < DD_NETEM_LOSS_COUNT) ? s_model_names[m] : "?";
}
