/* check_uds_server: unit tests of the UDS server: exact request/response bytes of every
 * service, NRC order, timing (S3, P2/P2* with 0x78), security, the reflash sequence with the
 * block counter wrapping, power loss and fault injection, all driven by an injected clock.
 *
 * Vectors: "ISO 14229-1" marks byte layouts of that standard's service descriptions (e.g.
 * 10 03 -> 50 03 00 32 01 F4 for P2 50 ms / P2* 5000 ms, 22 F1 90 -> 62 F1 90 + 17 VIN bytes,
 * 3E 80 -> no response, 31 01 FF 00 -> 7F 31 78 then 71 01 FF 00); the toy key vector
 * (seed 12 34 56 78 -> key B7 6E A6 77, XOR A5 5A F0 0F) is the one of suduli/UDS-SIMULATION
 * docs/learning/SID_27_SEED_KEY_EXPLAINED.md; the VIN 1M8GDM9AXKP042788 is the worked check
 * digit example of 49 CFR 565 as reproduced in public VIN references. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_dtc.h"
#include "dd_err.h"
#include "dd_flash.h"
#include "dd_uds_server.h"

#define MS 1000ull
#define SEC 1000000ull

static const char s_vin[] = "1M8GDM9AXKP042788";

/* ---- hex helpers ------------------------------------------------------------------------- */

static int s_hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  ck_abort_msg("bad hex digit '%c'", c);
  return 0;
}

/* "22 F1 90" -> bytes (spaces ignored). */
static size_t s_unhex(const char *txt, uint8_t *out, size_t cap) {
  size_t n = 0;
  for (const char *p = txt; *p;) {
    if (*p == ' ') {
      p++;
      continue;
    }
    ck_assert_msg(p[1] && p[1] != ' ', "odd hex in %s", txt);
    ck_assert_uint_lt(n, cap);
    out[n++] = (uint8_t)(s_hexval(p[0]) << 4 | s_hexval(p[1]));
    p += 2;
  }
  return n;
}

static void s_tohex(const uint8_t *p, size_t n, char *out, size_t cap) {
  size_t k = 0;
  out[0] = '\0';
  for (size_t i = 0; i < n && k + 3 < cap; i++)
    k += (size_t)snprintf(out + k, cap - k, "%02X", p[i]);
}

static void s_strhex(const char *s, char *out, size_t cap) {
  s_tohex((const uint8_t *)s, strlen(s), out, cap);
}

/* ---- fixture ------------------------------------------------------------------------------ */

typedef struct {
  dd_uds_server_t *srv;             /* server under test */
  dd_dtc_t *dtc;                    /* its DTC memory */
  dd_flash_t *flash;                /* its flash */
  uint64_t now;                     /* injected clock */
  dd_uds_vehicle_t veh;             /* what the vehicle callback reports */
  int resets;                       /* on_reset calls */
  uint8_t reset_type;               /* last reset type */
  int io_calls;                     /* IO callback calls */
  uint8_t io_last_op;               /* last IO parameter */
  int routine_calls;                /* routine callback calls */
  uint16_t rpm;                     /* value of the live DID 0x0100 */
  uint8_t comm_ctrl;                /* last CommunicationControl seen by the callback */
  int comm_calls;                   /* on_comm_control calls */
  dd_uds_server_event_t evs[256];   /* events */
  size_t n_evs;                     /* entries of evs */
  uint8_t resp[DD_UDS_MAX_MSG];     /* last response */
  size_t resp_len;                  /* its length */
  char txt[2 * DD_UDS_MAX_MSG + 8]; /* last response as hex, "-" for none */
} s_fx_t;

static int s_vehicle(void *user, dd_uds_vehicle_t *out) {
  *out = ((s_fx_t *)user)->veh;
  return 0;
}

static int s_on_reset(void *user, uint8_t type, uint64_t now) {
  s_fx_t *fx = user;
  fx->resets++;
  fx->reset_type = type;
  return 0;
}

static int s_on_comm(void *user, uint8_t control, uint8_t comm, uint64_t now) {
  s_fx_t *fx = user;
  fx->comm_calls++;
  fx->comm_ctrl = control;
  return 0;
}

static void s_on_event(void *user, const dd_uds_server_event_t *ev) {
  s_fx_t *fx = user;
  if (fx->n_evs < sizeof fx->evs / sizeof fx->evs[0]) fx->evs[fx->n_evs++] = *ev;
}

static int s_read_rpm(void *user, uint16_t did, uint8_t *out, size_t cap, size_t *len,
                      uint64_t now) {
  s_fx_t *fx = user;
  if (cap < 2) return DD_UDS_NRC_RESPONSE_TOO_LONG;
  out[0] = (uint8_t)(fx->rpm >> 8);
  out[1] = (uint8_t)fx->rpm;
  *len = 2;
  return 0;
}

/* Routine 0x0203: start answers status 00 ("running"), results answer 02 ("passed"), stop
 * answers nothing; refuses an option record byte FF with 0x31. */
static int s_routine(void *user, dd_uds_call_t *call) {
  s_fx_t *fx = user;
  fx->routine_calls++;
  if (call->in_len && call->in[0] == 0xFF) return DD_UDS_NRC_REQUEST_OUT_OF_RANGE;
  if (call->op == DD_UDS_ROUTINE_START) {
    call->out[0] = 0x00;
    call->out_len = 1;
  } else if (call->op == DD_UDS_ROUTINE_RESULTS) {
    call->out[0] = 0x02;
    call->out_len = 1;
  }
  return 0;
}

/* A slow routine 0x0204: the result is ready 200 ms later. */
static int s_slow_routine(void *user, dd_uds_call_t *call) {
  call->out[0] = 0xAA;
  call->out_len = 1;
  call->ready_at = call->now + 200 * MS;
  return 0;
}

/* IO 0x0300 (a lamp): echoes the control state, reports 00 for the other parameters. */
static int s_io(void *user, dd_uds_call_t *call) {
  s_fx_t *fx = user;
  fx->io_calls++;
  fx->io_last_op = call->op;
  call->out[0] = call->in_len ? call->in[0] : 0x00;
  call->out_len = 1;
  return 0;
}

/* Snapshot: one DID (0x0100) with the current rpm. */
static int s_capture(void *user, uint32_t dtc, uint8_t *rec, size_t cap, size_t *len) {
  s_fx_t *fx = user;
  if (cap < 5) return -1;
  rec[0] = 0x01;
  rec[1] = 0x01;
  rec[2] = 0x00;
  rec[3] = (uint8_t)(fx->rpm >> 8);
  rec[4] = (uint8_t)fx->rpm;
  *len = 5;
  return 0;
}

static const uint8_t s_part_no[] = {'P', 'N', '-', '4', '2'};
static const uint8_t s_secret_data[] = {0xCA, 0xFE};
static const uint8_t s_shop[10] = {0};

#define S_BASE 0x00020000u
#define S_SECTOR 4096u
#define S_SECTORS 8u
#define S_MNBL 0x42u /* 66: SID + counter + 64 data bytes */

