/* dd_terminal: the target terminal process: cloud registration, session window, order, S17/S2,
 * and the technician's scripted requests and control signals. */
#include "dd_terminal.h"

#include <assert.h>
#include <errno.h>
#include <jansson.h>
#include <libfyaml.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zmq.h>

#include "dd_err.h"
#include "dd_log.h"
#include "dd_wire.h"

#define S_EP_MAX 512

/* Where the owner's session stands, as the terminal sees it. */
typedef enum {
  S_NONE,      /* no session */
  S_OPEN,      /* window open */
  S_ORDERED,   /* IM accepted, order sent */
  S_AGREED,    /* order accepted by the owner */
  S_CONNECTED, /* paid: S17 and S2 sent */
  S_ENDED,     /* refused, declined or closed */
} s_state_t;

static const char *const s_state_names[] = {"none",    "open",      "ordered",
                                            "agreed",  "connected", "ended"};

struct dd_terminal {
  dd_proc_t *proc;                       /* owning process */
  dd_terminal_profile_t p;               /* profile and script */
  char service_ep[S_EP_MAX];             /* S2 service endpoint */
  char udp_ep[S_EP_MAX];                 /* S2 UDP endpoint */
  char relay_ep[S_EP_MAX];               /* S2 relay endpoint */
  char token[DD_TERMINAL_TEXT_MAX];      /* S2 token */
  void *router;                          /* IM link */
  void *cloud;                           /* cloud DEALER */
  int hb_timer;                          /* heartbeat timer */
  uint64_t seq;                          /* envelope counter */
  dd_wire_stats_t ws;                    /* decode counters */
  /* the session */
  s_state_t state;                       /* where it stands */
  char session[DD_TERMINAL_TEXT_MAX];    /* session id */
  char owner[DD_TERMINAL_TEXT_MAX];      /* owner id */
  uint8_t peer[DD_WIRE_IDENTITY_MAX];    /* first device routing id */
  size_t peer_len;                       /* its length */
  char order_id[DD_TERMINAL_TEXT_MAX];   /* current order */
  int media;                             /* ImRequest media */
  uint64_t msg_seq;                      /* our SessionMessage counter */
  int answer_timer;                      /* the technician is answering the ImRequest (0: no) */
  int order_timer;                       /* ... writing the order (0: no) */
  /* counters */
  uint64_t orders, texts, pictures, voices, videos, requests, controls, results, statuses;
};

static uint64_t s_now(dd_terminal_t *self) { return dd_loop_now(dd_proc_loop(self->proc)); }
static dd_events_t *s_ev(dd_terminal_t *self) { return dd_proc_events(self->proc); }

static void s_env(dd_terminal_t *self, Duodiag__Envelope *env) {
  dd_wire_envelope_init(env, dd_proc_name(self->proc), ++self->seq, s_now(self));
}

static int s_to_peer(dd_terminal_t *self, Duodiag__Envelope *env) {
  if (!self->peer_len) return DD_ENOTCONN;
  int rc = dd_wire_send_to(self->router, self->peer, self->peer_len, env, ZMQ_DONTWAIT);
  if (rc < 0) dd_warn("terminal: %s not sent: %s", dd_wire_body_name(env), dd_strerror(rc));
  return rc;
}

static int s_to_cloud(dd_terminal_t *self, Duodiag__Envelope *env) {
  int rc = dd_wire_send(self->cloud, env, ZMQ_DONTWAIT);
  if (rc < 0) dd_warn("terminal: %s to the cloud not sent: %s", dd_wire_body_name(env),
                      dd_strerror(rc));
  return rc;
}

/* The technician stops whatever answer was on its way (the window closed or a new one opened). */
static void s_cancel_answers(dd_terminal_t *self) {
  dd_loop_t *loop = dd_proc_loop(self->proc);
  if (self->answer_timer > 0) dd_loop_timer_cancel(loop, self->answer_timer);
  if (self->order_timer > 0) dd_loop_timer_cancel(loop, self->order_timer);
  self->answer_timer = self->order_timer = 0;
}

static void s_set_state(dd_terminal_t *self, s_state_t to) {
  if (to == self->state) return;
  if (to == S_ENDED) s_cancel_answers(self);
  dd_events_emit(s_ev(self), "terminal.state", DD_S("from", s_state_names[self->state]),
                 DD_S("to", s_state_names[to]), DD_S("session_id", self->session), DD_END);
  self->state = to;
}

/* ---- profile ---- */

void dd_terminal_profile_init(dd_terminal_profile_t *p) {
  memset(p, 0, sizeof *p);
  snprintf(p->currency, sizeof p->currency, "EUR");
  p->accept = true;
  snprintf(p->reject_reason, sizeof p->reject_reason, "busy");
  p->order_fee = -1;
}

int dd_terminal_profile_set_makes(dd_terminal_profile_t *p, const char *csv) {
  p->n_makes = 0;
  const char *s = csv;
  while (*s) {
    const char *e = strchr(s, ',');
    size_t n = e ? (size_t)(e - s) : strlen(s);
    if (n) {
      if (p->n_makes >= DD_TERMINAL_MAX_MAKES || n >= sizeof p->makes[0]) return DD_EINVAL;
      memcpy(p->makes[p->n_makes], s, n);
      p->makes[p->n_makes++][n] = '\0';
    }
    s += n + (e ? 1 : 0);
  }
  return 0;
}

static int s_yerr(struct fy_node *at, const char *path, char *why, size_t cap, const char *what) {
  struct fy_token *tok = at ? fy_node_get_scalar_token(at) : NULL;
  const struct fy_mark *m = tok ? fy_token_start_mark(tok) : NULL;
  if (m) snprintf(why, cap, "%s:%d:%d: %s", path, m->line + 1, m->column + 1, what);
  else snprintf(why, cap, "%s: %s", path, what);
  return DD_ECONFIG;
}

static bool s_ytext(struct fy_node *v, char *out, size_t cap) {
  size_t len = 0;
  const char *s = v && fy_node_is_scalar(v) ? fy_node_get_scalar(v, &len) : NULL;
  if (!s || len >= cap) return false;
  memcpy(out, s, len);
  out[len] = '\0';
  return true;
}

