/* dd_cloud: registry, presence, orders and payment ledger of the cloud server, sans-I/O (the
 * start-up loaders at the end are the only file I/O). */
#include "dd_cloud.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <libfyaml.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "dd_err.h"

typedef struct {
  dd_cloud_terminal_t p;         /* profile */
  bool hb_online;                /* heartbeats say online */
  uint64_t last_hb;              /* time of the last heartbeat */
  bool online;                   /* state last reported */
  char contact[DD_CLOUD_ID_MAX]; /* party to notify ("" unknown) */
} s_term_t;

typedef struct {
  char id[DD_CLOUD_ID_MAX];              /* order id */
  char session[DD_CLOUD_ID_MAX];         /* session window */
  char terminal[DD_CLOUD_ID_MAX];        /* terminal id */
  char contact[DD_CLOUD_ID_MAX];         /* party that registered it */
  char merchant_id[DD_CLOUD_ID_MAX];     /* merchant id */
  char merchant_name[DD_CLOUD_TEXT_MAX]; /* merchant name */
  int64_t fee_minor;                     /* fee */
  char currency[4];                      /* currency */
  char paid_by[DD_CLOUD_ID_MAX];         /* payment id that paid it ("" unpaid) */
} s_order_t;

typedef struct {
  char id[DD_CLOUD_ID_MAX];       /* payment id */
  char order[DD_CLOUD_ID_MAX];    /* order id */
  char payer[DD_CLOUD_ID_MAX];    /* payer id */
  char party[DD_CLOUD_ID_MAX];    /* party to answer */
  int64_t amount_minor;           /* amount asked */
  char currency[4];               /* currency */
  bool pending;                   /* waiting for its order */
  uint64_t arrived_us;            /* first arrival */
  uint64_t deadline;              /* pending: give up waiting at */
  unsigned owed;                  /* pending: answers owed (arrivals) */
  bool ok;                        /* outcome: charged */
  int code;                       /* outcome: refusal code */
  char reason[DD_CLOUD_TEXT_MAX]; /* outcome: refusal reason */
  int64_t charged_minor;          /* outcome: amount charged */
  char terminal[DD_CLOUD_ID_MAX]; /* terminal of the order */
  uint64_t waited_us;             /* time spent pending */
} s_pay_t;

typedef struct {
  dd_cloud_match_t what;          /* who it applies to */
  char value[DD_CLOUD_ID_MAX];    /* payer, order or terminal id */
  char reason[DD_CLOUD_TEXT_MAX]; /* refusal reason */
  unsigned left;                  /* payments still to refuse; 0 = unlimited */
} s_rule_t;

/* A growable FIFO of fixed-size elements. */
typedef struct {
  uint8_t *buf;   /* storage */
  size_t esz;     /* element size */
  size_t cap;     /* capacity in elements */
  size_t head, n; /* ring state */
} s_fifo_t;

struct dd_cloud {
  dd_cloud_cfg_t cfg;                 /* limits, defaults filled in */
  dd_cloud_vehicle_t *vehicles;       /* registry */
  size_t n_vehicles, cap_vehicles;    /* used, allocated */
  s_term_t *terms;                    /* terminals */
  size_t n_terms, cap_terms;          /* used, allocated */
  s_order_t *orders;                  /* orders */
  size_t n_orders, cap_orders;        /* used, allocated */
  s_pay_t *pays;                      /* payments */
  size_t n_pays, cap_pays;            /* used, allocated */
  s_rule_t rules[DD_CLOUD_MAX_RULES]; /* scripted failures */
  size_t n_rules;                     /* used */
  dd_cloud_total_t *totals;           /* takings */
  size_t n_totals, cap_totals;        /* used, allocated */
  s_fifo_t out;                       /* answers to send (dd_cloud_out_t) */
  s_fifo_t presence;                  /* presence changes (dd_cloud_presence_t) */
  dd_cloud_stats_t st;                /* counters */
};

/* ---- small helpers -------------------------------------------------------------------------- */

static void *s_fifo_push(s_fifo_t *q) {
  if (q->n == q->cap) {
    size_t ncap = q->cap ? q->cap * 2 : 8;
    uint8_t *nb = malloc(ncap * q->esz);
    if (!nb) return NULL;
    for (size_t i = 0; i < q->n; i++)
      memcpy(nb + i * q->esz, q->buf + ((q->head + i) % q->cap) * q->esz, q->esz);
    free(q->buf);
    q->buf = nb;
    q->cap = ncap;
    q->head = 0;
  }
  void *slot = q->buf + ((q->head + q->n) % q->cap) * q->esz;
  q->n++;
  memset(slot, 0, q->esz);
  return slot;
}

static bool s_fifo_pop(s_fifo_t *q, void *out) {
  if (!q->n) return false;
  memcpy(out, q->buf + q->head * q->esz, q->esz);
  q->head = (q->head + 1) % q->cap;
  q->n--;
  return true;
}

/* Make room for one more element of size esz in *arr (n used, *cap allocated), up to max. */
static int s_grow(void **arr, size_t n, size_t *cap, size_t esz, size_t max) {
  if (n < *cap) return 0;
  if (n >= max) return DD_ENOSPC;
  size_t ncap = *cap ? *cap * 2 : 16;
  if (ncap > max) ncap = max;
  void *na = realloc(*arr, ncap * esz);
  if (!na) return DD_ENOMEM;
  *arr = na;
  *cap = ncap;
  return 0;
}

/* A non-empty id shorter than DD_CLOUD_ID_MAX. */
static bool s_id_ok(const char *s) { return s && *s && strlen(s) < DD_CLOUD_ID_MAX; }

/* ISO 4217 alphabetic code: three capital letters. */
static bool s_currency_ok(const char *s) {
  if (!s) return false;
  for (int i = 0; i < 3; i++)
    if (s[i] < 'A' || s[i] > 'Z') return false;
  return s[3] == '\0';
}

