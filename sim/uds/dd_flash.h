/* dd_flash: an ECU's program flash and the bootloader logic around it (erase, download, block
 * writes with their timing, CRC-32 and signature check, valid-application flag, software
 * version, power loss), used by the UDS server's 0x31 FF00/FF01, 0x34, 0x36 and 0x37 handlers.
 * Sans-I/O: every operation takes "now" and says when it completes. */
#ifndef DD_FLASH_H
#define DD_FLASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DD_FLASH_VERSION_MAX 64u /* software version string, NUL included */

/* Status byte of checkProgrammingDependencies (71 01 FF 01 <status>); the values are this
 * project's convention (ISO 14229-1 leaves routineStatusRecord to the manufacturer). */
typedef enum {
  DD_FLASH_CHECK_OK = 0x00,         /* image complete, CRC and signature correct: app valid */
  DD_FLASH_CHECK_INCOMPLETE = 0x01, /* nothing downloaded since the erase, or a download open */
  DD_FLASH_CHECK_CRC = 0x02,        /* CRC-32 of the area differs from the expected one */
  DD_FLASH_CHECK_SIGNATURE = 0x03,  /* the signature hook refused the image */
} dd_flash_check_t;

typedef struct {
  uint32_t base;             /* address of the first sector */
  uint32_t sector_size;      /* bytes per erase sector (> 0) */
  uint32_t sector_count;     /* sectors of the application area (> 0) */
  uint64_t erase_sector_us;  /* time to erase one sector */
  uint64_t write_block_us;   /* fixed time per TransferData block */
  double write_us_per_byte;  /* programming time per byte (added to write_block_us) */
  uint64_t verify_us;        /* time of checkProgrammingDependencies */
  uint32_t max_block_length; /* maxNumberOfBlockLength announced by 0x74: SID, counter and data
                                bytes of one TransferData request (ISO 14229-1:2013 14.2) */
  uint32_t version_offset;   /* offset in the area of the image's version string */
  uint32_t version_len;      /* room for it (0: images carry no version string) */
  const uint8_t *image;      /* initial application (copied; NULL: area erased) */
  size_t image_len;          /* its length (<= area size; the rest reads 0xFF) */
  const char *version;       /* initial version when image is NULL ("" or NULL: the area is
                                erased and the application invalid, the ECU boots to its
                                bootloader); with an image the version is read from it */
  /* Signature hook, called by checkProgrammingDependencies with the whole area (the package's
   * signature is verified elsewhere; here only its verdict counts). Returns 0 to accept. It
   * may write a version string (NUL-terminated) to version to publish for the new image. NULL
   * accepts every image. */
  int (*verify)(void *user, const uint8_t *area, size_t len, char *version, size_t cap);
  void *user; /* passed to verify */
} dd_flash_cfg_t;

typedef struct dd_flash dd_flash_t;

/* Defaults: base 0x00010000, 16 sectors of 4 KiB, erase 50 ms per sector, 2 ms per block plus
 * 10 us per byte, verify 100 ms, maxNumberOfBlockLength 0x0402 (1024 data bytes), version
 * string at offset 0x100 (32 bytes), no image, no hook. */
void dd_flash_cfg_default(dd_flash_cfg_t *cfg);

/* A flash in its power-up state (not yet booted), or NULL (bad geometry, image too large,
 * max_block_length < 3, memory short). */
dd_flash_t *dd_flash_new(const dd_flash_cfg_t *cfg);
void dd_flash_destroy(dd_flash_t **self_p);

/* Power-on or reset: finishes or keeps the effects of operations that completed by now, closes
 * any download, and, when the valid-application flag is set, publishes the image's version.
 * Returns true when the application is valid (the ECU runs it), false (bootloader). */
bool dd_flash_boot(dd_flash_t *self, uint64_t now);

/* Power cut at now: an operation still running is torn (an erase leaves only the sectors it
 * reached erased, a write only the bytes it reached written, a check never sets the valid
 * flag) and any download is closed. The valid flag is what it was, so an interrupted reflash
 * leaves the application invalid until a complete new one. Call dd_flash_boot at power-up. */
void dd_flash_power_loss(dd_flash_t *self, uint64_t now);

/* eraseMemory: erase the sectors covering [addr, addr + len) (len 0: the whole area) to 0xFF.
 * The valid-application flag clears at once. *ready_at gets the completion time.
 * 0, DD_ERANGE (outside the area), DD_EBUSY (a download is open). */
