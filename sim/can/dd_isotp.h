/* dd_isotp: ISO-TP (ISO 15765-2:2016) as a sans-I/O state machine: CAN frames and "now" in,
 * CAN frames, events and deadlines out; one instance sends and receives at the same time. */
#ifndef DD_ISOTP_H
#define DD_ISOTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dd_can.h"

/* Marks an identifier that is not used (e.g. no functional request id). */
#define DD_ISOTP_ID_NONE UINT32_MAX

/* Largest message length the protocol can announce: the 32-bit FF_DL of the escape form
 * (ISO 15765-2:2016 9.6.3.1). Without the escape the limit is 4095. */
#define DD_ISOTP_MAX_LEN UINT32_MAX
#define DD_ISOTP_MAX_LEN_NO_ESCAPE 4095u

/* Addressing formats (ISO 15765-2:2016 10.3). EXTENDED and MIXED both put one address byte in
 * front of the N_PCI (the target address N_TA, resp. the address extension N_AE); they differ
 * only in how the CAN identifiers are chosen, which the caller does (see the id helpers). */
typedef enum {
  DD_ISOTP_ADDR_NORMAL = 0, /* 10.3.2 (and normal fixed, 10.3.3): ids carry all addressing */
  DD_ISOTP_ADDR_EXTENDED,   /* 10.3.4: first data byte is N_TA */
  DD_ISOTP_ADDR_MIXED,      /* 10.3.5: first data byte is N_AE, 11- or 29-bit ids */
} dd_isotp_addr_t;

typedef struct {
  uint32_t tx_id;           /* id of our physically addressed frames (and of our FCs) */
  uint32_t rx_id;           /* id of the peer's frames to us (its data frames and FCs) */
  uint32_t func_tx_id;      /* id of functional requests we send, or DD_ISOTP_ID_NONE */
  uint32_t func_rx_id;      /* id of functional requests we accept, or DD_ISOTP_ID_NONE */
  bool ext_id;              /* all ids above are 29-bit (else 11-bit) */
  dd_isotp_addr_t addr;     /* addressing format */
  uint8_t tx_ext_addr;      /* EXTENDED/MIXED: address byte we put in our frames */
  uint8_t rx_ext_addr;      /* EXTENDED/MIXED: address byte the peer's frames must carry */
  uint8_t func_ext_addr;    /* EXTENDED/MIXED: address byte of functional frames (tx and rx) */
  bool fd;                  /* CAN FD: send FD frames; accept FD and classic frames */
  uint8_t tx_dl;            /* TX_DL (9.5): 8 classic; 8,12,16,20,24,32,48,64 with fd */
  bool brs;                 /* FD only: set bit-rate switch on our frames */
  bool tx_padding;          /* pad our frames to at least 8 bytes (10.4.2) */
  uint8_t pad_byte;         /* padding value (0xCC recommended) */
  bool check_rx_padding;    /* strict: peer frames shorter than 8 bytes -> DD_EISOTP_PADDING */
  bool ff_escape;           /* allow sending FF_DL > 4095 with the escape form (2016 edition) */
  uint8_t bs;               /* BlockSize we grant in our FCs (0 = no further FC) */
  uint8_t stmin;            /* STmin byte we put in our FCs (any value, reserved ones too) */
  uint8_t wft_max;          /* consecutive FC.WAIT accepted before DD_EISOTP_WFT_OVRN (N_WFTmax) */
  uint32_t rx_max;          /* largest message we receive; larger FF_DL -> FC.OVFLW */
  bool wait_tx_confirm;     /* frames count as sent only on dd_isotp_on_tx_confirm (N_As/N_Ar) */
  uint64_t n_as_us;         /* N_As: sender's frame transmission timeout (0 = none) */
  uint64_t n_ar_us;         /* N_Ar: receiver's FC transmission timeout (0 = none) */
  uint64_t n_bs_us;         /* N_Bs: sender waiting for an FC (0 = none) */
  uint64_t n_cr_us;         /* N_Cr: receiver waiting for a CF (0 = none) */
  /* Optional: called on every state change (side "tx"/"rx", state names), e.g. for a timeline. */
  void (*trace)(void *user, const char *side, const char *from, const char *to, uint64_t now_us);
  void *trace_user; /* passed to trace */
} dd_isotp_cfg_t;

typedef enum {
  DD_ISOTP_EV_TX_DONE = 1,    /* our message went out completely */
  DD_ISOTP_EV_TX_ERROR,       /* our message was given up; error says why */
  DD_ISOTP_EV_RX_FIRST_FRAME, /* a segmented message started; len is its announced length */
  DD_ISOTP_EV_RX_DONE,        /* a message arrived; data valid until the next RX_DONE is taken */
  DD_ISOTP_EV_RX_ERROR,       /* a reception failed, or a frame to us was rejected (see aborted) */
} dd_isotp_ev_kind_t;