static void s_setup_opts(s_fx_t *fx, bool flash_valid, uint64_t erase_us, uint64_t write_us) {
  memset(fx, 0, sizeof *fx);
  fx->now = 1000 * SEC;
  fx->veh = (dd_uds_vehicle_t){.speed_kmh = 0.0, .engine_running = false, .battery_v = 12.8};
  fx->rpm = 0x0BB8;

  static const dd_dtc_def_t defs[] = {
      {.dtc = 0x123456, .status = DD_DTC_ST_CLEARED, .warning = true},
      {.dtc = 0xC10000, .status = 0x09, .confirm_cycles = 2},
  };
  dd_dtc_cfg_t dcfg;
  dd_dtc_cfg_default(&dcfg);
  dcfg.defs = defs;
  dcfg.n_defs = 2;
  dcfg.capture = s_capture;
  dcfg.user = fx;
  fx->dtc = dd_dtc_new(&dcfg);
  ck_assert_ptr_nonnull(fx->dtc);

  dd_flash_cfg_t fcfg;
  dd_flash_cfg_default(&fcfg);
  fcfg.base = S_BASE;
  fcfg.sector_size = S_SECTOR;
  fcfg.sector_count = S_SECTORS;
  fcfg.erase_sector_us = erase_us;
  fcfg.write_block_us = write_us;
  fcfg.write_us_per_byte = 10.0;
  fcfg.verify_us = 100 * MS;
  fcfg.max_block_length = S_MNBL;
  fcfg.version_offset = 0x100;
  fcfg.version_len = 32;
  fcfg.version = flash_valid ? "DD-ECU 1.0.0" : NULL;
  fx->flash = dd_flash_new(&fcfg);
  ck_assert_ptr_nonnull(fx->flash);

  dd_uds_did_t dids[] = {
      {.id = DD_UDS_DID_VIN, .data = (const uint8_t *)s_vin, .len = 17},
      {.id = 0xF187, .data = s_part_no, .len = sizeof s_part_no},
      {.id = 0xF198,
       .data = s_shop,
       .len = sizeof s_shop,
       .write_sessions = DD_UDS_SESS_NON_DEFAULT,
       .write_security = DD_UDS_SEC(0x01) | DD_UDS_SEC(0x11)},
      {.id = 0x0100, .read = s_read_rpm, .user = fx},
      {.id = 0x0200,
       .data = s_secret_data,
       .len = 2,
       .read_sessions = DD_UDS_SESS_EXTENDED,
       .read_security = DD_UDS_SEC(0x01)},
  };
  dd_uds_routine_t routines[] = {
      {.id = 0x0203,
       .ops = 0x0E,
       .preconditions = DD_UDS_PRE_ENGINE_OFF,
       .fn = s_routine,
       .user = fx},
      {.id = 0x0204, .fn = s_slow_routine, .user = fx},
  };
  dd_uds_io_t ios[] = {
      {.did = 0x0300,
       .state_len = 1,
       .preconditions = DD_UDS_PRE_STANDSTILL,
       .fn = s_io,
       .user = fx},
  };
  dd_uds_security_t sec[] = {
      {.level = 0x01,
       .seed_len = 4,
       .sessions = DD_UDS_SESS_EXTENDED,
       .max_attempts = 3,
       .delay_us = 10 * SEC,
       .secret = 0xA55AF00Fu},
      {.level = 0x11, .seed_len = 4, .sessions = DD_UDS_SESS_PROGRAMMING, .secret = 0x11223344u},
  };
  dd_uds_server_cfg_t cfg;
  dd_uds_server_cfg_default(&cfg);
  cfg.dids = dids;
  cfg.n_dids = sizeof dids / sizeof dids[0];
  cfg.routines = routines;
  cfg.n_routines = 2;
  cfg.ios = ios;
  cfg.n_ios = 1;
  cfg.security = sec;
  cfg.n_security = 2;
  cfg.dtc = fx->dtc;
  cfg.flash = fx->flash;
  cfg.flash_security = DD_UDS_SEC(0x11);
  cfg.rng_seed = 42;
  cfg.vehicle = s_vehicle;
  cfg.on_reset = s_on_reset;
  cfg.on_comm_control = s_on_comm;
  cfg.on_event = s_on_event;
  cfg.user = fx;
  fx->srv = dd_uds_server_new(&cfg, fx->now);
  ck_assert_ptr_nonnull(fx->srv);
}

static void s_setup(s_fx_t *fx) { s_setup_opts(fx, true, 50 * MS, 2 * MS); }

static void s_teardown(s_fx_t *fx) {
  dd_uds_server_destroy(&fx->srv);
  ck_assert_ptr_null(fx->srv);
  dd_flash_destroy(&fx->flash);
  dd_dtc_destroy(&fx->dtc);
}

static const char *s_note(s_fx_t *fx, int rc) {
  ck_assert_int_ge(rc, 0);
  if (rc == 0) {
    strcpy(fx->txt, "-");
    fx->resp_len = 0;
  } else {
    s_tohex(fx->resp, fx->resp_len, fx->txt, sizeof fx->txt);
  }
  return fx->txt;
}

/* Send a request (hex), return the immediate response as hex or "-". */
static const char *s_tx_cap(s_fx_t *fx, const char *req, bool functional, size_t cap) {
  uint8_t buf[DD_UDS_MAX_MSG];
  size_t n = s_unhex(req, buf, sizeof buf);
  int rc =
      dd_uds_server_request(fx->srv, buf, n, functional, fx->now, fx->resp, cap, &fx->resp_len);
  return s_note(fx, rc);
}

static const char *s_tx(s_fx_t *fx, const char *req) {
  return s_tx_cap(fx, req, false, sizeof fx->resp);
}

static const char *s_txf(s_fx_t *fx, const char *req) {
  return s_tx_cap(fx, req, true, sizeof fx->resp);
}

static const char *s_poll(s_fx_t *fx) {
  int rc = dd_uds_server_poll(fx->srv, fx->now, fx->resp, sizeof fx->resp, &fx->resp_len);
  return s_note(fx, rc);
}

/* Advance the clock to the server's deadlines until a response other than 0x78 comes (or
 * limit passes); *pendings counts the 0x78s seen. Returns the final response as hex. */
static const char *s_wait_final(s_fx_t *fx, uint64_t limit, int *pendings) {
  uint64_t end = fx->now + limit;
  if (pendings) *pendings = 0;
  for (;;) {
    uint64_t d = dd_uds_server_next_deadline(fx->srv);
    if (d == UINT64_MAX || d > end) {
      strcpy(fx->txt, "-");
      return fx->txt;
    }
    if (d > fx->now) fx->now = d;
    const char *r = s_poll(fx);
    if (strcmp(r, "-") == 0) {
      if (!dd_uds_server_busy(fx->srv)) return fx->txt;
      continue;
    }
    if (fx->resp_len == 3 && fx->resp[0] == 0x7F && fx->resp[2] == 0x78) {
      if (pendings) (*pendings)++;
      continue;
    }
    return r;
  }
}

/* The positive response to requestSeed -> the key request (level+1, toy algorithm). */
static void s_key_req(const uint8_t *resp, size_t len, uint32_t secret, char *out, size_t cap) {
  ck_assert_uint_eq(len, 6);
  uint8_t key[4];
  dd_uds_toy_key(secret, resp + 2, 4, key, 4);
  char hex[16];
  s_tohex(key, 4, hex, sizeof hex);
  snprintf(out, cap, "27%02X%s", resp[1] + 1, hex);
}

static void s_unlock(s_fx_t *fx, uint8_t level, uint32_t secret) {
  char req[8], key[32];
  snprintf(req, sizeof req, "27%02X", level);
  const char *r = s_tx(fx, req);
  ck_assert_msg(fx->resp_len == 6 && fx->resp[0] == 0x67, "seed: %s", r);
  s_key_req(fx->resp, fx->resp_len, secret, key, sizeof key);
  char want[8];
  snprintf(want, sizeof want, "67%02X", level + 1);
  ck_assert_str_eq(s_tx(fx, key), want);
  ck_assert_uint_eq(dd_uds_server_security(fx->srv), level);
}

static bool s_has_event(const s_fx_t *fx, dd_uds_server_ev_kind_t kind, uint8_t a) {
  for (size_t i = 0; i < fx->n_evs; i++)
    if (fx->evs[i].kind == kind && fx->evs[i].a == a) return true;
  return false;
}

/* ---- DiagnosticSessionControl, TesterPresent --------------------------------------------- */

START_TEST(test_session_control) {
  s_fx_t fx;
  s_setup(&fx);
  /* ISO 14229-1: P2 = 0x0032 ms, P2* = 0x01F4 x 10 ms. */
  ck_assert_str_eq(s_tx(&fx, "1003"), "5003003201F4");
  ck_assert_uint_eq(dd_uds_server_session(fx.srv), 0x03);
  ck_assert_str_eq(s_tx(&fx, "22F186"), "62F18603");
  ck_assert_str_eq(s_tx(&fx, "1001"), "5001003201F4");
  ck_assert_str_eq(s_tx(&fx, "1005"), "7F1012");
  ck_assert_str_eq(s_tx(&fx, "10"), "7F1013");
  ck_assert_str_eq(s_tx(&fx, "100300"), "7F1013");
  /* SPRMIB: the session changes, nothing is sent. */
  ck_assert_str_eq(s_tx(&fx, "1083"), "-");
  ck_assert_uint_eq(dd_uds_server_session(fx.srv), 0x03);
  ck_assert(s_has_event(&fx, DD_UDS_EV_SESSION, 0x01));
  s_teardown(&fx);
}
END_TEST

START_TEST(test_tester_present) {
  s_fx_t fx;
  s_setup(&fx);
  ck_assert_str_eq(s_tx(&fx, "3E00"), "7E00");
  ck_assert_str_eq(s_tx(&fx, "3E80"), "-"); /* ISO 14229-1: suppressed */
  ck_assert_str_eq(s_txf(&fx, "3E80"), "-");
  ck_assert_str_eq(s_tx(&fx, "3E01"), "7F3E12");
  ck_assert_str_eq(s_tx(&fx, "3E"), "7F3E13");
  ck_assert_str_eq(s_tx(&fx, "3E0000"), "7F3E13");
  /* An NRC is sent even with SPRMIB set. */
  ck_assert_str_eq(s_tx(&fx, "3E8000"), "7F3E13");
  s_teardown(&fx);
}
END_TEST

START_TEST(test_prog_preconditions) {
  s_fx_t fx;
  s_setup(&fx);
  fx.veh.speed_kmh = 30.0;
  ck_assert_str_eq(s_tx(&fx, "1002"), "7F1088");
  fx.veh.speed_kmh = 0.0;
  fx.veh.engine_running = true;
  ck_assert_str_eq(s_tx(&fx, "1002"), "7F1083");
  fx.veh.engine_running = false;
  fx.veh.battery_v = 11.2;
  ck_assert_str_eq(s_tx(&fx, "1002"), "7F1093");
  fx.veh.battery_v = 16.5;
  ck_assert_str_eq(s_tx(&fx, "1002"), "7F1092");
  ck_assert_uint_eq(dd_uds_server_session(fx.srv), 0x01);
  fx.veh.battery_v = 13.5;
  ck_assert_str_eq(s_tx(&fx, "1002"), "5002003201F4");
  s_teardown(&fx);
}
END_TEST

