/* dd_socketcand_server: TCP clients, one shared CAN port, fan-out of frames in RAW mode. */
#define _GNU_SOURCE /* accept4 */
#include "dd_socketcand_server.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dd_canmux.h"
#include "dd_err.h"
#include "dd_log.h"
#include "dd_socketcand.h"

#define S_READ_CHUNK 4096     /* bytes read from a client per pass */
#define S_FLUSH_RETRY_US 2000 /* retry held output this often */
#define S_BAD_EVENTS 10       /* bad-input events per client; later ones are only counted */
#define S_RING_CAP 8192       /* frames sent and not yet echoed (port queue 4096 + window) */

typedef struct {
  int fd;                       /* TCP socket, non-blocking */
  uint64_t serial;              /* connection number, never reused */
  char peer[64];                /* "addr:port" of the client */
  dd_socketcand_session_t sess; /* protocol state */
  char *out;                    /* output held: out[out_off .. out_len) is not yet written */
  size_t out_off;               /* first byte not yet written */
  size_t out_len;               /* end of the bytes held */
  size_t out_cap;               /* allocated bytes of out */
  uint64_t frames_out;          /* frame elements written for this client */
  uint64_t overruns;            /* frame elements dropped for it */
  unsigned bad_events;          /* bad-input events emitted for it */
} s_client_t;

typedef struct {
  uint64_t serial;      /* the client that sent it */
  dd_can_frame_t frame; /* what was sent */
} s_sent_t;

struct dd_socketcand_server {
  dd_loop_t *loop;                                       /* not owned */
  dd_events_t *events;                                   /* not owned */
  dd_canmux_t *mux;                                      /* owns the port */
  char bind_addr[64];                                    /* listening address */
  char bus[DD_SOCKETCAND_BUS_MAX];                       /* bus name served */
  int max_clients;                                       /* clients at once */
  int lfd;                                               /* listening socket */
  uint16_t port;                                         /* port listened on */
  s_client_t *clients[DD_SOCKETCAND_SERVER_CLIENTS_MAX]; /* NULL = free slot */
  uint64_t next_serial;                                  /* serial of the next client */
  s_sent_t *ring;                                        /* sent, not yet echoed (FIFO) */
  size_t ring_head;                                      /* oldest entry */
  size_t ring_len;                                       /* entries */
  int flush_timer;                                       /* retry timer id, 0 = none */
  uint64_t wall_offset_us;                               /* wall time minus clock time */
  dd_socketcand_server_stats_t stats;                    /* counters */
};

static size_t s_held(const s_client_t *c) { return c->out_len - c->out_off; }

