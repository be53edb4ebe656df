/* dd_uds_server: UDS (ISO 14229-1) server framework, sans-I/O. */
#include "dd_uds_server.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "dd_err.h"
#include "dd_rng.h"

#define S_NO_TIME UINT64_MAX
#define S_KEY_MAX 16u /* longest seed and key */

typedef struct {
  dd_uds_did_t def; /* definition (def.data not kept) */
  uint8_t *value;   /* stored value (owned) */
  size_t room;      /* capacity of value */
  size_t len;       /* current length */
  size_t fixed;     /* length a write must have (0: 1..def.max_len) */
} s_did_t;

typedef struct {
  dd_uds_routine_t def; /* definition, defaults applied */
  bool started;         /* started since the session began (results may be asked) */
  bool running;         /* started and not stopped */
} s_routine_t;

typedef struct {
  dd_uds_io_t def; /* definition, defaults applied */
  bool active;     /* the tester holds the control */
} s_io_t;

typedef struct {
  dd_uds_security_t def; /* definition, defaults applied */
  uint8_t attempts;      /* invalid keys since the last success or lockout */
  uint64_t delay_until;  /* requiredTimeDelay runs until then (0: none) */
} s_sec_t;

typedef struct {
  dd_uds_fault_t f;    /* the fault as injected */
  bool used;           /* slot taken */
  uint32_t skip_left;  /* matching requests still to let through */
  uint32_t count_left; /* applications left (f.count != 0) */
} s_fault_t;

typedef struct {
  bool active;       /* slow work or a held response is under way */
  uint8_t sid;       /* its request SID */
  size_t len;        /* bytes of the final response in self->buf */
  uint64_t ready_at; /* when the final response goes out */
  uint64_t next_rp;  /* when the next 7F sid 78 goes out (S_NO_TIME: none) */
  unsigned rp_count; /* 0x78s sent for this request */
  bool suppress;     /* positive response suppressed (SPRMIB) unless a 0x78 went out */
  bool drop;         /* DD_UDS_FAULT_DROP: nothing is sent */
  bool forever;      /* DD_UDS_FAULT_PENDING_FOREVER: never finishes */
} s_job_t;

struct dd_uds_server {
  dd_uds_server_cfg_t cfg;             /* configuration (array pointers cleared; copies below) */
  dd_uds_service_t *services;          /* service table (owned copy) */
  size_t n_services;                   /* entries of services */
  s_did_t *dids;                       /* DIDs (owned) */
  size_t n_dids;                       /* entries of dids */
  s_routine_t *routines;               /* routines, built-in FF00/FF01 appended (owned) */
  size_t n_routines;                   /* entries of routines */
  s_io_t *ios;                         /* IO controls (owned) */
  size_t n_ios;                        /* entries of ios */
  s_sec_t *secs;                       /* security levels (owned) */
  size_t n_secs;                       /* entries of secs */
  s_fault_t faults[DD_UDS_FAULTS_MAX]; /* injected faults, in injection order */
  dd_rng_t rng;                        /* seed generator */
  uint8_t session;                     /* active diagnostic session */
  uint8_t unlocked;                    /* unlocked security level (0: locked) */
  uint8_t seed_level;                  /* level of the outstanding seed (0: none) */
  uint8_t seed[S_KEY_MAX];             /* the outstanding seed */
  uint64_t s3_deadline;                /* S3server expiry (S_NO_TIME: not running) */
  uint64_t deaf_until;                 /* an ECUReset is under way until then */
  bool bootloader;                     /* no valid application: programming session only */
  uint8_t comm_control;                /* last CommunicationControl controlType (0: all enabled) */
  uint8_t comm_type;                   /* its communicationType */
  uint8_t *buf;                        /* response under construction, or held by the job */
  size_t buf_cap;                      /* its size (cfg.max_response) */
  uint8_t *scratch;                    /* live DID reads and the like */
  s_job_t job;                         /* slow work / held response */
};

/* One request under processing. */
typedef struct {
  const uint8_t *req; /* the request */
  size_t len;         /* its length */
  uint64_t now;       /* time of the request */
  uint8_t sub;        /* sub-function without the SPRMIB bit */
  uint8_t *out;       /* positive response under construction */
  size_t cap;         /* room there (the response limit) */
  size_t n;           /* bytes written */
  uint64_t ready_at;  /* when the response is ready (now: at once) */
  bool reset;         /* an ECUReset follows the response */
  uint8_t reset_type; /* its type */
} s_ctx_t;

static const char *const s_ev_names[] = {"?",     "session", "security", "lockout", "s3-timeout",
                                         "reset", "pending", "fault",    "busy"};

const char *dd_uds_server_event_name(dd_uds_server_ev_kind_t kind) {
  return (unsigned)kind < sizeof s_ev_names / sizeof s_ev_names[0] ? s_ev_names[kind] : "?";
}

/* ISO 14229-1:2013 9.2.1 table 23 (services allowed per session), with the reflash services
 * confined to the programming session behind any unlocked level as OEMs usually do. */
static const dd_uds_service_t s_default_services[] = {
    {DD_UDS_SID_DSC, DD_UDS_SESS_ALL, 0},
    {DD_UDS_SID_ER, DD_UDS_SESS_ALL, 0},
    {DD_UDS_SID_CDTCI, DD_UDS_SESS_ALL, 0},
    {DD_UDS_SID_RDTCI, DD_UDS_SESS_ALL, 0},
    {DD_UDS_SID_RDBI, DD_UDS_SESS_ALL, 0},
    {DD_UDS_SID_RMBA, DD_UDS_SESS_NON_DEFAULT, 0},
    {DD_UDS_SID_SA, DD_UDS_SESS_NON_DEFAULT, 0},
    {DD_UDS_SID_CC, DD_UDS_SESS_NON_DEFAULT, 0},
    {DD_UDS_SID_WDBI, DD_UDS_SESS_NON_DEFAULT, 0},
    {DD_UDS_SID_IOCBI, DD_UDS_SESS_EXTENDED, 0},
    {DD_UDS_SID_RC, DD_UDS_SESS_NON_DEFAULT, 0},
    {DD_UDS_SID_RD, DD_UDS_SESS_PROGRAMMING, DD_UDS_SEC_ANY},
    {DD_UDS_SID_TD, DD_UDS_SESS_PROGRAMMING, DD_UDS_SEC_ANY},
    {DD_UDS_SID_RTE, DD_UDS_SESS_PROGRAMMING, DD_UDS_SEC_ANY},
    {DD_UDS_SID_TP, DD_UDS_SESS_ALL, 0},
    {DD_UDS_SID_CDTCS, DD_UDS_SESS_NON_DEFAULT, 0},
};

const dd_uds_service_t *dd_uds_server_default_services(size_t *n) {
  if (n) *n = sizeof s_default_services / sizeof s_default_services[0];
  return s_default_services;
}

void dd_uds_server_cfg_default(dd_uds_server_cfg_t *cfg) {
  assert(cfg);
  memset(cfg, 0, sizeof *cfg);
  cfg->sessions = DD_UDS_SESS_ALL;
  cfg->prog_from_default = true;
  cfg->prog_preconditions = DD_UDS_PRE_STANDSTILL | DD_UDS_PRE_ENGINE_OFF | DD_UDS_PRE_VOLTAGE;
  cfg->flash_preconditions = DD_UDS_PRE_VOLTAGE;
  cfg->flash_security = DD_UDS_SEC_ANY;
  cfg->reset_types =
      (1u << DD_UDS_RESET_HARD) | (1u << DD_UDS_RESET_KEY_OFF_ON) | (1u << DD_UDS_RESET_SOFT);
  cfg->reset_us = 50000;
  cfg->p2_us = DD_UDS_P2_SERVER_US;
  cfg->p2x_us = DD_UDS_P2X_SERVER_US;
  cfg->p2_margin_us = 5000;
  cfg->p2x_margin_us = 500000;
  cfg->s3_us = DD_UDS_S3_SERVER_US;
  cfg->max_response = DD_UDS_MAX_MSG;
  cfg->max_request = DD_UDS_MAX_MSG;
  cfg->max_dids_per_read = 32;
  cfg->standstill_kmh = 0.5;
  cfg->voltage_min_v = 12.0;
  cfg->voltage_max_v = 16.0;
}

void dd_uds_toy_key(uint32_t secret, const uint8_t *seed, size_t seed_len, uint8_t *key,
                    size_t key_len) {
  assert(seed && key && seed_len);
  for (size_t i = 0; i < key_len; i++)
    key[i] = (uint8_t)(seed[i % seed_len] ^ (uint8_t)(secret >> (8 * (3 - i % 4))));
}

/* ---- small helpers ---------------------------------------------------------------------- */

static void s_emit(dd_uds_server_t *self, dd_uds_server_ev_kind_t kind, uint8_t a, uint8_t b,
                   uint64_t now) {
  if (!self->cfg.on_event) return;
  dd_uds_server_event_t ev = {.kind = kind, .a = a, .b = b, .time_us = now};
  self->cfg.on_event(self->cfg.user, &ev);
}

