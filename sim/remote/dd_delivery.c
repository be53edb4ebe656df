/* dd_delivery: sender window with retransmission and receiver reordering with SACK. */
#include "dd_delivery.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "dd_err.h"

typedef struct {
  uint64_t seq;       /* record number, 0 = free slot */
  uint8_t *data;      /* payload copy */
  size_t len;         /* its length */
  uint64_t due;       /* when to (re)send; UINT64_MAX while waiting for its ack */
  bool sent_once;     /* has gone out at least once */
  bool acked;         /* selectively acknowledged (kept until the cumulative ack passes) */
} s_slot_t;

struct dd_dsend {
  dd_dsend_cfg_t cfg;                 /* configuration */
  s_slot_t slots[DD_DELIVERY_WINDOW]; /* by seq % window */
  uint64_t next_seq;                  /* number of the next pushed record */
  uint64_t base;                      /* oldest unacknowledged seq (all below are acked) */
  uint64_t scan;                      /* where the next poll starts looking */
  dd_dsend_stats_t st;                /* counters */
};

int dd_dsend_new(const dd_dsend_cfg_t *cfg, dd_dsend_t **out) {
  assert(cfg && out);
  if (!cfg->rto_us) return DD_EINVAL;
  dd_dsend_t *self = calloc(1, sizeof *self);
  if (!self) return DD_ENOMEM;
  self->cfg = *cfg;
  self->next_seq = self->base = self->scan = 1;
  *out = self;
  return 0;
}

void dd_dsend_destroy(dd_dsend_t **self_p) {
  assert(self_p);
  dd_dsend_t *self = *self_p;
  if (!self) return;
  for (size_t i = 0; i < DD_DELIVERY_WINDOW; i++) free(self->slots[i].data);
  free(self);
  *self_p = NULL;
}

int dd_dsend_push(dd_dsend_t *self, const uint8_t *data, size_t len, uint64_t now, uint64_t *seq) {
  if (self->next_seq - self->base >= DD_DELIVERY_WINDOW) return DD_ENOSPC;
  s_slot_t *s = &self->slots[self->next_seq % DD_DELIVERY_WINDOW];
  uint8_t *copy = malloc(len ? len : 1);
  if (!copy) return DD_ENOMEM;
  if (len) memcpy(copy, data, len);
  free(s->data);
  *s = (s_slot_t){.seq = self->next_seq, .data = copy, .len = len, .due = now};
  if (seq) *seq = self->next_seq;
  self->next_seq++;
  self->st.pushed++;
  return 0;
}

bool dd_dsend_poll(dd_dsend_t *self, uint64_t now, dd_dsend_out_t *out) {
  /* Oldest first: retransmissions of old records go before newer ones, which keeps the
   * receiver's reordering buffer small. */
  for (uint64_t q = self->base; q < self->next_seq; q++) {
    s_slot_t *s = &self->slots[q % DD_DELIVERY_WINDOW];
    if (s->seq != q || s->acked || s->due > now) continue;
    *out = (dd_dsend_out_t){.seq = q, .data = s->data, .len = s->len, .resend = s->sent_once};
    if (s->sent_once) self->st.resent++;
    else self->st.sent++;
    s->sent_once = true;
    s->due = now + self->cfg.rto_us;
    return true;
  }
  return false;
}

static void s_release(dd_dsend_t *self, s_slot_t *s) {
  free(s->data);
  *s = (s_slot_t){0};
}

uint64_t dd_dsend_on_ack(dd_dsend_t *self, uint64_t cum, const dd_seq_range_t *sacks, size_t n) {
  uint64_t newly = 0;
  if (cum >= self->next_seq) cum = self->next_seq - 1; /* never ack the future */
  while (self->base <= cum) {
    s_slot_t *s = &self->slots[self->base % DD_DELIVERY_WINDOW];
    if (s->seq == self->base) {
      if (!s->acked) newly++;
      s_release(self, s);
    }
    self->base++;
  }
  for (size_t i = 0; i < n; i++) {
    uint64_t last = sacks[i].last < self->next_seq ? sacks[i].last : self->next_seq - 1;
    for (uint64_t q = sacks[i].first > self->base ? sacks[i].first : self->base; q <= last; q++) {
      s_slot_t *s = &self->slots[q % DD_DELIVERY_WINDOW];
      if (s->seq == q && !s->acked) {
        s->acked = true;
        newly++;
      }
    }
  }
  self->st.acked += newly;
  return newly;
}

void dd_dsend_on_path_change(dd_dsend_t *self, uint64_t now) {
  if (self->cfg.no_resend_on_switch) return; /* the planted defect */
  for (uint64_t q = self->base; q < self->next_seq; q++) {
    s_slot_t *s = &self->slots[q % DD_DELIVERY_WINDOW];
    if (s->seq == q && !s->acked && s->sent_once) s->due = now;
  }
}

