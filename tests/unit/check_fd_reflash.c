/* check_fd_reflash: the first device's reflash sequence (dd_fd_reflash) against an in-process
 * ECU (dd_uds_server with dd_flash) through the sans-I/O UDS client, on an injected clock:
 * a complete reflash (with the FF01 CRC record), the block counter wrapping past 0xFF with a
 * small maxNumberOfBlockLength, 0x78 chains during the erase, an NRC on the erase stopping it
 * cleanly before any transfer, the planted wrong_block_counter_wrap defect refused by the ECU,
 * and a client that gives up on 0x78 (the ignore_0x78 defect). Expected values come from
 * ISO 14229-1:2013 (14.4 counter wrap FF -> 00; annex A NRCs) and the ECU model's behaviour. */
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

static void s_setup(s_bench_t *b, size_t img_len, uint32_t max_block, uint64_t pending_max_us) {
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
  uint8_t pk[DD_PACKAGE_PUBLIC_KEY_BYTES], sk[DD_PACKAGE_SECRET_KEY_BYTES], seed[32];
  memset(seed, 0x42, sizeof seed);
  ck_assert_int_eq(dd_package_keypair_from_seed(seed, pk, sk), 0);
  dd_package_meta_t meta = {.package_id = "pkg-1",
                            .target = {.ecu_name = "ECM", .can_id = 0x7E0, .hw_part = "HW1"},
                            .sw_version = "T-2.0",
                            .created_at = 1700000000};
  uint8_t *bytes = NULL;
  size_t len = 0;
  ck_assert_int_eq(dd_package_build(im, &meta, sk, &bytes, &len), 0);
  dd_image_destroy(&im);
  char why[DD_PACKAGE_WHY_MAX];
  ck_assert_int_eq(dd_package_open(bytes, len, pk, &meta.target, &b->pkg, why, sizeof why), 0);
  free(bytes);
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

static dd_fd_reflash_t *s_machine(s_bench_t *b, bool wrong_wrap, bool crc) {
  dd_fd_reflash_cfg_t cfg;
  dd_fd_reflash_cfg_default(&cfg);
  cfg.secret = S_SECRET;
  cfg.wrong_bsc_wrap = wrong_wrap;
  if (crc) {
    cfg.crc_area_base = S_BASE;
    cfg.crc_area_size = S_SECTOR * S_SECTORS;
  }
  dd_fd_reflash_t *rf = NULL;
  ck_assert_int_eq(dd_fd_reflash_new(&cfg, b->pkg, &rf), 0);
  return rf;
}

START_TEST(test_success_with_crc) {
  s_bench_t b;
  s_setup(&b, 8192, 0x0402, 0);
  dd_fd_reflash_t *rf = s_machine(&b, false, true);
  s_run(&b, rf);
  ck_assert_msg(dd_fd_reflash_phase(rf) == DD_FR_DONE, "%s", dd_fd_reflash_why(rf));
  ck_assert_str_eq(dd_fd_reflash_version(rf), "T-2.0");
  ck_assert_uint_eq(dd_fd_reflash_percent(rf), 100);
  ck_assert_uint_eq(dd_fd_reflash_blocks(rf), 8); /* 8192 bytes, 1024 per block */
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

int main(void) {
  Suite *s = suite_create("fd_reflash");
  TCase *tc = tcase_create("sequence");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_success_with_crc);
  tcase_add_test(tc, test_counter_wraps_to_zero);
  tcase_add_test(tc, test_wrong_wrap_defect_refused);
  tcase_add_test(tc, test_nrc_on_erase_stops);
  tcase_add_test(tc, test_ignore_0x78_defect_fails);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
