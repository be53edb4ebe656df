/* check_can: DLC/length tables, frame validity and the can-utils compact frame syntax. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "dd_can.h"
#include "dd_err.h"
#include "dd_rng.h"

/* ISO 11898-1:2015 table 5, DLC 0..15 in an FD frame. */
START_TEST(test_dlc_tables) {
  static const uint8_t fd[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 20, 24, 32, 48, 64};
  for (uint8_t dlc = 0; dlc < 16; dlc++) {
    ck_assert_uint_eq(dd_can_dlc_to_len(dlc, true), fd[dlc]);
    ck_assert_uint_eq(dd_can_dlc_to_len(dlc, false), dlc > 8 ? 8 : dlc);
    ck_assert_uint_eq(dd_can_len_to_dlc(fd[dlc]), dlc);
  }
  /* Lengths between steps round up to the next step. */
  static const struct {
    uint8_t len, dlc, fd_len;
  } v[] = {{9, 9, 12},   {11, 9, 12},  {13, 10, 16}, {17, 11, 20}, {21, 12, 24},
           {25, 13, 32}, {33, 14, 48}, {47, 14, 48}, {49, 15, 64}, {63, 15, 64}};
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
    ck_assert_uint_eq(dd_can_len_to_dlc(v[i].len), v[i].dlc);
    ck_assert_uint_eq(dd_can_fd_len(v[i].len), v[i].fd_len);
  }
  ck_assert_uint_eq(dd_can_fd_len(200), 64);
  ck_assert_uint_eq(dd_can_len_to_dlc(200), 15);
  ck_assert_uint_eq(dd_can_dlc_to_len(0xF9, true), 12); /* only the low nibble is a DLC */
}
END_TEST

START_TEST(test_frame_valid) {
  dd_can_frame_t f;
  memset(&f, 0, sizeof f);
  f.id = 0x7FF;
  f.len = 8;
  ck_assert(dd_can_frame_valid(&f));
  f.id = 0x800;
  ck_assert(!dd_can_frame_valid(&f));
  f.flags = DD_CAN_F_EFF;
  ck_assert(dd_can_frame_valid(&f));
  f.id = 0x20000000;
  ck_assert(!dd_can_frame_valid(&f));
  f.id = 0x123;
  f.flags = 0;
  f.len = 9;
  ck_assert(!dd_can_frame_valid(&f)); /* classic: 8 bytes at most */
  f.flags = DD_CAN_F_FD;
  ck_assert(!dd_can_frame_valid(&f)); /* FD: 9 is no DLC step */
  f.len = 12;
  ck_assert(dd_can_frame_valid(&f));
  f.flags = DD_CAN_F_FD | DD_CAN_F_RTR;
  ck_assert(!dd_can_frame_valid(&f)); /* no remote FD frames */
  f.flags = DD_CAN_F_BRS;
  f.len = 8;
  ck_assert(!dd_can_frame_valid(&f)); /* BRS only in FD frames */
  f.flags = DD_CAN_F_ERR;
  f.id = 0x1FFFFFFF;
  ck_assert(dd_can_frame_valid(&f));
  f.flags = DD_CAN_F_ERR | DD_CAN_F_EFF;
  ck_assert(!dd_can_frame_valid(&f));
  f.flags = 0x80;
  f.id = 1;
  ck_assert(!dd_can_frame_valid(&f)); /* unknown flag */
  f.flags = DD_CAN_F_RTR | DD_CAN_F_TX;
  ck_assert(dd_can_frame_valid(&f));
}
END_TEST

/* Examples from the can-utils lib.h comment on parse_canframe (as collected in the shared
 * reference formats.md 3.1); can-utils is the independent implementation of this syntax. */
