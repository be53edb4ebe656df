/* dd_service_core: record intake and package pacing of the service device, sans-I/O. */
#include "dd_service_core.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "dd_err.h"

const char *dd_svc_path_name(dd_svc_path_t path) {
  return path == DD_SVC_PATH_DIRECT ? "direct" : path == DD_SVC_PATH_RELAY ? "relay" : "?";
}

/* ---- record intake ---- */

struct dd_svc_intake {
  char session[DD_SVC_SESSION_MAX]; /* session being received */
  dd_drecv_t *rx;                   /* exactly-once in-order receiver */
  bool pending;                     /* a record arrived since the last ack */
  uint64_t last_ack_us;             /* when the last ack was produced */
  dd_svc_intake_stats_t st;         /* counters */
};

int dd_svc_intake_new(dd_svc_intake_t **out) {
  dd_svc_intake_t *self = calloc(1, sizeof *self);
  if (!self) return DD_ENOMEM;
  int rc = dd_drecv_new(&self->rx);
  if (rc < 0) {
    free(self);
    return rc;
  }
  *out = self;
  return 0;
}

void dd_svc_intake_destroy(dd_svc_intake_t **self_p) {
  if (!self_p || !*self_p) return;
  dd_drecv_destroy(&(*self_p)->rx);
  free(*self_p);
  *self_p = NULL;
}

int dd_svc_intake_open(dd_svc_intake_t *self, const char *session_id, bool *resumed,
                       uint64_t *next_seq) {
  assert(self && session_id);
  size_t n = strlen(session_id);
  if (!n || n >= DD_SVC_SESSION_MAX) return DD_EINVAL;
  bool same = !strcmp(self->session, session_id);
  if (!same) {
    dd_drecv_t *rx = NULL;
    int rc = dd_drecv_new(&rx);
    if (rc < 0) return rc;
    dd_drecv_destroy(&self->rx);
    self->rx = rx;
    memcpy(self->session, session_id, n + 1);
    self->pending = false;
  }
  if (resumed) *resumed = same;
  if (next_seq) *next_seq = dd_drecv_next_expected(self->rx);
  return 0;
}

const char *dd_svc_intake_session(const dd_svc_intake_t *self) { return self->session; }

int dd_svc_intake_on_record(dd_svc_intake_t *self, const char *session_id, uint64_t seq,
                            dd_svc_path_t path, const uint8_t *data, size_t len, uint64_t now,
                            dd_drecv_verdict_t *verdict) {
  assert(self && session_id);
  (void)now;
  if (!self->session[0] || strcmp(self->session, session_id)) {
    self->st.refused++;
    if (verdict) *verdict = DD_DRECV_REFUSED;
    return DD_ENOENT;
  }
  self->st.received++;
  if (path == DD_SVC_PATH_DIRECT) self->st.direct++;
  else self->st.relay++;
  dd_drecv_verdict_t v = dd_drecv_on_record(self->rx, seq, data, len);
  if (v == DD_DRECV_DUPLICATE) self->st.duplicates++;
  if (v == DD_DRECV_REFUSED) self->st.refused++;
  /* Every copy, duplicates included, earns an acknowledgement: a duplicate means the sender has
   * not seen our last one (RFC 2018 section 4: the receiver acks every segment it gets). */
  self->pending = true;
  if (verdict) *verdict = v;
  return 0;
}

bool dd_svc_intake_take(dd_svc_intake_t *self, uint64_t *seq, uint8_t **data, size_t *len) {
  uint8_t *held;
  size_t n;
  uint64_t s;
  /* dd_drecv keeps the taken record only until the next take: hand out a copy. */
  if (!dd_drecv_take(self->rx, &s, &held, &n)) return false;
  uint8_t *copy = malloc(n ? n : 1);
  if (!copy) return false; /* taken but not handed over; counted nowhere else */
  if (n) memcpy(copy, held, n);
  self->st.delivered++;
  *seq = s;
  *data = copy;
  *len = n;
  return true;
}

static bool s_has_gap(const dd_svc_intake_t *self) {
  uint64_t cum;
  dd_seq_range_t r;
  return dd_drecv_ack(self->rx, &cum, &r, 1) > 0;
}

