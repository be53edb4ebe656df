/* dd_link_cmd: parsing, checking and applying netem link commands (language in dd_link_cmd.h). */
#include "dd_link_cmd.h"

#include <assert.h>
#include <ctype.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_err.h"

#define S_N(a) (sizeof(a) / sizeof((a)[0]))

static const char *const s_action_names[DD_LINK_CMD_COUNT] = {
    [DD_LINK_CMD_SET] = "set",           [DD_LINK_CMD_RAMP] = "ramp",
    [DD_LINK_CMD_OUTAGE] = "outage",     [DD_LINK_CMD_RESTORE] = "restore",
    [DD_LINK_CMD_COUNTERS] = "counters", [DD_LINK_CMD_GET] = "get",
    [DD_LINK_CMD_RESET] = "reset",
};

/* Keys of "set" after "dir", in the order of the DD_LINK_K_* bits. */
static const char *const s_set_keys[] = {
    "dir",           "delay_ms", "jitter_ms", "dist",        "corr_pct",    "rate_kbit", "loss_pct",
    "loss_corr_pct", "gemodel",  "dup_pct",   "corrupt_pct", "reorder_pct", "gap",       "rto_ms"};
static const char *const s_ramp_keys[] = {"dir", "delay_ms_to", "over_s"};
static const char *const s_outage_keys[] = {"dir", "for_s"};
static const char *const s_dir_keys[] = {"dir"};
static const char *const s_ge_keys[] = {"p", "r", "h", "k"};
static const char *const s_dir_names[] = {"up", "down", "both"};
static const char *const s_dist_names[] = {"uniform", "normal", "pareto", "paretonormal"};

typedef struct {
  const char *const *keys; /* valid keys, "dir" first */
  size_t n;                /* how many */
} s_keyset_t;

static const s_keyset_t s_keysets[DD_LINK_CMD_COUNT] = {
    [DD_LINK_CMD_SET] = {s_set_keys, S_N(s_set_keys)},
    [DD_LINK_CMD_RAMP] = {s_ramp_keys, S_N(s_ramp_keys)},
    [DD_LINK_CMD_OUTAGE] = {s_outage_keys, S_N(s_outage_keys)},
    [DD_LINK_CMD_RESTORE] = {s_dir_keys, S_N(s_dir_keys)},
    [DD_LINK_CMD_COUNTERS] = {s_dir_keys, S_N(s_dir_keys)},
    [DD_LINK_CMD_GET] = {s_dir_keys, S_N(s_dir_keys)},
    [DD_LINK_CMD_RESET] = {s_dir_keys, S_N(s_dir_keys)},
};

/* ---- error text ---------------------------------------------------------------------------- */

static int s_fail(char *err, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int s_fail(char *err, size_t cap, const char *fmt, ...) {
  if (err && cap) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
  }
  return DD_EINVAL;
}

/* Peer-given text made safe to quote in one line: printable ASCII only, at most max chars. */
static void s_quote_n(const char *in, char *out, size_t cap, size_t max, bool keep_quotes) {
  size_t n = 0;
  for (const unsigned char *s = (const unsigned char *)in; *s && n + 4 < cap; s++) {
    if (n >= max) {
      memcpy(out + n, "...", 3);
      n += 3;
      break;
    }
    out[n++] = (*s >= 0x20 && *s < 0x7f && (keep_quotes || *s != '"')) ? (char)*s : '?';
  }
  out[n] = 0;
}

/* A peer-given word (key, name) for a message: at most 40 chars. */
static void s_quote(const char *in, char *out, size_t cap) { s_quote_n(in, out, cap, 40, false); }

static void s_join(const char *const *words, size_t n, char *out, size_t cap) {
  size_t used = 0;
  out[0] = 0;
  for (size_t i = 0; i < n && used < cap; i++) {
    int w = snprintf(out + used, cap - used, "%s%s", i ? ", " : "", words[i]);
    if (w < 0) break;
    used += (size_t)w;
  }
}

/* ---- nearest word -------------------------------------------------------------------------- */

