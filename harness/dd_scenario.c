/* dd_scenario: the scenario file loader and validator (format in docs/SCENARIOS.md). */
#include "dd_scenario.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <jansson.h>
#include <libfyaml.h>
#include <math.h>
#include <regex.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dd_duration.h"
#include "dd_err.h"
#include "dd_vehicle.h"

#define S_N(a) (sizeof(a) / sizeof((a)[0]))
/* A node weighs 1, plus 1 per 8 bytes of scalar text; aliases count again each time. */
#define S_MAX_WEIGHT 1000000u        /* weight of the file */
#define S_MAX_WORK 2000000u          /* weight times matrix variants (every variant is kept) */
#define S_MSG_MAX 512                /* one diagnostic message */

/* ==== arena ================================================================================ */

typedef struct s_block {
  struct s_block *next; /* older block */
  size_t used;          /* bytes handed out */
  size_t cap;           /* bytes in data */
  max_align_t data[];   /* the memory */
} s_block_t;

struct dd_sc_arena {
  s_block_t *head; /* newest block */
};

static dd_sc_arena_t *s_arena_new(void) { return calloc(1, sizeof(dd_sc_arena_t)); }

static void s_arena_destroy(dd_sc_arena_t **a_p) {
  if (!*a_p) return;
  s_block_t *b = (*a_p)->head;
  while (b) {
    s_block_t *n = b->next;
    free(b);
    b = n;
  }
  free(*a_p);
  *a_p = NULL;
}

/* Zeroed memory for n bytes, aligned for any type; NULL when out of memory. */
static void *s_alloc(dd_sc_arena_t *a, size_t n) {
  size_t al = sizeof(max_align_t);
  n = (n + al - 1) / al * al;
  if (n == 0) n = al;
  s_block_t *b = a->head;
  if (!b || b->cap - b->used < n) {
    size_t cap = n > 16384 ? n : 16384;
    b = malloc(sizeof *b + cap);
    if (!b) return NULL;
    b->cap = cap;
    b->used = 0;
    b->next = a->head;
    a->head = b;
  }
  void *p = (char *)b->data + b->used;
  b->used += n;
  memset(p, 0, n);
  return p;
}

static char *s_strndup(dd_sc_arena_t *a, const char *s, size_t n) {
  char *p = s_alloc(a, n + 1);
  if (p) {
    memcpy(p, s, n);
    p[n] = 0;
  }
  return p;
}

static char *s_strdup(dd_sc_arena_t *a, const char *s) { return s_strndup(a, s, strlen(s)); }

/* A growable array on the heap while building, copied into an arena when done. */
typedef struct {
  void *v;     /* elements */
  size_t n;    /* used */
  size_t cap;  /* allocated */
  size_t size; /* element size */
} s_vec_t;

static void s_vec_init(s_vec_t *v, size_t size) {
  memset(v, 0, sizeof *v);
  v->size = size;
}

/* A new zeroed element at the end, NULL when out of memory. */
static void *s_vec_push(s_vec_t *v) {
  if (v->n == v->cap) {
    size_t cap = v->cap ? v->cap * 2 : 8;
    void *p = realloc(v->v, cap * v->size);
    if (!p) return NULL;
    v->v = p;
    v->cap = cap;
  }
  void *e = (char *)v->v + v->n * v->size;
  memset(e, 0, v->size);
  v->n++;
  return e;
}

static void s_vec_free(s_vec_t *v) {
  free(v->v);
  v->v = NULL;
  v->n = v->cap = 0;
}

/* The elements copied into the arena (NULL for none or when out of memory; *oom set then). */
static void *s_vec_finish(s_vec_t *v, dd_sc_arena_t *a, bool *oom) {
  void *p = NULL;
  if (v->n) {
    p = s_alloc(a, v->n * v->size);
    if (p) memcpy(p, v->v, v->n * v->size);
    else *oom = true;
  }
  free(v->v);
  v->v = NULL;
  v->cap = 0;
  return p;
}

/* ==== diagnostics ========================================================================== */

struct dd_sc_diags {
  dd_sc_diag_t *v; /* entries */
  size_t n;        /* used */
  size_t cap;      /* allocated */
};

dd_sc_diags_t *dd_sc_diags_new(void) { return calloc(1, sizeof(dd_sc_diags_t)); }

void dd_sc_diags_clear(dd_sc_diags_t *self) {
  assert(self);
  for (size_t i = 0; i < self->n; i++) {
    free(self->v[i].file);
    free(self->v[i].msg);
  }
  self->n = 0;
}

void dd_sc_diags_destroy(dd_sc_diags_t **self_p) {
  assert(self_p);
  if (!*self_p) return;
  dd_sc_diags_clear(*self_p);
  free((*self_p)->v);
  free(*self_p);
  *self_p = NULL;
}

size_t dd_sc_diags_count(const dd_sc_diags_t *self) { return self ? self->n : 0; }

const dd_sc_diag_t *dd_sc_diags_get(const dd_sc_diags_t *self, size_t i) {
  return self && i < self->n ? &self->v[i] : NULL;
}

void dd_sc_diags_print(const dd_sc_diags_t *self, FILE *to) {
  if (!self) return;
  for (size_t i = 0; i < self->n; i++) {
    const dd_sc_diag_t *d = &self->v[i];
    if (d->line > 0)
      fprintf(to, "%s:%d:%d: %s\n", d->file, d->line, d->col, d->msg);
    else
      fprintf(to, "%s: %s\n", d->file, d->msg);
  }
}

static int s_diags_add(dd_sc_diags_t *d, const char *file, int line, int col, const char *msg) {
  if (d->n == d->cap) {
    size_t cap = d->cap ? d->cap * 2 : 16;
    dd_sc_diag_t *v = realloc(d->v, cap * sizeof *v);
    if (!v) return DD_ENOMEM;
    d->v = v;
    d->cap = cap;
  }
  char *f = strdup(file), *m = strdup(msg);
  if (!f || !m) {
    free(f);
    free(m);
    return DD_ENOMEM;
  }
  d->v[d->n++] = (dd_sc_diag_t){.file = f, .line = line, .col = col, .msg = m};
  return 0;
}

/* ==== YAML tree ============================================================================ */

typedef enum { S_SCALAR = 0, S_SEQ, S_MAP } s_ntype_t;

typedef struct s_node s_node_t;
struct s_node {
  s_ntype_t type;   /* kind of node */
  int line, col;    /* 1-based start */
  const char *text; /* SCALAR: content (NUL-terminated) */
  bool quoted;      /* SCALAR: not plain (quoted, literal or folded): always a string */
  s_node_t **kids;  /* SEQ: items; MAP: keys */
  s_node_t **vals;  /* MAP: values, parallel to kids */
  size_t n;         /* SEQ: items; MAP: pairs */
  size_t weight;    /* nodes below, aliases expanded (saturating) */
};

typedef struct {
  const char *name; /* anchor name */
  s_node_t *node;   /* anchored node */
} s_anchor_t;

typedef struct {
  s_node_t *node; /* open collection */
  s_vec_t kids;   /* items or keys so far */
  s_vec_t vals;   /* MAP values so far */
  char *anchor;   /* anchor to register at the end (heap) */
  bool want_key;  /* MAP: the next node is a key */
} s_open_t;

static bool s_is_plain_null(const s_node_t *n) {
  return n->type == S_SCALAR && !n->quoted &&
         (!n->text[0] || !strcmp(n->text, "~") || !strcmp(n->text, "null") ||
          !strcmp(n->text, "Null") || !strcmp(n->text, "NULL"));
}

static size_t s_wadd(size_t a, size_t b) { return a > SIZE_MAX - b ? SIZE_MAX : a + b; }

/* ==== loading context ====================================================================== */

typedef struct {
  const char *name;   /* param name */
  const char *text;   /* value text */
  bool quoted;        /* value was quoted */
  const s_node_t *at; /* where it is defined (NULL: an override) */
} s_param_t;

typedef struct {
  const char *name;      /* matrix axis = param name */
  const s_node_t *key;   /* its key node */
  s_node_t **values;     /* value nodes */
  size_t n;              /* how many */
  const char *pinned;    /* override value, NULL: expanded */
} s_axis_t;

typedef struct {
  dd_sc_diags_t *diags;        /* where problems go */
  size_t diag_base;            /* first diagnostic of this file */
  const char *file;            /* file name for messages */
  const char *dir;             /* its folder */
  const char *root;            /* repository root */
  bool check_files;            /* referenced files must exist */
  bool oom;                    /* out of memory happened */
  size_t n_errors;             /* problems found (before de-duplication) */
  size_t kept;                 /* diagnostics kept for this file */
  dd_sc_arena_t *tmp;          /* the tree's arena */
  dd_sc_arena_t *a;            /* the variant's arena */
  dd_scenario_t *sc;           /* the variant being built */
  s_param_t *params;           /* params in force */
  size_t n_params;             /* how many */
  const char **step_names;     /* names given to timeline steps (for {step: NAME}) */
  size_t n_step_names;         /* how many */
  const char *text;            /* the file's text */
  size_t len;                  /* its length */
  char path[400];              /* document path of the node being read */
  size_t plen;                 /* its length */
} s_ctx_t;

static void s_add_diag(s_ctx_t *c, int line, int col, const char *msg) {
  c->n_errors++;
  /* The same problem in every matrix variant is reported once. */
  for (size_t i = c->diag_base; i < c->diags->n; i++) {
    const dd_sc_diag_t *d = &c->diags->v[i];
    if (d->line == line && d->col == col && !strcmp(d->msg, msg)) return;
  }
  if (c->kept == DD_SC_MAX_ERRORS) {
    if (s_diags_add(c->diags, c->file, line, col, "too many problems; stopping here") != 0) c->oom = true;
    c->kept++;
    return;
  }
  if (c->kept > DD_SC_MAX_ERRORS) return;
  if (s_diags_add(c->diags, c->file, line, col, msg) != 0) c->oom = true;
  c->kept++;
}

static void s_errat(s_ctx_t *c, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void s_errat(s_ctx_t *c, int line, int col, const char *fmt, ...) {
  char msg[S_MSG_MAX];
  size_t off = 0;
  if (c->plen) off = (size_t)snprintf(msg, sizeof msg, "%s: ", c->path);
  if (off >= sizeof msg) off = sizeof msg - 1;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg + off, sizeof msg - off, fmt, ap);
  va_end(ap);
  s_add_diag(c, line, col, msg);
}

#define s_err(c, node, ...) s_errat((c), (node)->line, (node)->col, __VA_ARGS__)

static size_t s_push_key(s_ctx_t *c, const char *key) {
  size_t old = c->plen;
  int w = snprintf(c->path + c->plen, sizeof c->path - c->plen, "%s%s", c->plen ? "." : "", key);
  if (w > 0) c->plen = c->plen + (size_t)w < sizeof c->path ? c->plen + (size_t)w : sizeof c->path - 1;
  return old;
}

static size_t s_push_idx(s_ctx_t *c, size_t i) {
  size_t old = c->plen;
  int w = snprintf(c->path + c->plen, sizeof c->path - c->plen, "[%zu]", i);
  if (w > 0) c->plen = c->plen + (size_t)w < sizeof c->path ? c->plen + (size_t)w : sizeof c->path - 1;
  return old;
}

static void s_pop(s_ctx_t *c, size_t old) {
  c->plen = old;
  c->path[old] = 0;
}

static dd_sc_loc_t s_loc(const s_ctx_t *c, const s_node_t *n) {
  return (dd_sc_loc_t){.file = c->sc ? c->sc->file : c->file, .line = n->line, .col = n->col};
}

/* Text of a node for a message: at most 60 bytes, control characters and quotes replaced. */
static void s_show(const char *in, char *out, size_t cap) {
  size_t n = 0;
  for (const unsigned char *s = (const unsigned char *)in; *s && n + 4 < cap; s++) {
    if (n >= 60) {
      memcpy(out + n, "...", 3);
      n += 3;
      break;
    }
    out[n++] = (*s < 0x20 || *s == 0x7f || *s == '"') ? '?' : (char)*s;
  }
  out[n] = 0;
}

static const char *s_type_word(const s_node_t *n) {
  if (n->type == S_MAP) return "a mapping";
  if (n->type == S_SEQ) return "a list";
  return "a scalar";
}

/* ==== nearest word ========================================================================= */

/* Optimal string alignment distance (edits and adjacent transpositions); SIZE_MAX for words
 * longer than 63 bytes. */
static size_t s_distance(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  if (la > 63 || lb > 63) return SIZE_MAX;
  size_t d[64][64];
  for (size_t i = 0; i <= la; i++)
    d[i][0] = i;
  for (size_t j = 0; j <= lb; j++)
    d[0][j] = j;
  for (size_t i = 1; i <= la; i++) {
    for (size_t j = 1; j <= lb; j++) {
      size_t cost = tolower((unsigned char)a[i - 1]) == tolower((unsigned char)b[j - 1]) ? 0 : 1;
      size_t v = d[i - 1][j] + 1;
      if (d[i][j - 1] + 1 < v) v = d[i][j - 1] + 1;
      if (d[i - 1][j - 1] + cost < v) v = d[i - 1][j - 1] + cost;
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < v)
        v = d[i - 2][j - 2] + 1;
      d[i][j] = v;
    }
  }
  return d[la][lb];
}

/* The valid word nearest to word: within a third of its length (at least 2), and not a whole
 * replacement; NULL if none. */
static const char *s_nearest(const char *word, const char *const *valid, size_t n) {
  size_t len = strlen(word);
  size_t limit = len / 3 < 2 ? 2 : len / 3;
  const char *best = NULL;
  size_t best_d = SIZE_MAX;
  for (size_t i = 0; i < n; i++) {
    if (!valid[i]) continue;
    size_t d = s_distance(word, valid[i]);
    if (d < best_d) {
      best_d = d;
      best = valid[i];
    }
  }
  return best && best_d <= limit && best_d < len ? best : NULL;
}

/* "a, b, c" into out. */
static void s_join(const char *const *words, size_t n, char *out, size_t cap) {
  size_t used = 0;
  out[0] = 0;
  for (size_t i = 0; i < n && used + 1 < cap; i++) {
    if (!words[i]) continue;
    int w = snprintf(out + used, cap - used, "%s%s", used ? ", " : "", words[i]);
    if (w < 0) break;
    used += (size_t)w;
    if (used >= cap) used = cap - 1;
  }
}

/* ==== YAML to tree ========================================================================= */

/* libfyaml's error messages, caught from its diagnostic output. (Its "collect errors" mode
 * would be simpler, but libfyaml 0.7 then leaks the text of a scalar token in some error
 * paths.) */
typedef struct {
  int line[8];       /* 1-based */
  int col[8];        /* 1-based */
  char msg[8][160];  /* message */
  size_t n;          /* errors caught */
} s_fyerr_t;

/* The output comes in pieces: "<memory-@0x..-0x..>:L:C: error: message\n", then the source
 * line and a caret. Only the first kind is taken. */
static void s_fy_output(struct fy_diag *diag, void *user, const char *buf, size_t len) {
  (void)diag;
  s_fyerr_t *e = user;
  static const char head[] = "<memory-@";
  if (!e || e->n >= 8 || len < sizeof head || memcmp(buf, head, sizeof head - 1)) return;
  char tmp[400];
  size_t n = len < sizeof tmp - 1 ? len : sizeof tmp - 1;
  memcpy(tmp, buf, n);
  tmp[n] = 0;
  char *gt = strstr(tmp, ">:");
  int line, col, used = 0;
  if (!gt || sscanf(gt + 2, "%d:%d: error: %n", &line, &col, &used) < 2 || !used) return;
  char *msg = gt + 2 + used;
  msg[strcspn(msg, "\n")] = 0;
  e->line[e->n] = line;
  e->col[e->n] = col;
  snprintf(e->msg[e->n], sizeof e->msg[0], "%s", msg);
  e->n++;
}

static s_node_t *s_new_node(s_ctx_t *c, s_ntype_t type, const struct fy_mark *m) {
  s_node_t *n = s_alloc(c->tmp, sizeof *n);
  if (!n) {
    c->oom = true;
    return NULL;
  }
  n->type = type;
  n->line = m ? m->line + 1 : 1; /* event marks are 0-based */
  n->col = m ? m->column + 1 : 1;
  n->text = "";
  n->weight = 1;
  return n;
}

static s_node_t *s_find_key(s_node_t *const *keys, size_t n, const char *k) {
  for (size_t i = 0; i < n; i++)
    if (keys[i]->type == S_SCALAR && !strcmp(keys[i]->text, k)) return keys[i];
  return NULL;
}

/* Close a mapping: duplicate keys, merge keys ("<<: *defaults"), arrays into the arena. */
static int s_close_map(s_ctx_t *c, s_open_t *o) {
  s_node_t *m = o->node;
  size_t np = o->vals.n < o->kids.n ? o->vals.n : o->kids.n;
  s_node_t **ks = o->kids.v, **vs = o->vals.v;
  s_vec_t keys, vals;
  s_vec_init(&keys, sizeof(s_node_t *));
  s_vec_init(&vals, sizeof(s_node_t *));
  int rc = 0;
  /* Explicit pairs first: they win over merged ones. */
  for (size_t i = 0; i < np; i++) {
    if (ks[i]->type == S_SCALAR && !ks[i]->quoted && !strcmp(ks[i]->text, "<<")) continue;
    s_node_t *first = s_find_key(keys.v, keys.n, ks[i]->text);
    if (ks[i]->type == S_SCALAR && first) {
      char q[80];
      s_show(ks[i]->text, q, sizeof q);
      s_err(c, ks[i], "duplicate key '%s' (first at line %d, column %d)", q, first->line,
            first->col);
      continue;
    }
    s_node_t **kp = s_vec_push(&keys), **vp = s_vec_push(&vals);
    if (!kp || !vp) goto out_oom;
    *kp = ks[i];
    *vp = vs[i];
  }
  for (size_t i = 0; i < np; i++) {
    if (!(ks[i]->type == S_SCALAR && !ks[i]->quoted && !strcmp(ks[i]->text, "<<"))) continue;
    s_node_t *src = vs[i];
    size_t ns = src->type == S_SEQ ? src->n : 1;
    for (size_t j = 0; j < ns; j++) {
      s_node_t *mm = src->type == S_SEQ ? src->kids[j] : src;
      if (mm->type != S_MAP) {
        s_err(c, mm, "'<<' merges a mapping or a list of mappings, not %s", s_type_word(mm));
        continue;
      }
      for (size_t k = 0; k < mm->n; k++) {
        if (s_find_key(keys.v, keys.n, mm->kids[k]->text)) continue;
        s_node_t **kp = s_vec_push(&keys), **vp = s_vec_push(&vals);
        if (!kp || !vp) goto out_oom;
        *kp = mm->kids[k];
        *vp = mm->vals[k];
      }
    }
  }
  m->n = keys.n;
  for (size_t i = 0; i < keys.n; i++)
    m->weight = s_wadd(m->weight, s_wadd(((s_node_t **)keys.v)[i]->weight, ((s_node_t **)vals.v)[i]->weight));
  m->kids = s_vec_finish(&keys, c->tmp, &c->oom);
  m->vals = s_vec_finish(&vals, c->tmp, &c->oom);
  return c->oom ? DD_ENOMEM : 0;
out_oom:
  rc = DD_ENOMEM;
  c->oom = true;
  s_vec_free(&keys);
  s_vec_free(&vals);
  return rc;
}

/* YAML text is UTF-8 of printable characters (YAML 1.2, 5.1 c-printable: tab, LF, CR, 0x20-0x7E,
 * U+0085, U+00A0-U+D7FF, U+E000-U+FFFD, U+10000-U+10FFFF). Checking first also keeps bytes that
 * libfyaml 0.7 can loop on (a '%' directive line followed by invalid UTF-8) away from it.
 * Returns true, or false after a diagnostic at the first bad character. */
static bool s_check_text(s_ctx_t *c, const char *text, size_t len) {
  const unsigned char *s = (const unsigned char *)text;
  int line = 1, col = 1;
  for (size_t i = 0; i < len;) {
    unsigned char b = s[i];
    uint32_t cp;
    size_t n;
    if (b < 0x80) {
      cp = b;
      n = 1;
    } else if (b >= 0xC2 && b <= 0xDF) {
      cp = b & 0x1Fu;
      n = 2;
    } else if (b >= 0xE0 && b <= 0xEF) {
      cp = b & 0x0Fu;
      n = 3;
    } else if (b >= 0xF0 && b <= 0xF4) {
      cp = b & 0x07u;
      n = 4;
    } else {
      s_errat(c, line, col, "the file is not UTF-8 text (byte 0x%02X)", b);
      return false;
    }
    if (i + n > len) {
      s_errat(c, line, col, "the file is not UTF-8 text (truncated character)");
      return false;
    }
    for (size_t k = 1; k < n; k++) {
      if ((s[i + k] & 0xC0) != 0x80) {
        s_errat(c, line, col, "the file is not UTF-8 text (byte 0x%02X)", s[i + k]);
        return false;
      }
      cp = cp << 6 | (s[i + k] & 0x3Fu);
    }
    bool overlong = (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000);
    bool printable = cp == 0x09 || cp == 0x0A || cp == 0x0D || (cp >= 0x20 && cp <= 0x7E) ||
                     cp == 0x85 || (cp >= 0xA0 && cp <= 0xD7FF) || (cp >= 0xE000 && cp <= 0xFFFD) ||
                     (cp >= 0x10000 && cp <= 0x10FFFF);
    if (overlong || !printable) {
      s_errat(c, line, col, "character U+%04X is not allowed in a YAML file", (unsigned)cp);
      return false;
    }
    if (cp == 0x0A) {
      line++;
      col = 1;
    } else {
      col++;
    }
    i += n;
  }
  return true;
}

/* Parse text into a tree in c->tmp. NULL when the YAML is broken (diagnostics added). */
/* The value of a single-quoted scalar from its source between the quotes (YAML 1.2, 7.3.2):
 * '' is a quote; a line break becomes a space, or with empty lines after it one newline per
 * empty line; white space around line breaks goes. out holds at least n bytes. Returns the
 * length written. */
static size_t s_single_quoted(const char *raw, size_t n, char *out) {
  size_t o = 0, line_start = 0, i = 0;
  while (i < n) {
    char ch = raw[i];
    if (ch == '\'' && i + 1 < n && raw[i + 1] == '\'') {
      out[o++] = '\'';
      i += 2;
      continue;
    }
    if (ch == '\r' || ch == '\n') {
      while (o > line_start && (out[o - 1] == ' ' || out[o - 1] == '\t'))
        o--;
      size_t empties = 0;
      for (;;) {
        i += raw[i] == '\r' && i + 1 < n && raw[i + 1] == '\n' ? 2 : 1;
        while (i < n && (raw[i] == ' ' || raw[i] == '\t'))
          i++;
        if (i < n && (raw[i] == '\r' || raw[i] == '\n')) {
          empties++;
          continue;
        }
        break;
      }
      if (!empties) out[o++] = ' ';
      while (empties--)
        out[o++] = '\n';
      line_start = o;
      continue;
    }
    out[o++] = ch;
    i++;
  }
  return o;
}

/* A libfyaml parser over text whose error messages go to e; NULL when out of memory. */
static struct fy_parser *s_fy_open(const char *text, size_t len, s_fyerr_t *e, struct fy_diag **diag) {
  struct fy_diag_cfg dc;
  fy_diag_cfg_default(&dc);
  dc.fp = NULL;
  dc.output_fn = s_fy_output;
  dc.user = e;
  dc.colorize = false;
  dc.show_source = false;
  dc.show_position = true;
  dc.show_type = true;
  dc.show_module = false;
  *diag = fy_diag_create(&dc);
  if (!*diag) return NULL;
  struct fy_parse_cfg cfg = {.flags = FYPCF_QUIET, .diag = *diag};
  struct fy_parser *fyp = fy_parser_create(&cfg);
  if (!fyp || fy_parser_set_string(fyp, text, len) != 0) {
    if (fyp) fy_parser_destroy(fyp);
    fy_diag_destroy(*diag);
    *diag = NULL;
    return NULL;
  }
  return fyp;
}

/* The first pass: YAML syntax only, reading no scalar's text. (libfyaml 0.7 leaks a scalar's
 * unescaped text when a syntax error follows it; the second pass reads text only from a stream
 * known to parse.) true, or false after diagnostics. */
static bool s_yaml_syntax_ok(s_ctx_t *c, const char *text, size_t len) {
  s_fyerr_t fyerr = {.n = 0};
  struct fy_diag *diag;
  struct fy_parser *fyp = s_fy_open(text, len, &fyerr, &diag);
  if (!fyp) {
    c->oom = true;
    return false;
  }
  struct fy_event *ev;
  while ((ev = fy_parser_parse(fyp)) != NULL)
    fy_parser_event_free(fyp, ev);
  bool ok = !fy_parser_get_stream_error(fyp);
  fy_parser_destroy(fyp);
  fy_diag_destroy(diag);
  if (ok) return true;
  for (size_t i = 0; i < fyerr.n; i++) {
    char q[200];
    s_show(fyerr.msg[i], q, sizeof q);
    s_errat(c, fyerr.line[i] > 0 ? fyerr.line[i] : 1, fyerr.col[i] > 0 ? fyerr.col[i] : 1,
            "invalid YAML: %s", q);
  }
  if (!fyerr.n) s_errat(c, 1, 1, "invalid YAML");
  return false;
}

