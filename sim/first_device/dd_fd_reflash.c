/* dd_fd_reflash: the first device's local reflash sequence (ISO 14229-1:2013 annex F), sans-I/O. */
#include "dd_fd_reflash.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_err.h"
#include "dd_flash.h"
#include "dd_uds.h"
#include "dd_uds_client.h"
#include "dd_uds_server.h"

/* Steps of the sequence, in order. */
typedef enum {
  S_SESSION,  /* 10 02 programmingSession (9.2) */
  S_SEED,     /* 27 level requestSeed (9.4) */
  S_KEY,      /* 27 level+1 sendKey (9.4) */
  S_ERASE,    /* 31 01 FF00 eraseMemory, whole area (13.2, annex F) */
  S_DOWNLOAD, /* 34 RequestDownload of the next region (14.2) */
  S_TRANSFER, /* 36 TransferData (14.4) */
  S_EXIT,     /* 37 RequestTransferExit (14.5) */
  S_CHECK,    /* 31 01 FF01 checkProgrammingDependencies (annex F) */
  S_RESET,    /* 11 01 hardReset (9.3) */
  S_RESTART,  /* waiting for the ECU to come back */
  S_VERSION,  /* 22 F189 vehicleManufacturerECUSoftwareVersionNumber (C.1) */
  S_VERSION2, /* 22 F195 systemSupplierECUSoftwareVersionNumber (C.1), reported only */
  S_END,      /* done or failed */
} s_step_t;

struct dd_fd_reflash {
  dd_fd_reflash_cfg_t cfg;        /* configuration */
  const dd_package_t *pkg;        /* package (borrowed) */
  dd_package_dl_t dl;             /* download plan walker */
  dd_package_dl_chunk_t chunk;    /* TransferData being sent */
  s_step_t step;                  /* current step */
  s_step_t stopped_at;            /* S_END: the step that ended it (S_END when done) */
  bool outstanding;               /* the step's request is out, its result awaited */
  dd_fd_reflash_phase_t phase;    /* progress phase */
  uint64_t total_bytes, sent_bytes; /* image bytes, bytes acknowledged by the ECU */
  uint64_t blocks;                /* TransferData requests acknowledged */
  uint64_t xfer_start, xfer_end;  /* first RequestDownload out, last transfer exit answered */
  bool xfer_started, xfer_ended;  /* those times are set */
  uint64_t wait_until;            /* S_RESTART: end of the wait */
  unsigned version_tries;         /* F189 reads left */
  uint8_t seed[16];               /* seed of the last requestSeed */
  size_t seed_len;                /* its length */
  int error;                      /* FAILED: code */
  uint8_t nrc;                    /* FAILED: last NRC */
  char why[160];                  /* FAILED: reason */
  char version[64];               /* DONE: F189 */
  char version2[64];              /* DONE: F195 ("" when the ECU has none) */
  uint8_t req[4096];              /* request handed out */
};

void dd_fd_reflash_cfg_default(dd_fd_reflash_cfg_t *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->security_level = 0x01;
  cfg->max_block_cap = 4095;
  cfg->reset_wait_us = 200000;
  cfg->version_tries = 10;
}

int dd_fd_reflash_new(const dd_fd_reflash_cfg_t *cfg, const dd_package_t *pkg,
                      dd_fd_reflash_t **out) {
  assert(cfg && pkg && out);
  dd_fd_reflash_t *self = calloc(1, sizeof *self);
  if (!self) return DD_ENOMEM;
  self->cfg = *cfg;
  self->pkg = pkg;
  self->phase = DD_FR_PREPARING;
  self->step = S_SESSION;
  self->total_bytes = dd_package_info(pkg)->data_len;
  self->version_tries = cfg->version_tries ? cfg->version_tries : 1;
  dd_package_dl_init(&self->dl, pkg);
  *out = self;
  return 0;
}

void dd_fd_reflash_destroy(dd_fd_reflash_t **self_p) {
  assert(self_p);
  free(*self_p);
  *self_p = NULL;
}

static void s_fail(dd_fd_reflash_t *self, int error, uint8_t nrc, const char *what) {
  self->error = error ? error : DD_EPROTO;
  self->nrc = nrc;
  if (nrc)
    snprintf(self->why, sizeof self->why, "%s: %s (NRC 0x%02X)", what, dd_uds_nrc_name(nrc),
             nrc);
  else
    snprintf(self->why, sizeof self->why, "%s: %s", what, dd_strerror(self->error));
  self->phase = DD_FR_FAILED;
  self->stopped_at = self->step;
  self->step = S_END;
}

