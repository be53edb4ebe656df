/* dd_cloud: the cloud server's core, sans-I/O: the vehicle registry (S102-S103), terminal
 * presence and the list of online terminals (S11), and the orders and payment ledger (S14-S16).
 * It is fed requests with the requesting party's id (its ZeroMQ routing id) and "now"; answers
 * that are not immediate (payments waiting for their order, payment notices to terminals) and
 * presence changes come out of small queues. Only the start-up loaders read files.
 *
 * Presence (S11): a terminal is online while its heartbeats (Presence{online: true}) come at
 * least every presence_timeout_us (e.g. three heartbeat intervals), until Presence{online:
 * false}, or always when its profile says static_online (a scenario terminal without a process).
 * A terminal's profile (name, makes, fee, currency, rating) comes from the terminals file or
 * from the terminal itself: a TerminalList sent *to* the cloud registers the TerminalInfo
 * entries it holds (the front does this; see dd_cloud_server.h). A Presence from an unknown
 * terminal id creates a bare profile (name = id, no makes, fee 0). The list (S11) holds the
 * online terminals only, sorted by id, filtered by make (case-insensitive) when asked.
 *
 * Orders and payments (S14-S16): the terminal registers its Order with the cloud (the same Order
 * it sends the owner). The owner's Payment names the order; the ledger answers each Payment with
 * a PaymentConfirmation to the payer and, when the charge went through, forwards a copy to the
 * terminal that registered the order, which then sends its S17 signal. Rules, in order:
 *  1. payment_id is the idempotency key: a payment id seen before is never charged again; the
 *     answer repeats the first outcome with duplicate = true (charged_minor stays the amount the
 *     first charge took). A retry after a lost confirmation thus gets ok = true, duplicate = true.
 *     The same id with another order, amount, currency or payer is refused (DD_EEXIST) and the
 *     first payment stays as it was.
 *  2. an unknown order waits up to order_wait_us for the terminal's Order (it may travel a slower
 *     path than the owner's Payment); then it is refused (DD_ENOENT).
 *  3. an order already paid by another payment id is refused (DD_EEXIST): no order is charged
 *     twice.
 *  4. the currency and the amount must equal the order's (DD_EINVAL otherwise).
 *  5. scripted failures (dd_cloud_fail_payments, or a terminal's payment_failure) refuse the
 *     payment with their reason (DD_EPERM), e.g. "card declined".
 *  6. otherwise the fee is charged and added to the terminal's total.
 * Every outcome, refusals included, is final for its payment id (rule 1): a payer that wants to
 * try again after a refusal uses a new payment id. */
#ifndef DD_CLOUD_H
#define DD_CLOUD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dd_vehicle.h"

#define DD_CLOUD_ID_MAX 128   /* terminal, order, payment, session and party ids, with NUL */
#define DD_CLOUD_TEXT_MAX 160 /* names, reasons */
#define DD_CLOUD_MAX_MAKES 8  /* makes per terminal */
#define DD_CLOUD_MAKE_MAX 32  /* bytes of one make, with NUL */
#define DD_CLOUD_MAX_RULES 64 /* scripted failure rules */

/* Defaults of dd_cloud_cfg_t (a zero field takes its default). */
#define DD_CLOUD_DEFAULT_PRESENCE_US 3000000ull /* 3 s: three 1 s heartbeats */
#define DD_CLOUD_DEFAULT_ORDER_WAIT_US 2000000ull
#define DD_CLOUD_DEFAULT_MAX_TERMINALS 1024u
#define DD_CLOUD_DEFAULT_MAX_ORDERS 65536u
#define DD_CLOUD_DEFAULT_MAX_PAYMENTS 65536u

typedef struct {
  uint64_t presence_timeout_us; /* offline after this long without a heartbeat */
  uint64_t order_wait_us;       /* a payment for an unknown order waits this long; UINT64_MAX:
                                   refuse at once (0 takes the default) */
  size_t max_terminals;         /* terminals known */
  size_t max_orders;            /* orders held */
  size_t max_payments;          /* payments held (the idempotency memory) */
} dd_cloud_cfg_t;

/* ---- registry (S102-S103) ------------------------------------------------------------------ */

