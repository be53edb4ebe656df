/* dd_canbridge: joins two CAN ports on a loop (in duodiag-canbridge: the virtual bus and a
 * SocketCAN interface) so that every frame received on one is sent on the other.
 *
 * No loops: the ports are opened without loopback, so a frame the bridge sends does not come
 * back to it as received (the virtual bus echoes it only to its sender, the kernel delivers it
 * to the interface's other sockets but not to this one); a copy flagged DD_CAN_F_TX is dropped
 * all the same. Error frames are not forwarded (controllers make them, nobody can send them).
 * A CAN FD frame towards a classic side cannot be sent and is dropped and counted. A frame the
 * other side cannot take right now (its transmit queue full) waits in the bridge, in order, up
 * to DD_CANBRIDGE_QUEUE frames per direction, and is retried on a short timer; past that,
 * frames are dropped and counted, as a full transmit queue drops them. */
#ifndef DD_CANBRIDGE_H
#define DD_CANBRIDGE_H

#include <stdint.h>

#include "dd_canport.h"
#include "dd_events.h"
#include "dd_loop.h"

#define DD_CANBRIDGE_QUEUE 1024 /* frames waiting per direction */

typedef struct {
  const char *name_a;         /* side A in events (e.g. "vbus") */
  const char *name_b;         /* side B in events (e.g. "can0") */
  bool fd_a;                  /* side A carries CAN FD frames */
  bool fd_b;                  /* side B carries CAN FD frames */
  uint64_t stats_interval_us; /* period of canbridge.stats events (default 1 s; only when
                               * something changed) */
} dd_canbridge_cfg_t;

/* Counters of one direction. */
typedef struct {
  uint64_t forwarded;  /* frames handed to the other side */
  uint64_t echoes;     /* own copies (DD_CAN_F_TX) ignored */
  uint64_t err_frames; /* error frames not forwarded */
  uint64_t no_fd;      /* CAN FD frames the other side cannot carry */
  uint64_t overflow;   /* frames dropped: the waiting queue was full */
  uint64_t tx_errors;  /* frames the other side refused (not "queue full") */
  uint64_t retried;    /* sends that had to wait */
} dd_canbridge_dir_stats_t;

typedef struct {
  dd_canbridge_dir_stats_t a_to_b; /* frames received on A, for B */
  dd_canbridge_dir_stats_t b_to_a; /* frames received on B, for A */
} dd_canbridge_stats_t;

typedef struct dd_canbridge dd_canbridge_t;

/* Takes ownership of both ports (also on failure). events: the timeline (not owned). */
int dd_canbridge_new(dd_loop_t *loop, dd_events_t *events, dd_canport_t *a, dd_canport_t *b,
                     const dd_canbridge_cfg_t *cfg, dd_canbridge_t **out);
/* Emits a final canbridge.stats event and closes both ports. */
void dd_canbridge_destroy(dd_canbridge_t **self_p);

dd_canbridge_stats_t dd_canbridge_stats(const dd_canbridge_t *self);
dd_canport_t *dd_canbridge_port_a(dd_canbridge_t *self);
dd_canport_t *dd_canbridge_port_b(dd_canbridge_t *self);

#endif
