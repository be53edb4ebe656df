/* check_canbits: exact CAN / CAN FD bit counts against published figures and a second,
 * string-based coder written independently inside this test. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_can.h"
#include "dd_canbits.h"
#include "dd_rng.h"

/* ---- the reference coder: frames as strings of '0'/'1', stuffed and divided literally ---- */

#define REF_MAX 1200

typedef struct {
  char s[REF_MAX]; /* bit characters */
  size_t n;        /* used */
} ref_bits_t;

static void ref_add(ref_bits_t *b, const char *bits) {
  for (; *bits; bits++) {
    if (b->n >= REF_MAX - 1) ck_abort_msg("reference bit string overflow");
    b->s[b->n++] = *bits;
  }
  b->s[b->n] = '\0';
}

static void ref_add_value(ref_bits_t *b, unsigned long v, int width) {
  char tmp[40];
  for (int i = 0; i < width; i++)
    tmp[i] = (v >> (width - 1 - i)) & 1 ? '1' : '0';
  tmp[width] = '\0';
  ref_add(b, tmp);
}

/* Polynomial remainder of msg * x^width (with init XORed onto the first width bits) modulo the
 * generator given as a string of width+1 coefficients, highest first. */
static unsigned long ref_crc(const char *msg, size_t n, const char *gen, const char *init) {
  size_t w = strlen(gen) - 1;
  char *work = malloc(n + w + 1);
  ck_assert_ptr_nonnull(work);
  memcpy(work, msg, n);
  memset(work + n, '0', w);
  work[n + w] = '\0';
  for (size_t i = 0; init && i < w; i++)
    if (init[i] == '1') work[i] = work[i] == '1' ? '0' : '1';
  for (size_t i = 0; i < n; i++) {
    if (work[i] != '1') continue;
    for (size_t k = 0; k <= w; k++)
      if (gen[k] == '1') work[i + k] = work[i + k] == '1' ? '0' : '1';
  }
  unsigned long r = 0;
  for (size_t i = 0; i < w; i++)
    r = r << 1 | (unsigned long)(work[n + i] == '1');
  free(work);
  return r;
}

/* Insert a complement after every run of five equal characters, in [0, upto) of in; a run
 * that ends on the last character of the span gets its stuff bit only when stuff_last.
 * pos[i] receives the output index of input bit i. Returns the number of stuff bits. */
static int ref_stuff(const char *in, size_t upto, bool stuff_last, ref_bits_t *out, size_t *pos) {
  int stuffed = 0;
  size_t same = 0;
  char prev = 'x';
  for (size_t i = 0; i < upto; i++) {
    pos[i] = out->n;
    char one[2] = {in[i], '\0'};
    ref_add(out, one);
    same = in[i] == prev ? same + 1 : 1;
    prev = in[i];
    if (same == 5 && (i + 1 < upto || stuff_last)) {
      char comp[2] = {prev == '1' ? '0' : '1', '\0'};
      ref_add(out, comp);
      stuffed++;
      prev = comp[0];
      same = 1;
    }
  }
  return stuffed;
}

typedef struct {
  ref_bits_t wire;   /* the frame on the wire, SOF..IFS */
  int stuff;         /* dynamic stuff bits */
  int fixed;         /* fixed stuff bits */
  size_t nominal;    /* bits at the nominal rate */
  size_t data;       /* bits at the data rate */
  unsigned long crc; /* CRC sequence */
} ref_frame_t;

