/* dd_vbus_server: ZeroMQ front of the virtual bus model. */
#include "dd_vbus_server.h"

#include <assert.h>
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "dd_candump.h"
#include "dd_err.h"
#include "dd_log.h"
#include "dd_pcap.h"
#include "dd_vbus.h"
#include "dd_wire.h"

/* Lateness histogram: 10 us buckets up to 100 ms, the last bucket takes the rest. */
#define S_LATE_BUCKET_US 10
#define S_LATE_BUCKETS 10000

typedef struct {
  uint8_t id[DD_WIRE_IDENTITY_MAX]; /* ZeroMQ routing id */
  size_t idlen;                     /* its length; 0 = slot unused */
  int node;                         /* index in the model */
  bool loopback;                    /* echo own frames */
  bool err_frames;                  /* wants error frames */
} s_peer_t;

struct dd_vbus_server {
  dd_proc_t *proc;                     /* owning process */
  dd_vbus_server_cfg_t cfg;            /* configuration (strings not owned) */
  dd_vbus_t *bus;                      /* the model */
  void *router;                        /* nodes connect here */
  s_peer_t peers[DD_VBUS_MAX_NODES];   /* by model node index */
  int timer;                           /* next model deadline timer, 0 if none */
  int load_timer;                      /* bus-load period timer */
  dd_vbus_stats_t last;                /* stats at the previous load event */
  uint64_t last_us;                    /* time of the previous load event */
  uint64_t seq;                        /* envelope sequence */
  dd_wire_stats_t ws;                  /* rejected messages */
  dd_candump_writer_t *candump;        /* candump -l trace, or NULL */
  dd_pcap_writer_t *pcap;              /* pcap trace, or NULL */
  uint32_t *late;                      /* lateness histogram */
  uint64_t late_n;                     /* samples */
  double late_max;                     /* worst */
};

static uint64_t s_now_ns(dd_vbus_server_t *self) {
  return dd_loop_now(dd_proc_loop(self->proc)) * 1000ull;
}

static void s_late_add(dd_vbus_server_t *self, uint64_t now_us, uint64_t end_ns) {
  double late = (double)now_us - (double)end_ns / 1000.0;
  if (late < 0) late = 0;
  size_t b = (size_t)(late / S_LATE_BUCKET_US);
  if (b >= S_LATE_BUCKETS) b = S_LATE_BUCKETS - 1;
  self->late[b]++;
  self->late_n++;
  if (late > self->late_max) self->late_max = late;
}

static double s_late_quantile(const dd_vbus_server_t *self, double q) {
  if (!self->late_n) return 0;
  uint64_t want = (uint64_t)(q * (double)self->late_n), acc = 0;
  for (size_t b = 0; b < S_LATE_BUCKETS; b++) {
    acc += self->late[b];
    if (acc > want) return (double)(b * S_LATE_BUCKET_US) + S_LATE_BUCKET_US / 2.0;
  }
  return self->late_max;
}

dd_vbus_timing_t dd_vbus_server_timing(const dd_vbus_server_t *self) {
  return (dd_vbus_timing_t){self->late_n, s_late_quantile(self, 0.5),
                            s_late_quantile(self, 0.99), self->late_max};
}

static void s_send_to_peer(dd_vbus_server_t *self, const s_peer_t *p, Duodiag__Envelope *env) {
  int rc = dd_wire_send_to(self->router, p->id, p->idlen, env, ZMQ_DONTWAIT);
  if (rc < 0 && rc != -EHOSTUNREACH)
    dd_warn("bus: delivery to %s failed: %s", dd_vbus_node_name(self->bus, p->node),
            dd_strerror(rc));
}

