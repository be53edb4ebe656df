/* check_scenario: the scenario loader and validator (harness/dd_scenario) and durations
 * (harness/dd_duration): every feature of the format on valid files, matrix expansion, ${param}
 * substitution, link commands against the link process's own parser (netem/dd_link_cmd), the
 * example scenarios, and every error class with its exact FILE:LINE:COL message from
 * tests/scenarios-invalid/ (each file lists its expected diagnostics in "# expect:" lines).
 *
 * Expected values are written by hand from docs/SCENARIOS.md; DTC encodings follow the
 * SAE J2012 layout quoted in /work/shared/reference (P0133 = 0x0133, U0100 = 0xC100). */
#include <check.h>
#include <dirent.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dd_duration.h"
#include "dd_err.h"
#include "dd_link_cmd.h"
#include "dd_scenario.h"

#ifndef DD_SOURCE_DIR
#define DD_SOURCE_DIR "."
#endif

/* ---- helpers ------------------------------------------------------------------------------ */

static const char *s_src(void) {
  const char *e = getenv("DD_SOURCE_DIR");
  return e && *e ? e : DD_SOURCE_DIR;
}

typedef struct {
  int rc;                   /* load result */
  dd_scenario_list_t *list; /* scenarios */
  dd_sc_diags_t *diags;     /* problems */
} s_res_t;

static s_res_t s_load_opts(const char *yaml, const dd_scenario_opts_t *opts) {
  s_res_t r = {0};
  r.diags = dd_sc_diags_new();
  ck_assert_ptr_nonnull(r.diags);
  r.rc = dd_scenario_load_mem("test.yaml", yaml, strlen(yaml), opts, &r.list, r.diags);
  return r;
}

static s_res_t s_load(const char *yaml) {
  dd_scenario_opts_t o = {.no_file_checks = true, .root = s_src()};
  return s_load_opts(yaml, &o);
}

static void s_free(s_res_t *r) {
  dd_scenario_list_destroy(&r->list);
  dd_sc_diags_destroy(&r->diags);
}

/* "L:C: message" of diagnostic i. */
static void s_diag_text(const dd_sc_diags_t *d, size_t i, char *buf, size_t cap) {
  const dd_sc_diag_t *x = dd_sc_diags_get(d, i);
  ck_assert_ptr_nonnull(x);
  snprintf(buf, cap, "%d:%d: %s", x->line, x->col, x->msg);
}

/* The file loads; its problems, if any, are printed to help the reader of a failure. */
static void s_ok(const s_res_t *r) {
  if (r->rc != 0) dd_sc_diags_print(r->diags, stderr);
  ck_assert_int_eq(r->rc, 0);
  ck_assert_uint_eq(dd_sc_diags_count(r->diags), 0);
  ck_assert_uint_ge(dd_scenario_list_count(r->list), 1);
}

/* The file fails with exactly these diagnostics ("L:C: message"), in this order. */
static void s_fails(const char *yaml, const char *const *want, size_t n) {
  s_res_t r = s_load(yaml);
  ck_assert_int_eq(r.rc, DD_ESCENARIO);
  ck_assert_ptr_null(r.list);
  size_t got = dd_sc_diags_count(r.diags);
  if (got != n) dd_sc_diags_print(r.diags, stderr);
  ck_assert_uint_eq(got, n);
  for (size_t i = 0; i < n; i++) {
    char t[600];
    s_diag_text(r.diags, i, t, sizeof t);
    ck_assert_str_eq(t, want[i]);
  }
  s_free(&r);
}

static void s_fails1(const char *yaml, const char *want) { s_fails(yaml, &want, 1); }

/* ---- durations ---------------------------------------------------------------------------- */

START_TEST(test_duration_valid) {
  static const struct {
    const char *text; /* input */
    uint64_t us;      /* microseconds */
  } v[] = {
      {"0s", 0},           {"500us", 500},
      {"250ms", 250000},   {"1.5s", 1500000},       {"2m", 120000000},
      {"2min", 120000000}, {"1h", 3600000000ull},   {"1m30s", 90000000},
      {"1h2m3.5s", 3723500000ull},                  {"0.5ms", 500},
      {"1.000001s", 1000001}, {"0.25h", 900000000}, {"10ms500us", 10500},
      {"1.50s", 1500000},
  };
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
    uint64_t us = 12345;
    char why[DD_DURATION_WHY_MAX];
    int rc = dd_duration_parse(v[i].text, &us, why, sizeof why);
    ck_assert_msg(rc == 0, "%s: %s", v[i].text, why);
    ck_assert_uint_eq(us, v[i].us);
  }
  uint64_t us;
  ck_assert_int_eq(dd_duration_parse("3\xc2\xb5s", &us, NULL, 0), 0);
  ck_assert_uint_eq(us, 3);
  ck_assert_int_eq(dd_duration_parse("1000h", &us, NULL, 0), 0);
  ck_assert_uint_eq(us, 3600000000000ull);
  ck_assert_int_eq(dd_duration_parse("24000h", &us, NULL, 0), 0); /* exactly 1000 days */
  ck_assert_uint_eq(us, DD_DURATION_MAX_US);
}
END_TEST

START_TEST(test_duration_errors) {
  static const struct {
    const char *text; /* input */
    const char *why;  /* exact message */
  } v[] = {
      {"250 ms", "\"250 ms\" is not a duration (write 250ms)"},
      {"250", "\"250\" has no unit (write 250ms or 250s)"},
      {"1.5", "\"1.5\" has no unit (write 1.5ms or 1.5s)"},
      {"1m30", "\"1m30\": the last number has no unit (write e.g. 1m30s)"},
      {"5sec", "\"5sec\": unknown unit \"sec\" (write 5s)"},
      {"250MS", "\"250MS\": unknown unit \"MS\" (write 250ms)"},
      {"2 seconds", "\"2 seconds\" is not a duration (write 2s)"},
      {"5ns", "\"5ns\": unknown unit \"ns\" (units: us, ms, s, m, h)"},
      {"-1s", "\"-1s\" is negative; a duration is 0 or more"},
      {".5s", "\".5s\" is not a duration (write 0.5s)"},
      {"1.s", "\"1.s\" is not a duration (digits must follow the point)"},
      {"0.5us", "\"0.5us\" is finer than a microsecond"},
      {"1.0000001s", "\"1.0000001s\" is finer than a microsecond"},
      {"30s1m", "\"30s1m\": units must go from largest to smallest (e.g. 1m30s)"},
      {"1m1min", "\"1m1min\": units must go from largest to smallest (e.g. 1m30s)"},
      {"24001h", "\"24001h\" is too long (at most 1000 days)"},
      {"99999999999999999999999s", "\"99999999999999999999999s\" is too long (at most 1000 days)"},
      {"", "\"\" is not a duration (write a number and a unit, e.g. 250ms)"},
      {"fast", "\"fast\" is not a duration (write a number and a unit, e.g. 250ms)"},
      {"5s!", "\"5s!\" is not a duration (write a number and a unit, e.g. 250ms)"},
      {"\xc2\xb5s", "\"\xc2\xb5s\" is not a duration (write a number and a unit, e.g. 250ms)"},
      {"3days", "\"3days\": unknown unit \"days\" (units: us, ms, s, m, h)"},
  };
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
    uint64_t us = 777;
    char why[DD_DURATION_WHY_MAX];
    ck_assert_int_eq(dd_duration_parse(v[i].text, &us, why, sizeof why), DD_EINVAL);
    ck_assert_str_eq(why, v[i].why);
    ck_assert_uint_eq(us, 777); /* untouched on error */
  }
  /* A short buffer is truncated, never overrun; NULL is fine. */
  char small[8];
  ck_assert_int_eq(dd_duration_parse("250", NULL, small, sizeof small), DD_EINVAL);
  uint64_t us;
  ck_assert_int_eq(dd_duration_parse("250", &us, small, sizeof small), DD_EINVAL);
  ck_assert_uint_eq(strlen(small), 7);
  ck_assert_int_eq(dd_duration_parse("x", &us, NULL, 0), DD_EINVAL);
}
END_TEST

START_TEST(test_duration_format) {
  static const struct {
    uint64_t us;      /* value */
    const char *text; /* shortest form */
  } v[] = {
      {0, "0s"},         {500, "500us"},        {1500, "1.5ms"},     {250000, "250ms"},
      {1500000, "1.5s"}, {90000000, "90s"},     {120000000, "2m"},   {3600000000ull, "1h"},
      {1000001, "1.000001s"}, {1001, "1.001ms"}, {61500000, "61.5s"}, {7200000000ull, "2h"},
  };
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
    char b[DD_DURATION_FMT_MAX];
    dd_duration_format(v[i].us, b, sizeof b);
    ck_assert_str_eq(b, v[i].text);
  }
  /* Every formatted value parses back to itself. */
  uint64_t x = 1;
  for (int i = 0; i < 2000; i++) {
    char b[DD_DURATION_FMT_MAX];
    dd_duration_format(x, b, sizeof b);
    uint64_t back = 0;
    ck_assert_int_eq(dd_duration_parse(b, &back, NULL, 0), 0);
    ck_assert_uint_eq(back, x);
    x = x * 7 + 13;
    if (x > DD_DURATION_MAX_US) x %= DD_DURATION_MAX_US;
  }
}
END_TEST

/* ---- a file using every feature ----------------------------------------------------------- */

