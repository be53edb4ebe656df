/* dd_transport: the first device's path choice for vehicle data (mission S43-S45), sans-I/O.
 * It schedules latency probes on the direct UDP path, keeps a smoothed round-trip time and its
 * variation as RFC 6298 does for TCP's retransmission timer, counts lost probes, and picks the
 * path: through the relay while the latency is above the threshold (or probes stop coming
 * back), and back to direct UDP only after the latency has stayed below the threshold minus a
 * hysteresis margin for a hold time. */
#ifndef DD_TRANSPORT_H
#define DD_TRANSPORT_H

#include <stdbool.h>
#include <stdint.h>

typedef enum { DD_PATH_DIRECT = 0, DD_PATH_RELAY = 1 } dd_path_t;

typedef struct {
  uint64_t probe_interval_us; /* one probe per interval on the direct path (e.g. 100 ms) */
  uint64_t threshold_us;      /* S44: latency (smoothed RTT) above this -> relay */
  uint64_t hysteresis_us;     /* back to direct only below threshold - hysteresis ... */
  uint64_t hold_us;           /* ... continuously for this long */
  uint64_t probe_timeout_us;  /* a probe unanswered this long counts as lost */
  unsigned loss_switch;       /* this many consecutive lost probes -> relay */
  bool no_hysteresis;         /* planted defect: return at once when below the threshold */
} dd_transport_cfg_t;

/* Why the path changed. */
typedef enum {
  DD_TR_LATENCY_HIGH,   /* smoothed RTT rose above the threshold */
  DD_TR_PROBES_LOST,    /* consecutive probes unanswered */
  DD_TR_LATENCY_OK,     /* smoothed RTT stayed low for the hold time */
} dd_transport_reason_t;

typedef struct {
  dd_path_t from, to;            /* the change */
  dd_transport_reason_t reason;  /* its cause */
  uint64_t at_us;                /* when it was decided */
  uint64_t srtt_us, rttvar_us;   /* RFC 6298 estimates at that moment */
  uint64_t last_rtt_us;          /* latest sample */
  double loss_pct;               /* probe loss over the recent window */
} dd_transport_switch_t;

#define DD_TRANSPORT_WINDOW 64 /* probes remembered for the loss figure */

typedef struct {
  dd_transport_cfg_t cfg;               /* configuration */
  dd_path_t path;                       /* current choice */
  uint64_t next_probe_us;               /* when to send the next probe */
  uint32_t next_id;                     /* next probe id */
  uint64_t sent_us[DD_TRANSPORT_WINDOW]; /* send time by id % window */
  bool outstanding[DD_TRANSPORT_WINDOW]; /* the slot's probe awaits its echo */
  uint32_t slot_id[DD_TRANSPORT_WINDOW]; /* probe id occupying each slot */
  bool lost[DD_TRANSPORT_WINDOW];       /* outcome by id % window */
  unsigned consecutive_lost;            /* lost in a row */
  unsigned window_n;                    /* outcomes known (<= window) */
  bool have_rtt;                        /* SRTT initialised */
  uint64_t srtt_us, rttvar_us;          /* RFC 6298 2.2/2.3 */
  uint64_t last_rtt_us;                 /* latest sample */
  uint64_t good_since_us;               /* relay: below the low mark since, 0 = not */
  dd_transport_switch_t pending;        /* switch not yet taken by the caller */
  bool has_pending;                     /* pending is valid */
  uint64_t samples, probes, losses;     /* counters: echoes, probes sent, probes lost */
  uint64_t switches;                    /* path changes decided */
} dd_transport_t;

void dd_transport_cfg_default(dd_transport_cfg_t *cfg);
void dd_transport_init(dd_transport_t *self, const dd_transport_cfg_t *cfg, uint64_t now_us);

/* Returns true with a probe (id, send time) to send on the direct path now. */
bool dd_transport_poll(dd_transport_t *self, uint64_t now_us, uint32_t *probe_id);
/* An echo of probe id came back. Late echoes of probes already counted lost are ignored. */
void dd_transport_on_echo(dd_transport_t *self, uint32_t probe_id, uint64_t now_us);
/* Absolute time poll must run again. */
uint64_t dd_transport_next_deadline(const dd_transport_t *self);

dd_path_t dd_transport_path(const dd_transport_t *self);
/* Take the latest path change (true once per change). */
bool dd_transport_take_switch(dd_transport_t *self, dd_transport_switch_t *sw);
double dd_transport_loss_pct(const dd_transport_t *self);

const char *dd_path_name(dd_path_t p);
const char *dd_transport_reason_name(dd_transport_reason_t r);

#endif
