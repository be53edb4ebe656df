/* dd_progress: the progress display of a suite: on a terminal, one line rewritten in place
 * ("[3/12] latency-spike 12.4 s  PASS 2 FAIL 0 pending 1"); elsewhere (CI logs), one plain line
 * when a run starts and one when it ends. */
#ifndef DD_PROGRESS_H
#define DD_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef struct dd_progress dd_progress_t;

/* to: where it writes (not owned); tty: a live line (else plain lines); total: runs. */
dd_progress_t *dd_progress_new(FILE *to, bool tty, size_t total);
void dd_progress_destroy(dd_progress_t **self_p);

/* Run number `index` (1-based) named name has started. */
void dd_progress_start(dd_progress_t *self, size_t index, const char *name);
/* Live figures of a running run (tty only; at most 10 redraws a second). */
void dd_progress_update(dd_progress_t *self, size_t index, const char *name, double elapsed_s,
                        size_t passed, size_t failed, size_t pending);
/* Write text (e.g. a verdict table) above the live line, which is then drawn again. */
void dd_progress_print(dd_progress_t *self, const char *text);
/* Run index ended with a verdict. */
void dd_progress_done(dd_progress_t *self, size_t index, const char *name, bool passed,
                      double duration_s);
/* Remove the live line (before the final summary). */
void dd_progress_finish(dd_progress_t *self);

/* The line itself, for tests: "[3/12] NAME 12.4 s  PASS 2 FAIL 0 pending 1". */
void dd_progress_format(char *buf, size_t cap, size_t index, size_t total, const char *name,
                        double elapsed_s, size_t passed, size_t failed, size_t pending);

#endif
