/* dd_obd: OBD-II services (SAE J1979 / ISO 15031-5) in their CAN form (ISO 15765-4): the ECU-side
 * responder and the tester-side request builders and response parsers. Sans-I/O: whole
 * messages in, whole messages out; ISO-TP segmentation happens below. */
#ifndef DD_OBD_H
#define DD_OBD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dd_vin.h"

/* ISO 15765-4 legislated-OBD identifiers. */
#define DD_OBD_FUNC_ID_11 0x7DFu      /* functional request, 11-bit */
#define DD_OBD_FUNC_ID_29 0x18DB33F1u /* functional request, 29-bit normal fixed */
#define DD_OBD_MAX_PIDS 6u            /* PIDs in one service $01 request (J1979 / 15031-5) */
#define DD_OBD_MAX_DTCS 64u           /* DTCs held per list in dd_obd_state_t */
#define DD_OBD_MAX_CALIDS 4u          /* calibration ids / CVNs one responder reports */
#define DD_OBD_CALID_LEN 16u          /* characters in one CALID (service $09 InfoType $04) */
#define DD_OBD_ECU_NAME_LEN 20u       /* bytes of the ECUNAME data item (InfoType $0A) */

/* Services (SAE J1979 / ISO 15031-5 service names). */
enum {
  DD_OBD_SVC_CURRENT_DATA = 0x01,   /* current powertrain diagnostic data */
  DD_OBD_SVC_FREEZE_FRAME = 0x02,   /* powertrain freeze frame data */
  DD_OBD_SVC_STORED_DTCS = 0x03,    /* emission-related (confirmed) DTCs */
  DD_OBD_SVC_CLEAR = 0x04,          /* clear/reset emission-related diagnostic information */
  DD_OBD_SVC_PENDING_DTCS = 0x07,   /* DTCs detected during the current or last driving cycle */
  DD_OBD_SVC_VEHICLE_INFO = 0x09,   /* vehicle information */
  DD_OBD_SVC_PERMANENT_DTCS = 0x0A, /* permanent DTCs */
  DD_OBD_NEGATIVE_RESPONSE = 0x7F,  /* negative response SID */
};

/* Negative response codes a CAN OBD ECU may send (ISO 15031-5 6.3.4, values of ISO 14229-1). */
enum {
  DD_OBD_NRC_GENERAL_REJECT = 0x10,
  DD_OBD_NRC_SERVICE_NOT_SUPPORTED = 0x11,
  DD_OBD_NRC_INVALID_FORMAT = 0x12,   /* subFunctionNotSupported-invalidFormat */
  DD_OBD_NRC_BUSY = 0x21,             /* busyRepeatRequest */
  DD_OBD_NRC_CONDITIONS = 0x22,       /* conditionsNotCorrectOrRequestSequenceError */
  DD_OBD_NRC_OUT_OF_RANGE = 0x31,     /* requestOutOfRange */
  DD_OBD_NRC_RESPONSE_PENDING = 0x78, /* requestCorrectlyReceived-ResponsePending */
};

/* A set of PIDs (or InfoTypes) 0x00-0xFF. */
typedef struct {
  uint8_t bits[32]; /* bit (pid & 7) of byte pid / 8 */
} dd_obd_pidset_t;

void dd_obd_pidset_clear(dd_obd_pidset_t *set);
void dd_obd_pidset_add(dd_obd_pidset_t *set, uint8_t pid);
bool dd_obd_pidset_has(const dd_obd_pidset_t *set, uint8_t pid);
/* Number of PIDs in the set. */
unsigned dd_obd_pidset_count(const dd_obd_pidset_t *set);

/* True for the "PIDs supported" PIDs 0x00, 0x20, 0x40 ... 0xE0. */
static inline bool dd_obd_pid_is_range(uint8_t pid) { return (pid & 0x1F) == 0; }

/* Engineering values the responder encodes (one field per implemented service $01 PID). */
typedef struct {
  double load_pct;     /* 0x04 calculated load value, % */
  double coolant_c;    /* 0x05 engine coolant temperature, degC */
  double stft_pct;     /* 0x06 short term fuel trim bank 1, % */
  double ltft_pct;     /* 0x07 long term fuel trim bank 1, % */
  double map_kpa;      /* 0x0B intake manifold absolute pressure, kPa */
  double rpm;          /* 0x0C engine speed, 1/min */
  double speed_kmh;    /* 0x0D vehicle speed, km/h */
  double intake_c;     /* 0x0F intake air temperature, degC */
  double maf_gs;       /* 0x10 air flow rate from the MAF sensor, g/s */
  double throttle_pct; /* 0x11 absolute throttle position, % */
  double obd_standard; /* 0x1C OBD requirements the vehicle is designed to (enumeration) */
  double run_time_s;   /* 0x1F time since engine start, s */
  double fuel_pct;     /* 0x2F fuel level input, % */
  double baro_kpa;     /* 0x33 barometric pressure, kPa */
  double module_v;     /* 0x42 control module voltage, V */
  double ambient_c;    /* 0x46 ambient air temperature, degC */
} dd_obd_live_t;

