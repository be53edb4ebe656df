/* dd_events: a process's timeline publisher. Each event is (monotonic time, wall time, process,
 * kind, typed fields) and leaves on the process's own XPUB socket, which connects to the
 * harness's collector. Nothing is lost at start-up: events wait in order until the collector's
 * subscription has arrived. Without a collector, events can go straight to a JSON Lines file. */
#ifndef DD_EVENTS_H
#define DD_EVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dd_clock.h"

typedef enum { DD_FT_END, DD_FT_INT, DD_FT_DBL, DD_FT_STR, DD_FT_BOOL } dd_ftype_t;

typedef struct {
  const char *key;  /* field name */
  dd_ftype_t type;  /* which member holds the value */
  union {
    int64_t i;      /* DD_FT_INT */
    double d;       /* DD_FT_DBL */
    const char *s;  /* DD_FT_STR */
    bool b;         /* DD_FT_BOOL */
  };
} dd_field_t;

/* Field constructors for dd_events_emit's variable argument list, which ends with DD_END. */
#define DD_I(k, v) ((dd_field_t){.key = (k), .type = DD_FT_INT, .i = (int64_t)(v)})
#define DD_D(k, v) ((dd_field_t){.key = (k), .type = DD_FT_DBL, .d = (double)(v)})
#define DD_S(k, v) ((dd_field_t){.key = (k), .type = DD_FT_STR, .s = (v)})
#define DD_B(k, v) ((dd_field_t){.key = (k), .type = DD_FT_BOOL, .b = (v)})
#define DD_END ((dd_field_t){.key = NULL, .type = DD_FT_END})

#define DD_EVENTS_MAX_FIELDS 32

typedef struct dd_events dd_events_t;

/* proc: process id written into every event; clock: not owned. endpoint: the collector's SUB
 * address to connect to (NULL: none). zctx: ZeroMQ context (needed with an endpoint). */
int dd_events_new(void *zctx, const char *proc, dd_clock_t *clock, const char *endpoint,
                  dd_events_t **out);
void dd_events_destroy(dd_events_t **self_p);

/* Also (or only) append every event as one JSON line to path, flushed per event. */
int dd_events_open_file(dd_events_t *self, const char *path);
/* Echo every event as a human log line at debug level. */
void dd_events_set_echo(dd_events_t *self, bool echo);

/* The XPUB socket, for the loop: input on it is the collector's subscription. NULL without an
 * endpoint. */
void *dd_events_zsock(dd_events_t *self);
/* Handle input on the XPUB socket; returns true once the collector has subscribed. */
bool dd_events_on_input(dd_events_t *self);
bool dd_events_connected(const dd_events_t *self);

/* Publish one event: fields are dd_field_t values ending with DD_END. */
int dd_events_emit(dd_events_t *self, const char *kind, ...);
int dd_events_emitv(dd_events_t *self, const char *kind, const dd_field_t *fields, size_t n);

/* Events published so far, and events waiting for the subscription. */
uint64_t dd_events_count(const dd_events_t *self);
size_t dd_events_backlog(const dd_events_t *self);

#endif