/* ---- NRC evaluation order and functional suppression -------------------------------------- */

START_TEST(test_nrc_order) {
  s_fx_t fx;
  s_setup(&fx);
  ck_assert_str_eq(s_tx(&fx, "BA"), "7FBA11"); /* unknown SID */
  ck_assert_str_eq(s_tx(&fx, "83"), "7F8311"); /* AccessTimingParameter: not offered */
  /* ISO 14229-1:2013 7.5 figure 5: the session check (0x7F) comes before any length check. */
  ck_assert_str_eq(s_tx(&fx, "34"), "7F347F");
  ck_assert_str_eq(s_tx(&fx, "2E"), "7F2E7F");
  ck_assert_str_eq(s_tx(&fx, "27"), "7F277F");
  ck_assert_str_eq(s_tx(&fx, "2701"), "7F277F");
  ck_assert_str_eq(s_tx(&fx, "1003"), "5003003201F4");
  /* Figure 6: minimum length (0x13), then sub-function (0x12), then session (0x7E). */
  ck_assert_str_eq(s_tx(&fx, "27"), "7F2713");
  ck_assert_str_eq(s_tx(&fx, "2703"), "7F2712");
  ck_assert_str_eq(s_tx(&fx, "2711"), "7F277E");
  /* Service-level security (0x33) before the length check of 0x34 (figure 5). */
  ck_assert_str_eq(s_tx(&fx, "1002"), "5002003201F4");
  ck_assert_str_eq(s_tx(&fx, "34"), "7F3433");
  ck_assert_str_eq(s_tx(&fx, "36"), "7F3633");
  s_teardown(&fx);
}
END_TEST

START_TEST(test_functional_suppression) {
  s_fx_t fx;
  s_setup(&fx);
  /* ISO 14229-1:2013 7.5 table 5: 0x11, 0x12, 0x31, 0x7E, 0x7F are not sent functionally. */
  ck_assert_str_eq(s_txf(&fx, "BA"), "-");
  ck_assert_str_eq(s_txf(&fx, "1005"), "-");
  ck_assert_str_eq(s_txf(&fx, "221234"), "-");
  ck_assert_str_eq(s_txf(&fx, "2E F190 00"), "-");
  ck_assert_str_eq(s_txf(&fx, "2701"), "-");
  /* Other NRCs are. */
  ck_assert_str_eq(s_txf(&fx, "10"), "7F1013");
  ck_assert_str_eq(s_txf(&fx, "22F1"), "7F2213");
  /* Positive responses are, unless suppressed. */
  ck_assert_str_eq(s_txf(&fx, "3E00"), "7E00");
  ck_assert_str_eq(s_txf(&fx, "1083"), "-");
  ck_assert_str_eq(s_txf(&fx, "2711"), "-"); /* 0x7F in the default session */
  ck_assert_str_eq(s_tx(&fx, "1003"), "5003003201F4");
  ck_assert_str_eq(s_txf(&fx, "2711"), "-"); /* 0x7E */
  ck_assert_str_eq(s_tx(&fx, "2711"), "7F277E");
  s_teardown(&fx);
}
END_TEST

/* ---- ReadDataByIdentifier ----------------------------------------------------------------- */

START_TEST(test_rdbi) {
  s_fx_t fx;
  s_setup(&fx);
  char vin[64], want[256];
  s_strhex(s_vin, vin, sizeof vin);
  snprintf(want, sizeof want, "62F190%s", vin);
  ck_assert_str_eq(s_tx(&fx, "22F190"), want); /* ISO 14229-1: 62 F1 90 + 17 bytes */
  ck_assert_uint_eq(fx.resp_len, 20);
  /* Several DIDs in one request, in request order. */
  snprintf(want, sizeof want, "62F190%sF187504E2D3432", vin);
  ck_assert_str_eq(s_tx(&fx, "22F190F187"), want);
  /* An unsupported DID among supported ones is left out; 0x31 only when none is supported. */
  snprintf(want, sizeof want, "62F190%s", vin);
  ck_assert_str_eq(s_tx(&fx, "22F1901234"), want);
  ck_assert_str_eq(s_tx(&fx, "221234"), "7F2231");
  ck_assert_str_eq(s_tx(&fx, "2212345678"), "7F2231");
  ck_assert_str_eq(s_tx(&fx, "22F1"), "7F2213");
  ck_assert_str_eq(s_tx(&fx, "22"), "7F2213");
  ck_assert_str_eq(s_tx(&fx, "22F190F1"), "7F2213");
  /* Live DID. */
  ck_assert_str_eq(s_tx(&fx, "220100"), "6201000BB8");
  fx.rpm = 0x1234;
  ck_assert_str_eq(s_tx(&fx, "220100"), "6201001234");
  /* Built-in identification DIDs. */
  ck_assert_str_eq(s_tx(&fx, "22F186"), "62F18601");
  s_strhex("DD-ECU 1.0.0", vin, sizeof vin);
  snprintf(want, sizeof want, "62F189%s", vin);
  ck_assert_str_eq(s_tx(&fx, "22F189"), want);
  /* A DID readable only in extended is unsupported in default; secured in extended. */
  ck_assert_str_eq(s_tx(&fx, "220200"), "7F2231");
  ck_assert_str_eq(s_tx(&fx, "1003"), "5003003201F4");
  ck_assert_str_eq(s_tx(&fx, "220200"), "7F2233");
  ck_assert_str_eq(s_tx(&fx, "22F1900200"), "7F2233");
  s_unlock(&fx, 0x01, 0xA55AF00Fu);
  ck_assert_str_eq(s_tx(&fx, "220200"), "620200CAFE");
  /* Response too long for the transport: 0x14. */
  ck_assert_str_eq(s_tx_cap(&fx, "22F190", false, 19), "7F2214");
  s_strhex(s_vin, vin, sizeof vin);
  snprintf(want, sizeof want, "62F190%s", vin);
  ck_assert_str_eq(s_tx_cap(&fx, "22F190", false, 20), want);
  s_teardown(&fx);
}
END_TEST

START_TEST(test_rmba) {
  s_fx_t fx;
  s_setup(&fx);
  ck_assert_str_eq(s_tx(&fx, "1003"), "5003003201F4");
  /* The version string sits at offset 0x100 of the area: "DD-E". */
  /* ALFID 0x14: 4 address bytes, 1 size byte. */
  ck_assert_str_eq(s_tx(&fx, "23 14 00020100 04"), "6344442D45");
  ck_assert_str_eq(s_tx(&fx, "23 12 0200 01"), "7F2331");  /* below the area */
  ck_assert_str_eq(s_tx(&fx, "23 00 0000"), "7F2331");     /* ALFID nibbles 0 */
  ck_assert_str_eq(s_tx(&fx, "23 00 00"), "7F2313");       /* too short */
  ck_assert_str_eq(s_tx(&fx, "23 14 00020100"), "7F2313"); /* size missing */
  ck_assert_str_eq(s_tx(&fx, "23 14 00020100 0000"), "7F2313");
  ck_assert_str_eq(s_tx(&fx, "23 14 00020100 00"), "7F2331"); /* size 0 */
  ck_assert_str_eq(s_tx(&fx, "23 14 00027FFF 02"), "7F2331"); /* past the end */
  ck_assert_str_eq(s_tx_cap(&fx, "23 14 00020000 FF", false, 64), "7F2314");
  ck_assert_str_eq(s_tx(&fx, "23 24 00020100 0002"), "634444"); /* 2-byte size */
  s_teardown(&fx);
}
END_TEST

/* ---- SecurityAccess ------------------------------------------------------------------------ */

START_TEST(test_toy_key_vector) {
  /* suduli/UDS-SIMULATION: seed 12 34 56 78 XOR A5 5A F0 0F = B7 6E A6 77. */
  const uint8_t seed[] = {0x12, 0x34, 0x56, 0x78};
  uint8_t key[6];
  dd_uds_toy_key(0xA55AF00Fu, seed, 4, key, 4);
  ck_assert_uint_eq(key[0], 0xB7);
  ck_assert_uint_eq(key[1], 0x6E);
  ck_assert_uint_eq(key[2], 0xA6);
  ck_assert_uint_eq(key[3], 0x77);
  dd_uds_toy_key(0xA55AF00Fu, seed, 4, key, 6); /* longer keys repeat the seed */
  ck_assert_uint_eq(key[4], 0xB7);
  ck_assert_uint_eq(key[5], 0x6E);
}
END_TEST

