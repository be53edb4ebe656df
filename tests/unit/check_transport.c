/* check_transport: the direct/relay choice (mission S43-S45) through an injected clock: RFC 6298
 * arithmetic, switching to the relay within a second of a latency step with 100 ms probes,
 * returning only after the hold time below threshold - hysteresis, flapping held off (and not
 * held off with the planted no-hysteresis defect), and switching when probes stop coming back. */
#include <check.h>
#include <stdlib.h>

#include "dd_transport.h"

/* A simulated direct path: round-trip time as a function of time, or lost. */
typedef uint64_t (*s_rtt_fn)(uint64_t t_us); /* UINT64_MAX: the probe is lost */

typedef struct {
  uint64_t due[4096];   /* echo arrival times */
  uint32_t id[4096];    /* probe ids */
  int n;                /* echoes in flight */
  dd_transport_switch_t sw[64]; /* switches seen */
  int n_sw;             /* how many */
} s_sim_t;

static void s_run(dd_transport_t *tr, s_sim_t *sim, s_rtt_fn rtt, uint64_t from, uint64_t to) {
  for (uint64_t t = from; t < to; t += 1000) { /* 1 ms steps */
    for (int i = 0; i < sim->n;) {
      if (sim->due[i] <= t) {
        dd_transport_on_echo(tr, sim->id[i], t);
        sim->due[i] = sim->due[sim->n - 1];
        sim->id[i] = sim->id[sim->n - 1];
        sim->n--;
      } else {
        i++;
      }
    }
    uint32_t pid;
    while (dd_transport_poll(tr, t, &pid)) {
      uint64_t r = rtt(t);
      if (r != UINT64_MAX && sim->n < 4096) {
        sim->due[sim->n] = t + r;
        sim->id[sim->n++] = pid;
      }
    }
    dd_transport_switch_t sw;
    while (dd_transport_take_switch(tr, &sw))
      if (sim->n_sw < 64) sim->sw[sim->n_sw++] = sw;
  }
}

static uint64_t s_step(uint64_t t) { /* 20 ms, then 250 ms from 10 s to 25 s */
  return (t >= 10000000 && t < 25000000) ? 250000 : 20000;
}

START_TEST(test_rfc6298_arithmetic) {
  dd_transport_cfg_t cfg;
  dd_transport_cfg_default(&cfg);
  dd_transport_t tr;
  dd_transport_init(&tr, &cfg, 0);
  uint32_t id;
  ck_assert(dd_transport_poll(&tr, 0, &id));
  dd_transport_on_echo(&tr, id, 80000); /* R = 80 ms: SRTT = R, RTTVAR = R/2 (2.2) */
  ck_assert_uint_eq(tr.srtt_us, 80000);
  ck_assert_uint_eq(tr.rttvar_us, 40000);
  ck_assert(dd_transport_poll(&tr, 100000, &id));
  dd_transport_on_echo(&tr, id, 100000 + 160000); /* R' = 160 ms (2.3) */
  /* RTTVAR = 3/4 * 40 + 1/4 * |80 - 160| = 50 ms; SRTT = 7/8 * 80 + 1/8 * 160 = 90 ms */
  ck_assert_uint_eq(tr.rttvar_us, 50000);
  ck_assert_uint_eq(tr.srtt_us, 90000);
  ck_assert_int_eq(dd_transport_path(&tr), DD_PATH_DIRECT);
  /* A duplicate or unknown echo changes nothing. */
  dd_transport_on_echo(&tr, id, 300000);
  dd_transport_on_echo(&tr, 999, 300000);
  ck_assert_uint_eq(tr.samples, 2);
}
END_TEST

START_TEST(test_latency_step_switches_and_returns_after_hold) {
  dd_transport_cfg_t cfg;
  dd_transport_cfg_default(&cfg); /* 100 ms probes, 150 ms threshold, 30 ms, 5 s hold */
  dd_transport_t tr;
  dd_transport_init(&tr, &cfg, 0);
  s_sim_t sim = {0};
  s_run(&tr, &sim, s_step, 0, 40000000);
  ck_assert_int_eq(sim.n_sw, 2);
  ck_assert_uint_eq(tr.switches, 2);
  ck_assert_int_eq(sim.sw[0].to, DD_PATH_RELAY);
  ck_assert_int_eq(sim.sw[0].reason, DD_TR_LATENCY_HIGH);
  ck_assert_uint_ge(sim.sw[0].at_us, 10000000);
  ck_assert_uint_le(sim.sw[0].at_us, 11000000); /* within 1 s of the step */
  ck_assert_uint_gt(sim.sw[0].srtt_us, cfg.threshold_us);
  ck_assert_int_eq(sim.sw[1].to, DD_PATH_DIRECT);
  ck_assert_int_eq(sim.sw[1].reason, DD_TR_LATENCY_OK);
  ck_assert_uint_ge(sim.sw[1].at_us, 25000000 + cfg.hold_us); /* not before the hold */
  ck_assert_uint_le(sim.sw[1].at_us, 25000000 + cfg.hold_us + 2000000);
  ck_assert_uint_lt(sim.sw[1].srtt_us, cfg.threshold_us - cfg.hysteresis_us);
}
END_TEST

