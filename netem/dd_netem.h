/* dd_netem: the sans-I/O core of one direction of an impaired link ("netem" in userspace):
 * for each message it decides drop, duplicate, corrupt, and when each copy is released.
 *
 * How the link process uses it (one dd_netem_dir_t per direction):
 *
 *   on message in:  rc = dd_netem_enqueue(dir, id, len, now, &v);
 *                   if (rc == 0 && v.n_copies) keep the payload under id (v.n_copies copies
 *                   will come out of dd_netem_pop_due, the one with .last set is the final one)
 *   on wakeup:      while (dd_netem_pop_due(dir, now, &r) == 1) {
 *                     if (!(r.flags & DD_NETEM_F_DROPPED)) send payload(r.msg_id), first
 *                       flipping bit r.corrupt_bit if it is >= 0;
 *                     if (r.last) free payload(r.msg_id);
 *                   }
 *                   arm the timer at dd_netem_next_release(dir) (DD_NETEM_NEVER: none)
 *   scenario steps: dd_netem_set(), dd_netem_outage(), dd_netem_restore()
 *   timeline:       dd_netem_set_event_fn() gets every drop, duplicate, corruption, reorder,
 *                   retransmission, hold, outage and parameter change as it is decided.
 *
 * The module keeps the release queue itself, so ordering is a property of the module (testable
 * here) instead of the caller: a min-heap on (release, sequence) for DATAGRAM, a FIFO for
 * STREAM. Times are absolute microseconds on the caller's clock; "now" must never decrease
 * across calls (DD_EINVAL otherwise). Nothing here reads a clock, sleeps or does I/O; all
 * randomness comes from a dd_rng_t seeded at creation, split into one stream per purpose
 * (delay, loss, duplicate, corrupt, corrupt position, reorder), so the same seed and the same
 * calls give the same decisions, and enabling one impairment does not reshuffle the others.
 *
 * Per message, in this order (tc-netem(8) option names in quotes):
 *  1. DATAGRAM only: link down now (outage) -> dropped; queue at "limit" -> dropped.
 *  2. Loss model ("loss random|state|gemodel", dd_netem_loss.h), consulted once per message.
 *     DATAGRAM: a hit drops the message. STREAM (ZeroMQ over TCP never loses a message): a hit
 *     is a retransmission, itself lost again with the model's long-run loss rate (one RTO
 *     later other traffic has moved the loss process on; drawing the next steps of the same
 *     burst would cost one message rto * (2^k - 1) for a burst of k), and each hit
 *     adds the current RTO, which starts at rto_us and doubles per consecutive hit up to
 *     rto_max_us ("back off the timer", RFC 6298 5.5; the 60 s default cap is the floor
 *     RFC 6298 2.5 allows for a maximum), at most max_retries times.
 *  3. DATAGRAM only: "duplicate" -> a second copy. A duplicate is not run through the loss model
 *     again (so the loss process keeps one step per message), but gets its own corruption,
 *     reorder and delay draws (netem re-enqueues the clone the same way).
 *  4. For each copy: rate shaping ("rate RATE [PACKETOVERHEAD [CELLSIZE [CELLOVERHEAD]]]" plus
 *     a burst): a token bucket in its virtual-finish-time form. Message i costs
 *     c = len + overhead (rounded up to whole cells of cell_size + cell_overhead when cell_size
 *     is set) and finishes at f_i = max(t_i, T_i - burst/rate) where
 *     T_i = max(t_i, T_(i-1)) + c/rate is when a pure serializer would finish. With burst 0 a
 *     message cannot start before the previous one finished (netem "rate" serialization); with
 *     a burst the first burst bytes pass at once. f_i - t_i is the queueing delay. netem
 *     serializes after the delay (time_to_send = max(now + delay, last) + packet time); here the
 *     bottleneck is at the sender and the path delay, jitter included, comes after it. With a
 *     constant delay both give the same times; with jitter netem keeps the serialization
 *     spacing at the receiver, while here jitter acts on the spaced copies.
 *  5. DATAGRAM only: "corrupt" -> a bit index in [0, 8 * len) drawn with the rng (byte
 *     index / 8, mask 1 << index % 8); the caller flips it. Messages of length 0 are never
 *     corrupted.
 *  6. DATAGRAM only: "reorder P [CORR] [gap G]" (netem semantics, sch_netem.c netem_enqueue):
 *     after G - 1 delayed copies, each copy is sent immediately (release = now, ahead of the
 *     queue and without rate shaping) with probability P, which resets the count; G = 0 means 1
 *     as tc sets it. Only with some delay does this reorder anything.
 *  7. Release = f + path delay, path delay = base + jitter * t (dd_netem_dist.h), clamped at 0.
 *     base is delay_us, or the ramp from delay_us to ramp_to_us over ramp_us started by the
 *     dd_netem_set() call, evaluated at the enqueue time.
 *     STREAM: release = max(that, previous release): jitter never reorders (FIFO clamp).
 *     DATAGRAM: copies come out in release order, so jitter reorders as in netem's tfifo.
 *
 * Outages: dd_netem_outage(from, duration) takes the link down on [from, from + duration), or
 * until dd_netem_restore() with DD_NETEM_NEVER. A message is "on the link" from its enqueue
 * time to its release time.
 *  - DATAGRAM: a copy whose time on the link meets a down period is dropped: at enqueue if the
 *    link is down then, otherwise when it comes out of dd_netem_pop_due() flagged
 *    DD_NETEM_F_DROP_OUTAGE (it was in flight when the link died).
 *  - STREAM: nothing is dropped. A message whose time on the link meets a down period [a, b) is
 *    delivered once TCP's retransmission gets through: the sender's timer started at a fires at
 *    a + rto, a + 3 rto, a + 7 rto, ... (doubling, capped at rto_max_us, RFC 6298 5.5); the
 *    first firing at or after b is the recovery instant R, and the message is released at
 *    max(its release, R + its path delay), order kept. While the end is unknown (until
 *    restored) such messages are held (release DD_NETEM_NEVER) and everything behind them
 *    waits; dd_netem_restore() computes their release times. The timer is taken to start at a
 *    (a connection with data in flight); on an idle connection it would start at the first
 *    send into the outage, which shifts the recovery instant.
 *
 * Counters: enqueued + duplicated = released + dropped (all causes) + queue_depth. */
