/* check_export: trace.json read back with jansson (required keys, phases, microsecond time
 * stamps, metadata, counters, slices), junit.xml checked by xmllint (libxml2, an independent
 * XML parser) for well-formedness and by XPath for its structure, candump <-> pcap
 * conversions, and `duodiag export` exit codes. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dd_candump.h"
#include "dd_cli.h"
#include "dd_err.h"
#include "dd_export.h"
#include "dd_pcap.h"
#include "dd_test_util.h"
#include "dd_timeline.h"

int dd_cli_export(int argc, char **argv); /* until dd_cli.h lists it */

/* Two processes: bus (life, start-up, bus load) and dev (a UDS exchange with a pending reply,
 * then a verdict). */
static const char s_tl[] =
    "{\"t_us\":1000,\"wall_us\":1700000000000000,\"proc\":\"bus\",\"kind\":\"proc.started\"}\n"
    "{\"t_us\":1500,\"wall_us\":1700000000000500,\"proc\":\"bus\",\"kind\":\"proc.ready\"}\n"
    "{\"t_us\":2000,\"proc\":\"dev\",\"kind\":\"uds.request\",\"sid\":\"0x22\",\"data\":\"22F190\"}"
    "\n"
    "{\"t_us\":2500,\"proc\":\"bus\",\"kind\":\"can.busload\",\"load_pct\":12.5,\"frames\":40}\n"
    "{\"t_us\":3000,\"proc\":\"dev\",\"kind\":\"uds.response\",\"nrc\":\"0x78\"}\n"
    "{\"t_us\":3500,\"proc\":\"bus\",\"kind\":\"can.busload\",\"load_pct\":50,\"frames\":160}\n"
    "{\"t_us\":9000,\"proc\":\"dev\",\"kind\":\"uds.response\",\"sid\":\"0x62\"}\n"
    "{\"t_us\":9500,\"proc\":\"bus\",\"kind\":\"can.busload\",\"load_pct\":0.25,\"frames\":1}\n"
    "{\"t_us\":9600,\"proc\":\"dev\",\"kind\":\"expect.result\",\"name\":\"vin\",\"verdict\":"
    "\"FAIL\",\"observed\":\"7.0 ms\",\"deadline\":\"5 ms\",\"line\":12}\n"
    "{\"t_us\":12000,\"proc\":\"bus\",\"kind\":\"proc.stopped\",\"exit\":0}\n";

static dd_timeline_t *s_load(const char *text) {
  dd_timeline_t *tl = NULL;
  ck_assert_int_eq(dd_timeline_load_mem(text, strlen(text), NULL, &tl), 0);
  return tl;
}

static void s_tmpdir(char *dir, size_t size) {
  snprintf(dir, size, "/tmp/dd-export-XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void s_rm_rf(const char *dir) {
  char cmd[512];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  ck_assert_int_eq(system(cmd), 0);
}

static char *s_slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  ck_assert_msg(f != NULL, "cannot open %s", path);
  static char buf[1 << 16];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  return buf;
}

static void s_write(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  ck_assert_ptr_nonnull(f);
  fputs(text, f);
  fclose(f);
}

static bool s_ph_known(const char *ph) {
  static const char *const known[] = {"M", "i", "C", "X", "b", "e"};
  for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
    if (!strcmp(ph, known[i])) return true;
  return false;
}

