/* dd_image_test: helpers shared by the image-format tests (check_hex, check_srec): the sample
 * generator, file I/O, objcopy as the independent implementation, a scratch folder per test
 * (DD_IMAGE_TEST_DIR, an mkdtemp template, is defined by the including test). */
#ifndef DD_IMAGE_TEST_H
#define DD_IMAGE_TEST_H

#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dd_image.h"

/* The sample generator of scripts/gen-flash-samples.sh: xorshift32 (13, 17, 5), top byte of
 * each step, identification string over the first bytes. */
static inline void s_gen(uint8_t *buf, size_t len, uint32_t x, const char *ident) {
  for (size_t i = 0; i < len; i++) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    buf[i] = (uint8_t)(x >> 24);
  }
  if (ident) memcpy(buf, ident, strlen(ident));
}

static inline char *s_slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  ck_assert_msg(f != NULL, "cannot open %s", path);
  ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
  long n = ftell(f);
  ck_assert_int_ge(n, 0);
  rewind(f);
  char *buf = malloc((size_t)n + 1);
  ck_assert_ptr_nonnull(buf);
  ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
  buf[n] = '\0';
  fclose(f);
  *len = (size_t)n;
  return buf;
}

static inline void s_spit(const char *path, const void *data, size_t len) {
  FILE *f = fopen(path, "wb");
  ck_assert_msg(f != NULL, "cannot create %s", path);
  ck_assert_uint_eq(fwrite(data, 1, len, f), len);
  ck_assert_int_eq(fclose(f), 0);
}

/* objcopy is the independent implementation these tests compare with: absent, they fail. */
static inline void s_need_objcopy(void) {
  ck_assert_msg(system("command -v objcopy >/dev/null 2>&1") == 0,
                "objcopy (GNU binutils) not found: install binutils to run the cross-checks");
}

static inline void s_run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline void s_run(const char *fmt, ...) {
  char cmd[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(cmd, sizeof cmd, fmt, ap);
  va_end(ap);
  ck_assert_msg(system(cmd) == 0, "command failed: %s", cmd);
}

static char s_dir[64]; /* per-test scratch folder (each test runs in its own process) */

static inline void s_mkdir(void) {
  snprintf(s_dir, sizeof s_dir, "%s", DD_IMAGE_TEST_DIR);
  ck_assert_ptr_nonnull(mkdtemp(s_dir));
}

static inline void s_rmdir(void) {
  if (s_dir[0]) s_run("rm -rf '%s'", s_dir);
  s_dir[0] = '\0';
}

static inline const char *s_path(const char *leaf) {
  static char p[256];
  snprintf(p, sizeof p, "%s/%s", s_dir, leaf);
  return p;
}

static inline const char *s_src(void) {
  const char *d = getenv("DD_SOURCE_DIR");
#ifdef DD_SOURCE_DIR
  if (!d) d = DD_SOURCE_DIR;
#endif
  ck_assert_msg(d != NULL, "set DD_SOURCE_DIR to the source tree");
  return d;
}

static inline void s_expect_region(const dd_image_t *img, size_t i, uint32_t addr,
                                   const uint8_t *data, size_t len) {
  ck_assert_uint_gt(dd_image_region_count(img), i);
  dd_image_region_t r = dd_image_region(img, i);
  ck_assert_uint_eq(r.addr, addr);
  ck_assert_uint_eq(r.len, len);
  ck_assert_mem_eq(r.data, data, len);
}

#endif
