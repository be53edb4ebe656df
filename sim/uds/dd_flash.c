/* dd_flash: flash memory model and bootloader logic behind the UDS reflash services. */
#include "dd_flash.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "dd_err.h"

typedef enum {
  S_OP_NONE = 0, /* nothing runs */
  S_OP_ERASE,    /* sectors [op_first, op_first + op_count) are being erased */
  S_OP_WRITE,    /* op_len staged bytes are being written at op_addr */
  S_OP_VERIFY,   /* a passed check sets the valid flag when it completes */
} s_op_t;

struct dd_flash {
  dd_flash_cfg_t cfg;                 /* configuration (image and version not kept) */
  uint8_t *mem;                       /* the area's cells */
  uint32_t size;                      /* bytes of the area */
  bool *erased;                       /* per sector: erased since the last valid image */
  bool app_valid;                     /* persistent valid-application flag */
  char version[DD_FLASH_VERSION_MAX]; /* version of the last booted application */
  char pending[DD_FLASH_VERSION_MAX]; /* version a passed check publishes at the next boot */
  /* download (RequestDownload .. RequestTransferExit) */
  bool dl_open;     /* a download is active */
  uint32_t dl_addr; /* its start address */
  uint32_t dl_size; /* bytes requested */
  uint32_t dl_done; /* bytes received */
  bool dl_any;      /* at least one block accepted */
  uint8_t dl_last;  /* counter of the last accepted block */
  uint32_t dl_crc;  /* running CRC-32 of the received bytes */
  unsigned exits;   /* downloads completed since the last erase */
  uint32_t *done;   /* offset, length pairs of those downloads, in order */
  size_t done_cap;  /* pairs allocated */
  /* the operation in progress (its effect applies when it completes, or torn at power loss) */
  s_op_t op;         /* kind */
  uint64_t op_start; /* when it started */
  uint64_t op_until; /* when it completes */
  uint32_t op_first; /* ERASE: first sector */
  uint32_t op_count; /* ERASE: sector count */
  uint32_t op_addr;  /* WRITE: offset in the area */
  uint32_t op_len;   /* WRITE: staged bytes */
  uint8_t *stage;    /* WRITE: staged data (max_block_length bytes) */
};

static const char *const s_check_names[] = {"ok", "incomplete", "crc", "signature"};

const char *dd_flash_check_name(dd_flash_check_t check) {
  return (unsigned)check < 4 ? s_check_names[check] : "?";
}

/* CRC-32/ISO-HDLC, four bits at a time (table of x^32 remainders of the 16 nibbles). */
uint32_t dd_flash_crc32(uint32_t crc, const uint8_t *data, size_t len) {
  static const uint32_t tab[16] = {0x00000000u, 0x1DB71064u, 0x3B6E20C8u, 0x26D930ACu,
                                   0x76DC4190u, 0x6B6B51F4u, 0x4DB26158u, 0x5005713Cu,
                                   0xEDB88320u, 0xF00F9344u, 0xD6D6A3E8u, 0xCB61B38Cu,
                                   0x9B64C2B0u, 0x86D3D2D4u, 0xA00AE278u, 0xBDBDF21Cu};
  crc = ~crc;
  for (size_t i = 0; i < len; i++) {
    crc ^= data[i];
    crc = (crc >> 4) ^ tab[crc & 0x0F];
    crc = (crc >> 4) ^ tab[crc & 0x0F];
  }
  return ~crc;
}

void dd_flash_cfg_default(dd_flash_cfg_t *cfg) {
  assert(cfg);
  memset(cfg, 0, sizeof *cfg);
  cfg->base = 0x00010000u;
  cfg->sector_size = 4096;
  cfg->sector_count = 16;
  cfg->erase_sector_us = 50000;
  cfg->write_block_us = 2000;
  cfg->write_us_per_byte = 10.0;
  cfg->verify_us = 100000;
  cfg->max_block_length = 0x0402;
  cfg->version_offset = 0x100;
  cfg->version_len = 32;
}

/* The image's version string: printable ASCII up to a NUL or erased (0xFF) cell. */
static void s_image_version(const dd_flash_t *self, char *out) {
  out[0] = '\0';
  uint32_t off = self->cfg.version_offset, n = self->cfg.version_len;
  if (!n || off >= self->size) return;
  if (n > self->size - off) n = self->size - off;
  if (n > DD_FLASH_VERSION_MAX - 1) n = DD_FLASH_VERSION_MAX - 1;
  uint32_t i = 0;
  for (; i < n; i++) {
    uint8_t c = self->mem[off + i];
    if (c < 0x20 || c > 0x7E) break;
    out[i] = (char)c;
  }
  out[i] = '\0';
}

