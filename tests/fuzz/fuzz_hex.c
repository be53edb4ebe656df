/* fuzz_hex: reads arbitrary bytes as Intel HEX; whatever is accepted must write back and read
 * again to the same image and entry point, in both address modes. */
#include <stdlib.h>
#include <string.h>

#include "dd_err.h"
#include "dd_fuzz.h"
#include "dd_hex.h"
#include "dd_image.h"

static void s_roundtrip(const dd_image_t *img, const dd_hex_opts_t *o) {
  char *text = NULL;
  size_t len = 0;
  if (dd_hex_write(img, o, &text, &len) != 0) abort();
  if (strlen(text) != len) abort();
  dd_image_t *back = dd_image_new();
  if (!back) abort();
  if (dd_hex_read(text, len, "again", back, NULL, 0) != 0) abort();
  if (!dd_image_equal(img, back)) abort();
  uint32_t e1 = 0, e2 = 0;
  if (dd_image_entry(img, &e1) != dd_image_entry(back, &e2) || e1 != e2) abort();
  dd_image_destroy(&back);
  free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  dd_image_t *img = dd_image_new();
  if (!img) return 0;
  char why[DD_IMAGE_WHY_MAX];
  int rc = dd_hex_read((const char *)data, size, "fuzz.hex", img, why, sizeof why);
  if (rc != 0) {
    if (rc != DD_EILSEQ && rc != DD_EEXIST && rc != DD_ERANGE && rc != DD_ENOMEM) abort();
    if (strncmp(why, "fuzz.hex:", 9) != 0) abort(); /* every message names the input */
    dd_image_destroy(&img);
    return 0;
  }
  /* the regions are sorted, disjoint and never touch */
  uint64_t prev_end = 0, total = 0;
  for (size_t i = 0; i < dd_image_region_count(img); i++) {
    dd_image_region_t r = dd_image_region(img, i);
    if (r.len == 0 || (i > 0 && r.addr <= prev_end)) abort();
    prev_end = (uint64_t)r.addr + r.len;
    if (prev_end > DD_IMAGE_ADDR_END) abort();
    total += r.len;
  }
  if (total != dd_image_size(img) || total > size / 2) abort();
  unsigned rl = size ? 1u + data[0] % 255u : 16u;
  dd_hex_opts_t lin = {.record_len = rl, .mode = DD_HEX_ADDR_LINEAR};
  dd_hex_opts_t seg = {.record_len = 16, .crlf = true, .mode = DD_HEX_ADDR_SEGMENT};
  s_roundtrip(img, &lin);
  s_roundtrip(img, &seg);
  dd_image_destroy(&img);
  return 0;
}
