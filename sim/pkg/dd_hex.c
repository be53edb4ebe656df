/* dd_hex: Intel HEX reader and writer (Intel Hexadecimal Object File Format Specification,
 * revision A, 1988-01-06; the section numbers below are that document's record sections). */
#include "dd_hex.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_err.h"
#include "dd_textrec.h"

/* A record is ':' LL AAAA TT <LL data bytes> CC: at most 5 + 255 bytes. */
#define S_REC_MAX (5u + 255u)

enum {
  S_DATA = 0x00,      /* Data Record */
  S_EOF = 0x01,       /* End of File Record */
  S_EXT_SEG = 0x02,   /* Extended Segment Address Record (USBA, 8086 real mode) */
  S_START_SEG = 0x03, /* Start Segment Address Record (CS:IP) */
  S_EXT_LIN = 0x04,   /* Extended Linear Address Record (ULBA, bits 16..31) */
  S_START_LIN = 0x05, /* Start Linear Address Record (EIP) */
};


/* Store one piece of data, turning the image's codes into messages. */
static int s_store(const dd_textrec_ctx_t *c, dd_image_t *image, uint64_t addr, const uint8_t *data,
                   size_t n) {
  if (addr + n > DD_IMAGE_ADDR_END)
    return dd_textrec_fail(c, DD_ERANGE, "data at 0x%08llX runs past address 0xFFFFFFFF",
                  (unsigned long long)addr);
  int rc = dd_image_add(image, (uint32_t)addr, data, n);
  if (rc == DD_EEXIST) {
    uint32_t at = 0;
    (void)dd_image_overlaps(image, (uint32_t)addr, n, &at);
    return dd_textrec_fail(c, rc, "data at 0x%08llX..0x%08llX overlaps earlier data at 0x%08X",
                  (unsigned long long)addr, (unsigned long long)(addr + n - 1), at);
  }
  if (rc != 0) return dd_textrec_fail(c, rc, "%s", dd_strerror(rc));
  return 0;
}