dd_flash_t *dd_flash_new(const dd_flash_cfg_t *cfg) {
  assert(cfg);
  if (!cfg->sector_size || !cfg->sector_count) return NULL;
  uint64_t size = (uint64_t)cfg->sector_size * cfg->sector_count;
  if (size > (1u << 30) || (uint64_t)cfg->base + size > 0x100000000ull) return NULL;
  if (cfg->max_block_length < 3 || cfg->image_len > size) return NULL;
  if (cfg->image_len && !cfg->image) return NULL;
  dd_flash_t *self = calloc(1, sizeof *self);
  if (!self) return NULL;
  self->cfg = *cfg;
  self->cfg.image = NULL;
  self->cfg.image_len = 0;
  self->cfg.version = NULL;
  self->size = (uint32_t)size;
  self->mem = malloc(self->size);
  if (!self->mem) goto out_free_self;
  self->erased = calloc(cfg->sector_count, sizeof *self->erased);
  if (!self->erased) goto out_free_mem;
  self->stage = malloc(cfg->max_block_length);
  if (!self->stage) goto out_free_erased;
  memset(self->mem, 0xFF, self->size);
  if (cfg->image) {
    memcpy(self->mem, cfg->image, cfg->image_len);
    self->app_valid = true;
  } else if (cfg->version && cfg->version[0]) {
    size_t n = strlen(cfg->version);
    if (cfg->version_len && cfg->version_offset < self->size) {
      size_t room = cfg->version_len;
      if (room > self->size - cfg->version_offset) room = self->size - cfg->version_offset;
      memcpy(self->mem + cfg->version_offset, cfg->version, n < room ? n : room);
    }
    if (n >= sizeof self->pending) n = sizeof self->pending - 1;
    memcpy(self->pending, cfg->version, n);
    self->pending[n] = '\0';
    self->app_valid = true;
  } else {
    for (uint32_t i = 0; i < cfg->sector_count; i++)
      self->erased[i] = true;
  }
  if (self->app_valid && !self->pending[0]) s_image_version(self, self->pending);
  return self;

out_free_erased:
  free(self->erased);
out_free_mem:
  free(self->mem);
out_free_self:
  free(self);
  return NULL;
}

void dd_flash_destroy(dd_flash_t **self_p) {
  assert(self_p);
  dd_flash_t *self = *self_p;
  if (!self) return;
  free(self->done);
  free(self->stage);
  free(self->erased);
  free(self->mem);
  free(self);
  *self_p = NULL;
}

/* Apply the running operation: fully when it completed by now (or when forced with the
 * fraction 1), else the part of it that the elapsed time covers (power loss). */
static void s_apply(dd_flash_t *self, uint64_t now, bool torn) {
  if (self->op == S_OP_NONE) return;
  uint64_t total = self->op_until - self->op_start;
  uint64_t done = now > self->op_start ? now - self->op_start : 0;
  if (!torn || done >= total) done = total;
  switch (self->op) {
  case S_OP_ERASE: {
    uint32_t n = total ? (uint32_t)((uint64_t)self->op_count * done / total) : self->op_count;
    for (uint32_t i = 0; i < n; i++) {
      uint32_t s = self->op_first + i;
      memset(self->mem + (size_t)s * self->cfg.sector_size, 0xFF, self->cfg.sector_size);
      self->erased[s] = true;
    }
    break;
  }
  case S_OP_WRITE: {
    uint32_t n = total ? (uint32_t)((uint64_t)self->op_len * done / total) : self->op_len;
    for (uint32_t i = 0; i < n; i++)
      self->mem[self->op_addr + i] &= self->stage[i];
    break;
  }
  case S_OP_VERIFY:
    if (done == total) {
      self->app_valid = true;
      self->exits = 0;
      for (uint32_t i = 0; i < self->cfg.sector_count; i++)
        self->erased[i] = false;
    }
    break;
  case S_OP_NONE: break;
  }
  self->op = S_OP_NONE;
}

static void s_settle(dd_flash_t *self, uint64_t now) {
  if (self->op != S_OP_NONE && now >= self->op_until) s_apply(self, now, false);
}

