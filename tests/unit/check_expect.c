/* check_expect: the expectation engine (harness/dd_expect) on synthetic event sequences: each
 * expectation kind with each verdict, the exact timing boundaries (an event exactly at a
 * deadline passes, one microsecond later fails; one exactly at not_before passes, one
 * microsecond earlier is too early), event references, field conditions, the background checks
 * (vehicle records with gaps, duplicates and reordering; unpaid control; ECUs without a valid
 * application; double charges; process failures), callbacks, timeline fields and JUnit XML.
 *
 * Expected texts and numbers are worked out by hand from the rules in dd_expect.h; the
 * percentile is the nearest-rank one (the smallest sample with at least p % of the samples at
 * or below it), so p99 of 1..100 is 99 and p50 is 50. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_err.h"
#include "dd_expect.h"
#include "dd_scenario.h"

#define S(x) ((uint64_t)((x) * 1000000.0 + 0.5)) /* seconds to microseconds */

/* ---- fixture ------------------------------------------------------------------------------ */

typedef struct {
  dd_scenario_list_t *list;    /* the scenario */
  dd_expect_t *ex;             /* the engine */
  size_t calls;                /* callbacks so far */
  size_t called[32];           /* callbacks per result index */
} s_fix_t;

static void s_cb(void *arg, const dd_expect_result_t *r) {
  s_fix_t *f = arg;
  ck_assert_int_ne(r->state, DD_EXP_PENDING);
  f->calls++;
  if (r->index < 32) f->called[r->index]++;
}

/* The engine for yaml (checks off unless the yaml says otherwise), t0 = 0. */
static void s_setup_checks(s_fix_t *f, const char *yaml, bool checks) {
  memset(f, 0, sizeof *f);
  char buf[8192];
  snprintf(buf, sizeof buf, "%s%s", yaml,
           checks ? "" : "checks: {vehicle_records: off, control_outside_paid_session: off, "
                         "ecu_without_valid_app: off, double_charge: off, process_failures: off}\n");
  dd_sc_diags_t *d = dd_sc_diags_new();
  dd_scenario_opts_t o = {.no_file_checks = true};
  int rc = dd_scenario_load_mem("t.yaml", buf, strlen(buf), &o, &f->list, d);
  if (rc) dd_sc_diags_print(d, stderr);
  ck_assert_int_eq(rc, 0);
  dd_sc_diags_destroy(&d);
  ck_assert_int_eq(dd_expect_new(dd_scenario_list_get(f->list, 0), &f->ex), 0);
  dd_expect_on_result(f->ex, s_cb, f);
  dd_expect_set_t0(f->ex, 0);
}

static void s_setup(s_fix_t *f, const char *yaml) { s_setup_checks(f, yaml, false); }

static void s_teardown(s_fix_t *f) {
  dd_expect_destroy(&f->ex);
  dd_scenario_list_destroy(&f->list);
}

/* Feed {"t_us":t,"proc":proc,"kind":kind,FIELDS}; fields is JSON members text or "". */
static void s_ev(s_fix_t *f, uint64_t t, const char *proc, const char *kind, const char *fields) {
  char line[1024];
  int n = snprintf(line, sizeof line, "{\"t_us\":%llu,\"wall_us\":1,\"proc\":\"%s\",\"kind\":\"%s\"%s%s}",
                   (unsigned long long)t, proc, kind, fields[0] ? "," : "", fields);
  ck_assert_int_eq(dd_expect_feed_json(f->ex, line, (size_t)n), 0);
}

static const dd_expect_result_t *s_r(const s_fix_t *f, size_t i) {
  const dd_expect_result_t *r = dd_expect_result(f->ex, i);
  ck_assert_ptr_nonnull(r);
  return r;
}

static void s_is(const s_fix_t *f, size_t i, dd_exp_state_t st, const char *text) {
  const dd_expect_result_t *r = s_r(f, i);
  ck_assert_msg(r->state == st, "result %zu: %s, expected %s (%s)", i, dd_exp_state_name(r->state),
                dd_exp_state_name(st), r->text);
  if (text) ck_assert_str_eq(r->text, text);
}

/* ---- event: deadlines --------------------------------------------------------------------- */

static const char *const s_within =
    "name: w\nexpect:\n  - event: t.s\n    to: relay\n    after: 10s\n    within: 1s\n";

START_TEST(test_event_at_deadline_passes) {
  s_fix_t f;
  s_setup(&f, s_within);
  s_ev(&f, S(9.5), "fd", "t.s", "\"to\":\"relay\""); /* before the reference: not a candidate */
  s_ev(&f, S(10.5), "fd", "t.s", "\"to\":\"direct\""); /* other value */
  s_is(&f, 0, DD_EXP_PENDING, NULL);
  ck_assert_int_eq(s_r(&f, 0)->deadline_us, S(11));
  ck_assert_int_eq(dd_expect_tick(f.ex, S(11)), 0);
  s_is(&f, 0, DD_EXP_PENDING, NULL);
  s_ev(&f, S(11), "fd", "t.s", "\"to\":\"relay\"");
  s_is(&f, 0, DD_EXP_MATCHED, "PASS t.s -> relay at 11.00 s (deadline 11.00 s)");
  ck_assert_int_eq(s_r(&f, 0)->observed_us, S(11));
  ck_assert_str_eq(s_r(&f, 0)->value, "to=relay");
  ck_assert_str_eq(s_r(&f, 0)->type, "event");
  ck_assert_int_eq(s_r(&f, 0)->loc.line, 3);
  ck_assert_uint_eq(f.calls, 1);
  ck_assert_int_eq(dd_expect_finish(f.ex, S(20)), 0);
  ck_assert(dd_expect_passed(f.ex));
  ck_assert_uint_eq(f.calls, 1);
  s_teardown(&f);
}
END_TEST

START_TEST(test_event_after_deadline_fails) {
  s_fix_t f;
  s_setup(&f, s_within);
  s_ev(&f, S(11) + 1, "fd", "t.s", "\"to\":\"relay\"");
  s_is(&f, 0, DD_EXP_TIMED_OUT,
       "FAIL t.s -> relay: no event within 1.00 s after 10.000000 s (deadline 11.000000 s); first seen "
       "at 11.000001 s");
  ck_assert_int_eq(s_r(&f, 0)->observed_us, S(11) + 1);
  ck_assert_int_eq(s_r(&f, 0)->deadline_us, S(11));
  s_teardown(&f);
}
END_TEST

