/* dd_report: report.html of a suite of runs, with plots drawn by libplot's SVG plotter into
 * memory and inlined. */
#include "dd_report.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <plot.h> /* after stdio.h: it uses FILE without including it */

#include "dd_err.h"
#include "dd_timeline.h"

#ifndef DD_VERSION
#define DD_VERSION "dev"
#endif

/* libplot 4.4 (plotutils 2.6) loses about 140 bytes per plotter inside pl_newpl_r (copies of
 * its parameters and a colour-name cache that pl_deletepl_r never frees); nothing here can
 * free them. Tell LeakSanitizer, in sanitizer builds, that blocks from libplot's own
 * allocator are known; leaks of this program's memory (the memory streams libplot writes to
 * included: libc allocates those) are still reported. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void) { return "leak:_pl_xmalloc\n"; }
/* ... without a "Suppressions used" table on stderr at every exit (LSAN_OPTIONS still wins). */
const char *__lsan_default_options(void);
const char *__lsan_default_options(void) { return "print_suppressions=0"; }

#define S_SUMMARY_MAX (256u * 1024u)          /* bytes of summary.txt shown */
#define S_SUITE_TXT_MAX (16u * 1024u * 1024u) /* bytes of suite.txt read */
#define S_SCAN_DEPTH 4                        /* OUT/name/variant/repeat-N */
#define S_GROUPS_MAX 12                       /* lines per plot (ECUs, buses) */
#define S_LABEL_MAX 40                        /* characters of a data-derived label in a plot */

/* ---- small helpers ----------------------------------------------------------------------- */

static void s_err(char *err, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void s_err(char *err, size_t cap, const char *fmt, ...) {
  if (!err || !cap) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, cap, fmt, ap);
  va_end(ap);
}

static char *s_strdup(const char *s) { return strdup(s ? s : ""); }

static bool s_is_dir(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool s_is_file(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* dir/name into buf; false when it does not fit. */
static bool s_join(char *buf, size_t cap, const char *dir, const char *name) {
  return (size_t)snprintf(buf, cap, "%s/%s", dir, name) < cap;
}

/* A run folder: one holding a timeline or a summary. */
static bool s_is_run_dir(const char *dir) {
  char p[PATH_MAX];
  return (s_join(p, sizeof p, dir, DD_TIMELINE_FILE) && s_is_file(p)) ||
         (s_join(p, sizeof p, dir, "summary.txt") && s_is_file(p));
}

/* A whole small file, NUL-terminated (at most max bytes kept); NULL when it cannot be read
 * (*rc = -errno) or out of memory (*rc = DD_ENOMEM). */
static char *s_slurp(const char *path, size_t max, int *rc) {
  FILE *f = fopen(path, "rb");
  *rc = 0;
  if (!f) {
    *rc = -errno;
    return NULL;
  }
  char *buf = NULL;
  size_t len = 0;
  FILE *m = open_memstream(&buf, &len);
  if (!m) {
    fclose(f);
    *rc = DD_ENOMEM;
    return NULL;
  }
  char tmp[8192];
  size_t n, total = 0;
  while (total < max && (n = fread(tmp, 1, sizeof tmp, f)) > 0) {
    if (n > max - total) n = max - total;
    fwrite(tmp, 1, n, m);
    total += n;
  }
  bool bad = ferror(f);
  fclose(f);
  if (fclose(m) != 0 || !buf) {
    free(buf);
    *rc = DD_ENOMEM;
    return NULL;
  }
  if (bad) {
    free(buf);
    *rc = DD_EIO;
    return NULL;
  }
  return buf;
}

/* ---- escaping ---------------------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at p (RFC 3629: no overlong forms, no surrogates, at most
 * U+10FFFF), 0 when it is not one. C1 controls and U+FFFE/U+FFFF count as invalid: HTML and
 * XML do not allow them as text. */
static size_t s_utf8_len(const unsigned char *p) {
  unsigned c = p[0];
  if (c < 0xC2 || c > 0xF4) return 0;
  if (c < 0xE0) return (p[1] & 0xC0) == 0x80 && !(c == 0xC2 && p[1] < 0xA0) ? 2 : 0;
  unsigned lo = c == 0xE0 ? 0xA0 : c == 0xF0 ? 0x90 : 0x80;
  unsigned hi = c == 0xED ? 0x9F : c == 0xF4 ? 0x8F : 0xBF;
  if (p[1] < lo || p[1] > hi) return 0;
  if (c < 0xF0) {
    if ((p[2] & 0xC0) != 0x80) return 0;
    if (c == 0xEF && p[1] == 0xBF && (p[2] == 0xBE || p[2] == 0xBF)) return 0;
    return 3;
  }
  return (p[2] & 0xC0) == 0x80 && (p[3] & 0xC0) == 0x80 ? 4 : 0;
}

/* s as HTML text (safe in character data and in quoted attribute values). */
static void s_esc(FILE *f, const char *s) {
  static const char repl[] = "\xEF\xBF\xBD"; /* U+FFFD */
  const unsigned char *p = (const unsigned char *)(s ? s : "");
  while (*p) {
    unsigned c = *p;
    if (c >= 0x80) {
      size_t n = s_utf8_len(p);
      if (n)
        fwrite(p, 1, n, f);
      else
        fputs(repl, f);
      p += n ? n : 1;
      continue;
    }
    switch (c) {
    case '&': fputs("&amp;", f); break;
    case '<': fputs("&lt;", f); break;
    case '>': fputs("&gt;", f); break;
    case '"': fputs("&quot;", f); break;
    case '\'': fputs("&#39;", f); break;
    default:
      if ((c < 0x20 && c != '\t' && c != '\n') || c == 0x7F)
        fputs(repl, f);
      else
        fputc((int)c, f);
    }
    p++;
  }
}

char *dd_report_html_escape(const char *s) {
  char *buf = NULL;
  size_t len = 0;
  FILE *m = open_memstream(&buf, &len);
  if (!m) return NULL;
  s_esc(m, s);
  if (fclose(m) != 0) {
    free(buf);
    return NULL;
  }
  return buf;
}

/* A path as a URL path (RFC 3986 2.3 unreserved characters and '/' kept, other bytes
 * percent-encoded): safe inside a quoted href. */
static void s_href(FILE *f, const char *path) {
  for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
    if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
        strchr("-._~/", *p))
      fputc(*p, f);
    else
      fprintf(f, "%%%02X", *p);
  }
}

/* Text drawn inside a plot: printable ASCII only (libplot's SVG output declares ISO-8859-1),
 * at most S_LABEL_MAX characters. libplot escapes & < > " itself. */
static void s_plot_label(char *buf, size_t cap, const char *s) {
  size_t n = 0;
  for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p && n + 1 < cap; p++) {
    if (n == S_LABEL_MAX) break;
    buf[n++] = *p >= 0x20 && *p < 0x7F ? (char)*p : '?';
  }
  buf[n] = 0;
}

/* Path of `to` relative to the folder `from` (both resolved); `to` itself when either cannot
 * be resolved. A malloc'd string, NULL when out of memory. */
static char *s_relpath(const char *from, const char *to) {
  char a[PATH_MAX], b[PATH_MAX];
  if (!realpath(from, a) || !realpath(to, b)) return strdup(to);
  size_t i = 0, last = 0;
  while (a[i] && a[i] == b[i]) {
    if (a[i] == '/') last = i;
    i++;
  }
  if ((!a[i] && (b[i] == '/' || !b[i])) || (!b[i] && a[i] == '/')) last = i;
  size_t up = 0;
  for (const char *p = a + last; *p; p++)
    if (*p == '/' && p[1]) up++;
  const char *rest = b + last;
  while (*rest == '/')
    rest++;
  char *out = malloc(up * 3 + strlen(rest) + 2);
  if (!out) return NULL;
  out[0] = 0;
  for (size_t k = 0; k < up; k++)
    strcat(out, "../");
  strcat(out, rest);
  size_t l = strlen(out);
  if (l && out[l - 1] == '/') out[l - 1] = 0;
  if (!out[0]) strcpy(out, ".");
  return out;
}

/* ---- a run's data ------------------------------------------------------------------------ */

typedef struct {
  double *x;  /* seconds since t0 */
  double *y;  /* values */
  size_t n;   /* points */
  size_t cap; /* capacity */
} s_pts_t;

static int s_pts_add(s_pts_t *p, double x, double y) {
  if (p->n == p->cap) {
    size_t cap = p->cap ? p->cap * 2 : 64;
    double *nx = realloc(p->x, cap * sizeof *nx);
    if (!nx) return DD_ENOMEM;
    p->x = nx;
    double *ny = realloc(p->y, cap * sizeof *ny);
    if (!ny) return DD_ENOMEM;
    p->y = ny;
    p->cap = cap;
  }
  p->x[p->n] = x;
  p->y[p->n] = y;
  p->n++;
  return 0;
}

static void s_pts_free(s_pts_t *p) {
  free(p->x);
  free(p->y);
  memset(p, 0, sizeof *p);
}

static double s_pts_min(const s_pts_t *p, double init) {
  for (size_t i = 0; i < p->n; i++)
    if (p->y[i] < init) init = p->y[i];
  return init;
}

static double s_pts_max(const s_pts_t *p, double init) {
  for (size_t i = 0; i < p->n; i++)
    if (p->y[i] > init) init = p->y[i];
  return init;
}

/* A labelled point of a plot (a path switch, a reflash phase). */
typedef struct {
  double x;       /* seconds since t0 */
  double y;       /* value (0 when the mark spans the plot) */
  char label[48]; /* plot-safe text */
} s_mark_t;

/* One line of a plot with several (an ECU's reflash, a bus's load). */
typedef struct {
  char key[48];    /* plot-safe name (ECU, process) */
  s_pts_t pts;     /* the line */
  s_mark_t *marks; /* labelled points on it */
  size_t n_marks;  /* how many */
  char last[48];   /* reflash: the phase of the last point */
} s_group_t;

typedef struct {
  char *name;          /* expectation name */
  char *type;          /* event, never, count, metric, final, order, check */
  char *verdict;       /* PASS, FAIL, ... */
  char *value;         /* the observed value ("to=relay", "42.945") */
  char *text;          /* the verdict line */
  int64_t observed_us; /* when it was decided by an event (from t0); -1 none */
  int64_t deadline_us; /* its deadline (from t0); -1 none */
  long line;           /* its line in the scenario file; 0 none */
  long index;          /* its index in the scenario (sort key); LONG_MAX unknown */
  size_t order;        /* order of appearance (tie-break) */
} s_exp_t;

