/* dd_fd_vehicle: the first device's ECU access, VIN read (S101) and DTC scan (S104). */
#include "dd_fd_vehicle.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dd_canmux.h"
#include "dd_canport_vbus.h"
#include "dd_dtc_code.h"
#include "dd_err.h"
#include "dd_log.h"
#include "dd_obd.h"
#include "dd_tester.h"
#include "dd_uds_client.h"

#define S_MAX_QUEUE 256


/* One queued request. */
typedef struct s_req {
  struct s_req *next;  /* queue link */
  uint8_t *data;       /* request bytes (owned) */
  size_t len;          /* their length */
  bool functional;     /* to the functional address */
  dd_fd_vehicle_fn fn; /* result callback */
  void *arg;           /* its argument */
} s_req_t;

typedef struct {
  dd_fd_vehicle_t *owner;        /* the vehicle access it belongs to */
  char name[DD_FD_ECU_NAME_MAX]; /* ECU name from the registry */
  uint32_t req_id, resp_id;      /* physical ids */
  dd_tester_t *tester;           /* its tester */
  s_req_t *head, *tail;          /* queued requests (head is the one outstanding) */
  bool out;                      /* head has been handed to the tester */
  uint8_t buf[4096];             /* functional requests: first response kept here */
  size_t buf_len;                /* its length (0: none yet) */
} s_ecu_t;

struct dd_fd_vehicle {
  dd_proc_t *proc;            /* process (loop, events) */
  dd_fd_vehicle_cfg_t cfg;    /* configuration */
  dd_canmux_t *mux;           /* the CAN port on the loop */
  s_ecu_t *ecus[DD_FD_MAX_ECUS]; /* ECUs known */
  size_t n_ecus;              /* entries of ecus */
  int pump_timer;             /* zero-delay timer that hands queued requests out */
  int retry_timer;            /* S101: zero-delay timer of the 29-bit attempt */
  /* S101 */
  dd_fd_vin_fn vin_fn;        /* result callback */
  void *vin_arg;              /* its argument */
  int id_try;                 /* 0: 11-bit OBD ids, 1: 29-bit */
  char vin_uds[DD_VIN_SIZE], vin_obd[DD_VIN_SIZE]; /* VINs read ("" when none) */
  /* S104 */
  dd_fd_scan_fn scan_fn;      /* result callback */
  void *scan_arg;             /* its argument */
  size_t scan_idx;            /* ECU being read */
  json_t *scan;               /* result being built */
  size_t scan_dtcs;           /* DTCs found */
  size_t scan_failed;         /* ECUs that did not answer the DTC read */
  dd_fd_describe_fn describe; /* manufacturer's DTC texts (NULL: generic table only) */
  void *describe_arg;         /* its argument */
};

static dd_events_t *s_ev(dd_fd_vehicle_t *self) { return dd_proc_events(self->proc); }
static void s_schedule(dd_fd_vehicle_t *self);

int dd_fd_vehicle_new(dd_proc_t *proc, const dd_fd_vehicle_cfg_t *cfg, dd_fd_vehicle_t **out) {
  assert(proc && cfg && out);
  if (!cfg->bus_endpoint == !cfg->can_iface) return DD_EINVAL;
  dd_fd_vehicle_t *self = calloc(1, sizeof *self);
  if (!self) return DD_ENOMEM;
  self->proc = proc;
  self->cfg = *cfg;
  dd_canport_t *port = NULL;
  /* Loopback: P2client starts when the request's last frame is seen on the bus (ISO 14229-2). */
  dd_canport_opts_t po = {.fd = true, .loopback = true};
  int rc;
  if (cfg->bus_endpoint) {
    rc = dd_canport_vbus_open(dd_proc_zctx(proc), cfg->bus_endpoint, dd_proc_name(proc), &po,
                              &port);
  } else {
    rc = dd_canport_socketcan_open(cfg->can_iface, &po, &port);
    if (rc < 0) { /* a classic CAN interface refuses FD mode */
      po.fd = false;
      rc = dd_canport_socketcan_open(cfg->can_iface, &po, &port);
    }
  }
  if (rc == 0) rc = dd_canmux_new(dd_proc_loop(proc), port, &self->mux);
  if (rc < 0) {
    dd_error("first device: cannot open the CAN port: %s", dd_strerror(rc));
    free(self);
    return rc;
  }
  *out = self;
  return 0;
}

