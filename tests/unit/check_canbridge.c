/* check_canbridge: the bridge between two CAN ports, on two mock ports and a manual clock:
 * forwarding both ways unchanged, no echo loops, error frames kept back, CAN FD towards a
 * classic side dropped and reported once, a full transmit queue waited for in order, overflow
 * and refusals counted; and duodiag-canbridge's own error on a machine without SocketCAN (or,
 * where the kernel has CAN, on an interface that does not exist). */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dd_can.h"
#include "dd_canbridge.h"
#include "dd_canport_mock.h"
#include "dd_child.h"
#include "dd_clock.h"
#include "dd_err.h"
#include "dd_events.h"
#include "dd_loop.h"
#include "dd_rig.h"

typedef struct {
  dd_clock_t clock;    /* manual */
  dd_loop_t *loop;     /* stepped by the test */
  dd_events_t *events; /* to a file */
  dd_canport_t *a, *b; /* mocks, owned by the bridge */
  dd_canbridge_t *br;  /* under test */
  char timeline[128];  /* events file */
} s_env_t;

static void s_up(s_env_t *e, const dd_canport_mock_cfg_t *ma, const dd_canport_mock_cfg_t *mb,
                 bool fd_a, bool fd_b) {
  memset(e, 0, sizeof *e);
  dd_clock_init_manual(&e->clock, 1000000);
  e->loop = dd_loop_new(&e->clock);
  ck_assert_ptr_nonnull(e->loop);
  ck_assert_int_eq(dd_events_new(NULL, "canbridge", &e->clock, NULL, &e->events), 0);
  snprintf(e->timeline, sizeof e->timeline, "/tmp/check_canbridge.%d.jsonl", (int)getpid());
  unlink(e->timeline);
  ck_assert_int_eq(dd_events_open_file(e->events, e->timeline), 0);
  ck_assert_int_eq(dd_canport_mock_new(ma, &e->a), 0);
  ck_assert_int_eq(dd_canport_mock_new(mb, &e->b), 0);
  dd_canbridge_cfg_t cfg = {.name_a = "vbus", .name_b = "vcan0", .fd_a = fd_a, .fd_b = fd_b};
  ck_assert_int_eq(dd_canbridge_new(e->loop, e->events, e->a, e->b, &cfg, &e->br), 0);
  ck_assert_ptr_eq(dd_canbridge_port_a(e->br), e->a);
  ck_assert_ptr_eq(dd_canbridge_port_b(e->br), e->b);
}

static void s_down(s_env_t *e) {
  dd_canbridge_destroy(&e->br);
  dd_events_destroy(&e->events);
  dd_loop_destroy(&e->loop);
  unlink(e->timeline);
}

static void s_run(s_env_t *e) {
  for (int i = 0; i < 8; i++)
    dd_loop_step(e->loop, 0);
}

static void s_expect_sent(dd_canport_t *p, const char *text) {
  dd_can_frame_t got, want;
  ck_assert_int_eq(dd_can_parse(text, &want), 0);
  ck_assert_msg(dd_canport_mock_take_sent(p, &got) == 0, "nothing sent, want %s", text);
  char g[DD_CAN_TEXT_MAX];
  ck_assert_msg(dd_can_frame_equal(&got, &want), "sent %s, want %s",
                dd_can_format(&got, g, sizeof g), text);
}

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

START_TEST(test_forward_both_ways) {
  s_env_t e;
  dd_canport_mock_cfg_t fd = {.opts = {.fd = true}};
  s_up(&e, &fd, &fd, true, true);
  static const char *const frames[] = {"7E0#0210030000000000", "18DAF110#01", "123#R", "7FF#",
                                       "123##300112233445566778899AABBCCDDEEFF"};
  for (size_t i = 0; i < sizeof frames / sizeof frames[0]; i++) {
    ck_assert_int_eq(dd_canport_mock_inject_text(e.a, frames[i]), 0);
    s_run(&e);
    s_expect_sent(e.b, frames[i]);
    ck_assert_uint_eq(dd_canport_mock_sent_count(e.a), 0);
    ck_assert_int_eq(dd_canport_mock_inject_text(e.b, frames[i]), 0);
    s_run(&e);
    s_expect_sent(e.a, frames[i]);
    ck_assert_uint_eq(dd_canport_mock_sent_count(e.b), 0);
  }
  dd_canbridge_stats_t st = dd_canbridge_stats(e.br);
  ck_assert_uint_eq(st.a_to_b.forwarded, 5);
  ck_assert_uint_eq(st.b_to_a.forwarded, 5);
  /* A burst keeps its order. */
  for (int i = 0; i < 50; i++) {
    dd_can_frame_t f = {.id = 0x100 + (uint32_t)i, .len = 1, .data = {(uint8_t)i}};
    ck_assert_int_eq(dd_canport_mock_inject(e.a, &f), 0);
  }
  s_run(&e);
  for (int i = 0; i < 50; i++) {
    dd_can_frame_t f;
    ck_assert_int_eq(dd_canport_mock_take_sent(e.b, &f), 0);
    ck_assert_uint_eq(f.id, 0x100 + (uint32_t)i);
  }
  s_down(&e);
}
END_TEST

