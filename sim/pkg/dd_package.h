/* dd_package: the signed programming package the second diagnostic device builds from a flash
 * image (S401) and the first device checks and turns into a UDS download (S402).
 *
 * Layout, version 1. All integers are big-endian (network byte order); strings are a length
 * byte followed by that many printable ASCII bytes (0x20..0x7E), no NUL.
 *
 *   offset   size  field
 *   0        4     magic "DDPK" (0x44 0x44 0x50 0x4B)
 *   4        1     format version: 1
 *   5        1     flags: 0 (reserved; any other value is malformed)
 *   6        2     header length H: the bytes 0..H-1 (this fixed part, strings, region table)
 *   8        8     created-at: seconds since 1970-01-01T00:00:00Z
 *   16       4     target ECU's physical request CAN id; bit 31 set: a 29-bit id (as
 *                  SocketCAN's CAN_EFF_FLAG), else an 11-bit id (<= 0x7FF); bits 29..30 are 0
 *   20       4     data length D: the sum of all region lengths
 *   24       4     total CRC-32 of the D data bytes (dd_image_crc32_update)
 *   28       2     region count N, 1..DD_PACKAGE_MAX_REGIONS
 *   30       1+a   package id, a = 1..DD_PACKAGE_ID_MAX
 *   ..       1+b   target ECU name, b = 1..DD_PACKAGE_NAME_MAX (e.g. "engine")
 *   ..       1+c   software version, c = 1..DD_PACKAGE_NAME_MAX (e.g. "2.0.0")
 *   ..       1+d   hardware part number the software is for, d = 1..DD_PACKAGE_NAME_MAX
 *   ..       12*N  region table, one entry a region, ascending and disjoint:
 *                    +0 address (4), +4 length (4, >= 1, address + length <= 2^32),
 *                    +8 CRC-32 of the region's bytes (4)
 *   H        D     region data, the regions in table order, back to back
 *   H+D      8     key id: the first 8 bytes of SHA-256 of the signer's Ed25519 public key
 *   H+D+8    64    Ed25519 signature (RFC 8032, pure Ed25519) of bytes 0..H+D+7
 *   H+D+72         end: the package is exactly H + D + 72 bytes
 *
 * An unsigned package (built without a key) has key id and signature all zero.
 *
 * Checks. dd_package_parse checks structure only (every length before it is used) and returns
 * DD_EILSEQ for anything malformed, DD_ENOTSUP for another format version. dd_package_verify
 * then checks, in this order, so that each code names one cause:
 *   0. a signature at all                              else DD_ESIGNATURE (unsigned)
 *   1. key id = the id of the public key given        else DD_ESIGNATURE (signed by another key)
 *   2. every region CRC-32, then the total CRC-32     else DD_ECRC (data damaged in transit)
 *   3. the signature over everything before it        else DD_ESIGNATURE (altered or forged)
 *   4. ECU name, request CAN id, hardware part number  else DD_ETARGET (authentic, but for
 *                                                      another ECU or hardware)
 */
#ifndef DD_PACKAGE_H
#define DD_PACKAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dd_image.h"

#define DD_PACKAGE_VERSION 1u
#define DD_PACKAGE_MAGIC "DDPK"
#define DD_PACKAGE_ID_MAX 64u   /* package id bytes */
#define DD_PACKAGE_NAME_MAX 32u /* ECU name, software version, hardware part number bytes */
#define DD_PACKAGE_MAX_REGIONS 1024u
#define DD_PACKAGE_MAX_SIZE (64u * 1024u * 1024u) /* whole package; = DD_WIRE_MAX_PACKAGE */
#define DD_PACKAGE_CAN_EFF 0x80000000u            /* can_id flag: 29-bit identifier */
#define DD_PACKAGE_FIXED_LEN 30u                  /* bytes before the package id */
#define DD_PACKAGE_TRAILER_LEN 72u                /* key id + signature */
#define DD_PACKAGE_PUBLIC_KEY_BYTES 32u
#define DD_PACKAGE_SECRET_KEY_BYTES 64u /* libsodium form: seed, then public key */
#define DD_PACKAGE_SEED_BYTES 32u       /* RFC 8032's private key */
#define DD_PACKAGE_KEY_ID_BYTES 8u
#define DD_PACKAGE_SIGNATURE_BYTES 64u
#define DD_PACKAGE_WHY_MAX 256u /* a buffer this large holds any message written to why */

