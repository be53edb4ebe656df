/* check_package: flash images (regions, CRC-32, sector fill, loading), Ed25519 keys and key
 * files, the signed programming package (layout, tampering, targets) and the UDS download plan. */
#include <check.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dd_err.h"
#include "dd_image.h"
#include "dd_package.h"

/* ---- helpers ---- */

static void s_gen(uint8_t *buf, size_t len, uint32_t x) {
  for (size_t i = 0; i < len; i++) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    buf[i] = (uint8_t)(x >> 24);
  }
}

static void s_unhex(const char *hex, uint8_t *out, size_t n) {
  ck_assert_uint_eq(strlen(hex), 2 * n);
  for (size_t i = 0; i < n; i++) {
    unsigned v;
    ck_assert_int_eq(sscanf(hex + 2 * i, "%2x", &v), 1);
    out[i] = (uint8_t)v;
  }
}

static const char *s_src(void) {
  const char *d = getenv("DD_SOURCE_DIR");
#ifdef DD_SOURCE_DIR
  if (!d) d = DD_SOURCE_DIR;
#endif
  ck_assert_msg(d != NULL, "set DD_SOURCE_DIR to the source tree");
  return d;
}

static const char *s_src_path(const char *rel) {
  static char p[512];
  snprintf(p, sizeof p, "%s/%s", s_src(), rel);
  return p;
}

static char s_dir[64]; /* per-test scratch folder (each test runs in its own process) */

static void s_mkdir(void) {
  snprintf(s_dir, sizeof s_dir, "/tmp/check_package.XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(s_dir));
}

static void s_rmdir(void) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", s_dir);
  ck_assert_int_eq(system(cmd), 0);
}

/* A path in the scratch folder; four calls can be in use at once. */
static const char *s_path(const char *leaf) {
  static char p[4][256];
  static unsigned next;
  char *out = p[next++ % 4];
  snprintf(out, sizeof p[0], "%s/%s", s_dir, leaf);
  return out;
}

static void s_spit(const char *path, const void *data, size_t len) {
  FILE *f = fopen(path, "wb");
  ck_assert_msg(f != NULL, "cannot create %s", path);
  ck_assert_uint_eq(fwrite(data, 1, len, f), len);
  ck_assert_int_eq(fclose(f), 0);
}

/* A fixed key pair for the tests (seed 0x01 0x02 .. 0x20). */
static void s_keys(uint8_t pk[32], uint8_t sk[64]) {
  uint8_t seed[32];
  for (int i = 0; i < 32; i++)
    seed[i] = (uint8_t)(i + 1);
  ck_assert_int_eq(dd_package_keypair_from_seed(seed, pk, sk), 0);
}

static const dd_package_target_t s_ecm = {
    .ecu_name = "ECM", .can_id = 0x7E0, .hw_part = "84512307AB"};

static dd_package_meta_t s_meta(void) {
  return (dd_package_meta_t){.package_id = "ecm-S19.05.0-0001",
                             .target = s_ecm,
                             .sw_version = "S19.05.0",
                             .created_at = 1700000000u};
}

/* Two regions: 40 bytes at 0x00080000 and 24 bytes at 0x00090000. */
static dd_image_t *s_small_image(void) {
  dd_image_t *img = dd_image_new();
  uint8_t a[40], b[24];
  s_gen(a, sizeof a, 11);
  s_gen(b, sizeof b, 22);
  ck_assert_int_eq(dd_image_add(img, 0x00080000u, a, sizeof a), 0);
  ck_assert_int_eq(dd_image_add(img, 0x00090000u, b, sizeof b), 0);
  return img;
}

static uint8_t *s_build(const dd_image_t *img, const dd_package_meta_t *meta, size_t *len) {
  uint8_t pk[32], sk[64];
  s_keys(pk, sk);
  uint8_t *bytes = NULL;
  ck_assert_int_eq(dd_package_build(img, meta, sk, &bytes, len), 0);
  ck_assert_ptr_nonnull(bytes);
  return bytes;
}

/* parse + verify with the test key and s_ecm; returns the code, why in why. */
static int s_check(const uint8_t *bytes, size_t len, const dd_package_target_t *target, char *why) {
  uint8_t pk[32], sk[64];
  s_keys(pk, sk);
  dd_package_t *pkg = NULL;
  int rc = dd_package_open(bytes, len, pk, target ? target : &s_ecm, &pkg, why, DD_PACKAGE_WHY_MAX);
  ck_assert(rc == 0 ? pkg != NULL : pkg == NULL);
  dd_package_destroy(&pkg);
  return rc;
}

static uint32_t s_be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void s_put_be32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

/* ==== images ==== */

/* CRC-32 check value "123456789" -> 0xCBF43926 (the CRC catalogue's CRC-32/ISO-HDLC entry);
 * the others were computed with Python's zlib.crc32. */
START_TEST(test_crc32) {
  ck_assert_uint_eq(dd_image_crc32_update(0, "123456789", 9), 0xCBF43926u);
  ck_assert_uint_eq(dd_image_crc32_update(0, "", 0), 0);
  ck_assert_uint_eq(dd_image_crc32_update(0, "a", 1), 0xE8B7BE43u);
  uint8_t b[1024];
  for (size_t i = 0; i < sizeof b; i++)
    b[i] = (uint8_t)i;
  ck_assert_uint_eq(dd_image_crc32_update(0, b, sizeof b), 0xB70B4C26u);
  /* continued CRCs equal one pass */
  uint32_t c = dd_image_crc32_update(0, b, 100);
  c = dd_image_crc32_update(c, b + 100, sizeof b - 100);
  ck_assert_uint_eq(c, 0xB70B4C26u);
  /* an image's CRC runs over its regions' data in address order */
  dd_image_t *img = dd_image_new();
  ck_assert_int_eq(dd_image_add(img, 0x5000, (const uint8_t *)"56789", 5), 0);
  ck_assert_int_eq(dd_image_add(img, 0x1000, (const uint8_t *)"1234", 4), 0);
  ck_assert_uint_eq(dd_image_crc32(img), 0xCBF43926u);
  dd_image_destroy(&img);
}
END_TEST

START_TEST(test_image_merge) {
  uint8_t d[0x200];
  s_gen(d, sizeof d, 5);
  dd_image_t *img = dd_image_new();
  ck_assert_uint_eq(dd_image_region_count(img), 0);
  ck_assert_int_eq(dd_image_add(img, 0x110, d + 0x20, 16), 0);
  ck_assert_int_eq(dd_image_add(img, 0x120, d + 0x30, 16), 0); /* appends */
  ck_assert_int_eq(dd_image_add(img, 0x100, d + 0x10, 16), 0); /* prepends */
  ck_assert_uint_eq(dd_image_region_count(img), 1);
  ck_assert_int_eq(dd_image_add(img, 0x200, d + 0x110, 8), 0); /* separate */
  ck_assert_int_eq(dd_image_add(img, 0x0F0, d, 8), 0);         /* separate, before */
  ck_assert_uint_eq(dd_image_region_count(img), 3);
  uint32_t at = 0;
  ck_assert_uint_eq(dd_image_gap(img, 0, &at), 8);
  ck_assert_uint_eq(at, 0xF8);
  ck_assert_uint_eq(dd_image_gap(img, 1, &at), 0x200 - 0x130);
  ck_assert_uint_eq(at, 0x130);
  /* bridging both gaps merges everything into one region */
  ck_assert_int_eq(dd_image_add(img, 0x130, d + 0x40, 0xD0), 0);
  ck_assert_int_eq(dd_image_add(img, 0x0F8, d + 8, 8), 0);
  ck_assert_uint_eq(dd_image_region_count(img), 1);
  dd_image_region_t r = dd_image_region(img, 0);
  ck_assert_uint_eq(r.addr, 0xF0);
  ck_assert_uint_eq(r.len, 0x118);
  ck_assert_mem_eq(r.data, d, 0x118);
  ck_assert_uint_eq(dd_image_size(img), 0x118);
  uint8_t buf[16];
  ck_assert_int_eq(dd_image_read(img, 0x100, buf, 16), 0);
  ck_assert_mem_eq(buf, d + 0x10, 16);
  ck_assert_int_eq(dd_image_read(img, 0x200, buf, 9), DD_ENOENT); /* runs past the end */
  ck_assert_int_eq(dd_image_read(img, 0xE0, buf, 1), DD_ENOENT);
  dd_image_destroy(&img);
  ck_assert_ptr_null(img);
  dd_image_destroy(&img); /* destroying NULL is fine */
}
END_TEST

