/* dd_canreplay: a candump log played onto a CAN port at absolute, recorded deadlines. */
#include "dd_canreplay.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_candump.h"
#include "dd_err.h"
#include "dd_log.h"

#define S_REPORT_MAX 20            /* malformed lines reported one by one */
#define S_WAIT_US 1000             /* retry after the port's queue was full */
#define S_SINGLE_PERIOD_US 1000000 /* loop period of a one-frame log */
#define S_MIN_PERIOD_US 1000       /* a loop pass takes at least this */
#define S_ECHO_WAIT_US 2000000     /* after the last send, echoes must be back within this */

struct dd_canreplay {
  dd_loop_t *loop;              /* not owned */
  dd_events_t *events;          /* not owned (may be NULL) */
  dd_canport_t *port;           /* not owned; set by dd_canreplay_start */
  dd_canreplay_cfg_t cfg;       /* configuration (strings owned below) */
  char *path;                   /* the log */
  char *iface;                  /* interface filter, or NULL */
  dd_canreplay_done_fn done_fn; /* end callback */
  void *done_arg;               /* its argument */
  dd_candump_reader_t *reader;  /* the pass being played */
  dd_candump_record_t next;     /* next record to send */
  bool has_next;                /* next holds a record */
  uint64_t t0_ns;               /* time stamp of the first frame played */
  uint64_t start_us;            /* loop time the first pass began */
  uint64_t pass_start_us;       /* loop time the current pass began */
  uint64_t period_us;           /* pass period when looping */
  uint64_t last_deadline;       /* deadline of the frame sent before (keeps file order) */
  uint64_t pass_sent;           /* frames sent in this pass */
  uint64_t next_progress;       /* pass_sent at which to report progress */
  int timer;                    /* pending timer id, 0 = none */
  bool started;                 /* dd_canreplay_start was called */
  bool all_sent;                /* the last frame has gone to the port (no loop) */
  bool done;                    /* ended; done_fn called */
  dd_canreplay_stats_t stats;   /* counters */
};

static void s_emit_end(dd_canreplay_t *self, int code);

static bool s_playable(const dd_canreplay_t *self, const dd_candump_record_t *rec) {
  return !self->iface || strcmp(rec->ifname, self->iface) == 0;
}

/* Check the whole file: count, time span, malformed lines (reported as FILE:LINE). */
static int s_check_file(dd_canreplay_t *self) {
  dd_candump_reader_t *r = NULL;
  int rc = dd_candump_reader_open(self->path, &r);
  if (rc < 0) {
    dd_error("canreplay: cannot read %s: %s", self->path, dd_strerror(rc));
    return rc;
  }
  dd_candump_record_t rec;
  bool first = true;
  uint64_t t_last = 0;
  for (;;) {
    rc = dd_candump_reader_next(r, &rec);
    if (rc == DD_ENOENT) break;
    if (rc == DD_EILSEQ) {
      unsigned long line = dd_candump_reader_line(r);
      if (self->stats.malformed++ < S_REPORT_MAX) {
        if (self->cfg.skip_malformed)
          dd_warn("%s:%lu: malformed candump line (skipped)", self->path, line);
        else
          dd_error("%s:%lu: malformed candump line", self->path, line);
        if (self->events)
          dd_events_emit(self->events, "canreplay.malformed", DD_S("file", self->path),
                         DD_I("line", (int64_t)line), DD_B("skipped", self->cfg.skip_malformed),
                         DD_END);
      }
      continue;
    }
    if (rc < 0) {
      dd_error("%s:%lu: read error: %s", self->path, dd_candump_reader_line(r), dd_strerror(rc));
      dd_candump_reader_destroy(&r);
      return rc;
    }
    if (!s_playable(self, &rec)) {
      self->stats.filtered++;
      continue;
    }
    if (rec.frame.flags & DD_CAN_F_ERR) {
      self->stats.unsendable++;
      continue;
    }
    if (first) {
      self->t0_ns = rec.ts_ns;
      first = false;
    }
    if (rec.ts_ns > t_last) t_last = rec.ts_ns;
    self->stats.frames++;
  }
  self->stats.lines = dd_candump_reader_line(r);
  dd_candump_reader_destroy(&r);
  if (self->stats.malformed > S_REPORT_MAX)
    dd_log(self->cfg.skip_malformed ? DD_LOG_WARN : DD_LOG_ERROR, "%s: %llu malformed lines in all",
           self->path, (unsigned long long)self->stats.malformed);
  if (self->stats.malformed && !self->cfg.skip_malformed) {
    dd_error("%s: nothing sent; fix the lines above or pass --skip-malformed", self->path);
    return DD_EILSEQ;
  }
  if (!self->stats.frames) {
    dd_error("%s: no frame to play%s%s", self->path, self->iface ? " on interface " : "",
             self->iface ? self->iface : "");
    return DD_ENOENT;
  }
  self->stats.span_us = (t_last - self->t0_ns) / 1000u;
  /* Loop period: the span plus one mean gap between frames (see dd_canreplay.h). */
  double span = (double)self->stats.span_us / self->cfg.speed;
  double gap =
      self->stats.frames > 1 ? span / (double)(self->stats.frames - 1) : (double)S_SINGLE_PERIOD_US;
  double period = span + gap;
  self->period_us = period < S_MIN_PERIOD_US ? S_MIN_PERIOD_US : (uint64_t)llround(period);
  return 0;
}