static const char *const s_full =
    "name: full\n"
    "description: every key of the format\n"
    "tags: [example, full]\n"
    "seed: 99\n"
    "clock: realtime\n"
    "timeout: 2m\n"
    "currency: EUR\n"
    "params: {thr: 200, who: shop-2, quoted: \"007\"}\n"
    "vehicle: ecu_models/vehicles/none.yaml\n"
    "parties:\n"
    "  first_device: {mode: real, register_timeout: 45s, endpoint: \"tcp://10.0.0.5:7000\", set: {log_level: debug}}\n"
    "  terminal: sim\n"
    "  service: {mode: sim}\n"
    "  bus: {kind: socketcan, iface: vcan0, bitrate: 250000, dbitrate: 2000000}\n"
    "  ecus: {mode: sim, real: [abs]}\n"
    "first_device:\n"
    "  threshold: ${thr}ms\n"
    "  hysteresis: 40ms\n"
    "  hold: 3s\n"
    "  probe_interval: 50ms\n"
    "  policy: latency\n"
    "  fee_limit: 99.99\n"
    "  set: {retransmit_ms: 250}\n"
    "terminals:\n"
    "  shop-1: {name: \"Shop One\", fee: 30, accept: true}\n"
    "  shop-2: {name: \"Shop Two\", fee: 45.5, accept: false, online: false, answer_delay: 1.5s}\n"
    "links:\n"
    "  direct: {delay: 20ms, jitter: 2ms, dist: pareto, delay_corr: 25%, rate: 1mbit, loss: 1%,\n"
    "           loss_corr: 10%, dup: 0.5%, corrupt: 0.1%, reorder: 2%, gap: 5, down: {delay: 30ms}}\n"
    "  relay: {delay: 40ms, rto: 300ms, gemodel: {p: 1%, r: 30%, h: 0%, k: 100%}}\n"
    "timeline:\n"
    "  - at: 0s\n"
    "    name: open\n"
    "    session: {terminal: \"${who}\", media: video, accept: true, fee: 12.34, pay: true, amount: 10}\n"
    "  - after: session.connected + 500ms\n"
    "    terminal: {request: live_data, pids: [0x0C, 13], rate_hz: 10, count: 100, ecu: engine}\n"
    "  - after: {event: transport.rtt, proc: first_device, nth: 3, delay: 1s, rtt_us: {gt: 1000}}\n"
    "    link: {direct: {delay: 250ms, ramp: 5s, loss: 2%, up: {outage: 2s}}, relay: {reset: true}}\n"
    "  - at: 1m\n"
    "    link: {relay: {outage: forever}}\n"
    "  - at: 61s\n"
    "    link: {relay: {restore: true}}\n"
    "  - at: 2s\n"
    "    ecu: {target: engine, set_dtc: {code: P0301-1F, status: 0x09}}\n"
    "  - at: 3s\n"
    "    ecu: {target: engine, clear_dtc: all}\n"
    "  - at: 4s\n"
    "    ecu: {target: engine, delay: {service: 0x22, by: 300ms}}\n"
    "  - at: 5s\n"
    "    ecu: {target: engine, drop: {probability: 50%, count: 3}}\n"
    "  - at: 6s\n"
    "    ecu: {target: engine, force_nrc: {service: 0x27, nrc: 0x35, count: 2}}\n"
    "  - at: 7s\n"
    "    ecu: {target: engine, pending_forever: {service: 0x31}}\n"
    "  - at: 8s\n"
    "    ecu: {target: engine, power_cycle: 500ms}\n"
    "  - at: 9s\n"
    "    ecu: {target: engine, power_cut_during_flash: 40%}\n"
    "  - at: 10s\n"
    "    ecu: {speed: 30}\n"
    "  - at: 11s\n"
    "    ecu: {target: engine, clear: true}\n"
    "  - at: 12s\n"
    "    kill: {proc: relay, signal: TERM}\n"
    "  - at: 13s\n"
    "    restart: {proc: ecu.engine, down: 2s}\n"
    "  - at: 14s\n"
    "    control: {action: read_dids, dids: [0xF190, 0xF18C], ecu: 0x7E0}\n"
    "  - at: 15s\n"
    "    control: {action: stream_pids, pids: [0x0C], rate_hz: 5, from: shop-2}\n"
    "  - at: 16s\n"
    "    control: {action: io_control, did: 0xF00A, option: freeze}\n"
    "  - at: 17s\n"
    "    control: {action: routine, routine: 0xFF00, sub: results, data: \"01 02\"}\n"
    "  - at: 18s\n"
    "    control: {action: ecu_reset, reset: soft}\n"
    "  - at: 19s\n"
    "    program: {image: fw/a.s19, target: engine, version: \"1.0\", signature: bad, start: on_control}\n"
    "  - at: 20s\n"
    "    control: {action: start_reflash, package: pkg-22}\n"
    "  - at: 21s\n"
    "    mark: halfway\n"
    "  - after: {step: open, delay: 250ms}\n"
    "    stop: {reason: done}\n"
    "expect:\n"
    "  - event: transport.switched\n"
    "    proc: first_device\n"
    "    to: relay\n"
    "    rtt_us: {between: [1000, 500ms]}\n"
    "    after: {step: open, delay: 1s}\n"
    "    not_before: 100ms\n"
    "    within: 2s\n"
    "    tolerance: 10ms\n"
    "  - event: x.y\n"
    "    at: 5s\n"
    "    tolerance: 100ms\n"
    "    code: \"${quoted}\"\n"
    "    fields: {after: {in: [a, 1, true]}, name: {regex: \"^v[0-9]+\"}, n: {ne: 3, le: 10}}\n"
    "  - never: transport.switched\n"
    "    between: [0s, session.connected]\n"
    "  - order: [a.b, {event: c.d, proc: p, k: {ne: 3}}]\n"
    "    within: 10s\n"
    "  - count: {event: can.fault, min: 1, max: 3, between: [1s, end]}\n"
    "  - metric: {event: transport.rtt, field: rtt_ms, stat: p99.9, le: 1s, gt: 0, phase: up}\n"
    "  - final: {event: program.status, phase: DONE}\n"
    "    name: done\n"
    "checks:\n"
    "  - vehicle_records: {lost: 1, out_of_order: 2}\n"
    "  - control_outside_paid_session: off\n"
    "  - process_failures: 3\n";

START_TEST(test_full_top_and_parties) {
  s_res_t r = s_load(s_full);
  s_ok(&r);
  ck_assert_uint_eq(dd_scenario_list_count(r.list), 1);
  const dd_scenario_t *sc = dd_scenario_list_get(r.list, 0);
  ck_assert_str_eq(sc->name, "full");
  ck_assert_str_eq(sc->base_name, "full");
  ck_assert_str_eq(sc->slug, "full");
  ck_assert_str_eq(sc->file, "test.yaml");
  ck_assert_str_eq(sc->description, "every key of the format");
  ck_assert_uint_eq(sc->n_tags, 2);
  ck_assert_str_eq(sc->tags[1], "full");
  ck_assert_uint_eq(sc->seed, 99);
  ck_assert(sc->seed_given);
  ck_assert_int_eq(sc->clock, DD_SC_CLOCK_REALTIME);
  ck_assert_uint_eq(sc->timeout_us, 120000000);
  ck_assert_str_eq(sc->currency, "EUR");
  ck_assert_uint_eq(sc->n_params, 3);
  ck_assert_str_eq(sc->params[0].key, "thr");
  ck_assert_str_eq(sc->params[0].value, "200");
  ck_assert_uint_eq(sc->n_variant, 0);
  ck_assert_str_eq(sc->vehicle, "ecu_models/vehicles/none.yaml");
  ck_assert_ptr_null(sc->vehicle_path); /* not found, checks off */

  const dd_sc_party_t *fd = &sc->parties[DD_SC_P_FIRST_DEVICE];
  ck_assert_int_eq(fd->mode, DD_SC_REAL);
  ck_assert_uint_eq(fd->register_timeout_us, 45000000);
  ck_assert_str_eq(fd->endpoint, "tcp://10.0.0.5:7000");
  ck_assert_uint_eq(fd->n_set, 1);
  ck_assert_str_eq(fd->set[0].key, "log_level");
  ck_assert_str_eq(fd->set[0].value, "debug");
  ck_assert(fd->declared);
  ck_assert_int_eq(fd->loc.line, 11);
  ck_assert_int_eq(fd->loc.col, 3);
  ck_assert_int_eq(sc->parties[DD_SC_P_TERMINAL].mode, DD_SC_SIM);
  ck_assert(!sc->parties[DD_SC_P_RELAY].declared);
  ck_assert_uint_eq(sc->parties[DD_SC_P_RELAY].register_timeout_us, 30000000);
  ck_assert_int_eq(sc->parties[DD_SC_P_BUS].mode, DD_SC_REAL);
  ck_assert_int_eq(sc->bus.kind, DD_SC_BUS_SOCKETCAN);
  ck_assert_str_eq(sc->bus.iface, "vcan0");
  ck_assert_uint_eq(sc->bus.bitrate, 250000);
  ck_assert_uint_eq(sc->bus.dbitrate, 2000000);
  ck_assert_int_eq(sc->parties[DD_SC_P_ECUS].mode, DD_SC_SIM);
  ck_assert_uint_eq(sc->ecus.n_real, 1);
  ck_assert_str_eq(sc->ecus.real[0], "abs");

  const dd_sc_first_device_t *f = &sc->first_device;
  ck_assert_uint_eq(f->threshold_us, 200000);
  ck_assert_uint_eq(f->hysteresis_us, 40000);
  ck_assert_uint_eq(f->hold_us, 3000000);
  ck_assert_uint_eq(f->probe_interval_us, 50000);
  ck_assert_int_eq(f->policy, DD_SC_POLICY_LATENCY);
  ck_assert_int_eq(f->fee_limit_minor, 9999);
  ck_assert_uint_eq(f->n_set, 1);
  ck_assert_str_eq(f->set[0].value, "250");

  ck_assert_uint_eq(sc->n_terminals, 2);
  ck_assert_str_eq(sc->terminals[0].id, "shop-1");
  ck_assert_str_eq(sc->terminals[0].name, "Shop One");
  ck_assert_int_eq(sc->terminals[0].fee_minor, 3000);
  ck_assert(sc->terminals[0].online);
  ck_assert_str_eq(sc->terminals[1].id, "shop-2");
  ck_assert_int_eq(sc->terminals[1].fee_minor, 4550);
  ck_assert(!sc->terminals[1].accept);
  ck_assert(!sc->terminals[1].online);
  ck_assert_uint_eq(sc->terminals[1].answer_delay_us, 1500000);

  ck_assert(!sc->checks[DD_SC_CHECK_CONTROL_UNPAID].enabled);
  ck_assert(sc->checks[DD_SC_CHECK_VEHICLE_RECORDS].enabled);
  ck_assert(sc->checks[DD_SC_CHECK_VEHICLE_RECORDS].declared);
  ck_assert_uint_eq(sc->checks[DD_SC_CHECK_VEHICLE_RECORDS].limit[0], 1);
  ck_assert_uint_eq(sc->checks[DD_SC_CHECK_VEHICLE_RECORDS].limit[1], 0);
  ck_assert_uint_eq(sc->checks[DD_SC_CHECK_VEHICLE_RECORDS].limit[2], 2);
  ck_assert_uint_eq(sc->checks[DD_SC_CHECK_PROCESS_FAILURES].limit[0], 3);
  ck_assert(sc->checks[DD_SC_CHECK_ECU_NO_APP].enabled); /* on by default */
  ck_assert(!sc->checks[DD_SC_CHECK_ECU_NO_APP].declared);
  s_free(&r);
}
END_TEST

