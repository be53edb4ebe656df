/* dd_wire: the codec of duodiag's wire schema (duodiag.proto): encode, checked decode, ZeroMQ
 * framing (one frame per envelope) and timeline-event JSON lines. */
#ifndef DD_WIRE_H
#define DD_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "duodiag.pb-c.h"

/* Wire protocol version this code speaks; Envelope.version must equal it. */
#define DD_WIRE_VERSION 1u

/* Size limits (bytes), enforced on both encode and decode.
 *
 * DD_WIRE_MAX_CHUNK: the largest ProgramChunk.data and SessionMessage.payload. 1 MiB of
 * programming data is about 35 s of a 500 kbit/s CAN bus (ISO-TP tops out near 30 kB/s), which
 * is the most worth sending before the next ProgramAck; larger packages go in several chunks.
 * DD_WIRE_MAX_INNER: the largest envelope a RelayForward may carry: one largest chunk plus 64 KiB
 * for everything else an envelope holds (a few strings of at most DD_WIRE_MAX_STRING bytes).
 * DD_WIRE_MAX: the largest encoded envelope: a largest inner envelope plus another 64 KiB, so a
 * relayed largest chunk still fits. Sockets should refuse larger frames (dd_wire_limit_socket). */
#define DD_WIRE_MAX_CHUNK (1024u * 1024u)
#define DD_WIRE_HEADROOM (64u * 1024u)
#define DD_WIRE_MAX_INNER (DD_WIRE_MAX_CHUNK + DD_WIRE_HEADROOM)
#define DD_WIRE_MAX (DD_WIRE_MAX_INNER + DD_WIRE_HEADROOM)

#define DD_WIRE_MAX_STRING 4096u      /* any string field not listed below */
#define DD_WIRE_MAX_TEXT (64u * 1024u) /* Command.args_json, CommandResult.result_json */
#define DD_WIRE_MAX_BYTES (64u * 1024u) /* any bytes field not listed above */
#define DD_WIRE_MAX_REPEATED 4096u    /* elements of any repeated field not listed below */
#define DD_WIRE_MAX_EVENT_FIELDS 64u  /* Event.fields */
#define DD_WIRE_MAX_KEY 64u           /* Event Field.key */
#define DD_WIRE_MAX_SACKS 32u         /* VehicleAck.sacks */
#define DD_WIRE_MAX_PACKAGE (64u * 1024u * 1024u) /* ProgramOffer.total_size, chunk end offset */
#define DD_WIRE_MAX_RATE_HZ 1000.0    /* VehicleDataRequest/ControlSignal rate_hz */
#define DD_WIRE_IDENTITY_MAX 255u     /* ZeroMQ routing id (1..255 bytes, zmq_socket(3)) */

/* Why an envelope was rejected; dd_wire_stats_t counts each. */
typedef enum {
  DD_WIRE_R_TOO_BIG,      /* encoded size over DD_WIRE_MAX */
  DD_WIRE_R_BUDGET,       /* decoded form would need more memory than the decode budget */
  DD_WIRE_R_UNPACK,       /* not a valid protobuf encoding of Envelope */
  DD_WIRE_R_VERSION,      /* version missing or not DD_WIRE_VERSION */
  DD_WIRE_R_NO_BODY,      /* no body set */
  DD_WIRE_R_UNKNOWN_BODY, /* body of a type this version does not know */
  DD_WIRE_R_STRING,       /* string too long, not UTF-8, or with a NUL byte */
  DD_WIRE_R_BYTES,        /* bytes field too long or of the wrong size */
  DD_WIRE_R_ENUM,         /* enum number unknown, or unspecified where required */
  DD_WIRE_R_NUMBER,       /* number out of its range (non-finite doubles included) */
  DD_WIRE_R_REPEATED,     /* too many elements in a repeated field */
  DD_WIRE_R_MISSING,      /* required field empty or absent */
  DD_WIRE_R_FORMAT,       /* field of the wrong format (VIN, currency, ...) */
  DD_WIRE_R_CONSISTENCY,  /* fields contradict each other (SACK order, chunk range, keys) */
  DD_WIRE_R_FRAMING,      /* ZeroMQ message with the wrong number or size of frames */
  DD_WIRE_R_CHECKSUM,     /* datagram whose CRC-32C trailer does not match (corrupted) */
  DD_WIRE_R__COUNT
} dd_wire_reason_t;