int dd_flash_erase(dd_flash_t *self, uint32_t addr, uint32_t len, uint64_t now, uint64_t *ready_at);

/* RequestDownload: open a download of size bytes at addr. dfi must be 0x00 (no compression or
 * encryption). 0, DD_ENOTSUP (dfi), DD_ERANGE (outside the area, size 0), DD_EBUSY (one is
 * open), DD_EPERM (a sector in the range was not erased since the last valid image). */
int dd_flash_download(dd_flash_t *self, uint32_t addr, uint32_t size, uint8_t dfi, uint64_t now);

/* TransferData block (ISO 14229-1:2013 14.4): the counter of the first block is 0x01 and
 * wraps 0xFF -> 0x00. Returns 0 (written; *ready_at = when the write completes), 1 (the
 * counter repeats the last accepted block: nothing written, *ready_at = now), or
 * DD_EPROTO (no download open), DD_ERANGE (more bytes than requested: the download is
 * closed), DD_EILSEQ (wrong counter), DD_EMSGSIZE (longer than max_block_length - 2),
 * DD_EIO (the cells do not take the data: not erased). */
int dd_flash_transfer(dd_flash_t *self, uint8_t counter, const uint8_t *data, size_t len,
                      uint64_t now, uint64_t *ready_at);

/* RequestTransferExit: closes a complete download; *crc gets the CRC-32 of its bytes. With
 * has_crc, the tester's expected CRC-32 must match. 0, DD_EPROTO (no download open, or fewer
 * bytes than requested: it stays open), DD_ECRC (mismatch: closed, and it does not count as
 * a completed download), DD_ENOMEM (closed, not counted: no room to remember it). */
int dd_flash_transfer_exit(dd_flash_t *self, uint64_t now, bool has_crc, uint32_t expected,
                           uint32_t *crc);

/* checkProgrammingDependencies: checks what was programmed, then the signature hook; on
 * DD_FLASH_CHECK_OK the valid flag sets at *ready_at. Returns the verdict. With has_crc, crc is
 * the expected CRC-32 either of the programmed bytes (the data of every download completed
 * since the erase, in the order the downloads were made, read back from the cells so that a
 * write that did not take shows: a tester that downloads a package's regions in address order
 * sends the package's CRC-32 of all its data and needs no flash geometry) or of the whole area
 * (image, gaps and the rest as erased 0xFF cells). ISO 14229-1:2013 annex F leaves the
 * routine's record to the manufacturer; these are this model's two accepted forms. */
dd_flash_check_t dd_flash_check(dd_flash_t *self, bool has_crc, uint32_t crc, uint64_t now,
                                uint64_t *ready_at);

/* Close an open download without completing it (session change, S3 timeout). */
void dd_flash_abort_download(dd_flash_t *self);

/* Copy len bytes at addr (as of now). 0, or DD_ERANGE. */
int dd_flash_read(dd_flash_t *self, uint32_t addr, uint32_t len, uint8_t *out, uint64_t now);

/* Let operations that completed by now take effect (every call taking now does this too). */
void dd_flash_poll(dd_flash_t *self, uint64_t now);

/* Persistent valid-application flag, as of the last call that took now. */
bool dd_flash_app_valid(const dd_flash_t *self);
bool dd_flash_download_open(const dd_flash_t *self);      /* a RequestDownload is active */
bool dd_flash_busy(const dd_flash_t *self, uint64_t now); /* an operation runs at now */
const char *dd_flash_version(const dd_flash_t *self);     /* version of the last booted app ("") */
uint32_t dd_flash_max_block_length(const dd_flash_t *self); /* as in the cfg */
uint32_t dd_flash_base(const dd_flash_t *self);             /* first address */
uint32_t dd_flash_size(const dd_flash_t *self);             /* bytes of the area */
const char *dd_flash_check_name(dd_flash_check_t check);    /* "ok", "incomplete", ... */

/* CRC-32/ISO-HDLC as used by IEEE 802.3 and zlib: reflected polynomial 0xEDB88320, initial
 * value and final XOR 0xFFFFFFFF; check value of "123456789" is 0xCBF43926. Chain calls by
 * passing the previous result as crc (start with 0). */
uint32_t dd_flash_crc32(uint32_t crc, const uint8_t *data, size_t len);

#endif
