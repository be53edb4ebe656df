/* dd_export: writers of trace.json (Chrome Trace Event format), junit.xml and CAN trace
 * conversions for a run folder. */
#include "dd_export.h"

#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dd_candump.h"
#include "dd_err.h"
#include "dd_pcap.h"

static const char *const s_names[DD_EXPORT_FORMATS] = {"perfetto", "junit", "candump", "pcap"};
static const char *const s_files[DD_EXPORT_FORMATS] = {"trace.json", "junit.xml", "can.log",
                                                       "can.pcap"};

int dd_export_format_parse(const char *name, dd_export_format_t *out) {
  assert(name && out);
  for (int i = 0; i < DD_EXPORT_FORMATS; i++)
    if (!strcmp(name, s_names[i])) {
      *out = (dd_export_format_t)i;
      return 0;
    }
  return DD_EINVAL;
}

const char *dd_export_format_name(dd_export_format_t f) {
  assert(f >= 0 && f < DD_EXPORT_FORMATS);
  return s_names[f];
}

const char *dd_export_default_file(dd_export_format_t f) {
  assert(f >= 0 && f < DD_EXPORT_FORMATS);
  return s_files[f];
}

static const char *s_run_name(const dd_export_meta_t *meta) {
  return meta && meta->run_name && *meta->run_name ? meta->run_name : "run";
}

/* Close a stream that was written; -errno of the first failure. */
static int s_close(FILE *f, int rc) {
  if (ferror(f) && rc == 0) rc = DD_EIO;
  if (fclose(f) != 0 && rc == 0) rc = -errno;
  return rc;
}

/* ---- Chrome Trace Event format ----
 * "Trace Event Format" (the Google document Perfetto's docs link to): an object with a
 * "traceEvents" array; each event has name, cat, ph, ts (microseconds), pid, tid and args;
 * ph M names processes and threads, i is an instant (s: "t" thread scope), C a counter (one
 * track per args key), X a complete slice with dur, b/e an async slice pair matched by cat
 * and id. Slices of one thread must nest; overlapping ones go async. */

typedef struct {
  FILE *out;  /* trace.json */
  bool first; /* no event written yet (no comma) */
  int rc;     /* first failure */
} s_trace_t;

/* Append one trace event (steals the reference). */
static void s_emit(s_trace_t *t, json_t *ev) {
  if (!ev) {
    if (!t->rc) t->rc = DD_ENOMEM;
    return;
  }
  if (!t->rc) {
    fputs(t->first ? "\n" : ",\n", t->out);
    t->first = false;
    if (json_dumpf(ev, t->out, JSON_COMPACT | JSON_REAL_PRECISION(15)) != 0) t->rc = DD_EIO;
  }
  json_decref(ev);
}

/* Process ids in the trace: lane + 1 (pid 0 reads as "no process" in some viewers). */
static json_int_t s_pid(uint32_t lane) { return (json_int_t)lane + 1; }

/* The event's fields without the three that the trace event carries itself, plus the line
 * of the timeline it was read from (named so as not to clash with an event's own "line"). */
static json_t *s_args(const dd_timeline_t *tl, size_t i) {
  json_t *o = dd_timeline_event_object(tl, i);
  if (!o) return NULL;
  json_object_del(o, "t_us");
  json_object_del(o, "proc");
  json_object_del(o, "kind");
  if (json_object_set_new(o, "timeline_line",
                          json_integer((json_int_t)dd_timeline_event(tl, i)->line))) {
    json_decref(o);
    return NULL;
  }
  return o;
}

static json_t *s_trace_event(const char *ph, const char *name, const char *cat, int64_t ts,
                             uint32_t lane) {
  json_t *ev = json_object();
  if (!ev) return NULL;
  if (json_object_set_new(ev, "name", json_string(name)) ||
      (cat && json_object_set_new(ev, "cat", json_string(cat))) ||
      json_object_set_new(ev, "ph", json_string(ph)) ||
      json_object_set_new(ev, "ts", json_integer((json_int_t)ts)) ||
      json_object_set_new(ev, "pid", json_integer(s_pid(lane))) ||
      json_object_set_new(ev, "tid", json_integer(s_pid(lane)))) {
    json_decref(ev);
    return NULL;
  }
  return ev;
}

