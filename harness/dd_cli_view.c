/* dd_cli_view: `duodiag view RUN_DIR`: the timeline viewer, in a window or as a headless PNG. */
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_cli.h"
#include "dd_err.h"
#include "dd_proc.h"
#include "dd_timeline.h"
#include "dd_viewer.h"

/* Declared here as well until dd_cli.h lists it with the other subcommands. */
int dd_cli_view(int argc, char **argv);

#define S_MAX_SERIES 32   /* --series options accepted */
#define S_ISSUES_SHOWN 20 /* malformed lines printed one by one */

static void s_usage(FILE *to) {
  fprintf(to,
          "usage: duodiag view RUN_DIR [options]\n"
          "\n"
          "Show a run's timeline (RUN_DIR/timeline.jsonl, or a timeline file given directly):\n"
          "a lane per process, events coloured by kind family, numeric series as charts,\n"
          "expectation verdicts as diamonds, the fields of a clicked event in a side panel.\n"
          "\n"
          "Options:\n"
          "  --screenshot FILE.png  render one frame headless into FILE.png and exit\n"
          "                         (no display needed; the first failed expectation is\n"
          "                         selected unless --select says otherwise)\n"
          "  --size WxH             window or picture size (default %dx%d)\n"
          "  --series KIND.FIELD    plot this numeric field as a chart (repeatable; default:\n"
          "                         can.busload.load_pct, can.busload.late_p99_us,\n"
          "                         program.progress.percent, transport.switched.rtt_ms)\n"
          "  --select LINE          select the event read from timeline line LINE (0: none)\n"
          "  --window START:END     show START..END seconds after the first event\n"
          "  --font FILE.ttf        font (default: $DD_FONT, then the usual font folders)\n"
          "\n"
          "Keys: wheel or +/- zoom, drag or left/right pan, up/down scroll the lanes,\n"
          "f fit all, click an event for its fields, Esc clear, q quit.\n"
          "\n"
          "Malformed timeline lines are reported as FILE:LINE: message, skipped, and counted\n"
          "in the status bar.\n"
          "Exit codes: 0 shown or saved, 1 rendering or saving failed (or no display),\n"
          "2 bad usage or unreadable timeline.\n",
          DD_VIEWER_WIDTH, DD_VIEWER_HEIGHT);
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

/* The run's name for the title: the folder's last component (the parent's for a file). */
static void s_run_name(const char *run, const char *timeline, char *buf, size_t size) {
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s", strcmp(run, timeline) ? run : timeline);
  size_t len = strlen(tmp);
  while (len > 1 && tmp[len - 1] == '/')
    tmp[--len] = '\0';
  if (!strcmp(run, timeline)) snprintf(tmp, sizeof tmp, "%s", dirname(tmp));
  char *base = basename(tmp);
  snprintf(buf, size, "%s", !strcmp(base, ".") || !strcmp(base, "/") ? "timeline" : base);
}

static void s_report_issues(const dd_timeline_t *tl, const char *path) {
  size_t n = dd_timeline_issue_count(tl);
  for (size_t i = 0; i < n && i < S_ISSUES_SHOWN; i++) {
    const dd_tl_issue_t *is = dd_timeline_issue(tl, i);
    fprintf(stderr, "%s:%lu: %s (line skipped)\n", path, is->line, is->msg);
  }
  if (dd_timeline_malformed(tl) > S_ISSUES_SHOWN)
    fprintf(stderr, "%s: %zu more malformed line(s) skipped\n", path,
            dd_timeline_malformed(tl) - S_ISSUES_SHOWN);
}

int dd_cli_view(int argc, char **argv) {
  const char *run = NULL, *shot = NULL, *font = NULL, *window = NULL;
  const char *series[S_MAX_SERIES];
  size_t n_series = 0;
  int width = 0, height = 0;
  long select_line = -1;
  for (int i = 1; i < argc; i++) {
    bool missing = false;
    const char *v;
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      s_usage(stdout);
      return DD_EXIT_OK;
    } else if ((v = s_opt(argc, argv, &i, "--screenshot", &missing))) {
      shot = v;
    } else if ((v = s_opt(argc, argv, &i, "--font", &missing))) {
      font = v;
    } else if ((v = s_opt(argc, argv, &i, "--window", &missing))) {
      window = v;
    } else if ((v = s_opt(argc, argv, &i, "--size", &missing))) {
      char x, end;
      if (sscanf(v, "%d%c%d%c", &width, &x, &height, &end) != 3 || (x != 'x' && x != 'X') ||
          width < 640 || height < 360 || width > 16384 || height > 16384) {
        fprintf(stderr, "duodiag view: --size '%s': want WxH, at least 640x360\n", v);
        return DD_EXIT_USAGE;
      }
    } else if ((v = s_opt(argc, argv, &i, "--series", &missing))) {
      const char *dot = strrchr(v, '.');
      if (!dot || dot == v || !dot[1]) {
        fprintf(stderr,
                "duodiag view: --series '%s': want KIND.FIELD, e.g. "
                "can.busload.load_pct\n",
                v);
        return DD_EXIT_USAGE;
      }
      if (n_series == S_MAX_SERIES) {
        fprintf(stderr, "duodiag view: at most %d --series\n", S_MAX_SERIES);
        return DD_EXIT_USAGE;
      }
      series[n_series++] = v;
    } else if ((v = s_opt(argc, argv, &i, "--select", &missing))) {
      char *end;
      errno = 0;
      select_line = strtol(v, &end, 10);
      if (errno || *end || end == v || select_line < 0) {
        fprintf(stderr, "duodiag view: --select '%s': want a line number\n", v);
        return DD_EXIT_USAGE;
      }
    } else if (missing) {
      fprintf(stderr, "duodiag view: %s needs a value\n", argv[i]);
      return DD_EXIT_USAGE;
    } else if (argv[i][0] == '-') {
      fprintf(stderr, "duodiag view: unknown option '%s' (duodiag view --help)\n", argv[i]);
      return DD_EXIT_USAGE;
    } else if (run) {
      fprintf(stderr, "duodiag view: one RUN_DIR only ('%s' and '%s')\n", run, argv[i]);
      return DD_EXIT_USAGE;
    } else {
      run = argv[i];
    }
  }
  if (!run) {
    s_usage(stderr);
    return DD_EXIT_USAGE;
  }
  double w0 = 0, w1 = 0;
  if (window) {
    char colon, end;
    if (sscanf(window, "%lf%c%lf%c", &w0, &colon, &w1, &end) != 3 || colon != ':' || !(w1 > w0)) {
      fprintf(stderr, "duodiag view: --window '%s': want START:END in seconds, START < END\n",
              window);
      return DD_EXIT_USAGE;
    }
  }

  char path[4096];
  if (dd_timeline_path(run, path, sizeof path) != 0) {
    fprintf(stderr, "duodiag view: %s: path too long\n", run);
    return DD_EXIT_USAGE;
  }
  dd_timeline_opts_t topts = {.series = n_series ? series : NULL, .n_series = n_series};
  dd_timeline_t *tl = NULL;
  int rc = dd_timeline_load_file(path, n_series ? &topts : NULL, &tl);
  if (rc) {
    fprintf(stderr, "duodiag view: %s: %s\n", path, dd_strerror(rc));
    return rc == DD_ENOMEM ? DD_EXIT_FAILURE : DD_EXIT_USAGE;
  }
  s_report_issues(tl, path);

  int status = DD_EXIT_OK;
  char name[256], err[300];
  s_run_name(run, path, name, sizeof name);
  dd_viewer_opts_t vopts = {
      .width = width, .height = height, .font_path = font, .title = name, .subtitle = path};
  dd_viewer_t *v = NULL;
  rc = dd_viewer_new(tl, &vopts, &v, err, sizeof err);
  if (rc) {
    fprintf(stderr, "duodiag view: %s\n", err);
    status = rc == DD_ENOENT && font ? DD_EXIT_USAGE : DD_EXIT_FAILURE;
    goto out_timeline;
  }
  if (window) dd_viewer_set_window(v, w0 * 1e6, w1 * 1e6);
  if (select_line > 0) {
    size_t idx;
    if (dd_timeline_find_line(tl, (unsigned long)select_line, &idx) != 0) {
      fprintf(stderr, "%s:%ld: no event on this line (--select)\n", path, select_line);
      status = DD_EXIT_USAGE;
      goto out_viewer;
    }
    dd_viewer_select(v, (long)idx);
  } else if (select_line < 0 && shot) {
    /* A screenshot shows the first failure's details when there is one. */
    for (size_t i = 0; i < dd_timeline_count(tl); i++) {
      dd_tl_verdict_t vd = dd_timeline_event(tl, i)->verdict;
      if (vd == DD_TL_VERDICT_FAIL || vd == DD_TL_VERDICT_OTHER) {
        dd_viewer_select(v, (long)i);
        break;
      }
    }
  }
  if (shot) {
    rc = dd_viewer_screenshot(v, shot);
    if (rc) {
      fprintf(stderr, "duodiag view: %s: %s\n", shot, dd_viewer_error(v));
      status = DD_EXIT_FAILURE;
    } else {
      printf("%s: %zu events, %zu processes, %zu malformed line(s) skipped\n", shot,
             dd_timeline_count(tl), dd_timeline_lane_count(tl), dd_timeline_malformed(tl));
    }
  } else {
    rc = dd_viewer_run(v);
    if (rc) {
      fprintf(stderr, "duodiag view: %s; try --screenshot FILE.png\n", dd_viewer_error(v));
      status = DD_EXIT_FAILURE;
    }
  }
out_viewer:
  dd_viewer_destroy(&v);
out_timeline:
  dd_timeline_destroy(&tl);
  return status;
}
