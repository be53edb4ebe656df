/* dd_clock: the one source of "now" for a process. Modules read time only through a clock they
 * are given; a manual clock lets tests (and later the virtual-time master) drive time. */
#ifndef DD_CLOCK_H
#define DD_CLOCK_H

#include <stdbool.h>
#include <stdint.h>

#define DD_US_PER_MS 1000ull
#define DD_US_PER_S 1000000ull
#define DD_NEVER UINT64_MAX /* a deadline that never comes */

typedef enum {
  DD_CLOCK_REAL,   /* CLOCK_MONOTONIC; required in HIL */
  DD_CLOCK_MANUAL, /* time moves only when set: unit tests, virtual time */
} dd_clock_kind_t;

typedef struct {
  dd_clock_kind_t kind;  /* real or manual */
  uint64_t manual_us;    /* manual: the current monotonic time */
  uint64_t wall_base_us; /* manual: wall time that corresponds to monotonic 0 */
} dd_clock_t;

void dd_clock_init_real(dd_clock_t *self);
void dd_clock_init_manual(dd_clock_t *self, uint64_t start_us);

/* Monotonic microseconds (real: since boot; manual: as set). */
uint64_t dd_clock_now_us(const dd_clock_t *self);
/* Wall-clock microseconds since the Unix epoch, for humans reading timelines. */
uint64_t dd_clock_wall_us(const dd_clock_t *self);
bool dd_clock_is_manual(const dd_clock_t *self);

/* Manual clocks only; time never goes backwards (an earlier value is ignored). */
void dd_clock_set_us(dd_clock_t *self, uint64_t now_us);
void dd_clock_advance_us(dd_clock_t *self, uint64_t delta_us);

#endif