static void ref_code(const dd_can_frame_t *f, ref_frame_t *r) {
  memset(r, 0, sizeof *r);
  bool fd = f->flags & DD_CAN_F_FD, eff = f->flags & DD_CAN_F_EFF;
  bool rtr = f->flags & DD_CAN_F_RTR;
  ref_bits_t u = {.n = 0};
  size_t brs_at = 0;
  ref_add(&u, "0"); /* start of frame */
  if (eff) {
    ref_add_value(&u, f->id >> 18, 11);
    ref_add(&u, "11"); /* substitute remote request, identifier extension */
    ref_add_value(&u, f->id & 0x3FFFF, 18);
  } else {
    ref_add_value(&u, f->id, 11);
  }
  if (fd) {
    ref_add(&u, eff ? "010" : "0010"); /* RRS [IDE] FDF res */
    brs_at = u.n;
    ref_add(&u, (f->flags & DD_CAN_F_BRS) ? "1" : "0");
    ref_add(&u, (f->flags & DD_CAN_F_ESI) ? "1" : "0");
  } else {
    ref_add(&u, rtr ? "1" : "0");
    ref_add(&u, "00");
  }
  /* Length code from the ISO 11898-1:2015 table 5 written out here a second time. */
  static const int lens[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 20, 24, 32, 48, 64};
  int dlc = 0;
  while (lens[dlc] < f->len)
    dlc++;
  ref_add_value(&u, (unsigned long)dlc, 4);
  int nbytes = rtr ? 0 : f->len;
  for (int k = 0; k < nbytes; k++)
    ref_add_value(&u, f->data[k], 8);

  size_t pos[REF_MAX];
  if (!fd) {
    r->crc = ref_crc(u.s, u.n, "1100010110011001", NULL);
    ref_add_value(&u, r->crc, 15);
    r->stuff = ref_stuff(u.s, u.n, true, &r->wire, pos);
  } else {
    r->stuff = ref_stuff(u.s, u.n, false, &r->wire, pos);
    /* Stuff count: Gray code of (stuff bits mod 8) and its parity, ISO 11898-1:2015 table. */
    static const char *const sc[8] = {"0000", "0011", "0110", "0101",
                                      "1100", "1111", "1010", "1001"};
    ref_bits_t crc_in = r->wire;
    ref_add(&crc_in, sc[r->stuff % 8]);
    bool big = f->len > 16;
    const char *gen = big ? "1100000010100010011001" : "110110100001011011";
    const char *init = big ? "100000000000000000000" : "10000000000000000";
    int w = big ? 21 : 17;
    r->crc = ref_crc(crc_in.s, crc_in.n, gen, init);
    ref_bits_t field = {.n = 0};
    ref_add(&field, sc[r->stuff % 8]);
    ref_add_value(&field, r->crc, w);
    for (size_t i = 0; i < field.n; i++) {
      if (i % 4 == 0) {
        ref_add(&r->wire, r->wire.s[r->wire.n - 1] == '1' ? "0" : "1");
        r->fixed++;
      }
      char one[2] = {field.s[i], '\0'};
      ref_add(&r->wire, one);
    }
  }
  ref_add(&r->wire, "1");
  size_t data_end = r->wire.n; /* through the CRC delimiter */
  ref_add(&r->wire, "01"
                    "1111111"
                    "111");
  if (fd) {
    r->nominal = pos[brs_at] + 1 + (r->wire.n - data_end);
    r->data = r->wire.n - r->nominal;
  } else {
    r->nominal = r->wire.n;
  }
}

static dd_can_frame_t s_frame(const char *text) {
  dd_can_frame_t f;
  ck_assert_msg(dd_can_parse(text, &f) == 0, "cannot parse %s", text);
  return f;
}

static uint32_t s_total(const char *text) {
  dd_can_frame_t f = s_frame(text);
  dd_canbits_t b = dd_canbits_count(&f);
  return dd_canbits_total(&b);
}

/* ---- published figures ---- */

/* Figures from the shared reference isotp-throughput.md 5.1 (an exact CRC-15 + stuffing
 * count, same algorithm as can-utils canframelen.c cfl_exact): a consecutive frame of ID 0x7E0
 * (PCI 0x21 + 7 bytes) and a flow control 30 00 00 from the ECU (ID 0x7E8), 8 bytes padded. */
START_TEST(test_isotp_reference_frames) {
  ck_assert_uint_eq(s_total("7E0#2100000000000000"), 126);
  ck_assert_uint_eq(s_total("7E0#21FFFFFFFFFFFFFF"), 125);
  ck_assert_uint_eq(s_total("7E0#21CCCCCCCCCCCCCC"), 114);
  ck_assert_uint_eq(s_total("7E0#21AAAAAAAAAAAAAA"), 114);
  ck_assert_uint_eq(s_total("7E8#300000CCCCCCCCCC"), 119);
  ck_assert_uint_eq(s_total("7E8#3000000000000000"), 127);
}
END_TEST

