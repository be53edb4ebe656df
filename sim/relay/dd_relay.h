/* dd_relay: the relay server's store-and-forward core (mission S44), sans-I/O: RelayForward
 * messages come in with "now", the core says what to put on the wire, to whom and when, and keeps
 * what cannot be delivered yet in a bounded, ordered per-session buffer.
 *
 * Conventions (the wire schema's RelayForward and RelayError, duodiag.proto):
 * - Parties are named by their ZeroMQ routing id, which every duodiag client sets to its process
 *   id; RelayForward.destination names the party to deliver to. The front turns routing ids into
 *   party names (dd_relay_server.c).
 * - A session (RelayForward.session_id) has at most two ends: the parties named by its first
 *   messages, as sender or as destination. A message from or to a third party is refused
 *   (DD_EPERM), so sessions stay apart and nothing leaks to a party outside the session.
 * - Hello: a RelayForward addressed to its own sender registers the sender as an end of the
 *   session; like every message it is delivered to its destination, i.e. echoed back, so the
 *   sender learns that the relay path works (and its round trip). Any other message from a party
 *   also counts as "seen": stored messages for it become due at once.
 * - Presence is learned from delivery: the front reports each send as SENT, GONE (the routing id
 *   is not connected: ZMQ_ROUTER_MANDATORY's EHOSTUNREACH) or BUSY (high-water mark). A GONE end
 *   is absent: what arrives for it is stored, in order, and delivery is retried every retry_us
 *   and at once when the party is seen again.
 * - Limits bound what waits: a session stores at most max_msgs messages and max_bytes inner
 *   bytes, and all sessions together at most max_total_bytes. A message whose destination is
 *   present with nothing waiting goes straight through and is not held to the limits (so one
 *   largest envelope, DD_WIRE_MAX_INNER, always passes); one that would be stored beyond them is
 *   refused with DD_ENOSPC and the text "session S: relay buffer full (64 messages / 1048576
 *   bytes); message dropped", which the front returns to the sender in a RelayError.
 * - The buffer lives in memory only: a relay that is killed and started again has lost it. The
 *   sender's end-to-end retransmission (dd_delivery: unacknowledged records are sent again)
 *   is what makes the data survive; the relay never acknowledges anything itself.
 * - Sessions end on SessionClose from one of their ends, or after idle_us without traffic; what
 *   they still held is discarded and counted. */
#ifndef DD_RELAY_H
#define DD_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DD_RELAY_ID_MAX 256 /* session and party ids: bytes with the NUL */

/* Defaults of dd_relay_cfg_t (a zero field takes its default). */
#define DD_RELAY_DEFAULT_MSGS 64u
#define DD_RELAY_DEFAULT_BYTES (1024u * 1024u)
#define DD_RELAY_DEFAULT_TOTAL (64u * 1024u * 1024u)
#define DD_RELAY_DEFAULT_SESSIONS 256u
#define DD_RELAY_DEFAULT_RETRY_US 100000ull   /* 100 ms */
#define DD_RELAY_DEFAULT_IDLE_US 600000000ull /* 10 min */

typedef struct {
  size_t max_msgs;        /* messages stored per session */
  size_t max_bytes;       /* inner bytes stored per session */
  size_t max_total_bytes; /* inner bytes stored over all sessions */
  size_t max_sessions;    /* sessions open at once */
  uint64_t retry_us;      /* delivery retry period towards an absent (or busy) end */
  uint64_t idle_us;       /* a session without traffic this long is forgotten; UINT64_MAX never */
} dd_relay_cfg_t;

/* Outcome of putting a message on the wire (dd_relay_done). */
typedef enum {
  DD_RELAY_SENT, /* handed to the destination's connection */
  DD_RELAY_GONE, /* the destination is not connected: keep the message, mark the end absent */
  DD_RELAY_BUSY, /* the connection is full for now: keep the message, retry later */
} dd_relay_result_t;

/* A message to put on the wire now; pointers valid until the next call on the core. */
typedef struct {
  const char *session;  /* session id */
  const char *from;     /* party that sent it */
  const char *to;       /* party to deliver to (routing id) */
  const uint8_t *inner; /* the forwarded envelope, unchanged */
  size_t len;           /* its length */
  uint64_t queued_us;   /* when it arrived */
  bool stored;          /* it had to wait for its destination */
} dd_relay_out_t;

typedef enum {
  DD_RELAY_NOTE_SESSION_OPEN,    /* a session began: party, peer = its first two ends */
  DD_RELAY_NOTE_END_JOINED,      /* party joined an open session as its second end */
  DD_RELAY_NOTE_END_ABSENT,      /* party is not connected; count = messages waiting for it */
  DD_RELAY_NOTE_FLUSHED,         /* stored messages reached party: count, bytes, waited_us */
  DD_RELAY_NOTE_SESSION_CLOSED,  /* party closed the session; count, bytes = discarded */
  DD_RELAY_NOTE_SESSION_EXPIRED, /* idle session forgotten; count, bytes = discarded */
} dd_relay_note_kind_t;

