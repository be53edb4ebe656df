/* duodiag-canbridge: joins the virtual CAN bus and a SocketCAN interface (a real adapter or
 * vcan), forwarding every frame either way. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "dd_canbridge.h"
#include "dd_canport_vbus.h"
#include "dd_err.h"
#include "dd_log.h"
#include "dd_proc.h"

#define S_ATTACH_TIMEOUT_US (10 * DD_US_PER_S) /* the bus must answer within this */

typedef struct {
  dd_proc_t *proc;        /* the process */
  dd_canbridge_t *bridge; /* the bridge */
  const char *bus_ep;     /* bus endpoint, for messages */
  uint64_t attach_by;     /* deadline for the bus's answer */
  int timer;              /* attach check timer */
} s_ctx_t;

static void s_usage(FILE *to) {
  fprintf(to,
          "usage: duodiag-canbridge --bus EP --can IFACE [--fd] [common options]\n"
          "Joins the virtual CAN bus at EP as one node and opens the SocketCAN interface IFACE\n"
          "(e.g. can0 or vcan0); every frame received on either side is sent on the other.\n"
          "  --fd   carry CAN FD frames (IFACE needs MTU 72); without it CAN FD frames are\n"
          "         dropped and counted\n"
          "Timeline: canbridge.up, canbridge.stats (each second when something changed),\n"
          "canbridge.drop (first frame dropped for each reason), canbridge.down.\n");
  fputs(dd_proc_common_usage(), to);
}

static int s_usage_error(dd_proc_t **proc, const char *what) {
  fprintf(stderr, "duodiag-canbridge: %s; see duodiag-canbridge --help\n", what);
  dd_proc_destroy(proc);
  return DD_EXIT_USAGE;
}

/* Ready once the bus has taken us in, so the harness knows frames can flow. */
static int s_check_attached(dd_loop_t *loop, int id, void *arg) {
  s_ctx_t *ctx = arg;
  if (dd_canport_vbus_attached(dd_canbridge_port_a(ctx->bridge), NULL, NULL)) {
    dd_loop_timer_cancel(loop, ctx->timer);
    dd_info("bridging the bus at %s", ctx->bus_ep);
    dd_proc_ready(ctx->proc);
  } else if (dd_loop_now(loop) > ctx->attach_by) {
    dd_error("the bus at %s did not answer within %llu s", ctx->bus_ep,
             (unsigned long long)(S_ATTACH_TIMEOUT_US / DD_US_PER_S));
    dd_loop_timer_cancel(loop, ctx->timer);
    dd_proc_stop(ctx->proc, DD_EXIT_FAILURE);
  }
  return 0;
}

int main(int argc, char **argv) {
  dd_proc_t *proc = NULL;
  if (dd_proc_new("canbridge", &argc, argv, &proc) < 0) return DD_EXIT_USAGE;
  if (dd_proc_help_asked(proc)) {
    s_usage(stdout);
    dd_proc_destroy(&proc);
    return DD_EXIT_OK;
  }
  const char *bus_ep = NULL, *ifname = NULL;
  bool fd = false;
  static const struct option opts[] = {{"bus", required_argument, 0, 'b'},
                                       {"can", required_argument, 0, 'c'},
                                       {"fd", no_argument, 0, 'f'},
                                       {0, 0, 0, 0}};
  int c;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
    case 'b': bus_ep = optarg; break;
    case 'c': ifname = optarg; break;
    case 'f': fd = true; break;
    default: return s_usage_error(&proc, "unknown option");
    }
  }
  if (optind != argc) return s_usage_error(&proc, "unexpected argument");
  if (!bus_ep) return s_usage_error(&proc, "--bus is required");
  if (!ifname) return s_usage_error(&proc, "--can is required");

  /* The kernel side first: without SocketCAN there is nothing to bridge. No loopback on either
   * port, so what the bridge sends never comes back to it (see dd_canbridge.h). */
  dd_canport_opts_t popts = {.fd = fd, .loopback = false};
  dd_canport_t *can = NULL, *vbus = NULL;
  int rc = dd_canport_socketcan_open(ifname, &popts, &can);
  if (rc < 0) {
    if (rc == DD_ECAN_NOKERNEL)
      dd_error("this kernel has no SocketCAN; run the bridge on a machine with a CAN interface "
               "or vcan");
    else
      dd_error("cannot open CAN interface %s: %s", ifname, dd_strerror(rc));
    dd_proc_destroy(&proc);
    /* A missing or wrong interface is bad input; a kernel without CAN is this machine's lack. */
    return rc == DD_ENOENT || rc == DD_EINVAL || rc == DD_ECAN_NOFD ? DD_EXIT_USAGE
                                                                    : DD_EXIT_FAILURE;
  }
  rc = dd_canport_vbus_open(dd_proc_zctx(proc), bus_ep, dd_proc_name(proc), &popts, &vbus);
  if (rc < 0) {
    dd_error("cannot join the bus at %s: %s", bus_ep, dd_strerror(rc));
    dd_canport_destroy(&can);
    dd_proc_destroy(&proc);
    return rc == DD_EINVAL ? DD_EXIT_USAGE : DD_EXIT_FAILURE;
  }
  s_ctx_t ctx = {.proc = proc, .bus_ep = bus_ep};
  dd_canbridge_cfg_t bc = {.name_a = "vbus", .name_b = ifname, .fd_a = fd, .fd_b = fd};
  rc = dd_canbridge_new(dd_proc_loop(proc), dd_proc_events(proc), vbus, can, &bc, &ctx.bridge);
  if (rc < 0) {
    dd_error("cannot start the bridge: %s", dd_strerror(rc));
    dd_proc_destroy(&proc);
    return DD_EXIT_FAILURE;
  }
  dd_loop_t *loop = dd_proc_loop(proc);
  ctx.attach_by = dd_loop_now(loop) + S_ATTACH_TIMEOUT_US;
  ctx.timer = dd_loop_timer_every(loop, 5 * DD_US_PER_MS, s_check_attached, &ctx);
  int code = ctx.timer > 0 ? dd_proc_run(proc) : DD_EXIT_FAILURE;
  dd_canbridge_destroy(&ctx.bridge);
  dd_proc_destroy(&proc);
  return code;
}