/* ev with key set to val; both references are stolen (json_object_set_new steals val even
 * when it fails); NULL when either is NULL or on failure. */
static json_t *s_attach(json_t *ev, const char *key, json_t *val) {
  if (!ev || !val) {
    json_decref(ev);
    json_decref(val);
    return NULL;
  }
  if (json_object_set_new(ev, key, val)) {
    json_decref(ev);
    return NULL;
  }
  return ev;
}

static void s_emit_metadata(s_trace_t *t, const dd_timeline_t *tl) {
  for (size_t l = 0; l < dd_timeline_lane_count(tl); l++) {
    uint32_t lane = (uint32_t)l;
    s_emit(t, s_attach(s_trace_event("M", "process_name", NULL, 0, lane), "args",
                       json_pack("{s:s}", "name", dd_timeline_lane(tl, l)->name)));
    s_emit(t, s_attach(s_trace_event("M", "process_sort_index", NULL, 0, lane), "args",
                       json_pack("{s:I}", "sort_index", (json_int_t)l)));
    s_emit(t, s_attach(s_trace_event("M", "thread_name", NULL, 0, lane), "args",
                       json_pack("{s:s}", "name", "events")));
  }
}

static void s_emit_instants(s_trace_t *t, const dd_timeline_t *tl) {
  for (size_t i = 0; i < dd_timeline_count(tl) && !t->rc; i++) {
    const dd_tl_event_t *e = dd_timeline_event(tl, i);
    json_t *ev = s_trace_event("i", dd_timeline_kind_name(tl, e->kind),
                               dd_timeline_family_name(tl, e->family), e->t_us, e->lane);
    ev = s_attach(ev, "s", json_string("t"));
    s_emit(t, s_attach(ev, "args", s_args(tl, i)));
  }
}

static void s_emit_counters(s_trace_t *t, const dd_timeline_t *tl) {
  for (size_t k = 0; k < dd_timeline_series_count(tl) && !t->rc; k++) {
    const dd_tl_series_t *s = dd_timeline_series(tl, k);
    for (size_t j = 0; j < s->n && !t->rc; j++) {
      json_t *args = s_attach(json_object(), s->field, json_real(s->value[j]));
      s_emit(t, s_attach(s_trace_event("C", s->kind, NULL, s->t_us[j], s->lane), "args", args));
    }
  }
}

/* The name of a transaction slice: the kind without ".request", plus the request's "sid". */
static void s_transaction_name(const dd_timeline_t *tl, size_t begin, char *buf, size_t size) {
  const char *kind = dd_timeline_kind_name(tl, dd_timeline_event(tl, begin)->kind);
  size_t n = strlen(kind);
  if (n > 8 && !strcmp(kind + n - 8, ".request")) n -= 8;
  json_t *o = dd_timeline_event_object(tl, begin);
  json_t *sid = o ? json_object_get(o, "sid") : NULL;
  if (json_is_string(sid))
    snprintf(buf, size, "%.*s %s", (int)n, kind, json_string_value(sid));
  else if (json_is_integer(sid))
    snprintf(buf, size, "%.*s 0x%02llX", (int)n, kind, (unsigned long long)json_integer_value(sid));
  else
    snprintf(buf, size, "%.*s", (int)n, kind);
  json_decref(o);
}

