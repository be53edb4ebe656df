/* check_loop: the event loop's timers (order, deadlines, periodic grid, cancel, move) through a
 * manual clock; readers on ZeroMQ sockets and fds; the real clock's timerfd precision. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <zmq.h>

#include "dd_clock.h"
#include "dd_err.h"
#include "dd_loop.h"

typedef struct {
  int order[64];       /* tags in firing order */
  uint64_t at[64];     /* loop "now" at each firing */
  int n;               /* firings */
  int cancel_id;       /* a timer to cancel from inside a handler */
} s_log_t;

static s_log_t s_log;

static int s_tag_of(void *arg) { return (int)(intptr_t)arg; }

static int s_record(dd_loop_t *loop, int id, void *arg) {
  if (s_log.n < 64) {
    s_log.order[s_log.n] = s_tag_of(arg);
    s_log.at[s_log.n] = dd_loop_now(loop);
    s_log.n++;
  }
  if (s_log.cancel_id) {
    dd_loop_timer_cancel(loop, s_log.cancel_id);
    s_log.cancel_id = 0;
  }
  return 0;
}

static void s_reset(void) { memset(&s_log, 0, sizeof s_log); }

START_TEST(test_timers_fire_in_deadline_order) {
  s_reset();
  dd_clock_t clk;
  dd_clock_init_manual(&clk, 1000);
  dd_loop_t *loop = dd_loop_new(&clk);
  ck_assert_int_gt(dd_loop_timer_at(loop, 5000, s_record, (void *)3), 0);
  ck_assert_int_gt(dd_loop_timer_at(loop, 2000, s_record, (void *)1), 0);
  ck_assert_int_gt(dd_loop_timer_at(loop, 3000, s_record, (void *)2), 0);
  ck_assert_int_gt(dd_loop_timer_at(loop, 3000, s_record, (void *)22), 0); /* tie: creation */
  ck_assert_uint_eq(dd_loop_next_deadline(loop), 2000);

  ck_assert_int_eq(dd_loop_step(loop, 0), 0);
  ck_assert_int_eq(s_log.n, 0); /* nothing due at 1000 */
  dd_clock_set_us(&clk, 1999);
  dd_loop_step(loop, 0);
  ck_assert_int_eq(s_log.n, 0); /* one microsecond early: still nothing */
  dd_clock_set_us(&clk, 3000);
  dd_loop_step(loop, 0);
  ck_assert_int_eq(s_log.n, 3);
  ck_assert_int_eq(s_log.order[0], 1);
  ck_assert_int_eq(s_log.order[1], 2);
  ck_assert_int_eq(s_log.order[2], 22);
  ck_assert_uint_eq(s_log.at[0], 3000);
  dd_clock_set_us(&clk, 10000);
  dd_loop_step(loop, 0);
  ck_assert_int_eq(s_log.n, 4);
  ck_assert_int_eq(s_log.order[3], 3);
  ck_assert_uint_eq(dd_loop_next_deadline(loop), DD_NEVER);
  dd_loop_destroy(&loop);
  ck_assert_ptr_null(loop);
}
END_TEST

START_TEST(test_periodic_grid_does_not_drift) {
  s_reset();
  dd_clock_t clk;
  dd_clock_init_manual(&clk, 0);
  dd_loop_t *loop = dd_loop_new(&clk);
  int id = dd_loop_timer_every(loop, 100, s_record, (void *)7);
  ck_assert_int_gt(id, 0);
  /* Late passes (at 130, 260) must not shift the grid: next deadlines stay 200, 300. */
  dd_clock_set_us(&clk, 130);
  dd_loop_step(loop, 0);
  ck_assert_uint_eq(dd_loop_next_deadline(loop), 200);
  dd_clock_set_us(&clk, 260);
  dd_loop_step(loop, 0);
  ck_assert_uint_eq(dd_loop_next_deadline(loop), 300);
  /* A long stall skips missed grid points instead of firing a burst. */
  dd_clock_set_us(&clk, 1050);
  dd_loop_step(loop, 0);
  ck_assert_int_eq(s_log.n, 3);
  ck_assert_uint_eq(dd_loop_next_deadline(loop), 1100);
  dd_loop_timer_cancel(loop, id);
  ck_assert_uint_eq(dd_loop_next_deadline(loop), DD_NEVER);
  ck_assert_int_eq(dd_loop_timer_every(loop, 0, s_record, NULL), DD_EINVAL);
  dd_loop_destroy(&loop);
}
END_TEST

