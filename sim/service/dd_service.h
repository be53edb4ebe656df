/* dd_service: the service device process's front: a ROUTER for the first device (ServiceHello,
 * VehicleAck, programming) and the second device, a UDP socket for the direct record path, a
 * DEALER to the relay, and the dd_service_core intake and package pacing behind them.
 *
 * Message flows (one Envelope per frame or datagram):
 *   S3    first device -> ServiceHello{session_id, token, device_id} -> ServiceWelcome{accepted,
 *         service_id, next_record_seq}; the token must equal --token when one is set. A hello
 *         for the same session resumes it (next_record_seq says where); the service then says
 *         hello to the relay (RelayForward addressed to itself) for that session.
 *         second device -> ServiceHello{session_id: "*", device_id}: it reads the records of
 *         every session (no token: the second device is the service's own reader).
 *   S45   UDP: VehicleRecord (one envelope per datagram); Probe -> ProbeEcho to the sender.
 *   S44   relay -> RelayForward{inner: VehicleRecord envelope}.
 *   S4    -> first device: VehicleAck{cumulative, sacks} after each batch of input, and every
 *         20 ms while records are held beyond a gap; -> second device: every record exactly once,
 *         in order (the first device's envelope, unchanged), held until the second device is
 *         there.
 *   S401  second device -> ProgramOffer + ProgramChunks (any size, in order; ProgramAck back);
 *         when complete and its SHA-256 matches the offer, -> first device: ProgramOffer, then
 *         chunks of --chunk bytes (default 16 KiB), at most --window (4) outstanding, driven by
 *         ProgramAck.next_offset; no progress for --stall-ms or a new ServiceHello: the offer
 *         again and the chunks from the last acknowledged offset.
 *   S402  first device -> ProgramStatus: forwarded to the second device.
 *   any   Probe on the ROUTER -> ProbeEcho.
 *
 * Events: service.up, service.hello {device, session, accepted, resumed, next_seq, reason},
 * service.record {seq, path, duplicate, verdict}, service.record_refused {session, seq, path},
 * service.package {package_id, size, ok, reason}, service.program {package_id, offset, total},
 * service.program_resume {package_id, from, reason, resumes}, service.program_done,
 * service.program_status {package_id, phase, percent}, service.relay_error, service.summary. */
#ifndef DD_SERVICE_H
#define DD_SERVICE_H

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
} dd_service_cfg_t;

typedef struct dd_service dd_service_t;

/* Bind, connect, register on the process loop. 0, DD_EINVAL (bad configuration), DD_ENOMEM or
 * -errno of a failed bind. */
int dd_service_new(dd_proc_t *proc, const dd_service_cfg_t *cfg, dd_service_t **out);
/* Publishes service.summary and closes the sockets. */
void dd_service_destroy(dd_service_t **self_p);

/* Parse "HOST:PORT" ("[v6]:PORT" too) into a socket address; 0 or DD_EINVAL. */
struct sockaddr_storage;
int dd_service_parse_hostport(const char *text, struct sockaddr_storage *addr, unsigned *addrlen);

#endif