START_TEST(test_image_overlap_and_range) {
  uint8_t d[0x1000];
  s_gen(d, sizeof d, 9);
  dd_image_t *img = dd_image_new();
  ck_assert_int_eq(dd_image_add(img, 0x100, d, 16), 0);
  ck_assert_int_eq(dd_image_add(img, 0x200, d, 16), 0);
  uint32_t first = 0;
  ck_assert_int_eq(dd_image_add(img, 0x108, d, 16), DD_EEXIST);
  ck_assert(dd_image_overlaps(img, 0x108, 16, &first));
  ck_assert_uint_eq(first, 0x108);
  ck_assert_int_eq(dd_image_add(img, 0xF8, d, 16), DD_EEXIST);
  ck_assert(dd_image_overlaps(img, 0xF8, 16, &first));
  ck_assert_uint_eq(first, 0x100);
  ck_assert_int_eq(dd_image_add(img, 0x0, d, 0x1000), DD_EEXIST);
  ck_assert_int_eq(dd_image_add(img, 0x1FF, d, 2), DD_EEXIST);
  ck_assert(!dd_image_overlaps(img, 0x110, 0xF0, NULL)); /* exactly the gap */
  ck_assert(!dd_image_overlaps(img, 0x100, 0, NULL));
  /* failed adds changed nothing */
  ck_assert_uint_eq(dd_image_region_count(img), 2);
  ck_assert_uint_eq(dd_image_size(img), 32);
  ck_assert_int_eq(dd_image_add(img, 0x300, d, 0), DD_EINVAL);
  ck_assert_int_eq(dd_image_add(img, 0xFFFFFFF0u, d, 17), DD_ERANGE);
  ck_assert_int_eq(dd_image_add(img, 0xFFFFFFF0u, d, 16), 0); /* ends exactly at 2^32 */
  ck_assert(dd_image_overlaps(img, 0xFFFFFFFFu, 1, &first));
  ck_assert_uint_eq(first, 0xFFFFFFFFu);
  dd_image_destroy(&img);
}
END_TEST

START_TEST(test_image_fill_sectors) {
  uint8_t d[0x20];
  s_gen(d, sizeof d, 3);
  dd_image_t *img = dd_image_new();
  ck_assert_int_eq(dd_image_add(img, 0x1003, d, 5), 0);
  ck_assert_int_eq(dd_image_add(img, 0x1FF0, d, 0x20), 0); /* crosses 0x2000 */
  ck_assert_int_eq(dd_image_add(img, 0x5000, d, 1), 0);
  ck_assert_int_eq(dd_image_fill_sectors(img, 0, 0xFF), DD_EINVAL);
  ck_assert_int_eq(dd_image_fill_sectors(img, 0x1800, 0xFF), DD_EINVAL);
  ck_assert_uint_eq(dd_image_region_count(img), 3);
  ck_assert_int_eq(dd_image_fill_sectors(img, 0x1000, 0xFF), 0);
  ck_assert_uint_eq(dd_image_region_count(img), 2);
  dd_image_region_t r = dd_image_region(img, 0);
  ck_assert_uint_eq(r.addr, 0x1000);
  ck_assert_uint_eq(r.len, 0x2000);
  for (size_t i = 0; i < r.len; i++) {
    uint32_t a = 0x1000 + (uint32_t)i;
    if (a >= 0x1003 && a < 0x1008)
      ck_assert_uint_eq(r.data[i], d[a - 0x1003]);
    else if (a >= 0x1FF0 && a < 0x2010)
      ck_assert_uint_eq(r.data[i], d[a - 0x1FF0]);
    else
      ck_assert_uint_eq(r.data[i], 0xFF);
  }
  r = dd_image_region(img, 1);
  ck_assert_uint_eq(r.addr, 0x5000);
  ck_assert_uint_eq(r.len, 0x1000);
  ck_assert_uint_eq(r.data[0], d[0]);
  ck_assert_uint_eq(r.data[1], 0xFF);
  /* already aligned: nothing changes; a bigger sector merges the two */
  ck_assert_int_eq(dd_image_fill_sectors(img, 0x1000, 0xFF), 0);
  ck_assert_uint_eq(dd_image_size(img), 0x3000);
  ck_assert_int_eq(dd_image_fill_sectors(img, 0x4000, 0x00), 0);
  ck_assert_uint_eq(dd_image_region_count(img), 1);
  r = dd_image_region(img, 0);
  ck_assert_uint_eq(r.addr, 0);
  ck_assert_uint_eq(r.len, 0x8000);
  ck_assert_uint_eq(r.data[0x3000], 0x00); /* the gap in the shared sector: new fill */
  ck_assert_uint_eq(r.data[0x1000], 0xFF);
  /* the top of the address space */
  ck_assert_int_eq(dd_image_add(img, 0xFFFFFFF0u, d, 8), 0);
  ck_assert_int_eq(dd_image_fill_sectors(img, 0x100, 0xFF), 0);
  r = dd_image_region(img, 1);
  ck_assert_uint_eq(r.addr, 0xFFFFFF00u);
  ck_assert_uint_eq(r.len, 0x100);
  /* adding after a fill still works (the region array was replaced) */
  ck_assert_int_eq(dd_image_add(img, 0x10000, d, 4), 0);
  ck_assert_uint_eq(dd_image_region_count(img), 3);
  dd_image_destroy(&img);
}
END_TEST

START_TEST(test_image_formats) {
  ck_assert_int_eq(dd_image_format_from_name("a.hex"), DD_IMAGE_FMT_IHEX);
  ck_assert_int_eq(dd_image_format_from_name("dir/A.IHEX"), DD_IMAGE_FMT_IHEX);
  ck_assert_int_eq(dd_image_format_from_name("x.ihx"), DD_IMAGE_FMT_IHEX);
  static const char *const srec[] = {"x.s19", "x.S28", "x.s37", "x.srec", "x.mot", "x.s"};
  for (size_t i = 0; i < sizeof srec / sizeof srec[0]; i++)
    ck_assert_int_eq(dd_image_format_from_name(srec[i]), DD_IMAGE_FMT_SREC);
  ck_assert_int_eq(dd_image_format_from_name("x.bin"), DD_IMAGE_FMT_AUTO);
  ck_assert_int_eq(dd_image_format_from_name("d.hex/file"), DD_IMAGE_FMT_AUTO);
  ck_assert_int_eq(dd_image_format_from_name(".hex"), DD_IMAGE_FMT_AUTO);
  ck_assert_int_eq(dd_image_format_from_name(NULL), DD_IMAGE_FMT_AUTO);
  ck_assert_int_eq(dd_image_format_sniff(" \r\n:00000001FF", 15), DD_IMAGE_FMT_IHEX);
  ck_assert_int_eq(dd_image_format_sniff("S9030000FC", 10), DD_IMAGE_FMT_SREC);
  ck_assert_int_eq(dd_image_format_sniff("Sx", 2), DD_IMAGE_FMT_AUTO);
  ck_assert_int_eq(dd_image_format_sniff("S", 1), DD_IMAGE_FMT_AUTO);
  ck_assert_int_eq(dd_image_format_sniff("", 0), DD_IMAGE_FMT_AUTO);
  ck_assert_str_eq(dd_image_format_name(DD_IMAGE_FMT_IHEX), "ihex");
  ck_assert_str_eq(dd_image_format_name(DD_IMAGE_FMT_SREC), "srec");
  ck_assert_str_eq(dd_image_format_name(DD_IMAGE_FMT_AUTO), "auto");
}
END_TEST

