/* dd_socketcan_ctl: SocketCAN controller settings through libsocketcan and rtnetlink. */
#include "dd_socketcan_ctl.h"

#include <errno.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <stdbool.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <libsocketcan.h>
#include <linux/can/netlink.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include "dd_err.h"
#include "dd_log.h"

static const char *const s_state_names[] = {
    "error-active", "error-warning", "error-passive", "bus-off", "stopped", "sleeping",
};

const char *dd_socketcan_state_name(dd_socketcan_state_t state) {
  if ((unsigned)state < sizeof s_state_names / sizeof s_state_names[0]) return s_state_names[state];
  return "unknown";
}

/* The interface must exist and be a CAN interface (link type ARPHRD_CAN). */
static int s_lookup(const char *ifname) {
  if (!ifname || !ifname[0] || strlen(ifname) >= IF_NAMESIZE) return DD_EINVAL;
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0); /* any socket reaches dev ioctls */
  if (fd < 0) return -errno;
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  memcpy(ifr.ifr_name, ifname, strlen(ifname) + 1);
  int rc = 0;
  if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0) {
    rc = errno == ENODEV ? DD_ENOENT : -errno;
    dd_warn("socketcan: no network interface \"%s\"", ifname);
  } else if (ifr.ifr_hwaddr.sa_family != ARPHRD_CAN) {
    rc = DD_EINVAL;
    dd_warn("socketcan: interface \"%s\" is not a CAN interface", ifname);
  }
  close(fd);
  return rc;
}

/* Maps the errno of a refused rtnetlink request and says what it means for a CAN interface. */
static int s_refused(const char *ifname, const char *what, int err) {
  switch (err) {
  case 0: dd_warn("socketcan: %s on \"%s\" failed", what, ifname); return DD_EIO;
  case ENODEV:
    dd_warn("socketcan: %s: no network interface \"%s\"", what, ifname);
    return DD_ENOENT;
  case EOPNOTSUPP:
    dd_warn("socketcan: %s: \"%s\" has no CAN controller settings (a virtual CAN interface "
            "such as vcan or vxcan has no bit timing, state or restart)",
            what, ifname);
    return DD_ENOTSUP;
  case EBUSY:
    dd_warn("socketcan: %s: \"%s\" is busy (bit timing changes only while the interface is "
            "down; restart only from bus-off with automatic restart off)",
            what, ifname);
    return DD_EBUSY;
  case EPERM:
  case EACCES:
    dd_warn("socketcan: %s on \"%s\" needs CAP_NET_ADMIN", what, ifname);
    return DD_EPERM;
  case EINVAL:
  case ERANGE: dd_warn("socketcan: %s: \"%s\" refuses the value", what, ifname); return DD_EINVAL;
  default: dd_warn("socketcan: %s on \"%s\": %s", what, ifname, strerror(err)); return -err;
  }
}

/* A reading call failed after the interface was found to be CAN: libsocketcan found no CAN
 * controller data in the link's answer, which is what virtual CAN interfaces give. */
static int s_no_data(const char *ifname, const char *what) {
  dd_warn("socketcan: %s: \"%s\" reports no CAN controller data (a virtual CAN interface such "
          "as vcan or vxcan has no bit timing, state or error counters)",
          what, ifname);
  return DD_ENOTSUP;
}

int dd_socketcan_ctl_get_state(const char *ifname, dd_socketcan_state_t *state) {
  int rc = s_lookup(ifname);
  if (rc < 0) return rc;
  int st = 0;
  if (can_get_state(ifname, &st) < 0) return s_no_data(ifname, "reading the state");
  *state = (dd_socketcan_state_t)st;
  return 0;
}

int dd_socketcan_ctl_set_bitrate(const char *ifname, uint32_t bitrate, uint32_t sample_point) {
  int rc = s_lookup(ifname);
  if (rc < 0) return rc;
  if (bitrate == 0 || sample_point >= 1000) return DD_EINVAL;
  errno = 0;
  int r = sample_point ? can_set_bitrate_samplepoint(ifname, bitrate, sample_point)
                       : can_set_bitrate(ifname, bitrate);
  return r < 0 ? s_refused(ifname, "setting the bit rate", errno) : 0;
}

