/* dd_relay: store-and-forward core of the relay server (S44), sans-I/O. */
#include "dd_relay.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_err.h"

/* One message waiting for (or passing to) its destination. */
typedef struct s_msg {
  struct s_msg *next; /* next in the destination's queue */
  uint64_t queued_us; /* arrival time */
  bool stored;        /* had to wait */
  bool echo;          /* a hello: sent by its own destination */
  size_t len;         /* inner length */
  uint8_t inner[];    /* inner bytes */
} s_msg_t;

/* One end of a session: a party and the messages for it. */
typedef struct {
  char party[DD_RELAY_ID_MAX]; /* party id; "" = free slot */
  bool absent;                 /* the last delivery found it not connected */
  uint64_t retry_at;           /* no delivery attempt before this (0: now) */
  s_msg_t *head, *tail;        /* queue, oldest first */
  size_t n;                    /* messages queued */
  size_t bytes;                /* their inner bytes */
  uint64_t backlog_n;          /* stored messages delivered since the backlog began */
  uint64_t backlog_bytes;      /* their bytes */
  uint64_t backlog_since;      /* arrival of the oldest stored message of the backlog */
  bool in_backlog;             /* a backlog is being worked off */
} s_end_t;

typedef struct {
  char id[DD_RELAY_ID_MAX]; /* session id */
  s_end_t ends[2];          /* its two ends */
  uint64_t last_us;         /* last traffic in or out */
  size_t n;                 /* messages queued (both ends) */
  size_t bytes;             /* their inner bytes */
} s_session_t;

struct dd_relay {
  dd_relay_cfg_t cfg;         /* limits, defaults filled in */
  s_session_t **sessions;     /* cfg.max_sessions slots, NULL = free */
  size_t cursor;              /* round-robin start of peek */
  int peek_s, peek_e;         /* session slot and end of the message last peeked; -1 none */
  dd_relay_note_t *notes;     /* pending notes (ring) */
  size_t notes_cap;           /* ring capacity */
  size_t notes_head, notes_n; /* ring state */
  dd_relay_stats_t st;        /* counters */
};

const char *dd_relay_note_name(dd_relay_note_kind_t kind) {
  switch (kind) {
  case DD_RELAY_NOTE_SESSION_OPEN: return "session_open";
  case DD_RELAY_NOTE_END_JOINED: return "end_joined";
  case DD_RELAY_NOTE_END_ABSENT: return "end_absent";
  case DD_RELAY_NOTE_FLUSHED: return "flushed";
  case DD_RELAY_NOTE_SESSION_CLOSED: return "session_closed";
  case DD_RELAY_NOTE_SESSION_EXPIRED: return "session_expired";
  }
  return "?";
}

int dd_relay_new(const dd_relay_cfg_t *cfg, dd_relay_t **out) {
  assert(out);
  *out = NULL;
  dd_relay_t *self = calloc(1, sizeof *self);
  if (!self) return DD_ENOMEM;
  if (cfg) self->cfg = *cfg;
  dd_relay_cfg_t *c = &self->cfg;
  if (!c->max_msgs) c->max_msgs = DD_RELAY_DEFAULT_MSGS;
  if (!c->max_bytes) c->max_bytes = DD_RELAY_DEFAULT_BYTES;
  if (!c->max_total_bytes) c->max_total_bytes = DD_RELAY_DEFAULT_TOTAL;
  if (!c->max_sessions) c->max_sessions = DD_RELAY_DEFAULT_SESSIONS;
  if (!c->retry_us) c->retry_us = DD_RELAY_DEFAULT_RETRY_US;
  if (!c->idle_us) c->idle_us = DD_RELAY_DEFAULT_IDLE_US;
  if (c->max_sessions > 1u << 20) {
    free(self);
    return DD_EINVAL;
  }
  self->sessions = calloc(c->max_sessions, sizeof *self->sessions);
  self->notes_cap = 16;
  self->notes = calloc(self->notes_cap, sizeof *self->notes);
  if (!self->sessions || !self->notes) {
    free(self->sessions);
    free(self->notes);
    free(self);
    return DD_ENOMEM;
  }
  self->peek_s = self->peek_e = -1;
  *out = self;
  return 0;
}