START_TEST(test_image_load_and_save) {
  char why[DD_IMAGE_WHY_MAX];
  dd_image_t *hex = NULL, *srec = NULL, *img = NULL;
  ck_assert_int_eq(
      dd_image_load(s_src_path("ecu_models/images/engine-app-v2.hex"), &hex, why, sizeof why), 0);
  ck_assert_int_eq(
      dd_image_load(s_src_path("ecu_models/images/abs-app-v2.s28"), &srec, why, sizeof why), 0);
  ck_assert_uint_eq(dd_image_size(hex), 0x8000);
  ck_assert_uint_eq(dd_image_size(srec), 0x4000);
  s_mkdir();
  /* unknown extension: the content decides */
  ck_assert_int_eq(dd_image_save(hex, s_path("e.hex"), DD_IMAGE_FMT_AUTO), 0);
  ck_assert_int_eq(dd_image_save(srec, s_path("a.txt"), DD_IMAGE_FMT_SREC), 0);
  ck_assert_int_eq(dd_image_save(srec, s_path("a.bin"), DD_IMAGE_FMT_AUTO), DD_ENOTSUP);
  ck_assert_int_eq(rename(s_path("e.hex"), s_path("e.data")), 0);
  ck_assert_int_eq(dd_image_load(s_path("e.data"), &img, why, sizeof why), 0);
  ck_assert(dd_image_equal(img, hex));
  dd_image_destroy(&img);
  ck_assert_int_eq(dd_image_load(s_path("a.txt"), &img, why, sizeof why), 0);
  ck_assert(dd_image_equal(img, srec));
  dd_image_destroy(&img);
  /* the extension wins over the content, with the reader's message */
  ck_assert_int_eq(rename(s_path("a.txt"), s_path("a.hex")), 0);
  ck_assert_int_eq(dd_image_load(s_path("a.hex"), &img, why, sizeof why), DD_EILSEQ);
  ck_assert_ptr_null(img);
  char expect[DD_IMAGE_WHY_MAX];
  snprintf(expect, sizeof expect, "%s:1: expected ':' at the start of a record, found 'S'",
           s_path("a.hex"));
  ck_assert_str_eq(why, expect);
  /* neither format */
  s_spit(s_path("junk.txt"), "hello\n", 6);
  ck_assert_int_eq(dd_image_load(s_path("junk.txt"), &img, why, sizeof why), DD_ENOTSUP);
  snprintf(expect, sizeof expect, "%s: neither Intel HEX nor S-records", s_path("junk.txt"));
  ck_assert_str_eq(why, expect);
  /* no file */
  ck_assert_int_eq(dd_image_load(s_path("none.hex"), &img, why, sizeof why), -ENOENT);
  snprintf(expect, sizeof expect, "%s: No such file or directory", s_path("none.hex"));
  ck_assert_str_eq(why, expect);
  /* parsing text directly */
  ck_assert_int_eq(
      dd_image_parse(":00000001FF\n", 12, NULL, DD_IMAGE_FMT_AUTO, &img, why, sizeof why), 0);
  ck_assert_uint_eq(dd_image_region_count(img), 0);
  dd_image_destroy(&img);
  s_rmdir();
  dd_image_destroy(&hex);
  dd_image_destroy(&srec);
}
END_TEST

/* ==== keys and signatures ==== */

/* RFC 8032 section 7.1, TEST 1: the empty message. */
START_TEST(test_rfc8032_test1) {
  uint8_t seed[32], pk_rfc[32], sig_rfc[64], pk[32], sk[64], sig[64];
  s_unhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60", seed, 32);
  s_unhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", pk_rfc, 32);
  s_unhex("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e"
          "39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
          sig_rfc, 64);
  ck_assert_int_eq(dd_package_keypair_from_seed(seed, pk, sk), 0);
  ck_assert_mem_eq(pk, pk_rfc, 32);
  ck_assert_mem_eq(sk, seed, 32);
  ck_assert_int_eq(dd_package_sign(NULL, 0, sk, sig), 0);
  ck_assert_mem_eq(sig, sig_rfc, 64);
  ck_assert(dd_package_sign_check(NULL, 0, sig_rfc, pk_rfc));
  sig[63] ^= 0x01;
  ck_assert(!dd_package_sign_check(NULL, 0, sig, pk_rfc));
  ck_assert(!dd_package_sign_check((const uint8_t *)"x", 1, sig_rfc, pk_rfc));
  /* key id: SHA-256 of the public key, first 8 bytes (value from Python's hashlib) */
  uint8_t id[8], want[8];
  ck_assert_int_eq(dd_package_key_id(pk_rfc, id), 0);
  s_unhex("21fe31dfa154a261", want, 8);
  ck_assert_mem_eq(id, want, 8);
}
END_TEST

START_TEST(test_test_key_files) {
  uint8_t sk[64], pk[32], pk_file[32], seed[32];
  char why[DD_PACKAGE_WHY_MAX];
  int rc = dd_package_secret_key_load(s_src_path("ecu_models/keys/test-signing.key"), sk, why,
                                      sizeof why);
  ck_assert_msg(rc == 0, "%s", why);
  rc = dd_package_key_load(s_src_path("ecu_models/keys/test-signing.pub"), DD_PACKAGE_KEY_PUBLIC,
                           pk_file, why, sizeof why);
  ck_assert_msg(rc == 0, "%s", why);
  ck_assert_mem_eq(sk + 32, pk_file, 32); /* the public file belongs to the secret one */
  /* the seed is SHA-256 of the documented phrase (value from Python's hashlib) */
  s_unhex("9c829e8644d728a5c231562b9d5bff4339673ddaa8bf4b97ad13148b996a1733", seed, 32);
  ck_assert_mem_eq(sk, seed, 32);
  ck_assert_int_eq(dd_package_keypair_from_seed(seed, pk, sk), 0);
  ck_assert_mem_eq(pk, pk_file, 32);
  uint8_t id[8], want[8];
  ck_assert_int_eq(dd_package_key_id(pk, id), 0);
  s_unhex("bdf4a28cbc4347e2", want, 8);
  ck_assert_mem_eq(id, want, 8);
  /* asking for the wrong kind is a clear error */
  uint8_t k[32];
  rc = dd_package_key_load(s_src_path("ecu_models/keys/test-signing.pub"), DD_PACKAGE_KEY_SECRET, k,
                           why, sizeof why);
  ck_assert_int_eq(rc, DD_EILSEQ);
  ck_assert_ptr_nonnull(strstr(why, "test-signing.pub:4: this is an ed25519-public key, "
                                    "expected an ed25519-secret key"));
}
END_TEST

