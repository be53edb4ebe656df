/* dd_canport_vbus: a DEALER socket to the virtual bus's ROUTER; CanFrame envelopes each way. */
#include "dd_canport_vbus.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "dd_err.h"
#include "dd_log.h"
#include "dd_wire.h"

/* Frames handed to the bus but not yet echoed back as sent. A SocketCAN device queues frames in
 * its transmit queue the same way; the window keeps the bus busy without flooding it. */
#define S_WINDOW 32
#define S_PENDING_MAX 4096 /* frames a node may have waiting (beyond: DD_ENOSPC, as ENOBUFS) */

typedef struct {
  void *sock;              /* DEALER connected to the bus */
  bool user_loopback;      /* the user wants echoes of own frames */
  unsigned in_flight;      /* frames at the bus, not yet echoed */
  dd_can_frame_t *pend;    /* frames waiting for room in the window (ring) */
  unsigned pend_head;      /* ring start */
  unsigned pend_len;       /* ring fill */
  char name[64];           /* node name */
  bool attached;           /* CanAttached received */
  uint32_t nominal_bps;    /* bus bit rates, once attached */
  uint32_t data_bps;       /* data-phase rate */
  uint64_t seq;            /* envelope sequence */
  dd_wire_stats_t ws;      /* rejected messages */
} s_vbus_port_t;

static int s_send_now(s_vbus_port_t *p, const dd_can_frame_t *f) {
  Duodiag__CanFrame cf = DUODIAG__CAN_FRAME__INIT;
  cf.id = f->id;
  cf.flags = f->flags;
  cf.data.data = (uint8_t *)f->data;
  cf.data.len = f->len;
  Duodiag__Envelope env;
  dd_wire_envelope_init(&env, p->name, ++p->seq, 0);
  env.body_case = DUODIAG__ENVELOPE__BODY_CAN_FRAME;
  env.can_frame = &cf;
  int rc = dd_wire_send(p->sock, &env, ZMQ_DONTWAIT);
  if (rc == 0) p->in_flight++;
  return rc;
}

/* Move waiting frames to the bus while the window has room. */
static void s_flush(s_vbus_port_t *p) {
  while (p->pend_len && p->in_flight < S_WINDOW) {
    if (s_send_now(p, &p->pend[p->pend_head]) < 0) return;
    p->pend_head = (p->pend_head + 1) % S_PENDING_MAX;
    p->pend_len--;
  }
}

static int s_send(void *impl, const dd_can_frame_t *f) {
  s_vbus_port_t *p = impl;
  if (p->pend_len == S_PENDING_MAX) return DD_ENOSPC;
  p->pend[(p->pend_head + p->pend_len++) % S_PENDING_MAX] = *f;
  s_flush(p);
  return 0;
}

static int s_recv(void *impl, dd_can_frame_t *f) {
  s_vbus_port_t *p = impl;
  for (;;) {
    Duodiag__Envelope *env = NULL;
    int rc = dd_wire_recv(p->sock, &env, &p->ws, ZMQ_DONTWAIT);
    if (rc == DD_EAGAIN) return DD_EAGAIN;
    if (rc < 0) {
      dd_warn("vbus port: rejected a message from the bus: %s", dd_strerror(rc));
      continue;
    }
    switch (env->body_case) {
    case DUODIAG__ENVELOPE__BODY_CAN_ATTACHED:
      p->attached = true;
      p->nominal_bps = env->can_attached->nominal_bps;
      p->data_bps = env->can_attached->data_bps;
      break;
    case DUODIAG__ENVELOPE__BODY_CAN_TX_ERROR:
      if (p->in_flight) p->in_flight--; /* a refused frame will not be echoed */
      s_flush(p);
      dd_warn("vbus port: the bus refused a frame: %s", env->can_tx_error->text);
      break;
    case DUODIAG__ENVELOPE__BODY_CAN_FRAME: {
      const Duodiag__CanFrame *cf = env->can_frame;
      memset(f, 0, sizeof *f);
      f->id = cf->id;
      f->flags = (uint8_t)cf->flags;
      f->len = (uint8_t)cf->data.len;
      if (cf->data.len) memcpy(f->data, cf->data.data, cf->data.len); /* NULL when empty */
      f->ts_us = cf->ts_us;
      dd_wire_free(&env);
      if (f->flags & DD_CAN_F_TX) { /* our own frame has left: room in the window */
        if (p->in_flight) p->in_flight--;
        s_flush(p);
        if (!p->user_loopback) continue;
      }
      if (!dd_can_frame_valid(f) && !(f->flags & DD_CAN_F_ERR)) continue;
      return 0;
    }
    default:
      dd_warn("vbus port: unexpected %s from the bus", dd_wire_body_name(env));
      break;
    }
    dd_wire_free(&env);
  }
}