uint64_t dd_dsend_next_deadline(const dd_dsend_t *self) {
  uint64_t next = UINT64_MAX;
  for (uint64_t q = self->base; q < self->next_seq; q++) {
    const s_slot_t *s = &self->slots[q % DD_DELIVERY_WINDOW];
    if (s->seq == q && !s->acked && s->due < next) next = s->due;
  }
  return next;
}

dd_dsend_stats_t dd_dsend_stats(const dd_dsend_t *self) {
  dd_dsend_stats_t st = self->st;
  st.in_window = self->next_seq - self->base;
  return st;
}

uint64_t dd_dsend_unacked(const dd_dsend_t *self) {
  uint64_t n = 0;
  for (uint64_t q = self->base; q < self->next_seq; q++) {
    const s_slot_t *s = &self->slots[q % DD_DELIVERY_WINDOW];
    n += s->seq == q && !s->acked;
  }
  return n;
}

/* ---- receiver ---- */

typedef struct {
  uint64_t seq;   /* held record, 0 = free */
  uint8_t *data;  /* payload */
  size_t len;     /* length */
} s_held_t;

struct dd_drecv {
  uint64_t next;                       /* next sequence number to hand on */
  s_held_t held[DD_DELIVERY_WINDOW];   /* early arrivals by seq % window */
  uint64_t n_held;                     /* how many */
  uint8_t *taken;                      /* payload handed out by the last take (owned) */
  dd_drecv_stats_t st;                 /* counters */
};

int dd_drecv_new(dd_drecv_t **out) {
  dd_drecv_t *self = calloc(1, sizeof *self);
  if (!self) return DD_ENOMEM;
  self->next = 1;
  *out = self;
  return 0;
}

void dd_drecv_destroy(dd_drecv_t **self_p) {
  assert(self_p);
  dd_drecv_t *self = *self_p;
  if (!self) return;
  for (size_t i = 0; i < DD_DELIVERY_WINDOW; i++) free(self->held[i].data);
  free(self->taken);
  free(self);
  *self_p = NULL;
}

dd_drecv_verdict_t dd_drecv_on_record(dd_drecv_t *self, uint64_t seq, const uint8_t *data,
                                      size_t len) {
  self->st.received++;
  if (seq == 0 || seq >= self->next + DD_DELIVERY_WINDOW) {
    self->st.refused++;
    return DD_DRECV_REFUSED;
  }
  s_held_t *h = &self->held[seq % DD_DELIVERY_WINDOW];
  if (seq < self->next || h->seq == seq) {
    self->st.duplicates++;
    return DD_DRECV_DUPLICATE;
  }
  uint8_t *copy = malloc(len ? len : 1);
  if (!copy) {
    self->st.refused++;
    return DD_DRECV_REFUSED;
  }
  if (len) memcpy(copy, data, len);
  free(h->data);
  *h = (s_held_t){seq, copy, len};
  self->n_held++;
  if (self->n_held > self->st.buffered_max) self->st.buffered_max = self->n_held;
  return seq == self->next ? DD_DRECV_DELIVERABLE : DD_DRECV_BUFFERED;
}

bool dd_drecv_take(dd_drecv_t *self, uint64_t *seq, uint8_t **data, size_t *len) {
  s_held_t *h = &self->held[self->next % DD_DELIVERY_WINDOW];
  if (h->seq != self->next) return false;
  free(self->taken);
  self->taken = h->data;
  *seq = h->seq;
  *data = h->data;
  *len = h->len;
  *h = (s_held_t){0};
  self->n_held--;
  self->next++;
  self->st.delivered++;
  return true;
}

size_t dd_drecv_ack(const dd_drecv_t *self, uint64_t *cum, dd_seq_range_t *sacks, size_t max) {
  *cum = self->next - 1;
  size_t n = 0;
  uint64_t seen = 0;
  for (uint64_t q = self->next; q < self->next + DD_DELIVERY_WINDOW && seen < self->n_held; q++) {
    if (self->held[q % DD_DELIVERY_WINDOW].seq != q) continue;
    seen++;
    if (n && sacks[n - 1].last == q - 1) {
      sacks[n - 1].last = q;
    } else {
      if (n == max) break;
      sacks[n++] = (dd_seq_range_t){q, q};
    }
  }
  return n;
}

void dd_drecv_resume(dd_drecv_t *self, uint64_t next_expected) {
  if (next_expected > self->next) self->next = next_expected;
}

uint64_t dd_drecv_next_expected(const dd_drecv_t *self) { return self->next; }
dd_drecv_stats_t dd_drecv_stats(const dd_drecv_t *self) { return self->st; }
