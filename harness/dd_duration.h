/* dd_duration: durations written with a unit ("250ms", "1.5s", "2m", "1m30s", "500us") read as
 * whole microseconds, and written back in the shortest exact form. */
#ifndef DD_DURATION_H
#define DD_DURATION_H

#include <stddef.h>
#include <stdint.h>

/* Longest duration accepted: 1000 days. Sums of a few such values never overflow uint64_t. */
#define DD_DURATION_MAX_US (1000ull * 86400ull * 1000000ull)
/* Size of a "why" buffer that always holds the whole message. */
#define DD_DURATION_WHY_MAX 160
/* Size of a buffer that always holds dd_duration_format()'s output. */
#define DD_DURATION_FMT_MAX 32

/* Parse text (NUL-terminated), one or more "NUMBER UNIT" groups written together with units in
 * decreasing order ("1m30s", "1h2m3.5s"). NUMBER is digits with an optional fraction
 * ("1.5"); UNIT is one of us, µs, ms, s, m (minutes), min, h. The result must be a whole number
 * of microseconds, at most DD_DURATION_MAX_US.
 * Returns 0 with *out_us set, or DD_EINVAL with one line in why (cap bytes; may be NULL) that
 * quotes the text and says what to write instead, e.g.
 *   "250 ms" is not a duration (write 250ms)
 *   "250" has no unit (write 250ms or 250s)            */
int dd_duration_parse(const char *text, uint64_t *out_us, char *why, size_t cap);

/* Write us as the shortest text dd_duration_parse() reads back to the same value: "0s", "500us",
 * "1.5ms", "250ms", "1.5s", "90s", "2m", "1h". Returns the length written (snprintf rules). */
int dd_duration_format(uint64_t us, char *buf, size_t cap);

#endif