int dd_socketcan_ctl_get_bitrate(const char *ifname, uint32_t *bitrate, uint32_t *sample_point) {
  int rc = s_lookup(ifname);
  if (rc < 0) return rc;
  struct can_bittiming bt;
  memset(&bt, 0, sizeof bt);
  if (can_get_bittiming(ifname, &bt) < 0) return s_no_data(ifname, "reading the bit rate");
  if (bitrate) *bitrate = bt.bitrate;
  if (sample_point) *sample_point = bt.sample_point;
  return 0;
}

int dd_socketcan_ctl_set_restart_ms(const char *ifname, uint32_t restart_ms) {
  int rc = s_lookup(ifname);
  if (rc < 0) return rc;
  errno = 0;
  if (can_set_restart_ms(ifname, restart_ms) < 0)
    return s_refused(ifname, "setting restart-ms", errno);
  return 0;
}

int dd_socketcan_ctl_get_restart_ms(const char *ifname, uint32_t *restart_ms) {
  int rc = s_lookup(ifname);
  if (rc < 0) return rc;
  __u32 ms = 0;
  if (can_get_restart_ms(ifname, &ms) < 0) return s_no_data(ifname, "reading restart-ms");
  *restart_ms = ms;
  return 0;
}

int dd_socketcan_ctl_restart(const char *ifname) {
  dd_socketcan_state_t state;
  int rc = dd_socketcan_ctl_get_state(ifname, &state);
  if (rc < 0) return rc;
  uint32_t restart_ms = 0;
  rc = dd_socketcan_ctl_get_restart_ms(ifname, &restart_ms);
  if (rc < 0) return rc;
  /* The kernel restarts only a bus-off controller without automatic restart
   * (drivers/net/can/dev/dev.c, can_restart_now); say which condition is missing. */
  if (state != DD_SOCKETCAN_BUS_OFF) {
    dd_warn("socketcan: restart of \"%s\" refused: it is %s, not bus-off", ifname,
            dd_socketcan_state_name(state));
    return DD_EBUSY;
  }
  if (restart_ms > 0) {
    dd_warn("socketcan: restart of \"%s\" refused: it restarts by itself after %u ms", ifname,
            restart_ms);
    return DD_EBUSY;
  }
  errno = 0;
  return can_do_restart(ifname) < 0 ? s_refused(ifname, "restarting", errno) : 0;
}

int dd_socketcan_ctl_start(const char *ifname) {
  int rc = s_lookup(ifname);
  if (rc < 0) return rc;
  errno = 0;
  return can_do_start(ifname) < 0 ? s_refused(ifname, "starting", errno) : 0;
}

int dd_socketcan_ctl_stop(const char *ifname) {
  int rc = s_lookup(ifname);
  if (rc < 0) return rc;
  errno = 0;
  return can_do_stop(ifname) < 0 ? s_refused(ifname, "stopping", errno) : 0;
}

int dd_socketcan_ctl_get_berr_counter(const char *ifname, uint16_t *txerr, uint16_t *rxerr) {
  int rc = s_lookup(ifname);
  if (rc < 0) return rc;
  struct can_berr_counter bc;
  memset(&bc, 0, sizeof bc);
  if (can_get_berr_counter(ifname, &bc) < 0) return s_no_data(ifname, "reading the error counters");
  if (txerr) *txerr = bc.txerr;
  if (rxerr) *rxerr = bc.rxerr;
  return 0;
}

/* ---- CAN FD data bit rate: one RTM_NEWLINK request of our own ------------------------- */

typedef struct {
  struct nlmsghdr n;  /* netlink header */
  struct ifinfomsg i; /* which link */
  char attrs[512];    /* attributes (nested linkinfo) */
} s_link_req_t;

/* Appends attribute type with len bytes of data; returns it (for nesting) or NULL when full. */
static struct rtattr *s_attr_put(struct nlmsghdr *n, size_t max, unsigned short type,
                                 const void *data, size_t len) {
  size_t alen = RTA_LENGTH(len);
  if (NLMSG_ALIGN(n->nlmsg_len) + RTA_ALIGN(alen) > max) return NULL;
  struct rtattr *rta = (struct rtattr *)((char *)n + NLMSG_ALIGN(n->nlmsg_len));
  rta->rta_type = type;
  rta->rta_len = (unsigned short)alen;
  if (len) memcpy(RTA_DATA(rta), data, len);
  n->nlmsg_len = (uint32_t)(NLMSG_ALIGN(n->nlmsg_len) + RTA_ALIGN(alen));
  return rta;
}

