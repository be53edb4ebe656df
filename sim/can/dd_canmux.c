/* dd_canmux: one reader on the loop for a CAN port, fan-out to listeners. */
#include "dd_canmux.h"

#include <assert.h>
#include <stdlib.h>

#include "dd_err.h"

#define S_MAX_LISTENERS 32

typedef struct {
  dd_canmux_fn fn; /* callback, NULL = free slot */
  void *arg;       /* its argument */
} s_listener_t;

struct dd_canmux {
  dd_loop_t *loop;                        /* not owned */
  dd_canport_t *port;                     /* owned */
  s_listener_t listeners[S_MAX_LISTENERS]; /* by id - 1 */
};

static int s_on_input(dd_loop_t *loop, void *zsock, int fd, void *arg) {
  dd_canmux_t *self = arg;
  dd_can_frame_t f;
  /* Bounded per pass so one busy port cannot starve the rest of the loop. */
  for (int n = 0; n < 256 && dd_canport_recv(self->port, &f) == 0; n++) {
    uint64_t now = dd_loop_now(loop);
    for (int i = 0; i < S_MAX_LISTENERS; i++)
      if (self->listeners[i].fn) self->listeners[i].fn(&f, now, self->listeners[i].arg);
  }
  return 0;
}

int dd_canmux_new(dd_loop_t *loop, dd_canport_t *port, dd_canmux_t **out) {
  assert(loop && port && out);
  dd_canmux_t *self = calloc(1, sizeof *self);
  if (!self) {
    dd_canport_destroy(&port);
    return DD_ENOMEM;
  }
  self->loop = loop;
  self->port = port;
  void *z = dd_canport_poll_zsock(port);
  int rc = z ? dd_loop_add_zsock(loop, z, s_on_input, self)
             : dd_loop_add_fd(loop, dd_canport_poll_fd(port), s_on_input, self);
  if (rc < 0) {
    dd_canport_destroy(&self->port);
    free(self);
    return rc;
  }
  *out = self;
  return 0;
}

void dd_canmux_destroy(dd_canmux_t **self_p) {
  assert(self_p);
  dd_canmux_t *self = *self_p;
  if (!self) return;
  void *z = dd_canport_poll_zsock(self->port);
  if (z) dd_loop_remove_zsock(self->loop, z);
  else dd_loop_remove_fd(self->loop, dd_canport_poll_fd(self->port));
  dd_canport_destroy(&self->port);
  free(self);
  *self_p = NULL;
}

int dd_canmux_listen(dd_canmux_t *self, dd_canmux_fn fn, void *arg) {
  for (int i = 0; i < S_MAX_LISTENERS; i++)
    if (!self->listeners[i].fn) {
      self->listeners[i] = (s_listener_t){fn, arg};
      return i + 1;
    }
  return DD_ENOSPC;
}

void dd_canmux_unlisten(dd_canmux_t *self, int id) {
  if (id >= 1 && id <= S_MAX_LISTENERS) self->listeners[id - 1].fn = NULL;
}

int dd_canmux_send(dd_canmux_t *self, const dd_can_frame_t *frame) {
  return dd_canport_send(self->port, frame);
}

dd_canport_t *dd_canmux_port(dd_canmux_t *self) { return self->port; }
dd_loop_t *dd_canmux_loop(dd_canmux_t *self) { return self->loop; }
