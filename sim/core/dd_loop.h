/* dd_loop: the one event loop of a process. It waits on ZeroMQ sockets and plain fds, and on
 * timers with absolute microsecond deadlines (a timerfd gives sub-millisecond wake-ups, which
 * zmq_poll's whole-millisecond timeout cannot). The loop is the only place a process waits, and
 * every wait is "until the next deadline or until input arrives", so virtual time fits later. */
#ifndef DD_LOOP_H
#define DD_LOOP_H

#include <stdbool.h>
#include <stdint.h>

#include "dd_clock.h"

typedef struct dd_loop dd_loop_t;

/* A reader is called when its socket or fd has input. zsock is the ZeroMQ socket (NULL for a
 * plain fd) and fd the fd (-1 for a ZeroMQ socket). Return 0 to go on, or a negative code to stop
 * the loop with that code. */
typedef int (*dd_loop_reader_fn)(dd_loop_t *loop, void *zsock, int fd, void *arg);
/* A timer is called once its deadline has passed; same return convention. */
typedef int (*dd_loop_timer_fn)(dd_loop_t *loop, int timer_id, void *arg);

/* The loop reads the clock it is given (not owned; must outlive the loop). */
dd_loop_t *dd_loop_new(dd_clock_t *clock);
void dd_loop_destroy(dd_loop_t **self_p);

int dd_loop_add_zsock(dd_loop_t *self, void *zsock, dd_loop_reader_fn fn, void *arg);
int dd_loop_add_fd(dd_loop_t *self, int fd, dd_loop_reader_fn fn, void *arg);
/* Removing is safe from inside any handler, including the reader being removed. */
void dd_loop_remove_zsock(dd_loop_t *self, void *zsock);
void dd_loop_remove_fd(dd_loop_t *self, int fd);

/* Timers: one-shot at an absolute deadline, one-shot after a delay from the loop's "now", or
 * periodic on an absolute grid (start + k * interval, so periodic timers do not drift).
 * Return a timer id (> 0) or a negative code. Timers due at the same instant run in the order
 * they were created. */
int dd_loop_timer_at(dd_loop_t *self, uint64_t deadline_us, dd_loop_timer_fn fn, void *arg);
int dd_loop_timer_after(dd_loop_t *self, uint64_t delay_us, dd_loop_timer_fn fn, void *arg);
int dd_loop_timer_every(dd_loop_t *self, uint64_t interval_us, dd_loop_timer_fn fn, void *arg);
/* Cancelling an unknown or fired timer is a no-op; safe from inside handlers. */
void dd_loop_timer_cancel(dd_loop_t *self, int timer_id);
/* Move a pending timer to a new absolute deadline; returns DD_ENOENT if it is gone. */
int dd_loop_timer_move(dd_loop_t *self, int timer_id, uint64_t deadline_us);

/* A timer kept at a moving deadline, e.g. the next deadline of a sans-I/O core. */
typedef struct {
  int id;      /* timer id, 0 when none */
  uint64_t at; /* its deadline */
} dd_loop_deadline_t;

/* Make d fire fn at deadline (never earlier than the pass's "now"): arms, moves or keeps the
 * timer; DD_NEVER cancels it. A fired timer is simply armed again on the next call. */
void dd_loop_deadline_set(dd_loop_t *self, dd_loop_deadline_t *d, uint64_t deadline,
                          dd_loop_timer_fn fn, void *arg);

/* The loop's "now": read once per pass (before readers run) so all handlers of a pass agree. */
uint64_t dd_loop_now(const dd_loop_t *self);
dd_clock_t *dd_loop_clock(dd_loop_t *self);
/* Earliest pending deadline, or DD_NEVER. */
uint64_t dd_loop_next_deadline(const dd_loop_t *self);

/* Run exactly one iteration: wait for input or the next deadline, but at most max_wait_us
 * (0 = do not block; DD_NEVER = no bound), then run the ready readers and every timer that is
 * due. With a manual clock the wait is bounded only by input and max_wait_us, and timers fire
 * when the clock has been moved past them. Returns 0, or the stop code. */
int dd_loop_step(dd_loop_t *self, uint64_t max_wait_us);
/* Step until dd_loop_stop() or a handler returns a negative code; returns 0 after a stop, or
 * the handler's code. */
int dd_loop_run(dd_loop_t *self);
void dd_loop_stop(dd_loop_t *self);

/* Counters for tests and benchmarks. */
typedef struct {
  uint64_t passes;          /* iterations */
  uint64_t timers_fired;    /* timer callbacks run */
  uint64_t reader_calls;    /* reader callbacks run */
} dd_loop_stats_t;
dd_loop_stats_t dd_loop_stats(const dd_loop_t *self);

#endif