/* Build the request of the current step into self->req; returns its length or 0 when the
 * step needs none (the walker moved on). */
static size_t s_build(dd_fd_reflash_t *self) {
  int n = 0;
  switch (self->step) {
  case S_SESSION:
    n = dd_uds_build_session(self->req, sizeof self->req, DD_UDS_SESSION_PROGRAMMING, false);
    break;
  case S_SEED:
    n = dd_uds_build_seed_request(self->req, sizeof self->req, self->cfg.security_level);
    break;
  case S_KEY: {
    uint8_t key[16];
    dd_uds_toy_key(self->cfg.secret, self->seed, self->seed_len, key, self->seed_len);
    n = dd_uds_build_send_key(self->req, sizeof self->req, self->cfg.security_level, key,
                              self->seed_len);
    break;
  }
  case S_ERASE: /* no record: the whole application area (the ECU knows its geometry) */
    self->phase = DD_FR_ERASING;
    n = dd_uds_build_routine(self->req, sizeof self->req, 0x01, DD_UDS_RID_ERASE_MEMORY, NULL, 0,
                             false);
    break;
  case S_DOWNLOAD: {
    dd_package_dl_request_t r;
    if (!dd_package_dl_next_request(&self->dl, &r)) return 0;
    n = dd_uds_build_request_download(self->req, sizeof self->req, r.addr, r.len);
    break;
  }
  case S_TRANSFER: {
    if (!dd_package_dl_next_chunk(&self->dl, &self->chunk)) return 0;
    uint8_t bsc = self->chunk.bsc;
    /* planted defect: after 0xFF the counter goes to 0x01 (ISO 14229-1:2013 14.4 says 0x00) */
    if (self->cfg.wrong_bsc_wrap) bsc = (uint8_t)(self->chunk.seq % 255u + 1u);
    n = dd_uds_build_transfer_data(self->req, sizeof self->req, bsc, self->chunk.data,
                                   self->chunk.len);
    break;
  }
  case S_EXIT:
    n = dd_uds_build_transfer_exit(self->req, sizeof self->req, NULL, 0);
    break;
  case S_CHECK:
    if (self->cfg.send_crc) {
      /* routineControlOptionRecord: the CRC-32 of the downloaded data, the regions in package
       * (address) order, as the ECU's bootloader computes it (dd_flash_check) */
      uint32_t crc = dd_package_info(self->pkg)->total_crc;
      uint8_t rec[4] = {(uint8_t)(crc >> 24), (uint8_t)(crc >> 16), (uint8_t)(crc >> 8),
                        (uint8_t)crc};
      n = dd_uds_build_routine(self->req, sizeof self->req, 0x01, DD_UDS_RID_CHECK_PROG_DEPS,
                               rec, 4, false);
    } else {
      n = dd_uds_build_routine(self->req, sizeof self->req, 0x01, DD_UDS_RID_CHECK_PROG_DEPS,
                               NULL, 0, false);
    }
    break;
  case S_RESET:
    n = dd_uds_build_ecu_reset(self->req, sizeof self->req, 0x01, false);
    break;
  case S_VERSION:
  case S_VERSION2: {
    const uint16_t did = self->step == S_VERSION ? 0xF189 : 0xF195;
    n = dd_uds_build_read_dids(self->req, sizeof self->req, &did, 1);
    break;
  }
  default:
    return 0;
  }
  if (n <= 0) {
    s_fail(self, n < 0 ? n : DD_EINVAL, 0, "building a request");
    return 0;
  }
  return (size_t)n;
}

void dd_fd_reflash_next(dd_fd_reflash_t *self, uint64_t now, dd_fd_reflash_step_t *step) {
  memset(step, 0, sizeof *step);
  for (;;) {
    if (self->step == S_END) {
      step->todo = DD_FR_END;
      return;
    }
    if (self->outstanding) {
      step->todo = DD_FR_BUSY;
      return;
    }
    if (self->step == S_RESTART) {
      if (now < self->wait_until) {
        step->todo = DD_FR_WAIT;
        step->until_us = self->wait_until;
        return;
      }
      self->step = S_VERSION;
    }
    if (self->step == S_SEED && !self->cfg.security_level) self->step = S_ERASE;
    size_t len = s_build(self);
    if (self->step == S_END) continue;
    if (len == 0) {
      /* the walker is past the end: of all regions (to the check) or of one region (exit) */
      self->step = self->step == S_DOWNLOAD ? S_CHECK : S_EXIT;
      if (self->step == S_CHECK) self->phase = DD_FR_ACTIVATING;
      continue;
    }
    if (self->step == S_DOWNLOAD && !self->xfer_started) {
      self->xfer_started = true;
      self->xfer_start = now;
    }
    self->outstanding = true;
    step->todo = DD_FR_SEND;
    step->req = self->req;
    step->len = len;
    return;
  }
}