START_TEST(test_perfetto_structure) {
  char dir[64], path[128];
  s_tmpdir(dir, sizeof dir);
  snprintf(path, sizeof path, "%s/trace.json", dir);
  dd_timeline_t *tl = s_load(s_tl);
  dd_export_meta_t meta = {.run_name = "r1", .source = "r1/timeline.jsonl"};
  ck_assert_int_eq(dd_export_perfetto(tl, &meta, path), 0);

  json_error_t err;
  json_t *root = json_load_file(path, 0, &err);
  ck_assert_msg(root != NULL, "trace.json does not parse: line %d: %s", err.line, err.text);
  ck_assert_str_eq(json_string_value(json_object_get(root, "displayTimeUnit")), "ms");
  ck_assert_str_eq(json_string_value(json_object_get(json_object_get(root, "otherData"), "run")),
                   "r1");
  json_t *evs = json_object_get(root, "traceEvents");
  ck_assert(json_is_array(evs));

  size_t n_m = 0, n_i = 0, n_c = 0, n_x = 0, n_b = 0, n_e = 0;
  json_int_t bus_pid = 0, dev_pid = 0;
  long running_at = -1, starting_at = -1;
  const char *b_id = NULL, *e_id = NULL;
  json_int_t b_ts = 0, e_ts = 0;
  size_t idx;
  json_t *ev;
  json_array_foreach(evs, idx, ev) {
    /* Required keys of every trace event, ts in (integer) microseconds. */
    ck_assert(json_is_object(ev));
    const char *ph = json_string_value(json_object_get(ev, "ph"));
    ck_assert_ptr_nonnull(ph);
    ck_assert_msg(s_ph_known(ph), "unexpected ph %s", ph);
    ck_assert(json_is_string(json_object_get(ev, "name")));
    ck_assert(json_is_integer(json_object_get(ev, "pid")));
    ck_assert(json_is_integer(json_object_get(ev, "tid")));
    ck_assert(json_is_integer(json_object_get(ev, "ts")));
    ck_assert_int_ge(json_integer_value(json_object_get(ev, "pid")), 1);
    const char *name = json_string_value(json_object_get(ev, "name"));
    json_t *args = json_object_get(ev, "args");
    json_int_t ts = json_integer_value(json_object_get(ev, "ts"));
    json_int_t pid = json_integer_value(json_object_get(ev, "pid"));
    if (!strcmp(ph, "M")) {
      n_m++;
      if (!strcmp(name, "process_name")) {
        const char *pn = json_string_value(json_object_get(args, "name"));
        ck_assert_ptr_nonnull(pn);
        if (!strcmp(pn, "bus")) bus_pid = pid;
        if (!strcmp(pn, "dev")) dev_pid = pid;
      }
    } else if (!strcmp(ph, "i")) {
      n_i++;
      ck_assert_str_eq(json_string_value(json_object_get(ev, "s")), "t");
      ck_assert(json_is_string(json_object_get(ev, "cat")));
      ck_assert_ptr_null(json_object_get(args, "t_us"));
      ck_assert_ptr_null(json_object_get(args, "proc"));
      ck_assert_ptr_null(json_object_get(args, "kind"));
      ck_assert(json_is_integer(json_object_get(args, "timeline_line")));
      if (!strcmp(name, "can.busload") && ts == 2500) {
        ck_assert_str_eq(json_string_value(json_object_get(ev, "cat")), "can");
        ck_assert(json_number_value(json_object_get(args, "load_pct")) == 12.5);
        ck_assert_int_eq(json_integer_value(json_object_get(args, "frames")), 40);
        ck_assert_int_eq(json_integer_value(json_object_get(args, "timeline_line")), 4);
      }
      if (!strcmp(name, "expect.result")) { /* its own "line" (scenario line) is kept */
        ck_assert_int_eq(json_integer_value(json_object_get(args, "line")), 12);
        ck_assert_int_eq(json_integer_value(json_object_get(args, "timeline_line")), 9);
      }
      if (!strcmp(name, "proc.started"))
        ck_assert_int_eq(json_integer_value(json_object_get(args, "wall_us")), 1700000000000000);
    } else if (!strcmp(ph, "C")) {
      n_c++;
      ck_assert_str_eq(name, "can.busload");
      double v = json_number_value(json_object_get(args, "load_pct"));
      ck_assert((ts == 2500 && v == 12.5) || (ts == 3500 && v == 50.0) ||
                (ts == 9500 && v == 0.25));
    } else if (!strcmp(ph, "X")) {
      n_x++;
      json_int_t dur = json_integer_value(json_object_get(ev, "dur"));
      ck_assert_int_eq(ts, 1000);
      if (!strcmp(name, "running")) {
        ck_assert_int_eq(dur, 11000);
        running_at = (long)idx;
      } else {
        ck_assert_str_eq(name, "starting");
        ck_assert_int_eq(dur, 500);
        starting_at = (long)idx;
      }
    } else if (!strcmp(ph, "b")) {
      n_b++;
      ck_assert_str_eq(name, "uds 0x22");
      ck_assert_str_eq(json_string_value(json_object_get(ev, "cat")), "uds");
      b_id = json_string_value(json_object_get(ev, "id"));
      b_ts = ts;
    } else if (!strcmp(ph, "e")) {
      n_e++;
      e_id = json_string_value(json_object_get(ev, "id"));
      e_ts = ts;
      ck_assert_str_eq(json_string_value(json_object_get(args, "sid")), "0x62");
    }
  }
  ck_assert_uint_eq(n_m, 6); /* process_name, process_sort_index, thread_name per process */
  ck_assert_int_ne(bus_pid, 0);
  ck_assert_int_ne(dev_pid, 0);
  ck_assert_int_ne(bus_pid, dev_pid);
  ck_assert_uint_eq(n_i, dd_timeline_count(tl));
  ck_assert_uint_eq(n_c, 3);
  ck_assert_uint_eq(n_x, 2);
  ck_assert_int_ge(starting_at, 0);
  ck_assert_int_lt(running_at, starting_at); /* the parent slice comes first */
  ck_assert_uint_eq(n_b, 1);
  ck_assert_uint_eq(n_e, 1);
  ck_assert_str_eq(b_id, e_id);
  ck_assert_int_eq(b_ts, 2000);
  ck_assert_int_eq(e_ts, 9000); /* the final response, not the pending one */
  json_decref(root);
  dd_timeline_destroy(&tl);
  s_rm_rf(dir);
}
END_TEST

