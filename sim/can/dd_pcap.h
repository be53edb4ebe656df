/* dd_pcap: CAN frames in pcap files of link type LINKTYPE_CAN_SOCKETCAN, written and read. */
#ifndef DD_PCAP_H
#define DD_PCAP_H

#include <stddef.h>
#include <stdint.h>

#include "dd_can.h"

#define DD_PCAP_LINKTYPE_CAN_SOCKETCAN 227 /* tcpdump.org link-layer header types */
#define DD_PCAP_CAN_RECORD 16              /* classical record: 8-byte header + 8 bytes */
#define DD_PCAP_CANFD_RECORD 72            /* FD record: 8-byte header + 64 bytes */

/* Encode one record: big-endian id word with EFF/RTR/ERR flag bits, length, FD flags, two
 * reserved bytes, payload zero-padded to 8 (classical) or 64 (FD) bytes. Returns the record
 * length (16 or 72), or DD_ECAN_FRAME for an invalid frame. */
int dd_pcap_encode(const dd_can_frame_t *f, uint8_t out[DD_PCAP_CANFD_RECORD]);

/* Decode one record of len bytes (any length from 8 up; FD when the FDF flag is set or the
 * record is 72 bytes long). Returns 0, DD_EILSEQ for a malformed record or DD_ENOTSUP for a
 * CAN XL record. ts_us is left 0. */
int dd_pcap_decode(const uint8_t *rec, size_t len, dd_can_frame_t *out);

typedef struct {
  uint64_t epoch_us; /* added to each frame's ts_us for the record time stamp */
} dd_pcap_opts_t;

typedef struct dd_pcap_writer dd_pcap_writer_t;

/* Create (truncate) path; opts may be NULL. */
int dd_pcap_writer_open(const char *path, const dd_pcap_opts_t *opts, dd_pcap_writer_t **out);
/* Append one record and flush it. */
int dd_pcap_writer_write(dd_pcap_writer_t *self, const dd_can_frame_t *f);
void dd_pcap_writer_destroy(dd_pcap_writer_t **self_p);

typedef struct dd_pcap_reader dd_pcap_reader_t;

/* Open a pcap file of link type 227 (DD_EILSEQ for another link type). */
int dd_pcap_reader_open(const char *path, dd_pcap_reader_t **out);
/* Next frame with ts_us = record time stamp in us: 0, DD_ENOENT at the end, DD_EILSEQ or
 * DD_ENOTSUP for a record that does not decode (the next call goes on after it), DD_EILSEQ
 * for a truncated or damaged file. */
int dd_pcap_reader_next(dd_pcap_reader_t *self, dd_can_frame_t *f);
void dd_pcap_reader_destroy(dd_pcap_reader_t **self_p);

#endif
