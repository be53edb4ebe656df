/* dd_socketcand_server: a socketcand-compatible TCP server (protocol in dd_socketcand.h) in front
 * of one CAN port, on a process's loop: the listening socket and every client socket are loop
 * readers, all non-blocking.
 *
 * All clients share the one port, i.e. one node on the bus, the way every client of the daemon
 * shares the one CAN interface it opens. A frame a client sends goes to the bus through that
 * port; when the bus echoes it back (the port must be opened with loopback), it is forwarded to
 * every other client in RAW mode, never to its sender, as the kernel delivers one raw socket's
 * frame to the other sockets on the interface but not to itself (CAN_RAW_RECV_OWN_MSGS off).
 * Frames other nodes send go to every client in RAW mode. (One node per client would instead
 * use up the bus's node slots: the bus has no detach message, so every connection would keep
 * one for good.)
 *
 * Output a client does not read fast enough is held up to DD_SOCKETCAND_SERVER_OUT_MAX bytes;
 * frames beyond that are dropped for that client and counted (a raw socket's receive queue
 * overflows the same way). Writes are retried on a short timer while anything is held. */
#ifndef DD_SOCKETCAND_SERVER_H
#define DD_SOCKETCAND_SERVER_H

#include <stdbool.h>
#include <stdint.h>

#include "dd_canport.h"
#include "dd_events.h"
#include "dd_loop.h"

#define DD_SOCKETCAND_SERVER_OUT_MAX (256 * 1024) /* bytes held per client at most */
#define DD_SOCKETCAND_SERVER_CLIENTS_MAX 64       /* clients at once, at most */

typedef struct {
  const char *bind_addr; /* numeric IPv4 or IPv6 address to listen on (default 127.0.0.1) */
  uint16_t port;         /* TCP port; 0 = any free port (see dd_socketcand_server_port) */
  const char *bus;       /* the bus name clients open (default "vbus0") */
  int max_clients;       /* clients at once (default 16, at most CLIENTS_MAX) */
} dd_socketcand_server_cfg_t;

typedef struct {
  uint64_t accepted;    /* connections accepted */
  uint64_t refused;     /* connections turned away (too many clients) */
  uint32_t clients;     /* connected now */
  uint64_t to_bus;      /* frames clients put on the bus */
  uint64_t to_clients;  /* frame elements written for clients (one per frame and client) */
  uint64_t errors;      /* client elements answered with < error ... > */
  uint64_t overruns;    /* frame elements dropped for a client that did not read in time */
  uint64_t unforwarded; /* frames from the bus with no socketcand form (remote frames) */
  uint64_t bus_refused; /* frames the port did not take (its queue full) */
} dd_socketcand_server_stats_t;

typedef struct dd_socketcand_server dd_socketcand_server_t;

/* Listen and serve. port: the CAN port, owned from here on (also on failure), opened with
 * loopback; events: the timeline (not owned). Returns 0, DD_EINVAL for a bad address, or the
 * -errno of socket/bind/listen (e.g. -EADDRINUSE). */
int dd_socketcand_server_new(dd_loop_t *loop, dd_events_t *events, dd_canport_t *port,
                             const dd_socketcand_server_cfg_t *cfg, dd_socketcand_server_t **out);
/* Closes every client, the listening socket and the port. */
void dd_socketcand_server_destroy(dd_socketcand_server_t **self_p);

/* The TCP port listened on (the one chosen when cfg->port was 0). */
uint16_t dd_socketcand_server_port(const dd_socketcand_server_t *self);
dd_socketcand_server_stats_t dd_socketcand_server_stats(const dd_socketcand_server_t *self);
/* The port, for callers that need to look at it (e.g. a vbus port's attach state). */
dd_canport_t *dd_socketcand_server_canport(dd_socketcand_server_t *self);

#endif