static void s_emit_spans(s_trace_t *t, const dd_timeline_t *tl) {
  for (size_t k = 0; k < dd_timeline_span_count(tl) && !t->rc; k++) {
    const dd_tl_span_t *sp = dd_timeline_span(tl, k);
    const dd_tl_event_t *b = dd_timeline_event(tl, sp->begin);
    const dd_tl_event_t *e = dd_timeline_event(tl, sp->end);
    const char *cat = dd_timeline_family_name(tl, b->family);
    if (sp->type != DD_TL_SPAN_TRANSACTION) {
      /* Process life and start-up nest (same start, start-up ends first) on the process's
       * one thread: Perfetto needs the slices of a track to nest. */
      json_t *ev = s_trace_event("X", sp->type == DD_TL_SPAN_PROCESS ? "running" : "starting", cat,
                                 b->t_us, b->lane);
      ev = s_attach(ev, "dur", json_integer((json_int_t)(e->t_us - b->t_us)));
      s_emit(t, s_attach(ev, "args", s_args(tl, sp->end)));
      continue;
    }
    /* Transactions may overlap each other: async slices, matched by cat and id. */
    char name[160], id[32];
    s_transaction_name(tl, sp->begin, name, sizeof name);
    snprintf(id, sizeof id, "0x%zx", k + 1);
    for (int end = 0; end < 2; end++) {
      size_t ei = end ? sp->end : sp->begin;
      json_t *ev =
          s_trace_event(end ? "e" : "b", name, cat, dd_timeline_event(tl, ei)->t_us, b->lane);
      ev = s_attach(ev, "id", json_string(id));
      s_emit(t, s_attach(ev, "args", s_args(tl, ei)));
    }
  }
}

int dd_export_perfetto(const dd_timeline_t *tl, const dd_export_meta_t *meta, const char *path) {
  assert(tl && path);
  FILE *out = fopen(path, "w");
  if (!out) return -errno;
  s_trace_t t = {.out = out, .first = true};
  fputs("{\"displayTimeUnit\":\"ms\",\"otherData\":", out);
  json_t *other = json_pack("{s:s,s:s,s:I,s:I}", "run", s_run_name(meta), "source",
                            meta && meta->source ? meta->source : DD_TIMELINE_FILE, "events",
                            (json_int_t)dd_timeline_count(tl), "malformed_lines",
                            (json_int_t)dd_timeline_malformed(tl));
  if (!other || json_dumpf(other, out, JSON_COMPACT) != 0) t.rc = other ? DD_EIO : DD_ENOMEM;
  json_decref(other);
  fputs(",\"traceEvents\":[", out);
  s_emit_metadata(&t, tl);
  s_emit_instants(&t, tl);
  s_emit_counters(&t, tl);
  s_emit_spans(&t, tl);
  fputs("\n]}\n", out);
  return s_close(out, t.rc);
}

/* ---- JUnit XML ---- */

char *dd_export_xml_escape(const char *s, int attribute) {
  assert(s);
  size_t cap = strlen(s) * 6 + 1, o = 0;
  char *buf = malloc(cap);
  if (!buf) return NULL;
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    const char *rep = NULL;
    char num[8];
    switch (*p) {
    case '&': rep = "&amp;"; break;
    case '<': rep = "&lt;"; break;
    case '>': rep = "&gt;"; break;
    case '"': rep = "&quot;"; break;
    case '\'': rep = "&apos;"; break;
    case '\n':
    case '\r':
    case '\t':
      if (attribute) {
        snprintf(num, sizeof num, "&#%d;", *p);
        rep = num;
      }
      break;
    default:
      /* XML 1.0 section 2.2 (Char): no C0 control other than tab, newline, return; DEL and
       * C1 are allowed but invisible, so they are replaced too. */
      if (*p < 0x20 || *p == 0x7F) rep = "\xEF\xBF\xBD";
      break;
    }
    if (rep) {
      size_t n = strlen(rep);
      memcpy(buf + o, rep, n);
      o += n;
    } else {
      buf[o++] = (char)*p;
    }
  }
  buf[o] = '\0';
  return buf;
}

/* Print an escaped string; false when out of memory. */
static bool s_xml(FILE *out, const char *s, int attribute) {
  char *e = dd_export_xml_escape(s ? s : "", attribute);
  if (!e) return false;
  fputs(e, out);
  free(e);
  return true;
}