START_TEST(test_key_text) {
  uint8_t key[32], back[32];
  s_gen(key, sizeof key, 77);
  char buf[512];
  int n = dd_package_key_format(DD_PACKAGE_KEY_PUBLIC, key, "line one\nline two", buf, sizeof buf);
  ck_assert_int_gt(n, 0);
  ck_assert_uint_eq((size_t)n, strlen(buf));
  ck_assert(strncmp(buf, "# line one\n# line two\ned25519-public ", 37) == 0);
  ck_assert_int_eq(dd_package_key_format(DD_PACKAGE_KEY_PUBLIC, key, NULL, buf, 80), DD_ENOSPC);
  n = dd_package_key_format(DD_PACKAGE_KEY_PUBLIC, key, "line one\nline two", buf, sizeof buf);
  char why[DD_PACKAGE_WHY_MAX];
  ck_assert_int_eq(
      dd_package_key_parse(DD_PACKAGE_KEY_PUBLIC, buf, (size_t)n, "k", back, why, sizeof why), 0);
  ck_assert_mem_eq(back, key, 32);
  static const struct {
    const char *text; /* key file text */
    const char *why;  /* expected message */
  } bad[] = {
      {"", "k.pub: no \"ed25519-public\" key line"},
      {"# only a comment\n\n", "k.pub: no \"ed25519-public\" key line"},
      {"ed25519-public 00\n", "k.pub:1: 2 hex digits, a key has 64 (32 bytes)"},
      {"\ned25519-public 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeg\n",
       "k.pub:2: 'g' at column 79 is not a hex digit"},
      {"ed25519-secret 00\n",
       "k.pub:1: this is an ed25519-secret key, expected an ed25519-public key"},
      {"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n",
       "k.pub:1: expected \"ed25519-public <64 hex digits>\""},
      {"ed25519-public\n", "k.pub:1: expected \"ed25519-public <64 hex digits>\""},
      {"ed25519-public 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n"
       "ed25519-public 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n",
       "k.pub:2: a second key line (the first is line 1)"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    int rc = dd_package_key_parse(DD_PACKAGE_KEY_PUBLIC, bad[i].text, strlen(bad[i].text), "k.pub",
                                  back, why, sizeof why);
    ck_assert_msg(rc == DD_EILSEQ, "case %zu", i);
    ck_assert_str_eq(why, bad[i].why);
  }
  /* indentation, CRLF and upper case are fine */
  static const char ok[] =
      "  ed25519-public\t0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef \r\n";
  ck_assert_int_eq(dd_package_key_parse(DD_PACKAGE_KEY_PUBLIC, ok, strlen(ok), NULL, back, NULL, 0),
                   0);
  ck_assert_uint_eq(back[0], 0x01);
  ck_assert_uint_eq(back[7], 0xEF);
  /* save and load: secret files are private to their owner */
  s_mkdir();
  ck_assert_int_eq(dd_package_key_save(s_path("k.key"), DD_PACKAGE_KEY_SECRET, key, "TEST"), 0);
  struct stat st;
  ck_assert_int_eq(stat(s_path("k.key"), &st), 0);
  ck_assert_uint_eq(st.st_mode & 0777, 0600);
  ck_assert_int_eq(
      dd_package_key_load(s_path("k.key"), DD_PACKAGE_KEY_SECRET, back, why, sizeof why), 0);
  ck_assert_mem_eq(back, key, 32);
  ck_assert_int_eq(
      dd_package_key_load(s_path("nope"), DD_PACKAGE_KEY_SECRET, back, why, sizeof why), -ENOENT);
  s_rmdir();
  /* random key pairs differ and work */
  uint8_t pk1[32], sk1[64], pk2[32], sk2[64], sig[64];
  ck_assert_int_eq(dd_package_keypair(pk1, sk1), 0);
  ck_assert_int_eq(dd_package_keypair(pk2, sk2), 0);
  ck_assert(memcmp(pk1, pk2, 32) != 0);
  ck_assert_int_eq(dd_package_sign((const uint8_t *)"abc", 3, sk1, sig), 0);
  ck_assert(dd_package_sign_check((const uint8_t *)"abc", 3, sig, pk1));
  ck_assert(!dd_package_sign_check((const uint8_t *)"abc", 3, sig, pk2));
}
END_TEST

/* ==== packages ==== */

START_TEST(test_layout) {
  dd_image_t *img = s_small_image();
  dd_package_meta_t meta = s_meta();
  size_t len = 0;
  uint8_t *b = s_build(img, &meta, &len);
  /* fixed part, big-endian */
  ck_assert_mem_eq(b, "DDPK", 4);
  ck_assert_uint_eq(b[4], 1);
  ck_assert_uint_eq(b[5], 0);
  size_t strings =
      4 + strlen(meta.package_id) + strlen("ECM") + strlen("S19.05.0") + strlen("84512307AB");
  size_t h = 30 + strings + 2 * 12;
  ck_assert_uint_eq((size_t)b[6] << 8 | b[7], h);
  ck_assert_uint_eq(s_be32(b + 8), 0);
  ck_assert_uint_eq(s_be32(b + 12), 1700000000u);
  ck_assert_uint_eq(s_be32(b + 16), 0x7E0);
  ck_assert_uint_eq(s_be32(b + 20), 64);
  ck_assert_uint_eq(s_be32(b + 24), dd_image_crc32(img));
  ck_assert_uint_eq((unsigned)b[28] << 8 | b[29], 2);
  ck_assert_uint_eq(b[30], strlen(meta.package_id));
  ck_assert_mem_eq(b + 31, meta.package_id, strlen(meta.package_id));
  size_t p = 31 + strlen(meta.package_id);
  ck_assert_uint_eq(b[p], 3);
  ck_assert_mem_eq(b + p + 1, "ECM", 3);
  p += 4;
  ck_assert_uint_eq(b[p], 8);
  ck_assert_mem_eq(b + p + 1, "S19.05.0", 8);
  p += 9;
  ck_assert_uint_eq(b[p], 10);
  ck_assert_mem_eq(b + p + 1, "84512307AB", 10);
  p += 11;
  dd_image_region_t r0 = dd_image_region(img, 0), r1 = dd_image_region(img, 1);
  ck_assert_uint_eq(s_be32(b + p), 0x00080000u);
  ck_assert_uint_eq(s_be32(b + p + 4), 40);
  ck_assert_uint_eq(s_be32(b + p + 8), dd_image_crc32_update(0, r0.data, r0.len));
  ck_assert_uint_eq(s_be32(b + p + 12), 0x00090000u);
  ck_assert_uint_eq(s_be32(b + p + 16), 24);
  ck_assert_uint_eq(s_be32(b + p + 20), dd_image_crc32_update(0, r1.data, r1.len));
  ck_assert_uint_eq(p + 24, h);
  ck_assert_mem_eq(b + h, r0.data, 40);
  ck_assert_mem_eq(b + h + 40, r1.data, 24);
  uint8_t pk[32], sk[64], id[8];
  s_keys(pk, sk);
  ck_assert_int_eq(dd_package_key_id(pk, id), 0);
  ck_assert_mem_eq(b + h + 64, id, 8);
  ck_assert_uint_eq(len, h + 64 + 8 + 64);
  ck_assert(dd_package_sign_check(b, len - 64, b + len - 64, pk));
  /* parse gives the same back */
  dd_package_t *pkg = NULL;
  char why[DD_PACKAGE_WHY_MAX];
  ck_assert_int_eq(dd_package_parse(b, len, &pkg, why, sizeof why), 0);
  const dd_package_info_t *info = dd_package_info(pkg);
  ck_assert_uint_eq(info->version, 1);
  ck_assert_str_eq(info->package_id, meta.package_id);
  ck_assert_str_eq(info->ecu_name, "ECM");
  ck_assert_uint_eq(info->can_id, 0x7E0);
  ck_assert_str_eq(info->sw_version, "S19.05.0");
  ck_assert_str_eq(info->hw_part, "84512307AB");
  ck_assert_uint_eq(info->created_at, 1700000000u);
  ck_assert_uint_eq(info->data_len, 64);
  ck_assert_uint_eq(info->total_crc, dd_image_crc32(img));
  ck_assert_uint_eq(info->region_count, 2);
  ck_assert_mem_eq(info->key_id, id, 8);
  dd_package_region_t pr = dd_package_region(pkg, 1);
  ck_assert_uint_eq(pr.addr, 0x00090000u);
  ck_assert_uint_eq(pr.len, 24);
  ck_assert_mem_eq(pr.data, r1.data, 24);
  size_t blen = 0;
  const uint8_t *bb = dd_package_bytes(pkg, &blen);
  ck_assert_uint_eq(blen, len);
  ck_assert_mem_eq(bb, b, len);
  ck_assert_int_eq(dd_package_verify(pkg, pk, &s_ecm, why, sizeof why), 0);
  dd_image_t *back = NULL;
  ck_assert_int_eq(dd_package_to_image(pkg, &back), 0);
  ck_assert(dd_image_equal(back, img));
  dd_image_destroy(&back);
  dd_package_destroy(&pkg);
  ck_assert_ptr_null(pkg);
  /* a 64-bit time and a 29-bit CAN id */
  meta.created_at = 0x0123456789ABCDEFull;
  meta.target.can_id = DD_PACKAGE_CAN_EFF | 0x18DA10F1u;
  free(b);
  b = s_build(img, &meta, &len);
  ck_assert_uint_eq(s_be32(b + 8), 0x01234567u);
  ck_assert_uint_eq(s_be32(b + 12), 0x89ABCDEFu);
  ck_assert_uint_eq(s_be32(b + 16), 0x98DA10F1u);
  dd_package_target_t t29 = {.ecu_name = "ECM", .can_id = 0x98DA10F1u, .hw_part = "84512307AB"};
  ck_assert_int_eq(s_check(b, len, &t29, why), 0);
  free(b);
  dd_image_destroy(&img);
}
END_TEST

/* One flipped bit in the data, the header, the key id or the signature: each is caught, with
 * the code that names the cause. */
START_TEST(test_tamper_named) {
  dd_image_t *img = s_small_image();
  dd_package_meta_t meta = s_meta();
  size_t len = 0;
  uint8_t *b = s_build(img, &meta, &len);
  size_t h = (size_t)b[6] << 8 | b[7];
  char why[DD_PACKAGE_WHY_MAX];
  ck_assert_int_eq(s_check(b, len, NULL, why), 0);
  /* data (second region, byte 5): damage in transit */
  b[h + 40 + 5] ^= 0x10;
  ck_assert_int_eq(s_check(b, len, NULL, why), DD_ECRC);
  ck_assert_ptr_nonnull(strstr(why, "region 1 at 0x00090000: CRC-32 0x"));
  /* the same change with every CRC recomputed: only the signature can tell */
  size_t table = h - 24;
  s_put_be32(b + table + 12 + 8, dd_image_crc32_update(0, b + h + 40, 24));
  s_put_be32(b + 24, dd_image_crc32_update(0, b + h, 64));
  ck_assert_int_eq(s_check(b, len, NULL, why), DD_ESIGNATURE);
  ck_assert_str_eq(why, "Ed25519 signature does not verify");
  free(b);
  /* the header: one bit of the software version string */
  b = s_build(img, &meta, &len);
  size_t sv = 31 + strlen(meta.package_id) + 4 + 1;
  ck_assert_uint_eq(b[sv], 'S');
  b[sv] ^= 0x20; /* "s19.05.0" */
  ck_assert_int_eq(s_check(b, len, NULL, why), DD_ESIGNATURE);
  b[sv] ^= 0x20;
  /* the header: the target ECU name ("ECM" -> "ECL") is covered by the signature too */
  b[31 + strlen(meta.package_id) + 3] ^= 0x01;
  ck_assert_int_eq(s_check(b, len, NULL, why), DD_ESIGNATURE);
  b[31 + strlen(meta.package_id) + 3] ^= 0x01;
  /* the stored total CRC */
  b[27] ^= 0x80;
  ck_assert_int_eq(s_check(b, len, NULL, why), DD_ECRC);
  ck_assert_ptr_nonnull(strstr(why, "total CRC-32"));
  b[27] ^= 0x80;
  /* the signature */
  b[len - 1] ^= 0x04;
  ck_assert_int_eq(s_check(b, len, NULL, why), DD_ESIGNATURE);
  b[len - 1] ^= 0x04;
  /* the key id */
  b[h + 64] ^= 0x01;
  ck_assert_int_eq(s_check(b, len, NULL, why), DD_ESIGNATURE);
  ck_assert_ptr_nonnull(strstr(why, "signed with key id"));
  b[h + 64] ^= 0x01;
  ck_assert_int_eq(s_check(b, len, NULL, why), 0);
  free(b);
  dd_image_destroy(&img);
}
END_TEST

/* Every single-bit change anywhere is rejected, and by the right check for its place. */
START_TEST(test_tamper_every_bit) {
  dd_image_t *img = s_small_image();
  dd_package_meta_t meta = s_meta();
  size_t len = 0;
  uint8_t *b = s_build(img, &meta, &len);
  size_t h = (size_t)b[6] << 8 | b[7];
  size_t table = h - 24;
  char why[DD_PACKAGE_WHY_MAX];
  for (size_t i = 0; i < len; i++) {
    for (int bit = 0; bit < 8; bit++) {
      b[i] ^= (uint8_t)(1u << bit);
      int rc = s_check(b, len, NULL, why);
      b[i] ^= (uint8_t)(1u << bit);
      bool crc_field = (i >= 24 && i < 28) || (i >= table + 8 && i < table + 12) ||
                       (i >= table + 20 && i < table + 24);
      if (i >= h && i < h + 64)
        ck_assert_msg(rc == DD_ECRC, "data byte %zu bit %d: %s", i, bit, dd_err_name(rc));
      else if (i >= h + 64)
        ck_assert_msg(rc == DD_ESIGNATURE, "trailer byte %zu bit %d: %s", i, bit, dd_err_name(rc));
      else if (crc_field)
        ck_assert_msg(rc == DD_ECRC, "CRC byte %zu bit %d: %s", i, bit, dd_err_name(rc));
      else
        ck_assert_msg(rc == DD_EILSEQ || rc == DD_ENOTSUP || rc == DD_ESIGNATURE,
                      "header byte %zu bit %d: %s (%s)", i, bit, dd_err_name(rc), why);
    }
  }
  free(b);
  dd_image_destroy(&img);
}
END_TEST

START_TEST(test_wrong_key_and_target) {
  dd_image_t *img = s_small_image();
  dd_package_meta_t meta = s_meta();
  size_t len = 0;
  uint8_t *b = s_build(img, &meta, &len);
  char why[DD_PACKAGE_WHY_MAX];
  dd_package_t *pkg = NULL;
  ck_assert_int_eq(dd_package_parse(b, len, &pkg, why, sizeof why), 0);
  /* another key */
  uint8_t pk[32], sk[64];
  ck_assert_int_eq(dd_package_keypair(pk, sk), 0);
  ck_assert_int_eq(dd_package_verify(pkg, pk, &s_ecm, why, sizeof why), DD_ESIGNATURE);
  ck_assert_ptr_nonnull(strstr(why, "signed with key id"));
  /* another signer using our key id cannot pass either: sign with the other key, keep the id */
  ck_assert_int_eq(dd_package_sign(b, len - 64, sk, b + len - 64), 0);
  ck_assert_int_eq(s_check(b, len, NULL, why), DD_ESIGNATURE);
  ck_assert_str_eq(why, "Ed25519 signature does not verify");
  free(b);
  b = s_build(img, &meta, &len);
  s_keys(pk, sk);
  /* other targets */
  static const dd_package_target_t other[] = {
      {.ecu_name = "ABS", .can_id = 0x7E0, .hw_part = "84512307AB"},
      {.ecu_name = "ECM", .can_id = 0x7E1, .hw_part = "84512307AB"},
      {.ecu_name = "ECM", .can_id = DD_PACKAGE_CAN_EFF | 0x7E0, .hw_part = "84512307AB"},
      {.ecu_name = "ECM", .can_id = 0x7E0, .hw_part = "84512307AC"},
      {.ecu_name = "ecm", .can_id = 0x7E0, .hw_part = "84512307AB"},
  };
  for (size_t i = 0; i < sizeof other / sizeof other[0]; i++)
    ck_assert_msg(dd_package_verify(pkg, pk, &other[i], why, sizeof why) == DD_ETARGET,
                  "target %zu", i);
  ck_assert_int_eq(dd_package_verify(pkg, pk, &other[0], why, sizeof why), DD_ETARGET);
  ck_assert_str_eq(why, "package is for ECU \"ECM\" at 0x7E0, target is \"ABS\" at 0x7E0");
  ck_assert_int_eq(dd_package_verify(pkg, pk, &other[3], why, sizeof why), DD_ETARGET);
  ck_assert_str_eq(why, "package is for hardware \"84512307AB\", the ECU has \"84512307AC\"");
  ck_assert_int_eq(dd_package_verify(pkg, pk, &s_ecm, NULL, 0), 0);
  dd_package_destroy(&pkg);
  free(b);
  dd_image_destroy(&img);
}
END_TEST

START_TEST(test_unsigned) {
  /* Built without a key: a well-formed package whose key id and signature are all zero; the
   * structure parses (what a structure-only check would accept) but verification says it is
   * not signed, before any other check. */
  dd_image_t *img = s_small_image();
  dd_package_meta_t meta = s_meta();
  uint8_t *b = NULL;
  size_t len = 0;
  ck_assert_int_eq(dd_package_build(img, &meta, NULL, &b, &len), 0);
  size_t signed_len = 0;
  uint8_t *good = s_build(img, &meta, &signed_len);
  ck_assert_uint_eq(len, signed_len);
  ck_assert_mem_eq(b, good, len - DD_PACKAGE_TRAILER_LEN); /* same header and data */
  for (size_t i = len - DD_PACKAGE_TRAILER_LEN; i < len; i++) ck_assert_uint_eq(b[i], 0);
  char why[DD_PACKAGE_WHY_MAX];
  dd_package_t *pkg = NULL;
  ck_assert_int_eq(dd_package_parse(b, len, &pkg, why, sizeof why), 0);
  dd_package_destroy(&pkg);
  ck_assert_int_eq(s_check(b, len, NULL, why), DD_ESIGNATURE);
  ck_assert_str_eq(why, "package is not signed");
  /* a zero signature with a key id is a bad signature, not an unsigned package */
  memcpy(b + len - DD_PACKAGE_TRAILER_LEN, good + len - DD_PACKAGE_TRAILER_LEN, 8);
  ck_assert_int_eq(s_check(b, len, NULL, why), DD_ESIGNATURE);
  ck_assert_str_eq(why, "Ed25519 signature does not verify");
  free(good);
  free(b);
  dd_image_destroy(&img);
}
END_TEST

START_TEST(test_parse_malformed) {
  dd_image_t *img = s_small_image();
  dd_package_meta_t meta = s_meta();
  size_t len = 0;
  uint8_t *b = s_build(img, &meta, &len);
  size_t h = (size_t)b[6] << 8 | b[7];
  size_t table = h - 24;
  char why[DD_PACKAGE_WHY_MAX];
  dd_package_t *pkg = NULL;
  /* every truncation, and one byte too many */
  for (size_t n = 0; n < len; n++) {
    ck_assert_int_eq(dd_package_parse(b, n, &pkg, why, sizeof why), DD_EILSEQ);
    ck_assert_ptr_null(pkg);
  }
  uint8_t *longer = malloc(len + 1);
  memcpy(longer, b, len);
  longer[len] = 0;
  ck_assert_int_eq(dd_package_parse(longer, len + 1, &pkg, why, sizeof why), DD_EILSEQ);
  free(longer);
  ck_assert_int_eq(dd_package_parse(NULL, 0, &pkg, why, sizeof why), DD_EILSEQ);
  ck_assert_str_eq(why, "0 bytes, shorter than the 30-byte fixed header");
  /* bit 31 of the CAN id makes a valid 29-bit id: the structure is fine, the signature is not */
  b[16] |= 0x80;
  ck_assert_int_eq(dd_package_parse(b, len, &pkg, why, sizeof why), 0);
  uint8_t pk[32], sk[64];
  s_keys(pk, sk);
  dd_package_target_t t29 = {.ecu_name = "ECM", .can_id = 0x800007E0u, .hw_part = "84512307AB"};
  ck_assert_int_eq(dd_package_verify(pkg, pk, &t29, why, sizeof why), DD_ESIGNATURE);
  dd_package_destroy(&pkg);
  b[16] &= 0x7F;
  /* field by field; the package is 232 bytes: H = 96 (table at 72), D = 64 */
  ck_assert_uint_eq(len, 232);
  ck_assert_uint_eq(table, 72);
  static const struct {
    size_t at;       /* byte to change */
    uint8_t value;   /* its new value */
    int rc;          /* expected code */
    const char *why; /* expected message */
  } v[] = {
      {0, 'X', DD_EILSEQ, "not a package: magic 58 44 50 4B"},
      {4, 2, DD_ENOTSUP, "format version 2, this reader knows 1"},
      {5, 1, DD_EILSEQ, "flags 0x01, expected 0"},
      {6, 0xFF, DD_EILSEQ, "232 bytes, but header length 65376 + data length 64 + 72 say 65512"},
      {7, 29, DD_EILSEQ, "header length 29, shorter than the fixed part"},
      {23, 65, DD_EILSEQ, "232 bytes, but header length 96 + data length 65 + 72 say 233"},
      {18, 0x08, DD_EILSEQ, "invalid CAN id 0x000008E0"},
      {16, 0xA0, DD_EILSEQ, "invalid CAN id 0xA00007E0"},
      {29, 0, DD_EILSEQ, "0 regions (1..1024 allowed)"},
      {28, 4, DD_EILSEQ, "1026 regions (1..1024 allowed)"},
      {29, 3, DD_EILSEQ, "header length 96, its fields and 3 regions take 108"},
      {30, 0, DD_EILSEQ, "package id of 0 bytes (1..64 allowed)"},
      {30, 65, DD_EILSEQ, "package id of 65 bytes (1..64 allowed)"},
      {30, 16, DD_EILSEQ, "ECU name of 49 bytes (1..32 allowed)"},
      {31, 0x07, DD_EILSEQ, "package id has a byte outside printable ASCII"},
      {79, 0, DD_EILSEQ, "region 0 at 0x00080000 is empty"},
      {85, 0, DD_EILSEQ, "region 1 at 0x00000000 starts before region 0 ends (0x00080028)"},
      {85, 0x08, DD_EILSEQ, "region 1 at 0x00080000 starts before region 0 ends (0x00080028)"},
      {79, 41, DD_EILSEQ, "regions hold more than the data length 64"},
      {79, 39, DD_EILSEQ, "regions hold 63 bytes, the data length is 64"},
  };
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
    uint8_t *c = malloc(len);
    memcpy(c, b, len);
    c[v[i].at] = v[i].value;
    int rc = dd_package_parse(c, len, &pkg, why, sizeof why);
    ck_assert_msg(rc == v[i].rc, "case %zu: %s (%s)", i, dd_err_name(rc), why);
    ck_assert_str_eq(why, v[i].why);
    ck_assert_ptr_null(pkg);
    free(c);
  }
  /* a region ending past 4 GiB */
  uint8_t *c = malloc(len);
  memcpy(c, b, len);
  s_put_be32(c + table + 12, 0xFFFFFFF0u);
  ck_assert_int_eq(dd_package_parse(c, len, &pkg, why, sizeof why), DD_EILSEQ);
  ck_assert_str_eq(why, "region 1 (0xFFFFFFF0, 24 bytes) runs past 0xFFFFFFFF");
  free(c);
  free(b);
  dd_image_destroy(&img);
}
END_TEST