bool dd_svc_intake_ack_due(const dd_svc_intake_t *self, uint64_t now) {
  if (!self->session[0]) return false;
  if (self->pending) return true;
  return s_has_gap(self) && now >= self->last_ack_us + DD_SVC_ACK_PERIOD_US;
}

size_t dd_svc_intake_ack(dd_svc_intake_t *self, uint64_t now, uint64_t *cum,
                         dd_seq_range_t *sacks, size_t max) {
  size_t n = dd_drecv_ack(self->rx, cum, sacks, max);
  self->pending = false;
  self->last_ack_us = now;
  self->st.acks++;
  return n;
}

uint64_t dd_svc_intake_deadline(const dd_svc_intake_t *self) {
  if (!self->session[0]) return UINT64_MAX;
  if (self->pending) return 0;
  return s_has_gap(self) ? self->last_ack_us + DD_SVC_ACK_PERIOD_US : UINT64_MAX;
}

dd_svc_intake_stats_t dd_svc_intake_stats(const dd_svc_intake_t *self) { return self->st; }

/* ---- package pacing ---- */

void dd_svc_prog_init(dd_svc_prog_t *p, uint32_t chunk, unsigned window, uint64_t stall_us) {
  memset(p, 0, sizeof *p);
  p->chunk = chunk ? chunk : DD_SVC_CHUNK_DEFAULT;
  if (p->chunk > 1024u * 1024u) p->chunk = 1024u * 1024u;
  p->window = window ? window : DD_SVC_WINDOW_DEFAULT;
  p->stall_us = stall_us ? stall_us : DD_SVC_STALL_DEFAULT_US;
}

void dd_svc_prog_start(dd_svc_prog_t *p, uint64_t total, uint64_t now) {
  assert(total >= 1);
  p->total = total;
  p->acked = p->sent = 0;
  p->progress_us = now;
  p->active = true;
  p->done = false;
  p->offer_due = true;
  p->resumed_offer = false;
  p->resumes = 0;
}

int dd_svc_prog_on_ack(dd_svc_prog_t *p, uint64_t next_offset, uint64_t now) {
  if (!p->active) return 0;
  if (next_offset > p->total) return DD_ERANGE;
  if (next_offset < p->acked) {
    p->stale_acks++;
    return 0;
  }
  if (next_offset == p->acked) return 0;
  p->acked = next_offset;
  if (p->sent < p->acked) p->sent = p->acked;
  p->progress_us = now;
  if (p->acked == p->total) p->done = true;
  return 1;
}

static void s_resume(dd_svc_prog_t *p, uint64_t now) {
  p->sent = p->acked; /* go back to what the first device has confirmed */
  p->offer_due = true;
  p->resumed_offer = true;
  p->progress_us = now;
  p->resumes++;
}

void dd_svc_prog_resume(dd_svc_prog_t *p, uint64_t now) {
  if (!p->active || p->done) return;
  s_resume(p, now);
}

bool dd_svc_prog_poll(dd_svc_prog_t *p, uint64_t now, dd_svc_prog_out_t *out) {
  if (!p->active || p->done) return false;
  if (p->sent > p->acked && now >= p->progress_us + p->stall_us) s_resume(p, now);
  memset(out, 0, sizeof *out);
  if (p->offer_due) {
    p->offer_due = false;
    out->kind = DD_SVC_PROG_OFFER;
    out->resume = p->resumed_offer;
    return true;
  }
  if (p->sent >= p->total) return false;
  /* At most `window` chunks beyond the acknowledged offset (FLOWS S401: 4 outstanding). */
  if (p->sent - p->acked >= (uint64_t)p->window * p->chunk) return false;
  uint64_t left = p->total - p->sent;
  out->kind = DD_SVC_PROG_CHUNK;
  out->offset = p->sent;
  out->len = (size_t)(left < p->chunk ? left : p->chunk);
  out->last = p->sent + out->len == p->total;
  p->sent += out->len;
  return true;
}

uint64_t dd_svc_prog_deadline(const dd_svc_prog_t *p) {
  if (!p->active || p->done || p->sent <= p->acked) return UINT64_MAX;
  return p->progress_us + p->stall_us;
}
