/* check_uds_client: unit tests of the UDS client: request builders and response parsers (exact
 * bytes), P2 / P2* timing with 0x78 chains, response matching, TesterPresent cadence, functional
 * requests, and a client driving the server through slow work and idle time.
 *
 * Vectors: ISO 14229-1 service layouts (10 03 -> 50 03 00 32 01 F4; 7F 36 73; 3E 80); the
 * RequestDownload response 74 20 00 82 = 130-byte TransferData requests (docs.rs iso14229-1
 * request_load.rs and the CSDN articles cited in docs/reference protocol facts 2.2); the toy
 * key B7 6E A6 77 of suduli/UDS-SIMULATION for seed 12 34 56 78. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_err.h"
#include "dd_uds_client.h"
#include "dd_uds_server.h"

#define MS 1000ull
#define SEC 1000000ull

static int s_hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  ck_abort_msg("bad hex digit '%c'", c);
  return 0;
}

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

static const char *s_hex(const uint8_t *p, size_t n) {
  static char bufs[4][2 * DD_UDS_MAX_MSG + 1]; /* rotating, two per assertion */
  static unsigned next;
  char *b = bufs[next++ % 4];
  b[0] = '\0';
  for (size_t i = 0; i < n; i++)
    snprintf(b + 2 * i, 3, "%02X", p[i]);
  return b;
}

/* A builder's output as hex (or the error as text). */
static const char *s_built(int n, const uint8_t *buf) {
  if (n < 0) return dd_err_name(n);
  return s_hex(buf, (size_t)n);
}

/* ---- builders ------------------------------------------------------------------------------ */

START_TEST(test_builders) {
  uint8_t b[64];
  ck_assert_str_eq(s_built(dd_uds_build_session(b, sizeof b, 0x03, false), b), "1003");
  ck_assert_str_eq(s_built(dd_uds_build_session(b, sizeof b, 0x03, true), b), "1083");
  ck_assert_str_eq(s_built(dd_uds_build_session(b, sizeof b, 0x00, false), b), "DD_EINVAL");
  ck_assert_str_eq(s_built(dd_uds_build_ecu_reset(b, sizeof b, 0x01, false), b), "1101");
  ck_assert_str_eq(s_built(dd_uds_build_clear_dtc(b, sizeof b, 0xFFFFFF), b), "14FFFFFF");
  ck_assert_str_eq(s_built(dd_uds_build_clear_dtc(b, sizeof b, 0x1000000), b), "DD_EINVAL");
  ck_assert_str_eq(s_built(dd_uds_build_count_dtc_by_mask(b, sizeof b, 0xFF), b), "1901FF");
  ck_assert_str_eq(s_built(dd_uds_build_read_dtc_by_mask(b, sizeof b, 0x09), b), "190209");
  const uint16_t dids[] = {0xF190, 0xF18C};
  ck_assert_str_eq(s_built(dd_uds_build_read_dids(b, sizeof b, dids, 1), b), "22F190");
  ck_assert_str_eq(s_built(dd_uds_build_read_dids(b, sizeof b, dids, 2), b), "22F190F18C");
  ck_assert_str_eq(s_built(dd_uds_build_read_dids(b, 4, dids, 2), b), "DD_ENOSPC");
  ck_assert_str_eq(s_built(dd_uds_build_read_dids(b, sizeof b, dids, 0), b), "DD_EINVAL");
  ck_assert_str_eq(s_built(dd_uds_build_read_memory(b, sizeof b, 0x00020100, 4), b),
                   "231302010004");
  ck_assert_str_eq(s_built(dd_uds_build_read_memory(b, sizeof b, 0x12345678, 0x1234), b),
                   "2324123456781234");
  ck_assert_str_eq(s_built(dd_uds_build_seed_request(b, sizeof b, 0x01), b), "2701");
  ck_assert_str_eq(s_built(dd_uds_build_seed_request(b, sizeof b, 0x02), b), "DD_EINVAL");
  const uint8_t key[] = {0xB7, 0x6E, 0xA6, 0x77};
  ck_assert_str_eq(s_built(dd_uds_build_send_key(b, sizeof b, 0x01, key, 4), b), "2702B76EA677");
  ck_assert_str_eq(s_built(dd_uds_build_send_key(b, sizeof b, 0x11, key, 4), b), "2712B76EA677");
  ck_assert_str_eq(s_built(dd_uds_build_comm_control(b, sizeof b, 0x03, 0x01, true), b), "288301");
  const uint8_t shop[] = {'D', 'D', '0', '1'};
  ck_assert_str_eq(s_built(dd_uds_build_write_did(b, sizeof b, 0xF198, shop, 4), b),
                   "2EF19844443031");
  const uint8_t st = 0x01;
  ck_assert_str_eq(s_built(dd_uds_build_io_control(b, sizeof b, 0x0300, 0x03, &st, 1, NULL, 0), b),
                   "2F03000301");
  ck_assert_str_eq(s_built(dd_uds_build_routine(b, sizeof b, 0x01, 0xFF00, NULL, 0, false), b),
                   "3101FF00");
  const uint8_t crc[] = {0xCB, 0xF4, 0x39, 0x26};
  ck_assert_str_eq(s_built(dd_uds_build_routine(b, sizeof b, 0x01, 0xFF01, crc, 4, true), b),
                   "3181FF01CBF43926");
  ck_assert_str_eq(s_built(dd_uds_build_request_download(b, sizeof b, 0x00020000, 0x8000), b),
                   "3400440002000000008000");
  const uint8_t data[] = {0xAA, 0xBB};
  ck_assert_str_eq(s_built(dd_uds_build_transfer_data(b, sizeof b, 0x01, data, 2), b), "3601AABB");
  ck_assert_str_eq(s_built(dd_uds_build_transfer_data(b, 3, 0x01, data, 2), b), "DD_ENOSPC");
  ck_assert_str_eq(s_built(dd_uds_build_transfer_exit(b, sizeof b, NULL, 0), b), "37");
  ck_assert_str_eq(s_built(dd_uds_build_transfer_exit(b, sizeof b, crc, 4), b), "37CBF43926");
  ck_assert_str_eq(s_built(dd_uds_build_tester_present(b, sizeof b, true), b), "3E80");
  ck_assert_str_eq(s_built(dd_uds_build_tester_present(b, sizeof b, false), b), "3E00");
  ck_assert_str_eq(s_built(dd_uds_build_dtc_setting(b, sizeof b, false, true), b), "8582");
  ck_assert_str_eq(s_built(dd_uds_build_dtc_setting(b, sizeof b, true, false), b), "8501");
  /* The block counter: first 0x01, wraps 0xFF -> 0x00 (ISO 14229-1:2013 14.4). */
  ck_assert_uint_eq(DD_UDS_BSC_FIRST, 0x01);
  ck_assert_uint_eq(dd_uds_bsc_next(0x01), 0x02);
  ck_assert_uint_eq(dd_uds_bsc_next(0xFF), 0x00);
  ck_assert_uint_eq(dd_uds_bsc_next(0x00), 0x01);
}
END_TEST

