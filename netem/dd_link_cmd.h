/* dd_link_cmd: the command language of a netem link: parses the harness's JSON commands ("set",
 * "ramp", "outage", "restore", "counters", "get", "reset") into a checked dd_link_cmd_t, applies
 * a partial "set" onto dd_netem_params_t, and writes parameters back as JSON.
 *
 * Every error comes with one line of text that names the key, the value and the valid range
 * ("loss_pct: 140 is out of range 0..100"), and for a misspelt key or name the nearest valid
 * one ("unknown key \"dealy_ms\" for set (did you mean \"delay_ms\"?)"). Nothing here does I/O
 * or keeps state; the same text always gives the same result (the fuzz target relies on it).
 *
 * Keys and units (docs/NETEM.md has the full table):
 *   set      dir up|down|both (default both), delay_ms, jitter_ms (0..3600000),
 *            dist uniform|normal|pareto|paretonormal, corr_pct (delay correlation), rate_kbit
 *            (0 = unlimited), loss_pct, loss_corr_pct, gemodel {p, r, h, k} (percent; h and k
 *            are the delivery probabilities in the Bad and Good states, as in the
 *            Gilbert-Elliott literature, so tc's "1-h" is 100 - h), dup_pct, corrupt_pct,
 *            reorder_pct (0..100), gap (whole number), rto_ms (1..3600000, zmq links)
 *   ramp     dir, delay_ms_to (0..3600000), over_s (0..86400)
 *   outage   dir, for_s (0 < for_s <= 86400; absent = until "restore")
 *   restore, counters, get, reset: dir only */
#ifndef DD_LINK_CMD_H
#define DD_LINK_CMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dd_netem.h"

/* Directions a command addresses (a bit mask). "up" is client -> server. */
enum { DD_LINK_UP = 1u, DD_LINK_DOWN = 2u, DD_LINK_BOTH = 3u };

typedef enum {
  DD_LINK_CMD_SET = 0,  /* change parameters (partial update) */
  DD_LINK_CMD_RAMP,     /* move the delay linearly to a target */
  DD_LINK_CMD_OUTAGE,   /* take the link down */
  DD_LINK_CMD_RESTORE,  /* end an outage */
  DD_LINK_CMD_COUNTERS, /* report counters */
  DD_LINK_CMD_GET,      /* report parameters */
  DD_LINK_CMD_RESET,    /* back to the defaults (a clean link) */
  DD_LINK_CMD_COUNT
} dd_link_action_t;

/* Keys a "set" carries: bit i means key i of the set table was given. */
enum {
  DD_LINK_K_DELAY = 1u << 0,     /* delay_ms */
  DD_LINK_K_JITTER = 1u << 1,    /* jitter_ms */
  DD_LINK_K_DIST = 1u << 2,      /* dist */
  DD_LINK_K_CORR = 1u << 3,      /* corr_pct */
  DD_LINK_K_RATE = 1u << 4,      /* rate_kbit */
  DD_LINK_K_LOSS = 1u << 5,      /* loss_pct */
  DD_LINK_K_LOSS_CORR = 1u << 6, /* loss_corr_pct */
  DD_LINK_K_GEMODEL = 1u << 7,   /* gemodel */
  DD_LINK_K_DUP = 1u << 8,       /* dup_pct */
  DD_LINK_K_CORRUPT = 1u << 9,   /* corrupt_pct */
  DD_LINK_K_REORDER = 1u << 10,  /* reorder_pct */
  DD_LINK_K_GAP = 1u << 11,      /* gap */
  DD_LINK_K_RTO = 1u << 12,      /* rto_ms */
};

/* Sub-keys of "gemodel" that were given. */
enum {
  DD_LINK_GE_P = 1u << 0,
  DD_LINK_GE_R = 1u << 1,
  DD_LINK_GE_H = 1u << 2,
  DD_LINK_GE_K = 1u << 3
};

