/* check_obd: unit tests of the OBD-II responder and client (SAE J1979 / ISO 15031-5 on CAN) and
 * of the DTC text codec (SAE J2012).
 *
 * Vectors: "01 0C" -> "41 0C 1A F8" = 1726 rpm and the J2012 pairs 01 33 = P0133, C1 00 = U0100,
 * 56 78 9A = C1678-9A are from the checked protocol facts (dashdyno.net PID table, the
 * mdabrowski1990/uds DTC documentation); "41 0D 12" = 18 km/h is the CSS Electronics example;
 * the bitmap BE 1F A8 13 (PIDs 01 03-07 0C-11 13 15 1C 1F 20) is the worked example of the
 * "OBD-II PIDs" encyclopedia article; the 20-byte VIN response (first frame 10 14 49 02 01) is
 * the one shown by the arduino-CAN VINReader example. Everything else is computed by hand from
 * the scalings of J1979 and is commented where it is used. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_dtc_code.h"
#include "dd_err.h"
#include "dd_obd.h"

/* ---- helpers ------------------------------------------------------------------------------ */

static size_t s_hex(const char *txt, uint8_t *out, size_t cap) {
  size_t n = 0;
  for (const char *p = txt; *p;) {
    if (*p == ' ') {
      p++;
      continue;
    }
    unsigned v;
    ck_assert_msg(sscanf(p, "%2x", &v) == 1, "bad hex in %s", txt);
    ck_assert_uint_lt(n, cap);
    out[n++] = (uint8_t)v;
    p += 2;
  }
  return n;
}

static const char *s_fmt(const uint8_t *p, size_t n) {
  static char bufs[4][1024];
  static unsigned next;
  char *b = bufs[next++ % 4];
  size_t o = 0;
  b[0] = '\0';
  for (size_t i = 0; i < n && o + 4 < 1024; i++)
    o += (size_t)snprintf(b + o, 1024 - o, "%s%02X", i ? " " : "", p[i]);
  return b;
}

static const char *s_vin = "4CVBS2KA6KT104377";

static void s_cfg(dd_obd_cfg_t *cfg) {
  dd_obd_cfg_init(cfg);
  snprintf(cfg->vin, sizeof cfg->vin, "%s", s_vin);
  dd_obd_cfg_all_pids(cfg);
  snprintf(cfg->ecu_acronym, sizeof cfg->ecu_acronym, "ECM");
  snprintf(cfg->ecu_text, sizeof cfg->ecu_text, "EngineControl");
  snprintf(cfg->calids[0], sizeof cfg->calids[0], "CV20G-19A04-02");
  cfg->n_calids = 1;
  cfg->cvns[0] = 0x3E7A19C4;
  cfg->n_cvns = 1;
}

static void s_state(dd_obd_state_t *st) {
  memset(st, 0, sizeof *st);
  st->live.rpm = 1726;
  st->live.speed_kmh = 18;
  st->live.coolant_c = 83;
  st->live.load_pct = 40;
  st->live.stft_pct = 0;
  st->live.ltft_pct = 3.125;
  st->live.map_kpa = 35;
  st->live.intake_c = 25;
  st->live.maf_gs = 3.0;
  st->live.throttle_pct = 100;
  st->live.run_time_s = 842;
  st->live.fuel_pct = 50;
  st->live.baro_kpa = 101;
  st->live.module_v = 14.0;
  st->live.ambient_c = 20;
}

typedef struct {
  dd_obd_cfg_t cfg;  /* responder configuration */
  dd_obd_state_t st; /* responder state */
  unsigned actions;  /* actions of the last request */
  bool silent;       /* the last request got no answer */
} s_ecu_t;

static const char *s_ask(s_ecu_t *e, const char *req, bool functional) {
  uint8_t rq[64], out[512];
  size_t n = s_hex(req, rq, sizeof rq), len = 99;
  ck_assert_int_eq(
      dd_obd_respond(&e->cfg, &e->st, rq, n, functional, out, sizeof out, &len, &e->actions), 0);
  e->silent = len == 0;
  return s_fmt(out, len);
}

static void s_ecu(s_ecu_t *e) {
  s_cfg(&e->cfg);
  s_state(&e->st);
}

/* ---- DTC codes -------------------------------------------------------------------------- */

START_TEST(test_dtc_known_pairs) {
  static const struct {
    uint16_t code;
    const char *text;
  } v[] = {
      {0x0301, "P0301"}, {0xC123, "U0123"}, {0x4123, "C0123"}, {0x8123, "B0123"},
      {0x0133, "P0133"}, {0xC100, "U0100"}, {0x0A80, "P0A80"}, {0x3FFF, "P3FFF"},
      {0xFFFF, "U3FFF"}, {0x0000, "P0000"}, {0x5678, "C1678"}, {0x9ABC, "B1ABC"},
  };
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
    char t[DD_DTC_TEXT_SIZE];
    dd_dtc_code_format(v[i].code, t);
    ck_assert_str_eq(t, v[i].text);
    uint16_t c = 0;
    ck_assert_int_eq(dd_dtc_code_parse(v[i].text, &c), 0);
    ck_assert_uint_eq(c, v[i].code);
  }
  char t3[DD_DTC_TEXT3_SIZE];
  dd_dtc_code_format3(0x56789A, t3);
  ck_assert_str_eq(t3, "C1678-9A");
  dd_dtc_code_format3(0x030100, t3);
  ck_assert_str_eq(t3, "P0301-00");
  uint32_t d = 0;
  ck_assert_int_eq(dd_dtc_code_parse3("C1678-9A", &d), 0);
  ck_assert_uint_eq(d, 0x56789A);
  ck_assert_int_eq(dd_dtc_code_parse3("P030100", &d), 0);
  ck_assert_uint_eq(d, 0x030100);
  ck_assert_int_eq(dd_dtc_code_parse3("u0155:1f", &d), 0);
  ck_assert_uint_eq(d, 0xC1551F);
  ck_assert_int_eq(dd_dtc_code_parse3("P0420", &d), 0);
  ck_assert_uint_eq(d, 0x042000);
  ck_assert_int_eq(dd_dtc_code_letter(0xC100), 'U');
}
END_TEST

