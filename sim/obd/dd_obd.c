/* dd_obd: OBD-II on CAN (SAE J1979 / ISO 15031-5, ISO 15765-4): responder, request builders and
 * response parsers. */
#include "dd_obd.h"

#include <assert.h>
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "dd_err.h"

/* ---- PID sets ---------------------------------------------------------------------------- */

void dd_obd_pidset_clear(dd_obd_pidset_t *set) {
  assert(set);
  memset(set, 0, sizeof *set);
}

void dd_obd_pidset_add(dd_obd_pidset_t *set, uint8_t pid) {
  assert(set);
  set->bits[pid >> 3] |= (uint8_t)(1u << (pid & 7));
}

bool dd_obd_pidset_has(const dd_obd_pidset_t *set, uint8_t pid) {
  assert(set);
  return (set->bits[pid >> 3] >> (pid & 7)) & 1u;
}

unsigned dd_obd_pidset_count(const dd_obd_pidset_t *set) {
  assert(set);
  unsigned n = 0;
  for (unsigned pid = 0; pid < 256; pid++)
    n += dd_obd_pidset_has(set, (uint8_t)pid);
  return n;
}

/* ---- the PID table (scalings of the SAE J1979 / J1979-DA PID definitions) ----------------- */

#define S_LIVE(f) offsetof(dd_obd_live_t, f)
#define S_NONE SIZE_MAX

static const dd_obd_pid_info_t s_pids[] = {
    {0x01, 4, "Monitor status since DTCs cleared", "", 1, 1, 0, S_NONE},
    {0x04, 1, "Calculated engine load", "%", 100, 255, 0, S_LIVE(load_pct)},
    {0x05, 1, "Engine coolant temperature", "degC", 1, 1, -40, S_LIVE(coolant_c)},
    {0x06, 1, "Short term fuel trim - bank 1", "%", 100, 128, -100, S_LIVE(stft_pct)},
    {0x07, 1, "Long term fuel trim - bank 1", "%", 100, 128, -100, S_LIVE(ltft_pct)},
    {0x0B, 1, "Intake manifold absolute pressure", "kPa", 1, 1, 0, S_LIVE(map_kpa)},
    {0x0C, 2, "Engine speed", "rpm", 1, 4, 0, S_LIVE(rpm)},
    {0x0D, 1, "Vehicle speed", "km/h", 1, 1, 0, S_LIVE(speed_kmh)},
    {0x0F, 1, "Intake air temperature", "degC", 1, 1, -40, S_LIVE(intake_c)},
    {0x10, 2, "Mass air flow rate", "g/s", 1, 100, 0, S_LIVE(maf_gs)},
    {0x11, 1, "Absolute throttle position", "%", 100, 255, 0, S_LIVE(throttle_pct)},
    {0x1C, 1, "OBD requirements the vehicle is designed to", "", 1, 1, 0, S_LIVE(obd_standard)},
    {0x1F, 2, "Run time since engine start", "s", 1, 1, 0, S_LIVE(run_time_s)},
    {0x2F, 1, "Fuel tank level input", "%", 100, 255, 0, S_LIVE(fuel_pct)},
    {0x33, 1, "Absolute barometric pressure", "kPa", 1, 1, 0, S_LIVE(baro_kpa)},
    {0x42, 2, "Control module voltage", "V", 1, 1000, 0, S_LIVE(module_v)},
    {0x46, 1, "Ambient air temperature", "degC", 1, 1, -40, S_LIVE(ambient_c)},
};

static const dd_obd_pid_info_t s_range_info[8] = {
    {0x00, 4, "PIDs supported [01-20]", "", 1, 1, 0, S_NONE},
    {0x20, 4, "PIDs supported [21-40]", "", 1, 1, 0, S_NONE},
    {0x40, 4, "PIDs supported [41-60]", "", 1, 1, 0, S_NONE},
    {0x60, 4, "PIDs supported [61-80]", "", 1, 1, 0, S_NONE},
    {0x80, 4, "PIDs supported [81-A0]", "", 1, 1, 0, S_NONE},
    {0xA0, 4, "PIDs supported [A1-C0]", "", 1, 1, 0, S_NONE},
    {0xC0, 4, "PIDs supported [C1-E0]", "", 1, 1, 0, S_NONE},
    {0xE0, 4, "PIDs supported [E1-FF]", "", 1, 1, 0, S_NONE},
};

