/* dd_cli_export: `duodiag export RUN_DIR --format ...`: a run folder's files in other tools'
 * formats (Perfetto trace, JUnit XML, candump log, pcap). */
#include <errno.h>
#include <libgen.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dd_candump.h"
#include "dd_cli.h"
#include "dd_err.h"
#include "dd_export.h"
#include "dd_proc.h"
#include "dd_timeline.h"

/* Declared here as well until dd_cli.h lists it with the other subcommands. */
int dd_cli_export(int argc, char **argv);

#define S_MAX_SERIES 32   /* --series options accepted */
#define S_ISSUES_SHOWN 20 /* malformed lines printed one by one */

static void s_usage(FILE *to) {
  fprintf(to,
          "usage: duodiag export RUN_DIR --format FORMAT[,FORMAT...] [options]\n"
          "\n"
          "Write a run folder's data in other tools' formats:\n"
          "  perfetto  RUN_DIR/trace.json  Chrome Trace Event JSON (ui.perfetto.dev,\n"
          "                                chrome://tracing): a process per lane, an instant\n"
          "                                per event, counters, process and request slices\n"
          "  junit     RUN_DIR/junit.xml   JUnit XML for CI: one testcase per expectation\n"
          "  candump   RUN_DIR/can.log     candump -l log, converted from can.pcap\n"
          "  pcap      RUN_DIR/can.pcap    pcap (LINKTYPE_CAN_SOCKETCAN), converted from can.log\n"
          "\n"
          "Options:\n"
          "  --format F        formats to write (repeatable or comma-separated)\n"
          "  --out FILE        write to FILE instead of the run folder (one format only)\n"
          "  --series K.FIELD  numeric field to export as a counter track (repeatable;\n"
          "                    default: can.busload.load_pct, can.busload.late_p99_us,\n"
          "                    program.progress.percent, transport.switched.rtt_ms)\n"
          "  --ifname NAME     interface name of candump lines made from pcap (default vbus0)\n"
          "\n"
          "A capture already in the run folder in the wanted format is left as it is (with\n"
          "--out it is copied). Malformed input lines are reported as FILE:LINE: message and\n"
          "skipped; the output is still written and the exit code is 2.\n"
          "Exit codes: 0 written, 1 writing failed, 2 bad usage or bad input.\n");
}

/* "--name value" or "--name=value": the value, advancing *i; NULL when this is not --name. */
static const char *s_opt(int argc, char **argv, int *i, const char *name, bool *missing) {
  size_t n = strlen(name);
  if (strncmp(argv[*i], name, n) != 0) return NULL;
  if (argv[*i][n] == '=') return argv[*i] + n + 1;
  if (argv[*i][n] != '\0') return NULL;
  if (*i + 1 >= argc) {
    *missing = true;
    return NULL;
  }
  return argv[++*i];
}

static bool s_exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

typedef struct {
  const char *run;           /* the run folder */
  const char *out;           /* --out, or NULL */
  const char *ifname;        /* --ifname, or NULL */
  const char *const *series; /* --series values */
  size_t n_series;           /* their number */
  dd_timeline_t *tl;         /* loaded on first need */
  char tl_path[4096];        /* its path */
  bool tl_failed;            /* it could not be read */
} s_ctx_t;

/* Load the timeline once; an exit code (DD_EXIT_OK when usable). */
static int s_timeline(s_ctx_t *c) {
  if (c->tl) return DD_EXIT_OK;
  if (c->tl_failed) return DD_EXIT_USAGE;
  snprintf(c->tl_path, sizeof c->tl_path, "%s/%s", c->run, DD_TIMELINE_FILE);
  dd_timeline_opts_t o = {.series = c->n_series ? c->series : NULL, .n_series = c->n_series};
  int rc = dd_timeline_load_file(c->tl_path, c->n_series ? &o : NULL, &c->tl);
  if (rc) {
    fprintf(stderr, "duodiag export: %s: %s\n", c->tl_path, dd_strerror(rc));
    c->tl_failed = true;
    return rc == DD_ENOMEM ? DD_EXIT_FAILURE : DD_EXIT_USAGE;
  }
  size_t n = dd_timeline_issue_count(c->tl);
  for (size_t i = 0; i < n && i < S_ISSUES_SHOWN; i++) {
    const dd_tl_issue_t *is = dd_timeline_issue(c->tl, i);
    fprintf(stderr, "%s:%lu: %s (line skipped)\n", c->tl_path, is->line, is->msg);
  }
  if (dd_timeline_malformed(c->tl) > S_ISSUES_SHOWN)
    fprintf(stderr, "%s: %zu more malformed line(s) skipped\n", c->tl_path,
            dd_timeline_malformed(c->tl) - S_ISSUES_SHOWN);
  return DD_EXIT_OK;
}

