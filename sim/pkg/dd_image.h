/* dd_image: a flash image in memory: sorted, merged, non-overlapping regions of bytes in a 32-bit
 * address space, with CRC-32, sector fill and loading from Intel HEX or Motorola S-record text. */
#ifndef DD_IMAGE_H
#define DD_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DD_IMAGE_ADDR_END 0x100000000ull /* one past the last address: regions end at most here */
#define DD_IMAGE_HEADER_MAX 252u         /* S0 header bytes kept (255 - 2 address - 1 checksum) */
#define DD_IMAGE_WHY_MAX 256u            /* a buffer this large holds any message written to why */
#define DD_IMAGE_FILE_MAX (256u * 1024u * 1024u) /* larger files are refused by dd_image_load */

/* A region: len bytes at addr..addr+len-1. Regions of an image are sorted by address, never
 * empty, never overlap and never touch (touching regions are merged into one). */
typedef struct {
  uint32_t addr;       /* address of the first byte */
  size_t len;          /* number of bytes, >= 1; addr + len <= DD_IMAGE_ADDR_END */
  const uint8_t *data; /* the bytes; valid until the image is changed or destroyed */
} dd_image_region_t;

typedef struct dd_image dd_image_t;

/* Text formats of flash images. */
typedef enum {
  DD_IMAGE_FMT_AUTO = 0, /* decide from the file name, else from the content */
  DD_IMAGE_FMT_IHEX,     /* Intel HEX (dd_hex) */
  DD_IMAGE_FMT_SREC,     /* Motorola S-records (dd_srec) */
} dd_image_format_t;

/* An empty image (no regions, no entry point, no header); NULL when out of memory. */
dd_image_t *dd_image_new(void);
void dd_image_destroy(dd_image_t **self_p);

/* Put len bytes at addr. Adjacent data is merged into one region. Returns 0, DD_EINVAL for
 * len == 0, DD_ERANGE when addr + len is past DD_IMAGE_ADDR_END, DD_EEXIST when any of the
 * addresses already holds data (the image is then unchanged), DD_ENOMEM. */
int dd_image_add(dd_image_t *self, uint32_t addr, const uint8_t *data, size_t len);

/* True when some address in addr..addr+len-1 holds data; *first (may be NULL) is then the
 * lowest such address. */
bool dd_image_overlaps(const dd_image_t *self, uint32_t addr, size_t len, uint32_t *first);

size_t dd_image_region_count(const dd_image_t *self);
/* Region i (0-based, i < dd_image_region_count). */
dd_image_region_t dd_image_region(const dd_image_t *self, size_t i);
/* Number of data bytes in all regions. */
uint64_t dd_image_size(const dd_image_t *self);
/* The gap between region i and region i + 1 (i + 1 < count): *addr its first address, the
 * return value its length in bytes (>= 1). */
uint64_t dd_image_gap(const dd_image_t *self, size_t i, uint32_t *addr);

/* Copy len bytes starting at addr into buf. Returns 0, or DD_ENOENT when any of them lies in a
 * gap or outside the image (buf is then undefined). */
int dd_image_read(const dd_image_t *self, uint32_t addr, uint8_t *buf, size_t len);

/* Grow every region down and up to sector_size boundaries, filling new bytes with fill (0xFF
 * for erased NOR flash); regions that come to share a sector merge and the gap between them in
 * that sector is filled too. sector_size must be a power of two (DD_EINVAL otherwise).
 * Returns 0 or DD_ENOMEM (the image is then unchanged). */
int dd_image_fill_sectors(dd_image_t *self, uint32_t sector_size, uint8_t fill);

/* Entry point (start address): Intel HEX 03/05 records, S-record S7/S8/S9 address. */
void dd_image_set_entry(dd_image_t *self, uint32_t entry);
void dd_image_clear_entry(dd_image_t *self);
/* True when the image has an entry point, which is stored in *entry (may be NULL). */
bool dd_image_entry(const dd_image_t *self, uint32_t *entry);

/* Header bytes (S-record S0 data, e.g. a module name). Returns 0 or DD_EMSGSIZE when longer
 * than DD_IMAGE_HEADER_MAX. */
int dd_image_set_header(dd_image_t *self, const uint8_t *bytes, size_t len);
/* The header's length; *bytes (may be NULL) points at it (not NUL-terminated). */
size_t dd_image_header(const dd_image_t *self, const uint8_t **bytes);

/* True when both images hold the same bytes at the same addresses (entry and header aside). */
bool dd_image_equal(const dd_image_t *a, const dd_image_t *b);

/* ---- CRC-32 ---- */

/* CRC-32 as in IEEE 802.3 (reflected polynomial 0xEDB88320, init and final XOR 0xFFFFFFFF),
 * continued from crc, the CRC of the bytes before (0 for none):
 * dd_image_crc32_update(0, "123456789", 9) == 0xCBF43926. */
uint32_t dd_image_crc32_update(uint32_t crc, const void *data, size_t len);
/* CRC-32 of the data of all regions in address order, as if concatenated (gaps not included). */
uint32_t dd_image_crc32(const dd_image_t *self);

/* ---- text formats ---- */

/* The format a file name's extension says: .hex .ihex .ihx -> IHEX; .s19 .s28 .s37 .srec .mot
 * .s -> SREC (case-insensitive); AUTO for anything else. */
dd_image_format_t dd_image_format_from_name(const char *path);
/* The format the content looks like: the first non-blank character ':' -> IHEX, 'S' and a digit
 * -> SREC; AUTO when neither. */
dd_image_format_t dd_image_format_sniff(const char *text, size_t len);
/* "ihex", "srec" or "auto". */
const char *dd_image_format_name(dd_image_format_t fmt);

/* Parse text as fmt (AUTO: sniffed) into a new image *out. name is used in messages ("NULL":
 * "<input>"). On failure *out is NULL, why (may be NULL) holds "name:line: what is wrong", and
 * the code is the reader's (dd_hex_read / dd_srec_read), or DD_ENOTSUP when AUTO cannot tell
 * the format. */
int dd_image_parse(const char *text, size_t len, const char *name, dd_image_format_t fmt,
                   dd_image_t **out, char *why, size_t why_size);

/* Read a file and parse it; the format comes from the extension, else from the content.
 * Returns dd_image_parse's codes, -errno when the file cannot be read, DD_EMSGSIZE when it is
 * larger than DD_IMAGE_FILE_MAX. */
int dd_image_load(const char *path, dd_image_t **out, char *why, size_t why_size);

/* Write the image to path in fmt (AUTO: from the extension; DD_ENOTSUP when unknown) with the
 * writers' default options. Returns 0, a writer's code or -errno. */
int dd_image_save(const dd_image_t *self, const char *path, dd_image_format_t fmt);

#endif
