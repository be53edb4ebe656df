/* dd_cli_report: `duodiag report DIR [-o FILE]`: the HTML report (verdicts, expectations,
 * plots) of a suite folder written by `duodiag run --out DIR`, or of one run folder. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "dd_cli.h"
#include "dd_err.h"
#include "dd_proc.h"
#include "dd_report.h"

static void s_usage(FILE *to) {
  fprintf(to, "usage: duodiag report DIR [-o FILE]\n"
              "\n"
              "Write one self-contained HTML file (plots inline as SVG, no other files needed;\n"
              "opens offline in any browser) about the runs in DIR: the --out folder of\n"
              "duodiag run (its suite.txt lists the runs), or a single run folder.\n"
              "It holds the totals (passed, failed, duration, seed, date), the verdict table\n"
              "(scenario, variant, verdict, duration, failed expectations), and per run every\n"
              "expectation with its verdict, observed value and deadline, and plots of:\n"
              "  - the direct path's round-trip time (transport.rtt) with the threshold and\n"
              "    the path switches (transport.switched);\n"
              "  - vehicle records sent, resent and delivered (fd.record_sent, second.record);\n"
              "  - reflash progress (reflash.phase);\n"
              "  - CAN bus load (can.busload);\n"
              "each drawn only when the run has its events.\n"
              "\n"
              "Options:\n"
              "  -o, --out FILE  write the report to FILE (default DIR/" DD_REPORT_FILE ")\n"
              "  -h, --help      this text\n"
              "\n"
              "duodiag run writes DIR/" DD_REPORT_FILE " by itself at the end of every suite.\n"
              "Exit codes: 0 written, 1 writing failed, 2 bad usage, or DIR is not a suite or run\n"
              "folder.\n");
}

int dd_cli_report(int argc, char **argv) {
  const char *out = NULL;
  static const struct option lo[] = {
      {"out", required_argument, 0, 'o'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
  optind = 1;
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, ":o:h", lo, NULL)) != -1) {
    switch (c) {
    case 'o': out = optarg; break;
    case 'h': s_usage(stdout); return DD_EXIT_OK;
    case ':':
      fprintf(stderr, "duodiag report: %s needs a FILE\n", argv[optind - 1]);
      return DD_EXIT_USAGE;
    default:
      fprintf(stderr, "duodiag report: unknown option '%s' (duodiag report --help)\n",
              argv[optind - 1]);
      return DD_EXIT_USAGE;
    }
  }
  if (optind >= argc) {
    fprintf(stderr, "duodiag report: name the folder of a suite (duodiag run --out DIR) or of "
                    "a run\n");
    s_usage(stderr);
    return DD_EXIT_USAGE;
  }
  if (argc - optind > 1) {
    fprintf(stderr, "duodiag report: one DIR only ('%s' and '%s')\n", argv[optind],
            argv[optind + 1]);
    return DD_EXIT_USAGE;
  }
  const char *dir = argv[optind];
  char err[1024];
  dd_report_stats_t st;
  int rc = dd_report_write(dir, out, &st, err, sizeof err);
  struct stat st_dir;
  if (rc == DD_EINVAL || (rc == DD_ENOENT && stat(dir, &st_dir) != 0)) {
    /* DIR itself is wrong (a missing output folder is a failure to write). */
    fprintf(stderr, "duodiag report: %s\n", err);
    return DD_EXIT_USAGE;
  }
  if (rc < 0) {
    fprintf(stderr, "duodiag report: %s\n", err[0] ? err : dd_strerror(rc));
    return DD_EXIT_FAILURE;
  }
  char def[4096];
  size_t l = strlen(dir);
  while (l > 1 && dir[l - 1] == '/')
    l--;
  if (!out) snprintf(def, sizeof def, "%.*s/%s", (int)l, dir, DD_REPORT_FILE);
  printf("report: %s (%zu run%s: %zu passed, %zu failed%s; %zu plot%s)\n", out ? out : def, st.runs,
         st.runs == 1 ? "" : "s", st.passed, st.failed, st.not_run ? ", some not run" : "",
         st.plots, st.plots == 1 ? "" : "s");
  return DD_EXIT_OK;
}