/* Write what is held; returns false when the connection failed (caller closes it). */
static bool s_flush_client(s_client_t *c) {
  while (c->out_off < c->out_len) {
    ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
    if (n > 0) {
      c->out_off += (size_t)n;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
    return false;
  }
  c->out_off = c->out_len = 0;
  return true;
}

/* Hold text for a client; false when it would pass the limit (nothing is held then). */
static bool s_queue(s_client_t *c, const char *text, size_t n) {
  if (s_held(c) + n > DD_SOCKETCAND_SERVER_OUT_MAX) return false;
  if (c->out_len + n > c->out_cap && c->out_off) { /* reuse the written part first */
    memmove(c->out, c->out + c->out_off, s_held(c));
    c->out_len -= c->out_off;
    c->out_off = 0;
  }
  if (c->out_len + n > c->out_cap) {
    size_t cap = c->out_cap ? c->out_cap : 1024;
    while (cap < c->out_len + n)
      cap *= 2;
    char *p = realloc(c->out, cap);
    if (!p) return false;
    c->out = p;
    c->out_cap = cap;
  }
  memcpy(c->out + c->out_len, text, n);
  c->out_len += n;
  return true;
}

static void s_client_close(dd_socketcand_server_t *self, int slot, const char *why) {
  s_client_t *c = self->clients[slot];
  if (!c) return;
  dd_loop_remove_fd(self->loop, c->fd);
  close(c->fd);
  dd_events_emit(
      self->events, "socketcand.client_closed", DD_I("client", (int64_t)c->serial),
      DD_S("peer", c->peer), DD_S("reason", why), DD_I("elements", (int64_t)c->sess.stats.elements),
      DD_I("errors", (int64_t)c->sess.stats.errors), DD_I("sent", (int64_t)c->sess.stats.sends),
      DD_I("received", (int64_t)c->frames_out), DD_I("overruns", (int64_t)c->overruns), DD_END);
  dd_debug("socketcand: client %llu (%s) closed: %s", (unsigned long long)c->serial, c->peer, why);
  free(c->out);
  free(c);
  self->clients[slot] = NULL;
  self->stats.clients--;
}

static int s_on_flush_timer(dd_loop_t *loop, int id, void *arg);

/* Flush every client; keep the retry timer armed while output is held. */
static void s_flush_all(dd_socketcand_server_t *self) {
  bool held = false;
  for (int i = 0; i < DD_SOCKETCAND_SERVER_CLIENTS_MAX; i++) {
    s_client_t *c = self->clients[i];
    if (!c || !s_held(c)) continue;
    if (!s_flush_client(c)) {
      s_client_close(self, i, "write failed");
      continue;
    }
    if (s_held(c)) held = true;
  }
  if (held && !self->flush_timer) {
    int id = dd_loop_timer_after(self->loop, S_FLUSH_RETRY_US, s_on_flush_timer, self);
    if (id > 0) self->flush_timer = id;
  }
}

static int s_on_flush_timer(dd_loop_t *loop, int id, void *arg) {
  dd_socketcand_server_t *self = arg;
  self->flush_timer = 0;
  s_flush_all(self);
  return 0;
}

/* Carry out one session action; returns false when the client was closed. */
static bool s_act(dd_socketcand_server_t *self, int slot, const dd_socketcand_action_t *act) {
  s_client_t *c = self->clients[slot];
  if (act->kind == DD_SOCKETCAND_ACT_SEND) {
    int rc = dd_canmux_send(self->mux, &act->frame);
    if (rc < 0) {
      self->stats.bus_refused++;
      char text[DD_SOCKETCAND_TEXT_MAX];
      int n = snprintf(text, sizeof text, "< error bus refused the frame: %s >", dd_strerror(rc));
      s_queue(c, text, (size_t)n);
      return true;
    }
    self->stats.to_bus++;
    if (self->ring_len == S_RING_CAP) { /* echoes lost: forget the oldest */
      self->ring_head = (self->ring_head + 1) % S_RING_CAP;
      self->ring_len--;
    }
    self->ring[(self->ring_head + self->ring_len++) % S_RING_CAP] =
        (s_sent_t){.serial = c->serial, .frame = act->frame};
    return true;
  }
  if (act->error) {
    self->stats.errors++;
    if (c->bad_events < S_BAD_EVENTS) {
      c->bad_events++;
      dd_events_emit(self->events, "socketcand.bad_input", DD_I("client", (int64_t)c->serial),
                     DD_S("reply", act->text), DD_END);
    }
  }
  if (act->opened)
    dd_events_emit(self->events, "socketcand.bus_opened", DD_I("client", (int64_t)c->serial),
                   DD_S("bus", self->bus), DD_END);
  s_queue(c, act->text, strlen(act->text));
  if (act->kind == DD_SOCKETCAND_ACT_CLOSE) {
    s_flush_client(c); /* a short last word; whatever does not fit is lost with the socket */
    s_client_close(self, slot, act->text);
    return false;
  }
  return true;
}

static int s_on_client(dd_loop_t *loop, void *zsock, int fd, void *arg) {
  dd_socketcand_server_t *self = arg;
  int slot = -1;
  for (int i = 0; i < DD_SOCKETCAND_SERVER_CLIENTS_MAX; i++)
    if (self->clients[i] && self->clients[i]->fd == fd) slot = i;
  if (slot < 0) return 0;
  s_client_t *c = self->clients[slot];
  char buf[S_READ_CHUNK];
  ssize_t n = recv(fd, buf, sizeof buf, 0);
  if (n == 0) {
    s_client_close(self, slot, "closed by the client");
    return 0;
  }
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return 0;
    s_client_close(self, slot, strerror(errno));
    return 0;
  }
  size_t pos = 0;
  dd_socketcand_action_t act;
  while (pos < (size_t)n) {
    pos += dd_socketcand_session_feed(&c->sess, buf + pos, (size_t)n - pos);
    while (dd_socketcand_session_next(&c->sess, &act))
      if (!s_act(self, slot, &act)) return 0;
  }
  s_flush_all(self);
  return 0;
}

static void s_peer_name(const struct sockaddr_storage *sa, char *buf, size_t cap) {
  char host[INET6_ADDRSTRLEN] = "?";
  unsigned port = 0;
  if (sa->ss_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
    inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
    port = ntohs(in->sin_port);
  } else if (sa->ss_family == AF_INET6) {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
    inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
    port = ntohs(in6->sin6_port);
  }
  snprintf(buf, cap, "%s:%u", host, port);
}

