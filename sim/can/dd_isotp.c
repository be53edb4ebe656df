/* dd_isotp: ISO-TP (ISO 15765-2:2016) segmentation, reassembly and flow control, sans I/O. */
#include "dd_isotp.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "dd_err.h"

/* N_PCItype, the high nibble of the first N_PCI byte (ISO 15765-2:2016 9.6.1). */
enum { S_PCI_SF = 0x0, S_PCI_FF = 0x1, S_PCI_CF = 0x2, S_PCI_FC = 0x3 };
/* FlowStatus of an FC (9.6.5.1). */
enum { S_FS_CTS = 0x0, S_FS_WAIT = 0x1, S_FS_OVFLW = 0x2 };

#define S_CLASSIC_DL 8u    /* CAN_DL of a full classic frame, and the smallest TX_DL/RX_DL (9.5) */
#define S_PEND_MAX 8u      /* emitted frames awaiting dd_isotp_on_tx_confirm */
#define S_RX_CHUNK 4096u   /* first reassembly allocation; grows as data actually arrives */
#define S_STMIN_MAX_US 127000u /* 0x7F = 127 ms (9.6.5.4) */

typedef enum {
  S_TX_IDLE = 0, /* nothing to send */
  S_TX_SF,       /* an SF is ready to go at tx.ready_at */
  S_TX_FF,       /* an FF is ready to go at tx.ready_at */
  S_TX_CF,       /* the next CF may go at tx.ready_at (STmin) */
  S_TX_CONF,     /* the last emitted frame awaits confirmation (N_As) */
  S_TX_WAIT_FC,  /* waiting for an FC (N_Bs) */
} s_tx_state_t;

static const char *const s_tx_names[] = {"idle", "sf-ready", "ff-ready", "cf-ready",
                                         "wait-confirm", "wait-fc"};

typedef enum {
  S_RX_IDLE = 0, /* no segmented reception */
  S_RX_FC,       /* an FC is ready to go at rx.ready_at */
  S_RX_CONF,     /* our FC awaits confirmation (N_Ar) */
  S_RX_WAIT_CF,  /* waiting for a CF (N_Cr) */
} s_rx_state_t;

static const char *const s_rx_names[] = {"idle", "fc-ready", "wait-confirm", "wait-cf"};

typedef enum { S_SENT_SF, S_SENT_FF, S_SENT_CF } s_sent_t;

typedef struct {
  uint32_t seq; /* emission number of the frame */
  bool rx;      /* sent by the receive side (an FC), else by the transmit side */
} s_pend_t;

typedef struct {
  dd_isotp_event_t ev; /* the event as the user sees it */
  uint8_t *owned;      /* RX_DONE: heap copy of the message that ev.data points to */
} s_slot_t;

struct dd_isotp {
  dd_isotp_cfg_t cfg; /* configuration, copied at creation */
  uint8_t ae;         /* address bytes before the N_PCI: 0 normal, 1 extended/mixed */
  uint8_t tx_dl;      /* effective TX_DL: 8 on classic CAN */
  struct {
    s_tx_state_t state; /* where the transmission is */
    bool functional;    /* the message goes to func_tx_id */
    uint8_t *buf;       /* copy of the message */
    size_t len;         /* message length */
    size_t idx;         /* bytes already put into frames */
    uint8_t sn;         /* SequenceNumber of the next CF */
    bool got_cts;       /* an FC.CTS arrived: bs and stmin_us are set */
    uint8_t bs;         /* BlockSize granted by the receiver (0 = unlimited) */
    uint32_t stmin_us;  /* gap the receiver asked for between CFs */
    uint8_t blk;        /* CFs sent in the current block */
    unsigned wft;       /* consecutive FC.WAIT received */
    uint64_t ready_at;  /* S_TX_SF/FF/CF: earliest emission time */
    uint64_t deadline;  /* S_TX_CONF: N_As; S_TX_WAIT_FC: N_Bs; UINT64_MAX = none */
    s_sent_t sent;      /* S_TX_CONF: kind of the frame in flight */
    bool last;          /* S_TX_CONF: that frame completes the message */
    uint32_t conf_seq;  /* S_TX_CONF: its emission number */
  } tx;                 /* transmit side */
  struct {
    s_rx_state_t state; /* where the reception is */
    uint8_t fs;         /* S_RX_FC/S_RX_CONF: FlowStatus of our FC */
    uint8_t *buf;       /* reassembly buffer */
    size_t cap;         /* its allocated size */
    uint32_t len;       /* FF_DL of the message */
    uint32_t idx;       /* bytes received so far */
    uint8_t rx_dl;      /* RX_DL, taken from the FF's CAN_DL (9.5) */
    uint8_t sn;         /* SequenceNumber expected next */
    uint8_t blk;        /* CFs received in the current block */
    uint64_t ready_at;  /* S_RX_FC: emission time */
    uint64_t deadline;  /* S_RX_CONF: N_Ar; S_RX_WAIT_CF: N_Cr; UINT64_MAX = none */
    uint32_t conf_seq;  /* S_RX_CONF: emission number of our FC */
  } rx;                 /* receive side */
  s_pend_t pend[S_PEND_MAX];        /* frames awaiting confirmation, oldest first */
  unsigned pend_head;               /* index of the oldest */
  unsigned pend_count;              /* how many */
  uint32_t seq;                     /* emission counter */
  s_slot_t evq[DD_ISOTP_EVENTS_MAX]; /* event ring */
  unsigned ev_head;                 /* index of the oldest event */
  unsigned ev_count;                /* events in the ring */
  uint8_t *held;                    /* data of the RX_DONE last taken (freed by the next) */
  size_t lost;                      /* events dropped on a full ring */
};

