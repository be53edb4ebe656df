/* check_report: report.html from a suite folder built here from synthetic timeline lines (one
 * run with transport, record and bus-load events, one with an HTML-hostile scenario name and a
 * reflash, one with nothing to plot): well-formed (xmllint, libxml2's parser, an independent
 * implementation), the verdict rows and expectation cells read back by XPath, one <svg> per
 * plot the events allow and none otherwise, every file-borne text escaped, the HTML escaper
 * against hand-made UTF-8 cases (RFC 3629 section 3 and 4), and the error paths of
 * dd_report_write and `duodiag report`. */
#include <check.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dd_cli.h"
#include "dd_err.h"
#include "dd_report.h"
#include "dd_test_util.h"

static char s_dir[64]; /* the temporary folder of a test */

/* The hostile scenario: markup, quotes, an ampersand and an apostrophe in its name. */
#define S_EVIL_BASE "<script>alert(\"x\")</script>&'"
#define S_EVIL_BASE_JSON "<script>alert(\\\"x\\\")</script>&'"

static void s_setup(void) {
  snprintf(s_dir, sizeof s_dir, "/tmp/dd-report-XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(s_dir));
}

static void s_teardown(void) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", s_dir);
  ck_assert_int_eq(system(cmd), 0);
}

/* dir/name in buf, which is returned. */
static char *s_join(char *buf, size_t size, const char *dir, const char *name) {
  snprintf(buf, size, "%s/%s", dir, name);
  return buf;
}

/* The file dir/name, holding text. */
static void s_write(const char *dir, const char *name, const char *text) {
  char path[512];
  FILE *f = fopen(s_join(path, sizeof path, dir, name), "w");
  ck_assert_msg(f != NULL, "cannot write %s", path);
  fputs(text, f);
  fclose(f);
}

static void s_mkdir(const char *path) { ck_assert_int_eq(mkdir(path, 0755), 0); }

/* The whole file, malloc'd. */
static char *s_slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  ck_assert_msg(f != NULL, "cannot open %s", path);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = malloc((size_t)n + 1);
  ck_assert_ptr_nonnull(buf);
  ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
  buf[n] = 0;
  fclose(f);
  return buf;
}

static size_t s_count(const char *hay, const char *needle) {
  size_t n = 0;
  for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
    n++;
  return n;
}

/* The report.html in dir, malloc'd. */
static char *s_report(const char *dir) {
  char path[512];
  return s_slurp(s_join(path, sizeof path, dir, "report.html"));
}

/* dd_report_write, which must succeed. */
static void s_report_ok(const char *dir, const char *out_html, dd_report_stats_t *st) {
  char err[512];
  ck_assert_msg(dd_report_write(dir, out_html, st, err, sizeof err) == 0, "%s", err);
}

/* The XPath expression printed from fmt, on file: its text (a count's number too) must be
 * want. */
