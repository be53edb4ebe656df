/* dd_dtc: an ECU's DTC memory: the 8 status bits of ISO 14229-1:2013 annex D driven by test
 * results and operation cycles, confirmation and aging counters, snapshot and extended data
 * records, as read and cleared by UDS 0x19/0x14 and frozen by 0x85. */
#ifndef DD_DTC_H
#define DD_DTC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* DTC status bits (ISO 14229-1:2013 annex D, DTCStatusMask). */
enum {
  DD_DTC_ST_TF = 0x01,     /* testFailed: the most recent test result failed */
  DD_DTC_ST_TFTOC = 0x02,  /* testFailedThisOperationCycle */
  DD_DTC_ST_PDTC = 0x04,   /* pendingDTC: failed in this or the last completed cycle */
  DD_DTC_ST_CDTC = 0x08,   /* confirmedDTC: failed often enough to be stored */
  DD_DTC_ST_TNCSLC = 0x10, /* testNotCompletedSinceLastClear */
  DD_DTC_ST_TFSLC = 0x20,  /* testFailedSinceLastClear */
  DD_DTC_ST_TNCTOC = 0x40, /* testNotCompletedThisOperationCycle */
  DD_DTC_ST_WIR = 0x80,    /* warningIndicatorRequested */
};

/* Status of a DTC that was never tested since a clear (annex D: bits 4 and 6 set). */
#define DD_DTC_ST_CLEARED (DD_DTC_ST_TNCSLC | DD_DTC_ST_TNCTOC)

/* Record number 0xFF asks for all records (ISO 14229-1:2013 11.3, DTCSnapshotRecordNumber and
 * DTCExtDataRecordNumber). */
#define DD_DTC_RECORD_ALL 0xFFu
#define DD_DTC_MAX_RECORDS 8u /* stored snapshot (and extended) records per DTC */

typedef struct {
  uint32_t dtc;           /* 3-byte DTC number in the low 24 bits */
  uint8_t status;         /* status at power-up (DD_DTC_ST_CLEARED for "never tested") */
  uint8_t confirm_cycles; /* operation cycles with a failure before confirmedDTC (0 -> 1) */
  uint8_t aging_cycles;   /* failure-free cycles before a confirmed DTC ages out (0 -> 40) */
  uint8_t heal_cycles;    /* failure-free cycles before warningIndicatorRequested clears (0 -> 3) */
  bool warning;           /* the DTC requests the warning indicator once confirmed */
} dd_dtc_def_t;

typedef struct {
  const dd_dtc_def_t *defs; /* the DTCs this ECU supports (copied by dd_dtc_new) */
  size_t n_defs;            /* entries of defs */
  uint8_t availability;     /* DTCStatusAvailabilityMask: status bits supported (0 -> 0xFF) */
  uint8_t snapshot_first;   /* snapshot record taken at the first failure since clear (0: none) */
  uint8_t snapshot_latest;  /* snapshot record overwritten at every new failure (0: none) */
  uint8_t ext_occurrence;   /* extended record holding the occurrence counter (0: none) */
  uint8_t ext_aging;        /* extended record holding the aging counter (0: none) */
  /* Optional: fills a snapshot record at a failure: numberOfIdentifiers, then (DID, data)...
   * (ISO 14229-1:2013 11.3, DTCSnapshotRecord). Returns 0, or anything else to store nothing. */
  int (*capture)(void *user, uint32_t dtc, uint8_t *rec, size_t cap, size_t *len);
  void *user; /* passed to capture */
} dd_dtc_cfg_t;

typedef struct dd_dtc dd_dtc_t;

/* Defaults: no DTCs, availability 0xFF, snapshot records 0x01 (first) and 0x02 (latest),
 * extended records 0x01 (occurrence counter) and 0x02 (aging counter), no capture. */
void dd_dtc_cfg_default(dd_dtc_cfg_t *cfg);

/* A DTC memory in its power-up state, or NULL (memory short, duplicate DTC, DTC above 24 bits). */
dd_dtc_t *dd_dtc_new(const dd_dtc_cfg_t *cfg);
void dd_dtc_destroy(dd_dtc_t **self_p);

