/* fuzz_isotp: drives an ISO-TP instance (and a well-behaved peer wired to it) with frames,
 * sends, polls, confirmations and clock steps read from the input, checking invariants.
 *
 * Input: a 4-byte header, then records "op, dt, args...", each advancing the clock by dt
 * (dt < 128: dt x 50 us; else (dt - 128) x 25 ms) before the op runs.
 *   header[0]: bit0 CAN FD; bits1-3 TX_DL index (8,12,16,20,24,32,48,64); bits4-5 addressing
 *              (normal 11-bit, extended, mixed 29-bit, normal fixed 29-bit); bit6 tx padding;
 *              bit7 strict rx padding check
 *   header[1]: bit0 wait for tx confirmation; bit1 FF escape; bits2-3 BS (0,1,2,8);
 *              bits4-7 STmin index
 *   header[2]: bits0-2 rx_max index; bits3-5 wft_max; bit6 clean mode (no injected frames:
 *              every message received must equal the one the other side sent)
 *   header[3]: bits0-2 timeouts, (1 + n) x 125 ms
 *   op & 7: 0 inject a frame into the instance: flags, len, len data bytes (flags bits0-1 id
 *           choice, bit2 FD, bit3 other id format, bit4 RTR, bit5 echo, bit6 set the expected
 *           address byte); 1 instance sends (2 length bytes; op bit3 functional); 2 instance
 *           polls, frames go to the peer; 3 tx confirmation; 4 run both until quiet, up to
 *           (next byte & 15) + 1 deadlines; 5 peer polls, frames go to the instance; 6 peer
 *           sends (2 length bytes; op bit3 functional); 7 jump to the instance's deadline. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_err.h"
#include "dd_fuzz.h"
#include "dd_isotp.h"

#define S_CHECK(cond)                                                                     \
  do {                                                                                    \
    if (!(cond)) {                                                                        \
      fprintf(stderr, "fuzz_isotp: invariant failed at line %d: %s\n", __LINE__, #cond); \
      abort();                                                                            \
    }                                                                                     \
  } while (0)

#define S_MAX_SEND 9000u       /* longest message the input can ask for */
#define S_MAX_FRAMES 400000u   /* frames one input may make the two sides exchange */

typedef struct {
  dd_isotp_t *isotp;     /* the instance */
  dd_isotp_cfg_t cfg;    /* its configuration */
  size_t ff_len;         /* FF_DL of the reception in progress (0 = none) */
  unsigned sends;        /* messages accepted by send */
  unsigned ends;         /* TX_DONE + TX_ERROR seen */
  uint8_t *sent;         /* copy of the last message accepted by send */
  size_t sent_len;       /* its length */
} s_side_t;

typedef struct {
  const uint8_t *p;   /* input cursor */
  size_t left;        /* bytes left */
  uint64_t now;       /* the clock */
  s_side_t side[2];   /* 0 = instance under test, 1 = peer */
  bool clean;         /* no injected frames */
  size_t frames;      /* frames exchanged so far */
  unsigned msg_seed;  /* varies message contents */
} s_ctx_t;

static uint8_t s_byte(s_ctx_t *c) {
  if (!c->left) return 0;
  c->left--;
  return *c->p++;
}

static size_t s_sf_max(const dd_isotp_cfg_t *cfg) {
  unsigned ae = cfg->addr == DD_ISOTP_ADDR_NORMAL ? 0 : 1;
  unsigned dl = cfg->fd ? cfg->tx_dl : 8;
  return dl <= 8 ? 7 - ae : dl - 2 - ae;
}

