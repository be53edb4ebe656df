/* dd_session: S11-S17 and S2 on the first device's side. */
#include "dd_session.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dd_err.h"

#define S_QUEUE 8

struct dd_session {
  dd_session_cfg_t cfg;                     /* policy and timeouts */
  char device[DD_SESSION_ID_MAX];           /* first device id */
  dd_session_state_t state;                 /* current state */
  dd_session_outcome_t outcome;             /* why it ended */
  char detail[160];                         /* human detail */
  uint64_t deadline;                        /* current step's timeout, UINT64_MAX = none */
  unsigned attempts;                        /* payment sends so far */
  char session_id[DD_SESSION_ID_MAX];       /* our session id */
  char terminal[DD_SESSION_ID_MAX];         /* chosen terminal */
  char order_id[DD_SESSION_ID_MAX];         /* accepted order */
  char payment_id[DD_SESSION_ID_MAX];       /* our payment's idempotency key */
  int64_t fee_minor;                        /* order fee */
  char currency[4];                         /* order currency */
  char service_ep[256], udp_ep[256], relay_ep[256], token[128]; /* S2 address */
  dd_session_action_t actions[S_QUEUE];     /* to send (ring) */
  unsigned a_head, a_len;                   /* ring state */
  dd_session_state_t tr_from[S_QUEUE], tr_to[S_QUEUE]; /* transitions (ring) */
  unsigned t_head, t_len;                   /* ring state */
  uint64_t counter;                         /* makes ids unique per device */
};

static const char *const s_state_names[] = {"idle",         "listing",      "im_requested",
                                            "await_order",  "paying",       "await_signal",
                                            "await_address", "established", "ended"};
static const char *const s_outcome_names[] = {"none",     "no_terminal", "rejected",
                                              "fee_too_high", "payment_failed", "timeout",
                                              "protocol", "declined", "closed"};

const char *dd_session_state_name(dd_session_state_t s) {
  return (unsigned)s < sizeof s_state_names / sizeof *s_state_names ? s_state_names[s] : "?";
}

const char *dd_session_outcome_name(dd_session_outcome_t o) {
  return (unsigned)o < sizeof s_outcome_names / sizeof *s_outcome_names ? s_outcome_names[o] : "?";
}

int dd_session_new(const dd_session_cfg_t *cfg, const char *device_id, dd_session_t **out) {
  assert(cfg && device_id && out);
  if (!cfg->step_timeout_us) return DD_EINVAL;
  dd_session_t *self = calloc(1, sizeof *self);
  if (!self) return DD_ENOMEM;
  self->cfg = *cfg;
  snprintf(self->device, sizeof self->device, "%s", device_id);
  self->deadline = UINT64_MAX;
  *out = self;
  return 0;
}

void dd_session_destroy(dd_session_t **self_p) {
  assert(self_p);
  free(*self_p);
  *self_p = NULL;
}

/* The one place the state changes (so every change is reported). */
static void s_set_state(dd_session_t *self, dd_session_state_t to, uint64_t now) {
  if (self->t_len < S_QUEUE) {
    unsigned i = (self->t_head + self->t_len++) % S_QUEUE;
    self->tr_from[i] = self->state;
    self->tr_to[i] = to;
  }
  self->state = to;
  bool waiting = to != DD_SS_IDLE && to != DD_SS_ESTABLISHED && to != DD_SS_ENDED;
  self->deadline = waiting ? now + self->cfg.step_timeout_us : UINT64_MAX;
}

__attribute__((format(printf, 4, 5))) static void s_end(dd_session_t *self,
                                                        dd_session_outcome_t why, uint64_t now,
                                                        const char *fmt, ...) {
  self->outcome = why;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(self->detail, sizeof self->detail, fmt, ap);
  va_end(ap);
  s_set_state(self, DD_SS_ENDED, now);
}

static dd_session_action_t *s_push(dd_session_t *self, dd_session_action_kind_t kind) {
  if (self->a_len == S_QUEUE) return NULL;
  dd_session_action_t *a = &self->actions[(self->a_head + self->a_len++) % S_QUEUE];
  memset(a, 0, sizeof *a);
  a->kind = kind;
  return a;
}

void dd_session_start(dd_session_t *self, uint64_t now) {
  if (self->state != DD_SS_IDLE && self->state != DD_SS_ENDED) return;
  self->outcome = DD_SO_NONE;
  self->detail[0] = 0;
  self->counter++;
  snprintf(self->session_id, sizeof self->session_id, "%.40s-s%llu", self->device,
           (unsigned long long)self->counter);
  s_push(self, DD_SA_LIST_REQUEST);
  s_set_state(self, DD_SS_LISTING, now);
}