/* A test result for a DTC (ISO 14229-1:2013 annex D): failed sets TF, TFTOC, PDTC, TFSLC and,
 * once confirm_cycles cycles failed, CDTC (and WIR); passed clears TF. Either clears TNCTOC and
 * TNCSLC. 0, or DD_ENOENT for an unknown DTC. Ignored (0) while DTC setting is off (0x85). */
int dd_dtc_report(dd_dtc_t *self, uint32_t dtc, bool failed);

/* Ends the current operation cycle and starts the next: for each DTC whose test completed
 * without a failure, PDTC clears and the aging (and healing) counters advance; then TFTOC
 * clears and TNCTOC sets (annex D). */
void dd_dtc_operation_cycle(dd_dtc_t *self);

/* ClearDiagnosticInformation (ISO 14229-1:2013 11.2): group 0xFFFFFF clears every DTC, any
 * other value the DTC with that number; status -> DD_DTC_ST_CLEARED, counters and records
 * erased. 0, or DD_ENOENT when the group is neither all nor a supported DTC. */
int dd_dtc_clear(dd_dtc_t *self, uint32_t group);

/* ControlDTCSetting (ISO 14229-1:2013 9.9): off freezes every status bit. */
void dd_dtc_set_setting(dd_dtc_t *self, bool on);
bool dd_dtc_setting(const dd_dtc_t *self);

size_t dd_dtc_count(const dd_dtc_t *self);         /* supported DTCs */
uint8_t dd_dtc_availability(const dd_dtc_t *self); /* DTCStatusAvailabilityMask */
/* The index-th DTC (definition order): 0, or DD_ENOENT past the end. */
int dd_dtc_at(const dd_dtc_t *self, size_t index, uint32_t *dtc, uint8_t *status);
/* Status of a DTC (masked with the availability mask): 0 or DD_ENOENT. */
int dd_dtc_status(const dd_dtc_t *self, uint32_t dtc, uint8_t *status);
/* DTCs whose status & mask & availability is non-zero (the count of 0x19 0x01). */
size_t dd_dtc_count_by_mask(const dd_dtc_t *self, uint8_t mask);
/* Occurrence counter (testFailed 0 -> 1 transitions) and aging counter of a DTC; 0 if unknown. */
uint8_t dd_dtc_occurrences(const dd_dtc_t *self, uint32_t dtc);
uint8_t dd_dtc_aging(const dd_dtc_t *self, uint32_t dtc);

/* Store a record (e.g. from a vehicle file); 0, DD_ENOENT (unknown DTC), DD_EINVAL (record
 * 0x00 or 0xFF), DD_ENOSPC (DD_DTC_MAX_RECORDS already), DD_ENOMEM. Replaces a stored one. */
int dd_dtc_set_snapshot(dd_dtc_t *self, uint32_t dtc, uint8_t record, const uint8_t *data,
                        size_t len);
int dd_dtc_set_extended(dd_dtc_t *self, uint32_t dtc, uint8_t record, const uint8_t *data,
                        size_t len);

/* Whether a record number is one this memory knows (configured or stored for some DTC). */
bool dd_dtc_snapshot_supported(const dd_dtc_t *self, uint8_t record);
bool dd_dtc_extended_supported(const dd_dtc_t *self, uint8_t record);

/* The i-th stored snapshot record of a DTC (ascending record number): 0, or DD_ENOENT. */
int dd_dtc_snapshot_at(const dd_dtc_t *self, uint32_t dtc, size_t i, uint8_t *record,
                       const uint8_t **data, size_t *len);
/* The i-th extended data record of a DTC (ascending record number, the built-in counters
 * included once the DTC has failed since the last clear): the bytes are copied to out.
 * 0, DD_ENOENT past the end, DD_ENOSPC when cap is short. */
int dd_dtc_extended_at(const dd_dtc_t *self, uint32_t dtc, size_t i, uint8_t *record, uint8_t *out,
                       size_t cap, size_t *len);

/* Name of status bit 0-7 ("testFailed", ...); "?" otherwise. */
const char *dd_dtc_status_bit_name(unsigned bit);

#endif