static void s_start(dd_flash_t *self, s_op_t op, uint64_t now, uint64_t duration) {
  self->op = op;
  self->op_start = now;
  self->op_until = now + duration;
}

bool dd_flash_boot(dd_flash_t *self, uint64_t now) {
  assert(self);
  if (self->op != S_OP_NONE && now >= self->op_until)
    s_apply(self, now, false);
  else if (self->op != S_OP_NONE)
    s_apply(self, now, true);
  self->dl_open = false;
  if (self->app_valid) {
    char v[DD_FLASH_VERSION_MAX];
    memcpy(v, self->pending, sizeof v);
    if (!v[0]) s_image_version(self, v);
    memcpy(self->version, v, sizeof v);
  }
  return self->app_valid;
}

void dd_flash_power_loss(dd_flash_t *self, uint64_t now) {
  assert(self);
  s_apply(self, now, true);
  self->dl_open = false;
}

static bool s_range(const dd_flash_t *self, uint32_t addr, uint32_t len, uint32_t *off) {
  if (addr < self->cfg.base) return false;
  uint64_t o = (uint64_t)addr - self->cfg.base;
  if (o + len > self->size) return false;
  *off = (uint32_t)o;
  return true;
}

int dd_flash_erase(dd_flash_t *self, uint32_t addr, uint32_t len, uint64_t now,
                   uint64_t *ready_at) {
  assert(self && ready_at);
  s_settle(self, now);
  if (self->dl_open) return DD_EBUSY;
  uint32_t off = 0;
  if (len == 0) {
    addr = self->cfg.base;
    len = self->size;
  }
  if (!s_range(self, addr, len, &off)) return DD_ERANGE;
  if (self->op != S_OP_NONE) s_apply(self, now, false); /* only by misuse: finish it first */
  uint32_t first = off / self->cfg.sector_size;
  uint32_t last = (off + len - 1) / self->cfg.sector_size;
  /* The flag is cleared before the first cell changes, as a bootloader does. */
  self->app_valid = false;
  self->pending[0] = '\0';
  self->exits = 0;
  self->op_first = first;
  self->op_count = last - first + 1;
  s_start(self, S_OP_ERASE, now, (uint64_t)self->op_count * self->cfg.erase_sector_us);
  *ready_at = self->op_until;
  return 0;
}

int dd_flash_download(dd_flash_t *self, uint32_t addr, uint32_t size, uint8_t dfi, uint64_t now) {
  assert(self);
  s_settle(self, now);
  if (self->dl_open) return DD_EBUSY;
  if (dfi != 0x00) return DD_ENOTSUP;
  uint32_t off = 0;
  if (size == 0 || !s_range(self, addr, size, &off)) return DD_ERANGE;
  if (self->op == S_OP_ERASE) s_apply(self, now, false);
  for (uint32_t s = off / self->cfg.sector_size; s <= (off + size - 1) / self->cfg.sector_size; s++)
    if (!self->erased[s]) return DD_EPERM;
  self->dl_open = true;
  self->dl_addr = off;
  self->dl_size = size;
  self->dl_done = 0;
  self->dl_any = false;
  self->dl_last = 0;
  self->dl_crc = 0;
  return 0;
}

int dd_flash_transfer(dd_flash_t *self, uint8_t counter, const uint8_t *data, size_t len,
                      uint64_t now, uint64_t *ready_at) {
  assert(self && ready_at);
  assert(data || !len);
  s_settle(self, now);
  *ready_at = now;
  if (!self->dl_open) return DD_EPROTO;
  if (len > self->cfg.max_block_length - 2) return DD_EMSGSIZE;
  /* ISO 14229-1:2013 14.4.2: a block with the counter of the last accepted one is a
   * repetition (its response was lost); answer it without writing again. */
  if (self->dl_any && counter == self->dl_last) return 1;
  if ((uint64_t)self->dl_done + len > self->dl_size) {
    self->dl_open = false; /* transferDataSuspended ends the download */
    return DD_ERANGE;
  }
  uint8_t expected = (uint8_t)(self->dl_any ? self->dl_last + 1u : 0x01u); /* wraps 0xFF->0x00 */
  if (counter != expected) return DD_EILSEQ;
  if (self->op != S_OP_NONE) s_apply(self, now, false);
  uint32_t at = self->dl_addr + self->dl_done;
  for (size_t i = 0; i < len; i++)
    if ((self->mem[at + i] & data[i]) != data[i]) return DD_EIO; /* NOR cells only clear bits */
  memcpy(self->stage, data, len);
  self->op_addr = at;
  self->op_len = (uint32_t)len;
  uint64_t t = self->cfg.write_block_us + (uint64_t)(self->cfg.write_us_per_byte * (double)len);
  s_start(self, S_OP_WRITE, now, t);
  self->dl_done += (uint32_t)len;
  self->dl_crc = dd_flash_crc32(self->dl_crc, data, len);
  self->dl_any = true;
  self->dl_last = counter;
  *ready_at = self->op_until;
  return 0;
}

