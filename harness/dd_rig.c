/* dd_rig: run folder, control channel, collector and children of one harness run. */
#include "dd_rig.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zmq.h>

#include "dd_child.h"
#include "dd_err.h"
#include "dd_log.h"

#define S_MAX_CHILDREN 32

struct dd_rig {
  char dir[PATH_MAX];                   /* run folder */
  void *zctx;                           /* ZeroMQ context */
  dd_clock_t clock;                     /* harness clock */
  dd_loop_t *loop;                      /* harness loop */
  dd_ctl_t *ctl;                        /* control ROUTER */
  dd_collector_t *collector;            /* timeline SUB */
  dd_child_t *children[S_MAX_CHILDREN]; /* supervised processes */
  bool reported[S_MAX_CHILDREN];        /* an unexpected exit was already reported */
  int n_children;                       /* used entries */
};

static int s_on_ctl(dd_loop_t *loop, void *zsock, int fd, void *arg) {
  dd_ctl_on_input(arg);
  return 0;
}

static int s_on_events(dd_loop_t *loop, void *zsock, int fd, void *arg) {
  int rc = dd_collector_drain(arg);
  return rc < 0 ? rc : 0;
}

int dd_rig_mkdir_p(const char *path) {
  char tmp[PATH_MAX];
  snprintf(tmp, sizeof tmp, "%s", path);
  for (char *p = tmp + 1; *p; p++) {
    if (*p != '/') continue;
    *p = 0;
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -errno;
    *p = '/';
  }
  if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -errno;
  return 0;
}

