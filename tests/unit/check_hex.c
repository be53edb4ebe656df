/* check_hex: the Intel HEX reader and writer, against the specification's rules, published
 * example files and binutils' objcopy as an independent writer and reader. */
#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dd_err.h"
#include "dd_hex.h"
#include "dd_image.h"

/* ---- helpers ---- */

#define DD_IMAGE_TEST_DIR "/tmp/check_hex.XXXXXX"
#include "dd_image_test.h"

static dd_image_t *s_read_ok(const char *text, size_t len) {
  dd_image_t *img = dd_image_new();
  char why[DD_IMAGE_WHY_MAX];
  int rc = dd_hex_read(text, len, "t.hex", img, why, sizeof why);
  ck_assert_msg(rc == 0, "dd_hex_read: %s (%s)", why, dd_err_name(rc));
  return img;
}

/* ---- published examples ---- */

/* The example file of the Wikipedia "Intel HEX" article (64 bytes at 0x0100, 8080 code). */
static const char s_wiki[] = ":10010000214601360121470136007EFE09D2190140\n"
                             ":100110002146017E17C20001FF5F16002148011928\n"
                             ":10012000194E79234623965778239EDA3F01B2CAA7\n"
                             ":100130003F0156702B5E712B722B732146013421C7\n"
                             ":00000001FF\n";

START_TEST(test_published_examples) {
  dd_image_t *img = s_read_ok(s_wiki, strlen(s_wiki));
  ck_assert_uint_eq(dd_image_region_count(img), 1);
  dd_image_region_t r = dd_image_region(img, 0);
  ck_assert_uint_eq(r.addr, 0x0100);
  ck_assert_uint_eq(r.len, 64);
  static const uint8_t head[] = {0x21, 0x46, 0x01, 0x36, 0x01, 0x21, 0x47, 0x01};
  static const uint8_t tail[] = {0x21, 0x46, 0x01, 0x34, 0x21};
  ck_assert_mem_eq(r.data, head, sizeof head);
  ck_assert_mem_eq(r.data + 59, tail, sizeof tail);
  ck_assert(!dd_image_entry(img, NULL));
  /* objcopy reads the same file to the same 64 bytes */
  s_need_objcopy();
  s_mkdir();
  s_spit(s_path("w.hex"), s_wiki, strlen(s_wiki));
  s_run("objcopy -I ihex -O binary '%s' '%s/w.bin'", s_path("w.hex"), s_dir);
  size_t n;
  char *bin = s_slurp(s_path("w.bin"), &n);
  ck_assert_uint_eq(n, 64);
  ck_assert_mem_eq(bin, r.data, 64);
  free(bin);
  s_rmdir();
  dd_image_destroy(&img);

  /* "Hello, World\n" at 0, the example of the SRecord project's srec_intel(5) manual page */
  static const char hello[] = ":0D00000048656C6C6F2C20576F726C640AA1\r\n:00000001FF\r\n";
  img = s_read_ok(hello, strlen(hello));
  s_expect_region(img, 0, 0, (const uint8_t *)"Hello, World\n", 13);
  dd_image_destroy(&img);
}
END_TEST

/* ---- objcopy cross-checks ---- */

/* Bases: 16-bit only; unaligned; segment mode crossing 64 KiB; segment mode running into the
 * 1 MiB line (objcopy then switches to 04 records with an 02 0000 first); linear crossing
 * 64 KiB; the top of the 32-bit space. */
static const uint32_t s_bases[] = {0x00000000u, 0x00001234u, 0x0001FFF0u,
                                   0x000FFFF8u, 0x8001FFF0u, 0xFFFFFC00u};
#define S_BIN_LEN 1000u

START_TEST(test_objcopy_written_files_read) {
  s_need_objcopy();
  s_mkdir();
  uint8_t bin[S_BIN_LEN];
  s_gen(bin, sizeof bin, 0x1234567u, NULL);
  s_spit(s_path("in.bin"), bin, sizeof bin);
  for (size_t k = 0; k < sizeof s_bases / sizeof s_bases[0]; k++) {
    uint32_t a = s_bases[k];
    s_run("cd '%s' && objcopy -I binary -O ihex --change-addresses 0x%08X in.bin out.hex", s_dir,
          a);
    size_t n;
    char *text = s_slurp(s_path("out.hex"), &n);
    dd_image_t *img = s_read_ok(text, n);
    ck_assert_uint_eq(dd_image_region_count(img), 1);
    s_expect_region(img, 0, a, bin, sizeof bin);
    uint32_t entry = 0;
    /* objcopy moves the start address along and writes it only when it is not 0 */
    ck_assert_int_eq(dd_image_entry(img, &entry), a != 0);
    if (a) ck_assert_uint_eq(entry, a);
    dd_image_destroy(&img);
    free(text);
  }
  s_rmdir();
}
END_TEST