/* Every frame an instance emits must be well formed for its configuration. */
static void s_check_frame(const s_side_t *s, const dd_can_frame_t *f) {
  const dd_isotp_cfg_t *cfg = &s->cfg;
  unsigned ae = cfg->addr == DD_ISOTP_ADDR_NORMAL ? 0 : 1;
  S_CHECK(f->id == cfg->tx_id || f->id == cfg->func_tx_id);
  S_CHECK(!(f->flags & DD_CAN_F_EFF) == !cfg->ext_id);
  S_CHECK(!(f->flags & DD_CAN_F_FD) == !cfg->fd);
  S_CHECK(f->len >= ae + 1);
  if (cfg->fd) {
    static const uint8_t ok[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 20, 24, 32, 48, 64};
    S_CHECK(memchr(ok, f->len, sizeof ok) != NULL);
    S_CHECK(f->len <= (cfg->tx_dl > 8 ? cfg->tx_dl : 8));
  } else {
    S_CHECK(f->len <= 8);
  }
  if (cfg->tx_padding) S_CHECK(f->len >= 8);
  uint8_t pci = f->data[ae] >> 4;
  S_CHECK(pci <= 3);
  if (ae) S_CHECK(f->data[0] == (f->id == cfg->tx_id ? cfg->tx_ext_addr : cfg->func_ext_addr));
}

/* Take and check every event of one side. */
static void s_drain(s_ctx_t *c, int i) {
  s_side_t *s = &c->side[i];
  const s_side_t *other = &c->side[1 - i];
  dd_isotp_event_t ev;
  while (dd_isotp_take_event(s->isotp, &ev)) {
    S_CHECK(ev.time_us <= c->now);
    switch (ev.kind) {
    case DD_ISOTP_EV_TX_DONE:
    case DD_ISOTP_EV_TX_ERROR:
      s->ends++;
      S_CHECK(s->ends <= s->sends);
      if (ev.kind == DD_ISOTP_EV_TX_DONE) {
        S_CHECK(ev.len == s->sent_len);
      } else {
        S_CHECK(ev.aborted);
        S_CHECK(ev.error <= -1300 && ev.error >= -1399);
      }
      break;
    case DD_ISOTP_EV_RX_FIRST_FRAME:
      S_CHECK(ev.len > 0 && ev.len <= s->cfg.rx_max);
      s->ff_len = ev.len;
      break;
    case DD_ISOTP_EV_RX_ERROR:
      S_CHECK((ev.error <= -1300 && ev.error >= -1399) || ev.error == DD_ENOMEM);
      if (ev.aborted) s->ff_len = 0;
      break;
    case DD_ISOTP_EV_RX_DONE:
      S_CHECK(ev.data != NULL && ev.len > 0);
      S_CHECK(ev.len <= s->cfg.rx_max);
      if (!ev.functional && s->ff_len) {
        S_CHECK(ev.len == s->ff_len); /* reassembled length equals the announced one */
        s->ff_len = 0;
      } else {
        S_CHECK(ev.len <= 62); /* a single frame */
      }
      if (c->clean) { /* the message is the one the other side sent last */
        S_CHECK(ev.len == other->sent_len);
        S_CHECK(memcmp(ev.data, other->sent, ev.len) == 0);
      }
      /* touch every byte so the sanitizers see a stale pointer */
      volatile uint8_t sum = 0;
      for (size_t k = 0; k < ev.len; k++) sum = (uint8_t)(sum + ev.data[k]);
      (void)sum;
      break;
    default:
      S_CHECK(!"unknown event kind");
    }
  }
  if (!dd_isotp_tx_busy(s->isotp)) S_CHECK(s->ends == s->sends);
}

/* Poll side i until quiet at the current time; its frames go to the other side. Returns
 * how many frames it sent. */
static size_t s_poll(s_ctx_t *c, int i) {
  s_side_t *s = &c->side[i];
  dd_can_frame_t f;
  size_t n = 0;
  while (dd_isotp_poll(s->isotp, c->now, &f) == 1) {
    S_CHECK(++c->frames < S_MAX_FRAMES);
    n++;
    s_check_frame(s, &f);
    S_CHECK(dd_isotp_on_frame(c->side[1 - i].isotp, &f, c->now) >= 0);
    s_drain(c, 1 - i);
  }
  s_drain(c, i);
  /* nothing is due any more at this instant: no busy loop for the caller */
  S_CHECK(dd_isotp_next_deadline(s->isotp) > c->now);
  return n;
}

