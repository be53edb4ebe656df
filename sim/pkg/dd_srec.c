/* dd_srec: Motorola S-record reader and writer (M68000 Family Programmer's Reference Manual,
 * appendix C, "S-Record Output Format": C.1 content, C.2 record types). */
#include "dd_srec.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_err.h"
#include "dd_textrec.h"

/* After "Sn": the byte count, then count bytes of address, data and checksum (C.1). */
#define S_REC_MAX (1u + 255u)


/* Address field width in bytes of record type t (C.2), 0 for S4 and unknown types. */
static unsigned s_addr_bytes(unsigned t) {
  static const unsigned w[10] = {2, 2, 3, 4, 0, 2, 3, 4, 3, 2};
  return t < 10 ? w[t] : 0;
}

int dd_srec_read(const char *text, size_t len, const char *name, dd_image_t *image, char *why,
                 size_t why_size) {
  assert(image && (text || len == 0));
  dd_textrec_ctx_t c = {.name = name ? name : "<input>", .why = why, .why_size = why_size, .line = 0};
  if (why && why_size) why[0] = '\0';
  uint8_t rec[S_REC_MAX];
  unsigned long data_records = 0; /* S1/S2/S3 records read, for S5/S6 */
  bool ended = false;             /* a termination record was read */
  size_t pos = 0;
  while (pos < len) {
    const char *p = text + pos;
    const char *nl = memchr(p, '\n', len - pos);
    size_t n = nl ? (size_t)(nl - p) : len - pos;
    pos += n + (nl ? 1 : 0);
    c.line++;
    while (n > 0 && (p[n - 1] == '\r' || p[n - 1] == ' ' || p[n - 1] == '\t'))
      n--;
    if (n == 0) continue;
    char shown[16];
    if (ended) return dd_textrec_fail(&c, DD_EILSEQ, "data after the termination record");
    if (p[0] != 'S' && p[0] != 's') {
      dd_textrec_show(p[0], shown, sizeof shown);
      return dd_textrec_fail(&c, DD_EILSEQ, "expected 'S' at the start of a record, found %s", shown);
    }
    if (n < 2 || p[1] < '0' || p[1] > '9') {
      if (n < 2) return dd_textrec_fail(&c, DD_EILSEQ, "record type missing after 'S'");
      dd_textrec_show(p[1], shown, sizeof shown);
      return dd_textrec_fail(&c, DD_EILSEQ, "record type %s is not a digit", shown);
    }
    unsigned type = (unsigned)(p[1] - '0');
    unsigned ab = s_addr_bytes(type);
    if (ab == 0) return dd_textrec_fail(&c, DD_EILSEQ, "unsupported record type S%u", type);
    for (size_t i = 2; i < n; i++) {
      if (dd_textrec_hexval(p[i]) < 0) {
        dd_textrec_show(p[i], shown, sizeof shown);
        return dd_textrec_fail(&c, DD_EILSEQ, "%s at column %zu is not a hex digit", shown, i + 1);
      }
    }
    size_t digits = n - 2;
    if (digits % 2) return dd_textrec_fail(&c, DD_EILSEQ, "odd number of hex digits (%zu)", digits);
    size_t nb = digits / 2;
    if (nb < 1) return dd_textrec_fail(&c, DD_EILSEQ, "byte count missing");
    if (nb > S_REC_MAX)
      return dd_textrec_fail(&c, DD_EILSEQ, "record too long: %zu bytes, at most %u", nb, S_REC_MAX);
    for (size_t i = 0; i < nb; i++)
      rec[i] = (uint8_t)(dd_textrec_hexval(p[2 + 2 * i]) << 4 | dd_textrec_hexval(p[3 + 2 * i]));
    /* Byte count: the bytes of address, data and checksum that follow it (C.1). */
    unsigned count = rec[0];
    if (nb - 1 != count)
      return dd_textrec_fail(&c, DD_EILSEQ, "byte count 0x%02X announces %u bytes, the record has %zu",
                    count, count, nb - 1);
    if (count < ab + 1)
      return dd_textrec_fail(&c, DD_EILSEQ, "byte count 0x%02X too small for S%u (at least %u)", count, type,
                    ab + 1);
    /* Checksum: ones' complement of the least significant byte of the sum of count, address
     * and data bytes (C.1). */
    uint8_t sum = 0;
    for (size_t i = 0; i + 1 < nb; i++)
      sum = (uint8_t)(sum + rec[i]);
    uint8_t expect = (uint8_t)~sum;
    if (rec[nb - 1] != expect)
      return dd_textrec_fail(&c, DD_EILSEQ, "checksum 0x%02X, expected 0x%02X", rec[nb - 1], expect);
    uint32_t addr = 0;
    for (unsigned i = 0; i < ab; i++)
      addr = addr << 8 | rec[1 + i];
    const uint8_t *d = rec + 1 + ab;
    size_t dn = count - ab - 1;
    switch (type) {
    case 0: { /* header; address field 0000 */
      int rc = dd_image_set_header(image, d, dn);
      if (rc != 0) return dd_textrec_fail(&c, rc, "header of %zu bytes is too long", dn);
      break;
    }
    case 1:
    case 2:
    case 3: {
      data_records++;
      if (dn == 0) break;
      if ((uint64_t)addr + dn > DD_IMAGE_ADDR_END)
        return dd_textrec_fail(&c, DD_ERANGE, "data at 0x%08X runs past address 0xFFFFFFFF", addr);
      int rc = dd_image_add(image, addr, d, dn);
      if (rc == DD_EEXIST) {
        uint32_t at = 0;
        (void)dd_image_overlaps(image, addr, dn, &at);
        return dd_textrec_fail(&c, rc, "data at 0x%08X..0x%08X overlaps earlier data at 0x%08X", addr,
                      (uint32_t)(addr + dn - 1), at);
      }
      if (rc != 0) return dd_textrec_fail(&c, rc, "%s", dd_strerror(rc));
      break;
    }
    case 5:
    case 6: /* count of S1/S2/S3 records so far, in the address field; no data */
      if (dn != 0)
        return dd_textrec_fail(&c, DD_EILSEQ, "count record S%u with %zu data bytes, expected 0", type, dn);
      if (addr != data_records)
        return dd_textrec_fail(&c, DD_EILSEQ, "count record says %u data records, %lu were read", addr,
                      data_records);
      break;
    default: /* 7, 8, 9: termination with the execution start address; no data */
      if (dn != 0)
        return dd_textrec_fail(&c, DD_EILSEQ, "termination record S%u with %zu data bytes, expected 0", type,
                      dn);
      dd_image_set_entry(image, addr);
      ended = true;
      break;
    }
  }
  if (!ended) return dd_textrec_fail(&c, DD_EILSEQ, "missing termination record (S7, S8 or S9)");
  return 0;
}

