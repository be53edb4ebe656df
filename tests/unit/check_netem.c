/* check_netem: the userspace netem core: release order and times, rate shaping, delay
 * distributions, loss models against their analytic values, duplication, corruption,
 * reordering, outages, ramps, determinism and parameter validation, all on injected time.
 *
 * Reference values are computed here independently of the module: distribution moments and
 * quantiles from their closed forms (moments of the Pareto truncated at the table limit
 * derived by hand below) or by numeric integration with a bisection inverse of erfc(); Markov
 * loss figures from the balance equations solved by hand; Sheppard's orthant formula
 * P(Z1 < 0, Z2 < 0) = 1/4 + asin(rho) / (2 pi) for correlated loss at p = 0.5; the ATM cell
 * example (50 bytes -> 2 cells of 48 + 5 = 106 bytes) of tc-netem(8). */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dd_err.h"
#include "dd_netem.h"

#define MS 1000ull
#define SEC 1000000ull

/* ck_assert records every passing check through the runner's channel, which is slow in loops
 * of 10^5 iterations; this reports only failures. */
#define S_CHECK(cond)                                                                              \
  do {                                                                                             \
    if (!(cond)) ck_abort_msg("%s:%d: check failed: %s", __FILE__, __LINE__, #cond);               \
  } while (0)

/* ---- helpers ------------------------------------------------------------------------------ */

static dd_netem_dir_t *s_dir(dd_netem_kind_t kind, uint64_t seed, const dd_netem_params_t *p) {
  dd_netem_dir_t *d = dd_netem_dir_new(kind, seed);
  ck_assert_ptr_nonnull(d);
  ck_assert_int_eq(dd_netem_set(d, p, 0), 0);
  return d;
}

static void s_check_invariant(const dd_netem_dir_t *d) {
  dd_netem_counters_t c;
  dd_netem_counters(d, &c);
  uint64_t dropped = c.dropped_random + c.dropped_ge + c.dropped_outage + c.dropped_limit;
  ck_assert_uint_eq(c.enqueued + c.duplicated, c.released + dropped + c.queue_depth);
}

/* Pop everything due at now; returns how many were popped. */
static size_t s_drain(dd_netem_dir_t *d, uint64_t now, dd_netem_release_t *out, size_t cap) {
  size_t n = 0;
  dd_netem_release_t r;
  while (dd_netem_pop_due(d, now, &r) == 1) {
    if (out && n < cap) out[n] = r;
    n++;
  }
  return n;
}

static double s_mean(const double *x, size_t n) {
  double s = 0.0;
  for (size_t i = 0; i < n; i++)
    s += x[i];
  return s / (double)n;
}

static double s_sd(const double *x, size_t n) {
  double m = s_mean(x, n), s = 0.0;
  for (size_t i = 0; i < n; i++)
    s += (x[i] - m) * (x[i] - m);
  return sqrt(s / (double)(n - 1));
}

static double s_lag1(const double *x, size_t n) {
  double m = s_mean(x, n), num = 0.0, den = 0.0;
  for (size_t i = 0; i < n; i++) {
    den += (x[i] - m) * (x[i] - m);
    if (i) num += (x[i] - m) * (x[i - 1] - m);
  }
  return num / den;
}

/* Standard normal quantile by bisection on erfc (independent of the module's approximation). */
static double s_ref_norm_quantile(double u) {
  if (u > 0.5) return -s_ref_norm_quantile(1.0 - u); /* the lower tail of Phi is precise */
  double lo = -40.0, hi = 40.0;
  for (int i = 0; i < 200; i++) {
    double mid = 0.5 * (lo + hi);
    if (0.5 * erfc(-mid / M_SQRT2) < u)
      lo = mid;
    else
      hi = mid;
  }
  return 0.5 * (lo + hi);
}

/* netem's pareto table as a function of u, written from iproute2 netem/pareto.c's definition. */
static double s_ref_pareto(double u) {
  double t = 4.0 / 3.0 * (pow(1.0 - u, -1.0 / 3.0) - 1.5);
  return t > 4.0 ? 4.0 : t;
}

static double s_ref_paretonormal(double u) {
  double t = 0.25 * s_ref_norm_quantile(u) + 0.75 * s_ref_pareto(u);
  return t > 4.0 ? 4.0 : (t < -4.0 ? -4.0 : t);
}

/* Draw n path delays (us) of a DATAGRAM direction with the given parameters. */
static double *s_delays(const dd_netem_params_t *p, uint64_t seed, size_t n) {
  dd_netem_dir_t *d = s_dir(DD_NETEM_DATAGRAM, seed, p);
  double *x = malloc(n * sizeof *x);
  ck_assert_ptr_nonnull(x);
  for (size_t i = 0; i < n; i++) {
    dd_netem_verdict_t v;
    uint64_t now = i * MS;
    S_CHECK((dd_netem_enqueue(d, i, 100, now, &v)) == (0));
    S_CHECK((v.n_copies) == (1));
    x[i] = (double)(v.copy[0].release_at - now);
  }
  dd_netem_dir_destroy(&d);
  return x;
}

/* Mean, sd and CDF at given quantiles of a delay sample against expected values (standardized
 * t, delay = mu + sigma t). The CDF is checked in probability space: the fraction of samples
 * below the expected q-quantile must be q within 4.5 binomial standard errors. */
static void s_check_sample(const double *x, size_t n, double mu, double sigma, double mean_t,
                           double sd_t, const double *q, const double *xq_t, size_t nq) {
  double m = s_mean(x, n), sd = s_sd(x, n);
  double want_m = mu + sigma * mean_t, want_sd = sigma * sd_t;
  ck_assert_msg(fabs(m - want_m) < 5.0 * want_sd / sqrt((double)n), "mean %.2f want %.2f", m,
                want_m);
  ck_assert_msg(fabs(sd - want_sd) < 0.02 * want_sd, "sd %.2f want %.2f", sd, want_sd);
  for (size_t k = 0; k < nq; k++) {
    double xq = mu + sigma * xq_t[k];
    size_t below = 0;
    for (size_t i = 0; i < n; i++)
      below += x[i] <= xq;
    double f = (double)below / (double)n;
    double tol = 4.5 * sqrt(q[k] * (1.0 - q[k]) / (double)n);
    ck_assert_msg(fabs(f - q[k]) < tol, "F(%.1f) = %.5f want %.3f +- %.5f", xq, f, q[k], tol);
  }
}

static void s_delay_params(dd_netem_params_t *p, dd_netem_dist_t dist) {
  dd_netem_params_init(p);
  p->delay_us = 100 * MS;
  p->jitter_us = 10 * MS;
  p->dist = dist;
}

/* Loss pattern of n DATAGRAM messages (1 = lost); returns the measured loss rate and mean
 * burst length. */
static void s_measure_loss(const dd_netem_params_t *p, uint64_t seed, size_t n, double *rate,
                           double *burst) {
  dd_netem_dir_t *d = s_dir(DD_NETEM_DATAGRAM, seed, p);
  size_t lost = 0, runs = 0;
  bool prev = false;
  for (size_t i = 0; i < n; i++) {
    dd_netem_verdict_t v;
    S_CHECK((dd_netem_enqueue(d, i, 10, i, &v)) == (0));
    bool l = v.n_copies == 0;
    S_CHECK(!l || (v.flags & (DD_NETEM_F_DROP_RANDOM | DD_NETEM_F_DROP_GE)));
    lost += l;
    runs += l && !prev;
    prev = l;
    s_drain(d, i, NULL, 0);
  }
  s_check_invariant(d);
  dd_netem_dir_destroy(&d);
  *rate = (double)lost / (double)n;
  *burst = runs ? (double)lost / (double)runs : 0.0;
}

/* ---- release order and times -------------------------------------------------------------- */

START_TEST(test_fixed_delay) {
  for (int kind = DD_NETEM_STREAM; kind <= DD_NETEM_DATAGRAM; kind++) {
    dd_netem_params_t p;
    dd_netem_params_init(&p);
    p.delay_us = 50 * MS;
    dd_netem_dir_t *d = s_dir((dd_netem_kind_t)kind, 1, &p);
    ck_assert_uint_eq(dd_netem_next_release(d), DD_NETEM_NEVER);
    for (uint64_t i = 0; i < 10; i++) {
      dd_netem_verdict_t v;
      ck_assert_int_eq(dd_netem_enqueue(d, 100 + i, 64, i * MS, &v), 0);
      ck_assert_uint_eq(v.n_copies, 1);
      ck_assert_uint_eq(v.flags, 0);
      ck_assert_uint_eq(v.copy[0].release_at, i * MS + 50 * MS);
      ck_assert_int_eq(v.copy[0].corrupt_bit, -1);
      ck_assert_uint_eq(v.path_us, 50 * MS);
      ck_assert_uint_eq(v.queue_us, 0);
    }
    ck_assert_uint_eq(dd_netem_next_release(d), 50 * MS);
    dd_netem_release_t r[16];
    ck_assert_uint_eq(s_drain(d, 50 * MS - 1, r, 16), 0);
    ck_assert_uint_eq(s_drain(d, 50 * MS, r, 16), 1);
    ck_assert_uint_eq(r[0].msg_id, 100);
    ck_assert_uint_eq(r[0].release_at, 50 * MS);
    ck_assert_uint_eq(r[0].enqueued_at, 0);
    ck_assert(r[0].last);
    ck_assert_uint_eq(dd_netem_next_release(d), 51 * MS);
    ck_assert_uint_eq(s_drain(d, 55 * MS + 500, r, 16), 5);
    for (int i = 0; i < 5; i++) {
      ck_assert_uint_eq(r[i].msg_id, 101 + (uint64_t)i);
      ck_assert_uint_eq(r[i].release_at, (51 + (uint64_t)i) * MS);
      ck_assert_uint_eq(r[i].bytes, 64);
      ck_assert_uint_eq(r[i].flags, 0);
    }
    ck_assert_uint_eq(s_drain(d, SEC, r, 16), 4);
    ck_assert_uint_eq(dd_netem_next_release(d), DD_NETEM_NEVER);
    dd_netem_counters_t c;
    dd_netem_counters(d, &c);
    ck_assert_uint_eq(c.enqueued, 10);
    ck_assert_uint_eq(c.released, 10);
    ck_assert_uint_eq(c.bytes_in, 640);
    ck_assert_uint_eq(c.bytes_out, 640);
    ck_assert_uint_eq(c.queue_depth, 0);
    ck_assert_uint_eq(c.queue_bytes, 0);
    s_check_invariant(d);
    /* Time must not go back. */
    dd_netem_verdict_t v;
    ck_assert_int_eq(dd_netem_enqueue(d, 1, 1, SEC - 1, &v), DD_EINVAL);
    ck_assert_int_eq(dd_netem_pop_due(d, SEC - 1, &r[0]), DD_EINVAL);
    ck_assert_int_eq(dd_netem_set(d, &p, SEC - 1), DD_EINVAL);
    ck_assert_int_eq(dd_netem_outage(d, 2 * SEC, SEC, SEC - 1), DD_EINVAL);
    ck_assert_int_eq(dd_netem_restore(d, SEC - 1), DD_EINVAL);
    dd_netem_dir_destroy(&d);
    ck_assert_ptr_null(d);
  }
}
END_TEST

START_TEST(test_stream_never_reorders) {
  const size_t n = 100000;
  for (int dist = 0; dist < DD_NETEM_DIST_COUNT; dist++) {
    dd_netem_params_t p;
    dd_netem_params_init(&p);
    p.delay_us = 50 * MS;
    p.jitter_us = 40 * MS;
    p.dist = (dd_netem_dist_t)dist;
    dd_netem_dir_t *st = s_dir(DD_NETEM_STREAM, 7, &p);
    dd_netem_dir_t *dg = s_dir(DD_NETEM_DATAGRAM, 7, &p);
    uint64_t expect_id = 0, last_rel = 0;
    dd_netem_release_t r;
    for (size_t i = 0; i <= n; i++) {
      uint64_t now = i * 100;
      if (i < n) {
        dd_netem_verdict_t v;
        S_CHECK((dd_netem_enqueue(st, i, 200, now, &v)) == (0));
        S_CHECK((v.n_copies) == (1));
        S_CHECK((v.copy[0].release_at) >= (now));
        S_CHECK((dd_netem_enqueue(dg, i, 200, now, &v)) == (0));
      } else {
        now = DD_NETEM_NEVER - 1;
      }
      while (dd_netem_pop_due(st, now, &r) == 1) {
        S_CHECK((r.msg_id) == (expect_id));
        S_CHECK((r.release_at) >= (last_rel));
        S_CHECK((r.release_at) >= (r.enqueued_at));
        S_CHECK((r.flags & DD_NETEM_F_OUT_OF_ORDER) == (0));
        last_rel = r.release_at;
        expect_id++;
      }
      s_drain(dg, now, NULL, 0);
    }
    ck_assert_uint_eq(expect_id, n);
    dd_netem_counters_t cs, cg;
    dd_netem_counters(st, &cs);
    dd_netem_counters(dg, &cg);
    ck_assert_uint_eq(cs.released, n);
    ck_assert_uint_eq(cs.out_of_order, 0);
    /* The same jitter on a datagram link reorders a lot: the stream clamp did real work. */
    ck_assert_uint_gt(cg.out_of_order, n / 20);
    ck_assert_uint_eq(cg.released, n);
    s_check_invariant(st);
    s_check_invariant(dg);
    dd_netem_dir_destroy(&st);
    dd_netem_dir_destroy(&dg);
  }
}
END_TEST

/* ---- rate --------------------------------------------------------------------------------- */

START_TEST(test_rate_spacing) {
  for (int kind = DD_NETEM_STREAM; kind <= DD_NETEM_DATAGRAM; kind++) {
    dd_netem_params_t p;
    dd_netem_params_init(&p);
    p.rate = 125000; /* 1 Mbit/s: 1250 bytes take 10 ms */
    dd_netem_dir_t *d = s_dir((dd_netem_kind_t)kind, 3, &p);
    dd_netem_verdict_t v;
    for (uint64_t i = 0; i < 5; i++) {
      ck_assert_int_eq(dd_netem_enqueue(d, i, 1250, 0, &v), 0);
      ck_assert_uint_eq(v.copy[0].release_at, (i + 1) * 10 * MS);
      ck_assert_uint_eq(v.queue_us, (i + 1) * 10 * MS);
    }
    /* Arrivals slower than the rate see only their own serialization. */
    ck_assert_int_eq(dd_netem_enqueue(d, 9, 1250, SEC, &v), 0);
    ck_assert_uint_eq(v.copy[0].release_at, SEC + 10 * MS);
    /* A long back-to-back train: the 1000th leaves after exactly 1000 * 10 ms. */
    uint64_t t0 = 2 * SEC;
    for (uint64_t i = 0; i < 1000; i++)
      ck_assert_int_eq(dd_netem_enqueue(d, i, 1250, t0, &v), 0);
    ck_assert_uint_eq(v.copy[0].release_at, t0 + 10 * SEC);
    dd_netem_dir_destroy(&d);

    /* Per-packet overhead: 1250 + 50 bytes take 10.4 ms; with a delay on top. */
    p.overhead = 50;
    p.delay_us = 30 * MS;
    d = s_dir((dd_netem_kind_t)kind, 3, &p);
    for (uint64_t i = 0; i < 3; i++) {
      ck_assert_int_eq(dd_netem_enqueue(d, i, 1250, 0, &v), 0);
      ck_assert_uint_eq(v.copy[0].release_at, (i + 1) * 10400 + 30 * MS);
    }
    dd_netem_dir_destroy(&d);

    /* Burst of 2500 bytes: two messages pass at once, then 10 ms spacing. */
    p.overhead = 0;
    p.delay_us = 0;
    p.burst = 2500;
    d = s_dir((dd_netem_kind_t)kind, 3, &p);
    const uint64_t want[5] = {0, 0, 10 * MS, 20 * MS, 30 * MS};
    for (uint64_t i = 0; i < 5; i++) {
      ck_assert_int_eq(dd_netem_enqueue(d, i, 1250, 0, &v), 0);
      ck_assert_uint_eq(v.copy[0].release_at, want[i]);
    }
    /* After 100 ms idle the bucket is full again. */
    ck_assert_int_eq(dd_netem_enqueue(d, 5, 1250, 100 * MS, &v), 0);
    ck_assert_uint_eq(v.copy[0].release_at, 100 * MS);
    dd_netem_dir_destroy(&d);

    /* tc-netem(8) ATM example: 50 bytes in 48-byte cells of 5 bytes overhead = 106 bytes,
     * which at 106 bytes/s take exactly one second. */
    p.burst = 0;
    p.rate = 106;
    p.cell_size = 48;
    p.cell_overhead = 5;
    d = s_dir((dd_netem_kind_t)kind, 3, &p);
    ck_assert_int_eq(dd_netem_enqueue(d, 0, 50, 0, &v), 0);
    ck_assert_uint_eq(v.copy[0].release_at, SEC);
    ck_assert_int_eq(dd_netem_enqueue(d, 1, 48, 0, &v), 0); /* one cell: 53 bytes, 0.5 s */
    ck_assert_uint_eq(v.copy[0].release_at, SEC + SEC / 2);
    dd_netem_dir_destroy(&d);

    /* Fractional microseconds are carried, not lost: 1 byte at 3 bytes/s. */
    dd_netem_params_init(&p);
    p.rate = 3;
    d = s_dir((dd_netem_kind_t)kind, 3, &p);
    const uint64_t want3[3] = {333334, 666667, 1000000};
    for (uint64_t i = 0; i < 3; i++) {
      ck_assert_int_eq(dd_netem_enqueue(d, i, 1, 0, &v), 0);
      ck_assert_uint_eq(v.copy[0].release_at, want3[i]);
    }
    dd_netem_dir_destroy(&d);
  }
}
END_TEST

/* ---- distributions ------------------------------------------------------------------------ */

START_TEST(test_quantile_functions) {
  /* Inverse normal against bisection on erfc. */
  const double us[] = {1e-12, 1e-6, 0.001, 0.02425, 0.1, 0.3, 0.5, 0.77, 0.97575, 0.999, 1 - 1e-9};
  for (size_t i = 0; i < sizeof us / sizeof us[0]; i++)
    ck_assert_double_eq_tol(dd_netem_norm_quantile(us[i]), s_ref_norm_quantile(us[i]), 1e-9);
  ck_assert_double_eq_tol(dd_netem_norm_cdf(1.959963984540054), 0.975, 1e-12);
  /* Closed forms of the standardized variates. */
  ck_assert_double_eq_tol(dd_netem_dist_quantile(DD_NETEM_DIST_UNIFORM, 0.25), -0.5, 1e-12);
  ck_assert_double_eq_tol(dd_netem_dist_quantile(DD_NETEM_DIST_NORMAL, 0.9), 1.2815515655446004,
                          1e-9);
  ck_assert_double_eq(dd_netem_dist_quantile(DD_NETEM_DIST_NORMAL, 1e-9), -4.0);
  ck_assert_double_eq_tol(dd_netem_dist_quantile(DD_NETEM_DIST_PARETO, 0.0), -2.0 / 3.0, 1e-12);
  /* median: 4/3 (2^(1/3) - 1.5) */
  ck_assert_double_eq_tol(dd_netem_dist_quantile(DD_NETEM_DIST_PARETO, 0.5),
                          4.0 / 3.0 * (cbrt(2.0) - 1.5), 1e-12);
  ck_assert_double_eq(dd_netem_dist_quantile(DD_NETEM_DIST_PARETO, 0.995), 4.0);
  for (int i = 1; i < 100; i++) {
    double u = i / 100.0;
    ck_assert_double_eq_tol(dd_netem_dist_quantile(DD_NETEM_DIST_PARETONORMAL, u),
                            s_ref_paretonormal(u), 1e-9);
  }
  /* Names. */
  dd_netem_dist_t dd;
  ck_assert_int_eq(dd_netem_dist_from_name("paretonormal", &dd), 0);
  ck_assert_int_eq(dd, DD_NETEM_DIST_PARETONORMAL);
  ck_assert_str_eq(dd_netem_dist_name(DD_NETEM_DIST_UNIFORM), "uniform");
  ck_assert_int_eq(dd_netem_dist_from_name("gauss", &dd), DD_EINVAL);
}
END_TEST

START_TEST(test_dist_uniform) {
  dd_netem_params_t p;
  s_delay_params(&p, DD_NETEM_DIST_UNIFORM);
  const size_t n = 100000;
  double *x = s_delays(&p, 11, n);
  const double q[] = {0.1, 0.5, 0.9, 0.99};
  double xq[4];
  for (int k = 0; k < 4; k++)
    xq[k] = 2.0 * q[k] - 1.0;
  s_check_sample(x, n, 100 * MS, 10 * MS, 0.0, 1.0 / sqrt(3.0), q, xq, 4);
  for (size_t i = 0; i < n; i++) {
    S_CHECK(x[i] >= 90 * MS);
    S_CHECK(x[i] <= 110 * MS);
  }
  free(x);
}
END_TEST

START_TEST(test_dist_normal) {
  dd_netem_params_t p;
  s_delay_params(&p, DD_NETEM_DIST_NORMAL);
  const size_t n = 100000;
  double *x = s_delays(&p, 12, n);
  const double q[] = {0.1, 0.5, 0.9, 0.99};
  /* Standard normal quantiles (tabulated values). */
  const double xq[] = {-1.2815515655446004, 0.0, 1.2815515655446004, 2.3263478740408408};
  s_check_sample(x, n, 100 * MS, 10 * MS, 0.0, 1.0, q, xq, 4);
  free(x);
}
END_TEST

START_TEST(test_dist_pareto) {
  dd_netem_params_t p;
  s_delay_params(&p, DD_NETEM_DIST_PARETO);
  const size_t n = 100000;
  double *x = s_delays(&p, 13, n);
  /* X = U^(-1/3) ~ Pareto(x_m = 1, a = 3) capped at c = 4.5 (t = 4/3 (X - 1.5) <= 4):
   * E[min(X, c)] = 1.5 - 0.5 / c^2, E[min(X, c)^2] = 3 - 2 / c. */
  const double c = 4.5;
  double ex = 1.5 - 0.5 / (c * c), ex2 = 3.0 - 2.0 / c;
  double mean_t = 4.0 / 3.0 * (ex - 1.5), sd_t = 4.0 / 3.0 * sqrt(ex2 - ex * ex);
  const double q[] = {0.1, 0.5, 0.9, 0.98};
  double xq[4];
  for (int k = 0; k < 4; k++)
    xq[k] = 4.0 / 3.0 * (pow(1.0 - q[k], -1.0 / 3.0) - 1.5);
  s_check_sample(x, n, 100 * MS, 10 * MS, mean_t, sd_t, q, xq, 4);
  /* Bounded by mu + 4 sigma with an atom of mass 1/c^3 there; never below mu - 2/3 sigma. */
  size_t at_cap = 0;
  for (size_t i = 0; i < n; i++) {
    S_CHECK(x[i] <= 140 * MS);
    S_CHECK(x[i] >= 100 * MS - 10 * MS * 2 / 3 - 1);
    at_cap += x[i] == 140 * MS;
  }
  double pc = 1.0 / (c * c * c);
  ck_assert_double_eq_tol((double)at_cap / n, pc, 4.5 * sqrt(pc * (1 - pc) / n));
  free(x);
}
END_TEST

START_TEST(test_dist_paretonormal) {
  dd_netem_params_t p;
  s_delay_params(&p, DD_NETEM_DIST_PARETONORMAL);
  const size_t n = 100000;
  double *x = s_delays(&p, 14, n);
  /* Reference moments by midpoint integration of the quantile function over u. */
  const int m = 20000;
  double s1 = 0.0, s2 = 0.0;
  for (int i = 0; i < m; i++) {
    double t = s_ref_paretonormal((i + 0.5) / m);
    s1 += t;
    s2 += t * t;
  }
  double mean_t = s1 / m, sd_t = sqrt(s2 / m - mean_t * mean_t);
  ck_assert_double_eq_tol(mean_t, -0.0247, 0.001); /* the figures quoted in dd_netem_dist.h */
  ck_assert_double_eq_tol(sd_t, 0.8349, 0.002);
  const double q[] = {0.1, 0.5, 0.9, 0.99};
  double xq[4];
  for (int k = 0; k < 4; k++)
    xq[k] = s_ref_paretonormal(q[k]);
  s_check_sample(x, n, 100 * MS, 10 * MS, mean_t, sd_t, q, xq, 4);
  free(x);
}
END_TEST

START_TEST(test_delay_correlation) {
  const size_t n = 100000;
  dd_netem_params_t p;
  s_delay_params(&p, DD_NETEM_DIST_UNIFORM);
  p.delay_corr = 0.5;
  /* Preserve mode: still uniform on [mu - sigma, mu + sigma], lag-1 (rank) correlation
   * 6/pi asin(rho/2). */
  double *x = s_delays(&p, 21, n);
  const double q[] = {0.1, 0.5, 0.9};
  const double xq[] = {-0.8, 0.0, 0.8};
  /* Correlated samples: wider mean tolerance (variance inflation (1 + r) / (1 - r) ~ 3). */
  double m = s_mean(x, n);
  ck_assert_double_eq_tol(m, 100 * MS, 10.0 * 10 * MS / sqrt(3.0) / sqrt((double)n));
  ck_assert_double_eq_tol(s_sd(x, n), 10 * MS / sqrt(3.0), 0.02 * 10 * MS / sqrt(3.0));
  for (int k = 0; k < 3; k++) {
    double xv = 100 * MS + 10 * MS * xq[k];
    size_t below = 0;
    for (size_t i = 0; i < n; i++)
      below += x[i] <= xv;
    ck_assert_double_eq_tol((double)below / n, q[k], 0.01);
  }
  ck_assert_double_eq_tol(s_lag1(x, n), 6.0 / M_PI * asin(0.25), 0.015);
  double sd_preserve = s_sd(x, n);
  free(x);
  /* netem mode reproduces netem's flaw: the spread shrinks by sqrt((1 - rho) / (1 + rho)). */
  p.corr_mode = DD_NETEM_CORR_NETEM;
  x = s_delays(&p, 21, n);
  ck_assert_double_eq_tol(s_sd(x, n) / sd_preserve, sqrt(0.5 / 1.5), 0.03);
  ck_assert_double_eq_tol(s_lag1(x, n), 0.5, 0.015);
  free(x);
}
END_TEST

/* ---- loss --------------------------------------------------------------------------------- */

START_TEST(test_loss_expected_analytic) {
  dd_netem_loss_params_t lp;
  dd_netem_loss_expect_t e;
  /* Gilbert-Elliott p = 5%, r = 30%, 1-h = 90%, 1-k = 1%, solved by hand:
   * piG = r / (p + r) = 6/7, piB = 1/7; L = 6/7 * 0.01 + 1/7 * 0.9;
   * P(delivered then lost) = piG 0.99 (0.95 * 0.01 + 0.05 * 0.9) + piB 0.1 (0.3 * 0.01 + 0.7 *
   * 0.9). */
  dd_netem_loss_gemodel(&lp, 0.05, 0.3, 0.9, 0.01);
  ck_assert_int_eq(dd_netem_loss_expected(&lp, DD_NETEM_CORR_PRESERVE, &e), 0);
  double L = 6.0 / 7.0 * 0.01 + 1.0 / 7.0 * 0.9;
  double B = 6.0 / 7.0 * 0.99 * 0.0545 + 1.0 / 7.0 * 0.1 * 0.633;
  ck_assert_double_eq_tol(e.loss_rate, L, 1e-12);
  ck_assert_double_eq_tol(e.mean_burst, L / B, 1e-9);
  ck_assert_double_eq_tol(e.mean_gap, (1 - L) / B, 1e-9);
  ck_assert_double_eq_tol(e.state[0], 6.0 / 7.0, 1e-12);
  /* Simple Gilbert (1-h = 1, 1-k = 0): L = p / (p + r), bursts geometric with mean 1/r. */
  dd_netem_loss_gemodel(&lp, 0.1, 0.25, DD_NETEM_DEFAULT, DD_NETEM_DEFAULT);
  ck_assert_int_eq(dd_netem_loss_expected(&lp, DD_NETEM_CORR_PRESERVE, &e), 0);
  ck_assert_double_eq_tol(e.loss_rate, 0.1 / 0.35, 1e-12);
  ck_assert_double_eq_tol(e.mean_burst, 4.0, 1e-9);
  ck_assert_double_eq_tol(e.mean_gap, 10.0, 1e-9);
  /* gemodel with p alone is Bernoulli(p) (tc defaults r = 1 - p, 1-h = 1, 1-k = 0). */
  dd_netem_loss_gemodel(&lp, 0.2, DD_NETEM_DEFAULT, DD_NETEM_DEFAULT, DD_NETEM_DEFAULT);
  ck_assert_double_eq_tol(lp.ge_r, 0.8, 1e-15);
  ck_assert_int_eq(dd_netem_loss_expected(&lp, DD_NETEM_CORR_PRESERVE, &e), 0);
  ck_assert_double_eq_tol(e.loss_rate, 0.2, 1e-12);
  ck_assert_double_eq_tol(e.mean_burst, 1.25, 1e-9);
  /* 4-state p13 = 2%, p31 = 40%, p32 = 30%, p23 = 20%, p14 = 1%: weights 1, p32 p13 / (p31
   * p23) = 0.075, p13 / p31 = 0.05, p14 = 0.01 (sum 1.135); loss (0.05 + 0.01) / 1.135; burst
   * starts (0.03 + 0.075 * 0.2) / 1.135; mean burst 0.06 / 0.045. */
  dd_netem_loss_state(&lp, 0.02, 0.4, 0.3, 0.2, 0.01);
  ck_assert_int_eq(dd_netem_loss_expected(&lp, DD_NETEM_CORR_PRESERVE, &e), 0);
  ck_assert_double_eq_tol(e.loss_rate, 0.06 / 1.135, 1e-12);
  ck_assert_double_eq_tol(e.mean_burst, 0.06 / 0.045, 1e-9);
  ck_assert_double_eq_tol(e.state[1], 0.075 / 1.135, 1e-12);
  ck_assert_double_eq_tol(e.state[3], 0.01 / 1.135, 1e-12);
  /* "loss state p13" alone is Bernoulli. */
  dd_netem_loss_state(&lp, 0.1, DD_NETEM_DEFAULT, DD_NETEM_DEFAULT, DD_NETEM_DEFAULT,
                      DD_NETEM_DEFAULT);
  ck_assert_int_eq(dd_netem_loss_expected(&lp, DD_NETEM_CORR_PRESERVE, &e), 0);
  ck_assert_double_eq_tol(e.loss_rate, 0.1, 1e-12);
  ck_assert_double_eq_tol(e.mean_burst, 1.0 / 0.9, 1e-9);
  /* Degenerate chains. */
  dd_netem_loss_state(&lp, 0.0, 0.5, 0.0, 1.0, 0.0);
  ck_assert_int_eq(dd_netem_loss_expected(&lp, DD_NETEM_CORR_PRESERVE, &e), 0);
  ck_assert_double_eq(e.loss_rate, 0.0);
  ck_assert_double_eq(e.mean_burst, 0.0);
  ck_assert(isinf(e.mean_gap));
  dd_netem_loss_state(&lp, 0.3, 0.0, 0.0, 1.0, 0.0);
  ck_assert_int_eq(dd_netem_loss_expected(&lp, DD_NETEM_CORR_PRESERVE, &e), 0);
  ck_assert_double_eq(e.loss_rate, 1.0);
  ck_assert(isinf(e.mean_burst));
  /* Random: uncorrelated burst 1 / (1 - p); correlated at p = 1/2 from Sheppard's formula:
   * P(both lost) = 1/4 + asin(rho) / (2 pi) = 1/3 for rho = 1/2, mean burst 0.5 / (1/6) = 3. */
  dd_netem_loss_random(&lp, 0.1, 0.0);
  ck_assert_int_eq(dd_netem_loss_expected(&lp, DD_NETEM_CORR_PRESERVE, &e), 0);
  ck_assert_double_eq_tol(e.mean_burst, 1.0 / 0.9, 1e-12);
  dd_netem_loss_random(&lp, 0.5, 0.5);
  ck_assert_int_eq(dd_netem_loss_expected(&lp, DD_NETEM_CORR_PRESERVE, &e), 0);
  ck_assert_double_eq_tol(e.mean_burst, 3.0, 1e-9);
  ck_assert_int_eq(dd_netem_loss_expected(&lp, DD_NETEM_CORR_NETEM, &e), DD_ENOTSUP);
  lp.p = 1.5;
  ck_assert_int_eq(dd_netem_loss_expected(&lp, DD_NETEM_CORR_PRESERVE, &e), DD_EINVAL);
  ck_assert_str_eq(dd_netem_loss_model_name(DD_NETEM_LOSS_GEMODEL), "gemodel");
}
END_TEST

START_TEST(test_random_loss) {
  dd_netem_params_t p;
  dd_netem_params_init(&p);
  const size_t n = 200000;
  double rate, burst;
  dd_netem_loss_random(&p.loss, 0.1, 0.0);
  s_measure_loss(&p, 31, n, &rate, &burst);
  ck_assert_double_eq_tol(rate, 0.1, 4.5 * sqrt(0.1 * 0.9 / n));
  ck_assert_double_eq_tol(burst, 1.0 / 0.9, 0.02);
  /* Correlated (preserve mode): the rate stays p, losses come in longer bursts. */
  dd_netem_loss_random(&p.loss, 0.1, 0.6);
  dd_netem_loss_expect_t e;
  ck_assert_int_eq(dd_netem_loss_expected(&p.loss, p.corr_mode, &e), 0);
  ck_assert_double_gt(e.mean_burst, 1.5);
  s_measure_loss(&p, 32, n, &rate, &burst);
  ck_assert_double_eq_tol(rate, 0.1, 0.006);
  ck_assert_double_eq_tol(burst, e.mean_burst, 0.04 * e.mean_burst);
  /* netem mode: the documented flaw, far fewer losses than configured. */
  p.corr_mode = DD_NETEM_CORR_NETEM;
  dd_netem_loss_random(&p.loss, 0.1, 0.5);
  s_measure_loss(&p, 33, n, &rate, &burst);
  ck_assert_double_lt(rate, 0.05);
  /* p = 1 loses everything, p = 0 nothing. */
  p.corr_mode = DD_NETEM_CORR_PRESERVE;
  dd_netem_loss_random(&p.loss, 1.0, 0.0);
  s_measure_loss(&p, 34, 1000, &rate, &burst);
  ck_assert_double_eq(rate, 1.0);
  dd_netem_loss_random(&p.loss, 0.0, 0.0);
  s_measure_loss(&p, 34, 1000, &rate, &burst);
  ck_assert_double_eq(rate, 0.0);
}
END_TEST

START_TEST(test_markov_loss_measured) {
  /* 10^6 packets: the worst of these models has a relative standard error near 0.8% on the
   * loss rate, so the 5% bands are over 6 standard errors wide. */
  const size_t n = 1000000;
  dd_netem_params_t p;
  dd_netem_params_init(&p);
  dd_netem_loss_params_t models[4];
  dd_netem_loss_gemodel(&models[0], 0.05, 0.3, 0.9, 0.01);
  dd_netem_loss_gemodel(&models[1], 0.05, 0.4, DD_NETEM_DEFAULT, DD_NETEM_DEFAULT);
  dd_netem_loss_state(&models[2], 0.02, 0.4, 0.3, 0.2, 0.01);
  dd_netem_loss_state(&models[3], 0.05, 0.1, 0.2, 0.1, 0.02);
  for (int k = 0; k < 4; k++) {
    p.loss = models[k];
    dd_netem_loss_expect_t e;
    ck_assert_int_eq(dd_netem_loss_expected(&p.loss, p.corr_mode, &e), 0);
    double rate, burst;
    s_measure_loss(&p, 40 + (uint64_t)k, n, &rate, &burst);
    ck_assert_msg(fabs(rate - e.loss_rate) < 0.05 * e.loss_rate, "model %d rate %.5f want %.5f", k,
                  rate, e.loss_rate);
    ck_assert_msg(fabs(burst - e.mean_burst) < 0.05 * e.mean_burst, "model %d burst %.4f want %.4f",
                  k, burst, e.mean_burst);
  }
  /* The drop cause is reported per model. */
  dd_netem_loss_gemodel(&p.loss, 0.5, 0.5, 1.0, 0.0);
  dd_netem_dir_t *d = s_dir(DD_NETEM_DATAGRAM, 5, &p);
  for (uint64_t i = 0; i < 100; i++) {
    dd_netem_verdict_t v;
    ck_assert_int_eq(dd_netem_enqueue(d, i, 1, i, &v), 0);
  }
  dd_netem_counters_t c;
  dd_netem_counters(d, &c);
  ck_assert_uint_gt(c.dropped_ge, 10);
  ck_assert_uint_eq(c.dropped_random, 0);
  dd_netem_dir_destroy(&d);
}
END_TEST

/* ---- duplication, corruption, reordering --------------------------------------------------- */

START_TEST(test_duplicate) {
  dd_netem_params_t p;
  dd_netem_params_init(&p);
  p.delay_us = 10 * MS;
  p.jitter_us = 5 * MS;
  p.dist = DD_NETEM_DIST_UNIFORM;
  p.dup = 0.1;
  const size_t n = 100000;
  dd_netem_dir_t *d = s_dir(DD_NETEM_DATAGRAM, 51, &p);
  size_t dups = 0, released = 0, lasts = 0;
  uint64_t *seen = calloc(n, sizeof *seen);
  ck_assert_ptr_nonnull(seen);
  for (size_t i = 0; i <= n; i++) {
    uint64_t now = i * 100;
    if (i < n) {
      dd_netem_verdict_t v;
      S_CHECK((dd_netem_enqueue(d, i, 100, now, &v)) == (0));
      S_CHECK(v.n_copies == 1 || v.n_copies == 2);
      if (v.n_copies == 2) {
        dups++;
        S_CHECK(v.flags & DD_NETEM_F_DUPLICATE);
        S_CHECK(v.copy[1].flags & DD_NETEM_F_DUPLICATE);
        S_CHECK(!(v.copy[0].flags & DD_NETEM_F_DUPLICATE));
      }
    } else {
      now = DD_NETEM_NEVER - 1;
    }
    dd_netem_release_t r;
    while (dd_netem_pop_due(d, now, &r) == 1) {
      released++;
      seen[r.msg_id]++;
      /* "last" comes with the final copy of a message. */
      if (r.last) {
        lasts++;
      } else {
        S_CHECK((seen[r.msg_id]) == (1));
      }
    }
  }
  ck_assert_double_eq_tol((double)dups / n, 0.1, 4.5 * sqrt(0.1 * 0.9 / n));
  ck_assert_uint_eq(released, n + dups);
  ck_assert_uint_eq(lasts, n);
  dd_netem_counters_t c;
  dd_netem_counters(d, &c);
  ck_assert_uint_eq(c.duplicated, dups);
  s_check_invariant(d);
  free(seen);
  dd_netem_dir_destroy(&d);
}
END_TEST

START_TEST(test_corrupt) {
  dd_netem_params_t p;
  dd_netem_params_init(&p);
  p.corrupt = 0.05;
  const size_t n = 100000, bytes = 8;
  dd_netem_dir_t *d = s_dir(DD_NETEM_DATAGRAM, 61, &p);
  size_t hits = 0;
  double bit_sum = 0.0;
  size_t per_bit[64] = {0};
  for (size_t i = 0; i < n; i++) {
    dd_netem_verdict_t v;
    S_CHECK((dd_netem_enqueue(d, i, bytes, i, &v)) == (0));
    if (v.copy[0].corrupt_bit >= 0) {
      S_CHECK(v.flags & DD_NETEM_F_CORRUPT);
      S_CHECK((v.copy[0].corrupt_bit) < ((int64_t)bytes * 8));
      hits++;
      bit_sum += (double)v.copy[0].corrupt_bit;
      per_bit[v.copy[0].corrupt_bit]++;
    } else {
      S_CHECK(!(v.flags & DD_NETEM_F_CORRUPT));
    }
    dd_netem_release_t r;
    S_CHECK((dd_netem_pop_due(d, i, &r)) == (1));
    S_CHECK((r.corrupt_bit) == (v.copy[0].corrupt_bit));
  }
  ck_assert_double_eq_tol((double)hits / n, 0.05, 4.5 * sqrt(0.05 * 0.95 / n));
  /* Positions uniform over the 64 bits: mean 31.5 (sd 18.5), every bit used. */
  ck_assert_double_eq_tol(bit_sum / hits, 31.5, 4.5 * 18.5 / sqrt((double)hits));
  for (int b = 0; b < 64; b++)
    ck_assert_uint_gt(per_bit[b], 0);
  dd_netem_counters_t c;
  dd_netem_counters(d, &c);
  ck_assert_uint_eq(c.corrupted, hits);
  dd_netem_dir_destroy(&d);
  /* An empty message cannot be corrupted. */
  p.corrupt = 1.0;
  d = s_dir(DD_NETEM_DATAGRAM, 62, &p);
  dd_netem_verdict_t v;
  ck_assert_int_eq(dd_netem_enqueue(d, 1, 0, 0, &v), 0);
  ck_assert_int_eq(v.copy[0].corrupt_bit, -1);
  dd_netem_dir_destroy(&d);
}
END_TEST

START_TEST(test_reorder) {
  dd_netem_params_t p;
  dd_netem_params_init(&p);
  p.delay_us = 10 * MS;
  /* "reorder 100% gap 5": every 5th packet goes immediately, the others wait 10 ms. */
  p.reorder = 1.0;
  p.reorder_gap = 5;
  dd_netem_dir_t *d = s_dir(DD_NETEM_DATAGRAM, 71, &p);
  dd_netem_release_t r[32];
  for (uint64_t i = 1; i <= 20; i++) {
    dd_netem_verdict_t v;
    uint64_t now = i * MS;
    ck_assert_int_eq(dd_netem_enqueue(d, i, 10, now, &v), 0);
    bool imm = i % 5 == 0;
    ck_assert_uint_eq(v.copy[0].release_at, imm ? now : now + 10 * MS);
    ck_assert_uint_eq(!!(v.flags & DD_NETEM_F_REORDER), imm);
    size_t k = s_drain(d, now, r, 32);
    if (i == 5) {
      /* Packet 5 (immediate at 5 ms) overtakes 1..4 (due at 11..14 ms). */
      ck_assert_uint_eq(k, 1);
      ck_assert_uint_eq(r[0].msg_id, 5);
    } else if (i == 10) {
      ck_assert_uint_eq(k, 1);
      ck_assert_uint_eq(r[0].msg_id, 10);
    } else if (i == 11) {
      /* 1 arrives now, after 5 and 10 which were enqueued later. */
      ck_assert_uint_eq(k, 1);
      ck_assert_uint_eq(r[0].msg_id, 1);
      ck_assert(r[0].flags & DD_NETEM_F_OUT_OF_ORDER);
    }
  }
  s_drain(d, SEC, NULL, 0);
  dd_netem_counters_t c;
  dd_netem_counters(d, &c);
  ck_assert_uint_eq(c.reordered, 4);
  ck_assert_uint_gt(c.out_of_order, 0);
  s_check_invariant(d);
  dd_netem_dir_destroy(&d);
  /* "reorder 25%" (gap 1): a quarter of the packets go immediately. */
  p.reorder = 0.25;
  p.reorder_gap = 0;
  d = s_dir(DD_NETEM_DATAGRAM, 72, &p);
  const size_t n = 100000;
  size_t imm = 0;
  for (size_t i = 0; i < n; i++) {
    dd_netem_verdict_t v;
    S_CHECK((dd_netem_enqueue(d, i, 10, i * MS, &v)) == (0));
    imm += (v.flags & DD_NETEM_F_REORDER) != 0;
  }
  ck_assert_double_eq_tol((double)imm / n, 0.25, 4.5 * sqrt(0.25 * 0.75 / n));
  dd_netem_dir_destroy(&d);
}
END_TEST

START_TEST(test_stream_ignores_datagram_impairments) {
  dd_netem_params_t p;
  dd_netem_params_init(&p);
  p.delay_us = 10 * MS;
  p.dup = 1.0;
  p.corrupt = 1.0;
  p.reorder = 1.0;
  dd_netem_dir_t *d = s_dir(DD_NETEM_STREAM, 81, &p);
  for (uint64_t i = 0; i < 100; i++) {
    dd_netem_verdict_t v;
    ck_assert_int_eq(dd_netem_enqueue(d, i, 100, i * MS, &v), 0);
    ck_assert_uint_eq(v.n_copies, 1);
    ck_assert_uint_eq(v.flags, 0);
    ck_assert_int_eq(v.copy[0].corrupt_bit, -1);
    ck_assert_uint_eq(v.copy[0].release_at, i * MS + 10 * MS);
  }
  dd_netem_release_t r[128];
  ck_assert_uint_eq(s_drain(d, SEC, r, 128), 100);
  for (uint64_t i = 0; i < 100; i++)
    ck_assert_uint_eq(r[i].msg_id, i);
  dd_netem_dir_destroy(&d);
}
END_TEST

START_TEST(test_limit) {
  dd_netem_params_t p;
  dd_netem_params_init(&p);
  p.delay_us = SEC;
  p.limit = 5;
  dd_netem_dir_t *d = s_dir(DD_NETEM_DATAGRAM, 91, &p);
  dd_netem_verdict_t v;
  for (uint64_t i = 0; i < 5; i++) {
    ck_assert_int_eq(dd_netem_enqueue(d, i, 10, i, &v), 0);
    ck_assert_uint_eq(v.n_copies, 1);
  }
  ck_assert_int_eq(dd_netem_enqueue(d, 5, 10, 5, &v), 0);
  ck_assert_uint_eq(v.n_copies, 0);
  ck_assert_uint_eq(v.flags, DD_NETEM_F_DROP_LIMIT);
  s_drain(d, SEC, NULL, 0);
  ck_assert_int_eq(dd_netem_enqueue(d, 6, 10, SEC, &v), 0);
  ck_assert_uint_eq(v.n_copies, 1);
  dd_netem_counters_t c;
  dd_netem_counters(d, &c);
  ck_assert_uint_eq(c.dropped_limit, 1);
  s_check_invariant(d);
  dd_netem_dir_destroy(&d);
}
END_TEST

/* ---- STREAM loss as retransmission --------------------------------------------------------- */

START_TEST(test_stream_retransmit) {
  dd_netem_params_t p;
  dd_netem_params_init(&p);
  p.delay_us = 20 * MS;
  dd_netem_loss_random(&p.loss, 1.0, 0.0);
  p.max_retries = 3;
  dd_netem_dir_t *d = s_dir(DD_NETEM_STREAM, 101, &p);
  dd_netem_verdict_t v;
  ck_assert_int_eq(dd_netem_enqueue(d, 1, 100, 0, &v), 0);
  ck_assert_uint_eq(v.n_copies, 1);
  ck_assert_uint_eq(v.retransmits, 3);
  ck_assert_uint_eq(v.retransmit_us, 200 * MS + 400 * MS + 800 * MS); /* 200 ms doubling */
  ck_assert_uint_eq(v.copy[0].release_at, 1400 * MS + 20 * MS);
  ck_assert(v.flags & DD_NETEM_F_RETRANSMIT);
  dd_netem_dir_destroy(&d);
  /* The cap on the doubled timeout. */
  p.max_retries = 5;
  p.rto_max_us = 500 * MS;
  d = s_dir(DD_NETEM_STREAM, 102, &p);
  ck_assert_int_eq(dd_netem_enqueue(d, 1, 100, 0, &v), 0);
  ck_assert_uint_eq(v.retransmit_us, (200 + 400 + 500 + 500 + 500) * MS);
  dd_netem_dir_destroy(&d);
  /* Geometric number of tries: mean p / (1 - p); nothing is ever lost or reordered. */
  dd_netem_params_init(&p);
  dd_netem_loss_random(&p.loss, 0.3, 0.0);
  p.max_retries = 64;
  d = s_dir(DD_NETEM_STREAM, 103, &p);
  const size_t n = 50000;
  uint64_t tries = 0, next_id = 0;
  for (size_t i = 0; i < n; i++) {
    S_CHECK((dd_netem_enqueue(d, i, 10, i * 10 * MS, &v)) == (0));
    S_CHECK((v.n_copies) == (1));
    tries += v.retransmits;
    dd_netem_release_t r;
    while (dd_netem_pop_due(d, i * 10 * MS, &r) == 1) {
      S_CHECK(r.msg_id == next_id);
      next_id++;
    }
  }
  ck_assert_double_eq_tol((double)tries / n, 0.3 / 0.7, 0.03);
  dd_netem_counters_t c;
  dd_netem_counters(d, &c);
  ck_assert_uint_eq(c.retransmits, tries);
  ck_assert_uint_eq(c.dropped_random, 0);
  dd_netem_dir_destroy(&d);
}
END_TEST

/* ---- outages ------------------------------------------------------------------------------ */

START_TEST(test_outage_datagram) {
  dd_netem_params_t p;
  dd_netem_params_init(&p);
  p.delay_us = 10 * MS;
  dd_netem_dir_t *d = s_dir(DD_NETEM_DATAGRAM, 111, &p);
  ck_assert_int_eq(dd_netem_outage(d, 100 * MS, 50 * MS, 0), 0);
  ck_assert(!dd_netem_is_down(d, 100 * MS - 1));
  ck_assert(dd_netem_is_down(d, 100 * MS));
  ck_assert(dd_netem_is_down(d, 150 * MS - 1));
  ck_assert(!dd_netem_is_down(d, 150 * MS));
  size_t dropped_in = 0, dropped_flight = 0, delivered = 0;
  for (uint64_t t = 0; t <= 200; t++) {
    dd_netem_verdict_t v;
    ck_assert_int_eq(dd_netem_enqueue(d, t, 10, t * MS, &v), 0);
    if (t >= 100 && t < 150) {
      ck_assert_uint_eq(v.n_copies, 0);
      ck_assert_uint_eq(v.flags, DD_NETEM_F_DROP_OUTAGE);
      dropped_in++;
    } else {
      ck_assert_uint_eq(v.n_copies, 1);
    }
    dd_netem_release_t r;
    while (dd_netem_pop_due(d, t * MS, &r) == 1) {
      /* Sent at 90..99 ms, due at 100..109 ms: in flight when the link died. */
      bool in_flight = r.msg_id >= 90 && r.msg_id < 100;
      ck_assert_uint_eq(!!(r.flags & DD_NETEM_F_DROP_OUTAGE), in_flight);
      ck_assert(r.last);
      if (in_flight)
        dropped_flight++;
      else
        delivered++;
    }
  }
  delivered += s_drain(d, SEC, NULL, 0);
  ck_assert_uint_eq(dropped_in, 50);
  ck_assert_uint_eq(dropped_flight, 10);
  ck_assert_uint_eq(delivered, 141);
  dd_netem_counters_t c;
  dd_netem_counters(d, &c);
  ck_assert_uint_eq(c.dropped_outage, 60);
  s_check_invariant(d);
  /* Until restored. */
  ck_assert_int_eq(dd_netem_outage(d, 2 * SEC, DD_NETEM_NEVER, SEC), 0);
  ck_assert(dd_netem_is_down(d, 100 * SEC));
  size_t ok = 0, lost = 0;
  for (uint64_t t = 1900; t < 2100; t++) {
    dd_netem_verdict_t v;
    ck_assert_int_eq(dd_netem_enqueue(d, t, 10, t * MS, &v), 0);
    ck_assert_uint_eq(v.n_copies, t < 2000 ? 1 : 0);
    dd_netem_release_t r;
    while (dd_netem_pop_due(d, t * MS, &r) == 1) {
      if (r.flags & DD_NETEM_F_DROP_OUTAGE)
        lost++;
      else
        ok++;
    }
  }
  ck_assert_uint_eq(ok, 90);   /* sent 1900..1989 ms, arrived before 2000 ms */
  ck_assert_uint_eq(lost, 10); /* sent 1990..1999 ms, in flight at 2000 ms */
  ck_assert_int_eq(dd_netem_restore(d, 2100 * MS), 0);
  ck_assert(!dd_netem_is_down(d, 2100 * MS));
  ck_assert(dd_netem_is_down(d, 2050 * MS)); /* the past window is still known */
  dd_netem_verdict_t v;
  ck_assert_int_eq(dd_netem_enqueue(d, 9999, 10, 2100 * MS, &v), 0);
  ck_assert_uint_eq(v.n_copies, 1);
  dd_netem_release_t r[256];
  size_t k = s_drain(d, 3 * SEC, r, 256);
  ck_assert_uint_eq(k, 1);
  ck_assert_uint_eq(r[0].msg_id, 9999);
  ck_assert_uint_eq(r[0].flags, 0);
  s_check_invariant(d);
  dd_netem_dir_destroy(&d);
}
END_TEST

START_TEST(test_outage_stream) {
  dd_netem_params_t p;
  dd_netem_params_init(&p);
  p.delay_us = 10 * MS;
  dd_netem_dir_t *d = s_dir(DD_NETEM_STREAM, 121, &p);
  /* Down on [100, 150) ms: the retransmission timer started at 100 ms fires at 300 ms, after
   * the link is back, so everything on the link then arrives at 310 ms, in order. */
  ck_assert_int_eq(dd_netem_outage(d, 100 * MS, 50 * MS, 0), 0);
  uint64_t next_id = 0;
  for (uint64_t t = 0; t <= 400; t++) {
    dd_netem_verdict_t v;
    ck_assert_int_eq(dd_netem_enqueue(d, t, 10, t * MS, &v), 0);
    ck_assert_uint_eq(v.n_copies, 1);
    bool hit = t >= 90 && t < 150;
    ck_assert_uint_eq(!!(v.flags & DD_NETEM_F_HELD), hit);
    dd_netem_release_t r;
    while (dd_netem_pop_due(d, t * MS, &r) == 1) {
      ck_assert_uint_eq(r.msg_id, next_id);
      ck_assert_uint_eq(r.flags & DD_NETEM_F_DROPPED, 0);
      uint64_t want = r.msg_id < 90 ? r.msg_id * MS + 10 * MS
                                    : (r.msg_id <= 300 ? 310 * MS : r.msg_id * MS + 10 * MS);
      ck_assert_uint_eq(r.release_at, want);
      next_id++;
    }
  }
  next_id += s_drain(d, SEC, NULL, 0);
  ck_assert_uint_eq(next_id, 401);
  dd_netem_counters_t c;
  dd_netem_counters(d, &c);
  ck_assert_uint_eq(c.dropped_outage, 0);
  ck_assert_uint_eq(c.held, 60);
  s_check_invariant(d);
  dd_netem_dir_destroy(&d);

  /* Back-off: down [100, 1100) ms -> firings at 300, 700, 1500 ms. */
  d = s_dir(DD_NETEM_STREAM, 122, &p);
  ck_assert_int_eq(dd_netem_outage(d, 100 * MS, SEC, 0), 0);
  dd_netem_verdict_t v;
  ck_assert_int_eq(dd_netem_enqueue(d, 1, 10, 95 * MS, &v), 0);
  ck_assert_uint_eq(v.copy[0].release_at, 1510 * MS);
  dd_netem_dir_destroy(&d);

  /* Capped back-off: RTO 200 ms doubling up to 1 s, down [0, 10 s): firings at 0.2, 0.6, 1.4,
   * 2.4, 3.4, ..., 9.4, 10.4 s. */
  p.rto_max_us = SEC;
  d = s_dir(DD_NETEM_STREAM, 123, &p);
  ck_assert_int_eq(dd_netem_outage(d, 0, 10 * SEC, 0), 0);
  ck_assert_int_eq(dd_netem_enqueue(d, 1, 10, 5 * SEC, &v), 0);
  ck_assert_uint_eq(v.copy[0].release_at, 10400 * MS + 10 * MS);
  dd_netem_dir_destroy(&d);

  /* Until restored: held (release unknown), then released after the restore, in order. */
  p.rto_max_us = 60 * SEC;
  d = s_dir(DD_NETEM_STREAM, 124, &p);
  ck_assert_int_eq(dd_netem_enqueue(d, 0, 10, 80 * MS, &v), 0); /* due 90 ms: unaffected */
  ck_assert_int_eq(dd_netem_enqueue(d, 1, 10, 95 * MS, &v), 0); /* due 105 ms: in flight */
  ck_assert_uint_eq(v.copy[0].release_at, 105 * MS);
  ck_assert_int_eq(dd_netem_outage(d, 100 * MS, DD_NETEM_NEVER, 96 * MS), 0);
  ck_assert_int_eq(dd_netem_enqueue(d, 2, 10, 500 * MS, &v), 0);
  ck_assert_uint_eq(v.copy[0].release_at, DD_NETEM_NEVER);
  ck_assert(v.flags & DD_NETEM_F_HELD);
  dd_netem_release_t r[8];
  ck_assert_uint_eq(s_drain(d, 900 * MS, r, 8), 1);
  ck_assert_uint_eq(r[0].msg_id, 0);
  ck_assert_uint_eq(dd_netem_next_release(d), DD_NETEM_NEVER);
  ck_assert_int_eq(dd_netem_restore(d, SEC), 0);
  /* Timer from 100 ms: 300, 700, 1500 ms -> 1510 ms. */
  ck_assert_uint_eq(dd_netem_next_release(d), 1510 * MS);
  ck_assert_int_eq(dd_netem_enqueue(d, 3, 10, SEC, &v), 0); /* after: clamped behind */
  ck_assert_uint_eq(v.copy[0].release_at, 1510 * MS);
  ck_assert_uint_eq(s_drain(d, 1510 * MS, r, 8), 3);
  for (int i = 0; i < 3; i++) {
    ck_assert_uint_eq(r[i].msg_id, 1 + (uint64_t)i);
    ck_assert_uint_eq(r[i].release_at, 1510 * MS);
  }
  s_check_invariant(d);
  dd_netem_dir_destroy(&d);
}
END_TEST

/* ---- ramps and parameter changes ---------------------------------------------------------- */

START_TEST(test_ramp) {
  dd_netem_params_t p;
  dd_netem_params_init(&p);
  p.delay_us = 50 * MS;
  dd_netem_dir_t *d = s_dir(DD_NETEM_DATAGRAM, 131, &p);
  /* 50 -> 400 ms over 10 s, starting at 1 s. */
  p.ramp_to_us = 400 * MS;
  p.ramp_us = 10 * SEC;
  ck_assert_int_eq(dd_netem_set(d, &p, SEC), 0);
  const uint64_t at[] = {SEC, 3 * SEC, 6 * SEC, 11 * SEC, 20 * SEC};
  const uint64_t want[] = {50 * MS, 120 * MS, 225 * MS, 400 * MS, 400 * MS};
  for (int i = 0; i < 5; i++) {
    dd_netem_verdict_t v;
    ck_assert_uint_eq(dd_netem_delay_at(d, at[i]), want[i]);
    ck_assert_int_eq(dd_netem_enqueue(d, (uint64_t)i, 10, at[i], &v), 0);
    ck_assert_uint_eq(v.copy[0].release_at, at[i] + want[i]);
  }
  /* A plain change applies from now on; queued copies keep their times. */
  dd_netem_params_init(&p);
  p.delay_us = 5 * MS;
  ck_assert_int_eq(dd_netem_set(d, &p, 21 * SEC), 0);
  dd_netem_verdict_t v;
  ck_assert_int_eq(dd_netem_enqueue(d, 9, 10, 21 * SEC, &v), 0);
  ck_assert_uint_eq(v.copy[0].release_at, 21 * SEC + 5 * MS);
  ck_assert_uint_eq(dd_netem_next_release(d), SEC + 50 * MS);
  dd_netem_params_t got;
  dd_netem_get(d, &got);
  ck_assert_uint_eq(got.delay_us, 5 * MS);
  dd_netem_dir_destroy(&d);
}
END_TEST

/* ---- determinism -------------------------------------------------------------------------- */

typedef struct {
  uint64_t hash; /* FNV-1a over the events */
  size_t count[DD_NETEM_EV_COUNT];
} s_evlog_t;

static void s_hash(uint64_t *h, const void *data, size_t n) {
  const unsigned char *b = data;
  for (size_t i = 0; i < n; i++)
    *h = (*h ^ b[i]) * 0x100000001b3ull;
}

static void s_on_event(void *arg, const dd_netem_event_t *ev) {
  s_evlog_t *log = arg;
  S_CHECK(ev->kind < DD_NETEM_EV_COUNT);
  log->count[ev->kind]++;
  s_hash(&log->hash, &ev->kind, sizeof ev->kind);
  s_hash(&log->hash, &ev->at, sizeof ev->at);
  s_hash(&log->hash, &ev->msg_id, sizeof ev->msg_id);
  s_hash(&log->hash, &ev->flags, sizeof ev->flags);
  s_hash(&log->hash, &ev->value, sizeof ev->value);
  s_hash(&log->hash, &ev->value2, sizeof ev->value2);
}

static void s_rich_params(dd_netem_params_t *p) {
  dd_netem_params_init(p);
  p->delay_us = 40 * MS;
  p->jitter_us = 15 * MS;
  p->delay_corr = 0.3;
  p->dist = DD_NETEM_DIST_PARETONORMAL;
  p->rate = 500000;
  p->burst = 3000;
  p->overhead = 28;
  dd_netem_loss_gemodel(&p->loss, 0.02, 0.3, 0.8, 0.005);
  p->dup = 0.02;
  p->corrupt = 0.03;
  p->reorder = 0.1;
  p->reorder_gap = 3;
}

/* Run a fixed call sequence; returns a hash of every verdict and release, events in *log. */
static uint64_t s_run(dd_netem_kind_t kind, uint64_t seed, const dd_netem_params_t *p,
                      s_evlog_t *log, uint8_t *drops, size_t n) {
  dd_netem_dir_t *d = dd_netem_dir_new(kind, seed);
  ck_assert_ptr_nonnull(d);
  memset(log, 0, sizeof *log);
  log->hash = 0xcbf29ce484222325ull;
  dd_netem_set_event_fn(d, s_on_event, log);
  ck_assert_int_eq(dd_netem_set(d, p, 0), 0);
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < n; i++) {
    uint64_t now = i * 300;
    if (i == n / 3) ck_assert_int_eq(dd_netem_outage(d, now + 5 * MS, 20 * MS, now), 0);
    dd_netem_verdict_t v;
    S_CHECK((dd_netem_enqueue(d, i, 100 + i % 900, now, &v)) == (0));
    if (drops) drops[i] = (v.flags & DD_NETEM_F_DROPPED) != 0;
    s_hash(&h, &v.flags, sizeof v.flags);
    s_hash(&h, &v.n_copies, sizeof v.n_copies);
    for (unsigned k = 0; k < v.n_copies; k++) {
      s_hash(&h, &v.copy[k].release_at, sizeof v.copy[k].release_at);
      s_hash(&h, &v.copy[k].corrupt_bit, sizeof v.copy[k].corrupt_bit);
    }
    dd_netem_release_t r;
    while (dd_netem_pop_due(d, now, &r) == 1) {
      s_hash(&h, &r.msg_id, sizeof r.msg_id);
      s_hash(&h, &r.release_at, sizeof r.release_at);
      s_hash(&h, &r.flags, sizeof r.flags);
    }
  }
  s_drain(d, DD_NETEM_NEVER - 1, NULL, 0);
  s_check_invariant(d);
  dd_netem_counters_t c;
  dd_netem_counters(d, &c);
  /* Every counted decision was also reported as an event. */
  ck_assert_uint_eq(log->count[DD_NETEM_EV_DROP],
                    c.dropped_random + c.dropped_ge + c.dropped_outage + c.dropped_limit);
  ck_assert_uint_eq(log->count[DD_NETEM_EV_DUPLICATE], c.duplicated);
  ck_assert_uint_eq(log->count[DD_NETEM_EV_CORRUPT], c.corrupted);
  ck_assert_uint_eq(log->count[DD_NETEM_EV_REORDER], c.reordered);
  ck_assert_uint_eq(log->count[DD_NETEM_EV_PARAMS], 1);
  ck_assert_uint_eq(log->count[DD_NETEM_EV_OUTAGE], 1);
  dd_netem_dir_destroy(&d);
  return h;
}

