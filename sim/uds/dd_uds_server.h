/* dd_uds_server: an ECU's UDS (ISO 14229-1:2013/2020) diagnostic application as a sans-I/O
 * state machine: whole request messages and "now" in; responses, deadlines and events out;
 * sessions, security access, DIDs, routines, IO controls, DTCs and the reflash services, with
 * fault injection for the harness. One instance per ECU. */
#ifndef DD_UDS_SERVER_H
#define DD_UDS_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dd_dtc.h"
#include "dd_flash.h"
#include "dd_uds.h"

/* Preconditions checked against the vehicle conditions callback; the first failing one gives
 * its NRC (ISO 14229-1:2013 annex A, the 0x8x/0x9x "conditions" range). */
enum {
  DD_UDS_PRE_STANDSTILL = 0x01,     /* speed <= standstill_kmh, else 0x88 vehicleSpeedTooHigh */
  DD_UDS_PRE_ENGINE_OFF = 0x02,     /* engine stopped, else 0x83 engineIsRunning */
  DD_UDS_PRE_ENGINE_RUNNING = 0x04, /* engine running, else 0x84 engineIsNotRunning */
  DD_UDS_PRE_VOLTAGE = 0x08,        /* battery within limits, else 0x92 / 0x93 */
};

typedef struct {
  double speed_kmh;    /* vehicle speed */
  bool engine_running; /* engine turning */
  double battery_v;    /* supply voltage */
} dd_uds_vehicle_t;

/* One service the server offers (ISO 14229-1:2013 9.2.1, table 23: services per session). */
typedef struct {
  uint8_t sid;       /* service id */
  uint32_t sessions; /* sessions where it is allowed (DD_UDS_SESS_* bits) */
  uint64_t security; /* levels that unlock it (DD_UDS_SEC bits; 0: no security needed) */
} dd_uds_service_t;

/* Live DID read: write the value (at most cap bytes) to out and its length to *len. Returns
 * 0, or an NRC (e.g. 0x22) to refuse. */
typedef int (*dd_uds_did_read_fn)(void *user, uint16_t did, uint8_t *out, size_t cap, size_t *len,
                                  uint64_t now);
/* DID write hook: validate and take the new value. Returns 0 (the server stores it), or an
 * NRC (0x31 data invalid, 0x22, 0x72 ...). */
typedef int (*dd_uds_did_write_fn)(void *user, uint16_t did, const uint8_t *data, size_t len,
                                   uint64_t now);

typedef struct {
  uint16_t id;               /* data identifier */
  const uint8_t *data;       /* value (copied; kept and updated by writes) */
  size_t len;                /* its length */
  size_t max_len;            /* writes of 1..max_len bytes accepted (0: exactly len) */
  uint32_t read_sessions;    /* sessions where readable (0: all) */
  uint64_t read_security;    /* levels needed to read (0: none) */
  uint32_t write_sessions;   /* sessions where writable (0: not writable) */
  uint64_t write_security;   /* levels needed to write (0: none) */
  dd_uds_did_read_fn read;   /* live DID: supplies the bytes at read time (NULL: data) */
  dd_uds_did_write_fn write; /* optional write hook */
  void *user;                /* passed to read and write */
} dd_uds_did_t;

/* A routine or IO control call. The callback fills out/out_len (routineStatusRecord, resp.
 * controlStatusRecord after the echoed parameter) and may set ready_at later than now for
 * slow work: the server then answers at ready_at, with 0x78 first when that is beyond P2. */
typedef struct {
  uint16_t id;         /* routine identifier or IO DID */
  uint8_t op;          /* routineControlType 1-3, or inputOutputControlParameter 0-3 */
  const uint8_t *in;   /* routineControlOptionRecord, resp. controlState (NULL when none) */
  size_t in_len;       /* its length */
  const uint8_t *mask; /* IO: controlEnableMaskRecord (NULL when none) */
  size_t mask_len;     /* its length */
  uint8_t *out;        /* where the status record goes */
  size_t out_cap;      /* room there */
  size_t out_len;      /* set by the callback (0 on entry) */
  uint64_t now;        /* time of the request */
  uint64_t ready_at;   /* when the result is ready (now on entry) */
} dd_uds_call_t;

/* Returns 0 (positive response) or an NRC. */
typedef int (*dd_uds_call_fn)(void *user, dd_uds_call_t *call);

