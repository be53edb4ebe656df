/* dd_canmux: puts a CAN port on a process's loop and hands every received frame to each of
 * its listeners (ISO-TP links, an OBD responder, a trace writer, ...). */
#ifndef DD_CANMUX_H
#define DD_CANMUX_H

#include "dd_canport.h"
#include "dd_loop.h"

typedef struct dd_canmux dd_canmux_t;
typedef void (*dd_canmux_fn)(const dd_can_frame_t *frame, uint64_t now_us, void *arg);

/* The port is owned by the mux from here on. */
int dd_canmux_new(dd_loop_t *loop, dd_canport_t *port, dd_canmux_t **out);
void dd_canmux_destroy(dd_canmux_t **self_p);

/* Returns a listener id (> 0) or DD_ENOSPC. */
int dd_canmux_listen(dd_canmux_t *self, dd_canmux_fn fn, void *arg);
void dd_canmux_unlisten(dd_canmux_t *self, int id);

int dd_canmux_send(dd_canmux_t *self, const dd_can_frame_t *frame);
dd_canport_t *dd_canmux_port(dd_canmux_t *self);
dd_loop_t *dd_canmux_loop(dd_canmux_t *self);

#endif
