/* dd_canport_mock: in-memory CAN port with an injected clock and Nth-frame fault injection. */
#include "dd_canport_mock.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "dd_err.h"

/* A frame and the time it shows. */
typedef struct {
  dd_can_frame_t frame; /* the frame as it will show */
  uint64_t due;         /* mock time at which it shows */
} s_item_t;

/* FIFO ring of items, grown on demand. */
typedef struct {
  s_item_t *v; /* storage */
  size_t head; /* index of the oldest item */
  size_t n;    /* items held */
  size_t cap;  /* capacity of v */
} s_queue_t;

typedef struct {
  dd_canport_mock_cfg_t cfg;                                  /* configuration */
  uint64_t now;                                               /* mock clock, us */
  s_queue_t tx_held;                                          /* sent, not yet on the bus */
  s_queue_t sent;                                             /* sent and shown, not taken */
  s_queue_t rx;                                               /* to be received (due or not) */
  uint32_t tx_calls;                                          /* send calls counted for faults */
  uint32_t rx_calls;                                          /* inject calls counted for faults */
  dd_canport_mock_fault_t faults[DD_CANPORT_MOCK_MAX_FAULTS]; /* armed faults */
  size_t nfaults;                                             /* armed count */
  int efd;                                                    /* eventfd, readable while rx due */
  bool signaled;                                              /* efd counter is non-zero */
} s_mock_t;

static int s_push(s_queue_t *q, const s_item_t *it) {
  if (q->n == q->cap) {
    size_t cap = q->cap ? q->cap * 2 : 16;
    s_item_t *v = malloc(cap * sizeof *v);
    if (!v) return DD_ENOMEM;
    for (size_t i = 0; i < q->n; i++)
      v[i] = q->v[(q->head + i) % q->cap];
    free(q->v);
    q->v = v;
    q->head = 0;
    q->cap = cap;
  }
  q->v[(q->head + q->n) % q->cap] = *it;
  q->n++;
  return 0;
}

static s_item_t *s_front(const s_queue_t *q) { return q->n ? &q->v[q->head] : NULL; }

static s_item_t *s_back(const s_queue_t *q) {
  return q->n ? &q->v[(q->head + q->n - 1) % q->cap] : NULL;
}

static void s_pop(s_queue_t *q) {
  assert(q->n > 0);
  q->head = (q->head + 1) % q->cap;
  q->n--;
}

/* FIFO: a frame never shows before the one queued ahead of it (a delayed frame holds up the
 * frames behind it, as one transmit queue or one receive path does). */
static uint64_t s_fifo_due(const s_queue_t *q, uint64_t due) {
  const s_item_t *last = s_back(q);
  return (last && last->due > due) ? last->due : due;
}

static s_mock_t *s_mock(const dd_canport_t *port) {
  assert(port && strcmp(dd_canport_kind(port), "mock") == 0);
  return dd_canport_impl((dd_canport_t *)port);
}

/* Make the eventfd readable exactly while a received frame is due. */
static void s_sync_fd(s_mock_t *m) {
  const s_item_t *head = s_front(&m->rx);
  bool ready = head && head->due <= m->now;
  if (ready && !m->signaled) {
    uint64_t one = 1;
    if (write(m->efd, &one, sizeof one) == (ssize_t)sizeof one) m->signaled = true;
  } else if (!ready && m->signaled) {
    uint64_t v;
    if (read(m->efd, &v, sizeof v) == (ssize_t)sizeof v) m->signaled = false;
  }
}

static int s_rx_push(s_mock_t *m, const dd_can_frame_t *f, uint64_t due) {
  if (m->cfg.rx_limit && m->rx.n >= m->cfg.rx_limit) return DD_ENOSPC;
  s_item_t it = {.frame = *f, .due = s_fifo_due(&m->rx, due)};
  it.frame.ts_us = it.due;
  return s_push(&m->rx, &it);
}