START_TEST(test_dtc_round_trip) {
  /* plain ifs: Check records every passing assertion, which is slow over 65536 codes */
  for (uint32_t c = 0; c <= 0xFFFF; c++) {
    char t[DD_DTC_TEXT_SIZE];
    dd_dtc_code_format((uint16_t)c, t);
    uint16_t back = 0;
    if (dd_dtc_code_parse(t, &back) != 0 || back != c)
      ck_abort_msg("0x%04X -> %s -> 0x%04X", (unsigned)c, t, (unsigned)back);
  }
  for (uint32_t d = 0; d <= 0xFFFFFF; d += 0x1357) {
    char t[DD_DTC_TEXT3_SIZE];
    dd_dtc_code_format3(d, t);
    uint32_t back = 0;
    if (dd_dtc_code_parse3(t, &back) != 0 || back != d)
      ck_abort_msg("0x%06X -> %s -> 0x%06X", (unsigned)d, t, (unsigned)back);
  }
}
END_TEST

START_TEST(test_dtc_bad_text) {
  uint16_t c;
  uint32_t d;
  const char *bad2[] = {"", "P", "P030", "X0301", "P4301", "P030G", "P0301-00", "P03011", "0301"};
  for (size_t i = 0; i < sizeof bad2 / sizeof bad2[0]; i++)
    ck_assert_int_eq(dd_dtc_code_parse(bad2[i], &c), DD_EILSEQ);
  const char *bad3[] = {"P0301-", "P0301-0", "P0301-0G", "P0301+00", "P0301-000", "Q0301-00"};
  for (size_t i = 0; i < sizeof bad3 / sizeof bad3[0]; i++)
    ck_assert_int_eq(dd_dtc_code_parse3(bad3[i], &d), DD_EILSEQ);
  ck_assert_str_eq(dd_dtc_code_problem("X0301", true), "the first character must be P, C, B or U");
  ck_assert_str_eq(dd_dtc_code_problem("P4301", true), "the second character must be a digit 0-3");
  ck_assert_ptr_null(dd_dtc_code_problem("P0301-1F", true));
  ck_assert_ptr_nonnull(dd_dtc_code_problem("P0301-1F", false));
}
END_TEST

START_TEST(test_dtc_descriptions) {
  ck_assert_str_eq(dd_dtc_code_description(0x0301), "Cylinder 1 misfire detected");
  ck_assert_str_eq(dd_dtc_code_description(0xC100), "Lost communication with ECM/PCM A");
  ck_assert_ptr_nonnull(dd_dtc_code_description(0x0420));
  ck_assert_ptr_null(dd_dtc_code_description(0x1234));
}
END_TEST

/* ---- PID scalings -------------------------------------------------------------------------- */