/* Parse text into a tree in c->tmp. NULL when the YAML is broken (diagnostics added). */
static s_node_t *s_parse_yaml(s_ctx_t *c, const char *text, size_t len) {
  if (!s_check_text(c, text, len) || !s_yaml_syntax_ok(c, text, len)) return NULL;
  s_fyerr_t fyerr = {.n = 0};
  struct fy_diag *diag;
  struct fy_parser *fyp = s_fy_open(text, len, &fyerr, &diag);
  if (!fyp) {
    c->oom = true;
    return NULL;
  }
  s_node_t *root = NULL;
  bool bad = false;
  s_vec_t stack, anchors;
  s_vec_init(&stack, sizeof(s_open_t));
  s_vec_init(&anchors, sizeof(s_anchor_t));
  int docs = 0;
  struct fy_event *ev;
  while ((ev = fy_parser_parse(fyp)) != NULL) {
    /* After a problem the stream is still read to its end, so libfyaml frees every token. */
    if (bad) {
      fy_parser_event_free(fyp, ev);
      continue;
    }
    const struct fy_mark *m = fy_event_start_mark(ev);
    s_node_t *node = NULL;     /* a finished node to attach */
    const char *anchor = NULL; /* its anchor */
    struct fy_token *tag = NULL;
    switch (ev->type) {
    case FYET_DOCUMENT_START:
      if (++docs > 1) {
        s_errat(c, m ? m->line + 1 : 1, m ? m->column + 1 : 1,
                "one scenario per file: remove the second document ('---')");
        bad = true;
      }
      break;
    case FYET_SCALAR: {
      tag = ev->scalar.tag;
      node = s_new_node(c, S_SCALAR, m);
      if (!node) break;
      enum fy_scalar_style style = fy_token_scalar_style(ev->scalar.value);
      node->quoted = style != FYSS_PLAIN;
      /* The mark of a quoted scalar is its first character; point at the opening quote. */
      if ((style == FYSS_SINGLE_QUOTED || style == FYSS_DOUBLE_QUOTED) && node->col > 1) node->col--;
      size_t l = 0;
      const char *t = NULL;
      char *sq = NULL;
      const struct fy_mark *a = fy_token_start_mark(ev->scalar.value);
      const struct fy_mark *b = fy_token_end_mark(ev->scalar.value);
      if (style == FYSS_SINGLE_QUOTED && a && b && a->input_pos <= b->input_pos && b->input_pos <= len) {
        /* libfyaml 0.7 unescapes runs of '' wrongly (and leaks); the text is taken from the
         * source between the quotes instead. */
        sq = s_alloc(c->tmp, b->input_pos - a->input_pos + 1);
        if (sq) l = s_single_quoted(text + a->input_pos, b->input_pos - a->input_pos, sq);
        t = sq;
      } else {
        t = fy_token_get_text(ev->scalar.value, &l);
      }
      if (!t) t = "";
      if (memchr(t, 0, l)) {
        s_err(c, node, "text contains a NUL character");
        l = strlen(t);
      }
      node->text = s_strndup(c->tmp, t, l);
      if (!node->text) c->oom = true;
      node->weight = 1 + l / 8;
      if (ev->scalar.anchor) anchor = fy_token_get_text0(ev->scalar.anchor);
      break;
    }
    case FYET_ALIAS: {
      const char *name = ev->alias.anchor ? fy_token_get_text0(ev->alias.anchor) : NULL;
      s_anchor_t *as = anchors.v;
      for (size_t i = anchors.n; name && i-- > 0;)
        if (!strcmp(as[i].name, name)) {
          node = as[i].node;
          break;
        }
      if (!node) {
        node = s_new_node(c, S_SCALAR, m);
        if (node) {
          char q[80];
          s_show(name ? name : "", q, sizeof q);
          s_err(c, node, "alias *%s refers to no anchor defined before it (write &%s on a value first)", q, q);
        }
      }
      break;
    }
    case FYET_MAPPING_START:
    case FYET_SEQUENCE_START: {
      bool map = ev->type == FYET_MAPPING_START;
      tag = map ? ev->mapping_start.tag : ev->sequence_start.tag;
      struct fy_token *at = map ? ev->mapping_start.anchor : ev->sequence_start.anchor;
      s_node_t *n = s_new_node(c, map ? S_MAP : S_SEQ, m);
      s_open_t *o = n ? s_vec_push(&stack) : NULL;
      if (!o) {
        c->oom = true;
        break;
      }
      o->node = n;
      s_vec_init(&o->kids, sizeof(s_node_t *));
      s_vec_init(&o->vals, sizeof(s_node_t *));
      o->want_key = true;
      if (at) {
        const char *an = fy_token_get_text0(at);
        o->anchor = an ? s_strdup(c->tmp, an) : NULL;
      }
      if (tag) {
        char q[80];
        s_show(fy_token_get_text0(tag) ? fy_token_get_text0(tag) : "", q, sizeof q);
        s_err(c, n, "YAML tags (%s) are not supported; write the value without one", q);
        tag = NULL;
      }
      break;
    }
    case FYET_MAPPING_END:
    case FYET_SEQUENCE_END: {
      if (!stack.n) break;
      s_open_t *o = &((s_open_t *)stack.v)[stack.n - 1];
      node = o->node;
      anchor = o->anchor;
      if (node->type == S_MAP) {
        if (s_close_map(c, o) != 0) bad = true;
      } else {
        node->n = o->kids.n;
        for (size_t i = 0; i < o->kids.n; i++)
          node->weight = s_wadd(node->weight, ((s_node_t **)o->kids.v)[i]->weight);
        node->kids = s_vec_finish(&o->kids, c->tmp, &c->oom);
      }
      s_vec_free(&o->kids);
      s_vec_free(&o->vals);
      stack.n--;
      break;
    }
    default:
      break;
    }
    if (tag && node) {
      char q[80];
      s_show(fy_token_get_text0(tag) ? fy_token_get_text0(tag) : "", q, sizeof q);
      s_err(c, node, "YAML tags (%s) are not supported; write the value without one", q);
    }
    if (node && anchor) {
      s_anchor_t *an = s_vec_push(&anchors);
      char *name = an ? s_strdup(c->tmp, anchor) : NULL;
      if (!name) c->oom = true;
      else *an = (s_anchor_t){.name = name, .node = node};
    }
    if (node) {
      if (node->weight > S_MAX_WEIGHT) {
        s_err(c, node, "the file is too large once aliases are expanded");
        bad = true;
      } else if (!stack.n) {
        root = node;
      } else {
        s_open_t *top = &((s_open_t *)stack.v)[stack.n - 1];
        if (top->node->type == S_SEQ) {
          s_node_t **p = s_vec_push(&top->kids);
          if (p) *p = node;
          else c->oom = true;
        } else if (top->want_key) {
          if (node->type != S_SCALAR) s_err(c, node, "a key must be a word, not %s", s_type_word(node));
          s_node_t **p = s_vec_push(&top->kids);
          if (p) *p = node;
          else c->oom = true;
          top->want_key = false;
        } else {
          s_node_t **p = s_vec_push(&top->vals);
          if (p) *p = node;
          else c->oom = true;
          top->want_key = true;
        }
      }
    }
    fy_parser_event_free(fyp, ev);
    if (c->oom) bad = true;
  }
  if (!bad && fy_parser_get_stream_error(fyp)) { /* the first pass said it parses */
    bad = true;
    s_errat(c, 1, 1, "invalid YAML");
  }
  for (size_t i = 0; i < stack.n; i++) {
    s_vec_free(&((s_open_t *)stack.v)[i].kids);
    s_vec_free(&((s_open_t *)stack.v)[i].vals);
  }
  s_vec_free(&stack);
  s_vec_free(&anchors);
  fy_parser_destroy(fyp);
  fy_diag_destroy(diag);
  if (bad) return NULL;
  if (!root || s_is_plain_null(root)) {
    s_errat(c, 1, 1, "the file is empty: a scenario is a mapping with at least name:");
    return NULL;
  }
  return root;
}

/* ==== scalars: ${param} substitution and types ============================================= */

static bool s_is_ident(const char *s) {
  if (!(isalpha((unsigned char)*s) || *s == '_')) return false;
  for (s++; *s; s++)
    if (!(isalnum((unsigned char)*s) || *s == '_')) return false;
  return true;
}

static const s_param_t *s_param_find(const s_ctx_t *c, const char *name) {
  for (size_t i = 0; i < c->n_params; i++)
    if (!strcmp(c->params[i].name, name)) return &c->params[i];
  return NULL;
}

static void s_param_unknown(s_ctx_t *c, const s_node_t *n, const char *name) {
  const char *names[64] = {0};
  size_t k = 0;
  for (size_t i = 0; i < c->n_params && k < S_N(names); i++)
    names[k++] = c->params[i].name;
  char q[80];
  s_show(name, q, sizeof q);
  const char *near = s_nearest(name, names, k);
  if (near) {
    s_err(c, n, "${%s} is not a defined param (did you mean '%s'?)", q, near);
  } else if (k) {
    char list[200];
    s_join(names, k, list, sizeof list);
    s_err(c, n, "${%s} is not a defined param (params: %s)", q, list);
  } else {
    s_err(c, n, "${%s} is not a defined param (define it under params:)", q);
  }
}

/* The scalar's text with ${name} replaced by param values ("$${" stands for "${"). NULL after
 * a reported problem. *quoted tells whether the result is a string only. */
static const char *s_subst(s_ctx_t *c, const s_node_t *n, bool *quoted) {
  *quoted = n->quoted;
  const char *t = n->text;
  if (!strchr(t, '$')) return t;
  /* The whole scalar is one reference: the value keeps the param's own type. */
  size_t len = strlen(t);
  if (len > 3 && t[0] == '$' && t[1] == '{' && t[len - 1] == '}' && !memchr(t + 2, '}', len - 3) &&
      !memchr(t + 2, '$', len - 3)) {
    char name[128];
    if (len - 3 >= sizeof name) {
      s_err(c, n, "param name too long");
      return NULL;
    }
    memcpy(name, t + 2, len - 3);
    name[len - 3] = 0;
    const s_param_t *p = s_param_find(c, name);
    if (!p) {
      if (!s_is_ident(name)) {
        char q[80];
        s_show(name, q, sizeof q);
        s_err(c, n, "'${%s}': a param name is letters, digits and '_'", q);
      } else {
        s_param_unknown(c, n, name);
      }
      return NULL;
    }
    *quoted = p->quoted; /* quoting "${x}" only protects it inside { } and [ ] */
    return p->text;
  }
  s_vec_t out;
  s_vec_init(&out, 1);
  bool ok = true;
  for (const char *s = t; *s; s++) {
    if (s[0] == '$' && s[1] == '$' && s[2] == '{') {
      char *p = s_vec_push(&out);
      if (!p) goto out_oom;
      *p = '$';
      s++;
      continue;
    }
    if (s[0] == '$' && s[1] == '{') {
      const char *e = strchr(s + 2, '}');
      if (!e) {
        s_err(c, n, "'${' is not closed (write ${name}, or $${ for a literal '${')");
        ok = false;
        break;
      }
      char name[128];
      size_t nl = (size_t)(e - s - 2);
      if (nl >= sizeof name) nl = sizeof name - 1;
      memcpy(name, s + 2, nl);
      name[nl] = 0;
      const s_param_t *p = s_param_find(c, name);
      if (!p) {
        if (!s_is_ident(name)) {
          char q[80];
          s_show(name, q, sizeof q);
          s_err(c, n, "'${%s}': a param name is letters, digits and '_'", q);
        } else {
          s_param_unknown(c, n, name);
        }
        ok = false;
        s = e;
        continue;
      }
      for (const char *v = p->text; *v; v++) {
        char *q = s_vec_push(&out);
        if (!q) goto out_oom;
        *q = *v;
      }
      s = e;
      continue;
    }
    char *q = s_vec_push(&out);
    if (!q) goto out_oom;
    *q = *s;
  }
  if (!ok) {
    s_vec_free(&out);
    return NULL;
  }
  char *r = s_strndup(c->a, out.v ? out.v : "", out.n);
  s_vec_free(&out);
  if (!r) c->oom = true;
  *quoted = false; /* typed by its text after substitution */
  return r;
out_oom:
  c->oom = true;
  s_vec_free(&out);
  return NULL;
}

/* YAML 1.2 core schema integers: decimal, 0x hex, 0o octal. */
static bool s_parse_int(const char *t, int64_t *out) {
  const char *s = t;
  bool neg = false;
  if (*s == '-' || *s == '+') neg = *s++ == '-';
  int base = 10;
  if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    base = 16;
    s += 2;
  } else if (s[0] == '0' && s[1] == 'o') {
    base = 8;
    s += 2;
  }
  if (!*s) return false;
  uint64_t v = 0;
  for (; *s; s++) {
    int d;
    if (isdigit((unsigned char)*s)) d = *s - '0';
    else if (base == 16 && isxdigit((unsigned char)*s)) d = tolower((unsigned char)*s) - 'a' + 10;
    else return false;
    if (d >= base) return false;
    if (v > (UINT64_MAX - (uint64_t)d) / (uint64_t)base) return false;
    v = v * (uint64_t)base + (uint64_t)d;
  }
  if (neg ? v > (uint64_t)INT64_MAX + 1 : v > (uint64_t)INT64_MAX) return false;
  *out = neg ? (int64_t)(0 - v) : (int64_t)v;
  return true;
}

/* YAML 1.2 core schema floats (no .inf / .nan: scenario numbers are finite). */
static bool s_parse_num(const char *t, double *out) {
  int64_t i;
  if (s_parse_int(t, &i)) {
    *out = (double)i;
    return true;
  }
  const char *s = t;
  if (*s == '-' || *s == '+') s++;
  bool digits = false;
  while (isdigit((unsigned char)*s)) {
    s++;
    digits = true;
  }
  if (*s == '.') {
    s++;
    while (isdigit((unsigned char)*s)) {
      s++;
      digits = true;
    }
  }
  if (!digits) return false;
  if (*s == 'e' || *s == 'E') {
    s++;
    if (*s == '-' || *s == '+') s++;
    if (!isdigit((unsigned char)*s)) return false;
    while (isdigit((unsigned char)*s))
      s++;
  }
  if (*s) return false;
  errno = 0;
  double v = strtod(t, NULL);
  if (!isfinite(v)) return false;
  *out = v;
  return true;
}

static void s_classify(const char *text, bool quoted, dd_sc_value_t *v) {
  memset(v, 0, sizeof *v);
  v->text = text;
  v->quoted = quoted;
  if (quoted) return;
  if (!strcmp(text, "true") || !strcmp(text, "True") || !strcmp(text, "TRUE")) {
    v->is_bool = v->b = true;
    return;
  }
  if (!strcmp(text, "false") || !strcmp(text, "False") || !strcmp(text, "FALSE")) {
    v->is_bool = true;
    return;
  }
  v->is_int = s_parse_int(text, &v->i);
  v->is_num = s_parse_num(text, &v->num);
}

/* The scalar's value after substitution; false after a reported problem. */
static bool s_scalar(s_ctx_t *c, const s_node_t *n, dd_sc_value_t *v) {
  if (n->type != S_SCALAR) {
    s_err(c, n, "expected a single value, got %s", s_type_word(n));
    return false;
  }
  bool q;
  const char *t = s_subst(c, n, &q);
  if (!t) return false;
  /* The tree goes away after loading: the model keeps its own copy. */
  char *copy = s_strdup(c->a, t);
  if (!copy) {
    c->oom = true;
    return false;
  }
  s_classify(copy, q, v);
  return true;
}

/* Text value (any scalar, copied into the variant's arena). */
static bool s_get_str(s_ctx_t *c, const s_node_t *n, const char **out) {
  dd_sc_value_t v;
  if (!s_scalar(c, n, &v)) return false;
  if (!v.quoted && s_is_plain_null(n)) {
    s_err(c, n, "no value given");
    return false;
  }
  *out = v.text;
  return true;
}

static bool s_get_bool(s_ctx_t *c, const s_node_t *n, bool *out) {
  dd_sc_value_t v;
  if (!s_scalar(c, n, &v)) return false;
  if (!v.is_bool) {
    char q[80];
    s_show(v.text, q, sizeof q);
    s_err(c, n, "\"%s\" is not true or false", q);
    return false;
  }
  *out = v.b;
  return true;
}

static bool s_get_int(s_ctx_t *c, const s_node_t *n, int64_t lo, int64_t hi, int64_t *out) {
  dd_sc_value_t v;
  if (!s_scalar(c, n, &v)) return false;
  char q[80];
  s_show(v.text, q, sizeof q);
  if (!v.is_int) {
    if (v.is_num)
      s_err(c, n, "%s is not a whole number", q);
    else
      s_err(c, n, "\"%s\" is not a number", q);
    return false;
  }
  if (v.i < lo || v.i > hi) {
    s_err(c, n, "%s is out of range %lld..%lld", q, (long long)lo, (long long)hi);
    return false;
  }
  *out = v.i;
  return true;
}

static bool s_get_u32(s_ctx_t *c, const s_node_t *n, uint32_t lo, uint32_t hi, uint32_t *out) {
  int64_t v;
  if (!s_get_int(c, n, lo, hi, &v)) return false;
  *out = (uint32_t)v;
  return true;
}

static bool s_get_num(s_ctx_t *c, const s_node_t *n, double lo, double hi, double *out) {
  dd_sc_value_t v;
  if (!s_scalar(c, n, &v)) return false;
  char q[80];
  s_show(v.text, q, sizeof q);
  if (!v.is_num) {
    s_err(c, n, "\"%s\" is not a number", q);
    return false;
  }
  if (v.num < lo || v.num > hi) {
    s_err(c, n, "%s is out of range %g..%g", q, lo, hi);
    return false;
  }
  *out = v.num;
  return true;
}

/* A duration with a unit; a bare 0 is accepted. */
static bool s_get_dur(s_ctx_t *c, const s_node_t *n, uint64_t *out) {
  dd_sc_value_t v;
  if (!s_scalar(c, n, &v)) return false;
  if (v.is_int && v.i == 0) {
    *out = 0;
    return true;
  }
  char why[DD_DURATION_WHY_MAX];
  if (dd_duration_parse(v.text, out, why, sizeof why) != 0) {
    s_err(c, n, "%s", why);
    return false;
  }
  return true;
}

/* A probability: "1%", "0.5%" or a number 0..1. */
static bool s_get_prob(s_ctx_t *c, const s_node_t *n, double *out) {
  dd_sc_value_t v;
  if (!s_scalar(c, n, &v)) return false;
  char q[80];
  s_show(v.text, q, sizeof q);
  size_t len = strlen(v.text);
  if (len > 1 && v.text[len - 1] == '%') {
    char num[64];
    double x;
    if (len - 1 < sizeof num) {
      memcpy(num, v.text, len - 1);
      num[len - 1] = 0;
      size_t nl = len - 1;
      while (nl && num[nl - 1] == ' ')
        num[--nl] = 0;
      if (s_parse_num(num, &x)) {
        if (x < 0 || x > 100) {
          s_err(c, n, "%s is out of range 0%%..100%%", q);
          return false;
        }
        *out = x / 100.0;
        return true;
      }
    }
    s_err(c, n, "\"%s\" is not a percentage (write e.g. 1%% or 0.5%%)", q);
    return false;
  }
  if (!v.is_num) {
    s_err(c, n, "\"%s\" is not a probability (write e.g. 1%% or 0.01)", q);
    return false;
  }
  if (v.num < 0 || v.num > 1) {
    s_err(c, n, "%s is not a probability (write %s%% or %g)", q, q, v.num / 100.0);
    return false;
  }
  *out = v.num;
  return true;
}

/* Money in major units with at most two decimals ("30", "30.5", "30.00") as minor units. */
static bool s_get_money(s_ctx_t *c, const s_node_t *n, int64_t *out) {
  dd_sc_value_t v;
  if (!s_scalar(c, n, &v)) return false;
  char q[80];
  s_show(v.text, q, sizeof q);
  const char *s = v.text;
  int64_t major = 0, minor = 0;
  if (!isdigit((unsigned char)*s)) goto bad;
  for (; isdigit((unsigned char)*s); s++) {
    if (major > (INT64_MAX / 100 - 9) / 10) {
      s_err(c, n, "%s is too large an amount", q);
      return false;
    }
    major = major * 10 + (*s - '0');
  }
  if (*s == '.') {
    s++;
    int nd = 0;
    for (; isdigit((unsigned char)*s); s++, nd++) {
      if (nd >= 2) {
        if (*s != '0') {
          s_err(c, n, "%s has more than two decimals (amounts are in hundredths)", q);
          return false;
        }
        continue;
      }
      minor = minor * 10 + (*s - '0');
    }
    if (nd == 0) goto bad;
    if (nd == 1) minor *= 10;
  }
  if (*s) goto bad;
  *out = major * 100 + minor;
  return true;
bad:
  s_err(c, n, "\"%s\" is not an amount (write e.g. 30 or 30.00)", q);
  return false;
}

/* A rate: "1mbit", "500kbit", "64kbit", "100bit" (bits per second, 1000-based) or "10kB/s"
 * (bytes per second), as bytes per second. */
static bool s_get_rate(s_ctx_t *c, const s_node_t *n, uint64_t *out) {
  dd_sc_value_t v;
  if (!s_scalar(c, n, &v)) return false;
  char q[80];
  s_show(v.text, q, sizeof q);
  if (v.is_int && v.i == 0) {
    *out = 0;
    return true;
  }
  static const struct {
    const char *unit; /* suffix */
    double bytes;     /* bytes per second in one unit */
  } units[] = {{"gbit", 125e6}, {"mbit", 125e3}, {"kbit", 125.0}, {"bit", 0.125},
               {"GB/s", 1e9},   {"MB/s", 1e6},   {"kB/s", 1e3},   {"B/s", 1.0}};
  const char *s = v.text;
  const char *e = s;
  while (isdigit((unsigned char)*e) || *e == '.')
    e++;
  char num[64];
  size_t nl = (size_t)(e - s);
  double x;
  if (nl && nl < sizeof num) {
    memcpy(num, s, nl);
    num[nl] = 0;
    if (s_parse_num(num, &x)) {
      for (size_t i = 0; i < S_N(units); i++) {
        if (strcmp(e, units[i].unit) != 0) continue;
        double b = x * units[i].bytes;
        if (b > (double)DD_NETEM_MAX_RATE) {
          s_err(c, n, "%s is above the largest rate (8000gbit)", q);
          return false;
        }
        *out = (uint64_t)llround(b);
        if (x > 0 && *out == 0) {
          s_err(c, n, "%s is below the smallest rate (8bit = 1 B/s); 0 means unlimited", q);
          return false;
        }
        return true;
      }
    }
  }
  s_err(c, n, "\"%s\" is not a rate (write e.g. 1mbit, 500kbit or 64kB/s; 0 = unlimited)", q);
  return false;
}

/* One of names[]; the error lists them and suggests the nearest. */
static bool s_get_enum(s_ctx_t *c, const s_node_t *n, const char *const *names, size_t count,
                       const char *what, int *out) {
  dd_sc_value_t v;
  if (!s_scalar(c, n, &v)) return false;
  for (size_t i = 0; i < count; i++)
    if (names[i] && !strcmp(v.text, names[i])) {
      *out = (int)i;
      return true;
    }
  char q[80], list[300];
  s_show(v.text, q, sizeof q);
  s_join(names, count, list, sizeof list);
  const char *near = s_nearest(v.text, names, count);
  if (near)
    s_err(c, n, "\"%s\" is not %s (did you mean '%s'?)", q, what, near);
  else
    s_err(c, n, "\"%s\" is not %s (one of: %s)", q, what, list);
  return false;
}

/* An event kind: lower-case words joined by dots, at least two ("session.connected"). */
static bool s_kind_ok(const char *k) {
  int parts = 0;
  const char *s = k;
  for (;;) {
    if (!(islower((unsigned char)*s) || isdigit((unsigned char)*s) || *s == '_')) return false;
    if (parts == 0 && !islower((unsigned char)*s)) return false;
    while (islower((unsigned char)*s) || isdigit((unsigned char)*s) || *s == '_')
      s++;
    parts++;
    if (!*s) break;
    if (*s != '.') return false;
    s++;
  }
  return parts >= 2 && strlen(k) <= 64;
}

static void s_kind_error(s_ctx_t *c, const s_node_t *n, const char *k) {
  char q[80];
  s_show(k, q, sizeof q);
  if (!strchr(k, '.'))
    s_err(c, n, "\"%s\" is not an event kind: a kind is family.what (e.g. session.connected)", q);
  else
    s_err(c, n, "\"%s\" is not an event kind: write lower-case words joined by dots (e.g. session.connected)", q);
}

static bool s_get_kind(s_ctx_t *c, const s_node_t *n, const char **out) {
  const char *k;
  if (!s_get_str(c, n, &k)) return false;
  if (!s_kind_ok(k)) {
    s_kind_error(c, n, k);
    return false;
  }
  *out = k;
  return true;
}

/* A name: letters, digits, '_', '-', '.', starting with a letter or digit. */
static bool s_name_ok(const char *s, size_t max) {
  if (!isalnum((unsigned char)*s)) return false;
  size_t n = 0;
  for (; *s; s++, n++)
    if (!(isalnum((unsigned char)*s) || *s == '_' || *s == '-' || *s == '.')) return false;
  return n <= max;
}

static bool s_get_name(s_ctx_t *c, const s_node_t *n, const char *what, const char **out) {
  const char *s;
  if (!s_get_str(c, n, &s)) return false;
  if (!s_name_ok(s, 100)) {
    char q[80];
    s_show(s, q, sizeof q);
    s_err(c, n, "\"%s\" is not a valid %s (letters, digits, '_', '-', '.'; at most 100)", q, what);
    return false;
  }
  *out = s;
  return true;
}