/* Limits (the core's, in the command's units). */
#define DD_LINK_MAX_MS 3600000.0      /* delay, jitter, rto: one hour */
#define DD_LINK_MAX_RAMP_S 86400.0    /* ramp duration: one day */
#define DD_LINK_MAX_OUTAGE_S 86400.0  /* timed outage: one day */
#define DD_LINK_MAX_KBIT 8000000000.0 /* rate: DD_NETEM_MAX_RATE bytes/s in kbit/s */
#define DD_LINK_ERR_MAX 320           /* error text buffer size that always suffices */

/* One parsed command. Values are already in the core's units (us, bytes/s, probabilities). */
typedef struct {
  dd_link_action_t action; /* what to do */
  unsigned dirs;           /* DD_LINK_UP | DD_LINK_DOWN */
  uint32_t keys;           /* set: DD_LINK_K_* given */
  uint32_t ge_keys;        /* set: DD_LINK_GE_* given inside gemodel */
  uint64_t delay_us;       /* set: delay_ms */
  uint64_t jitter_us;      /* set: jitter_ms */
  dd_netem_dist_t dist;    /* set: dist */
  double corr;             /* set: corr_pct / 100 */
  uint64_t rate;           /* set: rate_kbit in bytes/s (0 = unlimited) */
  double loss;             /* set: loss_pct / 100 */
  double loss_corr;        /* set: loss_corr_pct / 100 */
  double ge_p, ge_r;       /* set: gemodel p, r / 100 */
  double ge_h, ge_k;       /* set: gemodel h, k / 100 (delivery in Bad, Good) */
  double dup;              /* set: dup_pct / 100 */
  double corrupt;          /* set: corrupt_pct / 100 */
  double reorder;          /* set: reorder_pct / 100 */
  uint32_t gap;            /* set: gap */
  uint64_t rto_us;         /* set: rto_ms */
  uint64_t ramp_to_us;     /* ramp: delay_ms_to */
  uint64_t ramp_us;        /* ramp: over_s */
  uint64_t outage_us;      /* outage: for_s, DD_NETEM_NEVER = until restored */
} dd_link_cmd_t;

/* Parse action (e.g. "set") with its arguments, a JSON object of len bytes (NULL or empty means
 * {}). 0, or DD_EINVAL with one line in err (cap bytes; DD_LINK_ERR_MAX always suffices). */
int dd_link_cmd_parse(const char *action, const char *json, size_t len, dd_link_cmd_t *out,
                      char *err, size_t cap);

/* Apply a parsed "set" onto *p, the parameters of a direction of kind kind: only the given keys
 * change. A zmq (STREAM) link refuses non-zero dup_pct, corrupt_pct and reorder_pct (ZeroMQ over
 * TCP never duplicates, corrupts or reorders a message); rto_ms only means something there but
 * is accepted on both. On error *p is unchanged: DD_EINVAL with err. */
int dd_link_cmd_apply(const dd_link_cmd_t *cmd, dd_netem_kind_t kind, dd_netem_params_t *p,
                      char *err, size_t cap);

/* The parameters as a JSON object in the command's keys and units (what "get" returns and what
 * a "set" with the same text restores). malloc'd text, NULL when out of memory. */
char *dd_link_params_json(const dd_netem_params_t *p);
/* The same as a jansson object (new reference), NULL when out of memory. */
struct json_t *dd_link_params_object(const dd_netem_params_t *p);

const char *dd_link_action_name(dd_link_action_t a); /* "set", "ramp", ... */
const char *dd_link_dir_name(unsigned dirs);         /* "up", "down", "both" */

/* The valid word nearest to word (edit distance with transpositions, at most a third of the
 * word's length, 2 at least; else the first valid word that word begins, for words of 3
 * characters or more), or NULL. Used for every "did you mean". */
const char *dd_link_cmd_nearest(const char *word, const char *const *valid, size_t n);

#endif
