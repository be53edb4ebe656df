/* check_flash: unit tests of the flash model and bootloader logic: CRC-32, erase and write
 * timing, the TransferData block counter (start 0x01, wrap 0xFF -> 0x00, repetition),
 * download bounds, transfer exit, checkProgrammingDependencies (its CRC-32 over the ranges
 * programmed since the erase), boot and power loss.
 *
 * Vectors: CRC-32/ISO-HDLC check value 0xCBF43926 for "123456789" (the catalogue of
 * parametrised CRC algorithms, reveng.sourceforge.io, and zlib's crc32); "The quick brown fox
 * jumps over the lazy dog" -> 0x414FA339 (zlib crc32, independent implementation). */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dd_err.h"
#include "dd_flash.h"

#define MS 1000ull

typedef struct {
  int calls;           /* verify hook calls */
  int verdict;         /* what the hook answers */
  size_t len;          /* area length it saw */
  const char *version; /* version it publishes (NULL: none) */
} s_hook_t;

static int s_verify(void *user, const uint8_t *area, size_t len, char *version, size_t cap) {
  s_hook_t *h = user;
  h->calls++;
  h->len = len;
  if (h->version) {
    strncpy(version, h->version, cap - 1);
    version[cap - 1] = '\0';
  }
  return h->verdict;
}

/* 4 sectors of 256 bytes at 0x1000; erase 10 ms/sector; write 1 ms + 2 us/byte; verify 5 ms;
 * blocks of 16 data bytes. */
static dd_flash_t *s_flash(const char *version, s_hook_t *hook) {
  dd_flash_cfg_t cfg;
  dd_flash_cfg_default(&cfg);
  cfg.base = 0x1000;
  cfg.sector_size = 256;
  cfg.sector_count = 4;
  cfg.erase_sector_us = 10 * MS;
  cfg.write_block_us = 1 * MS;
  cfg.write_us_per_byte = 2.0;
  cfg.verify_us = 5 * MS;
  cfg.max_block_length = 18;
  cfg.version_offset = 0x10;
  cfg.version_len = 16;
  cfg.version = version;
  if (hook) {
    cfg.verify = s_verify;
    cfg.user = hook;
  }
  dd_flash_t *f = dd_flash_new(&cfg);
  ck_assert_ptr_nonnull(f);
  return f;
}

START_TEST(test_crc32_vectors) {
  ck_assert_uint_eq(dd_flash_crc32(0, (const uint8_t *)"123456789", 9), 0xCBF43926u);
  const char *fox = "The quick brown fox jumps over the lazy dog";
  ck_assert_uint_eq(dd_flash_crc32(0, (const uint8_t *)fox, strlen(fox)), 0x414FA339u);
  /* Chaining equals one pass. */
  uint32_t c = dd_flash_crc32(0, (const uint8_t *)fox, 10);
  ck_assert_uint_eq(dd_flash_crc32(c, (const uint8_t *)fox + 10, strlen(fox) - 10), 0x414FA339u);
  ck_assert_uint_eq(dd_flash_crc32(0, NULL, 0), 0);
}
END_TEST

START_TEST(test_boot_and_version) {
  dd_flash_t *f = s_flash("SW 1.0", NULL);
  ck_assert_str_eq(dd_flash_version(f), ""); /* not booted yet */
  ck_assert(dd_flash_boot(f, 0));
  ck_assert_str_eq(dd_flash_version(f), "SW 1.0");
  uint8_t b[6];
  ck_assert_int_eq(dd_flash_read(f, 0x1010, 6, b, 0), 0);
  ck_assert_mem_eq(b, "SW 1.0", 6);
  ck_assert_int_eq(dd_flash_read(f, 0x0FFF, 2, b, 0), DD_ERANGE);
  ck_assert_int_eq(dd_flash_read(f, 0x13FF, 2, b, 0), DD_ERANGE);
  ck_assert_uint_eq(dd_flash_size(f), 1024);
  ck_assert_uint_eq(dd_flash_base(f), 0x1000);
  dd_flash_destroy(&f);
  ck_assert_ptr_null(f);
  f = s_flash(NULL, NULL);
  ck_assert(!dd_flash_boot(f, 0)); /* erased: bootloader */
  ck_assert(!dd_flash_app_valid(f));
  dd_flash_destroy(&f);
}
END_TEST

