/* dd_relay_server: ZeroMQ front of the relay's store-and-forward core. */
#include "dd_relay_server.h"

#include <assert.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "dd_err.h"
#include "dd_log.h"
#include "dd_wire.h"

struct dd_relay_server {
  dd_proc_t *proc;       /* owning process */
  char endpoint[512];    /* bound address */
  dd_relay_t *core;      /* the store-and-forward core */
  void *router;          /* parties connect here */
  dd_loop_deadline_t timer; /* at the core's next deadline */
  int counters_timer;    /* relay.counters period */
  dd_relay_stats_t last; /* counters at the previous relay.counters event */
  uint64_t seq;          /* envelope sequence */
  dd_wire_stats_t ws;    /* decode counters */
};

/* ---- sending -------------------------------------------------------------------------------- */

static uint64_t s_now(dd_relay_server_t *self) { return dd_loop_now(dd_proc_loop(self->proc)); }

static void s_env(dd_relay_server_t *self, Duodiag__Envelope *env) {
  dd_wire_envelope_init(env, dd_proc_name(self->proc), ++self->seq, s_now(self));
}

static void s_send_error(dd_relay_server_t *self, const uint8_t *id, size_t idlen,
                         const char *session, int code, const char *text) {
  Duodiag__RelayError e = DUODIAG__RELAY_ERROR__INIT;
  e.session_id = (char *)session;
  e.code = code;
  e.text = (char *)text;
  Duodiag__Envelope env;
  s_env(self, &env);
  env.body_case = DUODIAG__ENVELOPE__BODY_RELAY_ERROR;
  env.relay_error = &e;
  int rc = dd_wire_send_to(self->router, id, idlen, &env, ZMQ_DONTWAIT);
  if (rc < 0) dd_debug("relay: error report not sent: %s", dd_strerror(rc));
}

static void s_notes(dd_relay_server_t *self) {
  dd_events_t *ev = dd_proc_events(self->proc);
  dd_relay_note_t n;
  while (dd_relay_take_note(self->core, &n)) {
    char kind[48];
    snprintf(kind, sizeof kind, "relay.%s", dd_relay_note_name(n.kind));
    switch (n.kind) {
    case DD_RELAY_NOTE_SESSION_OPEN:
      dd_events_emit(ev, kind, DD_S("session", n.session), DD_S("from", n.party),
                     DD_S("to", n.peer), DD_END);
      break;
    case DD_RELAY_NOTE_END_JOINED:
      dd_events_emit(ev, kind, DD_S("session", n.session), DD_S("party", n.party), DD_END);
      break;
    case DD_RELAY_NOTE_END_ABSENT:
      dd_events_emit(ev, kind, DD_S("session", n.session), DD_S("party", n.party),
                     DD_I("waiting", n.count), DD_END);
      break;
    case DD_RELAY_NOTE_FLUSHED:
      dd_events_emit(ev, kind, DD_S("session", n.session), DD_S("party", n.party),
                     DD_I("messages", n.count), DD_I("bytes", n.bytes),
                     DD_I("waited_us", n.waited_us), DD_END);
      break;
    case DD_RELAY_NOTE_SESSION_CLOSED:
    case DD_RELAY_NOTE_SESSION_EXPIRED:
      dd_events_emit(ev, kind, DD_S("session", n.session), DD_S("by", n.party),
                     DD_I("discarded", n.count), DD_I("discarded_bytes", n.bytes), DD_END);
      break;
    }
  }
}

static int s_on_timer(dd_loop_t *loop, int id, void *arg);