static bool s_yint(struct fy_node *v, long long lo, long long hi, long long *out) {
  char buf[32];
  if (!s_ytext(v, buf, sizeof buf) || !buf[0]) return false;
  char *end;
  errno = 0;
  long long x = strtoll(buf, &end, 0);
  if (errno || *end || x < lo || x > hi) return false;
  *out = x;
  return true;
}

static bool s_ybool(struct fy_node *v, bool *out) {
  char buf[8];
  if (!s_ytext(v, buf, sizeof buf)) return false;
  if (!strcasecmp(buf, "true") || !strcasecmp(buf, "yes")) *out = true;
  else if (!strcasecmp(buf, "false") || !strcasecmp(buf, "no")) *out = false;
  else return false;
  return true;
}

int dd_terminal_profile_load(const char *path, dd_terminal_profile_t *p, char *why, size_t cap) {
  struct fy_parse_cfg pcfg = {0};
  pcfg.flags = FYPCF_QUIET;
  struct fy_document *fyd = fy_document_build_from_file(&pcfg, path);
  if (!fyd) {
    snprintf(why, cap, "%s: cannot read or parse the YAML", path);
    return DD_ECONFIG;
  }
  int rc = 0;
  struct fy_node *root = fy_document_root(fyd);
  if (!root || !fy_node_is_mapping(root)) {
    rc = s_yerr(root, path, why, cap, "the profile must be a mapping");
    goto out;
  }
  void *it = NULL;
  struct fy_node_pair *pair;
  while (!rc && (pair = fy_node_mapping_iterate(root, &it)) != NULL) {
    struct fy_node *k = fy_node_pair_key(pair), *v = fy_node_pair_value(pair);
    const char *ks = k ? fy_node_get_scalar0(k) : NULL;
    long long n = 0;
    char msg[128];
    if (!ks) {
      rc = s_yerr(k, path, why, cap, "keys must be plain text");
    } else if (!strcmp(ks, "id")) {
      if (!s_ytext(v, p->terminal_id, sizeof p->terminal_id) || !p->terminal_id[0])
        rc = s_yerr(v, path, why, cap, "id: expected a non-empty text");
    } else if (!strcmp(ks, "name")) {
      if (!s_ytext(v, p->name, sizeof p->name)) rc = s_yerr(v, path, why, cap, "name: too long");
    } else if (!strcmp(ks, "makes")) {
      if (!v || !fy_node_is_sequence(v)) {
        rc = s_yerr(v, path, why, cap, "makes: expected a list");
        continue;
      }
      p->n_makes = 0;
      void *mit = NULL;
      struct fy_node *m;
      while (!rc && (m = fy_node_sequence_iterate(v, &mit)) != NULL) {
        if (p->n_makes >= DD_TERMINAL_MAX_MAKES || !s_ytext(m, p->makes[p->n_makes], 32))
          rc = s_yerr(m, path, why, cap, "makes: at most 8 makes of at most 31 bytes");
        else p->n_makes++;
      }
    } else if (!strcmp(ks, "fee_minor")) {
      if (!s_yint(v, 0, INT64_MAX / 2, &n)) rc = s_yerr(v, path, why, cap, "fee_minor: expected a number >= 0");
      p->fee_minor = n;
    } else if (!strcmp(ks, "order_fee")) {
      if (!s_yint(v, 0, INT64_MAX / 2, &n)) rc = s_yerr(v, path, why, cap, "order_fee: expected a number >= 0");
      p->order_fee = n;
    } else if (!strcmp(ks, "answer_delay_ms")) {
      if (!s_yint(v, 0, 3600000, &n)) rc = s_yerr(v, path, why, cap, "answer_delay_ms: expected 0..3600000");
      p->answer_delay_us = (uint64_t)n * 1000;
    } else if (!strcmp(ks, "rating_x10")) {
      if (!s_yint(v, 0, 50, &n)) rc = s_yerr(v, path, why, cap, "rating_x10: expected 0..50");
      p->rating_x10 = (unsigned)n;
    } else if (!strcmp(ks, "currency")) {
      if (!s_ytext(v, p->currency, sizeof p->currency) || strlen(p->currency) != 3)
        rc = s_yerr(v, path, why, cap, "currency: expected an ISO 4217 code");
    } else if (!strcmp(ks, "accept")) {
      if (!s_ybool(v, &p->accept)) rc = s_yerr(v, path, why, cap, "accept: expected yes or no");
    } else if (!strcmp(ks, "reject_reason")) {
      if (!s_ytext(v, p->reject_reason, sizeof p->reject_reason))
        rc = s_yerr(v, path, why, cap, "reject_reason: too long");
    } else if (!strcmp(ks, "merchant_id")) {
      if (!s_ytext(v, p->merchant_id, sizeof p->merchant_id))
        rc = s_yerr(v, path, why, cap, "merchant_id: too long");
    } else if (!strcmp(ks, "address")) {
      if (!s_ytext(v, p->address, sizeof p->address)) rc = s_yerr(v, path, why, cap, "address: too long");
    } else if (!strcmp(ks, "licence")) {
      if (!s_ytext(v, p->licence, sizeof p->licence)) rc = s_yerr(v, path, why, cap, "licence: too long");
    } else {
      snprintf(msg, sizeof msg, "unknown key '%s'", ks);
      rc = s_yerr(k, path, why, cap, msg);
    }
  }
out:
  fy_document_destroy(fyd);
  return rc;
}

/* ---- cloud ---- */

