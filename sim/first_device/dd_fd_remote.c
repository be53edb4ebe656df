/* dd_fd_remote: the first device's links, session (S11-S17, S2, S3) and record delivery
 * (S43-S45). */
#include "dd_fd_remote.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zmq.h>

#include "dd_delivery.h"
#include "dd_err.h"
#include "dd_log.h"
#include "dd_rng.h"
#include "dd_vin.h"

#define S_TICK_US 10000ull             /* housekeeping period */
#define S_UDP_MAX 60000u               /* largest datagram of the direct path (FLOWS.md) */
#define S_PICTURE_BYTES (40u * 1024u)  /* a phone photo of the dashboard, JPEG-like */
#define S_VIDEO_BYTES (48u * 1024u)    /* a short clip */
#define S_VOICE_BYTES (16u * 1024u)    /* a voice message: 4 s of 32 kbit/s speech */
#define S_VOICE_MS 4000u               /* its length */
#define S_MAX_TLINKS 8                 /* terminals reached besides the IM link */
#define S_PAYMENT_RETRIES 3u           /* default resends of an unconfirmed payment (S16) */
#define S_PAYMENT_RETRY_US 2000000ull  /* ... every 2 s */

/* A terminal reached over a link of its own (cfg.terminal_ep "EP;ID=EP;..."). */
typedef struct {
  char id[DD_SESSION_ID_MAX];      /* terminal id */
  char link[DD_SESSION_ID_MAX + 4]; /* link name given to handlers: "im:" + id */
  void *sock;                      /* DEALER to its IM endpoint */
} s_tlink_t;

struct dd_fd_remote {
  dd_proc_t *proc;                /* process */
  dd_fd_remote_cfg_t cfg;         /* configuration */
  dd_fd_remote_fn fn;             /* handler of other messages */
  dd_fd_remote_state_fn state_fn; /* milestones */
  void *arg;                      /* passed to both */
  uint64_t seq;                   /* envelope counter */
  void *cloud, *im, *service, *relay; /* DEALER sockets (NULL until connected) */
  int udp;                        /* direct path socket, -1 when none */
  int tick;                       /* housekeeping timer */
  dd_session_t *session;          /* S11-S17, S2 */
  char vin[DD_VIN_SIZE];          /* vehicle of the session */
  bool established;               /* S3 done */
  char service_id[128];           /* ServiceWelcome.service_id (relay destination) */
  dd_transport_t tr;              /* S43-S45 */
  bool tr_on;                     /* tr initialised */
  uint64_t next_rtt_event;        /* transport.rtt once a second */
  dd_dsend_t *dsend;              /* record window */
  dd_wire_stats_t stats;          /* decode counters */
  /* S12 session-window media */
  uint64_t msg_seq;               /* SessionMessage.seq */
  /* S12: other terminals' links, and the one the session's terminal is reached over */
  s_tlink_t tlinks[S_MAX_TLINKS]; /* terminals with a link of their own */
  size_t n_tlinks;                /* entries of tlinks */
  void *session_im;               /* the session terminal's socket (im or a tlink), or NULL */
  char im_terminal[DD_SESSION_ID_MAX]; /* terminal last asked over the default IM link */
  uint32_t boot;                  /* wall clock at start-up: session and payment ids stay unique
                                   * across sessions and restarts (the ledger keeps them) */
  uint64_t n_sessions;            /* sessions started */
  uint8_t *buf;                   /* encode buffer (DD_WIRE_MAX) */
  /* S17 and S2 may overtake the owner's PaymentConfirmation (they travel other links): kept
   * until the session is ready for them */
  bool early_signal, early_addr;  /* held */
  char sig_session[128], sig_order[128]; /* held ConnectRequestSignal */
  char ad_session[128], ad_service[512], ad_udp[256], ad_relay[512], ad_token[256]; /* held S2 */
};

static uint64_t s_now(dd_fd_remote_t *self) { return dd_loop_now(dd_proc_loop(self->proc)); }
static dd_events_t *s_ev(dd_fd_remote_t *self) { return dd_proc_events(self->proc); }

void dd_fd_remote_env(dd_fd_remote_t *self, Duodiag__Envelope *env) {
  dd_wire_envelope_init(env, dd_proc_name(self->proc), ++self->seq, s_now(self));
}

static int s_send(void *sock, Duodiag__Envelope *env) {
  if (!sock) return DD_ENOTCONN;
  int rc = dd_wire_send(sock, env, ZMQ_DONTWAIT);
  if (rc < 0) dd_warn("send %s: %s", dd_wire_body_name(env), dd_strerror(rc));
  return rc;
}

int dd_fd_remote_send_cloud(dd_fd_remote_t *self, Duodiag__Envelope *env) {
  return s_send(self->cloud, env);
}
int dd_fd_remote_send_im(dd_fd_remote_t *self, Duodiag__Envelope *env) {
  return s_send(self->session_im ? self->session_im : self->im, env);
}

/* The socket a link name denotes ("im", "im:ID", "service", "relay", "cloud"), or NULL. */
static void *s_link_sock(dd_fd_remote_t *self, const char *link) {
  if (!link) return NULL;
  if (!strcmp(link, "im")) return self->im;
  if (!strcmp(link, "service")) return self->service;
  if (!strcmp(link, "relay")) return self->relay;
  if (!strcmp(link, "cloud")) return self->cloud;
  for (size_t i = 0; i < self->n_tlinks; i++)
    if (!strcmp(link, self->tlinks[i].link)) return self->tlinks[i].sock;
  return NULL;
}

int dd_fd_remote_send_link(dd_fd_remote_t *self, const char *link, Duodiag__Envelope *env) {
  return s_send(s_link_sock(self, link), env);
}

const char *dd_fd_remote_link_terminal(const dd_fd_remote_t *self, const char *link) {
  if (link && !strcmp(link, "im")) return self->im_terminal;
  for (size_t i = 0; link && i < self->n_tlinks; i++)
    if (!strcmp(link, self->tlinks[i].link)) return self->tlinks[i].id;
  return "";
}
int dd_fd_remote_send_service(dd_fd_remote_t *self, Duodiag__Envelope *env) {
  return s_send(self->service, env);
}