START_TEST(test_event_deadline_by_tick) {
  s_fix_t f;
  s_setup(&f, s_within);
  ck_assert_int_eq(dd_expect_tick(f.ex, S(11)), 0);
  s_is(&f, 0, DD_EXP_PENDING, NULL);
  ck_assert_int_eq(dd_expect_tick(f.ex, S(11) + 1), 0);
  s_is(&f, 0, DD_EXP_TIMED_OUT, "FAIL t.s -> relay: no event within 1.00 s after 10.00 s (deadline 11.00 s)");
  ck_assert_int_eq(s_r(&f, 0)->observed_us, -1);
  /* Final: a late event changes nothing. */
  s_ev(&f, S(11.2), "fd", "t.s", "\"to\":\"relay\"");
  s_is(&f, 0, DD_EXP_TIMED_OUT, NULL);
  ck_assert_uint_eq(f.calls, 1);
  ck_assert_uint_eq(dd_expect_failed(f.ex), 1);
  s_teardown(&f);
}
END_TEST

START_TEST(test_event_deadline_by_later_event) {
  s_fix_t f;
  s_setup(&f, s_within);
  s_ev(&f, S(11) + 1, "x", "other.event", "");
  s_is(&f, 0, DD_EXP_TIMED_OUT, NULL);
  s_teardown(&f);
}
END_TEST

START_TEST(test_event_grace) {
  s_fix_t f;
  s_setup(&f, s_within);
  dd_expect_set_grace(f.ex, S(0.2));
  ck_assert_int_eq(dd_expect_tick(f.ex, S(11.2)), 0); /* 11.2 - 0.2 = 11.0: not past */
  s_is(&f, 0, DD_EXP_PENDING, NULL);
  s_ev(&f, S(10.99), "fd", "t.s", "\"to\":\"relay\""); /* the collector was late with it */
  s_is(&f, 0, DD_EXP_MATCHED, NULL);
  s_teardown(&f);
  s_setup(&f, s_within);
  dd_expect_set_grace(f.ex, S(0.2));
  ck_assert_int_eq(dd_expect_tick(f.ex, S(11.2) + 1), 0);
  s_is(&f, 0, DD_EXP_TIMED_OUT, NULL);
  s_teardown(&f);
}
END_TEST

START_TEST(test_event_run_ends_first) {
  s_fix_t f;
  s_setup(&f, "name: e\nexpect:\n  - event: x.c\n    within: 10s\n  - event: x.d\n");
  ck_assert_int_eq(dd_expect_finish(f.ex, S(5)), 0);
  s_is(&f, 0, DD_EXP_TIMED_OUT,
       "FAIL x.c: no event within 10.00 s after 0.00 s (deadline 10.00 s); the run ended at 5.00 s");
  s_is(&f, 1, DD_EXP_TIMED_OUT, "FAIL x.d: no event after 0.00 s; the run ended at 5.00 s");
  ck_assert_uint_eq(f.calls, 2);
  ck_assert_int_eq(dd_expect_finish(f.ex, S(6)), DD_EINVAL);
  ck_assert_int_eq(dd_expect_tick(f.ex, S(6)), DD_EINVAL);
  dd_ev_t ev = {.t_us = 1, .kind = "a.b"};
  ck_assert_int_eq(dd_expect_feed(f.ex, &ev), DD_EINVAL);
  s_teardown(&f);
}
END_TEST

/* ---- event: not_before, tolerance, at ----------------------------------------------------- */

static const char *const s_nb = "name: nb\nexpect:\n  - event: t.s\n    to: direct\n    after: 25s\n"
                                "    not_before: 5s\n    within: 7s\n";

START_TEST(test_event_not_before_boundary) {
  s_fix_t f;
  s_setup(&f, s_nb);
  s_ev(&f, S(24), "fd", "t.s", "\"to\":\"direct\""); /* before the reference: ignored */
  s_is(&f, 0, DD_EXP_PENDING, NULL);
  s_ev(&f, S(30), "fd", "t.s", "\"to\":\"direct\"");
  s_is(&f, 0, DD_EXP_MATCHED, "PASS t.s -> direct at 30.00 s (window 30.00 s .. 32.00 s)");
  s_teardown(&f);
  s_setup(&f, s_nb);
  s_ev(&f, S(30) - 1, "fd", "t.s", "\"to\":\"direct\"");
  s_is(&f, 0, DD_EXP_VIOLATED,
       "FAIL t.s -> direct: seen at 29.999999 s, before the window opened at 30.000000 s (after 25.000000 s)");
  ck_assert_int_eq(s_r(&f, 0)->observed_us, S(30) - 1);
  s_teardown(&f);
  s_setup(&f, s_nb);
  ck_assert_int_eq(dd_expect_tick(f.ex, S(32) + 1), 0);
  s_is(&f, 0, DD_EXP_TIMED_OUT, "FAIL t.s -> direct: no event between 30.00 s and 32.00 s (after 25.00 s)");
  s_teardown(&f);
}
END_TEST

START_TEST(test_event_at_tolerance) {
  const char *y = "name: at\nexpect:\n  - event: x.y\n    at: 5s\n    tolerance: 100ms\n";
  s_fix_t f;
  s_setup(&f, y);
  s_ev(&f, S(4.9), "p", "x.y", "");
  s_is(&f, 0, DD_EXP_MATCHED, "PASS x.y at 4.90 s (window 4.90 s .. 5.10 s)");
  s_teardown(&f);
  s_setup(&f, y);
  s_ev(&f, S(4.9) - 1, "p", "x.y", "");
  s_is(&f, 0, DD_EXP_VIOLATED, NULL);
  s_teardown(&f);
  s_setup(&f, y);
  s_ev(&f, S(5.1), "p", "x.y", "");
  s_is(&f, 0, DD_EXP_MATCHED, NULL);
  s_teardown(&f);
  s_setup(&f, y);
  s_ev(&f, S(5.1) + 1, "p", "x.y", "");
  s_is(&f, 0, DD_EXP_TIMED_OUT, NULL);
  s_teardown(&f);
  /* With a time reference, tolerance opens the window before it. */
  s_setup(&f, "name: tol\nexpect:\n  - event: x.y\n    after: 10s\n    within: 1s\n    tolerance: 50ms\n");
  s_ev(&f, S(9.95), "p", "x.y", "");
  s_is(&f, 0, DD_EXP_MATCHED, NULL);
  s_teardown(&f);
}
END_TEST

/* ---- event: references -------------------------------------------------------------------- */