static void s_free_queue(s_ecu_t *e) {
  while (e->head) {
    s_req_t *r = e->head;
    e->head = r->next;
    free(r->data);
    free(r);
  }
  e->tail = NULL;
  e->out = false;
}

void dd_fd_vehicle_clear(dd_fd_vehicle_t *self) {
  for (size_t i = 0; i < self->n_ecus; i++) {
    s_free_queue(self->ecus[i]);
    dd_tester_destroy(&self->ecus[i]->tester);
    free(self->ecus[i]);
    self->ecus[i] = NULL;
  }
  self->n_ecus = 0;
}

void dd_fd_vehicle_destroy(dd_fd_vehicle_t **self_p) {
  assert(self_p);
  dd_fd_vehicle_t *self = *self_p;
  if (!self) return;
  if (self->pump_timer) dd_loop_timer_cancel(dd_proc_loop(self->proc), self->pump_timer);
  if (self->retry_timer) dd_loop_timer_cancel(dd_proc_loop(self->proc), self->retry_timer);
  dd_fd_vehicle_clear(self);
  json_decref(self->scan);
  dd_canmux_destroy(&self->mux);
  free(self);
  *self_p = NULL;
}

int dd_fd_vehicle_add(dd_fd_vehicle_t *self, const char *name, uint32_t req_id, uint32_t resp_id,
                      uint32_t func_id, bool ext, bool fd) {
  return dd_fd_vehicle_add_ext(self, name, req_id, resp_id, func_id, ext, fd, NULL);
}

int dd_fd_vehicle_add_ext(dd_fd_vehicle_t *self, const char *name, uint32_t req_id,
                          uint32_t resp_id, uint32_t func_id, bool ext, bool fd,
                          const dd_fd_ext_addr_t *ea) {
  if (self->n_ecus >= DD_FD_MAX_ECUS) return DD_ENOSPC;
  s_ecu_t *e = calloc(1, sizeof *e);
  if (!e) return DD_ENOMEM;
  snprintf(e->name, sizeof e->name, "%s", name);
  e->owner = self;
  e->req_id = req_id;
  e->resp_id = resp_id;
  /* ISO 15765-4: normal addressing, 11-bit 7E0+n / 7E8+n or 29-bit normal fixed 18DA.. ids,
   * frames padded (ISO 15765-2:2016 10.4.2). */
  dd_isotp_cfg_t ic;
  dd_isotp_cfg_default(&ic);
  ic.tx_id = req_id;
  ic.rx_id = resp_id;
  ic.func_tx_id = func_id;
  ic.ext_id = ext;
  ic.fd = fd;
  ic.tx_dl = fd ? 64 : 8;
  ic.tx_padding = true;
  ic.pad_byte = 0xCC;
  ic.rx_max = 4095;
  if (ea) {
    /* ISO 15765-2:2016 10.3.4: N_TA first in every frame, ours the ECU's, its ours */
    ic.addr = DD_ISOTP_ADDR_EXTENDED;
    ic.tx_ext_addr = ea->ecu_address;
    ic.rx_ext_addr = ea->tester_address;
    ic.func_ext_addr = ea->functional_address;
  }
  dd_uds_client_cfg_t uc;
  dd_uds_client_cfg_default(&uc);
  /* Each ECU's tester keeps only its own ECU's session alive: TesterPresent (ISO 14229-1:2013
   * 9.6) to the physical address, so that any physical request (a reflash's TransferData
   * every few ms) counts as the keep-alive and 3E 80 goes out only in real gaps (an erase's
   * 0x78 wait), never between a long request and its confirmation. */
  uc.tp_functional = false;
  /* planted defect: a responsePending (ISO 14229-1:2013 annex A, 0x78) ends the wait at once */
  if (self->cfg.ignore_0x78) uc.pending_max_us = 1;
  int rc = dd_tester_new(self->mux, &ic, &uc, &e->tester);
  if (rc < 0) {
    free(e);
    return rc;
  }
  dd_tester_confirm_by_echo(e->tester, true);
  self->ecus[self->n_ecus] = e;
  return (int)self->n_ecus++;
}