/* ==== mappings ============================================================================= */

static const s_node_t *s_get(const s_node_t *m, const char *key) {
  if (!m || m->type != S_MAP) return NULL;
  for (size_t i = 0; i < m->n; i++)
    if (m->kids[i]->type == S_SCALAR && !strcmp(m->kids[i]->text, key)) return m->vals[i];
  return NULL;
}

static void s_unknown_key(s_ctx_t *c, const s_node_t *key, const char *const *allowed, size_t n,
                          const char *what) {
  char q[80], list[400];
  s_show(key->text, q, sizeof q);
  const char *near = s_nearest(key->text, allowed, n);
  if (near) {
    s_err(c, key, "unknown key '%s' in %s (did you mean '%s'?)", q, what, near);
    return;
  }
  s_join(allowed, n, list, sizeof list);
  s_err(c, key, "unknown key '%s' in %s (valid keys: %s)", q, what, list);
}

/* The node must be a mapping whose keys are all in allowed (each reported otherwise). */
static bool s_check_map(s_ctx_t *c, const s_node_t *m, const char *const *allowed, size_t n,
                        const char *what) {
  if (m->type != S_MAP) {
    s_err(c, m, "%s must be a mapping (key: value), got %s", what, s_type_word(m));
    return false;
  }
  for (size_t i = 0; i < m->n; i++) {
    const s_node_t *k = m->kids[i];
    if (k->type != S_SCALAR) continue;
    if (strchr(k->text, '$') && strstr(k->text, "${")) {
      s_err(c, k, "params cannot be used in keys");
      continue;
    }
    size_t j;
    for (j = 0; j < n; j++)
      if (!strcmp(k->text, allowed[j])) break;
    if (j == n) s_unknown_key(c, k, allowed, n, what);
  }
  return true;
}

/* Read the value under key with fn, with the path extended; absent keys leave *out alone. */
#define S_OPT(c, map, key, ...)                                                               \
  do {                                                                                        \
    const s_node_t *n_ = s_get((map), (key));                                                 \
    if (n_) {                                                                                 \
      size_t old_ = s_push_key((c), (key));                                                   \
      __VA_ARGS__;                                                                            \
      s_pop((c), old_);                                                                       \
    }                                                                                         \
  } while (0)

static const s_node_t *s_key_node(const s_node_t *m, const char *key) {
  if (!m || m->type != S_MAP) return NULL;
  for (size_t i = 0; i < m->n; i++)
    if (m->kids[i]->type == S_SCALAR && !strcmp(m->kids[i]->text, key)) return m->kids[i];
  return NULL;
}

/* ==== names ================================================================================ */

static const char *const s_party_names[DD_SC_P_COUNT] = {
    "first_device", "terminal", "service", "second", "relay", "cloud", "bus", "ecus"};

static const struct {
  const char *name;       /* link name */
  dd_sc_link_kind_t kind; /* transport */
  const char *client;     /* "up" starts here */
  const char *server;     /* "up" ends here */
} s_links[DD_SC_L_COUNT] = {
    [DD_SC_L_DIRECT] = {"direct", DD_SC_LINK_UDP, "first_device", "service"},
    [DD_SC_L_RELAY] = {"relay", DD_SC_LINK_ZMQ, "first_device", "relay"},
    [DD_SC_L_RELAY_SERVICE] = {"relay_service", DD_SC_LINK_ZMQ, "service", "relay"},
    [DD_SC_L_SERVICE] = {"service", DD_SC_LINK_ZMQ, "first_device", "service"},
    [DD_SC_L_IM] = {"im", DD_SC_LINK_ZMQ, "first_device", "terminal"},
    [DD_SC_L_CLOUD] = {"cloud", DD_SC_LINK_ZMQ, "first_device", "cloud"},
    [DD_SC_L_TERMINAL_CLOUD] = {"terminal_cloud", DD_SC_LINK_ZMQ, "terminal", "cloud"},
    [DD_SC_L_SECOND] = {"second", DD_SC_LINK_ZMQ, "second", "service"},
};

static const char *const s_action_names[DD_SC_ACT_COUNT] = {
    "link", "ecu", "kill", "restart", "session", "terminal", "control", "program", "diagnose",
    "mark", "stop"};
static const char *const s_fault_names[DD_SC_FAULT_COUNT] = {
    "set_dtc", "clear_dtc", "delay", "drop", "force_nrc", "pending_forever", "power_cycle",
    "power_cut_during_flash", "speed", "clear", "engine"};
static const char *const s_request_names[DD_SC_REQ_COUNT] = {
    "live_data", "dtcs", "dids", "freeze_frame", "history", "vin_info"};
static const char *const s_control_names[DD_SC_CTL_COUNT] = {
    "read_dtcs", "clear_dtcs", "read_dids", "read_pids", "stream_pids", "stop_stream",
    "io_control", "routine", "ecu_reset", "start_reflash"};
static const char *const s_expect_names[DD_SC_EX_COUNT_KINDS] = {
    "event", "never", "order", "count", "metric", "final"};
static const char *const s_stat_names[DD_SC_STAT_KINDS] = {
    "min", "max", "mean", "sum", "first", "last", "count", "p"};
static const char *const s_op_names[DD_SC_OP_COUNT] = {
    "eq", "ne", "lt", "le", "gt", "ge", "between", "in", "regex"};
static const char *const s_check_names[DD_SC_CHECK_COUNT] = {
    "vehicle_records", "control_outside_paid_session", "ecu_without_valid_app", "double_charge",
    "process_failures"};
static const char *const s_lop_names[DD_SC_LOP_COUNT] = {"set", "ramp", "outage", "restore",
                                                          "reset"};
static const char *const s_dist_names[DD_NETEM_DIST_COUNT] = {
    [DD_NETEM_DIST_NORMAL] = "normal", [DD_NETEM_DIST_UNIFORM] = "uniform",
    [DD_NETEM_DIST_PARETO] = "pareto", [DD_NETEM_DIST_PARETONORMAL] = "paretonormal"};

const char *dd_sc_party_name(dd_sc_party_id_t p) {
  return (unsigned)p < DD_SC_P_COUNT ? s_party_names[p] : "?";
}
const char *dd_sc_link_name(dd_sc_link_id_t l) {
  return (unsigned)l < DD_SC_L_COUNT ? s_links[l].name : "?";
}
const char *dd_sc_action_name(dd_sc_action_t a) {
  return (unsigned)a < DD_SC_ACT_COUNT ? s_action_names[a] : "?";
}
const char *dd_sc_fault_name(dd_sc_fault_kind_t f) {
  return (unsigned)f < DD_SC_FAULT_COUNT ? s_fault_names[f] : "?";
}
const char *dd_sc_request_name(dd_sc_request_kind_t r) {
  return (unsigned)r < DD_SC_REQ_COUNT ? s_request_names[r] : "?";
}
const char *dd_sc_control_name(dd_sc_control_action_t a) {
  return (unsigned)a < DD_SC_CTL_COUNT ? s_control_names[a] : "?";
}
const char *dd_sc_expect_kind_name(dd_sc_expect_kind_t k) {
  return (unsigned)k < DD_SC_EX_COUNT_KINDS ? s_expect_names[k] : "?";
}
const char *dd_sc_stat_name(dd_sc_stat_t s) {
  return (unsigned)s < DD_SC_STAT_KINDS ? s_stat_names[s] : "?";
}
const char *dd_sc_op_name(dd_sc_op_t op) {
  return (unsigned)op < DD_SC_OP_COUNT ? s_op_names[op] : "?";
}
const char *dd_sc_check_name(dd_sc_check_id_t ch) {
  return (unsigned)ch < DD_SC_CHECK_COUNT ? s_check_names[ch] : "?";
}
const char *dd_sc_link_op_name(dd_sc_link_opkind_t op) {
  return (unsigned)op < DD_SC_LOP_COUNT ? s_lop_names[op] : "?";
}

/* ==== links ================================================================================ */

/* The settings of one direction group ("both", up: or down:) of a link or a link change. */
typedef struct {
  dd_sc_netem_set_t set; /* parameters given */
  bool ramp;             /* ramp: given (the delay is its target) */
  uint64_t ramp_us;      /* its duration */
  bool outage;           /* outage: given */
  uint64_t outage_us;    /* its duration, DD_SC_NONE: forever */
  bool restore;          /* restore: true */
  bool reset;            /* reset: true */
  bool any;              /* anything given */
} s_group_t;

static const char *const s_netem_keys[] = {"delay", "jitter", "dist", "delay_corr", "rate",
                                           "loss", "loss_corr", "gemodel", "dup", "corrupt",
                                           "reorder", "gap", "rto"};

/* gemodel: {p, r, h, k}: Good->Bad, Bad->Good, delivery in Bad, delivery in Good. */
static void s_gemodel(s_ctx_t *c, const s_node_t *m, bool change, dd_sc_netem_set_t *s) {
  static const char *const ge[] = {"p", "r", "h", "k"};
  if (!s_check_map(c, m, ge, S_N(ge), "gemodel")) return;
  double *slot[4] = {&s->ge_p, &s->ge_r, &s->ge_h, &s->ge_k};
  uint32_t given = 0;
  bool ok = true;
  for (unsigned i = 0; i < 4; i++) {
    const s_node_t *v = s_get(m, ge[i]);
    if (!v) continue;
    size_t old = s_push_key(c, ge[i]);
    if (s_get_prob(c, v, slot[i])) given |= 1u << i;
    else ok = false;
    s_pop(c, old);
  }
  if (!ok) return;
  if (!given) s_err(c, m, "give at least one of p, r, h, k");
  else if (!change && !(given & 1u)) s_err(c, m, "p (the Good -> Bad probability) is required");
  else {
    s->ge_mask = given;
    s->mask |= DD_SC_LF_GEMODEL;
  }
}

static void s_link_group(s_ctx_t *c, const s_node_t *m, dd_sc_link_kind_t kind, bool change,
                         bool top, s_group_t *g) {
  const char *allowed[S_N(s_netem_keys) + 8];
  size_t na = 0;
  for (size_t i = 0; i < S_N(s_netem_keys); i++)
    allowed[na++] = s_netem_keys[i];
  if (change) {
    allowed[na++] = "ramp";
    allowed[na++] = "outage";
    allowed[na++] = "restore";
    allowed[na++] = "reset";
  }
  if (top) {
    allowed[na++] = "up";
    allowed[na++] = "down";
    if (!change) allowed[na++] = "kind";
  }
  memset(g, 0, sizeof *g);
  if (!s_check_map(c, m, allowed, na, change ? "a link change" : "a link")) return;
  dd_sc_netem_set_t *s = &g->set;
  bool zmq = kind == DD_SC_LINK_ZMQ;
  S_OPT(c, m, "delay", if (s_get_dur(c, n_, &s->delay_us)) {
    if (s->delay_us > DD_NETEM_MAX_DELAY_US) s_err(c, n_, "at most 1h");
    else s->mask |= DD_SC_LF_DELAY;
  });
  S_OPT(c, m, "jitter", if (s_get_dur(c, n_, &s->jitter_us)) {
    if (s->jitter_us > DD_NETEM_MAX_DELAY_US) s_err(c, n_, "at most 1h");
    else s->mask |= DD_SC_LF_JITTER;
  });
  S_OPT(c, m, "dist", {
    int d;
    if (s_get_enum(c, n_, s_dist_names, S_N(s_dist_names), "a delay distribution", &d)) {
      s->dist = (dd_netem_dist_t)d;
      s->mask |= DD_SC_LF_DIST;
    }
  });
  S_OPT(c, m, "delay_corr", if (s_get_prob(c, n_, &s->corr)) s->mask |= DD_SC_LF_CORR);
  S_OPT(c, m, "rate", if (s_get_rate(c, n_, &s->rate)) s->mask |= DD_SC_LF_RATE);
  S_OPT(c, m, "loss", if (s_get_prob(c, n_, &s->loss)) s->mask |= DD_SC_LF_LOSS);
  S_OPT(c, m, "loss_corr", if (s_get_prob(c, n_, &s->loss_corr)) s->mask |= DD_SC_LF_LOSS_CORR);
  S_OPT(c, m, "gemodel", s_gemodel(c, n_, change, s));
  if ((s->mask & DD_SC_LF_GEMODEL) && (s->mask & (DD_SC_LF_LOSS | DD_SC_LF_LOSS_CORR)))
    s_err(c, s_key_node(m, "gemodel"),
          "give loss: (random loss) or gemodel: (Gilbert-Elliott), not both");
  static const struct {
    const char *key;  /* udp-only key */
    uint32_t bit;     /* its bit */
    const char *why;  /* why a zmq link refuses it */
  } udp_only[] = {
      {"dup", DD_SC_LF_DUP, "never duplicates a message (ZeroMQ over TCP delivers each once)"},
      {"corrupt", DD_SC_LF_CORRUPT, "never corrupts a message (TCP checks and retransmits)"},
      {"reorder", DD_SC_LF_REORDER, "never reorders messages (one TCP stream)"},
  };
  double *udp_slot[3] = {&s->dup, &s->corrupt, &s->reorder};
  for (size_t i = 0; i < S_N(udp_only); i++) {
    S_OPT(c, m, udp_only[i].key, if (s_get_prob(c, n_, udp_slot[i])) {
      if (zmq && *udp_slot[i] > 0)
        s_err(c, n_, "a zmq link %s; only udp links take %s", udp_only[i].why, udp_only[i].key);
      else
        s->mask |= udp_only[i].bit;
    });
  }
  S_OPT(c, m, "gap", if (s_get_u32(c, n_, 0, UINT32_MAX, &s->gap)) s->mask |= DD_SC_LF_GAP);
  S_OPT(c, m, "rto", if (s_get_dur(c, n_, &s->rto_us)) {
    if (!zmq) s_err(c, n_, "only zmq links retransmit (a lost udp datagram stays lost)");
    else if (s->rto_us == 0 || s->rto_us > DD_NETEM_MAX_DELAY_US) s_err(c, n_, "give more than 0 and at most 1h");
    else s->mask |= DD_SC_LF_RTO;
  });
  if (change) {
    S_OPT(c, m, "ramp", if (s_get_dur(c, n_, &g->ramp_us)) {
      if (g->ramp_us == 0 || g->ramp_us > DD_NETEM_MAX_RAMP_US) s_err(c, n_, "give more than 0 and at most 1000 days");
      else if (!(s->mask & DD_SC_LF_DELAY)) s_err(c, n_, "a ramp moves the delay; give delay: (the target) too");
      else {
        g->ramp = true;
        s->mask &= ~DD_SC_LF_DELAY;
      }
    });
    S_OPT(c, m, "outage", {
      dd_sc_value_t v;
      if (n_->type == S_SCALAR && s_scalar(c, n_, &v) && !strcmp(v.text, "forever")) {
        g->outage = true;
        g->outage_us = DD_SC_NONE;
      } else if (s_get_dur(c, n_, &g->outage_us)) {
        if (g->outage_us == 0 || g->outage_us > 86400ull * 1000000ull)
          s_err(c, n_, "give more than 0 and at most 1 day, or forever (until restore: true)");
        else g->outage = true;
      }
    });
    S_OPT(c, m, "restore", if (s_get_bool(c, n_, &g->restore) && !g->restore) s_err(c, n_, "false does nothing; remove it"));
    S_OPT(c, m, "reset", if (s_get_bool(c, n_, &g->reset) && !g->reset) s_err(c, n_, "false does nothing; remove it"));
    if (g->restore && g->outage)
      s_err(c, s_key_node(m, "restore"), "give outage: or restore:, not both");
  }
  g->any = s->mask || g->ramp || g->outage || g->restore || g->reset;
}

/* dst += src: src's fields where given. */
static void s_set_merge(dd_sc_netem_set_t *dst, const dd_sc_netem_set_t *src) {
  uint32_t m = src->mask;
  if (m & DD_SC_LF_DELAY) dst->delay_us = src->delay_us;
  if (m & DD_SC_LF_JITTER) dst->jitter_us = src->jitter_us;
  if (m & DD_SC_LF_DIST) dst->dist = src->dist;
  if (m & DD_SC_LF_CORR) dst->corr = src->corr;
  if (m & DD_SC_LF_RATE) dst->rate = src->rate;
  if (m & DD_SC_LF_LOSS) dst->loss = src->loss;
  if (m & DD_SC_LF_LOSS_CORR) dst->loss_corr = src->loss_corr;
  if (m & DD_SC_LF_GEMODEL) {
    if (src->ge_mask & 1u) dst->ge_p = src->ge_p;
    if (src->ge_mask & 2u) dst->ge_r = src->ge_r;
    if (src->ge_mask & 4u) dst->ge_h = src->ge_h;
    if (src->ge_mask & 8u) dst->ge_k = src->ge_k;
    dst->ge_mask |= src->ge_mask;
  }
  if (m & DD_SC_LF_DUP) dst->dup = src->dup;
  if (m & DD_SC_LF_CORRUPT) dst->corrupt = src->corrupt;
  if (m & DD_SC_LF_REORDER) dst->reorder = src->reorder;
  if (m & DD_SC_LF_GAP) dst->gap = src->gap;
  if (m & DD_SC_LF_RTO) dst->rto_us = src->rto_us;
  /* Random loss and Gilbert-Elliott exclude each other: the later one wins. */
  if (m & (DD_SC_LF_LOSS | DD_SC_LF_LOSS_CORR)) {
    dst->mask &= ~DD_SC_LF_GEMODEL;
    dst->ge_mask = 0;
  }
  if (m & DD_SC_LF_GEMODEL) dst->mask &= ~(DD_SC_LF_LOSS | DD_SC_LF_LOSS_CORR);
  dst->mask |= m;
}

static bool s_set_equal(const dd_sc_netem_set_t *a, const dd_sc_netem_set_t *b) {
  return a->mask == b->mask && a->ge_mask == b->ge_mask && a->delay_us == b->delay_us &&
         a->jitter_us == b->jitter_us && a->dist == b->dist && a->corr == b->corr &&
         a->rate == b->rate && a->loss == b->loss && a->loss_corr == b->loss_corr &&
         a->ge_p == b->ge_p && a->ge_r == b->ge_r && a->ge_h == b->ge_h && a->ge_k == b->ge_k &&
         a->dup == b->dup && a->corrupt == b->corrupt && a->reorder == b->reorder &&
         a->gap == b->gap && a->rto_us == b->rto_us;
}

void dd_sc_netem_apply(const dd_sc_netem_set_t *s, dd_netem_params_t *p) {
  assert(s && p);
  dd_netem_params_t old = *p;
  uint32_t m = s->mask;
  if (m & DD_SC_LF_DELAY) {
    p->delay_us = s->delay_us;
    p->ramp_us = 0; /* a new delay ends any ramp */
    p->ramp_to_us = 0;
  }
  if (m & DD_SC_LF_JITTER) p->jitter_us = s->jitter_us;
  if (m & DD_SC_LF_DIST) p->dist = s->dist;
  if (m & DD_SC_LF_CORR) p->delay_corr = s->corr;
  if (m & DD_SC_LF_RATE) p->rate = s->rate;
  if (m & (DD_SC_LF_LOSS | DD_SC_LF_LOSS_CORR)) {
    bool was_random = old.loss.model == DD_NETEM_LOSS_RANDOM;
    double prob = (m & DD_SC_LF_LOSS) ? s->loss : was_random ? old.loss.p : 0.0;
    double corr = (m & DD_SC_LF_LOSS_CORR) ? s->loss_corr : was_random ? old.loss.corr : 0.0;
    dd_netem_loss_random(&p->loss, prob, corr);
  }
  if (m & DD_SC_LF_GEMODEL) {
    /* Kept values for members not given; tc-netem(8) "loss gemodel" defaults when switching:
     * r = 1 - p, 1-h = 1 (h = 0), 1-k = 0 (k = 1). h and k are delivery probabilities. */
    bool was = old.loss.model == DD_NETEM_LOSS_GEMODEL;
    double gp = (s->ge_mask & 1u) ? s->ge_p : old.loss.ge_p;
    double gr = (s->ge_mask & 2u) ? s->ge_r : was ? old.loss.ge_r : 1.0 - gp;
    double g1h = (s->ge_mask & 4u) ? 1.0 - s->ge_h : was ? old.loss.ge_1h : 1.0;
    double g1k = (s->ge_mask & 8u) ? 1.0 - s->ge_k : was ? old.loss.ge_1k : 0.0;
    dd_netem_loss_gemodel(&p->loss, gp, gr, g1h, g1k);
  }
  if (m & DD_SC_LF_DUP) p->dup = s->dup;
  if (m & DD_SC_LF_CORRUPT) p->corrupt = s->corrupt;
  if (m & DD_SC_LF_REORDER) p->reorder = s->reorder;
  if (m & DD_SC_LF_GAP) p->reorder_gap = s->gap;
  if (m & DD_SC_LF_RTO) {
    p->rto_us = s->rto_us;
    if (p->rto_max_us < p->rto_us) p->rto_max_us = p->rto_us;
  }
}

static bool s_op_push(s_ctx_t *c, s_vec_t *ops, dd_sc_link_op_t op) {
  dd_sc_link_op_t *o = s_vec_push(ops);
  if (!o) {
    c->oom = true;
    return false;
  }
  *o = op;
  return true;
}

/* The initial SET commands of a declared link: one for both directions when they agree. */
static void s_link_init_ops(s_ctx_t *c, dd_sc_link_t *l, const s_group_t g[3]) {
  dd_sc_netem_set_t up = g[0].set, down = g[0].set;
  s_set_merge(&up, &g[1].set);
  s_set_merge(&down, &g[2].set);
  s_vec_t ops;
  s_vec_init(&ops, sizeof(dd_sc_link_op_t));
  if (s_set_equal(&up, &down)) {
    if (up.mask) s_op_push(c, &ops, (dd_sc_link_op_t){.op = DD_SC_LOP_SET, .dirs = DD_SC_BOTH, .set = up});
  } else {
    if (up.mask) s_op_push(c, &ops, (dd_sc_link_op_t){.op = DD_SC_LOP_SET, .dirs = DD_SC_UP, .set = up});
    if (down.mask)
      s_op_push(c, &ops, (dd_sc_link_op_t){.op = DD_SC_LOP_SET, .dirs = DD_SC_DOWN, .set = down});
  }
  l->n_init = ops.n;
  l->init = s_vec_finish(&ops, c->a, &c->oom);
  for (int d = 0; d < 2; d++) {
    dd_netem_params_init(&l->params[d]);
    dd_sc_netem_apply(d == 0 ? &up : &down, &l->params[d]);
  }
}

static void s_link_groups(s_ctx_t *c, const s_node_t *m, dd_sc_link_kind_t kind, bool change,
                          s_group_t g[3]) {
  s_link_group(c, m, kind, change, true, &g[0]);
  memset(&g[1], 0, sizeof g[1]);
  memset(&g[2], 0, sizeof g[2]);
  S_OPT(c, m, "up", s_link_group(c, n_, kind, change, false, &g[1]));
  S_OPT(c, m, "down", s_link_group(c, n_, kind, change, false, &g[2]));
}

static void s_links_section(s_ctx_t *c, const s_node_t *m) {
  dd_scenario_t *sc = c->sc;
  const char *names[DD_SC_L_COUNT];
  for (int i = 0; i < DD_SC_L_COUNT; i++)
    names[i] = s_links[i].name;
  if (!s_check_map(c, m, names, DD_SC_L_COUNT, "links")) return;
  for (int i = 0; i < DD_SC_L_COUNT; i++) {
    const s_node_t *v = s_get(m, names[i]);
    if (!v) continue;
    dd_sc_link_t *l = &sc->links[i];
    size_t old = s_push_key(c, names[i]);
    l->declared = true;
    l->loc = s_loc(c, s_key_node(m, names[i]));
    if (v->type == S_MAP) {
      S_OPT(c, v, "kind", {
        static const char *const kinds[] = {"udp", "zmq"};
        int k;
        if (s_get_enum(c, n_, kinds, 2, "a link kind", &k) && k != (int)l->kind)
          s_err(c, n_, "link '%s' is %s (%s -> %s); kind: %s is not possible", names[i],
                kinds[l->kind], s_links[i].client, s_links[i].server, kinds[k]);
      });
      s_group_t g[3];
      s_link_groups(c, v, l->kind, false, g);
      s_link_init_ops(c, l, g);
      for (int d = 0; d < 2; d++)
        if (dd_netem_params_check(&l->params[d]) != 0)
          s_err(c, v, "the impairment core refuses these settings (%s)", d ? "down" : "up");
    } else if (!s_is_plain_null(v)) {
      s_err(c, v, "a link is a mapping, e.g. {delay: 20ms, jitter: 2ms}; got %s", s_type_word(v));
    }
    s_pop(c, old);
  }
}