START_TEST(test_determinism) {
  const size_t n = 20000;
  dd_netem_params_t p;
  s_rich_params(&p);
  s_evlog_t a, b, c;
  for (int kind = DD_NETEM_STREAM; kind <= DD_NETEM_DATAGRAM; kind++) {
    uint64_t ha = s_run((dd_netem_kind_t)kind, 2024, &p, &a, NULL, n);
    uint64_t hb = s_run((dd_netem_kind_t)kind, 2024, &p, &b, NULL, n);
    uint64_t hc = s_run((dd_netem_kind_t)kind, 2025, &p, &c, NULL, n);
    ck_assert_uint_eq(ha, hb);
    ck_assert_uint_eq(a.hash, b.hash);
    ck_assert_uint_ne(ha, hc);
    ck_assert_uint_ne(a.hash, c.hash);
  }
  ck_assert_uint_gt(a.count[DD_NETEM_EV_DROP], 100);
  ck_assert_uint_gt(a.count[DD_NETEM_EV_DUPLICATE], 100);
  ck_assert_uint_gt(a.count[DD_NETEM_EV_CORRUPT], 100);
  ck_assert_uint_gt(a.count[DD_NETEM_EV_REORDER], 100);
  /* Separate random streams: switching duplication and corruption off leaves the loss pattern
   * (and so every drop decision) unchanged. */
  uint8_t *d1 = malloc(n), *d2 = malloc(n);
  ck_assert(d1 && d2);
  p.limit = 0;
  s_run(DD_NETEM_DATAGRAM, 77, &p, &a, d1, n);
  p.dup = 0.0;
  p.corrupt = 0.0;
  p.rate = 0; /* the outage drops depend on release times, keep them out of the comparison */
  s_run(DD_NETEM_DATAGRAM, 77, &p, &b, d2, n);
  size_t diff = 0;
  for (size_t i = 0; i < n; i++)
    diff += d1[i] != d2[i];
  ck_assert_uint_eq(diff, 0);
  free(d1);
  free(d2);
  ck_assert_str_eq(dd_netem_ev_name(DD_NETEM_EV_RETRANSMIT), "retransmit");
  ck_assert_str_eq(dd_netem_kind_name(DD_NETEM_DATAGRAM), "datagram");
}
END_TEST

