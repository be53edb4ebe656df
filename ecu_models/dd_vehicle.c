/* dd_vehicle: the vehicle-file loader: libfyaml events -> a small located tree -> a checked
 * dd_vehicle_t, with every problem reported as FILE:LINE:COL: path: message. */
#include "dd_vehicle.h"

#include <assert.h>
#include <errno.h>
#include <libfyaml.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dd_dtc_code.h"
#include "dd_err.h"

#define S_MAX_ERRORS 32    /* problems reported before giving up */
#define S_MAX_DEPTH 16     /* nesting of mappings/sequences */
#define S_MAX_NODES 100000 /* nodes in one file */
#define S_PATH 160         /* room for a path like ecus[12].dtcs[3].snapshots[0].hex */

/* ---- roles and small tables ----------------------------------------------------------------- */

static const char *const s_roles[] = {"engine", "transmission", "abs",   "body", "gateway",
                                      "airbag", "instrument",   "other", NULL};

const char *dd_ecu_role_name(dd_ecu_role_t role) {
  return (unsigned)role <= DD_ECU_OTHER ? s_roles[role] : "?";
}

static const char *const s_vehicle_types[] = {
    "passenger_car", "mpv", "truck", "bus", "motorcycle", "trailer", "low_speed_vehicle", NULL};

/* Identification keys of an ECU and the ISO 14229-1 C.1 DIDs they fill. */
static const struct {
  const char *key; /* key in the ecus[] mapping */
  uint16_t did;    /* data identifier */
} s_ident[] = {
    {"part_number", 0xF187},               /* vehicleManufacturerSparePartNumber */
    {"software_number", 0xF188},           /* vehicleManufacturerECUSoftwareNumber */
    {"software_version", 0xF189},          /* vehicleManufacturerECUSoftwareVersionNumber */
    {"supplier", 0xF18A},                  /* systemSupplierIdentifier */
    {"serial_number", 0xF18C},             /* ECUSerialNumber */
    {"hardware_number", 0xF191},           /* vehicleManufacturerECUHardwareNumber */
    {"supplier_hardware_number", 0xF192},  /* systemSupplierECUHardwareNumber */
    {"hardware_version", 0xF193},          /* systemSupplierECUHardwareVersionNumber */
    {"supplier_software_number", 0xF194},  /* systemSupplierECUSoftwareNumber */
    {"supplier_software_version", 0xF195}, /* systemSupplierECUSoftwareVersionNumber */
};
#define S_N_IDENT (sizeof s_ident / sizeof s_ident[0])

/* ---- the located tree ------------------------------------------------------------------------ */

typedef enum { S_SCALAR, S_MAP, S_SEQ } s_kind_t;

typedef struct s_node s_node_t;
struct s_node {
  s_kind_t kind;    /* scalar, mapping or sequence */
  int line, col;    /* 1-based start */
  char *text;       /* S_SCALAR: content, NUL-terminated (owned) */
  size_t len;       /* S_SCALAR: content length (may hold NULs) */
  bool plain;       /* S_SCALAR: plain style (not quoted, not a block scalar) */
  bool quoted;      /* S_SCALAR: single- or double-quoted (col is the first content character) */
  s_node_t **items; /* S_SEQ: items; S_MAP: key, value, key, value ... (owned) */
  size_t n;         /* entries of items */
  size_t cap;       /* allocated entries */
};

static void s_node_free(s_node_t *n) {
  if (!n) return;
  for (size_t i = 0; i < n->n; i++)
    s_node_free(n->items[i]);
  free(n->items);
  free(n->text);
  free(n);
}

static int s_node_append(s_node_t *parent, s_node_t *child) {
  if (parent->n == parent->cap) {
    size_t cap = parent->cap ? parent->cap * 2 : 8;
    s_node_t **items = realloc(parent->items, cap * sizeof *items);
    if (!items) return DD_ENOMEM;
    parent->items = items;
    parent->cap = cap;
  }
  parent->items[parent->n++] = child;
  return 0;
}

/* ---- error collection ------------------------------------------------------------------------ */

typedef struct {
  const char *file; /* name used in messages */
  char *err;        /* caller's buffer (may be NULL) */
  size_t cap;       /* its size */
  size_t used;      /* bytes written */
  int count;        /* problems found */
  bool nomem;       /* an allocation failed */
} s_ctx_t;

static void s_verror(s_ctx_t *c, int line, int col, const char *path, const char *fmt, va_list ap)
    __attribute__((format(printf, 5, 0)));
static void s_verror(s_ctx_t *c, int line, int col, const char *path, const char *fmt, va_list ap) {
  c->count++;
  if (!c->err || c->cap == 0) return;
  if (c->count > S_MAX_ERRORS) {
    if (c->count == S_MAX_ERRORS + 1 && c->used < c->cap)
      c->used += (size_t)snprintf(c->err + c->used, c->cap - c->used, "%s%s: too many errors",
                                  c->used ? "\n" : "", c->file);
    if (c->used >= c->cap) c->used = c->cap - 1;
    return;
  }
  if (c->used >= c->cap - 1) return;
  char msg[512];
  vsnprintf(msg, sizeof msg, fmt, ap);
  int n = snprintf(c->err + c->used, c->cap - c->used, "%s%s:%d:%d: %s%s%s", c->used ? "\n" : "",
                   c->file, line, col, path && *path ? path : "", path && *path ? ": " : "", msg);
  if (n > 0) c->used += (size_t)n;
  if (c->used >= c->cap) c->used = c->cap - 1;
}

