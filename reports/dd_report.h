/* dd_report: the HTML report of a suite of runs: totals, the verdict table, every expectation
 * of every run, and plots drawn by libplot's SVG plotter and inlined, so the report is one file
 * with no external assets that opens offline in any browser. */
#ifndef DD_REPORT_H
#define DD_REPORT_H

#include <stddef.h>

#define DD_REPORT_FILE "report.html"     /* the report's name inside a suite (or run) folder */
#define DD_REPORT_SUITE_FILE "suite.txt" /* the suite's run list: "VERDICT NAME RUN_DIR" lines */

typedef enum {
  DD_REPORT_UNKNOWN = 0, /* not given: read from the run folder (run.end, summary.txt) */
  DD_REPORT_PASS,        /* the run passed */
  DD_REPORT_FAIL,        /* the run failed */
  DD_REPORT_NOTRUN,      /* the run never started (suite interrupted) */
} dd_report_verdict_t;

/* One run of a suite, as the caller knows it. */
typedef struct {
  const char *name;            /* scenario (variant) name; NULL: from the run's timeline */
  const char *run_dir;         /* its run folder (required) */
  dd_report_verdict_t verdict; /* wins over the folder's; DD_REPORT_UNKNOWN: the folder's */
  double duration_s;           /* used when the folder has none (run.end); < 0: unknown */
} dd_report_run_t;

/* What a written report holds. */
typedef struct {
  size_t runs;    /* runs listed */
  size_t passed;  /* runs that passed */
  size_t failed;  /* runs that failed (or whose verdict is unknown) */
  size_t not_run; /* runs that never started */
  size_t plots;   /* plots drawn (one <svg> each) */
} dd_report_stats_t;

/* Write the report of the suite folder suite_dir (the --out folder of `duodiag run`) to
 * out_html (NULL: suite_dir/report.html). The runs are the lines of suite_dir/suite.txt;
 * without that file, suite_dir itself when it is a run folder (it holds timeline.jsonl), else
 * every folder below it that holds a timeline.jsonl. The file is written whole or not at all
 * (a temporary file renamed into place).
 * 0; DD_ENOENT (suite_dir does not exist) or DD_EINVAL (not a folder, or no run in it), with
 * err saying what was expected; -errno or DD_EIO when the report cannot be written; DD_ENOMEM.
 * stats may be NULL; err is always NUL-terminated when errcap > 0. */
int dd_report_write(const char *suite_dir, const char *out_html, dd_report_stats_t *stats,
                    char *err, size_t errcap);

/* The same for runs the caller lists (n >= 1; `duodiag run` before suite.txt exists); each
 * run's details still come from its folder. suite_dir names the suite in the report and is
 * where report.html goes when out_html is NULL. */
int dd_report_write_runs(const char *suite_dir, const dd_report_run_t *runs, size_t n,
                         const char *out_html, dd_report_stats_t *stats, char *err, size_t errcap);

/* Text for HTML (character data and quoted attribute values): & < > " ' as references, bytes
 * that are not UTF-8 and control characters other than tab and newline as U+FFFD. A malloc'd
 * string; NULL when out of memory. */
char *dd_report_html_escape(const char *s);

#endif