const dd_obd_pid_info_t *dd_obd_pid_info(uint8_t pid) {
  if (dd_obd_pid_is_range(pid)) return &s_range_info[pid >> 5];
  for (size_t i = 0; i < sizeof s_pids / sizeof s_pids[0]; i++)
    if (s_pids[i].pid == pid) return &s_pids[i];
  return NULL;
}

bool dd_obd_pid_implemented(uint8_t pid) { return dd_obd_pid_info(pid) != NULL; }

size_t dd_obd_pid_encode(uint8_t pid, double value, uint8_t *out) {
  assert(out);
  const dd_obd_pid_info_t *pi = dd_obd_pid_info(pid);
  if (!pi || pi->live_off == S_NONE) return 0;
  double max = pi->len == 1 ? 255.0 : 65535.0;
  double raw = (value - pi->offset) * pi->div / pi->mul;
  if (!(raw >= 0)) raw = 0; /* also NAN */
  raw = floor(raw + 0.5);
  if (raw > max) raw = max;
  unsigned r = (unsigned)raw;
  if (pi->len == 1) {
    out[0] = (uint8_t)r;
  } else {
    out[0] = (uint8_t)(r >> 8);
    out[1] = (uint8_t)r;
  }
  return pi->len;
}

double dd_obd_pid_decode(uint8_t pid, const uint8_t *raw, size_t len) {
  const dd_obd_pid_info_t *pi = dd_obd_pid_info(pid);
  if (!pi || pi->live_off == S_NONE || len < pi->len) return NAN;
  unsigned r = 0;
  for (unsigned i = 0; i < pi->len; i++)
    r = r << 8 | raw[i];
  return (double)r * pi->mul / pi->div + pi->offset;
}

/* ---- responder ---------------------------------------------------------------------------- */

void dd_obd_cfg_init(dd_obd_cfg_t *cfg) {
  assert(cfg);
  memset(cfg, 0, sizeof *cfg);
  cfg->obd_standard = 1; /* PID $1C value 1: OBD-II as defined by CARB */
}

void dd_obd_cfg_all_pids(dd_obd_cfg_t *cfg) {
  assert(cfg);
  for (size_t i = 0; i < sizeof s_pids / sizeof s_pids[0]; i++)
    dd_obd_pidset_add(&cfg->pids, s_pids[i].pid);
}

/* J1979: range PID base is supported when any PID above it is; 0x00 always is. */
static bool s_range_supported(const dd_obd_pidset_t *set, uint8_t base) {
  if (base == 0) return true;
  for (unsigned pid = base + 1u; pid < 256; pid++)
    if (!dd_obd_pid_is_range((uint8_t)pid) && dd_obd_pidset_has(set, (uint8_t)pid)) return true;
  return false;
}

/* Bitmap of range base: byte A bit 7 = PID base+1 ... byte D bit 0 = PID base+0x20, which is the
 * next range PID (supported when anything above it is). */
static void s_bitmap(const dd_obd_pidset_t *set, uint8_t base, uint8_t out[4]) {
  memset(out, 0, 4);
  for (unsigned i = 1; i <= 32; i++) {
    unsigned pid = base + i;
    bool has;
    if (pid > 0xFF)
      has = false;
    else if (dd_obd_pid_is_range((uint8_t)pid))
      has = s_range_supported(set, (uint8_t)pid);
    else
      has = dd_obd_pidset_has(set, (uint8_t)pid);
    if (has) out[(i - 1) / 8] |= (uint8_t)(0x80u >> ((i - 1) % 8));
  }
}

bool dd_obd_supported_bitmap(const dd_obd_cfg_t *cfg, uint8_t base, uint8_t out[4]) {
  assert(cfg && out && dd_obd_pid_is_range(base));
  if (!s_range_supported(&cfg->pids, base)) return false;
  s_bitmap(&cfg->pids, base, out);
  return true;
}

