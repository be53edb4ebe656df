/* check_isotp: unit tests of the ISO-TP state machine, two instances wired back to back
 * through a small in-test bus driven by an injected clock.
 *
 * Vectors: the frame layouts are those of ISO 15765-2:2016 9.6; where a test names
 * "python-can-isotp", the frames are the ones of that independent implementation's test suite
 * (test/test_transport_layer.py: e.g. test_long_multiframe_2_flow_control,
 * test_receive_4096_multiframe, test_receive_can_fd_*, test_receive_overflow_handling*);
 * "Linux isotp" marks behaviour checked against the kernel's net/can/isotp.c. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_err.h"
#include "dd_isotp.h"

/* ---- frames as text: can-utils syntax, "7E0#0322F190", FD as "7E0##<flags><data>" ---------- */

static int s_hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  ck_abort_msg("bad hex digit '%c'", c);
  return 0;
}

static dd_can_frame_t s_frame(const char *text) {
  dd_can_frame_t f;
  memset(&f, 0, sizeof f);
  const char *hash = strchr(text, '#');
  ck_assert_ptr_nonnull(hash);
  for (const char *p = text; p < hash; p++) f.id = f.id * 16 + (uint32_t)s_hexval(*p);
  if (hash - text > 3) f.flags |= DD_CAN_F_EFF;
  const char *p = hash + 1;
  if (*p == '#') {
    f.flags |= DD_CAN_F_FD;
    if (s_hexval(p[1]) & 1) f.flags |= DD_CAN_F_BRS;
    p += 2;
  }
  while (*p) {
    ck_assert_msg(p[1] != '\0', "odd hex in %s", text);
    ck_assert_uint_lt(f.len, DD_CANFD_MAX_DLEN);
    f.data[f.len++] = (uint8_t)(s_hexval(p[0]) << 4 | s_hexval(p[1]));
    p += 2;
  }
  return f;
}

static const char *s_fmt(const dd_can_frame_t *f) {
  static char bufs[4][200]; /* rotating, so two calls can sit in one assertion */
  static unsigned next;
  char *buf = bufs[next++ % 4];
  int n;
  if (f->flags & DD_CAN_F_EFF)
    n = snprintf(buf, 200, "%08X#", (unsigned)f->id);
  else
    n = snprintf(buf, 200, "%03X#", (unsigned)f->id);
  if (f->flags & DD_CAN_F_FD)
    n += snprintf(buf + n, 200 - (size_t)n, "#%X", f->flags & DD_CAN_F_BRS ? 1 : 0);
  for (unsigned i = 0; i < f->len; i++) n += snprintf(buf + n, 200 - (size_t)n, "%02X", f->data[i]);
  return buf;
}

/* Payload like python-can-isotp's make_payload: start, start+1, ... modulo 256. */
static uint8_t *s_payload(size_t n, unsigned start) {
  uint8_t *p = malloc(n ? n : 1);
  ck_assert_ptr_nonnull(p);
  for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(start + i);
  return p;
}

/* Hex text of payload bytes [from, to). */
static const char *s_hex(const uint8_t *p, size_t from, size_t to) {
  static char bufs[4][300];
  static unsigned next;
  char *buf = bufs[next++ % 4];
  size_t n = 0;
  for (size_t i = from; i < to; i++)
    n += (size_t)snprintf(buf + n, sizeof bufs[0] - n, "%02X", p[i]);
  buf[n] = '\0';
  return buf;
}

/* ---- the test bus ---------------------------------------------------------------------- */

typedef struct {
  dd_isotp_ev_kind_t kind; /* event kind */
  int error;               /* error code */
  bool aborted;            /* reception/transmission dropped */
  bool functional;         /* functional addressing */
  size_t len;              /* length field */
  uint64_t t;              /* event time */
  uint8_t *data;           /* copy of RX_DONE data */
} s_ev_t;

typedef struct {
  uint64_t t;       /* when it went on the bus */
  int from;         /* 0 or 1 (a node), 2 (injected by the test) */
  dd_can_frame_t f; /* the frame */
} s_rec_t;

typedef struct s_bus s_bus_t;
/* Returns how many copies of the frame reach the other node (0 = lost, 2 = duplicated). */
typedef int (*s_filter_fn)(s_bus_t *bus, int from, dd_can_frame_t *f);

struct s_bus {
  uint64_t now;          /* the injected clock */
  dd_isotp_t *node[2];   /* the two instances (either may be NULL) */
  s_rec_t *log;          /* every frame that went on the bus */
  size_t nlog;           /* entries in log */
  size_t caplog;         /* allocated entries */
  s_ev_t *ev[2];         /* events of each node */
  size_t nev[2];         /* entries */
  size_t capev[2];       /* allocated entries */
  s_filter_fn filter;    /* optional fault injection */
  int filter_arg;        /* parameter of the filter */
  size_t emitted[2];     /* frames emitted by each node */
  bool confirm;          /* confirm each frame to its sender once delivered */
};

static void s_bus_init(s_bus_t *b, const dd_isotp_cfg_t *a, const dd_isotp_cfg_t *c) {
  memset(b, 0, sizeof *b);
  b->now = 1000;
  if (a) {
    b->node[0] = dd_isotp_new(a);
    ck_assert_ptr_nonnull(b->node[0]);
  }
  if (c) {
    b->node[1] = dd_isotp_new(c);
    ck_assert_ptr_nonnull(b->node[1]);
  }
}

static void s_bus_free(s_bus_t *b) {
  for (int i = 0; i < 2; i++) {
    dd_isotp_destroy(&b->node[i]);
    ck_assert_ptr_null(b->node[i]);
    for (size_t k = 0; k < b->nev[i]; k++) free(b->ev[i][k].data);
    free(b->ev[i]);
  }
  free(b->log);
}

static void s_bus_log(s_bus_t *b, int from, const dd_can_frame_t *f) {
  if (b->nlog == b->caplog) {
    b->caplog = b->caplog ? b->caplog * 2 : 64;
    b->log = realloc(b->log, b->caplog * sizeof *b->log);
    ck_assert_ptr_nonnull(b->log);
  }
  b->log[b->nlog++] = (s_rec_t){b->now, from, *f};
}

static void s_bus_drain(s_bus_t *b) {
  for (int i = 0; i < 2; i++) {
    if (!b->node[i]) continue;
    dd_isotp_event_t ev;
    while (dd_isotp_take_event(b->node[i], &ev)) {
      if (b->nev[i] == b->capev[i]) {
        b->capev[i] = b->capev[i] ? b->capev[i] * 2 : 16;
        b->ev[i] = realloc(b->ev[i], b->capev[i] * sizeof *b->ev[i]);
        ck_assert_ptr_nonnull(b->ev[i]);
      }
      s_ev_t *e = &b->ev[i][b->nev[i]++];
      *e = (s_ev_t){ev.kind, ev.error, ev.aborted, ev.functional, ev.len, ev.time_us, NULL};
      if (ev.kind == DD_ISOTP_EV_RX_DONE) {
        ck_assert_ptr_nonnull(ev.data);
        e->data = malloc(ev.len);
        ck_assert_ptr_nonnull(e->data);
        memcpy(e->data, ev.data, ev.len);
      } else {
        ck_assert_ptr_null(ev.data);
      }
    }
  }
}

/* Let both nodes send everything due at the current time; the bus takes no time. */
static void s_bus_pump(s_bus_t *b) {
  bool again = true;
  int guard = 0;
  while (again) {
    ck_assert_int_lt(++guard, 100000);
    again = false;
    for (int i = 0; i < 2; i++) {
      if (!b->node[i]) continue;
      dd_can_frame_t f;
      while (dd_isotp_poll(b->node[i], b->now, &f) == 1) {
        again = true;
        b->emitted[i]++;
        int copies = b->filter ? b->filter(b, i, &f) : 1;
        for (int k = 0; k < copies; k++) {
          s_bus_log(b, i, &f);
          if (b->node[1 - i]) dd_isotp_on_frame(b->node[1 - i], &f, b->now);
        }
        if (b->confirm) ck_assert_int_eq(dd_isotp_on_tx_confirm(b->node[i], b->now), 0);
      }
    }
    s_bus_drain(b);
  }
}

static uint64_t s_bus_deadline(const s_bus_t *b) {
  uint64_t d = UINT64_MAX;
  for (int i = 0; i < 2; i++) {
    if (!b->node[i]) continue;
    uint64_t x = dd_isotp_next_deadline(b->node[i]);
    if (x < d) d = x;
  }
  return d;
}

/* Advance the clock deadline by deadline up to `until`, pumping at each. */
static void s_bus_run(s_bus_t *b, uint64_t until) {
  s_bus_pump(b);
  for (int guard = 0;; guard++) {
    ck_assert_int_lt(guard, 1000000);
    uint64_t d = s_bus_deadline(b);
    if (d == UINT64_MAX || d > until) break;
    if (d > b->now) b->now = d;
    s_bus_pump(b);
  }
  if (until != UINT64_MAX && until > b->now) b->now = until;
}

static void s_bus_run_all(s_bus_t *b) { s_bus_run(b, UINT64_MAX); }

/* Put a frame written as text on the bus towards node `to`; returns on_frame's result. */
static int s_inject(s_bus_t *b, int to, const char *text) {
  dd_can_frame_t f = s_frame(text);
  s_bus_log(b, 2, &f);
  int rc = dd_isotp_on_frame(b->node[to], &f, b->now);
  s_bus_drain(b);
  return rc;
}

static int s_inject_frame(s_bus_t *b, int to, const dd_can_frame_t *f) {
  s_bus_log(b, 2, f);
  int rc = dd_isotp_on_frame(b->node[to], f, b->now);
  s_bus_drain(b);
  return rc;
}

static const char *s_log(const s_bus_t *b, size_t i) {
  ck_assert_uint_lt(i, b->nlog);
  return s_fmt(&b->log[i].f);
}

static size_t s_count(const s_bus_t *b, int node, dd_isotp_ev_kind_t kind) {
  size_t n = 0;
  for (size_t i = 0; i < b->nev[node]; i++) n += b->ev[node][i].kind == kind;
  return n;
}

/* The nth event of a kind (0-based), failing the test when there is none. */
static const s_ev_t *s_ev(const s_bus_t *b, int node, dd_isotp_ev_kind_t kind, size_t nth) {
  for (size_t i = 0; i < b->nev[node]; i++)
    if (b->ev[node][i].kind == kind && nth-- == 0) return &b->ev[node][i];
  ck_abort_msg("node %d has no event of kind %d", node, (int)kind);
  return NULL;
}

static void s_expect_rx(const s_bus_t *b, int node, const uint8_t *msg, size_t len) {
  const s_ev_t *e = s_ev(b, node, DD_ISOTP_EV_RX_DONE, 0);
  ck_assert_uint_eq(e->len, len);
  ck_assert_int_eq(memcmp(e->data, msg, len), 0);
}

/* Node 0 is the tester (7E0 -> / <- 7E8), node 1 the ECU; both unpadded unless said. */
static void s_cfg_pair(dd_isotp_cfg_t *a, dd_isotp_cfg_t *c) {
  dd_isotp_cfg_default(a);
  dd_isotp_cfg_default(c);
  a->tx_id = 0x7E0;
  a->rx_id = 0x7E8;
  c->tx_id = 0x7E8;
  c->rx_id = 0x7E0;
  a->tx_padding = c->tx_padding = false;
}

/* Send len bytes from node 0 to node 1 and run to the end; checks delivery. */
static void s_roundtrip(const dd_isotp_cfg_t *a, const dd_isotp_cfg_t *c, size_t len,
                        s_bus_t *b) {
  s_bus_init(b, a, c);
  uint8_t *msg = s_payload(len, 0);
  ck_assert_int_eq(dd_isotp_send(b->node[0], msg, len, b->now), 0);
  s_bus_run_all(b);
  ck_assert_uint_eq(s_count(b, 0, DD_ISOTP_EV_TX_DONE), 1);
  ck_assert_uint_eq(s_count(b, 0, DD_ISOTP_EV_TX_ERROR), 0);
  ck_assert_uint_eq(s_count(b, 1, DD_ISOTP_EV_RX_ERROR), 0);
  s_expect_rx(b, 1, msg, len);
  free(msg);
}