/* ---- small helpers --------------------------------------------------------------------- */

static uint64_t s_after(uint64_t now, uint64_t span) {
  if (span == 0) return UINT64_MAX; /* timer disabled */
  return (UINT64_MAX - now <= span) ? UINT64_MAX - 1 : now + span;
}

static bool s_due(uint64_t deadline, uint64_t now) {
  return deadline != UINT64_MAX && now >= deadline;
}

/* Smallest valid CAN FD payload size >= len (ISO 11898-1:2015 DLC table). */
static uint8_t s_fd_len(size_t len) {
  static const uint8_t steps[] = {12, 16, 20, 24, 32, 48, 64};
  if (len <= 8) return (uint8_t)len;
  for (size_t i = 0; i < sizeof steps; i++)
    if (len <= steps[i]) return steps[i];
  return 64;
}

static bool s_len_valid(uint8_t len, bool fd) {
  if (!fd) return len <= DD_CAN_MAX_DLEN;
  return len <= DD_CANFD_MAX_DLEN && s_fd_len(len) == len;
}

/* Largest SF payload for a frame of data length dl: 4-bit SF_DL up to CAN_DL 8, the escape form
 * (SF_DL in the second byte) beyond (ISO 15765-2:2016 9.6.2.1). */
static size_t s_sf_max(uint8_t dl, uint8_t ae) {
  return dl <= S_CLASSIC_DL ? (size_t)(7 - ae) : (size_t)(dl - 2 - ae);
}

uint32_t dd_isotp_stmin_us(uint8_t stmin) {
  /* ISO 15765-2:2016 9.6.5.4: 0x00-0x7F are milliseconds, 0xF1-0xF9 are 100-900 us; 9.6.5.5:
   * a reserved value makes the sender use the longest one, 0x7F. */
  if (stmin <= 0x7F) return (uint32_t)stmin * 1000u;
  if (stmin >= 0xF1 && stmin <= 0xF9) return (uint32_t)(stmin - 0xF0) * 100u;
  return S_STMIN_MAX_US;
}

uint32_t dd_isotp_normal_fixed_id(bool functional, uint8_t n_ta, uint8_t n_sa) {
  /* ISO 15765-2:2016 10.3.3: priority 6, PF 218 physical / 219 functional, PS = N_TA. */
  return 0x18000000u | ((functional ? 0xDBu : 0xDAu) << 16) | ((uint32_t)n_ta << 8) | n_sa;
}

uint32_t dd_isotp_mixed29_id(bool functional, uint8_t n_ta, uint8_t n_sa) {
  /* ISO 15765-2:2016 10.3.5: priority 6, PF 206 physical / 205 functional; N_AE in data. */
  return 0x18000000u | ((functional ? 0xCDu : 0xCEu) << 16) | ((uint32_t)n_ta << 8) | n_sa;
}

/* ---- configuration --------------------------------------------------------------------- */

void dd_isotp_cfg_default(dd_isotp_cfg_t *cfg) {
  assert(cfg);
  memset(cfg, 0, sizeof *cfg);
  cfg->tx_id = 0x7E0;
  cfg->rx_id = 0x7E8;
  cfg->func_tx_id = 0x7DF;
  cfg->func_rx_id = DD_ISOTP_ID_NONE;
  cfg->addr = DD_ISOTP_ADDR_NORMAL;
  cfg->tx_dl = 8;
  cfg->tx_padding = true;
  cfg->pad_byte = 0xCC; /* ISO 15765-2:2016 10.4.2: recommended padding value */
  cfg->ff_escape = true;
  cfg->wft_max = 10; /* N_WFTmax is left to the system by ISO 15765-2:2016 9.7 */
  cfg->rx_max = 65535;
  /* ISO 15765-2:2016 9.8.2: N_As, N_Ar, N_Bs and N_Cr time out after 1000 ms. */
  cfg->n_as_us = 1000000;
  cfg->n_ar_us = 1000000;
  cfg->n_bs_us = 1000000;
  cfg->n_cr_us = 1000000;
}

int dd_isotp_cfg_validate(const dd_isotp_cfg_t *cfg) {
  if (!cfg) return DD_EINVAL;
  uint32_t mask = cfg->ext_id ? DD_CAN_EFF_MASK : DD_CAN_SFF_MASK;
  if (cfg->tx_id > mask || cfg->rx_id > mask) return DD_ECONFIG;
  if (cfg->func_tx_id != DD_ISOTP_ID_NONE && cfg->func_tx_id > mask) return DD_ECONFIG;
  if (cfg->func_rx_id != DD_ISOTP_ID_NONE && cfg->func_rx_id > mask) return DD_ECONFIG;
  if (cfg->addr != DD_ISOTP_ADDR_NORMAL && cfg->addr != DD_ISOTP_ADDR_EXTENDED &&
      cfg->addr != DD_ISOTP_ADDR_MIXED)
    return DD_ECONFIG;
  if (cfg->fd) {
    /* ISO 15765-2:2016 9.5: TX_DL is 8 or one of the CAN FD data lengths above 8. */
    if (cfg->tx_dl < 8 || cfg->tx_dl > 64 || s_fd_len(cfg->tx_dl) != cfg->tx_dl)
      return DD_ECONFIG;
  } else if (cfg->tx_dl != 8 || cfg->brs) {
    return DD_ECONFIG;
  }
  if (cfg->rx_max == 0) return DD_ECONFIG;
  return 0;
}

