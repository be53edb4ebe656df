/* check_canport_mock: the mock CAN port: queues, clock, poll fd and Nth-frame fault sweeps. */
#include <check.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "dd_can.h"
#include "dd_canport.h"
#include "dd_canport_mock.h"
#include "dd_err.h"

static dd_canport_t *s_port(bool fd, bool loopback, bool err_frames) {
  dd_canport_mock_cfg_t cfg = {.opts = {.fd = fd, .loopback = loopback, .err_frames = err_frames}};
  dd_canport_t *p = NULL;
  ck_assert_int_eq(dd_canport_mock_new(&cfg, &p), 0);
  ck_assert_ptr_nonnull(p);
  return p;
}

static bool s_readable(dd_canport_t *p) {
  struct pollfd pfd = {.fd = dd_canport_poll_fd(p), .events = POLLIN};
  int n = poll(&pfd, 1, 0);
  ck_assert_int_ge(n, 0);
  return n == 1 && (pfd.revents & POLLIN);
}

static dd_can_frame_t s_frame(const char *text) {
  dd_can_frame_t f;
  ck_assert_int_eq(dd_can_parse(text, &f), 0);
  return f;
}

/* Frame k of a sweep: id 0x7E0, first byte k. */
static dd_can_frame_t s_numbered(unsigned k) {
  dd_can_frame_t f = s_frame("7E0#0011223344556677");
  f.data[0] = (uint8_t)k;
  return f;
}

START_TEST(test_basic_send_recv) {
  dd_canport_t *p = NULL;
  ck_assert_int_eq(dd_canport_mock_new(NULL, &p), 0);
  ck_assert_str_eq(dd_canport_kind(p), "mock");
  ck_assert_int_ge(dd_canport_poll_fd(p), 0);
  ck_assert_ptr_null(dd_canport_poll_zsock(p));
  ck_assert(!s_readable(p));

  dd_can_frame_t f;
  ck_assert_int_eq(dd_canport_recv(p, &f), DD_EAGAIN);
  dd_canport_mock_set_now(p, 1000);
  ck_assert_uint_eq(dd_canport_mock_now(p), 1000);
  ck_assert_int_eq(dd_canport_mock_inject_text(p, "7E8#0462F19031"), 0);
  ck_assert_int_eq(dd_canport_mock_inject_text(p, "7E8#1"), DD_EILSEQ);
  ck_assert_uint_eq(dd_canport_mock_rx_pending(p), 1);
  ck_assert(s_readable(p));
  ck_assert_int_eq(dd_canport_recv(p, &f), 0);
  dd_can_frame_t want = s_frame("7E8#0462F19031");
  ck_assert(dd_can_frame_equal(&f, &want));
  ck_assert_uint_eq(f.ts_us, 1000);
  ck_assert(!s_readable(p));
  ck_assert_int_eq(dd_canport_recv(p, &f), DD_EAGAIN);

  dd_can_frame_t out = s_frame("7E0#0322F190");
  ck_assert_int_eq(dd_canport_send(p, &out), 0);
  ck_assert_uint_eq(dd_canport_mock_sent_count(p), 1);
  ck_assert_int_eq(dd_canport_mock_take_sent(p, &f), 0);
  ck_assert(dd_can_frame_equal(&f, &out));
  ck_assert_uint_eq(f.ts_us, 1000);
  ck_assert_int_eq(dd_canport_mock_take_sent(p, &f), DD_EAGAIN);
  ck_assert(!s_readable(p)); /* no loopback */
  ck_assert_uint_eq(dd_canport_mock_tx_calls(p), 1);
  ck_assert_uint_eq(dd_canport_mock_rx_calls(p), 1);

  dd_canport_mock_set_now(p, 10); /* time does not go back */
  ck_assert_uint_eq(dd_canport_mock_now(p), 1000);
  ck_assert_uint_eq(dd_canport_mock_next_due(p), UINT64_MAX);
  dd_canport_destroy(&p);
  ck_assert_ptr_null(p);
}
END_TEST

