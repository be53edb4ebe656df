/* dd_loop: readers (ZeroMQ sockets, fds) polled with zmq_poll, timers in a binary heap ordered
 * by (deadline, creation sequence), and a timerfd armed at the earliest deadline so the wait ends
 * with microsecond resolution. */
#include "dd_loop.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/timerfd.h>
#include <unistd.h>
#include <zmq.h>

#include "dd_err.h"

/* Timer slack asked of the kernel for this thread's wake-ups (ns). The default is 50 us. */
#define S_TIMER_SLACK_NS 1000

typedef struct {
  void *zsock;          /* ZeroMQ socket, or NULL */
  int fd;               /* plain fd, or -1 */
  dd_loop_reader_fn fn; /* handler */
  void *arg;            /* handler argument */
  bool removed;         /* removed during a pass; compacted after it */
} s_reader_t;

typedef struct {
  uint64_t deadline;   /* absolute, clock microseconds */
  uint64_t seq;        /* creation order, breaks ties */
  uint64_t interval;   /* periodic timers: the grid step; 0 for one-shot */
  int id;              /* handle given to the user */
  dd_loop_timer_fn fn; /* handler */
  void *arg;           /* handler argument */
} s_timer_t;

struct dd_loop {
  dd_clock_t *clock;       /* time source, not owned */
  uint64_t now;            /* "now" of the current pass */
  s_reader_t *readers;     /* registered readers */
  size_t n_readers;        /* used entries */
  size_t cap_readers;      /* allocated entries */
  bool readers_dirty;      /* some reader was removed during the pass */
  s_timer_t *heap;         /* min-heap of pending timers */
  size_t n_timers;         /* used entries */
  size_t cap_timers;       /* allocated entries */
  uint64_t next_seq;       /* sequence for the next timer */
  int next_id;             /* id for the next timer */
  int tfd;                 /* timerfd armed at the earliest deadline (real clock) */
  uint64_t armed;          /* deadline the timerfd is armed for, DD_NEVER if disarmed */
  zmq_pollitem_t *items;   /* poll set scratch */
  size_t cap_items;        /* allocated poll items */
  bool stop;               /* dd_loop_stop() was called */
  int stop_code;           /* code dd_loop_run returns */
  dd_loop_stats_t stats;   /* counters */
};

dd_loop_t *dd_loop_new(dd_clock_t *clock) {
  assert(clock);
  dd_loop_t *self = calloc(1, sizeof *self);
  if (!self) return NULL;
  self->clock = clock;
  self->now = dd_clock_now_us(clock);
  self->next_id = 1;
  self->armed = DD_NEVER;
  self->tfd = -1;
  if (!dd_clock_is_manual(clock)) {
    self->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (self->tfd < 0) {
      free(self);
      return NULL;
    }
    prctl(PR_SET_TIMERSLACK, S_TIMER_SLACK_NS, 0, 0, 0);
  }
  return self;
}

void dd_loop_destroy(dd_loop_t **self_p) {
  assert(self_p);
  dd_loop_t *self = *self_p;
  if (!self) return;
  if (self->tfd >= 0) close(self->tfd);
  free(self->readers);
  free(self->heap);
  free(self->items);
  free(self);
  *self_p = NULL;
}

/* ---- readers ---- */

static int s_add_reader(dd_loop_t *self, void *zsock, int fd, dd_loop_reader_fn fn, void *arg) {
  assert(self && fn && (zsock || fd >= 0));
  if (self->n_readers == self->cap_readers) {
    size_t cap = self->cap_readers ? self->cap_readers * 2 : 8;
    s_reader_t *r = realloc(self->readers, cap * sizeof *r);
    if (!r) return DD_ENOMEM;
    self->readers = r;
    self->cap_readers = cap;
  }
  self->readers[self->n_readers++] = (s_reader_t){zsock, zsock ? -1 : fd, fn, arg, false};
  return 0;
}

int dd_loop_add_zsock(dd_loop_t *self, void *zsock, dd_loop_reader_fn fn, void *arg) {
  return s_add_reader(self, zsock, -1, fn, arg);
}

int dd_loop_add_fd(dd_loop_t *self, int fd, dd_loop_reader_fn fn, void *arg) {
  return s_add_reader(self, NULL, fd, fn, arg);
}

static void s_remove_reader(dd_loop_t *self, void *zsock, int fd) {
  for (size_t i = 0; i < self->n_readers; i++) {
    s_reader_t *r = &self->readers[i];
    if (!r->removed && ((zsock && r->zsock == zsock) || (!zsock && !r->zsock && r->fd == fd))) {
      r->removed = true;
      self->readers_dirty = true;
    }
  }
}

void dd_loop_remove_zsock(dd_loop_t *self, void *zsock) {
  assert(self && zsock);
  s_remove_reader(self, zsock, -1);
}

void dd_loop_remove_fd(dd_loop_t *self, int fd) {
  assert(self);
  s_remove_reader(self, NULL, fd);
}

