/* dd_fd: the first diagnostic device, wired: S101-S104, S41-S45 requests, S401-S402, S5. */
#include "dd_fd.h"

#include <assert.h>
#include <jansson.h>
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dd_control.h"
#include "dd_dtc_code.h"
#include "dd_err.h"
#include "dd_fd_history.h"
#include "dd_fd_reflash.h"
#include "dd_log.h"
#include "dd_obd.h"
#include "dd_package.h"
#include "dd_uds_client.h"

#define S_MAX_STREAMS 8
#define S_MAX_VALUES 64
#define S_HISTORY_BYTES (60u * 1024u) /* VehicleRecord.payload holds at most 64 KiB */

/* A periodic OBD sampling (LIVE_PIDS request or STREAM_PIDS control). */
typedef struct {
  bool on;              /* slot in use */
  uint64_t request_id;  /* request (or control) id the records answer */
  size_t ecu;           /* ECU index */
  uint8_t pids[6];      /* PIDs (SAE J1979: at most 6 per request) */
  size_t n_pids;        /* entries of pids */
  uint64_t period_us;   /* sampling period */
  uint32_t left;        /* samples still to take (0: until stopped) */
  bool counted;         /* left counts down */
  int timer;            /* loop timer */
  bool busy;            /* a sample is being read */
  struct dd_fd *fd;     /* owner */
} s_stream_t;

/* One read whose answer becomes a record. */
typedef struct {
  struct dd_fd *fd;     /* owner */
  uint64_t request_id;  /* request answered */
  size_t ecu;           /* ECU index */
  int kind;             /* VehicleDataRequest kind */
  bool last;            /* last record of the request */
  s_stream_t *stream;   /* sampling it belongs to, or NULL */
  uint16_t did;         /* DIDS: the DID read */
} s_read_t;

/* A control signal in progress. */
typedef struct {
  struct dd_fd *fd;         /* owner */
  uint64_t control_id;      /* control id */
  char terminal[128];       /* terminal that sent it (its own word) */
  char session[128];        /* session it names */
  char link[80];            /* link it came over ("im", "im:ID"); the answer goes back there */
  char link_terminal[128];  /* terminal at that link's end ("" unknown) */
  dd_control_action_t ca;   /* as dd_control names it */
  uint32_t ecu_id;          /* ECU request id (0: the engine ECU) */
  int ecu;                  /* its index, -1 unknown */
  char ecu_name[32];        /* its name for the audit */
  int items;                /* DTCs or values in the result (audit) */
  uint16_t ids[64];         /* ids */
  size_t n_ids;             /* entries of ids */
  uint8_t args[256];        /* args */
  size_t n_args;            /* length of args */
  double rate_hz;           /* STREAM_PIDS rate */
  char package_id[96];      /* START_REFLASH package */
  double speed_kmh;         /* vehicle speed read before deciding */
  double rpm;               /* engine speed read before deciding */
  bool extended_first;      /* IO_CONTROL/ROUTINE: 10 03 sent first */
  bool window_open;         /* session window open when the signal arrived */
  bool paid;                /* payment confirmed then (S16) */
  bool established;         /* request signal received then (S17) */
  char cur_session[128];    /* the device's session when the signal arrived */
  char cur_terminal[128];   /* the terminal holding it then */
} s_ctl_t;

#define S_MAX_HELD_REQ 16 /* data requests held until the service link stands */

struct dd_fd {
  dd_proc_t *proc;                /* process */
  dd_fd_cfg_t cfg;                /* configuration */
  dd_fd_vehicle_t *veh;           /* ECU access */
  dd_fd_remote_t *remote;         /* remote side */
  bool started;                   /* start command given (or autostart) */
  bool identifying;               /* S101-S104 under way */
  bool identified;                /* S104 done */
  char vin[DD_VIN_SIZE];          /* VIN read */
  bool vin_valid;                 /* it passed validation */
  Duodiag__VinInfo *vin_info;     /* registry answer (owned, unpacked copy) */
  Duodiag__VehicleDataRequest *held_req[S_MAX_HELD_REQ]; /* S41 requests that came between the
                                     request signal (S17) and the service link (S3) (owned) */
  size_t n_held_req;              /* entries of held_req */
  s_stream_t streams[S_MAX_STREAMS]; /* samplings */
  bool have_key;                  /* trust key loaded */
  uint8_t key[DD_PACKAGE_PUBLIC_KEY_BYTES]; /* trust key */
  /* S401-S402 */
  char pkg_id[96];                /* package being received or held */
  uint8_t pkg_sha[32];            /* offered SHA-256 */
  uint8_t pkg_sig[64];            /* offered signature of the SHA-256 (may be absent) */
  bool pkg_has_sig;               /* the offer carried one */
  uint32_t pkg_target;            /* offered target ECU request id */
  uint8_t *pkg_buf;               /* package bytes */
  size_t pkg_size, pkg_have;      /* total size, contiguous bytes received */
  unsigned pkg_pct;               /* last RECEIVING percent reported */
  dd_package_t *pkg;              /* verified package, or NULL */
  int pkg_ecu;                    /* its ECU index */
  char hw_part[64];               /* F191 (or F187) of the target ECU */
  dd_fd_reflash_t *rf;            /* reflash in progress, or NULL */
  int rf_timer;                   /* wait timer */
  unsigned rf_pct;                /* last percent reported */
  int rf_phase;                   /* last phase reported */
  uint64_t rf_control;            /* START_REFLASH control id answered at the end (0: none) */
  uint64_t rf_t0;                 /* when the reflash started */
  bool pkg_hold;                  /* the offer asks to wait for a START_REFLASH control (S5) */
};

static dd_events_t *s_ev(dd_fd_t *self) { return dd_proc_events(self->proc); }
static uint64_t s_now(dd_fd_t *self) { return dd_loop_now(dd_proc_loop(self->proc)); }

/* ---- defects ------------------------------------------------------------------------------- */

static const struct {
  const char *name; /* option value */
  unsigned bit;     /* DD_FD_DEFECT_* */
} s_defects[] = {
    {"no_hysteresis", DD_FD_DEFECT_NO_HYSTERESIS},
    {"no_resend_on_switch", DD_FD_DEFECT_NO_RESEND_ON_SWITCH},
    {"wrong_block_counter_wrap", DD_FD_DEFECT_WRONG_BSC_WRAP},
    {"ignore_0x78", DD_FD_DEFECT_IGNORE_0X78},
    {"accept_unsigned", DD_FD_DEFECT_ACCEPT_UNSIGNED},
    {"accept_unpaid_control", DD_FD_DEFECT_ACCEPT_UNPAID_CONTROL},
};

unsigned dd_fd_defect_parse(const char *name) {
  for (size_t i = 0; i < sizeof s_defects / sizeof s_defects[0]; i++)
    if (!strcmp(name, s_defects[i].name)) return s_defects[i].bit;
  return 0;
}

const char *dd_fd_defect_help(void) {
  return "    no_hysteresis            back from relay to direct as soon as the latency is below\n"
         "                             the threshold (no hysteresis margin, no hold time)\n"
         "    no_resend_on_switch      a path change does not resend unacknowledged records\n"
         "    wrong_block_counter_wrap TransferData counter wraps FF -> 01 instead of FF -> 00\n"
         "    ignore_0x78              a responsePending (7F xx 78) ends the request as failed\n"
         "    accept_unsigned          programming packages are not signature-checked\n"
         "    accept_unpaid_control    control signals are obeyed outside a paid session\n";
}

/* ---- records ------------------------------------------------------------------------------- */

typedef struct {
  Duodiag__VehicleRecord rec;               /* the record */
  Duodiag__Value vals[S_MAX_VALUES];        /* its values */
  Duodiag__Value *ptrs[S_MAX_VALUES];       /* pointers for rec.values */
  char texts[S_MAX_VALUES][96];             /* value texts */
  char names[S_MAX_VALUES][48];             /* value names */
} s_rec_t;

static void s_rec_init(s_rec_t *r, uint64_t request_id, uint32_t ecu_id, uint64_t now) {
  memset(r, 0, sizeof *r);
  duodiag__vehicle_record__init(&r->rec);
  r->rec.request_id = request_id;
  r->rec.ecu_id = ecu_id;
  r->rec.sampled_us = now;
  r->rec.values = r->ptrs;
}

static void s_rec_value(s_rec_t *r, const char *name, const char *unit, double v,
                        const char *text) {
  size_t i = r->rec.n_values;
  if (i >= S_MAX_VALUES) return;
  duodiag__value__init(&r->vals[i]);
  snprintf(r->names[i], sizeof r->names[i], "%s", name);
  snprintf(r->texts[i], sizeof r->texts[i], "%s", text ? text : "");
  r->vals[i].name = r->names[i];
  r->vals[i].unit = (char *)(unit ? unit : "");
  r->vals[i].value = isfinite(v) ? v : 0.0;
  r->vals[i].text = r->texts[i];
  r->ptrs[i] = &r->vals[i];
  r->rec.n_values = i + 1;
}

static void s_rec_push(dd_fd_t *self, s_rec_t *r, const uint8_t *payload, size_t len, bool last) {
  r->rec.payload.data = (uint8_t *)payload;
  r->rec.payload.len = payload ? len : 0;
  r->rec.last = last;
  int rc = dd_fd_remote_push_record(self->remote, &r->rec);
  if (rc < 0)
    dd_events_emit(s_ev(self), "fd.record_dropped", DD_I("request_id", r->rec.request_id),
                   DD_S("why", dd_strerror(rc)), DD_END);
}

