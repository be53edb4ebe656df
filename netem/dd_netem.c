/* dd_netem: per-direction impairment decisions and the release queue (design in dd_netem.h). */
#include "dd_netem.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dd_err.h"
#include "dd_rng.h"

/* One random stream per purpose, so that turning one impairment on or off does not shift the
 * decisions of the others. */
enum {
  S_RNG_DELAY,
  S_RNG_LOSS,
  S_RNG_DUP,
  S_RNG_CORRUPT,
  S_RNG_CORRUPT_POS,
  S_RNG_REORDER,
  S_RNG_COUNT
};

/* Costs above this are clamped before the rate arithmetic (keeps cost * 1e6 in 64 bits). */
#define S_MAX_COST (1ull << 43)
#define S_US_PER_S 1000000ull

typedef struct {
  uint64_t release;    /* effective release (us); DD_NETEM_NEVER while held */
  uint64_t due;        /* STREAM: release before outage adjustment and FIFO clamp */
  uint64_t tx;         /* enqueue time: the copy is on the link from here to release */
  uint64_t path;       /* path delay drawn for this copy */
  uint64_t seq;        /* copy sequence number: tie-break of equal releases */
  uint64_t msg_seq;    /* message sequence number: out-of-order detection */
  uint64_t msg_id;     /* the caller's id */
  uint64_t bytes;      /* message length */
  int64_t corrupt_bit; /* -1 or the bit to flip */
  uint32_t flags;      /* DD_NETEM_F_* of this copy */
  bool last;           /* the last copy of msg_id to leave */
} s_entry_t;

typedef struct {
  uint64_t from;  /* first down instant */
  uint64_t until; /* first up instant again; DD_NETEM_NEVER until restored */
} s_window_t;

struct dd_netem_dir {
  dd_netem_kind_t kind;                 /* STREAM or DATAGRAM */
  dd_netem_params_t p;                  /* parameters in force */
  uint64_t ramp_start;                  /* when the parameters (and their ramp) were set */
  dd_rng_t rng[S_RNG_COUNT];            /* one stream per purpose */
  dd_netem_crand_t delay_cr;            /* correlated source of delays */
  dd_netem_crand_t dup_cr;              /* ... of duplication */
  dd_netem_crand_t corrupt_cr;          /* ... of corruption */
  dd_netem_crand_t reorder_cr;          /* ... of reordering */
  dd_netem_loss_t loss;                 /* loss model state */
  uint32_t reorder_count;               /* copies delayed since the last immediate one */
  uint64_t tat;                         /* rate: virtual finish time of the last copy (us) */
  uint64_t tat_rem;                     /* rate: fraction of a us, in units of 1/rate */
  s_entry_t *q;                         /* heap (DATAGRAM) or ring (STREAM) */
  size_t cap;                           /* entries allocated */
  size_t head;                          /* STREAM: ring start */
  size_t len;                           /* entries queued */
  s_window_t win[DD_NETEM_MAX_OUTAGES]; /* outages, sorted by from, disjoint */
  size_t n_win;                         /* outages remembered */
  uint64_t now;                         /* latest now seen */
  uint64_t seq;                         /* next copy sequence number */
  uint64_t msg_seq;                     /* next message sequence number */
  uint64_t last_release;                /* STREAM: release of the last message popped */
  uint64_t max_msg_seq_out;             /* DATAGRAM: highest message released so far */
  bool any_out;                         /* DATAGRAM: max_msg_seq_out is set */
  dd_netem_counters_t c;                /* counters */
  dd_netem_event_fn ev_fn;              /* event sink, or NULL */
  void *ev_arg;                         /* its argument */
};

static const char *const s_ev_names[DD_NETEM_EV_COUNT] = {
    [DD_NETEM_EV_DROP] = "drop",
    [DD_NETEM_EV_DUPLICATE] = "duplicate",
    [DD_NETEM_EV_CORRUPT] = "corrupt",
    [DD_NETEM_EV_REORDER] = "reorder",
    [DD_NETEM_EV_RETRANSMIT] = "retransmit",
    [DD_NETEM_EV_HOLD] = "hold",
    [DD_NETEM_EV_OUTAGE] = "outage",
    [DD_NETEM_EV_RESTORE] = "restore",
    [DD_NETEM_EV_PARAMS] = "params",
};

