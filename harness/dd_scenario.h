/* dd_scenario: scenario files (docs/SCENARIOS.md): the YAML loader and validator, and the
 * checked in-memory model an orchestrator runs: parties, links, the first device's settings,
 * terminals, timeline steps, expectations and background checks, one model per matrix variant.
 *
 * Loading reads the whole file, parses it with libfyaml's event parser into a tree that keeps
 * the line and column of every node, expands the matrix and substitutes ${params}, then builds
 * and checks each variant. Every problem becomes one diagnostic "FILE:LINE:COL: PATH: message"
 * (PATH like timeline[2].link.direct.delay) that says what is wrong and what would be right;
 * all problems of a file are reported, not only the first.
 *
 * The model is plain data: every string and array of a scenario lives in the scenario's own
 * arena and stays valid until dd_scenario_list_destroy(). Times are microseconds; "from the
 * run start" means from the orchestrator's t0. Model types use the short prefix dd_sc_. */
#ifndef DD_SCENARIO_H
#define DD_SCENARIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "dd_netem.h"

#define DD_SC_NONE UINT64_MAX          /* no time / no limit (unset within, open outage) */
#define DD_SC_MAX_FILE (1u << 20)      /* largest scenario file, bytes */
#define DD_SC_MAX_VARIANTS 1024u       /* matrix expansions of one file */
#define DD_SC_MAX_ERRORS 200u          /* diagnostics kept per file */

/* ---- diagnostics ------------------------------------------------------------------------- */

typedef struct {
  char *file; /* scenario file as given */
  int line;   /* 1-based; 0 when the problem has no place (unreadable file) */
  int col;    /* 1-based */
  char *msg;  /* "PATH: what is wrong (what would be right)" */
} dd_sc_diag_t;

typedef struct dd_sc_diags dd_sc_diags_t;

dd_sc_diags_t *dd_sc_diags_new(void);
void dd_sc_diags_destroy(dd_sc_diags_t **self_p);
size_t dd_sc_diags_count(const dd_sc_diags_t *self);
const dd_sc_diag_t *dd_sc_diags_get(const dd_sc_diags_t *self, size_t i);
/* "FILE:LINE:COL: message" per line, in file order. */
void dd_sc_diags_print(const dd_sc_diags_t *self, FILE *to);
void dd_sc_diags_clear(dd_sc_diags_t *self);

/* ---- common pieces ----------------------------------------------------------------------- */

typedef struct {
  const char *file; /* scenario file */
  int line;         /* 1-based */
  int col;          /* 1-based */
} dd_sc_loc_t;

typedef struct {
  const char *key;   /* name */
  const char *value; /* value as text */
} dd_sc_kv_t;

/* A scalar as written (after ${param} substitution), with the types it can be read as. */
typedef struct {
  const char *text; /* the text */
  bool quoted;      /* written quoted: only ever a string */
  bool is_int;      /* plain integer (decimal, 0x hex, 0o octal) */
  int64_t i;        /* its value */
  bool is_num;      /* plain number (integers included) */
  double num;       /* its value */
  bool is_bool;     /* plain true/false */
  bool b;           /* its value */
} dd_sc_value_t;

typedef enum {
  DD_SC_OP_EQ = 0, /* equal (the event field's type decides how to compare) */
  DD_SC_OP_NE,     /* not equal */
  DD_SC_OP_LT,     /* number below */
  DD_SC_OP_LE,     /* number at most */
  DD_SC_OP_GT,     /* number above */
  DD_SC_OP_GE,     /* number at least */
  DD_SC_OP_BETWEEN, /* number in [v[0], v[1]] */
  DD_SC_OP_IN,     /* equal to one of set */
  DD_SC_OP_REGEX,  /* string matches a POSIX extended regular expression (unanchored) */
  DD_SC_OP_COUNT
} dd_sc_op_t;

/* One condition on one field of an event. */
typedef struct {
  const char *field;         /* field name; NULL for a metric's bound */
  dd_sc_op_t op;             /* comparison */
  dd_sc_value_t v[2];        /* operand(s): v[0]; BETWEEN: v[0]..v[1]; REGEX: v[0].text */
  const dd_sc_value_t *set;  /* IN: the values */
  size_t n_set;              /* IN: how many */
  dd_sc_loc_t loc;           /* where it is written */
} dd_sc_matcher_t;

