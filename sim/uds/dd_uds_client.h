/* dd_uds_client: the tester side of UDS (ISO 14229-1/-2) as a sans-I/O state machine: a request
 * in, bytes to send and deadlines out, responses in, results out; P2/P2* timing with 0x78
 * chains, response matching, and TesterPresent kept up locally in non-default sessions. Also
 * builders and parsers for the common requests. */
#ifndef DD_UDS_CLIENT_H
#define DD_UDS_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dd_uds.h"

typedef struct {
  uint64_t p2_us;          /* P2client: wait for the first response (>= P2server + dP2) */
  uint64_t p2x_us;         /* P2*client: wait after each 0x78 (>= P2*server + dP2) */
  uint64_t pending_max_us; /* longest 0x78 chain before giving up (0: no limit) */
  uint64_t tp_period_us;   /* TesterPresent period while a non-default session is active
                              (S3client; 0: never) */
  bool tp_functional;      /* send TesterPresent to the functional address */
  bool use_server_timing;  /* adopt P2/P2* from a 0x50 response, plus the deltas below */
  uint64_t delta_p2_us;    /* dP2 added to the server's P2 (network and transport time) */
  uint64_t delta_p2x_us;   /* added to the server's P2* */
  uint64_t tx_confirm_us;  /* > 0: the transport confirms every request (on_tx_done), and
                              P2client starts only then (ISO 14229-2: from T_Data.con); until
                              the confirmation this is the limit. 0: P2 runs from the handoff */
} dd_uds_client_cfg_t;

/* Something to transmit. data stays valid until the next call on the client. */
typedef struct {
  const uint8_t *data; /* the message */
  size_t len;          /* its length */
  bool functional;     /* send to the functional address */
  bool tester_present; /* the client's own keep-alive (3E 80), not a user request */
  uint32_t id;         /* pass to dd_uds_client_on_tx_done */
} dd_uds_client_tx_t;

/* The outcome of a request. For a functional request each response is one result with
 * final = false, then one final result closes the request. */
typedef struct {
  int status;          /* 0 positive (or no response where none was due), DD_EUDS_NRC,
                          DD_EUDS_TIMEOUT_P2, DD_EUDS_TIMEOUT_P2X, DD_EUDS_RESPONSE, or a
                          transport error given to dd_uds_client_on_tx_error */
  uint8_t sid;         /* request SID */
  uint8_t nrc;         /* DD_EUDS_NRC: the negative response code */
  const uint8_t *data; /* the response (NULL when none); valid until the next take_result */
  size_t len;          /* its length */
  unsigned pending;    /* 0x78 responses received before it */
  bool functional;     /* the request was functional */
  bool final;          /* the request is over */
  uint32_t source;     /* source tag given with the response (which server) */
  uint64_t sent_at;    /* when the request was handed out */
  uint64_t done_at;    /* when this result was made */
} dd_uds_result_t;

typedef struct dd_uds_client dd_uds_client_t;

/* Defaults: P2client 150 ms (50 ms + dP2 100 ms), P2*client 5500 ms, 0x78 chains up to 600 s,
 * TesterPresent every 2000 ms (ISO 14229-2 S3client), functional, server timing adopted
 * with dP2 100 ms / 500 ms. */
void dd_uds_client_cfg_default(dd_uds_client_cfg_t *cfg);

/* NULL when cfg is invalid (p2 or p2x 0) or memory is short. */
dd_uds_client_t *dd_uds_client_new(const dd_uds_client_cfg_t *cfg);
void dd_uds_client_destroy(dd_uds_client_t **self_p);

/* Queue one request (copied); poll hands it out. 0, DD_EBUSY (one is outstanding), DD_EINVAL
 * (len 0), DD_EMSGSIZE (over 4095), DD_ENOMEM. A request with the SPRMIB bit expects no
 * positive response: it completes with status 0 when P2 passes quietly. */
int dd_uds_client_request(dd_uds_client_t *self, const uint8_t *req, size_t len, bool functional,
                          uint64_t now);

/* Run timers up to now, then return 1 with a message to send now (the queued request first,
 * then a due TesterPresent), or 0. Call until it returns 0, and again at next_deadline. */
