/* dd_second_diag: the second diagnostic device's sans-I/O analysis: a per-session tracker of the
 * record sequence it receives (gaps, duplicates, out-of-order arrivals) and the remote diagnosis
 * drawn from DTCs and live data (SAE J2012 codes, SAE J1979 service $01/$03/$07/$0A responses,
 * ISO 14229-1 ReadDTCInformation 0x59 responses, and decoded values by name). */
#ifndef DD_SECOND_DIAG_H
#define DD_SECOND_DIAG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DD_SECOND_MAX_DTCS 64
#define DD_SECOND_TRACK_MAX (1u << 20) /* highest seq tracked */

/* ---- sequence tracker ---- */

typedef enum {
  DD_SECOND_SEQ_IN_ORDER = 0,   /* the next one expected */
  DD_SECOND_SEQ_GAP = 1,        /* new, beyond a gap (records before it are missing so far) */
  DD_SECOND_SEQ_OUT_OF_ORDER = 2, /* new, but below one seen before */
  DD_SECOND_SEQ_DUPLICATE = 3,  /* seen before */
  DD_SECOND_SEQ_INVALID = 4,    /* 0 or beyond DD_SECOND_TRACK_MAX */
} dd_second_seq_t;

typedef struct {
  uint8_t *seen;          /* bit per seq */
  size_t cap;             /* bytes of seen */
  uint64_t max_seq;       /* highest seq seen */
  uint64_t records;       /* distinct records */
  uint64_t duplicated;    /* copies seen again */
  uint64_t out_of_order;  /* arrivals below the highest */
  uint64_t invalid;       /* refused seqs */
} dd_second_track_t;

void dd_second_track_init(dd_second_track_t *t);
void dd_second_track_free(dd_second_track_t *t);
dd_second_seq_t dd_second_track_on(dd_second_track_t *t, uint64_t seq);
/* Records below the highest seq that never arrived. */
uint64_t dd_second_track_lost(const dd_second_track_t *t);
const char *dd_second_seq_name(dd_second_seq_t v);

/* ---- diagnosis ---- */

typedef struct {
  uint16_t dtcs[DD_SECOND_MAX_DTCS]; /* distinct 2-byte DTCs seen */
  size_t n_dtcs;                     /* entries of dtcs */
  double stft, ltft;                 /* fuel trims bank 1, % */
  bool have_stft, have_ltft;         /* trims known */
  double coolant_c;                  /* coolant temperature */
  bool have_coolant;                 /* known */
  double module_v;                   /* control module voltage */
  bool have_v;                       /* known */
  uint64_t changes;                  /* input that changed the picture */
} dd_second_diag_t;

void dd_second_diag_init(dd_second_diag_t *d);
void dd_second_diag_add_dtc(dd_second_diag_t *d, uint16_t code);
/* A decoded value of a record: a DTC when the name is one ("P0301", "P0301-1F"), else a live
 * value recognised by its name (fuel trims, coolant, voltage). */
void dd_second_diag_add_value(dd_second_diag_t *d, const char *name, double value);
/* Raw response bytes of a record: OBD $41 (PIDs 05, 06, 07, 42), $43/$47/$4A (DTCs), UDS $59 02
 * (DTC records). Anything else is ignored. */
void dd_second_diag_add_payload(dd_second_diag_t *d, const uint8_t *p, size_t len);
/* The diagnosis: DTCs as "P0301,P0171" and findings as "P0301: ...; lean ..." (both
 * NUL-terminated, cut to fit). Returns the number of findings. */
size_t dd_second_diag_report(const dd_second_diag_t *d, char *dtcs, size_t dcap, char *findings,
                             size_t fcap);

#endif