START_TEST(test_cancel_and_move) {
  s_reset();
  dd_clock_t clk;
  dd_clock_init_manual(&clk, 0);
  dd_loop_t *loop = dd_loop_new(&clk);
  dd_loop_timer_at(loop, 10, s_record, (void *)1);
  int b = dd_loop_timer_at(loop, 20, s_record, (void *)2);
  int c = dd_loop_timer_at(loop, 30, s_record, (void *)3);
  s_log.cancel_id = b; /* the first handler cancels timer b, due in the same pass */
  ck_assert_int_eq(dd_loop_timer_move(loop, c, 5), 0);
  dd_clock_set_us(&clk, 100);
  dd_loop_step(loop, 0);
  ck_assert_int_eq(s_log.n, 2);
  ck_assert_int_eq(s_log.order[0], 3); /* moved to 5 */
  ck_assert_int_eq(s_log.order[1], 1);
  ck_assert_int_eq(dd_loop_timer_move(loop, b, 50), DD_ENOENT);
  dd_loop_timer_cancel(loop, 12345); /* unknown: no-op */
  dd_loop_destroy(&loop);
}
END_TEST

static int s_rearm(dd_loop_t *loop, int id, void *arg) {
  s_record(loop, id, arg);
  dd_loop_timer_after(loop, 0, s_record, (void *)99); /* due now, but must wait a pass */
  return 0;
}

START_TEST(test_timer_made_in_handler_waits_a_pass) {
  s_reset();
  dd_clock_t clk;
  dd_clock_init_manual(&clk, 0);
  dd_loop_t *loop = dd_loop_new(&clk);
  dd_loop_timer_at(loop, 1, s_rearm, (void *)1);
  dd_clock_set_us(&clk, 5);
  dd_loop_step(loop, 0);
  ck_assert_int_eq(s_log.n, 1);
  dd_loop_step(loop, 0);
  ck_assert_int_eq(s_log.n, 2);
  ck_assert_int_eq(s_log.order[1], 99);
  dd_loop_destroy(&loop);
}
END_TEST

START_TEST(test_deadline_follows_a_moving_target) {
  s_reset();
  dd_clock_t clk;
  dd_clock_init_manual(&clk, 100);
  dd_loop_t *loop = dd_loop_new(&clk);
  dd_loop_deadline_t d = {0};
  dd_loop_deadline_set(loop, &d, 500, s_record, (void *)1);
  int first = d.id;
  ck_assert_int_gt(first, 0);
  dd_loop_deadline_set(loop, &d, 500, s_record, (void *)1); /* unchanged: same timer */
  ck_assert_int_eq(d.id, first);
  dd_loop_deadline_set(loop, &d, 300, s_record, (void *)1); /* moved earlier */
  ck_assert_uint_eq(dd_loop_next_deadline(loop), 300);
  dd_loop_deadline_set(loop, &d, 50, s_record, (void *)1); /* past: clamped to now */
  ck_assert_uint_eq(dd_loop_next_deadline(loop), 100);
  dd_loop_step(loop, 0);
  ck_assert_int_eq(s_log.n, 1);
  ck_assert_uint_eq(dd_loop_next_deadline(loop), DD_NEVER); /* one timer only, now fired */
  dd_loop_deadline_set(loop, &d, 900, s_record, (void *)1); /* fired: armed again */
  ck_assert_uint_eq(dd_loop_next_deadline(loop), 900);
  dd_loop_deadline_set(loop, &d, DD_NEVER, s_record, (void *)1);
  ck_assert_uint_eq(dd_loop_next_deadline(loop), DD_NEVER);
  ck_assert_int_eq(d.id, 0);
  dd_loop_destroy(&loop);
}
END_TEST

static int s_stop_with(dd_loop_t *loop, int id, void *arg) { return s_tag_of(arg); }

START_TEST(test_handler_error_stops_run) {
  dd_clock_t clk;
  dd_clock_init_real(&clk);
  dd_loop_t *loop = dd_loop_new(&clk);
  dd_loop_timer_after(loop, 1000, s_stop_with, (void *)(intptr_t)DD_EPROTO);
  ck_assert_int_eq(dd_loop_run(loop), DD_EPROTO);
  dd_loop_destroy(&loop);
}
END_TEST

typedef struct {
  int got;        /* messages read */
  int fd_reads;   /* eventfd reads */
} s_io_t;