/* Optimal string alignment distance (Damerau-Levenshtein with adjacent transpositions),
 * case-insensitive, '-' equal to '_'. Words longer than 63 chars are not compared. */
static size_t s_distance(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  if (la > 63 || lb > 63) return SIZE_MAX;
  size_t d[64][64];
  char x[64], y[64];
  for (size_t i = 0; i < la; i++)
    x[i] = a[i] == '-' ? '_' : (char)tolower((unsigned char)a[i]);
  for (size_t j = 0; j < lb; j++)
    y[j] = b[j] == '-' ? '_' : (char)tolower((unsigned char)b[j]);
  for (size_t i = 0; i <= la; i++)
    d[i][0] = i;
  for (size_t j = 0; j <= lb; j++)
    d[0][j] = j;
  for (size_t i = 1; i <= la; i++) {
    for (size_t j = 1; j <= lb; j++) {
      size_t cost = x[i - 1] == y[j - 1] ? 0 : 1;
      size_t v = d[i - 1][j] + 1;
      if (d[i][j - 1] + 1 < v) v = d[i][j - 1] + 1;
      if (d[i - 1][j - 1] + cost < v) v = d[i - 1][j - 1] + cost;
      if (i > 1 && j > 1 && x[i - 1] == y[j - 2] && x[i - 2] == y[j - 1] && d[i - 2][j - 2] + 1 < v)
        v = d[i - 2][j - 2] + 1;
      d[i][j] = v;
    }
  }
  return d[la][lb];
}

const char *dd_link_cmd_nearest(const char *word, const char *const *valid, size_t n) {
  if (!word || !*word) return NULL;
  size_t limit = strlen(word) / 3;
  if (limit < 2) limit = 2;
  const char *best = NULL;
  size_t best_d = SIZE_MAX, best_score = SIZE_MAX;
  for (size_t i = 0; i < n; i++) {
    size_t d = s_distance(word, valid[i]);
    if (d == SIZE_MAX) continue;
    /* On equal distance, a word that the typed one begins wins ("for" -> "for_s", not "dir"). */
    size_t score = 2 * d + (strncmp(word, valid[i], strlen(word)) == 0 ? 0 : 1);
    if (score < best_score) {
      best_score = score;
      best_d = d;
      best = valid[i];
    }
  }
  /* A distance that replaces the whole word is no suggestion ("x" -> "p"). */
  if (best && best_d <= limit && best_d < strlen(word)) return best;
  /* A word that starts a valid one ("loss" -> "loss_pct"). */
  size_t wl = strlen(word);
  for (size_t i = 0; wl >= 3 && i < n; i++) {
    size_t j = 0;
    while (j < wl && valid[i][j] &&
           (word[j] == '-' ? '_' : tolower((unsigned char)word[j])) == valid[i][j])
      j++;
    if (j == wl) return valid[i];
  }
  return NULL;
}

/* ---- names --------------------------------------------------------------------------------- */

const char *dd_link_action_name(dd_link_action_t a) {
  return (unsigned)a < DD_LINK_CMD_COUNT ? s_action_names[a] : "?";
}

const char *dd_link_dir_name(unsigned dirs) {
  switch (dirs) {
  case DD_LINK_UP: return "up";
  case DD_LINK_DOWN: return "down";
  case DD_LINK_BOTH: return "both";
  default: return "?";
  }
}

/* ---- typed values -------------------------------------------------------------------------- */

static const char *s_type_name(const json_t *v) {
  switch (json_typeof(v)) {
  case JSON_OBJECT: return "an object";
  case JSON_ARRAY: return "an array";
  case JSON_STRING: return "a string";
  case JSON_INTEGER: return "a whole number";
  case JSON_REAL: return "a number";
  case JSON_TRUE: return "true";
  case JSON_FALSE: return "false";
  case JSON_NULL: return "null";
  }
  return "?";
}

/* The value as given, for messages: integers exactly, reals with up to 15 digits. */
static void s_num_text(const json_t *v, char *out, size_t cap) {
  if (json_is_integer(v))
    snprintf(out, cap, "%lld", (long long)json_integer_value(v));
  else
    snprintf(out, cap, "%.15g", json_real_value(v));
}

