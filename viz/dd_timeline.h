/* dd_timeline: a run's timeline.jsonl loaded into memory: events sorted by time, one lane per
 * process, kind families, verdicts and numeric series, with malformed lines counted, not fatal. */
#ifndef DD_TIMELINE_H
#define DD_TIMELINE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DD_TIMELINE_FILE "timeline.jsonl" /* the timeline's name inside a run folder */
#define DD_TIMELINE_LINE_MAX (1u << 20)   /* longer lines are reported as malformed */
#define DD_TIMELINE_ISSUES_MAX 1000       /* malformed lines kept with their message */
#define DD_TIMELINE_MSG_MAX 160           /* bytes of one issue message, NUL included */

/* Kind "expect.result" with verdict PASS/FAIL is what the harness writes today; any event with
 * a string field "verdict" is treated the same way. */
typedef enum {
  DD_TL_VERDICT_NONE = 0, /* no verdict field */
  DD_TL_VERDICT_PASS,     /* "PASS" */
  DD_TL_VERDICT_FAIL,     /* "FAIL" */
  DD_TL_VERDICT_SKIP,     /* "SKIP" or "SKIPPED" */
  DD_TL_VERDICT_OTHER,    /* any other verdict text (e.g. "ERROR") */
} dd_tl_verdict_t;

/* One event. Records are owned by the timeline and stay valid until it is destroyed. */
typedef struct {
  int64_t t_us;            /* monotonic time stamp ("t_us"), microseconds, >= 0 */
  int64_t wall_us;         /* wall-clock time stamp ("wall_us"), 0 when absent */
  uint32_t lane;           /* index of the process lane */
  uint32_t kind;           /* index into the kind table */
  uint32_t family;         /* index into the family table (kind up to its first dot) */
  unsigned long line;      /* 1-based line number in the file */
  dd_tl_verdict_t verdict; /* from a string field "verdict" */
  bool interim;            /* a reply that is not the final one (UDS NRC 0x78) */
  const char *json;        /* the line as read (NUL-terminated): all fields, on demand */
} dd_tl_event_t;

/* Event pairs that give a duration. */
typedef enum {
  DD_TL_SPAN_PROCESS,     /* proc.started -> proc.stopped of one process */
  DD_TL_SPAN_STARTUP,     /* proc.started -> proc.ready of one process */
  DD_TL_SPAN_TRANSACTION, /* P.request -> P.response of one process, first in first out;
                           * interim responses do not close it */
} dd_tl_span_type_t;

typedef struct {
  dd_tl_span_type_t type; /* what pairs the two events */
  size_t begin;           /* index of the opening event */
  size_t end;             /* index of the closing event */
} dd_tl_span_t;

/* The numeric values of one field of one kind from one process, in time order. */
typedef struct {
  const char *name;    /* "kind.field", e.g. "can.busload.load_pct" */
  const char *kind;    /* kind part */
  const char *field;   /* field part */
  uint32_t lane;       /* process the values come from */
  size_t n;            /* number of points */
  const int64_t *t_us; /* time of each point */
  const double *value; /* value of each point */
  const size_t *event; /* index of the event each point comes from */
  double min;          /* smallest value (0 when n == 0) */
  double max;          /* largest value (0 when n == 0) */
} dd_tl_series_t;

/* A process lane. */
typedef struct {
  const char *name; /* process id ("proc") */
  size_t n_events;  /* events in this lane */
  int64_t first_us; /* time of its first event */
  int64_t last_us;  /* time of its last event */
} dd_tl_lane_t;

/* A malformed line that was skipped. */
typedef struct {
  unsigned long line;            /* 1-based line number */
  char msg[DD_TIMELINE_MSG_MAX]; /* what was wrong */
} dd_tl_issue_t;

typedef struct {
  const char *const *series; /* "kind.field" specs to collect as numeric series */
  size_t n_series;           /* number of specs; 0 with series NULL: dd_timeline_default_series */
} dd_timeline_opts_t;

typedef struct dd_timeline dd_timeline_t;