static void s_register(dd_terminal_t *self) {
  Duodiag__TerminalInfo ti = DUODIAG__TERMINAL_INFO__INIT;
  char *makes[DD_TERMINAL_MAX_MAKES];
  for (size_t i = 0; i < self->p.n_makes; i++) makes[i] = self->p.makes[i];
  ti.terminal_id = self->p.terminal_id;
  ti.name = self->p.name;
  ti.n_makes = self->p.n_makes;
  ti.makes = makes;
  ti.fee_minor = self->p.fee_minor;
  ti.currency = self->p.currency;
  ti.rating_x10 = self->p.rating_x10;
  ti.online = true;
  Duodiag__TerminalInfo *tip = &ti;
  Duodiag__TerminalList tl = DUODIAG__TERMINAL_LIST__INIT;
  tl.n_terminals = 1;
  tl.terminals = &tip;
  Duodiag__Envelope env;
  s_env(self, &env);
  env.body_case = DUODIAG__ENVELOPE__BODY_TERMINAL_LIST;
  env.terminal_list = &tl;
  s_to_cloud(self, &env);
}

static void s_presence(dd_terminal_t *self, bool online) {
  Duodiag__Presence pr = DUODIAG__PRESENCE__INIT;
  pr.terminal_id = self->p.terminal_id;
  pr.online = online;
  Duodiag__Envelope env;
  s_env(self, &env);
  env.body_case = DUODIAG__ENVELOPE__BODY_PRESENCE;
  env.presence = &pr;
  s_to_cloud(self, &env);
}

static int s_on_heartbeat(dd_loop_t *loop, int timer_id, void *arg) {
  s_presence(arg, true);
  return 0;
}

/* ---- session window ---- */

static void s_close(dd_terminal_t *self, const char *session, const char *reason) {
  Duodiag__SessionClose c = DUODIAG__SESSION_CLOSE__INIT;
  c.session_id = (char *)session;
  c.reason = (char *)reason;
  Duodiag__Envelope env;
  s_env(self, &env);
  env.body_case = DUODIAG__ENVELOPE__BODY_SESSION_CLOSE;
  env.session_close = &c;
  s_to_peer(self, &env);
}

static bool s_ours(dd_terminal_t *self, const char *session) {
  return self->state != S_NONE && !strcmp(session, self->session);
}

static void s_on_open(dd_terminal_t *self, const uint8_t *id, size_t idlen,
                      const Duodiag__SessionOpen *o) {
  bool ok = !strcmp(o->terminal_id, self->p.terminal_id) && strlen(o->session_id) < sizeof self->session;
  memcpy(self->peer, id, idlen);
  self->peer_len = idlen;
  dd_events_emit(s_ev(self), "terminal.session", DD_S("session_id", o->session_id),
                 DD_S("owner", o->owner_id), DD_S("vin", o->vin), DD_B("accepted", ok), DD_END);
  if (!ok) {
    s_close(self, o->session_id, "wrong terminal");
    return;
  }
  snprintf(self->session, sizeof self->session, "%s", o->session_id);
  snprintf(self->owner, sizeof self->owner, "%s", o->owner_id);
  self->order_id[0] = '\0';
  s_cancel_answers(self);
  self->state = S_NONE;
  s_set_state(self, S_OPEN);
}

static void s_send_text(dd_terminal_t *self, const char *text) {
  Duodiag__SessionMessage m = DUODIAG__SESSION_MESSAGE__INIT;
  m.session_id = self->session;
  m.seq = ++self->msg_seq;
  m.kind = DUODIAG__SESSION_MESSAGE__KIND__TEXT;
  m.payload.data = (uint8_t *)text;
  m.payload.len = strlen(text);
  Duodiag__Envelope env;
  s_env(self, &env);
  env.body_case = DUODIAG__ENVELOPE__BODY_SESSION_MESSAGE;
  env.session_message = &m;
  s_to_peer(self, &env);
}

static void s_on_message(dd_terminal_t *self, const Duodiag__SessionMessage *m) {
  if (!s_ours(self, m->session_id)) return;
  static const char *const kinds[] = {"?", "text", "picture", "voice", "video"};
  const char *kind = m->kind <= 4 ? kinds[m->kind] : "?";
  switch (m->kind) {
  case DUODIAG__SESSION_MESSAGE__KIND__TEXT: self->texts++; break;
  case DUODIAG__SESSION_MESSAGE__KIND__PICTURE: self->pictures++; break;
  case DUODIAG__SESSION_MESSAGE__KIND__VOICE: self->voices++; break;
  default: self->videos++; break;
  }
  dd_events_emit(s_ev(self), "terminal.message", DD_S("session_id", m->session_id),
                 DD_S("message_kind", kind), DD_I("bytes", (int64_t)m->payload.len),
                 DD_I("media", (int64_t)(self->pictures + self->voices + self->videos)),
                 DD_I("texts", (int64_t)self->texts), DD_END);
  if (m->kind == DUODIAG__SESSION_MESSAGE__KIND__TEXT) {
    char reply[512];
    int n = (int)(m->payload.len > 400 ? 400 : m->payload.len);
    snprintf(reply, sizeof reply, "re: %.*s", n, (const char *)m->payload.data);
    /* Cutting may split a UTF-8 sequence: trim an incomplete tail so the reply stays valid. */
    size_t len = strlen(reply);
    size_t i = len;
    while (i > 0 && ((unsigned char)reply[i - 1] & 0xC0) == 0x80) i--;
    if (i > 0 && ((unsigned char)reply[i - 1] & 0x80)) {
      unsigned char lead = (unsigned char)reply[i - 1];
      size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
      if (len - (i - 1) < need) reply[i - 1] = '\0';
    }
    s_send_text(self, reply);
  }
}

static void s_send_order(dd_terminal_t *self) {
  snprintf(self->order_id, sizeof self->order_id, "%s-o%llu", self->p.terminal_id,
           (unsigned long long)++self->orders);
  Duodiag__Merchant m = DUODIAG__MERCHANT__INIT;
  m.merchant_id = self->p.merchant_id[0] ? self->p.merchant_id : self->p.terminal_id;
  m.name = self->p.name[0] ? self->p.name : self->p.terminal_id;
  m.address = self->p.address;
  m.licence = self->p.licence;
  Duodiag__Order o = DUODIAG__ORDER__INIT;
  o.order_id = self->order_id;
  o.session_id = self->session;
  o.merchant = &m;
  o.fee_minor = self->p.order_fee >= 0 ? self->p.order_fee : self->p.fee_minor;
  o.currency = self->p.currency;
  o.description = "remote diagnosis";
  Duodiag__Envelope env;
  s_env(self, &env);
  env.body_case = DUODIAG__ENVELOPE__BODY_ORDER;
  env.order = &o;
  /* S14: the same order to both; the cloud first, so the ledger knows it before the payment. */
  s_to_cloud(self, &env);
  s_to_peer(self, &env);
  dd_events_emit(s_ev(self), "terminal.order", DD_S("order_id", self->order_id),
                 DD_S("session_id", self->session), DD_I("fee", o.fee_minor),
                 DD_S("currency", o.currency), DD_END);
  s_set_state(self, S_ORDERED);
}