/* The run folder's name (its last path component). */
static void s_run_name(const char *run, char *buf, size_t size) {
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s", run);
  size_t len = strlen(tmp);
  while (len > 1 && tmp[len - 1] == '/')
    tmp[--len] = '\0';
  snprintf(buf, size, "%s", basename(tmp));
}

static int s_write_error(const char *path, int rc) {
  fprintf(stderr, "duodiag export: %s: %s\n", path, dd_strerror(rc));
  return DD_EXIT_FAILURE;
}

static int s_export_timeline(s_ctx_t *c, dd_export_format_t f, const char *dst) {
  int status = s_timeline(c);
  if (status != DD_EXIT_OK) return status;
  char name[256];
  s_run_name(c->run, name, sizeof name);
  dd_export_meta_t meta = {.run_name = name, .source = c->tl_path};
  if (f == DD_EXPORT_PERFETTO) {
    int rc = dd_export_perfetto(c->tl, &meta, dst);
    if (rc) return s_write_error(dst, rc);
    size_t points = 0;
    for (size_t i = 0; i < dd_timeline_series_count(c->tl); i++)
      points += dd_timeline_series(c->tl, i)->n;
    printf("wrote %s: %zu events, %zu processes, %zu counter points, %zu slices\n", dst,
           dd_timeline_count(c->tl), dd_timeline_lane_count(c->tl), points,
           dd_timeline_span_count(c->tl));
  } else {
    dd_export_junit_stats_t st;
    int rc = dd_export_junit(c->tl, &meta, dst, &st);
    if (rc) return s_write_error(dst, rc);
    printf("wrote %s: %zu tests, %zu failures, %zu errors, %zu skipped\n", dst, st.tests,
           st.failures, st.errors, st.skipped);
  }
  return dd_timeline_malformed(c->tl) ? DD_EXIT_USAGE : DD_EXIT_OK;
}

static int s_export_can(s_ctx_t *c, dd_export_format_t f, const char *dst, bool dst_given) {
  char same[4096], other[4096];
  bool to_log = f == DD_EXPORT_CANDUMP;
  snprintf(same, sizeof same, "%s/%s", c->run, dd_export_default_file(f));
  snprintf(other, sizeof other, "%s/%s", c->run,
           dd_export_default_file(to_log ? DD_EXPORT_PCAP : DD_EXPORT_CANDUMP));
  if (s_exists(same)) {
    if (!dst_given) {
      printf("%s: already in the run folder, left as it is\n", same);
      return DD_EXIT_OK;
    }
    int rc = dd_export_copy(same, dst);
    if (rc) return s_write_error(dst, rc);
    printf("wrote %s: copy of %s\n", dst, same);
    return DD_EXIT_OK;
  }
  if (!s_exists(other)) {
    fprintf(stderr, "duodiag export: %s: no CAN capture (neither %s nor %s)\n", c->run,
            dd_export_default_file(DD_EXPORT_CANDUMP), dd_export_default_file(DD_EXPORT_PCAP));
    return DD_EXIT_USAGE;
  }
  dd_export_can_stats_t st;
  int rc = to_log ? dd_export_pcap_to_candump(other, dst, c->ifname, &st)
                  : dd_export_candump_to_pcap(other, dst, &st);
  if (rc == DD_EILSEQ) {
    fprintf(stderr, "%s: damaged or not a %s file (%zu frames converted before)\n", other,
            to_log ? "pcap (link type 227)" : "candump", st.frames);
    return DD_EXIT_USAGE;
  }
  if (rc) {
    /* A source that cannot be opened is bad input; anything else failed on the way out. */
    if (rc == DD_ENOENT || rc == -EACCES) {
      fprintf(stderr, "duodiag export: %s: %s\n", other, dd_strerror(rc));
      return DD_EXIT_USAGE;
    }
    return s_write_error(dst, rc);
  }
  printf("wrote %s: %zu frames from %s\n", dst, st.frames, other);
  if (!to_log && st.ifnames > 1)
    fprintf(stderr, "%s: %zu interface names merged (pcap of link type 227 keeps none)\n", other,
            st.ifnames);
  if (st.skipped) {
    if (st.first_bad)
      fprintf(stderr, "%s:%lu: malformed candump line skipped (%zu in all)\n", other, st.first_bad,
              st.skipped);
    else
      fprintf(stderr, "%s: %zu record(s) of another kind skipped\n", other, st.skipped);
    return DD_EXIT_USAGE;
  }
  return DD_EXIT_OK;
}