/* ---- events and state ------------------------------------------------------------------ */

static void s_push(dd_isotp_t *self, const dd_isotp_event_t *ev, uint8_t *owned) {
  if (self->ev_count == DD_ISOTP_EVENTS_MAX) {
    s_slot_t *old = &self->evq[self->ev_head];
    free(old->owned);
    self->ev_head = (self->ev_head + 1) % DD_ISOTP_EVENTS_MAX;
    self->ev_count--;
    self->lost++;
  }
  s_slot_t *slot = &self->evq[(self->ev_head + self->ev_count) % DD_ISOTP_EVENTS_MAX];
  slot->ev = *ev;
  slot->owned = owned;
  self->ev_count++;
}

static void s_event(dd_isotp_t *self, dd_isotp_ev_kind_t kind, int error, bool aborted,
                    size_t len, uint64_t now) {
  dd_isotp_event_t ev = {.kind = kind, .error = error, .aborted = aborted, .len = len,
                         .time_us = now};
  s_push(self, &ev, NULL);
}

static void s_tx_set(dd_isotp_t *self, s_tx_state_t state, uint64_t now) {
  if (self->tx.state == state) return;
  if (self->cfg.trace)
    self->cfg.trace(self->cfg.trace_user, "tx", s_tx_names[self->tx.state], s_tx_names[state],
                    now);
  self->tx.state = state;
}

static void s_rx_set(dd_isotp_t *self, s_rx_state_t state, uint64_t now) {
  if (self->rx.state == state) return;
  if (self->cfg.trace)
    self->cfg.trace(self->cfg.trace_user, "rx", s_rx_names[self->rx.state], s_rx_names[state],
                    now);
  self->rx.state = state;
}

static uint32_t s_pend_push(dd_isotp_t *self, bool rx) {
  if (self->pend_count == S_PEND_MAX) { /* never confirmed: forget it, its timer fires */
    self->pend_head = (self->pend_head + 1) % S_PEND_MAX;
    self->pend_count--;
  }
  uint32_t seq = ++self->seq;
  self->pend[(self->pend_head + self->pend_count) % S_PEND_MAX] = (s_pend_t){seq, rx};
  self->pend_count++;
  return seq;
}

/* ---- transmit side --------------------------------------------------------------------- */

static void s_tx_end(dd_isotp_t *self, int error, uint64_t now) {
  size_t len = self->tx.len;
  bool functional = self->tx.functional;
  free(self->tx.buf);
  self->tx.buf = NULL;
  self->tx.len = self->tx.idx = 0;
  s_tx_set(self, S_TX_IDLE, now);
  if (error) {
    s_event(self, DD_ISOTP_EV_TX_ERROR, error, true, 0, now);
  } else {
    dd_isotp_event_t ev = {.kind = DD_ISOTP_EV_TX_DONE, .functional = functional, .len = len,
                           .time_us = now};
    s_push(self, &ev, NULL);
  }
}

static void s_tx_wait_fc(dd_isotp_t *self, uint64_t now) {
  self->tx.wft = 0;
  self->tx.deadline = s_after(now, self->cfg.n_bs_us); /* N_Bs (9.8.2) */
  s_tx_set(self, S_TX_WAIT_FC, now);
}

/* The frame of kind `sent` is on the bus (confirmed, or emitted when nobody confirms). */
static void s_tx_sent(dd_isotp_t *self, s_sent_t sent, bool last, uint64_t now) {
  switch (sent) {
  case S_SENT_SF:
    s_tx_end(self, 0, now);
    break;
  case S_SENT_FF: /* 9.3: after the FF the sender waits for an FC */
    s_tx_wait_fc(self, now);
    break;
  case S_SENT_CF:
    if (last) {
      s_tx_end(self, 0, now);
    } else if (self->tx.bs && ++self->tx.blk >= self->tx.bs) {
      s_tx_wait_fc(self, now); /* 9.6.5.3: a new FC after every BS CFs */
    } else {
      self->tx.ready_at = now + self->tx.stmin_us; /* 9.6.5.4: STmin between CFs */
      s_tx_set(self, S_TX_CF, now);
    }
    break;
  }
}

static void s_tx_emitted(dd_isotp_t *self, s_sent_t sent, bool last, uint64_t now) {
  if (!self->cfg.wait_tx_confirm) {
    s_tx_sent(self, sent, last, now);
    return;
  }
  self->tx.sent = sent;
  self->tx.last = last;
  self->tx.conf_seq = s_pend_push(self, false);
  self->tx.deadline = s_after(now, self->cfg.n_as_us); /* N_As (9.8.2) */
  s_tx_set(self, S_TX_CONF, now);
}

static void s_frame_start(const dd_isotp_t *self, dd_can_frame_t *f, uint32_t id,
                          uint8_t ext_addr, uint64_t now) {
  memset(f, 0, sizeof *f);
  f->id = id;
  f->flags = (uint8_t)((self->cfg.ext_id ? DD_CAN_F_EFF : 0) |
                       (self->cfg.fd ? DD_CAN_F_FD : 0) | (self->cfg.brs ? DD_CAN_F_BRS : 0));
  f->ts_us = now;
  if (self->ae) f->data[0] = ext_addr; /* N_TA (10.3.4) or N_AE (10.3.5) */
}

