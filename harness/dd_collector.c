/* dd_collector: SUB socket -> JSON Lines timeline. */
#include "dd_collector.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "dd_err.h"
#include "dd_log.h"
#include "dd_wire.h"

struct dd_collector {
  void *sub;            /* bound SUB socket */
  FILE *out;            /* the timeline */
  bool own_out;         /* out is ours to close */
  dd_collector_fn fn;   /* per-event observer */
  void *fn_arg;         /* its argument */
  dd_wire_stats_t ws;   /* decode counters */
  uint64_t events;      /* events written */
};

int dd_collector_new(void *zctx, const char *endpoint, const char *path, dd_collector_t **out) {
  assert(zctx && endpoint && path && out);
  dd_collector_t *self = calloc(1, sizeof *self);
  if (!self) return DD_ENOMEM;
  dd_wire_stats_init(&self->ws);
  if (!strcmp(path, "-")) {
    self->out = stdout;
  } else {
    self->out = fopen(path, "a");
    self->own_out = true;
  }
  int rc = 0;
  if (!self->out) {
    rc = -errno;
    dd_error("collector: cannot open %s: %s", path, strerror(errno));
    goto out_free;
  }
  self->sub = zmq_socket(zctx, ZMQ_SUB);
  int zero = 0;
  zmq_setsockopt(self->sub, ZMQ_RCVHWM, &zero, sizeof zero);
  zmq_setsockopt(self->sub, ZMQ_SUBSCRIBE, "", 0);
  dd_wire_limit_socket(self->sub);
  if (zmq_bind(self->sub, endpoint) != 0) {
    rc = -errno;
    dd_error("collector: cannot bind %s: %s", endpoint, zmq_strerror(errno));
    goto out_close_sock;
  }
  *out = self;
  return 0;
out_close_sock:
  zmq_close(self->sub);
  if (self->own_out) fclose(self->out);
out_free:
  free(self);
  return rc;
}

void dd_collector_destroy(dd_collector_t **self_p) {
  assert(self_p);
  dd_collector_t *self = *self_p;
  if (!self) return;
  zmq_close(self->sub);
  if (self->own_out) fclose(self->out);
  else fflush(self->out);
  free(self);
  *self_p = NULL;
}

void dd_collector_on_event(dd_collector_t *self, dd_collector_fn fn, void *arg) {
  self->fn = fn;
  self->fn_arg = arg;
}

void *dd_collector_zsock(dd_collector_t *self) { return self->sub; }
uint64_t dd_collector_events(const dd_collector_t *self) { return self->events; }
uint64_t dd_collector_rejected(const dd_collector_t *self) {
  return dd_wire_stats_rejected(&self->ws);
}

int dd_collector_write(dd_collector_t *self, const Duodiag__Event *ev) {
  char *json = NULL;
  int rc = dd_wire_event_to_json(ev, &json);
  if (rc < 0) return rc;
  fputs(json, self->out);
  fputc('\n', self->out);
  fflush(self->out);
  self->events++;
  if (self->fn) self->fn(ev, json, self->fn_arg);
  free(json);
  return 0;
}

int dd_collector_drain(dd_collector_t *self) {
  int n = 0;
  for (;;) {
    Duodiag__Envelope *env = NULL;
    int rc = dd_wire_recv(self->sub, &env, &self->ws, ZMQ_DONTWAIT);
    if (rc == DD_EAGAIN) break;
    if (rc == -EINTR) continue;
    if (rc == -ETERM) return rc;
    if (rc < 0) {
      dd_warn("collector: rejected a message: %s (%s)", dd_strerror(rc), dd_wire_reason_name(self->ws.last_reason));
      continue;
    }
    if (env->body_case == DUODIAG__ENVELOPE__BODY_EVENT && dd_collector_write(self, env->event) == 0)
      n++;
    dd_wire_free(&env);
  }
  return n;
}
