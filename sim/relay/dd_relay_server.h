/* dd_relay_server: the relay process's ZeroMQ front: a ROUTER that first and service devices
 * connect to (DEALER, routing id = process id), the dd_relay store-and-forward core behind it,
 * and the relay's timeline events.
 *
 * Messages taken (one Envelope per frame):
 *   RelayForward{session_id, destination, inner} -> delivered to destination as a RelayForward
 *       with the same session_id, destination and inner bytes (outer sender: the relay); or,
 *       when it cannot be taken, RelayError{session_id, code, text} to the sender.
 *       A RelayForward addressed to its own sender is the hello (see dd_relay.h): it is echoed.
 *   SessionClose{session_id}  -> the session and what it still holds are dropped (no answer;
 *       RelayError when the sender is not one of its ends).
 *   Probe{probe_id, sent_us}  -> ProbeEcho (S43: latency of the relay path).
 *   anything else             -> RelayError DD_EWIRE_UNEXPECTED.
 * Every message counts as a sign of life of its sender: stored messages for it leave at once.
 *
 * Timeline events: relay.up, relay.session_open, relay.end_joined, relay.end_absent,
 * relay.flushed, relay.session_closed, relay.session_expired, relay.buffer_full, relay.refused,
 * relay.counters (each second while they change), relay.summary (at the end).
 * Harness commands: action "stats" returns the counters as JSON. */
#ifndef DD_RELAY_SERVER_H
#define DD_RELAY_SERVER_H

#include "dd_proc.h"
#include "dd_relay.h"

typedef struct {
  const char *endpoint; /* ROUTER bind address, e.g. ipc:///tmp/run/relay */
  dd_relay_cfg_t relay; /* core limits (zero fields: defaults) */
  uint64_t counters_us; /* relay.counters period (default 1 s) */
} dd_relay_server_cfg_t;

typedef struct dd_relay_server dd_relay_server_t;

/* Bind and register on the process loop. 0, DD_EINVAL (bad configuration or endpoint),
 * DD_ENOMEM, or -errno of a failed bind. */
int dd_relay_server_new(dd_proc_t *proc, const dd_relay_server_cfg_t *cfg, dd_relay_server_t **out);
/* Publishes relay.summary and closes the socket (stored messages are lost). */
void dd_relay_server_destroy(dd_relay_server_t **self_p);

dd_relay_stats_t dd_relay_server_stats(const dd_relay_server_t *self);

/* Party names of routing ids: dd_wire_party_name / dd_wire_party_id (dd_wire.h). */

#endif