static void s_end_clear(s_end_t *e) {
  s_msg_t *m = e->head;
  while (m) {
    s_msg_t *next = m->next;
    free(m);
    m = next;
  }
  e->head = e->tail = NULL;
  e->n = e->bytes = 0;
}

void dd_relay_destroy(dd_relay_t **self_p) {
  assert(self_p);
  dd_relay_t *self = *self_p;
  if (!self) return;
  for (size_t i = 0; i < self->cfg.max_sessions; i++) {
    s_session_t *s = self->sessions[i];
    if (!s) continue;
    s_end_clear(&s->ends[0]);
    s_end_clear(&s->ends[1]);
    free(s);
  }
  free(self->sessions);
  free(self->notes);
  free(self);
  *self_p = NULL;
}

const dd_relay_cfg_t *dd_relay_cfg(const dd_relay_t *self) { return &self->cfg; }

/* ---- notes ---------------------------------------------------------------------------------- */

/* Append a note; when memory runs out the oldest note is overwritten (notes are for the
 * timeline, the counters stay exact). */
static dd_relay_note_t *s_note(dd_relay_t *self, dd_relay_note_kind_t kind, const char *session,
                               const char *party) {
  if (self->notes_n == self->notes_cap) {
    dd_relay_note_t *bigger = calloc(self->notes_cap * 2, sizeof *bigger);
    if (bigger) {
      for (size_t i = 0; i < self->notes_n; i++)
        bigger[i] = self->notes[(self->notes_head + i) % self->notes_cap];
      free(self->notes);
      self->notes = bigger;
      self->notes_cap *= 2;
      self->notes_head = 0;
    } else {
      self->notes_head = (self->notes_head + 1) % self->notes_cap;
      self->notes_n--;
    }
  }
  dd_relay_note_t *n = &self->notes[(self->notes_head + self->notes_n) % self->notes_cap];
  self->notes_n++;
  memset(n, 0, sizeof *n);
  n->kind = kind;
  snprintf(n->session, sizeof n->session, "%s", session);
  snprintf(n->party, sizeof n->party, "%s", party ? party : "");
  return n;
}

bool dd_relay_take_note(dd_relay_t *self, dd_relay_note_t *out) {
  if (!self->notes_n) return false;
  *out = self->notes[self->notes_head];
  self->notes_head = (self->notes_head + 1) % self->notes_cap;
  self->notes_n--;
  return true;
}

/* ---- sessions and ends ---------------------------------------------------------------------- */

static int s_find(const dd_relay_t *self, const char *session) {
  for (size_t i = 0; i < self->cfg.max_sessions; i++)
    if (self->sessions[i] && !strcmp(self->sessions[i]->id, session)) return (int)i;
  return -1;
}

static int s_end_of(const s_session_t *s, const char *party) {
  for (int e = 0; e < 2; e++)
    if (s->ends[e].party[0] && !strcmp(s->ends[e].party, party)) return e;
  return -1;
}

/* The end of party in s, taking a free slot if needed; -1 when both slots hold others. */
static int s_join(dd_relay_t *self, s_session_t *s, const char *party, bool note) {
  int e = s_end_of(s, party);
  if (e >= 0) return e;
  for (e = 0; e < 2; e++) {
    if (s->ends[e].party[0]) continue;
    snprintf(s->ends[e].party, sizeof s->ends[e].party, "%s", party);
    if (note) s_note(self, DD_RELAY_NOTE_END_JOINED, s->id, party);
    return e;
  }
  return -1;
}

static void s_peak(dd_relay_t *self) {
  if (self->st.queued_msgs > self->st.peak_msgs) self->st.peak_msgs = self->st.queued_msgs;
  if (self->st.queued_bytes > self->st.peak_bytes) self->st.peak_bytes = self->st.queued_bytes;
}