START_TEST(test_full_links) {
  s_res_t r = s_load(s_full);
  s_ok(&r);
  const dd_scenario_t *sc = dd_scenario_list_get(r.list, 0);
  const dd_sc_link_t *d = &sc->links[DD_SC_L_DIRECT];
  ck_assert(d->declared);
  ck_assert_str_eq(d->name, "direct");
  ck_assert_int_eq(d->kind, DD_SC_LINK_UDP);
  ck_assert_str_eq(d->client, "first_device");
  ck_assert_str_eq(d->server, "service");
  /* Up has the shared settings, down overrides the delay. */
  ck_assert_uint_eq(d->params[0].delay_us, 20000);
  ck_assert_uint_eq(d->params[1].delay_us, 30000);
  ck_assert_uint_eq(d->params[0].jitter_us, 2000);
  ck_assert_int_eq(d->params[0].dist, DD_NETEM_DIST_PARETO);
  ck_assert_double_eq_tol(d->params[0].delay_corr, 0.25, 1e-12);
  ck_assert_uint_eq(d->params[0].rate, 125000); /* 1 Mbit/s in bytes per second */
  ck_assert_int_eq(d->params[0].loss.model, DD_NETEM_LOSS_RANDOM);
  ck_assert_double_eq_tol(d->params[0].loss.p, 0.01, 1e-12);
  ck_assert_double_eq_tol(d->params[0].loss.corr, 0.10, 1e-12);
  ck_assert_double_eq_tol(d->params[1].dup, 0.005, 1e-12);
  ck_assert_double_eq_tol(d->params[1].corrupt, 0.001, 1e-12);
  ck_assert_double_eq_tol(d->params[1].reorder, 0.02, 1e-12);
  ck_assert_uint_eq(d->params[1].reorder_gap, 5);
  ck_assert_uint_eq(d->n_init, 2); /* the directions differ */
  ck_assert_uint_eq(d->init[0].dirs, DD_SC_UP);
  ck_assert_uint_eq(d->init[1].dirs, DD_SC_DOWN);
  ck_assert_uint_eq(d->init[1].set.delay_us, 30000);
  const dd_sc_link_t *rl = &sc->links[DD_SC_L_RELAY];
  ck_assert_int_eq(rl->kind, DD_SC_LINK_ZMQ);
  ck_assert_uint_eq(rl->n_init, 1);
  ck_assert_uint_eq(rl->init[0].dirs, DD_SC_BOTH);
  ck_assert_uint_eq(rl->params[1].rto_us, 300000);
  ck_assert_int_eq(rl->params[0].loss.model, DD_NETEM_LOSS_GEMODEL);
  ck_assert_double_eq_tol(rl->params[0].loss.ge_p, 0.01, 1e-12);
  ck_assert_double_eq_tol(rl->params[0].loss.ge_r, 0.30, 1e-12);
  ck_assert_double_eq_tol(rl->params[0].loss.ge_1h, 1.0, 1e-12); /* h = 0 % delivered in Bad */
  ck_assert_double_eq_tol(rl->params[0].loss.ge_1k, 0.0, 1e-12);
  ck_assert(!sc->links[DD_SC_L_IM].declared);
  ck_assert_uint_eq(sc->links[DD_SC_L_IM].n_init, 0);
  ck_assert_uint_eq(sc->links[DD_SC_L_IM].params[0].delay_us, 0);
  ck_assert_str_eq(sc->links[DD_SC_L_TERMINAL_CLOUD].client, "terminal");

  /* timeline[2]: direct ramps its delay and drops more, its up direction goes down for 2 s;
   * relay goes back to its start settings. */
  const dd_sc_step_t *st = &sc->steps[2];
  ck_assert_int_eq(st->action, DD_SC_ACT_LINK);
  ck_assert_uint_eq(st->link.n_changes, 2);
  const dd_sc_link_change_t *ch = &st->link.changes[0];
  ck_assert_int_eq(ch->link, DD_SC_L_DIRECT);
  ck_assert_uint_eq(ch->n_ops, 3);
  ck_assert_int_eq(ch->ops[0].op, DD_SC_LOP_SET);
  ck_assert_uint_eq(ch->ops[0].set.mask, DD_SC_LF_LOSS); /* the delay goes to the ramp */
  ck_assert_int_eq(ch->ops[1].op, DD_SC_LOP_RAMP);
  ck_assert_uint_eq(ch->ops[1].ramp_to_us, 250000);
  ck_assert_uint_eq(ch->ops[1].ramp_us, 5000000);
  ck_assert_int_eq(ch->ops[2].op, DD_SC_LOP_OUTAGE);
  ck_assert_uint_eq(ch->ops[2].dirs, DD_SC_UP);
  ck_assert_uint_eq(ch->ops[2].outage_us, 2000000);
  ch = &st->link.changes[1];
  ck_assert_int_eq(ch->link, DD_SC_L_RELAY);
  ck_assert_uint_eq(ch->n_ops, 2);
  ck_assert_int_eq(ch->ops[0].op, DD_SC_LOP_RESET);
  ck_assert_int_eq(ch->ops[1].op, DD_SC_LOP_SET);
  ck_assert_uint_eq(ch->ops[1].set.rto_us, 300000);
  ck_assert_int_eq(sc->steps[3].link.changes[0].ops[0].op, DD_SC_LOP_OUTAGE);
  ck_assert_uint_eq(sc->steps[3].link.changes[0].ops[0].outage_us, DD_SC_NONE);
  ck_assert_int_eq(sc->steps[4].link.changes[0].ops[0].op, DD_SC_LOP_RESTORE);
  s_free(&r);
}
END_TEST

START_TEST(test_full_steps) {
  s_res_t r = s_load(s_full);
  s_ok(&r);
  const dd_scenario_t *sc = dd_scenario_list_get(r.list, 0);
  ck_assert_uint_eq(sc->n_steps, 26);
  const dd_sc_step_t *s = sc->steps;
  ck_assert_uint_eq(s[0].index, 0);
  ck_assert_str_eq(s[0].name, "open");
  ck_assert_int_eq(s[0].when.kind, DD_SC_REF_START);
  ck_assert_uint_eq(s[0].when.offset_us, 0);
  ck_assert_int_eq(s[0].action, DD_SC_ACT_SESSION);
  ck_assert_str_eq(s[0].session.terminal, "shop-2");
  ck_assert_int_eq(s[0].session.media, DD_SC_MEDIA_VIDEO);
  ck_assert(s[0].session.accept); /* overrides shop-2's accept: false */
  ck_assert_int_eq(s[0].session.fee_minor, 1234);
  ck_assert(s[0].session.pay);
  ck_assert_int_eq(s[0].session.amount_minor, 1000);
  ck_assert(!s[0].session.close);
  ck_assert_int_eq(s[0].loc.line, 32);

  ck_assert_int_eq(s[1].when.kind, DD_SC_REF_EVENT);
  ck_assert_str_eq(s[1].when.event.kind, "session.connected");
  ck_assert_uint_eq(s[1].when.offset_us, 500000);
  ck_assert_uint_eq(s[1].when.nth, 1);
  ck_assert_int_eq(s[1].request.kind, DD_SC_REQ_LIVE_DATA);
  ck_assert_str_eq(s[1].request.terminal, "shop-1");
  ck_assert_uint_eq(s[1].request.n_items, 2);
  ck_assert_uint_eq(s[1].request.items[0], 0x0C);
  ck_assert_uint_eq(s[1].request.items[1], 13);
  ck_assert_str_eq(s[1].request.ecu, "engine");
  ck_assert_double_eq(s[1].request.rate_hz, 10);
  ck_assert_uint_eq(s[1].request.count, 100);

  ck_assert_str_eq(s[2].when.event.kind, "transport.rtt");
  ck_assert_str_eq(s[2].when.event.proc, "first_device");
  ck_assert_uint_eq(s[2].when.nth, 3);
  ck_assert_uint_eq(s[2].when.offset_us, 1000000);
  ck_assert_uint_eq(s[2].when.event.n_match, 1);
  ck_assert_str_eq(s[2].when.event.match[0].field, "rtt_us");
  ck_assert_int_eq(s[2].when.event.match[0].op, DD_SC_OP_GT);
  ck_assert_int_eq(s[2].when.event.match[0].v[0].i, 1000);

  /* ECU faults. DTC P0301-1F: P = 00, digit 0, then 301 -> 0x0301, failure type 0x1F. */
  ck_assert_int_eq(s[5].fault.kind, DD_SC_FAULT_SET_DTC);
  ck_assert_str_eq(s[5].fault.ecu, "engine");
  ck_assert_uint_eq(s[5].fault.dtc, 0x03011F);
  ck_assert_str_eq(s[5].fault.dtc_text, "P0301-1F");
  ck_assert_uint_eq(s[5].fault.status, 0x09);
  ck_assert_int_eq(s[6].fault.kind, DD_SC_FAULT_CLEAR_DTC);
  ck_assert_uint_eq(s[6].fault.dtc, 0xFFFFFF);
  ck_assert_int_eq(s[7].fault.kind, DD_SC_FAULT_DELAY);
  ck_assert_int_eq(s[7].fault.service, 0x22);
  ck_assert_uint_eq(s[7].fault.duration_us, 300000);
  ck_assert_int_eq(s[8].fault.kind, DD_SC_FAULT_DROP);
  ck_assert_int_eq(s[8].fault.service, -1);
  ck_assert_double_eq_tol(s[8].fault.probability, 0.5, 1e-12);
  ck_assert_uint_eq(s[8].fault.count, 3);
  ck_assert_int_eq(s[9].fault.kind, DD_SC_FAULT_FORCE_NRC);
  ck_assert_int_eq(s[9].fault.service, 0x27);
  ck_assert_uint_eq(s[9].fault.nrc, 0x35);
  ck_assert_uint_eq(s[9].fault.count, 2);
  ck_assert_int_eq(s[10].fault.kind, DD_SC_FAULT_PENDING_FOREVER);
  ck_assert_int_eq(s[10].fault.service, 0x31);
  ck_assert_int_eq(s[11].fault.kind, DD_SC_FAULT_POWER_CYCLE);
  ck_assert_uint_eq(s[11].fault.duration_us, 500000);
  ck_assert_int_eq(s[12].fault.kind, DD_SC_FAULT_POWER_CUT_FLASH);
  ck_assert_double_eq_tol(s[12].fault.percent, 40.0, 1e-9);
  ck_assert_int_eq(s[13].fault.kind, DD_SC_FAULT_SPEED);
  ck_assert_ptr_null(s[13].fault.ecu);
  ck_assert_double_eq(s[13].fault.speed_kmh, 30);
  ck_assert_int_eq(s[14].fault.kind, DD_SC_FAULT_CLEAR);

  ck_assert_int_eq(s[15].action, DD_SC_ACT_KILL);
  ck_assert_str_eq(s[15].proc.proc, "relay");
  ck_assert_int_eq(s[15].proc.signal, SIGTERM);
  ck_assert_int_eq(s[16].action, DD_SC_ACT_RESTART);
  ck_assert_str_eq(s[16].proc.proc, "ecu.engine");
  ck_assert_uint_eq(s[16].proc.down_us, 2000000);

  ck_assert_int_eq(s[17].control.action, DD_SC_CTL_READ_DIDS);
  ck_assert_uint_eq(s[17].control.ecu_id, 0x7E0);
  ck_assert_ptr_null(s[17].control.ecu);
  ck_assert_uint_eq(s[17].control.n_ids, 2);
  ck_assert_uint_eq(s[17].control.ids[0], 0xF190);
  ck_assert_int_eq(s[18].control.action, DD_SC_CTL_STREAM_PIDS);
  ck_assert_str_eq(s[18].control.terminal, "shop-2");
  ck_assert_double_eq(s[18].control.rate_hz, 5);
  /* io_control: DID, then option byte 0x02 freezeCurrentState (ISO 14229-1 0x2F). */
  ck_assert_int_eq(s[19].control.action, DD_SC_CTL_IO_CONTROL);
  ck_assert_uint_eq(s[19].control.ids[0], 0xF00A);
  ck_assert_uint_eq(s[19].control.n_args, 1);
  ck_assert_uint_eq(s[19].control.args[0], 0x02);
  /* routine: id, then sub-function 0x03 requestRoutineResults and the data bytes. */
  ck_assert_uint_eq(s[20].control.ids[0], 0xFF00);
  ck_assert_uint_eq(s[20].control.n_args, 3);
  ck_assert_uint_eq(s[20].control.args[0], 0x03);
  ck_assert_uint_eq(s[20].control.args[2], 0x02);
  ck_assert_uint_eq(s[21].control.args[0], 0x03); /* softReset */

  ck_assert_int_eq(s[22].action, DD_SC_ACT_PROGRAM);
  ck_assert_str_eq(s[22].program.image, "fw/a.s19");
  ck_assert_str_eq(s[22].program.format, "srec");
  ck_assert_str_eq(s[22].program.target, "engine");
  ck_assert_str_eq(s[22].program.version, "1.0");
  ck_assert_str_eq(s[22].program.package, "pkg-22");
  ck_assert_int_eq(s[22].program.signature, DD_SC_SIGN_BAD);
  ck_assert(!s[22].program.auto_start);
  ck_assert_str_eq(s[23].control.package, "pkg-22");
  ck_assert_str_eq(s[24].mark, "halfway");
  ck_assert_int_eq(s[25].action, DD_SC_ACT_STOP);
  ck_assert_str_eq(s[25].stop_reason, "done");
  /* {step: open}: the scenario.step event named open. */
  ck_assert_str_eq(s[25].when.event.kind, "scenario.step");
  ck_assert_str_eq(s[25].when.event.match[0].field, "name");
  ck_assert_str_eq(s[25].when.event.match[0].v[0].text, "open");
  ck_assert_uint_eq(s[25].when.offset_us, 250000);
  s_free(&r);
}
END_TEST