/* The next playable record of the current pass into self->next; false at its end. Malformed
 * lines were counted by the check; here they are only passed over. */
static bool s_read_next(dd_canreplay_t *self) {
  dd_candump_record_t rec;
  for (;;) {
    int rc = dd_candump_reader_next(self->reader, &rec);
    if (rc == DD_EILSEQ) continue;
    if (rc < 0) {
      if (rc != DD_ENOENT)
        dd_error("%s:%lu: read error: %s", self->path, dd_candump_reader_line(self->reader),
                 dd_strerror(rc));
      self->has_next = false;
      return false;
    }
    if (!s_playable(self, &rec) || (rec.frame.flags & DD_CAN_F_ERR)) continue;
    self->next = rec;
    self->has_next = true;
    return true;
  }
}

static int s_open_pass(dd_canreplay_t *self) {
  dd_candump_reader_destroy(&self->reader);
  int rc = dd_candump_reader_open(self->path, &self->reader);
  if (rc < 0) {
    dd_error("canreplay: cannot read %s again: %s", self->path, dd_strerror(rc));
    return rc;
  }
  self->stats.passes++;
  self->pass_sent = 0;
  self->last_deadline = 0;
  uint64_t step =
      self->cfg.progress_every ? self->cfg.progress_every : (self->stats.frames + 9) / 10;
  self->next_progress = step ? step : 1;
  if (!s_read_next(self)) return DD_EIO; /* the file changed since it was checked */
  if (self->stats.passes > 1 && self->events)
    dd_events_emit(self->events, "canreplay.pass", DD_I("pass", (int64_t)self->stats.passes),
                   DD_I("sent", (int64_t)self->stats.sent), DD_END);
  return 0;
}

/* Absolute deadline of the next record: pass start + recorded offset / speed, never before
 * the one sent before it (file order is kept). */
static uint64_t s_deadline(const dd_canreplay_t *self) {
  uint64_t off_ns = self->next.ts_ns > self->t0_ns ? self->next.ts_ns - self->t0_ns : 0;
  uint64_t off_us = self->cfg.speed == 1.0
                        ? off_ns / 1000u
                        : (uint64_t)llround((double)off_ns / (1000.0 * self->cfg.speed));
  uint64_t d = self->pass_start_us + off_us;
  return d < self->last_deadline ? self->last_deadline : d;
}