/* Deliver everything due, publish the notes, and arm the timer for what comes next. */
static void s_pump(dd_relay_server_t *self) {
  dd_loop_t *loop = dd_proc_loop(self->proc);
  uint64_t now = dd_loop_now(loop);
  dd_relay_tick(self->core, now);
  dd_relay_out_t out;
  /* Bounded so a flood of due messages cannot starve the loop's other readers. */
  for (int budget = 0; budget < 4096 && dd_relay_peek(self->core, now, &out); budget++) {
    uint8_t id[DD_WIRE_IDENTITY_MAX];
    int idlen = dd_wire_party_id(out.to, id, sizeof id);
    if (idlen <= 0) { /* a party name no routing id can carry: it can never be reached */
      dd_relay_done(self->core, DD_RELAY_GONE, now);
      continue;
    }
    Duodiag__RelayForward fw = DUODIAG__RELAY_FORWARD__INIT;
    fw.session_id = (char *)out.session;
    fw.destination = (char *)out.to;
    fw.inner.data = (uint8_t *)out.inner;
    fw.inner.len = out.len;
    Duodiag__Envelope env;
    s_env(self, &env);
    env.body_case = DUODIAG__ENVELOPE__BODY_RELAY_FORWARD;
    env.relay_forward = &fw;
    int rc = dd_wire_send_to(self->router, id, (size_t)idlen, &env, ZMQ_DONTWAIT);
    if (rc == 0) {
      dd_relay_done(self->core, DD_RELAY_SENT, now);
    } else if (rc == DD_EAGAIN) {
      dd_relay_done(self->core, DD_RELAY_BUSY, now);
    } else {
      /* EHOSTUNREACH (ZMQ_ROUTER_MANDATORY): not connected; anything else is treated alike. */
      if (rc != -EHOSTUNREACH) dd_warn("relay: delivery to %s failed: %s", out.to, dd_strerror(rc));
      dd_relay_done(self->core, DD_RELAY_GONE, now);
    }
  }
  s_notes(self);
  dd_loop_deadline_set(loop, &self->timer, dd_relay_next_deadline(self->core), s_on_timer, self);
}

static int s_on_timer(dd_loop_t *loop, int id, void *arg) {
  dd_relay_server_t *self = arg;
  s_pump(self);
  return 0;
}

/* ---- input ---------------------------------------------------------------------------------- */

static void s_on_forward(dd_relay_server_t *self, const uint8_t *id, size_t idlen,
                         const char *party, const Duodiag__RelayForward *fw) {
  char err[512];
  uint8_t to_id[DD_WIRE_IDENTITY_MAX];
  int rc = dd_wire_party_id(fw->destination, to_id, sizeof to_id);
  if (rc < 0)
    snprintf(err, sizeof err, "session %s: destination %s is not a routing id; message dropped",
             fw->session_id, fw->destination);
  else
    rc = dd_relay_forward(self->core, party, fw->session_id, fw->destination, fw->inner.data,
                          fw->inner.len, s_now(self), err, sizeof err);
  if (rc == 0) return;
  const dd_relay_cfg_t *c = dd_relay_cfg(self->core);
  if (rc == DD_ENOSPC)
    dd_events_emit(dd_proc_events(self->proc), "relay.buffer_full", DD_S("session", fw->session_id),
                   DD_S("from", party), DD_S("to", fw->destination), DD_I("size", fw->inner.len),
                   DD_I("max_msgs", c->max_msgs), DD_I("max_bytes", c->max_bytes),
                   DD_S("text", err), DD_END);
  else
    dd_events_emit(dd_proc_events(self->proc), "relay.refused", DD_S("session", fw->session_id),
                   DD_S("from", party), DD_S("to", fw->destination), DD_S("code", dd_err_name(rc)),
                   DD_S("text", err), DD_END);
  dd_info("%s", err);
  s_send_error(self, id, idlen, fw->session_id, rc, err);
}

static void s_on_probe(dd_relay_server_t *self, const uint8_t *id, size_t idlen,
                       const Duodiag__Probe *p) {
  Duodiag__ProbeEcho e = DUODIAG__PROBE_ECHO__INIT;
  e.probe_id = p->probe_id;
  e.sent_us = p->sent_us;
  e.echo_us = s_now(self);
  Duodiag__Envelope env;
  s_env(self, &env);
  env.body_case = DUODIAG__ENVELOPE__BODY_PROBE_ECHO;
  env.probe_echo = &e;
  dd_wire_send_to(self->router, id, idlen, &env, ZMQ_DONTWAIT);
}

