/* dd_uds_client: UDS tester side (ISO 14229-1/-2), sans-I/O, with request builders and parsers. */
#include "dd_uds_client.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "dd_err.h"

#define S_NO_TIME UINT64_MAX
#define S_RESULTS 16u /* results kept until taken; older ones are dropped */

typedef enum {
  S_IDLE = 0, /* nothing outstanding */
  S_QUEUED,   /* a request waits for poll to hand it out */
  S_WAIT,     /* waiting for the response(s) until deadline */
} s_state_t;

typedef struct {
  dd_uds_result_t res; /* the result; res.data points at owned */
  uint8_t *owned;      /* copy of the response (NULL when none) */
} s_slot_t;

struct dd_uds_client {
  dd_uds_client_cfg_t cfg;     /* configuration */
  uint64_t p2;                 /* P2client in use */
  uint64_t p2x;                /* P2*client in use */
  uint8_t session;             /* last confirmed session */
  uint64_t next_tp;            /* next TesterPresent (S_NO_TIME: none due) */
  uint8_t tp_msg[2];           /* 3E 80 */
  s_state_t state;             /* request state */
  uint8_t req[DD_UDS_MAX_MSG]; /* the outstanding request */
  size_t req_len;              /* its length */
  bool functional;             /* it is functional */
  bool spr;                    /* its SPRMIB bit is set: no positive response expected */
  uint32_t tx_seq;             /* ids handed out with messages */
  uint32_t req_tx_id;          /* id of the request's transmission */
  uint64_t sent_at;            /* when the request was handed out */
  uint64_t deadline;           /* end of the current P2 / P2* wait */
  uint64_t pending_since;      /* first 0x78 (S_NO_TIME: none yet) */
  unsigned pending;            /* 0x78s received */
  unsigned responses;          /* final responses received (functional) */
  s_slot_t ring[S_RESULTS];    /* results not yet taken */
  size_t head;                 /* oldest result */
  size_t count;                /* results in the ring */
  uint8_t *taken;              /* data of the last taken result (freed at the next take) */
};

void dd_uds_client_cfg_default(dd_uds_client_cfg_t *cfg) {
  assert(cfg);
  memset(cfg, 0, sizeof *cfg);
  cfg->p2_us = DD_UDS_P2_SERVER_US + 100000;
  cfg->p2x_us = DD_UDS_P2X_SERVER_US + 500000;
  cfg->pending_max_us = 600000000ull;
  cfg->tp_period_us = DD_UDS_S3_CLIENT_US;
  cfg->tp_functional = true;
  cfg->use_server_timing = true;
  cfg->delta_p2_us = 100000;
  cfg->delta_p2x_us = 500000;
}

dd_uds_client_t *dd_uds_client_new(const dd_uds_client_cfg_t *cfg) {
  assert(cfg);
  if (!cfg->p2_us || !cfg->p2x_us) return NULL;
  dd_uds_client_t *self = calloc(1, sizeof *self);
  if (!self) return NULL;
  self->cfg = *cfg;
  self->p2 = cfg->p2_us;
  self->p2x = cfg->p2x_us;
  self->session = DD_UDS_SESSION_DEFAULT;
  self->next_tp = S_NO_TIME;
  self->tp_msg[0] = DD_UDS_SID_TP;
  self->tp_msg[1] = DD_UDS_SPRMIB;
  return self;
}

static void s_slot_free(s_slot_t *s) {
  free(s->owned);
  s->owned = NULL;
}

void dd_uds_client_destroy(dd_uds_client_t **self_p) {
  assert(self_p);
  dd_uds_client_t *self = *self_p;
  if (!self) return;
  for (size_t i = 0; i < self->count; i++)
    s_slot_free(&self->ring[(self->head + i) % S_RESULTS]);
  free(self->taken);
  free(self);
  *self_p = NULL;
}

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

