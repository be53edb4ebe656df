/* dd_socketcan_ctl: bit rates, controller state and bus-off restart of a SocketCAN interface,
 * set through rtnetlink (libsocketcan where it has the call, a small request of our own for the
 * CAN FD data phase, which libsocketcan 0.0.12 lacks).
 *
 * Every function takes an interface name ("can0") and returns 0 or a negative dd error:
 *   DD_ENOENT  no interface of that name;
 *   DD_EINVAL  the interface is not a CAN interface, or a value the driver refuses;
 *   DD_ENOTSUP the interface has no CAN controller settings: virtual CAN (vcan, vxcan) has no
 *              bit timing, state, error counters or restart;
 *   DD_EBUSY   bit timing changed while the interface is up (stop it first), or a restart asked
 *              for while the controller is not bus-off or restarts by itself;
 *   DD_EPERM   changing settings needs CAP_NET_ADMIN.
 * Setting calls need CAP_NET_ADMIN; reading calls do not. libsocketcan prints its own
 * diagnostics on stderr when the kernel refuses a request. */
#ifndef DD_SOCKETCAN_CTL_H
#define DD_SOCKETCAN_CTL_H

#include <stdint.h>

/* Controller state, as the kernel reports it (linux/can/netlink.h enum can_state). Active,
 * passive and bus-off are the fault confinement states of ISO 11898-1:2015 (clause "Fault
 * confinement"); warning is the controllers' own early notice, usually at a counter of 96. */
typedef enum {
  DD_SOCKETCAN_ERROR_ACTIVE = 0,  /* both error counters below the warning limit */
  DD_SOCKETCAN_ERROR_WARNING = 1, /* a counter at the warning limit (96 on most controllers) */
  DD_SOCKETCAN_ERROR_PASSIVE = 2, /* a counter above 127 */
  DD_SOCKETCAN_BUS_OFF = 3,       /* transmit error counter above 255: off the bus */
  DD_SOCKETCAN_STOPPED = 4,       /* interface down */
  DD_SOCKETCAN_SLEEPING = 5,      /* controller asleep (few drivers) */
} dd_socketcan_state_t;

/* "error-active", "bus-off", ...; "unknown" outside the enum. */
const char *dd_socketcan_state_name(dd_socketcan_state_t state);

int dd_socketcan_ctl_get_state(const char *ifname, dd_socketcan_state_t *state);

/* Nominal (arbitration phase) bit rate in bit/s; sample_point in tenths of a percent
 * (875 = 87.5 %), 0 lets the kernel pick the CiA-recommended one. The interface must be
 * stopped. */
int dd_socketcan_ctl_set_bitrate(const char *ifname, uint32_t bitrate, uint32_t sample_point);
int dd_socketcan_ctl_get_bitrate(const char *ifname, uint32_t *bitrate, uint32_t *sample_point);

/* CAN FD data phase bit rate (and sample point as above); also turns FD mode on, which the
 * kernel requires before it accepts a data bit timing. The interface must be stopped. */
int dd_socketcan_ctl_set_data_bitrate(const char *ifname, uint32_t dbitrate,
                                      uint32_t dsample_point);

/* Automatic restart after bus-off, ms after it happened; 0 turns automatic restart off. */
int dd_socketcan_ctl_set_restart_ms(const char *ifname, uint32_t restart_ms);
int dd_socketcan_ctl_get_restart_ms(const char *ifname, uint32_t *restart_ms);

/* Restart a bus-off controller now (only when automatic restart is off). */
int dd_socketcan_ctl_restart(const char *ifname);

/* Interface up / down (works on any interface, vcan included). */
int dd_socketcan_ctl_start(const char *ifname);
int dd_socketcan_ctl_stop(const char *ifname);

/* Transmit and receive error counters (ISO 11898-1:2015, fault confinement). */
int dd_socketcan_ctl_get_berr_counter(const char *ifname, uint16_t *txerr, uint16_t *rxerr);

#endif