/* Classical base frames: 47 + 8n bits before stuffing, at most 55 + 10n with stuffing
 * (isotp-throughput.md 5.1, the same bound as canframelen.h). Remote frames: n = 0. */
START_TEST(test_classic_fixed_part_and_bound) {
  dd_rng_t rng;
  dd_rng_seed(&rng, 11);
  for (int i = 0; i < 2000; i++) {
    dd_can_frame_t f;
    memset(&f, 0, sizeof f);
    f.id = (uint32_t)dd_rng_below(&rng, 0x800);
    f.len = (uint8_t)dd_rng_below(&rng, 9);
    if (dd_rng_below(&rng, 4) == 0) f.flags |= DD_CAN_F_RTR;
    for (int k = 0; k < 8; k++)
      f.data[k] = (uint8_t)dd_rng_u64(&rng);
    uint32_t n = (f.flags & DD_CAN_F_RTR) ? 0 : f.len;
    dd_canbits_t b = dd_canbits_count(&f);
    ck_assert_uint_eq(b.data_bits, 0);
    ck_assert_uint_eq(b.nominal_bits - b.stuff_bits, 47 + 8 * n);
    ck_assert_uint_le(b.nominal_bits, 55 + 10 * n);
    dd_canbits_t w = dd_canbits_worst_case(&f);
    ck_assert_uint_eq(dd_canbits_total(&w), 55 + 10 * n);
  }
}
END_TEST

/* CAN FD, 11-bit id, 64 bytes (isotp-throughput.md 5.2): 29 nominal + 550 data bits before
 * dynamic stuffing; 333 us at 500k/2M, 1158 us at 500k without BRS. 0x555 with 0x55 bytes
 * alternates everywhere, so it has no dynamic stuff bit. */
START_TEST(test_fd_64_byte_frame) {
  char text[DD_CAN_TEXT_MAX] = "555##1";
  for (int k = 0; k < 64; k++)
    strcat(text, "55");
  dd_can_frame_t f = s_frame(text);
  dd_canbits_t b = dd_canbits_count(&f);
  ck_assert_uint_eq(b.stuff_bits, 0);
  ck_assert_uint_eq(b.fixed_stuff_bits, 7);
  ck_assert_uint_eq(b.crc_width, 21);
  ck_assert_uint_eq(b.nominal_bits, 29);
  ck_assert_uint_eq(b.data_bits, 550);
  ck_assert(b.brs);
  ck_assert_uint_eq(dd_canbits_duration_ns(&f, 500000, 2000000), 333000);
  ck_assert_uint_eq(dd_canbits_duration_ns(&f, 500000, 0), 1158000);      /* no data rate set */
  ck_assert_uint_eq(dd_canbits_duration_ns(&f, 500000, 5000000), 168000); /* 5.3: 500k/5M */
  f.flags &= (uint8_t)~DD_CAN_F_BRS;
  ck_assert_uint_eq(dd_canbits_duration_ns(&f, 500000, 2000000), 1158000);
  /* Worst case (5.2): +4 nominal (here counted as 3 before BRS and 1 after) + 129 data. */
  dd_canbits_t w = dd_canbits_worst_case(&f);
  ck_assert_uint_eq(w.stuff_bits, 133);
  ck_assert_uint_eq(dd_canbits_total(&w), 29 + 550 + 133);
}
END_TEST

/* Classical 8-byte frame at 500 kbit/s: 111 bits unstuffed = 222 us (DESIGN.md section 4). */
START_TEST(test_classic_duration) {
  /* 0x555 + 0x55 bytes: check the count has no stuff bits before using it as the 111 case. */
  dd_can_frame_t f = s_frame("555#5555555555555555");
  dd_canbits_t b = dd_canbits_count(&f);
  ck_assert_uint_eq(dd_canbits_total(&b), 111 + b.stuff_bits);
  dd_canbits_t plain = {.nominal_bits = 111};
  ck_assert_uint_eq(dd_canbits_time_ns(&plain, 500000, 0), 222000);
  ck_assert_uint_eq(dd_canbits_duration_ns(&f, 500000, 2000000),
                    (uint64_t)dd_canbits_total(&b) * 2000);
  /* Rounding to nearest: 1 bit at 3 bit/s is 333333333.3 ns. */
  dd_canbits_t one = {.nominal_bits = 1};
  ck_assert_uint_eq(dd_canbits_time_ns(&one, 3, 0), 333333333);
  dd_canbits_t two = {.nominal_bits = 2};
  ck_assert_uint_eq(dd_canbits_time_ns(&two, 3, 0), 666666667);
}
END_TEST

