/* dd_link: the link engine: sockets on both sides, two dd_netem directions, timers and events
 * (design in dd_link.h). */
#include "dd_link.h"

#include <arpa/inet.h>
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <jansson.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zmq.h>

#include "dd_err.h"
#include "dd_log.h"
#include "dd_rng.h"
#include "dd_wire.h"

#define S_BATCH 1024                /* messages read per reader call before releasing */
#define S_SOCKBUF (4 * 1024 * 1024) /* udp socket buffers asked for */
#define S_ID_MAX 255                /* ZeroMQ routing id, bytes */

/* ---- messages and the table that holds them until release ---------------------------------- */

typedef struct s_peer s_peer_t;

typedef struct {
  uint64_t id;      /* msg_id given to dd_netem */
  s_peer_t *peer;   /* zmq: the client it is from or for; NULL for udp */
  size_t bytes;     /* payload bytes (all parts) */
  size_t n_parts;   /* zmq: frames */
  zmq_msg_t *parts; /* zmq: the frames (after the struct, same block) */
  uint8_t *data;    /* udp: the datagram (after the struct, same block) */
} s_msg_t;

/* Open addressing on msg_id, linear probing, deletion by backward shift. */
typedef struct {
  s_msg_t **slot; /* cap entries, NULL = empty */
  size_t cap;     /* power of two */
  size_t len;     /* entries used */
} s_table_t;

static size_t s_hash(uint64_t id, size_t cap) {
  return (size_t)((id * 0x9E3779B97F4A7C15ull) >> 17) & (cap - 1);
}

static int s_table_put(s_table_t *t, s_msg_t *m);

static int s_table_grow(s_table_t *t) {
  size_t cap = t->cap ? t->cap * 2 : 1024;
  s_table_t n = {.slot = calloc(cap, sizeof(s_msg_t *)), .cap = cap};
  if (!n.slot) return DD_ENOMEM;
  for (size_t i = 0; i < t->cap; i++)
    if (t->slot[i]) s_table_put(&n, t->slot[i]);
  free(t->slot);
  *t = n;
  return 0;
}

static int s_table_put(s_table_t *t, s_msg_t *m) {
  if ((t->len + 1) * 2 > t->cap) {
    int rc = s_table_grow(t);
    if (rc) return rc;
  }
  size_t i = s_hash(m->id, t->cap);
  while (t->slot[i])
    i = (i + 1) & (t->cap - 1);
  t->slot[i] = m;
  t->len++;
  return 0;
}

static size_t s_table_find(const s_table_t *t, uint64_t id) {
  if (!t->cap) return SIZE_MAX;
  size_t i = s_hash(id, t->cap);
  while (t->slot[i]) {
    if (t->slot[i]->id == id) return i;
    i = (i + 1) & (t->cap - 1);
  }
  return SIZE_MAX;
}

static void s_table_remove_at(s_table_t *t, size_t i) {
  size_t mask = t->cap - 1;
  t->slot[i] = NULL;
  t->len--;
  /* Backward shift: move later entries of the probe run into the hole when that is nearer to
   * their home slot. */
  for (size_t j = (i + 1) & mask; t->slot[j]; j = (j + 1) & mask) {
    size_t home = s_hash(t->slot[j]->id, t->cap);
    if (((j - home) & mask) >= ((j - i) & mask)) {
      t->slot[i] = t->slot[j];
      t->slot[j] = NULL;
      i = j;
    }
  }
}

static void s_msg_free(s_msg_t *m) {
  if (!m) return;
  for (size_t i = 0; i < m->n_parts; i++)
    zmq_msg_close(&m->parts[i]);
  free(m);
}

/* ---- link state ---------------------------------------------------------------------------- */

struct s_peer {
  uint8_t id[S_ID_MAX]; /* client routing id */
  size_t id_len;        /* its length */
  bool anonymous;       /* ROUTER-made id: the DEALER could not take it */
  void *dealer;         /* to the server, with the client's id */
  dd_link_t *link;      /* owner */
};

/* Release lateness: how long after its scheduled release the link sent a copy that waited for
 * a delay (the precision of the release timer). Log-linear buckets: exact below 64 us, then 16
 * per power of two up to 2^26 us. */
#define S_HIST_EXACT 64
#define S_HIST_SUB 16
#define S_HIST_N (S_HIST_EXACT + 20 * S_HIST_SUB)

typedef struct {
  uint32_t bucket[S_HIST_N]; /* counts */
  uint64_t n;                /* samples */
  uint64_t max;              /* largest sample */
} s_hist_t;

static void s_hist_add(s_hist_t *h, uint64_t v) {
  size_t i;
  if (v < S_HIST_EXACT) {
    i = (size_t)v;
  } else {
    int e = 63 - __builtin_clzll(v); /* 2^e <= v < 2^(e+1), e >= 6 */
    i = S_HIST_EXACT + (size_t)(e - 6) * S_HIST_SUB + (size_t)((v >> (e - 4)) & (S_HIST_SUB - 1));
    if (i >= S_HIST_N) i = S_HIST_N - 1;
  }
  h->bucket[i]++;
  h->n++;
  if (v > h->max) h->max = v;
}

/* The upper edge of the bucket holding quantile q (0 with no samples). */
static uint64_t s_hist_quantile(const s_hist_t *h, double q) {
  if (!h->n) return 0;
  uint64_t want = (uint64_t)(q * (double)h->n), seen = 0;
  if (want >= h->n) want = h->n - 1;
  for (size_t i = 0; i < S_HIST_N; i++) {
    seen += h->bucket[i];
    if (seen > want) {
      if (i < S_HIST_EXACT) return i;
      size_t e = (i - S_HIST_EXACT) / S_HIST_SUB + 6, sub = (i - S_HIST_EXACT) % S_HIST_SUB;
      uint64_t edge = (1ull << e) + ((uint64_t)(sub + 1) << (e - 4)) - 1;
      return edge < h->max ? edge : h->max;
    }
  }
  return h->max;
}

typedef struct {
  dd_link_t *link;                  /* owner */
  unsigned bit;                     /* DD_LINK_UP or DD_LINK_DOWN */
  const char *name;                 /* "up" or "down" */
  dd_netem_dir_t *nd;               /* the impairment core */
  s_table_t msgs;                   /* bodies waiting for release */
  uint64_t next_id;                 /* last msg_id given */
  int timer;                        /* release timer id, 0 = none */
  uint64_t armed;                   /* its deadline */
  int ramp_timer;                   /* end-of-ramp timer id, 0 = none */
  uint64_t ramp_end;                /* when the ramp in force ends */
  int outage_timer;                 /* end-of-timed-outage timer id, 0 = none */
  uint64_t outage_end;              /* its deadline */
  dd_link_counters_t c;             /* link-level counters (core part filled on demand) */
  s_hist_t late;                    /* release lateness of the copies sent */
  dd_netem_loss_model_t loss_model; /* model in force (event callbacks may not ask the core) */
  uint64_t rep_in, rep_out;         /* enqueued and released at the last netem.counters */
  uint64_t rep_depth;               /* queue depth at the last netem.counters */
} s_dir_t;

struct dd_link {
  dd_link_kind_t kind;    /* zmq or udp */
  char name[64];          /* link name in events */
  void *zctx;             /* ZeroMQ context, not owned */
  dd_loop_t *loop;        /* the process loop, not owned */
  dd_events_t *events;    /* timeline, not owned, may be NULL */
  s_dir_t dir[2];         /* [0] up, [1] down */
  char listen_addr[256];  /* bound address */
  char connect_addr[256]; /* server address */
  uint64_t seed;          /* configured seed */
  uint64_t now;           /* latest time given to the cores (never decreases) */
  int counters_timer;     /* periodic netem.counters */
  /* zmq */
  void *router;                       /* clients connect here */
  s_peer_t *peers[DD_LINK_MAX_PEERS]; /* known clients */
  size_t n_peers;                     /* used entries */
  s_peer_t *last_peer;                /* lookup cache */
  zmq_msg_t *scratch;                 /* parts of the message being read */
  size_t scratch_cap;                 /* allocated parts */
  /* udp */
  int fd_client;                  /* bound at listen: the client's side */
  int fd_server;                  /* connected to the server */
  struct sockaddr_storage client; /* last client address */
  socklen_t client_len;           /* its length, 0 = no client yet */
  uint8_t *buf;                   /* receive buffer */
};