/* ---- receiving ----------------------------------------------------------------------------- */

static void s_on_env(dd_fd_remote_t *self, Duodiag__Envelope *env, const char *link);

static int s_on_zsock(dd_loop_t *loop, void *zsock, int fd, void *arg) {
  dd_fd_remote_t *self = arg;
  (void)loop;
  (void)fd;
  const char *link = zsock == self->cloud     ? "cloud"
                     : zsock == self->im      ? "im"
                     : zsock == self->service ? "service"
                     : zsock == self->relay   ? "relay"
                                              : NULL;
  for (size_t i = 0; !link && i < self->n_tlinks; i++)
    if (zsock == self->tlinks[i].sock) link = self->tlinks[i].link;
  if (!link) link = "?";
  for (int i = 0; i < 64; i++) {
    Duodiag__Envelope *env = NULL;
    int rc = dd_wire_recv(zsock, &env, &self->stats, ZMQ_DONTWAIT);
    if (rc == DD_EAGAIN) break;
    if (rc < 0) {
      dd_warn("%s link: rejected a message: %s", link, dd_strerror(rc));
      continue;
    }
    s_on_env(self, env, link);
    dd_wire_free(&env);
  }
  return 0;
}

static int s_on_udp(dd_loop_t *loop, void *zsock, int fd, void *arg) {
  dd_fd_remote_t *self = arg;
  (void)loop;
  (void)zsock;
  for (int i = 0; i < 64; i++) {
    ssize_t n = recv(fd, self->buf, S_UDP_MAX + 1, MSG_DONTWAIT);
    if (n < 0) break; /* EAGAIN, or ECONNREFUSED from an unreachable peer (counts as loss) */
    Duodiag__Envelope *env = NULL;
    if (dd_wire_decode_datagram(self->buf, (size_t)n, &env, &self->stats) < 0) continue;
    s_on_env(self, env, "udp");
    dd_wire_free(&env);
  }
  return 0;
}

static void *s_dealer(dd_fd_remote_t *self, const char *ep) {
  void *s = zmq_socket(dd_proc_zctx(self->proc), ZMQ_DEALER);
  if (!s) return NULL;
  int linger = 0;
  const char *id = dd_proc_name(self->proc);
  zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
  zmq_setsockopt(s, ZMQ_ROUTING_ID, id, strlen(id));
  dd_wire_limit_socket(s);
  if (zmq_connect(s, ep) != 0) {
    dd_error("cannot connect to %s: %s", ep, zmq_strerror(zmq_errno()));
    zmq_close(s);
    return NULL;
  }
  dd_loop_add_zsock(dd_proc_loop(self->proc), s, s_on_zsock, self);
  return s;
}

static void s_close(dd_fd_remote_t *self, void **sock) {
  if (!*sock) return;
  dd_loop_remove_zsock(dd_proc_loop(self->proc), *sock);
  zmq_close(*sock);
  *sock = NULL;
}

/* "host:port" (IPv4 name or address; [v6]:port) -> a connected UDP socket, or -1. */
static int s_udp_connect(const char *hostport) {
  char host[256];
  const char *colon = strrchr(hostport, ':');
  if (!colon || colon == hostport || (size_t)(colon - hostport) >= sizeof host) return -1;
  size_t hl = (size_t)(colon - hostport);
  if (hostport[0] == '[' && hl >= 2 && hostport[hl - 1] == ']') {
    memcpy(host, hostport + 1, hl - 2);
    host[hl - 2] = '\0';
  } else {
    memcpy(host, hostport, hl);
    host[hl] = '\0';
  }
  struct addrinfo hints = {.ai_socktype = SOCK_DGRAM}, *ai = NULL;
  if (getaddrinfo(host, colon + 1, &hints, &ai) != 0 || !ai) return -1;
  int fd = socket(ai->ai_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
    close(fd);
    fd = -1;
  }
  freeaddrinfo(ai);
  return fd;
}

/* ---- S12: session-window messages ---------------------------------------------------------- */

static void s_message(dd_fd_remote_t *self, Duodiag__SessionMessage__Kind kind, const char *mime,
                      const uint8_t *data, size_t len, uint32_t duration_ms, bool event) {
  Duodiag__SessionMessage m = DUODIAG__SESSION_MESSAGE__INIT;
  m.session_id = (char *)dd_session_id(self->session);
  m.seq = ++self->msg_seq;
  m.kind = kind;
  m.payload.data = (uint8_t *)data;
  m.payload.len = len;
  m.mime = (char *)(mime ? mime : "");
  m.duration_ms = duration_ms;
  Duodiag__Envelope env;
  dd_fd_remote_env(self, &env);
  env.body_case = DUODIAG__ENVELOPE__BODY_SESSION_MESSAGE;
  env.session_message = &m;
  int rc = dd_fd_remote_send_im(self, &env);
  static const char *names[] = {"?", "text", "picture", "voice", "video"};
  if (event)
    dd_events_emit(s_ev(self), "fd.message", DD_S("media", names[kind <= 4 ? kind : 0]),
                   DD_I("bytes", len), DD_I("seq", m.seq), DD_I("duration_ms", duration_ms),
                   DD_S("session_id", m.session_id), DD_B("sent", rc == 0), DD_END);
}

/* Bytes that look like a baseline JPEG: SOI, APP0 "JFIF", entropy-coded noise, EOI. */
static void s_fake_media(dd_fd_remote_t *self, uint8_t *b, size_t len, const uint8_t *head,
                         size_t head_len) {
  dd_rng_t *rng = dd_proc_rng(self->proc);
  for (size_t i = 0; i < len; i++) b[i] = (uint8_t)dd_rng_u64(rng);
  memcpy(b, head, head_len < len ? head_len : len);
}

/* S12: the owner's first messages in the window, before the IM request (S13): a text, a photo
 * of the dashboard, a voice message and a short video. */
