/* dd_timeline: timeline.jsonl loader (jansson) into a sorted, indexed in-memory model. */
#include "dd_timeline.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "dd_err.h"

const char *const dd_timeline_default_series[] = {
    "can.busload.load_pct",
    "can.busload.late_p99_us",
    "program.progress.percent",
    "transport.switched.rtt_ms",
};
const size_t dd_timeline_default_series_n =
    sizeof dd_timeline_default_series / sizeof dd_timeline_default_series[0];

#define S_ARENA_BLOCK (256u * 1024u) /* bytes of one arena block (bigger lines get their own) */

typedef struct s_block {
  struct s_block *next; /* older block */
  size_t used;          /* bytes used in data */
  size_t cap;           /* bytes in data */
  char data[];          /* the bytes */
} s_block_t;

/* Interned strings: index <-> text, with an open-addressing hash for lookup. */
typedef struct {
  char **names;    /* text of each entry */
  size_t n;        /* entries */
  size_t cap;      /* capacity of names */
  uint32_t *slots; /* hash slots: entry index + 1, 0 empty */
  size_t n_slots;  /* power of two */
} s_intern_t;

typedef struct {
  char *kind;  /* kind part of the spec */
  char *field; /* field part */
  char *name;  /* the whole spec */
} s_spec_t;

typedef struct {
  size_t ev; /* event index (file order while loading, sorted order afterwards) */
  double v;  /* value */
} s_point_t;

typedef struct {
  size_t spec;    /* index of the spec */
  uint32_t lane;  /* lane of the values */
  s_point_t *pts; /* points while loading */
  size_t n;       /* points */
  size_t cap;     /* capacity of pts */
  int64_t *t_us;  /* final arrays, built after sorting */
  double *value;  /* final values */
  size_t *event;  /* final event indices */
} s_series_t;

struct dd_timeline {
  s_block_t *arena;         /* storage of the lines */
  dd_tl_event_t *ev;        /* events */
  size_t n_ev;              /* number of events */
  size_t cap_ev;            /* capacity of ev */
  s_intern_t procs;         /* process names (lane order fixed after loading) */
  s_intern_t kinds;         /* kind names */
  s_intern_t families;      /* family names */
  dd_tl_lane_t *lanes;      /* lanes, in order of their first event */
  s_spec_t *specs;          /* numeric series asked for */
  size_t n_specs;           /* number of specs */
  s_series_t *series;       /* series found */
  size_t n_series;          /* number of series */
  size_t cap_series;        /* capacity of series */
  dd_tl_series_t *pub;      /* public view of series */
  uint32_t *lane_series;    /* per (lane, spec): series index + 1, 0 none; while loading */
  size_t lane_series_lanes; /* lanes lane_series has room for */
  dd_tl_span_t *spans;      /* paired events */
  size_t n_spans;           /* number of spans */
  size_t cap_spans;         /* capacity of spans */
  size_t verdicts[DD_TL_VERDICT_OTHER + 1]; /* events per verdict */
  size_t malformed;                         /* lines skipped */
  dd_tl_issue_t *issues;                    /* the first DD_TIMELINE_ISSUES_MAX of them */
  size_t n_issues;                          /* issues kept */
};

/* ---- helpers ---- */

static char *s_arena_copy(dd_timeline_t *self, const char *s, size_t len) {
  s_block_t *b = self->arena;
  if (!b || b->cap - b->used < len + 1) {
    size_t cap = len + 1 > S_ARENA_BLOCK ? len + 1 : S_ARENA_BLOCK;
    b = malloc(sizeof *b + cap);
    if (!b) return NULL;
    b->used = 0;
    b->cap = cap;
    b->next = self->arena;
    self->arena = b;
  }
  char *p = b->data + b->used;
  memcpy(p, s, len);
  p[len] = '\0';
  b->used += len + 1;
  return p;
}

static uint32_t s_hash(const char *s) {
  uint32_t h = 2166136261u; /* FNV-1a */
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 16777619u;
  return h;
}