int dd_cli_export(int argc, char **argv) {
  const char *series[S_MAX_SERIES];
  s_ctx_t c = {.series = series};
  bool want[DD_EXPORT_FORMATS] = {false};
  size_t n_formats = 0;
  for (int i = 1; i < argc; i++) {
    bool missing = false;
    const char *v;
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      s_usage(stdout);
      return DD_EXIT_OK;
    } else if ((v = s_opt(argc, argv, &i, "--format", &missing))) {
      char list[256];
      snprintf(list, sizeof list, "%s", v);
      char *save = NULL;
      for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        dd_export_format_t f;
        if (dd_export_format_parse(tok, &f) != 0) {
          fprintf(stderr,
                  "duodiag export: unknown format '%s' (perfetto, junit, candump, "
                  "pcap)\n",
                  tok);
          return DD_EXIT_USAGE;
        }
        if (!want[f]) n_formats++;
        want[f] = true;
      }
    } else if ((v = s_opt(argc, argv, &i, "--out", &missing))) {
      c.out = v;
    } else if ((v = s_opt(argc, argv, &i, "--ifname", &missing))) {
      if (!*v || strlen(v) >= DD_CANDUMP_IFNAME_MAX || strpbrk(v, " \t")) {
        fprintf(stderr, "duodiag export: --ifname '%s': want a short name without spaces\n", v);
        return DD_EXIT_USAGE;
      }
      c.ifname = v;
    } else if ((v = s_opt(argc, argv, &i, "--series", &missing))) {
      const char *dot = strrchr(v, '.');
      if (!dot || dot == v || !dot[1]) {
        fprintf(stderr,
                "duodiag export: --series '%s': want KIND.FIELD, e.g. "
                "can.busload.load_pct\n",
                v);
        return DD_EXIT_USAGE;
      }
      if (c.n_series == S_MAX_SERIES) {
        fprintf(stderr, "duodiag export: at most %d --series\n", S_MAX_SERIES);
        return DD_EXIT_USAGE;
      }
      series[c.n_series++] = v;
    } else if (missing) {
      fprintf(stderr, "duodiag export: %s needs a value\n", argv[i]);
      return DD_EXIT_USAGE;
    } else if (argv[i][0] == '-') {
      fprintf(stderr, "duodiag export: unknown option '%s' (duodiag export --help)\n", argv[i]);
      return DD_EXIT_USAGE;
    } else if (c.run) {
      fprintf(stderr, "duodiag export: one RUN_DIR only ('%s' and '%s')\n", c.run, argv[i]);
      return DD_EXIT_USAGE;
    } else {
      c.run = argv[i];
    }
  }
  if (!c.run || n_formats == 0) {
    if (c.run) fprintf(stderr, "duodiag export: --format is required\n");
    s_usage(stderr);
    return DD_EXIT_USAGE;
  }
  if (c.out && n_formats > 1) {
    fprintf(stderr, "duodiag export: --out takes one format only\n");
    return DD_EXIT_USAGE;
  }
  struct stat st;
  if (stat(c.run, &st) != 0 || !S_ISDIR(st.st_mode)) {
    fprintf(stderr, "duodiag export: %s: not a run folder\n", c.run);
    return DD_EXIT_USAGE;
  }

  int status = DD_EXIT_OK;
  for (int f = 0; f < DD_EXPORT_FORMATS; f++) {
    if (!want[f]) continue;
    char dst[4096];
    if (c.out)
      snprintf(dst, sizeof dst, "%s", c.out);
    else
      snprintf(dst, sizeof dst, "%s/%s", c.run, dd_export_default_file((dd_export_format_t)f));
    int s = f == DD_EXPORT_PERFETTO || f == DD_EXPORT_JUNIT
                ? s_export_timeline(&c, (dd_export_format_t)f, dst)
                : s_export_can(&c, (dd_export_format_t)f, dst, c.out != NULL);
    /* Report the worst: a failure to write (1) over bad input (2) over success. */
    if (s == DD_EXIT_FAILURE || (s == DD_EXIT_USAGE && status == DD_EXIT_OK)) status = s;
  }
  dd_timeline_destroy(&c.tl);
  return status;
}
