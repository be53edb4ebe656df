/* dd_vbus: the virtual CAN bus as a sans-I/O model: nodes submit frames, the model arbitrates by
 * identifier, times every frame from its exact bit count at the configured bit rates, and
 * reports each frame when its last bit has passed. Fault injection lives here too. The bus
 * process (sim/bus) moves frames between this model and the nodes' sockets. */
#ifndef DD_VBUS_H
#define DD_VBUS_H

#include <stdbool.h>
#include <stdint.h>

#include "dd_can.h"

#define DD_VBUS_MAX_NODES 64
#define DD_VBUS_TXQ_LEN 256 /* frames a node may have waiting (like a SocketCAN txqueuelen) */

typedef struct dd_vbus dd_vbus_t;

typedef struct {
  uint32_t nominal_bps; /* arbitration-phase bit rate, e.g. 500000 */
  uint32_t data_bps;    /* CAN FD data-phase bit rate with BRS; equal to nominal when unused */
} dd_vbus_cfg_t;

/* ISO 11898-1:2015 12.1.4 fault confinement states of a node. */
typedef enum { DD_VBUS_ERROR_ACTIVE, DD_VBUS_ERROR_PASSIVE, DD_VBUS_BUS_OFF } dd_vbus_state_t;

/* What happened on the bus; the caller turns each into deliveries and timeline events. */
typedef enum {
  DD_VBUS_EV_FRAME,      /* a frame completed: deliver to every node (echo to the sender) */
  DD_VBUS_EV_DROPPED,    /* a frame completed but, by injected fault, reaches no receiver */
  DD_VBUS_EV_ERROR,      /* an error frame (injected corruption or injected error frame) */
  DD_VBUS_EV_STATE,      /* a node changed fault-confinement state */
} dd_vbus_ev_kind_t;

typedef struct {
  dd_vbus_ev_kind_t kind;  /* what happened */
  int node;                /* transmitting node (or the node whose state changed); -1: none */
  dd_can_frame_t frame;    /* the frame; ts_us = end of frame; for ERROR an error frame */
  uint64_t start_ns;       /* start of frame (SOF) on the bus's time line */
  uint64_t end_ns;         /* end of frame including intermission */
  uint32_t bits;           /* bits on the wire, stuff bits included */
  dd_vbus_state_t state;   /* STATE: the new state */
  uint16_t tec;            /* transmit error counter of node after the event */
} dd_vbus_ev_t;

typedef struct {
  uint64_t frames;       /* frames completed */
  uint64_t dropped;      /* frames completed but dropped by fault injection */
  uint64_t errors;       /* error frames */
  uint64_t busy_ns;      /* time the bus was not idle */
  uint64_t bits;         /* bits sent, stuff bits included */
} dd_vbus_stats_t;

int dd_vbus_new(const dd_vbus_cfg_t *cfg, dd_vbus_t **out);
void dd_vbus_destroy(dd_vbus_t **self_p);

/* A node joins; returns its index (>= 0) or DD_ENOSPC. fd: accepts CAN FD frames. */
int dd_vbus_attach(dd_vbus_t *self, const char *name, bool fd);
void dd_vbus_detach(dd_vbus_t *self, int node);
const char *dd_vbus_node_name(const dd_vbus_t *self, int node);
int dd_vbus_node_count(const dd_vbus_t *self);

/* Queue a frame from node at time now_ns. Errors: DD_ECAN_FRAME (invalid), DD_ECAN_NOFD (FD
 * frame from a classic node), DD_ECAN_BUSOFF, DD_ENOSPC (queue full). */
int dd_vbus_submit(dd_vbus_t *self, int node, const dd_can_frame_t *frame, uint64_t now_ns);

/* When the model next has something to report (end of the frame on the wire), or UINT64_MAX. */
uint64_t dd_vbus_next_ns(const dd_vbus_t *self);

/* Take the next event that has happened by now_ns; returns true with *ev filled. Call until
 * false, then wait until dd_vbus_next_ns(). */
bool dd_vbus_poll(dd_vbus_t *self, uint64_t now_ns, dd_vbus_ev_t *ev);

/* ---- fault injection (all take effect for frames that start after the call) ---- */
/* Drop the next count frames whose id matches (any_id: every frame). */
void dd_vbus_fault_drop(dd_vbus_t *self, bool any_id, uint32_t id, uint32_t count);
/* Corrupt the next count matching frames: receivers see a CRC error, an error frame follows
 * and the transmitter sends again automatically (ISO 11898-1 10.11, 12.1.4 counters). */
void dd_vbus_fault_corrupt(dd_vbus_t *self, bool any_id, uint32_t id, uint32_t count);
/* Put one error frame on the bus at the next idle moment. */
void dd_vbus_fault_error_frame(dd_vbus_t *self);
/* Force a node to bus-off; it recovers on dd_vbus_restart (ISO 11898-1 12.1.4.2). */
void dd_vbus_fault_bus_off(dd_vbus_t *self, int node);
int dd_vbus_restart(dd_vbus_t *self, int node);
/* Cut the bus (no frame can start) from now until until_ns (UINT64_MAX: until restored). */
void dd_vbus_fault_cut(dd_vbus_t *self, uint64_t now_ns, uint64_t until_ns);
void dd_vbus_restore(dd_vbus_t *self, uint64_t now_ns);

dd_vbus_stats_t dd_vbus_stats(const dd_vbus_t *self);
dd_vbus_state_t dd_vbus_node_state(const dd_vbus_t *self, int node);
/* Arbitration priority key: a smaller key wins the bus (exposed for tests). */
uint64_t dd_vbus_arbitration_key(const dd_can_frame_t *f);
/* Duration of a frame on this bus in ns. */
uint64_t dd_vbus_frame_ns(const dd_vbus_t *self, const dd_can_frame_t *f, uint32_t *bits);

#endif