/* Move sent frames whose time has come onto the bus (and their echo into rx). */
static void s_advance(s_mock_t *m) {
  s_item_t *it;
  while ((it = s_front(&m->tx_held)) && it->due <= m->now) {
    s_item_t shown = *it;
    shown.frame.ts_us = shown.due;
    s_pop(&m->tx_held);
    if (s_push(&m->sent, &shown) != 0) continue; /* out of memory: the frame is lost */
    if (m->cfg.opts.loopback) {
      dd_can_frame_t echo = shown.frame;
      echo.flags |= DD_CAN_F_TX;
      (void)s_rx_push(m, &echo, shown.due);
    }
  }
  s_sync_fd(m);
}

/* Flip one bit: payload bit `bit` (wire order) or, without payload, an identifier bit. */
static void s_corrupt(dd_can_frame_t *f, uint32_t bit) {
  if (f->len > 0 && !(f->flags & DD_CAN_F_RTR)) {
    uint32_t b = bit % (8u * f->len);
    f->data[b / 8] ^= (uint8_t)(0x80u >> (b % 8));
  } else {
    uint32_t width = (f->flags & DD_CAN_F_EFF) ? 29 : 11;
    f->id ^= 1u << (bit % width);
  }
}

/* Apply the faults armed for frame number n of a stream. Returns 1 when the frame is dropped,
 * a negative code for FAIL, 0 otherwise (frame and delay possibly changed). */
static int s_faults(s_mock_t *m, dd_canport_mock_dir_t dir, uint32_t n, dd_can_frame_t *f,
                    uint64_t *delay) {
  int rc = 0;
  for (size_t i = 0; i < m->nfaults;) {
    dd_canport_mock_fault_t fl = m->faults[i];
    if (fl.dir != dir || fl.nth != n) {
      i++;
      continue;
    }
    m->faults[i] = m->faults[--m->nfaults]; /* fires once */
    switch (fl.kind) {
    case DD_CANPORT_MOCK_DROP:
      if (rc == 0) rc = 1;
      break;
    case DD_CANPORT_MOCK_CORRUPT: s_corrupt(f, fl.bit); break;
    case DD_CANPORT_MOCK_DELAY: *delay += fl.delay_us; break;
    case DD_CANPORT_MOCK_FAIL: rc = fl.error < 0 ? fl.error : DD_EIO; break;
    }
  }
  return rc;
}

static int s_send(void *impl, const dd_can_frame_t *frame) {
  s_mock_t *m = impl;
  s_advance(m);
  if (frame->flags & DD_CAN_F_ERR) return DD_ECAN_FRAME; /* error frames are reports only */
  if ((frame->flags & DD_CAN_F_FD) && !m->cfg.opts.fd) return DD_ECAN_NOFD;
  if (m->cfg.tx_limit && m->tx_held.n + m->sent.n >= m->cfg.tx_limit) return DD_ENOSPC;
  dd_can_frame_t f = *frame;
  f.flags &= (uint8_t)~DD_CAN_F_TX;
  uint64_t delay = 0;
  int rc = s_faults(m, DD_CANPORT_MOCK_TX, ++m->tx_calls, &f, &delay);
  if (rc < 0) return rc;
  if (rc == 1) return 0; /* dropped: the sender believes it went out */
  s_item_t it = {.frame = f, .due = s_fifo_due(&m->tx_held, m->now + delay)};
  rc = s_push(&m->tx_held, &it);
  if (rc != 0) return rc;
  s_advance(m);
  return 0;
}

static int s_recv(void *impl, dd_can_frame_t *frame) {
  s_mock_t *m = impl;
  s_advance(m);
  const s_item_t *head = s_front(&m->rx);
  if (!head || head->due > m->now) return DD_EAGAIN;
  *frame = head->frame;
  s_pop(&m->rx);
  s_sync_fd(m);
  return 0;
}

static int s_poll_fd(void *impl) { return ((s_mock_t *)impl)->efd; }

static void s_destroy(void *impl) {
  s_mock_t *m = impl;
  if (!m) return;
  close(m->efd);
  free(m->tx_held.v);
  free(m->sent.v);
  free(m->rx.v);
  free(m);
}

static const dd_canport_ops_t s_ops = {
    .kind = "mock",
    .send = s_send,
    .recv = s_recv,
    .poll_fd = s_poll_fd,
    .poll_zsock = NULL,
    .destroy = s_destroy,
};

