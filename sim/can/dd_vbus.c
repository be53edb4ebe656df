/* dd_vbus: arbitration, exact frame timing and fault confinement of the virtual CAN bus. */
#include "dd_vbus.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_canbits.h"
#include "dd_err.h"

/* SocketCAN error-frame class bits and details (linux/can/error.h), so error frames look to
 * receivers exactly as a real controller reports them. */
#define S_CAN_ERR_CRTL 0x00000004u
#define S_CAN_ERR_PROT 0x00000008u
#define S_CAN_ERR_BUSOFF 0x00000040u
#define S_CAN_ERR_RESTARTED 0x00000100u
#define S_CAN_ERR_CRTL_TX_PASSIVE 0x20u
#define S_CAN_ERR_CRTL_ACTIVE 0x40u
#define S_CAN_ERR_PROT_LOC_CRC_SEQ 0x08u

/* ISO 11898-1:2015 10.4.4 / 10.4.5: EOF is 7 recessive bits, intermission 3; an error frame is
 * an error flag of 6 bits (superposed flags up to 12) and an error delimiter of 8. */
#define S_EOF_IFS_BITS 10u
#define S_ERROR_FRAME_BITS (6u + 8u + 3u)

typedef struct {
  dd_can_frame_t frame; /* waiting frame */
  uint64_t submit_ns;   /* when the node handed it over */
} s_slot_t;

typedef struct {
  char name[48];                 /* node name for events */
  bool used;                     /* slot in use */
  bool fd;                       /* accepts CAN FD */
  s_slot_t q[DD_VBUS_TXQ_LEN];   /* transmit FIFO (ring) */
  unsigned head, len;            /* ring position and fill */
  uint16_t tec;                  /* transmit error counter (12.1.4) */
  dd_vbus_state_t state;         /* fault confinement state */
} s_node_t;

typedef enum { S_OUT_OK, S_OUT_DROP, S_OUT_CORRUPT } s_outcome_t;

typedef struct {
  bool any;        /* matches every id */
  uint32_t id;     /* the id it matches otherwise */
  uint32_t count;  /* frames left to affect */
} s_fault_t;

#define S_EVQ 16

struct dd_vbus {
  dd_vbus_cfg_t cfg;               /* bit rates */
  s_node_t nodes[DD_VBUS_MAX_NODES]; /* attached nodes */
  int n_nodes;                     /* highest used index + 1 */
  bool busy;                       /* a frame or error frame is on the wire */
  bool busy_error_frame;           /* the wire carries an injected error frame */
  int cur_node;                    /* transmitter of the current frame */
  s_outcome_t cur_outcome;         /* fate decided at start of frame */
  uint64_t cur_start, cur_end;     /* current frame's time on the wire */
  uint32_t cur_bits;               /* its bit count */
  uint64_t free_at;                /* the bus is idle from here */
  uint64_t cut_until;              /* no frame starts before this (fault: bus cut) */
  bool error_frame_pending;        /* an injected error frame waits for an idle bus */
  s_fault_t drop, corrupt;         /* armed faults */
  dd_vbus_ev_t evq[S_EVQ];         /* queued state-change events */
  unsigned evq_head, evq_len;      /* ring of evq */
  dd_vbus_stats_t stats;           /* counters */
};

int dd_vbus_new(const dd_vbus_cfg_t *cfg, dd_vbus_t **out) {
  assert(cfg && out);
  if (cfg->nominal_bps < 1000 || cfg->nominal_bps > 1000000) return DD_EINVAL;
  if (cfg->data_bps && (cfg->data_bps < cfg->nominal_bps || cfg->data_bps > 12000000))
    return DD_EINVAL;
  dd_vbus_t *self = calloc(1, sizeof *self);
  if (!self) return DD_ENOMEM;
  self->cfg = *cfg;
  if (!self->cfg.data_bps) self->cfg.data_bps = cfg->nominal_bps;
  *out = self;
  return 0;
}

void dd_vbus_destroy(dd_vbus_t **self_p) {
  assert(self_p);
  free(*self_p);
  *self_p = NULL;
}

int dd_vbus_attach(dd_vbus_t *self, const char *name, bool fd) {
  for (int i = 0; i < DD_VBUS_MAX_NODES; i++) {
    s_node_t *n = &self->nodes[i];
    if (n->used) continue;
    memset(n, 0, sizeof *n);
    n->used = true;
    n->fd = fd;
    snprintf(n->name, sizeof n->name, "%s", name ? name : "node");
    if (i >= self->n_nodes) self->n_nodes = i + 1;
    return i;
  }
  return DD_ENOSPC;
}