/* Free a session's slot; its messages are counted as discarded. */
static void s_drop_session(dd_relay_t *self, int idx, uint64_t *msgs, uint64_t *bytes) {
  s_session_t *s = self->sessions[idx];
  *msgs = s->n;
  *bytes = s->bytes;
  self->st.discarded += s->n;
  self->st.queued_msgs -= s->n;
  self->st.queued_bytes -= s->bytes;
  s_end_clear(&s->ends[0]);
  s_end_clear(&s->ends[1]);
  free(s);
  self->sessions[idx] = NULL;
  self->st.sessions--;
  if (self->peek_s == idx) self->peek_s = self->peek_e = -1;
}

static bool s_id_ok(const char *id, const char *what, char *err, size_t cap, int *rc) {
  if (!id || !*id) {
    snprintf(err, cap, "relay: empty %s; message dropped", what);
    *rc = DD_EINVAL;
    return false;
  }
  if (strlen(id) >= DD_RELAY_ID_MAX) {
    snprintf(err, cap, "relay: %s longer than %d bytes; message dropped", what,
             DD_RELAY_ID_MAX - 1);
    *rc = DD_ENAMETOOLONG;
    return false;
  }
  return true;
}

/* ---- input ---------------------------------------------------------------------------------- */

void dd_relay_seen(dd_relay_t *self, const char *party, uint64_t now) {
  (void)now;
  for (size_t i = 0; i < self->cfg.max_sessions; i++) {
    s_session_t *s = self->sessions[i];
    if (!s) continue;
    int e = s_end_of(s, party);
    if (e >= 0) s->ends[e].retry_at = 0;
  }
}

int dd_relay_forward(dd_relay_t *self, const char *from, const char *session, const char *to,
                     const uint8_t *inner, size_t len, uint64_t now, char *err, size_t cap) {
  assert(self && err && cap);
  err[0] = '\0';
  int rc = 0;
  if (!s_id_ok(from, "sender id", err, cap, &rc) ||
      !s_id_ok(session, "session id", err, cap, &rc) ||
      !s_id_ok(to, "destination", err, cap, &rc)) {
    self->st.refused++;
    return rc;
  }
  if (!inner || !len) {
    snprintf(err, cap, "session %s: empty inner envelope; message dropped", session);
    self->st.refused++;
    return DD_EINVAL;
  }
  int idx = s_find(self, session);
  s_session_t *s = idx >= 0 ? self->sessions[idx] : NULL;
  if (s) {
    /* Both parties must be (or become) one of the two ends; check before joining either. */
    int free_slots = !s->ends[0].party[0] + !s->ends[1].party[0];
    int needed = (s_end_of(s, from) < 0) + (strcmp(from, to) && s_end_of(s, to) < 0);
    if (needed > free_slots) {
      const char *outsider = s_end_of(s, from) < 0 ? from : to;
      snprintf(err, cap, "session %s: party %s is not one of its ends (%s, %s); message dropped",
               session, outsider, s->ends[0].party, s->ends[1].party[0] ? s->ends[1].party : "-");
      self->st.refused++;
      return DD_EPERM;
    }
  }
  /* Would the message have to wait? (A new session's destination has never been tried, and a
   * hello's destination is its sender, connected right now.) */
  const s_end_t *dst = NULL;
  if (s) {
    int de = s_end_of(s, to);
    if (de >= 0) dst = &s->ends[de];
  }
  bool store = dst && strcmp(from, to) != 0 && (dst->absent || dst->n > 0 || dst->retry_at > now);
  if (store) {
    size_t sn = s ? s->n : 0, sb = s ? s->bytes : 0;
    if (sn + 1 > self->cfg.max_msgs || sb > self->cfg.max_bytes || len > self->cfg.max_bytes - sb) {
      snprintf(err, cap,
               "session %s: relay buffer full (%zu messages / %zu bytes); message dropped", session,
               self->cfg.max_msgs, self->cfg.max_bytes);
      self->st.dropped_full++;
      return DD_ENOSPC;
    }
    size_t tb = self->st.queued_bytes;
    if (tb > self->cfg.max_total_bytes || len > self->cfg.max_total_bytes - tb) {
      snprintf(err, cap,
               "session %s: relay store full (%zu bytes over all sessions); message "
               "dropped",
               session, self->cfg.max_total_bytes);
      self->st.dropped_full++;
      return DD_ENOSPC;
    }
  }
  s_msg_t *m = malloc(sizeof *m + len);
  if (!m) {
    snprintf(err, cap, "session %s: relay out of memory; message dropped", session);
    self->st.refused++;
    return DD_ENOMEM;
  }
  if (!s) {
    int slot = -1;
    for (size_t i = 0; i < self->cfg.max_sessions && slot < 0; i++)
      if (!self->sessions[i]) slot = (int)i;
    s = slot >= 0 ? calloc(1, sizeof *s) : NULL;
    if (!s) {
      free(m);
      snprintf(err, cap, "session %s: relay has %zu sessions open already; message dropped",
               session, self->cfg.max_sessions);
      self->st.refused++;
      return slot < 0 ? DD_ENOSPC : DD_ENOMEM;
    }
    snprintf(s->id, sizeof s->id, "%s", session);
    self->sessions[slot] = s;
    self->st.sessions++;
    self->st.sessions_opened++;
    s_join(self, s, from, false);
    s_join(self, s, to, false);
    dd_relay_note_t *n = s_note(self, DD_RELAY_NOTE_SESSION_OPEN, session, from);
    snprintf(n->peer, sizeof n->peer, "%s", strcmp(from, to) ? to : "");
  } else {
    s_join(self, s, from, true);
    s_join(self, s, to, true);
  }
  dd_relay_seen(self, from, now);
  s_end_t *d = &s->ends[s_end_of(s, to)];
  m->next = NULL;
  m->queued_us = now;
  m->stored = store;
  m->echo = !strcmp(from, to);
  m->len = len;
  memcpy(m->inner, inner, len);
  if (d->tail)
    d->tail->next = m;
  else
    d->head = m;
  d->tail = m;
  d->n++;
  d->bytes += len;
  s->n++;
  s->bytes += len;
  s->last_us = now;
  self->st.received++;
  self->st.received_bytes += len;
  self->st.queued_msgs++;
  self->st.queued_bytes += len;
  if (store) {
    self->st.stored++;
    if (!d->in_backlog) {
      d->in_backlog = true;
      d->backlog_since = now;
    }
  }
  s_peak(self);
  return 0;
}