/* The series collected when no opts are given: can.busload.load_pct,
 * can.busload.late_p99_us, program.progress.percent, transport.switched.rtt_ms. */
extern const char *const dd_timeline_default_series[];
extern const size_t dd_timeline_default_series_n;

/* Load from memory (the bytes need no NUL terminator). Malformed lines are skipped and kept as
 * issues; the load itself fails only for DD_ENOMEM or DD_EINVAL (a series spec without a dot).
 * opts may be NULL (default series). */
int dd_timeline_load_mem(const char *data, size_t len, const dd_timeline_opts_t *opts,
                         dd_timeline_t **out);
/* Load a file: 0, or -errno when it cannot be opened or read, or as dd_timeline_load_mem. */
int dd_timeline_load_file(const char *path, const dd_timeline_opts_t *opts, dd_timeline_t **out);
void dd_timeline_destroy(dd_timeline_t **self_p);

/* Where to find the timeline for a path given by a user: a run folder (its timeline.jsonl) or
 * the timeline file itself. Writes the file path to buf; DD_ENAMETOOLONG when it does not fit. */
int dd_timeline_path(const char *run, char *buf, size_t size);

/* ---- events ---- */
size_t dd_timeline_count(const dd_timeline_t *self);
const dd_tl_event_t *dd_timeline_event(const dd_timeline_t *self, size_t i);
/* Index of the first event with t_us >= t (dd_timeline_count when none). */
size_t dd_timeline_lower_bound(const dd_timeline_t *self, int64_t t_us);
/* The event's whole JSON object, parsed again from its line: a new reference (json_decref it),
 * NULL only when out of memory. */
json_t *dd_timeline_event_object(const dd_timeline_t *self, size_t i);
/* Index of the event read from file line `line` (1-based); DD_ENOENT when no event has it. */
int dd_timeline_find_line(const dd_timeline_t *self, unsigned long line, size_t *index);
int64_t dd_timeline_first_us(const dd_timeline_t *self); /* 0 when empty */
int64_t dd_timeline_last_us(const dd_timeline_t *self);  /* 0 when empty */

/* ---- tables ---- */
size_t dd_timeline_lane_count(const dd_timeline_t *self);
const dd_tl_lane_t *dd_timeline_lane(const dd_timeline_t *self, size_t i);
size_t dd_timeline_kind_count(const dd_timeline_t *self);
const char *dd_timeline_kind_name(const dd_timeline_t *self, size_t i);
size_t dd_timeline_family_count(const dd_timeline_t *self);
const char *dd_timeline_family_name(const dd_timeline_t *self, size_t i);
size_t dd_timeline_series_count(const dd_timeline_t *self);
const dd_tl_series_t *dd_timeline_series(const dd_timeline_t *self, size_t i);

/* ---- spans (in order of their opening event; the longer first for one opening event) ---- */
size_t dd_timeline_span_count(const dd_timeline_t *self);
const dd_tl_span_t *dd_timeline_span(const dd_timeline_t *self, size_t i);

/* ---- verdicts and issues ---- */
/* Number of events with the given verdict (DD_TL_VERDICT_NONE: events without one). */
size_t dd_timeline_verdicts(const dd_timeline_t *self, dd_tl_verdict_t v);
/* Lines skipped as malformed (all of them, even past DD_TIMELINE_ISSUES_MAX). */
size_t dd_timeline_malformed(const dd_timeline_t *self);
/* The first min(malformed, DD_TIMELINE_ISSUES_MAX) issues, in line order. */
size_t dd_timeline_issue_count(const dd_timeline_t *self);
const dd_tl_issue_t *dd_timeline_issue(const dd_timeline_t *self, size_t i);

/* The family part of a kind ("can.busload" -> "can"), copied into buf (truncated to fit). */
void dd_timeline_family_of(const char *kind, char *buf, size_t size);
/* The verdict a text names ("PASS", "FAIL", ...); DD_TL_VERDICT_OTHER for any other text. */
dd_tl_verdict_t dd_timeline_verdict_parse(const char *text);
const char *dd_timeline_verdict_name(dd_tl_verdict_t v);

#endif