START_TEST(test_pid_scalings) {
  uint8_t raw[4];
  /* 0C: (256A + B) / 4 */
  ck_assert_uint_eq(dd_obd_pid_encode(0x0C, 1726, raw), 2);
  ck_assert_str_eq(s_fmt(raw, 2), "1A F8");
  ck_assert_double_eq(dd_obd_pid_decode(0x0C, raw, 2), 1726);
  ck_assert_double_eq(dd_obd_pid_decode(0x0C, (const uint8_t[]){0xFF, 0xFF}, 2), 16383.75);
  /* 05 / 0F / 46: A - 40 */
  ck_assert_double_eq(dd_obd_pid_decode(0x05, (const uint8_t[]){0x7B}, 1), 83);
  ck_assert_uint_eq(dd_obd_pid_encode(0x05, -40, raw), 1);
  ck_assert_uint_eq(raw[0], 0x00);
  ck_assert_uint_eq(dd_obd_pid_encode(0x46, 215, raw), 1);
  ck_assert_uint_eq(raw[0], 0xFF);
  ck_assert_uint_eq(dd_obd_pid_encode(0x0F, 300, raw), 1); /* clamped */
  ck_assert_uint_eq(raw[0], 0xFF);
  /* 06 / 07: A * 100 / 128 - 100 */
  ck_assert_double_eq(dd_obd_pid_decode(0x06, (const uint8_t[]){0x80}, 1), 0);
  ck_assert_double_eq(dd_obd_pid_decode(0x07, (const uint8_t[]){0x00}, 1), -100);
  ck_assert_uint_eq(dd_obd_pid_encode(0x07, 3.125, raw), 1);
  ck_assert_uint_eq(raw[0], 0x84);
  /* 10: (256A + B) / 100 */
  ck_assert_double_eq_tol(dd_obd_pid_decode(0x10, (const uint8_t[]){0x01, 0x2C}, 2), 3.0, 1e-9);
  /* 42: (256A + B) / 1000 */
  ck_assert_uint_eq(dd_obd_pid_encode(0x42, 14.0, raw), 2);
  ck_assert_str_eq(s_fmt(raw, 2), "36 B0");
  /* 04 / 11 / 2F: A * 100 / 255 */
  ck_assert_double_eq(dd_obd_pid_decode(0x11, (const uint8_t[]){0xFF}, 1), 100);
  ck_assert_uint_eq(dd_obd_pid_encode(0x04, 50, raw), 1);
  ck_assert_uint_eq(raw[0], 0x80); /* 127.5 rounds up */
  ck_assert_uint_eq(dd_obd_pid_encode(0x0D, NAN, raw), 1);
  ck_assert_uint_eq(raw[0], 0);
  /* every linear PID round-trips within half a raw step */
  static const uint8_t pids[] = {0x04, 0x05, 0x06, 0x07, 0x0B, 0x0C, 0x0D, 0x0F,
                                 0x10, 0x11, 0x1F, 0x2F, 0x33, 0x42, 0x46};
  for (size_t i = 0; i < sizeof pids; i++) {
    const dd_obd_pid_info_t *pi = dd_obd_pid_info(pids[i]);
    ck_assert_ptr_nonnull(pi);
    double step = pi->mul / pi->div;
    double top = (pi->len == 1 ? 255 : 65535) * step + pi->offset;
    for (int k = 0; k <= 20; k++) {
      double v = pi->offset + (top - pi->offset) * k / 20.0;
      size_t n = dd_obd_pid_encode(pids[i], v, raw);
      ck_assert_uint_eq(n, pi->len);
      ck_assert_double_le(fabs(dd_obd_pid_decode(pids[i], raw, n) - v), step / 2 + 1e-9);
    }
  }
  ck_assert(isnan(dd_obd_pid_decode(0x0C, raw, 1)));
  ck_assert(isnan(dd_obd_pid_decode(0x0A, raw, 1)));
  ck_assert_uint_eq(dd_obd_pid_encode(0x0A, 1, raw), 0);
  ck_assert(dd_obd_pid_implemented(0x00));
  ck_assert(!dd_obd_pid_implemented(0x0A));
}
END_TEST

/* ---- responder: service $01 ------------------------------------------------------------------ */

START_TEST(test_svc01_single) {
  s_ecu_t e;
  s_ecu(&e);
  ck_assert_str_eq(s_ask(&e, "01 0C", true), "41 0C 1A F8");
  ck_assert_str_eq(s_ask(&e, "01 0D", true), "41 0D 12");
  ck_assert_str_eq(s_ask(&e, "01 05", false), "41 05 7B");
  ck_assert_str_eq(s_ask(&e, "01 10", false), "41 10 01 2C");
  ck_assert_str_eq(s_ask(&e, "01 42", false), "41 42 36 B0");
  ck_assert_str_eq(s_ask(&e, "01 1F", false), "41 1F 03 4A"); /* 842 s */
  ck_assert_str_eq(s_ask(&e, "01 11", false), "41 11 FF");
  ck_assert_str_eq(s_ask(&e, "01 1C", false), "41 1C 01");
  ck_assert_str_eq(s_ask(&e, "01 07", false), "41 07 84");
  ck_assert_str_eq(s_ask(&e, "01 33", false), "41 33 65");
  ck_assert_str_eq(s_ask(&e, "01 46", false), "41 46 3C");
}
END_TEST

START_TEST(test_svc01_bitmaps) {
  s_ecu_t e;
  s_ecu(&e);
  /* implemented set: 01 04-07 0B-0D 0F-11 1C 1F | 2F 33 | 42 46:
   * A = 01,04,05,06,07 -> 9E; B = 0B,0C,0D,0F,10 -> 3B; C = 11 -> 80; D = 1C,1F,20 -> 13 */
  ck_assert_str_eq(s_ask(&e, "01 00", true), "41 00 9E 3B 80 13");
  /* 21-40: 2F (byte B = 29-30, bit 1), 33 (byte C = 31-38, bit 5), 40 (more above) */
  ck_assert_str_eq(s_ask(&e, "01 20", true), "41 20 00 02 20 01");
  /* 41-60: 42 (A bit 6), 46 (A bit 2); nothing above 0x60 */
  ck_assert_str_eq(s_ask(&e, "01 40", true), "41 40 44 00 00 00");
  ck_assert_str_eq(s_ask(&e, "01 00 20 40", true),
                   "41 00 9E 3B 80 13 20 00 02 20 01 40 44 00 00 00");
  /* 60 is not supported: silent to functional, 7F 01 31 to physical */
  ck_assert_str_eq(s_ask(&e, "01 60", true), "");
  ck_assert(e.silent);
  ck_assert_str_eq(s_ask(&e, "01 60", false), "7F 01 31");
  ck_assert_str_eq(s_ask(&e, "01 40 60", true), "41 40 44 00 00 00");

  /* the encyclopedia example: BE 1F A8 13 */
  dd_obd_cfg_init(&e.cfg);
  const uint8_t ex[] = {0x01, 0x03, 0x04, 0x05, 0x06, 0x07, 0x0C, 0x0D, 0x0E,
                        0x0F, 0x10, 0x11, 0x13, 0x15, 0x1C, 0x1F, 0x21};
  for (size_t i = 0; i < sizeof ex; i++)
    dd_obd_pidset_add(&e.cfg.pids, ex[i]);
  uint8_t bm[4];
  ck_assert(dd_obd_supported_bitmap(&e.cfg, 0x00, bm));
  ck_assert_str_eq(s_fmt(bm, 4), "BE 1F A8 13");
  ck_assert(dd_obd_supported_bitmap(&e.cfg, 0x20, bm));
  ck_assert_str_eq(s_fmt(bm, 4), "80 00 00 00");
  ck_assert(!dd_obd_supported_bitmap(&e.cfg, 0x40, bm));
  /* only PID 00 when nothing is configured: D bit 0 clear */
  dd_obd_cfg_init(&e.cfg);
  ck_assert_str_eq(s_ask(&e, "01 00", true), "41 00 00 00 00 00");
}
END_TEST

