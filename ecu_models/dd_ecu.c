/* dd_ecu: composition of ISO-TP, UDS server, DTC memory, flash and OBD into one ECU. */
#include "dd_ecu.h"

#include <assert.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_dtc.h"
#include "dd_dtc_code.h"
#include "dd_err.h"
#include "dd_flash.h"
#include "dd_isotp_link.h"
#include "dd_log.h"
#include "dd_obd.h"
#include "dd_uds_server.h"

#define S_MAX_MSG 4095 /* largest UDS message over classic ISO-TP without the escape */
#define S_TXQ 8        /* responses waiting while ISO-TP still sends the previous one */

typedef struct {
  dd_ecu_t *ecu;                 /* owner */
  const dd_vehicle_did_t *did;   /* the DID (live signal or version) */
} s_live_t;

typedef struct {
  uint8_t data[S_MAX_MSG]; /* response bytes */
  size_t len;              /* length */
} s_msg_t;

struct dd_ecu {
  dd_ecu_cfg_t cfg;               /* vehicle, definition, drive model, events */
  dd_canmux_t *mux;               /* the CAN port (not owned) */
  dd_isotp_link_t *link;          /* physical + functional ISO-TP channel (NULL: powered off) */
  dd_isotp_cfg_t isotp;           /* its configuration, to open it again at power-on */
  dd_uds_server_t *uds;           /* the diagnostic application */
  dd_dtc_t *dtc;                  /* DTC memory */
  dd_flash_t *flash;              /* program flash, NULL when not programmable */
  dd_uds_did_t *dids;             /* DID table given to the server */
  s_live_t *live;                 /* per-DID context of read callbacks */
  size_t n_dids;                  /* entries */
  bool powered;                   /* on */
  int uds_timer;                  /* loop timer at the server's next deadline */
  int power_timer;                /* loop timer that powers the ECU back on */
  s_msg_t *txq;                   /* responses waiting for ISO-TP (ring) */
  unsigned tx_head, tx_len;       /* ring state */
  uint8_t last_sid;               /* SID of the request being served, for events */
  bool app_reported;              /* valid-application flag last put on the timeline */
};

/* ---- helpers ---- */

static dd_loop_t *s_loop(dd_ecu_t *self) { return dd_canmux_loop(self->mux); }
static uint64_t s_now(dd_ecu_t *self) { return dd_loop_now(s_loop(self)); }

static void s_event(dd_ecu_t *self, const char *kind, const dd_field_t *f, size_t n) {
  if (!self->cfg.events) return;
  dd_field_t all[12];
  all[0] = DD_S("ecu", self->cfg.def->name);
  size_t k = 1;
  for (size_t i = 0; i < n && k < 12; i++) all[k++] = f[i];
  dd_events_emitv(self->cfg.events, kind, all, k);
}

static void s_send_next(dd_ecu_t *self) {
  while (self->link && self->tx_len && !dd_isotp_tx_busy(dd_isotp_link_core(self->link))) {
    /* Dequeue first: sending can finish at once and re-enter here through TX_DONE. */
    s_msg_t *m = &self->txq[self->tx_head];
    self->tx_head = (self->tx_head + 1) % S_TXQ;
    self->tx_len--;
    int rc = dd_isotp_link_send(self->link, m->data, m->len);
    if (rc < 0) dd_warn("%s: response not sent: %s", self->cfg.def->name, dd_strerror(rc));
  }
}

static void s_respond(dd_ecu_t *self, const uint8_t *resp, size_t len) {
  if (!self->powered || !len) return;
  bool neg = resp[0] == 0x7F && len >= 3;
  dd_field_t f[] = {DD_I("sid", neg ? resp[1] : (uint8_t)(resp[0] - 0x40)), DD_B("positive", !neg),
                    DD_I("nrc", neg ? resp[2] : 0), DD_I("len", (int64_t)len)};
  s_event(self, "uds.response", f, 4);
  if (self->tx_len == S_TXQ) {
    dd_warn("%s: response queue full; response dropped", self->cfg.def->name);
    return;
  }
  s_msg_t *m = &self->txq[(self->tx_head + self->tx_len++) % S_TXQ];
  memcpy(m->data, resp, len);
  m->len = len;
  s_send_next(self);
}

