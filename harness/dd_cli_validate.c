/* dd_cli_validate: `duodiag validate SCENARIO...`: load and check scenario files without
 * running anything; every problem is printed as FILE:LINE:COL: message. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_cli.h"
#include "dd_err.h"
#include "dd_proc.h"
#include "dd_scenario.h"
#include "dd_suite.h"

static void s_usage(FILE *to) {
  fprintf(to,
          "usage: duodiag validate [options] SCENARIO.yaml...\n\n"
          "Check scenario files (docs/SCENARIOS.md) without running them. Every problem is\n"
          "printed to stderr as FILE:LINE:COL: message; each valid file as\n"
          "\"FILE: ok (N steps, M expectations)\" on stdout.\n\n"
          "Options:\n"
          "  --param NAME=VALUE  replace a param, or pin a matrix axis to one value (repeatable)\n"
          "  --root DIR          repository root for relative paths (default $DD_SOURCE_DIR or .)\n"
          "  --no-file-checks    do not require vehicle and image files to exist\n"
          "  -v, --verbose       also list each matrix variant's name\n"
          "  -q, --quiet         print only problems\n\n"
          "Exit codes: 0 every file is valid, 2 a file is invalid or bad usage, 1 out of memory.\n");
}

int dd_cli_validate(int argc, char **argv) {
  dd_scenario_opts_t opts = {0};
  const char **overrides = calloc((size_t)(argc > 0 ? argc : 1), sizeof *overrides);
  const char **files = calloc((size_t)(argc > 0 ? argc : 1), sizeof *files);
  dd_sc_diags_t *diags = dd_sc_diags_new();
  int rc = DD_EXIT_OK;
  size_t n_files = 0;
  dd_suite_files_t all = {0};
  bool verbose = false, quiet = false, opts_done = false;
  if (!overrides || !files || !diags) {
    fprintf(stderr, "duodiag validate: out of memory\n");
    rc = DD_EXIT_FAILURE;
    goto out;
  }
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (opts_done || a[0] != '-' || !strcmp(a, "-")) {
      files[n_files++] = a;
    } else if (!strcmp(a, "--")) {
      opts_done = true;
    } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      s_usage(stdout);
      goto out;
    } else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
      verbose = true;
    } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
      quiet = true;
    } else if (!strcmp(a, "--no-file-checks")) {
      opts.no_file_checks = true;
    } else if ((!strcmp(a, "--param") || !strcmp(a, "--root")) && i + 1 < argc) {
      if (!strcmp(a, "--param")) overrides[opts.n_overrides++] = argv[++i];
      else opts.root = argv[++i];
    } else if (!strncmp(a, "--param=", 8)) {
      overrides[opts.n_overrides++] = a + 8;
    } else if (!strncmp(a, "--root=", 7)) {
      opts.root = a + 7;
    } else {
      fprintf(stderr, "duodiag validate: unknown option '%s'\n", a);
      s_usage(stderr);
      rc = DD_EXIT_USAGE;
      goto out;
    }
  }
  if (!n_files) {
    fprintf(stderr, "duodiag validate: no scenario file given\n");
    s_usage(stderr);
    rc = DD_EXIT_USAGE;
    goto out;
  }
  opts.overrides = overrides;
  /* Folders are searched for *.yaml / *.yml as `duodiag run` does. */
  char cerr[512];
  if (dd_suite_collect(files, n_files, &all, cerr, sizeof cerr) < 0) {
    fprintf(stderr, "duodiag validate: %s\n", cerr);
    rc = DD_EXIT_USAGE;
    goto out;
  }
  for (size_t f = 0; f < all.n; f++) {
    dd_scenario_list_t *list = NULL;
    dd_sc_diags_clear(diags);
    int r = dd_scenario_load_file(all.paths[f], &opts, &list, diags);
    dd_sc_diags_print(diags, stderr);
    if (r == DD_ENOMEM) {
      fprintf(stderr, "%s: out of memory\n", all.paths[f]);
      rc = DD_EXIT_FAILURE;
      continue;
    }
    if (r != 0) {
      if (rc == DD_EXIT_OK) rc = DD_EXIT_USAGE;
      continue;
    }
    size_t n = dd_scenario_list_count(list);
    const dd_scenario_t *sc = dd_scenario_list_get(list, 0);
    if (!quiet) {
      if (n > 1)
        printf("%s: ok (%zu steps, %zu expectations, %zu variants)\n", all.paths[f], sc->n_steps,
               sc->n_expects, n);
      else
        printf("%s: ok (%zu steps, %zu expectations)\n", all.paths[f], sc->n_steps, sc->n_expects);
      for (size_t i = 0; verbose && i < n; i++)
        printf("  %s\n", dd_scenario_list_get(list, i)->name);
    }
    dd_scenario_list_destroy(&list);
  }
  fflush(stdout);
out:
  dd_suite_files_clear(&all);
  dd_sc_diags_destroy(&diags);
  free(overrides);
  free(files);
  return rc;
}