START_TEST(test_erase_timing) {
  dd_flash_t *f = s_flash("SW 1.0", NULL);
  dd_flash_boot(f, 0);
  uint64_t ready = 0;
  ck_assert_int_eq(dd_flash_erase(f, 0x1100, 0x101, 100, &ready), 0); /* sectors 1 and 2 */
  ck_assert_uint_eq(ready, 100 + 20 * MS);
  ck_assert(!dd_flash_app_valid(f)); /* cleared before the cells change */
  ck_assert(dd_flash_busy(f, ready - 1));
  ck_assert(!dd_flash_busy(f, ready));
  uint8_t b[2];
  ck_assert_int_eq(dd_flash_read(f, 0x1100, 1, b, ready), 0);
  ck_assert_uint_eq(b[0], 0xFF);
  ck_assert_int_eq(dd_flash_erase(f, 0x0F00, 16, ready, &ready), DD_ERANGE);
  /* Sector 0 was not erased: a download there is refused, sectors 1-2 are fine. */
  ck_assert_int_eq(dd_flash_download(f, 0x1000, 16, 0x00, ready), DD_EPERM);
  ck_assert_int_eq(dd_flash_download(f, 0x1100, 512, 0x00, ready), 0);
  ck_assert_int_eq(dd_flash_download(f, 0x1100, 512, 0x00, ready), DD_EBUSY);
  ck_assert_int_eq(dd_flash_erase(f, 0, 0, ready, &ready), DD_EBUSY);
  dd_flash_destroy(&f);
}
END_TEST

START_TEST(test_transfer_counter_wrap) {
  dd_flash_t *f = s_flash(NULL, NULL);
  dd_flash_boot(f, 0);
  uint64_t now = 0, ready;
  ck_assert_int_eq(dd_flash_download(f, 0x1000, 1024, 0x01, now), DD_ENOTSUP);
  ck_assert_int_eq(dd_flash_download(f, 0x1000, 0, 0x00, now), DD_ERANGE);
  ck_assert_int_eq(dd_flash_download(f, 0x1000, 1025, 0x00, now), DD_ERANGE);
  ck_assert_int_eq(dd_flash_download(f, 0x1000, 1024, 0x00, now), 0);
  uint8_t data[16];
  /* The first counter is 0x01. */
  ck_assert_int_eq(dd_flash_transfer(f, 0x00, data, 4, now, &ready), DD_EILSEQ);
  /* 1024 bytes in 4-byte blocks: 256 blocks, counters 01..FF then 00. */
  uint8_t bsc = 0x01;
  for (unsigned i = 0; i < 256; i++) {
    for (unsigned k = 0; k < 4; k++)
      data[k] = (uint8_t)(i + k);
    int rc = dd_flash_transfer(f, bsc, data, 4, now, &ready);
    ck_assert_int_eq(rc, 0);
    ck_assert_uint_eq(ready, now + 1 * MS + 8);
    now = ready;
    if (i == 254) ck_assert_uint_eq(bsc, 0xFF);
    bsc = (uint8_t)(bsc + 1);
  }
  ck_assert_uint_eq(bsc, 0x01); /* the last one sent was 0x00 */
  /* Repetition of the last block: accepted, not written. */
  memset(data, 0x00, 4);
  ck_assert_int_eq(dd_flash_transfer(f, 0x00, data, 4, now, &ready), 1);
  ck_assert_uint_eq(ready, now);
  uint8_t b[4];
  ck_assert_int_eq(dd_flash_read(f, 0x1000 + 1020, 4, b, now), 0);
  ck_assert_uint_eq(b[0], 255);
  /* One byte more than requested: DD_ERANGE and the download ends. */
  ck_assert_int_eq(dd_flash_transfer(f, 0x01, data, 1, now, &ready), DD_ERANGE);
  ck_assert(!dd_flash_download_open(f));
  ck_assert_int_eq(dd_flash_transfer(f, 0x01, data, 1, now, &ready), DD_EPROTO);
  dd_flash_destroy(&f);
}
END_TEST