static bool s_in(uint32_t sessions, uint8_t session) {
  return session < 32 && (sessions & DD_UDS_SESS(session));
}

/* A zero session mask on a DID/routine/IO means "wherever the service is allowed". */
static bool s_in_or_all(uint32_t sessions, uint8_t session) {
  return sessions == 0 || s_in(sessions, session);
}

static bool s_sec_ok(const dd_uds_server_t *self, uint64_t needed) {
  return needed == 0 || (self->unlocked && (needed & DD_UDS_SEC(self->unlocked)));
}

static uint16_t s_be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }

static uint32_t s_be(const uint8_t *p, unsigned n) {
  uint32_t v = 0;
  for (unsigned i = 0; i < n; i++)
    v = v << 8 | p[i];
  return v;
}

/* Services with a sub-function parameter (bit 7 = SPRMIB): ISO 14229-1:2013 clauses 9-13. */
static bool s_has_sub(uint8_t sid) {
  switch (sid) {
  case DD_UDS_SID_DSC:
  case DD_UDS_SID_ER:
  case DD_UDS_SID_RDTCI:
  case DD_UDS_SID_SA:
  case DD_UDS_SID_CC:
  case DD_UDS_SID_RC:
  case DD_UDS_SID_TP:
  case DD_UDS_SID_CDTCS: return true;
  default: return false;
  }
}

/* NRCs a server does not send to a functionally addressed request: ISO 14229-1:2013 7.5,
 * table 5 (requests with sub-function) and the matching rule for requests without one. */
static bool s_functional_silent(uint8_t nrc) {
  return nrc == DD_UDS_NRC_SERVICE_NOT_SUPPORTED || nrc == DD_UDS_NRC_SUBFUNCTION_NOT_SUPPORTED ||
         nrc == DD_UDS_NRC_REQUEST_OUT_OF_RANGE ||
         nrc == DD_UDS_NRC_SUBFUNCTION_NOT_SUPPORTED_IN_SESSION ||
         nrc == DD_UDS_NRC_SERVICE_NOT_SUPPORTED_IN_SESSION;
}

/* Services a bootloader (no valid application) still offers. */
static bool s_boot_service(uint8_t sid) {
  switch (sid) {
  case DD_UDS_SID_DSC:
  case DD_UDS_SID_ER:
  case DD_UDS_SID_RDBI:
  case DD_UDS_SID_SA:
  case DD_UDS_SID_CC:
  case DD_UDS_SID_RC:
  case DD_UDS_SID_RD:
  case DD_UDS_SID_TD:
  case DD_UDS_SID_RTE:
  case DD_UDS_SID_TP:
  case DD_UDS_SID_CDTCS: return true;
  default: return false;
  }
}

static bool s_room(const s_ctx_t *c, size_t n) { return c->cap - c->n >= n; }

static void s_put(s_ctx_t *c, uint8_t b) {
  assert(c->n < c->cap);
  c->out[c->n++] = b;
}

static void s_put16(s_ctx_t *c, uint16_t v) {
  s_put(c, (uint8_t)(v >> 8));
  s_put(c, (uint8_t)v);
}

static void s_put24(s_ctx_t *c, uint32_t v) {
  s_put(c, (uint8_t)(v >> 16));
  s_put16(c, (uint16_t)v);
}

/* The vehicle preconditions (ISO 14229-1:2013 annex A: 0x88, 0x83, 0x84, 0x92, 0x93). */
static int s_pre(const dd_uds_server_t *self, uint8_t flags) {
  if (!flags) return 0;
  dd_uds_vehicle_t v = {.speed_kmh = 0.0, .engine_running = false, .battery_v = 12.6};
  if (self->cfg.vehicle && self->cfg.vehicle(self->cfg.user, &v) != 0)
    return DD_UDS_NRC_CONDITIONS_NOT_CORRECT;
  if ((flags & DD_UDS_PRE_STANDSTILL) && !(v.speed_kmh <= self->cfg.standstill_kmh))
    return DD_UDS_NRC_VEHICLE_SPEED_TOO_HIGH;
  if ((flags & DD_UDS_PRE_ENGINE_OFF) && v.engine_running) return DD_UDS_NRC_ENGINE_IS_RUNNING;
  if ((flags & DD_UDS_PRE_ENGINE_RUNNING) && !v.engine_running)
    return DD_UDS_NRC_ENGINE_IS_NOT_RUNNING;
  if (flags & DD_UDS_PRE_VOLTAGE) {
    if (v.battery_v > self->cfg.voltage_max_v) return DD_UDS_NRC_VOLTAGE_TOO_HIGH;
    if (!(v.battery_v >= self->cfg.voltage_min_v)) return DD_UDS_NRC_VOLTAGE_TOO_LOW;
  }
  return 0;
}

/* A callback's answer: 0, or an NRC in 0x10-0xFF (anything else is a generalReject). */
static int s_nrc_of(int rc) {
  if (rc == 0) return 0;
  if (rc < 0x10 || rc > 0xFF || rc == DD_UDS_NRC_RESPONSE_PENDING) return DD_UDS_NRC_GENERAL_REJECT;
  return rc;
}

static s_did_t *s_find_did(const dd_uds_server_t *self, uint16_t id) {
  for (size_t i = 0; i < self->n_dids; i++)
    if (self->dids[i].def.id == id) return &self->dids[i];
  return NULL;
}

static s_routine_t *s_find_routine(const dd_uds_server_t *self, uint16_t id) {
  for (size_t i = 0; i < self->n_routines; i++)
    if (self->routines[i].def.id == id) return &self->routines[i];
  return NULL;
}

static s_io_t *s_find_io(const dd_uds_server_t *self, uint16_t did) {
  for (size_t i = 0; i < self->n_ios; i++)
    if (self->ios[i].def.did == did) return &self->ios[i];
  return NULL;
}

static s_sec_t *s_find_sec(const dd_uds_server_t *self, uint8_t level) {
  for (size_t i = 0; i < self->n_secs; i++)
    if (self->secs[i].def.level == level) return &self->secs[i];
  return NULL;
}

static const dd_uds_service_t *s_find_service(const dd_uds_server_t *self, uint8_t sid) {
  switch (sid) {
  case DD_UDS_SID_CDTCI:
  case DD_UDS_SID_RDTCI:
  case DD_UDS_SID_CDTCS:
    if (!self->cfg.dtc) return NULL;
    break;
  case DD_UDS_SID_RD:
  case DD_UDS_SID_TD:
  case DD_UDS_SID_RTE:
    if (!self->cfg.flash) return NULL;
    break;
  default: break;
  }
  for (size_t i = 0; i < self->n_services; i++)
    if (self->services[i].sid == sid) return &self->services[i];
  return NULL;
}

/* ---- session, security, reset ----------------------------------------------------------- */

static void s_lock(dd_uds_server_t *self, uint64_t now) {
  self->seed_level = 0;
  if (!self->unlocked) return;
  self->unlocked = 0;
  s_emit(self, DD_UDS_EV_SECURITY, 0, 0, now);
}

static void s_restart_s3(dd_uds_server_t *self, uint64_t now) {
  self->s3_deadline = self->session == DD_UDS_SESSION_DEFAULT ? S_NO_TIME : now + self->cfg.s3_us;
}

/* Leaving for the default session ends what the non-default sessions started (ISO 14229-1:2013
 * 9.2.1): IO controls go back to the ECU, routines stop, communication and DTC setting return
 * to normal. */
static void s_end_non_default(dd_uds_server_t *self, uint64_t now, bool notify) {
  uint8_t dummy[8];
  for (size_t i = 0; i < self->n_ios; i++) {
    s_io_t *io = &self->ios[i];
    if (io->active && notify && io->def.fn) {
      dd_uds_call_t call = {.id = io->def.did,
                            .op = DD_UDS_IO_RETURN_CONTROL,
                            .out = dummy,
                            .out_cap = sizeof dummy,
                            .now = now,
                            .ready_at = now};
      (void)io->def.fn(io->def.user, &call);
    }
    io->active = false;
  }
  for (size_t i = 0; i < self->n_routines; i++) {
    s_routine_t *r = &self->routines[i];
    if (r->running && notify && r->def.fn && (r->def.ops & (1u << DD_UDS_ROUTINE_STOP))) {
      dd_uds_call_t call = {.id = r->def.id,
                            .op = DD_UDS_ROUTINE_STOP,
                            .out = dummy,
                            .out_cap = sizeof dummy,
                            .now = now,
                            .ready_at = now};
      (void)r->def.fn(r->def.user, &call);
    }
    r->running = r->started = false;
  }
  if (self->comm_control != 0x00) {
    self->comm_control = 0x00;
    self->comm_type = 0x03;
    if (notify && self->cfg.on_comm_control)
      (void)self->cfg.on_comm_control(self->cfg.user, 0x00, 0x03, now);
  }
  if (self->cfg.dtc) dd_dtc_set_setting(self->cfg.dtc, true);
  if (self->cfg.flash) dd_flash_abort_download(self->cfg.flash);
}

/* ISO 14229-1:2013 9.2.1: every transition relocks security; the default session also ends
 * the non-default functions. */