/* Set the frame length from the bytes used, padding as ISO 15765-2:2016 10.4.2 asks: up to 8
 * bytes when padding is on, and always up to the next valid CAN FD length beyond 8. */
static void s_frame_finish(const dd_isotp_t *self, dd_can_frame_t *f, size_t used) {
  size_t len = used;
  if (self->cfg.tx_padding && len < S_CLASSIC_DL) len = S_CLASSIC_DL;
  len = s_fd_len(len);
  memset(f->data + used, self->cfg.pad_byte, len - used);
  f->len = (uint8_t)len;
}

static void s_tx_build(dd_isotp_t *self, dd_can_frame_t *f, uint64_t now) {
  const uint8_t ae = self->ae;
  const size_t dl = self->tx_dl;
  bool functional = self->tx.functional;
  s_frame_start(self, f, functional ? self->cfg.func_tx_id : self->cfg.tx_id,
                functional ? self->cfg.func_ext_addr : self->cfg.tx_ext_addr, now);
  switch (self->tx.state) {
  case S_TX_SF: {
    size_t len = self->tx.len, used;
    if (len <= (size_t)(7 - ae)) { /* 9.6.2.1: 4-bit SF_DL */
      f->data[ae] = (uint8_t)((S_PCI_SF << 4) | len);
      memcpy(f->data + ae + 1, self->tx.buf, len);
      used = ae + 1 + len;
    } else { /* 9.6.2.1: escape, SF_DL in the next byte (CAN_DL > 8 only) */
      f->data[ae] = S_PCI_SF << 4;
      f->data[ae + 1] = (uint8_t)len;
      memcpy(f->data + ae + 2, self->tx.buf, len);
      used = ae + 2 + len;
    }
    self->tx.idx = len;
    s_frame_finish(self, f, used);
    s_tx_emitted(self, S_SENT_SF, true, now);
    break;
  }
  case S_TX_FF: {
    size_t len = self->tx.len, pci;
    if (len <= DD_ISOTP_MAX_LEN_NO_ESCAPE) { /* 9.6.3.1: 12-bit FF_DL */
      f->data[ae] = (uint8_t)((S_PCI_FF << 4) | (len >> 8));
      f->data[ae + 1] = (uint8_t)len;
      pci = ae + 2u;
    } else { /* 9.6.3.1: escape, 12-bit field 0 then a 32-bit FF_DL */
      f->data[ae] = S_PCI_FF << 4;
      f->data[ae + 1] = 0;
      f->data[ae + 2] = (uint8_t)(len >> 24);
      f->data[ae + 3] = (uint8_t)(len >> 16);
      f->data[ae + 4] = (uint8_t)(len >> 8);
      f->data[ae + 5] = (uint8_t)len;
      pci = ae + 6u;
    }
    size_t n = dl - pci; /* the FF always fills TX_DL; len > n since len > SF maximum */
    memcpy(f->data + pci, self->tx.buf, n);
    self->tx.idx = n;
    self->tx.sn = 1; /* 9.6.4: the first CF has SN 1 */
    s_frame_finish(self, f, dl);
    s_tx_emitted(self, S_SENT_FF, false, now);
    break;
  }
  case S_TX_CF: {
    size_t room = dl - 1 - ae, left = self->tx.len - self->tx.idx;
    size_t n = left < room ? left : room;
    f->data[ae] = (uint8_t)((S_PCI_CF << 4) | self->tx.sn);
    memcpy(f->data + ae + 1, self->tx.buf + self->tx.idx, n);
    self->tx.idx += n;
    self->tx.sn = (uint8_t)((self->tx.sn + 1) & 0x0F); /* 9.6.4: SN wraps 15 -> 0 */
    s_frame_finish(self, f, ae + 1 + n);
    s_tx_emitted(self, S_SENT_CF, self->tx.idx == self->tx.len, now);
    break;
  }
  default:
    assert(!"no tx frame to build");
  }
}

/* ---- receive side ---------------------------------------------------------------------- */

static bool s_rx_in_progress(const dd_isotp_t *self) {
  /* an FC.OVFLW waiting to go out ends a reception that never started */
  return self->rx.state != S_RX_IDLE && self->rx.fs == S_FS_CTS;
}

static void s_rx_reset(dd_isotp_t *self, uint64_t now) {
  free(self->rx.buf);
  self->rx.buf = NULL;
  self->rx.cap = 0;
  self->rx.len = self->rx.idx = 0;
  s_rx_set(self, S_RX_IDLE, now);
}

static void s_rx_fail(dd_isotp_t *self, int error, uint64_t now) {
  s_rx_reset(self, now);
  s_event(self, DD_ISOTP_EV_RX_ERROR, error, true, 0, now);
}

/* A received frame is rejected without touching any reception in progress. */
static void s_rx_reject(dd_isotp_t *self, int error, uint64_t now) {
  s_event(self, DD_ISOTP_EV_RX_ERROR, error, false, 0, now);
}

static void s_rx_fc_sent(dd_isotp_t *self, uint64_t now) {
  if (self->rx.fs == S_FS_OVFLW) { /* 9.6.3.2: the reception is over after FC.OVFLW */
    s_rx_reset(self, now);
    return;
  }
  self->rx.blk = 0;
  self->rx.deadline = s_after(now, self->cfg.n_cr_us); /* N_Cr (9.8.2) */
  s_rx_set(self, S_RX_WAIT_CF, now);
}