/* The InfoTypes of service $09 this responder offers. */
static void s_infotypes(const dd_obd_cfg_t *cfg, dd_obd_pidset_t *set) {
  dd_obd_pidset_clear(set);
  if (cfg->vin[0]) dd_obd_pidset_add(set, 0x02);
  if (cfg->n_calids) dd_obd_pidset_add(set, 0x04);
  if (cfg->n_cvns) dd_obd_pidset_add(set, 0x06);
  if (cfg->ecu_acronym[0] || cfg->ecu_text[0]) dd_obd_pidset_add(set, 0x0A);
}

/* PIDs of freeze frame 0: the configured data PIDs except those J1979 keeps out of freeze
 * frames (monitor status $01, OBD standard $1C), plus $02 (the DTC that stored the frame). */
static void s_freeze_pids(const dd_obd_cfg_t *cfg, dd_obd_pidset_t *set) {
  *set = cfg->pids;
  set->bits[0x01 >> 3] &= (uint8_t) ~(1u << (0x01 & 7));
  set->bits[0x1C >> 3] &= (uint8_t) ~(1u << (0x1C & 7));
  dd_obd_pidset_add(set, 0x02);
}

/* Output cursor with overflow tracking. */
typedef struct {
  uint8_t *buf; /* caller's buffer */
  size_t cap;   /* its size */
  size_t len;   /* bytes written (or wanted, when over) */
} s_out_t;

static void s_put(s_out_t *o, uint8_t b) {
  if (o->len < o->cap) o->buf[o->len] = b;
  o->len++;
}

static void s_putn(s_out_t *o, const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    s_put(o, p[i]);
}

/* Writes "pid [frame] data" for PID pid from live (frame < 0: service $01, no frame byte);
 * false when the PID cannot be encoded. */
static bool s_put_pid(s_out_t *o, const dd_obd_cfg_t *cfg, const dd_obd_state_t *st,
                      const dd_obd_live_t *live, uint8_t pid, int frame) {
  uint8_t raw[4];
  if (pid == 0x01) {
    /* J1979 PID $01: A = MIL (bit 7) + count of confirmed emission-related DTCs; B = continuous
     * monitors (bits 0-2 supported, 4-6 incomplete), bit 3 compression ignition; C/D =
     * non-continuous monitors supported / incomplete. */
    size_t n = st->n_stored > 0x7F ? 0x7F : st->n_stored;
    uint8_t c = cfg->compression_ignition ? 0xEB : 0xE5;
    raw[0] = (uint8_t)((st->mil ? 0x80 : 0) | n);
    raw[1] = (uint8_t)(0x07 | (cfg->compression_ignition ? 0x08 : 0)); /* continuous: done */
    raw[2] = c;
    raw[3] = st->monitors_incomplete ? c : 0x00;
    s_put(o, pid);
    if (frame >= 0) s_put(o, (uint8_t)frame);
    s_putn(o, raw, 4);
    return true;
  }
  const dd_obd_pid_info_t *pi = dd_obd_pid_info(pid);
  if (!pi || pi->live_off == S_NONE) return false;
  double v;
  memcpy(&v, (const char *)live + pi->live_off, sizeof v);
  if (pid == 0x1C) v = cfg->obd_standard;
  size_t n = dd_obd_pid_encode(pid, v, raw);
  s_put(o, pid);
  if (frame >= 0) s_put(o, (uint8_t)frame);
  s_putn(o, raw, n);
  return true;
}

static void s_negative(s_out_t *o, uint8_t service, uint8_t nrc) {
  o->len = 0;
  s_put(o, DD_OBD_NEGATIVE_RESPONSE);
  s_put(o, service);
  s_put(o, nrc);
}

/* Decision for a request that cannot be answered positively: on functional requests CAN OBD
 * ECUs stay silent for unsupported services/PIDs and malformed requests (ISO 15031-5, ISO
 * 15765-4 functional addressing); physically addressed ones get a negative response. */
static void s_reject(s_out_t *o, bool functional, uint8_t service, uint8_t nrc) {
  if (functional)
    o->len = 0;
  else
    s_negative(o, service, nrc);
}

/* Service $01 (and the PID part of $02 / $09 availability): counts range PIDs in the request. */
static size_t s_count_range(const uint8_t *pids, size_t n) {
  size_t r = 0;
  for (size_t i = 0; i < n; i++)
    r += dd_obd_pid_is_range(pids[i]);
  return r;
}