START_TEST(test_refusals_and_limits) {
  dd_canport_t *p = s_port(false, false, false);
  dd_can_frame_t fd = s_frame("123##1AABB");
  ck_assert_int_eq(dd_canport_send(p, &fd), DD_ECAN_NOFD);
  ck_assert_int_eq(dd_canport_mock_inject(p, &fd), DD_ECAN_NOFD);
  dd_can_frame_t bad = s_frame("123#00");
  bad.len = 9;
  ck_assert_int_eq(dd_canport_send(p, &bad), DD_ECAN_FRAME);
  ck_assert_int_eq(dd_canport_mock_inject(p, &bad), DD_ECAN_FRAME);
  dd_can_frame_t err = s_frame("20000004#0004000000000000");
  ck_assert_int_eq(dd_canport_send(p, &err), DD_ECAN_FRAME);
  ck_assert_int_eq(dd_canport_mock_inject(p, &err), 0); /* filtered: no err_frames */
  ck_assert_uint_eq(dd_canport_mock_rx_pending(p), 0);
  ck_assert_uint_eq(dd_canport_mock_tx_calls(p), 0);
  dd_canport_destroy(&p);

  p = s_port(true, false, true);
  ck_assert_int_eq(dd_canport_send(p, &fd), 0);
  ck_assert_int_eq(dd_canport_mock_inject(p, &err), 0);
  dd_can_frame_t f;
  ck_assert_int_eq(dd_canport_recv(p, &f), 0);
  ck_assert(dd_can_frame_equal(&f, &err));
  dd_canport_destroy(&p);

  dd_canport_mock_cfg_t cfg = {.rx_limit = 2, .tx_limit = 3};
  ck_assert_int_eq(dd_canport_mock_new(&cfg, &p), 0);
  dd_can_frame_t c = s_frame("111#01");
  for (int i = 0; i < 3; i++)
    ck_assert_int_eq(dd_canport_send(p, &c), 0);
  ck_assert_int_eq(dd_canport_send(p, &c), DD_ENOSPC);
  ck_assert_int_eq(dd_canport_mock_take_sent(p, &f), 0);
  ck_assert_int_eq(dd_canport_send(p, &c), 0);
  for (int i = 0; i < 2; i++)
    ck_assert_int_eq(dd_canport_mock_inject(p, &c), 0);
  ck_assert_int_eq(dd_canport_mock_inject(p, &c), DD_ENOSPC);
  dd_canport_destroy(&p);
}
END_TEST

START_TEST(test_loopback_echo) {
  dd_canport_t *p = s_port(false, true, false);
  dd_canport_mock_set_now(p, 5);
  dd_can_frame_t out = s_frame("7E0#3E00");
  ck_assert_int_eq(dd_canport_send(p, &out), 0);
  ck_assert(s_readable(p));
  dd_can_frame_t f;
  ck_assert_int_eq(dd_canport_recv(p, &f), 0);
  ck_assert(dd_can_frame_equal(&f, &out));
  ck_assert(f.flags & DD_CAN_F_TX);
  ck_assert_uint_eq(f.ts_us, 5);
  ck_assert_int_eq(dd_canport_mock_take_sent(p, &f), 0);
  ck_assert(!(f.flags & DD_CAN_F_TX));
  dd_canport_destroy(&p);
}
END_TEST

/* Send `count` numbered frames with one fault armed on frame n; return how many showed. */
static size_t s_sweep_tx(dd_canport_t *p, unsigned count, dd_can_frame_t *shown) {
  for (unsigned k = 1; k <= count; k++) {
    dd_can_frame_t f = s_numbered(k);
    ck_assert_int_eq(dd_canport_send(p, &f), 0);
  }
  size_t n = 0;
  while (dd_canport_mock_take_sent(p, &shown[n]) == 0)
    n++;
  return n;
}