static void s_media_start(dd_fd_remote_t *self) {
  if (!self->cfg.media) return;
  const char *text = "Hello, the engine lamp is on and the car shakes at idle. Can you help?";
  s_message(self, DUODIAG__SESSION_MESSAGE__KIND__TEXT, NULL, (const uint8_t *)text,
            strlen(text), 0, true);
  uint8_t *b = malloc(S_VIDEO_BYTES > S_PICTURE_BYTES ? S_VIDEO_BYTES : S_PICTURE_BYTES);
  if (!b) return;
  static const uint8_t jpeg[] = {0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 'J', 'F', 'I', 'F', 0x00};
  s_fake_media(self, b, S_PICTURE_BYTES, jpeg, sizeof jpeg);
  b[S_PICTURE_BYTES - 2] = 0xFF;
  b[S_PICTURE_BYTES - 1] = 0xD9;
  s_message(self, DUODIAG__SESSION_MESSAGE__KIND__PICTURE, "image/jpeg", b, S_PICTURE_BYTES, 0,
            true);
  /* RFC 7845: an Ogg Opus stream starts with an "OggS" page holding "OpusHead" */
  static const uint8_t ogg[] = {'O', 'g', 'g', 'S', 0x00, 0x02};
  s_fake_media(self, b, S_VOICE_BYTES, ogg, sizeof ogg);
  s_message(self, DUODIAG__SESSION_MESSAGE__KIND__VOICE, "audio/ogg", b, S_VOICE_BYTES, S_VOICE_MS,
            true);
  static const uint8_t mp4[] = {0x00, 0x00, 0x00, 0x18, 'f', 't', 'y', 'p', 'm', 'p', '4', '2'};
  s_fake_media(self, b, S_VIDEO_BYTES, mp4, sizeof mp4);
  s_message(self, DUODIAG__SESSION_MESSAGE__KIND__VIDEO, "video/mp4", b, S_VIDEO_BYTES, 3000,
            true);
  free(b);
}

/* ---- S11-S17, S2, S3 ----------------------------------------------------------------------- */

static void s_connect_service(dd_fd_remote_t *self) {
  const char *sep = dd_session_service_ep(self->session);
  self->service = s_dealer(self, sep);
  if (!self->service) {
    dd_events_emit(s_ev(self), "session.ended", DD_S("outcome", "service_unreachable"),
                   DD_S("detail", sep), DD_END);
    return;
  }
  const char *relay = dd_session_relay_ep(self->session);
  if (relay && *relay) self->relay = s_dealer(self, relay);
  const char *udp = dd_session_udp_ep(self->session);
  if (udp && *udp) {
    self->udp = s_udp_connect(udp);
    if (self->udp >= 0) dd_loop_add_fd(dd_proc_loop(self->proc), self->udp, s_on_udp, self);
    else dd_warn("direct path %s unusable", udp);
  }
  Duodiag__ServiceHello h = DUODIAG__SERVICE_HELLO__INIT;
  h.session_id = (char *)dd_session_id(self->session);
  h.token = (char *)dd_session_token(self->session);
  h.device_id = (char *)dd_proc_name(self->proc);
  h.vin = self->vin;
  Duodiag__Envelope env;
  dd_fd_remote_env(self, &env);
  env.body_case = DUODIAG__ENVELOPE__BODY_SERVICE_HELLO;
  env.service_hello = &h;
  dd_fd_remote_send_service(self, &env);
}

/* Relay hello (dd_relay.h): a RelayForward addressed to ourselves registers us as an end of the
 * session; the relay echoes it. */
static void s_relay_hello(dd_fd_remote_t *self) {
  if (!self->relay) return;
  Duodiag__Probe p = DUODIAG__PROBE__INIT;
  p.probe_id = 0;
  p.sent_us = s_now(self);
  Duodiag__Envelope inner;
  dd_fd_remote_env(self, &inner);
  inner.body_case = DUODIAG__ENVELOPE__BODY_PROBE;
  inner.probe = &p;
  size_t len = 0;
  uint8_t ib[256];
  if (dd_wire_encode(&inner, ib, sizeof ib, &len) < 0) return;
  Duodiag__RelayForward f = DUODIAG__RELAY_FORWARD__INIT;
  f.session_id = (char *)dd_session_id(self->session);
  f.destination = (char *)dd_proc_name(self->proc);
  f.inner.data = ib;
  f.inner.len = len;
  Duodiag__Envelope env;
  dd_fd_remote_env(self, &env);
  env.body_case = DUODIAG__ENVELOPE__BODY_RELAY_FORWARD;
  env.relay_forward = &f;
  s_send(self->relay, &env);
}