static void s_deliver(dd_vbus_server_t *self, const dd_vbus_ev_t *ev) {
  Duodiag__CanFrame cf = DUODIAG__CAN_FRAME__INIT;
  cf.id = ev->frame.id;
  cf.data.data = (uint8_t *)ev->frame.data;
  cf.data.len = ev->frame.len;
  cf.ts_us = ev->end_ns / 1000;
  Duodiag__Envelope env;
  dd_wire_envelope_init(&env, dd_proc_name(self->proc), ++self->seq,
                        dd_loop_now(dd_proc_loop(self->proc)));
  env.body_case = DUODIAG__ENVELOPE__BODY_CAN_FRAME;
  env.can_frame = &cf;
  for (int i = 0; i < DD_VBUS_MAX_NODES; i++) {
    const s_peer_t *p = &self->peers[i];
    if (!p->idlen) continue;
    bool sender = ev->node == i;
    switch (ev->kind) {
    case DD_VBUS_EV_FRAME:
      if (sender && !p->loopback) continue;
      break;
    case DD_VBUS_EV_DROPPED: /* the transmitter saw its frame go out; nobody received it */
      if (!sender || !p->loopback) continue;
      break;
    case DD_VBUS_EV_ERROR:
    case DD_VBUS_EV_STATE:
      if (!p->err_frames) continue;
      if (ev->kind == DD_VBUS_EV_STATE && !sender) continue;
      break;
    }
    cf.flags = ev->frame.flags | (sender && ev->kind <= DD_VBUS_EV_DROPPED ? DD_CAN_F_TX : 0);
    s_send_to_peer(self, p, &env);
  }
}

static const char *s_state_name(dd_vbus_state_t st) {
  return st == DD_VBUS_BUS_OFF ? "bus-off" : st == DD_VBUS_ERROR_PASSIVE ? "error-passive"
                                                                          : "error-active";
}

static int s_on_timer(dd_loop_t *loop, int id, void *arg);

/* Run the model up to now, deliver what completed, and set the timer for what comes next. */
static void s_service(dd_vbus_server_t *self) {
  dd_loop_t *loop = dd_proc_loop(self->proc);
  uint64_t now_ns = s_now_ns(self);
  dd_vbus_ev_t ev;
  while (dd_vbus_poll(self->bus, now_ns, &ev)) {
    if (ev.kind == DD_VBUS_EV_FRAME || ev.kind == DD_VBUS_EV_DROPPED)
      s_late_add(self, dd_loop_now(loop), ev.end_ns);
    s_deliver(self, &ev);
    if (ev.kind == DD_VBUS_EV_FRAME || ev.kind == DD_VBUS_EV_ERROR) {
      /* Traces show what a receiver on the bus saw: every frame and every error frame. */
      if (self->candump) dd_candump_writer_write(self->candump, self->cfg.iface, &ev.frame);
      if (self->pcap) dd_pcap_writer_write(self->pcap, &ev.frame);
    }
    if (ev.kind == DD_VBUS_EV_DROPPED) {
      char txt[DD_CAN_TEXT_MAX];
      dd_events_emit(dd_proc_events(self->proc), "can.fault.dropped",
                     DD_S("frame", dd_can_format(&ev.frame, txt, sizeof txt)),
                     DD_S("node", dd_vbus_node_name(self->bus, ev.node)), DD_END);
    } else if (ev.kind == DD_VBUS_EV_ERROR) {
      dd_events_emit(dd_proc_events(self->proc), "can.error_frame",
                     DD_S("node", ev.node >= 0 ? dd_vbus_node_name(self->bus, ev.node) : ""),
                     DD_I("tec", ev.tec), DD_END);
    } else if (ev.kind == DD_VBUS_EV_STATE) {
      dd_events_emit(dd_proc_events(self->proc), "can.node_state",
                     DD_S("node", dd_vbus_node_name(self->bus, ev.node)),
                     DD_S("state", s_state_name(ev.state)), DD_I("tec", ev.tec), DD_END);
    }
  }
  uint64_t next = dd_vbus_next_ns(self->bus);
  if (self->timer) {
    dd_loop_timer_cancel(loop, self->timer);
    self->timer = 0;
  }
  if (next != UINT64_MAX) {
    uint64_t at_us = (next + 999) / 1000; /* never wake before the frame's end */
    int id = dd_loop_timer_at(loop, at_us, s_on_timer, self);
    if (id > 0) self->timer = id;
  }
}

static int s_on_timer(dd_loop_t *loop, int id, void *arg) {
  dd_vbus_server_t *self = arg;
  self->timer = 0;
  s_service(self);
  return 0;
}

static int s_peer_by_id(dd_vbus_server_t *self, const uint8_t *id, size_t idlen) {
  for (int i = 0; i < DD_VBUS_MAX_NODES; i++)
    if (self->peers[i].idlen == idlen && !memcmp(self->peers[i].id, id, idlen)) return i;
  return -1;
}

