/* dd_hex: Intel HEX (Intel "Hexadecimal Object File Format Specification", rev. A, 1988) read
 * into and written from a dd_image. */
#ifndef DD_HEX_H
#define DD_HEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dd_image.h"

#define DD_HEX_RECORD_LEN 16u /* default data bytes per data record (as objcopy writes) */

/* How the writer forms addresses above 0xFFFF. */
typedef enum {
  DD_HEX_ADDR_LINEAR = 0, /* 04 extended linear address records, 05 start linear address */
  DD_HEX_ADDR_SEGMENT,    /* 02/03 segment records while the data lies below 1 MiB, then 04/05;
                             this is the choice binutils' objcopy makes */
} dd_hex_addr_mode_t;

typedef struct {
  unsigned record_len;     /* data bytes per 00 record, 1..255; 0 means DD_HEX_RECORD_LEN */
  bool crlf;               /* end lines with "\r\n" (else "\n") */
  dd_hex_addr_mode_t mode; /* address records to use */
} dd_hex_opts_t;

/* Read Intel HEX text into image (which may already hold data: overlaps are errors).
 * Accepted: records ":LLAAAATT<data>CC" with upper- or lower-case hex digits, one a line, "\n"
 * or "\r\n", trailing blanks and blank lines; types 00 data, 01 end of file, 02 extended segment
 * address, 03 start segment address (entry = CS * 16 + IP), 04 extended linear address, 05
 * start linear address. Under a 02 record the offset wraps within the 64 KiB segment (spec,
 * "Extended Segment Address Record"); under 04 it does not. The 01 record is required and only
 * blank lines may follow it.
 * Returns 0, DD_EILSEQ (malformed: syntax, checksum, record length, unknown type, no end record,
 * a second start address), DD_ERANGE (data past 0xFFFFFFFF), DD_EEXIST (data overlapping other
 * data), DD_ENOMEM. why (may be NULL) then says "name:line: what", e.g.
 * "image.hex:17: checksum 0x3C, expected 0x4A". On failure image may hold part of the data. */
int dd_hex_read(const char *text, size_t len, const char *name, dd_image_t *image, char *why,
                size_t why_size);

/* Write image as Intel HEX into a new NUL-terminated buffer *out (free() it) of *out_len
 * characters. opts may be NULL (defaults: 16 bytes a record, "\n", linear). Data records never
 * cross a 64 KiB boundary; the entry point, if any, is written before the 01 record.
 * Returns 0, DD_EINVAL (record_len > 255), DD_ENOMEM. */
int dd_hex_write(const dd_image_t *image, const dd_hex_opts_t *opts, char **out, size_t *out_len);

#endif
