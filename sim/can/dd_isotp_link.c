/* dd_isotp_link: glue between dd_isotp, a dd_canmux and the loop's timers. */
#include "dd_isotp_link.h"

#include <assert.h>
#include <stdlib.h>

#include "dd_err.h"
#include "dd_log.h"

struct dd_isotp_link {
  dd_canmux_t *mux;        /* port fan-out, not owned */
  dd_isotp_t *tp;          /* the protocol core */
  int listener;            /* mux listener id */
  dd_loop_deadline_t timer; /* loop timer at the core's next deadline */
  dd_isotp_link_fn fn;     /* event callback */
  void *arg;               /* its argument */
  uint64_t frames_sent;    /* frames handed to the port */
};

static int s_on_timer(dd_loop_t *loop, int id, void *arg);

/* Emit due frames, hand out events, and re-arm the timer for the next deadline. */
static void s_pump(dd_isotp_link_t *self, uint64_t now) {
  dd_can_frame_t f;
  while (dd_isotp_poll(self->tp, now, &f) == 1) {
    int rc = dd_canmux_send(self->mux, &f);
    if (rc < 0) dd_warn("isotp: frame not sent: %s", dd_strerror(rc));
    else self->frames_sent++;
  }
  dd_isotp_event_t ev;
  while (dd_isotp_take_event(self->tp, &ev))
    if (self->fn) self->fn(self, &ev, self->arg);
  dd_loop_deadline_set(dd_canmux_loop(self->mux), &self->timer, dd_isotp_next_deadline(self->tp),
                       s_on_timer, self);
}

static int s_on_timer(dd_loop_t *loop, int id, void *arg) {
  dd_isotp_link_t *self = arg;
  s_pump(self, dd_loop_now(loop));
  return 0;
}

static void s_on_frame(const dd_can_frame_t *f, uint64_t now, void *arg) {
  dd_isotp_link_t *self = arg;
  if (f->flags & (DD_CAN_F_TX | DD_CAN_F_ERR)) return;
  if (dd_isotp_on_frame(self->tp, f, now) == 1) s_pump(self, now);
}

int dd_isotp_link_new(dd_canmux_t *mux, const dd_isotp_cfg_t *cfg, dd_isotp_link_fn fn, void *arg,
                      dd_isotp_link_t **out) {
  assert(mux && cfg && out);
  dd_isotp_link_t *self = calloc(1, sizeof *self);
  if (!self) return DD_ENOMEM;
  self->mux = mux;
  self->fn = fn;
  self->arg = arg;
  self->tp = dd_isotp_new(cfg);
  if (!self->tp) {
    free(self);
    return DD_ECONFIG;
  }
  int id = dd_canmux_listen(mux, s_on_frame, self);
  if (id < 0) {
    dd_isotp_destroy(&self->tp);
    free(self);
    return id;
  }
  self->listener = id;
  *out = self;
  return 0;
}

void dd_isotp_link_destroy(dd_isotp_link_t **self_p) {
  assert(self_p);
  dd_isotp_link_t *self = *self_p;
  if (!self) return;
  dd_canmux_unlisten(self->mux, self->listener);
  dd_loop_deadline_set(dd_canmux_loop(self->mux), &self->timer, DD_NEVER, s_on_timer, self);
  dd_isotp_destroy(&self->tp);
  free(self);
  *self_p = NULL;
}

int dd_isotp_link_send(dd_isotp_link_t *self, const uint8_t *data, size_t len) {
  uint64_t now = dd_loop_now(dd_canmux_loop(self->mux));
  int rc = dd_isotp_send(self->tp, data, len, now);
  if (rc == 0) s_pump(self, now);
  return rc;
}

int dd_isotp_link_send_functional(dd_isotp_link_t *self, const uint8_t *data, size_t len) {
  uint64_t now = dd_loop_now(dd_canmux_loop(self->mux));
  int rc = dd_isotp_send_functional(self->tp, data, len, now);
  if (rc == 0) s_pump(self, now);
  return rc;
}

dd_isotp_t *dd_isotp_link_core(dd_isotp_link_t *self) { return self->tp; }

uint64_t dd_isotp_link_frames_sent(const dd_isotp_link_t *self) { return self->frames_sent; }
