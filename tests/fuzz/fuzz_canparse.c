/* fuzz_canparse: can-utils frame text and pcap CAN records; whatever parses must be a valid
 * frame that survives format/parse and encode/decode, and whose bit count stays in bounds. */
#include <stdlib.h>
#include <string.h>

#include "dd_can.h"
#include "dd_canbits.h"
#include "dd_err.h"
#include "dd_fuzz.h"
#include "dd_pcap.h"

static void s_check_frame(const dd_can_frame_t *f) {
  if (!dd_can_frame_valid(f)) abort();
  char text[DD_CAN_TEXT_MAX];
  dd_can_format(f, text, sizeof text);
  dd_can_frame_t g;
  if (dd_can_parse(text, &g) != 0 || !dd_can_frame_equal(f, &g)) abort();

  uint8_t rec[DD_PCAP_CANFD_RECORD];
  int n = dd_pcap_encode(f, rec);
  if (n < 0 || dd_pcap_decode(rec, (size_t)n, &g) != 0 || !dd_can_frame_equal(f, &g)) abort();

  dd_canbits_t b = dd_canbits_count(f), w = dd_canbits_worst_case(f);
  if (b.stuff_bits > w.stuff_bits || dd_canbits_total(&b) > dd_canbits_total(&w)) abort();
  uint8_t bits[DD_CANBITS_MAX];
  if (dd_canbits_encode(f, bits, sizeof bits) != dd_canbits_total(&b)) abort();
  if (dd_canbits_total(&w) > DD_CANBITS_MAX) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  dd_can_frame_t f;
  int rc = dd_can_parse_n((const char *)data, size, &f);
  if (rc == 0)
    s_check_frame(&f);
  else if (rc != DD_EILSEQ)
    abort();

  char *text = malloc(size + 1);
  if (!text) return 0;
  memcpy(text, data, size);
  text[size] = '\0';
  rc = dd_can_parse(text, &f);
  free(text);
  if (rc == 0)
    s_check_frame(&f);
  else if (rc != DD_EILSEQ)
    abort();

  rc = dd_pcap_decode(data, size, &f);
  if (rc == 0)
    s_check_frame(&f);
  else if (rc != DD_EILSEQ && rc != DD_ENOTSUP)
    abort();
  return 0;
}
