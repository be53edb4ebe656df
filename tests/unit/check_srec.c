/* check_srec: the Motorola S-record reader and writer, against the format's rules, a published
 * example file and binutils' objcopy as an independent writer and reader. */
#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dd_err.h"
#include "dd_image.h"
#include "dd_srec.h"

/* ---- helpers ---- */

#define DD_IMAGE_TEST_DIR "/tmp/check_srec.XXXXXX"
#include "dd_image_test.h"

static dd_image_t *s_read_ok(const char *text, size_t len) {
  dd_image_t *img = dd_image_new();
  char why[DD_IMAGE_WHY_MAX];
  int rc = dd_srec_read(text, len, "t.srec", img, why, sizeof why);
  ck_assert_msg(rc == 0, "dd_srec_read: %s (%s)", why, dd_err_name(rc));
  return img;
}

static void s_expect_header(const dd_image_t *img, const char *hdr, size_t len) {
  const uint8_t *h = NULL;
  ck_assert_uint_eq(dd_image_header(img, &h), len);
  ck_assert_mem_eq(h, hdr, len);
}

/* ---- published example ---- */

/* The example file of the Wikipedia "SREC (file format)" article: header "hello     " and two
 * NULs, 70 bytes of PowerPC code and "Hello world.\n\0" at 0, an S5 count of 3, S9 start 0. */
static const char s_wiki[] = "S00F000068656C6C6F202020202000003C\n"
                             "S11F00007C0802A6900100049421FFF07C6C1B787C8C23783C6000003863000026\n"
                             "S11F001C4BFFFFE5398000007D83637880010014382100107C0803A64E800020E9\n"
                             "S111003848656C6C6F20776F726C642E0A0042\n"
                             "S5030003F9\n"
                             "S9030000FC\n";

START_TEST(test_published_example) {
  dd_image_t *img = s_read_ok(s_wiki, strlen(s_wiki));
  s_expect_header(img, "hello     \0\0", 12);
  ck_assert_uint_eq(dd_image_region_count(img), 1);
  dd_image_region_t r = dd_image_region(img, 0);
  ck_assert_uint_eq(r.addr, 0);
  ck_assert_uint_eq(r.len, 70);
  static const uint8_t head[] = {0x7C, 0x08, 0x02, 0xA6, 0x90, 0x01, 0x00, 0x04};
  ck_assert_mem_eq(r.data, head, sizeof head);
  ck_assert_mem_eq(r.data + 56, "Hello world.\n\0", 14);
  uint32_t e = 1;
  ck_assert(dd_image_entry(img, &e));
  ck_assert_uint_eq(e, 0);
  /* objcopy reads the same 70 bytes */
  s_need_objcopy();
  s_mkdir();
  s_spit(s_path("w.s19"), s_wiki, strlen(s_wiki));
  s_run("cd '%s' && objcopy -I srec -O binary w.s19 w.bin", s_dir);
  size_t n;
  char *bin = s_slurp(s_path("w.bin"), &n);
  ck_assert_uint_eq(n, 70);
  ck_assert_mem_eq(bin, r.data, 70);
  free(bin);
  s_rmdir();
  /* our writer, asked for the same shape (28 bytes a record, S5 count), gives the file back */
  dd_srec_opts_t o = {.record_len = 28, .count = true};
  char *t = NULL;
  size_t tn = 0;
  ck_assert_int_eq(dd_srec_write(img, &o, &t, &tn), 0);
  ck_assert_str_eq(t, s_wiki);
  free(t);
  dd_image_destroy(&img);
}
END_TEST

/* ---- objcopy cross-checks ---- */

/* Bases: S1; S1 unaligned; S2 crossing 64 KiB; S3 crossing 64 KiB; S3 at the top. */
static const uint32_t s_bases[] = {0x00000000u, 0x00001234u, 0x0001FFF0u, 0x8001FFF0u, 0xFFFFFC00u};
#define S_BIN_LEN 1000u

/* objcopy variants: its defaults, 32-byte records, S3 forced */
static const struct {
  const char *flags;   /* objcopy options */
  dd_srec_opts_t opts; /* our writer's equivalent (header and CRLF added by the test) */
} s_variants[] = {
    {"", {.record_len = 16}},
    {"--srec-len 32", {.record_len = 32}},
    {"--srec-forceS3", {.record_len = 16, .addr_bytes = 4}},
};