static bool s_services(const dd_terminal_t *t, const char *make) {
  if (!make[0]) return true;
  for (int i = 0; i < t->n_makes && i < 8; i++)
    if (!strcasecmp(t->makes[i], make)) return true;
  return false;
}

int dd_session_pick(const dd_session_cfg_t *cfg, const dd_terminal_t *terms, size_t n) {
  if (cfg->terminal[0]) {
    /* the owner's own choice (S12): only presence counts; the fee is judged on the order */
    for (size_t i = 0; i < n; i++)
      if (terms[i].online && !strcmp(terms[i].id, cfg->terminal)) return (int)i;
    return -1;
  }
  int best = -1;
  for (size_t i = 0; i < n; i++) {
    const dd_terminal_t *t = &terms[i];
    if (!t->online || !s_services(t, cfg->make) || t->rating_x10 < cfg->min_rating_x10) continue;
    if (t->fee_minor > cfg->fee_limit_minor) continue;
    if (cfg->currency[0] && t->currency[0] && strcmp(cfg->currency, t->currency)) continue;
    if (best < 0) {
      best = (int)i;
      continue;
    }
    const dd_terminal_t *b = &terms[best];
    if (t->rating_x10 != b->rating_x10 ? t->rating_x10 > b->rating_x10
        : t->fee_minor != b->fee_minor ? t->fee_minor < b->fee_minor
                                       : strcmp(t->id, b->id) < 0)
      best = (int)i;
  }
  return best;
}

int dd_session_on_list(dd_session_t *self, const dd_terminal_t *terms, size_t n, uint64_t now) {
  if (self->state != DD_SS_LISTING) return DD_EPROTO;
  int i = dd_session_pick(&self->cfg, terms, n);
  if (i < 0) {
    if (self->cfg.terminal[0])
      s_end(self, DD_SO_NO_TERMINAL, now, "terminal %s is not among the %zu online terminal(s)",
            self->cfg.terminal, n);
    else
      s_end(self, DD_SO_NO_TERMINAL, now, "none of %zu terminal(s) is online, services %s "
            "and fits the fee limit", n, self->cfg.make);
    return 0;
  }
  snprintf(self->terminal, sizeof self->terminal, "%s", terms[i].id);
  dd_session_action_t *a = s_push(self, DD_SA_OPEN_AND_IM);
  if (a) {
    snprintf(a->terminal_id, sizeof a->terminal_id, "%s", self->terminal);
    snprintf(a->session_id, sizeof a->session_id, "%s", self->session_id);
    a->video = self->cfg.video;
  }
  s_set_state(self, DD_SS_IM_REQUESTED, now);
  return 0;
}

static bool s_same(const char *a, const char *b) { return a && b && !strcmp(a, b); }

int dd_session_on_im_answer(dd_session_t *self, const char *session_id, bool accepted,
                            const char *reason, uint64_t now) {
  if (self->state != DD_SS_IM_REQUESTED || !s_same(session_id, self->session_id)) return DD_EPROTO;
  if (!accepted) {
    s_end(self, DD_SO_REJECTED, now, "terminal %s refused: %s", self->terminal,
          reason && *reason ? reason : "no reason given");
    return 0;
  }
  s_set_state(self, DD_SS_AWAIT_ORDER, now);
  return 0;
}

/* How long an unconfirmed payment waits before it is sent again. */
static uint64_t s_retry_us(const dd_session_t *self) {
  return self->cfg.payment_retry_us ? self->cfg.payment_retry_us : self->cfg.step_timeout_us;
}

static void s_money(char *buf, size_t cap, int64_t minor, const char *cur) {
  snprintf(buf, cap, "%lld.%02lld %s", (long long)(minor / 100), (long long)llabs(minor % 100), cur);
}