typedef struct {
  dd_isotp_ev_kind_t kind; /* what happened */
  int error;               /* *_ERROR: a DD_EISOTP_* code (or DD_ENOMEM); else 0 */
  bool aborted;            /* RX_ERROR: a reception in progress was dropped (TX_ERROR: always) */
  bool functional;         /* TX_DONE/RX_DONE: the message was functionally addressed */
  size_t len;              /* TX_DONE: bytes sent; RX_FIRST_FRAME and RX_ERROR with
                              DD_EISOTP_BUFFER_OVFLW: the announced length; RX_DONE: bytes */
  const uint8_t *data;     /* RX_DONE: the message, valid until the next RX_DONE is taken
                              or the instance is destroyed; NULL otherwise */
  uint64_t time_us;        /* when it happened (the "now" of the call that caused it) */
} dd_isotp_event_t;

typedef struct dd_isotp dd_isotp_t;

/* Defaults: 11-bit normal addressing 0x7E0 -> / <- 0x7E8, functional tx 0x7DF, classic CAN
 * (TX_DL 8), padding 0xCC on, no strict padding check, escape allowed, BS 0, STmin 0,
 * wft_max 10, rx_max 65535, no tx confirmation, N_As = N_Ar = N_Bs = N_Cr = 1000 ms
 * (ISO 15765-2:2016 9.8.2, table of network layer timing parameters). */
void dd_isotp_cfg_default(dd_isotp_cfg_t *cfg);

/* 0 when cfg is usable, else DD_ECONFIG (ids out of range, bad TX_DL, BRS without FD, ...). */
int dd_isotp_cfg_validate(const dd_isotp_cfg_t *cfg);

/* A new idle instance (the cfg is copied), or NULL when cfg is invalid or memory is short. */
dd_isotp_t *dd_isotp_new(const dd_isotp_cfg_t *cfg);
void dd_isotp_destroy(dd_isotp_t **self_p);

/* Start sending a physically addressed message (copied). 0, DD_EBUSY while a message is still
 * going out, DD_EINVAL for len 0, DD_EMSGSIZE above 4095 (no escape) or 2^32-1, DD_ENOMEM. */
int dd_isotp_send(dd_isotp_t *self, const uint8_t *data, size_t len, uint64_t now_us);

/* Same with functional addressing (func_tx_id): single frame only, so DD_EMSGSIZE when the
 * message does not fit one SF; DD_ENOTCONN when no functional id is configured. */
int dd_isotp_send_functional(dd_isotp_t *self, const uint8_t *data, size_t len, uint64_t now_us);

/* Feed one received frame. Returns 1 when it was addressed to this instance (taken, even if
 * then ignored as the standard requires), 0 when it is not ours. */
int dd_isotp_on_frame(dd_isotp_t *self, const dd_can_frame_t *frame, uint64_t now_us);

/* With wait_tx_confirm: the bus sent the oldest frame poll gave out and not yet confirmed.
 * 0, or DD_ENOENT when no frame awaits confirmation. */
int dd_isotp_on_tx_confirm(dd_isotp_t *self, uint64_t now_us);

/* Fire expired timers, then return 1 with a frame to put on the bus now, or 0. Call it until
 * it returns 0, and again at dd_isotp_next_deadline(). */
int dd_isotp_poll(dd_isotp_t *self, uint64_t now_us, dd_can_frame_t *out);

/* Absolute time at which poll must run again (UINT64_MAX when nothing is pending). */
uint64_t dd_isotp_next_deadline(const dd_isotp_t *self);

/* Take the oldest event; false when there is none. Taking an RX_DONE ends the life of the
 * previous RX_DONE's data (other events do not, so a caller may take events again, e.g. by
 * sending a reply from inside its handler, while it still reads a message). Events are kept
 * in a ring of DD_ISOTP_EVENTS_MAX; when full the oldest is dropped. */
#define DD_ISOTP_EVENTS_MAX 32
bool dd_isotp_take_event(dd_isotp_t *self, dd_isotp_event_t *ev);
/* How many events were dropped because nobody took them. */
size_t dd_isotp_events_lost(const dd_isotp_t *self);

bool dd_isotp_tx_busy(const dd_isotp_t *self);       /* a transmission is under way */
bool dd_isotp_rx_busy(const dd_isotp_t *self);       /* a segmented reception is under way */
const char *dd_isotp_tx_state(const dd_isotp_t *self); /* state name, for logs */
const char *dd_isotp_rx_state(const dd_isotp_t *self); /* state name, for logs */

/* STmin byte -> microseconds (ISO 15765-2:2016 9.6.5.4; reserved values count as 0x7F). */
uint32_t dd_isotp_stmin_us(uint8_t stmin);

/* 29-bit ids (priority 6): normal fixed addressing (10.3.3), PF 0xDA physical / 0xDB
 * functional; mixed addressing (10.3.5), PF 0xCE physical / 0xCD functional. */
uint32_t dd_isotp_normal_fixed_id(bool functional, uint8_t n_ta, uint8_t n_sa);
uint32_t dd_isotp_mixed29_id(bool functional, uint8_t n_ta, uint8_t n_sa);

#endif
