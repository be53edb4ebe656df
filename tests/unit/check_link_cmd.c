/* check_link_cmd: the netem link command language: every key of every action with its unit
 * conversion, partial updates onto the parameters in force, the exact error texts (key, value,
 * valid range) and the "did you mean" suggestions, and the JSON form of parameters read back as
 * a command. Expected values are worked out by hand from the units in docs/NETEM.md
 * (1 ms = 1000 us, 1 kbit/s = 125 bytes/s, percent / 100 = probability). */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_err.h"
#include "dd_link_cmd.h"

static char s_err[DD_LINK_ERR_MAX];

static dd_link_cmd_t s_ok(const char *action, const char *json) {
  dd_link_cmd_t c;
  int rc = dd_link_cmd_parse(action, json, json ? strlen(json) : 0, &c, s_err, sizeof s_err);
  ck_assert_msg(rc == 0, "%s %s: %s", action, json ? json : "", s_err);
  return c;
}

/* Parse must fail with exactly this message. */
static void s_fails(const char *action, const char *json, const char *msg) {
  dd_link_cmd_t c;
  int rc = dd_link_cmd_parse(action, json, json ? strlen(json) : 0, &c, s_err, sizeof s_err);
  ck_assert_int_eq(rc, DD_EINVAL);
  ck_assert_str_eq(s_err, msg);
}

/* Apply a set onto p for kind; returns the code, message in s_err. */
static int s_apply(const char *json, dd_netem_kind_t kind, dd_netem_params_t *p) {
  dd_link_cmd_t c = s_ok("set", json);
  s_err[0] = 0;
  return dd_link_cmd_apply(&c, kind, p, s_err, sizeof s_err);
}

#define EPS 1e-12

START_TEST(test_every_set_key) {
  dd_link_cmd_t c =
      s_ok("set", "{\"dir\":\"up\",\"delay_ms\":12.5,\"jitter_ms\":2,\"dist\":\"pareto\","
                  "\"corr_pct\":25,\"rate_kbit\":8,\"loss_pct\":1.5,\"loss_corr_pct\":10,"
                  "\"dup_pct\":3,\"corrupt_pct\":4,\"reorder_pct\":5,\"gap\":7,"
                  "\"rto_ms\":50}");
  ck_assert_int_eq(c.action, DD_LINK_CMD_SET);
  ck_assert_uint_eq(c.dirs, DD_LINK_UP);
  ck_assert_uint_eq(c.keys, DD_LINK_K_DELAY | DD_LINK_K_JITTER | DD_LINK_K_DIST | DD_LINK_K_CORR |
                                DD_LINK_K_RATE | DD_LINK_K_LOSS | DD_LINK_K_LOSS_CORR |
                                DD_LINK_K_DUP | DD_LINK_K_CORRUPT | DD_LINK_K_REORDER |
                                DD_LINK_K_GAP | DD_LINK_K_RTO);
  ck_assert_uint_eq(c.delay_us, 12500);
  ck_assert_uint_eq(c.jitter_us, 2000);
  ck_assert_int_eq(c.dist, DD_NETEM_DIST_PARETO);
  ck_assert_double_eq_tol(c.corr, 0.25, EPS);
  ck_assert_uint_eq(c.rate, 1000); /* 8 kbit/s = 8000 bit/s = 1000 bytes/s */
  ck_assert_double_eq_tol(c.loss, 0.015, EPS);
  ck_assert_double_eq_tol(c.loss_corr, 0.10, EPS);
  ck_assert_double_eq_tol(c.dup, 0.03, EPS);
  ck_assert_double_eq_tol(c.corrupt, 0.04, EPS);
  ck_assert_double_eq_tol(c.reorder, 0.05, EPS);
  ck_assert_uint_eq(c.gap, 7);
  ck_assert_uint_eq(c.rto_us, 50000);

  c = s_ok("set", "{\"gemodel\":{\"p\":1,\"r\":25,\"h\":10,\"k\":99}}");
  ck_assert_uint_eq(c.keys, DD_LINK_K_GEMODEL);
  ck_assert_uint_eq(c.ge_keys, DD_LINK_GE_P | DD_LINK_GE_R | DD_LINK_GE_H | DD_LINK_GE_K);
  ck_assert_double_eq_tol(c.ge_p, 0.01, EPS);
  ck_assert_double_eq_tol(c.ge_r, 0.25, EPS);
  ck_assert_double_eq_tol(c.ge_h, 0.10, EPS);
  ck_assert_double_eq_tol(c.ge_k, 0.99, EPS);
  ck_assert_uint_eq(c.dirs, DD_LINK_BOTH); /* default */

  const char *dists[] = {"uniform", "normal", "pareto", "paretonormal"};
  const dd_netem_dist_t want[] = {DD_NETEM_DIST_UNIFORM, DD_NETEM_DIST_NORMAL, DD_NETEM_DIST_PARETO,
                                  DD_NETEM_DIST_PARETONORMAL};
  for (int i = 0; i < 4; i++) {
    char j[64];
    snprintf(j, sizeof j, "{\"dist\":\"%s\",\"dir\":\"down\"}", dists[i]);
    c = s_ok("set", j);
    ck_assert_int_eq(c.dist, want[i]);
    ck_assert_uint_eq(c.dirs, DD_LINK_DOWN);
  }
  /* Limits are inclusive; integers and reals alike. */
  c = s_ok("set",
           "{\"delay_ms\":3600000,\"loss_pct\":100,\"rate_kbit\":8000000000,\"gap\":4294967295}");
  ck_assert_uint_eq(c.delay_us, 3600000000ull);
  ck_assert_uint_eq(c.rate, 1000000000000ull);
  ck_assert_uint_eq(c.gap, 4294967295u);
  c = s_ok("set", "{\"delay_ms\":0.0004,\"rate_kbit\":0}"); /* rounds to 0 us; 0 = unlimited */
  ck_assert_uint_eq(c.delay_us, 0);
  ck_assert_uint_eq(c.rate, 0);
  c = s_ok("set", "{\"gap\":5.0}");
  ck_assert_uint_eq(c.gap, 5);
}
END_TEST