START_TEST(test_svc01_multi) {
  s_ecu_t e;
  s_ecu(&e);
  ck_assert_str_eq(s_ask(&e, "01 0C 0D 05", true), "41 0C 1A F8 0D 12 05 7B");
  ck_assert_str_eq(s_ask(&e, "01 0C 0D 05 11 2F 46", true),
                   "41 0C 1A F8 0D 12 05 7B 11 FF 2F 80 46 3C");
  /* unsupported ones are left out; order kept */
  ck_assert_str_eq(s_ask(&e, "01 0A 0D 03 0C", true), "41 0D 12 0C 1A F8");
  /* seven PIDs: invalid format (J1979: at most six) */
  ck_assert_str_eq(s_ask(&e, "01 0C 0D 05 11 2F 46 04", false), "7F 01 12");
  ck_assert_str_eq(s_ask(&e, "01 0C 0D 05 11 2F 46 04", true), "");
  /* a "PIDs supported" PID mixed with data PIDs */
  ck_assert_str_eq(s_ask(&e, "01 00 0C", false), "7F 01 12");
  ck_assert_str_eq(s_ask(&e, "01", false), "7F 01 12");
  ck_assert_str_eq(s_ask(&e, "01 0A 03", false), "7F 01 31");
  ck_assert_str_eq(s_ask(&e, "01 0A 03", true), "");
  /* a configured PID the responder cannot encode counts as unsupported */
  dd_obd_pidset_add(&e.cfg.pids, 0x0A);
  ck_assert_str_eq(s_ask(&e, "01 0A", false), "7F 01 31");
}
END_TEST

START_TEST(test_svc01_monitor_status) {
  s_ecu_t e;
  s_ecu(&e);
  ck_assert_str_eq(s_ask(&e, "01 01", true), "41 01 00 07 E5 00");
  ck_assert_int_eq(dd_obd_state_add_dtc(&e.st, 0x030100, 0xAF, false), 0); /* confirmed + MIL */
  ck_assert_int_eq(dd_obd_state_add_dtc(&e.st, 0x030110, 0xAF, false), 0); /* same code again */
  ck_assert_int_eq(dd_obd_state_add_dtc(&e.st, 0x042000, 0x24, false), 0); /* pending only */
  ck_assert_int_eq(dd_obd_state_add_dtc(&e.st, 0x017100, 0x28, true), 0); /* confirmed, permanent */
  e.st.monitors_incomplete = true;
  e.cfg.compression_ignition = true;
  ck_assert_str_eq(s_ask(&e, "01 01", true), "41 01 82 0F EB EB");
  uint8_t raw[4] = {0x82, 0x0F, 0xEB, 0xEB};
  dd_obd_monitor_t m;
  dd_obd_decode_monitor(raw, &m);
  ck_assert(m.mil);
  ck_assert_uint_eq(m.dtc_count, 2);
  ck_assert(m.compression_ignition);
  ck_assert_uint_eq(m.cont_supported, 7);
  ck_assert_uint_eq(m.cont_incomplete, 0);
  ck_assert_uint_eq(m.supported, 0xEB);
  ck_assert_uint_eq(m.incomplete, 0xEB);
}
END_TEST

/* ---- responder: services $02-$0A --------------------------------------------------------------
 */

START_TEST(test_svc02_freeze_frame) {
  s_ecu_t e;
  s_ecu(&e);
  /* no freeze frame: PID 02 reports 0000, other PIDs are not available */
  ck_assert_str_eq(s_ask(&e, "02 02 00", true), "42 02 00 00 00");
  ck_assert_str_eq(s_ask(&e, "02 0C 00", false), "7F 02 31");
  e.st.has_freeze_frame = true;
  e.st.freeze_dtc = 0x0301;
  e.st.freeze = e.st.live;
  e.st.freeze.rpm = 2150; /* 8600 = 0x2198 */
  e.st.freeze.speed_kmh = 72;
  ck_assert_str_eq(s_ask(&e, "02 02 00", true), "42 02 00 03 01");
  ck_assert_str_eq(s_ask(&e, "02 0C 00 0D 00", true), "42 0C 00 21 98 0D 00 48");
  ck_assert_str_eq(s_ask(&e, "02 02 00 0C 00 0D 00", true), "42 02 00 03 01 0C 00 21 98 0D 00 48");
  /* frame 1 is not stored */
  ck_assert_str_eq(s_ask(&e, "02 0C 01", false), "7F 02 31");
  /* monitor status and OBD standard are not part of a freeze frame */
  ck_assert_str_eq(s_ask(&e, "02 01 00", false), "7F 02 31");
  /* supported PIDs of the freeze frame: like 01 00 without 01 and 1C, with 02:
   * A = 02,04,05,06,07 -> 5E; B -> 3B; C -> 80; D = 1F,20 -> 03 */
  ck_assert_str_eq(s_ask(&e, "02 00 00", true), "42 00 00 5E 3B 80 03");
  /* malformed: odd length, more than 3 pairs, mixing */
  ck_assert_str_eq(s_ask(&e, "02 0C", false), "7F 02 12");
  ck_assert_str_eq(s_ask(&e, "02 0C 00 0D 00 05 00 04 00", false), "7F 02 12");
  ck_assert_str_eq(s_ask(&e, "02 00 00 0C 00", false), "7F 02 12");
  ck_assert_str_eq(s_ask(&e, "02 0C", true), "");
}
END_TEST