START_TEST(test_event_after_event) {
  s_fix_t f;
  s_setup(&f, "name: ref\nexpect:\n"
              "  - event: x.b\n    after: x.a\n    within: 2s\n"
              "  - event: x.a\n    after: x.a\n    within: 5s\n"
              "  - event: x.c\n    after: {event: x.a, proc: p1, nth: 2, delay: 1s, n: {gt: 5}}\n    within: 1s\n");
  s_ev(&f, S(1), "p1", "x.b", "");             /* before the reference */
  s_ev(&f, S(3), "p1", "x.a", "\"n\":9");      /* reference of 0 and 1; not a candidate for 1 */
  s_is(&f, 1, DD_EXP_PENDING, NULL);
  ck_assert_int_eq(s_r(&f, 0)->deadline_us, S(5));
  s_ev(&f, S(4.5), "p1", "x.b", "");
  s_is(&f, 0, DD_EXP_MATCHED, "PASS x.b at 4.50 s (deadline 5.00 s)");
  s_ev(&f, S(6), "p2", "x.a", "\"n\":9");      /* 2nd x.a, but from p2: not the 2nd for 2 */
  s_is(&f, 1, DD_EXP_MATCHED, "PASS x.a at 6.00 s (deadline 8.00 s)");
  s_ev(&f, S(7), "p1", "x.a", "\"n\":1");      /* n too small */
  s_ev(&f, S(8), "p1", "x.a", "\"n\":6");      /* the 2nd matching: reference at 9 s */
  ck_assert_int_eq(s_r(&f, 2)->deadline_us, S(10));
  s_ev(&f, S(8.5), "p1", "x.c", "");           /* before 9 s: not a candidate */
  s_is(&f, 2, DD_EXP_PENDING, NULL);
  s_ev(&f, S(10), "p1", "x.c", "");
  s_is(&f, 2, DD_EXP_MATCHED, "PASS x.c at 10.00 s (deadline 10.00 s)");
  s_teardown(&f);
}
END_TEST

START_TEST(test_event_reference_never_seen) {
  s_fix_t f;
  s_setup(&f, "name: nr\nexpect:\n  - event: x.b\n    after: x.a + 2s\n    within: 1s\n");
  s_ev(&f, S(100), "p", "x.b", "");
  s_is(&f, 0, DD_EXP_PENDING, NULL);
  ck_assert_int_eq(s_r(&f, 0)->deadline_us, -1);
  ck_assert_int_eq(dd_expect_finish(f.ex, S(200)), 0);
  s_is(&f, 0, DD_EXP_TIMED_OUT, "FAIL x.b: x.a + 2s never happened, so the window never opened");
  s_teardown(&f);
  /* The named step of a {step: NAME} reference is the scenario.step event with that name. */
  s_setup(&f, "name: st\ntimeline:\n  - at: 1s\n    name: go\n    mark: m\nexpect:\n"
              "  - event: x.b\n    after: {step: go}\n    within: 1s\n");
  s_ev(&f, S(1), "harness", "scenario.step", "\"name\":\"other\"");
  s_ev(&f, S(1.5), "harness", "scenario.step", "\"name\":\"go\",\"index\":0");
  s_ev(&f, S(2.5), "p", "x.b", "");
  s_is(&f, 0, DD_EXP_MATCHED, "PASS x.b at 2.50 s (deadline 2.50 s)");
  s_teardown(&f);
}
END_TEST

/* ---- field conditions --------------------------------------------------------------------- */

START_TEST(test_conditions) {
  s_fix_t f;
  s_setup(&f, "name: c\nexpect:\n"
              "  - {event: m.a, s: relay}\n"                      /* 0 */
              "  - {event: m.b, n: 5}\n"                          /* 1 */
              "  - {event: m.c, ok: true}\n"                      /* 2 */
              "  - {event: m.d, v: {gt: 1, le: 3}}\n"             /* 3 */
              "  - {event: m.e, v: {between: [1.5, 2.5]}}\n"      /* 4 */
              "  - {event: m.f, v: {in: [a, 2]}}\n"               /* 5 */
              "  - {event: m.g, code: {regex: \"^P0[0-9]{3}$\"}}\n" /* 6 */
              "  - {event: m.h, rtt_ms: {lt: 150ms}}\n"           /* 7 */
              "  - {event: m.i, x: {ne: 3}}\n"                    /* 8 */
              "  - {event: m.j, proc: p2}\n"                      /* 9 */
              "  - {event: m.k, n: 9007199254740993}\n"           /* 10 */
              "  - {event: m.l, fields: {within: yes}}\n");       /* 11 */
  static const struct {
    const char *kind;   /* event */
    const char *proc;   /* process */
    const char *fields; /* JSON members */
    int matches;        /* the expectation it satisfies, -1: none */
  } evs[] = {
      {"m.a", "p", "\"s\":\"direct\"", -1},     {"m.a", "p", "\"s\":\"relay\"", 0},
      {"m.b", "p", "\"n\":4", -1},              {"m.b", "p", "\"n\":5.0", 1},
      {"m.c", "p", "\"ok\":false", -1},         {"m.c", "p", "\"ok\":true", 2},
      {"m.d", "p", "\"v\":1", -1},              {"m.d", "p", "\"v\":3.5", -1},
      {"m.d", "p", "\"v\":\"3\"", -1},          {"m.d", "p", "\"v\":3", 3},
      {"m.e", "p", "\"v\":2.500001", -1},       {"m.e", "p", "\"v\":2.5", 4},
      {"m.f", "p", "\"v\":\"b\"", -1},          {"m.f", "p", "\"v\":2", 5},
      {"m.g", "p", "\"code\":\"xP0301\"", -1},  {"m.g", "p", "\"code\":\"P0301\"", 6},
      {"m.h", "p", "\"rtt_ms\":150", -1},       {"m.h", "p", "\"rtt_ms\":149.9", 7},
      {"m.i", "p", "\"y\":4", -1},              {"m.i", "p", "\"x\":3", -1},
      {"m.i", "p", "\"x\":4", 8},               {"m.j", "p1", "", -1},
      {"m.j", "p2", "", 9},                     {"m.k", "p", "\"n\":9007199254740992", -1},
      {"m.k", "p", "\"n\":9007199254740993", 10}, {"m.l", "p", "\"within\":\"no\"", -1},
      {"m.l", "p", "\"within\":\"yes\"", 11},
  };
  for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++) {
    s_ev(&f, S(1) + i, evs[i].proc, evs[i].kind, evs[i].fields);
    for (size_t k = 0; k < 12; k++) {
      const dd_expect_result_t *r = s_r(&f, k);
      if ((int)k == evs[i].matches) {
        ck_assert_msg(r->state == DD_EXP_MATCHED && r->observed_us == (int64_t)(S(1) + i),
                      "event %zu should satisfy expectation %zu: %s", i, k, r->text);
      }
    }
    /* Exactly the expectations named so far are matched. */
    size_t matched = 0;
    for (size_t k = 0; k < 12; k++)
      matched += s_r(&f, k)->state == DD_EXP_MATCHED;
    size_t want = 0;
    for (size_t j = 0; j <= i; j++)
      want += evs[j].matches >= 0;
    ck_assert_msg(matched == want, "after event %zu: %zu matched, %zu expected", i, matched, want);
  }
  ck_assert_str_eq(s_r(&f, 7)->value, "rtt_ms=149.9");
  s_teardown(&f);
}
END_TEST

