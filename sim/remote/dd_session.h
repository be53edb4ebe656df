/* dd_session: the first device's side of establishing remote help (mission S11-S17 and S2), as a
 * sans-I/O state machine: it is fed the answers of the cloud and the terminal with "now", and
 * says what to send next; every step has a timeout, every refusal ends it with a reason. */
#ifndef DD_SESSION_H
#define DD_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DD_SESSION_MAX_TERMINALS 64
#define DD_SESSION_ID_MAX 64

typedef struct {
  char id[DD_SESSION_ID_MAX];    /* terminal id */
  char name[DD_SESSION_ID_MAX];  /* display name */
  char makes[8][24];             /* makes serviced */
  int n_makes;                   /* entries in makes */
  int64_t fee_minor;             /* base fee, minor units */
  char currency[4];              /* ISO 4217 */
  unsigned rating_x10;           /* 0..50 */
  bool online;                   /* present now */
} dd_terminal_t;

typedef struct {
  char make[24];              /* the vehicle's make (from the registry, S103) */
  int64_t fee_limit_minor;    /* S15: accept orders up to this fee */
  char currency[4];           /* the owner's currency */
  unsigned min_rating_x10;    /* skip terminals rated lower */
  uint64_t step_timeout_us;   /* each wait (list, answer, order, payment, signal, address) */
  unsigned payment_retries;   /* resend the same payment id when no confirmation came */
  uint64_t payment_retry_us;  /* ... after this long without one (0: step_timeout_us) */
  bool video;                 /* S13: ask for video rather than voice */
  char terminal[DD_SESSION_ID_MAX]; /* S12: the terminal the owner chose ("": by policy) */
  bool decline;               /* S15: the owner declines the order whatever its fee */
  int64_t amount_minor;       /* S16: amount paid (0: the order's fee) */
} dd_session_cfg_t;

typedef enum {
  DD_SS_IDLE,          /* not started */
  DD_SS_LISTING,       /* S11: waiting for the terminal list */
  DD_SS_IM_REQUESTED,  /* S12-S13: window open, IM request sent, waiting for the answer */
  DD_SS_AWAIT_ORDER,   /* S14: accepted, waiting for the order */
  DD_SS_PAYING,        /* S16: order accepted, payment sent, waiting for its confirmation */
  DD_SS_AWAIT_SIGNAL,  /* S17: paid, waiting for the terminal's request signal */
  DD_SS_AWAIT_ADDRESS, /* S2: connected, waiting for the connection address */
  DD_SS_ESTABLISHED,   /* remote communication stands; the address is known */
  DD_SS_ENDED,         /* ended without a connection; see the outcome */
} dd_session_state_t;

typedef enum {
  DD_SO_NONE,             /* still running, or established */
  DD_SO_NO_TERMINAL,      /* no online terminal fits the policy */
  DD_SO_REJECTED,         /* S13: the terminal refused */
  DD_SO_FEE_TOO_HIGH,     /* S15: the order's fee is above the limit (declined) */
  DD_SO_PAYMENT_FAILED,   /* S16: the payment was refused */
  DD_SO_TIMEOUT,          /* a step's answer did not come in time */
  DD_SO_PROTOCOL,         /* an answer did not fit the session (wrong ids) */
  DD_SO_DECLINED,         /* S15: the owner declined the order */
  DD_SO_CLOSED,           /* the session window was closed (by either side) */
} dd_session_outcome_t;

/* What the caller must send now. */
typedef enum {
  DD_SA_NONE,
  DD_SA_LIST_REQUEST,  /* S11: TerminalListRequest for cfg.make */
  DD_SA_OPEN_AND_IM,   /* S12+S13: SessionOpen to terminal, then ImRequest */
  DD_SA_DECISION,      /* S15: OrderDecision (accept or decline with reason) */
  DD_SA_PAYMENT,       /* S16: Payment (same payment_id on every retry) */
} dd_session_action_kind_t;