#ifndef DD_NETEM_H
#define DD_NETEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dd_netem_dist.h"
#include "dd_netem_loss.h"

typedef enum {
  DD_NETEM_STREAM = 0, /* ZeroMQ over TCP: no loss, duplication, corruption or reordering */
  DD_NETEM_DATAGRAM    /* UDP: loss, duplication, corruption, reordering */
} dd_netem_kind_t;

/* "No time": no release pending, an open-ended outage, a held message. */
#define DD_NETEM_NEVER UINT64_MAX
/* Limits accepted by dd_netem_set(). */
#define DD_NETEM_MAX_DELAY_US (3600ull * 1000000ull) /* delay, jitter, RTO: one hour */
#define DD_NETEM_MAX_RAMP_US (86400ull * 1000000ull) /* ramp duration: one day */
#define DD_NETEM_MAX_RATE 1000000000000ull           /* bytes per second and burst bytes */
#define DD_NETEM_MAX_OVERHEAD 65535                  /* |overhead|, cell size, |cell overhead| */
#define DD_NETEM_MAX_RETRIES 64u                     /* STREAM retransmissions per message */
#define DD_NETEM_MAX_BYTES (1ull << 40)              /* one message */
#define DD_NETEM_MAX_OUTAGES 16                      /* outage windows remembered at once */

/* Parameters of one direction. Probabilities and correlations are in [0, 1], not percent. */
typedef struct {
  uint64_t delay_us;              /* mean one-way delay ("delay TIME") */
  uint64_t jitter_us;             /* sigma of the distribution ("delay TIME JITTER") */
  double delay_corr;              /* correlation of successive delays ("delay T J CORR") */
  dd_netem_dist_t dist;           /* "distribution"; default normal */
  uint64_t ramp_to_us;            /* ramp target delay */
  uint64_t ramp_us;               /* ramp duration from dd_netem_set(); 0 = no ramp */
  uint64_t rate;                  /* bytes per second; 0 = unlimited */
  uint64_t burst;                 /* token bucket depth, bytes; 0 = pure serialization */
  int32_t overhead;               /* bytes added to each message for the rate (may be negative) */
  uint32_t cell_size;             /* link layer cell size for the rate; 0 = none */
  int32_t cell_overhead;          /* bytes added per cell */
  dd_netem_loss_params_t loss;    /* loss model ("loss ...") */
  double dup;                     /* duplication probability ("duplicate") */
  double dup_corr;                /* its correlation */
  double corrupt;                 /* corruption probability ("corrupt") */
  double corrupt_corr;            /* its correlation */
  double reorder;                 /* probability to send immediately ("reorder") */
  double reorder_corr;            /* its correlation */
  uint32_t reorder_gap;           /* "gap"; 0 = 1 */
  uint32_t limit;                 /* DATAGRAM queue limit in copies ("limit"); 0 = unlimited */
  uint64_t rto_us;                /* STREAM: first retransmission timeout */
  uint64_t rto_max_us;            /* STREAM: cap of the doubled timeout */
  uint32_t max_retries;           /* STREAM: retransmissions per message at most */
  dd_netem_corr_mode_t corr_mode; /* how correlations are applied (dd_netem_dist.h) */
} dd_netem_params_t;