/* Typical stuffing (isotp-throughput.md 5.1 and 5.2, from 20 000 simulated frames): a CF of ID
 * 0x7E0 with PCI 0x21 and 7 random bytes averages 5.3 stuff bits; a 64-byte FD frame with
 * random data about 17 in the data phase plus about 2 nominal. */
START_TEST(test_typical_stuffing) {
  dd_rng_t rng;
  dd_rng_seed(&rng, 5);
  double classic = 0, fd = 0;
  const int n = 20000;
  for (int i = 0; i < n; i++) {
    dd_can_frame_t f = {.id = 0x7E0, .len = 8};
    f.data[0] = 0x21;
    for (int k = 1; k < 8; k++)
      f.data[k] = (uint8_t)dd_rng_u64(&rng);
    classic += dd_canbits_count(&f).stuff_bits;
    dd_can_frame_t g = {.id = 0x7E0, .len = 64, .flags = DD_CAN_F_FD | DD_CAN_F_BRS};
    for (int k = 0; k < 64; k++)
      g.data[k] = (uint8_t)dd_rng_u64(&rng);
    fd += dd_canbits_count(&g).stuff_bits;
  }
  classic /= n;
  fd /= n;
  ck_assert_msg(classic > 5.1 && classic < 5.5, "classic mean %.3f", classic);
  ck_assert_msg(fd > 17.5 && fd < 21.5, "FD mean %.3f", fd);
}
END_TEST

START_TEST(test_error_frame_takes_no_time) {
  dd_can_frame_t f = s_frame("20000004#0004000000000000");
  dd_canbits_t b = dd_canbits_count(&f);
  ck_assert_uint_eq(dd_canbits_total(&b), 0);
  ck_assert_uint_eq(dd_canbits_encode(&f, NULL, 0), 0);
}
END_TEST

/* ---- agreement with the reference coder ---- */

static void s_compare(const dd_can_frame_t *f) {
  ref_frame_t r;
  ref_code(f, &r);
  uint8_t bits[DD_CANBITS_MAX];
  size_t n = dd_canbits_encode(f, bits, sizeof bits);
  char text[DD_CAN_TEXT_MAX];
  dd_can_format(f, text, sizeof text);
  ck_assert_msg(n == r.wire.n, "%s: %zu bits, reference %zu", text, n, r.wire.n);
  for (size_t i = 0; i < n; i++)
    if (bits[i] != (r.wire.s[i] == '1')) ck_abort_msg("%s: bit %zu differs", text, i);
  dd_canbits_t b = dd_canbits_count(f);
  ck_assert_uint_eq(b.stuff_bits, (unsigned)r.stuff);
  ck_assert_uint_eq(b.fixed_stuff_bits, (unsigned)r.fixed);
  ck_assert_uint_eq(b.nominal_bits, r.nominal);
  ck_assert_uint_eq(b.data_bits, r.data);
  ck_assert_uint_eq(b.crc, r.crc);

  dd_canbits_t w = dd_canbits_worst_case(f);
  ck_assert_uint_le(b.stuff_bits, w.stuff_bits);
  ck_assert_uint_le(b.nominal_bits, w.nominal_bits);
  ck_assert_uint_le(dd_canbits_total(&b), dd_canbits_total(&w));
  ck_assert_uint_eq(b.fixed_stuff_bits, w.fixed_stuff_bits);
  ck_assert_uint_le(dd_canbits_time_ns(&b, 500000, 2000000),
                    dd_canbits_time_ns(&w, 500000, 2000000));
  /* Never more than five equal levels in a row from SOF to the end of the stuffed part. */
  size_t same = 0;
  size_t end = n - 10 - 3; /* stop before the delimiter/ACK/EOF area */
  for (size_t i = 0; i < end; i++) {
    same = (i > 0 && bits[i] == bits[i - 1]) ? same + 1 : 1;
    if (same > 5) ck_abort_msg("%s: six equal bits at %zu", text, i);
  }
}