/* ---- small helpers ------------------------------------------------------------------------ */

/* Saturating add of finite times: never reaches DD_NETEM_NEVER. */
static uint64_t s_add(uint64_t a, uint64_t b) {
  const uint64_t lim = DD_NETEM_NEVER - 1;
  if (a >= lim || b >= lim - a) return lim;
  return a + b;
}

static uint64_t s_max(uint64_t a, uint64_t b) { return a > b ? a : b; }
static uint64_t s_min(uint64_t a, uint64_t b) { return a < b ? a : b; }

static bool s_prob_ok(double x) { return x >= 0.0 && x <= 1.0; } /* false for NaN */

static void s_emit(dd_netem_dir_t *self, dd_netem_ev_kind_t kind, uint64_t msg_id, uint32_t flags,
                   int64_t value, uint64_t value2) {
  if (!self->ev_fn) return;
  dd_netem_event_t ev = {.kind = kind,
                         .at = self->now,
                         .msg_id = msg_id,
                         .flags = flags,
                         .value = value,
                         .value2 = value2};
  self->ev_fn(self->ev_arg, &ev);
}

/* Accept now if time did not go back. */
static int s_clock(dd_netem_dir_t *self, uint64_t now) {
  if (now == DD_NETEM_NEVER || now < self->now) return DD_EINVAL;
  self->now = now;
  return 0;
}

/* ---- queue: a min-heap on (release, seq) for DATAGRAM, a ring for STREAM ------------------- */

static int s_reserve(dd_netem_dir_t *self, size_t more) {
  if (self->len + more <= self->cap) return 0;
  size_t cap = self->cap ? self->cap : 64;
  while (cap < self->len + more)
    cap *= 2;
  s_entry_t *q = malloc(cap * sizeof *q);
  if (!q) return DD_ENOMEM;
  /* Copy in logical order (for the heap head is 0, so this is a plain copy). */
  for (size_t i = 0; i < self->len; i++)
    q[i] = self->q[(self->head + i) % self->cap];
  free(self->q);
  self->q = q;
  self->cap = cap;
  self->head = 0;
  return 0;
}

static bool s_before(const s_entry_t *a, const s_entry_t *b) {
  return a->release < b->release || (a->release == b->release && a->seq < b->seq);
}

static void s_heap_push(dd_netem_dir_t *self, const s_entry_t *e) {
  size_t i = self->len++;
  self->q[i] = *e;
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (!s_before(&self->q[i], &self->q[parent])) break;
    s_entry_t t = self->q[i];
    self->q[i] = self->q[parent];
    self->q[parent] = t;
    i = parent;
  }
}

static s_entry_t s_heap_pop(dd_netem_dir_t *self) {
  s_entry_t top = self->q[0];
  self->q[0] = self->q[--self->len];
  size_t i = 0;
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    if (l < self->len && s_before(&self->q[l], &self->q[m])) m = l;
    if (r < self->len && s_before(&self->q[r], &self->q[m])) m = r;
    if (m == i) break;
    s_entry_t t = self->q[i];
    self->q[i] = self->q[m];
    self->q[m] = t;
    i = m;
  }
  return top;
}

static s_entry_t *s_ring_at(dd_netem_dir_t *self, size_t i) {
  return &self->q[(self->head + i) % self->cap];
}

static void s_ring_push(dd_netem_dir_t *self, const s_entry_t *e) {
  self->q[(self->head + self->len) % self->cap] = *e;
  self->len++;
}

static s_entry_t s_ring_pop(dd_netem_dir_t *self) {
  s_entry_t e = self->q[self->head];
  self->head = (self->head + 1) % self->cap;
  self->len--;
  return e;
}

static void s_push(dd_netem_dir_t *self, const s_entry_t *e) {
  if (self->kind == DD_NETEM_DATAGRAM)
    s_heap_push(self, e);
  else
    s_ring_push(self, e);
  self->c.queue_depth++;
  self->c.queue_bytes += e->bytes;
}

/* ---- outages ------------------------------------------------------------------------------ */