START_TEST(test_perfetto_unwritable) {
  dd_timeline_t *tl = s_load(s_tl);
  ck_assert_int_eq(dd_export_perfetto(tl, NULL, "/nonexistent-dir/trace.json"), -ENOENT);
  dd_timeline_destroy(&tl);
}
END_TEST

START_TEST(test_junit_cases) {
  const char *text =
      "{\"t_us\":100,\"wall_us\":1767225600000000,\"proc\":\"harness\",\"kind\":\"proc.started\"}\n"
      "{\"t_us\":200,\"proc\":\"harness\",\"kind\":\"expect.result\",\"name\":\"ok\","
      "\"verdict\":\"PASS\",\"observed\":\"9 ms\",\"deadline\":\"50 ms\",\"elapsed_us\":9000}\n"
      "{\"t_us\":300,\"proc\":\"harness\",\"kind\":\"expect.result\",\"name\":\"slow\","
      "\"verdict\":\"FAIL\",\"observed\":\"960 ms\",\"deadline\":\"500 ms\","
      "\"scenario\":\"uds.read_vin\",\"file\":\"scenarios/uds_read_vin.yaml\"}\n"
      "{\"t_us\":400,\"proc\":\"harness\",\"kind\":\"expect.result\",\"name\":\"later\","
      "\"verdict\":\"SKIP\"}\n"
      "{\"t_us\":500,\"proc\":\"harness\",\"kind\":\"expect.result\",\"name\":\"odd\","
      "\"verdict\":\"ERROR\",\"observed\":1.5}\n"
      "{\"t_us\":600,\"proc\":\"harness\",\"kind\":\"expect.result\",\"name\":\"slow\"}\n"
      "{\"t_us\":700,\"proc\":\"harness\",\"kind\":\"expect.result\",\"name\":\"<&>\\\"'\","
      "\"verdict\":\"FAIL\",\"observed\":\"a\\u0001b\\nc\",\"deadline\":100}\n"
      "{\"t_us\":800,\"proc\":\"harness\",\"kind\":\"uds.request\",\"verdict\":\"FAIL\"}\n";
  char dir[64], path[128];
  s_tmpdir(dir, sizeof dir);
  snprintf(path, sizeof path, "%s/junit.xml", dir);
  dd_timeline_t *tl = s_load(text);
  dd_export_junit_stats_t st;
  dd_export_meta_t meta = {.run_name = "run-7", .hostname = "hil-1"};
  ck_assert_int_eq(dd_export_junit(tl, &meta, path, &st), 0);
  ck_assert_uint_eq(st.tests, 6); /* expect.result only: the uds.request verdict is no test */
  ck_assert_uint_eq(st.failures, 2);
  ck_assert_uint_eq(st.errors, 2);
  ck_assert_uint_eq(st.skipped, 1);

  char out[1024];
  ck_assert_int_eq(dd_test_xmllint(path), 0);
  dd_test_xpath(path, "count(/testsuites/testsuite/testcase)", out, sizeof out);
  ck_assert_str_eq(out, "6");
  dd_test_xpath(path, "string(/testsuites/@tests)", out, sizeof out);
  ck_assert_str_eq(out, "6");
  dd_test_xpath(path, "string(/testsuites/testsuite/@failures)", out, sizeof out);
  ck_assert_str_eq(out, "2");
  dd_test_xpath(path, "string(/testsuites/testsuite/@errors)", out, sizeof out);
  ck_assert_str_eq(out, "2");
  dd_test_xpath(path, "string(/testsuites/testsuite/@skipped)", out, sizeof out);
  ck_assert_str_eq(out, "1");
  dd_test_xpath(path, "string(/testsuites/testsuite/@hostname)", out, sizeof out);
  ck_assert_str_eq(out, "hil-1");
  dd_test_xpath(path, "string(/testsuites/testsuite/@timestamp)", out, sizeof out);
  ck_assert_str_eq(out, "2026-01-01T00:00:00");
  dd_test_xpath(path, "string(/testsuites/testsuite/@name)", out, sizeof out);
  ck_assert_str_eq(out, "run-7");
  /* The failure: classname from the scenario, message from observed and deadline. */
  dd_test_xpath(path, "string(//testcase[@name=\"slow\"]/@classname)", out, sizeof out);
  ck_assert_str_eq(out, "uds.read_vin");
  dd_test_xpath(path, "string(//testcase[@name=\"slow\"]/@file)", out, sizeof out);
  ck_assert_str_eq(out, "scenarios/uds_read_vin.yaml");
  dd_test_xpath(path, "string(//testcase[@name=\"slow\"]/failure/@message)", out, sizeof out);
  ck_assert_str_eq(out, "observed 960 ms; deadline 500 ms");
  dd_test_xpath(path, "string(//testcase[@name=\"slow\"]/failure/@type)", out, sizeof out);
  ck_assert_str_eq(out, "ExpectationFailed");
  dd_test_xpath(path, "string(//testcase[@name=\"ok\"]/@time)", out, sizeof out);
  ck_assert_str_eq(out, "0.009000");
  dd_test_xpath(path, "count(//testcase[@name=\"ok\"]/*)", out, sizeof out);
  ck_assert_str_eq(out, "0");
  dd_test_xpath(path, "count(//testcase[@name=\"later\"]/skipped)", out, sizeof out);
  ck_assert_str_eq(out, "1");
  dd_test_xpath(path, "string(//testcase[@name=\"odd\"]/error/@message)", out, sizeof out);
  ck_assert_str_eq(out, "verdict ERROR: observed 1.5; deadline (not recorded)");
  /* The second "slow" (no verdict) gets its own name and an error. */
  dd_test_xpath(path, "string(//testcase[@name=\"slow (2)\"]/error/@message)", out, sizeof out);
  ck_assert_str_eq(out, "no verdict recorded");
  /* Special characters survive; the control character is replaced; the newline kept. */
  const char *raw = s_slurp(path);
  ck_assert_ptr_nonnull(strstr(raw, "name=\"&lt;&amp;&gt;&quot;&apos;\""));
  ck_assert_ptr_nonnull(strstr(raw, "message=\"observed a\xEF\xBF\xBD"
                                    "b&#10;c; deadline 100\""));
  ck_assert_ptr_null(strchr(raw, '\x01'));
  dd_timeline_destroy(&tl);
  s_rm_rf(dir);
}
END_TEST