/* A link change in a step: {direct: {delay: 250ms}, relay: {outage: 2s}}. */
static bool s_link_action(s_ctx_t *c, const s_node_t *m, dd_sc_step_t *st) {
  dd_scenario_t *sc = c->sc;
  if (m->type != S_MAP || m->n == 0) {
    s_err(c, m, "name the links to change, e.g. {direct: {delay: 250ms}}");
    return false;
  }
  s_vec_t changes;
  s_vec_init(&changes, sizeof(dd_sc_link_change_t));
  for (size_t i = 0; i < m->n; i++) {
    const s_node_t *k = m->kids[i], *v = m->vals[i];
    if (k->type != S_SCALAR) continue;
    int id = -1;
    for (int j = 0; j < DD_SC_L_COUNT; j++)
      if (!strcmp(k->text, s_links[j].name)) id = j;
    char q[80];
    s_show(k->text, q, sizeof q);
    if (id < 0 || !sc->links[id].declared) {
      const char *declared[DD_SC_L_COUNT] = {0};
      size_t nd = 0;
      for (int j = 0; j < DD_SC_L_COUNT; j++)
        if (sc->links[j].declared) declared[nd++] = s_links[j].name;
      char list[200];
      s_join(declared, nd, list, sizeof list);
      const char *near = s_nearest(k->text, declared, nd);
      if (id >= 0)
        s_err(c, k, "link '%s' is not defined under links: (defined: %s); add it there first", q,
              nd ? list : "none");
      else if (near)
        s_err(c, k, "no link '%s' is defined (did you mean '%s'?)", q, near);
      else
        s_err(c, k, "no link '%s' is defined (defined: %s)", q, nd ? list : "none");
      continue;
    }
    size_t old = s_push_key(c, k->text);
    size_t errors_before = c->n_errors;
    s_group_t g[3];
    s_link_groups(c, v, sc->links[id].kind, true, g);
    s_vec_t ops;
    s_vec_init(&ops, sizeof(dd_sc_link_op_t));
    static const unsigned dirs[3] = {DD_SC_BOTH, DD_SC_UP, DD_SC_DOWN};
    for (int gi = 0; gi < 3; gi++) {
      const s_group_t *gr = &g[gi];
      unsigned d = dirs[gi];
      if (gr->reset) {
        s_op_push(c, &ops, (dd_sc_link_op_t){.op = DD_SC_LOP_RESET, .dirs = d});
        for (size_t j = 0; j < sc->links[id].n_init; j++) {
          dd_sc_link_op_t o = sc->links[id].init[j];
          if (!(o.dirs & d)) continue;
          o.dirs &= d;
          s_op_push(c, &ops, o);
        }
      }
      if (gr->set.mask) s_op_push(c, &ops, (dd_sc_link_op_t){.op = DD_SC_LOP_SET, .dirs = d, .set = gr->set});
      if (gr->ramp)
        s_op_push(c, &ops, (dd_sc_link_op_t){.op = DD_SC_LOP_RAMP, .dirs = d,
                                              .ramp_to_us = gr->set.delay_us, .ramp_us = gr->ramp_us});
      if (gr->restore) s_op_push(c, &ops, (dd_sc_link_op_t){.op = DD_SC_LOP_RESTORE, .dirs = d});
      if (gr->outage)
        s_op_push(c, &ops, (dd_sc_link_op_t){.op = DD_SC_LOP_OUTAGE, .dirs = d, .outage_us = gr->outage_us});
    }
    if (v->type == S_MAP && ops.n == 0 && c->n_errors == errors_before)
      s_err(c, v, "this change does nothing (give e.g. delay:, loss:, outage:, restore: true)");
    dd_sc_link_change_t *ch = s_vec_push(&changes);
    if (!ch) {
      c->oom = true;
      s_vec_free(&ops);
    } else {
      ch->link = (dd_sc_link_id_t)id;
      ch->name = s_links[id].name;
      ch->n_ops = ops.n;
      ch->ops = s_vec_finish(&ops, c->a, &c->oom);
      ch->loc = s_loc(c, k);
    }
    s_pop(c, old);
  }
  st->link.n_changes = changes.n;
  st->link.changes = s_vec_finish(&changes, c->a, &c->oom);
  return true;
}

/* ==== parties, first device, terminals ===================================================== */

/* set: {key: value, ...}: extra settings passed on as they are. */
static void s_kv_map(s_ctx_t *c, const s_node_t *m, const dd_sc_kv_t **out, size_t *n_out) {
  if (m->type != S_MAP) {
    s_err(c, m, "expected a mapping of setting names to values, got %s", s_type_word(m));
    return;
  }
  s_vec_t kv;
  s_vec_init(&kv, sizeof(dd_sc_kv_t));
  for (size_t i = 0; i < m->n; i++) {
    const s_node_t *k = m->kids[i];
    if (k->type != S_SCALAR) continue;
    if (!s_is_ident(k->text)) {
      char q[80];
      s_show(k->text, q, sizeof q);
      s_err(c, k, "'%s' is not a setting name (letters, digits and '_')", q);
      continue;
    }
    size_t old = s_push_key(c, k->text);
    const char *v;
    if (s_get_str(c, m->vals[i], &v)) {
      dd_sc_kv_t *e = s_vec_push(&kv);
      const char *key = s_strdup(c->a, k->text);
      if (!e || !key) c->oom = true;
      else *e = (dd_sc_kv_t){.key = key, .value = v};
    }
    s_pop(c, old);
  }
  *n_out = kv.n;
  *out = s_vec_finish(&kv, c->a, &c->oom);
}

static const char *const s_mode_names[] = {"sim", "real"};

static void s_party(s_ctx_t *c, dd_sc_party_id_t id, const s_node_t *k, const s_node_t *v) {
  dd_scenario_t *sc = c->sc;
  dd_sc_party_t *p = &sc->parties[id];
  p->declared = true;
  p->loc = s_loc(c, k);
  if (v->type == S_SCALAR) {
    int mode;
    if (!s_get_enum(c, v, s_mode_names, 2, "a mode", &mode)) return;
    p->mode = (dd_sc_mode_t)mode;
    if (id == DD_SC_P_BUS && mode == DD_SC_REAL) {
      sc->bus.kind = DD_SC_BUS_SOCKETCAN;
      sc->bus.iface = "can0";
    }
    return;
  }
  if (id == DD_SC_P_BUS) {
    static const char *const keys[] = {"kind", "iface", "bitrate", "dbitrate", "configure",
                                       "restart_ms", "register_timeout"};
    if (!s_check_map(c, v, keys, S_N(keys), "bus")) return;
    static const char *const kinds[] = {"virtual", "socketcan"};
    S_OPT(c, v, "kind", {
      int kk;
      if (s_get_enum(c, n_, kinds, 2, "a bus kind", &kk)) sc->bus.kind = (dd_sc_bus_kind_t)kk;
    });
    p->mode = sc->bus.kind == DD_SC_BUS_SOCKETCAN ? DD_SC_REAL : DD_SC_SIM;
    if (sc->bus.kind == DD_SC_BUS_SOCKETCAN) sc->bus.iface = "can0";
    S_OPT(c, v, "iface", {
      const char *ifn;
      if (s_get_str(c, n_, &ifn)) {
        if (sc->bus.kind != DD_SC_BUS_SOCKETCAN) s_err(c, n_, "iface: applies to kind: socketcan only");
        else if (!*ifn || strlen(ifn) > 15 || strpbrk(ifn, " /:"))
          s_err(c, n_, "\"%s\" is not an interface name (1 to 15 characters, no '/', ':' or blanks)", ifn);
        else sc->bus.iface = ifn;
      }
    });
    /* ISO 11898-1 classic CAN tops out at 1 Mbit/s; CAN FD data phases in use go to 8 Mbit/s. */
    S_OPT(c, v, "bitrate", s_get_u32(c, n_, 10000, 1000000, &sc->bus.bitrate));
    S_OPT(c, v, "dbitrate", if (s_get_u32(c, n_, 0, 8000000, &sc->bus.dbitrate) && sc->bus.dbitrate &&
                                sc->bus.dbitrate < sc->bus.bitrate)
                                s_err(c, n_, "the data-phase rate %u is below the nominal rate %u",
                                      sc->bus.dbitrate, sc->bus.bitrate));
    S_OPT(c, v, "configure", if (s_get_bool(c, n_, &sc->bus.configure) && sc->bus.configure &&
                                 sc->bus.kind != DD_SC_BUS_SOCKETCAN)
                                 s_err(c, n_, "configure: applies to kind: socketcan only"));
    /* ISO 11898-1 bus-off recovery; the kernel's can-dev restart-ms, up to a minute here */
    S_OPT(c, v, "restart_ms", if (s_get_u32(c, n_, 0, 60000, &sc->bus.restart_ms) &&
                                  !sc->bus.configure)
                                  s_err(c, n_, "restart_ms: needs configure: true"));
    S_OPT(c, v, "register_timeout", s_get_dur(c, n_, &p->register_timeout_us));
    return;
  }
  if (id == DD_SC_P_ECUS) {
    static const char *const keys[] = {"mode", "real", "register_timeout"};
    if (!s_check_map(c, v, keys, S_N(keys), "ecus")) return;
    S_OPT(c, v, "mode", {
      int mode;
      if (s_get_enum(c, n_, s_mode_names, 2, "a mode", &mode)) p->mode = (dd_sc_mode_t)mode;
    });
    S_OPT(c, v, "register_timeout", s_get_dur(c, n_, &p->register_timeout_us));
    S_OPT(c, v, "real", {
      if (n_->type != S_SEQ) {
        s_err(c, n_, "expected a list of ECU names, e.g. [engine, abs]");
      } else {
        const char **names = s_alloc(c->a, (n_->n ? n_->n : 1) * sizeof *names);
        if (!names) c->oom = true;
        size_t nn = 0;
        for (size_t i = 0; names && i < n_->n; i++) {
          size_t o2 = s_push_idx(c, i);
          if (s_get_name(c, n_->kids[i], "ECU name", &names[nn])) nn++;
          s_pop(c, o2);
        }
        if (p->mode == DD_SC_REAL && nn) s_err(c, n_, "every ECU is real already (mode: real)");
        sc->ecus.real = names;
        sc->ecus.n_real = nn;
      }
    });
    return;
  }
  static const char *const keys[] = {"mode", "register_timeout", "endpoint", "set"};
  if (!s_check_map(c, v, keys, S_N(keys), s_party_names[id])) return;
  S_OPT(c, v, "mode", {
    int mode;
    if (s_get_enum(c, n_, s_mode_names, 2, "a mode", &mode)) p->mode = (dd_sc_mode_t)mode;
  });
  S_OPT(c, v, "register_timeout", s_get_dur(c, n_, &p->register_timeout_us));
  S_OPT(c, v, "endpoint", if (s_get_str(c, n_, &p->endpoint) && p->mode != DD_SC_REAL)
                              s_err(c, n_, "endpoint: applies to real parties (add mode: real)"));
  S_OPT(c, v, "set", s_kv_map(c, n_, &p->set, &p->n_set));
}

static void s_parties_section(s_ctx_t *c, const s_node_t *m) {
  if (!s_check_map(c, m, s_party_names, DD_SC_P_COUNT, "parties")) return;
  for (int i = 0; i < DD_SC_P_COUNT; i++) {
    const s_node_t *v = s_get(m, s_party_names[i]);
    if (!v) continue;
    size_t old = s_push_key(c, s_party_names[i]);
    s_party(c, (dd_sc_party_id_t)i, s_key_node(m, s_party_names[i]), v);
    s_pop(c, old);
  }
}

static void s_first_device_section(s_ctx_t *c, const s_node_t *m) {
  static const char *const keys[] = {"threshold", "hysteresis", "hold", "probe_interval", "policy",
                                     "fee_limit", "set"};
  if (!s_check_map(c, m, keys, S_N(keys), "first_device")) return;
  dd_sc_first_device_t *f = &c->sc->first_device;
  S_OPT(c, m, "threshold", if (s_get_dur(c, n_, &f->threshold_us) && f->threshold_us == 0)
                               s_err(c, n_, "a threshold of 0 sends everything to the relay (use policy: relay)"));
  S_OPT(c, m, "hysteresis", s_get_dur(c, n_, &f->hysteresis_us));
  S_OPT(c, m, "hold", s_get_dur(c, n_, &f->hold_us));
  S_OPT(c, m, "probe_interval", if (s_get_dur(c, n_, &f->probe_interval_us) && f->probe_interval_us == 0)
                                    s_err(c, n_, "give more than 0"));
  S_OPT(c, m, "policy", {
    static const char *const pol[] = {"latency", "direct", "relay"};
    int p;
    if (s_get_enum(c, n_, pol, 3, "a path policy", &p)) f->policy = (dd_sc_policy_t)p;
  });
  S_OPT(c, m, "fee_limit", s_get_money(c, n_, &f->fee_limit_minor));
  S_OPT(c, m, "set", s_kv_map(c, n_, &f->set, &f->n_set));
  if (f->hysteresis_us >= f->threshold_us && f->threshold_us &&
      (s_get(m, "hysteresis") || s_get(m, "threshold"))) {
    const char *key = s_get(m, "hysteresis") ? "hysteresis" : "threshold";
    size_t old = s_push_key(c, key);
    char h[DD_DURATION_FMT_MAX], t[DD_DURATION_FMT_MAX];
    dd_duration_format(f->hysteresis_us, h, sizeof h);
    dd_duration_format(f->threshold_us, t, sizeof t);
    s_err(c, s_get(m, key),
          "the hysteresis (%s) must be below the threshold (%s), or the device never returns to direct",
          h, t);
    s_pop(c, old);
  }
}

static void s_terminals_section(s_ctx_t *c, const s_node_t *m) {
  if (m->type != S_MAP || m->n == 0) {
    s_err(c, m, "expected a mapping of terminal ids to settings, e.g. {shop-1: {fee: 30.00}}");
    return;
  }
  s_vec_t ts;
  s_vec_init(&ts, sizeof(dd_sc_terminal_t));
  static const char *const keys[] = {"name", "online", "accept", "answer_delay", "fee"};
  for (size_t i = 0; i < m->n; i++) {
    const s_node_t *k = m->kids[i], *v = m->vals[i];
    if (k->type != S_SCALAR) continue;
    size_t old = s_push_key(c, k->text);
    dd_sc_terminal_t *t = s_vec_push(&ts);
    if (!t) {
      c->oom = true;
      s_pop(c, old);
      break;
    }
    if (!s_name_ok(k->text, 64)) s_err(c, k, "a terminal id is letters, digits, '_', '-', '.'");
    t->id = s_strdup(c->a, k->text);
    t->name = t->id;
    t->online = true;
    t->accept = true;
    t->fee_minor = 3000;
    t->loc = s_loc(c, k);
    if (v->type == S_MAP) {
      s_check_map(c, v, keys, S_N(keys), "a terminal");
      S_OPT(c, v, "name", s_get_str(c, n_, &t->name));
      S_OPT(c, v, "online", s_get_bool(c, n_, &t->online));
      S_OPT(c, v, "accept", s_get_bool(c, n_, &t->accept));
      S_OPT(c, v, "answer_delay", s_get_dur(c, n_, &t->answer_delay_us));
      S_OPT(c, v, "fee", s_get_money(c, n_, &t->fee_minor));
    } else if (!s_is_plain_null(v)) {
      s_err(c, v, "a terminal's settings are a mapping, e.g. {fee: 30.00, accept: true}");
    }
    s_pop(c, old);
  }
  c->sc->n_terminals = ts.n;
  c->sc->terminals = s_vec_finish(&ts, c->a, &c->oom);
}

static const dd_sc_terminal_t *s_terminal(const dd_scenario_t *sc, const char *id) {
  for (size_t i = 0; i < sc->n_terminals; i++)
    if (!strcmp(sc->terminals[i].id, id)) return &sc->terminals[i];
  return NULL;
}

/* A terminal id that must be defined; NULL after a reported problem. */
static const dd_sc_terminal_t *s_get_terminal(s_ctx_t *c, const s_node_t *n) {
  const char *id;
  if (!s_get_str(c, n, &id)) return NULL;
  const dd_sc_terminal_t *t = s_terminal(c->sc, id);
  if (t) return t;
  const char *ids[64] = {0};
  size_t k = 0;
  for (size_t i = 0; i < c->sc->n_terminals && k < S_N(ids); i++)
    ids[k++] = c->sc->terminals[i].id;
  char q[80], list[300];
  s_show(id, q, sizeof q);
  s_join(ids, k, list, sizeof list);
  const char *near = s_nearest(id, ids, k);
  if (near)
    s_err(c, n, "no terminal '%s' is defined (did you mean '%s'?)", q, near);
  else
    s_err(c, n, "no terminal '%s' is defined (terminals: %s)", q, list);
  return NULL;
}

/* ==== patterns, conditions, points in time ================================================= */

/* The divisor from microseconds to the unit a field's name ends with (_us, _ms, _s); 0 when
 * the name gives no unit. */
static double s_field_unit(const char *field) {
  size_t l = field ? strlen(field) : 0;
  if (l > 3 && !strcmp(field + l - 3, "_us")) return 1.0;
  if (l > 3 && !strcmp(field + l - 3, "_ms")) return 1000.0;
  if (l > 2 && !strcmp(field + l - 2, "_s")) return 1e6;
  return 0;
}

static bool s_op_ordering(dd_sc_op_t op) { return op >= DD_SC_OP_LT && op <= DD_SC_OP_BETWEEN; }

/* An operand of op on field. Ordering ops need a number; a duration ("150ms") is converted into
 * the unit the field's name ends with. */
static bool s_operand(s_ctx_t *c, const s_node_t *n, const char *field, dd_sc_op_t op,
                      dd_sc_value_t *v) {
  if (!s_scalar(c, n, v)) return false;
  char q[80];
  s_show(v->text, q, sizeof q);
  if (v->is_num) return true;
  uint64_t us;
  if (!v->quoted && !v->is_bool && dd_duration_parse(v->text, &us, NULL, 0) == 0) {
    double unit = s_field_unit(field);
    if (unit > 0) {
      v->is_num = true;
      v->num = (double)us / unit;
      v->is_int = us % (uint64_t)unit == 0;
      v->i = (int64_t)(us / (uint64_t)unit);
      return true;
    }
    if (s_op_ordering(op)) {
      s_err(c, n, "\"%s\" is a duration, but the field '%s' does not say its unit (compare with "
                  "a number, or use a field named ..._us, ..._ms or ..._s)",
            q, field ? field : "?");
      return false;
    }
    return true;
  }
  if (s_op_ordering(op)) {
    s_err(c, n, "%s needs a number, got \"%s\"", s_op_names[op], q);
    return false;
  }
  return true;
}

static bool s_push_matcher(s_ctx_t *c, s_vec_t *out, const dd_sc_matcher_t *m) {
  dd_sc_matcher_t *e = s_vec_push(out);
  if (!e) {
    c->oom = true;
    return false;
  }
  *e = *m;
  return true;
}

/* Conditions on one field (field NULL: on a metric's statistic, ops ordering/eq/ne only). */
static void s_conditions(s_ctx_t *c, const s_node_t *k, const s_node_t *v, const char *field,
                         const char *unit_field, s_vec_t *out) {
  dd_sc_matcher_t m = {.field = field, .loc = s_loc(c, k)};
  if (v->type == S_SCALAR) {
    m.op = DD_SC_OP_EQ;
    if (s_operand(c, v, unit_field, m.op, &m.v[0])) s_push_matcher(c, out, &m);
    return;
  }
  if (v->type == S_SEQ) {
    s_err(c, v, "a list is not a condition: write {in: [a, b]} for one of several values");
    return;
  }
  /* Spellings of other languages, with the word to write here. */
  static const char *const other[][2] = {{"lte", "le"}, {"gte", "ge"}, {"neq", "ne"}, {"<", "lt"},
                                         {"<=", "le"}, {">", "gt"}, {">=", "ge"}, {"==", "eq"},
                                         {"!=", "ne"}, {"match", "regex"}, {"one_of", "in"}};
  for (size_t i = 0; v->type == S_MAP && i < v->n; i++)
    for (size_t j = 0; j < S_N(other); j++)
      if (v->kids[i]->type == S_SCALAR && !strcmp(v->kids[i]->text, other[j][0])) {
        s_err(c, v->kids[i], "unknown key '%s' in a condition (write %s)", other[j][0], other[j][1]);
        return;
      }
  if (!s_check_map(c, v, s_op_names, DD_SC_OP_COUNT, "a condition")) return;
  if (v->n == 0) {
    s_err(c, v, "give a condition: eq, ne, lt, le, gt, ge, between, in or regex");
    return;
  }
  for (int op = 0; op < DD_SC_OP_COUNT; op++) {
    const s_node_t *o = s_get(v, s_op_names[op]);
    if (!o) continue;
    size_t old = s_push_key(c, s_op_names[op]);
    m.op = (dd_sc_op_t)op;
    m.set = NULL;
    m.n_set = 0;
    memset(m.v, 0, sizeof m.v);
    switch ((dd_sc_op_t)op) {
    case DD_SC_OP_BETWEEN:
      if (o->type != S_SEQ || o->n != 2) {
        s_err(c, o, "expected two numbers [low, high]");
      } else if (s_operand(c, o->kids[0], unit_field, m.op, &m.v[0]) &&
                 s_operand(c, o->kids[1], unit_field, m.op, &m.v[1])) {
        if (m.v[0].num > m.v[1].num) s_err(c, o, "between: [low, high] has low above high");
        else s_push_matcher(c, out, &m);
      }
      break;
    case DD_SC_OP_IN:
      if (o->type != S_SEQ || o->n == 0) {
        s_err(c, o, "expected a list of values, e.g. [relay, direct]");
      } else {
        dd_sc_value_t *set = s_alloc(c->a, o->n * sizeof *set);
        if (!set) {
          c->oom = true;
          break;
        }
        bool ok = true;
        for (size_t i = 0; i < o->n; i++) {
          size_t o2 = s_push_idx(c, i);
          ok = s_operand(c, o->kids[i], unit_field, DD_SC_OP_EQ, &set[i]) && ok;
          s_pop(c, o2);
        }
        m.set = set;
        m.n_set = o->n;
        if (ok) s_push_matcher(c, out, &m);
      }
      break;
    case DD_SC_OP_REGEX: {
      const char *re;
      if (!s_get_str(c, o, &re)) break;
      regex_t rx;
      int rc = regcomp(&rx, re, REG_EXTENDED | REG_NOSUB);
      if (rc != 0) {
        char why[128];
        regerror(rc, &rx, why, sizeof why);
        s_err(c, o, "not a valid regular expression (POSIX extended): %s", why);
        break;
      }
      regfree(&rx);
      s_classify(re, true, &m.v[0]);
      s_push_matcher(c, out, &m);
      break;
    }
    default:
      if (s_operand(c, o, unit_field, m.op, &m.v[0])) s_push_matcher(c, out, &m);
      break;
    }
    s_pop(c, old);
  }
}

static bool s_in_list(const char *w, const char *const *list, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!strcmp(w, list[i])) return true;
  return false;
}

/* Conditions of a pattern: under fields: and, inline, every key that is not reserved. A key a
 * typo away from a reserved one is reported, not taken for a field. */
static void s_pattern_fields(s_ctx_t *c, const s_node_t *m, const char *const *reserved,
                             size_t nres, const char *what, dd_sc_pattern_t *p) {
  s_vec_t ms;
  s_vec_init(&ms, sizeof(dd_sc_matcher_t));
  for (size_t i = 0; i < m->n; i++) {
    const s_node_t *k = m->kids[i], *v = m->vals[i];
    if (k->type != S_SCALAR || s_in_list(k->text, reserved, nres)) continue;
    char q[80];
    s_show(k->text, q, sizeof q);
    if (!strcmp(k->text, "fields")) {
      size_t old = s_push_key(c, "fields");
      if (v->type != S_MAP) {
        s_err(c, v, "expected a mapping of event fields to conditions, e.g. {to: relay}");
      } else {
        for (size_t j = 0; j < v->n; j++) {
          if (v->kids[j]->type != S_SCALAR) continue;
          size_t o2 = s_push_key(c, v->kids[j]->text);
          if (!s_is_ident(v->kids[j]->text))
            s_err(c, v->kids[j], "'%s' is not a field name (letters, digits and '_')", v->kids[j]->text);
          else
            s_conditions(c, v->kids[j], v->vals[j], s_strdup(c->a, v->kids[j]->text),
                         v->kids[j]->text, &ms);
          s_pop(c, o2);
        }
      }
      s_pop(c, old);
      continue;
    }
    const char *typo = NULL;
    size_t len = strlen(k->text);
    for (size_t j = 0; j < nres && !typo; j++) {
      size_t d = s_distance(k->text, reserved[j]);
      if (d > 0 && d <= (len <= 5 ? 1u : 2u) && d < len) typo = reserved[j];
    }
    if (typo) {
      s_err(c, k, "unknown key '%s' in %s (did you mean '%s'? a condition on an event field of "
                  "that name goes under fields:)",
            q, what, typo);
      continue;
    }
    if (!s_is_ident(k->text)) {
      s_err(c, k, "unknown key '%s' in %s (an event field name is letters, digits and '_')", q, what);
      continue;
    }
    size_t old = s_push_key(c, k->text);
    s_conditions(c, k, v, s_strdup(c->a, k->text), k->text, &ms);
    s_pop(c, old);
  }
  p->n_match = ms.n;
  p->match = s_vec_finish(&ms, c->a, &c->oom);
}

static bool s_get_proc(s_ctx_t *c, const s_node_t *n, const char **out) {
  return s_get_name(c, n, "process name", out);
}

/* A pattern given as a mapping with the kind under kind_key. */
static bool s_pattern_map(s_ctx_t *c, const s_node_t *m, const char *kind_key,
                          const char *const *reserved, size_t nres, const char *what,
                          dd_sc_pattern_t *p) {
  memset(p, 0, sizeof *p);
  p->loc = s_loc(c, m);
  const s_node_t *k = s_get(m, kind_key);
  bool ok = true;
  if (!k) {
    s_err(c, m, "%s needs %s: KIND (e.g. %s: transport.switched)", what, kind_key, kind_key);
    ok = false;
  } else {
    size_t old = s_push_key(c, kind_key);
    ok = s_get_kind(c, k, &p->kind);
    s_pop(c, old);
  }
  S_OPT(c, m, "proc", s_get_proc(c, n_, &p->proc));
  s_pattern_fields(c, m, reserved, nres, what, p);
  return ok;
}

