/* duodiag-bus: the virtual CAN bus as its own process. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "dd_err.h"
#include "dd_log.h"
#include "dd_proc.h"
#include "dd_vbus_server.h"

static void s_usage(FILE *to) {
  fprintf(to,
          "usage: duodiag-bus --endpoint EP [--bitrate BPS] [--dbitrate BPS] [--iface NAME]\n"
          "                   [--candump FILE] [--pcap FILE] [common options]\n"
          "Runs a virtual CAN bus: nodes join over ZeroMQ at EP; every frame takes its exact\n"
          "time on the wire at the given bit rates (default 500000, CAN FD data 2000000).\n");
  fputs(dd_proc_common_usage(), to);
}

int main(int argc, char **argv) {
  dd_proc_t *proc = NULL;
  if (dd_proc_new("bus", &argc, argv, &proc) < 0) return DD_EXIT_USAGE;
  if (dd_proc_help_asked(proc)) {
    s_usage(stdout);
    dd_proc_destroy(&proc);
    return DD_EXIT_OK;
  }
  dd_vbus_server_cfg_t cfg = {.nominal_bps = 500000, .data_bps = 2000000};
  static const struct option opts[] = {{"endpoint", required_argument, 0, 'e'},
                                       {"bitrate", required_argument, 0, 'b'},
                                       {"dbitrate", required_argument, 0, 'd'},
                                       {"iface", required_argument, 0, 'i'},
                                       {"candump", required_argument, 0, 'c'},
                                       {"pcap", required_argument, 0, 'p'},
                                       {0, 0, 0, 0}};
  int c;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
    case 'e': cfg.endpoint = optarg; break;
    case 'b': cfg.nominal_bps = (uint32_t)strtoul(optarg, NULL, 0); break;
    case 'd': cfg.data_bps = (uint32_t)strtoul(optarg, NULL, 0); break;
    case 'i': cfg.iface = optarg; break;
    case 'c': cfg.candump_path = optarg; break;
    case 'p': cfg.pcap_path = optarg; break;
    default:
      fprintf(stderr, "duodiag-bus: see duodiag-bus --help\n");
      dd_proc_destroy(&proc);
      return DD_EXIT_USAGE;
    }
  }
  if (!cfg.endpoint || optind != argc) {
    fprintf(stderr, "duodiag-bus: %s; see duodiag-bus --help\n",
            cfg.endpoint ? "unexpected argument" : "--endpoint is required");
    dd_proc_destroy(&proc);
    return DD_EXIT_USAGE;
  }
  dd_vbus_server_t *srv = NULL;
  int rc = dd_vbus_server_new(proc, &cfg, &srv);
  if (rc < 0) {
    dd_proc_destroy(&proc);
    return rc == DD_EINVAL ? DD_EXIT_USAGE : DD_EXIT_FAILURE;
  }
  dd_proc_ready(proc);
  int code = dd_proc_run(proc);
  dd_vbus_server_destroy(&srv);
  dd_proc_destroy(&proc);
  return code;
}