static int s_on_order_due(dd_loop_t *loop, int id, void *arg) {
  dd_terminal_t *self = arg;
  (void)loop;
  (void)id;
  self->order_timer = 0;
  if (self->state == S_OPEN) s_send_order(self);
  return 0;
}

/* S13: the technician's answer to the owner's ImRequest; S14 follows an acceptance. */
static void s_answer_im(dd_terminal_t *self) {
  Duodiag__ImAnswer a = DUODIAG__IM_ANSWER__INIT;
  a.session_id = self->session;
  a.accepted = self->p.accept && self->state == S_OPEN;
  a.reason = a.accepted ? "" : self->p.reject_reason;
  dd_events_emit(s_ev(self), "terminal.im", DD_S("session_id", self->session),
                 DD_S("media", self->media == DUODIAG__IM_REQUEST__MEDIA__VIDEO ? "video" : "voice"),
                 DD_B("accepted", a.accepted), DD_S("reason", a.reason), DD_END);
  Duodiag__Envelope env;
  s_env(self, &env);
  env.body_case = DUODIAG__ENVELOPE__BODY_IM_ANSWER;
  env.im_answer = &a;
  s_to_peer(self, &env);
  if (!a.accepted) {
    s_set_state(self, S_ENDED);
  } else if (self->p.answer_delay_us) {
    int t = dd_loop_timer_after(dd_proc_loop(self->proc), self->p.answer_delay_us, s_on_order_due,
                                self);
    self->order_timer = t > 0 ? t : 0;
    if (!self->order_timer) s_send_order(self);
  } else {
    s_send_order(self);
  }
}

static int s_on_answer_due(dd_loop_t *loop, int id, void *arg) {
  dd_terminal_t *self = arg;
  (void)loop;
  (void)id;
  self->answer_timer = 0;
  if (self->state == S_OPEN) s_answer_im(self);
  return 0;
}

static void s_on_im(dd_terminal_t *self, const Duodiag__ImRequest *q) {
  if (!s_ours(self, q->session_id)) return;
  if (self->state != S_OPEN && self->state != S_ENDED) return; /* answered already */
  self->media = q->media;
  dd_events_emit(s_ev(self), "terminal.im_request", DD_S("session_id", q->session_id),
                 DD_S("media", q->media == DUODIAG__IM_REQUEST__MEDIA__VIDEO ? "video" : "voice"),
                 DD_I("answer_in_ms", (int64_t)(self->p.answer_delay_us / 1000)), DD_END);
  if (self->answer_timer || self->order_timer) return; /* already answering this window */
  if (self->p.answer_delay_us) {
    int t = dd_loop_timer_after(dd_proc_loop(self->proc), self->p.answer_delay_us,
                                s_on_answer_due, self);
    self->answer_timer = t > 0 ? t : 0;
    if (self->answer_timer) return;
  }
  s_answer_im(self);
}

static void s_on_decision(dd_terminal_t *self, const Duodiag__OrderDecision *d) {
  bool ours = self->order_id[0] && !strcmp(d->order_id, self->order_id);
  dd_events_emit(s_ev(self), "terminal.order_decision", DD_S("order_id", d->order_id),
                 DD_B("accept", d->accept), DD_S("reason", d->reason), DD_B("known", ours), DD_END);
  if (!ours) return;
  /* The payment notice travels owner -> cloud -> terminal, the decision owner -> terminal: on
   * a fast cloud path the notice may come first, and the session is already connected then. */
  if (d->accept && self->state >= S_AGREED) return;
  s_set_state(self, d->accept ? S_AGREED : S_ENDED);
}

static void s_connect(dd_terminal_t *self) {
  Duodiag__ConnectRequestSignal sig = DUODIAG__CONNECT_REQUEST_SIGNAL__INIT;
  sig.session_id = self->session;
  sig.order_id = self->order_id;
  sig.media = self->media ? self->media : DUODIAG__IM_REQUEST__MEDIA__VOICE;
  Duodiag__Envelope env;
  s_env(self, &env);
  env.body_case = DUODIAG__ENVELOPE__BODY_CONNECT_REQUEST_SIGNAL;
  env.connect_request_signal = &sig;
  s_to_peer(self, &env); /* S17 */
  Duodiag__ConnectionAddress ca = DUODIAG__CONNECTION_ADDRESS__INIT;
  ca.session_id = self->session;
  ca.service_endpoint = self->service_ep;
  ca.udp_endpoint = self->udp_ep;
  ca.relay_endpoint = self->relay_ep;
  ca.token = self->token;
  s_env(self, &env);
  env.body_case = DUODIAG__ENVELOPE__BODY_CONNECTION_ADDRESS;
  env.connection_address = &ca;
  s_to_peer(self, &env); /* S2 */
  s_set_state(self, S_CONNECTED);
  dd_events_emit(s_ev(self), "terminal.connected", DD_S("session_id", self->session),
                 DD_S("order_id", self->order_id), DD_S("service_endpoint", self->service_ep),
                 DD_S("udp_endpoint", self->udp_ep), DD_S("relay_endpoint", self->relay_ep), DD_END);
}