/* Closes a nest opened by s_attr_put(..., NULL, 0): its length now covers what follows it. */
static void s_attr_end(struct nlmsghdr *n, struct rtattr *nest) {
  nest->rta_len = (unsigned short)((char *)n + NLMSG_ALIGN(n->nlmsg_len) - (char *)nest);
}

/* Sends the request and waits for the kernel's acknowledgement; returns 0 or an errno value. */
static int s_netlink_call(struct nlmsghdr *n) {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) return errno;
  struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
  int err = 0;
  struct timeval limit = {.tv_sec = 2}; /* the kernel answers at once; never wait forever */
  (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
  n->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
  n->nlmsg_seq = 1;
  if (sendto(fd, n, n->nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0) {
    err = errno;
    goto out_close_sock;
  }
  for (;;) {
    union {
      char buf[8192];        /* the acknowledgement (with the request echoed back) */
      struct nlmsghdr align; /* header alignment */
    } reply;
    ssize_t len = recv(fd, reply.buf, sizeof reply.buf, 0);
    if (len < 0) {
      if (errno == EINTR) continue;
      err = errno == EAGAIN || errno == EWOULDBLOCK ? ETIMEDOUT : errno;
      goto out_close_sock;
    }
    size_t left = (size_t)len;
    for (struct nlmsghdr *h = &reply.align; NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
      if (h->nlmsg_seq != n->nlmsg_seq) continue;
      if (h->nlmsg_type == NLMSG_ERROR) {
        if (h->nlmsg_len < NLMSG_LENGTH(sizeof(struct nlmsgerr))) {
          err = EPROTO;
        } else {
          const struct nlmsgerr *e = NLMSG_DATA(h);
          err = -e->error; /* 0 is the acknowledgement */
        }
        goto out_close_sock;
      }
      if (h->nlmsg_type == NLMSG_DONE) goto out_close_sock;
    }
  }
out_close_sock:
  close(fd);
  return err;
}

int dd_socketcan_ctl_set_data_bitrate(const char *ifname, uint32_t dbitrate,
                                      uint32_t dsample_point) {
  int rc = s_lookup(ifname);
  if (rc < 0) return rc;
  if (dbitrate == 0 || dsample_point >= 1000) return DD_EINVAL;
  unsigned ifindex = if_nametoindex(ifname);
  if (ifindex == 0) return DD_ENOENT;

  /* The same request as `ip link set IF type can dbitrate R fd on`: IFLA_LINKINFO { KIND
   * "can", DATA { CAN_CTRLMODE fd on, CAN_DATA_BITTIMING { bitrate, sample point } } };
   * the kernel computes the segments from the rate (CONFIG_CAN_CALC_BITTIMING). */
  s_link_req_t req;
  memset(&req, 0, sizeof req);
  req.n.nlmsg_len = NLMSG_LENGTH(sizeof req.i);
  req.n.nlmsg_type = RTM_NEWLINK;
  req.i.ifi_family = AF_UNSPEC;
  req.i.ifi_index = (int)ifindex;

  struct can_ctrlmode cm = {.mask = CAN_CTRLMODE_FD, .flags = CAN_CTRLMODE_FD};
  struct can_bittiming dbt;
  memset(&dbt, 0, sizeof dbt);
  dbt.bitrate = dbitrate;
  dbt.sample_point = dsample_point;

  struct rtattr *linkinfo = s_attr_put(&req.n, sizeof req, IFLA_LINKINFO, NULL, 0);
  struct rtattr *kind = s_attr_put(&req.n, sizeof req, IFLA_INFO_KIND, "can", 3);
  struct rtattr *data = s_attr_put(&req.n, sizeof req, IFLA_INFO_DATA, NULL, 0);
  struct rtattr *mode = s_attr_put(&req.n, sizeof req, IFLA_CAN_CTRLMODE, &cm, sizeof cm);
  struct rtattr *timing = s_attr_put(&req.n, sizeof req, IFLA_CAN_DATA_BITTIMING, &dbt, sizeof dbt);
  if (!linkinfo || !kind || !data || !mode || !timing) return DD_ENOSPC; /* cannot happen */
  s_attr_end(&req.n, data);
  s_attr_end(&req.n, linkinfo);

  int err = s_netlink_call(&req.n);
  return err ? s_refused(ifname, "setting the data bit rate", err) : 0;
}
