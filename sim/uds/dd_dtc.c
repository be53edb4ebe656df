/* dd_dtc: DTC memory with the ISO 14229-1:2013 annex D status bit transitions. */
#include "dd_dtc.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "dd_err.h"

#define S_CAPTURE_MAX 1024u /* largest snapshot record a capture callback may produce */

typedef struct {
  uint8_t number; /* record number */
  uint8_t *data;  /* record bytes (owned) */
  size_t len;     /* their length */
} s_rec_t;

typedef struct {
  dd_dtc_def_t def;                  /* definition, defaults applied */
  uint8_t status;                    /* current status byte (all 8 bits kept) */
  uint8_t fail_cycles;               /* cycles with a failure in the current pending streak */
  uint8_t occurrences;               /* testFailed 0 -> 1 transitions since clear */
  uint8_t aging;                     /* failure-free completed cycles while confirmed */
  uint8_t healing;                   /* failure-free completed cycles while WIR is set */
  s_rec_t snaps[DD_DTC_MAX_RECORDS]; /* stored snapshot records, ascending number */
  size_t n_snaps;                    /* entries of snaps */
  s_rec_t ext[DD_DTC_MAX_RECORDS];   /* stored extended data records, ascending number */
  size_t n_ext;                      /* entries of ext */
} s_entry_t;

struct dd_dtc {
  dd_dtc_cfg_t cfg;   /* configuration (defs points to entries, not the caller's array) */
  s_entry_t *entries; /* one per supported DTC, definition order */
  size_t n;           /* entries of entries */
  bool setting_on;    /* ControlDTCSetting on (status updates allowed) */
};

static const char *const s_bit_names[8] = {"testFailed",
                                           "testFailedThisOperationCycle",
                                           "pendingDTC",
                                           "confirmedDTC",
                                           "testNotCompletedSinceLastClear",
                                           "testFailedSinceLastClear",
                                           "testNotCompletedThisOperationCycle",
                                           "warningIndicatorRequested"};

const char *dd_dtc_status_bit_name(unsigned bit) { return bit < 8 ? s_bit_names[bit] : "?"; }

void dd_dtc_cfg_default(dd_dtc_cfg_t *cfg) {
  assert(cfg);
  memset(cfg, 0, sizeof *cfg);
  cfg->availability = 0xFF;
  cfg->snapshot_first = 0x01;
  cfg->snapshot_latest = 0x02;
  cfg->ext_occurrence = 0x01;
  cfg->ext_aging = 0x02;
}

static s_entry_t *s_find(const dd_dtc_t *self, uint32_t dtc) {
  for (size_t i = 0; i < self->n; i++)
    if (self->entries[i].def.dtc == dtc) return &self->entries[i];
  return NULL;
}

static void s_recs_free(s_rec_t *recs, size_t *n) {
  for (size_t i = 0; i < *n; i++)
    free(recs[i].data);
  *n = 0;
}

/* Insert or replace a record keeping ascending order. */
static int s_rec_put(s_rec_t *recs, size_t *n, uint8_t number, const uint8_t *data, size_t len) {
  uint8_t *copy = malloc(len ? len : 1);
  if (!copy) return DD_ENOMEM;
  if (len) memcpy(copy, data, len);
  size_t i = 0;
  while (i < *n && recs[i].number < number)
    i++;
  if (i < *n && recs[i].number == number) {
    free(recs[i].data);
    recs[i].data = copy;
    recs[i].len = len;
    return 0;
  }
  if (*n >= DD_DTC_MAX_RECORDS) {
    free(copy);
    return DD_ENOSPC;
  }
  memmove(&recs[i + 1], &recs[i], (*n - i) * sizeof recs[0]);
  recs[i] = (s_rec_t){.number = number, .data = copy, .len = len};
  (*n)++;
  return 0;
}

static const s_rec_t *s_rec_get(const s_rec_t *recs, size_t n, uint8_t number) {
  for (size_t i = 0; i < n; i++)
    if (recs[i].number == number) return &recs[i];
  return NULL;
}