static void s_compact_readers(dd_loop_t *self) {
  if (!self->readers_dirty) return;
  size_t j = 0;
  for (size_t i = 0; i < self->n_readers; i++)
    if (!self->readers[i].removed) self->readers[j++] = self->readers[i];
  self->n_readers = j;
  self->readers_dirty = false;
}

/* ---- timers: binary min-heap on (deadline, seq) ---- */

static bool s_before(const s_timer_t *a, const s_timer_t *b) {
  return a->deadline < b->deadline || (a->deadline == b->deadline && a->seq < b->seq);
}

static void s_swap(s_timer_t *a, s_timer_t *b) {
  s_timer_t t = *a;
  *a = *b;
  *b = t;
}

static void s_sift_up(s_timer_t *h, size_t i) {
  while (i > 0) {
    size_t p = (i - 1) / 2;
    if (!s_before(&h[i], &h[p])) break;
    s_swap(&h[i], &h[p]);
    i = p;
  }
}

static void s_sift_down(s_timer_t *h, size_t n, size_t i) {
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    if (l < n && s_before(&h[l], &h[m])) m = l;
    if (r < n && s_before(&h[r], &h[m])) m = r;
    if (m == i) return;
    s_swap(&h[i], &h[m]);
    i = m;
  }
}

static void s_heap_remove_at(dd_loop_t *self, size_t i) {
  self->n_timers--;
  if (i == self->n_timers) return;
  self->heap[i] = self->heap[self->n_timers];
  s_sift_down(self->heap, self->n_timers, i);
  s_sift_up(self->heap, i);
}

static int s_heap_push(dd_loop_t *self, s_timer_t t) {
  if (self->n_timers == self->cap_timers) {
    size_t cap = self->cap_timers ? self->cap_timers * 2 : 16;
    s_timer_t *h = realloc(self->heap, cap * sizeof *h);
    if (!h) return DD_ENOMEM;
    self->heap = h;
    self->cap_timers = cap;
  }
  self->heap[self->n_timers] = t;
  s_sift_up(self->heap, self->n_timers);
  self->n_timers++;
  return 0;
}

static int s_add_timer(dd_loop_t *self, uint64_t deadline, uint64_t interval, dd_loop_timer_fn fn,
                       void *arg) {
  assert(self && fn);
  if (self->next_id == INT32_MAX) self->next_id = 1;
  s_timer_t t = {deadline, self->next_seq++, interval, self->next_id++, fn, arg};
  int rc = s_heap_push(self, t);
  return rc < 0 ? rc : t.id;
}

int dd_loop_timer_at(dd_loop_t *self, uint64_t deadline_us, dd_loop_timer_fn fn, void *arg) {
  return s_add_timer(self, deadline_us, 0, fn, arg);
}

int dd_loop_timer_after(dd_loop_t *self, uint64_t delay_us, dd_loop_timer_fn fn, void *arg) {
  return s_add_timer(self, self->now + delay_us, 0, fn, arg);
}

int dd_loop_timer_every(dd_loop_t *self, uint64_t interval_us, dd_loop_timer_fn fn, void *arg) {
  if (interval_us == 0) return DD_EINVAL;
  return s_add_timer(self, self->now + interval_us, interval_us, fn, arg);
}

static ssize_t s_find_timer(const dd_loop_t *self, int id) {
  for (size_t i = 0; i < self->n_timers; i++)
    if (self->heap[i].id == id) return (ssize_t)i;
  return -1;
}

void dd_loop_timer_cancel(dd_loop_t *self, int timer_id) {
  assert(self);
  ssize_t i = s_find_timer(self, timer_id);
  if (i >= 0) s_heap_remove_at(self, (size_t)i);
}

int dd_loop_timer_move(dd_loop_t *self, int timer_id, uint64_t deadline_us) {
  assert(self);
  ssize_t i = s_find_timer(self, timer_id);
  if (i < 0) return DD_ENOENT;
  s_timer_t t = self->heap[i];
  s_heap_remove_at(self, (size_t)i);
  t.deadline = deadline_us;
  t.seq = self->next_seq++;
  return s_heap_push(self, t);
}

void dd_loop_deadline_set(dd_loop_t *self, dd_loop_deadline_t *d, uint64_t deadline,
                          dd_loop_timer_fn fn, void *arg) {
  assert(self && d && fn);
  if (deadline == DD_NEVER) {
    if (d->id) dd_loop_timer_cancel(self, d->id);
    d->id = 0;
    return;
  }
  if (deadline < self->now) deadline = self->now;
  bool pending = d->id && s_find_timer(self, d->id) >= 0;
  if (pending && d->at == deadline) return;
  if (pending && dd_loop_timer_move(self, d->id, deadline) == 0) {
    d->at = deadline;
    return;
  }
  int id = dd_loop_timer_at(self, deadline, fn, arg);
  d->id = id > 0 ? id : 0;
  d->at = deadline;
}

uint64_t dd_loop_now(const dd_loop_t *self) { return self->now; }
dd_clock_t *dd_loop_clock(dd_loop_t *self) { return self->clock; }

uint64_t dd_loop_next_deadline(const dd_loop_t *self) {
  return self->n_timers ? self->heap[0].deadline : DD_NEVER;
}

