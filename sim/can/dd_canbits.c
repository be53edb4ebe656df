/* dd_canbits: bit-exact CAN / CAN FD frame coding (ISO 11898-1:2015 clause 10), used to count
 * a frame's bits on the wire and so its duration at given bit rates. */
#include "dd_canbits.h"

#include <assert.h>
#include <string.h>

/* CRC generator polynomials without their top term (ISO 11898-1:2015 10.4.2.6):
 * CRC-15 x^15+x^14+x^10+x^8+x^7+x^4+x^3+1,
 * CRC-17 x^17+x^16+x^14+x^13+x^11+x^6+x^4+x^3+x+1,
 * CRC-21 x^21+x^20+x^13+x^11+x^7+x^4+x^3+1. */
#define S_CRC15_POLY 0x4599u
#define S_CRC17_POLY 0x1685Bu
#define S_CRC21_POLY 0x102899u

/* Bits after the CRC sequence: CRC delimiter (10.4.2.6), ACK slot, ACK delimiter (10.4.2.7),
 * EOF 7 (10.4.2.8) and the intermission, 3 bits of the interframe space (10.4.6). */
#define S_TRAILER 13

/* The coder: fed with the frame's bits in wire order, it stuffs, runs the CRC and counts. */
typedef struct {
  dd_canbits_t *out; /* counts being built */
  uint32_t crc;      /* CRC shift register */
  uint32_t poly;     /* generator polynomial, top term dropped */
  unsigned width;    /* CRC width in bits */
  int last;          /* level of the last wire bit, -1 before SOF */
  unsigned run;      /* equal levels in a row on the wire, stuff bits included */
  bool fd;           /* FD rules: dynamic stuff bits enter the CRC */
  bool data_phase;   /* wire bits now count as data-phase bits */
  uint8_t *bits;     /* optional level record */
  size_t cap;        /* capacity of bits */
  size_t n;          /* wire bits so far */
} s_coder_t;

static void s_crc_bit(s_coder_t *c, unsigned bit) {
  unsigned msb = (c->crc >> (c->width - 1)) & 1u;
  c->crc = (c->crc << 1) & ((1u << c->width) - 1u);
  if ((bit & 1u) ^ msb) c->crc ^= c->poly;
}

/* One bit on the wire, counted in the current phase. */
static void s_wire(s_coder_t *c, unsigned bit) {
  bit &= 1u;
  if (c->bits && c->n < c->cap) c->bits[c->n] = (uint8_t)bit;
  c->n++;
  if (c->data_phase)
    c->out->data_bits++;
  else
    c->out->nominal_bits++;
  if ((int)bit == c->last) {
    c->run++;
  } else {
    c->last = (int)bit;
    c->run = 1;
  }
}

/* Flags for s_put. */
enum {
  S_CRC = 1,     /* the bit enters the CRC */
  S_STUFF = 2,   /* dynamic stuffing applies after this bit */
  S_TO_DATA = 4, /* FD BRS: the data phase starts right after this bit */
};

/* A bit in the dynamically stuffed part: "after five consecutive bits of identical value the
 * transmitter inserts a bit of complementary value" (ISO 11898-1:2015 10.5). A stuff bit starts
 * a new run. In FD frames the stuff bits are part of the CRC input (10.4.2.6). */
static void s_put(s_coder_t *c, unsigned bit, unsigned how) {
  bit &= 1u;
  if (how & S_CRC) s_crc_bit(c, bit);
  s_wire(c, bit);
  if (how & S_TO_DATA) c->data_phase = true;
  if ((how & S_STUFF) && c->run == 5) {
    unsigned stuff = bit ^ 1u;
    c->out->stuff_bits++;
    if (c->fd) s_crc_bit(c, stuff);
    s_wire(c, stuff);
  }
}

/* MSB-first field of n bits. */
static void s_field(s_coder_t *c, uint32_t value, unsigned n, unsigned how) {
  for (unsigned i = n; i-- > 0;)
    s_put(c, (value >> i) & 1u, how);
}

/* Fixed stuff bit: complement of the bit before it (10.5, FD CRC field). */
static void s_fixed_stuff(s_coder_t *c) {
  c->out->fixed_stuff_bits++;
  s_wire(c, (unsigned)(c->last ^ 1));
}

/* Arbitration and control fields up to (not including) the DLC; data_phase switches after BRS
 * for FD frames. Bit levels: dominant 0, recessive 1. */