static int s_on_listen(dd_loop_t *loop, void *zsock, int fd, void *arg) {
  dd_socketcand_server_t *self = arg;
  for (int budget = 0; budget < 16; budget++) {
    struct sockaddr_storage sa;
    socklen_t salen = sizeof sa;
    int cfd = accept4(fd, (struct sockaddr *)&sa, &salen, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (cfd < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED)
        dd_warn("socketcand: accept failed: %s", strerror(errno));
      break;
    }
    char peer[64];
    s_peer_name(&sa, peer, sizeof peer);
    int slot = -1;
    if ((int)self->stats.clients < self->max_clients)
      for (int i = 0; i < DD_SOCKETCAND_SERVER_CLIENTS_MAX && slot < 0; i++)
        if (!self->clients[i]) slot = i;
    s_client_t *c = slot >= 0 ? calloc(1, sizeof *c) : NULL;
    if (!c || dd_loop_add_fd(self->loop, cfd, s_on_client, self) < 0) {
      static const char full[] = "< error too many clients >";
      (void)!send(cfd, full, sizeof full - 1, MSG_NOSIGNAL);
      close(cfd);
      free(c);
      self->stats.refused++;
      dd_events_emit(self->events, "socketcand.client_refused", DD_S("peer", peer),
                     DD_I("clients", self->stats.clients), DD_END);
      continue;
    }
    int one = 1; /* small elements, sent as they come (the daemon uses TCP_QUICKACK likewise) */
    setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->fd = cfd;
    c->serial = ++self->next_serial;
    snprintf(c->peer, sizeof c->peer, "%s", peer);
    dd_socketcand_session_init(&c->sess, self->bus);
    self->clients[slot] = c;
    self->stats.clients++;
    self->stats.accepted++;
    dd_events_emit(self->events, "socketcand.client_connected", DD_I("client", (int64_t)c->serial),
                   DD_S("peer", c->peer), DD_I("clients", self->stats.clients), DD_END);
    const char *hi = dd_socketcand_greeting();
    s_queue(c, hi, strlen(hi));
  }
  s_flush_all(self);
  return 0;
}

/* The client that sent an echoed frame: the oldest matching entry of the FIFO (entries before
 * it were refused by the bus and will never echo). 0 when it is not ours. */
static uint64_t s_take_sender(dd_socketcand_server_t *self, const dd_can_frame_t *f) {
  for (size_t k = 0; k < self->ring_len; k++) {
    const s_sent_t *e = &self->ring[(self->ring_head + k) % S_RING_CAP];
    if (!dd_can_frame_equal(&e->frame, f)) continue;
    uint64_t serial = e->serial;
    self->ring_head = (self->ring_head + k + 1) % S_RING_CAP;
    self->ring_len -= k + 1;
    return serial;
  }
  return 0;
}

static void s_on_frame(const dd_can_frame_t *f, uint64_t now_us, void *arg) {
  dd_socketcand_server_t *self = arg;
  uint64_t sender = (f->flags & DD_CAN_F_TX) ? s_take_sender(self, f) : 0;
  char text[DD_SOCKETCAND_TEXT_MAX];
  int n = dd_socketcand_format_frame(f, f->ts_us + self->wall_offset_us, text, sizeof text);
  if (n < 0) {
    self->stats.unforwarded++;
    return;
  }
  for (int i = 0; i < DD_SOCKETCAND_SERVER_CLIENTS_MAX; i++) {
    s_client_t *c = self->clients[i];
    if (!c || c->serial == sender || !dd_socketcand_session_raw(&c->sess)) continue;
    if (s_queue(c, text, (size_t)n)) {
      c->frames_out++;
      self->stats.to_clients++;
    } else {
      if (!c->overruns)
        dd_events_emit(self->events, "socketcand.overrun", DD_I("client", (int64_t)c->serial),
                       DD_I("held_bytes", (int64_t)s_held(c)), DD_END);
      c->overruns++;
      self->stats.overruns++;
    }
  }
  s_flush_all(self);
}

static int s_listen(dd_socketcand_server_t *self, uint16_t port) {
  struct addrinfo hints = {.ai_family = AF_UNSPEC,
                           .ai_socktype = SOCK_STREAM,
                           .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE};
  struct addrinfo *ai = NULL;
  char service[8];
  snprintf(service, sizeof service, "%u", port);
  if (getaddrinfo(self->bind_addr, service, &hints, &ai) != 0 || !ai) {
    dd_error("socketcand: \"%s\" is not a numeric IPv4 or IPv6 address", self->bind_addr);
    return DD_EINVAL;
  }
  int rc = 0;
  int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    rc = -errno;
    goto out_free_ai;
  }
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 16) < 0) {
    rc = -errno;
    dd_error("socketcand: cannot listen on %s port %u: %s", self->bind_addr, port, strerror(errno));
    goto out_close;
  }
  struct sockaddr_storage sa;
  socklen_t salen = sizeof sa;
  if (getsockname(fd, (struct sockaddr *)&sa, &salen) < 0) {
    rc = -errno;
    goto out_close;
  }
  self->port = ntohs(sa.ss_family == AF_INET ? ((struct sockaddr_in *)&sa)->sin_port
                                             : ((struct sockaddr_in6 *)&sa)->sin6_port);
  self->lfd = fd;
  freeaddrinfo(ai);
  return 0;