const char *dd_link_kind_name(dd_link_kind_t kind) {
  return kind == DD_LINK_ZMQ ? "zmq" : kind == DD_LINK_UDP ? "udp" : "?";
}

/* The time for the next core call: the loop's clock read now, not the pass's "now": a batch of
 * reads takes time, and a message that arrived during it must not be stamped earlier than it
 * arrived (it would leave before its delay). Never decreases, as the cores require. */
static uint64_t s_clock(dd_link_t *self) {
  uint64_t t = dd_clock_now_us(dd_loop_clock(self->loop));
  if (t > self->now) self->now = t;
  return self->now;
}

/* The same without moving it (for reports). */
static uint64_t s_peek_clock(const dd_link_t *self) {
  uint64_t t = dd_clock_now_us(dd_loop_clock(self->loop));
  return t > self->now ? t : self->now;
}

static s_dir_t *s_dir(dd_link_t *self, unsigned bit) {
  return &self->dir[bit == DD_LINK_DOWN ? 1 : 0];
}

/* ---- events -------------------------------------------------------------------------------- */

static void s_emit(dd_link_t *self, const char *kind, const dd_field_t *f, size_t n) {
  if (self->events) dd_events_emitv(self->events, kind, f, n);
}

/* Command text for an event field: strings of events are limited (dd_wire.h), so long
 * arguments are cut, visibly. */
static const char *s_clip(const char *text, char *buf, size_t cap) {
  if (!text) return "";
  if (strlen(text) < cap) return text;
  snprintf(buf, cap, "%.*s...", (int)(cap - 4), text);
  return buf;
}

static const char *s_drop_cause(const s_dir_t *d, uint32_t flags) {
  if (flags & DD_NETEM_F_DROP_OUTAGE) return "outage";
  if (flags & DD_NETEM_F_DROP_LIMIT) return "limit";
  if (flags & DD_NETEM_F_DROP_RANDOM) return "random";
  if (flags & DD_NETEM_F_DROP_GE) return dd_netem_loss_model_name(d->loss_model);
  return "?";
}

static int64_t s_time_field(uint64_t t) { return t == DD_NETEM_NEVER ? -1 : (int64_t)t; }

/* Decisions of the core, as they are made. */
static void s_on_core_event(void *arg, const dd_netem_event_t *ev) {
  s_dir_t *d = arg;
  dd_link_t *self = d->link;
  dd_field_t f[12];
  size_t n = 0;
  f[n++] = DD_S("link", self->name);
  f[n++] = DD_S("dir", d->name);
  const char *kind = NULL;
  switch (ev->kind) {
  case DD_NETEM_EV_DROP:
    kind = "netem.drop";
    f[n++] = DD_I("msg", ev->msg_id);
    f[n++] = DD_S("cause", s_drop_cause(d, ev->flags));
    f[n++] = DD_I("bytes", ev->value);
    f[n++] = DD_B("in_flight", ev->value2 != 0);
    break;
  case DD_NETEM_EV_DUPLICATE:
    kind = "netem.duplicate";
    f[n++] = DD_I("msg", ev->msg_id);
    break;
  case DD_NETEM_EV_CORRUPT:
    kind = "netem.corrupt";
    f[n++] = DD_I("msg", ev->msg_id);
    f[n++] = DD_I("bit", ev->value);
    break;
  case DD_NETEM_EV_REORDER:
    kind = "netem.reorder";
    f[n++] = DD_I("msg", ev->msg_id);
    break;
  case DD_NETEM_EV_RETRANSMIT:
    kind = "netem.retransmit";
    f[n++] = DD_I("msg", ev->msg_id);
    f[n++] = DD_I("retransmits", ev->value);
    f[n++] = DD_D("added_ms", (double)ev->value2 / 1000.0);
    break;
  case DD_NETEM_EV_HOLD:
    kind = "netem.hold";
    f[n++] = DD_I("msg", ev->msg_id);
    f[n++] = DD_I("release_us", s_time_field(ev->value2));
    break;
  case DD_NETEM_EV_OUTAGE:
    kind = "netem.outage";
    f[n++] = DD_I("from_us", ev->value);
    f[n++] = DD_I("until_us", s_time_field(ev->value2));
    f[n++] = DD_D("for_s", ev->value2 == DD_NETEM_NEVER
                               ? -1.0
                               : (double)(ev->value2 - (uint64_t)ev->value) / 1e6);
    break;
  case DD_NETEM_EV_RESTORE:
    kind = "netem.restore";
    f[n++] = DD_I("moved", ev->value);
    break;
  case DD_NETEM_EV_PARAMS: /* published by s_publish_params with the values */
  case DD_NETEM_EV_COUNT: break;
  }
  if (kind) s_emit(self, kind, f, n);
}

static void s_publish_params(s_dir_t *d, const char *kind, const char *args) {
  dd_link_t *self = d->link;
  dd_netem_params_t p;
  dd_netem_get(d->nd, &p);
  dd_field_t f[24];
  size_t n = 0;
  f[n++] = DD_S("link", self->name);
  f[n++] = DD_S("dir", d->name);
  f[n++] = DD_D("delay_ms", (double)p.delay_us / 1000.0);
  if (p.ramp_us) {
    f[n++] = DD_D("ramp_to_ms", (double)p.ramp_to_us / 1000.0);
    f[n++] = DD_D("ramp_s", (double)p.ramp_us / 1e6);
  }
  f[n++] = DD_D("jitter_ms", (double)p.jitter_us / 1000.0);
  f[n++] = DD_S("dist", dd_netem_dist_name(p.dist));
  f[n++] = DD_D("corr_pct", p.delay_corr * 100.0);
  f[n++] = DD_D("rate_kbit", (double)p.rate / 125.0);
  f[n++] = DD_S("loss_model", dd_netem_loss_model_name(p.loss.model));
  if (p.loss.model == DD_NETEM_LOSS_GEMODEL) {
    f[n++] = DD_D("ge_p_pct", p.loss.ge_p * 100.0);
    f[n++] = DD_D("ge_r_pct", p.loss.ge_r * 100.0);
    f[n++] = DD_D("ge_h_pct", (1.0 - p.loss.ge_1h) * 100.0);
    f[n++] = DD_D("ge_k_pct", (1.0 - p.loss.ge_1k) * 100.0);
  } else {
    f[n++] = DD_D("loss_pct", p.loss.p * 100.0);
    f[n++] = DD_D("loss_corr_pct", p.loss.corr * 100.0);
  }
  dd_netem_loss_expect_t ex;
  if (dd_netem_loss_expected(&p.loss, p.corr_mode, &ex) == 0) {
    f[n++] = DD_D("expected_loss_pct", ex.loss_rate * 100.0);
    f[n++] = DD_D("expected_burst", ex.mean_burst);
  }
  f[n++] = DD_D("dup_pct", p.dup * 100.0);
  f[n++] = DD_D("corrupt_pct", p.corrupt * 100.0);
  f[n++] = DD_D("reorder_pct", p.reorder * 100.0);
  f[n++] = DD_I("gap", p.reorder_gap);
  f[n++] = DD_D("rto_ms", (double)p.rto_us / 1000.0);
  char clip[512];
  if (args) f[n++] = DD_S("args", s_clip(args, clip, sizeof clip));
  s_emit(self, kind, f, n);
}