START_TEST(test_security_access) {
  s_fx_t fx;
  s_setup(&fx);
  ck_assert_str_eq(s_tx(&fx, "1003"), "5003003201F4");
  ck_assert_str_eq(s_tx(&fx, "2702 00000000"), "7F2724"); /* no seed requested */
  const char *r = s_tx(&fx, "2701");
  ck_assert_msg(fx.resp_len == 6 && strncmp(r, "6701", 4) == 0, "%s", r);
  char seed1[16];
  strcpy(seed1, r + 4);
  ck_assert_str_ne(seed1, "00000000");
  /* A repeated requestSeed gets the same seed. */
  ck_assert_str_eq(s_tx(&fx, "2701") + 4, seed1);
  char key[32];
  s_key_req(fx.resp, fx.resp_len, 0xA55AF00Fu, key, sizeof key);
  ck_assert_str_eq(s_tx(&fx, "2702 0000"), "7F2713"); /* wrong key length */
  ck_assert_str_eq(s_tx(&fx, key), "6702");
  ck_assert_uint_eq(dd_uds_server_security(fx.srv), 0x01);
  ck_assert(s_has_event(&fx, DD_UDS_EV_SECURITY, 0x01));
  /* Already unlocked: the seed is all zeros, and there is no key to send. */
  ck_assert_str_eq(s_tx(&fx, "2701"), "670100000000");
  ck_assert_str_eq(s_tx(&fx, key), "7F2724");
  /* Any session transition relocks (ISO 14229-1:2013 9.2.1), even to the same session. */
  ck_assert_str_eq(s_tx(&fx, "1003"), "5003003201F4");
  ck_assert_uint_eq(dd_uds_server_security(fx.srv), 0);
  ck_assert(s_has_event(&fx, DD_UDS_EV_SECURITY, 0x00));
  s_teardown(&fx);
}
END_TEST

START_TEST(test_security_attempts_delay) {
  s_fx_t fx;
  s_setup(&fx);
  ck_assert_str_eq(s_tx(&fx, "1003"), "5003003201F4");
  /* max_attempts 3, delay 10 s. Each invalid key uses up its seed. */
  s_tx(&fx, "2701");
  ck_assert_str_eq(s_tx(&fx, "2702 00000000"), "7F2735");
  ck_assert_str_eq(s_tx(&fx, "2702 00000000"), "7F2724");
  s_tx(&fx, "2701");
  ck_assert_str_eq(s_tx(&fx, "2702 00000000"), "7F2735");
  s_tx(&fx, "2701");
  ck_assert_str_eq(s_tx(&fx, "2702 00000000"), "7F2736");
  ck_assert(s_has_event(&fx, DD_UDS_EV_LOCKOUT, 0x01));
  /* The delay timer runs: 0x37, until 10 s have passed (kept alive meanwhile). */
  fx.now += 4 * SEC;
  ck_assert_str_eq(s_tx(&fx, "2701"), "7F2737");
  fx.now += 4 * SEC;
  ck_assert_str_eq(s_tx(&fx, "2701"), "7F2737");
  fx.now += 2 * SEC - 1;
  ck_assert_str_eq(s_tx(&fx, "2701"), "7F2737");
  fx.now += 1;
  /* Expired: a seed again, and the attempt counter starts over. */
  s_unlock(&fx, 0x01, 0xA55AF00Fu);
  s_teardown(&fx);
}
END_TEST

/* ---- S3 ------------------------------------------------------------------------------------ */

START_TEST(test_s3_timeout) {
  s_fx_t fx;
  s_setup(&fx);
  ck_assert_uint_eq(dd_uds_server_next_deadline(fx.srv), UINT64_MAX);
  ck_assert_str_eq(s_tx(&fx, "1003"), "5003003201F4");
  s_unlock(&fx, 0x01, 0xA55AF00Fu);
  ck_assert_uint_eq(dd_uds_server_next_deadline(fx.srv), fx.now + 5 * SEC);
  /* TesterPresent (suppressed) keeps the session: S3 restarts at each request. */
  fx.now += 4 * SEC;
  ck_assert_str_eq(s_txf(&fx, "3E80"), "-");
  fx.now += 4900 * MS;
  ck_assert_str_eq(s_poll(&fx), "-");
  ck_assert_uint_eq(dd_uds_server_session(fx.srv), 0x03);
  ck_assert_uint_eq(dd_uds_server_security(fx.srv), 0x01);
  /* 5 s without a request: back to default, relocked. */
  fx.now += 100 * MS;
  ck_assert_str_eq(s_poll(&fx), "-");
  ck_assert_uint_eq(dd_uds_server_session(fx.srv), 0x01);
  ck_assert_uint_eq(dd_uds_server_security(fx.srv), 0);
  ck_assert(s_has_event(&fx, DD_UDS_EV_S3_TIMEOUT, 0x03));
  ck_assert_str_eq(s_tx(&fx, "22F186"), "62F18601");
  ck_assert_uint_eq(dd_uds_server_next_deadline(fx.srv), UINT64_MAX);
  /* A request arriving after the expiry is handled in the default session. */
  ck_assert_str_eq(s_tx(&fx, "1003"), "5003003201F4");
  fx.now += 6 * SEC;
  ck_assert_str_eq(s_tx(&fx, "22F186"), "62F18601");
  s_teardown(&fx);
}
END_TEST

/* ---- WriteDataByIdentifier ------------------------------------------------------------------ */

START_TEST(test_wdbi) {
  s_fx_t fx;
  s_setup(&fx);
  ck_assert_str_eq(s_tx(&fx, "2EF198 31323334353637383930"), "7F2E7F");
  ck_assert_str_eq(s_tx(&fx, "1003"), "5003003201F4");
  ck_assert_str_eq(s_tx(&fx, "2EF198 31323334353637383930"), "7F2E33");
  s_unlock(&fx, 0x01, 0xA55AF00Fu);
  ck_assert_str_eq(s_tx(&fx, "2EF198 31323334353637383930"), "6EF198");
  ck_assert_str_eq(s_tx(&fx, "22F198"), "62F19831323334353637383930");
  ck_assert_str_eq(s_tx(&fx, "2EF198 3132"), "7F2E13"); /* fixed length 10 */
  ck_assert_str_eq(s_tx(&fx, "2EF198"), "7F2E13");      /* no data */
  ck_assert_str_eq(s_tx(&fx, "2EF190 3132"), "7F2E31"); /* not writable */
  ck_assert_str_eq(s_tx(&fx, "2E1234 3132"), "7F2E31"); /* unknown */
  s_teardown(&fx);
}
END_TEST

/* ---- RoutineControl, IO control --------------------------------------------------------- */

START_TEST(test_routine_control) {
  s_fx_t fx;
  s_setup(&fx);
  ck_assert_str_eq(s_tx(&fx, "31010203"), "7F317F");
  ck_assert_str_eq(s_tx(&fx, "1003"), "5003003201F4");
  ck_assert_str_eq(s_tx(&fx, "31020203"), "7F3124"); /* stop before start */
  ck_assert_str_eq(s_tx(&fx, "31030203"), "7F3124"); /* results before start */
  ck_assert_str_eq(s_tx(&fx, "31010203"), "7101020300");
  ck_assert_str_eq(s_tx(&fx, "31030203"), "7103020302");
  ck_assert_str_eq(s_tx(&fx, "31020203"), "71020203");
  ck_assert_str_eq(s_tx(&fx, "31020203"), "7F3124");     /* not running any more */
  ck_assert_str_eq(s_tx(&fx, "31030203"), "7103020302"); /* results stay available */
  ck_assert_str_eq(s_tx(&fx, "31040203"), "7F3112");
  ck_assert_str_eq(s_tx(&fx, "31021234"), "7F3131"); /* RID check before sub-function */
  ck_assert_str_eq(s_tx(&fx, "310102"), "7F3113");
  ck_assert_str_eq(s_tx(&fx, "31010203FF"), "7F3131"); /* option record refused */
  ck_assert_str_eq(s_tx(&fx, "31810203"), "-");        /* SPRMIB */
  ck_assert_str_eq(s_tx(&fx, "3101FF00"), "7F3131");   /* erase: programming only */
  fx.veh.engine_running = true;
  ck_assert_str_eq(s_tx(&fx, "31010203"), "7F3183");
  /* Back to default: a running routine is stopped. */
  fx.veh.engine_running = false;
  ck_assert_str_eq(s_tx(&fx, "31010203"), "7101020300");
  int calls = fx.routine_calls;
  ck_assert_str_eq(s_tx(&fx, "1001"), "5001003201F4");
  ck_assert_int_eq(fx.routine_calls, calls + 1);
  s_teardown(&fx);
}
END_TEST

START_TEST(test_routine_slow_pending) {
  s_fx_t fx;
  s_setup(&fx);
  ck_assert_str_eq(s_tx(&fx, "1003"), "5003003201F4");
  /* Ready after 200 ms > P2: 0x78 at once, the result at 200 ms. */
  ck_assert_str_eq(s_tx(&fx, "31010204"), "7F3178");
  uint64_t t0 = fx.now;
  int pend = 0;
  ck_assert_str_eq(s_wait_final(&fx, 10 * SEC, &pend), "71010204AA");
  ck_assert_uint_eq(fx.now - t0, 200 * MS);
  ck_assert_int_eq(pend, 0);
  s_teardown(&fx);
}
END_TEST

