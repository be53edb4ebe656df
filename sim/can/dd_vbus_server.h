/* dd_vbus_server: the virtual bus process's core: a ROUTER socket that nodes join, the dd_vbus
 * model timing every frame, delivery of each completed frame to every node (echo to the sender
 * as SocketCAN's loopback does), traces, bus-load events and fault injection commands. */
#ifndef DD_VBUS_SERVER_H
#define DD_VBUS_SERVER_H

#include <stdint.h>

#include "dd_proc.h"

typedef struct {
  const char *endpoint;      /* ROUTER bind address, e.g. ipc:///tmp/run/bus */
  uint32_t nominal_bps;      /* e.g. 500000 */
  uint32_t data_bps;         /* CAN FD data phase, e.g. 2000000; 0 = nominal */
  const char *iface;         /* interface name written into traces (default "vbus0") */
  const char *candump_path;  /* candump -l log of every frame, or NULL */
  const char *pcap_path;     /* pcap (LINKTYPE_CAN_SOCKETCAN) of every frame, or NULL */
  uint64_t load_interval_us; /* bus-load event period (default 1 s) */
} dd_vbus_server_cfg_t;

typedef struct dd_vbus_server dd_vbus_server_t;

int dd_vbus_server_new(dd_proc_t *proc, const dd_vbus_server_cfg_t *cfg, dd_vbus_server_t **out);
void dd_vbus_server_destroy(dd_vbus_server_t **self_p);

/* Delivery lateness so far (real time of delivery minus the frame's computed end), in us. */
typedef struct {
  uint64_t frames;   /* frames delivered */
  double p50_us;     /* median lateness */
  double p99_us;     /* 99th percentile lateness */
  double max_us;     /* worst lateness */
} dd_vbus_timing_t;
dd_vbus_timing_t dd_vbus_server_timing(const dd_vbus_server_t *self);

#endif