/* ---- filters --------------------------------------------------------------------------- */

static int s_drop_nth_from_0(s_bus_t *b, int from, dd_can_frame_t *f) {
  (void)f;
  return (from == 0 && (int)b->emitted[0] == b->filter_arg) ? 0 : 1;
}

static int s_dup_nth_from_0(s_bus_t *b, int from, dd_can_frame_t *f) {
  (void)f;
  return (from == 0 && (int)b->emitted[0] == b->filter_arg) ? 2 : 1;
}

/* ---- tests: single frames -------------------------------------------------------------- */

START_TEST(test_sf_classic_exact) {
  /* python-can-isotp test_send_single_frame / test_padding_single_frame (0xAA) */
  for (int pad = 0; pad < 2; pad++) {
    for (unsigned i = 1; i <= 7; i++) {
      dd_isotp_cfg_t a, c;
      s_cfg_pair(&a, &c);
      a.tx_padding = pad;
      a.pad_byte = 0xAA;
      s_bus_t b;
      s_bus_init(&b, &a, &c);
      uint8_t *msg = s_payload(i, i);
      ck_assert_int_eq(dd_isotp_send(b.node[0], msg, i, b.now), 0);
      s_bus_run_all(&b);
      char want[64];
      int n = snprintf(want, sizeof want, "7E0#%02X%s", i, s_hex(msg, 0, i));
      for (unsigned k = i; pad && k < 7; k++)
        n += snprintf(want + n, sizeof want - (size_t)n, "AA");
      ck_assert_uint_eq(b.nlog, 1);
      ck_assert_str_eq(s_log(&b, 0), want);
      ck_assert_uint_eq(b.log[0].f.len, pad ? 8 : i + 1);
      s_expect_rx(&b, 1, msg, i);
      ck_assert_uint_eq(s_ev(&b, 0, DD_ISOTP_EV_TX_DONE, 0)->len, i);
      free(msg);
      s_bus_free(&b);
    }
  }
}
END_TEST

/* ---- tests: segmented transfers, exact bytes ------------------------------------------- */

START_TEST(test_20_bytes_exact) {
  /* ISO 15765-2:2016 9.6: FF 10 14 + 6 bytes, FC 30 00 00, CF 21 + 7, CF 22 + 7 */
  for (int pad = 0; pad < 2; pad++) {
    dd_isotp_cfg_t a, c;
    s_cfg_pair(&a, &c);
    a.tx_padding = c.tx_padding = pad;
    s_bus_t b;
    s_bus_init(&b, &a, &c);
    uint8_t *msg = s_payload(20, 0);
    ck_assert_int_eq(dd_isotp_send(b.node[0], msg, 20, b.now), 0);
    s_bus_run_all(&b);
    ck_assert_uint_eq(b.nlog, 4);
    ck_assert_str_eq(s_log(&b, 0), "7E0#1014000102030405");
    ck_assert_str_eq(s_log(&b, 1), pad ? "7E8#300000CCCCCCCCCC" : "7E8#300000");
    ck_assert_str_eq(s_log(&b, 2), "7E0#21060708090A0B0C");
    ck_assert_str_eq(s_log(&b, 3), "7E0#220D0E0F10111213");
    ck_assert_uint_eq(s_ev(&b, 1, DD_ISOTP_EV_RX_FIRST_FRAME, 0)->len, 20);
    s_expect_rx(&b, 1, msg, 20);
    ck_assert_uint_eq(s_ev(&b, 0, DD_ISOTP_EV_TX_DONE, 0)->len, 20);
    ck_assert(!dd_isotp_tx_busy(b.node[0]));
    ck_assert(!dd_isotp_rx_busy(b.node[1]));
    ck_assert_uint_eq(dd_isotp_next_deadline(b.node[0]), UINT64_MAX);
    ck_assert_uint_eq(dd_isotp_next_deadline(b.node[1]), UINT64_MAX);
    free(msg);
    s_bus_free(&b);
  }
}
END_TEST

START_TEST(test_block_size_python_vector) {
  /* python-can-isotp test_long_multiframe_2_flow_control: 30 bytes, BS 3, STmin 5 ms */
  dd_isotp_cfg_t a, c;
  s_cfg_pair(&a, &c);
  c.bs = 3;
  c.stmin = 5;
  s_bus_t b;
  s_bus_init(&b, &a, &c);
  uint64_t t0 = b.now;
  uint8_t *msg = s_payload(30, 0);
  ck_assert_int_eq(dd_isotp_send(b.node[0], msg, 30, b.now), 0);
  s_bus_run_all(&b);
  ck_assert_uint_eq(b.nlog, 7);
  ck_assert_str_eq(s_log(&b, 0), "7E0#101E000102030405");
  ck_assert_str_eq(s_log(&b, 1), "7E8#300305");
  ck_assert_str_eq(s_log(&b, 2), "7E0#21060708090A0B0C");
  ck_assert_str_eq(s_log(&b, 3), "7E0#220D0E0F10111213");
  ck_assert_str_eq(s_log(&b, 4), "7E0#231415161718191A");
  ck_assert_str_eq(s_log(&b, 5), "7E8#300305");
  ck_assert_str_eq(s_log(&b, 6), "7E0#241B1C1D");
  /* STmin is the gap between CFs; the first CF after each FC goes at once */
  const uint64_t t[] = {t0, t0, t0, t0 + 5000, t0 + 10000, t0 + 10000, t0 + 10000};
  for (size_t i = 0; i < 7; i++) ck_assert_uint_eq(b.log[i].t, t[i]);
  s_expect_rx(&b, 1, msg, 30);
  free(msg);
  s_bus_free(&b);
}
END_TEST

START_TEST(test_block_sizes) {
  /* a new FC after every BS CFs, none after the last CF */
  for (unsigned bs = 1; bs <= 5; bs++) {
    dd_isotp_cfg_t a, c;
    s_cfg_pair(&a, &c);
    c.bs = (uint8_t)bs;
    s_bus_t b;
    s_roundtrip(&a, &c, 100, &b); /* FF 6 + 14 CFs (13 x 7 + 3) */
    size_t cfs = 0, fcs = 0;
    for (size_t i = 0; i < b.nlog; i++) {
      uint8_t pci = b.log[i].f.data[0] >> 4;
      if (b.log[i].from == 1) {
        ck_assert_uint_eq(pci, 3);
        ck_assert_uint_eq(b.log[i].f.data[1], bs);
        /* each FC follows the FF or exactly bs CFs */
        ck_assert_uint_eq(cfs, fcs * bs);
        fcs++;
      } else if (pci == 2) {
        cfs++;
      }
    }
    ck_assert_uint_eq(cfs, 14);
    ck_assert_uint_eq(fcs, 1 + (14 - 1) / bs);
    s_bus_free(&b);
  }
}
END_TEST

START_TEST(test_classic_boundaries) {
  /* 7 bytes fit an SF with normal addressing, 6 with extended (ISO 15765-2:2016 9.6.2.1) */
  static const struct {
    dd_isotp_addr_t addr;
    size_t len;
    uint8_t first_pci; /* high nibble of the first frame's N_PCI */
    size_t frames;     /* frames on the bus, FCs included */
  } cases[] = {
      {DD_ISOTP_ADDR_NORMAL, 6, 0, 1},   {DD_ISOTP_ADDR_NORMAL, 7, 0, 1},
      {DD_ISOTP_ADDR_NORMAL, 8, 1, 3},   {DD_ISOTP_ADDR_NORMAL, 13, 1, 3},
      {DD_ISOTP_ADDR_NORMAL, 14, 1, 4},  {DD_ISOTP_ADDR_EXTENDED, 5, 0, 1},
      {DD_ISOTP_ADDR_EXTENDED, 6, 0, 1}, {DD_ISOTP_ADDR_EXTENDED, 7, 1, 3},
      {DD_ISOTP_ADDR_EXTENDED, 11, 1, 3}, {DD_ISOTP_ADDR_EXTENDED, 12, 1, 4},
      {DD_ISOTP_ADDR_MIXED, 6, 0, 1},    {DD_ISOTP_ADDR_MIXED, 7, 1, 3},
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    dd_isotp_cfg_t a, c;
    s_cfg_pair(&a, &c);
    a.addr = c.addr = cases[k].addr;
    a.tx_ext_addr = c.rx_ext_addr = 0x10;
    a.rx_ext_addr = c.tx_ext_addr = 0xF1;
    s_bus_t b;
    s_roundtrip(&a, &c, cases[k].len, &b);
    unsigned ae = cases[k].addr == DD_ISOTP_ADDR_NORMAL ? 0 : 1;
    ck_assert_msg(b.nlog == cases[k].frames, "case %zu: %zu frames", k, b.nlog);
    ck_assert_uint_eq(b.log[0].f.data[ae] >> 4, cases[k].first_pci);
    if (ae) ck_assert_uint_eq(b.log[0].f.data[0], 0x10);
    s_bus_free(&b);
  }
}
END_TEST

START_TEST(test_4095_and_escape_4096) {
  /* 4095: the largest 12-bit FF_DL; 4096 needs the escape (ISO 15765-2:2016 9.6.3.1), as in
   * python-can-isotp test_receive_4096_multiframe: 10 00 00 00 10 00 + 2 bytes */
  dd_isotp_cfg_t a, c;
  s_cfg_pair(&a, &c);
  s_bus_t b;
  s_roundtrip(&a, &c, 4095, &b);
  ck_assert_str_eq(s_log(&b, 0), "7E0#1FFF000102030405");
  ck_assert_uint_eq(b.nlog, 2 + 585); /* 4089 = 584 x 7 + 1 */
  ck_assert_str_eq(s_log(&b, 2), "7E0#21060708090A0B0C");
  /* the 15th CF has SN F, the 16th wraps to 0 */
  ck_assert_uint_eq(b.log[2 + 14].f.data[0], 0x2F);
  ck_assert_uint_eq(b.log[2 + 15].f.data[0], 0x20);
  ck_assert_uint_eq(b.log[2 + 16].f.data[0], 0x21);
  ck_assert_uint_eq(b.log[b.nlog - 1].f.len, 2);
  s_bus_free(&b);

  s_roundtrip(&a, &c, 4096, &b);
  ck_assert_str_eq(s_log(&b, 0), "7E0#1000000010000001");
  ck_assert_uint_eq(b.nlog, 2 + 585); /* 4094 = 584 x 7 + 6 */
  ck_assert_str_eq(s_log(&b, 2), "7E0#2102030405060708");
  ck_assert_uint_eq(s_ev(&b, 1, DD_ISOTP_EV_RX_FIRST_FRAME, 0)->len, 4096);
  s_bus_free(&b);

  /* without the escape the limit is 4095 */
  a.ff_escape = false;
  s_bus_init(&b, &a, NULL);
  uint8_t *msg = s_payload(4096, 0);
  ck_assert_int_eq(dd_isotp_send(b.node[0], msg, 4096, b.now), DD_EMSGSIZE);
  ck_assert_int_eq(dd_isotp_send(b.node[0], msg, 4095, b.now), 0);
  free(msg);
  s_bus_free(&b);
}
END_TEST

START_TEST(test_receive_escape_python_vector) {
  /* python-can-isotp test_receive_10000_multiframe: escape FF of 10000 bytes, classic CFs */
  dd_isotp_cfg_t c;
  dd_isotp_cfg_default(&c);
  c.tx_id = 0x7E8;
  c.rx_id = 0x7E0;
  c.tx_padding = false;
  s_bus_t b;
  s_bus_init(&b, NULL, &c);
  uint8_t *msg = s_payload(10000, 0);
  ck_assert_int_eq(s_inject(&b, 1, "7E0#1000000027100001"), 1);
  s_bus_pump(&b);
  ck_assert_str_eq(s_log(&b, 1), "7E8#300000");
  unsigned sn = 1;
  for (size_t n = 2; n < 10000; n += 7, sn++) {
    dd_can_frame_t f = {.id = 0x7E0};
    f.data[0] = (uint8_t)(0x20 | (sn & 0xF));
    size_t k = 10000 - n < 7 ? 10000 - n : 7;
    memcpy(f.data + 1, msg + n, k);
    f.len = (uint8_t)(1 + k);
    ck_assert_int_eq(s_inject_frame(&b, 1, &f), 1);
  }
  s_expect_rx(&b, 1, msg, 10000);
  free(msg);
  s_bus_free(&b);
}
END_TEST

