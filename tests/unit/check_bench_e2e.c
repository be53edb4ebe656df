/* check_bench_e2e: the reading of TransferData exchanges off a bus trace (dd_bench_e2e_dl_*):
 * which frames count, the STmin gaps, the download window, and the rate against the bus's limit.
 *
 * Vectors: the bit counts below (stuff bits included, 500 kbit/s, 11-bit ids) come from an
 * independent exact CRC-15 and bit-stuffing count written in Python for this test (the algorithm
 * of can-utils' canframelen.c cfl_exact), not from dd_canbits; two of them are also published
 * figures for classic CAN at 500 kbit/s (FC 30 00 00 padded with CC: 119 bits; CF 21 with seven
 * 0x00 bytes on 0x7E0: 126 bits). */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "dd_bench_e2e.h"
#include "dd_can.h"

#define BIT_NS 2000ull /* 500 kbit/s */

typedef struct {
  const char *text; /* can-utils syntax */
  unsigned bits;    /* its exact length on the wire */
  unsigned gap_us;  /* idle before it */
} frame_t;

/* Two TransferData blocks, a response-pending answer, a TesterPresent of another id in the
 * middle, and a block refused with an NRC (ISO 14229-1:2013 14.4 over ISO 15765-2:2016). */
static const frame_t s_trace[] = {
    {"7E0#100A360100000000", 122, 0},    /* FF: 10 bytes, 36 01 + 8 data */
    {"7E8#300000CCCCCCCCCC", 119, 100},  /* FC CTS, BS 0, STmin 0 */
    {"7E0#2100000000CCCCCC", 121, 50},   /* CF 1: the last 4 data bytes */
    {"7E8#037F3678CCCCCCCC", 117, 300},  /* 7F 36 78: response pending (not bus time) */
    {"7DF#023E80CCCCCCCCCC", 116, 100},  /* TesterPresent, functional: not this ECU's */
    {"7E8#027601CCCCCCCCCC", 115, 900},  /* 76 01: block 1 done */
    {"7E0#1014360200000000", 123, 2000}, /* FF: 20 bytes, 36 02 + 18 data */
    {"7E8#300005CCCCCCCCCC", 117, 100},  /* FC CTS, STmin 5 ms */
    {"7E0#2100000000000000", 126, 40},   /* CF 1 (no STmin before the first CF) */
    {"7E0#2200000000000000", 126, 5000}, /* CF 2, STmin after CF 1 */
    {"7E8#027602CCCCCCCCCC", 115, 700},  /* 76 02: block 2 done */
    {"7E0#0636030000000000", 124, 3000}, /* SF TransferData, block 3 */
    {"7E8#037F3673CCCCCCCC", 115, 200},  /* 7F 36 73: refused (wrongBlockSequenceCounter) */
};
#define N_TRACE (sizeof s_trace / sizeof s_trace[0])

static dd_bench_e2e_dl_cfg_t s_cfg(void) {
  return (dd_bench_e2e_dl_cfg_t){.req_id = 0x7E0, .resp_id = 0x7E8, .nominal_bps = 500000};
}

/* Feeds the trace with each frame's end time; returns the frames' end times (us). */
static void s_feed(dd_bench_e2e_dl_t *dl, uint64_t *end_us) {
  uint64_t t = 1000000; /* us */
  for (size_t i = 0; i < N_TRACE; i++) {
    dd_can_frame_t f;
    ck_assert_int_eq(dd_can_parse(s_trace[i].text, &f), 0);
    t += s_trace[i].gap_us + s_trace[i].bits * BIT_NS / 1000;
    f.ts_us = t;
    end_us[i] = t;
    dd_bench_e2e_dl_frame(dl, &f);
  }
}