static void s_finish(dd_canreplay_t *self, int code) {
  if (self->done) return;
  self->done = true;
  if (self->timer) {
    dd_loop_timer_cancel(self->loop, self->timer);
    self->timer = 0;
  }
  dd_candump_reader_destroy(&self->reader);
  s_emit_end(self, code);
  if (self->done_fn) self->done_fn(self, code, self->done_arg);
}

static void s_progress(dd_canreplay_t *self) {
  uint64_t step =
      self->cfg.progress_every ? self->cfg.progress_every : (self->stats.frames + 9) / 10;
  if (!step) step = 1;
  self->next_progress += step;
  if (!self->events) return;
  dd_events_emit(self->events, "canreplay.progress", DD_I("pass", (int64_t)self->stats.passes),
                 DD_I("sent", (int64_t)self->pass_sent),
                 DD_I("frames", (int64_t)self->stats.frames),
                 DD_D("pct", 100.0 * (double)self->pass_sent / (double)self->stats.frames),
                 DD_I("late_max_us", (int64_t)self->stats.late_max_us), DD_END);
}

static int s_on_timer(dd_loop_t *loop, int id, void *arg);

static void s_arm(dd_canreplay_t *self, uint64_t at) {
  if (self->timer) dd_loop_timer_cancel(self->loop, self->timer);
  int id = dd_loop_timer_at(self->loop, at, s_on_timer, self);
  self->timer = id > 0 ? id : 0;
  if (id < 0) s_finish(self, id);
}

/* Send everything that is due; then wait for the next deadline. */
static void s_pump(dd_canreplay_t *self) {
  uint64_t now = dd_loop_now(self->loop);
  while (!self->done) {
    if (!self->has_next) {
      if (!self->cfg.loop) {
        self->all_sent = true;
        if (!self->cfg.await_echo || self->stats.echoed >= self->stats.sent)
          s_finish(self, 0);
        else /* a frame the bus refused never echoes: do not wait for it for ever */
          s_arm(self, now + S_ECHO_WAIT_US);
        return;
      }
      self->pass_start_us += self->period_us;
      int rc = s_open_pass(self);
      if (rc < 0) {
        s_finish(self, rc);
        return;
      }
      continue;
    }
    uint64_t deadline = s_deadline(self);
    if (deadline > now) {
      s_arm(self, deadline);
      return;
    }
    dd_can_frame_t f = self->next.frame;
    f.flags &= (uint8_t)~DD_CAN_F_TX; /* a " T" line was someone's own frame: ours now */
    f.ts_us = 0;
    int rc = dd_canport_send(self->port, &f);
    if (rc == DD_EAGAIN || rc == DD_ENOSPC) { /* the port's queue is full: wait, keep order */
      self->stats.waits++;
      s_arm(self, now + S_WAIT_US);
      return;
    }
    if (rc < 0) {
      char text[DD_CAN_TEXT_MAX];
      dd_error("%s: sending %s failed: %s", self->path, dd_can_format(&f, text, sizeof text),
               dd_strerror(rc));
      s_finish(self, rc);
      return;
    }
    if (now - deadline > self->stats.late_max_us) self->stats.late_max_us = now - deadline;
    self->last_deadline = deadline;
    self->stats.sent++;
    self->pass_sent++;
    if (self->pass_sent >= self->next_progress) s_progress(self);
    s_read_next(self);
  }
}

static int s_on_timer(dd_loop_t *loop, int id, void *arg) {
  dd_canreplay_t *self = arg;
  self->timer = 0;
  if (self->all_sent) { /* the echo wait is over */
    dd_error("%s: %llu of %llu frames sent were never confirmed by the bus", self->path,
             (unsigned long long)(self->stats.sent - self->stats.echoed),
             (unsigned long long)self->stats.sent);
    s_finish(self, DD_ETIMEDOUT);
    return 0;
  }
  s_pump(self);
  return 0;
}