START_TEST(test_junit_engine_fields) {
  /* The fields the expectation engine writes (dd_expect_result_fields): times relative to the
   * run's start in microseconds, -1 for "none"; the observed value apart; a one-line text. */
  const char *text =
      "{\"t_us\":100,\"wall_us\":1767225600000000,\"proc\":\"harness\",\"kind\":"
      "\"expect.result\",\"name\":\"to_relay\",\"index\":0,\"type\":\"event\","
      "\"verdict\":\"FAIL\",\"state\":\"timed_out\",\"observed_us\":-1,\"deadline_us\":"
      "11000000,\"value\":\"\",\"text\":\"FAIL transport.switched: no event within 5 s "
      "(deadline 11.00 s)\",\"line\":12}\n"
      "{\"t_us\":200,\"proc\":\"harness\",\"kind\":\"expect.result\",\"name\":\"few_nrc\","
      "\"index\":1,\"type\":\"count\",\"verdict\":\"FAIL\",\"state\":\"violated\","
      "\"observed_us\":2500000,\"deadline_us\":-1,\"value\":\"3\",\"text\":\"FAIL count\","
      "\"line\":20}\n"
      "{\"t_us\":300,\"proc\":\"harness\",\"kind\":\"expect.result\",\"name\":\"back\","
      "\"index\":2,\"type\":\"event\",\"verdict\":\"PASS\",\"state\":\"matched\","
      "\"observed_us\":10430000,\"deadline_us\":11000000,\"value\":\"to=relay\",\"text\":"
      "\"PASS\",\"line\":30}\n"
      "{\"t_us\":400,\"proc\":\"harness\",\"kind\":\"expect.result\",\"name\":\"open\","
      "\"verdict\":\"PENDING\",\"observed_us\":-1,\"deadline_us\":-1,\"value\":\"\"}\n";
  char dir[64], path[128], out[512];
  s_tmpdir(dir, sizeof dir);
  snprintf(path, sizeof path, "%s/junit.xml", dir);
  dd_timeline_t *tl = s_load(text);
  dd_export_junit_stats_t st;
  ck_assert_int_eq(dd_export_junit(tl, NULL, path, &st), 0);
  ck_assert_uint_eq(st.tests, 4);
  ck_assert_uint_eq(st.failures, 2);
  ck_assert_uint_eq(st.errors, 1);
  ck_assert_int_eq(dd_test_xmllint(path), 0);
  dd_test_xpath(path, "string(//testcase[@name=\"to_relay\"]/failure/@message)", out, sizeof out);
  ck_assert_str_eq(out, "observed nothing; deadline 11.000000 s");
  dd_test_xpath(path, "string(//testcase[@name=\"to_relay\"]/failure/@type)", out, sizeof out);
  ck_assert_str_eq(out, "timed_out");
  dd_test_xpath(path, "starts-with(//testcase[@name=\"to_relay\"]/failure, \"FAIL transport\")",
                out, sizeof out);
  ck_assert_str_eq(out, "true");
  dd_test_xpath(path, "string(//testcase[@name=\"few_nrc\"]/failure/@message)", out, sizeof out);
  ck_assert_str_eq(out, "observed 3 at 2.500000 s; deadline none");
  dd_test_xpath(path, "string(//testcase[@name=\"few_nrc\"]/failure/@type)", out, sizeof out);
  ck_assert_str_eq(out, "violated");
  dd_test_xpath(path, "count(//testcase[@name=\"back\"]/*)", out, sizeof out);
  ck_assert_str_eq(out, "0");
  dd_test_xpath(path, "string(//testcase[@name=\"open\"]/error/@message)", out, sizeof out);
  ck_assert_str_eq(out, "verdict PENDING: observed nothing; deadline none");
  dd_timeline_destroy(&tl);
  s_rm_rf(dir);
}
END_TEST

