/* dd_canport: one small interface to a CAN network (send, receive, something to poll), with
 * backends for the virtual bus, SocketCAN and a fault-injecting mock. */
#ifndef DD_CANPORT_H
#define DD_CANPORT_H

#include "dd_can.h"

typedef struct dd_canport dd_canport_t;

/* What a backend implements. recv returns 0 with a frame, DD_EAGAIN when none is waiting. */
typedef struct {
  const char *kind;                                         /* "vbus", "socketcan", "mock" */
  int (*send)(void *impl, const dd_can_frame_t *frame);     /* queue one frame for the bus */
  int (*recv)(void *impl, dd_can_frame_t *frame);           /* take one received frame */
  int (*poll_fd)(void *impl);                               /* fd readable on input, or -1 */
  void *(*poll_zsock)(void *impl);                          /* ZeroMQ socket to poll, or NULL */
  void (*destroy)(void *impl);                              /* free the backend */
} dd_canport_ops_t;

typedef struct {
  bool fd;         /* open for CAN FD frames */
  bool loopback;   /* receive an echo of own transmissions (flag DD_CAN_F_TX) */
  bool err_frames; /* receive error frames */
} dd_canport_opts_t;

/* Wrap a backend; takes ownership of impl (freed through ops->destroy). */
dd_canport_t *dd_canport_new(const dd_canport_ops_t *ops, void *impl);
void dd_canport_destroy(dd_canport_t **self_p);

int dd_canport_send(dd_canport_t *self, const dd_can_frame_t *frame);
int dd_canport_recv(dd_canport_t *self, dd_can_frame_t *frame);
int dd_canport_poll_fd(dd_canport_t *self);
void *dd_canport_poll_zsock(dd_canport_t *self);
const char *dd_canport_kind(const dd_canport_t *self);
void *dd_canport_impl(dd_canport_t *self);

/* Backends. Each returns 0 and an owned port in *out, or a negative dd error. */
int dd_canport_socketcan_open(const char *ifname, const dd_canport_opts_t *opts,
                              dd_canport_t **out);

#endif