/* Random frames of every kind, with payloads drawn to make long runs likely. */
START_TEST(test_random_frames_match_reference) {
  dd_rng_t rng;
  dd_rng_seed(&rng, 20240611);
  static const uint8_t fd_lens[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 20, 24, 32, 48, 64};
  for (int i = 0; i < 20000; i++) {
    dd_can_frame_t f;
    memset(&f, 0, sizeof f);
    unsigned kind = (unsigned)dd_rng_below(&rng, 4);
    if (kind & 1) f.flags |= DD_CAN_F_EFF;
    if (kind & 2) f.flags |= DD_CAN_F_FD;
    unsigned style = (unsigned)dd_rng_below(&rng, 4);
    if (style == 0)
      f.id = 0; /* long dominant runs */
    else if (style == 1)
      f.id = (f.flags & DD_CAN_F_EFF) ? DD_CAN_EFF_MASK : DD_CAN_SFF_MASK;
    else
      f.id = (uint32_t)dd_rng_below(&rng, (f.flags & DD_CAN_F_EFF) ? 1u << 29 : 1u << 11);
    if (f.flags & DD_CAN_F_FD) {
      f.len = fd_lens[dd_rng_below(&rng, 16)];
      if (dd_rng_below(&rng, 2)) f.flags |= DD_CAN_F_BRS;
      if (dd_rng_below(&rng, 4) == 0) f.flags |= DD_CAN_F_ESI;
    } else {
      f.len = (uint8_t)dd_rng_below(&rng, 9);
      if (dd_rng_below(&rng, 5) == 0) f.flags |= DD_CAN_F_RTR;
    }
    for (int k = 0; k < f.len; k++) {
      unsigned pick = (unsigned)dd_rng_below(&rng, 4);
      f.data[k] = pick == 0 ? 0x00 : pick == 1 ? 0xFF : (uint8_t)dd_rng_u64(&rng);
    }
    ck_assert(dd_can_frame_valid(&f));
    s_compare(&f);
  }
}
END_TEST

/* Every FD length and both CRC widths with all-dominant and all-recessive payloads: the run
 * that ends exactly on the last data bit (no dynamic stuff bit before the fixed one). */
START_TEST(test_fd_edges_match_reference) {
  static const uint8_t fd_lens[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 20, 24, 32, 48, 64};
  for (int eff = 0; eff < 2; eff++)
    for (int li = 0; li < 16; li++)
      for (int fill = 0; fill < 3; fill++)
        for (int flags = 0; flags < 4; flags++) {
          dd_can_frame_t f;
          memset(&f, 0, sizeof f);
          f.flags = DD_CAN_F_FD | (eff ? DD_CAN_F_EFF : 0) | ((flags & 1) ? DD_CAN_F_BRS : 0) |
                    ((flags & 2) ? DD_CAN_F_ESI : 0);
          f.id = fill == 1 ? (eff ? DD_CAN_EFF_MASK : DD_CAN_SFF_MASK) : 0;
          f.len = fd_lens[li];
          memset(f.data, fill == 0 ? 0x00 : fill == 1 ? 0xFF : 0x0F, sizeof f.data);
          s_compare(&f);
          dd_canbits_t b = dd_canbits_count(&f);
          ck_assert_uint_eq(b.crc_width, f.len <= 16 ? 17 : 21);
          ck_assert_uint_eq(b.fixed_stuff_bits, f.len <= 16 ? 6 : 7);
        }
}
END_TEST

static Suite *s_suite(void) {
  Suite *s = suite_create("canbits");
  TCase *tc = tcase_create("vectors");
  tcase_add_test(tc, test_isotp_reference_frames);
  tcase_add_test(tc, test_classic_fixed_part_and_bound);
  tcase_add_test(tc, test_fd_64_byte_frame);
  tcase_add_test(tc, test_classic_duration);
  tcase_add_test(tc, test_error_frame_takes_no_time);
  tcase_add_test(tc, test_typical_stuffing);
  suite_add_tcase(s, tc);
  tc = tcase_create("reference");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_random_frames_match_reference);
  tcase_add_test(tc, test_fd_edges_match_reference);
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