/* A number in [lo, hi] (lo excluded when lo_open). */
static int s_number(const json_t *v, const char *key, double lo, double hi, bool lo_open,
                    double *out, char *err, size_t cap) {
  if (!json_is_number(v))
    return s_fail(err, cap, "%s: expected a number, got %s", key, s_type_name(v));
  double x = json_number_value(v);
  char t[48];
  s_num_text(v, t, sizeof t);
  if (!isfinite(x) || x > hi || (lo_open ? x <= lo : x < lo)) {
    if (lo_open)
      return s_fail(err, cap, "%s: %s is out of range: give more than %.15g and at most %.15g", key,
                    t, lo, hi);
    return s_fail(err, cap, "%s: %s is out of range %.15g..%.15g", key, t, lo, hi);
  }
  *out = x;
  return 0;
}

static int s_percent(const json_t *v, const char *key, double *prob, char *err, size_t cap) {
  double x;
  int rc = s_number(v, key, 0.0, 100.0, false, &x, err, cap);
  if (rc == 0) *prob = x / 100.0;
  return rc;
}

static int s_ms(const json_t *v, const char *key, bool lo_open, uint64_t *us, char *err,
                size_t cap) {
  double x;
  int rc = s_number(v, key, 0.0, DD_LINK_MAX_MS, lo_open, &x, err, cap);
  if (rc) return rc;
  *us = (uint64_t)llround(x * 1000.0);
  if (lo_open && *us == 0)
    return s_fail(err, cap, "%s: %.15g is below the resolution of 0.001 ms", key, x);
  return 0;
}

static int s_seconds(const json_t *v, const char *key, double max, bool lo_open, uint64_t *us,
                     char *err, size_t cap) {
  double x;
  int rc = s_number(v, key, 0.0, max, lo_open, &x, err, cap);
  if (rc) return rc;
  *us = (uint64_t)llround(x * 1e6);
  if (lo_open && *us == 0)
    return s_fail(err, cap, "%s: %.15g is below the resolution of 1 us", key, x);
  return 0;
}

/* A name from a list; the error lists them and suggests the nearest. */
static int s_name(const json_t *v, const char *key, const char *what, const char *const *names,
                  size_t n, size_t *idx, char *err, size_t cap) {
  if (!json_is_string(v))
    return s_fail(err, cap, "%s: expected a string, got %s", key, s_type_name(v));
  const char *s = json_string_value(v);
  for (size_t i = 0; i < n; i++) {
    if (!strcmp(s, names[i])) {
      *idx = i;
      return 0;
    }
  }
  char q[48], list[128];
  s_quote(s, q, sizeof q);
  s_join(names, n, list, sizeof list);
  const char *near = dd_link_cmd_nearest(s, names, n);
  if (near)
    return s_fail(err, cap, "%s: \"%s\" is not %s (%s); did you mean \"%s\"?", key, q, what, list,
                  near);
  return s_fail(err, cap, "%s: \"%s\" is not %s (%s)", key, q, what, list);
}

/* ---- parsing ------------------------------------------------------------------------------- */

static int s_unknown_key(const char *key, dd_link_action_t action, const char *const *keys,
                         size_t n, char *err, size_t cap) {
  char q[48];
  s_quote(key, q, sizeof q);
  const char *an = s_action_names[action];
  /* A key of another action: say which. */
  for (int a = 0; a < DD_LINK_CMD_COUNT; a++) {
    for (size_t i = 0; i < s_keysets[a].n; i++)
      if (!strcmp(key, s_keysets[a].keys[i]))
        return s_fail(err, cap, "\"%s\" is a key of %s, not of %s", q, s_action_names[a], an);
  }
  const char *near = dd_link_cmd_nearest(key, keys, n);
  if (near)
    return s_fail(err, cap, "unknown key \"%s\" for %s (did you mean \"%s\"?)", q, an, near);
  char list[200];
  s_join(keys, n, list, sizeof list);
  return s_fail(err, cap, "unknown key \"%s\" for %s (valid keys: %s)", q, an, list);
}