START_TEST(test_parse_can_utils_examples) {
  dd_can_frame_t f;
  ck_assert_int_eq(dd_can_parse("123#", &f), 0);
  ck_assert_uint_eq(f.id, 0x123);
  ck_assert_uint_eq(f.flags, 0);
  ck_assert_uint_eq(f.len, 0);

  ck_assert_int_eq(dd_can_parse("123#R7", &f), 0);
  ck_assert_uint_eq(f.flags, DD_CAN_F_RTR);
  ck_assert_uint_eq(f.len, 7);

  ck_assert_int_eq(dd_can_parse("123#R", &f), 0);
  ck_assert_uint_eq(f.flags, DD_CAN_F_RTR);
  ck_assert_uint_eq(f.len, 0);

  ck_assert_int_eq(dd_can_parse("123#1122334455667788_E", &f), 0);
  ck_assert_uint_eq(f.len, 8);
  ck_assert_uint_eq(f.data[7], 0x88);

  ck_assert_int_eq(dd_can_parse("12345678#112233", &f), 0);
  ck_assert_uint_eq(f.id, 0x12345678);
  ck_assert_uint_eq(f.flags, DD_CAN_F_EFF);
  ck_assert_uint_eq(f.len, 3);
  ck_assert_uint_eq(f.data[2], 0x33);

  ck_assert_int_eq(dd_can_parse("32345678#112233", &f), 0); /* CAN_ERR_FLAG set */
  ck_assert_uint_eq(f.flags, DD_CAN_F_ERR);
  ck_assert_uint_eq(f.id, 0x12345678);
  ck_assert_uint_eq(f.len, 3);

  ck_assert_int_eq(dd_can_parse("123##1112233", &f), 0);
  ck_assert_uint_eq(f.flags, DD_CAN_F_FD | DD_CAN_F_BRS);
  ck_assert_uint_eq(f.len, 3);
  ck_assert_uint_eq(f.data[0], 0x11);
  ck_assert_uint_eq(f.data[2], 0x33);

  ck_assert_int_eq(dd_can_parse("123##3", &f), 0);
  ck_assert_uint_eq(f.flags, DD_CAN_F_FD | DD_CAN_F_BRS | DD_CAN_F_ESI);
  ck_assert_uint_eq(f.len, 0);

  ck_assert_int_eq(dd_can_parse("123##0", &f), 0);
  ck_assert_uint_eq(f.flags, DD_CAN_F_FD);

  ck_assert_int_eq(dd_can_parse("123##4AA", &f), 0); /* FDF bit of newer can-utils */
  ck_assert_uint_eq(f.flags, DD_CAN_F_FD);
  ck_assert_uint_eq(f.len, 1);

  ck_assert_int_eq(dd_can_parse("7E0#03.22.f1.90", &f), 0); /* separators, lower case */
  ck_assert_uint_eq(f.id, 0x7E0);
  ck_assert_uint_eq(f.len, 4);
  ck_assert_uint_eq(f.data[2], 0xF1);
  ck_assert_uint_eq(f.data[3], 0x90);

  ck_assert_int_eq(dd_can_parse("7E0#11.", &f), 0);
  ck_assert_uint_eq(f.len, 1);

  ck_assert_int_eq(dd_can_parse("00000123#", &f), 0); /* 8 digits: 29-bit even when small */
  ck_assert_uint_eq(f.flags, DD_CAN_F_EFF);
  ck_assert_uint_eq(f.id, 0x123);

  ck_assert_int_eq(dd_can_parse_n("7E0#0322F190 trailing", 12, &f), 0);
  ck_assert_uint_eq(f.len, 4);
}
END_TEST

START_TEST(test_parse_rejects) {
  static const char *const bad[] = {"",
                                    "#",
                                    "123",
                                    "12#11",
                                    "1234#",
                                    "123456789#",
                                    "800#",
                                    "C0000123#",
                                    "80000123#11",
                                    "123#1",
                                    "123#GG",
                                    "123#11..22",
                                    "123#11 22",
                                    "123#112233445566778899",
                                    "123##",
                                    "123##8",
                                    "123##G11",
                                    "123##1112233445566778899",
                                    "123#R9",
                                    "123#RX",
                                    "123#R7_9",
                                    "123#11_9",
                                    "123#1122334455667788_8",
                                    "123#1122334455667788_G",
                                    "123#1122334455667788_9A",
                                    "20000004##1",
                                    "20000004#R",
                                    "123#R_9",
                                    "123#r",
                                    "G23#",
                                    " 123#",
                                    "123#\n"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    dd_can_frame_t f;
    ck_assert_msg(dd_can_parse(bad[i], &f) == DD_EILSEQ, "accepted \"%s\"", bad[i]);
  }
  char fd65[DD_CAN_TEXT_MAX * 2] = "123##0";
  for (int k = 0; k < 65; k++)
    strcat(fd65, "AB");
  dd_can_frame_t f;
  ck_assert_int_eq(dd_can_parse(fd65, &f), DD_EILSEQ);
  ck_assert_int_eq(dd_can_parse("123#R8_9", &f), 0); /* raw DLC 9 on an 8-byte remote frame */
  ck_assert_uint_eq(f.len, 8);
}
END_TEST

static void s_expect_format(const dd_can_frame_t *f, const char *want) {
  char buf[DD_CAN_TEXT_MAX];
  ck_assert_str_eq(dd_can_format(f, buf, sizeof buf), want);
}

/* The shapes can-utils' sprint_canframe writes (lib.c): 3 or 8 upper-case id digits, R with
 * the length digit, "##" and the flags digit for FD, error frames with CAN_ERR_FLAG. */