/* Static description of one service $01 PID (linear: value = raw * mul / div + offset). */
typedef struct {
  uint8_t pid;      /* the PID */
  uint8_t len;      /* data bytes in a response */
  const char *name; /* e.g. "Engine speed" */
  const char *unit; /* e.g. "rpm"; "" when unitless */
  double mul, div;  /* scaling of the big-endian raw value */
  double offset;    /* added after scaling */
  size_t live_off;  /* offset of the field in dd_obd_live_t, or SIZE_MAX */
} dd_obd_pid_info_t;

/* The description of a PID the library knows (implemented PIDs, 0x01 and the range PIDs), or
 * NULL. */
const dd_obd_pid_info_t *dd_obd_pid_info(uint8_t pid);
/* True when the responder can answer a service $01 PID (range PIDs included). */
bool dd_obd_pid_implemented(uint8_t pid);
/* Engineering value -> raw bytes of a linear PID (rounded, clamped to the raw range). Returns the
 * byte count, or 0 for a PID that is not linear/known. */
size_t dd_obd_pid_encode(uint8_t pid, double value, uint8_t *out);
/* Raw bytes -> engineering value of a linear PID; NAN when unknown or len is short. */
double dd_obd_pid_decode(uint8_t pid, const uint8_t *raw, size_t len);

/* ---- responder (ECU side) ------------------------------------------------------------------ */

/* What an OBD ECU is: fixed at configuration time. */
typedef struct {
  char vin[DD_VIN_SIZE];                                /* $09 InfoType $02 */
  dd_obd_pidset_t pids;                                 /* $01 data PIDs supported (not range) */
  char ecu_acronym[5];                                  /* $09 $0A: up to 4 characters, "ECM" */
  char ecu_text[16];                                    /* $09 $0A: up to 15, "EngineControl" */
  char calids[DD_OBD_MAX_CALIDS][DD_OBD_CALID_LEN + 1]; /* $09 $04 calibration ids */
  size_t n_calids;                                      /* used entries of calids */
  uint32_t cvns[DD_OBD_MAX_CALIDS];                     /* $09 $06 calibration verification no. */
  size_t n_cvns;                                        /* used entries of cvns */
  uint8_t obd_standard;                                 /* $01 PID $1C value (1 = OBD-II CARB) */
  bool compression_ignition;                            /* diesel: $01 PID $01 byte B bit 3 */
} dd_obd_cfg_t;

/* Zeroes cfg and sets obd_standard to 1; pids stays empty. */
void dd_obd_cfg_init(dd_obd_cfg_t *cfg);
/* Adds every PID the responder implements to cfg->pids. */
void dd_obd_cfg_all_pids(dd_obd_cfg_t *cfg);

/* What the ECU knows at the moment of a request: built by its owner from the DTC memory and
 * the vehicle model. */
typedef struct {
  bool mil;                            /* malfunction indicator lamp commanded on */
  uint16_t stored[DD_OBD_MAX_DTCS];    /* confirmed DTCs ($03) */
  size_t n_stored;                     /* used entries of stored */
  uint16_t pending[DD_OBD_MAX_DTCS];   /* pending DTCs ($07) */
  size_t n_pending;                    /* used entries of pending */
  uint16_t permanent[DD_OBD_MAX_DTCS]; /* permanent DTCs ($0A) */
  size_t n_permanent;                  /* used entries of permanent */
  bool monitors_incomplete;            /* readiness not yet complete (e.g. since a clear) */
  bool engine_running;                 /* $04 is refused while the engine runs */
  bool has_freeze_frame;               /* a freeze frame is stored */
  uint16_t freeze_dtc;                 /* the DTC that stored it ($02 PID $02) */
  dd_obd_live_t freeze;                /* the frozen values */
  dd_obd_live_t live;                  /* current values ($01) */
} dd_obd_state_t;

/* Adds a 3-byte UDS DTC with its ISO 14229-1 status byte to the OBD lists: confirmedDTC (bit 3)
 * -> stored, pendingDTC (bit 2) -> pending, warningIndicatorRequested (bit 7) -> MIL on;
 * permanent -> permanent list. A 2-byte code is listed once. Returns 0 or DD_ENOSPC. */
int dd_obd_state_add_dtc(dd_obd_state_t *st, uint32_t dtc3, uint8_t status, bool permanent);

/* Response actions the owner has to carry out. */
enum {
  DD_OBD_ACT_CLEAR = 1u << 0, /* $04 accepted: clear DTCs, freeze frame, readiness */
};

/* Answers one OBD request. functional: it came to the functional id (7DF / 18DB33F1); then,
 * as ISO 15031-5 asks of CAN ECUs, an unsupported service or PID gets no answer instead of a
 * negative response. On return *out_len is 0 when the ECU stays silent. actions (may be NULL)
 * gets DD_OBD_ACT_* bits. Service $04 is refused with NRC 0x22 while st->engine_running (J1979:
 * clear with ignition on, engine off). Returns 0, or DD_ENOSPC when cap is too small. */