/* ---- tests: CAN FD --------------------------------------------------------------------- */

static void s_cfg_fd(dd_isotp_cfg_t *x, uint8_t tx_dl) {
  x->fd = true;
  x->tx_dl = tx_dl;
}

START_TEST(test_fd_single_frames) {
  /* ISO 15765-2:2016 9.6.2.1: up to 7 bytes the classic SF; above, the escape (SF_DL in the
   * second byte) in the smallest FD frame, up to 62 bytes at TX_DL 64 */
  for (int pad = 0; pad < 2; pad++) {
    for (size_t len = 1; len <= 63; len++) {
      dd_isotp_cfg_t a, c;
      s_cfg_pair(&a, &c);
      s_cfg_fd(&a, 64);
      s_cfg_fd(&c, 64);
      a.tx_padding = pad;
      s_bus_t b;
      s_roundtrip(&a, &c, len, &b);
      const dd_can_frame_t *f = &b.log[0].f;
      ck_assert(f->flags & DD_CAN_F_FD);
      if (len <= 7) {
        ck_assert_uint_eq(b.nlog, 1);
        ck_assert_uint_eq(f->data[0], len);
        ck_assert_uint_eq(f->len, pad ? 8 : len + 1);
      } else if (len <= 62) {
        ck_assert_uint_eq(b.nlog, 1);
        ck_assert_uint_eq(f->data[0], 0);
        ck_assert_uint_eq(f->data[1], len);
        size_t want = len + 2 <= 12 ? 12 : len + 2 <= 16 ? 16 : len + 2 <= 20 ? 20
                      : len + 2 <= 24 ? 24 : len + 2 <= 32 ? 32 : len + 2 <= 48 ? 48 : 64;
        ck_assert_uint_eq(f->len, want);
        for (size_t i = len + 2; i < f->len; i++) ck_assert_uint_eq(f->data[i], 0xCC);
      } else {
        ck_assert_uint_eq(f->data[0], 0x10); /* 63 bytes: FF */
        ck_assert_uint_eq(f->data[1], 63);
        ck_assert_uint_eq(f->len, 64);
      }
      s_bus_free(&b);
    }
  }
  /* python-can-isotp test_receive_can_fd_single_frame_12bytes_escape_sequence, with BRS */
  dd_isotp_cfg_t a, c;
  s_cfg_pair(&a, &c);
  s_cfg_fd(&a, 64);
  s_cfg_fd(&c, 64);
  a.brs = true;
  s_bus_t b;
  s_roundtrip(&a, &c, 10, &b);
  ck_assert_str_eq(s_log(&b, 0), "7E0##1000A00010203040506070809");
  s_bus_free(&b);
}
END_TEST

START_TEST(test_fd_segmented_each_tx_dl) {
  static const uint8_t dls[] = {8, 12, 16, 20, 24, 32, 48, 64};
  for (size_t k = 0; k < sizeof dls; k++) {
    for (int pad = 0; pad < 2; pad++) {
      const uint8_t dl = dls[k];
      dd_isotp_cfg_t a, c;
      s_cfg_pair(&a, &c);
      s_cfg_fd(&a, dl);
      s_cfg_fd(&c, 64);
      a.tx_padding = pad;
      s_bus_t b;
      const size_t len = 200;
      s_roundtrip(&a, &c, len, &b);
      const dd_can_frame_t *ff = &b.log[0].f;
      ck_assert_uint_eq(ff->len, dl); /* the FF fills TX_DL */
      ck_assert_uint_eq(ff->data[0], 0x10);
      ck_assert_uint_eq(ff->data[1], len);
      size_t per = dl - 1u, first = dl - 2u;
      size_t cfs = (len - first + per - 1) / per;
      ck_assert_uint_eq(b.nlog, 2 + cfs);
      for (size_t i = 2; i < b.nlog; i++) {
        const dd_can_frame_t *cf = &b.log[i].f;
        ck_assert_uint_eq(cf->data[0], 0x20 | ((i - 1) & 0xF));
        if (i + 1 < b.nlog) {
          ck_assert_uint_eq(cf->len, dl);
        } else { /* last CF: the bytes left, padded to a valid FD length (10.4.2) */
          size_t used = 1 + (len - first - (cfs - 1) * per);
          size_t want = used;
          if (pad && want < 8) want = 8;
          if (want > 8) want = want <= 12 ? 12 : want <= 16 ? 16 : want <= 20 ? 20
                             : want <= 24 ? 24 : want <= 32 ? 32 : want <= 48 ? 48 : 64;
          ck_assert_uint_eq(cf->len, want);
        }
      }
      s_bus_free(&b);
    }
  }
  /* escape FF on FD: 5000 bytes at TX_DL 64 -> 10 00 00 00 13 88 + 58 bytes, CFs of 63 */
  dd_isotp_cfg_t a, c;
  s_cfg_pair(&a, &c);
  s_cfg_fd(&a, 64);
  s_cfg_fd(&c, 64);
  s_bus_t b;
  s_roundtrip(&a, &c, 5000, &b);
  ck_assert_uint_eq(b.log[0].f.len, 64);
  ck_assert_uint_eq(b.log[0].f.data[1], 0);
  ck_assert_uint_eq(b.log[0].f.data[4], 0x13);
  ck_assert_uint_eq(b.log[0].f.data[5], 0x88);
  ck_assert_uint_eq(b.log[0].f.data[6], 0x00);
  ck_assert_uint_eq(b.log[0].f.data[63], 57);
  ck_assert_uint_eq(b.nlog, 2 + (5000 - 58 + 62) / 63);
  s_bus_free(&b);
}
END_TEST

START_TEST(test_fd_large_escape) {
  /* ISO 15765-2:2016 9.6.3.1: FF_DL up to 2^32-1; here 70000 bytes over TX_DL 64 */
  dd_isotp_cfg_t a, c;
  s_cfg_pair(&a, &c);
  s_cfg_fd(&a, 64);
  s_cfg_fd(&c, 64);
  c.rx_max = 100000;
  s_bus_t b;
  s_roundtrip(&a, &c, 70000, &b);
  ck_assert_uint_eq(b.log[0].f.data[3], 0x01);
  ck_assert_uint_eq(b.log[0].f.data[4], 0x11);
  ck_assert_uint_eq(b.log[0].f.data[5], 0x70);
  s_bus_free(&b);
}
END_TEST

/* Build a frame from a PCI prefix, payload bytes [from, to) and padding up to len. */
static dd_can_frame_t s_mk(uint32_t id, bool fd, const uint8_t *pci, size_t npci,
                           const uint8_t *p, size_t from, size_t to, uint8_t pad, size_t len) {
  dd_can_frame_t f = {.id = id, .flags = fd ? DD_CAN_F_FD : 0};
  memcpy(f.data, pci, npci);
  memcpy(f.data + npci, p + from, to - from);
  size_t used = npci + to - from;
  ck_assert_uint_le(used, len);
  memset(f.data + used, pad, len - used);
  f.len = (uint8_t)len;
  return f;
}

START_TEST(test_fd_receive_python_vectors) {
  dd_isotp_cfg_t c;
  dd_isotp_cfg_default(&c);
  c.tx_id = 0x7E8;
  c.rx_id = 0x7E0;
  c.tx_padding = false;
  s_cfg_fd(&c, 64);
  s_bus_t b;

  /* test_receive_can_fd_multiframe_64_bytes_escape_sequence: 0x120 bytes, BS 2, STmin 5 */
  c.bs = 2;
  c.stmin = 5;
  s_bus_init(&b, NULL, &c);
  uint8_t *p = s_payload(0x120, 0);
  dd_can_frame_t f;
  f = s_mk(0x7E0, true, (const uint8_t[]){0x10, 0, 0, 0, 0x01, 0x20}, 6, p, 0, 58, 0, 64);
  s_inject_frame(&b, 1, &f);
  s_bus_pump(&b);
  ck_assert_str_eq(s_log(&b, 1), "7E8##0300205");
  f = s_mk(0x7E0, true, (const uint8_t[]){0x21}, 1, p, 58, 121, 0, 64);
  s_inject_frame(&b, 1, &f);
  f = s_mk(0x7E0, true, (const uint8_t[]){0x22}, 1, p, 121, 184, 0, 64);
  s_inject_frame(&b, 1, &f);
  s_bus_pump(&b);
  ck_assert_str_eq(s_log(&b, 4), "7E8##0300205");
  f = s_mk(0x7E0, true, (const uint8_t[]){0x23}, 1, p, 184, 247, 0, 64);
  s_inject_frame(&b, 1, &f);
  f = s_mk(0x7E0, true, (const uint8_t[]){0x24}, 1, p, 247, 288, 0xCC, 48);
  s_inject_frame(&b, 1, &f);
  s_expect_rx(&b, 1, p, 0x120);
  free(p);
  s_bus_free(&b);

  /* test_receive_can_fd_multiframe_32_bytes: RX_DL 32 from the FF */
  c.bs = 4;
  s_bus_init(&b, NULL, &c);
  p = s_payload(100, 0);
  f = s_mk(0x7E0, true, (const uint8_t[]){0x10, 100}, 2, p, 0, 30, 0, 32);
  s_inject_frame(&b, 1, &f);
  s_bus_pump(&b);
  ck_assert_str_eq(s_log(&b, 1), "7E8##0300405");
  f = s_mk(0x7E0, true, (const uint8_t[]){0x21}, 1, p, 30, 61, 0, 32);
  s_inject_frame(&b, 1, &f);
  f = s_mk(0x7E0, true, (const uint8_t[]){0x22}, 1, p, 61, 92, 0, 32);
  s_inject_frame(&b, 1, &f);
  f = s_mk(0x7E0, true, (const uint8_t[]){0x23}, 1, p, 92, 100, 0xCC, 32);
  s_inject_frame(&b, 1, &f);
  s_expect_rx(&b, 1, p, 100);
  s_bus_free(&b);

  /* test_receive_can_fd_ignore_changing_rxdl: a CF shorter than RX_DL that is not the last is
   * ignored, so the next CF then has the wrong SN */
  s_bus_init(&b, NULL, &c);
  f = s_mk(0x7E0, true, (const uint8_t[]){0x10, 100}, 2, p, 0, 30, 0, 32);
  s_inject_frame(&b, 1, &f);
  s_bus_pump(&b);
  f = s_mk(0x7E0, true, (const uint8_t[]){0x21}, 1, p, 30, 61, 0, 32);
  s_inject_frame(&b, 1, &f);
  f = s_mk(0x7E0, true, (const uint8_t[]){0x22}, 1, p, 61, 80, 0, 20);
  s_inject_frame(&b, 1, &f);
  const s_ev_t *e = s_ev(&b, 1, DD_ISOTP_EV_RX_ERROR, 0);
  ck_assert_int_eq(e->error, DD_EISOTP_LENGTH);
  ck_assert(!e->aborted);
  ck_assert(dd_isotp_rx_busy(b.node[1]));
  f = s_mk(0x7E0, true, (const uint8_t[]){0x23}, 1, p, 80, 100, 0xCC, 32);
  s_inject_frame(&b, 1, &f);
  e = s_ev(&b, 1, DD_ISOTP_EV_RX_ERROR, 1);
  ck_assert_int_eq(e->error, DD_EISOTP_WRONG_SN);
  ck_assert(e->aborted);
  ck_assert_uint_eq(s_count(&b, 1, DD_ISOTP_EV_RX_DONE), 0);
  ck_assert(!dd_isotp_rx_busy(b.node[1]));
  s_bus_free(&b);

  /* test_receive_can_fd_single_frame_*: SF_DL escape required above CAN_DL 8 */
  s_bus_init(&b, NULL, &c);
  f = s_mk(0x7E0, true, (const uint8_t[]){0x0B}, 1, p, 0, 11, 0, 12);
  s_inject_frame(&b, 1, &f);
  f = s_mk(0x7E0, true, (const uint8_t[]){0x05}, 1, p, 0, 5, 0xCC, 16);
  s_inject_frame(&b, 1, &f);
  ck_assert_uint_eq(s_count(&b, 1, DD_ISOTP_EV_RX_ERROR), 2);
  ck_assert_int_eq(s_ev(&b, 1, DD_ISOTP_EV_RX_ERROR, 1)->error, DD_EISOTP_LENGTH);
  ck_assert_uint_eq(s_count(&b, 1, DD_ISOTP_EV_RX_DONE), 0);
  f = s_mk(0x7E0, true, (const uint8_t[]){0x00, 0x0E}, 2, p, 0, 14, 0, 16);
  s_inject_frame(&b, 1, &f);
  s_expect_rx(&b, 1, p, 14);
  f = s_mk(0x7E0, true, (const uint8_t[]){0x00, 60}, 2, p, 0, 60, 0xAA, 64);
  s_inject_frame(&b, 1, &f);
  e = s_ev(&b, 1, DD_ISOTP_EV_RX_DONE, 1);
  ck_assert_uint_eq(e->len, 60);
  ck_assert_int_eq(memcmp(e->data, p, 60), 0);
  /* a classic frame is accepted by an FD channel; an FD frame is not by a classic one */
  ck_assert_int_eq(s_inject(&b, 1, "7E0#023E00"), 1);
  ck_assert_uint_eq(s_ev(&b, 1, DD_ISOTP_EV_RX_DONE, 2)->len, 2);
  free(p);
  s_bus_free(&b);

  dd_isotp_cfg_default(&c);
  c.rx_id = 0x7E0;
  s_bus_init(&b, NULL, &c);
  ck_assert_int_eq(s_inject(&b, 1, "7E0##0023E00"), 0);
  ck_assert_uint_eq(b.nev[1], 0);
  s_bus_free(&b);
}
END_TEST