/* Decision flags, on verdicts, copies, releases and events. */
enum {
  DD_NETEM_F_DROP_RANDOM = 1u << 0,  /* dropped by the random loss model */
  DD_NETEM_F_DROP_GE = 1u << 1,      /* dropped by a Markov loss model (state or gemodel) */
  DD_NETEM_F_DROP_OUTAGE = 1u << 2,  /* dropped because the link was down */
  DD_NETEM_F_DROP_LIMIT = 1u << 3,   /* dropped because the queue was at its limit */
  DD_NETEM_F_DUPLICATE = 1u << 4,    /* message duplicated / this copy is the duplicate */
  DD_NETEM_F_CORRUPT = 1u << 5,      /* a bit is to be flipped */
  DD_NETEM_F_REORDER = 1u << 6,      /* sent immediately, ahead of the queue (netem reorder) */
  DD_NETEM_F_RETRANSMIT = 1u << 7,   /* STREAM: delayed by emulated retransmissions */
  DD_NETEM_F_HELD = 1u << 8,         /* STREAM: delayed (or held) by an outage */
  DD_NETEM_F_OUT_OF_ORDER = 1u << 9, /* released after a message enqueued later */
  DD_NETEM_F_DROPPED =
      DD_NETEM_F_DROP_RANDOM | DD_NETEM_F_DROP_GE | DD_NETEM_F_DROP_OUTAGE | DD_NETEM_F_DROP_LIMIT
};

/* One copy of an accepted message. */
typedef struct {
  uint64_t release_at; /* absolute us; DD_NETEM_NEVER while held (STREAM outage) */
  int64_t corrupt_bit; /* -1, or the bit to flip: byte corrupt_bit / 8, mask 1 << corrupt_bit % 8 */
  uint32_t flags;      /* DD_NETEM_F_* of this copy */
} dd_netem_copy_t;

/* What dd_netem_enqueue() decided. STREAM release times can still move later (outages);
 * dd_netem_pop_due() is authoritative. */
typedef struct {
  uint32_t flags;          /* union of the decisions (DD_NETEM_F_*) */
  unsigned n_copies;       /* 0 (dropped), 1, or 2 (duplicated) */
  dd_netem_copy_t copy[2]; /* the copies, in enqueue order */
  unsigned retransmits;    /* STREAM: emulated retransmissions */
  uint64_t retransmit_us;  /* STREAM: delay they added */
  uint64_t queue_us;       /* rate limiting queueing delay of the first copy */
  uint64_t path_us;        /* path delay drawn for the first copy */
} dd_netem_verdict_t;

/* One copy leaving the queue. */
typedef struct {
  uint64_t msg_id;      /* the caller's id */
  uint64_t bytes;       /* message length */
  uint64_t enqueued_at; /* enqueue time */
  uint64_t release_at;  /* scheduled release time (<= the now of the pop) */
  int64_t corrupt_bit;  /* -1 or the bit to flip */
  uint32_t flags;       /* DD_NETEM_F_*; if any DD_NETEM_F_DROPPED bit: do not send */
  bool last;            /* no other copy of msg_id remains queued: free the payload */
} dd_netem_release_t;

typedef struct {
  uint64_t enqueued;       /* messages offered */
  uint64_t released;       /* copies delivered */
  uint64_t dropped_random; /* messages lost to the random loss model */
  uint64_t dropped_ge;     /* messages lost to a Markov loss model */
  uint64_t dropped_outage; /* messages or copies lost to outages */
  uint64_t dropped_limit;  /* messages refused by the queue limit */
  uint64_t duplicated;     /* messages duplicated */
  uint64_t corrupted;      /* copies corrupted */
  uint64_t reordered;      /* copies sent immediately by "reorder" */
  uint64_t out_of_order;   /* copies released after a message enqueued later */
  uint64_t retransmits;    /* STREAM: emulated retransmissions */
  uint64_t held;           /* STREAM: messages delayed by an outage */
  uint64_t bytes_in;       /* bytes offered */
  uint64_t bytes_out;      /* bytes delivered */
  uint64_t queue_depth;    /* copies queued now */
  uint64_t queue_bytes;    /* bytes queued now */
} dd_netem_counters_t;