/* Which ECU a package is for (in the package) or which ECU is being programmed (expected). */
typedef struct {
  const char *ecu_name; /* ECU name, e.g. "engine" */
  uint32_t can_id;      /* physical request CAN id, | DD_PACKAGE_CAN_EFF for a 29-bit id */
  const char *hw_part;  /* hardware part number, e.g. as read from DID 0xF191 */
} dd_package_target_t;

/* What dd_package_build puts in the header besides the image. */
typedef struct {
  const char *package_id;     /* unique id of this package, 1..DD_PACKAGE_ID_MAX bytes */
  dd_package_target_t target; /* ECU and hardware the software is for */
  const char *sw_version;     /* software version installed, 1..DD_PACKAGE_NAME_MAX bytes */
  uint64_t created_at;        /* seconds since the Unix epoch, from the caller's clock */
} dd_package_meta_t;

/* The header of a parsed package (strings NUL-terminated). */
typedef struct {
  unsigned version;                         /* format version */
  char package_id[DD_PACKAGE_ID_MAX + 1];   /* package id */
  char ecu_name[DD_PACKAGE_NAME_MAX + 1];   /* target ECU name */
  uint32_t can_id;                          /* target request CAN id (| DD_PACKAGE_CAN_EFF) */
  char sw_version[DD_PACKAGE_NAME_MAX + 1]; /* software version */
  char hw_part[DD_PACKAGE_NAME_MAX + 1];    /* hardware part number */
  uint64_t created_at;                      /* seconds since the Unix epoch */
  uint32_t data_len;                        /* sum of the region lengths */
  uint32_t total_crc;                       /* CRC-32 of all region data, as stored */
  size_t region_count;                      /* regions, >= 1 */
  uint8_t key_id[DD_PACKAGE_KEY_ID_BYTES];  /* id of the signing key */
} dd_package_info_t;

/* One region of a parsed package. */
typedef struct {
  uint32_t addr;       /* address of the first byte */
  uint32_t len;        /* bytes, >= 1 */
  uint32_t crc;        /* CRC-32 as stored in the table */
  const uint8_t *data; /* the bytes, inside the package */
} dd_package_region_t;

typedef struct dd_package dd_package_t;

/* ---- building (second device) ---- */

/* Build and sign a package holding every region of image. secret_key is libsodium's 64-byte
 * form (dd_package_keypair*); NULL builds an unsigned package (a test input: every verifier
 * refuses it). On success *bytes (free() it) holds *len bytes.
 * Returns 0, DD_EINVAL (an empty image, more than DD_PACKAGE_MAX_REGIONS regions, a missing,
 * empty, too long or non-printable string, an invalid CAN id), DD_EMSGSIZE (larger than
 * DD_PACKAGE_MAX_SIZE), DD_ENOMEM, DD_EIO (libsodium did not initialise). */
int dd_package_build(const dd_image_t *image, const dd_package_meta_t *meta,
                     const uint8_t secret_key[DD_PACKAGE_SECRET_KEY_BYTES], uint8_t **bytes,
                     size_t *len);

/* ---- checking (first device) ---- */

/* Check the structure of len bytes of outside input and copy them into a new package *out.
 * Returns 0, DD_EILSEQ (malformed), DD_ENOTSUP (another format version), DD_ENOMEM; why (may be
 * NULL) says what is wrong. Nothing is authenticated yet: call dd_package_verify. */
int dd_package_parse(const uint8_t *bytes, size_t len, dd_package_t **out, char *why,
                     size_t why_size);

/* Check key id, CRCs, signature and target, in the order given at the top of this file.
 * Returns 0, DD_ESIGNATURE, DD_ECRC, DD_ETARGET or DD_EIO (libsodium did not initialise); why
 * (may be NULL) says what failed. */
int dd_package_verify(const dd_package_t *pkg,
                      const uint8_t public_key[DD_PACKAGE_PUBLIC_KEY_BYTES],
                      const dd_package_target_t *expected, char *why, size_t why_size);