/* The first outage meeting the time on the link [tx, release], or NULL. */
static const s_window_t *s_window_hit(const dd_netem_dir_t *self, uint64_t tx, uint64_t release) {
  for (size_t i = 0; i < self->n_win; i++)
    if (self->win[i].from <= release && self->win[i].until > tx) return &self->win[i];
  return NULL;
}

/* When TCP gets through again after the link was down on [a, b): the retransmission timer
 * started at a fires at a + rto, then after 2 rto, 4 rto, ... (RFC 6298 5.5 back-off, capped
 * at rto_max as RFC 6298 2.5 allows); the first firing at or after b. */
static uint64_t s_recovery(const dd_netem_dir_t *self, uint64_t a, uint64_t b) {
  uint64_t step = self->p.rto_us, cap = self->p.rto_max_us;
  uint64_t t = s_add(a, step);
  while (t < b && step < cap) {
    step = s_min(step * 2, cap);
    t = s_add(t, step);
  }
  if (t < b) t = s_add(t, ((b - t) + cap - 1) / cap * cap); /* remaining steps are all cap */
  return t;
}

/* STREAM release of a message once outages are accounted for (before the FIFO clamp). */
static uint64_t s_stream_adjust(const dd_netem_dir_t *self, uint64_t due, uint64_t tx,
                                uint64_t path) {
  for (size_t i = 0; i < self->n_win; i++) {
    const s_window_t *w = &self->win[i];
    if (w->from > due || w->until <= tx) continue;
    if (w->until == DD_NETEM_NEVER) return DD_NETEM_NEVER;
    uint64_t rec = s_recovery(self, w->from, w->until);
    due = s_max(due, s_add(rec, path));
    tx = rec; /* the retransmission is on the link from rec; later outages may meet it too */
  }
  return due;
}

/* STREAM: recompute every queued release after the outages changed; returns how many moved. */
static uint64_t s_stream_recompute(dd_netem_dir_t *self) {
  uint64_t prev = self->last_release, moved = 0;
  for (size_t i = 0; i < self->len; i++) {
    s_entry_t *e = s_ring_at(self, i);
    uint64_t adj = s_stream_adjust(self, e->due, e->tx, e->path);
    if (adj != e->due && !(e->flags & DD_NETEM_F_HELD)) {
      e->flags |= DD_NETEM_F_HELD;
      self->c.held++;
    }
    uint64_t rel = s_max(adj, prev);
    if (rel != e->release) moved++;
    e->release = rel;
    prev = rel;
  }
  return moved;
}

/* Forget outages that can no longer meet a queued copy or a future one. */
static void s_prune(dd_netem_dir_t *self) {
  uint64_t min_tx = self->now;
  if (self->kind == DD_NETEM_STREAM) {
    if (self->len) min_tx = s_min(min_tx, s_ring_at(self, 0)->tx);
  } else {
    for (size_t i = 0; i < self->len; i++)
      min_tx = s_min(min_tx, self->q[i].tx);
  }
  size_t n = 0;
  for (size_t i = 0; i < self->n_win; i++)
    if (self->win[i].until > min_tx) self->win[n++] = self->win[i];
  self->n_win = n;
}

/* ---- parameters --------------------------------------------------------------------------- */

void dd_netem_params_init(dd_netem_params_t *p) {
  assert(p);
  memset(p, 0, sizeof *p);
  p->dist = DD_NETEM_DIST_NORMAL;
  dd_netem_loss_random(&p->loss, 0.0, 0.0);
  p->rto_us = 200000;       /* Linux's TCP_RTO_MIN (RFC 6298 2.4 would round up to 1 s) */
  p->rto_max_us = 60000000; /* RFC 6298 2.5: a maximum, if any, is at least 60 s */
  p->max_retries = 15;      /* Linux tcp_retries2 default */
  p->corr_mode = DD_NETEM_CORR_PRESERVE;
}