static void s_do_action(dd_fd_remote_t *self, const dd_session_action_t *a) {
  Duodiag__Envelope env;
  dd_fd_remote_env(self, &env);
  switch (a->kind) {
  case DD_SA_LIST_REQUEST: {
    Duodiag__TerminalListRequest q = DUODIAG__TERMINAL_LIST_REQUEST__INIT;
    q.make_filter = self->cfg.session.make;
    env.body_case = DUODIAG__ENVELOPE__BODY_TERMINAL_LIST_REQUEST;
    env.terminal_list_request = &q;
    dd_fd_remote_send_cloud(self, &env);
    break;
  }
  case DD_SA_OPEN_AND_IM: {
    /* the chosen terminal's own link if it has one, else the IM link */
    self->session_im = self->im;
    for (size_t i = 0; i < self->n_tlinks; i++)
      if (!strcmp(self->tlinks[i].id, a->terminal_id)) self->session_im = self->tlinks[i].sock;
    if (self->session_im == self->im)
      snprintf(self->im_terminal, sizeof self->im_terminal, "%s", a->terminal_id);
    Duodiag__SessionOpen o = DUODIAG__SESSION_OPEN__INIT;
    o.session_id = (char *)a->session_id;
    o.terminal_id = (char *)a->terminal_id;
    o.owner_id = (char *)self->cfg.owner_id;
    o.vin = self->vin;
    env.body_case = DUODIAG__ENVELOPE__BODY_SESSION_OPEN;
    env.session_open = &o;
    int rc = dd_fd_remote_send_im(self, &env);
    dd_events_emit(s_ev(self), "fd.session_open", DD_S("session_id", a->session_id),
                   DD_S("terminal", a->terminal_id), DD_S("vin", self->vin),
                   DD_S("link", self->session_im == self->im ? "im" : "own"),
                   DD_B("sent", rc == 0), DD_END);
    s_media_start(self);
    Duodiag__ImRequest r = DUODIAG__IM_REQUEST__INIT;
    r.session_id = (char *)a->session_id;
    r.media = a->video ? DUODIAG__IM_REQUEST__MEDIA__VIDEO : DUODIAG__IM_REQUEST__MEDIA__VOICE;
    Duodiag__Envelope e2;
    dd_fd_remote_env(self, &e2);
    e2.body_case = DUODIAG__ENVELOPE__BODY_IM_REQUEST;
    e2.im_request = &r;
    dd_fd_remote_send_im(self, &e2);
    dd_events_emit(s_ev(self), "fd.im_request", DD_S("session_id", a->session_id),
                   DD_S("terminal", a->terminal_id), DD_S("media", a->video ? "video" : "voice"),
                   DD_END);
    break;
  }
  case DD_SA_DECISION: {
    Duodiag__OrderDecision d = DUODIAG__ORDER_DECISION__INIT;
    d.order_id = (char *)a->order_id;
    d.accept = a->accept;
    d.reason = (char *)a->reason;
    env.body_case = DUODIAG__ENVELOPE__BODY_ORDER_DECISION;
    env.order_decision = &d;
    dd_fd_remote_send_im(self, &env);
    dd_events_emit(s_ev(self), "fd.order_decision", DD_S("order_id", a->order_id),
                   DD_B("accept", a->accept), DD_S("reason", a->reason), DD_END);
    break;
  }
  case DD_SA_PAYMENT: {
    Duodiag__Payment p = DUODIAG__PAYMENT__INIT;
    p.payment_id = (char *)a->payment_id;
    p.order_id = (char *)a->order_id;
    p.amount_minor = a->amount_minor;
    p.currency = (char *)a->currency;
    p.payer_id = (char *)self->cfg.owner_id;
    env.body_case = DUODIAG__ENVELOPE__BODY_PAYMENT;
    env.payment = &p;
    dd_fd_remote_send_cloud(self, &env);
    dd_events_emit(s_ev(self), "fd.payment", DD_S("payment_id", a->payment_id),
                   DD_S("order_id", a->order_id), DD_I("amount_minor", a->amount_minor),
                   DD_S("currency", a->currency), DD_END);
    break;
  }
  default:
    break;
  }
}

static void s_session_pump(dd_fd_remote_t *self, uint64_t now) {
  if (!self->session) return;
  if (self->early_signal && dd_session_state(self->session) == DD_SS_AWAIT_SIGNAL) {
    self->early_signal = false;
    dd_session_on_signal(self->session, self->sig_session, self->sig_order, now);
  }
  if (self->early_addr && dd_session_state(self->session) == DD_SS_AWAIT_ADDRESS) {
    self->early_addr = false;
    dd_session_on_address(self->session, self->ad_session, self->ad_service, self->ad_udp,
                          self->ad_relay, self->ad_token, now);
  }
  dd_session_tick(self->session, now);
  dd_session_action_t a;
  while (dd_session_take_action(self->session, &a)) s_do_action(self, &a);
  dd_session_state_t from, to;
  while (dd_session_take_transition(self->session, &from, &to)) {
    dd_events_emit(s_ev(self), "session.state", DD_S("from", dd_session_state_name(from)),
                   DD_S("to", dd_session_state_name(to)), DD_END);
    if (to == DD_SS_AWAIT_ADDRESS)
      dd_events_emit(s_ev(self), "session.connected",
                     DD_S("session_id", dd_session_id(self->session)),
                     DD_S("terminal", dd_session_terminal(self->session)),
                     DD_S("order_id", dd_session_order(self->session)), DD_END);
    if (to == DD_SS_ESTABLISHED) s_connect_service(self);
    if (to == DD_SS_ENDED) {
      dd_events_emit(s_ev(self), "session.ended",
                     DD_S("outcome", dd_session_outcome_name(dd_session_outcome(self->session))),
                     DD_S("detail", dd_session_detail(self->session)),
                     DD_S("session_id", dd_session_id(self->session)),
                     DD_S("terminal", dd_session_terminal(self->session)),
                     DD_B("was_connected", from == DD_SS_AWAIT_ADDRESS || from == DD_SS_ESTABLISHED),
                     DD_END);
      /* a closed session carries no more vehicle data (its records would have no reader);
       * the service device frees its side of the session at once */
      if (self->service) {
        Duodiag__SessionClose c = DUODIAG__SESSION_CLOSE__INIT;
        c.session_id = (char *)dd_session_id(self->session);
        c.reason = (char *)dd_session_outcome_name(dd_session_outcome(self->session));
        Duodiag__Envelope env;
        dd_fd_remote_env(self, &env);
        env.body_case = DUODIAG__ENVELOPE__BODY_SESSION_CLOSE;
        env.session_close = &c;
        dd_fd_remote_send_service(self, &env);
      }
      self->established = false;
      if (self->state_fn) self->state_fn("ended", self->arg);
    }
  }
}

/* ---- S43-S45: records and paths ------------------------------------------------------------ */

static dd_path_t s_path(const dd_fd_remote_t *self) {
  dd_path_t p = DD_PATH_DIRECT;
  if (self->cfg.policy == DD_FD_PATH_RELAY) p = DD_PATH_RELAY;
  else if (self->cfg.policy == DD_FD_PATH_AUTO && self->tr_on) p = dd_transport_path(&self->tr);
  if (p == DD_PATH_RELAY && !self->relay) p = DD_PATH_DIRECT;
  if (p == DD_PATH_DIRECT && self->udp < 0 && self->relay) p = DD_PATH_RELAY;
  return p;
}

dd_path_t dd_fd_remote_path(const dd_fd_remote_t *self) { return s_path(self); }

/* transport.summary: the session's probe and record counters when its link goes away, so a run
 * can check that nothing was left unacknowledged and that the windows stayed bounded. */