static void s_emit_end(dd_canreplay_t *self, int code) {
  if (!self->events) return;
  const dd_canreplay_stats_t *st = &self->stats;
  dd_events_emit(self->events, "canreplay.end", DD_S("file", self->path),
                 DD_S("result", code ? dd_err_name(code) : "ok"), DD_I("sent", (int64_t)st->sent),
                 DD_I("echoed", (int64_t)st->echoed), DD_I("passes", (int64_t)st->passes),
                 DD_I("malformed", (int64_t)st->malformed), DD_I("filtered", (int64_t)st->filtered),
                 DD_I("unsendable", (int64_t)st->unsendable), DD_I("waits", (int64_t)st->waits),
                 DD_I("late_max_us", (int64_t)st->late_max_us),
                 DD_I("duration_us", (int64_t)(dd_loop_now(self->loop) - self->start_us)), DD_END);
}

int dd_canreplay_new(dd_loop_t *loop, dd_events_t *events, const dd_canreplay_cfg_t *cfg,
                     dd_canreplay_done_fn done, void *arg, dd_canreplay_t **out) {
  assert(loop && cfg && cfg->path && out);
  *out = NULL;
  double speed = cfg->speed == 0 ? 1.0 : cfg->speed;
  if (!(speed > 0 && speed <= 1e6)) { /* also NaN */
    dd_error("canreplay: speed %g is outside (0, 1e6]", cfg->speed);
    return DD_EINVAL;
  }
  dd_canreplay_t *self = calloc(1, sizeof *self);
  if (!self) return DD_ENOMEM;
  self->loop = loop;
  self->events = events;
  self->cfg = *cfg;
  self->cfg.speed = speed;
  self->done_fn = done;
  self->done_arg = arg;
  self->path = strdup(cfg->path);
  self->iface = cfg->iface ? strdup(cfg->iface) : NULL;
  int rc = DD_ENOMEM;
  if (!self->path || (cfg->iface && !self->iface)) goto out_free;
  self->cfg.path = self->path;
  self->cfg.iface = self->iface;
  rc = s_check_file(self);
  if (rc < 0) goto out_free;
  *out = self;
  return 0;
out_free:
  free(self->path);
  free(self->iface);
  free(self);
  return rc;
}

void dd_canreplay_destroy(dd_canreplay_t **self_p) {
  assert(self_p);
  dd_canreplay_t *self = *self_p;
  if (!self) return;
  if (self->timer) dd_loop_timer_cancel(self->loop, self->timer);
  dd_candump_reader_destroy(&self->reader);
  free(self->path);
  free(self->iface);
  free(self);
  *self_p = NULL;
}

int dd_canreplay_start(dd_canreplay_t *self, dd_canport_t *port) {
  assert(self && port);
  if (self->started) return DD_EBUSY;
  self->started = true;
  self->port = port;
  self->start_us = self->pass_start_us = dd_loop_now(self->loop);
  if (self->events)
    dd_events_emit(self->events, "canreplay.start", DD_S("file", self->path),
                   DD_I("frames", (int64_t)self->stats.frames),
                   DD_I("span_us", (int64_t)self->stats.span_us), DD_D("speed", self->cfg.speed),
                   DD_B("loop", self->cfg.loop), DD_S("iface", self->iface ? self->iface : ""),
                   DD_I("malformed", (int64_t)self->stats.malformed), DD_END);
  int rc = s_open_pass(self);
  if (rc < 0)
    s_finish(self, rc); /* reported through done_fn */
  else
    s_pump(self);
  return 0;
}

void dd_canreplay_on_frame(dd_canreplay_t *self, const dd_can_frame_t *f) {
  assert(self && f);
  if (!(f->flags & DD_CAN_F_TX) || !self->cfg.await_echo) return;
  self->stats.echoed++;
  if (self->all_sent && self->stats.echoed >= self->stats.sent) s_finish(self, 0);
}

bool dd_canreplay_done(const dd_canreplay_t *self) { return self->done; }

dd_canreplay_stats_t dd_canreplay_stats(const dd_canreplay_t *self) { return self->stats; }