int dd_obd_respond(const dd_obd_cfg_t *cfg, const dd_obd_state_t *st, const uint8_t *req,
                   size_t len, bool functional, uint8_t *out, size_t cap, size_t *out_len,
                   unsigned *actions);

/* The 4-byte "supported PIDs" bitmap the responder sends for range PID base (0x00, 0x20, ...)
 * of service $01; false when base itself is not supported. */
bool dd_obd_supported_bitmap(const dd_obd_cfg_t *cfg, uint8_t base, uint8_t out[4]);

/* ---- client (tester side) ------------------------------------------------------------------ */

/* Builds "service pid pid ..." (service $01/$09 with PIDs, or $03/$04/$07/$0A with n = 0).
 * Returns 0, DD_EINVAL (more than 6 PIDs) or DD_ENOSPC. */
int dd_obd_build_request(uint8_t service, const uint8_t *pids, size_t n, uint8_t *out, size_t cap,
                         size_t *out_len);
/* Builds a service $02 request "02 pid frame pid frame ..." (at most 3 PIDs). */
int dd_obd_build_freeze_request(const uint8_t *pids, size_t n, uint8_t frame, uint8_t *out,
                                size_t cap, size_t *out_len);

/* True when resp is a negative response "7F service nrc" (fills the pointers not NULL). */
bool dd_obd_is_negative(const uint8_t *resp, size_t len, uint8_t *service, uint8_t *nrc);

/* One decoded PID. */
typedef struct {
  uint8_t pid;      /* the PID */
  uint8_t frame;    /* service $02: frame number; 0 otherwise */
  const char *name; /* e.g. "Engine speed" */
  const char *unit; /* e.g. "rpm" */
  double value;     /* engineering value (NAN for bitmaps and unknown PIDs) */
  uint8_t raw[4];   /* data bytes as received */
  uint8_t raw_len;  /* used bytes of raw */
} dd_obd_value_t;

/* Decodes a service $01 ("41 ...") or $02 ("42 ...") positive response holding one or more
 * PIDs. Errors: DD_EUDS_NRC for a negative response, DD_EUDS_RESPONSE for another service,
 * DD_EPROTO when truncated, DD_ENOTSUP for an unknown PID followed by more data (its length
 * is unknown), DD_ENOSPC when more than cap values. */
int dd_obd_parse_values(const uint8_t *resp, size_t len, dd_obd_value_t *vals, size_t cap,
                        size_t *n);

/* Adds the PIDs announced by a "supported PIDs" response (41 00 / 41 20 ..., 42 00 00 ...,
 * 49 00 ...) to set. Several ranges may be in one response. Same errors as above. */
int dd_obd_parse_supported(const uint8_t *resp, size_t len, dd_obd_pidset_t *set);

/* Service $01 PID $01 bytes A-D. */
typedef struct {
  bool mil;                  /* A7: MIL on */
  unsigned dtc_count;        /* A6-A0: number of confirmed emission-related DTCs */
  bool compression_ignition; /* B3 */
  uint8_t cont_supported;    /* B0-B2: misfire, fuel system, comprehensive component */
  uint8_t cont_incomplete;   /* B4-B6: same order */
  uint8_t supported;         /* C: non-continuous monitors supported */
  uint8_t incomplete;        /* D: non-continuous monitors not complete */
} dd_obd_monitor_t;

void dd_obd_decode_monitor(const uint8_t raw[4], dd_obd_monitor_t *m);

/* Decodes "43/47/4A count dtc..." (ISO 15031-5, CAN format with the count byte). Errors as
 * dd_obd_parse_values, DD_EPROTO when the count does not match the length. */
int dd_obd_parse_dtcs(const uint8_t *resp, size_t len, uint16_t *codes, size_t cap, size_t *n);

/* Decodes "49 02 01" + 17 characters into a NUL-terminated VIN (not validated; see dd_vin). */
int dd_obd_parse_vin(const uint8_t *resp, size_t len, char vin[DD_VIN_SIZE]);
/* Decodes "49 04 n" + n * 16 bytes; trailing 0x00 padding is removed from each CALID. */
int dd_obd_parse_calids(const uint8_t *resp, size_t len, char ids[][DD_OBD_CALID_LEN + 1],
                        size_t cap, size_t *n);
/* Decodes "49 06 n" + n * 4 bytes. */
int dd_obd_parse_cvns(const uint8_t *resp, size_t len, uint32_t *cvns, size_t cap, size_t *n);
/* Decodes "49 0A 01" + 20 bytes: acronym (4, 0x00 padded), '-', text name (15, 0x00 padded). */
int dd_obd_parse_ecu_name(const uint8_t *resp, size_t len, char acronym[5], char text[16]);

#endif