static int s_on_uds_timer(dd_loop_t *loop, int id, void *arg);

/* ecu.app_state {valid, version, reset} when the flash's valid-application flag changed (an
 * erase clears it, a passed checkProgrammingDependencies sets it) or always at a reset (then
 * with the version of the application it booted): whether the ECU has an application to run. */
static void s_app_state(dd_ecu_t *self, bool reset) {
  if (!self->flash || !self->powered) return;
  bool valid = dd_flash_app_valid(self->flash);
  if (!reset && valid == self->app_reported) return;
  self->app_reported = valid;
  const char *version = reset && valid ? dd_flash_version(self->flash) : "";
  dd_field_t f[] = {DD_B("valid", valid), DD_S("version", version), DD_B("reset", reset)};
  s_event(self, "ecu.app_state", f, 3);
}

/* Collect the server's timed responses (0x78 and late results) and re-arm its timer. */
static void s_service(dd_ecu_t *self) {
  uint64_t now = s_now(self);
  static uint8_t resp[S_MAX_MSG];
  size_t len;
  while (self->powered && dd_uds_server_poll(self->uds, now, resp, sizeof resp, &len) == 1)
    s_respond(self, resp, len);
  s_app_state(self, false);
  if (self->uds_timer) dd_loop_timer_cancel(s_loop(self), self->uds_timer);
  self->uds_timer = 0;
  uint64_t next = dd_uds_server_next_deadline(self->uds);
  if (self->powered && next != UINT64_MAX) {
    int id = dd_loop_timer_at(s_loop(self), next, s_on_uds_timer, self);
    self->uds_timer = id > 0 ? id : 0;
  }
}

static int s_on_uds_timer(dd_loop_t *loop, int id, void *arg) {
  dd_ecu_t *self = arg;
  self->uds_timer = 0;
  s_service(self);
  return 0;
}

/* ---- OBD-II (SAE J1979) ---- */

static void s_obd_state(dd_ecu_t *self, dd_obd_state_t *st) {
  memset(st, 0, sizeof *st);
  size_t n = dd_dtc_count(self->dtc);
  for (size_t i = 0; i < n; i++) {
    uint32_t dtc;
    uint8_t status;
    if (dd_dtc_at(self->dtc, i, &dtc, &status) != 0) continue;
    bool permanent = false;
    for (size_t k = 0; k < self->cfg.def->n_dtcs; k++)
      if (self->cfg.def->dtcs[k].dtc == dtc) permanent = self->cfg.def->dtcs[k].permanent;
    dd_obd_state_add_dtc(st, dtc, status, permanent && (status & 0x08));
  }
  st->engine_running = dd_drive_engine_running(self->cfg.drive);
  dd_drive_obd_live(self->cfg.drive, &st->live);
  for (size_t k = 0; k < self->cfg.def->n_dtcs; k++) {
    const dd_vehicle_dtc_t *d = &self->cfg.def->dtcs[k];
    uint8_t status = 0;
    if (d->has_freeze_frame && dd_dtc_status(self->dtc, d->dtc, &status) == 0 && (status & 0x08)) {
      st->has_freeze_frame = true;
      st->freeze_dtc = (uint16_t)(d->dtc >> 8);
      dd_drive_obd_from_values(d->freeze, &st->freeze);
      break;
    }
  }
}

static void s_obd(dd_ecu_t *self, const uint8_t *req, size_t len, bool functional) {
  dd_obd_state_t st;
  s_obd_state(self, &st);
  uint8_t resp[512];
  size_t rlen = 0;
  unsigned actions = 0;
  if (dd_obd_respond(&self->cfg.def->obd, &st, req, len, functional, resp, sizeof resp, &rlen,
                     &actions) < 0)
    return;
  if (actions & DD_OBD_ACT_CLEAR) {
    dd_dtc_clear(self->dtc, 0xFFFFFF);
    dd_field_t f[] = {DD_S("by", "obd_mode_04")};
    s_event(self, "ecu.dtc_cleared", f, 1);
  }
  if (rlen) {
    dd_field_t f[] = {DD_I("mode", req[0]), DD_B("functional", functional), DD_I("len", (int64_t)rlen)};
    s_event(self, "obd.response", f, 3);
    if (self->tx_len < S_TXQ) {
      s_msg_t *m = &self->txq[(self->tx_head + self->tx_len++) % S_TXQ];
      memcpy(m->data, resp, rlen);
      m->len = rlen;
      s_send_next(self);
    }
  }
}