static void s_reply_error(dd_vbus_server_t *self, const uint8_t *id, size_t idlen, int code,
                          const char *text) {
  Duodiag__CanTxError e = DUODIAG__CAN_TX_ERROR__INIT;
  e.code = code;
  e.text = (char *)text;
  Duodiag__Envelope env;
  dd_wire_envelope_init(&env, dd_proc_name(self->proc), ++self->seq,
                        dd_loop_now(dd_proc_loop(self->proc)));
  env.body_case = DUODIAG__ENVELOPE__BODY_CAN_TX_ERROR;
  env.can_tx_error = &e;
  dd_wire_send_to(self->router, id, idlen, &env, ZMQ_DONTWAIT);
}

static void s_on_attach(dd_vbus_server_t *self, const uint8_t *id, size_t idlen,
                        const Duodiag__CanAttach *a) {
  int old = s_peer_by_id(self, id, idlen);
  if (old >= 0) { /* a node that reconnects under the same id starts afresh */
    dd_vbus_detach(self->bus, old);
    self->peers[old].idlen = 0;
  }
  int node = dd_vbus_attach(self->bus, a->node, a->fd);
  if (node < 0) {
    s_reply_error(self, id, idlen, node, "bus full");
    return;
  }
  s_peer_t *p = &self->peers[node];
  memcpy(p->id, id, idlen);
  p->idlen = idlen;
  p->node = node;
  p->loopback = a->loopback;
  p->err_frames = a->err_frames;
  dd_events_emit(dd_proc_events(self->proc), "can.node_attached", DD_S("node", a->node),
                 DD_I("index", node), DD_B("fd", a->fd), DD_END);
  Duodiag__CanAttached ok = DUODIAG__CAN_ATTACHED__INIT;
  ok.nominal_bps = self->cfg.nominal_bps;
  ok.data_bps = self->cfg.data_bps;
  Duodiag__Envelope env;
  dd_wire_envelope_init(&env, dd_proc_name(self->proc), ++self->seq,
                        dd_loop_now(dd_proc_loop(self->proc)));
  env.body_case = DUODIAG__ENVELOPE__BODY_CAN_ATTACHED;
  env.can_attached = &ok;
  s_send_to_peer(self, p, &env);
}

static int s_on_router(dd_loop_t *loop, void *zsock, int fd, void *arg) {
  dd_vbus_server_t *self = arg;
  bool submitted = false;
  for (int budget = 0; budget < 1024; budget++) {
    uint8_t id[DD_WIRE_IDENTITY_MAX];
    size_t idlen = 0;
    Duodiag__Envelope *env = NULL;
    int rc = dd_wire_recv_from(zsock, id, sizeof id, &idlen, &env, &self->ws, ZMQ_DONTWAIT);
    if (rc == DD_EAGAIN) break;
    if (rc < 0) {
      dd_warn("bus: rejected a message: %s", dd_strerror(rc));
      continue;
    }
    if (env->body_case == DUODIAG__ENVELOPE__BODY_CAN_ATTACH) {
      s_on_attach(self, id, idlen, env->can_attach);
    } else if (env->body_case == DUODIAG__ENVELOPE__BODY_CAN_FRAME) {
      int node = s_peer_by_id(self, id, idlen);
      const Duodiag__CanFrame *cf = env->can_frame;
      dd_can_frame_t f = {.id = cf->id, .flags = (uint8_t)cf->flags,
                          .len = (uint8_t)cf->data.len};
      /* protobuf-c leaves data NULL for an empty payload: copy only when there is one. */
      if (cf->data.len && cf->data.len <= DD_CANFD_MAX_DLEN)
        memcpy(f.data, cf->data.data, cf->data.len);
      int src = node < 0                    ? DD_ENOTCONN
                : cf->data.len > DD_CANFD_MAX_DLEN ? DD_ECAN_FRAME
                                            : dd_vbus_submit(self->bus, node, &f, s_now_ns(self));
      if (src < 0) s_reply_error(self, id, idlen, src, dd_strerror(src));
      else submitted = true;
    } else {
      dd_warn("bus: unexpected %s", dd_wire_body_name(env));
    }
    dd_wire_free(&env);
  }
  if (submitted) s_service(self);
  return 0;
}