static void s_on_paid(dd_terminal_t *self, const Duodiag__PaymentConfirmation *c) {
  bool ours = self->order_id[0] && !strcmp(c->order_id, self->order_id);
  dd_events_emit(s_ev(self), "terminal.paid", DD_S("order_id", c->order_id),
                 DD_S("payment_id", c->payment_id), DD_B("ok", c->ok),
                 DD_I("charged", c->charged_minor), DD_B("duplicate", c->duplicate),
                 DD_B("known", ours), DD_END);
  if (!ours || !c->ok) return;
  /* The owner's decision may still be on its way (another link): payment implies agreement. */
  if (self->state == S_ORDERED || self->state == S_AGREED) s_connect(self);
}

/* ---- readers ---- */

static void s_on_result(dd_terminal_t *self, const Duodiag__ControlResult *r) {
  self->results++;
  dd_events_emit(s_ev(self), "terminal.control_result", DD_I("control_id", (int64_t)r->control_id),
                 DD_B("accepted", r->accepted), DD_S("reason", r->reason), DD_I("nrc", r->nrc),
                 DD_I("code", r->code), DD_S("text", r->text),
                 DD_I("result_bytes", (int64_t)r->result.len), DD_END);
}

static void s_on_status(dd_terminal_t *self, const Duodiag__ProgramStatus *s) {
  self->statuses++;
  dd_events_emit(s_ev(self), "terminal.program_status", DD_S("package_id", s->package_id),
                 DD_I("phase", s->phase), DD_I("percent", s->percent),
                 DD_I("result_code", s->result_code), DD_I("nrc", s->nrc), DD_S("message", s->message),
                 DD_END);
}

static int s_on_router(dd_loop_t *loop, void *zsock, int fd, void *arg) {
  dd_terminal_t *self = arg;
  for (int i = 0; i < 256; i++) {
    uint8_t id[DD_WIRE_IDENTITY_MAX];
    size_t idlen = 0;
    Duodiag__Envelope *env = NULL;
    int rc = dd_wire_recv_from(zsock, id, sizeof id, &idlen, &env, &self->ws, ZMQ_DONTWAIT);
    if (rc == DD_EAGAIN) break;
    if (rc < 0) {
      dd_events_emit(s_ev(self), "wire.rejected", DD_S("channel", "im"),
                     DD_S("error", dd_err_name(rc)), DD_END);
      continue;
    }
    switch (env->body_case) {
    case DUODIAG__ENVELOPE__BODY_SESSION_OPEN: s_on_open(self, id, idlen, env->session_open); break;
    case DUODIAG__ENVELOPE__BODY_SESSION_MESSAGE: s_on_message(self, env->session_message); break;
    case DUODIAG__ENVELOPE__BODY_SESSION_CLOSE:
      if (s_ours(self, env->session_close->session_id)) {
        dd_events_emit(s_ev(self), "terminal.session_closed",
                       DD_S("session_id", env->session_close->session_id),
                       DD_S("reason", env->session_close->reason), DD_END);
        s_set_state(self, S_ENDED);
      }
      break;
    case DUODIAG__ENVELOPE__BODY_IM_REQUEST: s_on_im(self, env->im_request); break;
    case DUODIAG__ENVELOPE__BODY_ORDER_DECISION: s_on_decision(self, env->order_decision); break;
    case DUODIAG__ENVELOPE__BODY_CONTROL_RESULT: s_on_result(self, env->control_result); break;
    case DUODIAG__ENVELOPE__BODY_PROGRAM_STATUS: s_on_status(self, env->program_status); break;
    case DUODIAG__ENVELOPE__BODY_PAYMENT_CONFIRMATION: break; /* only the cloud's copy counts */
    case DUODIAG__ENVELOPE__BODY_PROBE: {
      Duodiag__ProbeEcho e = DUODIAG__PROBE_ECHO__INIT;
      e.probe_id = env->probe->probe_id;
      e.sent_us = env->probe->sent_us;
      e.echo_us = s_now(self);
      Duodiag__Envelope out;
      s_env(self, &out);
      out.body_case = DUODIAG__ENVELOPE__BODY_PROBE_ECHO;
      out.probe_echo = &e;
      dd_wire_send_to(zsock, id, idlen, &out, ZMQ_DONTWAIT);
      break;
    }
    default: dd_debug("terminal: ignored %s", dd_wire_body_name(env)); break;
    }
    dd_wire_free(&env);
  }
  return 0;
}

static int s_on_cloud(dd_loop_t *loop, void *zsock, int fd, void *arg) {
  dd_terminal_t *self = arg;
  for (int i = 0; i < 256; i++) {
    Duodiag__Envelope *env = NULL;
    int rc = dd_wire_recv(zsock, &env, &self->ws, ZMQ_DONTWAIT);
    if (rc == DD_EAGAIN) break;
    if (rc < 0) continue;
    if (env->body_case == DUODIAG__ENVELOPE__BODY_PAYMENT_CONFIRMATION)
      s_on_paid(self, env->payment_confirmation);
    dd_wire_free(&env);
  }
  return 0;
}

/* ---- harness commands ---- */

/* A JSON integer, or a text number ("0x7E0", "12"). */
static bool s_jnum(json_t *v, unsigned long long max, unsigned long long *out) {
  if (json_is_integer(v)) {
    json_int_t x = json_integer_value(v);
    if (x < 0 || (unsigned long long)x > max) return false;
    *out = (unsigned long long)x;
    return true;
  }
  if (!json_is_string(v)) return false;
  const char *s = json_string_value(v);
  char *end;
  errno = 0;
  unsigned long long x = strtoull(s, &end, 0);
  if (errno || end == s || *end || s[0] == '-' || x > max) return false;
  *out = x;
  return true;
}

/* An array of 16-bit ids under any of the keys; 0, or DD_EINVAL. */
static int s_jids(json_t *args, const char *const *keys, uint32_t *ids, size_t cap, size_t *n) {
  *n = 0;
  for (const char *const *k = keys; *k; k++) {
    json_t *a = json_object_get(args, *k);
    if (!a) continue;
    if (!json_is_array(a)) return DD_EINVAL;
    size_t i;
    json_t *v;
    json_array_foreach(a, i, v) {
      unsigned long long x;
      if (*n >= cap || !s_jnum(v, 0xFFFF, &x)) return DD_EINVAL;
      ids[(*n)++] = (uint32_t)x;
    }
  }
  return 0;
}

