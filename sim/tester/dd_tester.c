/* dd_tester: dd_uds_client over dd_isotp_link. */
#include "dd_tester.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "dd_err.h"
#include "dd_isotp_link.h"
#include "dd_log.h"

#define S_MAX_CONFIRM 8 /* messages awaiting their bus echo at once */

struct dd_tester {
  dd_canmux_t *mux;          /* the port (not owned) */
  dd_isotp_link_t *link;     /* ISO-TP channel */
  dd_uds_client_t *uds;      /* the client state machine */
  dd_loop_deadline_t timer;  /* loop timer at the client's next deadline */
  dd_tester_fn fn;           /* callback of the current request */
  void *arg;                 /* its argument */
  uint32_t tx_id;            /* client id of the message ISO-TP is sending */
  dd_isotp_cfg_t isotp;      /* channel configuration (ids for echo matching) */
  bool by_echo;              /* confirm requests by the port's TX echo */
  int listener;              /* canmux listener counting echoes */
  uint64_t echoes;           /* echoes of our frames seen */
  struct {
    uint64_t at;             /* echoes needed before this confirmation */
    uint32_t id;             /* client id of the message awaiting its echo */
  } confirm[S_MAX_CONFIRM];  /* messages ISO-TP has sent whose last frame the bus has not
                                echoed yet, oldest first (a TesterPresent may follow a
                                request before the request's echoes are all back) */
  size_t n_confirm;          /* entries of confirm */
  /* dd_tester_call's result */
  bool call_done;            /* final result arrived */
  int call_status;           /* its status */
  uint8_t call_nrc;          /* its NRC */
  uint8_t *call_resp;        /* where the response goes */
  size_t call_cap, call_len; /* its room and length */
};

static dd_loop_t *s_loop(dd_tester_t *self) { return dd_canmux_loop(self->mux); }
static int s_on_timer(dd_loop_t *loop, int id, void *arg);

static void s_pump(dd_tester_t *self) {
  uint64_t now = dd_loop_now(s_loop(self));
  dd_uds_client_tx_t tx;
  /* ISO-TP carries one message at a time: hand over the next only when it is free. */
  while (!dd_isotp_tx_busy(dd_isotp_link_core(self->link)) &&
         dd_uds_client_poll(self->uds, now, &tx) == 1) {
    self->tx_id = tx.id;
    int rc = tx.functional ? dd_isotp_link_send_functional(self->link, tx.data, tx.len)
                           : dd_isotp_link_send(self->link, tx.data, tx.len);
    if (rc < 0) dd_uds_client_on_tx_error(self->uds, rc, now);
  }
  dd_uds_result_t res;
  while (dd_uds_client_take_result(self->uds, &res)) {
    dd_tester_fn fn = self->fn;
    void *arg = self->arg;
    if (res.final) self->fn = NULL;
    if (fn) fn(self, &res, arg);
  }
  dd_loop_deadline_set(s_loop(self), &self->timer, dd_uds_client_next_deadline(self->uds),
                       s_on_timer, self);
}

static int s_on_timer(dd_loop_t *loop, int id, void *arg) {
  dd_tester_t *self = arg;
  s_pump(self);
  return 0;
}

static void s_on_isotp(dd_isotp_link_t *link, const dd_isotp_event_t *ev, void *arg) {
  dd_tester_t *self = arg;
  uint64_t now = dd_loop_now(s_loop(self));
  switch (ev->kind) {
  case DD_ISOTP_EV_RX_DONE:
    dd_uds_client_on_response(self->uds, ev->data, ev->len, 0, now);
    break;
  case DD_ISOTP_EV_TX_DONE:
    /* ISO 14229-2: P2client runs from the confirmation that the request went out. */
    if (self->by_echo && self->echoes < dd_isotp_link_frames_sent(self->link)) {
      if (self->n_confirm == S_MAX_CONFIRM) { /* never with one request at a time: be safe */
        dd_uds_client_on_tx_done(self->uds, self->confirm[0].id, now);
        memmove(self->confirm, self->confirm + 1, --self->n_confirm * sizeof self->confirm[0]);
      }
      self->confirm[self->n_confirm].at = dd_isotp_link_frames_sent(self->link);
      self->confirm[self->n_confirm++].id = self->tx_id;
    } else {
      dd_uds_client_on_tx_done(self->uds, self->tx_id, now);
    }
    break;
  case DD_ISOTP_EV_TX_ERROR:
    dd_uds_client_on_tx_error(self->uds, ev->error, now);
    break;
  default:
    break;
  }
  s_pump(self);
}

