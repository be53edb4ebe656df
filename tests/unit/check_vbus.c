/* check_vbus: the virtual bus model: arbitration order (ISO 11898-1 bitwise arbitration), frame
 * times from exact bit counts, back-to-back scheduling without drift, FD data phase, and fault
 * injection (drop, corrupt with retransmission and error counters, bus-off, cut). */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "dd_can.h"
#include "dd_canbits.h"
#include "dd_err.h"
#include "dd_vbus.h"

static dd_can_frame_t s_frame(const char *text) {
  dd_can_frame_t f;
  ck_assert_int_eq(dd_can_parse(text, &f), 0);
  return f;
}

static dd_vbus_t *s_bus(uint32_t nominal, uint32_t data) {
  dd_vbus_t *bus = NULL;
  dd_vbus_cfg_t cfg = {nominal, data};
  ck_assert_int_eq(dd_vbus_new(&cfg, &bus), 0);
  return bus;
}

START_TEST(test_arbitration_order) {
  dd_vbus_t *bus = s_bus(500000, 0);
  int a = dd_vbus_attach(bus, "a", false), b = dd_vbus_attach(bus, "b", false),
      c = dd_vbus_attach(bus, "c", false), d = dd_vbus_attach(bus, "d", false);
  /* All four wait at t=0. Expected winners in order:
   * 0x100 base data < 0x100 base remote < extended with base part 0x100 < 0x7E0. */
  dd_can_frame_t f7e0 = s_frame("7E0#01"), f100 = s_frame("100#02"),
                 f100r = s_frame("100#R"), f100x = s_frame("04000001#03");
  ck_assert_int_eq(dd_vbus_submit(bus, a, &f7e0, 0), 0);
  ck_assert_int_eq(dd_vbus_submit(bus, b, &f100x, 0), 0);
  ck_assert_int_eq(dd_vbus_submit(bus, c, &f100r, 0), 0);
  ck_assert_int_eq(dd_vbus_submit(bus, d, &f100, 0), 0);
  int order[4], n = 0;
  dd_vbus_ev_t ev;
  while (dd_vbus_poll(bus, UINT64_MAX - 1, &ev) && n < 4) {
    ck_assert_int_eq(ev.kind, DD_VBUS_EV_FRAME);
    order[n++] = ev.node;
  }
  ck_assert_int_eq(n, 4);
  ck_assert_int_eq(order[0], d);
  ck_assert_int_eq(order[1], c);
  ck_assert_int_eq(order[2], b);
  ck_assert_int_eq(order[3], a);
  /* The keys alone agree. */
  ck_assert_uint_lt(dd_vbus_arbitration_key(&f100), dd_vbus_arbitration_key(&f100r));
  ck_assert_uint_lt(dd_vbus_arbitration_key(&f100r), dd_vbus_arbitration_key(&f100x));
  ck_assert_uint_lt(dd_vbus_arbitration_key(&f100x), dd_vbus_arbitration_key(&f7e0));
  dd_vbus_destroy(&bus);
}
END_TEST

START_TEST(test_frame_times_back_to_back) {
  /* 500 kbit/s: 2000 ns a bit. 7E8#0322F19000000000 has a known stuffed length. */
  dd_vbus_t *bus = s_bus(500000, 0);
  int n = dd_vbus_attach(bus, "ecu", false);
  dd_can_frame_t f = s_frame("7E8#0322F190CCCCCCCC");
  uint32_t bits = dd_canbits_total(&(dd_canbits_t){0});
  uint64_t dur = dd_vbus_frame_ns(bus, &f, &bits);
  ck_assert_uint_eq(dur, (uint64_t)bits * 2000);
  ck_assert_uint_ge(bits, 111); /* 47 + 8 * 8 unstuffed */
  ck_assert_uint_le(bits, 135); /* worst case 55 + 10 * 8 */
  for (int i = 0; i < 3; i++) ck_assert_int_eq(dd_vbus_submit(bus, n, &f, 1000), 0);
  ck_assert_uint_eq(dd_vbus_next_ns(bus), 1000);
  dd_vbus_ev_t ev;
  ck_assert(!dd_vbus_poll(bus, 999, &ev));
  ck_assert(!dd_vbus_poll(bus, 1000 + dur - 1, &ev)); /* not before its last bit */
  ck_assert(dd_vbus_poll(bus, 1000 + dur, &ev));
  ck_assert_uint_eq(ev.start_ns, 1000);
  ck_assert_uint_eq(ev.end_ns, 1000 + dur);
  ck_assert_uint_eq(ev.frame.ts_us, (1000 + dur) / 1000);
  /* A late poll must not shift the schedule: frames 2 and 3 follow back to back. */
  ck_assert(dd_vbus_poll(bus, 1000000, &ev));
  ck_assert_uint_eq(ev.start_ns, 1000 + dur);
  ck_assert(dd_vbus_poll(bus, 1000000, &ev));
  ck_assert_uint_eq(ev.end_ns, 1000 + 3 * dur);
  ck_assert(!dd_vbus_poll(bus, 1000000, &ev));
  dd_vbus_stats_t st = dd_vbus_stats(bus);
  ck_assert_uint_eq(st.frames, 3);
  ck_assert_uint_eq(st.busy_ns, 3 * dur);
  /* An idle bus starts a frame when it is submitted, not earlier. */
  ck_assert_int_eq(dd_vbus_submit(bus, n, &f, 5000000), 0);
  ck_assert(dd_vbus_poll(bus, 9000000, &ev));
  ck_assert_uint_eq(ev.start_ns, 5000000);
  dd_vbus_destroy(&bus);
}
END_TEST