/* Decode counters of one receiver; caller-allocated, zeroed by dd_wire_stats_init. */
typedef struct {
  uint64_t accepted;                        /* envelopes decoded and accepted */
  uint64_t accepted_bytes;                  /* their encoded bytes */
  uint64_t rejected[DD_WIRE_R__COUNT];      /* rejections per reason */
  int last_reason;                          /* reason of the last rejection, -1 if none */
} dd_wire_stats_t;

void dd_wire_stats_init(dd_wire_stats_t *stats);
/* Sum of all rejections. */
uint64_t dd_wire_stats_rejected(const dd_wire_stats_t *stats);
/* "too_big", "unpack", ...; "?" outside the enum. */
const char *dd_wire_reason_name(int reason);

/* Header of an outgoing envelope: version DD_WIRE_VERSION, sender (not copied: must outlive the
 * envelope), seq, sent time; no body. Set env->body_case and the matching member afterwards. */
void dd_wire_envelope_init(Duodiag__Envelope *env, const char *sender, uint64_t seq,
                           uint64_t now_us);

/* Check an envelope against every rule dd_wire_decode applies after parsing (version, body,
 * limits, formats). 0, or DD_EWIRE_VERSION / DD_EWIRE_MALFORMED with *why set (why may be NULL). */
int dd_wire_check(const Duodiag__Envelope *env, dd_wire_reason_t *why);

/* Trap: protobuf-c leaves out a oneof string member whose pointer is protobuf_c_empty_string
 * (what decoded messages hold for ""), so the peer sees the oneof unset. Pass a distinct empty
 * array for an empty oneof string (dd_events does this for event fields).
 *
 * Encode env into buf[cap]. The envelope must pass dd_wire_check. Returns 0 and *len; or
 * DD_EWIRE_VERSION / DD_EWIRE_MALFORMED, DD_EWIRE_TOO_BIG (over DD_WIRE_MAX), DD_ENOSPC (cap too
 * small; *len is then the size needed). */
int dd_wire_encode(const Duodiag__Envelope *env, uint8_t *buf, size_t cap, size_t *len);

/* Decode and check buf[len]. On success *out is an owned envelope (free with dd_wire_free).
 * Errors: DD_EWIRE_TOO_BIG (len > DD_WIRE_MAX, or the decoded form needs more memory than
 * 64 KiB + 16 bytes per input byte), DD_EWIRE_VERSION, DD_EWIRE_MALFORMED (not protobuf, no or
 * unknown body, any rule of dd_wire_check broken); *out is then NULL. Every outcome is counted
 * in stats (may be NULL). Strings in a decoded envelope are valid UTF-8 without NUL bytes and
 * never NULL; absent sub-messages are NULL. */
int dd_wire_decode(const uint8_t *buf, size_t len, Duodiag__Envelope **out,
                   dd_wire_stats_t *stats);

/* UDP datagrams (the direct path, S43-S45) carry no integrity check a corrupted record could
 * not slip through (the UDP checksum is optional over IPv4 and weak), so each datagram is the
 * encoded envelope followed by its CRC-32C (Castagnoli, as SCTP's, RFC 9260 appendix A) in
 * network byte order. A mismatch is a loss: the sender's retransmission repairs it. */
#define DD_WIRE_DGRAM_TRAILER 4
/* dd_wire_encode plus the trailer; cap must leave room for it. */
int dd_wire_encode_datagram(const Duodiag__Envelope *env, uint8_t *buf, size_t cap, size_t *len);
/* Check the trailer, then dd_wire_decode the rest. DD_EWIRE_CHECKSUM (counted as
 * DD_WIRE_R_CHECKSUM) when the datagram is shorter than the trailer or its CRC is wrong. */
