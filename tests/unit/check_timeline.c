/* check_timeline: loading timeline.jsonl into the viewer's model: sorting, lanes, families,
 * numeric series, verdicts, event pairs, and malformed lines counted with their line numbers.
 * The well-formed lines follow the collector's output (dd_collector writes one compact JSON
 * object per line; the first lines below are copied from a run of `duodiag bench isotp`). */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dd_err.h"
#include "dd_timeline.h"

/* A real run's bus lines, as the collector wrote them. */
static const char s_run[] =
    "{\"t_us\":2188185273,\"wall_us\":1795560497859167,\"proc\":\"bus\",\"kind\":\"proc.started\","
    "\"role\":\"bus\",\"pid\":1281,\"seed\":1}\n"
    "{\"t_us\":2188185403,\"wall_us\":1795560497859297,\"proc\":\"bus\",\"kind\":\"can.bus_up\","
    "\"endpoint\":\"ipc:///tmp/demo/classic500k/bus\",\"nominal_bps\":500000,\"data_bps\":500000}\n"
    "{\"t_us\":2188185778,\"wall_us\":1795560497859672,\"proc\":\"bus\",\"kind\":\"proc.ready\","
    "\"role\":\"bus\"}\n"
    "{\"t_us\":2188186078,\"wall_us\":1795560497859972,\"proc\":\"bus\",\"kind\":"
    "\"can.node_attached\",\"node\":\"tester\",\"index\":0,\"fd\":false}\n"
    "{\"t_us\":2188881257,\"wall_us\":1795560498555151,\"proc\":\"bus\",\"kind\":\"proc.stopped\","
    "\"exit\":0}\n"
    "{\"t_us\":2188881263,\"wall_us\":1795560498555158,\"proc\":\"bus\",\"kind\":"
    "\"can.bus_summary\",\"frames\":2935,\"errors\":0,\"dropped\":0,\"bits\":341494,"
    "\"late_p50_us\":25.0,\"late_p99_us\":45.0,\"late_max_us\":1142.0}\n";

static dd_timeline_t *s_load(const char *text, const dd_timeline_opts_t *opts) {
  dd_timeline_t *tl = NULL;
  ck_assert_int_eq(dd_timeline_load_mem(text, strlen(text), opts, &tl), 0);
  ck_assert_ptr_nonnull(tl);
  return tl;
}

static const char *s_kind(const dd_timeline_t *tl, size_t i) {
  return dd_timeline_kind_name(tl, dd_timeline_event(tl, i)->kind);
}

START_TEST(test_real_run_lines) {
  dd_timeline_t *tl = s_load(s_run, NULL);
  ck_assert_uint_eq(dd_timeline_count(tl), 6);
  ck_assert_uint_eq(dd_timeline_malformed(tl), 0);
  ck_assert_uint_eq(dd_timeline_lane_count(tl), 1);
  ck_assert_str_eq(dd_timeline_lane(tl, 0)->name, "bus");
  ck_assert_uint_eq(dd_timeline_lane(tl, 0)->n_events, 6);
  ck_assert_int_eq(dd_timeline_first_us(tl), 2188185273);
  ck_assert_int_eq(dd_timeline_last_us(tl), 2188881263);
  ck_assert_int_eq(dd_timeline_event(tl, 0)->wall_us, 1795560497859167);
  ck_assert_str_eq(s_kind(tl, 3), "can.node_attached");
  ck_assert_uint_eq(dd_timeline_event(tl, 3)->line, 4);
  /* Families: proc and can, in order of appearance. */
  ck_assert_uint_eq(dd_timeline_family_count(tl), 2);
  ck_assert_str_eq(dd_timeline_family_name(tl, dd_timeline_event(tl, 0)->family), "proc");
  ck_assert_str_eq(dd_timeline_family_name(tl, dd_timeline_event(tl, 1)->family), "can");
  /* All fields come back from the line, types intact. */
  json_t *o = dd_timeline_event_object(tl, 5);
  ck_assert_ptr_nonnull(o);
  ck_assert_int_eq(json_integer_value(json_object_get(o, "bits")), 341494);
  ck_assert(json_is_real(json_object_get(o, "late_p99_us")));
  ck_assert(json_real_value(json_object_get(o, "late_max_us")) == 1142.0);
  json_decref(o);
  /* proc.started -> proc.ready and -> proc.stopped: start-up and life spans. */
  ck_assert_uint_eq(dd_timeline_span_count(tl), 2);
  const dd_tl_span_t *life = dd_timeline_span(tl, 0), *start = dd_timeline_span(tl, 1);
  ck_assert_int_eq(life->type, DD_TL_SPAN_PROCESS);
  ck_assert_uint_eq(life->begin, 0);
  ck_assert_uint_eq(life->end, 4);
  ck_assert_int_eq(start->type, DD_TL_SPAN_STARTUP);
  ck_assert_uint_eq(start->end, 2);
  /* No verdicts, no series (no can.busload line). */
  ck_assert_uint_eq(dd_timeline_verdicts(tl, DD_TL_VERDICT_NONE), 6);
  ck_assert_uint_eq(dd_timeline_series_count(tl), 0);
  dd_timeline_destroy(&tl);
  ck_assert_ptr_null(tl);
}
END_TEST

