/* duodiag-vehicle: every ECU of a vehicle file, simulated, on a CAN network. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "dd_err.h"
#include "dd_proc.h"
#include "dd_vehicle_sim.h"

static void s_usage(FILE *to) {
  fprintf(to, "usage: duodiag-vehicle VEHICLE.yaml (--bus EP | --can IFACE) [common options]\n"
              "Runs the drive model and every ECU of VEHICLE.yaml, each a node on the virtual\n"
              "CAN bus at EP or on the SocketCAN interface IFACE.\n"
              "Harness commands: speed {kmh|resume}, engine {on}, battery {volts}, and per ECU\n"
              "({\"ecu\":NAME,...}) set_dtc, clear_dtc, operation_cycle, force_nrc, delay, drop,\n"
              "pending_forever, clear_faults, power_cycle, power_cut.\n");
  fputs(dd_proc_common_usage(), to);
}

int main(int argc, char **argv) {
  dd_proc_t *proc = NULL;
  if (dd_proc_new("vehicle", &argc, argv, &proc) < 0) return DD_EXIT_USAGE;
  if (dd_proc_help_asked(proc)) {
    s_usage(stdout);
    dd_proc_destroy(&proc);
    return DD_EXIT_OK;
  }
  dd_vehicle_sim_cfg_t cfg = {0};
  static const struct option opts[] = {{"bus", required_argument, 0, 'b'},
                                       {"can", required_argument, 0, 'c'},
                                       {0, 0, 0, 0}};
  int c;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    if (c == 'b') cfg.bus_endpoint = optarg;
    else if (c == 'c') cfg.can_iface = optarg;
    else {
      fprintf(stderr, "duodiag-vehicle: see duodiag-vehicle --help\n");
      dd_proc_destroy(&proc);
      return DD_EXIT_USAGE;
    }
  }
  if (optind != argc - 1 || (!cfg.bus_endpoint == !cfg.can_iface)) {
    fprintf(stderr, "duodiag-vehicle: give one VEHICLE.yaml and one of --bus or --can; "
                    "see duodiag-vehicle --help\n");
    dd_proc_destroy(&proc);
    return DD_EXIT_USAGE;
  }
  cfg.vehicle_path = argv[optind];
  dd_vehicle_sim_t *sim = NULL;
  int rc = dd_vehicle_sim_new(proc, &cfg, &sim);
  if (rc < 0) {
    dd_proc_destroy(&proc);
    return rc == DD_ECONFIG || rc == DD_ENOENT ? DD_EXIT_USAGE : DD_EXIT_FAILURE;
  }
  dd_proc_ready(proc);
  int code = dd_proc_run(proc);
  dd_vehicle_sim_destroy(&sim);
  dd_proc_destroy(&proc);
  return code;
}