static int s_parse_gemodel(const json_t *v, dd_link_cmd_t *c, char *err, size_t cap) {
  if (!json_is_object(v))
    return s_fail(err, cap,
                  "gemodel: expected an object {\"p\":..,\"r\":..,\"h\":..,\"k\":..}, got %s",
                  s_type_name(v));
  const char *k;
  json_t *x;
  json_object_foreach((json_t *)v, k, x) {
    size_t i;
    for (i = 0; i < S_N(s_ge_keys); i++)
      if (!strcmp(k, s_ge_keys[i])) break;
    if (i == S_N(s_ge_keys)) {
      char q[48];
      s_quote(k, q, sizeof q);
      return s_fail(err, cap, "gemodel: unknown key \"%s\" (valid keys: p, r, h, k, in percent)",
                    q);
    }
    char name[16];
    snprintf(name, sizeof name, "gemodel.%s", k);
    double *slot = i == 0 ? &c->ge_p : i == 1 ? &c->ge_r : i == 2 ? &c->ge_h : &c->ge_k;
    int rc = s_percent(x, name, slot, err, cap);
    if (rc) return rc;
    c->ge_keys |= 1u << i;
  }
  if (!c->ge_keys) return s_fail(err, cap, "gemodel: give at least one of p, r, h, k");
  return 0;
}

static int s_parse_set_key(size_t i, const json_t *v, dd_link_cmd_t *c, char *err, size_t cap) {
  const char *key = s_set_keys[i];
  size_t idx = 0;
  double x;
  int rc = 0;
  switch (i) {
  case 1: rc = s_ms(v, key, false, &c->delay_us, err, cap); break;
  case 2: rc = s_ms(v, key, false, &c->jitter_us, err, cap); break;
  case 3:
    rc = s_name(v, key, "a distribution", s_dist_names, S_N(s_dist_names), &idx, err, cap);
    if (!rc) rc = dd_netem_dist_from_name(s_dist_names[idx], &c->dist);
    break;
  case 4: rc = s_percent(v, key, &c->corr, err, cap); break;
  case 5:
    rc = s_number(v, key, 0.0, DD_LINK_MAX_KBIT, false, &x, err, cap);
    if (rc) break;
    c->rate = (uint64_t)llround(x * 125.0); /* kbit/s -> bytes/s: 1000 / 8 */
    if (x > 0 && c->rate == 0)
      rc = s_fail(err, cap,
                  "rate_kbit: %.15g is below the smallest rate 0.008 (1 byte/s); 0 means unlimited",
                  x);
    break;
  case 6: rc = s_percent(v, key, &c->loss, err, cap); break;
  case 7: rc = s_percent(v, key, &c->loss_corr, err, cap); break;
  case 8: rc = s_parse_gemodel(v, c, err, cap); break;
  case 9: rc = s_percent(v, key, &c->dup, err, cap); break;
  case 10: rc = s_percent(v, key, &c->corrupt, err, cap); break;
  case 11: rc = s_percent(v, key, &c->reorder, err, cap); break;
  case 12:
    rc = s_number(v, key, 0.0, 4294967295.0, false, &x, err, cap);
    if (!rc && x != floor(x)) {
      char t[48];
      s_num_text(v, t, sizeof t);
      rc = s_fail(err, cap, "gap: %s is not a whole number (0..4294967295)", t);
    }
    if (!rc) c->gap = (uint32_t)x;
    break;
  case 13: rc = s_ms(v, key, true, &c->rto_us, err, cap); break;
  default: assert(!"set key table and switch disagree");
  }
  if (rc == 0) c->keys |= 1u << (i - 1);
  return rc;
}