static void s_header(s_coder_t *c, const dd_can_frame_t *f, bool fd) {
  const unsigned h = S_CRC | S_STUFF;
  bool eff = f->flags & DD_CAN_F_EFF;
  s_put(c, 0, h); /* SOF (10.4.2.2) */
  if (eff) {
    /* Extended format (10.4.2.3): base id (11), SRR recessive, IDE recessive, id ext (18). */
    s_field(c, (f->id >> 18) & 0x7FFu, 11, h);
    s_put(c, 1, h); /* SRR */
    s_put(c, 1, h); /* IDE */
    s_field(c, f->id & 0x3FFFFu, 18, h);
  } else {
    s_field(c, f->id & 0x7FFu, 11, h);
  }
  if (fd) {
    /* FD control field (10.4.2.4): RRS dominant, [IDE dominant,] FDF recessive, res
     * dominant, BRS, ESI (recessive = error passive). */
    s_put(c, 0, h);           /* RRS */
    if (!eff) s_put(c, 0, h); /* IDE */
    s_put(c, 1, h);           /* FDF */
    s_put(c, 0, h);           /* res */
    s_put(c, (f->flags & DD_CAN_F_BRS) ? 1u : 0u, h | S_TO_DATA);
    s_put(c, (f->flags & DD_CAN_F_ESI) ? 1u : 0u, h);
  } else {
    /* Classical: RTR, then base format IDE dominant + r0, extended format r1 + r0. */
    s_put(c, (f->flags & DD_CAN_F_RTR) ? 1u : 0u, h);
    s_put(c, 0, h); /* IDE (base) or r1 (extended) */
    s_put(c, 0, h); /* r0 (base: FDF position, dominant in classical frames) */
  }
}

/* Stuff count (10.4.2.6): the number of dynamic stuff bits modulo 8, Gray coded, then an even
 * parity bit over those three bits. */
static uint32_t s_stuff_count_field(uint32_t stuff_bits) {
  uint32_t n = stuff_bits % 8u;
  uint32_t gray = n ^ (n >> 1);
  uint32_t parity = (gray ^ (gray >> 1) ^ (gray >> 2)) & 1u;
  return gray << 1 | parity;
}

static size_t s_code(const dd_can_frame_t *f, dd_canbits_t *out, uint8_t *bits, size_t cap) {
  memset(out, 0, sizeof *out);
  if (f->flags & DD_CAN_F_ERR) return 0;
  bool fd = f->flags & DD_CAN_F_FD;
  uint8_t dlc = dd_can_len_to_dlc(f->len);
  if (!fd && dlc > 8) dlc = 8;
  bool rtr = !fd && (f->flags & DD_CAN_F_RTR);
  uint8_t n = rtr ? 0 : dd_can_dlc_to_len(dlc, fd);

  s_coder_t c = {.out = out, .last = -1, .fd = fd, .bits = bits, .cap = cap};
  if (fd) {
    /* CRC-17 up to 16 data bytes, CRC-21 above; ISO CAN FD presets the register with a 1 in
     * its top bit (10.4.2.6). */
    c.width = n <= 16 ? 17 : 21;
    c.poly = n <= 16 ? S_CRC17_POLY : S_CRC21_POLY;
    c.crc = 1u << (c.width - 1);
  } else {
    c.width = 15;
    c.poly = S_CRC15_POLY;
  }
  out->crc_width = (uint8_t)c.width;
  out->brs = fd && (f->flags & DD_CAN_F_BRS);

  s_header(&c, f, fd);
  const unsigned h = S_CRC | S_STUFF;
  if (fd) {
    /* Dynamic stuffing ends with the data field (10.5): the last bit before the stuff count
     * gets no dynamic stuff bit, the fixed stuff bit follows it instead. */
    for (unsigned i = 4; i-- > 0;)
      s_put(&c, (dlc >> i) & 1u, (n == 0 && i == 0) ? S_CRC : h);
    for (unsigned k = 0; k < n; k++)
      for (unsigned i = 8; i-- > 0;)
        s_put(&c, (f->data[k] >> i) & 1u, (k + 1 == n && i == 0) ? S_CRC : h);
    /* CRC field (10.4.2.6, 10.5): a fixed stuff bit before the stuff count, then one after
     * every fourth bit of stuff count + CRC sequence, none after the last. */
    uint32_t sc = s_stuff_count_field(out->stuff_bits);
    for (unsigned i = 4; i-- > 0;)
      s_crc_bit(&c, (sc >> i) & 1u);
    uint32_t crc = c.crc;
    out->crc = crc;
    uint64_t seq = (uint64_t)sc << c.width | crc;
    unsigned total = 4 + c.width;
    for (unsigned i = 0; i < total; i++) {
      if (i % 4 == 0) s_fixed_stuff(&c);
      s_wire(&c, (unsigned)(seq >> (total - 1 - i)) & 1u);
    }
  } else {
    s_field(&c, dlc, 4, h);
    for (unsigned k = 0; k < n; k++)
      s_field(&c, f->data[k], 8, h);
    /* Classical frames: the CRC covers SOF..data without stuff bits; the CRC sequence itself
     * is stuffed (10.4.2.6, 10.5). */
    uint32_t crc = c.crc;
    out->crc = crc;
    s_field(&c, crc, 15, S_STUFF);
  }
  s_wire(&c, 1); /* CRC delimiter: the last data-phase bit of an FD frame */
  c.data_phase = false;
  s_wire(&c, 0); /* ACK slot, as driven by the receivers */
  s_wire(&c, 1); /* ACK delimiter */
  for (int i = 0; i < 7 + 3; i++)
    s_wire(&c, 1); /* EOF, intermission */
  return c.n;
}