/* Which events: a kind, optionally one process, and conditions on fields (all must hold). */
typedef struct {
  const char *kind;             /* "family.what" */
  const char *proc;             /* process name, NULL: any */
  const dd_sc_matcher_t *match; /* field conditions */
  size_t n_match;               /* how many */
  dd_sc_loc_t loc;              /* where it is written */
} dd_sc_pattern_t;

typedef enum {
  DD_SC_REF_START = 0, /* a time from the run start: offset_us */
  DD_SC_REF_EVENT,     /* the nth event matching `event`, plus offset_us */
  DD_SC_REF_END,       /* the end of the run */
} dd_sc_ref_kind_t;

/* A point in time: "10s", "session.connected + 2s", {event: .., proc: .., nth: 2, delay: 1s}. */
typedef struct {
  dd_sc_ref_kind_t kind;  /* what it is relative to */
  uint64_t offset_us;     /* START: time from the run start; EVENT: delay after the event */
  dd_sc_pattern_t event;  /* EVENT: the event */
  uint32_t nth;           /* EVENT: which occurrence from the run start, 1 = first */
  dd_sc_loc_t loc;        /* where it is written */
} dd_sc_timeref_t;

/* ---- parties ----------------------------------------------------------------------------- */

typedef enum { DD_SC_SIM = 0, DD_SC_REAL } dd_sc_mode_t;

typedef enum {
  DD_SC_P_FIRST_DEVICE = 0, /* the first diagnostic device (VCI) */
  DD_SC_P_TERMINAL,         /* the target terminal(s) */
  DD_SC_P_SERVICE,          /* the service device */
  DD_SC_P_SECOND,           /* the second diagnostic device */
  DD_SC_P_RELAY,            /* the relay server */
  DD_SC_P_CLOUD,            /* the cloud server */
  DD_SC_P_BUS,              /* the CAN bus (virtual bus process or a SocketCAN interface) */
  DD_SC_P_ECUS,             /* the ECUs */
  DD_SC_P_COUNT
} dd_sc_party_id_t;

typedef struct {
  dd_sc_mode_t mode;            /* sim: spawned by the harness; real: hardware that registers */
  uint64_t register_timeout_us; /* how long to wait for Ready / registration (default 30 s) */
  const char *endpoint;         /* real: where it is reached; NULL: it connects to the harness */
  const dd_sc_kv_t *set;        /* extra settings: options of the party's process (--KEY VALUE) */
  size_t n_set;                 /* how many */
  bool declared;                /* written in the file (else all defaults) */
  dd_sc_loc_t loc;              /* where it is written */
} dd_sc_party_t;

typedef enum { DD_SC_BUS_VIRTUAL = 0, DD_SC_BUS_SOCKETCAN } dd_sc_bus_kind_t;

typedef struct {
  dd_sc_bus_kind_t kind; /* virtual bus process or a real SocketCAN interface */
  const char *iface;     /* SOCKETCAN: interface name (default "can0"); VIRTUAL: NULL */
  uint32_t bitrate;      /* nominal bit rate, bit/s (default 500000) */
  uint32_t dbitrate;     /* CAN FD data-phase bit rate, bit/s; 0: classic CAN */
  bool configure;        /* SOCKETCAN: set the bit rates through libsocketcan and start it */
  uint32_t restart_ms;   /* SOCKETCAN with configure: bus-off auto restart (0: off) */
} dd_sc_bus_t;

typedef struct {
  const char *const *real; /* ECUs that are real hardware while the mode is sim */
  size_t n_real;           /* how many */
} dd_sc_ecus_t;

/* ---- the first device, terminals ---------------------------------------------------------- */

typedef enum {
  DD_SC_POLICY_LATENCY = 0, /* S43-S45: relay above the threshold, direct below */
  DD_SC_POLICY_DIRECT,      /* always direct UDP */
  DD_SC_POLICY_RELAY,       /* always through the relay */
} dd_sc_policy_t;