/* ---- validation --------------------------------------------------------------------------- */

START_TEST(test_validation) {
  dd_netem_params_t good, p;
  dd_netem_params_init(&good);
  ck_assert_int_eq(dd_netem_params_check(&good), 0);
  ck_assert_int_eq(dd_netem_params_check(NULL), DD_EINVAL);
#define BAD(stmt)                                                                                  \
  do {                                                                                             \
    p = good;                                                                                      \
    stmt;                                                                                          \
    ck_assert_int_eq(dd_netem_params_check(&p), DD_EINVAL);                                        \
  } while (0)
  BAD(p.loss.p = -0.01);
  BAD(p.loss.p = 1.01);
  BAD(p.loss.p = NAN);
  BAD(p.loss.corr = 2.0);
  BAD(p.dup = -1.0);
  BAD(p.dup_corr = 1.5);
  BAD(p.corrupt = 100.0); /* a percentage passed by mistake */
  BAD(p.corrupt_corr = -0.5);
  BAD(p.reorder = NAN);
  BAD(p.reorder_corr = 1.0000001);
  BAD(p.delay_corr = -0.1);
  BAD(p.dist = DD_NETEM_DIST_COUNT);
  BAD(p.corr_mode = DD_NETEM_CORR_COUNT);
  BAD(p.loss.model = DD_NETEM_LOSS_COUNT);
  BAD(dd_netem_loss_state(&p.loss, 0.7, 0.5, 0.0, 1.0, 0.4)); /* p13 + p14 > 1 */
  BAD(dd_netem_loss_state(&p.loss, 0.1, 0.6, 0.6, 1.0, 0.0)); /* p31 + p32 > 1 */
  BAD(dd_netem_loss_state(&p.loss, -0.1, 0.5, 0.0, 1.0, 0.0));
  BAD(dd_netem_loss_gemodel(&p.loss, 0.1, 1.2, 1.0, 0.0));
  BAD(dd_netem_loss_gemodel(&p.loss, 0.1, 0.5, -1e-9, 0.0));
  BAD(p.delay_us = DD_NETEM_MAX_DELAY_US + 1);
  BAD(p.jitter_us = DD_NETEM_MAX_DELAY_US + 1);
  BAD(p.ramp_to_us = DD_NETEM_MAX_DELAY_US + 1);
  BAD(p.ramp_us = DD_NETEM_MAX_RAMP_US + 1);
  BAD(p.rate = DD_NETEM_MAX_RATE + 1);
  BAD(p.burst = DD_NETEM_MAX_RATE + 1);
  BAD(p.overhead = -DD_NETEM_MAX_OVERHEAD - 1);
  BAD(p.overhead = DD_NETEM_MAX_OVERHEAD + 1);
  BAD(p.cell_size = DD_NETEM_MAX_OVERHEAD + 1);
  BAD(p.cell_overhead = INT32_MIN);
  BAD(p.rto_us = 0);
  BAD(p.rto_max_us = p.rto_us - 1);
  BAD(p.max_retries = DD_NETEM_MAX_RETRIES + 1);
#undef BAD
  /* Valid edge values. */
  p = good;
  p.loss.p = 1.0;
  p.dup = 0.0;
  p.overhead = -14;
  p.delay_us = DD_NETEM_MAX_DELAY_US;
  ck_assert_int_eq(dd_netem_params_check(&p), 0);
  /* An invalid set changes nothing. */
  dd_netem_dir_t *d = dd_netem_dir_new(DD_NETEM_DATAGRAM, 1);
  ck_assert_ptr_nonnull(d);
  p = good;
  p.delay_us = 7 * MS;
  ck_assert_int_eq(dd_netem_set(d, &p, 0), 0);
  dd_netem_params_t bad = p;
  bad.delay_us = 9 * MS;
  bad.dup = -0.5;
  ck_assert_int_eq(dd_netem_set(d, &bad, 0), DD_EINVAL);
  dd_netem_params_t got;
  dd_netem_get(d, &got);
  ck_assert_uint_eq(got.delay_us, 7 * MS);
  ck_assert_double_eq(got.dup, 0.0);
  /* Other entry points. */
  dd_netem_verdict_t v;
  ck_assert_int_eq(dd_netem_enqueue(d, 1, (size_t)DD_NETEM_MAX_BYTES + 1, 0, &v), DD_EINVAL);
  ck_assert_int_eq(dd_netem_outage(d, 0, 0, 0), DD_EINVAL);
  ck_assert_int_eq(dd_netem_outage(d, DD_NETEM_NEVER, SEC, 0), DD_EINVAL);
  ck_assert_int_eq(dd_netem_enqueue(d, 1, 1, DD_NETEM_NEVER, &v), DD_EINVAL);
  /* Outage windows are bounded: 16 disjoint pending ones fit, the 17th does not. */
  for (uint64_t i = 0; i < DD_NETEM_MAX_OUTAGES; i++)
    ck_assert_int_eq(dd_netem_outage(d, (2 * i + 1) * SEC, SEC, 0), 0);
  ck_assert_int_eq(dd_netem_outage(d, 100 * SEC, SEC, 0), DD_ENOSPC);
  /* Overlapping ones merge instead. */
  ck_assert_int_eq(dd_netem_outage(d, SEC / 2, 40 * SEC, 0), 0);
  ck_assert(dd_netem_is_down(d, 39 * SEC));
  ck_assert_int_eq(dd_netem_outage(d, 100 * SEC, SEC, 0), 0);
  dd_netem_dir_destroy(&d);
  dd_netem_dir_destroy(&d); /* destroying NULL is a no-op */
}
END_TEST