/* dd_package_parse then dd_package_verify; *out is set only when both pass. */
int dd_package_open(const uint8_t *bytes, size_t len,
                    const uint8_t public_key[DD_PACKAGE_PUBLIC_KEY_BYTES],
                    const dd_package_target_t *expected, dd_package_t **out, char *why,
                    size_t why_size);

void dd_package_destroy(dd_package_t **self_p);

const dd_package_info_t *dd_package_info(const dd_package_t *self);
/* Region i, i < dd_package_info(self)->region_count. */
dd_package_region_t dd_package_region(const dd_package_t *self, size_t i);
/* The package's bytes (the copy made by dd_package_parse). */
const uint8_t *dd_package_bytes(const dd_package_t *self, size_t *len);
/* The regions as a new image *out (e.g. for a simulated ECU's flash). 0 or DD_ENOMEM. */
int dd_package_to_image(const dd_package_t *self, dd_image_t **out);

/* ---- UDS download plan (ISO 14229-1:2013 14.2 RequestDownload, 14.4 TransferData,
 * 14.5 RequestTransferExit) ----
 *
 * One RequestDownload (0x34) per region with memoryAddress = region address and memorySize =
 * region length; the positive response (0x74) gives maxNumberOfBlockLength, the length of the
 * whole TransferData request including its SID (0x36) and blockSequenceCounter byte, so each
 * TransferData carries at most maxNumberOfBlockLength - 2 data bytes. The counter is 0x01 in
 * the first TransferData after each RequestDownload and goes 0xFF -> 0x00. A caller on classic
 * ISO-TP without the FF escape also caps maxNumberOfBlockLength at 4095 before passing it in.
 *
 *   dd_package_dl_t dl;
 *   dd_package_dl_init(&dl, pkg);
 *   while (dd_package_dl_next_request(&dl, &req)) {        // send 34 00 44 <addr> <len>
 *     dd_package_dl_start(&dl, max_block_len_from_74);
 *     while (dd_package_dl_next_chunk(&dl, &chunk)) ...    // send 36 <bsc> <data>
 *     ...                                                  // send 37
 *   }
 * The walker is a plain value: copy it to remember a position (e.g. to restart a region). */

typedef struct {
  size_t region; /* index of the region */
  uint32_t addr; /* memoryAddress */
  uint32_t len;  /* memorySize */
} dd_package_dl_request_t;

typedef struct {
  size_t region;       /* index of the region */
  uint32_t seq;        /* 0-based number of this TransferData within the region */
  uint8_t bsc;         /* blockSequenceCounter: 0x01, 0x02, .. 0xFF, 0x00, 0x01, .. */
  uint32_t addr;       /* address of the first data byte */
  uint32_t len;        /* data bytes, 1..maxNumberOfBlockLength - 2 */
  const uint8_t *data; /* the bytes, inside the package */
  bool last;           /* last TransferData of the region: RequestTransferExit follows */
} dd_package_dl_chunk_t;

typedef struct {
  const dd_package_t *pkg; /* package walked (borrowed: must outlive the walk) */
  size_t next_region;      /* region the next dd_package_dl_next_request returns */
  bool open;               /* a region was requested and is being walked */
  bool started;            /* dd_package_dl_start was called for the open region */
  size_t region;           /* the open region */
  uint32_t data_max;       /* data bytes per TransferData (maxNumberOfBlockLength - 2) */
  uint32_t offset;         /* next byte of the open region to send */
  uint32_t seq;            /* TransferData requests produced for the open region */
  uint8_t bsc;             /* counter of the next TransferData */
} dd_package_dl_t;

void dd_package_dl_init(dd_package_dl_t *dl, const dd_package_t *pkg);
/* Open the next region: its RequestDownload parameters in *req. False when every region was
 * opened. Opening the next region before the open one is walked to its end abandons it. */
bool dd_package_dl_next_request(dd_package_dl_t *dl, dd_package_dl_request_t *req);
/* Start the TransferData sequence of the open region with the server's maxNumberOfBlockLength.
 * Returns 0, DD_ERANGE when it is below 3 (no room for a data byte), DD_EINVAL when no region
 * is open. */