/* Something worth a timeline event. */
typedef struct {
  dd_relay_note_kind_t kind;     /* what happened */
  char session[DD_RELAY_ID_MAX]; /* session id */
  char party[DD_RELAY_ID_MAX];   /* party concerned ("" when none) */
  char peer[DD_RELAY_ID_MAX];    /* SESSION_OPEN: the other end ("" when not yet known) */
  uint64_t count;                /* messages */
  uint64_t bytes;                /* inner bytes */
  uint64_t waited_us;            /* FLUSHED: how long the oldest of them waited */
} dd_relay_note_t;

typedef struct {
  uint64_t received;        /* RelayForwards accepted */
  uint64_t received_bytes;  /* their inner bytes */
  uint64_t forwarded;       /* messages delivered */
  uint64_t forwarded_bytes; /* their inner bytes */
  uint64_t stored;          /* messages that had to wait for their destination */
  uint64_t late;            /* stored messages delivered afterwards */
  uint64_t dropped_full;    /* refused: buffer full (DD_ENOSPC) */
  uint64_t refused;         /* refused for another reason (third party, bad ids, too many) */
  uint64_t discarded;       /* lost with a closed or expired session */
  uint64_t gone;            /* delivery attempts that found the destination not connected */
  uint64_t busy;            /* delivery attempts put off by a full connection */
  uint64_t sessions_opened; /* sessions begun */
  size_t sessions;          /* sessions open now */
  size_t queued_msgs;       /* messages waiting now */
  size_t queued_bytes;      /* their inner bytes */
  size_t peak_msgs;         /* most messages waiting at once */
  size_t peak_bytes;        /* most inner bytes waiting at once */
} dd_relay_stats_t;

typedef struct dd_relay dd_relay_t;

/* cfg may be NULL (all defaults). DD_EINVAL for a limit of zero after defaults (impossible) or
 * DD_ENOMEM. */
int dd_relay_new(const dd_relay_cfg_t *cfg, dd_relay_t **out);
/* Frees every stored message. */
void dd_relay_destroy(dd_relay_t **self_p);
/* The configuration in force (defaults filled in). */
const dd_relay_cfg_t *dd_relay_cfg(const dd_relay_t *self);

/* A RelayForward from party `from`: inner[len] is copied and queued for `to`. Returns 0, or
 * (the message dropped, err[cap] holding one line for the RelayError text):
 * DD_EINVAL (empty ids or inner), DD_ENAMETOOLONG (id of DD_RELAY_ID_MAX bytes or more),
 * DD_EPERM (from or to is not an end of the session), DD_ENOSPC (buffer or session table full),
 * DD_ENOMEM. */
int dd_relay_forward(dd_relay_t *self, const char *from, const char *session, const char *to,
                     const uint8_t *inner, size_t len, uint64_t now, char *err, size_t cap);

/* Any message arrived from party: whatever waits for it is due now. */
void dd_relay_seen(dd_relay_t *self, const char *party, uint64_t now);

/* SessionClose from party: forget the session and what it still holds. 0, DD_ENOENT (no such
 * session), DD_EPERM (party is not one of its ends); err as for dd_relay_forward. */
int dd_relay_close(dd_relay_t *self, const char *party, const char *session, uint64_t now,
                   char *err, size_t cap);

/* The next message to put on the wire now (round robin over sessions, in order within each
 * destination); false when nothing is due. Each true must be followed by dd_relay_done. */
bool dd_relay_peek(dd_relay_t *self, uint64_t now, dd_relay_out_t *out);
/* What became of the message last peeked. */
void dd_relay_done(dd_relay_t *self, dd_relay_result_t result, uint64_t now);

/* Forget sessions idle for idle_us. */
void dd_relay_tick(dd_relay_t *self, uint64_t now);
/* When peek or tick next has work: 0 when something is due already, UINT64_MAX for never. */
uint64_t dd_relay_next_deadline(const dd_relay_t *self);

/* Notes for the timeline, oldest first (true once per note). */
bool dd_relay_take_note(dd_relay_t *self, dd_relay_note_t *out);

dd_relay_stats_t dd_relay_stats(const dd_relay_t *self);
/* Messages waiting for party in session (0 when either is unknown). */
size_t dd_relay_waiting(const dd_relay_t *self, const char *session, const char *party);
/* True when the session is open. */
bool dd_relay_has_session(const dd_relay_t *self, const char *session);

const char *dd_relay_note_name(dd_relay_note_kind_t kind);

#endif
