/* dd_cli_vehicle: `duodiag vehicle VEHICLE.yaml`: a simulated vehicle on its own, so any
 * external diagnostic tool can talk to it: the virtual CAN bus and every ECU of the file, and,
 * on request, a socketcand server (python-can, SavvyCAN, Kayak) or a real SocketCAN interface. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "dd_cli.h"
#include "dd_err.h"
#include "dd_log.h"
#include "dd_proc.h"
#include "dd_rig.h"
#include "dd_vehicle.h"

static void s_usage(FILE *to) {
  fprintf(to,
          "usage: duodiag vehicle VEHICLE.yaml [--socketcand PORT] [--can IFACE] [--out DIR]\n"
          "Runs every ECU of VEHICLE.yaml (UDS, OBD-II, DTCs, flash) until Ctrl-C.\n"
          "  --socketcand PORT  also serve the bus over TCP with the socketcand protocol on\n"
          "                     127.0.0.1:PORT (python-can: interface='socketcand',\n"
          "                     channel='vbus0')\n"
          "  --can IFACE        put the ECUs on the SocketCAN interface IFACE instead of the\n"
          "                     virtual bus (a lab's real CAN adapter, or vcan)\n"
          "  --out DIR          run folder (timeline.jsonl, can.log, can.pcap, logs/); default\n"
          "                     runs/vehicle-<time>\n"
          "Exit codes: 0 stopped by Ctrl-C, 1 a process failed, 2 bad usage or vehicle file.\n");
}

static int s_on_signal(dd_loop_t *loop, void *z, int fd, void *arg) {
  struct signalfd_siginfo si;
  while (read(fd, &si, sizeof si) == (ssize_t)sizeof si) *(int *)arg = (int)si.ssi_signo;
  dd_loop_stop(loop);
  return 0;
}

static int s_watch(dd_loop_t *loop, int id, void *arg) {
  if (dd_rig_check_children(arg)) dd_loop_stop(loop); /* a process died: reported, stop */
  return 0;
}

int dd_cli_vehicle(int argc, char **argv) {
  const char *socketcand = NULL, *can = NULL, *out = NULL;
  static const struct option opts[] = {{"socketcand", required_argument, 0, 's'},
                                       {"can", required_argument, 0, 'c'},
                                       {"out", required_argument, 0, 'o'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    switch (c) {
    case 's': socketcand = optarg; break;
    case 'c': can = optarg; break;
    case 'o': out = optarg; break;
    case 'h': s_usage(stdout); return DD_EXIT_OK;
    default: s_usage(stderr); return DD_EXIT_USAGE;
    }
  }
  if (optind != argc - 1) {
    fprintf(stderr, "duodiag vehicle: give exactly one vehicle file\n");
    s_usage(stderr);
    return DD_EXIT_USAGE;
  }
  if (socketcand && can) {
    fprintf(stderr, "duodiag vehicle: --socketcand serves the virtual bus; with --can the ECUs "
                    "are on %s, reach them there\n", can);
    return DD_EXIT_USAGE;
  }
  const char *path = argv[optind];
  dd_log_setup("vehicle", dd_log_level_parse(getenv("DD_LOG_LEVEL"), DD_LOG_INFO));
  char err[4096];
  dd_vehicle_t *v = NULL;
  if (dd_vehicle_load(path, &v, err, sizeof err) < 0) {
    fputs(err, stderr);
    return DD_EXIT_USAGE;
  }
  char dir[512];
  if (!out) {
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    strftime(dir, sizeof dir, "runs/vehicle-%Y%m%d-%H%M%S", &tm);
    out = dir;
  }
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGTERM);
  sigprocmask(SIG_BLOCK, &mask, NULL);
  int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);

  int code = DD_EXIT_FAILURE, sig = 0;
  dd_rig_t *rig = NULL;
  if (dd_rig_new(out, &rig) < 0) goto out_vehicle;
  char ep[600], log[700], pcap[700], br[16], dbr[16];
  dd_rig_endpoint(rig, "bus", ep, sizeof ep);
  snprintf(log, sizeof log, "%s/can.log", dd_rig_dir(rig));
  snprintf(pcap, sizeof pcap, "%s/can.pcap", dd_rig_dir(rig));
  snprintf(br, sizeof br, "%u", v->bitrate);
  snprintf(dbr, sizeof dbr, "%u", v->data_bitrate ? v->data_bitrate : v->bitrate);
  if (!can) {
    const char *bus_args[] = {"--endpoint", ep, "--bitrate", br, "--dbitrate", dbr,
                              "--candump", log, "--pcap", pcap, NULL};
    if (dd_rig_spawn(rig, "bus", "bus", bus_args, 10 * DD_US_PER_S) < 0) goto out_rig;
  }
  const char *veh_args[] = {path, can ? "--can" : "--bus", can ? can : ep, NULL};
  if (dd_rig_spawn(rig, "vehicle", "vehicle", veh_args, 10 * DD_US_PER_S) < 0) goto out_rig;
  if (socketcand) {
    const char *sc_args[] = {"--bus", ep, "--port", socketcand, NULL};
    if (dd_rig_spawn(rig, "socketcand", "socketcand", sc_args, 10 * DD_US_PER_S) < 0)
      goto out_rig;
  }
  printf("vehicle %s: %s %s %d, %zu ECU(s)\n", v->vin, v->make, v->model, v->model_year,
         v->n_ecus);
  for (size_t i = 0; i < v->n_ecus; i++) {
    const dd_vehicle_ecu_t *e = &v->ecus[i];
    printf("  %-6s %-12s request %0*X  response %0*X%s\n", e->name, dd_ecu_role_name(e->role),
           e->extended ? 8 : 3, e->request_id, e->extended ? 8 : 3, e->response_id,
           e->fd ? "  CAN FD" : "");
  }
  if (can) printf("on SocketCAN interface %s\n", can);
  else printf("on the virtual bus %s at %u bit/s\n", ep, v->bitrate);
  if (socketcand) printf("socketcand on 127.0.0.1:%s, channel vbus0\n", socketcand);
  printf("run folder %s (timeline.jsonl%s); Ctrl-C to stop\n", dd_rig_dir(rig),
         can ? "" : ", can.log, can.pcap");
  fflush(stdout);

  dd_loop_t *loop = dd_rig_loop(rig);
  dd_loop_add_fd(loop, sfd, s_on_signal, &sig);
  dd_loop_timer_every(loop, 500 * DD_US_PER_MS, s_watch, rig);
  dd_loop_run(loop); /* until a signal or a process failing */
  code = sig ? DD_EXIT_OK : DD_EXIT_FAILURE;
  if (dd_rig_stop_all(rig, 5 * DD_US_PER_S)) code = DD_EXIT_FAILURE;
  printf("stopped%s; timeline in %s/timeline.jsonl\n", code ? " (a process failed)" : "",
         dd_rig_dir(rig));
out_rig:
  dd_rig_destroy(&rig);
out_vehicle:
  dd_vehicle_destroy(&v);
  if (sfd >= 0) close(sfd);
  return code;
}