static void s_fill_counters(const s_dir_t *d, dd_link_counters_t *out) {
  *out = d->c;
  dd_netem_counters(d->nd, &out->core);
}

static void s_publish_counters(s_dir_t *d, const char *kind) {
  dd_link_t *self = d->link;
  dd_link_counters_t c;
  s_fill_counters(d, &c);
  const dd_netem_counters_t *k = &c.core;
  dd_field_t f[DD_EVENTS_MAX_FIELDS];
  size_t n = 0;
  f[n++] = DD_S("link", self->name);
  f[n++] = DD_S("dir", d->name);
  f[n++] = DD_I("rx", c.rx);
  f[n++] = DD_I("tx", c.tx);
  f[n++] = DD_I("enqueued", k->enqueued);
  f[n++] = DD_I("released", k->released);
  f[n++] =
      DD_I("dropped", k->dropped_random + k->dropped_ge + k->dropped_outage + k->dropped_limit);
  f[n++] = DD_I("dropped_random", k->dropped_random);
  f[n++] = DD_I("dropped_ge", k->dropped_ge);
  f[n++] = DD_I("dropped_outage", k->dropped_outage);
  f[n++] = DD_I("dropped_limit", k->dropped_limit);
  f[n++] = DD_I("duplicated", k->duplicated);
  f[n++] = DD_I("corrupted", k->corrupted);
  f[n++] = DD_I("reordered", k->reordered);
  f[n++] = DD_I("out_of_order", k->out_of_order);
  f[n++] = DD_I("retransmits", k->retransmits);
  f[n++] = DD_I("held", k->held);
  f[n++] = DD_I("queue_depth", k->queue_depth);
  f[n++] = DD_I("queue_bytes", k->queue_bytes);
  f[n++] = DD_I("bytes_in", k->bytes_in);
  f[n++] = DD_I("bytes_out", k->bytes_out);
  f[n++] = DD_I("tx_errors", c.tx_errors);
  f[n++] = DD_I("undeliverable", c.undeliverable);
  f[n++] = DD_I("rx_kernel_drops", c.rx_kernel_drops);
  f[n++] = DD_I("rx_truncated", c.rx_truncated);
  f[n++] = DD_D("delay_ms", (double)dd_netem_delay_at(d->nd, s_clock(self)) / 1000.0);
  f[n++] = DD_I("late_p50_us", s_hist_quantile(&d->late, 0.50));
  f[n++] = DD_I("late_p99_us", s_hist_quantile(&d->late, 0.99));
  f[n++] = DD_I("late_max_us", d->late.max);
  s_emit(self, kind, f, n);
}

/* ---- release ------------------------------------------------------------------------------- */

static int s_on_release_timer(dd_loop_t *loop, int id, void *arg);

/* One timer per direction, at the earliest release (absolute deadline). */
static void s_arm(s_dir_t *d) {
  dd_loop_t *loop = d->link->loop;
  uint64_t next = dd_netem_next_release(d->nd);
  if (next == DD_NETEM_NEVER) {
    if (d->timer) dd_loop_timer_cancel(loop, d->timer);
    d->timer = 0;
    return;
  }
  if (d->timer && d->armed == next) return;
  if (d->timer && dd_loop_timer_move(loop, d->timer, next) < 0) d->timer = 0;
  if (!d->timer) {
    int id = dd_loop_timer_at(loop, next, s_on_release_timer, d);
    if (id < 0) {
      dd_error("link %s: cannot arm the %s release timer: %s", d->link->name, d->name,
               dd_strerror(id));
      return;
    }
    d->timer = id;
  }
  d->armed = next;
}