int dd_netem_params_check(const dd_netem_params_t *p) {
  if (!p) return DD_EINVAL;
  if ((unsigned)p->dist >= DD_NETEM_DIST_COUNT || (unsigned)p->corr_mode >= DD_NETEM_CORR_COUNT)
    return DD_EINVAL;
  if (p->delay_us > DD_NETEM_MAX_DELAY_US || p->jitter_us > DD_NETEM_MAX_DELAY_US ||
      p->ramp_to_us > DD_NETEM_MAX_DELAY_US || p->ramp_us > DD_NETEM_MAX_RAMP_US)
    return DD_EINVAL;
  if (!s_prob_ok(p->delay_corr) || !s_prob_ok(p->dup) || !s_prob_ok(p->dup_corr) ||
      !s_prob_ok(p->corrupt) || !s_prob_ok(p->corrupt_corr) || !s_prob_ok(p->reorder) ||
      !s_prob_ok(p->reorder_corr))
    return DD_EINVAL;
  if (dd_netem_loss_check(&p->loss) != 0) return DD_EINVAL;
  if (p->rate > DD_NETEM_MAX_RATE || p->burst > DD_NETEM_MAX_RATE) return DD_EINVAL;
  if (p->overhead < -DD_NETEM_MAX_OVERHEAD || p->overhead > DD_NETEM_MAX_OVERHEAD ||
      p->cell_size > DD_NETEM_MAX_OVERHEAD || p->cell_overhead < -DD_NETEM_MAX_OVERHEAD ||
      p->cell_overhead > DD_NETEM_MAX_OVERHEAD)
    return DD_EINVAL;
  if (p->rto_us == 0 || p->rto_us > DD_NETEM_MAX_DELAY_US || p->rto_max_us < p->rto_us ||
      p->rto_max_us > DD_NETEM_MAX_DELAY_US || p->max_retries > DD_NETEM_MAX_RETRIES)
    return DD_EINVAL;
  return 0;
}

/* ---- life cycle --------------------------------------------------------------------------- */

dd_netem_dir_t *dd_netem_dir_new(dd_netem_kind_t kind, uint64_t seed) {
  assert(kind == DD_NETEM_STREAM || kind == DD_NETEM_DATAGRAM);
  dd_netem_dir_t *self = calloc(1, sizeof *self);
  if (!self) return NULL;
  self->kind = kind;
  dd_netem_params_init(&self->p);
  dd_rng_t root;
  dd_rng_seed(&root, seed);
  for (int i = 0; i < S_RNG_COUNT; i++)
    dd_rng_fork(&root, (uint64_t)i, &self->rng[i]);
  dd_netem_crand_init(&self->delay_cr);
  dd_netem_crand_init(&self->dup_cr);
  dd_netem_crand_init(&self->corrupt_cr);
  dd_netem_crand_init(&self->reorder_cr);
  dd_netem_loss_init(&self->loss);
  return self;
}

void dd_netem_dir_destroy(dd_netem_dir_t **self_p) {
  assert(self_p);
  if (!*self_p) return;
  free((*self_p)->q);
  free(*self_p);
  *self_p = NULL;
}

dd_netem_kind_t dd_netem_dir_kind(const dd_netem_dir_t *self) {
  assert(self);
  return self->kind;
}

int dd_netem_set(dd_netem_dir_t *self, const dd_netem_params_t *p, uint64_t now) {
  assert(self);
  int rc = dd_netem_params_check(p);
  if (rc) return rc;
  rc = s_clock(self, now);
  if (rc) return rc;
  if (p->loss.model != self->p.loss.model) dd_netem_loss_reset(&self->loss);
  self->p = *p;
  self->ramp_start = now;
  self->reorder_count = 0; /* netem_change() restarts the gap count */
  if (self->kind == DD_NETEM_STREAM && self->n_win) s_stream_recompute(self);
  s_emit(self, DD_NETEM_EV_PARAMS, 0, 0, 0, 0);
  return 0;
}

void dd_netem_get(const dd_netem_dir_t *self, dd_netem_params_t *out) {
  assert(self && out);
  *out = self->p;
}

uint64_t dd_netem_delay_at(const dd_netem_dir_t *self, uint64_t at) {
  assert(self);
  const dd_netem_params_t *p = &self->p;
  if (!p->ramp_us || at <= self->ramp_start) return p->delay_us;
  uint64_t el = at - self->ramp_start;
  if (el >= p->ramp_us) return p->ramp_to_us;
  double f = (double)el / (double)p->ramp_us;
  double d = (double)p->delay_us + f * ((double)p->ramp_to_us - (double)p->delay_us);
  return (uint64_t)llround(d);
}

/* ---- per-copy decisions ------------------------------------------------------------------- */

