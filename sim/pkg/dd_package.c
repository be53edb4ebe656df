/* dd_package: signed programming packages (layout in dd_package.h), their keys, and the UDS
 * download plan that walks them. */
#include "dd_package.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dd_err.h"

#define S_KEY_FILE_MAX (64u * 1024u) /* key files are a few lines */

static const char *const s_key_tag[2] = {"ed25519-public", "ed25519-secret"};

struct dd_package {
  uint8_t *bytes;               /* the whole package (owned copy) */
  size_t len;                   /* its length */
  size_t header_len;            /* H */
  dd_package_info_t info;       /* decoded header */
  dd_package_region_t *regions; /* info.region_count entries, data inside bytes */
};

__attribute__((format(printf, 4, 5))) static int s_why(char *why, size_t size, int rc,
                                                       const char *fmt, ...) {
  if (why && size) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, size, fmt, ap);
    va_end(ap);
  }
  return rc;
}

static int s_sodium(void) { return sodium_init() < 0 ? DD_EIO : 0; }

static void s_put16(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}
static void s_put32(uint8_t *p, uint32_t v) {
  s_put16(p, v >> 16);
  s_put16(p + 2, v);
}
static uint32_t s_get16(const uint8_t *p) { return (uint32_t)p[0] << 8 | p[1]; }
static uint32_t s_get32(const uint8_t *p) { return s_get16(p) << 16 | s_get16(p + 2); }
static uint64_t s_get64(const uint8_t *p) { return (uint64_t)s_get32(p) << 32 | s_get32(p + 4); }

static bool s_printable(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7E) return false;
  return true;
}

/* An 11-bit id, or a 29-bit id flagged with DD_PACKAGE_CAN_EFF (ISO 11898-1 identifiers). */
static bool s_can_id_valid(uint32_t id) {
  if (id & DD_PACKAGE_CAN_EFF) return (id & 0x60000000u) == 0;
  return id <= 0x7FFu;
}

static void s_can_id_str(uint32_t id, char *buf, size_t size) {
  if (id & DD_PACKAGE_CAN_EFF)
    snprintf(buf, size, "0x%08X (29-bit)", id & 0x1FFFFFFFu);
  else
    snprintf(buf, size, "0x%03X", id);
}

static void s_hex(const uint8_t *p, size_t n, char *buf) {
  static const char hex[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    buf[2 * i] = hex[p[i] >> 4];
    buf[2 * i + 1] = hex[p[i] & 0x0F];
  }
  buf[2 * n] = '\0';
}

/* ---- keys ---- */

int dd_package_keypair(uint8_t public_key[DD_PACKAGE_PUBLIC_KEY_BYTES],
                       uint8_t secret_key[DD_PACKAGE_SECRET_KEY_BYTES]) {
  assert(public_key && secret_key);
  if (s_sodium() != 0) return DD_EIO;
  return crypto_sign_ed25519_keypair(public_key, secret_key) == 0 ? 0 : DD_EIO;
}

int dd_package_keypair_from_seed(const uint8_t seed[DD_PACKAGE_SEED_BYTES],
                                 uint8_t public_key[DD_PACKAGE_PUBLIC_KEY_BYTES],
                                 uint8_t secret_key[DD_PACKAGE_SECRET_KEY_BYTES]) {
  assert(seed && public_key && secret_key);
  if (s_sodium() != 0) return DD_EIO;
  return crypto_sign_ed25519_seed_keypair(public_key, secret_key, seed) == 0 ? 0 : DD_EIO;
}