typedef struct {
  uint16_t id;           /* routine identifier */
  uint32_t sessions;     /* sessions where it is supported (0: all where 0x31 is allowed) */
  uint64_t security;     /* levels needed (0: none) */
  uint8_t preconditions; /* DD_UDS_PRE_* checked before each call */
  uint8_t ops;           /* supported routineControlTypes: bit n = type n (0: start only) */
  dd_uds_call_fn fn;     /* the routine (NULL: answers with an empty status record) */
  void *user;            /* passed to fn */
} dd_uds_routine_t;

typedef struct {
  uint16_t did;          /* the IO's data identifier */
  uint32_t sessions;     /* sessions where it is supported (0: all where 0x2F is allowed) */
  uint64_t security;     /* levels needed (0: none) */
  uint8_t preconditions; /* DD_UDS_PRE_* checked before each call */
  uint8_t params;        /* supported inputOutputControlParameters: bit n = value n (0: all 4) */
  size_t state_len;      /* controlState bytes of shortTermAdjustment (03) */
  size_t mask_len;       /* controlEnableMaskRecord bytes (0: none) */
  dd_uds_call_fn fn;     /* the actuator (NULL: echoes the control state) */
  void *user;            /* passed to fn */
} dd_uds_io_t;

/* Seed-to-key function: write key_len key bytes for the seed. Returns 0. */
typedef int (*dd_uds_key_fn)(void *user, uint8_t level, const uint8_t *seed, size_t seed_len,
                             uint8_t *key, size_t key_len);

typedef struct {
  uint8_t level;        /* requestSeed sub-function (odd 0x01-0x7D); sendKey is level + 1 */
  uint8_t seed_len;     /* seed bytes 1-16 (0 -> 4) */
  uint8_t key_len;      /* key bytes 1-16 (0 -> seed_len) */
  uint32_t sessions;    /* sessions where it may be unlocked (0: every non-default one) */
  uint8_t max_attempts; /* invalid keys that trigger 0x36 and the delay (0 -> 3) */
  uint64_t delay_us;    /* requiredTimeDelay after that (0 -> 10 s) */
  uint32_t secret;      /* constant of the toy algorithm (dd_uds_toy_key) */
  dd_uds_key_fn key;    /* the ECU's algorithm (NULL: dd_uds_toy_key with secret) */
  void *user;           /* passed to key */
} dd_uds_security_t;

/* Injected faults (for the harness; applied to requests whose first bytes match). */
typedef enum {
  DD_UDS_FAULT_NRC = 1,         /* answer 7F SID nrc without processing the request */
  DD_UDS_FAULT_DELAY,           /* process, then hold the response(s) delay_us longer */
  DD_UDS_FAULT_DROP,            /* process, send nothing (the response is "lost") */
  DD_UDS_FAULT_IGNORE,          /* do not even process (the request is "lost") */
  DD_UDS_FAULT_PENDING_FOREVER, /* answer 7F SID 78 again and again, never the result */
  DD_UDS_FAULT_SLOW,            /* process, but the result is ready delay_us later (0x78s) */
} dd_uds_fault_kind_t;

#define DD_UDS_FAULT_MATCH_MAX 8u /* request prefix bytes a fault can match */
#define DD_UDS_FAULTS_MAX 8u      /* faults active at once */

typedef struct {
  dd_uds_fault_kind_t kind;              /* what to do */
  uint8_t match[DD_UDS_FAULT_MATCH_MAX]; /* request prefix to match (e.g. 36, or 31 01 FF 00) */
  uint8_t match_len;                     /* its length (0: every request) */
  uint32_t skip;                         /* matching requests let through before it applies */
  uint32_t count;                        /* requests it applies to (0: all, i.e. "always") */
  uint8_t nrc;                           /* DD_UDS_FAULT_NRC: the code */
  uint64_t delay_us;                     /* DD_UDS_FAULT_DELAY / _SLOW: the extra time */
} dd_uds_fault_t;

/* Events for the timeline. */
typedef enum {
  DD_UDS_EV_SESSION = 1, /* session changed: a = old, b = new */
  DD_UDS_EV_SECURITY,    /* a level unlocked (a = level) or security relocked (a = 0) */
  DD_UDS_EV_LOCKOUT,     /* too many invalid keys: a = level; the delay timer runs */
  DD_UDS_EV_S3_TIMEOUT,  /* S3server expired: back to the default session, b = new session */
  DD_UDS_EV_RESET,       /* ECUReset performed (a = type) or power-on (a = 0); b = 1 bootloader */
  DD_UDS_EV_PENDING,     /* 7F a 78 sent (responsePending), b = how many for this request */
  DD_UDS_EV_FAULT,       /* an injected fault applied: a = kind, b = SID */
  DD_UDS_EV_BUSY,        /* a request was refused with 0x21 during slow work: a = SID */
} dd_uds_server_ev_kind_t;