START_TEST(test_build_errors) {
  uint8_t pk[32], sk[64];
  s_keys(pk, sk);
  uint8_t *b = NULL;
  size_t len = 0;
  dd_package_meta_t meta = s_meta();
  dd_image_t *empty = dd_image_new();
  ck_assert_int_eq(dd_package_build(empty, &meta, sk, &b, &len), DD_EINVAL);
  dd_image_destroy(&empty);
  dd_image_t *img = s_small_image();
  static const char long65[] = "01234567890123456789012345678901234567890123456789012345678901234";
  static const char long33[] = "012345678901234567890123456789012";
  dd_package_meta_t bad[9];
  for (size_t i = 0; i < 9; i++)
    bad[i] = meta;
  bad[0].package_id = NULL;
  bad[1].package_id = "";
  bad[2].package_id = long65;
  bad[3].target.ecu_name = long33;
  bad[4].sw_version = "v\t1";
  bad[5].target.hw_part = NULL;
  bad[6].target.can_id = 0x800;                            /* not an 11-bit id */
  bad[7].target.can_id = DD_PACKAGE_CAN_EFF | 0x20000000u; /* not a 29-bit id */
  bad[8].sw_version = "caf\xC3\xA9";                       /* not ASCII */
  for (size_t i = 0; i < 9; i++) {
    ck_assert_msg(dd_package_build(img, &bad[i], sk, &b, &len) == DD_EINVAL, "case %zu", i);
    ck_assert_ptr_null(b);
  }
  /* the longest strings are fine */
  dd_package_meta_t longest = meta;
  longest.package_id = long65 + 1;
  longest.target.ecu_name = long33 + 1;
  longest.sw_version = long33 + 1;
  longest.target.hw_part = long33 + 1;
  ck_assert_int_eq(dd_package_build(img, &longest, sk, &b, &len), 0);
  dd_package_target_t lt = {.ecu_name = long33 + 1, .can_id = 0x7E0, .hw_part = long33 + 1};
  char why[DD_PACKAGE_WHY_MAX];
  ck_assert_int_eq(s_check(b, len, &lt, why), 0);
  free(b);
  b = NULL;
  dd_image_destroy(&img);
  /* too many regions */
  img = dd_image_new();
  for (uint32_t i = 0; i <= DD_PACKAGE_MAX_REGIONS; i++)
    ck_assert_int_eq(dd_image_add(img, i * 16, (const uint8_t *)"x", 1), 0);
  ck_assert_int_eq(dd_package_build(img, &meta, sk, &b, &len), DD_EINVAL);
  dd_image_destroy(&img);
  /* too big: data alone reaches the limit */
  img = dd_image_new();
  uint8_t *big = calloc(1, DD_PACKAGE_MAX_SIZE);
  ck_assert_int_eq(dd_image_add(img, 0, big, DD_PACKAGE_MAX_SIZE - 100), 0);
  free(big);
  ck_assert_int_eq(dd_package_build(img, &meta, sk, &b, &len), DD_EMSGSIZE);
  ck_assert_ptr_null(b);
  dd_image_destroy(&img);
}
END_TEST