static int s_intern_grow(s_intern_t *t) {
  size_t n_slots = t->n_slots ? t->n_slots * 2 : 64;
  uint32_t *slots = calloc(n_slots, sizeof *slots);
  if (!slots) return DD_ENOMEM;
  for (size_t i = 0; i < t->n; i++) {
    size_t k = s_hash(t->names[i]) & (n_slots - 1);
    while (slots[k])
      k = (k + 1) & (n_slots - 1);
    slots[k] = (uint32_t)(i + 1);
  }
  free(t->slots);
  t->slots = slots;
  t->n_slots = n_slots;
  return 0;
}

/* Index of name, added when new; negative on DD_ENOMEM. */
static long s_intern(s_intern_t *t, const char *name, bool *added) {
  if (added) *added = false;
  if ((t->n + 1) * 2 > t->n_slots && s_intern_grow(t) != 0) return DD_ENOMEM;
  size_t k = s_hash(name) & (t->n_slots - 1);
  while (t->slots[k]) {
    size_t i = t->slots[k] - 1;
    if (!strcmp(t->names[i], name)) return (long)i;
    k = (k + 1) & (t->n_slots - 1);
  }
  if (t->n == UINT32_MAX - 1) return DD_ENOSPC;
  if (t->n == t->cap) {
    size_t cap = t->cap ? t->cap * 2 : 16;
    char **names = realloc(t->names, cap * sizeof *names);
    if (!names) return DD_ENOMEM;
    t->names = names;
    t->cap = cap;
  }
  char *copy = strdup(name);
  if (!copy) return DD_ENOMEM;
  t->names[t->n] = copy;
  t->slots[k] = (uint32_t)(t->n + 1);
  if (added) *added = true;
  return (long)t->n++;
}

static void s_intern_free(s_intern_t *t) {
  for (size_t i = 0; i < t->n; i++)
    free(t->names[i]);
  free(t->names);
  free(t->slots);
  memset(t, 0, sizeof *t);
}

void dd_timeline_family_of(const char *kind, char *buf, size_t size) {
  assert(kind && buf && size > 0);
  size_t n = strcspn(kind, ".");
  if (n >= size) n = size - 1;
  memcpy(buf, kind, n);
  buf[n] = '\0';
}

dd_tl_verdict_t dd_timeline_verdict_parse(const char *text) {
  assert(text);
  if (!strcmp(text, "PASS")) return DD_TL_VERDICT_PASS;
  if (!strcmp(text, "FAIL")) return DD_TL_VERDICT_FAIL;
  if (!strcmp(text, "SKIP") || !strcmp(text, "SKIPPED")) return DD_TL_VERDICT_SKIP;
  return DD_TL_VERDICT_OTHER;
}

const char *dd_timeline_verdict_name(dd_tl_verdict_t v) {
  switch (v) {
  case DD_TL_VERDICT_PASS: return "PASS";
  case DD_TL_VERDICT_FAIL: return "FAIL";
  case DD_TL_VERDICT_SKIP: return "SKIP";
  case DD_TL_VERDICT_OTHER: return "OTHER";
  default: return "NONE";
  }
}