static int s_on_router(dd_loop_t *loop, void *zsock, int fd, void *arg) {
  dd_relay_server_t *self = arg;
  for (int budget = 0; budget < 1024; budget++) {
    uint8_t id[DD_WIRE_IDENTITY_MAX];
    size_t idlen = 0;
    Duodiag__Envelope *env = NULL;
    int rc = dd_wire_recv_from(zsock, id, sizeof id, &idlen, &env, &self->ws, ZMQ_DONTWAIT);
    if (rc == DD_EAGAIN) break;
    if (rc < 0 && !idlen) {
      if (rc == -EINTR) continue;
      if (rc == -ETERM) break;
      dd_warn("relay: rejected a message: %s", dd_strerror(rc));
      continue;
    }
    char party[DD_RELAY_ID_MAX];
    int prc = dd_wire_party_name(id, idlen, party, sizeof party);
    if (rc < 0) {
      dd_warn("relay: rejected a message: %s (%s)", dd_strerror(rc),
              dd_wire_reason_name(self->ws.last_reason));
      dd_events_emit(dd_proc_events(self->proc), "wire.rejected", DD_S("channel", "relay"),
                     DD_S("from", prc == 0 ? party : "?"), DD_S("error", dd_err_name(rc)),
                     DD_S("reason", dd_wire_reason_name(self->ws.last_reason)), DD_END);
      s_send_error(self, id, idlen, "", rc, "relay: message rejected by the wire codec");
      continue;
    }
    if (prc < 0) {
      s_send_error(self, id, idlen, "", prc, "relay: routing id too long for a party name");
      dd_wire_free(&env);
      continue;
    }
    dd_relay_seen(self->core, party, s_now(self));
    switch (env->body_case) {
    case DUODIAG__ENVELOPE__BODY_RELAY_FORWARD:
      s_on_forward(self, id, idlen, party, env->relay_forward);
      break;
    case DUODIAG__ENVELOPE__BODY_SESSION_CLOSE: {
      char err[512];
      const char *sid = env->session_close->session_id;
      int crc = dd_relay_close(self->core, party, sid, s_now(self), err, sizeof err);
      if (crc < 0) {
        dd_events_emit(dd_proc_events(self->proc), "relay.refused", DD_S("session", sid),
                       DD_S("from", party), DD_S("to", ""), DD_S("code", dd_err_name(crc)),
                       DD_S("text", err), DD_END);
        s_send_error(self, id, idlen, sid, crc, err);
      }
      break;
    }
    case DUODIAG__ENVELOPE__BODY_PROBE: s_on_probe(self, id, idlen, env->probe); break;
    default: {
      char err[128];
      snprintf(err, sizeof err, "relay: unexpected %s", dd_wire_body_name(env));
      dd_warn("%s from %s", err, party);
      s_send_error(self, id, idlen, "", DD_EWIRE_UNEXPECTED, err);
      break;
    }
    }
    dd_wire_free(&env);
    /* Deliver after each message, so what the relay does follows the order things came in
     * (a probe's echo never overtakes the delivery attempt of a message before it). */
    s_pump(self);
  }
  return 0;
}

/* ---- counters and commands ------------------------------------------------------------------ */

static json_t *s_stats_json(const dd_relay_stats_t *st) {
  const struct {
    const char *key; /* JSON member */
    uint64_t value;  /* counter */
  } f[] = {{"received", st->received},
           {"received_bytes", st->received_bytes},
           {"forwarded", st->forwarded},
           {"forwarded_bytes", st->forwarded_bytes},
           {"stored", st->stored},
           {"late", st->late},
           {"dropped_full", st->dropped_full},
           {"refused", st->refused},
           {"discarded", st->discarded},
           {"gone", st->gone},
           {"busy", st->busy},
           {"sessions_opened", st->sessions_opened},
           {"sessions", st->sessions},
           {"queued_msgs", st->queued_msgs},
           {"queued_bytes", st->queued_bytes},
           {"peak_msgs", st->peak_msgs},
           {"peak_bytes", st->peak_bytes}};
  json_t *o = json_object();
  for (size_t i = 0; o && i < sizeof f / sizeof f[0]; i++)
    json_object_set_new(o, f[i].key, json_integer((json_int_t)f[i].value));
  return o;
}

static void s_emit_counters(dd_relay_server_t *self, const char *kind) {
  dd_relay_stats_t st = dd_relay_stats(self->core);
  dd_events_emit(dd_proc_events(self->proc), kind, DD_I("received", st.received),
                 DD_I("forwarded", st.forwarded), DD_I("forwarded_bytes", st.forwarded_bytes),
                 DD_I("stored", st.stored), DD_I("late", st.late),
                 DD_I("dropped_full", st.dropped_full), DD_I("refused", st.refused),
                 DD_I("discarded", st.discarded), DD_I("gone", st.gone), DD_I("busy", st.busy),
                 DD_I("sessions", st.sessions), DD_I("sessions_opened", st.sessions_opened),
                 DD_I("queued_msgs", st.queued_msgs), DD_I("queued_bytes", st.queued_bytes),
                 DD_I("peak_msgs", st.peak_msgs), DD_I("peak_bytes", st.peak_bytes),
                 DD_I("wire_rejected", dd_wire_stats_rejected(&self->ws)), DD_END);
  self->last = st;
}

static int s_on_counters(dd_loop_t *loop, int id, void *arg) {
  dd_relay_server_t *self = arg;
  dd_relay_stats_t st = dd_relay_stats(self->core);
  if (st.received != self->last.received || st.forwarded != self->last.forwarded ||
      st.dropped_full != self->last.dropped_full || st.refused != self->last.refused ||
      st.discarded != self->last.discarded || st.gone != self->last.gone)
    s_emit_counters(self, "relay.counters");
  return 0;
}