static void s_set_session(dd_uds_server_t *self, uint8_t session, uint64_t now) {
  uint8_t old = self->session;
  self->session = session;
  s_lock(self, now);
  if (session == DD_UDS_SESSION_DEFAULT)
    s_end_non_default(self, now, true);
  else if (session != old && self->cfg.flash)
    dd_flash_abort_download(self->cfg.flash);
  if (old != session) s_emit(self, DD_UDS_EV_SESSION, old, session, now);
  s_restart_s3(self, now);
}

/* Power-on state (also after ECUReset). Attempt counters and delay timers survive, so that
 * resetting the ECU does not reopen brute forcing of the key (ISO 14229-1:2013 9.4.1 leaves
 * this to the manufacturer). */
static void s_power_on(dd_uds_server_t *self, uint64_t now, uint8_t type) {
  memset(&self->job, 0, sizeof self->job);
  s_end_non_default(self, now, false);
  self->unlocked = 0;
  self->seed_level = 0;
  self->bootloader = self->cfg.flash ? !dd_flash_boot(self->cfg.flash, now) : false;
  self->session = self->bootloader ? DD_UDS_SESSION_PROGRAMMING : DD_UDS_SESSION_DEFAULT;
  s_restart_s3(self, now);
  s_emit(self, DD_UDS_EV_RESET, type, self->bootloader, now);
}

/* S3server (ISO 14229-2:2013 application layer timing): no request for S3 in a non-default
 * session returns to the default one; it does not run while a request is being processed. */
static void s_timers(dd_uds_server_t *self, uint64_t now) {
  if (self->job.active || self->s3_deadline == S_NO_TIME || now < self->s3_deadline) return;
  if (self->bootloader) {
    /* A bootloader has nowhere else to go: it stays in programming, locked. */
    s_lock(self, now);
    if (self->cfg.flash) dd_flash_abort_download(self->cfg.flash);
    self->s3_deadline = S_NO_TIME;
    s_emit(self, DD_UDS_EV_S3_TIMEOUT, self->session, self->session, now);
    return;
  }
  uint8_t old = self->session;
  s_set_session(self, DD_UDS_SESSION_DEFAULT, now);
  s_emit(self, DD_UDS_EV_S3_TIMEOUT, old, self->session, now);
}

/* ---- built-in routines of the reflash sequence (ISO 14229-1:2013 annex F) ---------------- */

/* eraseMemory: optional record ALFID + address + size; none erases the whole area. */
static int s_rt_erase(void *user, dd_uds_call_t *call) {
  dd_uds_server_t *self = user;
  uint32_t addr = 0, size = 0;
  if (call->op != DD_UDS_ROUTINE_START) return DD_UDS_NRC_SUBFUNCTION_NOT_SUPPORTED;
  if (call->in_len) {
    unsigned a = call->in[0] & 0x0F, s = call->in[0] >> 4;
    if (a < 1 || a > 4 || s < 1 || s > 4) return DD_UDS_NRC_REQUEST_OUT_OF_RANGE;
    if (call->in_len != 1 + a + s) return DD_UDS_NRC_INCORRECT_LENGTH;
    addr = s_be(call->in + 1, a);
    size = s_be(call->in + 1 + a, s);
    if (size == 0) return DD_UDS_NRC_REQUEST_OUT_OF_RANGE;
  }
  uint64_t ready = call->now;
  int rc = dd_flash_erase(self->cfg.flash, addr, size, call->now, &ready);
  if (rc == DD_ERANGE) return DD_UDS_NRC_REQUEST_OUT_OF_RANGE;
  if (rc != 0) return DD_UDS_NRC_CONDITIONS_NOT_CORRECT;
  call->ready_at = ready;
  call->out_len = 0;
  return 0;
}

/* checkProgrammingDependencies: optional record = expected CRC-32 of the area (4 bytes, big
 * endian); the status byte is a dd_flash_check_t. */
static int s_rt_check(void *user, dd_uds_call_t *call) {
  dd_uds_server_t *self = user;
  if (call->op != DD_UDS_ROUTINE_START) return DD_UDS_NRC_SUBFUNCTION_NOT_SUPPORTED;
  if (call->in_len != 0 && call->in_len != 4) return DD_UDS_NRC_INCORRECT_LENGTH;
  if (call->out_cap < 1) return DD_UDS_NRC_RESPONSE_TOO_LONG;
  uint64_t ready = call->now;
  dd_flash_check_t st =
      dd_flash_check(self->cfg.flash, call->in_len == 4, call->in_len == 4 ? s_be(call->in, 4) : 0,
                     call->now, &ready);
  call->out[0] = (uint8_t)st;
  call->out_len = 1;
  call->ready_at = ready;
  return 0;
}

/* ---- service handlers: each returns 0 (c->out holds the positive response) or an NRC ---- */

/* DiagnosticSessionControl (ISO 14229-1:2013 9.2): 50 type P2(1 ms) P2*(10 ms). */
static int s_dsc(dd_uds_server_t *self, s_ctx_t *c) {
  if (c->len != 2) return DD_UDS_NRC_INCORRECT_LENGTH;
  if (self->bootloader && c->sub != DD_UDS_SESSION_PROGRAMMING)
    return DD_UDS_NRC_CONDITIONS_NOT_CORRECT; /* no valid application to run it */
  if (c->sub == DD_UDS_SESSION_PROGRAMMING) {
    int rc = s_pre(self, self->cfg.prog_preconditions);
    if (rc) return rc;
  }
  if (!s_room(c, 6)) return DD_UDS_NRC_RESPONSE_TOO_LONG;
  uint64_t p2 = self->cfg.p2_us / 1000, p2x = self->cfg.p2x_us / 10000;
  s_put(c, 0x50);
  s_put(c, c->sub);
  s_put16(c, (uint16_t)(p2 > 0xFFFF ? 0xFFFF : p2));
  s_put16(c, (uint16_t)(p2x > 0xFFFF ? 0xFFFF : p2x));
  s_set_session(self, c->sub, c->now);
  return 0;
}

/* ECUReset (ISO 14229-1:2013 9.3): 51 type; the reset happens after the response. */
static int s_er(dd_uds_server_t *self, s_ctx_t *c) {
  if (c->len != 2) return DD_UDS_NRC_INCORRECT_LENGTH;
  if (self->cfg.on_reset) {
    int rc = s_nrc_of(self->cfg.on_reset(self->cfg.user, c->sub, c->now));
    if (rc) return rc;
  }
  s_put(c, 0x51);
  s_put(c, c->sub);
  c->reset = true;
  c->reset_type = c->sub;
  return 0;
}

/* ClearDiagnosticInformation (ISO 14229-1:2013 11.2): 14 groupOfDTC(3) -> 54. */
static int s_cdtci(dd_uds_server_t *self, s_ctx_t *c) {
  if (c->len != 4) return DD_UDS_NRC_INCORRECT_LENGTH;
  if (dd_dtc_clear(self->cfg.dtc, s_be(c->req + 1, 3)) != 0) return DD_UDS_NRC_REQUEST_OUT_OF_RANGE;
  s_put(c, 0x54);
  return 0;
}

/* ReadDTCInformation (ISO 14229-1:2013 11.3), report types 01, 02, 04, 06, 0A. */
static int s_rdtci(dd_uds_server_t *self, s_ctx_t *c) {
  const dd_dtc_t *dtc = self->cfg.dtc;
  uint8_t avail = dd_dtc_availability(dtc);
  switch (c->sub) {
  case DD_UDS_RDTCI_COUNT_BY_MASK: {
    if (c->len != 3) return DD_UDS_NRC_INCORRECT_LENGTH;
    size_t count = dd_dtc_count_by_mask(dtc, c->req[2]);
    s_put(c, 0x59);
    s_put(c, c->sub);
    s_put(c, avail);
    s_put(c, DD_UDS_DTC_FORMAT_14229);
    s_put16(c, (uint16_t)(count > 0xFFFF ? 0xFFFF : count));
    return 0;
  }
  case DD_UDS_RDTCI_BY_MASK:
  case DD_UDS_RDTCI_SUPPORTED: {
    bool all = c->sub == DD_UDS_RDTCI_SUPPORTED;
    if (c->len != (all ? 2u : 3u)) return DD_UDS_NRC_INCORRECT_LENGTH;
    uint8_t mask = all ? 0xFF : c->req[2];
    s_put(c, 0x59);
    s_put(c, c->sub);
    s_put(c, avail);
    uint32_t code;
    uint8_t st;
    for (size_t i = 0; dd_dtc_at(dtc, i, &code, &st) == 0; i++) {
      if (!all && !(st & mask)) continue;
      if (!s_room(c, 4)) return DD_UDS_NRC_RESPONSE_TOO_LONG;
      s_put24(c, code);
      s_put(c, st);
    }
    return 0;
  }
  case DD_UDS_RDTCI_SNAPSHOT_BY_DTC:
  case DD_UDS_RDTCI_EXT_DATA_BY_DTC: {
    if (c->len != 6) return DD_UDS_NRC_INCORRECT_LENGTH;
    bool snap = c->sub == DD_UDS_RDTCI_SNAPSHOT_BY_DTC;
    uint32_t code = s_be(c->req + 2, 3);
    uint8_t rec = c->req[5], st;
    if (dd_dtc_status(dtc, code, &st) != 0) return DD_UDS_NRC_REQUEST_OUT_OF_RANGE;
    if (rec != DD_DTC_RECORD_ALL &&
        !(snap ? dd_dtc_snapshot_supported(dtc, rec) : dd_dtc_extended_supported(dtc, rec)))
      return DD_UDS_NRC_REQUEST_OUT_OF_RANGE;
    if (!s_room(c, 6)) return DD_UDS_NRC_RESPONSE_TOO_LONG;
    s_put(c, 0x59);
    s_put(c, c->sub);
    s_put24(c, code);
    s_put(c, st);
    uint8_t num;
    for (size_t i = 0;; i++) {
      if (snap) {
        const uint8_t *data;
        size_t n;
        if (dd_dtc_snapshot_at(dtc, code, i, &num, &data, &n) != 0) break;
        if (rec != DD_DTC_RECORD_ALL && num != rec) continue;
        if (!s_room(c, 1 + n)) return DD_UDS_NRC_RESPONSE_TOO_LONG;
        s_put(c, num);
        memcpy(c->out + c->n, data, n);
        c->n += n;
      } else {
        size_t n = 0;
        if (!s_room(c, 1)) return DD_UDS_NRC_RESPONSE_TOO_LONG;
        int rc = dd_dtc_extended_at(dtc, code, i, &num, c->out + c->n + 1, c->cap - c->n - 1, &n);
        if (rc == DD_ENOSPC) return DD_UDS_NRC_RESPONSE_TOO_LONG;
        if (rc != 0) break;
        if (rec != DD_DTC_RECORD_ALL && num != rec) continue;
        c->out[c->n] = num;
        c->n += 1 + n;
      }
    }
    return 0;
  }
  default: return DD_UDS_NRC_SUBFUNCTION_NOT_SUPPORTED;
  }
}