/* Rate shaping: the instant the copy has fully left the bottleneck (see dd_netem.h, step 4). */
static uint64_t s_shape(dd_netem_dir_t *self, uint64_t now, uint64_t bytes) {
  const dd_netem_params_t *p = &self->p;
  if (!p->rate) return now;
  /* tc-netem(8) "rate": PACKETOVERHEAD per packet, then whole cells of CELLSIZE bytes plus
   * CELLOVERHEAD each. */
  int64_t cost = (int64_t)s_min(bytes, S_MAX_COST) + p->overhead;
  if (cost < 0) cost = 0;
  if (p->cell_size) {
    int64_t cells = (cost + (int64_t)p->cell_size - 1) / (int64_t)p->cell_size;
    cost = cells * ((int64_t)p->cell_size + p->cell_overhead);
    if (cost < 0) cost = 0;
  }
  uint64_t c = s_min((uint64_t)cost, S_MAX_COST);
  if (self->tat < now) {
    self->tat = now;
    self->tat_rem = 0;
  }
  uint64_t num = c * S_US_PER_S + self->tat_rem;
  self->tat = s_add(self->tat, num / p->rate);
  self->tat_rem = num % p->rate;
  uint64_t fin = s_add(self->tat, self->tat_rem ? 1 : 0);
  uint64_t tau = p->burst * S_US_PER_S / p->rate;
  uint64_t f = fin > tau ? fin - tau : 0;
  return s_max(f, now);
}

/* Path delay for a copy entering now: base (with ramp) + jitter * t, clamped at 0. */
static uint64_t s_path_delay(dd_netem_dir_t *self, uint64_t now) {
  const dd_netem_params_t *p = &self->p;
  uint64_t base = dd_netem_delay_at(self, now);
  if (!p->jitter_us) return base; /* sch_netem.c tabledist(): sigma 0 draws nothing */
  double u, z;
  dd_netem_crand_next(&self->delay_cr, &self->rng[S_RNG_DELAY], p->delay_corr, p->corr_mode, &u,
                      &z);
  double d = (double)base + (double)p->jitter_us * dd_netem_dist_std(p->dist, u, z);
  return d <= 0.0 ? 0 : (uint64_t)llround(d);
}

/* A correlated Bernoulli draw with probability prob (no draw when prob is 0, as netem). */
static bool s_chance(dd_netem_dir_t *self, dd_netem_crand_t *cr, int stream, double prob,
                     double corr) {
  if (prob <= 0.0) return false;
  double u;
  dd_netem_crand_next(cr, &self->rng[stream], corr, self->p.corr_mode, &u, NULL);
  return u < prob;
}

/* DATAGRAM: build one copy (rate, corruption, reorder, delay). */
static void s_dgram_copy(dd_netem_dir_t *self, uint64_t msg_id, uint64_t bytes, uint64_t now,
                         s_entry_t *e, uint64_t *queue_us) {
  const dd_netem_params_t *p = &self->p;
  memset(e, 0, sizeof *e);
  e->msg_id = msg_id;
  e->bytes = bytes;
  e->tx = now;
  e->msg_seq = self->msg_seq;
  e->seq = self->seq++;
  e->corrupt_bit = -1;
  if (s_chance(self, &self->corrupt_cr, S_RNG_CORRUPT, p->corrupt, p->corrupt_corr) && bytes) {
    e->corrupt_bit = (int64_t)dd_rng_below(&self->rng[S_RNG_CORRUPT_POS], bytes * 8);
    e->flags |= DD_NETEM_F_CORRUPT;
  }
  /* sch_netem.c netem_enqueue(): delayed while counter < gap - 1, then sent immediately with
   * probability "reorder" (which restarts the count). */
  uint32_t gap = p->reorder_gap ? p->reorder_gap : 1;
  bool immediate = false;
  if (p->reorder > 0.0 && self->reorder_count >= gap - 1)
    immediate = s_chance(self, &self->reorder_cr, S_RNG_REORDER, p->reorder, p->reorder_corr);
  if (immediate) {
    self->reorder_count = 0;
    e->flags |= DD_NETEM_F_REORDER;
    e->release = now;
    *queue_us = 0;
  } else {
    if (self->reorder_count < UINT32_MAX) self->reorder_count++;
    uint64_t f = s_shape(self, now, bytes);
    e->path = s_path_delay(self, now);
    e->release = s_add(f, e->path);
    *queue_us = f - now;
  }
}

