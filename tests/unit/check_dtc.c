/* check_dtc: unit tests of the DTC memory: the ISO 14229-1:2013 annex D status bit transitions
 * over test results and operation cycles (confirmation threshold, aging, warning indicator
 * healing), clearing, ControlDTCSetting, snapshot and extended data records.
 *
 * Vectors: the bit values are those of ISO 14229-1:2013 annex D (bit 0 testFailed ... bit 7
 * warningIndicatorRequested), as tabulated by mdabrowski1990/uds docs dtc.rst; each expected
 * status byte below is worked out from those definitions. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dd_dtc.h"
#include "dd_err.h"

static uint8_t s_st(const dd_dtc_t *m, uint32_t dtc) {
  uint8_t st = 0xEE;
  ck_assert_int_eq(dd_dtc_status(m, dtc, &st), 0);
  return st;
}

static dd_dtc_t *s_mem(const dd_dtc_def_t *defs, size_t n) {
  dd_dtc_cfg_t cfg;
  dd_dtc_cfg_default(&cfg);
  cfg.defs = defs;
  cfg.n_defs = n;
  dd_dtc_t *m = dd_dtc_new(&cfg);
  ck_assert_ptr_nonnull(m);
  return m;
}

START_TEST(test_confirmation_and_aging) {
  const dd_dtc_def_t def = {
      .dtc = 0x010203, .status = DD_DTC_ST_CLEARED, .confirm_cycles = 2, .aging_cycles = 3};
  dd_dtc_t *m = s_mem(&def, 1);
  ck_assert_uint_eq(s_st(m, 0x010203), 0x50);
  ck_assert_int_eq(dd_dtc_report(m, 0x010203, false), 0);
  ck_assert_uint_eq(s_st(m, 0x010203), 0x00); /* test completed, passed */
  dd_dtc_operation_cycle(m);
  ck_assert_uint_eq(s_st(m, 0x010203), 0x40); /* not completed this cycle */
  ck_assert_int_eq(dd_dtc_report(m, 0x010203, true), 0);
  ck_assert_uint_eq(s_st(m, 0x010203), 0x27); /* TF TFTOC PDTC TFSLC, one failed cycle of 2 */
  ck_assert_int_eq(dd_dtc_report(m, 0x010203, true), 0);
  ck_assert_uint_eq(s_st(m, 0x010203), 0x27); /* same cycle: still one */
  dd_dtc_operation_cycle(m);
  ck_assert_uint_eq(s_st(m, 0x010203), 0x65); /* TF, PDTC, TFSLC kept; TNCTOC */
  ck_assert_int_eq(dd_dtc_report(m, 0x010203, true), 0);
  ck_assert_uint_eq(s_st(m, 0x010203), 0x2F); /* second failed cycle: confirmed */
  ck_assert_uint_eq(dd_dtc_occurrences(m, 0x010203), 1);
  ck_assert_int_eq(dd_dtc_report(m, 0x010203, false), 0);
  ck_assert_uint_eq(s_st(m, 0x010203), 0x2E);
  dd_dtc_operation_cycle(m); /* the cycle had a failure: still pending */
  ck_assert_uint_eq(s_st(m, 0x010203), 0x6C);
  ck_assert_int_eq(dd_dtc_report(m, 0x010203, false), 0);
  dd_dtc_operation_cycle(m); /* a clean cycle: no longer pending, aging 1 */
  ck_assert_uint_eq(s_st(m, 0x010203), 0x68);
  ck_assert_uint_eq(dd_dtc_aging(m, 0x010203), 1);
  dd_dtc_operation_cycle(m); /* test not run: no aging */
  ck_assert_uint_eq(dd_dtc_aging(m, 0x010203), 1);
  ck_assert_int_eq(dd_dtc_report(m, 0x010203, false), 0);
  dd_dtc_operation_cycle(m);
  ck_assert_uint_eq(dd_dtc_aging(m, 0x010203), 2);
  ck_assert_uint_eq(s_st(m, 0x010203), 0x68);
  ck_assert_int_eq(dd_dtc_report(m, 0x010203, false), 0);
  dd_dtc_operation_cycle(m); /* third clean cycle: aged out */
  ck_assert_uint_eq(s_st(m, 0x010203), 0x40);
  ck_assert_uint_eq(dd_dtc_aging(m, 0x010203), 0);
  ck_assert_uint_eq(dd_dtc_occurrences(m, 0x010203), 0);
  /* A new failure restarts the aging count; the occurrence counter counts TF 0 -> 1. */
  ck_assert_int_eq(dd_dtc_report(m, 0x010203, true), 0);
  ck_assert_int_eq(dd_dtc_report(m, 0x010203, false), 0);
  ck_assert_int_eq(dd_dtc_report(m, 0x010203, true), 0);
  ck_assert_uint_eq(dd_dtc_occurrences(m, 0x010203), 2);
  ck_assert_int_eq(dd_dtc_report(m, 0x999999, true), DD_ENOENT);
  dd_dtc_destroy(&m);
  ck_assert_ptr_null(m);
}
END_TEST