START_TEST(test_io_control) {
  s_fx_t fx;
  s_setup(&fx);
  ck_assert_str_eq(s_tx(&fx, "2F03000301"), "7F2F7F");
  ck_assert_str_eq(s_tx(&fx, "1003"), "5003003201F4");
  ck_assert_str_eq(s_tx(&fx, "2F03000301"), "6F03000301"); /* shortTermAdjustment 01 */
  ck_assert_str_eq(s_tx(&fx, "2F030002"), "6F03000200");   /* freezeCurrentState */
  ck_assert_str_eq(s_tx(&fx, "2F030001"), "6F03000100");   /* resetToDefault */
  ck_assert_str_eq(s_tx(&fx, "2F030000"), "6F03000000");   /* returnControlToECU */
  ck_assert_str_eq(s_tx(&fx, "2F030004"), "7F2F31");
  ck_assert_str_eq(s_tx(&fx, "2F030003"), "7F2F13"); /* control state missing */
  ck_assert_str_eq(s_tx(&fx, "2F0300000000"), "7F2F13");
  ck_assert_str_eq(s_tx(&fx, "2F0301"), "7F2F13");
  ck_assert_str_eq(s_tx(&fx, "2F040003"), "7F2F31");
  fx.veh.speed_kmh = 12.0;
  ck_assert_str_eq(s_tx(&fx, "2F03000301"), "7F2F88");
  fx.veh.speed_kmh = 0.0;
  ck_assert_str_eq(s_tx(&fx, "2F03000301"), "6F03000301");
  /* The default session gives control back to the ECU (callback with parameter 00). */
  int calls = fx.io_calls;
  ck_assert_str_eq(s_tx(&fx, "1001"), "5001003201F4");
  ck_assert_int_eq(fx.io_calls, calls + 1);
  ck_assert_uint_eq(fx.io_last_op, 0x00);
  s_teardown(&fx);
}
END_TEST

/* ---- ECUReset, CommunicationControl, ControlDTCSetting ----------------------------------- */

START_TEST(test_ecu_reset) {
  s_fx_t fx;
  s_setup(&fx);
  ck_assert_str_eq(s_tx(&fx, "1003"), "5003003201F4");
  s_unlock(&fx, 0x01, 0xA55AF00Fu);
  ck_assert_str_eq(s_tx(&fx, "1101"), "5101");
  ck_assert_int_eq(fx.resets, 1);
  ck_assert_uint_eq(fx.reset_type, 0x01);
  ck_assert_uint_eq(dd_uds_server_session(fx.srv), 0x01);
  ck_assert_uint_eq(dd_uds_server_security(fx.srv), 0);
  ck_assert(s_has_event(&fx, DD_UDS_EV_RESET, 0x01));
  /* While it restarts it hears nothing (reset_us 50 ms). */
  ck_assert_str_eq(s_tx(&fx, "3E00"), "-");
  fx.now += 50 * MS;
  ck_assert_str_eq(s_tx(&fx, "3E00"), "7E00");
  ck_assert_str_eq(s_tx(&fx, "1183"), "-"); /* suppressed, still performed */
  ck_assert_int_eq(fx.resets, 2);
  fx.now += 50 * MS;
  ck_assert_str_eq(s_tx(&fx, "1102"), "5102");
  fx.now += 50 * MS;
  ck_assert_str_eq(s_tx(&fx, "1104"), "7F1112");
  ck_assert_str_eq(s_tx(&fx, "110100"), "7F1113");
  s_teardown(&fx);
}
END_TEST

START_TEST(test_comm_control) {
  s_fx_t fx;
  s_setup(&fx);
  ck_assert_str_eq(s_tx(&fx, "1003"), "5003003201F4");
  ck_assert(dd_uds_server_comm_enabled(fx.srv));
  ck_assert_str_eq(s_tx(&fx, "280301"), "6803");
  ck_assert(!dd_uds_server_comm_enabled(fx.srv));
  ck_assert_str_eq(s_tx(&fx, "288301"), "-");
  ck_assert_str_eq(s_tx(&fx, "280401"), "7F2812");
  ck_assert_str_eq(s_tx(&fx, "280300"), "7F2831");
  ck_assert_str_eq(s_tx(&fx, "2803"), "7F2813");
  /* The default session enables communication again and tells the ECU model. */
  ck_assert_str_eq(s_tx(&fx, "1001"), "5001003201F4");
  ck_assert(dd_uds_server_comm_enabled(fx.srv));
  ck_assert_uint_eq(fx.comm_ctrl, 0x00);
  s_teardown(&fx);
}
END_TEST

/* ---- DTC services -------------------------------------------------------------------------- */

START_TEST(test_dtc_services) {
  s_fx_t fx;
  s_setup(&fx);
  /* 0xC10000 starts confirmed + failed (0x09), 0x123456 untested (0x50). */
  ck_assert_str_eq(s_tx(&fx, "1901FF"), "5901FF010002");
  ck_assert_str_eq(s_tx(&fx, "190109"), "5901FF010001");
  ck_assert_str_eq(s_tx(&fx, "190209"), "5902FFC1000009");
  ck_assert_str_eq(s_tx(&fx, "19020A"), "5902FFC1000009");
  ck_assert_str_eq(s_tx(&fx, "190280"), "5902FF");
  ck_assert_str_eq(s_tx(&fx, "190A"), "590AFF12345650C1000009");
  ck_assert_str_eq(s_tx(&fx, "1902"), "7F1913");
  ck_assert_str_eq(s_tx(&fx, "190AFF"), "7F1913");
  ck_assert_str_eq(s_tx(&fx, "1905"), "7F1912");
  /* A failure of 0x123456 with rpm 0x0BB8: confirmed at once, warning requested, snapshot
   * records 01 (first) and 02 (latest) captured. */
  ck_assert_int_eq(dd_dtc_report(fx.dtc, 0x123456, true), 0);
  ck_assert_str_eq(s_tx(&fx, "190A"), "590AFF123456AFC1000009");
  ck_assert_str_eq(s_tx(&fx, "1904 123456 01"), "5904123456AF010101000BB8");
  ck_assert_str_eq(s_tx(&fx, "1904123456FF"), "5904123456AF010101000BB8020101000BB8");
  ck_assert_str_eq(s_tx(&fx, "1904123456 05"), "7F1931"); /* record not supported */
  ck_assert_str_eq(s_tx(&fx, "1904654321 01"), "7F1931"); /* unknown DTC */
  /* Extended data: 01 occurrence counter, 02 aging counter. */
  ck_assert_str_eq(s_tx(&fx, "1906123456FF"), "5906123456AF01010200");
  ck_assert_str_eq(s_tx(&fx, "190612345601"), "5906123456AF0101");
  ck_assert_str_eq(s_tx(&fx, "190612345607"), "7F1931");
  /* Response too long. */
  ck_assert_str_eq(s_tx_cap(&fx, "190A", false, 6), "7F1914");
  /* Clear: one DTC, then all. */
  ck_assert_str_eq(s_tx(&fx, "14123456"), "54");
  ck_assert_str_eq(s_tx(&fx, "1904123456FF"), "590412345650");
  ck_assert_str_eq(s_tx(&fx, "14654321"), "7F1431");
  ck_assert_str_eq(s_tx(&fx, "14FFFF"), "7F1413");
  ck_assert_str_eq(s_tx(&fx, "14FFFFFF"), "54");
  ck_assert_str_eq(s_tx(&fx, "190A"), "590AFF12345650C1000050");
  /* ControlDTCSetting off freezes the status; the default session turns it back on. */
  ck_assert_str_eq(s_tx(&fx, "8502"), "7F857F");
  ck_assert_str_eq(s_tx(&fx, "1003"), "5003003201F4");
  ck_assert_str_eq(s_tx(&fx, "8502"), "C502");
  ck_assert_int_eq(dd_dtc_report(fx.dtc, 0x123456, true), 0);
  ck_assert_str_eq(s_tx(&fx, "190A"), "590AFF12345650C1000050");
  ck_assert_str_eq(s_tx(&fx, "8503"), "7F8512");
  ck_assert_str_eq(s_tx(&fx, "8501 123456"), "7F8531");
  ck_assert_str_eq(s_tx(&fx, "8581 FFFFFF"), "-");
  ck_assert(dd_dtc_setting(fx.dtc));
  ck_assert_str_eq(s_tx(&fx, "8582"), "-");
  ck_assert(!dd_dtc_setting(fx.dtc));
  ck_assert_str_eq(s_tx(&fx, "1001"), "5001003201F4");
  ck_assert(dd_dtc_setting(fx.dtc));
  s_teardown(&fx);
}
END_TEST

/* ---- reflash ------------------------------------------------------------------------------- */

/* The image: a counter pattern with the version string at offset 0x100. */
static uint8_t *s_image(const char *version, size_t *len) {
  size_t n = (size_t)S_SECTOR * S_SECTORS;
  uint8_t *img = malloc(n);
  ck_assert_ptr_nonnull(img);
  for (size_t i = 0; i < n; i++)
    img[i] = (uint8_t)(i * 7 + (i >> 8));
  memset(img + 0x100, 0, 32);
  memcpy(img + 0x100, version, strlen(version));
  *len = n;
  return img;
}

