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

/* ---- session table ---- */

struct dd_svc_session {
  dd_svc_intake_t *in;                     /* records of this session (holds the session id) */
  uint8_t peer[DD_SVC_PEER_MAX];           /* routing id of its first device */
  size_t peer_len;                         /* its length, >= 1 */
  uint64_t hash;                           /* hash of the session id */
  uint64_t opened_us;                      /* first hello */
  uint64_t active_us;                      /* last hello or record */
  dd_svc_session_t *hnext;                 /* next in the hash bucket */
  dd_svc_session_t *lru_prev, *lru_next;   /* activity order, most recent first */
  dd_svc_session_t *work_prev, *work_next; /* acknowledgement work list */
  bool on_work;                            /* on that list */
};

struct dd_svc_table {
  size_t max;                            /* sessions open at once */
  uint64_t idle_us;                      /* idle expiry, UINT64_MAX never */
  dd_svc_session_t **buckets;            /* hash buckets (chained) */
  size_t nbuckets;                       /* a power of two */
  dd_svc_session_t *lru_head, *lru_tail; /* most and least recently active */
  dd_svc_session_t *work_head;           /* sessions with acknowledgement work */
  dd_svc_table_stats_t st;               /* counters; st.rec holds the freed sessions' only */
};

/* FNV-1a, 64 bits. */
static uint64_t s_hash(const char *text) {
  uint64_t h = 14695981039346656037ull;
  for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
    h ^= *p;
    h *= 1099511628211ull;
  }
  return h;
}

static void s_rec_add(dd_svc_intake_stats_t *to, const dd_svc_intake_stats_t *from) {
  to->received += from->received;
  to->direct += from->direct;
  to->relay += from->relay;
  to->duplicates += from->duplicates;
  to->refused += from->refused;
  to->delivered += from->delivered;
  to->acks += from->acks;
}

int dd_svc_table_new(const dd_svc_table_cfg_t *cfg, dd_svc_table_t **out) {
  assert(out);
  size_t max = cfg && cfg->max_sessions ? cfg->max_sessions : DD_SVC_SESSIONS_DEFAULT;
  if (max > DD_SVC_SESSIONS_LIMIT) return DD_EINVAL;
  dd_svc_table_t *self = calloc(1, sizeof *self);
  if (!self) return DD_ENOMEM;
  self->max = max;
  self->idle_us = cfg && cfg->idle_us ? cfg->idle_us : DD_SVC_IDLE_DEFAULT_US;
  /* at most one entry per two buckets on average */
  self->nbuckets = 16;
  while (self->nbuckets < 2 * max) self->nbuckets *= 2;
  self->buckets = calloc(self->nbuckets, sizeof *self->buckets);
  if (!self->buckets) {
    free(self);
    return DD_ENOMEM;
  }
  *out = self;
  return 0;
}

static void s_lru_unlink(dd_svc_table_t *self, dd_svc_session_t *s) {
  if (s->lru_prev) s->lru_prev->lru_next = s->lru_next;
  else self->lru_head = s->lru_next;
  if (s->lru_next) s->lru_next->lru_prev = s->lru_prev;
  else self->lru_tail = s->lru_prev;
  s->lru_prev = s->lru_next = NULL;
}

static void s_lru_front(dd_svc_table_t *self, dd_svc_session_t *s) {
  s->lru_prev = NULL;
  s->lru_next = self->lru_head;
  if (self->lru_head) self->lru_head->lru_prev = s;
  else self->lru_tail = s;
  self->lru_head = s;
}

static void s_touch(dd_svc_table_t *self, dd_svc_session_t *s, uint64_t now) {
  if (now > s->active_us) s->active_us = now;
  if (self->lru_head == s) return;
  s_lru_unlink(self, s);
  s_lru_front(self, s);
}

static void s_work_add(dd_svc_table_t *self, dd_svc_session_t *s) {
  if (s->on_work) return;
  s->on_work = true;
  s->work_prev = NULL;
  s->work_next = self->work_head;
  if (self->work_head) self->work_head->work_prev = s;
  self->work_head = s;
}

