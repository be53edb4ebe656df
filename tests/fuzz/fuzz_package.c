/* fuzz_package: parses arbitrary bytes as a programming package (outside input); whatever is
 * accepted must be self-consistent, verify to a known set of codes, walk as a UDS download, and
 * rebuild from its own contents (signed with the TEST key) to a package that verifies. */
#include <stdlib.h>
#include <string.h>

#include "dd_err.h"
#include "dd_fuzz.h"
#include "dd_image.h"
#include "dd_package.h"

/* SHA-256("duodiag TEST signing key - for simulations only"), the seed of
 * ecu_models/keys/test-signing.key, so that seeds signed with the TEST key verify. */
static const uint8_t s_seed[32] = {0x9c, 0x82, 0x9e, 0x86, 0x44, 0xd7, 0x28, 0xa5, 0xc2, 0x31, 0x56,
                                   0x2b, 0x9d, 0x5b, 0xff, 0x43, 0x39, 0x67, 0x3d, 0xda, 0xa8, 0xbf,
                                   0x4b, 0x97, 0xad, 0x13, 0x14, 0x8b, 0x99, 0x6a, 0x17, 0x33};

static void s_walk(const dd_package_t *pkg, uint32_t mbl) {
  const dd_package_info_t *info = dd_package_info(pkg);
  dd_package_dl_t dl;
  dd_package_dl_init(&dl, pkg);
  dd_package_dl_request_t req;
  size_t regions = 0;
  uint64_t bytes = 0;
  while (dd_package_dl_next_request(&dl, &req)) {
    dd_package_region_t r = dd_package_region(pkg, req.region);
    if (req.region != regions || req.addr != r.addr || req.len != r.len) abort();
    if (dd_package_dl_start(&dl, mbl) != 0) abort();
    dd_package_dl_chunk_t c;
    uint32_t k = 0, off = 0;
    while (dd_package_dl_next_chunk(&dl, &c)) {
      if (c.len == 0 || c.len > mbl - 2 || c.bsc != (uint8_t)(k + 1) || c.seq != k) abort();
      if (c.addr != r.addr + off || c.data != r.data + off) abort();
      if (c.last != (off + c.len == r.len)) abort();
      off += c.len;
      k++;
    }
    if (off != r.len || k != dd_package_dl_chunks(r.len, mbl)) abort();
    bytes += off;
    regions++;
  }
  if (regions != info->region_count || bytes != info->data_len || !dd_package_dl_done(&dl)) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  dd_package_t *pkg = NULL;
  char why[DD_PACKAGE_WHY_MAX];
  int rc = dd_package_parse(data, size, &pkg, why, sizeof why);
  if (rc != 0) {
    if (pkg || (rc != DD_EILSEQ && rc != DD_ENOTSUP && rc != DD_ENOMEM) || !why[0]) abort();
    return 0;
  }
  const dd_package_info_t *info = dd_package_info(pkg);
  size_t len = 0;
  const uint8_t *bytes = dd_package_bytes(pkg, &len);
  if (len != size || memcmp(bytes, data, size) != 0) abort();
  uint64_t sum = 0;
  for (size_t i = 0; i < info->region_count; i++) {
    dd_package_region_t r = dd_package_region(pkg, i);
    if (r.data < bytes || r.data + r.len > bytes + len) abort();
    sum += r.len;
  }
  if (sum != info->data_len) abort();

  uint8_t pk[32], sk[64];
  if (dd_package_keypair_from_seed(s_seed, pk, sk) != 0) abort();
  dd_package_target_t own = {
      .ecu_name = info->ecu_name, .can_id = info->can_id, .hw_part = info->hw_part};
  int vrc = dd_package_verify(pkg, pk, &own, why, sizeof why);
  if (vrc != 0 && vrc != DD_ESIGNATURE && vrc != DD_ECRC) abort(); /* never ETARGET here */

  s_walk(pkg, 3u + (size ? data[size - 1] : 0u) * 7u);

  /* rebuild from the contents: Ed25519 is deterministic, so an authentic input comes back
   * byte for byte */
  dd_image_t *img = NULL;
  if (dd_package_to_image(pkg, &img) != 0) abort();
  dd_package_meta_t meta = {.package_id = info->package_id,
                            .target = own,
                            .sw_version = info->sw_version,
                            .created_at = info->created_at};
  uint8_t *again = NULL;
  size_t again_len = 0;
  /* (touching regions merge in the image: the rebuilt package is never larger) */
  if (dd_package_build(img, &meta, sk, &again, &again_len) != 0) abort();
  dd_package_t *p2 = NULL;
  if (dd_package_open(again, again_len, pk, &own, &p2, why, sizeof why) != 0) abort();
  if (vrc == 0 && (again_len != size || memcmp(again, data, size) != 0)) abort();
  dd_package_destroy(&p2);
  free(again);
  dd_image_destroy(&img);
  dd_package_destroy(&pkg);
  return 0;
}
