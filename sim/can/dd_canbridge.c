/* dd_canbridge: two CAN ports, each one's received frames sent on the other. */
#include "dd_canbridge.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_canmux.h"
#include "dd_err.h"
#include "dd_log.h"

#define S_RETRY_US 1000 /* retry waiting frames this often */

typedef struct s_dir s_dir_t;

struct s_dir {
  dd_canbridge_t *bridge;         /* owner */
  dd_canmux_t *from;              /* frames come from here (shared with the other direction) */
  dd_canmux_t *to;                /* and go here */
  bool fd_to;                     /* the receiving side carries CAN FD */
  char name_from[32];             /* side names, for events */
  char name_to[32];               /* side names, for events */
  dd_can_frame_t *queue;          /* frames waiting for the receiving side (ring) */
  size_t head;                    /* ring start */
  size_t len;                     /* ring fill */
  dd_canbridge_dir_stats_t stats; /* counters */
  bool said_no_fd;                /* first FD drop reported */
  bool said_overflow;             /* first overflow reported */
  bool said_tx_error;             /* first refusal reported */
};

struct dd_canbridge {
  dd_loop_t *loop;           /* not owned */
  dd_events_t *events;       /* not owned */
  dd_canmux_t *a, *b;        /* the two sides (own the ports) */
  s_dir_t ab, ba;            /* a -> b, b -> a */
  int retry_timer;           /* retry timer id, 0 = none */
  int stats_timer;           /* periodic stats timer */
  dd_canbridge_stats_t last; /* counters at the last stats event */
};

static void s_drop_event(s_dir_t *d, const char *reason, const dd_can_frame_t *f, int code) {
  char text[DD_CAN_TEXT_MAX];
  dd_events_emit(d->bridge->events, "canbridge.drop", DD_S("from", d->name_from),
                 DD_S("to", d->name_to), DD_S("reason", reason),
                 DD_S("frame", dd_can_format(f, text, sizeof text)),
                 DD_S("error", code ? dd_err_name(code) : ""), DD_END);
  dd_warn("canbridge: %s -> %s: %s (%s); reported once, counted in canbridge.stats", d->name_from,
          d->name_to, reason, text);
}

static int s_on_retry(dd_loop_t *loop, int id, void *arg);

static void s_arm_retry(dd_canbridge_t *self) {
  if (self->retry_timer) return;
  int id = dd_loop_timer_after(self->loop, S_RETRY_US, s_on_retry, self);
  if (id > 0) self->retry_timer = id;
}

/* Send f now; returns 0 when sent or finally refused, DD_EAGAIN when it must wait. */
static int s_try(s_dir_t *d, const dd_can_frame_t *f) {
  int rc = dd_canmux_send(d->to, f);
  if (rc == 0) {
    d->stats.forwarded++;
    return 0;
  }
  if (rc == DD_EAGAIN || rc == DD_ENOSPC) return DD_EAGAIN; /* transmit queue full */
  d->stats.tx_errors++;
  if (!d->said_tx_error) {
    d->said_tx_error = true;
    s_drop_event(d, "refused by the receiving side", f, rc);
  }
  return 0;
}

static void s_drain(s_dir_t *d) {
  while (d->len) {
    if (s_try(d, &d->queue[d->head]) == DD_EAGAIN) {
      s_arm_retry(d->bridge);
      return;
    }
    d->head = (d->head + 1) % DD_CANBRIDGE_QUEUE;
    d->len--;
  }
}

static int s_on_retry(dd_loop_t *loop, int id, void *arg) {
  dd_canbridge_t *self = arg;
  self->retry_timer = 0;
  s_drain(&self->ab);
  s_drain(&self->ba);
  return 0;
}

static void s_on_frame(const dd_can_frame_t *in, uint64_t now_us, void *arg) {
  s_dir_t *d = arg;
  if (in->flags & DD_CAN_F_TX) { /* our own frame on this side, should it come back */
    d->stats.echoes++;
    return;
  }
  if (in->flags & DD_CAN_F_ERR) {
    d->stats.err_frames++;
    return;
  }
  if ((in->flags & DD_CAN_F_FD) && !d->fd_to) {
    d->stats.no_fd++;
    if (!d->said_no_fd) {
      d->said_no_fd = true;
      s_drop_event(d, "CAN FD frame for a classic CAN side", in, DD_ECAN_NOFD);
    }
    return;
  }
  dd_can_frame_t f = *in;
  f.ts_us = 0;
  if (!d->len && s_try(d, &f) == 0) return;
  if (d->len == DD_CANBRIDGE_QUEUE) {
    d->stats.overflow++;
    if (!d->said_overflow) {
      d->said_overflow = true;
      s_drop_event(d, "receiving side too slow: waiting queue full", in, DD_ENOSPC);
    }
    return;
  }
  d->queue[(d->head + d->len++) % DD_CANBRIDGE_QUEUE] = f;
  d->stats.retried++;
  s_arm_retry(d->bridge);
}

static bool s_changed(const dd_canbridge_dir_stats_t *x, const dd_canbridge_dir_stats_t *y) {
  return memcmp(x, y, sizeof *x) != 0;
}