/* Copy src (NULL: "") into dst[cap], cut to fit. */
static void s_copy(char *dst, size_t cap, const char *src) {
  snprintf(dst, cap, "%s", src ? src : "");
}
#define S_COPY(dst, src) s_copy((dst), sizeof(dst), (src))

const char *dd_cloud_match_name(dd_cloud_match_t what) {
  switch (what) {
  case DD_CLOUD_MATCH_ANY: return "any";
  case DD_CLOUD_MATCH_PAYER: return "payer";
  case DD_CLOUD_MATCH_ORDER: return "order";
  case DD_CLOUD_MATCH_TERMINAL: return "terminal";
  }
  return "?";
}

/* ---- life cycle ----------------------------------------------------------------------------- */

int dd_cloud_new(const dd_cloud_cfg_t *cfg, dd_cloud_t **out) {
  assert(out);
  *out = NULL;
  dd_cloud_t *self = calloc(1, sizeof *self);
  if (!self) return DD_ENOMEM;
  if (cfg) self->cfg = *cfg;
  dd_cloud_cfg_t *c = &self->cfg;
  if (!c->presence_timeout_us) c->presence_timeout_us = DD_CLOUD_DEFAULT_PRESENCE_US;
  if (!c->order_wait_us) c->order_wait_us = DD_CLOUD_DEFAULT_ORDER_WAIT_US;
  if (!c->max_terminals) c->max_terminals = DD_CLOUD_DEFAULT_MAX_TERMINALS;
  if (!c->max_orders) c->max_orders = DD_CLOUD_DEFAULT_MAX_ORDERS;
  if (!c->max_payments) c->max_payments = DD_CLOUD_DEFAULT_MAX_PAYMENTS;
  self->out.esz = sizeof(dd_cloud_out_t);
  self->presence.esz = sizeof(dd_cloud_presence_t);
  *out = self;
  return 0;
}

void dd_cloud_destroy(dd_cloud_t **self_p) {
  assert(self_p);
  dd_cloud_t *self = *self_p;
  if (!self) return;
  free(self->vehicles);
  free(self->terms);
  free(self->orders);
  free(self->pays);
  free(self->totals);
  free(self->out.buf);
  free(self->presence.buf);
  free(self);
  *self_p = NULL;
}

const dd_cloud_cfg_t *dd_cloud_cfg(const dd_cloud_t *self) { return &self->cfg; }

dd_cloud_stats_t dd_cloud_stats(const dd_cloud_t *self) { return self->st; }

/* ---- registry (S102-S103) ------------------------------------------------------------------- */

int dd_cloud_add_vehicle(dd_cloud_t *self, const dd_vehicle_t *v) {
  assert(self && v);
  for (size_t i = 0; i < self->n_vehicles; i++)
    if (!strcmp(self->vehicles[i].vin, v->vin)) return DD_EEXIST;
  int rc = s_grow((void **)&self->vehicles, self->n_vehicles, &self->cap_vehicles,
                  sizeof *self->vehicles, SIZE_MAX / sizeof *self->vehicles);
  if (rc) return rc;
  dd_cloud_vehicle_t *r = &self->vehicles[self->n_vehicles];
  memset(r, 0, sizeof *r);
  S_COPY(r->vin, v->vin);
  S_COPY(r->make, v->make);
  S_COPY(r->model, v->model);
  S_COPY(r->vehicle_type, v->vehicle_type);
  r->model_year = v->model_year;
  if (v->engine_code[0] && v->engine_text[0])
    snprintf(r->engine, sizeof r->engine, "%s (%s)", v->engine_code, v->engine_text);
  else
    S_COPY(r->engine, v->engine_code[0] ? v->engine_code : v->engine_text);
  S_COPY(r->chassis_number, v->chassis_number);
  S_COPY(r->source, v->source);
  for (size_t i = 0; i < v->n_ecus && i < DD_VEHICLE_MAX_ECUS; i++) {
    const dd_vehicle_ecu_t *e = &v->ecus[i];
    dd_cloud_ecu_t *o = &r->ecus[r->n_ecus++];
    S_COPY(o->name, e->name);
    o->request_can_id = e->request_id;
    o->response_can_id = e->response_id;
    o->extended_ids = e->extended;
    o->can_fd = e->fd;
    o->ext_addressing = e->ext_addressing;
    o->ecu_address = e->ecu_address;
    o->tester_address = e->tester_address;
    o->functional_address = e->functional_address;
    for (size_t k = 0; k < e->n_dtcs && o->n_dtc_texts < DD_CLOUD_MAX_DTC_TEXTS; k++) {
      if (!e->dtcs[k].description[0]) continue;
      dd_cloud_dtc_text_t *t = &o->dtc_texts[o->n_dtc_texts++];
      t->dtc = e->dtcs[k].dtc;
      S_COPY(t->text, e->dtcs[k].description);
    }
  }
  self->n_vehicles++;
  return 0;
}

const dd_cloud_vehicle_t *dd_cloud_vin_lookup(dd_cloud_t *self, const char *vin) {
  self->st.vin_queries++;
  for (size_t i = 0; vin && i < self->n_vehicles; i++) {
    if (!strcmp(self->vehicles[i].vin, vin)) {
      self->st.vin_found++;
      return &self->vehicles[i];
    }
  }
  return NULL;
}

size_t dd_cloud_vehicle_count(const dd_cloud_t *self) { return self->n_vehicles; }

/* ---- terminals and presence (S11) ----------------------------------------------------------- */

static s_term_t *s_term(const dd_cloud_t *self, const char *id) {
  for (size_t i = 0; id && i < self->n_terms; i++)
    if (!strcmp(self->terms[i].p.id, id)) return &self->terms[i];
  return NULL;
}