/* ---- requests ---- */

static void s_on_isotp(dd_isotp_link_t *link, const dd_isotp_event_t *ev, void *arg) {
  dd_ecu_t *self = arg;
  if (ev->kind == DD_ISOTP_EV_TX_DONE) {
    s_send_next(self);
    return;
  }
  if (ev->kind == DD_ISOTP_EV_RX_ERROR || ev->kind == DD_ISOTP_EV_TX_ERROR) {
    dd_field_t f[] = {DD_S("error", dd_err_name(ev->error)), DD_B("rx", ev->kind == DD_ISOTP_EV_RX_ERROR)};
    s_event(self, "isotp.error", f, 2);
    return;
  }
  if (ev->kind != DD_ISOTP_EV_RX_DONE || !self->powered || !ev->len) return;
  const uint8_t *req = ev->data;
  /* RoutineControl: its sub-function and routine id too (eraseMemory 0xFF00 and
   * checkProgrammingDependencies 0xFF01 of a reflash, ISO 14229-1:2013 annex F) */
  bool rc = req[0] == 0x31 && ev->len >= 4;
  dd_field_t f[] = {DD_I("sid", req[0]), DD_B("functional", ev->functional),
                    DD_I("len", (int64_t)ev->len), DD_I("sub", rc ? req[1] : 0),
                    DD_I("rid", rc ? (req[2] << 8 | req[3]) : 0)};
  if (self->cfg.def->has_obd && req[0] >= 0x01 && req[0] <= 0x0A) {
    s_event(self, "obd.request", f, 3);
    s_obd(self, req, ev->len, ev->functional);
    return;
  }
  s_event(self, "uds.request", f, 5);
  static uint8_t resp[S_MAX_MSG];
  size_t len = 0;
  self->last_sid = req[0];
  if (dd_uds_server_request(self->uds, req, ev->len, ev->functional, s_now(self), resp,
                            sizeof resp, &len) == 1)
    s_respond(self, resp, len);
  s_service(self);
}

/* ---- callbacks of the UDS server ---- */

static int s_vehicle(void *user, dd_uds_vehicle_t *out) {
  dd_ecu_t *self = user;
  dd_drive_update(self->cfg.drive, s_now(self));
  out->speed_kmh = dd_drive_get(self->cfg.drive, DD_DRIVE_SPEED);
  out->engine_running = dd_drive_engine_running(self->cfg.drive);
  out->battery_v = dd_drive_get(self->cfg.drive, DD_DRIVE_BATTERY);
  return 0;
}

static void s_on_uds_event(void *user, const dd_uds_server_event_t *ev) {
  dd_ecu_t *self = user;
  char kind[48];
  snprintf(kind, sizeof kind, "uds.%s", dd_uds_server_event_name(ev->kind));
  dd_field_t f[] = {DD_I("a", ev->a), DD_I("b", ev->b)};
  s_event(self, kind, f, 2);
  /* an ECUReset restarts it: the application it boots into (b: 1 = bootloader) */
  if (ev->kind == DD_UDS_EV_RESET) s_app_state(self, true);
}

static int s_read_live(void *user, uint16_t did, uint8_t *out, size_t cap, size_t *len,
                       uint64_t now) {
  s_live_t *l = user;
  dd_ecu_t *self = l->ecu;
  if ((did == 0xF189 || did == 0xF195) && self->flash) { /* published by the booted image */
    const char *v = dd_flash_version(self->flash);
    size_t n = strlen(v);
    if (n > cap) n = cap;
    memcpy(out, v, n);
    *len = n;
    return 0;
  }
  dd_drive_update(self->cfg.drive, now);
  uint8_t raw[4];
  size_t n = dd_vehicle_did_encode(l->did, dd_drive_get(self->cfg.drive, l->did->signal), raw);
  if (n > cap) return 0x14; /* responseTooLong */
  memcpy(out, raw, n);
  *len = n;
  return 0;
}