void dd_fd_reflash_on_result(dd_fd_reflash_t *self, int status, uint8_t nrc,
                             const uint8_t *resp, size_t len, uint64_t now) {
  if (!self->outstanding || self->step == S_END) return;
  self->outstanding = false;
  static const char *what[] = {
      [S_SESSION] = "programming session", [S_SEED] = "security access (seed)",
      [S_KEY] = "security access (key)",  [S_ERASE] = "erase",
      [S_DOWNLOAD] = "request download",  [S_TRANSFER] = "transfer data",
      [S_EXIT] = "transfer exit",         [S_CHECK] = "check programming dependencies",
      [S_RESET] = "ECU reset",            [S_VERSION] = "software version read",
      [S_VERSION2] = "supplier software version read"};
  if (status != 0 && self->step == S_VERSION2) {
    /* F195 is optional (ISO 14229-1:2013 C.1): without it the reflash is still verified */
    self->version2[0] = '\0';
    self->phase = DD_FR_DONE;
    self->stopped_at = S_END;
    self->step = S_END;
    return;
  }
  if (status != 0 && self->step == S_VERSION && --self->version_tries > 0) {
    /* the ECU may still be starting (ISO 14229-1:2013 9.3: it may not answer during reset) */
    self->step = S_RESTART;
    self->wait_until = now + self->cfg.reset_wait_us;
    return;
  }
  if (status != 0) {
    s_fail(self, status, status == DD_EUDS_NRC ? nrc : 0, what[self->step]);
    return;
  }
  uint8_t n2 = 0;
  switch (self->step) {
  case S_SESSION:
    self->step = S_SEED;
    break;
  case S_SEED: {
    const uint8_t *seed;
    size_t sl = 0;
    bool unlocked = false;
    if (dd_uds_parse_seed(resp, len, self->cfg.security_level, &seed, &sl, &unlocked, &n2) != 0 ||
        sl == 0 || sl > sizeof self->seed) {
      s_fail(self, DD_EUDS_RESPONSE, 0, what[S_SEED]);
      return;
    }
    memcpy(self->seed, seed, sl);
    self->seed_len = sl;
    self->step = unlocked ? S_ERASE : S_KEY;
    break;
  }
  case S_KEY:
    self->step = S_ERASE;
    break;
  case S_ERASE:
    self->phase = DD_FR_TRANSFERRING;
    self->step = S_DOWNLOAD;
    break;
  case S_DOWNLOAD: {
    uint32_t mbl = 0;
    if (dd_uds_parse_request_download(resp, len, &mbl, &n2) != 0) {
      s_fail(self, DD_EUDS_RESPONSE, 0, what[S_DOWNLOAD]);
      return;
    }
    if (self->cfg.max_block_cap && mbl > self->cfg.max_block_cap) mbl = self->cfg.max_block_cap;
    int rc = dd_package_dl_start(&self->dl, mbl);
    if (rc < 0) {
      s_fail(self, rc, 0, "maxNumberOfBlockLength");
      return;
    }
    self->step = S_TRANSFER;
    break;
  }
  case S_TRANSFER:
    self->blocks++;
    self->sent_bytes += self->chunk.len;
    if (self->chunk.last) self->step = S_EXIT;
    break;
  case S_EXIT:
    self->xfer_end = now;
    self->xfer_ended = dd_package_dl_done(&self->dl);
    self->step = S_DOWNLOAD;
    break;
  case S_CHECK: {
    /* 71 01 FF 01 status: 00 is correct (dd_flash_check_t) */
    if (len < 5 || resp[4] != DD_FLASH_CHECK_OK) {
      s_fail(self, DD_ECRC, 0, what[S_CHECK]);
      snprintf(self->why, sizeof self->why, "check programming dependencies: status 0x%02X",
               len >= 5 ? resp[4] : 0xFF);
      return;
    }
    self->step = S_RESET;
    break;
  }
  case S_RESET:
    self->step = S_RESTART;
    self->wait_until = now + self->cfg.reset_wait_us;
    break;
  case S_VERSION: {
    const uint8_t *d;
    size_t dl = 0;
    if (dd_uds_parse_read_did(resp, len, 0xF189, &d, &dl, &n2) != 0) {
      s_fail(self, DD_EUDS_RESPONSE, 0, what[S_VERSION]);
      return;
    }
    size_t k = 0;
    for (; k < dl && k + 1 < sizeof self->version && d[k] >= 0x20 && d[k] < 0x7F; k++)
      self->version[k] = (char)d[k];
    self->version[k] = '\0';
    const char *want = dd_package_info(self->pkg)->sw_version;
    if (self->cfg.check_version && strcmp(self->version, want) != 0) {
      /* the ECU runs something else than the package installs: not a successful reflash */
      s_fail(self, DD_EVERSION, 0, what[S_VERSION]);
      snprintf(self->why, sizeof self->why,
               "software version after the reset is \"%s\", the package installs \"%s\"",
               self->version, want);
      return;
    }
    self->step = S_VERSION2;
    break;
  }
  case S_VERSION2: {
    const uint8_t *d;
    size_t dl = 0;
    size_t k = 0;
    if (dd_uds_parse_read_did(resp, len, 0xF195, &d, &dl, &n2) == 0)
      for (; k < dl && k + 1 < sizeof self->version2 && d[k] >= 0x20 && d[k] < 0x7F; k++)
        self->version2[k] = (char)d[k];
    self->version2[k] = '\0';
    self->phase = DD_FR_DONE;
    self->stopped_at = S_END;
    self->step = S_END;
    break;
  }
  default:
    break;
  }
}

