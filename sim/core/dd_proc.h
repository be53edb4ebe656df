/* dd_proc: what every duodiag process shares: common options, the ZeroMQ context, the clock,
 * the event loop, the timeline publisher, the harness control channel, the readiness message and
 * clean shutdown on SIGTERM/SIGINT or on the harness's STOP command.
 *
 * Common options (parsed and removed from argv by dd_proc_new):
 *   --name ID         process id in the timeline and towards the harness (default: the role)
 *   --control EP      harness control endpoint (ROUTER); Ready is sent there, commands come back
 *   --events EP       timeline collector endpoint (SUB) that this process's XPUB connects to
 *   --timeline FILE   also append this process's events to FILE as JSON Lines
 *   --seed N          seed of the process's random source (default 1)
 *   -v, --verbose     debug logging (DD_LOG_LEVEL=error|warn|info|debug also works)
 *
 * Exit codes of every duodiag process: */
#ifndef DD_PROC_H
#define DD_PROC_H

#include <stdbool.h>
#include <stdint.h>

#include "dd_clock.h"
#include "dd_events.h"
#include "dd_loop.h"
#include "dd_rng.h"

enum {
  DD_EXIT_OK = 0,           /* stopped cleanly (SIGTERM, SIGINT, STOP command or done) */
  DD_EXIT_FAILURE = 1,      /* a runtime failure, or (for checks) a check failed */
  DD_EXIT_USAGE = 2,        /* bad usage or invalid input/configuration */
  DD_EXIT_HARNESS_LOST = 3, /* the harness went away */
};

typedef struct dd_proc dd_proc_t;
typedef struct Duodiag__Command dd_proc_command_t;

/* A command from the harness other than STOP/PING. Return 0 and optionally a malloc'd JSON text
 * in *result_json, or a negative code (reported back with its message). */
typedef int (*dd_proc_command_fn)(dd_proc_t *proc, const dd_proc_command_t *cmd,
                                  char **result_json, void *arg);

/* Parse and remove the common options from argv (argc updated); what remains is the role's own.
 * Returns 0, or DD_EXIT_USAGE-worthy DD_EINVAL after printing what was wrong. */
int dd_proc_new(const char *role, int *argc, char **argv, dd_proc_t **out);
void dd_proc_destroy(dd_proc_t **self_p);

/* True when argv held --help; the caller prints its usage plus dd_proc_common_usage(). */
bool dd_proc_help_asked(const dd_proc_t *self);
const char *dd_proc_common_usage(void);

void dd_proc_on_command(dd_proc_t *self, dd_proc_command_fn fn, void *arg);

/* Declare the process ready: Ready goes to the harness as soon as the timeline collector has
 * subscribed (so no event of this process can be lost), or at once without a collector. */
void dd_proc_ready(dd_proc_t *self);
/* Run the loop until stopped; returns an exit code (DD_EXIT_*). */
int dd_proc_run(dd_proc_t *self);
/* Ask the loop to stop with an exit code. */
void dd_proc_stop(dd_proc_t *self, int exit_code);

const char *dd_proc_name(const dd_proc_t *self);
const char *dd_proc_role(const dd_proc_t *self);
void *dd_proc_zctx(dd_proc_t *self);
dd_loop_t *dd_proc_loop(dd_proc_t *self);
dd_clock_t *dd_proc_clock(dd_proc_t *self);
dd_events_t *dd_proc_events(dd_proc_t *self);
dd_rng_t *dd_proc_rng(dd_proc_t *self);
uint64_t dd_proc_seed(const dd_proc_t *self);

#endif