int dd_session_on_order(dd_session_t *self, const char *session_id, const char *order_id,
                        int64_t fee_minor, const char *currency, uint64_t now) {
  if (self->state != DD_SS_AWAIT_ORDER || !s_same(session_id, self->session_id)) return DD_EPROTO;
  if (!order_id || !*order_id) return DD_EPROTO;
  snprintf(self->order_id, sizeof self->order_id, "%s", order_id);
  self->fee_minor = fee_minor;
  snprintf(self->currency, sizeof self->currency, "%s", currency ? currency : "");
  /* S15: the owner's decision on the order: its currency, its fee, then the owner's will */
  char fee[48], lim[48], why[160] = "";
  dd_session_outcome_t no = DD_SO_NONE;
  s_money(fee, sizeof fee, fee_minor, self->currency);
  s_money(lim, sizeof lim, self->cfg.fee_limit_minor, self->cfg.currency);
  if (self->cfg.currency[0] && !s_same(currency, self->cfg.currency)) {
    no = DD_SO_FEE_TOO_HIGH;
    snprintf(why, sizeof why, "fee %s is not in the owner's currency %s", fee, self->cfg.currency);
  } else if (fee_minor < 0 || fee_minor > self->cfg.fee_limit_minor) {
    no = DD_SO_FEE_TOO_HIGH;
    snprintf(why, sizeof why, "fee %s above the limit %s", fee, lim);
  } else if (self->cfg.decline) {
    no = DD_SO_DECLINED;
    snprintf(why, sizeof why, "the owner declined the order (fee %s)", fee);
  }
  dd_session_action_t *a = s_push(self, DD_SA_DECISION);
  if (a) {
    snprintf(a->order_id, sizeof a->order_id, "%s", order_id);
    a->accept = no == DD_SO_NONE;
    snprintf(a->reason, sizeof a->reason, "%s", why);
  }
  if (no != DD_SO_NONE) {
    s_end(self, no, now, "%s", why);
    return 0;
  }
  self->counter++;
  snprintf(self->payment_id, sizeof self->payment_id, "%.40s-p%llu", self->device,
           (unsigned long long)self->counter);
  self->attempts = 0;
  dd_session_action_t *p = s_push(self, DD_SA_PAYMENT);
  if (p) {
    snprintf(p->order_id, sizeof p->order_id, "%s", order_id);
    snprintf(p->payment_id, sizeof p->payment_id, "%s", self->payment_id);
    p->amount_minor = self->cfg.amount_minor > 0 ? self->cfg.amount_minor : fee_minor;
    snprintf(p->currency, sizeof p->currency, "%s", self->currency);
  }
  self->attempts = 1;
  s_set_state(self, DD_SS_PAYING, now);
  if (self->cfg.payment_retries) self->deadline = now + s_retry_us(self);
  return 0;
}

int dd_session_on_payment(dd_session_t *self, const char *payment_id, bool ok, bool duplicate,
                          const char *reason, uint64_t now) {
  if (self->state != DD_SS_PAYING || !s_same(payment_id, self->payment_id)) return DD_EPROTO;
  if (!ok) {
    s_end(self, DD_SO_PAYMENT_FAILED, now, "payment %s refused: %s", self->payment_id,
          reason && *reason ? reason : "no reason given");
    return 0;
  }
  (void)duplicate; /* a confirmation of a retried payment is as good as the first */
  s_set_state(self, DD_SS_AWAIT_SIGNAL, now);
  return 0;
}

int dd_session_on_signal(dd_session_t *self, const char *session_id, const char *order_id,
                         uint64_t now) {
  if (self->state != DD_SS_AWAIT_SIGNAL || !s_same(session_id, self->session_id) ||
      !s_same(order_id, self->order_id))
    return DD_EPROTO;
  s_set_state(self, DD_SS_AWAIT_ADDRESS, now); /* S17: the connection stands */
  return 0;
}

int dd_session_on_address(dd_session_t *self, const char *session_id, const char *service_ep,
                          const char *udp_ep, const char *relay_ep, const char *token,
                          uint64_t now) {
  if (self->state != DD_SS_AWAIT_ADDRESS || !s_same(session_id, self->session_id) ||
      !service_ep || !*service_ep)
    return DD_EPROTO;
  snprintf(self->service_ep, sizeof self->service_ep, "%s", service_ep);
  snprintf(self->udp_ep, sizeof self->udp_ep, "%s", udp_ep ? udp_ep : "");
  snprintf(self->relay_ep, sizeof self->relay_ep, "%s", relay_ep ? relay_ep : "");
  snprintf(self->token, sizeof self->token, "%s", token ? token : "");
  s_set_state(self, DD_SS_ESTABLISHED, now);
  return 0;
}

int dd_session_on_close(dd_session_t *self, const char *session_id, const char *reason,
                        uint64_t now) {
  if (self->state == DD_SS_IDLE || self->state == DD_SS_ENDED || self->state == DD_SS_LISTING ||
      !s_same(session_id, self->session_id))
    return DD_EPROTO;
  s_end(self, DD_SO_CLOSED, now, "closed while %s: %s", dd_session_state_name(self->state),
        reason && *reason ? reason : "no reason given");
  return 0;
}