static void s_error(s_ctx_t *c, const s_node_t *at, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void s_error(s_ctx_t *c, const s_node_t *at, const char *path, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  s_verror(c, at ? at->line : 1, at ? at->col : 1, path, fmt, ap);
  va_end(ap);
}

static void s_error_at(s_ctx_t *c, int line, int col, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void s_error_at(s_ctx_t *c, int line, int col, const char *path, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  s_verror(c, line, col, path, fmt, ap);
  va_end(ap);
}

/* ---- YAML events -> tree --------------------------------------------------------------------- */

static void s_diag_sink(struct fy_diag *diag, void *user, const char *buf, size_t len) {
  (void)diag;
  (void)user;
  (void)buf;
  (void)len;
}

static s_node_t *s_new_node(s_kind_t kind, const struct fy_mark *m) {
  s_node_t *n = calloc(1, sizeof *n);
  if (!n) return NULL;
  n->kind = kind;
  n->line = m ? m->line + 1 : 1;
  n->col = m ? m->column + 1 : 1;
  return n;
}

/* Copies a scalar's content into node->text. The token iterator is used rather than
 * fy_token_get_text(), whose cached copy libfyaml 0.7 leaks when the scanner fails later. */
static int s_scalar_text(struct fy_token *fyt, s_node_t *node) {
  struct fy_token_iter *it = fy_token_iter_create(fyt);
  if (!it) return DD_ENOMEM;
  size_t len = 0, cap = 32;
  char *buf = malloc(cap);
  const struct fy_iter_chunk *ch = NULL;
  int err = 0;
  while (buf && (ch = fy_token_iter_chunk_next(it, ch, &err)) != NULL) {
    if (len + ch->len + 1 > cap) {
      while (len + ch->len + 1 > cap)
        cap *= 2;
      char *nb = realloc(buf, cap);
      if (!nb) {
        free(buf);
        buf = NULL;
        break;
      }
      buf = nb;
    }
    memcpy(buf + len, ch->str, ch->len);
    len += ch->len;
  }
  fy_token_iter_destroy(it);
  if (!buf || err) {
    free(buf);
    return DD_ENOMEM;
  }
  buf[len] = '\0';
  node->text = buf;
  node->len = len;
  return 0;
}

/* Vehicle files are UTF-8 text: reports the first NUL, control character or invalid UTF-8
 * sequence (which the YAML scanner would take for the end of the input). */
static bool s_check_text(s_ctx_t *c, const unsigned char *t, size_t len) {
  int line = 1, col = 1;
  size_t i = 0;
  if (len >= 3 && t[0] == 0xEF && t[1] == 0xBB && t[2] == 0xBF) i = 3; /* byte order mark */
  while (i < len) {
    unsigned char b = t[i];
    size_t n = 1;
    if (b == '\n') {
      line++;
      col = 1;
      i++;
      continue;
    }
    if (b < 0x20 && b != '\t' && b != '\r') {
      s_error_at(c, line, col, NULL, "byte 0x%02X is not text; vehicle files are UTF-8 YAML", b);
      return false;
    }
    if (b >= 0x80) {
      uint32_t cp = 0, min = 0;
      if ((b & 0xE0) == 0xC0)
        n = 2, cp = b & 0x1F, min = 0x80;
      else if ((b & 0xF0) == 0xE0)
        n = 3, cp = b & 0x0F, min = 0x800;
      else if ((b & 0xF8) == 0xF0)
        n = 4, cp = b & 0x07, min = 0x10000;
      else
        n = 0;
      bool ok = n > 0 && i + n <= len;
      for (size_t k = 1; ok && k < n; k++) {
        ok = (t[i + k] & 0xC0) == 0x80;
        cp = cp << 6 | (t[i + k] & 0x3F);
      }
      if (!ok || cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
        s_error_at(c, line, col, NULL, "invalid UTF-8 (byte 0x%02X); vehicle files are UTF-8 YAML",
                   b);
        return false;
      }
    }
    i += n;
    col++;
  }
  return true;
}

/* Parses text into a tree; NULL with errors reported (or c->nomem) on failure. */
static s_node_t *s_parse(s_ctx_t *c, const char *text, size_t len) {
  struct fy_diag_cfg dcfg;
  fy_diag_cfg_default(&dcfg);
  dcfg.fp = NULL;
  dcfg.output_fn = s_diag_sink;
  dcfg.level = FYET_ERROR;
  dcfg.colorize = false;
  struct fy_diag *diag = fy_diag_create(&dcfg);
  if (!diag) {
    c->nomem = true;
    return NULL;
  }
  fy_diag_set_collect_errors(diag, true);
  struct fy_parse_cfg pcfg;
  memset(&pcfg, 0, sizeof pcfg);
  pcfg.flags = FYPCF_QUIET | FYPCF_COLLECT_DIAG;
  pcfg.diag = diag;
  struct fy_parser *fyp = fy_parser_create(&pcfg);
  if (!fyp) {
    fy_diag_destroy(diag);
    c->nomem = true;
    return NULL;
  }
  s_node_t *root = NULL;
  s_node_t *stack[S_MAX_DEPTH + 1];
  int depth = 0;
  size_t nodes = 0;
  int docs = 0;
  bool failed = false;
  if (fy_parser_set_string(fyp, text, len) != 0) {
    c->nomem = true;
    failed = true;
  }
  struct fy_event *ev;
  while (!failed && (ev = fy_parser_parse(fyp)) != NULL) {
    const struct fy_mark *m = fy_event_start_mark(ev);
    s_node_t *node = NULL;
    switch (ev->type) {
    case FYET_DOCUMENT_START:
      if (++docs > 1) {
        s_error_at(c, m ? m->line + 1 : 1, m ? m->column + 1 : 1, NULL,
                   "a vehicle file holds one YAML document; this is a second one");
        failed = true;
      }
      break;
    case FYET_ALIAS: /* the mark is on the name; the message points at the '*' */
      s_error_at(c, m ? m->line + 1 : 1, m && m->column > 0 ? m->column : 1, NULL,
                 "aliases (*name) are not supported in vehicle files; write the value out");
      failed = true;
      break;
    case FYET_SCALAR: {
      node = s_new_node(S_SCALAR, fy_token_start_mark(ev->scalar.value));
      if (!node) break;
      if (s_scalar_text(ev->scalar.value, node) < 0) {
        s_node_free(node);
        node = NULL;
        break;
      }
      enum fy_scalar_style st = fy_token_scalar_style(ev->scalar.value);
      node->plain = st == FYSS_PLAIN;
      node->quoted = st == FYSS_SINGLE_QUOTED || st == FYSS_DOUBLE_QUOTED;
      break;
    }
    case FYET_MAPPING_START:
    case FYET_SEQUENCE_START:
      node = s_new_node(ev->type == FYET_MAPPING_START ? S_MAP : S_SEQ, m);
      break;
    case FYET_MAPPING_END:
    case FYET_SEQUENCE_END:
      if (depth > 0) depth--;
      break;
    default: break;
    }
    bool want_node = ev->type == FYET_SCALAR || ev->type == FYET_MAPPING_START ||
                     ev->type == FYET_SEQUENCE_START;
    fy_parser_event_free(fyp, ev);
    if (failed) break;
    if (want_node && !node) {
      c->nomem = true;
      failed = true;
      break;
    }
    if (!node) continue;
    if (++nodes > S_MAX_NODES) {
      s_error(c, node, NULL, "more than %d YAML nodes; this is not a vehicle file", S_MAX_NODES);
      s_node_free(node);
      failed = true;
      break;
    }
    if (depth == 0) {
      if (root) { /* a second top-level node cannot happen within one document */
        s_node_free(node);
        continue;
      }
      root = node;
    } else if (s_node_append(stack[depth - 1], node) < 0) {
      s_node_free(node);
      c->nomem = true;
      failed = true;
      break;
    }
    if (node->kind != S_SCALAR) {
      if (depth >= S_MAX_DEPTH) {
        s_error(c, node, NULL, "nesting deeper than %d levels", S_MAX_DEPTH);
        failed = true;
        break;
      }
      stack[depth++] = node;
    }
  }
  if (!failed && fy_parser_get_stream_error(fyp)) {
    void *it = NULL;
    struct fy_diag_error *de;
    bool any = false;
    while ((de = fy_diag_errors_iterate(diag, &it)) != NULL) {
      if (de->type < FYET_ERROR) continue;
      s_error_at(c, de->line > 0 ? de->line : 1, de->column > 0 ? de->column : 1, NULL,
                 "YAML syntax: %s", de->msg ? de->msg : "error");
      any = true;
      break; /* the first syntax error is the useful one */
    }
    if (!any) s_error_at(c, 1, 1, NULL, "YAML syntax error");
    failed = true;
  }
  fy_parser_destroy(fyp);
  fy_diag_destroy(diag);
  if (failed) {
    s_node_free(root);
    return NULL;
  }
  if (!root)
    s_error_at(c, 1, 1, NULL,
               "the file is empty; expected a mapping with vin, make, model, model_year and ecus");
  return root;
}

/* ---- helpers over the tree ------------------------------------------------------------------ */

static bool s_is_null(const s_node_t *n) {
  if (!n || n->kind != S_SCALAR || !n->plain) return false;
  return n->len == 0 || strcmp(n->text, "~") == 0 || strcmp(n->text, "null") == 0 ||
         strcmp(n->text, "Null") == 0 || strcmp(n->text, "NULL") == 0;
}

static const char *s_kind_name(const s_node_t *n) {
  if (s_is_null(n)) return "nothing (null)";
  switch (n->kind) {
  case S_SCALAR: return "a single value";
  case S_MAP: return "a mapping";
  case S_SEQ: return "a list";
  }
  return "?";
}

/* Shortened, printable form of a scalar for messages. */
static const char *s_show(const s_node_t *n, char *buf, size_t cap) {
  size_t o = 0;
  for (size_t i = 0; i < n->len && o + 5 < cap; i++) {
    unsigned char ch = (unsigned char)n->text[i];
    if (i >= 40) {
      memcpy(buf + o, "...", 3);
      o += 3;
      break;
    }
    if (ch >= 0x20 && ch < 0x7F) {
      buf[o++] = (char)ch;
    } else {
      o += (size_t)snprintf(buf + o, cap - o, "\\x%02X", ch);
    }
  }
  buf[o] = '\0';
  return buf;
}

/* Edit distance between two words (insertions, deletions, substitutions, transpositions). */
static size_t s_lev(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  if (la > 40 || lb > 40) return 99;
  size_t d[41][41];
  for (size_t i = 0; i <= la; i++)
    d[i][0] = i;
  for (size_t j = 0; j <= lb; j++)
    d[0][j] = j;
  for (size_t i = 1; i <= la; i++)
    for (size_t j = 1; j <= lb; j++) {
      size_t sub = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
      size_t del = d[i - 1][j] + 1, ins = d[i][j - 1] + 1;
      size_t best = sub < del ? sub : del;
      best = best < ins ? best : ins;
      /* adjacent transposition counts as one edit (optimal string alignment) */
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
          d[i - 2][j - 2] + 1 < best)
        best = d[i - 2][j - 2] + 1;
      d[i][j] = best;
    }
  return d[la][lb];
}

/* The closest of names (NULL-terminated) to word when close enough to be a typo, else NULL. */
static const char *s_suggest(const char *word, const char *const *names) {
  const char *best = NULL;
  size_t best_d = 99;
  size_t lw = strlen(word);
  for (size_t i = 0; names[i]; i++) {
    size_t d = s_lev(word, names[i]);
    if (d < best_d) {
      best_d = d;
      best = names[i];
    }
  }
  size_t limit = lw <= 4 ? 1 : lw <= 8 ? 2 : 3;
  return best_d <= limit ? best : NULL;
}

/* A path that does not fit ends in "..." (only absurdly long keys get there). */
static void s_path_fit(char *out, int n) {
  if (n >= S_PATH) memcpy(out + S_PATH - 4, "...", 4);
}

static void s_path_key(char *out, const char *path, const char *key) {
  if (!path) path = "";
  s_path_fit(out, snprintf(out, S_PATH, "%s%s%s", path, *path ? "." : "", key));
}

static void s_path_index(char *out, const char *path, size_t i) {
  s_path_fit(out, snprintf(out, S_PATH, "%s[%zu]", path, i));
}

/* Checks a mapping's keys: scalar, known (with a suggestion), not repeated, required present.
 * Returns false (after reporting) when node is not a mapping. */
static bool s_check_map(s_ctx_t *c, const s_node_t *node, const char *path,
                        const char *const *allowed, const char *const *required) {
  if (node->kind != S_MAP) {
    s_error(c, node, path, "expected a mapping (key: value lines), got %s", s_kind_name(node));
    return false;
  }
  for (size_t i = 0; i + 1 < node->n; i += 2) {
    const s_node_t *k = node->items[i];
    if (k->kind != S_SCALAR || strlen(k->text) != k->len) {
      s_error(c, k, path, "keys must be plain words, got %s", s_kind_name(k));
      continue;
    }
    char kp[S_PATH];
    s_path_key(kp, path, k->text);
    bool known = false;
    for (size_t a = 0; allowed[a]; a++)
      known |= strcmp(allowed[a], k->text) == 0;
    if (!known) {
      const char *sug = s_suggest(k->text, allowed);
      char shown[200];
      if (sug)
        s_error(c, k, kp, "unknown key '%s'; did you mean '%s'?", s_show(k, shown, sizeof shown),
                sug);
      else
        s_error(c, k, kp, "unknown key '%s'", s_show(k, shown, sizeof shown));
      continue;
    }
    for (size_t j = 0; j < i; j += 2) {
      const s_node_t *k2 = node->items[j];
      if (k2->kind == S_SCALAR && strcmp(k2->text, k->text) == 0) {
        s_error(c, k, kp, "duplicate key (first given at line %d)", k2->line);
        break;
      }
    }
  }
  for (size_t r = 0; required && required[r]; r++) {
    const s_node_t *key = NULL, *val = NULL;
    bool found = false;
    for (size_t i = 0; i + 1 < node->n && !found; i += 2)
      if (node->items[i]->kind == S_SCALAR && strcmp(node->items[i]->text, required[r]) == 0) {
        found = true;
        key = node->items[i];
        val = node->items[i + 1];
      }
    char kp[S_PATH];
    s_path_key(kp, path, required[r]);
    if (!found)
      s_error(c, node, path, "missing required key '%s'", required[r]);
    else if (s_is_null(val))
      s_error(c, key, kp, "has no value"); /* an empty value has no position of its own */
  }
  return true;
}

/* The value of key in a mapping (first occurrence) as written, null included, or NULL. */
static const s_node_t *s_raw(const s_node_t *map, const char *key) {
  if (!map || map->kind != S_MAP) return NULL;
  for (size_t i = 0; i + 1 < map->n; i += 2) {
    const s_node_t *k = map->items[i];
    if (k->kind == S_SCALAR && strcmp(k->text, key) == 0) return map->items[i + 1];
  }
  return NULL;
}

/* The value of key in a mapping (first occurrence), or NULL; a null value counts as absent. */
static const s_node_t *s_get(const s_node_t *map, const char *key) {
  if (!map || map->kind != S_MAP) return NULL;
  for (size_t i = 0; i + 1 < map->n; i += 2) {
    const s_node_t *k = map->items[i];
    if (k->kind == S_SCALAR && strcmp(k->text, key) == 0)
      return s_is_null(map->items[i + 1]) ? NULL : map->items[i + 1];
  }
  return NULL;
}

static bool s_scalar(s_ctx_t *c, const s_node_t *v, const char *path, const char *what) {
  if (v->kind == S_SCALAR) return true;
  s_error(c, v, path, "expected %s, got %s", what, s_kind_name(v));
  return false;
}

/* Integer: decimal, 0x hex or 0b binary, optional sign. */
static bool s_parse_int(const char *s, int64_t *out) {
  bool neg = false;
  if (*s == '-' || *s == '+') neg = *s++ == '-';
  unsigned base = 10;
  if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
    base = 16, s += 2;
  else if (s[0] == '0' && (s[1] == 'b' || s[1] == 'B'))
    base = 2, s += 2;
  if (!*s) return false;
  uint64_t v = 0;
  for (; *s; s++) {
    unsigned d;
    if (*s >= '0' && *s <= '9')
      d = (unsigned)(*s - '0');
    else if (*s >= 'a' && *s <= 'f')
      d = (unsigned)(*s - 'a' + 10);
    else if (*s >= 'A' && *s <= 'F')
      d = (unsigned)(*s - 'A' + 10);
    else
      return false;
    if (d >= base) return false;
    if (v > (UINT64_C(1) << 62) / base) return false;
    v = v * base + d;
  }
  *out = neg ? -(int64_t)v : (int64_t)v;
  return true;
}

/* Reads an integer in [lo, hi]; reports and returns false when absent (if required), not an
 * integer, or out of range. fmt_hex shows values in hex in messages. */
static bool s_int(s_ctx_t *c, const s_node_t *map, const char *path, const char *key, int64_t lo,
                  int64_t hi, bool hex, int64_t *out) {
  const s_node_t *v = s_get(map, key);
  if (!v) return false;
  char kp[S_PATH];
  s_path_key(kp, path, key);
  if (!s_scalar(c, v, kp, "an integer")) return false;
  int64_t x;
  char shown[200];
  if (strlen(v->text) != v->len || !s_parse_int(v->text, &x)) {
    s_error(c, v, kp, "'%s' is not an integer (write e.g. 42 or 0x2A)",
            s_show(v, shown, sizeof shown));
    return false;
  }
  if (x < lo || x > hi) {
    if (hex)
      s_error(c, v, kp, "%s is out of range (0x%llX-0x%llX)", s_show(v, shown, sizeof shown),
              (unsigned long long)lo, (unsigned long long)hi);
    else
      s_error(c, v, kp, "%s is out of range (%lld-%lld)", s_show(v, shown, sizeof shown),
              (long long)lo, (long long)hi);
    return false;
  }
  *out = x;
  return true;
}

static bool s_parse_double(const s_node_t *v, double *out) {
  if (strlen(v->text) != v->len || v->len == 0 || v->len > 64) return false;
  const char *s = v->text;
  /* plain decimal notation only (no hex floats, inf or nan) */
  for (const char *p = s; *p; p++)
    if (!strchr("0123456789+-.eE", *p)) return false;
  char *end = NULL;
  errno = 0;
  double d = strtod(s, &end);
  if (errno || !end || *end || !isfinite(d)) return false;
  *out = d;
  return true;
}

static bool s_double(s_ctx_t *c, const s_node_t *map, const char *path, const char *key, double lo,
                     double hi, double *out) {
  const s_node_t *v = s_get(map, key);
  if (!v) return false;
  char kp[S_PATH];
  s_path_key(kp, path, key);
  if (!s_scalar(c, v, kp, "a number")) return false;
  double d;
  char shown[200];
  if (!s_parse_double(v, &d)) {
    s_error(c, v, kp, "'%s' is not a number", s_show(v, shown, sizeof shown));
    return false;
  }
  if (d < lo || d > hi) {
    s_error(c, v, kp, "%s is out of range (%g-%g)", s_show(v, shown, sizeof shown), lo, hi);
    return false;
  }
  *out = d;
  return true;
}

static bool s_bool(s_ctx_t *c, const s_node_t *map, const char *path, const char *key, bool *out) {
  const s_node_t *v = s_get(map, key);
  if (!v) return false;
  char kp[S_PATH];
  s_path_key(kp, path, key);
  if (!s_scalar(c, v, kp, "true or false")) return false;
  if (strcmp(v->text, "true") == 0)
    *out = true;
  else if (strcmp(v->text, "false") == 0)
    *out = false;
  else {
    char shown[200];
    s_error(c, v, kp, "'%s' is not a boolean; write true or false", s_show(v, shown, sizeof shown));
    return false;
  }
  return true;
}

/* A text value into buf (cap includes the NUL): printable ASCII, not longer than cap - 1. */
static bool s_text_node(s_ctx_t *c, const s_node_t *v, const char *kp, char *buf, size_t cap) {
  if (!s_scalar(c, v, kp, "a text")) return false;
  for (size_t i = 0; i < v->len; i++) {
    unsigned char ch = (unsigned char)v->text[i];
    if (ch < 0x20 || ch > 0x7E) {
      s_error(c, v, kp, "character %zu (byte 0x%02X) is not printable ASCII", i + 1, ch);
      return false;
    }
  }
  if (v->len >= cap) {
    s_error(c, v, kp, "too long (%zu characters; at most %zu)", v->len, cap - 1);
    return false;
  }
  memcpy(buf, v->text, v->len + 1);
  return true;
}

static bool s_text(s_ctx_t *c, const s_node_t *map, const char *path, const char *key, char *buf,
                   size_t cap) {
  const s_node_t *v = s_get(map, key);
  if (!v) return false;
  char kp[S_PATH];
  s_path_key(kp, path, key);
  return s_text_node(c, v, kp, buf, cap);
}

/* One of names (NULL-terminated); returns its index or -1 (reported). */
static int s_enum(s_ctx_t *c, const s_node_t *map, const char *path, const char *key,
                  const char *const *names) {
  const s_node_t *v = s_get(map, key);
  if (!v) return -1;
  char kp[S_PATH];
  s_path_key(kp, path, key);
  if (!s_scalar(c, v, kp, "a word")) return -1;
  for (int i = 0; names[i]; i++)
    if (strcmp(v->text, names[i]) == 0) return i;
  char list[256] = "";
  size_t o = 0;
  for (int i = 0; names[i] && o < sizeof list; i++)
    o += (size_t)snprintf(list + o, sizeof list - o, "%s%s", i ? ", " : "", names[i]);
  char shown[200];
  const char *sug = s_suggest(v->text, names);
  if (sug)
    s_error(c, v, kp, "'%s' is not one of %s; did you mean '%s'?", s_show(v, shown, sizeof shown),
            list, sug);
  else
    s_error(c, v, kp, "'%s' is not one of %s", s_show(v, shown, sizeof shown), list);
  return -1;
}

/* Hex bytes "62 F1 90", "62F190", "62:F1:90" or a list of integers 0-255 -> owned buffer. */
static bool s_hex_node(s_ctx_t *c, const s_node_t *v, const char *kp, uint8_t **data, size_t *len) {
  *data = NULL;
  *len = 0;
  if (v->kind == S_SEQ) {
    if (v->n > DD_VEHICLE_MAX_DATA) {
      s_error(c, v, kp, "too long (%zu bytes; at most %u)", v->n, DD_VEHICLE_MAX_DATA);
      return false;
    }
    uint8_t *buf = malloc(v->n ? v->n : 1);
    if (!buf) {
      c->nomem = true;
      return false;
    }
    for (size_t i = 0; i < v->n; i++) {
      const s_node_t *it = v->items[i];
      int64_t x;
      char ip[S_PATH];
      s_path_index(ip, kp, i);
      if (it->kind != S_SCALAR || strlen(it->text) != it->len || !s_parse_int(it->text, &x) ||
          x < 0 || x > 255) {
        char shown[200];
        s_error(c, it, ip, "expected a byte 0-255 (e.g. 0x2A), got %s",
                it->kind == S_SCALAR ? s_show(it, shown, sizeof shown) : s_kind_name(it));
        free(buf);
        return false;
      }
      buf[i] = (uint8_t)x;
    }
    *data = buf;
    *len = v->n;
    return true;
  }
  if (!s_scalar(c, v, kp, "hex bytes (\"62 F1 90\") or a list of bytes")) return false;
  uint8_t *buf = malloc(v->len / 2 + 1);
  if (!buf) {
    c->nomem = true;
    return false;
  }
  size_t n = 0;
  size_t i = 0;
  /* libfyaml marks a quoted scalar at its first content character, so columns add up */
  while (i < v->len) {
    char ch = v->text[i];
    if (ch == ' ' || ch == ':' || ch == '-' || ch == '\t') {
      i++;
      continue;
    }
    int hi = -1, lo = -1;
    if (i + 1 < v->len) {
      char a = v->text[i], b = v->text[i + 1];
      hi = (a >= '0' && a <= '9')   ? a - '0'
           : (a >= 'a' && a <= 'f') ? a - 'a' + 10
           : (a >= 'A' && a <= 'F') ? a - 'A' + 10
                                    : -1;
      lo = (b >= '0' && b <= '9')   ? b - '0'
           : (b >= 'a' && b <= 'f') ? b - 'a' + 10
           : (b >= 'A' && b <= 'F') ? b - 'A' + 10
                                    : -1;
    }
    if (hi < 0 || lo < 0) {
      char pair[8];
      if (i + 1 < v->len && (unsigned char)v->text[i] >= 0x20 && (unsigned char)v->text[i] < 0x7F &&
          (unsigned char)v->text[i + 1] >= 0x20 && (unsigned char)v->text[i + 1] < 0x7F)
        snprintf(pair, sizeof pair, "'%c%c'", v->text[i], v->text[i + 1]);
      else
        snprintf(pair, sizeof pair, "this");
      s_error_at(
          c, v->line, v->col + (int)i, kp,
          "character %zu: %s is not a hex byte; write two hex digits per byte (e.g. \"62 F1 90\")",
          i + 1, pair);
      free(buf);
      return false;
    }
    if (n >= DD_VEHICLE_MAX_DATA) {
      s_error(c, v, kp, "too long (more than %u bytes)", DD_VEHICLE_MAX_DATA);
      free(buf);
      return false;
    }
    buf[n++] = (uint8_t)(hi << 4 | lo);
    i += 2;
  }
  *data = buf;
  *len = n;
  return true;
}

/* A list under key: returns the sequence node, or NULL (reported if present but not a list). */
static const s_node_t *s_list(s_ctx_t *c, const s_node_t *map, const char *path, const char *key) {
  const s_node_t *v = s_get(map, key);
  if (!v) return NULL;
  if (v->kind != S_SEQ) {
    char kp[S_PATH];
    s_path_key(kp, path, key);
    s_error(c, v, kp, "expected a list (lines starting with '- '), got %s", s_kind_name(v));
    return NULL;
  }
  return v;
}

/* ---- DIDs ----------------------------------------------------------------------------------- */

size_t dd_vehicle_did_encode(const dd_vehicle_did_t *did, double value, uint8_t out[4]) {
  assert(did && out && did->size >= 1 && did->size <= 4);
  double bits = 8.0 * did->size;
  double lo = did->is_signed ? -ldexp(1, (int)bits - 1) : 0;
  double hi = did->is_signed ? ldexp(1, (int)bits - 1) - 1 : ldexp(1, (int)bits) - 1;
  double raw = (value - did->offset) / (did->scale != 0 ? did->scale : 1);
  raw = floor(raw + 0.5);
  if (!(raw >= lo)) raw = lo; /* NAN too */
  if (raw > hi) raw = hi;
  int64_t r = (int64_t)raw;
  uint64_t u = (uint64_t)r;
  for (unsigned i = 0; i < did->size; i++)
    out[i] = (uint8_t)(u >> (8 * (did->size - 1 - i)));
  return did->size;
}

double dd_vehicle_did_decode(const dd_vehicle_did_t *did, const uint8_t *raw, size_t len) {
  assert(did);
  if (!raw || len != did->size || did->size < 1 || did->size > 4) return NAN;
  uint64_t u = 0;
  for (unsigned i = 0; i < did->size; i++)
    u = u << 8 | raw[i];
  double r = (double)u;
  if (did->is_signed && (u >> (8 * did->size - 1))) r -= ldexp(1, 8 * did->size);
  return r * did->scale + did->offset;
}

static void s_free_records(dd_vehicle_record_t *r, size_t n) {
  for (size_t i = 0; i < n; i++)
    free(r[i].data);
  free(r);
}

static void s_free_ecu(dd_vehicle_ecu_t *e) {
  for (size_t i = 0; i < e->n_dids; i++)
    free(e->dids[i].data);
  free(e->dids);
  for (size_t i = 0; i < e->n_dtcs; i++) {
    s_free_records(e->dtcs[i].snapshots, e->dtcs[i].n_snapshots);
    s_free_records(e->dtcs[i].extended, e->dtcs[i].n_extended);
  }
  free(e->dtcs);
  free(e->security);
}

void dd_vehicle_destroy(dd_vehicle_t **self_p) {
  assert(self_p);
  dd_vehicle_t *v = *self_p;
  if (!v) return;
  for (size_t i = 0; i < v->n_ecus; i++)
    s_free_ecu(&v->ecus[i]);
  free(v->ecus);
  free(v);
  *self_p = NULL;
}

/* Appends a DID (taking data) unless its id is taken; where records the line of each DID. */
static dd_vehicle_did_t *s_add_did(s_ctx_t *c, dd_vehicle_ecu_t *e, uint16_t id) {
  dd_vehicle_did_t *dids = realloc(e->dids, (e->n_dids + 1) * sizeof *dids);
  if (!dids) {
    c->nomem = true;
    return NULL;
  }
  e->dids = dids;
  dd_vehicle_did_t *d = &dids[e->n_dids++];
  memset(d, 0, sizeof *d);
  d->id = id;
  d->scale = 1;
  return d;
}

static const char *const s_did_keys[] = {"id",    "name",   "text",   "hex",      "live", "size",
                                         "scale", "offset", "signed", "writable", NULL};
static const char *const s_did_required[] = {"id", NULL};

static void s_load_did(s_ctx_t *c, const s_node_t *node, const char *path, dd_vehicle_ecu_t *e,
                       int *did_lines) {
  if (!s_check_map(c, node, path, s_did_keys, s_did_required)) return;
  int64_t id;
  if (!s_int(c, node, path, "id", 0, 0xFFFF, true, &id)) return;
  char kp[S_PATH];
  s_path_key(kp, path, "id");
  for (size_t i = 0; i < e->n_dids; i++)
    if (e->dids[i].id == id) {
      s_error(c, s_get(node, "id"), kp, "DID 0x%04X is already defined%s%s (line %d)", (unsigned)id,
              e->dids[i].name[0] ? " as " : "", e->dids[i].name, did_lines[i]);
      return;
    }
  const s_node_t *text = s_get(node, "text"), *hex = s_get(node, "hex"),
                 *live = s_get(node, "live");
  int kinds = (text != NULL) + (hex != NULL) + (live != NULL);
  if (kinds != 1) {
    s_error(c, node, path, "a DID needs exactly one of text, hex or live (it has %d)", kinds);
    return;
  }
  if (!live) {
    const char *extra[] = {"size", "scale", "offset", "signed"};
    for (size_t i = 0; i < 4; i++)
      if (s_get(node, extra[i])) {
        char ep[S_PATH];
        s_path_key(ep, path, extra[i]);
        s_error(c, s_get(node, extra[i]), ep, "only a live DID has %s", extra[i]);
        return;
      }
  }
  dd_vehicle_did_t tmp;
  memset(&tmp, 0, sizeof tmp);
  tmp.id = (uint16_t)id;
  tmp.scale = 1;
  s_text(c, node, path, "name", tmp.name, sizeof tmp.name);
  s_bool(c, node, path, "writable", &tmp.writable);
  if (text) {
    char tp[S_PATH];
    s_path_key(tp, path, "text");
    if (!s_scalar(c, text, tp, "a text")) return;
    if (text->len > DD_VEHICLE_MAX_DATA) {
      s_error(c, text, tp, "too long (%zu bytes; at most %u)", text->len, DD_VEHICLE_MAX_DATA);
      return;
    }
    for (size_t i = 0; i < text->len; i++) {
      unsigned char ch = (unsigned char)text->text[i];
      if (ch < 0x20 || ch > 0x7E) {
        s_error(c, text, tp, "character %zu (byte 0x%02X) is not printable ASCII; use hex:", i + 1,
                ch);
        return;
      }
    }
    tmp.kind = DD_DID_BYTES;
    tmp.len = text->len;
    tmp.data = malloc(text->len ? text->len : 1);
    if (!tmp.data) {
      c->nomem = true;
      return;
    }
    memcpy(tmp.data, text->text, text->len);
  } else if (hex) {
    char hp[S_PATH];
    s_path_key(hp, path, "hex");
    if (!s_hex_node(c, hex, hp, &tmp.data, &tmp.len)) return;
    tmp.kind = DD_DID_BYTES;
  } else {
    char lp[S_PATH];
    s_path_key(lp, path, "live");
    if (!s_scalar(c, live, lp, "a signal name")) return;
    if (dd_drive_signal_from_name(live->text, &tmp.signal) < 0) {
      const char *names[DD_DRIVE_SIGNAL_COUNT + 1];
      for (int i = 0; i < DD_DRIVE_SIGNAL_COUNT; i++)
        names[i] = dd_drive_signal_name((dd_drive_signal_t)i);
      names[DD_DRIVE_SIGNAL_COUNT] = NULL;
      const char *sug = s_suggest(live->text, names);
      char shown[200];
      if (sug)
        s_error(c, live, lp, "'%s' is not a signal of the drive model; did you mean '%s'?",
                s_show(live, shown, sizeof shown), sug);
      else
        s_error(c, live, lp, "'%s' is not a signal of the drive model (see docs/VEHICLES.md)",
                s_show(live, shown, sizeof shown));
      return;
    }
    tmp.kind = DD_DID_LIVE;
    int64_t size = 2;
    s_int(c, node, path, "size", 1, 4, false, &size);
    tmp.size = (uint8_t)size;
    double scale = 1, offset = 0;
    s_double(c, node, path, "scale", -1e9, 1e9, &scale);
    if (scale == 0) {
      char sp[S_PATH];
      s_path_key(sp, path, "scale");
      s_error(c, s_get(node, "scale"), sp, "scale must not be 0");
      return;
    }
    s_double(c, node, path, "offset", -1e9, 1e9, &offset);
    tmp.scale = scale;
    tmp.offset = offset;
    s_bool(c, node, path, "signed", &tmp.is_signed);
  }
  dd_vehicle_did_t *d = s_add_did(c, e, tmp.id);
  if (!d) {
    free(tmp.data);
    return;
  }
  *d = tmp;
  did_lines[e->n_dids - 1] = node->line;
}

/* ---- DTCs ----------------------------------------------------------------------------------- */

static const char *const s_record_keys[] = {"record", "hex", NULL};
static const char *const s_record_required[] = {"record", "hex", NULL};

static bool s_load_records(s_ctx_t *c, const s_node_t *list, const char *path,
                           dd_vehicle_record_t **out, size_t *n_out) {
  *out = NULL;
  *n_out = 0;
  if (!list->n) return true;
  dd_vehicle_record_t *r = calloc(list->n, sizeof *r);
  if (!r) {
    c->nomem = true;
    return false;
  }
  size_t n = 0;
  bool ok = true;
  for (size_t i = 0; i < list->n; i++) {
    char ip[S_PATH];
    s_path_index(ip, path, i);
    const s_node_t *it = list->items[i];
    if (!s_check_map(c, it, ip, s_record_keys, s_record_required)) {
      ok = false;
      continue;
    }
    int64_t rec;
    if (!s_int(c, it, ip, "record", 0x01, 0xFE, true, &rec)) {
      ok = false;
      continue;
    }
    bool dup = false;
    for (size_t k = 0; k < n; k++)
      dup |= r[k].record == rec;
    if (dup) {
      char rp[S_PATH];
      s_path_key(rp, ip, "record");
      s_error(c, s_get(it, "record"), rp, "record 0x%02X is given twice", (unsigned)rec);
      ok = false;
      continue;
    }
    const s_node_t *hex = s_get(it, "hex");
    if (!hex) continue;
    char hp[S_PATH];
    s_path_key(hp, ip, "hex");
    if (!s_hex_node(c, hex, hp, &r[n].data, &r[n].len)) {
      ok = false;
      continue;
    }
    r[n++].record = (uint8_t)rec;
  }
  *out = r;
  *n_out = n;
  return ok;
}

static const char *const s_dtc_keys[] = {"code",      "status",        "description",  "permanent",
                                         "snapshots", "extended_data", "freeze_frame", NULL};
static const char *const s_dtc_required[] = {"code", NULL};

static void s_load_dtc(s_ctx_t *c, const s_node_t *node, const char *path, dd_vehicle_ecu_t *e) {
  if (!s_check_map(c, node, path, s_dtc_keys, s_dtc_required)) return;
  const s_node_t *code = s_get(node, "code");
  if (!code) return;
  char cp[S_PATH];
  s_path_key(cp, path, "code");
  if (!s_scalar(c, code, cp, "a DTC like P0301 or P0301-1F")) return;
  uint32_t dtc;
  char shown[200];
  if (strlen(code->text) != code->len || dd_dtc_code_parse3(code->text, &dtc) < 0) {
    const char *why = strlen(code->text) == code->len ? dd_dtc_code_problem(code->text, true)
                                                      : "it holds a NUL byte";
    s_error(c, code, cp, "'%s' is not a DTC: %s", s_show(code, shown, sizeof shown), why);
    return;
  }
  for (size_t i = 0; i < e->n_dtcs; i++)
    if (e->dtcs[i].dtc == dtc) {
      char t[DD_DTC_TEXT3_SIZE];
      dd_dtc_code_format3(dtc, t);
      s_error(c, code, cp, "%s is listed twice in this ECU", t);
      return;
    }
  dd_vehicle_dtc_t d;
  memset(&d, 0, sizeof d);
  d.dtc = dtc;
  d.status = 0x2F; /* testFailed, TFThisOperationCycle, pending, confirmed, TFSinceLastClear */
  for (int i = 0; i < DD_DRIVE_SIGNAL_COUNT; i++)
    d.freeze[i] = NAN;
  int64_t st;
  if (s_int(c, node, path, "status", 0, 0xFF, true, &st)) d.status = (uint8_t)st;
  s_bool(c, node, path, "permanent", &d.permanent);
  if (!s_text(c, node, path, "description", d.description, sizeof d.description)) {
    const char *desc = dd_dtc_code_description((uint16_t)(dtc >> 8));
    if (desc) snprintf(d.description, sizeof d.description, "%s", desc);
  }
  bool ok = true;
  const s_node_t *snaps = s_list(c, node, path, "snapshots");
  if (snaps) {
    char sp[S_PATH];
    s_path_key(sp, path, "snapshots");
    ok &= s_load_records(c, snaps, sp, &d.snapshots, &d.n_snapshots);
  }
  const s_node_t *ext = s_list(c, node, path, "extended_data");
  if (ext) {
    char xp[S_PATH];
    s_path_key(xp, path, "extended_data");
    ok &= s_load_records(c, ext, xp, &d.extended, &d.n_extended);
  }
  const s_node_t *ff = s_get(node, "freeze_frame");
  if (ff) {
    char fp[S_PATH];
    s_path_key(fp, path, "freeze_frame");
    const char *names[DD_DRIVE_SIGNAL_COUNT + 1];
    for (int i = 0; i < DD_DRIVE_SIGNAL_COUNT; i++)
      names[i] = dd_drive_signal_name((dd_drive_signal_t)i);
    names[DD_DRIVE_SIGNAL_COUNT] = NULL;
    if (s_check_map(c, ff, fp, names, NULL)) {
      for (int i = 0; i < DD_DRIVE_SIGNAL_COUNT; i++) {
        double x;
        if (s_double(c, ff, fp, names[i], -1e6, 1e6, &x)) {
          d.freeze[i] = x;
          d.has_freeze_frame = true;
        }
      }
    } else {
      ok = false;
    }
  }
  dd_vehicle_dtc_t *dtcs = ok ? realloc(e->dtcs, (e->n_dtcs + 1) * sizeof *dtcs) : NULL;
  if (!dtcs) {
    if (ok) c->nomem = true;
    s_free_records(d.snapshots, d.n_snapshots);
    s_free_records(d.extended, d.n_extended);
    return;
  }
  e->dtcs = dtcs;
  e->dtcs[e->n_dtcs++] = d;
}

/* ---- security, flash, OBD -------------------------------------------------------------------- */

static const char *const s_sec_keys[] = {"level",        "secret",     "seed_size",
                                         "max_attempts", "lockout_ms", NULL};
static const char *const s_sec_required[] = {"level", "secret", NULL};

static void s_load_security(s_ctx_t *c, const s_node_t *node, const char *path,
                            dd_vehicle_ecu_t *e) {
  if (!s_check_map(c, node, path, s_sec_keys, s_sec_required)) return;
  dd_vehicle_security_t s = {0, 0, 4, 3, 10000};
  int64_t x;
  char lp[S_PATH];
  s_path_key(lp, path, "level");
  if (!s_int(c, node, path, "level", 0x01, 0x7D, true, &x)) return;
  if (!(x & 1)) {
    s_error(c, s_get(node, "level"), lp,
            "0x%02X is a sendKey sub-function; give the odd requestSeed level (0x%02X)",
            (unsigned)x, (unsigned)(x - 1));
    return;
  }
  s.level = (uint8_t)x;
  for (size_t i = 0; i < e->n_security; i++)
    if (e->security[i].level == s.level) {
      s_error(c, s_get(node, "level"), lp, "level 0x%02X is defined twice", s.level);
      return;
    }
  if (!s_int(c, node, path, "secret", 0, 0xFFFFFFFF, true, &x)) return;
  s.secret = (uint32_t)x;
  if (s_int(c, node, path, "seed_size", 1, 16, false, &x)) s.seed_size = (uint8_t)x;
  if (s_int(c, node, path, "max_attempts", 1, 255, false, &x)) s.max_attempts = (uint8_t)x;
  if (s_int(c, node, path, "lockout_ms", 0, 3600000, false, &x)) s.lockout_ms = (uint32_t)x;
  dd_vehicle_security_t *arr = realloc(e->security, (e->n_security + 1) * sizeof *arr);
  if (!arr) {
    c->nomem = true;
    return;
  }
  e->security = arr;
  e->security[e->n_security++] = s;
}

static const char *const s_flash_keys[] = {"base",
                                           "sector_size",
                                           "sectors",
                                           "erase_ms_per_sector",
                                           "write_us_per_byte",
                                           "write_us_per_block",
                                           "max_block_length",
                                           NULL};
static const char *const s_flash_required[] = {"base", "sector_size", "sectors", NULL};

static void s_load_flash(s_ctx_t *c, const s_node_t *node, const char *path,
                         dd_vehicle_flash_t *f) {
  if (!s_check_map(c, node, path, s_flash_keys, s_flash_required)) return;
  int64_t base, size, count, x;
  bool ok = s_int(c, node, path, "base", 0, 0xFFFFFFFF, true, &base);
  ok &= s_int(c, node, path, "sector_size", 16, 0x10000000, true, &size);
  ok &= s_int(c, node, path, "sectors", 1, 65536, false, &count);
  if (!ok) return;
  if ((uint64_t)base + (uint64_t)size * (uint64_t)count > UINT64_C(0x100000000)) {
    s_error(c, node, path, "base + sector_size * sectors ends beyond 0xFFFFFFFF");
    return;
  }
  f->present = true;
  f->base = (uint32_t)base;
  f->sector_size = (uint32_t)size;
  f->sectors = (uint32_t)count;
  f->max_block_length = 0x0402; /* 1024 data bytes + SID + block sequence counter */
  if (s_int(c, node, path, "erase_ms_per_sector", 0, 600000, false, &x))
    f->erase_ms_per_sector = (uint32_t)x;
  s_double(c, node, path, "write_us_per_byte", 0, 100000, &f->write_us_per_byte);
  if (s_int(c, node, path, "write_us_per_block", 0, 60000000, false, &x))
    f->write_us_per_block = (uint32_t)x;
  /* ISO 14229-1 RequestDownload: the block length counts the SID and the counter byte. */
  if (s_int(c, node, path, "max_block_length", 3, 0xFFFF, true, &x))
    f->max_block_length = (uint16_t)x;
}

static const char *const s_obd_keys[] = {"pids", "ecu_name", "calibration_ids",
                                         "cvns", "standard", NULL};

static void s_load_obd(s_ctx_t *c, const s_node_t *node, const char *path, dd_vehicle_ecu_t *e,
                       const char *vin, bool diesel) {
  if (!s_check_map(c, node, path, s_obd_keys, NULL)) return;
  dd_obd_cfg_t *o = &e->obd;
  dd_obd_cfg_init(o);
  memcpy(o->vin, vin, DD_VIN_SIZE);
  o->compression_ignition = diesel;
  e->has_obd = true;
  const s_node_t *pids = s_list(c, node, path, "pids");
  char pp[S_PATH];
  s_path_key(pp, path, "pids");
  if (!pids) {
    if (!s_get(node, "pids")) dd_obd_cfg_all_pids(o);
  } else {
    for (size_t i = 0; i < pids->n; i++) {
      const s_node_t *it = pids->items[i];
      char ip[S_PATH];
      s_path_index(ip, pp, i);
      int64_t x;
      char shown[200];
      if (it->kind != S_SCALAR || strlen(it->text) != it->len || !s_parse_int(it->text, &x) ||
          x < 0 || x > 0xFF) {
        s_error(c, it, ip, "expected a PID 0x00-0xFF, got %s",
                it->kind == S_SCALAR ? s_show(it, shown, sizeof shown) : s_kind_name(it));
        continue;
      }
      if (dd_obd_pid_is_range((uint8_t)x)) {
        s_error(c, it, ip, "0x%02X is a \"PIDs supported\" PID; those are computed from the list",
                (unsigned)x);
        continue;
      }
      if (!dd_obd_pid_implemented((uint8_t)x)) {
        s_error(c, it, ip,
                "PID 0x%02X is not implemented (implemented: 01 04 05 06 07 0B 0C 0D 0F 10 11 1C "
                "1F 2F 33 42 46)",
                (unsigned)x);
        continue;
      }
      dd_obd_pidset_add(&o->pids, (uint8_t)x);
    }
  }
  const s_node_t *name = s_get(node, "ecu_name");
  if (name) {
    char np[S_PATH], buf[DD_OBD_ECU_NAME_LEN + 1];
    s_path_key(np, path, "ecu_name");
    if (s_text_node(c, name, np, buf, sizeof buf)) {
      /* J1979 InfoType $0A: acronym (up to 4) '-' text name (up to 15). */
      char *dash = strchr(buf, '-');
      size_t la = dash ? (size_t)(dash - buf) : 0;
      if (!dash || la == 0 || la > 4 || strlen(dash + 1) > 15 || strlen(dash + 1) == 0)
        s_error(c, name, np,
                "'%s' must be ACRONYM-TextName: 1-4 characters, '-', 1-15 characters (e.g. "
                "ECM-EngineControl)",
                buf);
      else {
        memcpy(o->ecu_acronym, buf, la);
        o->ecu_acronym[la] = '\0';
        snprintf(o->ecu_text, sizeof o->ecu_text, "%s", dash + 1);
      }
    }
  }
  const s_node_t *cal = s_list(c, node, path, "calibration_ids");
  if (cal) {
    char cp[S_PATH];
    s_path_key(cp, path, "calibration_ids");
    for (size_t i = 0; i < cal->n; i++) {
      char ip[S_PATH];
      s_path_index(ip, cp, i);
      if (o->n_calids >= DD_OBD_MAX_CALIDS) {
        s_error(c, cal->items[i], ip, "at most %u calibration ids", DD_OBD_MAX_CALIDS);
        break;
      }
      if (s_text_node(c, cal->items[i], ip, o->calids[o->n_calids], DD_OBD_CALID_LEN + 1))
        o->n_calids++;
    }
  }
  const s_node_t *cvns = s_list(c, node, path, "cvns");
  if (cvns) {
    char vp[S_PATH];
    s_path_key(vp, path, "cvns");
    for (size_t i = 0; i < cvns->n; i++) {
      const s_node_t *it = cvns->items[i];
      char ip[S_PATH];
      s_path_index(ip, vp, i);
      int64_t x;
      char shown[200];
      if (o->n_cvns >= DD_OBD_MAX_CALIDS) {
        s_error(c, it, ip, "at most %u CVNs", DD_OBD_MAX_CALIDS);
        break;
      }
      if (it->kind != S_SCALAR || strlen(it->text) != it->len || !s_parse_int(it->text, &x) ||
          x < 0 || x > 0xFFFFFFFF) {
        s_error(c, it, ip, "expected a 32-bit CVN (e.g. 0x1A2B3C4D), got %s",
                it->kind == S_SCALAR ? s_show(it, shown, sizeof shown) : s_kind_name(it));
        continue;
      }
      o->cvns[o->n_cvns++] = (uint32_t)x;
    }
  }
  int64_t x;
  if (s_int(c, node, path, "standard", 1, 0xFA, true, &x)) o->obd_standard = (uint8_t)x;
}

/* ---- ECUs ----------------------------------------------------------------------------------- */

static const char *const s_ecu_keys[] = {"name",
                                         "role",
                                         "request_id",
                                         "response_id",
                                         "functional_id",
                                         "extended",
                                         "addressing",
                                         "ecu_address",
                                         "tester_address",
                                         "functional_address",
                                         "fd",
                                         "tx_dl",
                                         "padding",
                                         "stmin",
                                         "block_size",
                                         "p2_ms",
                                         "p2_star_ms",
                                         "part_number",
                                         "software_number",
                                         "software_version",
                                         "supplier",
                                         "serial_number",
                                         "hardware_number",
                                         "supplier_hardware_number",
                                         "hardware_version",
                                         "supplier_software_number",
                                         "supplier_software_version",
                                         "dids",
                                         "dtcs",
                                         "security",
                                         "flash",
                                         "obd",
                                         NULL};
static const char *const s_ecu_required[] = {"name", "role", "request_id", "response_id", NULL};

/* Reads a CAN id with the 11-/29-bit rule; false when absent or wrong (reported). */
static bool s_can_id(s_ctx_t *c, const s_node_t *map, const char *path, const char *key,
                     bool extended, uint32_t *out) {
  int64_t x;
  if (!s_int(c, map, path, key, 0, 0xFFFFFFFF, true, &x)) return false;
  char kp[S_PATH];
  s_path_key(kp, path, key);
  const s_node_t *v = s_get(map, key);
  if (!extended && x > 0x7FF) {
    s_error(c, v, kp,
            "0x%llX is not an 11-bit identifier (0x000-0x7FF); use extended: true for 29-bit ids",
            (unsigned long long)x);
    return false;
  }
  if (extended && x > 0x1FFFFFFF) {
    s_error(c, v, kp, "0x%llX is not a 29-bit identifier (0x00000000-0x1FFFFFFF)",
            (unsigned long long)x);
    return false;
  }
  *out = (uint32_t)x;
  return true;
}

static void s_load_ecu(s_ctx_t *c, const s_node_t *node, const char *path, dd_vehicle_t *v,
                       dd_vehicle_ecu_t *e, bool *ok_ids) {
  *ok_ids = false;
  if (!s_check_map(c, node, path, s_ecu_keys, s_ecu_required)) return;
  char kp[S_PATH];
  if (s_text(c, node, path, "name", e->name, sizeof e->name) && !e->name[0]) {
    s_path_key(kp, path, "name");
    s_error(c, s_get(node, "name"), kp, "the name must not be empty");
  }
  int role = s_enum(c, node, path, "role", s_roles);
  e->role = role >= 0 ? (dd_ecu_role_t)role : DD_ECU_OTHER;
  s_bool(c, node, path, "extended", &e->extended);
  bool ids = s_can_id(c, node, path, "request_id", e->extended, &e->request_id);
  ids &= s_can_id(c, node, path, "response_id", e->extended, &e->response_id);
  e->functional_id = e->extended ? DD_OBD_FUNC_ID_29 : DD_OBD_FUNC_ID_11;
  if (s_get(node, "functional_id"))
    ids &= s_can_id(c, node, path, "functional_id", e->extended, &e->functional_id);
  static const char *const addressing[] = {"normal", "extended", NULL};
  int am = s_get(node, "addressing") ? s_enum(c, node, path, "addressing", addressing) : 0;
  e->ext_addressing = am == 1;
  int64_t x;
  e->functional_address = 0x33;
  if (e->ext_addressing) {
    bool a = s_int(c, node, path, "ecu_address", 0, 0xFF, true, &x);
    if (a) e->ecu_address = (uint8_t)x;
    bool t = s_int(c, node, path, "tester_address", 0, 0xFF, true, &x);
    if (t) e->tester_address = (uint8_t)x;
    if (!s_get(node, "ecu_address"))
      s_error(c, node, path,
              "addressing: extended needs ecu_address (the address byte of requests to this ECU)");
    if (!s_get(node, "tester_address"))
      s_error(
          c, node, path,
          "addressing: extended needs tester_address (the address byte of this ECU's responses)");
    ids &= a && t;
    if (s_int(c, node, path, "functional_address", 0, 0xFF, true, &x))
      e->functional_address = (uint8_t)x;
  } else {
    const char *only[] = {"ecu_address", "tester_address", "functional_address"};
    for (size_t i = 0; i < 3; i++)
      if (s_get(node, only[i])) {
        s_path_key(kp, path, only[i]);
        s_error(c, s_get(node, only[i]), kp, "only used with addressing: extended");
      }
  }
  if (ids && e->request_id == e->response_id) {
    s_path_key(kp, path, "response_id");
    s_error(c, s_get(node, "response_id"), kp,
            "equals request_id (0x%X); the ECU needs its own response id", (unsigned)e->request_id);
    ids = false;
  }
  if (ids && (e->functional_id == e->request_id || e->functional_id == e->response_id)) {
    s_path_key(kp, path, "functional_id");
    s_error(c, s_get(node, "functional_id") ? s_get(node, "functional_id") : node, kp,
            "0x%X is also a physical id of this ECU", (unsigned)e->functional_id);
    ids = false;
  }
  *ok_ids = ids;
  s_bool(c, node, path, "fd", &e->fd);
  e->tx_dl = e->fd ? 64 : 8;
  if (s_int(c, node, path, "tx_dl", 8, 64, false, &x)) {
    s_path_key(kp, path, "tx_dl");
    /* ISO 15765-2:2016 9.5: TX_DL is 8 on classic CAN, a valid FD length 8-64 with FD. */
    bool valid =
        x == 8 ||
        (e->fd && (x == 12 || x == 16 || x == 20 || x == 24 || x == 32 || x == 48 || x == 64));
    if (!valid)
      s_error(c, s_get(node, "tx_dl"), kp, "%lld is not a valid TX_DL%s", (long long)x,
              e->fd ? " (8, 12, 16, 20, 24, 32, 48 or 64)" : " without fd: true (only 8)");
    else
      e->tx_dl = (uint8_t)x;
  }
  e->padding = true;
  e->pad_byte = 0xCC; /* ISO 15765-2 recommends 0xCC */
  /* padding: absent -> 0xCC; "none" or null -> no padding; else the byte */
  const s_node_t *pad = s_raw(node, "padding");
  if (pad && (s_is_null(pad) || (pad->kind == S_SCALAR && strcmp(pad->text, "none") == 0)))
    e->padding = false;
  else if (pad && s_int(c, node, path, "padding", 0, 0xFF, true, &x))
    e->pad_byte = (uint8_t)x;
  if (s_int(c, node, path, "stmin", 0, 0xFF, true, &x)) {
    /* ISO 15765-2:2016 9.6.5.4: 0x00-0x7F ms, 0xF1-0xF9 100-900 us; others reserved. */
    if (!(x <= 0x7F || (x >= 0xF1 && x <= 0xF9))) {
      s_path_key(kp, path, "stmin");
      s_error(c, s_get(node, "stmin"), kp,
              "0x%02X is a reserved STmin value (use 0x00-0x7F or 0xF1-0xF9)", (unsigned)x);
    } else {
      e->stmin = (uint8_t)x;
    }
  }
  if (s_int(c, node, path, "block_size", 0, 0xFF, false, &x)) e->block_size = (uint8_t)x;
  e->p2_ms = 50;
  e->p2_star_ms = 5000;
  if (s_int(c, node, path, "p2_ms", 1, 0xFFFF, false, &x)) e->p2_ms = (uint32_t)x;
  /* ISO 14229-1 DiagnosticSessionControl response: P2*server goes out in 10 ms units, 16 bits. */
  if (s_int(c, node, path, "p2_star_ms", 10, 655350, false, &x)) e->p2_star_ms = (uint32_t)x;

  /* DIDs: the identification keys, then the dids list, then F190 from the VIN. */
  int lines_cap = 0;
  const s_node_t *dids = s_list(c, node, path, "dids");
  lines_cap = (int)(S_N_IDENT + 1 + (dids ? dids->n : 0));
  int *did_lines = calloc((size_t)lines_cap, sizeof *did_lines);
  if (!did_lines) {
    c->nomem = true;
    return;
  }
  for (size_t i = 0; i < S_N_IDENT; i++) {
    const s_node_t *val = s_get(node, s_ident[i].key);
    if (!val) continue;
    char buf[DD_VEHICLE_MAX_DATA + 1];
    s_path_key(kp, path, s_ident[i].key);
    if (!s_text_node(c, val, kp, buf, sizeof buf)) continue;
    dd_vehicle_did_t *d = s_add_did(c, e, s_ident[i].did);
    if (!d) break;
    d->kind = DD_DID_BYTES;
    d->len = strlen(buf);
    d->data = malloc(d->len ? d->len : 1);
    if (!d->data) {
      c->nomem = true;
      break;
    }
    memcpy(d->data, buf, d->len);
    snprintf(d->name, sizeof d->name, "%s", s_ident[i].key);
    did_lines[e->n_dids - 1] = val->line;
  }
  if (dids) {
    char dp[S_PATH];
    s_path_key(dp, path, "dids");
    for (size_t i = 0; i < dids->n && !c->nomem; i++) {
      char ip[S_PATH];
      s_path_index(ip, dp, i);
      s_load_did(c, dids->items[i], ip, e, did_lines);
    }
  }
  if (!dd_vehicle_did(e, 0xF190) && !c->nomem) {
    dd_vehicle_did_t *d = s_add_did(c, e, 0xF190); /* VINDataIdentifier */
    if (d) {
      d->kind = DD_DID_BYTES;
      d->len = DD_VIN_LEN;
      d->data = malloc(DD_VIN_LEN);
      if (d->data)
        memcpy(d->data, v->vin, DD_VIN_LEN);
      else
        c->nomem = true;
      snprintf(d->name, sizeof d->name, "vin");
    }
  }
  free(did_lines);

  const s_node_t *dtcs = s_list(c, node, path, "dtcs");
  if (dtcs) {
    char dp[S_PATH];
    s_path_key(dp, path, "dtcs");
    for (size_t i = 0; i < dtcs->n && !c->nomem; i++) {
      char ip[S_PATH];
      s_path_index(ip, dp, i);
      s_load_dtc(c, dtcs->items[i], ip, e);
    }
  }
  const s_node_t *sec = s_list(c, node, path, "security");
  if (sec) {
    char sp[S_PATH];
    s_path_key(sp, path, "security");
    for (size_t i = 0; i < sec->n && !c->nomem; i++) {
      char ip[S_PATH];
      s_path_index(ip, sp, i);
      s_load_security(c, sec->items[i], ip, e);
    }
  }
  const s_node_t *flash = s_get(node, "flash");
  if (flash) {
    s_path_key(kp, path, "flash");
    s_load_flash(c, flash, kp, &e->flash);
  }
  const s_node_t *obd = s_get(node, "obd");
  if (obd) {
    s_path_key(kp, path, "obd");
    s_load_obd(c, obd, kp, e, v->vin, v->drive.fuel == DD_DRIVE_DIESEL);
  }
}

/* ---- the vehicle ---------------------------------------------------------------------------- */

static const char *const s_top_keys[] = {
    "vin", "make",   "model",        "model_year", "vehicle_type", "body", "chassis_number",
    "bus", "engine", "transmission", "dynamics",   "drive_cycle",  "ecus", NULL};
static const char *const s_top_required[] = {"vin", "make", "model", "model_year", "ecus", NULL};

static void s_load_vin(s_ctx_t *c, const s_node_t *root, dd_vehicle_t *v, bool *vin_ok) {
  *vin_ok = false;
  const s_node_t *n = s_get(root, "vin");
  if (!n || !s_scalar(c, n, "vin", "a 17-character VIN")) return;
  dd_vin_report_t rep;
  if (strlen(n->text) != n->len) {
    s_error(c, n, "vin", "holds a NUL byte");
    return;
  }
  if (dd_vin_validate(n->text, DD_VIN_CHECK_AUTO, &rep) < 0) {
    /* point at the offending character when the scalar sits on one line */
    int col = n->col + (rep.position > 0 ? rep.position - 1 : 0);
    s_error_at(c, n->line, n->plain || n->quoted ? col : n->col, "vin", "%s", rep.text);
    return;
  }
  memcpy(v->vin, n->text, DD_VIN_SIZE);
  *vin_ok = true;
}

static const char *const s_engine_keys[] = {
    "code", "description", "fuel", "displacement_l", "max_torque_nm", "idle_rpm", "max_rpm", NULL};
static const char *const s_trans_keys[] = {"type", "gear_ratios", "final_drive", NULL};
static const char *const s_dyn_keys[] = {"mass_kg", "drag_area_m2", "wheel_circumference_m",
                                         "tank_l", NULL};
static const char *const s_cycle_keys[] = {
    "idle_s",    "cruise_kmh", "cruise_s",       "accel_ms2",       "decel_ms2",          "jitter",
    "ambient_c", "baro_kpa",   "fuel_start_pct", "coolant_start_c", "engine_on_at_start", NULL};
static const char *const s_bus_keys[] = {"bitrate", "data_bitrate", NULL};

static void s_load_drive(s_ctx_t *c, const s_node_t *root, dd_vehicle_t *v) {
  dd_drive_params_t *p = &v->drive;
  dd_drive_params_default(p);
  snprintf(v->transmission, sizeof v->transmission, "automatic");
  const s_node_t *eng = s_get(root, "engine");
  if (eng && s_check_map(c, eng, "engine", s_engine_keys, NULL)) {
    s_text(c, eng, "engine", "code", v->engine_code, sizeof v->engine_code);
    s_text(c, eng, "engine", "description", v->engine_text, sizeof v->engine_text);
    static const char *const fuels[] = {"gasoline", "diesel", NULL};
    int f = s_enum(c, eng, "engine", "fuel", fuels);
    if (f >= 0) p->fuel = (dd_drive_fuel_t)f;
    if (p->fuel == DD_DRIVE_DIESEL) { /* diesel defaults before the file's own values */
      p->idle_rpm = 800;
      p->max_rpm = 4800;
      p->max_torque_nm = 350;
    }
    s_double(c, eng, "engine", "displacement_l", 0.5, 10, &p->displacement_l);
    s_double(c, eng, "engine", "max_torque_nm", 50, 2000, &p->max_torque_nm);
    s_double(c, eng, "engine", "idle_rpm", 400, 1500, &p->idle_rpm);
    s_double(c, eng, "engine", "max_rpm", 1500, 12000, &p->max_rpm);
  }
  const s_node_t *tr = s_get(root, "transmission");
  if (tr && s_check_map(c, tr, "transmission", s_trans_keys, NULL)) {
    static const char *const types[] = {"automatic", "manual", NULL};
    int t = s_enum(c, tr, "transmission", "type", types);
    if (t >= 0) snprintf(v->transmission, sizeof v->transmission, "%s", types[t]);
    const s_node_t *gr = s_list(c, tr, "transmission", "gear_ratios");
    if (gr) {
      if (gr->n < 1 || gr->n > DD_DRIVE_MAX_GEARS) {
        s_error(c, gr, "transmission.gear_ratios", "give 1-%u ratios (got %zu)", DD_DRIVE_MAX_GEARS,
                gr->n);
      } else {
        bool ok = true;
        double r[DD_DRIVE_MAX_GEARS];
        for (size_t i = 0; i < gr->n; i++) {
          char ip[S_PATH];
          s_path_index(ip, "transmission.gear_ratios", i);
          const s_node_t *it = gr->items[i];
          if (it->kind != S_SCALAR || !s_parse_double(it, &r[i]) || r[i] < 0.3 || r[i] > 8) {
            s_error(c, it, ip, "expected a gear ratio 0.3-8");
            ok = false;
          } else if (i && r[i] >= r[i - 1]) {
            s_error(c, it, ip, "%g is not below the previous gear's %g; list first gear first",
                    r[i], r[i - 1]);
            ok = false;
          }
        }
        if (ok) {
          memcpy(p->gear_ratios, r, gr->n * sizeof r[0]);
          p->n_gears = gr->n;
        }
      }
    }
    s_double(c, tr, "transmission", "final_drive", 1.5, 8, &p->final_drive);
  }
  const s_node_t *dyn = s_get(root, "dynamics");
  if (dyn && s_check_map(c, dyn, "dynamics", s_dyn_keys, NULL)) {
    s_double(c, dyn, "dynamics", "mass_kg", 300, 40000, &p->mass_kg);
    s_double(c, dyn, "dynamics", "drag_area_m2", 0.2, 10, &p->drag_area_m2);
    s_double(c, dyn, "dynamics", "wheel_circumference_m", 1, 4, &p->wheel_circumference_m);
    s_double(c, dyn, "dynamics", "tank_l", 5, 1500, &p->tank_l);
  }
  const s_node_t *cy = s_get(root, "drive_cycle");
  if (cy && s_check_map(c, cy, "drive_cycle", s_cycle_keys, NULL)) {
    const char *P = "drive_cycle";
    s_double(c, cy, P, "idle_s", 1, 3600, &p->cycle_idle_s);
    s_double(c, cy, P, "cruise_kmh", 5, 250, &p->cycle_cruise_kmh);
    s_double(c, cy, P, "cruise_s", 1, 36000, &p->cycle_cruise_s);
    s_double(c, cy, P, "accel_ms2", 0.2, 5, &p->cycle_accel_ms2);
    s_double(c, cy, P, "decel_ms2", 0.2, 8, &p->cycle_decel_ms2);
    s_double(c, cy, P, "jitter", 0, 0.5, &p->cycle_jitter);
    s_double(c, cy, P, "ambient_c", -40, 60, &p->ambient_c);
    s_double(c, cy, P, "baro_kpa", 50, 110, &p->baro_kpa);
    s_double(c, cy, P, "fuel_start_pct", 0, 100, &p->fuel_start_pct);
    s_double(c, cy, P, "coolant_start_c", -40, 120, &p->coolant_start_c);
    s_bool(c, cy, P, "engine_on_at_start", &p->engine_on_at_start);
  }
  char why[160];
  if (c->count == 0 && dd_drive_params_check(p, why, sizeof why) < 0)
    s_error(c, eng ? eng : root, eng ? "engine" : NULL, "the drive model rejects these values: %s",
            why);
}

static void s_check_bus(s_ctx_t *c, const s_node_t *root, dd_vehicle_t *v) {
  v->bitrate = 500000;
  const s_node_t *bus = s_get(root, "bus");
  int64_t x;
  if (bus && s_check_map(c, bus, "bus", s_bus_keys, NULL)) {
    if (s_int(c, bus, "bus", "bitrate", 10000, 1000000, false, &x)) v->bitrate = (uint32_t)x;
    if (s_int(c, bus, "bus", "data_bitrate", 500000, 12000000, false, &x))
      v->data_bitrate = (uint32_t)x;
  }
  bool any_fd = false;
  for (size_t i = 0; i < v->n_ecus; i++)
    any_fd |= v->ecus[i].fd;
  if (any_fd && !v->data_bitrate) v->data_bitrate = 2000000;
  if (v->data_bitrate && v->data_bitrate < v->bitrate)
    s_error(c, s_get(bus, "data_bitrate"), "bus.data_bitrate",
            "%u is below the arbitration bit rate %u", (unsigned)v->data_bitrate,
            (unsigned)v->bitrate);
}

/* Ids must not collide across ECUs on the one bus (same id and, with extended addressing,
 * the same address byte). */
static void s_check_ids(s_ctx_t *c, const s_node_t *ecus, dd_vehicle_t *v, const bool *ok) {
  for (size_t i = 0; i < v->n_ecus; i++) {
    if (!ok[i]) continue;
    const dd_vehicle_ecu_t *a = &v->ecus[i];
    for (size_t j = 0; j < i; j++) {
      if (!ok[j]) continue;
      const dd_vehicle_ecu_t *b = &v->ecus[j];
      if (a->extended != b->extended) continue;
      char ip[S_PATH], kp[S_PATH];
      s_path_index(ip, "ecus", i);
      bool same_addr = !a->ext_addressing || !b->ext_addressing || a->ecu_address == b->ecu_address;
      if (a->request_id == b->request_id && a->ext_addressing == b->ext_addressing && same_addr) {
        s_path_key(kp, ip, "request_id");
        s_error(c, s_get(ecus->items[i], "request_id"), kp,
                "0x%X is already the request id of ecus[%zu] (%s)", (unsigned)a->request_id, j,
                b->name);
      }
      if (a->response_id == b->response_id &&
          (!a->ext_addressing || !b->ext_addressing || a->tester_address == b->tester_address)) {
        s_path_key(kp, ip, "response_id");
        s_error(c, s_get(ecus->items[i], "response_id"), kp,
                "0x%X is already the response id of ecus[%zu] (%s)", (unsigned)a->response_id, j,
                b->name);
      }
      if (a->response_id == b->request_id || a->request_id == b->response_id) {
        s_path_key(kp, ip, a->response_id == b->request_id ? "response_id" : "request_id");
        s_error(
            c,
            s_get(ecus->items[i], a->response_id == b->request_id ? "response_id" : "request_id"),
            kp, "0x%X is used in the other direction by ecus[%zu] (%s)",
            (unsigned)(a->response_id == b->request_id ? a->response_id : a->request_id), j,
            b->name);
      }
      if (strcmp(a->name, b->name) == 0 && a->name[0]) {
        s_path_key(kp, ip, "name");
        s_error(c, s_get(ecus->items[i], "name"), kp, "'%s' is already the name of ecus[%zu]",
                a->name, j);
      }
    }
  }
}

static dd_vehicle_t *s_build(s_ctx_t *c, const s_node_t *root) {
  if (!s_check_map(c, root, NULL, s_top_keys, s_top_required)) return NULL;
  dd_vehicle_t *v = calloc(1, sizeof *v);
  if (!v) {
    c->nomem = true;
    return NULL;
  }
  snprintf(v->source, sizeof v->source, "%s", c->file);
  bool vin_ok;
  s_load_vin(c, root, v, &vin_ok);
  s_text(c, root, NULL, "make", v->make, sizeof v->make);
  s_text(c, root, NULL, "model", v->model, sizeof v->model);
  int64_t year;
  if (s_int(c, root, NULL, "model_year", 1980, 2039, false, &year)) {
    v->model_year = (int)year;
    int a, b;
    if (vin_ok && dd_vin_year_candidates(v->vin[9], &a, &b) == 0) {
      int by_rule = 0;
      bool na = dd_vin_requires_check_digit(v->vin);
      dd_vin_model_year(v->vin, &by_rule);
      /* North America: 49 CFR 565.15 fixes the year from positions 10 and 7; elsewhere position
       * 10 is only compared modulo the 30-year cycle. */
      if (na && year != by_rule)
        s_error(c, s_get(root, "model_year"), "model_year",
                "%d does not match the VIN: position 10 '%c' with a %s in position 7 means %d",
                (int)year, v->vin[9], by_rule < 2010 ? "digit" : "letter", by_rule);
      else if (!na && year != a && year != b)
        s_error(c, s_get(root, "model_year"), "model_year",
                "%d does not match the VIN: position 10 '%c' means %d or %d", (int)year, v->vin[9],
                a, b);
    }
  }
  snprintf(v->vehicle_type, sizeof v->vehicle_type, "passenger_car");
  int vt = s_enum(c, root, NULL, "vehicle_type", s_vehicle_types);
  if (vt >= 0) snprintf(v->vehicle_type, sizeof v->vehicle_type, "%s", s_vehicle_types[vt]);
  s_text(c, root, NULL, "body", v->body, sizeof v->body);
  s_text(c, root, NULL, "chassis_number", v->chassis_number, sizeof v->chassis_number);
  s_load_drive(c, root, v);
  const s_node_t *ecus = s_list(c, root, NULL, "ecus");
  if (ecus) {
    if (ecus->n == 0) s_error(c, ecus, "ecus", "a vehicle needs at least one ECU");
    if (ecus->n > DD_VEHICLE_MAX_ECUS) {
      s_error(c, ecus, "ecus", "at most %u ECUs (got %zu)", DD_VEHICLE_MAX_ECUS, ecus->n);
    } else if (ecus->n) {
      v->ecus = calloc(ecus->n, sizeof *v->ecus);
      bool *ok = calloc(ecus->n, sizeof *ok);
      if (!v->ecus || !ok) {
        c->nomem = true;
      } else {
        for (size_t i = 0; i < ecus->n && !c->nomem; i++) {
          char ip[S_PATH];
          s_path_index(ip, "ecus", i);
          v->n_ecus = i + 1;
          s_load_ecu(c, ecus->items[i], ip, v, &v->ecus[i], &ok[i]);
        }
        s_check_ids(c, ecus, v, ok);
      }
      free(ok);
    }
  }
  s_check_bus(c, root, v);
  if (c->count || c->nomem) {
    dd_vehicle_destroy(&v);
    return NULL;
  }
  return v;
}

int dd_vehicle_load_string(const char *text, size_t len, const char *name, dd_vehicle_t **out,
                           char *err, size_t errcap) {
  assert(out && (text || !len));
  *out = NULL;
  if (err && errcap) err[0] = '\0';
  s_ctx_t c = {name ? name : "<string>", err, errcap, 0, 0, false};
  if (len > DD_VEHICLE_MAX_FILE) {
    s_error_at(&c, 1, 1, NULL, "the file is larger than %u bytes", DD_VEHICLE_MAX_FILE);
    return DD_ECONFIG;
  }
  s_node_t *root = NULL;
  if (s_check_text(&c, (const unsigned char *)(text ? text : ""), len))
    root = s_parse(&c, text ? text : "", len);
  dd_vehicle_t *v = NULL;
  if (root && !c.nomem) v = s_build(&c, root);
  s_node_free(root);
  if (c.nomem) {
    dd_vehicle_destroy(&v);
    if (err && errcap && !err[0]) snprintf(err, errcap, "%s: out of memory", c.file);
    return DD_ENOMEM;
  }
  if (!v) {
    if (err && errcap && !err[0]) snprintf(err, errcap, "%s: invalid vehicle file", c.file);
    return DD_ECONFIG;
  }
  *out = v;
  return 0;
}

int dd_vehicle_load(const char *path, dd_vehicle_t **out, char *err, size_t errcap) {
  assert(path && out);
  *out = NULL;
  if (err && errcap) err[0] = '\0';
  FILE *f = fopen(path, "rb");
  if (!f) {
    int e = errno;
    if (err && errcap) snprintf(err, errcap, "%s: cannot open: %s", path, strerror(e));
    return e ? -e : DD_EIO;
  }
  char *buf = malloc(DD_VEHICLE_MAX_FILE + 1);
  if (!buf) {
    fclose(f);
    return DD_ENOMEM;
  }
  size_t n = fread(buf, 1, DD_VEHICLE_MAX_FILE + 1, f);
  int rerr = ferror(f);
  fclose(f);
  if (rerr) {
    free(buf);
    if (err && errcap) snprintf(err, errcap, "%s: read error", path);
    return DD_EIO;
  }
  if (n > DD_VEHICLE_MAX_FILE) {
    free(buf);
    if (err && errcap)
      snprintf(err, errcap, "%s:1:1: the file is larger than %u bytes", path, DD_VEHICLE_MAX_FILE);
    return DD_ECONFIG;
  }
  int rc = dd_vehicle_load_string(buf, n, path, out, err, errcap);
  free(buf);
  return rc;
}

const dd_vehicle_ecu_t *dd_vehicle_ecu(const dd_vehicle_t *self, const char *name) {
  assert(self && name);
  for (size_t i = 0; i < self->n_ecus; i++)
    if (strcmp(self->ecus[i].name, name) == 0) return &self->ecus[i];
  return NULL;
}

const dd_vehicle_ecu_t *dd_vehicle_ecu_find(const dd_vehicle_t *self, const char *key) {
  assert(self && key);
  for (size_t i = 0; i < self->n_ecus; i++)
    if (strcasecmp(self->ecus[i].name, key) == 0) return &self->ecus[i];
  for (int r = 0; r <= (int)DD_ECU_OTHER; r++)
    if (strcasecmp(s_roles[r], key) == 0) return dd_vehicle_ecu_by_role(self, (dd_ecu_role_t)r);
  return NULL;
}

const dd_vehicle_ecu_t *dd_vehicle_ecu_by_role(const dd_vehicle_t *self, dd_ecu_role_t role) {
  assert(self);
  for (size_t i = 0; i < self->n_ecus; i++)
    if (self->ecus[i].role == role) return &self->ecus[i];
  return NULL;
}

const dd_vehicle_did_t *dd_vehicle_did(const dd_vehicle_ecu_t *ecu, uint16_t id) {
  assert(ecu);
  for (size_t i = 0; i < ecu->n_dids; i++)
    if (ecu->dids[i].id == id) return &ecu->dids[i];
  return NULL;
}
