/* dd_vehicle: a vehicle description (identity, CAN bus, ECUs with their ids, DIDs, DTCs,
 * security levels, flash layout and OBD data) loaded from a YAML vehicle file; see
 * docs/VEHICLES.md for the schema. */
#ifndef DD_VEHICLE_H
#define DD_VEHICLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dd_drive.h"
#include "dd_obd.h"
#include "dd_vin.h"

#define DD_VEHICLE_MAX_ECUS 32u        /* ECUs in one vehicle */
#define DD_VEHICLE_MAX_DATA 4092u      /* bytes of one DID value or record */
#define DD_VEHICLE_MAX_FILE (1u << 20) /* largest vehicle file, bytes */

typedef enum {
  DD_ECU_ENGINE = 0,   /* "engine": engine control module, OBD emissions ECU */
  DD_ECU_TRANSMISSION, /* "transmission" */
  DD_ECU_ABS,          /* "abs": anti-lock brakes / brake control */
  DD_ECU_BODY,         /* "body": body control module */
  DD_ECU_GATEWAY,      /* "gateway": central gateway */
  DD_ECU_AIRBAG,       /* "airbag": restraints */
  DD_ECU_INSTRUMENT,   /* "instrument": instrument cluster */
  DD_ECU_OTHER,        /* "other" */
} dd_ecu_role_t;

/* "engine", "abs", ... */
const char *dd_ecu_role_name(dd_ecu_role_t role);

typedef enum {
  DD_DID_BYTES = 0, /* a fixed value (text: or hex: in the file) */
  DD_DID_LIVE,      /* a signal of the drive model, encoded on every read */
} dd_did_kind_t;

typedef struct {
  uint16_t id;              /* data identifier (ISO 14229-1 C.1) */
  char name[48];            /* label ("" when none) */
  dd_did_kind_t kind;       /* fixed bytes or live signal */
  uint8_t *data;            /* DD_DID_BYTES: the value (owned) */
  size_t len;               /* DD_DID_BYTES: its length */
  dd_drive_signal_t signal; /* DD_DID_LIVE: the signal */
  uint8_t size;             /* DD_DID_LIVE: bytes, 1-4, big-endian */
  double scale;             /* DD_DID_LIVE: physical value of one raw unit */
  double offset;            /* DD_DID_LIVE: physical value of raw 0 */
  bool is_signed;           /* DD_DID_LIVE: raw is two's complement */
  bool writable;            /* WriteDataByIdentifier allowed */
} dd_vehicle_did_t;

/* raw = round((value - offset) / scale), clamped to the raw range, big-endian in size bytes.
 * Returns the byte count (did->size). */
size_t dd_vehicle_did_encode(const dd_vehicle_did_t *did, double value, uint8_t out[4]);
/* The inverse of dd_vehicle_did_encode; NAN when len != did->size. */
double dd_vehicle_did_decode(const dd_vehicle_did_t *did, const uint8_t *raw, size_t len);

typedef struct {
  uint8_t record; /* record number */
  uint8_t *data;  /* record bytes (owned) */
  size_t len;     /* their length */
} dd_vehicle_record_t;

typedef struct {
  uint32_t dtc;                         /* 3-byte UDS DTC: code << 8 | failure type */
  uint8_t status;                       /* ISO 14229-1 D.2 status byte at power-up */
  bool permanent;                       /* also an OBD permanent DTC */
  char description[96];                 /* from the file, else the library table, else "" */
  dd_vehicle_record_t *snapshots;       /* snapshot records (owned) */
  size_t n_snapshots;                   /* entries of snapshots */
  dd_vehicle_record_t *extended;        /* extended data records (owned) */
  size_t n_extended;                    /* entries of extended */
  bool has_freeze_frame;                /* freeze values given */
  double freeze[DD_DRIVE_SIGNAL_COUNT]; /* freeze frame by signal; NAN where not given */
} dd_vehicle_dtc_t;

typedef struct {
  uint8_t level;        /* requestSeed sub-function (odd); sendKey is level + 1 */
  uint32_t secret;      /* constant of the toy seed-to-key algorithm */
  uint8_t seed_size;    /* seed bytes, 1-16 */
  uint8_t max_attempts; /* failed keys before the lockout (NRC 0x36) */
  uint32_t lockout_ms;  /* lockout delay (NRC 0x37 while it runs) */
} dd_vehicle_security_t;

typedef struct {
  bool present;                 /* the ECU is programmable */
  uint32_t base;                /* first address */
  uint32_t sector_size;         /* bytes per erase sector */
  uint32_t sectors;             /* number of sectors */
  uint32_t erase_ms_per_sector; /* erase time */
  double write_us_per_byte;     /* programming time per byte */
  uint32_t write_us_per_block;  /* fixed time per TransferData block */
  uint16_t max_block_length;    /* RequestDownload maxNumberOfBlockLength (SID and BSC included) */
} dd_vehicle_flash_t;