size_t dd_fd_vehicle_count(const dd_fd_vehicle_t *self) { return self->n_ecus; }
const char *dd_fd_vehicle_name(const dd_fd_vehicle_t *self, size_t idx) {
  return idx < self->n_ecus ? self->ecus[idx]->name : "?";
}
uint32_t dd_fd_vehicle_req_id(const dd_fd_vehicle_t *self, size_t idx) {
  return idx < self->n_ecus ? self->ecus[idx]->req_id : 0;
}

int dd_fd_vehicle_find(const dd_fd_vehicle_t *self, uint32_t req_id) {
  if (self->n_ecus == 0) return -1;
  if (req_id == 0) return 0;
  for (size_t i = 0; i < self->n_ecus; i++)
    if (self->ecus[i]->req_id == req_id) return (int)i;
  return -1;
}

int dd_fd_vehicle_lookup(const dd_fd_vehicle_t *self, const char *name_or_id) {
  if (!name_or_id || !*name_or_id) return self->n_ecus ? 0 : -1;
  for (size_t i = 0; i < self->n_ecus; i++)
    if (!strcasecmp(self->ecus[i]->name, name_or_id)) return (int)i;
  char *end;
  unsigned long v = strtoul(name_or_id, &end, 0);
  if (*end || end == name_or_id) return -1;
  return dd_fd_vehicle_find(self, (uint32_t)v);
}

size_t dd_fd_vehicle_pending(const dd_fd_vehicle_t *self) {
  size_t n = 0;
  for (size_t i = 0; i < self->n_ecus; i++)
    for (const s_req_t *r = self->ecus[i]->head; r; r = r->next) n++;
  return n;
}

/* ---- request queue ------------------------------------------------------------------------ */

static void s_on_result(dd_tester_t *t, const dd_uds_result_t *res, void *arg) {
  s_ecu_t *e = arg;
  (void)t;
  s_req_t *r = e->head;
  if (!r) return;
  if (r->functional && !res->final) {
    /* ISO 15765-4: every OBD ECU may answer a functional request; keep the first positive */
    if (res->status == 0 && res->data && !e->buf_len && res->len <= sizeof e->buf) {
      memcpy(e->buf, res->data, res->len);
      e->buf_len = res->len;
    }
    return;
  }
  if (!res->final) return;
  e->head = r->next;
  if (!e->head) e->tail = NULL;
  e->out = false;
  int status = res->status;
  const uint8_t *data = res->data;
  size_t len = res->len;
  uint8_t copy[4096];
  if (r->functional) {
    if (e->buf_len) {
      status = 0;
      memcpy(copy, e->buf, e->buf_len);
      data = copy;
      len = e->buf_len;
    } else if (status == 0 && !data) {
      status = DD_EUDS_TIMEOUT_P2; /* nobody answered */
    }
  } else if (data && len <= sizeof copy) {
    memcpy(copy, data, len);
    data = copy;
  }
  e->buf_len = 0;
  dd_fd_vehicle_fn fn = r->fn;
  void *fa = r->arg;
  free(r->data);
  free(r);
  s_schedule(e->owner);
  if (fn) fn(status, res->nrc, status == 0 || status == DD_EUDS_NRC ? data : NULL,
             status == 0 ? len : 0, fa);
}