typedef struct {
  uint64_t threshold_us;      /* S44: latency above which data goes to the relay (150 ms) */
  uint64_t hysteresis_us;     /* back to direct only below threshold - hysteresis (30 ms) */
  uint64_t hold_us;           /* ... continuously for this long (5 s) */
  uint64_t probe_interval_us; /* S43: latency probe period (100 ms) */
  dd_sc_policy_t policy;      /* path choice */
  int64_t fee_limit_minor;    /* S15: highest fee the owner accepts, minor units; -1: any */
  const dd_sc_kv_t *set;      /* extra settings: options of the simulated device (--KEY VALUE) */
  size_t n_set;               /* how many */
} dd_sc_first_device_t;

typedef struct {
  const char *id;          /* terminal id (the key in terminals:) */
  const char *name;        /* merchant display name (default: the id) */
  bool online;             /* listed as online at the start (S11) */
  bool accept;             /* accepts instant-communication requests (S13) */
  uint64_t answer_delay_us; /* technician's time to answer a request */
  int64_t fee_minor;       /* order fee (S14), minor units */
  dd_sc_loc_t loc;         /* where it is written */
} dd_sc_terminal_t;

/* ---- links ------------------------------------------------------------------------------- */

typedef enum { DD_SC_LINK_UDP = 0, DD_SC_LINK_ZMQ } dd_sc_link_kind_t;

typedef enum {
  DD_SC_L_DIRECT = 0,      /* first_device -> service, UDP: vehicle data, direct path (S45) */
  DD_SC_L_RELAY,           /* first_device -> relay: vehicle data, slow path (S44) */
  DD_SC_L_RELAY_SERVICE,   /* relay -> service: forwarded vehicle data (S44) */
  DD_SC_L_SERVICE,         /* first_device -> service: link set-up, acks, programs (S3, S401) */
  DD_SC_L_IM,              /* first_device -> terminal: session, orders, requests (S12-S17, S5) */
  DD_SC_L_CLOUD,           /* first_device -> cloud: registry, terminal list, payment (S102, S11) */
  DD_SC_L_TERMINAL_CLOUD,  /* terminal -> cloud: presence, ledger */
  DD_SC_L_SECOND,          /* second -> service: data reads, program upload (S4, S401) */
  DD_SC_L_COUNT
} dd_sc_link_id_t;

/* Directions as bits; "up" is from the link's client end to its server end. */
enum { DD_SC_UP = 1u, DD_SC_DOWN = 2u, DD_SC_BOTH = 3u };

/* Parameters a link operation sets (bits of dd_sc_netem_set_t.mask). */
enum {
  DD_SC_LF_DELAY = 1u << 0,     /* delay */
  DD_SC_LF_JITTER = 1u << 1,    /* jitter */
  DD_SC_LF_DIST = 1u << 2,      /* dist */
  DD_SC_LF_CORR = 1u << 3,      /* delay_corr */
  DD_SC_LF_RATE = 1u << 4,      /* rate */
  DD_SC_LF_LOSS = 1u << 5,      /* loss (random) */
  DD_SC_LF_LOSS_CORR = 1u << 6, /* loss_corr */
  DD_SC_LF_GEMODEL = 1u << 7,   /* gemodel */
  DD_SC_LF_DUP = 1u << 8,       /* dup */
  DD_SC_LF_CORRUPT = 1u << 9,   /* corrupt */
  DD_SC_LF_REORDER = 1u << 10,  /* reorder */
  DD_SC_LF_GAP = 1u << 11,      /* gap */
  DD_SC_LF_RTO = 1u << 12,      /* rto */
};

/* A partial parameter set, in the impairment core's units. */
typedef struct {
  uint32_t mask;      /* DD_SC_LF_* given */
  uint32_t ge_mask;   /* gemodel members given: 1 p, 2 r, 4 h, 8 k */
  uint64_t delay_us;  /* one-way delay */
  uint64_t jitter_us; /* delay spread */
  dd_netem_dist_t dist; /* delay distribution */
  double corr;        /* delay correlation, 0..1 */
  uint64_t rate;      /* bytes per second, 0 = unlimited */
  double loss;        /* random loss probability, 0..1 */
  double loss_corr;   /* its correlation, 0..1 */
  double ge_p, ge_r;  /* Gilbert-Elliott: Good->Bad, Bad->Good, 0..1 */
  double ge_h, ge_k;  /* Gilbert-Elliott: delivery probability in Bad, in Good, 0..1 */
  double dup;         /* duplication probability (udp) */
  double corrupt;     /* corruption probability (udp) */
  double reorder;     /* reorder probability (udp) */
  uint32_t gap;       /* reorder gap */
  uint64_t rto_us;    /* first retransmission timeout (zmq) */
} dd_sc_netem_set_t;

