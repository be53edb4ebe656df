/* duodiag-second: the second diagnostic device (remote diagnosis, programming data) as a process. */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

#include "dd_err.h"
#include "dd_log.h"
#include "dd_proc.h"
#include "dd_second.h"

static void s_usage(FILE *to) {
  fprintf(to,
          "usage: duodiag-second --service EP --id SECOND_ID [--key FILE] [--token T]\n"
          "                      [common options]\n"
          "The second diagnostic device (S4, S401): reads the vehicle records from the service\n"
          "device exactly once (reports gaps, duplicates, out-of-order records), diagnoses from\n"
          "DTCs and live data, and on the harness command program {image, ecu_id, ecu_name,\n"
          "hw_part, version, package_id, tamper} builds a signed package and hands it to the\n"
          "service device. Commands: program, diagnose, summary (sim/second/dd_second.h).\n"
          "  --key FILE   Ed25519 secret key file (default: the TEST key in ecu_models/keys)\n"
          "  --token T    token for the service device's hello\n");
  fputs(dd_proc_common_usage(), to);
}

int main(int argc, char **argv) {
  dd_proc_t *proc = NULL;
  if (dd_proc_new("second", &argc, argv, &proc) < 0) return DD_EXIT_USAGE;
  if (dd_proc_help_asked(proc)) {
    s_usage(stdout);
    dd_proc_destroy(&proc);
    return DD_EXIT_OK;
  }
  dd_second_cfg_t cfg = {0};
  static const struct option opts[] = {{"service", required_argument, 0, 's'},
                                       {"id", required_argument, 0, 'i'},
                                       {"key", required_argument, 0, 'k'},
                                       {"token", required_argument, 0, 't'},
                                       {0, 0, 0, 0}};
  int c;
  bool ok = true;
  while (ok && (c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
    case 's': cfg.service = optarg; break;
    case 'i': cfg.second_id = optarg; break;
    case 'k': cfg.key_path = optarg; break;
    case 't': cfg.token = optarg; break;
    default: ok = false; break;
    }
  }
  const char *problem = !ok              ? NULL
                        : !cfg.service   ? "--service is required"
                        : !cfg.second_id ? "--id is required"
                        : optind < argc  ? "unexpected argument"
                                         : NULL;
  if (!ok || problem) {
    if (problem) fprintf(stderr, "duodiag-second: %s\n", problem);
    fprintf(stderr, "duodiag-second: see duodiag-second --help\n");
    dd_proc_destroy(&proc);
    return DD_EXIT_USAGE;
  }
  dd_second_t *sd = NULL;
  int rc = dd_second_new(proc, &cfg, &sd);
  if (rc < 0) {
    dd_error("cannot start: %s", dd_strerror(rc));
    dd_proc_destroy(&proc);
    return rc == DD_EINVAL || rc == DD_EILSEQ || rc == -ENOENT ? DD_EXIT_USAGE : DD_EXIT_FAILURE;
  }
  dd_proc_ready(proc);
  int code = dd_proc_run(proc);
  dd_second_destroy(&sd);
  dd_proc_destroy(&proc);
  return code;
}