void dd_vbus_detach(dd_vbus_t *self, int node) {
  assert(node >= 0 && node < DD_VBUS_MAX_NODES);
  self->nodes[node].used = false;
  self->nodes[node].len = 0;
}

const char *dd_vbus_node_name(const dd_vbus_t *self, int node) {
  if (node < 0 || node >= DD_VBUS_MAX_NODES || !self->nodes[node].used) return "?";
  return self->nodes[node].name;
}

int dd_vbus_node_count(const dd_vbus_t *self) {
  int c = 0;
  for (int i = 0; i < self->n_nodes; i++) c += self->nodes[i].used;
  return c;
}

uint64_t dd_vbus_frame_ns(const dd_vbus_t *self, const dd_can_frame_t *f, uint32_t *bits) {
  dd_canbits_t b = dd_canbits_count(f);
  if (bits) *bits = b.nominal_bits + b.data_bits;
  return dd_canbits_duration_ns(f, self->cfg.nominal_bps, self->cfg.data_bps);
}

/* ISO 11898-1:2015 10.4.2.2 / 10.5: bitwise arbitration, dominant (0) wins, MSB first over
 * base ID, RTR (base) or SRR (extended, recessive), IDE, extended ID bits, RTR (extended).
 * A base frame beats an extended frame with the same base ID; a data frame beats a remote
 * frame with the same ID. CAN FD frames carry a dominant RRS in place of RTR. */
uint64_t dd_vbus_arbitration_key(const dd_can_frame_t *f) {
  bool rtr = (f->flags & DD_CAN_F_RTR) && !(f->flags & DD_CAN_F_FD);
  if (f->flags & DD_CAN_F_EFF) {
    uint64_t base = (f->id >> 18) & 0x7FF, ext = f->id & 0x3FFFF;
    return (base << 21) | (1ull << 20) | (1ull << 19) | (ext << 1) | (rtr ? 1 : 0);
  }
  return ((uint64_t)(f->id & 0x7FF) << 21) | ((rtr ? 1ull : 0) << 20);
}

static void s_push_ev(dd_vbus_t *self, const dd_vbus_ev_t *ev) {
  if (self->evq_len == S_EVQ) return; /* state changes are rare; a full ring loses the oldest */
  self->evq[(self->evq_head + self->evq_len++) % S_EVQ] = *ev;
}

static dd_can_frame_t s_err_frame(uint32_t cls, uint8_t d1, uint8_t d3, uint64_t ts_ns) {
  dd_can_frame_t e = {.id = cls, .flags = DD_CAN_F_ERR, .len = 8, .ts_us = ts_ns / 1000};
  e.data[1] = d1;
  e.data[3] = d3;
  return e;
}

static void s_set_state(dd_vbus_t *self, int node, dd_vbus_state_t st, uint64_t t_ns) {
  s_node_t *n = &self->nodes[node];
  if (n->state == st) return;
  n->state = st;
  dd_vbus_ev_t ev = {.kind = DD_VBUS_EV_STATE, .node = node, .state = st, .tec = n->tec,
                     .start_ns = t_ns, .end_ns = t_ns};
  if (st == DD_VBUS_BUS_OFF) {
    ev.frame = s_err_frame(S_CAN_ERR_BUSOFF, 0, 0, t_ns);
    n->len = 0; /* a bus-off controller loses what it had queued */
  } else if (st == DD_VBUS_ERROR_PASSIVE) {
    ev.frame = s_err_frame(S_CAN_ERR_CRTL, S_CAN_ERR_CRTL_TX_PASSIVE, 0, t_ns);
  } else {
    ev.frame = s_err_frame(S_CAN_ERR_CRTL | S_CAN_ERR_RESTARTED, S_CAN_ERR_CRTL_ACTIVE, 0, t_ns);
  }
  s_push_ev(self, &ev);
}

/* ISO 11898-1:2015 12.1.4.2: TEC +8 on a transmit error, -1 on success; error passive above
 * 127, bus-off above 255. */