/* ---- never -------------------------------------------------------------------------------- */

START_TEST(test_never) {
  const char *y = "name: n\nexpect:\n  - never: n.x\n    between: [2s, 4s]\n";
  s_fix_t f;
  s_setup(&f, y);
  s_ev(&f, S(2) - 1, "p", "n.x", "");
  s_ev(&f, S(4) + 1, "p", "n.x", "");
  s_is(&f, 0, DD_EXP_MATCHED, "PASS never: n.x (none in window 2.00 s .. 4.00 s)");
  ck_assert_int_eq(s_r(&f, 0)->deadline_us, S(4));
  s_teardown(&f);
  s_setup(&f, y);
  ck_assert_int_eq(dd_expect_tick(f.ex, S(4)), 0);
  s_is(&f, 0, DD_EXP_PENDING, NULL);
  s_ev(&f, S(4), "p", "n.x", "\"to\":\"relay\"");
  s_is(&f, 0, DD_EXP_VIOLATED, "FAIL never: n.x seen at 4.00 s (window 2.00 s .. 4.00 s)");
  ck_assert_int_eq(s_r(&f, 0)->observed_us, S(4));
  s_teardown(&f);
  s_setup(&f, y);
  s_ev(&f, S(2), "p", "n.x", "");
  s_is(&f, 0, DD_EXP_VIOLATED, NULL);
  s_teardown(&f);
  /* Between events, map form, with a field condition. */
  y = "name: n\nexpect:\n  - never: {event: n.x, to: relay, between: [a.open, a.close]}\n";
  s_setup(&f, y);
  s_ev(&f, S(1), "p", "n.x", "\"to\":\"relay\""); /* before the window */
  s_ev(&f, S(2), "p", "a.open", "");
  s_ev(&f, S(3), "p", "n.x", "\"to\":\"direct\"");
  s_ev(&f, S(4), "p", "a.close", "");
  s_ev(&f, S(5), "p", "n.x", "\"to\":\"relay\""); /* after it */
  s_is(&f, 0, DD_EXP_MATCHED, "PASS never: n.x -> relay (none in window a.open at 2.00 s .. a.close at 4.00 s)");
  s_teardown(&f);
  s_setup(&f, y);
  s_ev(&f, S(2), "p", "a.open", "");
  s_ev(&f, S(3), "p", "n.x", "\"to\":\"relay\"");
  s_is(&f, 0, DD_EXP_VIOLATED, "FAIL never: n.x -> relay seen at 3.00 s (window a.open at 2.00 s .. a.close; to=relay)");
  s_teardown(&f);
  /* A window that never opened, and the whole run. */
  s_setup(&f, "name: n\nexpect:\n  - never: n.x\n    between: [a.open, end]\n  - never: n.y\n");
  s_ev(&f, S(1), "p", "n.x", "");
  ck_assert_int_eq(dd_expect_finish(f.ex, S(10)), 0);
  s_is(&f, 0, DD_EXP_MATCHED, "PASS never: n.x (none; the window never opened)");
  s_is(&f, 1, DD_EXP_MATCHED, "PASS never: n.y (none in the whole run)");
  s_teardown(&f);
}
END_TEST

/* ---- order -------------------------------------------------------------------------------- */

static const char *const s_order = "name: o\nexpect:\n  - order: [o.a, o.b, o.c]\n    within: 10s\n";

START_TEST(test_order) {
  s_fix_t f;
  s_setup(&f, s_order);
  s_ev(&f, S(1), "p", "o.a", "");
  s_ev(&f, S(2), "p", "o.b", "");
  s_ev(&f, S(2.5), "p", "o.b", "");
  s_ev(&f, S(2.6), "p", "o.a", "");
  s_is(&f, 0, DD_EXP_PENDING, NULL);
  ck_assert_int_eq(s_r(&f, 0)->deadline_us, S(11));
  s_ev(&f, S(3), "p", "o.c", "");
  s_is(&f, 0, DD_EXP_MATCHED, "PASS order: o.a, o.b, o.c (in order, 1.00 s .. 3.00 s)");
  ck_assert_str_eq(s_r(&f, 0)->value, "3/3");
  s_teardown(&f);

  s_setup(&f, s_order);
  s_ev(&f, S(1), "p", "o.a", "");
  s_ev(&f, S(2), "p", "o.c", "");
  s_is(&f, 0, DD_EXP_VIOLATED, "FAIL order: o.a, o.b, o.c (o.c at 2.00 s came before o.b)");
  s_teardown(&f);

  s_setup(&f, s_order);
  s_ev(&f, S(1), "p", "o.a", "");
  s_ev(&f, S(2), "p", "o.b", "");
  ck_assert_int_eq(dd_expect_finish(f.ex, S(5)), 0);
  s_is(&f, 0, DD_EXP_TIMED_OUT, "FAIL order: o.a, o.b, o.c (o.c never seen; 2 of 3 seen in order)");
  s_teardown(&f);

  s_setup(&f, s_order);
  s_ev(&f, S(1), "p", "o.a", "");
  ck_assert_int_eq(dd_expect_tick(f.ex, S(11)), 0);
  s_is(&f, 0, DD_EXP_PENDING, NULL);
  ck_assert_int_eq(dd_expect_tick(f.ex, S(11) + 1), 0);
  s_is(&f, 0, DD_EXP_TIMED_OUT,
       "FAIL order: o.a, o.b, o.c (o.b not seen within 10.00 s of the first, deadline 11.00 s; 1 of 3 seen in order)");
  s_teardown(&f);

  /* The same kind twice: the first and the second occurrence. */
  s_setup(&f, "name: o\nexpect:\n  - order: [o.a, {event: o.a, n: 2}]\n");
  s_ev(&f, S(1), "p", "o.a", "\"n\":2");
  s_is(&f, 0, DD_EXP_PENDING, NULL);
  s_ev(&f, S(2), "p", "o.a", "\"n\":2");
  s_is(&f, 0, DD_EXP_MATCHED, NULL);
  s_teardown(&f);
}
END_TEST

/* ---- count -------------------------------------------------------------------------------- */

