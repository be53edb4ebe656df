/* dd_expect: the expectation engine (rules in dd_expect.h and docs/SCENARIOS.md). */
#include "dd_expect.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <regex.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "dd_duration.h"
#include "dd_err.h"

/* vehicle_records: records sent after the last delivered one that may still be in flight when
 * the run ends (a few records at 10-20 per second over a 250 ms path). */
#define S_INFLIGHT_MAX 32u

#define S_INF UINT64_MAX

static uint64_t s_add(uint64_t a, uint64_t b) { return a > S_INF - b ? S_INF : a + b; }
static uint64_t s_sub0(uint64_t a, uint64_t b) { return a > b ? a - b : 0; }

/* ==== text ================================================================================= */

typedef struct {
  char *buf;  /* output */
  size_t cap; /* its size */
  size_t u;   /* used */
} s_out_t;

static void s_put(s_out_t *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void s_put(s_out_t *o, const char *fmt, ...) {
  if (o->u + 1 >= o->cap) return;
  va_list ap;
  va_start(ap, fmt);
  int w = vsnprintf(o->buf + o->u, o->cap - o->u, fmt, ap);
  va_end(ap);
  if (w > 0) o->u = o->u + (size_t)w < o->cap ? o->u + (size_t)w : o->cap - 1;
}

/* An event field's value as text: strings as they are, numbers in shortest form. */
static void s_json_text(const json_t *v, char *buf, size_t cap) {
  if (!v) snprintf(buf, cap, "(none)");
  else if (json_is_string(v)) snprintf(buf, cap, "%s", json_string_value(v));
  else if (json_is_integer(v)) snprintf(buf, cap, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
  else if (json_is_real(v)) snprintf(buf, cap, "%.15g", json_real_value(v));
  else if (json_is_true(v)) snprintf(buf, cap, "true");
  else if (json_is_false(v)) snprintf(buf, cap, "false");
  else if (json_is_null(v)) snprintf(buf, cap, "null");
  else snprintf(buf, cap, "(%s)", json_is_object(v) ? "object" : "array");
}

/* ==== compiled patterns ==================================================================== */

typedef struct {
  const dd_sc_pattern_t *p; /* the pattern */
  regex_t *rx;              /* per matcher, compiled for REGEX ones */
  bool *rx_ok;              /* rx[i] holds a compiled expression */
} s_cpat_t;

static void s_cpat_free(s_cpat_t *cp) {
  for (size_t i = 0; cp->rx_ok && i < cp->p->n_match; i++)
    if (cp->rx_ok[i]) regfree(&cp->rx[i]);
  free(cp->rx);
  free(cp->rx_ok);
  cp->rx = NULL;
  cp->rx_ok = NULL;
}

static int s_cpat_init(s_cpat_t *cp, const dd_sc_pattern_t *p) {
  memset(cp, 0, sizeof *cp);
  cp->p = p;
  if (!p->n_match) return 0;
  cp->rx = calloc(p->n_match, sizeof *cp->rx);
  cp->rx_ok = calloc(p->n_match, sizeof *cp->rx_ok);
  if (!cp->rx || !cp->rx_ok) {
    s_cpat_free(cp);
    return DD_ENOMEM;
  }
  for (size_t i = 0; i < p->n_match; i++) {
    if (p->match[i].op != DD_SC_OP_REGEX) continue;
    if (regcomp(&cp->rx[i], p->match[i].v[0].text, REG_EXTENDED | REG_NOSUB) != 0) {
      s_cpat_free(cp);
      return DD_EINVAL;
    }
    cp->rx_ok[i] = true;
  }
  return 0;
}

static bool s_kind_proc(const dd_sc_pattern_t *p, const dd_ev_t *ev) {
  if (!p->kind || strcmp(p->kind, ev->kind)) return false;
  return !p->proc || !strcmp(p->proc, ev->proc ? ev->proc : "");
}

static bool s_num(const json_t *f, double *d) {
  if (json_is_integer(f)) *d = (double)json_integer_value(f);
  else if (json_is_real(f)) *d = json_real_value(f);
  else return false;
  return true;
}

/* field == value, by the event field's type. */
static bool s_equal(const json_t *f, const dd_sc_value_t *v) {
  if (json_is_string(f)) return !strcmp(json_string_value(f), v->text);
  if (json_is_integer(f) && v->is_int) return json_integer_value(f) == v->i;
  if (json_is_number(f)) return v->is_num && json_number_value(f) == v->num;
  if (json_is_boolean(f)) return v->is_bool && json_boolean_value(f) == v->b;
  return false;
}

/* a <op> b for numbers; integers compare exactly. */
static bool s_order(const json_t *f, dd_sc_op_t op, const dd_sc_value_t *v) {
  double a;
  if (!s_num(f, &a) || !v->is_num) return false;
  int c;
  if (json_is_integer(f) && v->is_int) {
    json_int_t x = json_integer_value(f);
    c = x < v->i ? -1 : x > v->i ? 1 : 0;
  } else {
    c = a < v->num ? -1 : a > v->num ? 1 : 0;
  }
  switch (op) {
  case DD_SC_OP_LT: return c < 0;
  case DD_SC_OP_LE: return c <= 0;
  case DD_SC_OP_GT: return c > 0;
  case DD_SC_OP_GE: return c >= 0;
  default: return false;
  }
}

/* One condition on a field value (NULL: the event lacks the field, which fails). */
static bool s_cond(const dd_sc_matcher_t *m, const regex_t *rx, const json_t *f) {
  if (!f) return false;
  switch (m->op) {
  case DD_SC_OP_EQ: return s_equal(f, &m->v[0]);
  case DD_SC_OP_NE: return !s_equal(f, &m->v[0]);
  case DD_SC_OP_LT:
  case DD_SC_OP_LE:
  case DD_SC_OP_GT:
  case DD_SC_OP_GE: return s_order(f, m->op, &m->v[0]);
  case DD_SC_OP_BETWEEN: return s_order(f, DD_SC_OP_GE, &m->v[0]) && s_order(f, DD_SC_OP_LE, &m->v[1]);
  case DD_SC_OP_IN:
    for (size_t i = 0; i < m->n_set; i++)
      if (s_equal(f, &m->set[i])) return true;
    return false;
  case DD_SC_OP_REGEX: return rx && json_is_string(f) && regexec(rx, json_string_value(f), 0, NULL, 0) == 0;
  default: return false;
  }
}

static bool s_fields_match(const s_cpat_t *cp, const dd_ev_t *ev) {
  for (size_t i = 0; i < cp->p->n_match; i++) {
    const dd_sc_matcher_t *m = &cp->p->match[i];
    const json_t *f = ev->fields ? json_object_get(ev->fields, m->field) : NULL;
    if (!s_cond(m, cp->rx_ok && cp->rx_ok[i] ? &cp->rx[i] : NULL, f)) return false;
  }
  return true;
}

static bool s_match(const s_cpat_t *cp, const dd_ev_t *ev) {
  return s_kind_proc(cp->p, ev) && s_fields_match(cp, ev);
}

/* "to=relay phase=DONE": the event's values of the fields the pattern looks at. */
static void s_fields_desc(const dd_sc_pattern_t *p, const dd_ev_t *ev, char *buf, size_t cap) {
  s_out_t o = {.buf = buf, .cap = cap};
  buf[0] = 0;
  for (size_t i = 0; i < p->n_match; i++) {
    const char *name = p->match[i].field;
    bool dup = false;
    for (size_t j = 0; j < i; j++)
      if (!strcmp(p->match[j].field, name)) dup = true;
    if (dup) continue;
    char v[96];
    s_json_text(ev->fields ? json_object_get(ev->fields, name) : NULL, v, sizeof v);
    s_put(&o, "%s%s=%s", o.u ? " " : "", name, v);
  }
}

/* ==== points in time ======================================================================= */

typedef struct {
  dd_sc_ref_kind_t kind; /* START, EVENT or END */
  uint64_t offset;       /* START: from t0; EVENT: after the event */
  uint32_t nth;          /* EVENT: occurrence */
  s_cpat_t pat;          /* EVENT: the event */
  uint32_t seen;         /* EVENT: occurrences so far */
  bool known;            /* t is known */
  uint64_t t;            /* absolute time */
  uint64_t ev_t;         /* EVENT: when the event happened */
} s_ref_t;

static int s_ref_init(s_ref_t *r, const dd_sc_timeref_t *tr) {
  memset(r, 0, sizeof *r);
  r->kind = tr->kind;
  r->offset = tr->offset_us;
  r->nth = tr->nth ? tr->nth : 1;
  if (r->kind == DD_SC_REF_EVENT) return s_cpat_init(&r->pat, &tr->event);
  return 0;
}

static void s_ref_free(s_ref_t *r) {
  if (r->kind == DD_SC_REF_EVENT) s_cpat_free(&r->pat);
}

static void s_ref_t0(s_ref_t *r, uint64_t t0) {
  if (r->kind == DD_SC_REF_START && !r->known) {
    r->known = true;
    r->t = s_add(t0, r->offset);
  }
}

static void s_ref_event(s_ref_t *r, const dd_ev_t *ev) {
  if (r->kind != DD_SC_REF_EVENT || r->known || !s_match(&r->pat, ev)) return;
  if (++r->seen < r->nth) return;
  r->known = true;
  r->ev_t = ev->t_us;
  r->t = s_add(ev->t_us, r->offset);
}

/* ==== checks' state ======================================================================== */

/* A set of uint64 (open addressing; 0 is kept apart as the empty mark). */
typedef struct {
  uint64_t *v;   /* slots, 0 = empty */
  size_t cap;    /* slots (power of two) */
  size_t n;      /* members except 0 */
  bool has_zero; /* 0 is a member */
} s_set_t;

static size_t s_hash(uint64_t k) {
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdull;
  k ^= k >> 33;
  return (size_t)k;
}

static bool s_set_has(const s_set_t *s, uint64_t k) {
  if (k == 0) return s->has_zero;
  if (!s->cap) return false;
  for (size_t i = s_hash(k) & (s->cap - 1);; i = (i + 1) & (s->cap - 1)) {
    if (s->v[i] == k) return true;
    if (s->v[i] == 0) return false;
  }
}

/* 1 added, 0 already there, DD_ENOMEM. */
static int s_set_add(s_set_t *s, uint64_t k) {
  if (k == 0) {
    bool had = s->has_zero;
    s->has_zero = true;
    return had ? 0 : 1;
  }
  if (s_set_has(s, k)) return 0;
  if ((s->n + 1) * 2 > s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 64;
    uint64_t *v = calloc(cap, sizeof *v);
    if (!v) return DD_ENOMEM;
    for (size_t i = 0; i < s->cap; i++) {
      if (!s->v[i]) continue;
      size_t j = s_hash(s->v[i]) & (cap - 1);
      while (v[j]) j = (j + 1) & (cap - 1);
      v[j] = s->v[i];
    }
    free(s->v);
    s->v = v;
    s->cap = cap;
  }
  size_t j = s_hash(k) & (s->cap - 1);
  while (s->v[j]) j = (j + 1) & (s->cap - 1);
  s->v[j] = k;
  s->n++;
  return 1;
}

static void s_set_free(s_set_t *s) {
  free(s->v);
  memset(s, 0, sizeof *s);
}

typedef struct {
  char *session;          /* session id */
  s_set_t sent;           /* seqs sent by the first device */
  s_set_t delivered;      /* seqs delivered by the service device */
  uint64_t max_delivered; /* highest seq delivered */
} s_vsess_t;

typedef struct {
  char *key;  /* session, ECU or order id */
  uint64_t n; /* count (orders charged) or state (ECU app valid: 1) */
} s_entry_t;

/* A growable table of s_entry_t keyed by string. */
typedef struct {
  s_entry_t *v; /* entries */
  size_t n;     /* used */
  size_t cap;   /* allocated */
} s_table_t;

static s_entry_t *s_table_get(s_table_t *t, const char *key, bool create, bool *oom) {
  for (size_t i = 0; i < t->n; i++)
    if (!strcmp(t->v[i].key, key)) return &t->v[i];
  if (!create) return NULL;
  if (t->n == t->cap) {
    size_t cap = t->cap ? t->cap * 2 : 8;
    s_entry_t *v = realloc(t->v, cap * sizeof *v);
    if (!v) {
      *oom = true;
      return NULL;
    }
    t->v = v;
    t->cap = cap;
  }
  char *k = strdup(key);
  if (!k) {
    *oom = true;
    return NULL;
  }
  t->v[t->n] = (s_entry_t){.key = k};
  return &t->v[t->n++];
}

static void s_table_del(s_table_t *t, const char *key) {
  for (size_t i = 0; i < t->n; i++)
    if (!strcmp(t->v[i].key, key)) {
      free(t->v[i].key);
      t->v[i] = t->v[--t->n];
      return;
    }
}

static void s_table_free(s_table_t *t) {
  for (size_t i = 0; i < t->n; i++)
    free(t->v[i].key);
  free(t->v);
  memset(t, 0, sizeof *t);
}

/* ==== items ================================================================================ */

typedef struct {
  dd_expect_result_t r;     /* the result */
  const dd_sc_expect_t *e;  /* the expectation, NULL for a check */
  const dd_sc_check_t *chk; /* the check, NULL for an expectation */
  s_cpat_t pat;             /* e->event */
  s_ref_t from, to;         /* window ends (EVENT: from only) */
  s_cpat_t *opat;           /* ORDER: items */
  uint64_t *ot;             /* ORDER: first occurrence of each */
  size_t next;              /* ORDER: items seen so far, in order */
  uint64_t count;           /* COUNT: events in the window; checks: problems */
  double *vals;             /* METRIC: samples */
  size_t nv, capv;          /* METRIC: used, allocated */
  double vsum, vmin, vmax, vfirst, vlast; /* METRIC: running figures */
  uint64_t skipped;         /* METRIC: matching events without a numeric field */
  bool have_last;           /* FINAL: an event was seen */
  uint64_t last_t;          /* FINAL: when */
  bool last_ok;             /* FINAL: it met the conditions */
  char last_desc[DD_EXPECT_VALUE_MAX]; /* FINAL: its values */
} s_item_t;

struct dd_expect {
  const dd_scenario_t *sc;   /* the scenario (not owned) */
  s_item_t *items;           /* expectations, then enabled checks */
  size_t n;                  /* how many */
  bool t0_known;             /* t0 is set */
  uint64_t t0;               /* run start */
  uint64_t grace;            /* collector delay allowed for deadlines */
  uint64_t horizon;          /* every event up to here has been seen */
  bool finished;             /* dd_expect_finish() ran */
  bool oom;                  /* memory ran out in a check (reported in its text) */
  dd_expect_result_fn fn;    /* result callback */
  void *fn_arg;              /* its argument */
  s_vsess_t *vs;             /* vehicle_records: sessions */
  size_t nvs, capvs;         /* used, allocated */
  uint64_t vr_dup, vr_ooo;   /* vehicle_records: duplicated, out of order */
  uint64_t vr_inflight;      /* vehicle_records: sent last, still on their way at the end */
  uint64_t vr_dup_seq, vr_ooo_seq; /* the first of each */
  s_table_t paid;            /* control_outside_paid_session: paid sessions open now */
  uint64_t ctl_unpaid;       /* controls executed outside them */
  char ctl_first[96];        /* the first one */
  s_table_t apps;            /* ecu_without_valid_app: ECU -> valid */
  s_table_t charges;         /* double_charge: order -> charges */
  uint64_t double_charges;   /* orders charged more than once */
  char charge_first[96];     /* the first one */
  uint64_t proc_failures;    /* process_failures */
  char failure_first[96];    /* the first one */
};

const char *dd_exp_state_name(dd_exp_state_t s) {
  static const char *const n[] = {"pending", "matched", "timed_out", "violated"};
  return (unsigned)s < 4 ? n[s] : "?";
}

const char *dd_exp_verdict(dd_exp_state_t s) {
  static const char *const n[] = {"PENDING", "PASS", "FAIL", "FAIL"};
  return (unsigned)s < 4 ? n[s] : "?";
}

/* ==== times in texts ======================================================================= */

static int64_t s_rel(const dd_expect_t *self, uint64_t t) {
  if (t == S_INF) return -1;
  return t >= self->t0 ? (int64_t)(t - self->t0) : -(int64_t)(self->t0 - t);
}

/* Seconds with two decimals, more when two times to be told apart would print the same. */
static int s_digits(const dd_expect_t *self, uint64_t a, uint64_t b) {
  if (a == b || a == S_INF || b == S_INF) return 2;
  static const int d[] = {2, 3, 6};
  for (size_t i = 0; i < 3; i++) {
    char x[40], y[40];
    snprintf(x, sizeof x, "%.*f", d[i], (double)s_rel(self, a) / 1e6);
    snprintf(y, sizeof y, "%.*f", d[i], (double)s_rel(self, b) / 1e6);
    if (strcmp(x, y)) return d[i];
  }
  return 6;
}

static void s_secs(const dd_expect_t *self, uint64_t t, int digits, char *buf, size_t cap) {
  snprintf(buf, cap, "%.*f s", digits, (double)s_rel(self, t) / 1e6);
}

static void s_dur(uint64_t us, char *buf, size_t cap) { snprintf(buf, cap, "%.2f s", (double)us / 1e6); }

/* How the window's reference reads: "10.00 s", "session.connected at 3.20 s", "session.connected
 * (not seen)". */
static void s_ref_desc(const dd_expect_t *self, const s_ref_t *r, int digits, char *buf, size_t cap) {
  s_out_t o = {.buf = buf, .cap = cap};
  buf[0] = 0;
  if (r->kind == DD_SC_REF_START) {
    char t[40];
    s_secs(self, r->known ? r->t : s_add(self->t0, r->offset), digits, t, sizeof t);
    s_put(&o, "%s", t);
  } else if (r->kind == DD_SC_REF_END) {
    s_put(&o, "the end");
  } else {
    char d[160];
    dd_sc_pattern_describe(r->pat.p, d, sizeof d);
    s_put(&o, "%s", d);
    if (r->nth > 1) s_put(&o, " #%u", r->nth);
    if (r->offset) {
      char od[DD_DURATION_FMT_MAX];
      dd_duration_format(r->offset, od, sizeof od);
      s_put(&o, " + %s", od);
    }
    if (r->known) {
      char t[40];
      s_secs(self, r->ev_t, digits, t, sizeof t);
      s_put(&o, " at %s", t);
    }
  }
}

/* ==== deciding ============================================================================= */

static void s_decide(dd_expect_t *self, s_item_t *it, dd_exp_state_t st, uint64_t observed,
                     const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void s_decide(dd_expect_t *self, s_item_t *it, dd_exp_state_t st, uint64_t observed,
                     const char *fmt, ...) {
  if (it->r.state != DD_EXP_PENDING) return;
  it->r.state = st;
  it->r.observed_us = observed == S_INF ? -1 : s_rel(self, observed);
  char detail[DD_EXPECT_TEXT_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(detail, sizeof detail, fmt, ap);
  va_end(ap);
  s_out_t o = {.buf = it->r.text, .cap = sizeof it->r.text};
  s_put(&o, "%s %s%s", dd_exp_verdict(st), it->chk ? "check " : "", it->r.name);
  /* "PASS transport.switched -> relay at 10.43 s (deadline 11.00 s)" for events; the other
   * kinds, whose names read "never: ...", "count: ...", put the detail in parentheses. */
  bool event = it->e && it->e->kind == DD_SC_EX_EVENT;
  if (!event && !strncmp(detail, ": ", 2))
    s_put(&o, " (%s)", detail + 2);
  else
    s_put(&o, "%s", detail);
  if (self->fn) self->fn(self->fn_arg, &it->r);
}

static void s_set_deadline(const dd_expect_t *self, s_item_t *it, uint64_t t) {
  it->r.deadline_us = t == S_INF ? -1 : s_rel(self, t);
}

/* ---- event ---------------------------------------------------------------------------------- */

/* The window [lo, hi] of an EVENT expectation whose reference is known. */
static void s_event_window(const s_item_t *it, uint64_t *lo, uint64_t *hi) {
  const dd_sc_expect_t *e = it->e;
  uint64_t r = it->from.t;
  *lo = s_sub0(s_add(r, e->not_before_us), e->tolerance_us);
  *hi = e->within_us == DD_SC_NONE ? S_INF : s_add(s_add(r, e->within_us), e->tolerance_us);
}

static void s_event_timeout(dd_expect_t *self, s_item_t *it, uint64_t late_t, uint64_t end) {
  const dd_sc_expect_t *e = it->e;
  uint64_t lo, hi;
  s_event_window(it, &lo, &hi);
  int dg = s_digits(self, lo, hi);
  if (late_t != S_INF && s_digits(self, late_t, hi) > dg) dg = s_digits(self, late_t, hi);
  char ref[200], his[40], los[40], w[40], late[80] = "", ends[80] = "";
  s_ref_desc(self, &it->from, dg, ref, sizeof ref);
  s_secs(self, hi, dg, his, sizeof his);
  s_secs(self, lo, dg, los, sizeof los);
  if (late_t != S_INF) {
    char lt[40];
    s_secs(self, late_t, dg, lt, sizeof lt);
    snprintf(late, sizeof late, "; first seen at %s", lt);
  } else if (end != S_INF && (hi == S_INF || end < hi)) {
    char et[40];
    s_secs(self, end, dg, et, sizeof et);
    snprintf(ends, sizeof ends, "; the run ended at %s", et);
  }
  if (hi == S_INF)
    s_decide(self, it, DD_EXP_TIMED_OUT, late_t, ": no event after %s%s", ref, ends);
  else if (e->not_before_us == 0 && e->tolerance_us == 0) {
    s_dur(e->within_us, w, sizeof w);
    s_decide(self, it, DD_EXP_TIMED_OUT, late_t, ": no event within %s after %s (deadline %s)%s%s",
             w, ref, his, late, ends);
  } else {
    s_decide(self, it, DD_EXP_TIMED_OUT, late_t, ": no event between %s and %s (after %s)%s%s", los,
             his, ref, late, ends);
  }
}

static void s_event_on(dd_expect_t *self, s_item_t *it, const dd_ev_t *ev) {
  uint64_t lo = 0, hi = 0;
  if (it->from.known) s_event_window(it, &lo, &hi);
  /* Before min(reference, lo) an event is not a candidate; in [reference, lo) it is early. */
  if (it->from.known && s_match(&it->pat, ev) && ev->t_us >= (lo < it->from.t ? lo : it->from.t)) {
    s_set_deadline(self, it, hi);
    char vals[DD_EXPECT_VALUE_MAX];
    s_fields_desc(it->pat.p, ev, vals, sizeof vals);
    if (ev->t_us < lo) {
      int dg = s_digits(self, ev->t_us, lo);
      char t[40], l[40], ref[200];
      s_secs(self, ev->t_us, dg, t, sizeof t);
      s_secs(self, lo, dg, l, sizeof l);
      s_ref_desc(self, &it->from, dg, ref, sizeof ref);
      snprintf(it->r.value, sizeof it->r.value, "%s", vals);
      s_decide(self, it, DD_EXP_VIOLATED, ev->t_us, ": seen at %s, before the window opened at %s (after %s)",
               t, l, ref);
    } else if (ev->t_us <= hi) {
      int dg = s_digits(self, ev->t_us, hi);
      char t[40], h[40], l[40];
      s_secs(self, ev->t_us, dg, t, sizeof t);
      s_secs(self, hi, dg, h, sizeof h);
      s_secs(self, lo, s_digits(self, lo, ev->t_us), l, sizeof l);
      snprintf(it->r.value, sizeof it->r.value, "%s", vals);
      if (hi == S_INF && lo > it->from.t)
        s_decide(self, it, DD_EXP_MATCHED, ev->t_us, " at %s (not before %s)", t, l);
      else if (hi == S_INF)
        s_decide(self, it, DD_EXP_MATCHED, ev->t_us, " at %s", t);
      else if (lo > it->from.t)
        s_decide(self, it, DD_EXP_MATCHED, ev->t_us, " at %s (window %s .. %s)", t, l, h);
      else
        s_decide(self, it, DD_EXP_MATCHED, ev->t_us, " at %s (deadline %s)", t, h);
    } else {
      snprintf(it->r.value, sizeof it->r.value, "%s", vals);
      s_event_timeout(self, it, ev->t_us, S_INF);
    }
  }
  /* After judging: the event that fixes the reference is not a candidate itself. */
  bool was = it->from.known;
  s_ref_event(&it->from, ev);
  if (!was && it->from.known) {
    s_event_window(it, &lo, &hi);
    s_set_deadline(self, it, hi);
  }
}

/* ---- windows (never, count, metric, final) --------------------------------------------------- */

static bool s_in_window(const s_item_t *it, uint64_t t) {
  if (!it->from.known || t < it->from.t) return false;
  return !it->to.known || t <= it->to.t;
}

static void s_window_desc(const dd_expect_t *self, const s_item_t *it, char *buf, size_t cap) {
  char a[200], b[200];
  int dg = it->from.known && it->to.known ? s_digits(self, it->from.t, it->to.t) : 2;
  if (it->from.kind == DD_SC_REF_START && it->from.offset == 0 && it->to.kind == DD_SC_REF_END) {
    snprintf(buf, cap, "the whole run");
    return;
  }
  s_ref_desc(self, &it->from, dg, a, sizeof a);
  s_ref_desc(self, &it->to, dg, b, sizeof b);
  snprintf(buf, cap, "window %s .. %s", a, b);
}

static const char *s_stat_label(const dd_sc_expect_t *e, char *buf, size_t cap) {
  if (e->stat == DD_SC_STAT_PCT) snprintf(buf, cap, "p%g", e->pct);
  else snprintf(buf, cap, "%s", dd_sc_stat_name(e->stat));
  return buf;
}

static double s_stat_value(s_item_t *it) {
  const dd_sc_expect_t *e = it->e;
  switch (e->stat) {
  case DD_SC_STAT_MIN: return it->vmin;
  case DD_SC_STAT_MAX: return it->vmax;
  case DD_SC_STAT_MEAN: return it->nv ? it->vsum / (double)it->nv : 0;
  case DD_SC_STAT_SUM: return it->vsum;
  case DD_SC_STAT_FIRST: return it->vfirst;
  case DD_SC_STAT_LAST: return it->vlast;
  case DD_SC_STAT_COUNT: return (double)it->nv;
  case DD_SC_STAT_PCT: {
    if (!it->nv) return 0;
    /* Nearest rank: the smallest sample with at least pct % of the samples at or below it. */
    double *v = malloc(it->nv * sizeof *v);
    if (!v) return NAN;
    memcpy(v, it->vals, it->nv * sizeof *v);
    for (size_t i = 1; i < it->nv; i++) { /* insertion sort: sample counts are modest */
      double x = v[i];
      size_t j = i;
      while (j > 0 && v[j - 1] > x) {
        v[j] = v[j - 1];
        j--;
      }
      v[j] = x;
    }
    double rank = ceil(e->pct * (double)it->nv / 100.0); /* 99 * 100 / 100 is exactly 99 */
    size_t k = rank < 1 ? 0 : (size_t)rank - 1;
    if (k >= it->nv) k = it->nv - 1;
    double r = v[k];
    free(v);
    return r;
  }
  default: return NAN;
  }
}

/* The first bound the value breaks, or NULL. */
static const dd_sc_matcher_t *s_bound_broken(const dd_sc_expect_t *e, double x) {
  json_t *j = json_real(x);
  if (!j) return NULL;
  const dd_sc_matcher_t *bad = NULL;
  for (size_t i = 0; i < e->n_bounds && !bad; i++)
    if (!s_cond(&e->bounds[i], NULL, j)) bad = &e->bounds[i];
  json_decref(j);
  return bad;
}

static void s_bounds_desc(const dd_sc_expect_t *e, char *buf, size_t cap) {
  static const char *const sym[] = {"=", "!=", "<", "<=", ">", ">="};
  s_out_t o = {.buf = buf, .cap = cap};
  buf[0] = 0;
  for (size_t i = 0; i < e->n_bounds; i++)
    if ((unsigned)e->bounds[i].op < 6) s_put(&o, "%s%s %s", i ? ", " : "", sym[e->bounds[i].op], e->bounds[i].v[0].text);
}

/* Decide a windowed expectation whose window is over (or the run ended). */
static void s_window_close(dd_expect_t *self, s_item_t *it) {
  const dd_sc_expect_t *e = it->e;
  char win[440];
  s_window_desc(self, it, win, sizeof win);
  switch (e->kind) {
  case DD_SC_EX_NEVER:
    if (!it->from.known) s_decide(self, it, DD_EXP_MATCHED, S_INF, ": none; the window never opened");
    else s_decide(self, it, DD_EXP_MATCHED, S_INF, ": none in %s", win);
    break;
  case DD_SC_EX_COUNT:
    snprintf(it->r.value, sizeof it->r.value, "%" PRIu64, it->count);
    if (it->count >= e->min)
      s_decide(self, it, DD_EXP_MATCHED, S_INF, ": %" PRIu64 " in %s", it->count, win);
    else
      s_decide(self, it, DD_EXP_TIMED_OUT, S_INF, ": only %" PRIu64 " in %s, at least %" PRIu64 " expected",
               it->count, win, e->min);
    break;
  case DD_SC_EX_METRIC: {
    char sl[16], b[160];
    s_stat_label(e, sl, sizeof sl);
    s_bounds_desc(e, b, sizeof b);
    if (!it->nv && e->stat != DD_SC_STAT_COUNT) {
      s_decide(self, it, DD_EXP_TIMED_OUT, S_INF, ": no samples of %s in %s%s", e->field ? e->field : "?",
               win, it->skipped ? "; the matching events had no numeric value" : "");
      break;
    }
    double x = s_stat_value(it);
    snprintf(it->r.value, sizeof it->r.value, "%.15g", x);
    const dd_sc_matcher_t *bad = isnan(x) ? NULL : s_bound_broken(e, x);
    if (isnan(x))
      s_decide(self, it, DD_EXP_TIMED_OUT, S_INF, ": out of memory computing %s", sl);
    else if (bad)
      s_decide(self, it, DD_EXP_VIOLATED, S_INF, ": %s = %.15g, expected %s, %zu sample%s", sl, x, b, it->nv,
               it->nv == 1 ? "" : "s");
    else
      s_decide(self, it, DD_EXP_MATCHED, S_INF, ": %s = %.15g, within %s, %zu sample%s", sl, x, b, it->nv,
               it->nv == 1 ? "" : "s");
    break;
  }
  case DD_SC_EX_FINAL: {
    char want[200];
    want[0] = 0;
    s_out_t o = {.buf = want, .cap = sizeof want};
    for (size_t i = 0; i < e->event.n_match; i++) {
      dd_sc_pattern_t one = {.kind = "", .match = &e->event.match[i], .n_match = 1};
      char d[160];
      dd_sc_pattern_describe(&one, d, sizeof d);
      s_put(&o, "%s%s", i ? ", " : "", d[0] == ' ' ? d + 1 : d);
    }
    if (!it->have_last) {
      s_decide(self, it, DD_EXP_TIMED_OUT, S_INF, ": no %s seen in %s", e->event.kind, win);
      break;
    }
    char t[40];
    s_secs(self, it->last_t, 2, t, sizeof t);
    snprintf(it->r.value, sizeof it->r.value, "%s", it->last_desc);
    if (it->last_ok)
      s_decide(self, it, DD_EXP_MATCHED, it->last_t, ": last at %s has %s", t, it->last_desc[0] ? it->last_desc : "no fields checked");
    else
      s_decide(self, it, DD_EXP_VIOLATED, it->last_t, ": last at %s has %s, expected %s", t, it->last_desc, want);
    break;
  }
  default:
    break;
  }
}

static void s_window_on(dd_expect_t *self, s_item_t *it, const dd_ev_t *ev) {
  const dd_sc_expect_t *e = it->e;
  if (s_in_window(it, ev->t_us)) {
    switch (e->kind) {
    case DD_SC_EX_NEVER:
      if (s_match(&it->pat, ev)) {
        char t[40], win[440], vals[DD_EXPECT_VALUE_MAX];
        s_secs(self, ev->t_us, 2, t, sizeof t);
        s_window_desc(self, it, win, sizeof win);
        s_fields_desc(it->pat.p, ev, vals, sizeof vals);
        snprintf(it->r.value, sizeof it->r.value, "%s", vals);
        s_decide(self, it, DD_EXP_VIOLATED, ev->t_us, " seen at %s (%s%s%s)", t, win,
                 vals[0] ? "; " : "", vals);
      }
      break;
    case DD_SC_EX_COUNT:
      if (s_match(&it->pat, ev)) {
        it->count++;
        if (e->max != DD_SC_NONE && it->count > e->max) {
          char t[40];
          s_secs(self, ev->t_us, 2, t, sizeof t);
          snprintf(it->r.value, sizeof it->r.value, "%" PRIu64, it->count);
          s_decide(self, it, DD_EXP_VIOLATED, ev->t_us, ": %" PRIu64 " seen by %s, at most %" PRIu64 " allowed",
                   it->count, t, e->max);
        } else if (e->max == DD_SC_NONE && it->count >= e->min) {
          char t[40];
          s_secs(self, ev->t_us, 2, t, sizeof t);
          snprintf(it->r.value, sizeof it->r.value, "%" PRIu64, it->count);
          s_decide(self, it, DD_EXP_MATCHED, ev->t_us, ": %" PRIu64 " seen by %s, at least %" PRIu64 " wanted",
                   it->count, t, e->min);
        }
      }
      break;
    case DD_SC_EX_METRIC:
      if (s_match(&it->pat, ev)) {
        double x = 0;
        const json_t *f = e->field && ev->fields ? json_object_get(ev->fields, e->field) : NULL;
        if (e->stat != DD_SC_STAT_COUNT && !s_num(f, &x)) {
          it->skipped++;
          break;
        }
        if (it->nv == it->capv) {
          size_t cap = it->capv ? it->capv * 2 : 64;
          double *v = realloc(it->vals, cap * sizeof *v);
          if (!v) {
            self->oom = true;
            break;
          }
          it->vals = v;
          it->capv = cap;
        }
        it->vals[it->nv++] = x;
        it->vsum += x;
        if (it->nv == 1 || x < it->vmin) it->vmin = x;
        if (it->nv == 1 || x > it->vmax) it->vmax = x;
        if (it->nv == 1) it->vfirst = x;
        it->vlast = x;
        /* max only grows, min only falls, count only grows: a broken bound stays broken. */
        bool monotone = e->stat == DD_SC_STAT_MAX || e->stat == DD_SC_STAT_MIN || e->stat == DD_SC_STAT_COUNT;
        if (monotone) {
          double sv = s_stat_value(it);
          for (size_t i = 0; i < e->n_bounds; i++) {
            dd_sc_op_t op = e->bounds[i].op;
            bool upper = op == DD_SC_OP_LT || op == DD_SC_OP_LE;
            bool lower = op == DD_SC_OP_GT || op == DD_SC_OP_GE;
            bool grows = e->stat != DD_SC_STAT_MIN;
            if (!((grows && upper) || (!grows && lower))) continue;
            dd_sc_expect_t one = *e;
            one.bounds = &e->bounds[i];
            one.n_bounds = 1;
            if (s_bound_broken(&one, sv)) {
              char sl[16], b[160], t[40];
              s_stat_label(e, sl, sizeof sl);
              s_bounds_desc(&one, b, sizeof b);
              s_secs(self, ev->t_us, 2, t, sizeof t);
              snprintf(it->r.value, sizeof it->r.value, "%.15g", sv);
              s_decide(self, it, DD_EXP_VIOLATED, ev->t_us, ": %s = %.15g at %s, expected %s", sl, sv, t, b);
              break;
            }
          }
        }
      }
      break;
    case DD_SC_EX_FINAL:
      if (s_kind_proc(it->pat.p, ev)) {
        it->have_last = true;
        it->last_t = ev->t_us;
        it->last_ok = s_fields_match(&it->pat, ev);
        s_fields_desc(it->pat.p, ev, it->last_desc, sizeof it->last_desc);
      }
      break;
    default:
      break;
    }
  }
  s_ref_event(&it->from, ev);
  if (it->from.known) s_ref_event(&it->to, ev); /* a window closes only after it opened */
  if (it->to.known) s_set_deadline(self, it, it->to.t);
}

/* ---- order ---------------------------------------------------------------------------------- */

static void s_order_on(dd_expect_t *self, s_item_t *it, const dd_ev_t *ev) {
  const dd_sc_expect_t *e = it->e;
  size_t j;
  for (j = it->next; j < e->n_order; j++)
    if (s_match(&it->opat[j], ev)) break;
  if (j == e->n_order) return;
  char d1[160], d2[160], t[40];
  if (j > it->next) {
    dd_sc_pattern_describe(&e->order[j], d1, sizeof d1);
    dd_sc_pattern_describe(&e->order[it->next], d2, sizeof d2);
    s_secs(self, ev->t_us, 2, t, sizeof t);
    snprintf(it->r.value, sizeof it->r.value, "%zu/%zu", it->next, e->n_order);
    s_decide(self, it, DD_EXP_VIOLATED, ev->t_us, ": %s at %s came before %s", d1, t, d2);
    return;
  }
  it->ot[it->next++] = ev->t_us;
  if (it->next == 1 && e->within_us != DD_SC_NONE) s_set_deadline(self, it, s_add(ev->t_us, e->within_us));
  if (it->next == e->n_order) {
    char a[40], b[40];
    int dg = s_digits(self, it->ot[0], ev->t_us);
    s_secs(self, it->ot[0], dg, a, sizeof a);
    s_secs(self, ev->t_us, dg, b, sizeof b);
    snprintf(it->r.value, sizeof it->r.value, "%zu/%zu", it->next, e->n_order);
    if (e->within_us != DD_SC_NONE && ev->t_us - it->ot[0] > e->within_us) {
      char w[40];
      s_dur(e->within_us, w, sizeof w);
      s_decide(self, it, DD_EXP_TIMED_OUT, ev->t_us, ": in order but took %s .. %s, more than %s", a, b, w);
    } else {
      s_decide(self, it, DD_EXP_MATCHED, ev->t_us, ": in order, %s .. %s", a, b);
    }
  }
}

static void s_order_missing(dd_expect_t *self, s_item_t *it, const char *why) {
  const dd_sc_expect_t *e = it->e;
  char d[160];
  dd_sc_pattern_describe(&e->order[it->next], d, sizeof d);
  snprintf(it->r.value, sizeof it->r.value, "%zu/%zu", it->next, e->n_order);
  s_decide(self, it, DD_EXP_TIMED_OUT, S_INF, ": %s %s; %zu of %zu seen in order", d, why, it->next,
           e->n_order);
}

/* ==== checks =============================================================================== */

static const char *s_str(const dd_ev_t *ev, const char *k1, const char *k2) {
  const json_t *v = ev->fields ? json_object_get(ev->fields, k1) : NULL;
  if (!v && k2 && ev->fields) v = json_object_get(ev->fields, k2);
  return json_is_string(v) ? json_string_value(v) : NULL;
}

static bool s_uint(const dd_ev_t *ev, const char *k, uint64_t *out) {
  const json_t *v = ev->fields ? json_object_get(ev->fields, k) : NULL;
  if (!json_is_integer(v) || json_integer_value(v) < 0) return false;
  *out = (uint64_t)json_integer_value(v);
  return true;
}

static s_item_t *s_check_item(dd_expect_t *self, dd_sc_check_id_t id) {
  for (size_t i = 0; i < self->n; i++)
    if (self->items[i].chk && self->items[i].chk->id == id) return &self->items[i];
  return NULL;
}

static s_vsess_t *s_vsess(dd_expect_t *self, const char *session) {
  for (size_t i = 0; i < self->nvs; i++)
    if (!strcmp(self->vs[i].session, session)) return &self->vs[i];
  if (self->nvs == self->capvs) {
    size_t cap = self->capvs ? self->capvs * 2 : 4;
    s_vsess_t *v = realloc(self->vs, cap * sizeof *v);
    if (!v) return NULL;
    self->vs = v;
    self->capvs = cap;
  }
  char *s = strdup(session);
  if (!s) return NULL;
  self->vs[self->nvs] = (s_vsess_t){.session = s};
  return &self->vs[self->nvs++];
}

static void s_vr_text(dd_expect_t *self, s_item_t *it, dd_exp_state_t st, uint64_t at, uint64_t lost,
                      uint64_t lost_first) {
  uint64_t sent = 0, delivered = 0;
  for (size_t i = 0; i < self->nvs; i++) {
    sent += self->vs[i].sent.n + self->vs[i].sent.has_zero;
    delivered += self->vs[i].delivered.n + self->vs[i].delivered.has_zero;
  }
  const uint64_t *lim = it->chk->limit;
  char extra[160] = "";
  s_out_t o = {.buf = extra, .cap = sizeof extra};
  if (lost > lim[0]) s_put(&o, "; lost %" PRIu64 " > %" PRIu64 ", first seq %" PRIu64, lost, lim[0], lost_first);
  if (self->vr_dup > lim[1])
    s_put(&o, "; duplicated %" PRIu64 " > %" PRIu64 ", first seq %" PRIu64, self->vr_dup, lim[1], self->vr_dup_seq);
  if (self->vr_ooo > lim[2])
    s_put(&o, "; out of order %" PRIu64 " > %" PRIu64 ", first seq %" PRIu64, self->vr_ooo, lim[2], self->vr_ooo_seq);
  snprintf(it->r.value, sizeof it->r.value, "lost=%" PRIu64 " duplicated=%" PRIu64 " out_of_order=%" PRIu64,
           lost, self->vr_dup, self->vr_ooo);
  char flight[48] = "";
  if (self->vr_inflight)
    snprintf(flight, sizeof flight, ", %" PRIu64 " in flight at the end", self->vr_inflight);
  s_decide(self, it, st, at, ": %" PRIu64 " sent, %" PRIu64 " delivered, %" PRIu64 " lost, %" PRIu64
           " duplicated, %" PRIu64 " out of order%s%s%s",
           sent, delivered, lost, self->vr_dup, self->vr_ooo, flight, extra,
           self->oom ? "; out of memory, counts incomplete" : "");
}

static void s_checks_on(dd_expect_t *self, const dd_ev_t *ev) {
  const char *k = ev->kind;
  s_item_t *it;
  char t[40];
  /* The parties' own event names (docs/FLOWS.md): the first device's fd.record_sent is what was
   * sent, the second device's second.record what arrived at the end of the chain; one remote
   * session per run, so records are counted per run. vehicle.record_* are generic aliases. */
  bool rec_sent = !strcmp(k, "vehicle.record_sent") || !strcmp(k, "fd.record_sent");
  bool rec_got = !strcmp(k, "vehicle.record_delivered") || !strcmp(k, "second.record");
  if (rec_sent || rec_got) {
    if (!(it = s_check_item(self, DD_SC_CHECK_VEHICLE_RECORDS))) return;
    uint64_t seq;
    if (!s_uint(ev, "seq", &seq)) return;
    /* The parties' events carry no common session field: key them together. */
    const char *session = k[0] == 'v' ? s_str(ev, "session", "session_id") : "";
    s_vsess_t *vs = s_vsess(self, session ? session : "");
    if (!vs) {
      self->oom = true;
      return;
    }
    if (rec_sent) {
      if (s_set_add(&vs->sent, seq) < 0) self->oom = true;
      return;
    }
    int added = s_set_add(&vs->delivered, seq);
    if (added < 0) {
      self->oom = true;
      return;
    }
    if (added == 0) {
      if (!self->vr_dup++) self->vr_dup_seq = seq;
    } else if (seq < vs->max_delivered) {
      if (!self->vr_ooo++) self->vr_ooo_seq = seq;
    }
    if (seq > vs->max_delivered) vs->max_delivered = seq;
    if (self->vr_dup > it->chk->limit[1] || self->vr_ooo > it->chk->limit[2])
      s_vr_text(self, it, DD_EXP_VIOLATED, ev->t_us, 0, 0);
    return;
  }
  /* A session is paid from the first device's session.connected (S17 follows the payment) until
   * it closes or ends; session.paid / session.closed are generic aliases. */
  bool opened = !strcmp(k, "session.paid") || !strcmp(k, "session.connected");
  bool closed = !strcmp(k, "session.closed") || !strcmp(k, "session.ended");
  if (opened || closed) {
    /* session.paid / session.closed name their session; the first device's events do not
     * share a session field with control.audit: one remote session per run, keyed "-". */
    const char *session = k[8] == 'p' || (k[8] == 'c' && k[9] == 'l') ? s_str(ev, "session", "session_id") : "-";
    if (!session) return;
    bool oom = false;
    if (opened) s_table_get(&self->paid, session, true, &oom);
    else s_table_del(&self->paid, session);
    if (oom) self->oom = true;
    return;
  }
  /* A control action the first device carried out: control.audit with verdict "accepted"
   * (control.executed is a generic alias). */
  const char *verdict = s_str(ev, "verdict", NULL);
  if (!strcmp(k, "control.executed") ||
      (!strcmp(k, "control.audit") && verdict && !strcmp(verdict, "accepted"))) {
    if (!(it = s_check_item(self, DD_SC_CHECK_CONTROL_UNPAID))) return;
    const char *session = k[8] == 'e' ? s_str(ev, "session", "session_id") : "-";
    bool oom = false;
    if (session && s_table_get(&self->paid, session, false, &oom)) return;
    s_secs(self, ev->t_us, 2, t, sizeof t);
    if (!self->ctl_unpaid++) {
      const char *action = s_str(ev, "action", NULL);
      snprintf(self->ctl_first, sizeof self->ctl_first, "%s at %s in session %s", action ? action : "control", t,
               session ? session : "(none)");
    }
    if (self->ctl_unpaid > it->chk->limit[0]) {
      snprintf(it->r.value, sizeof it->r.value, "%" PRIu64, self->ctl_unpaid);
      s_decide(self, it, DD_EXP_VIOLATED, ev->t_us, ": control actions outside a paid session: %" PRIu64 ", limit %" PRIu64 "; first: %s", self->ctl_unpaid, it->chk->limit[0], self->ctl_first);
    }
    return;
  }
  if (!strcmp(k, "ecu.app_state") || !strcmp(k, "ecu.power_on")) {
    /* ecu.power_on {ecu, app_valid} from the vehicle process; ecu.app_state {ecu, valid}. */
    const char *ecu = s_str(ev, "ecu", NULL);
    const json_t *v = ev->fields ? json_object_get(ev->fields, "valid") : NULL;
    if (!v && ev->fields) v = json_object_get(ev->fields, "app_valid");
    if (!ecu || !json_is_boolean(v)) return;
    bool oom = false;
    s_entry_t *e = s_table_get(&self->apps, ecu, true, &oom);
    if (e) e->n = json_is_true(v) ? 1 : 0;
    if (oom) self->oom = true;
    return;
  }
  /* The cloud ledger's cloud.payment {ok, duplicate}: a charge is ok and not a duplicate. */
  bool charged = !strcmp(k, "payment.charged");
  if (!strcmp(k, "cloud.payment") && ev->fields) {
    charged = json_is_true(json_object_get(ev->fields, "ok")) &&
              !json_is_true(json_object_get(ev->fields, "duplicate"));
  }
  if (charged) {
    if (!(it = s_check_item(self, DD_SC_CHECK_DOUBLE_CHARGE))) return;
    const char *order = s_str(ev, "order", "order_id");
    if (!order) return;
    bool oom = false;
    s_entry_t *e = s_table_get(&self->charges, order, true, &oom);
    if (!e) {
      self->oom = true;
      return;
    }
    if (++e->n == 2) {
      s_secs(self, ev->t_us, 2, t, sizeof t);
      if (!self->double_charges++)
        snprintf(self->charge_first, sizeof self->charge_first, "order %s charged again at %s", order, t);
      if (self->double_charges > it->chk->limit[0]) {
        snprintf(it->r.value, sizeof it->r.value, "%" PRIu64, self->double_charges);
        s_decide(self, it, DD_EXP_VIOLATED, ev->t_us, ": orders charged twice: %" PRIu64 ", limit %" PRIu64 "; first: %s", self->double_charges, it->chk->limit[0], self->charge_first);
      }
    }
    return;
  }
  bool crashed = !strcmp(k, "proc.crashed");
  uint64_t code = 0;
  bool failed_stop = false;
  if (!strcmp(k, "proc.stopped")) {
    const json_t *x = ev->fields ? json_object_get(ev->fields, "exit") : NULL;
    failed_stop = json_is_integer(x) && json_integer_value(x) != 0;
    if (failed_stop) code = (uint64_t)json_integer_value(x);
  }
  if (crashed || failed_stop) {
    if (!(it = s_check_item(self, DD_SC_CHECK_PROCESS_FAILURES))) return;
    s_secs(self, ev->t_us, 2, t, sizeof t);
    if (!self->proc_failures++) {
      if (crashed)
        snprintf(self->failure_first, sizeof self->failure_first, "%s crashed at %s", ev->proc ? ev->proc : "?", t);
      else
        snprintf(self->failure_first, sizeof self->failure_first, "%s exited with %" PRIu64 " at %s",
                 ev->proc ? ev->proc : "?", code, t);
    }
    if (self->proc_failures > it->chk->limit[0]) {
      snprintf(it->r.value, sizeof it->r.value, "%" PRIu64, self->proc_failures);
      s_decide(self, it, DD_EXP_VIOLATED, ev->t_us, ": process failures: %" PRIu64 ", limit %" PRIu64 "; first: %s",
               self->proc_failures, it->chk->limit[0], self->failure_first);
    }
  }
}

static void s_checks_finish(dd_expect_t *self) {
  for (size_t i = 0; i < self->n; i++) {
    s_item_t *it = &self->items[i];
    if (!it->chk || it->r.state != DD_EXP_PENDING) continue;
    const uint64_t *lim = it->chk->limit;
    switch (it->chk->id) {
    case DD_SC_CHECK_VEHICLE_RECORDS: {
      uint64_t lost = 0, first = 0;
      for (size_t s = 0; s < self->nvs; s++) {
        const s_vsess_t *vs = &self->vs[s];
        if (vs->sent.has_zero && !s_set_has(&vs->delivered, 0)) {
          if (!lost++) first = 0;
        }
        /* Records sent after the last one that arrived may still be on their way when the
         * run stops: up to S_INFLIGHT_MAX of them count as in flight, not lost. More than that
         * means delivery stopped, and they all count as lost. */
        uint64_t above = 0;
        for (size_t j = 0; j < vs->sent.cap; j++) {
          uint64_t q = vs->sent.v[j];
          if (q && q > vs->max_delivered && !s_set_has(&vs->delivered, q)) above++;
        }
        bool in_flight_ok = above <= S_INFLIGHT_MAX;
        if (in_flight_ok) self->vr_inflight += above;
        for (size_t j = 0; j < vs->sent.cap; j++) {
          uint64_t q = vs->sent.v[j];
          if (q && !s_set_has(&vs->delivered, q) && !(in_flight_ok && q > vs->max_delivered)) {
            if (!lost || q < first) first = q;
            lost++;
          }
        }
      }
      bool bad = lost > lim[0] || self->vr_dup > lim[1] || self->vr_ooo > lim[2];
      s_vr_text(self, it, bad ? DD_EXP_VIOLATED : DD_EXP_MATCHED, S_INF, lost, first);
      break;
    }
    case DD_SC_CHECK_CONTROL_UNPAID:
      snprintf(it->r.value, sizeof it->r.value, "%" PRIu64, self->ctl_unpaid);
      s_decide(self, it, DD_EXP_MATCHED, S_INF, ": control actions outside a paid session: %" PRIu64 ", limit %" PRIu64,
               self->ctl_unpaid, lim[0]);
      break;
    case DD_SC_CHECK_ECU_NO_APP: {
      uint64_t bad = 0;
      char names[120] = "";
      s_out_t o = {.buf = names, .cap = sizeof names};
      for (size_t j = 0; j < self->apps.n; j++)
        if (!self->apps.v[j].n) {
          bad++;
          s_put(&o, "%s%s", o.u ? ", " : "", self->apps.v[j].key);
        }
      snprintf(it->r.value, sizeof it->r.value, "%" PRIu64, bad);
      s_decide(self, it, bad > lim[0] ? DD_EXP_VIOLATED : DD_EXP_MATCHED, S_INF,
               ": ECUs without a valid application at the end: %" PRIu64 ", limit %" PRIu64 "%s%s", bad, lim[0],
               bad ? "; " : "", names);
      break;
    }
    case DD_SC_CHECK_DOUBLE_CHARGE:
      snprintf(it->r.value, sizeof it->r.value, "%" PRIu64, self->double_charges);
      s_decide(self, it, DD_EXP_MATCHED, S_INF, ": orders charged twice: %" PRIu64 ", limit %" PRIu64,
               self->double_charges, lim[0]);
      break;
    case DD_SC_CHECK_PROCESS_FAILURES:
      snprintf(it->r.value, sizeof it->r.value, "%" PRIu64, self->proc_failures);
      s_decide(self, it, DD_EXP_MATCHED, S_INF, ": process failures: %" PRIu64 ", limit %" PRIu64 "%s%s",
               self->proc_failures, lim[0], self->proc_failures ? "; first: " : "", self->failure_first);
      break;
    default:
      break;
    }
  }
}

/* ==== the engine =========================================================================== */

static void s_item_free(s_item_t *it) {
  s_cpat_free(&it->pat);
  s_ref_free(&it->from);
  s_ref_free(&it->to);
  if (it->opat && it->e)
    for (size_t i = 0; i < it->e->n_order; i++)
      s_cpat_free(&it->opat[i]);
  free(it->opat);
  free(it->ot);
  free(it->vals);
}

void dd_expect_destroy(dd_expect_t **self_p) {
  assert(self_p);
  dd_expect_t *self = *self_p;
  if (!self) return;
  for (size_t i = 0; i < self->n; i++)
    s_item_free(&self->items[i]);
  free(self->items);
  for (size_t i = 0; i < self->nvs; i++) {
    free(self->vs[i].session);
    s_set_free(&self->vs[i].sent);
    s_set_free(&self->vs[i].delivered);
  }
  free(self->vs);
  s_table_free(&self->paid);
  s_table_free(&self->apps);
  s_table_free(&self->charges);
  free(self);
  *self_p = NULL;
}

static int s_item_init(s_item_t *it, const dd_sc_expect_t *e) {
  it->e = e;
  it->r.name = e->name ? e->name : dd_sc_expect_kind_name(e->kind);
  it->r.type = dd_sc_expect_kind_name(e->kind);
  it->r.loc = e->loc;
  int rc = 0;
  if (e->kind == DD_SC_EX_ORDER) {
    it->opat = calloc(e->n_order ? e->n_order : 1, sizeof *it->opat);
    it->ot = calloc(e->n_order ? e->n_order : 1, sizeof *it->ot);
    if (!it->opat || !it->ot) return DD_ENOMEM;
    for (size_t i = 0; i < e->n_order && !rc; i++)
      rc = s_cpat_init(&it->opat[i], &e->order[i]);
    return rc;
  }
  rc = s_cpat_init(&it->pat, &e->event);
  if (!rc) rc = s_ref_init(&it->from, &e->from);
  dd_sc_timeref_t end = {.kind = DD_SC_REF_END};
  if (!rc) rc = s_ref_init(&it->to, e->kind == DD_SC_EX_EVENT ? &end : &e->to);
  return rc;
}

int dd_expect_new(const dd_scenario_t *sc, dd_expect_t **out) {
  assert(sc && out);
  *out = NULL;
  dd_expect_t *self = calloc(1, sizeof *self);
  if (!self) return DD_ENOMEM;
  self->sc = sc;
  size_t n = sc->n_expects;
  for (int i = 0; i < DD_SC_CHECK_COUNT; i++)
    if (sc->checks[i].enabled) n++;
  self->items = calloc(n ? n : 1, sizeof *self->items);
  if (!self->items) {
    free(self);
    return DD_ENOMEM;
  }
  int rc = 0;
  for (size_t i = 0; i < sc->n_expects && !rc; i++) {
    s_item_t *it = &self->items[self->n++];
    it->r.index = i;
    it->r.observed_us = it->r.deadline_us = -1;
    rc = s_item_init(it, &sc->expects[i]);
  }
  for (int i = 0; i < DD_SC_CHECK_COUNT && !rc; i++) {
    if (!sc->checks[i].enabled) continue;
    s_item_t *it = &self->items[self->n];
    it->r.index = self->n++;
    it->r.observed_us = it->r.deadline_us = -1;
    it->chk = &sc->checks[i];
    it->r.name = sc->checks[i].name;
    it->r.type = "check";
    it->r.loc = sc->checks[i].loc;
  }
  if (rc) {
    dd_expect_destroy(&self);
    return rc;
  }
  *out = self;
  return 0;
}

void dd_expect_set_grace(dd_expect_t *self, uint64_t grace_us) {
  assert(self);
  self->grace = grace_us;
}

void dd_expect_on_result(dd_expect_t *self, dd_expect_result_fn fn, void *arg) {
  assert(self);
  self->fn = fn;
  self->fn_arg = arg;
}

void dd_expect_set_t0(dd_expect_t *self, uint64_t t0_us) {
  assert(self);
  if (self->t0_known) return;
  self->t0_known = true;
  self->t0 = t0_us;
  for (size_t i = 0; i < self->n; i++) {
    s_item_t *it = &self->items[i];
    if (it->chk) continue;
    s_ref_t0(&it->from, t0_us);
    s_ref_t0(&it->to, t0_us);
    if (it->e->kind == DD_SC_EX_EVENT && it->from.known) {
      uint64_t lo, hi;
      s_event_window(it, &lo, &hi);
      s_set_deadline(self, it, hi);
    } else if (it->e->kind != DD_SC_EX_ORDER && it->to.known) {
      s_set_deadline(self, it, it->to.t);
    }
  }
}

uint64_t dd_expect_t0(const dd_expect_t *self) { return self->t0_known ? self->t0 : 0; }

/* Every event up to h has been seen: decide what time alone decides. */
static void s_advance(dd_expect_t *self, uint64_t h) {
  if (h > self->horizon) self->horizon = h;
  h = self->horizon;
  for (size_t i = 0; i < self->n; i++) {
    s_item_t *it = &self->items[i];
    if (it->chk || it->r.state != DD_EXP_PENDING) continue;
    switch (it->e->kind) {
    case DD_SC_EX_EVENT:
      if (it->from.known) {
        uint64_t lo, hi;
        s_event_window(it, &lo, &hi);
        if (hi != S_INF && h > hi) s_event_timeout(self, it, S_INF, S_INF);
      }
      break;
    case DD_SC_EX_ORDER:
      if (it->next > 0 && it->e->within_us != DD_SC_NONE && h > s_add(it->ot[0], it->e->within_us)) {
        char w[40], d[40];
        s_dur(it->e->within_us, w, sizeof w);
        s_secs(self, s_add(it->ot[0], it->e->within_us), 2, d, sizeof d);
        char why[120];
        snprintf(why, sizeof why, "not seen within %s of the first, deadline %s", w, d);
        s_order_missing(self, it, why);
      }
      break;
    default:
      if (it->to.known && h > it->to.t) s_window_close(self, it);
      break;
    }
  }
}

int dd_expect_feed(dd_expect_t *self, const dd_ev_t *ev_in) {
  assert(self && ev_in);
  if (self->finished) return DD_EINVAL;
  dd_ev_t ev = *ev_in;
  if (!ev.kind) return DD_EINVAL;
  if (!ev.proc) ev.proc = "";
  if (!self->t0_known) dd_expect_set_t0(self, ev.t_us);
  for (size_t i = 0; i < self->n; i++) {
    s_item_t *it = &self->items[i];
    if (it->chk || it->r.state != DD_EXP_PENDING) continue;
    switch (it->e->kind) {
    case DD_SC_EX_EVENT: s_event_on(self, it, &ev); break;
    case DD_SC_EX_ORDER: s_order_on(self, it, &ev); break;
    default: s_window_on(self, it, &ev); break;
    }
  }
  s_checks_on(self, &ev);
  s_advance(self, s_sub0(ev.t_us, self->grace));
  return 0;
}

int dd_expect_feed_json(dd_expect_t *self, const char *line, size_t len) {
  assert(self && line);
  json_error_t je;
  json_t *o = json_loadb(line, len, JSON_REJECT_DUPLICATES, &je);
  if (!o) return DD_EILSEQ;
  int rc = DD_EILSEQ;
  const json_t *t = json_object_get(o, "t_us"), *k = json_object_get(o, "kind"),
               *p = json_object_get(o, "proc");
  if (json_is_object(o) && json_is_integer(t) && json_integer_value(t) >= 0 && json_is_string(k) &&
      (!p || json_is_string(p))) {
    dd_ev_t ev = {.t_us = (uint64_t)json_integer_value(t), .kind = json_string_value(k),
                  .proc = p ? json_string_value(p) : "", .fields = o};
    rc = dd_expect_feed(self, &ev);
  }
  json_decref(o);
  return rc;
}

int dd_expect_tick(dd_expect_t *self, uint64_t now_us) {
  assert(self);
  if (self->finished) return DD_EINVAL;
  if (!self->t0_known) dd_expect_set_t0(self, now_us);
  s_advance(self, s_sub0(now_us, self->grace));
  return 0;
}

int dd_expect_finish(dd_expect_t *self, uint64_t end_us) {
  assert(self);
  if (self->finished) return DD_EINVAL;
  if (!self->t0_known) dd_expect_set_t0(self, end_us);
  for (size_t i = 0; i < self->n; i++) {
    s_item_t *it = &self->items[i];
    if (it->chk || it->r.state != DD_EXP_PENDING) continue;
    if (it->to.kind == DD_SC_REF_END && !it->to.known) {
      it->to.known = true;
      it->to.t = end_us;
    }
  }
  /* Everything up to the end has been seen; deadlines past the end are decided below. */
  s_advance(self, end_us);
  for (size_t i = 0; i < self->n; i++) {
    s_item_t *it = &self->items[i];
    if (it->chk || it->r.state != DD_EXP_PENDING) continue;
    switch (it->e->kind) {
    case DD_SC_EX_EVENT:
      if (!it->from.known) {
        char ref[200];
        s_ref_desc(self, &it->from, 2, ref, sizeof ref);
        s_decide(self, it, DD_EXP_TIMED_OUT, S_INF, ": %s never happened, so the window never opened", ref);
      } else {
        s_event_timeout(self, it, S_INF, end_us);
      }
      break;
    case DD_SC_EX_ORDER:
      s_order_missing(self, it, "never seen");
      break;
    default:
      s_window_close(self, it);
      break;
    }
  }
  s_checks_finish(self);
  self->finished = true;
  return 0;
}

size_t dd_expect_count(const dd_expect_t *self) { return self->n; }

const dd_expect_result_t *dd_expect_result(const dd_expect_t *self, size_t i) {
  return i < self->n ? &self->items[i].r : NULL;
}

size_t dd_expect_failed(const dd_expect_t *self) {
  size_t k = 0;
  for (size_t i = 0; i < self->n; i++)
    if (self->items[i].r.state == DD_EXP_TIMED_OUT || self->items[i].r.state == DD_EXP_VIOLATED) k++;
  return k;
}

size_t dd_expect_pending(const dd_expect_t *self) {
  size_t k = 0;
  for (size_t i = 0; i < self->n; i++)
    if (self->items[i].r.state == DD_EXP_PENDING) k++;
  return k;
}

bool dd_expect_passed(const dd_expect_t *self) {
  for (size_t i = 0; i < self->n; i++)
    if (self->items[i].r.state != DD_EXP_MATCHED) return false;
  return true;
}

size_t dd_expect_result_fields(const dd_expect_result_t *r, dd_field_t *out, size_t cap) {
  assert(r && out);
  dd_field_t f[DD_EXPECT_FIELDS] = {
      DD_S("name", r->name),
      DD_I("index", (int64_t)r->index),
      DD_S("type", r->type),
      DD_S("verdict", dd_exp_verdict(r->state)),
      DD_S("state", dd_exp_state_name(r->state)),
      DD_I("observed_us", r->observed_us),
      DD_I("deadline_us", r->deadline_us),
      DD_S("value", r->value),
      DD_S("text", r->text),
      DD_I("line", r->loc.line),
  };
  size_t n = cap < DD_EXPECT_FIELDS ? cap : DD_EXPECT_FIELDS;
  memcpy(out, f, n * sizeof *out);
  return n;
}

/* ==== JUnit XML ============================================================================ */

/* Text escaped for XML attributes and content; characters XML 1.0 forbids are dropped. */
static int s_xml(FILE *to, const char *s) {
  for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
    int rc;
    switch (*p) {
    case '&': rc = fputs("&amp;", to); break;
    case '<': rc = fputs("&lt;", to); break;
    case '>': rc = fputs("&gt;", to); break;
    case '"': rc = fputs("&quot;", to); break;
    case '\'': rc = fputs("&apos;", to); break;
    default:
      if (*p < 0x20 && *p != '\t' && *p != '\n' && *p != '\r') continue;
      rc = fputc(*p, to);
      break;
    }
    if (rc == EOF) return -EIO;
  }
  return 0;
}

int dd_expect_junit_suite(const dd_expect_t *self, FILE *to, const char *suite, double time_s) {
  assert(self && to);
  size_t failed = dd_expect_failed(self), skipped = dd_expect_pending(self);
  int rc = 0;
  rc |= fputs("  <testsuite name=\"", to) == EOF;
  rc |= s_xml(to, suite);
  rc |= fprintf(to, "\" tests=\"%zu\" failures=\"%zu\" errors=\"0\" skipped=\"%zu\" time=\"%.3f\">\n",
                self->n, failed, skipped, time_s) < 0;
  for (size_t i = 0; i < self->n; i++) {
    const dd_expect_result_t *r = &self->items[i].r;
    rc |= fputs("    <testcase classname=\"", to) == EOF;
    rc |= s_xml(to, suite);
    rc |= fputs("\" name=\"", to) == EOF;
    if (!strcmp(r->type, "check")) rc |= fputs("check ", to) == EOF;
    rc |= s_xml(to, r->name);
    rc |= fprintf(to, "\" time=\"0\"") < 0;
    if (r->state == DD_EXP_MATCHED) {
      rc |= fputs(">\n      <system-out>", to) == EOF;
      rc |= s_xml(to, r->text);
      rc |= fputs("</system-out>\n    </testcase>\n", to) == EOF;
    } else if (r->state == DD_EXP_PENDING) {
      rc |= fputs(">\n      <skipped message=\"not decided (the run did not finish)\"/>\n    </testcase>\n", to) == EOF;
    } else {
      rc |= fputs(">\n      <failure message=\"", to) == EOF;
      rc |= s_xml(to, r->text);
      rc |= fprintf(to, "\" type=\"%s\">", dd_exp_state_name(r->state)) < 0;
      rc |= s_xml(to, r->text);
      if (r->loc.file) {
        rc |= fputs("\n(", to) == EOF;
        rc |= s_xml(to, r->loc.file);
        rc |= fprintf(to, ":%d:%d)", r->loc.line, r->loc.col) < 0;
      }
      rc |= fputs("</failure>\n    </testcase>\n", to) == EOF;
    }
  }
  rc |= fputs("  </testsuite>\n", to) == EOF;
  return rc ? -EIO : 0;
}

int dd_expect_write_junit(const dd_expect_t *self, FILE *to, const char *suite, double time_s) {
  assert(self && to);
  int rc = 0;
  rc |= fprintf(to, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites tests=\"%zu\" failures=\"%zu\" time=\"%.3f\">\n",
                self->n, dd_expect_failed(self), time_s) < 0;
  if (!rc) rc = dd_expect_junit_suite(self, to, suite, time_s) ? 1 : 0;
  rc |= fputs("</testsuites>\n", to) == EOF;
  return rc ? -EIO : 0;
}
