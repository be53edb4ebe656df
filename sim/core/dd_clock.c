/* dd_clock: real (CLOCK_MONOTONIC / CLOCK_REALTIME) and manual clocks. This is the only file
 * of the runtime that reads the system clocks. */
#include "dd_clock.h"

#include <assert.h>
#include <time.h>

static uint64_t s_read(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return (uint64_t)ts.tv_sec * DD_US_PER_S + (uint64_t)ts.tv_nsec / 1000u;
}

void dd_clock_init_real(dd_clock_t *self) {
  assert(self);
  *self = (dd_clock_t){.kind = DD_CLOCK_REAL};
}

void dd_clock_init_manual(dd_clock_t *self, uint64_t start_us) {
  assert(self);
  /* Wall time of a manual clock is fixed at construction plus the manual time, so timelines of
   * virtual runs still carry plausible dates. */
  uint64_t wall = s_read(CLOCK_REALTIME);
  *self = (dd_clock_t){.kind = DD_CLOCK_MANUAL, .manual_us = start_us,
                       .wall_base_us = wall - start_us};
}

uint64_t dd_clock_now_us(const dd_clock_t *self) {
  assert(self);
  return self->kind == DD_CLOCK_MANUAL ? self->manual_us : s_read(CLOCK_MONOTONIC);
}

uint64_t dd_clock_wall_us(const dd_clock_t *self) {
  assert(self);
  return self->kind == DD_CLOCK_MANUAL ? self->wall_base_us + self->manual_us
                                       : s_read(CLOCK_REALTIME);
}

bool dd_clock_is_manual(const dd_clock_t *self) { return self->kind == DD_CLOCK_MANUAL; }

void dd_clock_set_us(dd_clock_t *self, uint64_t now_us) {
  assert(self && self->kind == DD_CLOCK_MANUAL);
  if (now_us > self->manual_us) self->manual_us = now_us;
}

void dd_clock_advance_us(dd_clock_t *self, uint64_t delta_us) {
  assert(self && self->kind == DD_CLOCK_MANUAL);
  self->manual_us += delta_us;
}
