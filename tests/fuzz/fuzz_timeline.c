/* fuzz_timeline: arbitrary bytes as a timeline.jsonl: the loader never fails on input (only on
 * memory), and the model it builds is consistent: events sorted, indices in range, every event's
 * line parses back, series in time order, spans inside one process and forwards in time. */
#include <stdlib.h>
#include <string.h>

#include "dd_err.h"
#include "dd_fuzz.h"
#include "dd_timeline.h"

static void s_check(const dd_timeline_t *tl, size_t size) {
  size_t n = dd_timeline_count(tl);
  size_t lanes = dd_timeline_lane_count(tl);
  size_t per_lane_total = 0;
  for (size_t l = 0; l < lanes; l++)
    per_lane_total += dd_timeline_lane(tl, l)->n_events;
  if (per_lane_total != n) abort();
  size_t verdicts = 0;
  for (int v = DD_TL_VERDICT_NONE; v <= DD_TL_VERDICT_OTHER; v++)
    verdicts += dd_timeline_verdicts(tl, (dd_tl_verdict_t)v);
  if (verdicts != n) abort();
  for (size_t i = 0; i < n; i++) {
    const dd_tl_event_t *e = dd_timeline_event(tl, i);
    if (e->t_us < 0 || e->line == 0 || e->line > size + 1) abort();
    if (i > 0) {
      const dd_tl_event_t *p = dd_timeline_event(tl, i - 1);
      if (p->t_us > e->t_us || (p->t_us == e->t_us && p->line >= e->line)) abort();
    }
    if (e->lane >= lanes || e->kind >= dd_timeline_kind_count(tl) ||
        e->family >= dd_timeline_family_count(tl))
      abort();
    json_t *o = dd_timeline_event_object(tl, i);
    if (!o) abort();
    if (json_integer_value(json_object_get(o, "t_us")) != e->t_us) abort();
    if (strcmp(json_string_value(json_object_get(o, "proc")), dd_timeline_lane(tl, e->lane)->name))
      abort();
    if (strcmp(json_string_value(json_object_get(o, "kind")), dd_timeline_kind_name(tl, e->kind)))
      abort();
    json_decref(o);
  }
  for (size_t k = 0; k < dd_timeline_series_count(tl); k++) {
    const dd_tl_series_t *s = dd_timeline_series(tl, k);
    if (s->n == 0 || s->lane >= lanes) abort();
    for (size_t j = 0; j < s->n; j++) {
      if (s->event[j] >= n || dd_timeline_event(tl, s->event[j])->t_us != s->t_us[j]) abort();
      if (j && s->event[j] <= s->event[j - 1]) abort();
      if (s->value[j] < s->min || s->value[j] > s->max) abort();
    }
  }
  for (size_t k = 0; k < dd_timeline_span_count(tl); k++) {
    const dd_tl_span_t *sp = dd_timeline_span(tl, k);
    if (sp->begin >= sp->end || sp->end >= n) abort();
    if (dd_timeline_event(tl, sp->begin)->lane != dd_timeline_event(tl, sp->end)->lane) abort();
  }
  unsigned long last = 0;
  for (size_t i = 0; i < dd_timeline_issue_count(tl); i++) {
    const dd_tl_issue_t *is = dd_timeline_issue(tl, i);
    if (is->line <= last || !is->msg[0]) abort();
    last = is->line;
  }
  if (dd_timeline_issue_count(tl) > dd_timeline_malformed(tl)) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  dd_timeline_t *tl = NULL;
  int rc = dd_timeline_load_mem((const char *)data, size, NULL, &tl);
  if (rc == DD_ENOMEM) return 0;
  if (rc != 0 || !tl) abort();
  s_check(tl, size);
  dd_timeline_destroy(&tl);
  /* Again with a series spec that matches anything numeric named "v" of kind "k". */
  const char *spec[] = {"k.v", "can.busload.load_pct"};
  dd_timeline_opts_t o = {.series = spec, .n_series = 2};
  rc = dd_timeline_load_mem((const char *)data, size, &o, &tl);
  if (rc == DD_ENOMEM) return 0;
  if (rc != 0 || !tl) abort();
  s_check(tl, size);
  dd_timeline_destroy(&tl);
  return 0;
}