static int s_parse_object(dd_link_cmd_t *c, const json_t *o, char *err, size_t cap) {
  const s_keyset_t *ks = &s_keysets[c->action];
  const char *key;
  json_t *v;
  bool ramp_to = false, ramp_over = false;
  json_object_foreach((json_t *)o, key, v) {
    size_t i;
    for (i = 0; i < ks->n; i++)
      if (!strcmp(key, ks->keys[i])) break;
    if (i == ks->n) return s_unknown_key(key, c->action, ks->keys, ks->n, err, cap);
    int rc = 0;
    if (i == 0) {
      size_t d = 0;
      rc = s_name(v, "dir", "a direction", s_dir_names, S_N(s_dir_names), &d, err, cap);
      if (!rc) c->dirs = d == 0 ? DD_LINK_UP : d == 1 ? DD_LINK_DOWN : DD_LINK_BOTH;
    } else if (c->action == DD_LINK_CMD_SET) {
      rc = s_parse_set_key(i, v, c, err, cap);
    } else if (c->action == DD_LINK_CMD_RAMP && i == 1) {
      rc = s_ms(v, key, false, &c->ramp_to_us, err, cap);
      ramp_to = true;
    } else if (c->action == DD_LINK_CMD_RAMP && i == 2) {
      rc = s_seconds(v, key, DD_LINK_MAX_RAMP_S, false, &c->ramp_us, err, cap);
      ramp_over = true;
    } else if (c->action == DD_LINK_CMD_OUTAGE && i == 1) {
      rc = s_seconds(v, key, DD_LINK_MAX_OUTAGE_S, true, &c->outage_us, err, cap);
    }
    if (rc) return rc;
  }
  if (c->action == DD_LINK_CMD_SET) {
    if (!c->keys) {
      char list[200];
      s_join(s_set_keys + 1, S_N(s_set_keys) - 1, list, sizeof list);
      return s_fail(err, cap, "set: give at least one parameter (%s)", list);
    }
    if ((c->keys & DD_LINK_K_GEMODEL) && (c->keys & (DD_LINK_K_LOSS | DD_LINK_K_LOSS_CORR)))
      return s_fail(err, cap,
                    "%s and gemodel both given: %s sets random loss, gemodel the Gilbert-Elliott "
                    "model; give one",
                    c->keys & DD_LINK_K_LOSS ? "loss_pct" : "loss_corr_pct",
                    c->keys & DD_LINK_K_LOSS ? "loss_pct" : "loss_corr_pct");
  }
  if (c->action == DD_LINK_CMD_RAMP && !(ramp_to && ramp_over))
    return s_fail(err, cap, "ramp: %s is required (ramp wants delay_ms_to and over_s)",
                  ramp_to ? "over_s" : "delay_ms_to");
  return 0;
}

int dd_link_cmd_parse(const char *action, const char *json, size_t len, dd_link_cmd_t *out,
                      char *err, size_t cap) {
  assert(out);
  if (err && cap) err[0] = 0;
  memset(out, 0, sizeof *out);
  out->dirs = DD_LINK_BOTH;
  out->outage_us = DD_NETEM_NEVER;
  out->dist = DD_NETEM_DIST_NORMAL;
  int a;
  for (a = 0; a < DD_LINK_CMD_COUNT; a++)
    if (action && !strcmp(action, s_action_names[a])) break;
  if (a == DD_LINK_CMD_COUNT) {
    char q[48], list[128];
    s_quote(action ? action : "", q, sizeof q);
    s_join(s_action_names, DD_LINK_CMD_COUNT, list, sizeof list);
    const char *near = dd_link_cmd_nearest(action, s_action_names, DD_LINK_CMD_COUNT);
    if (near)
      return s_fail(err, cap, "unknown action \"%s\" (did you mean \"%s\"?); actions: %s", q, near,
                    list);
    return s_fail(err, cap, "unknown action \"%s\"; actions: %s", q, list);
  }
  out->action = (dd_link_action_t)a;
  /* Only blanks means no arguments. */
  size_t i = 0;
  while (json && i < len && isspace((unsigned char)json[i]))
    i++;
  if (!json || i == len) {
    json_t *empty = json_object();
    if (!empty) return DD_ENOMEM;
    int rc = s_parse_object(out, empty, err, cap);
    json_decref(empty);
    return rc;
  }
  json_error_t je;
  json_t *o = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
  if (!o) {
    char q[JSON_ERROR_TEXT_LENGTH + 8];
    s_quote_n(je.text, q, sizeof q, 120, true);
    return s_fail(err, cap, "%s: invalid JSON at line %d, column %d: %s", s_action_names[a],
                  je.line, je.column, q);
  }
  int rc;
  if (!json_is_object(o))
    rc = s_fail(err, cap, "%s: arguments must be a JSON object, got %s", s_action_names[a],
                s_type_name(o));
  else
    rc = s_parse_object(out, o, err, cap);
  json_decref(o);
  return rc;
}

