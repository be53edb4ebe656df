/* check_fd_reflash: the first device's reflash sequence (dd_fd_reflash) against an in-process
 * ECU (dd_uds_server with dd_flash) through the sans-I/O UDS client, on an injected clock:
 * a complete reflash (with the FF01 CRC record), the block counter wrapping past 0xFF with a
 * small maxNumberOfBlockLength, 0x78 chains during the erase, an NRC on the erase stopping it
 * cleanly before any transfer, the planted wrong_block_counter_wrap defect refused by the ECU,
 * a client that gives up on 0x78 (the ignore_0x78 defect), a package of two regions checked
 * with its own CRC-32, a software version after the reset that is not the package's, and
 * SecurityAccess locking after wrong keys (0x35, 0x36, then 0x37 until the delay ends).
 * Expected values come from ISO 14229-1:2013 (14.4 counter wrap FF -> 00; 9.4 and annex A
 * NRCs) and the ECU model's behaviour. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_err.h"
#include "dd_fd_reflash.h"
#include "dd_flash.h"
#include "dd_image.h"
#include "dd_package.h"
#include "dd_uds_client.h"
#include "dd_uds_server.h"

#define S_SECRET 0x5A3C96E1u
#define S_BASE 0x00010000u
#define S_SECTOR 4096u
#define S_SECTORS 16u

typedef struct {
  dd_flash_t *flash;        /* the ECU's flash */
  dd_uds_server_t *srv;     /* the ECU */
  dd_uds_client_t *cl;      /* the tester's UDS client */
  dd_package_t *pkg;        /* the package */
  unsigned pending_events;  /* 0x78 responses the ECU sent */
  uint64_t now;             /* injected clock */
} s_bench_t;

static void s_on_event(void *user, const dd_uds_server_event_t *ev) {
  s_bench_t *b = user;
  if (ev->kind == DD_UDS_EV_PENDING) b->pending_events++;
}

/* The package: img_len bytes at S_BASE (version "T-2.0" at offset 0x100, where the ECU reads
 * it), and cal_len more bytes at S_BASE + 0x8000 when cal_len > 0 (a second region after a
 * gap, as an application and its calibration); sw_version is what the package says it
 * installs (NULL: "T-2.0"). */
static void s_setup2(s_bench_t *b, size_t img_len, size_t cal_len, const char *sw_version,
                     uint32_t max_block, uint64_t pending_max_us) {
  memset(b, 0, sizeof *b);
  b->now = 1000;
  dd_flash_cfg_t fc;
  dd_flash_cfg_default(&fc);
  fc.base = S_BASE;
  fc.sector_size = S_SECTOR;
  fc.sector_count = S_SECTORS;
  fc.max_block_length = max_block;
  fc.write_us_per_byte = 0.1;
  fc.write_block_us = 100;
  fc.version = "OLD-1.0";
  b->flash = dd_flash_new(&fc);
  ck_assert_ptr_nonnull(b->flash);
  dd_uds_security_t sec = {.level = 0x01, .seed_len = 4, .secret = S_SECRET};
  dd_uds_server_cfg_t sc;
  dd_uds_server_cfg_default(&sc);
  sc.flash = b->flash;
  sc.security = &sec;
  sc.n_security = 1;
  sc.rng_seed = 7;
  sc.on_event = s_on_event;
  sc.user = b;
  b->srv = dd_uds_server_new(&sc, b->now);
  ck_assert_ptr_nonnull(b->srv);
  dd_uds_client_cfg_t cc;
  dd_uds_client_cfg_default(&cc);
  if (pending_max_us) cc.pending_max_us = pending_max_us;
  b->cl = dd_uds_client_new(&cc);
  ck_assert_ptr_nonnull(b->cl);
  /* the image: a pattern with the version string where the ECU reads it (offset 0x100) */
  uint8_t *img = malloc(img_len);
  for (size_t i = 0; i < img_len; i++) img[i] = (uint8_t)(i * 31 + 7);
  memset(img + 0x100, 0, 32);
  memcpy(img + 0x100, "T-2.0", 5);
  dd_image_t *im = dd_image_new();
  ck_assert_int_eq(dd_image_add(im, S_BASE, img, img_len), 0);
  free(img);
  if (cal_len) {
    uint8_t *cal = malloc(cal_len);
    for (size_t i = 0; i < cal_len; i++) cal[i] = (uint8_t)(i * 13 + 5);
    ck_assert_int_eq(dd_image_add(im, S_BASE + 0x8000, cal, cal_len), 0);
    free(cal);
  }
  uint8_t pk[DD_PACKAGE_PUBLIC_KEY_BYTES], sk[DD_PACKAGE_SECRET_KEY_BYTES], seed[32];
  memset(seed, 0x42, sizeof seed);
  ck_assert_int_eq(dd_package_keypair_from_seed(seed, pk, sk), 0);
  dd_package_meta_t meta = {.package_id = "pkg-1",
                            .target = {.ecu_name = "ECM", .can_id = 0x7E0, .hw_part = "HW1"},
                            .sw_version = sw_version ? sw_version : "T-2.0",
                            .created_at = 1700000000};
  uint8_t *bytes = NULL;
  size_t len = 0;
  ck_assert_int_eq(dd_package_build(im, &meta, sk, &bytes, &len), 0);
  dd_image_destroy(&im);
  char why[DD_PACKAGE_WHY_MAX];
  ck_assert_int_eq(dd_package_open(bytes, len, pk, &meta.target, &b->pkg, why, sizeof why), 0);
  free(bytes);
}