static void s_transport_summary(dd_fd_remote_t *self) {
  if (!self->tr_on || !self->dsend) return;
  dd_dsend_stats_t st = dd_dsend_stats(self->dsend);
  dd_events_emit(s_ev(self), "transport.summary", DD_S("path", dd_path_name(s_path(self))),
                 DD_I("probes", self->tr.probes), DD_I("echoes", self->tr.samples),
                 DD_I("probes_lost", self->tr.losses), DD_I("switches", self->tr.switches),
                 DD_D("srtt_ms", self->tr.srtt_us / 1000.0),
                 DD_D("loss_pct", dd_transport_loss_pct(&self->tr)), DD_I("records", st.pushed),
                 DD_I("sent", st.sent), DD_I("resent", st.resent), DD_I("acked", st.acked),
                 DD_I("unacked", dd_dsend_unacked(self->dsend)), DD_I("in_window", st.in_window),
                 DD_END);
}

static void s_send_record(dd_fd_remote_t *self, const dd_dsend_out_t *o) {
  Duodiag__VehicleRecord *rec = duodiag__vehicle_record__unpack(NULL, o->len, o->data);
  if (!rec) return;
  dd_path_t path = s_path(self);
  rec->seq = o->seq;
  rec->path = path == DD_PATH_RELAY ? DUODIAG__VEHICLE_RECORD__PATH__RELAY
                                    : DUODIAG__VEHICLE_RECORD__PATH__DIRECT;
  Duodiag__Envelope env;
  dd_fd_remote_env(self, &env);
  env.body_case = DUODIAG__ENVELOPE__BODY_VEHICLE_RECORD;
  env.vehicle_record = rec;
  size_t len = 0;
  int rc = path == DD_PATH_DIRECT ? dd_wire_encode_datagram(&env, self->buf, DD_WIRE_MAX, &len)
                                   : dd_wire_encode(&env, self->buf, DD_WIRE_MAX, &len);
  if (rc == 0 && path == DD_PATH_DIRECT) {
    /* S45: one UDP datagram */
    if (len > S_UDP_MAX) rc = DD_EMSGSIZE;
    else if (send(self->udp, self->buf, len, MSG_DONTWAIT) < 0) rc = -errno;
  } else if (rc == 0) {
    /* S44: through the relay, to the service device */
    Duodiag__RelayForward f = DUODIAG__RELAY_FORWARD__INIT;
    f.session_id = (char *)dd_session_id(self->session);
    f.destination = self->service_id;
    f.inner.data = self->buf;
    f.inner.len = len;
    Duodiag__Envelope outer;
    dd_fd_remote_env(self, &outer);
    outer.body_case = DUODIAG__ENVELOPE__BODY_RELAY_FORWARD;
    outer.relay_forward = &f;
    rc = s_send(self->relay, &outer);
  }
  dd_events_emit(s_ev(self), "fd.record_sent", DD_I("seq", o->seq), DD_S("path", dd_path_name(path)),
                 DD_B("resend", o->resend), DD_I("request_id", rec->request_id),
                 DD_I("code", rc), DD_END);
  duodiag__vehicle_record__free_unpacked(rec, NULL);
}

int dd_fd_remote_push_record(dd_fd_remote_t *self, Duodiag__VehicleRecord *rec) {
  if (!self->established || !self->dsend) return DD_ENOTCONN;
  rec->session_id = (char *)dd_session_id(self->session);
  rec->seq = 1; /* the real number is set at each send */
  rec->path = DUODIAG__VEHICLE_RECORD__PATH__DIRECT;
  size_t len = duodiag__vehicle_record__get_packed_size(rec);
  uint8_t *b = malloc(len ? len : 1);
  if (!b) return DD_ENOMEM;
  duodiag__vehicle_record__pack(rec, b);
  uint64_t seq;
  int rc = dd_dsend_push(self->dsend, b, len, s_now(self), &seq);
  free(b);
  return rc;
}

static void s_transport_pump(dd_fd_remote_t *self, uint64_t now) {
  if (!self->established) return;
  uint32_t id;
  while (self->tr_on && self->udp >= 0 && dd_transport_poll(&self->tr, now, &id)) {
    Duodiag__Probe p = DUODIAG__PROBE__INIT;
    p.probe_id = id;
    p.sent_us = now;
    Duodiag__Envelope env;
    dd_fd_remote_env(self, &env);
    env.body_case = DUODIAG__ENVELOPE__BODY_PROBE;
    env.probe = &p;
    size_t len = 0;
    if (dd_wire_encode_datagram(&env, self->buf, DD_WIRE_MAX, &len) == 0)
      (void)send(self->udp, self->buf, len, MSG_DONTWAIT);
  }
  dd_transport_switch_t sw;
  while (self->tr_on && dd_transport_take_switch(&self->tr, &sw)) {
    dd_events_emit(s_ev(self), "transport.switched", DD_S("from", dd_path_name(sw.from)),
                   DD_S("to", dd_path_name(sw.to)),
                   DD_S("reason", dd_transport_reason_name(sw.reason)),
                   DD_D("srtt_ms", sw.srtt_us / 1000.0), DD_D("rttvar_ms", sw.rttvar_us / 1000.0),
                   DD_D("rtt_ms", sw.last_rtt_us / 1000.0), DD_D("loss_pct", sw.loss_pct), DD_END);
    /* dd_delivery: everything unacknowledged goes again on the new path (unless the planted
     * defect no_resend_on_switch is on: dd_dsend then ignores the change) */
    if (self->cfg.policy == DD_FD_PATH_AUTO) dd_dsend_on_path_change(self->dsend, now);
  }
  if (self->tr_on && now >= self->next_rtt_event) {
    self->next_rtt_event = now + 1000000;
    dd_events_emit(s_ev(self), "transport.rtt", DD_D("srtt_ms", self->tr.srtt_us / 1000.0),
                   DD_D("rtt_ms", self->tr.last_rtt_us / 1000.0),
                   DD_S("path", dd_path_name(s_path(self))),
                   DD_D("loss_pct", dd_transport_loss_pct(&self->tr)), DD_END);
  }
  dd_dsend_out_t o;
  for (int i = 0; i < 256 && dd_dsend_poll(self->dsend, now, &o); i++) s_send_record(self, &o);
}

