/* dd_terminal: the target terminal (the remote technician's / merchant's end) as a process
 * front: registers with the cloud and keeps its presence, answers the owner's session window,
 * instant-communication request and order decision, sends S17 and S2 once the cloud forwards
 * the payment, and turns the scenario's technician actions (harness commands) into
 * VehicleDataRequests (S41) and ControlSignals (S5).
 *
 * Links (one Envelope per frame): a ROUTER ("im") the first device's DEALER joins; a DEALER to
 * the cloud (routing id: the process id; the cloud forwards PaymentConfirmations of the orders
 * registered from it, sim/cloud/dd_cloud.h).
 *
 * Flows:
 *   start      -> cloud: TerminalList{own profile, online}, then Presence{online} every
 *                 heartbeat (1 s); Presence{online: false} at the end.
 *   S12        SessionOpen{terminal_id = own id} opens the window (another terminal id: the
 *              terminal answers SessionClose); SessionMessage TEXT gets a TEXT reply "re: ...";
 *              PICTURE/VOICE/VIDEO are counted.
 *   S13        ImRequest -> ImAnswer{accepted, reason} as scripted (accept, reject_reason),
 *              answer_delay after the request (0: at once).
 *   S14        accepted -> Order{order_id, session_id, merchant, fee, currency} to the cloud and
 *              to the first device, answer_delay after the ImAnswer.
 *   S15        OrderDecision: declined ends the session.
 *   S16-S17,S2 cloud -> PaymentConfirmation{ok, order_id of the session} -> first device:
 *              ConnectRequestSignal{session_id, order_id, media}, then ConnectionAddress{
 *              service_endpoint, udp_endpoint, relay_endpoint, token}.
 *   S41, S5    harness commands (below) -> VehicleDataRequest / ControlSignal; ControlResult
 *              and ProgramStatus from the first device are recorded. A VehicleDataRequest needs
 *              the connected session; a ControlSignal goes whenever the first device has opened a
 *              window with this terminal (it names that session), so that the first device's
 *              own checks (S5: paid session, holding terminal) are what refuses it.
 *   any        Probe -> ProbeEcho.
 *
 * Harness commands (ACTION key, JSON args; results are JSON):
 *   request {kind: dtcs|live_pids|dids|freeze_frame|history|vin_info, pids|dids|items: [..],
 *            rate_hz, count, ecu_id}                                   -> {"request_id": N}
 *   control {action: read_dtcs|clear_dtcs|read_dids|read_pids|stream_pids|stop_stream|
 *            io_control|routine|ecu_reset|start_reflash, ecu_id, ids: [..], args_hex, rate_hz,
 *            package_id}                                               -> {"control_id": N}
 *   message {kind: text|picture|voice|video, text, bytes}              -> {"seq": N}
 *   set {accept: bool, fee: N, reject_reason: TEXT, answer_delay_ms: N}
 *                                                    (also SET commands with these keys)
 *   close {reason}
 *   status {}                                        -> the session's state as JSON
 * Numbers in pids/dids/ids/ecu_id may be JSON integers or strings ("0x7E0").
 *
 * Events: terminal.up, terminal.session, terminal.message, terminal.im_request, terminal.im,
 * terminal.order,
 * terminal.order_decision, terminal.paid, terminal.connected, terminal.request, terminal.control,
 * terminal.control_result {control_id, accepted, reason, nrc, code, text},
 * terminal.program_status {package_id, phase, percent}, terminal.session_closed,
 * terminal.summary. */
#ifndef DD_TERMINAL_H
#define DD_TERMINAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dd_proc.h"

#define DD_TERMINAL_MAX_MAKES 8
#define DD_TERMINAL_TEXT_MAX 160

/* The terminal's profile and scripted behaviour. */
typedef struct {
  char terminal_id[DD_TERMINAL_TEXT_MAX];   /* terminal id (TerminalInfo.terminal_id) */
  char name[DD_TERMINAL_TEXT_MAX];          /* display name ("" = the id) */
  char makes[DD_TERMINAL_MAX_MAKES][32];    /* makes serviced */
  size_t n_makes;                           /* entries of makes */
  int64_t fee_minor;                        /* listed base fee */
  char currency[4];                         /* ISO 4217 */
  unsigned rating_x10;                      /* rating, tenths of a star */
  bool accept;                              /* accept ImRequests */
  char reject_reason[DD_TERMINAL_TEXT_MAX]; /* reason given when refusing */
  int64_t order_fee;                        /* fee in the Order; < 0: fee_minor */
  uint64_t answer_delay_us;                 /* the technician's time to answer an ImRequest,
                                               and again to write the order after accepting */
  char merchant_id[DD_TERMINAL_TEXT_MAX];   /* "" = the terminal id */
  char address[DD_TERMINAL_TEXT_MAX];       /* merchant postal address */
  char licence[DD_TERMINAL_TEXT_MAX];       /* business licence number */
} dd_terminal_profile_t;

typedef struct {
  const char *endpoint;         /* ROUTER bind address (IM link) */
  const char *cloud;            /* cloud endpoint */
  const char *service_endpoint; /* given to the first device in S2 */
  const char *udp_endpoint;     /* S2 */
  const char *relay_endpoint;   /* S2 */
  const char *token;            /* S2 */
  uint64_t heartbeat_us;        /* Presence period (0: 1 s) */
  bool offline;                 /* registered but offline: no heartbeats, not listed (S11) */
  dd_terminal_profile_t profile; /* profile and script */
} dd_terminal_cfg_t;

typedef struct dd_terminal dd_terminal_t;

/* Defaults: accept yes, fee 0, currency EUR, rating 0, order fee = fee. */
void dd_terminal_profile_init(dd_terminal_profile_t *p);
/* Read a profile YAML mapping (keys: id, name, makes, fee_minor, currency, rating_x10, accept,
 * reject_reason, order_fee, merchant_id, address, licence, answer_delay_ms) over p. 0,
 * DD_ECONFIG with why set ("file:line:col: what"), or -errno. */
int dd_terminal_profile_load(const char *path, dd_terminal_profile_t *p, char *why, size_t cap);
/* "A,B,C" into p->makes. 0 or DD_EINVAL (too many, too long). */
int dd_terminal_profile_set_makes(dd_terminal_profile_t *p, const char *csv);

int dd_terminal_new(dd_proc_t *proc, const dd_terminal_cfg_t *cfg, dd_terminal_t **out);
/* Says goodbye to the cloud, publishes terminal.summary, closes the sockets. */
void dd_terminal_destroy(dd_terminal_t **self_p);

#endif