START_TEST(test_warning_indicator_heals) {
  const dd_dtc_def_t def = {
      .dtc = 0x123456, .status = DD_DTC_ST_CLEARED, .warning = true, .heal_cycles = 2};
  dd_dtc_t *m = s_mem(&def, 1);
  ck_assert_int_eq(dd_dtc_report(m, 0x123456, true), 0);
  ck_assert_uint_eq(s_st(m, 0x123456), 0xAF); /* confirmed at once (threshold 1), WIR */
  dd_dtc_operation_cycle(m);
  ck_assert_int_eq(dd_dtc_report(m, 0x123456, false), 0);
  dd_dtc_operation_cycle(m);
  ck_assert_uint_eq(s_st(m, 0x123456) & DD_DTC_ST_WIR, DD_DTC_ST_WIR);
  ck_assert_int_eq(dd_dtc_report(m, 0x123456, false), 0);
  dd_dtc_operation_cycle(m);
  ck_assert_uint_eq(s_st(m, 0x123456), 0x68); /* WIR healed; still confirmed */
  dd_dtc_destroy(&m);
}
END_TEST

START_TEST(test_clear_and_setting) {
  const dd_dtc_def_t defs[] = {{.dtc = 0x000001, .status = 0x09},
                               {.dtc = 0x000002, .status = 0x2F}};
  dd_dtc_t *m = s_mem(defs, 2);
  ck_assert_uint_eq(dd_dtc_count(m), 2);
  ck_assert_uint_eq(dd_dtc_count_by_mask(m, 0x08), 2);
  ck_assert_uint_eq(dd_dtc_count_by_mask(m, 0x20), 1);
  ck_assert_uint_eq(dd_dtc_count_by_mask(m, 0x40), 0);
  uint32_t code;
  uint8_t st;
  ck_assert_int_eq(dd_dtc_at(m, 1, &code, &st), 0);
  ck_assert_uint_eq(code, 0x000002);
  ck_assert_uint_eq(st, 0x2F);
  ck_assert_int_eq(dd_dtc_at(m, 2, &code, &st), DD_ENOENT);
  ck_assert_int_eq(dd_dtc_clear(m, 0x000002), 0);
  ck_assert_uint_eq(s_st(m, 0x000002), 0x50);
  ck_assert_uint_eq(s_st(m, 0x000001), 0x09);
  ck_assert_int_eq(dd_dtc_clear(m, 0x000003), DD_ENOENT);
  ck_assert_int_eq(dd_dtc_clear(m, 0xFFFFFF), 0);
  ck_assert_uint_eq(s_st(m, 0x000001), 0x50);
  /* ControlDTCSetting off: results and cycles leave the status alone. */
  dd_dtc_set_setting(m, false);
  ck_assert(!dd_dtc_setting(m));
  ck_assert_int_eq(dd_dtc_report(m, 0x000001, true), 0);
  dd_dtc_operation_cycle(m);
  ck_assert_uint_eq(s_st(m, 0x000001), 0x50);
  dd_dtc_set_setting(m, true);
  ck_assert_int_eq(dd_dtc_report(m, 0x000001, true), 0);
  ck_assert_uint_eq(s_st(m, 0x000001), 0x2F);
  dd_dtc_destroy(&m);
}
END_TEST