static uint64_t s_flap(uint64_t t) { /* 140 ms / 200 ms alternating every 1.5 s after 5 s */
  if (t < 5000000) return 20000;
  return ((t / 1500000) % 2) ? 200000 : 140000;
}

START_TEST(test_flapping_held_off_by_hysteresis) {
  dd_transport_cfg_t cfg;
  dd_transport_cfg_default(&cfg);
  dd_transport_t tr;
  dd_transport_init(&tr, &cfg, 0);
  s_sim_t sim = {0};
  s_run(&tr, &sim, s_flap, 0, 60000000);
  ck_assert_int_eq(sim.n_sw, 1); /* to the relay once, and it stays there */
  ck_assert_int_eq(dd_transport_path(&tr), DD_PATH_RELAY);

  /* The planted defect flaps: many switches over the same minute. */
  cfg.no_hysteresis = true;
  dd_transport_init(&tr, &cfg, 0);
  s_sim_t bad = {0};
  s_run(&tr, &bad, s_flap, 0, 60000000);
  ck_assert_int_ge(bad.n_sw, 10);
}
END_TEST

static uint64_t s_outage(uint64_t t) { return (t >= 3000000 && t < 8000000) ? UINT64_MAX : 20000; }

START_TEST(test_probes_lost_switch) {
  dd_transport_cfg_t cfg;
  dd_transport_cfg_default(&cfg);
  cfg.probe_timeout_us = 300000;
  dd_transport_t tr;
  dd_transport_init(&tr, &cfg, 0);
  s_sim_t sim = {0};
  s_run(&tr, &sim, s_outage, 0, 20000000);
  ck_assert_int_ge(sim.n_sw, 2);
  ck_assert_int_eq(sim.sw[0].to, DD_PATH_RELAY);
  ck_assert_int_eq(sim.sw[0].reason, DD_TR_PROBES_LOST);
  /* 3 probes (0, 100, 200 ms into the outage) each time out after 300 ms. */
  ck_assert_uint_le(sim.sw[0].at_us, 3000000 + 200000 + 300000 + 1000);
  ck_assert(sim.sw[0].loss_pct > 0);
  ck_assert_int_eq(sim.sw[1].to, DD_PATH_DIRECT);
  ck_assert_uint_ge(sim.sw[1].at_us, 8000000 + cfg.hold_us);
  ck_assert_uint_gt(tr.losses, 40);
}
END_TEST

START_TEST(test_deadline_tracks_probes_and_hold) {
  dd_transport_cfg_t cfg;
  dd_transport_cfg_default(&cfg);
  dd_transport_t tr;
  dd_transport_init(&tr, &cfg, 5000);
  ck_assert_uint_eq(dd_transport_next_deadline(&tr), 5000);
  uint32_t id;
  ck_assert(dd_transport_poll(&tr, 5000, &id));
  ck_assert(!dd_transport_poll(&tr, 5001, &id));
  ck_assert_uint_eq(dd_transport_next_deadline(&tr), 105000);
  ck_assert_str_eq(dd_path_name(DD_PATH_RELAY), "relay");
  ck_assert_str_eq(dd_transport_reason_name(DD_TR_PROBES_LOST), "probes_lost");
}
END_TEST

int main(void) {
  Suite *s = suite_create("transport");
  TCase *tc = tcase_create("selector");
  tcase_add_test(tc, test_rfc6298_arithmetic);
  tcase_add_test(tc, test_latency_step_switches_and_returns_after_hold);
  tcase_add_test(tc, test_flapping_held_off_by_hysteresis);
  tcase_add_test(tc, test_probes_lost_switch);
  tcase_add_test(tc, test_deadline_tracks_probes_and_hold);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
