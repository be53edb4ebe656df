/* dd_expect: the expectation engine: judges a run from its timeline events against a
 * scenario's expectations (expect:) and background checks (checks:), while the run goes
 * (dd_expect_feed / dd_expect_tick) and at its end (dd_expect_finish).
 *
 * Time rules (docs/SCENARIOS.md, "How expectations are judged"):
 *  - Times in a scenario are relative to t0, the run start: dd_expect_set_t0(), else the t_us
 *    of the first event fed, else the now of the first tick.
 *  - Windows are closed on both ends: an event exactly at a deadline passes, one microsecond
 *    later fails; an event exactly at not_before passes, one microsecond earlier is too early.
 *  - Events are fed in timeline order. An event that resolves an event reference (after:
 *    session.connected) is not itself a candidate for the expectation it anchors.
 *  - A deadline has passed once an event or a tick later than deadline + grace has been seen
 *    (grace, default 0, absorbs the collector's delay in real time), or at dd_expect_finish().
 *
 * Each result becomes final once (matched, timed_out or violated) and is then never changed;
 * a callback reports it at that moment so the orchestrator can write an "expect.result" event. */
#ifndef DD_EXPECT_H
#define DD_EXPECT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "dd_events.h"
#include "dd_scenario.h"

/* One timeline event. */
typedef struct {
  uint64_t t_us;        /* monotonic time stamp ("t_us") */
  const char *proc;     /* process name ("proc"); NULL taken as "" */
  const char *kind;     /* "family.what" ("kind") */
  const json_t *fields; /* JSON object holding the event's fields (may also hold t_us, proc,
                         * kind); NULL: none. Borrowed for the call only. */
} dd_ev_t;

typedef enum {
  DD_EXP_PENDING = 0, /* not decided yet */
  DD_EXP_MATCHED,     /* passed */
  DD_EXP_TIMED_OUT,   /* what was expected did not happen in time (or not at all) */
  DD_EXP_VIOLATED,    /* something forbidden happened: a never: event, a broken order, a
                       * count above max, a metric out of bounds, an event too early */
} dd_exp_state_t;

#define DD_EXPECT_TEXT_MAX 400  /* bytes of a result's text */
#define DD_EXPECT_VALUE_MAX 128 /* bytes of a result's observed value */
#define DD_EXPECT_FIELDS 10     /* entries dd_expect_result_fields() fills */

typedef struct {
  size_t index;       /* position: expectations in file order, then the enabled checks */
  const char *name;   /* expectation or check name */
  const char *type;   /* "event", "never", "order", "count", "metric", "final" or "check" */
  dd_exp_state_t state; /* verdict so far */
  int64_t observed_us; /* when the deciding event happened, relative to t0; -1: no such event */
  int64_t deadline_us; /* the deadline relative to t0; -1: none (or not known) */
  char value[DD_EXPECT_VALUE_MAX]; /* what was observed: "to=relay", "3", "140000"; "" if none */
  char text[DD_EXPECT_TEXT_MAX];   /* one line: "PASS transport.switched -> relay at 10.43 s
                                    * (deadline 11.00 s)" */
  dd_sc_loc_t loc;    /* where it is written in the scenario */
} dd_expect_result_t;

typedef struct dd_expect dd_expect_t;

/* Called once per result when it becomes final. */
typedef void (*dd_expect_result_fn)(void *arg, const dd_expect_result_t *r);

/* An engine for sc's expectations and enabled checks; sc must outlive it. 0, DD_ENOMEM, or
 * DD_EINVAL (a regular expression that does not compile: the loader rejects those). */
int dd_expect_new(const dd_scenario_t *sc, dd_expect_t **out);
void dd_expect_destroy(dd_expect_t **self_p);

void dd_expect_set_t0(dd_expect_t *self, uint64_t t0_us);
void dd_expect_set_grace(dd_expect_t *self, uint64_t grace_us);
void dd_expect_on_result(dd_expect_t *self, dd_expect_result_fn fn, void *arg);

/* One event, in timeline order. 0, or DD_EINVAL after dd_expect_finish(). */
int dd_expect_feed(dd_expect_t *self, const dd_ev_t *ev);
/* One timeline line {"t_us":..,"proc":..,"kind":..,...}. 0; DD_EILSEQ for a line that is not
 * such an object (it is ignored); DD_ENOMEM. */
int dd_expect_feed_json(dd_expect_t *self, const char *line, size_t len);
/* Time has reached now_us: deadlines before now_us - grace pass. 0, or DD_EINVAL after finish. */
int dd_expect_tick(dd_expect_t *self, uint64_t now_us);
/* The run ended at end_us: every pending result is decided. 0, or DD_EINVAL when called twice. */
int dd_expect_finish(dd_expect_t *self, uint64_t end_us);

uint64_t dd_expect_t0(const dd_expect_t *self); /* t0, or 0 while unknown */
size_t dd_expect_count(const dd_expect_t *self);
const dd_expect_result_t *dd_expect_result(const dd_expect_t *self, size_t i);
size_t dd_expect_failed(const dd_expect_t *self);  /* results timed out or violated */
size_t dd_expect_pending(const dd_expect_t *self); /* results not decided yet */
bool dd_expect_passed(const dd_expect_t *self);    /* every result matched */

const char *dd_exp_state_name(dd_exp_state_t s); /* "pending", "matched", "timed_out", "violated" */
const char *dd_exp_verdict(dd_exp_state_t s);    /* "PENDING", "PASS", "FAIL", "FAIL" */

/* The result as the fields of an "expect.result" timeline event, for
 * dd_events_emitv(events, "expect.result", out, n): name, index, type, verdict, state,
 * observed_us, deadline_us, value, text, line. out needs DD_EXPECT_FIELDS entries; strings
 * point into r. Returns the number filled. */
size_t dd_expect_result_fields(const dd_expect_result_t *r, dd_field_t *out, size_t cap);

/* A JUnit XML <testsuite> for the results (one <testcase> per result; pending ones are
 * <skipped/>), named suite; time_s is the run's duration. 0 or -errno of the write. */
int dd_expect_junit_suite(const dd_expect_t *self, FILE *to, const char *suite, double time_s);
/* A whole junit.xml with this one suite. */
int dd_expect_write_junit(const dd_expect_t *self, FILE *to, const char *suite, double time_s);

#endif