static void s_setup(s_bench_t *b, size_t img_len, uint32_t max_block, uint64_t pending_max_us) {
  s_setup2(b, img_len, 0, NULL, max_block, pending_max_us);
}

static void s_teardown(s_bench_t *b) {
  dd_package_destroy(&b->pkg);
  dd_uds_client_destroy(&b->cl);
  dd_uds_server_destroy(&b->srv);
  dd_flash_destroy(&b->flash);
}

static uint64_t s_min(uint64_t a, uint64_t c) { return a < c ? a : c; }

/* Run the machine to its end: requests through the client to the server and back. */
static void s_run(s_bench_t *b, dd_fd_reflash_t *rf) {
  static uint8_t resp[4096];
  for (long iter = 0; iter < 2000000; iter++) {
    dd_fd_reflash_step_t st;
    dd_fd_reflash_next(rf, b->now, &st);
    if (st.todo == DD_FR_END) return;
    if (st.todo == DD_FR_SEND)
      ck_assert_int_eq(dd_uds_client_request(b->cl, st.req, st.len, false, b->now), 0);
    bool moved = true;
    while (moved) {
      moved = false;
      dd_uds_client_tx_t tx;
      while (dd_uds_client_poll(b->cl, b->now, &tx) == 1) {
        size_t rl = 0;
        int r = dd_uds_server_request(b->srv, tx.data, tx.len, tx.functional, b->now, resp,
                                      sizeof resp, &rl);
        if (r == 1) dd_uds_client_on_response(b->cl, resp, rl, 0, b->now);
        moved = true;
      }
      size_t rl = 0;
      while (dd_uds_server_poll(b->srv, b->now, resp, sizeof resp, &rl) == 1) {
        dd_uds_client_on_response(b->cl, resp, rl, 0, b->now);
        moved = true;
      }
      dd_uds_result_t res;
      while (dd_uds_client_take_result(b->cl, &res)) {
        if (!res.final) continue;
        dd_fd_reflash_on_result(rf, res.status, res.nrc, res.data, res.len, b->now);
        moved = true;
      }
      if (moved) {
        dd_fd_reflash_next(rf, b->now, &st);
        if (st.todo == DD_FR_END) return;
        if (st.todo == DD_FR_SEND)
          ck_assert_int_eq(dd_uds_client_request(b->cl, st.req, st.len, false, b->now), 0);
      }
    }
    uint64_t next = s_min(dd_uds_client_next_deadline(b->cl), dd_uds_server_next_deadline(b->srv));
    if (st.todo == DD_FR_WAIT) next = s_min(next, st.until_us);
    ck_assert_msg(next != UINT64_MAX, "stuck in phase %s",
                  dd_fd_reflash_phase_name(dd_fd_reflash_phase(rf)));
    if (next > b->now) b->now = next;
  }
  ck_abort_msg("did not finish");
}