static void *s_zsock(void *impl) { return ((s_vbus_port_t *)impl)->sock; }

static void s_destroy(void *impl) {
  s_vbus_port_t *p = impl;
  if (p->sock) zmq_close(p->sock);
  free(p->pend);
  free(p);
}

static const dd_canport_ops_t s_ops = {
    .kind = "vbus", .send = s_send, .recv = s_recv, .poll_zsock = s_zsock, .destroy = s_destroy};

int dd_canport_vbus_open(void *zctx, const char *endpoint, const char *node_name,
                         const dd_canport_opts_t *opts, dd_canport_t **out) {
  assert(zctx && endpoint && node_name && out);
  s_vbus_port_t *p = calloc(1, sizeof *p);
  if (!p) return DD_ENOMEM;
  snprintf(p->name, sizeof p->name, "%s", node_name);
  dd_wire_stats_init(&p->ws);
  p->pend = calloc(S_PENDING_MAX, sizeof *p->pend);
  if (!p->pend) {
    free(p);
    return DD_ENOMEM;
  }
  p->user_loopback = opts && opts->loopback;
  p->sock = zmq_socket(zctx, ZMQ_DEALER);
  int zero = 0, linger = 1000;
  zmq_setsockopt(p->sock, ZMQ_SNDHWM, &zero, sizeof zero);
  zmq_setsockopt(p->sock, ZMQ_RCVHWM, &zero, sizeof zero);
  zmq_setsockopt(p->sock, ZMQ_LINGER, &linger, sizeof linger);
  dd_wire_limit_socket(p->sock);
  if (zmq_connect(p->sock, endpoint) != 0) {
    int rc = -errno;
    dd_error("vbus port: cannot connect to %s: %s", endpoint, zmq_strerror(errno));
    s_destroy(p);
    return rc;
  }
  Duodiag__CanAttach att = DUODIAG__CAN_ATTACH__INIT;
  att.node = p->name;
  att.fd = opts && opts->fd;
  att.loopback = true; /* always: the echo tells the port a frame has left (see S_WINDOW) */
  att.err_frames = opts && opts->err_frames;
  Duodiag__Envelope env;
  dd_wire_envelope_init(&env, p->name, ++p->seq, 0);
  env.body_case = DUODIAG__ENVELOPE__BODY_CAN_ATTACH;
  env.can_attach = &att;
  int rc = dd_wire_send(p->sock, &env, 0);
  if (rc < 0) {
    s_destroy(p);
    return rc;
  }
  *out = dd_canport_new(&s_ops, p);
  return *out ? 0 : DD_ENOMEM;
}

bool dd_canport_vbus_attached(dd_canport_t *port, uint32_t *nominal_bps, uint32_t *data_bps) {
  assert(!strcmp(dd_canport_kind(port), "vbus"));
  s_vbus_port_t *p = dd_canport_impl(port);
  if (nominal_bps) *nominal_bps = p->nominal_bps;
  if (data_bps) *data_bps = p->data_bps;
  return p->attached;
}