/* ---- the pass ---- */

static void s_arm(dd_loop_t *self, uint64_t deadline) {
  if (self->tfd < 0 || deadline == self->armed) return;
  struct itimerspec its = {0};
  if (deadline != DD_NEVER) {
    uint64_t d = deadline ? deadline : 1; /* an all-zero value would disarm */
    its.it_value.tv_sec = (time_t)(d / DD_US_PER_S);
    its.it_value.tv_nsec = (long)(d % DD_US_PER_S) * 1000;
  }
  if (timerfd_settime(self->tfd, TFD_TIMER_ABSTIME, &its, NULL) == 0) self->armed = deadline;
}

static int s_poll_timeout_ms(uint64_t wait_us) {
  if (wait_us == DD_NEVER) return -1;
  uint64_t ms = (wait_us + 999) / 1000; /* round up: never wake before the bound */
  return ms > 60000 ? 60000 : (int)ms;
}

static int s_fire_timers(dd_loop_t *self) {
  uint64_t seq_limit = self->next_seq; /* timers made by handlers wait for the next pass */
  while (self->n_timers && !self->stop) {
    s_timer_t t = self->heap[0];
    if (t.deadline > self->now || t.seq >= seq_limit) break;
    if (t.interval) {
      uint64_t next = t.deadline + t.interval;
      if (next <= self->now) /* skip missed grid points rather than firing a burst */
        next += ((self->now - next) / t.interval + 1) * t.interval;
      self->heap[0].deadline = next;
      s_sift_down(self->heap, self->n_timers, 0);
    } else {
      s_heap_remove_at(self, 0);
    }
    self->stats.timers_fired++;
    int rc = t.fn(self, t.id, t.arg);
    if (rc < 0) return rc;
  }
  return 0;
}

int dd_loop_step(dd_loop_t *self, uint64_t max_wait_us) {
  assert(self);
  s_compact_readers(self);
  self->stats.passes++;
  self->now = dd_clock_now_us(self->clock);

  /* How long may this pass wait? Until the earliest deadline (the timerfd ends the wait with
   * microsecond precision on a real clock), or max_wait_us, whichever is first. */
  uint64_t deadline = dd_loop_next_deadline(self);
  uint64_t wait = max_wait_us;
  bool due = deadline <= self->now;
  if (due) {
    wait = 0;
  } else if (dd_clock_is_manual(self->clock)) {
    /* Manual time moves only when someone sets it: wait only for input, bounded. */
  } else {
    s_arm(self, deadline);
  }

  size_t n = self->n_readers + (self->tfd >= 0 ? 1 : 0);
  if (n > self->cap_items) {
    zmq_pollitem_t *it = realloc(self->items, n * sizeof *it);
    if (!it) return DD_ENOMEM;
    self->items = it;
    self->cap_items = n;
  }
  for (size_t i = 0; i < self->n_readers; i++)
    self->items[i] = (zmq_pollitem_t){.socket = self->readers[i].zsock,
                                      .fd = self->readers[i].fd, .events = ZMQ_POLLIN};
  if (self->tfd >= 0)
    self->items[self->n_readers] = (zmq_pollitem_t){.fd = self->tfd, .events = ZMQ_POLLIN};

  int timeout = s_poll_timeout_ms(wait);
  /* n is 0 only for a manual clock with no readers: nothing can arrive, so do not wait. */
  int rc = n ? zmq_poll(self->items, (int)n, timeout) : 0;
  if (rc < 0) {
    if (errno == EINTR) return 0;
    if (errno == ETERM) return DD_ESTOPPED;
    return -errno;
  }
  if (self->tfd >= 0 && (self->items[self->n_readers].revents & ZMQ_POLLIN)) {
    uint64_t expirations;
    if (read(self->tfd, &expirations, sizeof expirations) == (ssize_t)sizeof expirations)
      self->armed = DD_NEVER; /* an expired absolute timer is disarmed */
  }

  self->now = dd_clock_now_us(self->clock);
  size_t count = self->n_readers; /* readers added by handlers join the next pass */
  for (size_t i = 0; rc > 0 && i < count && !self->stop; i++) {
    if (!(self->items[i].revents & ZMQ_POLLIN) || self->readers[i].removed) continue;
    s_reader_t r = self->readers[i];
    self->stats.reader_calls++;
    int hrc = r.fn(self, r.zsock, r.fd, r.arg);
    if (hrc < 0) return hrc;
  }
  int trc = s_fire_timers(self);
  if (trc < 0) return trc;
  return self->stop ? self->stop_code : 0;
}

int dd_loop_run(dd_loop_t *self) {
  assert(self);
  self->stop = false;
  while (!self->stop) {
    int rc = dd_loop_step(self, DD_NEVER);
    if (rc < 0) return rc == DD_ESTOPPED && self->stop ? 0 : rc;
  }
  return 0;
}

void dd_loop_stop(dd_loop_t *self) {
  assert(self);
  self->stop = true;
  self->stop_code = 0;
}

dd_loop_stats_t dd_loop_stats(const dd_loop_t *self) { return self->stats; }