START_TEST(test_fd_first_frame_min) {
  /* ISO 15765-2:2016 9.6.3.2: FF_DL must exceed what one SF of that CAN_DL carries; with
   * RX_DL 64 that is 62 (normal) or 61 (extended) */
  for (int ext = 0; ext < 2; ext++) {
    dd_isotp_cfg_t c;
    dd_isotp_cfg_default(&c);
    c.tx_id = 0x7E8;
    c.rx_id = 0x7E0;
    s_cfg_fd(&c, 64);
    if (ext) {
      c.addr = DD_ISOTP_ADDR_EXTENDED;
      c.rx_ext_addr = 0x10;
    }
    s_bus_t b;
    s_bus_init(&b, NULL, &c);
    uint8_t *p = s_payload(64, 0);
    uint8_t pci[3] = {0x10, 0x10, 0};
    size_t np = 2;
    if (ext) {
      pci[0] = 0x10;
      pci[1] = 0x10;
      np = 3;
    }
    pci[np - 1] = (uint8_t)(ext ? 61 : 62);
    dd_can_frame_t f = s_mk(0x7E0, true, pci, np, p, 0, 64 - np, 0, 64);
    s_inject_frame(&b, 1, &f);
    s_bus_pump(&b);
    ck_assert_uint_eq(b.nlog, 1); /* no FC */
    ck_assert_int_eq(s_ev(&b, 1, DD_ISOTP_EV_RX_ERROR, 0)->error, DD_EISOTP_LENGTH);
    pci[np - 1]++;
    f = s_mk(0x7E0, true, pci, np, p, 0, 64 - np, 0, 64);
    s_inject_frame(&b, 1, &f);
    s_bus_pump(&b);
    ck_assert_uint_eq(b.nlog, 3); /* FC */
    ck_assert_uint_eq(s_ev(&b, 1, DD_ISOTP_EV_RX_FIRST_FRAME, 0)->len, ext ? 62 : 63);
    free(p);
    s_bus_free(&b);
  }
}
END_TEST

/* ---- tests: STmin ---------------------------------------------------------------------- */

START_TEST(test_stmin_classes) {
  /* ISO 15765-2:2016 9.6.5.4/9.6.5.5: 0x00-0x7F ms, 0xF1-0xF9 = 100-900 us, the reserved
   * values 0x80-0xF0 and 0xFA-0xFF count as 0x7F = 127 ms */
  static const struct {
    uint8_t stmin;
    uint32_t us;
  } cases[] = {{0x00, 0},      {0x01, 1000},   {0x0A, 10000},  {0x7F, 127000},
               {0xF1, 100},    {0xF5, 500},    {0xF9, 900},    {0x80, 127000},
               {0xF0, 127000}, {0xFA, 127000}, {0xFF, 127000}, {0xA5, 127000}};
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    ck_assert_uint_eq(dd_isotp_stmin_us(cases[k].stmin), cases[k].us);
    dd_isotp_cfg_t a, c;
    s_cfg_pair(&a, &c);
    a.tx_padding = c.tx_padding = true;
    c.stmin = cases[k].stmin;
    s_bus_t b;
    s_bus_init(&b, &a, &c);
    uint64_t t0 = b.now;
    uint8_t *msg = s_payload(34, 0); /* FF 6 + 4 CFs of 7 */
    ck_assert_int_eq(dd_isotp_send(b.node[0], msg, 34, b.now), 0);
    s_bus_run_all(&b);
    ck_assert_uint_eq(b.nlog, 6);
    ck_assert_uint_eq(b.log[1].f.data[2], cases[k].stmin); /* the FC carries it as is */
    for (size_t i = 0; i < 4; i++) {
      ck_assert_uint_eq(b.log[2 + i].f.data[0], 0x21 + i);
      ck_assert_uint_eq(b.log[2 + i].t, t0 + i * cases[k].us);
    }
    s_expect_rx(&b, 1, msg, 34);
    free(msg);
    s_bus_free(&b);
  }
}
END_TEST

/* ---- tests: flow control from the peer -------------------------------------------------- */

START_TEST(test_fc_wait) {
  /* ISO 15765-2:2016 9.7: up to N_WFTmax FC.WAIT in a row; 9.8.2: each restarts N_Bs */
  dd_isotp_cfg_t a;
  dd_isotp_cfg_default(&a);
  a.tx_padding = false;
  a.wft_max = 3;
  s_bus_t b;
  s_bus_init(&b, &a, NULL);
  uint8_t *msg = s_payload(20, 0);
  ck_assert_int_eq(dd_isotp_send(b.node[0], msg, 20, b.now), 0);
  s_bus_pump(&b);
  ck_assert_str_eq(s_log(&b, 0), "7E0#1014000102030405");
  for (int i = 0; i < 3; i++) {
    s_bus_run(&b, b.now + 900000);
    ck_assert_int_eq(s_inject(&b, 0, "7E8#310000"), 1);
    ck_assert_uint_eq(dd_isotp_next_deadline(b.node[0]), b.now + 1000000);
  }
  ck_assert_uint_eq(b.nev[0], 0); /* 2.7 s after the FF: no N_Bs timeout */
  s_inject(&b, 0, "7E8#300000");
  s_bus_run_all(&b);
  ck_assert_str_eq(s_log(&b, 5), "7E0#21060708090A0B0C");
  ck_assert_str_eq(s_log(&b, 6), "7E0#220D0E0F10111213");
  ck_assert_uint_eq(s_count(&b, 0, DD_ISOTP_EV_TX_DONE), 1);
  s_bus_free(&b);

  /* one WAIT too many */
  s_bus_init(&b, &a, NULL);
  ck_assert_int_eq(dd_isotp_send(b.node[0], msg, 20, b.now), 0);
  s_bus_pump(&b);
  for (int i = 0; i < 4; i++) s_inject(&b, 0, "7E8#310000");
  const s_ev_t *e = s_ev(&b, 0, DD_ISOTP_EV_TX_ERROR, 0);
  ck_assert_int_eq(e->error, DD_EISOTP_WFT_OVRN);
  ck_assert(e->aborted);
  ck_assert(!dd_isotp_tx_busy(b.node[0]));
  s_bus_free(&b);

  /* wft_max 0: no WAIT accepted; a CTS resets the count of WAITs in a row */
  a.wft_max = 0;
  s_bus_init(&b, &a, NULL);
  ck_assert_int_eq(dd_isotp_send(b.node[0], msg, 20, b.now), 0);
  s_bus_pump(&b);
  s_inject(&b, 0, "7E8#310000");
  ck_assert_int_eq(s_ev(&b, 0, DD_ISOTP_EV_TX_ERROR, 0)->error, DD_EISOTP_WFT_OVRN);
  s_bus_free(&b);

  a.wft_max = 1;
  s_bus_init(&b, &a, NULL);
  uint8_t *big = s_payload(30, 0);
  ck_assert_int_eq(dd_isotp_send(b.node[0], big, 30, b.now), 0);
  s_bus_pump(&b);
  s_inject(&b, 0, "7E8#310000");
  s_inject(&b, 0, "7E8#300200"); /* BS 2 */
  s_bus_pump(&b);
  s_inject(&b, 0, "7E8#310000");
  s_inject(&b, 0, "7E8#300200");
  s_bus_run_all(&b);
  ck_assert_uint_eq(s_count(&b, 0, DD_ISOTP_EV_TX_DONE), 1);
  free(big);
  free(msg);
  s_bus_free(&b);
}
END_TEST

START_TEST(test_fc_overflow) {
  /* python-can-isotp test_receive_overflow_handling: max 32, FF_DL 33 -> FC 32 00 00 */
  dd_isotp_cfg_t a, c;
  s_cfg_pair(&a, &c);
  c.rx_max = 32;
  c.bs = 4;
  c.stmin = 3;
  s_bus_t b;
  s_bus_init(&b, &a, &c);
  uint8_t *msg = s_payload(33, 0);
  ck_assert_int_eq(dd_isotp_send(b.node[0], msg, 33, b.now), 0);
  s_bus_run_all(&b);
  ck_assert_uint_eq(b.nlog, 2);
  ck_assert_str_eq(s_log(&b, 0), "7E0#1021000102030405");
  ck_assert_str_eq(s_log(&b, 1), "7E8#320000");
  const s_ev_t *e = s_ev(&b, 0, DD_ISOTP_EV_TX_ERROR, 0);
  ck_assert_int_eq(e->error, DD_EISOTP_BUFFER_OVFLW);
  e = s_ev(&b, 1, DD_ISOTP_EV_RX_ERROR, 0);
  ck_assert_int_eq(e->error, DD_EISOTP_BUFFER_OVFLW);
  ck_assert_uint_eq(e->len, 33);
  ck_assert_uint_eq(s_count(&b, 1, DD_ISOTP_EV_RX_FIRST_FRAME), 0);
  /* a CF after the overflow is unexpected and ignored; 32 bytes then pass */
  ck_assert_int_eq(s_inject(&b, 1, "7E0#2106070809"), 1);
  ck_assert_uint_eq(b.nev[1], 1);
  ck_assert_int_eq(dd_isotp_send(b.node[0], msg, 32, b.now), 0);
  s_bus_run_all(&b);
  ck_assert_str_eq(s_log(&b, 4), "7E8#300403");
  s_expect_rx(&b, 1, msg, 32);
  s_bus_free(&b);

  /* test_receive_overflow_handling_escape_sequence: escape FF of 33 bytes */
  s_bus_init(&b, NULL, &c);
  ck_assert_int_eq(s_inject(&b, 1, "7E0#1000000000210001"), 1);
  s_bus_pump(&b);
  ck_assert_str_eq(s_log(&b, 1), "7E8#320000");
  s_inject(&b, 1, "7E0#1000000000200001");
  s_bus_pump(&b);
  ck_assert_str_eq(s_log(&b, 3), "7E8#300403");
  s_bus_free(&b);

  /* rx_max holds for single frames too */
  c.rx_max = 4;
  s_bus_init(&b, NULL, &c);
  s_inject(&b, 1, "7E0#051122334455");
  const s_ev_t *e2 = s_ev(&b, 1, DD_ISOTP_EV_RX_ERROR, 0);
  ck_assert_int_eq(e2->error, DD_EISOTP_BUFFER_OVFLW);
  ck_assert(!e2->aborted);
  ck_assert_uint_eq(e2->len, 5);
  s_inject(&b, 1, "7E0#0411223344");
  ck_assert_uint_eq(s_ev(&b, 1, DD_ISOTP_EV_RX_DONE, 0)->len, 4);
  free(msg);
  s_bus_free(&b);
}
END_TEST

