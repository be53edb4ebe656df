/* dd_service_core: the service device's sans-I/O parts: vehicle-record intake from the direct
 * (UDP) and relay paths with exactly-once in-order hand-over and acknowledgement policy (S4),
 * and the pacing and resumption of a programming package sent to the first device (S401). */
#ifndef DD_SERVICE_CORE_H
#define DD_SERVICE_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dd_delivery.h"

#define DD_SVC_SESSION_MAX 256          /* session id bytes with the NUL */
#define DD_SVC_ACK_PERIOD_US 20000ull    /* re-acknowledge held gaps this often */
#define DD_SVC_CHUNK_DEFAULT (64u * 1024u) /* package chunk towards the first device */
#define DD_SVC_WINDOW_DEFAULT 4u          /* chunks outstanding at most */
#define DD_SVC_STALL_DEFAULT_US 1000000ull /* no ack progress this long: resume */

/* Path a record copy arrived on (the wire's VehicleRecord.Path numbers). */
typedef enum {
  DD_SVC_PATH_DIRECT = 1, /* UDP datagram (S45) */
  DD_SVC_PATH_RELAY = 2,  /* RelayForward through the relay (S44) */
} dd_svc_path_t;

const char *dd_svc_path_name(dd_svc_path_t path);

/* ---- record intake ---- */

typedef struct dd_svc_intake dd_svc_intake_t;

typedef struct {
  uint64_t received;   /* record copies taken in (both paths) */
  uint64_t direct;     /* of which over UDP */
  uint64_t relay;      /* of which through the relay */
  uint64_t duplicates; /* copies dropped as already received */
  uint64_t refused;    /* wrong session, or out of the window */
  uint64_t delivered;  /* records handed over in order */
  uint64_t acks;       /* acknowledgements produced */
} dd_svc_intake_stats_t;

int dd_svc_intake_new(dd_svc_intake_t **out);
void dd_svc_intake_destroy(dd_svc_intake_t **self_p);

/* A first device said ServiceHello for session_id. The same session as before resumes (what was
 * received is kept, *resumed = true); another one starts afresh. Returns the first record seq
 * still needed (ServiceWelcome.next_record_seq). DD_EINVAL for an empty or too long id. */
int dd_svc_intake_open(dd_svc_intake_t *self, const char *session_id, bool *resumed,
                       uint64_t *next_seq);
/* Current session id ("" before the first hello). */
const char *dd_svc_intake_session(const dd_svc_intake_t *self);

/* One record copy arrived on path: session_id and seq from the record; data[len] is what is
 * kept and handed over (the encoded envelope). *verdict says what became of it. Returns 0, or
 * DD_ENOENT for a record of another session (dropped, not acknowledged). */
int dd_svc_intake_on_record(dd_svc_intake_t *self, const char *session_id, uint64_t seq,
                            dd_svc_path_t path, const uint8_t *data, size_t len, uint64_t now,
                            dd_drecv_verdict_t *verdict);
/* The next record to hand over, in order; *data is owned by the caller (free()). A record is
 * DELIVERABLE only when every earlier one has been taken. */
bool dd_svc_intake_take(dd_svc_intake_t *self, uint64_t *seq, uint8_t **data, size_t *len);

/* True when an acknowledgement should go out now: a record arrived since the last one, or
 * records are held beyond a gap and DD_SVC_ACK_PERIOD_US has passed since the last one. */
bool dd_svc_intake_ack_due(const dd_svc_intake_t *self, uint64_t now);
/* Produce the acknowledgement (cumulative + SACK ranges, at most max); returns the number of
 * ranges. Clears the "due" state. */
size_t dd_svc_intake_ack(dd_svc_intake_t *self, uint64_t now, uint64_t *cum,
                         dd_seq_range_t *sacks, size_t max);
/* When the next periodic acknowledgement is due, or UINT64_MAX. */
uint64_t dd_svc_intake_deadline(const dd_svc_intake_t *self);
dd_svc_intake_stats_t dd_svc_intake_stats(const dd_svc_intake_t *self);

/* ---- package transfer to the first device ---- */

typedef enum {
  DD_SVC_PROG_OFFER = 1, /* send ProgramOffer (again) */
  DD_SVC_PROG_CHUNK = 2, /* send ProgramChunk{offset, len, last} */
} dd_svc_prog_kind_t;

typedef struct {
  dd_svc_prog_kind_t kind; /* what to send */
  uint64_t offset;         /* CHUNK: first byte */
  size_t len;              /* CHUNK: bytes */
  bool last;               /* CHUNK: ends the package */
  bool resume;             /* OFFER: sent again after an interruption */
} dd_svc_prog_out_t;

/* Caller-allocated pacing state (dd_svc_prog_init). */
typedef struct {
  uint32_t chunk;            /* bytes per chunk */
  unsigned window;           /* chunks outstanding at most */
  uint64_t stall_us;         /* no progress this long with data outstanding: resume */
  uint64_t total;            /* package size */
  uint64_t acked;            /* ProgramAck.next_offset seen highest */
  uint64_t sent;             /* next byte to send */
  uint64_t progress_us;      /* time of the last ack progress (or (re)start) */
  bool active;               /* a transfer is running */
  bool done;                 /* everything acknowledged */
  bool offer_due;            /* an offer is to be sent */
  bool resumed_offer;        /* the due offer is a resumption */
  unsigned resumes;          /* resumptions so far */
  uint64_t stale_acks;       /* acks below the acknowledged offset, ignored */
} dd_svc_prog_t;

/* chunk 0 / window 0 / stall 0 take the defaults. chunk is capped at 1 MiB (DD_WIRE_MAX_CHUNK). */
void dd_svc_prog_init(dd_svc_prog_t *p, uint32_t chunk, unsigned window, uint64_t stall_us);
/* Start a package of total bytes (>= 1): the offer and the first window become due. */
void dd_svc_prog_start(dd_svc_prog_t *p, uint64_t total, uint64_t now);
/* ProgramAck: 1 when it moved the acknowledged offset, 0 when not (stale or repeated),
 * DD_ERANGE when next_offset is past the package. */
int dd_svc_prog_on_ack(dd_svc_prog_t *p, uint64_t next_offset, uint64_t now);
/* The first device came back (new ServiceHello): offer again, resend from the acknowledged
 * offset. No-op without an unfinished transfer. */
void dd_svc_prog_resume(dd_svc_prog_t *p, uint64_t now);
/* What to send now; false when nothing (window full, done, or idle). A stall (no progress for
 * stall_us with data outstanding) turns into a resumption here. */
bool dd_svc_prog_poll(dd_svc_prog_t *p, uint64_t now, dd_svc_prog_out_t *out);
/* When dd_svc_prog_poll may have something without new input (stall deadline), or UINT64_MAX. */
uint64_t dd_svc_prog_deadline(const dd_svc_prog_t *p);

#endif