START_TEST(test_other_actions) {
  dd_link_cmd_t c = s_ok("ramp", "{\"dir\":\"down\",\"delay_ms_to\":200,\"over_s\":2.5}");
  ck_assert_int_eq(c.action, DD_LINK_CMD_RAMP);
  ck_assert_uint_eq(c.dirs, DD_LINK_DOWN);
  ck_assert_uint_eq(c.ramp_to_us, 200000);
  ck_assert_uint_eq(c.ramp_us, 2500000);
  c = s_ok("outage", "{\"for_s\":0.25}");
  ck_assert_int_eq(c.action, DD_LINK_CMD_OUTAGE);
  ck_assert_uint_eq(c.outage_us, 250000);
  c = s_ok("outage", NULL);
  ck_assert_uint_eq(c.outage_us, DD_NETEM_NEVER); /* until restored */
  c = s_ok("outage", " \n\t ");                   /* blanks = no arguments */
  ck_assert_uint_eq(c.outage_us, DD_NETEM_NEVER);
  ck_assert_uint_eq(c.dirs, DD_LINK_BOTH);
  c = s_ok("restore", "{\"dir\":\"up\"}");
  ck_assert_int_eq(c.action, DD_LINK_CMD_RESTORE);
  ck_assert_uint_eq(c.dirs, DD_LINK_UP);
  ck_assert_int_eq(s_ok("counters", "").action, DD_LINK_CMD_COUNTERS);
  ck_assert_int_eq(s_ok("get", "{}").action, DD_LINK_CMD_GET);
  ck_assert_int_eq(s_ok("reset", "{\"dir\":\"both\"}").action, DD_LINK_CMD_RESET);
  ck_assert_str_eq(dd_link_action_name(DD_LINK_CMD_OUTAGE), "outage");
  ck_assert_str_eq(dd_link_dir_name(DD_LINK_DOWN), "down");
  ck_assert_str_eq(dd_link_dir_name(DD_LINK_BOTH), "both");
}
END_TEST

