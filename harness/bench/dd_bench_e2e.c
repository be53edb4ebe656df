/* dd_bench_e2e: `duodiag bench e2e`: options, the work folder, generated scenarios run by the
 * harness's own run function with a progress line, the timeline reader, and the order of the
 * three parts (reflash, switch, fleet). */
#define _XOPEN_SOURCE 700 /* nftw */
#include "dd_bench_e2e.h"

#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dd_bench.h"
#include "dd_err.h"
#include "dd_log.h"
#include "dd_proc.h"
#include "dd_rig.h"
#include "dd_run.h"
#include "dd_scenario.h"

/* The only mutable global: set by SIGINT/SIGTERM, ends the run in progress. */
static volatile sig_atomic_t s_stop;

static void s_on_signal(int sig) {
  (void)sig;
  s_stop = 1;
}

/* ---- progress ----------------------------------------------------------------------------- */

void dd_bench_e2e_progress(const dd_bench_e2e_opts_t *o, const char *label, const char *fmt, ...) {
  if (!o->tty) return;
  char text[160];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  fprintf(stderr, "\r  %s: %-70.70s", label, text);
  fflush(stderr);
}

void dd_bench_e2e_progress_done(const dd_bench_e2e_opts_t *o) {
  if (!o->tty) return;
  fprintf(stderr, "\r%100s\r", "");
  fflush(stderr);
}

/* ---- statistics ----------------------------------------------------------------------------- */

static int s_cmp(const void *x, const void *y) {
  double a = *(const double *)x, b = *(const double *)y;
  return a < b ? -1 : a > b;
}

void dd_bench_e2e_sort(double *v, size_t n) {
  if (n) qsort(v, n, sizeof *v, s_cmp);
}

double dd_bench_e2e_quantile(const double *v, size_t n, double q) {
  if (!n) return 0;
  double r = ceil(q * (double)n);
  size_t i = r < 1 ? 0 : (size_t)r - 1;
  return v[i < n ? i : n - 1];
}

/* ---- timeline ----------------------------------------------------------------------------- */

int dd_bench_e2e_timeline(const char *run_dir, bool (*fn)(json_t *ev, void *arg), void *arg) {
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/timeline.jsonl", run_dir);
  FILE *f = fopen(path, "r");
  if (!f) return -errno;
  char *line = NULL;
  size_t cap = 0;
  ssize_t n;
  bool go = true;
  while (go && (n = getline(&line, &cap, f)) > 0) {
    json_t *ev = json_loadb(line, (size_t)n, 0, NULL);
    if (!json_is_object(ev)) {
      json_decref(ev);
      continue; /* a line cut by a crash: the rest still counts */
    }
    go = fn(ev, arg);
    json_decref(ev);
  }
  free(line);
  fclose(f);
  return 0;
}

/* ---- generated scenarios ------------------------------------------------------------------ */

typedef struct {
  const dd_bench_e2e_opts_t *o; /* options */
  const char *label;            /* progress label */
  char tl_path[PATH_MAX];       /* the run's timeline */
  FILE *tl;                     /* open on it once it exists (terminal only) */
  char *line;                   /* getline buffer */
  size_t cap;                   /* its size */
  dd_bench_e2e_watch_fn watch;  /* the part's view of new events */
  void *arg;                    /* its argument */
  char note[96];                /* what watch says, shown after the time */
} s_follow_t;

static void s_on_status(void *arg, const dd_run_status_t *st) {
  s_follow_t *fw = arg;
  if (!fw->o->tty) return;
  if (!fw->tl) fw->tl = fopen(fw->tl_path, "r");
  if (fw->tl && fw->watch) {
    ssize_t n;
    long at = ftell(fw->tl);
    while ((n = getline(&fw->line, &fw->cap, fw->tl)) > 0) {
      if (fw->line[n - 1] != '\n') { /* half written: read it again next time */
        fseek(fw->tl, at, SEEK_SET);
        break;
      }
      json_t *ev = json_loadb(fw->line, (size_t)n, 0, NULL);
      if (json_is_object(ev)) fw->watch(ev, fw->note, sizeof fw->note, fw->arg);
      json_decref(ev);
      at = ftell(fw->tl);
    }
    clearerr(fw->tl);
  }
  dd_bench_e2e_progress(fw->o, fw->label, "%5.1f s  %s", st->elapsed_s, fw->note);
}