static int s_issue(dd_timeline_t *self, unsigned long line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int s_issue(dd_timeline_t *self, unsigned long line, const char *fmt, ...) {
  self->malformed++;
  if (self->n_issues >= DD_TIMELINE_ISSUES_MAX) return 0;
  if (!self->issues) {
    self->issues = calloc(DD_TIMELINE_ISSUES_MAX, sizeof *self->issues);
    if (!self->issues) return DD_ENOMEM;
  }
  dd_tl_issue_t *is = &self->issues[self->n_issues++];
  is->line = line;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(is->msg, sizeof is->msg, fmt, ap);
  va_end(ap);
  return 0;
}

static int s_add_point(dd_timeline_t *self, size_t spec, uint32_t lane, size_t ev, double v) {
  if (lane >= self->lane_series_lanes) {
    size_t lanes = self->lane_series_lanes ? self->lane_series_lanes * 2 : 8;
    while (lanes <= lane)
      lanes *= 2;
    uint32_t *ls = realloc(self->lane_series, lanes * self->n_specs * sizeof *ls);
    if (!ls) return DD_ENOMEM;
    memset(ls + self->lane_series_lanes * self->n_specs, 0,
           (lanes - self->lane_series_lanes) * self->n_specs * sizeof *ls);
    self->lane_series = ls;
    self->lane_series_lanes = lanes;
  }
  uint32_t *slot = &self->lane_series[(size_t)lane * self->n_specs + spec];
  if (!*slot) {
    if (self->n_series == self->cap_series) {
      size_t cap = self->cap_series ? self->cap_series * 2 : 8;
      s_series_t *s = realloc(self->series, cap * sizeof *s);
      if (!s) return DD_ENOMEM;
      self->series = s;
      self->cap_series = cap;
    }
    s_series_t *s = &self->series[self->n_series];
    memset(s, 0, sizeof *s);
    s->spec = spec;
    s->lane = lane;
    *slot = (uint32_t)++self->n_series;
  }
  s_series_t *s = &self->series[*slot - 1];
  if (s->n == s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 64;
    s_point_t *p = realloc(s->pts, cap * sizeof *p);
    if (!p) return DD_ENOMEM;
    s->pts = p;
    s->cap = cap;
  }
  s->pts[s->n++] = (s_point_t){.ev = ev, .v = v};
  return 0;
}

static bool s_blank(const char *s, size_t len) {
  for (size_t i = 0; i < len; i++)
    if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r') return false;
  return true;
}

/* One line: an event, an issue, or nothing (blank). Fails only for DD_ENOMEM. */
static int s_line(dd_timeline_t *self, const char *s, size_t len, unsigned long line, bool last) {
  if (len > 0 && s[len - 1] == '\r') len--;
  if (s_blank(s, len)) return 0;
  if (len > DD_TIMELINE_LINE_MAX)
    return s_issue(self, line, "line longer than %u bytes", DD_TIMELINE_LINE_MAX);
  /* A NUL byte is never valid in JSON text (RFC 8259 section 7 allows it only escaped). */
  const char *nul = memchr(s, '\0', len);
  if (nul) return s_issue(self, line, "NUL byte at column %zu", (size_t)(nul - s) + 1);
  json_error_t err;
  json_t *o = json_loadb(s, len, 0, &err);
  if (!o)
    return s_issue(self, line, "invalid JSON at column %d: %s%s", err.column, err.text,
                   last ? " (last line, no newline: cut short?)" : "");
  int rc = 0;
  if (!json_is_object(o)) {
    rc = s_issue(self, line, "not a JSON object");
    goto out_free_obj;
  }
  json_t *t = json_object_get(o, "t_us");
  json_t *proc = json_object_get(o, "proc");
  json_t *kind = json_object_get(o, "kind");
  if (!json_is_integer(t)) {
    rc = s_issue(self, line, "\"t_us\" %s", t ? "is not an integer" : "missing");
    goto out_free_obj;
  }
  if (json_integer_value(t) < 0) {
    rc = s_issue(self, line, "\"t_us\" is negative");
    goto out_free_obj;
  }
  if (!json_is_string(proc) || json_string_length(proc) == 0 ||
      strlen(json_string_value(proc)) != json_string_length(proc)) {
    rc = s_issue(self, line, "\"proc\" %s", proc ? "is not a non-empty string" : "missing");
    goto out_free_obj;
  }
  if (!json_is_string(kind) || json_string_length(kind) == 0 ||
      strlen(json_string_value(kind)) != json_string_length(kind)) {
    rc = s_issue(self, line, "\"kind\" %s", kind ? "is not a non-empty string" : "missing");
    goto out_free_obj;
  }

  if (self->n_ev == self->cap_ev) {
    size_t cap = self->cap_ev ? self->cap_ev * 2 : 1024;
    dd_tl_event_t *ev = realloc(self->ev, cap * sizeof *ev);
    if (!ev) {
      rc = DD_ENOMEM;
      goto out_free_obj;
    }
    self->ev = ev;
    self->cap_ev = cap;
  }
  const char *kname = json_string_value(kind);
  char fam[128];
  dd_timeline_family_of(kname, fam, sizeof fam);
  long lane = s_intern(&self->procs, json_string_value(proc), NULL);
  long ki = s_intern(&self->kinds, kname, NULL);
  long fi = s_intern(&self->families, fam[0] ? fam : "(none)", NULL);
  const char *copy = s_arena_copy(self, s, len);
  if (lane < 0 || ki < 0 || fi < 0 || !copy) {
    rc = lane < 0 ? (int)lane : ki < 0 ? (int)ki : fi < 0 ? (int)fi : DD_ENOMEM;
    goto out_free_obj;
  }
  json_t *wall = json_object_get(o, "wall_us");
  /* Verdicts are the harness's judgements (expect.result, and any *.result event); a "verdict"
   * field of another event (service.record's in_order, control.audit's accepted) is just data. */
  size_t klen = strlen(kname);
  bool judged = klen >= 7 && !strcmp(kname + klen - 7, ".result");
  json_t *verdict = judged ? json_object_get(o, "verdict") : NULL;
  dd_tl_event_t *e = &self->ev[self->n_ev];
  *e = (dd_tl_event_t){
      .t_us = (int64_t)json_integer_value(t),
      .wall_us = json_is_integer(wall) ? (int64_t)json_integer_value(wall) : 0,
      .lane = (uint32_t)lane,
      .kind = (uint32_t)ki,
      .family = (uint32_t)fi,
      .line = line,
      .verdict = json_is_string(verdict) ? dd_timeline_verdict_parse(json_string_value(verdict))
                                         : DD_TL_VERDICT_NONE,
      .json = copy,
  };
  /* ISO 14229-1:2020 Annex A.1, NRC 0x78 requestCorrectlyReceived-ResponsePending: the
   * server's final response is still to come. */
  json_t *nrc = json_object_get(o, "nrc");
  const char *nrc_s = json_string_value(nrc);
  e->interim = (json_is_integer(nrc) && json_integer_value(nrc) == 0x78) ||
               (nrc_s && (!strcasecmp(nrc_s, "0x78") || !strcasecmp(nrc_s, "78")));
  self->verdicts[e->verdict]++;
  for (size_t i = 0; i < self->n_specs; i++) {
    if (strcmp(self->specs[i].kind, kname) != 0) continue;
    json_t *v = json_object_get(o, self->specs[i].field);
    if (!json_is_number(v)) continue;
    rc = s_add_point(self, i, (uint32_t)lane, self->n_ev, json_number_value(v));
    if (rc) goto out_free_obj;
  }
  self->n_ev++;
out_free_obj:
  json_decref(o);
  return rc;
}

static int s_cmp_event(const void *a, const void *b) {
  const dd_tl_event_t *x = a, *y = b;
  if (x->t_us != y->t_us) return x->t_us < y->t_us ? -1 : 1;
  return x->line < y->line ? -1 : x->line > y->line;
}

static int s_cmp_point(const void *a, const void *b) {
  const s_point_t *x = a, *y = b;
  return x->ev < y->ev ? -1 : x->ev > y->ev;
}

typedef struct {
  uint32_t old;  /* lane index while loading */
  int64_t first; /* its first event's time */
} s_lane_order_t;

static int s_cmp_lane(const void *a, const void *b) {
  const s_lane_order_t *x = a, *y = b;
  if (x->first != y->first) return x->first < y->first ? -1 : 1;
  return x->old < y->old ? -1 : x->old > y->old;
}

static int s_add_span(dd_timeline_t *self, dd_tl_span_type_t type, size_t begin, size_t end) {
  if (self->n_spans == self->cap_spans) {
    size_t cap = self->cap_spans ? self->cap_spans * 2 : 64;
    dd_tl_span_t *sp = realloc(self->spans, cap * sizeof *sp);
    if (!sp) return DD_ENOMEM;
    self->spans = sp;
    self->cap_spans = cap;
  }
  self->spans[self->n_spans++] = (dd_tl_span_t){.type = type, .begin = begin, .end = end};
  return 0;
}

static bool s_suffix(const char *s, const char *suffix, size_t *prefix_len) {
  size_t n = strlen(s), m = strlen(suffix);
  if (n <= m || strcmp(s + n - m, suffix) != 0) return false;
  *prefix_len = n - m;
  return true;
}

typedef struct {
  uint32_t lane; /* process */
  uint32_t kind; /* request kind */
  size_t *open;  /* open requests, oldest first from head */
  size_t head;   /* first still open */
  size_t n;      /* entries used */
  size_t cap;    /* capacity */
} s_queue_t;

/* By opening event; of two spans opened by one event the longer first, so that a reader
 * that nests slices in file order sees the parent first. */
static int s_cmp_span(const void *a, const void *b) {
  const dd_tl_span_t *x = a, *y = b;
  if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
  return x->end > y->end ? -1 : x->end < y->end;
}

/* Pair events into spans; events are sorted and lanes final. */
static int s_spans(dd_timeline_t *self) {
  size_t nk = self->kinds.n, nl = self->procs.n;
  int rc = DD_ENOMEM;
  /* Per kind: the request kind a response closes (index + 1), or 0. */
  uint32_t *closes = calloc(nk ? nk : 1, sizeof *closes);
  bool *is_request = calloc(nk ? nk : 1, sizeof *is_request);
  size_t *started = malloc((nl ? nl : 1) * sizeof *started);
  bool *ready = calloc(nl ? nl : 1, sizeof *ready);
  s_queue_t *q = NULL;
  size_t n_q = 0;
  if (!closes || !is_request || !started || !ready) goto out;
  for (size_t l = 0; l < nl; l++)
    started[l] = SIZE_MAX;
  for (size_t k = 0; k < nk; k++) {
    size_t plen;
    if (!s_suffix(self->kinds.names[k], ".response", &plen)) continue;
    char want[512];
    if (plen + sizeof ".request" > sizeof want) continue;
    memcpy(want, self->kinds.names[k], plen);
    memcpy(want + plen, ".request", sizeof ".request");
    for (size_t j = 0; j < nk; j++)
      if (!strcmp(self->kinds.names[j], want)) {
        closes[k] = (uint32_t)j + 1;
        is_request[j] = true;
      }
  }
  for (size_t i = 0; i < self->n_ev; i++) {
    const dd_tl_event_t *e = &self->ev[i];
    const char *kind = self->kinds.names[e->kind];
    if (!strcmp(kind, "proc.started")) {
      started[e->lane] = i;
      ready[e->lane] = false;
    } else if (!strcmp(kind, "proc.ready") && started[e->lane] != SIZE_MAX && !ready[e->lane]) {
      ready[e->lane] = true;
      if (s_add_span(self, DD_TL_SPAN_STARTUP, started[e->lane], i)) goto out;
    } else if (!strcmp(kind, "proc.stopped") && started[e->lane] != SIZE_MAX) {
      if (s_add_span(self, DD_TL_SPAN_PROCESS, started[e->lane], i)) goto out;
      started[e->lane] = SIZE_MAX;
    }
    if (!is_request[e->kind] && !closes[e->kind]) continue;
    uint32_t req = is_request[e->kind] ? e->kind : closes[e->kind] - 1;
    s_queue_t *qq = NULL;
    for (size_t j = 0; j < n_q; j++)
      if (q[j].lane == e->lane && q[j].kind == req) qq = &q[j];
    if (!qq) {
      s_queue_t *nq = realloc(q, (n_q + 1) * sizeof *nq);
      if (!nq) goto out;
      q = nq;
      qq = &q[n_q++];
      *qq = (s_queue_t){.lane = e->lane, .kind = req};
    }
    if (is_request[e->kind]) {
      if (qq->n == qq->cap) {
        size_t cap = qq->cap ? qq->cap * 2 : 16;
        size_t *o = realloc(qq->open, cap * sizeof *o);
        if (!o) goto out;
        qq->open = o;
        qq->cap = cap;
      }
      qq->open[qq->n++] = i;
    } else if (!e->interim && qq->head < qq->n) {
      if (s_add_span(self, DD_TL_SPAN_TRANSACTION, qq->open[qq->head++], i)) goto out;
      if (qq->head == qq->n) qq->head = qq->n = 0;
    }
  }
  if (self->n_spans) qsort(self->spans, self->n_spans, sizeof *self->spans, s_cmp_span);
  rc = 0;
out:
  for (size_t j = 0; j < n_q; j++)
    free(q[j].open);
  free(q);
  free(closes);
  free(is_request);
  free(started);
  free(ready);
  return rc;
}

/* Sort events (by time, then line), order lanes by their first event, and build the series. */
static int s_finish(dd_timeline_t *self) {
  size_t n = self->n_ev;
  size_t n_lanes = self->procs.n;
  int rc = DD_ENOMEM;
  size_t *new_of_line = NULL; /* file-order index -> sorted index */
  s_lane_order_t *order = NULL;
  uint32_t *lane_map = NULL;
  char **names = NULL;

  /* Events are appended in file order, so their file-order index is known from their line
   * number's rank; remember it before sorting. */
  unsigned long *line_of = malloc((n ? n : 1) * sizeof *line_of);
  if (!line_of) goto out;
  for (size_t i = 0; i < n; i++)
    line_of[i] = self->ev[i].line;
  if (n) qsort(self->ev, n, sizeof *self->ev, s_cmp_event);
  new_of_line = malloc((n ? n : 1) * sizeof *new_of_line);
  if (!new_of_line) goto out;
  /* line_of is increasing: find each sorted event's file-order index by binary search. */
  for (size_t i = 0; i < n; i++) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
      size_t mid = lo + (hi - lo) / 2;
      if (line_of[mid] < self->ev[i].line)
        lo = mid + 1;
      else
        hi = mid;
    }
    new_of_line[lo] = i;
  }

  /* Lanes in order of their first event. */
  order = calloc(n_lanes ? n_lanes : 1, sizeof *order);
  lane_map = calloc(n_lanes ? n_lanes : 1, sizeof *lane_map);
  self->lanes = calloc(n_lanes ? n_lanes : 1, sizeof *self->lanes);
  names = calloc(n_lanes ? n_lanes : 1, sizeof *names);
  if (!order || !lane_map || !self->lanes || !names) goto out;
  for (size_t l = 0; l < n_lanes; l++)
    order[l] = (s_lane_order_t){.old = (uint32_t)l, .first = INT64_MAX};
  for (size_t i = 0; i < n; i++) {
    s_lane_order_t *lo = &order[self->ev[i].lane];
    if (self->ev[i].t_us < lo->first) lo->first = self->ev[i].t_us;
  }
  qsort(order, n_lanes, sizeof *order, s_cmp_lane);
  for (size_t l = 0; l < n_lanes; l++)
    lane_map[order[l].old] = (uint32_t)l;
  for (size_t l = 0; l < n_lanes; l++)
    names[lane_map[l]] = self->procs.names[l];
  if (n_lanes) memcpy(self->procs.names, names, n_lanes * sizeof *names);
  free(self->procs.slots); /* the lookup hash is stale now and no longer needed */
  self->procs.slots = NULL;
  self->procs.n_slots = 0;
  for (size_t l = 0; l < n_lanes; l++)
    self->lanes[l].name = self->procs.names[l];
  for (size_t i = 0; i < n; i++) {
    dd_tl_event_t *e = &self->ev[i];
    e->lane = lane_map[e->lane];
    dd_tl_lane_t *ln = &self->lanes[e->lane];
    if (ln->n_events++ == 0) ln->first_us = e->t_us;
    ln->last_us = e->t_us;
  }

  /* Series: points to sorted event indices, sorted, split into arrays. */
  self->pub = calloc(self->n_series ? self->n_series : 1, sizeof *self->pub);
  if (!self->pub) goto out;
  for (size_t k = 0; k < self->n_series; k++) {
    s_series_t *s = &self->series[k];
    s->lane = lane_map[s->lane];
    for (size_t j = 0; j < s->n; j++)
      s->pts[j].ev = new_of_line[s->pts[j].ev];
    qsort(s->pts, s->n, sizeof *s->pts, s_cmp_point);
    s->t_us = malloc(s->n * sizeof *s->t_us);
    s->value = malloc(s->n * sizeof *s->value);
    s->event = malloc(s->n * sizeof *s->event);
    if (!s->t_us || !s->value || !s->event) goto out;
    dd_tl_series_t *p = &self->pub[k];
    const s_spec_t *spec = &self->specs[s->spec];
    *p = (dd_tl_series_t){.name = spec->name,
                          .kind = spec->kind,
                          .field = spec->field,
                          .lane = s->lane,
                          .n = s->n,
                          .t_us = s->t_us,
                          .value = s->value,
                          .event = s->event};
    for (size_t j = 0; j < s->n; j++) {
      s->t_us[j] = self->ev[s->pts[j].ev].t_us;
      s->value[j] = s->pts[j].v;
      s->event[j] = s->pts[j].ev;
      if (j == 0 || s->pts[j].v < p->min) p->min = s->pts[j].v;
      if (j == 0 || s->pts[j].v > p->max) p->max = s->pts[j].v;
    }
    free(s->pts);
    s->pts = NULL;
  }
  rc = s_spans(self);