START_TEST(test_writer_matches_objcopy_byte_for_byte) {
  s_need_objcopy();
  s_mkdir();
  uint8_t bin[S_BIN_LEN];
  s_gen(bin, sizeof bin, 0xCAFEF00Du, NULL);
  s_spit(s_path("in.bin"), bin, sizeof bin);
  for (size_t k = 0; k < sizeof s_bases / sizeof s_bases[0]; k++) {
    uint32_t a = s_bases[k];
    s_run("cd '%s' && objcopy -I binary -O ihex --change-addresses 0x%08X in.bin out.hex", s_dir,
          a);
    size_t n;
    char *ref = s_slurp(s_path("out.hex"), &n);
    dd_image_t *img = dd_image_new();
    ck_assert_int_eq(dd_image_add(img, a, bin, sizeof bin), 0);
    if (a) dd_image_set_entry(img, a);
    dd_hex_opts_t o = {.record_len = 16, .crlf = true, .mode = DD_HEX_ADDR_SEGMENT};
    char *mine = NULL;
    size_t mlen = 0;
    ck_assert_int_eq(dd_hex_write(img, &o, &mine, &mlen), 0);
    ck_assert_uint_eq(mlen, strlen(mine));
    ck_assert_msg(mlen == n && memcmp(mine, ref, n) == 0, "base 0x%08X differs from objcopy", a);
    free(mine);
    free(ref);
    dd_image_destroy(&img);
  }
  s_rmdir();
}
END_TEST

/* Our default writer (linear, "\n") with several record lengths and regions, read back by
 * objcopy into a flat binary with a known gap fill. */
START_TEST(test_objcopy_reads_writer_output) {
  s_need_objcopy();
  s_mkdir();
  static const struct {
    uint32_t addr; /* region start */
    size_t len;    /* region length */
  } regs[] = {{0x80000000u, 300}, {0x8000FFF0u, 700}, {0x80020001u, 33}};
  static const unsigned lens[] = {1, 7, 16, 32, 255};
  uint8_t data[700];
  dd_image_t *img = dd_image_new();
  for (size_t i = 0; i < 3; i++) {
    s_gen(data, regs[i].len, 0x9E3779B9u + (uint32_t)i, NULL);
    ck_assert_int_eq(dd_image_add(img, regs[i].addr, data, regs[i].len), 0);
  }
  uint32_t lo = regs[0].addr;
  size_t span = regs[2].addr + regs[2].len - lo;
  uint8_t *flat = malloc(span);
  memset(flat, 0xA5, span);
  for (size_t i = 0; i < dd_image_region_count(img); i++) {
    dd_image_region_t r = dd_image_region(img, i);
    memcpy(flat + (r.addr - lo), r.data, r.len);
  }
  for (size_t k = 0; k < sizeof lens / sizeof lens[0]; k++) {
    dd_hex_opts_t o = {.record_len = lens[k]};
    char *text = NULL;
    size_t n = 0;
    ck_assert_int_eq(dd_hex_write(img, &o, &text, &n), 0);
    s_spit(s_path("mine.hex"), text, n);
    s_run("cd '%s' && objcopy -I ihex -O binary --gap-fill 0xA5 mine.hex mine.bin", s_dir);
    size_t bn;
    char *bin = s_slurp(s_path("mine.bin"), &bn);
    ck_assert_uint_eq(bn, span);
    ck_assert_mem_eq(bin, flat, span);
    free(bin);
    /* and we read our own output back to the same image */
    dd_image_t *back = s_read_ok(text, n);
    ck_assert(dd_image_equal(img, back));
    dd_image_destroy(&back);
    free(text);
  }
  free(flat);
  dd_image_destroy(&img);
  s_rmdir();
}
END_TEST

/* ---- the record rules of the specification ---- */

