/* dd_can: CAN frame lengths, validity and the can-utils compact text syntax. */
#include "dd_can.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "dd_err.h"

/* ISO 11898-1:2015, 10.4.2.4 table 5: DLC 9..15 code 12, 16, 20, 24, 32, 48, 64 bytes in FD
 * frames; in classical frames DLC 9..15 all mean 8 bytes. */
static const uint8_t s_fd_dlc_len[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 20, 24, 32, 48, 64};

/* Flags a frame may carry; anything else makes it invalid. */
#define S_KNOWN_FLAGS                                                                              \
  (DD_CAN_F_EFF | DD_CAN_F_RTR | DD_CAN_F_ERR | DD_CAN_F_FD | DD_CAN_F_BRS | DD_CAN_F_ESI |        \
   DD_CAN_F_TX)

uint8_t dd_can_dlc_to_len(uint8_t dlc, bool fd) {
  dlc &= 0x0F;
  if (fd) return s_fd_dlc_len[dlc];
  return dlc > DD_CAN_MAX_DLEN ? DD_CAN_MAX_DLEN : dlc;
}

uint8_t dd_can_len_to_dlc(uint8_t len) {
  for (uint8_t dlc = 0; dlc < 16; dlc++)
    if (s_fd_dlc_len[dlc] >= len) return dlc;
  return 15; /* longer than 64: the largest code */
}

uint8_t dd_can_fd_len(uint8_t len) {
  if (len > DD_CANFD_MAX_DLEN) return DD_CANFD_MAX_DLEN;
  return s_fd_dlc_len[dd_can_len_to_dlc(len)];
}

bool dd_can_frame_valid(const dd_can_frame_t *f) {
  assert(f);
  if (f->flags & ~S_KNOWN_FLAGS) return false;
  bool fd = f->flags & DD_CAN_F_FD;
  if (f->flags & DD_CAN_F_ERR) {
    /* SocketCAN error report: 29 bits of error class, classical layout, up to 8 data bytes. */
    if (f->flags & (DD_CAN_F_EFF | DD_CAN_F_RTR | DD_CAN_F_FD | DD_CAN_F_BRS | DD_CAN_F_ESI))
      return false;
    return f->id <= DD_CAN_EFF_MASK && f->len <= DD_CAN_MAX_DLEN;
  }
  if (f->id > ((f->flags & DD_CAN_F_EFF) ? DD_CAN_EFF_MASK : DD_CAN_SFF_MASK)) return false;
  if (fd) {
    /* ISO 11898-1:2015 10.4.2.3: FD frames have no remote form (the RRS bit is always 0). */
    if (f->flags & DD_CAN_F_RTR) return false;
    return f->len <= DD_CANFD_MAX_DLEN && dd_can_fd_len(f->len) == f->len;
  }
  if (f->flags & (DD_CAN_F_BRS | DD_CAN_F_ESI)) return false; /* FD-only control bits */
  return f->len <= DD_CAN_MAX_DLEN;
}

bool dd_can_frame_equal(const dd_can_frame_t *a, const dd_can_frame_t *b) {
  assert(a && b);
  if (a->id != b->id || a->len != b->len) return false;
  if ((a->flags & ~DD_CAN_F_TX) != (b->flags & ~DD_CAN_F_TX)) return false;
  if (a->flags & DD_CAN_F_RTR) return true;
  size_t n = a->len > DD_CANFD_MAX_DLEN ? DD_CANFD_MAX_DLEN : a->len;
  return memcmp(a->data, b->data, n) == 0;
}

