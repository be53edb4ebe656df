/* dd_canport_mock: a CAN port backend for unit tests: the test injects received frames, inspects
 * sent ones, sets the time, and drops, corrupts, delays or fails the Nth frame. */
#ifndef DD_CANPORT_MOCK_H
#define DD_CANPORT_MOCK_H

#include <stddef.h>
#include <stdint.h>

#include "dd_canport.h"

typedef struct {
  dd_canport_opts_t opts; /* fd: accept FD frames; loopback: echo sent frames; err_frames */
  size_t rx_limit;        /* received frames held at most, 0 = no limit (then DD_ENOSPC) */
  size_t tx_limit;        /* sent frames held for inspection at most, 0 = no limit */
} dd_canport_mock_cfg_t;

typedef enum {
  DD_CANPORT_MOCK_DROP,    /* the frame is lost; send still returns 0 */
  DD_CANPORT_MOCK_CORRUPT, /* one bit of the frame is flipped */
  DD_CANPORT_MOCK_DELAY,   /* the frame, and every later one behind it, shows delay_us later */
  DD_CANPORT_MOCK_FAIL,    /* (TX only) send returns error and the frame goes nowhere */
} dd_canport_mock_fault_kind_t;

typedef enum {
  DD_CANPORT_MOCK_TX, /* frames the code under test sends */
  DD_CANPORT_MOCK_RX, /* frames the test injects for the code under test to receive */
} dd_canport_mock_dir_t;

typedef struct {
  dd_canport_mock_dir_t dir;         /* which stream the fault hits */
  dd_canport_mock_fault_kind_t kind; /* what happens */
  uint32_t nth;      /* 1-based number of the frame in that stream (send or inject call) */
  uint32_t bit;      /* CORRUPT: payload bit, 0 = MSB of byte 0, modulo 8*len; frames without
                        payload get identifier bit (bit modulo 11 or 29) flipped instead */
  uint64_t delay_us; /* DELAY: extra time before the frame shows */
  int error;         /* FAIL: the code send returns (negative; 0 means DD_EIO) */
} dd_canport_mock_fault_t;

#define DD_CANPORT_MOCK_MAX_FAULTS 32

/* New mock port (kind "mock"); cfg may be NULL (classic CAN, no loopback, no limits). Its
 * time starts at 0. The poll fd is an eventfd, readable while a received frame is due. */
int dd_canport_mock_new(const dd_canport_mock_cfg_t *cfg, dd_canport_t **out);

/* The mock's clock, in us; setting it releases frames whose delay has passed. Time only moves
 * forward (an earlier value is ignored). Frames are stamped (ts_us) with the time at which they
 * show: sent frames on the bus, injected frames at the receiver. */
void dd_canport_mock_set_now(dd_canport_t *port, uint64_t now_us);
uint64_t dd_canport_mock_now(const dd_canport_t *port);
/* Earliest time a held (delayed) frame will show, UINT64_MAX when none is held. */
uint64_t dd_canport_mock_next_due(const dd_canport_t *port);

/* Queue a frame for the code under test to receive. DD_ECAN_FRAME for an invalid frame,
 * DD_ECAN_NOFD for an FD frame on a classic port, DD_ENOSPC beyond rx_limit. Error frames are
 * silently filtered out unless opts.err_frames. */
int dd_canport_mock_inject(dd_canport_t *port, const dd_can_frame_t *f);
/* The same from can-utils text ("7E8#0322F190"); DD_EILSEQ when it does not parse. */
int dd_canport_mock_inject_text(dd_canport_t *port, const char *text);
/* Injected frames not yet received (shown or still delayed). */
size_t dd_canport_mock_rx_pending(const dd_canport_t *port);

/* Frames sent and shown on the bus, not yet taken. */
size_t dd_canport_mock_sent_count(const dd_canport_t *port);
/* Take the oldest shown sent frame: 0 or DD_EAGAIN. */
int dd_canport_mock_take_sent(dd_canport_t *port, dd_can_frame_t *f);
/* Number of send / inject calls that got past validation (the N that faults count). */
uint32_t dd_canport_mock_tx_calls(const dd_canport_t *port);
uint32_t dd_canport_mock_rx_calls(const dd_canport_t *port);

/* Arm a fault: DD_EINVAL for nth 0, FAIL on RX or an unknown kind; DD_ENOSPC past
 * DD_CANPORT_MOCK_MAX_FAULTS. Each fault fires once. */
int dd_canport_mock_add_fault(dd_canport_t *port, const dd_canport_mock_fault_t *fault);
void dd_canport_mock_clear_faults(dd_canport_t *port);

#endif