dd_dtc_t *dd_dtc_new(const dd_dtc_cfg_t *cfg) {
  assert(cfg);
  if (cfg->n_defs && !cfg->defs) return NULL;
  dd_dtc_t *self = calloc(1, sizeof *self);
  if (!self) return NULL;
  self->cfg = *cfg;
  if (!self->cfg.availability) self->cfg.availability = 0xFF;
  self->setting_on = true;
  self->entries = calloc(cfg->n_defs ? cfg->n_defs : 1, sizeof *self->entries);
  if (!self->entries) goto out_free_self;
  for (size_t i = 0; i < cfg->n_defs; i++) {
    const dd_dtc_def_t *d = &cfg->defs[i];
    if (d->dtc > 0xFFFFFFu || s_find(self, d->dtc)) goto out_free_entries;
    s_entry_t *e = &self->entries[self->n++];
    e->def = *d;
    if (!e->def.confirm_cycles) e->def.confirm_cycles = 1;
    if (!e->def.aging_cycles) e->def.aging_cycles = 40;
    if (!e->def.heal_cycles) e->def.heal_cycles = 3;
    e->status = d->status;
    /* A DTC pending at power-up has one failed operation cycle behind it. */
    if (e->status & DD_DTC_ST_PDTC) e->fail_cycles = 1;
    if (e->status & (DD_DTC_ST_TFSLC | DD_DTC_ST_TF)) e->occurrences = 1;
  }
  self->cfg.defs = NULL; /* the caller's array is not kept */
  return self;

out_free_entries:
  free(self->entries);
out_free_self:
  free(self);
  return NULL;
}

void dd_dtc_destroy(dd_dtc_t **self_p) {
  assert(self_p);
  dd_dtc_t *self = *self_p;
  if (!self) return;
  for (size_t i = 0; i < self->n; i++) {
    s_recs_free(self->entries[i].snaps, &self->entries[i].n_snaps);
    s_recs_free(self->entries[i].ext, &self->entries[i].n_ext);
  }
  free(self->entries);
  free(self);
  *self_p = NULL;
}

static void s_capture(dd_dtc_t *self, s_entry_t *e) {
  if (!self->cfg.capture) return;
  uint8_t first = self->cfg.snapshot_first, latest = self->cfg.snapshot_latest;
  bool want_first = first && first != DD_DTC_RECORD_ALL && !s_rec_get(e->snaps, e->n_snaps, first);
  bool want_latest = latest && latest != DD_DTC_RECORD_ALL;
  if (!want_first && !want_latest) return;
  uint8_t buf[S_CAPTURE_MAX];
  size_t len = 0;
  if (self->cfg.capture(self->cfg.user, e->def.dtc, buf, sizeof buf, &len) != 0) return;
  if (len > sizeof buf) return;
  /* Allocation failures lose a record, never the status (records are best effort). */
  if (want_first) (void)s_rec_put(e->snaps, &e->n_snaps, first, buf, len);
  if (want_latest) (void)s_rec_put(e->snaps, &e->n_snaps, latest, buf, len);
}

int dd_dtc_report(dd_dtc_t *self, uint32_t dtc, bool failed) {
  assert(self);
  s_entry_t *e = s_find(self, dtc);
  if (!e) return DD_ENOENT;
  if (!self->setting_on) return 0; /* ISO 14229-1:2013 9.9: status bits frozen */
  /* Annex D: any completed test clears the two "not completed" bits. */
  e->status &= (uint8_t) ~(DD_DTC_ST_TNCTOC | DD_DTC_ST_TNCSLC);
  if (!failed) {
    e->status &= (uint8_t)~DD_DTC_ST_TF;
    return 0;
  }
  bool new_failure = !(e->status & DD_DTC_ST_TF);
  bool first_this_cycle = !(e->status & DD_DTC_ST_TFTOC);
  e->status |= DD_DTC_ST_TF | DD_DTC_ST_TFTOC | DD_DTC_ST_PDTC | DD_DTC_ST_TFSLC;
  e->aging = 0;
  e->healing = 0;
  if (first_this_cycle && e->fail_cycles < UINT8_MAX) e->fail_cycles++;
  if (e->fail_cycles >= e->def.confirm_cycles) {
    e->status |= DD_DTC_ST_CDTC;
    if (e->def.warning) e->status |= DD_DTC_ST_WIR;
  }
  if (new_failure) {
    if (e->occurrences < UINT8_MAX) e->occurrences++;
    s_capture(self, e);
  }
  return 0;
}