/* DIDs the server answers by itself when the configuration does not define them. */
static bool s_builtin_did(const dd_uds_server_t *self, uint16_t id, uint8_t *out, size_t cap,
                          size_t *len) {
  if (id == DD_UDS_DID_ACTIVE_SESSION) {
    if (cap < 1) return false;
    out[0] = self->session;
    *len = 1;
    return true;
  }
  if (self->cfg.flash && (id == DD_UDS_DID_VM_SW_VERSION || id == DD_UDS_DID_SUPPLIER_SW_VERSION)) {
    const char *v = dd_flash_version(self->cfg.flash);
    size_t n = strlen(v);
    if (n > cap) return false;
    memcpy(out, v, n);
    *len = n;
    return true;
  }
  return false;
}

/* ReadDataByIdentifier (ISO 14229-1:2013 10.2): unsupported DIDs are left out of the response;
 * 0x31 only when none is supported in the active session; 0x14 is checked last. */
static int s_rdbi(dd_uds_server_t *self, s_ctx_t *c) {
  if (c->len < 3 || (c->len - 1) % 2) return DD_UDS_NRC_INCORRECT_LENGTH;
  if ((c->len - 1) / 2 > self->cfg.max_dids_per_read) return DD_UDS_NRC_INCORRECT_LENGTH;
  bool any = false, too_long = false;
  s_put(c, 0x62);
  for (size_t i = 1; i < c->len; i += 2) {
    uint16_t id = s_be16(c->req + i);
    s_did_t *d = s_find_did(self, id);
    const uint8_t *val = NULL;
    size_t n = 0;
    if (d) {
      if (!s_in_or_all(d->def.read_sessions, self->session)) continue;
      if (!s_sec_ok(self, d->def.read_security)) return DD_UDS_NRC_SECURITY_ACCESS_DENIED;
      if (d->def.read) {
        int rc = s_nrc_of(d->def.read(d->def.user, id, self->scratch, self->buf_cap, &n, c->now));
        if (rc) return rc;
        if (n > self->buf_cap) return DD_UDS_NRC_GENERAL_REJECT;
        val = self->scratch;
      } else {
        val = d->value;
        n = d->len;
      }
    } else if (s_builtin_did(self, id, self->scratch, self->buf_cap, &n)) {
      val = self->scratch;
    } else {
      continue;
    }
    any = true;
    if (too_long || !s_room(c, 2 + n)) {
      too_long = true;
      continue;
    }
    s_put16(c, id);
    if (n) memcpy(c->out + c->n, val, n);
    c->n += n;
  }
  if (!any) return DD_UDS_NRC_REQUEST_OUT_OF_RANGE;
  if (too_long) return DD_UDS_NRC_RESPONSE_TOO_LONG;
  return 0;
}

/* addressAndLengthFormatIdentifier (ISO 14229-1:2013 10.3 and 14.2): low nibble = memoryAddress
 * bytes, high nibble = memorySize bytes; 1-4 each are supported here. */
static bool s_alfid(uint8_t alfid, unsigned *a, unsigned *s) {
  *a = alfid & 0x0F;
  *s = alfid >> 4;
  return *a >= 1 && *a <= 4 && *s >= 1 && *s <= 4;
}

/* ReadMemoryByAddress (ISO 14229-1:2013 10.3): 23 ALFID addr size -> 63 data. */
static int s_rmba(dd_uds_server_t *self, s_ctx_t *c) {
  unsigned a, s;
  if (c->len < 4) return DD_UDS_NRC_INCORRECT_LENGTH;
  if (!s_alfid(c->req[1], &a, &s)) return DD_UDS_NRC_REQUEST_OUT_OF_RANGE;
  if (c->len != 2 + a + s) return DD_UDS_NRC_INCORRECT_LENGTH;
  uint32_t addr = s_be(c->req + 2, a), size = s_be(c->req + 2 + a, s);
  if (size == 0) return DD_UDS_NRC_REQUEST_OUT_OF_RANGE;
  if (!self->cfg.read_memory) {
    dd_flash_t *f = self->cfg.flash;
    if (!f || addr < dd_flash_base(f) ||
        (uint64_t)addr - dd_flash_base(f) + size > dd_flash_size(f))
      return DD_UDS_NRC_REQUEST_OUT_OF_RANGE;
  }
  if (!s_room(c, 1 + (size_t)size)) return DD_UDS_NRC_RESPONSE_TOO_LONG;
  s_put(c, 0x63);
  int rc;
  if (self->cfg.read_memory)
    rc = s_nrc_of(self->cfg.read_memory(self->cfg.user, addr, size, c->out + 1, c->now));
  else
    rc = dd_flash_read(self->cfg.flash, addr, size, c->out + 1, c->now) == 0
             ? 0
             : DD_UDS_NRC_REQUEST_OUT_OF_RANGE;
  if (rc) return rc;
  c->n += size;
  return 0;
}

/* SecurityAccess (ISO 14229-1:2013 9.4). requestSeed (odd): 67 level seed, all zeros when the
 * level is already unlocked; sendKey (even): 67 level+1. Invalid keys count; at max_attempts
 * the answer is 0x36 and the delay timer starts, during which 0x37 answers. */
static int s_sa(dd_uds_server_t *self, s_ctx_t *c) {
  uint8_t level = (c->sub & 1) ? c->sub : (uint8_t)(c->sub - 1);
  s_sec_t *sec = s_find_sec(self, level);
  assert(sec); /* s_check_sub made sure */
  if (c->sub & 1) {
    if (c->now < sec->delay_until) return DD_UDS_NRC_REQUIRED_TIME_DELAY_NOT_EXPIRED;
    if (!s_room(c, 2 + (size_t)sec->def.seed_len)) return DD_UDS_NRC_RESPONSE_TOO_LONG;
    s_put(c, 0x67);
    s_put(c, c->sub);
    if (self->unlocked == level) {
      memset(c->out + c->n, 0, sec->def.seed_len);
    } else {
      if (self->seed_level != level) {
        /* A new seed; a repeated requestSeed gets the same one until a key is tried. */
        bool zero = true;
        for (unsigned i = 0; i < sec->def.seed_len; i++) {
          self->seed[i] = (uint8_t)dd_rng_u64(&self->rng);
          zero = zero && self->seed[i] == 0;
        }
        if (zero) self->seed[sec->def.seed_len - 1] = 1; /* zero means "unlocked" */
        self->seed_level = level;
      }
      memcpy(c->out + c->n, self->seed, sec->def.seed_len);
    }
    c->n += sec->def.seed_len;
    return 0;
  }
  /* sendKey: the sequence check comes before the length check (figure 6 of 7.5). */
  if (self->seed_level != level) return DD_UDS_NRC_REQUEST_SEQUENCE_ERROR;
  if (c->len != 2 + (size_t)sec->def.key_len) return DD_UDS_NRC_INCORRECT_LENGTH;
  uint8_t key[S_KEY_MAX];
  if (sec->def.key) {
    if (sec->def.key(sec->def.user, level, self->seed, sec->def.seed_len, key, sec->def.key_len))
      return DD_UDS_NRC_CONDITIONS_NOT_CORRECT;
  } else {
    dd_uds_toy_key(sec->def.secret, self->seed, sec->def.seed_len, key, sec->def.key_len);
  }
  self->seed_level = 0; /* a seed serves one key */
  if (memcmp(key, c->req + 2, sec->def.key_len) != 0) {
    if (++sec->attempts >= sec->def.max_attempts) {
      sec->attempts = 0;
      sec->delay_until = c->now + sec->def.delay_us;
      s_emit(self, DD_UDS_EV_LOCKOUT, level, 0, c->now);
      return DD_UDS_NRC_EXCEEDED_NUMBER_OF_ATTEMPTS;
    }
    return DD_UDS_NRC_INVALID_KEY;
  }
  sec->attempts = 0;
  self->unlocked = level;
  s_emit(self, DD_UDS_EV_SECURITY, level, 0, c->now);
  s_put(c, 0x67);
  s_put(c, c->sub);
  return 0;
}