/* ---- parsers ------------------------------------------------------------------------------- */

START_TEST(test_parsers) {
  uint8_t r[64];
  size_t n;
  uint8_t nrc = 0;
  uint64_t p2, p2x;
  n = s_unhex("5003003201F4", r, sizeof r);
  ck_assert_int_eq(dd_uds_parse_session(r, n, 0x03, &p2, &p2x, &nrc), 0);
  ck_assert_uint_eq(p2, 50 * MS);
  ck_assert_uint_eq(p2x, 5000 * MS);
  ck_assert_int_eq(dd_uds_parse_session(r, n, 0x01, &p2, &p2x, &nrc), DD_EUDS_RESPONSE);
  n = s_unhex("7F1012", r, sizeof r);
  ck_assert_int_eq(dd_uds_parse_session(r, n, 0x03, &p2, &p2x, &nrc), DD_EUDS_NRC);
  ck_assert_uint_eq(nrc, 0x12);
  n = s_unhex("7F3673", r, sizeof r);
  ck_assert_int_eq(dd_uds_parse_transfer_data(r, n, 0x05, &nrc), DD_EUDS_NRC);
  ck_assert_uint_eq(nrc, 0x73);
  ck_assert_int_eq(dd_uds_parse_response(r, n, 0x37, &nrc), DD_EUDS_RESPONSE);
  n = s_unhex("7F367300", r, sizeof r);
  ck_assert_int_eq(dd_uds_parse_response(r, n, 0x36, &nrc), DD_EUDS_RESPONSE);
  ck_assert_int_eq(dd_uds_parse_response(r, 0, 0x36, &nrc), DD_EUDS_RESPONSE);

  const uint8_t *data;
  size_t dlen;
  n = s_unhex("62F190 314D3847444D39415847", r, sizeof r);
  ck_assert_int_eq(dd_uds_parse_read_did(r, n, 0xF190, &data, &dlen, &nrc), 0);
  ck_assert_uint_eq(dlen, 10);
  ck_assert_uint_eq(data[0], '1');
  ck_assert_int_eq(dd_uds_parse_read_did(r, n, 0xF18C, &data, &dlen, &nrc), DD_EUDS_RESPONSE);
  const uint16_t dids[] = {0xF187, 0x0100};
  const size_t lens[] = {2, 2};
  const uint8_t *vals[2];
  n = s_unhex("62 F187 5051 0100 0BB8", r, sizeof r);
  ck_assert_int_eq(dd_uds_parse_read_dids(r, n, dids, lens, 2, vals, &nrc), 0);
  ck_assert_uint_eq(vals[1][0], 0x0B);
  ck_assert_int_eq(dd_uds_parse_read_dids(r, n - 1, dids, lens, 2, vals, &nrc), DD_EUDS_RESPONSE);

  const uint8_t *seed;
  size_t slen;
  bool unlocked;
  n = s_unhex("670112345678", r, sizeof r);
  ck_assert_int_eq(dd_uds_parse_seed(r, n, 0x01, &seed, &slen, &unlocked, &nrc), 0);
  ck_assert_uint_eq(slen, 4);
  ck_assert(!unlocked);
  uint8_t key[4];
  dd_uds_toy_key(0xA55AF00Fu, seed, slen, key, 4);
  ck_assert_str_eq(s_hex(key, 4), "B76EA677");
  n = s_unhex("670100000000", r, sizeof r);
  ck_assert_int_eq(dd_uds_parse_seed(r, n, 0x01, &seed, &slen, &unlocked, &nrc), 0);
  ck_assert(unlocked);
  n = s_unhex("6702", r, sizeof r);
  ck_assert_int_eq(dd_uds_parse_key(r, n, 0x01, &nrc), 0);
  ck_assert_int_eq(dd_uds_parse_key(r, n, 0x03, &nrc), DD_EUDS_RESPONSE);
  n = s_unhex("7F2735", r, sizeof r);
  ck_assert_int_eq(dd_uds_parse_key(r, n, 0x01, &nrc), DD_EUDS_NRC);
  ck_assert_uint_eq(nrc, 0x35);

  const uint8_t *status;
  size_t stlen;
  n = s_unhex("7101FF0100", r, sizeof r);
  ck_assert_int_eq(dd_uds_parse_routine(r, n, 0x01, 0xFF01, &status, &stlen, &nrc), 0);
  ck_assert_uint_eq(stlen, 1);
  ck_assert_uint_eq(status[0], 0x00);
  ck_assert_int_eq(dd_uds_parse_routine(r, n, 0x01, 0xFF00, &status, &stlen, &nrc),
                   DD_EUDS_RESPONSE);
  n = s_unhex("7101FF00", r, sizeof r);
  ck_assert_int_eq(dd_uds_parse_routine(r, n, 0x81, 0xFF00, &status, &stlen, &nrc), 0);
  ck_assert_uint_eq(stlen, 0);

  uint32_t mnbl = 0;
  n = s_unhex("74200082", r, sizeof r);
  ck_assert_int_eq(dd_uds_parse_request_download(r, n, &mnbl, &nrc), 0);
  ck_assert_uint_eq(mnbl, 130);
  n = s_unhex("744000000402", r, sizeof r);
  ck_assert_int_eq(dd_uds_parse_request_download(r, n, &mnbl, &nrc), 0);
  ck_assert_uint_eq(mnbl, 1026);
  n = s_unhex("742000", r, sizeof r);
  ck_assert_int_eq(dd_uds_parse_request_download(r, n, &mnbl, &nrc), DD_EUDS_RESPONSE);
  n = s_unhex("74100002", r, sizeof r);
  ck_assert_int_eq(dd_uds_parse_request_download(r, n, &mnbl, &nrc), DD_EUDS_RESPONSE);

  n = s_unhex("7605", r, sizeof r);
  ck_assert_int_eq(dd_uds_parse_transfer_data(r, n, 0x05, &nrc), 0);
  ck_assert_int_eq(dd_uds_parse_transfer_data(r, n, 0x06, &nrc), DD_EUDS_RESPONSE);
  const uint8_t *param;
  size_t plen;
  n = s_unhex("77CBF43926", r, sizeof r);
  ck_assert_int_eq(dd_uds_parse_transfer_exit(r, n, &param, &plen, &nrc), 0);
  ck_assert_uint_eq(plen, 4);

  uint8_t avail, fmt;
  uint16_t count;
  n = s_unhex("5901FF010002", r, sizeof r);
  ck_assert_int_eq(dd_uds_parse_dtc_count(r, n, &avail, &fmt, &count, &nrc), 0);
  ck_assert_uint_eq(avail, 0xFF);
  ck_assert_uint_eq(fmt, 0x01);
  ck_assert_uint_eq(count, 2);
  dd_uds_dtc_rec_t recs[1];
  size_t nrec;
  n = s_unhex("5902FF C1000009 123456AF", r, sizeof r);
  ck_assert_int_eq(dd_uds_parse_dtc_list(r, n, 0x02, &avail, recs, 1, &nrec, &nrc), 0);
  ck_assert_uint_eq(nrec, 2);
  ck_assert_uint_eq(recs[0].dtc, 0xC10000);
  ck_assert_uint_eq(recs[0].status, 0x09);
  ck_assert_int_eq(dd_uds_parse_dtc_list(r, n - 1, 0x02, &avail, recs, 1, &nrec, &nrc),
                   DD_EUDS_RESPONSE);
  ck_assert_int_eq(dd_uds_parse_dtc_list(r, n, 0x0A, &avail, recs, 1, &nrec, &nrc),
                   DD_EUDS_RESPONSE);
  n = s_unhex("54", r, sizeof r);
  ck_assert_int_eq(dd_uds_parse_clear_dtc(r, n, &nrc), 0);
}
END_TEST