/* The terminal, created with a bare profile when unknown; NULL when the table is full. */
static s_term_t *s_term_get(dd_cloud_t *self, const char *id, int *rc) {
  s_term_t *t = s_term(self, id);
  if (t) return t;
  *rc = s_grow((void **)&self->terms, self->n_terms, &self->cap_terms, sizeof *self->terms,
               self->cfg.max_terminals);
  if (*rc) return NULL;
  t = &self->terms[self->n_terms++];
  memset(t, 0, sizeof *t);
  S_COPY(t->p.id, id);
  S_COPY(t->p.name, id);
  return t;
}

/* Recompute a terminal's state; a change is queued for the timeline. */
static void s_update(dd_cloud_t *self, s_term_t *t, const char *why) {
  bool online = t->p.static_online || t->hb_online;
  if (online == t->online) return;
  t->online = online;
  dd_cloud_presence_t *n = s_fifo_push(&self->presence);
  if (!n) return;
  S_COPY(n->terminal, t->p.id);
  n->online = online;
  n->why = why;
}

static bool s_profile_ok(const dd_cloud_terminal_t *t) {
  if (!s_id_ok(t->id) || t->fee_minor < 0 || t->rating_x10 > 50 || t->n_makes > DD_CLOUD_MAX_MAKES)
    return false;
  return !t->currency[0] || s_currency_ok(t->currency);
}

int dd_cloud_put_terminal(dd_cloud_t *self, const dd_cloud_terminal_t *p, bool from_file,
                          const char *contact, uint64_t now) {
  assert(self && p);
  (void)now;
  if (!s_profile_ok(p)) return DD_EINVAL;
  int rc = 0;
  s_term_t *t = s_term_get(self, p->id, &rc);
  if (!t) return rc;
  bool keep_static = t->p.static_online;
  char keep_failure[DD_CLOUD_TEXT_MAX];
  S_COPY(keep_failure, t->p.payment_failure);
  t->p = *p;
  if (!t->p.name[0]) S_COPY(t->p.name, p->id);
  if (!from_file) {
    t->p.static_online = keep_static;
    S_COPY(t->p.payment_failure, keep_failure);
  }
  if (contact && *contact) S_COPY(t->contact, contact);
  s_update(self, t, from_file ? "static" : "heartbeat");
  return 0;
}

int dd_cloud_presence(dd_cloud_t *self, const char *party, const char *terminal_id, bool online,
                      uint64_t now) {
  assert(self);
  if (!s_id_ok(terminal_id)) return DD_EINVAL;
  int rc = 0;
  s_term_t *t = s_term_get(self, terminal_id, &rc);
  if (!t) return rc;
  self->st.heartbeats++;
  if (party && *party && strlen(party) < DD_CLOUD_ID_MAX) S_COPY(t->contact, party);
  t->hb_online = online;
  if (online) t->last_hb = now;
  s_update(self, t, online ? "heartbeat" : "bye");
  return 0;
}

int dd_cloud_set_static(dd_cloud_t *self, const char *terminal_id, bool online, uint64_t now) {
  (void)now;
  s_term_t *t = s_term(self, terminal_id);
  if (!t) return DD_ENOENT;
  t->p.static_online = online;
  s_update(self, t, "command");
  return 0;
}

static bool s_serves(const dd_cloud_terminal_t *t, const char *make) {
  if (!make || !*make) return true;
  for (size_t i = 0; i < t->n_makes; i++)
    if (!strcasecmp(t->makes[i], make)) return true;
  return false;
}

static int s_cmp_term(const void *a, const void *b) {
  const dd_cloud_terminal_t *x = *(const dd_cloud_terminal_t *const *)a;
  const dd_cloud_terminal_t *y = *(const dd_cloud_terminal_t *const *)b;
  return strcmp(x->id, y->id);
}

size_t dd_cloud_list(dd_cloud_t *self, const char *make, const dd_cloud_terminal_t **out,
                     size_t cap) {
  self->st.list_requests++;
  size_t n = 0;
  for (size_t i = 0; i < self->n_terms; i++)
    if (self->terms[i].online && s_serves(&self->terms[i].p, make)) n++;
  if (!n || !cap) return n;
  const dd_cloud_terminal_t **all = malloc(n * sizeof *all);
  if (!all) return 0;
  size_t k = 0;
  for (size_t i = 0; i < self->n_terms; i++)
    if (self->terms[i].online && s_serves(&self->terms[i].p, make)) all[k++] = &self->terms[i].p;
  qsort(all, n, sizeof *all, s_cmp_term);
  memcpy(out, all, (n < cap ? n : cap) * sizeof *out);
  free(all);
  return n;
}

const dd_cloud_terminal_t *dd_cloud_terminal(const dd_cloud_t *self, const char *terminal_id) {
  const s_term_t *t = s_term(self, terminal_id);
  return t ? &t->p : NULL;
}

bool dd_cloud_online(const dd_cloud_t *self, const char *terminal_id) {
  const s_term_t *t = s_term(self, terminal_id);
  return t && t->online;
}

size_t dd_cloud_terminal_count(const dd_cloud_t *self) { return self->n_terms; }

const dd_cloud_terminal_t *dd_cloud_terminal_at(const dd_cloud_t *self, size_t i) {
  return i < self->n_terms ? &self->terms[i].p : NULL;
}

bool dd_cloud_take_presence(dd_cloud_t *self, dd_cloud_presence_t *out) {
  return s_fifo_pop(&self->presence, out);
}

/* ---- orders (S14) --------------------------------------------------------------------------- */

static s_order_t *s_order(const dd_cloud_t *self, const char *id) {
  for (size_t i = 0; i < self->n_orders; i++)
    if (!strcmp(self->orders[i].id, id)) return &self->orders[i];
  return NULL;
}