static int s_on_reset(void *user, uint8_t type, uint64_t now) {
  dd_ecu_t *self = user;
  dd_field_t f[] = {DD_I("type", type)};
  s_event(self, "ecu.reset", f, 1);
  return 0;
}

/* Actuator tests (InputOutputControlByIdentifier) offered by every ECU; refused unless the
 * vehicle stands still (DD_UDS_PRE_STANDSTILL -> NRC 0x88). */
static int s_io(void *user, dd_uds_call_t *call) {
  dd_ecu_t *self = user;
  dd_field_t f[] = {DD_I("did", call->id), DD_I("param", call->op)};
  s_event(self, "ecu.actuator", f, 2);
  if (call->in && call->in_len && call->out_cap) {
    call->out[0] = call->in[0];
    call->out_len = 1;
  }
  return 0;
}

/* Self-test routine 0x0202: runs 300 ms (long enough for a 0x78), reports pass. */
static int s_self_test(void *user, dd_uds_call_t *call) {
  if (call->op == 0x01) call->ready_at = call->now + 300000;
  if (call->out_cap) {
    call->out[0] = 0x00; /* passed */
    call->out_len = 1;
  }
  return 0;
}

/* ---- construction ---- */

static int s_build_dids(dd_ecu_t *self) {
  const dd_vehicle_ecu_t *def = self->cfg.def;
  size_t n = def->n_dids + 4;
  self->dids = calloc(n, sizeof *self->dids);
  self->live = calloc(n, sizeof *self->live);
  if (!self->dids || !self->live) return DD_ENOMEM;
  bool have_f189 = false, have_f195 = false, have_f198 = false, have_f199 = false;
  for (size_t i = 0; i < def->n_dids; i++) {
    const dd_vehicle_did_t *d = &def->dids[i];
    dd_uds_did_t *u = &self->dids[self->n_dids];
    self->live[self->n_dids] = (s_live_t){self, d};
    u->id = d->id;
    u->user = &self->live[self->n_dids];
    bool version = (d->id == 0xF189 || d->id == 0xF195) && self->flash;
    have_f189 |= d->id == 0xF189;
    have_f195 |= d->id == 0xF195;
    have_f198 |= d->id == 0xF198;
    have_f199 |= d->id == 0xF199;
    if (d->kind == DD_DID_LIVE || version) {
      u->read = s_read_live;
    } else {
      u->data = d->data;
      u->len = d->len;
    }
    if (d->writable) {
      u->write_sessions = DD_UDS_SESS_NON_DEFAULT;
      u->write_security = DD_UDS_SEC_ANY;
      u->max_len = d->len;
    }
    self->n_dids++;
  }
  /* A programmable ECU always publishes its software version. */
  static const dd_vehicle_did_t s_version = {.id = 0xF189};
  static const dd_vehicle_did_t s_version2 = {.id = 0xF195};
  if (self->flash && !have_f189) {
    self->live[self->n_dids] = (s_live_t){self, &s_version};
    self->dids[self->n_dids] = (dd_uds_did_t){.id = 0xF189, .read = s_read_live,
                                              .user = &self->live[self->n_dids]};
    self->n_dids++;
  }
  if (self->flash && !have_f195) {
    self->live[self->n_dids] = (s_live_t){self, &s_version2};
    self->dids[self->n_dids] = (dd_uds_did_t){.id = 0xF195, .read = s_read_live,
                                              .user = &self->live[self->n_dids]};
    self->n_dids++;
  }
  /* ISO 14229-1 C.1: repairShopCodeOrTesterSerialNumber (F198) and programmingDate (F199,
   * BCD YY MM DD), written by the tester when it reprograms (fingerprint). */
  static const uint8_t s_f198[10] = {'0', '0', '0', '0', '0', '0', '0', '0', '0', '0'};
  static const uint8_t s_f199[3] = {0x00, 0x00, 0x00};
  if (self->flash && !have_f198)
    self->dids[self->n_dids++] = (dd_uds_did_t){.id = 0xF198, .data = s_f198, .len = 10,
                                                .max_len = 16,
                                                .write_sessions = DD_UDS_SESS_NON_DEFAULT,
                                                .write_security = DD_UDS_SEC_ANY};
  if (self->flash && !have_f199)
    self->dids[self->n_dids++] = (dd_uds_did_t){.id = 0xF199, .data = s_f199, .len = 3,
                                                .write_sessions = DD_UDS_SESS_NON_DEFAULT,
                                                .write_security = DD_UDS_SEC_ANY};
  return 0;
}