/* ---- client fixture ------------------------------------------------------------------------ */

typedef struct {
  dd_uds_client_t *cl;   /* client under test */
  uint64_t now;          /* injected clock */
  dd_uds_client_tx_t tx; /* last thing handed out */
} s_fx_t;

static void s_setup(s_fx_t *fx, const dd_uds_client_cfg_t *cfg) {
  memset(fx, 0, sizeof *fx);
  dd_uds_client_cfg_t def;
  dd_uds_client_cfg_default(&def);
  fx->cl = dd_uds_client_new(cfg ? cfg : &def);
  ck_assert_ptr_nonnull(fx->cl);
  fx->now = 10 * SEC;
}

static void s_teardown(s_fx_t *fx) {
  dd_uds_client_destroy(&fx->cl);
  ck_assert_ptr_null(fx->cl);
}

/* Queue a request and check poll hands exactly it out. */
static void s_send(s_fx_t *fx, const char *hex, bool functional) {
  uint8_t b[DD_UDS_MAX_MSG];
  size_t n = s_unhex(hex, b, sizeof b);
  ck_assert_int_eq(dd_uds_client_request(fx->cl, b, n, functional, fx->now), 0);
  ck_assert_uint_eq(dd_uds_client_next_deadline(fx->cl), 0);
  ck_assert_int_eq(dd_uds_client_poll(fx->cl, fx->now, &fx->tx), 1);
  ck_assert_str_eq(s_hex(fx->tx.data, fx->tx.len), s_hex(b, n));
  ck_assert(!fx->tx.tester_present);
  ck_assert(fx->tx.functional == functional);
}