START_TEST(test_objcopy_written_files_read) {
  s_need_objcopy();
  s_mkdir();
  uint8_t bin[S_BIN_LEN];
  s_gen(bin, sizeof bin, 0x1234567u, NULL);
  s_spit(s_path("in.bin"), bin, sizeof bin);
  for (size_t v = 0; v < sizeof s_variants / sizeof s_variants[0]; v++) {
    for (size_t k = 0; k < sizeof s_bases / sizeof s_bases[0]; k++) {
      uint32_t a = s_bases[k];
      s_run("cd '%s' && objcopy -I binary -O srec %s --change-addresses 0x%08X in.bin out.srec",
            s_dir, s_variants[v].flags, a);
      size_t n;
      char *text = s_slurp(s_path("out.srec"), &n);
      dd_image_t *img = s_read_ok(text, n);
      ck_assert_uint_eq(dd_image_region_count(img), 1);
      s_expect_region(img, 0, a, bin, sizeof bin);
      s_expect_header(img, "out.srec", 8); /* objcopy puts the output file name in S0 */
      uint32_t entry = 0;
      ck_assert(dd_image_entry(img, &entry));
      ck_assert_uint_eq(entry, a);
      dd_image_destroy(&img);
      free(text);
    }
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
  for (size_t v = 0; v < sizeof s_variants / sizeof s_variants[0]; v++) {
    for (size_t k = 0; k < sizeof s_bases / sizeof s_bases[0]; k++) {
      uint32_t a = s_bases[k];
      s_run("cd '%s' && objcopy -I binary -O srec %s --change-addresses 0x%08X in.bin out.srec",
            s_dir, s_variants[v].flags, a);
      size_t n;
      char *ref = s_slurp(s_path("out.srec"), &n);
      dd_image_t *img = dd_image_new();
      ck_assert_int_eq(dd_image_add(img, a, bin, sizeof bin), 0);
      dd_image_set_entry(img, a);
      ck_assert_int_eq(dd_image_set_header(img, (const uint8_t *)"out.srec", 8), 0);
      dd_srec_opts_t o = s_variants[v].opts;
      o.crlf = true;
      char *mine = NULL;
      size_t mlen = 0;
      ck_assert_int_eq(dd_srec_write(img, &o, &mine, &mlen), 0);
      ck_assert_uint_eq(mlen, strlen(mine));
      ck_assert_msg(mlen == n && memcmp(mine, ref, n) == 0,
                    "objcopy %s, base 0x%08X: output differs", s_variants[v].flags, a);
      free(mine);
      free(ref);
      dd_image_destroy(&img);
    }
  }
  s_rmdir();
}
END_TEST

/* Our writer's output (several regions, record lengths, address sizes, count records) read by
 * objcopy into a flat binary with a known gap fill. */
START_TEST(test_objcopy_reads_writer_output) {
  s_need_objcopy();
  s_mkdir();
  static const struct {
    uint32_t addr; /* region start */
    size_t len;    /* region length */
  } regs[] = {{0x00F000u, 300}, {0x00FFF0u, 700}, {0x020001u, 33}};
  static const dd_srec_opts_t opts[] = {
      {.record_len = 1},
      {.record_len = 16, .count = true},
      {.record_len = 251, .addr_bytes = 3},
      {.record_len = 250, .addr_bytes = 4, .count = true, .crlf = true},
      {.record_len = 64, .addr_bytes = 3, .crlf = true},
  };
  uint8_t data[700];
  dd_image_t *img = dd_image_new();
  for (size_t i = 0; i < 3; i++) {
    s_gen(data, regs[i].len, 0x9E3779B9u + (uint32_t)i, NULL);
    ck_assert_int_eq(dd_image_add(img, regs[i].addr, data, regs[i].len), 0);
  }
  dd_image_set_entry(img, 0x00F000u);
  uint32_t lo = regs[0].addr;
  size_t span = regs[2].addr + regs[2].len - lo;
  uint8_t *flat = malloc(span);
  memset(flat, 0xA5, span);
  for (size_t i = 0; i < dd_image_region_count(img); i++) {
    dd_image_region_t r = dd_image_region(img, i);
    memcpy(flat + (r.addr - lo), r.data, r.len);
  }
  for (size_t k = 0; k < sizeof opts / sizeof opts[0]; k++) {
    char *text = NULL;
    size_t n = 0;
    ck_assert_int_eq(dd_srec_write(img, &opts[k], &text, &n), 0);
    s_spit(s_path("mine.srec"), text, n);
    s_run("cd '%s' && objcopy -I srec -O binary --gap-fill 0xA5 mine.srec mine.bin", s_dir);
    size_t bn;
    char *bin = s_slurp(s_path("mine.bin"), &bn);
    ck_assert_uint_eq(bn, span);
    ck_assert_mem_eq(bin, flat, span);
    free(bin);
    dd_image_t *back = s_read_ok(text, n);
    ck_assert(dd_image_equal(img, back));
    uint32_t e = 0;
    ck_assert(dd_image_entry(back, &e));
    ck_assert_uint_eq(e, 0x00F000u);
    dd_image_destroy(&back);
    free(text);
  }
  free(flat);
  dd_image_destroy(&img);
  s_rmdir();
}
END_TEST

/* ---- the record rules ---- */

START_TEST(test_record_types) {
  /* S1/S2/S3 mixed, S5 and S6 counts, lower case, CRLF, blanks, S7 entry */
  static const char mix[] = "S0030000FC\r\n"
                            "S1050010AABB85\r\n"
                            "s2060100200102d5 \r\n"
                            "\r\n"
                            "S30880000000DEADBE2E\n"
                            "S5030003F9\n"
                            "S604000003F8\n"
                            "S70580000000 7A\n";
  /* (the last line has a blank inside: rejected below; first check a clean copy) */
  static const char clean[] = "S0030000FC\r\n"
                              "S1050010AABB85\r\n"
                              "s2060100200102d5 \r\n"
                              "\r\n"
                              "S30880000000DEADBE2E\n"
                              "S5030003F9\n"
                              "S604000003F8\n"
                              "S705800000007A\n";
  dd_image_t *img = s_read_ok(clean, strlen(clean));
  ck_assert_uint_eq(dd_image_region_count(img), 3);
  s_expect_region(img, 0, 0x0010, (const uint8_t *)"\xAA\xBB", 2);
  s_expect_region(img, 1, 0x010020, (const uint8_t *)"\x01\x02", 2);
  s_expect_region(img, 2, 0x80000000u, (const uint8_t *)"\xDE\xAD\xBE", 3);
  s_expect_header(img, "", 0);
  uint32_t e = 0;
  ck_assert(dd_image_entry(img, &e));
  ck_assert_uint_eq(e, 0x80000000u);
  dd_image_destroy(&img);
  img = dd_image_new();
  char why[DD_IMAGE_WHY_MAX];
  ck_assert_int_eq(dd_srec_read(mix, strlen(mix), "m.srec", img, why, sizeof why), DD_EILSEQ);
  ck_assert_str_eq(why, "m.srec:8: ' ' at column 13 is not a hex digit");
  dd_image_destroy(&img);

  /* address sizes the writer picks, and refuses */
  img = dd_image_new();
  ck_assert_int_eq(dd_image_add(img, 0xFFFF, (const uint8_t *)"x", 1), 0);
  char *t = NULL;
  size_t n = 0;
  ck_assert_int_eq(dd_srec_write(img, NULL, &t, &n), 0);
  ck_assert_str_eq(t, "S0030000FC\nS104FFFF7885\nS9030000FC\n");
  free(t);
  dd_image_set_entry(img, 0x10000); /* the entry point needs 24 bits too */
  ck_assert_int_eq(dd_srec_write(img, NULL, &t, &n), 0);
  ck_assert_str_eq(t, "S0030000FC\nS20500FFFF7884\nS804010000FA\n");
  free(t);
  dd_srec_opts_t o = {.addr_bytes = 2};
  ck_assert_int_eq(dd_srec_write(img, &o, &t, &n), DD_ERANGE);
  ck_assert_ptr_null(t);
  o = (dd_srec_opts_t){.addr_bytes = 5};
  ck_assert_int_eq(dd_srec_write(img, &o, &t, &n), DD_EINVAL);
  o = (dd_srec_opts_t){.addr_bytes = 4, .record_len = 251};
  ck_assert_int_eq(dd_srec_write(img, &o, &t, &n), DD_EINVAL);
  o = (dd_srec_opts_t){.addr_bytes = 2, .record_len = 252};
  dd_image_clear_entry(img);
  ck_assert_int_eq(dd_srec_write(img, &o, &t, &n), 0);
  free(t);
  dd_image_destroy(&img);
}
END_TEST

START_TEST(test_checksum_message_with_line_number) {
  static const char text[] = "S00600004844521B\n"
                             "S1050000AABB95\n"
                             "S1040002CC1F\n"
                             "S9030000FC\n";
  dd_image_t *img = dd_image_new();
  char why[DD_IMAGE_WHY_MAX];
  ck_assert_int_eq(dd_srec_read(text, strlen(text), "abs.s19", img, why, sizeof why), DD_EILSEQ);
  ck_assert_str_eq(why, "abs.s19:3: checksum 0x1F, expected 0x2D");
  dd_image_destroy(&img);
}
END_TEST

START_TEST(test_errors) {
  static const struct {
    const char *text; /* input */
    int rc;           /* expected code */
    const char *why;  /* expected message */
  } v[] = {
      {":00000001FF\n", DD_EILSEQ, "e.s19:1: expected 'S' at the start of a record, found ':'"},
      {"S\n", DD_EILSEQ, "e.s19:1: record type missing after 'S'"},
      {"SX030000FC\n", DD_EILSEQ, "e.s19:1: record type 'X' is not a digit"},
      {"S4030000FC\n", DD_EILSEQ, "e.s19:1: unsupported record type S4"},
      {"S1G3\n", DD_EILSEQ, "e.s19:1: 'G' at column 3 is not a hex digit"},
      {"S103000\n", DD_EILSEQ, "e.s19:1: odd number of hex digits (5)"},
      {"S9\n", DD_EILSEQ, "e.s19:1: byte count missing"},
      {"S1050000AA\n", DD_EILSEQ, "e.s19:1: byte count 0x05 announces 5 bytes, the record has 3"},
      {"S10200FD\n", DD_EILSEQ, "e.s19:1: byte count 0x02 too small for S1 (at least 3)"},
      {"S304000000FB\n", DD_EILSEQ, "e.s19:1: byte count 0x04 too small for S3 (at least 5)"},
      {"S1040000AA50\n", DD_EILSEQ, "e.s19:1: checksum 0x50, expected 0x51"},
      {"S1040000AA51\nS5030002FA\nS9030000FC\n", DD_EILSEQ,
       "e.s19:2: count record says 2 data records, 1 were read"},
      {"S5040001AA50\n", DD_EILSEQ, "e.s19:1: count record S5 with 1 data bytes, expected 0"},
      {"S9040000AA51\n", DD_EILSEQ, "e.s19:1: termination record S9 with 1 data bytes, expected 0"},
      {"S9030000FC\nS9030000FC\n", DD_EILSEQ, "e.s19:2: data after the termination record"},
      {"S1040000AA51\n", DD_EILSEQ, "e.s19:1: missing termination record (S7, S8 or S9)"},
      {"", DD_EILSEQ, "e.s19: missing termination record (S7, S8 or S9)"},
      {"S1050000AABB95\nS1040001CC2E\nS9030000FC\n", DD_EEXIST,
       "e.s19:2: data at 0x00000001..0x00000001 overlaps earlier data at 0x00000001"},
      {"S307FFFFFFFF0102F9\nS70500000000FA\n", DD_ERANGE,
       "e.s19:1: data at 0xFFFFFFFF runs past address 0xFFFFFFFF"},
  };
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
    dd_image_t *img = dd_image_new();
    char why[DD_IMAGE_WHY_MAX];
    int rc = dd_srec_read(v[i].text, strlen(v[i].text), "e.s19", img, why, sizeof why);
    ck_assert_msg(rc == v[i].rc, "case %zu: %s, expected %s", i, dd_err_name(rc),
                  dd_err_name(v[i].rc));
    ck_assert_str_eq(why, v[i].why);
    dd_image_destroy(&img);
  }
  static const char nul[] = "S1\0";
  dd_image_t *img = dd_image_new();
  char why[DD_IMAGE_WHY_MAX];
  ck_assert_int_eq(dd_srec_read(nul, sizeof nul - 1, "e.s19", img, why, sizeof why), DD_EILSEQ);
  ck_assert_str_eq(why, "e.s19:1: byte 0x00 at column 3 is not a hex digit");
  ck_assert_int_eq(dd_srec_read("S1", 2, NULL, img, NULL, 0), DD_EILSEQ);
  dd_image_destroy(&img);
}
END_TEST