int dd_package_key_id(const uint8_t public_key[DD_PACKAGE_PUBLIC_KEY_BYTES],
                      uint8_t id[DD_PACKAGE_KEY_ID_BYTES]) {
  assert(public_key && id);
  if (s_sodium() != 0) return DD_EIO;
  uint8_t h[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(h, public_key, DD_PACKAGE_PUBLIC_KEY_BYTES);
  memcpy(id, h, DD_PACKAGE_KEY_ID_BYTES);
  return 0;
}

int dd_package_sign(const uint8_t *msg, size_t len,
                    const uint8_t secret_key[DD_PACKAGE_SECRET_KEY_BYTES],
                    uint8_t sig[DD_PACKAGE_SIGNATURE_BYTES]) {
  assert(secret_key && sig && (msg || len == 0));
  if (s_sodium() != 0) return DD_EIO;
  return crypto_sign_ed25519_detached(sig, NULL, msg, len, secret_key) == 0 ? 0 : DD_EIO;
}

bool dd_package_sign_check(const uint8_t *msg, size_t len,
                           const uint8_t sig[DD_PACKAGE_SIGNATURE_BYTES],
                           const uint8_t public_key[DD_PACKAGE_PUBLIC_KEY_BYTES]) {
  assert(sig && public_key && (msg || len == 0));
  if (s_sodium() != 0) return false;
  return crypto_sign_ed25519_verify_detached(sig, msg, len, public_key) == 0;
}

int dd_package_key_format(dd_package_key_kind_t kind, const uint8_t key[32], const char *comment,
                          char *buf, size_t size) {
  assert(key && buf && (kind == DD_PACKAGE_KEY_PUBLIC || kind == DD_PACKAGE_KEY_SECRET));
  size_t n = 0; /* characters the whole text needs */
  const char *c = comment;
  while (c && *c) {
    const char *nl = strchr(c, '\n');
    size_t k = nl ? (size_t)(nl - c) : strlen(c);
    if (k > INT_MAX) return DD_EINVAL;
    int w = snprintf(n < size ? buf + n : NULL, n < size ? size - n : 0, "# %.*s\n", (int)k, c);
    if (w < 0) return DD_EINVAL;
    n += (size_t)w;
    c += k + (nl ? 1 : 0);
  }
  char hex[65];
  s_hex(key, 32, hex);
  int w =
      snprintf(n < size ? buf + n : NULL, n < size ? size - n : 0, "%s %s\n", s_key_tag[kind], hex);
  if (w < 0) return DD_EINVAL;
  n += (size_t)w;
  if (n >= size || n > INT_MAX) return DD_ENOSPC;
  return (int)n;
}

static int s_hexval(char ch) {
  if (ch >= '0' && ch <= '9') return ch - '0';
  if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
  if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
  return -1;
}

int dd_package_key_parse(dd_package_key_kind_t kind, const char *text, size_t len, const char *name,
                         uint8_t key[32], char *why, size_t why_size) {
  assert(key && (text || len == 0) &&
         (kind == DD_PACKAGE_KEY_PUBLIC || kind == DD_PACKAGE_KEY_SECRET));
  if (!name) name = "<key>";
  const char *tag = s_key_tag[kind];
  size_t tag_len = strlen(tag);
  unsigned long line = 0, key_line = 0;
  size_t pos = 0;
  while (pos < len) {
    const char *p = text + pos;
    const char *start = p; /* first character of the line, for columns */
    const char *nl = memchr(p, '\n', len - pos);
    size_t n = nl ? (size_t)(nl - p) : len - pos;
    pos += n + (nl ? 1 : 0);
    line++;
    while (n > 0 && (p[0] == ' ' || p[0] == '\t')) {
      p++;
      n--;
    }
    while (n > 0 && (p[n - 1] == '\r' || p[n - 1] == ' ' || p[n - 1] == '\t'))
      n--;
    if (n == 0 || p[0] == '#') continue;
    if (key_line)
      return s_why(why, why_size, DD_EILSEQ, "%s:%lu: a second key line (the first is line %lu)",
                   name, line, key_line);
    key_line = line;
    const char *other = s_key_tag[1 - kind];
    size_t other_len = strlen(other);
    if (n >= other_len && memcmp(p, other, other_len) == 0)
      return s_why(why, why_size, DD_EILSEQ, "%s:%lu: this is an %s key, expected an %s key", name,
                   line, other, tag);
    if (n < tag_len || memcmp(p, tag, tag_len) != 0 || n == tag_len ||
        (p[tag_len] != ' ' && p[tag_len] != '\t'))
      return s_why(why, why_size, DD_EILSEQ, "%s:%lu: expected \"%s <64 hex digits>\"", name, line,
                   tag);
    const char *h = p + tag_len;
    size_t hn = n - tag_len;
    while (hn > 0 && (h[0] == ' ' || h[0] == '\t')) {
      h++;
      hn--;
    }
    for (size_t i = 0; i < hn; i++) {
      if (s_hexval(h[i]) < 0) {
        unsigned char u = (unsigned char)h[i];
        return s_why(why, why_size, DD_EILSEQ,
                     u >= 0x20 && u < 0x7F ? "%s:%lu: '%c' at column %zu is not a hex digit"
                                           : "%s:%lu: byte 0x%02X at column %zu is not a hex digit",
                     name, line, u, (size_t)(h + i - start) + 1);
      }
    }
    if (hn != 64)
      return s_why(why, why_size, DD_EILSEQ, "%s:%lu: %zu hex digits, a key has 64 (32 bytes)",
                   name, line, hn);
    for (size_t i = 0; i < 32; i++)
      key[i] = (uint8_t)(s_hexval(h[2 * i]) << 4 | s_hexval(h[2 * i + 1]));
  }
  if (!key_line) return s_why(why, why_size, DD_EILSEQ, "%s: no \"%s\" key line", name, tag);
  return 0;
}

static int s_read_small(const char *path, char **text, size_t *len, char *why, size_t why_size) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    int e = errno;
    return s_why(why, why_size, -e, "%s: %s", path, strerror(e));
  }
  char *buf = malloc(S_KEY_FILE_MAX + 1);
  if (!buf) {
    fclose(f);
    return DD_ENOMEM;
  }
  size_t n = fread(buf, 1, S_KEY_FILE_MAX + 1, f);
  int rc = 0;
  if (ferror(f))
    rc = s_why(why, why_size, DD_EIO, "%s: read error", path);
  else if (n > S_KEY_FILE_MAX)
    rc = s_why(why, why_size, DD_EMSGSIZE, "%s: larger than %u bytes, not a key file", path,
               S_KEY_FILE_MAX);
  fclose(f);
  if (rc != 0) {
    free(buf);
    return rc;
  }
  *text = buf;
  *len = n;
  return 0;
}