START_TEST(test_sorted_and_lanes_by_first_event) {
  /* File order is not time order; equal times keep file order. */
  const char *text = "{\"t_us\":300,\"proc\":\"b\",\"kind\":\"x.three\"}\n"
                     "{\"t_us\":100,\"proc\":\"a\",\"kind\":\"x.one\"}\n"
                     "{\"t_us\":200,\"proc\":\"b\",\"kind\":\"y.tie1\"}\n"
                     "{\"t_us\":200,\"proc\":\"c\",\"kind\":\"y.tie2\"}\n"
                     "{\"t_us\":50,\"proc\":\"c\",\"kind\":\"nodot\"}\n";
  dd_timeline_t *tl = s_load(text, NULL);
  ck_assert_uint_eq(dd_timeline_count(tl), 5);
  const char *want[] = {"nodot", "x.one", "y.tie1", "y.tie2", "x.three"};
  for (size_t i = 0; i < 5; i++)
    ck_assert_str_eq(s_kind(tl, i), want[i]);
  /* Lanes: c (t=50), a (100), b (200). */
  ck_assert_str_eq(dd_timeline_lane(tl, 0)->name, "c");
  ck_assert_str_eq(dd_timeline_lane(tl, 1)->name, "a");
  ck_assert_str_eq(dd_timeline_lane(tl, 2)->name, "b");
  ck_assert_uint_eq(dd_timeline_event(tl, 4)->lane, 2);
  ck_assert_uint_eq(dd_timeline_event(tl, 0)->lane, 0);
  ck_assert_int_eq(dd_timeline_lane(tl, 2)->first_us, 200);
  ck_assert_int_eq(dd_timeline_lane(tl, 2)->last_us, 300);
  ck_assert_str_eq(dd_timeline_family_name(tl, dd_timeline_event(tl, 0)->family), "nodot");
  ck_assert_uint_eq(dd_timeline_lower_bound(tl, 200), 2);
  ck_assert_uint_eq(dd_timeline_lower_bound(tl, 201), 4);
  ck_assert_uint_eq(dd_timeline_lower_bound(tl, 1000), 5);
  size_t idx = 99;
  ck_assert_int_eq(dd_timeline_find_line(tl, 1, &idx), 0);
  ck_assert_uint_eq(idx, 4);
  ck_assert_int_eq(dd_timeline_find_line(tl, 9, &idx), DD_ENOENT);
  dd_timeline_destroy(&tl);
}
END_TEST

