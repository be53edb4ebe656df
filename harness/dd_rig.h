/* dd_rig: a running set of duodiag processes under one harness: the run folder, the ZeroMQ
 * context, the harness loop, the control channel, the timeline collector and the supervised
 * children (spawned with the common options, waited for until Ready, stopped and reaped). */
#ifndef DD_RIG_H
#define DD_RIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dd_collector.h"
#include "dd_ctl.h"
#include "dd_loop.h"

typedef struct dd_rig dd_rig_t;

/* run_dir: created if missing; NULL makes a fresh folder under $TMPDIR. The timeline goes to
 * RUN_DIR/timeline.jsonl, each child's output to RUN_DIR/logs/NAME.log. */
/* Make a folder and its missing parents (mode 0755): 0, or a negative errno. */
int dd_rig_mkdir_p(const char *path);

int dd_rig_new(const char *run_dir, dd_rig_t **out);
/* Stops every child still running (STOP, then SIGTERM, then SIGKILL) and frees everything. */
void dd_rig_destroy(dd_rig_t **self_p);

const char *dd_rig_dir(const dd_rig_t *self);
void *dd_rig_zctx(dd_rig_t *self);
dd_loop_t *dd_rig_loop(dd_rig_t *self);
dd_ctl_t *dd_rig_ctl(dd_rig_t *self);
dd_collector_t *dd_rig_collector(dd_rig_t *self);
/* "ipc://RUN_DIR/NAME" into buf. */
const char *dd_rig_endpoint(const dd_rig_t *self, const char *name, char *buf, size_t cap);

/* Spawn duodiag-EXE as process NAME with args (NULL-terminated, may be NULL) plus the common
 * options, and wait until it is Ready. On a crash or a timeout the child's last output lines
 * are logged. Returns 0, DD_ETIMEDOUT, DD_ECHILD_FAILED or another negative code. */
int dd_rig_spawn(dd_rig_t *self, const char *name, const char *exe, const char *const *args,
                 uint64_t ready_timeout_us);

/* The child named name, or NULL. */
struct dd_child *dd_rig_child(dd_rig_t *self, const char *name);

/* Check every child: a child that exited on its own is reported (with its output tail) and
 * counted; returns the number of children that died unexpectedly. */
int dd_rig_check_children(dd_rig_t *self);

/* Stop every child (STOP command, grace, then signals); returns the number that did not exit
 * with code 0. */
int dd_rig_stop_all(dd_rig_t *self, uint64_t grace_us);

#endif
