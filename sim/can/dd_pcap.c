/* dd_pcap: LINKTYPE_CAN_SOCKETCAN records (tcpdump.org LINKTYPE_CAN_SOCKETCAN.html) in pcap
 * files. The file itself is written and read by libpcap (pcap_open_dead + pcap_dump): it owns
 * the file header, magic and record headers that Wireshark and tshark check, and
 * pcap_dump_flush makes every record durable as it is written. */
#include "dd_pcap.h"

#include <assert.h>
#include <errno.h>
#include <pcap/pcap.h>
#include <stdlib.h>
#include <string.h>

#include "dd_err.h"

/* Id word flag bits and FD flag bits of the record header (LINKTYPE_CAN_SOCKETCAN). */
#define S_EFF_FLAG 0x80000000u
#define S_RTR_FLAG 0x40000000u
#define S_ERR_FLAG 0x20000000u
#define S_FD_BRS 0x01u
#define S_FD_ESI 0x02u
#define S_FD_FDF 0x04u
#define S_XL_XLF 0x80u /* CAN XL records: bit 0x80 of the fifth octet */
#define S_SNAPLEN 65535

struct dd_pcap_writer {
  pcap_t *dead;        /* libpcap handle for the link type, no capture */
  pcap_dumper_t *dump; /* the open file */
  dd_pcap_opts_t opts; /* time base */
};

struct dd_pcap_reader {
  pcap_t *p; /* offline handle */
};

int dd_pcap_encode(const dd_can_frame_t *f, uint8_t out[DD_PCAP_CANFD_RECORD]) {
  assert(f && out);
  if (!dd_can_frame_valid(f)) return DD_ECAN_FRAME;
  uint32_t word;
  if (f->flags & DD_CAN_F_ERR) {
    word = S_ERR_FLAG | (f->id & DD_CAN_EFF_MASK);
  } else if (f->flags & DD_CAN_F_EFF) {
    word = S_EFF_FLAG | f->id;
  } else {
    word = f->id;
  }
  if (f->flags & DD_CAN_F_RTR) word |= S_RTR_FLAG;
  bool fd = f->flags & DD_CAN_F_FD;
  size_t rec = fd ? DD_PCAP_CANFD_RECORD : DD_PCAP_CAN_RECORD;
  memset(out, 0, rec);
  /* The id word is big-endian in the file, whatever the host order. */
  out[0] = (uint8_t)(word >> 24);
  out[1] = (uint8_t)(word >> 16);
  out[2] = (uint8_t)(word >> 8);
  out[3] = (uint8_t)word;
  out[4] = f->len;
  if (fd)
    out[5] = (uint8_t)(S_FD_FDF | ((f->flags & DD_CAN_F_BRS) ? S_FD_BRS : 0) |
                       ((f->flags & DD_CAN_F_ESI) ? S_FD_ESI : 0));
  if (!(f->flags & DD_CAN_F_RTR)) memcpy(out + 8, f->data, f->len);
  return (int)rec;
}

int dd_pcap_decode(const uint8_t *rec, size_t len, dd_can_frame_t *out) {
  assert(rec && out);
  if (len < 8) return DD_EILSEQ;
  if (rec[4] & S_XL_XLF) return DD_ENOTSUP;
  dd_can_frame_t f;
  memset(&f, 0, sizeof f);
  uint32_t word = (uint32_t)rec[0] << 24 | (uint32_t)rec[1] << 16 | (uint32_t)rec[2] << 8 | rec[3];
  /* Writers before FDF existed: a 72-byte record is FD, a 16-byte one classical. */
  bool fd = (rec[5] & S_FD_FDF) || len == DD_PCAP_CANFD_RECORD;
  if (word & S_ERR_FLAG) {
    f.flags = DD_CAN_F_ERR;
    f.id = word & DD_CAN_EFF_MASK;
    fd = false;
  } else {
    f.flags = (word & S_EFF_FLAG) ? DD_CAN_F_EFF : 0;
    f.id = word & DD_CAN_EFF_MASK;
    if (fd) {
      f.flags |= DD_CAN_F_FD;
      if (rec[5] & S_FD_BRS) f.flags |= DD_CAN_F_BRS;
      if (rec[5] & S_FD_ESI) f.flags |= DD_CAN_F_ESI;
    }
    if (word & S_RTR_FLAG) f.flags |= DD_CAN_F_RTR;
  }
  f.len = rec[4];
  if (!dd_can_frame_valid(&f)) return DD_EILSEQ;
  if (!(f.flags & DD_CAN_F_RTR)) {
    if (8u + f.len > len) return DD_EILSEQ;
    memcpy(f.data, rec + 8, f.len);
  }
  *out = f;
  return 0;
}