static void s_tec_update(dd_vbus_t *self, int node, bool error, uint64_t t_ns) {
  s_node_t *n = &self->nodes[node];
  if (error) n->tec = (uint16_t)(n->tec + 8);
  else if (n->tec) n->tec--;
  if (n->tec > 255) s_set_state(self, node, DD_VBUS_BUS_OFF, t_ns);
  else if (n->tec > 127) s_set_state(self, node, DD_VBUS_ERROR_PASSIVE, t_ns);
  else if (n->state == DD_VBUS_ERROR_PASSIVE) s_set_state(self, node, DD_VBUS_ERROR_ACTIVE, t_ns);
}

int dd_vbus_submit(dd_vbus_t *self, int node, const dd_can_frame_t *frame, uint64_t now_ns) {
  assert(self && frame);
  if (node < 0 || node >= DD_VBUS_MAX_NODES || !self->nodes[node].used) return DD_EINVAL;
  s_node_t *n = &self->nodes[node];
  if (!dd_can_frame_valid(frame) || (frame->flags & DD_CAN_F_ERR)) return DD_ECAN_FRAME;
  if ((frame->flags & DD_CAN_F_FD) && !n->fd) return DD_ECAN_NOFD;
  if (n->state == DD_VBUS_BUS_OFF) return DD_ECAN_BUSOFF;
  if (n->len == DD_VBUS_TXQ_LEN) return DD_ENOSPC;
  s_slot_t *s = &n->q[(n->head + n->len++) % DD_VBUS_TXQ_LEN];
  s->frame = *frame;
  s->frame.flags &= (uint8_t)~DD_CAN_F_TX;
  s->submit_ns = now_ns;
  return 0;
}

static bool s_fault_hits(s_fault_t *f, const dd_can_frame_t *fr) {
  if (!f->count || (!f->any && f->id != fr->id)) return false;
  f->count--;
  return true;
}

/* Earliest time >= t at which some queued frame may start; UINT64_MAX when none can. */
static uint64_t s_start_time(const dd_vbus_t *self) {
  uint64_t first = UINT64_MAX;
  for (int i = 0; i < self->n_nodes; i++) {
    const s_node_t *n = &self->nodes[i];
    if (!n->used || !n->len) continue;
    uint64_t s = n->q[n->head].submit_ns;
    if (s < first) first = s;
  }
  if (self->error_frame_pending && first == UINT64_MAX) first = 0;
  if (first == UINT64_MAX) return first;
  uint64_t t = first > self->free_at ? first : self->free_at;
  if (t < self->cut_until) t = self->cut_until;
  return t;
}

/* Start the next transmission at time t if possible (bus idle, not cut). */
static void s_start(dd_vbus_t *self, uint64_t t) {
  if (self->error_frame_pending) {
    self->error_frame_pending = false;
    self->busy = true;
    self->busy_error_frame = true;
    self->cur_node = -1;
    self->cur_start = t;
    self->cur_bits = S_ERROR_FRAME_BITS;
    self->cur_end = t + (uint64_t)S_ERROR_FRAME_BITS * 1000000000ull / self->cfg.nominal_bps;
    return;
  }
  int best = -1;
  uint64_t best_key = UINT64_MAX;
  for (int i = 0; i < self->n_nodes; i++) {
    s_node_t *n = &self->nodes[i];
    if (!n->used || !n->len || n->q[n->head].submit_ns > t) continue;
    uint64_t k = dd_vbus_arbitration_key(&n->q[n->head].frame);
    if (k < best_key) { /* equal keys: the lower node index wins, a stable rule */
      best_key = k;
      best = i;
    }
  }
  if (best < 0) return;
  const dd_can_frame_t *f = &self->nodes[best].q[self->nodes[best].head].frame;
  self->busy = true;
  self->busy_error_frame = false;
  self->cur_node = best;
  self->cur_start = t;
  uint64_t dur = dd_vbus_frame_ns(self, f, &self->cur_bits);
  self->cur_outcome = S_OUT_OK;
  if (s_fault_hits(&self->corrupt, f)) {
    /* The CRC error is flagged after the ACK delimiter (ISO 11898-1:2015 10.11.4): the frame
     * occupies the wire up to there, then the error frame and the intermission follow. */
    self->cur_outcome = S_OUT_CORRUPT;
    uint32_t nominal_tail = S_EOF_IFS_BITS;
    dur -= (uint64_t)nominal_tail * 1000000000ull / self->cfg.nominal_bps;
    dur += (uint64_t)S_ERROR_FRAME_BITS * 1000000000ull / self->cfg.nominal_bps;
    self->cur_bits = self->cur_bits - nominal_tail + S_ERROR_FRAME_BITS;
  } else if (s_fault_hits(&self->drop, f)) {
    self->cur_outcome = S_OUT_DROP;
  }
  self->cur_end = t + dur;
}