START_TEST(test_format) {
  dd_can_frame_t f;
  memset(&f, 0, sizeof f);
  f.id = 0x7E0;
  f.len = 4;
  memcpy(f.data, "\x03\x22\xF1\x90", 4);
  s_expect_format(&f, "7E0#0322F190");
  f.id = 0x5;
  f.len = 0;
  s_expect_format(&f, "005#");
  f.flags = DD_CAN_F_RTR;
  s_expect_format(&f, "005#R");
  f.len = 3;
  s_expect_format(&f, "005#R3");
  f.flags = DD_CAN_F_EFF;
  f.id = 0x18DA00F1;
  f.len = 1;
  f.data[0] = 0xAB;
  s_expect_format(&f, "18DA00F1#AB");
  f.flags = DD_CAN_F_EFF | DD_CAN_F_RTR;
  f.len = 8;
  s_expect_format(&f, "18DA00F1#R8");
  f.flags = DD_CAN_F_ERR;
  f.id = 0x4;
  f.len = 2;
  f.data[0] = 0x00;
  f.data[1] = 0x04;
  s_expect_format(&f, "20000004#0004");
  f.flags = DD_CAN_F_FD | DD_CAN_F_BRS;
  f.id = 0x123;
  f.len = 2;
  f.data[0] = 0xAA;
  f.data[1] = 0xBB;
  s_expect_format(&f, "123##1AABB");
  f.flags = DD_CAN_F_FD | DD_CAN_F_ESI | DD_CAN_F_EFF;
  f.len = 0;
  s_expect_format(&f, "00000123##2");
  f.flags = DD_CAN_F_FD | DD_CAN_F_TX; /* the echo flag is not part of the text */
  s_expect_format(&f, "123##0");
  /* A short buffer gets a truncated, terminated string. */
  char small[5];
  f.flags = 0;
  f.len = 4;
  ck_assert_str_eq(dd_can_format(&f, small, sizeof small), "123#");
}
END_TEST

START_TEST(test_round_trip_random) {
  static const uint8_t fd_lens[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 20, 24, 32, 48, 64};
  dd_rng_t rng;
  dd_rng_seed(&rng, 7);
  for (int i = 0; i < 20000; i++) {
    dd_can_frame_t f;
    memset(&f, 0, sizeof f);
    switch (dd_rng_below(&rng, 5)) {
    case 0:
      f.id = (uint32_t)dd_rng_below(&rng, 0x800);
      f.len = (uint8_t)dd_rng_below(&rng, 9);
      break;
    case 1:
      f.flags = DD_CAN_F_EFF | (dd_rng_below(&rng, 2) ? DD_CAN_F_RTR : 0);
      f.id = (uint32_t)dd_rng_below(&rng, 1u << 29);
      f.len = (uint8_t)dd_rng_below(&rng, 9);
      break;
    case 2:
      f.flags = DD_CAN_F_RTR;
      f.id = (uint32_t)dd_rng_below(&rng, 0x800);
      f.len = (uint8_t)dd_rng_below(&rng, 9);
      break;
    case 3:
      f.flags = DD_CAN_F_ERR;
      f.id = (uint32_t)dd_rng_below(&rng, 1u << 29);
      f.len = (uint8_t)dd_rng_below(&rng, 9);
      break;
    default:
      f.flags = (uint8_t)(DD_CAN_F_FD | (dd_rng_below(&rng, 2) ? DD_CAN_F_EFF : 0) |
                          (dd_rng_below(&rng, 2) ? DD_CAN_F_BRS : 0) |
                          (dd_rng_below(&rng, 2) ? DD_CAN_F_ESI : 0));
      f.id = (uint32_t)dd_rng_below(&rng, (f.flags & DD_CAN_F_EFF) ? 1u << 29 : 0x800);
      f.len = fd_lens[dd_rng_below(&rng, 16)];
      break;
    }
    if (!(f.flags & DD_CAN_F_RTR))
      for (int k = 0; k < f.len; k++)
        f.data[k] = (uint8_t)dd_rng_u64(&rng);
    ck_assert(dd_can_frame_valid(&f));
    char text[DD_CAN_TEXT_MAX];
    dd_can_format(&f, text, sizeof text);
    dd_can_frame_t g;
    ck_assert_msg(dd_can_parse(text, &g) == 0, "cannot parse own %s", text);
    ck_assert_msg(dd_can_frame_equal(&f, &g), "round trip changed %s", text);
  }
}
END_TEST

START_TEST(test_frame_equal) {
  dd_can_frame_t a, b;
  ck_assert_int_eq(dd_can_parse("7E0#0322F190", &a), 0);
  b = a;
  b.ts_us = 99;
  b.data[10] = 0x55; /* beyond len: not compared */
  b.flags |= DD_CAN_F_TX;
  ck_assert(dd_can_frame_equal(&a, &b));
  b.data[3] ^= 1;
  ck_assert(!dd_can_frame_equal(&a, &b));
  ck_assert_int_eq(dd_can_parse("7E0#R4", &a), 0);
  b = a;
  b.data[0] = 1; /* remote frames carry no payload */
  ck_assert(dd_can_frame_equal(&a, &b));
  b.len = 3;
  ck_assert(!dd_can_frame_equal(&a, &b));
  ck_assert_int_eq(dd_can_parse("7E0##0AA", &a), 0);
  ck_assert_int_eq(dd_can_parse("7E0##1AA", &b), 0);
  ck_assert(!dd_can_frame_equal(&a, &b));
}
END_TEST

static Suite *s_suite(void) {
  Suite *s = suite_create("can");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, test_dlc_tables);
  tcase_add_test(tc, test_frame_valid);
  tcase_add_test(tc, test_parse_can_utils_examples);
  tcase_add_test(tc, test_parse_rejects);
  tcase_add_test(tc, test_format);
  tcase_add_test(tc, test_round_trip_random);
  tcase_add_test(tc, test_frame_equal);
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