static void s_rx_build_fc(dd_isotp_t *self, dd_can_frame_t *f, uint64_t now) {
  const uint8_t ae = self->ae;
  s_frame_start(self, f, self->cfg.tx_id, self->cfg.tx_ext_addr, now);
  /* 9.6.5: FS in the low nibble, then BS and STmin (not relevant with OVFLW: sent as 0) */
  f->data[ae] = (uint8_t)((S_PCI_FC << 4) | self->rx.fs);
  f->data[ae + 1] = self->rx.fs == S_FS_CTS ? self->cfg.bs : 0;
  f->data[ae + 2] = self->rx.fs == S_FS_CTS ? self->cfg.stmin : 0;
  s_frame_finish(self, f, ae + 3u);
  if (self->cfg.wait_tx_confirm) {
    self->rx.conf_seq = s_pend_push(self, true);
    self->rx.deadline = s_after(now, self->cfg.n_ar_us); /* N_Ar (9.8.2) */
    s_rx_set(self, S_RX_CONF, now);
  } else {
    s_rx_fc_sent(self, now);
  }
}

static void s_rx_deliver(dd_isotp_t *self, uint8_t *owned, size_t len, bool functional,
                         uint64_t now) {
  dd_isotp_event_t ev = {.kind = DD_ISOTP_EV_RX_DONE, .functional = functional, .len = len,
                         .data = owned, .time_us = now};
  s_push(self, &ev, owned);
}

static bool s_rx_reserve(dd_isotp_t *self, size_t need) {
  if (need <= self->rx.cap) return true;
  size_t cap = self->rx.cap ? self->rx.cap : S_RX_CHUNK;
  while (cap < need) cap = cap > SIZE_MAX / 2 ? need : cap * 2;
  if (cap > self->rx.len) cap = self->rx.len;
  if (cap < need) cap = need;
  uint8_t *buf = realloc(self->rx.buf, cap);
  if (!buf) return false;
  self->rx.buf = buf;
  self->rx.cap = cap;
  return true;
}

/* 9.8.3: an SF (physical) or an FF ends a segmented reception in progress, which is reported
 * as N_UNEXP_PDU; the new frame then starts a new reception. */
static void s_rx_interrupt(dd_isotp_t *self, uint64_t now) {
  if (s_rx_in_progress(self)) s_rx_fail(self, DD_EISOTP_UNEXP_PDU, now);
}

static void s_rx_sf(dd_isotp_t *self, const dd_can_frame_t *f, bool functional, uint64_t now) {
  const uint8_t ae = self->ae;
  const uint8_t nibble = f->data[ae] & 0x0F;
  size_t sf_dl, off;
  if (f->len <= S_CLASSIC_DL) {
    /* 9.6.2.2: up to CAN_DL 8 the SF_DL is the 4-bit field; 0 (the escape) is invalid here */
    if (nibble == 0) goto out_length;
    sf_dl = nibble;
    off = ae + 1u;
  } else {
    /* 9.6.2.2: with CAN_DL > 8 only the escape form is valid (SF_DL in the next byte) */
    if (nibble != 0) goto out_length;
    sf_dl = f->data[ae + 1];
    off = ae + 2u;
    if (sf_dl == 0) goto out_length;
  }
  if (sf_dl > f->len - off) goto out_length; /* 9.6.2.2: SF_DL beyond CAN_DL: ignore */
  /* 10.4.2: with padding required a frame shorter than 8 bytes is malformed */
  if (self->cfg.check_rx_padding && f->len < S_CLASSIC_DL) {
    s_rx_reject(self, DD_EISOTP_PADDING, now);
    return;
  }
  if (sf_dl > self->cfg.rx_max) {
    s_event(self, DD_ISOTP_EV_RX_ERROR, DD_EISOTP_BUFFER_OVFLW, false, sf_dl, now);
    return;
  }
  if (!functional) s_rx_interrupt(self, now); /* a functional SF has its own N_AI */
  uint8_t *msg = malloc(sf_dl);
  if (!msg) {
    s_rx_reject(self, DD_ENOMEM, now);
    return;
  }
  memcpy(msg, f->data + off, sf_dl);
  s_rx_deliver(self, msg, sf_dl, functional, now);
  return;
out_length:
  s_rx_reject(self, DD_EISOTP_LENGTH, now);
}