static void s_send_zmq(s_dir_t *d, s_msg_t *m) {
  dd_link_t *self = d->link;
  void *sock = d->bit == DD_LINK_UP ? m->peer->dealer : self->router;
  if (d->bit == DD_LINK_DOWN &&
      zmq_send(sock, m->peer->id, m->peer->id_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) {
    /* ROUTER_MANDATORY: the client is not connected (any more). */
    d->c.undeliverable++;
    s_emit(self, "netem.undeliverable",
           (dd_field_t[]){DD_S("link", self->name), DD_S("dir", d->name), DD_I("msg", m->id),
                          DD_S("error", zmq_strerror(errno))},
           4);
    return;
  }
  for (size_t i = 0; i < m->n_parts; i++) {
    int flags = ZMQ_DONTWAIT | (i + 1 < m->n_parts ? ZMQ_SNDMORE : 0);
    if (zmq_msg_send(&m->parts[i], sock, flags) < 0) {
      /* Unlimited high-water marks make this rare: the socket is closing. */
      d->c.tx_errors++;
      dd_warn("link %s: %s send failed: %s", self->name, d->name, zmq_strerror(errno));
      return;
    }
  }
  d->c.tx++;
  d->c.tx_bytes += m->bytes;
}

static void s_send_udp(s_dir_t *d, s_msg_t *m, int64_t corrupt_bit) {
  dd_link_t *self = d->link;
  if (d->bit == DD_LINK_DOWN && !self->client_len) {
    d->c.undeliverable++;
    return;
  }
  /* The core chose the bit: byte bit / 8, mask 1 << bit % 8 (dd_netem.h step 5). A duplicate
   * may be corrupted differently, so the flip is undone after sending. */
  uint8_t mask = 0;
  size_t at = 0;
  if (corrupt_bit >= 0 && (uint64_t)corrupt_bit / 8 < m->bytes) {
    at = (size_t)corrupt_bit / 8;
    mask = (uint8_t)(1u << (corrupt_bit % 8));
    m->data[at] ^= mask;
  }
  ssize_t rc;
  if (d->bit == DD_LINK_UP)
    rc = send(self->fd_server, m->data, m->bytes, MSG_DONTWAIT);
  else
    rc = sendto(self->fd_client, m->data, m->bytes, MSG_DONTWAIT,
                (const struct sockaddr *)&self->client, self->client_len);
  if (mask) m->data[at] ^= mask;
  if (rc < 0) {
    d->c.tx_errors++;
    dd_debug("link %s: %s send failed: %s", self->name, d->name, strerror(errno));
    return;
  }
  d->c.tx++;
  d->c.tx_bytes += m->bytes;
}

/* Send everything due now, then re-arm. */
static void s_pump(s_dir_t *d) {
  uint64_t now = s_clock(d->link);
  dd_netem_release_t r;
  while (dd_netem_pop_due(d->nd, now, &r) == 1) {
    size_t at = s_table_find(&d->msgs, r.msg_id);
    if (at == SIZE_MAX) continue; /* cannot happen: every accepted id was stored */
    s_msg_t *m = d->msgs.slot[at];
    if (!(r.flags & DD_NETEM_F_DROPPED)) {
      if (r.release_at > r.enqueued_at) s_hist_add(&d->late, now - r.release_at); /* timed ones */
      if (d->link->kind == DD_LINK_ZMQ)
        s_send_zmq(d, m);
      else
        s_send_udp(d, m, r.corrupt_bit);
    }
    if (r.last) {
      s_table_remove_at(&d->msgs, at);
      s_msg_free(m);
    }
  }
  s_arm(d);
}

static int s_on_release_timer(dd_loop_t *loop, int id, void *arg) {
  s_dir_t *d = arg;
  if (d->timer == id) d->timer = 0;
  s_pump(d);
  return 0;
}

/* Hand one message to the core (takes ownership of m) and send what is due at once: a message
 * with no delay must not wait for the rest of the batch being read. */
static void s_enqueue(s_dir_t *d, s_msg_t *m) {
  d->c.rx++;
  d->c.rx_bytes += m->bytes;
  m->id = ++d->next_id;
  dd_netem_verdict_t v;
  int rc = dd_netem_enqueue(d->nd, m->id, m->bytes, s_clock(d->link), &v);
  if (rc == 0 && v.n_copies > 0)
    rc = s_table_put(&d->msgs, m);
  else if (rc == 0) {
    s_msg_free(m); /* dropped; the core published why */
    return;
  }
  if (rc < 0) {
    /* The core has it but we could not keep it (out of memory): it will pop as unknown. */
    d->c.tx_errors++;
    dd_error("link %s: %s message lost: %s", d->link->name, d->name, dd_strerror(rc));
    s_msg_free(m);
  }
  if (dd_netem_next_release(d->nd) <= d->link->now) s_pump(d);
}

/* ---- zmq side ------------------------------------------------------------------------------ */

static void s_id_text(const uint8_t *id, size_t len, char *out, size_t cap) {
  bool printable = len > 0;
  for (size_t i = 0; i < len; i++)
    printable &= id[i] >= 0x20 && id[i] < 0x7f;
  if (printable) {
    snprintf(out, cap, "%.*s", (int)len, (const char *)id);
    return;
  }
  size_t n = (size_t)snprintf(out, cap, "0x");
  for (size_t i = 0; i < len && n + 3 < cap; i++)
    n += (size_t)snprintf(out + n, cap - n, "%02x", id[i]);
}

/* Read the rest of a multipart message into the scratch parts (first already there). */
static int s_read_parts(dd_link_t *self, void *sock, size_t *n_parts, size_t *bytes) {
  size_t n = *n_parts;
  while (zmq_msg_more(&self->scratch[n - 1])) {
    if (n == self->scratch_cap) {
      size_t cap = self->scratch_cap * 2;
      zmq_msg_t *s = malloc(cap * sizeof *s);
      if (!s) return DD_ENOMEM;
      for (size_t i = 0; i < n; i++) {
        zmq_msg_init(&s[i]);
        zmq_msg_move(&s[i], &self->scratch[i]);
        zmq_msg_close(&self->scratch[i]);
      }
      free(self->scratch);
      self->scratch = s;
      self->scratch_cap = cap;
    }
    zmq_msg_init(&self->scratch[n]);
    /* The parts of a message arrive together (zmq_msg_send(3) atomicity). */
    if (zmq_msg_recv(&self->scratch[n], sock, 0) < 0) {
      zmq_msg_close(&self->scratch[n]);
      *n_parts = n;
      return -errno;
    }
    *bytes += zmq_msg_size(&self->scratch[n]);
    n++;
  }
  *n_parts = n;
  return 0;
}

static void s_scratch_close(dd_link_t *self, size_t from, size_t n) {
  for (size_t i = from; i < n; i++)
    zmq_msg_close(&self->scratch[i]);
}

/* A message from scratch[from .. n) moved into a new s_msg_t (NULL when out of memory). */
static s_msg_t *s_msg_from_scratch(dd_link_t *self, size_t from, size_t n, size_t bytes) {
  size_t parts = n - from;
  s_msg_t *m = malloc(sizeof *m + parts * sizeof(zmq_msg_t));
  if (!m) return NULL;
  memset(m, 0, sizeof *m);
  m->parts = (zmq_msg_t *)(void *)(m + 1);
  m->n_parts = parts;
  m->bytes = bytes;
  for (size_t i = 0; i < parts; i++) {
    zmq_msg_init(&m->parts[i]);
    zmq_msg_move(&m->parts[i], &self->scratch[from + i]);
    zmq_msg_close(&self->scratch[from + i]);
  }
  return m;
}

static int s_on_dealer(dd_loop_t *loop, void *zsock, int fd, void *arg);

static s_peer_t *s_peer_get(dd_link_t *self, const uint8_t *id, size_t len) {
  if (self->last_peer && self->last_peer->id_len == len && !memcmp(self->last_peer->id, id, len))
    return self->last_peer;
  for (size_t i = 0; i < self->n_peers; i++) {
    s_peer_t *p = self->peers[i];
    if (p->id_len == len && !memcmp(p->id, id, len)) return self->last_peer = p;
  }
  if (self->n_peers == DD_LINK_MAX_PEERS || len == 0 || len > S_ID_MAX) return NULL;
  s_peer_t *p = calloc(1, sizeof *p);
  if (!p) return NULL;
  memcpy(p->id, id, len);
  p->id_len = len;
  p->link = self;
  p->dealer = zmq_socket(self->zctx, ZMQ_DEALER);
  if (!p->dealer) {
    free(p);
    return NULL;
  }
  int zero = 0;
  zmq_setsockopt(p->dealer, ZMQ_LINGER, &zero, sizeof zero);
  zmq_setsockopt(p->dealer, ZMQ_SNDHWM, &zero, sizeof zero);
  zmq_setsockopt(p->dealer, ZMQ_RCVHWM, &zero, sizeof zero);
  dd_wire_limit_socket(p->dealer);
  /* Ids that start with a zero byte are ROUTER-made and reserved (zmq_setsockopt(3)
   * ZMQ_ROUTING_ID): such a client is anonymous towards the server too. */
  p->anonymous = id[0] == 0 || zmq_setsockopt(p->dealer, ZMQ_ROUTING_ID, id, len) != 0;
  if (zmq_connect(p->dealer, self->connect_addr) != 0 ||
      dd_loop_add_zsock(self->loop, p->dealer, s_on_dealer, p) != 0) {
    dd_error("link %s: cannot connect to the server at %s: %s", self->name, self->connect_addr,
             zmq_strerror(errno));
    zmq_close(p->dealer);
    free(p);
    return NULL;
  }
  self->peers[self->n_peers++] = p;
  char text[2 * S_ID_MAX + 3];
  s_id_text(id, len, text, sizeof text);
  s_emit(self, "netem.peer",
         (dd_field_t[]){DD_S("link", self->name), DD_S("id", text), DD_B("anonymous", p->anonymous),
                        DD_I("peers", self->n_peers)},
         4);
  dd_info("link %s: client %s%s", self->name, text, p->anonymous ? " (anonymous)" : "");
  return self->last_peer = p;
}

/* Client -> link ROUTER: [id][parts...] -> "up". */
static int s_on_router(dd_loop_t *loop, void *zsock, int fd, void *arg) {
  dd_link_t *self = arg;
  s_dir_t *d = s_dir(self, DD_LINK_UP);
  for (int k = 0; k < S_BATCH; k++) {
    zmq_msg_init(&self->scratch[0]);
    if (zmq_msg_recv(&self->scratch[0], zsock, ZMQ_DONTWAIT) < 0) {
      zmq_msg_close(&self->scratch[0]);
      break;
    }
    size_t n = 1, bytes = 0;
    int rc = s_read_parts(self, zsock, &n, &bytes);
    if (rc < 0 || n < 2) {
      s_scratch_close(self, 0, n);
      continue;
    }
    s_peer_t *p =
        s_peer_get(self, zmq_msg_data(&self->scratch[0]), zmq_msg_size(&self->scratch[0]));
    s_msg_t *m = p ? s_msg_from_scratch(self, 1, n, bytes) : NULL;
    s_scratch_close(self, 0, m ? 1 : n);
    if (!m) {
      const char *why = p ? "out of memory" : "no room for another client";
      d->c.undeliverable++;
      dd_warn("link %s: a client message was not carried (%s)", self->name, why);
      s_emit(self, "netem.undeliverable",
             (dd_field_t[]){DD_S("link", self->name), DD_S("dir", d->name), DD_I("msg", 0),
                            DD_S("error", why)},
             4);
      continue;
    }
    m->peer = p;
    s_enqueue(d, m);
  }
  s_pump(d);
  return 0;
}

/* Server -> a client's DEALER: [parts...] -> "down". */
static int s_on_dealer(dd_loop_t *loop, void *zsock, int fd, void *arg) {
  s_peer_t *p = arg;
  dd_link_t *self = p->link;
  s_dir_t *d = s_dir(self, DD_LINK_DOWN);
  for (int k = 0; k < S_BATCH; k++) {
    zmq_msg_init(&self->scratch[0]);
    if (zmq_msg_recv(&self->scratch[0], zsock, ZMQ_DONTWAIT) < 0) {
      zmq_msg_close(&self->scratch[0]);
      break;
    }
    size_t n = 1, bytes = zmq_msg_size(&self->scratch[0]);
    int rc = s_read_parts(self, zsock, &n, &bytes);
    s_msg_t *m = rc == 0 ? s_msg_from_scratch(self, 0, n, bytes) : NULL;
    if (!m) {
      s_scratch_close(self, 0, n);
      d->c.tx_errors++;
      continue;
    }
    m->peer = p;
    s_enqueue(d, m);
  }
  s_pump(d);
  return 0;
}

static int s_open_zmq(dd_link_t *self, const dd_link_cfg_t *cfg) {
  self->scratch_cap = 16;
  self->scratch = malloc(self->scratch_cap * sizeof *self->scratch);
  self->router = zmq_socket(self->zctx, ZMQ_ROUTER);
  if (!self->scratch || !self->router) return DD_ENOMEM;
  int one = 1, zero = 0;
  /* Unlimited high-water marks: the link's schedule decides when a message moves, never a
   * full pipe (network.md 3.2); ROUTER_MANDATORY so a vanished client is counted, not silently
   * dropped; HANDOVER so a reconnecting client keeps its id (network.md 3.3). */
  zmq_setsockopt(self->router, ZMQ_LINGER, &zero, sizeof zero);
  zmq_setsockopt(self->router, ZMQ_SNDHWM, &zero, sizeof zero);
  zmq_setsockopt(self->router, ZMQ_RCVHWM, &zero, sizeof zero);
  zmq_setsockopt(self->router, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
  zmq_setsockopt(self->router, ZMQ_ROUTER_HANDOVER, &one, sizeof one);
  dd_wire_limit_socket(self->router);
  if (zmq_bind(self->router, cfg->listen) != 0) {
    int rc = -errno;
    dd_error("link %s: cannot bind %s: %s", self->name, cfg->listen, zmq_strerror(errno));
    return rc == -EINVAL || rc == -EPROTONOSUPPORT ? DD_EINVAL : rc;
  }
  size_t len = sizeof self->listen_addr;
  if (zmq_getsockopt(self->router, ZMQ_LAST_ENDPOINT, self->listen_addr, &len) != 0)
    snprintf(self->listen_addr, sizeof self->listen_addr, "%s", cfg->listen);
  /* Check the server address now rather than at the first client. */
  void *probe = zmq_socket(self->zctx, ZMQ_DEALER);
  if (!probe) return DD_ENOMEM;
  zmq_setsockopt(probe, ZMQ_LINGER, &zero, sizeof zero);
  int rc = zmq_connect(probe, cfg->connect) == 0 ? 0 : -errno;
  if (rc)
    dd_error("link %s: bad server endpoint %s: %s", self->name, cfg->connect, zmq_strerror(-rc));
  zmq_close(probe);
  if (rc) return DD_EINVAL;
  return dd_loop_add_zsock(self->loop, self->router, s_on_router, self);
}

/* ---- udp side ------------------------------------------------------------------------------ */

/* "host:port", "[v6]:port", optionally "udp://" first. */
static int s_resolve(const char *text, bool passive, struct sockaddr_storage *out,
                     socklen_t *out_len) {
  if (!strncmp(text, "udp://", 6)) text += 6;
  char host[256];
  const char *colon = strrchr(text, ':');
  if (!colon || colon == text || !colon[1]) return DD_EINVAL;
  size_t hl = (size_t)(colon - text);
  if (text[0] == '[') {
    if (hl < 2 || text[hl - 1] != ']') return DD_EINVAL;
    text++;
    hl -= 2;
  }
  if (hl >= sizeof host) return DD_EINVAL;
  memcpy(host, text, hl);
  host[hl] = 0;
  struct addrinfo hints = {.ai_family = AF_UNSPEC,
                           .ai_socktype = SOCK_DGRAM,
                           .ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0)};
  struct addrinfo *res = NULL;
  const char *h = (!strcmp(host, "*") || !host[0]) ? NULL : host;
  if (getaddrinfo(h, colon + 1, &hints, &res) != 0 || !res) return DD_EINVAL;
  memcpy(out, res->ai_addr, res->ai_addrlen);
  *out_len = res->ai_addrlen;
  freeaddrinfo(res);
  return 0;
}

static void s_addr_text(const struct sockaddr_storage *a, char *out, size_t cap) {
  char host[INET6_ADDRSTRLEN] = "?";
  unsigned port = 0;
  if (a->ss_family == AF_INET) {
    const struct sockaddr_in *v4 = (const struct sockaddr_in *)(const void *)a;
    inet_ntop(AF_INET, &v4->sin_addr, host, sizeof host);
    port = ntohs(v4->sin_port);
    snprintf(out, cap, "%s:%u", host, port);
  } else if (a->ss_family == AF_INET6) {
    const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)(const void *)a;
    inet_ntop(AF_INET6, &v6->sin6_addr, host, sizeof host);
    port = ntohs(v6->sin6_port);
    snprintf(out, cap, "[%s]:%u", host, port);
  } else {
    snprintf(out, cap, "?");
  }
}