static void s_svc01(s_out_t *o, const dd_obd_cfg_t *cfg, const dd_obd_state_t *st,
                    const uint8_t *req, size_t len, bool functional) {
  const uint8_t *pids = req + 1;
  size_t n = len - 1;
  size_t ranges = s_count_range(pids, n);
  /* J1979: 1-6 PIDs; a request may not mix "PIDs supported" PIDs with data PIDs. */
  if (n == 0 || n > DD_OBD_MAX_PIDS || (ranges && ranges != n)) {
    s_reject(o, functional, req[0], DD_OBD_NRC_INVALID_FORMAT);
    return;
  }
  s_put(o, 0x41);
  size_t answered = 0;
  for (size_t i = 0; i < n; i++) {
    uint8_t pid = pids[i];
    if (dd_obd_pid_is_range(pid)) {
      uint8_t bm[4];
      if (!dd_obd_supported_bitmap(cfg, pid, bm)) continue;
      s_put(o, pid);
      s_putn(o, bm, 4);
      answered++;
    } else if (dd_obd_pidset_has(&cfg->pids, pid) && s_put_pid(o, cfg, st, &st->live, pid, -1)) {
      answered++;
    }
  }
  /* Unsupported PIDs are left out of the response; none supported -> no positive response. */
  if (!answered) s_reject(o, functional, req[0], DD_OBD_NRC_OUT_OF_RANGE);
}

static void s_svc02(s_out_t *o, const dd_obd_cfg_t *cfg, const dd_obd_state_t *st,
                    const uint8_t *req, size_t len, bool functional) {
  size_t n = len - 1;
  /* Request: (PID, frame number) pairs, at most 3 in a single frame on CAN. */
  if (n == 0 || n % 2 || n / 2 > 3) {
    s_reject(o, functional, req[0], DD_OBD_NRC_INVALID_FORMAT);
    return;
  }
  size_t ranges = 0;
  for (size_t i = 0; i < n; i += 2)
    ranges += dd_obd_pid_is_range(req[1 + i]);
  if (ranges && ranges != n / 2) {
    s_reject(o, functional, req[0], DD_OBD_NRC_INVALID_FORMAT);
    return;
  }
  dd_obd_pidset_t ff;
  s_freeze_pids(cfg, &ff);
  s_put(o, 0x42);
  size_t answered = 0;
  for (size_t i = 0; i < n; i += 2) {
    uint8_t pid = req[1 + i], frame = req[2 + i];
    if (frame != 0) continue; /* only frame 0 is stored */
    if (dd_obd_pid_is_range(pid)) {
      if (!s_range_supported(&ff, pid)) continue;
      uint8_t bm[4];
      s_bitmap(&ff, pid, bm);
      s_put(o, pid);
      s_put(o, frame);
      s_putn(o, bm, 4);
      answered++;
    } else if (pid == 0x02) {
      /* J1979: PID $02 reports 0000 when no freeze frame is stored. */
      uint16_t dtc = st->has_freeze_frame ? st->freeze_dtc : 0;
      s_put(o, pid);
      s_put(o, frame);
      s_put(o, (uint8_t)(dtc >> 8));
      s_put(o, (uint8_t)dtc);
      answered++;
    } else if (st->has_freeze_frame && dd_obd_pidset_has(&ff, pid) &&
               s_put_pid(o, cfg, st, &st->freeze, pid, frame)) {
      answered++;
    }
  }
  if (!answered) s_reject(o, functional, req[0], DD_OBD_NRC_OUT_OF_RANGE);
}

static void s_dtc_list(s_out_t *o, uint8_t service, const uint16_t *codes, size_t n) {
  /* ISO 15031-5 CAN format: SID + 0x40, number of DTCs, then two bytes per DTC. */
  s_put(o, (uint8_t)(service + 0x40));
  s_put(o, (uint8_t)(n > 0xFF ? 0xFF : n));
  for (size_t i = 0; i < n && i < 0xFF; i++) {
    s_put(o, (uint8_t)(codes[i] >> 8));
    s_put(o, (uint8_t)codes[i]);
  }
}