typedef struct {
  /* as listed */
  char *listed_name;           /* name from the caller or suite.txt (may be empty) */
  char *run_dir;               /* the run folder */
  bool found;                  /* the run folder exists */
  dd_report_verdict_t verdict; /* the verdict */
  double duration_s;           /* < 0 unknown */
  /* from the run folder */
  char *summary;                 /* summary.txt (NULL when missing) */
  char tl_error[160];            /* why there is no timeline ("" when loaded) */
  size_t events;                 /* events read */
  size_t malformed;              /* timeline lines skipped */
  char *scenario;                /* run.start scenario (variant name included) */
  char *variant;                 /* run.start variant ("" none) */
  char *file;                    /* run.start file */
  char *reason;                  /* run.end reason */
  long repeat;                   /* run.start repeat */
  bool has_seed;                 /* run.start gave a seed */
  uint64_t seed;                 /* the seed */
  bool has_end;                  /* a run.end event was read */
  int64_t start_wall_us;         /* run.start wall clock (0 unknown) */
  int64_t end_wall_us;           /* run.end wall clock (0 unknown) */
  double end_s;                  /* run.end (else the last event), seconds since t0 */
  s_exp_t *exps;                 /* expectation results */
  size_t n_exps;                 /* how many */
  double threshold_ms;           /* S44 threshold of the first device (< 0 unknown) */
  double hysteresis_ms;          /* its hysteresis (< 0 unknown) */
  s_pts_t srtt;                  /* transport.rtt srtt_ms */
  s_pts_t rtt;                   /* transport.rtt rtt_ms */
  s_mark_t *sw;                  /* transport.switched, labelled with the new path */
  size_t n_sw;                   /* how many */
  s_pts_t sent;                  /* fd.record_sent first transmissions (seq) */
  s_pts_t resent;                /* fd.record_sent resends (seq) */
  s_pts_t delivered;             /* second.record (seq) */
  s_group_t flash[S_GROUPS_MAX]; /* reflash.phase percent per ECU */
  size_t n_flash;                /* ECUs */
  size_t flash_dropped;          /* ECUs beyond S_GROUPS_MAX */
  s_group_t load[S_GROUPS_MAX];  /* can.busload load_pct per bus process */
  size_t n_load;                 /* buses */
  size_t load_dropped;           /* buses beyond S_GROUPS_MAX */
  double x0, x1;                 /* time axis of the run's plots (seconds since t0) */
} s_run_t;

static void s_groups_free(s_group_t *g, size_t n) {
  for (size_t i = 0; i < n; i++) {
    s_pts_free(&g[i].pts);
    free(g[i].marks);
  }
}

/* Widen [*ymin, *ymax] to every point of the n groups. */
static void s_groups_span(const s_group_t *g, size_t n, double *ymin, double *ymax) {
  for (size_t i = 0; i < n; i++) {
    *ymin = s_pts_min(&g[i].pts, *ymin);
    *ymax = s_pts_max(&g[i].pts, *ymax);
  }
}

static void s_run_free(s_run_t *r) {
  free(r->listed_name);
  free(r->run_dir);
  free(r->summary);
  free(r->scenario);
  free(r->variant);
  free(r->file);
  free(r->reason);
  for (size_t i = 0; i < r->n_exps; i++) {
    s_exp_t *e = &r->exps[i];
    free(e->name);
    free(e->type);
    free(e->verdict);
    free(e->value);
    free(e->text);
  }
  free(r->exps);
  s_pts_free(&r->srtt);
  s_pts_free(&r->rtt);
  free(r->sw);
  s_pts_free(&r->sent);
  s_pts_free(&r->resent);
  s_pts_free(&r->delivered);
  s_groups_free(r->flash, r->n_flash);
  s_groups_free(r->load, r->n_load);
  memset(r, 0, sizeof *r);
}

static int s_mark_add(s_mark_t **v, size_t *n, double x, double y, const char *label) {
  s_mark_t *nv = realloc(*v, (*n + 1) * sizeof *nv);
  if (!nv) return DD_ENOMEM;
  *v = nv;
  nv[*n].x = x;
  nv[*n].y = y;
  s_plot_label(nv[*n].label, sizeof nv[*n].label, label);
  (*n)++;
  return 0;
}

/* The group named key (plot-safe copy), made when new; NULL when there are too many. */
static s_group_t *s_group(s_group_t *g, size_t *n, size_t *dropped, const char *key) {
  char k[48];
  s_plot_label(k, sizeof k, key);
  for (size_t i = 0; i < *n; i++)
    if (!strcmp(g[i].key, k)) return &g[i];
  if (*n == S_GROUPS_MAX) {
    (*dropped)++;
    return NULL;
  }
  s_group_t *ng = &g[(*n)++];
  memset(ng, 0, sizeof *ng);
  memcpy(ng->key, k, sizeof ng->key);
  return ng;
}

static const char *s_jstr(json_t *o, const char *key) {
  return json_string_value(json_object_get(o, key));
}

/* A number field; values beyond +-1e15 (no time, latency, count or share is that big) are
 * taken as missing, which keeps every axis finite. */
static bool s_jnum(json_t *o, const char *key, double *v) {
  json_t *j = json_object_get(o, key);
  if (!json_is_number(j)) return false;
  *v = json_number_value(j);
  return isfinite(*v) && fabs(*v) <= 1e15;
}

/* The value after "--opt " in a command line. */
static bool s_cmdline_num(const char *cmd, const char *opt, double *v) {
  size_t l = strlen(opt);
  for (const char *p = cmd; p && (p = strstr(p, opt)); p += l) {
    if ((p == cmd || p[-1] == ' ') && p[l] == ' ') {
      char *end;
      double d = strtod(p + l + 1, &end);
      if (end != p + l + 1 && isfinite(d)) {
        *v = d;
        return true;
      }
    }
  }
  return false;
}

typedef enum {
  S_K_OTHER = 0,
  S_K_START,
  S_K_T0,
  S_K_END,
  S_K_SPAWN,
  S_K_EXPECT,
  S_K_RTT,
  S_K_SWITCHED,
  S_K_SENT,
  S_K_DELIVERED,
  S_K_PHASE,
  S_K_BUSLOAD,
} s_kind_t;

static s_kind_t s_kind_of(const char *name) {
  static const struct {
    const char *name; /* event kind */
    s_kind_t k;       /* what the report does with it */
  } kinds[] = {
      {"run.start", S_K_START},
      {"run.t0", S_K_T0},
      {"run.end", S_K_END},
      {"run.spawn", S_K_SPAWN},
      {"expect.result", S_K_EXPECT},
      {"transport.rtt", S_K_RTT},
      {"transport.switched", S_K_SWITCHED},
      {"fd.record_sent", S_K_SENT},
      {"second.record", S_K_DELIVERED},
      {"reflash.phase", S_K_PHASE},
      {"can.busload", S_K_BUSLOAD},
  };
  for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
    if (!strcmp(name, kinds[i].name)) return kinds[i].k;
  return S_K_OTHER;
}

static int s_on_expect(s_run_t *r, json_t *o) {
  s_exp_t *v = realloc(r->exps, (r->n_exps + 1) * sizeof *v);
  if (!v) return DD_ENOMEM;
  r->exps = v;
  s_exp_t *e = &v[r->n_exps];
  memset(e, 0, sizeof *e);
  e->order = r->n_exps++;
  double d;
  e->observed_us = s_jnum(o, "observed_us", &d) ? (int64_t)d : -1;
  e->deadline_us = s_jnum(o, "deadline_us", &d) ? (int64_t)d : -1;
  e->line = s_jnum(o, "line", &d) && d > 0 && d < 1e9 ? (long)d : 0;
  e->index = s_jnum(o, "index", &d) && d >= 0 && d < 1e9 ? (long)d : LONG_MAX;
  e->name = s_strdup(s_jstr(o, "name"));
  e->type = s_strdup(s_jstr(o, "type"));
  e->verdict = s_strdup(s_jstr(o, "verdict"));
  json_t *val = json_object_get(o, "value");
  char num[64] = "";
  if (json_is_number(val)) snprintf(num, sizeof num, "%g", json_number_value(val));
  e->value = s_strdup(json_is_string(val) ? json_string_value(val) : num);
  const char *text = s_jstr(o, "text");
  e->text = s_strdup(text ? text : s_jstr(o, "observed"));
  if (!e->name || !e->type || !e->verdict || !e->value || !e->text) return DD_ENOMEM;
  return 0;
}

static int s_on_event(s_run_t *r, s_kind_t k, json_t *o, double x, const dd_tl_event_t *ev,
                      const char *proc) {
  double v, w;
  int rc = 0;
  switch (k) {
  case S_K_START:
    if (r->scenario) break; /* the first one */
    r->scenario = s_strdup(s_jstr(o, "scenario"));
    r->variant = s_strdup(s_jstr(o, "variant"));
    r->file = s_strdup(s_jstr(o, "file"));
    if (s_jnum(o, "seed", &v) && v >= 0) {
      r->has_seed = true;
      json_t *j = json_object_get(o, "seed");
      r->seed = json_is_integer(j) ? (uint64_t)json_integer_value(j) : (uint64_t)v;
    }
    r->repeat = s_jnum(o, "repeat", &v) && v > 0 && v < 1e9 ? (long)v : 0;
    r->start_wall_us = ev->wall_us;
    if (!r->scenario || !r->variant || !r->file) rc = DD_ENOMEM;
    break;
  case S_K_END: {
    r->has_end = true;
    const char *verdict = s_jstr(o, "verdict");
    if (r->verdict == DD_REPORT_UNKNOWN && verdict)
      r->verdict = !strcmp(verdict, "PASS") ? DD_REPORT_PASS : DD_REPORT_FAIL;
    if (s_jnum(o, "duration_s", &v) && v >= 0) r->duration_s = v;
    free(r->reason);
    r->reason = s_strdup(s_jstr(o, "reason"));
    if (!r->reason) rc = DD_ENOMEM;
    r->end_wall_us = ev->wall_us;
    r->end_s = x;
    break;
  }
  case S_K_SPAWN: {
    const char *name = s_jstr(o, "name"), *cmd = s_jstr(o, "cmdline");
    if (name && cmd && !strcmp(name, "first_device")) {
      if (s_cmdline_num(cmd, "--threshold-ms", &v) && r->threshold_ms < 0) r->threshold_ms = v;
      if (s_cmdline_num(cmd, "--hysteresis-ms", &v) && r->hysteresis_ms < 0) r->hysteresis_ms = v;
    }
    break;
  }
  case S_K_EXPECT: rc = s_on_expect(r, o); break;
  case S_K_RTT:
  case S_K_SWITCHED:
    if (s_jnum(o, "threshold_ms", &v)) r->threshold_ms = v;
    if (s_jnum(o, "srtt_ms", &v)) rc = s_pts_add(&r->srtt, x, v);
    if (!rc && s_jnum(o, "rtt_ms", &v)) rc = s_pts_add(&r->rtt, x, v);
    if (!rc && k == S_K_SWITCHED) {
      const char *to = s_jstr(o, "to");
      rc = s_mark_add(&r->sw, &r->n_sw, x, 0, to ? to : "?");
    }
    break;
  case S_K_SENT:
    if (s_jnum(o, "seq", &v)) {
      json_t *re = json_object_get(o, "resend");
      rc = s_pts_add(json_is_true(re) ? &r->resent : &r->sent, x, v);
    }
    break;
  case S_K_DELIVERED:
    if (s_jnum(o, "seq", &v)) rc = s_pts_add(&r->delivered, x, v);
    break;
  case S_K_PHASE: {
    const char *ecu = s_jstr(o, "ecu"), *phase = s_jstr(o, "phase");
    s_group_t *g = s_group(r->flash, &r->n_flash, &r->flash_dropped, ecu ? ecu : "ECU");
    if (!g) break;
    double prev = g->pts.n && !isnan(g->pts.y[g->pts.n - 1]) ? g->pts.y[g->pts.n - 1] : 0;
    if (!s_jnum(o, "percent", &w)) w = prev;
    char ph[48];
    s_plot_label(ph, sizeof ph, phase ? phase : "?");
    /* A new attempt (back to preparing, or progress going down) starts a new line. */
    if (g->pts.n && (w < prev || (!strcmp(ph, "preparing") && strcmp(g->last, ph) != 0)))
      rc = s_pts_add(&g->pts, NAN, NAN);
    if (!rc) rc = s_pts_add(&g->pts, x, w);
    if (!rc && strcmp(ph, g->last) != 0) {
      rc = s_mark_add(&g->marks, &g->n_marks, x, w, ph);
      memcpy(g->last, ph, sizeof g->last);
    }
    break;
  }
  case S_K_BUSLOAD:
    if (s_jnum(o, "load_pct", &v)) {
      s_group_t *g = s_group(r->load, &r->n_load, &r->load_dropped, proc);
      if (g) rc = s_pts_add(&g->pts, x, v);
    }
    break;
  case S_K_T0:
  case S_K_OTHER: break;
  }
  return rc;
}

