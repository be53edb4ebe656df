/* dd_service_core: the service device's sans-I/O parts: vehicle-record intake from the direct
 * (UDP) and relay paths with exactly-once in-order hand-over and acknowledgement policy (S4), a
 * bounded table of the sessions served at once (one intake and one first device each), and the
 * pacing and resumption of a programming package sent to the first device (S401). */
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

/* ---- session table ----
 * One service device serves many first devices at once. Each session (ServiceHello.session_id)
 * has its own entry: its own intake (order, duplicates, acknowledgement state) and the routing id
 * of its first device, to which its VehicleAcks go. A hello for a known session resumes it (the
 * same intake: what was received and acknowledged is kept, e.g. after a relay restart or an
 * outage); an unknown one opens a new entry while fewer than max_sessions are open, else it is
 * refused with DD_ENOSPC. Entries are freed when their session ends (SessionClose from its first
 * device) or after idle_us without a hello or a record. Lookup by session id is a hash table;
 * sessions are kept in order of last activity (idle expiry looks at the oldest only) and those
 * with acknowledgement work (a record since the last ack, or records held beyond a gap) on a list
 * of their own, so the cost per batch does not grow with the number of quiet sessions. */

#define DD_SVC_SESSIONS_DEFAULT 256u                 /* sessions open at once (max_sessions 0) */
#define DD_SVC_SESSIONS_LIMIT 65536u                 /* largest max_sessions accepted */
#define DD_SVC_IDLE_DEFAULT_US (600ull * 1000000ull) /* 10 min without traffic: freed */
#define DD_SVC_PEER_MAX 255u                         /* routing id bytes (ZeroMQ: 1..255) */

typedef struct dd_svc_table dd_svc_table_t;
typedef struct dd_svc_session dd_svc_session_t; /* an entry; owned by its table */

typedef struct {
  size_t max_sessions; /* open at once, 1..DD_SVC_SESSIONS_LIMIT (0: DD_SVC_SESSIONS_DEFAULT) */
  uint64_t idle_us;    /* free a session this long without traffic (0: default; UINT64_MAX:
                          never) */
} dd_svc_table_cfg_t;

/* Why an entry left the table (dd_svc_table_remove). */
typedef enum {
  DD_SVC_END_CLOSED = 1, /* its first device closed the session */
  DD_SVC_END_IDLE = 2,   /* no traffic for idle_us */
} dd_svc_end_t;

typedef struct {
  size_t open;               /* sessions in the table now */
  size_t peak;               /* most open at once */
  uint64_t opened;           /* entries created */
  uint64_t resumed;          /* hellos that resumed an open session */
  uint64_t closed;           /* entries freed by SessionClose */
  uint64_t idled;            /* entries freed after idle_us */
  uint64_t full;             /* hellos refused because the table was full */
  uint64_t unknown;          /* record copies of no open session (refused) */
  dd_svc_intake_stats_t rec; /* record counters of every session, freed ones and unknown
                                records (refused) included */
} dd_svc_table_stats_t;

/* DD_EINVAL for max_sessions above DD_SVC_SESSIONS_LIMIT; cfg NULL takes every default. */
int dd_svc_table_new(const dd_svc_table_cfg_t *cfg, dd_svc_table_t **out);
void dd_svc_table_destroy(dd_svc_table_t **self_p);
size_t dd_svc_table_max(const dd_svc_table_t *self);
uint64_t dd_svc_table_idle_us(const dd_svc_table_t *self);
/* Sessions open now. */
size_t dd_svc_table_count(const dd_svc_table_t *self);

/* ServiceHello for session_id from the first device with routing id peer[peer_len]: resume the
 * open session (*resumed = true; the peer is updated: a reconnecting device may come back under
 * another id) or open a new one (*resumed = false). *next_seq is ServiceWelcome.next_record_seq,
 * *out the entry (any of the three may be NULL). Returns 0, DD_EINVAL (empty or too long session
 * id, peer empty or longer than DD_SVC_PEER_MAX), DD_ENOSPC (table full; counted in `full`) or
 * DD_ENOMEM. */
int dd_svc_table_open(dd_svc_table_t *self, const char *session_id, const uint8_t *peer,
                      size_t peer_len, uint64_t now, bool *resumed, uint64_t *next_seq,
                      dd_svc_session_t **out);
/* The open session session_id, or NULL. */
dd_svc_session_t *dd_svc_table_find(dd_svc_table_t *self, const char *session_id);

/* One record copy (dd_svc_intake_on_record) for the session it names. *out (may be NULL) is the
 * entry, whose intake then holds what became deliverable (take it with dd_svc_intake_take).
 * DD_ENOENT for a record of no open session: refused, not acknowledged, *out NULL. */
int dd_svc_table_on_record(dd_svc_table_t *self, const char *session_id, uint64_t seq,
                           dd_svc_path_t path, const uint8_t *data, size_t len, uint64_t now,
                           dd_drecv_verdict_t *verdict, dd_svc_session_t **out);

/* Sessions whose acknowledgement is due at now (dd_svc_intake_ack_due), at most max into out[];
 * returns how many. Produce each one's ack (dd_svc_intake_ack on its intake) before asking again:
 * an acknowledged session is not due any more, so repeated calls make progress when more than
 * max are due. */
size_t dd_svc_table_due(dd_svc_table_t *self, uint64_t now, dd_svc_session_t **out, size_t max);

/* The session that has been idle longest, when it has been idle for idle_us at now; else NULL.
 * The caller reports it and frees it with dd_svc_table_remove. */
dd_svc_session_t *dd_svc_table_idle(dd_svc_table_t *self, uint64_t now);
/* Free an entry (its counters go to the table's totals) and set *s_p to NULL. */
void dd_svc_table_remove(dd_svc_table_t *self, dd_svc_session_t **s_p, dd_svc_end_t why);

/* When the table next has something to do without new input: the earliest re-acknowledgement of
 * a held gap or idle expiry; 0 when an ack is due now; UINT64_MAX when nothing. */
uint64_t dd_svc_table_deadline(const dd_svc_table_t *self);
dd_svc_table_stats_t dd_svc_table_stats(const dd_svc_table_t *self);

/* An entry's parts. */
dd_svc_intake_t *dd_svc_session_intake(dd_svc_session_t *s);
const char *dd_svc_session_id(const dd_svc_session_t *s);
/* The routing id of the session's first device (where its acks go); its length in *len. */
const uint8_t *dd_svc_session_peer(const dd_svc_session_t *s, size_t *len);
bool dd_svc_session_is_peer(const dd_svc_session_t *s, const uint8_t *peer, size_t peer_len);
/* When it was opened and when it last saw a hello or a record. */
uint64_t dd_svc_session_opened_us(const dd_svc_session_t *s);
uint64_t dd_svc_session_active_us(const dd_svc_session_t *s);

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