static void s_emit_stats(dd_canbridge_t *self, const char *kind) {
  const dd_canbridge_dir_stats_t *ab = &self->ab.stats, *ba = &self->ba.stats;
  char k_ab[48], k_ba[48];
  snprintf(k_ab, sizeof k_ab, "%s_to_%s", self->ab.name_from, self->ab.name_to);
  snprintf(k_ba, sizeof k_ba, "%s_to_%s", self->ba.name_from, self->ba.name_to);
  dd_events_emit(self->events, kind, DD_I(k_ab, (int64_t)ab->forwarded),
                 DD_I(k_ba, (int64_t)ba->forwarded),
                 DD_I("dropped_no_fd", (int64_t)(ab->no_fd + ba->no_fd)),
                 DD_I("dropped_overflow", (int64_t)(ab->overflow + ba->overflow)),
                 DD_I("tx_errors", (int64_t)(ab->tx_errors + ba->tx_errors)),
                 DD_I("waited", (int64_t)(ab->retried + ba->retried)),
                 DD_I("err_frames", (int64_t)(ab->err_frames + ba->err_frames)), DD_END);
  self->last = dd_canbridge_stats(self);
}

static int s_on_stats(dd_loop_t *loop, int id, void *arg) {
  dd_canbridge_t *self = arg;
  if (s_changed(&self->ab.stats, &self->last.a_to_b) ||
      s_changed(&self->ba.stats, &self->last.b_to_a))
    s_emit_stats(self, "canbridge.stats");
  return 0;
}

static int s_dir_init(dd_canbridge_t *self, s_dir_t *d, dd_canmux_t *from, dd_canmux_t *to,
                      bool fd_to, const char *name_from, const char *name_to) {
  d->bridge = self;
  d->from = from;
  d->to = to;
  d->fd_to = fd_to;
  snprintf(d->name_from, sizeof d->name_from, "%s", name_from);
  snprintf(d->name_to, sizeof d->name_to, "%s", name_to);
  d->queue = calloc(DD_CANBRIDGE_QUEUE, sizeof *d->queue);
  if (!d->queue) return DD_ENOMEM;
  int id = dd_canmux_listen(from, s_on_frame, d);
  return id < 0 ? id : 0;
}

int dd_canbridge_new(dd_loop_t *loop, dd_events_t *events, dd_canport_t *a, dd_canport_t *b,
                     const dd_canbridge_cfg_t *cfg, dd_canbridge_t **out) {
  assert(loop && events && a && b && cfg && out);
  *out = NULL;
  dd_canbridge_t *self = calloc(1, sizeof *self);
  if (!self) {
    dd_canport_destroy(&a);
    dd_canport_destroy(&b);
    return DD_ENOMEM;
  }
  self->loop = loop;
  self->events = events;
  int rc = dd_canmux_new(loop, a, &self->a); /* each mux owns its port, even on failure */
  if (rc < 0) {
    dd_canport_destroy(&b);
    goto out_free;
  }
  rc = dd_canmux_new(loop, b, &self->b);
  if (rc < 0) goto out_free;
  const char *na = cfg->name_a ? cfg->name_a : "a", *nb = cfg->name_b ? cfg->name_b : "b";
  rc = s_dir_init(self, &self->ab, self->a, self->b, cfg->fd_b, na, nb);
  if (rc == 0) rc = s_dir_init(self, &self->ba, self->b, self->a, cfg->fd_a, nb, na);
  if (rc < 0) goto out_free;
  uint64_t every = cfg->stats_interval_us ? cfg->stats_interval_us : DD_US_PER_S;
  self->stats_timer = dd_loop_timer_every(loop, every, s_on_stats, self);
  if (self->stats_timer < 0) {
    rc = self->stats_timer;
    self->stats_timer = 0;
    goto out_free;
  }
  dd_events_emit(events, "canbridge.up", DD_S("a", na), DD_S("b", nb), DD_B("fd_a", cfg->fd_a),
                 DD_B("fd_b", cfg->fd_b), DD_END);
  *out = self;
  return 0;
out_free:
  dd_canmux_destroy(&self->a);
  dd_canmux_destroy(&self->b);
  free(self->ab.queue);
  free(self->ba.queue);
  free(self);
  return rc;
}

void dd_canbridge_destroy(dd_canbridge_t **self_p) {
  assert(self_p);
  dd_canbridge_t *self = *self_p;
  if (!self) return;
  s_emit_stats(self, "canbridge.down");
  if (self->retry_timer) dd_loop_timer_cancel(self->loop, self->retry_timer);
  if (self->stats_timer) dd_loop_timer_cancel(self->loop, self->stats_timer);
  dd_canmux_destroy(&self->a);
  dd_canmux_destroy(&self->b);
  free(self->ab.queue);
  free(self->ba.queue);
  free(self);
  *self_p = NULL;
}

dd_canbridge_stats_t dd_canbridge_stats(const dd_canbridge_t *self) {
  return (dd_canbridge_stats_t){.a_to_b = self->ab.stats, .b_to_a = self->ba.stats};
}

dd_canport_t *dd_canbridge_port_a(dd_canbridge_t *self) { return dd_canmux_port(self->a); }
dd_canport_t *dd_canbridge_port_b(dd_canbridge_t *self) { return dd_canmux_port(self->b); }