START_TEST(test_no_loops) {
  s_env_t e;
  /* Both ports echo what they send (as a port with loopback would): the echoes come back
   * flagged TX and must not travel back. */
  dd_canport_mock_cfg_t echo = {.opts = {.loopback = true}};
  s_up(&e, &echo, &echo, false, false);
  ck_assert_int_eq(dd_canport_mock_inject_text(e.a, "321#CAFE"), 0);
  s_run(&e);
  s_expect_sent(e.b, "321#CAFE");
  s_run(&e);
  ck_assert_uint_eq(dd_canport_mock_sent_count(e.a), 0);
  ck_assert_uint_eq(dd_canport_mock_sent_count(e.b), 0);
  dd_canbridge_stats_t st = dd_canbridge_stats(e.br);
  ck_assert_uint_eq(st.a_to_b.forwarded, 1);
  ck_assert_uint_eq(st.b_to_a.echoes, 1);
  ck_assert_uint_eq(st.b_to_a.forwarded, 0);
  s_down(&e);
}
END_TEST

START_TEST(test_error_and_fd_frames) {
  s_env_t e;
  dd_canport_mock_cfg_t a = {.opts = {.fd = true, .err_frames = true}};
  dd_canport_mock_cfg_t b = {.opts = {.fd = false}};
  s_up(&e, &a, &b, true, false);
  dd_can_frame_t err = {.id = 0x4, .flags = DD_CAN_F_ERR, .len = 8};
  ck_assert_int_eq(dd_canport_mock_inject(e.a, &err), 0);
  ck_assert_int_eq(dd_canport_mock_inject_text(e.a, "123##1AABB"), 0);
  ck_assert_int_eq(dd_canport_mock_inject_text(e.a, "124##0"), 0);
  ck_assert_int_eq(dd_canport_mock_inject_text(e.a, "125#01"), 0);
  s_run(&e);
  s_expect_sent(e.b, "125#01");
  ck_assert_uint_eq(dd_canport_mock_sent_count(e.b), 0);
  dd_canbridge_stats_t st = dd_canbridge_stats(e.br);
  ck_assert_uint_eq(st.a_to_b.err_frames, 1);
  ck_assert_uint_eq(st.a_to_b.no_fd, 2);
  ck_assert_uint_eq(st.a_to_b.forwarded, 1);
  ck_assert_int_eq(s_count_kind(e.timeline, "canbridge.drop"), 1); /* reported once */
  /* The periodic stats event carries the counts (only when they changed). */
  dd_clock_advance_us(&e.clock, 1000000);
  s_run(&e);
  ck_assert_int_eq(s_count_kind(e.timeline, "canbridge.stats"), 1);
  dd_clock_advance_us(&e.clock, 1000000);
  s_run(&e);
  ck_assert_int_eq(s_count_kind(e.timeline, "canbridge.stats"), 1);
  s_down(&e);
}
END_TEST

START_TEST(test_full_queue_waits_in_order) {
  s_env_t e;
  dd_canport_mock_cfg_t b = {.tx_limit = 2};
  s_up(&e, NULL, &b, false, false);
  for (int i = 0; i < 6; i++) {
    dd_can_frame_t f = {.id = 0x200 + (uint32_t)i, .len = 1, .data = {(uint8_t)i}};
    ck_assert_int_eq(dd_canport_mock_inject(e.a, &f), 0);
  }
  s_run(&e);
  int next = 0;
  for (int round = 0; round < 3; round++) {
    ck_assert_uint_eq(dd_canport_mock_sent_count(e.b), 2);
    dd_can_frame_t f;
    while (dd_canport_mock_take_sent(e.b, &f) == 0)
      ck_assert_uint_eq(f.id, 0x200 + (uint32_t)next++);
    dd_clock_advance_us(&e.clock, 1000); /* the retry timer */
    s_run(&e);
  }
  ck_assert_int_eq(next, 6);
  dd_canbridge_stats_t st = dd_canbridge_stats(e.br);
  ck_assert_uint_eq(st.a_to_b.forwarded, 6);
  ck_assert_uint_eq(st.a_to_b.retried, 4);
  ck_assert_uint_eq(st.a_to_b.overflow, 0);
  s_down(&e);
}
END_TEST