int dd_relay_close(dd_relay_t *self, const char *party, const char *session, uint64_t now,
                   char *err, size_t cap) {
  (void)now;
  err[0] = '\0';
  int idx = s_find(self, session);
  if (idx < 0) {
    snprintf(err, cap, "session %s: not open at the relay", session);
    return DD_ENOENT;
  }
  s_session_t *s = self->sessions[idx];
  if (s_end_of(s, party) < 0) {
    snprintf(err, cap, "session %s: party %s is not one of its ends; not closed", session, party);
    self->st.refused++;
    return DD_EPERM;
  }
  dd_relay_note_t *n = s_note(self, DD_RELAY_NOTE_SESSION_CLOSED, session, party);
  s_drop_session(self, idx, &n->count, &n->bytes);
  return 0;
}

/* ---- output --------------------------------------------------------------------------------- */

bool dd_relay_peek(dd_relay_t *self, uint64_t now, dd_relay_out_t *out) {
  size_t ns = self->cfg.max_sessions;
  for (size_t k = 0; k < ns; k++) {
    size_t i = (self->cursor + k) % ns;
    s_session_t *s = self->sessions[i];
    if (!s) continue;
    for (int e = 0; e < 2; e++) {
      s_end_t *d = &s->ends[e];
      if (!d->head || d->retry_at > now) continue;
      self->peek_s = (int)i;
      self->peek_e = e;
      out->session = s->id;
      out->to = d->party;
      out->from = d->head->echo ? d->party : s->ends[!e].party;
      out->inner = d->head->inner;
      out->len = d->head->len;
      out->queued_us = d->head->queued_us;
      out->stored = d->head->stored;
      return true;
    }
  }
  self->peek_s = self->peek_e = -1;
  return false;
}