/* ---- applying ------------------------------------------------------------------------------ */

int dd_link_cmd_apply(const dd_link_cmd_t *c, dd_netem_kind_t kind, dd_netem_params_t *p, char *err,
                      size_t cap) {
  assert(c && p);
  if (c->action != DD_LINK_CMD_SET) return s_fail(err, cap, "only set changes parameters");
  if (kind == DD_NETEM_STREAM) {
    /* ZeroMQ over TCP delivers every message once, intact and in order (network.md 2.3). */
    if ((c->keys & DD_LINK_K_DUP) && c->dup > 0)
      return s_fail(err, cap,
                    "dup_pct: a zmq link never duplicates a message (ZeroMQ over TCP "
                    "delivers each once); use a udp link, or 0");
    if ((c->keys & DD_LINK_K_CORRUPT) && c->corrupt > 0)
      return s_fail(err, cap,
                    "corrupt_pct: a zmq link never corrupts a message (TCP checks "
                    "and retransmits); use a udp link, or 0");
    if ((c->keys & DD_LINK_K_REORDER) && c->reorder > 0)
      return s_fail(err, cap,
                    "reorder_pct: a zmq link never reorders messages (one TCP stream); "
                    "use a udp link, or 0");
  }
  dd_netem_params_t n = *p;
  if (c->keys & DD_LINK_K_DELAY) {
    n.delay_us = c->delay_us;
    n.ramp_us = 0; /* a new delay ends any ramp */
    n.ramp_to_us = 0;
  }
  if (c->keys & DD_LINK_K_JITTER) n.jitter_us = c->jitter_us;
  if (c->keys & DD_LINK_K_DIST) n.dist = c->dist;
  if (c->keys & DD_LINK_K_CORR) n.delay_corr = c->corr;
  if (c->keys & DD_LINK_K_RATE) n.rate = c->rate;
  if (c->keys & (DD_LINK_K_LOSS | DD_LINK_K_LOSS_CORR)) {
    bool was_random = p->loss.model == DD_NETEM_LOSS_RANDOM;
    if (!(c->keys & DD_LINK_K_LOSS) && !was_random)
      return s_fail(err, cap,
                    "loss_corr_pct: correlates random loss, but the loss model is %s; "
                    "give loss_pct too",
                    dd_netem_loss_model_name(p->loss.model));
    double prob = (c->keys & DD_LINK_K_LOSS) ? c->loss : p->loss.p;
    double corr = (c->keys & DD_LINK_K_LOSS_CORR) ? c->loss_corr : was_random ? p->loss.corr : 0.0;
    dd_netem_loss_random(&n.loss, prob, corr);
  }
  if (c->keys & DD_LINK_K_GEMODEL) {
    bool was_ge = p->loss.model == DD_NETEM_LOSS_GEMODEL;
    if (!was_ge && !(c->ge_keys & DD_LINK_GE_P))
      return s_fail(err, cap,
                    "gemodel: p is needed to switch to the Gilbert-Elliott model (the "
                    "loss model is %s)",
                    dd_netem_loss_model_name(p->loss.model));
    /* Keep the model's current values for what is not given; tc's defaults when switching:
     * r = 1 - p, 1-h = 1 (h = 0), 1-k = 0 (k = 100 %) (tc-netem(8) "loss gemodel"). */
    double gp = (c->ge_keys & DD_LINK_GE_P) ? c->ge_p : p->loss.ge_p;
    double gr = (c->ge_keys & DD_LINK_GE_R) ? c->ge_r : was_ge ? p->loss.ge_r : 1.0 - gp;
    double g1h = (c->ge_keys & DD_LINK_GE_H) ? 1.0 - c->ge_h : was_ge ? p->loss.ge_1h : 1.0;
    double g1k = (c->ge_keys & DD_LINK_GE_K) ? 1.0 - c->ge_k : was_ge ? p->loss.ge_1k : 0.0;
    dd_netem_loss_gemodel(&n.loss, gp, gr, g1h, g1k);
  }
  if (c->keys & DD_LINK_K_DUP) n.dup = c->dup;
  if (c->keys & DD_LINK_K_CORRUPT) n.corrupt = c->corrupt;
  if (c->keys & DD_LINK_K_REORDER) n.reorder = c->reorder;
  if (c->keys & DD_LINK_K_GAP) n.reorder_gap = c->gap;
  if (c->keys & DD_LINK_K_RTO) {
    n.rto_us = c->rto_us;
    if (n.rto_max_us < n.rto_us) n.rto_max_us = n.rto_us;
  }
  if (dd_netem_params_check(&n) != 0)
    return s_fail(err, cap, "the impairment core refused these parameters");
  *p = n;
  return 0;
}