static int s_pump(dd_loop_t *loop, int id, void *arg) {
  dd_fd_vehicle_t *self = arg;
  (void)loop;
  (void)id;
  self->pump_timer = 0;
  for (size_t i = 0; i < self->n_ecus; i++) {
    s_ecu_t *e = self->ecus[i];
    while (e->head && !e->out && !dd_tester_busy(e->tester)) {
      s_req_t *r = e->head;
      e->buf_len = 0;
      int rc = dd_tester_request(e->tester, r->data, r->len, r->functional, s_on_result, e);
      if (rc == 0) {
        /* the result may have come already (a local refusal) */
        if (e->head == r) e->out = true;
        break;
      }
      e->head = r->next;
      if (!e->head) e->tail = NULL;
      if (r->fn) r->fn(rc, 0, NULL, 0, r->arg);
      free(r->data);
      free(r);
    }
  }
  /* results call back into the queue; look again when something is still waiting */
  for (size_t i = 0; i < self->n_ecus; i++)
    if (self->ecus[i]->head && !self->ecus[i]->out) {
      s_schedule(self);
      break;
    }
  return 0;
}

static void s_schedule(dd_fd_vehicle_t *self) {
  if (self->pump_timer) return;
  int id = dd_loop_timer_after(dd_proc_loop(self->proc), 0, s_pump, self);
  self->pump_timer = id > 0 ? id : 0;
}

int dd_fd_vehicle_request(dd_fd_vehicle_t *self, size_t idx, const uint8_t *req, size_t len,
                          bool functional, dd_fd_vehicle_fn fn, void *arg) {
  if (idx >= self->n_ecus || len == 0 || len > 4095) return DD_EINVAL;
  s_ecu_t *e = self->ecus[idx];
  size_t queued = 0;
  for (const s_req_t *q = e->head; q; q = q->next) queued++;
  if (queued >= S_MAX_QUEUE) return DD_EBUSY;
  s_req_t *r = calloc(1, sizeof *r);
  if (!r || !(r->data = malloc(len))) {
    free(r);
    return DD_ENOMEM;
  }
  memcpy(r->data, req, len);
  r->len = len;
  r->functional = functional;
  r->fn = fn;
  r->arg = arg;
  if (e->tail) e->tail->next = r;
  else e->head = r;
  e->tail = r;
  s_schedule(self);
  return 0;
}

void dd_fd_vehicle_default_session(dd_fd_vehicle_t *self, size_t idx) {
  if (idx >= self->n_ecus) return;
  dd_uds_client_set_session(dd_tester_client(self->ecus[idx]->tester), DD_UDS_SESSION_DEFAULT,
                            dd_loop_now(dd_proc_loop(self->proc)));
}

/* ---- S101: the VIN ------------------------------------------------------------------------ */

static void s_id_start(dd_fd_vehicle_t *self);

static int s_id_retry(dd_loop_t *loop, int id, void *arg) {
  dd_fd_vehicle_t *self = arg;
  (void)loop;
  (void)id;
  self->retry_timer = 0;
  s_id_start(self);
  return 0;
}

/* S101: which VIN the device goes on with. When UDS and OBD-II agree, that one; when they
 * differ and exactly one passes ISO 3779 validation, that one (the other read is corrupt);
 * when both are valid and differ, neither can be trusted. */
static void s_id_finish(dd_fd_vehicle_t *self) {
  dd_vin_report_t rep;
  bool u_ok = self->vin_uds[0] && dd_vin_validate(self->vin_uds, DD_VIN_CHECK_AUTO, &rep) == 0;
  bool o_ok = self->vin_obd[0] && dd_vin_validate(self->vin_obd, DD_VIN_CHECK_AUTO, &rep) == 0;
  bool agree = !self->vin_uds[0] || !self->vin_obd[0] || !strcmp(self->vin_uds, self->vin_obd);
  const char *vin = self->vin_uds[0] ? self->vin_uds : self->vin_obd;
  bool valid = self->vin_uds[0] ? u_ok : o_ok;
  if (!agree) {
    if (!u_ok && o_ok) vin = self->vin_obd;
    valid = u_ok != o_ok;
    dd_events_emit(s_ev(self), "fd.vin_mismatch", DD_S("uds", self->vin_uds),
                   DD_S("obd", self->vin_obd), DD_S("using", valid ? vin : ""), DD_END);
  }
  dd_fd_vin_fn fn = self->vin_fn;
  self->vin_fn = NULL;
  if (fn) fn(valid ? vin : (vin[0] ? vin : ""), valid, self->vin_arg);
}

