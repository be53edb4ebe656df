/* dd_control: who may drive the first device remotely (mission S5): a control signal is
 * accepted only inside an established, paid session, only from the terminal that holds it (by
 * its own word and by the link it came over), actuator tests, routines and resets only while the
 * vehicle is stationary, reflash only with the engine off; every decision is returned with its
 * reason so it can be recorded (audit). Sans-I/O. */
#ifndef DD_CONTROL_H
#define DD_CONTROL_H

#include <stdbool.h>
#include <stdint.h>

typedef enum {
  DD_CTL_READ_DTCS,
  DD_CTL_CLEAR_DTCS,
  DD_CTL_READ_DIDS,
  DD_CTL_READ_PIDS,
  DD_CTL_STREAM_PIDS,
  DD_CTL_STOP_STREAM,
  DD_CTL_IO_CONTROL,
  DD_CTL_ROUTINE,
  DD_CTL_ECU_RESET,
  DD_CTL_START_REFLASH,
  DD_CTL__COUNT
} dd_control_action_t;

typedef enum {
  DD_CTL_OK,                /* accepted */
  DD_CTL_NO_SESSION,        /* no session window is open */
  DD_CTL_NOT_PAID,          /* the session's order is not paid */
  DD_CTL_WRONG_TERMINAL,    /* another terminal holds the session */
  DD_CTL_WRONG_SESSION,     /* the signal names another session */
  DD_CTL_VEHICLE_MOVING,    /* actuator test / routine / reset / reflash while the vehicle moves */
  DD_CTL_ENGINE_RUNNING,    /* reflash with the engine running */
  DD_CTL_BUSY,              /* a reflash is under way: nothing else may touch the ECUs */
  DD_CTL_NOT_CONNECTED,     /* paid, but the terminal's request signal (S17) has not come */
  DD_CTL_UNKNOWN_ACTION,    /* the signal asks for no action this device knows */
} dd_control_verdict_t;

typedef struct {
  bool window_open;          /* a session window is open (S12 done, not ended or closed) */
  bool paid;                 /* its order's payment is confirmed (S16) */
  bool established;          /* the remote connection stands (S17 received) */
  const char *session_id;    /* the session */
  const char *terminal_id;   /* the terminal holding it */
  const char *link_terminal; /* the terminal whose link the signal came over (NULL/"": unknown) */
  double speed_kmh;          /* vehicle speed now */
  bool engine_running;       /* engine state now */
  bool reflash_active;       /* a reflash is running */
  bool accept_unpaid;        /* planted defect: skip the session and payment checks */
} dd_control_ctx_t;

/* The session rules only (no vehicle state needed): who asks, in which session, paid or not.
 * The order of the checks tells a foreign terminal nothing about the session's payment. */
dd_control_verdict_t dd_control_check_session(const dd_control_ctx_t *ctx, const char *session_id,
                                              const char *terminal_id);
/* The vehicle rules only: speed, engine, reflash under way. */
dd_control_verdict_t dd_control_check_vehicle(const dd_control_ctx_t *ctx,
                                              dd_control_action_t action);
/* Decide on one control signal: the session rules, then the vehicle rules. */
dd_control_verdict_t dd_control_authorize(const dd_control_ctx_t *ctx, dd_control_action_t action,
                                          const char *session_id, const char *terminal_id);

/* ControlSignal.Action (sim/wire/duodiag.proto, 1..10) to an action; false when unknown. */
bool dd_control_action_from_wire(unsigned wire, dd_control_action_t *out);

const char *dd_control_action_name(dd_control_action_t a);
/* "accepted", "no_session", "not_paid", ... */
const char *dd_control_verdict_name(dd_control_verdict_t v);
/* A sentence for people: "the vehicle is moving; this action needs it stationary". */
const char *dd_control_verdict_text(dd_control_verdict_t v);

#endif