START_TEST(test_sweep_drop) {
  for (unsigned n = 1; n <= 6; n++) {
    dd_canport_t *p = s_port(false, true, false);
    dd_canport_mock_fault_t fl = {
        .dir = DD_CANPORT_MOCK_TX, .kind = DD_CANPORT_MOCK_DROP, .nth = n};
    ck_assert_int_eq(dd_canport_mock_add_fault(p, &fl), 0);
    dd_can_frame_t shown[16];
    size_t got = s_sweep_tx(p, 6, shown);
    ck_assert_uint_eq(got, 5);
    for (size_t i = 0, k = 1; i < got; i++, k++) {
      if (k == n) k++;
      ck_assert_uint_eq(shown[i].data[0], k);
    }
    ck_assert_uint_eq(dd_canport_mock_tx_calls(p), 6);
    ck_assert_uint_eq(dd_canport_mock_rx_pending(p), 5); /* the echo is lost as well */
    /* Fires once: the next frames pass. */
    got = s_sweep_tx(p, 6, shown);
    ck_assert_uint_eq(got, 6);
    dd_canport_destroy(&p);
  }
}
END_TEST

START_TEST(test_sweep_corrupt) {
  for (unsigned n = 1; n <= 5; n++)
    for (uint32_t bit = 0; bit < 80; bit += 7) {
      dd_canport_t *p = s_port(false, false, false);
      dd_canport_mock_fault_t fl = {
          .dir = DD_CANPORT_MOCK_TX, .kind = DD_CANPORT_MOCK_CORRUPT, .nth = n, .bit = bit};
      ck_assert_int_eq(dd_canport_mock_add_fault(p, &fl), 0);
      dd_can_frame_t shown[16];
      ck_assert_uint_eq(s_sweep_tx(p, 5, shown), 5);
      for (unsigned k = 1; k <= 5; k++) {
        dd_can_frame_t want = s_numbered(k);
        if (k != n) {
          ck_assert(dd_can_frame_equal(&shown[k - 1], &want));
          continue;
        }
        /* Exactly the payload bit bit mod 64 (MSB of byte 0 first) differs. */
        uint32_t b = bit % 64;
        want.data[b / 8] ^= (uint8_t)(0x80u >> (b % 8));
        ck_assert_msg(dd_can_frame_equal(&shown[k - 1], &want), "n=%u bit=%u", n, bit);
      }
      dd_canport_destroy(&p);
    }
  /* Without payload the identifier takes the hit. */
  dd_canport_t *p = s_port(false, false, false);
  dd_canport_mock_fault_t fl = {
      .dir = DD_CANPORT_MOCK_TX, .kind = DD_CANPORT_MOCK_CORRUPT, .nth = 1, .bit = 13};
  ck_assert_int_eq(dd_canport_mock_add_fault(p, &fl), 0);
  dd_can_frame_t r = s_frame("7E0#R8");
  ck_assert_int_eq(dd_canport_send(p, &r), 0);
  dd_can_frame_t f;
  ck_assert_int_eq(dd_canport_mock_take_sent(p, &f), 0);
  ck_assert_uint_eq(f.id, 0x7E0 ^ (1u << (13 % 11)));
  ck_assert(dd_can_frame_valid(&f));
  dd_canport_destroy(&p);
}
END_TEST