static s_pay_t *s_pay(const dd_cloud_t *self, const char *id) {
  for (size_t i = 0; i < self->n_pays; i++)
    if (!strcmp(self->pays[i].id, id)) return &self->pays[i];
  return NULL;
}

static void s_settle(dd_cloud_t *self, s_pay_t *p, uint64_t now);

int dd_cloud_order(dd_cloud_t *self, const char *party, const dd_cloud_order_in_t *o, uint64_t now,
                   bool *duplicate) {
  assert(self && o);
  if (duplicate) *duplicate = false;
  if (!s_id_ok(o->order_id) || !s_id_ok(o->session_id) || o->fee_minor < 0 ||
      !s_currency_ok(o->currency) || !s_id_ok(party) ||
      (o->merchant_id && strlen(o->merchant_id) >= DD_CLOUD_ID_MAX)) {
    self->st.orders_refused++;
    return DD_EINVAL;
  }
  const char *mid = o->merchant_id ? o->merchant_id : "";
  s_order_t *old = s_order(self, o->order_id);
  if (old) {
    if (strcmp(old->session, o->session_id) || old->fee_minor != o->fee_minor ||
        strcmp(old->currency, o->currency) || strcmp(old->merchant_id, mid)) {
      self->st.orders_refused++;
      return DD_EEXIST;
    }
    if (duplicate) *duplicate = true;
    return 0;
  }
  int rc = s_grow((void **)&self->orders, self->n_orders, &self->cap_orders, sizeof *self->orders,
                  self->cfg.max_orders);
  if (rc) {
    self->st.orders_refused++;
    return rc;
  }
  s_order_t *r = &self->orders[self->n_orders++];
  memset(r, 0, sizeof *r);
  S_COPY(r->id, o->order_id);
  S_COPY(r->session, o->session_id);
  S_COPY(r->contact, party);
  S_COPY(r->merchant_id, mid);
  S_COPY(r->merchant_name, o->merchant_name);
  r->fee_minor = o->fee_minor;
  S_COPY(r->currency, o->currency);
  /* The order's terminal: the one this party speaks for, else the party itself. */
  S_COPY(r->terminal, party);
  for (size_t i = 0; i < self->n_terms; i++)
    if (!strcmp(self->terms[i].contact, party)) {
      S_COPY(r->terminal, self->terms[i].p.id);
      break;
    }
  self->st.orders++;
  /* Payments that arrived before their order are settled now, in arrival order. */
  for (size_t i = 0; i < self->n_pays; i++)
    if (self->pays[i].pending && !strcmp(self->pays[i].order, r->id))
      s_settle(self, &self->pays[i], now);
  return 0;
}

/* ---- payments (S16) ------------------------------------------------------------------------- */

static void s_answer(dd_cloud_t *self, const s_pay_t *p, dd_cloud_out_kind_t kind, const char *to,
                     bool duplicate) {
  dd_cloud_out_t *o = s_fifo_push(&self->out);
  if (!o) return; /* out of memory: the payer's retry gets the answer */
  o->kind = kind;
  S_COPY(o->to, to);
  S_COPY(o->payment_id, p->id);
  S_COPY(o->order_id, p->order);
  S_COPY(o->payer, p->payer);
  S_COPY(o->terminal, p->terminal);
  o->ok = p->ok;
  o->duplicate = duplicate;
  o->code = p->code;
  S_COPY(o->reason, p->reason);
  o->amount_minor = p->amount_minor;
  o->charged_minor = p->charged_minor;
  S_COPY(o->currency, p->currency);
  o->waited_us = p->waited_us;
}