static TCase *s_tcase(Suite *s, const char *name) {
  TCase *tc = tcase_create(name);
  tcase_set_timeout(tc, 240); /* statistical cases draw ~10^6 samples; slow under sanitizers */
  suite_add_tcase(s, tc);
  return tc;
}

/* STREAM with bursty loss: a burst delays consecutive messages once each, and a message's own
 * retransmissions are lost only at the long-run rate, so no message waits for a whole burst's
 * doubling back-off (GE 5 % with mean burst 4: a back-to-back draw would cost 2^8 - 1 RTOs for
 * one message in one burst of eight). */
START_TEST(test_stream_bursty_loss_bounded) {
  dd_netem_dir_t *d = dd_netem_dir_new(DD_NETEM_STREAM, 11);
  dd_netem_params_t p;
  dd_netem_params_init(&p);
  p.delay_us = 300000;
  dd_netem_loss_gemodel(&p.loss, 0.0125, 0.25, 1.0, 0.0); /* loss 4.76 %, mean burst 4 */
  ck_assert_int_eq(dd_netem_set(d, &p, 0), 0);
  unsigned hit = 0, worst = 0, consecutive = 0, longest = 0;
  for (uint64_t i = 0; i < 20000; i++) {
    dd_netem_verdict_t v;
    ck_assert_int_eq(dd_netem_enqueue(d, i, 100, i * 1000, &v), 0);
    if (v.retransmits) {
      hit++;
      consecutive++;
      if (consecutive > longest) longest = consecutive;
    } else {
      consecutive = 0;
    }
    if (v.retransmits > worst) worst = v.retransmits;
  }
  ck_assert_uint_ge(longest, 4);          /* bursts still hit consecutive messages */
  ck_assert(hit > 600 && hit < 1400);     /* about 4.8 % of 20000 */
  ck_assert_uint_le(worst, 4);            /* 0.048^3 per hit: never a long back-off chain */
  dd_netem_dir_destroy(&d);
}
END_TEST

