/* dd_service: ZeroMQ and UDP front of the service device (record intake, acks, programming). */
#include "dd_service.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zmq.h>

#include "dd_err.h"
#include "dd_log.h"
#include "dd_service_core.h"
#include "dd_wire.h"

#define S_UDP_MAX 65536        /* largest datagram read */
#define S_QUEUE_MAX 65536u     /* records held for an absent second device */
#define S_TICK_US 20000ull     /* ack and pacing tick (FLOWS S4: every 20 ms) */
#define S_ID_MAX 256           /* routing ids and party ids with the NUL */

/* Every routing id the ROUTER hands us fits a session entry (dd_svc_table_open). */
_Static_assert(DD_WIRE_IDENTITY_MAX <= DD_SVC_PEER_MAX, "session entries hold any routing id");

/* A record waiting for the second device. */
typedef struct s_held {
  uint8_t *data;        /* encoded envelope */
  size_t len;           /* its length */
  struct s_held *next;  /* next in order */
} s_held_t;

struct dd_service {
  dd_proc_t *proc;                 /* owning process */
  char id[S_ID_MAX];               /* service party id */
  char token[S_ID_MAX];            /* required token, "" for any */
  bool need_token;                 /* --token given */
  void *router;                    /* first and second devices */
  void *relay;                     /* DEALER to the relay, or NULL */
  int udp;                         /* direct-path socket */
  int tick;                        /* periodic timer */
  uint64_t seq;                    /* envelope counter */
  dd_wire_stats_t ws;              /* decode counters */
  uint8_t fd_id[DD_WIRE_IDENTITY_MAX]; /* first device getting packages (s_prog_bind) */
  size_t fd_idlen;                 /* 0: none yet */
  char prog_session[DD_SVC_SESSION_MAX]; /* the session fd_id was taken from */
  uint8_t sd_id[DD_WIRE_IDENTITY_MAX]; /* second device routing id */
  size_t sd_idlen;                 /* 0: none yet */
  dd_svc_table_t *sessions;        /* sessions served: intake and first device of each */
  s_held_t *held, *held_tail;      /* records for the second device */
  size_t n_held;                   /* entries of held */
  uint64_t forwarded;              /* records handed to the second device */
  uint64_t dropped_held;           /* records dropped because the queue was full */
  /* package from the second device */
  Duodiag__ProgramOffer *offer;    /* copy of the offer (decoded envelope kept) */
  Duodiag__Envelope *offer_env;    /* owner of offer */
  uint8_t *pkg;                    /* package bytes */
  uint64_t pkg_have;               /* contiguous bytes received */
  bool pkg_ready;                  /* complete and checked */
  dd_svc_prog_t prog;              /* pacing towards the first device */
  uint32_t cfg_chunk;              /* configured chunk */
  unsigned cfg_window;             /* configured window */
  uint64_t cfg_stall;              /* configured stall */
};

static uint64_t s_now(dd_service_t *self) { return dd_loop_now(dd_proc_loop(self->proc)); }
static dd_events_t *s_ev(dd_service_t *self) { return dd_proc_events(self->proc); }

/* The session idle time in seconds, 0 for never (as --session-idle-s). */
static double s_idle_s(const dd_service_t *self) {
  uint64_t us = dd_svc_table_idle_us(self->sessions);
  return us == UINT64_MAX ? 0 : (double)us / 1e6;
}

static void s_env(dd_service_t *self, Duodiag__Envelope *env) {
  dd_wire_envelope_init(env, self->id, ++self->seq, s_now(self));
}

static int s_send_to(dd_service_t *self, const uint8_t *id, size_t idlen, Duodiag__Envelope *env) {
  if (!idlen) return DD_ENOTCONN;
  int rc = dd_wire_send_to(self->router, id, idlen, env, ZMQ_DONTWAIT);
  if (rc < 0) dd_debug("service: %s not sent: %s", dd_wire_body_name(env), dd_strerror(rc));
  return rc;
}