static int s_on_tick(dd_loop_t *loop, int id, void *arg) {
  dd_fd_remote_t *self = arg;
  (void)id;
  uint64_t now = dd_loop_now(loop);
  s_session_pump(self, now);
  s_transport_pump(self, now);
  return 0;
}

/* ---- incoming messages --------------------------------------------------------------------- */

/* A session message the session did not take (another or an ended session, a late answer). */
static void s_ignored(dd_fd_remote_t *self, const Duodiag__Envelope *env, const char *session_id,
                      const char *link) {
  dd_events_emit(s_ev(self), "fd.ignored", DD_S("message", dd_wire_body_name(env)),
                 DD_S("session_id", session_id ? session_id : ""),
                 DD_S("state", self->session ? dd_session_state_name(dd_session_state(self->session))
                                             : "none"),
                 DD_S("link", link), DD_END);
}

static void s_on_list(dd_fd_remote_t *self, const Duodiag__TerminalList *l) {
  static dd_terminal_t terms[DD_SESSION_MAX_TERMINALS];
  size_t n = 0;
  for (size_t i = 0; i < l->n_terminals && n < DD_SESSION_MAX_TERMINALS; i++) {
    const Duodiag__TerminalInfo *t = l->terminals[i];
    dd_terminal_t *d = &terms[n++];
    memset(d, 0, sizeof *d);
    snprintf(d->id, sizeof d->id, "%s", t->terminal_id);
    snprintf(d->name, sizeof d->name, "%s", t->name);
    for (size_t k = 0; k < t->n_makes && k < 8; k++)
      snprintf(d->makes[d->n_makes++], sizeof d->makes[0], "%s", t->makes[k]);
    d->fee_minor = t->fee_minor;
    snprintf(d->currency, sizeof d->currency, "%s", t->currency);
    d->rating_x10 = t->rating_x10;
    d->online = t->online;
  }
  dd_events_emit(s_ev(self), "fd.terminals", DD_I("count", n), DD_END);
  dd_session_on_list(self->session, terms, n, s_now(self));
}