static void s_svc09(s_out_t *o, const dd_obd_cfg_t *cfg, const uint8_t *req, size_t len,
                    bool functional) {
  const uint8_t *ids = req + 1;
  size_t n = len - 1;
  size_t ranges = s_count_range(ids, n);
  dd_obd_pidset_t info;
  s_infotypes(cfg, &info);
  /* J1979: up to 6 "InfoTypes supported" per request; a data InfoType is requested alone. */
  if (n == 0 || n > DD_OBD_MAX_PIDS || (ranges != n && n != 1)) {
    s_reject(o, functional, req[0], DD_OBD_NRC_INVALID_FORMAT);
    return;
  }
  s_put(o, 0x49);
  if (ranges) {
    size_t answered = 0;
    for (size_t i = 0; i < n; i++) {
      if (!s_range_supported(&info, ids[i])) continue;
      uint8_t bm[4];
      s_bitmap(&info, ids[i], bm);
      s_put(o, ids[i]);
      s_putn(o, bm, 4);
      answered++;
    }
    if (!answered) s_reject(o, functional, req[0], DD_OBD_NRC_OUT_OF_RANGE);
    return;
  }
  uint8_t it = ids[0];
  if (!dd_obd_pidset_has(&info, it)) {
    s_reject(o, functional, req[0], DD_OBD_NRC_OUT_OF_RANGE);
    return;
  }
  s_put(o, it);
  switch (it) {
  case 0x02: /* VIN: one data item (NODI = 1) of 17 ASCII characters */
    s_put(o, 1);
    for (size_t i = 0; i < DD_VIN_LEN; i++)
      s_put(o, (uint8_t)cfg->vin[i]);
    break;
  case 0x04: /* CALID: NODI items of 16 bytes, ASCII padded with 0x00 */
    s_put(o, (uint8_t)cfg->n_calids);
    for (size_t k = 0; k < cfg->n_calids; k++) {
      size_t l = strnlen(cfg->calids[k], DD_OBD_CALID_LEN);
      for (size_t i = 0; i < DD_OBD_CALID_LEN; i++)
        s_put(o, i < l ? (uint8_t)cfg->calids[k][i] : 0x00);
    }
    break;
  case 0x06: /* CVN: NODI items of 4 bytes */
    s_put(o, (uint8_t)cfg->n_cvns);
    for (size_t k = 0; k < cfg->n_cvns; k++)
      for (int sh = 24; sh >= 0; sh -= 8)
        s_put(o, (uint8_t)(cfg->cvns[k] >> sh));
    break;
  case 0x0A: { /* ECUNAME: one item of 20 bytes: acronym(4) '-' text(15), 0x00 padded */
    s_put(o, 1);
    size_t la = strnlen(cfg->ecu_acronym, 4), lt = strnlen(cfg->ecu_text, 15);
    for (size_t i = 0; i < 4; i++)
      s_put(o, i < la ? (uint8_t)cfg->ecu_acronym[i] : 0x00);
    s_put(o, '-');
    for (size_t i = 0; i < 15; i++)
      s_put(o, i < lt ? (uint8_t)cfg->ecu_text[i] : 0x00);
    break;
  }
  default: break;
  }
}

int dd_obd_respond(const dd_obd_cfg_t *cfg, const dd_obd_state_t *st, const uint8_t *req,
                   size_t len, bool functional, uint8_t *out, size_t cap, size_t *out_len,
                   unsigned *actions) {
  assert(cfg && st && out_len && (req || !len) && (out || !cap));
  s_out_t o = {out, cap, 0};
  if (actions) *actions = 0;
  *out_len = 0;
  if (len == 0) return 0;
  uint8_t svc = req[0];
  switch (svc) {
  case DD_OBD_SVC_CURRENT_DATA: s_svc01(&o, cfg, st, req, len, functional); break;
  case DD_OBD_SVC_FREEZE_FRAME: s_svc02(&o, cfg, st, req, len, functional); break;
  case DD_OBD_SVC_STORED_DTCS:
  case DD_OBD_SVC_PENDING_DTCS:
  case DD_OBD_SVC_PERMANENT_DTCS:
    if (len != 1) {
      s_reject(&o, functional, svc, DD_OBD_NRC_INVALID_FORMAT);
    } else if (svc == DD_OBD_SVC_STORED_DTCS) {
      s_dtc_list(&o, svc, st->stored, st->n_stored);
    } else if (svc == DD_OBD_SVC_PENDING_DTCS) {
      s_dtc_list(&o, svc, st->pending, st->n_pending);
    } else {
      s_dtc_list(&o, svc, st->permanent, st->n_permanent);
    }
    break;
  case DD_OBD_SVC_CLEAR:
    if (len != 1) {
      s_reject(&o, functional, svc, DD_OBD_NRC_INVALID_FORMAT);
    } else if (st->engine_running) {
      /* J1979 / ISO 15031-5 service $04: clearing is done with ignition on and engine off; an
       * ECU that cannot clear while the engine runs answers conditionsNotCorrect, also to a
       * functional request (it is not an "unsupported" answer). */
      s_negative(&o, svc, DD_OBD_NRC_CONDITIONS);
    } else {
      s_put(&o, 0x44);
      if (actions) *actions |= DD_OBD_ACT_CLEAR;
    }
    break;
  case DD_OBD_SVC_VEHICLE_INFO: s_svc09(&o, cfg, req, len, functional); break;
  default: s_reject(&o, functional, svc, DD_OBD_NRC_SERVICE_NOT_SUPPORTED); break;
  }
  if (o.len > cap) {
    if (actions) *actions = 0;
    return DD_ENOSPC;
  }
  *out_len = o.len;
  return 0;
}