int dd_canport_mock_new(const dd_canport_mock_cfg_t *cfg, dd_canport_t **out) {
  assert(out);
  *out = NULL;
  s_mock_t *m = calloc(1, sizeof *m);
  if (!m) return DD_ENOMEM;
  if (cfg) m->cfg = *cfg;
  m->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (m->efd < 0) {
    int err = -errno;
    free(m);
    return err;
  }
  dd_canport_t *port = dd_canport_new(&s_ops, m); /* frees m on failure */
  if (!port) return DD_ENOMEM;
  *out = port;
  return 0;
}

void dd_canport_mock_set_now(dd_canport_t *port, uint64_t now_us) {
  s_mock_t *m = s_mock(port);
  if (now_us > m->now) m->now = now_us;
  s_advance(m);
}

uint64_t dd_canport_mock_now(const dd_canport_t *port) { return s_mock(port)->now; }

uint64_t dd_canport_mock_next_due(const dd_canport_t *port) {
  s_mock_t *m = s_mock(port);
  uint64_t next = UINT64_MAX;
  const s_item_t *t = s_front(&m->tx_held), *r = s_front(&m->rx);
  if (t && t->due < next) next = t->due;
  if (r && r->due > m->now && r->due < next) next = r->due;
  return next;
}

int dd_canport_mock_inject(dd_canport_t *port, const dd_can_frame_t *f) {
  s_mock_t *m = s_mock(port);
  assert(f);
  s_advance(m);
  if (!dd_can_frame_valid(f)) return DD_ECAN_FRAME;
  if ((f->flags & DD_CAN_F_FD) && !m->cfg.opts.fd) return DD_ECAN_NOFD;
  dd_can_frame_t c = *f;
  uint64_t delay = 0;
  int rc = s_faults(m, DD_CANPORT_MOCK_RX, ++m->rx_calls, &c, &delay);
  if (rc == 1) return 0;
  if ((c.flags & DD_CAN_F_ERR) && !m->cfg.opts.err_frames) return 0;
  rc = s_rx_push(m, &c, m->now + delay);
  s_sync_fd(m);
  return rc;
}

int dd_canport_mock_inject_text(dd_canport_t *port, const char *text) {
  assert(text);
  dd_can_frame_t f;
  int rc = dd_can_parse(text, &f);
  if (rc != 0) return rc;
  return dd_canport_mock_inject(port, &f);
}

size_t dd_canport_mock_rx_pending(const dd_canport_t *port) { return s_mock(port)->rx.n; }

size_t dd_canport_mock_sent_count(const dd_canport_t *port) { return s_mock(port)->sent.n; }

int dd_canport_mock_take_sent(dd_canport_t *port, dd_can_frame_t *f) {
  s_mock_t *m = s_mock(port);
  assert(f);
  s_advance(m);
  const s_item_t *head = s_front(&m->sent);
  if (!head) return DD_EAGAIN;
  *f = head->frame;
  s_pop(&m->sent);
  return 0;
}

uint32_t dd_canport_mock_tx_calls(const dd_canport_t *port) { return s_mock(port)->tx_calls; }

uint32_t dd_canport_mock_rx_calls(const dd_canport_t *port) { return s_mock(port)->rx_calls; }

int dd_canport_mock_add_fault(dd_canport_t *port, const dd_canport_mock_fault_t *fault) {
  s_mock_t *m = s_mock(port);
  assert(fault);
  if (fault->nth == 0) return DD_EINVAL;
  if (fault->dir != DD_CANPORT_MOCK_TX && fault->dir != DD_CANPORT_MOCK_RX) return DD_EINVAL;
  switch (fault->kind) {
  case DD_CANPORT_MOCK_DROP:
  case DD_CANPORT_MOCK_CORRUPT:
  case DD_CANPORT_MOCK_DELAY: break;
  case DD_CANPORT_MOCK_FAIL:
    if (fault->dir != DD_CANPORT_MOCK_TX) return DD_EINVAL;
    break;
  default: return DD_EINVAL;
  }
  if (m->nfaults >= DD_CANPORT_MOCK_MAX_FAULTS) return DD_ENOSPC;
  m->faults[m->nfaults++] = *fault;
  return 0;
}

void dd_canport_mock_clear_faults(dd_canport_t *port) { s_mock(port)->nfaults = 0; }