static int s_enqueue_dgram(dd_netem_dir_t *self, uint64_t msg_id, uint64_t bytes, uint64_t now,
                           dd_netem_verdict_t *v) {
  const dd_netem_params_t *p = &self->p;
  uint32_t drop = 0;
  if (dd_netem_is_down(self, now))
    drop = DD_NETEM_F_DROP_OUTAGE;
  else if (p->limit && self->len >= p->limit)
    drop = DD_NETEM_F_DROP_LIMIT;
  else if (dd_netem_loss_next(&self->loss, &p->loss, &self->rng[S_RNG_LOSS], p->corr_mode))
    drop = p->loss.model == DD_NETEM_LOSS_RANDOM ? DD_NETEM_F_DROP_RANDOM : DD_NETEM_F_DROP_GE;
  if (drop) {
    if (drop == DD_NETEM_F_DROP_OUTAGE) self->c.dropped_outage++;
    if (drop == DD_NETEM_F_DROP_LIMIT) self->c.dropped_limit++;
    if (drop == DD_NETEM_F_DROP_RANDOM) self->c.dropped_random++;
    if (drop == DD_NETEM_F_DROP_GE) self->c.dropped_ge++;
    v->flags = drop;
    s_emit(self, DD_NETEM_EV_DROP, msg_id, drop, (int64_t)bytes, 0);
    return 0;
  }
  unsigned n = s_chance(self, &self->dup_cr, S_RNG_DUP, p->dup, p->dup_corr) ? 2 : 1;
  s_entry_t e[2];
  uint64_t queue_us[2];
  for (unsigned k = 0; k < n; k++)
    s_dgram_copy(self, msg_id, bytes, now, &e[k], &queue_us[k]);
  if (n == 2) {
    e[1].flags |= DD_NETEM_F_DUPLICATE;
    /* Releases never change after enqueue, so the copy that leaves last is known now. */
    e[s_before(&e[0], &e[1]) ? 1 : 0].last = true;
    self->c.duplicated++;
    v->flags |= DD_NETEM_F_DUPLICATE;
    s_emit(self, DD_NETEM_EV_DUPLICATE, msg_id, DD_NETEM_F_DUPLICATE, 0, 0);
  } else {
    e[0].last = true;
  }
  v->n_copies = n;
  v->queue_us = queue_us[0];
  v->path_us = e[0].path;
  for (unsigned k = 0; k < n; k++) {
    s_push(self, &e[k]);
    v->copy[k].release_at = e[k].release;
    v->copy[k].corrupt_bit = e[k].corrupt_bit;
    v->copy[k].flags = e[k].flags;
    v->flags |= e[k].flags;
    if (e[k].flags & DD_NETEM_F_CORRUPT) {
      self->c.corrupted++;
      s_emit(self, DD_NETEM_EV_CORRUPT, msg_id, e[k].flags, e[k].corrupt_bit, 0);
    }
    if (e[k].flags & DD_NETEM_F_REORDER) {
      self->c.reordered++;
      s_emit(self, DD_NETEM_EV_REORDER, msg_id, e[k].flags, 0, e[k].release);
    }
  }
  return 0;
}