/* Sends the TransferData blocks of img[from, to) starting with counter *bsc; each response
 * comes by poll once the write completes (2 ms + 10 us per byte < P2: no 0x78). */
static void s_transfer(s_fx_t *fx, const uint8_t *img, size_t from, size_t to, uint8_t *bsc,
                       unsigned *wraps) {
  uint8_t req[S_MNBL];
  for (size_t at = from; at < to; at += S_MNBL - 2) {
    size_t n = to - at < S_MNBL - 2 ? to - at : S_MNBL - 2;
    req[0] = 0x36;
    req[1] = *bsc;
    memcpy(req + 2, img + at, n);
    int rc = dd_uds_server_request(fx->srv, req, n + 2, false, fx->now, fx->resp, sizeof fx->resp,
                                   &fx->resp_len);
    ck_assert_int_eq(rc, 0); /* the answer waits for the write */
    uint64_t d = dd_uds_server_next_deadline(fx->srv);
    ck_assert_uint_eq(d, fx->now + 2 * MS + 10 * n);
    fx->now = d;
    char want[8];
    snprintf(want, sizeof want, "76%02X", *bsc);
    ck_assert_str_eq(s_poll(fx), want);
    if (*bsc == 0xFF) (*wraps)++;
    *bsc = (uint8_t)(*bsc + 1); /* ISO 14229-1:2013 14.4: 0xFF -> 0x00 */
  }
}

static void s_enter_programming(s_fx_t *fx) {
  ck_assert_str_eq(s_tx(fx, "1002"), "5002003201F4");
  s_unlock(fx, 0x11, 0x11223344u);
}

static void s_erase_all(s_fx_t *fx) {
  /* ISO 14229-1 reflash skeleton: 31 01 FF 00 -> 7F 31 78 ... 71 01 FF 00. */
  ck_assert_str_eq(s_tx(fx, "3101FF00"), "7F3178");
  int pend = 0;
  uint64_t t0 = fx->now;
  ck_assert_str_eq(s_wait_final(fx, 60 * SEC, &pend), "7101FF00");
  ck_assert_uint_eq(fx->now - t0, S_SECTORS * 50 * MS);
}

static void s_download(s_fx_t *fx, const uint8_t *img, size_t len, unsigned *wraps) {
  char req[64];
  snprintf(req, sizeof req, "34 00 44 %08X %08X", S_BASE, (unsigned)len);
  /* maxNumberOfBlockLength 0x0042 counts SID and counter: 64 data bytes per block. */
  ck_assert_str_eq(s_tx(fx, req), "74200042");
  uint8_t bsc = 0x01;
  s_transfer(fx, img, 0, len, &bsc, wraps);
  uint32_t crc = dd_flash_crc32(0, img, len);
  snprintf(req, sizeof req, "37%08X", crc);
  char want[16];
  snprintf(want, sizeof want, "77%08X", crc);
  ck_assert_str_eq(s_tx(fx, req), want);
}

static void s_check_deps(s_fx_t *fx, const uint8_t *img, size_t len) {
  char req[32];
  snprintf(req, sizeof req, "3101FF01%08X", dd_flash_crc32(0, img, len));
  ck_assert_str_eq(s_tx(fx, req), "7F3178"); /* verify takes 100 ms > P2 */
  ck_assert_str_eq(s_wait_final(fx, 10 * SEC, NULL), "7101FF0100");
}

START_TEST(test_reflash_sequence) {
  s_fx_t fx;
  s_setup(&fx);
  char want[128], v[64];
  s_strhex("DD-ECU 1.0.0", v, sizeof v);
  snprintf(want, sizeof want, "62F189%s", v);
  ck_assert_str_eq(s_tx(&fx, "22F189"), want);

  size_t len;
  uint8_t *img = s_image("DD-ECU 2.0.0", &len);
  ck_assert_str_eq(s_tx(&fx, "1003"), "5003003201F4");
  ck_assert_str_eq(s_txf(&fx, "8582"), "-");
  ck_assert_str_eq(s_txf(&fx, "288301"), "-");
  s_enter_programming(&fx);
  s_erase_all(&fx);
  ck_assert(!dd_flash_app_valid(fx.flash));
  unsigned wraps = 0;
  s_download(&fx, img, len, &wraps);
  ck_assert_uint_eq(wraps, 2); /* 512 blocks: 01..FF, 00..FF, 00 */
  s_check_deps(&fx, img, len);
  ck_assert(dd_flash_app_valid(fx.flash));
  /* Until the reset the old software runs. */
  ck_assert_str_eq(s_tx(&fx, "22F189"), want);
  ck_assert_str_eq(s_tx(&fx, "1101"), "5101");
  fx.now += 50 * MS;
  s_strhex("DD-ECU 2.0.0", v, sizeof v);
  snprintf(want, sizeof want, "62F189%s", v);
  ck_assert_str_eq(s_tx(&fx, "22F189"), want);
  snprintf(want, sizeof want, "62F195%s", v);
  ck_assert_str_eq(s_tx(&fx, "22F195"), want);
  ck_assert_uint_eq(dd_uds_server_session(fx.srv), 0x01);
  ck_assert(!dd_uds_server_bootloader(fx.srv));
  /* The memory holds the image. */
  uint8_t back[64];
  ck_assert_int_eq(dd_flash_read(fx.flash, S_BASE + 1000, 64, back, fx.now), 0);
  ck_assert_mem_eq(back, img + 1000, 64);
  free(img);
  s_teardown(&fx);
}
END_TEST

START_TEST(test_transfer_data_repeat_and_errors) {
  s_fx_t fx;
  s_setup(&fx);
  s_enter_programming(&fx);
  ck_assert_str_eq(s_tx(&fx, "3601AA"), "7F3624"); /* no download */
  ck_assert_str_eq(s_tx(&fx, "37"), "7F3724");
  ck_assert_str_eq(s_tx(&fx, "34 00 44 00020000 00000100"), "7F3470"); /* not erased */
  s_erase_all(&fx);
  ck_assert_str_eq(s_tx(&fx, "34 11 44 00020000 00000100"), "7F3431"); /* compression */
  ck_assert_str_eq(s_tx(&fx, "34 00 45 00020000 00000100"), "7F3431"); /* ALFID */
  ck_assert_str_eq(s_tx(&fx, "34 00 44 00020000 000001"), "7F3413");
  ck_assert_str_eq(s_tx(&fx, "34 00 44 00010000 00000100"), "7F3431"); /* outside */
  ck_assert_str_eq(s_tx(&fx, "34 00 44 00020000 00000000"), "7F3431"); /* size 0 */
  fx.veh.battery_v = 10.0;
  ck_assert_str_eq(s_tx(&fx, "34 00 44 00020000 00000100"), "7F3493");
  fx.veh.battery_v = 12.8;
  ck_assert_str_eq(s_tx(&fx, "34 00 44 00020000 00000080"), "74200042");
  ck_assert_str_eq(s_tx(&fx, "34 00 44 00020000 00000080"), "7F3422"); /* already open */
  uint8_t blk[66] = {0x36, 0x01};
  memset(blk + 2, 0x11, 64);
  ck_assert_int_eq(
      dd_uds_server_request(fx.srv, blk, 66, false, fx.now, fx.resp, sizeof fx.resp, &fx.resp_len),
      0);
  fx.now = dd_uds_server_next_deadline(fx.srv);
  ck_assert_str_eq(s_poll(&fx), "7601");
  /* The response was lost; the tester repeats block 01 (with other data even): positive,
   * nothing written again (ISO 14229-1:2013 14.4). */
  memset(blk + 2, 0x22, 64);
  ck_assert_int_eq(
      dd_uds_server_request(fx.srv, blk, 66, false, fx.now, fx.resp, sizeof fx.resp, &fx.resp_len),
      1);
  ck_assert_str_eq(s_note(&fx, 1), "7601");
  uint8_t back[4];
  ck_assert_int_eq(dd_flash_read(fx.flash, S_BASE, 4, back, fx.now), 0);
  ck_assert_uint_eq(back[0], 0x11);
  ck_assert_str_eq(s_tx(&fx, "37"), "7F3724");     /* 64 of 128 bytes received */
  ck_assert_str_eq(s_tx(&fx, "3603AA"), "7F3673"); /* wrong counter */
  ck_assert_str_eq(s_tx(&fx, "36"), "7F3613");
  uint8_t big[68] = {0x36, 0x02};
  ck_assert_int_eq(
      dd_uds_server_request(fx.srv, big, 68, false, fx.now, fx.resp, sizeof fx.resp, &fx.resp_len),
      1);
  ck_assert_str_eq(s_note(&fx, 1), "7F3613"); /* longer than maxNumberOfBlockLength */
  blk[1] = 0x02;
  ck_assert_int_eq(
      dd_uds_server_request(fx.srv, blk, 66, false, fx.now, fx.resp, sizeof fx.resp, &fx.resp_len),
      0);
  fx.now = dd_uds_server_next_deadline(fx.srv);
  ck_assert_str_eq(s_poll(&fx), "7602");
  /* More than requested: 0x71, and the download is over. */
  ck_assert_str_eq(s_tx(&fx, "3603AA"), "7F3671");
  ck_assert_str_eq(s_tx(&fx, "3603AA"), "7F3624");
  ck_assert_str_eq(s_tx(&fx, "37"), "7F3724");
  /* Exit with a wrong CRC: 0x72. */
  ck_assert_str_eq(s_tx(&fx, "34 00 44 00021000 00000001"), "74200042");
  ck_assert_str_eq(s_tx(&fx, "3601AB"), "-");
  fx.now = dd_uds_server_next_deadline(fx.srv);
  ck_assert_str_eq(s_poll(&fx), "7601");
  ck_assert_str_eq(s_tx(&fx, "370000"), "7F3713");
  ck_assert_str_eq(s_tx(&fx, "3712345678"), "7F3772");
  /* Checking dependencies now: nothing was completed since the erase (status 01). */
  ck_assert_str_eq(s_tx(&fx, "3101FF01"), "7101FF0101");
  s_teardown(&fx);
}
END_TEST

