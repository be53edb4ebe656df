/* fuzz_scenario: the scenario loader on arbitrary bytes. Whatever loads is pushed through the
 * rest of the model's consumers (step and link JSON, the expectation engine with events made
 * from the scenario's own patterns); whatever does not load must say why, with a place. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_err.h"
#include "dd_expect.h"
#include "dd_fuzz.h"
#include "dd_scenario.h"

/* Feed one event of pattern p's kind and process at time t. */
static void s_feed(dd_expect_t *ex, const dd_sc_pattern_t *p, uint64_t t) {
  if (!p->kind) return;
  json_t *fields = json_object();
  if (!fields) return;
  /* Give each condition's field its first operand, so some conditions hold. */
  for (size_t i = 0; i < p->n_match; i++) {
    const dd_sc_value_t *v = p->match[i].op == DD_SC_OP_IN && p->match[i].n_set ? &p->match[i].set[0] : &p->match[i].v[0];
    json_t *x = v->is_int ? json_integer(v->i) : v->is_num ? json_real(v->num) : json_string(v->text ? v->text : "");
    if (x) json_object_set_new(fields, p->match[i].field ? p->match[i].field : "v", x);
  }
  dd_ev_t ev = {.t_us = t, .proc = p->proc, .kind = p->kind, .fields = fields};
  if (dd_expect_feed(ex, &ev) != 0) abort();
  json_decref(fields);
}

static void s_exercise(const dd_scenario_t *sc) {
  for (size_t i = 0; i < sc->n_steps; i++) {
    char *j = dd_sc_step_json(sc, &sc->steps[i]);
    if (!j) abort();
    free(j);
    if (sc->steps[i].action != DD_SC_ACT_LINK) continue;
    for (size_t c = 0; c < sc->steps[i].link.n_changes; c++)
      for (size_t o = 0; o < sc->steps[i].link.changes[c].n_ops; o++) {
        char *lj = dd_sc_link_op_json(&sc->steps[i].link.changes[c].ops[o]);
        if (!lj) abort();
        free(lj);
      }
  }
  dd_expect_t *ex;
  int rc = dd_expect_new(sc, &ex);
  if (rc == DD_EINVAL) return; /* a pattern this libc's regcomp takes apart differently */
  if (rc != 0) abort();
  dd_expect_set_t0(ex, 1000);
  uint64_t t = 1000;
  for (size_t i = 0; i < sc->n_steps; i++)
    if (sc->steps[i].when.kind == DD_SC_REF_EVENT) s_feed(ex, &sc->steps[i].when.event, t += 1000);
  for (size_t i = 0; i < sc->n_expects; i++) {
    const dd_sc_expect_t *e = &sc->expects[i];
    if (e->from.kind == DD_SC_REF_EVENT) s_feed(ex, &e->from.event, t += 1000);
    if (e->kind == DD_SC_EX_ORDER)
      for (size_t k = 0; k < e->n_order; k++)
        s_feed(ex, &e->order[k], t += 1000);
    else
      s_feed(ex, &e->event, t += 1000);
    if (dd_expect_tick(ex, t + 500) != 0) abort();
  }
  if (dd_expect_finish(ex, t + 1000000) != 0) abort();
  if (dd_expect_pending(ex) != 0) abort(); /* the end decides everything */
  for (size_t i = 0; i < dd_expect_count(ex); i++) {
    const dd_expect_result_t *r = dd_expect_result(ex, i);
    if (!r->text[0] || r->state == DD_EXP_PENDING) abort();
  }
  dd_expect_destroy(&ex);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  dd_sc_diags_t *diags = dd_sc_diags_new();
  if (!diags) return 0;
  dd_scenario_opts_t o = {.no_file_checks = true, .root = "/nonexistent"};
  dd_scenario_list_t *list = NULL;
  int rc = dd_scenario_load_mem("fuzz.yaml", (const char *)data, size, &o, &list, diags);
  size_t n = dd_sc_diags_count(diags);
  if (rc == 0) {
    if (n != 0 || !list || dd_scenario_list_count(list) == 0) abort();
    for (size_t i = 0; i < dd_scenario_list_count(list); i++)
      s_exercise(dd_scenario_list_get(list, i));
  } else if (rc == DD_ESCENARIO) {
    if (n == 0 || list) abort();
    for (size_t i = 0; i < n; i++) {
      const dd_sc_diag_t *d = dd_sc_diags_get(diags, i);
      if (!d->msg[0] || d->line < 0 || d->col < 0) abort();
    }
  } else if (rc != DD_ENOMEM) {
    abort();
  }
  dd_scenario_list_destroy(&list);
  dd_sc_diags_destroy(&diags);
  return 0;
}