/* A point in time: "10s", "end", "KIND", "KIND + 2s", or {event, proc, nth, delay, fields...}. */
static bool s_timeref(s_ctx_t *c, const s_node_t *n, bool allow_end, dd_sc_timeref_t *out) {
  memset(out, 0, sizeof *out);
  out->loc = s_loc(c, n);
  out->nth = 1;
  if (n->type == S_SCALAR) {
    dd_sc_value_t v;
    if (!s_scalar(c, n, &v)) return false;
    if (allow_end && !strcmp(v.text, "end")) {
      out->kind = DD_SC_REF_END;
      return true;
    }
    out->kind = DD_SC_REF_START;
    if (v.is_int && v.i == 0) return true;
    char why[DD_DURATION_WHY_MAX];
    if (dd_duration_parse(v.text, &out->offset_us, why, sizeof why) == 0) return true;
    const char *plus = strrchr(v.text, '+');
    if (isdigit((unsigned char)v.text[0]) && !plus) {
      s_err(c, n, "%s", why);
      return false;
    }
    /* KIND [+ DURATION] */
    char kind[128], delay[64];
    size_t kl = plus ? (size_t)(plus - v.text) : strlen(v.text);
    while (kl && v.text[kl - 1] == ' ')
      kl--;
    if (kl >= sizeof kind) kl = sizeof kind - 1;
    memcpy(kind, v.text, kl);
    kind[kl] = 0;
    if (!s_kind_ok(kind)) {
      char q[80];
      s_show(v.text, q, sizeof q);
      if (plus || strchr(kind, '.'))
        s_kind_error(c, n, kind);
      else
        s_err(c, n, "\"%s\" is neither a time (e.g. 10s) nor an event kind (family.what, e.g. session.connected)", q);
      return false;
    }
    out->kind = DD_SC_REF_EVENT;
    out->event.kind = s_strdup(c->a, kind);
    out->event.loc = out->loc;
    if (plus) {
      const char *d = plus + 1;
      while (*d == ' ')
        d++;
      snprintf(delay, sizeof delay, "%s", d);
      size_t dl = strlen(delay);
      while (dl && delay[dl - 1] == ' ')
        delay[--dl] = 0;
      if (dd_duration_parse(delay, &out->offset_us, why, sizeof why) != 0) {
        s_err(c, n, "after the '+': %s", why);
        return false;
      }
    }
    return true;
  }
  if (n->type != S_MAP) {
    s_err(c, n, "expected a time (10s) or an event (session.connected, or {event: KIND, ...}), got %s",
          s_type_word(n));
    return false;
  }
  out->kind = DD_SC_REF_EVENT;
  if (s_get(n, "step")) {
    /* {step: NAME}: when the named step fired (the scenario.step event the run writes). */
    static const char *const keys[] = {"step", "nth", "delay"};
    s_check_map(c, n, keys, S_N(keys), "a step reference");
    const char *name = NULL;
    bool ok = false;
    S_OPT(c, n, "step", ok = s_get_name(c, n_, "step name", &name));
    if (ok) {
      bool known = false;
      for (size_t i = 0; i < c->n_step_names; i++)
        if (!strcmp(c->step_names[i], name)) known = true;
      if (!known) {
        const char *near = s_nearest(name, c->step_names, c->n_step_names);
        size_t old = s_push_key(c, "step");
        if (near) s_err(c, s_get(n, "step"), "no step is named '%s' (did you mean '%s'?)", name, near);
        else s_err(c, s_get(n, "step"), "no step is named '%s' (name a step with name: in timeline:)", name);
        s_pop(c, old);
        ok = false;
      }
    }
    dd_sc_matcher_t *mt = s_alloc(c->a, sizeof *mt);
    if (!mt) {
      c->oom = true;
      return false;
    }
    mt->field = "name";
    mt->op = DD_SC_OP_EQ;
    mt->loc = out->loc;
    s_classify(name ? name : "", true, &mt->v[0]);
    out->event = (dd_sc_pattern_t){.kind = "scenario.step", .match = mt, .n_match = 1, .loc = out->loc};
    S_OPT(c, n, "nth", if (!s_get_u32(c, n_, 1, 1000000, &out->nth)) ok = false);
    S_OPT(c, n, "delay", if (!s_get_dur(c, n_, &out->offset_us)) ok = false);
    return ok;
  }
  static const char *const reserved[] = {"event", "proc", "nth", "delay"};
  bool ok = s_pattern_map(c, n, "event", reserved, S_N(reserved), "an event reference", &out->event);
  S_OPT(c, n, "nth", if (!s_get_u32(c, n_, 1, 1000000, &out->nth)) ok = false);
  S_OPT(c, n, "delay", if (!s_get_dur(c, n_, &out->offset_us)) ok = false);
  return ok;
}

/* ==== step actions ========================================================================= */

/* A DTC "P0301" or "P0301-1F" as a 3-byte UDS DTC. The 2-byte code: bits 15-14 the system
 * letter (P 00, C 01, B 10, U 11), bits 13-12 the first digit 0-3, then three hex digits
 * (SAE J2012 / ISO 15031-6, as used by SAE J1979 mode 03); the third byte is the failure type
 * (ISO 14229-1 D.1, DTCFormatIdentifier SAE_J2012-DA). */
static bool s_parse_dtc(const char *t, uint32_t *out) {
  static const char letters[] = "PCBU";
  const char *l = strchr(letters, toupper((unsigned char)t[0]));
  if (!t[0] || !l || t[1] < '0' || t[1] > '3') return false;
  uint32_t code = (uint32_t)(l - letters) << 14 | (uint32_t)(t[1] - '0') << 12;
  for (int i = 2; i < 5; i++) {
    if (!isxdigit((unsigned char)t[i])) return false;
    int d = isdigit((unsigned char)t[i]) ? t[i] - '0' : toupper((unsigned char)t[i]) - 'A' + 10;
    code |= (uint32_t)d << (4 * (4 - i));
  }
  uint32_t ftb = 0;
  if (t[5] == '-') {
    if (!isxdigit((unsigned char)t[6]) || !isxdigit((unsigned char)t[7]) || t[8]) return false;
    char hx[3] = {t[6], t[7], 0};
    ftb = (uint32_t)strtoul(hx, NULL, 16);
  } else if (t[5]) {
    return false;
  }
  *out = code << 8 | ftb;
  return true;
}

static bool s_get_dtc(s_ctx_t *c, const s_node_t *n, bool allow_all, uint32_t *dtc, const char **text) {
  if (!s_get_str(c, n, text)) return false;
  if (allow_all && !strcmp(*text, "all")) {
    *dtc = 0xFFFFFFu; /* ISO 14229-1 11.2: groupOfDTC 0xFFFFFF = all groups */
    return true;
  }
  if (!s_parse_dtc(*text, dtc)) {
    char q[80];
    s_show(*text, q, sizeof q);
    s_err(c, n, "\"%s\" is not a DTC (write e.g. P0301, or P0301-1F with a failure type byte%s)", q,
          allow_all ? ", or all" : "");
    return false;
  }
  for (char *p = (char *)*text; *p; p++)
    *p = (char)toupper((unsigned char)*p);
  return true;
}

/* A request service id. ISO 14229-1 Table 2: 0x10-0x3E and 0x83-0x88 are UDS requests, 0x50-0x7E
 * their positive responses, 0x7F the negative response; 0x01-0x0F are OBD (ISO 15031-5) requests
 * and 0x41-0x4F their responses. */
static bool s_get_sid(s_ctx_t *c, const s_node_t *n, int *out) {
  int64_t v;
  if (!s_get_int(c, n, 0, 0xFF, &v)) return false;
  if ((v >= 0x01 && v <= 0x0F) || (v >= 0x10 && v <= 0x3E) || (v >= 0x83 && v <= 0x88)) {
    *out = (int)v;
    return true;
  }
  if ((v >= 0x41 && v <= 0x4F) || (v >= 0x50 && v <= 0x7E))
    s_err(c, n, "0x%02X is a response SID (write the request SID 0x%02X)", (unsigned)v, (unsigned)(v - 0x40));
  else
    s_err(c, n, "0x%02X is not a request service id (OBD 0x01-0x0F, UDS 0x10-0x3E or 0x83-0x88)",
          (unsigned)v);
  return false;
}

/* {service: SID, ...} or a plain value: reads service into f->service when given. */
static void s_fault_service(s_ctx_t *c, const s_node_t *m, dd_sc_fault_t *f) {
  S_OPT(c, m, "service", s_get_sid(c, n_, &f->service));
}

static bool s_ecu_action(s_ctx_t *c, const s_node_t *m, dd_sc_step_t *st) {
  dd_sc_fault_t *f = &st->fault;
  f->service = -1;
  f->status = 0x2F; /* ISO 14229-1 D.2: testFailed, ..ThisOperationCycle, pending, confirmed,
                     * testFailedSinceLastClear */
  f->probability = 1.0;
  f->percent = 50.0;
  f->duration_us = 1000000;
  const char *allowed[DD_SC_FAULT_COUNT + 1];
  allowed[0] = "target";
  for (int i = 0; i < DD_SC_FAULT_COUNT; i++)
    allowed[i + 1] = s_fault_names[i];
  if (!s_check_map(c, m, allowed, S_N(allowed), "ecu:")) return false;
  int which = -1;
  for (size_t i = 0; i < m->n; i++) {
    for (int j = 0; j < DD_SC_FAULT_COUNT; j++) {
      if (m->kids[i]->type != S_SCALAR || strcmp(m->kids[i]->text, s_fault_names[j])) continue;
      if (which >= 0)
        s_err(c, m->kids[i], "one fault per step: '%s' and '%s' are two (split them into two steps)",
              s_fault_names[which], s_fault_names[j]);
      else
        which = j;
    }
  }
  if (which < 0) {
    char list[300];
    s_join(s_fault_names, DD_SC_FAULT_COUNT, list, sizeof list);
    s_err(c, m, "needs a fault (one of: %s)", list);
    return false;
  }
  f->kind = (dd_sc_fault_kind_t)which;
  const s_node_t *tn = s_get(m, "target");
  if (tn) {
    size_t old = s_push_key(c, "target");
    s_get_name(c, tn, "ECU name", &f->ecu);
    s_pop(c, old);
  } else if (f->kind != DD_SC_FAULT_SPEED && f->kind != DD_SC_FAULT_ENGINE) {
    s_err(c, m, "needs target: ECU (the ECU's name in the vehicle file, e.g. engine)");
  }
  const s_node_t *v = s_get(m, s_fault_names[which]);
  size_t old = s_push_key(c, s_fault_names[which]);
  switch (f->kind) {
  case DD_SC_FAULT_SET_DTC:
    if (v->type == S_MAP) {
      static const char *const keys[] = {"code", "status"};
      s_check_map(c, v, keys, 2, "set_dtc");
      if (!s_get(v, "code")) s_err(c, v, "needs code: (e.g. P0301)");
      S_OPT(c, v, "code", s_get_dtc(c, n_, false, &f->dtc, &f->dtc_text));
      S_OPT(c, v, "status", {
        uint32_t st8;
        if (s_get_u32(c, n_, 0, 0xFF, &st8)) f->status = (uint8_t)st8;
      });
    } else {
      s_get_dtc(c, v, false, &f->dtc, &f->dtc_text);
    }
    break;
  case DD_SC_FAULT_CLEAR_DTC:
    s_get_dtc(c, v, true, &f->dtc, &f->dtc_text);
    break;
  case DD_SC_FAULT_DELAY:
    if (v->type == S_MAP) {
      static const char *const keys[] = {"service", "by"};
      s_check_map(c, v, keys, 2, "delay");
      s_fault_service(c, v, f);
      if (!s_get(v, "by")) s_err(c, v, "needs by: DURATION");
      S_OPT(c, v, "by", s_get_dur(c, n_, &f->duration_us));
    } else {
      s_get_dur(c, v, &f->duration_us);
    }
    break;
  case DD_SC_FAULT_DROP:
    if (v->type == S_MAP) {
      static const char *const keys[] = {"service", "probability", "count"};
      s_check_map(c, v, keys, 3, "drop");
      s_fault_service(c, v, f);
      S_OPT(c, v, "probability", s_get_prob(c, n_, &f->probability));
      S_OPT(c, v, "count", s_get_u32(c, n_, 0, UINT32_MAX, &f->count));
    } else {
      dd_sc_value_t b = {.text = ""};
      if (s_scalar(c, v, &b) && b.is_bool) {
        if (!b.b) s_err(c, v, "false does nothing (use clear: true to remove faults)");
      } else {
        s_get_prob(c, v, &f->probability);
      }
    }
    break;
  case DD_SC_FAULT_FORCE_NRC: {
    static const char *const keys[] = {"service", "nrc", "count"};
    if (v->type != S_MAP) {
      s_err(c, v, "expected {service: SID, nrc: CODE}, e.g. {service: 0x27, nrc: 0x35}");
      break;
    }
    s_check_map(c, v, keys, 3, "force_nrc");
    s_fault_service(c, v, f);
    if (!s_get(v, "nrc")) s_err(c, v, "needs nrc: (e.g. 0x22)");
    /* ISO 14229-1 A.1: 0x00 is the positive response, 0x01-0x0F are reserved. */
    S_OPT(c, v, "nrc", {
      uint32_t nrc;
      if (s_get_u32(c, n_, 0x10, 0xFF, &nrc)) f->nrc = (uint8_t)nrc;
    });
    S_OPT(c, v, "count", s_get_u32(c, n_, 0, UINT32_MAX, &f->count));
    break;
  }
  case DD_SC_FAULT_PENDING_FOREVER:
    if (v->type == S_MAP) {
      static const char *const keys[] = {"service"};
      s_check_map(c, v, keys, 1, "pending_forever");
      s_fault_service(c, v, f);
    } else {
      bool b;
      if (s_get_bool(c, v, &b) && !b) s_err(c, v, "false does nothing; remove it");
    }
    break;
  case DD_SC_FAULT_POWER_CYCLE: {
    dd_sc_value_t b = {.text = ""};
    if (v->type == S_SCALAR && s_scalar(c, v, &b) && b.is_bool) {
      if (!b.b) s_err(c, v, "false does nothing; remove it");
    } else if (s_get_dur(c, v, &f->duration_us) && f->duration_us == 0) {
      s_err(c, v, "the time off must be more than 0");
    }
    break;
  }
  case DD_SC_FAULT_POWER_CUT_FLASH: {
    dd_sc_value_t b = {.text = ""};
    if (v->type == S_SCALAR && s_scalar(c, v, &b) && b.is_bool) {
      if (!b.b) s_err(c, v, "false does nothing; remove it");
    } else {
      double p;
      if (v->type == S_SCALAR && b.text[0] && !strchr(b.text, '%'))
        s_err(c, v, "give the transfer progress at the cut as a percentage, e.g. 40%%, or true (50%%)");
      else if (s_get_prob(c, v, &p))
        f->percent = p * 100.0;
    }
    break;
  }
  case DD_SC_FAULT_SPEED:
    s_get_num(c, v, 0, 400, &f->speed_kmh);
    break;
  case DD_SC_FAULT_CLEAR: {
    bool b;
    if (s_get_bool(c, v, &b) && !b) s_err(c, v, "false does nothing; remove it");
    break;
  }
  case DD_SC_FAULT_ENGINE: {
    /* the owner switches the engine off (e.g. before a reflash) or starts it */
    static const char *const states[] = {"off", "on"};
    int on = 0;
    if (s_get_enum(c, v, states, 2, "an engine state", &on)) f->engine_on = on == 1;
    break;
  }
  default:
    break;
  }
  s_pop(c, old);
  return true;
}

static const char *const s_signal_names[] = {"KILL", "TERM", "INT", "HUP", "STOP", "CONT", "QUIT", "ABRT"};
static const int s_signal_nums[] = {SIGKILL, SIGTERM, SIGINT, SIGHUP, SIGSTOP, SIGCONT, SIGQUIT, SIGABRT};

/* A process a step may kill or restart: a simulated party, "ecus", or "ecu.NAME". */
static bool s_get_sim_proc(s_ctx_t *c, const s_node_t *n, const char **out) {
  const char *p;
  if (!s_get_str(c, n, &p)) return false;
  dd_scenario_t *sc = c->sc;
  char q[80];
  s_show(p, q, sizeof q);
  if (!strncmp(p, "ecu.", 4)) {
    if (!s_name_ok(p + 4, 64)) {
      s_err(c, n, "\"%s\": write ecu.NAME with the ECU's name (e.g. ecu.engine)", q);
      return false;
    }
    bool real = sc->parties[DD_SC_P_ECUS].mode == DD_SC_REAL;
    for (size_t i = 0; i < sc->ecus.n_real; i++)
      if (!strcmp(sc->ecus.real[i], p + 4)) real = true;
    if (real) {
      s_err(c, n, "cannot kill or restart '%s': it is real hardware", q);
      return false;
    }
    *out = p;
    return true;
  }
  for (int i = 0; i < DD_SC_P_COUNT; i++) {
    if (strcmp(p, s_party_names[i])) continue;
    if (sc->parties[i].mode == DD_SC_REAL) {
      s_err(c, n, "cannot kill or restart '%s': it is real hardware (parties.%s)", q, q);
      return false;
    }
    *out = p;
    return true;
  }
  const char *near = s_nearest(p, s_party_names, DD_SC_P_COUNT);
  if (near)
    s_err(c, n, "no process '%s' (did you mean '%s'?)", q, near);
  else
    s_err(c, n, "no process '%s' (a party: first_device, terminal, service, second, relay, cloud, bus, ecus; or ecu.NAME)", q);
  return false;
}

static bool s_proc_action(s_ctx_t *c, const s_node_t *v, bool kill, dd_sc_step_t *st) {
  dd_sc_proc_action_t *pa = &st->proc;
  pa->signal = SIGKILL;
  if (v->type == S_SCALAR) return s_get_sim_proc(c, v, &pa->proc);
  static const char *const kkeys[] = {"proc", "signal"};
  static const char *const rkeys[] = {"proc", "down"};
  if (!s_check_map(c, v, kill ? kkeys : rkeys, 2, kill ? "kill:" : "restart:")) return false;
  const s_node_t *p = s_get(v, "proc");
  if (!p) {
    s_err(c, v, "needs proc: NAME");
    return false;
  }
  S_OPT(c, v, "proc", s_get_sim_proc(c, n_, &pa->proc));
  if (kill)
    S_OPT(c, v, "signal", {
      int si;
      dd_sc_value_t sv;
      if (n_->type == S_SCALAR && s_scalar(c, n_, &sv) && sv.is_int && sv.i > 0 && sv.i < 65)
        pa->signal = (int)sv.i;
      else if (s_get_enum(c, n_, s_signal_names, S_N(s_signal_names), "a signal", &si))
        pa->signal = s_signal_nums[si];
    });
  else
    S_OPT(c, v, "down", s_get_dur(c, n_, &pa->down_us));
  return true;
}

static bool s_session_action(s_ctx_t *c, const s_node_t *m, dd_sc_step_t *st) {
  static const char *const keys[] = {"terminal", "media", "accept", "fee", "pay", "amount", "close",
                                     "reason"};
  if (!s_check_map(c, m, keys, S_N(keys), "session:")) return false;
  dd_sc_session_t *s = &st->session;
  dd_scenario_t *sc = c->sc;
  S_OPT(c, m, "close", s_get_bool(c, n_, &s->close));
  S_OPT(c, m, "reason", s_get_str(c, n_, &s->reason));
  if (s->close) {
    static const char *const opening[] = {"media", "accept", "fee", "pay", "amount"};
    for (size_t i = 0; i < S_N(opening); i++)
      if (s_key_node(m, opening[i]))
        s_err(c, s_key_node(m, opening[i]), "'%s' opens a session; close: true ends one (split them)", opening[i]);
  }
  const dd_sc_terminal_t *t = sc->n_terminals ? &sc->terminals[0] : NULL;
  if (!s_get(m, "terminal") && sc->n_terminals > 1 && !s->close)
    s_err(c, m, "needs terminal: ID when several terminals are defined");
  S_OPT(c, m, "terminal", t = s_get_terminal(c, n_));
  if (!t) return false;
  s->terminal = t->id;
  s->accept = t->accept;
  s->fee_minor = t->fee_minor;
  s->pay = true;
  S_OPT(c, m, "media", {
    static const char *const media[] = {"voice", "video"};
    int md;
    if (s_get_enum(c, n_, media, 2, "a media", &md)) s->media = (dd_sc_media_t)md;
  });
  S_OPT(c, m, "accept", s_get_bool(c, n_, &s->accept));
  S_OPT(c, m, "fee", s_get_money(c, n_, &s->fee_minor));
  S_OPT(c, m, "pay", s_get_bool(c, n_, &s->pay));
  s->amount_minor = s->fee_minor;
  S_OPT(c, m, "amount", if (s_get_money(c, n_, &s->amount_minor) && !s->pay)
                            s_err(c, n_, "the amount paid needs pay: true"));
  return true;
}

/* A list of ids (PIDs, DIDs), each in [0, max]. */
static bool s_id_list(s_ctx_t *c, const s_node_t *n, uint32_t max, const char *what,
                      const uint32_t **out, size_t *n_out) {
  if (n->type != S_SEQ || n->n == 0) {
    s_err(c, n, "expected a list of %s, e.g. [0x0C, 0x0D]", what);
    return false;
  }
  uint32_t *ids = s_alloc(c->a, n->n * sizeof *ids);
  if (!ids) {
    c->oom = true;
    return false;
  }
  bool ok = true;
  for (size_t i = 0; i < n->n; i++) {
    size_t old = s_push_idx(c, i);
    ok = s_get_u32(c, n->kids[i], 0, max, &ids[i]) && ok;
    s_pop(c, old);
  }
  *out = ids;
  *n_out = n->n;
  return ok;
}

/* An ECU by name or by request CAN id. */
static void s_get_ecu(s_ctx_t *c, const s_node_t *n, const char **name, uint32_t *id) {
  dd_sc_value_t v;
  if (!s_scalar(c, n, &v)) return;
  if (v.is_int) {
    if (v.i < 1 || v.i > 0x1FFFFFFF) s_err(c, n, "%s is not a CAN id (11 or 29 bits)", v.text);
    else *id = (uint32_t)v.i;
    return;
  }
  s_get_name(c, n, "ECU name", name);
}

/* Bytes: "03 FF 00", "03FF00" or a list of numbers. */
static bool s_get_bytes(s_ctx_t *c, const s_node_t *n, s_vec_t *out) {
  if (n->type == S_SEQ) {
    for (size_t i = 0; i < n->n; i++) {
      uint32_t b;
      size_t old = s_push_idx(c, i);
      bool ok = s_get_u32(c, n->kids[i], 0, 0xFF, &b);
      s_pop(c, old);
      if (!ok) return false;
      uint8_t *p = s_vec_push(out);
      if (!p) {
        c->oom = true;
        return false;
      }
      *p = (uint8_t)b;
    }
    return true;
  }
  const char *t;
  if (!s_get_str(c, n, &t)) return false;
  int hi = -1;
  for (const char *s = t; *s; s++) {
    if (*s == ' ') {
      if (hi >= 0) goto bad;
      continue;
    }
    if (!isxdigit((unsigned char)*s)) goto bad;
    int d = isdigit((unsigned char)*s) ? *s - '0' : toupper((unsigned char)*s) - 'A' + 10;
    if (hi < 0) {
      hi = d;
      continue;
    }
    uint8_t *p = s_vec_push(out);
    if (!p) {
      c->oom = true;
      return false;
    }
    *p = (uint8_t)(hi << 4 | d);
    hi = -1;
  }
  if (hi >= 0) goto bad;
  return true;
bad: {
  char q[80];
  s_show(t, q, sizeof q);
  s_err(c, n, "\"%s\" is not hex bytes (write e.g. \"03 FF 00\")", q);
  return false;
}
}

