/* dd_srec: Motorola S-records (M68000 Family Programmer's Reference Manual, appendix C "S-Record
 * Output Format") read into and written from a dd_image. */
#ifndef DD_SREC_H
#define DD_SREC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dd_image.h"

#define DD_SREC_RECORD_LEN 16u /* default data bytes per data record (as objcopy writes) */

typedef struct {
  unsigned record_len; /* data bytes per S1/S2/S3 record, 1..254 - address bytes; 0 means
                          DD_SREC_RECORD_LEN */
  unsigned addr_bytes; /* 2 (S1/S9), 3 (S2/S8) or 4 (S3/S7); 0: the fewest that hold every
                          address and the entry point (objcopy's choice) */
  bool crlf;           /* end lines with "\r\n" (else "\n") */
  bool count;          /* write an S5 (or S6 above 65535 records) count record after the data */
} dd_srec_opts_t;

/* Read S-record text into image (which may already hold data: overlaps are errors).
 * Accepted: records "Stcc<address><data>ss" with upper- or lower-case hex digits, one a line,
 * "\n" or "\r\n", trailing blanks and blank lines. S0 header (its data becomes the image
 * header), S1/S2/S3 data with 16/24/32-bit addresses (mixed sizes allowed), S5/S6 record
 * counts (must equal the number of data records so far), S7/S8/S9 termination with the entry
 * point. One termination record is required, and only blank lines may follow it.
 * Returns 0, DD_EILSEQ (malformed: syntax, checksum, byte count, S4 or unknown type, count
 * mismatch, no termination), DD_ERANGE (data past 0xFFFFFFFF), DD_EEXIST (data overlapping
 * other data), DD_ENOMEM. why (may be NULL) then says "name:line: what", e.g.
 * "abs.s19:3: checksum 0x1F, expected 0x2E". On failure image may hold part of the data. */
int dd_srec_read(const char *text, size_t len, const char *name, dd_image_t *image, char *why,
                 size_t why_size);

/* Write image as S-records into a new NUL-terminated buffer *out (free() it) of *out_len
 * characters: S0 with the image header (empty if none), data records, the optional count
 * record, then the termination record with the entry point (0 if none). opts may be NULL
 * (16 bytes a record, fewest address bytes, "\n", no count record).
 * Returns 0, DD_EINVAL (bad record_len or addr_bytes), DD_ERANGE (an address or the entry
 * point does not fit addr_bytes), DD_ENOMEM. */
int dd_srec_write(const dd_image_t *image, const dd_srec_opts_t *opts, char **out, size_t *out_len);

#endif