/* CommunicationControl (ISO 14229-1:2013 9.5): 28 controlType communicationType -> 68 type.
 * Types 00-03 (04/05 with a node id are not supported). */
static int s_cc(dd_uds_server_t *self, s_ctx_t *c) {
  if (c->len != 3) return DD_UDS_NRC_INCORRECT_LENGTH;
  uint8_t comm = c->req[2];
  if ((comm & 0x03) == 0) return DD_UDS_NRC_REQUEST_OUT_OF_RANGE;
  if (self->cfg.on_comm_control) {
    int rc = s_nrc_of(self->cfg.on_comm_control(self->cfg.user, c->sub, comm, c->now));
    if (rc) return rc;
  }
  self->comm_control = c->sub;
  self->comm_type = comm;
  s_put(c, 0x68);
  s_put(c, c->sub);
  return 0;
}

/* WriteDataByIdentifier (ISO 14229-1:2013 10.7): 2E DID data -> 6E DID. */
static int s_wdbi(dd_uds_server_t *self, s_ctx_t *c) {
  if (c->len < 4) return DD_UDS_NRC_INCORRECT_LENGTH;
  uint16_t id = s_be16(c->req + 1);
  s_did_t *d = s_find_did(self, id);
  if (!d || !s_in(d->def.write_sessions, self->session)) return DD_UDS_NRC_REQUEST_OUT_OF_RANGE;
  size_t n = c->len - 3;
  if (d->fixed ? n != d->fixed : n > d->room) return DD_UDS_NRC_INCORRECT_LENGTH;
  if (!s_sec_ok(self, d->def.write_security)) return DD_UDS_NRC_SECURITY_ACCESS_DENIED;
  if (d->def.write) {
    int rc = s_nrc_of(d->def.write(d->def.user, id, c->req + 3, n, c->now));
    if (rc) return rc;
  }
  memcpy(d->value, c->req + 3, n);
  d->len = n;
  s_put(c, 0x6E);
  s_put16(c, id);
  return 0;
}

/* InputOutputControlByIdentifier (ISO 14229-1:2013 12.2): 2F DID param [state] [mask] ->
 * 6F DID param [status]. */
static int s_iocbi(dd_uds_server_t *self, s_ctx_t *c) {
  if (c->len < 4) return DD_UDS_NRC_INCORRECT_LENGTH;
  uint16_t id = s_be16(c->req + 1);
  uint8_t param = c->req[3];
  s_io_t *io = s_find_io(self, id);
  if (!io || !s_in_or_all(io->def.sessions, self->session) || param > 3 ||
      !(io->def.params & (1u << param)))
    return DD_UDS_NRC_REQUEST_OUT_OF_RANGE;
  size_t state = param == DD_UDS_IO_SHORT_TERM ? io->def.state_len : 0;
  if (c->len != 4 + state + io->def.mask_len) return DD_UDS_NRC_INCORRECT_LENGTH;
  if (!s_sec_ok(self, io->def.security)) return DD_UDS_NRC_SECURITY_ACCESS_DENIED;
  int rc = s_pre(self, io->def.preconditions);
  if (rc) return rc;
  if (!s_room(c, 4)) return DD_UDS_NRC_RESPONSE_TOO_LONG;
  s_put(c, 0x6F);
  s_put16(c, id);
  s_put(c, param);
  dd_uds_call_t call = {.id = id,
                        .op = param,
                        .in = state ? c->req + 4 : NULL,
                        .in_len = state,
                        .mask = io->def.mask_len ? c->req + 4 + state : NULL,
                        .mask_len = io->def.mask_len,
                        .out = c->out + c->n,
                        .out_cap = c->cap - c->n,
                        .now = c->now,
                        .ready_at = c->now};
  if (io->def.fn) {
    rc = s_nrc_of(io->def.fn(io->def.user, &call));
    if (rc) return rc;
  } else if (state) {
    if (call.out_cap < state) return DD_UDS_NRC_RESPONSE_TOO_LONG;
    memcpy(call.out, call.in, state);
    call.out_len = state;
  }
  if (call.out_len > call.out_cap) return DD_UDS_NRC_GENERAL_REJECT;
  c->n += call.out_len;
  io->active = param != DD_UDS_IO_RETURN_CONTROL;
  if (call.ready_at > c->ready_at) c->ready_at = call.ready_at;
  return 0;
}

/* RoutineControl (ISO 14229-1:2013 13.2; check order of ISO 14229-1:2020 figure for 0x31:
 * length, RID in session 0x31, RID security 0x33, type for the RID 0x12, conditions, 0x24). */
static int s_rc(dd_uds_server_t *self, s_ctx_t *c) {
  if (c->len < 4) return DD_UDS_NRC_INCORRECT_LENGTH;
  uint8_t type = c->req[1] & 0x7F;
  uint16_t id = s_be16(c->req + 2);
  s_routine_t *r = s_find_routine(self, id);
  if (!r || !s_in_or_all(r->def.sessions, self->session)) return DD_UDS_NRC_REQUEST_OUT_OF_RANGE;
  if (!s_sec_ok(self, r->def.security)) return DD_UDS_NRC_SECURITY_ACCESS_DENIED;
  if (type < 1 || type > 3 || !(r->def.ops & (1u << type)))
    return DD_UDS_NRC_SUBFUNCTION_NOT_SUPPORTED;
  int rc = s_pre(self, r->def.preconditions);
  if (rc) return rc;
  if ((type == DD_UDS_ROUTINE_STOP && !r->running) ||
      (type == DD_UDS_ROUTINE_RESULTS && !r->started))
    return DD_UDS_NRC_REQUEST_SEQUENCE_ERROR;
  if (!s_room(c, 4)) return DD_UDS_NRC_RESPONSE_TOO_LONG;
  s_put(c, 0x71);
  s_put(c, type);
  s_put16(c, id);
  dd_uds_call_t call = {.id = id,
                        .op = type,
                        .in = c->len > 4 ? c->req + 4 : NULL,
                        .in_len = c->len - 4,
                        .out = c->out + c->n,
                        .out_cap = c->cap - c->n,
                        .now = c->now,
                        .ready_at = c->now};
  if (r->def.fn) {
    rc = s_nrc_of(r->def.fn(r->def.user, &call));
    if (rc) return rc;
  }
  if (call.out_len > call.out_cap) return DD_UDS_NRC_GENERAL_REJECT;
  c->n += call.out_len;
  if (type == DD_UDS_ROUTINE_START) r->started = r->running = true;
  if (type == DD_UDS_ROUTINE_STOP) r->running = false;
  if (call.ready_at > c->ready_at) c->ready_at = call.ready_at;
  return 0;
}

/* RequestDownload (ISO 14229-1:2013 14.2): 34 DFI ALFID addr size -> 74 LFID
 * maxNumberOfBlockLength (counting the SID and the block counter of 0x36). */
static int s_rd(dd_uds_server_t *self, s_ctx_t *c) {
  unsigned a, s;
  dd_flash_t *f = self->cfg.flash;
  if (c->len < 5) return DD_UDS_NRC_INCORRECT_LENGTH;
  if (c->req[1] != 0x00 || !s_alfid(c->req[2], &a, &s)) return DD_UDS_NRC_REQUEST_OUT_OF_RANGE;
  if (c->len != 3 + a + s) return DD_UDS_NRC_INCORRECT_LENGTH;
  uint32_t addr = s_be(c->req + 3, a), size = s_be(c->req + 3 + a, s);
  if (size == 0 || addr < dd_flash_base(f) ||
      (uint64_t)addr - dd_flash_base(f) + size > dd_flash_size(f))
    return DD_UDS_NRC_REQUEST_OUT_OF_RANGE;
  int rc = s_pre(self, self->cfg.flash_preconditions);
  if (rc) return rc;
  if (dd_flash_download_open(f)) return DD_UDS_NRC_CONDITIONS_NOT_CORRECT;
  rc = dd_flash_download(f, addr, size, c->req[1], c->now);
  if (rc == DD_EPERM) return DD_UDS_NRC_UPLOAD_DOWNLOAD_NOT_ACCEPTED;
  if (rc == DD_ERANGE || rc == DD_ENOTSUP) return DD_UDS_NRC_REQUEST_OUT_OF_RANGE;
  if (rc) return DD_UDS_NRC_CONDITIONS_NOT_CORRECT;
  uint32_t mnbl = dd_flash_max_block_length(f);
  if (mnbl > self->cfg.max_request) mnbl = (uint32_t)self->cfg.max_request;
  if (!s_room(c, 6)) {
    dd_flash_abort_download(f);
    return DD_UDS_NRC_RESPONSE_TOO_LONG;
  }
  s_put(c, 0x74);
  if (mnbl <= 0xFFFF) {
    s_put(c, 0x20);
    s_put16(c, (uint16_t)mnbl);
  } else {
    s_put(c, 0x40);
    s_put16(c, (uint16_t)(mnbl >> 16));
    s_put16(c, (uint16_t)mnbl);
  }
  return 0;
}