static bool s_request_action(s_ctx_t *c, const s_node_t *m, dd_sc_step_t *st) {
  static const char *const keys[] = {"request", "from", "pids", "dids", "ecu", "rate_hz", "count"};
  if (!s_check_map(c, m, keys, S_N(keys), "terminal:")) return false;
  dd_sc_request_t *r = &st->request;
  dd_scenario_t *sc = c->sc;
  const dd_sc_terminal_t *t = sc->n_terminals ? &sc->terminals[0] : NULL;
  S_OPT(c, m, "from", t = s_get_terminal(c, n_));
  if (t) r->terminal = t->id;
  const s_node_t *rq = s_get(m, "request");
  if (!rq) {
    s_err(c, m, "needs request: (live_data, dtcs, dids, freeze_frame, history or vin_info)");
    return false;
  }
  int kind = -1;
  S_OPT(c, m, "request", s_get_enum(c, n_, s_request_names, DD_SC_REQ_COUNT, "a request", &kind));
  if (kind < 0) return false;
  r->kind = (dd_sc_request_kind_t)kind;
  /* Which keys each request takes. */
  static const struct {
    const char *key;  /* key */
    unsigned kinds;   /* bit per dd_sc_request_kind_t that takes it */
  } only[] = {{"pids", 1u << DD_SC_REQ_LIVE_DATA | 1u << DD_SC_REQ_FREEZE_FRAME},
              {"dids", 1u << DD_SC_REQ_DIDS},
              {"rate_hz", 1u << DD_SC_REQ_LIVE_DATA},
              {"count", 1u << DD_SC_REQ_LIVE_DATA}};
  bool ok[S_N(only)];
  for (size_t i = 0; i < S_N(only); i++) {
    ok[i] = (only[i].kinds >> r->kind) & 1u;
    const s_node_t *k = s_key_node(m, only[i].key);
    if (k && !ok[i]) s_err(c, k, "'%s' does not apply to request: %s", only[i].key, s_request_names[r->kind]);
  }
  /* OBD-II PIDs are one byte (SAE J1979), UDS DIDs two (ISO 14229-1 C.1). */
  S_OPT(c, m, "pids", if (ok[0]) s_id_list(c, n_, 0xFF, "PIDs", &r->items, &r->n_items));
  S_OPT(c, m, "dids", if (ok[1]) s_id_list(c, n_, 0xFFFF, "DIDs", &r->items, &r->n_items));
  S_OPT(c, m, "ecu", s_get_ecu(c, n_, &r->ecu, &r->ecu_id));
  S_OPT(c, m, "rate_hz", if (ok[2]) s_get_num(c, n_, 0, 1000, &r->rate_hz));
  S_OPT(c, m, "count", if (ok[3]) s_get_u32(c, n_, 0, UINT32_MAX, &r->count));
  if (r->kind == DD_SC_REQ_LIVE_DATA && !s_get(m, "pids"))
    s_err(c, m, "request: live_data needs pids: [...] (e.g. [0x0C, 0x0D])");
  if (r->kind == DD_SC_REQ_DIDS && !s_get(m, "dids")) s_err(c, m, "request: dids needs dids: [...] (e.g. [0xF190])");
  return true;
}

static bool s_control_action(s_ctx_t *c, const s_node_t *m, dd_sc_step_t *st) {
  static const char *const keys[] = {"action", "from", "ecu", "pids", "dids", "rate_hz", "did",
                                     "option", "state", "routine", "sub", "data", "reset", "package"};
  if (!s_check_map(c, m, keys, S_N(keys), "control:")) return false;
  dd_sc_control_t *ct = &st->control;
  dd_scenario_t *sc = c->sc;
  const dd_sc_terminal_t *t = sc->n_terminals ? &sc->terminals[0] : NULL;
  S_OPT(c, m, "from", t = s_get_terminal(c, n_));
  if (t) ct->terminal = t->id;
  if (!s_get(m, "action")) {
    char list[300];
    s_join(s_control_names, DD_SC_CTL_COUNT, list, sizeof list);
    s_err(c, m, "needs action: (one of: %s)", list);
    return false;
  }
  int a = -1;
  S_OPT(c, m, "action", s_get_enum(c, n_, s_control_names, DD_SC_CTL_COUNT, "a control action", &a));
  if (a < 0) return false;
  ct->action = (dd_sc_control_action_t)a;
  S_OPT(c, m, "ecu", s_get_ecu(c, n_, &ct->ecu, &ct->ecu_id));
  /* Which keys each action takes, and which it needs. */
  static const struct {
    const char *keys[5];  /* action-specific keys allowed */
    const char *need;     /* key required, NULL: none */
  } spec[DD_SC_CTL_COUNT] = {
      [DD_SC_CTL_READ_DTCS] = {{NULL}, NULL},
      [DD_SC_CTL_CLEAR_DTCS] = {{NULL}, NULL},
      [DD_SC_CTL_READ_DIDS] = {{"dids"}, "dids"},
      [DD_SC_CTL_READ_PIDS] = {{"pids"}, "pids"},
      [DD_SC_CTL_STREAM_PIDS] = {{"pids", "rate_hz"}, "pids"},
      [DD_SC_CTL_STOP_STREAM] = {{NULL}, NULL},
      [DD_SC_CTL_IO_CONTROL] = {{"did", "option", "state"}, "did"},
      [DD_SC_CTL_ROUTINE] = {{"routine", "sub", "data"}, "routine"},
      [DD_SC_CTL_ECU_RESET] = {{"reset"}, NULL},
      [DD_SC_CTL_START_REFLASH] = {{"package"}, "package"},
  };
  static const char *const specific[] = {"pids", "dids", "rate_hz", "did", "option", "state",
                                         "routine", "sub", "data", "reset", "package"};
  for (size_t i = 0; i < S_N(specific); i++) {
    const s_node_t *k = s_key_node(m, specific[i]);
    if (!k) continue;
    bool ok = false;
    for (int j = 0; j < 5 && spec[a].keys[j]; j++)
      if (!strcmp(spec[a].keys[j], specific[i])) ok = true;
    if (!ok) s_err(c, k, "'%s' does not apply to action: %s", specific[i], s_control_names[a]);
  }
  if (spec[a].need && !s_get(m, spec[a].need))
    s_err(c, m, "action: %s needs %s:", s_control_names[a], spec[a].need);
  s_vec_t args;
  s_vec_init(&args, 1);
  switch (ct->action) {
  case DD_SC_CTL_READ_DIDS:
    S_OPT(c, m, "dids", s_id_list(c, n_, 0xFFFF, "DIDs", &ct->ids, &ct->n_ids));
    break;
  case DD_SC_CTL_READ_PIDS:
  case DD_SC_CTL_STREAM_PIDS:
    S_OPT(c, m, "pids", s_id_list(c, n_, 0xFF, "PIDs", &ct->ids, &ct->n_ids));
    if (ct->action == DD_SC_CTL_STREAM_PIDS) {
      ct->rate_hz = 1.0;
      S_OPT(c, m, "rate_hz", if (s_get_num(c, n_, 0, 1000, &ct->rate_hz) && ct->rate_hz <= 0)
                                 s_err(c, n_, "a stream needs a rate above 0"));
    }
    break;
  case DD_SC_CTL_IO_CONTROL: {
    /* ISO 14229-1 InputOutputControlByIdentifier (0x2F): DID, then the controlOptionRecord whose
     * first byte is the inputOutputControlParameter (0x00 returnControlToECU, 0x01
     * resetToDefault, 0x02 freezeCurrentState, 0x03 shortTermAdjustment), then the state. */
    static const char *const opts[] = {"return", "reset", "freeze", "adjust"};
    int opt = 3;
    S_OPT(c, m, "did", {
      uint32_t did;
      if (s_get_u32(c, n_, 0, 0xFFFF, &did)) {
        uint32_t *ids = s_alloc(c->a, sizeof *ids);
        if (ids) {
          ids[0] = did;
          ct->ids = ids;
          ct->n_ids = 1;
        } else {
          c->oom = true;
        }
      }
    });
    S_OPT(c, m, "option", s_get_enum(c, n_, opts, 4, "an io_control option", &opt));
    uint8_t *p = s_vec_push(&args);
    if (p) *p = (uint8_t)opt;
    S_OPT(c, m, "state", s_get_bytes(c, n_, &args));
    if (opt == 3 && !s_get(m, "state")) s_err(c, m, "option: adjust needs state: (the bytes to set)");
    break;
  }
  case DD_SC_CTL_ROUTINE: {
    /* ISO 14229-1 RoutineControl (0x31) sub-functions: 0x01 start, 0x02 stop, 0x03 results. */
    static const char *const subs[] = {"start", "stop", "results"};
    int sub = 0;
    S_OPT(c, m, "routine", {
      uint32_t rid;
      if (s_get_u32(c, n_, 0, 0xFFFF, &rid)) {
        uint32_t *ids = s_alloc(c->a, sizeof *ids);
        if (ids) {
          ids[0] = rid;
          ct->ids = ids;
          ct->n_ids = 1;
        } else {
          c->oom = true;
        }
      }
    });
    S_OPT(c, m, "sub", s_get_enum(c, n_, subs, 3, "a routine sub-function", &sub));
    uint8_t *p = s_vec_push(&args);
    if (p) *p = (uint8_t)(sub + 1);
    S_OPT(c, m, "data", s_get_bytes(c, n_, &args));
    break;
  }
  case DD_SC_CTL_ECU_RESET: {
    /* ISO 14229-1 ECUReset (0x11): 0x01 hardReset, 0x02 keyOffOnReset, 0x03 softReset. */
    static const char *const resets[] = {"hard", "key_off_on", "soft"};
    int r = 0;
    S_OPT(c, m, "reset", s_get_enum(c, n_, resets, 3, "a reset type", &r));
    uint8_t *p = s_vec_push(&args);
    if (p) *p = (uint8_t)(r + 1);
    break;
  }
  case DD_SC_CTL_START_REFLASH:
    S_OPT(c, m, "package", s_get_name(c, n_, "package id", &ct->package));
    break;
  default:
    break;
  }
  if (args.n && !args.v) c->oom = true;
  ct->n_args = args.n;
  ct->args = s_vec_finish(&args, c->a, &c->oom);
  return true;
}

/* path relative to the scenario's folder, else to the repository root; NULL if neither exists. */
static const char *s_resolve(s_ctx_t *c, const char *path) {
  struct stat st;
  char buf[4096];
  if (path[0] == '/') return stat(path, &st) == 0 && S_ISREG(st.st_mode) ? s_strdup(c->a, path) : NULL;
  const char *bases[2] = {c->dir, c->root};
  for (int i = 0; i < 2; i++) {
    if (!bases[i]) continue;
    int w = snprintf(buf, sizeof buf, "%s/%s", bases[i], path);
    if (w > 0 && (size_t)w < sizeof buf && stat(buf, &st) == 0 && S_ISREG(st.st_mode))
      return s_strdup(c->a, buf);
  }
  return NULL;
}

static bool s_has_ext(const char *p, const char *const *exts, size_t n) {
  const char *dot = strrchr(p, '.');
  if (!dot || strchr(dot, '/')) return false;
  for (size_t i = 0; i < n; i++)
    if (!strcasecmp(dot, exts[i])) return true;
  return false;
}

/* A file the scenario refers to: must exist unless file checks are off. */
/* vehicle: written inline (a mapping in the vehicle-file format, docs/VEHICLES.md). Its text is
 * cut out of the scenario with every other line and column blanked, so the vehicle loader's
 * messages point into the scenario file itself. ${params} are not substituted inside. */
static void s_inline_vehicle(s_ctx_t *c, const s_node_t *root, const s_node_t *v) {
  int end = INT_MAX; /* the next top-level key after the vehicle starts below it */
  for (size_t i = 0; i < root->n; i++)
    if (root->kids[i]->line > v->line && root->kids[i]->line < end) end = root->kids[i]->line;
  char *buf = s_alloc(c->a, c->len + 1);
  if (!buf) {
    c->oom = true;
    return;
  }
  size_t o = 0;
  int line = 1, col = 1;
  for (size_t i = 0; i < c->len; i++) {
    char ch = c->text[i];
    bool keep = line > v->line || (line == v->line && col >= v->col);
    if (ch == '\n') buf[o++] = '\n';
    else if (keep && line < end) buf[o++] = ch;
    else if (line == v->line && line < end) buf[o++] = ' '; /* keep the columns */
    if (ch == '\n') {
      line++;
      col = 1;
    } else {
      col++;
    }
  }
  buf[o] = 0;
  c->sc->vehicle_inline = buf;
  char err[1024];
  dd_vehicle_t *veh = NULL;
  if (dd_vehicle_load_string(buf, o, c->file, &veh, err, sizeof err) == 0) {
    dd_vehicle_destroy(&veh);
    return;
  }
  /* one diagnostic per "FILE:LINE:COL: message" line of the loader */
  size_t flen = strlen(c->file);
  for (char *p = err; p && *p;) {
    char *nl = strchr(p, '\n');
    if (nl) *nl = 0;
    int l = v->line, k = v->col;
    const char *msg = p;
    if (!strncmp(p, c->file, flen) && p[flen] == ':') {
      char *q = p + flen + 1, *e1 = NULL, *e2 = NULL;
      long ll = strtol(q, &e1, 10);
      long kk = e1 && *e1 == ':' ? strtol(e1 + 1, &e2, 10) : 0;
      if (e2 && *e2 == ':' && ll > 0 && kk > 0 && ll < INT_MAX && kk < INT_MAX) {
        l = (int)ll;
        k = (int)kk;
        msg = e2 + 1 + (e2[1] == ' ');
      }
    }
    if (*msg) s_errat(c, l, k, "vehicle: %s", msg);
    p = nl ? nl + 1 : NULL;
  }
}

static const char *s_file_ref(s_ctx_t *c, const s_node_t *n, const char *path, const char *what) {
  const char *r = s_resolve(c, path);
  if (!r && c->check_files) {
    char q[200];
    s_show(path, q, sizeof q);
    s_err(c, n, "%s '%s' not found (looked next to the scenario and under the repository root; "
                "duodiag validate --root DIR sets the root)",
          what, q);
  }
  return r;
}

static bool s_program_action(s_ctx_t *c, const s_node_t *m, dd_sc_step_t *st) {
  static const char *const keys[] = {"image",     "target", "version", "package",
                                     "signature", "start",  "hw_part"};
  if (!s_check_map(c, m, keys, S_N(keys), "program:")) return false;
  dd_sc_program_t *p = &st->program;
  p->auto_start = true;
  if (!s_get(m, "image")) s_err(c, m, "needs image: (an Intel HEX .hex or S-record .s19 file)");
  if (!s_get(m, "target")) s_err(c, m, "needs target: ECU (e.g. engine)");
  S_OPT(c, m, "image", if (s_get_str(c, n_, &p->image)) {
    static const char *const ihex[] = {".hex", ".ihex"};
    static const char *const srec[] = {".s19", ".s28", ".s37", ".srec", ".mot"};
    if (s_has_ext(p->image, ihex, S_N(ihex))) p->format = "ihex";
    else if (s_has_ext(p->image, srec, S_N(srec))) p->format = "srec";
    else s_err(c, n_, "an image is Intel HEX (.hex) or Motorola S-record (.s19, .srec)");
    if (p->format) p->image_path = s_file_ref(c, n_, p->image, "image");
  });
  S_OPT(c, m, "target", s_get_name(c, n_, "ECU name", &p->target));
  S_OPT(c, m, "version", s_get_str(c, n_, &p->version));
  S_OPT(c, m, "package", s_get_name(c, n_, "package id", &p->package));
  S_OPT(c, m, "hw_part", s_get_str(c, n_, &p->hw_part));
  S_OPT(c, m, "signature", {
    static const char *const sig[] = {"good", "none", "bad"};
    int sg;
    if (s_get_enum(c, n_, sig, 3, "a signature state", &sg)) p->signature = (dd_sc_sign_t)sg;
  });
  S_OPT(c, m, "start", {
    static const char *const starts[] = {"auto", "on_control"};
    int sv;
    if (s_get_enum(c, n_, starts, 2, "a start mode", &sv)) p->auto_start = sv == 0;
  });
  if (!p->package) {
    char id[32];
    snprintf(id, sizeof id, "pkg-%zu", st->index);
    p->package = s_strdup(c->a, id);
  }
  return true;
}

/* ==== timeline ============================================================================= */

static const char *const s_step_meta[] = {"at", "after", "name"};

static void s_step(s_ctx_t *c, const s_node_t *m, size_t idx, dd_sc_step_t *st) {
  dd_scenario_t *sc = c->sc;
  st->index = idx;
  st->loc = s_loc(c, m);
  if (m->type != S_MAP) {
    s_err(c, m, "a step is a mapping, e.g. {at: 10s, link: {direct: {delay: 250ms}}}");
    return;
  }
  const char *allowed[S_N(s_step_meta) + DD_SC_ACT_COUNT];
  size_t na = 0;
  for (size_t i = 0; i < S_N(s_step_meta); i++)
    allowed[na++] = s_step_meta[i];
  for (int i = 0; i < DD_SC_ACT_COUNT; i++)
    allowed[na++] = s_action_names[i];
  size_t errors_before = c->n_errors;
  s_check_map(c, m, allowed, na, "a step");
  bool unknown_keys = c->n_errors != errors_before;
  S_OPT(c, m, "name", s_get_name(c, n_, "step name", &st->name));
  const s_node_t *at = s_get(m, "at"), *after = s_get(m, "after");
  if (at && after) {
    s_err(c, s_key_node(m, "after"), "give at: or after:, not both");
  } else if (!at && !after) {
    s_err(c, m, "a step needs at: TIME (from the run start) or after: EVENT");
  } else if (at) {
    st->when.kind = DD_SC_REF_START;
    st->when.loc = s_loc(c, at);
    S_OPT(c, m, "at", if (s_get_dur(c, n_, &st->when.offset_us) && st->when.offset_us > sc->timeout_us) {
      char t[DD_DURATION_FMT_MAX];
      dd_duration_format(sc->timeout_us, t, sizeof t);
      s_err(c, n_, "this is after the run's timeout (%s); raise timeout: or move the step", t);
    });
  } else {
    S_OPT(c, m, "after", s_timeref(c, n_, false, &st->when));
  }
  int which = -1;
  for (size_t i = 0; i < m->n; i++) {
    for (int j = 0; j < DD_SC_ACT_COUNT; j++) {
      if (m->kids[i]->type != S_SCALAR || strcmp(m->kids[i]->text, s_action_names[j])) continue;
      if (which >= 0)
        s_err(c, m->kids[i], "a step does one thing: '%s' and '%s' are two (split them into two steps)",
              s_action_names[which], s_action_names[j]);
      else
        which = j;
    }
  }
  if (which < 0) {
    char list[200];
    s_join(s_action_names, DD_SC_ACT_COUNT, list, sizeof list);
    /* A misspelt action was reported as an unknown key already. */
    if (!unknown_keys) s_err(c, m, "a step needs an action (one of: %s)", list);
    return;
  }
  st->action = (dd_sc_action_t)which;
  const s_node_t *v = s_get(m, s_action_names[which]);
  size_t old = s_push_key(c, s_action_names[which]);
  switch (st->action) {
  case DD_SC_ACT_LINK: s_link_action(c, v, st); break;
  case DD_SC_ACT_ECU: s_ecu_action(c, v, st); break;
  case DD_SC_ACT_KILL: s_proc_action(c, v, true, st); break;
  case DD_SC_ACT_RESTART: s_proc_action(c, v, false, st); break;
  case DD_SC_ACT_SESSION: s_session_action(c, v, st); break;
  case DD_SC_ACT_TERMINAL: s_request_action(c, v, st); break;
  case DD_SC_ACT_CONTROL: s_control_action(c, v, st); break;
  case DD_SC_ACT_PROGRAM: s_program_action(c, v, st); break;
  case DD_SC_ACT_MARK: s_get_name(c, v, "mark name", &st->mark); break;
  case DD_SC_ACT_DIAGNOSE: {
    dd_sc_value_t sv;
    if (!s_scalar(c, v, &sv) || !sv.is_bool || !sv.b)
      s_err(c, v, "write diagnose: true (the owner starts the local diagnosis, S101-S104)");
    break;
  }
  case DD_SC_ACT_STOP: {
    dd_sc_value_t sv;
    st->stop_reason = "scenario stop";
    if (v->type == S_MAP) {
      static const char *const keys[] = {"reason"};
      s_check_map(c, v, keys, 1, "stop:");
      S_OPT(c, v, "reason", s_get_str(c, n_, &st->stop_reason));
    } else if (s_scalar(c, v, &sv)) {
      if (sv.is_bool && !sv.b) s_err(c, v, "false does nothing; remove the step");
      else if (!sv.is_bool) s_err(c, v, "write stop: true, or stop: {reason: TEXT}");
    }
    break;
  }
  default: break;
  }
  s_pop(c, old);
}

static void s_timeline_section(s_ctx_t *c, const s_node_t *n) {
  if (n->type != S_SEQ) {
    s_err(c, n, "expected a list of steps (- at: 10s ...), got %s", s_type_word(n));
    return;
  }
  dd_sc_step_t *steps = s_alloc(c->a, (n->n ? n->n : 1) * sizeof *steps);
  if (!steps) {
    c->oom = true;
    return;
  }
  for (size_t i = 0; i < n->n; i++) {
    size_t old = s_push_idx(c, i);
    s_step(c, n->kids[i], i, &steps[i]);
    s_pop(c, old);
  }
  c->sc->steps = steps;
  c->sc->n_steps = n->n;
  for (size_t i = 0; i < n->n; i++)
    for (size_t j = 0; steps[i].name && j < i; j++)
      if (steps[j].name && !strcmp(steps[i].name, steps[j].name)) {
        size_t old = s_push_idx(c, i);
        size_t o2 = s_push_key(c, "name");
        s_err(c, s_get(n->kids[i], "name"), "step name '%s' is already used by timeline[%zu]", steps[i].name, j);
        s_pop(c, o2);
        s_pop(c, old);
        break;
      }
  /* Packages: unique ids; every start_reflash names one. */
  for (size_t i = 0; i < n->n; i++) {
    if (steps[i].action != DD_SC_ACT_PROGRAM || !steps[i].program.package) continue;
    for (size_t j = 0; j < i; j++)
      if (steps[j].action == DD_SC_ACT_PROGRAM && steps[j].program.package &&
          !strcmp(steps[j].program.package, steps[i].program.package)) {
        size_t old = s_push_idx(c, i);
        s_err(c, n->kids[i], "package '%s' is already made by timeline[%zu]; give package: a new id",
              steps[i].program.package, j);
        s_pop(c, old);
      }
  }
  for (size_t i = 0; i < n->n; i++) {
    if (steps[i].action != DD_SC_ACT_CONTROL || steps[i].control.action != DD_SC_CTL_START_REFLASH ||
        !steps[i].control.package)
      continue;
    bool found = false;
    for (size_t j = 0; j < n->n; j++)
      if (steps[j].action == DD_SC_ACT_PROGRAM && steps[j].program.package &&
          !strcmp(steps[j].program.package, steps[i].control.package))
        found = true;
    if (!found) {
      const s_node_t *ctl = s_get(n->kids[i], "control");
      const s_node_t *pk = s_get(ctl, "package");
      size_t old = s_push_idx(c, i);
      size_t o2 = s_push_key(c, "control");
      size_t o3 = s_push_key(c, "package");
      s_err(c, pk ? pk : n->kids[i], "no program step makes package '%s' (program: {package: ...})",
            steps[i].control.package);
      s_pop(c, o3);
      s_pop(c, o2);
      s_pop(c, old);
    }
  }
}

/* ==== expectations ========================================================================= */

static bool s_between(s_ctx_t *c, const s_node_t *n, dd_sc_timeref_t *from, dd_sc_timeref_t *to) {
  if (n->type != S_SEQ || n->n != 2) {
    s_err(c, n, "expected [FROM, TO], e.g. [0s, 10s] or [session.connected, end]");
    return false;
  }
  size_t old = s_push_idx(c, 0);
  bool ok = s_timeref(c, n->kids[0], false, from);
  s_pop(c, old);
  old = s_push_idx(c, 1);
  ok = s_timeref(c, n->kids[1], true, to) && ok;
  s_pop(c, old);
  if (ok && from->kind == DD_SC_REF_START && to->kind == DD_SC_REF_START &&
      from->offset_us > to->offset_us) {
    s_err(c, n, "the window ends before it starts");
    return false;
  }
  return ok;
}

/* "p99" / "p99.9" -> percentile; other names from the table. */
static bool s_get_stat(s_ctx_t *c, const s_node_t *n, dd_sc_stat_t *stat, double *pct) {
  dd_sc_value_t v;
  if (!s_scalar(c, n, &v)) return false;
  if (v.text[0] == 'p' && v.text[1]) {
    double x;
    if (s_parse_num(v.text + 1, &x) && x > 0 && x <= 100) {
      *stat = DD_SC_STAT_PCT;
      *pct = x;
      return true;
    }
  }
  if (!strcmp(v.text, "median") || !strcmp(v.text, "avg") || !strcmp(v.text, "average")) {
    s_err(c, n, "\"%s\" is not a statistic (write %s)", v.text, v.text[0] == 'm' ? "p50" : "mean");
    return false;
  }
  const char *names[DD_SC_STAT_KINDS];
  for (int i = 0; i < DD_SC_STAT_KINDS; i++)
    names[i] = i == DD_SC_STAT_PCT ? "pNN" : s_stat_names[i];
  int s;
  if (!s_get_enum(c, n, names, DD_SC_STAT_KINDS, "a statistic", &s)) return false;
  *stat = (dd_sc_stat_t)s;
  if (*stat == DD_SC_STAT_PCT) *pct = 99;
  return true;
}

static const char *const s_heads[] = {"event", "never", "order", "count", "metric", "final"};