/* A field's value as text: strings bare, others as JSON, "(not recorded)" when absent. */
static char *s_field_text(json_t *o, const char *key) {
  json_t *v = json_object_get(o, key);
  if (!v) return strdup("(not recorded)");
  if (json_is_string(v)) return strdup(json_string_value(v));
  return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15));
}

/* What was observed: "observed" as written, else the expectation engine's "value" and
 * "observed_us" (microseconds after the run's start, -1 when nothing was seen). */
static char *s_observed_text(json_t *o) {
  if (json_object_get(o, "observed")) return s_field_text(o, "observed");
  const char *value = json_string_value(json_object_get(o, "value"));
  json_t *at = json_object_get(o, "observed_us");
  char buf[300];
  if (json_is_integer(at) && json_integer_value(at) >= 0)
    snprintf(buf, sizeof buf, "%.150s%sat %.6f s", value ? value : "", value && *value ? " " : "",
             (double)json_integer_value(at) / 1e6);
  else if (json_is_integer(at))
    snprintf(buf, sizeof buf, "%.150s", value && *value ? value : "nothing");
  else if (value && *value)
    snprintf(buf, sizeof buf, "%.150s", value);
  else
    snprintf(buf, sizeof buf, "(not recorded)");
  return strdup(buf);
}

/* The deadline: "deadline" as written, else "deadline_us" (after the run's start; -1: none). */
static char *s_deadline_text(json_t *o) {
  if (json_object_get(o, "deadline")) return s_field_text(o, "deadline");
  json_t *d = json_object_get(o, "deadline_us");
  char buf[64];
  if (json_is_integer(d) && json_integer_value(d) >= 0)
    snprintf(buf, sizeof buf, "%.6f s", (double)json_integer_value(d) / 1e6);
  else
    snprintf(buf, sizeof buf, "%s", json_is_integer(d) ? "none" : "(not recorded)");
  return strdup(buf);
}

/* Testcase time: a duration field if the event has one, else 0. */
static double s_case_seconds(json_t *o) {
  static const struct {
    const char *key; /* field name */
    double scale;    /* to seconds */
  } keys[] = {
      {"elapsed_us", 1e-6}, {"duration_us", 1e-6}, {"elapsed_ms", 1e-3}, {"duration_ms", 1e-3}};
  for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
    json_t *v = json_object_get(o, keys[i].key);
    if (json_is_number(v) && json_number_value(v) >= 0) return json_number_value(v) * keys[i].scale;
  }
  return 0;
}

static void s_iso_time(int64_t wall_us, char *buf, size_t size) {
  buf[0] = '\0';
  if (wall_us <= 0) return;
  time_t sec = (time_t)(wall_us / 1000000);
  struct tm tm;
  if (gmtime_r(&sec, &tm)) strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
}

typedef struct {
  size_t ev;      /* the expect.result event */
  char name[200]; /* testcase name (made unique) */
} s_case_t;

static bool s_is_expect(const dd_timeline_t *tl, size_t i) {
  return !strcmp(dd_timeline_kind_name(tl, dd_timeline_event(tl, i)->kind), "expect.result");
}