int dd_hex_read(const char *text, size_t len, const char *name, dd_image_t *image, char *why,
                size_t why_size) {
  assert(image && (text || len == 0));
  dd_textrec_ctx_t c = {.name = name ? name : "<input>", .why = why, .why_size = why_size, .line = 0};
  if (why && why_size) why[0] = '\0';
  uint8_t rec[S_REC_MAX];
  uint32_t base = 0;    /* segment base (USBA * 16) or linear base (ULBA << 16) */
  bool segment = false; /* base came from an 02 record: offsets wrap within 64 KiB */
  bool eof = false;     /* the 01 record was read */
  bool has_start = false;
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
    if (eof) return dd_textrec_fail(&c, DD_EILSEQ, "data after the end-of-file record");
    /* Each record begins with the RECORD MARK ':' (spec "General Record Format"). */
    if (p[0] != ':') {
      dd_textrec_show(p[0], shown, sizeof shown);
      return dd_textrec_fail(&c, DD_EILSEQ, "expected ':' at the start of a record, found %s", shown);
    }
    size_t digits = n - 1;
    for (size_t i = 1; i < n; i++) {
      if (dd_textrec_hexval(p[i]) < 0) {
        dd_textrec_show(p[i], shown, sizeof shown);
        return dd_textrec_fail(&c, DD_EILSEQ, "%s at column %zu is not a hex digit", shown, i + 1);
      }
    }
    if (digits % 2) return dd_textrec_fail(&c, DD_EILSEQ, "odd number of hex digits (%zu)", digits);
    if (digits < 10)
      return dd_textrec_fail(&c, DD_EILSEQ, "record too short: %zu hex digits, at least 10", digits);
    if (digits / 2 > S_REC_MAX)
      return dd_textrec_fail(&c, DD_EILSEQ, "record too long: %zu bytes, at most %u", digits / 2, S_REC_MAX);
    size_t nb = digits / 2;
    for (size_t i = 0; i < nb; i++)
      rec[i] = (uint8_t)(dd_textrec_hexval(p[1 + 2 * i]) << 4 | dd_textrec_hexval(p[2 + 2 * i]));
    unsigned ll = rec[0];
    if (nb != ll + 5u)
      return dd_textrec_fail(&c, DD_EILSEQ,
                    "record length 0x%02X announces %u data bytes, the record has %zu", ll, ll,
                    nb - 5);
    /* CHKSUM: two's complement of the sum of all other bytes of the record. */
    uint8_t sum = 0;
    for (size_t i = 0; i + 1 < nb; i++)
      sum = (uint8_t)(sum + rec[i]);
    uint8_t expect = (uint8_t)(0x100 - sum);
    if (rec[nb - 1] != expect)
      return dd_textrec_fail(&c, DD_EILSEQ, "checksum 0x%02X, expected 0x%02X", rec[nb - 1], expect);
    uint32_t off = (uint32_t)rec[1] << 8 | rec[2];
    uint8_t type = rec[3];
    const uint8_t *d = rec + 4;
    int rc;
    switch (type) {
    case S_DATA:
      if (ll == 0) break;
      if (segment) {
        /* Extended Segment Address Record: address = SBA + ((DRLO + DRI) MOD 64K). */
        size_t first = 0x10000u - off < ll ? 0x10000u - off : ll;
        if ((rc = s_store(&c, image, (uint64_t)base + off, d, first)) != 0) return rc;
        if (first < ll && (rc = s_store(&c, image, base, d + first, ll - first)) != 0) return rc;
      } else {
        /* Extended Linear Address Record: address = LBA + DRLO + DRI (no wrap within 64K). */
        if ((rc = s_store(&c, image, (uint64_t)base + off, d, ll)) != 0) return rc;
      }
      break;
    case S_EOF:
      if (ll != 0)
        return dd_textrec_fail(&c, DD_EILSEQ, "end-of-file record with %u data bytes, expected 0", ll);
      eof = true;
      break;
    case S_EXT_SEG:
    case S_EXT_LIN:
      if (ll != 2)
        return dd_textrec_fail(&c, DD_EILSEQ, "%s address record with %u data bytes, expected 2",
                      type == S_EXT_SEG ? "extended segment" : "extended linear", ll);
      segment = type == S_EXT_SEG;
      base = ((uint32_t)d[0] << 8 | d[1]) << (segment ? 4 : 16);
      break;
    case S_START_SEG:
    case S_START_LIN:
      if (ll != 4)
        return dd_textrec_fail(&c, DD_EILSEQ, "start %s address record with %u data bytes, expected 4",
                      type == S_START_SEG ? "segment" : "linear", ll);
      if (has_start) return dd_textrec_fail(&c, DD_EILSEQ, "second start address record");
      has_start = true;
      if (type == S_START_SEG) /* CS:IP as an 8086 real-mode address */
        dd_image_set_entry(image,
                           ((uint32_t)d[0] << 8 | d[1]) * 16u + ((uint32_t)d[2] << 8 | d[3]));
      else
        dd_image_set_entry(image, (uint32_t)d[0] << 24 | (uint32_t)d[1] << 16 |
                                      (uint32_t)d[2] << 8 | d[3]);
      break;
    default: return dd_textrec_fail(&c, DD_EILSEQ, "unknown record type 0x%02X", type);
    }
  }
  if (!eof) return dd_textrec_fail(&c, DD_EILSEQ, "missing end-of-file record (type 01)");
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