typedef struct {
  char name[32];                   /* short name, unique in the vehicle ("ECM") */
  dd_ecu_role_t role;              /* what it is */
  bool extended;                   /* 29-bit identifiers */
  uint32_t request_id;             /* physical request id (tester -> ECU) */
  uint32_t response_id;            /* response id (ECU -> tester) */
  uint32_t functional_id;          /* functional request id */
  bool ext_addressing;             /* ISO 15765-2 extended addressing (address byte first) */
  uint8_t ecu_address;             /* extended addressing: N_TA of requests to this ECU */
  uint8_t tester_address;          /* extended addressing: N_TA of its responses */
  uint8_t functional_address;      /* extended addressing: N_TA of functional requests */
  bool fd;                         /* CAN FD frames */
  uint8_t tx_dl;                   /* ISO-TP TX_DL: 8, or 8-64 with FD */
  bool padding;                    /* pad frames to their full length */
  uint8_t pad_byte;                /* padding value */
  uint8_t stmin;                   /* STmin the ECU grants in its flow control */
  uint8_t block_size;              /* BS the ECU grants */
  uint32_t p2_ms;                  /* P2server */
  uint32_t p2_star_ms;             /* P2*server */
  dd_vehicle_did_t *dids;          /* data identifiers (owned), F190 and the identification
                                      keys included */
  size_t n_dids;                   /* entries of dids */
  dd_vehicle_dtc_t *dtcs;          /* DTCs present at power-up (owned) */
  size_t n_dtcs;                   /* entries of dtcs */
  dd_vehicle_security_t *security; /* security levels (owned) */
  size_t n_security;               /* entries of security */
  dd_vehicle_flash_t flash;        /* flash layout */
  bool has_obd;                    /* answers OBD-II (SAE J1979) requests */
  dd_obd_cfg_t obd;                /* OBD configuration (VIN filled in) */
} dd_vehicle_ecu_t;

typedef struct {
  char source[256];        /* file name the vehicle came from */
  char vin[DD_VIN_SIZE];   /* vehicle identification number */
  char make[32];           /* manufacturer brand */
  char model[48];          /* model name */
  int model_year;          /* model year */
  char vehicle_type[24];   /* passenger_car, mpv, truck, bus, motorcycle, ... */
  char body[24];           /* body style ("" when not given) */
  char chassis_number[32]; /* chassis/frame number ("" when not given) */
  char engine_code[24];    /* engine code ("" when not given) */
  char engine_text[64];    /* engine description ("" when not given) */
  char transmission[16];   /* automatic or manual */
  uint32_t bitrate;        /* CAN (arbitration) bit rate, bit/s */
  uint32_t data_bitrate;   /* CAN FD data bit rate, bit/s (0 when no ECU uses FD) */
  dd_drive_params_t drive; /* parameters of the drive model */
  dd_vehicle_ecu_t *ecus;  /* the ECUs (owned) */
  size_t n_ecus;           /* entries of ecus */
} dd_vehicle_t;

/* Loads a vehicle file. On success returns 0 and *out owns the vehicle. On failure returns
 * DD_ECONFIG (invalid content), DD_ENOENT / another -errno (unreadable file) or DD_ENOMEM, and
 * err gets one line per problem, "FILE:LINE:COL: path: message" (at most 32 lines). */
int dd_vehicle_load(const char *path, dd_vehicle_t **out, char *err, size_t errcap);

/* The same from text in memory; name stands for the file name in messages. */
int dd_vehicle_load_string(const char *text, size_t len, const char *name, dd_vehicle_t **out,
                           char *err, size_t errcap);

void dd_vehicle_destroy(dd_vehicle_t **self_p);

/* The ECU called name, or NULL. */
const dd_vehicle_ecu_t *dd_vehicle_ecu(const dd_vehicle_t *self, const char *name);
/* The ECU a scenario or a command names: by name (any case), else the first with that role
 * ("engine", "abs", ...), or NULL. */
const dd_vehicle_ecu_t *dd_vehicle_ecu_find(const dd_vehicle_t *self, const char *key);
/* The first ECU with the role, or NULL. */
const dd_vehicle_ecu_t *dd_vehicle_ecu_by_role(const dd_vehicle_t *self, dd_ecu_role_t role);
/* The DID of an ECU, or NULL. */
const dd_vehicle_did_t *dd_vehicle_did(const dd_vehicle_ecu_t *ecu, uint16_t id);

#endif