START_TEST(test_malformed_lines_counted_and_skipped) {
  const char *text =
      "\xEF\xBB\xBF{\"t_us\":1,\"proc\":\"p\",\"kind\":\"a.ok\"}\r\n" /* 1: BOM and CRLF: fine */
      "\n"                                                            /* 2: blank: ignored */
      "   \t\n"                                                       /* 3: blank: ignored */
      "{\"t_us\":2,\"proc\":\"p\",\"kind\":\"a.b\"\n"                 /* 4: unterminated */
      "[1,2,3]\n"                                                     /* 5: not an object */
      "{\"proc\":\"p\",\"kind\":\"a.b\"}\n"                           /* 6: no t_us */
      "{\"t_us\":\"7\",\"proc\":\"p\",\"kind\":\"a.b\"}\n"            /* 7: t_us a string */
      "{\"t_us\":7.5,\"proc\":\"p\",\"kind\":\"a.b\"}\n"              /* 8: t_us a real */
      "{\"t_us\":-8,\"proc\":\"p\",\"kind\":\"a.b\"}\n"               /* 9: negative */
      "{\"t_us\":9,\"kind\":\"a.b\"}\n"                               /* 10: no proc */
      "{\"t_us\":10,\"proc\":\"\",\"kind\":\"a.b\"}\n"                /* 11: empty proc */
      "{\"t_us\":11,\"proc\":\"p\",\"kind\":3}\n"                     /* 12: kind a number */
      "{\"t_us\":99999999999999999999999,\"proc\":\"p\",\"kind\":\"a.b\"}\n" /* 13: too big */
      "{\"t_us\":13,\"proc\":\"p\",\"kind\":\"a.last\"}\n"                   /* 14: fine */
      "{\"t_us\":14,\"proc\":\"p\",\"ki";                                    /* 15: cut short */
  dd_timeline_t *tl = s_load(text, NULL);
  ck_assert_uint_eq(dd_timeline_count(tl), 2);
  ck_assert_str_eq(s_kind(tl, 0), "a.ok");
  ck_assert_str_eq(s_kind(tl, 1), "a.last");
  ck_assert_uint_eq(dd_timeline_event(tl, 1)->line, 14);
  ck_assert_uint_eq(dd_timeline_malformed(tl), 11);
  ck_assert_uint_eq(dd_timeline_issue_count(tl), 11);
  const unsigned long lines[] = {4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 15};
  for (size_t i = 0; i < 11; i++)
    ck_assert_uint_eq(dd_timeline_issue(tl, i)->line, lines[i]);
  ck_assert_ptr_nonnull(strstr(dd_timeline_issue(tl, 0)->msg, "invalid JSON"));
  ck_assert_str_eq(dd_timeline_issue(tl, 1)->msg, "not a JSON object");
  ck_assert_str_eq(dd_timeline_issue(tl, 2)->msg, "\"t_us\" missing");
  ck_assert_str_eq(dd_timeline_issue(tl, 3)->msg, "\"t_us\" is not an integer");
  ck_assert_str_eq(dd_timeline_issue(tl, 5)->msg, "\"t_us\" is negative");
  ck_assert_str_eq(dd_timeline_issue(tl, 6)->msg, "\"proc\" missing");
  ck_assert_str_eq(dd_timeline_issue(tl, 7)->msg, "\"proc\" is not a non-empty string");
  ck_assert_str_eq(dd_timeline_issue(tl, 8)->msg, "\"kind\" is not a non-empty string");
  ck_assert_ptr_nonnull(strstr(dd_timeline_issue(tl, 10)->msg, "cut short"));
  ck_assert_ptr_null(strstr(dd_timeline_issue(tl, 0)->msg, "cut short"));
  /* The JSON kept for an event is the line without its CR. */
  ck_assert_str_eq(dd_timeline_event(tl, 0)->json, "{\"t_us\":1,\"proc\":\"p\",\"kind\":\"a.ok\"}");
  dd_timeline_destroy(&tl);
}
END_TEST

START_TEST(test_nul_byte_is_malformed) {
  /* jansson would stop at the NUL when the kept line is parsed again: refused up front. */
  static const char text[] = "{\"t_us\":1,\"proc\":\"p\",\"kind\":\"k\",\"v\":1\0}\n"
                             "{\"t_us\":2,\"proc\":\"p\",\"kind\":\"k\"}\n";
  dd_timeline_t *tl = NULL;
  ck_assert_int_eq(dd_timeline_load_mem(text, sizeof text - 1, NULL, &tl), 0);
  ck_assert_uint_eq(dd_timeline_count(tl), 1);
  ck_assert_uint_eq(dd_timeline_malformed(tl), 1);
  ck_assert_str_eq(dd_timeline_issue(tl, 0)->msg, "NUL byte at column 38");
  dd_timeline_destroy(&tl);
}
END_TEST