START_TEST(test_full_expectations) {
  s_res_t r = s_load(s_full);
  s_ok(&r);
  const dd_scenario_t *sc = dd_scenario_list_get(r.list, 0);
  ck_assert_uint_eq(sc->n_expects, 7);
  const dd_sc_expect_t *e = sc->expects;
  ck_assert_int_eq(e[0].kind, DD_SC_EX_EVENT);
  ck_assert_str_eq(e[0].name, "first_device transport.switched -> relay rtt_us in [1000, 500ms]");
  ck_assert_str_eq(e[0].event.kind, "transport.switched");
  ck_assert_str_eq(e[0].event.proc, "first_device");
  ck_assert_uint_eq(e[0].event.n_match, 2);
  ck_assert_int_eq(e[0].event.match[1].op, DD_SC_OP_BETWEEN);
  ck_assert_double_eq(e[0].event.match[1].v[1].num, 500000); /* 500ms in the field's unit, us */
  ck_assert_int_eq(e[0].from.kind, DD_SC_REF_EVENT);
  ck_assert_uint_eq(e[0].from.offset_us, 1000000);
  ck_assert_uint_eq(e[0].not_before_us, 100000);
  ck_assert_uint_eq(e[0].within_us, 2000000);
  ck_assert_uint_eq(e[0].tolerance_us, 10000);
  ck_assert_int_eq(e[0].loc.line, 86);
  ck_assert_int_eq(e[0].loc.col, 5);
  /* at: 5s is not_before and within 5s. */
  ck_assert_uint_eq(e[1].not_before_us, 5000000);
  ck_assert_uint_eq(e[1].within_us, 5000000);
  ck_assert_uint_eq(e[1].event.n_match, 5);
  ck_assert_str_eq(e[1].event.match[0].field, "code");
  ck_assert(e[1].event.match[0].v[0].quoted); /* "007" stays text */
  ck_assert_str_eq(e[1].event.match[0].v[0].text, "007");
  ck_assert_int_eq(e[1].event.match[1].op, DD_SC_OP_IN);
  ck_assert_uint_eq(e[1].event.match[1].n_set, 3);
  ck_assert(e[1].event.match[1].set[2].is_bool);
  ck_assert_int_eq(e[1].event.match[2].op, DD_SC_OP_REGEX);
  ck_assert_int_eq(e[1].event.match[3].op, DD_SC_OP_NE);
  ck_assert_int_eq(e[1].event.match[4].op, DD_SC_OP_LE);
  ck_assert_int_eq(e[2].kind, DD_SC_EX_NEVER);
  ck_assert_str_eq(e[2].name, "never: transport.switched");
  ck_assert_int_eq(e[2].from.kind, DD_SC_REF_START);
  ck_assert_int_eq(e[2].to.kind, DD_SC_REF_EVENT);
  ck_assert_str_eq(e[2].to.event.kind, "session.connected");
  ck_assert_int_eq(e[3].kind, DD_SC_EX_ORDER);
  ck_assert_uint_eq(e[3].n_order, 2);
  ck_assert_str_eq(e[3].order[1].proc, "p");
  ck_assert_uint_eq(e[3].within_us, 10000000);
  ck_assert_str_eq(e[3].name, "order: a.b, p c.d k!=3");
  ck_assert_int_eq(e[4].kind, DD_SC_EX_COUNT);
  ck_assert_uint_eq(e[4].min, 1);
  ck_assert_uint_eq(e[4].max, 3);
  ck_assert_uint_eq(e[4].from.offset_us, 1000000);
  ck_assert_int_eq(e[4].to.kind, DD_SC_REF_END);
  ck_assert_int_eq(e[5].kind, DD_SC_EX_METRIC);
  ck_assert_int_eq(e[5].stat, DD_SC_STAT_PCT);
  ck_assert_double_eq(e[5].pct, 99.9);
  ck_assert_str_eq(e[5].field, "rtt_ms");
  ck_assert_uint_eq(e[5].n_bounds, 2);
  ck_assert_int_eq(e[5].bounds[0].op, DD_SC_OP_LE);
  ck_assert_double_eq(e[5].bounds[0].v[0].num, 1000); /* 1s in milliseconds */
  ck_assert_uint_eq(e[5].event.n_match, 1);           /* phase: up filters the samples */
  ck_assert_str_eq(e[5].name, "metric: p99.9 rtt_ms of transport.rtt phase=up");
  ck_assert_int_eq(e[6].kind, DD_SC_EX_FINAL);
  ck_assert_str_eq(e[6].name, "done");
  s_free(&r);
}
END_TEST

/* ---- defaults, params, matrix ------------------------------------------------------------- */

START_TEST(test_defaults) {
  s_res_t r = s_load("name: minimal\n");
  s_ok(&r);
  const dd_scenario_t *sc = dd_scenario_list_get(r.list, 0);
  ck_assert_uint_eq(sc->seed, 1);
  ck_assert(!sc->seed_given);
  ck_assert_int_eq(sc->clock, DD_SC_CLOCK_REALTIME);
  ck_assert_uint_eq(sc->timeout_us, 600000000);
  ck_assert_str_eq(sc->currency, "CNY");
  ck_assert_ptr_null(sc->vehicle);
  ck_assert_uint_eq(sc->n_steps, 0);
  ck_assert_uint_eq(sc->n_expects, 0);
  ck_assert_uint_eq(sc->n_terminals, 1);
  ck_assert_str_eq(sc->terminals[0].id, "shop-1");
  ck_assert_int_eq(sc->terminals[0].fee_minor, 3000);
  ck_assert_int_eq(sc->bus.kind, DD_SC_BUS_VIRTUAL);
  ck_assert_uint_eq(sc->bus.bitrate, 500000);
  ck_assert_uint_eq(sc->first_device.threshold_us, 150000);
  ck_assert_uint_eq(sc->first_device.hysteresis_us, 30000);
  ck_assert_uint_eq(sc->first_device.hold_us, 5000000);
  ck_assert_uint_eq(sc->first_device.probe_interval_us, 100000);
  ck_assert_int_eq(sc->first_device.fee_limit_minor, -1);
  for (int i = 0; i < DD_SC_P_COUNT; i++)
    ck_assert_int_eq(sc->parties[i].mode, DD_SC_SIM);
  for (int i = 0; i < DD_SC_CHECK_COUNT; i++) {
    ck_assert(sc->checks[i].enabled);
    ck_assert_uint_eq(sc->checks[i].limit[0], 0);
  }
  for (int i = 0; i < DD_SC_L_COUNT; i++)
    ck_assert(!sc->links[i].declared);
  s_free(&r);
}
END_TEST