START_TEST(test_transfer_errors_and_exit) {
  dd_flash_t *f = s_flash(NULL, NULL);
  dd_flash_boot(f, 0);
  uint64_t ready;
  uint32_t crc;
  uint8_t data[17];
  memset(data, 0x5A, sizeof data);
  ck_assert_int_eq(dd_flash_transfer_exit(f, 0, false, 0, &crc), DD_EPROTO);
  ck_assert_int_eq(dd_flash_download(f, 0x1000, 32, 0x00, 0), 0);
  ck_assert_int_eq(dd_flash_transfer(f, 0x01, data, 17, 0, &ready), DD_EMSGSIZE);
  ck_assert_int_eq(dd_flash_transfer(f, 0x01, data, 16, 0, &ready), 0);
  ck_assert_int_eq(dd_flash_transfer_exit(f, ready, false, 0, &crc), DD_EPROTO); /* 16 of 32 */
  ck_assert(dd_flash_download_open(f));
  ck_assert_int_eq(dd_flash_transfer(f, 0x02, data, 16, ready, &ready), 0);
  ck_assert_int_eq(dd_flash_transfer_exit(f, ready, true, 0x12345678u, &crc), DD_ECRC);
  ck_assert(!dd_flash_download_open(f));
  uint8_t all[32];
  memset(all, 0x5A, 32);
  ck_assert_uint_eq(crc, dd_flash_crc32(0, all, 32));
  /* Writing over programmed cells fails (they only clear bits): DD_EIO. */
  ck_assert_int_eq(dd_flash_download(f, 0x1000, 16, 0x00, ready), 0);
  memset(data, 0xA5, 16);
  ck_assert_int_eq(dd_flash_transfer(f, 0x01, data, 16, ready, &ready), DD_EIO);
  memset(data, 0x50, 16); /* a subset of 0x5A's bits: fine */
  ck_assert_int_eq(dd_flash_transfer(f, 0x01, data, 16, ready, &ready), 0);
  ck_assert_int_eq(dd_flash_transfer_exit(f, ready, true, dd_flash_crc32(0, data, 16), &crc), 0);
  dd_flash_destroy(&f);
}
END_TEST

/* Erase everything, download the whole area as image (16-byte blocks), exit. */
static uint64_t s_program(dd_flash_t *f, const uint8_t *img, uint64_t now) {
  uint64_t ready;
  ck_assert_int_eq(dd_flash_erase(f, 0, 0, now, &ready), 0);
  ck_assert_uint_eq(ready, now + 40 * MS);
  now = ready;
  ck_assert_int_eq(dd_flash_download(f, 0x1000, 1024, 0x00, now), 0);
  uint8_t bsc = 0x01;
  for (unsigned at = 0; at < 1024; at += 16) {
    ck_assert_int_eq(dd_flash_transfer(f, bsc, img + at, 16, now, &ready), 0);
    now = ready;
    bsc = (uint8_t)(bsc + 1);
  }
  uint32_t crc;
  ck_assert_int_eq(dd_flash_transfer_exit(f, now, true, dd_flash_crc32(0, img, 1024), &crc), 0);
  return now;
}

static void s_image(uint8_t *img, const char *version) {
  for (unsigned i = 0; i < 1024; i++)
    img[i] = (uint8_t)(i ^ 0x3C);
  memset(img + 0x10, 0xFF, 16);
  memcpy(img + 0x10, version, strlen(version));
}

START_TEST(test_check_and_boot) {
  s_hook_t hook = {.verdict = 0};
  dd_flash_t *f = s_flash("SW 1.0", &hook);
  dd_flash_boot(f, 0);
  uint64_t ready;
  ck_assert_uint_eq(dd_flash_check(f, false, 0, 0, &ready), DD_FLASH_CHECK_INCOMPLETE);
  uint8_t img[1024];
  s_image(img, "SW 2.0");
  uint64_t now = s_program(f, img, 10);
  ck_assert_uint_eq(dd_flash_check(f, true, 0xDEADBEEF, now, &ready), DD_FLASH_CHECK_CRC);
  hook.verdict = -1;
  ck_assert_uint_eq(dd_flash_check(f, true, dd_flash_crc32(0, img, 1024), now, &ready),
                    DD_FLASH_CHECK_SIGNATURE);
  ck_assert_int_eq(hook.calls, 1);
  ck_assert_uint_eq(hook.len, 1024);
  hook.verdict = 0;
  ck_assert_uint_eq(dd_flash_check(f, false, 0, now, &ready), DD_FLASH_CHECK_OK);
  ck_assert_uint_eq(ready, now + 5 * MS);
  dd_flash_poll(f, ready - 1);
  ck_assert(!dd_flash_app_valid(f)); /* not before the check completes */
  dd_flash_poll(f, ready);
  ck_assert(dd_flash_app_valid(f));
  ck_assert_str_eq(dd_flash_version(f), "SW 1.0"); /* until the reset */
  ck_assert(dd_flash_boot(f, ready + 1));
  ck_assert_str_eq(dd_flash_version(f), "SW 2.0");
  ck_assert_str_eq(dd_flash_check_name(DD_FLASH_CHECK_SIGNATURE), "signature");
  /* The hook may publish the version itself. */
  s_image(img, "SW 3.0");
  hook.version = "SW 3.0-signed";
  now = s_program(f, img, ready + 10);
  ck_assert_uint_eq(dd_flash_check(f, false, 0, now, &ready), DD_FLASH_CHECK_OK);
  ck_assert(dd_flash_boot(f, ready));
  ck_assert_str_eq(dd_flash_version(f), "SW 3.0-signed");
  dd_flash_destroy(&f);
}
END_TEST