static const char *s_initial_version(const dd_vehicle_ecu_t *def, char *buf, size_t cap) {
  const dd_vehicle_did_t *d = dd_vehicle_did(def, 0xF189);
  if (!d) d = dd_vehicle_did(def, 0xF195);
  size_t n = d && d->kind == DD_DID_BYTES ? d->len : 0;
  if (n >= cap) n = cap - 1;
  if (n) memcpy(buf, d->data, n);
  buf[n] = 0;
  return n ? buf : "1.0";
}

int dd_ecu_new(dd_canmux_t *mux, const dd_ecu_cfg_t *cfg, dd_ecu_t **out) {
  assert(mux && cfg && cfg->def && cfg->drive && out);
  const dd_vehicle_ecu_t *def = cfg->def;
  dd_ecu_t *self = calloc(1, sizeof *self);
  if (!self) return DD_ENOMEM;
  self->cfg = *cfg;
  self->mux = mux;
  self->powered = true;
  int rc = DD_ENOMEM;
  self->txq = calloc(S_TXQ, sizeof *self->txq);
  if (!self->txq) goto out_fail;

  /* DTC memory (ISO 14229-1 annex D) with the vehicle file's DTCs and their records. */
  dd_dtc_def_t defs[64];
  size_t nd = def->n_dtcs < 64 ? def->n_dtcs : 64;
  for (size_t i = 0; i < nd; i++)
    defs[i] = (dd_dtc_def_t){.dtc = def->dtcs[i].dtc, .status = def->dtcs[i].status,
                             .warning = def->role == DD_ECU_ENGINE};
  dd_dtc_cfg_t dc;
  dd_dtc_cfg_default(&dc);
  dc.defs = defs;
  dc.n_defs = nd;
  self->dtc = dd_dtc_new(&dc);
  if (!self->dtc) goto out_fail;
  for (size_t i = 0; i < nd; i++) {
    const dd_vehicle_dtc_t *d = &def->dtcs[i];
    for (size_t k = 0; k < d->n_snapshots; k++)
      dd_dtc_set_snapshot(self->dtc, d->dtc, d->snapshots[k].record, d->snapshots[k].data,
                          d->snapshots[k].len);
    for (size_t k = 0; k < d->n_extended; k++)
      dd_dtc_set_extended(self->dtc, d->dtc, d->extended[k].record, d->extended[k].data,
                          d->extended[k].len);
  }

  /* Flash and bootloader. */
  char version[DD_FLASH_VERSION_MAX];
  if (def->flash.present) {
    dd_flash_cfg_t fc;
    dd_flash_cfg_default(&fc);
    fc.base = def->flash.base;
    fc.sector_size = def->flash.sector_size;
    fc.sector_count = def->flash.sectors;
    fc.erase_sector_us = (uint64_t)def->flash.erase_ms_per_sector * 1000;
    fc.write_us_per_byte = def->flash.write_us_per_byte;
    fc.write_block_us = def->flash.write_us_per_block;
    if (def->flash.max_block_length) fc.max_block_length = def->flash.max_block_length;
    fc.version = s_initial_version(def, version, sizeof version);
    self->flash = dd_flash_new(&fc);
    if (!self->flash) {
      rc = DD_ECONFIG;
      goto out_fail;
    }
  }
  rc = s_build_dids(self);
  if (rc < 0) goto out_fail;

  dd_uds_security_t sec[8];
  size_t ns = def->n_security < 8 ? def->n_security : 8;
  for (size_t i = 0; i < ns; i++)
    sec[i] = (dd_uds_security_t){.level = def->security[i].level,
                                 .seed_len = def->security[i].seed_size,
                                 .max_attempts = def->security[i].max_attempts,
                                 .delay_us = (uint64_t)def->security[i].lockout_ms * 1000,
                                 .secret = def->security[i].secret};
  uint16_t io_did = (uint16_t)(0x4000 + 0x100 * (unsigned)def->role + 1);
  dd_uds_io_t ios[] = {{.did = io_did, .preconditions = DD_UDS_PRE_STANDSTILL, .state_len = 1,
                        .fn = s_io, .user = self}};
  dd_uds_routine_t routines[] = {{.id = 0x0202, .preconditions = DD_UDS_PRE_STANDSTILL,
                                  .ops = 0x0A, .fn = s_self_test, .user = self}};
  /* The standard service table, with WriteDataByIdentifier also allowed in the programming
   * session, where testers write the fingerprint (F198/F199) before they erase. */
  size_t n_svc = 0;
  const dd_uds_service_t *std_svc = dd_uds_server_default_services(&n_svc);
  dd_uds_service_t svc[64];
  if (n_svc > 64) n_svc = 64;
  for (size_t i = 0; i < n_svc; i++) {
    svc[i] = std_svc[i];
    if (svc[i].sid == 0x2E) svc[i].sessions |= DD_UDS_SESS_PROGRAMMING;
  }
  dd_uds_server_cfg_t sc;
  dd_uds_server_cfg_default(&sc);
  sc.services = svc;
  sc.n_services = n_svc;
  sc.p2_us = (uint64_t)def->p2_ms * 1000;
  sc.p2x_us = (uint64_t)def->p2_star_ms * 1000;
  sc.dids = self->dids;
  sc.n_dids = self->n_dids;
  sc.security = sec;
  sc.n_security = ns;
  sc.ios = ios;
  sc.n_ios = 1;
  sc.routines = routines;
  sc.n_routines = 1;
  sc.dtc = self->dtc;
  sc.flash = self->flash;
  sc.rng_seed = cfg->seed;
  sc.vehicle = s_vehicle;
  sc.on_reset = s_on_reset;
  sc.on_event = s_on_uds_event;
  sc.user = self;
  uint64_t now = dd_loop_now(dd_canmux_loop(mux));
  self->uds = dd_uds_server_new(&sc, now);
  if (!self->uds) {
    rc = DD_ECONFIG;
    goto out_fail;
  }

  /* ISO-TP: requests on request_id (and functional_id), responses on response_id. */
  dd_isotp_cfg_t ic;
  dd_isotp_cfg_default(&ic);
  ic.rx_id = def->request_id;
  ic.tx_id = def->response_id;
  ic.func_rx_id = def->functional_id;
  ic.func_tx_id = DD_ISOTP_ID_NONE;
  ic.ext_id = def->extended;
  if (def->ext_addressing) {
    ic.addr = DD_ISOTP_ADDR_EXTENDED;
    ic.rx_ext_addr = def->ecu_address;
    ic.tx_ext_addr = def->tester_address;
    ic.func_ext_addr = def->functional_address;
  }
  ic.fd = def->fd;
  ic.tx_dl = def->tx_dl ? def->tx_dl : 8;
  ic.tx_padding = def->padding;
  ic.pad_byte = def->pad_byte;
  ic.bs = def->block_size;
  ic.stmin = def->stmin;
  ic.rx_max = S_MAX_MSG;
  ic.ff_escape = false;
  self->isotp = ic;
  rc = dd_isotp_link_new(mux, &ic, s_on_isotp, self, &self->link);
  if (rc < 0) goto out_fail;
  *out = self;
  return 0;
out_fail:
  dd_ecu_destroy(&self);
  return rc;
}