/* One testcase; false when out of memory. */
static bool s_write_case(FILE *out, const dd_timeline_t *tl, const s_case_t *c, const char *run,
                         const char *source, dd_export_junit_stats_t *st) {
  const dd_tl_event_t *e = dd_timeline_event(tl, c->ev);
  json_t *o = dd_timeline_event_object(tl, c->ev);
  if (!o) return false;
  bool ok = true;
  const char *scenario = json_string_value(json_object_get(o, "scenario"));
  const char *file = json_string_value(json_object_get(o, "file"));
  const char *verdict = json_string_value(json_object_get(o, "verdict"));
  fputs("    <testcase classname=\"", out);
  ok = ok && s_xml(out, scenario ? scenario : run, 1);
  fputs("\" name=\"", out);
  ok = ok && s_xml(out, c->name, 1);
  fputs("\"", out);
  if (file) {
    fputs(" file=\"", out);
    ok = ok && s_xml(out, file, 1);
    fputs("\"", out);
  }
  fprintf(out, " time=\"%.6f\"", s_case_seconds(o));
  st->tests++;
  dd_tl_verdict_t v = verdict ? dd_timeline_verdict_parse(verdict) : DD_TL_VERDICT_NONE;
  if (v == DD_TL_VERDICT_PASS) {
    fputs("/>\n", out);
    json_decref(o);
    return ok;
  }
  char *observed = s_observed_text(o);
  char *deadline = s_deadline_text(o);
  const char *state = json_string_value(json_object_get(o, "state"));
  const char *text = json_string_value(json_object_get(o, "text"));
  char msg[600], where[300];
  snprintf(msg, sizeof msg, "observed %s; deadline %s", observed ? observed : "?",
           deadline ? deadline : "?");
  snprintf(where, sizeof where, "at t=%.6f s after the first event, %s line %lu",
           (double)(e->t_us - dd_timeline_first_us(tl)) / 1e6, source, e->line);
  const char *elem = "error", *type = "NoVerdict";
  if (v == DD_TL_VERDICT_FAIL) {
    elem = "failure";
    type = state && *state ? state : "ExpectationFailed"; /* timed_out, violated */
    st->failures++;
  } else if (v == DD_TL_VERDICT_SKIP) {
    elem = "skipped";
    st->skipped++;
  } else {
    type = verdict ? verdict : "NoVerdict";
    st->errors++;
  }
  fprintf(out, ">\n      <%s message=\"", elem);
  if (v == DD_TL_VERDICT_OTHER) {
    char m2[700];
    snprintf(m2, sizeof m2, "verdict %s: %s", verdict, msg);
    ok = ok && s_xml(out, m2, 1);
  } else if (v == DD_TL_VERDICT_NONE) {
    ok = ok && s_xml(out, "no verdict recorded", 1);
  } else {
    ok = ok && s_xml(out, msg, 1);
  }
  fputs("\"", out);
  if (v != DD_TL_VERDICT_SKIP) {
    fputs(" type=\"", out);
    ok = ok && s_xml(out, type, 1);
    fputs("\"", out);
  }
  fputs(">", out);
  /* The body: the engine's one-line account, where, then every field of the event. */
  if (text && *text) {
    ok = ok && s_xml(out, text, 0);
    fputs("\n", out);
  }
  ok = ok && s_xml(out, where, 0);
  const char *key;
  json_t *val;
  json_object_foreach(o, key, val) {
    if (!strcmp(key, "t_us") || !strcmp(key, "wall_us") || !strcmp(key, "proc") ||
        !strcmp(key, "kind"))
      continue;
    char *txt = s_field_text(o, key);
    fputs("\n", out);
    ok = ok && txt && s_xml(out, key, 0);
    fputs(": ", out);
    ok = ok && s_xml(out, txt, 0);
    free(txt);
  }
  fprintf(out, "</%s>\n    </testcase>\n", elem);
  free(observed);
  free(deadline);
  json_decref(o);
  return ok && observed && deadline;
}