static int s_udp_socket(int family) {
  int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  int size = S_SOCKBUF, one = 1;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
  /* network.md 2.3 pitfall 6: count what the kernel drops before we read, apart from ours. */
  setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof one);
  return fd;
}

/* Read one datagram; its length, 0 when none is waiting, or a negative code. */
static ssize_t s_udp_read(dd_link_t *self, int fd, s_dir_t *d, struct sockaddr_storage *from,
                          socklen_t *from_len) {
  struct iovec iov = {.iov_base = self->buf, .iov_len = DD_LINK_MAX_DATAGRAM + 1};
  union {
    char buf[CMSG_SPACE(sizeof(uint32_t))];
    struct cmsghdr align;
  } ctl;
  struct msghdr mh = {.msg_name = from,
                      .msg_namelen = from ? sizeof *from : 0,
                      .msg_iov = &iov,
                      .msg_iovlen = 1,
                      .msg_control = ctl.buf,
                      .msg_controllen = sizeof ctl.buf};
  ssize_t n = recvmsg(fd, &mh, MSG_DONTWAIT);
  if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL) {
      uint32_t drops;
      memcpy(&drops, CMSG_DATA(c), sizeof drops);
      if (drops > d->c.rx_kernel_drops) d->c.rx_kernel_drops = drops; /* cumulative */
    }
  }
  if (from_len) *from_len = mh.msg_namelen;
  if ((mh.msg_flags & MSG_TRUNC) || n > DD_LINK_MAX_DATAGRAM) {
    d->c.rx_truncated++;
    return DD_EMSGSIZE;
  }
  return n;
}

static void s_udp_take(dd_link_t *self, s_dir_t *d, size_t len) {
  s_msg_t *m = malloc(sizeof *m + (len ? len : 1));
  if (!m) {
    d->c.tx_errors++;
    return;
  }
  memset(m, 0, sizeof *m);
  m->data = (uint8_t *)(m + 1);
  m->bytes = len;
  memcpy(m->data, self->buf, len);
  s_enqueue(d, m);
}

