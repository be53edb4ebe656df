/* dd_run: one run of one scenario variant: its run folder, the processes of its parties and
 * links (spawned, waited for, supervised, stopped), its timeline steps at their times, its
 * expectations judged live from the collected events, and its verdict files (summary.txt,
 * junit.xml, the timeline, the CAN traces, a copy of the scenario).
 *
 * Process names in a run (the "proc" of their events, and what kill:/restart: name): bus,
 * vehicle, cloud, relay, service, second, terminal (the first terminal; others "terminal-ID"),
 * first_device, and one netem process per link named "link-NAME" (party and link names overlap:
 * "relay", "service", "second"); the link's own events carry link: NAME. The harness writes its
 * own events as proc "harness": run.start, scenario.step, scenario.mark, expect.result, run.end. */
#ifndef DD_RUN_H
#define DD_RUN_H

#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "dd_scenario.h"

/* Live figures of a run, for a progress display. */
typedef struct {
  const char *name;    /* scenario (variant) name */
  double elapsed_s;    /* since t0 (0 while starting) */
  size_t passed;       /* expectations matched so far */
  size_t failed;       /* expectations failed so far */
  size_t pending;      /* expectations not decided yet */
} dd_run_status_t;

typedef void (*dd_run_status_fn)(void *arg, const dd_run_status_t *st);

typedef struct {
  const char *run_dir;             /* the run folder (created); required */
  const char *scenario_file;       /* copied into the run folder (NULL: sc->file) */
  const char *can_iface;           /* --can: the bus is this SocketCAN interface (HIL), NULL:
                                      as the scenario says */
  bool can_configure;              /* --can-configure: set its bit rates through libsocketcan */
  const char *const *defects;      /* --defect NAMEs planted in the first device */
  size_t n_defects;                /* how many */
  bool seed_given;                 /* seed overrides the scenario's seed */
  uint64_t seed;                   /* the seed */
  unsigned repeat;                 /* repeat number (1..), 0: not repeated; seeds vary with it */
  volatile sig_atomic_t *stop;     /* set by a signal handler: end the run now (may be NULL) */
  dd_run_status_fn status;         /* called about 5 times a second while running (may be NULL) */
  void *status_arg;                /* its argument */
  uint64_t time_margin_us;         /* added to the scenario's length for the hard limit (30 s) */
} dd_run_opts_t;

enum { DD_RUN_PASS = 0, DD_RUN_FAIL = 1 };

typedef struct {
  int verdict;            /* DD_RUN_PASS or DD_RUN_FAIL */
  size_t n_expect;        /* expectation and check results */
  size_t n_passed;        /* matched */
  size_t n_failed;        /* timed out or violated */
  double duration_s;      /* from the first spawn to the end */
  bool interrupted;       /* ended by a signal */
  char reason[1024];      /* why the run failed outside its expectations ("" if not) */
} dd_run_result_t;

/* Run sc with the options; fills *res and writes RUN_DIR/summary.txt and junit.xml. Returns 0
 * when the run took place (its verdict is in res), or a negative code when the run folder
 * could not be made. */
int dd_run_scenario(const dd_scenario_t *sc, const dd_run_opts_t *opts, dd_run_result_t *res);

/* A name made safe as one folder name component: [A-Za-z0-9._-], others become '-'. */
void dd_run_slug(const char *name, char *buf, size_t cap);

#endif