typedef enum {
  DD_SC_LOP_SET = 0,  /* change the parameters in mask */
  DD_SC_LOP_RAMP,     /* move the delay linearly to ramp_to_us over ramp_us */
  DD_SC_LOP_OUTAGE,   /* link down for outage_us (DD_SC_NONE: until restored) */
  DD_SC_LOP_RESTORE,  /* end the outage */
  DD_SC_LOP_RESET,    /* back to a clean link (the link process's defaults) */
  DD_SC_LOP_COUNT
} dd_sc_link_opkind_t;

/* One command for a link process, in the order given (docs/SCENARIOS.md, "links"). */
typedef struct {
  dd_sc_link_opkind_t op; /* what to do */
  unsigned dirs;          /* DD_SC_UP | DD_SC_DOWN */
  dd_sc_netem_set_t set;  /* SET: the parameters */
  uint64_t ramp_to_us;    /* RAMP: target delay */
  uint64_t ramp_us;       /* RAMP: duration */
  uint64_t outage_us;     /* OUTAGE: duration, DD_SC_NONE until restored */
} dd_sc_link_op_t;

typedef struct {
  const char *name;          /* "direct", "relay", ... */
  dd_sc_link_id_t id;        /* which link */
  dd_sc_link_kind_t kind;    /* udp or zmq */
  const char *client;        /* party at the "up" end's start ("first_device") */
  const char *server;        /* party at its other end ("service") */
  bool declared;             /* written under links: (steps may change only declared links) */
  dd_netem_params_t params[2]; /* parameters at the start: [0] up, [1] down */
  const dd_sc_link_op_t *init; /* the SET commands that give those parameters to a clean link */
  size_t n_init;             /* how many (0 for an undeclared link) */
  dd_sc_loc_t loc;           /* where it is written */
} dd_sc_link_t;

/* ---- timeline steps ---------------------------------------------------------------------- */

typedef enum {
  DD_SC_ACT_LINK = 0, /* change links */
  DD_SC_ACT_ECU,      /* inject an ECU fault or change the vehicle's state */
  DD_SC_ACT_KILL,     /* kill a process */
  DD_SC_ACT_RESTART,  /* restart a process */
  DD_SC_ACT_SESSION,  /* owner and technician: S11-S17 */
  DD_SC_ACT_TERMINAL, /* the terminal asks for vehicle data: S41 */
  DD_SC_ACT_CONTROL,  /* the terminal sends a control signal: S5 */
  DD_SC_ACT_PROGRAM,  /* the second device makes programming data: S401 */
  DD_SC_ACT_DIAGNOSE, /* the owner runs the local diagnosis: S101-S104 */
  DD_SC_ACT_MARK,     /* write a scenario.mark event */
  DD_SC_ACT_STOP,     /* end the run */
  DD_SC_ACT_COUNT
} dd_sc_action_t;

typedef struct {
  dd_sc_link_id_t link;      /* which link */
  const char *name;          /* its name */
  const dd_sc_link_op_t *ops; /* commands, in order */
  size_t n_ops;              /* how many */
  dd_sc_loc_t loc;           /* where it is written */
} dd_sc_link_change_t;

typedef enum {
  DD_SC_FAULT_SET_DTC = 0,      /* store a DTC */
  DD_SC_FAULT_CLEAR_DTC,        /* remove one DTC, or all (dtc = 0xFFFFFF) */
  DD_SC_FAULT_DELAY,            /* answer later by duration_us */
  DD_SC_FAULT_DROP,             /* do not answer, with probability */
  DD_SC_FAULT_FORCE_NRC,        /* answer with a negative response code */
  DD_SC_FAULT_PENDING_FOREVER,  /* answer 0x78 (response pending) and never finish */
  DD_SC_FAULT_POWER_CYCLE,      /* power off for duration_us, then on */
  DD_SC_FAULT_POWER_CUT_FLASH,  /* cut power when a reflash reaches percent */
  DD_SC_FAULT_SPEED,            /* set the vehicle speed (km/h) */
  DD_SC_FAULT_CLEAR,            /* remove every injected fault of the ECU */
  DD_SC_FAULT_ENGINE,           /* switch the engine on or off (the vehicle, no target) */
  DD_SC_FAULT_COUNT
} dd_sc_fault_kind_t;