static int s_on_load(dd_loop_t *loop, int id, void *arg) {
  dd_vbus_server_t *self = arg;
  uint64_t now = dd_loop_now(loop);
  dd_vbus_stats_t st = dd_vbus_stats(self->bus);
  uint64_t span = now - self->last_us;
  if (span && st.frames != self->last.frames) {
    double load = 100.0 * (double)(st.busy_ns - self->last.busy_ns) / ((double)span * 1000.0);
    dd_events_emit(dd_proc_events(self->proc), "can.busload", DD_D("load_pct", load),
                   DD_I("frames", (int64_t)(st.frames - self->last.frames)),
                   DD_I("errors", (int64_t)(st.errors - self->last.errors)),
                   DD_D("late_p99_us", s_late_quantile(self, 0.99)), DD_END);
  }
  self->last = st;
  self->last_us = now;
  return 0;
}

/* ---- fault injection commands (from the harness) ---- */

static int s_node_by_name(dd_vbus_server_t *self, const char *name) {
  for (int i = 0; i < DD_VBUS_MAX_NODES; i++)
    if (self->peers[i].idlen && !strcmp(dd_vbus_node_name(self->bus, i), name)) return i;
  return -1;
}

static int s_on_command(dd_proc_t *proc, const dd_proc_command_t *cmd, char **result_json,
                        void *arg) {
  dd_vbus_server_t *self = arg;
  json_error_t jerr;
  json_t *a = cmd->args_json && *cmd->args_json ? json_loads(cmd->args_json, 0, &jerr)
                                                : json_object();
  if (!a) return DD_EINVAL;
  const char *key = cmd->key;
  json_t *jid = json_object_get(a, "id");
  bool any = !jid;
  uint32_t can_id = 0;
  if (json_is_string(jid)) can_id = (uint32_t)strtoul(json_string_value(jid), NULL, 16);
  else if (json_is_integer(jid)) can_id = (uint32_t)json_integer_value(jid);
  json_t *jc = json_object_get(a, "count");
  uint32_t count = json_is_integer(jc) ? (uint32_t)json_integer_value(jc) : 1;
  const char *node_name = json_string_value(json_object_get(a, "node"));
  int node = node_name ? s_node_by_name(self, node_name) : -1;
  uint64_t now_ns = s_now_ns(self);
  int rc = 0;
  if (!strcmp(key, "drop")) {
    dd_vbus_fault_drop(self->bus, any, can_id, count);
  } else if (!strcmp(key, "corrupt")) {
    dd_vbus_fault_corrupt(self->bus, any, can_id, count);
  } else if (!strcmp(key, "error_frame")) {
    dd_vbus_fault_error_frame(self->bus);
  } else if (!strcmp(key, "bus_off") || !strcmp(key, "restart")) {
    if (node < 0) rc = DD_ENOENT;
    else if (!strcmp(key, "bus_off")) dd_vbus_fault_bus_off(self->bus, node);
    else rc = dd_vbus_restart(self->bus, node);
  } else if (!strcmp(key, "cut")) {
    json_t *jms = json_object_get(a, "ms");
    uint64_t until = json_is_number(jms)
                         ? now_ns + (uint64_t)(json_number_value(jms) * 1e6)
                         : UINT64_MAX;
    dd_vbus_fault_cut(self->bus, now_ns, until);
  } else if (!strcmp(key, "restore")) {
    dd_vbus_restore(self->bus, now_ns);
  } else {
    rc = DD_ENOTSUP;
  }
  if (rc == 0) {
    dd_events_emit(dd_proc_events(proc), "can.fault", DD_S("fault", key),
                   DD_S("args", cmd->args_json ? cmd->args_json : ""), DD_END);
    s_service(self);
  }
  json_decref(a);
  (void)result_json;
  return rc;
}

