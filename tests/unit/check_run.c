/* check_run: `duodiag run` end to end, as processes: a virtual bus, a simulated vehicle and a
 * netem link driven by a scenario's timeline (an ECU fault, a link change, a mark), judged by its
 * expectations. Checked: exit 0 for a passing scenario, 1 for a failing one, 2 for an invalid
 * file (with FILE:LINE:COL diagnostics, nothing run), the run folder's files, tag selection and
 * -j 2, and that no process of a run is left alive (the pids of its proc.started events). */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dd_child.h"

static char s_tmp[PATH_MAX]; /* scratch folder of one test */

static const char s_pass_yaml[] =
    "name: faults-pass\n"
    "tags: [smoke, vehicle]\n"
    "seed: 7\n"
    "timeout: 30s\n"
    "vehicle: ecu_models/vehicles/corvan_meridian_2019.yaml\n"
    "parties: {ecus: sim}\n"
    "links:\n"
    "  cloud: {delay: 20ms}\n"
    "timeline:\n"
    "  - at: 0.5s\n"
    "    ecu: {target: ECM, set_dtc: P0301}\n"
    "  - at: 1s\n"
    "    link: {cloud: {delay: 80ms}}\n"
    "  - at: 1.5s\n"
    "    mark: checkpoint\n"
    "  - at: 2.5s\n"
    "    stop: true\n"
    "expect:\n"
    "  - event: ecu.fault\n"
    "    after: 0s\n"
    "    within: 2s\n"
    "  - event: netem.set\n"
    "    delay_ms: 80\n"
    "    after: 1s\n"
    "    within: 1s\n"
    "  - event: scenario.mark\n"
    "    after: 1s\n"
    "    within: 1s\n"
    "  - event: vehicle.state\n"
    "    after: 0s\n"
    "    within: 2.5s\n";

/* An expectation that cannot hold: an ECU fault is injected, and none is allowed. */
static const char s_fail_yaml[] =
    "name: faults-fail\n"
    "tags: [vehicle]\n"
    "timeout: 30s\n"
    "vehicle: ecu_models/vehicles/corvan_meridian_2019.yaml\n"
    "parties: {ecus: sim}\n"
    "timeline:\n"
    "  - at: 0.3s\n"
    "    ecu: {target: ECM, force_nrc: {service: 0x22, nrc: 0x31}}\n"
    "  - at: 1s\n"
    "    stop: true\n"
    "expect:\n"
    "  - never: ecu.fault\n"
    "    between: [0s, end]\n";

static const char s_bad_yaml[] =
    "name: broken\n"
    "timeline:\n"
    "  - at: 1s\n"
    "    ecu: {target: ECM, set_dtc: P0301}\n"
    "  - at: soon\n"
    "    stop: true\n";

static void s_write(const char *dir, const char *name, const char *text) {
  char path[PATH_MAX + 64];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "w");
  ck_assert_ptr_nonnull(f);
  fputs(text, f);
  fclose(f);
}

static void s_setup(void) {
  snprintf(s_tmp, sizeof s_tmp, "/tmp/ddrun-XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(s_tmp));
}

static void s_teardown(void) {
  char cmd[PATH_MAX + 16];
  snprintf(cmd, sizeof cmd, "rm -rf %s", s_tmp);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", s_tmp);
}

/* Run `duodiag run ARGS...` with output to s_tmp/out.txt; its exit code (or -1 on a hang). */
static int s_duodiag(const char *const *args) {
  char exe[PATH_MAX];
  const char *bd = getenv("DD_BUILD_DIR");
  if (bd && *bd) snprintf(exe, sizeof exe, "%s/duodiag", bd);
  else {
    char dir[PATH_MAX];
    ck_assert_ptr_nonnull(dd_child_self_dir(dir, sizeof dir));
    snprintf(exe, sizeof exe, "%s/duodiag", dir);
  }
  char out[PATH_MAX + 16];
  snprintf(out, sizeof out, "%s/out.txt", s_tmp);
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) _exit(99);
    dup2(fd, 1);
    dup2(fd, 2);
    const char *argv[32];
    int n = 0;
    argv[n++] = exe;
    argv[n++] = "run";
    for (int i = 0; args[i] && n < 31; i++) argv[n++] = args[i];
    argv[n] = NULL;
    setenv("DD_SOURCE_DIR", DD_SOURCE_DIR, 0);
    execv(exe, (char *const *)argv);
    _exit(98);
  }
  for (int i = 0; i < 1200; i++) { /* two minutes at most */
    int st;
    if (waitpid(pid, &st, WNOHANG) == pid) return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    struct timespec ts = {0, 100000000};
    nanosleep(&ts, NULL);
  }
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
  return -1;
}