out:
  free(line_of);
  free(new_of_line);
  free(order);
  free(lane_map);
  free(names);
  free(self->lane_series);
  self->lane_series = NULL;
  return rc;
}

static int s_set_specs(dd_timeline_t *self, const dd_timeline_opts_t *opts) {
  const char *const *specs = dd_timeline_default_series;
  size_t n = dd_timeline_default_series_n;
  if (opts && (opts->series || opts->n_series)) {
    specs = opts->series;
    n = opts->n_series;
  }
  if (n == 0) return 0;
  self->specs = calloc(n, sizeof *self->specs);
  if (!self->specs) return DD_ENOMEM;
  for (size_t i = 0; i < n; i++) {
    assert(specs[i]);
    const char *dot = strrchr(specs[i], '.');
    if (!dot || dot == specs[i] || dot[1] == '\0') return DD_EINVAL;
    s_spec_t *sp = &self->specs[self->n_specs++];
    sp->name = strdup(specs[i]);
    sp->kind = strndup(specs[i], (size_t)(dot - specs[i]));
    sp->field = strdup(dot + 1);
    if (!sp->name || !sp->kind || !sp->field) return DD_ENOMEM;
  }
  return 0;
}

int dd_timeline_load_mem(const char *data, size_t len, const dd_timeline_opts_t *opts,
                         dd_timeline_t **out) {
  assert((data || len == 0) && out);
  *out = NULL;
  dd_timeline_t *self = calloc(1, sizeof *self);
  if (!self) return DD_ENOMEM;
  int rc = s_set_specs(self, opts);
  if (rc) goto out_destroy;
  size_t start = 0;
  unsigned long line = 0;
  /* A UTF-8 byte order mark is not JSON; skip it on the first line. */
  if (len >= 3 && !memcmp(data, "\xEF\xBB\xBF", 3)) start = 3;
  while (start < len) {
    const char *nl = memchr(data + start, '\n', len - start);
    size_t end = nl ? (size_t)(nl - data) : len;
    rc = s_line(self, data + start, end - start, ++line, !nl);
    if (rc) goto out_destroy;
    start = end + 1;
  }
  rc = s_finish(self);
  if (rc) goto out_destroy;
  *out = self;
  return 0;
out_destroy:
  dd_timeline_destroy(&self);
  return rc;
}

