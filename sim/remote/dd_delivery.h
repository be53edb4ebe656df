/* dd_delivery: exactly-once, in-order delivery of vehicle records from the first device to the
 * service device across path switches, losses, duplicates and relay restarts, sans-I/O.
 *
 * Sender (first device): every record gets the next sequence number (from 1); it stays in the
 * window until acknowledged; unacknowledged records are sent again after a retransmission
 * timeout, and all of them at once when the path changes, on whatever path is current.
 * Receiver (service device): hands records on strictly in sequence order and exactly once,
 * keeps early arrivals until the gap before them is filled, drops duplicates, and answers with
 * a cumulative acknowledgement plus selective ranges of what it holds beyond it (in the manner
 * of TCP SACK, RFC 2018). */
#ifndef DD_DELIVERY_H
#define DD_DELIVERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DD_DELIVERY_WINDOW 4096   /* records in flight or buffered at most */
#define DD_DELIVERY_MAX_SACKS 32  /* selective ranges in one acknowledgement */

typedef struct {
  uint64_t first, last; /* inclusive range of sequence numbers */
} dd_seq_range_t;

/* ---- sender ---- */

typedef struct {
  uint64_t rto_us;        /* retransmission timeout for an unacknowledged record */
  bool no_resend_on_switch; /* planted defect: a path change does not trigger resending */
} dd_dsend_cfg_t;

typedef struct dd_dsend dd_dsend_t;

typedef struct {
  uint64_t seq;          /* record number */
  const uint8_t *data;   /* payload (valid until the next call on the sender) */
  size_t len;            /* its length */
  bool resend;           /* this is a retransmission */
} dd_dsend_out_t;

typedef struct {
  uint64_t pushed, sent, resent, acked, in_window; /* counters */
} dd_dsend_stats_t;

int dd_dsend_new(const dd_dsend_cfg_t *cfg, dd_dsend_t **out);
void dd_dsend_destroy(dd_dsend_t **self_p);
/* Queue a record (copied); *seq gets its number. DD_ENOSPC when the window is full. */
int dd_dsend_push(dd_dsend_t *self, const uint8_t *data, size_t len, uint64_t now, uint64_t *seq);
/* The next record to put on the wire now (first sends, then due retransmissions); false when
 * nothing is due. */
bool dd_dsend_poll(dd_dsend_t *self, uint64_t now, dd_dsend_out_t *out);
/* An acknowledgement arrived. Ranges above cum, ascending. Returns records newly acked. */
uint64_t dd_dsend_on_ack(dd_dsend_t *self, uint64_t cum, const dd_seq_range_t *sacks, size_t n);
/* The path changed: every unacknowledged record is due again now. */
void dd_dsend_on_path_change(dd_dsend_t *self, uint64_t now);
uint64_t dd_dsend_next_deadline(const dd_dsend_t *self);
dd_dsend_stats_t dd_dsend_stats(const dd_dsend_t *self);
uint64_t dd_dsend_unacked(const dd_dsend_t *self);

/* ---- receiver ---- */

typedef struct dd_drecv dd_drecv_t;

typedef enum {
  DD_DRECV_DELIVERABLE, /* new, and in order (take it with dd_drecv_take) */
  DD_DRECV_BUFFERED,    /* new, but ahead of a gap: held */
  DD_DRECV_DUPLICATE,   /* seen before: dropped */
  DD_DRECV_REFUSED,     /* too far ahead of the window, or seq 0: dropped */
} dd_drecv_verdict_t;

typedef struct {
  uint64_t received, delivered, duplicates, buffered_max, refused; /* counters */
} dd_drecv_stats_t;

int dd_drecv_new(dd_drecv_t **out);
void dd_drecv_destroy(dd_drecv_t **self_p);
/* A record arrived (copied if kept). Start a resumed session at next_expected with
 * dd_drecv_resume. */
dd_drecv_verdict_t dd_drecv_on_record(dd_drecv_t *self, uint64_t seq, const uint8_t *data,
                                      size_t len);
/* Take the next in-order record; false when the next one has not arrived. */
bool dd_drecv_take(dd_drecv_t *self, uint64_t *seq, uint8_t **data, size_t *len);
/* The acknowledgement to send: cumulative (all <= cum delivered) and up to max ranges held
 * beyond it; returns the number of ranges. */
size_t dd_drecv_ack(const dd_drecv_t *self, uint64_t *cum, dd_seq_range_t *sacks, size_t max);
void dd_drecv_resume(dd_drecv_t *self, uint64_t next_expected);
uint64_t dd_drecv_next_expected(const dd_drecv_t *self);
dd_drecv_stats_t dd_drecv_stats(const dd_drecv_t *self);

#endif