static int s_resp(s_fx_t *fx, const char *hex, uint32_t source) {
  uint8_t b[DD_UDS_MAX_MSG];
  size_t n = s_unhex(hex, b, sizeof b);
  return dd_uds_client_on_response(fx->cl, b, n, source, fx->now);
}

static void s_poll_none(s_fx_t *fx) {
  ck_assert_int_eq(dd_uds_client_poll(fx->cl, fx->now, &fx->tx), 0);
}

static dd_uds_result_t s_take(s_fx_t *fx) {
  dd_uds_result_t r;
  ck_assert_msg(dd_uds_client_take_result(fx->cl, &r), "no result");
  return r;
}

/* ---- timing -------------------------------------------------------------------------------- */

START_TEST(test_positive_nrc_and_p2_timeout) {
  s_fx_t fx;
  s_setup(&fx, NULL);
  uint64_t t0 = fx.now;
  s_send(&fx, "22F190", false);
  ck_assert_int_eq(s_resp(&fx, "62F190 31", 7), 1);
  dd_uds_result_t r = s_take(&fx);
  ck_assert_int_eq(r.status, 0);
  ck_assert(r.final);
  ck_assert_uint_eq(r.sid, 0x22);
  ck_assert_uint_eq(r.source, 7);
  ck_assert_str_eq(s_hex(r.data, r.len), "62F19031");
  ck_assert_uint_eq(r.sent_at, t0);
  ck_assert(!dd_uds_client_take_result(fx.cl, &r));
  /* NRC. */
  s_send(&fx, "221234", false);
  ck_assert_int_eq(s_resp(&fx, "7F2231", 7), 1);
  r = s_take(&fx);
  ck_assert_int_eq(r.status, DD_EUDS_NRC);
  ck_assert_uint_eq(r.nrc, 0x31);
  /* No response: P2client (150 ms) runs out. */
  t0 = fx.now;
  s_send(&fx, "22F190", false);
  ck_assert_uint_eq(dd_uds_client_next_deadline(fx.cl), t0 + 150 * MS);
  fx.now = t0 + 150 * MS - 1;
  s_poll_none(&fx);
  ck_assert(!dd_uds_client_take_result(fx.cl, &r));
  ck_assert(dd_uds_client_busy(fx.cl));
  fx.now += 1;
  s_poll_none(&fx);
  r = s_take(&fx);
  ck_assert_int_eq(r.status, DD_EUDS_TIMEOUT_P2);
  ck_assert_ptr_null(r.data);
  ck_assert(!dd_uds_client_busy(fx.cl));
  /* A late response is ignored. */
  ck_assert_int_eq(s_resp(&fx, "62F190 31", 7), 0);
  ck_assert(!dd_uds_client_take_result(fx.cl, &r));
  s_teardown(&fx);
}
END_TEST

START_TEST(test_pending_chain) {
  s_fx_t fx;
  s_setup(&fx, NULL);
  uint64_t t0 = fx.now;
  s_send(&fx, "3101FF00", false);
  fx.now = t0 + 10 * MS;
  ck_assert_int_eq(s_resp(&fx, "7F3178", 1), 1);
  /* P2*client = 5500 ms from each 0x78. */
  ck_assert_uint_eq(dd_uds_client_next_deadline(fx.cl), fx.now + 5500 * MS);
  fx.now = t0 + 5 * SEC;
  s_poll_none(&fx);
  ck_assert_int_eq(s_resp(&fx, "7F3178", 1), 1);
  ck_assert_uint_eq(dd_uds_client_next_deadline(fx.cl), fx.now + 5500 * MS);
  fx.now = t0 + 9 * SEC; /* beyond the first P2*, within the second */
  s_poll_none(&fx);
  ck_assert_int_eq(s_resp(&fx, "7101FF00", 1), 1);
  dd_uds_result_t r = s_take(&fx);
  ck_assert_int_eq(r.status, 0);
  ck_assert_uint_eq(r.pending, 2);
  /* P2* timeout. */
  t0 = fx.now;
  s_send(&fx, "3101FF00", false);
  fx.now = t0 + 10 * MS;
  ck_assert_int_eq(s_resp(&fx, "7F3178", 1), 1);
  fx.now += 5500 * MS - 1;
  s_poll_none(&fx);
  ck_assert(!dd_uds_client_take_result(fx.cl, &r));
  fx.now += 1;
  s_poll_none(&fx);
  r = s_take(&fx);
  ck_assert_int_eq(r.status, DD_EUDS_TIMEOUT_P2X);
  ck_assert_uint_eq(r.pending, 1);
  s_teardown(&fx);
}
END_TEST

