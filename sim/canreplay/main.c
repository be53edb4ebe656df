/* duodiag-canreplay: plays a candump log onto the virtual CAN bus at its recorded pace. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "dd_canmux.h"
#include "dd_canport_vbus.h"
#include "dd_canreplay.h"
#include "dd_err.h"
#include "dd_log.h"
#include "dd_proc.h"

#define S_ATTACH_TIMEOUT_US (10 * DD_US_PER_S) /* the bus must answer within this */

typedef struct {
  dd_proc_t *proc;        /* the process */
  dd_canmux_t *mux;       /* our node on the bus */
  dd_canreplay_t *replay; /* the player */
  const char *bus_ep;     /* bus endpoint, for messages */
  bool stay;              /* keep running after the end */
  uint64_t attach_by;     /* deadline for the bus's answer */
  int timer;              /* attach check timer */
} s_ctx_t;

static void s_usage(FILE *to) {
  fprintf(to,
          "usage: duodiag-canreplay --bus EP --log FILE [--loop] [--speed X] [--iface NAME]\n"
          "                         [--skip-malformed] [--stay] [common options]\n"
          "Joins the virtual CAN bus at EP and sends the frames of the candump log FILE\n"
          "(\"(sec.usec) iface frame\" lines, as candump -l writes them) at their recorded\n"
          "times relative to the first frame; the bus adds each frame's time on the wire.\n"
          "  --loop            start over after the last frame, until stopped\n"
          "  --speed X         X times the recorded pace (default 1; 2 = twice as fast)\n"
          "  --iface NAME      play only the lines of interface NAME\n"
          "  --skip-malformed  skip (and count) malformed lines; by default any malformed line\n"
          "                    is reported as FILE:LINE and nothing is sent (exit 2)\n"
          "  --stay            keep running after the end until stopped (default: exit 0 once\n"
          "                    the last frame has been on the bus)\n"
          "Timeline: canreplay.start, canreplay.progress (every 10 %%), canreplay.pass (with\n"
          "--loop), canreplay.malformed, canreplay.end.\n");
  fputs(dd_proc_common_usage(), to);
}

static int s_usage_error(dd_proc_t **proc, const char *what) {
  fprintf(stderr, "duodiag-canreplay: %s; see duodiag-canreplay --help\n", what);
  dd_proc_destroy(proc);
  return DD_EXIT_USAGE;
}

static void s_on_frame(const dd_can_frame_t *f, uint64_t now_us, void *arg) {
  s_ctx_t *ctx = arg;
  dd_canreplay_on_frame(ctx->replay, f);
}

static void s_on_done(dd_canreplay_t *replay, int code, void *arg) {
  s_ctx_t *ctx = arg;
  dd_canreplay_stats_t st = dd_canreplay_stats(replay);
  if (code == 0) dd_info("replay done: %llu frames sent", (unsigned long long)st.sent);
  if (code != 0 || !ctx->stay) dd_proc_stop(ctx->proc, code ? DD_EXIT_FAILURE : DD_EXIT_OK);
}

/* Start once the bus has taken us in: a frame sent before would wait anyway, and the recorded
 * spacing of the first frames would be lost. */
static int s_check_attached(dd_loop_t *loop, int id, void *arg) {
  s_ctx_t *ctx = arg;
  if (dd_canport_vbus_attached(dd_canmux_port(ctx->mux), NULL, NULL)) {
    dd_loop_timer_cancel(loop, ctx->timer);
    dd_proc_ready(ctx->proc);
    dd_canreplay_start(ctx->replay, dd_canmux_port(ctx->mux));
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
  if (dd_proc_new("canreplay", &argc, argv, &proc) < 0) return DD_EXIT_USAGE;
  if (dd_proc_help_asked(proc)) {
    s_usage(stdout);
    dd_proc_destroy(&proc);
    return DD_EXIT_OK;
  }
  s_ctx_t ctx = {.proc = proc};
  dd_canreplay_cfg_t cfg = {.speed = 1.0, .await_echo = true};
  static const struct option opts[] = {
      {"bus", required_argument, 0, 'b'},   {"log", required_argument, 0, 'l'},
      {"loop", no_argument, 0, 'o'},        {"speed", required_argument, 0, 's'},
      {"iface", required_argument, 0, 'i'}, {"skip-malformed", no_argument, 0, 'k'},
      {"stay", no_argument, 0, 'y'},        {0, 0, 0, 0}};
  int c;
  char *end;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
    case 'b': ctx.bus_ep = optarg; break;
    case 'l': cfg.path = optarg; break;
    case 'o': cfg.loop = true; break;
    case 's':
      cfg.speed = strtod(optarg, &end);
      if (*end || !*optarg || !(cfg.speed > 0) || cfg.speed > 1e6 || !isfinite(cfg.speed))
        return s_usage_error(&proc, "--speed wants a number above 0 (at most 1e6)");
      break;
    case 'i': cfg.iface = optarg; break;
    case 'k': cfg.skip_malformed = true; break;
    case 'y': ctx.stay = true; break;
    default: return s_usage_error(&proc, "unknown option");
    }
  }
  if (optind != argc) return s_usage_error(&proc, "unexpected argument");
  if (!ctx.bus_ep) return s_usage_error(&proc, "--bus is required");
  if (!cfg.path) return s_usage_error(&proc, "--log is required");

  /* The whole log is checked before the bus is joined: bad input leaves no trace on the bus. */
  dd_loop_t *loop = dd_proc_loop(proc);
  int rc = dd_canreplay_new(loop, dd_proc_events(proc), &cfg, s_on_done, &ctx, &ctx.replay);
  if (rc < 0) {
    dd_proc_destroy(&proc);
    return rc == DD_ENOMEM ? DD_EXIT_FAILURE : DD_EXIT_USAGE;
  }
  /* CAN FD on, so FD frames of the log can be sent; loopback, so the end can wait until the
   * last frame has been on the bus. */
  dd_canport_opts_t popts = {.fd = true, .loopback = true};
  dd_canport_t *port = NULL;
  rc = dd_canport_vbus_open(dd_proc_zctx(proc), ctx.bus_ep, dd_proc_name(proc), &popts, &port);
  if (rc == 0) rc = dd_canmux_new(loop, port, &ctx.mux);
  if (rc == 0) rc = dd_canmux_listen(ctx.mux, s_on_frame, &ctx) > 0 ? 0 : DD_ENOSPC;
  if (rc < 0) {
    dd_error("cannot join the bus at %s: %s", ctx.bus_ep, dd_strerror(rc));
    dd_canmux_destroy(&ctx.mux);
    dd_canreplay_destroy(&ctx.replay);
    dd_proc_destroy(&proc);
    return rc == DD_EINVAL ? DD_EXIT_USAGE : DD_EXIT_FAILURE;
  }
  ctx.attach_by = dd_loop_now(loop) + S_ATTACH_TIMEOUT_US;
  ctx.timer = dd_loop_timer_every(loop, 5 * DD_US_PER_MS, s_check_attached, &ctx);
  int code = ctx.timer > 0 ? dd_proc_run(proc) : DD_EXIT_FAILURE;
  dd_canreplay_destroy(&ctx.replay);
  dd_canmux_destroy(&ctx.mux);
  dd_proc_destroy(&proc);
  return code;
}