START_TEST(test_range_and_type_errors) {
  s_fails("set", "{\"loss_pct\":140}", "loss_pct: 140 is out of range 0..100");
  s_fails("set", "{\"loss_pct\":-0.5}", "loss_pct: -0.5 is out of range 0..100");
  s_fails("set", "{\"delay_ms\":3600000.5}", "delay_ms: 3600000.5 is out of range 0..3600000");
  s_fails("set", "{\"jitter_ms\":-1}", "jitter_ms: -1 is out of range 0..3600000");
  s_fails("set", "{\"corr_pct\":101}", "corr_pct: 101 is out of range 0..100");
  s_fails("set", "{\"rate_kbit\":9e9}", "rate_kbit: 9000000000 is out of range 0..8000000000");
  s_fails("set", "{\"rate_kbit\":0.001}",
          "rate_kbit: 0.001 is below the smallest rate 0.008 (1 byte/s); 0 means unlimited");
  s_fails("set", "{\"dup_pct\":100.01}", "dup_pct: 100.01 is out of range 0..100");
  s_fails("set", "{\"corrupt_pct\":200}", "corrupt_pct: 200 is out of range 0..100");
  s_fails("set", "{\"reorder_pct\":-3}", "reorder_pct: -3 is out of range 0..100");
  s_fails("set", "{\"loss_corr_pct\":1000}", "loss_corr_pct: 1000 is out of range 0..100");
  s_fails("set", "{\"gap\":2.5}", "gap: 2.5 is not a whole number (0..4294967295)");
  s_fails("set", "{\"gap\":4294967296}", "gap: 4294967296 is out of range 0..4294967295");
  s_fails("set", "{\"rto_ms\":0}",
          "rto_ms: 0 is out of range: give more than 0 and at most 3600000");
  s_fails("set", "{\"delay_ms\":\"10\"}", "delay_ms: expected a number, got a string");
  s_fails("set", "{\"delay_ms\":true}", "delay_ms: expected a number, got true");
  s_fails("set", "{\"delay_ms\":null}", "delay_ms: expected a number, got null");
  s_fails("set", "{\"dist\":3}", "dist: expected a string, got a whole number");
  s_fails("set", "{\"gemodel\":[1,2]}",
          "gemodel: expected an object {\"p\":..,\"r\":..,\"h\":..,\"k\":..}, got an array");
  s_fails("set", "{\"gemodel\":{\"p\":150}}", "gemodel.p: 150 is out of range 0..100");
  s_fails("set", "{\"gemodel\":{\"q\":1}}",
          "gemodel: unknown key \"q\" (valid keys: p, r, h, k, in percent)");
  s_fails("set", "{\"gemodel\":{}}", "gemodel: give at least one of p, r, h, k");
  s_fails("ramp", "{\"delay_ms_to\":10,\"over_s\":86401}",
          "over_s: 86401 is out of range 0..86400");
  s_fails("ramp", "{\"delay_ms_to\":10}",
          "ramp: over_s is required (ramp wants delay_ms_to and over_s)");
  s_fails("ramp", "{\"over_s\":1}",
          "ramp: delay_ms_to is required (ramp wants delay_ms_to and over_s)");
  s_fails("outage", "{\"for_s\":0}",
          "for_s: 0 is out of range: give more than 0 and at most 86400");
  s_fails("outage", "{\"for_s\":1e-9}", "for_s: 1e-09 is below the resolution of 1 us");
}
END_TEST

