/* dd_service: the service device process's front: a ROUTER for the first devices (ServiceHello,
 * VehicleAck, programming) and the second device, a UDP socket for the direct record path, a
 * DEALER to the relay, and the dd_service_core session table and package pacing behind them.
 *
 * Sessions: many first devices are served at once, each session (ServiceHello.session_id) with
 * its own entry in a bounded table (dd_svc_table_t, --max-sessions, default 256): its own record
 * intake (order, duplicates, ack state) and the routing id of its first device. Records are
 * looked up by the session id they carry; acks go to that session's device on the ROUTER (for
 * both paths: the first device takes acks on its service link, so the UDP source address of
 * direct records is not needed). An entry is freed on SessionClose from its own first device,
 * or after --session-idle-s without a hello or a record (default 600 s).
 *
 * Message flows (one Envelope per frame or datagram):
 *   S3    first device -> ServiceHello{session_id, token, device_id} -> ServiceWelcome{accepted,
 *         service_id, next_record_seq}; the token must equal --token when one is set. A hello
 *         for an open session resumes it (same intake; next_record_seq says where; its acks go to
 *         the routing id of this hello); an unknown one opens an entry, or is refused ("service
 *         device full: N sessions open") when the table is full. The service then says hello to
 *         the relay (RelayForward addressed to itself) for that session.
 *         second device -> ServiceHello{session_id: "*", device_id}: it reads the records of
 *         every session (no token: the second device is the service's own reader).
 *   end   first device -> SessionClose{session_id}: its entry is freed.
 *   S45   UDP: VehicleRecord (one envelope per datagram); Probe -> ProbeEcho to the sender.
 *   S44   relay -> RelayForward{inner: VehicleRecord envelope}.
 *   S4    -> each session's first device: VehicleAck{session_id, cumulative, sacks} after each
 *         batch of input that brought records of that session, and every 20 ms while records are
 *         held beyond a gap; -> second device: every record exactly once, in order within its
 *         session (the first device's envelope, unchanged, carrying its session id), held until
 *         the second device is there.
 *   S401  second device -> ProgramOffer + ProgramChunks (any size, in order; ProgramAck back);
 *         when complete and its SHA-256 matches the offer, -> first device: ProgramOffer, then
 *         chunks of --chunk bytes (default 16 KiB), at most --window (4) outstanding, driven by
 *         ProgramAck.next_offset; no progress for --stall-ms or a new ServiceHello of that
 *         device: the offer again and the chunks from the last acknowledged offset. Packages go
 *         to the first device of the most recent session; a package under way stays with its
 *         device while that device's session is open.
 *   S402  first device -> ProgramStatus: forwarded to the second device.
 *   any   Probe on the ROUTER -> ProbeEcho.
 *
 * Events: service.up {..., max_sessions, session_idle_s}, service.hello {device, session,
 * accepted, resumed, next_seq, reason, sessions}, service.sessions_full {session, device, max},
 * service.session_closed {session, peer, reason: closed|idle, received, delivered, duplicates,
 * acks, open_s, idle_s, sessions}, service.record {seq, path, duplicate, verdict, session},
 * service.record_refused {session, seq, path, reason},
 * service.package {package_id, size, ok, reason}, service.program {package_id, offset, total},
 * service.program_resume {package_id, from, reason, resumes}, service.program_done,
 * service.program_status {package_id, phase, percent}, service.relay_error, service.summary
 * {received, direct, relay, duplicates, refused, delivered, forwarded, held, acks, sessions,
 * sessions_open, sessions_peak, sessions_resumed, sessions_closed, sessions_idled, sessions_full,
 * unknown_session}: record counters over every session served. */
#ifndef DD_SERVICE_H
#define DD_SERVICE_H

#include <stddef.h>
#include <stdint.h>

#include "dd_proc.h"

typedef struct {
  const char *endpoint;     /* ROUTER bind address */
  const char *udp;          /* HOST:PORT to bind for the direct path */
  const char *relay;        /* relay endpoint to connect to, or NULL */
  const char *service_id;   /* party id (relay destination, ServiceWelcome.service_id) */
  const char *token;        /* required ServiceHello token, or NULL for any */
  uint32_t chunk;           /* package chunk bytes to the first device (0: 64 KiB) */
  unsigned window;          /* chunks outstanding (0: 4) */
  uint64_t stall_us;        /* resume after this long without ack progress (0: 1 s) */
  size_t max_sessions;      /* sessions served at once (0: DD_SVC_SESSIONS_DEFAULT, 256) */
  uint64_t session_idle_us; /* free a session this long without traffic (0: 10 min;
                               UINT64_MAX: never) */
} dd_service_cfg_t;

typedef struct dd_service dd_service_t;

/* Bind, connect, register on the process loop. 0, DD_EINVAL (bad configuration, e.g.
 * max_sessions above DD_SVC_SESSIONS_LIMIT), DD_ENOMEM or -errno of a failed bind. */
int dd_service_new(dd_proc_t *proc, const dd_service_cfg_t *cfg, dd_service_t **out);
/* Publishes service.summary and closes the sockets. */
void dd_service_destroy(dd_service_t **self_p);

/* Parse "HOST:PORT" ("[v6]:PORT" too) into a socket address; 0 or DD_EINVAL. */
struct sockaddr_storage;
int dd_service_parse_hostport(const char *text, struct sockaddr_storage *addr, unsigned *addrlen);

#endif