/* TesterPresent runs while a non-default session is active (ISO 14229-2 S3client). */
static void s_tp_follow(dd_uds_client_t *self, uint64_t now) {
  bool on = self->cfg.tp_period_us && self->session != DD_UDS_SESSION_DEFAULT;
  if (!on)
    self->next_tp = S_NO_TIME;
  else if (self->next_tp == S_NO_TIME)
    self->next_tp = now + self->cfg.tp_period_us;
}

void dd_uds_client_set_session(dd_uds_client_t *self, uint8_t session, uint64_t now) {
  assert(self);
  self->session = session;
  s_tp_follow(self, now);
}

static void s_push(dd_uds_client_t *self, int status, uint8_t nrc, const uint8_t *data, size_t len,
                   uint32_t source, bool final, uint64_t now) {
  if (self->count == S_RESULTS) { /* nobody takes them: drop the oldest */
    s_slot_free(&self->ring[self->head]);
    self->head = (self->head + 1) % S_RESULTS;
    self->count--;
  }
  s_slot_t *s = &self->ring[(self->head + self->count) % S_RESULTS];
  memset(s, 0, sizeof *s);
  if (data && len) {
    s->owned = malloc(len);
    if (s->owned)
      memcpy(s->owned, data, len);
    else
      len = 0; /* out of memory: the result survives without its bytes */
  }
  s->res = (dd_uds_result_t){.status = status,
                             .sid = self->req[0],
                             .nrc = nrc,
                             .data = s->owned,
                             .len = s->owned ? len : 0,
                             .pending = self->pending,
                             .functional = self->functional,
                             .final = final,
                             .source = source,
                             .sent_at = self->sent_at,
                             .done_at = now};
  self->count++;
}

/* Session bookkeeping from what the server confirmed (or, with SPRMIB, did not refuse). */
static void s_track_session(dd_uds_client_t *self, const uint8_t *resp, size_t len, uint64_t now) {
  uint8_t sid = self->req[0];
  if (sid == DD_UDS_SID_DSC && self->req_len >= 2) {
    self->session = self->req[1] & 0x7F;
    if (resp && len >= 6 && self->cfg.use_server_timing) {
      uint64_t p2 = (uint64_t)(resp[2] << 8 | resp[3]) * 1000;
      uint64_t p2x = (uint64_t)(resp[4] << 8 | resp[5]) * 10000;
      self->p2 = p2 + self->cfg.delta_p2_us;
      self->p2x = p2x + self->cfg.delta_p2x_us;
    }
  } else if (sid == DD_UDS_SID_ER) {
    self->session = DD_UDS_SESSION_DEFAULT;
  }
  s_tp_follow(self, now);
}

static void s_finish(dd_uds_client_t *self, int status, uint8_t nrc, const uint8_t *data,
                     size_t len, uint32_t source, uint64_t now) {
  if (status == 0) s_track_session(self, data, len, now);
  s_push(self, status, nrc, data, len, source, true, now);
  self->state = S_IDLE;
}

/* The wait ran out: a timeout, except where nothing (more) was due: a suppressed positive
 * response, or the end of a functional request's collection window after some answers. */
static void s_expire(dd_uds_client_t *self, uint64_t now) {
  int status;
  if (self->functional && self->responses)
    status = 0;
  else if (self->pending)
    status = DD_EUDS_TIMEOUT_P2X;
  else
    status = self->spr ? 0 : DD_EUDS_TIMEOUT_P2;
  if (status == 0 && self->spr && !self->responses) s_track_session(self, NULL, 0, now);
  s_push(self, status, 0, NULL, 0, 0, true, now);
  self->state = S_IDLE;
}

static void s_timers(dd_uds_client_t *self, uint64_t now) {
  if (self->state == S_WAIT && now >= self->deadline) s_expire(self, now);
}