dd_fd_reflash_phase_t dd_fd_reflash_phase(const dd_fd_reflash_t *self) { return self->phase; }

unsigned dd_fd_reflash_percent(const dd_fd_reflash_t *self) {
  switch (self->phase) {
  case DD_FR_PREPARING: return 2;
  case DD_FR_ERASING: return 5;
  case DD_FR_TRANSFERRING:
    return 10 + (unsigned)(self->total_bytes ? self->sent_bytes * 80 / self->total_bytes : 80);
  case DD_FR_ACTIVATING: return 95;
  case DD_FR_DONE: return 100;
  default: return 0;
  }
}

int dd_fd_reflash_error(const dd_fd_reflash_t *self) { return self->error; }
uint8_t dd_fd_reflash_nrc(const dd_fd_reflash_t *self) { return self->nrc; }
const char *dd_fd_reflash_why(const dd_fd_reflash_t *self) { return self->why; }
const char *dd_fd_reflash_version(const dd_fd_reflash_t *self) { return self->version; }
const char *dd_fd_reflash_supplier_version(const dd_fd_reflash_t *self) { return self->version2; }
uint64_t dd_fd_reflash_blocks(const dd_fd_reflash_t *self) { return self->blocks; }
uint64_t dd_fd_reflash_bytes(const dd_fd_reflash_t *self) { return self->sent_bytes; }

uint64_t dd_fd_reflash_transfer_us(const dd_fd_reflash_t *self, uint64_t now) {
  if (!self->xfer_started) return 0;
  uint64_t end = self->xfer_ended ? self->xfer_end : now;
  return end > self->xfer_start ? end - self->xfer_start : 0;
}

const char *dd_fd_reflash_step_name(const dd_fd_reflash_t *self) {
  static const char *const names[] = {
      [S_SESSION] = "programming session", [S_SEED] = "security access (seed)",
      [S_KEY] = "security access (key)",  [S_ERASE] = "erase",
      [S_DOWNLOAD] = "request download",  [S_TRANSFER] = "transfer data",
      [S_EXIT] = "transfer exit",         [S_CHECK] = "check programming dependencies",
      [S_RESET] = "ECU reset",            [S_RESTART] = "ECU restart",
      [S_VERSION] = "software version read", [S_VERSION2] = "supplier software version read",
      [S_END] = "end"};
  s_step_t st = self->step == S_END ? self->stopped_at : self->step;
  return (size_t)st < sizeof names / sizeof names[0] ? names[st] : "?";
}

const char *dd_fd_reflash_phase_name(dd_fd_reflash_phase_t p) {
  switch (p) {
  case DD_FR_PREPARING: return "preparing";
  case DD_FR_ERASING: return "erasing";
  case DD_FR_TRANSFERRING: return "transferring";
  case DD_FR_ACTIVATING: return "activating";
  case DD_FR_DONE: return "done";
  case DD_FR_FAILED: return "failed";
  }
  return "?";
}