int dd_obd_state_add_dtc(dd_obd_state_t *st, uint32_t dtc3, uint8_t status, bool permanent) {
  assert(st);
  uint16_t code = (uint16_t)(dtc3 >> 8);
  struct {
    bool want;       /* belongs in this list */
    uint16_t *codes; /* the list */
    size_t *n;       /* its length */
  } lists[3] = {
      {(status & 0x08) != 0, st->stored, &st->n_stored},   /* ISO 14229-1 D.2 confirmedDTC */
      {(status & 0x04) != 0, st->pending, &st->n_pending}, /* pendingDTC */
      {permanent, st->permanent, &st->n_permanent},
  };
  int rc = 0;
  for (int l = 0; l < 3; l++) {
    if (!lists[l].want) continue;
    bool dup = false;
    for (size_t i = 0; i < *lists[l].n; i++)
      dup |= lists[l].codes[i] == code;
    if (dup) continue;
    if (*lists[l].n >= DD_OBD_MAX_DTCS) {
      rc = DD_ENOSPC;
      continue;
    }
    lists[l].codes[(*lists[l].n)++] = code;
  }
  if (status & 0x80) st->mil = true; /* warningIndicatorRequested */
  return rc;
}

/* ---- client ------------------------------------------------------------------------------ */

int dd_obd_build_request(uint8_t service, const uint8_t *pids, size_t n, uint8_t *out, size_t cap,
                         size_t *out_len) {
  assert(out_len && (pids || !n) && (out || !cap));
  if (n > DD_OBD_MAX_PIDS) return DD_EINVAL;
  if (cap < 1 + n) return DD_ENOSPC;
  out[0] = service;
  if (n) memcpy(out + 1, pids, n);
  *out_len = 1 + n;
  return 0;
}

int dd_obd_build_freeze_request(const uint8_t *pids, size_t n, uint8_t frame, uint8_t *out,
                                size_t cap, size_t *out_len) {
  assert(out_len && (pids || !n) && (out || !cap));
  if (n == 0 || n > 3) return DD_EINVAL;
  if (cap < 1 + 2 * n) return DD_ENOSPC;
  out[0] = DD_OBD_SVC_FREEZE_FRAME;
  for (size_t i = 0; i < n; i++) {
    out[1 + 2 * i] = pids[i];
    out[2 + 2 * i] = frame;
  }
  *out_len = 1 + 2 * n;
  return 0;
}

bool dd_obd_is_negative(const uint8_t *resp, size_t len, uint8_t *service, uint8_t *nrc) {
  if (!resp || len < 3 || resp[0] != DD_OBD_NEGATIVE_RESPONSE) return false;
  if (service) *service = resp[1];
  if (nrc) *nrc = resp[2];
  return true;
}

/* Checks the response SID: positive response to service is service + 0x40. */
static int s_check_sid(const uint8_t *resp, size_t len, uint8_t service) {
  if (!resp || len == 0) return DD_EPROTO;
  if (dd_obd_is_negative(resp, len, NULL, NULL)) return DD_EUDS_NRC;
  if (resp[0] != service + 0x40) return DD_EUDS_RESPONSE;
  return 0;
}

