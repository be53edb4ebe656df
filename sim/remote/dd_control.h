/* dd_control: who may drive the first device remotely (mission S5): a control signal is
 * accepted only inside an established, paid session, only from the terminal that holds it,
 * actuator tests only while the vehicle is stationary; every decision is returned with its
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
  DD_CTL_NO_SESSION,        /* no established remote session */
  DD_CTL_NOT_PAID,          /* the session's order is not paid */
  DD_CTL_WRONG_TERMINAL,    /* another terminal holds the session */
  DD_CTL_WRONG_SESSION,     /* the signal names another session */
  DD_CTL_VEHICLE_MOVING,    /* actuator test / reset / reflash while the vehicle moves */
  DD_CTL_ENGINE_RUNNING,    /* reflash with the engine running */
  DD_CTL_BUSY,              /* a reflash is under way: nothing else may touch the ECUs */
} dd_control_verdict_t;

typedef struct {
  bool established;       /* the remote session stands (S17 done) */
  bool paid;              /* its order was paid (S16 confirmed) */
  const char *session_id; /* the session */
  const char *terminal_id; /* the terminal holding it */
  double speed_kmh;       /* vehicle speed now */
  bool engine_running;    /* engine state now */
  bool reflash_active;    /* a reflash is running */
  bool accept_unpaid;     /* planted defect: skip the session and payment checks */
} dd_control_ctx_t;

/* Decide on one control signal. */
dd_control_verdict_t dd_control_authorize(const dd_control_ctx_t *ctx, dd_control_action_t action,
                                          const char *session_id, const char *terminal_id);

const char *dd_control_action_name(dd_control_action_t a);
const char *dd_control_verdict_name(dd_control_verdict_t v);

#endif
