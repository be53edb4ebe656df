/* dd_can: the CAN frame as every duodiag module sees it, and its text form (can-utils syntax). */
#ifndef DD_CAN_H
#define DD_CAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DD_CAN_MAX_DLEN 8    /* classic CAN payload (ISO 11898-1) */
#define DD_CANFD_MAX_DLEN 64 /* CAN FD payload (ISO 11898-1:2015) */

#define DD_CAN_SFF_MASK 0x000007FFu /* 11-bit identifier */
#define DD_CAN_EFF_MASK 0x1FFFFFFFu /* 29-bit identifier */

/* dd_can_frame_t.flags */
enum {
  DD_CAN_F_EFF = 0x01, /* 29-bit (extended) identifier */
  DD_CAN_F_RTR = 0x02, /* remote transmission request (classic only) */
  DD_CAN_F_ERR = 0x04, /* error frame; id carries the SocketCAN CAN_ERR_* class bits */
  DD_CAN_F_FD = 0x08,  /* CAN FD frame (FDF) */
  DD_CAN_F_BRS = 0x10, /* CAN FD bit-rate switch */
  DD_CAN_F_ESI = 0x20, /* CAN FD error-state indicator */
  DD_CAN_F_TX = 0x40,  /* this copy is the echo of our own transmission */
};

typedef struct {
  uint32_t id;                     /* identifier, without flag bits */
  uint8_t flags;                   /* DD_CAN_F_* */
  uint8_t len;                     /* payload bytes: 0..8 classic, 0..64 (DLC steps) FD */
  uint8_t data[DD_CANFD_MAX_DLEN]; /* payload */
  uint64_t ts_us;                  /* time stamp (end of frame on the bus), clock microseconds */
} dd_can_frame_t;

/* DLC <-> length (ISO 11898-1:2015, 10.4.2.4 table 5). dd_can_len_to_dlc rounds up to the next
 * valid FD length; dd_can_fd_len rounds a length up to a valid FD payload size. Lengths above
 * 64 give DLC 15 / 64 bytes; classic DLC 9..15 mean 8 bytes. */
uint8_t dd_can_dlc_to_len(uint8_t dlc, bool fd);
uint8_t dd_can_len_to_dlc(uint8_t len);
uint8_t dd_can_fd_len(uint8_t len);

/* True when the frame is well formed: id fits its format, len valid for classic/FD. */
bool dd_can_frame_valid(const dd_can_frame_t *f);

/* Parse can-utils compact syntax: "7E0#0322F190", "12345678#11", "123#R", "123##1AABB".
 * Returns 0 or DD_EILSEQ. */
int dd_can_parse(const char *text, dd_can_frame_t *out);

/* Format in the same syntax into buf (at least DD_CAN_TEXT_MAX bytes); returns buf. */
#define DD_CAN_TEXT_MAX 160
char *dd_can_format(const dd_can_frame_t *f, char *buf, size_t size);

/* SocketCAN's CAN_ERR_FLAG: marks an error frame's 8-digit id in the text syntax and in pcap. */
#define DD_CAN_ERR_FLAG 0x20000000u

/* dd_can_parse on the first len bytes of text (no NUL needed), for parsing inside a line. */
int dd_can_parse_n(const char *text, size_t len, dd_can_frame_t *out);

/* True when a and b are the same frame on the wire: id, flags (DD_CAN_F_TX ignored), len and
 * the len payload bytes (RTR frames: no payload). Time stamps are not compared. */
bool dd_can_frame_equal(const dd_can_frame_t *a, const dd_can_frame_t *b);

#endif
