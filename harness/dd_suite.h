/* dd_suite: a suite of scenario runs: the scenario files named by arguments (files, or folders
 * searched for *.yaml), tag filter expressions, sharding across CI nodes, the jobs (every matrix
 * variant, every repeat, each with its own run folder) and their execution, N at a time, each
 * in a child process of its own. */
#ifndef DD_SUITE_H
#define DD_SUITE_H

#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "dd_run.h"
#include "dd_scenario.h"

/* ---- files ------------------------------------------------------------------------------- */

typedef struct {
  char **paths;   /* scenario files, in argument order; inside a folder sorted by path */
  size_t n;       /* how many */
} dd_suite_files_t;

/* Collect the files named by args: a file is taken as it is (it must exist); a folder is
 * searched recursively for *.yaml and *.yml (hidden entries skipped). A path met twice is kept
 * once. 0; DD_ENOENT with err set for an argument that does not exist; DD_ENOMEM. */
int dd_suite_collect(const char *const *args, size_t n, dd_suite_files_t *out, char *err,
                     size_t cap);
void dd_suite_files_clear(dd_suite_files_t *self);

/* ---- tag expressions --------------------------------------------------------------------- */

/* Grammar (words are case-sensitive tags; "and", "or", "not" are operators):
 *   expr := term (("or" | ",") term)*      term := factor ("and" factor)*
 *   factor := "not" factor | "(" expr ")" | TAG          TAG: [A-Za-z0-9_.:/-]+
 * "smoke and not slow", "transport,reflash", "(a or b) and not c". */
typedef struct dd_tags_expr dd_tags_expr_t;

/* 0 with *out, or DD_EINVAL with err saying where the expression is wrong. */
int dd_tags_parse(const char *text, dd_tags_expr_t **out, char *err, size_t cap);
void dd_tags_destroy(dd_tags_expr_t **self_p);
bool dd_tags_match(const dd_tags_expr_t *self, const char *const *tags, size_t n);

/* ---- sharding ---------------------------------------------------------------------------- */

/* "K/N" with 1 <= K <= N: 0, or DD_EINVAL. */
int dd_suite_shard_parse(const char *text, unsigned *k, unsigned *n);
/* From CI_NODE_INDEX (1-based) and CI_NODE_TOTAL when both are set and valid: true. */
bool dd_suite_shard_env(unsigned *k, unsigned *n);
/* Whether job index i (0-based, in suite order) belongs to shard k of n. */
bool dd_suite_in_shard(size_t i, unsigned k, unsigned n);

/* ---- jobs -------------------------------------------------------------------------------- */

/* The run folder of a scenario variant: OUT/<name>[/<variant>][/repeat-R] (repeat 0: no
 * repeat level). <name> is the scenario's name: made safe as a folder name; <variant> its
 * matrix values "k=v,k=v" likewise. */
void dd_suite_run_dir(const char *out, const dd_scenario_t *sc, unsigned repeat, char *buf,
                      size_t cap);

typedef struct {
  const dd_scenario_t *sc;  /* the variant */
  const char *file;         /* its file */
  unsigned repeat;          /* 1..N with --repeat N > 1; else 0 */
  char run_dir[PATH_MAX];   /* its run folder */
  int verdict;              /* after the run: DD_RUN_PASS, DD_RUN_FAIL */
  double duration_s;        /* after the run */
} dd_suite_job_t;

typedef struct {
  const char *out;                 /* OUT folder (default "runs") */
  unsigned jobs;                   /* runs at once (>= 1) */
  unsigned repeat;                 /* runs of each variant (>= 1) */
  const char *can_iface;           /* --can IFACE (NULL: as each scenario says) */
  bool can_configure;              /* --can-configure */
  const char *const *defects;      /* --defect NAMEs */
  size_t n_defects;                /* how many */
  bool seed_given;                 /* --seed given */
  uint64_t seed;                   /* its value */
  volatile sig_atomic_t *stop;     /* signal flag (may be NULL) */
  FILE *to;                        /* verdict tables and the summary (stdout) */
  bool progress;                   /* show progress (a live line on a terminal) */
  bool tty;                        /* `to` is a terminal */
} dd_suite_opts_t;

/* Run the jobs, opts->jobs at a time, each in a child process; print each run's verdict table
 * as it ends and "N passed, N failed" at the very end. Returns the number of failed runs. */
size_t dd_suite_run(dd_suite_job_t *jobs, size_t n, const dd_suite_opts_t *opts);

#endif