int main(void) {
  Suite *s = suite_create("netem");
  TCase *tc = s_tcase(s, "order");
  tcase_add_test(tc, test_fixed_delay);
  tcase_add_test(tc, test_stream_bursty_loss_bounded);
  tcase_add_test(tc, test_stream_never_reorders);
  tcase_add_test(tc, test_ramp);
  tcase_add_test(tc, test_determinism);
  tc = s_tcase(s, "rate");
  tcase_add_test(tc, test_rate_spacing);
  tc = s_tcase(s, "dist");
  tcase_add_test(tc, test_quantile_functions);
  tcase_add_test(tc, test_dist_uniform);
  tcase_add_test(tc, test_dist_normal);
  tcase_add_test(tc, test_dist_pareto);
  tcase_add_test(tc, test_dist_paretonormal);
  tcase_add_test(tc, test_delay_correlation);
  tc = s_tcase(s, "loss");
  tcase_add_test(tc, test_loss_expected_analytic);
  tcase_add_test(tc, test_random_loss);
  tcase_add_test(tc, test_markov_loss_measured);
  tcase_add_test(tc, test_stream_retransmit);
  tc = s_tcase(s, "impair");
  tcase_add_test(tc, test_duplicate);
  tcase_add_test(tc, test_corrupt);
  tcase_add_test(tc, test_reorder);
  tcase_add_test(tc, test_stream_ignores_datagram_impairments);
  tcase_add_test(tc, test_limit);
  tc = s_tcase(s, "outage");
  tcase_add_test(tc, test_outage_datagram);
  tcase_add_test(tc, test_outage_stream);
  tc = s_tcase(s, "params");
  tcase_add_test(tc, test_validation);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
