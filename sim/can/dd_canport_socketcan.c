/* dd_canport_socketcan: the CAN port backend for a Linux SocketCAN interface (CAN_RAW socket).
 *
 * What the port does, in terms of the raw protocol (Linux Documentation/networking/can.rst):
 * - one non-blocking CAN_RAW socket bound to the interface; poll_fd returns it;
 * - opts->fd enables CAN_RAW_FD_FRAMES (the interface must have MTU 72); FD frames carry
 *   BRS/ESI as DD_CAN_F_BRS/DD_CAN_F_ESI;
 * - opts->loopback sets CAN_RAW_RECV_OWN_MSGS; the echo of our own frame is flagged
 *   DD_CAN_F_TX (see s_recv). Local loopback to other sockets always stays on;
 * - opts->err_frames sets CAN_RAW_ERR_FILTER to every class; error frames arrive as
 *   DD_CAN_F_ERR with the CAN_ERR_* class bits in id and the details in data
 *   (linux/can/error.h); they cannot be sent;
 * - ts_us of a received frame is the kernel's receive time (SO_TIMESTAMP, wall clock) moved
 *   onto CLOCK_MONOTONIC, the clock of dd_clock's real mode (see s_wall_to_mono_us). This is
 *   a conversion of a kernel stamp at the I/O edge, not a reading of "now" for a protocol;
 * - open errors: DD_ECAN_NOKERNEL when the kernel has no AF_CAN or no CAN_RAW (use the
 *   virtual bus), DD_ENOENT for an unknown interface, DD_EINVAL for a non-CAN one,
 *   DD_ECAN_NOFD for FD on a classic interface; each is logged with the interface name. */
#include <errno.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <linux/can.h>
#include <linux/can/error.h>
#include <linux/can/raw.h>

#include "dd_canport.h"
#include "dd_err.h"
#include "dd_log.h"

/* Receive buffer asked for: a 4095-byte ISO-TP message sent with STmin 0 is 585 frames that a
 * virtual interface delivers in one burst; the kernel caps the request at net.core.rmem_max. */
#define S_RCVBUF_BYTES (1024 * 1024)

typedef struct {
  int fd;                   /* CAN_RAW socket, non-blocking */
  int ifindex;              /* interface the socket is bound to */
  bool fd_mode;             /* CAN_RAW_FD_FRAMES enabled: FD frames may be sent and received */
  char ifname[IF_NAMESIZE]; /* interface name, for messages */
} s_socketcan_t;

/* Kernel receive time (SO_TIMESTAMP: CLOCK_REALTIME) as CLOCK_MONOTONIC microseconds, the time
 * base of dd_clock's real clock. Both clocks are read back to back right after the frame was
 * taken, and their difference is applied to the kernel's stamp; the result is exact unless the
 * wall clock is stepped between reception and this call, and it is never later than now. */
static uint64_t s_wall_to_mono_us(const struct timeval *tv) {
  struct timespec real, mono;
  clock_gettime(CLOCK_REALTIME, &real);
  clock_gettime(CLOCK_MONOTONIC, &mono);
  int64_t real_us = (int64_t)real.tv_sec * 1000000 + real.tv_nsec / 1000;
  int64_t mono_us = (int64_t)mono.tv_sec * 1000000 + mono.tv_nsec / 1000;
  int64_t stamp_us = (int64_t)tv->tv_sec * 1000000 + tv->tv_usec;
  int64_t ts = stamp_us - (real_us - mono_us);
  if (ts > mono_us) ts = mono_us; /* wall clock stepped back since reception */
  if (ts < 0) ts = 0;
  return (uint64_t)ts;
}

static int s_send(void *impl, const dd_can_frame_t *f) {
  s_socketcan_t *self = impl;
  if (f->flags & DD_CAN_F_ERR) return DD_EINVAL; /* error frames are produced by controllers */
  if ((f->flags & DD_CAN_F_FD) && !self->fd_mode) return DD_ECAN_NOFD;

  struct canfd_frame cf; /* struct can_frame is a prefix of it */
  memset(&cf, 0, sizeof cf);
  cf.can_id = f->id;
  if (f->flags & DD_CAN_F_EFF) cf.can_id |= CAN_EFF_FLAG;
  cf.len = f->len;
  size_t mtu = CAN_MTU;
  if (f->flags & DD_CAN_F_FD) {
    mtu = CANFD_MTU; /* the size written is what makes it an FD frame (CANFD_FDF is set by
                      * kernels that know it; an older kernel would pass it on to readers) */
    if (f->flags & DD_CAN_F_BRS) cf.flags |= CANFD_BRS;
    if (f->flags & DD_CAN_F_ESI) cf.flags |= CANFD_ESI;
    memcpy(cf.data, f->data, f->len);
  } else if (f->flags & DD_CAN_F_RTR) {
    cf.can_id |= CAN_RTR_FLAG; /* a remote frame carries a DLC but no data */
  } else {
    memcpy(cf.data, f->data, f->len);
  }

  ssize_t n = write(self->fd, &cf, mtu);
  if (n < 0) {
    /* ENOBUFS: the interface's transmit queue is full. Poll does not report when it drains,
     * so the caller retries on its next pass, exactly as for EAGAIN. */
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) return DD_EAGAIN;
    if (errno == ENETDOWN) return DD_ENETDOWN;
    if (errno == ENXIO || errno == ENODEV) return DD_ENOENT;
    if (errno == EINVAL && (f->flags & DD_CAN_F_FD)) return DD_ECAN_NOFD; /* MTU shrank */
    return -errno;
  }
  return (size_t)n == mtu ? 0 : DD_EIO;
}