typedef struct {
  dd_session_action_kind_t kind;      /* what to send */
  char terminal_id[DD_SESSION_ID_MAX]; /* OPEN_AND_IM */
  char session_id[DD_SESSION_ID_MAX];  /* OPEN_AND_IM */
  char order_id[DD_SESSION_ID_MAX];    /* DECISION, PAYMENT */
  char payment_id[DD_SESSION_ID_MAX];  /* PAYMENT */
  bool accept;                         /* DECISION */
  char reason[160];                    /* DECISION when declining */
  int64_t amount_minor;                /* PAYMENT */
  char currency[4];                    /* PAYMENT */
  bool video;                          /* OPEN_AND_IM */
} dd_session_action_t;

typedef struct dd_session dd_session_t;

/* device_id names the first device: it prefixes the session and payment ids it makes. */
int dd_session_new(const dd_session_cfg_t *cfg, const char *device_id, dd_session_t **out);
void dd_session_destroy(dd_session_t **self_p);

/* Start S11. */
void dd_session_start(dd_session_t *self, uint64_t now);
/* Inputs. Each returns 0, or DD_EPROTO when the message does not belong to this session
 * (ignored, counted). */
int dd_session_on_list(dd_session_t *self, const dd_terminal_t *terms, size_t n, uint64_t now);
int dd_session_on_im_answer(dd_session_t *self, const char *session_id, bool accepted,
                            const char *reason, uint64_t now);
int dd_session_on_order(dd_session_t *self, const char *session_id, const char *order_id,
                        int64_t fee_minor, const char *currency, uint64_t now);
int dd_session_on_payment(dd_session_t *self, const char *payment_id, bool ok, bool duplicate,
                          const char *reason, uint64_t now);
int dd_session_on_signal(dd_session_t *self, const char *session_id, const char *order_id,
                         uint64_t now);
int dd_session_on_address(dd_session_t *self, const char *session_id, const char *service_ep,
                          const char *udp_ep, const char *relay_ep, const char *token,
                          uint64_t now);
/* The terminal (or the owner) closed the window: the session ends (DD_SO_CLOSED), connected or
 * not. DD_EPROTO when session_id is not this session's or nothing is open. */
int dd_session_on_close(dd_session_t *self, const char *session_id, const char *reason,
                        uint64_t now);
/* Fire timeouts and retries. */
void dd_session_tick(dd_session_t *self, uint64_t now);
uint64_t dd_session_next_deadline(const dd_session_t *self);

/* The next thing to send, if any (true once per action). */
bool dd_session_take_action(dd_session_t *self, dd_session_action_t *out);
/* State changes as (from, to) pairs for the timeline (true once per change). */
bool dd_session_take_transition(dd_session_t *self, dd_session_state_t *from,
                                dd_session_state_t *to);

dd_session_state_t dd_session_state(const dd_session_t *self);
dd_session_outcome_t dd_session_outcome(const dd_session_t *self);
/* Human detail of the outcome ("fee 45.00 EUR above the limit 30.00 EUR"). */
const char *dd_session_detail(const dd_session_t *self);
/* True only in DD_SS_ESTABLISHED or DD_SS_AWAIT_ADDRESS: the session is paid and connected. */
bool dd_session_paid(const dd_session_t *self);
/* S12 done and not ended: a session window with the terminal is open. */
bool dd_session_window_open(const dd_session_t *self);
/* S16 confirmed (DD_SS_AWAIT_SIGNAL and later, not ended): the order is paid. */
bool dd_session_payment_confirmed(const dd_session_t *self);
const char *dd_session_id(const dd_session_t *self);
const char *dd_session_terminal(const dd_session_t *self);
const char *dd_session_order(const dd_session_t *self);
/* After DD_SS_ESTABLISHED: the S2 address. */
const char *dd_session_service_ep(const dd_session_t *self);
const char *dd_session_udp_ep(const dd_session_t *self);
const char *dd_session_relay_ep(const dd_session_t *self);
const char *dd_session_token(const dd_session_t *self);

/* Policy (S12): the terminal the owner chose (cfg->terminal) when it is online, whatever its
 * listed fee (S15 judges the order itself); else, among online terminals servicing make with
 * fee <= limit and rating >= min, the best rated, then the cheapest, then the smallest id.
 * Returns its index or -1. */
int dd_session_pick(const dd_session_cfg_t *cfg, const dd_terminal_t *terms, size_t n);

const char *dd_session_state_name(dd_session_state_t s);
const char *dd_session_outcome_name(dd_session_outcome_t o);

#endif