START_TEST(test_address_records) {
  /* 02 USBA 0x1000: SBA 0x10000; a record at offset 0xFFFE wraps within the segment
   * ("SBA + ((DRLO + DRI) MOD 64K)"). binutils does not wrap here; the specification does. */
  static const char seg[] = ":020000021000EC\n:04FFFE0001020304F5\n:00000001FF\n";
  dd_image_t *img = s_read_ok(seg, strlen(seg));
  ck_assert_uint_eq(dd_image_region_count(img), 2);
  s_expect_region(img, 0, 0x10000, (const uint8_t *)"\x03\x04", 2);
  s_expect_region(img, 1, 0x1FFFE, (const uint8_t *)"\x01\x02", 2);
  dd_image_destroy(&img);
  /* 04 ULBA 0x0001: LBA 0x10000; the same record runs on into the next 64 KiB */
  static const char lin[] = ":020000040001F9\n:04FFFE0001020304F5\n:00000001FF\n";
  img = s_read_ok(lin, strlen(lin));
  ck_assert_uint_eq(dd_image_region_count(img), 1);
  s_expect_region(img, 0, 0x1FFFE, (const uint8_t *)"\x01\x02\x03\x04", 4);
  dd_image_destroy(&img);
  /* 03 CS:IP = 1234:5678 -> 0x12340 + 0x5678; 05 EIP */
  static const char s3[] = ":0400000312345678E5\n:00000001FF\n";
  img = s_read_ok(s3, strlen(s3));
  uint32_t e = 0;
  ck_assert(dd_image_entry(img, &e));
  ck_assert_uint_eq(e, 0x12340u + 0x5678u);
  dd_image_destroy(&img);
  static const char s5[] = ":04000005800201F084\n:00000001FF\n";
  img = s_read_ok(s5, strlen(s5));
  ck_assert(dd_image_entry(img, &e));
  ck_assert_uint_eq(e, 0x800201F0u);
  /* the linear writer writes 05 for it, the segment writer too (above 1 MiB) */
  char *t = NULL;
  size_t n = 0;
  ck_assert_int_eq(dd_hex_write(img, NULL, &t, &n), 0);
  ck_assert_str_eq(t, ":04000005800201F084\n:00000001FF\n");
  free(t);
  dd_image_destroy(&img);
  /* lower-case digits, CRLF, trailing blanks and blank lines are accepted */
  static const char loose[] = "\n:0300300002337a1e \r\n\r\n:00000001ff\t\n\n";
  img = s_read_ok(loose, strlen(loose));
  s_expect_region(img, 0, 0x0030, (const uint8_t *)"\x02\x33\x7A", 3);
  dd_image_destroy(&img);
}
END_TEST

START_TEST(test_checksum_message_with_line_number) {
  /* 16 good records, then one whose checksum byte is 0x3C where the sum needs 0x4A */
  char text[2048] = "";
  for (int i = 0; i < 16; i++) {
    char line[64];
    uint8_t cs = (uint8_t)(0x100 - ((1 + i + 0xAA) & 0xFF)); /* 01 00ii 00 AA */
    snprintf(line, sizeof line, ":0100%02X00AA%02X\n", i, cs);
    strcat(text, line);
  }
  strcat(text, ":01000000B53C\n:00000001FF\n");
  dd_image_t *img = dd_image_new();
  char why[DD_IMAGE_WHY_MAX];
  ck_assert_int_eq(dd_hex_read(text, strlen(text), "image.hex", img, why, sizeof why), DD_EILSEQ);
  ck_assert_str_eq(why, "image.hex:17: checksum 0x3C, expected 0x4A");
  dd_image_destroy(&img);
}
END_TEST