START_TEST(test_fc_invalid) {
  /* ISO 15765-2:2016 9.6.5.2: FS 3..F aborts with N_INVALID_FS; a short FC is malformed */
  static const char *const fcs[] = {"7E8#330000", "7E8#3F0000", "7E8#3000"};
  static const int codes[] = {DD_EISOTP_INVALID_FS, DD_EISOTP_INVALID_FS, DD_EISOTP_LENGTH};
  for (size_t k = 0; k < 3; k++) {
    dd_isotp_cfg_t a;
    dd_isotp_cfg_default(&a);
    s_bus_t b;
    s_bus_init(&b, &a, NULL);
    uint8_t *msg = s_payload(20, 0);
    ck_assert_int_eq(dd_isotp_send(b.node[0], msg, 20, b.now), 0);
    s_bus_pump(&b);
    s_inject(&b, 0, fcs[k]);
    ck_assert_int_eq(s_ev(&b, 0, DD_ISOTP_EV_TX_ERROR, 0)->error, codes[k]);
    s_bus_run_all(&b);
    ck_assert_uint_eq(b.nlog, 2); /* nothing more sent */
    free(msg);
    s_bus_free(&b);
  }
}
END_TEST

START_TEST(test_unexpected_fc_and_cf) {
  /* ISO 15765-2:2016 9.8.3: an FC with no transmission waiting for it, and a CF outside a
   * reception, are ignored */
  dd_isotp_cfg_t a, c;
  s_cfg_pair(&a, &c);
  s_bus_t b;
  s_bus_init(&b, &a, &c);
  ck_assert_int_eq(s_inject(&b, 0, "7E8#300000"), 1);
  ck_assert_int_eq(s_inject(&b, 1, "7E0#2101020304050607"), 1);
  s_bus_run_all(&b);
  ck_assert_uint_eq(b.nev[0] + b.nev[1], 0);
  ck_assert_uint_eq(b.nlog, 2);
  /* an FC while our FF still waits to be sent */
  uint8_t *msg = s_payload(20, 0);
  ck_assert_int_eq(dd_isotp_send(b.node[0], msg, 20, b.now), 0);
  s_inject(&b, 0, "7E8#300000");
  ck_assert_uint_eq(b.nev[0], 0);
  s_bus_run_all(&b);
  s_expect_rx(&b, 1, msg, 20);
  /* an extra CF after the message is complete */
  ck_assert_int_eq(s_inject(&b, 1, "7E0#2314151617181A19"), 1);
  ck_assert_uint_eq(b.nev[1], 2);
  free(msg);
  s_bus_free(&b);
}
END_TEST

/* ---- tests: lost, duplicated frames and timeouts --------------------------------------- */

START_TEST(test_lost_and_duplicate_cf) {
  /* ISO 15765-2:2016 9.6.4.3: a wrong SN aborts the reception (N_WRONG_SN) */
  for (int dup = 0; dup < 2; dup++) {
    dd_isotp_cfg_t a, c;
    s_cfg_pair(&a, &c);
    s_bus_t b;
    s_bus_init(&b, &a, &c);
    b.filter = dup ? s_dup_nth_from_0 : s_drop_nth_from_0;
    b.filter_arg = 3; /* FF, CF1, CF2: CF2 lost or doubled */
    uint8_t *msg = s_payload(30, 0);
    ck_assert_int_eq(dd_isotp_send(b.node[0], msg, 30, b.now), 0);
    s_bus_run_all(&b);
    ck_assert_uint_eq(s_count(&b, 0, DD_ISOTP_EV_TX_DONE), 1); /* the sender cannot know */
    ck_assert_uint_eq(s_count(&b, 1, DD_ISOTP_EV_RX_DONE), 0);
    ck_assert_uint_eq(s_count(&b, 1, DD_ISOTP_EV_RX_ERROR), 1);
    const s_ev_t *e = s_ev(&b, 1, DD_ISOTP_EV_RX_ERROR, 0);
    ck_assert_int_eq(e->error, DD_EISOTP_WRONG_SN);
    ck_assert(e->aborted);
    ck_assert(!dd_isotp_rx_busy(b.node[1]));
    /* the receiver recovers with the next message */
    b.filter = NULL;
    ck_assert_int_eq(dd_isotp_send(b.node[0], msg, 30, b.now), 0);
    s_bus_run_all(&b);
    s_expect_rx(&b, 1, msg, 30);
    free(msg);
    s_bus_free(&b);
  }
}
END_TEST

START_TEST(test_timeout_bs) {
  /* ISO 15765-2:2016 9.8.2: no FC within N_Bs -> N_TIMEOUT_Bs */
  dd_isotp_cfg_t a;
  dd_isotp_cfg_default(&a);
  a.n_bs_us = 250000;
  dd_isotp_t *x = dd_isotp_new(&a);
  ck_assert_ptr_nonnull(x);
  uint8_t *msg = s_payload(20, 0);
  dd_can_frame_t f;
  dd_isotp_event_t ev;
  ck_assert_int_eq(dd_isotp_send(x, msg, 20, 5000), 0);
  ck_assert_uint_eq(dd_isotp_next_deadline(x), 5000);
  ck_assert_int_eq(dd_isotp_poll(x, 5000, &f), 1);
  ck_assert_uint_eq(f.data[0], 0x10);
  ck_assert_int_eq(dd_isotp_poll(x, 5000, &f), 0);
  ck_assert_uint_eq(dd_isotp_next_deadline(x), 255000);
  ck_assert_int_eq(dd_isotp_poll(x, 254999, &f), 0);
  ck_assert(!dd_isotp_take_event(x, &ev));
  ck_assert_int_eq(dd_isotp_send(x, msg, 20, 254999), DD_EBUSY);
  ck_assert_int_eq(dd_isotp_poll(x, 255000, &f), 0);
  ck_assert(dd_isotp_take_event(x, &ev));
  ck_assert_int_eq(ev.kind, DD_ISOTP_EV_TX_ERROR);
  ck_assert_int_eq(ev.error, DD_EISOTP_TIMEOUT_BS);
  ck_assert_uint_eq(ev.time_us, 255000);
  ck_assert_uint_eq(dd_isotp_next_deadline(x), UINT64_MAX);
  ck_assert_int_eq(dd_isotp_send(x, msg, 20, 255000), 0);
  free(msg);
  dd_isotp_destroy(&x);
}
END_TEST

START_TEST(test_timeout_cr) {
  /* ISO 15765-2:2016 9.8.2: no CF within N_Cr -> N_TIMEOUT_Cr, a code of its own */
  ck_assert_int_ne(DD_EISOTP_TIMEOUT_CR, DD_EISOTP_TIMEOUT_BS);
  ck_assert_int_ne(DD_EISOTP_TIMEOUT_CR, DD_EISOTP_TIMEOUT_A);
  dd_isotp_cfg_t c;
  dd_isotp_cfg_default(&c);
  c.tx_id = 0x7E8;
  c.rx_id = 0x7E0;
  c.n_cr_us = 300000;
  s_bus_t b;
  s_bus_init(&b, NULL, &c);
  s_inject(&b, 1, "7E0#1014000102030405");
  ck_assert_uint_eq(dd_isotp_next_deadline(b.node[1]), b.now); /* our FC is due */
  ck_assert(dd_isotp_rx_busy(b.node[1]));
  s_bus_pump(&b);
  ck_assert_uint_eq(b.nlog, 2);
  ck_assert_uint_eq(dd_isotp_next_deadline(b.node[1]), 1000 + 300000);
  s_bus_run(&b, 1000 + 200000);
  s_inject(&b, 1, "7E0#21060708090A0B0C"); /* restarts N_Cr */
  ck_assert_uint_eq(dd_isotp_next_deadline(b.node[1]), 201000 + 300000);
  s_bus_run(&b, 501000 - 1);
  ck_assert_uint_eq(s_count(&b, 1, DD_ISOTP_EV_RX_ERROR), 0);
  s_bus_run_all(&b);
  const s_ev_t *e = s_ev(&b, 1, DD_ISOTP_EV_RX_ERROR, 0);
  ck_assert_int_eq(e->error, DD_EISOTP_TIMEOUT_CR);
  ck_assert(e->aborted);
  ck_assert_uint_eq(e->t, 501000);
  /* the late CF is now unexpected */
  s_inject(&b, 1, "7E0#220D0E0F10111213");
  ck_assert_uint_eq(s_count(&b, 1, DD_ISOTP_EV_RX_DONE), 0);
  ck_assert_uint_eq(b.nev[1], 2);
  s_bus_free(&b);
}
END_TEST