/* The first line of summary.txt: "PASS|FAIL NAME  (FILE, 40.1 s)". */
static void s_summary_parse(s_run_t *r) {
  const char *s = r->summary;
  if (r->verdict == DD_REPORT_UNKNOWN) {
    if (!strncmp(s, "PASS ", 5))
      r->verdict = DD_REPORT_PASS;
    else if (!strncmp(s, "FAIL ", 5))
      r->verdict = DD_REPORT_FAIL;
  }
  const char *nl = strchr(s, '\n');
  size_t l = nl ? (size_t)(nl - s) : strlen(s);
  if (r->duration_s < 0 && l > 4 && !strncmp(s + l - 3, " s)", 3)) {
    const char *p = s + l - 3;
    while (p > s && p[-1] != ' ')
      p--;
    char *end;
    double d = strtod(p, &end);
    if (end == s + l - 3 && d >= 0 && isfinite(d)) r->duration_s = d;
  }
}

static int s_cmp_exp(const void *a, const void *b) {
  const s_exp_t *x = a, *y = b;
  if (x->index != y->index) return x->index < y->index ? -1 : 1;
  return x->order < y->order ? -1 : x->order > y->order;
}

/* Read what the run folder holds. 0, or DD_ENOMEM; a missing or unreadable file is noted in
 * the run, not an error. */
static int s_run_load(s_run_t *r) {
  char path[PATH_MAX];
  r->threshold_ms = r->hysteresis_ms = -1;
  r->found = s_is_dir(r->run_dir);
  if (!r->found) {
    snprintf(r->tl_error, sizeof r->tl_error, "the run folder does not exist");
    return 0;
  }
  int rc = 0;
  if (s_join(path, sizeof path, r->run_dir, "summary.txt")) {
    r->summary = s_slurp(path, S_SUMMARY_MAX, &rc);
    if (rc == DD_ENOMEM) return rc;
  }
  if (!s_join(path, sizeof path, r->run_dir, DD_TIMELINE_FILE)) {
    snprintf(r->tl_error, sizeof r->tl_error, "path too long");
    return 0;
  }
  dd_timeline_t *tl = NULL;
  rc = dd_timeline_load_file(path, NULL, &tl);
  if (rc == DD_ENOMEM) return rc;
  if (rc < 0) {
    snprintf(r->tl_error, sizeof r->tl_error, "%s: %s", DD_TIMELINE_FILE, dd_strerror(rc));
  } else {
    size_t nk = dd_timeline_kind_count(tl), n = dd_timeline_count(tl);
    s_kind_t *map = calloc(nk ? nk : 1, sizeof *map);
    if (!map) {
      dd_timeline_destroy(&tl);
      return DD_ENOMEM;
    }
    for (size_t i = 0; i < nk; i++)
      map[i] = s_kind_of(dd_timeline_kind_name(tl, i));
    r->events = n;
    r->malformed = dd_timeline_malformed(tl);
    /* t0: the harness's run.t0, else run.start, else the first event. */
    int64_t t0 = n ? dd_timeline_event(tl, 0)->t_us : 0;
    bool t0_known = false;
    for (size_t i = 0; i < n && !t0_known && rc == 0; i++) {
      const dd_tl_event_t *ev = dd_timeline_event(tl, i);
      if (map[ev->kind] == S_K_START) t0 = ev->t_us;
      if (map[ev->kind] != S_K_T0) continue;
      json_t *o = dd_timeline_event_object(tl, i);
      if (!o) rc = DD_ENOMEM;
      double v;
      if (o && s_jnum(o, "t0_us", &v) && v >= 0) {
        t0 = (int64_t)v;
        t0_known = true;
      }
      json_decref(o);
    }
    /* Seconds from t0, in double: no overflow whatever the stamps. */
    double last = n ? ((double)dd_timeline_event(tl, n - 1)->t_us - (double)t0) / 1e6 : 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
      const dd_tl_event_t *ev = dd_timeline_event(tl, i);
      s_kind_t k = map[ev->kind];
      if (k == S_K_OTHER || k == S_K_T0) continue;
      json_t *o = dd_timeline_event_object(tl, i);
      if (!o) {
        rc = DD_ENOMEM;
        break;
      }
      rc = s_on_event(r, k, o, ((double)ev->t_us - (double)t0) / 1e6, ev,
                      dd_timeline_lane(tl, ev->lane)->name);
      json_decref(o);
    }
    free(map);
    dd_timeline_destroy(&tl);
    if (rc) return rc;
    if (!r->has_end) r->end_s = last;
  }
  if (r->summary) s_summary_parse(r);
  if (r->n_exps > 1) qsort(r->exps, r->n_exps, sizeof *r->exps, s_cmp_exp);

  /* The time axis shared by the run's plots: the run, and every plotted point. */
  double lo = 0, hi = r->end_s;
  const s_pts_t *all[] = {&r->srtt, &r->rtt, &r->sent, &r->resent, &r->delivered};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
    for (size_t k = 0; k < all[i]->n; k++) {
      if (all[i]->x[k] < lo) lo = all[i]->x[k];
      if (all[i]->x[k] > hi) hi = all[i]->x[k];
    }
  for (size_t g = 0; g < r->n_flash + r->n_load; g++) {
    const s_pts_t *p = g < r->n_flash ? &r->flash[g].pts : &r->load[g - r->n_flash].pts;
    for (size_t k = 0; k < p->n; k++) {
      if (p->x[k] < lo) lo = p->x[k];
      if (p->x[k] > hi) hi = p->x[k];
    }
  }
  for (size_t i = 0; i < r->n_sw; i++) {
    if (r->sw[i].x < lo) lo = r->sw[i].x;
    if (r->sw[i].x > hi) hi = r->sw[i].x;
  }
  r->x0 = lo;
  r->x1 = hi > lo ? hi : lo + 1;
  return 0;
}

/* ---- which runs: suite.txt, or the folders ---------------------------------------------- */

typedef struct {
  s_run_t *v; /* the runs */
  size_t n;   /* how many */
} s_runs_t;

static void s_runs_free(s_runs_t *rs) {
  for (size_t i = 0; i < rs->n; i++)
    s_run_free(&rs->v[i]);
  free(rs->v);
  rs->v = NULL;
  rs->n = 0;
}

static int s_runs_add(s_runs_t *rs, const char *name, const char *dir, dd_report_verdict_t v,
                      double duration_s) {
  s_run_t *nv = realloc(rs->v, (rs->n + 1) * sizeof *nv);
  if (!nv) return DD_ENOMEM;
  rs->v = nv;
  s_run_t *r = &nv[rs->n];
  memset(r, 0, sizeof *r);
  r->listed_name = s_strdup(name);
  r->run_dir = s_strdup(dir);
  r->verdict = v;
  r->duration_s = duration_s;
  rs->n++;
  return r->listed_name && r->run_dir ? 0 : DD_ENOMEM;
}

/* Where a run folder written in suite.txt (relative to wherever `duodiag run` ran) is now:
 * the longest trailing part of it that names a run folder inside suite_dir, else the path as
 * written. */
static bool s_resolve(const char *suite_dir, const char *written, char *out, size_t cap) {
  const char *comp[64];
  size_t len[64], n = 0;
  for (const char *p = written; *p && n < 64;) {
    while (*p == '/')
      p++;
    const char *e = p;
    while (*e && *e != '/')
      e++;
    if (e > p && !(e - p == 1 && *p == '.')) {
      comp[n] = p;
      len[n++] = (size_t)(e - p);
    }
    p = e;
  }
  for (size_t k = n; k >= 1; k--) {
    size_t used = (size_t)snprintf(out, cap, "%s", suite_dir);
    for (size_t i = n - k; i < n && used < cap; i++)
      used += (size_t)snprintf(out + used, cap - used, "/%.*s", (int)len[i], comp[i]);
    if (used < cap && s_is_run_dir(out)) return true;
  }
  if (s_is_run_dir(written) && (size_t)snprintf(out, cap, "%s", written) < cap) return true;
  return false;
}

/* suite.txt: "PASS|FAIL|NOTRUN NAME RUN_DIR" a line (a name has no blanks; a folder may). */
static int s_runs_from_suite_txt(const char *dir, char *text, s_runs_t *rs) {
  char *save = NULL;
  for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    size_t l = strlen(line);
    while (l && (line[l - 1] == '\r' || line[l - 1] == ' '))
      line[--l] = 0;
    dd_report_verdict_t v;
    const char *rest;
    if (!strncmp(line, "PASS ", 5))
      v = DD_REPORT_PASS, rest = line + 5;
    else if (!strncmp(line, "FAIL ", 5))
      v = DD_REPORT_FAIL, rest = line + 5;
    else if (!strncmp(line, "NOTRUN ", 7))
      v = DD_REPORT_NOTRUN, rest = line + 7;
    else
      continue;
    char found[PATH_MAX], name[1024];
    const char *sp = strchr(rest, ' ');
    bool ok = false;
    for (const char *p = sp; p && !ok; p = strchr(p + 1, ' ')) {
      if (!s_resolve(dir, p + 1, found, sizeof found)) continue;
      snprintf(name, sizeof name, "%.*s", (int)(p - rest), rest);
      ok = true;
    }
    if (!ok) {
      /* Not found: keep it, as written, so the report says it is missing. */
      snprintf(name, sizeof name, "%.*s", sp ? (int)(sp - rest) : (int)strlen(rest), rest);
      snprintf(found, sizeof found, "%s", sp ? sp + 1 : "");
    }
    int rc = s_runs_add(rs, name, found, v, -1);
    if (rc) return rc;
  }
  return 0;
}