START_TEST(test_errors) {
  static const struct {
    const char *text; /* input */
    int rc;           /* expected code */
    const char *why;  /* expected message */
  } v[] = {
      {"S00600004844521B\n", DD_EILSEQ,
       "e.hex:1: expected ':' at the start of a record, found 'S'"},
      {":10G1\n", DD_EILSEQ, "e.hex:1: 'G' at column 4 is not a hex digit"},
      {":00000001FF\n:0000000\n", DD_EILSEQ, "e.hex:2: data after the end-of-file record"},
      {":0000000\n", DD_EILSEQ, "e.hex:1: odd number of hex digits (7)"},
      {":00000001\n", DD_EILSEQ, "e.hex:1: record too short: 8 hex digits, at least 10"},
      {":0200000001FD\n", DD_EILSEQ,
       "e.hex:1: record length 0x02 announces 2 data bytes, the record has 1"},
      {":00000006FA\n", DD_EILSEQ, "e.hex:1: unknown record type 0x06"},
      {":0100000100FE\n", DD_EILSEQ, "e.hex:1: end-of-file record with 1 data bytes, expected 0"},
      {":0100000401FA\n", DD_EILSEQ,
       "e.hex:1: extended linear address record with 1 data bytes, expected 2"},
      {":03000002000000FB\n", DD_EILSEQ,
       "e.hex:1: extended segment address record with 3 data bytes, expected 2"},
      {":020000051234B3\n", DD_EILSEQ,
       "e.hex:1: start linear address record with 2 data bytes, expected 4"},
      {":0400000500000000F7\n:0400000500000000F7\n:00000001FF\n", DD_EILSEQ,
       "e.hex:2: second start address record"},
      {":0100000000FF\n", DD_EILSEQ, "e.hex:1: missing end-of-file record (type 01)"},
      {"", DD_EILSEQ, "e.hex: missing end-of-file record (type 01)"},
      {":020000000102FB\n:0100010005F9\n:00000001FF\n", DD_EEXIST,
       "e.hex:2: data at 0x00000001..0x00000001 overlaps earlier data at 0x00000001"},
      {":02000004FFFFFC\n:04FFFE0001020304F5\n:00000001FF\n", DD_ERANGE,
       "e.hex:2: data at 0xFFFFFFFE runs past address 0xFFFFFFFF"},
  };
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
    dd_image_t *img = dd_image_new();
    char why[DD_IMAGE_WHY_MAX];
    size_t len = strlen(v[i].text);
    int rc = dd_hex_read(v[i].text, len, "e.hex", img, why, sizeof why);
    ck_assert_msg(rc == v[i].rc, "case %zu: %s, expected %s", i, dd_err_name(rc),
                  dd_err_name(v[i].rc));
    ck_assert_str_eq(why, v[i].why);
    dd_image_destroy(&img);
  }
  /* control characters and NUL bytes are shown by value */
  static const char nul[] = ":01000000\x01\0FF\n";
  dd_image_t *img = dd_image_new();
  char why[DD_IMAGE_WHY_MAX];
  ck_assert_int_eq(dd_hex_read(nul, sizeof nul - 1, "e.hex", img, why, sizeof why), DD_EILSEQ);
  ck_assert_str_eq(why, "e.hex:1: byte 0x01 at column 10 is not a hex digit");
  static const char nul2[] = ":01000000\0";
  ck_assert_int_eq(dd_hex_read(nul2, sizeof nul2 - 1, "e.hex", img, why, sizeof why), DD_EILSEQ);
  ck_assert_str_eq(why, "e.hex:1: byte 0x00 at column 10 is not a hex digit");
  dd_image_destroy(&img);
  /* a NULL message buffer is allowed */
  img = dd_image_new();
  ck_assert_int_eq(dd_hex_read(":00\n", 4, NULL, img, NULL, 0), DD_EILSEQ);
  dd_image_destroy(&img);
}
END_TEST

START_TEST(test_writer_options) {
  dd_image_t *img = dd_image_new();
  uint8_t d[40];
  s_gen(d, sizeof d, 7, NULL);
  ck_assert_int_eq(dd_image_add(img, 0x1FFF8, d, sizeof d), 0);
  char *t = NULL;
  size_t n = 0;
  dd_hex_opts_t bad = {.record_len = 256};
  ck_assert_int_eq(dd_hex_write(img, &bad, &t, &n), DD_EINVAL);
  ck_assert_ptr_null(t);
  /* 32-byte records, linear: 04 0001, 8 bytes up to the 64 KiB line, 04 0002, 32 bytes */
  dd_hex_opts_t o = {.record_len = 32};
  ck_assert_int_eq(dd_hex_write(img, &o, &t, &n), 0);
  unsigned lines = 0, ext = 0;
  for (char *p = t; (p = strchr(p, '\n')) != NULL; p++)
    lines++;
  for (char *p = t; (p = strstr(p, ":02000004")) != NULL; p++)
    ext++;
  ck_assert_uint_eq(lines, 5);
  ck_assert_uint_eq(ext, 2);
  ck_assert_ptr_nonnull(strstr(t, ":08FFF800"));
  ck_assert_ptr_nonnull(strstr(t, ":20000000"));
  dd_image_t *back = s_read_ok(t, n);
  ck_assert(dd_image_equal(img, back));
  dd_image_destroy(&back);
  free(t);
  /* an empty image is just the end record */
  dd_image_t *empty = dd_image_new();
  ck_assert_int_eq(dd_hex_write(empty, NULL, &t, &n), 0);
  ck_assert_str_eq(t, ":00000001FF\n");
  free(t);
  dd_image_destroy(&empty);
  dd_image_destroy(&img);
}
END_TEST