int dd_wire_decode_datagram(const uint8_t *buf, size_t len, Duodiag__Envelope **out,
                            dd_wire_stats_t *stats);
/* CRC-32C (reflected, polynomial 0x1EDC6F41, init and final xor 0xFFFFFFFF); of "123456789" it
 * is 0xE3069283 (RFC 3720 B.4 check value). */
uint32_t dd_wire_crc32c(const uint8_t *data, size_t len);

/* Free an envelope returned by dd_wire_decode or dd_wire_recv*; sets *env_p to NULL. */
void dd_wire_free(Duodiag__Envelope **env_p);

/* Name of the body for logs: the schema's field name ("vin_query", "program_chunk", ...);
 * "none" when no body is set, "unknown" for a case this build does not know. */
const char *dd_wire_body_name(const Duodiag__Envelope *env);

/* True when vin is 17 characters of the ISO 3779 alphabet (digits and capitals but I, O, Q). */
bool dd_wire_vin_valid(const char *vin);

/* ---- ZeroMQ: one frame per envelope -------------------------------------------------------
 * All return 0 or a negative code: the encode/decode codes above, or -errno from libzmq
 * (DD_EAGAIN with ZMQ_DONTWAIT and nothing to do, -ETERM, -EINTR, -EHOSTUNREACH, ...). */

/* Set ZMQ_MAXMSGSIZE to DD_WIRE_MAX so a peer sending a larger frame is disconnected before
 * the frame is buffered. */
int dd_wire_limit_socket(void *zsock);

/* Send env as one frame (any socket type but ROUTER). flags: 0 or ZMQ_DONTWAIT. */
int dd_wire_send(void *zsock, const Duodiag__Envelope *env, int flags);

/* Receive one frame and decode it. A multipart message is drained and rejected
 * (DD_EWIRE_MALFORMED, reason framing). */
int dd_wire_recv(void *zsock, Duodiag__Envelope **out, dd_wire_stats_t *stats, int flags);

/* ROUTER: send env to the peer with routing id identity[idlen] (1..DD_WIRE_IDENTITY_MAX). */
int dd_wire_send_to(void *zsock, const void *identity, size_t idlen, const Duodiag__Envelope *env,
                    int flags);

/* ROUTER: receive [routing id][envelope] from a DEALER/ROUTER peer; the routing id is copied to
 * identity[idcap] and its length to *idlen (DD_WIRE_IDENTITY_MAX bytes always suffice). Other
 * shapes are drained and rejected (DD_EWIRE_MALFORMED, reason framing). */
int dd_wire_recv_from(void *zsock, uint8_t *identity, size_t idcap, size_t *idlen,
                      Duodiag__Envelope **out, dd_wire_stats_t *stats, int flags);

/* ---- party names ------------------------------------------------------------------------------
 * Party name of a routing id: the id itself when it is printable ASCII (0x21-0x7E) not starting
 * with '~', else '~' and its bytes in hex. DD_ENAMETOOLONG when that does not fit cap. */
int dd_wire_party_name(const uint8_t *id, size_t idlen, char *buf, size_t cap);
/* The inverse: the routing id of a party name, into id[cap]; returns its length or a negative
 * code (DD_EINVAL for a malformed hex form). */
int dd_wire_party_id(const char *name, uint8_t *id, size_t cap);

/* ---- timeline events ------------------------------------------------------------------------ */

/* One event as one compact JSON object (no newline):
 *   {"t_us":MONO,"wall_us":WALL,"proc":"...","kind":"...",KEY:VALUE,...}
 * with the fields in order. *json is malloc'ed (free()). DD_EINVAL when the event breaks the
 * Event rules of dd_wire_check (empty/duplicate/reserved key, unset or non-finite value, bad
 * UTF-8), DD_ENOMEM. */
int dd_wire_event_to_json(const Duodiag__Event *ev, char **json);

#endif