typedef struct {
  dd_uds_server_ev_kind_t kind; /* what happened */
  uint8_t a;                    /* see the kind */
  uint8_t b;                    /* see the kind */
  uint64_t time_us;             /* when */
} dd_uds_server_event_t;

const char *dd_uds_server_event_name(dd_uds_server_ev_kind_t kind);

typedef struct {
  uint32_t sessions;      /* supported diagnostic sessions (0 -> default|programming|extended) */
  bool prog_from_default; /* 10 02 accepted in the default session (else 0x7E there) */
  uint8_t prog_preconditions;  /* DD_UDS_PRE_* checked before entering the programming session */
  uint8_t flash_preconditions; /* DD_UDS_PRE_* checked before erase, download and transfer */
  uint64_t flash_security;     /* levels needed for the built-in routines FF00/FF01 */
  uint8_t reset_types;         /* supported ECUReset types: bit n = type n (0 -> 01, 02, 03) */
  uint64_t reset_us;           /* after an ECUReset the server hears nothing for this long */
  uint64_t p2_us;              /* P2server_max, reported in 0x50 responses */
  uint64_t p2x_us;             /* P2*server_max, reported in 0x50 responses */
  uint64_t p2_margin_us;       /* work ending later than P2 - margin gets a 0x78 first */
  uint64_t p2x_margin_us;      /* a 0x78 is repeated every P2* - margin */
  uint64_t s3_us;              /* S3server */
  size_t max_response;         /* largest response the transport takes (0 -> 4095) */
  size_t max_request;          /* largest request the transport takes (0 -> 4095); bounds the
                                  maxNumberOfBlockLength the server announces */
  size_t max_dids_per_read;    /* DIDs in one 0x22 request (0 -> 32); more is 0x13 */
  double standstill_kmh;       /* DD_UDS_PRE_STANDSTILL: highest speed counted as standing */
  double voltage_min_v;        /* DD_UDS_PRE_VOLTAGE: below is 0x93 voltageTooLow */
  double voltage_max_v;        /* DD_UDS_PRE_VOLTAGE: above is 0x92 voltageTooHigh */
  const dd_uds_service_t *services;  /* service table (NULL: dd_uds_server_default_services) */
  size_t n_services;                 /* entries of services */
  const dd_uds_did_t *dids;          /* data identifiers (copied) */
  size_t n_dids;                     /* entries of dids */
  const dd_uds_routine_t *routines;  /* routines (copied) */
  size_t n_routines;                 /* entries of routines */
  const dd_uds_io_t *ios;            /* IO controls (copied) */
  size_t n_ios;                      /* entries of ios */
  const dd_uds_security_t *security; /* security levels (copied) */
  size_t n_security;                 /* entries of security */
  dd_dtc_t *dtc;     /* DTC memory for 0x14/0x19/0x85 (not owned; NULL: those are 0x11) */
  dd_flash_t *flash; /* flash for 0x34/0x36/0x37, FF00/FF01, 0x23, F189/F195 (not owned) */
  uint64_t rng_seed; /* seed of the security-seed generator (deterministic runs) */
  /* Vehicle conditions for preconditions (NULL: standing, engine off, 12.6 V). Returns 0. */
  int (*vehicle)(void *user, dd_uds_vehicle_t *out);
  /* ReadMemoryByAddress source (NULL: the flash area, if any). Returns 0 or an NRC. */
  int (*read_memory)(void *user, uint32_t addr, uint32_t len, uint8_t *out, uint64_t now);
  /* ECUReset: called before the positive response; 0 accepts, an NRC (e.g. 0x22) refuses.
   * The server itself then restarts (default session, locked, flash booted). */
  int (*on_reset)(void *user, uint8_t type, uint64_t now);
  /* CommunicationControl: 0 accepts, an NRC refuses. Called with (0x00, 0x03) when the
   * default session returns (ISO 14229-1:2013 9.2.1). */
  int (*on_comm_control)(void *user, uint8_t control, uint8_t comm, uint64_t now);
  /* Optional event sink (timeline). */
  void (*on_event)(void *user, const dd_uds_server_event_t *ev);
  void *user; /* passed to vehicle, read_memory, on_reset, on_comm_control, on_event */
} dd_uds_server_cfg_t;

typedef struct dd_uds_server dd_uds_server_t;

