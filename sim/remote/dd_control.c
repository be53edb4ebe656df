/* dd_control: authorization rules for remote control signals (S5). */
#include "dd_control.h"

#include <string.h>

/* Below this the vehicle counts as stationary (speed sensors read a little above 0 at rest). */
#define S_STATIONARY_KMH 0.5

static bool s_same(const char *a, const char *b) { return a && b && *a && !strcmp(a, b); }

dd_control_verdict_t dd_control_check_session(const dd_control_ctx_t *ctx, const char *session_id,
                                              const char *terminal_id) {
  if (ctx->accept_unpaid) return DD_CTL_OK;
  if (!ctx->window_open) return DD_CTL_NO_SESSION;
  /* who asks first: a terminal that does not hold the session learns only that */
  if (!s_same(terminal_id, ctx->terminal_id)) return DD_CTL_WRONG_TERMINAL;
  if (ctx->link_terminal && *ctx->link_terminal && !s_same(ctx->link_terminal, ctx->terminal_id))
    return DD_CTL_WRONG_TERMINAL; /* it claims the holder's id over another terminal's link */
  if (!s_same(session_id, ctx->session_id)) return DD_CTL_WRONG_SESSION;
  if (!ctx->paid) return DD_CTL_NOT_PAID;
  if (!ctx->established) return DD_CTL_NOT_CONNECTED;
  return DD_CTL_OK;
}

dd_control_verdict_t dd_control_check_vehicle(const dd_control_ctx_t *ctx,
                                              dd_control_action_t action) {
  if ((unsigned)action >= DD_CTL__COUNT) return DD_CTL_UNKNOWN_ACTION;
  if (ctx->reflash_active && action != DD_CTL_STOP_STREAM) return DD_CTL_BUSY;
  /* NaN (speed unknown) fails the comparison: unknown counts as moving */
  bool moving = !(ctx->speed_kmh < S_STATIONARY_KMH);
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

dd_control_verdict_t dd_control_authorize(const dd_control_ctx_t *ctx, dd_control_action_t action,
                                          const char *session_id, const char *terminal_id) {
  dd_control_verdict_t v = dd_control_check_session(ctx, session_id, terminal_id);
  return v != DD_CTL_OK ? v : dd_control_check_vehicle(ctx, action);
}

bool dd_control_action_from_wire(unsigned wire, dd_control_action_t *out) {
  if (wire < 1 || wire > DD_CTL__COUNT) return false;
  *out = (dd_control_action_t)(wire - 1);
  return true;
}

static const char *const s_actions[DD_CTL__COUNT] = {
    "read_dtcs", "clear_dtcs", "read_dids", "read_pids",  "stream_pids",
    "stop_stream", "io_control", "routine", "ecu_reset", "start_reflash"};

const char *dd_control_action_name(dd_control_action_t a) {
  return (unsigned)a < DD_CTL__COUNT ? s_actions[a] : "?";
}

static const struct {
  const char *name; /* verdict name (audit events) */
  const char *text; /* for people */
} s_verdicts[] = {
    {"accepted", "accepted"},
    {"no_session", "no remote session is open"},
    {"not_paid", "the session's order is not paid"},
    {"wrong_terminal", "another terminal holds the session"},
    {"wrong_session", "the signal names another session"},
    {"vehicle_moving", "the vehicle is moving; this action needs it stationary"},
    {"engine_running", "the engine is running; reflash needs it off"},
    {"busy", "a reflash is under way"},
    {"not_connected", "the terminal's request signal (S17) has not come yet"},
    {"unknown_action", "unknown action"},
};

const char *dd_control_verdict_name(dd_control_verdict_t v) {
  return (unsigned)v < sizeof s_verdicts / sizeof *s_verdicts ? s_verdicts[v].name : "?";
}

const char *dd_control_verdict_text(dd_control_verdict_t v) {
  return (unsigned)v < sizeof s_verdicts / sizeof *s_verdicts ? s_verdicts[v].text : "?";
}