START_TEST(test_structure_errors) {
  s_fails("set", "{}",
          "set: give at least one parameter (delay_ms, jitter_ms, dist, corr_pct, rate_kbit, "
          "loss_pct, loss_corr_pct, gemodel, dup_pct, corrupt_pct, reorder_pct, gap, rto_ms)");
  s_fails("set", "{\"dir\":\"up\"}",
          "set: give at least one parameter (delay_ms, jitter_ms, dist, corr_pct, rate_kbit, "
          "loss_pct, loss_corr_pct, gemodel, dup_pct, corrupt_pct, reorder_pct, gap, rto_ms)");
  s_fails("set", "[1]", "set: arguments must be a JSON object, got an array");
  s_fails("set", "{\"delay_ms\":1,\"delay_ms\":2}",
          "set: invalid JSON at line 1, column 24: duplicate object key near '\"delay_ms\"'");
  s_fails("set", "{\"delay_ms\":1",
          "set: invalid JSON at line 1, column 13: '}' expected near end of file");
  s_fails("set", "{\"loss_pct\":1,\"gemodel\":{\"p\":1}}",
          "loss_pct and gemodel both given: loss_pct sets random loss, gemodel the "
          "Gilbert-Elliott model; give one");
  s_fails("set", "{\"loss_corr_pct\":1,\"gemodel\":{\"p\":1}}",
          "loss_corr_pct and gemodel both given: loss_corr_pct sets random loss, gemodel the "
          "Gilbert-Elliott model; give one");
  /* A control byte in a key is not echoed raw. */
  s_fails("get", "{\"a\\u0001b\":1}", "unknown key \"a?b\" for get (valid keys: dir)");
}
END_TEST

START_TEST(test_suggestions) {
  s_fails("set", "{\"dealy_ms\":5}",
          "unknown key \"dealy_ms\" for set (did you mean \"delay_ms\"?)");
  s_fails("set", "{\"loss\":5}", "unknown key \"loss\" for set (did you mean \"loss_pct\"?)");
  s_fails("set", "{\"loss_percent\":5}",
          "unknown key \"loss_percent\" for set (did you mean \"loss_pct\"?)");
  s_fails("set", "{\"Jitter-ms\":5}",
          "unknown key \"Jitter-ms\" for set (did you mean \"jitter_ms\"?)");
  s_fails("set", "{\"banana\":5}",
          "unknown key \"banana\" for set (valid keys: dir, delay_ms, jitter_ms, dist, corr_pct, "
          "rate_kbit, loss_pct, loss_corr_pct, gemodel, dup_pct, corrupt_pct, reorder_pct, gap, "
          "rto_ms)");
  s_fails("set", "{\"for_s\":5}", "\"for_s\" is a key of outage, not of set");
  s_fails("set", "{\"delay_ms_to\":5}", "\"delay_ms_to\" is a key of ramp, not of set");
  s_fails("ramp", "{\"delay_ms\":5,\"over_s\":1}", "\"delay_ms\" is a key of set, not of ramp");
  s_fails("outage", "{\"for\":5}", "unknown key \"for\" for outage (did you mean \"for_s\"?)");
  s_fails("set", "{\"dir\":\"upp\",\"delay_ms\":1}",
          "dir: \"upp\" is not a direction (up, down, both); did you mean \"up\"?");
  s_fails("set", "{\"dir\":\"sideways\",\"delay_ms\":1}",
          "dir: \"sideways\" is not a direction (up, down, both)");
  s_fails("set", "{\"dist\":\"pareto-normal\"}",
          "dist: \"pareto-normal\" is not a distribution (uniform, normal, pareto, paretonormal); "
          "did you mean \"paretonormal\"?");
  s_fails("set", "{\"dist\":\"gauss\"}",
          "dist: \"gauss\" is not a distribution (uniform, normal, pareto, paretonormal)");
  s_fails("sett", "{}",
          "unknown action \"sett\" (did you mean \"set\"?); actions: set, ramp, outage, restore, "
          "counters, get, reset");
  s_fails(
      "blackhole", NULL,
      "unknown action \"blackhole\"; actions: set, ramp, outage, restore, counters, get, reset");
  s_fails("", NULL,
          "unknown action \"\"; actions: set, ramp, outage, restore, counters, get, reset");
  s_fails(NULL, NULL,
          "unknown action \"\"; actions: set, ramp, outage, restore, counters, get, reset");

  const char *words[] = {"delay_ms", "jitter_ms", "gap"};
  ck_assert_str_eq(dd_link_cmd_nearest("gpa", words, 3), "gap"); /* transposition = 1 */
  ck_assert_str_eq(dd_link_cmd_nearest("DELAY_MS", words, 3), "delay_ms");
  ck_assert_ptr_null(dd_link_cmd_nearest("x", words, 3));
  ck_assert_ptr_null(dd_link_cmd_nearest("", words, 3));
  ck_assert_ptr_null(dd_link_cmd_nearest("zzzzzzzzzz", words, 3));
  ck_assert_str_eq(dd_link_cmd_nearest("jitter", words, 3), "jitter_ms"); /* a prefix */
  ck_assert_ptr_null(dd_link_cmd_nearest("ji", words, 3));      /* too short to count as a prefix */
  ck_assert_str_eq(dd_link_cmd_nearest("ga", words, 3), "gap"); /* one insertion */
}
END_TEST