START_TEST(test_pending_cap) {
  dd_uds_client_cfg_t cfg;
  dd_uds_client_cfg_default(&cfg);
  cfg.pending_max_us = 8 * SEC;
  s_fx_t fx;
  s_setup(&fx, &cfg);
  uint64_t t0 = fx.now;
  s_send(&fx, "3101FF00", false);
  /* A server answering 0x78 forever: the chain is cut 8 s after the first one. */
  for (uint64_t t = 0; t <= 7 * SEC; t += 3500 * MS) {
    fx.now = t0 + 10 * MS + t;
    ck_assert_int_eq(s_resp(&fx, "7F3178", 1), 1);
  }
  ck_assert_uint_eq(dd_uds_client_next_deadline(fx.cl), t0 + 10 * MS + 8 * SEC);
  fx.now = t0 + 10 * MS + 8 * SEC;
  s_poll_none(&fx);
  dd_uds_result_t r = s_take(&fx);
  ck_assert_int_eq(r.status, DD_EUDS_TIMEOUT_P2X);
  ck_assert_uint_eq(r.pending, 3);
  s_teardown(&fx);
}
END_TEST

START_TEST(test_mismatched_responses) {
  s_fx_t fx;
  s_setup(&fx, NULL);
  static const char *const cases[][2] = {
      {"22F190", "62F187 00"},     /* other DID echoed */
      {"22F190", "5003003201F4"},  /* other service */
      {"22F190", "7F1031"},        /* NRC for another service */
      {"22F190", "7F223100"},      /* malformed NRC */
      {"22F190", "62F1"},          /* too short */
      {"1003", "5001003201F4"},    /* other sub-function */
      {"3601AA", "7602"},          /* other block counter */
      {"3101FF00", "7101FF01"},    /* other routine */
      {"2F030003 01", "6F030100"}, /* other IO DID */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    s_send(&fx, cases[i][0], false);
    ck_assert_int_eq(s_resp(&fx, cases[i][1], 1), 1);
    dd_uds_result_t r = s_take(&fx);
    ck_assert_msg(r.status == DD_EUDS_RESPONSE, "case %zu: %d", i, r.status);
    ck_assert(r.final);
  }
  /* An answer to our keep-alive is not the request's. */
  s_send(&fx, "22F190", false);
  ck_assert_int_eq(s_resp(&fx, "7E00", 1), 0);
  ck_assert_int_eq(s_resp(&fx, "7F3E12", 1), 0);
  ck_assert(dd_uds_client_busy(fx.cl));
  ck_assert_int_eq(s_resp(&fx, "62F190AA", 1), 1);
  ck_assert_int_eq(s_take(&fx).status, 0);
  /* Nothing outstanding. */
  ck_assert_int_eq(s_resp(&fx, "62F190AA", 1), 0);
  s_teardown(&fx);
}
END_TEST

START_TEST(test_busy_tx_done_tx_error) {
  s_fx_t fx;
  s_setup(&fx, NULL);
  uint8_t req[] = {0x22, 0xF1, 0x90};
  ck_assert_int_eq(dd_uds_client_request(fx.cl, req, 3, false, fx.now), 0);
  ck_assert_int_eq(dd_uds_client_request(fx.cl, req, 3, false, fx.now), DD_EBUSY);
  ck_assert_int_eq(dd_uds_client_poll(fx.cl, fx.now, &fx.tx), 1);
  ck_assert_int_eq(dd_uds_client_request(fx.cl, req, 3, false, fx.now), DD_EBUSY);
  /* The transport confirms 100 ms later (a long multi-frame message): P2 starts then. */
  uint64_t t0 = fx.now;
  dd_uds_client_on_tx_done(fx.cl, fx.tx.id + 1, t0 + 100 * MS); /* another message: ignored */
  ck_assert_uint_eq(dd_uds_client_next_deadline(fx.cl), t0 + 150 * MS);
  dd_uds_client_on_tx_done(fx.cl, fx.tx.id, t0 + 100 * MS);
  ck_assert_uint_eq(dd_uds_client_next_deadline(fx.cl), t0 + 250 * MS);
  fx.now = t0 + 200 * MS;
  s_poll_none(&fx);
  dd_uds_result_t r;
  ck_assert(!dd_uds_client_take_result(fx.cl, &r));
  dd_uds_client_on_tx_error(fx.cl, DD_EISOTP_TIMEOUT_BS, fx.now);
  r = s_take(&fx);
  ck_assert_int_eq(r.status, DD_EISOTP_TIMEOUT_BS);
  ck_assert(!dd_uds_client_busy(fx.cl));
  ck_assert_int_eq(dd_uds_client_request(fx.cl, req, 0, false, fx.now), DD_EINVAL);
  ck_assert_int_eq(dd_uds_client_request(fx.cl, req, 4096, false, fx.now), DD_EMSGSIZE);
  ck_assert_int_eq(dd_uds_client_request(fx.cl, req, 3, false, fx.now), 0);
  dd_uds_client_cancel(fx.cl);
  ck_assert(!dd_uds_client_busy(fx.cl));
  s_poll_none(&fx);
  s_teardown(&fx);
}
END_TEST

/* With tx_confirm_us the client waits for the transport's confirmation before P2 starts
 * (ISO 14229-2: P2client runs from T_Data.con): a 170 ms transmission does not time out. */