START_TEST(test_params) {
  s_res_t r = s_load("name: p\n"
                     "params: {d: 250, unit: ms, who: shop-1, t: true, price: \"12.50\"}\n"
                     "links: {direct: {delay: \"${d}${unit}\"}}\n"
                     "terminals: {shop-1: {fee: \"${price}\", accept: \"${t}\"}}\n"
                     "timeline:\n"
                     "  - at: ${d}ms\n"
                     "    mark: m-${who}\n"
                     "description: \"lit-$${x} ${who}\"\n"
                     "expect:\n"
                     "  - event: a.b\n"
                     "    n: ${d}\n"
                     "    s: \"${d}\"\n");
  s_ok(&r);
  const dd_scenario_t *sc = dd_scenario_list_get(r.list, 0);
  ck_assert_uint_eq(sc->links[DD_SC_L_DIRECT].params[0].delay_us, 250000);
  ck_assert_int_eq(sc->terminals[0].fee_minor, 1250);
  ck_assert(sc->terminals[0].accept);
  ck_assert_uint_eq(sc->steps[0].when.offset_us, 250000);
  ck_assert_str_eq(sc->steps[0].mark, "m-shop-1");
  ck_assert_str_eq(sc->description, "lit-${x} shop-1"); /* $${ is a literal ${ */
  /* ${d} alone keeps the param's type (a number); quoting it only protects it. */
  ck_assert(sc->expects[0].event.match[0].v[0].is_int);
  ck_assert_int_eq(sc->expects[0].event.match[0].v[0].i, 250);
  ck_assert(sc->expects[0].event.match[1].v[0].is_int);
  s_free(&r);
  /* The quoted param value "12.50" stays text where text is wanted. */
  r = s_load("name: q\nparams: {v: \"12\"}\nexpect:\n  - event: a.b\n    x: ${v}\n");
  s_ok(&r);
  ck_assert(dd_scenario_list_get(r.list, 0)->expects[0].event.match[0].v[0].quoted);
  s_free(&r);
}
END_TEST

START_TEST(test_param_overrides) {
  const char *yaml = "name: o\nparams: {d: 20}\nmatrix: {loss: [\"1%\", \"2%\"]}\n"
                     "links: {direct: {delay: \"${d}ms\", loss: \"${loss}\"}}\n";
  const char *ov[] = {"d=300", "loss=7%"};
  dd_scenario_opts_t o = {.no_file_checks = true, .overrides = ov, .n_overrides = 2};
  s_res_t r = s_load_opts(yaml, &o);
  s_ok(&r);
  ck_assert_uint_eq(dd_scenario_list_count(r.list), 1); /* the pinned axis does not expand */
  const dd_scenario_t *sc = dd_scenario_list_get(r.list, 0);
  ck_assert_str_eq(sc->name, "o");
  ck_assert_uint_eq(sc->links[DD_SC_L_DIRECT].params[0].delay_us, 300000);
  ck_assert_double_eq_tol(sc->links[DD_SC_L_DIRECT].params[0].loss.p, 0.07, 1e-12);
  s_free(&r);
  const char *bad[] = {"nope=1", "noequals"};
  o.overrides = bad;
  r = s_load_opts(yaml, &o);
  ck_assert_int_eq(r.rc, DD_ESCENARIO);
  ck_assert_uint_eq(dd_sc_diags_count(r.diags), 2);
  ck_assert_int_eq(dd_sc_diags_get(r.diags, 0)->line, 0);
  ck_assert_str_eq(dd_sc_diags_get(r.diags, 0)->msg, "--param nope=1: this scenario has no param or matrix axis 'nope'");
  ck_assert_str_eq(dd_sc_diags_get(r.diags, 1)->msg, "--param noequals: write NAME=VALUE");
  s_free(&r);
}
END_TEST

START_TEST(test_matrix) {
  s_res_t r = s_load("name: mx\n"
                     "params: {base: 10}\n"
                     "matrix:\n"
                     "  loss: [\"0%\", \"1%\", \"5%\"]\n"
                     "  who: [a/b, a_b]\n"
                     "links: {direct: {loss: \"${loss}\", delay: \"${base}ms\"}}\n"
                     "timeline:\n"
                     "  - at: 1s\n"
                     "    mark: \"m-${who}\"\n");
  /* a/b is not a valid mark name: every variant with it fails, the message once. */
  ck_assert_int_eq(r.rc, DD_ESCENARIO);
  ck_assert_uint_eq(dd_sc_diags_count(r.diags), 1);
  char t[400];
  s_diag_text(r.diags, 0, t, sizeof t);
  ck_assert_str_eq(t, "9:11: timeline[0].mark: \"m-a/b\" is not a valid mark name (letters, digits, '_', '-', '.'; at most 100)");
  s_free(&r);

  r = s_load("name: mx\n"
             "params: {base: 10}\n"
             "matrix:\n"
             "  loss: [\"0%\", \"1%\", \"5%\"]\n"
             "  who: [a/b, a_b]\n"
             "links: {direct: {loss: \"${loss}\", delay: \"${base}ms\"}}\n"
             "description: \"${who} ${loss}\"\n");
  s_ok(&r);
  ck_assert_uint_eq(dd_scenario_list_count(r.list), 6);
  static const char *const names[6] = {
      "mx[loss=0%,who=a/b]", "mx[loss=0%,who=a_b]", "mx[loss=1%,who=a/b]",
      "mx[loss=1%,who=a_b]", "mx[loss=5%,who=a/b]", "mx[loss=5%,who=a_b]"};
  static const char *const slugs[6] = {
      "mx.loss=0_.who=a_b", "mx.loss=0_.who=a_b-2", "mx.loss=1_.who=a_b",
      "mx.loss=1_.who=a_b-2", "mx.loss=5_.who=a_b", "mx.loss=5_.who=a_b-2"};
  static const double loss[6] = {0, 0, 0.01, 0.01, 0.05, 0.05};
  for (size_t i = 0; i < 6; i++) {
    const dd_scenario_t *sc = dd_scenario_list_get(r.list, i);
    ck_assert_str_eq(sc->name, names[i]);
    ck_assert_str_eq(sc->slug, slugs[i]);
    ck_assert_str_eq(sc->base_name, "mx");
    ck_assert_double_eq_tol(sc->links[DD_SC_L_DIRECT].params[0].loss.p, loss[i], 1e-12);
    ck_assert_uint_eq(sc->links[DD_SC_L_DIRECT].params[0].delay_us, 10000);
    ck_assert_uint_eq(sc->n_variant, 2);
    ck_assert_str_eq(sc->variant[0].key, "loss");
    ck_assert_str_eq(sc->variant[1].value, i % 2 ? "a_b" : "a/b");
    ck_assert_uint_eq(sc->n_params, 3);
    char desc[40];
    snprintf(desc, sizeof desc, "%s %s", sc->variant[1].value, sc->variant[0].value);
    ck_assert_str_eq(sc->description, desc);
  }
  s_free(&r);
}
END_TEST

/* ---- YAML details ------------------------------------------------------------------------- */

START_TEST(test_yaml_anchors_and_merge) {
  s_res_t r = s_load("name: anchors\n"
                     "x-fast: &fast {delay: 20ms, jitter: 2ms}\n");
  ck_assert_int_eq(r.rc, DD_ESCENARIO); /* unknown top-level key, with the list of valid ones */
  s_free(&r);
  r = s_load("name: anchors\n"
             "links:\n"
             "  direct: &fast {delay: 20ms, jitter: 2ms}\n"
             "  relay: {<<: *fast, delay: 40ms}\n"
             "  service: *fast\n");
  s_ok(&r);
  const dd_scenario_t *sc = dd_scenario_list_get(r.list, 0);
  ck_assert_uint_eq(sc->links[DD_SC_L_RELAY].params[0].delay_us, 40000); /* explicit key wins */
  ck_assert_uint_eq(sc->links[DD_SC_L_RELAY].params[0].jitter_us, 2000);  /* merged */
  ck_assert_uint_eq(sc->links[DD_SC_L_SERVICE].params[1].jitter_us, 2000);
  s_free(&r);
  /* An alias bomb is refused, not expanded. */
  char bomb[2048];
  snprintf(bomb, sizeof bomb,
           "name: bomb\n"
           "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
           "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
           "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
           "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
           "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
           "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
           "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n");
  s_fails1(bomb, "7:7: the file is too large once aliases are expanded");
}
END_TEST

START_TEST(test_yaml_quoted) {
  /* Single-quoted values are read from the source (YAML 1.2, 7.3.2); the expected values were
   * checked against PyYAML 6.0's safe_load. */
  static const struct {
    const char *yaml; /* the description line(s) */
    const char *want; /* its value */
  } v[] = {
      {"description: 'it''s'\n", "it's"},
      {"description: '''''''''''''five'''\n", "''''''five'"},
      {"description: 'a\n  b'\n", "a b"},
      {"description: 'a  \n   b  '\n", "a b  "},
      {"description: 'a\n\n  b'\n", "a\nb"},
      {"description: 'a\n  \n   \n  b'\n", "a\n\nb"},
      {"description: 'a\r\n  b'\r\n", "a b"},
      {"description: ''\n", ""},
      {"description: \"tab\\tand \\u00e9\"\n", "tab\tand \xc3\xa9"},
      {"description: |\n  line 1\n  line 2\n", "line 1\nline 2\n"},
      {"description: >-\n  folded\n  text\n", "folded text"},
  };
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
    char yaml[300];
    snprintf(yaml, sizeof yaml, "name: q\n%s", v[i].yaml);
    s_res_t r = s_load(yaml);
    s_ok(&r);
    ck_assert_str_eq(dd_scenario_list_get(r.list, 0)->description, v[i].want);
    s_free(&r);
  }
}
END_TEST

START_TEST(test_yaml_structure_errors) {
  s_fails1("- a\n- b\n", "1:1: a scenario is a mapping (name: ..., timeline: ..., expect: ...), got a list");
  s_fails1("", "1:1: the file is empty: a scenario is a mapping with at least name:");
  s_fails1("# only a comment\n", "1:1: the file is empty: a scenario is a mapping with at least name:");
  s_fails1("name: k\n[a]: 1\n", "2:1: a key must be a word, not a list");
  s_fails1("name: n\nseed: \"\\0\"\n", "2:7: text contains a NUL character");
  s_fails1("name: n\nseed: 1\x01\n", "2:8: character U+0001 is not allowed in a YAML file");
  s_fails1("name: n\ndescription: caf\xc3\n", "2:17: the file is not UTF-8 text (byte 0x0A)");
  s_fails1("name: n\ndescription: \xff\n", "2:14: the file is not UTF-8 text (byte 0xFF)");
  s_fails1("name: n\ndescription: \xed\xa0\x80\n", "2:14: character U+D800 is not allowed in a YAML file");
  const char *two[] = {"2:7: seed: \"x\" is not a number", "3:8: clock: \"y\" is not a clock (one of: realtime, virtual)"};
  s_fails("name: t\nseed: x\nclock: y\n", two, 2);
}
END_TEST