typedef enum {
  DD_NETEM_EV_DROP = 0,   /* message or copy dropped; cause in flags, value = bytes,
                           * value2 = release instant for a copy lost in flight (else 0) */
  DD_NETEM_EV_DUPLICATE,  /* message duplicated */
  DD_NETEM_EV_CORRUPT,    /* copy corrupted; value = bit index */
  DD_NETEM_EV_REORDER,    /* copy sent immediately */
  DD_NETEM_EV_RETRANSMIT, /* STREAM: value = retransmissions, value2 = added delay (us) */
  DD_NETEM_EV_HOLD,       /* STREAM: message enqueued into an outage; value2 = release or
                           * NEVER (messages caught by a later outage: OUTAGE, RESTORE) */
  DD_NETEM_EV_OUTAGE,     /* outage added: value = from, value2 = until (NEVER: until restored) */
  DD_NETEM_EV_RESTORE,    /* link restored; value = STREAM messages whose release moved */
  DD_NETEM_EV_PARAMS,     /* parameters changed */
  DD_NETEM_EV_COUNT
} dd_netem_ev_kind_t;

typedef struct {
  dd_netem_ev_kind_t kind; /* what happened */
  uint64_t at;             /* the now of the call that decided it */
  uint64_t msg_id;         /* message concerned (0 for link-level events) */
  uint32_t flags;          /* DD_NETEM_F_* */
  int64_t value;           /* kind-specific, see above */
  uint64_t value2;         /* kind-specific, see above */
} dd_netem_event_t;

/* Called synchronously from inside the call that decided the event; must not call back into
 * the same direction. */
typedef void (*dd_netem_event_fn)(void *arg, const dd_netem_event_t *ev);

typedef struct dd_netem_dir dd_netem_dir_t;

/* Defaults: no delay, no loss, normal distribution, RTO 200 ms (capped at 60 s, 15 tries),
 * everything else 0 (off). */
void dd_netem_params_init(dd_netem_params_t *p);
/* 0 or DD_EINVAL: probability/correlation outside [0, 1] or NaN, a bad loss model (see
 * dd_netem_loss_check), unknown enum, a value above the DD_NETEM_MAX_* limits, rto_us 0,
 * rto_max_us < rto_us. */
int dd_netem_params_check(const dd_netem_params_t *p);

/* A direction with default parameters, seeded with seed. NULL when out of memory. */
dd_netem_dir_t *dd_netem_dir_new(dd_netem_kind_t kind, uint64_t seed);
void dd_netem_dir_destroy(dd_netem_dir_t **self_p);
dd_netem_kind_t dd_netem_dir_kind(const dd_netem_dir_t *self);

/* Replace the parameters from now on (queued copies keep their times; a ramp starts now).
 * Invalid parameters change nothing and return DD_EINVAL. A change of loss model restarts the
 * Markov chain in state 1, and the reorder gap count restarts (as netem on change). */
int dd_netem_set(dd_netem_dir_t *self, const dd_netem_params_t *p, uint64_t now);
void dd_netem_get(const dd_netem_dir_t *self, dd_netem_params_t *out);
/* Base delay (before jitter) in force at time at, following any ramp. */
uint64_t dd_netem_delay_at(const dd_netem_dir_t *self, uint64_t at);

/* Decide one message of bytes bytes entering at now. 0 with *v filled, DD_EINVAL (now went
 * back, or bytes > DD_NETEM_MAX_BYTES), DD_ENOMEM (nothing changed). */
int dd_netem_enqueue(dd_netem_dir_t *self, uint64_t msg_id, size_t bytes, uint64_t now,
                     dd_netem_verdict_t *v);
/* Earliest release queued, DD_NETEM_NEVER if none (or only held ones). */
uint64_t dd_netem_next_release(const dd_netem_dir_t *self);
/* Take the next copy due at now: 1 with *out filled, 0 if none is due, DD_EINVAL if now went
 * back. DATAGRAM copies come in (release, enqueue) order; STREAM messages in enqueue order. */
int dd_netem_pop_due(dd_netem_dir_t *self, uint64_t now, dd_netem_release_t *out);

/* Link down on [from, from + duration) (from earlier than now counts from now), or until
 * dd_netem_restore() with duration DD_NETEM_NEVER. Overlapping outages merge. 0, DD_EINVAL
 * (duration 0, from DD_NETEM_NEVER, now went back), DD_ENOSPC (more than DD_NETEM_MAX_OUTAGES
 * pending). */
int dd_netem_outage(dd_netem_dir_t *self, uint64_t from, uint64_t duration, uint64_t now);
/* End the outage in progress at now (pending future ones stay). 0 or DD_EINVAL. */
int dd_netem_restore(dd_netem_dir_t *self, uint64_t now);
/* Is the link down at time at (as far as known now)? */
bool dd_netem_is_down(const dd_netem_dir_t *self, uint64_t at);

void dd_netem_counters(const dd_netem_dir_t *self, dd_netem_counters_t *out);
void dd_netem_set_event_fn(dd_netem_dir_t *self, dd_netem_event_fn fn, void *arg);
const char *dd_netem_ev_name(dd_netem_ev_kind_t kind); /* "drop", "duplicate", ... */
const char *dd_netem_kind_name(dd_netem_kind_t kind);  /* "stream", "datagram" */

#endif