START_TEST(test_junit_no_expectations) {
  char dir[64], path[128];
  s_tmpdir(dir, sizeof dir);
  snprintf(path, sizeof path, "%s/junit.xml", dir);
  dd_timeline_t *tl = s_load("{\"t_us\":1,\"proc\":\"bus\",\"kind\":\"proc.started\"}\n");
  dd_export_junit_stats_t st;
  ck_assert_int_eq(dd_export_junit(tl, NULL, path, &st), 0);
  ck_assert_uint_eq(st.tests, 0);
  char out[512];
  ck_assert_int_eq(dd_test_xmllint(path), 0);
  dd_test_xpath(path, "string(/testsuites/testsuite/@tests)", out, sizeof out);
  ck_assert_str_eq(out, "0");
  dd_test_xpath(path, "count(//testcase)", out, sizeof out);
  ck_assert_str_eq(out, "0");
  dd_test_xpath(path, "string(//property[@name=\"expectations\"]/@value)", out, sizeof out);
  ck_assert_str_eq(out, "none: the timeline has no expect.result event");
  dd_test_xpath(path, "string(/testsuites/testsuite/@name)", out, sizeof out);
  ck_assert_str_eq(out, "run");
  dd_timeline_destroy(&tl);
  s_rm_rf(dir);
}
END_TEST