static char *s_slurp(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = malloc((size_t)n + 1);
  ck_assert_ptr_nonnull(buf);
  size_t got = fread(buf, 1, (size_t)n, f);
  buf[got] = 0;
  fclose(f);
  return buf;
}

static char *s_out(void) {
  char path[PATH_MAX + 16];
  snprintf(path, sizeof path, "%s/out.txt", s_tmp);
  char *t = s_slurp(path);
  ck_assert_ptr_nonnull(t);
  return t;
}

static bool s_exists(const char *dir, const char *name) {
  char path[PATH_MAX + 64];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  struct stat st;
  return stat(path, &st) == 0 && st.st_size > 0;
}

/* Every proc.started pid of the run's timeline is gone; returns how many there were. */
static int s_no_process_left(const char *run_dir) {
  char path[PATH_MAX + 32];
  snprintf(path, sizeof path, "%s/timeline.jsonl", run_dir);
  FILE *f = fopen(path, "r");
  ck_assert_msg(f != NULL, "no timeline in %s", run_dir);
  char line[8192];
  int n = 0;
  while (fgets(line, sizeof line, f)) {
    json_t *o = json_loads(line, 0, NULL);
    if (!o) continue;
    const char *kind = json_string_value(json_object_get(o, "kind"));
    if (kind && !strcmp(kind, "proc.started")) {
      json_int_t pid = json_integer_value(json_object_get(o, "pid"));
      ck_assert_int_gt(pid, 0);
      errno = 0;
      int alive = kill((pid_t)pid, 0) == 0 || errno != ESRCH;
      ck_assert_msg(!alive, "process %lld (%s) is still running", (long long)pid,
                    json_string_value(json_object_get(o, "proc")));
      n++;
    }
    json_decref(o);
  }
  fclose(f);
  return n;
}

static int s_count(const char *path, const char *needle) {
  char *t = s_slurp(path);
  ck_assert_msg(t != NULL, "cannot read %s", path);
  int n = 0;
  for (const char *p = t; (p = strstr(p, needle)); p++) n++;
  free(t);
  return n;
}

START_TEST(test_passing_scenario) {
  s_write(s_tmp, "pass.yaml", s_pass_yaml);
  char file[PATH_MAX + 16], out[PATH_MAX + 16], run[PATH_MAX + 64];
  snprintf(file, sizeof file, "%s/pass.yaml", s_tmp);
  snprintf(out, sizeof out, "%s/runs", s_tmp);
  const char *args[] = {file, "--out", out, NULL};
  int rc = s_duodiag(args);
  char *text = s_out();
  ck_assert_msg(rc == 0, "exit %d:\n%s", rc, text);
  ck_assert_ptr_nonnull(strstr(text, "PASS ecu.fault at "));
  ck_assert_ptr_nonnull(strstr(text, "1 passed, 0 failed"));
  free(text);
  snprintf(run, sizeof run, "%s/faults-pass", out);
  ck_assert(s_exists(run, "timeline.jsonl"));
  ck_assert(s_exists(run, "junit.xml"));
  ck_assert(s_exists(run, "summary.txt"));
  ck_assert(s_exists(run, "pass.yaml"));
  ck_assert(s_exists(run, "can.pcap")); /* the pcap header at least; can.log may be empty */
  ck_assert(s_exists(run, "logs/vehicle.log") || s_exists(run, "logs/bus.log"));
  char junit[PATH_MAX + 80], tl[PATH_MAX + 80];
  snprintf(junit, sizeof junit, "%s/junit.xml", run);
  snprintf(tl, sizeof tl, "%s/timeline.jsonl", run);
  ck_assert_int_eq(s_count(junit, "<failure"), 0);
  ck_assert_int_ge(s_count(junit, "<testcase"), 4);
  /* Every step is in the timeline, written by the harness, and so are the verdicts. */
  ck_assert_int_eq(s_count(tl, "\"kind\":\"scenario.step\""), 4);
  ck_assert_int_eq(s_count(tl, "\"kind\":\"scenario.mark\""), 1);
  ck_assert_int_ge(s_count(tl, "\"kind\":\"expect.result\""), 4);
  ck_assert_int_eq(s_count(tl, "\"kind\":\"ecu.fault\""), 1);
  /* bus, vehicle and the cloud link were running, and none is left. */
  ck_assert_int_eq(s_no_process_left(run), 3);
}
END_TEST

