/* fuzz_uds_server: feeds arbitrary requests, clock steps, faults, resets and vehicle changes
 * to a UDS server configured with DIDs, routines, an IO control, two security levels, a DTC
 * memory and a small flash, checking that every response is well formed: a positive response
 * SID is the request SID + 0x40 (echoing the sub-function where there is one), a negative
 * response is exactly 7F SID NRC with an NRC in 0x10-0xFF.
 *
 * Input: records "op, args...":
 *   op % 5 == 0: physical request: length byte n, then n bytes
 *   op % 5 == 1: functional request: the same
 *   op % 5 == 2: clock step: byte t, now += t x 10 ms (t >= 200: x 1 s), then the server runs
 *               its timers up to now
 *   op % 5 == 3: the correct key for the last seed the server gave (toy algorithm)
 *   op % 5 == 4: control byte c: c % 6 == 0 inject a fault (5 more bytes: kind, prefix byte,
 *               count, nrc, delay x 100 ms), 1 clear faults, 2 power-on reset, 3 vehicle
 *               conditions from the next byte, 4 DTC test result / operation cycle from the
 *               next byte, 5 power loss of the flash then reset */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_dtc.h"
#include "dd_err.h"
#include "dd_flash.h"
#include "dd_fuzz.h"
#include "dd_uds_server.h"

#define S_CHECK(cond)                                                                              \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      fprintf(stderr, "fuzz_uds_server: invariant failed at line %d: %s\n", __LINE__, #cond);      \
      abort();                                                                                     \
    }                                                                                              \
  } while (0)

#define S_SECRET1 0xA55AF00Fu
#define S_SECRET2 0x01020304u

typedef struct {
  const uint8_t *p;             /* input cursor */
  size_t left;                  /* bytes left */
  uint64_t now;                 /* the clock */
  dd_uds_server_t *srv;         /* server under test */
  dd_dtc_t *dtc;                /* its DTC memory */
  dd_flash_t *flash;            /* its flash */
  dd_uds_vehicle_t veh;         /* vehicle conditions */
  uint8_t busy_sid;             /* SID of the request whose answer poll may still give */
  uint8_t busy_sub;             /* its sub-function byte (0 when none) */
  bool busy_has_sub;            /* it had a sub-function */
  uint8_t seed[16];             /* last seed given */
  uint8_t seed_level;           /* its level (0: none) */
  uint8_t resp[DD_UDS_MAX_MSG]; /* response buffer */
} s_ctx_t;

static uint8_t s_byte(s_ctx_t *c) {
  if (!c->left) return 0;
  c->left--;
  return *c->p++;
}

static bool s_has_sub(uint8_t sid) {
  switch (sid) {
  case 0x10:
  case 0x11:
  case 0x19:
  case 0x27:
  case 0x28:
  case 0x31:
  case 0x3E:
  case 0x85: return true;
  default: return false;
  }
}

static void s_check(s_ctx_t *c, size_t len, uint8_t sid, bool has_sub, uint8_t sub) {
  const uint8_t *r = c->resp;
  S_CHECK(len >= 1 && len <= sizeof c->resp);
  if (r[0] == 0x7F) {
    S_CHECK(len == 3);
    S_CHECK(r[1] == sid);
    S_CHECK(r[2] >= 0x10);
    return;
  }
  S_CHECK(r[0] == (uint8_t)(sid + 0x40));
  if (has_sub) {
    S_CHECK(len >= 2);
    S_CHECK(r[1] == (sub & 0x7F));
  }
  if (sid == 0x27 && (sub & 1) && len == 6) {
    memcpy(c->seed, r + 2, 4);
    c->seed_level = sub & 0x7F;
  }
}

static void s_request(s_ctx_t *c, const uint8_t *req, size_t n, bool functional) {
  size_t len = 0;
  bool was_busy = dd_uds_server_busy(c->srv);
  int rc = dd_uds_server_request(c->srv, req, n, functional, c->now, c->resp, sizeof c->resp, &len);
  S_CHECK(rc == 0 || rc == 1);
  bool has_sub = n >= 2 && s_has_sub(req[0]);
  if (rc == 1) s_check(c, len, req[0], has_sub, has_sub ? req[1] : 0);
  if (rc == 0) S_CHECK(len == 0);
  if (!was_busy && dd_uds_server_busy(c->srv)) {
    c->busy_sid = req[0];
    c->busy_has_sub = has_sub;
    c->busy_sub = has_sub ? req[1] : 0;
  }
}