/* ---- writing ---- */

typedef struct {
  char *p;    /* text so far, NUL-terminated when cap > 0 */
  size_t len; /* characters in p */
  size_t cap; /* bytes allocated */
  int err;    /* first error (DD_ENOMEM) */
} s_out_t;

static void s_put(s_out_t *o, const char *s, size_t n) {
  if (o->err) return;
  if (o->len + n + 1 > o->cap) {
    size_t cap = o->cap ? o->cap : 1024;
    while (cap < o->len + n + 1)
      cap *= 2;
    char *q = realloc(o->p, cap);
    if (!q) {
      o->err = DD_ENOMEM;
      return;
    }
    o->p = q;
    o->cap = cap;
  }
  memcpy(o->p + o->len, s, n);
  o->len += n;
  o->p[o->len] = '\0';
}

static void s_record(s_out_t *o, unsigned type, uint32_t addr, const uint8_t *data, size_t n,
                     bool crlf) {
  static const char hex[] = "0123456789ABCDEF";
  unsigned ab = s_addr_bytes(type);
  uint8_t head[5];
  head[0] = (uint8_t)(ab + n + 1);
  for (unsigned i = 0; i < ab; i++)
    head[1 + i] = (uint8_t)(addr >> (8 * (ab - 1 - i)));
  char line[2 + 2 * S_REC_MAX + 2];
  size_t k = 0;
  uint8_t sum = 0;
  line[k++] = 'S';
  line[k++] = (char)('0' + type);
  for (size_t i = 0; i < 1 + ab + n; i++) {
    uint8_t b = i < 1 + ab ? head[i] : data[i - 1 - ab];
    sum = (uint8_t)(sum + b);
    line[k++] = hex[b >> 4];
    line[k++] = hex[b & 0x0F];
  }
  uint8_t cs = (uint8_t)~sum;
  line[k++] = hex[cs >> 4];
  line[k++] = hex[cs & 0x0F];
  if (crlf) line[k++] = '\r';
  line[k++] = '\n';
  s_put(o, line, k);
}

int dd_srec_write(const dd_image_t *image, const dd_srec_opts_t *opts, char **out,
                  size_t *out_len) {
  assert(image && out && out_len);
  *out = NULL;
  *out_len = 0;
  dd_srec_opts_t o = opts ? *opts : (dd_srec_opts_t){0};
  uint32_t entry = 0;
  (void)dd_image_entry(image, &entry);
  size_t count = dd_image_region_count(image);
  uint64_t top = entry; /* highest address to express */
  if (count > 0) {
    dd_image_region_t last = dd_image_region(image, count - 1);
    uint64_t end = (uint64_t)last.addr + last.len - 1;
    if (end > top) top = end;
  }
  if (o.addr_bytes == 0) o.addr_bytes = top > 0xFFFFFFu ? 4 : top > 0xFFFFu ? 3 : 2;
  if (o.addr_bytes < 2 || o.addr_bytes > 4) return DD_EINVAL;
  if (o.record_len == 0) o.record_len = DD_SREC_RECORD_LEN;
  if (o.record_len > 254u - o.addr_bytes) return DD_EINVAL;
  if (o.addr_bytes < 4 && top >= (1ull << (8 * o.addr_bytes))) return DD_ERANGE;
  unsigned data_type = o.addr_bytes - 1; /* S1, S2, S3 */
  unsigned end_type = 11 - o.addr_bytes; /* S9, S8, S7 */
  s_out_t b = {0};
  const uint8_t *hdr = NULL;
  size_t hdr_len = dd_image_header(image, &hdr);
  s_record(&b, 0, 0, hdr, hdr_len, o.crlf);
  uint64_t records = 0;
  for (size_t r = 0; r < count; r++) {
    dd_image_region_t reg = dd_image_region(image, r);
    for (size_t done = 0; done < reg.len;) {
      size_t n = reg.len - done < o.record_len ? reg.len - done : o.record_len;
      s_record(&b, data_type, reg.addr + (uint32_t)done, reg.data + done, n, o.crlf);
      done += n;
      records++;
    }
  }
  if (o.count) {
    /* S5 holds a 16-bit count, S6 a 24-bit one; beyond that no count can be written */
    if (records > 0xFFFFFFu) {
      free(b.p);
      return DD_ERANGE;
    }
    s_record(&b, records > 0xFFFFu ? 6 : 5, (uint32_t)records, NULL, 0, o.crlf);
  }
  s_record(&b, end_type, entry, NULL, 0, o.crlf);
  if (b.err) {
    free(b.p);
    return b.err;
  }
  *out = b.p;
  *out_len = b.len;
  return 0;
}