int dd_pcap_writer_open(const char *path, const dd_pcap_opts_t *opts, dd_pcap_writer_t **out) {
  assert(path && out);
  *out = NULL;
  int rc;
  dd_pcap_writer_t *self = calloc(1, sizeof *self);
  if (!self) return DD_ENOMEM;
  if (opts) self->opts = *opts;
  self->dead = pcap_open_dead_with_tstamp_precision(DD_PCAP_LINKTYPE_CAN_SOCKETCAN, S_SNAPLEN,
                                                    PCAP_TSTAMP_PRECISION_MICRO);
  if (!self->dead) {
    rc = DD_ENOMEM;
    goto out_free_self;
  }
  errno = 0;
  self->dump = pcap_dump_open(self->dead, path);
  if (!self->dump) {
    rc = errno ? -errno : DD_EIO;
    goto out_close_dead;
  }
  if (pcap_dump_flush(self->dump) != 0) { /* the file header is on disk from the start */
    rc = DD_EIO;
    goto out_close_dump;
  }
  *out = self;
  return 0;

out_close_dump:
  pcap_dump_close(self->dump);
out_close_dead:
  pcap_close(self->dead);
out_free_self:
  free(self);
  return rc;
}

int dd_pcap_writer_write(dd_pcap_writer_t *self, const dd_can_frame_t *f) {
  assert(self && f);
  uint8_t rec[DD_PCAP_CANFD_RECORD];
  int n = dd_pcap_encode(f, rec);
  if (n < 0) return n;
  uint64_t t = self->opts.epoch_us + f->ts_us;
  struct pcap_pkthdr h;
  memset(&h, 0, sizeof h);
  h.ts.tv_sec = (time_t)(t / 1000000u);
  h.ts.tv_usec = (suseconds_t)(t % 1000000u);
  h.caplen = (bpf_u_int32)n;
  h.len = (bpf_u_int32)n;
  pcap_dump((u_char *)self->dump, &h, rec);
  if (pcap_dump_flush(self->dump) != 0) return DD_EIO;
  return 0;
}

void dd_pcap_writer_destroy(dd_pcap_writer_t **self_p) {
  assert(self_p);
  dd_pcap_writer_t *self = *self_p;
  if (!self) return;
  pcap_dump_close(self->dump);
  pcap_close(self->dead);
  free(self);
  *self_p = NULL;
}

int dd_pcap_reader_open(const char *path, dd_pcap_reader_t **out) {
  assert(path && out);
  *out = NULL;
  char err[PCAP_ERRBUF_SIZE];
  errno = 0;
  pcap_t *p = pcap_open_offline(path, err);
  if (!p) return errno == ENOENT ? DD_ENOENT : DD_EILSEQ;
  if (pcap_datalink(p) != DD_PCAP_LINKTYPE_CAN_SOCKETCAN) {
    pcap_close(p);
    return DD_EILSEQ;
  }
  dd_pcap_reader_t *self = calloc(1, sizeof *self);
  if (!self) {
    pcap_close(p);
    return DD_ENOMEM;
  }
  self->p = p;
  *out = self;
  return 0;
}

int dd_pcap_reader_next(dd_pcap_reader_t *self, dd_can_frame_t *f) {
  assert(self && f);
  struct pcap_pkthdr *h;
  const u_char *data;
  int rc = pcap_next_ex(self->p, &h, &data);
  if (rc == PCAP_ERROR_BREAK) return DD_ENOENT;
  if (rc != 1) return DD_EILSEQ; /* truncated or damaged file */
  rc = dd_pcap_decode(data, h->caplen, f);
  if (rc != 0) return rc;
  f->ts_us = (uint64_t)h->ts.tv_sec * 1000000u + (uint64_t)h->ts.tv_usec;
  return 0;
}

void dd_pcap_reader_destroy(dd_pcap_reader_t **self_p) {
  assert(self_p);
  dd_pcap_reader_t *self = *self_p;
  if (!self) return;
  pcap_close(self->p);
  free(self);
  *self_p = NULL;
}