START_TEST(test_pending_repeats_and_busy) {
  s_fx_t fx;
  s_setup_opts(&fx, true, 1 * SEC, 2 * MS); /* 8 s erase */
  s_enter_programming(&fx);
  uint64_t t0 = fx.now;
  ck_assert_str_eq(s_tx(&fx, "3101FF00"), "7F3178");
  /* Busy meanwhile: other requests get 0x21; a suppressed TesterPresent is fine. */
  ck_assert_str_eq(s_tx(&fx, "22F190"), "7F2221");
  ck_assert_str_eq(s_txf(&fx, "3E80"), "-");
  /* Another 0x78 before P2* expires: at P2* - 500 ms = 4.5 s. */
  ck_assert_uint_eq(dd_uds_server_next_deadline(fx.srv), t0 + 4500 * MS);
  fx.now = t0 + 4500 * MS - 1;
  ck_assert_str_eq(s_poll(&fx), "-");
  fx.now += 1;
  ck_assert_str_eq(s_poll(&fx), "7F3178");
  ck_assert_str_eq(s_poll(&fx), "-");
  ck_assert_uint_eq(dd_uds_server_next_deadline(fx.srv), t0 + 8 * SEC);
  fx.now = t0 + 8 * SEC;
  ck_assert_str_eq(s_poll(&fx), "7101FF00");
  ck_assert(!dd_uds_server_busy(fx.srv));
  /* S3 runs again from the final response. */
  ck_assert_uint_eq(dd_uds_server_next_deadline(fx.srv), fx.now + 5 * SEC);
  /* SPRMIB with slow work: after a 0x78 the final positive response is still sent. */
  ck_assert_str_eq(s_tx(&fx, "3181FF00"), "7F3178");
  ck_assert_str_eq(s_wait_final(&fx, 60 * SEC, NULL), "7101FF00");
  s_teardown(&fx);
}
END_TEST

START_TEST(test_slow_write_pending) {
  s_fx_t fx;
  s_setup_opts(&fx, true, 50 * MS, 300 * MS); /* a block takes 300 ms + 10 us/byte */
  s_enter_programming(&fx);
  s_erase_all(&fx);
  ck_assert_str_eq(s_tx(&fx, "34 00 44 00020000 00000080"), "74200042");
  uint8_t blk[66] = {0x36, 0x01};
  memset(blk + 2, 0x33, 64);
  ck_assert_int_eq(
      dd_uds_server_request(fx.srv, blk, 66, false, fx.now, fx.resp, sizeof fx.resp, &fx.resp_len),
      1);
  ck_assert_str_eq(s_note(&fx, 1), "7F3678"); /* the write outlasts P2 */
  uint64_t t0 = fx.now;
  ck_assert_str_eq(s_wait_final(&fx, 10 * SEC, NULL), "7601");
  ck_assert_uint_eq(fx.now - t0, 300 * MS + 640);
  s_teardown(&fx);
}
END_TEST

START_TEST(test_power_loss_bootloader) {
  s_fx_t fx;
  s_setup(&fx);
  size_t len;
  uint8_t *img = s_image("DD-ECU 3.1.0", &len);
  s_enter_programming(&fx);
  s_erase_all(&fx);
  ck_assert_str_eq(s_tx(&fx, "34 00 44 00020000 00008000"), "74200042");
  uint8_t bsc = 0x01;
  unsigned wraps = 0;
  s_transfer(&fx, img, 0, 64 * 100, &bsc, &wraps);
  /* Power cut in the middle of the next block's write. */
  uint8_t req[66] = {0x36, bsc};
  memcpy(req + 2, img + 6400, 64);
  ck_assert_int_eq(
      dd_uds_server_request(fx.srv, req, 66, false, fx.now, fx.resp, sizeof fx.resp, &fx.resp_len),
      0);
  fx.now += 1 * MS;
  dd_flash_power_loss(fx.flash, fx.now);
  fx.now += 2 * SEC;
  dd_uds_server_reset(fx.srv, fx.now);
  /* No valid application: the bootloader runs, programming session only. */
  ck_assert(dd_uds_server_bootloader(fx.srv));
  ck_assert_uint_eq(dd_uds_server_session(fx.srv), 0x02);
  ck_assert_str_eq(s_tx(&fx, "22F186"), "62F18602");
  ck_assert_str_eq(s_tx(&fx, "1001"), "7F1022");
  ck_assert_str_eq(s_tx(&fx, "1003"), "7F1022");
  ck_assert_str_eq(s_tx(&fx, "190A"), "7F197F");
  ck_assert_str_eq(s_tx(&fx, "34 00 44 00020000 00008000"), "7F3433"); /* locked again */
  /* S3 in the bootloader relocks and stays in programming. */
  s_unlock(&fx, 0x11, 0x11223344u);
  fx.now += 5 * SEC;
  ck_assert_str_eq(s_poll(&fx), "-");
  ck_assert_uint_eq(dd_uds_server_session(fx.srv), 0x02);
  ck_assert_uint_eq(dd_uds_server_security(fx.srv), 0);
  /* A new full flash recovers. */
  s_enter_programming(&fx);
  s_erase_all(&fx);
  s_download(&fx, img, len, &wraps);
  s_check_deps(&fx, img, len);
  ck_assert_str_eq(s_tx(&fx, "1101"), "5101");
  fx.now += 50 * MS;
  ck_assert(!dd_uds_server_bootloader(fx.srv));
  ck_assert_uint_eq(dd_uds_server_session(fx.srv), 0x01);
  char want[128], v[64];
  s_strhex("DD-ECU 3.1.0", v, sizeof v);
  snprintf(want, sizeof want, "62F189%s", v);
  ck_assert_str_eq(s_tx(&fx, "22F189"), want);
  free(img);
  s_teardown(&fx);
}
END_TEST

START_TEST(test_starts_in_bootloader) {
  s_fx_t fx;
  s_setup_opts(&fx, false, 50 * MS, 2 * MS);
  ck_assert(dd_uds_server_bootloader(fx.srv));
  ck_assert_uint_eq(dd_uds_server_session(fx.srv), 0x02);
  ck_assert_str_eq(s_tx(&fx, "1002"), "5002003201F4");
  s_teardown(&fx);
}
END_TEST

/* ---- fault injection ------------------------------------------------------------------------ */

START_TEST(test_fault_nrc_once_always_skip) {
  s_fx_t fx;
  s_setup(&fx);
  dd_uds_fault_t f = {
      .kind = DD_UDS_FAULT_NRC, .match = {0x22}, .match_len = 1, .count = 1, .nrc = 0x22};
  ck_assert_int_eq(dd_uds_server_inject(fx.srv, &f), 0);
  ck_assert_str_eq(s_tx(&fx, "22F186"), "7F2222");
  ck_assert_str_eq(s_tx(&fx, "22F186"), "62F18601");
  ck_assert(s_has_event(&fx, DD_UDS_EV_FAULT, DD_UDS_FAULT_NRC));
  /* Always, after letting two through; only for requests matching the prefix. */
  f = (dd_uds_fault_t){
      .kind = DD_UDS_FAULT_NRC, .match = {0x10, 0x03}, .match_len = 2, .skip = 2, .nrc = 0x21};
  ck_assert_int_eq(dd_uds_server_inject(fx.srv, &f), 0);
  ck_assert_str_eq(s_tx(&fx, "1003"), "5003003201F4");
  ck_assert_str_eq(s_tx(&fx, "1001"), "5001003201F4");
  ck_assert_str_eq(s_tx(&fx, "1003"), "5003003201F4");
  ck_assert_str_eq(s_tx(&fx, "1003"), "7F1021");
  ck_assert_str_eq(s_tx(&fx, "1003"), "7F1021");
  dd_uds_server_clear_faults(fx.srv);
  ck_assert_str_eq(s_tx(&fx, "1003"), "5003003201F4");
  /* Invalid faults. */
  f = (dd_uds_fault_t){.kind = DD_UDS_FAULT_NRC, .nrc = 0x78};
  ck_assert_int_eq(dd_uds_server_inject(fx.srv, &f), DD_EINVAL);
  f = (dd_uds_fault_t){.kind = 0};
  ck_assert_int_eq(dd_uds_server_inject(fx.srv, &f), DD_EINVAL);
  f = (dd_uds_fault_t){.kind = DD_UDS_FAULT_DROP, .match = {0x99}, .match_len = 1};
  for (unsigned i = 0; i < DD_UDS_FAULTS_MAX; i++)
    ck_assert_int_eq(dd_uds_server_inject(fx.srv, &f), 0);
  ck_assert_int_eq(dd_uds_server_inject(fx.srv, &f), DD_ENOSPC);
  s_teardown(&fx);
}
END_TEST