/* Raw frame (an envelope already encoded) to a routing id. */
static int s_send_raw(dd_service_t *self, const uint8_t *id, size_t idlen, const uint8_t *data,
                      size_t len) {
  if (zmq_send(self->router, id, idlen, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) return -errno;
  if (zmq_send(self->router, data, len, ZMQ_DONTWAIT) < 0) return -errno;
  return 0;
}

/* ---- records ---- */

static void s_flush_held(dd_service_t *self) {
  while (self->held && self->sd_idlen) {
    s_held_t *h = self->held;
    int rc = s_send_raw(self, self->sd_id, self->sd_idlen, h->data, h->len);
    if (rc == DD_EAGAIN) break; /* high-water mark: try on the next tick */
    if (rc < 0) {
      /* The second device went away: keep the records for its return. */
      self->sd_idlen = 0;
      break;
    }
    self->forwarded++;
    self->held = h->next;
    if (!self->held) self->held_tail = NULL;
    self->n_held--;
    free(h->data);
    free(h);
  }
}

static void s_hold(dd_service_t *self, uint8_t *data, size_t len) {
  s_held_t *h = NULL;
  if (self->n_held >= S_QUEUE_MAX || !(h = malloc(sizeof *h))) {
    self->dropped_held++;
    free(data);
    return;
  }
  h->data = data;
  h->len = len;
  h->next = NULL;
  if (self->held_tail) self->held_tail->next = h;
  else self->held = h;
  self->held_tail = h;
  self->n_held++;
}

/* S4: session s's VehicleAck, to its own first device over the ROUTER (the same way for records
 * of both paths: the first device takes acks on its service link, FLOWS.md S4 step 4). */
static void s_send_ack(dd_service_t *self, dd_svc_session_t *s) {
  dd_seq_range_t r[DD_WIRE_MAX_SACKS];
  uint64_t cum = 0;
  size_t n = dd_svc_intake_ack(dd_svc_session_intake(s), s_now(self), &cum, r, DD_WIRE_MAX_SACKS);
  Duodiag__SackRange sr[DD_WIRE_MAX_SACKS], *srp[DD_WIRE_MAX_SACKS];
  for (size_t i = 0; i < n; i++) {
    duodiag__sack_range__init(&sr[i]);
    sr[i].first = r[i].first;
    sr[i].last = r[i].last;
    srp[i] = &sr[i];
  }
  Duodiag__VehicleAck a = DUODIAG__VEHICLE_ACK__INIT;
  a.session_id = (char *)dd_svc_session_id(s);
  a.cumulative = cum;
  a.n_sacks = n;
  a.sacks = srp;
  Duodiag__Envelope env;
  s_env(self, &env);
  env.body_case = DUODIAG__ENVELOPE__BODY_VEHICLE_ACK;
  env.vehicle_ack = &a;
  size_t plen = 0;
  const uint8_t *peer = dd_svc_session_peer(s, &plen);
  s_send_to(self, peer, plen, &env);
}

static const char *s_verdict_name(dd_drecv_verdict_t v) {
  switch (v) {
  case DD_DRECV_DELIVERABLE: return "in_order";
  case DD_DRECV_BUFFERED: return "held";
  case DD_DRECV_DUPLICATE: return "duplicate";
  default: return "refused";
  }
}

/* One record copy: env decoded from data[len]; the session it names decides where it goes. */
static void s_on_record(dd_service_t *self, const Duodiag__Envelope *env, const uint8_t *data,
                        size_t len, dd_svc_path_t path) {
  const Duodiag__VehicleRecord *r = env->vehicle_record;
  dd_drecv_verdict_t v;
  dd_svc_session_t *s = NULL;
  int rc = dd_svc_table_on_record(self->sessions, r->session_id, r->seq, path, data, len,
                                  s_now(self), &v, &s);
  if (rc < 0) {
    dd_events_emit(s_ev(self), "service.record_refused", DD_S("session", r->session_id),
                   DD_I("seq", (int64_t)r->seq), DD_S("path", dd_svc_path_name(path)),
                   DD_S("reason", "unknown session"), DD_END);
    return;
  }
  dd_events_emit(s_ev(self), "service.record", DD_I("seq", (int64_t)r->seq),
                 DD_S("path", dd_svc_path_name(path)), DD_B("duplicate", v == DD_DRECV_DUPLICATE),
                 DD_S("verdict", s_verdict_name(v)), DD_S("session", r->session_id), DD_END);
  uint64_t seq;
  uint8_t *d;
  size_t dl;
  while (dd_svc_intake_take(dd_svc_session_intake(s), &seq, &d, &dl)) s_hold(self, d, dl);
  s_flush_held(self);
}

/* Every session whose acknowledgement is due gets it. */
static void s_after_batch(dd_service_t *self) {
  dd_svc_session_t *due[64];
  size_t n;
  while ((n = dd_svc_table_due(self->sessions, s_now(self), due, 64)) > 0)
    for (size_t i = 0; i < n; i++) s_send_ack(self, due[i]);
}

/* A routing id as text for events (a first device's is its party id). */
static void s_peer_text(const dd_svc_session_t *s, char *out, size_t cap) {
  size_t plen = 0, k = 0;
  const uint8_t *p = dd_svc_session_peer(s, &plen);
  for (size_t i = 0; i < plen && k + 1 < cap; i++)
    out[k++] = p[i] >= 0x20 && p[i] < 0x7F ? (char)p[i] : '?';
  out[k] = '\0';
}

/* A session leaves the table: closed by its first device, or idle too long. */
static void s_end_session(dd_service_t *self, dd_svc_session_t **s_p, dd_svc_end_t why) {
  dd_svc_session_t *s = *s_p;
  dd_svc_intake_stats_t st = dd_svc_intake_stats(dd_svc_session_intake(s));
  char peer[DD_WIRE_IDENTITY_MAX + 1];
  s_peer_text(s, peer, sizeof peer);
  uint64_t now = s_now(self);
  dd_events_emit(s_ev(self), "service.session_closed", DD_S("session", dd_svc_session_id(s)),
                 DD_S("peer", peer), DD_S("reason", why == DD_SVC_END_IDLE ? "idle" : "closed"),
                 DD_I("received", (int64_t)st.received), DD_I("delivered", (int64_t)st.delivered),
                 DD_I("duplicates", (int64_t)st.duplicates), DD_I("acks", (int64_t)st.acks),
                 DD_D("open_s", (double)(now - dd_svc_session_opened_us(s)) / 1e6),
                 DD_D("idle_s", (double)(now - dd_svc_session_active_us(s)) / 1e6),
                 DD_I("sessions", (int64_t)dd_svc_table_count(self->sessions) - 1), DD_END);
  dd_svc_table_remove(self->sessions, s_p, why);
}

/* Sessions without a hello or a record for the idle time are given back. */
static void s_expire(dd_service_t *self) {
  dd_svc_session_t *s;
  while ((s = dd_svc_table_idle(self->sessions, s_now(self))))
    s_end_session(self, &s, DD_SVC_END_IDLE);
}

/* SessionClose on the service link: only the session's own first device ends it. */
static void s_on_close(dd_service_t *self, const uint8_t *id, size_t idlen,
                       const Duodiag__SessionClose *c) {
  dd_svc_session_t *s = dd_svc_table_find(self->sessions, c->session_id);
  if (!s || !dd_svc_session_is_peer(s, id, idlen)) {
    dd_debug("service: SessionClose for %s ignored (%s)", c->session_id,
             s ? "not from its first device" : "no such session");
    return;
  }
  s_end_session(self, &s, DD_SVC_END_CLOSED);
}

/* ---- programming ---- */

static void s_pump(dd_service_t *self) {
  if (!self->pkg_ready || !self->fd_idlen) return;
  dd_svc_prog_out_t o;
  while (dd_svc_prog_poll(&self->prog, s_now(self), &o)) {
    Duodiag__Envelope env;
    s_env(self, &env);
    if (o.kind == DD_SVC_PROG_OFFER) {
      if (o.resume)
        dd_events_emit(s_ev(self), "service.program_resume", DD_S("package_id", self->offer->package_id),
                       DD_I("from", (int64_t)self->prog.acked), DD_S("reason", "offer"),
                       DD_I("resumes", self->prog.resumes), DD_END);
      env.body_case = DUODIAG__ENVELOPE__BODY_PROGRAM_OFFER;
      env.program_offer = self->offer;
    } else {
      Duodiag__ProgramChunk c = DUODIAG__PROGRAM_CHUNK__INIT;
      c.package_id = self->offer->package_id;
      c.offset = o.offset;
      c.data.data = self->pkg + o.offset;
      c.data.len = o.len;
      c.last = o.last;
      env.body_case = DUODIAG__ENVELOPE__BODY_PROGRAM_CHUNK;
      env.program_chunk = &c;
      s_send_to(self, self->fd_id, self->fd_idlen, &env);
      continue;
    }
    s_send_to(self, self->fd_id, self->fd_idlen, &env);
  }
}

static void s_drop_package(dd_service_t *self) {
  dd_wire_free(&self->offer_env);
  self->offer = NULL;
  free(self->pkg);
  self->pkg = NULL;
  self->pkg_have = 0;
  self->pkg_ready = false;
  dd_svc_prog_init(&self->prog, self->cfg_chunk, self->cfg_window, self->cfg_stall);
}

static void s_ack_second(dd_service_t *self, const char *package_id, uint64_t next) {
  Duodiag__ProgramAck a = DUODIAG__PROGRAM_ACK__INIT;
  a.package_id = (char *)package_id;
  a.next_offset = next;
  Duodiag__Envelope env;
  s_env(self, &env);
  env.body_case = DUODIAG__ENVELOPE__BODY_PROGRAM_ACK;
  env.program_ack = &a;
  s_send_to(self, self->sd_id, self->sd_idlen, &env);
}

/* The second device offers a package: takes ownership of *env_p. */
static void s_on_offer(dd_service_t *self, Duodiag__Envelope **env_p) {
  s_drop_package(self);
  self->offer_env = *env_p;
  *env_p = NULL;
  self->offer = self->offer_env->program_offer;
  self->pkg = malloc(self->offer->total_size);
  if (!self->pkg) {
    dd_events_emit(s_ev(self), "service.package", DD_S("package_id", self->offer->package_id),
                   DD_I("size", (int64_t)self->offer->total_size), DD_B("ok", false),
                   DD_S("reason", "out of memory"), DD_END);
    s_drop_package(self);
  }
}

static void s_on_chunk_from_second(dd_service_t *self, const Duodiag__ProgramChunk *c) {
  if (!self->offer || self->pkg_ready || strcmp(c->package_id, self->offer->package_id)) return;
  if (c->offset != self->pkg_have || c->offset + c->data.len > self->offer->total_size) {
    s_ack_second(self, c->package_id, self->pkg_have); /* tell it where we are */
    return;
  }
  memcpy(self->pkg + c->offset, c->data.data, c->data.len);
  self->pkg_have += c->data.len;
  s_ack_second(self, c->package_id, self->pkg_have);
  if (self->pkg_have < self->offer->total_size) return;
  uint8_t h[32];
  crypto_hash_sha256(h, self->pkg, self->pkg_have);
  bool ok = sodium_memcmp(h, self->offer->sha256.data, 32) == 0;
  dd_events_emit(s_ev(self), "service.package", DD_S("package_id", self->offer->package_id),
                 DD_I("size", (int64_t)self->pkg_have), DD_B("ok", ok),
                 DD_S("reason", ok ? "" : "sha256 mismatch"), DD_END);
  if (!ok) {
    s_drop_package(self);
    return;
  }
  self->pkg_ready = true;
  dd_svc_prog_start(&self->prog, self->pkg_have, s_now(self));
  dd_events_emit(s_ev(self), "service.program", DD_S("package_id", self->offer->package_id),
                 DD_I("offset", 0), DD_I("total", (int64_t)self->pkg_have), DD_END);
  s_pump(self);
}

static void s_on_program_ack(dd_service_t *self, const Duodiag__ProgramAck *a) {
  if (!self->pkg_ready || strcmp(a->package_id, self->offer->package_id)) return;
  int rc = dd_svc_prog_on_ack(&self->prog, a->next_offset, s_now(self));
  if (rc == 1) {
    dd_events_emit(s_ev(self), "service.program", DD_S("package_id", a->package_id),
                   DD_I("offset", (int64_t)a->next_offset), DD_I("total", (int64_t)self->prog.total),
                   DD_END);
    if (self->prog.done)
      dd_events_emit(s_ev(self), "service.program_done", DD_S("package_id", a->package_id),
                     DD_I("total", (int64_t)self->prog.total), DD_I("resumes", self->prog.resumes),
                     DD_END);
  }
  s_pump(self);
}

/* ---- hello ---- */

/* Packages go to one first device (S401): the most recent session's, except that a package
 * already on its way keeps going to the device it was started for while that device's session is
 * open (another vehicle's hello must not take a reflash over half-way). Returns true when the
 * device of this hello is (now) the one that gets packages. */
static bool s_prog_bind(dd_service_t *self, const char *session, const uint8_t *id, size_t idlen) {
  bool same_device = self->fd_idlen == idlen && !memcmp(self->fd_id, id, idlen);
  bool sending = self->pkg_ready && self->prog.active && !self->prog.done;
  if (sending && !same_device && strcmp(self->prog_session, session) &&
      dd_svc_table_find(self->sessions, self->prog_session))
    return false;
  memcpy(self->fd_id, id, idlen);
  self->fd_idlen = idlen;
  snprintf(self->prog_session, sizeof self->prog_session, "%s", session);
  return true;
}

static void s_relay_hello(dd_service_t *self, const char *session) {
  if (!self->relay) return;
  /* dd_relay.h: a RelayForward addressed to its own sender registers it as an end. */
  Duodiag__Probe p = DUODIAG__PROBE__INIT;
  p.probe_id = 1;
  p.sent_us = s_now(self);
  Duodiag__Envelope inner;
  s_env(self, &inner);
  inner.body_case = DUODIAG__ENVELOPE__BODY_PROBE;
  inner.probe = &p;
  uint8_t buf[512];
  size_t len = 0;
  if (dd_wire_encode(&inner, buf, sizeof buf, &len) < 0) return;
  Duodiag__RelayForward fw = DUODIAG__RELAY_FORWARD__INIT;
  fw.session_id = (char *)session;
  fw.destination = self->id;
  fw.inner.data = buf;
  fw.inner.len = len;
  Duodiag__Envelope env;
  s_env(self, &env);
  env.body_case = DUODIAG__ENVELOPE__BODY_RELAY_FORWARD;
  env.relay_forward = &fw;
  dd_wire_send(self->relay, &env, ZMQ_DONTWAIT);
}

static void s_on_hello(dd_service_t *self, const uint8_t *id, size_t idlen,
                       const Duodiag__ServiceHello *h) {
  Duodiag__ServiceWelcome w = DUODIAG__SERVICE_WELCOME__INIT;
  w.session_id = h->session_id;
  w.service_id = self->id;
  w.reason = "";
  bool resumed = false, prog_device = false;
  char why[96];
  if (!strcmp(h->session_id, "*")) {
    /* The second device: the reader of every session's records. */
    memcpy(self->sd_id, id, idlen);
    self->sd_idlen = idlen;
    w.accepted = true;
  } else if (self->need_token && strcmp(h->token, self->token)) {
    w.reason = "bad token";
  } else {
    /* A known session resumes (its intake and ack state kept); an unknown one gets an entry. */
    uint64_t next = 0;
    int rc = dd_svc_table_open(self->sessions, h->session_id, id, idlen, s_now(self), &resumed,
                               &next, NULL);
    if (rc == DD_ENOSPC) {
      snprintf(why, sizeof why, "service device full: %zu sessions open",
               dd_svc_table_max(self->sessions));
      w.reason = why;
      dd_events_emit(s_ev(self), "service.sessions_full", DD_S("session", h->session_id),
                     DD_S("device", h->device_id),
                     DD_I("max", (int64_t)dd_svc_table_max(self->sessions)), DD_END);
    } else if (rc < 0) {
      w.reason = rc == DD_EINVAL ? "bad session id" : "out of memory";
    } else {
      w.accepted = true;
      w.next_record_seq = next;
      prog_device = s_prog_bind(self, h->session_id, id, idlen);
    }
  }
  dd_events_emit(s_ev(self), "service.hello", DD_S("device", h->device_id),
                 DD_S("session", h->session_id), DD_B("accepted", w.accepted),
                 DD_B("resumed", resumed), DD_I("next_seq", (int64_t)w.next_record_seq),
                 DD_S("reason", w.reason),
                 DD_I("sessions", (int64_t)dd_svc_table_count(self->sessions)), DD_END);
  Duodiag__Envelope env;
  s_env(self, &env);
  env.body_case = DUODIAG__ENVELOPE__BODY_SERVICE_WELCOME;
  env.service_welcome = &w;
  s_send_to(self, id, idlen, &env);
  if (!w.accepted) return;
  if (!strcmp(h->session_id, "*")) {
    s_flush_held(self);
    return;
  }
  s_relay_hello(self, h->session_id);
  /* The device that gets the package came back: resume it from the acknowledged offset. */
  if (prog_device && self->pkg_ready && self->prog.active && !self->prog.done) {
    dd_svc_prog_resume(&self->prog, s_now(self));
    dd_events_emit(s_ev(self), "service.program_resume", DD_S("package_id", self->offer->package_id),
                   DD_I("from", (int64_t)self->prog.acked), DD_S("reason", "hello"),
                   DD_I("resumes", self->prog.resumes), DD_END);
    s_pump(self);
  }
}

/* ---- readers ---- */

static void s_probe_echo(dd_service_t *self, const Duodiag__Probe *p, Duodiag__ProbeEcho *e,
                         Duodiag__Envelope *env) {
  duodiag__probe_echo__init(e);
  e->probe_id = p->probe_id;
  e->sent_us = p->sent_us;
  e->echo_us = s_now(self);
  s_env(self, env);
  env->body_case = DUODIAG__ENVELOPE__BODY_PROBE_ECHO;
  env->probe_echo = e;
}

static int s_on_router(dd_loop_t *loop, void *zsock, int fd, void *arg) {
  dd_service_t *self = arg;
  for (int i = 0; i < 256; i++) {
    uint8_t id[DD_WIRE_IDENTITY_MAX];
    size_t idlen = 0;
    Duodiag__Envelope *env = NULL;
    int rc = dd_wire_recv_from(zsock, id, sizeof id, &idlen, &env, &self->ws, ZMQ_DONTWAIT);
    if (rc == DD_EAGAIN) break;
    if (rc < 0) {
      dd_events_emit(s_ev(self), "wire.rejected", DD_S("channel", "service"),
                     DD_S("error", dd_err_name(rc)), DD_END);
      continue;
    }
    bool from_fd = self->fd_idlen == idlen && !memcmp(id, self->fd_id, idlen);
    bool from_sd = self->sd_idlen == idlen && !memcmp(id, self->sd_id, idlen);
    switch (env->body_case) {
    case DUODIAG__ENVELOPE__BODY_SERVICE_HELLO: s_on_hello(self, id, idlen, env->service_hello); break;
    case DUODIAG__ENVELOPE__BODY_SESSION_CLOSE:
      s_on_close(self, id, idlen, env->session_close);
      break;
    case DUODIAG__ENVELOPE__BODY_PROGRAM_ACK:
      if (from_fd) s_on_program_ack(self, env->program_ack);
      break;
    case DUODIAG__ENVELOPE__BODY_PROGRAM_STATUS: {
      const Duodiag__ProgramStatus *st = env->program_status;
      dd_events_emit(s_ev(self), "service.program_status", DD_S("package_id", st->package_id),
                     DD_I("phase", st->phase), DD_I("percent", st->percent),
                     DD_I("result_code", st->result_code), DD_END);
      Duodiag__Envelope fwd;
      s_env(self, &fwd);
      fwd.body_case = DUODIAG__ENVELOPE__BODY_PROGRAM_STATUS;
      fwd.program_status = env->program_status;
      s_send_to(self, self->sd_id, self->sd_idlen, &fwd);
      break;
    }
    case DUODIAG__ENVELOPE__BODY_PROGRAM_OFFER:
      if (from_sd) s_on_offer(self, &env);
      break;
    case DUODIAG__ENVELOPE__BODY_PROGRAM_CHUNK:
      if (from_sd) s_on_chunk_from_second(self, env->program_chunk);
      break;
    case DUODIAG__ENVELOPE__BODY_PROBE: {
      Duodiag__ProbeEcho e;
      Duodiag__Envelope out;
      s_probe_echo(self, env->probe, &e, &out);
      s_send_to(self, id, idlen, &out);
      break;
    }
    default:
      dd_debug("service: ignored %s on the service link", dd_wire_body_name(env));
      break;
    }
    dd_wire_free(&env);
  }
  s_after_batch(self);
  return 0;
}

static int s_on_udp(dd_loop_t *loop, void *zsock, int fd, void *arg) {
  dd_service_t *self = arg;
  static uint8_t buf[S_UDP_MAX];
  for (int i = 0; i < 256; i++) {
    struct sockaddr_storage from;
    socklen_t flen = sizeof from;
    ssize_t n = recvfrom(fd, buf, sizeof buf, MSG_DONTWAIT, (struct sockaddr *)&from, &flen);
    if (n < 0) break;
    Duodiag__Envelope *env = NULL;
    if (dd_wire_decode_datagram(buf, (size_t)n, &env, &self->ws) < 0) {
      /* a corrupted datagram is a lost one: the first device resends what is not acked */
      dd_events_emit(s_ev(self), "wire.rejected", DD_S("channel", "udp"),
                     DD_S("reason", dd_wire_reason_name(self->ws.last_reason)), DD_END);
      continue;
    }
    if (env->body_case == DUODIAG__ENVELOPE__BODY_VEHICLE_RECORD) {
      /* the envelope without its datagram trailer, as the relay path carries it */
      s_on_record(self, env, buf, (size_t)n - DD_WIRE_DGRAM_TRAILER, DD_SVC_PATH_DIRECT);
    } else if (env->body_case == DUODIAG__ENVELOPE__BODY_PROBE) {
      /* S43: answer at once, to the address the probe came from. */
      Duodiag__ProbeEcho e;
      Duodiag__Envelope out;
      s_probe_echo(self, env->probe, &e, &out);
      uint8_t ob[256];
      size_t olen;
      if (dd_wire_encode_datagram(&out, ob, sizeof ob, &olen) == 0)
        sendto(fd, ob, olen, MSG_DONTWAIT, (struct sockaddr *)&from, flen);
    }
    dd_wire_free(&env);
  }
  s_after_batch(self);
  return 0;
}

static int s_on_relay(dd_loop_t *loop, void *zsock, int fd, void *arg) {
  dd_service_t *self = arg;
  for (int i = 0; i < 256; i++) {
    Duodiag__Envelope *env = NULL;
    int rc = dd_wire_recv(zsock, &env, &self->ws, ZMQ_DONTWAIT);
    if (rc == DD_EAGAIN) break;
    if (rc < 0) continue;
    if (env->body_case == DUODIAG__ENVELOPE__BODY_RELAY_FORWARD) {
      const Duodiag__RelayForward *fw = env->relay_forward;
      Duodiag__Envelope *inner = NULL;
      if (dd_wire_decode(fw->inner.data, fw->inner.len, &inner, &self->ws) == 0) {
        if (inner->body_case == DUODIAG__ENVELOPE__BODY_VEHICLE_RECORD)
          s_on_record(self, inner, fw->inner.data, fw->inner.len, DD_SVC_PATH_RELAY);
        dd_wire_free(&inner);
      }
    } else if (env->body_case == DUODIAG__ENVELOPE__BODY_RELAY_ERROR) {
      dd_events_emit(s_ev(self), "service.relay_error", DD_S("session", env->relay_error->session_id),
                     DD_S("code", dd_err_name(env->relay_error->code)),
                     DD_S("text", env->relay_error->text), DD_END);
    }
    dd_wire_free(&env);
  }
  s_after_batch(self);
  return 0;
}

static int s_on_tick(dd_loop_t *loop, int timer_id, void *arg) {
  dd_service_t *self = arg;
  s_after_batch(self);
  s_expire(self);
  s_flush_held(self);
  s_pump(self);
  return 0;
}

/* ---- set-up ---- */

int dd_service_parse_hostport(const char *text, struct sockaddr_storage *addr, unsigned *addrlen) {
  char host[256];
  const char *colon = strrchr(text, ':');
  if (!colon || colon == text || !colon[1]) return DD_EINVAL;
  size_t hl = (size_t)(colon - text);
  if (text[0] == '[' && hl >= 2 && text[hl - 1] == ']') {
    text++;
    hl -= 2;
  }
  if (hl >= sizeof host) return DD_EINVAL;
  memcpy(host, text, hl);
  host[hl] = '\0';
  char *end;
  long port = strtol(colon + 1, &end, 10);
  if (*end || port < 0 || port > 65535) return DD_EINVAL;
  struct addrinfo hints = {0}, *res = NULL;
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  hints.ai_flags = AI_NUMERICSERV;
  if (getaddrinfo(host, colon + 1, &hints, &res) != 0 || !res) return DD_EINVAL;
  memcpy(addr, res->ai_addr, res->ai_addrlen);
  *addrlen = (unsigned)res->ai_addrlen;
  freeaddrinfo(res);
  return 0;
}

int dd_service_new(dd_proc_t *proc, const dd_service_cfg_t *cfg, dd_service_t **out) {
  if (!cfg->endpoint || !cfg->udp || !cfg->service_id || !cfg->service_id[0] ||
      strlen(cfg->service_id) >= S_ID_MAX || (cfg->token && strlen(cfg->token) >= S_ID_MAX))
    return DD_EINVAL;
  struct sockaddr_storage sa;
  unsigned salen = 0;
  if (dd_service_parse_hostport(cfg->udp, &sa, &salen) < 0) return DD_EINVAL;
  if (sodium_init() < 0) return DD_EIO;
  dd_service_t *self = calloc(1, sizeof *self);
  if (!self) return DD_ENOMEM;
  self->proc = proc;
  self->udp = -1;
  snprintf(self->id, sizeof self->id, "%s", cfg->service_id);
  if (cfg->token) {
    self->need_token = true;
    snprintf(self->token, sizeof self->token, "%s", cfg->token);
  }
  self->cfg_chunk = cfg->chunk;
  self->cfg_window = cfg->window;
  self->cfg_stall = cfg->stall_us;
  dd_svc_prog_init(&self->prog, cfg->chunk, cfg->window, cfg->stall_us);
  dd_wire_stats_init(&self->ws);
  dd_svc_table_cfg_t tcfg = {.max_sessions = cfg->max_sessions, .idle_us = cfg->session_idle_us};
  int rc = dd_svc_table_new(&tcfg, &self->sessions);
  if (rc < 0) goto out_free;
  int one = 1, linger = 0;
  self->router = zmq_socket(dd_proc_zctx(proc), ZMQ_ROUTER);
  if (!self->router) {
    rc = -errno;
    goto out_free;
  }
  zmq_setsockopt(self->router, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
  zmq_setsockopt(self->router, ZMQ_ROUTER_HANDOVER, &one, sizeof one);
  zmq_setsockopt(self->router, ZMQ_LINGER, &linger, sizeof linger);
  dd_wire_limit_socket(self->router);
  if (zmq_bind(self->router, cfg->endpoint) < 0) {
    rc = -errno;
    dd_error("service: cannot bind %s: %s", cfg->endpoint, zmq_strerror(errno));
    goto out_free;
  }
  self->udp = socket(sa.ss_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (self->udp < 0 || bind(self->udp, (struct sockaddr *)&sa, salen) < 0) {
    rc = -errno;
    dd_error("service: cannot bind UDP %s: %s", cfg->udp, strerror(errno));
    goto out_free;
  }
  int rcvbuf = 4 * 1024 * 1024;
  setsockopt(self->udp, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  if (cfg->relay) {
    self->relay = zmq_socket(dd_proc_zctx(proc), ZMQ_DEALER);
    if (!self->relay) {
      rc = -errno;
      goto out_free;
    }
    /* The relay delivers by routing id: ours is the service's party id (dd_relay.h). */
    zmq_setsockopt(self->relay, ZMQ_ROUTING_ID, self->id, strlen(self->id));
    zmq_setsockopt(self->relay, ZMQ_LINGER, &linger, sizeof linger);
    dd_wire_limit_socket(self->relay);
    if (zmq_connect(self->relay, cfg->relay) < 0) {
      rc = -errno;
      goto out_free;
    }
  }
  dd_loop_t *loop = dd_proc_loop(proc);
  dd_loop_add_zsock(loop, self->router, s_on_router, self);
  dd_loop_add_fd(loop, self->udp, s_on_udp, self);
  if (self->relay) dd_loop_add_zsock(loop, self->relay, s_on_relay, self);
  self->tick = dd_loop_timer_every(loop, S_TICK_US, s_on_tick, self);
  struct sockaddr_storage bound;
  socklen_t bl = sizeof bound;
  int port = 0;
  if (getsockname(self->udp, (struct sockaddr *)&bound, &bl) == 0)
    port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                             : ((struct sockaddr_in *)&bound)->sin_port);
  dd_events_emit(s_ev(self), "service.up", DD_S("id", self->id), DD_S("endpoint", cfg->endpoint),
                 DD_S("udp", cfg->udp), DD_I("udp_port", port),
                 DD_S("relay", cfg->relay ? cfg->relay : ""), DD_I("chunk", self->prog.chunk),
                 DD_I("window", self->prog.window),
                 DD_I("max_sessions", (int64_t)dd_svc_table_max(self->sessions)),
                 DD_D("session_idle_s", s_idle_s(self)), DD_END);
  *out = self;
  return 0;
out_free:
  dd_service_destroy(&self);
  return rc < 0 ? rc : DD_EINVAL;
}

void dd_service_destroy(dd_service_t **self_p) {
  if (!self_p || !*self_p) return;
  dd_service_t *self = *self_p;
  dd_loop_t *loop = dd_proc_loop(self->proc);
  if (self->sessions) {
    /* record counters over every session served, those already freed included */
    dd_svc_table_stats_t ts = dd_svc_table_stats(self->sessions);
    const dd_svc_intake_stats_t *st = &ts.rec;
    dd_events_emit(s_ev(self), "service.summary", DD_I("received", (int64_t)st->received),
                   DD_I("direct", (int64_t)st->direct), DD_I("relay", (int64_t)st->relay),
                   DD_I("duplicates", (int64_t)st->duplicates),
                   DD_I("refused", (int64_t)st->refused), DD_I("delivered", (int64_t)st->delivered),
                   DD_I("forwarded", (int64_t)self->forwarded), DD_I("held", (int64_t)self->n_held),
                   DD_I("acks", (int64_t)st->acks), DD_I("sessions", (int64_t)ts.opened),
                   DD_I("sessions_open", (int64_t)ts.open), DD_I("sessions_peak", (int64_t)ts.peak),
                   DD_I("sessions_resumed", (int64_t)ts.resumed),
                   DD_I("sessions_closed", (int64_t)ts.closed),
                   DD_I("sessions_idled", (int64_t)ts.idled), DD_I("sessions_full", (int64_t)ts.full),
                   DD_I("unknown_session", (int64_t)ts.unknown),
                   DD_END);
  }
  if (self->tick > 0) dd_loop_timer_cancel(loop, self->tick);
  if (self->router) {
    dd_loop_remove_zsock(loop, self->router);
    zmq_close(self->router);
  }
  if (self->relay) {
    dd_loop_remove_zsock(loop, self->relay);
    zmq_close(self->relay);
  }
  if (self->udp >= 0) {
    dd_loop_remove_fd(loop, self->udp);
    close(self->udp);
  }
  while (self->held) {
    s_held_t *h = self->held;
    self->held = h->next;
    free(h->data);
    free(h);
  }
  s_drop_package(self);
  dd_svc_table_destroy(&self->sessions);
  free(self);
  *self_p = NULL;
}