static void s_refuse(s_pay_t *p, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void s_refuse(s_pay_t *p, int code, const char *fmt, ...) {
  p->ok = false;
  p->code = code;
  p->charged_minor = 0;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(p->reason, sizeof p->reason, fmt, ap);
  va_end(ap);
}

/* The reason of the first scripted failure matching p (its count used up), or NULL. */
static const char *s_scripted(dd_cloud_t *self, const s_pay_t *p, char *buf, size_t cap) {
  for (size_t i = 0; i < self->n_rules; i++) {
    s_rule_t *r = &self->rules[i];
    bool hit = r->what == DD_CLOUD_MATCH_ANY ||
               (r->what == DD_CLOUD_MATCH_PAYER && !strcmp(r->value, p->payer)) ||
               (r->what == DD_CLOUD_MATCH_ORDER && !strcmp(r->value, p->order)) ||
               (r->what == DD_CLOUD_MATCH_TERMINAL && !strcmp(r->value, p->terminal));
    if (!hit) continue;
    snprintf(buf, cap, "%s", r->reason);
    if (r->left && --r->left == 0) {
      memmove(r, r + 1, (self->n_rules - i - 1) * sizeof *r);
      self->n_rules--;
    }
    return buf;
  }
  const s_term_t *t = s_term(self, p->terminal);
  if (t && t->p.payment_failure[0]) {
    snprintf(buf, cap, "%s", t->p.payment_failure);
    return buf;
  }
  return NULL;
}

static void s_add_total(dd_cloud_t *self, const char *terminal, const char *currency,
                        int64_t amount) {
  for (size_t i = 0; i < self->n_totals; i++) {
    dd_cloud_total_t *t = &self->totals[i];
    if (!strcmp(t->terminal, terminal) && !strcmp(t->currency, currency)) {
      t->charged_minor += amount;
      t->payments++;
      return;
    }
  }
  if (s_grow((void **)&self->totals, self->n_totals, &self->cap_totals, sizeof *self->totals,
             SIZE_MAX / sizeof *self->totals))
    return;
  dd_cloud_total_t *t = &self->totals[self->n_totals++];
  memset(t, 0, sizeof *t);
  S_COPY(t->terminal, terminal);
  S_COPY(t->currency, currency);
  t->charged_minor = amount;
  t->payments = 1;
}

/* Decide a payment (rules 2-6 of dd_cloud.h) and queue its answers. */
static void s_settle(dd_cloud_t *self, s_pay_t *p, uint64_t now) {
  unsigned owed = p->pending ? p->owed : 1;
  if (p->pending) {
    p->pending = false;
    p->waited_us = now - p->arrived_us;
    self->st.pending--;
  }
  s_order_t *o = s_order(self, p->order);
  char buf[DD_CLOUD_TEXT_MAX];
  const char *why;
  if (o) S_COPY(p->terminal, o->terminal);
  if (!o) {
    if (p->waited_us)
      s_refuse(p, DD_ENOENT, "unknown order %s (waited %llu ms for it)", p->order,
               (unsigned long long)(p->waited_us / 1000));
    else
      s_refuse(p, DD_ENOENT, "unknown order %s", p->order);
  } else if (o->paid_by[0]) {
    s_refuse(p, DD_EEXIST, "order %s is paid already (payment %s)", o->id, o->paid_by);
  } else if (strcmp(p->currency, o->currency)) {
    s_refuse(p, DD_EINVAL, "currency %s does not match the order's %s", p->currency, o->currency);
  } else if (p->amount_minor != o->fee_minor) {
    s_refuse(p, DD_EINVAL, "amount %lld does not match the order's fee %lld (%s minor units)",
             (long long)p->amount_minor, (long long)o->fee_minor, o->currency);
  } else if ((why = s_scripted(self, p, buf, sizeof buf)) != NULL) {
    s_refuse(p, DD_EPERM, "%s", why);
  } else {
    p->ok = true;
    p->code = 0;
    p->reason[0] = '\0';
    p->charged_minor = p->amount_minor;
    S_COPY(o->paid_by, p->id);
    s_add_total(self, o->terminal, o->currency, p->amount_minor);
  }
  self->st.payments++;
  if (p->ok)
    self->st.charged++;
  else
    self->st.refused++;
  s_answer(self, p, DD_CLOUD_OUT_CONFIRM, p->party, false);
  for (unsigned i = 1; i < owed; i++) { /* retries that came while it waited */
    self->st.duplicates++;
    s_answer(self, p, DD_CLOUD_OUT_CONFIRM, p->party, true);
  }
  if (p->ok && o && o->contact[0]) {
    self->st.notices++;
    s_answer(self, p, DD_CLOUD_OUT_NOTIFY, o->contact, false);
  }
}

int dd_cloud_pay(dd_cloud_t *self, const char *party, const dd_cloud_payment_in_t *in, uint64_t now,
                 bool *pending) {
  assert(self && in);
  if (pending) *pending = false;
  if (!s_id_ok(in->payment_id) || !s_id_ok(in->order_id) || !s_id_ok(party) ||
      in->amount_minor <= 0 || !s_currency_ok(in->currency) ||
      (in->payer_id && strlen(in->payer_id) >= DD_CLOUD_ID_MAX))
    return DD_EINVAL;
  const char *payer = in->payer_id && *in->payer_id ? in->payer_id : party;
  s_pay_t *p = s_pay(self, in->payment_id);
  if (p) {
    if (strcmp(p->order, in->order_id) || p->amount_minor != in->amount_minor ||
        strcmp(p->currency, in->currency) || strcmp(p->payer, payer)) {
      /* The key is taken by another payment: refuse this one, leave the first untouched. */
      s_pay_t tmp = {0};
      S_COPY(tmp.id, in->payment_id);
      S_COPY(tmp.order, in->order_id);
      S_COPY(tmp.payer, payer);
      tmp.amount_minor = in->amount_minor;
      S_COPY(tmp.currency, in->currency);
      s_refuse(&tmp, DD_EEXIST, "payment id %s is already used for another payment",
               in->payment_id);
      self->st.conflicts++;
      s_answer(self, &tmp, DD_CLOUD_OUT_CONFIRM, party, false);
      return 0;
    }
    S_COPY(p->party, party); /* answer where the payer is now */
    if (p->pending) {
      p->owed++;
      if (pending) *pending = true;
      return 0;
    }
    self->st.duplicates++;
    s_answer(self, p, DD_CLOUD_OUT_CONFIRM, party, true);
    return 0;
  }
  int rc = s_grow((void **)&self->pays, self->n_pays, &self->cap_pays, sizeof *self->pays,
                  self->cfg.max_payments);
  if (rc) {
    s_pay_t tmp = {0};
    S_COPY(tmp.id, in->payment_id);
    S_COPY(tmp.order, in->order_id);
    S_COPY(tmp.payer, payer);
    tmp.amount_minor = in->amount_minor;
    S_COPY(tmp.currency, in->currency);
    s_refuse(&tmp, rc, "the ledger is full (%zu payments); try again later",
             self->cfg.max_payments);
    self->st.refused++;
    s_answer(self, &tmp, DD_CLOUD_OUT_CONFIRM, party, false);
    return 0;
  }
  p = &self->pays[self->n_pays++];
  memset(p, 0, sizeof *p);
  S_COPY(p->id, in->payment_id);
  S_COPY(p->order, in->order_id);
  S_COPY(p->payer, payer);
  S_COPY(p->party, party);
  p->amount_minor = in->amount_minor;
  S_COPY(p->currency, in->currency);
  p->arrived_us = now;
  if (!s_order(self, in->order_id) && self->cfg.order_wait_us != UINT64_MAX) {
    p->pending = true;
    p->owed = 1;
    p->deadline = now + self->cfg.order_wait_us;
    self->st.pending++;
    if (pending) *pending = true;
    return 0;
  }
  s_settle(self, p, now);
  return 0;
}

int dd_cloud_fail_payments(dd_cloud_t *self, dd_cloud_match_t what, const char *value,
                           const char *reason, unsigned count) {
  if (what != DD_CLOUD_MATCH_ANY && !s_id_ok(value)) return DD_EINVAL;
  if (self->n_rules >= DD_CLOUD_MAX_RULES) return DD_ENOSPC;
  s_rule_t *r = &self->rules[self->n_rules++];
  memset(r, 0, sizeof *r);
  r->what = what;
  S_COPY(r->value, what == DD_CLOUD_MATCH_ANY ? "" : value);
  S_COPY(r->reason, reason && *reason ? reason : "payment declined");
  r->left = count;
  return 0;
}

void dd_cloud_clear_failures(dd_cloud_t *self) { self->n_rules = 0; }

bool dd_cloud_take_out(dd_cloud_t *self, dd_cloud_out_t *out) {
  return s_fifo_pop(&self->out, out);
}

/* ---- time ----------------------------------------------------------------------------------- */

void dd_cloud_tick(dd_cloud_t *self, uint64_t now) {
  for (size_t i = 0; i < self->n_terms; i++) {
    s_term_t *t = &self->terms[i];
    if (t->hb_online && now >= t->last_hb && now - t->last_hb >= self->cfg.presence_timeout_us) {
      t->hb_online = false;
      s_update(self, t, "timeout");
    }
  }
  for (size_t i = 0; i < self->n_pays; i++)
    if (self->pays[i].pending && now >= self->pays[i].deadline) s_settle(self, &self->pays[i], now);
}

uint64_t dd_cloud_next_deadline(const dd_cloud_t *self) {
  uint64_t next = UINT64_MAX;
  for (size_t i = 0; i < self->n_terms; i++) {
    const s_term_t *t = &self->terms[i];
    if (!t->hb_online) continue;
    uint64_t d = t->last_hb + self->cfg.presence_timeout_us;
    if (d < t->last_hb) d = UINT64_MAX;
    if (d < next) next = d;
  }
  for (size_t i = 0; i < self->n_pays; i++)
    if (self->pays[i].pending && self->pays[i].deadline < next) next = self->pays[i].deadline;
  return next;
}

size_t dd_cloud_total_count(const dd_cloud_t *self) { return self->n_totals; }

const dd_cloud_total_t *dd_cloud_total(const dd_cloud_t *self, size_t i) {
  return i < self->n_totals ? &self->totals[i] : NULL;
}

/* ---- start-up loaders (file I/O) ------------------------------------------------------------ */

static void s_errf(char *err, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Append one line to err. */
static void s_errf(char *err, size_t cap, const char *fmt, ...) {
  if (!err || !cap) return;
  size_t used = strnlen(err, cap);
  if (used + 1 >= cap) return;
  if (used) err[used++] = '\n', err[used] = '\0';
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err + used, cap - used, fmt, ap);
  va_end(ap);
}

static int s_load_vehicle(dd_cloud_t *self, const char *path, char *err, size_t cap) {
  dd_vehicle_t *v = NULL;
  char verr[2048] = "";
  int rc = dd_vehicle_load(path, &v, verr, sizeof verr);
  if (rc < 0) {
    if (verr[0])
      s_errf(err, cap, "%s", verr);
    else
      s_errf(err, cap, "%s: %s", path, dd_strerror(rc));
    return rc;
  }
  rc = dd_cloud_add_vehicle(self, v);
  if (rc == DD_EEXIST) {
    const dd_cloud_vehicle_t *o = NULL;
    for (size_t i = 0; i < self->n_vehicles && !o; i++)
      if (!strcmp(self->vehicles[i].vin, v->vin)) o = &self->vehicles[i];
    s_errf(err, cap, "%s: VIN %s is already registered from %s", path, v->vin, o ? o->source : "?");
    rc = DD_ECONFIG;
  } else if (rc < 0) {
    s_errf(err, cap, "%s: %s", path, dd_strerror(rc));
  }
  dd_vehicle_destroy(&v);
  return rc;
}

static int s_yaml_file(const struct dirent *d) {
  size_t n = strlen(d->d_name);
  if (d->d_name[0] == '.') return 0;
  return (n > 5 && !strcmp(d->d_name + n - 5, ".yaml")) ||
         (n > 4 && !strcmp(d->d_name + n - 4, ".yml"));
}

int dd_cloud_load_vehicles(dd_cloud_t *self, const char *path, char *err, size_t cap) {
  assert(self && path);
  if (err && cap) err[0] = '\0';
  struct stat sb;
  if (stat(path, &sb) != 0) {
    int rc = -errno;
    s_errf(err, cap, "%s: %s", path, strerror(errno));
    return rc;
  }
  if (!S_ISDIR(sb.st_mode)) return s_load_vehicle(self, path, err, cap);
  struct dirent **list = NULL;
  int n = scandir(path, &list, s_yaml_file, alphasort);
  if (n < 0) {
    int rc = -errno;
    s_errf(err, cap, "%s: %s", path, strerror(errno));
    return rc;
  }
  int rc = 0;
  if (n == 0) {
    s_errf(err, cap, "%s: no vehicle files (*.yaml, *.yml) in this folder", path);
    rc = DD_ECONFIG;
  }
  for (int i = 0; i < n; i++) {
    if (rc == 0) {
      char file[4096];
      snprintf(file, sizeof file, "%s/%s", path, list[i]->d_name);
      rc = s_load_vehicle(self, file, err, cap);
    }
    free(list[i]);
  }
  free(list);
  return rc;
}

/* Terminals file parsing state. */
typedef struct {
  const char *name; /* file name for messages */
  char *err;        /* error lines */
  size_t cap;       /* their room */
  int errors;       /* errors so far */
} s_yctx_t;

static void s_diag_sink(struct fy_diag *diag, void *user, const char *buf, size_t len) {
  (void)diag;
  (void)user;
  (void)buf;
  (void)len;
}

static void s_yerr(s_yctx_t *c, struct fy_node *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* One error at a node's position (its scalar's, else the start of the file). */
static void s_yerr(s_yctx_t *c, struct fy_node *at, const char *fmt, ...) {
  int line = 1, col = 1;
  struct fy_token *tok = at ? fy_node_get_scalar_token(at) : NULL;
  const struct fy_mark *m = tok ? fy_token_start_mark(tok) : NULL;
  if (m) {
    line = m->line + 1;
    col = m->column + 1;
  }
  char msg[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  s_errf(c->err, c->cap, "%s:%d:%d: %s", c->name, line, col, msg);
  c->errors++;
}

/* A scalar's text as a C string into buf; false (with an error) when not a fitting scalar. */
static bool s_ystr(s_yctx_t *c, struct fy_node *key, struct fy_node *v, const char *path, char *buf,
                   size_t cap) {
  size_t len = 0;
  const char *s = v && fy_node_is_scalar(v) ? fy_node_get_scalar(v, &len) : NULL;
  if (!s) {
    s_yerr(c, key, "%s: expected a text value", path);
    return false;
  }
  if (len >= cap || memchr(s, '\0', len)) {
    s_yerr(c, v, "%s: longer than %zu bytes", path, cap - 1);
    return false;
  }
  memcpy(buf, s, len);
  buf[len] = '\0';
  return true;
}

static bool s_ynum(s_yctx_t *c, struct fy_node *key, struct fy_node *v, const char *path, double lo,
                   double hi, double *out) {
  char buf[64];
  if (!s_ystr(c, key, v, path, buf, sizeof buf)) return false;
  char *end;
  errno = 0;
  double d = strtod(buf, &end);
  if (!buf[0] || *end || errno || !isfinite(d) || d < lo || d > hi) {
    s_yerr(c, v, "%s: expected a number from %g to %g, got '%s'", path, lo, hi, buf);
    return false;
  }
  *out = d;
  return true;
}

static bool s_ybool(s_yctx_t *c, struct fy_node *key, struct fy_node *v, const char *path,
                    bool *out) {
  char buf[16];
  if (!s_ystr(c, key, v, path, buf, sizeof buf)) return false;
  if (!strcmp(buf, "true"))
    *out = true;
  else if (!strcmp(buf, "false"))
    *out = false;
  else {
    s_yerr(c, v, "%s: expected true or false, got '%s'", path, buf);
    return false;
  }
  return true;
}

/* One entry of terminals:; 0 or DD_ECONFIG with errors recorded. */
static int s_yterminal(s_yctx_t *c, struct fy_node *item, size_t idx, dd_cloud_terminal_t *t,
                       struct fy_node **id_node) {
  memset(t, 0, sizeof *t);
  *id_node = NULL;
  char path[96];
  int before = c->errors;
  if (!fy_node_is_mapping(item)) {
    s_yerr(c, fy_node_is_scalar(item) ? item : NULL, "terminals[%zu]: expected a mapping", idx);
    return DD_ECONFIG;
  }
  struct fy_node *id_key = NULL, *first_key = NULL;
  void *it = NULL;
  struct fy_node_pair *pair;
  while ((pair = fy_node_mapping_iterate(item, &it)) != NULL) {
    struct fy_node *k = fy_node_pair_key(pair), *v = fy_node_pair_value(pair);
    const char *ks = k ? fy_node_get_scalar0(k) : NULL;
    if (!first_key) first_key = k;
    if (!ks) {
      s_yerr(c, k, "terminals[%zu]: keys must be text", idx);
      continue;
    }
    snprintf(path, sizeof path, "terminals[%zu].%s", idx, ks);
    double d;
    if (!strcmp(ks, "id")) {
      id_key = k;
      *id_node = v;
      if (s_ystr(c, k, v, path, t->id, sizeof t->id) && !t->id[0])
        s_yerr(c, v, "%s: must not be empty", path);
    } else if (!strcmp(ks, "name")) {
      s_ystr(c, k, v, path, t->name, sizeof t->name);
    } else if (!strcmp(ks, "makes")) {
      if (!v || !fy_node_is_sequence(v)) {
        s_yerr(c, k, "%s: expected a list of makes", path);
        continue;
      }
      void *mit = NULL;
      struct fy_node *m;
      while ((m = fy_node_sequence_iterate(v, &mit)) != NULL) {
        if (t->n_makes == DD_CLOUD_MAX_MAKES) {
          s_yerr(c, m, "%s: at most %d makes", path, DD_CLOUD_MAX_MAKES);
          break;
        }
        if (s_ystr(c, k, m, path, t->makes[t->n_makes], sizeof t->makes[0])) t->n_makes++;
      }
    } else if (!strcmp(ks, "fee_minor")) {
      char num[32];
      if (!s_ystr(c, k, v, path, num, sizeof num)) continue;
      char *end;
      errno = 0;
      long long f = strtoll(num, &end, 10);
      if (!num[0] || *end || errno || f < 0)
        s_yerr(c, v, "%s: expected a whole number of minor units, 0 or more, got '%s'", path, num);
      else
        t->fee_minor = f;
    } else if (!strcmp(ks, "currency")) {
      char cur[64];
      if (!s_ystr(c, k, v, path, cur, sizeof cur)) continue;
      if (s_currency_ok(cur))
        memcpy(t->currency, cur, sizeof t->currency);
      else
        s_yerr(c, v, "%s: expected an ISO 4217 code such as EUR, got '%s'", path, cur);
    } else if (!strcmp(ks, "rating")) {
      if (s_ynum(c, k, v, path, 0, 5, &d)) t->rating_x10 = (unsigned)lround(d * 10);
    } else if (!strcmp(ks, "online")) {
      s_ybool(c, k, v, path, &t->static_online);
    } else if (!strcmp(ks, "payment_failure")) {
      s_ystr(c, k, v, path, t->payment_failure, sizeof t->payment_failure);
    } else {
      s_yerr(c, k,
             "%s: unknown key (known: id, name, makes, fee_minor, currency, rating, "
             "online, payment_failure)",
             path);
    }
  }
  if (!id_key && c->errors == before) s_yerr(c, first_key, "terminals[%zu]: id is required", idx);
  return c->errors == before ? 0 : DD_ECONFIG;
}

int dd_cloud_load_terminals_string(dd_cloud_t *self, const char *text, size_t len, const char *name,
                                   char *err, size_t cap) {
  assert(self && text);
  if (err && cap) err[0] = '\0';
  s_yctx_t c = {.name = name ? name : "<terminals>", .err = err, .cap = cap};
  struct fy_diag_cfg dcfg;
  fy_diag_cfg_default(&dcfg);
  dcfg.fp = NULL;
  dcfg.output_fn = s_diag_sink;
  dcfg.level = FYET_ERROR;
  dcfg.colorize = false;
  struct fy_diag *diag = fy_diag_create(&dcfg);
  if (!diag) return DD_ENOMEM;
  fy_diag_set_collect_errors(diag, true);
  struct fy_parse_cfg pcfg;
  memset(&pcfg, 0, sizeof pcfg);
  pcfg.flags = FYPCF_QUIET | FYPCF_COLLECT_DIAG;
  pcfg.diag = diag;
  struct fy_document *fyd = fy_document_build_from_string(&pcfg, text, len);
  int rc = 0;
  if (!fyd) {
    void *it = NULL;
    struct fy_diag_error *de;
    bool any = false;
    while (!any && (de = fy_diag_errors_iterate(diag, &it)) != NULL) {
      if (de->type < FYET_ERROR) continue;
      s_errf(err, cap, "%s:%d:%d: YAML syntax: %s", c.name, de->line > 0 ? de->line : 1,
             de->column > 0 ? de->column : 1, de->msg ? de->msg : "error");
      any = true;
    }
    if (!any) s_errf(err, cap, "%s:1:1: YAML syntax error", c.name);
    fy_diag_destroy(diag);
    return DD_ECONFIG;
  }
  struct fy_node *root = fy_document_root(fyd);
  struct fy_node *list = NULL;
  if (!root || !fy_node_is_mapping(root)) {
    s_yerr(&c, NULL, "expected a mapping with the key terminals");
  } else {
    void *it = NULL;
    struct fy_node_pair *pair;
    while ((pair = fy_node_mapping_iterate(root, &it)) != NULL) {
      struct fy_node *k = fy_node_pair_key(pair);
      const char *ks = k ? fy_node_get_scalar0(k) : NULL;
      if (ks && !strcmp(ks, "terminals"))
        list = fy_node_pair_value(pair);
      else
        s_yerr(&c, k, "%s: unknown key (known: terminals)", ks ? ks : "?");
    }
    if (!list || !fy_node_is_sequence(list)) s_yerr(&c, NULL, "terminals: expected a list");
  }
  size_t nt = c.errors ? 0 : (size_t)fy_node_sequence_item_count(list);
  dd_cloud_terminal_t *ts = nt ? calloc(nt, sizeof *ts) : NULL;
  if (nt && !ts) rc = DD_ENOMEM;
  size_t i = 0;
  void *it = NULL;
  struct fy_node *item;
  while (!rc && c.errors < 32 && i < nt && (item = fy_node_sequence_iterate(list, &it))) {
    struct fy_node *id_node = NULL;
    s_yterminal(&c, item, i, &ts[i], &id_node);
    for (size_t j = 0; j < i && ts[i].id[0]; j++)
      if (!strcmp(ts[j].id, ts[i].id))
        s_yerr(&c, id_node, "terminals[%zu].id: %s is already the id of terminals[%zu]", i,
               ts[i].id, j);
    i++;
  }
  /* All or nothing: the profiles go in only when the whole file is valid. */
  for (size_t k = 0; !rc && !c.errors && k < nt; k++) {
    int prc = dd_cloud_put_terminal(self, &ts[k], true, NULL, 0);
    if (prc < 0) {
      s_errf(err, cap, "%s: terminals[%zu]: %s", c.name, k, dd_strerror(prc));
      rc = prc;
    }
  }
  free(ts);
  fy_document_destroy(fyd);
  fy_diag_destroy(diag);
  if (!rc && c.errors) rc = DD_ECONFIG;
  return rc;
}

int dd_cloud_load_terminals(dd_cloud_t *self, const char *path, char *err, size_t cap) {
  assert(self && path);
  if (err && cap) err[0] = '\0';
  FILE *f = fopen(path, "rb");
  if (!f) {
    int rc = -errno;
    s_errf(err, cap, "%s: %s", path, strerror(errno));
    return rc;
  }
  size_t max = 1u << 20, n = 0;
  char *buf = malloc(max + 1);
  if (!buf) {
    fclose(f);
    return DD_ENOMEM;
  }
  n = fread(buf, 1, max + 1, f);
  bool bad = ferror(f);
  fclose(f);
  if (bad || n > max) {
    s_errf(err, cap, "%s: %s", path, bad ? "read error" : "larger than 1 MiB");
    free(buf);
    return bad ? DD_EIO : DD_ECONFIG;
  }
  buf[n] = '\0';
  int rc = dd_cloud_load_terminals_string(self, buf, n, path, err, cap);
  free(buf);
  return rc;
}