START_TEST(test_svc03_07_0a_dtcs) {
  s_ecu_t e;
  s_ecu(&e);
  ck_assert_str_eq(s_ask(&e, "03", true), "43 00");
  ck_assert_str_eq(s_ask(&e, "07", true), "47 00");
  ck_assert_str_eq(s_ask(&e, "0A", true), "4A 00");
  dd_obd_state_add_dtc(&e.st, 0x030100, 0xAF, false);
  dd_obd_state_add_dtc(&e.st, 0x042000, 0x2C, false); /* pending and confirmed */
  dd_obd_state_add_dtc(&e.st, 0xC10000, 0x08, true);
  dd_obd_state_add_dtc(&e.st, 0x017100, 0x04, false);
  dd_obd_state_add_dtc(&e.st, 0x017200, 0x00, false); /* neither: in no list */
  /* ISO 15031-5 CAN format: 43, number of DTCs, two bytes each */
  ck_assert_str_eq(s_ask(&e, "03", true), "43 03 03 01 04 20 C1 00");
  /* 0xAF and 0x2C have pendingDTC (bit 2) set as well */
  ck_assert_str_eq(s_ask(&e, "07", true), "47 03 03 01 04 20 01 71");
  ck_assert_str_eq(s_ask(&e, "0A", true), "4A 01 C1 00");
  ck_assert(e.st.mil);
  ck_assert_str_eq(s_ask(&e, "03 00", false), "7F 03 12");
  ck_assert_str_eq(s_ask(&e, "03 00", true), "");
  /* the list is capped */
  s_state(&e.st);
  for (uint32_t i = 0; i < DD_OBD_MAX_DTCS; i++)
    ck_assert_int_eq(dd_obd_state_add_dtc(&e.st, 0x030000 + (i << 8), 0x08, false), 0);
  ck_assert_int_eq(dd_obd_state_add_dtc(&e.st, 0x7F0000, 0x08, false), DD_ENOSPC);
  ck_assert_uint_eq(e.st.n_stored, DD_OBD_MAX_DTCS);
}
END_TEST

START_TEST(test_svc04_clear) {
  s_ecu_t e;
  s_ecu(&e);
  e.st.engine_running = true;
  /* J1979: clear with ignition on, engine off; running -> conditionsNotCorrect, also functional */
  ck_assert_str_eq(s_ask(&e, "04", true), "7F 04 22");
  ck_assert_uint_eq(e.actions, 0);
  ck_assert_str_eq(s_ask(&e, "04", false), "7F 04 22");
  e.st.engine_running = false;
  ck_assert_str_eq(s_ask(&e, "04", true), "44");
  ck_assert_uint_eq(e.actions, DD_OBD_ACT_CLEAR);
  ck_assert_str_eq(s_ask(&e, "04 00", false), "7F 04 12");
  ck_assert_uint_eq(e.actions, 0);
}
END_TEST

START_TEST(test_svc09_vehicle_info) {
  s_ecu_t e;
  s_ecu(&e);
  /* InfoTypes 02, 04, 06, 0A: A = 02 (bit 6), 04 (bit 4), 06 (bit 2) -> 54; B = 0A (bit 6) */
  ck_assert_str_eq(s_ask(&e, "09 00", true), "49 00 54 40 00 00");
  /* VIN: one data item; 20 bytes in all (the first frame reads 10 14 49 02 01) */
  const char *vin = s_ask(&e, "09 02", true);
  ck_assert_str_eq(vin, "49 02 01 34 43 56 42 53 32 4B 41 36 4B 54 31 30 34 33 37 37");
  ck_assert_uint_eq(strlen(vin), 20 * 3 - 1);
  ck_assert_str_eq(s_ask(&e, "09 04", true),
                   "49 04 01 43 56 32 30 47 2D 31 39 41 30 34 2D 30 32 00 00");
  ck_assert_str_eq(s_ask(&e, "09 06", true), "49 06 01 3E 7A 19 C4");
  /* ECUNAME: "ECM" 00, '-', "EngineControl" 00 00 */
  ck_assert_str_eq(s_ask(&e, "09 0A", true),
                   "49 0A 01 45 43 4D 00 2D 45 6E 67 69 6E 65 43 6F 6E 74 72 6F 6C 00 00");
  /* a data InfoType is requested alone */
  ck_assert_str_eq(s_ask(&e, "09 02 04", false), "7F 09 12");
  ck_assert_str_eq(s_ask(&e, "09 02 04", true), "");
  ck_assert_str_eq(s_ask(&e, "09", false), "7F 09 12");
  ck_assert_str_eq(s_ask(&e, "09 08", false), "7F 09 31");
  ck_assert_str_eq(s_ask(&e, "09 08", true), "");
  ck_assert_str_eq(s_ask(&e, "09 20", false), "7F 09 31");
  e.cfg.n_cvns = 0;
  ck_assert_str_eq(s_ask(&e, "09 00", true), "49 00 50 40 00 00");
  ck_assert_str_eq(s_ask(&e, "09 06", false), "7F 09 31");
}
END_TEST