static int s_cmp_run_dir(const void *a, const void *b) {
  return strcmp(((const s_run_t *)a)->run_dir, ((const s_run_t *)b)->run_dir);
}

/* Every folder below dir holding a timeline (a run folder's own sub-folders are not searched). */
static int s_scan(const char *dir, int depth, s_runs_t *rs) {
  if (depth > S_SCAN_DEPTH) return 0;
  DIR *d = opendir(dir);
  if (!d) return 0;
  struct dirent *e;
  int rc = 0;
  while (rc == 0 && (e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    char path[PATH_MAX], tl[PATH_MAX];
    if (!s_join(path, sizeof path, dir, e->d_name) || !s_is_dir(path)) continue;
    if (s_join(tl, sizeof tl, path, DD_TIMELINE_FILE) && s_is_file(tl))
      rc = s_runs_add(rs, "", path, DD_REPORT_UNKNOWN, -1);
    else
      rc = s_scan(path, depth + 1, rs);
  }
  closedir(d);
  return rc;
}

/* ---- plots: a small chart layer over libplot's SVG plotter ------------------------------- */

#define S_W 960.0   /* canvas width, user units (CSS pixels at full size) */
#define S_H 360.0   /* canvas height */
#define S_ML 78.0   /* left margin: y tick labels and the y label */
#define S_MR 24.0   /* right margin */
#define S_MT 44.0   /* top margin: the legend */
#define S_MB 58.0   /* bottom margin: x tick labels and the x label */
#define S_FONT 13.0 /* font size of labels */

/* Light colours that print well. */
#define S_C_TEXT "#333333"
#define S_C_AXIS "#777777"
#define S_C_GRID "#e4e4e4"
#define S_C_BLUE "#2c6fbb"
#define S_C_LIGHTBLUE "#9cc3e6"
#define S_C_ORANGE "#e07b24"
#define S_C_GREEN "#2e9e5b"
#define S_C_RED "#c8403a"
#define S_C_PINK "#dd8a83"
#define S_C_BAND "#fcefdf"
#define S_C_RESEND "#c2410c"

static const char *const s_palette[] = {S_C_BLUE, S_C_ORANGE, S_C_GREEN, "#8e5bb5",
                                        S_C_RED,  "#17a2a2",  "#8c6d31", "#d45d9f"};
#define S_PALETTE_N (sizeof s_palette / sizeof s_palette[0])

typedef enum { S_LG_LINE, S_LG_DASH, S_LG_MARK, S_LG_BOX } s_legend_t;

typedef struct {
  plPlotterParams *pp; /* the plotter's parameters */
  plPlotter *pl;       /* the SVG plotter */
  FILE *mem;           /* memory stream it writes to */
  char *buf;           /* the SVG text once closed */
  size_t len;          /* its length */
  double x0, x1;       /* x axis range (data units) */
  double xstep;        /* x tick step */
  double ylo, yhi;     /* y axis range */
  double ystep;        /* y tick step */
  double legend_x;     /* where the next legend item goes */
  bool dashed;         /* s_chart_line draws dashed */
} s_chart_t;

static double s_nice_step(double span, int ticks) {
  double raw = span / ticks;
  double p = pow(10, floor(log10(raw)));
  double f = raw / p;
  return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * p;
}

static void s_axis(double lo, double hi, int ticks, double *nlo, double *nhi, double *step) {
  if (!(hi > lo)) hi = lo + 1;
  *step = s_nice_step(hi - lo, ticks);
  *nlo = floor(lo / *step + 1e-9) * *step;
  *nhi = ceil(hi / *step - 1e-9) * *step;
  if (*nhi <= *nlo) *nhi = *nlo + *step;
}

static double s_cx(const s_chart_t *c, double x) {
  return S_ML + (x - c->x0) / (c->x1 - c->x0) * (S_W - S_ML - S_MR);
}

static double s_cy(const s_chart_t *c, double y) {
  return S_MB + (y - c->ylo) / (c->yhi - c->ylo) * (S_H - S_MB - S_MT);
}

static void s_chart_abort(s_chart_t *c) {
  if (c->pl) pl_deletepl_r(c->pl);
  if (c->pp) pl_deleteplparams(c->pp);
  if (c->mem) fclose(c->mem);
  free(c->buf);
  memset(c, 0, sizeof *c);
}

/* A chart for data x in [x0, x1] and y in [ylo, yhi] (ranges widened to round ticks). */
static int s_chart_open(s_chart_t *c, double x0, double x1, double ylo, double yhi) {
  memset(c, 0, sizeof *c);
  s_axis(x0, x1, 10, &c->x0, &c->x1, &c->xstep);
  s_axis(ylo, yhi, 5, &c->ylo, &c->yhi, &c->ystep);
  c->legend_x = S_ML;
  c->mem = open_memstream(&c->buf, &c->len);
  if (!c->mem || !(c->pp = pl_newplparams())) goto fail;
  /* The page: 10 x 3.75 in, the aspect of the canvas (S_W x S_H). */
  pl_setplparam(c->pp, "PAGESIZE", (void *)"letter,xsize=10in,ysize=3.75in");
  pl_setplparam(c->pp, "BG_COLOR", (void *)"white");
  c->pl = pl_newpl_r("svg", NULL, c->mem, NULL, c->pp);
  if (!c->pl || pl_openpl_r(c->pl) < 0) goto fail;
  pl_fspace_r(c->pl, 0, 0, S_W, S_H);
  pl_fontname_r(c->pl, "Helvetica");
  pl_ffontsize_r(c->pl, S_FONT);
  pl_joinmod_r(c->pl, "round");
  pl_capmod_r(c->pl, "round");
  return 0;
fail:
  s_chart_abort(c);
  return DD_ENOMEM;
}

static void s_fmt_tick(char *buf, size_t cap, double v, double step) {
  int dec = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
  if (fabs(v) < step * 1e-6) v = 0;
  snprintf(buf, cap, "%.*f", dec > 6 ? 6 : dec, v);
}

/* Grid, frame, ticks and axis labels. */
/* The i-th tick of an axis from lo by step, while within hi (and at most 40: a range too
 * large for its step's precision cannot loop for ever). */
static bool s_tick(double lo, double hi, double step, int i, double *v) {
  *v = lo + step * i;
  return i <= 40 && *v <= hi + step * 1e-6;
}

static void s_chart_axes(s_chart_t *c, const char *xlabel, const char *ylabel) {
  plPlotter *p = c->pl;
  double left = S_ML, right = S_W - S_MR, bottom = S_MB, top = S_H - S_MT, x, y;
  char buf[32];
  pl_flinewidth_r(p, 1);
  pl_pencolorname_r(p, S_C_GRID);
  for (int i = 0; s_tick(c->x0, c->x1, c->xstep, i, &x); i++)
    pl_fline_r(p, s_cx(c, x), bottom, s_cx(c, x), top);
  for (int i = 0; s_tick(c->ylo, c->yhi, c->ystep, i, &y); i++)
    pl_fline_r(p, left, s_cy(c, y), right, s_cy(c, y));
  pl_pencolorname_r(p, S_C_AXIS);
  pl_filltype_r(p, 0);
  pl_fbox_r(p, left, bottom, right, top);
  pl_pencolorname_r(p, S_C_TEXT);
  pl_ffontsize_r(p, S_FONT);
  for (int i = 0; s_tick(c->x0, c->x1, c->xstep, i, &x); i++) {
    pl_pencolorname_r(p, S_C_AXIS);
    pl_fline_r(p, s_cx(c, x), bottom, s_cx(c, x), bottom - 5);
    pl_pencolorname_r(p, S_C_TEXT);
    s_fmt_tick(buf, sizeof buf, x, c->xstep);
    pl_fmove_r(p, s_cx(c, x), bottom - 9);
    pl_alabel_r(p, 'c', 't', buf);
  }
  for (int i = 0; s_tick(c->ylo, c->yhi, c->ystep, i, &y); i++) {
    pl_pencolorname_r(p, S_C_AXIS);
    pl_fline_r(p, left, s_cy(c, y), left - 5, s_cy(c, y));
    pl_pencolorname_r(p, S_C_TEXT);
    s_fmt_tick(buf, sizeof buf, y, c->ystep);
    pl_fmove_r(p, left - 9, s_cy(c, y));
    pl_alabel_r(p, 'r', 'c', buf);
  }
  pl_ffontsize_r(p, S_FONT + 1);
  pl_fmove_r(p, (left + right) / 2, 10);
  pl_alabel_r(p, 'c', 'b', xlabel);
  pl_ftextangle_r(p, 90);
  pl_fmove_r(p, 12, (bottom + top) / 2);
  pl_alabel_r(p, 'c', 't', ylabel);
  pl_ftextangle_r(p, 0);
  pl_ffontsize_r(p, S_FONT);
}

static void s_pen(s_chart_t *c, const char *color, double width, bool dashed) {
  pl_pencolorname_r(c->pl, color);
  pl_flinewidth_r(c->pl, width);
  pl_linemod_r(c->pl, dashed ? "shortdashed" : "solid");
}

/* A polyline through the points (a NaN point breaks it), leaving out those less than half a
 * unit from the last one drawn (the drawing is the same, the SVG much smaller). A lone point
 * is a dot. */
static void s_chart_line(s_chart_t *c, const s_pts_t *pts, const char *color, double width) {
  s_pen(c, color, width, c->dashed);
  size_t i = 0;
  while (i < pts->n) {
    while (i < pts->n && isnan(pts->y[i]))
      i++;
    size_t end = i;
    while (end < pts->n && !isnan(pts->y[end]))
      end++;
    if (end == i) break;
    double lx = s_cx(c, pts->x[i]), ly = s_cy(c, pts->y[i]);
    if (end - i == 1) {
      pl_fmarker_r(c->pl, lx, ly, 16, width * 3); /* a filled circle */
    } else {
      pl_fmove_r(c->pl, lx, ly);
      for (size_t k = i + 1; k < end; k++) {
        double x = s_cx(c, pts->x[k]), y = s_cy(c, pts->y[k]);
        if (k + 1 < end && fabs(x - lx) < 0.5 && fabs(y - ly) < 0.5) continue;
        pl_fcont_r(c->pl, x, y);
        lx = x;
        ly = y;
      }
      pl_endpath_r(c->pl);
    }
    i = end;
  }
}

/* The same, dashed. */
static void s_chart_line_dashed(s_chart_t *c, const s_pts_t *pts, const char *color, double width) {
  c->dashed = true;
  s_chart_line(c, pts, color, width);
  c->dashed = false;
  pl_linemod_r(c->pl, "solid");
}

/* A marker at each point, at most one per S_CELL x S_CELL unit cell (thousands of resends
 * still draw as a dense area, in a bounded number of markers). */
#define S_CELL 5.0
static int s_chart_marks(s_chart_t *c, const s_pts_t *pts, const char *color, int type,
                         double size) {
  size_t cw = (size_t)(S_W / S_CELL) + 1, ch = (size_t)(S_H / S_CELL) + 1;
  unsigned char *seen = calloc(cw * ch, 1);
  if (!seen) return DD_ENOMEM;
  s_pen(c, color, 1.6, false);
  for (size_t i = 0; i < pts->n; i++) {
    double x = s_cx(c, pts->x[i]), y = s_cy(c, pts->y[i]);
    size_t cx = (size_t)fmax(0, fmin(x / S_CELL, (double)(cw - 1)));
    size_t cy = (size_t)fmax(0, fmin(y / S_CELL, (double)(ch - 1)));
    if (seen[cy * cw + cx]) continue;
    seen[cy * cw + cx] = 1;
    pl_fmarker_r(c->pl, x, y, type, size);
  }
  free(seen);
  return 0;
}

/* A horizontal reference line with a label at its left end, above or below it. (Labels start
 * at a known point: a browser's sans-serif may be wider than libplot's Helvetica metrics, so
 * right-aligned text could spill over the frame.) */
static void s_chart_hline(s_chart_t *c, double y, const char *color, const char *label,
                          bool below) {
  if (y < c->ylo || y > c->yhi) return;
  s_pen(c, color, 1.5, true);
  pl_fline_r(c->pl, S_ML, s_cy(c, y), S_W - S_MR, s_cy(c, y));
  pl_linemod_r(c->pl, "solid");
  pl_pencolorname_r(c->pl, color);
  pl_fmove_r(c->pl, S_ML + 8, s_cy(c, y) + (below ? -4 : 4));
  pl_alabel_r(c->pl, 'l', below ? 't' : 'b', label);
}

/* Vertical lines at the marks, labelled at the top (two rows, so close ones stay readable). */
static void s_chart_vlines(s_chart_t *c, const s_mark_t *m, size_t n,
                           const char *(*color_of)(const char *label)) {
  double top = S_H - S_MT;
  for (size_t i = 0; i < n; i++) {
    const char *color = color_of(m[i].label);
    double x = s_cx(c, m[i].x);
    s_pen(c, color, 1.5, true);
    pl_fline_r(c->pl, x, S_MB, x, top);
    pl_linemod_r(c->pl, "solid");
    pl_pencolorname_r(c->pl, color);
    double w = pl_flabelwidth_r(c->pl, m[i].label);
    bool left = x + 4 + w > S_W - S_MR;
    pl_fmove_r(c->pl, left ? x - 4 : x + 4, top - 4 - (double)(i % 2) * (S_FONT + 3));
    pl_alabel_r(c->pl, left ? 'r' : 'l', 't', m[i].label);
  }
}

static void s_chart_band(s_chart_t *c, double xa, double xb, const char *color) {
  double a = fmax(s_cx(c, xa), S_ML), b = fmin(s_cx(c, xb), S_W - S_MR);
  if (b <= a) return;
  pl_pentype_r(c->pl, 0);
  pl_filltype_r(c->pl, 1);
  pl_fillcolorname_r(c->pl, color);
  pl_fbox_r(c->pl, a, S_MB, b, S_H - S_MT);
  pl_filltype_r(c->pl, 0);
  pl_pentype_r(c->pl, 1);
}

/* One legend entry, left to right in the top margin; dropped when the row is full. */
static void s_chart_legend(s_chart_t *c, s_legend_t kind, const char *color, int marker,
                           const char *label) {
  plPlotter *p = c->pl;
  /* Widths from libplot's Helvetica metrics, with room for a wider browser font. */
  double w = pl_flabelwidth_r(p, label) * 1.15, x = c->legend_x, y = S_H - S_MT / 2;
  if (x + 30 + w > S_W - S_MR) return;
  switch (kind) {
  case S_LG_LINE:
  case S_LG_DASH:
    s_pen(c, color, 2, kind == S_LG_DASH);
    pl_fline_r(p, x, y, x + 24, y);
    pl_linemod_r(p, "solid");
    break;
  case S_LG_MARK:
    s_pen(c, color, 2, false);
    pl_fmarker_r(p, x + 12, y, marker, 7);
    break;
  case S_LG_BOX:
    pl_pentype_r(p, 0);
    pl_filltype_r(p, 1);
    pl_fillcolorname_r(p, color);
    pl_fbox_r(p, x, y - 6, x + 24, y + 6);
    pl_filltype_r(p, 0);
    pl_pentype_r(p, 1);
    break;
  }
  pl_pencolorname_r(p, S_C_TEXT);
  pl_fmove_r(p, x + 30, y);
  pl_alabel_r(p, 'l', 'c', label);
  c->legend_x = x + 30 + w + 22;
}

static bool s_attr_is(const char *name, size_t len, const char *want) {
  return len == strlen(want) && !strncmp(name, want, len);
}

/* Write the SVG of a finished plotter into the page: from its <svg> element on (the XML
 * declaration and doctype cannot be inline), sized by its container, without libplot's fixed
 * ids (several plots share a page), titled. */
static int s_inline_svg(FILE *out, const char *svg, const char *title) {
  const char *p = strstr(svg, "<svg");
  if (!p) return DD_EIO;
  p += 4;
  fputs("<svg", out);
  /* The attributes of the root element but its size, id and two that HTML does not take. */
  while (*p && *p != '>') {
    while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r')
      p++;
    if (*p == '>' || !*p) break;
    const char *name = p;
    while (*p && *p != '=' && *p != '>' && *p != ' ')
      p++;
    if (*p != '=' || p[1] != '"') return DD_EIO;
    size_t nl = (size_t)(p - name);
    const char *val = p + 2, *end = strchr(val, '"');
    if (!end) return DD_EIO;
    p = end + 1;
    if (s_attr_is(name, nl, "width") || s_attr_is(name, nl, "height") ||
        s_attr_is(name, nl, "id") || s_attr_is(name, nl, "baseProfile") ||
        s_attr_is(name, nl, "xmlns:ev")) /* unused; not valid in HTML */
      continue;
    fprintf(out, " %.*s", (int)(end + 1 - name), name);
  }
  if (*p != '>') return DD_EIO;
  p++;
  fputs(" width=\"100%\" height=\"100%\" role=\"img\">", out);
  bool titled = false;
  while (*p) {
    if (!strncmp(p, " id=\"", 5)) {
      const char *end = strchr(p + 5, '"');
      if (!end) return DD_EIO;
      p = end + 1;
    } else if (!titled && !strncmp(p, "<title>", 7)) {
      const char *end = strstr(p, "</title>");
      if (!end) return DD_EIO;
      fputs("<title>", out);
      s_esc(out, title);
      fputs("</title>", out);
      p = end + 8;
      titled = true;
    } else {
      fputc(*p++, out);
    }
  }
  return 0;
}

/* Finish the chart and write it into the page as a figure with its caption (HTML). */
static int s_chart_close(s_chart_t *c, FILE *out, const char *title, const char *caption) {
  int rc = pl_closepl_r(c->pl) < 0 ? DD_EIO : 0;
  pl_deletepl_r(c->pl);
  c->pl = NULL;
  pl_deleteplparams(c->pp);
  c->pp = NULL;
  if (fclose(c->mem) != 0 && !rc) rc = DD_ENOMEM;
  c->mem = NULL;
  if (!rc && !c->buf) rc = DD_ENOMEM;
  if (!rc) {
    fputs("<figure class=\"plot\"><div class=\"svgbox\">", out);
    rc = s_inline_svg(out, c->buf, title);
    fputs("</div>\n<figcaption><b>", out);
    s_esc(out, title);
    fputs("</b>: ", out);
    fputs(caption, out); /* HTML made here from escaped parts */
    fputs("</figcaption></figure>\n", out);
  }
  free(c->buf);
  memset(c, 0, sizeof *c);
  return rc;
}

static const char *s_path_color(const char *label) {
  return !strcmp(label, "relay") ? S_C_ORANGE : !strcmp(label, "direct") ? S_C_GREEN : S_C_AXIS;
}

/* Shade the stretches when vehicle data went by the relay (after a switch to it). */
static void s_relay_bands(s_chart_t *c, const s_run_t *r) {
  bool on = false;
  double from = 0;
  for (size_t i = 0; i < r->n_sw; i++) {
    bool relay = !strcmp(r->sw[i].label, "relay");
    if (relay && !on)
      from = r->sw[i].x;
    else if (!relay && on)
      s_chart_band(c, from, r->sw[i].x, S_C_BAND);
    on = relay;
  }
  if (on) s_chart_band(c, from, c->x1, S_C_BAND);
}

static bool s_any_switch(const s_run_t *r, const char *to) {
  for (size_t i = 0; i < r->n_sw; i++)
    if (!strcmp(r->sw[i].label, to)) return true;
  return false;
}

/* Legend entries of the path switches and the relay stretches the run has. */
static void s_switch_legend(s_chart_t *c, const s_run_t *r) {
  if (s_any_switch(r, "relay")) s_chart_legend(c, S_LG_DASH, S_C_ORANGE, 0, "to relay");
  if (s_any_switch(r, "direct")) s_chart_legend(c, S_LG_DASH, S_C_GREEN, 0, "to direct");
  if (s_any_switch(r, "relay")) s_chart_legend(c, S_LG_BOX, S_C_BAND, 0, "data via relay");
}

/* Caption text (HTML) with printf formatting; the arguments must be numbers or HTML-safe. */
static void s_caption(char *buf, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void s_caption(char *buf, size_t cap, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, cap, fmt, ap);
  va_end(ap);
}

/* A chart on the run's time axis for y in [ylo, yhi]: the relay stretches shaded first when
 * bands, then the grid and the axes (y labelled ylabel). */
static int s_run_chart(s_chart_t *c, const s_run_t *r, double ylo, double yhi, bool bands,
                       const char *ylabel) {
  int rc = s_chart_open(c, r->x0, r->x1, ylo, yhi);
  if (rc) return rc;
  if (bands) s_relay_bands(c, r);
  s_chart_axes(c, "time since run start (s)", ylabel);
  return 0;
}

/* (a) Direct-path round-trip time, the threshold, and the path switches. */
static int s_plot_rtt(FILE *out, const s_run_t *r) {
  double ymax = s_pts_max(&r->rtt, s_pts_max(&r->srtt, 1));
  double ymin = s_pts_min(&r->rtt, s_pts_min(&r->srtt, 0));
  if (r->threshold_ms > 0 && r->threshold_ms * 1.15 > ymax) ymax = r->threshold_ms * 1.15;
  s_chart_t c;
  int rc = s_run_chart(&c, r, ymin, ymax, true, "round-trip time (ms)");
  if (rc) return rc;
  char label[64];
  if (r->threshold_ms > 0) {
    snprintf(label, sizeof label, "threshold %g ms", r->threshold_ms);
    s_chart_hline(&c, r->threshold_ms, S_C_RED, label, false);
    if (r->hysteresis_ms > 0 && r->hysteresis_ms < r->threshold_ms) {
      snprintf(label, sizeof label, "back to direct below %g ms",
               r->threshold_ms - r->hysteresis_ms);
      s_chart_hline(&c, r->threshold_ms - r->hysteresis_ms, S_C_PINK, label, true);
    }
  }
  s_chart_line(&c, &r->rtt, S_C_LIGHTBLUE, 1.5);
  s_chart_line(&c, &r->srtt, S_C_BLUE, 2.5);
  s_chart_vlines(&c, r->sw, r->n_sw, s_path_color);
  if (r->srtt.n) s_chart_legend(&c, S_LG_LINE, S_C_BLUE, 0, "smoothed RTT (srtt)");
  if (r->rtt.n) s_chart_legend(&c, S_LG_LINE, S_C_LIGHTBLUE, 0, "last probe (rtt)");
  if (r->threshold_ms > 0) s_chart_legend(&c, S_LG_DASH, S_C_RED, 0, "threshold");
  s_switch_legend(&c, r);
  char cap[1024];
  char thr[96] = "";
  if (r->threshold_ms > 0)
    snprintf(thr, sizeof thr, "; dashed line: the switching threshold, %g ms", r->threshold_ms);
  s_caption(cap, sizeof cap,
            "the first device&#8217;s latency probes of the direct path (transport.rtt, %zu "
            "samples)%s; vertical lines: transport.switched (%zu), labelled with the new path; "
            "shaded: vehicle data on the relay.",
            r->srtt.n > r->rtt.n ? r->srtt.n : r->rtt.n, thr, r->n_sw);
  return s_chart_close(&c, out, "Direct-path round-trip time", cap);
}

/* (b) Vehicle records: sent, resent, delivered at the second device. */
static int s_plot_records(FILE *out, const s_run_t *r) {
  double ymax = s_pts_max(&r->delivered, s_pts_max(&r->resent, s_pts_max(&r->sent, 1)));
  double ymin = s_pts_min(&r->delivered, s_pts_min(&r->resent, s_pts_min(&r->sent, 0)));
  s_chart_t c;
  int rc = s_run_chart(&c, r, ymin, ymax, true, "record sequence number");
  if (rc) return rc;
  /* Delivered dashed over sent solid: where they coincide (prompt delivery) both show. */
  s_chart_vlines(&c, r->sw, r->n_sw, s_path_color);
  s_chart_line(&c, &r->sent, S_C_BLUE, 3);
  s_chart_line_dashed(&c, &r->delivered, S_C_GREEN, 2);
  rc = s_chart_marks(&c, &r->resent, S_C_RESEND, 16, 5);
  if (rc) {
    s_chart_abort(&c);
    return rc;
  }
  /* And a tick per resend along the bottom edge: visible even where the lines cover the dots. */
  s_pen(&c, S_C_RESEND, 1.5, false);
  double last = -1;
  for (size_t i = 0; i < r->resent.n; i++) {
    double x = s_cx(&c, r->resent.x[i]);
    if (last >= 0 && fabs(x - last) < 1) continue;
    pl_fline_r(c.pl, x, S_MB, x, S_MB + 10);
    last = x;
  }
  if (r->sent.n) s_chart_legend(&c, S_LG_LINE, S_C_BLUE, 0, "sent");
  if (r->delivered.n) s_chart_legend(&c, S_LG_DASH, S_C_GREEN, 0, "delivered (second device)");
  if (r->resent.n) s_chart_legend(&c, S_LG_MARK, S_C_RESEND, 16, "resent");
  s_switch_legend(&c, r);
  char cap[1024];
  s_caption(cap, sizeof cap,
            "sequence number of each record the first device sent (fd.record_sent: %zu first "
            "transmissions, %zu resends) and of each record delivered at the second device "
            "(second.record: %zu); dots and the ticks along the bottom edge mark resends; the "
            "horizontal gap between the lines is the delivery delay.",
            r->sent.n, r->resent.n, r->delivered.n);
  return s_chart_close(&c, out, "Vehicle records", cap);
}

/* A placed label's extent (canvas units). */
typedef struct {
  double x0, y0, x1, y1; /* corners */
} s_box_t;

#define S_BOXES_MAX 512 /* labels placed in one plot; further ones are left out */

/* Put a label next to the point (x, y) where it overlaps no label placed before and stays in
 * the plot area: right or left of the point, above or below, nearer first. A label that fits
 * nowhere is left out (its point is still drawn). */
static void s_place_label(s_chart_t *c, s_box_t *boxes, size_t *n, double x, double y,
                          const char *label, const char *color) {
  static const struct {
    double dx, dy; /* offset of the anchor from the point */
    char h, v;     /* libplot justification */
  } spots[] = {{5, 6, 'l', 'b'},  {5, -6, 'l', 't'},  {-5, 6, 'r', 'b'},  {-5, -6, 'r', 't'},
               {5, 22, 'l', 'b'}, {5, -22, 'l', 't'}, {-5, 22, 'r', 'b'}, {-5, -22, 'r', 't'},
               {5, 38, 'l', 'b'}, {5, -38, 'l', 't'}, {-5, 38, 'r', 'b'}, {-5, -38, 'r', 't'}};
  if (*n == S_BOXES_MAX) return;
  double w = pl_flabelwidth_r(c->pl, label) * 1.15, h = S_FONT + 1;
  for (size_t i = 0; i < sizeof spots / sizeof spots[0]; i++) {
    double ax = x + spots[i].dx, ay = y + spots[i].dy;
    s_box_t b = {spots[i].h == 'l' ? ax : ax - w, spots[i].v == 'b' ? ay : ay - h,
                 spots[i].h == 'l' ? ax + w : ax, spots[i].v == 'b' ? ay + h : ay};
    if (b.x0 < S_ML + 2 || b.x1 > S_W - S_MR - 2 || b.y0 < S_MB + 2 || b.y1 > S_H - S_MT - 2)
      continue;
    bool clash = false;
    for (size_t k = 0; k < *n && !clash; k++)
      clash = b.x0 < boxes[k].x1 && boxes[k].x0 < b.x1 && b.y0 < boxes[k].y1 && boxes[k].y0 < b.y1;
    if (clash) continue;
    boxes[(*n)++] = b;
    pl_pencolorname_r(c->pl, color);
    pl_fmove_r(c->pl, ax, ay);
    pl_alabel_r(c->pl, spots[i].h, spots[i].v, label);
    return;
  }
}

/* (c) Reflash progress per ECU, with its phases. */
static int s_plot_reflash(FILE *out, const s_run_t *r) {
  double ymin = 0, ymax = 100;
  s_groups_span(r->flash, r->n_flash, &ymin, &ymax);
  s_chart_t c;
  int rc = s_run_chart(&c, r, ymin, ymax, false, "reflash progress (%)");
  if (rc) return rc;
  for (size_t g = 0; g < r->n_flash; g++)
    s_chart_line(&c, &r->flash[g].pts, s_palette[g % S_PALETTE_N], 2.5);
  s_box_t *boxes = calloc(S_BOXES_MAX, sizeof *boxes);
  if (!boxes) {
    s_chart_abort(&c);
    return DD_ENOMEM;
  }
  size_t n_boxes = 0;
  for (size_t g = 0; g < r->n_flash; g++) {
    const s_group_t *gr = &r->flash[g];
    for (size_t m = 0; m < gr->n_marks; m++) {
      double x = s_cx(&c, gr->marks[m].x), y = s_cy(&c, gr->marks[m].y);
      s_pen(&c, s_palette[g % S_PALETTE_N], 1.2, false);
      pl_fmarker_r(c.pl, x, y, 16, 7); /* a filled circle */
      bool bad = !strcmp(gr->marks[m].label, "failed");
      s_place_label(&c, boxes, &n_boxes, x, y, gr->marks[m].label, bad ? S_C_RED : S_C_TEXT);
    }
  }
  free(boxes);
  for (size_t g = 0; g < r->n_flash; g++)
    s_chart_legend(&c, S_LG_LINE, s_palette[g % S_PALETTE_N], 0, r->flash[g].key);
  char cap[1024];
  size_t pts = 0;
  for (size_t g = 0; g < r->n_flash; g++)
    for (size_t k = 0; k < r->flash[g].pts.n; k++)
      pts += !isnan(r->flash[g].pts.y[k]);
  s_caption(cap, sizeof cap,
            "progress of each ECU&#8217;s reflash (reflash.phase percent, %zu events, %zu "
            "ECU%s%s); dots mark where a phase begins, labelled with its name where there is "
            "room; a new attempt starts a new line.",
            pts, r->n_flash, r->n_flash == 1 ? "" : "s",
            r->flash_dropped ? "; further ECUs not drawn" : "");
  return s_chart_close(&c, out, "Reflash progress", cap);
}

/* (d) CAN bus load per bus process. */
static int s_plot_busload(FILE *out, const s_run_t *r) {
  double ymin = 0, ymax = 1;
  s_groups_span(r->load, r->n_load, &ymin, &ymax);
  s_chart_t c;
  int rc = s_run_chart(&c, r, ymin, ymax * 1.1, false, "CAN bus load (%)");
  if (rc) return rc;
  size_t pts = 0;
  for (size_t g = 0; g < r->n_load; g++) {
    s_chart_line(&c, &r->load[g].pts, s_palette[g % S_PALETTE_N], 2);
    pts += r->load[g].pts.n;
  }
  char label[96];
  for (size_t g = 0; g < r->n_load; g++) {
    snprintf(label, sizeof label, "bus load (%s)", r->load[g].key);
    s_chart_legend(&c, S_LG_LINE, s_palette[g % S_PALETTE_N], 0, label);
  }
  char cap[512];
  s_caption(cap, sizeof cap,
            "share of the bus&#8217;s time taken by frames (can.busload load_pct, %zu "
            "samples)%s.",
            pts, r->load_dropped ? "; further buses not drawn" : "");
  return s_chart_close(&c, out, "CAN bus load", cap);
}

/* Every plot the run's events allow; *plots counts them. */
static int s_plots(FILE *out, const s_run_t *r, size_t *plots) {
  int rc = 0;
  size_t before = *plots;
  if (!rc && (r->srtt.n || r->rtt.n)) {
    rc = s_plot_rtt(out, r);
    (*plots)++;
  }
  if (!rc && (r->sent.n || r->resent.n || r->delivered.n)) {
    rc = s_plot_records(out, r);
    (*plots)++;
  }
  if (!rc && r->n_flash) {
    rc = s_plot_reflash(out, r);
    (*plots)++;
  }
  if (!rc && r->n_load) {
    rc = s_plot_busload(out, r);
    (*plots)++;
  }
  if (!rc && *plots == before)
    fputs("<p class=\"muted\">No plot: the run has none of the events plotted "
          "(transport.rtt, fd.record_sent, second.record, reflash.phase, can.busload).</p>\n",
          out);
  return rc;
}

/* ---- the page ---------------------------------------------------------------------------- */

static const char *s_verdict_name(dd_report_verdict_t v) {
  switch (v) {
  case DD_REPORT_PASS: return "PASS";
  case DD_REPORT_FAIL: return "FAIL";
  case DD_REPORT_NOTRUN: return "NOTRUN";
  case DD_REPORT_UNKNOWN: break;
  }
  return "UNKNOWN";
}

/* An expectation verdict as a CSS class (a fixed word, never the file's text). */
static const char *s_exp_class(const char *verdict) {
  return !strcmp(verdict, "PASS") ? "PASS" : !strcmp(verdict, "FAIL") ? "FAIL" : "UNKNOWN";
}

static const char *s_run_name(const s_run_t *r) {
  if (r->scenario && *r->scenario) return r->scenario;
  if (r->listed_name && *r->listed_name) return r->listed_name;
  const char *slash = strrchr(r->run_dir, '/');
  return slash && slash[1] ? slash + 1 : r->run_dir;
}

/* The scenario's name without its "[variant]" suffix. */
static void s_base_name(FILE *f, const s_run_t *r) {
  const char *name = s_run_name(r);
  size_t l = strlen(name);
  const char *br = strrchr(name, '[');
  if (r->variant && *r->variant && l && name[l - 1] == ']' && br && br > name) {
    char *tmp = strndup(name, (size_t)(br - name));
    s_esc(f, tmp ? tmp : name);
    free(tmp);
  } else {
    s_esc(f, name);
  }
}

static void s_variant(FILE *f, const s_run_t *r) {
  bool any = false;
  if (r->variant && *r->variant) {
    s_esc(f, r->variant);
    any = true;
  }
  if (r->repeat > 0) {
    fprintf(f, "%srepeat %ld", any ? ", " : "", r->repeat);
    any = true;
  }
  if (!any) fputs("&#8212;", f);
}

static void s_duration(FILE *f, double s) {
  if (s < 0)
    fputs("&#8212;", f);
  else if (s < 100)
    fprintf(f, "%.1f&#160;s", s);
  else
    fprintf(f, "%.0f&#160;s", s);
}

static void s_time_us(FILE *f, int64_t us) {
  if (us < 0)
    fputs("&#8212;", f);
  else
    fprintf(f, "%.2f&#160;s", (double)us / 1e6);
}

static void s_wall(FILE *f, int64_t wall_us) {
  time_t t = (time_t)(wall_us / 1000000);
  struct tm tm;
  char buf[64];
  if (wall_us > 0 && gmtime_r(&t, &tm) && strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm))
    fputs(buf, f);
  else
    fputs("unknown", f);
}