/* Random sparse images survive write + read with every address size, length and count. */
START_TEST(test_roundtrip_random) {
  uint32_t x = 0x2545F491u;
  for (int round = 0; round < 200; round++) {
    dd_image_t *img = dd_image_new();
    unsigned ab = 2 + (unsigned)round % 3;
    uint64_t space = ab == 4 ? DD_IMAGE_ADDR_END : 1ull << (8 * ab);
    for (int k = 0; k < 1 + round % 5; k++) {
      x ^= x << 13;
      x ^= x >> 17;
      x ^= x << 5;
      size_t len = 1 + (x >> 7) % 600;
      uint32_t addr = (uint32_t)(x % (space - len));
      uint8_t buf[600];
      s_gen(buf, len, x | 1, NULL);
      if (!dd_image_overlaps(img, addr, len, NULL))
        ck_assert_int_eq(dd_image_add(img, addr, buf, len), 0);
    }
    if (round % 2) dd_image_set_entry(img, (uint32_t)(x % space));
    uint8_t hdr[40];
    s_gen(hdr, sizeof hdr, x, NULL);
    ck_assert_int_eq(dd_image_set_header(img, hdr, (size_t)round % sizeof hdr), 0);
    dd_srec_opts_t o = {.record_len = 1 + (unsigned)round % (254 - ab),
                        .addr_bytes = round % 4 == 0 ? 0 : ab,
                        .crlf = round % 5 == 1,
                        .count = round % 3 == 1};
    char *t = NULL;
    size_t n = 0;
    ck_assert_int_eq(dd_srec_write(img, &o, &t, &n), 0);
    dd_image_t *back = s_read_ok(t, n);
    ck_assert_msg(dd_image_equal(img, back), "round %d", round);
    uint32_t e1 = 0, e2 = 0;
    (void)dd_image_entry(img, &e1);
    ck_assert(dd_image_entry(back, &e2)); /* S7/S8/S9 always carry one (0 by default) */
    ck_assert_uint_eq(e1, e2);
    s_expect_header(back, (const char *)hdr, (size_t)round % sizeof hdr);
    dd_image_destroy(&back);
    dd_image_destroy(&img);
    free(t);
  }
}
END_TEST