static int s_jdouble(json_t *args, const char *key, double *out) {
  json_t *v = json_object_get(args, key);
  if (!v) return 0;
  if (!json_is_number(v)) return DD_EINVAL;
  *out = json_number_value(v);
  return *out >= 0 && *out <= DD_WIRE_MAX_RATE_HZ ? 0 : DD_EINVAL;
}

static int s_jecu(json_t *args, uint32_t *ecu) {
  json_t *v = json_object_get(args, "ecu_id");
  if (!v) v = json_object_get(args, "ecu");
  unsigned long long x = 0;
  if (v && !s_jnum(v, 0x1FFFFFFF, &x)) return DD_EINVAL;
  *ecu = (uint32_t)x;
  return 0;
}

static int s_need_session(dd_terminal_t *self) {
  return self->state == S_CONNECTED && self->peer_len ? 0 : DD_ENOTCONN;
}

/* A control signal needs only a first device that opened a window here (it judges the rest). */
static int s_need_peer(dd_terminal_t *self) {
  return self->state != S_NONE && self->peer_len ? 0 : DD_ENOTCONN;
}

static int s_cmd_request(dd_terminal_t *self, json_t *args, char **result) {
  static const char *const kinds[] = {"", "dtcs", "live_pids", "dids", "freeze_frame", "history",
                                      "vin_info"};
  const char *kind = json_string_value(json_object_get(args, "kind"));
  int k = 0;
  for (int i = 1; kind && i < 7; i++)
    if (!strcmp(kind, kinds[i])) k = i;
  if (!k) return DD_EINVAL;
  uint32_t items[256];
  size_t n = 0;
  static const char *const keys[] = {"pids", "dids", "items", NULL};
  double rate = 0;
  uint32_t ecu = 0;
  unsigned long long count = 0;
  json_t *c = json_object_get(args, "count");
  if (s_jids(args, keys, items, 256, &n) < 0 || s_jdouble(args, "rate_hz", &rate) < 0 ||
      s_jecu(args, &ecu) < 0 || (c && !s_jnum(c, UINT32_MAX, &count)))
    return DD_EINVAL;
  if ((k == DUODIAG__VEHICLE_DATA_REQUEST__KIND__LIVE_PIDS ||
       k == DUODIAG__VEHICLE_DATA_REQUEST__KIND__DIDS) && !n)
    return DD_EINVAL;
  int rc = s_need_session(self);
  if (rc < 0) return rc;
  Duodiag__VehicleDataRequest q = DUODIAG__VEHICLE_DATA_REQUEST__INIT;
  q.request_id = ++self->requests;
  q.session_id = self->session;
  q.kind = k;
  q.n_items = n;
  q.items = items;
  q.ecu_id = ecu;
  q.rate_hz = rate;
  q.count = (uint32_t)count;
  Duodiag__Envelope env;
  s_env(self, &env);
  env.body_case = DUODIAG__ENVELOPE__BODY_VEHICLE_DATA_REQUEST;
  env.vehicle_data_request = &q;
  rc = s_to_peer(self, &env);
  if (rc < 0) return rc;
  dd_events_emit(s_ev(self), "terminal.request", DD_I("request_id", (int64_t)q.request_id),
                 DD_S("request_kind", kind), DD_I("items", (int64_t)n), DD_D("rate_hz", rate),
                 DD_I("count", (int64_t)count), DD_I("ecu_id", ecu), DD_END);
  char buf[64];
  snprintf(buf, sizeof buf, "{\"request_id\":%llu}", (unsigned long long)q.request_id);
  *result = strdup(buf);
  return 0;
}

static int s_hex(const char *s, uint8_t *out, size_t cap, size_t *n) {
  *n = 0;
  while (*s) {
    if (*s == ' ' || *s == ':') {
      s++;
      continue;
    }
    unsigned v;
    if (!s[1] || sscanf(s, "%2x", &v) != 1 || *n >= cap) return DD_EINVAL;
    out[(*n)++] = (uint8_t)v;
    s += 2;
  }
  return 0;
}

static int s_cmd_control(dd_terminal_t *self, json_t *args, char **result) {
  static const char *const actions[] = {"",           "read_dtcs", "clear_dtcs",  "read_dids",
                                        "read_pids",  "stream_pids", "stop_stream", "io_control",
                                        "routine",    "ecu_reset", "start_reflash"};
  const char *action = json_string_value(json_object_get(args, "action"));
  int a = 0;
  for (int i = 1; action && i < 11; i++)
    if (!strcmp(action, actions[i])) a = i;
  if (!a) return DD_EINVAL;
  uint32_t ids[256];
  size_t n = 0;
  static const char *const keys[] = {"ids", "pids", "dids", NULL};
  double rate = 0;
  uint32_t ecu = 0;
  uint8_t argb[1024];
  size_t argn = 0;
  const char *hex = json_string_value(json_object_get(args, "args_hex"));
  if (!hex) hex = json_string_value(json_object_get(args, "args"));
  const char *pkg = json_string_value(json_object_get(args, "package_id"));
  if (s_jids(args, keys, ids, 256, &n) < 0 || s_jdouble(args, "rate_hz", &rate) < 0 ||
      s_jecu(args, &ecu) < 0 || (hex && s_hex(hex, argb, sizeof argb, &argn) < 0))
    return DD_EINVAL;
  Duodiag__ControlSignal c = DUODIAG__CONTROL_SIGNAL__INIT;
  c.session_id = self->session;
  c.terminal_id = self->p.terminal_id;
  c.action = a;
  c.ecu_id = ecu;
  c.n_ids = n;
  c.ids = ids;
  c.rate_hz = rate;
  c.args.data = argb;
  c.args.len = argn;
  c.package_id = (char *)(pkg ? pkg : "");
  Duodiag__Envelope env;
  s_env(self, &env);
  env.body_case = DUODIAG__ENVELOPE__BODY_CONTROL_SIGNAL;
  env.control_signal = &c;
  if (dd_wire_check(&env, NULL) < 0) return DD_EINVAL; /* e.g. read_pids without ids */
  int rc = s_need_peer(self);
  if (rc < 0) return rc;
  c.control_id = ++self->controls;
  rc = s_to_peer(self, &env);
  if (rc < 0) return rc;
  dd_events_emit(s_ev(self), "terminal.control", DD_I("control_id", (int64_t)c.control_id),
                 DD_S("action", action), DD_I("ecu_id", ecu), DD_I("ids", (int64_t)n),
                 DD_S("package_id", c.package_id), DD_S("session_id", self->session),
                 DD_S("state", s_state_names[self->state]), DD_END);
  char buf[64];
  snprintf(buf, sizeof buf, "{\"control_id\":%llu}", (unsigned long long)c.control_id);
  *result = strdup(buf);
  return 0;
}