static void s_emit_vin(dd_fd_vehicle_t *self, const char *vin, const char *source) {
  dd_vin_report_t rep;
  bool valid = dd_vin_validate(vin, DD_VIN_CHECK_AUTO, &rep) == 0;
  dd_events_emit(s_ev(self), "fd.vin", DD_S("vin", vin), DD_S("source", source),
                 DD_B("valid", valid), DD_S("problem", valid ? "" : rep.text), DD_END);
}

static void s_on_obd_vin(int status, uint8_t nrc, const uint8_t *resp, size_t len, void *arg) {
  dd_fd_vehicle_t *self = arg;
  (void)nrc;
  self->vin_obd[0] = '\0';
  /* SAE J1979 / ISO 15031-5 service $09 InfoType $02 */
  if (status == 0 && dd_obd_parse_vin(resp, len, self->vin_obd) == 0)
    s_emit_vin(self, self->vin_obd, "obd");
  else
    self->vin_obd[0] = '\0';
  if (!self->vin_uds[0] && !self->vin_obd[0] && self->id_try == 0) {
    /* nothing on 11-bit: ISO 15765-4 29-bit normal fixed addressing; the tester calling us is
     * replaced, so from the loop, not from inside its callback */
    self->id_try = 1;
    int id = dd_loop_timer_after(dd_proc_loop(self->proc), 0, s_id_retry, self);
    self->retry_timer = id > 0 ? id : 0;
    if (id > 0) return;
  }
  s_id_finish(self);
}

static void s_on_uds_vin(int status, uint8_t nrc, const uint8_t *resp, size_t len, void *arg) {
  dd_fd_vehicle_t *self = arg;
  (void)nrc;
  const uint8_t *d;
  size_t dl = 0;
  uint8_t n2;
  self->vin_uds[0] = '\0';
  /* ISO 14229-1:2013 C.1: DID F190 VINDataIdentifier, 17 ASCII characters */
  if (status == 0 && dd_uds_parse_read_did(resp, len, 0xF190, &d, &dl, &n2) == 0 &&
      dl >= DD_VIN_LEN) {
    memcpy(self->vin_uds, d, DD_VIN_LEN);
    self->vin_uds[DD_VIN_LEN] = '\0';
    s_emit_vin(self, self->vin_uds, "uds");
  }
  const uint8_t obd[] = {DD_OBD_SVC_VEHICLE_INFO, 0x02};
  if (dd_fd_vehicle_request(self, 0, obd, sizeof obd, true, s_on_obd_vin, self) < 0)
    s_on_obd_vin(DD_EIO, 0, NULL, 0, self);
}

static void s_id_start(dd_fd_vehicle_t *self) {
  dd_fd_vehicle_clear(self);
  /* ISO 15765-4: the engine ECU at 7E0/7E8 (functional 7DF), or 18DA10F1/18DAF110 (18DB33F1) */
  int rc = self->id_try == 0
               ? dd_fd_vehicle_add(self, "engine", 0x7E0, 0x7E8, DD_OBD_FUNC_ID_11, false, false)
               : dd_fd_vehicle_add(self, "engine", 0x18DA10F1u, 0x18DAF110u, DD_OBD_FUNC_ID_29,
                                   true, false);
  const uint8_t req[] = {0x22, 0xF1, 0x90};
  if (rc < 0 || dd_fd_vehicle_request(self, 0, req, sizeof req, false, s_on_uds_vin, self) < 0) {
    self->vin_uds[0] = self->vin_obd[0] = '\0';
    s_id_finish(self);
  }
}

void dd_fd_vehicle_set_describe(dd_fd_vehicle_t *self, dd_fd_describe_fn fn, void *arg) {
  self->describe = fn;
  self->describe_arg = arg;
}

void dd_fd_vehicle_identify(dd_fd_vehicle_t *self, dd_fd_vin_fn fn, void *arg) {
  self->vin_fn = fn;
  self->vin_arg = arg;
  self->id_try = 0;
  s_id_start(self);
}

/* ---- S104: the DTC scan -------------------------------------------------------------------- */

static void s_scan_next(dd_fd_vehicle_t *self);