static void s_rx_ff(dd_isotp_t *self, const dd_can_frame_t *f, uint64_t now) {
  const uint8_t ae = self->ae;
  /* 9.5: RX_DL is the CAN_DL of the FF, which fills the frame; less than 8 is invalid */
  if (f->len < S_CLASSIC_DL) {
    s_rx_reject(self, DD_EISOTP_LENGTH, now);
    return;
  }
  const uint8_t rx_dl = f->len;
  uint32_t ff_dl = ((uint32_t)(f->data[ae] & 0x0F) << 8) | f->data[ae + 1];
  size_t pci = ae + 2u;
  if (ff_dl == 0) { /* 9.6.3.1: escape, 32-bit FF_DL follows (ae + 6 <= 8 <= CAN_DL) */
    ff_dl = ((uint32_t)f->data[ae + 2] << 24) | ((uint32_t)f->data[ae + 3] << 16) |
            ((uint32_t)f->data[ae + 4] << 8) | f->data[ae + 5];
    pci = ae + 6u;
  }
  /* 9.6.3.2: an FF_DL that would fit a single frame (below FF_DLmin) is ignored, no FC */
  if (ff_dl <= s_sf_max(rx_dl, ae)) {
    s_rx_reject(self, DD_EISOTP_LENGTH, now);
    return;
  }
  s_rx_interrupt(self, now);
  s_rx_reset(self, now);
  self->rx.rx_dl = rx_dl;
  if (ff_dl > self->cfg.rx_max) {
    /* 9.6.3.2: FF_DL larger than our buffer: abort and answer FC with FS = OVFLW */
    self->rx.fs = S_FS_OVFLW;
    self->rx.ready_at = now;
    s_rx_set(self, S_RX_FC, now);
    s_event(self, DD_ISOTP_EV_RX_ERROR, DD_EISOTP_BUFFER_OVFLW, false, ff_dl, now);
    return;
  }
  size_t n = rx_dl - pci;
  if (n > ff_dl) n = ff_dl;
  self->rx.len = ff_dl;
  if (!s_rx_reserve(self, ff_dl < S_RX_CHUNK ? ff_dl : S_RX_CHUNK)) {
    s_rx_fail(self, DD_ENOMEM, now);
    return;
  }
  memcpy(self->rx.buf, f->data + pci, n);
  self->rx.idx = (uint32_t)n;
  self->rx.sn = 1;
  self->rx.blk = 0;
  self->rx.fs = S_FS_CTS;
  self->rx.ready_at = now; /* our FC goes out at once (N_Br is ours to keep short) */
  s_rx_set(self, S_RX_FC, now);
  s_event(self, DD_ISOTP_EV_RX_FIRST_FRAME, 0, false, ff_dl, now);
}

static void s_rx_cf(dd_isotp_t *self, const dd_can_frame_t *f, uint64_t now) {
  const uint8_t ae = self->ae;
  /* 9.8.3: a CF outside a reception (or before our FC went out) is ignored */
  if (self->rx.fs != S_FS_CTS || (self->rx.state != S_RX_WAIT_CF && self->rx.state != S_RX_CONF))
    return;
  const size_t left = self->rx.len - self->rx.idx;
  const size_t room = self->rx.rx_dl - 1u - ae;
  size_t n;
  /* 9.5 (RX_DL): CFs use the FF's CAN_DL except the last, which may be shorter; other
   * lengths are invalid and the frame is ignored */
  if (f->len > self->rx.rx_dl) goto out_length;
  if (left > room) {
    if (f->len != self->rx.rx_dl) goto out_length;
    n = room;
  } else {
    if (f->len < ae + 1u + left) goto out_length;
    n = left;
  }
  if (self->rx.state == S_RX_CONF) s_rx_fc_sent(self, now); /* the CF proves our FC went out */
  if ((f->data[ae] & 0x0F) != self->rx.sn) { /* 9.6.4.3: wrong SN aborts the reception */
    s_rx_fail(self, DD_EISOTP_WRONG_SN, now);
    return;
  }
  if (self->cfg.check_rx_padding && f->len < S_CLASSIC_DL) { /* 10.4.2 */
    s_rx_fail(self, DD_EISOTP_PADDING, now);
    return;
  }
  if (!s_rx_reserve(self, self->rx.idx + n)) {
    s_rx_fail(self, DD_ENOMEM, now);
    return;
  }
  memcpy(self->rx.buf + self->rx.idx, f->data + ae + 1, n);
  self->rx.idx += (uint32_t)n;
  self->rx.sn = (uint8_t)((self->rx.sn + 1) & 0x0F);
  if (self->rx.idx == self->rx.len) {
    uint8_t *msg = self->rx.buf;
    size_t len = self->rx.len;
    self->rx.buf = NULL;
    self->rx.cap = 0;
    s_rx_reset(self, now);
    s_rx_deliver(self, msg, len, false, now);
  } else if (self->cfg.bs && ++self->rx.blk >= self->cfg.bs) {
    self->rx.ready_at = now; /* 9.6.5.3: block complete, next FC.CTS */
    s_rx_set(self, S_RX_FC, now);
  } else {
    self->rx.deadline = s_after(now, self->cfg.n_cr_us); /* N_Cr restarts per CF (9.8.2) */
  }
  return;
out_length:
  s_rx_reject(self, DD_EISOTP_LENGTH, now);
}