static int s_on_command(dd_proc_t *proc, const dd_proc_command_t *cmd, char **result_json,
                        void *arg) {
  dd_relay_server_t *self = arg;
  if (cmd->kind != DUODIAG__COMMAND__KIND__ACTION || strcmp(cmd->key, "stats") != 0)
    return DD_ENOTSUP;
  dd_relay_stats_t st = dd_relay_stats(self->core);
  json_t *j = s_stats_json(&st);
  if (!j) return DD_ENOMEM;
  *result_json = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref(j);
  return *result_json ? 0 : DD_ENOMEM;
}

/* ---- life cycle ----------------------------------------------------------------------------- */

int dd_relay_server_new(dd_proc_t *proc, const dd_relay_server_cfg_t *cfg,
                        dd_relay_server_t **out) {
  assert(proc && cfg && out);
  *out = NULL;
  if (!cfg->endpoint || !*cfg->endpoint) return DD_EINVAL;
  dd_relay_server_t *self = calloc(1, sizeof *self);
  if (!self) return DD_ENOMEM;
  self->proc = proc;
  snprintf(self->endpoint, sizeof self->endpoint, "%s", cfg->endpoint);
  dd_wire_stats_init(&self->ws);
  int rc = dd_relay_new(&cfg->relay, &self->core);
  if (rc < 0) goto out_free;
  self->router = zmq_socket(dd_proc_zctx(proc), ZMQ_ROUTER);
  if (!self->router) {
    rc = -errno;
    goto out_core;
  }
  /* MANDATORY: a send to a party that is not connected fails (EHOSTUNREACH) instead of being
   * dropped silently, which is how the core learns an end is away (zmq_setsockopt(3)).
   * HANDOVER: a party that reconnects under its id takes its id over at once. */
  int one = 1, linger = 0;
  zmq_setsockopt(self->router, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
  zmq_setsockopt(self->router, ZMQ_ROUTER_HANDOVER, &one, sizeof one);
  zmq_setsockopt(self->router, ZMQ_LINGER, &linger, sizeof linger);
  dd_wire_limit_socket(self->router);
  if (zmq_bind(self->router, cfg->endpoint) != 0) {
    /* A malformed endpoint or an unknown transport is bad usage; anything else a failure. */
    rc = errno == EINVAL || errno == EPROTONOSUPPORT ? DD_EINVAL : -errno;
    dd_error("relay: cannot bind %s: %s", cfg->endpoint, zmq_strerror(errno));
    goto out_close;
  }
  size_t len = sizeof self->endpoint;
  zmq_getsockopt(self->router, ZMQ_LAST_ENDPOINT, self->endpoint, &len);
  dd_loop_t *loop = dd_proc_loop(proc);
  dd_loop_add_zsock(loop, self->router, s_on_router, self);
  self->counters_timer = dd_loop_timer_every(
      loop, cfg->counters_us ? cfg->counters_us : DD_US_PER_S, s_on_counters, self);
  dd_proc_on_command(proc, s_on_command, self);
  const dd_relay_cfg_t *c = dd_relay_cfg(self->core);
  dd_events_emit(dd_proc_events(proc), "relay.up", DD_S("endpoint", self->endpoint),
                 DD_I("buffer_msgs", c->max_msgs), DD_I("buffer_bytes", c->max_bytes),
                 DD_I("total_bytes", c->max_total_bytes), DD_I("max_sessions", c->max_sessions),
                 DD_I("retry_us", c->retry_us), DD_END);
  *out = self;
  return 0;
out_close:
  zmq_close(self->router);
out_core:
  dd_relay_destroy(&self->core);
out_free:
  free(self);
  return rc;
}

void dd_relay_server_destroy(dd_relay_server_t **self_p) {
  assert(self_p);
  dd_relay_server_t *self = *self_p;
  if (!self) return;
  dd_loop_t *loop = dd_proc_loop(self->proc);
  s_emit_counters(self, "relay.summary");
  dd_loop_deadline_set(loop, &self->timer, DD_NEVER, s_on_timer, self);
  if (self->counters_timer > 0) dd_loop_timer_cancel(loop, self->counters_timer);
  dd_loop_remove_zsock(loop, self->router);
  zmq_close(self->router);
  dd_relay_destroy(&self->core);
  free(self);
  *self_p = NULL;
}

dd_relay_stats_t dd_relay_server_stats(const dd_relay_server_t *self) {
  return dd_relay_stats(self->core);
}