int dd_obd_parse_values(const uint8_t *resp, size_t len, dd_obd_value_t *vals, size_t cap,
                        size_t *n) {
  assert(n && (vals || !cap));
  *n = 0;
  if (!resp || len == 0) return DD_EPROTO;
  if (dd_obd_is_negative(resp, len, NULL, NULL)) return DD_EUDS_NRC;
  bool ff = resp[0] == 0x42;
  if (resp[0] != 0x41 && !ff) return DD_EUDS_RESPONSE;
  size_t i = 1;
  if (i == len) return DD_EPROTO;
  while (i < len) {
    uint8_t pid = resp[i++];
    uint8_t frame = 0;
    if (ff) {
      if (i >= len) return DD_EPROTO;
      frame = resp[i++];
    }
    const dd_obd_pid_info_t *pi = dd_obd_pid_info(pid);
    size_t dl;
    static const dd_obd_pid_info_t s_dtc_pid = {
        0x02, 2, "DTC that caused freeze frame", "", 1, 1, 0, S_NONE};
    if (ff && pid == 0x02) pi = &s_dtc_pid;
    if (pi) {
      dl = pi->len;
      if (len - i < dl) return DD_EPROTO;
    } else {
      dl = len - i;
      if (dl > 4) return DD_ENOTSUP; /* unknown length, and more data follows */
    }
    if (*n >= cap) return DD_ENOSPC;
    dd_obd_value_t *v = &vals[(*n)++];
    memset(v, 0, sizeof *v);
    v->pid = pid;
    v->frame = frame;
    v->name = pi ? pi->name : "Unknown PID";
    v->unit = pi ? pi->unit : "";
    memcpy(v->raw, resp + i, dl);
    v->raw_len = (uint8_t)dl;
    if (pid == 0x01 && pi) {
      v->value = resp[i] & 0x7F; /* the DTC count; see dd_obd_decode_monitor */
    } else if (pi == &s_dtc_pid) {
      v->value = (double)(resp[i] << 8 | resp[i + 1]);
    } else {
      v->value = dd_obd_pid_decode(pid, resp + i, dl);
    }
    i += dl;
  }
  return 0;
}

int dd_obd_parse_supported(const uint8_t *resp, size_t len, dd_obd_pidset_t *set) {
  assert(set);
  if (!resp || len == 0) return DD_EPROTO;
  if (dd_obd_is_negative(resp, len, NULL, NULL)) return DD_EUDS_NRC;
  bool ff = resp[0] == 0x42;
  if (resp[0] != 0x41 && resp[0] != 0x49 && !ff) return DD_EUDS_RESPONSE;
  size_t step = ff ? 6 : 5;
  if (len < 1 + step || (len - 1) % step) return DD_EPROTO;
  for (size_t i = 1; i < len; i += step) {
    uint8_t base = resp[i];
    if (!dd_obd_pid_is_range(base)) return DD_EPROTO;
    const uint8_t *bm = resp + i + (ff ? 2 : 1);
    for (unsigned k = 1; k <= 32; k++)
      if (bm[(k - 1) / 8] & (0x80u >> ((k - 1) % 8))) {
        if (base + k <= 0xFF) dd_obd_pidset_add(set, (uint8_t)(base + k));
      }
  }
  return 0;
}

void dd_obd_decode_monitor(const uint8_t raw[4], dd_obd_monitor_t *m) {
  assert(raw && m);
  m->mil = (raw[0] & 0x80) != 0;
  m->dtc_count = raw[0] & 0x7F;
  m->compression_ignition = (raw[1] & 0x08) != 0;
  m->cont_supported = raw[1] & 0x07;
  m->cont_incomplete = (raw[1] >> 4) & 0x07;
  m->supported = raw[2];
  m->incomplete = raw[3];
}

int dd_obd_parse_dtcs(const uint8_t *resp, size_t len, uint16_t *codes, size_t cap, size_t *n) {
  assert(n && (codes || !cap));
  *n = 0;
  if (!resp || len == 0) return DD_EPROTO;
  if (dd_obd_is_negative(resp, len, NULL, NULL)) return DD_EUDS_NRC;
  if (resp[0] != 0x43 && resp[0] != 0x47 && resp[0] != 0x4A) return DD_EUDS_RESPONSE;
  if (len < 2) return DD_EPROTO;
  size_t count = resp[1];
  if (len != 2 + 2 * count) return DD_EPROTO;
  if (count > cap) return DD_ENOSPC;
  for (size_t i = 0; i < count; i++)
    codes[i] = (uint16_t)(resp[2 + 2 * i] << 8 | resp[3 + 2 * i]);
  *n = count;
  return 0;
}

