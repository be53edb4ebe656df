/* dd_image: a flash image in memory as sorted, merged regions, with CRC-32 and file loading. */
#include "dd_image.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "dd_err.h"
#include "dd_hex.h"
#include "dd_srec.h"

typedef struct {
  uint32_t addr; /* address of the first byte */
  size_t len;    /* bytes held, >= 1 */
  size_t cap;    /* bytes allocated at data */
  uint8_t *data; /* the bytes */
} s_region_t;

struct dd_image {
  s_region_t *regions;                 /* sorted by address, disjoint, never touching */
  size_t count;                        /* regions in use */
  size_t cap;                          /* regions allocated */
  bool has_entry;                      /* an entry point was set */
  uint32_t entry;                      /* the entry point */
  uint8_t header[DD_IMAGE_HEADER_MAX]; /* header bytes (S0 data) */
  size_t header_len;                   /* header bytes in use */
};

static uint64_t s_end(const s_region_t *r) { return (uint64_t)r->addr + r->len; }

dd_image_t *dd_image_new(void) { return calloc(1, sizeof(dd_image_t)); }

void dd_image_destroy(dd_image_t **self_p) {
  assert(self_p);
  dd_image_t *self = *self_p;
  if (!self) return;
  for (size_t i = 0; i < self->count; i++)
    free(self->regions[i].data);
  free(self->regions);
  free(self);
  *self_p = NULL;
}