static int s_recv(void *impl, dd_can_frame_t *f) {
  s_socketcan_t *self = impl;
  struct canfd_frame cf;
  union {
    char buf[CMSG_SPACE(sizeof(struct timeval))]; /* room for SCM_TIMESTAMP */
    struct cmsghdr align;                         /* cmsg alignment */
  } ctrl;
  struct iovec iov = {.iov_base = &cf, .iov_len = sizeof cf};
  struct msghdr msg = {
      .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctrl.buf, .msg_controllen = sizeof ctrl.buf};

  ssize_t n = recvmsg(self->fd, &msg, 0);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return DD_EAGAIN;
    if (errno == ENETDOWN) return DD_ENETDOWN; /* reported once when the interface goes down */
    if (errno == ENODEV || errno == ENXIO) return DD_ENOENT;
    return -errno;
  }
  if (n != CAN_MTU && n != CANFD_MTU) return DD_EPROTO; /* not a frame this port understands */

  memset(f, 0, sizeof *f);
  if (cf.can_id & CAN_ERR_FLAG) {
    /* Error frame (linux/can/error.h): the class bits travel in the id, details in data. */
    f->flags = DD_CAN_F_ERR;
    f->id = cf.can_id & CAN_ERR_MASK;
  } else if (cf.can_id & CAN_EFF_FLAG) {
    f->flags = DD_CAN_F_EFF;
    f->id = cf.can_id & CAN_EFF_MASK;
  } else {
    f->id = cf.can_id & CAN_SFF_MASK;
  }
  if (n == CANFD_MTU) {
    f->flags |= DD_CAN_F_FD;
    if (cf.flags & CANFD_BRS) f->flags |= DD_CAN_F_BRS;
    if (cf.flags & CANFD_ESI) f->flags |= DD_CAN_F_ESI;
    /* A controller can only send the lengths a DLC encodes; a virtual interface passes on
     * whatever a program wrote (cansend "123##1" with 9 bytes). Round up like the bus would,
     * the added bytes being zero (ISO 11898-1:2015 10.4.2.4 table 5). */
    uint8_t got = cf.len > CANFD_MAX_DLEN ? CANFD_MAX_DLEN : cf.len;
    f->len = dd_can_fd_len(got);
    memcpy(f->data, cf.data, got);
  } else {
    if ((cf.can_id & CAN_RTR_FLAG) && !(f->flags & DD_CAN_F_ERR)) f->flags |= DD_CAN_F_RTR;
    f->len = cf.len > CAN_MAX_DLEN ? CAN_MAX_DLEN : cf.len;
    if (!(f->flags & DD_CAN_F_RTR)) memcpy(f->data, cf.data, f->len);
  }

  /* net/can/raw.c (raw_rcv) sets MSG_DONTROUTE on every frame sent from this host, by any
   * socket (candump's "TX" marker), and MSG_CONFIRM only on the copy of a frame this very
   * socket sent. Only the latter is our own transmission: a frame another local program
   * (cansend, a simulated ECU) sent is a received frame to us. */
  if (msg.msg_flags & MSG_CONFIRM) f->flags |= DD_CAN_F_TX;

  for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMP &&
        c->cmsg_len >= CMSG_LEN(sizeof(struct timeval))) {
      struct timeval tv;
      memcpy(&tv, CMSG_DATA(c), sizeof tv);
      f->ts_us = s_wall_to_mono_us(&tv);
    }
  }
  return 0;
}

static int s_poll_fd(void *impl) { return ((s_socketcan_t *)impl)->fd; }

static void s_destroy(void *impl) {
  s_socketcan_t *self = impl;
  if (!self) return;
  if (self->fd >= 0) close(self->fd);
  free(self);
}

static const dd_canport_ops_t s_ops = {
    .kind = "socketcan",
    .send = s_send,
    .recv = s_recv,
    .poll_fd = s_poll_fd,
    .poll_zsock = NULL,
    .destroy = s_destroy,
};

static int s_setopt(int fd, int level, int name, int value) {
  return setsockopt(fd, level, name, &value, sizeof value) < 0 ? -errno : 0;
}