void dd_ecu_destroy(dd_ecu_t **self_p) {
  assert(self_p);
  dd_ecu_t *self = *self_p;
  if (!self) return;
  dd_loop_t *loop = s_loop(self);
  if (self->uds_timer) dd_loop_timer_cancel(loop, self->uds_timer);
  if (self->power_timer) dd_loop_timer_cancel(loop, self->power_timer);
  dd_isotp_link_destroy(&self->link);
  dd_uds_server_destroy(&self->uds);
  dd_flash_destroy(&self->flash);
  dd_dtc_destroy(&self->dtc);
  free(self->dids);
  free(self->live);
  free(self->txq);
  free(self);
  *self_p = NULL;
}

const char *dd_ecu_name(const dd_ecu_t *self) { return self->cfg.def->name; }
bool dd_ecu_powered(const dd_ecu_t *self) { return self->powered; }
bool dd_ecu_app_valid(const dd_ecu_t *self) {
  return self->flash ? dd_flash_app_valid(self->flash) : true;
}
const char *dd_ecu_sw_version(const dd_ecu_t *self) {
  return self->flash ? dd_flash_version(self->flash) : "";
}

/* ---- power and faults ---- */

static int s_power_on(dd_loop_t *loop, int id, void *arg) {
  dd_ecu_t *self = arg;
  self->power_timer = 0;
  uint64_t now = dd_loop_now(loop);
  /* the CAN controller starts afresh: no transfer of before the power loss survives */
  if (!self->link) {
    int rc = dd_isotp_link_new(self->mux, &self->isotp, s_on_isotp, self, &self->link);
    if (rc < 0) dd_warn("%s: no ISO-TP after power-on: %s", self->cfg.def->name, dd_strerror(rc));
  }
  bool app = self->flash ? dd_flash_boot(self->flash, now) : true;
  dd_uds_server_reset(self->uds, now);
  self->powered = true;
  dd_field_t f[] = {DD_B("app_valid", app), DD_S("version", dd_ecu_sw_version(self))};
  s_event(self, "ecu.power_on", f, 2);
  self->app_reported = app;
  s_service(self);
  return 0;
}