int dd_uds_client_request(dd_uds_client_t *self, const uint8_t *req, size_t len, bool functional,
                          uint64_t now) {
  assert(self);
  if (self->state != S_IDLE) return DD_EBUSY;
  if (!req || len == 0) return DD_EINVAL;
  if (len > DD_UDS_MAX_MSG) return DD_EMSGSIZE;
  memcpy(self->req, req, len);
  self->req_len = len;
  self->functional = functional;
  self->spr = s_has_sub(req[0]) && len >= 2 && (req[1] & DD_UDS_SPRMIB);
  self->pending = 0;
  self->responses = 0;
  self->pending_since = S_NO_TIME;
  self->sent_at = now;
  self->state = S_QUEUED;
  return 0;
}

int dd_uds_client_poll(dd_uds_client_t *self, uint64_t now, dd_uds_client_tx_t *tx) {
  assert(self && tx);
  memset(tx, 0, sizeof *tx);
  s_timers(self, now);
  if (self->state == S_QUEUED) {
    self->state = S_WAIT;
    self->sent_at = now;
    /* P2 starts from the transport's confirmation when it gives one (on_tx_done). */
    self->deadline = now + (self->cfg.tx_confirm_us ? self->cfg.tx_confirm_us : self->p2);
    self->req_tx_id = ++self->tx_seq;
    /* A request reaching the servers the keep-alive reaches restarts their S3 as well. */
    if (self->next_tp != S_NO_TIME && self->functional == self->cfg.tp_functional)
      self->next_tp = now + self->cfg.tp_period_us;
    *tx = (dd_uds_client_tx_t){.data = self->req,
                               .len = self->req_len,
                               .functional = self->functional,
                               .id = self->req_tx_id};
    return 1;
  }
  if (self->next_tp != S_NO_TIME && now >= self->next_tp) {
    self->next_tp = now + self->cfg.tp_period_us;
    *tx = (dd_uds_client_tx_t){.data = self->tp_msg,
                               .len = 2,
                               .functional = self->cfg.tp_functional,
                               .tester_present = true,
                               .id = ++self->tx_seq};
    return 1;
  }
  return 0;
}

void dd_uds_client_on_tx_done(dd_uds_client_t *self, uint32_t id, uint64_t now) {
  assert(self);
  if (self->state == S_WAIT && id == self->req_tx_id && !self->pending && !self->responses)
    self->deadline = now + self->p2;
}

void dd_uds_client_on_tx_error(dd_uds_client_t *self, int error, uint64_t now) {
  assert(self);
  if (self->state == S_IDLE) return;
  s_push(self, error ? error : DD_EIO, 0, NULL, 0, 0, true, now);
  self->state = S_IDLE;
}

/* Does a positive response echo what the request asked (ISO 14229-1:2013 clauses 9-14:
 * sub-function, DID, routine id, block counter)? */
static bool s_echo_ok(const uint8_t *req, size_t rlen, const uint8_t *resp, size_t len) {
  uint8_t sid = req[0];
  if (len < 1 || resp[0] != (uint8_t)(sid + DD_UDS_POSITIVE_OFFSET)) return false;
  switch (sid) {
  case DD_UDS_SID_RC:
    return len >= 4 && rlen >= 4 && resp[1] == (req[1] & 0x7F) && resp[2] == req[2] &&
           resp[3] == req[3];
  case DD_UDS_SID_RDBI:
  case DD_UDS_SID_WDBI: return len >= 3 && rlen >= 3 && resp[1] == req[1] && resp[2] == req[2];
  case DD_UDS_SID_IOCBI: return len >= 4 && rlen >= 4 && memcmp(resp + 1, req + 1, 3) == 0;
  case DD_UDS_SID_TD: return len >= 2 && rlen >= 2 && resp[1] == req[1];
  default:
    if (s_has_sub(sid)) return len >= 2 && rlen >= 2 && resp[1] == (req[1] & 0x7F);
    return true;
  }
}

