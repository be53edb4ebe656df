/* dd_canport_vbus: the CAN port backend that joins a virtual bus process over ZeroMQ. */
#ifndef DD_CANPORT_VBUS_H
#define DD_CANPORT_VBUS_H

#include "dd_canport.h"

/* Connect to the bus at endpoint as node_name. Frames sent before the bus has answered are
 * queued in order. Returns 0 and an owned port, or a negative code. */
int dd_canport_vbus_open(void *zctx, const char *endpoint, const char *node_name,
                         const dd_canport_opts_t *opts, dd_canport_t **out);

/* True once the bus has confirmed the node; its bit rates then. */
bool dd_canport_vbus_attached(dd_canport_t *port, uint32_t *nominal_bps, uint32_t *data_bps);

#endif