static void s_on_env(dd_fd_remote_t *self, Duodiag__Envelope *env, const char *link) {
  uint64_t now = s_now(self);
  dd_session_t *ss = self->session;
  switch (env->body_case) {
  case DUODIAG__ENVELOPE__BODY_TERMINAL_LIST:
    if (ss) s_on_list(self, env->terminal_list);
    break;
  case DUODIAG__ENVELOPE__BODY_IM_ANSWER: {
    const Duodiag__ImAnswer *a = env->im_answer;
    if (ss && dd_session_on_im_answer(ss, a->session_id, a->accepted, a->reason, now) == 0)
      dd_events_emit(s_ev(self), "fd.im_answer", DD_S("session_id", a->session_id),
                     DD_B("accepted", a->accepted), DD_S("reason", a->reason), DD_END);
    else
      s_ignored(self, env, a->session_id, link);
    break;
  }
  case DUODIAG__ENVELOPE__BODY_ORDER: {
    const Duodiag__Order *o = env->order;
    if (ss && dd_session_on_order(ss, o->session_id, o->order_id, o->fee_minor, o->currency,
                                  now) == 0)
      dd_events_emit(s_ev(self), "fd.order", DD_S("order_id", o->order_id),
                     DD_S("session_id", o->session_id), DD_I("fee_minor", o->fee_minor),
                     DD_S("currency", o->currency),
                     DD_S("merchant", o->merchant ? o->merchant->name : ""),
                     DD_S("merchant_id", o->merchant ? o->merchant->merchant_id : ""), DD_END);
    else
      s_ignored(self, env, o->session_id, link);
    break;
  }
  case DUODIAG__ENVELOPE__BODY_PAYMENT_CONFIRMATION:
    if (ss) {
      const Duodiag__PaymentConfirmation *p = env->payment_confirmation;
      dd_events_emit(s_ev(self), "fd.payment_confirmation", DD_S("payment_id", p->payment_id),
                     DD_B("ok", p->ok), DD_B("duplicate", p->duplicate),
                     DD_S("reason", p->reason), DD_END);
      dd_session_on_payment(ss, p->payment_id, p->ok, p->duplicate, p->reason, now);
    }
    break;
  case DUODIAG__ENVELOPE__BODY_CONNECT_REQUEST_SIGNAL:
    dd_events_emit(s_ev(self), "fd.request_signal",
                   DD_S("session_id", env->connect_request_signal->session_id),
                   DD_S("order_id", env->connect_request_signal->order_id),
                   DD_S("media", env->connect_request_signal->media ==
                                         DUODIAG__IM_REQUEST__MEDIA__VIDEO ? "video" : "voice"),
                   DD_S("link", link), DD_END);
    if (ss && (dd_session_state(ss) == DD_SS_PAYING || dd_session_state(ss) == DD_SS_AWAIT_ORDER)) {
      self->early_signal = true;
      snprintf(self->sig_session, sizeof self->sig_session, "%s",
               env->connect_request_signal->session_id);
      snprintf(self->sig_order, sizeof self->sig_order, "%s",
               env->connect_request_signal->order_id);
    } else if (ss) {
      dd_session_on_signal(ss, env->connect_request_signal->session_id,
                           env->connect_request_signal->order_id, now);
    }
    break;
  case DUODIAG__ENVELOPE__BODY_CONNECTION_ADDRESS:
    dd_events_emit(s_ev(self), "fd.connection_address",
                   DD_S("session_id", env->connection_address->session_id),
                   DD_S("service_endpoint", env->connection_address->service_endpoint),
                   DD_S("udp_endpoint", env->connection_address->udp_endpoint),
                   DD_S("relay_endpoint", env->connection_address->relay_endpoint),
                   DD_S("link", link), DD_END);
    if (ss) {
      const Duodiag__ConnectionAddress *a = env->connection_address;
      dd_session_state_t st = dd_session_state(ss);
      if (st == DD_SS_PAYING || st == DD_SS_AWAIT_ORDER || st == DD_SS_AWAIT_SIGNAL) {
        self->early_addr = true;
        snprintf(self->ad_session, sizeof self->ad_session, "%s", a->session_id);
        snprintf(self->ad_service, sizeof self->ad_service, "%s", a->service_endpoint);
        snprintf(self->ad_udp, sizeof self->ad_udp, "%s", a->udp_endpoint);
        snprintf(self->ad_relay, sizeof self->ad_relay, "%s", a->relay_endpoint);
        snprintf(self->ad_token, sizeof self->ad_token, "%s", a->token);
      } else {
        dd_session_on_address(ss, a->session_id, a->service_endpoint, a->udp_endpoint,
                              a->relay_endpoint, a->token, now);
      }
    }
    break;
  case DUODIAG__ENVELOPE__BODY_SESSION_MESSAGE: {
    static const char *names[] = {"?", "text", "picture", "voice", "video"};
    unsigned k = env->session_message->kind;
    dd_events_emit(s_ev(self), "fd.message_received", DD_S("media", k <= 4 ? names[k] : "?"),
                   DD_I("bytes", env->session_message->payload.len),
                   DD_S("session_id", env->session_message->session_id), DD_S("link", link),
                   DD_END);
    break;
  }
  case DUODIAG__ENVELOPE__BODY_SESSION_CLOSE: {
    /* either side may close the window; the session ends, connected or not */
    const Duodiag__SessionClose *c = env->session_close;
    bool ours = ss && dd_session_on_close(ss, c->session_id, c->reason, now) == 0;
    dd_events_emit(s_ev(self), "fd.session_closed", DD_S("reason", c->reason),
                   DD_S("session_id", c->session_id), DD_B("ours", ours), DD_S("link", link),
                   DD_END);
    break;
  }
  case DUODIAG__ENVELOPE__BODY_SERVICE_WELCOME: {
    const Duodiag__ServiceWelcome *w = env->service_welcome;
    if (self->established || !w->accepted) {
      if (!w->accepted)
        dd_events_emit(s_ev(self), "session.ended", DD_S("outcome", "service_refused"),
                       DD_S("detail", w->reason), DD_END);
      break;
    }
    snprintf(self->service_id, sizeof self->service_id, "%s",
             w->service_id[0] ? w->service_id : "service");
    self->established = true;
    dd_transport_init(&self->tr, &self->cfg.transport, now);
    self->tr_on = true;
    self->next_rtt_event = now + 1000000;
    s_relay_hello(self);
    dd_events_emit(s_ev(self), "session.established", DD_S("session_id", dd_session_id(ss)),
                   DD_S("service", self->service_id), DD_I("next_record_seq", w->next_record_seq),
                   DD_S("path", dd_path_name(s_path(self))), DD_END);
    if (self->state_fn) self->state_fn("established", self->arg);
    break;
  }
  case DUODIAG__ENVELOPE__BODY_VEHICLE_ACK: {
    const Duodiag__VehicleAck *a = env->vehicle_ack;
    dd_seq_range_t sacks[DD_WIRE_MAX_SACKS];
    size_t n = 0;
    for (size_t i = 0; i < a->n_sacks && n < DD_WIRE_MAX_SACKS; i++)
      sacks[n++] = (dd_seq_range_t){a->sacks[i]->first, a->sacks[i]->last};
    if (self->dsend) dd_dsend_on_ack(self->dsend, a->cumulative, sacks, n);
    break;
  }
  case DUODIAG__ENVELOPE__BODY_PROBE_ECHO:
    if (self->tr_on && !strcmp(link, "udp"))
      dd_transport_on_echo(&self->tr, (uint32_t)env->probe_echo->probe_id, now);
    break;
  case DUODIAG__ENVELOPE__BODY_PROBE: {
    /* a peer measuring us: answer at once (S43) */
    Duodiag__ProbeEcho e = DUODIAG__PROBE_ECHO__INIT;
    e.probe_id = env->probe->probe_id;
    e.sent_us = env->probe->sent_us;
    e.echo_us = now;
    Duodiag__Envelope out;
    dd_fd_remote_env(self, &out);
    out.body_case = DUODIAG__ENVELOPE__BODY_PROBE_ECHO;
    out.probe_echo = &e;
    size_t len;
    if (!strcmp(link, "udp")) {
      if (dd_wire_encode_datagram(&out, self->buf, DD_WIRE_MAX, &len) == 0)
        (void)send(self->udp, self->buf, len, MSG_DONTWAIT);
    } else {
      s_send(s_link_sock(self, link), &out);
    }
    break;
  }
  case DUODIAG__ENVELOPE__BODY_RELAY_FORWARD:
    break; /* our hello, echoed: the relay path works */
  case DUODIAG__ENVELOPE__BODY_RELAY_ERROR:
    dd_events_emit(s_ev(self), "fd.relay_error", DD_I("code", env->relay_error->code),
                   DD_S("text", env->relay_error->text), DD_END);
    break;
  default:
    if (self->fn) self->fn(env, link, self->arg);
    break;
  }
  s_session_pump(self, now);
}

/* ---- life cycle ---------------------------------------------------------------------------- */

/* cfg.terminal_ep: the IM link's endpoint, then ";ID=EP" for each terminal reached over a link
 * of its own (S12: the owner may turn to any listed terminal). An entry is "ID=EP" when what
 * comes before its first '=' is a plain name (no ':' or '/'); otherwise it is the IM link. */
static int s_connect_terminals(dd_fd_remote_t *self, const char *spec) {
  const char *s = spec;
  while (*s) {
    const char *e = strchr(s, ';');
    size_t n = e ? (size_t)(e - s) : strlen(s);
    char item[1024];
    if (n >= sizeof item) return DD_EINVAL;
    memcpy(item, s, n);
    item[n] = '\0';
    s += n + (e ? 1 : 0);
    if (!n) continue;
    char *eq = strchr(item, '=');
    bool named = eq && eq != item && (size_t)(eq - item) < DD_SESSION_ID_MAX &&
                 !memchr(item, ':', (size_t)(eq - item)) && !memchr(item, '/', (size_t)(eq - item));
    if (!named) {
      if (self->im) return DD_EINVAL; /* one IM link */
      if (!(self->im = s_dealer(self, item))) return DD_EINVAL;
      continue;
    }
    if (self->n_tlinks == S_MAX_TLINKS) return DD_ENOSPC;
    *eq = '\0';
    s_tlink_t *t = &self->tlinks[self->n_tlinks];
    snprintf(t->id, sizeof t->id, "%.*s", (int)(sizeof t->id - 1), item);
    snprintf(t->link, sizeof t->link, "im:%.*s", (int)(sizeof t->id - 1), item);
    if (!(t->sock = s_dealer(self, eq + 1))) return DD_EINVAL;
    self->n_tlinks++;
  }
  return 0;
}