#define DD_CLOUD_MAX_DTC_TEXTS 32 /* manufacturer DTC descriptions kept per ECU */

typedef struct {
  uint32_t dtc;   /* 3-byte DTC (ISO 14229-1 D.1) */
  char text[96];  /* its description */
} dd_cloud_dtc_text_t;

typedef struct {
  char name[32];            /* ECU short name */
  uint32_t request_can_id;  /* physical request id */
  uint32_t response_can_id; /* response id */
  bool extended_ids;        /* 29-bit ids */
  bool can_fd;              /* CAN FD */
  bool ext_addressing;      /* ISO 15765-2 extended addressing */
  uint8_t ecu_address;      /* ... N_TA of requests */
  uint8_t tester_address;   /* ... N_TA of responses */
  uint8_t functional_address; /* ... N_TA of functional requests */
  dd_cloud_dtc_text_t dtc_texts[DD_CLOUD_MAX_DTC_TEXTS]; /* DTC descriptions (S104) */
  size_t n_dtc_texts;                                    /* entries of dtc_texts */
} dd_cloud_ecu_t;

typedef struct {
  char vin[DD_VIN_SIZE];   /* VIN (ISO 3779) */
  char make[32];           /* manufacturer */
  char model[48];          /* model */
  char vehicle_type[24];   /* vehicle type */
  int model_year;          /* model year */
  char engine[96];         /* engine: "CODE (description)", or whichever is known */
  char chassis_number[32]; /* chassis number */
  dd_cloud_ecu_t ecus[DD_VEHICLE_MAX_ECUS]; /* control units fitted */
  size_t n_ecus;                            /* entries of ecus */
  char source[256];                         /* file it came from */
} dd_cloud_vehicle_t;

/* ---- terminals (S11) ------------------------------------------------------------------------ */

typedef struct {
  char id[DD_CLOUD_ID_MAX];                          /* terminal id */
  char name[DD_CLOUD_TEXT_MAX];                      /* display name */
  char makes[DD_CLOUD_MAX_MAKES][DD_CLOUD_MAKE_MAX]; /* makes serviced */
  size_t n_makes;                                    /* entries of makes */
  int64_t fee_minor;                                 /* base fee, minor units, >= 0 */
  char currency[4];                                  /* ISO 4217 alphabetic code or "" */
  unsigned rating_x10;                               /* rating in tenths of a star, 0..50 */
  bool static_online;                                /* online without heartbeats */
  char payment_failure[DD_CLOUD_TEXT_MAX];           /* non-empty: refuse payments of its
                                                        orders with this reason */
} dd_cloud_terminal_t;

/* A presence change for the timeline. */
typedef struct {
  char terminal[DD_CLOUD_ID_MAX]; /* terminal id */
  bool online;                    /* new state */
  const char *why;                /* "heartbeat", "bye", "timeout", "static", "command" */
} dd_cloud_presence_t;

/* ---- orders and payments (S14-S16) ---------------------------------------------------------- */

typedef struct {
  const char *order_id;      /* order id */
  const char *session_id;    /* session window */
  const char *merchant_id;   /* merchant id */
  const char *merchant_name; /* merchant name */
  int64_t fee_minor;         /* fee, minor units, >= 0 */
  const char *currency;      /* ISO 4217 */
} dd_cloud_order_in_t;

typedef struct {
  const char *payment_id; /* idempotency key */
  const char *order_id;   /* order paid */
  int64_t amount_minor;   /* amount, minor units, > 0 */
  const char *currency;   /* ISO 4217 */
  const char *payer_id;   /* paying owner */
} dd_cloud_payment_in_t;

typedef enum {
  DD_CLOUD_OUT_CONFIRM, /* PaymentConfirmation to the payer */
  DD_CLOUD_OUT_NOTIFY,  /* the same, forwarded to the terminal of a charged order */
} dd_cloud_out_kind_t;