int dd_package_key_load(const char *path, dd_package_key_kind_t kind, uint8_t key[32], char *why,
                        size_t why_size) {
  assert(path && key);
  char *text = NULL;
  size_t len = 0;
  int rc = s_read_small(path, &text, &len, why, why_size);
  if (rc != 0) return rc;
  rc = dd_package_key_parse(kind, text, len, path, key, why, why_size);
  sodium_memzero(text, len);
  free(text);
  return rc;
}

int dd_package_secret_key_load(const char *path, uint8_t secret_key[DD_PACKAGE_SECRET_KEY_BYTES],
                               char *why, size_t why_size) {
  uint8_t seed[DD_PACKAGE_SEED_BYTES], pk[DD_PACKAGE_PUBLIC_KEY_BYTES];
  int rc = dd_package_key_load(path, DD_PACKAGE_KEY_SECRET, seed, why, why_size);
  if (rc == 0) rc = dd_package_keypair_from_seed(seed, pk, secret_key);
  sodium_memzero(seed, sizeof seed);
  return rc;
}

int dd_package_key_save(const char *path, dd_package_key_kind_t kind, const uint8_t key[32],
                        const char *comment) {
  assert(path && key);
  size_t size = 256 + (comment ? 3 * strlen(comment) : 0);
  char *buf = malloc(size);
  if (!buf) return DD_ENOMEM;
  int n = dd_package_key_format(kind, key, comment, buf, size);
  if (n < 0) {
    free(buf);
    return n;
  }
  int rc = 0;
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
                kind == DD_PACKAGE_KEY_SECRET ? 0600 : 0644);
  if (fd < 0) {
    rc = -errno;
    goto out_free;
  }
  for (size_t done = 0; done < (size_t)n;) {
    ssize_t w = write(fd, buf + done, (size_t)n - done);
    if (w < 0) {
      if (errno == EINTR) continue;
      rc = -errno;
      break;
    }
    done += (size_t)w;
  }
  if (close(fd) != 0 && rc == 0) rc = -errno;