START_TEST(test_unsupported_services) {
  s_ecu_t e;
  s_ecu(&e);
  const char *svcs[] = {"05", "06 01", "08 01", "0B", "10 03", "3E 00"};
  for (size_t i = 0; i < sizeof svcs / sizeof svcs[0]; i++) {
    ck_assert_str_eq(s_ask(&e, svcs[i], true), "");
    ck_assert(e.silent);
    char want[16];
    snprintf(want, sizeof want, "7F %.2s 11", svcs[i]);
    ck_assert_str_eq(s_ask(&e, svcs[i], false), want);
  }
  uint8_t out[8];
  size_t len = 5;
  ck_assert_int_eq(dd_obd_respond(&e.cfg, &e.st, NULL, 0, false, out, sizeof out, &len, NULL), 0);
  ck_assert_uint_eq(len, 0);
}
END_TEST

START_TEST(test_response_buffer_too_small) {
  s_ecu_t e;
  s_ecu(&e);
  uint8_t out[19], req[] = {0x09, 0x02};
  size_t len = 7;
  unsigned act = 9;
  ck_assert_int_eq(dd_obd_respond(&e.cfg, &e.st, req, 2, true, out, sizeof out, &len, &act),
                   DD_ENOSPC);
  ck_assert_uint_eq(len, 0);
  ck_assert_uint_eq(act, 0);
  uint8_t big[20];
  ck_assert_int_eq(dd_obd_respond(&e.cfg, &e.st, req, 2, true, big, sizeof big, &len, &act), 0);
  ck_assert_uint_eq(len, 20);
}
END_TEST

/* ---- client ------------------------------------------------------------------------------ */

START_TEST(test_client_builders) {
  uint8_t out[16];
  size_t len = 0;
  ck_assert_int_eq(dd_obd_build_request(0x01, (const uint8_t[]){0x0C}, 1, out, sizeof out, &len),
                   0);
  ck_assert_str_eq(s_fmt(out, len), "01 0C");
  ck_assert_int_eq(dd_obd_build_request(0x03, NULL, 0, out, sizeof out, &len), 0);
  ck_assert_str_eq(s_fmt(out, len), "03");
  ck_assert_int_eq(dd_obd_build_request(0x09, (const uint8_t[]){0x02}, 1, out, sizeof out, &len),
                   0);
  ck_assert_str_eq(s_fmt(out, len), "09 02");
  const uint8_t seven[7] = {1, 2, 3, 4, 5, 6, 7};
  ck_assert_int_eq(dd_obd_build_request(0x01, seven, 7, out, sizeof out, &len), DD_EINVAL);
  ck_assert_int_eq(dd_obd_build_request(0x01, seven, 6, out, 6, &len), DD_ENOSPC);
  ck_assert_int_eq(
      dd_obd_build_freeze_request((const uint8_t[]){0x02, 0x0C}, 2, 0, out, sizeof out, &len), 0);
  ck_assert_str_eq(s_fmt(out, len), "02 02 00 0C 00");
  ck_assert_int_eq(dd_obd_build_freeze_request(seven, 4, 0, out, sizeof out, &len), DD_EINVAL);
}
END_TEST