int dd_export_junit(const dd_timeline_t *tl, const dd_export_meta_t *meta, const char *path,
                    dd_export_junit_stats_t *stats) {
  assert(tl && path);
  dd_export_junit_stats_t st = {0};
  size_t n = dd_timeline_count(tl), n_cases = 0;
  s_case_t *cases = NULL;
  for (size_t i = 0; i < n; i++)
    n_cases += s_is_expect(tl, i);
  if (n_cases) {
    cases = calloc(n_cases, sizeof *cases);
    if (!cases) return DD_ENOMEM;
  }
  /* Names: the expectation's "name", made unique (GitLab keeps only the first of a name). */
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    if (!s_is_expect(tl, i)) continue;
    json_t *o = dd_timeline_event_object(tl, i);
    if (!o) {
      free(cases);
      return DD_ENOMEM;
    }
    const char *name = json_string_value(json_object_get(o, "name"));
    s_case_t *c = &cases[k];
    c->ev = i;
    if (name && *name)
      snprintf(c->name, sizeof c->name, "%s", name);
    else
      snprintf(c->name, sizeof c->name, "expectation %zu", k + 1);
    json_decref(o);
    for (unsigned dup = 2; dup < 100000; dup++) {
      bool clash = false;
      for (size_t j = 0; j < k && !clash; j++)
        clash = !strcmp(cases[j].name, c->name);
      if (!clash) break;
      char base[200];
      snprintf(base, sizeof base, "%s", c->name);
      char *paren = dup > 2 ? strrchr(base, '(') : NULL;
      if (paren && paren > base) paren[-1] = '\0';
      snprintf(c->name, sizeof c->name, "%.180s (%u)", base, dup);
    }
    k++;
  }

  FILE *out = fopen(path, "w");
  if (!out) {
    free(cases);
    return -errno;
  }
  const char *run = s_run_name(meta);
  const char *source = meta && meta->source ? meta->source : DD_TIMELINE_FILE;
  char host[256] = "localhost";
  if (meta && meta->hostname)
    snprintf(host, sizeof host, "%s", meta->hostname);
  else if (gethostname(host, sizeof host) != 0 || !host[0])
    snprintf(host, sizeof host, "localhost");
  host[sizeof host - 1] = '\0';
  char stamp[32];
  s_iso_time(n ? dd_timeline_event(tl, 0)->wall_us : 0, stamp, sizeof stamp);
  double secs = (double)(dd_timeline_last_us(tl) - dd_timeline_first_us(tl)) / 1e6;

  /* Counts first (attributes of both elements), then the cases. */
  for (size_t i = 0; i < n_cases; i++) {
    json_t *o = dd_timeline_event_object(tl, cases[i].ev);
    const char *v = o ? json_string_value(json_object_get(o, "verdict")) : NULL;
    dd_tl_verdict_t vd = v ? dd_timeline_verdict_parse(v) : DD_TL_VERDICT_NONE;
    st.failures += vd == DD_TL_VERDICT_FAIL;
    st.skipped += vd == DD_TL_VERDICT_SKIP;
    st.errors += vd == DD_TL_VERDICT_OTHER || vd == DD_TL_VERDICT_NONE;
    json_decref(o);
  }
  bool ok = true;
  fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"duodiag\"", out);
  fprintf(out, " tests=\"%zu\" failures=\"%zu\" errors=\"%zu\" skipped=\"%zu\" time=\"%.6f\"",
          n_cases, st.failures, st.errors, st.skipped, secs);
  if (stamp[0]) fprintf(out, " timestamp=\"%s\"", stamp);
  fputs(">\n  <testsuite name=\"", out);
  ok = ok && s_xml(out, run, 1);
  fprintf(out, "\" tests=\"%zu\" failures=\"%zu\" errors=\"%zu\" skipped=\"%zu\" time=\"%.6f\"",
          n_cases, st.failures, st.errors, st.skipped, secs);
  if (stamp[0]) fprintf(out, " timestamp=\"%s\"", stamp);
  fputs(" hostname=\"", out);
  ok = ok && s_xml(out, host, 1);
  fputs("\">\n    <properties>\n", out);
  char num[32];
  const char *props[][2] = {{"run", run}, {"timeline", source}};
  for (size_t i = 0; i < 2; i++) {
    fprintf(out, "      <property name=\"%s\" value=\"", props[i][0]);
    ok = ok && s_xml(out, props[i][1], 1);
    fputs("\"/>\n", out);
  }
  snprintf(num, sizeof num, "%zu", n);
  fprintf(out, "      <property name=\"events\" value=\"%s\"/>\n", num);
  fprintf(out, "      <property name=\"processes\" value=\"%zu\"/>\n", dd_timeline_lane_count(tl));
  fprintf(out, "      <property name=\"malformed_lines\" value=\"%zu\"/>\n",
          dd_timeline_malformed(tl));
  if (n_cases == 0)
    fputs("      <property name=\"expectations\" value=\"none: the timeline has no "
          "expect.result event\"/>\n",
          out);
  fputs("    </properties>\n", out);
  dd_export_junit_stats_t written = {0};
  for (size_t i = 0; i < n_cases && ok; i++)
    ok = s_write_case(out, tl, &cases[i], run, source, &written);
  fputs("  </testsuite>\n</testsuites>\n", out);
  free(cases);
  int rc = s_close(out, ok ? 0 : DD_ENOMEM);
  if (stats) *stats = written;
  return rc;
}