static int s_enqueue_stream(dd_netem_dir_t *self, uint64_t msg_id, uint64_t bytes, uint64_t now,
                            dd_netem_verdict_t *v) {
  const dd_netem_params_t *p = &self->p;
  /* Loss becomes retransmission delay: RFC 6298 5.5, the timer doubles per retransmission. */
  /* The loss process is consulted once per message, so a burst of the chain hits consecutive
   * messages, as on the wire. A retransmission goes out one RTO later, when other traffic has
   * moved the chain on: it is lost with the long-run loss rate, not with the next step of the
   * same burst (which would make a burst of k cost rto * (2^k - 1) on one message). */
  unsigned tries = 0;
  uint64_t penalty = 0, rto = p->rto_us;
  bool lost = dd_netem_loss_next(&self->loss, &p->loss, &self->rng[S_RNG_LOSS], p->corr_mode);
  double retry_loss = 0;
  if (lost) {
    dd_netem_loss_expect_t ex;
    retry_loss = dd_netem_loss_expected(&p->loss, p->corr_mode, &ex) == 0 ? ex.loss_rate : 0.5;
  }
  while (lost && tries < p->max_retries) {
    penalty = s_add(penalty, rto);
    rto = s_min(rto * 2, p->rto_max_us);
    tries++;
    lost = dd_rng_unit(&self->rng[S_RNG_LOSS]) < retry_loss;
  }
  s_entry_t e;
  memset(&e, 0, sizeof e);
  e.msg_id = msg_id;
  e.bytes = bytes;
  e.tx = now;
  e.msg_seq = self->msg_seq;
  e.seq = self->seq++;
  e.corrupt_bit = -1;
  e.last = true;
  uint64_t f = s_shape(self, now, bytes);
  e.path = s_path_delay(self, now);
  e.due = s_add(s_add(f, penalty), e.path);
  uint64_t adj = s_stream_adjust(self, e.due, e.tx, e.path);
  uint64_t prev = self->len ? s_ring_at(self, self->len - 1)->release : self->last_release;
  e.release = s_max(adj, prev); /* FIFO clamp: jitter never reorders a stream */
  if (tries) {
    e.flags |= DD_NETEM_F_RETRANSMIT;
    self->c.retransmits += tries;
  }
  if (adj != e.due) {
    e.flags |= DD_NETEM_F_HELD;
    self->c.held++;
  }
  s_push(self, &e);
  v->n_copies = 1;
  v->flags = e.flags;
  v->copy[0].release_at = e.release;
  v->copy[0].corrupt_bit = -1;
  v->copy[0].flags = e.flags;
  v->retransmits = tries;
  v->retransmit_us = penalty;
  v->queue_us = f - now;
  v->path_us = e.path;
  if (tries) s_emit(self, DD_NETEM_EV_RETRANSMIT, msg_id, e.flags, (int64_t)tries, penalty);
  if (e.flags & DD_NETEM_F_HELD) s_emit(self, DD_NETEM_EV_HOLD, msg_id, e.flags, 0, e.release);
  return 0;
}

int dd_netem_enqueue(dd_netem_dir_t *self, uint64_t msg_id, size_t bytes, uint64_t now,
                     dd_netem_verdict_t *v) {
  assert(self && v);
  if ((uint64_t)bytes > DD_NETEM_MAX_BYTES) return DD_EINVAL;
  if (now == DD_NETEM_NEVER || now < self->now) return DD_EINVAL;
  int rc = s_reserve(self, 2);
  if (rc) return rc;
  s_clock(self, now);
  memset(v, 0, sizeof *v);
  v->copy[0].corrupt_bit = v->copy[1].corrupt_bit = -1;
  self->c.enqueued++;
  self->c.bytes_in += bytes;
  self->msg_seq++;
  if (self->kind == DD_NETEM_DATAGRAM) return s_enqueue_dgram(self, msg_id, bytes, now, v);
  return s_enqueue_stream(self, msg_id, bytes, now, v);
}

uint64_t dd_netem_next_release(const dd_netem_dir_t *self) {
  assert(self);
  if (!self->len) return DD_NETEM_NEVER;
  return self->q[self->head].release; /* heap top, or ring head (head is 0 for the heap) */
}

int dd_netem_pop_due(dd_netem_dir_t *self, uint64_t now, dd_netem_release_t *out) {
  assert(self && out);
  int rc = s_clock(self, now);
  if (rc) return rc;
  if (!self->len || self->q[self->head].release > now) return 0;
  s_entry_t e = self->kind == DD_NETEM_DATAGRAM ? s_heap_pop(self) : s_ring_pop(self);
  self->c.queue_depth--;
  self->c.queue_bytes -= e.bytes;
  if (self->kind == DD_NETEM_DATAGRAM) {
    if (s_window_hit(self, e.tx, e.release)) {
      /* In flight when the link went down. */
      e.flags |= DD_NETEM_F_DROP_OUTAGE;
      self->c.dropped_outage++;
      s_emit(self, DD_NETEM_EV_DROP, e.msg_id, e.flags, (int64_t)e.bytes, e.release);
    } else if (self->any_out && e.msg_seq < self->max_msg_seq_out) {
      e.flags |= DD_NETEM_F_OUT_OF_ORDER;
      self->c.out_of_order++;
    } else {
      self->max_msg_seq_out = e.msg_seq;
      self->any_out = true;
    }
  } else {
    self->last_release = e.release;
  }
  if (!(e.flags & DD_NETEM_F_DROPPED)) {
    self->c.released++;
    self->c.bytes_out += e.bytes;
  }
  out->msg_id = e.msg_id;
  out->bytes = e.bytes;
  out->enqueued_at = e.tx;
  out->release_at = e.release;
  out->corrupt_bit = e.corrupt_bit;
  out->flags = e.flags;
  out->last = e.last;
  return 1;
}

