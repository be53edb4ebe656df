/* dd_isotp_link: one ISO-TP channel on a live CAN port: feeds received frames into the sans-I/O
 * dd_isotp core, sends what it emits, and keeps a loop timer at its next deadline. */
#ifndef DD_ISOTP_LINK_H
#define DD_ISOTP_LINK_H

#include "dd_canmux.h"
#include "dd_isotp.h"

typedef struct dd_isotp_link dd_isotp_link_t;
typedef void (*dd_isotp_link_fn)(dd_isotp_link_t *link, const dd_isotp_event_t *ev, void *arg);

int dd_isotp_link_new(dd_canmux_t *mux, const dd_isotp_cfg_t *cfg, dd_isotp_link_fn fn, void *arg,
                      dd_isotp_link_t **out);
void dd_isotp_link_destroy(dd_isotp_link_t **self_p);

int dd_isotp_link_send(dd_isotp_link_t *self, const uint8_t *data, size_t len);
int dd_isotp_link_send_functional(dd_isotp_link_t *self, const uint8_t *data, size_t len);
dd_isotp_t *dd_isotp_link_core(dd_isotp_link_t *self);
/* Frames handed to the port so far (data frames and flow controls). */
uint64_t dd_isotp_link_frames_sent(const dd_isotp_link_t *self);

#endif