out_close:
  close(fd);
out_free_ai:
  freeaddrinfo(ai);
  return rc;
}

int dd_socketcand_server_new(dd_loop_t *loop, dd_events_t *events, dd_canport_t *port,
                             const dd_socketcand_server_cfg_t *cfg, dd_socketcand_server_t **out) {
  assert(loop && events && port && cfg && out);
  *out = NULL;
  int rc;
  dd_socketcand_server_t *self = calloc(1, sizeof *self);
  if (!self) {
    dd_canport_destroy(&port);
    return DD_ENOMEM;
  }
  self->loop = loop;
  self->events = events;
  self->lfd = -1;
  const char *bus = cfg->bus ? cfg->bus : "vbus0";
  snprintf(self->bind_addr, sizeof self->bind_addr, "%s",
           cfg->bind_addr ? cfg->bind_addr : "127.0.0.1");
  if (!*bus || strlen(bus) >= sizeof self->bus) {
    dd_error("socketcand: bus name \"%s\" must have 1 to %d characters", bus,
             DD_SOCKETCAND_BUS_MAX - 1);
    rc = DD_EINVAL;
    goto out_free_port;
  }
  snprintf(self->bus, sizeof self->bus, "%s", bus);
  self->max_clients = cfg->max_clients > 0 ? cfg->max_clients : 16;
  if (self->max_clients > DD_SOCKETCAND_SERVER_CLIENTS_MAX)
    self->max_clients = DD_SOCKETCAND_SERVER_CLIENTS_MAX;
  dd_clock_t *clk = dd_loop_clock(loop);
  self->wall_offset_us = dd_clock_wall_us(clk) - dd_clock_now_us(clk);
  self->ring = calloc(S_RING_CAP, sizeof *self->ring);
  if (!self->ring) {
    rc = DD_ENOMEM;
    goto out_free_port;
  }
  rc = s_listen(self, cfg->port);
  if (rc < 0) goto out_free_port;
  rc = dd_canmux_new(loop, port, &self->mux); /* owns the port from here, even on failure */
  port = NULL;
  if (rc < 0) goto out_close;
  rc = dd_canmux_listen(self->mux, s_on_frame, self);
  if (rc < 0) goto out_mux;
  rc = dd_loop_add_fd(loop, self->lfd, s_on_listen, self);
  if (rc < 0) goto out_mux;
  dd_events_emit(events, "socketcand.listening", DD_S("address", self->bind_addr),
                 DD_I("port", self->port), DD_S("bus", self->bus),
                 DD_I("max_clients", self->max_clients), DD_END);
  *out = self;
  return 0;
out_mux:
  dd_canmux_destroy(&self->mux);
out_close:
  close(self->lfd);
out_free_port:
  dd_canport_destroy(&port);
  free(self->ring);
  free(self);
  return rc;
}

void dd_socketcand_server_destroy(dd_socketcand_server_t **self_p) {
  assert(self_p);
  dd_socketcand_server_t *self = *self_p;
  if (!self) return;
  for (int i = 0; i < DD_SOCKETCAND_SERVER_CLIENTS_MAX; i++)
    if (self->clients[i]) {
      s_flush_client(self->clients[i]);
      s_client_close(self, i, "server stopping");
    }
  if (self->flush_timer) dd_loop_timer_cancel(self->loop, self->flush_timer);
  dd_loop_remove_fd(self->loop, self->lfd);
  close(self->lfd);
  dd_canmux_destroy(&self->mux);
  const dd_socketcand_server_stats_t *st = &self->stats;
  dd_events_emit(self->events, "socketcand.stopped", DD_I("accepted", (int64_t)st->accepted),
                 DD_I("refused", (int64_t)st->refused), DD_I("to_bus", (int64_t)st->to_bus),
                 DD_I("to_clients", (int64_t)st->to_clients), DD_I("errors", (int64_t)st->errors),
                 DD_I("overruns", (int64_t)st->overruns),
                 DD_I("unforwarded", (int64_t)st->unforwarded), DD_END);
  free(self->ring);
  free(self);
  *self_p = NULL;
}

uint16_t dd_socketcand_server_port(const dd_socketcand_server_t *self) { return self->port; }

dd_socketcand_server_stats_t dd_socketcand_server_stats(const dd_socketcand_server_t *self) {
  return self->stats;
}

dd_canport_t *dd_socketcand_server_canport(dd_socketcand_server_t *self) {
  return dd_canmux_port(self->mux);
}