START_TEST(test_fault_drop_ignore_delay) {
  s_fx_t fx;
  s_setup(&fx);
  /* DROP: processed (the session changes), the response is lost. */
  dd_uds_fault_t f = {.kind = DD_UDS_FAULT_DROP, .match = {0x10}, .match_len = 1, .count = 1};
  ck_assert_int_eq(dd_uds_server_inject(fx.srv, &f), 0);
  ck_assert_str_eq(s_tx(&fx, "1003"), "-");
  ck_assert_uint_eq(dd_uds_server_session(fx.srv), 0x03);
  /* IGNORE: not even processed. */
  f = (dd_uds_fault_t){.kind = DD_UDS_FAULT_IGNORE, .match = {0x10}, .match_len = 1, .count = 1};
  ck_assert_int_eq(dd_uds_server_inject(fx.srv, &f), 0);
  ck_assert_str_eq(s_tx(&fx, "1001"), "-");
  ck_assert_uint_eq(dd_uds_server_session(fx.srv), 0x03);
  /* DELAY: the response comes 300 ms late, without 0x78. */
  f = (dd_uds_fault_t){.kind = DD_UDS_FAULT_DELAY, .count = 1, .delay_us = 300 * MS};
  ck_assert_int_eq(dd_uds_server_inject(fx.srv, &f), 0);
  uint64_t t0 = fx.now;
  ck_assert_str_eq(s_tx(&fx, "22F186"), "-");
  ck_assert_uint_eq(dd_uds_server_next_deadline(fx.srv), t0 + 300 * MS);
  fx.now = t0 + 300 * MS;
  ck_assert_str_eq(s_poll(&fx), "62F18603");
  s_teardown(&fx);
}
END_TEST

START_TEST(test_fault_pending_forever_and_slow) {
  s_fx_t fx;
  s_setup(&fx);
  dd_uds_fault_t f = {
      .kind = DD_UDS_FAULT_PENDING_FOREVER, .match = {0x22}, .match_len = 1, .count = 1};
  ck_assert_int_eq(dd_uds_server_inject(fx.srv, &f), 0);
  uint64_t t0 = fx.now;
  ck_assert_str_eq(s_tx(&fx, "22F190"), "7F2278");
  for (int i = 1; i <= 5; i++) {
    fx.now = dd_uds_server_next_deadline(fx.srv);
    ck_assert_uint_eq(fx.now, t0 + (uint64_t)i * 4500 * MS);
    ck_assert_str_eq(s_poll(&fx), "7F2278");
  }
  ck_assert_str_eq(s_tx(&fx, "3E00"), "7F3E21");
  dd_uds_server_clear_faults(fx.srv);
  ck_assert(!dd_uds_server_busy(fx.srv));
  ck_assert_str_eq(s_tx(&fx, "3E00"), "7E00");
  /* SLOW: a fast service made slow, answered with 0x78 then the result. */
  f = (dd_uds_fault_t){
      .kind = DD_UDS_FAULT_SLOW, .match = {0x22}, .match_len = 1, .count = 1, .delay_us = 7 * SEC};
  ck_assert_int_eq(dd_uds_server_inject(fx.srv, &f), 0);
  t0 = fx.now;
  ck_assert_str_eq(s_tx(&fx, "22F186"), "7F2278");
  int pend = 0;
  ck_assert_str_eq(s_wait_final(&fx, 60 * SEC, &pend), "62F18601");
  ck_assert_int_eq(pend, 1);
  ck_assert_uint_eq(fx.now - t0, 7 * SEC);
  s_teardown(&fx);
}
END_TEST

START_TEST(test_config_validation) {
  dd_uds_server_cfg_t cfg;
  dd_uds_server_cfg_default(&cfg);
  dd_uds_security_t even = {.level = 0x02};
  cfg.security = &even;
  cfg.n_security = 1;
  ck_assert_ptr_null(dd_uds_server_new(&cfg, 0));
  dd_uds_security_t dup[] = {{.level = 0x01}, {.level = 0x01}};
  cfg.security = dup;
  cfg.n_security = 2;
  ck_assert_ptr_null(dd_uds_server_new(&cfg, 0));
  cfg.security = NULL;
  cfg.n_security = 0;
  uint8_t v = 1;
  dd_uds_did_t dids[] = {{.id = 0x1000, .data = &v, .len = 1},
                         {.id = 0x1000, .data = &v, .len = 1}};
  cfg.dids = dids;
  cfg.n_dids = 2;
  ck_assert_ptr_null(dd_uds_server_new(&cfg, 0));
  cfg.n_dids = 1;
  dd_uds_server_t *srv = dd_uds_server_new(&cfg, 0);
  ck_assert_ptr_nonnull(srv);
  /* Without DTC memory and flash those services are unsupported. */
  uint8_t resp[16];
  size_t n;
  const uint8_t req[] = {0x19, 0x0A};
  ck_assert_int_eq(dd_uds_server_request(srv, req, 2, false, 0, resp, sizeof resp, &n), 1);
  ck_assert_uint_eq(n, 3);
  ck_assert_uint_eq(resp[2], 0x11);
  ck_assert_int_eq(dd_uds_server_request(srv, req, 2, false, 0, resp, 2, &n), DD_ENOSPC);
  ck_assert_int_eq(dd_uds_server_set_did(srv, 0x1000, (const uint8_t *)"\x07", 1), 0);
  const uint8_t *d;
  ck_assert_int_eq(dd_uds_server_get_did(srv, 0x1000, &d, &n), 0);
  ck_assert_uint_eq(d[0], 7);
  ck_assert_int_eq(dd_uds_server_set_did(srv, 0x1000, (const uint8_t *)"\x07\x08", 2), DD_EMSGSIZE);
  ck_assert_int_eq(dd_uds_server_set_did(srv, 0x2000, &v, 1), DD_ENOENT);
  ck_assert_str_eq(dd_uds_server_event_name(DD_UDS_EV_S3_TIMEOUT), "s3-timeout");
  ck_assert_str_eq(dd_uds_nrc_name(0x78), "requestCorrectlyReceived-ResponsePending");
  ck_assert_str_eq(dd_uds_nrc_name(0x93), "voltageTooLow");
  ck_assert_str_eq(dd_uds_nrc_name(0xF3), "vehicleManufacturerSpecificConditionsNotCorrect");
  ck_assert_str_eq(dd_uds_nrc_name(0x01), "ISOSAEReserved");
  dd_uds_server_destroy(&srv);
}
END_TEST

static Suite *s_suite(void) {
  Suite *s = suite_create("uds_server");
  TCase *tc = tcase_create("services");
  tcase_add_test(tc, test_session_control);
  tcase_add_test(tc, test_tester_present);
  tcase_add_test(tc, test_prog_preconditions);
  tcase_add_test(tc, test_nrc_order);
  tcase_add_test(tc, test_functional_suppression);
  tcase_add_test(tc, test_rdbi);
  tcase_add_test(tc, test_rmba);
  tcase_add_test(tc, test_toy_key_vector);
  tcase_add_test(tc, test_security_access);
  tcase_add_test(tc, test_security_attempts_delay);
  tcase_add_test(tc, test_s3_timeout);
  tcase_add_test(tc, test_wdbi);
  tcase_add_test(tc, test_routine_control);
  tcase_add_test(tc, test_routine_slow_pending);
  tcase_add_test(tc, test_io_control);
  tcase_add_test(tc, test_ecu_reset);
  tcase_add_test(tc, test_comm_control);
  tcase_add_test(tc, test_dtc_services);
  tcase_add_test(tc, test_config_validation);
  suite_add_tcase(s, tc);
  TCase *tr = tcase_create("reflash");
  tcase_add_test(tr, test_reflash_sequence);
  tcase_add_test(tr, test_transfer_data_repeat_and_errors);
  tcase_add_test(tr, test_pending_repeats_and_busy);
  tcase_add_test(tr, test_slow_write_pending);
  tcase_add_test(tr, test_power_loss_bootloader);
  tcase_add_test(tr, test_starts_in_bootloader);
  suite_add_tcase(s, tr);
  TCase *tf = tcase_create("faults");
  tcase_add_test(tf, test_fault_nrc_once_always_skip);
  tcase_add_test(tf, test_fault_drop_ignore_delay);
  tcase_add_test(tf, test_fault_pending_forever_and_slow);
  suite_add_tcase(s, tf);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(s_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