/* The second device's package for the sample ECM image, checked as the first device would. */
START_TEST(test_sample_package) {
  char why[DD_PACKAGE_WHY_MAX];
  uint8_t sk[64], pk[32];
  ck_assert_int_eq(dd_package_secret_key_load(s_src_path("ecu_models/keys/test-signing.key"), sk,
                                              why, sizeof why),
                   0);
  ck_assert_int_eq(dd_package_key_load(s_src_path("ecu_models/keys/test-signing.pub"),
                                       DD_PACKAGE_KEY_PUBLIC, pk, why, sizeof why),
                   0);
  dd_image_t *img = NULL;
  ck_assert_int_eq(
      dd_image_load(s_src_path("ecu_models/images/engine-app-v2.hex"), &img, why, sizeof why), 0);
  dd_package_meta_t meta = s_meta();
  uint8_t *b = NULL;
  size_t len = 0;
  ck_assert_int_eq(dd_package_build(img, &meta, sk, &b, &len), 0);
  dd_package_t *pkg = NULL;
  ck_assert_int_eq(dd_package_open(b, len, pk, &s_ecm, &pkg, why, sizeof why), 0);
  ck_assert_uint_eq(dd_package_info(pkg)->region_count, 2);
  ck_assert_uint_eq(dd_package_info(pkg)->data_len, 0x8000);
  ck_assert_uint_eq(dd_package_info(pkg)->total_crc, dd_image_crc32(img));
  dd_package_destroy(&pkg);
  free(b);
  dd_image_destroy(&img);
}
END_TEST