typedef struct {
  const char *ecu;          /* target ECU name as in the vehicle file */
  dd_sc_fault_kind_t kind;  /* what to inject */
  uint32_t dtc;             /* SET/CLEAR_DTC: 3-byte DTC (code << 8 | failure type) */
  const char *dtc_text;     /* its text, "P0301" or "P0301-1F"; "all" for CLEAR_DTC of all */
  uint8_t status;           /* SET_DTC: ISO 14229-1 D.2 status byte (default 0x2F) */
  int service;              /* DELAY/DROP/FORCE_NRC/PENDING_FOREVER: SID, -1 = every service */
  uint8_t nrc;              /* FORCE_NRC: negative response code */
  uint32_t count;           /* DROP/FORCE_NRC: responses affected, 0 = until cleared */
  double probability;       /* DROP: 0..1 */
  uint64_t duration_us;     /* DELAY: added delay; POWER_CYCLE: time off */
  double percent;           /* POWER_CUT_FLASH: transfer progress at the cut, 0..100 */
  double speed_kmh;         /* SPEED */
  bool engine_on;           /* ENGINE: on (true) or off */
} dd_sc_fault_t;

typedef struct {
  const char *proc;   /* process: a party name or "ecu.NAME" */
  int signal;         /* KILL: signal number (default SIGKILL) */
  uint64_t down_us;   /* RESTART: time between stop and start (default 0) */
} dd_sc_proc_action_t;

typedef enum { DD_SC_MEDIA_VOICE = 0, DD_SC_MEDIA_VIDEO } dd_sc_media_t;

typedef struct {
  const char *terminal; /* target terminal id (S12) */
  dd_sc_media_t media;  /* instant-communication request (S13) */
  bool accept;          /* the terminal accepts (S13; default: the terminal's setting) */
  int64_t fee_minor;    /* the order's fee (S14; default: the terminal's fee) */
  bool pay;             /* the owner goes ahead and pays (S15-S16) */
  int64_t amount_minor; /* amount paid (default: the fee) */
  bool close;           /* close the session window instead of opening one */
  const char *reason;   /* close: reason text */
} dd_sc_session_t;

typedef enum {
  DD_SC_REQ_LIVE_DATA = 0, /* OBD-II PIDs sampled at rate_hz */
  DD_SC_REQ_DTCS,          /* stored/pending/permanent DTCs */
  DD_SC_REQ_DIDS,          /* UDS data identifiers */
  DD_SC_REQ_FREEZE_FRAME,  /* freeze-frame data */
  DD_SC_REQ_HISTORY,       /* the first device's diagnosis history */
  DD_SC_REQ_VIN_INFO,      /* VIN and registry info */
  DD_SC_REQ_COUNT
} dd_sc_request_kind_t;

typedef struct {
  const char *terminal;        /* asking terminal (default: the first one) */
  dd_sc_request_kind_t kind;   /* what is asked for */
  const uint32_t *items;       /* PIDs (0..0xFF) or DIDs (0..0xFFFF) */
  size_t n_items;              /* how many */
  const char *ecu;             /* ECU by name, NULL: by ecu_id */
  uint32_t ecu_id;             /* request CAN id; 0: default/functional */
  double rate_hz;              /* LIVE_DATA: samples per second (0: once) */
  uint32_t count;              /* LIVE_DATA: samples, 0: until stopped */
} dd_sc_request_t;

typedef enum {
  DD_SC_CTL_READ_DTCS = 0, /* in the order of ControlSignal.Action (wire value = this + 1) */
  DD_SC_CTL_CLEAR_DTCS,
  DD_SC_CTL_READ_DIDS,
  DD_SC_CTL_READ_PIDS,
  DD_SC_CTL_STREAM_PIDS,
  DD_SC_CTL_STOP_STREAM,
  DD_SC_CTL_IO_CONTROL,
  DD_SC_CTL_ROUTINE,
  DD_SC_CTL_ECU_RESET,
  DD_SC_CTL_START_REFLASH,
  DD_SC_CTL_COUNT
} dd_sc_control_action_t;