out_free:
  sodium_memzero(buf, size);
  free(buf);
  return rc;
}

/* ---- building ---- */

/* Check one header string for dd_package_build. */
static bool s_str_ok(const char *s, size_t max) {
  if (!s) return false;
  size_t n = strlen(s);
  return n >= 1 && n <= max && s_printable(s, n);
}

static uint8_t *s_put_str(uint8_t *p, const char *s) {
  size_t n = strlen(s);
  *p++ = (uint8_t)n;
  memcpy(p, s, n);
  return p + n;
}

int dd_package_build(const dd_image_t *image, const dd_package_meta_t *meta,
                     const uint8_t secret_key[DD_PACKAGE_SECRET_KEY_BYTES], uint8_t **bytes,
                     size_t *len) {
  assert(image && meta && bytes && len);
  *bytes = NULL;
  *len = 0;
  if (s_sodium() != 0) return DD_EIO;
  size_t nreg = dd_image_region_count(image);
  if (nreg == 0 || nreg > DD_PACKAGE_MAX_REGIONS) return DD_EINVAL;
  if (!s_str_ok(meta->package_id, DD_PACKAGE_ID_MAX) ||
      !s_str_ok(meta->target.ecu_name, DD_PACKAGE_NAME_MAX) ||
      !s_str_ok(meta->sw_version, DD_PACKAGE_NAME_MAX) ||
      !s_str_ok(meta->target.hw_part, DD_PACKAGE_NAME_MAX) || !s_can_id_valid(meta->target.can_id))
    return DD_EINVAL;
  size_t hlen = DD_PACKAGE_FIXED_LEN + 4 + strlen(meta->package_id) +
                strlen(meta->target.ecu_name) + strlen(meta->sw_version) +
                strlen(meta->target.hw_part) + 12 * nreg;
  uint64_t dlen = dd_image_size(image);
  uint64_t total = hlen + dlen + DD_PACKAGE_TRAILER_LEN;
  if (total > DD_PACKAGE_MAX_SIZE) return DD_EMSGSIZE;
  uint8_t *b = calloc(1, (size_t)total);
  if (!b) return DD_ENOMEM;
  memcpy(b, DD_PACKAGE_MAGIC, 4);
  b[4] = DD_PACKAGE_VERSION;
  b[5] = 0;
  s_put16(b + 6, (uint32_t)hlen);
  s_put32(b + 8, (uint32_t)(meta->created_at >> 32));
  s_put32(b + 12, (uint32_t)meta->created_at);
  s_put32(b + 16, meta->target.can_id);
  s_put32(b + 20, (uint32_t)dlen);
  s_put32(b + 24, dd_image_crc32(image));
  s_put16(b + 28, (uint32_t)nreg);
  uint8_t *p = b + DD_PACKAGE_FIXED_LEN;
  p = s_put_str(p, meta->package_id);
  p = s_put_str(p, meta->target.ecu_name);
  p = s_put_str(p, meta->sw_version);
  p = s_put_str(p, meta->target.hw_part);
  uint8_t *data = b + hlen;
  for (size_t i = 0; i < nreg; i++) {
    dd_image_region_t r = dd_image_region(image, i);
    s_put32(p, r.addr);
    s_put32(p + 4, (uint32_t)r.len);
    s_put32(p + 8, dd_image_crc32_update(0, r.data, r.len));
    p += 12;
    memcpy(data, r.data, r.len);
    data += r.len;
  }
  assert(p == b + hlen);
  if (!secret_key) { /* unsigned: the trailer stays all zero (calloc) */
    *bytes = b;
    *len = (size_t)total;
    return 0;
  }
  uint8_t pk[DD_PACKAGE_PUBLIC_KEY_BYTES];
  crypto_sign_ed25519_sk_to_pk(pk, secret_key);
  (void)dd_package_key_id(pk, data);
  size_t signed_len = (size_t)total - DD_PACKAGE_SIGNATURE_BYTES;
  if (dd_package_sign(b, signed_len, secret_key, b + signed_len) != 0) {
    free(b);
    return DD_EIO;
  }
  *bytes = b;
  *len = (size_t)total;
  return 0;
}