static dd_fd_reflash_t *s_machine_key(s_bench_t *b, bool wrong_wrap, bool crc, uint32_t secret) {
  dd_fd_reflash_cfg_t cfg;
  dd_fd_reflash_cfg_default(&cfg);
  cfg.secret = secret;
  cfg.wrong_bsc_wrap = wrong_wrap;
  cfg.send_crc = crc;
  cfg.check_version = true;
  dd_fd_reflash_t *rf = NULL;
  ck_assert_int_eq(dd_fd_reflash_new(&cfg, b->pkg, &rf), 0);
  return rf;
}

static dd_fd_reflash_t *s_machine(s_bench_t *b, bool wrong_wrap, bool crc) {
  return s_machine_key(b, wrong_wrap, crc, S_SECRET);
}

START_TEST(test_success_with_crc) {
  s_bench_t b;
  s_setup(&b, 8192, 0x0402, 0);
  dd_fd_reflash_t *rf = s_machine(&b, false, true);
  s_run(&b, rf);
  ck_assert_msg(dd_fd_reflash_phase(rf) == DD_FR_DONE, "%s", dd_fd_reflash_why(rf));
  ck_assert_str_eq(dd_fd_reflash_version(rf), "T-2.0");
  ck_assert_str_eq(dd_fd_reflash_supplier_version(rf), "T-2.0"); /* F195 of the same model */
  ck_assert_uint_eq(dd_fd_reflash_percent(rf), 100);
  ck_assert_uint_eq(dd_fd_reflash_blocks(rf), 8); /* 8192 bytes, 1024 per block */
  ck_assert_uint_eq(dd_fd_reflash_bytes(rf), 8192);
  /* 8 blocks written in 100 us + 0.1 us per byte (102 us) each, on the injected clock */
  uint64_t xfer = dd_fd_reflash_transfer_us(rf, b.now);
  ck_assert_uint_ge(xfer, 8 * (100 + 102));
  ck_assert_uint_lt(xfer, b.now);
  ck_assert_str_eq(dd_fd_reflash_step_name(rf), "end");
  ck_assert(dd_flash_app_valid(b.flash));
  /* the erase of 16 sectors (800 ms) is far beyond P2server: 0x78 chain, handled */
  ck_assert_uint_gt(b.pending_events, 0);
  dd_fd_reflash_destroy(&rf);
  s_teardown(&b);
}
END_TEST

START_TEST(test_counter_wraps_to_zero) {
  s_bench_t b;
  /* maxNumberOfBlockLength 6: 4 data bytes per TransferData; 1200 bytes need 300 blocks, so
   * the counter goes 01..FF, 00, 01.. (ISO 14229-1:2013 14.4) */
  s_setup(&b, 1200, 6, 0);
  dd_fd_reflash_t *rf = s_machine(&b, false, false);
  s_run(&b, rf);
  ck_assert_msg(dd_fd_reflash_phase(rf) == DD_FR_DONE, "%s", dd_fd_reflash_why(rf));
  ck_assert_uint_eq(dd_fd_reflash_blocks(rf), 300);
  ck_assert_str_eq(dd_fd_reflash_version(rf), "T-2.0");
  dd_fd_reflash_destroy(&rf);
  s_teardown(&b);
}
END_TEST