int dd_fd_remote_new(dd_proc_t *proc, const dd_fd_remote_cfg_t *cfg, dd_fd_remote_fn fn,
                     dd_fd_remote_state_fn state_fn, void *arg, dd_fd_remote_t **out) {
  assert(proc && cfg && out);
  dd_fd_remote_t *self = calloc(1, sizeof *self);
  if (!self) return DD_ENOMEM;
  self->proc = proc;
  self->cfg = *cfg;
  self->fn = fn;
  self->state_fn = state_fn;
  self->arg = arg;
  self->udp = -1;
  self->boot = (uint32_t)(dd_clock_wall_us(dd_proc_clock(proc)) / 1000); /* milliseconds */
  dd_wire_stats_init(&self->stats);
  self->buf = malloc(DD_WIRE_MAX);
  if (!self->buf) goto out_free;
  if (cfg->cloud_ep && !(self->cloud = s_dealer(self, cfg->cloud_ep))) goto out_free;
  if (cfg->terminal_ep && s_connect_terminals(self, cfg->terminal_ep) < 0) goto out_free;
  int id = dd_loop_timer_every(dd_proc_loop(proc), S_TICK_US, s_on_tick, self);
  if (id < 0) goto out_free;
  self->tick = id;
  *out = self;
  return 0;
out_free:
  dd_fd_remote_destroy(&self);
  return DD_EINVAL;
}

static void s_end_session(dd_fd_remote_t *self) {
  s_transport_summary(self);
  s_close(self, &self->service);
  s_close(self, &self->relay);
  if (self->udp >= 0) {
    dd_loop_remove_fd(dd_proc_loop(self->proc), self->udp);
    close(self->udp);
    self->udp = -1;
  }
  dd_session_destroy(&self->session);
  dd_dsend_destroy(&self->dsend);
  self->established = false;
  self->tr_on = false;
}

void dd_fd_remote_destroy(dd_fd_remote_t **self_p) {
  assert(self_p);
  dd_fd_remote_t *self = *self_p;
  if (!self) return;
  if (self->tick > 0) dd_loop_timer_cancel(dd_proc_loop(self->proc), self->tick);
  s_end_session(self);
  s_close(self, &self->cloud);
  s_close(self, &self->im);
  for (size_t i = 0; i < self->n_tlinks; i++) s_close(self, &self->tlinks[i].sock);
  free(self->buf);
  free(self);
  *self_p = NULL;
}

void dd_fd_remote_set_fee_limit(dd_fd_remote_t *self, int64_t fee_limit_minor) {
  self->cfg.session.fee_limit_minor = fee_limit_minor;
}

void dd_fd_remote_set_target(dd_fd_remote_t *self, const char *terminal_id, bool video) {
  snprintf(self->cfg.session.terminal, sizeof self->cfg.session.terminal, "%s",
           terminal_id ? terminal_id : "");
  self->cfg.session.video = video;
}

void dd_fd_remote_set_payment(dd_fd_remote_t *self, bool pay, int64_t amount_minor) {
  self->cfg.session.decline = !pay;
  self->cfg.session.amount_minor = amount_minor > 0 ? amount_minor : 0;
}

int dd_fd_remote_start(dd_fd_remote_t *self, const char *make, const char *vin) {
  if (self->session && dd_session_state(self->session) != DD_SS_ENDED) return DD_EBUSY;
  s_end_session(self);
  snprintf(self->cfg.session.make, sizeof self->cfg.session.make, "%s", make ? make : "");
  snprintf(self->vin, sizeof self->vin, "%s", vin ? vin : "");
  dd_session_cfg_t sc = self->cfg.session;
  if (!sc.payment_retries) sc.payment_retries = S_PAYMENT_RETRIES;
  if (!sc.payment_retry_us) sc.payment_retry_us = S_PAYMENT_RETRY_US;
  /* S16: payment ids are idempotency keys the ledger keeps: never reuse one for another
   * session, not even after a restart of this device */
  char dev[DD_SESSION_ID_MAX];
  snprintf(dev, sizeof dev, "%.24s.%08x.%llu", dd_proc_name(self->proc), self->boot,
           (unsigned long long)++self->n_sessions);
  int rc = dd_session_new(&sc, dev, &self->session);
  if (rc < 0) return rc;
  dd_dsend_cfg_t dc = {.rto_us = self->cfg.rto_us ? self->cfg.rto_us : 500000,
                       .no_resend_on_switch = self->cfg.no_resend_on_switch};
  rc = dd_dsend_new(&dc, &self->dsend);
  if (rc < 0) return rc;
  self->msg_seq = 0;
  self->session_im = NULL;
  self->early_signal = self->early_addr = false;
  dd_session_start(self->session, s_now(self));
  s_session_pump(self, s_now(self));
  return 0;
}

bool dd_fd_remote_established(const dd_fd_remote_t *self) { return self->established; }
bool dd_fd_remote_paid(const dd_fd_remote_t *self) {
  return self->session && dd_session_paid(self->session);
}
bool dd_fd_remote_window_open(const dd_fd_remote_t *self) {
  return self->session && dd_session_window_open(self->session);
}
bool dd_fd_remote_payment_confirmed(const dd_fd_remote_t *self) {
  return self->session && dd_session_payment_confirmed(self->session);
}
const char *dd_fd_remote_session_id(const dd_fd_remote_t *self) {
  return self->session ? dd_session_id(self->session) : "";
}
const char *dd_fd_remote_terminal_id(const dd_fd_remote_t *self) {
  return self->session ? dd_session_terminal(self->session) : "";
}