static void s_send(s_ctx_t *c, int i, bool functional) {
  s_side_t *s = &c->side[i];
  size_t lo = s_byte(c);
  size_t hi = s_byte(c);
  size_t len = 1 + (lo | hi << 8) % S_MAX_SEND;
  uint8_t *msg = malloc(len);
  if (!msg) return;
  c->msg_seed++;
  for (size_t k = 0; k < len; k++) msg[k] = (uint8_t)(k * 31u + c->msg_seed * 7u);
  int rc = functional ? dd_isotp_send_functional(s->isotp, msg, len, c->now)
                      : dd_isotp_send(s->isotp, msg, len, c->now);
  if (rc == 0) {
    free(s->sent);
    s->sent = msg;
    s->sent_len = len;
    s->sends++;
  } else {
    free(msg);
    if (rc == DD_EBUSY)
      S_CHECK(dd_isotp_tx_busy(s->isotp));
    else if (functional)
      S_CHECK(rc == DD_EMSGSIZE && len > s_sf_max(&s->cfg));
    else
      S_CHECK(rc == DD_EMSGSIZE && !s->cfg.ff_escape && len > 4095);
  }
  s_drain(c, i);
}

static void s_inject(s_ctx_t *c) {
  const dd_isotp_cfg_t *cfg = &c->side[0].cfg;
  uint8_t fl = s_byte(c), len = s_byte(c) & 0x7F;
  dd_can_frame_t f;
  memset(&f, 0, sizeof f);
  static const uint32_t other[2] = {0x123, 0x18DA00F1};
  switch (fl & 3) {
  case 0: f.id = cfg->rx_id; break;
  case 1: f.id = cfg->func_rx_id; break;
  case 2: f.id = cfg->tx_id; break;
  default: f.id = other[cfg->ext_id]; break;
  }
  bool eff = cfg->ext_id != ((fl & 8) != 0);
  f.flags = (uint8_t)((eff ? DD_CAN_F_EFF : 0) | (fl & 4 ? DD_CAN_F_FD : 0) |
                      (fl & 16 ? DD_CAN_F_RTR : 0) | (fl & 32 ? DD_CAN_F_TX : 0));
  f.len = len;
  for (size_t k = 0; k < len && k < DD_CANFD_MAX_DLEN; k++) f.data[k] = s_byte(c);
  if ((fl & 64) && cfg->addr != DD_ISOTP_ADDR_NORMAL)
    f.data[0] = (fl & 3) == 1 ? cfg->func_ext_addr : cfg->rx_ext_addr;
  if (c->clean) return;
  int rc = dd_isotp_on_frame(c->side[0].isotp, &f, c->now);
  S_CHECK(rc == 0 || rc == 1);
  s_drain(c, 0);
}

static void s_run(s_ctx_t *c, unsigned steps) {
  for (unsigned k = 0; k < steps; k++) {
    while (s_poll(c, 0) + s_poll(c, 1) > 0) {
    }
    uint64_t d0 = dd_isotp_next_deadline(c->side[0].isotp);
    uint64_t d1 = dd_isotp_next_deadline(c->side[1].isotp);
    uint64_t d = d0 < d1 ? d0 : d1;
    if (d == UINT64_MAX) return;
    S_CHECK(d > c->now);
    c->now = d;
  }
}