START_TEST(test_availability_mask) {
  const dd_dtc_def_t def = {.dtc = 0x000001, .status = 0xFF};
  dd_dtc_cfg_t cfg;
  dd_dtc_cfg_default(&cfg);
  cfg.defs = &def;
  cfg.n_defs = 1;
  cfg.availability = 0x2F; /* no bits 4, 6, 7 */
  dd_dtc_t *m = dd_dtc_new(&cfg);
  ck_assert_ptr_nonnull(m);
  ck_assert_uint_eq(dd_dtc_availability(m), 0x2F);
  ck_assert_uint_eq(s_st(m, 0x000001), 0x2F);
  ck_assert_uint_eq(dd_dtc_count_by_mask(m, 0xD0), 0);
  dd_dtc_destroy(&m);
}
END_TEST

typedef struct {
  uint8_t value; /* byte the next capture records */
  int calls;     /* captures made */
} s_cap_t;

static int s_capture(void *user, uint32_t dtc, uint8_t *rec, size_t cap, size_t *len) {
  s_cap_t *c = user;
  c->calls++;
  rec[0] = 0x01; /* one identifier */
  rec[1] = 0xF4; /* DID 0xF40D: vehicle speed */
  rec[2] = 0x0D;
  rec[3] = c->value;
  *len = 4;
  return 0;
}

START_TEST(test_snapshots_and_extended) {
  const dd_dtc_def_t defs[] = {{.dtc = 0xAB0001, .status = DD_DTC_ST_CLEARED},
                               {.dtc = 0xAB0002, .status = DD_DTC_ST_CLEARED}};
  s_cap_t cap = {.value = 0x10};
  dd_dtc_cfg_t cfg;
  dd_dtc_cfg_default(&cfg);
  cfg.defs = defs;
  cfg.n_defs = 2;
  cfg.capture = s_capture;
  cfg.user = &cap;
  dd_dtc_t *m = dd_dtc_new(&cfg);
  ck_assert_ptr_nonnull(m);
  uint8_t num;
  const uint8_t *data;
  size_t len;
  ck_assert_int_eq(dd_dtc_snapshot_at(m, 0xAB0001, 0, &num, &data, &len), DD_ENOENT);
  ck_assert_int_eq(dd_dtc_report(m, 0xAB0001, true), 0);
  ck_assert_int_eq(dd_dtc_report(m, 0xAB0001, true), 0); /* TF already 1: no capture */
  ck_assert_int_eq(cap.calls, 1);
  cap.value = 0x20;
  ck_assert_int_eq(dd_dtc_report(m, 0xAB0001, false), 0);
  ck_assert_int_eq(dd_dtc_report(m, 0xAB0001, true), 0);
  /* Record 01 keeps the first failure, record 02 the latest. */
  ck_assert_int_eq(dd_dtc_snapshot_at(m, 0xAB0001, 0, &num, &data, &len), 0);
  ck_assert_uint_eq(num, 0x01);
  ck_assert_uint_eq(len, 4);
  ck_assert_uint_eq(data[3], 0x10);
  ck_assert_int_eq(dd_dtc_snapshot_at(m, 0xAB0001, 1, &num, &data, &len), 0);
  ck_assert_uint_eq(num, 0x02);
  ck_assert_uint_eq(data[3], 0x20);
  ck_assert_int_eq(dd_dtc_snapshot_at(m, 0xAB0001, 2, &num, &data, &len), DD_ENOENT);
  ck_assert(dd_dtc_snapshot_supported(m, 0x01));
  ck_assert(!dd_dtc_snapshot_supported(m, 0x05));
  ck_assert(!dd_dtc_snapshot_supported(m, 0xFF));
  /* Built-in extended records: 01 occurrences (2), 02 aging (0). */
  uint8_t out[8];
  ck_assert_int_eq(dd_dtc_extended_at(m, 0xAB0001, 0, &num, out, sizeof out, &len), 0);
  ck_assert_uint_eq(num, 0x01);
  ck_assert_uint_eq(len, 1);
  ck_assert_uint_eq(out[0], 2);
  ck_assert_int_eq(dd_dtc_extended_at(m, 0xAB0001, 1, &num, out, sizeof out, &len), 0);
  ck_assert_uint_eq(num, 0x02);
  ck_assert_uint_eq(out[0], 0);
  ck_assert_int_eq(dd_dtc_extended_at(m, 0xAB0001, 2, &num, out, sizeof out, &len), DD_ENOENT);
  /* Never failed: no extended records yet. */
  ck_assert_int_eq(dd_dtc_extended_at(m, 0xAB0002, 0, &num, out, sizeof out, &len), DD_ENOENT);
  /* Preloaded records (a vehicle file), sorted, replacing the built-in one of equal number. */
  const uint8_t ext[] = {0xDE, 0xAD};
  ck_assert_int_eq(dd_dtc_set_extended(m, 0xAB0002, 0x10, ext, 2), 0);
  ck_assert_int_eq(dd_dtc_set_extended(m, 0xAB0001, 0x01, ext, 2), 0);
  ck_assert_int_eq(dd_dtc_extended_at(m, 0xAB0001, 0, &num, out, sizeof out, &len), 0);
  ck_assert_uint_eq(len, 2);
  ck_assert_uint_eq(out[0], 0xDE);
  ck_assert_int_eq(dd_dtc_extended_at(m, 0xAB0002, 0, &num, out, sizeof out, &len), 0);
  ck_assert_uint_eq(num, 0x10);
  ck_assert_int_eq(dd_dtc_extended_at(m, 0xAB0002, 0, &num, out, 1, &len), DD_ENOSPC);
  ck_assert(dd_dtc_extended_supported(m, 0x10));
  ck_assert(!dd_dtc_extended_supported(m, 0x11));
  ck_assert_int_eq(dd_dtc_set_snapshot(m, 0xAB0002, 0x00, ext, 2), DD_EINVAL);
  ck_assert_int_eq(dd_dtc_set_snapshot(m, 0xAB0002, 0xFF, ext, 2), DD_EINVAL);
  ck_assert_int_eq(dd_dtc_set_snapshot(m, 0xAB0009, 0x01, ext, 2), DD_ENOENT);
  for (uint8_t r = 0x20; r < 0x20 + DD_DTC_MAX_RECORDS; r++)
    ck_assert_int_eq(dd_dtc_set_snapshot(m, 0xAB0002, r, ext, 2), 0);
  ck_assert_int_eq(dd_dtc_set_snapshot(m, 0xAB0002, 0x30, ext, 2), DD_ENOSPC);
  ck_assert_int_eq(dd_dtc_set_snapshot(m, 0xAB0002, 0x20, ext, 1), 0); /* replace is fine */
  ck_assert(dd_dtc_snapshot_supported(m, 0x25));
  /* Clearing erases the records. */
  ck_assert_int_eq(dd_dtc_clear(m, 0xFFFFFF), 0);
  ck_assert_int_eq(dd_dtc_snapshot_at(m, 0xAB0001, 0, &num, &data, &len), DD_ENOENT);
  ck_assert_int_eq(dd_dtc_extended_at(m, 0xAB0002, 0, &num, out, sizeof out, &len), DD_ENOENT);
  dd_dtc_destroy(&m);
}
END_TEST