/* The registry's description of a DTC of ECU idx (S103-S104), or NULL. */
static const char *s_dtc_text(void *arg, size_t idx, uint32_t dtc) {
  dd_fd_t *self = arg;
  const Duodiag__VinInfo *vi = self->vin_info;
  uint32_t req = dd_fd_vehicle_req_id(self->veh, idx);
  for (size_t i = 0; vi && i < vi->n_ecus; i++) {
    if (vi->ecus[i]->request_can_id != req) continue;
    for (size_t k = 0; k < vi->ecus[i]->n_dtc_texts; k++)
      if (vi->ecus[i]->dtc_texts[k]->dtc == dtc && vi->ecus[i]->dtc_texts[k]->text[0])
        return vi->ecus[i]->dtc_texts[k]->text;
  }
  return NULL;
}

/* Decoded values of a response into a record. */
static void s_decode(dd_fd_t *self, s_rec_t *r, int kind, size_t ecu, const uint8_t *resp,
                     size_t len, uint16_t did) {
  char hex[96];
  if (kind == DUODIAG__VEHICLE_DATA_REQUEST__KIND__DTCS) {
    dd_uds_dtc_rec_t recs[S_MAX_VALUES];
    size_t n = 0;
    uint8_t avail, nrc;
    if (dd_uds_parse_dtc_list(resp, len, 0x02, &avail, recs, S_MAX_VALUES, &n, &nrc) == 0) {
      if (n > S_MAX_VALUES) n = S_MAX_VALUES;
      for (size_t k = 0; k < n; k++) {
        char code[DD_DTC_TEXT3_SIZE];
        dd_dtc_code_format3(recs[k].dtc, code);
        const char *d = s_dtc_text(self, ecu, recs[k].dtc);
        if (!d) d = dd_dtc_code_description((uint16_t)(recs[k].dtc >> 8));
        char text[96];
        snprintf(text, sizeof text, "status 0x%02X%s%s", recs[k].status, d ? ": " : "",
                 d ? d : "");
        s_rec_value(r, code, "", recs[k].status, text);
      }
    }
  } else if (kind == DUODIAG__VEHICLE_DATA_REQUEST__KIND__LIVE_PIDS ||
             kind == DUODIAG__VEHICLE_DATA_REQUEST__KIND__FREEZE_FRAME) {
    dd_obd_value_t v[8];
    size_t n = 0;
    if (dd_obd_parse_values(resp, len, v, 8, &n) == 0)
      for (size_t k = 0; k < n; k++) {
        char name[48];
        snprintf(name, sizeof name, "pid_%02X", v[k].pid);
        s_rec_value(r, v[k].name ? v[k].name : name, v[k].unit, v[k].value, name);
      }
  } else if (kind == DUODIAG__VEHICLE_DATA_REQUEST__KIND__DIDS && len >= 3) {
    size_t dl = len - 3, k = 0;
    double num = 0;
    bool ascii = dl > 0;
    for (size_t i = 0; i < dl; i++) {
      if (i < 4) num = num * 256 + resp[3 + i];
      if (resp[3 + i] < 0x20 || resp[3 + i] > 0x7E) ascii = false;
      if (k + 3 < sizeof hex) k += (size_t)snprintf(hex + k, sizeof hex - k, "%02X", resp[3 + i]);
    }
    if (!dl) hex[0] = '\0';
    char name[16], text[96];
    snprintf(name, sizeof name, "did_%04X", did);
    if (ascii) snprintf(text, sizeof text, "%.*s", (int)(dl < 90 ? dl : 90), resp + 3);
    else snprintf(text, sizeof text, "%s", hex);
    s_rec_value(r, name, "", dl <= 4 ? num : 0, text);
  }
}

static void s_on_read(int status, uint8_t nrc, const uint8_t *resp, size_t len, void *arg) {
  s_read_t *rd = arg;
  dd_fd_t *self = rd->fd;
  s_rec_t r;
  s_rec_init(&r, rd->request_id, dd_fd_vehicle_req_id(self->veh, rd->ecu), s_now(self));
  if (status == 0) {
    s_decode(self, &r, rd->kind, rd->ecu, resp, len, rd->did);
  } else {
    char text[96];
    snprintf(text, sizeof text, "%s", status == DD_EUDS_NRC ? "negative response"
                                                            : dd_strerror(status));
    s_rec_value(&r, "error", "", status == DD_EUDS_NRC ? nrc : 0, text);
  }
  bool last = rd->last;
  if (rd->stream) {
    s_stream_t *st = rd->stream;
    st->busy = false;
    last = st->counted && st->left == 0;
    if (last) st->on = false;
  }
  s_rec_push(self, &r, status == 0 ? resp : NULL, len, last);
  free(rd);
}

static void s_read(dd_fd_t *self, uint64_t request_id, size_t ecu, int kind, const uint8_t *req,
                   size_t len, bool functional, bool last, uint16_t did) {
  s_read_t *rd = calloc(1, sizeof *rd);
  if (!rd) return;
  *rd = (s_read_t){.fd = self, .request_id = request_id, .ecu = ecu, .kind = kind, .last = last,
                   .did = did};
  if (dd_fd_vehicle_request(self->veh, ecu, req, len, functional, s_on_read, rd) < 0)
    s_on_read(DD_EBUSY, 0, NULL, 0, rd);
}

/* ---- samplings (LIVE_PIDS, STREAM_PIDS) ---------------------------------------------------- */

static int s_on_sample(dd_loop_t *loop, int id, void *arg) {
  s_stream_t *st = arg;
  dd_fd_t *self = st->fd;
  (void)loop;
  (void)id;
  if (!st->on) return 0;
  if (st->busy) return 0; /* the previous sample is still being read: skip this one */
  if (st->counted) {
    if (st->left == 0) return 0;
    st->left--;
  }
  uint8_t req[8];
  size_t len = 0;
  /* SAE J1979 service $01 with up to 6 PIDs */
  if (dd_obd_build_request(DD_OBD_SVC_CURRENT_DATA, st->pids, st->n_pids, req, sizeof req, &len))
    return 0;
  s_read_t *rd = calloc(1, sizeof *rd);
  if (!rd) return 0;
  *rd = (s_read_t){.fd = self, .request_id = st->request_id, .ecu = st->ecu,
                   .kind = DUODIAG__VEHICLE_DATA_REQUEST__KIND__LIVE_PIDS, .stream = st};
  st->busy = true;
  if (dd_fd_vehicle_request(self->veh, st->ecu, req, len, false, s_on_read, rd) < 0)
    s_on_read(DD_EBUSY, 0, NULL, 0, rd);
  if (!st->on || (st->counted && st->left == 0)) {
    dd_loop_timer_cancel(dd_proc_loop(self->proc), st->timer);
    st->timer = 0;
  }
  return 0;
}

static void s_stop_streams(dd_fd_t *self) {
  for (size_t i = 0; i < S_MAX_STREAMS; i++) {
    s_stream_t *st = &self->streams[i];
    if (st->timer) dd_loop_timer_cancel(dd_proc_loop(self->proc), st->timer);
    st->timer = 0;
    st->on = false;
  }
}

static int s_start_stream(dd_fd_t *self, uint64_t request_id, size_t ecu, const uint32_t *pids,
                          size_t n, double rate_hz, uint32_t count) {
  s_stream_t *st = NULL;
  for (size_t i = 0; i < S_MAX_STREAMS && !st; i++)
    if (!self->streams[i].on && !self->streams[i].busy) st = &self->streams[i];
  if (!st) return DD_ENOSPC;
  memset(st, 0, sizeof *st);
  st->fd = self;
  st->on = true;
  st->request_id = request_id;
  st->ecu = ecu;
  for (size_t i = 0; i < n && st->n_pids < 6; i++)
    if (pids[i] <= 0xFF) st->pids[st->n_pids++] = (uint8_t)pids[i];
  if (!st->n_pids) st->pids[st->n_pids++] = 0x0C;
  st->period_us = rate_hz > 0 ? (uint64_t)(1e6 / rate_hz) : 0;
  st->counted = count > 0 || rate_hz <= 0;
  st->left = rate_hz <= 0 ? 1 : count;
  if (st->period_us == 0) {
    s_on_sample(dd_proc_loop(self->proc), 0, st);
    return 0;
  }
  int id = dd_loop_timer_every(dd_proc_loop(self->proc), st->period_us, s_on_sample, st);
  st->timer = id > 0 ? id : 0;
  s_on_sample(dd_proc_loop(self->proc), 0, st); /* first sample now */
  return 0;
}

/* ---- S41-S42: vehicle data requests -------------------------------------------------------- */