START_TEST(test_exchanges) {
  dd_bench_e2e_dl_cfg_t cfg = s_cfg();
  dd_bench_e2e_dl_t dl;
  dd_bench_e2e_dl_init(&dl, &cfg);
  uint64_t end[N_TRACE];
  s_feed(&dl, end);
  ck_assert_uint_eq(dl.blocks, 2);
  ck_assert_uint_eq(dl.bytes, 8 + 18);
  ck_assert_uint_eq(dl.block_len, 20);
  ck_assert_uint_eq(dl.pending, 1);
  ck_assert_uint_eq(dl.negative, 1);
  ck_assert_uint_eq(dl.stmin_us, 5000);
  ck_assert_uint_eq(dl.bs, 0);
  /* Bus time: FF, FC, CF and the positive response of each block, one STmin gap (block 2);
   * neither the 0x78 answer, nor the other id, nor the refused block. */
  uint64_t bits = 122 + 119 + 121 + 115 + 123 + 117 + 126 + 126 + 115;
  ck_assert_uint_eq(dl.bus_ns, bits * BIT_NS + 5000000ull);
  /* The window: from the start of the first FF to the end of the last positive response. */
  ck_assert_uint_eq(dl.t_first_ns, end[0] * 1000 - 122 * BIT_NS);
  ck_assert_uint_eq(dl.t_last_ns, end[10] * 1000);
  double secs = (double)(dl.t_last_ns - dl.t_first_ns) / 1e9;
  ck_assert_double_eq_tol(dd_bench_e2e_dl_rate(&dl), 26.0 / secs, 1e-9);
  ck_assert_double_eq_tol(dd_bench_e2e_dl_limit(&dl),
                          26.0 / ((double)(bits * BIT_NS + 5000000) / 1e9), 1e-9);
  ck_assert(dd_bench_e2e_dl_rate(&dl) < dd_bench_e2e_dl_limit(&dl));
}
END_TEST

START_TEST(test_other_ids_and_nothing) {
  /* The same trace read for another ECU: nothing counts, and the figures are 0, not NaN. */
  dd_bench_e2e_dl_cfg_t cfg = s_cfg();
  cfg.req_id = 0x7E1;
  cfg.resp_id = 0x7E9;
  dd_bench_e2e_dl_t dl;
  dd_bench_e2e_dl_init(&dl, &cfg);
  uint64_t end[N_TRACE];
  s_feed(&dl, end);
  ck_assert_uint_eq(dl.blocks, 0);
  ck_assert_uint_eq(dl.bus_ns, 0);
  ck_assert(dd_bench_e2e_dl_rate(&dl) == 0);
  ck_assert(dd_bench_e2e_dl_limit(&dl) == 0);
  /* 29-bit frames with the same numeric id are another identifier. */
  cfg = s_cfg();
  cfg.extended = true;
  dd_bench_e2e_dl_init(&dl, &cfg);
  s_feed(&dl, end);
  ck_assert_uint_eq(dl.blocks, 0);
}
END_TEST

START_TEST(test_other_request_abandons) {
  /* A request of another service between a TransferData FF and its answer: that exchange is
   * not counted (its response would answer something else). */
  dd_bench_e2e_dl_cfg_t cfg = s_cfg();
  dd_bench_e2e_dl_t dl;
  dd_bench_e2e_dl_init(&dl, &cfg);
  static const char *const frames[] = {"7E0#100A360100000000", "7E0#023E00CCCCCCCCCC",
                                       "7E8#027601CCCCCCCCCC"};
  for (size_t i = 0; i < 3; i++) {
    dd_can_frame_t f;
    ck_assert_int_eq(dd_can_parse(frames[i], &f), 0);
    f.ts_us = 1000 + 1000 * i;
    dd_bench_e2e_dl_frame(&dl, &f);
  }
  ck_assert_uint_eq(dl.blocks, 0);
}
END_TEST

START_TEST(test_quantile) {
  double v[] = {5, 1, 4, 2, 3};
  dd_bench_e2e_sort(v, 5);
  ck_assert(v[0] == 1 && v[4] == 5);
  /* nearest rank: the smallest value with at least q of the samples at or below it */
  ck_assert(dd_bench_e2e_quantile(v, 5, 0.5) == 3);
  ck_assert(dd_bench_e2e_quantile(v, 5, 0.99) == 5);
  ck_assert(dd_bench_e2e_quantile(v, 5, 0.2) == 1);
  ck_assert(dd_bench_e2e_quantile(v, 5, 0.21) == 2);
  ck_assert(dd_bench_e2e_quantile(v, 0, 0.5) == 0);
}
END_TEST

static Suite *s_suite(void) {
  Suite *s = suite_create("bench_e2e");
  TCase *tc = tcase_create("transfer_data");
  tcase_add_test(tc, test_exchanges);
  tcase_add_test(tc, test_other_ids_and_nothing);
  tcase_add_test(tc, test_other_request_abandons);
  tcase_add_test(tc, test_quantile);
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