static size_t s_failed_exps(const s_run_t *r) {
  size_t n = 0;
  for (size_t i = 0; i < r->n_exps; i++)
    if (strcmp(r->exps[i].verdict, "PASS") != 0) n++;
  return n;
}

static const char s_css[] =
    "body{font:15px/1.45 -apple-system,\"Segoe UI\",Helvetica,Arial,sans-serif;color:#222;"
    "background:#fff;max-width:1060px;margin:0 auto;padding:12px 24px 48px}\n"
    "h1{font-size:1.55em;margin:.4em 0 .2em}h2{font-size:1.2em;margin:2.2em 0 .4em;"
    "padding-bottom:.25em;border-bottom:1px solid #ddd}\n"
    "table{border-collapse:collapse;width:100%;margin:.6em 0 1em;font-size:.93em}\n"
    "th,td{border:1px solid #dcdcdc;padding:4px 8px;text-align:left;vertical-align:top}\n"
    "th{background:#f3f5f7;font-weight:600}td.num{text-align:right;white-space:nowrap}\n"
    "tr.bad td{background:#fff6f5}\n"
    ".PASS{color:#1d7a3a;font-weight:700}.FAIL{color:#b3261e;font-weight:700}"
    ".NOTRUN,.UNKNOWN{color:#8a6500;font-weight:700}\n"
    ".totals{font-size:1.05em;margin:.3em 0}.totals b{font-size:1.15em}\n"
    ".meta{color:#444;margin:.2em 0}.muted{color:#777}\n"
    "ul.fails{margin:0;padding-left:1.1em}ul.fails li{margin:.1em 0}\n"
    "pre{white-space:pre-wrap;background:#f7f7f7;border:1px solid #e3e3e3;padding:8px;"
    "font-size:.88em}\n"
    "figure.plot{margin:1.2em 0;max-width:960px}\n"
    "div.svgbox{position:relative;width:100%;padding-top:37.5%}\n"
    "div.svgbox svg{position:absolute;top:0;left:0;width:100%;height:100%}\n"
    "figcaption{font-size:.9em;color:#444;margin-top:.2em}\n"
    "a{color:#1f5d99}\n"
    "@media print{body{max-width:none;padding:0}figure,tr{page-break-inside:avoid}"
    "a{color:inherit;text-decoration:none}}\n";

