/* dd_cli_run: `duodiag run SCENARIO|DIR...`: check every scenario file, select the runs (tags,
 * shard), run them N at a time and report; exit 0 all passed, 1 any failed, 2 bad usage or an
 * invalid scenario (then nothing runs). */
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dd_cli.h"
#include "dd_err.h"
#include "dd_proc.h"
#include "dd_run.h"
#include "dd_scenario.h"
#include "dd_suite.h"

#define S_MAX_DEFECTS 16
#define S_MAX_SETS 32

/* The only mutable global: set by SIGINT/SIGTERM, read by the runs. */
static volatile sig_atomic_t s_stop;

static void s_on_signal(int sig) { s_stop = 1; }

static void s_usage(FILE *to) {
  fprintf(to,
          "usage: duodiag run SCENARIO|DIR... [--out DIR] [-j N] [--shard K/N] [--tags EXPR]\n"
          "                   [--repeat N] [--seed S] [--defect NAME]... [--set NAME=VALUE]...\n"
          "                   [--can IFACE [--can-configure]] [--list] [--no-progress]\n"
          "Runs scenarios (files, or folders searched for *.yaml): every matrix variant, each in\n"
          "its own run folder OUT/<name>[/<variant>][/repeat-N] with timeline.jsonl, logs/,\n"
          "can.log, can.pcap, junit.xml, summary.txt and a copy of the scenario.\n"
          "  --out DIR        where run folders go (default runs)\n"
          "  -j, --jobs N     runs at once, each a child process (default 1)\n"
          "  --shard K/N      only the K-th of N shards of the runs (default: CI_NODE_INDEX/\n"
          "                   CI_NODE_TOTAL when set)\n"
          "  --tags EXPR      only scenarios whose tags match: \"smoke and not slow\",\n"
          "                   \"transport,reflash\" (\",\" is or), parentheses allowed\n"
          "  --repeat N       run each variant N times (seeds S, S+1, ...)\n"
          "  --seed S         seed of every run instead of the scenario's\n"
          "  --defect NAME    plant a known defect in the first device (repeatable; see\n"
          "                   duodiag-first-device --help)\n"
          "  --set NAME=VALUE override a scenario param or pin a matrix axis (repeatable)\n"
          "  --can IFACE      hardware in the loop: the CAN bus is the SocketCAN interface\n"
          "                   IFACE (simulated ECUs and the first device join it) instead of\n"
          "                   the virtual bus\n"
          "  --can-configure  set IFACE's bit rates (the scenario's bus: bitrate/dbitrate)\n"
          "                   through libsocketcan and start it (needs CAP_NET_ADMIN)\n"
          "  --list           print the runs that would be made, run nothing\n"
          "  --no-progress    no progress display\n"
          "Exit codes: 0 all passed, 1 any failed, 2 bad usage or an invalid scenario.\n");
}

static bool s_parse_uint(const char *s, unsigned long long max, unsigned long long *v) {
  char *end;
  if (!s || !*s || *s == '-') return false;
  unsigned long long x = strtoull(s, &end, 0);
  if (*end || x > max) return false;
  *v = x;
  return true;
}

typedef struct {
  dd_scenario_list_t **lists; /* one per file */
  size_t n;                   /* how many */
} s_loaded_t;

static void s_loaded_free(s_loaded_t *l) {
  for (size_t i = 0; i < l->n; i++) dd_scenario_list_destroy(&l->lists[i]);
  free(l->lists);
}