int dd_timeline_load_file(const char *path, const dd_timeline_opts_t *opts, dd_timeline_t **out) {
  assert(path && out);
  *out = NULL;
  FILE *f = fopen(path, "rb");
  if (!f) return -errno;
  size_t cap = 64 * 1024, len = 0;
  char *buf = malloc(cap);
  int rc = 0;
  if (!buf) {
    rc = DD_ENOMEM;
    goto out_close;
  }
  for (;;) {
    if (len == cap) {
      char *nb = realloc(buf, cap * 2);
      if (!nb) {
        rc = DD_ENOMEM;
        goto out_free;
      }
      buf = nb;
      cap *= 2;
    }
    size_t got = fread(buf + len, 1, cap - len, f);
    len += got;
    if (got == 0) break;
  }
  if (ferror(f)) {
    rc = DD_EIO;
    goto out_free;
  }
  rc = dd_timeline_load_mem(buf, len, opts, out);
out_free:
  free(buf);
out_close:
  fclose(f);
  return rc;
}

void dd_timeline_destroy(dd_timeline_t **self_p) {
  assert(self_p);
  dd_timeline_t *self = *self_p;
  if (!self) return;
  while (self->arena) {
    s_block_t *b = self->arena;
    self->arena = b->next;
    free(b);
  }
  free(self->ev);
  s_intern_free(&self->procs);
  s_intern_free(&self->kinds);
  s_intern_free(&self->families);
  free(self->lanes);
  for (size_t i = 0; i < self->n_specs; i++) {
    free(self->specs[i].kind);
    free(self->specs[i].field);
    free(self->specs[i].name);
  }
  free(self->specs);
  for (size_t i = 0; i < self->n_series; i++) {
    free(self->series[i].pts);
    free(self->series[i].t_us);
    free(self->series[i].value);
    free(self->series[i].event);
  }
  free(self->series);
  free(self->pub);
  free(self->spans);
  free(self->lane_series);
  free(self->issues);
  free(self);
  *self_p = NULL;
}