START_TEST(test_tx_confirm) {
  /* with wait_tx_confirm, N_As and N_Ar run until the bus confirms each frame (9.8.2) */
  dd_isotp_cfg_t a, c;
  s_cfg_pair(&a, &c);
  a.wait_tx_confirm = c.wait_tx_confirm = true;
  c.bs = 2;
  c.stmin = 1;
  s_bus_t b;
  s_bus_init(&b, &a, &c);
  b.confirm = true;
  uint8_t *msg = s_payload(60, 0);
  ck_assert_int_eq(dd_isotp_send(b.node[0], msg, 60, b.now), 0);
  s_bus_run_all(&b);
  s_expect_rx(&b, 1, msg, 60);
  ck_assert_uint_eq(s_count(&b, 0, DD_ISOTP_EV_TX_DONE), 1);
  s_bus_free(&b);

  /* N_As: the FF is never confirmed */
  a.n_as_us = 70000;
  dd_isotp_t *x = dd_isotp_new(&a);
  dd_can_frame_t f;
  dd_isotp_event_t ev;
  ck_assert_int_eq(dd_isotp_send(x, msg, 20, 0), 0);
  ck_assert_int_eq(dd_isotp_poll(x, 0, &f), 1);
  ck_assert_uint_eq(dd_isotp_next_deadline(x), 70000);
  ck_assert_int_eq(dd_isotp_poll(x, 70000, &f), 0);
  ck_assert(dd_isotp_take_event(x, &ev));
  ck_assert_int_eq(ev.kind, DD_ISOTP_EV_TX_ERROR);
  ck_assert_int_eq(ev.error, DD_EISOTP_TIMEOUT_A);
  /* the late confirmation finds nothing to act on */
  ck_assert_int_eq(dd_isotp_on_tx_confirm(x, 70001), 0);
  ck_assert_int_eq(dd_isotp_on_tx_confirm(x, 70001), DD_ENOENT);
  ck_assert(!dd_isotp_tx_busy(x));

  /* an FC arriving before the FF's confirmation stands for it; confirmations keep order */
  ck_assert_int_eq(dd_isotp_send(x, msg, 20, 100000), 0);
  ck_assert_int_eq(dd_isotp_poll(x, 100000, &f), 1);
  f = s_frame("7E8#300000");
  ck_assert_int_eq(dd_isotp_on_frame(x, &f, 100010), 1);
  ck_assert_int_eq(dd_isotp_poll(x, 100010, &f), 1);
  ck_assert_uint_eq(f.data[0], 0x21);
  ck_assert_int_eq(dd_isotp_poll(x, 100010, &f), 0); /* CF1 not yet confirmed */
  ck_assert_int_eq(dd_isotp_on_tx_confirm(x, 100020), 0); /* the FF's, late */
  ck_assert_int_eq(dd_isotp_poll(x, 100020, &f), 0);
  ck_assert_int_eq(dd_isotp_on_tx_confirm(x, 100030), 0); /* CF1 */
  ck_assert_int_eq(dd_isotp_poll(x, 100030, &f), 1);
  ck_assert_uint_eq(f.data[0], 0x22);
  ck_assert_int_eq(dd_isotp_on_tx_confirm(x, 100040), 0);
  ck_assert(dd_isotp_take_event(x, &ev));
  ck_assert_int_eq(ev.kind, DD_ISOTP_EV_TX_DONE);
  ck_assert_uint_eq(ev.time_us, 100040);
  dd_isotp_destroy(&x);

  /* N_Ar: our FC is never confirmed */
  c.n_ar_us = 50000;
  s_bus_init(&b, NULL, &c);
  s_inject(&b, 1, "7E0#1014000102030405");
  s_bus_pump(&b);
  ck_assert_uint_eq(dd_isotp_next_deadline(b.node[1]), b.now + 50000);
  s_bus_run_all(&b);
  const s_ev_t *e = s_ev(&b, 1, DD_ISOTP_EV_RX_ERROR, 0);
  ck_assert_int_eq(e->error, DD_EISOTP_TIMEOUT_A);
  ck_assert(e->aborted);
  s_bus_free(&b);

  /* a CF arriving before our FC's confirmation stands for it */
  s_bus_init(&b, NULL, &c);
  s_inject(&b, 1, "7E0#1014000102030405");
  s_bus_pump(&b);
  s_inject(&b, 1, "7E0#21060708090A0B0C");
  s_inject(&b, 1, "7E0#220D0E0F10111213");
  s_expect_rx(&b, 1, msg, 20);
  ck_assert_int_eq(dd_isotp_on_tx_confirm(b.node[1], b.now), 0);
  ck_assert_uint_eq(b.nev[1], 2);
  s_bus_free(&b);

  /* BS 1: an FC after every CF, none confirmed; the CFs stand in for the confirmations and
   * the list of unconfirmed frames wraps without harm */
  c.bs = 1;
  s_bus_init(&b, NULL, &c);
  uint8_t *p64 = s_payload(64, 0);
  s_inject(&b, 1, "7E0#1040000102030405"); /* 64 bytes: 9 CFs */
  s_bus_pump(&b);
  for (unsigned sn = 1; sn <= 9; sn++) {
    dd_can_frame_t cf = s_mk(0x7E0, false, (const uint8_t[]){(uint8_t)(0x20 | sn)}, 1, p64,
                             6 + (sn - 1) * 7, sn < 9 ? 6 + sn * 7 : 64, 0, sn < 9 ? 8 : 3);
    s_inject_frame(&b, 1, &cf);
    s_bus_pump(&b);
  }
  s_expect_rx(&b, 1, p64, 64);
  size_t fcs = 0;
  for (size_t i = 0; i < b.nlog; i++) fcs += b.log[i].from == 1;
  ck_assert_uint_eq(fcs, 9);
  for (int i = 0; i < 8; i++) ck_assert_int_eq(dd_isotp_on_tx_confirm(b.node[1], b.now), 0);
  ck_assert_int_eq(dd_isotp_on_tx_confirm(b.node[1], b.now), DD_ENOENT);
  ck_assert_uint_eq(s_count(&b, 1, DD_ISOTP_EV_RX_ERROR), 0);
  free(p64);
  s_bus_free(&b);

  /* the FC due after a block stands for the confirmation of the block's last CF */
  x = dd_isotp_new(&a);
  ck_assert_int_eq(dd_isotp_send(x, msg, 30, 0), 0);
  ck_assert_int_eq(dd_isotp_poll(x, 0, &f), 1); /* FF */
  ck_assert_int_eq(dd_isotp_on_tx_confirm(x, 1), 0);
  f = s_frame("7E8#300100");
  dd_isotp_on_frame(x, &f, 2);
  ck_assert_int_eq(dd_isotp_poll(x, 2, &f), 1); /* CF1, ends the block */
  f = s_frame("7E8#300100");
  dd_isotp_on_frame(x, &f, 3); /* before CF1's confirmation */
  ck_assert_int_eq(dd_isotp_poll(x, 3, &f), 1);
  ck_assert_uint_eq(f.data[0], 0x22);
  ck_assert(!dd_isotp_take_event(x, &ev));
  dd_isotp_destroy(&x);
  free(msg);
}
END_TEST

/* ---- tests: padding -------------------------------------------------------------------- */

START_TEST(test_padding) {
  /* ISO 15765-2:2016 10.4.2: padded frames are 8 bytes, filled with the pad byte */
  dd_isotp_cfg_t a, c;
  s_cfg_pair(&a, &c);
  a.tx_padding = c.tx_padding = true;
  s_bus_t b;
  s_roundtrip(&a, &c, 17, &b);
  ck_assert_str_eq(s_log(&b, 0), "7E0#1011000102030405");
  ck_assert_str_eq(s_log(&b, 1), "7E8#300000CCCCCCCCCC");
  ck_assert_str_eq(s_log(&b, 3), "7E0#220D0E0F10CCCCCC");
  s_bus_free(&b);

  /* strict receiver: an unpadded SF is rejected, a padded one taken */
  s_cfg_pair(&a, &c);
  c.check_rx_padding = true;
  s_bus_init(&b, &a, &c);
  uint8_t *msg = s_payload(17, 0);
  ck_assert_int_eq(dd_isotp_send(b.node[0], msg, 3, b.now), 0);
  s_bus_run_all(&b);
  ck_assert_str_eq(s_log(&b, 0), "7E0#03000102");
  const s_ev_t *e = s_ev(&b, 1, DD_ISOTP_EV_RX_ERROR, 0);
  ck_assert_int_eq(e->error, DD_EISOTP_PADDING);
  ck_assert(!e->aborted);
  ck_assert_uint_eq(s_count(&b, 1, DD_ISOTP_EV_RX_DONE), 0);
  s_inject(&b, 1, "7E0#03000102CCCCCCCC");
  s_expect_rx(&b, 1, msg, 3);
  /* an unpadded last CF aborts the reception */
  ck_assert_int_eq(dd_isotp_send(b.node[0], msg, 17, b.now), 0);
  s_bus_run_all(&b);
  e = s_ev(&b, 1, DD_ISOTP_EV_RX_ERROR, 1);
  ck_assert_int_eq(e->error, DD_EISOTP_PADDING);
  ck_assert(e->aborted);
  ck_assert_uint_eq(s_count(&b, 1, DD_ISOTP_EV_RX_DONE), 1);
  s_bus_free(&b);

  /* strict sender: an unpadded FC aborts the transmission (as Linux isotp does) */
  s_cfg_pair(&a, &c);
  a.check_rx_padding = true;
  s_bus_init(&b, &a, &c);
  ck_assert_int_eq(dd_isotp_send(b.node[0], msg, 17, b.now), 0);
  s_bus_run_all(&b);
  ck_assert_int_eq(s_ev(&b, 0, DD_ISOTP_EV_TX_ERROR, 0)->error, DD_EISOTP_PADDING);
  ck_assert_uint_eq(b.nlog, 2);
  s_bus_free(&b);

  /* without the strict check, short frames are fine */
  s_cfg_pair(&a, &c);
  s_roundtrip(&a, &c, 17, &b);
  ck_assert_str_eq(s_log(&b, 3), "7E0#220D0E0F10");
  free(msg);
  s_bus_free(&b);
}
END_TEST

/* ---- tests: addressing ----------------------------------------------------------------- */

START_TEST(test_extended_addressing) {
  /* ISO 15765-2:2016 10.3.4: N_TA in the first byte; tester 6F1 -> ECU 0x10, ECU answers on
   * 610 with N_TA F1 */
  dd_isotp_cfg_t a, c;
  s_cfg_pair(&a, &c);
  a.addr = c.addr = DD_ISOTP_ADDR_EXTENDED;
  a.tx_id = c.rx_id = 0x6F1;
  a.rx_id = c.tx_id = 0x610;
  a.tx_ext_addr = c.rx_ext_addr = 0x10;
  a.rx_ext_addr = c.tx_ext_addr = 0xF1;
  s_bus_t b;
  s_roundtrip(&a, &c, 20, &b);
  ck_assert_uint_eq(b.nlog, 5);
  ck_assert_str_eq(s_log(&b, 0), "6F1#1010140001020304");
  ck_assert_str_eq(s_log(&b, 1), "610#F1300000");
  ck_assert_str_eq(s_log(&b, 2), "6F1#102105060708090A");
  ck_assert_str_eq(s_log(&b, 3), "6F1#10220B0C0D0E0F10");
  ck_assert_str_eq(s_log(&b, 4), "6F1#1023111213");
  /* a frame for another N_TA on the same id is not ours */
  ck_assert_int_eq(s_inject(&b, 1, "6F1#2002AABB"), 0);
  ck_assert_int_eq(s_inject(&b, 1, "6F1#1002AABB"), 1);
  ck_assert_uint_eq(s_ev(&b, 1, DD_ISOTP_EV_RX_DONE, 1)->len, 2);
  ck_assert_int_eq(s_inject(&b, 1, "6F1#"), 0); /* empty frame: no address byte */
  s_bus_free(&b);
}
END_TEST

START_TEST(test_mixed_addressing) {
  ck_assert_uint_eq(dd_isotp_normal_fixed_id(false, 0x10, 0xF1), 0x18DA10F1);
  ck_assert_uint_eq(dd_isotp_normal_fixed_id(true, 0x33, 0xF1), 0x18DB33F1);
  ck_assert_uint_eq(dd_isotp_mixed29_id(false, 0x10, 0xF1), 0x18CE10F1);
  ck_assert_uint_eq(dd_isotp_mixed29_id(true, 0x33, 0xF1), 0x18CD33F1);
  /* ISO 15765-2:2016 10.3.5: 29-bit mixed, N_AE 0x55 in the first byte both ways */
  dd_isotp_cfg_t a, c;
  s_cfg_pair(&a, &c);
  a.addr = c.addr = DD_ISOTP_ADDR_MIXED;
  a.ext_id = c.ext_id = true;
  a.tx_id = c.rx_id = dd_isotp_mixed29_id(false, 0x10, 0xF1);
  a.rx_id = c.tx_id = dd_isotp_mixed29_id(false, 0xF1, 0x10);
  a.tx_ext_addr = a.rx_ext_addr = c.tx_ext_addr = c.rx_ext_addr = 0x55;
  s_bus_t b;
  s_roundtrip(&a, &c, 20, &b);
  ck_assert_str_eq(s_log(&b, 0), "18CE10F1#5510140001020304");
  ck_assert_str_eq(s_log(&b, 1), "18CEF110#55300000");
  ck_assert_str_eq(s_log(&b, 4), "18CE10F1#5523111213");
  for (size_t i = 0; i < b.nlog; i++) ck_assert(b.log[i].f.flags & DD_CAN_F_EFF);
  ck_assert_int_eq(s_inject(&b, 1, "18CE10F1#5602AABB"), 0); /* another N_AE */
  s_bus_free(&b);

  /* 11-bit mixed */
  s_cfg_pair(&a, &c);
  a.addr = c.addr = DD_ISOTP_ADDR_MIXED;
  a.tx_ext_addr = a.rx_ext_addr = c.tx_ext_addr = c.rx_ext_addr = 0x55;
  s_roundtrip(&a, &c, 12, &b);
  ck_assert_str_eq(s_log(&b, 0), "7E0#55100C0001020304");
  ck_assert_str_eq(s_log(&b, 1), "7E8#55300000");
  ck_assert_str_eq(s_log(&b, 2), "7E0#552105060708090A");
  ck_assert_str_eq(s_log(&b, 3), "7E0#55220B");
  s_bus_free(&b);
}
END_TEST