/* A delayed frame shows delay_us later, and holds up the frames sent after it (FIFO). */
START_TEST(test_sweep_delay) {
  for (unsigned n = 1; n <= 5; n++) {
    dd_canport_t *p = s_port(false, true, false);
    dd_canport_mock_set_now(p, 100);
    dd_canport_mock_fault_t fl = {
        .dir = DD_CANPORT_MOCK_TX, .kind = DD_CANPORT_MOCK_DELAY, .nth = n, .delay_us = 1000};
    ck_assert_int_eq(dd_canport_mock_add_fault(p, &fl), 0);
    dd_can_frame_t shown[16];
    size_t got = s_sweep_tx(p, 5, shown);
    ck_assert_uint_eq(got, n - 1);
    for (size_t i = 0; i < got; i++)
      ck_assert_uint_eq(shown[i].data[0], i + 1);
    ck_assert_uint_eq(dd_canport_mock_next_due(p), 1100);
    dd_canport_mock_set_now(p, 1099);
    ck_assert_uint_eq(dd_canport_mock_sent_count(p), 0);
    /* The echoes of frames before n are readable; nothing of n or later. */
    dd_can_frame_t f;
    for (size_t i = 0; i < got; i++)
      ck_assert_int_eq(dd_canport_recv(p, &f), 0);
    ck_assert(!s_readable(p));
    dd_canport_mock_set_now(p, 1100);
    ck_assert_uint_eq(dd_canport_mock_next_due(p), UINT64_MAX);
    got = 0;
    while (dd_canport_mock_take_sent(p, &shown[got]) == 0)
      got++;
    ck_assert_uint_eq(got, 6 - n);
    for (size_t i = 0; i < got; i++) {
      ck_assert_uint_eq(shown[i].data[0], n + i);
      ck_assert_uint_eq(shown[i].ts_us, 1100);
    }
    ck_assert(s_readable(p));
    dd_canport_destroy(&p);
  }
}
END_TEST

START_TEST(test_fail_nth_send) {
  for (unsigned n = 1; n <= 4; n++) {
    dd_canport_t *p = s_port(false, false, false);
    dd_canport_mock_fault_t fl = {
        .dir = DD_CANPORT_MOCK_TX, .kind = DD_CANPORT_MOCK_FAIL, .nth = n, .error = DD_ECAN_BUSOFF};
    ck_assert_int_eq(dd_canport_mock_add_fault(p, &fl), 0);
    fl.nth = n + 1;
    fl.error = 0; /* defaults to DD_EIO */
    ck_assert_int_eq(dd_canport_mock_add_fault(p, &fl), 0);
    for (unsigned k = 1; k <= 6; k++) {
      dd_can_frame_t f = s_numbered(k);
      int want = k == n ? DD_ECAN_BUSOFF : k == n + 1 ? DD_EIO : 0;
      ck_assert_int_eq(dd_canport_send(p, &f), want);
    }
    ck_assert_uint_eq(dd_canport_mock_sent_count(p), 4);
    dd_canport_destroy(&p);
  }
}
END_TEST

START_TEST(test_rx_faults) {
  for (unsigned n = 1; n <= 4; n++) {
    dd_canport_t *p = s_port(false, false, false);
    dd_canport_mock_fault_t drop = {
        .dir = DD_CANPORT_MOCK_RX, .kind = DD_CANPORT_MOCK_DROP, .nth = n};
    ck_assert_int_eq(dd_canport_mock_add_fault(p, &drop), 0);
    dd_canport_mock_fault_t delay = {
        .dir = DD_CANPORT_MOCK_RX, .kind = DD_CANPORT_MOCK_DELAY, .nth = 5, .delay_us = 50};
    ck_assert_int_eq(dd_canport_mock_add_fault(p, &delay), 0);
    for (unsigned k = 1; k <= 5; k++) {
      dd_can_frame_t f = s_numbered(k);
      ck_assert_int_eq(dd_canport_mock_inject(p, &f), 0);
    }
    ck_assert_uint_eq(dd_canport_mock_rx_calls(p), 5);
    dd_can_frame_t f;
    for (unsigned k = 1; k <= 4; k++) {
      if (k == n) continue;
      ck_assert(s_readable(p));
      ck_assert_int_eq(dd_canport_recv(p, &f), 0);
      ck_assert_uint_eq(f.data[0], k);
    }
    /* Frame 5 is delayed by 50 us. */
    ck_assert(!s_readable(p));
    ck_assert_int_eq(dd_canport_recv(p, &f), DD_EAGAIN);
    ck_assert_uint_eq(dd_canport_mock_rx_pending(p), 1);
    ck_assert_uint_eq(dd_canport_mock_next_due(p), 50);
    dd_canport_mock_set_now(p, 50);
    ck_assert(s_readable(p));
    ck_assert_int_eq(dd_canport_recv(p, &f), 0);
    ck_assert_uint_eq(f.data[0], 5);
    ck_assert_uint_eq(f.ts_us, 50);
    dd_canport_destroy(&p);
  }
}
END_TEST