void dd_dtc_operation_cycle(dd_dtc_t *self) {
  assert(self);
  for (size_t i = 0; i < self->n; i++) {
    s_entry_t *e = &self->entries[i];
    bool completed = !(e->status & DD_DTC_ST_TNCTOC);
    bool failed = e->status & DD_DTC_ST_TFTOC;
    if (self->setting_on && completed && !failed) {
      /* A cycle that ran the test without a failure: the DTC is no longer pending. */
      e->status &= (uint8_t)~DD_DTC_ST_PDTC;
      e->fail_cycles = 0;
      if ((e->status & DD_DTC_ST_WIR) && ++e->healing >= e->def.heal_cycles) {
        e->status &= (uint8_t)~DD_DTC_ST_WIR;
        e->healing = 0;
      }
      if ((e->status & DD_DTC_ST_CDTC) && ++e->aging >= e->def.aging_cycles) {
        /* Aged out: the DTC leaves the memory (confirmed and "failed since clear" reset,
         * records dropped; the standard leaves bit 5 on aging to the manufacturer). */
        e->status &= (uint8_t) ~(DD_DTC_ST_CDTC | DD_DTC_ST_TFSLC | DD_DTC_ST_WIR);
        e->aging = 0;
        e->occurrences = 0;
        s_recs_free(e->snaps, &e->n_snaps);
        s_recs_free(e->ext, &e->n_ext);
      }
    }
    if (self->setting_on) {
      e->status &= (uint8_t)~DD_DTC_ST_TFTOC;
      e->status |= DD_DTC_ST_TNCTOC;
    }
  }
}

static void s_clear_entry(s_entry_t *e) {
  e->status = DD_DTC_ST_CLEARED;
  e->fail_cycles = 0;
  e->occurrences = 0;
  e->aging = 0;
  e->healing = 0;
  s_recs_free(e->snaps, &e->n_snaps);
  s_recs_free(e->ext, &e->n_ext);
}

int dd_dtc_clear(dd_dtc_t *self, uint32_t group) {
  assert(self);
  if (group == 0xFFFFFFu) {
    for (size_t i = 0; i < self->n; i++)
      s_clear_entry(&self->entries[i]);
    return 0;
  }
  s_entry_t *e = s_find(self, group);
  if (!e) return DD_ENOENT;
  s_clear_entry(e);
  return 0;
}

void dd_dtc_set_setting(dd_dtc_t *self, bool on) {
  assert(self);
  self->setting_on = on;
}

bool dd_dtc_setting(const dd_dtc_t *self) {
  assert(self);
  return self->setting_on;
}

size_t dd_dtc_count(const dd_dtc_t *self) {
  assert(self);
  return self->n;
}

uint8_t dd_dtc_availability(const dd_dtc_t *self) {
  assert(self);
  return self->cfg.availability;
}

int dd_dtc_at(const dd_dtc_t *self, size_t index, uint32_t *dtc, uint8_t *status) {
  assert(self);
  if (index >= self->n) return DD_ENOENT;
  if (dtc) *dtc = self->entries[index].def.dtc;
  if (status) *status = self->entries[index].status & self->cfg.availability;
  return 0;
}

int dd_dtc_status(const dd_dtc_t *self, uint32_t dtc, uint8_t *status) {
  assert(self);
  const s_entry_t *e = s_find(self, dtc);
  if (!e) return DD_ENOENT;
  if (status) *status = e->status & self->cfg.availability;
  return 0;
}

size_t dd_dtc_count_by_mask(const dd_dtc_t *self, uint8_t mask) {
  assert(self);
  size_t n = 0;
  for (size_t i = 0; i < self->n; i++)
    if (self->entries[i].status & mask & self->cfg.availability) n++;
  return n;
}