dd_canbits_t dd_canbits_count(const dd_can_frame_t *f) {
  assert(f);
  dd_canbits_t b;
  s_code(f, &b, NULL, 0);
  return b;
}

size_t dd_canbits_encode(const dd_can_frame_t *f, uint8_t *bits, size_t cap) {
  assert(f && (bits || cap == 0));
  dd_canbits_t b;
  return s_code(f, &b, bits, cap);
}

dd_canbits_t dd_canbits_worst_case(const dd_can_frame_t *f) {
  assert(f);
  dd_canbits_t b;
  memset(&b, 0, sizeof b);
  if (f->flags & DD_CAN_F_ERR) return b;
  bool fd = f->flags & DD_CAN_F_FD;
  bool eff = f->flags & DD_CAN_F_EFF;
  uint8_t dlc = dd_can_len_to_dlc(f->len);
  if (!fd && dlc > 8) dlc = 8;
  bool rtr = !fd && (f->flags & DD_CAN_F_RTR);
  uint32_t data = rtr ? 0 : 8u * dd_can_dlc_to_len(dlc, fd);
  /* Stuff bits come at most after the 5th bit of the stuffed span and then after every 4th,
   * since a stuff bit starts the next run (10.5). */
  if (fd) {
    uint32_t pre_brs = eff ? 35 : 16;          /* SOF..res, the bits before BRS */
    uint32_t dyn = pre_brs + 1 + 1 + 4 + data; /* SOF..last data bit */
    uint32_t crc_w = dd_can_dlc_to_len(dlc, true) <= 16 ? 17 : 21;
    uint32_t stuff = (dyn - 2) / 4; /* no dynamic stuff bit after the last data bit */
    uint32_t nom_stuff = (pre_brs - 1) / 4;
    if (nom_stuff > stuff) nom_stuff = stuff;
    b.crc_width = (uint8_t)crc_w;
    b.fixed_stuff_bits = 1 + (4 + crc_w - 1) / 4;
    b.stuff_bits = stuff;
    b.nominal_bits = pre_brs + 1 + nom_stuff + S_TRAILER - 1; /* CRC delimiter is data */
    b.data_bits = 1 + 4 + data + 4 + crc_w + b.fixed_stuff_bits + 1 + (stuff - nom_stuff);
    b.brs = f->flags & DD_CAN_F_BRS;
  } else {
    uint32_t span = (eff ? 39u : 19u) + data + 15u; /* SOF..end of CRC sequence */
    b.crc_width = 15;
    b.stuff_bits = (span - 1) / 4;
    b.nominal_bits = span + b.stuff_bits + S_TRAILER;
  }
  return b;
}

uint32_t dd_canbits_total(const dd_canbits_t *b) {
  assert(b);
  return b->nominal_bits + b->data_bits;
}

/* bits / bps in ns, as an exact fraction num / den (den = bps). */
uint64_t dd_canbits_time_ns(const dd_canbits_t *b, uint32_t nominal_bps, uint32_t data_bps) {
  assert(b && nominal_bps > 0);
  if (!b->brs || data_bps == 0) data_bps = nominal_bps;
  /* ns = nominal_bits*1e9/nominal_bps + data_bits*1e9/data_bps, rounded once. */
  unsigned __int128 num = (unsigned __int128)b->nominal_bits * 1000000000u * data_bps +
                          (unsigned __int128)b->data_bits * 1000000000u * nominal_bps;
  unsigned __int128 den = (unsigned __int128)nominal_bps * data_bps;
  return (uint64_t)((num + den / 2) / den);
}

uint64_t dd_canbits_duration_ns(const dd_can_frame_t *f, uint32_t nominal_bps, uint32_t data_bps) {
  dd_canbits_t b = dd_canbits_count(f);
  return dd_canbits_time_ns(&b, nominal_bps, data_bps);
}