static void s_on_dtcs(int status, uint8_t nrc, const uint8_t *resp, size_t len, void *arg) {
  dd_fd_vehicle_t *self = arg;
  size_t idx = self->scan_idx;
  json_t *ecu = json_pack("{s:s, s:i, s:[]}", "name", dd_fd_vehicle_name(self, idx), "id",
                          (json_int_t)dd_fd_vehicle_req_id(self, idx), "dtcs");
  json_t *list = json_object_get(ecu, "dtcs");
  dd_uds_dtc_rec_t recs[128];
  size_t n = 0;
  uint8_t avail, n2;
  /* ISO 14229-1:2013 11.3.2.3: 59 02 availabilityMask (DTC status)* */
  if (status == 0 && dd_uds_parse_dtc_list(resp, len, 0x02, &avail, recs, 128, &n, &n2) == 0) {
    if (n > 128) n = 128;
    for (size_t k = 0; k < n; k++) {
      char text[DD_DTC_TEXT3_SIZE];
      dd_dtc_code_format3(recs[k].dtc, text);
      /* the manufacturer's text first (its codes are its own), then SAE J2012's */
      const char *desc = self->describe ? self->describe(self->describe_arg, idx, recs[k].dtc) : NULL;
      if (!desc) desc = dd_dtc_code_description((uint16_t)(recs[k].dtc >> 8));
      if (!desc) desc = "";
      json_array_append_new(list, json_pack("{s:s, s:i, s:s}", "code", text, "status",
                                            (json_int_t)recs[k].status, "description", desc));
      dd_events_emit(s_ev(self), "fd.dtc", DD_S("ecu", dd_fd_vehicle_name(self, idx)),
                     DD_S("code", text), DD_I("status", recs[k].status),
                     DD_S("description", desc), DD_END);
      self->scan_dtcs++;
    }
  } else {
    json_object_set_new(ecu, "error",
                        json_string(status == DD_EUDS_NRC ? "negative response"
                                                          : dd_strerror(status ? status
                                                                               : DD_EPROTO)));
    json_object_set_new(ecu, "nrc", json_integer(status == DD_EUDS_NRC ? nrc : 0));
    /* an ECU the diagnosis could not read is reported, never silently left out */
    dd_events_emit(s_ev(self), "fd.ecu_error", DD_S("ecu", dd_fd_vehicle_name(self, idx)),
                   DD_S("error", status == DD_EUDS_NRC ? "negative response"
                                                       : dd_err_name(status ? status : DD_EPROTO)),
                   DD_I("nrc", status == DD_EUDS_NRC ? nrc : 0), DD_END);
    self->scan_failed++;
  }
  json_array_append_new(json_object_get(self->scan, "ecus"), ecu);
  self->scan_idx++;
  s_scan_next(self);
}

static void s_scan_next(dd_fd_vehicle_t *self) {
  while (self->scan_idx < self->n_ecus) {
    const uint8_t req[] = {0x19, 0x02, 0xFF};
    if (dd_fd_vehicle_request(self, self->scan_idx, req, sizeof req, false, s_on_dtcs, self) == 0)
      return;
    self->scan_idx++;
  }
  json_object_set_new(self->scan, "dtcs", json_integer((json_int_t)self->scan_dtcs));
  dd_events_emit(s_ev(self), "fd.local_diagnosis", DD_I("ecus", self->n_ecus),
                 DD_I("dtcs", self->scan_dtcs), DD_I("failed", self->scan_failed), DD_END);
  json_t *scan = self->scan;
  self->scan = NULL;
  if (self->scan_fn) self->scan_fn(scan, self->scan_arg);
  json_decref(scan);
}

void dd_fd_vehicle_scan(dd_fd_vehicle_t *self, dd_fd_scan_fn fn, void *arg) {
  json_decref(self->scan);
  self->scan = json_pack("{s:[]}", "ecus");
  self->scan_fn = fn;
  self->scan_arg = arg;
  self->scan_failed = 0;
  self->scan_idx = 0;
  self->scan_dtcs = 0;
  s_scan_next(self);
}