int dd_uds_client_poll(dd_uds_client_t *self, uint64_t now, dd_uds_client_tx_t *tx);

/* Optional: the transport finished sending message id at now (ISO 14229-2: P2client runs from
 * the confirmation of the request), so long multi-frame requests do not eat P2. */
void dd_uds_client_on_tx_done(dd_uds_client_t *self, uint32_t id, uint64_t now);

/* The transport gave up on the outstanding request: it completes with status error. */
void dd_uds_client_on_tx_error(dd_uds_client_t *self, int error, uint64_t now);

/* A response arrived (source: any tag identifying the server). Returns 1 when it belonged to
 * the outstanding request, 0 when it was ignored (nothing outstanding, a TesterPresent
 * answer, or a late response after the request completed). */
int dd_uds_client_on_response(dd_uds_client_t *self, const uint8_t *resp, size_t len,
                              uint32_t source, uint64_t now);

/* Absolute time poll must run next (UINT64_MAX: nothing scheduled). */
uint64_t dd_uds_client_next_deadline(const dd_uds_client_t *self);

/* Take the oldest result; false when none. Ends the life of the previous result's data. */
bool dd_uds_client_take_result(dd_uds_client_t *self, dd_uds_result_t *res);

/* Forget the outstanding request (no result). */
void dd_uds_client_cancel(dd_uds_client_t *self);

bool dd_uds_client_busy(const dd_uds_client_t *self);       /* a request is outstanding */
uint8_t dd_uds_client_session(const dd_uds_client_t *self); /* session as last confirmed */
/* Tell the client the session (e.g. after a reset seen elsewhere); TesterPresent follows it. */
void dd_uds_client_set_session(dd_uds_client_t *self, uint8_t session, uint64_t now);
uint64_t dd_uds_client_p2(const dd_uds_client_t *self);  /* P2client in use */
uint64_t dd_uds_client_p2x(const dd_uds_client_t *self); /* P2*client in use */

/* ---- request builders: return the length written to buf, or DD_ENOSPC / DD_EINVAL -------- */

#define DD_UDS_BSC_FIRST 0x01u /* block sequence counter of the first TransferData */

/* Next block sequence counter: +1, wrapping 0xFF -> 0x00 (ISO 14229-1:2013 14.4). */
static inline uint8_t dd_uds_bsc_next(uint8_t bsc) { return (uint8_t)(bsc + 1u); }

int dd_uds_build_session(uint8_t *buf, size_t cap, uint8_t session, bool spr);        /* 10 */
int dd_uds_build_ecu_reset(uint8_t *buf, size_t cap, uint8_t type, bool spr);         /* 11 */
int dd_uds_build_clear_dtc(uint8_t *buf, size_t cap, uint32_t group);                 /* 14 */
int dd_uds_build_count_dtc_by_mask(uint8_t *buf, size_t cap, uint8_t mask);           /* 19 01 */
int dd_uds_build_read_dtc_by_mask(uint8_t *buf, size_t cap, uint8_t mask);            /* 19 02 */
int dd_uds_build_read_dids(uint8_t *buf, size_t cap, const uint16_t *dids, size_t n); /* 22 */
/* 23 with the shortest ALFID holding addr and size. */
int dd_uds_build_read_memory(uint8_t *buf, size_t cap, uint32_t addr, uint32_t size);
int dd_uds_build_seed_request(uint8_t *buf, size_t cap, uint8_t level); /* 27 odd */
int dd_uds_build_send_key(uint8_t *buf, size_t cap, uint8_t level, const uint8_t *key,
                          size_t key_len); /* 27 level+1 key */
int dd_uds_build_comm_control(uint8_t *buf, size_t cap, uint8_t control, uint8_t comm,
                              bool spr); /* 28 */
int dd_uds_build_write_did(uint8_t *buf, size_t cap, uint16_t did, const uint8_t *data,
                           size_t len); /* 2E */
int dd_uds_build_io_control(uint8_t *buf, size_t cap, uint16_t did, uint8_t param,
                            const uint8_t *state, size_t state_len, const uint8_t *mask,
                            size_t mask_len); /* 2F */