static void s_work_remove(dd_svc_table_t *self, dd_svc_session_t *s) {
  if (!s->on_work) return;
  if (s->work_prev) s->work_prev->work_next = s->work_next;
  else self->work_head = s->work_next;
  if (s->work_next) s->work_next->work_prev = s->work_prev;
  s->work_prev = s->work_next = NULL;
  s->on_work = false;
}

static void s_session_free(dd_svc_session_t *s) {
  dd_svc_intake_destroy(&s->in);
  free(s);
}

void dd_svc_table_destroy(dd_svc_table_t **self_p) {
  if (!self_p || !*self_p) return;
  dd_svc_table_t *self = *self_p;
  while (self->lru_head) {
    dd_svc_session_t *s = self->lru_head;
    self->lru_head = s->lru_next;
    s_session_free(s);
  }
  free(self->buckets);
  free(self);
  *self_p = NULL;
}

size_t dd_svc_table_max(const dd_svc_table_t *self) { return self->max; }
uint64_t dd_svc_table_idle_us(const dd_svc_table_t *self) { return self->idle_us; }
size_t dd_svc_table_count(const dd_svc_table_t *self) { return self->st.open; }

static dd_svc_session_t *s_find(const dd_svc_table_t *self, const char *session_id, uint64_t h) {
  for (dd_svc_session_t *s = self->buckets[h & (self->nbuckets - 1)]; s; s = s->hnext)
    if (s->hash == h && !strcmp(dd_svc_intake_session(s->in), session_id)) return s;
  return NULL;
}

dd_svc_session_t *dd_svc_table_find(dd_svc_table_t *self, const char *session_id) {
  assert(self && session_id);
  return s_find(self, session_id, s_hash(session_id));
}

int dd_svc_table_open(dd_svc_table_t *self, const char *session_id, const uint8_t *peer,
                      size_t peer_len, uint64_t now, bool *resumed, uint64_t *next_seq,
                      dd_svc_session_t **out) {
  assert(self && session_id);
  size_t n = strlen(session_id);
  if (!n || n >= DD_SVC_SESSION_MAX || !peer || !peer_len || peer_len > DD_SVC_PEER_MAX)
    return DD_EINVAL;
  uint64_t h = s_hash(session_id);
  dd_svc_session_t *s = s_find(self, session_id, h);
  bool again = s != NULL;
  if (!s) {
    if (self->st.open >= self->max) {
      self->st.full++;
      return DD_ENOSPC;
    }
    s = calloc(1, sizeof *s);
    if (!s) return DD_ENOMEM;
    int rc = dd_svc_intake_new(&s->in);
    if (rc == 0) rc = dd_svc_intake_open(s->in, session_id, NULL, NULL);
    if (rc < 0) {
      s_session_free(s);
      return rc;
    }
    s->hash = h;
    s->opened_us = s->active_us = now;
    s->hnext = self->buckets[h & (self->nbuckets - 1)];
    self->buckets[h & (self->nbuckets - 1)] = s;
    s_lru_front(self, s);
    self->st.opened++;
    if (++self->st.open > self->st.peak) self->st.peak = self->st.open;
  } else {
    self->st.resumed++;
    s_touch(self, s, now);
  }
  memcpy(s->peer, peer, peer_len);
  s->peer_len = peer_len;
  /* Same session: the intake keeps what it received (ServiceWelcome says where to go on). */
  if (resumed) *resumed = again;
  if (next_seq) *next_seq = dd_drecv_next_expected(s->in->rx);
  if (out) *out = s;
  return 0;
}