START_TEST(test_client_parse_values) {
  uint8_t r[64];
  dd_obd_value_t v[8];
  size_t n = 0;
  size_t len = s_hex("41 0C 1A F8", r, sizeof r);
  ck_assert_int_eq(dd_obd_parse_values(r, len, v, 8, &n), 0);
  ck_assert_uint_eq(n, 1);
  ck_assert_uint_eq(v[0].pid, 0x0C);
  ck_assert_str_eq(v[0].name, "Engine speed");
  ck_assert_str_eq(v[0].unit, "rpm");
  ck_assert_double_eq(v[0].value, 1726);
  len = s_hex("41 0D 12", r, sizeof r);
  ck_assert_int_eq(dd_obd_parse_values(r, len, v, 8, &n), 0);
  ck_assert_double_eq(v[0].value, 18);
  ck_assert_str_eq(v[0].unit, "km/h");
  len = s_hex("41 0C 1A F8 0D 12 05 7B 42 36 B0 01 82 07 E5 00", r, sizeof r);
  ck_assert_int_eq(dd_obd_parse_values(r, len, v, 8, &n), 0);
  ck_assert_uint_eq(n, 5);
  ck_assert_double_eq(v[2].value, 83);
  ck_assert_str_eq(v[2].unit, "degC");
  ck_assert_double_eq_tol(v[3].value, 14.0, 1e-9);
  ck_assert_uint_eq(v[4].pid, 0x01);
  ck_assert_double_eq(v[4].value, 2);
  ck_assert_uint_eq(v[4].raw_len, 4);
  /* freeze frame */
  len = s_hex("42 02 00 03 01 0C 00 21 98", r, sizeof r);
  ck_assert_int_eq(dd_obd_parse_values(r, len, v, 8, &n), 0);
  ck_assert_uint_eq(n, 2);
  ck_assert_double_eq(v[0].value, 0x0301);
  ck_assert_double_eq(v[1].value, 2150);
  ck_assert_uint_eq(v[1].frame, 0);
  /* bitmaps come back as raw bytes */
  len = s_hex("41 00 BE 1F A8 13", r, sizeof r);
  ck_assert_int_eq(dd_obd_parse_values(r, len, v, 8, &n), 0);
  ck_assert_str_eq(s_fmt(v[0].raw, v[0].raw_len), "BE 1F A8 13");
  ck_assert(isnan(v[0].value));
  /* an unknown PID at the end is kept raw; in the middle its length is unknown */
  len = s_hex("41 0D 12 0A 55", r, sizeof r);
  ck_assert_int_eq(dd_obd_parse_values(r, len, v, 8, &n), 0);
  ck_assert_uint_eq(n, 2);
  ck_assert_str_eq(v[1].name, "Unknown PID");
  len = s_hex("41 0A 55 0D 12 0C 1A F8", r, sizeof r);
  ck_assert_int_eq(dd_obd_parse_values(r, len, v, 8, &n), DD_ENOTSUP);
  /* errors */
  len = s_hex("41 0C 1A", r, sizeof r);
  ck_assert_int_eq(dd_obd_parse_values(r, len, v, 8, &n), DD_EPROTO);
  len = s_hex("41", r, sizeof r);
  ck_assert_int_eq(dd_obd_parse_values(r, len, v, 8, &n), DD_EPROTO);
  len = s_hex("7F 01 31", r, sizeof r);
  ck_assert_int_eq(dd_obd_parse_values(r, len, v, 8, &n), DD_EUDS_NRC);
  uint8_t svc = 0, nrc = 0;
  ck_assert(dd_obd_is_negative(r, len, &svc, &nrc));
  ck_assert_uint_eq(svc, 0x01);
  ck_assert_uint_eq(nrc, 0x31);
  len = s_hex("43 00", r, sizeof r);
  ck_assert_int_eq(dd_obd_parse_values(r, len, v, 8, &n), DD_EUDS_RESPONSE);
  len = s_hex("41 0D 12 0D 13", r, sizeof r);
  ck_assert_int_eq(dd_obd_parse_values(r, len, v, 1, &n), DD_ENOSPC);
  ck_assert_int_eq(dd_obd_parse_values(NULL, 0, v, 1, &n), DD_EPROTO);
}
END_TEST

START_TEST(test_client_parse_supported) {
  uint8_t r[64];
  dd_obd_pidset_t set;
  dd_obd_pidset_clear(&set);
  size_t len = s_hex("41 00 BE 1F A8 13", r, sizeof r);
  ck_assert_int_eq(dd_obd_parse_supported(r, len, &set), 0);
  const uint8_t want[] = {0x01, 0x03, 0x04, 0x05, 0x06, 0x07, 0x0C, 0x0D, 0x0E,
                          0x0F, 0x10, 0x11, 0x13, 0x15, 0x1C, 0x1F, 0x20};
  ck_assert_uint_eq(dd_obd_pidset_count(&set), sizeof want);
  for (size_t i = 0; i < sizeof want; i++)
    ck_assert(dd_obd_pidset_has(&set, want[i]));
  dd_obd_pidset_clear(&set);
  len = s_hex("49 00 54 40 00 00", r, sizeof r);
  ck_assert_int_eq(dd_obd_parse_supported(r, len, &set), 0);
  ck_assert(dd_obd_pidset_has(&set, 0x02) && dd_obd_pidset_has(&set, 0x04) &&
            dd_obd_pidset_has(&set, 0x06) && dd_obd_pidset_has(&set, 0x0A));
  ck_assert_uint_eq(dd_obd_pidset_count(&set), 4);
  dd_obd_pidset_clear(&set);
  len = s_hex("42 00 00 5E 3B 80 03", r, sizeof r);
  ck_assert_int_eq(dd_obd_parse_supported(r, len, &set), 0);
  ck_assert(dd_obd_pidset_has(&set, 0x02));
  dd_obd_pidset_clear(&set);
  len = s_hex("41 E0 00 00 00 01", r, sizeof r); /* bit for 0x100 does not exist */
  ck_assert_int_eq(dd_obd_parse_supported(r, len, &set), 0);
  ck_assert_uint_eq(dd_obd_pidset_count(&set), 0);
  len = s_hex("41 00 BE 1F A8", r, sizeof r);
  ck_assert_int_eq(dd_obd_parse_supported(r, len, &set), DD_EPROTO);
  len = s_hex("41 0C BE 1F A8 13", r, sizeof r);
  ck_assert_int_eq(dd_obd_parse_supported(r, len, &set), DD_EPROTO);
}
END_TEST