/* An FC for our transmission. */
static void s_rx_fc(dd_isotp_t *self, const dd_can_frame_t *f, uint64_t now) {
  const uint8_t ae = self->ae;
  if (self->tx.state == S_TX_CONF) {
    /* The FC can only follow our frame, so that frame was sent even if its confirmation is
     * still on its way: take the FC as the confirmation when an FC is what we expect next. */
    bool fc_due = self->tx.sent == S_SENT_FF ||
                  (self->tx.sent == S_SENT_CF && !self->tx.last && self->tx.bs &&
                   self->tx.blk + 1 >= self->tx.bs);
    if (fc_due) s_tx_sent(self, self->tx.sent, self->tx.last, now);
  }
  if (self->tx.state != S_TX_WAIT_FC) return; /* 9.8.3: an unexpected FC is ignored */
  if (f->len < ae + 3u) {
    s_tx_end(self, DD_EISOTP_LENGTH, now);
    return;
  }
  if (self->cfg.check_rx_padding && f->len < S_CLASSIC_DL) { /* 10.4.2 */
    s_tx_end(self, DD_EISOTP_PADDING, now);
    return;
  }
  switch (f->data[ae] & 0x0F) {
  case S_FS_CTS:
    if (!self->tx.got_cts) {
      /* BS and STmin hold for the whole message and are taken from the first FC.CTS
       * (9.6.5.3, 9.6.5.4; the Linux isotp sender does the same) */
      self->tx.bs = f->data[ae + 1];
      self->tx.stmin_us = dd_isotp_stmin_us(f->data[ae + 2]);
      self->tx.got_cts = true;
    }
    self->tx.blk = 0;
    self->tx.wft = 0;
    self->tx.ready_at = now; /* the first CF after an FC goes at once; STmin is between CFs */
    s_tx_set(self, S_TX_CF, now);
    break;
  case S_FS_WAIT:
    /* 9.7: at most N_WFTmax FC.WAIT in a row; 9.8.2: each one restarts N_Bs */
    if (++self->tx.wft > self->cfg.wft_max) {
      s_tx_end(self, DD_EISOTP_WFT_OVRN, now);
      return;
    }
    self->tx.deadline = s_after(now, self->cfg.n_bs_us);
    break;
  case S_FS_OVFLW: /* 9.6.5.1: the receiver cannot take the message */
    s_tx_end(self, DD_EISOTP_BUFFER_OVFLW, now);
    break;
  default: /* 9.6.5.2: an invalid FlowStatus aborts the transmission */
    s_tx_end(self, DD_EISOTP_INVALID_FS, now);
    break;
  }
}

/* ---- timers ---------------------------------------------------------------------------- */

static void s_timers(dd_isotp_t *self, uint64_t now) {
  /* 9.8.2: each timeout aborts its side with its own N_Result */
  if (self->tx.state == S_TX_CONF && s_due(self->tx.deadline, now))
    s_tx_end(self, DD_EISOTP_TIMEOUT_A, now);
  else if (self->tx.state == S_TX_WAIT_FC && s_due(self->tx.deadline, now))
    s_tx_end(self, DD_EISOTP_TIMEOUT_BS, now);
  if (self->rx.state == S_RX_CONF && s_due(self->rx.deadline, now))
    s_rx_fail(self, DD_EISOTP_TIMEOUT_A, now);
  else if (self->rx.state == S_RX_WAIT_CF && s_due(self->rx.deadline, now))
    s_rx_fail(self, DD_EISOTP_TIMEOUT_CR, now);
}

/* ---- public API ------------------------------------------------------------------------ */

dd_isotp_t *dd_isotp_new(const dd_isotp_cfg_t *cfg) {
  if (dd_isotp_cfg_validate(cfg) != 0) return NULL;
  dd_isotp_t *self = calloc(1, sizeof *self);
  if (!self) return NULL;
  self->cfg = *cfg;
  self->ae = cfg->addr == DD_ISOTP_ADDR_NORMAL ? 0 : 1;
  self->tx_dl = cfg->fd ? cfg->tx_dl : S_CLASSIC_DL;
  self->tx.state = S_TX_IDLE;
  self->rx.state = S_RX_IDLE;
  self->tx.deadline = self->rx.deadline = UINT64_MAX;
  return self;
}

void dd_isotp_destroy(dd_isotp_t **self_p) {
  assert(self_p);
  dd_isotp_t *self = *self_p;
  if (!self) return;
  free(self->tx.buf);
  free(self->rx.buf);
  for (unsigned i = 0; i < self->ev_count; i++)
    free(self->evq[(self->ev_head + i) % DD_ISOTP_EVENTS_MAX].owned);
  free(self->held);
  free(self);
  *self_p = NULL;
}

static int s_send(dd_isotp_t *self, const uint8_t *data, size_t len, uint64_t now,
                  bool functional) {
  assert(self);
  assert(data || len == 0);
  s_timers(self, now);
  if (len == 0) return DD_EINVAL; /* 9.6.2.1: SF_DL 0 is reserved */
  size_t sf_max = s_sf_max(self->tx_dl, self->ae);
  if (functional) {
    if (self->cfg.func_tx_id == DD_ISOTP_ID_NONE) return DD_ENOTCONN;
    /* Functionally addressed messages are single frames only: a functional FF is ignored by
     * every receiver (9.8.3) and there is no flow control for 1:n communication. */
    if (len > sf_max) return DD_EMSGSIZE;
  }
  if (len > DD_ISOTP_MAX_LEN) return DD_EMSGSIZE;
  if (!self->cfg.ff_escape && len > DD_ISOTP_MAX_LEN_NO_ESCAPE) return DD_EMSGSIZE;
  if (self->tx.state != S_TX_IDLE) return DD_EBUSY;
  uint8_t *buf = malloc(len);
  if (!buf) return DD_ENOMEM;
  memcpy(buf, data, len);
  self->tx.buf = buf;
  self->tx.len = len;
  self->tx.idx = 0;
  self->tx.functional = functional;
  self->tx.got_cts = false;
  self->tx.bs = 0;
  self->tx.stmin_us = 0;
  self->tx.blk = 0;
  self->tx.wft = 0;
  self->tx.ready_at = now;
  self->tx.deadline = UINT64_MAX;
  s_tx_set(self, len <= sf_max ? S_TX_SF : S_TX_FF, now); /* 9.2 / 9.3 */
  return 0;
}

int dd_isotp_send(dd_isotp_t *self, const uint8_t *data, size_t len, uint64_t now_us) {
  return s_send(self, data, len, now_us, false);
}

int dd_isotp_send_functional(dd_isotp_t *self, const uint8_t *data, size_t len,
                             uint64_t now_us) {
  return s_send(self, data, len, now_us, true);
}

