/* dd_fd_reflash: the first device's local reflash of one ECU from a verified package (mission
 * S402), as a sans-I/O state machine: it says which UDS request to send (or how long to wait),
 * is fed each request's final result, and walks the sequence of ISO 14229-1:2013 annex F:
 * programming session, security access, erase, RequestDownload/TransferData/RequestTransferExit
 * per region, checkProgrammingDependencies, ECUReset and a read of the new software version
 * (F189, checked against the package's, then F195 for the report).
 * 0x78 chains and TesterPresent are the UDS client's job (below this machine). */
#ifndef DD_FD_REFLASH_H
#define DD_FD_REFLASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dd_package.h"

typedef struct {
  uint8_t security_level;  /* requestSeed level (odd); 0: skip security access */
  uint32_t secret;         /* constant of the ECU's seed-to-key (dd_uds_toy_key) */
  uint32_t max_block_cap;  /* cap on maxNumberOfBlockLength (4095 on classic ISO-TP); 0: none */
  bool send_crc;           /* FF01 carries the package's CRC-32 of all its data (dd_flash_check) */
  bool check_version;      /* the F189 read after the reset must equal the package's version */
  uint64_t reset_wait_us;  /* wait after ECUReset before reading F189 */
  unsigned version_tries;  /* F189 reads tried after the reset */
  bool wrong_bsc_wrap;     /* planted defect: the block counter wraps FF -> 01, not FF -> 00 */
} dd_fd_reflash_cfg_t;

/* Progress phases (the values match ProgramStatus.Phase of the wire schema). */
typedef enum {
  DD_FR_PREPARING = 3,    /* session, security access */
  DD_FR_ERASING = 4,      /* erase routine */
  DD_FR_TRANSFERRING = 5, /* RequestDownload / TransferData / RequestTransferExit */
  DD_FR_ACTIVATING = 6,   /* check routine, reset, version read */
  DD_FR_DONE = 7,         /* finished successfully */
  DD_FR_FAILED = 8,       /* stopped with an error */
} dd_fd_reflash_phase_t;

typedef enum {
  DD_FR_SEND,   /* send req[len] to the ECU (physical), then feed its final result */
  DD_FR_WAIT,   /* nothing to send before until_us (call next again then) */
  DD_FR_BUSY,   /* a request is outstanding: wait for its result */
  DD_FR_END,    /* finished: see phase (DONE or FAILED) */
} dd_fd_reflash_todo_t;

typedef struct {
  dd_fd_reflash_todo_t todo; /* what to do */
  const uint8_t *req;        /* DD_FR_SEND: the request (valid until the next call) */
  size_t len;                /* its length */
  uint64_t until_us;         /* DD_FR_WAIT: when to call again */
} dd_fd_reflash_step_t;

typedef struct dd_fd_reflash dd_fd_reflash_t;

void dd_fd_reflash_cfg_default(dd_fd_reflash_cfg_t *cfg);
/* pkg is borrowed and must outlive the machine (already verified by the caller). */
int dd_fd_reflash_new(const dd_fd_reflash_cfg_t *cfg, const dd_package_t *pkg,
                      dd_fd_reflash_t **out);
void dd_fd_reflash_destroy(dd_fd_reflash_t **self_p);

/* What to do now. */
void dd_fd_reflash_next(dd_fd_reflash_t *self, uint64_t now, dd_fd_reflash_step_t *step);
/* The final result of the request last handed out: status 0 (positive, resp[len]),
 * DD_EUDS_NRC with nrc, or another negative code (timeouts, transport errors). */
void dd_fd_reflash_on_result(dd_fd_reflash_t *self, int status, uint8_t nrc,
                             const uint8_t *resp, size_t len, uint64_t now);

dd_fd_reflash_phase_t dd_fd_reflash_phase(const dd_fd_reflash_t *self);
unsigned dd_fd_reflash_percent(const dd_fd_reflash_t *self);
/* After FAILED: the error code, the last NRC (0 if none) and a human-readable reason (for an
 * NRC: the step, the NRC's name from ISO 14229-1:2013 annex A and its value). */
int dd_fd_reflash_error(const dd_fd_reflash_t *self);
uint8_t dd_fd_reflash_nrc(const dd_fd_reflash_t *self);
const char *dd_fd_reflash_why(const dd_fd_reflash_t *self);
/* After DONE (or a FAILED version check): the software version the ECU reports in F189. */
const char *dd_fd_reflash_version(const dd_fd_reflash_t *self);
/* After DONE: the ECU's F195 (systemSupplierECUSoftwareVersionNumber), "" when it has none. */
const char *dd_fd_reflash_supplier_version(const dd_fd_reflash_t *self);
/* TransferData requests the ECU acknowledged. */
uint64_t dd_fd_reflash_blocks(const dd_fd_reflash_t *self);
/* Image bytes the ECU acknowledged in TransferData. */
uint64_t dd_fd_reflash_bytes(const dd_fd_reflash_t *self);
/* Time from the first RequestDownload handed out to the positive answer of the last
 * RequestTransferExit (so far, while it runs; 0 before the first RequestDownload). */
uint64_t dd_fd_reflash_transfer_us(const dd_fd_reflash_t *self, uint64_t now);
/* The step the machine stopped at or is in, for reports ("erase", "transfer data", ...). */
const char *dd_fd_reflash_step_name(const dd_fd_reflash_t *self);
const char *dd_fd_reflash_phase_name(dd_fd_reflash_phase_t p);

#endif