void dd_relay_done(dd_relay_t *self, dd_relay_result_t result, uint64_t now) {
  assert(self->peek_s >= 0 && "dd_relay_done without dd_relay_peek");
  if (self->peek_s < 0) return;
  s_session_t *s = self->sessions[self->peek_s];
  s_end_t *d = &s->ends[self->peek_e];
  size_t next_cursor = ((size_t)self->peek_s + 1) % self->cfg.max_sessions;
  self->peek_s = self->peek_e = -1;
  if (result == DD_RELAY_BUSY) {
    self->st.busy++;
    d->retry_at = now + self->cfg.retry_us;
    return;
  }
  if (result == DD_RELAY_GONE) {
    self->st.gone++;
    /* The party is gone from the socket: every end it holds waits from now on. */
    for (size_t i = 0; i < self->cfg.max_sessions; i++) {
      s_session_t *t = self->sessions[i];
      if (!t) continue;
      int e = s_end_of(t, d->party);
      if (e < 0) continue;
      s_end_t *x = &t->ends[e];
      x->retry_at = now + self->cfg.retry_us;
      for (s_msg_t *m = x->head; m; m = m->next) {
        if (m->stored) continue;
        m->stored = true; /* it is waiting now */
        self->st.stored++;
        if (!x->in_backlog) {
          x->in_backlog = true;
          x->backlog_since = m->queued_us;
        }
      }
      if (!x->absent && x->n) {
        x->absent = true;
        s_note(self, DD_RELAY_NOTE_END_ABSENT, t->id, x->party)->count = x->n;
      }
    }
    return;
  }
  s_msg_t *m = d->head;
  d->head = m->next;
  if (!d->head) d->tail = NULL;
  d->n--;
  d->bytes -= m->len;
  s->n--;
  s->bytes -= m->len;
  s->last_us = now;
  self->st.queued_msgs--;
  self->st.queued_bytes -= m->len;
  self->st.forwarded++;
  self->st.forwarded_bytes += m->len;
  d->absent = false;
  d->retry_at = 0;
  if (m->stored) {
    self->st.late++;
    d->backlog_n++;
    d->backlog_bytes += m->len;
  }
  if (!d->head && d->in_backlog) {
    dd_relay_note_t *n = s_note(self, DD_RELAY_NOTE_FLUSHED, s->id, d->party);
    n->count = d->backlog_n;
    n->bytes = d->backlog_bytes;
    n->waited_us = now - d->backlog_since;
    d->in_backlog = false;
    d->backlog_n = d->backlog_bytes = 0;
  }
  free(m);
  self->cursor = next_cursor;
}

void dd_relay_tick(dd_relay_t *self, uint64_t now) {
  if (self->cfg.idle_us == UINT64_MAX) return;
  for (size_t i = 0; i < self->cfg.max_sessions; i++) {
    s_session_t *s = self->sessions[i];
    if (!s || now < s->last_us || now - s->last_us < self->cfg.idle_us) continue;
    dd_relay_note_t *n = s_note(self, DD_RELAY_NOTE_SESSION_EXPIRED, s->id, NULL);
    s_drop_session(self, (int)i, &n->count, &n->bytes);
  }
}

uint64_t dd_relay_next_deadline(const dd_relay_t *self) {
  uint64_t next = UINT64_MAX;
  for (size_t i = 0; i < self->cfg.max_sessions; i++) {
    const s_session_t *s = self->sessions[i];
    if (!s) continue;
    for (int e = 0; e < 2; e++)
      if (s->ends[e].head && s->ends[e].retry_at < next) next = s->ends[e].retry_at;
    if (self->cfg.idle_us != UINT64_MAX) {
      uint64_t exp =
          s->last_us > UINT64_MAX - self->cfg.idle_us ? UINT64_MAX : s->last_us + self->cfg.idle_us;
      if (exp < next) next = exp;
    }
  }
  return next;
}

dd_relay_stats_t dd_relay_stats(const dd_relay_t *self) { return self->st; }

size_t dd_relay_waiting(const dd_relay_t *self, const char *session, const char *party) {
  int idx = s_find(self, session);
  if (idx < 0) return 0;
  int e = s_end_of(self->sessions[idx], party);
  return e < 0 ? 0 : self->sessions[idx]->ends[e].n;
}

bool dd_relay_has_session(const dd_relay_t *self, const char *session) {
  return s_find(self, session) >= 0;
}