START_TEST(test_29bit_normal_fixed) {
  dd_isotp_cfg_t a, c;
  s_cfg_pair(&a, &c);
  a.ext_id = c.ext_id = true;
  a.tx_id = c.rx_id = dd_isotp_normal_fixed_id(false, 0x10, 0xF1);
  a.rx_id = c.tx_id = dd_isotp_normal_fixed_id(false, 0xF1, 0x10);
  s_bus_t b;
  s_roundtrip(&a, &c, 100, &b);
  ck_assert_str_eq(s_log(&b, 0), "18DA10F1#1064000102030405");
  ck_assert_str_eq(s_log(&b, 1), "18DAF110#300000");
  s_bus_free(&b);

  /* the id format is part of the address: an 11-bit 7E0 is not a 29-bit 000007E0 */
  s_cfg_pair(&a, &c);
  s_bus_init(&b, &a, &c);
  ck_assert_int_eq(s_inject(&b, 1, "000007E0#023E00"), 0);
  ck_assert_int_eq(s_inject(&b, 1, "7E0#023E00"), 1);
  ck_assert_int_eq(s_inject(&b, 1, "123#023E00"), 0);
  ck_assert_int_eq(s_inject(&b, 1, "7E8#023E00"), 0); /* our own tx id */
  /* error, remote, echo frames and invalid lengths are not ours either */
  dd_can_frame_t f = s_frame("7E0#023E00");
  f.flags = DD_CAN_F_RTR;
  ck_assert_int_eq(s_inject_frame(&b, 1, &f), 0);
  f.flags = DD_CAN_F_ERR;
  ck_assert_int_eq(s_inject_frame(&b, 1, &f), 0);
  f.flags = DD_CAN_F_TX;
  ck_assert_int_eq(s_inject_frame(&b, 1, &f), 0);
  f.flags = 0;
  f.len = 9;
  ck_assert_int_eq(s_inject_frame(&b, 1, &f), 0);
  ck_assert_uint_eq(b.nev[1], 1);
  s_bus_free(&b);
}
END_TEST

START_TEST(test_functional) {
  /* functional requests are single frames (ISO 15765-2:2016 9.8.3 has receivers ignore a
   * functional FF); 7DF is the OBD functional request id */
  dd_isotp_cfg_t a, c;
  s_cfg_pair(&a, &c);
  a.tx_padding = true;
  c.func_rx_id = 0x7DF;
  s_bus_t b;
  s_bus_init(&b, &a, &c);
  ck_assert_int_eq(dd_isotp_send_functional(b.node[0], (const uint8_t[]){0x3E, 0x80}, 2, b.now),
                   0);
  s_bus_run_all(&b);
  ck_assert_str_eq(s_log(&b, 0), "7DF#023E80CCCCCCCCCC");
  const s_ev_t *e = s_ev(&b, 1, DD_ISOTP_EV_RX_DONE, 0);
  ck_assert(e->functional);
  ck_assert_uint_eq(e->len, 2);
  ck_assert(s_ev(&b, 0, DD_ISOTP_EV_TX_DONE, 0)->functional);
  uint8_t *msg = s_payload(20, 0);
  ck_assert_int_eq(dd_isotp_send_functional(b.node[0], msg, 8, b.now), DD_EMSGSIZE);
  ck_assert_int_eq(dd_isotp_send_functional(b.node[0], msg, 7, b.now), 0);
  s_bus_run_all(&b);
  ck_assert_uint_eq(s_ev(&b, 1, DD_ISOTP_EV_RX_DONE, 1)->len, 7);
  /* a functional FF is ignored: no FC, no event */
  ck_assert_int_eq(s_inject(&b, 1, "7DF#1014000102030405"), 1);
  s_bus_run_all(&b);
  ck_assert_uint_eq(b.nev[1], 2);
  ck_assert_uint_eq(b.nlog, 3);
  /* a functional SF does not disturb a physical reception in progress */
  s_inject(&b, 1, "7E0#1014000102030405");
  s_bus_pump(&b);
  s_inject(&b, 1, "7DF#0101");
  s_inject(&b, 1, "7E0#21060708090A0B0C");
  s_inject(&b, 1, "7E0#220D0E0F10111213");
  ck_assert_uint_eq(s_count(&b, 1, DD_ISOTP_EV_RX_ERROR), 0);
  ck_assert(s_ev(&b, 1, DD_ISOTP_EV_RX_DONE, 2)->functional);
  e = s_ev(&b, 1, DD_ISOTP_EV_RX_DONE, 3);
  ck_assert(!e->functional);
  ck_assert_uint_eq(e->len, 20);
  ck_assert_int_eq(memcmp(e->data, msg, 20), 0);
  s_bus_free(&b);

  /* no functional id configured */
  a.func_tx_id = DD_ISOTP_ID_NONE;
  s_bus_init(&b, &a, NULL);
  ck_assert_int_eq(dd_isotp_send_functional(b.node[0], msg, 2, b.now), DD_ENOTCONN);
  s_bus_free(&b);

  /* extended addressing: functional frames carry func_ext_addr */
  s_cfg_pair(&a, &c);
  a.addr = c.addr = DD_ISOTP_ADDR_EXTENDED;
  a.func_ext_addr = c.func_ext_addr = 0xEF;
  c.func_rx_id = 0x7DF;
  s_bus_init(&b, &a, &c);
  ck_assert_int_eq(dd_isotp_send_functional(b.node[0], msg, 6, b.now), 0);
  s_bus_run_all(&b);
  ck_assert_str_eq(s_log(&b, 0), "7DF#EF06000102030405");
  ck_assert(s_ev(&b, 1, DD_ISOTP_EV_RX_DONE, 0)->functional);
  free(msg);
  s_bus_free(&b);
}
END_TEST

/* ---- tests: unexpected N_PDUs ---------------------------------------------------------- */

START_TEST(test_new_frames_interrupt_reception) {
  /* ISO 15765-2:2016 9.8.3: an SF or FF during a reception ends it with N_UNEXP_PDU and is
   * processed as a new one (python-can-isotp test_receive_multiframe_interrupting_another,
   * test_receive_single_frame_interrupt_multiframe_then_recover) */
  dd_isotp_cfg_t c;
  dd_isotp_cfg_default(&c);
  c.tx_id = 0x7E8;
  c.rx_id = 0x7E0;
  s_bus_t b;
  s_bus_init(&b, NULL, &c);
  s_inject(&b, 1, "7E0#100A000102030405");
  s_bus_pump(&b);
  s_inject(&b, 1, "7E0#100A010203040506");
  s_bus_pump(&b);
  s_inject(&b, 1, "7E0#210708090A");
  ck_assert_uint_eq(b.nev[1], 4);
  ck_assert_int_eq(b.ev[1][0].kind, DD_ISOTP_EV_RX_FIRST_FRAME);
  ck_assert_int_eq(b.ev[1][1].kind, DD_ISOTP_EV_RX_ERROR);
  ck_assert_int_eq(b.ev[1][1].error, DD_EISOTP_UNEXP_PDU);
  ck_assert(b.ev[1][1].aborted);
  ck_assert_int_eq(b.ev[1][2].kind, DD_ISOTP_EV_RX_FIRST_FRAME);
  ck_assert_int_eq(b.ev[1][3].kind, DD_ISOTP_EV_RX_DONE);
  uint8_t *p2 = s_payload(16, 1);
  ck_assert_int_eq(memcmp(b.ev[1][3].data, p2, 10), 0);
  s_bus_free(&b);

  s_bus_init(&b, NULL, &c);
  s_inject(&b, 1, "7E0#1010000102030405");
  s_bus_pump(&b);
  s_inject(&b, 1, "7E0#21060708090A0B0C");
  s_inject(&b, 1, "7E0#050203040506");
  s_inject(&b, 1, "7E0#1010010203040506");
  s_bus_pump(&b);
  s_inject(&b, 1, "7E0#210708090A0B0C0D");
  s_inject(&b, 1, "7E0#220E0F10");
  ck_assert_uint_eq(b.nev[1], 5);
  ck_assert_int_eq(b.ev[1][1].error, DD_EISOTP_UNEXP_PDU);
  ck_assert_int_eq(b.ev[1][2].kind, DD_ISOTP_EV_RX_DONE);
  ck_assert_uint_eq(b.ev[1][2].len, 5);
  ck_assert_int_eq(b.ev[1][4].kind, DD_ISOTP_EV_RX_DONE);
  ck_assert_uint_eq(b.ev[1][4].len, 16);
  ck_assert_uint_eq(b.ev[1][4].data[15], 0x10);
  s_bus_free(&b);

  /* a malformed SF/FF is ignored and leaves the reception alone */
  s_bus_init(&b, NULL, &c);
  s_inject(&b, 1, "7E0#1014000102030405");
  s_bus_pump(&b);
  s_inject(&b, 1, "7E0#00");               /* SF_DL 0 */
  s_inject(&b, 1, "7E0#0511");             /* SF_DL beyond CAN_DL */
  s_inject(&b, 1, "7E0#0811223344556677"); /* SF_DL 8 on classic */
  s_inject(&b, 1, "7E0#1007000102030405"); /* FF_DL 7 fits an SF */
  s_inject(&b, 1, "7E0#10140001");         /* FF shorter than 8 */
  s_inject(&b, 1, "7E0#21060708090A0B0C");
  s_inject(&b, 1, "7E0#220D0E0F10111213");
  ck_assert_uint_eq(s_count(&b, 1, DD_ISOTP_EV_RX_ERROR), 5);
  for (size_t i = 0; i < 5; i++) {
    const s_ev_t *e = s_ev(&b, 1, DD_ISOTP_EV_RX_ERROR, i);
    ck_assert_int_eq(e->error, DD_EISOTP_LENGTH);
    ck_assert(!e->aborted);
  }
  ck_assert_uint_eq(s_ev(&b, 1, DD_ISOTP_EV_RX_DONE, 0)->len, 20);
  ck_assert_uint_eq(b.nlog, 2 + 7); /* one FC only */
  /* reserved N_PCI types are ignored */
  ck_assert_int_eq(s_inject(&b, 1, "7E0#4001020304050607"), 1);
  ck_assert_uint_eq(b.nev[1], 7);
  free(p2);
  s_bus_free(&b);
}
END_TEST

START_TEST(test_ff_min_classic) {
  /* ISO 15765-2:2016 9.6.3.2: FF_DL 8 is the minimum with normal addressing, 7 extended */
  for (int ext = 0; ext < 2; ext++) {
    dd_isotp_cfg_t c;
    dd_isotp_cfg_default(&c);
    c.tx_id = 0x7E8;
    c.rx_id = 0x7E0;
    c.tx_padding = false;
    if (ext) {
      c.addr = DD_ISOTP_ADDR_EXTENDED;
      c.rx_ext_addr = 0x10;
      c.tx_ext_addr = 0xF1;
    }
    s_bus_t b;
    s_bus_init(&b, NULL, &c);
    s_inject(&b, 1, ext ? "7E0#1010060001020304" : "7E0#1007000102030405");
    s_bus_pump(&b);
    ck_assert_uint_eq(b.nlog, 1);
    s_inject(&b, 1, ext ? "7E0#1010070001020304" : "7E0#1008000102030405");
    s_bus_pump(&b);
    ck_assert_uint_eq(b.nlog, 3);
    ck_assert_str_eq(s_log(&b, 2), ext ? "7E8#F1300000" : "7E8#300000");
    s_inject(&b, 1, ext ? "7E0#10210506" : "7E0#210607");
    s_expect_rx(&b, 1, (const uint8_t[]){0, 1, 2, 3, 4, 5, 6, 7}, ext ? 7 : 8);
    s_bus_free(&b);
  }
}
END_TEST

/* ---- tests: duplex, API, events -------------------------------------------------------- */