static void s_expect(s_ctx_t *c, const s_node_t *m, size_t idx, dd_sc_expect_t *e) {
  dd_scenario_t *sc = c->sc;
  e->index = idx;
  e->loc = s_loc(c, m);
  e->within_us = DD_SC_NONE;
  e->max = DD_SC_NONE;
  e->from.kind = DD_SC_REF_START;
  e->to.kind = DD_SC_REF_END;
  if (m->type != S_MAP) {
    s_err(c, m, "an expectation is a mapping starting with one of event:, never:, order:, count:, metric:, final:");
    return;
  }
  int head = -1;
  for (size_t i = 0; i < m->n; i++)
    for (int j = 0; j < DD_SC_EX_COUNT_KINDS; j++)
      if (m->kids[i]->type == S_SCALAR && !strcmp(m->kids[i]->text, s_heads[j])) {
        if (head >= 0)
          s_err(c, m->kids[i], "one expectation per item: '%s' and '%s' are two (split them)",
                s_heads[head], s_heads[j]);
        else
          head = j;
      }
  if (head < 0) {
    for (size_t i = 0; i < m->n; i++) {
      const char *near = m->kids[i]->type == S_SCALAR ? s_nearest(m->kids[i]->text, s_heads, S_N(s_heads)) : NULL;
      if (near) {
        char q[80];
        s_show(m->kids[i]->text, q, sizeof q);
        s_err(c, m->kids[i], "unknown key '%s' in an expectation (did you mean '%s'?)", q, near);
        return;
      }
    }
    s_err(c, m, "an expectation starts with one of event:, never:, order:, count:, metric:, final:");
    return;
  }
  e->kind = (dd_sc_expect_kind_t)head;
  S_OPT(c, m, "name", s_get_str(c, n_, &e->name));
  switch (e->kind) {
  case DD_SC_EX_EVENT: {
    static const char *const reserved[] = {"event", "proc", "name", "after", "within",
                                           "not_before", "at", "tolerance"};
    s_pattern_map(c, m, "event", reserved, S_N(reserved), "an expectation", &e->event);
    S_OPT(c, m, "after", s_timeref(c, n_, false, &e->from));
    S_OPT(c, m, "within", s_get_dur(c, n_, &e->within_us));
    S_OPT(c, m, "not_before", s_get_dur(c, n_, &e->not_before_us));
    S_OPT(c, m, "tolerance", s_get_dur(c, n_, &e->tolerance_us));
    const s_node_t *atn = s_get(m, "at");
    if (atn && (s_get(m, "within") || s_get(m, "not_before"))) {
      s_err(c, s_key_node(m, "at"), "at: T is short for not_before: T and within: T; give one or the other");
    } else if (atn) {
      size_t old = s_push_key(c, "at");
      uint64_t at;
      if (s_get_dur(c, atn, &at)) e->within_us = e->not_before_us = at;
      s_pop(c, old);
    }
    if (e->within_us != DD_SC_NONE && e->within_us < e->not_before_us) {
      char w[DD_DURATION_FMT_MAX], nb[DD_DURATION_FMT_MAX];
      dd_duration_format(e->within_us, w, sizeof w);
      dd_duration_format(e->not_before_us, nb, sizeof nb);
      s_err(c, s_key_node(m, "within"), "the window is empty: within %s ends before not_before %s", w, nb);
    }
    if (e->from.kind == DD_SC_REF_START && e->from.offset_us > sc->timeout_us) {
      char t[DD_DURATION_FMT_MAX];
      dd_duration_format(sc->timeout_us, t, sizeof t);
      size_t old = s_push_key(c, "after");
      s_err(c, s_get(m, "after"), "this is after the run's timeout (%s)", t);
      s_pop(c, old);
    }
    break;
  }
  case DD_SC_EX_NEVER: {
    const s_node_t *nv = s_get(m, "never");
    if (nv->type == S_MAP) {
      /* never: {event: KIND, proc: .., between: [..], field conditions} */
      static const char *const keys[] = {"never", "name", "between"};
      static const char *const reserved[] = {"event", "proc", "between"};
      s_check_map(c, m, keys, S_N(keys), "a never: expectation");
      size_t old = s_push_key(c, "never");
      s_pattern_map(c, nv, "event", reserved, S_N(reserved), "never:", &e->event);
      S_OPT(c, nv, "between", s_between(c, n_, &e->from, &e->to));
      s_pop(c, old);
    } else {
      static const char *const reserved[] = {"never", "proc", "name", "between"};
      s_pattern_map(c, m, "never", reserved, S_N(reserved), "a never: expectation", &e->event);
    }
    S_OPT(c, m, "between", s_between(c, n_, &e->from, &e->to));
    break;
  }
  case DD_SC_EX_ORDER: {
    static const char *const keys[] = {"order", "name", "within"};
    s_check_map(c, m, keys, S_N(keys), "an order: expectation");
    S_OPT(c, m, "within", s_get_dur(c, n_, &e->within_us));
    const s_node_t *l = s_get(m, "order");
    size_t old = s_push_key(c, "order");
    if (l->type != S_SEQ || l->n < 2) {
      s_err(c, l, "expected a list of at least two events, e.g. [session.opened, session.connected]");
    } else {
      dd_sc_pattern_t *items = s_alloc(c->a, l->n * sizeof *items);
      if (!items) {
        c->oom = true;
      } else {
        static const char *const reserved[] = {"event", "proc"};
        for (size_t i = 0; i < l->n; i++) {
          size_t o2 = s_push_idx(c, i);
          const s_node_t *it = l->kids[i];
          items[i].loc = s_loc(c, it);
          if (it->type == S_MAP)
            s_pattern_map(c, it, "event", reserved, S_N(reserved), "an order item", &items[i]);
          else
            s_get_kind(c, it, &items[i].kind);
          s_pop(c, o2);
        }
        e->order = items;
        e->n_order = l->n;
      }
    }
    s_pop(c, old);
    break;
  }
  case DD_SC_EX_COUNT:
  case DD_SC_EX_METRIC:
  case DD_SC_EX_FINAL: {
    static const char *const keys[] = {"count", "metric", "final", "name"};
    s_check_map(c, m, keys, S_N(keys), "an expectation");
    const char *hname = s_heads[head];
    const s_node_t *b = s_get(m, hname);
    size_t old = s_push_key(c, hname);
    if (b->type != S_MAP) {
      s_err(c, b, "expected a mapping starting with event: KIND");
      s_pop(c, old);
      break;
    }
    static const char *const rc_count[] = {"event", "proc", "min", "max", "between"};
    static const char *const rc_metric[] = {"event", "proc", "field", "stat", "between",
                                            "eq", "ne", "lt", "le", "gt", "ge"};
    static const char *const rc_final[] = {"event", "proc", "between"};
    if (e->kind == DD_SC_EX_COUNT)
      s_pattern_map(c, b, "event", rc_count, S_N(rc_count), "count:", &e->event);
    else if (e->kind == DD_SC_EX_METRIC)
      s_pattern_map(c, b, "event", rc_metric, S_N(rc_metric), "metric:", &e->event);
    else
      s_pattern_map(c, b, "event", rc_final, S_N(rc_final), "final:", &e->event);
    S_OPT(c, b, "between", s_between(c, n_, &e->from, &e->to));
    if (e->kind == DD_SC_EX_COUNT) {
      int64_t v;
      S_OPT(c, b, "min", if (s_get_int(c, n_, 0, INT64_MAX, &v)) e->min = (uint64_t)v);
      S_OPT(c, b, "max", if (s_get_int(c, n_, 0, INT64_MAX, &v)) e->max = (uint64_t)v);
      if (!s_get(b, "min") && !s_get(b, "max")) s_err(c, b, "needs min:, max: or both");
      else if (e->max != DD_SC_NONE && e->min > e->max) s_err(c, b, "min is above max");
    } else if (e->kind == DD_SC_EX_METRIC) {
      e->stat = DD_SC_STAT_MAX;
      if (!s_get(b, "stat")) s_err(c, b, "needs stat: (min, max, mean, sum, first, last, count, p99...)");
      S_OPT(c, b, "stat", s_get_stat(c, n_, &e->stat, &e->pct));
      if (!s_get(b, "field") && e->stat != DD_SC_STAT_COUNT) s_err(c, b, "needs field: (the numeric event field)");
      S_OPT(c, b, "field", if (s_get_str(c, n_, &e->field) && !s_is_ident(e->field))
                               s_err(c, n_, "'%s' is not a field name", e->field));
      size_t errors_before = c->n_errors;
      s_vec_t bounds;
      s_vec_init(&bounds, sizeof(dd_sc_matcher_t));
      static const char *const bops[] = {"eq", "ne", "lt", "le", "gt", "ge"};
      for (size_t i = 0; i < S_N(bops); i++) {
        const s_node_t *bn = s_get(b, bops[i]);
        if (!bn) continue;
        size_t o2 = s_push_key(c, bops[i]);
        dd_sc_matcher_t mt = {.op = (dd_sc_op_t)(i), .loc = s_loc(c, s_key_node(b, bops[i]))};
        if (s_operand(c, bn, e->stat == DD_SC_STAT_COUNT ? NULL : e->field, DD_SC_OP_LT, &mt.v[0]))
          s_push_matcher(c, &bounds, &mt);
        s_pop(c, o2);
      }
      if (!bounds.n && c->n_errors == errors_before) s_err(c, b, "needs a bound: lt, le, gt, ge, eq or ne");
      e->n_bounds = bounds.n;
      e->bounds = s_vec_finish(&bounds, c->a, &c->oom);
    }
    s_pop(c, old);
    break;
  }
  default:
    break;
  }
}

static void s_expect_section(s_ctx_t *c, const s_node_t *n) {
  if (n->type != S_SEQ) {
    s_err(c, n, "expected a list of expectations (- event: ...), got %s", s_type_word(n));
    return;
  }
  dd_sc_expect_t *ex = s_alloc(c->a, (n->n ? n->n : 1) * sizeof *ex);
  if (!ex) {
    c->oom = true;
    return;
  }
  for (size_t i = 0; i < n->n; i++) {
    size_t old = s_push_idx(c, i);
    s_expect(c, n->kids[i], i, &ex[i]);
    s_pop(c, old);
  }
  c->sc->expects = ex;
  c->sc->n_expects = n->n;
}

/* ==== checks =============================================================================== */

static void s_check_entry(s_ctx_t *c, const s_node_t *k, const s_node_t *v) {
  int id = -1;
  for (int i = 0; i < DD_SC_CHECK_COUNT; i++)
    if (!strcmp(k->text, s_check_names[i])) id = i;
  if (id < 0) {
    s_unknown_key(c, k, s_check_names, DD_SC_CHECK_COUNT, "checks");
    return;
  }
  dd_sc_check_t *ch = &c->sc->checks[id];
  if (ch->declared) {
    s_err(c, k, "check '%s' is given twice", k->text);
    return;
  }
  ch->declared = true;
  ch->loc = s_loc(c, k);
  size_t old = s_push_key(c, k->text);
  if (v->type == S_MAP) {
    if (id != DD_SC_CHECK_VEHICLE_RECORDS) {
      s_err(c, v, "%s takes a number (the count allowed) or off", k->text);
    } else {
      static const char *const keys[] = {"lost", "duplicated", "out_of_order"};
      s_check_map(c, v, keys, 3, "vehicle_records");
      for (int i = 0; i < 3; i++) {
        int64_t lim;
        S_OPT(c, v, keys[i], if (s_get_int(c, n_, 0, INT64_MAX, &lim)) ch->limit[i] = (uint64_t)lim);
      }
    }
  } else {
    dd_sc_value_t sv;
    if (s_scalar(c, v, &sv)) {
      if (!strcmp(sv.text, "off") || (sv.is_bool && !sv.b)) ch->enabled = false;
      else if (!strcmp(sv.text, "on") || (sv.is_bool && sv.b)) ch->enabled = true;
      else if (sv.is_int && sv.i >= 0) ch->limit[0] = ch->limit[1] = ch->limit[2] = (uint64_t)sv.i;
      else s_err(c, v, "\"%s\" is not a check setting (a count allowed, on, or off)", sv.text);
    }
  }
  s_pop(c, old);
}

static void s_checks_section(s_ctx_t *c, const s_node_t *n) {
  if (n->type == S_MAP) {
    for (size_t i = 0; i < n->n; i++)
      if (n->kids[i]->type == S_SCALAR) s_check_entry(c, n->kids[i], n->vals[i]);
    return;
  }
  if (n->type != S_SEQ) {
    s_err(c, n, "expected a list (- vehicle_records: {lost: 0}), got %s", s_type_word(n));
    return;
  }
  for (size_t i = 0; i < n->n; i++) {
    size_t old = s_push_idx(c, i);
    const s_node_t *it = n->kids[i];
    if (it->type != S_MAP || it->n != 1)
      s_err(c, it, "each check is one name: value, e.g. - control_outside_paid_session: 0");
    else if (it->kids[0]->type == S_SCALAR)
      s_check_entry(c, it->kids[0], it->vals[0]);
    s_pop(c, old);
  }
}

/* ==== descriptions ========================================================================= */

typedef struct {
  char *buf;  /* output */
  size_t cap; /* its size */
  size_t u;   /* used */
} s_out_t;