START_TEST(test_count) {
  const char *y = "name: c\nexpect:\n  - count: {event: c.x, min: 2, max: 3, between: [1s, 5s]}\n";
  s_fix_t f;
  s_setup(&f, y);
  s_ev(&f, S(1) - 1, "p", "c.x", "");
  s_ev(&f, S(1), "p", "c.x", "");
  s_ev(&f, S(5), "p", "c.x", "");
  s_ev(&f, S(5) + 1, "p", "c.x", ""); /* outside, and the window is over */
  s_is(&f, 0, DD_EXP_MATCHED, "PASS count: c.x (2 in window 1.00 s .. 5.00 s)");
  ck_assert_str_eq(s_r(&f, 0)->value, "2");
  s_teardown(&f);
  s_setup(&f, y);
  for (int i = 0; i < 4; i++)
    s_ev(&f, S(2 + i * 0.5), "p", "c.x", "");
  s_is(&f, 0, DD_EXP_VIOLATED, "FAIL count: c.x (4 seen by 3.50 s, at most 3 allowed)");
  ck_assert_int_eq(s_r(&f, 0)->observed_us, S(3.5));
  s_teardown(&f);
  s_setup(&f, y);
  s_ev(&f, S(2), "p", "c.x", "");
  ck_assert_int_eq(dd_expect_finish(f.ex, S(3)), 0); /* the run ended inside the window */
  s_is(&f, 0, DD_EXP_TIMED_OUT, "FAIL count: c.x (only 1 in window 1.00 s .. 5.00 s, at least 2 expected)");
  s_teardown(&f);
  /* With no max, reaching min decides at once. */
  s_setup(&f, "name: c\nexpect:\n  - count: {event: c.x, min: 2}\n");
  s_ev(&f, S(1), "p", "c.x", "");
  s_is(&f, 0, DD_EXP_PENDING, NULL);
  s_ev(&f, S(2), "p", "c.x", "");
  s_is(&f, 0, DD_EXP_MATCHED, "PASS count: c.x (2 seen by 2.00 s, at least 2 wanted)");
  s_teardown(&f);
  /* max: 0 is "none". */
  s_setup(&f, "name: c\nexpect:\n  - count: {event: c.x, max: 0}\n");
  ck_assert_int_eq(dd_expect_finish(f.ex, S(3)), 0);
  s_is(&f, 0, DD_EXP_MATCHED, "PASS count: c.x (0 in the whole run)");
  s_teardown(&f);
}
END_TEST

/* ---- metric ------------------------------------------------------------------------------- */

/* A metric expectation over 1..100 fed as m.v{v: i}; the result's value after the run. */
static void s_metric(const char *stat, const char *bound, dd_exp_state_t st, const char *value) {
  char y[300];
  snprintf(y, sizeof y, "name: m\nexpect:\n  - metric: {event: m.v, field: v, stat: %s, %s}\n", stat, bound);
  s_fix_t f;
  s_setup(&f, y);
  for (int i = 1; i <= 100; i++) {
    char fl[32];
    snprintf(fl, sizeof fl, "\"v\":%d", (i * 37) % 100 + 1); /* 1..100, shuffled */
    s_ev(&f, S(i), "p", "m.v", fl);
  }
  s_ev(&f, S(101), "p", "m.v", "\"v\":\"n/a\""); /* not a number: skipped */
  ck_assert_int_eq(dd_expect_finish(f.ex, S(200)), 0);
  const dd_expect_result_t *r = s_r(&f, 0);
  ck_assert_msg(r->state == st, "%s %s: %s", stat, bound, r->text);
  ck_assert_str_eq(r->value, value);
  s_teardown(&f);
}

START_TEST(test_metric_stats) {
  s_metric("p99", "eq: 99", DD_EXP_MATCHED, "99");
  s_metric("p50", "eq: 50", DD_EXP_MATCHED, "50");
  s_metric("p100", "eq: 100", DD_EXP_MATCHED, "100");
  s_metric("p1", "eq: 1", DD_EXP_MATCHED, "1");
  s_metric("p99.9", "eq: 100", DD_EXP_MATCHED, "100");
  s_metric("mean", "eq: 50.5", DD_EXP_MATCHED, "50.5");
  s_metric("sum", "eq: 5050", DD_EXP_MATCHED, "5050");
  s_metric("min", "gt: 0", DD_EXP_MATCHED, "1");
  s_metric("max", "le: 100", DD_EXP_MATCHED, "100");
  s_metric("first", "eq: 38", DD_EXP_MATCHED, "38");
  s_metric("last", "eq: 1", DD_EXP_MATCHED, "1");
  s_metric("count", "eq: 101", DD_EXP_MATCHED, "101"); /* count counts events, numeric or not */
  s_metric("mean", "lt: 50.5", DD_EXP_VIOLATED, "50.5");
  s_metric("p99", "ne: 99", DD_EXP_VIOLATED, "99");
}
END_TEST

START_TEST(test_metric_verdicts) {
  s_fix_t f;
  s_setup(&f, "name: m\nexpect:\n  - metric: {event: t.rtt, field: rtt_us, stat: max, lt: 150ms}\n");
  s_ev(&f, S(1), "p", "t.rtt", "\"rtt_us\":20000");
  s_ev(&f, S(2), "p", "t.rtt", "\"rtt_us\":149999");
  s_is(&f, 0, DD_EXP_PENDING, NULL);
  s_ev(&f, S(3), "p", "t.rtt", "\"rtt_us\":150000"); /* breaks < 150000 for good */
  s_is(&f, 0, DD_EXP_VIOLATED, "FAIL metric: max rtt_us of t.rtt (max = 150000 at 3.00 s, expected < 150ms)");
  s_teardown(&f);
  s_setup(&f, "name: m\nexpect:\n  - metric: {event: t.rtt, field: rtt_us, stat: max, lt: 150ms}\n");
  s_ev(&f, S(1), "p", "t.rtt", "\"rtt_us\":20000");
  ck_assert_int_eq(dd_expect_finish(f.ex, S(2)), 0);
  s_is(&f, 0, DD_EXP_MATCHED, "PASS metric: max rtt_us of t.rtt (max = 20000, within < 150ms, 1 sample)");
  s_teardown(&f);
  s_setup(&f, "name: m\nexpect:\n  - metric: {event: t.rtt, field: rtt_us, stat: mean, gt: 0, between: [10s, 20s]}\n");
  s_ev(&f, S(1), "p", "t.rtt", "\"rtt_us\":5");
  s_ev(&f, S(11), "p", "t.rtt", "\"other\":5");
  ck_assert_int_eq(dd_expect_tick(f.ex, S(20) + 1), 0);
  s_is(&f, 0, DD_EXP_TIMED_OUT,
       "FAIL metric: mean rtt_us of t.rtt (no samples of rtt_us in window 10.00 s .. 20.00 s; the "
       "matching events had no numeric value)");
  s_teardown(&f);
}
END_TEST