/* The built-in service table (ISO 14229-1:2013 table 23 with the usual OEM split: 0x34/0x36/
 * 0x37 in the programming session behind any unlocked level). *n gets its length. */
const dd_uds_service_t *dd_uds_server_default_services(size_t *n);

/* Defaults: sessions 01/02/03, 10 02 allowed from default, programming preconditions
 * standstill + engine off + voltage, flash preconditions voltage, flash security any level,
 * resets 01/02/03 with 50 ms of deafness, P2 50 ms, P2* 5000 ms, margins 5 ms / 500 ms, S3
 * 5000 ms, 4095-byte messages, 32 DIDs per read, standstill 0.5 km/h, 12.0-16.0 V. */
void dd_uds_server_cfg_default(dd_uds_server_cfg_t *cfg);

/* A server powered on at now (the flash, if any, is booted: with no valid application the
 * server is a bootloader that stays in the programming session). NULL: invalid cfg (duplicate
 * ids, even security level, lengths over 16...) or memory short. */
dd_uds_server_t *dd_uds_server_new(const dd_uds_server_cfg_t *cfg, uint64_t now);
void dd_uds_server_destroy(dd_uds_server_t **self_p);

/* Handle one request (functional: it came to the functional address). Returns 1 when resp
 * holds a response to send now (*resp_len bytes), 0 when nothing is to be sent now (a
 * suppressed response, a functional NRC 0x11/0x12/0x31/0x7E/0x7F, or a response that
 * dd_uds_server_poll gives later), DD_ENOSPC when cap < 3. cap also bounds the response
 * (0x14 responseTooLong beyond it). */
int dd_uds_server_request(dd_uds_server_t *self, const uint8_t *req, size_t len, bool functional,
                          uint64_t now, uint8_t *resp, size_t cap, size_t *resp_len);

/* Run timers (S3, pending work, repeated 0x78) up to now. Returns 1 with a response to send
 * now, 0 when none; call until it returns 0, and again at dd_uds_server_next_deadline.
 * DD_ENOSPC when the due response does not fit cap (it stays due). */
int dd_uds_server_poll(dd_uds_server_t *self, uint64_t now, uint8_t *resp, size_t cap,
                       size_t *resp_len);

/* Absolute time poll must run next (UINT64_MAX: nothing pending). */
uint64_t dd_uds_server_next_deadline(const dd_uds_server_t *self);

/* Power-on reset at now (what the ECU model calls after a power cycle; 0x11 does it too):
 * pending work dropped, default session (bootloader: programming), security locked. */
void dd_uds_server_reset(dd_uds_server_t *self, uint64_t now);

/* Add a fault: 0, DD_EINVAL (bad kind or match_len, an NRC below 0x10 or 0x78),
 * DD_ENOSPC (DD_UDS_FAULTS_MAX). */
int dd_uds_server_inject(dd_uds_server_t *self, const dd_uds_fault_t *fault);
/* Remove every fault; a "pending forever" request ends silently. */
void dd_uds_server_clear_faults(dd_uds_server_t *self);

/* Replace a configured DID's value (the ECU model publishing new data). 0, DD_ENOENT,
 * DD_EMSGSIZE (longer than the DID's room). */
int dd_uds_server_set_did(dd_uds_server_t *self, uint16_t did, const uint8_t *data, size_t len);
/* Current stored value of a configured DID (not for live ones): 0 or DD_ENOENT. */
int dd_uds_server_get_did(const dd_uds_server_t *self, uint16_t did, const uint8_t **data,
                          size_t *len);

uint8_t dd_uds_server_session(const dd_uds_server_t *self);   /* active session */
uint8_t dd_uds_server_security(const dd_uds_server_t *self);  /* unlocked level (0: locked) */
bool dd_uds_server_busy(const dd_uds_server_t *self);         /* slow work or a held response */
bool dd_uds_server_bootloader(const dd_uds_server_t *self);   /* no valid application */
bool dd_uds_server_comm_enabled(const dd_uds_server_t *self); /* 0x28 left Tx of normal msgs on */

/* The documented toy seed-to-key algorithm (NOT security: for simulation only):
 * key[i] = seed[i] XOR byte (i mod 4) of secret, most significant first. With secret
 * 0xA55AF00F, seed 12 34 56 78 gives key B7 6E A6 77. key_len may differ from seed_len
 * (the seed repeats). */
void dd_uds_toy_key(uint32_t secret, const uint8_t *seed, size_t seed_len, uint8_t *key,
                    size_t key_len);

#endif