/* A table's start: its header row of the columns (HTML), then the body's start. */
static void s_table_open(FILE *f, const char *cls, const char *const *cols, size_t n) {
  fprintf(f, "<table class=\"%s\"><thead><tr>", cls);
  for (size_t i = 0; i < n; i++)
    fprintf(f, "<th>%s</th>", cols[i]);
  fputs("</tr></thead><tbody>\n", f);
}

/* A row's start and its first cell, the row number; a bad row is tinted. */
static void s_row_open(FILE *f, bool bad, size_t num) {
  fprintf(f, "<tr%s><td class=\"num\">%zu</td>", bad ? " class=\"bad\"" : "", num);
}

/* The files of a run folder worth opening, linked when present. */
static void s_run_files(FILE *f, const s_run_t *r, const char *href_dir) {
  static const char *const files[] = {"timeline.jsonl", "summary.txt",  "junit.xml",
                                      "result.json",    "can.log",      "can.pcap",
                                      "trace.json",     "timeline.png", "logs"};
  char *rel = s_relpath(href_dir, r->run_dir);
  fputs("<p class=\"meta\">Run folder <a href=\"", f);
  s_href(f, rel ? rel : r->run_dir);
  fputs("\">", f);
  s_esc(f, r->run_dir);
  fputs("</a>", f);
  char path[PATH_MAX];
  const char *sep = ": ";
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
    if (!s_join(path, sizeof path, r->run_dir, files[i])) continue;
    if (!s_is_file(path) && !(s_is_dir(path) && !strcmp(files[i], "logs"))) continue;
    fputs(sep, f);
    sep = ", ";
    fputs("<a href=\"", f);
    s_href(f, rel ? rel : r->run_dir);
    fputc('/', f);
    s_href(f, files[i]);
    fprintf(f, "\">%s</a>", files[i]);
  }
  fputs("</p>\n", f);
  free(rel);
}