int dd_uds_client_on_response(dd_uds_client_t *self, const uint8_t *resp, size_t len,
                              uint32_t source, uint64_t now) {
  assert(self);
  assert(resp || !len);
  s_timers(self, now);
  if (self->state != S_WAIT) return 0;
  uint8_t sid = self->req[0];
  /* Answers to our own keep-alive are not the request's business. */
  if (sid != DD_UDS_SID_TP && len >= 1 &&
      (resp[0] == DD_UDS_SID_TP + DD_UDS_POSITIVE_OFFSET ||
       (resp[0] == DD_UDS_SID_NEGATIVE && len >= 2 && resp[1] == DD_UDS_SID_TP)))
    return 0;
  int status = 0;
  uint8_t nrc = 0;
  if (len >= 1 && resp[0] == DD_UDS_SID_NEGATIVE) {
    if (len != 3 || resp[1] != sid) {
      status = DD_EUDS_RESPONSE;
    } else if (resp[2] == DD_UDS_NRC_RESPONSE_PENDING) {
      /* responsePending (ISO 14229-1:2013 annex A): wait P2* more, again and again. */
      if (self->pending_since == S_NO_TIME) self->pending_since = now;
      self->pending++;
      self->deadline = now + self->p2x;
      if (self->cfg.pending_max_us &&
          self->pending_since + self->cfg.pending_max_us < self->deadline)
        self->deadline = self->pending_since + self->cfg.pending_max_us;
      return 1;
    } else {
      status = DD_EUDS_NRC;
      nrc = resp[2];
    }
  } else if (!s_echo_ok(self->req, self->req_len, resp, len)) {
    status = DD_EUDS_RESPONSE;
  }
  if (self->functional) {
    /* Several servers may answer: each response is a result; the window stays open. */
    self->responses++;
    if (status == 0) s_track_session(self, resp, len, now);
    s_push(self, status, nrc, resp, len, source, false, now);
    return 1;
  }
  s_finish(self, status, nrc, resp, len, source, now);
  return 1;
}

uint64_t dd_uds_client_next_deadline(const dd_uds_client_t *self) {
  assert(self);
  uint64_t t = self->next_tp;
  if (self->state == S_QUEUED) return 0; /* due at once */
  if (self->state == S_WAIT && self->deadline < t) t = self->deadline;
  return t;
}

bool dd_uds_client_take_result(dd_uds_client_t *self, dd_uds_result_t *res) {
  assert(self && res);
  free(self->taken);
  self->taken = NULL;
  if (!self->count) return false;
  s_slot_t *s = &self->ring[self->head];
  *res = s->res;
  self->taken = s->owned;
  s->owned = NULL;
  self->head = (self->head + 1) % S_RESULTS;
  self->count--;
  return true;
}

void dd_uds_client_cancel(dd_uds_client_t *self) {
  assert(self);
  self->state = S_IDLE;
}

bool dd_uds_client_busy(const dd_uds_client_t *self) {
  assert(self);
  return self->state != S_IDLE;
}

uint8_t dd_uds_client_session(const dd_uds_client_t *self) {
  assert(self);
  return self->session;
}

uint64_t dd_uds_client_p2(const dd_uds_client_t *self) {
  assert(self);
  return self->p2;
}

uint64_t dd_uds_client_p2x(const dd_uds_client_t *self) {
  assert(self);
  return self->p2x;
}

/* ---- builders ----------------------------------------------------------------------------- */

/* Writes head (hn bytes) then tail (tn bytes). */
static int s_build(uint8_t *buf, size_t cap, const uint8_t *head, size_t hn, const uint8_t *tail,
                   size_t tn) {
  assert(buf || !cap);
  if (hn + tn > cap) return DD_ENOSPC;
  if (hn + tn > DD_UDS_MAX_MSG) return DD_EINVAL;
  memcpy(buf, head, hn);
  if (tn) memcpy(buf + hn, tail, tn);
  return (int)(hn + tn);
}

static uint8_t s_spr(uint8_t sub, bool spr) { return (uint8_t)(sub | (spr ? DD_UDS_SPRMIB : 0)); }