int dd_obd_parse_vin(const uint8_t *resp, size_t len, char vin[DD_VIN_SIZE]) {
  assert(vin);
  vin[0] = '\0';
  int rc = s_check_sid(resp, len, DD_OBD_SVC_VEHICLE_INFO);
  if (rc) return rc;
  if (len != 3 + DD_VIN_LEN || resp[1] != 0x02 || resp[2] != 1) return DD_EPROTO;
  for (size_t i = 0; i < DD_VIN_LEN; i++) {
    uint8_t c = resp[3 + i];
    if (c < 0x20 || c > 0x7E) return DD_EPROTO;
    vin[i] = (char)c;
  }
  vin[DD_VIN_LEN] = '\0';
  return 0;
}

int dd_obd_parse_calids(const uint8_t *resp, size_t len, char ids[][DD_OBD_CALID_LEN + 1],
                        size_t cap, size_t *n) {
  assert(n && (ids || !cap));
  *n = 0;
  int rc = s_check_sid(resp, len, DD_OBD_SVC_VEHICLE_INFO);
  if (rc) return rc;
  if (len < 3 || resp[1] != 0x04) return DD_EPROTO;
  size_t count = resp[2];
  if (len != 3 + DD_OBD_CALID_LEN * count) return DD_EPROTO;
  if (count > cap) return DD_ENOSPC;
  for (size_t k = 0; k < count; k++) {
    const uint8_t *p = resp + 3 + DD_OBD_CALID_LEN * k;
    size_t l = DD_OBD_CALID_LEN;
    while (l > 0 && p[l - 1] == 0x00)
      l--;
    for (size_t i = 0; i < l; i++) {
      if (p[i] < 0x20 || p[i] > 0x7E) return DD_EPROTO;
      ids[k][i] = (char)p[i];
    }
    ids[k][l] = '\0';
  }
  *n = count;
  return 0;
}

int dd_obd_parse_cvns(const uint8_t *resp, size_t len, uint32_t *cvns, size_t cap, size_t *n) {
  assert(n && (cvns || !cap));
  *n = 0;
  int rc = s_check_sid(resp, len, DD_OBD_SVC_VEHICLE_INFO);
  if (rc) return rc;
  if (len < 3 || resp[1] != 0x06) return DD_EPROTO;
  size_t count = resp[2];
  if (len != 3 + 4 * count) return DD_EPROTO;
  if (count > cap) return DD_ENOSPC;
  for (size_t k = 0; k < count; k++) {
    const uint8_t *p = resp + 3 + 4 * k;
    cvns[k] = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
  }
  *n = count;
  return 0;
}

/* Copies a 0x00-padded ASCII field; false on a non-printable byte before the padding. */
static bool s_ascii_field(const uint8_t *p, size_t n, char *out) {
  size_t l = n;
  while (l > 0 && p[l - 1] == 0x00)
    l--;
  for (size_t i = 0; i < l; i++) {
    if (p[i] < 0x20 || p[i] > 0x7E) return false;
    out[i] = (char)p[i];
  }
  out[l] = '\0';
  return true;
}

int dd_obd_parse_ecu_name(const uint8_t *resp, size_t len, char acronym[5], char text[16]) {
  assert(acronym && text);
  acronym[0] = text[0] = '\0';
  int rc = s_check_sid(resp, len, DD_OBD_SVC_VEHICLE_INFO);
  if (rc) return rc;
  if (len != 3 + DD_OBD_ECU_NAME_LEN || resp[1] != 0x0A || resp[2] != 1) return DD_EPROTO;
  const uint8_t *p = resp + 3;
  if (p[4] != '-') return DD_EPROTO;
  if (!s_ascii_field(p, 4, acronym) || !s_ascii_field(p + 5, 15, text)) {
    acronym[0] = text[0] = '\0';
    return DD_EPROTO;
  }
  return 0;
}