int dd_rig_new(const char *run_dir, dd_rig_t **out) {
  assert(out);
  dd_rig_t *self = calloc(1, sizeof *self);
  if (!self) return DD_ENOMEM;
  int rc;
  if (run_dir) {
    snprintf(self->dir, sizeof self->dir, "%s", run_dir);
    rc = dd_rig_mkdir_p(self->dir);
  } else {
    const char *tmp = getenv("TMPDIR");
    snprintf(self->dir, sizeof self->dir, "%s/duodiag-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    rc = mkdtemp(self->dir) ? 0 : -errno;
  }
  if (rc < 0) {
    dd_error("cannot create run folder %s: %s", self->dir, strerror(-rc));
    free(self);
    return rc;
  }
  char logs[PATH_MAX + 8];
  snprintf(logs, sizeof logs, "%s/logs", self->dir);
  dd_rig_mkdir_p(logs);
  /* ipc:// paths are limited to about 107 bytes (sun_path). */
  if (strlen(self->dir) > 80) {
    dd_error("run folder path too long for ZeroMQ ipc endpoints (%zu > 80 characters): %s",
             strlen(self->dir), self->dir);
    free(self);
    return DD_ENAMETOOLONG;
  }
  dd_clock_init_real(&self->clock);
  self->zctx = zmq_ctx_new();
  self->loop = dd_loop_new(&self->clock);
  if (!self->zctx || !self->loop) {
    rc = DD_ENOMEM;
    goto out_fail;
  }
  char ep[PATH_MAX + 16], tl[PATH_MAX + 16];
  rc = dd_ctl_new(self->zctx, dd_rig_endpoint(self, "control", ep, sizeof ep), &self->ctl);
  if (rc < 0) goto out_fail;
  snprintf(tl, sizeof tl, "%s/timeline.jsonl", self->dir);
  rc = dd_collector_new(self->zctx, dd_rig_endpoint(self, "events", ep, sizeof ep), tl,
                        &self->collector);
  if (rc < 0) goto out_fail;
  dd_loop_add_zsock(self->loop, dd_ctl_zsock(self->ctl), s_on_ctl, self->ctl);
  dd_loop_add_zsock(self->loop, dd_collector_zsock(self->collector), s_on_events,
                    self->collector);
  *out = self;
  return 0;
out_fail:
  dd_rig_destroy(&self);
  return rc;
}

void dd_rig_destroy(dd_rig_t **self_p) {
  assert(self_p);
  dd_rig_t *self = *self_p;
  if (!self) return;
  dd_rig_stop_all(self, 3 * DD_US_PER_S);
  for (int i = 0; i < self->n_children; i++) dd_child_destroy(&self->children[i]);
  if (self->collector) dd_collector_drain(self->collector);
  dd_collector_destroy(&self->collector);
  dd_ctl_destroy(&self->ctl);
  dd_loop_destroy(&self->loop);
  if (self->zctx) zmq_ctx_term(self->zctx);
  free(self);
  *self_p = NULL;
}

const char *dd_rig_dir(const dd_rig_t *self) { return self->dir; }
void *dd_rig_zctx(dd_rig_t *self) { return self->zctx; }
dd_loop_t *dd_rig_loop(dd_rig_t *self) { return self->loop; }
dd_ctl_t *dd_rig_ctl(dd_rig_t *self) { return self->ctl; }
dd_collector_t *dd_rig_collector(dd_rig_t *self) { return self->collector; }

const char *dd_rig_endpoint(const dd_rig_t *self, const char *name, char *buf, size_t cap) {
  snprintf(buf, cap, "ipc://%s/%s", self->dir, name);
  return buf;
}

static void s_report_exit(dd_rig_t *self, int i) {
  dd_child_t *c = self->children[i];
  int code = 0, sig = 0;
  dd_child_exited(c, &code, &sig);
  char tail[2048];
  dd_child_tail(c, tail, sizeof tail, 12);
  if (sig) dd_error("%s (pid %d) was killed by signal %d; its last output:\n%s",
                    dd_child_name(c), (int)dd_child_pid(c), sig, tail);
  else dd_error("%s (pid %d) exited with code %d; its last output:\n%s", dd_child_name(c),
                (int)dd_child_pid(c), code, tail);
  self->reported[i] = true;
}

int dd_rig_spawn(dd_rig_t *self, const char *name, const char *exe, const char *const *args,
                 uint64_t ready_timeout_us) {
  if (self->n_children == S_MAX_CHILDREN) return DD_ENOSPC;
  char path[PATH_MAX];
  int rc = dd_child_find_exe(exe, path, sizeof path);
  if (rc < 0) return rc;
  char ctl[PATH_MAX + 16], ev[PATH_MAX + 16], log[PATH_MAX + 80];
  dd_rig_endpoint(self, "control", ctl, sizeof ctl);
  dd_rig_endpoint(self, "events", ev, sizeof ev);
  snprintf(log, sizeof log, "%s/logs/%s.log", self->dir, name);
  const char *argv[64];
  int n = 0;
  argv[n++] = path;
  argv[n++] = "--name";
  argv[n++] = name;
  argv[n++] = "--control";
  argv[n++] = ctl;
  argv[n++] = "--events";
  argv[n++] = ev;
  for (int i = 0; args && args[i] && n < 62; i++) argv[n++] = args[i];
  argv[n] = NULL;
  dd_child_cfg_t cfg = {.name = name, .exe = path, .argv = (char *const *)argv, .log_path = log};
  dd_ctl_forget(self->ctl, name); /* a restart must say Ready again */
  dd_child_t *child = NULL;
  rc = dd_child_spawn(&cfg, &child);
  if (rc < 0) return rc;
  int idx = self->n_children++;
  self->children[idx] = child;
  self->reported[idx] = false;

  /* Wait for Ready, checking now and then that the child has not died meanwhile. */
  uint64_t end = dd_clock_now_us(&self->clock) + ready_timeout_us;
  while (!dd_ctl_is_ready(self->ctl, name)) {
    if (dd_child_exited(child, NULL, NULL)) {
      s_report_exit(self, idx);
      return DD_ECHILD_FAILED;
    }
    uint64_t now = dd_clock_now_us(&self->clock);
    if (now >= end) {
      char tail[2048];
      dd_child_tail(child, tail, sizeof tail, 12);
      dd_error("%s did not become ready within %.1f s; its last output:\n%s", name,
               (double)ready_timeout_us / 1e6, tail);
      return DD_ETIMEDOUT;
    }
    uint64_t step = end - now < 20000 ? end - now : 20000;
    rc = dd_loop_step(self->loop, step);
    if (rc < 0) return rc;
  }
  return 0;
}

struct dd_child *dd_rig_child(dd_rig_t *self, const char *name) {
  for (int i = 0; i < self->n_children; i++)
    if (!strcmp(dd_child_name(self->children[i]), name)) return self->children[i];
  return NULL;
}

int dd_rig_check_children(dd_rig_t *self) {
  int dead = 0;
  for (int i = 0; i < self->n_children; i++) {
    if (!dd_child_exited(self->children[i], NULL, NULL)) continue;
    if (!self->reported[i]) s_report_exit(self, i);
    dead++;
  }
  return dead;
}

int dd_rig_stop_all(dd_rig_t *self, uint64_t grace_us) {
  int bad = 0;
  /* Politely first: a STOP command each, in reverse start order. */
  for (int i = self->n_children - 1; i >= 0; i--)
    if (!dd_child_exited(self->children[i], NULL, NULL))
      dd_ctl_send(self->ctl, dd_child_name(self->children[i]), "stop", NULL, NULL, NULL);
  uint64_t end = dd_clock_now_us(&self->clock) + grace_us;
  for (;;) {
    bool all = true;
    for (int i = 0; i < self->n_children; i++)
      all &= dd_child_exited(self->children[i], NULL, NULL);
    uint64_t now = dd_clock_now_us(&self->clock);
    if (all || now >= end) break;
    dd_loop_step(self->loop, 10000); /* keeps collecting their last events */
  }
  for (int i = 0; i < self->n_children; i++) {
    int code = dd_child_stop(self->children[i], DD_US_PER_S);
    if (code != 0) {
      if (!self->reported[i]) s_report_exit(self, i);
      bad++;
    }
  }
  dd_collector_drain(self->collector);
  return bad;
}