/* ---- parameters as JSON -------------------------------------------------------------------- */

/* Round a derived value so that 0.05 * 100 prints as 5, not 5.000000000000001. */
static double s_tidy(double x) { return round(x * 1e9) / 1e9; }

/* Whole values print as integers ("delay_ms":40), others as reals. */
static int s_set_real(json_t *o, const char *k, double x) {
  x = s_tidy(x);
  json_t *v =
      x == floor(x) && fabs(x) < 9007199254740992.0 ? json_integer((json_int_t)x) : json_real(x);
  return v ? json_object_set_new(o, k, v) : -1;
}

json_t *dd_link_params_object(const dd_netem_params_t *p) {
  assert(p);
  json_t *o = json_object();
  if (!o) return NULL;
  int bad = 0;
  bad |= s_set_real(o, "delay_ms", (double)p->delay_us / 1000.0);
  bad |= s_set_real(o, "jitter_ms", (double)p->jitter_us / 1000.0);
  bad |= json_object_set_new(o, "dist", json_string(dd_netem_dist_name(p->dist)));
  bad |= s_set_real(o, "corr_pct", p->delay_corr * 100.0);
  bad |= s_set_real(o, "rate_kbit", (double)p->rate / 125.0);
  if (p->loss.model == DD_NETEM_LOSS_GEMODEL) {
    json_t *g = json_object();
    if (!g)
      bad = -1;
    else {
      bad |= s_set_real(g, "p", p->loss.ge_p * 100.0);
      bad |= s_set_real(g, "r", p->loss.ge_r * 100.0);
      bad |= s_set_real(g, "h", (1.0 - p->loss.ge_1h) * 100.0);
      bad |= s_set_real(g, "k", (1.0 - p->loss.ge_1k) * 100.0);
      bad |= json_object_set_new(o, "gemodel", g);
    }
  } else if (p->loss.model == DD_NETEM_LOSS_RANDOM) {
    bad |= s_set_real(o, "loss_pct", p->loss.p * 100.0);
    bad |= s_set_real(o, "loss_corr_pct", p->loss.corr * 100.0);
  }
  bad |= s_set_real(o, "dup_pct", p->dup * 100.0);
  bad |= s_set_real(o, "corrupt_pct", p->corrupt * 100.0);
  bad |= s_set_real(o, "reorder_pct", p->reorder * 100.0);
  bad |= json_object_set_new(o, "gap", json_integer((json_int_t)p->reorder_gap));
  bad |= s_set_real(o, "rto_ms", (double)p->rto_us / 1000.0);
  if (bad) {
    json_decref(o);
    return NULL;
  }
  return o;
}

char *dd_link_params_json(const dd_netem_params_t *p) {
  json_t *o = dd_link_params_object(p);
  if (!o) return NULL;
  char *s = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(12));
  json_decref(o);
  return s;
}