int dd_cli_run(int argc, char **argv) {
  const char *out = "runs", *tags_text = NULL, *shard_text = NULL;
  unsigned long long jobs = 1, repeat = 1, seed = 0;
  bool seed_given = false, list = false, progress = true, can_configure = false;
  const char *can_iface = NULL;
  const char *defects[S_MAX_DEFECTS];
  size_t n_defects = 0;
  const char *sets[S_MAX_SETS];
  size_t n_sets = 0;
  static const struct option lo[] = {
      {"out", required_argument, 0, 'o'},    {"jobs", required_argument, 0, 'j'},
      {"shard", required_argument, 0, 'S'},  {"tags", required_argument, 0, 't'},
      {"repeat", required_argument, 0, 'r'}, {"seed", required_argument, 0, 's'},
      {"defect", required_argument, 0, 'd'}, {"set", required_argument, 0, 'p'},
      {"list", no_argument, 0, 'l'},         {"no-progress", no_argument, 0, 'P'},
      {"can", required_argument, 0, 'C'},    {"can-configure", no_argument, 0, 'K'},
      {"help", no_argument, 0, 'h'},         {0, 0, 0, 0}};
  optind = 1;
  int c;
  while ((c = getopt_long(argc, argv, "o:j:h", lo, NULL)) != -1) {
    switch (c) {
    case 'o': out = optarg; break;
    case 'j':
      if (!s_parse_uint(optarg, 64, &jobs) || !jobs) {
        fprintf(stderr, "duodiag run: -j %s: give a number of runs at once, 1 to 64\n", optarg);
        return DD_EXIT_USAGE;
      }
      break;
    case 'S': shard_text = optarg; break;
    case 't': tags_text = optarg; break;
    case 'r':
      if (!s_parse_uint(optarg, 10000, &repeat) || !repeat) {
        fprintf(stderr, "duodiag run: --repeat %s: give a count, 1 to 10000\n", optarg);
        return DD_EXIT_USAGE;
      }
      break;
    case 's':
      if (!s_parse_uint(optarg, UINT64_MAX, &seed)) {
        fprintf(stderr, "duodiag run: --seed %s: give a non-negative integer\n", optarg);
        return DD_EXIT_USAGE;
      }
      seed_given = true;
      break;
    case 'd':
      if (n_defects == S_MAX_DEFECTS) {
        fprintf(stderr, "duodiag run: at most %d --defect options\n", S_MAX_DEFECTS);
        return DD_EXIT_USAGE;
      }
      defects[n_defects++] = optarg;
      break;
    case 'p':
      if (n_sets == S_MAX_SETS || !strchr(optarg, '=')) {
        fprintf(stderr, "duodiag run: --set %s: give NAME=VALUE (at most %d)\n", optarg, S_MAX_SETS);
        return DD_EXIT_USAGE;
      }
      sets[n_sets++] = optarg;
      break;
    case 'C':
      if (!*optarg || strlen(optarg) > 15 || strpbrk(optarg, " /:")) {
        fprintf(stderr, "duodiag run: --can %s: give a network interface name (1 to 15 "
                        "characters), e.g. can0 or vcan0\n", optarg);
        return DD_EXIT_USAGE;
      }
      can_iface = optarg;
      break;
    case 'K': can_configure = true; break;
    case 'l': list = true; break;
    case 'P': progress = false; break;
    case 'h': s_usage(stdout); return DD_EXIT_OK;
    default: s_usage(stderr); return DD_EXIT_USAGE;
    }
  }
  if (optind >= argc) {
    fprintf(stderr, "duodiag run: name at least one scenario file or folder\n");
    s_usage(stderr);
    return DD_EXIT_USAGE;
  }
  unsigned shard_k = 1, shard_n = 1;
  if (shard_text) {
    if (dd_suite_shard_parse(shard_text, &shard_k, &shard_n) < 0) {
      fprintf(stderr, "duodiag run: --shard %s: give K/N with 1 <= K <= N, e.g. 2/4\n", shard_text);
      return DD_EXIT_USAGE;
    }
  } else {
    dd_suite_shard_env(&shard_k, &shard_n);
  }
  char err[512];
  dd_tags_expr_t *tags = NULL;
  if (tags_text && dd_tags_parse(tags_text, &tags, err, sizeof err) < 0) {
    fprintf(stderr, "duodiag run: %s\n", err);
    return DD_EXIT_USAGE;
  }
  dd_suite_files_t files;
  if (dd_suite_collect((const char *const *)argv + optind, (size_t)(argc - optind), &files, err,
                       sizeof err) < 0) {
    fprintf(stderr, "duodiag run: %s\n", err);
    dd_tags_destroy(&tags);
    return DD_EXIT_USAGE;
  }
  if (!files.n) {
    fprintf(stderr, "duodiag run: no scenario files (*.yaml) found in the arguments\n");
    dd_tags_destroy(&tags);
    return DD_EXIT_USAGE;
  }

  /* Check every file before anything runs. */
  int rcode = DD_EXIT_OK;
  s_loaded_t loaded = {.lists = calloc(files.n, sizeof *loaded.lists), .n = files.n};
  dd_sc_diags_t *diags = dd_sc_diags_new();
  dd_suite_job_t *jobs_v = NULL;
  if (!loaded.lists || !diags) {
    rcode = DD_EXIT_FAILURE;
    goto out;
  }
  const char *root = getenv("DD_SOURCE_DIR");
#ifdef DD_SOURCE_DIR
  if ((!root || !*root) && access("ecu_models", F_OK) != 0) root = DD_SOURCE_DIR;
#endif
  dd_scenario_opts_t so = {.root = root, .overrides = sets, .n_overrides = n_sets};
  size_t invalid = 0;
  for (size_t i = 0; i < files.n; i++) {
    size_t before = dd_sc_diags_count(diags);
    if (dd_scenario_load_file(files.paths[i], &so, &loaded.lists[i], diags) < 0) {
      invalid++;
      if (dd_sc_diags_count(diags) == before)
        fprintf(stderr, "%s: cannot be loaded\n", files.paths[i]);
    }
  }
  if (invalid) {
    dd_sc_diags_print(diags, stderr);
    fprintf(stderr, "duodiag run: %zu invalid scenario file%s; nothing was run\n", invalid,
            invalid == 1 ? "" : "s");
    rcode = DD_EXIT_USAGE;
    goto out;
  }

  /* The runs: variants selected by tags, then the shard's share, then the repeats. */
  size_t n_variants = 0, n_jobs = 0, cap = 0;
  for (size_t i = 0; i < files.n; i++) {
    for (size_t v = 0; v < dd_scenario_list_count(loaded.lists[i]); v++) {
      const dd_scenario_t *sc = dd_scenario_list_get(loaded.lists[i], v);
      if (tags && !dd_tags_match(tags, sc->tags, sc->n_tags)) continue;
      if (!dd_suite_in_shard(n_variants++, shard_k, shard_n)) continue;
      for (unsigned long long r = 1; r <= repeat; r++) {
        if (n_jobs == cap) {
          cap = cap ? 2 * cap : 16;
          dd_suite_job_t *nj = realloc(jobs_v, cap * sizeof *nj);
          if (!nj) {
            rcode = DD_EXIT_FAILURE;
            goto out;
          }
          jobs_v = nj;
        }
        dd_suite_job_t *j = &jobs_v[n_jobs++];
        memset(j, 0, sizeof *j);
        j->sc = sc;
        j->file = files.paths[i];
        j->verdict = -1; /* not run (yet) */
        j->repeat = repeat > 1 ? (unsigned)r : 0;
        dd_suite_run_dir(out, sc, j->repeat, j->run_dir, sizeof j->run_dir);
        /* Two files with one scenario name: the later one gets a numbered folder. */
        for (unsigned k = 2; k < 1000; k++) {
          bool clash = false;
          for (size_t o = 0; o + 1 < n_jobs && !clash; o++)
            clash = !strcmp(jobs_v[o].run_dir, j->run_dir);
          if (!clash) break;
          char base[PATH_MAX];
          dd_suite_run_dir(out, sc, j->repeat, base, sizeof base);
          snprintf(j->run_dir, sizeof j->run_dir, "%s-%u", base, k);
        }
      }
    }
  }
  if (!n_jobs) {
    printf("no scenario selected (%zu file%s%s%s; shard %u/%u)\n0 passed, 0 failed\n", files.n,
           files.n == 1 ? "" : "s", tags_text ? ", tags " : "", tags_text ? tags_text : "",
           shard_k, shard_n);
    goto out;
  }
  if (list) {
    for (size_t i = 0; i < n_jobs; i++)
      printf("%-50s %s\n", jobs_v[i].sc->name, jobs_v[i].run_dir);
    goto out;
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = s_on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  dd_suite_opts_t opts = {.out = out,
                          .jobs = (unsigned)jobs,
                          .repeat = (unsigned)repeat,
                          .defects = defects,
                          .n_defects = n_defects,
                          .can_iface = can_iface,
                          .can_configure = can_configure,
                          .seed_given = seed_given,
                          .seed = seed,
                          .stop = &s_stop,
                          .to = stdout,
                          .progress = progress,
                          .tty = isatty(STDOUT_FILENO)};
  size_t failed = dd_suite_run(jobs_v, n_jobs, &opts);
  /* One line per run in OUT/suite.txt, for scripts. */
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/suite.txt", out);
  FILE *f = fopen(path, "w");
  if (f) {
    for (size_t i = 0; i < n_jobs; i++)
      fprintf(f, "%s %s %s\n",
              jobs_v[i].verdict == DD_RUN_PASS   ? "PASS"
              : jobs_v[i].verdict == DD_RUN_FAIL ? "FAIL"
                                                 : "NOTRUN",
              jobs_v[i].sc->name, jobs_v[i].run_dir);
    fclose(f);
  }
  rcode = failed ? DD_EXIT_FAILURE : DD_EXIT_OK;
  if (s_stop) rcode = DD_EXIT_FAILURE;
out:
  free(jobs_v);
  dd_sc_diags_destroy(&diags);
  s_loaded_free(&loaded);
  dd_suite_files_clear(&files);
  dd_tags_destroy(&tags);
  return rcode;
}