/* Index of the first region that ends after addr (count when none does). */
static size_t s_first_ending_after(const dd_image_t *self, uint64_t addr) {
  size_t lo = 0, hi = self->count;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (s_end(&self->regions[mid]) <= addr)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

/* Make room for need bytes in r (doubling, so appending record after record stays linear). */
static int s_reserve(s_region_t *r, size_t need) {
  if (need <= r->cap) return 0;
  size_t cap = r->cap ? r->cap : 64;
  while (cap < need) {
    if (cap > SIZE_MAX / 2) {
      cap = need;
      break;
    }
    cap *= 2;
  }
  uint8_t *d = realloc(r->data, cap);
  if (!d) return DD_ENOMEM;
  r->data = d;
  r->cap = cap;
  return 0;
}

static void s_remove_region(dd_image_t *self, size_t i) {
  free(self->regions[i].data);
  memmove(&self->regions[i], &self->regions[i + 1], (self->count - i - 1) * sizeof(s_region_t));
  self->count--;
}

int dd_image_add(dd_image_t *self, uint32_t addr, const uint8_t *data, size_t len) {
  assert(self);
  assert(data || len == 0);
  if (len == 0) return DD_EINVAL;
  uint64_t end = (uint64_t)addr + len;
  if (len > DD_IMAGE_ADDR_END || end > DD_IMAGE_ADDR_END) return DD_ERANGE;
  /* i: the first region ending after addr; it is the only candidate for an overlap, and the
   * region before it (if any) is the only one that can touch addr from below. */
  size_t i = s_first_ending_after(self, addr);
  if (i < self->count && self->regions[i].addr < end) return DD_EEXIST;
  s_region_t *prev = (i > 0 && s_end(&self->regions[i - 1]) == addr) ? &self->regions[i - 1] : NULL;
  s_region_t *next = (i < self->count && self->regions[i].addr == end) ? &self->regions[i] : NULL;
  if (prev) {
    size_t need = prev->len + len + (next ? next->len : 0);
    if (s_reserve(prev, need) != 0) return DD_ENOMEM;
    memcpy(prev->data + prev->len, data, len);
    prev->len += len;
    if (next) {
      memcpy(prev->data + prev->len, next->data, next->len);
      prev->len += next->len;
      s_remove_region(self, i);
    }
    return 0;
  }
  if (next) {
    if (s_reserve(next, next->len + len) != 0) return DD_ENOMEM;
    memmove(next->data + len, next->data, next->len);
    memcpy(next->data, data, len);
    next->len += len;
    next->addr = addr;
    return 0;
  }
  if (self->count == self->cap) {
    size_t cap = self->cap ? self->cap * 2 : 8;
    s_region_t *r = realloc(self->regions, cap * sizeof(s_region_t));
    if (!r) return DD_ENOMEM;
    self->regions = r;
    self->cap = cap;
  }
  s_region_t nr = {.addr = addr, .len = 0, .cap = 0, .data = NULL};
  if (s_reserve(&nr, len) != 0) return DD_ENOMEM;
  memcpy(nr.data, data, len);
  nr.len = len;
  memmove(&self->regions[i + 1], &self->regions[i], (self->count - i) * sizeof(s_region_t));
  self->regions[i] = nr;
  self->count++;
  return 0;
}

bool dd_image_overlaps(const dd_image_t *self, uint32_t addr, size_t len, uint32_t *first) {
  assert(self);
  if (len == 0) return false;
  uint64_t end = (uint64_t)addr + len;
  size_t i = s_first_ending_after(self, addr);
  if (i >= self->count || self->regions[i].addr >= end) return false;
  if (first) *first = self->regions[i].addr > addr ? self->regions[i].addr : addr;
  return true;
}

size_t dd_image_region_count(const dd_image_t *self) {
  assert(self);
  return self->count;
}

dd_image_region_t dd_image_region(const dd_image_t *self, size_t i) {
  assert(self && i < self->count);
  const s_region_t *r = &self->regions[i];
  return (dd_image_region_t){.addr = r->addr, .len = r->len, .data = r->data};
}

uint64_t dd_image_size(const dd_image_t *self) {
  assert(self);
  uint64_t n = 0;
  for (size_t i = 0; i < self->count; i++)
    n += self->regions[i].len;
  return n;
}

uint64_t dd_image_gap(const dd_image_t *self, size_t i, uint32_t *addr) {
  assert(self && i + 1 < self->count);
  uint64_t end = s_end(&self->regions[i]);
  if (addr) *addr = (uint32_t)end;
  return self->regions[i + 1].addr - end;
}

int dd_image_read(const dd_image_t *self, uint32_t addr, uint8_t *buf, size_t len) {
  assert(self && (buf || len == 0));
  if (len == 0) return 0;
  uint64_t end = (uint64_t)addr + len;
  size_t i = s_first_ending_after(self, addr);
  /* merged regions never touch, so the whole range must sit inside one region */
  if (i >= self->count) return DD_ENOENT;
  const s_region_t *r = &self->regions[i];
  if (r->addr > addr || s_end(r) < end) return DD_ENOENT;
  memcpy(buf, r->data + (addr - r->addr), len);
  return 0;
}

int dd_image_fill_sectors(dd_image_t *self, uint32_t sector_size, uint8_t fill) {
  assert(self);
  if (sector_size == 0 || (sector_size & (sector_size - 1)) != 0) return DD_EINVAL;
  if (self->count == 0) return 0;
  uint64_t mask = (uint64_t)sector_size - 1;
  /* 1: the merged sector-aligned spans (at most one per region). 2^32 is a multiple of any
   * power of two up to 2^31, so rounding up never goes past DD_IMAGE_ADDR_END. */
  s_region_t *spans = calloc(self->count, sizeof(s_region_t));
  if (!spans) return DD_ENOMEM;
  size_t n = 0;
  for (size_t i = 0; i < self->count; i++) {
    uint64_t lo = self->regions[i].addr & ~mask;
    uint64_t hi = (s_end(&self->regions[i]) + mask) & ~mask;
    if (n > 0 && lo <= s_end(&spans[n - 1])) {
      spans[n - 1].len = (size_t)(hi - spans[n - 1].addr);
    } else {
      spans[n].addr = (uint32_t)lo;
      spans[n].len = (size_t)(hi - lo);
      n++;
    }
  }
  /* 2: allocate and fill every span before touching the image, so failure changes nothing */
  for (size_t k = 0; k < n; k++) {
    spans[k].data = malloc(spans[k].len);
    if (!spans[k].data) {
      for (size_t j = 0; j < k; j++)
        free(spans[j].data);
      free(spans);
      return DD_ENOMEM;
    }
    spans[k].cap = spans[k].len;
    memset(spans[k].data, fill, spans[k].len);
  }
  size_t k = 0;
  for (size_t i = 0; i < self->count; i++) {
    const s_region_t *r = &self->regions[i];
    while (s_end(&spans[k]) < s_end(r))
      k++;
    memcpy(spans[k].data + (r->addr - spans[k].addr), r->data, r->len);
    free(r->data);
  }
  free(self->regions);
  self->regions = spans;
  self->cap = self->count; /* spans was allocated for count entries */
  self->count = n;
  return 0;
}

void dd_image_set_entry(dd_image_t *self, uint32_t entry) {
  assert(self);
  self->has_entry = true;
  self->entry = entry;
}

void dd_image_clear_entry(dd_image_t *self) {
  assert(self);
  self->has_entry = false;
  self->entry = 0;
}

bool dd_image_entry(const dd_image_t *self, uint32_t *entry) {
  assert(self);
  if (entry) *entry = self->entry;
  return self->has_entry;
}

int dd_image_set_header(dd_image_t *self, const uint8_t *bytes, size_t len) {
  assert(self && (bytes || len == 0));
  if (len > DD_IMAGE_HEADER_MAX) return DD_EMSGSIZE;
  if (len) memcpy(self->header, bytes, len);
  self->header_len = len;
  return 0;
}

size_t dd_image_header(const dd_image_t *self, const uint8_t **bytes) {
  assert(self);
  if (bytes) *bytes = self->header;
  return self->header_len;
}

bool dd_image_equal(const dd_image_t *a, const dd_image_t *b) {
  assert(a && b);
  if (a->count != b->count) return false;
  for (size_t i = 0; i < a->count; i++) {
    const s_region_t *x = &a->regions[i], *y = &b->regions[i];
    if (x->addr != y->addr || x->len != y->len || memcmp(x->data, y->data, x->len) != 0)
      return false;
  }
  return true;
}

/* ---- CRC-32 ---- */

/* CRC-32 of IEEE 802.3 clause 3.2.9 (generator 0x04C11DB7, bits sent least significant first,
 * so computed reflected with 0xEDB88320), four bits at a time: entry n is the CRC register after
 * shifting the nibble n through the reflected polynomial. */
static const uint32_t s_crc_nibble[16] = {
    0x00000000u, 0x1DB71064u, 0x3B6E20C8u, 0x26D930ACu, 0x76DC4190u, 0x6B6B51F4u,
    0x4DB26158u, 0x5005713Cu, 0xEDB88320u, 0xF00F9344u, 0xD6D6A3E8u, 0xCB61B38Cu,
    0x9B64C2B0u, 0x86D3D2D4u, 0xA00AE278u, 0xBDBDF21Cu,
};

uint32_t dd_image_crc32_update(uint32_t crc, const void *data, size_t len) {
  const uint8_t *p = data;
  uint32_t c = ~crc;
  for (size_t i = 0; i < len; i++) {
    c ^= p[i];
    c = (c >> 4) ^ s_crc_nibble[c & 0x0F];
    c = (c >> 4) ^ s_crc_nibble[c & 0x0F];
  }
  return ~c;
}

uint32_t dd_image_crc32(const dd_image_t *self) {
  assert(self);
  uint32_t crc = 0;
  for (size_t i = 0; i < self->count; i++)
    crc = dd_image_crc32_update(crc, self->regions[i].data, self->regions[i].len);
  return crc;
}

/* ---- text formats ---- */

dd_image_format_t dd_image_format_from_name(const char *path) {
  static const struct {
    const char *ext;       /* extension, dot included */
    dd_image_format_t fmt; /* its format */
  } map[] = {
      {".hex", DD_IMAGE_FMT_IHEX},  {".ihex", DD_IMAGE_FMT_IHEX}, {".ihx", DD_IMAGE_FMT_IHEX},
      {".s19", DD_IMAGE_FMT_SREC},  {".s28", DD_IMAGE_FMT_SREC},  {".s37", DD_IMAGE_FMT_SREC},
      {".srec", DD_IMAGE_FMT_SREC}, {".mot", DD_IMAGE_FMT_SREC},  {".s", DD_IMAGE_FMT_SREC},
  };
  if (!path) return DD_IMAGE_FMT_AUTO;
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  const char *dot = strrchr(base, '.');
  if (!dot || dot == base) return DD_IMAGE_FMT_AUTO;
  for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
    if (strcasecmp(dot, map[i].ext) == 0) return map[i].fmt;
  return DD_IMAGE_FMT_AUTO;
}

dd_image_format_t dd_image_format_sniff(const char *text, size_t len) {
  size_t i = 0;
  while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\r' || text[i] == '\n'))
    i++;
  if (i < len && text[i] == ':') return DD_IMAGE_FMT_IHEX;
  if (i + 1 < len && (text[i] == 'S' || text[i] == 's') && isdigit((unsigned char)text[i + 1]))
    return DD_IMAGE_FMT_SREC;
  return DD_IMAGE_FMT_AUTO;
}

const char *dd_image_format_name(dd_image_format_t fmt) {
  switch (fmt) {
  case DD_IMAGE_FMT_IHEX: return "ihex";
  case DD_IMAGE_FMT_SREC: return "srec";
  case DD_IMAGE_FMT_AUTO: break;
  }
  return "auto";
}

int dd_image_parse(const char *text, size_t len, const char *name, dd_image_format_t fmt,
                   dd_image_t **out, char *why, size_t why_size) {
  assert(out && (text || len == 0));
  *out = NULL;
  if (!name) name = "<input>";
  if (fmt == DD_IMAGE_FMT_AUTO) fmt = dd_image_format_sniff(text, len);
  if (fmt == DD_IMAGE_FMT_AUTO) {
    if (why && why_size) snprintf(why, why_size, "%s: neither Intel HEX nor S-records", name);
    return DD_ENOTSUP;
  }
  dd_image_t *img = dd_image_new();
  if (!img) return DD_ENOMEM;
  int rc = fmt == DD_IMAGE_FMT_IHEX ? dd_hex_read(text, len, name, img, why, why_size)
                                    : dd_srec_read(text, len, name, img, why, why_size);
  if (rc != 0) {
    dd_image_destroy(&img);
    return rc;
  }
  *out = img;
  return 0;
}

int dd_image_load(const char *path, dd_image_t **out, char *why, size_t why_size) {
  assert(path && out);
  *out = NULL;
  FILE *f = fopen(path, "rb");
  if (!f) {
    int e = errno;
    if (why && why_size) snprintf(why, why_size, "%s: %s", path, strerror(e));
    return -e;
  }
  int rc = 0;
  char *text = NULL;
  struct stat st;
  if (fstat(fileno(f), &st) != 0) {
    rc = -errno;
    goto out_close;
  }
  if ((uint64_t)st.st_size > DD_IMAGE_FILE_MAX) {
    rc = DD_EMSGSIZE;
    if (why && why_size)
      snprintf(why, why_size, "%s: %lld bytes, more than the %u accepted", path,
               (long long)st.st_size, DD_IMAGE_FILE_MAX);
    goto out_close;
  }
  size_t size = (size_t)st.st_size;
  text = malloc(size ? size : 1);
  if (!text) {
    rc = DD_ENOMEM;
    goto out_close;
  }
  if (fread(text, 1, size, f) != size) {
    rc = ferror(f) ? DD_EIO : DD_EILSEQ; /* shrank while being read */
    goto out_free_text;
  }
  dd_image_format_t fmt = dd_image_format_from_name(path);
  rc = dd_image_parse(text, size, path, fmt, out, why, why_size);
  free(text);
  fclose(f);
  return rc;

out_free_text:
  free(text);
out_close:
  if (rc != DD_EMSGSIZE && why && why_size)
    snprintf(why, why_size, "%s: %s", path, dd_strerror(rc));
  fclose(f);
  return rc;
}

int dd_image_save(const dd_image_t *self, const char *path, dd_image_format_t fmt) {
  assert(self && path);
  if (fmt == DD_IMAGE_FMT_AUTO) fmt = dd_image_format_from_name(path);
  if (fmt == DD_IMAGE_FMT_AUTO) return DD_ENOTSUP;
  char *text = NULL;
  size_t len = 0;
  int rc = fmt == DD_IMAGE_FMT_IHEX ? dd_hex_write(self, NULL, &text, &len)
                                    : dd_srec_write(self, NULL, &text, &len);
  if (rc != 0) return rc;
  FILE *f = fopen(path, "wb");
  if (!f) {
    rc = -errno;
    free(text);
    return rc;
  }
  if (fwrite(text, 1, len, f) != len) rc = errno ? -errno : DD_EIO;
  if (fclose(f) != 0 && rc == 0) rc = -errno;
  free(text);
  return rc;
}