/* ---- parsing ---- */

/* Read one length-prefixed string at *pos of the header (hlen bytes) into out. */
static int s_get_str(const uint8_t *b, size_t hlen, size_t *pos, size_t max, const char *what,
                     char *out, char *why, size_t why_size) {
  if (*pos + 1 > hlen) return s_why(why, why_size, DD_EILSEQ, "header ends before the %s", what);
  size_t n = b[*pos];
  if (n == 0 || n > max)
    return s_why(why, why_size, DD_EILSEQ, "%s of %zu bytes (1..%zu allowed)", what, n, max);
  if (*pos + 1 + n > hlen)
    return s_why(why, why_size, DD_EILSEQ, "%s runs past the header end", what);
  const char *s = (const char *)b + *pos + 1;
  if (!s_printable(s, n))
    return s_why(why, why_size, DD_EILSEQ, "%s has a byte outside printable ASCII", what);
  memcpy(out, s, n);
  out[n] = '\0';
  *pos += 1 + n;
  return 0;
}

int dd_package_parse(const uint8_t *bytes, size_t len, dd_package_t **out, char *why,
                     size_t why_size) {
  assert(out && (bytes || len == 0));
  *out = NULL;
  if (why && why_size) why[0] = '\0';
  if (len > DD_PACKAGE_MAX_SIZE)
    return s_why(why, why_size, DD_EILSEQ, "%zu bytes, more than the %u a package may have", len,
                 DD_PACKAGE_MAX_SIZE);
  if (len < DD_PACKAGE_FIXED_LEN)
    return s_why(why, why_size, DD_EILSEQ, "%zu bytes, shorter than the %u-byte fixed header", len,
                 DD_PACKAGE_FIXED_LEN);
  if (memcmp(bytes, DD_PACKAGE_MAGIC, 4) != 0)
    return s_why(why, why_size, DD_EILSEQ, "not a package: magic %02X %02X %02X %02X", bytes[0],
                 bytes[1], bytes[2], bytes[3]);
  if (bytes[4] != DD_PACKAGE_VERSION)
    return s_why(why, why_size, DD_ENOTSUP, "format version %u, this reader knows %u", bytes[4],
                 DD_PACKAGE_VERSION);
  if (bytes[5] != 0) return s_why(why, why_size, DD_EILSEQ, "flags 0x%02X, expected 0", bytes[5]);
  size_t hlen = s_get16(bytes + 6);
  uint32_t dlen = s_get32(bytes + 20);
  size_t nreg = s_get16(bytes + 28);
  uint32_t can_id = s_get32(bytes + 16);
  if (hlen < DD_PACKAGE_FIXED_LEN)
    return s_why(why, why_size, DD_EILSEQ, "header length %zu, shorter than the fixed part", hlen);
  uint64_t total = (uint64_t)hlen + dlen + DD_PACKAGE_TRAILER_LEN;
  if (total != len)
    return s_why(why, why_size, DD_EILSEQ,
                 "%zu bytes, but header length %zu + data length %u + %u say %llu", len, hlen, dlen,
                 DD_PACKAGE_TRAILER_LEN, (unsigned long long)total);
  if (nreg == 0 || nreg > DD_PACKAGE_MAX_REGIONS)
    return s_why(why, why_size, DD_EILSEQ, "%zu regions (1..%u allowed)", nreg,
                 DD_PACKAGE_MAX_REGIONS);
  if (!s_can_id_valid(can_id))
    return s_why(why, why_size, DD_EILSEQ, "invalid CAN id 0x%08X", can_id);

  dd_package_t *pkg = calloc(1, sizeof *pkg);
  if (!pkg) return DD_ENOMEM;
  dd_package_info_t *info = &pkg->info;
  int rc = 0;
  size_t pos = DD_PACKAGE_FIXED_LEN;
  if ((rc = s_get_str(bytes, hlen, &pos, DD_PACKAGE_ID_MAX, "package id", info->package_id, why,
                      why_size)) != 0 ||
      (rc = s_get_str(bytes, hlen, &pos, DD_PACKAGE_NAME_MAX, "ECU name", info->ecu_name, why,
                      why_size)) != 0 ||
      (rc = s_get_str(bytes, hlen, &pos, DD_PACKAGE_NAME_MAX, "software version", info->sw_version,
                      why, why_size)) != 0 ||
      (rc = s_get_str(bytes, hlen, &pos, DD_PACKAGE_NAME_MAX, "hardware part number", info->hw_part,
                      why, why_size)) != 0)
    goto out_free_pkg;
  if (pos + 12 * nreg != hlen) {
    rc = s_why(why, why_size, DD_EILSEQ, "header length %zu, its fields and %zu regions take %zu",
               hlen, nreg, pos + 12 * nreg);
    goto out_free_pkg;
  }
  pkg->regions = calloc(nreg, sizeof *pkg->regions);
  pkg->bytes = malloc(len);
  if (!pkg->regions || !pkg->bytes) {
    rc = DD_ENOMEM;
    goto out_free_pkg;
  }
  memcpy(pkg->bytes, bytes, len);
  uint64_t sum = 0, prev_end = 0;
  for (size_t i = 0; i < nreg; i++, pos += 12) {
    dd_package_region_t *r = &pkg->regions[i];
    r->addr = s_get32(bytes + pos);
    r->len = s_get32(bytes + pos + 4);
    r->crc = s_get32(bytes + pos + 8);
    uint64_t end = (uint64_t)r->addr + r->len;
    if (r->len == 0)
      rc = s_why(why, why_size, DD_EILSEQ, "region %zu at 0x%08X is empty", i, r->addr);
    else if (end > DD_IMAGE_ADDR_END)
      rc = s_why(why, why_size, DD_EILSEQ, "region %zu (0x%08X, %u bytes) runs past 0xFFFFFFFF", i,
                 r->addr, r->len);
    else if (i > 0 && r->addr < prev_end)
      rc = s_why(why, why_size, DD_EILSEQ,
                 "region %zu at 0x%08X starts before region %zu ends (0x%08llX)", i, r->addr, i - 1,
                 (unsigned long long)prev_end);
    if (rc != 0) goto out_free_pkg;
    if (sum + r->len > dlen) {
      rc = s_why(why, why_size, DD_EILSEQ, "regions hold more than the data length %u", dlen);
      goto out_free_pkg;
    }
    r->data = pkg->bytes + hlen + sum;
    sum += r->len;
    prev_end = end;
  }
  if (sum != dlen) {
    rc = s_why(why, why_size, DD_EILSEQ, "regions hold %llu bytes, the data length is %u",
               (unsigned long long)sum, dlen);
    goto out_free_pkg;
  }
  pkg->len = len;
  pkg->header_len = hlen;
  info->version = bytes[4];
  info->created_at = s_get64(bytes + 8);
  info->can_id = can_id;
  info->data_len = dlen;
  info->total_crc = s_get32(bytes + 24);
  info->region_count = nreg;
  memcpy(info->key_id, bytes + hlen + dlen, DD_PACKAGE_KEY_ID_BYTES);
  *out = pkg;
  return 0;

out_free_pkg:
  dd_package_destroy(&pkg);
  return rc;
}