/* Client -> link: "up". */
static int s_on_udp_client(dd_loop_t *loop, void *zsock, int fd, void *arg) {
  dd_link_t *self = arg;
  s_dir_t *d = s_dir(self, DD_LINK_UP);
  for (int k = 0; k < S_BATCH; k++) {
    struct sockaddr_storage from;
    socklen_t from_len = 0;
    ssize_t n = s_udp_read(self, fd, d, &from, &from_len);
    if (n == 0 && from_len == 0) break;
    if (n == DD_EMSGSIZE) continue;
    if (n < 0) break;
    if (from_len != self->client_len || memcmp(&from, &self->client, from_len) != 0) {
      memcpy(&self->client, &from, from_len);
      self->client_len = from_len;
      char text[80];
      s_addr_text(&from, text, sizeof text);
      s_emit(self, "netem.peer", (dd_field_t[]){DD_S("link", self->name), DD_S("addr", text)}, 2);
    }
    s_udp_take(self, d, (size_t)n);
  }
  s_pump(d);
  return 0;
}

/* Server -> link: "down". */
static int s_on_udp_server(dd_loop_t *loop, void *zsock, int fd, void *arg) {
  dd_link_t *self = arg;
  s_dir_t *d = s_dir(self, DD_LINK_DOWN);
  for (int k = 0; k < S_BATCH; k++) {
    socklen_t from_len = 0;
    struct sockaddr_storage from;
    ssize_t n = s_udp_read(self, fd, d, &from, &from_len);
    if (n == 0 && from_len == 0) break;
    if (n == DD_EMSGSIZE) continue;
    if (n < 0) {
      if (n == -ECONNREFUSED) continue; /* ICMP port unreachable from an earlier send */
      break;
    }
    s_udp_take(self, d, (size_t)n);
  }
  s_pump(d);
  return 0;
}

static int s_open_udp(dd_link_t *self, const dd_link_cfg_t *cfg) {
  struct sockaddr_storage la, sa;
  socklen_t ll, sl;
  if (s_resolve(cfg->listen, true, &la, &ll) < 0) {
    dd_error("link %s: --listen wants host:port for udp, got '%s'", self->name, cfg->listen);
    return DD_EINVAL;
  }
  if (s_resolve(cfg->connect, false, &sa, &sl) < 0) {
    dd_error("link %s: --connect wants host:port for udp, got '%s'", self->name, cfg->connect);
    return DD_EINVAL;
  }
  self->buf = malloc(DD_LINK_MAX_DATAGRAM + 1);
  if (!self->buf) return DD_ENOMEM;
  self->fd_client = s_udp_socket(la.ss_family);
  if (self->fd_client < 0) return self->fd_client;
  if (bind(self->fd_client, (struct sockaddr *)&la, ll) != 0) {
    int rc = -errno;
    dd_error("link %s: cannot bind %s: %s", self->name, cfg->listen, strerror(errno));
    return rc;
  }
  struct sockaddr_storage bound;
  socklen_t bl = sizeof bound;
  getsockname(self->fd_client, (struct sockaddr *)&bound, &bl);
  s_addr_text(&bound, self->listen_addr, sizeof self->listen_addr);
  self->fd_server = s_udp_socket(sa.ss_family);
  if (self->fd_server < 0) return self->fd_server;
  /* Connected: only the server's datagrams are accepted on this socket. */
  if (connect(self->fd_server, (struct sockaddr *)&sa, sl) != 0) {
    int rc = -errno;
    dd_error("link %s: cannot connect to %s: %s", self->name, cfg->connect, strerror(errno));
    return rc;
  }
  int rc = dd_loop_add_fd(self->loop, self->fd_client, s_on_udp_client, self);
  if (!rc) rc = dd_loop_add_fd(self->loop, self->fd_server, s_on_udp_server, self);
  return rc;
}

/* ---- periodic counters --------------------------------------------------------------------- */

static int s_on_counters_timer(dd_loop_t *loop, int id, void *arg) {
  dd_link_t *self = arg;
  for (int i = 0; i < 2; i++) {
    s_dir_t *d = &self->dir[i];
    dd_netem_counters_t c;
    dd_netem_counters(d->nd, &c);
    if (c.enqueued == d->rep_in && c.released == d->rep_out && c.queue_depth == d->rep_depth)
      continue; /* no traffic since the last report */
    d->rep_in = c.enqueued;
    d->rep_out = c.released;
    d->rep_depth = c.queue_depth;
    s_publish_counters(d, "netem.counters");
  }
  return 0;
}

/* ---- life cycle ---------------------------------------------------------------------------- */

int dd_link_new(void *zctx, dd_loop_t *loop, dd_events_t *events, const dd_link_cfg_t *cfg,
                dd_link_t **out) {
  assert(loop && cfg && out);
  if (!cfg->listen || !cfg->connect || (cfg->kind != DD_LINK_ZMQ && cfg->kind != DD_LINK_UDP) ||
      (cfg->kind == DD_LINK_ZMQ && !zctx))
    return DD_EINVAL;
  dd_link_t *self = calloc(1, sizeof *self);
  if (!self) return DD_ENOMEM;
  self->kind = cfg->kind;
  self->zctx = zctx;
  self->loop = loop;
  self->events = events;
  self->fd_client = self->fd_server = -1;
  self->seed = cfg->seed;
  snprintf(self->name, sizeof self->name, "%s", cfg->name ? cfg->name : "link");
  snprintf(self->connect_addr, sizeof self->connect_addr, "%s", cfg->connect);
  /* network.md 2.3 pitfall 7: one explicit seed per link, one stream per direction. */
  dd_rng_t root, fork;
  dd_rng_seed(&root, cfg->seed);
  dd_netem_kind_t nk = cfg->kind == DD_LINK_ZMQ ? DD_NETEM_STREAM : DD_NETEM_DATAGRAM;
  int rc = 0;
  for (int i = 0; i < 2; i++) {
    s_dir_t *d = &self->dir[i];
    d->link = self;
    d->bit = i ? DD_LINK_DOWN : DD_LINK_UP;
    d->name = i ? "down" : "up";
    dd_rng_fork(&root, (uint64_t)i + 1, &fork);
    d->nd = dd_netem_dir_new(nk, dd_rng_u64(&fork));
    if (!d->nd)
      rc = DD_ENOMEM;
    else
      dd_netem_set_event_fn(d->nd, s_on_core_event, d);
  }
  if (!rc) rc = cfg->kind == DD_LINK_ZMQ ? s_open_zmq(self, cfg) : s_open_udp(self, cfg);
  if (!rc) {
    rc = dd_loop_timer_every(loop, DD_LINK_COUNTERS_US, s_on_counters_timer, self);
    if (rc > 0) {
      self->counters_timer = rc;
      rc = 0;
    }
  }
  if (rc < 0) {
    dd_link_destroy(&self);
    return rc;
  }
  s_emit(self, "netem.start",
         (dd_field_t[]){DD_S("link", self->name), DD_S("link_kind", dd_link_kind_name(self->kind)),
                        DD_S("listen", self->listen_addr), DD_S("connect", self->connect_addr),
                        DD_I("seed", (int64_t)self->seed)},
         5);
  *out = self;
  return 0;
}