/* One download of len bytes at addr in 16-byte blocks, closed; returns the time after it. */
static uint64_t s_download_range(dd_flash_t *f, uint32_t addr, const uint8_t *data, uint32_t len,
                                 uint64_t now) {
  uint64_t ready;
  ck_assert_int_eq(dd_flash_download(f, addr, len, 0x00, now), 0);
  uint8_t bsc = 0x01;
  for (uint32_t at = 0; at < len; at += 16) {
    ck_assert_int_eq(dd_flash_transfer(f, bsc, data + at, len - at < 16 ? len - at : 16, now,
                                       &ready), 0);
    now = ready;
    bsc = (uint8_t)(bsc + 1);
  }
  ck_assert_int_eq(dd_flash_transfer_exit(f, now, false, 0, NULL), 0);
  return now;
}

START_TEST(test_check_crc_of_programmed_ranges) {
  /* Two regions with a gap (as a package with an application and a calibration): the check's
   * CRC-32 is over the downloaded bytes in download order, or over the whole area. */
  dd_flash_t *f = s_flash("SW 1.0", NULL);
  dd_flash_boot(f, 0);
  uint8_t app[256], cal[100];
  for (unsigned i = 0; i < sizeof app; i++) app[i] = (uint8_t)(i * 7 + 1);
  for (unsigned i = 0; i < sizeof cal; i++) cal[i] = (uint8_t)(i ^ 0xA5);
  uint64_t ready;
  ck_assert_int_eq(dd_flash_erase(f, 0, 0, 0, &ready), 0);
  uint64_t now = s_download_range(f, 0x1000, app, sizeof app, ready);
  now = s_download_range(f, 0x1280, cal, sizeof cal, now);
  uint32_t both = dd_flash_crc32(dd_flash_crc32(0, app, sizeof app), cal, sizeof cal);
  uint8_t area[1024];
  ck_assert_int_eq(dd_flash_read(f, 0x1000, sizeof area, area, now), 0);
  uint32_t whole = dd_flash_crc32(0, area, sizeof area);
  ck_assert_uint_ne(whole, both);
  ck_assert_uint_eq(dd_flash_check(f, true, dd_flash_crc32(0, app, sizeof app), now, &ready),
                    DD_FLASH_CHECK_CRC); /* the first region alone is not what was programmed */
  ck_assert_uint_eq(dd_flash_check(f, true, both ^ 1u, now, &ready), DD_FLASH_CHECK_CRC);
  ck_assert_uint_eq(dd_flash_check(f, true, both, now, &ready), DD_FLASH_CHECK_OK);
  ck_assert(dd_flash_boot(f, ready));
  ck_assert_uint_eq(dd_flash_check(f, true, whole, ready, &ready),
                    DD_FLASH_CHECK_INCOMPLETE); /* nothing new since the check */
  /* After a new erase nothing counts as programmed until a download completes. */
  ck_assert_int_eq(dd_flash_erase(f, 0, 0, ready, &ready), 0);
  ck_assert_uint_eq(dd_flash_check(f, true, both, ready, &ready), DD_FLASH_CHECK_INCOMPLETE);
  /* Many downloads (more than the first allocation holds) chain in order. */
  uint32_t crc = 0;
  now = ready;
  for (uint32_t i = 0; i < 20; i++) {
    now = s_download_range(f, 0x1000 + 48 * i, cal + i, 40, now);
    crc = dd_flash_crc32(crc, cal + i, 40);
  }
  ck_assert_uint_eq(dd_flash_check(f, true, crc, now, &ready), DD_FLASH_CHECK_OK);
  /* The whole area's CRC-32 is the other accepted form. */
  ck_assert_int_eq(dd_flash_erase(f, 0, 0, ready, &ready), 0);
  now = s_download_range(f, 0x1000, app, sizeof app, ready);
  now = s_download_range(f, 0x1280, cal, sizeof cal, now);
  ck_assert_uint_eq(dd_flash_check(f, true, whole, now, &ready), DD_FLASH_CHECK_OK);
  dd_flash_destroy(&f);
}
END_TEST