START_TEST(test_issues_capped_but_all_counted) {
  size_t n = DD_TIMELINE_ISSUES_MAX + 250;
  char *text = malloc(n * 4 + 64);
  ck_assert_ptr_nonnull(text);
  size_t o = 0;
  for (size_t i = 0; i < n; i++)
    o += (size_t)sprintf(text + o, "{x\n");
  o += (size_t)sprintf(text + o, "{\"t_us\":5,\"proc\":\"p\",\"kind\":\"k\"}\n");
  dd_timeline_t *tl = NULL;
  ck_assert_int_eq(dd_timeline_load_mem(text, o, NULL, &tl), 0);
  ck_assert_uint_eq(dd_timeline_count(tl), 1);
  ck_assert_uint_eq(dd_timeline_event(tl, 0)->line, n + 1);
  ck_assert_uint_eq(dd_timeline_malformed(tl), n);
  ck_assert_uint_eq(dd_timeline_issue_count(tl), DD_TIMELINE_ISSUES_MAX);
  ck_assert_uint_eq(dd_timeline_issue(tl, DD_TIMELINE_ISSUES_MAX - 1)->line,
                    DD_TIMELINE_ISSUES_MAX);
  dd_timeline_destroy(&tl);
  free(text);
}
END_TEST

START_TEST(test_series_default_and_custom) {
  const char *text =
      "{\"t_us\":300,\"proc\":\"bus\",\"kind\":\"can.busload\",\"load_pct\":30.5,\"frames\":3}\n"
      "{\"t_us\":100,\"proc\":\"bus\",\"kind\":\"can.busload\",\"load_pct\":10,\"frames\":1}\n"
      "{\"t_us\":200,\"proc\":\"bus\",\"kind\":\"can.busload\",\"load_pct\":\"n/a\"}\n"
      "{\"t_us\":250,\"proc\":\"bus2\",\"kind\":\"can.busload\",\"load_pct\":99}\n"
      "{\"t_us\":260,\"proc\":\"dev\",\"kind\":\"program.progress\",\"percent\":50}\n"
      "{\"t_us\":150,\"proc\":\"bus\",\"kind\":\"can.busload\",\"load_pct\":-2.25}\n";
  dd_timeline_t *tl = s_load(text, NULL);
  ck_assert_uint_eq(dd_timeline_series_count(tl), 3);
  const dd_tl_series_t *bus = NULL, *bus2 = NULL, *prog = NULL;
  for (size_t i = 0; i < 3; i++) {
    const dd_tl_series_t *s = dd_timeline_series(tl, i);
    const char *lane = dd_timeline_lane(tl, s->lane)->name;
    if (!strcmp(s->name, "can.busload.load_pct") && !strcmp(lane, "bus")) bus = s;
    if (!strcmp(s->name, "can.busload.load_pct") && !strcmp(lane, "bus2")) bus2 = s;
    if (!strcmp(s->name, "program.progress.percent")) prog = s;
  }
  ck_assert_ptr_nonnull(bus);
  ck_assert_ptr_nonnull(bus2);
  ck_assert_ptr_nonnull(prog);
  ck_assert_str_eq(bus->kind, "can.busload");
  ck_assert_str_eq(bus->field, "load_pct");
  /* In time order, the string value left out. */
  ck_assert_uint_eq(bus->n, 3);
  ck_assert_int_eq(bus->t_us[0], 100);
  ck_assert(bus->value[0] == 10.0);
  ck_assert_int_eq(bus->t_us[1], 150);
  ck_assert(bus->value[1] == -2.25);
  ck_assert(bus->value[2] == 30.5);
  ck_assert(bus->min == -2.25 && bus->max == 30.5);
  for (size_t j = 0; j < bus->n; j++)
    ck_assert_int_eq(dd_timeline_event(tl, bus->event[j])->t_us, bus->t_us[j]);
  ck_assert_uint_eq(bus2->n, 1);
  ck_assert(prog->value[0] == 50.0);
  dd_timeline_destroy(&tl);

  /* Only what was asked for. */
  const char *spec[] = {"can.busload.frames"};
  dd_timeline_opts_t o = {.series = spec, .n_series = 1};
  tl = s_load(text, &o);
  ck_assert_uint_eq(dd_timeline_series_count(tl), 1);
  ck_assert_str_eq(dd_timeline_series(tl, 0)->name, "can.busload.frames");
  ck_assert_uint_eq(dd_timeline_series(tl, 0)->n, 2);
  ck_assert(dd_timeline_series(tl, 0)->value[1] == 3.0);
  dd_timeline_destroy(&tl);

  const char *bad[] = {"nodot"};
  dd_timeline_opts_t ob = {.series = bad, .n_series = 1};
  ck_assert_int_eq(dd_timeline_load_mem(text, strlen(text), &ob, &tl), DD_EINVAL);
  ck_assert_ptr_null(tl);
  const char *trailing[] = {"can.busload."};
  dd_timeline_opts_t ot = {.series = trailing, .n_series = 1};
  ck_assert_int_eq(dd_timeline_load_mem(text, strlen(text), &ot, &tl), DD_EINVAL);
}
END_TEST