int dd_flash_transfer_exit(dd_flash_t *self, uint64_t now, bool has_crc, uint32_t expected,
                           uint32_t *crc) {
  assert(self);
  s_settle(self, now);
  if (!self->dl_open || self->dl_done < self->dl_size) return DD_EPROTO;
  self->dl_open = false;
  if (crc) *crc = self->dl_crc;
  if (has_crc && expected != self->dl_crc) return DD_ECRC;
  if (self->exits >= self->done_cap) {
    size_t cap = self->done_cap ? 2 * self->done_cap : 8;
    uint32_t *d = realloc(self->done, cap * 2 * sizeof *d);
    if (!d) return DD_ENOMEM;
    self->done = d;
    self->done_cap = cap;
  }
  self->done[2 * self->exits] = self->dl_addr;
  self->done[2 * self->exits + 1] = self->dl_size;
  self->exits++;
  return 0;
}

dd_flash_check_t dd_flash_check(dd_flash_t *self, bool has_crc, uint32_t crc, uint64_t now,
                                uint64_t *ready_at) {
  assert(self && ready_at);
  s_settle(self, now);
  *ready_at = now;
  if (self->op != S_OP_NONE) s_apply(self, now, false);
  if (self->dl_open || self->exits == 0) return DD_FLASH_CHECK_INCOMPLETE;
  if (has_crc) {
    uint32_t c = 0;
    for (unsigned i = 0; i < self->exits; i++)
      c = dd_flash_crc32(c, self->mem + self->done[2 * i], self->done[2 * i + 1]);
    if (c != crc && dd_flash_crc32(0, self->mem, self->size) != crc) return DD_FLASH_CHECK_CRC;
  }
  char v[DD_FLASH_VERSION_MAX] = "";
  if (self->cfg.verify && self->cfg.verify(self->cfg.user, self->mem, self->size, v, sizeof v))
    return DD_FLASH_CHECK_SIGNATURE;
  v[sizeof v - 1] = '\0';
  if (!v[0]) s_image_version(self, v);
  memcpy(self->pending, v, sizeof v);
  s_start(self, S_OP_VERIFY, now, self->cfg.verify_us);
  *ready_at = self->op_until;
  return DD_FLASH_CHECK_OK;
}

void dd_flash_abort_download(dd_flash_t *self) {
  assert(self);
  self->dl_open = false;
}

int dd_flash_read(dd_flash_t *self, uint32_t addr, uint32_t len, uint8_t *out, uint64_t now) {
  assert(self);
  assert(out || !len);
  s_settle(self, now);
  uint32_t off = 0;
  if (!s_range(self, addr, len, &off)) return DD_ERANGE;
  if (len) memcpy(out, self->mem + off, len);
  return 0;
}

void dd_flash_poll(dd_flash_t *self, uint64_t now) {
  assert(self);
  s_settle(self, now);
}

bool dd_flash_app_valid(const dd_flash_t *self) {
  assert(self);
  return self->app_valid;
}

bool dd_flash_download_open(const dd_flash_t *self) {
  assert(self);
  return self->dl_open;
}

bool dd_flash_busy(const dd_flash_t *self, uint64_t now) {
  assert(self);
  return self->op != S_OP_NONE && now < self->op_until;
}

const char *dd_flash_version(const dd_flash_t *self) {
  assert(self);
  return self->version;
}

uint32_t dd_flash_max_block_length(const dd_flash_t *self) {
  assert(self);
  return self->cfg.max_block_length;
}

uint32_t dd_flash_base(const dd_flash_t *self) {
  assert(self);
  return self->cfg.base;
}

uint32_t dd_flash_size(const dd_flash_t *self) {
  assert(self);
  return self->size;
}