START_TEST(test_overflow_and_refusal) {
  s_env_t e;
  dd_canport_mock_cfg_t b = {.tx_limit = 1};
  s_up(&e, NULL, &b, false, false);
  int total = DD_CANBRIDGE_QUEUE + 1 + 5;
  for (int i = 0; i < total; i++) {
    dd_can_frame_t f = {.id = 0x300, .len = 2, .data = {(uint8_t)(i >> 8), (uint8_t)i}};
    ck_assert_int_eq(dd_canport_mock_inject(e.a, &f), 0);
  }
  for (int i = 0; i < 20; i++)
    dd_loop_step(e.loop, 0);
  dd_canbridge_stats_t st = dd_canbridge_stats(e.br);
  ck_assert_uint_eq(st.a_to_b.forwarded, 1);
  ck_assert_uint_eq(st.a_to_b.overflow, 5);
  ck_assert_int_eq(s_count_kind(e.timeline, "canbridge.drop"), 1);
  s_down(&e);

  /* A frame the other side refuses (not "queue full") is counted; the next one goes on. */
  s_up(&e, NULL, NULL, false, false);
  dd_canport_mock_fault_t fault = {
      .dir = DD_CANPORT_MOCK_TX, .kind = DD_CANPORT_MOCK_FAIL, .nth = 1, .error = DD_ENETDOWN};
  ck_assert_int_eq(dd_canport_mock_add_fault(e.b, &fault), 0);
  ck_assert_int_eq(dd_canport_mock_inject_text(e.a, "101#01"), 0);
  ck_assert_int_eq(dd_canport_mock_inject_text(e.a, "102#02"), 0);
  s_run(&e);
  s_expect_sent(e.b, "102#02");
  st = dd_canbridge_stats(e.br);
  ck_assert_uint_eq(st.a_to_b.tx_errors, 1);
  ck_assert_uint_eq(st.a_to_b.forwarded, 1);
  s_down(&e);
}
END_TEST

/* ---- the process ---- */

static bool s_kernel_has_can(void) {
  int fd = socket(29 /* PF_CAN */, SOCK_RAW, 1 /* CAN_RAW */);
  if (fd >= 0) close(fd);
  return fd >= 0;
}

START_TEST(test_process_without_can) {
  dd_rig_t *rig = NULL;
  ck_assert_int_eq(dd_rig_new(NULL, &rig), 0);
  char ep[256];
  dd_rig_endpoint(rig, "bus", ep, sizeof ep);
  bool can = s_kernel_has_can();
  /* Without SocketCAN in the kernel: exit 1 with the advice. With it: this interface does not
   * exist, which is bad input (exit 2). */
  const char *args[] = {"--bus", ep, "--can", can ? "ddnosuch0" : "vcan0", NULL};
  ck_assert_int_eq(dd_rig_spawn(rig, "bridge", "canbridge", args, 5 * DD_US_PER_S),
                   DD_ECHILD_FAILED);
  int code = -1;
  ck_assert(dd_child_exited(dd_rig_child(rig, "bridge"), &code, NULL));
  char tail[2048];
  dd_child_tail(dd_rig_child(rig, "bridge"), tail, sizeof tail, 10);
  if (can) {
    ck_assert_int_eq(code, 2);
    ck_assert_msg(strstr(tail, "no network interface \"ddnosuch0\""), "%s", tail);
  } else {
    ck_assert_int_eq(code, 1);
    ck_assert_msg(strstr(tail, "this kernel has no SocketCAN; run the bridge on a machine with "
                               "a CAN interface or vcan"),
                  "%s", tail);
  }
  dd_rig_stop_all(rig, DD_US_PER_S);
  dd_rig_destroy(&rig);
}
END_TEST

START_TEST(test_process_usage) {
  char exe[4096], cmd[4200], out[4096];
  ck_assert_int_eq(dd_child_find_exe("canbridge", exe, sizeof exe), 0);
  snprintf(cmd, sizeof cmd, "%s --help", exe);
  FILE *p = popen(cmd, "r");
  ck_assert_ptr_nonnull(p);
  size_t n = fread(out, 1, sizeof out - 1, p);
  out[n] = '\0';
  ck_assert_int_eq(pclose(p), 0);
  ck_assert(strstr(out, "usage: duodiag-canbridge --bus EP --can IFACE [--fd]"));
  ck_assert(strstr(out, "Common options:"));
  snprintf(cmd, sizeof cmd, "%s --bus ipc:///tmp/x 2>/dev/null", exe); /* no --can */
  p = popen(cmd, "r");
  ck_assert_ptr_nonnull(p);
  int st = pclose(p);
  ck_assert(WIFEXITED(st));
  ck_assert_int_eq(WEXITSTATUS(st), 2);
}
END_TEST

int main(void) {
  Suite *s = suite_create("canbridge");
  TCase *tc = tcase_create("bridge");
  tcase_add_test(tc, test_forward_both_ways);
  tcase_add_test(tc, test_no_loops);
  tcase_add_test(tc, test_error_and_fd_frames);
  tcase_add_test(tc, test_full_queue_waits_in_order);
  tcase_add_test(tc, test_overflow_and_refusal);
  suite_add_tcase(s, tc);
  TCase *tp = tcase_create("process");
  tcase_set_timeout(tp, 30);
  tcase_add_test(tp, test_process_without_can);
  tcase_add_test(tp, test_process_usage);
  suite_add_tcase(s, tp);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