START_TEST(test_xml_escape) {
  struct {
    const char *in;   /* text */
    int attribute;    /* as an attribute value */
    const char *want; /* escaped */
  } v[] = {
      {"plain", 0, "plain"},
      {"a<b>&\"'", 0, "a&lt;b&gt;&amp;&quot;&apos;"},
      {"l1\nl2\tx\r", 0, "l1\nl2\tx\r"},
      {"l1\nl2\tx\r", 1, "l1&#10;l2&#9;x&#13;"},
      {"\x01\x1f\x7f", 0, "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"},
      {"\xC2\xB5s", 1, "\xC2\xB5s"},
      {"", 1, ""},
  };
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
    char *e = dd_export_xml_escape(v[i].in, v[i].attribute);
    ck_assert_ptr_nonnull(e);
    ck_assert_str_eq(e, v[i].want);
    free(e);
  }
}
END_TEST

/* Frames in the can-utils compact syntax (lib.h's parse_canframe comment gives 123#R7,
 * 12345678#112233 and 123##1112233 as examples). */
static const char s_log[] = "(1700000000.000001) can0 7E0#0322F190\n"
                            "(1700000000.000100) can0 123#R7\n"
                            "(1700000000.000200) can0 12345678#112233\n"
                            "(1700000000.000300) can0 not-a-frame\n"
                            "(1700000000.000400) can0 123##1112233\n"
                            "(1700000000.500400) can1 7FF#1122334455667788\n";

