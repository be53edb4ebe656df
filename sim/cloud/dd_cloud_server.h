/* dd_cloud_server: the cloud process's ZeroMQ front: a ROUTER that first devices and terminals
 * connect to (DEALER, routing id = process id), the dd_cloud core behind it, and the cloud's
 * timeline events.
 *
 * Message flows (one Envelope per frame; "party" is the sender's routing id):
 *   S102-S103  first device -> VinQuery{vin}            -> VinInfo{found, vehicle info, ECUs}
 *   S11        first device -> TerminalListRequest{make} -> TerminalList{online terminals}
 *   S11        terminal -> TerminalList{its TerminalInfo}: registers its profile (no answer);
 *              TerminalInfo.online = true also counts as a heartbeat
 *   S11        terminal -> Presence{terminal_id, online}: heartbeat or goodbye (no answer)
 *   S14        terminal -> Order{...}: registers the order with the ledger (no answer; refusals
 *              are timeline events)
 *   S16        first device -> Payment{payment_id, order_id, amount, currency, payer}
 *                 -> PaymentConfirmation to the payer (at once, or once the order has arrived
 *                    or order_wait has passed); when charged, the same PaymentConfirmation also
 *                    goes to the party that registered the order (the terminal), which answers
 *                    the owner with its S17 ConnectRequestSignal
 *   any        Probe -> ProbeEcho (latency of the cloud path)
 *
 * Timeline events: cloud.up, cloud.vin_query, cloud.terminal_list, cloud.terminal_registered,
 * cloud.presence (changes only), cloud.order, cloud.payment_pending, cloud.payment,
 * cloud.payment_notify, cloud.failure_rule, cloud.ledger_terminal and cloud.ledger_summary (at
 * the end), cloud.summary (at the end), wire.rejected.
 *
 * Harness commands (ACTION key, JSON args):
 *   fail_payments {"payer"|"order"|"terminal": ID, "reason": TEXT, "count": N}
 *       refuse matching payments (none of the three: every payment); count 0 or absent: until
 *       cleared; reason default "payment declined"
 *   clear_failures {}
 *   set_online {"terminal": ID, "online": BOOL}   static presence of a terminal
 *   ledger {}      -> the ledger's counters and totals as JSON
 *   terminals {}   -> every known terminal with its online state as JSON */
#ifndef DD_CLOUD_SERVER_H
#define DD_CLOUD_SERVER_H

#include <stddef.h>

#include "dd_cloud.h"
#include "dd_proc.h"

typedef struct {
  const char *endpoint;             /* ROUTER bind address */
  const char *const *vehicle_paths; /* vehicle files or folders */
  size_t n_vehicle_paths;           /* how many */
  const char *terminals_path;       /* terminals file, or NULL */
  dd_cloud_cfg_t cloud;             /* core configuration (zero fields: defaults) */
} dd_cloud_server_cfg_t;

typedef struct dd_cloud_server dd_cloud_server_t;

/* Load the files, bind, register on the process loop. 0; DD_ECONFIG (bad or unreadable vehicle
 * or terminals file, reasons logged), DD_EINVAL (bad configuration or endpoint), DD_ENOMEM, or
 * -errno of a failed bind. */
int dd_cloud_server_new(dd_proc_t *proc, const dd_cloud_server_cfg_t *cfg, dd_cloud_server_t **out);
/* Publishes the ledger summary and closes the socket. */
void dd_cloud_server_destroy(dd_cloud_server_t **self_p);

dd_cloud_t *dd_cloud_server_core(dd_cloud_server_t *self);

#endif
