/* dd_transport: RFC 6298 smoothing of probe round trips and the hysteresis rule for the
 * direct/relay choice (mission S43-S45). */
#include "dd_transport.h"

#include <assert.h>
#include <string.h>

/* RFC 6298 2.3: alpha = 1/8, beta = 1/4. */
#define S_ALPHA_SHIFT 3
#define S_BETA_SHIFT 2

void dd_transport_cfg_default(dd_transport_cfg_t *cfg) {
  *cfg = (dd_transport_cfg_t){.probe_interval_us = 100000,
                              .threshold_us = 150000,
                              .hysteresis_us = 30000,
                              .hold_us = 5000000,
                              .probe_timeout_us = 1000000,
                              .loss_switch = 3};
}

void dd_transport_init(dd_transport_t *self, const dd_transport_cfg_t *cfg, uint64_t now_us) {
  assert(self && cfg && cfg->probe_interval_us > 0);
  memset(self, 0, sizeof *self);
  self->cfg = *cfg;
  self->path = DD_PATH_DIRECT;
  self->next_probe_us = now_us;
  self->next_id = 1;
}

static void s_switch(dd_transport_t *self, dd_path_t to, dd_transport_reason_t why, uint64_t now) {
  if (self->path == to) return;
  self->pending = (dd_transport_switch_t){.from = self->path, .to = to, .reason = why,
                                          .at_us = now, .srtt_us = self->srtt_us,
                                          .rttvar_us = self->rttvar_us,
                                          .last_rtt_us = self->last_rtt_us,
                                          .loss_pct = dd_transport_loss_pct(self)};
  self->has_pending = true;
  self->path = to;
  self->switches++;
  self->good_since_us = 0;
}

static void s_outcome(dd_transport_t *self, unsigned slot, bool lost) {
  self->lost[slot] = lost;
  if (self->window_n < DD_TRANSPORT_WINDOW) self->window_n++;
}

/* Probes unanswered for the timeout count as lost. */
static void s_expire(dd_transport_t *self, uint64_t now) {
  for (unsigned i = 0; i < DD_TRANSPORT_WINDOW; i++) {
    if (!self->outstanding[i] || now - self->sent_us[i] < self->cfg.probe_timeout_us) continue;
    self->outstanding[i] = false;
    s_outcome(self, i, true);
    self->losses++;
    self->consecutive_lost++;
    self->good_since_us = 0; /* a lost probe is no sign of a good path */
  }
  if (self->path == DD_PATH_DIRECT && self->cfg.loss_switch &&
      self->consecutive_lost >= self->cfg.loss_switch)
    s_switch(self, DD_PATH_RELAY, DD_TR_PROBES_LOST, now);
}

static void s_check_hold(dd_transport_t *self, uint64_t now) {
  if (self->path == DD_PATH_RELAY && self->good_since_us &&
      now - self->good_since_us >= self->cfg.hold_us)
    s_switch(self, DD_PATH_DIRECT, DD_TR_LATENCY_OK, now);
}

bool dd_transport_poll(dd_transport_t *self, uint64_t now_us, uint32_t *probe_id) {
  assert(self && probe_id);
  s_expire(self, now_us);
  s_check_hold(self, now_us);
  if (now_us < self->next_probe_us) return false;
  uint32_t id = self->next_id++;
  unsigned slot = id % DD_TRANSPORT_WINDOW;
  if (self->outstanding[slot]) { /* the slot's old probe never came back */
    s_outcome(self, slot, true);
    self->losses++;
    self->consecutive_lost++;
  }
  self->sent_us[slot] = now_us;
  self->outstanding[slot] = true;
  self->slot_id[slot] = id;
  self->probes++;
  self->next_probe_us += self->cfg.probe_interval_us;
  if (self->next_probe_us <= now_us) self->next_probe_us = now_us + self->cfg.probe_interval_us;
  *probe_id = id;
  return true;
}

void dd_transport_on_echo(dd_transport_t *self, uint32_t probe_id, uint64_t now_us) {
  unsigned slot = probe_id % DD_TRANSPORT_WINDOW;
  if (!self->outstanding[slot] || self->slot_id[slot] != probe_id || now_us < self->sent_us[slot])
    return;
  uint64_t r = now_us - self->sent_us[slot];
  self->outstanding[slot] = false;
  s_outcome(self, slot, false);
  self->consecutive_lost = 0;
  self->samples++;
  self->last_rtt_us = r;
  if (!self->have_rtt) { /* RFC 6298 2.2: first measurement */
    self->srtt_us = r;
    self->rttvar_us = r / 2;
    self->have_rtt = true;
  } else { /* RFC 6298 2.3: RTTVAR first, with the old SRTT */
    uint64_t diff = self->srtt_us > r ? self->srtt_us - r : r - self->srtt_us;
    self->rttvar_us = self->rttvar_us - (self->rttvar_us >> S_BETA_SHIFT) + (diff >> S_BETA_SHIFT);
    self->srtt_us = self->srtt_us - (self->srtt_us >> S_ALPHA_SHIFT) + (r >> S_ALPHA_SHIFT);
  }
  if (self->path == DD_PATH_DIRECT) {
    if (self->srtt_us > self->cfg.threshold_us)
      s_switch(self, DD_PATH_RELAY, DD_TR_LATENCY_HIGH, now_us);
    return;
  }
  uint64_t margin = self->cfg.no_hysteresis ? 0 : self->cfg.hysteresis_us;
  uint64_t low = self->cfg.threshold_us > margin ? self->cfg.threshold_us - margin : 0;
  if (self->srtt_us >= low) {
    self->good_since_us = 0;
    return;
  }
  if (self->cfg.no_hysteresis) { /* the planted defect: no margin and no hold */
    s_switch(self, DD_PATH_DIRECT, DD_TR_LATENCY_OK, now_us);
    return;
  }
  if (!self->good_since_us) self->good_since_us = now_us;
  s_check_hold(self, now_us);
}

uint64_t dd_transport_next_deadline(const dd_transport_t *self) {
  uint64_t next = self->next_probe_us;
  for (unsigned i = 0; i < DD_TRANSPORT_WINDOW; i++)
    if (self->outstanding[i] && self->sent_us[i] + self->cfg.probe_timeout_us < next)
      next = self->sent_us[i] + self->cfg.probe_timeout_us;
  if (self->path == DD_PATH_RELAY && self->good_since_us &&
      self->good_since_us + self->cfg.hold_us < next)
    next = self->good_since_us + self->cfg.hold_us;
  return next;
}

dd_path_t dd_transport_path(const dd_transport_t *self) { return self->path; }

bool dd_transport_take_switch(dd_transport_t *self, dd_transport_switch_t *sw) {
  if (!self->has_pending) return false;
  *sw = self->pending;
  self->has_pending = false;
  return true;
}

double dd_transport_loss_pct(const dd_transport_t *self) {
  if (!self->window_n) return 0;
  unsigned lost = 0;
  for (unsigned i = 0; i < DD_TRANSPORT_WINDOW; i++) lost += self->lost[i];
  return 100.0 * lost / self->window_n;
}

const char *dd_path_name(dd_path_t p) { return p == DD_PATH_RELAY ? "relay" : "direct"; }

const char *dd_transport_reason_name(dd_transport_reason_t r) {
  switch (r) {
  case DD_TR_LATENCY_HIGH: return "latency_high";
  case DD_TR_PROBES_LOST: return "probes_lost";
  case DD_TR_LATENCY_OK: return "latency_ok";
  }
  return "?";
}