START_TEST(test_p2_from_confirmation_only) {
  dd_uds_client_cfg_t cfg;
  dd_uds_client_cfg_default(&cfg);
  cfg.tx_confirm_us = 2 * SEC;
  s_fx_t fx;
  s_setup(&fx, &cfg);
  uint8_t req[] = {0x36, 0x01, 0xAA};
  ck_assert_int_eq(dd_uds_client_request(fx.cl, req, 3, false, fx.now), 0);
  ck_assert_int_eq(dd_uds_client_poll(fx.cl, fx.now, &fx.tx), 1);
  uint64_t t0 = fx.now;
  uint32_t id = fx.tx.id;
  ck_assert_uint_eq(dd_uds_client_next_deadline(fx.cl), t0 + 2 * SEC);
  fx.now = t0 + 170 * MS; /* still on the bus: no P2 timeout */
  s_poll_none(&fx);
  dd_uds_result_t r;
  ck_assert(!dd_uds_client_take_result(fx.cl, &r));
  dd_uds_client_on_tx_done(fx.cl, id, fx.now);
  ck_assert_uint_eq(dd_uds_client_next_deadline(fx.cl), t0 + 170 * MS + 150 * MS);
  fx.now = t0 + 320 * MS;
  s_poll_none(&fx);
  r = s_take(&fx);
  ck_assert_int_eq(r.status, DD_EUDS_TIMEOUT_P2);
  /* No confirmation at all: the transmit limit ends the request. */
  ck_assert_int_eq(dd_uds_client_request(fx.cl, req, 3, false, fx.now), 0);
  ck_assert_int_eq(dd_uds_client_poll(fx.cl, fx.now, &fx.tx), 1);
  fx.now += 2 * SEC;
  s_poll_none(&fx);
  r = s_take(&fx);
  ck_assert_int_eq(r.status, DD_EUDS_TIMEOUT_P2);
  s_teardown(&fx);
}
END_TEST

/* ---- TesterPresent and session tracking ----------------------------------------------------- */

START_TEST(test_tester_present_cadence) {
  s_fx_t fx;
  s_setup(&fx, NULL);
  ck_assert_uint_eq(dd_uds_client_next_deadline(fx.cl), UINT64_MAX);
  s_send(&fx, "1003", false);
  fx.now += 5 * MS;
  ck_assert_int_eq(s_resp(&fx, "5003003201F4", 1), 1);
  ck_assert_int_eq(s_take(&fx).status, 0);
  ck_assert_uint_eq(dd_uds_client_session(fx.cl), 0x03);
  uint64_t t0 = fx.now;
  /* Every 2 s, 3E 80 to the functional address, on its own. */
  for (int i = 1; i <= 3; i++) {
    ck_assert_uint_eq(dd_uds_client_next_deadline(fx.cl), t0 + (uint64_t)i * 2 * SEC);
    fx.now = t0 + (uint64_t)i * 2 * SEC - 1;
    s_poll_none(&fx);
    fx.now += 1;
    ck_assert_int_eq(dd_uds_client_poll(fx.cl, fx.now, &fx.tx), 1);
    ck_assert_str_eq(s_hex(fx.tx.data, fx.tx.len), "3E80");
    ck_assert(fx.tx.tester_present);
    ck_assert(fx.tx.functional);
    s_poll_none(&fx);
  }
  /* A physical request does not reach every server: the keep-alive keeps its beat. A
   * functional one does and restarts it. */
  uint64_t due = dd_uds_client_next_deadline(fx.cl);
  fx.now += 500 * MS;
  s_send(&fx, "22F190", false);
  ck_assert_int_eq(s_resp(&fx, "62F190AA", 1), 1);
  s_take(&fx);
  ck_assert_uint_eq(dd_uds_client_next_deadline(fx.cl), due);
  s_send(&fx, "22F190", true);
  ck_assert_uint_eq(dd_uds_client_next_deadline(fx.cl), fx.now + 150 * MS);
  ck_assert_int_eq(s_resp(&fx, "62F190AA", 1), 1);
  fx.now += 150 * MS;
  s_poll_none(&fx);
  while (dd_uds_client_take_result(fx.cl, &(dd_uds_result_t){0}))
    ;
  ck_assert_uint_eq(dd_uds_client_next_deadline(fx.cl), fx.now - 150 * MS + 2 * SEC);
  /* Back to default: no more TesterPresent. */
  s_send(&fx, "1001", false);
  ck_assert_int_eq(s_resp(&fx, "5001003201F4", 1), 1);
  s_take(&fx);
  ck_assert_uint_eq(dd_uds_client_session(fx.cl), 0x01);
  ck_assert_uint_eq(dd_uds_client_next_deadline(fx.cl), UINT64_MAX);
  fx.now += 10 * SEC;
  s_poll_none(&fx);
  s_teardown(&fx);
}
END_TEST

START_TEST(test_suppressed_and_server_timing) {
  s_fx_t fx;
  s_setup(&fx, NULL);
  /* 10 83: no response due; quiet P2 means success, and the session is taken as changed. */
  uint64_t t0 = fx.now;
  s_send(&fx, "1083", false);
  fx.now = t0 + 150 * MS;
  s_poll_none(&fx);
  dd_uds_result_t r = s_take(&fx);
  ck_assert_int_eq(r.status, 0);
  ck_assert_ptr_null(r.data);
  ck_assert_uint_eq(dd_uds_client_session(fx.cl), 0x03);
  ck_assert_uint_eq(dd_uds_client_next_deadline(fx.cl), fx.now + 2 * SEC);
  /* ... but an NRC still counts. */
  s_send(&fx, "3E80 00", false);
  ck_assert_int_eq(s_resp(&fx, "7F3E13", 1), 1);
  ck_assert_int_eq(s_take(&fx).status, DD_EUDS_NRC);
  /* The server's P2/P2* from 0x50 are adopted, plus the deltas (100 ms, 500 ms). */
  s_send(&fx, "1003", false);
  ck_assert_int_eq(s_resp(&fx, "50030064 03E8", 1), 1);
  s_take(&fx);
  ck_assert_uint_eq(dd_uds_client_p2(fx.cl), 200 * MS);
  ck_assert_uint_eq(dd_uds_client_p2x(fx.cl), 10500 * MS);
  /* ECUReset brings the session back to default. */
  s_send(&fx, "1101", false);
  ck_assert_int_eq(s_resp(&fx, "5101", 1), 1);
  s_take(&fx);
  ck_assert_uint_eq(dd_uds_client_session(fx.cl), 0x01);
  dd_uds_client_set_session(fx.cl, 0x02, fx.now);
  ck_assert_uint_eq(dd_uds_client_next_deadline(fx.cl), fx.now + 2 * SEC);
  s_teardown(&fx);
}
END_TEST