void dd_package_destroy(dd_package_t **self_p) {
  assert(self_p);
  dd_package_t *self = *self_p;
  if (!self) return;
  free(self->bytes);
  free(self->regions);
  free(self);
  *self_p = NULL;
}

/* ---- verifying ---- */

int dd_package_verify(const dd_package_t *pkg,
                      const uint8_t public_key[DD_PACKAGE_PUBLIC_KEY_BYTES],
                      const dd_package_target_t *expected, char *why, size_t why_size) {
  assert(pkg && public_key && expected && expected->ecu_name && expected->hw_part);
  if (why && why_size) why[0] = '\0';
  if (s_sodium() != 0) return s_why(why, why_size, DD_EIO, "libsodium did not initialise");
  const dd_package_info_t *info = &pkg->info;
  /* 0. a package built without a key carries no signature at all */
  const uint8_t *trailer = pkg->bytes + pkg->len - DD_PACKAGE_TRAILER_LEN;
  bool unsigned_pkg = true;
  for (size_t i = 0; i < DD_PACKAGE_TRAILER_LEN && unsigned_pkg; i++) unsigned_pkg = !trailer[i];
  if (unsigned_pkg) return s_why(why, why_size, DD_ESIGNATURE, "package is not signed");
  /* 1. the signer must be the key we trust */
  uint8_t id[DD_PACKAGE_KEY_ID_BYTES];
  (void)dd_package_key_id(public_key, id);
  if (memcmp(id, info->key_id, sizeof id) != 0) {
    char got[2 * DD_PACKAGE_KEY_ID_BYTES + 1], want[2 * DD_PACKAGE_KEY_ID_BYTES + 1];
    s_hex(info->key_id, sizeof id, got);
    s_hex(id, sizeof id, want);
    return s_why(why, why_size, DD_ESIGNATURE, "signed with key id %s, trusted key id is %s", got,
                 want);
  }
  /* 2. integrity of the data: damage in transit shows here */
  uint32_t total = 0;
  for (size_t i = 0; i < info->region_count; i++) {
    const dd_package_region_t *r = &pkg->regions[i];
    uint32_t crc = dd_image_crc32_update(0, r->data, r->len);
    if (crc != r->crc)
      return s_why(why, why_size, DD_ECRC, "region %zu at 0x%08X: CRC-32 0x%08X, stored 0x%08X", i,
                   r->addr, crc, r->crc);
    total = dd_image_crc32_update(total, r->data, r->len);
  }
  if (total != info->total_crc)
    return s_why(why, why_size, DD_ECRC, "total CRC-32 0x%08X, stored 0x%08X", total,
                 info->total_crc);
  /* 3. authenticity of every byte before the signature */
  size_t signed_len = pkg->len - DD_PACKAGE_SIGNATURE_BYTES;
  if (!dd_package_sign_check(pkg->bytes, signed_len, pkg->bytes + signed_len, public_key))
    return s_why(why, why_size, DD_ESIGNATURE, "Ed25519 signature does not verify");
  /* 4. an authentic package, but is it for this ECU? */
  char a[32], b[32];
  if (strcmp(info->ecu_name, expected->ecu_name) != 0 || info->can_id != expected->can_id) {
    s_can_id_str(info->can_id, a, sizeof a);
    s_can_id_str(expected->can_id, b, sizeof b);
    return s_why(why, why_size, DD_ETARGET,
                 "package is for ECU \"%s\" at %s, target is \"%s\" at %s", info->ecu_name, a,
                 expected->ecu_name, b);
  }
  if (strcmp(info->hw_part, expected->hw_part) != 0)
    return s_why(why, why_size, DD_ETARGET, "package is for hardware \"%s\", the ECU has \"%s\"",
                 info->hw_part, expected->hw_part);
  return 0;
}

