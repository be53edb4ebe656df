/* duodiag-socketcand: serves the virtual CAN bus to socketcand clients (python-can, SavvyCAN,
 * Kayak) over TCP. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "dd_canport_vbus.h"
#include "dd_err.h"
#include "dd_log.h"
#include "dd_proc.h"
#include "dd_socketcand.h"
#include "dd_socketcand_server.h"

#define S_ATTACH_TIMEOUT_US (10 * DD_US_PER_S) /* the bus must answer within this */

typedef struct {
  dd_proc_t *proc;             /* the process */
  dd_socketcand_server_t *srv; /* the server */
  const char *bus_ep;          /* bus endpoint, for messages */
  uint64_t attach_by;          /* deadline for the bus's answer */
  int timer;                   /* attach check timer */
} s_ctx_t;

static void s_usage(FILE *to) {
  fprintf(to,
          "usage: duodiag-socketcand --bus EP --port N [--bind ADDR] [--iface NAME]\n"
          "                          [--max-clients N] [common options]\n"
          "Joins the virtual CAN bus at EP as one node and serves it over TCP in the socketcand\n"
          "protocol: clients send < open NAME > (NAME from --iface, default vbus0), then\n"
          "< rawmode > to receive every frame, and < send ... > / < fdsend ... > to transmit.\n"
          "  --port N         TCP port (socketcand's own default is %d; 0 = any free port, named\n"
          "                   in the socketcand.listening timeline event and the log)\n"
          "  --bind ADDR      numeric address to listen on (default 127.0.0.1)\n"
          "  --max-clients N  clients at once (default 16, at most %d)\n",
          DD_SOCKETCAND_PORT, DD_SOCKETCAND_SERVER_CLIENTS_MAX);
  fputs(dd_proc_common_usage(), to);
}

static int s_usage_error(dd_proc_t **proc, const char *what) {
  fprintf(stderr, "duodiag-socketcand: %s; see duodiag-socketcand --help\n", what);
  dd_proc_destroy(proc);
  return DD_EXIT_USAGE;
}

/* Ready once the bus has taken our node in: clients already connected wait for nothing, and
 * a harness knows frames can flow. */
static int s_check_attached(dd_loop_t *loop, int id, void *arg) {
  s_ctx_t *ctx = arg;
  if (dd_canport_vbus_attached(dd_socketcand_server_canport(ctx->srv), NULL, NULL)) {
    dd_loop_timer_cancel(loop, ctx->timer);
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
  if (dd_proc_new("socketcand", &argc, argv, &proc) < 0) return DD_EXIT_USAGE;
  if (dd_proc_help_asked(proc)) {
    s_usage(stdout);
    dd_proc_destroy(&proc);
    return DD_EXIT_OK;
  }
  const char *bus_ep = NULL;
  long port = -1, max_clients = 16;
  dd_socketcand_server_cfg_t cfg = {.bind_addr = "127.0.0.1", .bus = "vbus0"};
  static const struct option opts[] = {
      {"bus", required_argument, 0, 'b'},         {"port", required_argument, 0, 'p'},
      {"bind", required_argument, 0, 'a'},        {"iface", required_argument, 0, 'i'},
      {"max-clients", required_argument, 0, 'm'}, {0, 0, 0, 0}};
  int c;
  char *end;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
    case 'b': bus_ep = optarg; break;
    case 'p':
      port = strtol(optarg, &end, 10);
      if (*end || !*optarg || port < 0 || port > 65535)
        return s_usage_error(&proc, "--port wants 0..65535");
      break;
    case 'a': cfg.bind_addr = optarg; break;
    case 'i': cfg.bus = optarg; break;
    case 'm':
      max_clients = strtol(optarg, &end, 10);
      if (*end || !*optarg || max_clients < 1 || max_clients > DD_SOCKETCAND_SERVER_CLIENTS_MAX)
        return s_usage_error(&proc, "--max-clients out of range");
      break;
    default: return s_usage_error(&proc, "unknown option");
    }
  }
  if (optind != argc) return s_usage_error(&proc, "unexpected argument");
  if (!bus_ep) return s_usage_error(&proc, "--bus is required");
  if (port < 0) return s_usage_error(&proc, "--port is required");
  cfg.port = (uint16_t)port;
  cfg.max_clients = (int)max_clients;

  /* One node for all clients; loopback so each client's frame, once on the bus, can be passed
   * to the other clients (see dd_socketcand_server.h). FD on: the daemon opens CAN FD whenever
   * its interface can carry it. */
  dd_canport_opts_t popts = {.fd = true, .loopback = true};
  dd_canport_t *port_can = NULL;
  int rc = dd_canport_vbus_open(dd_proc_zctx(proc), bus_ep, dd_proc_name(proc), &popts, &port_can);
  if (rc < 0) {
    dd_error("cannot join the bus at %s: %s", bus_ep, dd_strerror(rc));
    dd_proc_destroy(&proc);
    return rc == DD_EINVAL ? DD_EXIT_USAGE : DD_EXIT_FAILURE;
  }
  s_ctx_t ctx = {.proc = proc, .bus_ep = bus_ep};
  rc = dd_socketcand_server_new(dd_proc_loop(proc), dd_proc_events(proc), port_can, &cfg, &ctx.srv);
  if (rc < 0) {
    dd_proc_destroy(&proc);
    return rc == DD_EINVAL ? DD_EXIT_USAGE : DD_EXIT_FAILURE;
  }
  dd_info("serving bus %s as \"%s\" on %s port %u", bus_ep, cfg.bus, cfg.bind_addr,
          dd_socketcand_server_port(ctx.srv));
  dd_loop_t *loop = dd_proc_loop(proc);
  ctx.attach_by = dd_loop_now(loop) + S_ATTACH_TIMEOUT_US;
  ctx.timer = dd_loop_timer_every(loop, 5 * DD_US_PER_MS, s_check_attached, &ctx);
  int code = ctx.timer > 0 ? dd_proc_run(proc) : DD_EXIT_FAILURE;
  dd_socketcand_server_destroy(&ctx.srv);
  dd_proc_destroy(&proc);
  return code;
}