static void s_run(s_ctx_t *c) {
  for (int guard = 0; guard < 64; guard++) {
    size_t len = 0;
    int rc = dd_uds_server_poll(c->srv, c->now, c->resp, sizeof c->resp, &len);
    S_CHECK(rc == 0 || rc == 1);
    if (rc == 1) {
      s_check(c, len, c->busy_sid, c->busy_has_sub, c->busy_sub);
      continue;
    }
    uint64_t d = dd_uds_server_next_deadline(c->srv);
    if (d > c->now) return;
  }
  S_CHECK(!"poll does not settle");
}

static int s_vehicle(void *user, dd_uds_vehicle_t *out) {
  *out = ((s_ctx_t *)user)->veh;
  return 0;
}

static int s_read_live(void *user, uint16_t did, uint8_t *out, size_t cap, size_t *len,
                       uint64_t now) {
  if (cap < 4) return 0x14;
  for (unsigned i = 0; i < 4; i++)
    out[i] = (uint8_t)(now >> (8 * i));
  *len = 4;
  return 0;
}

static int s_routine(void *user, dd_uds_call_t *call) {
  if (call->in_len && call->in[0] == 0xEE) return 0x31;
  if (call->in_len && call->in[0] == 0xAA) call->ready_at = call->now + 6000000; /* slow */
  size_t n = call->in_len < call->out_cap ? call->in_len : call->out_cap;
  if (n) memcpy(call->out, call->in, n);
  call->out_len = n;
  return 0;
}

static int s_io(void *user, dd_uds_call_t *call) {
  if (call->out_cap < 1) return 0x14;
  call->out[0] = call->in_len ? call->in[0] : 0;
  call->out_len = 1;
  return 0;
}

static int s_capture(void *user, uint32_t dtc, uint8_t *rec, size_t cap, size_t *len) {
  if (cap < 4) return -1;
  rec[0] = 1;
  rec[1] = 0xF4;
  rec[2] = 0x0D;
  rec[3] = (uint8_t)dtc;
  *len = 4;
  return 0;
}

