/* fuzz_wire: decodes arbitrary bytes as an envelope; whatever is accepted must pass the checks,
 * encode again and decode again to the same encoding, and events must render as JSON. */
#include <stdlib.h>
#include <string.h>

#include "dd_err.h"
#include "dd_fuzz.h"
#include "dd_wire.h"

static uint8_t s_buf[DD_WIRE_MAX];  /* first re-encoding */
static uint8_t s_buf2[DD_WIRE_MAX]; /* second re-encoding */

/* The same bytes as a UDP datagram (envelope + CRC-32C trailer): refused or accepted, never a
 * crash; an accepted one is exactly what dd_wire_decode accepts without the trailer. */
static void s_datagram(const uint8_t *data, size_t size) {
  dd_wire_stats_t st;
  dd_wire_stats_init(&st);
  Duodiag__Envelope *env = NULL;
  int rc = dd_wire_decode_datagram(data, size, &env, &st);
  if (rc != 0) {
    if (env || dd_wire_stats_rejected(&st) != 1) abort();
    return;
  }
  Duodiag__Envelope *plain = NULL;
  if (dd_wire_decode(data, size - DD_WIRE_DGRAM_TRAILER, &plain, NULL) != 0) abort();
  dd_wire_free(&plain);
  dd_wire_free(&env);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  s_datagram(data, size);
  dd_wire_stats_t stats;
  dd_wire_stats_init(&stats);
  Duodiag__Envelope *env = NULL;
  int rc = dd_wire_decode(data, size, &env, &stats);
  if (rc != 0) {
    /* a rejection returns one of the wire codes and is counted once */
    if (env || dd_wire_stats_rejected(&stats) != 1 || stats.accepted != 0) abort();
    if (rc != DD_EWIRE_MALFORMED && rc != DD_EWIRE_VERSION && rc != DD_EWIRE_TOO_BIG) abort();
    return 0;
  }
  if (!env || stats.accepted != 1 || dd_wire_check(env, NULL) != 0) abort();
  (void)dd_wire_body_name(env);

  size_t len = 0;
  rc = dd_wire_encode(env, s_buf, sizeof s_buf, &len);
  /* re-encoding may only grow past the limit by widening non-minimal input (e.g. a negative
   * int32 sent as 5 bytes comes back as 10) */
  if (rc != 0 && !(rc == DD_EWIRE_TOO_BIG && len > DD_WIRE_MAX)) abort();
  if (rc == 0) {
    Duodiag__Envelope *again = NULL;
    if (dd_wire_decode(s_buf, len, &again, NULL) != 0) abort();
    size_t len2 = 0;
    if (dd_wire_encode(again, s_buf2, sizeof s_buf2, &len2) != 0) abort();
    if (len2 != len || memcmp(s_buf, s_buf2, len) != 0) abort(); /* canonical after one pass */
    dd_wire_free(&again);
  }

  if (env->body_case == DUODIAG__ENVELOPE__BODY_EVENT) {
    char *json = NULL;
    if (dd_wire_event_to_json(env->event, &json) != 0 || !json) abort();
    free(json);
  }
  dd_wire_free(&env);
  return 0;
}