START_TEST(test_failing_scenario) {
  s_write(s_tmp, "fail.yaml", s_fail_yaml);
  char file[PATH_MAX + 16], out[PATH_MAX + 16], run[PATH_MAX + 64];
  snprintf(file, sizeof file, "%s/fail.yaml", s_tmp);
  snprintf(out, sizeof out, "%s/runs", s_tmp);
  const char *args[] = {file, "--out", out, "--no-progress", NULL};
  int rc = s_duodiag(args);
  char *text = s_out();
  ck_assert_msg(rc == 1, "exit %d:\n%s", rc, text);
  ck_assert_ptr_nonnull(strstr(text, "FAIL faults-fail"));
  ck_assert_ptr_nonnull(strstr(text, "0 passed, 1 failed"));
  free(text);
  snprintf(run, sizeof run, "%s/faults-fail", out);
  char junit[PATH_MAX + 80];
  snprintf(junit, sizeof junit, "%s/junit.xml", run);
  ck_assert_int_eq(s_count(junit, "<failure"), 1);
  ck_assert_int_eq(s_no_process_left(run), 2);
}
END_TEST

START_TEST(test_invalid_file) {
  s_write(s_tmp, "bad.yaml", s_bad_yaml);
  s_write(s_tmp, "pass.yaml", s_pass_yaml);
  char out[PATH_MAX + 16];
  snprintf(out, sizeof out, "%s/runs", s_tmp);
  const char *args[] = {s_tmp, "--out", out, NULL};
  int rc = s_duodiag(args);
  char *text = s_out();
  ck_assert_msg(rc == 2, "exit %d:\n%s", rc, text);
  /* FILE:LINE:COL of the bad time; the good file did not run either. */
  ck_assert_msg(strstr(text, "bad.yaml:5:") != NULL, "%s", text);
  ck_assert_ptr_nonnull(strstr(text, "nothing was run"));
  free(text);
  struct stat st;
  ck_assert_int_ne(stat(out, &st), 0);
  /* Usage errors are 2 as well. */
  const char *bad_j[] = {s_tmp, "-j", "0", NULL};
  ck_assert_int_eq(s_duodiag(bad_j), 2);
  const char *bad_tags[] = {s_tmp, "--tags", "smoke and", NULL};
  ck_assert_int_eq(s_duodiag(bad_tags), 2);
  const char *missing[] = {"/nonexistent/x.yaml", NULL};
  ck_assert_int_eq(s_duodiag(missing), 2);
}
END_TEST

START_TEST(test_suite_tags_and_jobs) {
  char dir[PATH_MAX + 16], out[PATH_MAX + 16], path[PATH_MAX + 64];
  snprintf(dir, sizeof dir, "%s/sc", s_tmp);
  ck_assert_int_eq(mkdir(dir, 0755), 0);
  s_write(dir, "a-pass.yaml", s_pass_yaml);
  s_write(dir, "b-fail.yaml", s_fail_yaml);
  snprintf(out, sizeof out, "%s/runs", s_tmp);
  /* Only the smoke one: passes. */
  const char *smoke[] = {dir, "--out", out, "--tags", "smoke and not slow", NULL};
  int rc = s_duodiag(smoke);
  char *text = s_out();
  ck_assert_msg(rc == 0, "exit %d:\n%s", rc, text);
  ck_assert_ptr_nonnull(strstr(text, "1 passed, 0 failed"));
  ck_assert_ptr_null(strstr(text, "faults-fail"));
  free(text);
  /* Both, two at once: one fails, so the suite does. */
  const char *both[] = {dir, "--out", out, "-j", "2", NULL};
  rc = s_duodiag(both);
  text = s_out();
  ck_assert_msg(rc == 1, "exit %d:\n%s", rc, text);
  ck_assert_ptr_nonnull(strstr(text, "1 passed, 1 failed"));
  free(text);
  snprintf(path, sizeof path, "%s/suite.txt", out);
  ck_assert_int_eq(s_count(path, "PASS faults-pass"), 1);
  ck_assert_int_eq(s_count(path, "FAIL faults-fail"), 1);
  snprintf(path, sizeof path, "%s/faults-pass", out);
  s_no_process_left(path);
  snprintf(path, sizeof path, "%s/faults-fail", out);
  s_no_process_left(path);
  /* Shard 2/2 of the two variants is the second file only (listed, not run). */
  const char *shard[] = {dir, "--out", out, "--shard", "2/2", "--list", NULL};
  ck_assert_int_eq(s_duodiag(shard), 0);
  text = s_out();
  ck_assert_ptr_nonnull(strstr(text, "faults-fail"));
  ck_assert_ptr_null(strstr(text, "faults-pass"));
  free(text);
}
END_TEST

int main(void) {
  Suite *s = suite_create("run");
  TCase *tc = tcase_create("processes");
  tcase_add_checked_fixture(tc, s_setup, s_teardown);
  tcase_set_timeout(tc, 240);
  tcase_add_test(tc, test_passing_scenario);
  tcase_add_test(tc, test_failing_scenario);
  tcase_add_test(tc, test_invalid_file);
  tcase_add_test(tc, test_suite_tags_and_jobs);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