static void s_xpath_is(const char *file, const char *want, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void s_xpath_is(const char *file, const char *want, const char *fmt, ...) {
  char expr[1024], out[4096];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(expr, sizeof expr, fmt, ap);
  va_end(ap);
  dd_test_xpath(file, expr, out, sizeof out);
  ck_assert_msg(!strcmp(out, want), "%s: \"%s\", expected \"%s\"", expr, out, want);
}

#define S_T0 5000000000LL /* run.t0 in the synthetic runs (t_us) */

/* dir (made here)/timeline.jsonl, open for writing. */
static FILE *s_timeline(const char *dir) {
  char path[512];
  s_mkdir(dir);
  FILE *f = fopen(s_join(path, sizeof path, dir, "timeline.jsonl"), "w");
  ck_assert_ptr_nonnull(f);
  return f;
}

/* One timeline line at t seconds from t0, with the given fields after kind. */
static void s_ev(FILE *f, double t, const char *proc, const char *kind, const char *fields) {
  fprintf(f, "{\"t_us\":%lld,\"wall_us\":%lld,\"proc\":\"%s\",\"kind\":\"%s\"%s%s}\n",
          S_T0 + (long long)(t * 1e6), 1700000000000000LL + (long long)(t * 1e6), proc, kind,
          *fields ? "," : "", fields);
}

/* Run 1: transport switching, records with resends, bus load; passes. */
static void s_run_transport(const char *dir) {
  FILE *f = s_timeline(dir);
  s_ev(f, -0.2, "harness", "run.start",
       "\"scenario\":\"latency-spike\",\"file\":\"s/latency.yaml\",\"seed\":42,\"variant\":\"\","
       "\"repeat\":0");
  s_ev(f, -0.1, "harness", "run.spawn",
       "\"name\":\"first_device\",\"cmdline\":\"duodiag-first-device --name first_device "
       "--threshold-ms 150 --hysteresis-ms 30 --hold-ms 5000\"");
  s_ev(f, 0, "harness", "run.t0", "\"t0_us\":5000000000,\"processes\":3");
  for (int i = 0; i < 20; i++) {
    char fl[160];
    double rtt = i >= 8 && i < 14 ? 480 + i : 40 + i % 3;
    snprintf(fl, sizeof fl, "\"srtt_ms\":%.1f,\"rtt_ms\":%.1f,\"path\":\"%s\",\"loss_pct\":0.0",
             rtt - 5, rtt, i >= 9 && i < 16 ? "relay" : "direct");
    s_ev(f, 1.0 + i, "first_device", "transport.rtt", fl);
    snprintf(fl, sizeof fl, "\"load_pct\":%.2f,\"frames\":50", 1.0 + (i % 4) * 0.5);
    s_ev(f, 1.0 + i, "bus", "can.busload", fl);
  }
  s_ev(f, 9.5, "first_device", "transport.switched",
       "\"from\":\"direct\",\"to\":\"relay\",\"reason\":\"latency_high\",\"srtt_ms\":190.8");
  s_ev(f, 16.5, "first_device", "transport.switched",
       "\"from\":\"relay\",\"to\":\"direct\",\"reason\":\"latency_ok\",\"srtt_ms\":41.0");
  for (int seq = 1; seq <= 5; seq++) {
    char fl[128];
    snprintf(fl, sizeof fl, "\"seq\":%d,\"path\":\"direct\",\"resend\":false", seq);
    s_ev(f, 2.0 * seq, "first_device", "fd.record_sent", fl);
    snprintf(fl, sizeof fl, "\"seq\":%d,\"request_id\":1", seq);
    s_ev(f, 2.0 * seq + 0.3, "second", "second.record", fl);
  }
  s_ev(f, 9.6, "first_device", "fd.record_sent", "\"seq\":4,\"path\":\"relay\",\"resend\":true");
  s_ev(f, 9.7, "first_device", "fd.record_sent", "\"seq\":5,\"path\":\"relay\",\"resend\":true");
  s_ev(f, 10.75, "harness", "expect.result",
       "\"name\":\"first_device transport.switched -> relay\",\"index\":0,\"type\":\"event\","
       "\"verdict\":\"PASS\",\"state\":\"matched\",\"observed_us\":10750000,\"deadline_us\":"
       "11000000,\"value\":\"to=relay\",\"text\":\"PASS first_device transport.switched -> "
       "relay at 10.75 s (deadline 11.00 s)\",\"line\":42");
  s_ev(f, 21, "harness", "expect.result",
       "\"name\":\"vehicle_records\",\"index\":1,\"type\":\"check\",\"verdict\":\"PASS\","
       "\"state\":\"matched\",\"observed_us\":-1,\"deadline_us\":-1,\"value\":\"lost=0\","
       "\"text\":\"PASS check vehicle_records (5 sent, 5 delivered)\",\"line\":0");
  s_ev(f, 21.5, "harness", "run.end",
       "\"verdict\":\"PASS\",\"passed\":2,\"failed\":0,\"reason\":\"\",\"duration_s\":21.7");
  fclose(f);
  s_write(dir, "summary.txt",
          "PASS latency-spike  (s/latency.yaml, 21.7 s)\n  2 passed, 0 failed\n");
  s_write(dir, "junit.xml", "<testsuites/>\n");
}

/* Run 2: hostile texts everywhere, a reflash, no transport or records; fails. */
static void s_run_evil(const char *dir) {
  FILE *f = s_timeline(dir);
  s_ev(f, -0.2, "harness", "run.start",
       "\"scenario\":\"" S_EVIL_BASE_JSON "[k=<b>]\",\"file\":\"x.yaml\",\"seed\":7,"
       "\"variant\":\"k=<b>\",\"repeat\":2");
  s_ev(f, 0, "harness", "run.t0", "\"t0_us\":5000000000");
  static const char *const phases[] = {"preparing",    "erasing",    "transferring", "transferring",
                                       "transferring", "activating", "done"};
  static const int pct[] = {0, 0, 10, 50, 90, 100, 100};
  for (int i = 0; i < 7; i++) {
    char fl[160];
    snprintf(fl, sizeof fl, "\"ecu\":\"<ecu>\",\"phase\":\"%s\",\"percent\":%d", phases[i], pct[i]);
    s_ev(f, 2.0 + 3 * i, "first_device", "reflash.phase", fl);
  }
  /* A line that is not JSON: skipped and counted. */
  fputs("{\"t_us\":5000000001,\"proc\":\n", f);
  s_ev(f, 30, "harness", "expect.result",
       "\"name\":\"<img src=x onerror=alert(1)>\",\"index\":0,\"type\":\"final\","
       "\"verdict\":\"FAIL\",\"state\":\"violated\",\"observed_us\":-1,\"deadline_us\":"
       "30000000,\"value\":\"<i>v</i>\",\"text\":\"FAIL <img src=x onerror=alert(1)> was "
       "late\",\"line\":9");
  s_ev(f, 31, "harness", "run.end",
       "\"verdict\":\"FAIL\",\"passed\":0,\"failed\":1,\"reason\":\"</pre><script>x()</script>\","
       "\"duration_s\":31.2");
  fclose(f);
}

/* Run 3: nothing to plot; its summary has bytes that are not UTF-8. */
static void s_run_plain(const char *dir) {
  FILE *f = s_timeline(dir);
  s_ev(f, 0, "harness", "run.start",
       "\"scenario\":\"plain\",\"file\":\"p.yaml\",\"seed\":42,\"variant\":\"\"");
  s_ev(f, 3, "harness", "run.end",
       "\"verdict\":\"FAIL\",\"passed\":0,\"failed\":0,\"reason\":\"\",\"duration_s\":3.0");
  fclose(f);
  s_write(dir, "summary.txt", "FAIL plain  (p.yaml, 3.0 s)\n  bad bytes \xff\xfe \xC0\xAF here\n");
}

/* The suite: three runs and a suite.txt that names them as `duodiag run` did from elsewhere
 * (relative to another working folder, and absolute). */
static void s_make_suite(void) {
  char path[256], text[1024];
  s_run_transport(s_join(path, sizeof path, s_dir, "latency-spike"));
  s_run_evil(s_join(path, sizeof path, s_dir, "evil"));
  s_run_plain(s_join(path, sizeof path, s_dir, "plain"));
  snprintf(text, sizeof text,
           "PASS latency-spike elsewhere/runs/latency-spike\n"
           "FAIL %s[k=<b>] runs/evil\n"
           "FAIL plain %s/plain\n",
           S_EVIL_BASE, s_dir);
  s_write(s_dir, "suite.txt", text);
}

START_TEST(test_report_suite) {
  s_make_suite();
  char report[256];
  dd_report_stats_t st;
  s_report_ok(s_dir, NULL, &st);
  ck_assert_uint_eq(st.runs, 3);
  ck_assert_uint_eq(st.passed, 1);
  ck_assert_uint_eq(st.failed, 2);
  ck_assert_uint_eq(st.not_run, 0);
  ck_assert_uint_eq(st.plots, 4); /* rtt, records, bus load; reflash; none */
  s_join(report, sizeof report, s_dir, "report.html");

  /* Well-formed: libxml2's XML parser takes it whole (every tag closed, every reference
   * known, valid UTF-8 throughout). */
  ck_assert_int_eq(dd_test_xmllint(report), 0);

  char *html = s_slurp(report);
  ck_assert(!strncmp(html, "<!DOCTYPE html>", 15));
  /* One <svg> per plot, with libplot's prolog and fixed ids left out. */
  ck_assert_uint_eq(s_count(html, "<svg"), 4);
  ck_assert_uint_eq(s_count(html, "</svg>"), 4);
  ck_assert_ptr_null(strstr(html, "<?xml"));
  ck_assert_ptr_null(strstr(html, "<!DOCTYPE svg"));
  ck_assert_ptr_null(strstr(html, " id=\"body\""));
  ck_assert_ptr_null(strstr(html, " id=\"content\""));
  /* Nothing from the files became markup. */
  ck_assert_ptr_null(strstr(html, "<script"));
  ck_assert_ptr_null(strstr(html, "<img"));
  ck_assert_ptr_null(strstr(html, "<b>]"));
  ck_assert_ptr_null(strstr(html, "<ecu>"));
  ck_assert_ptr_null(strstr(html, "<i>v"));
  ck_assert_ptr_nonnull(
      strstr(html, "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;"));
  ck_assert_ptr_nonnull(strstr(html, "&lt;ecu&gt;"));  /* the ECU's name in the reflash plot */
  ck_assert_ptr_nonnull(strstr(html, "\xEF\xBF\xBD")); /* the summary's bad bytes */
  ck_assert_ptr_null(strstr(html, "\xff"));

  /* The verdict table: one row per run, in suite order, the hostile name read back intact. */
  const char *row = "//*[local-name()=\"table\"][@class=\"verdicts\"]/*[local-name()=\"tbody\"]"
                    "/*[local-name()=\"tr\"]";
  s_xpath_is(report, "3", "count(%s)", row);
  static const char *const names[] = {"latency-spike", S_EVIL_BASE, "plain"};
  static const char *const verdicts[] = {"PASS", "FAIL", "FAIL"};
  for (int i = 0; i < 3; i++) {
    s_xpath_is(report, names[i], "string(%s[%d]/*[2])", row, i + 1);
    s_xpath_is(report, verdicts[i], "string(%s[%d]/*[4])", row, i + 1);
  }
  s_xpath_is(report, "k=<b>, repeat 2", "string(%s[2]/*[3])", row);
  s_xpath_is(report, "21.7\xC2\xA0s", "string(%s[1]/*[5])", row);
  /* Failed expectations with their text, and the run's own failure. */
  s_xpath_is(report, "FAIL <img src=x onerror=alert(1)> was late",
             "string(%s[2]/*[6]//*[local-name()=\"li\"][1])", row);
  s_xpath_is(report, "run: </pre><script>x()</script>",
             "string(%s[2]/*[6]//*[local-name()=\"li\"][2])", row);
  s_xpath_is(report, "0", "count(%s[1]/*[6]//*[local-name()=\"li\"])", row);

  /* Per run: every expectation with verdict, observed time, value and deadline. */
  const char *exp1 = "//*[@id=\"run-1\"]//*[local-name()=\"table\"]/*[local-name()=\"tbody\"]"
                     "/*[local-name()=\"tr\"]";
  s_xpath_is(report, "2", "count(%s)", exp1);
  static const char *const cells[] = {"1",        "PASS",          NULL, "10.75\xC2\xA0s",
                                      "to=relay", "11.00\xC2\xA0s"};
  for (int c = 0; c < 6; c++) {
    if (cells[c]) s_xpath_is(report, cells[c], "string(%s[1]/*[%d])", exp1, c + 1);
  }
  s_xpath_is(report, "\xE2\x80\x94", "string(%s[2]/*[6])", exp1); /* no deadline: a dash */

  /* Plots where their events are, none where they are not. */
  static const char *const svgs[] = {"3", "1", "0"};
  for (int i = 0; i < 3; i++)
    s_xpath_is(report, svgs[i], "count(//*[@id=\"run-%d\"]//*[local-name()=\"svg\"])", i + 1);
  static const struct {
    int run;           /* run number */
    int fig;           /* figure number within the run */
    const char *title; /* its caption's title */
  } figs[] = {{1, 1, "Direct-path round-trip time"},
              {1, 2, "Vehicle records"},
              {1, 3, "CAN bus load"},
              {2, 1, "Reflash progress"}};
  for (size_t i = 0; i < sizeof figs / sizeof figs[0]; i++)
    s_xpath_is(report, figs[i].title,
               "string((//*[@id=\"run-%d\"]//*[local-name()=\"figcaption\"])[%d]/*[1])",
               figs[i].run, figs[i].fig);
  /* The RTT plot's texts: threshold (from the first device's command line), and the switches
   * labelled with the new path. */
  s_xpath_is(report, "3",
             "count((//*[@id=\"run-1\"]//*[local-name()=\"svg\"])[1]//*[local-name()=\"text\"]"
             "[.=\"threshold 150 ms\" or .=\"relay\" or .=\"direct\"])");
  ck_assert_ptr_nonnull(strstr(html, "fd.record_sent: 5 first transmissions, 2 resends"));
  ck_assert_ptr_nonnull(strstr(html, "second.record: 5)"));
  ck_assert_ptr_nonnull(strstr(html, "1 malformed timeline line skipped"));
  /* The plot axes say their units. */
  ck_assert_ptr_nonnull(strstr(html, ">time since run start (s)</text>"));
  ck_assert_ptr_nonnull(strstr(html, ">round-trip time (ms)</text>"));
  ck_assert_ptr_nonnull(strstr(html, ">CAN bus load (%)</text>"));
  ck_assert_ptr_nonnull(strstr(html, ">reflash progress (%)</text>"));
  ck_assert_ptr_nonnull(strstr(html, "No plot: the run has none of the events plotted"));
  /* Header totals. */
  ck_assert_ptr_nonnull(strstr(html, "<b>3</b> runs: <span class=\"PASS\">1 passed</span>"));
  ck_assert_ptr_nonnull(strstr(html, "2 failed</span>"));
  ck_assert_ptr_nonnull(strstr(html, "seed per run"));
  ck_assert_ptr_nonnull(strstr(html, "date 2023-11-14 22:13:19 UTC"));
  /* Links to the run's files, relative to the report. */
  ck_assert_ptr_nonnull(strstr(html, "href=\"latency-spike/junit.xml\""));
  free(html);
}
END_TEST

START_TEST(test_report_without_suite_txt) {
  char path[256];
  s_mkdir(s_join(path, sizeof path, s_dir, "b"));
  s_run_plain(s_join(path, sizeof path, s_dir, "b/one"));
  s_run_transport(s_join(path, sizeof path, s_dir, "a"));
  dd_report_stats_t st;
  /* The folders holding a timeline are the runs, sorted. */
  s_report_ok(s_dir, NULL, &st);
  ck_assert_uint_eq(st.runs, 2);
  ck_assert_uint_eq(st.plots, 3);
  char *html = s_report(s_dir);
  char *a = strstr(html, "<a href=\"#run-1\">latency-spike</a>");
  char *b = strstr(html, "<a href=\"#run-2\">plain</a>");
  ck_assert(a && b && a < b);
  free(html);
  /* A run folder alone, to a file elsewhere: links go back to the run folder. */
  char run[256], other[256];
  s_join(run, sizeof run, s_dir, "a");
  s_join(other, sizeof other, s_dir, "b/r.html");
  s_report_ok(run, other, &st);
  ck_assert_uint_eq(st.runs, 1);
  ck_assert_uint_eq(st.passed, 1);
  ck_assert_uint_eq(st.plots, 3);
  html = s_slurp(other);
  ck_assert_ptr_nonnull(strstr(html, "href=\"../a/timeline.jsonl\""));
  free(html);
}
END_TEST

START_TEST(test_report_runs_listed) {
  char path[256], missing[256], err[512];
  s_run_transport(s_join(path, sizeof path, s_dir, "latency-spike"));
  s_join(missing, sizeof missing, s_dir, "never-started");
  dd_report_run_t runs[] = {
      {.name = "latency-spike", .run_dir = path, .verdict = DD_REPORT_FAIL, .duration_s = 99},
      {.name = "never-started", .run_dir = missing, .verdict = DD_REPORT_NOTRUN, .duration_s = -1},
  };
  dd_report_stats_t st;
  ck_assert_msg(dd_report_write_runs(s_dir, runs, 2, NULL, &st, err, sizeof err) == 0, "%s", err);
  ck_assert_uint_eq(st.runs, 2);
  ck_assert_uint_eq(st.passed, 0); /* the caller's verdict wins over run.end's */
  ck_assert_uint_eq(st.failed, 1);
  ck_assert_uint_eq(st.not_run, 1);
  char *html = s_report(s_dir);
  ck_assert_ptr_nonnull(strstr(html, "did not run"));
  ck_assert_ptr_nonnull(strstr(html, "No timeline: the run folder does not exist."));
  ck_assert_ptr_nonnull(strstr(html, "21.7&#160;s")); /* the run's own duration */
  free(html);
  ck_assert_int_eq(dd_report_write_runs(s_dir, runs, 0, NULL, NULL, err, sizeof err), DD_EINVAL);
}
END_TEST

START_TEST(test_report_errors) {
  char path[256], err[512];
  /* No such folder. */
  s_join(path, sizeof path, s_dir, "nope");
  ck_assert_int_eq(dd_report_write(path, NULL, NULL, err, sizeof err), DD_ENOENT);
  ck_assert_ptr_nonnull(strstr(err, "expected the --out folder of duodiag run"));
  /* A file. */
  s_write(s_dir, "file", "x\n");
  s_join(path, sizeof path, s_dir, "file");
  ck_assert_int_eq(dd_report_write(path, NULL, NULL, err, sizeof err), DD_EINVAL);
  ck_assert_ptr_nonnull(strstr(err, "not a folder"));
  /* An empty folder: neither a suite nor a run. */
  s_mkdir(s_join(path, sizeof path, s_dir, "empty"));
  ck_assert_int_eq(dd_report_write(path, NULL, NULL, err, sizeof err), DD_EINVAL);
  ck_assert_ptr_nonnull(strstr(err, "no suite.txt, no timeline.jsonl"));
  /* A suite.txt without a run line. */
  s_write(path, "suite.txt", "garbage\n\nOK x y\n");
  ck_assert_int_eq(dd_report_write(path, NULL, NULL, err, sizeof err), DD_EINVAL);
  ck_assert_ptr_nonnull(strstr(err, "no runs listed"));
  /* A report that cannot be written: an error, and no file left behind. */
  s_run_plain(s_join(path, sizeof path, s_dir, "run"));
  char out[256];
  s_join(out, sizeof out, s_dir, "no/such/folder/r.html");
  int rc = dd_report_write(path, out, NULL, err, sizeof err);
  ck_assert_int_eq(rc, -ENOENT);
  ck_assert_ptr_nonnull(strstr(err, "cannot write"));
  /* The target is a folder: the temporary file is written, then cannot take its place. */
  s_join(out, sizeof out, s_dir, "empty");
  ck_assert_int_lt(dd_report_write(path, out, NULL, err, sizeof err), 0);
  ck_assert_ptr_nonnull(strstr(err, "cannot write"));
  snprintf(out, sizeof out, "ls '%s' | grep -q 'empty[.]'", s_dir);
  ck_assert_int_ne(system(out), 0);
  /* A run listed in suite.txt whose folder is gone: reported, with the listed verdict. */
  s_write(s_dir, "suite.txt", "FAIL gone runs/gone\nPASS run runs/run\n");
  dd_report_stats_t st;
  s_report_ok(s_dir, NULL, &st);
  ck_assert_uint_eq(st.runs, 2);
  ck_assert_uint_eq(st.failed, 1);
  ck_assert_uint_eq(st.passed, 1);
  char *html = s_report(s_dir);
  ck_assert_ptr_nonnull(strstr(html, "the run folder does not exist"));
  free(html);
}
END_TEST

/* Values no run produces (huge, negative, far apart in time) still give a finished, well-formed
 * report, every plot on finite axes. */
START_TEST(test_report_extreme_values) {
  char dir[128], path[256];
  s_mkdir(s_join(dir, sizeof dir, s_dir, "x"));
  s_write(dir, "timeline.jsonl",
          "{\"t_us\":0,\"proc\":\"harness\",\"kind\":\"run.t0\",\"t0_us\":-5}\n"
          "{\"t_us\":1,\"proc\":\"fd\",\"kind\":\"transport.rtt\",\"srtt_ms\":1e300,"
          "\"rtt_ms\":-7}\n"
          "{\"t_us\":2,\"proc\":\"fd\",\"kind\":\"transport.rtt\",\"srtt_ms\":1e14}\n"
          "{\"t_us\":3,\"proc\":\"fd\",\"kind\":\"transport.switched\",\"to\":\"relay\"}\n"
          "{\"t_us\":4,\"proc\":\"fd\",\"kind\":\"fd.record_sent\",\"seq\":-3,\"resend\":true}\n"
          "{\"t_us\":5,\"proc\":\"fd\",\"kind\":\"reflash.phase\",\"percent\":1e9}\n"
          "{\"t_us\":6,\"proc\":\"bus\",\"kind\":\"can.busload\",\"load_pct\":-1}\n"
          "{\"t_us\":9223372036854775000,\"proc\":\"bus\",\"kind\":\"can.busload\","
          "\"load_pct\":2}\n"
          "{\"t_us\":9223372036854775001,\"proc\":\"harness\",\"kind\":\"expect.result\","
          "\"verdict\":\"PASS\",\"observed_us\":1e30,\"deadline_us\":-9e18,\"index\":-4}\n");
  dd_report_stats_t st;
  s_report_ok(dir, NULL, &st);
  ck_assert_uint_eq(st.plots, 4);
  ck_assert_int_eq(dd_test_xmllint(s_join(path, sizeof path, dir, "report.html")), 0);
  char *html = s_slurp(path);
  ck_assert_ptr_null(strstr(html, "inf"));
  ck_assert_ptr_null(strstr(html, "nan"));
  free(html);
}
END_TEST

START_TEST(test_html_escape) {
  static const struct {
    const char *in;  /* raw text */
    const char *out; /* as HTML */
  } cases[] = {
      {"a<b>&\"'z", "a&lt;b&gt;&amp;&quot;&#39;z"},
      {"tab\tnl\n", "tab\tnl\n"},
      {"\x01\x1f\x7f", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"},
      {"\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80", "\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"},
      {"\xff", "\xEF\xBF\xBD"},
      {"\xC0\xAF", "\xEF\xBF\xBD\xEF\xBF\xBD"},                 /* overlong '/' (RFC 3629 10) */
      {"\xED\xA0\x80", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"}, /* a surrogate */
      {"\xF4\x90\x80\x80", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"}, /* > U+10FFFF */
      {"\xE2\x82", "\xEF\xBF\xBD\xEF\xBF\xBD"},                                 /* cut short */
      {"\xC2\x85", "\xEF\xBF\xBD\xEF\xBF\xBD"},                                 /* C1 control NEL */
      {"\xEF\xBF\xBE", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"},                 /* U+FFFE */
      {"", ""},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char *e = dd_report_html_escape(cases[i].in);
    ck_assert_ptr_nonnull(e);
    ck_assert_msg(!strcmp(e, cases[i].out), "case %zu: got \"%s\"", i, e);
    free(e);
  }
}
END_TEST

static int s_cli(int argc, const char *const *argv) {
  char *v[8];
  for (int i = 0; i < argc; i++)
    v[i] = (char *)argv[i];
  v[argc] = NULL;
  return dd_cli_report(argc, v);
}

START_TEST(test_cli) {
  char run[256], out[256], missing[256];
  s_run_transport(s_join(run, sizeof run, s_dir, "run"));
  s_join(out, sizeof out, s_dir, "elsewhere.html");
  s_join(missing, sizeof missing, s_dir, "missing");
  const char *ok[] = {"report", run};
  ck_assert_int_eq(s_cli(2, ok), 0);
  char path[300];
  s_join(path, sizeof path, run, "report.html");
  struct stat st;
  ck_assert_int_eq(stat(path, &st), 0);
  const char *to[] = {"report", run, "-o", out};
  ck_assert_int_eq(s_cli(4, to), 0);
  ck_assert_int_eq(stat(out, &st), 0);
  const char *help[] = {"report", "--help"};
  ck_assert_int_eq(s_cli(2, help), 0);
  const char *none[] = {"report"};
  ck_assert_int_eq(s_cli(1, none), 2);
  const char *gone[] = {"report", missing};
  ck_assert_int_eq(s_cli(2, gone), 2);
  const char *bad[] = {"report", "--bogus", run};
  ck_assert_int_eq(s_cli(3, bad), 2);
  const char *noval[] = {"report", run, "-o"};
  ck_assert_int_eq(s_cli(3, noval), 2);
  const char *two[] = {"report", run, run};
  ck_assert_int_eq(s_cli(3, two), 2);
  s_join(out, sizeof out, s_dir, "no/dir/r.html");
  const char *unwritable[] = {"report", run, "--out", out};
  ck_assert_int_eq(s_cli(4, unwritable), 1);
}
END_TEST

static Suite *s_suite(void) {
  Suite *s = suite_create("report");
  TCase *tc = tcase_create("report");
  tcase_add_checked_fixture(tc, s_setup, s_teardown);
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_report_suite);
  tcase_add_test(tc, test_report_without_suite_txt);
  tcase_add_test(tc, test_report_runs_listed);
  tcase_add_test(tc, test_report_errors);
  tcase_add_test(tc, test_report_extreme_values);
  tcase_add_test(tc, test_html_escape);
  tcase_add_test(tc, test_cli);
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