uint8_t dd_dtc_occurrences(const dd_dtc_t *self, uint32_t dtc) {
  assert(self);
  const s_entry_t *e = s_find(self, dtc);
  return e ? e->occurrences : 0;
}

uint8_t dd_dtc_aging(const dd_dtc_t *self, uint32_t dtc) {
  assert(self);
  const s_entry_t *e = s_find(self, dtc);
  return e ? e->aging : 0;
}

int dd_dtc_set_snapshot(dd_dtc_t *self, uint32_t dtc, uint8_t record, const uint8_t *data,
                        size_t len) {
  assert(self);
  assert(data || !len);
  s_entry_t *e = s_find(self, dtc);
  if (!e) return DD_ENOENT;
  if (record == 0x00 || record == DD_DTC_RECORD_ALL) return DD_EINVAL;
  return s_rec_put(e->snaps, &e->n_snaps, record, data, len);
}

int dd_dtc_set_extended(dd_dtc_t *self, uint32_t dtc, uint8_t record, const uint8_t *data,
                        size_t len) {
  assert(self);
  assert(data || !len);
  s_entry_t *e = s_find(self, dtc);
  if (!e) return DD_ENOENT;
  if (record == 0x00 || record == DD_DTC_RECORD_ALL) return DD_EINVAL;
  return s_rec_put(e->ext, &e->n_ext, record, data, len);
}

bool dd_dtc_snapshot_supported(const dd_dtc_t *self, uint8_t record) {
  assert(self);
  if (record == 0x00 || record == DD_DTC_RECORD_ALL) return false;
  if (record == self->cfg.snapshot_first || record == self->cfg.snapshot_latest) return true;
  for (size_t i = 0; i < self->n; i++)
    if (s_rec_get(self->entries[i].snaps, self->entries[i].n_snaps, record)) return true;
  return false;
}

bool dd_dtc_extended_supported(const dd_dtc_t *self, uint8_t record) {
  assert(self);
  if (record == 0x00 || record == DD_DTC_RECORD_ALL) return false;
  if (record == self->cfg.ext_occurrence || record == self->cfg.ext_aging) return true;
  for (size_t i = 0; i < self->n; i++)
    if (s_rec_get(self->entries[i].ext, self->entries[i].n_ext, record)) return true;
  return false;
}

int dd_dtc_snapshot_at(const dd_dtc_t *self, uint32_t dtc, size_t i, uint8_t *record,
                       const uint8_t **data, size_t *len) {
  assert(self);
  const s_entry_t *e = s_find(self, dtc);
  if (!e || i >= e->n_snaps) return DD_ENOENT;
  if (record) *record = e->snaps[i].number;
  if (data) *data = e->snaps[i].data;
  if (len) *len = e->snaps[i].len;
  return 0;
}

int dd_dtc_extended_at(const dd_dtc_t *self, uint32_t dtc, size_t i, uint8_t *record, uint8_t *out,
                       size_t cap, size_t *len) {
  assert(self);
  const s_entry_t *e = s_find(self, dtc);
  if (!e) return DD_ENOENT;
  /* Merge the stored records with the built-in counters (stored ones win on equal numbers),
   * walking the record numbers in ascending order. */
  bool builtins = e->occurrences > 0 || (e->status & DD_DTC_ST_TFSLC);
  size_t k = 0;
  for (unsigned num = 1; num < DD_DTC_RECORD_ALL; num++) {
    const s_rec_t *r = s_rec_get(e->ext, e->n_ext, (uint8_t)num);
    uint8_t value = 0;
    bool builtin = false;
    if (!r && builtins && num == self->cfg.ext_occurrence) {
      builtin = true;
      value = e->occurrences;
    } else if (!r && builtins && num == self->cfg.ext_aging) {
      builtin = true;
      value = e->aging;
    }
    if (!r && !builtin) continue;
    if (k++ != i) continue;
    size_t n = r ? r->len : 1;
    if (n > cap) return DD_ENOSPC;
    if (r && n) memcpy(out, r->data, n);
    if (!r) out[0] = value;
    if (record) *record = (uint8_t)num;
    if (len) *len = n;
    return 0;
  }
  return DD_ENOENT;
}