START_TEST(test_partial_updates) {
  dd_netem_params_t p, before;
  dd_netem_params_init(&p);
  ck_assert_int_eq(
      s_apply("{\"delay_ms\":40,\"jitter_ms\":4,\"loss_pct\":2}", DD_NETEM_DATAGRAM, &p), 0);
  ck_assert_uint_eq(p.delay_us, 40000);
  ck_assert_uint_eq(p.jitter_us, 4000);
  ck_assert_int_eq(p.loss.model, DD_NETEM_LOSS_RANDOM);
  ck_assert_double_eq_tol(p.loss.p, 0.02, EPS);
  /* Only the given keys change. */
  ck_assert_int_eq(s_apply("{\"delay_ms\":10}", DD_NETEM_DATAGRAM, &p), 0);
  ck_assert_uint_eq(p.delay_us, 10000);
  ck_assert_uint_eq(p.jitter_us, 4000);
  ck_assert_double_eq_tol(p.loss.p, 0.02, EPS);
  /* loss_corr_pct alone keeps p; loss_pct alone keeps the correlation. */
  ck_assert_int_eq(s_apply("{\"loss_corr_pct\":30}", DD_NETEM_DATAGRAM, &p), 0);
  ck_assert_double_eq_tol(p.loss.p, 0.02, EPS);
  ck_assert_double_eq_tol(p.loss.corr, 0.30, EPS);
  ck_assert_int_eq(s_apply("{\"loss_pct\":4}", DD_NETEM_DATAGRAM, &p), 0);
  ck_assert_double_eq_tol(p.loss.p, 0.04, EPS);
  ck_assert_double_eq_tol(p.loss.corr, 0.30, EPS);
  /* To gemodel with p alone: tc's defaults r = 1 - p, 1-h = 1, 1-k = 0. */
  ck_assert_int_eq(s_apply("{\"gemodel\":{\"p\":2}}", DD_NETEM_DATAGRAM, &p), 0);
  ck_assert_int_eq(p.loss.model, DD_NETEM_LOSS_GEMODEL);
  ck_assert_double_eq_tol(p.loss.ge_p, 0.02, EPS);
  ck_assert_double_eq_tol(p.loss.ge_r, 0.98, EPS);
  ck_assert_double_eq_tol(p.loss.ge_1h, 1.0, EPS);
  ck_assert_double_eq_tol(p.loss.ge_1k, 0.0, EPS);
  ck_assert_uint_eq(p.delay_us, 10000);
  /* Within gemodel, the other sub-keys keep their values; h and k are delivery chances. */
  ck_assert_int_eq(s_apply("{\"gemodel\":{\"r\":25,\"h\":20}}", DD_NETEM_DATAGRAM, &p), 0);
  ck_assert_double_eq_tol(p.loss.ge_p, 0.02, EPS);
  ck_assert_double_eq_tol(p.loss.ge_r, 0.25, EPS);
  ck_assert_double_eq_tol(p.loss.ge_1h, 0.80, EPS);
  ck_assert_double_eq_tol(p.loss.ge_1k, 0.0, EPS);
  ck_assert_int_eq(s_apply("{\"gemodel\":{\"k\":99}}", DD_NETEM_DATAGRAM, &p), 0);
  ck_assert_double_eq_tol(p.loss.ge_1k, 0.01, EPS);
  ck_assert_double_eq_tol(p.loss.ge_r, 0.25, EPS);
  /* Errors leave the parameters as they were. */
  before = p;
  ck_assert_int_eq(s_apply("{\"loss_corr_pct\":5}", DD_NETEM_DATAGRAM, &p), DD_EINVAL);
  ck_assert_str_eq(s_err, "loss_corr_pct: correlates random loss, but the loss model is gemodel; "
                          "give loss_pct too");
  ck_assert_mem_eq(&p, &before, sizeof p);
  /* loss_pct leaves gemodel for random loss (correlation 0: there was none). */
  ck_assert_int_eq(s_apply("{\"loss_pct\":0}", DD_NETEM_DATAGRAM, &p), 0);
  ck_assert_int_eq(p.loss.model, DD_NETEM_LOSS_RANDOM);
  ck_assert_double_eq_tol(p.loss.corr, 0.0, EPS);
  /* From random, gemodel needs p. */
  ck_assert_int_eq(s_apply("{\"gemodel\":{\"r\":50}}", DD_NETEM_DATAGRAM, &p), DD_EINVAL);
  ck_assert_str_eq(s_err, "gemodel: p is needed to switch to the Gilbert-Elliott model (the loss "
                          "model is random)");
  /* A new delay ends a ramp. */
  p.ramp_to_us = 90000;
  p.ramp_us = 1000000;
  ck_assert_int_eq(s_apply("{\"delay_ms\":20}", DD_NETEM_DATAGRAM, &p), 0);
  ck_assert_uint_eq(p.ramp_us, 0);
  ck_assert_uint_eq(p.delay_us, 20000);
  /* rto_ms above the cap raises the cap with it. */
  ck_assert_int_eq(s_apply("{\"rto_ms\":120000}", DD_NETEM_STREAM, &p), 0);
  ck_assert_uint_eq(p.rto_us, 120000000ull);
  ck_assert_uint_eq(p.rto_max_us, 120000000ull);
  ck_assert_int_eq(dd_netem_params_check(&p), 0);
  /* Everything else in one go. */
  ck_assert_int_eq(s_apply("{\"dist\":\"uniform\",\"corr_pct\":50,\"rate_kbit\":1000,\"dup_pct\":1,"
                           "\"corrupt_pct\":2,\"reorder_pct\":3,\"gap\":4}",
                           DD_NETEM_DATAGRAM, &p),
                   0);
  ck_assert_int_eq(p.dist, DD_NETEM_DIST_UNIFORM);
  ck_assert_double_eq_tol(p.delay_corr, 0.5, EPS);
  ck_assert_uint_eq(p.rate, 125000);
  ck_assert_double_eq_tol(p.dup, 0.01, EPS);
  ck_assert_double_eq_tol(p.corrupt, 0.02, EPS);
  ck_assert_double_eq_tol(p.reorder, 0.03, EPS);
  ck_assert_uint_eq(p.reorder_gap, 4);
}
END_TEST