int dd_bench_e2e_run(const dd_bench_e2e_opts_t *o, const char *label, const char *yaml,
                     dd_bench_e2e_watch_fn watch, void *arg, bool *passed, char *run_dir,
                     size_t cap) {
  char file[PATH_MAX];
  snprintf(file, sizeof file, "%s/%s.yaml", o->work, label);
  snprintf(run_dir, cap, "%s/%s", o->work, label);
  FILE *f = fopen(file, "w");
  if (!f) {
    dd_error("e2e: cannot write %s: %s", file, strerror(errno));
    return -errno;
  }
  fputs(yaml, f);
  if (fclose(f) != 0) return DD_EIO;

  dd_sc_diags_t *diags = dd_sc_diags_new();
  dd_scenario_list_t *list = NULL;
  dd_scenario_opts_t so = {.root = o->root};
  int rc = diags ? dd_scenario_load_file(file, &so, &list, diags) : DD_ENOMEM;
  if (rc < 0) {
    dd_error("e2e: the generated scenario %s does not load:", file);
    if (diags) dd_sc_diags_print(diags, stderr);
    dd_sc_diags_destroy(&diags);
    return rc;
  }
  s_follow_t fw = {.o = o, .label = label, .watch = watch, .arg = arg};
  snprintf(fw.tl_path, sizeof fw.tl_path, "%s/timeline.jsonl", run_dir);
  dd_run_opts_t ro = {.run_dir = run_dir,
                      .scenario_file = file,
                      .seed_given = true,
                      .seed = o->seed,
                      .stop = &s_stop,
                      .status = s_on_status,
                      .status_arg = &fw};
  dd_run_result_t res;
  dd_bench_e2e_progress(o, label, "starting");
  rc = dd_run_scenario(dd_scenario_list_get(list, 0), &ro, &res);
  dd_bench_e2e_progress_done(o);
  if (fw.tl) fclose(fw.tl);
  free(fw.line);
  fprintf(stderr, "  %s: run %s in %.1f s (%s)\n", label,
          rc < 0                       ? "not made"
          : res.verdict == DD_RUN_PASS ? "passed"
                                       : "failed",
          res.duration_s, run_dir);
  if (rc == 0 && res.verdict != DD_RUN_PASS && res.reason[0])
    fprintf(stderr, "  %s: %s\n", label, res.reason);
  if (rc == 0 && res.interrupted) rc = DD_ECANCELED;
  *passed = rc == 0 && res.verdict == DD_RUN_PASS;
  dd_scenario_list_destroy(&list);
  dd_sc_diags_destroy(&diags);
  return rc;
}

/* ---- the command -------------------------------------------------------------------------- */

static int s_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  remove(path);
  return 0;
}

