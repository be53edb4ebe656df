/* dd_canbits: the exact length of a CAN or CAN FD frame on the wire, stuff bits included. */
#ifndef DD_CANBITS_H
#define DD_CANBITS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dd_can.h"

/* Bit counts of one frame from SOF through the 3-bit intermission (IFS). Stuff bits are
 * included in nominal_bits and data_bits; stuff_bits and fixed_stuff_bits say how many. */
typedef struct {
  uint32_t nominal_bits;     /* bits at the nominal rate: classic all; FD SOF..BRS, ACK..IFS */
  uint32_t data_bits;        /* FD only: bits after BRS through the CRC delimiter; classic 0 */
  uint32_t stuff_bits;       /* dynamic stuff bits (complement after 5 equal bits) */
  uint32_t fixed_stuff_bits; /* FD only: fixed stuff bits of the CRC field */
  uint32_t crc;              /* CRC sequence sent: CRC-15, CRC-17 or CRC-21 (FD) */
  uint8_t crc_width;         /* 15, 17 or 21; 0 for an error frame */
  bool brs;                  /* data_bits go at the data bit rate (FD frame with BRS) */
} dd_canbits_t;

/* Longest frame on the wire: extended FD frame, 64 bytes, every stuff bit (735). */
#define DD_CANBITS_MAX 800

/* Exact count for f (classic base/extended data and remote frames, FD base/extended frames).
 * An error frame (DD_CAN_F_ERR, a controller report) takes no bus time: all counts are 0.
 * Lengths that are no valid DLC step are counted as the DLC that would be sent. */
dd_canbits_t dd_canbits_count(const dd_can_frame_t *f);

/* Upper bound for any payload of f's format and length: every possible stuff bit. The
 * nominal part takes as many stuff bits as it can hold, so dd_canbits_time_ns of the bound is
 * an upper bound whenever data_bps >= nominal_bps. */
dd_canbits_t dd_canbits_worst_case(const dd_can_frame_t *f);

/* nominal_bits + data_bits. */
uint32_t dd_canbits_total(const dd_canbits_t *b);

/* Time on the wire in ns (rounded to nearest): nominal_bits at nominal_bps, data_bits at
 * data_bps when b->brs, else at nominal_bps. nominal_bps > 0; data_bps 0 means nominal_bps. */
uint64_t dd_canbits_time_ns(const dd_canbits_t *b, uint32_t nominal_bps, uint32_t data_bps);

/* dd_canbits_time_ns(dd_canbits_count(f)). */
uint64_t dd_canbits_duration_ns(const dd_can_frame_t *f, uint32_t nominal_bps, uint32_t data_bps);

/* The frame's bit levels as seen on an acknowledged bus (1 = recessive), SOF through IFS, one
 * bit per byte, into bits[0..cap). Returns the number of bits (which may exceed cap, then only
 * cap are written); 0 for an error frame. */
size_t dd_canbits_encode(const dd_can_frame_t *f, uint8_t *bits, size_t cap);

#endif