static int s_write_run(FILE *f, const s_run_t *r, size_t i, const char *href_dir, size_t *plots) {
  const char *v = s_verdict_name(r->verdict);
  fprintf(f, "<section id=\"run-%zu\">\n<h2><span class=\"%s\">%s</span> ", i + 1, v, v);
  s_esc(f, s_run_name(r));
  fputs("</h2>\n<p class=\"meta\">", f);
  fputs("Variant: ", f);
  s_variant(f, r);
  fputs(" &#183; seed ", f);
  if (r->has_seed)
    fprintf(f, "%llu", (unsigned long long)r->seed);
  else
    fputs("&#8212;", f);
  fputs(" &#183; duration ", f);
  s_duration(f, r->duration_s);
  fputs(" &#183; started ", f);
  s_wall(f, r->start_wall_us);
  if (r->file && *r->file) {
    fputs(" &#183; scenario file ", f);
    s_esc(f, r->file);
  }
  fputs("</p>\n", f);
  s_run_files(f, r, href_dir);
  if (r->reason && *r->reason) {
    fputs("<p><span class=\"FAIL\">Run failure:</span></p><pre>", f);
    s_esc(f, r->reason);
    fputs("</pre>\n", f);
  }
  if (r->tl_error[0]) {
    fputs("<p class=\"muted\">No timeline: ", f);
    s_esc(f, r->tl_error);
    fputs(".</p>\n", f);
  } else if (r->malformed) {
    fprintf(f, "<p class=\"muted\">%zu malformed timeline line%s skipped.</p>\n", r->malformed,
            r->malformed == 1 ? "" : "s");
  }
  if (r->n_exps) {
    static const char *const cols[] = {
        "#", "verdict", "expectation", "observed at", "observed value", "deadline", "result"};
    s_table_open(f, "expect", cols, sizeof cols / sizeof cols[0]);
    for (size_t k = 0; k < r->n_exps; k++) {
      const s_exp_t *e = &r->exps[k];
      const char *cls = s_exp_class(e->verdict);
      s_row_open(f, strcmp(cls, "PASS") != 0, k + 1);
      fprintf(f, "<td class=\"%s\">", cls);
      s_esc(f, *e->verdict ? e->verdict : "?");
      fputs("</td><td>", f);
      s_esc(f, e->name);
      if (*e->type) {
        fputs(" <span class=\"muted\">(", f);
        s_esc(f, e->type);
        if (e->line) fprintf(f, ", line %ld", e->line);
        fputs(")</span>", f);
      }
      fputs("</td><td class=\"num\">", f);
      s_time_us(f, e->observed_us);
      fputs("</td><td>", f);
      if (*e->value)
        s_esc(f, e->value);
      else
        fputs("&#8212;", f);
      fputs("</td><td class=\"num\">", f);
      s_time_us(f, e->deadline_us);
      fputs("</td><td>", f);
      s_esc(f, e->text);
      fputs("</td></tr>\n", f);
    }
    fputs("</tbody></table>\n", f);
  } else if (r->summary) {
    fputs("<p class=\"muted\">No expectation results in the timeline; the run&#8217;s "
          "summary.txt:</p><pre>",
          f);
    s_esc(f, r->summary);
    fputs("</pre>\n", f);
  } else {
    fputs("<p class=\"muted\">No expectation results.</p>\n", f);
  }
  int rc = r->tl_error[0] ? 0 : s_plots(f, r, plots);
  fputs("</section>\n", f);
  return rc;
}