START_TEST(test_stream_refuses_datagram_impairments) {
  dd_netem_params_t p;
  dd_netem_params_init(&p);
  ck_assert_int_eq(s_apply("{\"dup_pct\":1}", DD_NETEM_STREAM, &p), DD_EINVAL);
  ck_assert_str_eq(s_err, "dup_pct: a zmq link never duplicates a message (ZeroMQ over TCP "
                          "delivers each once); use a udp link, or 0");
  ck_assert_int_eq(s_apply("{\"corrupt_pct\":1}", DD_NETEM_STREAM, &p), DD_EINVAL);
  ck_assert_str_eq(s_err, "corrupt_pct: a zmq link never corrupts a message (TCP checks and "
                          "retransmits); use a udp link, or 0");
  ck_assert_int_eq(s_apply("{\"reorder_pct\":1}", DD_NETEM_STREAM, &p), DD_EINVAL);
  ck_assert_str_eq(s_err, "reorder_pct: a zmq link never reorders messages (one TCP stream); use "
                          "a udp link, or 0");
  /* Zero is fine (clearing), and loss is fine: it becomes retransmission delay. */
  ck_assert_int_eq(s_apply("{\"dup_pct\":0,\"corrupt_pct\":0,\"reorder_pct\":0,\"loss_pct\":5}",
                           DD_NETEM_STREAM, &p),
                   0);
  ck_assert_double_eq_tol(p.loss.p, 0.05, EPS);
  /* Only set changes parameters. */
  dd_link_cmd_t c = s_ok("restore", NULL);
  ck_assert_int_eq(dd_link_cmd_apply(&c, DD_NETEM_STREAM, &p, s_err, sizeof s_err), DD_EINVAL);
}
END_TEST