void dd_session_tick(dd_session_t *self, uint64_t now) {
  if (now < self->deadline) return;
  if (self->state == DD_SS_PAYING && self->attempts <= self->cfg.payment_retries) {
    /* No confirmation: send the same payment again; its id makes the ledger charge once. */
    dd_session_action_t *p = s_push(self, DD_SA_PAYMENT);
    if (p) {
      snprintf(p->order_id, sizeof p->order_id, "%s", self->order_id);
      snprintf(p->payment_id, sizeof p->payment_id, "%s", self->payment_id);
      p->amount_minor = self->cfg.amount_minor > 0 ? self->cfg.amount_minor : self->fee_minor;
      snprintf(p->currency, sizeof p->currency, "%s", self->currency);
    }
    self->attempts++;
    /* after the last copy, its confirmation gets a whole step's time */
    self->deadline = now + (self->attempts <= self->cfg.payment_retries ? s_retry_us(self)
                                                                         : self->cfg.step_timeout_us);
    return;
  }
  double t = (double)self->cfg.step_timeout_us / 1e6;
  switch (self->state) {
  case DD_SS_LISTING:
    s_end(self, DD_SO_TIMEOUT, now, "no terminal list from the cloud within %.1f s", t);
    break;
  case DD_SS_IM_REQUESTED:
    s_end(self, DD_SO_TIMEOUT, now, "terminal %s did not answer the IM request within %.1f s",
          self->terminal, t);
    break;
  case DD_SS_AWAIT_ORDER:
    s_end(self, DD_SO_TIMEOUT, now, "no order from terminal %s within %.1f s of its acceptance",
          self->terminal, t);
    break;
  case DD_SS_PAYING:
    s_end(self, DD_SO_TIMEOUT, now, "payment %s not confirmed (%u attempt(s), same id)",
          self->payment_id, self->attempts);
    break;
  case DD_SS_AWAIT_SIGNAL:
    s_end(self, DD_SO_TIMEOUT, now, "no request signal from terminal %s within %.1f s of the "
          "payment", self->terminal, t);
    break;
  case DD_SS_AWAIT_ADDRESS:
    s_end(self, DD_SO_TIMEOUT, now, "no connection address from terminal %s within %.1f s",
          self->terminal, t);
    break;
  default:
    s_end(self, DD_SO_TIMEOUT, now, "no answer while %s", dd_session_state_name(self->state));
    break;
  }
}

uint64_t dd_session_next_deadline(const dd_session_t *self) { return self->deadline; }

bool dd_session_take_action(dd_session_t *self, dd_session_action_t *out) {
  if (!self->a_len) return false;
  *out = self->actions[self->a_head];
  self->a_head = (self->a_head + 1) % S_QUEUE;
  self->a_len--;
  return true;
}

bool dd_session_take_transition(dd_session_t *self, dd_session_state_t *from,
                                dd_session_state_t *to) {
  if (!self->t_len) return false;
  *from = self->tr_from[self->t_head];
  *to = self->tr_to[self->t_head];
  self->t_head = (self->t_head + 1) % S_QUEUE;
  self->t_len--;
  return true;
}

dd_session_state_t dd_session_state(const dd_session_t *self) { return self->state; }
dd_session_outcome_t dd_session_outcome(const dd_session_t *self) { return self->outcome; }
const char *dd_session_detail(const dd_session_t *self) { return self->detail; }
bool dd_session_paid(const dd_session_t *self) {
  return self->state == DD_SS_ESTABLISHED || self->state == DD_SS_AWAIT_ADDRESS;
}
bool dd_session_window_open(const dd_session_t *self) {
  return self->state >= DD_SS_IM_REQUESTED && self->state <= DD_SS_ESTABLISHED;
}
bool dd_session_payment_confirmed(const dd_session_t *self) {
  return self->state >= DD_SS_AWAIT_SIGNAL && self->state <= DD_SS_ESTABLISHED;
}
const char *dd_session_id(const dd_session_t *self) { return self->session_id; }
const char *dd_session_terminal(const dd_session_t *self) { return self->terminal; }
const char *dd_session_order(const dd_session_t *self) { return self->order_id; }
const char *dd_session_service_ep(const dd_session_t *self) { return self->service_ep; }
const char *dd_session_udp_ep(const dd_session_t *self) { return self->udp_ep; }
const char *dd_session_relay_ep(const dd_session_t *self) { return self->relay_ep; }
const char *dd_session_token(const dd_session_t *self) { return self->token; }