static void s_record(s_out_t *o, uint8_t type, uint16_t off, const uint8_t *data, size_t n,
                     bool crlf) {
  static const char hex[] = "0123456789ABCDEF";
  uint8_t head[4] = {(uint8_t)n, (uint8_t)(off >> 8), (uint8_t)off, type};
  char line[1 + 2 * S_REC_MAX + 2];
  size_t k = 0;
  uint8_t sum = 0;
  line[k++] = ':';
  for (size_t i = 0; i < 4 + n; i++) {
    uint8_t b = i < 4 ? head[i] : data[i - 4];
    sum = (uint8_t)(sum + b);
    line[k++] = hex[b >> 4];
    line[k++] = hex[b & 0x0F];
  }
  uint8_t cs = (uint8_t)(0x100 - sum);
  line[k++] = hex[cs >> 4];
  line[k++] = hex[cs & 0x0F];
  if (crlf) line[k++] = '\r';
  line[k++] = '\n';
  s_put(o, line, k);
}

static void s_addr_record(s_out_t *o, uint8_t type, uint16_t value, bool crlf) {
  uint8_t d[2] = {(uint8_t)(value >> 8), (uint8_t)value};
  s_record(o, type, 0, d, 2, crlf);
}

int dd_hex_write(const dd_image_t *image, const dd_hex_opts_t *opts, char **out, size_t *out_len) {
  assert(image && out && out_len);
  *out = NULL;
  *out_len = 0;
  dd_hex_opts_t o = opts ? *opts : (dd_hex_opts_t){0};
  if (o.record_len == 0) o.record_len = DD_HEX_RECORD_LEN;
  if (o.record_len > 255) return DD_EINVAL;
  s_out_t b = {0};
  /* The window [seg + ext, seg + ext + 0xFFFF] is what 16-bit offsets reach at the moment. */
  uint32_t seg = 0, ext = 0;
  bool linear = o.mode == DD_HEX_ADDR_LINEAR;
  for (size_t r = 0; r < dd_image_region_count(image); r++) {
    dd_image_region_t reg = dd_image_region(image, r);
    size_t done = 0;
    while (done < reg.len) {
      uint32_t where = reg.addr + (uint32_t)done;
      if ((uint64_t)where > (uint64_t)seg + ext + 0xFFFFu) {
        if (!linear && where <= 0xFFFFFu) {
          seg = where & 0xF0000u;
          s_addr_record(&b, S_EXT_SEG, (uint16_t)(seg >> 4), o.crlf);
        } else {
          if (seg != 0) { /* leave segment addressing before the first 04 record */
            seg = 0;
            s_addr_record(&b, S_EXT_SEG, 0, o.crlf);
          }
          linear = true;
          ext = where & 0xFFFF0000u;
          s_addr_record(&b, S_EXT_LIN, (uint16_t)(ext >> 16), o.crlf);
        }
      }
      /* a record never crosses a 64 KiB boundary, where the offset would wrap */
      size_t n = reg.len - done;
      if (n > o.record_len) n = o.record_len;
      size_t room = 0x10000u - (where & 0xFFFFu);
      if (n > room) n = room;
      s_record(&b, S_DATA, (uint16_t)(where - seg - ext), reg.data + done, n, o.crlf);
      done += n;
    }
  }
  uint32_t entry;
  if (dd_image_entry(image, &entry)) {
    uint8_t d[4];
    if (o.mode == DD_HEX_ADDR_SEGMENT && entry <= 0xFFFFFu) {
      /* CS = paragraph of the 64 KiB page, IP = offset in it */
      d[0] = (uint8_t)((entry & 0xF0000u) >> 12);
      d[1] = 0;
      d[2] = (uint8_t)(entry >> 8);
      d[3] = (uint8_t)entry;
      s_record(&b, S_START_SEG, 0, d, 4, o.crlf);
    } else {
      d[0] = (uint8_t)(entry >> 24);
      d[1] = (uint8_t)(entry >> 16);
      d[2] = (uint8_t)(entry >> 8);
      d[3] = (uint8_t)entry;
      s_record(&b, S_START_LIN, 0, d, 4, o.crlf);
    }
  }
  s_record(&b, S_EOF, 0, NULL, 0, o.crlf);
  if (b.err) {
    free(b.p);
    return b.err;
  }
  *out = b.p;
  *out_len = b.len;
  return 0;
}