START_TEST(test_params_json_round_trip) {
  dd_netem_params_t p, q;
  dd_netem_params_init(&p);
  ck_assert_int_eq(s_apply("{\"delay_ms\":12.345,\"jitter_ms\":1.5,\"dist\":\"paretonormal\","
                           "\"corr_pct\":20,\"rate_kbit\":64,\"gemodel\":{\"p\":1.3,\"r\":25,"
                           "\"h\":5,\"k\":99.5},\"dup_pct\":0.5,\"corrupt_pct\":0.25,"
                           "\"reorder_pct\":10,\"gap\":3,\"rto_ms\":250}",
                           DD_NETEM_DATAGRAM, &p),
                   0);
  char *json = dd_link_params_json(&p);
  ck_assert_ptr_nonnull(json);
  ck_assert_ptr_nonnull(strstr(json, "\"delay_ms\":12.345"));
  ck_assert_ptr_nonnull(strstr(json, "\"rate_kbit\":64"));
  ck_assert_ptr_nonnull(strstr(json, "\"gemodel\":{\"p\":1.3,\"r\":25"));
  dd_netem_params_init(&q);
  ck_assert_int_eq(s_apply(json, DD_NETEM_DATAGRAM, &q), 0);
  free(json);
  ck_assert_uint_eq(q.delay_us, p.delay_us);
  ck_assert_uint_eq(q.jitter_us, p.jitter_us);
  ck_assert_int_eq(q.dist, p.dist);
  ck_assert_double_eq_tol(q.delay_corr, p.delay_corr, EPS);
  ck_assert_uint_eq(q.rate, p.rate);
  ck_assert_int_eq(q.loss.model, DD_NETEM_LOSS_GEMODEL);
  ck_assert_double_eq_tol(q.loss.ge_p, p.loss.ge_p, EPS);
  ck_assert_double_eq_tol(q.loss.ge_r, p.loss.ge_r, EPS);
  ck_assert_double_eq_tol(q.loss.ge_1h, p.loss.ge_1h, EPS);
  ck_assert_double_eq_tol(q.loss.ge_1k, p.loss.ge_1k, EPS);
  ck_assert_double_eq_tol(q.dup, p.dup, EPS);
  ck_assert_double_eq_tol(q.corrupt, p.corrupt, EPS);
  ck_assert_double_eq_tol(q.reorder, p.reorder, EPS);
  ck_assert_uint_eq(q.reorder_gap, p.reorder_gap);
  ck_assert_uint_eq(q.rto_us, p.rto_us);
  /* Random loss comes back as loss_pct with its correlation. */
  dd_netem_params_init(&p);
  ck_assert_int_eq(s_apply("{\"loss_pct\":7,\"loss_corr_pct\":25}", DD_NETEM_STREAM, &p), 0);
  json = dd_link_params_json(&p);
  ck_assert_ptr_nonnull(strstr(json, "\"loss_pct\":7,\"loss_corr_pct\":25"));
  free(json);
}
END_TEST

int main(void) {
  Suite *s = suite_create("link_cmd");
  TCase *tc = tcase_create("commands");
  tcase_add_test(tc, test_every_set_key);
  tcase_add_test(tc, test_other_actions);
  tcase_add_test(tc, test_range_and_type_errors);
  tcase_add_test(tc, test_structure_errors);
  tcase_add_test(tc, test_suggestions);
  tcase_add_test(tc, test_partial_updates);
  tcase_add_test(tc, test_stream_refuses_datagram_impairments);
  tcase_add_test(tc, test_params_json_round_trip);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