START_TEST(test_wrong_wrap_defect_refused) {
  s_bench_t b;
  s_setup(&b, 1200, 6, 0);
  dd_fd_reflash_t *rf = s_machine(&b, true, false);
  s_run(&b, rf);
  ck_assert(dd_fd_reflash_phase(rf) == DD_FR_FAILED);
  /* blocks 1..255 pass; the 256th carries 01 instead of 00: wrongBlockSequenceCounter */
  ck_assert_uint_eq(dd_fd_reflash_blocks(rf), 255);
  ck_assert_int_eq(dd_fd_reflash_error(rf), DD_EUDS_NRC);
  ck_assert_uint_eq(dd_fd_reflash_nrc(rf), 0x73);
  dd_fd_reflash_destroy(&rf);
  s_teardown(&b);
}
END_TEST

START_TEST(test_nrc_on_erase_stops) {
  s_bench_t b;
  s_setup(&b, 4096, 0x0402, 0);
  dd_uds_fault_t f = {.kind = DD_UDS_FAULT_NRC, .match = {0x31, 0x01, 0xFF, 0x00}, .match_len = 4,
                      .nrc = 0x22};
  ck_assert_int_eq(dd_uds_server_inject(b.srv, &f), 0);
  dd_fd_reflash_t *rf = s_machine(&b, false, false);
  s_run(&b, rf);
  ck_assert(dd_fd_reflash_phase(rf) == DD_FR_FAILED);
  ck_assert_int_eq(dd_fd_reflash_error(rf), DD_EUDS_NRC);
  ck_assert_uint_eq(dd_fd_reflash_nrc(rf), 0x22);
  ck_assert_uint_eq(dd_fd_reflash_blocks(rf), 0); /* nothing was transferred */
  ck_assert_ptr_nonnull(strstr(dd_fd_reflash_why(rf), "erase"));
  dd_fd_reflash_destroy(&rf);
  s_teardown(&b);
}
END_TEST

START_TEST(test_ignore_0x78_defect_fails) {
  s_bench_t b;
  /* the client stops waiting at the first 0x78 (what --defect ignore_0x78 configures) */
  s_setup(&b, 4096, 0x0402, 1);
  dd_fd_reflash_t *rf = s_machine(&b, false, false);
  s_run(&b, rf);
  ck_assert(dd_fd_reflash_phase(rf) == DD_FR_FAILED);
  ck_assert_int_eq(dd_fd_reflash_error(rf), DD_EUDS_TIMEOUT_P2X);
  ck_assert_uint_eq(dd_fd_reflash_blocks(rf), 0);
  dd_fd_reflash_destroy(&rf);
  s_teardown(&b);
}
END_TEST

START_TEST(test_two_regions_crc) {
  /* Application and calibration with a gap: FF01 carries the package's CRC-32 of its data,
   * which is what the ECU computes over the two downloads (no flash geometry needed). */
  s_bench_t b;
  s_setup2(&b, 4096, 1000, NULL, 0x0402, 0);
  ck_assert_uint_eq(dd_package_info(b.pkg)->region_count, 2);
  dd_fd_reflash_t *rf = s_machine(&b, false, true);
  s_run(&b, rf);
  ck_assert_msg(dd_fd_reflash_phase(rf) == DD_FR_DONE, "%s", dd_fd_reflash_why(rf));
  ck_assert_uint_eq(dd_fd_reflash_blocks(rf), 4 + 1);
  ck_assert_uint_eq(dd_fd_reflash_bytes(rf), 5096);
  dd_fd_reflash_destroy(&rf);
  s_teardown(&b);
}
END_TEST