int dd_isotp_on_frame(dd_isotp_t *self, const dd_can_frame_t *f, uint64_t now_us) {
  assert(self);
  assert(f);
  if (f->flags & (DD_CAN_F_ERR | DD_CAN_F_RTR | DD_CAN_F_TX)) return 0;
  if (!(f->flags & DD_CAN_F_EFF) != !self->cfg.ext_id) return 0;
  const bool fdf = (f->flags & DD_CAN_F_FD) != 0;
  if (fdf && !self->cfg.fd) return 0; /* an FD frame cannot be meant for a classic channel */
  if (!s_len_valid(f->len, fdf)) return 0;
  bool functional;
  if (f->id == self->cfg.rx_id)
    functional = false;
  else if (self->cfg.func_rx_id != DD_ISOTP_ID_NONE && f->id == self->cfg.func_rx_id)
    functional = true;
  else
    return 0;
  const uint8_t ae = self->ae;
  if (ae) { /* 10.3.4 / 10.3.5: the first byte selects the receiver */
    uint8_t want = functional ? self->cfg.func_ext_addr : self->cfg.rx_ext_addr;
    if (f->len < 1 || f->data[0] != want) return 0;
  }
  s_timers(self, now_us);
  if (f->len < ae + 1u) return 1; /* no N_PCI at all: nothing to act on */
  switch (f->data[ae] >> 4) {
  case S_PCI_SF:
    s_rx_sf(self, f, functional, now_us);
    break;
  case S_PCI_FF: /* 9.8.3: functionally addressed FFs are ignored */
    if (!functional) s_rx_ff(self, f, now_us);
    break;
  case S_PCI_CF:
    if (!functional) s_rx_cf(self, f, now_us);
    break;
  case S_PCI_FC:
    if (!functional) s_rx_fc(self, f, now_us);
    break;
  default: /* 9.6.1: reserved N_PCItype values are ignored */
    break;
  }
  return 1;
}

int dd_isotp_on_tx_confirm(dd_isotp_t *self, uint64_t now_us) {
  assert(self);
  s_timers(self, now_us);
  if (self->pend_count == 0) return DD_ENOENT;
  s_pend_t p = self->pend[self->pend_head];
  self->pend_head = (self->pend_head + 1) % S_PEND_MAX;
  self->pend_count--;
  if (p.rx) {
    if (self->rx.state == S_RX_CONF && self->rx.conf_seq == p.seq) s_rx_fc_sent(self, now_us);
  } else {
    if (self->tx.state == S_TX_CONF && self->tx.conf_seq == p.seq)
      s_tx_sent(self, self->tx.sent, self->tx.last, now_us);
  }
  return 0;
}

int dd_isotp_poll(dd_isotp_t *self, uint64_t now_us, dd_can_frame_t *out) {
  assert(self);
  assert(out);
  s_timers(self, now_us);
  if (self->rx.state == S_RX_FC && self->rx.ready_at <= now_us) {
    s_rx_build_fc(self, out, now_us);
    return 1;
  }
  switch (self->tx.state) {
  case S_TX_SF:
  case S_TX_FF:
  case S_TX_CF:
    if (self->tx.ready_at > now_us) return 0;
    s_tx_build(self, out, now_us);
    return 1;
  default:
    return 0;
  }
}

uint64_t dd_isotp_next_deadline(const dd_isotp_t *self) {
  assert(self);
  uint64_t d = UINT64_MAX;
  switch (self->tx.state) {
  case S_TX_SF:
  case S_TX_FF:
  case S_TX_CF:
    d = self->tx.ready_at;
    break;
  case S_TX_CONF:
  case S_TX_WAIT_FC:
    d = self->tx.deadline;
    break;
  default:
    break;
  }
  uint64_t r = UINT64_MAX;
  switch (self->rx.state) {
  case S_RX_FC:
    r = self->rx.ready_at;
    break;
  case S_RX_CONF:
  case S_RX_WAIT_CF:
    r = self->rx.deadline;
    break;
  default:
    break;
  }
  return r < d ? r : d;
}

bool dd_isotp_take_event(dd_isotp_t *self, dd_isotp_event_t *ev) {
  assert(self);
  assert(ev);
  if (self->ev_count == 0) return false;
  s_slot_t *slot = &self->evq[self->ev_head];
  *ev = slot->ev;
  if (slot->owned) {
    /* the previous message lives until the next one is handed out, so a caller may take
     * other events (e.g. re-entering from its callback to answer) while reading it */
    free(self->held);
    self->held = slot->owned;
    slot->owned = NULL;
  }
  self->ev_head = (self->ev_head + 1) % DD_ISOTP_EVENTS_MAX;
  self->ev_count--;
  return true;
}

size_t dd_isotp_events_lost(const dd_isotp_t *self) {
  assert(self);
  return self->lost;
}

bool dd_isotp_tx_busy(const dd_isotp_t *self) {
  assert(self);
  return self->tx.state != S_TX_IDLE;
}

bool dd_isotp_rx_busy(const dd_isotp_t *self) {
  assert(self);
  return s_rx_in_progress(self);
}

const char *dd_isotp_tx_state(const dd_isotp_t *self) {
  assert(self);
  return s_tx_names[self->tx.state];
}

const char *dd_isotp_rx_state(const dd_isotp_t *self) {
  assert(self);
  return s_rx_names[self->rx.state];
}