static int s_on_zsock(dd_loop_t *loop, void *zsock, int fd, void *arg) {
  s_io_t *io = arg;
  char buf[16];
  while (zmq_recv(zsock, buf, sizeof buf, ZMQ_DONTWAIT) >= 0) io->got++;
  if (io->got == 3) dd_loop_remove_zsock(loop, zsock);
  return 0;
}

static int s_on_fd(dd_loop_t *loop, void *zsock, int fd, void *arg) {
  s_io_t *io = arg;
  uint64_t v;
  ck_assert_ptr_null(zsock);
  if (read(fd, &v, sizeof v) == sizeof v) io->fd_reads++;
  dd_loop_stop(loop);
  return 0;
}

START_TEST(test_readers_zsock_and_fd) {
  void *ctx = zmq_ctx_new();
  void *a = zmq_socket(ctx, ZMQ_PAIR), *b = zmq_socket(ctx, ZMQ_PAIR);
  ck_assert_int_eq(zmq_bind(a, "inproc://loop-test"), 0);
  ck_assert_int_eq(zmq_connect(b, "inproc://loop-test"), 0);
  int efd = eventfd(0, EFD_NONBLOCK);
  dd_clock_t clk;
  dd_clock_init_real(&clk);
  dd_loop_t *loop = dd_loop_new(&clk);
  s_io_t io = {0};
  ck_assert_int_eq(dd_loop_add_zsock(loop, a, s_on_zsock, &io), 0);
  ck_assert_int_eq(dd_loop_add_fd(loop, efd, s_on_fd, &io), 0);
  for (int i = 0; i < 3; i++) zmq_send(b, "x", 1, 0);
  for (int i = 0; i < 10 && io.got < 3; i++) dd_loop_step(loop, 100 * DD_US_PER_MS);
  ck_assert_int_eq(io.got, 3);
  zmq_send(b, "y", 1, 0); /* the reader is removed: this one stays queued */
  uint64_t one = 1;
  ck_assert_int_eq(write(efd, &one, sizeof one), sizeof one);
  ck_assert_int_eq(dd_loop_run(loop), 0);
  ck_assert_int_eq(io.fd_reads, 1);
  ck_assert_int_eq(io.got, 3);
  dd_loop_stats_t st = dd_loop_stats(loop);
  ck_assert_uint_ge(st.reader_calls, 2);
  dd_loop_destroy(&loop);
  close(efd);
  zmq_close(a);
  zmq_close(b);
  zmq_ctx_term(ctx);
}
END_TEST

static int s_at_wakeup(dd_loop_t *loop, int id, void *arg) {
  uint64_t *late = arg;
  *late = dd_clock_now_us(dd_loop_clock(loop));
  dd_loop_stop(loop);
  return 0;
}

START_TEST(test_real_clock_submillisecond_deadline) {
  /* zmq_poll alone would round a 300 us wait to 1 ms; the timerfd must wake us near 300 us and
   * never before. The upper bound is generous (shared machine); the lower one is exact. */
  dd_clock_t clk;
  dd_clock_init_real(&clk);
  dd_loop_t *loop = dd_loop_new(&clk);
  int woke_early = 0, near = 0;
  for (int i = 0; i < 20; i++) {
    uint64_t deadline = dd_clock_now_us(&clk) + 300, woke = 0;
    dd_loop_timer_at(loop, deadline, s_at_wakeup, &woke);
    dd_loop_run(loop);
    if (woke < deadline) woke_early++;
    if (woke - deadline < 700) near++;
  }
  ck_assert_int_eq(woke_early, 0);
  ck_assert_int_ge(near, 10); /* most wake-ups well inside a millisecond */
  dd_loop_destroy(&loop);
}
END_TEST

int main(void) {
  Suite *s = suite_create("loop");
  TCase *tc = tcase_create("timers");
  tcase_add_test(tc, test_timers_fire_in_deadline_order);
  tcase_add_test(tc, test_periodic_grid_does_not_drift);
  tcase_add_test(tc, test_cancel_and_move);
  tcase_add_test(tc, test_timer_made_in_handler_waits_a_pass);
  tcase_add_test(tc, test_deadline_follows_a_moving_target);
  tcase_add_test(tc, test_handler_error_stops_run);
  suite_add_tcase(s, tc);
  TCase *io = tcase_create("io");
  tcase_add_test(io, test_readers_zsock_and_fd);
  tcase_add_test(io, test_real_clock_submillisecond_deadline);
  suite_add_tcase(s, io);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