int dd_package_open(const uint8_t *bytes, size_t len,
                    const uint8_t public_key[DD_PACKAGE_PUBLIC_KEY_BYTES],
                    const dd_package_target_t *expected, dd_package_t **out, char *why,
                    size_t why_size) {
  assert(out);
  *out = NULL;
  dd_package_t *pkg = NULL;
  int rc = dd_package_parse(bytes, len, &pkg, why, why_size);
  if (rc != 0) return rc;
  rc = dd_package_verify(pkg, public_key, expected, why, why_size);
  if (rc != 0) {
    dd_package_destroy(&pkg);
    return rc;
  }
  *out = pkg;
  return 0;
}

const dd_package_info_t *dd_package_info(const dd_package_t *self) {
  assert(self);
  return &self->info;
}

dd_package_region_t dd_package_region(const dd_package_t *self, size_t i) {
  assert(self && i < self->info.region_count);
  return self->regions[i];
}

const uint8_t *dd_package_bytes(const dd_package_t *self, size_t *len) {
  assert(self);
  if (len) *len = self->len;
  return self->bytes;
}

int dd_package_to_image(const dd_package_t *self, dd_image_t **out) {
  assert(self && out);
  *out = NULL;
  dd_image_t *img = dd_image_new();
  if (!img) return DD_ENOMEM;
  for (size_t i = 0; i < self->info.region_count; i++) {
    const dd_package_region_t *r = &self->regions[i];
    int rc = dd_image_add(img, r->addr, r->data, r->len);
    if (rc != 0) { /* regions are disjoint (parse checked), so only DD_ENOMEM */
      dd_image_destroy(&img);
      return rc;
    }
  }
  *out = img;
  return 0;
}