/* ---- errors written in the tests, beyond the files ---------------------------------------- */

START_TEST(test_errors_inline) {
  s_fails1("name: e\nlinks: {direct: {delay: 20ms}}\ntimeline:\n  - at: 1s\n    link: {direct: {}}\n",
           "5:20: timeline[0].link.direct: this change does nothing (give e.g. delay:, loss:, outage:, restore: true)");
  s_fails1("name: e\nlinks: {direct: {}}\ntimeline:\n  - at: 1s\n    link: {direct: {ramp: 2s}}\n",
           "5:27: timeline[0].link.direct.ramp: a ramp moves the delay; give delay: (the target) too");
  s_fails1("name: e\nlinks: {direct: {loss: 1%, gemodel: {p: 1%}}}\n",
           "2:28: links.direct: give loss: (random loss) or gemodel: (Gilbert-Elliott), not both");
  s_fails1("name: e\nlinks: {relay: {gemodel: {r: 1%}}}\n",
           "2:26: links.relay.gemodel: p (the Good -> Bad probability) is required");
  s_fails1("name: e\nlinks: {direct: {rto: 1s}}\n",
           "2:23: links.direct.rto: only zmq links retransmit (a lost udp datagram stays lost)");
  s_fails1("name: e\nlinks: {direct: {rate: 10mb}}\n",
           "2:24: links.direct.rate: \"10mb\" is not a rate (write e.g. 1mbit, 500kbit or 64kB/s; 0 = unlimited)");
  s_fails1("name: e\nterminals: {shop-1: {fee: 10.005}}\n",
           "2:27: terminals.shop-1.fee: 10.005 has more than two decimals (amounts are in hundredths)");
  s_fails1("name: e\ntimeline:\n  - at: 1s\n    control: {action: read_dtcs, dids: [1]}\n",
           "4:34: timeline[0].control: 'dids' does not apply to action: read_dtcs");
  s_fails1("name: e\ntimeline:\n  - at: 1s\n    control: {action: read_didz}\n",
           "4:23: timeline[0].control.action: \"read_didz\" is not a control action (did you mean 'read_dids'?)");
  s_fails1("name: e\ntimeline:\n  - at: 1s\n    terminal: {request: live_data}\n",
           "4:15: timeline[0].terminal: request: live_data needs pids: [...] (e.g. [0x0C, 0x0D])");
  s_fails1("name: e\ntimeline:\n  - at: 1s\n    terminal: {request: dtcs, pids: [256]}\n",
           "4:31: timeline[0].terminal: 'pids' does not apply to request: dtcs");
  s_fails1("name: e\ntimeline:\n  - at: 1s\n    terminal: {request: live_data, pids: [256]}\n",
           "4:43: timeline[0].terminal.pids[0]: 256 is out of range 0..255");
  s_fails1("name: e\ntimeline:\n  - at: 1s\n    ecu: {target: engine}\n",
           "4:10: timeline[0].ecu: needs a fault (one of: set_dtc, clear_dtc, delay, drop, force_nrc, pending_forever, power_cycle, power_cut_during_flash, speed, clear, engine)");
  s_fails1("name: e\ntimeline:\n  - at: 1s\n    ecu: {target: engine, set_dtc: P0301, clear: true}\n",
           "4:43: timeline[0].ecu: one fault per step: 'set_dtc' and 'clear' are two (split them into two steps)");
  s_fails1("name: e\ntimeline:\n  - at: 1s\n    kill: relya\n",
           "4:11: timeline[0].kill: no process 'relya' (did you mean 'relay'?)");
  s_fails1("name: e\ntimeline:\n  - at: 1s\n    stop: false\n",
           "4:11: timeline[0].stop: false does nothing; remove the step");
  s_fails1("name: e\ntimeline:\n  - at: 1s\n    name: a\n    mark: x\n  - at: 2s\n    name: a\n    mark: y\n",
           "7:11: timeline[1].name: step name 'a' is already used by timeline[0]");
  s_fails1("name: e\ntimeline:\n  - after: {step: opne}\n    mark: x\n  - at: 1s\n    name: open\n    mark: y\n",
           "3:19: timeline[0].after.step: no step is named 'opne' (did you mean 'open'?)");
  s_fails1("name: e\nexpect:\n  - event: a.b\n    at: 1s\n    within: 2s\n",
           "4:5: expect[0]: at: T is short for not_before: T and within: T; give one or the other");
  s_fails1("name: e\nexpect:\n  - event: a.b\n    x: [1, 2]\n",
           "4:8: expect[0].x: a list is not a condition: write {in: [a, b]} for one of several values");
  s_fails1("name: e\nexpect:\n  - event: a.b\n    x: {gt: fast}\n",
           "4:13: expect[0].x.gt: gt needs a number, got \"fast\"");
  s_fails1("name: e\nexpect:\n  - event: a.b\n    x: {between: [5, 1]}\n",
           "4:18: expect[0].x.between: between: [low, high] has low above high");
  s_fails1("name: e\nexpect:\n  - event: a.b\n    x: {lte: 5}\n",
           "4:9: expect[0].x: unknown key 'lte' in a condition (write le)");
  s_fails1("name: e\nexpect:\n  - metric: {event: a.b, field: v, stat: median, lt: 1}\n",
           "3:42: expect[0].metric.stat: \"median\" is not a statistic (write p50)");
  s_fails1("name: e\nexpect:\n  - metric: {event: a.b, field: v, stat: p101, lt: 1}\n",
           "3:42: expect[0].metric.stat: \"p101\" is not a statistic (one of: min, max, mean, sum, first, last, count, pNN)");
  s_fails1("name: e\nexpect:\n  - metric: {event: a.b, field: v, stat: max}\n",
           "3:13: expect[0].metric: needs a bound: lt, le, gt, ge, eq or ne");
  s_fails1("name: e\nexpect:\n  - count: {event: a.b, min: 3, max: 2}\n",
           "3:12: expect[0].count: min is above max");
  s_fails1("name: e\nexpect:\n  - order: [a.b]\n",
           "3:12: expect[0].order: expected a list of at least two events, e.g. [session.opened, session.connected]");
  s_fails1("name: e\nexpect:\n  - event: a.b\n    never: c.d\n",
           "4:5: expect[0]: one expectation per item: 'event' and 'never' are two (split them)");
  s_fails1("name: e\nexpect:\n  - name: x\n",
           "3:5: expect[0]: an expectation starts with one of event:, never:, order:, count:, metric:, final:");
  s_fails1("name: e\nchecks: [{vehicle_records: {lost: -1}}]\n",
           "2:35: checks[0].vehicle_records.lost: -1 is out of range 0..9223372036854775807");
  s_fails1("name: e\nchecks: {process_failures: maybe}\n",
           "2:28: checks.process_failures: \"maybe\" is not a check setting (a count allowed, on, or off)");
  s_fails1("name: e\nparties: {ecus: real, first_device: {endpoint: x}}\n",
           "2:48: parties.first_device.endpoint: endpoint: applies to real parties (add mode: real)");
  s_fails1("name: e\nparties: {bus: {kind: virtual, iface: can1}}\n",
           "2:39: parties.bus.iface: iface: applies to kind: socketcan only");
  s_fails1("name: e\nparties: {bus: {bitrate: 500000, dbitrate: 250000}}\n",
           "2:44: parties.bus.dbitrate: the data-phase rate 250000 is below the nominal rate 500000");
  s_fails1("name: e\ncurrency: yuan\n", "2:11: currency: \"yuan\" is not an ISO 4217 currency code (three capitals, e.g. CNY)");
}
END_TEST

/* ---- the files of tests/scenarios-invalid ------------------------------------------------- */

START_TEST(test_invalid_files) {
  char dir[1024];
  snprintf(dir, sizeof dir, "%s/tests/scenarios-invalid", s_src());
  DIR *d = opendir(dir);
  ck_assert_msg(d != NULL, "cannot open %s", dir);
  struct dirent *de;
  size_t files = 0;
  dd_scenario_opts_t o = {.root = s_src()};
  while ((de = readdir(d)) != NULL) {
    size_t l = strlen(de->d_name);
    if (l < 6 || strcmp(de->d_name + l - 5, ".yaml")) continue;
    char path[1400];
    snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    char line[700], want[16][700];
    size_t n_want = 0;
    while (fgets(line, sizeof line, f) && !strncmp(line, "# expect: ", 10) && n_want < 16) {
      line[strcspn(line, "\n")] = 0;
      snprintf(want[n_want++], sizeof want[0], "%s", line + 10);
    }
    fclose(f);
    ck_assert_msg(n_want > 0, "%s: no \"# expect:\" line first", de->d_name);
    dd_sc_diags_t *diags = dd_sc_diags_new();
    dd_scenario_list_t *list = NULL;
    int rc = dd_scenario_load_file(path, &o, &list, diags);
    ck_assert_msg(rc == DD_ESCENARIO, "%s: loads (rc %d)", de->d_name, rc);
    ck_assert_ptr_null(list);
    size_t n = dd_sc_diags_count(diags);
    if (n != n_want) dd_sc_diags_print(diags, stderr);
    ck_assert_msg(n == n_want, "%s: %zu problems reported, %zu expected", de->d_name, n, n_want);
    for (size_t i = 0; i < n; i++) {
      char got[700];
      s_diag_text(diags, i, got, sizeof got);
      ck_assert_msg(!strcmp(got, want[i]), "%s:\n  expected %s\n  got      %s", de->d_name, want[i], got);
      ck_assert_str_eq(dd_sc_diags_get(diags, i)->file, path);
    }
    dd_sc_diags_destroy(&diags);
    files++;
  }
  closedir(d);
  ck_assert_uint_ge(files, 40);
}
END_TEST