/* The reflash scenario images (ecu_models/images/gen-reflash-images.sh): regions, the software
 * version field at offset 0x100 of the flash area, and, for the TCM's, one download long
 * enough for the block counter to wrap. */
START_TEST(test_reflash_images) {
  char why[DD_IMAGE_WHY_MAX];
  dd_image_t *img = NULL;
  ck_assert_int_eq(
      dd_image_load(s_src_path("ecu_models/images/engine-app-v3.hex"), &img, why, sizeof why), 0);
  ck_assert_uint_eq(dd_image_region_count(img), 2);
  dd_image_region_t app = dd_image_region(img, 0), cal = dd_image_region(img, 1);
  ck_assert_uint_eq(app.addr, 0x00080000u);
  ck_assert_uint_eq(app.len, 0xC000);
  ck_assert_uint_eq(cal.addr, 0x00090000u);
  ck_assert_uint_eq(cal.len, 0x1000);
  ck_assert_mem_eq(app.data + 0x100, "S19.06.0\0", 9);
  ck_assert_mem_eq(app.data, "duodiag reflash sample ECM app S19.06.0", 39);
  dd_image_destroy(&img);
  ck_assert_int_eq(
      dd_image_load(s_src_path("ecu_models/images/tcm-app-v2.s28"), &img, why, sizeof why), 0);
  ck_assert_uint_eq(dd_image_region_count(img), 1);
  app = dd_image_region(img, 0);
  ck_assert_uint_eq(app.addr, 0x00120000u);
  ck_assert_uint_eq(app.len, 0x40000);
  ck_assert_mem_eq(app.data + 0x100, "T6A.12\0", 7);
  /* maxNumberOfBlockLength 0x0402 (1024 data bytes): 256 blocks, the last one counter 0x00 */
  ck_assert_uint_eq(dd_package_dl_chunks(app.len, 0x0402), 256);
  dd_image_destroy(&img);
}
END_TEST

/* ==== UDS download plan ==== */

static dd_package_t *s_pkg_of(const dd_image_t *img) {
  dd_package_meta_t meta = s_meta();
  size_t len = 0;
  uint8_t *b = s_build(img, &meta, &len);
  dd_package_t *pkg = NULL;
  char why[DD_PACKAGE_WHY_MAX];
  ck_assert_int_eq(dd_package_parse(b, len, &pkg, why, sizeof why), 0);
  free(b);
  return pkg;
}

/* 300 TransferData requests of 128 data bytes (maxNumberOfBlockLength 0x82, as in the response
 * 74 20 00 82): counters 01..FF, 00, 01..2C (ISO 14229-1 TransferData). */