int dd_svc_table_on_record(dd_svc_table_t *self, const char *session_id, uint64_t seq,
                           dd_svc_path_t path, const uint8_t *data, size_t len, uint64_t now,
                           dd_drecv_verdict_t *verdict, dd_svc_session_t **out) {
  assert(self && session_id);
  if (out) *out = NULL;
  dd_svc_session_t *s = dd_svc_table_find(self, session_id);
  if (!s) {
    self->st.unknown++;
    self->st.rec.refused++;
    if (verdict) *verdict = DD_DRECV_REFUSED;
    return DD_ENOENT;
  }
  int rc = dd_svc_intake_on_record(s->in, session_id, seq, path, data, len, now, verdict);
  if (rc < 0) return rc; /* cannot happen: the entry is found by this id */
  s_touch(self, s, now);
  s_work_add(self, s);
  if (out) *out = s;
  return 0;
}

size_t dd_svc_table_due(dd_svc_table_t *self, uint64_t now, dd_svc_session_t **out, size_t max) {
  size_t n = 0;
  dd_svc_session_t *s = self->work_head;
  while (s && n < max) {
    dd_svc_session_t *next = s->work_next;
    if (dd_svc_intake_deadline(s->in) == UINT64_MAX) s_work_remove(self, s); /* nothing to ack */
    else if (dd_svc_intake_ack_due(s->in, now)) out[n++] = s;
    s = next;
  }
  return n;
}

dd_svc_session_t *dd_svc_table_idle(dd_svc_table_t *self, uint64_t now) {
  dd_svc_session_t *s = self->lru_tail;
  if (!s || self->idle_us == UINT64_MAX || now < s->active_us) return NULL;
  return now - s->active_us >= self->idle_us ? s : NULL;
}

void dd_svc_table_remove(dd_svc_table_t *self, dd_svc_session_t **s_p, dd_svc_end_t why) {
  assert(self && s_p && *s_p);
  dd_svc_session_t *s = *s_p;
  dd_svc_session_t **pp = &self->buckets[s->hash & (self->nbuckets - 1)];
  while (*pp != s) {
    assert(*pp); /* the entry belongs to this table */
    pp = &(*pp)->hnext;
  }
  *pp = s->hnext;
  s_lru_unlink(self, s);
  s_work_remove(self, s);
  dd_svc_intake_stats_t st = dd_svc_intake_stats(s->in);
  s_rec_add(&self->st.rec, &st);
  self->st.open--;
  if (why == DD_SVC_END_IDLE) self->st.idled++;
  else self->st.closed++;
  s_session_free(s);
  *s_p = NULL;
}

uint64_t dd_svc_table_deadline(const dd_svc_table_t *self) {
  uint64_t next = UINT64_MAX;
  if (self->lru_tail && self->idle_us <= UINT64_MAX - self->lru_tail->active_us)
    next = self->lru_tail->active_us + self->idle_us;
  for (const dd_svc_session_t *s = self->work_head; s; s = s->work_next) {
    uint64_t d = dd_svc_intake_deadline(s->in);
    if (d < next) next = d;
  }
  return next;
}

dd_svc_table_stats_t dd_svc_table_stats(const dd_svc_table_t *self) {
  dd_svc_table_stats_t st = self->st;
  for (const dd_svc_session_t *s = self->lru_head; s; s = s->lru_next) {
    dd_svc_intake_stats_t one = dd_svc_intake_stats(s->in);
    s_rec_add(&st.rec, &one);
  }
  return st;
}

dd_svc_intake_t *dd_svc_session_intake(dd_svc_session_t *s) { return s->in; }
const char *dd_svc_session_id(const dd_svc_session_t *s) { return dd_svc_intake_session(s->in); }

const uint8_t *dd_svc_session_peer(const dd_svc_session_t *s, size_t *len) {
  *len = s->peer_len;
  return s->peer;
}

bool dd_svc_session_is_peer(const dd_svc_session_t *s, const uint8_t *peer, size_t peer_len) {
  return peer_len == s->peer_len && !memcmp(peer, s->peer, peer_len);
}

uint64_t dd_svc_session_opened_us(const dd_svc_session_t *s) { return s->opened_us; }
uint64_t dd_svc_session_active_us(const dd_svc_session_t *s) { return s->active_us; }

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