static void s_usage(FILE *to) {
  fprintf(to,
          "usage: duodiag bench e2e [--quick] [--seed N] [--out DIR] [--only PART]...\n"
          "                         [--image-kib N] [--steps N] [--vehicles N] [--seconds S]\n"
          "                         [--vehicle FILE]\n"
          "The whole system end to end, every party a real process:\n"
          "  reflash  the second device programs a generated Intel HEX image (256 KiB) into the\n"
          "           engine ECU through the service device and the first device (a scenario run\n"
          "           by the harness): the ECU-side TransferData rate of the download phase,\n"
          "           from the bus trace, against the bus's limit for the very same frames\n"
          "           (exact bit counts, stuff bits and STmin gaps; target ratio >= 0.85), and\n"
          "           the time from the program request to the verified new software version.\n"
          "  switch   latency steps on the direct path (20 ms -> 250 ms one way, threshold\n"
          "           150 ms, 100 ms probes; 5 steps): time from each step to the switch to the\n"
          "           relay, p50 and max (target <= 1 s), beside what the first device's own\n"
          "           path algorithm needs for the same step with no processing at all.\n"
          "  fleet    one duodiag-relay and one duodiag-service carrying the records of 100\n"
          "           vehicles at 20 records/s each for 10 s, sent by this process on the wire\n"
          "           protocol (RelayForward to the relay, VehicleAck back from the service):\n"
          "           send -> acknowledgement latency p50/p99 (target p99 <= 5 ms), records\n"
          "           sent / acknowledged / delivered / lost (target 0 lost), and the CPU time\n"
          "           of the relay and the service device.\n"
          "  --quick        64 KiB image, 3 steps, 3 s of fleet traffic (a test run, < 1 min)\n"
          "  --seed N       seed of the runs and of the image (default 1)\n"
          "  --out DIR      keep the generated files and every run folder under DIR\n"
          "  --only PART    run only this part (repeatable): reflash, switch, fleet\n"
          "  --image-kib N  reflash image size (default 256, --quick 64)\n"
          "  --steps N      latency steps (default 5, --quick 3)\n"
          "  --vehicles N   vehicles of the fleet (default 100)\n"
          "  --seconds S    seconds of fleet traffic (default 10, --quick 3)\n"
          "  --vehicle FILE vehicle of the reflash and switch runs (default corvan_meridian_2019)\n"
          "Exit 0 when every figure was measured (targets may be missed: see met=), 1 when one\n"
          "could not be, 2 for bad usage.\n");
}

/* src into dst[cap]; false (nothing copied) when it does not fit. */
static bool s_copy(char *dst, size_t cap, const char *src) {
  size_t n = strlen(src);
  if (n >= cap) return false;
  memcpy(dst, src, n + 1);
  return true;
}

static bool s_num(const char *opt, const char *text, double lo, double hi, double *out) {
  char *end;
  errno = 0;
  double v = strtod(text, &end);
  if (errno || end == text || *end || !(v >= lo && v <= hi)) {
    fprintf(stderr, "duodiag bench e2e: %s wants a number from %g to %g, got '%s'\n", opt, lo, hi,
            text);
    return false;
  }
  *out = v;
  return true;
}