int dd_timeline_path(const char *run, char *buf, size_t size) {
  assert(run && buf);
  struct stat st;
  int n;
  if (stat(run, &st) == 0 && S_ISDIR(st.st_mode))
    n = snprintf(buf, size, "%s/%s", run, DD_TIMELINE_FILE);
  else
    n = snprintf(buf, size, "%s", run);
  if (n < 0 || (size_t)n >= size) return DD_ENAMETOOLONG;
  return 0;
}

/* ---- queries ---- */

size_t dd_timeline_count(const dd_timeline_t *self) { return self->n_ev; }

const dd_tl_event_t *dd_timeline_event(const dd_timeline_t *self, size_t i) {
  assert(i < self->n_ev);
  return &self->ev[i];
}

size_t dd_timeline_lower_bound(const dd_timeline_t *self, int64_t t_us) {
  size_t lo = 0, hi = self->n_ev;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (self->ev[mid].t_us < t_us)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

json_t *dd_timeline_event_object(const dd_timeline_t *self, size_t i) {
  assert(i < self->n_ev);
  return json_loads(self->ev[i].json, 0, NULL);
}

int dd_timeline_find_line(const dd_timeline_t *self, unsigned long line, size_t *index) {
  for (size_t i = 0; i < self->n_ev; i++)
    if (self->ev[i].line == line) {
      *index = i;
      return 0;
    }
  return DD_ENOENT;
}

int64_t dd_timeline_first_us(const dd_timeline_t *self) {
  return self->n_ev ? self->ev[0].t_us : 0;
}

int64_t dd_timeline_last_us(const dd_timeline_t *self) {
  return self->n_ev ? self->ev[self->n_ev - 1].t_us : 0;
}

size_t dd_timeline_lane_count(const dd_timeline_t *self) { return self->procs.n; }

const dd_tl_lane_t *dd_timeline_lane(const dd_timeline_t *self, size_t i) {
  assert(i < self->procs.n);
  return &self->lanes[i];
}

size_t dd_timeline_kind_count(const dd_timeline_t *self) { return self->kinds.n; }

const char *dd_timeline_kind_name(const dd_timeline_t *self, size_t i) {
  assert(i < self->kinds.n);
  return self->kinds.names[i];
}

size_t dd_timeline_family_count(const dd_timeline_t *self) { return self->families.n; }

const char *dd_timeline_family_name(const dd_timeline_t *self, size_t i) {
  assert(i < self->families.n);
  return self->families.names[i];
}

size_t dd_timeline_series_count(const dd_timeline_t *self) { return self->n_series; }

const dd_tl_series_t *dd_timeline_series(const dd_timeline_t *self, size_t i) {
  assert(i < self->n_series);
  return &self->pub[i];
}

size_t dd_timeline_span_count(const dd_timeline_t *self) { return self->n_spans; }

const dd_tl_span_t *dd_timeline_span(const dd_timeline_t *self, size_t i) {
  assert(i < self->n_spans);
  return &self->spans[i];
}

size_t dd_timeline_verdicts(const dd_timeline_t *self, dd_tl_verdict_t v) {
  assert(v >= DD_TL_VERDICT_NONE && v <= DD_TL_VERDICT_OTHER);
  return self->verdicts[v];
}

size_t dd_timeline_malformed(const dd_timeline_t *self) { return self->malformed; }

size_t dd_timeline_issue_count(const dd_timeline_t *self) { return self->n_issues; }

const dd_tl_issue_t *dd_timeline_issue(const dd_timeline_t *self, size_t i) {
  assert(i < self->n_issues);
  return &self->issues[i];
}