/* ---- the sample image ---- */

START_TEST(test_sample_abs_image) {
  char path[512];
  snprintf(path, sizeof path, "%s/ecu_models/images/abs-app-v2.s28", s_src());
  dd_image_t *img = NULL;
  char why[DD_IMAGE_WHY_MAX];
  int rc = dd_image_load(path, &img, why, sizeof why);
  ck_assert_msg(rc == 0, "%s", why);
  uint8_t app[0x4000];
  s_gen(app, sizeof app, 0x41425332u, "duodiag sample ABS app B8.3.0 for 84401922AC");
  ck_assert_uint_eq(dd_image_region_count(img), 1);
  s_expect_region(img, 0, 0x00010000u, app, sizeof app);
  s_expect_header(img, "abs-app-v2.s28", 14);
  uint32_t e = 0;
  ck_assert(dd_image_entry(img, &e));
  ck_assert_uint_eq(e, 0x00010000u);
  /* objcopy wrote the file; our writer gives it back byte for byte */
  dd_srec_opts_t o = {.crlf = true};
  char *t = NULL;
  size_t n = 0, fn = 0;
  ck_assert_int_eq(dd_srec_write(img, &o, &t, &n), 0);
  char *file = s_slurp(path, &fn);
  ck_assert_uint_eq(n, fn);
  ck_assert_mem_eq(t, file, n);
  ck_assert_ptr_nonnull(strstr(t, "\nS2")); /* 24-bit records, as .s28 says */
  free(file);
  free(t);
  dd_image_destroy(&img);
}
END_TEST

static Suite *s_suite(void) {
  Suite *s = suite_create("srec");
  TCase *tc = tcase_create("spec");
  tcase_add_test(tc, test_published_example);
  tcase_add_test(tc, test_record_types);
  tcase_add_test(tc, test_checksum_message_with_line_number);
  tcase_add_test(tc, test_errors);
  tcase_add_test(tc, test_roundtrip_random);
  suite_add_tcase(s, tc);
  tc = tcase_create("objcopy");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_objcopy_written_files_read);
  tcase_add_test(tc, test_writer_matches_objcopy_byte_for_byte);
  tcase_add_test(tc, test_objcopy_reads_writer_output);
  suite_add_tcase(s, tc);
  tc = tcase_create("samples");
  tcase_add_test(tc, test_sample_abs_image);
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