static int s_cmd_message(dd_terminal_t *self, json_t *args, char **result) {
  static const char *const kinds[] = {"", "text", "picture", "voice", "video"};
  static const char *const mimes[] = {"", "", "image/jpeg", "audio/ogg", "video/mp4"};
  const char *kind = json_string_value(json_object_get(args, "kind"));
  int k = 1;
  if (kind) {
    k = 0;
    for (int i = 1; i < 5; i++)
      if (!strcmp(kind, kinds[i])) k = i;
  }
  if (!k) return DD_EINVAL;
  if (self->state == S_NONE || !self->peer_len) return DD_ENOTCONN;
  const char *text = json_string_value(json_object_get(args, "text"));
  unsigned long long bytes = 0;
  json_t *b = json_object_get(args, "bytes");
  if (b && !s_jnum(b, DD_WIRE_MAX_CHUNK, &bytes)) return DD_EINVAL;
  uint8_t *buf = NULL;
  size_t len = 0;
  if (k == 1) {
    if (!text) text = "hello";
    len = strlen(text);
  } else {
    len = bytes ? bytes : 1024;
    buf = malloc(len);
    if (!buf) return DD_ENOMEM;
    for (size_t i = 0; i < len; i++) buf[i] = (uint8_t)(i * 31u + 7u);
  }
  Duodiag__SessionMessage m = DUODIAG__SESSION_MESSAGE__INIT;
  m.session_id = self->session;
  m.seq = ++self->msg_seq;
  m.kind = k;
  m.payload.data = k == 1 ? (uint8_t *)text : buf;
  m.payload.len = len;
  m.mime = (char *)mimes[k];
  m.duration_ms = k >= 3 ? 2000 : 0;
  Duodiag__Envelope env;
  s_env(self, &env);
  env.body_case = DUODIAG__ENVELOPE__BODY_SESSION_MESSAGE;
  env.session_message = &m;
  int rc = s_to_peer(self, &env);
  free(buf);
  if (rc < 0) return rc;
  char out[64];
  snprintf(out, sizeof out, "{\"seq\":%llu}", (unsigned long long)m.seq);
  *result = strdup(out);
  return 0;
}

/* One scripted setting: accept, fee, order_fee, reject_reason. */
static int s_set(dd_terminal_t *self, const char *key, json_t *v) {
  if (!strcmp(key, "accept")) {
    if (json_is_boolean(v)) self->p.accept = json_is_true(v);
    else if (json_is_string(v) && !strcmp(json_string_value(v), "yes")) self->p.accept = true;
    else if (json_is_string(v) && !strcmp(json_string_value(v), "no")) self->p.accept = false;
    else return DD_EINVAL;
  } else if (!strcmp(key, "fee") || !strcmp(key, "order_fee")) {
    unsigned long long x;
    if (!s_jnum(v, INT64_MAX / 2, &x)) return DD_EINVAL;
    self->p.order_fee = (int64_t)x;
  } else if (!strcmp(key, "reject_reason")) {
    if (!json_is_string(v) || strlen(json_string_value(v)) >= sizeof self->p.reject_reason)
      return DD_EINVAL;
    snprintf(self->p.reject_reason, sizeof self->p.reject_reason, "%s", json_string_value(v));
  } else if (!strcmp(key, "answer_delay_ms")) {
    unsigned long long x;
    if (!s_jnum(v, 3600000, &x)) return DD_EINVAL;
    self->p.answer_delay_us = x * 1000;
  } else {
    return DD_ENOTSUP;
  }
  dd_events_emit(s_ev(self), "terminal.set", DD_S("key", key), DD_B("accept", self->p.accept),
                 DD_I("order_fee", self->p.order_fee), DD_S("reject_reason", self->p.reject_reason),
                 DD_I("answer_delay_ms", (int64_t)(self->p.answer_delay_us / 1000)), DD_END);
  return 0;
}

static int s_on_command(dd_proc_t *proc, const dd_proc_command_t *cmd, char **result_json,
                        void *arg) {
  dd_terminal_t *self = arg;
  if (cmd->kind == DUODIAG__COMMAND__KIND__SET) {
    /* SET value: JSON if it parses as JSON, else plain text; a caller that only fills args_json
     * (dd_ctl_call) has its value taken from there. */
    const char *text = cmd->value[0] ? cmd->value : cmd->args_json;
    json_t *v = json_loads(text, JSON_DECODE_ANY, NULL);
    if (!v) v = json_string(text);
    int rc = v ? s_set(self, cmd->key, v) : DD_ENOMEM;
    json_decref(v);
    return rc;
  }
  if (cmd->kind != DUODIAG__COMMAND__KIND__ACTION) return DD_ENOTSUP;
  json_t *args = json_loads(cmd->args_json[0] ? cmd->args_json : "{}", 0, NULL);
  if (!args || !json_is_object(args)) {
    json_decref(args);
    return DD_EINVAL;
  }
  int rc = DD_ENOTSUP;
  if (!strcmp(cmd->key, "request")) rc = s_cmd_request(self, args, result_json);
  else if (!strcmp(cmd->key, "control")) rc = s_cmd_control(self, args, result_json);
  else if (!strcmp(cmd->key, "message")) rc = s_cmd_message(self, args, result_json);
  else if (!strcmp(cmd->key, "set")) {
    const char *k;
    json_t *v;
    rc = 0;
    json_object_foreach(args, k, v) {
      if (!rc) rc = s_set(self, k, v);
    }
  } else if (!strcmp(cmd->key, "close")) {
    if (self->state == S_NONE) rc = DD_ENOTCONN;
    else {
      const char *why = json_string_value(json_object_get(args, "reason"));
      s_close(self, self->session, why ? why : "closed by the technician");
      s_set_state(self, S_ENDED);
      rc = 0;
    }
  } else if (!strcmp(cmd->key, "status")) {
    json_t *st = json_pack("{ss ss ss sI sI sI}", "state", s_state_names[self->state], "session_id",
                           self->session, "order_id", self->order_id, "requests",
                           (json_int_t)self->requests, "controls", (json_int_t)self->controls,
                           "results", (json_int_t)self->results);
    *result_json = st ? json_dumps(st, JSON_COMPACT) : NULL;
    json_decref(st);
    rc = 0;
  }
  json_decref(args);
  return rc;
}

