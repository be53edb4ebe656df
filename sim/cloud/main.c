/* duodiag-cloud: the cloud server (registry, presence, orders and payments) as its own process. */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "dd_cloud_server.h"
#include "dd_err.h"
#include "dd_log.h"
#include "dd_proc.h"

#define S_MAX_PATHS 64

static void s_usage(FILE *to) {
  fprintf(to,
          "usage: duodiag-cloud --endpoint EP --vehicles DIR_OR_FILE... [--terminals FILE]\n"
          "                     [--presence-timeout-ms N] [--order-wait-ms N] [common options]\n"
          "The cloud server: the vehicle registry (VinQuery -> VinInfo, S102-S103), the online\n"
          "terminals (Presence heartbeats, TerminalListRequest -> TerminalList, S11) and the\n"
          "orders and payment ledger (Order, Payment -> PaymentConfirmation, S14-S16).\n"
          "  --vehicles P...          vehicle files, or folders of *.yaml (repeatable; more\n"
          "                           paths may follow the options)\n"
          "  --terminals FILE         terminals of the scenario (YAML, see sim/cloud/dd_cloud.h)\n"
          "  --presence-timeout-ms N  a terminal is offline after N ms without a heartbeat\n"
          "                           (default %llu)\n"
          "  --order-wait-ms N        a payment for an unknown order waits N ms for it, 0: not\n"
          "                           at all (default %llu)\n",
          DD_CLOUD_DEFAULT_PRESENCE_US / 1000, DD_CLOUD_DEFAULT_ORDER_WAIT_US / 1000);
  fputs(dd_proc_common_usage(), to);
}

/* A whole number of milliseconds in 0..max (0 only when allow_zero). */
static bool s_ms(const char *opt, const char *text, bool allow_zero, unsigned long long max,
                 unsigned long long *out) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(text, &end, 10);
  if (errno || end == text || *end || text[0] == '-' || v > max || (!v && !allow_zero)) {
    fprintf(stderr, "duodiag-cloud: %s wants a number of milliseconds from %d to %llu, got '%s'\n",
            opt, allow_zero ? 0 : 1, max, text);
    return false;
  }
  *out = v;
  return true;
}

int main(int argc, char **argv) {
  dd_proc_t *proc = NULL;
  if (dd_proc_new("cloud", &argc, argv, &proc) < 0) return DD_EXIT_USAGE;
  if (dd_proc_help_asked(proc)) {
    s_usage(stdout);
    dd_proc_destroy(&proc);
    return DD_EXIT_OK;
  }
  dd_cloud_server_cfg_t cfg = {0};
  const char *paths[S_MAX_PATHS];
  size_t n_paths = 0;
  static const struct option opts[] = {{"endpoint", required_argument, 0, 'e'},
                                       {"vehicles", required_argument, 0, 'V'},
                                       {"terminals", required_argument, 0, 't'},
                                       {"presence-timeout-ms", required_argument, 0, 'p'},
                                       {"order-wait-ms", required_argument, 0, 'w'},
                                       {0, 0, 0, 0}};
  int c;
  bool ok = true, too_many = false;
  while (ok && (c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    unsigned long long v = 0;
    switch (c) {
    case 'e': cfg.endpoint = optarg; break;
    case 'V':
      if (n_paths < S_MAX_PATHS)
        paths[n_paths++] = optarg;
      else
        too_many = true;
      break;
    case 't': cfg.terminals_path = optarg; break;
    case 'p':
      ok = s_ms("--presence-timeout-ms", optarg, false, 86400000ull, &v);
      cfg.cloud.presence_timeout_us = v * 1000;
      break;
    case 'w':
      ok = s_ms("--order-wait-ms", optarg, true, 86400000ull, &v);
      cfg.cloud.order_wait_us = v ? v * 1000 : UINT64_MAX;
      break;
    default: ok = false; break;
    }
  }
  /* Paths after the options belong to --vehicles (--vehicles a.yaml b.yaml). */
  for (int i = optind; ok && i < argc; i++) {
    if (n_paths < S_MAX_PATHS)
      paths[n_paths++] = argv[i];
    else
      too_many = true;
  }
  const char *problem = !ok             ? NULL
                        : !cfg.endpoint ? "--endpoint is required"
                        : !n_paths      ? "--vehicles is required"
                        : too_many      ? "too many vehicle paths"
                                        : NULL;
  if (!ok || problem) {
    if (problem) fprintf(stderr, "duodiag-cloud: %s\n", problem);
    fprintf(stderr, "duodiag-cloud: see duodiag-cloud --help\n");
    dd_proc_destroy(&proc);
    return DD_EXIT_USAGE;
  }
  cfg.vehicle_paths = paths;
  cfg.n_vehicle_paths = n_paths;
  dd_cloud_server_t *srv = NULL;
  int rc = dd_cloud_server_new(proc, &cfg, &srv);
  if (rc < 0) {
    dd_error("cannot start: %s", dd_strerror(rc));
    dd_proc_destroy(&proc);
    return rc == DD_EINVAL || rc == DD_ECONFIG ? DD_EXIT_USAGE : DD_EXIT_FAILURE;
  }
  dd_proc_ready(proc);
  int code = dd_proc_run(proc);
  dd_cloud_server_destroy(&srv);
  dd_proc_destroy(&proc);
  return code;
}
