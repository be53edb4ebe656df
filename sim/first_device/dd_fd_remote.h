/* dd_fd_remote: the first device's remote side: its ZeroMQ links (cloud, terminal, service
 * device, relay) and the direct UDP path; the session of S11-S17 and S2 (dd_session) with its
 * session-window messages, the link to the service device (S3), and vehicle records delivered
 * exactly once over the path dd_transport picks (S43-S45, dd_delivery). Messages it does not
 * handle itself go to the caller's handler. */
#ifndef DD_FD_REMOTE_H
#define DD_FD_REMOTE_H

#include <stdbool.h>
#include <stdint.h>

#include "dd_proc.h"
#include "dd_session.h"
#include "dd_transport.h"
#include "dd_wire.h"

typedef enum {
  DD_FD_PATH_AUTO = 0, /* S43-S45: dd_transport decides */
  DD_FD_PATH_DIRECT,   /* always the direct UDP path */
  DD_FD_PATH_RELAY,    /* always the relay */
} dd_fd_path_policy_t;

typedef struct {
  const char *cloud_ep;         /* cloud ROUTER endpoint */
  const char *terminal_ep;      /* terminal ROUTER endpoint (the IM link), then ";ID=EP" for
                                 * each terminal reached over a link of its own */
  const char *owner_id;         /* owner id in SessionOpen and Payment */
  dd_session_cfg_t session;     /* S11-S17 policy (make filled in at start; payment_retries 0
                                 * takes 3, payment_retry_us 0 takes 2 s) */
  dd_transport_cfg_t transport; /* S43-S45 */
  dd_fd_path_policy_t policy;   /* path choice */
  uint64_t rto_us;              /* record retransmission timeout */
  bool no_resend_on_switch;     /* planted defect (dd_delivery) */
  bool media;                   /* send session-window messages (text, picture, voice, video) */
} dd_fd_remote_cfg_t;

/* A message for the caller: link is "cloud", "im", "im:ID" (a terminal's own link), "service",
 * "relay" or "udp". */
typedef void (*dd_fd_remote_fn)(const Duodiag__Envelope *env, const char *link, void *arg);
/* The session reached a milestone: "established" (S3 done) or "ended". */
typedef void (*dd_fd_remote_state_fn)(const char *what, void *arg);

typedef struct dd_fd_remote dd_fd_remote_t;

int dd_fd_remote_new(dd_proc_t *proc, const dd_fd_remote_cfg_t *cfg, dd_fd_remote_fn fn,
                     dd_fd_remote_state_fn state_fn, void *arg, dd_fd_remote_t **out);
void dd_fd_remote_destroy(dd_fd_remote_t **self_p);

/* Owner's settings for the next session: fee limit (minor units, < 0: decline every fee). */
void dd_fd_remote_set_fee_limit(dd_fd_remote_t *self, int64_t fee_limit_minor);
/* ... the terminal to ask (S12; NULL or "": by policy) and voice or video (S13) ... */
void dd_fd_remote_set_target(dd_fd_remote_t *self, const char *terminal_id, bool video);
/* ... whether to pay an acceptable order (S15) and how much (S16; 0: the order's fee). */
void dd_fd_remote_set_payment(dd_fd_remote_t *self, bool pay, int64_t amount_minor);
/* S11: start a session for a vehicle of make with VIN vin. DD_EBUSY while one runs. */
int dd_fd_remote_start(dd_fd_remote_t *self, const char *make, const char *vin);

/* Header of an outgoing envelope (sender, seq, now). */
void dd_fd_remote_env(dd_fd_remote_t *self, Duodiag__Envelope *env);
/* Send on a link: 0 or a negative code (DD_ENOTCONN before the link exists). */
int dd_fd_remote_send_cloud(dd_fd_remote_t *self, Duodiag__Envelope *env);
int dd_fd_remote_send_im(dd_fd_remote_t *self, Duodiag__Envelope *env); /* session's terminal */
/* On the link a message came from ("im", "im:ID", "service", ...); DD_ENOTCONN if none. */
int dd_fd_remote_send_link(dd_fd_remote_t *self, const char *link, Duodiag__Envelope *env);
/* The terminal at the end of an IM link: "im:ID" -> ID; "im" -> the terminal last asked over
 * it; "" when unknown. */
const char *dd_fd_remote_link_terminal(const dd_fd_remote_t *self, const char *link);
int dd_fd_remote_send_service(dd_fd_remote_t *self, Duodiag__Envelope *env);

/* S42-S45: queue a record (session id, seq and path are filled in here); it is sent on the
 * current path and again until acknowledged. 0, DD_ENOTCONN (no established link), DD_ENOSPC. */
int dd_fd_remote_push_record(dd_fd_remote_t *self, Duodiag__VehicleRecord *rec);

bool dd_fd_remote_established(const dd_fd_remote_t *self); /* S3 done */
bool dd_fd_remote_paid(const dd_fd_remote_t *self);        /* S16 confirmed, S17 received */
bool dd_fd_remote_window_open(const dd_fd_remote_t *self); /* S12 done, session not ended */
bool dd_fd_remote_payment_confirmed(const dd_fd_remote_t *self); /* S16 confirmed, not ended */
const char *dd_fd_remote_session_id(const dd_fd_remote_t *self);
const char *dd_fd_remote_terminal_id(const dd_fd_remote_t *self);
dd_path_t dd_fd_remote_path(const dd_fd_remote_t *self);

#endif