/* TransferData (ISO 14229-1:2013 14.4): 36 counter data -> 76 counter. Order: 0x13 (length),
 * 0x24 (no download), voltage, then the flash: repeated block (positive, not rewritten),
 * 0x71 (beyond memorySize), 0x73 (counter), 0x72 (write failed). */
static int s_td(dd_uds_server_t *self, s_ctx_t *c) {
  dd_flash_t *f = self->cfg.flash;
  if (c->len < 2) return DD_UDS_NRC_INCORRECT_LENGTH;
  if (!dd_flash_download_open(f)) return DD_UDS_NRC_REQUEST_SEQUENCE_ERROR;
  int rc = s_pre(self, self->cfg.flash_preconditions);
  if (rc) return rc;
  uint64_t ready = c->now;
  rc = dd_flash_transfer(f, c->req[1], c->req + 2, c->len - 2, c->now, &ready);
  switch (rc) {
  case 0:
  case 1: break;
  case DD_EPROTO: return DD_UDS_NRC_REQUEST_SEQUENCE_ERROR;
  case DD_EMSGSIZE: return DD_UDS_NRC_INCORRECT_LENGTH;
  case DD_ERANGE: return DD_UDS_NRC_TRANSFER_DATA_SUSPENDED;
  case DD_EILSEQ: return DD_UDS_NRC_WRONG_BLOCK_SEQUENCE_COUNTER;
  default: return DD_UDS_NRC_GENERAL_PROGRAMMING_FAILURE;
  }
  s_put(c, 0x76);
  s_put(c, c->req[1]);
  c->ready_at = ready;
  return 0;
}

/* RequestTransferExit (ISO 14229-1:2013 14.5): 37 [CRC-32(4)] -> 77 CRC-32(4) of the data. */
static int s_rte(dd_uds_server_t *self, s_ctx_t *c) {
  dd_flash_t *f = self->cfg.flash;
  if (!dd_flash_download_open(f)) return DD_UDS_NRC_REQUEST_SEQUENCE_ERROR;
  if (c->len != 1 && c->len != 5) return DD_UDS_NRC_INCORRECT_LENGTH;
  uint32_t crc = 0;
  int rc =
      dd_flash_transfer_exit(f, c->now, c->len == 5, c->len == 5 ? s_be(c->req + 1, 4) : 0, &crc);
  if (rc == DD_EPROTO) return DD_UDS_NRC_REQUEST_SEQUENCE_ERROR;
  if (rc) return DD_UDS_NRC_GENERAL_PROGRAMMING_FAILURE;
  if (!s_room(c, 5)) return DD_UDS_NRC_RESPONSE_TOO_LONG;
  s_put(c, 0x77);
  s_put16(c, (uint16_t)(crc >> 16));
  s_put16(c, (uint16_t)crc);
  return 0;
}

/* TesterPresent (ISO 14229-1:2013 9.6): 3E 00 -> 7E 00. */
static int s_tp(dd_uds_server_t *self, s_ctx_t *c) {
  (void)self;
  if (c->len != 2) return DD_UDS_NRC_INCORRECT_LENGTH;
  s_put(c, 0x7E);
  s_put(c, 0x00);
  return 0;
}

/* ControlDTCSetting (ISO 14229-1:2013 9.9): 85 01|02 [FF FF FF] -> C5 type. */
static int s_cdtcs(dd_uds_server_t *self, s_ctx_t *c) {
  if (c->len != 2 && c->len != 5) return DD_UDS_NRC_INCORRECT_LENGTH;
  if (c->len == 5 && s_be(c->req + 2, 3) != DD_UDS_DTC_GROUP_ALL)
    return DD_UDS_NRC_REQUEST_OUT_OF_RANGE;
  dd_dtc_set_setting(self->cfg.dtc, c->sub == 0x01);
  s_put(c, 0xC5);
  s_put(c, c->sub);
  return 0;
}

/* Sub-function checks of ISO 14229-1:2013 7.5 figure 6: supported (0x12), supported in the
 * active session (0x7E). */
static int s_check_sub(const dd_uds_server_t *self, uint8_t sid, uint8_t sub) {
  switch (sid) {
  case DD_UDS_SID_DSC:
    if (sub >= 32 || !s_in(self->cfg.sessions, sub)) return DD_UDS_NRC_SUBFUNCTION_NOT_SUPPORTED;
    if (sub == DD_UDS_SESSION_PROGRAMMING && self->session == DD_UDS_SESSION_DEFAULT &&
        !self->cfg.prog_from_default)
      return DD_UDS_NRC_SUBFUNCTION_NOT_SUPPORTED_IN_SESSION;
    return 0;
  case DD_UDS_SID_ER:
    return sub < 8 && (self->cfg.reset_types & (1u << sub)) ? 0
                                                            : DD_UDS_NRC_SUBFUNCTION_NOT_SUPPORTED;
  case DD_UDS_SID_RDTCI:
    return sub == DD_UDS_RDTCI_COUNT_BY_MASK || sub == DD_UDS_RDTCI_BY_MASK ||
                   sub == DD_UDS_RDTCI_SNAPSHOT_BY_DTC || sub == DD_UDS_RDTCI_EXT_DATA_BY_DTC ||
                   sub == DD_UDS_RDTCI_SUPPORTED
               ? 0
               : DD_UDS_NRC_SUBFUNCTION_NOT_SUPPORTED;
  case DD_UDS_SID_SA: {
    if (sub == 0 || sub > 0x7E) return DD_UDS_NRC_SUBFUNCTION_NOT_SUPPORTED;
    const s_sec_t *sec = s_find_sec(self, (sub & 1) ? sub : (uint8_t)(sub - 1));
    if (!sec) return DD_UDS_NRC_SUBFUNCTION_NOT_SUPPORTED;
    if (!s_in(sec->def.sessions, self->session))
      return DD_UDS_NRC_SUBFUNCTION_NOT_SUPPORTED_IN_SESSION;
    return 0;
  }
  case DD_UDS_SID_CC: return sub <= 0x03 ? 0 : DD_UDS_NRC_SUBFUNCTION_NOT_SUPPORTED;
  case DD_UDS_SID_TP: return sub == 0x00 ? 0 : DD_UDS_NRC_SUBFUNCTION_NOT_SUPPORTED;
  case DD_UDS_SID_CDTCS:
    return sub == 0x01 || sub == 0x02 ? 0 : DD_UDS_NRC_SUBFUNCTION_NOT_SUPPORTED;
  default: return 0;
  }
}

/* The general server response behaviour of ISO 14229-1:2013 7.5, figure 5 (all requests:
 * 0x11 SID supported, 0x7F SID in the active session, 0x33 SID security) and figure 6
 * (requests with sub-function: 0x13 minimum length, 0x12, 0x7E), then the service's own
 * checks. RoutineControl takes its own order (ISO 14229-1:2020 excludes 0x31 from figure 6).
 * So a malformed request for a service not allowed in the session gets 0x7F, not 0x13. */
static int s_process(dd_uds_server_t *self, s_ctx_t *c) {
  uint8_t sid = c->req[0];
  const dd_uds_service_t *svc = s_find_service(self, sid);
  if (!svc) return DD_UDS_NRC_SERVICE_NOT_SUPPORTED;
  if (!s_in(svc->sessions, self->session) || (self->bootloader && !s_boot_service(sid)))
    return DD_UDS_NRC_SERVICE_NOT_SUPPORTED_IN_SESSION;
  if (!s_sec_ok(self, svc->security)) return DD_UDS_NRC_SECURITY_ACCESS_DENIED;
  if (s_has_sub(sid) && sid != DD_UDS_SID_RC) {
    if (c->len < 2) return DD_UDS_NRC_INCORRECT_LENGTH;
    c->sub = c->req[1] & 0x7F;
    int rc = s_check_sub(self, sid, c->sub);
    if (rc) return rc;
  }
  switch (sid) {
  case DD_UDS_SID_DSC: return s_dsc(self, c);
  case DD_UDS_SID_ER: return s_er(self, c);
  case DD_UDS_SID_CDTCI: return s_cdtci(self, c);
  case DD_UDS_SID_RDTCI: return s_rdtci(self, c);
  case DD_UDS_SID_RDBI: return s_rdbi(self, c);
  case DD_UDS_SID_RMBA: return s_rmba(self, c);
  case DD_UDS_SID_SA: return s_sa(self, c);
  case DD_UDS_SID_CC: return s_cc(self, c);
  case DD_UDS_SID_WDBI: return s_wdbi(self, c);
  case DD_UDS_SID_IOCBI: return s_iocbi(self, c);
  case DD_UDS_SID_RC: return s_rc(self, c);
  case DD_UDS_SID_RD: return s_rd(self, c);
  case DD_UDS_SID_TD: return s_td(self, c);
  case DD_UDS_SID_RTE: return s_rte(self, c);
  case DD_UDS_SID_TP: return s_tp(self, c);
  case DD_UDS_SID_CDTCS: return s_cdtcs(self, c);
  default: return DD_UDS_NRC_SERVICE_NOT_SUPPORTED; /* in the table but not implemented */
  }
}