static void s_power_off(dd_ecu_t *self, uint64_t off_us, bool cut) {
  uint64_t now = s_now(self);
  bool flashing = self->flash && (dd_flash_busy(self->flash, now) ||
                                  dd_flash_download_open(self->flash));
  if (self->flash) dd_flash_power_loss(self->flash, now);
  self->powered = false;
  self->tx_len = 0;
  /* Without power the node is silent: no flow control for a request being sent to it (the
   * tester sees ISO 15765-2 N_Bs expire), no response, no half-sent message finished later. */
  dd_isotp_link_destroy(&self->link);
  dd_field_t f[] = {DD_B("cut", cut), DD_B("during_flash", flashing),
                    DD_I("off_ms", (int64_t)(off_us / 1000))};
  s_event(self, "ecu.power_off", f, 3);
  if (self->power_timer) dd_loop_timer_cancel(s_loop(self), self->power_timer);
  int id = dd_loop_timer_at(s_loop(self), now + off_us, s_power_on, self);
  self->power_timer = id > 0 ? id : 0;
}

static int s_hex_field(json_t *a, const char *key, long def, long *out) {
  json_t *v = json_object_get(a, key);
  if (!v) {
    *out = def;
    return def < 0 ? DD_EINVAL : 0;
  }
  if (json_is_integer(v)) {
    *out = (long)json_integer_value(v);
    return 0;
  }
  if (json_is_string(v)) {
    char *end;
    *out = strtol(json_string_value(v), &end, 0);
    return *end ? DD_EINVAL : 0;
  }
  return DD_EINVAL;
}