/* ---- final -------------------------------------------------------------------------------- */

START_TEST(test_final) {
  const char *y = "name: f\nexpect:\n  - final: {event: f.s, phase: DONE}\n";
  s_fix_t f;
  s_setup(&f, y);
  s_ev(&f, S(1), "p", "f.s", "\"phase\":\"RUN\"");
  s_ev(&f, S(2), "p", "f.s", "\"phase\":\"DONE\"");
  s_ev(&f, S(3), "p", "f.x", "\"phase\":\"FAILED\"");
  s_is(&f, 0, DD_EXP_PENDING, NULL); /* only the end decides */
  ck_assert_int_eq(dd_expect_finish(f.ex, S(4)), 0);
  s_is(&f, 0, DD_EXP_MATCHED, "PASS final: f.s phase=DONE (last at 2.00 s has phase=DONE)");
  ck_assert_int_eq(s_r(&f, 0)->observed_us, S(2));
  s_teardown(&f);
  s_setup(&f, y);
  s_ev(&f, S(2), "p", "f.s", "\"phase\":\"DONE\"");
  s_ev(&f, S(3), "p", "f.s", "\"phase\":\"FAILED\"");
  ck_assert_int_eq(dd_expect_finish(f.ex, S(4)), 0);
  s_is(&f, 0, DD_EXP_VIOLATED, "FAIL final: f.s phase=DONE (last at 3.00 s has phase=FAILED, expected phase=DONE)");
  ck_assert_str_eq(s_r(&f, 0)->value, "phase=FAILED");
  s_teardown(&f);
  s_setup(&f, y);
  ck_assert_int_eq(dd_expect_finish(f.ex, S(4)), 0);
  s_is(&f, 0, DD_EXP_TIMED_OUT, "FAIL final: f.s phase=DONE (no f.s seen in the whole run)");
  s_teardown(&f);
}
END_TEST

/* ---- background checks -------------------------------------------------------------------- */

static void s_sent(s_fix_t *f, uint64_t t, const char *session, int seq) {
  char fl[96];
  snprintf(fl, sizeof fl, "\"session\":\"%s\",\"seq\":%d,\"path\":\"direct\"", session, seq);
  s_ev(f, t, "first_device", "vehicle.record_sent", fl);
}

static void s_delivered(s_fix_t *f, uint64_t t, const char *session, int seq) {
  char fl[96];
  snprintf(fl, sizeof fl, "\"session\":\"%s\",\"seq\":%d", session, seq);
  s_ev(f, t, "service", "vehicle.record_delivered", fl);
}

START_TEST(test_check_records_in_flight_and_lost) {
  s_fix_t f;
  /* A gap below the last delivered record is lost, whatever happens after. */
  s_setup_checks(&f, "name: v\n", true);
  for (int i = 1; i <= 10; i++) s_sent(&f, S(i), "s1", i);
  for (int i = 1; i <= 10; i++)
    if (i != 4) s_delivered(&f, S(11 + i), "s1", i);
  ck_assert_int_eq(dd_expect_finish(f.ex, S(30)), 0);
  s_is(&f, 0, DD_EXP_VIOLATED,
       "FAIL check vehicle_records (10 sent, 9 delivered, 1 lost, 0 duplicated, 0 out of order; lost 1 "
       "> 0, first seq 4)");
  s_teardown(&f);
  /* Delivery that stopped: more records after the last delivered one than can be in flight. */
  s_setup_checks(&f, "name: v\n", true);
  for (int i = 1; i <= 100; i++) s_sent(&f, S(1) + (uint64_t)i * 1000, "s1", i);
  for (int i = 1; i <= 10; i++) s_delivered(&f, S(2) + (uint64_t)i * 1000, "s1", i);
  ck_assert_int_eq(dd_expect_finish(f.ex, S(30)), 0);
  s_is(&f, 0, DD_EXP_VIOLATED,
       "FAIL check vehicle_records (100 sent, 10 delivered, 90 lost, 0 duplicated, 0 out of order; lost "
       "90 > 0, first seq 11)");
  s_teardown(&f);
}
END_TEST

START_TEST(test_check_vehicle_records) {
  s_fix_t f;
  /* Clean: two sessions reuse sequence numbers; retransmissions are sent twice. */
  s_setup_checks(&f, "name: v\n", true);
  ck_assert_uint_eq(dd_expect_count(f.ex), 5);
  for (int i = 1; i <= 5; i++) {
    s_sent(&f, S(i), "s1", i);
    s_sent(&f, S(i), "s2", i);
    s_delivered(&f, S(i) + 10, "s1", i);
    s_delivered(&f, S(i) + 10, "s2", i);
  }
  s_sent(&f, S(6), "s1", 5);
  ck_assert_int_eq(dd_expect_finish(f.ex, S(10)), 0);
  s_is(&f, 0, DD_EXP_MATCHED, "PASS check vehicle_records (10 sent, 10 delivered, 0 lost, 0 duplicated, 0 out of order)");
  ck_assert_str_eq(s_r(&f, 0)->name, "vehicle_records");
  ck_assert_str_eq(s_r(&f, 0)->type, "check");
  ck_assert(dd_expect_passed(f.ex));
  s_teardown(&f);

  /* Gaps, a duplicate and a reordering. */
  s_setup_checks(&f, "name: v\n", true);
  for (int i = 1; i <= 10; i++)
    s_sent(&f, S(i), "s1", i);
  static const int order[] = {1, 2, 3, 5, 4};
  for (size_t i = 0; i < 5; i++)
    s_delivered(&f, S(11 + i), "s1", order[i]);
  s_is(&f, 0, DD_EXP_VIOLATED,
       "FAIL check vehicle_records (10 sent, 5 delivered, 0 lost, 0 duplicated, 1 out of order; out of "
       "order 1 > 0, first seq 4)");
  ck_assert_int_eq(s_r(&f, 0)->observed_us, S(15));
  s_teardown(&f);

  /* With limits that allow them. */
  s_setup_checks(&f, "name: v\nchecks: {vehicle_records: {lost: 2, duplicated: 1, out_of_order: 1}}\n", true);
  for (int i = 1; i <= 10; i++)
    s_sent(&f, S(i), "s1", i);
  static const int got[] = {1, 2, 3, 5, 4, 6, 6, 7, 8};
  for (size_t i = 0; i < 9; i++)
    s_delivered(&f, S(11 + i), "s1", got[i]);
  ck_assert_int_eq(dd_expect_finish(f.ex, S(30)), 0);
  /* 9 and 10 were sent after the last delivered record: in flight when the run ended. */
  s_is(&f, 0, DD_EXP_MATCHED,
       "PASS check vehicle_records (10 sent, 8 delivered, 0 lost, 1 duplicated, 1 out of order, 2 in "
       "flight at the end)");
  ck_assert_str_eq(s_r(&f, 0)->value, "lost=0 duplicated=1 out_of_order=1");
  s_teardown(&f);

  /* One more loss than allowed is decided at the end, naming the first lost one. */
  s_setup_checks(&f, "name: v\nchecks: {vehicle_records: {lost: 1}}\n", true);
  for (int i = 1; i <= 4; i++)
    s_sent(&f, S(i), "s1", i);
  s_delivered(&f, S(5), "s1", 1);
  s_delivered(&f, S(6), "s1", 4);
  s_is(&f, 0, DD_EXP_PENDING, NULL);
  ck_assert_int_eq(dd_expect_finish(f.ex, S(30)), 0);
  s_is(&f, 0, DD_EXP_VIOLATED,
       "FAIL check vehicle_records (4 sent, 2 delivered, 2 lost, 0 duplicated, 0 out of order; lost 2 > 1, first seq 2)");
  s_teardown(&f);
}
END_TEST