/* Random sparse images survive write + read with every address mode and record length. */
START_TEST(test_roundtrip_random) {
  uint32_t x = 0x2545F491u;
  for (int round = 0; round < 200; round++) {
    dd_image_t *img = dd_image_new();
    int regions = 1 + round % 5;
    for (int k = 0; k < regions; k++) {
      x ^= x << 13;
      x ^= x >> 17;
      x ^= x << 5;
      uint32_t addr = round % 3 == 0 ? (x & 0x000FFFFFu) : x;
      size_t len = 1 + (x >> 7) % 600;
      if ((uint64_t)addr + len > DD_IMAGE_ADDR_END) addr -= (uint32_t)len;
      uint8_t buf[600];
      s_gen(buf, len, x | 1, NULL);
      if (!dd_image_overlaps(img, addr, len, NULL))
        ck_assert_int_eq(dd_image_add(img, addr, buf, len), 0);
    }
    if (round % 2) dd_image_set_entry(img, x);
    dd_hex_opts_t o = {.record_len = 1 + (unsigned)round % 255,
                       .crlf = round % 4 == 1,
                       .mode = round % 2 ? DD_HEX_ADDR_SEGMENT : DD_HEX_ADDR_LINEAR};
    char *t = NULL;
    size_t n = 0;
    ck_assert_int_eq(dd_hex_write(img, &o, &t, &n), 0);
    dd_image_t *back = s_read_ok(t, n);
    ck_assert_msg(dd_image_equal(img, back), "round %d", round);
    uint32_t e1 = 0, e2 = 0;
    ck_assert_int_eq(dd_image_entry(img, &e1), dd_image_entry(back, &e2));
    /* a 03 record stores CS:IP, whose linear value is what comes back */
    ck_assert_uint_eq(e1, e2);
    dd_image_destroy(&back);
    dd_image_destroy(&img);
    free(t);
  }
}
END_TEST

/* ---- the sample image ---- */

START_TEST(test_sample_engine_image) {
  char path[512];
  snprintf(path, sizeof path, "%s/ecu_models/images/engine-app-v2.hex", s_src());
  dd_image_t *img = NULL;
  char why[DD_IMAGE_WHY_MAX];
  int rc = dd_image_load(path, &img, why, sizeof why);
  ck_assert_msg(rc == 0, "%s", why);
  uint8_t *app = malloc(0x7000), cal[0x1000];
  s_gen(app, 0x7000, 0x454E4732u, "duodiag sample ECM app S19.05.0 for 84512307AB");
  s_gen(cal, sizeof cal, 0x43414C32u, "duodiag sample ECM calibration S19.05.0");
  ck_assert_uint_eq(dd_image_region_count(img), 2);
  s_expect_region(img, 0, 0x00080000u, app, 0x7000);
  s_expect_region(img, 1, 0x00090000u, cal, sizeof cal);
  uint32_t gap_at = 0;
  ck_assert_uint_eq(dd_image_gap(img, 0, &gap_at), 0x9000);
  ck_assert_uint_eq(gap_at, 0x00087000u);
  uint32_t e = 0;
  ck_assert(dd_image_entry(img, &e));
  ck_assert_uint_eq(e, 0x00080000u);
  /* objcopy wrote the file; our segment-mode writer gives it back byte for byte */
  dd_hex_opts_t o = {.crlf = true, .mode = DD_HEX_ADDR_SEGMENT};
  char *t = NULL;
  size_t n = 0, fn = 0;
  ck_assert_int_eq(dd_hex_write(img, &o, &t, &n), 0);
  char *file = s_slurp(path, &fn);
  ck_assert_uint_eq(n, fn);
  ck_assert_mem_eq(t, file, n);
  free(file);
  free(t);
  free(app);
  dd_image_destroy(&img);
}
END_TEST

static Suite *s_suite(void) {
  Suite *s = suite_create("hex");
  TCase *tc = tcase_create("spec");
  tcase_add_test(tc, test_published_examples);
  tcase_add_test(tc, test_address_records);
  tcase_add_test(tc, test_checksum_message_with_line_number);
  tcase_add_test(tc, test_errors);
  tcase_add_test(tc, test_writer_options);
  tcase_add_test(tc, test_roundtrip_random);
  suite_add_tcase(s, tc);
  tc = tcase_create("objcopy");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_objcopy_written_files_read);
  tcase_add_test(tc, test_writer_matches_objcopy_byte_for_byte);
  tcase_add_test(tc, test_objcopy_reads_writer_output);
  suite_add_tcase(s, tc);
  tc = tcase_create("samples");
  tcase_add_test(tc, test_sample_engine_image);
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