void dd_link_destroy(dd_link_t **self_p) {
  assert(self_p);
  dd_link_t *self = *self_p;
  if (!self) return;
  for (int i = 0; i < 2; i++) {
    s_dir_t *d = &self->dir[i];
    if (!d->nd) continue;
    if (self->counters_timer) s_publish_counters(d, "netem.summary");
    if (d->timer) dd_loop_timer_cancel(self->loop, d->timer);
    if (d->ramp_timer) dd_loop_timer_cancel(self->loop, d->ramp_timer);
    if (d->outage_timer) dd_loop_timer_cancel(self->loop, d->outage_timer);
    for (size_t k = 0; k < d->msgs.cap; k++)
      s_msg_free(d->msgs.slot[k]);
    free(d->msgs.slot);
    dd_netem_dir_destroy(&d->nd);
  }
  if (self->counters_timer) dd_loop_timer_cancel(self->loop, self->counters_timer);
  for (size_t i = 0; i < self->n_peers; i++) {
    dd_loop_remove_zsock(self->loop, self->peers[i]->dealer);
    zmq_close(self->peers[i]->dealer);
    free(self->peers[i]);
  }
  if (self->router) {
    dd_loop_remove_zsock(self->loop, self->router);
    zmq_close(self->router);
  }
  free(self->scratch);
  if (self->fd_client >= 0) {
    dd_loop_remove_fd(self->loop, self->fd_client);
    close(self->fd_client);
  }
  if (self->fd_server >= 0) {
    dd_loop_remove_fd(self->loop, self->fd_server);
    close(self->fd_server);
  }
  free(self->buf);
  free(self);
  *self_p = NULL;
}

const char *dd_link_listen_addr(const dd_link_t *self) { return self->listen_addr; }
dd_link_kind_t dd_link_kind(const dd_link_t *self) { return self->kind; }

/* ---- operations ---------------------------------------------------------------------------- */

/* The parameters in force now, with a finished ramp folded into the delay and a running one
 * re-based on now (so a later dd_netem_set, which restarts the ramp clock, continues it). */
static void s_params_now(const s_dir_t *d, uint64_t now, dd_netem_params_t *p) {
  dd_netem_get(d->nd, p);
  if (!p->ramp_us) return;
  if (now >= d->ramp_end) {
    p->delay_us = p->ramp_to_us;
    p->ramp_us = 0;
    p->ramp_to_us = 0;
  } else {
    p->delay_us = dd_netem_delay_at(d->nd, now);
    p->ramp_us = d->ramp_end - now;
  }
}

static int s_on_ramp_timer(dd_loop_t *loop, int id, void *arg) {
  s_dir_t *d = arg;
  if (d->ramp_timer != id) return 0;
  d->ramp_timer = 0;
  dd_link_t *self = d->link;
  s_emit(self, "netem.ramp_done",
         (dd_field_t[]){DD_S("link", self->name), DD_S("dir", d->name),
                        DD_D("delay_ms", (double)dd_netem_delay_at(d->nd, s_clock(self)) / 1000.0)},
         3);
  return 0;
}

static void s_cancel(dd_loop_t *loop, int *timer) {
  if (*timer) dd_loop_timer_cancel(loop, *timer);
  *timer = 0;
}

/* Set p on d (already checked), keeping the ramp bookkeeping, and publish it. */
static int s_commit(s_dir_t *d, const dd_netem_params_t *p, const char *args) {
  dd_loop_t *loop = d->link->loop;
  uint64_t now = s_clock(d->link);
  int rc = dd_netem_set(d->nd, p, now);
  if (rc) return rc;
  d->loss_model = p->loss.model;
  if (p->ramp_us) {
    d->ramp_end = now + p->ramp_us;
    if (!d->ramp_timer || dd_loop_timer_move(loop, d->ramp_timer, d->ramp_end) < 0) {
      int id = dd_loop_timer_at(loop, d->ramp_end, s_on_ramp_timer, d);
      d->ramp_timer = id > 0 ? id : 0;
    }
  } else {
    s_cancel(loop, &d->ramp_timer);
  }
  s_publish_params(d, "netem.set", args);
  s_pump(d); /* releases moved by an outage recomputation may be due */
  return 0;
}

int dd_link_set(dd_link_t *self, unsigned dirs, const dd_netem_params_t *p) {
  assert(self && p);
  if (!(dirs & DD_LINK_BOTH) || dd_netem_params_check(p) != 0) return DD_EINVAL;
  for (int i = 0; i < 2; i++) {
    if (!(dirs & self->dir[i].bit)) continue;
    dd_netem_params_t n = *p;
    if (n.ramp_us == 0) n.ramp_to_us = 0;
    int rc = s_commit(&self->dir[i], &n, NULL);
    if (rc) return rc;
  }
  return 0;
}

int dd_link_ramp(dd_link_t *self, unsigned dirs, uint64_t to_us, uint64_t over_us) {
  assert(self);
  if (!(dirs & DD_LINK_BOTH) || to_us > DD_NETEM_MAX_DELAY_US || over_us > DD_NETEM_MAX_RAMP_US)
    return DD_EINVAL;
  uint64_t now = s_clock(self);
  for (int i = 0; i < 2; i++) {
    s_dir_t *d = &self->dir[i];
    if (!(dirs & d->bit)) continue;
    dd_netem_params_t p;
    s_params_now(d, now, &p);
    uint64_t from = p.delay_us;
    if (over_us == 0) {
      p.delay_us = to_us;
      p.ramp_us = p.ramp_to_us = 0;
    } else {
      p.ramp_to_us = to_us;
      p.ramp_us = over_us;
    }
    int rc = s_commit(d, &p, NULL);
    if (rc) return rc;
    s_emit(self, "netem.ramp",
           (dd_field_t[]){DD_S("link", self->name), DD_S("dir", d->name),
                          DD_D("from_ms", (double)from / 1000.0),
                          DD_D("to_ms", (double)to_us / 1000.0),
                          DD_D("over_s", (double)over_us / 1e6)},
           5);
  }
  return 0;
}

static int s_on_outage_timer(dd_loop_t *loop, int id, void *arg) {
  s_dir_t *d = arg;
  if (d->outage_timer != id) return 0;
  d->outage_timer = 0;
  if (dd_netem_is_down(d->nd, s_clock(d->link))) return 0;
  dd_link_t *self = d->link;
  s_emit(self, "netem.outage_end", (dd_field_t[]){DD_S("link", self->name), DD_S("dir", d->name)},
         2);
  s_pump(d);
  return 0;
}

int dd_link_outage(dd_link_t *self, unsigned dirs, uint64_t duration_us) {
  assert(self);
  if (!(dirs & DD_LINK_BOTH) || duration_us == 0) return DD_EINVAL;
  uint64_t now = s_clock(self);
  for (int i = 0; i < 2; i++) {
    s_dir_t *d = &self->dir[i];
    if (!(dirs & d->bit)) continue;
    int rc = dd_netem_outage(d->nd, now, duration_us, now);
    if (rc) return rc;
    if (duration_us != DD_NETEM_NEVER) {
      uint64_t end = now + duration_us;
      if (!d->outage_timer || end > d->outage_end) {
        s_cancel(self->loop, &d->outage_timer);
        int id = dd_loop_timer_at(self->loop, end, s_on_outage_timer, d);
        d->outage_timer = id > 0 ? id : 0;
        d->outage_end = end;
      }
    }
    s_pump(d);
  }
  return 0;
}

int dd_link_restore(dd_link_t *self, unsigned dirs) {
  assert(self);
  if (!(dirs & DD_LINK_BOTH)) return DD_EINVAL;
  uint64_t now = s_clock(self);
  for (int i = 0; i < 2; i++) {
    s_dir_t *d = &self->dir[i];
    if (!(dirs & d->bit)) continue;
    int rc = dd_netem_restore(d->nd, now);
    if (rc) return rc;
    s_cancel(self->loop, &d->outage_timer);
    s_pump(d);
  }
  return 0;
}

void dd_link_params(const dd_link_t *self, unsigned dir, dd_netem_params_t *out) {
  assert(self && out);
  dd_netem_get(self->dir[dir == DD_LINK_DOWN ? 1 : 0].nd, out);
}

void dd_link_counters(const dd_link_t *self, unsigned dir, dd_link_counters_t *out) {
  assert(self && out);
  s_fill_counters(&self->dir[dir == DD_LINK_DOWN ? 1 : 0], out);
}