static void s_history_record(dd_fd_t *self, uint64_t request_id) {
  json_t *all = NULL;
  s_rec_t r;
  s_rec_init(&r, request_id, 0, s_now(self));
  if (!self->cfg.history_path || dd_fd_history_load(self->cfg.history_path, &all, NULL) < 0) {
    s_rec_value(&r, "entries", "", 0, "no history");
    s_rec_push(self, &r, NULL, 0, true);
    json_decref(all);
    return;
  }
  size_t n = json_array_size(all);
  /* the newest entries that fit one record */
  char *text = NULL;
  size_t from = 0;
  for (;;) {
    json_t *slice = json_array();
    for (size_t i = from; i < n; i++) json_array_append(slice, json_array_get(all, i));
    text = json_dumps(slice, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(slice);
    if (!text || strlen(text) <= S_HISTORY_BYTES || from >= n) break;
    free(text);
    text = NULL;
    from++;
  }
  s_rec_value(&r, "entries", "", (double)(n - from), "");
  s_rec_push(self, &r, (const uint8_t *)text, text ? strlen(text) : 0, true);
  free(text);
  json_decref(all);
}

static void s_vin_info_record(dd_fd_t *self, uint64_t request_id) {
  s_rec_t r;
  s_rec_init(&r, request_id, 0, s_now(self));
  s_rec_value(&r, "vin", "", 0, self->vin);
  uint8_t *b = NULL;
  size_t len = 0;
  if (self->vin_info) {
    const Duodiag__VinInfo *v = self->vin_info;
    s_rec_value(&r, "make", "", 0, v->make);
    s_rec_value(&r, "model", "", 0, v->model);
    s_rec_value(&r, "model_year", "", v->model_year, "");
    s_rec_value(&r, "vehicle_type", "", 0, v->vehicle_type);
    s_rec_value(&r, "engine", "", 0, v->engine);
    s_rec_value(&r, "chassis_number", "", 0, v->chassis_number);
    s_rec_value(&r, "ecus", "", (double)v->n_ecus, "");
    len = duodiag__vin_info__get_packed_size(v);
    b = malloc(len ? len : 1);
    if (b) duodiag__vin_info__pack(v, b);
  }
  s_rec_push(self, &r, b, b ? len : 0, true);
  free(b);
}

static void s_on_data_request(dd_fd_t *self, const Duodiag__VehicleDataRequest *q) {
  dd_events_emit(s_ev(self), "fd.data_request", DD_I("request_id", q->request_id),
                 DD_I("data_kind", q->kind), DD_I("items", q->n_items), DD_END);
  bool same = !strcmp(q->session_id, dd_fd_remote_session_id(self->remote));
  if (same && !dd_fd_remote_established(self->remote) && dd_fd_remote_paid(self->remote) &&
      self->n_held_req < S_MAX_HELD_REQ) {
    /* The technician may ask as soon as the connection stands (S17-S2); the data flows once
     * the link to the service device is up (S3): keep the request until then. */
    size_t len = duodiag__vehicle_data_request__get_packed_size(q);
    uint8_t *b = malloc(len ? len : 1);
    Duodiag__VehicleDataRequest *copy = NULL;
    if (b) {
      duodiag__vehicle_data_request__pack(q, b);
      copy = duodiag__vehicle_data_request__unpack(NULL, len, b);
      free(b);
    }
    if (copy) {
      self->held_req[self->n_held_req++] = copy;
      dd_events_emit(s_ev(self), "fd.data_request_held", DD_I("request_id", q->request_id),
                     DD_S("why", "service link not up yet"), DD_END);
      return;
    }
  }
  if (!dd_fd_remote_established(self->remote) || !same) {
    dd_events_emit(s_ev(self), "fd.data_request_refused", DD_I("request_id", q->request_id),
                   DD_S("why", "no established session"), DD_END);
    return;
  }
  if (self->rf) {
    dd_events_emit(s_ev(self), "fd.data_request_refused", DD_I("request_id", q->request_id),
                   DD_S("why", "reflash in progress"), DD_END);
    return;
  }
  int ecu = dd_fd_vehicle_find(self->veh, q->ecu_id);
  if (ecu < 0) ecu = 0;
  uint8_t req[64];
  size_t len = 0;
  switch (q->kind) {
  case DUODIAG__VEHICLE_DATA_REQUEST__KIND__DTCS: {
    /* ISO 14229-1:2013 11.3: reportDTCByStatusMask, every status bit; all ECUs for 0 */
    const uint8_t r19[] = {0x19, 0x02, 0xFF};
    size_t n = dd_fd_vehicle_count(self->veh);
    if (q->ecu_id) {
      s_read(self, q->request_id, (size_t)ecu, q->kind, r19, 3, false, true, 0);
    } else {
      for (size_t i = 0; i < n; i++)
        s_read(self, q->request_id, i, q->kind, r19, 3, false, i + 1 == n, 0);
    }
    break;
  }
  case DUODIAG__VEHICLE_DATA_REQUEST__KIND__LIVE_PIDS: {
    int rc = s_start_stream(self, q->request_id, (size_t)ecu, q->items, q->n_items, q->rate_hz,
                            q->count);
    if (rc < 0)
      dd_events_emit(s_ev(self), "fd.data_request_refused", DD_I("request_id", q->request_id),
                     DD_S("why", dd_strerror(rc)), DD_END);
    break;
  }
  case DUODIAG__VEHICLE_DATA_REQUEST__KIND__DIDS:
    for (size_t i = 0; i < q->n_items; i++) {
      uint16_t did = (uint16_t)q->items[i];
      int n = dd_uds_build_read_dids(req, sizeof req, &did, 1);
      if (n > 0)
        s_read(self, q->request_id, (size_t)ecu, q->kind, req, (size_t)n, false,
               i + 1 == q->n_items, did);
    }
    if (!q->n_items) s_vin_info_record(self, q->request_id);
    break;
  case DUODIAG__VEHICLE_DATA_REQUEST__KIND__FREEZE_FRAME: {
    /* SAE J1979 service $02, frame 0: the DTC that stored it, then a few values */
    const uint8_t a[] = {0x02, 0x0C, 0x0D}, b[] = {0x05, 0x04, 0x11};
    if (dd_obd_build_freeze_request(a, 3, 0, req, sizeof req, &len) == 0)
      s_read(self, q->request_id, (size_t)ecu, q->kind, req, len, false, false, 0);
    if (dd_obd_build_freeze_request(b, 3, 0, req, sizeof req, &len) == 0)
      s_read(self, q->request_id, (size_t)ecu, q->kind, req, len, false, true, 0);
    break;
  }
  case DUODIAG__VEHICLE_DATA_REQUEST__KIND__HISTORY:
    s_history_record(self, q->request_id);
    break;
  case DUODIAG__VEHICLE_DATA_REQUEST__KIND__VIN_INFO:
    s_vin_info_record(self, q->request_id);
    break;
  default:
    break;
  }
}

/* ---- S401-S402: programming ---------------------------------------------------------------- */

static void s_status(dd_fd_t *self, int phase, unsigned pct, int code, unsigned nrc,
                     const char *msg) {
  Duodiag__ProgramStatus st = DUODIAG__PROGRAM_STATUS__INIT;
  st.package_id = self->pkg_id[0] ? self->pkg_id : "unknown";
  st.phase = (Duodiag__ProgramStatus__Phase)phase;
  st.percent = pct > 100 ? 100 : pct;
  st.result_code = code;
  st.nrc = nrc;
  st.message = (char *)(msg ? msg : "");
  Duodiag__Envelope env;
  dd_fd_remote_env(self->remote, &env);
  env.body_case = DUODIAG__ENVELOPE__BODY_PROGRAM_STATUS;
  env.program_status = &st;
  dd_fd_remote_send_service(self->remote, &env);
  /* a fresh envelope (its own sequence number) with the same body for the terminal */
  dd_fd_remote_env(self->remote, &env);
  env.body_case = DUODIAG__ENVELOPE__BODY_PROGRAM_STATUS;
  env.program_status = &st;
  dd_fd_remote_send_im(self->remote, &env);
}

static void s_control_result(dd_fd_t *self, uint64_t control_id, bool accepted, int code,
                             uint8_t nrc, const char *reason, const uint8_t *result, size_t len,
                             const char *text);

static void s_rf_drive(dd_fd_t *self);

static int s_rf_wake(dd_loop_t *loop, int id, void *arg) {
  dd_fd_t *self = arg;
  (void)loop;
  (void)id;
  self->rf_timer = 0;
  s_rf_drive(self);
  return 0;
}

static void s_rf_result(int status, uint8_t nrc, const uint8_t *resp, size_t len, void *arg) {
  dd_fd_t *self = arg;
  if (!self->rf) return;
  dd_fd_reflash_on_result(self->rf, status, nrc, resp, len, s_now(self));
  s_rf_drive(self);
}

static void s_rf_report(dd_fd_t *self) {
  const char *ecu = dd_fd_vehicle_name(self->veh, (size_t)self->pkg_ecu);
  int phase = (int)dd_fd_reflash_phase(self->rf);
  unsigned pct = dd_fd_reflash_percent(self->rf);
  if (phase == self->rf_phase && pct < self->rf_pct + 10) return;
  self->rf_phase = phase;
  self->rf_pct = pct;
  dd_events_emit(s_ev(self), "reflash.phase", DD_S("ecu", ecu),
                 DD_S("phase", dd_fd_reflash_phase_name((dd_fd_reflash_phase_t)phase)),
                 DD_I("percent", pct), DD_END);
  if (phase != DD_FR_DONE && phase != DD_FR_FAILED) s_status(self, phase, pct, 0, 0, NULL);
}

static void s_rf_drive(dd_fd_t *self) {
  while (self->rf) {
    s_rf_report(self);
    dd_fd_reflash_step_t st;
    dd_fd_reflash_next(self->rf, s_now(self), &st);
    s_rf_report(self); /* building the next request may have entered a new phase */
    if (st.todo == DD_FR_BUSY) return;
    if (st.todo == DD_FR_WAIT) {
      if (!self->rf_timer) {
        int id = dd_loop_timer_at(dd_proc_loop(self->proc), st.until_us, s_rf_wake, self);
        self->rf_timer = id > 0 ? id : 0;
      }
      /* the ECU restarts: its tester must expect the default session (ISO 14229-1 9.3) */
      dd_fd_vehicle_default_session(self->veh, (size_t)self->pkg_ecu);
      return;
    }
    if (st.todo == DD_FR_SEND) {
      int rc = dd_fd_vehicle_request(self->veh, (size_t)self->pkg_ecu, st.req, st.len, false,
                                     s_rf_result, self);
      if (rc < 0) dd_fd_reflash_on_result(self->rf, rc, 0, NULL, 0, s_now(self));
      else return;
      continue;
    }
    /* DD_FR_END */
    bool ok = dd_fd_reflash_phase(self->rf) == DD_FR_DONE;
    const char *ecu = dd_fd_vehicle_name(self->veh, (size_t)self->pkg_ecu);
    const char *ver = dd_fd_reflash_version(self->rf);
    const char *why = ok ? "" : dd_fd_reflash_why(self->rf);
    int code = ok ? 0 : dd_fd_reflash_error(self->rf);
    uint8_t nrc = ok ? 0 : dd_fd_reflash_nrc(self->rf);
    uint64_t now = s_now(self);
    dd_events_emit(s_ev(self), "reflash.result", DD_S("ecu", ecu), DD_B("ok", ok),
                   DD_S("version", ver), DD_S("error", why), DD_I("nrc", nrc),
                   DD_I("blocks", dd_fd_reflash_blocks(self->rf)),
                   DD_S("supplier_version", dd_fd_reflash_supplier_version(self->rf)),
                   DD_S("package_id", self->pkg_id),
                   DD_S("expected", self->pkg ? dd_package_info(self->pkg)->sw_version : ""),
                   DD_S("stage", dd_fd_reflash_step_name(self->rf)), DD_I("code", code),
                   DD_I("bytes", dd_fd_reflash_bytes(self->rf)),
                   DD_I("transfer_ms", dd_fd_reflash_transfer_us(self->rf, now) / 1000),
                   DD_I("duration_ms", (now - self->rf_t0) / 1000), DD_END);
    s_status(self, ok ? DD_FR_DONE : DD_FR_FAILED, ok ? 100 : dd_fd_reflash_percent(self->rf),
             code, nrc, ok ? ver : why);
    if (self->rf_control)
      s_control_result(self, self->rf_control, ok, code, nrc, why, NULL, 0,
                       ok ? ver : "reflash failed");
    self->rf_control = 0;
    dd_fd_reflash_destroy(&self->rf);
    return;
  }
}

static dd_fd_secret_t *s_secret(dd_fd_t *self, size_t ecu) {
  char id[16];
  snprintf(id, sizeof id, "0x%X", dd_fd_vehicle_req_id(self->veh, ecu));
  for (size_t i = 0; i < self->cfg.n_secrets; i++) {
    dd_fd_secret_t *s = &self->cfg.secrets[i];
    if (!strcasecmp(s->ecu, dd_fd_vehicle_name(self->veh, ecu)) || !strcasecmp(s->ecu, id) ||
        strtoul(s->ecu, NULL, 0) == dd_fd_vehicle_req_id(self->veh, ecu))
      return s;
  }
  return NULL;
}

/* Start the reflash of the held package; 0 or a negative code (reason in why). */
static int s_rf_start(dd_fd_t *self, const char **why) {
  *why = "";
  if (!self->pkg) {
    *why = "no verified package";
    return DD_ENOENT;
  }
  if (self->rf) {
    *why = "a reflash is running";
    return DD_EBUSY;
  }
  dd_fd_reflash_cfg_t rc;
  dd_fd_reflash_cfg_default(&rc);
  dd_fd_secret_t *sec = s_secret(self, (size_t)self->pkg_ecu);
  if (sec) {
    rc.security_level = sec->level;
    rc.secret = sec->secret;
  } else {
    rc.security_level = 0; /* no secret known: try without security access */
  }
  rc.wrong_bsc_wrap = self->cfg.defects & DD_FD_DEFECT_WRONG_BSC_WRAP;
  /* FF00 erases the whole area (the registry gives no flash geometry); FF01 carries the
   * package's CRC-32 of its data, which the ECU compares with what it programmed. The version
   * the ECU reports after the reset must be the package's. */
  rc.send_crc = true;
  rc.check_version = true;
  int err = dd_fd_reflash_new(&rc, self->pkg, &self->rf);
  if (err < 0) {
    *why = "out of memory";
    return err;
  }
  s_stop_streams(self);
  self->rf_pct = 0;
  self->rf_phase = 0;
  self->rf_t0 = s_now(self);
  s_rf_drive(self);
  return 0;
}

/* A reflash that does not happen (package refused, start refused): reflash.result {ok: false}
 * with the reason, so that whoever waits for the result gets one, ProgramStatus FAILED to the
 * service device and the terminal, and the START_REFLASH control's answer (control_id 0: none).
 * stage says where it stopped: "package" (the checks of S402) or "start". */
static void s_rf_refused(dd_fd_t *self, uint64_t control_id, int code, const char *stage,
                         const char *why) {
  char ecu[32];
  if (self->pkg_ecu >= 0)
    snprintf(ecu, sizeof ecu, "%s", dd_fd_vehicle_name(self->veh, (size_t)self->pkg_ecu));
  else
    snprintf(ecu, sizeof ecu, "0x%X", self->pkg_target);
  dd_events_emit(s_ev(self), "reflash.result", DD_S("ecu", ecu), DD_B("ok", false),
                 DD_S("version", ""), DD_S("error", why), DD_I("nrc", 0), DD_I("blocks", 0),
                 DD_S("package_id", self->pkg_id), DD_S("expected", ""), DD_S("stage", stage),
                 DD_I("code", code), DD_I("bytes", 0), DD_I("transfer_ms", 0),
                 DD_I("duration_ms", 0), DD_END);
  s_status(self, DUODIAG__PROGRAM_STATUS__PHASE__FAILED, 0, code, 0, why);
  if (control_id) s_control_result(self, control_id, false, code, 0, why, NULL, 0, "");
}

static void s_pkg_refuse(dd_fd_t *self, int code, const char *reason) {
  dd_events_emit(s_ev(self), "fd.package_refused", DD_S("package_id", self->pkg_id),
                 DD_S("reason", reason), DD_I("code", code), DD_END);
  s_rf_refused(self, 0, code, "package", reason);
}

/* The hardware part number has been read: verify the package (S402 checks) and start. */
static void s_on_hw_part(int status, uint8_t nrc, const uint8_t *resp, size_t len, void *arg) {
  dd_fd_t *self = arg;
  (void)nrc;
  const uint8_t *d;
  size_t dl = 0;
  uint8_t n2;
  if (status == 0 && len >= 3) {
    uint16_t did = (uint16_t)(resp[1] << 8 | resp[2]);
    if (dd_uds_parse_read_did(resp, len, did, &d, &dl, &n2) == 0) {
      size_t k = 0;
      for (; k < dl && k + 1 < sizeof self->hw_part && d[k] >= 0x20 && d[k] < 0x7F; k++)
        self->hw_part[k] = (char)d[k];
      self->hw_part[k] = '\0';
    }
  } else if (!self->hw_part[0] && status != 0 && arg) {
    /* F191 missing: ask for F187 (spare part number) once */
    static const uint8_t f187[] = {0x22, 0xF1, 0x87};
    self->hw_part[0] = '\x01';
    if (dd_fd_vehicle_request(self->veh, (size_t)self->pkg_ecu, f187, 3, false, s_on_hw_part,
                              self) == 0)
      return;
  }
  if (self->hw_part[0] == '\x01') self->hw_part[0] = '\0';
  dd_package_target_t exp = {.ecu_name = dd_fd_vehicle_name(self->veh, (size_t)self->pkg_ecu),
                             .can_id = self->pkg_target, .hw_part = self->hw_part};
  if (self->pkg_target > 0x7FF) exp.can_id = self->pkg_target | DD_PACKAGE_CAN_EFF;
  char why[DD_PACKAGE_WHY_MAX];
  int rc;
  dd_package_destroy(&self->pkg);
  if (self->cfg.defects & DD_FD_DEFECT_ACCEPT_UNSIGNED) {
    /* planted defect: structure and target only, no signature */
    rc = dd_package_parse(self->pkg_buf, self->pkg_size, &self->pkg, why, sizeof why);
    if (rc == 0) {
      const dd_package_info_t *inf = dd_package_info(self->pkg);
      if (strcmp(inf->ecu_name, exp.ecu_name) || inf->can_id != exp.can_id) {
        rc = DD_ETARGET;
        snprintf(why, sizeof why, "package for %s, not %s", inf->ecu_name, exp.ecu_name);
        dd_package_destroy(&self->pkg);
      }
    }
  } else if (!self->have_key) {
    rc = DD_ESIGNATURE;
    snprintf(why, sizeof why, "no trust key configured (--trust-key)");
  } else {
    rc = dd_package_open(self->pkg_buf, self->pkg_size, self->key, &exp, &self->pkg, why,
                         sizeof why);
  }
  if (rc < 0) {
    s_pkg_refuse(self, rc, why);
    return;
  }
  const dd_package_info_t *inf = dd_package_info(self->pkg);
  dd_events_emit(s_ev(self), "fd.package_verified", DD_S("package_id", self->pkg_id),
                 DD_S("ecu", inf->ecu_name), DD_S("version", inf->sw_version),
                 DD_I("size", self->pkg_size), DD_B("hold", self->pkg_hold), DD_END);
  if (self->pkg_hold) {
    /* S5: the technician starts it (START_REFLASH) when the vehicle is ready */
    s_status(self, DUODIAG__PROGRAM_STATUS__PHASE__VERIFYING, 100, 0, 0,
             "verified; waiting for start_reflash");
    return;
  }
  const char *w;
  rc = s_rf_start(self, &w);
  if (rc < 0) s_rf_refused(self, 0, rc, "start", w);
}

static void s_pkg_complete(dd_fd_t *self) {
  s_status(self, DUODIAG__PROGRAM_STATUS__PHASE__VERIFYING, 0, 0, 0, NULL);
  uint8_t sha[32];
  crypto_hash_sha256(sha, self->pkg_buf, self->pkg_size);
  if (memcmp(sha, self->pkg_sha, 32) != 0) {
    s_pkg_refuse(self, DD_ECRC, "SHA-256 of the package differs from the offer");
    return;
  }
  if (self->pkg_has_sig && self->have_key && !(self->cfg.defects & DD_FD_DEFECT_ACCEPT_UNSIGNED) &&
      crypto_sign_verify_detached(self->pkg_sig, self->pkg_sha, 32, self->key) != 0) {
    s_pkg_refuse(self, DD_ESIGNATURE, "offer signature does not verify with the trust key");
    return;
  }
  self->pkg_ecu = dd_fd_vehicle_find(self->veh, self->pkg_target);
  if (self->pkg_ecu < 0 || !self->pkg_target) {
    char why[96];
    snprintf(why, sizeof why, "target ECU 0x%X is not fitted to this vehicle", self->pkg_target);
    s_pkg_refuse(self, DD_ETARGET, why);
    return;
  }
  /* ISO 14229-1:2013 C.1: F191 vehicleManufacturerECUHardwareNumber */
  static const uint8_t f191[] = {0x22, 0xF1, 0x91};
  self->hw_part[0] = '\0';
  if (dd_fd_vehicle_request(self->veh, (size_t)self->pkg_ecu, f191, 3, false, s_on_hw_part,
                            self) < 0)
    s_on_hw_part(DD_EBUSY, 0, NULL, 0, NULL);
}

static void s_program_ack(dd_fd_t *self) {
  Duodiag__ProgramAck a = DUODIAG__PROGRAM_ACK__INIT;
  a.package_id = self->pkg_id;
  a.next_offset = self->pkg_have;
  Duodiag__Envelope env;
  dd_fd_remote_env(self->remote, &env);
  env.body_case = DUODIAG__ENVELOPE__BODY_PROGRAM_ACK;
  env.program_ack = &a;
  dd_fd_remote_send_service(self->remote, &env);
}

static void s_on_offer(dd_fd_t *self, const Duodiag__ProgramOffer *o) {
  bool same = !strcmp(o->package_id, self->pkg_id) && o->total_size == self->pkg_size &&
              self->pkg_buf && o->sha256.len == 32 && !memcmp(o->sha256.data, self->pkg_sha, 32);
  /* One package at a time while a reflash runs (the service device tries again later); the
   * one being flashed is answered, so that its sender sees it complete. */
  if (self->rf && !same) return;
  if (!same && (o->sha256.len != 32 || o->total_size == 0 ||
                o->total_size > DD_PACKAGE_MAX_SIZE)) {
    dd_events_emit(s_ev(self), "fd.package_refused", DD_S("package_id", o->package_id),
                   DD_S("reason", "malformed offer"), DD_I("code", DD_EILSEQ), DD_END);
    return;
  }
  if (!same) {
    free(self->pkg_buf);
    dd_package_destroy(&self->pkg);
    self->pkg_buf = malloc(o->total_size);
    if (!self->pkg_buf) {
      self->pkg_size = 0;
      return;
    }
    snprintf(self->pkg_id, sizeof self->pkg_id, "%s", o->package_id);
    memcpy(self->pkg_sha, o->sha256.data, 32);
    self->pkg_has_sig = o->signature.len == 64;
    if (self->pkg_has_sig) memcpy(self->pkg_sig, o->signature.data, 64);
    self->pkg_target = o->target_ecu;
    self->pkg_hold = o->hold;
    self->pkg_ecu = -1;
    self->pkg_size = o->total_size;
    self->pkg_have = 0;
    self->pkg_pct = 0;
    dd_events_emit(s_ev(self), "fd.program_offer", DD_S("package_id", o->package_id),
                   DD_I("size", o->total_size), DD_I("target", o->target_ecu),
                   DD_S("version", o->software_version), DD_B("signed", self->pkg_has_sig),
                   DD_B("hold", o->hold), DD_END);
    s_status(self, DUODIAG__PROGRAM_STATUS__PHASE__RECEIVING, 0, 0, 0, NULL);
  } else {
    /* the sender lost track (a link cut): it goes on from what was received */
    dd_events_emit(s_ev(self), "fd.program_resume", DD_S("package_id", o->package_id),
                   DD_I("offset", self->pkg_have), DD_I("size", self->pkg_size), DD_END);
  }
  s_program_ack(self);
}

static void s_on_chunk(dd_fd_t *self, const Duodiag__ProgramChunk *c) {
  if (!self->pkg_buf || strcmp(c->package_id, self->pkg_id)) return;
  if (c->offset == self->pkg_have && c->offset + c->data.len <= self->pkg_size) {
    memcpy(self->pkg_buf + self->pkg_have, c->data.data, c->data.len);
    self->pkg_have += c->data.len;
    unsigned pct = (unsigned)(self->pkg_have * 100 / self->pkg_size);
    if (pct >= self->pkg_pct + 10 || self->pkg_have == self->pkg_size) {
      self->pkg_pct = pct;
      s_status(self, DUODIAG__PROGRAM_STATUS__PHASE__RECEIVING, pct, 0, 0, NULL);
    }
    s_program_ack(self);
    if (c->data.len && self->pkg_have == self->pkg_size && !self->pkg) s_pkg_complete(self);
  } else {
    s_program_ack(self); /* a gap or a repeat: say where we are */
  }
}

/* ---- S5: control signals ------------------------------------------------------------------- */

/* A ControlResult to the session's terminal (used when the asker's link is not at hand). */
static void s_control_result(dd_fd_t *self, uint64_t control_id, bool accepted, int code,
                             uint8_t nrc, const char *reason, const uint8_t *result, size_t len,
                             const char *text) {
  Duodiag__ControlResult r = DUODIAG__CONTROL_RESULT__INIT;
  r.control_id = control_id;
  r.accepted = accepted;
  r.code = code;
  r.nrc = nrc;
  r.reason = (char *)(reason ? reason : "");
  r.result.data = (uint8_t *)result;
  r.result.len = result ? (len > DD_WIRE_MAX_BYTES ? DD_WIRE_MAX_BYTES : len) : 0;
  r.text = (char *)(text ? text : "");
  Duodiag__Envelope env;
  dd_fd_remote_env(self->remote, &env);
  env.body_case = DUODIAG__ENVELOPE__BODY_CONTROL_RESULT;
  env.control_result = &r;
  dd_fd_remote_send_im(self->remote, &env);
}

/* The one audit record of a control signal: who asked (by its word and by its link), in which
 * session, what, the verdict, what came of it, and the vehicle's state it was judged on. */
static void s_audit(dd_fd_t *self, const s_ctl_t *c, const char *verdict, const char *result,
                    const char *reason, uint8_t nrc, const char *text) {
  dd_events_emit(s_ev(self), "control.audit", DD_I("control_id", c->control_id),
                 DD_S("terminal", c->terminal), DD_S("link_terminal", c->link_terminal),
                 DD_S("session_id", c->session), DD_S("action", dd_control_action_name(c->ca)),
                 DD_S("ecu", c->ecu_name), DD_S("verdict", verdict), DD_S("result", result),
                 DD_S("reason", reason), DD_I("nrc", nrc), DD_S("text", text ? text : ""),
                 DD_I("items", c->items),
                 DD_D("speed_kmh", isnan(c->speed_kmh) ? -1.0 : c->speed_kmh),
                 DD_D("rpm", isnan(c->rpm) ? -1.0 : c->rpm), DD_END);
}

/* The ControlResult, over the link the signal came in on. */
static void s_ctl_reply(dd_fd_t *self, const s_ctl_t *c, bool accepted, int code, uint8_t nrc,
                        const char *reason, const uint8_t *result, size_t len, const char *text) {
  Duodiag__ControlResult r = DUODIAG__CONTROL_RESULT__INIT;
  r.control_id = c->control_id;
  r.accepted = accepted;
  r.code = code;
  r.nrc = nrc;
  r.reason = (char *)(reason ? reason : "");
  r.result.data = (uint8_t *)result;
  r.result.len = result ? (len > DD_WIRE_MAX_BYTES ? DD_WIRE_MAX_BYTES : len) : 0;
  r.text = (char *)(text ? text : "");
  Duodiag__Envelope env;
  dd_fd_remote_env(self->remote, &env);
  env.body_case = DUODIAG__ENVELOPE__BODY_CONTROL_RESULT;
  env.control_result = &r;
  if (dd_fd_remote_send_link(self->remote, c->link, &env) < 0)
    dd_fd_remote_send_im(self->remote, &env);
}

/* An authorized control is over: audit (verdict accepted, its result) and answer. Frees c. */
static void s_ctl_finish(dd_fd_t *self, s_ctl_t *c, const char *result, int code, uint8_t nrc,
                         const char *reason, const uint8_t *resp, size_t len, const char *text) {
  bool ok = code == 0;
  s_audit(self, c, "accepted", result, ok ? "" : reason, nrc, text);
  s_ctl_reply(self, c, ok, code, nrc, ok ? "" : reason, ok ? resp : NULL, ok ? len : 0, text);
  free(c);
}

/* A refused control: audit (the verdict, with the reason) and answer; nothing touched the
 * vehicle. Frees c. */
static void s_ctl_refuse(dd_fd_t *self, s_ctl_t *c, dd_control_verdict_t v) {
  char reason[160];
  if (v == DD_CTL_VEHICLE_MOVING && !isnan(c->speed_kmh))
    snprintf(reason, sizeof reason, "%s (%.1f km/h)", dd_control_verdict_text(v), c->speed_kmh);
  else if (v == DD_CTL_VEHICLE_MOVING)
    snprintf(reason, sizeof reason, "%s (speed unknown)", dd_control_verdict_text(v));
  else if (v == DD_CTL_ENGINE_RUNNING && !isnan(c->rpm))
    snprintf(reason, sizeof reason, "%s (%.0f rpm)", dd_control_verdict_text(v), c->rpm);
  else
    snprintf(reason, sizeof reason, "%s", dd_control_verdict_text(v));
  s_audit(self, c, dd_control_verdict_name(v), "refused", reason, 0, "");
  s_ctl_reply(self, c, false, DD_EAUTH, 0, reason, NULL, 0, dd_control_verdict_name(v));
  free(c);
}

static void s_ctl_done(int status, uint8_t nrc, const uint8_t *resp, size_t len, void *arg) {
  s_ctl_t *c = arg;
  dd_fd_t *self = c->fd;
  if (c->extended_first && status == 0) {
    /* the session change went first; now the action itself */
    c->extended_first = false;
    uint8_t req[300];
    int n = -1;
    if (c->ca == DD_CTL_IO_CONTROL)
      /* ISO 14229-1:2013 12.2: InputOutputControlByIdentifier, the option byte then the state */
      n = dd_uds_build_io_control(req, sizeof req, c->ids[0], c->n_args ? c->args[0] : 0x03,
                                  c->n_args > 1 ? c->args + 1 : NULL,
                                  c->n_args > 1 ? c->n_args - 1 : 0, NULL, 0);
    else
      /* ISO 14229-1:2013 13.2: RoutineControl, the sub-function then the option record */
      n = dd_uds_build_routine(req, sizeof req, c->n_args ? c->args[0] : 0x01, c->ids[0],
                               c->n_args > 1 ? c->args + 1 : NULL,
                               c->n_args > 1 ? c->n_args - 1 : 0, false);
    if (n > 0 && dd_fd_vehicle_request(self->veh, (size_t)c->ecu, req, (size_t)n, false,
                                       s_ctl_done, c) == 0)
      return;
    status = n < 0 ? n : DD_EINVAL;
  }
  bool ok = status == 0;
  char text[256] = "";
  if (ok && c->ca == DD_CTL_READ_DTCS) {
    dd_uds_dtc_rec_t recs[32];
    size_t n = 0;
    uint8_t avail, n2;
    if (dd_uds_parse_dtc_list(resp, len, 0x02, &avail, recs, 32, &n, &n2) == 0) {
      size_t k = 0;
      for (size_t i = 0; i < n && i < 32 && k + 12 < sizeof text; i++) {
        char code[DD_DTC_TEXT3_SIZE];
        dd_dtc_code_format3(recs[i].dtc, code);
        k += (size_t)snprintf(text + k, sizeof text - k, "%s%s", i ? " " : "", code);
      }
      c->items = (int)n;
    }
  } else if (ok && c->ca == DD_CTL_READ_PIDS) {
    dd_obd_value_t v[8];
    size_t n = 0, k = 0;
    if (dd_obd_parse_values(resp, len, v, 8, &n) == 0)
      for (size_t i = 0; i < n && k + 40 < sizeof text; i++)
        k += (size_t)snprintf(text + k, sizeof text - k, "%s%s=%g%s", i ? " " : "",
                              v[i].name ? v[i].name : "?", v[i].value, v[i].unit ? v[i].unit : "");
    c->items = (int)n;
  } else if (ok) {
    snprintf(text, sizeof text, "done");
  } else if (status == DD_EUDS_NRC) {
    snprintf(text, sizeof text, "negative response 0x%02X", nrc);
  } else {
    snprintf(text, sizeof text, "%s", dd_strerror(status));
  }
  s_ctl_finish(self, c, ok ? "done" : "failed", ok ? 0 : status,
               status == DD_EUDS_NRC ? nrc : 0, text, resp, len, text);
}

static void s_ctl_execute(dd_fd_t *self, s_ctl_t *c) {
  if (c->ecu < 0 && c->ca != DD_CTL_STOP_STREAM && c->ca != DD_CTL_START_REFLASH) {
    s_ctl_finish(self, c, "failed", DD_ENOENT, 0, "unknown ECU", NULL, 0, "");
    return;
  }
  uint8_t req[300];
  int n = -1;
  switch (c->ca) {
  case DD_CTL_READ_DTCS: {
    /* ISO 14229-1:2013 11.3.2.2: reportDTCByStatusMask 0x2F: testFailed, testFailedThisOperation-
     * Cycle, pendingDTC, confirmedDTC, testFailedSinceLastClear (D.2): the stored faults; a
     * cleared DTC (status 0x50, tests not yet completed) is not one */
    const uint8_t r[] = {0x19, 0x02, 0x2F};
    memcpy(req, r, 3);
    n = 3;
    break;
  }
  case DD_CTL_CLEAR_DTCS:
    /* ISO 14229-1:2013 11.2: ClearDiagnosticInformation, groupOfDTC FFFFFF = all groups */
    n = dd_uds_build_clear_dtc(req, sizeof req, 0xFFFFFF);
    break;
  case DD_CTL_READ_DIDS:
    n = dd_uds_build_read_dids(req, sizeof req, c->ids, c->n_ids);
    break;
  case DD_CTL_READ_PIDS: {
    /* SAE J1979 service $01, at most 6 PIDs */
    uint8_t pids[6];
    size_t k = 0, len = 0;
    for (size_t i = 0; i < c->n_ids && k < 6; i++) pids[k++] = (uint8_t)c->ids[i];
    if (dd_obd_build_request(DD_OBD_SVC_CURRENT_DATA, pids, k, req, sizeof req, &len) == 0)
      n = (int)len;
    break;
  }
  case DD_CTL_STREAM_PIDS: {
    uint32_t pids[6];
    for (size_t i = 0; i < c->n_ids && i < 6; i++) pids[i] = c->ids[i];
    int rc = s_start_stream(self, c->control_id, (size_t)c->ecu, pids, c->n_ids < 6 ? c->n_ids : 6,
                            c->rate_hz > 0 ? c->rate_hz : 1.0, 0);
    char text[64];
    snprintf(text, sizeof text, "streaming at %.3g Hz", c->rate_hz > 0 ? c->rate_hz : 1.0);
    s_ctl_finish(self, c, rc == 0 ? "streaming" : "failed", rc, 0, rc ? dd_strerror(rc) : "",
                 NULL, 0, rc == 0 ? text : "");
    return;
  }
  case DD_CTL_STOP_STREAM:
    s_stop_streams(self);
    s_ctl_finish(self, c, "stopped", 0, 0, "", NULL, 0, "stopped");
    return;
  case DD_CTL_IO_CONTROL:
  case DD_CTL_ROUTINE:
    if (!c->n_ids) break;
    /* IO control and routines run in the extendedDiagnosticSession (ISO 14229-1:2013 9.2.1) */
    c->extended_first = true;
    n = dd_uds_build_session(req, sizeof req, DD_UDS_SESSION_EXTENDED, false);
    break;
  case DD_CTL_ECU_RESET:
    /* ISO 14229-1:2013 9.3: ECUReset, resetType 01 hard, 02 keyOffOn, 03 soft */
    n = dd_uds_build_ecu_reset(req, sizeof req, c->n_args ? c->args[0] : 0x01, false);
    break;
  case DD_CTL_START_REFLASH: {
    const char *why = "";
    int rc = strcmp(c->package_id, self->pkg_id) && c->package_id[0] ? DD_ENOENT : 0;
    if (rc == 0) rc = s_rf_start(self, &why);
    else why = "unknown package";
    if (rc < 0) {
      s_ctl_finish(self, c, "failed", rc, 0, why, NULL, 0, "");
    } else {
      /* the ControlResult follows when the reflash ends (s_rf_drive) */
      s_audit(self, c, "accepted", "started", "", 0, c->package_id);
      self->rf_control = c->control_id;
      free(c);
    }
    return;
  }
  default:
    break;
  }
  if (n <= 0 ||
      dd_fd_vehicle_request(self->veh, (size_t)c->ecu, req, (size_t)n, false, s_ctl_done, c) < 0)
    s_ctl_finish(self, c, "failed", DD_EINVAL, 0, "bad request", NULL, 0, "");
}

/* The session as it stood when the signal arrived: a signal that came before the payment stays
 * refused even if the payment lands while the vehicle is being read. */
static dd_control_ctx_t s_ctl_ctx(dd_fd_t *self, const s_ctl_t *c) {
  return (dd_control_ctx_t){
      .window_open = c->window_open,
      .paid = c->paid,
      .established = c->established,
      .session_id = c->cur_session,
      .terminal_id = c->cur_terminal,
      .link_terminal = c->link_terminal,
      .speed_kmh = c->speed_kmh, /* NaN (unknown) counts as moving: fail safe */
      .engine_running = isnan(c->rpm) ? true : c->rpm > 0,
      .reflash_active = self->rf != NULL,
      .accept_unpaid = self->cfg.defects & DD_FD_DEFECT_ACCEPT_UNPAID_CONTROL,
  };
}

/* Speed and engine speed read (SAE J1979 $01 PIDs 0D, 0C): decide on the vehicle rules, act. */
static void s_ctl_conditions(int status, uint8_t nrc, const uint8_t *resp, size_t len,
                             void *arg) {
  s_ctl_t *c = arg;
  dd_fd_t *self = c->fd;
  (void)nrc;
  dd_obd_value_t v[4];
  size_t n = 0;
  if (status == 0 && dd_obd_parse_values(resp, len, v, 4, &n) == 0)
    for (size_t i = 0; i < n; i++) {
      if (v[i].pid == 0x0D) c->speed_kmh = v[i].value;
      if (v[i].pid == 0x0C) c->rpm = v[i].value;
    }
  dd_control_ctx_t ctx = s_ctl_ctx(self, c);
  dd_control_verdict_t verdict = dd_control_authorize(&ctx, c->ca, c->session, c->terminal);
  if (verdict != DD_CTL_OK) {
    s_ctl_refuse(self, c, verdict);
    return;
  }
  s_ctl_execute(self, c);
}

static void s_on_control(dd_fd_t *self, const Duodiag__ControlSignal *sig, const char *link) {
  s_ctl_t *c = calloc(1, sizeof *c);
  if (!c) return;
  c->fd = self;
  c->control_id = sig->control_id;
  snprintf(c->terminal, sizeof c->terminal, "%s", sig->terminal_id);
  snprintf(c->session, sizeof c->session, "%s", sig->session_id);
  snprintf(c->link, sizeof c->link, "%s", link ? link : "im");
  snprintf(c->link_terminal, sizeof c->link_terminal, "%s",
           dd_fd_remote_link_terminal(self->remote, c->link));
  bool known = dd_control_action_from_wire((unsigned)sig->action, &c->ca);
  c->ecu_id = sig->ecu_id;
  /* no ECU named: the engine ECU, the OBD default (SAE J1979) */
  c->ecu = sig->ecu_id ? dd_fd_vehicle_find(self->veh, sig->ecu_id)
                       : (dd_fd_vehicle_count(self->veh) ? 0 : -1);
  if (c->ecu >= 0) snprintf(c->ecu_name, sizeof c->ecu_name, "%s",
                            dd_fd_vehicle_name(self->veh, (size_t)c->ecu));
  else snprintf(c->ecu_name, sizeof c->ecu_name, "0x%X", sig->ecu_id);
  for (size_t i = 0; i < sig->n_ids && c->n_ids < 64; i++) c->ids[c->n_ids++] = (uint16_t)sig->ids[i];
  c->n_args = sig->args.len < sizeof c->args ? sig->args.len : sizeof c->args;
  if (c->n_args) memcpy(c->args, sig->args.data, c->n_args);
  c->rate_hz = sig->rate_hz;
  snprintf(c->package_id, sizeof c->package_id, "%s", sig->package_id);
  c->speed_kmh = NAN;
  c->rpm = NAN;
  c->window_open = dd_fd_remote_window_open(self->remote);
  c->paid = dd_fd_remote_payment_confirmed(self->remote);
  c->established = dd_fd_remote_paid(self->remote);
  snprintf(c->cur_session, sizeof c->cur_session, "%s", dd_fd_remote_session_id(self->remote));
  snprintf(c->cur_terminal, sizeof c->cur_terminal, "%s",
           dd_fd_remote_terminal_id(self->remote));
  if (!known) {
    c->ca = DD_CTL__COUNT;
    s_ctl_refuse(self, c, DD_CTL_UNKNOWN_ACTION);
    return;
  }
  /* who asks, in which session, paid or not: decided before the vehicle is touched at all */
  dd_control_ctx_t ctx = s_ctl_ctx(self, c);
  dd_control_verdict_t verdict = dd_control_check_session(&ctx, c->session, c->terminal);
  if (verdict != DD_CTL_OK) {
    s_ctl_refuse(self, c, verdict);
    return;
  }
  /* the vehicle's state just before deciding (engine ECU, OBD PIDs 0D and 0C) */
  const uint8_t req[] = {DD_OBD_SVC_CURRENT_DATA, 0x0D, 0x0C};
  if (dd_fd_vehicle_count(self->veh) == 0 ||
      dd_fd_vehicle_request(self->veh, 0, req, sizeof req, false, s_ctl_conditions, c) < 0)
    s_ctl_conditions(DD_EIO, 0, NULL, 0, c);
}

/* ---- S101-S104 and the start of S11 --------------------------------------------------------- */

/* S11 for the identified vehicle; 0, DD_EBUSY while a session runs, or another error. */
static int s_begin_session(dd_fd_t *self) {
  if (!self->started || !self->identified) return 0;
  const char *make = self->vin_info && self->vin_info->found ? self->vin_info->make : "";
  int rc = dd_fd_remote_start(self->remote, make, self->vin_valid ? self->vin : "");
  if (rc < 0 && rc != DD_EBUSY) dd_warn("session start: %s", dd_strerror(rc));
  return rc;
}

static void s_on_scan(json_t *result, void *arg) {
  dd_fd_t *self = arg;
  self->identifying = false;
  self->identified = true;
  if (self->cfg.history_path) {
    json_t *entry = json_pack("{s:I, s:s, s:s, s:s, s:O}", "wall_us",
                              (json_int_t)dd_clock_wall_us(dd_proc_clock(self->proc)), "vin",
                              self->vin, "make",
                              self->vin_info && self->vin_info->found ? self->vin_info->make : "",
                              "model",
                              self->vin_info && self->vin_info->found ? self->vin_info->model : "",
                              "ecus", json_object_get(result, "ecus"));
    int rc = entry ? dd_fd_history_append(self->cfg.history_path, entry) : DD_ENOMEM;
    if (rc < 0) dd_warn("history %s: %s", self->cfg.history_path, dd_strerror(rc));
    json_decref(entry);
  }
  s_begin_session(self);
}

static void s_on_vin_info(dd_fd_t *self, const Duodiag__VinInfo *vi) {
  if (!self->identifying || self->vin_info) return;
  size_t len = duodiag__vin_info__get_packed_size(vi);
  uint8_t *b = malloc(len ? len : 1);
  if (b) {
    duodiag__vin_info__pack(vi, b);
    self->vin_info = duodiag__vin_info__unpack(NULL, len, b);
    free(b);
  }
  dd_events_emit(s_ev(self), "fd.registry", DD_S("vin", vi->vin), DD_B("found", vi->found),
                 DD_S("make", vi->make), DD_S("model", vi->model),
                 DD_I("model_year", vi->model_year), DD_S("engine", vi->engine),
                 DD_S("chassis_number", vi->chassis_number), DD_I("ecus", vi->n_ecus), DD_END);
  dd_fd_vehicle_set_describe(self->veh, s_dtc_text, self);
  if (vi->found && vi->n_ecus) {
    /* S103: the vehicle's ECUs as the registry knows them; the engine ECU first */
    dd_fd_vehicle_clear(self->veh);
    for (size_t i = 0; i < vi->n_ecus; i++) {
      const Duodiag__EcuInfo *e = vi->ecus[i];
      uint32_t func = e->extended_ids ? DD_OBD_FUNC_ID_29 : DD_OBD_FUNC_ID_11;
      dd_fd_ext_addr_t ea = {(uint8_t)e->ecu_address, (uint8_t)e->tester_address,
                             (uint8_t)e->functional_address};
      int rc = dd_fd_vehicle_add_ext(self->veh, e->name, e->request_can_id, e->response_can_id,
                                     func, e->extended_ids, e->can_fd,
                                     e->extended_addressing ? &ea : NULL);
      if (rc < 0) dd_warn("ECU %s: %s", e->name, dd_strerror(rc));
    }
  }
  dd_fd_vehicle_scan(self->veh, s_on_scan, self);
}

static void s_on_vin(const char *vin, bool valid, void *arg) {
  dd_fd_t *self = arg;
  snprintf(self->vin, sizeof self->vin, "%s", vin);
  self->vin_valid = valid;
  if (!valid) {
    dd_events_emit(s_ev(self), "fd.registry", DD_S("vin", vin), DD_B("found", false),
                   DD_S("make", ""), DD_S("model", ""), DD_S("why", "no valid VIN"), DD_END);
    /* S104 still runs on the engine ECU at the OBD address */
    dd_fd_vehicle_scan(self->veh, s_on_scan, self);
    return;
  }
  Duodiag__VinQuery q = DUODIAG__VIN_QUERY__INIT;
  q.vin = self->vin;
  Duodiag__Envelope env;
  dd_fd_remote_env(self->remote, &env);
  env.body_case = DUODIAG__ENVELOPE__BODY_VIN_QUERY;
  env.vin_query = &q;
  if (dd_fd_remote_send_cloud(self->remote, &env) < 0) {
    dd_events_emit(s_ev(self), "fd.registry", DD_S("vin", vin), DD_B("found", false),
                   DD_S("make", ""), DD_S("model", ""), DD_S("why", "cloud unreachable"), DD_END);
    dd_fd_vehicle_scan(self->veh, s_on_scan, self);
  }
}

static void s_identify(dd_fd_t *self) {
  if (self->identifying || self->identified) return;
  self->identifying = true;
  if (self->vin_info) duodiag__vin_info__free_unpacked(self->vin_info, NULL);
  self->vin_info = NULL;
  dd_fd_vehicle_identify(self->veh, s_on_vin, self);
}

static int s_on_autostart(dd_loop_t *loop, int id, void *arg) {
  dd_fd_t *self = arg;
  (void)loop;
  (void)id;
  self->started = true;
  s_identify(self);
  return 0;
}

/* ---- messages and commands ----------------------------------------------------------------- */

static void s_on_msg(const Duodiag__Envelope *env, const char *link, void *arg) {
  dd_fd_t *self = arg;
  switch (env->body_case) {
  case DUODIAG__ENVELOPE__BODY_VIN_INFO:
    s_on_vin_info(self, env->vin_info);
    break;
  case DUODIAG__ENVELOPE__BODY_VEHICLE_DATA_REQUEST:
    s_on_data_request(self, env->vehicle_data_request);
    break;
  case DUODIAG__ENVELOPE__BODY_CONTROL_SIGNAL:
    s_on_control(self, env->control_signal, link);
    break;
  case DUODIAG__ENVELOPE__BODY_PROGRAM_OFFER:
    s_on_offer(self, env->program_offer);
    break;
  case DUODIAG__ENVELOPE__BODY_PROGRAM_CHUNK:
    s_on_chunk(self, env->program_chunk);
    break;
  default:
    dd_debug("%s link: ignored %s", link, dd_wire_body_name(env));
    break;
  }
}

static void s_on_state(const char *what, void *arg) {
  dd_fd_t *self = arg;
  bool established = !strcmp(what, "established");
  if (!strcmp(what, "ended")) s_stop_streams(self);
  if (!established && strcmp(what, "ended")) return;
  /* held requests are served once the service link stands, dropped when the session ends */
  size_t n = self->n_held_req;
  self->n_held_req = 0;
  for (size_t i = 0; i < n; i++) {
    if (established) s_on_data_request(self, self->held_req[i]);
    duodiag__vehicle_data_request__free_unpacked(self->held_req[i], NULL);
  }
}

static int s_on_command(dd_proc_t *proc, const dd_proc_command_t *cmd, char **result_json,
                        void *arg) {
  dd_fd_t *self = arg;
  (void)proc;
  json_t *args = cmd->args_json && *cmd->args_json ? json_loads(cmd->args_json, 0, NULL) : NULL;
  int rc = 0;
  if (!strcmp(cmd->key, "start")) {
    json_t *v;
    if ((v = json_object_get(args, "fee_limit")) && json_is_integer(v))
      dd_fd_remote_set_fee_limit(self->remote, json_integer_value(v));
    /* S12-S13: the terminal the owner turns to (none: the policy picks), voice or video */
    const char *term = json_string_value(json_object_get(args, "terminal"));
    const char *media = json_string_value(json_object_get(args, "media"));
    dd_fd_remote_set_target(self->remote, term, media && !strcmp(media, "video"));
    self->started = true;
    if (self->identified) rc = s_begin_session(self); /* DD_EBUSY: a session is under way */
    else s_identify(self);
  } else if (!strcmp(cmd->key, "diagnose")) {
    /* S101-S104 only: the owner wants the local diagnosis, no remote terminal (yet) */
    if (self->identifying) {
      rc = DD_EBUSY;
    } else if (self->identified) {
      self->identifying = true; /* the vehicle is known: a new scan, e.g. after a repair */
      dd_fd_vehicle_scan(self->veh, s_on_scan, self);
    } else {
      s_identify(self);
    }
  } else if (!strcmp(cmd->key, "owner")) {
    json_t *v;
    if ((v = json_object_get(args, "fee_limit")) && json_is_integer(v))
      dd_fd_remote_set_fee_limit(self->remote, json_integer_value(v));
    /* S15-S16: pay: false declines the order whatever its fee; amount pays another sum */
    bool pay = !((v = json_object_get(args, "pay")) && json_is_false(v));
    v = json_object_get(args, "amount");
    dd_fd_remote_set_payment(self->remote, pay, json_is_integer(v) ? json_integer_value(v) : 0);
  } else if (!strcmp(cmd->key, "status")) {
    char buf[512];
    snprintf(buf, sizeof buf,
             "{\"vin\":\"%s\",\"identified\":%s,\"established\":%s,\"paid\":%s,\"path\":\"%s\","
             "\"reflash\":%s,\"pending\":%zu}",
             self->vin, self->identified ? "true" : "false",
             dd_fd_remote_established(self->remote) ? "true" : "false",
             dd_fd_remote_paid(self->remote) ? "true" : "false",
             dd_path_name(dd_fd_remote_path(self->remote)), self->rf ? "true" : "false",
             dd_fd_vehicle_pending(self->veh));
    *result_json = strdup(buf);
  } else {
    rc = DD_ENOTSUP;
  }
  json_decref(args);
  return rc;
}

/* ---- life cycle ---------------------------------------------------------------------------- */

int dd_fd_new(dd_proc_t *proc, const dd_fd_cfg_t *cfg, dd_fd_t **out) {
  assert(proc && cfg && out);
  if (sodium_init() < 0) return DD_EIO;
  dd_fd_t *self = calloc(1, sizeof *self);
  if (!self) return DD_ENOMEM;
  self->proc = proc;
  self->cfg = *cfg;
  self->pkg_ecu = -1;
  if (cfg->trust_key_path) {
    char why[256];
    int rc = dd_package_key_load(cfg->trust_key_path, DD_PACKAGE_KEY_PUBLIC, self->key, why,
                                 sizeof why);
    if (rc < 0) {
      dd_error("--trust-key %s: %s", cfg->trust_key_path, rc == DD_EILSEQ ? why : dd_strerror(rc));
      free(self);
      return DD_EINVAL;
    }
    self->have_key = true;
  }
  dd_fd_vehicle_cfg_t vc = cfg->vehicle;
  vc.ignore_0x78 = cfg->defects & DD_FD_DEFECT_IGNORE_0X78;
  int rc = dd_fd_vehicle_new(proc, &vc, &self->veh);
  if (rc < 0) goto out_free;
  dd_fd_remote_cfg_t rcfg = cfg->remote;
  rcfg.transport.no_hysteresis = cfg->defects & DD_FD_DEFECT_NO_HYSTERESIS;
  rcfg.no_resend_on_switch = cfg->defects & DD_FD_DEFECT_NO_RESEND_ON_SWITCH;
  rc = dd_fd_remote_new(proc, &rcfg, s_on_msg, s_on_state, self, &self->remote);
  if (rc < 0) goto out_free;
  dd_proc_on_command(proc, s_on_command, self);
  if (cfg->autostart) dd_loop_timer_after(dd_proc_loop(proc), 0, s_on_autostart, self);
  for (size_t i = 0; i < sizeof s_defects / sizeof s_defects[0]; i++)
    if (cfg->defects & s_defects[i].bit)
      dd_events_emit(s_ev(self), "fd.defect", DD_S("name", s_defects[i].name), DD_END);
  *out = self;
  return 0;
out_free:
  dd_fd_destroy(&self);
  return rc;
}

void dd_fd_destroy(dd_fd_t **self_p) {
  assert(self_p);
  dd_fd_t *self = *self_p;
  if (!self) return;
  s_stop_streams(self);
  if (self->rf_timer) dd_loop_timer_cancel(dd_proc_loop(self->proc), self->rf_timer);
  dd_fd_reflash_destroy(&self->rf);
  dd_package_destroy(&self->pkg);
  free(self->pkg_buf);
  dd_fd_remote_destroy(&self->remote);
  dd_fd_vehicle_destroy(&self->veh);
  if (self->vin_info) duodiag__vin_info__free_unpacked(self->vin_info, NULL);
  for (size_t i = 0; i < self->n_held_req; i++)
    duodiag__vehicle_data_request__free_unpacked(self->held_req[i], NULL);
  free(self);
  *self_p = NULL;
}