int dd_uds_build_session(uint8_t *buf, size_t cap, uint8_t session, bool spr) {
  if (session == 0 || session > 0x7F) return DD_EINVAL;
  uint8_t h[] = {DD_UDS_SID_DSC, s_spr(session, spr)};
  return s_build(buf, cap, h, 2, NULL, 0);
}

int dd_uds_build_ecu_reset(uint8_t *buf, size_t cap, uint8_t type, bool spr) {
  if (type == 0 || type > 0x7F) return DD_EINVAL;
  uint8_t h[] = {DD_UDS_SID_ER, s_spr(type, spr)};
  return s_build(buf, cap, h, 2, NULL, 0);
}

int dd_uds_build_clear_dtc(uint8_t *buf, size_t cap, uint32_t group) {
  if (group > 0xFFFFFFu) return DD_EINVAL;
  uint8_t h[] = {DD_UDS_SID_CDTCI, (uint8_t)(group >> 16), (uint8_t)(group >> 8), (uint8_t)group};
  return s_build(buf, cap, h, 4, NULL, 0);
}

int dd_uds_build_count_dtc_by_mask(uint8_t *buf, size_t cap, uint8_t mask) {
  uint8_t h[] = {DD_UDS_SID_RDTCI, DD_UDS_RDTCI_COUNT_BY_MASK, mask};
  return s_build(buf, cap, h, 3, NULL, 0);
}

int dd_uds_build_read_dtc_by_mask(uint8_t *buf, size_t cap, uint8_t mask) {
  uint8_t h[] = {DD_UDS_SID_RDTCI, DD_UDS_RDTCI_BY_MASK, mask};
  return s_build(buf, cap, h, 3, NULL, 0);
}

int dd_uds_build_read_dids(uint8_t *buf, size_t cap, const uint16_t *dids, size_t n) {
  if (!dids || n == 0 || n > (DD_UDS_MAX_MSG - 1) / 2) return DD_EINVAL;
  if (1 + 2 * n > cap) return DD_ENOSPC;
  buf[0] = DD_UDS_SID_RDBI;
  for (size_t i = 0; i < n; i++) {
    buf[1 + 2 * i] = (uint8_t)(dids[i] >> 8);
    buf[2 + 2 * i] = (uint8_t)dids[i];
  }
  return (int)(1 + 2 * n);
}

static unsigned s_bytes_for(uint32_t v) {
  return v > 0xFFFFFF ? 4 : v > 0xFFFF ? 3 : v > 0xFF ? 2 : 1;
}

int dd_uds_build_read_memory(uint8_t *buf, size_t cap, uint32_t addr, uint32_t size) {
  if (size == 0) return DD_EINVAL;
  unsigned a = s_bytes_for(addr), s = s_bytes_for(size);
  uint8_t h[10];
  size_t n = 0;
  h[n++] = DD_UDS_SID_RMBA;
  h[n++] = (uint8_t)(s << 4 | a);
  for (unsigned i = a; i-- > 0;)
    h[n++] = (uint8_t)(addr >> (8 * i));
  for (unsigned i = s; i-- > 0;)
    h[n++] = (uint8_t)(size >> (8 * i));
  return s_build(buf, cap, h, n, NULL, 0);
}

int dd_uds_build_seed_request(uint8_t *buf, size_t cap, uint8_t level) {
  if (!(level & 1) || level > 0x7D) return DD_EINVAL;
  uint8_t h[] = {DD_UDS_SID_SA, level};
  return s_build(buf, cap, h, 2, NULL, 0);
}

int dd_uds_build_send_key(uint8_t *buf, size_t cap, uint8_t level, const uint8_t *key,
                          size_t key_len) {
  if (!(level & 1) || level > 0x7D || (!key && key_len)) return DD_EINVAL;
  uint8_t h[] = {DD_UDS_SID_SA, (uint8_t)(level + 1)};
  return s_build(buf, cap, h, 2, key, key_len);
}

