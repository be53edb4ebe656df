/* dd_collector: the harness side of the timeline. It binds one SUB socket that every process's
 * XPUB connects to, and appends each event, as it arrives, to the run's timeline as one JSON
 * line, flushed per event so a crash of anything loses nothing already received. */
#ifndef DD_COLLECTOR_H
#define DD_COLLECTOR_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "duodiag.pb-c.h"

typedef struct dd_collector dd_collector_t;

/* Called for each event after it is written (the harness checks expectations from it). */
typedef void (*dd_collector_fn)(const Duodiag__Event *ev, const char *json, void *arg);

/* Bind endpoint (e.g. "ipc:///run/x/events") and open path for appending ("-" for stdout). */
int dd_collector_new(void *zctx, const char *endpoint, const char *path, dd_collector_t **out);
void dd_collector_destroy(dd_collector_t **self_p);
void dd_collector_on_event(dd_collector_t *self, dd_collector_fn fn, void *arg);

/* The SUB socket, for the loop. */
void *dd_collector_zsock(dd_collector_t *self);
/* Drain what has arrived; returns the number of events written, or a negative code. */
int dd_collector_drain(dd_collector_t *self);
/* Write an event of the harness itself through the same path. */
int dd_collector_write(dd_collector_t *self, const Duodiag__Event *ev);

uint64_t dd_collector_events(const dd_collector_t *self);
uint64_t dd_collector_rejected(const dd_collector_t *self);

#endif