/* ---- faults ------------------------------------------------------------------------------ */

static const s_fault_t *s_fault_take(dd_uds_server_t *self, const uint8_t *req, size_t len) {
  for (size_t i = 0; i < DD_UDS_FAULTS_MAX; i++) {
    s_fault_t *f = &self->faults[i];
    if (!f->used || len < f->f.match_len || memcmp(req, f->f.match, f->f.match_len) != 0) continue;
    if (f->skip_left) {
      f->skip_left--;
      continue;
    }
    if (f->f.count && --f->count_left == 0) f->used = false; /* last use; slot stays readable */
    return f;
  }
  return NULL;
}

int dd_uds_server_inject(dd_uds_server_t *self, const dd_uds_fault_t *fault) {
  assert(self && fault);
  if (fault->kind < DD_UDS_FAULT_NRC || fault->kind > DD_UDS_FAULT_SLOW) return DD_EINVAL;
  if (fault->match_len > DD_UDS_FAULT_MATCH_MAX) return DD_EINVAL;
  /* 0x00-0x0F are not negative response codes (ISO 14229-1:2013 annex A); 0x78 is the
   * pending mechanism, injected with DD_UDS_FAULT_PENDING_FOREVER / _SLOW instead. */
  if (fault->kind == DD_UDS_FAULT_NRC &&
      (fault->nrc < 0x10 || fault->nrc == DD_UDS_NRC_RESPONSE_PENDING))
    return DD_EINVAL;
  /* Compact the used slots to the front (faults match in injection order), then append. */
  size_t n = 0;
  for (size_t i = 0; i < DD_UDS_FAULTS_MAX; i++)
    if (self->faults[i].used) self->faults[n++] = self->faults[i];
  for (size_t i = n; i < DD_UDS_FAULTS_MAX; i++)
    self->faults[i].used = false;
  if (n == DD_UDS_FAULTS_MAX) return DD_ENOSPC;
  self->faults[n] =
      (s_fault_t){.f = *fault, .used = true, .skip_left = fault->skip, .count_left = fault->count};
  return 0;
}

void dd_uds_server_clear_faults(dd_uds_server_t *self) {
  assert(self);
  for (size_t i = 0; i < DD_UDS_FAULTS_MAX; i++)
    self->faults[i].used = false;
  if (self->job.active && self->job.forever) self->job.active = false;
}

/* ---- request / poll ---------------------------------------------------------------------- */

static int s_out3(uint8_t *resp, size_t *resp_len, uint8_t a, uint8_t b, uint8_t c) {
  resp[0] = a;
  resp[1] = b;
  resp[2] = c;
  *resp_len = 3;
  return 1;
}

/* What the job has to send at now: the final response when ready (priority), else a due
 * 7F SID 78, repeated every P2* - margin (ISO 14229-2:2013 P2*server; a 0x78 before the final
 * response obliges the server to send it even with SPRMIB set, ISO 14229-1:2013 annex A). */
static int s_job_step(dd_uds_server_t *self, uint64_t now, uint8_t *resp, size_t cap,
                      size_t *resp_len) {
  s_job_t *j = &self->job;
  if (!j->active) return 0;
  if (!j->forever && now >= j->ready_at) {
    bool send = !j->drop && !(j->suppress && j->rp_count == 0);
    if (send && cap < j->len) return DD_ENOSPC;
    j->active = false;
    s_restart_s3(self, now);
    if (!send) return 0;
    memcpy(resp, self->buf, j->len);
    *resp_len = j->len;
    return 1;
  }
  if (now >= j->next_rp) {
    uint64_t every = self->cfg.p2x_us > self->cfg.p2x_margin_us
                         ? self->cfg.p2x_us - self->cfg.p2x_margin_us
                         : self->cfg.p2x_us / 2 + 1;
    j->rp_count++;
    j->next_rp = now + every;
    s_emit(self, DD_UDS_EV_PENDING, j->sid, (uint8_t)(j->rp_count > 255 ? 255 : j->rp_count), now);
    if (j->drop) return 0;
    return s_out3(resp, resp_len, DD_UDS_SID_NEGATIVE, j->sid, DD_UDS_NRC_RESPONSE_PENDING);
  }
  return 0;
}

int dd_uds_server_request(dd_uds_server_t *self, const uint8_t *req, size_t len, bool functional,
                          uint64_t now, uint8_t *resp, size_t cap, size_t *resp_len) {
  assert(self && resp && resp_len);
  assert(req || !len);
  *resp_len = 0;
  if (cap < 3) return DD_ENOSPC;
  s_timers(self, now);
  if (len == 0 || now < self->deaf_until) return 0;
  uint8_t sid = req[0];
  bool sprmib = s_has_sub(sid) && len >= 2 && (req[1] & DD_UDS_SPRMIB);

  if (self->job.active) {
    /* One request at a time (ISO 14229-2); a suppressed TesterPresent just keeps alive. */
    if (sid == DD_UDS_SID_TP && len == 2 && req[1] == DD_UDS_SPRMIB) return 0;
    s_emit(self, DD_UDS_EV_BUSY, sid, 0, now);
    return s_out3(resp, resp_len, DD_UDS_SID_NEGATIVE, sid, DD_UDS_NRC_BUSY_REPEAT_REQUEST);
  }

  const s_fault_t *fault = s_fault_take(self, req, len);
  dd_uds_fault_kind_t fk = fault ? fault->f.kind : 0;
  if (fault) s_emit(self, DD_UDS_EV_FAULT, (uint8_t)fk, sid, now);
  if (fk == DD_UDS_FAULT_IGNORE) return 0;
  if (fk == DD_UDS_FAULT_NRC) {
    s_restart_s3(self, now);
    if (functional && s_functional_silent(fault->f.nrc)) return 0;
    return s_out3(resp, resp_len, DD_UDS_SID_NEGATIVE, sid, fault->f.nrc);
  }
  if (fk == DD_UDS_FAULT_PENDING_FOREVER) {
    self->job = (s_job_t){
        .active = true, .sid = sid, .forever = true, .next_rp = now, .ready_at = S_NO_TIME};
    self->s3_deadline = S_NO_TIME;
    return s_job_step(self, now, resp, cap, resp_len);
  }

  s_ctx_t c = {.req = req, .len = len, .now = now, .out = self->buf, .ready_at = now};
  c.cap = cap < self->buf_cap ? cap : self->buf_cap;
  int rc = s_process(self, &c);
  assert(c.n <= c.cap);
  if (rc != 0) {
    self->buf[0] = DD_UDS_SID_NEGATIVE;
    self->buf[1] = sid;
    self->buf[2] = (uint8_t)rc;
    c.n = 3;
    c.ready_at = now;
    c.reset = false;
  }
  bool suppress = rc == 0 ? sprmib : (functional && s_functional_silent((uint8_t)rc));
  if (c.reset) s_power_on(self, now, c.reset_type); /* after the response is built */
  if (c.reset) self->deaf_until = now + self->cfg.reset_us;

  uint64_t hold = fk == DD_UDS_FAULT_DELAY ? fault->f.delay_us : 0;
  uint64_t ready = c.ready_at + (fk == DD_UDS_FAULT_SLOW ? fault->f.delay_us : 0);
  if (ready > now || hold) {
    /* Slow work (or a held response): answer when ready; 0x78 first when that is beyond
     * P2server (ISO 14229-1:2013 annex A, NRC 0x78). */
    uint64_t p2 =
        self->cfg.p2_us > self->cfg.p2_margin_us ? self->cfg.p2_us - self->cfg.p2_margin_us : 0;
    self->job = (s_job_t){.active = true,
                          .sid = sid,
                          .len = c.n,
                          .ready_at = ready + hold,
                          .next_rp = ready > now + p2 ? now + hold : S_NO_TIME,
                          .suppress = suppress,
                          .drop = fk == DD_UDS_FAULT_DROP};
    self->s3_deadline = S_NO_TIME;
    return s_job_step(self, now, resp, cap, resp_len);
  }
  s_restart_s3(self, now);
  if (suppress || fk == DD_UDS_FAULT_DROP) return 0;
  memcpy(resp, self->buf, c.n);
  *resp_len = c.n;
  return 1;
}

int dd_uds_server_poll(dd_uds_server_t *self, uint64_t now, uint8_t *resp, size_t cap,
                       size_t *resp_len) {
  assert(self && resp && resp_len);
  *resp_len = 0;
  if (cap < 3) return DD_ENOSPC;
  if (self->cfg.flash) dd_flash_poll(self->cfg.flash, now);
  s_timers(self, now);
  return s_job_step(self, now, resp, cap, resp_len);
}

