/* dd_canport: dispatch from the generic CAN port to its backend. */
#include "dd_canport.h"

#include <assert.h>
#include <stdlib.h>

#include "dd_err.h"

struct dd_canport {
  const dd_canport_ops_t *ops; /* backend functions */
  void *impl;                  /* backend state, owned */
};

dd_canport_t *dd_canport_new(const dd_canport_ops_t *ops, void *impl) {
  assert(ops && ops->send && ops->recv && ops->destroy);
  dd_canport_t *self = calloc(1, sizeof *self);
  if (!self) {
    ops->destroy(impl);
    return NULL;
  }
  self->ops = ops;
  self->impl = impl;
  return self;
}

void dd_canport_destroy(dd_canport_t **self_p) {
  assert(self_p);
  dd_canport_t *self = *self_p;
  if (!self) return;
  self->ops->destroy(self->impl);
  free(self);
  *self_p = NULL;
}

int dd_canport_send(dd_canport_t *self, const dd_can_frame_t *frame) {
  assert(self && frame);
  if (!dd_can_frame_valid(frame)) return DD_ECAN_FRAME;
  return self->ops->send(self->impl, frame);
}

int dd_canport_recv(dd_canport_t *self, dd_can_frame_t *frame) {
  assert(self && frame);
  return self->ops->recv(self->impl, frame);
}

int dd_canport_poll_fd(dd_canport_t *self) {
  assert(self);
  return self->ops->poll_fd ? self->ops->poll_fd(self->impl) : -1;
}

void *dd_canport_poll_zsock(dd_canport_t *self) {
  assert(self);
  return self->ops->poll_zsock ? self->ops->poll_zsock(self->impl) : NULL;
}

const char *dd_canport_kind(const dd_canport_t *self) { return self->ops->kind; }
void *dd_canport_impl(dd_canport_t *self) { return self->impl; }