/* Value of one hex digit, or -1. */
static int s_nibble(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

/* Optional "_<dlc>" suffix (raw DLC 9..F of an 8-byte classical frame, can-utils len8_dlc).
 * The raw DLC is not kept in dd_can_frame_t; the suffix is checked and skipped. */
static int s_skip_len8_dlc(const char *t, size_t len, size_t *i, uint8_t frame_len) {
  if (*i >= len || t[*i] != '_') return 0;
  if (frame_len != DD_CAN_MAX_DLEN || *i + 2 != len) return DD_EILSEQ;
  int v = s_nibble(t[*i + 1]);
  if (v < 9) return DD_EILSEQ;
  *i += 2;
  return 0;
}

/* Grammar (can-utils lib.h, parse_canframe):
 *   <id3|id8> '#' ( 'R' [len digit] ['_' dlc] | data ['_' dlc] )
 *   <id3|id8> '#' '#' <flags hex digit> data
 * data = { ['.'] hexbyte } ['.'];  3-digit ids are 11-bit, 8-digit ids 29-bit unless the
 * CAN_ERR_FLAG bit (0x20000000) marks an error frame. */
int dd_can_parse_n(const char *t, size_t len, dd_can_frame_t *out) {
  assert(t && out);
  dd_can_frame_t f;
  memset(&f, 0, sizeof f);

  size_t i = 0;
  uint32_t id = 0;
  while (i < len && t[i] != '#') {
    int v = s_nibble(t[i]);
    if (v < 0 || i >= 8) return DD_EILSEQ;
    id = (id << 4) | (uint32_t)v;
    i++;
  }
  if (i == len) return DD_EILSEQ; /* no '#' */
  if (i == 3) {
    if (id > DD_CAN_SFF_MASK) return DD_EILSEQ;
    f.id = id;
  } else if (i == 8) {
    if (id & 0xC0000000u) return DD_EILSEQ; /* EFF/RTR flag bits are never written as digits */
    if (id & DD_CAN_ERR_FLAG) {
      f.flags |= DD_CAN_F_ERR;
      f.id = id & DD_CAN_EFF_MASK;
    } else {
      f.flags |= DD_CAN_F_EFF;
      f.id = id;
    }
  } else {
    return DD_EILSEQ;
  }
  i++; /* '#' */

  size_t max = DD_CAN_MAX_DLEN;
  if (i < len && t[i] == '#') {
    if (f.flags & DD_CAN_F_ERR) return DD_EILSEQ;
    i++;
    if (i >= len) return DD_EILSEQ;
    int fl = s_nibble(t[i++]);
    if (fl < 0 || (fl & 0x8)) return DD_EILSEQ;
    f.flags |= DD_CAN_F_FD;
    if (fl & 0x1) f.flags |= DD_CAN_F_BRS;
    if (fl & 0x2) f.flags |= DD_CAN_F_ESI;
    /* 0x4 is CANFD_FDF in newer can-utils: implied by "##". */
    max = DD_CANFD_MAX_DLEN;
  } else if (i < len && t[i] == 'R') {
    if (f.flags & DD_CAN_F_ERR) return DD_EILSEQ;
    f.flags |= DD_CAN_F_RTR;
    i++;
    if (i < len && t[i] >= '0' && t[i] <= '8') f.len = (uint8_t)(t[i++] - '0');
    if (s_skip_len8_dlc(t, len, &i, f.len) != 0) return DD_EILSEQ;
    if (i != len) return DD_EILSEQ;
    *out = f;
    return 0;
  }

  size_t n = 0;
  while (i < len) {
    if (t[i] == '.') {
      i++;
      if (i == len) break; /* a trailing separator is accepted, as by can-utils */
    }
    if (t[i] == '_' && !(f.flags & DD_CAN_F_FD)) break;
    if (i + 1 >= len || n >= max) return DD_EILSEQ;
    int hi = s_nibble(t[i]), lo = s_nibble(t[i + 1]);
    if (hi < 0 || lo < 0) return DD_EILSEQ;
    f.data[n++] = (uint8_t)(hi << 4 | lo);
    i += 2;
  }
  f.len = (uint8_t)n;
  if (!(f.flags & DD_CAN_F_FD) && s_skip_len8_dlc(t, len, &i, f.len) != 0) return DD_EILSEQ;
  if (i != len) return DD_EILSEQ;
  if (!dd_can_frame_valid(&f)) return DD_EILSEQ; /* e.g. FD length that is no DLC step */
  *out = f;
  return 0;
}

int dd_can_parse(const char *text, dd_can_frame_t *out) {
  assert(text);
  return dd_can_parse_n(text, strlen(text), out);
}

char *dd_can_format(const dd_can_frame_t *f, char *buf, size_t size) {
  assert(f && buf && size > 0);
  static const char hex[] = "0123456789ABCDEF";
  char tmp[DD_CAN_TEXT_MAX];
  size_t o = 0;
  if (f->flags & DD_CAN_F_ERR)
    o += (size_t)snprintf(tmp, sizeof tmp, "%08X",
                          (unsigned)((f->id & DD_CAN_EFF_MASK) | DD_CAN_ERR_FLAG));
  else if (f->flags & DD_CAN_F_EFF)
    o += (size_t)snprintf(tmp, sizeof tmp, "%08X", (unsigned)(f->id & DD_CAN_EFF_MASK));
  else
    o += (size_t)snprintf(tmp, sizeof tmp, "%03X", (unsigned)(f->id & DD_CAN_SFF_MASK));
  tmp[o++] = '#';
  size_t n = f->len;
  if (f->flags & DD_CAN_F_FD) {
    tmp[o++] = '#';
    tmp[o++] = hex[((f->flags & DD_CAN_F_BRS) ? 1 : 0) | ((f->flags & DD_CAN_F_ESI) ? 2 : 0)];
    if (n > DD_CANFD_MAX_DLEN) n = DD_CANFD_MAX_DLEN;
  } else {
    if (n > DD_CAN_MAX_DLEN) n = DD_CAN_MAX_DLEN;
    if (f->flags & DD_CAN_F_RTR) {
      tmp[o++] = 'R';
      if (n > 0) tmp[o++] = (char)('0' + n);
      n = 0;
    }
  }
  for (size_t k = 0; k < n; k++) {
    tmp[o++] = hex[f->data[k] >> 4];
    tmp[o++] = hex[f->data[k] & 0x0F];
  }
  tmp[o] = '\0';
  snprintf(buf, size, "%s", tmp);
  return buf;
}