typedef struct {
  const char *terminal;          /* sending terminal (default: the first one) */
  dd_sc_control_action_t action; /* what to do */
  const char *ecu;               /* ECU by name, NULL: by ecu_id */
  uint32_t ecu_id;               /* request CAN id; 0: default/functional */
  const uint32_t *ids;           /* PIDs, DIDs or the routine id */
  size_t n_ids;                  /* how many */
  double rate_hz;                /* STREAM_PIDS */
  const uint8_t *args;           /* action-specific bytes (see docs/SCENARIOS.md) */
  size_t n_args;                 /* how many */
  const char *package;           /* START_REFLASH: package id of a program step */
} dd_sc_control_t;

typedef enum { DD_SC_SIGN_GOOD = 0, DD_SC_SIGN_NONE, DD_SC_SIGN_BAD } dd_sc_sign_t;

typedef struct {
  const char *image;      /* image file as written */
  const char *image_path; /* resolved path (NULL when file checks are off and not found) */
  const char *format;     /* "ihex" or "srec" */
  const char *target;     /* ECU to program */
  const char *version;    /* software version the package installs */
  const char *package;    /* package id (default "pkg-N", N the step index) */
  dd_sc_sign_t signature; /* signed correctly, unsigned, or with a bad signature */
  const char *hw_part;    /* hardware part number the package is for (NULL: the target's own) */
  bool auto_start;        /* reflash on receipt (S402) or wait for control start_reflash */
} dd_sc_program_t;

typedef struct {
  size_t index;            /* position in the timeline */
  const char *name;        /* label (NULL: none) */
  dd_sc_timeref_t when;    /* START (at:) or EVENT (after:) */
  dd_sc_action_t action;   /* which member below */
  union {
    struct {
      const dd_sc_link_change_t *changes; /* LINK: one per link named */
      size_t n_changes;                   /* how many */
    } link;
    dd_sc_fault_t fault;        /* ECU */
    dd_sc_proc_action_t proc;   /* KILL, RESTART */
    dd_sc_session_t session;    /* SESSION */
    dd_sc_request_t request;    /* TERMINAL */
    dd_sc_control_t control;    /* CONTROL */
    dd_sc_program_t program;    /* PROGRAM */
    const char *mark;           /* MARK: the mark's name */
    const char *stop_reason;    /* STOP: reason (default "scenario stop") */
  };
  dd_sc_loc_t loc;         /* where it is written */
} dd_sc_step_t;

/* ---- expectations and checks ------------------------------------------------------------- */

typedef enum {
  DD_SC_EX_EVENT = 0, /* an event in a time window */
  DD_SC_EX_NEVER,     /* no such event in a time window */
  DD_SC_EX_ORDER,     /* first occurrences in this order */
  DD_SC_EX_COUNT,     /* how many in a window */
  DD_SC_EX_METRIC,    /* a statistic of a field over a window */
  DD_SC_EX_FINAL,     /* the last such event satisfies conditions */
  DD_SC_EX_COUNT_KINDS
} dd_sc_expect_kind_t;

typedef enum {
  DD_SC_STAT_MIN = 0, DD_SC_STAT_MAX, DD_SC_STAT_MEAN, DD_SC_STAT_SUM, DD_SC_STAT_FIRST,
  DD_SC_STAT_LAST, DD_SC_STAT_COUNT, DD_SC_STAT_PCT, /* PCT: percentile pct (p50, p90, p99...) */
  DD_SC_STAT_KINDS
} dd_sc_stat_t;