/* A PaymentConfirmation to send. */
typedef struct {
  dd_cloud_out_kind_t kind;         /* to the payer, or to the terminal */
  char to[DD_CLOUD_ID_MAX];         /* party (routing id) to send it to */
  char payment_id[DD_CLOUD_ID_MAX]; /* payment answered */
  char order_id[DD_CLOUD_ID_MAX];   /* order paid */
  char payer[DD_CLOUD_ID_MAX];      /* payer id */
  char terminal[DD_CLOUD_ID_MAX];   /* terminal of the order ("" if unknown) */
  bool ok;                          /* charged (now or before) */
  bool duplicate;                   /* this payment id was answered before */
  int code;                         /* 0, or why refused (DD_E*) */
  char reason[DD_CLOUD_TEXT_MAX];   /* why refused ("" when ok) */
  int64_t amount_minor;             /* amount asked */
  int64_t charged_minor;            /* amount charged by this payment id */
  char currency[4];                 /* its currency */
  uint64_t waited_us;               /* how long it waited for its order */
} dd_cloud_out_t;

/* Who a scripted failure applies to. */
typedef enum {
  DD_CLOUD_MATCH_ANY,      /* every payment */
  DD_CLOUD_MATCH_PAYER,    /* payments by this payer id */
  DD_CLOUD_MATCH_ORDER,    /* payments for this order id */
  DD_CLOUD_MATCH_TERMINAL, /* payments for orders of this terminal */
} dd_cloud_match_t;

/* One terminal's takings in one currency. */
typedef struct {
  char terminal[DD_CLOUD_ID_MAX]; /* terminal id */
  char currency[4];               /* currency */
  int64_t charged_minor;          /* total charged */
  uint64_t payments;              /* payments charged */
} dd_cloud_total_t;

typedef struct {
  uint64_t vin_queries;    /* VIN queries answered */
  uint64_t vin_found;      /* ... found in the registry */
  uint64_t list_requests;  /* terminal lists answered */
  uint64_t heartbeats;     /* Presence messages taken */
  uint64_t orders;         /* orders registered */
  uint64_t orders_refused; /* order registrations refused */
  uint64_t payments;       /* distinct payment ids answered */
  uint64_t charged;        /* ... charged */
  uint64_t refused;        /* ... refused */
  uint64_t duplicates;     /* retries answered without a new charge */
  uint64_t conflicts;      /* payment id reused with other details */
  uint64_t pending;        /* payments now waiting for their order */
  uint64_t notices;        /* payment notices to terminals */
} dd_cloud_stats_t;

typedef struct dd_cloud dd_cloud_t;

/* cfg may be NULL (defaults). 0 or DD_ENOMEM. */
int dd_cloud_new(const dd_cloud_cfg_t *cfg, dd_cloud_t **out);
void dd_cloud_destroy(dd_cloud_t **self_p);
const dd_cloud_cfg_t *dd_cloud_cfg(const dd_cloud_t *self);

/* Registry. dd_cloud_add_vehicle copies what the registry tells (DD_EEXIST: VIN known already).
 * dd_cloud_load_vehicles reads a vehicle file, or every *.yaml / *.yml of a folder in name
 * order (start-up I/O); on failure err gets the loader's "FILE:LINE:COL: ..." lines. */
int dd_cloud_add_vehicle(dd_cloud_t *self, const dd_vehicle_t *v);
int dd_cloud_load_vehicles(dd_cloud_t *self, const char *path, char *err, size_t cap);
const dd_cloud_vehicle_t *dd_cloud_vin_lookup(dd_cloud_t *self, const char *vin);
size_t dd_cloud_vehicle_count(const dd_cloud_t *self);

/* Terminals. dd_cloud_put_terminal adds or updates a profile. From a file (from_file = true)
 * every field is taken; from a terminal's own registration the file's static_online and
 * payment_failure are kept. contact: the party to notify (routing id), or NULL. A profile alone
 * is no heartbeat (the front adds one for TerminalInfo.online). 0, DD_EINVAL (bad profile),
 * DD_ENOSPC.
 *
 * The terminals file (YAML) holds terminals for a scenario:
 *   terminals:
 *     - id: shop-1                 # required, unique
 *       name: Corvan Service Point # default: the id
 *       makes: [Corvan, Vellora]   # makes serviced (at most 8)
 *       fee_minor: 3000            # base fee in minor units (default 0)
 *       currency: EUR              # ISO 4217 (default "")
 *       rating: 4.5                # stars, 0..5 in steps of 0.1 (default 0)
 *       online: true               # static presence: listed online without a process
 *       payment_failure: card declined  # refuse every payment of this terminal's orders
 * Unknown keys are errors. On failure err gets "FILE:LINE:COL: message" lines (DD_ECONFIG),
 * or the system's reason for an unreadable file. */