/* Looks the interface up through the CAN socket: index, link type, MTU and flags. */
static int s_check_interface(s_socketcan_t *self, const dd_canport_opts_t *opts) {
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  memcpy(ifr.ifr_name, self->ifname, sizeof ifr.ifr_name);
  if (ioctl(self->fd, SIOCGIFINDEX, &ifr) < 0) {
    if (errno == ENODEV) {
      dd_warn("socketcan: no network interface \"%s\" (see `ip -details link show`)", self->ifname);
      return DD_ENOENT;
    }
    dd_warn("socketcan: cannot look up interface \"%s\": %s", self->ifname, strerror(errno));
    return -errno;
  }
  self->ifindex = ifr.ifr_ifindex;

  if (ioctl(self->fd, SIOCGIFHWADDR, &ifr) == 0 && ifr.ifr_hwaddr.sa_family != ARPHRD_CAN) {
    dd_warn("socketcan: interface \"%s\" is not a CAN interface", self->ifname);
    return DD_EINVAL;
  }
  if (opts->fd) {
    if (ioctl(self->fd, SIOCGIFMTU, &ifr) < 0) return -errno;
    if (ifr.ifr_mtu < (int)CANFD_MTU) {
      dd_warn("socketcan: interface \"%s\" has MTU %d and carries only classic CAN; for CAN FD "
              "it needs MTU %d (ip link set %s mtu %d, or a controller with fd on)",
              self->ifname, ifr.ifr_mtu, (int)CANFD_MTU, self->ifname, (int)CANFD_MTU);
      return DD_ECAN_NOFD;
    }
  }
  if (ioctl(self->fd, SIOCGIFFLAGS, &ifr) == 0 && !(ifr.ifr_flags & IFF_UP))
    dd_warn("socketcan: interface \"%s\" is down; sending fails until it is up", self->ifname);
  return 0;
}

int dd_canport_socketcan_open(const char *ifname, const dd_canport_opts_t *opts,
                              dd_canport_t **out) {
  if (!ifname || !opts || !out) return DD_EINVAL;
  *out = NULL;
  size_t namelen = strlen(ifname);
  if (namelen == 0 || namelen >= IF_NAMESIZE) {
    dd_warn("socketcan: \"%s\" is not a valid interface name", ifname);
    return DD_EINVAL;
  }

  s_socketcan_t *self = calloc(1, sizeof *self);
  if (!self) return DD_ENOMEM;
  memcpy(self->ifname, ifname, namelen + 1);
  self->fd_mode = opts->fd;

  int rc;
  self->fd = socket(PF_CAN, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, CAN_RAW);
  if (self->fd < 0) {
    if (errno == EAFNOSUPPORT) {
      dd_warn("socketcan: this kernel has no SocketCAN (AF_CAN); use the virtual bus");
      rc = DD_ECAN_NOKERNEL;
    } else if (errno == EPROTONOSUPPORT) {
      dd_warn("socketcan: this kernel has AF_CAN but no CAN_RAW (modprobe can-raw); "
              "use the virtual bus");
      rc = DD_ECAN_NOKERNEL;
    } else {
      rc = -errno;
      dd_warn("socketcan: cannot open a CAN_RAW socket: %s", strerror(errno));
    }
    goto out_free_self;
  }

  rc = s_check_interface(self, opts);
  if (rc < 0) goto out_close_sock;

  /* linux/can/raw.h socket options (Documentation/networking/can.rst 4.1). */
  if (opts->fd) {
    rc = s_setopt(self->fd, SOL_CAN_RAW, CAN_RAW_FD_FRAMES, 1);
    if (rc < 0) {
      dd_warn("socketcan: this kernel does not support CAN FD on raw sockets: %s", strerror(-rc));
      rc = rc == -ENOPROTOOPT ? DD_ENOTSUP : rc;
      goto out_close_sock;
    }
  }
  /* Local loopback stays on so other programs on this host (candump) see what we send;
   * whether this socket gets its own frames back is the caller's choice. */
  rc = s_setopt(self->fd, SOL_CAN_RAW, CAN_RAW_RECV_OWN_MSGS, opts->loopback ? 1 : 0);
  if (rc < 0) goto out_close_sock;
  if (opts->err_frames) {
    rc = s_setopt(self->fd, SOL_CAN_RAW, CAN_RAW_ERR_FILTER, (int)CAN_ERR_MASK);
    if (rc < 0) goto out_close_sock;
  }
  rc = s_setopt(self->fd, SOL_SOCKET, SO_TIMESTAMP, 1);
  if (rc < 0) goto out_close_sock;
  (void)s_setopt(self->fd, SOL_SOCKET, SO_RCVBUF, S_RCVBUF_BYTES); /* best effort */

  struct sockaddr_can addr;
  memset(&addr, 0, sizeof addr);
  addr.can_family = AF_CAN;
  addr.can_ifindex = self->ifindex;
  if (bind(self->fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
    rc = errno == ENODEV ? DD_ENOENT : -errno;
    dd_warn("socketcan: cannot bind to \"%s\": %s", self->ifname, strerror(errno));
    goto out_close_sock;
  }

  dd_canport_t *port = dd_canport_new(&s_ops, self); /* owns self from here, even on failure */
  if (!port) return DD_ENOMEM;
  *out = port;
  return 0;

out_close_sock:
  close(self->fd);
out_free_self:
  free(self);
  return rc;
}