START_TEST(test_missing_file) {
  dd_sc_diags_t *diags = dd_sc_diags_new();
  dd_scenario_list_t *list = (dd_scenario_list_t *)1;
  ck_assert_int_eq(dd_scenario_load_file("/nonexistent/x.yaml", NULL, &list, diags), DD_ESCENARIO);
  ck_assert_ptr_null(list);
  ck_assert_uint_eq(dd_sc_diags_count(diags), 1);
  ck_assert_int_eq(dd_sc_diags_get(diags, 0)->line, 0);
  ck_assert_str_eq(dd_sc_diags_get(diags, 0)->msg, "No such file or directory");
  /* Printing: FILE: message when there is no line. */
  char *buf = NULL;
  size_t len = 0;
  FILE *m = open_memstream(&buf, &len);
  dd_sc_diags_print(diags, m);
  fclose(m);
  ck_assert_str_eq(buf, "/nonexistent/x.yaml: No such file or directory\n");
  free(buf);
  dd_sc_diags_destroy(&diags);
  /* Without diagnostics wanted. */
  ck_assert_int_eq(dd_scenario_load_file("/nonexistent/x.yaml", NULL, &list, NULL), DD_ESCENARIO);
  ck_assert_int_eq(dd_scenario_load_mem("x", "name: [", 7, NULL, &list, NULL), DD_ESCENARIO);
}
END_TEST

/* Writes text to path. */
static void s_write(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  ck_assert_ptr_nonnull(f);
  fputs(text, f);
  fclose(f);
}

START_TEST(test_file_checks) {
  char dir[] = "/tmp/check_scenario_XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(dir));
  char scen[300], veh[300], path[400], car[400], fw[400];
  snprintf(scen, sizeof scen, "%s/scen", dir);
  snprintf(veh, sizeof veh, "%s/veh", dir);
  ck_assert_int_eq(mkdir(scen, 0700), 0);
  ck_assert_int_eq(mkdir(veh, 0700), 0);
  snprintf(path, sizeof path, "%s/s.yaml", scen);
  snprintf(car, sizeof car, "%s/car.yaml", veh);
  snprintf(fw, sizeof fw, "%s/fw.hex", scen);
  s_write(car, "name: car\n");
  s_write(fw, ":00000001FF\n");
  /* The image next to the scenario, the vehicle under the root. */
  s_write(path, "name: files\nvehicle: veh/car.yaml\ntimeline:\n  - at: 1s\n    program: {image: fw.hex, target: engine}\n");
  dd_scenario_opts_t o = {.root = dir};
  dd_scenario_list_t *list = NULL;
  dd_sc_diags_t *diags = dd_sc_diags_new();
  int rc = dd_scenario_load_file(path, &o, &list, diags);
  dd_sc_diags_print(diags, stderr);
  ck_assert_int_eq(rc, 0);
  const dd_scenario_t *sc = dd_scenario_list_get(list, 0);
  char want[500];
  snprintf(want, sizeof want, "%s/veh/car.yaml", dir);
  ck_assert_str_eq(sc->vehicle_path, want);
  ck_assert_str_eq(sc->steps[0].program.image_path, fw);
  ck_assert_str_eq(sc->steps[0].program.format, "ihex");
  ck_assert_str_eq(sc->dir, scen);
  dd_scenario_list_destroy(&list);
  /* Under another root the vehicle is not found: one problem, at the value. */
  o.root = "/nonexistent";
  ck_assert_int_eq(dd_scenario_load_file(path, &o, &list, diags), DD_ESCENARIO);
  ck_assert_uint_eq(dd_sc_diags_count(diags), 1);
  char t[600];
  s_diag_text(diags, 0, t, sizeof t);
  ck_assert_str_eq(t, "2:10: vehicle: vehicle file 'veh/car.yaml' not found (looked next to the scenario and under the repository root; duodiag validate --root DIR sets the root)");
  /* ... unless file checks are off. */
  dd_sc_diags_clear(diags);
  o.no_file_checks = true;
  ck_assert_int_eq(dd_scenario_load_file(path, &o, &list, diags), 0);
  ck_assert_ptr_null(dd_scenario_list_get(list, 0)->vehicle_path);
  dd_scenario_list_destroy(&list);
  unlink(car);
  unlink(fw);
  unlink(path);
  rmdir(veh);
  rmdir(scen);
  rmdir(dir);
  dd_sc_diags_destroy(&diags);
}
END_TEST

/* ---- examples ----------------------------------------------------------------------------- */

START_TEST(test_examples) {
  static const char *const files[] = {"latency-spike.yaml", "remote-reflash.yaml",
                                      "control-and-payment.yaml", "lossy-network-matrix.yaml"};
  static const size_t variants[] = {1, 2, 1, 2};
  /* The vehicle file they name belongs to ecu_models/; file checks are off here. */
  dd_scenario_opts_t o = {.root = s_src(), .no_file_checks = true};
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
    char path[1024];
    snprintf(path, sizeof path, "%s/scenarios/examples/%s", s_src(), files[i]);
    dd_sc_diags_t *diags = dd_sc_diags_new();
    dd_scenario_list_t *list = NULL;
    int rc = dd_scenario_load_file(path, &o, &list, diags);
    dd_sc_diags_print(diags, stderr);
    ck_assert_msg(rc == 0, "%s does not load", files[i]);
    ck_assert_uint_eq(dd_scenario_list_count(list), variants[i]);
    const dd_scenario_t *sc = dd_scenario_list_get(list, 0);
    bool example = false;
    for (size_t t = 0; t < sc->n_tags; t++)
      if (!strcmp(sc->tags[t], "example")) example = true;
    ck_assert_msg(example, "%s lacks the example tag", files[i]);
    ck_assert_uint_gt(sc->n_steps, 3);
    ck_assert_uint_gt(sc->n_expects, 2);
    for (size_t s = 0; s < sc->n_steps; s++) {
      char *j = dd_sc_step_json(sc, &sc->steps[s]);
      ck_assert_ptr_nonnull(j);
      json_error_t je;
      json_t *o2 = json_loads(j, 0, &je);
      ck_assert_ptr_nonnull(o2);
      json_decref(o2);
      free(j);
    }
    dd_scenario_list_destroy(&list);
    dd_sc_diags_destroy(&diags);
  }
}
END_TEST

/* ---- link commands against the link process's parser -------------------------------------- */

static void s_same_params(const dd_netem_params_t *a, const dd_netem_params_t *b) {
  ck_assert_uint_eq(a->delay_us, b->delay_us);
  ck_assert_uint_eq(a->jitter_us, b->jitter_us);
  ck_assert_int_eq(a->dist, b->dist);
  ck_assert_double_eq_tol(a->delay_corr, b->delay_corr, 1e-9);
  ck_assert_uint_eq(a->rate, b->rate);
  ck_assert_int_eq(a->loss.model, b->loss.model);
  ck_assert_double_eq_tol(a->loss.p, b->loss.p, 1e-9);
  ck_assert_double_eq_tol(a->loss.corr, b->loss.corr, 1e-9);
  ck_assert_double_eq_tol(a->loss.ge_p, b->loss.ge_p, 1e-9);
  ck_assert_double_eq_tol(a->loss.ge_r, b->loss.ge_r, 1e-9);
  ck_assert_double_eq_tol(a->loss.ge_1h, b->loss.ge_1h, 1e-9);
  ck_assert_double_eq_tol(a->loss.ge_1k, b->loss.ge_1k, 1e-9);
  ck_assert_double_eq_tol(a->dup, b->dup, 1e-9);
  ck_assert_double_eq_tol(a->corrupt, b->corrupt, 1e-9);
  ck_assert_double_eq_tol(a->reorder, b->reorder, 1e-9);
  ck_assert_uint_eq(a->reorder_gap, b->reorder_gap);
  ck_assert_uint_eq(a->rto_us, b->rto_us);
  ck_assert_uint_eq(a->ramp_us, b->ramp_us);
}

/* One op sent as JSON to dd_link_cmd_parse gives the same command the model holds. */
static void s_check_op(const dd_sc_link_op_t *op, dd_sc_link_kind_t kind) {
  char *json = dd_sc_link_op_json(op);
  ck_assert_ptr_nonnull(json);
  dd_link_cmd_t cmd;
  char err[DD_LINK_ERR_MAX];
  int rc = dd_link_cmd_parse(dd_sc_link_op_name(op->op), json, strlen(json), &cmd, err, sizeof err);
  ck_assert_msg(rc == 0, "%s %s: %s", dd_sc_link_op_name(op->op), json, err);
  ck_assert_uint_eq(cmd.dirs, op->dirs);
  switch (op->op) {
  case DD_SC_LOP_SET: {
    dd_netem_params_t a, b;
    dd_netem_params_init(&a);
    dd_netem_params_init(&b);
    dd_netem_kind_t nk = kind == DD_SC_LINK_UDP ? DD_NETEM_DATAGRAM : DD_NETEM_STREAM;
    ck_assert_int_eq(dd_link_cmd_apply(&cmd, nk, &a, err, sizeof err), 0);
    dd_sc_netem_apply(&op->set, &b);
    s_same_params(&a, &b);
    break;
  }
  case DD_SC_LOP_RAMP:
    ck_assert_uint_eq(cmd.ramp_to_us, op->ramp_to_us);
    ck_assert_uint_eq(cmd.ramp_us, op->ramp_us);
    break;
  case DD_SC_LOP_OUTAGE:
    ck_assert_uint_eq(cmd.outage_us, op->outage_us == DD_SC_NONE ? DD_NETEM_NEVER : op->outage_us);
    break;
  default:
    break;
  }
  free(json);
}