static void s_control(s_ctx_t *c) {
  uint8_t op = s_byte(c);
  switch (op % 6) {
  case 0: {
    dd_uds_fault_t f = {0};
    f.kind = (dd_uds_fault_kind_t)(s_byte(c) % 7); /* 0 is invalid on purpose */
    f.match[0] = s_byte(c);
    f.match_len = f.match[0] & 1 ? 1 : 0;
    f.count = s_byte(c) % 4;
    f.nrc = s_byte(c);
    f.delay_us = (uint64_t)(s_byte(c) % 100) * 100000;
    int rc = dd_uds_server_inject(c->srv, &f);
    S_CHECK(rc == 0 || rc == DD_EINVAL || rc == DD_ENOSPC);
    break;
  }
  case 1: dd_uds_server_clear_faults(c->srv); break;
  case 2: dd_uds_server_reset(c->srv, c->now); break;
  case 3: {
    uint8_t v = s_byte(c);
    c->veh.speed_kmh = (v & 3) * 20.0;
    c->veh.engine_running = v & 4;
    c->veh.battery_v = 9.0 + (v >> 3) * 0.3;
    break;
  }
  case 4: {
    uint8_t v = s_byte(c);
    if (v & 0x80)
      dd_dtc_operation_cycle(c->dtc);
    else
      S_CHECK(dd_dtc_report(c->dtc, (v & 1) ? 0x123456 : 0xC10000, v & 2) == 0);
    break;
  }
  case 5:
    dd_flash_power_loss(c->flash, c->now);
    dd_uds_server_reset(c->srv, c->now);
    break;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  s_ctx_t *c = calloc(1, sizeof *c);
  if (!c) return 0;
  c->p = data;
  c->left = size;
  c->now = 1000000;
  c->veh = (dd_uds_vehicle_t){.speed_kmh = 0, .engine_running = false, .battery_v = 12.6};

  static const dd_dtc_def_t defs[] = {
      {.dtc = 0x123456, .status = DD_DTC_ST_CLEARED, .warning = true},
      {.dtc = 0xC10000, .status = 0x2F, .confirm_cycles = 3}};
  dd_dtc_cfg_t dcfg;
  dd_dtc_cfg_default(&dcfg);
  dcfg.defs = defs;
  dcfg.n_defs = 2;
  dcfg.capture = s_capture;
  c->dtc = dd_dtc_new(&dcfg);
  dd_flash_cfg_t fcfg;
  dd_flash_cfg_default(&fcfg);
  fcfg.base = 0x1000;
  fcfg.sector_size = 256;
  fcfg.sector_count = 4;
  fcfg.erase_sector_us = 2000000;
  fcfg.max_block_length = 0x22;
  fcfg.version_offset = 0x10;
  fcfg.version = "FUZZ 1";
  c->flash = dd_flash_new(&fcfg);
  S_CHECK(c->dtc && c->flash);

  static const uint8_t vin[17] = "1M8GDM9AXKP042788";
  static const uint8_t shop[4] = {0};
  const dd_uds_did_t dids[] = {
      {.id = 0xF190, .data = vin, .len = 17},
      {.id = 0xF198,
       .data = shop,
       .len = 4,
       .write_sessions = DD_UDS_SESS_NON_DEFAULT,
       .write_security = DD_UDS_SEC(0x01)},
      {.id = 0x0101, .data = shop, .len = 2, .max_len = 8, .write_sessions = DD_UDS_SESS_ALL},
      {.id = 0x0100, .read = s_read_live},
      {.id = 0x0200, .data = vin, .len = 4, .read_security = DD_UDS_SEC(0x03)},
  };
  const dd_uds_routine_t routines[] = {
      {.id = 0x0203, .ops = 0x0E, .preconditions = DD_UDS_PRE_ENGINE_OFF, .fn = s_routine},
      {.id = 0x0204, .security = DD_UDS_SEC(0x01), .fn = s_routine},
  };
  const dd_uds_io_t ios[] = {
      {.did = 0x0300,
       .state_len = 2,
       .mask_len = 1,
       .preconditions = DD_UDS_PRE_STANDSTILL,
       .fn = s_io},
      {.did = 0x0301, .params = 0x09, .state_len = 1},
  };
  const dd_uds_security_t sec[] = {
      {.level = 0x01, .secret = S_SECRET1, .max_attempts = 2, .delay_us = 3000000},
      {.level = 0x03, .secret = S_SECRET2, .sessions = DD_UDS_SESS_PROGRAMMING},
  };
  dd_uds_server_cfg_t cfg;
  dd_uds_server_cfg_default(&cfg);
  cfg.dids = dids;
  cfg.n_dids = sizeof dids / sizeof dids[0];
  cfg.routines = routines;
  cfg.n_routines = 2;
  cfg.ios = ios;
  cfg.n_ios = 2;
  cfg.security = sec;
  cfg.n_security = 2;
  cfg.dtc = c->dtc;
  cfg.flash = c->flash;
  cfg.vehicle = s_vehicle;
  cfg.user = c;
  cfg.rng_seed = 1;
  cfg.max_response = 512;
  c->srv = dd_uds_server_new(&cfg, c->now);
  S_CHECK(c->srv);

  uint8_t req[256];
  for (unsigned steps = 0; c->left && steps < 4096; steps++) {
    uint8_t op = s_byte(c);
    switch (op % 5) {
    case 0:
    case 1: {
      size_t n = s_byte(c);
      if (n > c->left) n = c->left;
      memcpy(req, c->p, n);
      c->p += n;
      c->left -= n;
      s_request(c, req, n, op % 5 == 1);
      s_run(c);
      break;
    }
    case 2: {
      uint8_t t = s_byte(c);
      c->now += t >= 200 ? (uint64_t)(t - 199) * 1000000 : (uint64_t)t * 10000;
      s_run(c);
      break;
    }
    case 3:
      if (c->seed_level) {
        uint8_t key[4];
        dd_uds_toy_key(c->seed_level == 0x01 ? S_SECRET1 : S_SECRET2, c->seed, 4, key, 4);
        req[0] = 0x27;
        req[1] = (uint8_t)(c->seed_level + 1);
        memcpy(req + 2, key, 4);
        s_request(c, req, 6, false);
        s_run(c);
      }
      break;
    default:
      s_control(c);
      s_run(c);
      break;
    }
  }
  /* Drain: everything pending ends within bounded time unless a fault holds it forever. */
  dd_uds_server_clear_faults(c->srv);
  c->now += 60000000;
  s_run(c);
  S_CHECK(!dd_uds_server_busy(c->srv));

  dd_uds_server_destroy(&c->srv);
  dd_flash_destroy(&c->flash);
  dd_dtc_destroy(&c->dtc);
  free(c);
  return 0;
}