START_TEST(test_verdicts) {
  const char *text =
      "{\"t_us\":1,\"proc\":\"h\",\"kind\":\"expect.result\",\"name\":\"a\",\"verdict\":\"PASS\"}\n"
      "{\"t_us\":2,\"proc\":\"h\",\"kind\":\"expect.result\",\"name\":\"b\",\"verdict\":\"FAIL\"}\n"
      "{\"t_us\":3,\"proc\":\"h\",\"kind\":\"expect.result\",\"name\":\"c\",\"verdict\":"
      "\"SKIPPED\"}\n"
      "{\"t_us\":4,\"proc\":\"h\",\"kind\":\"expect.result\",\"name\":\"d\",\"verdict\":\"ERROR\"}"
      "\n"
      "{\"t_us\":5,\"proc\":\"h\",\"kind\":\"expect.result\",\"name\":\"e\",\"verdict\":1}\n"
      "{\"t_us\":6,\"proc\":\"h\",\"kind\":\"expect.result\",\"name\":\"f\",\"verdict\":\"FAIL\"}"
      "\n";
  dd_timeline_t *tl = s_load(text, NULL);
  ck_assert_uint_eq(dd_timeline_verdicts(tl, DD_TL_VERDICT_PASS), 1);
  ck_assert_uint_eq(dd_timeline_verdicts(tl, DD_TL_VERDICT_FAIL), 2);
  ck_assert_uint_eq(dd_timeline_verdicts(tl, DD_TL_VERDICT_SKIP), 1);
  ck_assert_uint_eq(dd_timeline_verdicts(tl, DD_TL_VERDICT_OTHER), 1);
  ck_assert_uint_eq(dd_timeline_verdicts(tl, DD_TL_VERDICT_NONE), 1); /* a number is no verdict */
  ck_assert_int_eq(dd_timeline_event(tl, 1)->verdict, DD_TL_VERDICT_FAIL);
  ck_assert_int_eq(dd_timeline_verdict_parse("PASS"), DD_TL_VERDICT_PASS);
  ck_assert_int_eq(dd_timeline_verdict_parse("pass"), DD_TL_VERDICT_OTHER);
  ck_assert_str_eq(dd_timeline_verdict_name(DD_TL_VERDICT_FAIL), "FAIL");
  char fam[8];
  dd_timeline_family_of("transport.switched", fam, sizeof fam);
  ck_assert_str_eq(fam, "transpo"); /* truncated to fit */
  dd_timeline_family_of("session.S11", fam, sizeof fam);
  ck_assert_str_eq(fam, "session");
  dd_timeline_destroy(&tl);
}
END_TEST

START_TEST(test_request_response_pairs) {
  /* Two processes; dev's requests answered in order; the 0x78 reply (ISO 14229-1 NRC
   * requestCorrectlyReceived-ResponsePending) does not close the second request. */
  const char *text = "{\"t_us\":10,\"proc\":\"dev\",\"kind\":\"uds.request\",\"sid\":\"0x22\"}\n"
                     "{\"t_us\":15,\"proc\":\"other\",\"kind\":\"uds.response\",\"sid\":\"0x62\"}\n"
                     "{\"t_us\":20,\"proc\":\"dev\",\"kind\":\"uds.response\",\"sid\":\"0x62\"}\n"
                     "{\"t_us\":30,\"proc\":\"dev\",\"kind\":\"uds.request\",\"sid\":\"0x31\"}\n"
                     "{\"t_us\":40,\"proc\":\"dev\",\"kind\":\"uds.response\",\"nrc\":\"0x78\"}\n"
                     "{\"t_us\":45,\"proc\":\"dev\",\"kind\":\"uds.response\",\"nrc\":120}\n"
                     "{\"t_us\":50,\"proc\":\"dev\",\"kind\":\"uds.request\",\"sid\":\"0x3E\"}\n"
                     "{\"t_us\":90,\"proc\":\"dev\",\"kind\":\"uds.response\",\"sid\":\"0x71\"}\n"
                     "{\"t_us\":95,\"proc\":\"dev\",\"kind\":\"uds.response\",\"sid\":\"0x7E\"}\n"
                     "{\"t_us\":99,\"proc\":\"dev\",\"kind\":\"isotp.response\"}\n";
  dd_timeline_t *tl = s_load(text, NULL);
  ck_assert(dd_timeline_event(tl, 4)->interim);
  ck_assert(dd_timeline_event(tl, 5)->interim);
  ck_assert(!dd_timeline_event(tl, 7)->interim);
  ck_assert_uint_eq(dd_timeline_span_count(tl), 3);
  const size_t want[3][2] = {{0, 2}, {3, 7}, {6, 8}};
  for (size_t i = 0; i < 3; i++) {
    const dd_tl_span_t *sp = dd_timeline_span(tl, i);
    ck_assert_int_eq(sp->type, DD_TL_SPAN_TRANSACTION);
    ck_assert_uint_eq(sp->begin, want[i][0]);
    ck_assert_uint_eq(sp->end, want[i][1]);
  }
  dd_timeline_destroy(&tl);
}
END_TEST