int dd_vbus_server_new(dd_proc_t *proc, const dd_vbus_server_cfg_t *cfg, dd_vbus_server_t **out) {
  assert(proc && cfg && cfg->endpoint && out);
  dd_vbus_server_t *self = calloc(1, sizeof *self);
  if (!self) return DD_ENOMEM;
  self->proc = proc;
  self->cfg = *cfg;
  if (!self->cfg.iface) self->cfg.iface = "vbus0";
  if (!self->cfg.load_interval_us) self->cfg.load_interval_us = DD_US_PER_S;
  if (!self->cfg.data_bps) self->cfg.data_bps = self->cfg.nominal_bps;
  dd_wire_stats_init(&self->ws);
  int rc;
  self->late = calloc(S_LATE_BUCKETS, sizeof *self->late);
  if (!self->late) {
    rc = DD_ENOMEM;
    goto out_free;
  }
  /* Traces carry wall-clock times: the bus's monotonic frame times plus this offset. */
  dd_clock_t *clk = dd_proc_clock(proc);
  uint64_t epoch = dd_clock_wall_us(clk) - dd_clock_now_us(clk);
  if (cfg->candump_path) {
    dd_candump_opts_t co = {.epoch_us = epoch};
    rc = dd_candump_writer_open(cfg->candump_path, &co, &self->candump);
    if (rc < 0) {
      dd_error("bus: cannot write %s: %s", cfg->candump_path, dd_strerror(rc));
      goto out_free;
    }
  }
  if (cfg->pcap_path) {
    dd_pcap_opts_t po = {.epoch_us = epoch};
    rc = dd_pcap_writer_open(cfg->pcap_path, &po, &self->pcap);
    if (rc < 0) {
      dd_error("bus: cannot write %s: %s", cfg->pcap_path, dd_strerror(rc));
      goto out_free;
    }
  }
  dd_vbus_cfg_t bc = {cfg->nominal_bps, self->cfg.data_bps};
  rc = dd_vbus_new(&bc, &self->bus);
  if (rc < 0) {
    dd_error("bus: invalid bit rates %u/%u", cfg->nominal_bps, cfg->data_bps);
    goto out_free;
  }
  self->router = zmq_socket(dd_proc_zctx(proc), ZMQ_ROUTER);
  int zero = 0, one = 1;
  zmq_setsockopt(self->router, ZMQ_SNDHWM, &zero, sizeof zero);
  zmq_setsockopt(self->router, ZMQ_RCVHWM, &zero, sizeof zero);
  zmq_setsockopt(self->router, ZMQ_ROUTER_HANDOVER, &one, sizeof one);
  dd_wire_limit_socket(self->router);
  if (zmq_bind(self->router, cfg->endpoint) != 0) {
    rc = -errno;
    dd_error("bus: cannot bind %s: %s", cfg->endpoint, zmq_strerror(errno));
    goto out_close;
  }
  dd_loop_t *loop = dd_proc_loop(proc);
  dd_loop_add_zsock(loop, self->router, s_on_router, self);
  self->last_us = dd_loop_now(loop);
  self->load_timer = dd_loop_timer_every(loop, self->cfg.load_interval_us, s_on_load, self);
  dd_proc_on_command(proc, s_on_command, self);
  dd_events_emit(dd_proc_events(proc), "can.bus_up", DD_S("endpoint", cfg->endpoint),
                 DD_I("nominal_bps", cfg->nominal_bps), DD_I("data_bps", self->cfg.data_bps),
                 DD_END);
  *out = self;
  return 0;
out_close:
  zmq_close(self->router);
  dd_vbus_destroy(&self->bus);
out_free:
  dd_candump_writer_destroy(&self->candump);
  dd_pcap_writer_destroy(&self->pcap);
  free(self->late);
  free(self);
  return rc;
}

void dd_vbus_server_destroy(dd_vbus_server_t **self_p) {
  assert(self_p);
  dd_vbus_server_t *self = *self_p;
  if (!self) return;
  dd_loop_t *loop = dd_proc_loop(self->proc);
  dd_vbus_stats_t st = dd_vbus_stats(self->bus);
  dd_vbus_timing_t t = dd_vbus_server_timing(self);
  dd_events_emit(dd_proc_events(self->proc), "can.bus_summary", DD_I("frames", (int64_t)st.frames),
                 DD_I("errors", (int64_t)st.errors), DD_I("dropped", (int64_t)st.dropped),
                 DD_I("bits", (int64_t)st.bits), DD_D("late_p50_us", t.p50_us),
                 DD_D("late_p99_us", t.p99_us), DD_D("late_max_us", t.max_us), DD_END);
  if (self->timer) dd_loop_timer_cancel(loop, self->timer);
  if (self->load_timer > 0) dd_loop_timer_cancel(loop, self->load_timer);
  dd_loop_remove_zsock(loop, self->router);
  zmq_close(self->router);
  dd_vbus_destroy(&self->bus);
  dd_candump_writer_destroy(&self->candump);
  dd_pcap_writer_destroy(&self->pcap);
  free(self->late);
  free(self);
  *self_p = NULL;
}