static json_t *s_counters_object(const s_dir_t *d) {
  dd_link_counters_t c;
  s_fill_counters(d, &c);
  const dd_netem_counters_t *k = &c.core;
  json_t *o = json_pack(
      "{sIsIsIsIsIsIsIsIsIsIsIsIsIsIsIsIsIsIsIsIsIsIsI}", "rx", (json_int_t)c.rx, "rx_bytes",
      (json_int_t)c.rx_bytes, "tx", (json_int_t)c.tx, "tx_bytes", (json_int_t)c.tx_bytes,
      "tx_errors", (json_int_t)c.tx_errors, "undeliverable", (json_int_t)c.undeliverable,
      "rx_kernel_drops", (json_int_t)c.rx_kernel_drops, "rx_truncated", (json_int_t)c.rx_truncated,
      "enqueued", (json_int_t)k->enqueued, "released", (json_int_t)k->released, "dropped_random",
      (json_int_t)k->dropped_random, "dropped_ge", (json_int_t)k->dropped_ge, "dropped_outage",
      (json_int_t)k->dropped_outage, "dropped_limit", (json_int_t)k->dropped_limit, "duplicated",
      (json_int_t)k->duplicated, "corrupted", (json_int_t)k->corrupted, "reordered",
      (json_int_t)k->reordered, "out_of_order", (json_int_t)k->out_of_order, "retransmits",
      (json_int_t)k->retransmits, "held", (json_int_t)k->held, "bytes_in", (json_int_t)k->bytes_in,
      "bytes_out", (json_int_t)k->bytes_out, "queue_depth", (json_int_t)k->queue_depth,
      "queue_bytes", (json_int_t)k->queue_bytes);
  if (o) {
    json_object_set_new(o, "late_p50_us", json_integer((json_int_t)s_hist_quantile(&d->late, 0.5)));
    json_object_set_new(o, "late_p99_us",
                        json_integer((json_int_t)s_hist_quantile(&d->late, 0.99)));
    json_object_set_new(o, "late_max_us", json_integer((json_int_t)d->late.max));
  }
  return o;
}

static char *s_dump_dirs(const dd_link_t *self, unsigned dirs, bool counters) {
  json_t *o = json_pack("{ssss}", "link", self->name, "kind", dd_link_kind_name(self->kind));
  if (!o) return NULL;
  uint64_t now = s_peek_clock(self);
  for (int i = 0; i < 2; i++) {
    const s_dir_t *d = &self->dir[i];
    if (!(dirs & d->bit)) continue;
    json_t *v;
    if (counters) {
      v = s_counters_object(d);
    } else {
      dd_netem_params_t p;
      s_params_now(d, now, &p);
      v = dd_link_params_object(&p);
      if (v && p.ramp_us) {
        json_object_set_new(v, "ramp_to_ms", json_real((double)p.ramp_to_us / 1000.0));
        json_object_set_new(v, "ramp_left_s", json_real((double)p.ramp_us / 1e6));
      }
      if (v) json_object_set_new(v, "down_now", json_boolean(dd_netem_is_down(d->nd, now)));
    }
    if (!v || json_object_set_new(o, d->name, v) != 0) {
      json_decref(o);
      return NULL;
    }
  }
  char *s = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(12));
  json_decref(o);
  return s;
}

char *dd_link_counters_json(const dd_link_t *self, unsigned dirs) {
  assert(self);
  return s_dump_dirs(self, dirs, true);
}

static int s_reject(dd_link_t *self, const char *action, const char *args, int rc, char *err,
                    size_t cap) {
  if (err && cap && !err[0]) snprintf(err, cap, "%s", dd_strerror(rc));
  dd_warn("link %s: %s rejected: %s", self->name, action ? action : "?", err ? err : "");
  char ca[128], cb[512];
  s_emit(self, "netem.rejected",
         (dd_field_t[]){DD_S("link", self->name), DD_S("action", s_clip(action, ca, sizeof ca)),
                        DD_S("args", s_clip(args, cb, sizeof cb)),
                        DD_S("error", err ? err : dd_strerror(rc))},
         4);
  return rc;
}

int dd_link_command(dd_link_t *self, const char *action, const char *args_json, char **result_json,
                    char *err, size_t cap) {
  assert(self);
  char local[DD_LINK_ERR_MAX];
  if (!err || cap == 0) {
    err = local;
    cap = sizeof local;
  }
  err[0] = 0;
  if (result_json) *result_json = NULL;
  dd_link_cmd_t c;
  int rc = dd_link_cmd_parse(action, args_json, args_json ? strlen(args_json) : 0, &c, err, cap);
  if (rc) return s_reject(self, action, args_json, rc, err, cap);
  uint64_t now = s_clock(self);
  dd_netem_kind_t nk = self->kind == DD_LINK_ZMQ ? DD_NETEM_STREAM : DD_NETEM_DATAGRAM;
  switch (c.action) {
  case DD_LINK_CMD_SET:
  case DD_LINK_CMD_RESET: {
    /* Check both directions before changing either: a command applies whole or not at all. */
    dd_netem_params_t p[2];
    for (int i = 0; i < 2; i++) {
      if (!(c.dirs & self->dir[i].bit)) continue;
      if (c.action == DD_LINK_CMD_RESET) {
        dd_netem_params_init(&p[i]);
        continue;
      }
      s_params_now(&self->dir[i], now, &p[i]);
      rc = dd_link_cmd_apply(&c, nk, &p[i], err, cap);
      if (rc) return s_reject(self, action, args_json, rc, err, cap);
    }
    for (int i = 0; i < 2; i++) {
      if (!(c.dirs & self->dir[i].bit)) continue;
      rc = s_commit(&self->dir[i], &p[i], args_json && *args_json ? args_json : action);
      if (rc) return s_reject(self, action, args_json, rc, err, cap);
    }
    /* reset: a clean link, so an outage in progress ends too. */
    if (c.action == DD_LINK_CMD_RESET) rc = dd_link_restore(self, c.dirs);
    break;
  }
  case DD_LINK_CMD_RAMP: rc = dd_link_ramp(self, c.dirs, c.ramp_to_us, c.ramp_us); break;
  case DD_LINK_CMD_OUTAGE: rc = dd_link_outage(self, c.dirs, c.outage_us); break;
  case DD_LINK_CMD_RESTORE: rc = dd_link_restore(self, c.dirs); break;
  case DD_LINK_CMD_COUNTERS:
  case DD_LINK_CMD_GET:
    if (result_json) {
      *result_json = s_dump_dirs(self, c.dirs, c.action == DD_LINK_CMD_COUNTERS);
      if (!*result_json) rc = DD_ENOMEM;
    }
    break;
  case DD_LINK_CMD_COUNT: rc = DD_EINVAL; break;
  }
  if (rc == DD_ENOSPC)
    snprintf(err, cap, "outage: more than %d outage windows pending", DD_NETEM_MAX_OUTAGES);
  if (rc) return s_reject(self, action, args_json, rc, err, cap);
  return 0;
}

/* ---- scheduling ---------------------------------------------------------------------------- */

int dd_link_realtime(int prio) {
  if (prio < 1 || prio > 99) return DD_EINVAL;
  DIR *d = opendir("/proc/self/task");
  if (!d) return -errno;
  struct sched_param sp = {.sched_priority = prio};
  int changed = 0, rc = 0;
  struct dirent *de;
  while ((de = readdir(d))) {
    char *end;
    long tid = strtol(de->d_name, &end, 10);
    if (*end || tid <= 0) continue;
    if (sched_setscheduler((pid_t)tid, SCHED_FIFO, &sp) == 0)
      changed++;
    else
      rc = -errno;
  }
  closedir(d);
  if (!changed) return rc ? rc : DD_ENOENT;
  mlockall(MCL_CURRENT | MCL_FUTURE); /* best effort: page faults are the other stall */
  return changed;
}