START_TEST(test_check_control_unpaid) {
  s_fix_t f;
  s_setup_checks(&f, "name: c\n", true);
  s_ev(&f, S(1), "first_device", "session.paid", "\"session\":\"s1\"");
  s_ev(&f, S(2), "first_device", "control.executed", "\"session\":\"s1\",\"action\":\"read_dtcs\"");
  s_ev(&f, S(3), "first_device", "session.closed", "\"session\":\"s1\"");
  s_is(&f, 1, DD_EXP_PENDING, NULL);
  s_ev(&f, S(4), "first_device", "control.executed", "\"session\":\"s1\",\"action\":\"clear_dtcs\"");
  s_is(&f, 1, DD_EXP_VIOLATED,
       "FAIL check control_outside_paid_session (control actions outside a paid session: 1, limit 0; "
       "first: clear_dtcs at 4.00 s in session s1)");
  s_teardown(&f);
  s_setup_checks(&f, "name: c\nchecks: [control_outside_paid_session: 1]\n", true);
  s_ev(&f, S(4), "first_device", "control.executed", "\"action\":\"ecu_reset\"");
  ck_assert_int_eq(dd_expect_finish(f.ex, S(5)), 0);
  s_is(&f, 1, DD_EXP_MATCHED,
       "PASS check control_outside_paid_session (control actions outside a paid session: 1, limit 1)");
  s_teardown(&f);
}
END_TEST

START_TEST(test_check_ecu_app_charges_failures) {
  s_fix_t f;
  s_setup_checks(&f, "name: e\n", true);
  s_ev(&f, S(1), "ecus", "ecu.app_state", "\"ecu\":\"engine\",\"valid\":false");
  s_ev(&f, S(2), "ecus", "ecu.app_state", "\"ecu\":\"abs\",\"valid\":false");
  s_ev(&f, S(3), "ecus", "ecu.app_state", "\"ecu\":\"engine\",\"valid\":true");
  s_ev(&f, S(4), "cloud", "payment.charged", "\"order\":\"o1\",\"payment_id\":\"p1\"");
  s_ev(&f, S(5), "cloud", "payment.charged", "\"order\":\"o2\",\"payment_id\":\"p2\"");
  s_is(&f, 3, DD_EXP_PENDING, NULL);
  s_ev(&f, S(6), "cloud", "payment.charged", "\"order_id\":\"o1\",\"payment_id\":\"p3\"");
  s_is(&f, 3, DD_EXP_VIOLATED,
       "FAIL check double_charge (orders charged twice: 1, limit 0; first: order o1 charged again at 6.00 s)");
  s_ev(&f, S(7), "relay", "proc.stopped", "\"exit\":0");
  s_is(&f, 4, DD_EXP_PENDING, NULL);
  s_ev(&f, S(8), "relay", "proc.stopped", "\"exit\":1");
  s_is(&f, 4, DD_EXP_VIOLATED,
       "FAIL check process_failures (process failures: 1, limit 0; first: relay exited with 1 at 8.00 s)");
  ck_assert_int_eq(dd_expect_finish(f.ex, S(9)), 0);
  s_is(&f, 2, DD_EXP_VIOLATED,
       "FAIL check ecu_without_valid_app (ECUs without a valid application at the end: 1, limit 0; abs)");
  s_is(&f, 0, DD_EXP_MATCHED, NULL);
  ck_assert_uint_eq(dd_expect_failed(f.ex), 3);
  s_teardown(&f);
  /* Limits, and a crash counted. */
  s_setup_checks(&f, "name: e\nchecks: {ecu_without_valid_app: 1, process_failures: 1, double_charge: off}\n", true);
  ck_assert_uint_eq(dd_expect_count(f.ex), 4);
  s_ev(&f, S(1), "ecus", "ecu.app_state", "\"ecu\":\"engine\",\"valid\":false");
  s_ev(&f, S(2), "harness", "proc.crashed", "\"signal\":11");
  ck_assert_int_eq(dd_expect_finish(f.ex, S(3)), 0);
  ck_assert(dd_expect_passed(f.ex));
  s_is(&f, 3, DD_EXP_MATCHED,
       "PASS check process_failures (process failures: 1, limit 1; first: harness crashed at 2.00 s)");
  s_teardown(&f);
}
END_TEST

/* ---- engine API --------------------------------------------------------------------------- */