static void s_put(s_out_t *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void s_put(s_out_t *o, const char *fmt, ...) {
  if (o->u + 1 >= o->cap) return;
  va_list ap;
  va_start(ap, fmt);
  int w = vsnprintf(o->buf + o->u, o->cap - o->u, fmt, ap);
  va_end(ap);
  if (w > 0) o->u = o->u + (size_t)w < o->cap ? o->u + (size_t)w : o->cap - 1;
}

static void s_put_value(s_out_t *o, const dd_sc_value_t *v) {
  if (v->quoted || (!v->is_num && !v->is_bool && strpbrk(v->text, " ,[]{}")))
    s_put(o, "\"%s\"", v->text);
  else
    s_put(o, "%s", v->text);
}

static void s_describe_matcher(s_out_t *o, const dd_sc_matcher_t *m) {
  static const char *const sym[DD_SC_OP_COUNT] = {"=", "!=", "<", "<=", ">", ">=", "", "", ""};
  const char *f = m->field ? m->field : "";
  switch (m->op) {
  case DD_SC_OP_EQ:
    if (!strcmp(f, "to")) s_put(o, " -> ");
    else s_put(o, " %s=", f);
    s_put_value(o, &m->v[0]);
    break;
  case DD_SC_OP_BETWEEN:
    s_put(o, " %s in [", f);
    s_put_value(o, &m->v[0]);
    s_put(o, ", ");
    s_put_value(o, &m->v[1]);
    s_put(o, "]");
    break;
  case DD_SC_OP_IN:
    s_put(o, " %s in {", f);
    for (size_t i = 0; i < m->n_set; i++) {
      if (i) s_put(o, ", ");
      s_put_value(o, &m->set[i]);
    }
    s_put(o, "}");
    break;
  case DD_SC_OP_REGEX:
    s_put(o, " %s~/%s/", f, m->v[0].text);
    break;
  default:
    s_put(o, " %s%s", f, sym[m->op]);
    s_put_value(o, &m->v[0]);
    break;
  }
}

void dd_sc_pattern_describe(const dd_sc_pattern_t *p, char *buf, size_t cap) {
  assert(p && buf && cap);
  s_out_t o = {.buf = buf, .cap = cap};
  buf[0] = 0;
  if (p->proc) s_put(&o, "%s ", p->proc);
  s_put(&o, "%s", p->kind ? p->kind : "?");
  for (size_t i = 0; i < p->n_match; i++)
    s_describe_matcher(&o, &p->match[i]);
}

/* The name an expectation gets when the file gives none. */
static const char *s_default_name(s_ctx_t *c, const dd_sc_expect_t *e) {
  char buf[256], d[200];
  s_out_t o = {.buf = buf, .cap = sizeof buf};
  buf[0] = 0;
  switch (e->kind) {
  case DD_SC_EX_EVENT:
    dd_sc_pattern_describe(&e->event, d, sizeof d);
    s_put(&o, "%s", d);
    break;
  case DD_SC_EX_NEVER:
  case DD_SC_EX_COUNT:
  case DD_SC_EX_FINAL:
    dd_sc_pattern_describe(&e->event, d, sizeof d);
    s_put(&o, "%s: %s", s_expect_names[e->kind], d);
    break;
  case DD_SC_EX_ORDER:
    s_put(&o, "order:");
    for (size_t i = 0; i < e->n_order; i++) {
      dd_sc_pattern_describe(&e->order[i], d, sizeof d);
      s_put(&o, "%s%s", i ? ", " : " ", d);
    }
    break;
  case DD_SC_EX_METRIC:
    dd_sc_pattern_describe(&e->event, d, sizeof d);
    s_put(&o, "metric: ");
    if (e->stat == DD_SC_STAT_PCT) s_put(&o, "p%g", e->pct);
    else s_put(&o, "%s", s_stat_names[e->stat]);
    if (e->stat != DD_SC_STAT_COUNT) s_put(&o, " %s", e->field ? e->field : "?");
    s_put(&o, " of %s", d);
    break;
  default:
    break;
  }
  const char *r = s_strdup(c->a, buf);
  if (!r) c->oom = true;
  return r;
}

/* ==== the scenario ========================================================================= */

static const char *const s_top_keys[] = {
    "name",   "description", "tags",         "seed",      "clock", "timeout",
    "currency", "params",    "matrix",       "vehicle",   "parties", "first_device",
    "terminals", "links",    "timeline",     "expect",    "checks"};

static void s_defaults(dd_scenario_t *sc) {
  sc->seed = 1;
  sc->clock = DD_SC_CLOCK_REALTIME;
  sc->timeout_us = 600ull * 1000000ull;
  sc->currency = "CNY";
  for (int i = 0; i < DD_SC_P_COUNT; i++)
    sc->parties[i].register_timeout_us = 30ull * 1000000ull;
  sc->bus.kind = DD_SC_BUS_VIRTUAL;
  sc->bus.bitrate = 500000;
  sc->first_device.threshold_us = 150000;
  sc->first_device.hysteresis_us = 30000;
  sc->first_device.hold_us = 5000000;
  sc->first_device.probe_interval_us = 100000;
  sc->first_device.policy = DD_SC_POLICY_LATENCY;
  sc->first_device.fee_limit_minor = -1;
  for (int i = 0; i < DD_SC_L_COUNT; i++) {
    dd_sc_link_t *l = &sc->links[i];
    l->name = s_links[i].name;
    l->id = (dd_sc_link_id_t)i;
    l->kind = s_links[i].kind;
    l->client = s_links[i].client;
    l->server = s_links[i].server;
    dd_netem_params_init(&l->params[0]);
    dd_netem_params_init(&l->params[1]);
  }
  for (int i = 0; i < DD_SC_CHECK_COUNT; i++) {
    sc->checks[i].id = (dd_sc_check_id_t)i;
    sc->checks[i].name = s_check_names[i];
    sc->checks[i].enabled = true;
  }
}

static void s_build(s_ctx_t *c, const s_node_t *root) {
  dd_scenario_t *sc = c->sc;
  s_defaults(sc);
  const s_node_t *nn = s_get(root, "name");
  if (!nn) s_errat(c, root->line, root->col, "a scenario needs name: (e.g. name: latency-spike)");
  S_OPT(c, root, "name", s_get_name(c, n_, "scenario name", &sc->base_name));
  S_OPT(c, root, "description", s_get_str(c, n_, &sc->description));
  S_OPT(c, root, "tags", {
    if (n_->type != S_SEQ) {
      s_err(c, n_, "expected a list, e.g. [transport, smoke]");
    } else {
      const char **tags = s_alloc(c->a, (n_->n ? n_->n : 1) * sizeof *tags);
      size_t nt = 0;
      for (size_t i = 0; tags && i < n_->n; i++) {
        size_t o2 = s_push_idx(c, i);
        const char *t;
        if (s_get_name(c, n_->kids[i], "tag", &t)) {
          bool dup = false;
          for (size_t j = 0; j < nt; j++)
            if (!strcmp(tags[j], t)) dup = true;
          if (dup) s_err(c, n_->kids[i], "tag '%s' is given twice", t);
          else tags[nt++] = t;
        }
        s_pop(c, o2);
      }
      if (!tags) c->oom = true;
      sc->tags = tags;
      sc->n_tags = nt;
    }
  });
  S_OPT(c, root, "seed", {
    int64_t seed;
    if (s_get_int(c, n_, 0, INT64_MAX, &seed)) {
      sc->seed = (uint64_t)seed;
      sc->seed_given = true;
    }
  });
  S_OPT(c, root, "clock", {
    static const char *const clocks[] = {"realtime", "virtual"};
    int ck;
    if (s_get_enum(c, n_, clocks, 2, "a clock", &ck)) sc->clock = (dd_sc_clock_t)ck;
  });
  S_OPT(c, root, "timeout", if (s_get_dur(c, n_, &sc->timeout_us) && sc->timeout_us == 0)
                                s_err(c, n_, "give more than 0"));
  S_OPT(c, root, "currency", if (s_get_str(c, n_, &sc->currency) &&
                                 (strlen(sc->currency) != 3 || !isupper((unsigned char)sc->currency[0]) ||
                                  !isupper((unsigned char)sc->currency[1]) || !isupper((unsigned char)sc->currency[2])))
                                 s_err(c, n_, "\"%s\" is not an ISO 4217 currency code (three capitals, e.g. CNY)", sc->currency));
  const s_node_t *vn = s_get(root, "vehicle");
  if (vn && vn->type == S_MAP) s_inline_vehicle(c, root, vn);
  else S_OPT(c, root, "vehicle", if (s_get_str(c, n_, &sc->vehicle)) {
    static const char *const exts[] = {".yaml", ".yml"};
    if (!s_has_ext(sc->vehicle, exts, 2)) s_err(c, n_, "a vehicle file is YAML (.yaml), e.g. ecu_models/vehicles/sedan-2019.yaml");
    else sc->vehicle_path = s_file_ref(c, n_, sc->vehicle, "vehicle file");
  });
  /* Step names first: steps and expectations may refer to any of them. */
  const s_node_t *tl = s_get(root, "timeline");
  c->n_step_names = 0;
  c->step_names = tl && tl->type == S_SEQ ? s_alloc(c->a, (tl->n ? tl->n : 1) * sizeof *c->step_names) : NULL;
  for (size_t i = 0; c->step_names && i < tl->n; i++) {
    const s_node_t *sn = s_get(tl->kids[i], "name");
    if (sn && sn->type == S_SCALAR) c->step_names[c->n_step_names++] = sn->text;
  }
  S_OPT(c, root, "parties", s_parties_section(c, n_));
  if (sc->clock == DD_SC_CLOCK_VIRTUAL) {
    for (int i = 0; i < DD_SC_P_COUNT; i++) {
      if (sc->parties[i].mode != DD_SC_REAL && !(i == DD_SC_P_ECUS && sc->ecus.n_real)) continue;
      size_t old = s_push_key(c, "clock");
      s_err(c, s_get(root, "clock"), "virtual time needs every party simulated, but %s is real (use clock: realtime)",
            s_party_names[i]);
      s_pop(c, old);
      break;
    }
  }
  S_OPT(c, root, "first_device", s_first_device_section(c, n_));
  const s_node_t *tn = s_get(root, "terminals");
  if (tn) {
    S_OPT(c, root, "terminals", s_terminals_section(c, n_));
  } else {
    dd_sc_terminal_t *t = s_alloc(c->a, sizeof *t);
    if (!t) {
      c->oom = true;
    } else {
      *t = (dd_sc_terminal_t){.id = "shop-1", .name = "shop-1", .online = true, .accept = true,
                              .fee_minor = 3000, .loc = s_loc(c, root)};
      sc->terminals = t;
      sc->n_terminals = 1;
    }
  }
  S_OPT(c, root, "links", s_links_section(c, n_));
  S_OPT(c, root, "timeline", s_timeline_section(c, n_));
  S_OPT(c, root, "expect", s_expect_section(c, n_));
  S_OPT(c, root, "checks", s_checks_section(c, n_));
  for (size_t i = 0; i < sc->n_expects; i++) {
    dd_sc_expect_t *e = (dd_sc_expect_t *)&sc->expects[i];
    if (!e->name) e->name = s_default_name(c, e);
  }
}

/* ==== params and matrix ==================================================================== */

static bool s_params_section(s_ctx_t *c, const s_node_t *n, s_vec_t *params) {
  if (n->type != S_MAP) {
    s_err(c, n, "expected a mapping of names to values, e.g. {threshold_ms: 150}");
    return false;
  }
  for (size_t i = 0; i < n->n; i++) {
    const s_node_t *k = n->kids[i], *v = n->vals[i];
    if (k->type != S_SCALAR) continue;
    size_t old = s_push_key(c, k->text);
    if (!s_is_ident(k->text)) {
      s_err(c, k, "'%s' is not a param name (letters, digits and '_', not starting with a digit)", k->text);
    } else if (v->type != S_SCALAR) {
      s_err(c, v, "a param is a single value, got %s", s_type_word(v));
    } else if (strstr(v->text, "${")) {
      s_err(c, v, "a param's value cannot use other params");
    } else {
      s_param_t *p = s_vec_push(params);
      if (!p) {
        c->oom = true;
        s_pop(c, old);
        return false;
      }
      *p = (s_param_t){.name = k->text, .text = v->text, .quoted = v->quoted, .at = v};
    }
    s_pop(c, old);
  }
  return true;
}

static bool s_matrix_section(s_ctx_t *c, const s_node_t *n, const s_vec_t *params, s_vec_t *axes) {
  if (n->type != S_MAP || n->n == 0) {
    s_err(c, n, "expected a mapping of param names to lists of values, e.g. {loss: [0%%, 1%%, 5%%]}");
    return false;
  }
  for (size_t i = 0; i < n->n; i++) {
    const s_node_t *k = n->kids[i], *v = n->vals[i];
    if (k->type != S_SCALAR) continue;
    size_t old = s_push_key(c, k->text);
    bool ok = true;
    if (!s_is_ident(k->text)) {
      s_err(c, k, "'%s' is not a param name (letters, digits and '_', not starting with a digit)", k->text);
      ok = false;
    }
    for (size_t j = 0; ok && j < params->n; j++)
      if (!strcmp(((s_param_t *)params->v)[j].name, k->text)) {
        s_err(c, k, "'%s' is both a param and a matrix axis (keep one)", k->text);
        ok = false;
      }
    if (ok && (v->type != S_SEQ || v->n == 0)) {
      s_err(c, v, "a matrix axis is a non-empty list of values, e.g. [150, 200]");
      ok = false;
    }
    for (size_t j = 0; ok && j < v->n; j++) {
      const s_node_t *x = v->kids[j];
      size_t o2 = s_push_idx(c, j);
      if (x->type != S_SCALAR) {
        s_err(c, x, "a matrix value is a single value, got %s", s_type_word(x));
        ok = false;
      } else if (strstr(x->text, "${")) {
        s_err(c, x, "a matrix value cannot use params");
        ok = false;
      } else {
        for (size_t q = 0; q < j; q++)
          if (v->kids[q]->type == S_SCALAR && !strcmp(v->kids[q]->text, x->text)) {
            char t[80];
            s_show(x->text, t, sizeof t);
            s_err(c, x, "value \"%s\" is listed twice", t);
            ok = false;
            break;
          }
      }
      s_pop(c, o2);
    }
    if (ok) {
      s_axis_t *a = s_vec_push(axes);
      if (!a) {
        c->oom = true;
        s_pop(c, old);
        return false;
      }
      *a = (s_axis_t){.name = k->text, .key = k, .values = v->kids, .n = v->n};
    }
    s_pop(c, old);
  }
  return true;
}

/* ==== loading ============================================================================== */

struct dd_scenario_list {
  dd_scenario_t **v; /* scenarios */
  size_t n;          /* how many */
};

size_t dd_scenario_list_count(const dd_scenario_list_t *self) { return self ? self->n : 0; }

const dd_scenario_t *dd_scenario_list_get(const dd_scenario_list_t *self, size_t i) {
  return self && i < self->n ? self->v[i] : NULL;
}

void dd_scenario_list_destroy(dd_scenario_list_t **self_p) {
  assert(self_p);
  dd_scenario_list_t *self = *self_p;
  if (!self) return;
  for (size_t i = 0; i < self->n; i++) {
    dd_sc_arena_t *a = self->v[i]->arena; /* the scenario lives in its own arena */
    s_arena_destroy(&a);
  }
  free(self->v);
  free(self);
  *self_p = NULL;
}

/* A file-level diagnostic (no line): unreadable file, bad override. */
static void s_file_diag(s_ctx_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void s_file_diag(s_ctx_t *c, const char *fmt, ...) {
  char msg[S_MSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  s_add_diag(c, 0, 0, msg);
}

static void s_sort_diags(dd_sc_diags_t *d, size_t from) {
  for (size_t i = from + 1; i < d->n; i++) {
    dd_sc_diag_t x = d->v[i];
    size_t j = i;
    while (j > from && (d->v[j - 1].line > x.line ||
                        (d->v[j - 1].line == x.line && d->v[j - 1].col > x.col))) {
      d->v[j] = d->v[j - 1];
      j--;
    }
    d->v[j] = x;
  }
}

/* The variant's name suffix "[k=v,k=v]" and a folder-safe slug. */
static void s_names(s_ctx_t *c, dd_scenario_t *sc, const s_axis_t *axes, size_t n_axes,
                    const size_t *idx, dd_scenario_t **done, size_t n_done) {
  char name[512], slug[512];
  s_out_t o = {.buf = name, .cap = sizeof name};
  name[0] = 0;
  const char *base = sc->base_name ? sc->base_name : "scenario";
  s_put(&o, "%s", base);
  size_t shown = 0;
  for (size_t i = 0; i < n_axes; i++) {
    if (axes[i].pinned) continue;
    s_put(&o, "%s%s=%s", shown ? "," : "[", axes[i].name, axes[i].values[idx[i]]->text);
    shown++;
  }
  if (shown) s_put(&o, "]");
  size_t sl = 0;
  for (const char *s = name; *s && sl + 1 < sizeof slug; s++) {
    char ch = *s;
    if (ch == '[' || ch == ',') ch = '.';
    else if (ch == ']') continue;
    else if (!(isalnum((unsigned char)ch) || ch == '-' || ch == '_' || ch == '.' || ch == '=')) ch = '_';
    slug[sl++] = ch;
  }
  slug[sl] = 0;
  /* Distinct values can map to the same slug ("a/b", "a_b"): number the later ones. */
  char uniq[540];
  snprintf(uniq, sizeof uniq, "%s", slug);
  for (unsigned k = 2;; k++) {
    bool clash = false;
    for (size_t i = 0; i < n_done; i++)
      if (done[i]->slug && !strcmp(done[i]->slug, uniq)) clash = true;
    if (!clash) break;
    snprintf(uniq, sizeof uniq, "%s-%u", slug, k);
  }
  sc->name = s_strdup(c->a, name);
  sc->slug = s_strdup(c->a, uniq);
  if (!sc->name || !sc->slug) c->oom = true;
}

static int s_load(const char *file, const char *text, size_t len, const dd_scenario_opts_t *opts,
                  dd_scenario_list_t **out, dd_sc_diags_t *diags_in) {
  assert(file && out);
  *out = NULL;
  dd_sc_diags_t *diags = diags_in ? diags_in : dd_sc_diags_new();
  if (!diags) return DD_ENOMEM;
  s_ctx_t c = {.diags = diags, .diag_base = diags->n, .file = file, .text = text, .len = len};
  c.check_files = !(opts && opts->no_file_checks);
  /* The repository root: given, else $DD_SOURCE_DIR, else the source tree this was built from. */
  c.root = opts && opts->root ? opts->root : getenv("DD_SOURCE_DIR");
#ifdef DD_SOURCE_DIR
  if (!c.root || !*c.root) c.root = DD_SOURCE_DIR;
#endif
  if (!c.root || !*c.root) c.root = ".";
  c.tmp = s_arena_new();
  dd_scenario_list_t *list = calloc(1, sizeof *list);
  s_vec_t params, axes;
  s_vec_init(&params, sizeof(s_param_t));
  s_vec_init(&axes, sizeof(s_axis_t));
  size_t *idx = NULL;
  int rc = 0;
  if (!c.tmp || !list) goto out_oom;
  c.a = c.tmp;
  const char *slash = strrchr(file, '/');
  c.dir = slash ? s_strndup(c.tmp, file, slash == file ? 1 : (size_t)(slash - file)) : ".";
  if (!c.dir) goto out_oom;
  if (len > DD_SC_MAX_FILE) {
    s_file_diag(&c, "the file is larger than %u bytes", DD_SC_MAX_FILE);
    goto out_bad;
  }
  const s_node_t *root = s_parse_yaml(&c, text, len);
  if (c.oom) goto out_oom;
  if (!root) goto out_bad;
  if (root->type != S_MAP) {
    s_err(&c, root, "a scenario is a mapping (name: ..., timeline: ..., expect: ...), got %s",
          s_type_word(root));
    goto out_bad;
  }
  s_check_map(&c, root, s_top_keys, S_N(s_top_keys), "a scenario");
  const s_node_t *pn = s_get(root, "params"), *mn = s_get(root, "matrix");
  if (pn) {
    size_t old = s_push_key(&c, "params");
    s_params_section(&c, pn, &params);
    s_pop(&c, old);
  }
  if (mn) {
    size_t old = s_push_key(&c, "matrix");
    s_matrix_section(&c, mn, &params, &axes);
    s_pop(&c, old);
  }
  if (c.oom) goto out_oom;
  /* --param NAME=VALUE: replace a param, or pin a matrix axis to one value. */
  for (size_t i = 0; opts && i < opts->n_overrides; i++) {
    const char *ov = opts->overrides[i];
    const char *eq = ov ? strchr(ov, '=') : NULL;
    char name[128];
    if (!eq || eq == ov || (size_t)(eq - ov) >= sizeof name) {
      s_file_diag(&c, "--param %s: write NAME=VALUE", ov ? ov : "");
      continue;
    }
    memcpy(name, ov, (size_t)(eq - ov));
    name[eq - ov] = 0;
    bool found = false;
    for (size_t j = 0; j < params.n; j++) {
      s_param_t *p = &((s_param_t *)params.v)[j];
      if (strcmp(p->name, name)) continue;
      p->text = eq + 1;
      p->quoted = false;
      found = true;
    }
    for (size_t j = 0; j < axes.n; j++) {
      s_axis_t *a = &((s_axis_t *)axes.v)[j];
      if (strcmp(a->name, name)) continue;
      a->pinned = eq + 1;
      found = true;
    }
    if (!found) s_file_diag(&c, "--param %s: this scenario has no param or matrix axis '%s'", ov, name);
  }
  size_t n_variants = 1;
  for (size_t i = 0; i < axes.n; i++) {
    const s_axis_t *a = &((s_axis_t *)axes.v)[i];
    if (a->pinned) continue;
    if (n_variants > DD_SC_MAX_VARIANTS / a->n) {
      n_variants = DD_SC_MAX_VARIANTS + 1;
      break;
    }
    n_variants *= a->n;
  }
  if (n_variants > DD_SC_MAX_VARIANTS) {
    size_t old = s_push_key(&c, "matrix");
    s_err(&c, mn, "the matrix expands to more than %u scenarios; split the file", DD_SC_MAX_VARIANTS);
    s_pop(&c, old);
    goto out_bad;
  }
  if (root->weight > S_MAX_WORK / n_variants) {
    s_err(&c, root, "the file is too large for a matrix of %zu scenarios", n_variants);
    goto out_bad;
  }
  if (c.n_errors) goto out_bad;
  idx = calloc(axes.n ? axes.n : 1, sizeof *idx);
  list->v = calloc(n_variants, sizeof *list->v);
  if (!idx || !list->v) goto out_oom;
  size_t n_all = params.n + axes.n;
  s_param_t *in_force = s_alloc(c.tmp, (n_all ? n_all : 1) * sizeof *in_force);
  if (!in_force) goto out_oom;
  for (size_t vi = 0; vi < n_variants; vi++) {
    /* Params in force: the file's params, then this combination of matrix values. */
    memcpy(in_force, params.v ? params.v : in_force, params.n * sizeof *in_force);
    for (size_t i = 0; i < axes.n; i++) {
      const s_axis_t *a = &((s_axis_t *)axes.v)[i];
      in_force[params.n + i] = (s_param_t){
          .name = a->name, .text = a->pinned ? a->pinned : a->values[idx[i]]->text,
          .quoted = a->pinned ? false : a->values[idx[i]]->quoted, .at = a->key};
    }
    c.params = in_force;
    c.n_params = n_all;
    dd_sc_arena_t *arena = s_arena_new();
    dd_scenario_t *sc = arena ? s_alloc(arena, sizeof *sc) : NULL;
    if (!sc) {
      s_arena_destroy(&arena);
      goto out_oom;
    }
    sc->arena = arena;
    list->v[list->n++] = sc;
    c.a = arena;
    c.sc = sc;
    sc->file = s_strdup(arena, file);
    sc->dir = s_strdup(arena, c.dir);
    dd_sc_kv_t *pk = s_alloc(arena, (n_all ? n_all : 1) * sizeof *pk);
    dd_sc_kv_t *vk = s_alloc(arena, (axes.n ? axes.n : 1) * sizeof *vk);
    if (!sc->file || !sc->dir || !pk || !vk) goto out_oom;
    for (size_t i = 0; i < n_all; i++)
      pk[i] = (dd_sc_kv_t){.key = s_strdup(arena, in_force[i].name),
                           .value = s_strdup(arena, in_force[i].text)};
    size_t nv = 0;
    for (size_t i = 0; i < axes.n; i++)
      if (!((s_axis_t *)axes.v)[i].pinned) vk[nv++] = pk[params.n + i];
    sc->params = pk;
    sc->n_params = n_all;
    sc->variant = vk;
    sc->n_variant = nv;
    s_build(&c, root);
    s_names(&c, sc, axes.v, axes.n, idx, list->v, list->n - 1);
    if (c.oom) goto out_oom;
    if (c.kept > DD_SC_MAX_ERRORS) break;
    /* Next combination, the last axis fastest. */
    for (size_t i = axes.n; i-- > 0;) {
      const s_axis_t *a = &((s_axis_t *)axes.v)[i];
      if (a->pinned) continue;
      if (++idx[i] < a->n) break;
      idx[i] = 0;
    }
  }
  if (c.n_errors) goto out_bad;
  *out = list;
  list = NULL;
  goto out;
out_oom:
  rc = DD_ENOMEM;
  goto out;
out_bad:
  rc = DD_ESCENARIO;
out:
  if (c.oom) rc = DD_ENOMEM;
  if (rc) *out = NULL;
  s_sort_diags(diags, c.diag_base);
  dd_scenario_list_destroy(&list);
  free(idx);
  s_vec_free(&params);
  s_vec_free(&axes);
  s_arena_destroy(&c.tmp);
  if (!diags_in) dd_sc_diags_destroy(&diags);
  return rc;
}

int dd_scenario_load_mem(const char *file, const char *text, size_t len,
                         const dd_scenario_opts_t *opts, dd_scenario_list_t **out,
                         dd_sc_diags_t *diags) {
  return s_load(file ? file : "<scenario>", text ? text : "", text ? len : 0, opts, out, diags);
}

int dd_scenario_load_file(const char *path, const dd_scenario_opts_t *opts,
                          dd_scenario_list_t **out, dd_sc_diags_t *diags) {
  assert(path && out);
  *out = NULL;
  FILE *f = fopen(path, "rb");
  if (!f) {
    int e = errno;
    if (diags && s_diags_add(diags, path, 0, 0, strerror(e)) != 0) return DD_ENOMEM;
    return DD_ESCENARIO;
  }
  char *buf = malloc(DD_SC_MAX_FILE + 1);
  if (!buf) {
    fclose(f);
    return DD_ENOMEM;
  }
  size_t n = fread(buf, 1, DD_SC_MAX_FILE + 1, f);
  bool err = ferror(f);
  fclose(f);
  int rc;
  if (err) {
    rc = DD_ESCENARIO;
    if (diags && s_diags_add(diags, path, 0, 0, "cannot read the file") != 0) rc = DD_ENOMEM;
  } else {
    rc = s_load(path, buf, n, opts, out, diags);
  }
  free(buf);
  return rc;
}

/* ==== JSON for the orchestrator ============================================================ */

/* Round a derived value so that 0.05 * 100 prints as 5, not 5.000000000000001. */
static double s_tidy(double x) { return round(x * 1e9) / 1e9; }

static int s_jset(json_t *o, const char *k, json_t *v) { return v ? json_object_set_new(o, k, v) : -1; }

static const char *s_dir_word(unsigned dirs) {
  return dirs == DD_SC_UP ? "up" : dirs == DD_SC_DOWN ? "down" : "both";
}

static json_t *s_link_op_object(const dd_sc_link_op_t *op) {
  json_t *o = json_object();
  if (!o) return NULL;
  int bad = s_jset(o, "dir", json_string(s_dir_word(op->dirs)));
  const dd_sc_netem_set_t *s = &op->set;
  switch (op->op) {
  case DD_SC_LOP_SET:
    if (s->mask & DD_SC_LF_DELAY) bad |= s_jset(o, "delay_ms", json_real(s_tidy((double)s->delay_us / 1000.0)));
    if (s->mask & DD_SC_LF_JITTER) bad |= s_jset(o, "jitter_ms", json_real(s_tidy((double)s->jitter_us / 1000.0)));
    if (s->mask & DD_SC_LF_DIST) bad |= s_jset(o, "dist", json_string(s_dist_names[s->dist]));
    if (s->mask & DD_SC_LF_CORR) bad |= s_jset(o, "corr_pct", json_real(s_tidy(s->corr * 100.0)));
    if (s->mask & DD_SC_LF_RATE) bad |= s_jset(o, "rate_kbit", json_real(s_tidy((double)s->rate / 125.0)));
    if (s->mask & DD_SC_LF_LOSS) bad |= s_jset(o, "loss_pct", json_real(s_tidy(s->loss * 100.0)));
    if (s->mask & DD_SC_LF_LOSS_CORR) bad |= s_jset(o, "loss_corr_pct", json_real(s_tidy(s->loss_corr * 100.0)));
    if (s->mask & DD_SC_LF_GEMODEL) {
      json_t *g = json_object();
      const double ge[4] = {s->ge_p, s->ge_r, s->ge_h, s->ge_k};
      static const char *const names[4] = {"p", "r", "h", "k"};
      for (int i = 0; g && i < 4; i++)
        if (s->ge_mask & (1u << i)) bad |= s_jset(g, names[i], json_real(s_tidy(ge[i] * 100.0)));
      bad |= s_jset(o, "gemodel", g);
    }
    if (s->mask & DD_SC_LF_DUP) bad |= s_jset(o, "dup_pct", json_real(s_tidy(s->dup * 100.0)));
    if (s->mask & DD_SC_LF_CORRUPT) bad |= s_jset(o, "corrupt_pct", json_real(s_tidy(s->corrupt * 100.0)));
    if (s->mask & DD_SC_LF_REORDER) bad |= s_jset(o, "reorder_pct", json_real(s_tidy(s->reorder * 100.0)));
    if (s->mask & DD_SC_LF_GAP) bad |= s_jset(o, "gap", json_integer((json_int_t)s->gap));
    if (s->mask & DD_SC_LF_RTO) bad |= s_jset(o, "rto_ms", json_real(s_tidy((double)s->rto_us / 1000.0)));
    break;
  case DD_SC_LOP_RAMP:
    bad |= s_jset(o, "delay_ms_to", json_real(s_tidy((double)op->ramp_to_us / 1000.0)));
    bad |= s_jset(o, "over_s", json_real(s_tidy((double)op->ramp_us / 1e6)));
    break;
  case DD_SC_LOP_OUTAGE:
    if (op->outage_us != DD_SC_NONE) bad |= s_jset(o, "for_s", json_real(s_tidy((double)op->outage_us / 1e6)));
    break;
  default:
    break;
  }
  if (bad) {
    json_decref(o);
    return NULL;
  }
  return o;
}

char *dd_sc_link_op_json(const dd_sc_link_op_t *op) {
  assert(op);
  json_t *o = s_link_op_object(op);
  if (!o) return NULL;
  char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(12));
  json_decref(o);
  return s;
}

static json_t *s_uint_array(const uint32_t *v, size_t n) {
  json_t *a = json_array();
  for (size_t i = 0; a && i < n; i++)
    if (json_array_append_new(a, json_integer((json_int_t)v[i])) != 0) {
      json_decref(a);
      return NULL;
    }
  return a;
}

static json_t *s_hex(const uint8_t *b, size_t n) {
  char *t = malloc(n * 2 + 1);
  if (!t) return NULL;
  for (size_t i = 0; i < n; i++)
    snprintf(t + 2 * i, 3, "%02X", b[i]);
  t[2 * n] = 0;
  json_t *s = json_string(t);
  free(t);
  return s;
}

static int s_opt_str(json_t *o, const char *k, const char *v) {
  return v ? s_jset(o, k, json_string(v)) : 0;
}

char *dd_sc_step_json(const dd_scenario_t *sc, const dd_sc_step_t *st) {
  assert(sc && st);
  json_t *o = json_object();
  if (!o) return NULL;
  int bad = 0;
  switch (st->action) {
  case DD_SC_ACT_LINK: {
    json_t *links = json_array();
    bad |= links ? 0 : -1;
    for (size_t i = 0; links && i < st->link.n_changes; i++) {
      const dd_sc_link_change_t *ch = &st->link.changes[i];
      json_t *l = json_object(), *ops = json_array();
      if (!l || !ops) {
        json_decref(l);
        json_decref(ops);
        bad = -1;
        break;
      }
      bad |= s_jset(l, "link", json_string(ch->name));
      for (size_t j = 0; j < ch->n_ops; j++) {
        json_t *op = json_object();
        if (!op) {
          bad = -1;
          break;
        }
        bad |= s_jset(op, "op", json_string(s_lop_names[ch->ops[j].op]));
        bad |= s_jset(op, "args", s_link_op_object(&ch->ops[j]));
        bad |= json_array_append_new(ops, op);
      }
      bad |= s_jset(l, "ops", ops);
      bad |= json_array_append_new(links, l);
    }
    bad |= s_jset(o, "links", links);
    break;
  }
  case DD_SC_ACT_ECU: {
    const dd_sc_fault_t *f = &st->fault;
    bad |= s_opt_str(o, "ecu", f->ecu);
    bad |= s_jset(o, "fault", json_string(s_fault_names[f->kind]));
    switch (f->kind) {
    case DD_SC_FAULT_SET_DTC:
      bad |= s_jset(o, "status", json_integer(f->status));
      /* fall through */
    case DD_SC_FAULT_CLEAR_DTC:
      bad |= s_jset(o, "dtc", json_integer((json_int_t)f->dtc));
      bad |= s_opt_str(o, "dtc_text", f->dtc_text);
      break;
    case DD_SC_FAULT_DELAY:
      bad |= s_jset(o, "delay_us", json_integer((json_int_t)f->duration_us));
      bad |= s_jset(o, "service", json_integer(f->service));
      break;
    case DD_SC_FAULT_DROP:
      bad |= s_jset(o, "probability", json_real(f->probability));
      bad |= s_jset(o, "count", json_integer(f->count));
      bad |= s_jset(o, "service", json_integer(f->service));
      break;
    case DD_SC_FAULT_FORCE_NRC:
      bad |= s_jset(o, "nrc", json_integer(f->nrc));
      bad |= s_jset(o, "count", json_integer(f->count));
      bad |= s_jset(o, "service", json_integer(f->service));
      break;
    case DD_SC_FAULT_PENDING_FOREVER:
      bad |= s_jset(o, "service", json_integer(f->service));
      break;
    case DD_SC_FAULT_POWER_CYCLE:
      bad |= s_jset(o, "off_us", json_integer((json_int_t)f->duration_us));
      break;
    case DD_SC_FAULT_POWER_CUT_FLASH:
      bad |= s_jset(o, "percent", json_real(f->percent));
      break;
    case DD_SC_FAULT_SPEED:
      bad |= s_jset(o, "speed_kmh", json_real(f->speed_kmh));
      break;
    case DD_SC_FAULT_ENGINE:
      bad |= s_jset(o, "engine", json_string(f->engine_on ? "on" : "off"));
      break;
    default:
      break;
    }
    break;
  }
  case DD_SC_ACT_KILL:
    bad |= s_opt_str(o, "proc", st->proc.proc);
    bad |= s_jset(o, "signal", json_integer(st->proc.signal));
    break;
  case DD_SC_ACT_RESTART:
    bad |= s_opt_str(o, "proc", st->proc.proc);
    bad |= s_jset(o, "down_us", json_integer((json_int_t)st->proc.down_us));
    break;
  case DD_SC_ACT_SESSION: {
    const dd_sc_session_t *s = &st->session;
    bad |= s_opt_str(o, "terminal", s->terminal);
    bad |= s_opt_str(o, "currency", sc->currency);
    if (s->close) {
      bad |= s_jset(o, "close", json_true());
      bad |= s_opt_str(o, "reason", s->reason);
    } else {
      bad |= s_jset(o, "media", json_string(s->media == DD_SC_MEDIA_VIDEO ? "video" : "voice"));
      bad |= s_jset(o, "accept", json_boolean(s->accept));
      bad |= s_jset(o, "fee_minor", json_integer(s->fee_minor));
      bad |= s_jset(o, "pay", json_boolean(s->pay));
      bad |= s_jset(o, "amount_minor", json_integer(s->amount_minor));
    }
    break;
  }
  case DD_SC_ACT_TERMINAL: {
    const dd_sc_request_t *r = &st->request;
    bad |= s_opt_str(o, "terminal", r->terminal);
    bad |= s_jset(o, "request", json_string(s_request_names[r->kind]));
    bad |= s_jset(o, "items", s_uint_array(r->items, r->n_items));
    bad |= s_opt_str(o, "ecu", r->ecu);
    bad |= s_jset(o, "ecu_id", json_integer(r->ecu_id));
    bad |= s_jset(o, "rate_hz", json_real(r->rate_hz));
    bad |= s_jset(o, "count", json_integer(r->count));
    break;
  }
  case DD_SC_ACT_CONTROL: {
    const dd_sc_control_t *ct = &st->control;
    bad |= s_opt_str(o, "terminal", ct->terminal);
    bad |= s_jset(o, "action", json_string(s_control_names[ct->action]));
    bad |= s_opt_str(o, "ecu", ct->ecu);
    bad |= s_jset(o, "ecu_id", json_integer(ct->ecu_id));
    bad |= s_jset(o, "ids", s_uint_array(ct->ids, ct->n_ids));
    bad |= s_jset(o, "rate_hz", json_real(ct->rate_hz));
    bad |= s_jset(o, "args", s_hex(ct->args, ct->n_args));
    bad |= s_opt_str(o, "package", ct->package);
    break;
  }
  case DD_SC_ACT_PROGRAM: {
    const dd_sc_program_t *p = &st->program;
    static const char *const sig[] = {"good", "none", "bad"};
    bad |= s_opt_str(o, "image", p->image);
    bad |= s_opt_str(o, "image_path", p->image_path);
    bad |= s_opt_str(o, "format", p->format);
    bad |= s_opt_str(o, "target", p->target);
    bad |= s_opt_str(o, "version", p->version);
    bad |= s_opt_str(o, "package", p->package);
    bad |= s_opt_str(o, "hw_part", p->hw_part);
    bad |= s_jset(o, "signature", json_string(sig[p->signature]));
    bad |= s_jset(o, "start", json_string(p->auto_start ? "auto" : "on_control"));
    break;
  }
  case DD_SC_ACT_MARK:
    bad |= s_opt_str(o, "mark", st->mark);
    break;
  case DD_SC_ACT_STOP:
    bad |= s_opt_str(o, "reason", st->stop_reason);
    break;
  default:
    break;
  }
  char *s = bad ? NULL : json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(12));
  json_decref(o);
  return s;
}