typedef struct {
  size_t index;                 /* position in expect: */
  const char *name;             /* label (given, or made from the expectation) */
  dd_sc_expect_kind_t kind;     /* which fields below apply */
  dd_sc_pattern_t event;        /* EVENT, NEVER, COUNT, METRIC, FINAL: which events */
  dd_sc_timeref_t from;         /* EVENT: after; others: between[0] (default START 0) */
  dd_sc_timeref_t to;           /* NEVER, COUNT, METRIC, FINAL: between[1] (default END) */
  uint64_t within_us;           /* EVENT: deadline after `from`; ORDER: first to last; or NONE */
  uint64_t not_before_us;       /* EVENT: earliest, after `from` (0) */
  uint64_t tolerance_us;        /* EVENT: widens [not_before, within] on both sides (0) */
  const dd_sc_pattern_t *order; /* ORDER: the items */
  size_t n_order;               /* ORDER: how many */
  uint64_t min;                 /* COUNT: at least (0) */
  uint64_t max;                 /* COUNT: at most (DD_SC_NONE: no limit) */
  const char *field;            /* METRIC: the numeric field */
  dd_sc_stat_t stat;            /* METRIC: statistic */
  double pct;                   /* METRIC PCT: percentile, 0 < pct <= 100 */
  const dd_sc_matcher_t *bounds; /* METRIC: conditions on the statistic (field NULL) */
  size_t n_bounds;              /* METRIC: how many */
  dd_sc_loc_t loc;              /* where it is written */
} dd_sc_expect_t;

typedef enum {
  DD_SC_CHECK_VEHICLE_RECORDS = 0,   /* records lost / duplicated / out of order */
  DD_SC_CHECK_CONTROL_UNPAID,        /* control_outside_paid_session */
  DD_SC_CHECK_ECU_NO_APP,            /* ecu_without_valid_app */
  DD_SC_CHECK_DOUBLE_CHARGE,         /* double_charge */
  DD_SC_CHECK_PROCESS_FAILURES,      /* process_failures */
  DD_SC_CHECK_COUNT
} dd_sc_check_id_t;

typedef struct {
  dd_sc_check_id_t id; /* which check */
  const char *name;    /* its name in the file ("vehicle_records") */
  bool enabled;        /* evaluated (all are by default; "off" disables) */
  uint64_t limit[3];   /* allowed counts; VEHICLE_RECORDS: lost, duplicated, out_of_order */
  bool declared;       /* written in the file */
  dd_sc_loc_t loc;     /* where it is written */
} dd_sc_check_t;

/* ---- the scenario ------------------------------------------------------------------------ */

typedef enum { DD_SC_CLOCK_REALTIME = 0, DD_SC_CLOCK_VIRTUAL } dd_sc_clock_t;

typedef struct dd_sc_arena dd_sc_arena_t;

typedef struct {
  const char *file;            /* scenario file as given */
  const char *dir;             /* its folder (for relative paths) */
  const char *base_name;       /* name: as written */
  const char *name;            /* base_name, plus "[k=v,k=v]" for a matrix variant */
  const char *slug;            /* name made safe for a folder name, unique among variants */
  const char *description;     /* free text, NULL if none */
  const char *const *tags;     /* tags */
  size_t n_tags;               /* how many */
  uint64_t seed;               /* random seed (default 1) */
  bool seed_given;             /* seed: written in the file */
  dd_sc_clock_t clock;         /* realtime (default) or virtual */
  uint64_t timeout_us;         /* hard limit on the run (default 10 min) */
  const char *currency;        /* ISO 4217 code of every amount (default "CNY") */
  const dd_sc_kv_t *params;    /* params in force (matrix values and overrides included) */
  size_t n_params;             /* how many */
  const dd_sc_kv_t *variant;   /* this variant's matrix values, in matrix order */
  size_t n_variant;            /* how many (0: no matrix) */
  const char *vehicle;         /* vehicle file as written, NULL: the orchestrator's default */
  const char *vehicle_path;    /* resolved path (NULL when not found and checks are off) */
  const char *vehicle_inline;  /* an inline vehicle: YAML text (lines and columns as in the
                                  scenario file, the rest blank), NULL: a file or the default */
  dd_sc_party_t parties[DD_SC_P_COUNT]; /* every party, declared or default */
  dd_sc_bus_t bus;             /* the CAN bus */
  dd_sc_ecus_t ecus;           /* which ECUs are real */
  dd_sc_first_device_t first_device; /* the device's settings */
  const dd_sc_terminal_t *terminals; /* terminals (default: one, "shop-1") */
  size_t n_terminals;          /* how many */
  dd_sc_link_t links[DD_SC_L_COUNT]; /* every link, declared or default */
  const dd_sc_step_t *steps;   /* the timeline, in file order */
  size_t n_steps;              /* how many */
  const dd_sc_expect_t *expects; /* expectations, in file order */
  size_t n_expects;            /* how many */
  dd_sc_check_t checks[DD_SC_CHECK_COUNT]; /* background checks */
  dd_sc_arena_t *arena;        /* owns everything above */
} dd_scenario_t;