int dd_uds_build_comm_control(uint8_t *buf, size_t cap, uint8_t control, uint8_t comm, bool spr) {
  if (control > 0x7F) return DD_EINVAL;
  uint8_t h[] = {DD_UDS_SID_CC, s_spr(control, spr), comm};
  return s_build(buf, cap, h, 3, NULL, 0);
}

int dd_uds_build_write_did(uint8_t *buf, size_t cap, uint16_t did, const uint8_t *data,
                           size_t len) {
  if (!data || len == 0) return DD_EINVAL;
  uint8_t h[] = {DD_UDS_SID_WDBI, (uint8_t)(did >> 8), (uint8_t)did};
  return s_build(buf, cap, h, 3, data, len);
}

int dd_uds_build_io_control(uint8_t *buf, size_t cap, uint16_t did, uint8_t param,
                            const uint8_t *state, size_t state_len, const uint8_t *mask,
                            size_t mask_len) {
  if ((!state && state_len) || (!mask && mask_len)) return DD_EINVAL;
  size_t n = 4 + state_len + mask_len;
  if (n > DD_UDS_MAX_MSG) return DD_EINVAL;
  if (n > cap) return DD_ENOSPC;
  buf[0] = DD_UDS_SID_IOCBI;
  buf[1] = (uint8_t)(did >> 8);
  buf[2] = (uint8_t)did;
  buf[3] = param;
  if (state_len) memcpy(buf + 4, state, state_len);
  if (mask_len) memcpy(buf + 4 + state_len, mask, mask_len);
  return (int)n;
}

int dd_uds_build_routine(uint8_t *buf, size_t cap, uint8_t type, uint16_t rid, const uint8_t *opt,
                         size_t opt_len, bool spr) {
  if (type == 0 || type > 0x7F || (!opt && opt_len)) return DD_EINVAL;
  uint8_t h[] = {DD_UDS_SID_RC, s_spr(type, spr), (uint8_t)(rid >> 8), (uint8_t)rid};
  return s_build(buf, cap, h, 4, opt, opt_len);
}

int dd_uds_build_request_download(uint8_t *buf, size_t cap, uint32_t addr, uint32_t size) {
  uint8_t h[] = {DD_UDS_SID_RD,
                 0x00,
                 0x44,
                 (uint8_t)(addr >> 24),
                 (uint8_t)(addr >> 16),
                 (uint8_t)(addr >> 8),
                 (uint8_t)addr,
                 (uint8_t)(size >> 24),
                 (uint8_t)(size >> 16),
                 (uint8_t)(size >> 8),
                 (uint8_t)size};
  return s_build(buf, cap, h, sizeof h, NULL, 0);
}

int dd_uds_build_transfer_data(uint8_t *buf, size_t cap, uint8_t bsc, const uint8_t *data,
                               size_t len) {
  if (!data && len) return DD_EINVAL;
  uint8_t h[] = {DD_UDS_SID_TD, bsc};
  return s_build(buf, cap, h, 2, data, len);
}

int dd_uds_build_transfer_exit(uint8_t *buf, size_t cap, const uint8_t *param, size_t param_len) {
  if (!param && param_len) return DD_EINVAL;
  uint8_t h[] = {DD_UDS_SID_RTE};
  return s_build(buf, cap, h, 1, param, param_len);
}

int dd_uds_build_tester_present(uint8_t *buf, size_t cap, bool spr) {
  uint8_t h[] = {DD_UDS_SID_TP, s_spr(0x00, spr)};
  return s_build(buf, cap, h, 2, NULL, 0);
}

int dd_uds_build_dtc_setting(uint8_t *buf, size_t cap, bool on, bool spr) {
  uint8_t h[] = {DD_UDS_SID_CDTCS, s_spr(on ? 0x01 : 0x02, spr)};
  return s_build(buf, cap, h, 2, NULL, 0);
}

