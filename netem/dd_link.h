/* dd_link: one impaired network link on a process's loop: the sockets on both sides and two
 * dd_netem directions between them ("up" = client -> server, "down" = server -> client), with
 * every decision published on the timeline.
 *
 * Kinds:
 *  - zmq (dd_netem STREAM): every duodiag party talks DEALER (client) -> ROUTER (server). The
 *    link binds a ROUTER at listen, where clients connect instead of the server's address, and
 *    for each client routing id it sees opens a DEALER with the same routing id connected to the
 *    server at connect, so the server sees the client's own id. Client messages go through "up"
 *    and leave on that client's DEALER; what the server sends on a DEALER goes through "down" to
 *    that client. Multipart messages stay whole (ZeroMQ delivers all parts or none). ZeroMQ over
 *    TCP never loses, duplicates or reorders a message, so neither does the link: loss becomes
 *    retransmission delay, order is kept per direction (clients share the direction's queue, as
 *    they would share one path). A client that reconnects keeps its routing id (ROUTER_HANDOVER)
 *    and its DEALER. Clients without their own id (ROUTER-made ids start with a zero byte, which
 *    a DEALER may not take) get an anonymous DEALER. At most DD_LINK_MAX_PEERS clients.
 *  - udp (dd_netem DATAGRAM): a UDP socket bound at listen (host:port) receives the client's
 *    datagrams; a second socket, connected to connect (host:port), sends them on and receives
 *    the server's answers, which go back to the client address seen last (one client per link).
 *    Loss, duplication, corruption (the bit the core chooses is flipped) and reordering are all
 *    really applied. Datagrams the kernel dropped before the link read them are counted
 *    separately (SO_RXQ_OVFL), so accidental loss stays apart from the loss the link made.
 *
 * Timing: each direction has one loop timer at dd_netem_next_release() (an absolute deadline,
 * sub-millisecond through the loop's timerfd); on wake-up everything due is sent; message bodies
 * wait in a table keyed by msg_id. Enqueue time is the loop's "now" of the pass that read the
 * message.
 *
 * Timeline events (fields: link, dir, and per kind): netem.start, netem.set, netem.ramp,
 * netem.ramp_done, netem.outage, netem.restore, netem.drop, netem.duplicate, netem.corrupt,
 * netem.reorder, netem.retransmit, netem.hold, netem.peer, netem.undeliverable, netem.rejected,
 * netem.counters (per direction, every second while traffic flows), netem.summary (per
 * direction, when the link is destroyed). docs/NETEM.md lists their fields. */
#ifndef DD_LINK_H
#define DD_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dd_events.h"
#include "dd_link_cmd.h"
#include "dd_loop.h"
#include "dd_netem.h"

#define DD_LINK_MAX_PEERS 256          /* zmq: clients per link */
#define DD_LINK_MAX_DATAGRAM 65535     /* udp: largest datagram carried */
#define DD_LINK_COUNTERS_US 1000000ull /* netem.counters period */

typedef enum {
  DD_LINK_ZMQ = 0, /* DEALER -> ROUTER over ZeroMQ (STREAM) */
  DD_LINK_UDP      /* plain UDP datagrams (DATAGRAM) */
} dd_link_kind_t;

typedef struct {
  dd_link_kind_t kind; /* zmq or udp */
  const char *name;    /* link name in events */
  const char *listen;  /* zmq: endpoint to bind (tcp://, ipc://); udp: host:port to bind */
  const char *connect; /* zmq: the server's endpoint; udp: the server's host:port */
  uint64_t seed;       /* seed of both directions (each gets its own stream) */
} dd_link_cfg_t;

/* Link-level counters of one direction, beside the core's. */
typedef struct {
  dd_netem_counters_t core; /* the impairment core's counters */
  uint64_t rx;              /* messages read from the sending side */
  uint64_t rx_bytes;        /* their payload bytes */
  uint64_t tx;              /* messages (copies) written to the receiving side */
  uint64_t tx_bytes;        /* their payload bytes */
  uint64_t tx_errors;       /* writes that failed (udp: sendto error; zmq: other than below) */
  uint64_t undeliverable;   /* zmq down: the client was gone; udp down: no client seen yet */
  uint64_t rx_kernel_drops; /* udp: datagrams the kernel dropped before the link read them */
  uint64_t rx_truncated;    /* udp: datagrams longer than DD_LINK_MAX_DATAGRAM, not carried */
} dd_link_counters_t;

typedef struct dd_link dd_link_t;

/* Bind, connect and register on loop. events may be NULL (no timeline). 0, DD_EINVAL (bad
 * configuration or address, with a logged reason), DD_ENOMEM, or -errno of a failed bind. */
int dd_link_new(void *zctx, dd_loop_t *loop, dd_events_t *events, const dd_link_cfg_t *cfg,
                dd_link_t **out);
/* Publishes netem.summary per direction, drops what is still queued, closes the sockets. */
void dd_link_destroy(dd_link_t **self_p);

/* The address actually bound ("tcp://127.0.0.1:40123", "127.0.0.1:40123"): what clients use. */
const char *dd_link_listen_addr(const dd_link_t *self);
dd_link_kind_t dd_link_kind(const dd_link_t *self);
const char *dd_link_kind_name(dd_link_kind_t kind); /* "zmq", "udp" */

/* Run a command (dd_link_cmd.h): action with JSON arguments (NULL = none). 0 with, for
 * counters and get, a malloc'd JSON text in *result_json (may be NULL when not wanted); or a
 * negative code with one line in err (cap bytes) and a netem.rejected event. */
int dd_link_command(dd_link_t *self, const char *action, const char *args_json, char **result_json,
                    char *err, size_t cap);

/* The same operations, typed. dirs: DD_LINK_UP, DD_LINK_DOWN or DD_LINK_BOTH. */
int dd_link_set(dd_link_t *self, unsigned dirs, const dd_netem_params_t *p);
/* Linear delay ramp from the delay in force now to to_us over over_us. */
int dd_link_ramp(dd_link_t *self, unsigned dirs, uint64_t to_us, uint64_t over_us);
/* Down from now for duration_us (DD_NETEM_NEVER: until dd_link_restore). */
int dd_link_outage(dd_link_t *self, unsigned dirs, uint64_t duration_us);
int dd_link_restore(dd_link_t *self, unsigned dirs);
/* Parameters in force in one direction (DD_LINK_UP or DD_LINK_DOWN). */
void dd_link_params(const dd_link_t *self, unsigned dir, dd_netem_params_t *out);
void dd_link_counters(const dd_link_t *self, unsigned dir, dd_link_counters_t *out);
/* Both directions' counters as a JSON object, malloc'd (what the counters command returns). */
char *dd_link_counters_json(const dd_link_t *self, unsigned dirs);

/* Put every thread of the calling process (ZeroMQ's I/O threads included, so call it after the
 * sockets exist) under SCHED_FIFO with priority prio (1..99) and lock its memory, so timer
 * wake-ups are not queued behind other work on a loaded machine (network.md 2.1). Opt-in: a
 * real-time process that spins starves the machine (the kernel keeps 5 % back by default).
 * Returns the number of threads changed, or -errno (typically -EPERM without the right). */
int dd_link_realtime(int prio);

#endif