/* ---- outages ------------------------------------------------------------------------------ */

int dd_netem_outage(dd_netem_dir_t *self, uint64_t from, uint64_t duration, uint64_t now) {
  assert(self);
  if (duration == 0 || from == DD_NETEM_NEVER) return DD_EINVAL;
  int rc = s_clock(self, now);
  if (rc) return rc;
  s_prune(self);
  s_window_t w = {.from = s_max(from, now), .until = DD_NETEM_NEVER};
  if (duration != DD_NETEM_NEVER) w.until = s_add(w.from, duration);
  /* Merge with every outage it overlaps or touches; keep the rest sorted. */
  s_window_t keep[DD_NETEM_MAX_OUTAGES];
  size_t n = 0;
  for (size_t i = 0; i < self->n_win; i++) {
    const s_window_t *x = &self->win[i];
    if (x->from <= w.until && w.from <= x->until) {
      w.from = s_min(w.from, x->from);
      w.until = s_max(w.until, x->until);
    } else {
      keep[n++] = *x;
    }
  }
  if (n >= DD_NETEM_MAX_OUTAGES) return DD_ENOSPC;
  size_t at = 0;
  while (at < n && keep[at].from < w.from)
    at++;
  memmove(&keep[at + 1], &keep[at], (n - at) * sizeof keep[0]);
  keep[at] = w;
  memcpy(self->win, keep, (n + 1) * sizeof keep[0]);
  self->n_win = n + 1;
  s_emit(self, DD_NETEM_EV_OUTAGE, 0, 0, (int64_t)w.from, w.until);
  if (self->kind == DD_NETEM_STREAM) s_stream_recompute(self);
  return 0;
}

int dd_netem_restore(dd_netem_dir_t *self, uint64_t now) {
  assert(self);
  int rc = s_clock(self, now);
  if (rc) return rc;
  size_t n = 0, ended = 0;
  for (size_t i = 0; i < self->n_win; i++) {
    s_window_t w = self->win[i];
    if (w.from <= now && now < w.until) {
      w.until = now;
      ended++;
    }
    if (w.until > w.from) self->win[n++] = w;
  }
  self->n_win = n;
  if (!ended) return 0;
  uint64_t moved = self->kind == DD_NETEM_STREAM ? s_stream_recompute(self) : 0;
  s_emit(self, DD_NETEM_EV_RESTORE, 0, 0, (int64_t)moved, 0);
  return 0;
}

bool dd_netem_is_down(const dd_netem_dir_t *self, uint64_t at) {
  assert(self);
  for (size_t i = 0; i < self->n_win; i++)
    if (self->win[i].from <= at && at < self->win[i].until) return true;
  return false;
}

/* ---- reporting ---------------------------------------------------------------------------- */

void dd_netem_counters(const dd_netem_dir_t *self, dd_netem_counters_t *out) {
  assert(self && out);
  *out = self->c;
}

void dd_netem_set_event_fn(dd_netem_dir_t *self, dd_netem_event_fn fn, void *arg) {
  assert(self);
  self->ev_fn = fn;
  self->ev_arg = arg;
}

const char *dd_netem_ev_name(dd_netem_ev_kind_t kind) {
  return ((unsigned)kind < DD_NETEM_EV_COUNT) ? s_ev_names[kind] : "?";
}

const char *dd_netem_kind_name(dd_netem_kind_t kind) {
  return kind == DD_NETEM_STREAM ? "stream" : kind == DD_NETEM_DATAGRAM ? "datagram" : "?";
}