/* ---- parsers ------------------------------------------------------------------------------ */

int dd_uds_parse_response(const uint8_t *resp, size_t len, uint8_t sid, uint8_t *nrc) {
  if (!resp || len < 1) return DD_EUDS_RESPONSE;
  if (resp[0] == DD_UDS_SID_NEGATIVE) {
    if (len != 3 || resp[1] != sid) return DD_EUDS_RESPONSE;
    if (nrc) *nrc = resp[2];
    return DD_EUDS_NRC;
  }
  return resp[0] == (uint8_t)(sid + DD_UDS_POSITIVE_OFFSET) ? 0 : DD_EUDS_RESPONSE;
}

int dd_uds_parse_session(const uint8_t *resp, size_t len, uint8_t session, uint64_t *p2_us,
                         uint64_t *p2x_us, uint8_t *nrc) {
  int rc = dd_uds_parse_response(resp, len, DD_UDS_SID_DSC, nrc);
  if (rc) return rc;
  if (len < 2 || resp[1] != (session & 0x7F) || (len != 2 && len != 6)) return DD_EUDS_RESPONSE;
  if (p2_us) *p2_us = len == 6 ? (uint64_t)(resp[2] << 8 | resp[3]) * 1000 : 0;
  if (p2x_us) *p2x_us = len == 6 ? (uint64_t)(resp[4] << 8 | resp[5]) * 10000 : 0;
  return 0;
}

int dd_uds_parse_read_did(const uint8_t *resp, size_t len, uint16_t did, const uint8_t **data,
                          size_t *data_len, uint8_t *nrc) {
  int rc = dd_uds_parse_response(resp, len, DD_UDS_SID_RDBI, nrc);
  if (rc) return rc;
  if (len < 3 || resp[1] != (uint8_t)(did >> 8) || resp[2] != (uint8_t)did) return DD_EUDS_RESPONSE;
  if (data) *data = resp + 3;
  if (data_len) *data_len = len - 3;
  return 0;
}

int dd_uds_parse_read_dids(const uint8_t *resp, size_t len, const uint16_t *dids,
                           const size_t *lens, size_t n, const uint8_t **data, uint8_t *nrc) {
  int rc = dd_uds_parse_response(resp, len, DD_UDS_SID_RDBI, nrc);
  if (rc) return rc;
  assert(dids && lens);
  size_t at = 1;
  for (size_t i = 0; i < n; i++) {
    if (len - at < 2 + lens[i] || resp[at] != (uint8_t)(dids[i] >> 8) ||
        resp[at + 1] != (uint8_t)dids[i])
      return DD_EUDS_RESPONSE;
    if (data) data[i] = resp + at + 2;
    at += 2 + lens[i];
  }
  return at == len ? 0 : DD_EUDS_RESPONSE;
}

int dd_uds_parse_seed(const uint8_t *resp, size_t len, uint8_t level, const uint8_t **seed,
                      size_t *seed_len, bool *unlocked, uint8_t *nrc) {
  int rc = dd_uds_parse_response(resp, len, DD_UDS_SID_SA, nrc);
  if (rc) return rc;
  if (len < 3 || resp[1] != (level & 0x7F)) return DD_EUDS_RESPONSE;
  bool zero = true;
  for (size_t i = 2; i < len; i++)
    zero = zero && resp[i] == 0;
  if (seed) *seed = resp + 2;
  if (seed_len) *seed_len = len - 2;
  if (unlocked) *unlocked = zero;
  return 0;
}

int dd_uds_parse_key(const uint8_t *resp, size_t len, uint8_t level, uint8_t *nrc) {
  int rc = dd_uds_parse_response(resp, len, DD_UDS_SID_SA, nrc);
  if (rc) return rc;
  return len == 2 && resp[1] == (uint8_t)((level & 0x7F) + 1) ? 0 : DD_EUDS_RESPONSE;
}