START_TEST(test_fd_data_phase_and_classic_node) {
  dd_vbus_t *bus = s_bus(500000, 2000000);
  int fdn = dd_vbus_attach(bus, "fd", true), cl = dd_vbus_attach(bus, "classic", false);
  dd_can_frame_t f = s_frame("7E0##1000102030405060708090A0B0C0D0E0F"
                             "101112131415161718191A1B1C1D1E1F202122232425262728292A2B2C2D2E2F"
                             "303132333435363738393A3B3C3D3E3F");
  ck_assert_int_eq(f.len, 64);
  ck_assert_int_eq(dd_vbus_submit(bus, cl, &f, 0), DD_ECAN_NOFD);
  ck_assert_int_eq(dd_vbus_submit(bus, fdn, &f, 0), 0);
  dd_canbits_t b = dd_canbits_count(&f);
  uint64_t expect = (uint64_t)b.nominal_bits * 2000 + (uint64_t)b.data_bits * 500;
  dd_vbus_ev_t ev;
  ck_assert(dd_vbus_poll(bus, UINT64_MAX - 1, &ev));
  ck_assert_uint_eq(ev.end_ns - ev.start_ns, expect);
  /* Near the reference's 333 us for a 64-byte BRS frame at 500k/2M before stuffing. */
  ck_assert_uint_ge(expect, 333000);
  ck_assert_uint_le(expect, 420000);
  dd_vbus_destroy(&bus);
}
END_TEST

START_TEST(test_fault_drop_and_corrupt) {
  dd_vbus_t *bus = s_bus(500000, 0);
  int n = dd_vbus_attach(bus, "n", false);
  dd_can_frame_t f = s_frame("123#11"), g = s_frame("456#22");
  dd_vbus_fault_drop(bus, false, 0x123, 1);
  ck_assert_int_eq(dd_vbus_submit(bus, n, &g, 0), 0);
  ck_assert_int_eq(dd_vbus_submit(bus, n, &f, 0), 0);
  dd_vbus_ev_t ev;
  ck_assert(dd_vbus_poll(bus, UINT64_MAX - 1, &ev));
  ck_assert_int_eq(ev.kind, DD_VBUS_EV_FRAME); /* 0x456 is not matched */
  ck_assert(dd_vbus_poll(bus, UINT64_MAX - 1, &ev));
  ck_assert_int_eq(ev.kind, DD_VBUS_EV_DROPPED);
  ck_assert_uint_eq(ev.frame.id, 0x123);

  /* Corrupt twice: two error frames (TEC 8, 16), then the frame itself (TEC 15). */
  dd_vbus_fault_corrupt(bus, true, 0, 2);
  ck_assert_int_eq(dd_vbus_submit(bus, n, &f, ev.end_ns), 0);
  ck_assert(dd_vbus_poll(bus, UINT64_MAX - 1, &ev));
  ck_assert_int_eq(ev.kind, DD_VBUS_EV_ERROR);
  ck_assert(ev.frame.flags & DD_CAN_F_ERR);
  ck_assert_int_eq(ev.tec, 8);
  ck_assert(dd_vbus_poll(bus, UINT64_MAX - 1, &ev));
  ck_assert_int_eq(ev.kind, DD_VBUS_EV_ERROR);
  ck_assert_int_eq(ev.tec, 16);
  ck_assert(dd_vbus_poll(bus, UINT64_MAX - 1, &ev));
  ck_assert_int_eq(ev.kind, DD_VBUS_EV_FRAME);
  ck_assert_int_eq(ev.tec, 15);
  ck_assert_uint_eq(dd_vbus_stats(bus).errors, 2);
  dd_vbus_destroy(&bus);
}
END_TEST