START_TEST(test_client_parse_dtcs_and_info) {
  uint8_t r[64];
  uint16_t codes[4];
  size_t n = 9;
  size_t len = s_hex("43 03 03 01 04 20 C1 00", r, sizeof r);
  ck_assert_int_eq(dd_obd_parse_dtcs(r, len, codes, 4, &n), 0);
  ck_assert_uint_eq(n, 3);
  ck_assert_uint_eq(codes[0], 0x0301);
  ck_assert_uint_eq(codes[2], 0xC100);
  len = s_hex("47 00", r, sizeof r);
  ck_assert_int_eq(dd_obd_parse_dtcs(r, len, codes, 4, &n), 0);
  ck_assert_uint_eq(n, 0);
  len = s_hex("43 02 03 01", r, sizeof r); /* count says 2, one present */
  ck_assert_int_eq(dd_obd_parse_dtcs(r, len, codes, 4, &n), DD_EPROTO);
  len = s_hex("43 03 03 01 04 20 C1 00", r, sizeof r);
  ck_assert_int_eq(dd_obd_parse_dtcs(r, len, codes, 2, &n), DD_ENOSPC);
  len = s_hex("7F 03 11", r, sizeof r);
  ck_assert_int_eq(dd_obd_parse_dtcs(r, len, codes, 4, &n), DD_EUDS_NRC);
  len = s_hex("41 03", r, sizeof r);
  ck_assert_int_eq(dd_obd_parse_dtcs(r, len, codes, 4, &n), DD_EUDS_RESPONSE);

  /* VIN, CALIDs, CVNs, ECU name from the responder's own output */
  s_ecu_t e;
  s_ecu(&e);
  uint8_t out[128], req[2] = {0x09, 0x02};
  size_t olen;
  ck_assert_int_eq(dd_obd_respond(&e.cfg, &e.st, req, 2, true, out, sizeof out, &olen, NULL), 0);
  char vin[DD_VIN_SIZE];
  ck_assert_int_eq(dd_obd_parse_vin(out, olen, vin), 0);
  ck_assert_str_eq(vin, s_vin);
  ck_assert_int_eq(dd_obd_parse_vin(out, olen - 1, vin), DD_EPROTO);
  out[5] = 0x01;
  ck_assert_int_eq(dd_obd_parse_vin(out, olen, vin), DD_EPROTO);
  req[1] = 0x04;
  ck_assert_int_eq(dd_obd_respond(&e.cfg, &e.st, req, 2, true, out, sizeof out, &olen, NULL), 0);
  char ids[2][DD_OBD_CALID_LEN + 1];
  size_t nids;
  ck_assert_int_eq(dd_obd_parse_calids(out, olen, ids, 2, &nids), 0);
  ck_assert_uint_eq(nids, 1);
  ck_assert_str_eq(ids[0], "CV20G-19A04-02");
  req[1] = 0x06;
  ck_assert_int_eq(dd_obd_respond(&e.cfg, &e.st, req, 2, true, out, sizeof out, &olen, NULL), 0);
  uint32_t cvn[2];
  ck_assert_int_eq(dd_obd_parse_cvns(out, olen, cvn, 2, &nids), 0);
  ck_assert_uint_eq(nids, 1);
  ck_assert_uint_eq(cvn[0], 0x3E7A19C4);
  req[1] = 0x0A;
  ck_assert_int_eq(dd_obd_respond(&e.cfg, &e.st, req, 2, true, out, sizeof out, &olen, NULL), 0);
  char acr[5], text[16];
  ck_assert_int_eq(dd_obd_parse_ecu_name(out, olen, acr, text), 0);
  ck_assert_str_eq(acr, "ECM");
  ck_assert_str_eq(text, "EngineControl");
  out[7] = '+';
  ck_assert_int_eq(dd_obd_parse_ecu_name(out, olen, acr, text), DD_EPROTO);
  len = s_hex("7F 09 31", r, sizeof r);
  ck_assert_int_eq(dd_obd_parse_vin(r, len, vin), DD_EUDS_NRC);
  ck_assert_int_eq(dd_obd_parse_cvns(r, len, cvn, 2, &nids), DD_EUDS_NRC);
}
END_TEST

static Suite *s_suite(void) {
  Suite *s = suite_create("obd");
  TCase *dtc = tcase_create("dtc_code");
  tcase_add_test(dtc, test_dtc_known_pairs);
  tcase_add_test(dtc, test_dtc_round_trip);
  tcase_add_test(dtc, test_dtc_bad_text);
  tcase_add_test(dtc, test_dtc_descriptions);
  suite_add_tcase(s, dtc);
  TCase *resp = tcase_create("responder");
  tcase_add_test(resp, test_pid_scalings);
  tcase_add_test(resp, test_svc01_single);
  tcase_add_test(resp, test_svc01_bitmaps);
  tcase_add_test(resp, test_svc01_multi);
  tcase_add_test(resp, test_svc01_monitor_status);
  tcase_add_test(resp, test_svc02_freeze_frame);
  tcase_add_test(resp, test_svc03_07_0a_dtcs);
  tcase_add_test(resp, test_svc04_clear);
  tcase_add_test(resp, test_svc09_vehicle_info);
  tcase_add_test(resp, test_unsupported_services);
  tcase_add_test(resp, test_response_buffer_too_small);
  suite_add_tcase(s, resp);
  TCase *cl = tcase_create("client");
  tcase_add_test(cl, test_client_builders);
  tcase_add_test(cl, test_client_parse_values);
  tcase_add_test(cl, test_client_parse_supported);
  tcase_add_test(cl, test_client_parse_dtcs_and_info);
  suite_add_tcase(s, cl);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(s_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