int dd_uds_parse_routine(const uint8_t *resp, size_t len, uint8_t type, uint16_t rid,
                         const uint8_t **status, size_t *status_len, uint8_t *nrc) {
  int rc = dd_uds_parse_response(resp, len, DD_UDS_SID_RC, nrc);
  if (rc) return rc;
  if (len < 4 || resp[1] != (type & 0x7F) || resp[2] != (uint8_t)(rid >> 8) ||
      resp[3] != (uint8_t)rid)
    return DD_EUDS_RESPONSE;
  if (status) *status = resp + 4;
  if (status_len) *status_len = len - 4;
  return 0;
}

int dd_uds_parse_request_download(const uint8_t *resp, size_t len, uint32_t *max_block_length,
                                  uint8_t *nrc) {
  int rc = dd_uds_parse_response(resp, len, DD_UDS_SID_RD, nrc);
  if (rc) return rc;
  if (len < 2) return DD_EUDS_RESPONSE;
  unsigned n = resp[1] >> 4;
  if (n < 1 || n > 4 || len != 2u + n) return DD_EUDS_RESPONSE;
  uint32_t v = 0;
  for (unsigned i = 0; i < n; i++)
    v = v << 8 | resp[2 + i];
  if (v < 3) return DD_EUDS_RESPONSE; /* room for SID, counter and one byte at least */
  if (max_block_length) *max_block_length = v;
  return 0;
}

int dd_uds_parse_transfer_data(const uint8_t *resp, size_t len, uint8_t bsc, uint8_t *nrc) {
  int rc = dd_uds_parse_response(resp, len, DD_UDS_SID_TD, nrc);
  if (rc) return rc;
  return len >= 2 && resp[1] == bsc ? 0 : DD_EUDS_RESPONSE;
}

int dd_uds_parse_transfer_exit(const uint8_t *resp, size_t len, const uint8_t **param,
                               size_t *param_len, uint8_t *nrc) {
  int rc = dd_uds_parse_response(resp, len, DD_UDS_SID_RTE, nrc);
  if (rc) return rc;
  if (param) *param = resp + 1;
  if (param_len) *param_len = len - 1;
  return 0;
}

int dd_uds_parse_dtc_count(const uint8_t *resp, size_t len, uint8_t *availability, uint8_t *format,
                           uint16_t *count, uint8_t *nrc) {
  int rc = dd_uds_parse_response(resp, len, DD_UDS_SID_RDTCI, nrc);
  if (rc) return rc;
  if (len != 6 || resp[1] != DD_UDS_RDTCI_COUNT_BY_MASK) return DD_EUDS_RESPONSE;
  if (availability) *availability = resp[2];
  if (format) *format = resp[3];
  if (count) *count = (uint16_t)(resp[4] << 8 | resp[5]);
  return 0;
}

int dd_uds_parse_dtc_list(const uint8_t *resp, size_t len, uint8_t report_type,
                          uint8_t *availability, dd_uds_dtc_rec_t *out, size_t cap, size_t *n,
                          uint8_t *nrc) {
  int rc = dd_uds_parse_response(resp, len, DD_UDS_SID_RDTCI, nrc);
  if (rc) return rc;
  if (len < 3 || resp[1] != report_type || (len - 3) % 4) return DD_EUDS_RESPONSE;
  size_t count = (len - 3) / 4;
  for (size_t i = 0; i < count && i < cap; i++) {
    const uint8_t *p = resp + 3 + 4 * i;
    out[i].dtc = (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
    out[i].status = p[3];
  }
  if (availability) *availability = resp[2];
  if (n) *n = count;
  return 0;
}

int dd_uds_parse_clear_dtc(const uint8_t *resp, size_t len, uint8_t *nrc) {
  int rc = dd_uds_parse_response(resp, len, DD_UDS_SID_CDTCI, nrc);
  if (rc) return rc;
  return len == 1 ? 0 : DD_EUDS_RESPONSE;
}