START_TEST(test_functional_collects) {
  s_fx_t fx;
  s_setup(&fx, NULL);
  uint64_t t0 = fx.now;
  s_send(&fx, "22F190", true);
  fx.now = t0 + 20 * MS;
  ck_assert_int_eq(s_resp(&fx, "62F190AA", 0x7E8), 1);
  ck_assert_int_eq(s_resp(&fx, "7F2222", 0x7E9), 1);
  ck_assert(dd_uds_client_busy(fx.cl));
  dd_uds_result_t r = s_take(&fx);
  ck_assert_int_eq(r.status, 0);
  ck_assert(!r.final);
  ck_assert(r.functional);
  ck_assert_uint_eq(r.source, 0x7E8);
  r = s_take(&fx);
  ck_assert_int_eq(r.status, DD_EUDS_NRC);
  ck_assert_uint_eq(r.source, 0x7E9);
  ck_assert(!r.final);
  fx.now = t0 + 150 * MS;
  s_poll_none(&fx);
  r = s_take(&fx);
  ck_assert(r.final);
  ck_assert_int_eq(r.status, 0);
  /* Nobody answers: a P2 timeout. */
  s_send(&fx, "22F190", true);
  fx.now += 150 * MS;
  s_poll_none(&fx);
  r = s_take(&fx);
  ck_assert(r.final);
  ck_assert_int_eq(r.status, DD_EUDS_TIMEOUT_P2);
  /* A functional keep-alive sent as a request: nothing due, success. */
  s_send(&fx, "3E80", true);
  fx.now += 150 * MS;
  s_poll_none(&fx);
  ck_assert_int_eq(s_take(&fx).status, 0);
  s_teardown(&fx);
}
END_TEST

/* ---- client and server together ------------------------------------------------------------ */

typedef struct {
  dd_uds_client_t *cl;  /* the tester */
  dd_uds_server_t *srv; /* the ECU */
  dd_flash_t *flash;    /* its flash */
  uint64_t now;         /* shared clock */
  unsigned tp_sent;     /* keep-alives the client sent */
} s_pair_t;

/* Deliver everything due at now in both directions. */
static void s_pump(s_pair_t *p) {
  dd_uds_client_tx_t tx;
  uint8_t resp[DD_UDS_MAX_MSG];
  size_t n;
  for (bool moved = true; moved;) {
    moved = false;
    while (dd_uds_client_poll(p->cl, p->now, &tx) == 1) {
      moved = true;
      if (tx.tester_present) p->tp_sent++;
      if (dd_uds_server_request(p->srv, tx.data, tx.len, tx.functional, p->now, resp, sizeof resp,
                                &n) == 1)
        dd_uds_client_on_response(p->cl, resp, n, 1, p->now);
    }
    while (dd_uds_server_poll(p->srv, p->now, resp, sizeof resp, &n) == 1) {
      moved = true;
      dd_uds_client_on_response(p->cl, resp, n, 1, p->now);
    }
  }
}

static void s_run_until(s_pair_t *p, uint64_t end) {
  for (;;) {
    s_pump(p);
    uint64_t a = dd_uds_client_next_deadline(p->cl), b = dd_uds_server_next_deadline(p->srv);
    uint64_t t = a < b ? a : b;
    if (t > end) break;
    if (t > p->now) p->now = t;
  }
  p->now = end;
  s_pump(p);
}

/* Request, run until its final result, return it. */
static dd_uds_result_t s_exchange(s_pair_t *p, const uint8_t *req, size_t len) {
  ck_assert_int_eq(dd_uds_client_request(p->cl, req, len, false, p->now), 0);
  dd_uds_result_t r;
  for (int guard = 0; guard < 100000; guard++) {
    s_pump(p);
    if (dd_uds_client_take_result(p->cl, &r)) return r;
    uint64_t a = dd_uds_client_next_deadline(p->cl), b = dd_uds_server_next_deadline(p->srv);
    uint64_t t = a < b ? a : b;
    ck_assert_uint_ne(t, UINT64_MAX);
    if (t > p->now) p->now = t;
  }
  ck_abort_msg("no result");
  return r;
}