START_TEST(test_can_conversions) {
  char dir[64], log[128], pcap[128], back[128];
  s_tmpdir(dir, sizeof dir);
  snprintf(log, sizeof log, "%s/can.log", dir);
  snprintf(pcap, sizeof pcap, "%s/can.pcap", dir);
  snprintf(back, sizeof back, "%s/back.log", dir);
  s_write(log, s_log);
  dd_export_can_stats_t st;
  ck_assert_int_eq(dd_export_candump_to_pcap(log, pcap, &st), 0);
  ck_assert_uint_eq(st.frames, 5);
  ck_assert_uint_eq(st.skipped, 1);
  ck_assert_uint_eq(st.first_bad, 4);
  ck_assert_uint_eq(st.ifnames, 2);
  ck_assert_int_eq(dd_export_pcap_to_candump(pcap, back, "vcan0", &st), 0);
  ck_assert_uint_eq(st.frames, 5);
  ck_assert_uint_eq(st.skipped, 0);
  /* Frame for frame, time stamps to the microsecond, interface renamed. */
  dd_candump_reader_t *a = NULL, *b = NULL;
  ck_assert_int_eq(dd_candump_reader_open(log, &a), 0);
  ck_assert_int_eq(dd_candump_reader_open(back, &b), 0);
  size_t same = 0;
  for (;;) {
    dd_candump_record_t ra, rb;
    int rc = dd_candump_reader_next(a, &ra);
    if (rc == DD_EILSEQ) continue;
    if (rc == DD_ENOENT) {
      ck_assert_int_eq(dd_candump_reader_next(b, &rb), DD_ENOENT);
      break;
    }
    ck_assert_int_eq(rc, 0);
    ck_assert_int_eq(dd_candump_reader_next(b, &rb), 0);
    ck_assert(dd_can_frame_equal(&ra.frame, &rb.frame));
    ck_assert_uint_eq(ra.frame.ts_us, rb.frame.ts_us);
    ck_assert_str_eq(rb.ifname, "vcan0");
    same++;
  }
  ck_assert_uint_eq(same, 5);
  dd_candump_reader_destroy(&a);
  dd_candump_reader_destroy(&b);
  /* The byte copy is exact; missing sources are reported, not crashed on. */
  ck_assert_int_eq(dd_export_copy(log, back), 0);
  ck_assert_str_eq(s_slurp(back), s_log);
  char nowhere[160];
  snprintf(nowhere, sizeof nowhere, "%s/none.pcap", dir);
  ck_assert_int_eq(dd_export_pcap_to_candump(nowhere, back, NULL, &st), -ENOENT);
  ck_assert_int_eq(dd_export_copy(nowhere, back), -ENOENT);
  /* A candump log is not a pcap. */
  ck_assert_int_ne(dd_export_pcap_to_candump(log, back, NULL, &st), 0);
  s_rm_rf(dir);
}
END_TEST

START_TEST(test_formats) {
  dd_export_format_t f;
  const char *names[] = {"perfetto", "junit", "candump", "pcap"};
  const char *files[] = {"trace.json", "junit.xml", "can.log", "can.pcap"};
  for (int i = 0; i < DD_EXPORT_FORMATS; i++) {
    ck_assert_int_eq(dd_export_format_parse(names[i], &f), 0);
    ck_assert_str_eq(dd_export_format_name(f), names[i]);
    ck_assert_str_eq(dd_export_default_file(f), files[i]);
  }
  ck_assert_int_eq(dd_export_format_parse("csv", &f), DD_EINVAL);
  ck_assert_int_eq(dd_export_format_parse("", &f), DD_EINVAL);
}
END_TEST

static int s_cli(int argc, const char *const *argv) {
  char *args[16];
  ck_assert_int_lt(argc, 16);
  for (int i = 0; i < argc; i++)
    args[i] = (char *)argv[i];
  args[argc] = NULL;
  return dd_cli_export(argc, args);
}

/* dd_cli_export with the given words, argc counted. */
#define S_CLI(...)                                                                                 \
  s_cli((int)(sizeof((const char *[]){__VA_ARGS__}) / sizeof(const char *)),                       \
        (const char *[]){__VA_ARGS__})

static bool s_file(const char *dir, const char *name) {
  char p[256];
  snprintf(p, sizeof p, "%s/%s", dir, name);
  struct stat st;
  return stat(p, &st) == 0 && st.st_size > 0;
}