START_TEST(test_api) {
  s_fix_t f;
  s_setup_checks(&f, "name: api\nexpect:\n  - event: a.b\n    within: 1s\n    name: \"a <b> & 'c'\"\n  - event: c.d\n", true);
  ck_assert_uint_eq(dd_expect_count(f.ex), 7);
  ck_assert_ptr_null(dd_expect_result(f.ex, 7));
  ck_assert_uint_eq(dd_expect_pending(f.ex), 7);
  ck_assert_int_eq(dd_expect_feed_json(f.ex, "not json", 8), DD_EILSEQ);
  ck_assert_int_eq(dd_expect_feed_json(f.ex, "[1]", 3), DD_EILSEQ);
  ck_assert_int_eq(dd_expect_feed_json(f.ex, "{\"kind\":\"a.b\"}", 14), DD_EILSEQ);
  ck_assert_int_eq(dd_expect_feed_json(f.ex, "{\"t_us\":-1,\"kind\":\"a.b\"}", 25), DD_EILSEQ);
  ck_assert_int_eq(dd_expect_feed_json(f.ex, "{\"t_us\":1,\"kind\":\"a.b\",\"proc\":3}", 32), DD_EILSEQ);
  ck_assert_uint_eq(dd_expect_pending(f.ex), 7);
  s_ev(&f, S(0.5), "p", "a.b", "");
  s_is(&f, 0, DD_EXP_MATCHED, "PASS a <b> & 'c' at 0.50 s (deadline 1.00 s)");
  dd_field_t fl[DD_EXPECT_FIELDS];
  ck_assert_uint_eq(dd_expect_result_fields(s_r(&f, 0), fl, DD_EXPECT_FIELDS), DD_EXPECT_FIELDS);
  ck_assert_str_eq(fl[0].key, "name");
  ck_assert_str_eq(fl[0].s, "a <b> & 'c'");
  ck_assert_str_eq(fl[3].key, "verdict");
  ck_assert_str_eq(fl[3].s, "PASS");
  ck_assert_str_eq(fl[4].s, "matched");
  ck_assert_str_eq(fl[5].key, "observed_us");
  ck_assert_int_eq(fl[5].i, S(0.5));
  ck_assert_int_eq(fl[6].i, S(1));
  ck_assert_str_eq(fl[8].key, "text");
  ck_assert_int_eq(fl[9].i, 3);
  ck_assert_uint_eq(dd_expect_result_fields(s_r(&f, 0), fl, 2), 2);
  ck_assert_int_eq(dd_expect_finish(f.ex, S(2)), 0);
  ck_assert_uint_eq(dd_expect_pending(f.ex), 0);
  ck_assert_uint_eq(f.calls, 7);
  for (size_t i = 0; i < 7; i++)
    ck_assert_uint_eq(f.called[i], 1);
  ck_assert_uint_eq(dd_expect_failed(f.ex), 1);
  ck_assert(!dd_expect_passed(f.ex));
  char *buf = NULL;
  size_t len = 0;
  FILE *m = open_memstream(&buf, &len);
  ck_assert_int_eq(dd_expect_write_junit(f.ex, m, "api & co", 2.5), 0);
  fclose(m);
  ck_assert_ptr_nonnull(strstr(buf, "<testsuites tests=\"7\" failures=\"1\" time=\"2.500\">"));
  ck_assert_ptr_nonnull(strstr(buf, "<testsuite name=\"api &amp; co\" tests=\"7\" failures=\"1\" errors=\"0\" skipped=\"0\""));
  ck_assert_ptr_nonnull(strstr(buf, "name=\"a &lt;b&gt; &amp; &apos;c&apos;\""));
  ck_assert_ptr_nonnull(strstr(buf, "<failure message=\"FAIL c.d: no event after 0.00 s; the run ended at 2.00 s\" type=\"timed_out\">"));
  ck_assert_ptr_nonnull(strstr(buf, "(t.yaml:6:5)</failure>"));
  ck_assert_ptr_nonnull(strstr(buf, "name=\"check vehicle_records\""));
  free(buf);
  ck_assert_str_eq(dd_exp_state_name(DD_EXP_VIOLATED), "violated");
  ck_assert_str_eq(dd_exp_verdict(DD_EXP_TIMED_OUT), "FAIL");
  ck_assert_str_eq(dd_exp_verdict(DD_EXP_PENDING), "PENDING");
  s_teardown(&f);
}
END_TEST

START_TEST(test_t0_and_pending_junit) {
  dd_scenario_list_t *list = NULL;
  const char *y = "name: t\nexpect:\n  - event: a.b\n    after: 2s\n    within: 1s\n";
  ck_assert_int_eq(dd_scenario_load_mem("t.yaml", y, strlen(y), NULL, &list, NULL), 0);
  dd_expect_t *ex;
  ck_assert_int_eq(dd_expect_new(dd_scenario_list_get(list, 0), &ex), 0);
  ck_assert_uint_eq(dd_expect_t0(ex), 0);
  /* t0 comes from the first event: 1000 s on the monotonic clock. */
  dd_ev_t ev = {.t_us = S(1000), .kind = "x.start"};
  ck_assert_int_eq(dd_expect_feed(ex, &ev), 0);
  ck_assert_uint_eq(dd_expect_t0(ex), S(1000));
  ev = (dd_ev_t){.t_us = S(1002.5), .proc = "p", .kind = "a.b"};
  ck_assert_int_eq(dd_expect_feed(ex, &ev), 0);
  ck_assert_str_eq(dd_expect_result(ex, 0)->text, "PASS a.b at 2.50 s (deadline 3.00 s)");
  ck_assert_int_eq(dd_expect_result(ex, 0)->observed_us, S(2.5));
  /* Results not decided yet are skipped test cases. */
  char *buf = NULL;
  size_t len = 0;
  FILE *m = open_memstream(&buf, &len);
  ck_assert_int_eq(dd_expect_junit_suite(ex, m, "t", 0), 0);
  fclose(m);
  ck_assert_ptr_nonnull(strstr(buf, "skipped=\"5\""));
  ck_assert_ptr_nonnull(strstr(buf, "<skipped message=\"not decided (the run did not finish)\"/>"));
  free(buf);
  dd_expect_destroy(&ex);
  ck_assert_ptr_null(ex);
  dd_expect_destroy(&ex);
  dd_scenario_list_destroy(&list);
}
END_TEST

static Suite *s_suite(void) {
  Suite *s = suite_create("expect");
  TCase *tc = tcase_create("event");
  tcase_add_test(tc, test_event_at_deadline_passes);
  tcase_add_test(tc, test_event_after_deadline_fails);
  tcase_add_test(tc, test_event_deadline_by_tick);
  tcase_add_test(tc, test_event_deadline_by_later_event);
  tcase_add_test(tc, test_event_grace);
  tcase_add_test(tc, test_event_run_ends_first);
  tcase_add_test(tc, test_event_not_before_boundary);
  tcase_add_test(tc, test_event_at_tolerance);
  tcase_add_test(tc, test_event_after_event);
  tcase_add_test(tc, test_event_reference_never_seen);
  tcase_add_test(tc, test_conditions);
  suite_add_tcase(s, tc);
  tc = tcase_create("windows");
  tcase_add_test(tc, test_never);
  tcase_add_test(tc, test_order);
  tcase_add_test(tc, test_count);
  tcase_add_test(tc, test_metric_stats);
  tcase_add_test(tc, test_metric_verdicts);
  tcase_add_test(tc, test_final);
  suite_add_tcase(s, tc);
  tc = tcase_create("checks");
  tcase_add_test(tc, test_check_vehicle_records);
  tcase_add_test(tc, test_check_records_in_flight_and_lost);
  tcase_add_test(tc, test_check_control_unpaid);
  tcase_add_test(tc, test_check_ecu_app_charges_failures);
  suite_add_tcase(s, tc);
  tc = tcase_create("api");
  tcase_add_test(tc, test_api);
  tcase_add_test(tc, test_t0_and_pending_junit);
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