START_TEST(test_config_and_names) {
  const dd_dtc_def_t dup[] = {{.dtc = 0x000001}, {.dtc = 0x000001}};
  dd_dtc_cfg_t cfg;
  dd_dtc_cfg_default(&cfg);
  cfg.defs = dup;
  cfg.n_defs = 2;
  ck_assert_ptr_null(dd_dtc_new(&cfg));
  const dd_dtc_def_t big = {.dtc = 0x1000000};
  cfg.defs = &big;
  cfg.n_defs = 1;
  ck_assert_ptr_null(dd_dtc_new(&cfg));
  cfg.defs = NULL;
  cfg.n_defs = 0;
  dd_dtc_t *m = dd_dtc_new(&cfg);
  ck_assert_ptr_nonnull(m);
  ck_assert_uint_eq(dd_dtc_count(m), 0);
  dd_dtc_destroy(&m);
  ck_assert_str_eq(dd_dtc_status_bit_name(0), "testFailed");
  ck_assert_str_eq(dd_dtc_status_bit_name(3), "confirmedDTC");
  ck_assert_str_eq(dd_dtc_status_bit_name(7), "warningIndicatorRequested");
  ck_assert_str_eq(dd_dtc_status_bit_name(8), "?");
}
END_TEST

static Suite *s_suite(void) {
  Suite *s = suite_create("dtc");
  TCase *tc = tcase_create("status");
  tcase_add_test(tc, test_confirmation_and_aging);
  tcase_add_test(tc, test_warning_indicator_heals);
  tcase_add_test(tc, test_clear_and_setting);
  tcase_add_test(tc, test_availability_mask);
  tcase_add_test(tc, test_snapshots_and_extended);
  tcase_add_test(tc, test_config_and_names);
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
