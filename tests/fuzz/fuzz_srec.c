/* fuzz_srec: reads arbitrary bytes as Motorola S-records; whatever is accepted must write back
 * and read again to the same image, header and entry point. */
#include <stdlib.h>
#include <string.h>

#include "dd_err.h"
#include "dd_fuzz.h"
#include "dd_image.h"
#include "dd_srec.h"

static void s_roundtrip(const dd_image_t *img, const dd_srec_opts_t *o) {
  char *text = NULL;
  size_t len = 0;
  if (dd_srec_write(img, o, &text, &len) != 0) abort();
  if (strlen(text) != len) abort();
  dd_image_t *back = dd_image_new();
  if (!back) abort();
  if (dd_srec_read(text, len, "again", back, NULL, 0) != 0) abort();
  if (!dd_image_equal(img, back)) abort();
  uint32_t e1 = 0, e2 = 0;
  (void)dd_image_entry(img, &e1);
  if (!dd_image_entry(back, &e2) || e1 != e2) abort();
  const uint8_t *h1 = NULL, *h2 = NULL;
  size_t n1 = dd_image_header(img, &h1), n2 = dd_image_header(back, &h2);
  if (n1 != n2 || memcmp(h1, h2, n1) != 0) abort();
  dd_image_destroy(&back);
  free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  dd_image_t *img = dd_image_new();
  if (!img) return 0;
  char why[DD_IMAGE_WHY_MAX];
  int rc = dd_srec_read((const char *)data, size, "fuzz.srec", img, why, sizeof why);
  if (rc != 0) {
    if (rc != DD_EILSEQ && rc != DD_EEXIST && rc != DD_ERANGE && rc != DD_ENOMEM) abort();
    if (strncmp(why, "fuzz.srec:", 10) != 0) abort(); /* every message names the input */
    dd_image_destroy(&img);
    return 0;
  }
  /* a termination record always sets the entry point */
  if (!dd_image_entry(img, NULL)) abort();
  uint64_t prev_end = 0;
  for (size_t i = 0; i < dd_image_region_count(img); i++) {
    dd_image_region_t r = dd_image_region(img, i);
    if (r.len == 0 || (i > 0 && r.addr <= prev_end)) abort();
    prev_end = (uint64_t)r.addr + r.len;
    if (prev_end > DD_IMAGE_ADDR_END) abort();
  }
  dd_srec_opts_t fewest = {.record_len = size ? 1u + data[0] % 250u : 16u, .count = true};
  dd_srec_opts_t s3 = {.record_len = 16, .addr_bytes = 4, .crlf = true};
  s_roundtrip(img, &fewest);
  s_roundtrip(img, &s3);
  dd_image_destroy(&img);
  return 0;
}