START_TEST(test_client_drives_server) {
  s_pair_t p = {.now = 100 * SEC};
  dd_flash_cfg_t fcfg;
  dd_flash_cfg_default(&fcfg);
  fcfg.erase_sector_us = 700 * MS; /* 16 sectors: 11.2 s of erase, two 0x78 repeats */
  fcfg.version = "SW 1";
  p.flash = dd_flash_new(&fcfg);
  ck_assert_ptr_nonnull(p.flash);
  dd_uds_security_t sec = {.level = 0x01, .secret = 0xA55AF00Fu};
  dd_uds_server_cfg_t scfg;
  dd_uds_server_cfg_default(&scfg);
  scfg.security = &sec;
  scfg.n_security = 1;
  scfg.flash = p.flash;
  scfg.rng_seed = 7;
  p.srv = dd_uds_server_new(&scfg, p.now);
  ck_assert_ptr_nonnull(p.srv);
  dd_uds_client_cfg_t ccfg;
  dd_uds_client_cfg_default(&ccfg);
  p.cl = dd_uds_client_new(&ccfg);
  ck_assert_ptr_nonnull(p.cl);

  uint8_t b[64];
  int n = dd_uds_build_session(b, sizeof b, 0x02, false);
  dd_uds_result_t r = s_exchange(&p, b, (size_t)n);
  ck_assert_int_eq(r.status, 0);
  uint64_t p2, p2x;
  ck_assert_int_eq(dd_uds_parse_session(r.data, r.len, 0x02, &p2, &p2x, NULL), 0);
  ck_assert_uint_eq(p2x, 5 * SEC);
  /* Idle for 12 s: the client's own TesterPresent keeps the programming session. */
  s_run_until(&p, p.now + 12 * SEC);
  ck_assert_uint_eq(p.tp_sent, 6);
  ck_assert_uint_eq(dd_uds_server_session(p.srv), 0x02);
  /* Unlock with the toy algorithm. */
  n = dd_uds_build_seed_request(b, sizeof b, 0x01);
  r = s_exchange(&p, b, (size_t)n);
  const uint8_t *seed;
  size_t slen;
  bool unlocked;
  ck_assert_int_eq(dd_uds_parse_seed(r.data, r.len, 0x01, &seed, &slen, &unlocked, NULL), 0);
  uint8_t key[4];
  dd_uds_toy_key(0xA55AF00Fu, seed, slen, key, 4);
  n = dd_uds_build_send_key(b, sizeof b, 0x01, key, 4);
  r = s_exchange(&p, b, (size_t)n);
  ck_assert_int_eq(dd_uds_parse_key(r.data, r.len, 0x01, NULL), 0);
  /* Erase: 11.2 s answered 7F 31 78 at 0, 4.5 and 9 s, then 71 01 FF 00. */
  uint64_t t0 = p.now;
  n = dd_uds_build_routine(b, sizeof b, 0x01, 0xFF00, NULL, 0, false);
  r = s_exchange(&p, b, (size_t)n);
  ck_assert_int_eq(r.status, 0);
  ck_assert_uint_eq(r.pending, 3);
  ck_assert_uint_eq(p.now - t0, 11200 * MS);
  ck_assert_int_eq(dd_uds_parse_routine(r.data, r.len, 0x01, 0xFF00, NULL, NULL, NULL), 0);
  /* The session is still up 20 s later, the client keeping it alive. */
  s_run_until(&p, p.now + 20 * SEC);
  ck_assert_uint_eq(dd_uds_server_session(p.srv), 0x02);
  ck_assert_uint_eq(dd_uds_server_security(p.srv), 0x01);
  /* A server that answers 0x78 forever: the client gives up after pending_max. */
  dd_uds_fault_t f = {
      .kind = DD_UDS_FAULT_PENDING_FOREVER, .match = {0x22}, .match_len = 1, .count = 1};
  ck_assert_int_eq(dd_uds_server_inject(p.srv, &f), 0);
  const uint16_t did = 0xF189;
  n = dd_uds_build_read_dids(b, sizeof b, &did, 1);
  t0 = p.now;
  r = s_exchange(&p, b, (size_t)n);
  ck_assert_int_eq(r.status, DD_EUDS_TIMEOUT_P2X);
  ck_assert_uint_eq(p.now - t0, ccfg.pending_max_us);
  dd_uds_server_clear_faults(p.srv);
  r = s_exchange(&p, b, (size_t)n);
  const uint8_t *v;
  size_t vlen;
  ck_assert_int_eq(dd_uds_parse_read_did(r.data, r.len, 0xF189, &v, &vlen, NULL), 0);
  ck_assert_uint_eq(vlen, 4);
  ck_assert_mem_eq(v, "SW 1", 4);

  dd_uds_client_destroy(&p.cl);
  dd_uds_server_destroy(&p.srv);
  dd_flash_destroy(&p.flash);
}
END_TEST

static Suite *s_suite(void) {
  Suite *s = suite_create("uds_client");
  TCase *tb = tcase_create("codec");
  tcase_add_test(tb, test_builders);
  tcase_add_test(tb, test_parsers);
  suite_add_tcase(s, tb);
  TCase *tc = tcase_create("client");
  tcase_add_test(tc, test_positive_nrc_and_p2_timeout);
  tcase_add_test(tc, test_pending_chain);
  tcase_add_test(tc, test_pending_cap);
  tcase_add_test(tc, test_mismatched_responses);
  tcase_add_test(tc, test_busy_tx_done_tx_error);
  tcase_add_test(tc, test_p2_from_confirmation_only);
  tcase_add_test(tc, test_tester_present_cadence);
  tcase_add_test(tc, test_suppressed_and_server_timing);
  tcase_add_test(tc, test_functional_collects);
  tcase_add_test(tc, test_client_drives_server);
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