START_TEST(test_add_fault_checks) {
  dd_canport_t *p = s_port(false, false, false);
  dd_canport_mock_fault_t fl = {.dir = DD_CANPORT_MOCK_TX, .kind = DD_CANPORT_MOCK_DROP, .nth = 0};
  ck_assert_int_eq(dd_canport_mock_add_fault(p, &fl), DD_EINVAL);
  fl.nth = 1;
  fl.dir = DD_CANPORT_MOCK_RX;
  fl.kind = DD_CANPORT_MOCK_FAIL;
  ck_assert_int_eq(dd_canport_mock_add_fault(p, &fl), DD_EINVAL);
  fl.kind = DD_CANPORT_MOCK_DROP;
  fl.dir = DD_CANPORT_MOCK_TX;
  for (int i = 0; i < DD_CANPORT_MOCK_MAX_FAULTS; i++)
    ck_assert_int_eq(dd_canport_mock_add_fault(p, &fl), 0);
  ck_assert_int_eq(dd_canport_mock_add_fault(p, &fl), DD_ENOSPC);
  dd_canport_mock_clear_faults(p);
  dd_can_frame_t f = s_numbered(1);
  ck_assert_int_eq(dd_canport_send(p, &f), 0);
  ck_assert_uint_eq(dd_canport_mock_sent_count(p), 1);
  dd_canport_destroy(&p);
}
END_TEST

/* Many frames through the queues (growth, wrap-around) keep their order. */
START_TEST(test_many_frames_in_order) {
  dd_canport_t *p = s_port(true, true, false);
  dd_can_frame_t f;
  for (unsigned round = 0; round < 3; round++) {
    for (unsigned k = 0; k < 1000; k++) {
      dd_can_frame_t out = s_numbered(k & 0xFF);
      out.data[1] = (uint8_t)(k >> 8);
      ck_assert_int_eq(dd_canport_send(p, &out), 0);
      ck_assert_int_eq(dd_canport_mock_inject(p, &out), 0);
      if (k % 3 == 0) ck_assert_int_eq(dd_canport_mock_take_sent(p, &f), 0);
    }
    while (dd_canport_mock_take_sent(p, &f) == 0) {
    }
    unsigned n = 0;
    while (dd_canport_recv(p, &f) == 0) {
      /* echo of frame k (sent first), then the injected copy of k */
      ck_assert_uint_eq((unsigned)(f.data[0] | f.data[1] << 8), n / 2);
      ck_assert_uint_eq(f.flags & DD_CAN_F_TX, n % 2 == 0 ? DD_CAN_F_TX : 0);
      n++;
    }
    ck_assert_uint_eq(n, 2000); /* echo + injected */
  }
  dd_canport_destroy(&p);
}
END_TEST

static Suite *s_suite(void) {
  Suite *s = suite_create("canport_mock");
  TCase *tc = tcase_create("mock");
  tcase_add_test(tc, test_basic_send_recv);
  tcase_add_test(tc, test_refusals_and_limits);
  tcase_add_test(tc, test_loopback_echo);
  tcase_add_test(tc, test_sweep_drop);
  tcase_add_test(tc, test_sweep_corrupt);
  tcase_add_test(tc, test_sweep_delay);
  tcase_add_test(tc, test_fail_nth_send);
  tcase_add_test(tc, test_rx_faults);
  tcase_add_test(tc, test_add_fault_checks);
  tcase_add_test(tc, test_many_frames_in_order);
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