START_TEST(test_power_loss) {
  dd_flash_t *f = s_flash("SW 1.0", NULL);
  dd_flash_boot(f, 0);
  uint8_t img[1024];
  s_image(img, "SW 2.0");
  uint64_t ready;
  /* Cut in the middle of a 16-byte write (1 ms + 32 us): about half the bytes made it. */
  ck_assert_int_eq(dd_flash_erase(f, 0, 0, 0, &ready), 0);
  ck_assert_int_eq(dd_flash_download(f, 0x1000, 1024, 0x00, ready), 0);
  uint64_t t = ready;
  ck_assert_int_eq(dd_flash_transfer(f, 0x01, img, 16, t, &ready), 0);
  dd_flash_power_loss(f, t + (ready - t) / 2);
  ck_assert(!dd_flash_download_open(f));
  ck_assert(!dd_flash_boot(f, ready + 1000)); /* no valid application: bootloader */
  uint8_t b[16];
  ck_assert_int_eq(dd_flash_read(f, 0x1000, 16, b, ready + 1000), 0);
  ck_assert_mem_eq(b, img, 8);
  ck_assert_uint_eq(b[15], 0xFF);
  /* A power cut in the middle of an erase leaves the later sectors as they were. */
  dd_flash_destroy(&f);
  f = s_flash("SW 1.0", NULL);
  dd_flash_boot(f, 0);
  ck_assert_int_eq(dd_flash_erase(f, 0, 0, 0, &ready), 0);
  dd_flash_power_loss(f, 25 * MS); /* 2.5 of 4 sectors' time */
  ck_assert(!dd_flash_boot(f, 30 * MS));
  ck_assert_int_eq(dd_flash_download(f, 0x1000, 512, 0x00, 30 * MS), 0);
  ck_assert_int_eq(dd_flash_transfer_exit(f, 30 * MS, false, 0, NULL), DD_EPROTO);
  dd_flash_abort_download(f);
  ck_assert_int_eq(dd_flash_download(f, 0x1200, 256, 0x00, 30 * MS), DD_EPERM);
  /* A cut during the final check: the flag is not set. */
  uint64_t now = s_program(f, img, 40 * MS);
  ck_assert_uint_eq(dd_flash_check(f, false, 0, now, &ready), DD_FLASH_CHECK_OK);
  dd_flash_power_loss(f, ready - 1);
  ck_assert(!dd_flash_boot(f, ready + 10));
  /* A new full flash recovers. */
  now = s_program(f, img, ready + 20);
  ck_assert_uint_eq(dd_flash_check(f, false, 0, now, &ready), DD_FLASH_CHECK_OK);
  ck_assert(dd_flash_boot(f, ready));
  ck_assert_str_eq(dd_flash_version(f), "SW 2.0");
  dd_flash_destroy(&f);
}
END_TEST

START_TEST(test_config) {
  dd_flash_cfg_t cfg;
  dd_flash_cfg_default(&cfg);
  cfg.sector_size = 0;
  ck_assert_ptr_null(dd_flash_new(&cfg));
  dd_flash_cfg_default(&cfg);
  cfg.max_block_length = 2;
  ck_assert_ptr_null(dd_flash_new(&cfg));
  dd_flash_cfg_default(&cfg);
  cfg.base = 0xFFFFF000u;
  ck_assert_ptr_null(dd_flash_new(&cfg));
  dd_flash_cfg_default(&cfg);
  uint8_t img[8] = {1, 2, 3};
  cfg.image = img;
  cfg.image_len = sizeof img;
  dd_flash_t *f = dd_flash_new(&cfg);
  ck_assert_ptr_nonnull(f);
  ck_assert(dd_flash_boot(f, 0));
  ck_assert_str_eq(dd_flash_version(f), ""); /* the image carries no version string */
  ck_assert_uint_eq(dd_flash_max_block_length(f), 0x0402);
  dd_flash_destroy(&f);
}
END_TEST

static Suite *s_suite(void) {
  Suite *s = suite_create("flash");
  TCase *tc = tcase_create("flash");
  tcase_add_test(tc, test_crc32_vectors);
  tcase_add_test(tc, test_boot_and_version);
  tcase_add_test(tc, test_erase_timing);
  tcase_add_test(tc, test_transfer_counter_wrap);
  tcase_add_test(tc, test_transfer_errors_and_exit);
  tcase_add_test(tc, test_check_and_boot);
  tcase_add_test(tc, test_check_crc_of_programmed_ranges);
  tcase_add_test(tc, test_power_loss);
  tcase_add_test(tc, test_config);
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
