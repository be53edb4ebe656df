/* check_proc: the process lifecycle across real processes: readiness only after the timeline
 * collector has subscribed (so no early event is lost), commands and their results, clean stop
 * on the STOP command and on SIGTERM, crash and bad-usage detection with the child's output, and
 * every child reaped. Uses the built duodiag-bus as the child. */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dd_child.h"
#include "dd_err.h"
#include "dd_rig.h"

static int s_count_kind(const char *path, const char *kind) {
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  char line[4096], needle[128];
  snprintf(needle, sizeof needle, "\"kind\":\"%s\"", kind);
  int n = 0;
  while (fgets(line, sizeof line, f))
    if (strstr(line, needle)) n++;
  fclose(f);
  return n;
}

static dd_rig_t *s_rig_with_bus(const char *name) {
  dd_rig_t *rig = NULL;
  ck_assert_int_eq(dd_rig_new(NULL, &rig), 0);
  char ep[256];
  const char *args[] = {"--endpoint", dd_rig_endpoint(rig, name, ep, sizeof ep), NULL};
  ck_assert_int_eq(dd_rig_spawn(rig, name, "bus", args, 10000000), 0);
  return rig;
}

START_TEST(test_ready_events_and_commands) {
  dd_rig_t *rig = s_rig_with_bus("bus");
  dd_loop_t *loop = dd_rig_loop(rig);
  dd_ctl_result_t res;
  ck_assert_int_eq(dd_ctl_call(dd_rig_ctl(rig), loop, "bus", "ping", NULL, NULL, 5000000, &res), 0);
  ck_assert(res.ok);
  ck_assert_str_eq(res.text, "pong");
  /* A fault command the bus knows, and one it does not. */
  ck_assert_int_eq(dd_ctl_call(dd_rig_ctl(rig), loop, "bus", "action", "drop",
                               "{\"id\":\"7E0\",\"count\":2}", 5000000, &res), 0);
  ck_assert_int_eq(dd_ctl_call(dd_rig_ctl(rig), loop, "bus", "action", "levitate", NULL,
                               5000000, &res), DD_ENOTSUP);
  ck_assert(!res.ok);
  ck_assert_int_eq(dd_ctl_call(dd_rig_ctl(rig), loop, "bus", "action", "drop", "{not json",
                               5000000, &res), DD_EINVAL);
  ck_assert_int_eq(dd_rig_stop_all(rig, 5000000), 0); /* STOP -> exit 0 */
  char tl[512];
  snprintf(tl, sizeof tl, "%s/timeline.jsonl", dd_rig_dir(rig));
  /* Everything from the very first event to the last made it into the timeline. */
  ck_assert_int_eq(s_count_kind(tl, "proc.started"), 1);
  ck_assert_int_eq(s_count_kind(tl, "can.bus_up"), 1);
  ck_assert_int_eq(s_count_kind(tl, "proc.ready"), 1);
  ck_assert_int_eq(s_count_kind(tl, "can.fault"), 1);
  ck_assert_int_eq(s_count_kind(tl, "proc.command"), 5);
  ck_assert_int_eq(s_count_kind(tl, "can.bus_summary"), 1);
  ck_assert_int_eq(s_count_kind(tl, "proc.stopped"), 1);
  dd_rig_destroy(&rig);
}
END_TEST

START_TEST(test_sigterm_is_a_clean_stop) {
  dd_rig_t *rig = s_rig_with_bus("bus");
  struct dd_child *c = dd_rig_child(rig, "bus");
  ck_assert_ptr_nonnull(c);
  ck_assert_int_eq(kill(dd_child_pid(c), SIGTERM), 0);
  int code = -1, sig = -1;
  for (int i = 0; i < 500 && !dd_child_exited(c, &code, &sig); i++) usleep(10000);
  ck_assert_int_eq(code, 0);
  ck_assert_int_eq(sig, 0);
  ck_assert_int_eq(dd_rig_check_children(rig), 1); /* it is gone, and was reported */
  char tl[512];
  snprintf(tl, sizeof tl, "%s/timeline.jsonl", dd_rig_dir(rig));
  dd_rig_stop_all(rig, 1000000);
  ck_assert_int_eq(s_count_kind(tl, "proc.signal"), 1);
  ck_assert_int_eq(s_count_kind(tl, "proc.stopped"), 1);
  dd_rig_destroy(&rig);
}
END_TEST

START_TEST(test_bad_usage_and_crash_are_detected) {
  dd_rig_t *rig = NULL;
  ck_assert_int_eq(dd_rig_new(NULL, &rig), 0);
  /* No --endpoint: the bus exits 2 at once and the harness does not wait for the timeout. */
  ck_assert_int_eq(dd_rig_spawn(rig, "bad", "bus", NULL, 20000000), DD_ECHILD_FAILED);
  struct dd_child *c = dd_rig_child(rig, "bad");
  int code = -1;
  ck_assert(dd_child_exited(c, &code, NULL));
  ck_assert_int_eq(code, 2);
  char tail[1024];
  dd_child_tail(c, tail, sizeof tail, 5);
  ck_assert_ptr_nonnull(strstr(tail, "--endpoint is required"));
  /* A running child killed hard is noticed as a crash. */
  char ep[256];
  const char *args[] = {"--endpoint", dd_rig_endpoint(rig, "bus", ep, sizeof ep), NULL};
  ck_assert_int_eq(dd_rig_spawn(rig, "bus", "bus", args, 10000000), 0);
  struct dd_child *b = dd_rig_child(rig, "bus");
  kill(dd_child_pid(b), SIGKILL);
  int sig = 0;
  for (int i = 0; i < 500 && !dd_child_exited(b, NULL, &sig); i++) usleep(10000);
  ck_assert_int_eq(sig, SIGKILL);
  ck_assert_int_eq(dd_rig_check_children(rig), 2);
  ck_assert_int_eq(dd_rig_stop_all(rig, 1000000), 2);
  dd_rig_destroy(&rig);
}
END_TEST

START_TEST(test_missing_executable) {
  dd_rig_t *rig = NULL;
  ck_assert_int_eq(dd_rig_new(NULL, &rig), 0);
  ck_assert_int_eq(dd_rig_spawn(rig, "x", "no-such-party", NULL, 1000000), DD_ENOENT);
  dd_rig_destroy(&rig);
}
END_TEST

int main(void) {
  Suite *s = suite_create("proc");
  TCase *tc = tcase_create("lifecycle");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_ready_events_and_commands);
  tcase_add_test(tc, test_sigterm_is_a_clean_stop);
  tcase_add_test(tc, test_bad_usage_and_crash_are_detected);
  tcase_add_test(tc, test_missing_executable);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