START_TEST(test_full_duplex) {
  dd_isotp_cfg_t a, c;
  s_cfg_pair(&a, &c);
  a.bs = 3;
  a.stmin = 0xF5;
  c.bs = 2;
  c.stmin = 1;
  s_bus_t b;
  s_bus_init(&b, &a, &c);
  uint8_t *m0 = s_payload(100, 0), *m1 = s_payload(300, 7);
  ck_assert_int_eq(dd_isotp_send(b.node[0], m0, 100, b.now), 0);
  ck_assert_int_eq(dd_isotp_send(b.node[1], m1, 300, b.now), 0);
  s_bus_run_all(&b);
  s_expect_rx(&b, 1, m0, 100);
  s_expect_rx(&b, 0, m1, 300);
  ck_assert_uint_eq(s_count(&b, 0, DD_ISOTP_EV_TX_DONE), 1);
  ck_assert_uint_eq(s_count(&b, 1, DD_ISOTP_EV_TX_DONE), 1);
  ck_assert_uint_eq(s_count(&b, 0, DD_ISOTP_EV_RX_ERROR) + s_count(&b, 1, DD_ISOTP_EV_RX_ERROR),
                    0);
  free(m0);
  free(m1);
  s_bus_free(&b);
}
END_TEST

START_TEST(test_api_and_config) {
  dd_isotp_cfg_t cfg;
  dd_isotp_cfg_default(&cfg);
  ck_assert_int_eq(dd_isotp_cfg_validate(&cfg), 0);
  ck_assert_uint_eq(cfg.n_as_us, 1000000);
  ck_assert_uint_eq(cfg.n_bs_us, 1000000);
  ck_assert_uint_eq(cfg.n_cr_us, 1000000);
  ck_assert_uint_eq(cfg.pad_byte, 0xCC);
  ck_assert_int_eq(dd_isotp_cfg_validate(NULL), DD_EINVAL);
  dd_isotp_cfg_t bad = cfg;
  bad.tx_id = 0x800;
  ck_assert_int_eq(dd_isotp_cfg_validate(&bad), DD_ECONFIG);
  ck_assert_ptr_null(dd_isotp_new(&bad));
  bad.ext_id = true;
  ck_assert_int_eq(dd_isotp_cfg_validate(&bad), 0);
  bad.rx_id = 0x20000000;
  ck_assert_int_eq(dd_isotp_cfg_validate(&bad), DD_ECONFIG);
  bad = cfg;
  bad.func_rx_id = 0x900;
  ck_assert_int_eq(dd_isotp_cfg_validate(&bad), DD_ECONFIG);
  bad = cfg;
  bad.tx_dl = 64; /* classic */
  ck_assert_int_eq(dd_isotp_cfg_validate(&bad), DD_ECONFIG);
  bad.fd = true;
  ck_assert_int_eq(dd_isotp_cfg_validate(&bad), 0);
  bad.tx_dl = 10;
  ck_assert_int_eq(dd_isotp_cfg_validate(&bad), DD_ECONFIG);
  bad.tx_dl = 4;
  ck_assert_int_eq(dd_isotp_cfg_validate(&bad), DD_ECONFIG);
  bad = cfg;
  bad.brs = true;
  ck_assert_int_eq(dd_isotp_cfg_validate(&bad), DD_ECONFIG);
  bad = cfg;
  bad.rx_max = 0;
  ck_assert_int_eq(dd_isotp_cfg_validate(&bad), DD_ECONFIG);
  bad = cfg;
  bad.addr = (dd_isotp_addr_t)7;
  ck_assert_int_eq(dd_isotp_cfg_validate(&bad), DD_ECONFIG);

  dd_isotp_t *x = dd_isotp_new(&cfg);
  ck_assert_ptr_nonnull(x);
  uint8_t buf[16] = {0};
  ck_assert_uint_eq(dd_isotp_next_deadline(x), UINT64_MAX);
  ck_assert_int_eq(dd_isotp_send(x, buf, 0, 0), DD_EINVAL);
#if SIZE_MAX > UINT32_MAX
  ck_assert_int_eq(dd_isotp_send(x, buf, (size_t)UINT32_MAX + 1, 0), DD_EMSGSIZE);
#endif
  ck_assert_int_eq(dd_isotp_on_tx_confirm(x, 0), DD_ENOENT);
  ck_assert_str_eq(dd_isotp_tx_state(x), "idle");
  ck_assert_int_eq(dd_isotp_send(x, buf, 3, 7), 0);
  ck_assert_str_eq(dd_isotp_tx_state(x), "sf-ready");
  ck_assert_uint_eq(dd_isotp_next_deadline(x), 7); /* due at once */
  ck_assert(dd_isotp_tx_busy(x));
  ck_assert_int_eq(dd_isotp_send(x, buf, 3, 0), DD_EBUSY);
  ck_assert_str_eq(dd_isotp_rx_state(x), "idle");
  dd_isotp_destroy(&x);
  ck_assert_ptr_null(x);
  dd_isotp_destroy(&x); /* NULL is fine */
}
END_TEST

START_TEST(test_event_ring) {
  /* more events than the ring holds: the oldest go, and are counted */
  dd_isotp_cfg_t c;
  dd_isotp_cfg_default(&c);
  c.rx_id = 0x7E0;
  dd_isotp_t *x = dd_isotp_new(&c);
  for (unsigned i = 0; i < DD_ISOTP_EVENTS_MAX + 8; i++) {
    dd_can_frame_t f = {.id = 0x7E0, .len = 2, .data = {0x01, (uint8_t)i}};
    ck_assert_int_eq(dd_isotp_on_frame(x, &f, i), 1);
  }
  ck_assert_uint_eq(dd_isotp_events_lost(x), 8);
  dd_isotp_event_t ev;
  for (unsigned i = 8; i < DD_ISOTP_EVENTS_MAX + 8; i++) {
    ck_assert(dd_isotp_take_event(x, &ev));
    ck_assert_int_eq(ev.kind, DD_ISOTP_EV_RX_DONE);
    ck_assert_uint_eq(ev.len, 1);
    ck_assert_uint_eq(ev.data[0], i);
    ck_assert_uint_eq(ev.time_us, i);
  }
  ck_assert(!dd_isotp_take_event(x, &ev));
  /* undelivered data is freed by destroy (checked by the leak sanitizer) */
  dd_can_frame_t f = {.id = 0x7E0, .len = 3, .data = {0x02, 1, 2}};
  dd_isotp_on_frame(x, &f, 100);
  dd_isotp_destroy(&x);
}
END_TEST

START_TEST(test_rx_data_lifetime) {
  /* RX_DONE data survives other events being taken (a reply sent from the handler) and ends
   * when the next RX_DONE is taken; the sanitizer checks the reads */
  dd_isotp_cfg_t c;
  dd_isotp_cfg_default(&c);
  c.tx_id = 0x7E8;
  c.rx_id = 0x7E0;
  dd_isotp_t *x = dd_isotp_new(&c);
  dd_can_frame_t f = s_frame("7E0#03112233");
  ck_assert_int_eq(dd_isotp_on_frame(x, &f, 10), 1);
  dd_isotp_event_t req, ev;
  ck_assert(dd_isotp_take_event(x, &req));
  ck_assert_int_eq(req.kind, DD_ISOTP_EV_RX_DONE);
  ck_assert_int_eq(dd_isotp_send(x, (const uint8_t[]){0x7E, 0x00}, 2, 11), 0);
  ck_assert_int_eq(dd_isotp_poll(x, 11, &f), 1);
  ck_assert_str_eq(s_fmt(&f), "7E8#027E00CCCCCCCCCC");
  ck_assert(dd_isotp_take_event(x, &ev));
  ck_assert_int_eq(ev.kind, DD_ISOTP_EV_TX_DONE);
  ck_assert(!dd_isotp_take_event(x, &ev));
  ck_assert_uint_eq(req.len, 3);
  ck_assert_uint_eq(req.data[0], 0x11);
  ck_assert_uint_eq(req.data[2], 0x33);
  f = s_frame("7E0#0144");
  dd_isotp_on_frame(x, &f, 12);
  ck_assert(dd_isotp_take_event(x, &ev));
  ck_assert_int_eq(ev.kind, DD_ISOTP_EV_RX_DONE);
  ck_assert_uint_eq(ev.data[0], 0x44);
  dd_isotp_destroy(&x);
}
END_TEST

typedef struct {
  char seen[16][48]; /* transitions as "side:from>to" */
  int n;             /* how many */
} s_trace_t;

static void s_trace(void *user, const char *side, const char *from, const char *to,
                    uint64_t now) {
  s_trace_t *t = user;
  (void)now;
  if (t->n < 16) snprintf(t->seen[t->n++], sizeof t->seen[0], "%s:%s>%s", side, from, to);
}

START_TEST(test_trace) {
  s_trace_t t = {.n = 0}, u = {.n = 0};
  dd_isotp_cfg_t a, c;
  s_cfg_pair(&a, &c);
  a.trace = s_trace;
  a.trace_user = &t;
  c.trace = s_trace;
  c.trace_user = &u;
  s_bus_t b;
  s_roundtrip(&a, &c, 10, &b);
  ck_assert_int_eq(t.n, 4);
  ck_assert_str_eq(t.seen[0], "tx:idle>ff-ready");
  ck_assert_str_eq(t.seen[1], "tx:ff-ready>wait-fc");
  ck_assert_str_eq(t.seen[2], "tx:wait-fc>cf-ready");
  ck_assert_str_eq(t.seen[3], "tx:cf-ready>idle");
  ck_assert_int_eq(u.n, 3);
  ck_assert_str_eq(u.seen[0], "rx:idle>fc-ready");
  ck_assert_str_eq(u.seen[1], "rx:fc-ready>wait-cf");
  ck_assert_str_eq(u.seen[2], "rx:wait-cf>idle");
  s_bus_free(&b);
}
END_TEST

static Suite *s_suite(void) {
  Suite *s = suite_create("isotp");
  TCase *tc = tcase_create("frames");
  tcase_add_test(tc, test_sf_classic_exact);
  tcase_add_test(tc, test_20_bytes_exact);
  tcase_add_test(tc, test_block_size_python_vector);
  tcase_add_test(tc, test_block_sizes);
  tcase_add_test(tc, test_classic_boundaries);
  tcase_add_test(tc, test_4095_and_escape_4096);
  tcase_add_test(tc, test_receive_escape_python_vector);
  suite_add_tcase(s, tc);
  tc = tcase_create("fd");
  tcase_add_test(tc, test_fd_single_frames);
  tcase_add_test(tc, test_fd_segmented_each_tx_dl);
  tcase_add_test(tc, test_fd_large_escape);
  tcase_add_test(tc, test_fd_receive_python_vectors);
  tcase_add_test(tc, test_fd_first_frame_min);
  suite_add_tcase(s, tc);
  tc = tcase_create("flow");
  tcase_add_test(tc, test_stmin_classes);
  tcase_add_test(tc, test_fc_wait);
  tcase_add_test(tc, test_fc_overflow);
  tcase_add_test(tc, test_fc_invalid);
  tcase_add_test(tc, test_unexpected_fc_and_cf);
  suite_add_tcase(s, tc);
  tc = tcase_create("errors");
  tcase_add_test(tc, test_lost_and_duplicate_cf);
  tcase_add_test(tc, test_timeout_bs);
  tcase_add_test(tc, test_timeout_cr);
  tcase_add_test(tc, test_tx_confirm);
  tcase_add_test(tc, test_padding);
  tcase_add_test(tc, test_new_frames_interrupt_reception);
  tcase_add_test(tc, test_ff_min_classic);
  suite_add_tcase(s, tc);
  tc = tcase_create("addressing");
  tcase_add_test(tc, test_extended_addressing);
  tcase_add_test(tc, test_mixed_addressing);
  tcase_add_test(tc, test_29bit_normal_fixed);
  tcase_add_test(tc, test_functional);
  suite_add_tcase(s, tc);
  tc = tcase_create("api");
  tcase_add_test(tc, test_full_duplex);
  tcase_add_test(tc, test_api_and_config);
  tcase_add_test(tc, test_event_ring);
  tcase_add_test(tc, test_rx_data_lifetime);
  tcase_add_test(tc, test_trace);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(s_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? 0 : 1;
}