uint64_t dd_uds_server_next_deadline(const dd_uds_server_t *self) {
  assert(self);
  if (self->job.active) {
    uint64_t t = self->job.next_rp;
    if (!self->job.forever && self->job.ready_at < t) t = self->job.ready_at;
    return t;
  }
  return self->s3_deadline;
}

void dd_uds_server_reset(dd_uds_server_t *self, uint64_t now) {
  assert(self);
  self->deaf_until = 0;
  s_power_on(self, now, 0);
}

/* ---- configuration ------------------------------------------------------------------------ */

static bool s_valid_security(const dd_uds_security_t *s) {
  return (s->level & 1) && s->level <= 0x7D && s->seed_len <= S_KEY_MAX && s->key_len <= S_KEY_MAX;
}

dd_uds_server_t *dd_uds_server_new(const dd_uds_server_cfg_t *cfg, uint64_t now) {
  assert(cfg);
  if ((cfg->n_dids && !cfg->dids) || (cfg->n_routines && !cfg->routines) ||
      (cfg->n_ios && !cfg->ios) || (cfg->n_security && !cfg->security) ||
      (cfg->n_services && !cfg->services))
    return NULL;
  dd_uds_server_t *self = calloc(1, sizeof *self);
  if (!self) return NULL;
  self->cfg = *cfg;
  dd_uds_server_cfg_t *k = &self->cfg;
  if (!k->sessions) k->sessions = DD_UDS_SESS_ALL;
  k->sessions |= DD_UDS_SESS_DEFAULT;
  if (!k->reset_types) k->reset_types = 0x0E;
  if (!k->max_response) k->max_response = DD_UDS_MAX_MSG;
  if (k->max_response < 8) k->max_response = 8;
  if (!k->max_request) k->max_request = DD_UDS_MAX_MSG;
  if (k->max_request < 3) k->max_request = 3;
  if (!k->max_dids_per_read) k->max_dids_per_read = 32;
  k->services = NULL;
  k->dids = NULL;
  k->routines = NULL;
  k->ios = NULL;
  k->security = NULL;
  dd_rng_seed(&self->rng, cfg->rng_seed);

  self->buf_cap = k->max_response;
  self->buf = malloc(self->buf_cap);
  self->scratch = malloc(self->buf_cap);
  if (!self->buf || !self->scratch) goto out_free;

  const dd_uds_service_t *svc = cfg->services;
  size_t n_svc = cfg->n_services;
  if (!svc) svc = dd_uds_server_default_services(&n_svc);
  self->services = malloc((n_svc ? n_svc : 1) * sizeof *self->services);
  if (!self->services) goto out_free;
  memcpy(self->services, svc, n_svc * sizeof *svc);
  self->n_services = n_svc;

  self->dids = calloc(cfg->n_dids ? cfg->n_dids : 1, sizeof *self->dids);
  if (!self->dids) goto out_free;
  for (size_t i = 0; i < cfg->n_dids; i++) {
    const dd_uds_did_t *d = &cfg->dids[i];
    if (s_find_did(self, d->id) || (d->len && !d->data) || d->len > k->max_response - 3 ||
        d->max_len > k->max_response - 3)
      goto out_free;
    s_did_t *s = &self->dids[self->n_dids];
    s->def = *d;
    s->def.data = NULL;
    s->room = d->len > d->max_len ? d->len : d->max_len;
    s->fixed = d->max_len ? 0 : d->len;
    s->value = malloc(s->room ? s->room : 1);
    if (!s->value) goto out_free;
    self->n_dids++;
    if (d->len) memcpy(s->value, d->data, d->len);
    s->len = d->len;
    if (s->def.write_sessions && s->room == 0) s->def.write_sessions = 0; /* nothing to write */
  }

  bool builtin_erase = cfg->flash, builtin_check = cfg->flash;
  self->routines = calloc(cfg->n_routines + 2, sizeof *self->routines);
  if (!self->routines) goto out_free;
  for (size_t i = 0; i < cfg->n_routines; i++) {
    const dd_uds_routine_t *r = &cfg->routines[i];
    if (s_find_routine(self, r->id)) goto out_free;
    s_routine_t *s = &self->routines[self->n_routines++];
    s->def = *r;
    if (!s->def.ops) s->def.ops = 1u << DD_UDS_ROUTINE_START;
    if (r->id == DD_UDS_RID_ERASE_MEMORY) builtin_erase = false;
    if (r->id == DD_UDS_RID_CHECK_PROG_DEPS) builtin_check = false;
  }
  if (builtin_erase)
    self->routines[self->n_routines++].def =
        (dd_uds_routine_t){.id = DD_UDS_RID_ERASE_MEMORY,
                           .sessions = DD_UDS_SESS_PROGRAMMING,
                           .security = k->flash_security,
                           .preconditions = k->flash_preconditions,
                           .ops = 1u << DD_UDS_ROUTINE_START,
                           .fn = s_rt_erase,
                           .user = self};
  if (builtin_check)
    self->routines[self->n_routines++].def = (dd_uds_routine_t){.id = DD_UDS_RID_CHECK_PROG_DEPS,
                                                                .sessions = DD_UDS_SESS_PROGRAMMING,
                                                                .security = k->flash_security,
                                                                .ops = 1u << DD_UDS_ROUTINE_START,
                                                                .fn = s_rt_check,
                                                                .user = self};

  self->ios = calloc(cfg->n_ios ? cfg->n_ios : 1, sizeof *self->ios);
  if (!self->ios) goto out_free;
  for (size_t i = 0; i < cfg->n_ios; i++) {
    const dd_uds_io_t *io = &cfg->ios[i];
    if (s_find_io(self, io->did) || io->state_len + io->mask_len > k->max_request) goto out_free;
    s_io_t *s = &self->ios[self->n_ios++];
    s->def = *io;
    if (!s->def.params) s->def.params = 0x0F;
  }

  self->secs = calloc(cfg->n_security ? cfg->n_security : 1, sizeof *self->secs);
  if (!self->secs) goto out_free;
  for (size_t i = 0; i < cfg->n_security; i++) {
    const dd_uds_security_t *sd = &cfg->security[i];
    if (!s_valid_security(sd) || s_find_sec(self, sd->level)) goto out_free;
    s_sec_t *s = &self->secs[self->n_secs++];
    s->def = *sd;
    if (!s->def.seed_len) s->def.seed_len = 4;
    if (!s->def.key_len) s->def.key_len = s->def.seed_len;
    if (!s->def.sessions) s->def.sessions = k->sessions & ~DD_UDS_SESS_DEFAULT;
    if (!s->def.max_attempts) s->def.max_attempts = 3;
    if (!s->def.delay_us) s->def.delay_us = 10000000;
  }

  self->comm_control = 0x00;
  self->comm_type = 0x03;
  s_power_on(self, now, 0);
  return self;

out_free:
  dd_uds_server_destroy(&self);
  return NULL;
}

void dd_uds_server_destroy(dd_uds_server_t **self_p) {
  assert(self_p);
  dd_uds_server_t *self = *self_p;
  if (!self) return;
  if (self->dids)
    for (size_t i = 0; i < self->n_dids; i++)
      free(self->dids[i].value);
  free(self->dids);
  free(self->routines);
  free(self->ios);
  free(self->secs);
  free(self->services);
  free(self->scratch);
  free(self->buf);
  free(self);
  *self_p = NULL;
}

/* ---- accessors --------------------------------------------------------------------------- */

int dd_uds_server_set_did(dd_uds_server_t *self, uint16_t did, const uint8_t *data, size_t len) {
  assert(self);
  assert(data || !len);
  s_did_t *d = s_find_did(self, did);
  if (!d) return DD_ENOENT;
  if (len > d->room) return DD_EMSGSIZE;
  if (len) memcpy(d->value, data, len);
  d->len = len;
  return 0;
}

int dd_uds_server_get_did(const dd_uds_server_t *self, uint16_t did, const uint8_t **data,
                          size_t *len) {
  assert(self);
  const s_did_t *d = s_find_did(self, did);
  if (!d || d->def.read) return DD_ENOENT;
  if (data) *data = d->value;
  if (len) *len = d->len;
  return 0;
}

uint8_t dd_uds_server_session(const dd_uds_server_t *self) {
  assert(self);
  return self->session;
}

uint8_t dd_uds_server_security(const dd_uds_server_t *self) {
  assert(self);
  return self->unlocked;
}

bool dd_uds_server_busy(const dd_uds_server_t *self) {
  assert(self);
  return self->job.active;
}

bool dd_uds_server_bootloader(const dd_uds_server_t *self) {
  assert(self);
  return self->bootloader;
}

bool dd_uds_server_comm_enabled(const dd_uds_server_t *self) {
  assert(self);
  /* Normal-message transmission is off after controlType 01 or 03 with type bit 0 set. */
  return !((self->comm_control == 0x01 || self->comm_control == 0x03) && (self->comm_type & 1));
}
