/* dd_control: authorization rules for remote control signals (S5). */
#include "dd_control.h"

#include <string.h>

/* Below this the vehicle counts as stationary (speed sensors read a little above 0 at rest). */
#define S_STATIONARY_KMH 0.5

static bool s_same(const char *a, const char *b) { return a && b && *a && !strcmp(a, b); }

dd_control_verdict_t dd_control_authorize(const dd_control_ctx_t *ctx, dd_control_action_t action,
                                          const char *session_id, const char *terminal_id) {
  if (!ctx->accept_unpaid) {
    if (!ctx->established) return DD_CTL_NO_SESSION;
    if (!ctx->paid) return DD_CTL_NOT_PAID;
    if (!s_same(session_id, ctx->session_id)) return DD_CTL_WRONG_SESSION;
    if (!s_same(terminal_id, ctx->terminal_id)) return DD_CTL_WRONG_TERMINAL;
  }
  if (ctx->reflash_active && action != DD_CTL_STOP_STREAM) return DD_CTL_BUSY;
  bool moving = ctx->speed_kmh >= S_STATIONARY_KMH;
  switch (action) {
  case DD_CTL_IO_CONTROL:
  case DD_CTL_ROUTINE:
  case DD_CTL_ECU_RESET:
    if (moving) return DD_CTL_VEHICLE_MOVING;
    break;
  case DD_CTL_START_REFLASH:
    if (moving) return DD_CTL_VEHICLE_MOVING;
    if (ctx->engine_running) return DD_CTL_ENGINE_RUNNING;
    break;
  default:
    break;
  }
  return DD_CTL_OK;
}

static const char *const s_actions[DD_CTL__COUNT] = {
    "read_dtcs", "clear_dtcs", "read_dids", "read_pids",  "stream_pids",
    "stop_stream", "io_control", "routine", "ecu_reset", "start_reflash"};

const char *dd_control_action_name(dd_control_action_t a) {
  return (unsigned)a < DD_CTL__COUNT ? s_actions[a] : "?";
}

const char *dd_control_verdict_name(dd_control_verdict_t v) {
  static const char *const names[] = {"accepted",      "no_session",     "not_paid",
                                      "wrong_terminal", "wrong_session", "vehicle_moving",
                                      "engine_running", "busy"};
  return (unsigned)v < sizeof names / sizeof *names ? names[v] : "?";
}