uint64_t dd_vbus_next_ns(const dd_vbus_t *self) {
  if (self->evq_len) return 0;
  if (self->busy) return self->cur_end;
  return s_start_time(self);
}

bool dd_vbus_poll(dd_vbus_t *self, uint64_t now_ns, dd_vbus_ev_t *ev) {
  assert(self && ev);
  for (;;) {
    if (self->evq_len) {
      *ev = self->evq[self->evq_head];
      self->evq_head = (self->evq_head + 1) % S_EVQ;
      self->evq_len--;
      return true;
    }
    if (!self->busy) {
      uint64_t t = s_start_time(self);
      if (t == UINT64_MAX || t > now_ns) return false;
      s_start(self, t);
      if (!self->busy) return false;
    }
    if (self->cur_end > now_ns) return false;

    /* The frame on the wire has completed. */
    self->busy = false;
    self->free_at = self->cur_end;
    self->stats.busy_ns += self->cur_end - self->cur_start;
    self->stats.bits += self->cur_bits;
    memset(ev, 0, sizeof *ev);
    ev->start_ns = self->cur_start;
    ev->end_ns = self->cur_end;
    ev->bits = self->cur_bits;
    ev->node = self->cur_node;
    if (self->busy_error_frame) {
      ev->kind = DD_VBUS_EV_ERROR;
      ev->frame = s_err_frame(S_CAN_ERR_PROT, 0, 0, self->cur_end);
      self->stats.errors++;
      return true;
    }
    s_node_t *n = &self->nodes[self->cur_node];
    ev->frame = n->q[n->head].frame;
    ev->frame.ts_us = self->cur_end / 1000;
    if (self->cur_outcome == S_OUT_CORRUPT) {
      ev->kind = DD_VBUS_EV_ERROR;
      ev->frame = s_err_frame(S_CAN_ERR_PROT, 0, S_CAN_ERR_PROT_LOC_CRC_SEQ, self->cur_end);
      self->stats.errors++;
      s_tec_update(self, self->cur_node, true, self->cur_end); /* frame stays queued: resent */
      ev->tec = n->tec;
      return true;
    }
    n->head = (n->head + 1) % DD_VBUS_TXQ_LEN;
    n->len--;
    s_tec_update(self, self->cur_node, false, self->cur_end);
    ev->tec = n->tec;
    if (self->cur_outcome == S_OUT_DROP) {
      ev->kind = DD_VBUS_EV_DROPPED;
      self->stats.dropped++;
    } else {
      ev->kind = DD_VBUS_EV_FRAME;
      self->stats.frames++;
    }
    return true;
  }
}

void dd_vbus_fault_drop(dd_vbus_t *self, bool any_id, uint32_t id, uint32_t count) {
  self->drop = (s_fault_t){any_id, id, count};
}

void dd_vbus_fault_corrupt(dd_vbus_t *self, bool any_id, uint32_t id, uint32_t count) {
  self->corrupt = (s_fault_t){any_id, id, count};
}

void dd_vbus_fault_error_frame(dd_vbus_t *self) { self->error_frame_pending = true; }

void dd_vbus_fault_bus_off(dd_vbus_t *self, int node) {
  if (node < 0 || node >= DD_VBUS_MAX_NODES || !self->nodes[node].used) return;
  self->nodes[node].tec = 256;
  s_set_state(self, node, DD_VBUS_BUS_OFF, self->free_at);
}

int dd_vbus_restart(dd_vbus_t *self, int node) {
  if (node < 0 || node >= DD_VBUS_MAX_NODES || !self->nodes[node].used) return DD_EINVAL;
  self->nodes[node].tec = 0;
  s_set_state(self, node, DD_VBUS_ERROR_ACTIVE, self->free_at);
  return 0;
}

void dd_vbus_fault_cut(dd_vbus_t *self, uint64_t now_ns, uint64_t until_ns) {
  self->cut_until = until_ns > now_ns ? until_ns : now_ns;
}

void dd_vbus_restore(dd_vbus_t *self, uint64_t now_ns) {
  self->cut_until = now_ns;
  if (self->free_at < now_ns) self->free_at = now_ns;
}

dd_vbus_stats_t dd_vbus_stats(const dd_vbus_t *self) { return self->stats; }

dd_vbus_state_t dd_vbus_node_state(const dd_vbus_t *self, int node) {
  return self->nodes[node].state;
}