/* ---- CAN traces ---- */

int dd_export_candump_to_pcap(const char *log_path, const char *pcap_path,
                              dd_export_can_stats_t *stats) {
  assert(log_path && pcap_path);
  dd_export_can_stats_t st = {0};
  char names[8][DD_CANDUMP_IFNAME_MAX];
  dd_candump_reader_t *in = NULL;
  dd_pcap_writer_t *out = NULL;
  int rc = dd_candump_reader_open(log_path, &in);
  if (rc) goto out;
  rc = dd_pcap_writer_open(pcap_path, NULL, &out);
  if (rc) goto out;
  for (;;) {
    dd_candump_record_t rec;
    rc = dd_candump_reader_next(in, &rec);
    if (rc == DD_ENOENT) {
      rc = 0;
      break;
    }
    if (rc == DD_EILSEQ) {
      if (!st.skipped++) st.first_bad = dd_candump_reader_line(in);
      continue;
    }
    if (rc) break;
    bool seen = false;
    for (size_t i = 0; i < st.ifnames && i < 8 && !seen; i++)
      seen = !strcmp(names[i], rec.ifname);
    if (!seen) {
      if (st.ifnames < 8) snprintf(names[st.ifnames], sizeof names[0], "%s", rec.ifname);
      st.ifnames++;
    }
    rc = dd_pcap_writer_write(out, &rec.frame);
    if (rc) break;
    st.frames++;
  }
out:
  dd_pcap_writer_destroy(&out);
  dd_candump_reader_destroy(&in);
  if (stats) *stats = st;
  return rc;
}

int dd_export_pcap_to_candump(const char *pcap_path, const char *log_path, const char *ifname,
                              dd_export_can_stats_t *stats) {
  assert(pcap_path && log_path);
  dd_export_can_stats_t st = {0};
  dd_pcap_reader_t *in = NULL;
  dd_candump_writer_t *out = NULL;
  int rc = dd_pcap_reader_open(pcap_path, &in);
  if (rc) goto out;
  rc = dd_candump_writer_open(log_path, NULL, &out);
  if (rc) goto out;
  for (;;) {
    dd_can_frame_t f;
    rc = dd_pcap_reader_next(in, &f);
    if (rc == DD_ENOENT) {
      rc = 0;
      break;
    }
    if (rc == DD_ENOTSUP) { /* a record of another kind (CAN XL): skipped, counted */
      st.skipped++;
      continue;
    }
    if (rc) break; /* DD_EILSEQ: truncated or damaged file */
    rc = dd_candump_writer_write(out, ifname ? ifname : "vbus0", &f);
    if (rc) break;
    st.frames++;
  }
  if (out) {
    int crc = dd_candump_writer_close(&out);
    if (!rc) rc = crc;
  }
out:
  dd_candump_writer_destroy(&out);
  dd_pcap_reader_destroy(&in);
  if (stats) *stats = st;
  return rc;
}

int dd_export_copy(const char *src, const char *dst) {
  assert(src && dst);
  FILE *in = fopen(src, "rb");
  if (!in) return -errno;
  FILE *out = fopen(dst, "wb");
  if (!out) {
    int rc = -errno;
    fclose(in);
    return rc;
  }
  char buf[65536];
  size_t n;
  int rc = 0;
  while ((n = fread(buf, 1, sizeof buf, in)) > 0)
    if (fwrite(buf, 1, n, out) != n) {
      rc = DD_EIO;
      break;
    }
  if (ferror(in) && !rc) rc = DD_EIO;
  fclose(in);
  return s_close(out, rc);
}