START_TEST(test_counter_wrap_300) {
  size_t n = 300 * 128;
  uint8_t *d = malloc(n);
  s_gen(d, n, 1);
  dd_image_t *img = dd_image_new();
  ck_assert_int_eq(dd_image_add(img, 0x00080000u, d, n), 0);
  dd_package_t *pkg = s_pkg_of(img);
  ck_assert_uint_eq(dd_package_dl_chunks(n, 0x82), 300);
  dd_package_dl_t dl;
  dd_package_dl_init(&dl, pkg);
  ck_assert(!dd_package_dl_done(&dl));
  dd_package_dl_request_t req;
  ck_assert(dd_package_dl_next_request(&dl, &req));
  ck_assert_uint_eq(req.region, 0);
  ck_assert_uint_eq(req.addr, 0x00080000u);
  ck_assert_uint_eq(req.len, n);
  dd_package_dl_chunk_t c;
  ck_assert(!dd_package_dl_next_chunk(&dl, &c)); /* not started: no 0x74 yet */
  ck_assert_int_eq(dd_package_dl_start(&dl, 0x82), 0);
  uint8_t bsc[300];
  uint32_t k = 0, addr = 0x00080000u;
  while (dd_package_dl_next_chunk(&dl, &c)) {
    ck_assert_uint_lt(k, 300);
    ck_assert_uint_eq(c.seq, k);
    ck_assert_uint_eq(c.len, 128);
    ck_assert_uint_eq(c.addr, addr);
    ck_assert_mem_eq(c.data, d + (addr - 0x00080000u), 128);
    ck_assert_int_eq(c.last, k == 299);
    bsc[k++] = c.bsc;
    addr += c.len;
  }
  ck_assert_uint_eq(k, 300);
  for (uint32_t i = 0; i < 255; i++)
    ck_assert_uint_eq(bsc[i], i + 1); /* 01..FF */
  ck_assert_uint_eq(bsc[255], 0x00);
  for (uint32_t i = 256; i < 300; i++)
    ck_assert_uint_eq(bsc[i], i - 255); /* 01..2C */
  ck_assert_uint_eq(bsc[299], 0x2C);
  ck_assert(dd_package_dl_done(&dl));
  ck_assert(!dd_package_dl_next_request(&dl, &req));
  dd_package_destroy(&pkg);
  dd_image_destroy(&img);
  free(d);
}
END_TEST

START_TEST(test_block_sizes) {
  uint8_t d[1000];
  s_gen(d, sizeof d, 2);
  dd_image_t *img = dd_image_new();
  ck_assert_int_eq(dd_image_add(img, 0x1000, d, sizeof d), 0);
  dd_package_t *pkg = s_pkg_of(img);
  static const struct {
    uint32_t mbl;    /* maxNumberOfBlockLength */
    uint32_t chunks; /* TransferData requests */
    uint32_t last;   /* data bytes in the last one */
  } v[] = {
      {3, 1000, 1},     {4, 500, 2},  {10, 125, 8},    {0x82, 8, 1000 - 7 * 128},
      {0x802, 1, 1000}, {1001, 2, 1}, {1002, 1, 1000}, {0xFFFFFFFFu, 1, 1000},
  };
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
    ck_assert_uint_eq(dd_package_dl_chunks(1000, v[i].mbl), v[i].chunks);
    dd_package_dl_t dl;
    dd_package_dl_init(&dl, pkg);
    dd_package_dl_request_t req;
    ck_assert(dd_package_dl_next_request(&dl, &req));
    ck_assert_int_eq(dd_package_dl_start(&dl, v[i].mbl), 0);
    dd_package_dl_chunk_t c;
    uint32_t k = 0, total = 0, last = 0;
    while (dd_package_dl_next_chunk(&dl, &c)) {
      ck_assert_uint_le(c.len, v[i].mbl - 2); /* SID and counter fit in the limit */
      ck_assert_uint_eq(c.bsc, (uint8_t)(k + 1));
      total += c.len;
      last = c.len;
      k++;
    }
    ck_assert_msg(k == v[i].chunks, "mbl %u: %u chunks", v[i].mbl, k);
    ck_assert_uint_eq(total, 1000);
    ck_assert_uint_eq(last, v[i].last);
    ck_assert(dd_package_dl_done(&dl));
  }
  ck_assert_uint_eq(dd_package_dl_chunks(1000, 2), 0);
  ck_assert_uint_eq(dd_package_dl_chunks(0, 0x82), 0);
  dd_package_destroy(&pkg);
  dd_image_destroy(&img);
}
END_TEST

START_TEST(test_multi_region_plan) {
  dd_image_t *img = dd_image_new();
  uint8_t d[300];
  s_gen(d, sizeof d, 4);
  ck_assert_int_eq(dd_image_add(img, 0x00080000u, d, 300), 0);
  ck_assert_int_eq(dd_image_add(img, 0x00090000u, d, 10), 0);
  ck_assert_int_eq(dd_image_add(img, 0x000A0000u, d, 129), 0);
  dd_package_t *pkg = s_pkg_of(img);
  dd_package_dl_t dl;
  dd_package_dl_init(&dl, pkg);
  dd_package_dl_chunk_t c;
  ck_assert_int_eq(dd_package_dl_start(&dl, 0x82), DD_EINVAL); /* no RequestDownload yet */
  static const struct {
    uint32_t addr, len, chunks; /* expected request and its TransferData count */
  } want[] = {{0x00080000u, 300, 3}, {0x00090000u, 10, 1}, {0x000A0000u, 129, 2}};
  dd_package_dl_request_t req;
  size_t r = 0;
  while (dd_package_dl_next_request(&dl, &req)) {
    ck_assert_uint_lt(r, 3);
    ck_assert_uint_eq(req.region, r);
    ck_assert_uint_eq(req.addr, want[r].addr);
    ck_assert_uint_eq(req.len, want[r].len);
    ck_assert_int_eq(dd_package_dl_start(&dl, 2), DD_ERANGE);
    ck_assert_int_eq(dd_package_dl_start(&dl, 0x82), 0);
    /* a copy of the walker replays the same requests (e.g. to resend after a lost answer) */
    dd_package_dl_t saved = dl;
    uint32_t k = 0;
    while (dd_package_dl_next_chunk(&dl, &c)) {
      ck_assert_uint_eq(c.region, r);
      ck_assert_uint_eq(c.bsc, k + 1); /* restarts at 01 after each RequestDownload */
      k++;
      ck_assert(!dd_package_dl_done(&dl) || (r == 2 && c.last));
    }
    ck_assert_uint_eq(k, want[r].chunks);
    dd_package_dl_chunk_t again;
    ck_assert(dd_package_dl_next_chunk(&saved, &again));
    ck_assert_uint_eq(again.bsc, 1);
    ck_assert_uint_eq(again.addr, want[r].addr);
    r++;
  }
  ck_assert_uint_eq(r, 3);
  ck_assert(dd_package_dl_done(&dl));
  /* opening the next region before the current one ends: the walk is not done */
  dd_package_dl_init(&dl, pkg);
  for (int i = 0; i < 3; i++)
    ck_assert(dd_package_dl_next_request(&dl, &req));
  ck_assert(!dd_package_dl_done(&dl));
  dd_package_destroy(&pkg);
  dd_image_destroy(&img);
}
END_TEST

static Suite *s_suite(void) {
  Suite *s = suite_create("package");
  TCase *tc = tcase_create("image");
  tcase_add_test(tc, test_crc32);
  tcase_add_test(tc, test_image_merge);
  tcase_add_test(tc, test_image_overlap_and_range);
  tcase_add_test(tc, test_image_fill_sectors);
  tcase_add_test(tc, test_image_formats);
  tcase_add_test(tc, test_image_load_and_save);
  suite_add_tcase(s, tc);
  tc = tcase_create("keys");
  tcase_add_test(tc, test_rfc8032_test1);
  tcase_add_test(tc, test_test_key_files);
  tcase_add_test(tc, test_key_text);
  suite_add_tcase(s, tc);
  tc = tcase_create("package");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_layout);
  tcase_add_test(tc, test_tamper_named);
  tcase_add_test(tc, test_tamper_every_bit);
  tcase_add_test(tc, test_wrong_key_and_target);
  tcase_add_test(tc, test_unsigned);
  tcase_add_test(tc, test_parse_malformed);
  tcase_add_test(tc, test_build_errors);
  tcase_add_test(tc, test_sample_package);
  tcase_add_test(tc, test_reflash_images);
  suite_add_tcase(s, tc);
  tc = tcase_create("plan");
  tcase_add_test(tc, test_counter_wrap_300);
  tcase_add_test(tc, test_block_sizes);
  tcase_add_test(tc, test_multi_region_plan);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(s_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