static void s_on_frame(const dd_can_frame_t *f, uint64_t now, void *arg) {
  dd_tester_t *self = arg;
  /* Our frames: physical and functional requests, and our flow controls. */
  bool ours = f->id == self->isotp.tx_id ||
              (self->isotp.func_tx_id != DD_ISOTP_ID_NONE && f->id == self->isotp.func_tx_id);
  if (!(f->flags & DD_CAN_F_TX) || !ours || !(f->flags & DD_CAN_F_EFF) != !self->isotp.ext_id)
    return;
  self->echoes++;
  bool done = false;
  while (self->n_confirm && self->echoes >= self->confirm[0].at) {
    uint32_t id = self->confirm[0].id;
    memmove(self->confirm, self->confirm + 1, --self->n_confirm * sizeof self->confirm[0]);
    dd_uds_client_on_tx_done(self->uds, id, now);
    done = true;
  }
  if (done) s_pump(self);
}

void dd_tester_confirm_by_echo(dd_tester_t *self, bool on) {
  self->by_echo = on;
  self->echoes = dd_isotp_link_frames_sent(self->link);
}

int dd_tester_new(dd_canmux_t *mux, const dd_isotp_cfg_t *isotp, const dd_uds_client_cfg_t *uds,
                  dd_tester_t **out) {
  assert(mux && isotp && out);
  dd_tester_t *self = calloc(1, sizeof *self);
  if (!self) return DD_ENOMEM;
  self->mux = mux;
  self->isotp = *isotp;
  dd_uds_client_cfg_t ucfg;
  if (uds) ucfg = *uds;
  else dd_uds_client_cfg_default(&ucfg);
  /* ISO-TP confirms every message it sends (TX_DONE, or the bus echo): P2 starts there. A
   * 4095-byte request takes 130-170 ms on a 500 kbit/s bus, longer than P2 itself. */
  if (!ucfg.tx_confirm_us) ucfg.tx_confirm_us = 30 * 1000000ull;
  self->uds = dd_uds_client_new(&ucfg);
  int rc = self->uds ? dd_isotp_link_new(mux, isotp, s_on_isotp, self, &self->link) : DD_EINVAL;
  if (rc == 0) {
    self->listener = dd_canmux_listen(mux, s_on_frame, self);
    if (self->listener < 0) rc = self->listener;
  }
  if (rc < 0) {
    dd_tester_destroy(&self);
    return rc;
  }
  *out = self;
  return 0;
}

void dd_tester_destroy(dd_tester_t **self_p) {
  assert(self_p);
  dd_tester_t *self = *self_p;
  if (!self) return;
  dd_loop_deadline_set(s_loop(self), &self->timer, DD_NEVER, s_on_timer, self);
  if (self->listener > 0) dd_canmux_unlisten(self->mux, self->listener);
  dd_isotp_link_destroy(&self->link);
  dd_uds_client_destroy(&self->uds);
  free(self);
  *self_p = NULL;
}

int dd_tester_request(dd_tester_t *self, const uint8_t *req, size_t len, bool functional,
                      dd_tester_fn fn, void *arg) {
  int rc = dd_uds_client_request(self->uds, req, len, functional, dd_loop_now(s_loop(self)));
  if (rc < 0) return rc;
  self->fn = fn;
  self->arg = arg;
  s_pump(self);
  return 0;
}

static void s_on_call(dd_tester_t *self, const dd_uds_result_t *res, void *arg) {
  if (res->data && self->call_resp) {
    size_t n = res->len < self->call_cap ? res->len : self->call_cap;
    memcpy(self->call_resp, res->data, n);
    self->call_len = n;
  }
  if (!res->final) return;
  self->call_done = true;
  self->call_status = res->status;
  self->call_nrc = res->nrc;
}

int dd_tester_call(dd_tester_t *self, const uint8_t *req, size_t len, bool functional,
                   uint64_t timeout_us, uint8_t *resp, size_t cap, size_t *resp_len,
                   uint8_t *nrc) {
  self->call_done = false;
  self->call_resp = resp;
  self->call_cap = resp ? cap : 0;
  self->call_len = 0;
  int rc = dd_tester_request(self, req, len, functional, s_on_call, NULL);
  if (rc < 0) return rc;
  dd_loop_t *loop = s_loop(self);
  dd_clock_t *clk = dd_loop_clock(loop);
  uint64_t end = dd_clock_now_us(clk) + timeout_us;
  while (!self->call_done) {
    uint64_t now = dd_clock_now_us(clk);
    if (now >= end) {
      dd_uds_client_cancel(self->uds);
      self->fn = NULL;
      return DD_ETIMEDOUT;
    }
    rc = dd_loop_step(loop, end - now);
    if (rc < 0) return rc;
  }
  if (resp_len) *resp_len = self->call_len;
  if (nrc) *nrc = self->call_nrc;
  return self->call_status;
}

dd_uds_client_t *dd_tester_client(dd_tester_t *self) { return self->uds; }
bool dd_tester_busy(const dd_tester_t *self) { return dd_uds_client_busy(self->uds); }