START_TEST(test_files_and_paths) {
  char dir[] = "/tmp/dd-timeline-XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(dir));
  char path[256], got[256];
  snprintf(path, sizeof path, "%s/%s", dir, DD_TIMELINE_FILE);
  ck_assert_int_eq(dd_timeline_path(dir, got, sizeof got), 0);
  ck_assert_str_eq(got, path);
  ck_assert_int_eq(dd_timeline_path(path, got, sizeof got), 0);
  ck_assert_str_eq(got, path);
  ck_assert_int_eq(dd_timeline_path(dir, got, 8), DD_ENAMETOOLONG);
  dd_timeline_t *tl = NULL;
  ck_assert_int_eq(dd_timeline_load_file(path, NULL, &tl), -ENOENT);
  ck_assert_ptr_null(tl);
  FILE *f = fopen(path, "w");
  ck_assert_ptr_nonnull(f);
  /* More than one read buffer's worth, to cross the loader's growth steps. */
  for (int i = 0; i < 5000; i++)
    fprintf(f, "{\"t_us\":%d,\"proc\":\"p%d\",\"kind\":\"can.busload\",\"load_pct\":%d.5}\n", i,
            i % 3, i % 100);
  fclose(f);
  ck_assert_int_eq(dd_timeline_load_file(path, NULL, &tl), 0);
  ck_assert_uint_eq(dd_timeline_count(tl), 5000);
  ck_assert_uint_eq(dd_timeline_lane_count(tl), 3);
  ck_assert_uint_eq(dd_timeline_series_count(tl), 3);
  ck_assert_uint_eq(dd_timeline_series(tl, 0)->n, 1667);
  ck_assert(dd_timeline_series(tl, 0)->max == 99.5);
  dd_timeline_destroy(&tl);
  unlink(path);
  rmdir(dir);
}
END_TEST

START_TEST(test_empty) {
  dd_timeline_t *tl = NULL;
  ck_assert_int_eq(dd_timeline_load_mem("", 0, NULL, &tl), 0);
  ck_assert_uint_eq(dd_timeline_count(tl), 0);
  ck_assert_uint_eq(dd_timeline_lane_count(tl), 0);
  ck_assert_uint_eq(dd_timeline_malformed(tl), 0);
  ck_assert_int_eq(dd_timeline_first_us(tl), 0);
  dd_timeline_destroy(&tl);
  dd_timeline_destroy(&tl); /* NULL is fine */
}
END_TEST

static Suite *s_suite(void) {
  Suite *s = suite_create("timeline");
  TCase *tc = tcase_create("load");
  tcase_add_test(tc, test_real_run_lines);
  tcase_add_test(tc, test_sorted_and_lanes_by_first_event);
  tcase_add_test(tc, test_malformed_lines_counted_and_skipped);
  tcase_add_test(tc, test_nul_byte_is_malformed);
  tcase_add_test(tc, test_issues_capped_but_all_counted);
  tcase_add_test(tc, test_files_and_paths);
  tcase_add_test(tc, test_empty);
  suite_add_tcase(s, tc);
  tc = tcase_create("model");
  tcase_add_test(tc, test_series_default_and_custom);
  tcase_add_test(tc, test_verdicts);
  tcase_add_test(tc, test_request_response_pairs);
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