static void s_setup(s_ctx_t *c) {
  static const uint8_t dls[8] = {8, 12, 16, 20, 24, 32, 48, 64};
  static const uint8_t bss[4] = {0, 1, 2, 8};
  static const uint8_t stmins[16] = {0x00, 0x01, 0x02, 0x05, 0x0A, 0x7F, 0xF1, 0xF5,
                                     0xF9, 0x80, 0xF0, 0xFA, 0xFF, 0x00, 0x00, 0x01};
  static const uint32_t rx_maxes[8] = {7, 8, 62, 63, 100, 4095, 4096, 70000};
  uint8_t h0 = s_byte(c), h1 = s_byte(c), h2 = s_byte(c), h3 = s_byte(c);
  dd_isotp_cfg_t *a = &c->side[0].cfg, *b = &c->side[1].cfg;
  dd_isotp_cfg_default(a);
  a->fd = h0 & 1;
  a->tx_dl = a->fd ? dls[(h0 >> 1) & 7] : 8;
  switch ((h0 >> 4) & 3) {
  case 0:
    break;
  case 1:
    a->addr = DD_ISOTP_ADDR_EXTENDED;
    a->tx_ext_addr = 0x10;
    a->rx_ext_addr = 0xF1;
    a->func_ext_addr = 0x33;
    break;
  case 2:
    a->addr = DD_ISOTP_ADDR_MIXED;
    a->ext_id = true;
    a->tx_id = dd_isotp_mixed29_id(false, 0x10, 0xF1);
    a->rx_id = dd_isotp_mixed29_id(false, 0xF1, 0x10);
    a->func_tx_id = dd_isotp_mixed29_id(true, 0x33, 0xF1);
    a->tx_ext_addr = a->rx_ext_addr = a->func_ext_addr = 0x55;
    break;
  default:
    a->ext_id = true;
    a->tx_id = dd_isotp_normal_fixed_id(false, 0x10, 0xF1);
    a->rx_id = dd_isotp_normal_fixed_id(false, 0xF1, 0x10);
    a->func_tx_id = dd_isotp_normal_fixed_id(true, 0x33, 0xF1);
    break;
  }
  a->func_rx_id = a->func_tx_id; /* functional requests flow both ways */
  a->tx_padding = (h0 >> 6) & 1;
  a->check_rx_padding = (h0 >> 7) & 1;
  a->wait_tx_confirm = h1 & 1;
  a->ff_escape = (h1 >> 1) & 1;
  a->bs = bss[(h1 >> 2) & 3];
  a->stmin = stmins[h1 >> 4];
  a->rx_max = rx_maxes[h2 & 7];
  a->wft_max = (h2 >> 3) & 7;
  c->clean = (h2 >> 6) & 1;
  uint64_t t = (1u + (h3 & 7u)) * 125000u;
  a->n_as_us = a->n_ar_us = a->n_bs_us = a->n_cr_us = t;

  /* the peer mirrors the instance, pads (so a strict instance accepts it), never waits for
   * confirmations and takes any message */
  *b = *a;
  b->tx_id = a->rx_id;
  b->rx_id = a->tx_id;
  b->tx_ext_addr = a->rx_ext_addr;
  b->rx_ext_addr = a->tx_ext_addr;
  b->tx_padding = true;
  b->check_rx_padding = false;
  b->wait_tx_confirm = false;
  b->ff_escape = true;
  b->rx_max = 1u << 20;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  s_ctx_t c;
  memset(&c, 0, sizeof c);
  c.p = data;
  c.left = size;
  c.now = 1000;
  s_setup(&c);
  for (int i = 0; i < 2; i++) {
    S_CHECK(dd_isotp_cfg_validate(&c.side[i].cfg) == 0);
    c.side[i].isotp = dd_isotp_new(&c.side[i].cfg);
    S_CHECK(c.side[i].isotp != NULL);
  }
  while (c.left >= 2) {
    uint8_t op = s_byte(&c), dt = s_byte(&c);
    c.now += dt < 128 ? (uint64_t)dt * 50u : (uint64_t)(dt - 128) * 25000u;
    switch (op & 7) {
    case 0: s_inject(&c); break;
    case 1: s_send(&c, 0, op & 8); break;
    case 2: s_poll(&c, 0); break;
    case 3:
      (void)dd_isotp_on_tx_confirm(c.side[0].isotp, c.now);
      s_drain(&c, 0);
      break;
    case 4: s_run(&c, (s_byte(&c) & 15u) + 1u); break;
    case 5: s_poll(&c, 1); break;
    case 6: s_send(&c, 1, op & 8); break;
    default: {
      uint64_t d = dd_isotp_next_deadline(c.side[0].isotp);
      if (d != UINT64_MAX && d > c.now) c.now = d;
      s_poll(&c, 0);
      break;
    }
    }
  }
  for (int i = 0; i < 2; i++) {
    dd_isotp_destroy(&c.side[i].isotp);
    free(c.side[i].sent);
  }
  return 0;
}