START_TEST(test_cli_export) {
  char dir[64], p[160];
  s_tmpdir(dir, sizeof dir);
  snprintf(p, sizeof p, "%s/timeline.jsonl", dir);
  s_write(p, s_tl);
  snprintf(p, sizeof p, "%s/can.log", dir);
  s_write(p, "(1700000000.000001) vbus0 7E0#0322F190\n");

  ck_assert_int_eq(S_CLI("export", "--help"), 0);
  ck_assert_int_eq(S_CLI("export"), 2);
  ck_assert_int_eq(S_CLI("export", dir), 2); /* no --format */
  ck_assert_int_eq(S_CLI("export", dir, "--format", "csv"), 2);
  ck_assert_int_eq(S_CLI("export", dir, "--format"), 2);
  ck_assert_int_eq(S_CLI("export", dir, "--bogus", "x"), 2);
  ck_assert_int_eq(S_CLI("export", "/nonexistent-run", "--format", "junit"), 2);
  ck_assert_int_eq(S_CLI("export", dir, "--format", "junit,perfetto", "--out", "/tmp/x"), 2);
  ck_assert_int_eq(S_CLI("export", dir, "--format", "perfetto", "--series=x"), 2);

  ck_assert_int_eq(S_CLI("export", dir, "--format", "perfetto,junit,pcap"), 0);
  ck_assert(s_file(dir, "trace.json"));
  ck_assert(s_file(dir, "junit.xml"));
  ck_assert(s_file(dir, "can.pcap"));
  /* Both captures there now: nothing to convert. */
  ck_assert_int_eq(S_CLI("export", dir, "--format=candump"), 0);
  /* Only the pcap: the log is made from it. */
  snprintf(p, sizeof p, "%s/can.log", dir);
  unlink(p);
  ck_assert_int_eq(S_CLI("export", dir, "--format", "candump"), 0);
  ck_assert_str_eq(s_slurp(p), "(1700000000.000001) vbus0 7E0#0322F190\n");
  /* No capture at all: bad input. */
  unlink(p);
  snprintf(p, sizeof p, "%s/can.pcap", dir);
  unlink(p);
  ck_assert_int_eq(S_CLI("export", dir, "--format", "pcap"), 2);
  /* Writing where nothing can be written: failure. */
  ck_assert_int_eq(S_CLI("export", dir, "--format", "perfetto", "--out", "/nonexistent-dir/t.json"),
                   1);
  /* Malformed timeline lines: the export is still written, the exit code says bad input. */
  snprintf(p, sizeof p, "%s/timeline.jsonl", dir);
  s_write(p, "{\"t_us\":1,\"proc\":\"h\",\"kind\":\"expect.result\",\"name\":\"a\",\"verdict\":"
             "\"PASS\"}\n{broken\n");
  snprintf(p, sizeof p, "%s/junit.xml", dir);
  unlink(p);
  ck_assert_int_eq(S_CLI("export", dir, "--format", "junit"), 2);
  ck_assert(s_file(dir, "junit.xml"));
  ck_assert_ptr_nonnull(strstr(s_slurp(p), "<property name=\"malformed_lines\" value=\"1\"/>"));
  /* A run folder without a timeline. */
  snprintf(p, sizeof p, "%s/timeline.jsonl", dir);
  unlink(p);
  ck_assert_int_eq(S_CLI("export", dir, "--format", "perfetto"), 2);
  s_rm_rf(dir);
}
END_TEST

static Suite *s_suite(void) {
  Suite *s = suite_create("export");
  TCase *tc = tcase_create("perfetto");
  tcase_add_test(tc, test_perfetto_structure);
  tcase_add_test(tc, test_perfetto_unwritable);
  suite_add_tcase(s, tc);
  tc = tcase_create("junit");
  tcase_add_test(tc, test_junit_cases);
  tcase_add_test(tc, test_junit_engine_fields);
  tcase_add_test(tc, test_junit_no_expectations);
  tcase_add_test(tc, test_xml_escape);
  suite_add_tcase(s, tc);
  tc = tcase_create("can");
  tcase_add_test(tc, test_can_conversions);
  suite_add_tcase(s, tc);
  tc = tcase_create("cli");
  tcase_add_test(tc, test_formats);
  tcase_add_test(tc, test_cli_export);
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