static int s_write_page(FILE *f, const char *suite_dir, const s_runs_t *rs, const char *href_dir,
                        dd_report_stats_t *st) {
  memset(st, 0, sizeof *st);
  st->runs = rs->n;
  int64_t first = 0, last = 0;
  double total = 0;
  bool seeds_differ = false, any_seed = false;
  uint64_t seed = 0;
  for (size_t i = 0; i < rs->n; i++) {
    const s_run_t *r = &rs->v[i];
    if (r->verdict == DD_REPORT_PASS)
      st->passed++;
    else if (r->verdict == DD_REPORT_NOTRUN)
      st->not_run++;
    else
      st->failed++;
    if (r->start_wall_us > 0 && (!first || r->start_wall_us < first)) first = r->start_wall_us;
    int64_t end = r->end_wall_us > 0 ? r->end_wall_us
                  : r->start_wall_us > 0 && r->duration_s > 0
                      ? r->start_wall_us + (int64_t)(r->duration_s * 1e6)
                      : 0;
    if (end > last) last = end;
    if (r->duration_s > 0) total += r->duration_s;
    if (r->has_seed) {
      if (any_seed && r->seed != seed) seeds_differ = true;
      any_seed = true;
      seed = r->seed;
    }
  }

  fputs("<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"en\">\n<head>\n"
        "<meta charset=\"utf-8\"/>\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n"
        "<meta name=\"generator\" content=\"duodiag " DD_VERSION "\"/>\n<title>duodiag report: ",
        f);
  s_esc(f, suite_dir);
  fprintf(f, "</title>\n<style>\n%s</style>\n</head>\n<body>\n<header>\n<h1>duodiag report</h1>\n",
          s_css);
  fputs("<p class=\"meta\">Suite folder ", f);
  s_esc(f, suite_dir);
  fputs("</p>\n<p class=\"totals\">", f);
  fprintf(f, "<b>%zu</b> run%s: <span class=\"PASS\">%zu passed</span>, ", st->runs,
          st->runs == 1 ? "" : "s", st->passed);
  fprintf(f, "<span class=\"%s\">%zu failed</span>", st->failed ? "FAIL" : "muted", st->failed);
  if (st->not_run) fprintf(f, ", <span class=\"NOTRUN\">%zu not run</span>", st->not_run);
  fputs("</p>\n<p class=\"meta\">Duration ", f);
  s_duration(f, first && last > first ? (double)(last - first) / 1e6 : total > 0 ? total : -1);
  if (first && last > first && total > (double)(last - first) / 1e6 + 0.05) {
    fputs(" (runs in parallel; ", f);
    s_duration(f, total);
    fputs(" of runs in all)", f);
  }
  fputs(" &#183; seed ", f);
  if (!any_seed)
    fputs("&#8212;", f);
  else if (seeds_differ)
    fputs("per run (see each run)", f);
  else
    fprintf(f, "%llu", (unsigned long long)seed);
  fputs(" &#183; date ", f);
  s_wall(f, first);
  fputs("</p>\n</header>\n", f);

  /* The verdict table. */
  static const char *const cols[] = {"#",       "scenario", "variant",
                                     "verdict", "duration", "failed expectations"};
  fputs("<h2>Verdicts</h2>\n", f);
  s_table_open(f, "verdicts", cols, sizeof cols / sizeof cols[0]);
  for (size_t i = 0; i < rs->n; i++) {
    const s_run_t *r = &rs->v[i];
    const char *v = s_verdict_name(r->verdict);
    s_row_open(f, r->verdict != DD_REPORT_PASS, i + 1);
    fprintf(f, "<td><a href=\"#run-%zu\">", i + 1);
    s_base_name(f, r);
    fputs("</a></td><td>", f);
    s_variant(f, r);
    fprintf(f, "</td><td class=\"%s\">%s</td><td class=\"num\">", v, v);
    s_duration(f, r->duration_s);
    fputs("</td><td>", f);
    size_t nf = s_failed_exps(r);
    bool reason = r->reason && *r->reason;
    if (nf || reason) {
      fputs("<ul class=\"fails\">", f);
      for (size_t k = 0; k < r->n_exps; k++) {
        if (!strcmp(r->exps[k].verdict, "PASS")) continue;
        fputs("<li>", f);
        s_esc(f, *r->exps[k].text ? r->exps[k].text : r->exps[k].name);
        fputs("</li>", f);
      }
      if (reason) {
        fputs("<li>run: ", f);
        s_esc(f, r->reason);
        fputs("</li>", f);
      }
      fputs("</ul>", f);
    } else if (r->verdict == DD_REPORT_NOTRUN) {
      fputs("did not run", f);
    } else if (r->tl_error[0] && r->verdict != DD_REPORT_PASS) {
      fputs("no timeline: ", f);
      s_esc(f, r->tl_error);
    } else {
      fputs("&#8212;", f);
    }
    fputs("</td></tr>\n", f);
  }
  fputs("</tbody></table>\n", f);

  int rc = 0;
  for (size_t i = 0; i < rs->n && !rc; i++)
    rc = s_write_run(f, &rs->v[i], i, href_dir, &st->plots);
  fputs("<footer><p class=\"muted\">Written by duodiag " DD_VERSION
        " from the run folders&#8217; timeline.jsonl and summary.txt; plots drawn with GNU "
        "libplot.</p></footer>\n</body>\n</html>\n",
        f);
  return rc;
}

/* ---- writing ----------------------------------------------------------------------------- */

/* The folder of a file path (".": none). */
static void s_dirname(const char *path, char *buf, size_t cap) {
  snprintf(buf, cap, "%s", path);
  char *slash = strrchr(buf, '/');
  if (!slash)
    snprintf(buf, cap, ".");
  else if (slash == buf)
    buf[1] = 0;
  else
    *slash = 0;
}

static int s_write(const char *suite_dir, s_runs_t *rs, const char *out_html,
                   dd_report_stats_t *stats, char *err, size_t errcap) {
  char out[PATH_MAX], dir[PATH_MAX], tmp[PATH_MAX + 16];
  size_t sl = strlen(suite_dir);
  while (sl > 1 && suite_dir[sl - 1] == '/')
    sl--; /* "runs/" -> "runs/report.html" */
  if (out_html)
    snprintf(out, sizeof out, "%s", out_html);
  else if ((size_t)snprintf(out, sizeof out, "%.*s/%s", (int)sl, suite_dir, DD_REPORT_FILE) >=
           sizeof out) {
    s_err(err, errcap, "%s: path too long", suite_dir);
    return DD_ENAMETOOLONG;
  }
  for (size_t i = 0; i < rs->n; i++) {
    int rc = s_run_load(&rs->v[i]);
    if (rc) {
      s_err(err, errcap, "%s: %s", rs->v[i].run_dir, dd_strerror(rc));
      return rc;
    }
  }
  s_dirname(out, dir, sizeof dir);
  if ((size_t)snprintf(tmp, sizeof tmp, "%s.XXXXXX", out) >= sizeof tmp) {
    s_err(err, errcap, "%s: path too long", out);
    return DD_ENAMETOOLONG;
  }
  int fd = mkstemp(tmp);
  if (fd < 0) {
    int rc = -errno;
    s_err(err, errcap, "%s: cannot write: %s", out, strerror(errno));
    return rc;
  }
  fchmod(fd, 0644);
  FILE *f = fdopen(fd, "w");
  if (!f) {
    int rc = -errno;
    close(fd);
    unlink(tmp);
    s_err(err, errcap, "%s: cannot write: %s", out, dd_strerror(rc));
    return rc;
  }
  dd_report_stats_t st;
  int rc = s_write_page(f, suite_dir, rs, dir, &st);
  if (ferror(f) && !rc) rc = DD_EIO;
  if (fclose(f) != 0 && !rc) rc = -errno;
  if (!rc && rename(tmp, out) != 0) rc = -errno;
  if (rc) {
    unlink(tmp);
    s_err(err, errcap, "%s: cannot write: %s", out, dd_strerror(rc));
    return rc;
  }
  if (stats) *stats = st;
  return 0;
}

int dd_report_write_runs(const char *suite_dir, const dd_report_run_t *runs, size_t n,
                         const char *out_html, dd_report_stats_t *stats, char *err, size_t errcap) {
  assert(suite_dir && (runs || !n));
  if (err && errcap) err[0] = 0;
  if (!n) {
    s_err(err, errcap, "%s: no runs to report", suite_dir);
    return DD_EINVAL;
  }
  s_runs_t rs = {0};
  int rc = 0;
  for (size_t i = 0; i < n && !rc; i++)
    rc = s_runs_add(&rs, runs[i].name, runs[i].run_dir, runs[i].verdict, runs[i].duration_s);
  if (rc)
    s_err(err, errcap, "%s", dd_strerror(rc));
  else
    rc = s_write(suite_dir, &rs, out_html, stats, err, errcap);
  s_runs_free(&rs);
  return rc;
}

int dd_report_write(const char *suite_dir, const char *out_html, dd_report_stats_t *stats,
                    char *err, size_t errcap) {
  assert(suite_dir);
  if (err && errcap) err[0] = 0;
  static const char expected[] =
      "expected the --out folder of duodiag run (with suite.txt), or one run folder (with "
      "timeline.jsonl)";
  struct stat st;
  if (stat(suite_dir, &st) != 0) {
    int rc = errno == ENOENT ? DD_ENOENT : -errno;
    s_err(err, errcap, "%s: %s; %s", suite_dir, strerror(errno), expected);
    return rc;
  }
  if (!S_ISDIR(st.st_mode)) {
    s_err(err, errcap, "%s: not a folder; %s", suite_dir, expected);
    return DD_EINVAL;
  }
  char path[PATH_MAX];
  if (!s_join(path, sizeof path, suite_dir, DD_REPORT_SUITE_FILE)) {
    s_err(err, errcap, "%s: path too long", suite_dir);
    return DD_ENAMETOOLONG;
  }
  s_runs_t rs = {0};
  int rc = 0;
  if (s_is_file(path)) {
    char *text = s_slurp(path, S_SUITE_TXT_MAX, &rc);
    if (!text) {
      s_err(err, errcap, "%s: %s", path, dd_strerror(rc));
      return rc;
    }
    rc = s_runs_from_suite_txt(suite_dir, text, &rs);
    free(text);
    if (!rc && !rs.n) {
      s_err(err, errcap,
            "%s: no runs listed (expected lines \"PASS|FAIL|NOTRUN NAME RUN_DIR\", as duodiag "
            "run writes them)",
            path);
      return DD_EINVAL;
    }
  } else if (s_join(path, sizeof path, suite_dir, DD_TIMELINE_FILE) && s_is_file(path)) {
    rc = s_runs_add(&rs, "", suite_dir, DD_REPORT_UNKNOWN, -1);
  } else {
    rc = s_scan(suite_dir, 1, &rs);
    if (!rc && !rs.n) {
      s_err(err, errcap, "%s: no suite.txt, no timeline.jsonl and no run folder inside; %s",
            suite_dir, expected);
      return DD_EINVAL;
    }
    if (!rc && rs.n > 1) qsort(rs.v, rs.n, sizeof *rs.v, s_cmp_run_dir);
  }
  if (rc)
    s_err(err, errcap, "%s: %s", suite_dir, dd_strerror(rc));
  else
    rc = s_write(suite_dir, &rs, out_html, stats, err, errcap);
  s_runs_free(&rs);
  return rc;
}