int dd_uds_build_routine(uint8_t *buf, size_t cap, uint8_t type, uint16_t rid, const uint8_t *opt,
                         size_t opt_len, bool spr); /* 31 */
/* 34 00 44 addr(4) size(4): ALFID 0x44, data format 0x00. */
int dd_uds_build_request_download(uint8_t *buf, size_t cap, uint32_t addr, uint32_t size);
int dd_uds_build_transfer_data(uint8_t *buf, size_t cap, uint8_t bsc, const uint8_t *data,
                               size_t len); /* 36 */
int dd_uds_build_transfer_exit(uint8_t *buf, size_t cap, const uint8_t *param,
                               size_t param_len);                          /* 37 */
int dd_uds_build_tester_present(uint8_t *buf, size_t cap, bool spr);       /* 3E */
int dd_uds_build_dtc_setting(uint8_t *buf, size_t cap, bool on, bool spr); /* 85 */

/* ---- response parsers: 0 (positive and well formed), DD_EUDS_NRC (*nrc set when nrc is not
 * NULL), or DD_EUDS_RESPONSE (not an answer to that request) ---------------------------- */

/* The generic part: resp answers sid, positively or negatively. */
int dd_uds_parse_response(const uint8_t *resp, size_t len, uint8_t sid, uint8_t *nrc);

/* 50 session P2(ms) P2*(10 ms): times in microseconds (0 when the response has none). */
int dd_uds_parse_session(const uint8_t *resp, size_t len, uint8_t session, uint64_t *p2_us,
                         uint64_t *p2x_us, uint8_t *nrc);
/* 62 DID data: one DID, its data is the rest of the response. */
int dd_uds_parse_read_did(const uint8_t *resp, size_t len, uint16_t did, const uint8_t **data,
                          size_t *data_len, uint8_t *nrc);
/* 62 (DID data)...: data[i] points at the value of dids[i], whose lengths are known. */
int dd_uds_parse_read_dids(const uint8_t *resp, size_t len, const uint16_t *dids,
                           const size_t *lens, size_t n, const uint8_t **data, uint8_t *nrc);
/* 67 level seed: *unlocked when the seed is all zeros (level already unlocked). */
int dd_uds_parse_seed(const uint8_t *resp, size_t len, uint8_t level, const uint8_t **seed,
                      size_t *seed_len, bool *unlocked, uint8_t *nrc);
int dd_uds_parse_key(const uint8_t *resp, size_t len, uint8_t level, uint8_t *nrc); /* 67 l+1 */
/* 71 type RID status...: the routine's status record. */
int dd_uds_parse_routine(const uint8_t *resp, size_t len, uint8_t type, uint16_t rid,
                         const uint8_t **status, size_t *status_len, uint8_t *nrc);
/* 74 LFID maxNumberOfBlockLength (SID and counter included). */
int dd_uds_parse_request_download(const uint8_t *resp, size_t len, uint32_t *max_block_length,
                                  uint8_t *nrc);
int dd_uds_parse_transfer_data(const uint8_t *resp, size_t len, uint8_t bsc, uint8_t *nrc);
int dd_uds_parse_transfer_exit(const uint8_t *resp, size_t len, const uint8_t **param,
                               size_t *param_len, uint8_t *nrc);
/* 59 01 availability format count. */
int dd_uds_parse_dtc_count(const uint8_t *resp, size_t len, uint8_t *availability, uint8_t *format,
                           uint16_t *count, uint8_t *nrc);

typedef struct {
  uint32_t dtc;   /* 3-byte DTC */
  uint8_t status; /* its status byte */
} dd_uds_dtc_rec_t;

/* 59 02|0A availability (DTC status)...: up to cap records to out, *n = how many the response
 * holds (may exceed cap: then the first cap are stored). */
int dd_uds_parse_dtc_list(const uint8_t *resp, size_t len, uint8_t report_type,
                          uint8_t *availability, dd_uds_dtc_rec_t *out, size_t cap, size_t *n,
                          uint8_t *nrc);
int dd_uds_parse_clear_dtc(const uint8_t *resp, size_t len, uint8_t *nrc); /* 54 */

#endif