START_TEST(test_link_commands_roundtrip) {
  s_res_t r = s_load(s_full);
  s_ok(&r);
  const dd_scenario_t *sc = dd_scenario_list_get(r.list, 0);
  size_t checked = 0;
  for (int l = 0; l < DD_SC_L_COUNT; l++) {
    for (size_t i = 0; i < sc->links[l].n_init; i++, checked++) {
      s_check_op(&sc->links[l].init[i], sc->links[l].kind);
      /* Applying the initial commands to a clean link gives the model's start parameters. */
      dd_netem_params_t p;
      dd_netem_params_init(&p);
      dd_sc_netem_apply(&sc->links[l].init[i].set, &p);
      s_same_params(&p, &sc->links[l].params[sc->links[l].init[i].dirs == DD_SC_DOWN ? 1 : 0]);
    }
  }
  for (size_t s = 0; s < sc->n_steps; s++) {
    if (sc->steps[s].action != DD_SC_ACT_LINK) continue;
    for (size_t c = 0; c < sc->steps[s].link.n_changes; c++) {
      const dd_sc_link_change_t *ch = &sc->steps[s].link.changes[c];
      for (size_t i = 0; i < ch->n_ops; i++, checked++)
        s_check_op(&ch->ops[i], sc->links[ch->link].kind);
    }
  }
  ck_assert_uint_eq(checked, 3 + 7);
  /* Exact text of a few. */
  char *j = dd_sc_link_op_json(&sc->steps[2].link.changes[0].ops[1]);
  ck_assert_str_eq(j, "{\"delay_ms_to\":250.0,\"dir\":\"both\",\"over_s\":5.0}");
  free(j);
  j = dd_sc_link_op_json(&sc->steps[3].link.changes[0].ops[0]);
  ck_assert_str_eq(j, "{\"dir\":\"both\"}"); /* an open-ended outage has no for_s */
  free(j);
  j = dd_sc_link_op_json(&sc->links[DD_SC_L_RELAY].init[0]);
  ck_assert_str_eq(j, "{\"delay_ms\":40.0,\"dir\":\"both\",\"gemodel\":{\"h\":0.0,\"k\":100.0,\"p\":1.0,\"r\":30.0},\"rto_ms\":300.0}");
  free(j);
  s_free(&r);
}
END_TEST

/* ---- step JSON and names ------------------------------------------------------------------ */

START_TEST(test_step_json) {
  s_res_t r = s_load(s_full);
  s_ok(&r);
  const dd_scenario_t *sc = dd_scenario_list_get(r.list, 0);
  static const struct {
    size_t step;      /* index */
    const char *json; /* exact text */
  } v[] = {
      {0, "{\"accept\":true,\"amount_minor\":1000,\"currency\":\"EUR\",\"fee_minor\":1234,\"media\":\"video\",\"pay\":true,\"terminal\":\"shop-2\"}"},
      {5, "{\"dtc\":196895,\"dtc_text\":\"P0301-1F\",\"ecu\":\"engine\",\"fault\":\"set_dtc\",\"status\":9}"},
      {9, "{\"count\":2,\"ecu\":\"engine\",\"fault\":\"force_nrc\",\"nrc\":53,\"service\":39}"},
      {15, "{\"proc\":\"relay\",\"signal\":15}"},
      {16, "{\"down_us\":2000000,\"proc\":\"ecu.engine\"}"},
      {20, "{\"action\":\"routine\",\"args\":\"030102\",\"ecu_id\":0,\"ids\":[65280],\"rate_hz\":0.0,\"terminal\":\"shop-1\"}"},
      {22, "{\"format\":\"srec\",\"image\":\"fw/a.s19\",\"package\":\"pkg-22\",\"signature\":\"bad\",\"start\":\"on_control\",\"target\":\"engine\",\"version\":\"1.0\"}"},
      {24, "{\"mark\":\"halfway\"}"},
      {25, "{\"reason\":\"done\"}"},
  };
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
    char *j = dd_sc_step_json(sc, &sc->steps[v[i].step]);
    ck_assert_ptr_nonnull(j);
    ck_assert_str_eq(j, v[i].json);
    free(j);
  }
  char *j = dd_sc_step_json(sc, &sc->steps[4]);
  ck_assert_str_eq(j, "{\"links\":[{\"link\":\"relay\",\"ops\":[{\"args\":{\"dir\":\"both\"},\"op\":\"restore\"}]}]}");
  free(j);
  char d[200];
  dd_sc_pattern_describe(&sc->expects[1].event, d, sizeof d);
  ck_assert_str_eq(d, "x.y code=\"007\" after in {a, 1, true} name~/^v[0-9]+/ n!=3 n<=10");
  s_free(&r);
}
END_TEST

START_TEST(test_engine_step) {
  /* ecu: {engine: off|on}: a vehicle action like speed (no target); its JSON for the step */
  s_res_t r = s_load("name: e\ntimeline:\n  - at: 1s\n    ecu: {engine: off}\n"
                     "  - at: 2s\n    ecu: {engine: on}\n");
  s_ok(&r);
  const dd_scenario_t *sc = dd_scenario_list_get(r.list, 0);
  ck_assert_int_eq(sc->steps[0].fault.kind, DD_SC_FAULT_ENGINE);
  ck_assert_ptr_null(sc->steps[0].fault.ecu);
  ck_assert(!sc->steps[0].fault.engine_on);
  ck_assert(sc->steps[1].fault.engine_on);
  char *j = dd_sc_step_json(sc, &sc->steps[0]);
  ck_assert_str_eq(j, "{\"engine\":\"off\",\"fault\":\"engine\"}");
  free(j);
  ck_assert_str_eq(dd_sc_fault_name(DD_SC_FAULT_ENGINE), "engine");
  s_free(&r);
  r = s_load("name: e\ntimeline:\n  - at: 1s\n    ecu: {engine: idle}\n");
  ck_assert_int_eq(r.rc, DD_ESCENARIO);
  s_free(&r);
}
END_TEST

START_TEST(test_program_hw_part) {
  /* program: hw_part: a package for other hardware (default: the target's own, not in JSON) */
  s_res_t r = s_load("name: e\ntimeline:\n  - at: 1s\n"
                     "    program: {image: a.hex, target: engine, hw_part: \"84512399ZZ\"}\n"
                     "  - at: 2s\n    program: {image: a.hex, target: engine}\n");
  s_ok(&r);
  const dd_scenario_t *sc = dd_scenario_list_get(r.list, 0);
  ck_assert_str_eq(sc->steps[0].program.hw_part, "84512399ZZ");
  ck_assert_ptr_null(sc->steps[1].program.hw_part);
  char *j = dd_sc_step_json(sc, &sc->steps[0]);
  ck_assert_ptr_nonnull(strstr(j, "\"hw_part\":\"84512399ZZ\""));
  free(j);
  j = dd_sc_step_json(sc, &sc->steps[1]);
  ck_assert_ptr_null(strstr(j, "hw_part"));
  free(j);
  s_free(&r);
}
END_TEST

START_TEST(test_names) {
  ck_assert_str_eq(dd_sc_party_name(DD_SC_P_SECOND), "second");
  ck_assert_str_eq(dd_sc_party_name(DD_SC_P_COUNT), "?");
  ck_assert_str_eq(dd_sc_link_name(DD_SC_L_RELAY_SERVICE), "relay_service");
  ck_assert_str_eq(dd_sc_action_name(DD_SC_ACT_TERMINAL), "terminal");
  ck_assert_str_eq(dd_sc_fault_name(DD_SC_FAULT_POWER_CUT_FLASH), "power_cut_during_flash");
  ck_assert_str_eq(dd_sc_request_name(DD_SC_REQ_VIN_INFO), "vin_info");
  ck_assert_str_eq(dd_sc_control_name(DD_SC_CTL_START_REFLASH), "start_reflash");
  ck_assert_str_eq(dd_sc_expect_kind_name(DD_SC_EX_FINAL), "final");
  ck_assert_str_eq(dd_sc_stat_name(DD_SC_STAT_PCT), "p");
  ck_assert_str_eq(dd_sc_op_name(DD_SC_OP_REGEX), "regex");
  ck_assert_str_eq(dd_sc_check_name(DD_SC_CHECK_DOUBLE_CHARGE), "double_charge");
  ck_assert_str_eq(dd_sc_link_op_name(DD_SC_LOP_RESTORE), "restore");
}
END_TEST

START_TEST(test_dtc_codes) {
  /* SAE J2012 examples: 01 33 -> P0133, C1 00 -> U0100; B is 10, C is 01. */
  static const struct {
    const char *text; /* DTC */
    uint32_t dtc;     /* 3-byte value */
  } v[] = {{"P0133", 0x013300}, {"U0100", 0xC10000}, {"C1678-9A", 0x56789A}, {"B3FFF", 0xBFFF00},
           {"p0301", 0x030100}};
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
    char yaml[200];
    snprintf(yaml, sizeof yaml, "name: d\ntimeline:\n  - at: 1s\n    ecu: {target: engine, set_dtc: %s}\n", v[i].text);
    s_res_t r = s_load(yaml);
    s_ok(&r);
    ck_assert_uint_eq(dd_scenario_list_get(r.list, 0)->steps[0].fault.dtc, v[i].dtc);
    s_free(&r);
  }
  s_fails1("name: d\ntimeline:\n  - at: 1s\n    ecu: {target: engine, set_dtc: P4301}\n",
           "4:36: timeline[0].ecu.set_dtc: \"P4301\" is not a DTC (write e.g. P0301, or P0301-1F with a failure type byte)");
}
END_TEST

static Suite *s_suite(void) {
  Suite *s = suite_create("scenario");
  TCase *tc = tcase_create("duration");
  tcase_add_test(tc, test_duration_valid);
  tcase_add_test(tc, test_duration_errors);
  tcase_add_test(tc, test_duration_format);
  suite_add_tcase(s, tc);
  tc = tcase_create("model");
  tcase_add_test(tc, test_full_top_and_parties);
  tcase_add_test(tc, test_full_links);
  tcase_add_test(tc, test_full_steps);
  tcase_add_test(tc, test_full_expectations);
  tcase_add_test(tc, test_defaults);
  tcase_add_test(tc, test_params);
  tcase_add_test(tc, test_param_overrides);
  tcase_add_test(tc, test_matrix);
  tcase_add_test(tc, test_dtc_codes);
  suite_add_tcase(s, tc);
  tc = tcase_create("yaml");
  tcase_add_test(tc, test_yaml_anchors_and_merge);
  tcase_add_test(tc, test_yaml_quoted);
  tcase_add_test(tc, test_yaml_structure_errors);
  suite_add_tcase(s, tc);
  tc = tcase_create("errors");
  tcase_add_test(tc, test_errors_inline);
  tcase_add_test(tc, test_invalid_files);
  tcase_add_test(tc, test_missing_file);
  tcase_add_test(tc, test_file_checks);
  suite_add_tcase(s, tc);
  tc = tcase_create("output");
  tcase_add_test(tc, test_examples);
  tcase_add_test(tc, test_link_commands_roundtrip);
  tcase_add_test(tc, test_step_json);
  tcase_add_test(tc, test_engine_step);
  tcase_add_test(tc, test_program_hw_part);
  tcase_add_test(tc, test_names);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(s_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