int dd_cloud_put_terminal(dd_cloud_t *self, const dd_cloud_terminal_t *t, bool from_file,
                          const char *contact, uint64_t now);
int dd_cloud_load_terminals(dd_cloud_t *self, const char *path, char *err, size_t cap);
int dd_cloud_load_terminals_string(dd_cloud_t *self, const char *text, size_t len, const char *name,
                                   char *err, size_t cap);

/* A Presence from party about terminal_id. 0, DD_EINVAL, DD_ENOSPC. */
int dd_cloud_presence(dd_cloud_t *self, const char *party, const char *terminal_id, bool online,
                      uint64_t now);
/* Force a terminal's static presence (harness command); DD_ENOENT when unknown. */
int dd_cloud_set_static(dd_cloud_t *self, const char *terminal_id, bool online, uint64_t now);
/* The online terminals (make "" or NULL: all), sorted by id, at most cap; returns how many
 * match (may exceed cap). */
size_t dd_cloud_list(dd_cloud_t *self, const char *make, const dd_cloud_terminal_t **out,
                     size_t cap);
const dd_cloud_terminal_t *dd_cloud_terminal(const dd_cloud_t *self, const char *terminal_id);
bool dd_cloud_online(const dd_cloud_t *self, const char *terminal_id);
size_t dd_cloud_terminal_count(const dd_cloud_t *self);
/* The i-th terminal known (in order of first appearance), or NULL. */
const dd_cloud_terminal_t *dd_cloud_terminal_at(const dd_cloud_t *self, size_t i);
/* Presence changes, oldest first (true once per change). */
bool dd_cloud_take_presence(dd_cloud_t *self, dd_cloud_presence_t *out);

/* An Order registered by party (the terminal). The order's terminal is the terminal whose
 * contact party is, else party itself. *duplicate (may be NULL) tells an identical repeat.
 * 0, DD_EEXIST (same id, other details), DD_EINVAL, DD_ENOSPC. Payments waiting for this order
 * are settled now (their answers come out of dd_cloud_take_out). */
int dd_cloud_order(dd_cloud_t *self, const char *party, const dd_cloud_order_in_t *o, uint64_t now,
                   bool *duplicate);

/* A Payment from party. The answer(s) come out of dd_cloud_take_out, at once or, when the order
 * is not known yet, once it arrives or order_wait_us has passed (*pending true, may be NULL).
 * 0, or DD_EINVAL (missing ids, amount <= 0): nothing is recorded then. */
int dd_cloud_pay(dd_cloud_t *self, const char *party, const dd_cloud_payment_in_t *p, uint64_t now,
                 bool *pending);

/* Scripted failures: refuse the next count payments (0: all until cleared) matching what/value
 * with reason (NULL or "": "payment declined"). DD_ENOSPC when DD_CLOUD_MAX_RULES are set. */
int dd_cloud_fail_payments(dd_cloud_t *self, dd_cloud_match_t what, const char *value,
                           const char *reason, unsigned count);
void dd_cloud_clear_failures(dd_cloud_t *self);

/* Answers to send, oldest first (true once per answer). */
bool dd_cloud_take_out(dd_cloud_t *self, dd_cloud_out_t *out);

/* Presence timeouts and payments that waited too long for their order. */
void dd_cloud_tick(dd_cloud_t *self, uint64_t now);
/* Next time tick has work; UINT64_MAX when none. */
uint64_t dd_cloud_next_deadline(const dd_cloud_t *self);

/* Ledger totals per terminal and currency, in first-charge order. */
size_t dd_cloud_total_count(const dd_cloud_t *self);
const dd_cloud_total_t *dd_cloud_total(const dd_cloud_t *self, size_t i);
dd_cloud_stats_t dd_cloud_stats(const dd_cloud_t *self);

const char *dd_cloud_match_name(dd_cloud_match_t what);

#endif