int dd_ecu_command(dd_ecu_t *self, const char *key, const char *args_json, char *why, size_t cap) {
  json_error_t jerr;
  json_t *a = args_json && *args_json ? json_loads(args_json, 0, &jerr) : json_object();
  if (!a || !json_is_object(a)) {
    snprintf(why, cap, "arguments are not a JSON object: %s", a ? "" : jerr.text);
    json_decref(a);
    return DD_EINVAL;
  }
  int rc = 0;
  long sid = 0, nrc = 0, count = 0, ms = 0;
  if (!strcmp(key, "set_dtc") || !strcmp(key, "clear_dtc")) {
    const char *code = json_string_value(json_object_get(a, "dtc"));
    uint32_t dtc3 = 0;
    uint16_t dtc2 = 0;
    if (code && !strcmp(code, "all") && !strcmp(key, "clear_dtc")) {
      dd_dtc_clear(self->dtc, 0xFFFFFF);
    } else if (code && dd_dtc_code_parse3(code, &dtc3) == 0) {
      rc = dd_dtc_report(self->dtc, dtc3, !strcmp(key, "set_dtc"));
    } else if (code && dd_dtc_code_parse(code, &dtc2) == 0) {
      /* A 2-byte code names the DTC whatever its failure type: the first one configured. */
      rc = DD_ENOENT;
      size_t n = dd_dtc_count(self->dtc);
      for (size_t i = 0; i < n; i++) {
        uint32_t d;
        uint8_t st;
        if (dd_dtc_at(self->dtc, i, &d, &st) == 0 && (d >> 8) == dtc2) {
          rc = dd_dtc_report(self->dtc, d, !strcmp(key, "set_dtc"));
          break;
        }
      }
    } else {
      snprintf(why, cap, "dtc: give a code like \"P0301\" or \"P030100\"%s",
               !strcmp(key, "clear_dtc") ? " or \"all\"" : "");
      rc = DD_EINVAL;
    }
    if (rc == DD_ENOENT) snprintf(why, cap, "dtc %s is not one of %s's DTCs", code, self->cfg.def->name);
  } else if (!strcmp(key, "operation_cycle")) {
    dd_dtc_operation_cycle(self->dtc);
  } else if (!strcmp(key, "force_nrc") || !strcmp(key, "delay") || !strcmp(key, "drop") ||
             !strcmp(key, "pending_forever")) {
    dd_uds_fault_t f = {0};
    if (s_hex_field(a, "sid", 0, &sid) < 0 || sid < 0 || sid > 0xFF ||
        s_hex_field(a, "count", 0, &count) < 0 || count < 0 ||
        s_hex_field(a, "nrc", 0x22, &nrc) < 0 || nrc <= 0 || nrc > 0xFF ||
        s_hex_field(a, "ms", 1000, &ms) < 0 || ms < 0) {
      snprintf(why, cap, "expected {\"sid\":\"0x22\", \"nrc\":\"0x31\", \"count\":N, \"ms\":N}");
      rc = DD_EINVAL;
    } else {
      f.kind = !strcmp(key, "force_nrc") ? DD_UDS_FAULT_NRC
               : !strcmp(key, "delay")   ? DD_UDS_FAULT_DELAY
               : !strcmp(key, "drop")    ? DD_UDS_FAULT_DROP
                                         : DD_UDS_FAULT_PENDING_FOREVER;
      if (sid) {
        f.match[0] = (uint8_t)sid;
        f.match_len = 1;
      }
      f.count = (uint32_t)count;
      f.nrc = (uint8_t)nrc;
      f.delay_us = (uint64_t)ms * 1000;
      rc = dd_uds_server_inject(self->uds, &f);
      if (rc < 0) snprintf(why, cap, "fault not accepted: %s", dd_strerror(rc));
    }
  } else if (!strcmp(key, "clear_faults")) {
    dd_uds_server_clear_faults(self->uds);
  } else if (!strcmp(key, "power_cycle") || !strcmp(key, "power_cut")) {
    if (s_hex_field(a, "off_ms", 200, &ms) < 0 || ms < 0) {
      snprintf(why, cap, "off_ms: a number of milliseconds");
      rc = DD_EINVAL;
    } else {
      s_power_off(self, (uint64_t)ms * 1000, !strcmp(key, "power_cut"));
    }
  } else {
    snprintf(why, cap, "unknown ECU command '%s'", key);
    rc = DD_ENOTSUP;
  }
  if (rc == 0) {
    dd_field_t f[] = {DD_S("fault", key), DD_S("args", args_json ? args_json : "")};
    s_event(self, "ecu.fault", f, 2);
    s_service(self);
  }
  json_decref(a);
  return rc;
}