START_TEST(test_error_counters_to_bus_off_and_restart) {
  dd_vbus_t *bus = s_bus(500000, 0);
  int n = dd_vbus_attach(bus, "n", false);
  dd_can_frame_t f = s_frame("123#11");
  dd_vbus_fault_corrupt(bus, true, 0, 1000);
  ck_assert_int_eq(dd_vbus_submit(bus, n, &f, 0), 0);
  dd_vbus_ev_t ev;
  bool passive = false, off = false;
  int errors = 0;
  while (dd_vbus_poll(bus, UINT64_MAX - 1, &ev)) {
    if (ev.kind == DD_VBUS_EV_ERROR) errors++;
    if (ev.kind == DD_VBUS_EV_STATE && ev.state == DD_VBUS_ERROR_PASSIVE) {
      passive = true;
      ck_assert_int_eq(errors, 16); /* TEC 128 > 127 (ISO 11898-1 12.1.4.2) */
    }
    if (ev.kind == DD_VBUS_EV_STATE && ev.state == DD_VBUS_BUS_OFF) {
      off = true;
      ck_assert_int_eq(errors, 32); /* TEC 256 > 255 */
    }
  }
  ck_assert(passive && off);
  ck_assert_int_eq(dd_vbus_node_state(bus, n), DD_VBUS_BUS_OFF);
  ck_assert_int_eq(dd_vbus_submit(bus, n, &f, 0), DD_ECAN_BUSOFF);
  ck_assert_int_eq(dd_vbus_restart(bus, n), 0);
  ck_assert_int_eq(dd_vbus_node_state(bus, n), DD_VBUS_ERROR_ACTIVE);
  dd_vbus_fault_corrupt(bus, true, 0, 0);
  ck_assert(dd_vbus_poll(bus, UINT64_MAX - 1, &ev)); /* the restart is reported */
  ck_assert_int_eq(ev.kind, DD_VBUS_EV_STATE);
  ck_assert_int_eq(dd_vbus_submit(bus, n, &f, 0), 0);
  ck_assert(dd_vbus_poll(bus, UINT64_MAX - 1, &ev));
  ck_assert_int_eq(ev.kind, DD_VBUS_EV_FRAME);
  dd_vbus_destroy(&bus);
}
END_TEST

START_TEST(test_cut_and_restore) {
  dd_vbus_t *bus = s_bus(500000, 0);
  int n = dd_vbus_attach(bus, "n", false);
  dd_can_frame_t f = s_frame("123#11");
  dd_vbus_fault_cut(bus, 0, 10000000); /* 10 ms */
  ck_assert_int_eq(dd_vbus_submit(bus, n, &f, 1000), 0);
  dd_vbus_ev_t ev;
  ck_assert(!dd_vbus_poll(bus, 9999999, &ev));
  ck_assert_uint_eq(dd_vbus_next_ns(bus), 10000000);
  ck_assert(dd_vbus_poll(bus, 20000000, &ev));
  ck_assert_uint_eq(ev.start_ns, 10000000);
  dd_vbus_fault_cut(bus, 20000000, UINT64_MAX); /* until restored */
  ck_assert_int_eq(dd_vbus_submit(bus, n, &f, 20000000), 0);
  ck_assert(!dd_vbus_poll(bus, UINT64_MAX - 1, &ev));
  dd_vbus_restore(bus, 30000000);
  ck_assert(dd_vbus_poll(bus, UINT64_MAX - 1, &ev));
  ck_assert_uint_eq(ev.start_ns, 30000000);
  dd_vbus_destroy(&bus);
}
END_TEST

START_TEST(test_queue_limits_and_bad_input) {
  dd_vbus_t *bus = s_bus(500000, 0);
  dd_vbus_cfg_t bad = {0, 0};
  dd_vbus_t *none = NULL;
  ck_assert_int_eq(dd_vbus_new(&bad, &none), DD_EINVAL);
  int n = dd_vbus_attach(bus, "n", false);
  dd_can_frame_t f = s_frame("123#11");
  for (int i = 0; i < DD_VBUS_TXQ_LEN; i++) ck_assert_int_eq(dd_vbus_submit(bus, n, &f, 0), 0);
  ck_assert_int_eq(dd_vbus_submit(bus, n, &f, 0), DD_ENOSPC);
  dd_can_frame_t big = f;
  big.len = 9; /* not a classic length */
  ck_assert_int_eq(dd_vbus_submit(bus, n, &big, 0), DD_ECAN_FRAME);
  ck_assert_int_eq(dd_vbus_submit(bus, 17, &f, 0), DD_EINVAL);
  dd_vbus_destroy(&bus);
}
END_TEST

int main(void) {
  Suite *s = suite_create("vbus");
  TCase *tc = tcase_create("model");
  tcase_add_test(tc, test_arbitration_order);
  tcase_add_test(tc, test_frame_times_back_to_back);
  tcase_add_test(tc, test_fd_data_phase_and_classic_node);
  tcase_add_test(tc, test_fault_drop_and_corrupt);
  tcase_add_test(tc, test_error_counters_to_bus_off_and_restart);
  tcase_add_test(tc, test_cut_and_restore);
  tcase_add_test(tc, test_queue_limits_and_bad_input);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