int dd_bench_e2e(int argc, char **argv) {
  dd_bench_e2e_opts_t o = {.seed = 1};
  const char *out_dir = NULL, *vehicle = NULL;
  double image_kib = 0, steps = 0, vehicles = 0, seconds = 0, seed = 1;
  unsigned parts = 0;
  static const struct option opts[] = {{"quick", no_argument, 0, 'q'},
                                       {"seed", required_argument, 0, 'S'},
                                       {"out", required_argument, 0, 'o'},
                                       {"only", required_argument, 0, 'O'},
                                       {"image-kib", required_argument, 0, 'i'},
                                       {"steps", required_argument, 0, 't'},
                                       {"vehicles", required_argument, 0, 'v'},
                                       {"seconds", required_argument, 0, 's'},
                                       {"vehicle", required_argument, 0, 'V'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
  int c;
  bool ok = true;
  optind = 1;
  while (ok && (c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    switch (c) {
    case 'q': o.quick = true; break;
    case 'S': ok = s_num("--seed", optarg, 0, 4294967295.0, &seed); break;
    case 'o': out_dir = optarg; break;
    case 'O':
      if (!strcmp(optarg, "reflash"))
        parts |= 1;
      else if (!strcmp(optarg, "switch"))
        parts |= 2;
      else if (!strcmp(optarg, "fleet"))
        parts |= 4;
      else {
        fprintf(stderr, "duodiag bench e2e: --only reflash|switch|fleet, not '%s'\n", optarg);
        ok = false;
      }
      break;
    case 'i': ok = s_num("--image-kib", optarg, 1, 1024, &image_kib); break;
    case 't': ok = s_num("--steps", optarg, 1, 50, &steps); break;
    case 'v': ok = s_num("--vehicles", optarg, 1, 250, &vehicles); break;
    case 's': ok = s_num("--seconds", optarg, 0.5, 600, &seconds); break;
    case 'V': vehicle = optarg; break;
    case 'h': s_usage(stdout); return DD_EXIT_OK;
    default: ok = false; break;
    }
  }
  if (!ok || optind != argc) {
    if (ok) fprintf(stderr, "duodiag bench e2e: unexpected argument '%s'\n", argv[optind]);
    fprintf(stderr, "duodiag bench e2e: see duodiag bench e2e --help\n");
    return DD_EXIT_USAGE;
  }
  if (!parts) parts = 7;
  o.seed = (uint64_t)seed;
  o.image_kib = image_kib ? (unsigned)image_kib : o.quick ? 64 : 256;
  o.steps = steps ? (unsigned)steps : o.quick ? 3 : 5;
  o.vehicles = vehicles ? (unsigned)vehicles : 100;
  o.rate_hz = 20;
  o.fleet_s = seconds ? seconds : o.quick ? 3 : 10;
  o.tty = isatty(STDERR_FILENO);
  dd_log_setup("bench", dd_log_level_parse(getenv("DD_LOG_LEVEL"), DD_LOG_WARN));

  /* The repository root, as duodiag run finds it (vehicle files live there). */
  const char *root = getenv("DD_SOURCE_DIR");
#ifdef DD_SOURCE_DIR
  if ((!root || !*root) && access("ecu_models", F_OK) != 0) root = DD_SOURCE_DIR;
#endif
  snprintf(o.root, sizeof o.root, "%s", root && *root ? root : ".");
  if (vehicle)
    snprintf(o.vehicle, sizeof o.vehicle, "%s", vehicle);
  else
    snprintf(o.vehicle, sizeof o.vehicle, "%s/ecu_models/vehicles/corvan_meridian_2019.yaml",
             o.root);
  char real[PATH_MAX];
  if (!realpath(o.vehicle, real) || !s_copy(o.vehicle, sizeof o.vehicle, real)) {
    fprintf(stderr, "duodiag bench e2e: vehicle file %s: %s\n", o.vehicle, strerror(errno));
    return DD_EXIT_USAGE;
  }

  if (out_dir) {
    if (dd_rig_mkdir_p(out_dir) < 0 || !realpath(out_dir, real) ||
        !s_copy(o.work, sizeof o.work, real)) {
      fprintf(stderr, "duodiag bench e2e: cannot create %s: %s\n", out_dir, strerror(errno));
      return DD_EXIT_USAGE;
    }
    o.keep = true;
  } else {
    const char *tmp = getenv("TMPDIR");
    snprintf(o.work, sizeof o.work, "%s/dd-bench-e2e-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(o.work)) {
      fprintf(stderr, "duodiag bench e2e: cannot create %s: %s\n", o.work, strerror(errno));
      return DD_EXIT_FAILURE;
    }
  }

  struct sigaction sa, old_int, old_term;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = s_on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);

  /* Every part runs even when an earlier one could not be measured. */
  int failed = 0;
  if ((parts & 1) && !s_stop && dd_bench_e2e_reflash(&o) < 0) failed++;
  if ((parts & 2) && !s_stop && dd_bench_e2e_switch(&o) < 0) failed++;
  if ((parts & 4) && !s_stop && dd_bench_e2e_fleet(&o) < 0) failed++;

  sigaction(SIGINT, &old_int, NULL);
  sigaction(SIGTERM, &old_term, NULL);
  if (o.keep)
    fprintf(stderr, "  run folders and generated files: %s\n", o.work);
  else
    nftw(o.work, s_rm, 16, FTW_DEPTH | FTW_PHYS);
  if (s_stop) {
    fprintf(stderr, "duodiag bench e2e: interrupted\n");
    return DD_EXIT_FAILURE;
  }
  if (failed)
    fprintf(stderr, "duodiag bench e2e: %d part%s could not be measured (see above)\n", failed,
            failed == 1 ? "" : "s");
  return failed ? DD_EXIT_FAILURE : DD_EXIT_OK;
}

bool dd_bench_e2e_stopped(void) { return s_stop != 0; }