/* ---- UDS download plan ---- */

void dd_package_dl_init(dd_package_dl_t *dl, const dd_package_t *pkg) {
  assert(dl && pkg);
  memset(dl, 0, sizeof *dl);
  dl->pkg = pkg;
}

bool dd_package_dl_next_request(dd_package_dl_t *dl, dd_package_dl_request_t *req) {
  assert(dl && dl->pkg && req);
  if (dl->next_region >= dl->pkg->info.region_count) {
    dl->open = false;
    return false;
  }
  const dd_package_region_t *r = &dl->pkg->regions[dl->next_region];
  dl->region = dl->next_region++;
  dl->open = true;
  dl->started = false;
  dl->offset = 0;
  dl->seq = 0;
  dl->bsc = 0x01;
  req->region = dl->region;
  req->addr = r->addr;
  req->len = r->len;
  return true;
}

int dd_package_dl_start(dd_package_dl_t *dl, uint32_t max_block_len) {
  assert(dl && dl->pkg);
  if (!dl->open) return DD_EINVAL;
  /* maxNumberOfBlockLength counts SID and blockSequenceCounter (ISO 14229-1:2013 14.2,
   * RequestDownload positive response) */
  if (max_block_len < 3) return DD_ERANGE;
  dl->data_max = max_block_len - 2;
  dl->started = true;
  dl->offset = 0;
  dl->seq = 0;
  dl->bsc = 0x01; /* first TransferData after RequestDownload (ISO 14229-1:2013 14.4) */
  return 0;
}

bool dd_package_dl_next_chunk(dd_package_dl_t *dl, dd_package_dl_chunk_t *chunk) {
  assert(dl && dl->pkg && chunk);
  if (!dl->open || !dl->started) return false;
  const dd_package_region_t *r = &dl->pkg->regions[dl->region];
  if (dl->offset >= r->len) return false;
  uint32_t n = r->len - dl->offset;
  if (n > dl->data_max) n = dl->data_max;
  chunk->region = dl->region;
  chunk->seq = dl->seq;
  chunk->bsc = dl->bsc;
  chunk->addr = r->addr + dl->offset;
  chunk->len = n;
  chunk->data = r->data + dl->offset;
  dl->offset += n;
  chunk->last = dl->offset == r->len;
  dl->seq++;
  dl->bsc = (uint8_t)(dl->bsc + 1); /* 0xFF -> 0x00 (ISO 14229-1:2013 14.4) */
  return true;
}

bool dd_package_dl_done(const dd_package_dl_t *dl) {
  assert(dl && dl->pkg);
  if (dl->next_region < dl->pkg->info.region_count) return false;
  if (!dl->open) return true;
  return dl->started && dl->offset >= dl->pkg->regions[dl->region].len;
}

uint64_t dd_package_dl_chunks(uint64_t len, uint32_t max_block_len) {
  if (max_block_len < 3) return 0;
  uint64_t per = max_block_len - 2u;
  return (len + per - 1) / per;
}