int dd_package_dl_start(dd_package_dl_t *dl, uint32_t max_block_len);
/* The next TransferData of the open region in *chunk; false when the region is done (or not
 * started). */
bool dd_package_dl_next_chunk(dd_package_dl_t *dl, dd_package_dl_chunk_t *chunk);
/* True when every region was opened and walked to its end. */
bool dd_package_dl_done(const dd_package_dl_t *dl);
/* TransferData requests needed for len bytes with maxNumberOfBlockLength max_block_len
 * (0 when max_block_len < 3). */
uint64_t dd_package_dl_chunks(uint64_t len, uint32_t max_block_len);

/* ---- keys ---- */

typedef enum {
  DD_PACKAGE_KEY_PUBLIC = 0, /* 32-byte Ed25519 public key, line "ed25519-public <64 hex>" */
  DD_PACKAGE_KEY_SECRET,     /* 32-byte Ed25519 seed, line "ed25519-secret <64 hex>" */
} dd_package_key_kind_t;

/* A new random key pair (libsodium's CSPRNG). 0 or DD_EIO. */
int dd_package_keypair(uint8_t public_key[DD_PACKAGE_PUBLIC_KEY_BYTES],
                       uint8_t secret_key[DD_PACKAGE_SECRET_KEY_BYTES]);
/* The key pair of a 32-byte seed (RFC 8032 private key). 0 or DD_EIO. */
int dd_package_keypair_from_seed(const uint8_t seed[DD_PACKAGE_SEED_BYTES],
                                 uint8_t public_key[DD_PACKAGE_PUBLIC_KEY_BYTES],
                                 uint8_t secret_key[DD_PACKAGE_SECRET_KEY_BYTES]);
/* Key id: the first 8 bytes of SHA-256(public_key). 0 or DD_EIO. */
int dd_package_key_id(const uint8_t public_key[DD_PACKAGE_PUBLIC_KEY_BYTES],
                      uint8_t id[DD_PACKAGE_KEY_ID_BYTES]);

/* Ed25519 signature (RFC 8032 5.1.6) of len bytes of msg into sig: what dd_package_build signs
 * with. 0 or DD_EIO. */
int dd_package_sign(const uint8_t *msg, size_t len,
                    const uint8_t secret_key[DD_PACKAGE_SECRET_KEY_BYTES],
                    uint8_t sig[DD_PACKAGE_SIGNATURE_BYTES]);
/* True when sig is a valid Ed25519 signature (RFC 8032 5.1.7) of msg by public_key: what
 * dd_package_verify checks with. */
bool dd_package_sign_check(const uint8_t *msg, size_t len,
                           const uint8_t sig[DD_PACKAGE_SIGNATURE_BYTES],
                           const uint8_t public_key[DD_PACKAGE_PUBLIC_KEY_BYTES]);

/* Key file text: each line of comment (may be NULL; split at '\n') as "# line", then the key
 * line. key is the public key or the seed (the first half of a secret key). Returns the length
 * written into buf (NUL-terminated), DD_ENOSPC when size is too small. */
int dd_package_key_format(dd_package_key_kind_t kind, const uint8_t key[32], const char *comment,
                          char *buf, size_t size);
/* Read a key file's text: blank lines and lines starting with '#' are ignored; exactly one key
 * line of the kind asked for. Returns 0 or DD_EILSEQ with why = "name:line: what". */
int dd_package_key_parse(dd_package_key_kind_t kind, const char *text, size_t len, const char *name,
                         uint8_t key[32], char *why, size_t why_size);
/* Write a key file (a secret one with mode 0600). 0 or -errno. */
int dd_package_key_save(const char *path, dd_package_key_kind_t kind, const uint8_t key[32],
                        const char *comment);
/* Read and parse a key file. 0, DD_EILSEQ, DD_EMSGSIZE (file over 64 KiB) or -errno. */
int dd_package_key_load(const char *path, dd_package_key_kind_t kind, uint8_t key[32], char *why,
                        size_t why_size);
/* Load a secret key file and expand its seed into libsodium's 64-byte form. */
int dd_package_secret_key_load(const char *path, uint8_t secret_key[DD_PACKAGE_SECRET_KEY_BYTES],
                               char *why, size_t why_size);

#endif