START_TEST(test_version_mismatch_fails) {
  /* The package claims T-2.1; the image (and so the ECU after the reset) says T-2.0. */
  s_bench_t b;
  s_setup2(&b, 4096, 0, "T-2.1", 0x0402, 0);
  dd_fd_reflash_t *rf = s_machine(&b, false, true);
  s_run(&b, rf);
  ck_assert(dd_fd_reflash_phase(rf) == DD_FR_FAILED);
  ck_assert_int_eq(dd_fd_reflash_error(rf), DD_EVERSION);
  ck_assert_str_eq(dd_fd_reflash_version(rf), "T-2.0");
  ck_assert_ptr_nonnull(strstr(dd_fd_reflash_why(rf), "\"T-2.1\""));
  ck_assert_str_eq(dd_fd_reflash_step_name(rf), "software version read");
  dd_fd_reflash_destroy(&rf);
  s_teardown(&b);
}
END_TEST

/* One reflash attempt with a key constant; returns the machine (ended). */
static dd_fd_reflash_t *s_attempt(s_bench_t *b, uint32_t secret) {
  dd_fd_reflash_t *rf = s_machine_key(b, false, true, secret);
  s_run(b, rf);
  return rf;
}

START_TEST(test_security_lockout) {
  /* ISO 14229-1:2013 9.4 and annex A: invalid keys are answered 0x35; the one that reaches
   * the ECU's limit (3 attempts, dd_uds_server's default) 0x36, and a requestSeed during the
   * delay (10 s default) 0x37. Every attempt stops before the erase: the ECU keeps its
   * application. After the delay a correct key goes through. */
  s_bench_t b;
  s_setup(&b, 2048, 0x0402, 0);
  static const uint8_t want[] = {0x35, 0x35, 0x36};
  for (unsigned i = 0; i < 3; i++) {
    dd_fd_reflash_t *rf = s_attempt(&b, S_SECRET ^ 0x01010101u);
    ck_assert(dd_fd_reflash_phase(rf) == DD_FR_FAILED);
    ck_assert_int_eq(dd_fd_reflash_error(rf), DD_EUDS_NRC);
    ck_assert_uint_eq(dd_fd_reflash_nrc(rf), want[i]);
    ck_assert_str_eq(dd_fd_reflash_step_name(rf), "security access (key)");
    ck_assert_ptr_nonnull(strstr(dd_fd_reflash_why(rf), i < 2 ? "invalidKey (NRC 0x35)"
                                                             : "exceededNumberOfAttempts (NRC 0x36)"));
    ck_assert_uint_eq(dd_fd_reflash_blocks(rf), 0);
    ck_assert_uint_eq(dd_fd_reflash_transfer_us(rf, b.now), 0);
    dd_fd_reflash_destroy(&rf);
  }
  uint64_t locked_at = b.now;
  dd_fd_reflash_t *rf = s_attempt(&b, S_SECRET);
  ck_assert(dd_fd_reflash_phase(rf) == DD_FR_FAILED);
  ck_assert_uint_eq(dd_fd_reflash_nrc(rf), 0x37);
  ck_assert_str_eq(dd_fd_reflash_step_name(rf), "security access (seed)");
  ck_assert_ptr_nonnull(strstr(dd_fd_reflash_why(rf), "requiredTimeDelayNotExpired (NRC 0x37)"));
  dd_fd_reflash_destroy(&rf);
  ck_assert(dd_flash_app_valid(b.flash)); /* untouched */
  b.now = locked_at + 10000000;
  rf = s_attempt(&b, S_SECRET);
  ck_assert_msg(dd_fd_reflash_phase(rf) == DD_FR_DONE, "%s", dd_fd_reflash_why(rf));
  dd_fd_reflash_destroy(&rf);
  s_teardown(&b);
}
END_TEST

int main(void) {
  Suite *s = suite_create("fd_reflash");
  TCase *tc = tcase_create("sequence");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_success_with_crc);
  tcase_add_test(tc, test_counter_wraps_to_zero);
  tcase_add_test(tc, test_wrong_wrap_defect_refused);
  tcase_add_test(tc, test_nrc_on_erase_stops);
  tcase_add_test(tc, test_ignore_0x78_defect_fails);
  tcase_add_test(tc, test_two_regions_crc);
  tcase_add_test(tc, test_version_mismatch_fails);
  tcase_add_test(tc, test_security_lockout);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