typedef struct dd_scenario_list dd_scenario_list_t;

typedef struct {
  const char *root;                /* repository root for paths (NULL: $DD_SOURCE_DIR, else the
                                    * source tree of the build, else ".") */
  bool no_file_checks;             /* do not require vehicle and image files to exist */
  const char *const *overrides;    /* "name=value": replace a param or pin a matrix axis */
  size_t n_overrides;              /* how many */
} dd_scenario_opts_t;

/* Load and check one file (opts may be NULL). 0 with *out (one scenario per matrix variant);
 * DD_ESCENARIO when the file has problems (each one in diags, *out NULL); DD_ENOMEM. A missing
 * or unreadable file is DD_ESCENARIO with one diagnostic. diags may be NULL. */
int dd_scenario_load_file(const char *path, const dd_scenario_opts_t *opts,
                          dd_scenario_list_t **out, dd_sc_diags_t *diags);
/* The same from memory; file names the text in diagnostics and anchors relative paths. */
int dd_scenario_load_mem(const char *file, const char *text, size_t len,
                         const dd_scenario_opts_t *opts, dd_scenario_list_t **out,
                         dd_sc_diags_t *diags);

size_t dd_scenario_list_count(const dd_scenario_list_t *self);
const dd_scenario_t *dd_scenario_list_get(const dd_scenario_list_t *self, size_t i);
void dd_scenario_list_destroy(dd_scenario_list_t **self_p);

/* ---- helpers for the orchestrator --------------------------------------------------------- */

const char *dd_sc_party_name(dd_sc_party_id_t p);      /* "first_device", ... */
const char *dd_sc_link_name(dd_sc_link_id_t l);        /* "direct", ... */
const char *dd_sc_action_name(dd_sc_action_t a);       /* "link", "ecu", ... */
const char *dd_sc_fault_name(dd_sc_fault_kind_t f);    /* "set_dtc", ... */
const char *dd_sc_request_name(dd_sc_request_kind_t r); /* "live_data", ... */
const char *dd_sc_control_name(dd_sc_control_action_t c); /* "read_dtcs", ... */
const char *dd_sc_expect_kind_name(dd_sc_expect_kind_t k); /* "event", "never", ... */
const char *dd_sc_stat_name(dd_sc_stat_t s);           /* "max", ...; "p" for PCT */
const char *dd_sc_op_name(dd_sc_op_t op);              /* "eq", "lt", ... */
const char *dd_sc_check_name(dd_sc_check_id_t c);      /* "vehicle_records", ... */
const char *dd_sc_link_op_name(dd_sc_link_opkind_t op); /* "set", "ramp", ... (link commands) */

/* The arguments of a link command as a JSON object text in the link process's command language
 * (netem/dd_link_cmd.h: delay_ms, loss_pct, ...; "dir" included). malloc'd; NULL when out of
 * memory. Send it with the action dd_sc_link_op_name(op->op). */
char *dd_sc_link_op_json(const dd_sc_link_op_t *op);

/* Apply a SET's parameters onto p (only those in mask), as the link process does; other ops
 * leave p as it is. */
void dd_sc_netem_apply(const dd_sc_netem_set_t *set, dd_netem_params_t *p);

/* The step's action arguments as a JSON object text (what an ACTION command carries), e.g.
 * {"terminal":"shop-1","accept":true,"fee_minor":3000,...}. malloc'd; NULL when out of memory.
 * LINK steps: {"links":[{"link":"direct","ops":[{"op":"set","args":{...}}]}]}. */
char *dd_sc_step_json(const dd_scenario_t *sc, const dd_sc_step_t *step);

/* A description of a pattern for messages: "transport.switched -> relay",
 * "vehicle.record_delivered proc=service path=relay". */
void dd_sc_pattern_describe(const dd_sc_pattern_t *p, char *buf, size_t cap);

#endif