/* ---- set-up ---- */

int dd_terminal_new(dd_proc_t *proc, const dd_terminal_cfg_t *cfg, dd_terminal_t **out) {
  if (!cfg->endpoint || !cfg->cloud || !cfg->service_endpoint || !cfg->profile.terminal_id[0])
    return DD_EINVAL;
  dd_terminal_t *self = calloc(1, sizeof *self);
  if (!self) return DD_ENOMEM;
  self->proc = proc;
  self->p = cfg->profile;
  if (!self->p.name[0]) snprintf(self->p.name, sizeof self->p.name, "%s", self->p.terminal_id);
  snprintf(self->service_ep, sizeof self->service_ep, "%s", cfg->service_endpoint);
  snprintf(self->udp_ep, sizeof self->udp_ep, "%s", cfg->udp_endpoint ? cfg->udp_endpoint : "");
  snprintf(self->relay_ep, sizeof self->relay_ep, "%s", cfg->relay_endpoint ? cfg->relay_endpoint : "");
  snprintf(self->token, sizeof self->token, "%s", cfg->token ? cfg->token : "");
  dd_wire_stats_init(&self->ws);
  int rc = 0, one = 1, linger = 0;
  self->router = zmq_socket(dd_proc_zctx(proc), ZMQ_ROUTER);
  self->cloud = zmq_socket(dd_proc_zctx(proc), ZMQ_DEALER);
  if (!self->router || !self->cloud) {
    rc = -errno;
    goto out_free;
  }
  zmq_setsockopt(self->router, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
  zmq_setsockopt(self->router, ZMQ_ROUTER_HANDOVER, &one, sizeof one);
  zmq_setsockopt(self->router, ZMQ_LINGER, &linger, sizeof linger);
  dd_wire_limit_socket(self->router);
  if (zmq_bind(self->router, cfg->endpoint) < 0) {
    rc = -errno;
    dd_error("terminal: cannot bind %s: %s", cfg->endpoint, zmq_strerror(errno));
    goto out_free;
  }
  const char *name = dd_proc_name(proc);
  zmq_setsockopt(self->cloud, ZMQ_ROUTING_ID, name, strlen(name));
  /* A short linger lets the goodbye Presence leave at the end. */
  int cl = 200;
  zmq_setsockopt(self->cloud, ZMQ_LINGER, &cl, sizeof cl);
  dd_wire_limit_socket(self->cloud);
  if (zmq_connect(self->cloud, cfg->cloud) < 0) {
    rc = -errno;
    goto out_free;
  }
  dd_loop_t *loop = dd_proc_loop(proc);
  dd_loop_add_zsock(loop, self->router, s_on_router, self);
  dd_loop_add_zsock(loop, self->cloud, s_on_cloud, self);
  if (!cfg->offline)
    self->hb_timer = dd_loop_timer_every(loop, cfg->heartbeat_us ? cfg->heartbeat_us : 1000000ull,
                                         s_on_heartbeat, self);
  dd_proc_on_command(proc, s_on_command, self);
  s_register(self);
  s_presence(self, !cfg->offline);
  dd_events_emit(s_ev(self), "terminal.up", DD_S("terminal_id", self->p.terminal_id),
                 DD_S("name", self->p.name), DD_I("makes", (int64_t)self->p.n_makes),
                 DD_I("fee", self->p.fee_minor), DD_S("currency", self->p.currency),
                 DD_B("accept", self->p.accept), DD_END);
  *out = self;
  return 0;
out_free:
  dd_terminal_destroy(&self);
  return rc < 0 ? rc : DD_EINVAL;
}

void dd_terminal_destroy(dd_terminal_t **self_p) {
  if (!self_p || !*self_p) return;
  dd_terminal_t *self = *self_p;
  dd_loop_t *loop = dd_proc_loop(self->proc);
  s_cancel_answers(self);
  if (self->hb_timer > 0) {
    dd_loop_timer_cancel(loop, self->hb_timer);
    dd_events_emit(s_ev(self), "terminal.summary", DD_S("state", s_state_names[self->state]),
                   DD_I("orders", (int64_t)self->orders), DD_I("texts", (int64_t)self->texts),
                   DD_I("pictures", (int64_t)self->pictures), DD_I("voices", (int64_t)self->voices),
                   DD_I("videos", (int64_t)self->videos), DD_I("requests", (int64_t)self->requests),
                   DD_I("controls", (int64_t)self->controls), DD_I("results", (int64_t)self->results),
                   DD_I("program_statuses", (int64_t)self->statuses), DD_END);
    s_presence(self, false);
  }
  if (self->router) {
    dd_loop_remove_zsock(loop, self->router);
    zmq_close(self->router);
  }
  if (self->cloud) {
    dd_loop_remove_zsock(loop, self->cloud);
    zmq_close(self->cloud);
  }
  free(self);
  *self_p = NULL;
}
