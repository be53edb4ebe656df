/* dd_viewer: timeline drawing with SDL2's renderer API and SDL2_ttf text, shared by the window
 * and the headless (software renderer on a surface) screenshot path. */
#include "dd_viewer.h"

#include <SDL_image.h>
#include <SDL_ttf.h>
#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dd_err.h"

/* ---- layout (pixels) ---- */
#define S_TITLE_H 44    /* title bar */
#define S_SUMMARY_H 34  /* summary chips under the title */
#define S_AXIS_H 30     /* time axis above the lanes */
#define S_LEGEND_H 30   /* legend under the lanes */
#define S_STATUS_H 26   /* status bar at the bottom */
#define S_LABEL_W 190   /* lane label column */
#define S_PANEL_W 400   /* event detail panel (when an event is selected) */
#define S_MARGIN_R 14   /* right margin of the plot */
#define S_ROW_H 22      /* one family row of a lane */
#define S_CHART_H 58    /* one numeric series chart */
#define S_LANE_PAD 6    /* space above and below a lane's rows */
#define S_CHART_HEAD 15 /* caption strip at the top of a chart */
#define S_HIT_PX 7      /* how far from a marker a click still hits it */
#define S_CACHE 1024    /* text textures kept */
#define S_MIN_SPAN 10.0 /* narrowest window, microseconds */

enum { S_F_TITLE, S_F_BOLD, S_F_REG, S_F_SMALL, S_F_MONO, S_F_SMALLBOLD, S_F_N };

static const int s_font_pt[S_F_N] = {18, 13, 13, 11, 12, 11};

/* ---- colours ---- */
#define S_RGB(hex) ((SDL_Color){(Uint8)((hex) >> 16), (Uint8)((hex) >> 8), (Uint8)(hex), 255})
#define S_RGBA(hex, a) ((SDL_Color){(Uint8)((hex) >> 16), (Uint8)((hex) >> 8), (Uint8)(hex), (a)})

#define S_C_PAGE 0xF6F8FA
#define S_C_TITLE 0x1F2937
#define S_C_TITLE_SUB 0xA8B3C1
#define S_C_WHITE 0xFFFFFF
#define S_C_LABEL 0xE9EDF2
#define S_C_GRID 0xE1E5EA
#define S_C_BORDER 0xC9D1D9
#define S_C_TEXT 0x1F2328
#define S_C_MUTED 0x656D76
#define S_C_SELECT 0x0B5CD5
#define S_C_PASS 0x1A7F37
#define S_C_FAIL 0xCF222E
#define S_C_SKIP 0x9A6700
#define S_C_OTHER 0x8250DF

typedef struct {
  const char *family; /* kind family */
  uint32_t rgb;       /* its colour */
} s_family_colour_t;

/* Families known today or announced; any other family gets a colour from its name's hash. */
static const s_family_colour_t s_known[] = {
    {"proc", 0x6E7781},      {"can", 0x1F77B4},     {"isotp", 0x17A2B8},   {"uds", 0x8E44AD},
    {"transport", 0xF28E2B}, {"session", 0x8C564B}, {"vehicle", 0x9DA31F}, {"program", 0xD6509F},
    {"control", 0xB07A00},   {"expect", 0x444C56},  {"wire", 0x8A8F98},    {"netem", 0x3F51B5},
    {"obd", 0x2E8B57},       {"harness", 0x4B5563},
};
static const uint32_t s_extra[] = {0x4E79A7, 0xE15759, 0x59A14F, 0xB07AA1, 0x76B7B2,
                                   0xEDC948, 0xFF9DA7, 0x9C755F, 0x5F9EA0, 0xA0522D};

typedef struct {
  uint32_t lane;    /* lane of the row */
  uint32_t family;  /* family of a row of events; UINT32_MAX for a chart */
  size_t series;    /* series index of a chart */
  int y;            /* top, relative to the top of all lanes */
  int h;            /* height */
  const size_t *ev; /* events of the row in time order (into the viewer's order array) */
  size_t n;         /* their number */
  double lo;        /* chart: value at the bottom */
  double hi;        /* chart: value at the top */
} s_row_t;

typedef struct {
  int y;         /* top, relative to the top of all lanes */
  int h;         /* height */
  size_t row0;   /* first row */
  size_t n_rows; /* rows (family rows, then charts) */
} s_lane_t;

typedef struct {
  char *text;       /* cached text (NULL: free slot) */
  int font;         /* font it was drawn with */
  SDL_Color c;      /* its colour */
  SDL_Texture *tex; /* the drawn text */
  int w;            /* texture width */
  int h;            /* texture height */
} s_tcache_t;

typedef struct {
  char key[64]; /* field name */
  char *value;  /* value as text (strings bare, the rest as JSON) */
} s_field_t;

struct dd_viewer {
  const dd_timeline_t *tl;      /* the model (not owned) */
  int w;                        /* picture width */
  int h;                        /* picture height */
  char title[256];              /* run name */
  char subtitle[512];           /* right side of the title bar */
  char err[256];                /* last SDL error behind a failure */
  bool ttf_init;                /* TTF_Init succeeded (paired with TTF_Quit) */
  TTF_Font *font[S_F_N];        /* fonts by role */
  int font_h[S_F_N];            /* their line heights */
  int64_t origin;               /* t_us of the first event: time zero of the axis */
  double span;                  /* last - first event, microseconds */
  size_t *order;                /* event indices grouped by row */
  s_row_t *rows;                /* rows of all lanes */
  size_t n_rows;                /* number of rows */
  s_lane_t *lanes;              /* lanes */
  size_t n_lanes;               /* number of lanes */
  int content_h;                /* height of all lanes */
  uint32_t *fam_rgb;            /* colour per family */
  bool *kind_alarm;             /* per kind: looks like an error (ringed in red) */
  char **kind_short;            /* per kind: the part after the family, for labels */
  char **verdict_label;         /* per event with a verdict: "PASS name"; else NULL */
  size_t *span_open;            /* per event: transaction span it opens + 1, or 0 */
  const s_row_t **row_of_event; /* per event: the row it is drawn in */
  size_t *lane_spans;           /* transaction spans grouped by lane */
  size_t *lane_span_off;        /* per lane: first index into lane_spans (n_lanes + 1 entries) */
  double t0;                    /* visible window start, us after origin */
  double t1;                    /* visible window end */
  int scroll;                   /* vertical scroll of the lanes, pixels */
  long sel;                     /* selected event or -1 */
  long hover;                   /* event under the mouse or -1 */
  int mouse_x;                  /* last mouse position */
  int mouse_y;                  /* last mouse position */
  bool pressed;                 /* left button down */
  bool dragging;                /* moved far enough while down to be a drag */
  int press_x;                  /* where the button went down */
  double press_t0;              /* window start when it went down */
  s_field_t *fields;            /* fields of the selected event */
  size_t n_fields;              /* their number */
  SDL_Renderer *cache_r;        /* renderer the cached textures belong to */
  s_tcache_t cache[S_CACHE];    /* text textures */
};

/* ---- small helpers ---- */

static void s_set_err(dd_viewer_t *self, const char *what) {
  snprintf(self->err, sizeof self->err, "%.100s: %.140s", what, SDL_GetError());
}

static uint32_t s_fnv(const char *s, uint32_t h) {
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 16777619u;
  return h;
}

static uint32_t s_family_rgb(const char *family) {
  for (size_t i = 0; i < sizeof s_known / sizeof s_known[0]; i++)
    if (!strcmp(s_known[i].family, family)) return s_known[i].rgb;
  return s_extra[s_fnv(family, 2166136261u) % (sizeof s_extra / sizeof s_extra[0])];
}

static SDL_Color s_col(uint32_t rgb) { return S_RGB(rgb); }

static uint32_t s_verdict_rgb(dd_tl_verdict_t v) {
  switch (v) {
  case DD_TL_VERDICT_PASS: return S_C_PASS;
  case DD_TL_VERDICT_FAIL: return S_C_FAIL;
  case DD_TL_VERDICT_SKIP: return S_C_SKIP;
  default: return S_C_OTHER;
  }
}

static uint32_t s_darker(uint32_t rgb) {
  uint32_t r = (rgb >> 16) & 0xFF, g = (rgb >> 8) & 0xFF, b = rgb & 0xFF;
  return ((r * 3 / 5) << 16) | ((g * 3 / 5) << 8) | (b * 3 / 5);
}

/* Clamp a double to an int pixel coordinate (huge or odd values never reach a cast). */
static int s_px(double v) {
  if (!(v > -1e6)) return -1000000;
  if (v > 1e6) return 1000000;
  return (int)floor(v);
}

static void s_fill(SDL_Renderer *r, int x, int y, int w, int h, SDL_Color c) {
  SDL_SetRenderDrawColor(r, c.r, c.g, c.b, c.a);
  SDL_RenderFillRect(r, &(SDL_Rect){x, y, w, h});
}

static void s_hline(SDL_Renderer *r, int x0, int x1, int y, SDL_Color c) {
  SDL_SetRenderDrawColor(r, c.r, c.g, c.b, c.a);
  SDL_RenderDrawLine(r, x0, y, x1, y);
}

static void s_vline(SDL_Renderer *r, int x, int y0, int y1, SDL_Color c) {
  SDL_SetRenderDrawColor(r, c.r, c.g, c.b, c.a);
  SDL_RenderDrawLine(r, x, y0, x, y1);
}

static void s_dashed_vline(SDL_Renderer *r, int x, int y0, int y1, SDL_Color c) {
  SDL_SetRenderDrawColor(r, c.r, c.g, c.b, c.a);
  for (int y = y0; y < y1; y += 8)
    SDL_RenderDrawLine(r, x, y, x, y + 4 < y1 ? y + 4 : y1);
}

/* A filled circle, as a fan of 16 triangles. */
static void s_disc(SDL_Renderer *r, float cx, float cy, float rad, SDL_Color c) {
  SDL_Vertex v[17];
  int idx[48];
  v[0] = (SDL_Vertex){{cx, cy}, c, {0, 0}};
  for (int i = 0; i < 16; i++) {
    double a = 2.0 * M_PI * (i + 0.5) / 16;
    v[i + 1] = (SDL_Vertex){{cx + rad * (float)cos(a), cy + rad * (float)sin(a)}, c, {0, 0}};
    idx[3 * i] = 0;
    idx[3 * i + 1] = i + 1;
    idx[3 * i + 2] = i < 15 ? i + 2 : 1;
  }
  SDL_RenderGeometry(r, NULL, v, 17, idx, 48);
}

/* A filled diamond of half-diagonal rad, drawn as horizontal spans (exact on any renderer). */
static void s_diamond(SDL_Renderer *r, int cx, int cy, int rad, SDL_Color c) {
  SDL_SetRenderDrawColor(r, c.r, c.g, c.b, c.a);
  for (int dy = -rad; dy <= rad; dy++) {
    int half = rad - abs(dy);
    SDL_RenderDrawLine(r, cx - half, cy + dy, cx + half, cy + dy);
  }
}

/* A quad from (x0,y0)-(x1,y1) of thickness 2 (series lines). */
static void s_thick_line(SDL_Renderer *r, float x0, float y0, float x1, float y1, SDL_Color c) {
  float dx = x1 - x0, dy = y1 - y0;
  float len = sqrtf(dx * dx + dy * dy);
  if (len < 0.01f) {
    SDL_SetRenderDrawColor(r, c.r, c.g, c.b, c.a);
    SDL_RenderFillRectF(r, &(SDL_FRect){x0 - 1, y0 - 1, 2, 2});
    return;
  }
  float nx = -dy / len, ny = dx / len;
  SDL_Vertex v[4] = {{{x0 + nx, y0 + ny}, c, {0, 0}},
                     {{x1 + nx, y1 + ny}, c, {0, 0}},
                     {{x1 - nx, y1 - ny}, c, {0, 0}},
                     {{x0 - nx, y0 - ny}, c, {0, 0}}};
  int idx[6] = {0, 1, 2, 0, 2, 3};
  SDL_RenderGeometry(r, NULL, v, 4, idx, 6);
}

/* Seconds since the origin with as many decimals as step needs, digits grouped by three. */
static void s_fmt_axis(double us, double step_us, char *buf, size_t size) {
  int dec = 0;
  double step_s = step_us / 1e6;
  while (dec < 6 && step_s * pow(10, dec) < 0.999)
    dec++;
  char tmp[64];
  snprintf(tmp, sizeof tmp, "%.*f", dec, us / 1e6);
  if (!strcmp(tmp, "-0") || (tmp[0] == '-' && strspn(tmp + 1, "0.") == strlen(tmp + 1)))
    memmove(tmp, tmp + 1, strlen(tmp)); /* no "-0.000" */
  /* Group the decimals by three with a thin space (U+2009) beyond the milliseconds. */
  char *dot = strchr(tmp, '.');
  size_t o = 0;
  for (size_t i = 0; tmp[i] && o + 5 < size; i++) {
    if (dot && &tmp[i] > dot && (size_t)(&tmp[i] - dot - 1) % 3 == 0 && &tmp[i] - dot - 1 > 0) {
      buf[o++] = (char)0xE2;
      buf[o++] = (char)0x80;
      buf[o++] = (char)0x89;
    }
    buf[o++] = tmp[i];
  }
  buf[o] = '\0';
  if (o + 3 < size) strcat(buf, " s");
}

/* A duration in the unit that reads best. */
static void s_fmt_dur(double us, char *buf, size_t size) {
  if (us >= 120e6)
    snprintf(buf, size, "%d min %04.1f s", (int)(us / 60e6), fmod(us / 1e6, 60.0));
  else if (us >= 1e6)
    snprintf(buf, size, "%.3f s", us / 1e6);
  else if (us >= 1e3)
    snprintf(buf, size, "%.3f ms", us / 1e3);
  else
    snprintf(buf, size, "%.0f \xC2\xB5s", us);
}

static void s_fmt_wall(int64_t wall_us, char *buf, size_t size, bool micro) {
  time_t sec = (time_t)(wall_us / 1000000);
  struct tm tm;
  if (wall_us <= 0 || !gmtime_r(&sec, &tm)) {
    snprintf(buf, size, "-");
    return;
  }
  char d[40];
  strftime(d, sizeof d, "%Y-%m-%d %H:%M:%S", &tm);
  if (micro)
    snprintf(buf, size, "%s.%06lld UTC", d, (long long)(wall_us % 1000000));
  else
    snprintf(buf, size, "%s UTC", d);
}

/* Numbers as people read them: 1234567 -> "1,234,567". */
static void s_fmt_count(size_t n, char *buf, size_t size) {
  char tmp[32];
  snprintf(tmp, sizeof tmp, "%zu", n);
  size_t len = strlen(tmp), o = 0;
  for (size_t i = 0; i < len && o + 2 < size; i++) {
    if (i > 0 && (len - i) % 3 == 0) buf[o++] = ',';
    buf[o++] = tmp[i];
  }
  buf[o] = '\0';
}

static void s_fmt_value(double v, char *buf, size_t size) {
  if (fabs(v) >= 1e6 || (fabs(v) < 1e-3 && v != 0))
    snprintf(buf, size, "%.3g", v);
  else
    snprintf(buf, size, "%.4g", v);
}

/* ---- text ---- */

static void s_cache_clear(dd_viewer_t *self) {
  for (size_t i = 0; i < S_CACHE; i++) {
    if (self->cache[i].tex) SDL_DestroyTexture(self->cache[i].tex);
    free(self->cache[i].text);
    memset(&self->cache[i], 0, sizeof self->cache[i]);
  }
  self->cache_r = NULL;
}

/* The texture of a text (cached); NULL for empty text or on failure. */
static const s_tcache_t *s_text_tex(dd_viewer_t *self, SDL_Renderer *r, int font, const char *s,
                                    SDL_Color c) {
  if (!s || !*s) return NULL;
  if (self->cache_r != r) {
    s_cache_clear(self);
    self->cache_r = r;
  }
  uint32_t h = s_fnv(s, 2166136261u ^ (uint32_t)font * 0x9E3779B1u ^
                            ((uint32_t)c.r << 16 | (uint32_t)c.g << 8 | c.b) * 31u);
  s_tcache_t *e = &self->cache[h % S_CACHE];
  if (e->text && e->font == font && e->c.r == c.r && e->c.g == c.g && e->c.b == c.b &&
      e->c.a == c.a && !strcmp(e->text, s))
    return e;
  if (e->tex) SDL_DestroyTexture(e->tex);
  free(e->text);
  memset(e, 0, sizeof *e);
  SDL_Surface *surf = TTF_RenderUTF8_Blended(self->font[font], s, c);
  if (!surf) return NULL;
  SDL_Texture *tex = SDL_CreateTextureFromSurface(r, surf);
  int w = surf->w, hh = surf->h;
  SDL_FreeSurface(surf);
  if (!tex) return NULL;
  e->text = strdup(s);
  if (!e->text) {
    SDL_DestroyTexture(tex);
    return NULL;
  }
  e->tex = tex;
  e->font = font;
  e->c = c;
  e->w = w;
  e->h = hh;
  return e;
}

static int s_text_w(dd_viewer_t *self, int font, const char *s) {
  int w = 0, h = 0;
  if (!s || !*s || TTF_SizeUTF8(self->font[font], s, &w, &h) != 0) return 0;
  return w;
}

/* Cut s (UTF-8) so that it plus "…" fits max_w; result in buf. */
static void s_ellipsize(dd_viewer_t *self, int font, const char *s, int max_w, char *buf,
                        size_t size) {
  snprintf(buf, size, "%s", s);
  if (max_w <= 0 || s_text_w(self, font, buf) <= max_w) return;
  size_t len = strlen(buf);
  size_t lo = 0, hi = len; /* largest prefix length that fits, on a character boundary */
  char tmp[1024];
  while (lo < hi) {
    size_t mid = (lo + hi + 1) / 2;
    while (mid > 0 && ((unsigned char)buf[mid] & 0xC0) == 0x80)
      mid--;
    if (mid <= lo) {
      hi = lo;
      break;
    }
    snprintf(tmp, sizeof tmp, "%.*s\xE2\x80\xA6", (int)mid, buf);
    if (s_text_w(self, font, tmp) <= max_w)
      lo = mid;
    else
      hi = mid - 1;
  }
  while (lo > 0 && ((unsigned char)buf[lo] & 0xC0) == 0x80)
    lo--;
  if (lo + 4 > size) lo = size - 4;
  while (lo > 0 && ((unsigned char)buf[lo] & 0xC0) == 0x80)
    lo--;
  memcpy(buf + lo, "\xE2\x80\xA6", 4); /* the ellipsis and the NUL */
}

enum { S_LEFT, S_CENTER, S_RIGHT };

/* Draw text with its top at y (align on x); cut with an ellipsis to max_w when > 0.
 * Returns the width drawn. */
static int s_text(dd_viewer_t *self, SDL_Renderer *r, int font, const char *s, SDL_Color c, int x,
                  int y, int align, int max_w) {
  char cut[512];
  if (!s || !*s) return 0;
  if (max_w > 0) {
    s_ellipsize(self, font, s, max_w, cut, sizeof cut);
    s = cut;
  }
  const s_tcache_t *t = s_text_tex(self, r, font, s, c);
  if (!t) return 0;
  int dx = align == S_CENTER ? x - t->w / 2 : align == S_RIGHT ? x - t->w : x;
  SDL_RenderCopy(r, t->tex, NULL, &(SDL_Rect){dx, y, t->w, t->h});
  return t->w;
}

/* Text vertically centred on cy. */
static int s_text_mid(dd_viewer_t *self, SDL_Renderer *r, int font, const char *s, SDL_Color c,
                      int x, int cy, int align, int max_w) {
  return s_text(self, r, font, s, c, x, cy - self->font_h[font] / 2, align, max_w);
}

/* ---- fonts ---- */

static const char *const s_font_paths[] = {
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/DejaVuSans.ttf",
    "/usr/local/share/fonts/DejaVuSans.ttf",
    "/usr/local/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/liberation-sans/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/freefont/FreeSans.ttf",
    "/System/Library/Fonts/Supplemental/Arial.ttf",
    "/Library/Fonts/Arial.ttf",
};

int dd_viewer_find_font(const char *hint, char *buf, size_t size) {
  assert(buf && size > 0);
  const char *want = hint ? hint : getenv("DD_FONT");
  if (want && *want) {
    if (access(want, R_OK) != 0) return DD_ENOENT;
    if ((size_t)snprintf(buf, size, "%s", want) >= size) return DD_ENAMETOOLONG;
    return 0;
  }
  for (size_t i = 0; i < sizeof s_font_paths / sizeof s_font_paths[0]; i++)
    if (access(s_font_paths[i], R_OK) == 0) {
      if ((size_t)snprintf(buf, size, "%s", s_font_paths[i]) >= size) return DD_ENAMETOOLONG;
      return 0;
    }
  return DD_ENOENT;
}

/* The bold or monospaced companion of a regular font file, when the family ships one. */
static bool s_sibling(const char *regular, const char *from, const char *to, char *buf,
                      size_t size) {
  const char *slash = strrchr(regular, '/');
  const char *base = slash ? slash + 1 : regular;
  if (strcmp(base, from) != 0) return false;
  int n = snprintf(buf, size, "%.*s%s", (int)(base - regular), regular, to);
  return n > 0 && (size_t)n < size && access(buf, R_OK) == 0;
}

static const char *const s_bold_map[][3] = {
    /* regular, bold, mono */
    {"DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSansMono.ttf"},
    {"LiberationSans-Regular.ttf", "LiberationSans-Bold.ttf", "LiberationMono-Regular.ttf"},
    {"FreeSans.ttf", "FreeSansBold.ttf", "FreeMono.ttf"},
    {"Arial.ttf", "Arial Bold.ttf", "Courier New.ttf"},
};

static int s_open_fonts(dd_viewer_t *self, const char *regular) {
  char bold[1100] = "", mono[1100] = "";
  for (size_t i = 0; i < sizeof s_bold_map / sizeof s_bold_map[0]; i++) {
    if (!bold[0] && !s_sibling(regular, s_bold_map[i][0], s_bold_map[i][1], bold, sizeof bold))
      bold[0] = '\0';
    if (!mono[0] && !s_sibling(regular, s_bold_map[i][0], s_bold_map[i][2], mono, sizeof mono))
      mono[0] = '\0';
  }
  for (int f = 0; f < S_F_N; f++) {
    bool want_bold = f == S_F_TITLE || f == S_F_BOLD || f == S_F_SMALLBOLD;
    const char *path = want_bold && bold[0] ? bold : f == S_F_MONO && mono[0] ? mono : regular;
    self->font[f] = TTF_OpenFont(path, s_font_pt[f]);
    if (!self->font[f]) {
      s_set_err(self, path);
      return DD_EIO;
    }
    if (want_bold && !bold[0]) TTF_SetFontStyle(self->font[f], TTF_STYLE_BOLD);
    TTF_SetFontHinting(self->font[f], TTF_HINTING_LIGHT);
    self->font_h[f] = TTF_FontHeight(self->font[f]);
  }
  return 0;
}

/* ---- model-derived layout ---- */

/* Row order of families inside a lane: proc first (process life), expect last (verdicts),
 * the rest by name. */
static int s_family_cmp(const char *x, const char *y) {
  int rx = !strcmp(x, "proc") ? 0 : !strcmp(x, "expect") ? 2 : 1;
  int ry = !strcmp(y, "proc") ? 0 : !strcmp(y, "expect") ? 2 : 1;
  if (rx != ry) return rx - ry;
  return strcmp(x, y);
}

typedef struct {
  uint32_t lane; /* lane of the event */
  size_t rank;   /* row rank of its family */
  size_t ev;     /* the event (time order) */
} s_order_t;

static int s_cmp_order(const void *a, const void *b) {
  const s_order_t *x = a, *y = b;
  if (x->lane != y->lane) return x->lane < y->lane ? -1 : 1;
  if (x->rank != y->rank) return x->rank < y->rank ? -1 : 1;
  return x->ev < y->ev ? -1 : x->ev > y->ev;
}

static bool s_alarm_kind(const char *kind) {
  static const char *const words[] = {"error",  "fault", "fail",  "timeout", "nrc",    "drop",
                                      "reject", "lost",  "crash", "busoff",  "bus_off"};
  for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
    if (strstr(kind, words[i])) return true;
  return false;
}

static void s_chart_range(const dd_tl_series_t *s, double *lo, double *hi) {
  double a = s->min, b = s->max;
  if (!isfinite(a) || !isfinite(b)) {
    *lo = 0;
    *hi = 1;
    return;
  }
  if (a > 0) a = 0; /* counts, loads and times read best from zero */
  bool pct = strstr(s->field, "pct") || strstr(s->field, "percent");
  if (pct && b <= 100 && a >= 0) b = 100;
  if (b <= a) b = a + 1;
  /* Round the top up to 1, 2 or 5 times a power of ten. */
  double range = b - a;
  double p = pow(10, floor(log10(range)));
  if (isfinite(p) && p > 0) {
    double m = range / p;
    static const double steps[] = {1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10};
    double nice = 10;
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++)
      if (m <= steps[i] + 1e-9) {
        nice = steps[i];
        break;
      }
    if (isfinite(a + nice * p)) b = a + nice * p;
  }
  *lo = a;
  *hi = b;
}

static int s_build(dd_viewer_t *self) {
  const dd_timeline_t *tl = self->tl;
  size_t n = dd_timeline_count(tl);
  size_t nf = dd_timeline_family_count(tl);
  size_t nk = dd_timeline_kind_count(tl);
  size_t nl = dd_timeline_lane_count(tl);
  size_t ns = dd_timeline_series_count(tl);
  int rc = DD_ENOMEM;
  size_t *fam_sorted = calloc(nf ? nf : 1, sizeof *fam_sorted);
  size_t *rank = calloc(nf ? nf : 1, sizeof *rank);
  self->fam_rgb = calloc(nf ? nf : 1, sizeof *self->fam_rgb);
  self->kind_alarm = calloc(nk ? nk : 1, sizeof *self->kind_alarm);
  self->kind_short = calloc(nk ? nk : 1, sizeof *self->kind_short);
  self->order = calloc(n ? n : 1, sizeof *self->order);
  self->verdict_label = calloc(n ? n : 1, sizeof *self->verdict_label);
  self->lanes = calloc(nl ? nl : 1, sizeof *self->lanes);
  /* Rows: at most one per (lane, family) present, so no more than events or lanes*families;
   * plus one per series. */
  size_t max_rows = (n ? n : 1) + ns;
  self->rows = calloc(max_rows, sizeof *self->rows);
  self->span_open = calloc(n ? n : 1, sizeof *self->span_open);
  self->row_of_event = calloc(n ? n : 1, sizeof *self->row_of_event);
  self->lane_spans = calloc(dd_timeline_span_count(tl) + 1, sizeof *self->lane_spans);
  self->lane_span_off = calloc(nl + 1, sizeof *self->lane_span_off);
  if (!self->span_open || !self->row_of_event || !self->lane_spans || !self->lane_span_off)
    goto out;
  if (!fam_sorted || !rank || !self->fam_rgb || !self->kind_alarm || !self->kind_short ||
      !self->order || !self->verdict_label || !self->lanes || !self->rows)
    goto out;
  self->n_lanes = nl;

  for (size_t f = 0; f < nf; f++) {
    fam_sorted[f] = f;
    self->fam_rgb[f] = s_family_rgb(dd_timeline_family_name(tl, f));
  }
  for (size_t a = 1; a < nf; a++) /* few families: insertion sort */
    for (size_t b = a; b > 0 && s_family_cmp(dd_timeline_family_name(tl, fam_sorted[b - 1]),
                                             dd_timeline_family_name(tl, fam_sorted[b])) > 0;
         b--) {
      size_t t = fam_sorted[b];
      fam_sorted[b] = fam_sorted[b - 1];
      fam_sorted[b - 1] = t;
    }
  for (size_t f = 0; f < nf; f++)
    rank[fam_sorted[f]] = f;
  for (size_t k = 0; k < nk; k++) {
    const char *kind = dd_timeline_kind_name(tl, k);
    const char *dot = strchr(kind, '.');
    self->kind_alarm[k] = s_alarm_kind(kind);
    self->kind_short[k] = strdup(dot && dot[1] ? dot + 1 : kind);
    if (!self->kind_short[k]) goto out;
  }

  /* Verdict labels: "FAIL name" (the expectation's name when it has one). */
  for (size_t i = 0; i < n; i++) {
    const dd_tl_event_t *e = dd_timeline_event(tl, i);
    if (e->verdict == DD_TL_VERDICT_NONE) continue;
    json_t *o = dd_timeline_event_object(tl, i);
    if (!o) goto out;
    const char *name = json_string_value(json_object_get(o, "name"));
    const char *vtext = json_string_value(json_object_get(o, "verdict"));
    char buf[256];
    snprintf(buf, sizeof buf, "%s %s", vtext ? vtext : "?",
             name ? name : dd_timeline_kind_name(tl, e->kind));
    json_decref(o);
    self->verdict_label[i] = strdup(buf);
    if (!self->verdict_label[i]) goto out;
  }

  /* Events grouped by (lane, family rank), time order inside. */
  s_order_t *ord = malloc((n ? n : 1) * sizeof *ord);
  if (!ord) goto out;
  for (size_t i = 0; i < n; i++) {
    const dd_tl_event_t *e = dd_timeline_event(tl, i);
    ord[i] = (s_order_t){.lane = e->lane, .rank = rank[e->family], .ev = i};
  }
  qsort(ord, n, sizeof *ord, s_cmp_order);
  for (size_t i = 0; i < n; i++)
    self->order[i] = ord[i].ev;
  free(ord);

  int y = 0;
  size_t i = 0;
  for (size_t l = 0; l < nl; l++) {
    s_lane_t *ln = &self->lanes[l];
    ln->y = y;
    ln->row0 = self->n_rows;
    int ry = y + S_LANE_PAD;
    while (i < n && dd_timeline_event(tl, self->order[i])->lane == l) {
      size_t start = i;
      uint32_t fam = dd_timeline_event(tl, self->order[i])->family;
      while (i < n && dd_timeline_event(tl, self->order[i])->lane == l &&
             dd_timeline_event(tl, self->order[i])->family == fam)
        i++;
      s_row_t *row = &self->rows[self->n_rows++];
      *row = (s_row_t){.lane = (uint32_t)l,
                       .family = fam,
                       .y = ry,
                       .h = S_ROW_H,
                       .ev = &self->order[start],
                       .n = i - start};
      ry += S_ROW_H;
    }
    for (size_t s = 0; s < ns; s++) {
      const dd_tl_series_t *se = dd_timeline_series(tl, s);
      if (se->lane != l) continue;
      s_row_t *row = &self->rows[self->n_rows++];
      *row = (s_row_t){
          .lane = (uint32_t)l, .family = UINT32_MAX, .series = s, .y = ry + 4, .h = S_CHART_H - 8};
      s_chart_range(se, &row->lo, &row->hi);
      ry += S_CHART_H;
    }
    ln->n_rows = self->n_rows - ln->row0;
    ln->h = ry + S_LANE_PAD - y;
    y += ln->h;
  }
  self->content_h = y;
  for (size_t k = 0; k < self->n_rows; k++)
    for (size_t j = 0; j < self->rows[k].n; j++)
      self->row_of_event[self->rows[k].ev[j]] = &self->rows[k];

  /* Transaction spans grouped by the lane of their request. */
  size_t nsp = dd_timeline_span_count(tl);
  for (size_t k = 0; k < nsp; k++) {
    const dd_tl_span_t *sp = dd_timeline_span(tl, k);
    if (sp->type != DD_TL_SPAN_TRANSACTION) continue;
    self->span_open[sp->begin] = k + 1;
    self->lane_span_off[dd_timeline_event(tl, sp->begin)->lane + 1]++;
  }
  for (size_t l = 0; l < nl; l++)
    self->lane_span_off[l + 1] += self->lane_span_off[l];
  size_t *fill_at = calloc(nl ? nl : 1, sizeof *fill_at);
  if (!fill_at) goto out;
  for (size_t l = 0; l < nl; l++)
    fill_at[l] = self->lane_span_off[l];
  for (size_t k = 0; k < nsp; k++) {
    const dd_tl_span_t *sp = dd_timeline_span(tl, k);
    if (sp->type != DD_TL_SPAN_TRANSACTION) continue;
    self->lane_spans[fill_at[dd_timeline_event(tl, sp->begin)->lane]++] = k;
  }
  free(fill_at);
  rc = 0;
out:
  free(fam_sorted);
  free(rank);
  return rc;
}

/* ---- geometry of the current frame ---- */

static bool s_panel_open(const dd_viewer_t *self) { return self->sel >= 0; }

void dd_viewer_plot_rect(dd_viewer_t *self, SDL_Rect *out) {
  int top = S_TITLE_H + S_SUMMARY_H + S_AXIS_H;
  int right = self->w - S_MARGIN_R - (s_panel_open(self) ? S_PANEL_W : 0);
  out->x = S_LABEL_W;
  out->y = top;
  out->w = right - S_LABEL_W;
  if (out->w < 50) out->w = 50;
  out->h = self->h - top - S_LEGEND_H - S_STATUS_H;
  if (out->h < 20) out->h = 20;
}

static double s_x_of(const dd_viewer_t *self, const SDL_Rect *p, double t_rel) {
  return p->x + (t_rel - self->t0) * p->w / (self->t1 - self->t0);
}

static double s_t_of(const dd_viewer_t *self, const SDL_Rect *p, double x) {
  return self->t0 + (x - p->x) * (self->t1 - self->t0) / p->w;
}

static double s_rel(const dd_viewer_t *self, int64_t t_us) { return (double)(t_us - self->origin); }

static void s_clamp_scroll(dd_viewer_t *self) {
  SDL_Rect p;
  dd_viewer_plot_rect(self, &p);
  int max = self->content_h - p.h;
  if (max < 0) max = 0;
  if (self->scroll > max) self->scroll = max;
  if (self->scroll < 0) self->scroll = 0;
}

/* The first event of a row with time >= t (index into row->ev). */
static size_t s_row_lower(const dd_viewer_t *self, const s_row_t *row, double t_rel) {
  size_t lo = 0, hi = row->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (s_rel(self, dd_timeline_event(self->tl, row->ev[mid])->t_us) < t_rel)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

static size_t s_series_lower(const dd_viewer_t *self, const dd_tl_series_t *s, double t_rel) {
  size_t lo = 0, hi = s->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (s_rel(self, s->t_us[mid]) < t_rel)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

static double s_chart_y(const s_row_t *row, int top, double v) {
  double f = (v - row->lo) / (row->hi - row->lo);
  if (!isfinite(f)) f = 0;
  if (f < -0.05) f = -0.05;
  if (f > 1.05) f = 1.05;
  /* The top S_CHART_HEAD pixels hold the chart's caption. */
  return top + row->h - 3 - f * (row->h - 3 - S_CHART_HEAD);
}

/* ---- the picture ---- */

static void s_draw_title(dd_viewer_t *self, SDL_Renderer *r) {
  s_fill(r, 0, 0, self->w, S_TITLE_H, s_col(S_C_TITLE));
  char t[400];
  snprintf(t, sizeof t, "duodiag timeline \xE2\x80\x94 %s", self->title);
  int sub_w = self->subtitle[0] ? s_text_w(self, S_F_REG, self->subtitle) : 0;
  if (sub_w > self->w / 2) sub_w = self->w / 2;
  s_text_mid(self, r, S_F_TITLE, t, s_col(S_C_WHITE), 16, S_TITLE_H / 2, S_LEFT,
             self->w - 48 - sub_w);
  if (self->subtitle[0])
    s_text_mid(self, r, S_F_REG, self->subtitle, s_col(S_C_TITLE_SUB), self->w - 16, S_TITLE_H / 2,
               S_RIGHT, self->w / 2);
}

/* One summary chip: a bold value and a muted caption. Returns the next x. */
static int s_chip(dd_viewer_t *self, SDL_Renderer *r, int x, int cy, const char *value,
                  uint32_t value_rgb, const char *caption) {
  int w = s_text_mid(self, r, S_F_BOLD, value, s_col(value_rgb), x, cy, S_LEFT, 0);
  if (caption)
    w += 5 + s_text_mid(self, r, S_F_REG, caption, s_col(S_C_MUTED), x + w + 5, cy, S_LEFT, 0);
  return x + w + 22;
}

static void s_draw_summary(dd_viewer_t *self, SDL_Renderer *r) {
  const dd_timeline_t *tl = self->tl;
  int y = S_TITLE_H;
  s_fill(r, 0, y, self->w, S_SUMMARY_H, s_col(S_C_WHITE));
  s_hline(r, 0, self->w, y + S_SUMMARY_H - 1, s_col(S_C_BORDER));
  int cy = y + S_SUMMARY_H / 2;
  char a[96], b[64];
  int x = 16;
  s_fmt_count(dd_timeline_count(tl), a, sizeof a);
  x = s_chip(self, r, x, cy, a, S_C_TEXT, dd_timeline_count(tl) == 1 ? "event" : "events");
  s_fmt_count(dd_timeline_lane_count(tl), a, sizeof a);
  x = s_chip(self, r, x, cy, a, S_C_TEXT,
             dd_timeline_lane_count(tl) == 1 ? "process" : "processes");
  s_fmt_dur(self->span, a, sizeof a);
  x = s_chip(self, r, x, cy, a, S_C_TEXT, "duration");
  size_t pass = dd_timeline_verdicts(tl, DD_TL_VERDICT_PASS);
  size_t fail = dd_timeline_verdicts(tl, DD_TL_VERDICT_FAIL);
  size_t skip = dd_timeline_verdicts(tl, DD_TL_VERDICT_SKIP);
  size_t other = dd_timeline_verdicts(tl, DD_TL_VERDICT_OTHER);
  if (pass + fail + skip + other == 0) {
    x = s_chip(self, r, x, cy, "no", S_C_MUTED, "verdicts");
  } else {
    /* A coloured badge with the overall result, then the counts. */
    const char *overall = fail || other ? "FAILED" : "PASSED";
    uint32_t rgb = fail || other ? S_C_FAIL : S_C_PASS;
    int bw = s_text_w(self, S_F_SMALLBOLD, overall) + 14;
    s_fill(r, x, cy - 10, bw, 20, s_col(rgb));
    s_text_mid(self, r, S_F_SMALLBOLD, overall, s_col(S_C_WHITE), x + bw / 2, cy, S_CENTER, 0);
    x += bw + 10;
    snprintf(a, sizeof a, "%zu", pass);
    x = s_chip(self, r, x, cy, a, S_C_PASS, "PASS");
    snprintf(a, sizeof a, "%zu", fail);
    x = s_chip(self, r, x, cy, a, fail ? S_C_FAIL : S_C_MUTED, "FAIL");
    if (skip) {
      snprintf(a, sizeof a, "%zu", skip);
      x = s_chip(self, r, x, cy, a, S_C_SKIP, "SKIP");
    }
    if (other) {
      snprintf(a, sizeof a, "%zu", other);
      x = s_chip(self, r, x, cy, a, S_C_OTHER, "other");
    }
  }
  if (dd_timeline_malformed(tl)) {
    s_fmt_count(dd_timeline_malformed(tl), a, sizeof a);
    x = s_chip(self, r, x, cy, a, S_C_FAIL,
               dd_timeline_malformed(tl) == 1 ? "malformed line" : "malformed lines");
  }
  if (dd_timeline_count(tl)) {
    s_fmt_wall(dd_timeline_event(tl, 0)->wall_us, b, sizeof b, false);
    if (strcmp(b, "-") != 0) {
      snprintf(a, sizeof a, "started %s", b);
      s_text_mid(self, r, S_F_REG, a, s_col(S_C_MUTED), self->w - 16, cy, S_RIGHT, 0);
    }
  }
  (void)x;
}

/* Tick step (1, 2 or 5 times a power of ten microseconds) for about one label per 120 px. */
static double s_tick_step(double span_us, int plot_w) {
  double raw = span_us * 120.0 / (plot_w > 0 ? plot_w : 1);
  if (raw < 1) raw = 1;
  double p = pow(10, floor(log10(raw)));
  double m = raw / p;
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
}

static void s_draw_axis(dd_viewer_t *self, SDL_Renderer *r, const SDL_Rect *p) {
  int y = p->y - S_AXIS_H;
  s_fill(r, 0, y, self->w - (s_panel_open(self) ? S_PANEL_W : 0), S_AXIS_H, s_col(S_C_PAGE));
  s_hline(r, p->x, p->x + p->w, p->y - 1, s_col(S_C_BORDER));
  s_text_mid(self, r, S_F_SMALL, "time since first event", s_col(S_C_MUTED), S_LABEL_W - 10,
             y + S_AXIS_H / 2, S_RIGHT, S_LABEL_W - 14);
  double step = s_tick_step(self->t1 - self->t0, p->w);
  double first = ceil(self->t0 / step) * step;
  for (int k = 0; k < 400; k++) {
    double t = first + k * step;
    if (t > self->t1) break;
    int x = s_px(s_x_of(self, p, t));
    s_vline(r, x, p->y - 6, p->y - 1, s_col(S_C_MUTED));
    char lab[64];
    s_fmt_axis(t, step, lab, sizeof lab);
    int lw = s_text_w(self, S_F_SMALL, lab);
    if (x - lw / 2 < p->x - 4 || x + lw / 2 > p->x + p->w + S_MARGIN_R) continue;
    s_text(self, r, S_F_SMALL, lab, s_col(S_C_TEXT), x, y + 4, S_CENTER, 0);
  }
}

static void s_draw_grid(dd_viewer_t *self, SDL_Renderer *r, const SDL_Rect *p) {
  double step = s_tick_step(self->t1 - self->t0, p->w);
  double first = ceil(self->t0 / step) * step;
  for (int k = 0; k < 400; k++) {
    double t = first + k * step;
    if (t > self->t1) break;
    s_vline(r, s_px(s_x_of(self, p, t)), p->y, p->y + p->h, s_col(S_C_GRID));
  }
}

static void s_draw_marker(dd_viewer_t *self, SDL_Renderer *r, const dd_tl_event_t *e, float x,
                          float y) {
  if (e->verdict != DD_TL_VERDICT_NONE) {
    uint32_t rgb = s_verdict_rgb(e->verdict);
    s_diamond(r, s_px(x), s_px(y), 8, s_col(S_C_WHITE));
    s_diamond(r, s_px(x), s_px(y), 6, s_col(rgb));
    return;
  }
  uint32_t rgb = self->fam_rgb[e->family];
  if (self->kind_alarm[e->kind]) {
    s_disc(r, x, y, 6.0f, s_col(S_C_FAIL));
    s_disc(r, x, y, 3.5f, s_col(rgb));
    return;
  }
  s_disc(r, x, y, 4.5f, s_col(s_darker(rgb)));
  s_disc(r, x, y, 3.5f, s_col(rgb));
}

static void s_draw_row_events(dd_viewer_t *self, SDL_Renderer *r, const SDL_Rect *p,
                              const s_row_t *row, int top) {
  double px_us = (self->t1 - self->t0) / p->w;
  size_t i = s_row_lower(self, row, self->t0 - S_HIT_PX * px_us);
  float cy = (float)(top + row->h / 2);
  for (; i < row->n; i++) {
    size_t ei = row->ev[i];
    const dd_tl_event_t *e = dd_timeline_event(self->tl, ei);
    double t = s_rel(self, e->t_us);
    if (t > self->t1 + S_HIT_PX * px_us) break;
    double xf = s_x_of(self, p, t);
    int x = s_px(xf);
    /* Events within 2 pixels of this one are one marker, labelled with their count
     * (verdicts are always drawn one by one). */
    size_t j = i + 1;
    if (e->verdict == DD_TL_VERDICT_NONE)
      while (j < row->n) {
        const dd_tl_event_t *f = dd_timeline_event(self->tl, row->ev[j]);
        if (f->verdict != DD_TL_VERDICT_NONE || s_x_of(self, p, s_rel(self, f->t_us)) > xf + 2)
          break;
        j++;
      }
    size_t cluster = j - i;
    const dd_tl_event_t *shown = dd_timeline_event(self->tl, row->ev[j - 1]);
    /* An error-like event in a cluster is the one that shows. */
    for (size_t k = i; k < j; k++)
      if (self->kind_alarm[dd_timeline_event(self->tl, row->ev[k])->kind])
        shown = dd_timeline_event(self->tl, row->ev[k]);
    s_draw_marker(self, r, shown, (float)x + 0.5f, cy);
    i = j - 1;
    /* A label when there is room before the next marker of the row. */
    double next_x = p->x + p->w + 200.0;
    if (j < row->n)
      next_x = s_x_of(self, p, s_rel(self, dd_timeline_event(self->tl, row->ev[j])->t_us));
    char text[160];
    int font = S_F_SMALL;
    SDL_Color c = s_col(S_C_MUTED);
    if (e->verdict != DD_TL_VERDICT_NONE) {
      snprintf(text, sizeof text, "%s",
               self->verdict_label[ei] ? self->verdict_label[ei] : self->kind_short[e->kind]);
      font = S_F_SMALLBOLD;
      c = s_col(s_verdict_rgb(e->verdict));
    } else if (cluster > 1) {
      snprintf(text, sizeof text, "%s \xC3\x97%zu", self->kind_short[shown->kind], cluster);
    } else if (self->span_open[ei]) {
      const dd_tl_span_t *sp = dd_timeline_span(self->tl, self->span_open[ei] - 1);
      s_fmt_dur((double)(dd_timeline_event(self->tl, sp->end)->t_us - e->t_us), text, sizeof text);
      c = s_col(S_C_TEXT);
    } else {
      snprintf(text, sizeof text, "%s", self->kind_short[e->kind]);
    }
    int room = (int)fmin(next_x - x - 20.0, (double)(p->x + p->w - x - 12));
    if (room < 40) continue;
    int w = s_text_w(self, font, text);
    if (w > room && room < 90) continue;
    s_text_mid(self, r, font, text, c, x + 9, (int)cy, S_LEFT, room);
  }
}

/* The chart's captions in the label column: field name, top and bottom values. */
static void s_draw_chart_labels(dd_viewer_t *self, SDL_Renderer *r, const SDL_Rect *p,
                                const s_row_t *row, int top) {
  const dd_tl_series_t *s = dd_timeline_series(self->tl, row->series);
  char hi[32], lo[32];
  s_fmt_value(row->hi, hi, sizeof hi);
  s_fmt_value(row->lo, lo, sizeof lo);
  s_text(self, r, S_F_SMALL, hi, s_col(S_C_MUTED), p->x - 6,
         top + S_CHART_HEAD - self->font_h[S_F_SMALL] / 2, S_RIGHT, 0);
  s_text(self, r, S_F_SMALL, lo, s_col(S_C_MUTED), p->x - 6, top + row->h - self->font_h[S_F_SMALL],
         S_RIGHT, 0);
  s_text_mid(self, r, S_F_SMALLBOLD, s->field, s_col(S_C_TEXT), S_LABEL_W - 46, top + row->h / 2,
             S_RIGHT, S_LABEL_W - 60);
}

static void s_draw_chart(dd_viewer_t *self, SDL_Renderer *r, const SDL_Rect *p, const s_row_t *row,
                         int top) {
  const dd_tl_series_t *s = dd_timeline_series(self->tl, row->series);
  const dd_tl_event_t *any = s->n ? dd_timeline_event(self->tl, s->event[0]) : NULL;
  uint32_t rgb = any ? self->fam_rgb[any->family] : S_C_MUTED;
  /* Frame and mid line. */
  s_fill(r, p->x, top, p->w, row->h, S_RGBA(S_C_WHITE, 255));
  SDL_SetRenderDrawColor(r, 0xD8, 0xDE, 0xE4, 255);
  SDL_RenderDrawRect(r, &(SDL_Rect){p->x, top, p->w, row->h});
  s_hline(r, p->x + 1, p->x + p->w - 2, s_px(s_chart_y(row, top, (row->lo + row->hi) / 2)),
          s_col(0xEEF1F4));
  s_hline(r, p->x + 1, p->x + p->w - 2, s_px(s_chart_y(row, top, row->hi)), s_col(0xEEF1F4));

  /* The line: points in the window plus one on each side, one vertical stroke per pixel
   * column where many points fall together. */
  SDL_Rect clip = {0, 0, self->w, self->h};
  if (SDL_RenderIsClipEnabled(r)) SDL_RenderGetClipRect(r, &clip);
  SDL_Rect inner = {p->x + 1, top + 1, p->w - 2, row->h - 2};
  SDL_Rect cl;
  if (!SDL_IntersectRect(&inner, &clip, &cl)) return;
  SDL_RenderSetClipRect(r, &cl);
  size_t i = s_series_lower(self, s, self->t0);
  if (i > 0) i--;
  SDL_Color c = s_col(rgb);
  SDL_Color fill = S_RGBA(rgb, 40);
  float base = (float)s_chart_y(row, top, row->lo > 0 ? row->lo : 0 < row->hi ? 0 : row->hi);
  double prev_x = 0, prev_y = 0;
  bool have_prev = false;
  for (; i < s->n; i++) {
    double x = s_x_of(self, p, s_rel(self, s->t_us[i]));
    double y = s_chart_y(row, top, s->value[i]);
    if (x < -1e5 || x > 1e5) {
      if (x > 1e5 && have_prev) {
        /* Last segment towards a far point: cut at the plot's edge. */
        double xe = p->x + p->w + 2.0;
        double ye = prev_y + (y - prev_y) * (xe - prev_x) / (x - prev_x);
        s_thick_line(r, (float)prev_x, (float)prev_y, (float)xe, (float)ye, c);
        break;
      }
      prev_x = x;
      prev_y = y;
      have_prev = x > -1e5;
      continue;
    }
    if (have_prev) {
      if (prev_x < -1e5) { /* first in-range point after a far one */
        double xs = p->x - 2.0;
        prev_y = prev_y + (y - prev_y) * (xs - prev_x) / (x - prev_x);
        prev_x = xs;
      }
      SDL_Vertex v[4] = {{{(float)prev_x, (float)prev_y}, fill, {0, 0}},
                         {{(float)x, (float)y}, fill, {0, 0}},
                         {{(float)x, base}, fill, {0, 0}},
                         {{(float)prev_x, base}, fill, {0, 0}}};
      int idx[6] = {0, 1, 2, 0, 2, 3};
      SDL_RenderGeometry(r, NULL, v, 4, idx, 6);
      s_thick_line(r, (float)prev_x, (float)prev_y, (float)x, (float)y, c);
    }
    if (x > p->x + p->w + 2) break;
    prev_x = x;
    prev_y = y;
    have_prev = true;
  }
  /* Points when they are far enough apart to be told apart. */
  size_t j0 = s_series_lower(self, s, self->t0);
  size_t j1 = s_series_lower(self, s, self->t1 + 1);
  if (j1 > j0 && (double)p->w / (double)(j1 - j0) >= 7.0)
    for (size_t j = j0; j < j1; j++)
      s_disc(r, (float)s_x_of(self, p, s_rel(self, s->t_us[j])),
             (float)s_chart_y(row, top, s->value[j]), 2.5f, c);
  SDL_RenderSetClipRect(r, &clip);
  /* Series name and the last visible value, top left inside the chart. */
  char name[160];
  if (j1 > 0) {
    char v[32];
    s_fmt_value(s->value[j1 - 1], v, sizeof v);
    snprintf(name, sizeof name, "%s  (%zu points, last %s)", s->name, s->n, v);
  } else {
    snprintf(name, sizeof name, "%s  (%zu points)", s->name, s->n);
  }
  s_text(self, r, S_F_SMALL, name, s_col(S_C_MUTED), p->x + 6, top + 1, S_LEFT, p->w - 12);
}

/* Request -> response bars of one lane, under its markers. */
static void s_draw_spans(dd_viewer_t *self, SDL_Renderer *r, const SDL_Rect *p, size_t lane,
                         int base) {
  for (size_t k = self->lane_span_off[lane]; k < self->lane_span_off[lane + 1]; k++) {
    const dd_tl_span_t *sp = dd_timeline_span(self->tl, self->lane_spans[k]);
    const dd_tl_event_t *b = dd_timeline_event(self->tl, sp->begin);
    const dd_tl_event_t *e = dd_timeline_event(self->tl, sp->end);
    double x0 = s_x_of(self, p, s_rel(self, b->t_us));
    double x1 = s_x_of(self, p, s_rel(self, e->t_us));
    if (x1 < p->x || x0 > p->x + p->w) continue;
    const s_row_t *row = self->row_of_event[sp->begin];
    if (!row) continue;
    int cy = base + row->y + row->h / 2;
    int a = s_px(x0 < p->x - 10 ? p->x - 10 : x0);
    int z = s_px(x1 > p->x + p->w + 10 ? p->x + p->w + 10 : x1);
    uint32_t rgb = self->fam_rgb[b->family];
    s_fill(r, a, cy - 4, z - a + 1, 9, S_RGBA(rgb, 70));
    s_vline(r, z, cy - 5, cy + 5, s_col(s_darker(rgb)));
  }
}

static void s_draw_lanes(dd_viewer_t *self, SDL_Renderer *r, const SDL_Rect *p) {
  SDL_Rect area = {0, p->y, p->x + p->w + S_MARGIN_R, p->h};
  SDL_RenderSetClipRect(r, &area);
  s_fill(r, 0, p->y, S_LABEL_W, p->h, s_col(S_C_LABEL));
  s_fill(r, p->x, p->y, p->w, p->h, s_col(S_C_WHITE));
  s_draw_grid(self, r, p);
  int base = p->y - self->scroll;
  /* Pass 1: backgrounds and the label column. */
  for (size_t l = 0; l < self->n_lanes; l++) {
    const s_lane_t *ln = &self->lanes[l];
    int top = base + ln->y;
    if (top > p->y + p->h || top + ln->h < p->y) continue;
    const dd_tl_lane_t *tl_lane = dd_timeline_lane(self->tl, l);
    if (l % 2) {
      s_fill(r, p->x, top, p->w, ln->h, S_RGBA(0x8C9BAB, 22));
      s_fill(r, 0, top, S_LABEL_W, ln->h, S_RGBA(0x8C9BAB, 22));
    }
    s_hline(r, 0, p->x + p->w, top + ln->h - 1, s_col(S_C_BORDER));
    s_text(self, r, S_F_BOLD, tl_lane->name, s_col(S_C_TEXT), 10, top + S_LANE_PAD + 2, S_LEFT,
           S_LABEL_W - 84);
    char cnt[48], cnt2[64];
    s_fmt_count(tl_lane->n_events, cnt, sizeof cnt);
    snprintf(cnt2, sizeof cnt2, "%s ev", cnt);
    s_text(self, r, S_F_SMALL, cnt2, s_col(S_C_MUTED), 10,
           top + S_LANE_PAD + 4 + self->font_h[S_F_BOLD], S_LEFT, S_LABEL_W - 84);
    for (size_t k = 0; k < ln->n_rows; k++) {
      const s_row_t *row = &self->rows[ln->row0 + k];
      int rt = base + row->y;
      if (row->family == UINT32_MAX) {
        s_draw_chart_labels(self, r, p, row, rt);
        continue;
      }
      int cy = rt + row->h / 2;
      s_disc(r, (float)(S_LABEL_W - 10), (float)cy, 3.5f, s_col(self->fam_rgb[row->family]));
      s_text_mid(self, r, S_F_SMALL, dd_timeline_family_name(self->tl, row->family),
                 s_col(S_C_MUTED), S_LABEL_W - 18, cy, S_RIGHT, 70);
    }
  }
  s_vline(r, S_LABEL_W - 1, p->y, p->y + p->h, s_col(S_C_BORDER));
  /* Pass 2: inside the plot only: life lines, spans, markers, charts. */
  SDL_RenderSetClipRect(r, p);
  for (size_t l = 0; l < self->n_lanes; l++) {
    const s_lane_t *ln = &self->lanes[l];
    int top = base + ln->y;
    if (top > p->y + p->h || top + ln->h < p->y) continue;
    const dd_tl_lane_t *tl_lane = dd_timeline_lane(self->tl, l);
    /* Life line of the process in each row: its first to its last event. */
    int xa = s_px(s_x_of(self, p, s_rel(self, tl_lane->first_us)));
    int xb = s_px(s_x_of(self, p, s_rel(self, tl_lane->last_us)));
    if (xa < p->x) xa = p->x;
    if (xb > p->x + p->w) xb = p->x + p->w;
    for (size_t k = 0; k < ln->n_rows; k++) {
      const s_row_t *row = &self->rows[ln->row0 + k];
      if (row->family != UINT32_MAX && xb >= xa)
        s_hline(r, xa, xb, base + row->y + row->h / 2, s_col(0xD0D7DE));
    }
    s_draw_spans(self, r, p, l, base);
    for (size_t k = 0; k < ln->n_rows; k++) {
      const s_row_t *row = &self->rows[ln->row0 + k];
      if (row->family == UINT32_MAX)
        s_draw_chart(self, r, p, row, base + row->y);
      else
        s_draw_row_events(self, r, p, row, base + row->y);
    }
  }
  SDL_RenderSetClipRect(r, NULL);
}

/* Vertical lines through all lanes at failures and at the selected event. */
static void s_draw_markers_across(dd_viewer_t *self, SDL_Renderer *r, const SDL_Rect *p) {
  SDL_RenderSetClipRect(r, p);
  size_t n = dd_timeline_count(self->tl);
  if (dd_timeline_verdicts(self->tl, DD_TL_VERDICT_FAIL) ||
      dd_timeline_verdicts(self->tl, DD_TL_VERDICT_OTHER)) {
    size_t i = dd_timeline_lower_bound(self->tl, self->origin + (int64_t)floor(self->t0));
    for (; i < n; i++) {
      const dd_tl_event_t *e = dd_timeline_event(self->tl, i);
      double t = s_rel(self, e->t_us);
      if (t > self->t1) break;
      if (e->verdict != DD_TL_VERDICT_FAIL && e->verdict != DD_TL_VERDICT_OTHER) continue;
      int x = s_px(s_x_of(self, p, t));
      s_fill(r, x - 1, p->y, 3, p->h, S_RGBA(S_C_FAIL, 60));
    }
  }
  if (self->sel >= 0 && (size_t)self->sel < n) {
    int x, y;
    if (dd_viewer_event_xy(self, (size_t)self->sel, &x, &y) == 0) {
      s_dashed_vline(r, x, p->y, p->y + p->h, s_col(S_C_SELECT));
      SDL_RenderSetClipRect(r, p);
      SDL_SetRenderDrawColor(r, 0x0B, 0x5C, 0xD5, 255);
      for (int k = 0; k < 2; k++)
        SDL_RenderDrawRect(r, &(SDL_Rect){x - 9 - k, y - 9 - k, 19 + 2 * k, 19 + 2 * k});
    }
  }
  SDL_RenderSetClipRect(r, NULL);
}

static void s_draw_legend(dd_viewer_t *self, SDL_Renderer *r, const SDL_Rect *p) {
  int y = p->y + p->h;
  int w = self->w - (s_panel_open(self) ? S_PANEL_W : 0);
  s_fill(r, 0, y, w, S_LEGEND_H, s_col(S_C_PAGE));
  s_hline(r, 0, w, y, s_col(S_C_BORDER));
  int cy = y + S_LEGEND_H / 2;
  int x = 12;
  x += s_text_mid(self, r, S_F_SMALLBOLD, "kind families", s_col(S_C_MUTED), x, cy, S_LEFT, 0) + 12;
  size_t nf = dd_timeline_family_count(self->tl);
  for (size_t f = 0; f < nf && x < w - 360; f++) {
    s_disc(r, (float)x + 4, (float)cy, 5.0f, s_col(self->fam_rgb[f]));
    x += 13;
    x += s_text_mid(self, r, S_F_SMALL, dd_timeline_family_name(self->tl, f), s_col(S_C_TEXT), x,
                    cy, S_LEFT, 0) +
         14;
  }
  x += 8;
  s_disc(r, (float)x + 5, (float)cy, 6.0f, s_col(S_C_FAIL));
  s_disc(r, (float)x + 5, (float)cy, 3.5f, s_col(S_C_MUTED));
  x += 15;
  x += s_text_mid(self, r, S_F_SMALL, "error-like kind", s_col(S_C_TEXT), x, cy, S_LEFT, 0) + 14;
  s_diamond(r, x + 5, cy, 6, s_col(S_C_PASS));
  x += 15;
  x += s_text_mid(self, r, S_F_SMALL, "PASS", s_col(S_C_TEXT), x, cy, S_LEFT, 0) + 12;
  s_diamond(r, x + 5, cy, 6, s_col(S_C_FAIL));
  x += 15;
  x += s_text_mid(self, r, S_F_SMALL, "FAIL", s_col(S_C_TEXT), x, cy, S_LEFT, 0) + 14;
  s_thick_line(r, (float)x, (float)cy + 3, (float)x + 16, (float)cy - 3, s_col(S_C_MUTED));
  x += 22;
  s_text_mid(self, r, S_F_SMALL, "numeric series", s_col(S_C_TEXT), x, cy, S_LEFT, 0);
}

static void s_draw_status(dd_viewer_t *self, SDL_Renderer *r) {
  int y = self->h - S_STATUS_H;
  s_fill(r, 0, y, self->w, S_STATUS_H, s_col(0xE6EAEF));
  s_hline(r, 0, self->w, y, s_col(S_C_BORDER));
  int cy = y + S_STATUS_H / 2;
  const char *help =
      "wheel/+/\xE2\x88\x92 zoom \xC2\xB7 drag/\xE2\x86\x90\xE2\x86\x92 pan \xC2\xB7 "
      "\xE2\x86\x91\xE2\x86\x93 scroll \xC2\xB7 f fit \xC2\xB7 click details \xC2\xB7 "
      "q quit";
  int help_w = s_text_w(self, S_F_SMALL, help);
  s_text_mid(self, r, S_F_SMALL, help, s_col(S_C_MUTED), self->w - 12, cy, S_RIGHT, 0);
  char win[160], a[48], b[48], d[48];
  s_fmt_axis(self->t0, (self->t1 - self->t0) / 100, a, sizeof a);
  s_fmt_axis(self->t1, (self->t1 - self->t0) / 100, b, sizeof b);
  s_fmt_dur(self->t1 - self->t0, d, sizeof d);
  snprintf(win, sizeof win, "window %s \xE2\x80\x93 %s  (%s)", a, b, d);
  int x = 12;
  x += s_text_mid(self, r, S_F_SMALL, win, s_col(S_C_TEXT), x, cy, S_LEFT, 0) + 24;
  char msg[320];
  size_t bad = dd_timeline_malformed(self->tl);
  if (bad) {
    const dd_tl_issue_t *is = dd_timeline_issue(self->tl, 0);
    snprintf(msg, sizeof msg, "%zu malformed line%s skipped \xE2\x80\x94 line %lu: %s", bad,
             bad == 1 ? "" : "s", is->line, is->msg);
    s_text_mid(self, r, S_F_SMALLBOLD, msg, s_col(S_C_FAIL), x, cy, S_LEFT,
               self->w - 24 - help_w - x);
  } else {
    snprintf(msg, sizeof msg, "all lines read");
    s_text_mid(self, r, S_F_SMALL, msg, s_col(S_C_PASS), x, cy, S_LEFT, self->w - 24 - help_w - x);
  }
}

/* Field text for the panel and the tooltip: strings bare, everything else as JSON. */
static char *s_value_text(json_t *v) {
  if (json_is_string(v)) return strdup(json_string_value(v));
  return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(10));
}

static void s_free_fields(dd_viewer_t *self) {
  for (size_t i = 0; i < self->n_fields; i++)
    free(self->fields[i].value);
  free(self->fields);
  self->fields = NULL;
  self->n_fields = 0;
}

static int s_load_fields(dd_viewer_t *self, size_t ev) {
  s_free_fields(self);
  json_t *o = dd_timeline_event_object(self->tl, ev);
  if (!o) return DD_ENOMEM;
  size_t n = json_object_size(o);
  self->fields = calloc(n ? n : 1, sizeof *self->fields);
  if (!self->fields) {
    json_decref(o);
    return DD_ENOMEM;
  }
  const char *key;
  json_t *v;
  json_object_foreach(o, key, v) {
    if (!strcmp(key, "t_us") || !strcmp(key, "wall_us") || !strcmp(key, "proc") ||
        !strcmp(key, "kind"))
      continue;
    s_field_t *f = &self->fields[self->n_fields];
    snprintf(f->key, sizeof f->key, "%s", key);
    f->value = s_value_text(v);
    if (!f->value) break;
    self->n_fields++;
  }
  json_decref(o);
  return 0;
}

/* Draw text wrapped to width w from (x, y); returns the y below it (stops at y_max). */
static int s_wrapped(dd_viewer_t *self, SDL_Renderer *r, int font, const char *s, SDL_Color c,
                     int x, int y, int w, int y_max) {
  size_t len = strlen(s);
  size_t pos = 0;
  int lh = self->font_h[font];
  char line[512];
  while (pos < len && y + lh <= y_max) {
    /* The longest prefix (whole characters, at most 500 bytes) that fits. */
    size_t take = len - pos < 500 ? len - pos : 500;
    while (take > 0) {
      while (take > 0 && pos + take < len && ((unsigned char)s[pos + take] & 0xC0) == 0x80)
        take--;
      snprintf(line, sizeof line, "%.*s", (int)take, s + pos);
      if (s_text_w(self, font, line) <= w) break;
      size_t shorter = take * 3 / 4;
      take = shorter < take ? shorter : take - 1;
    }
    if (take == 0) take = 1;
    /* Grow back one character at a time to the exact fit. */
    for (;;) {
      size_t more = take + 1;
      while (pos + more < len && ((unsigned char)s[pos + more] & 0xC0) == 0x80)
        more++;
      if (pos + more > len || more > 500) break;
      snprintf(line, sizeof line, "%.*s", (int)more, s + pos);
      if (s_text_w(self, font, line) > w) break;
      take = more;
    }
    /* Break after a space when there is one in the second half of the line. */
    size_t next = take;
    if (pos + take < len && s[pos + take] != ' ')
      for (size_t k = take; k > take / 2; k--)
        if (s[pos + k - 1] == ' ') {
          take = next = k;
          break;
        }
    snprintf(line, sizeof line, "%.*s", (int)take, s + pos);
    if (y + 2 * lh > y_max && pos + take < len) {
      s_text(self, r, font, line, c, x, y, S_LEFT, w - 12);
      s_text(self, r, font, "\xE2\x80\xA6", c, x + w - 10, y, S_LEFT, 0);
      return y + lh;
    }
    s_text(self, r, font, line, c, x, y, S_LEFT, 0);
    y += lh;
    pos += next;
    while (pos < len && s[pos] == ' ')
      pos++;
  }
  return y;
}

static void s_draw_panel(dd_viewer_t *self, SDL_Renderer *r) {
  if (self->sel < 0) return;
  const dd_tl_event_t *e = dd_timeline_event(self->tl, (size_t)self->sel);
  int x0 = self->w - S_PANEL_W;
  int y0 = S_TITLE_H + S_SUMMARY_H;
  int y_max = self->h - S_STATUS_H - 8;
  s_fill(r, x0, y0, S_PANEL_W, self->h - S_STATUS_H - y0, s_col(S_C_WHITE));
  s_vline(r, x0, y0, self->h - S_STATUS_H, s_col(S_C_BORDER));
  int x = x0 + 16, w = S_PANEL_W - 32;
  int y = y0 + 12;
  s_text(self, r, S_F_SMALLBOLD, "SELECTED EVENT", s_col(S_C_MUTED), x, y, S_LEFT, 0);
  s_text(self, r, S_F_SMALL, "Esc closes", s_col(S_C_MUTED), x0 + S_PANEL_W - 16, y, S_RIGHT, 0);
  y += self->font_h[S_F_SMALL] + 8;
  uint32_t rgb =
      e->verdict != DD_TL_VERDICT_NONE ? s_verdict_rgb(e->verdict) : self->fam_rgb[e->family];
  int cy = y + self->font_h[S_F_TITLE] / 2;
  if (e->verdict != DD_TL_VERDICT_NONE)
    s_diamond(r, x + 6, cy, 7, s_col(rgb));
  else
    s_disc(r, (float)x + 6, (float)cy, 6.0f, s_col(rgb));
  s_text(self, r, S_F_TITLE, dd_timeline_kind_name(self->tl, e->kind), s_col(S_C_TEXT), x + 18, y,
         S_LEFT, w - 18);
  y += self->font_h[S_F_TITLE] + 6;
  if (e->verdict != DD_TL_VERDICT_NONE && self->verdict_label[self->sel]) {
    int bw = w;
    s_fill(r, x, y, bw, 26, s_col(rgb));
    s_text_mid(self, r, S_F_BOLD, self->verdict_label[self->sel], s_col(S_C_WHITE), x + 10, y + 13,
               S_LEFT, bw - 20);
    y += 34;
  }
  /* The event's place: process, time, line. */
  char t_rel[64], t_abs[64], wall[64], line[64];
  s_fmt_axis(s_rel(self, e->t_us), 1, t_rel, sizeof t_rel);
  snprintf(t_abs, sizeof t_abs, "%lld", (long long)e->t_us);
  s_fmt_wall(e->wall_us, wall, sizeof wall, true);
  snprintf(line, sizeof line, "%lu", e->line);
  const char *rows[][2] = {{"process", dd_timeline_lane(self->tl, e->lane)->name},
                           {"time", t_rel},
                           {"t_us", t_abs},
                           {"wall clock", wall},
                           {"timeline line", line}};
  int kx = x, vx = x + 96;
  for (size_t i = 0; i < sizeof rows / sizeof rows[0] && y < y_max; i++) {
    s_text(self, r, S_F_SMALL, rows[i][0], s_col(S_C_MUTED), kx, y + 1, S_LEFT, 90);
    y = s_wrapped(self, r, S_F_REG, rows[i][1], s_col(S_C_TEXT), vx, y, w - 96, y_max) + 4;
  }
  y += 6;
  s_hline(r, x, x + w, y, s_col(S_C_GRID));
  y += 8;
  char hdr[64];
  snprintf(hdr, sizeof hdr, "FIELDS (%zu)", self->n_fields);
  s_text(self, r, S_F_SMALLBOLD, hdr, s_col(S_C_MUTED), x, y, S_LEFT, 0);
  y += self->font_h[S_F_SMALLBOLD] + 6;
  if (self->n_fields == 0) {
    s_text(self, r, S_F_SMALL, "(none besides t_us, wall_us, proc and kind)", s_col(S_C_MUTED), x,
           y, S_LEFT, w);
    return;
  }
  int key_w = 0;
  for (size_t i = 0; i < self->n_fields; i++) {
    int kw = s_text_w(self, S_F_MONO, self->fields[i].key);
    if (kw > key_w) key_w = kw;
  }
  if (key_w > w / 2) key_w = w / 2;
  for (size_t i = 0; i < self->n_fields && y + self->font_h[S_F_MONO] <= y_max; i++) {
    const s_field_t *f = &self->fields[i];
    if (i % 2 == 0) {
      SDL_SetRenderDrawBlendMode(r, SDL_BLENDMODE_BLEND);
      s_fill(r, x - 4, y - 1, w + 8, self->font_h[S_F_MONO] + 2, S_RGBA(0x8C9BAB, 18));
    }
    s_text(self, r, S_F_MONO, f->key, s_col(0x0550AE), x, y, S_LEFT, key_w);
    int yn = s_wrapped(self, r, S_F_MONO, f->value, s_col(S_C_TEXT), x + key_w + 12, y,
                       w - key_w - 12, y_max);
    y = (yn > y + self->font_h[S_F_MONO] ? yn : y + self->font_h[S_F_MONO]) + 2;
  }
}

static void s_draw_tooltip(dd_viewer_t *self, SDL_Renderer *r) {
  if (self->hover < 0 || self->pressed) return;
  size_t ev = (size_t)self->hover;
  const dd_tl_event_t *e = dd_timeline_event(self->tl, ev);
  char lines[8][256];
  int n = 0;
  snprintf(lines[n++], sizeof lines[0], "%s", dd_timeline_kind_name(self->tl, e->kind));
  char t[64];
  s_fmt_axis(s_rel(self, e->t_us), 1, t, sizeof t);
  snprintf(lines[n++], sizeof lines[0], "%s \xC2\xB7 %s", dd_timeline_lane(self->tl, e->lane)->name,
           t);
  json_t *o = dd_timeline_event_object(self->tl, ev);
  if (o) {
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v) {
      if (!strcmp(key, "t_us") || !strcmp(key, "wall_us") || !strcmp(key, "proc") ||
          !strcmp(key, "kind"))
        continue;
      if (n == 7) {
        snprintf(lines[n++], sizeof lines[0], "\xE2\x80\xA6 (click for all fields)");
        break;
      }
      char *txt = s_value_text(v);
      snprintf(lines[n++], sizeof lines[0], "%s: %s", key, txt ? txt : "?");
      free(txt);
    }
    json_decref(o);
  }
  int w = 0;
  for (int i = 0; i < n; i++) {
    int lw = s_text_w(self, i == 0 ? S_F_BOLD : S_F_SMALL, lines[i]);
    if (lw > w) w = lw;
  }
  if (w > 420) w = 420;
  int lh = self->font_h[S_F_SMALL] + 1;
  int h = self->font_h[S_F_BOLD] + 4 + (n - 1) * lh + 12;
  int x = self->mouse_x + 14, y = self->mouse_y + 16;
  if (x + w + 20 > self->w) x = self->mouse_x - w - 30;
  if (y + h > self->h - S_STATUS_H) y = self->mouse_y - h - 10;
  SDL_SetRenderDrawBlendMode(r, SDL_BLENDMODE_BLEND);
  s_fill(r, x + 3, y + 3, w + 20, h, S_RGBA(0x000000, 40));
  s_fill(r, x, y, w + 20, h, s_col(0xFFFFF4));
  SDL_SetRenderDrawColor(r, 0x8C, 0x95, 0x9F, 255);
  SDL_RenderDrawRect(r, &(SDL_Rect){x, y, w + 20, h});
  int yy = y + 6;
  s_text(self, r, S_F_BOLD, lines[0], s_col(S_C_TEXT), x + 10, yy, S_LEFT, w);
  yy += self->font_h[S_F_BOLD] + 4;
  for (int i = 1; i < n; i++, yy += lh)
    s_text(self, r, S_F_SMALL, lines[i], s_col(i == 1 ? S_C_MUTED : S_C_TEXT), x + 10, yy, S_LEFT,
           w);
}

static void s_draw(dd_viewer_t *self, SDL_Renderer *r) {
  SDL_SetRenderDrawBlendMode(r, SDL_BLENDMODE_BLEND);
  SDL_Color bg = s_col(S_C_PAGE);
  SDL_SetRenderDrawColor(r, bg.r, bg.g, bg.b, 255);
  SDL_RenderClear(r);
  s_clamp_scroll(self);
  SDL_Rect p;
  dd_viewer_plot_rect(self, &p);
  s_draw_lanes(self, r, &p);
  s_draw_markers_across(self, r, &p);
  if (dd_timeline_count(self->tl) == 0)
    s_text_mid(self, r, S_F_BOLD, "no events in this timeline", s_col(S_C_MUTED), p.x + p.w / 2,
               p.y + p.h / 2, S_CENTER, 0);
  else if (self->content_h > p.h) {
    /* A scroll bar when the lanes do not all fit. */
    int bar_h = p.h * p.h / self->content_h;
    int bar_y = p.y + (p.h - bar_h) * self->scroll / (self->content_h - p.h);
    s_fill(r, p.x + p.w + 4, bar_y, 6, bar_h, s_col(0xAFB8C1));
  }
  s_draw_axis(self, r, &p);
  s_draw_legend(self, r, &p);
  s_draw_title(self, r);
  s_draw_summary(self, r);
  s_draw_panel(self, r);
  s_draw_status(self, r);
  s_draw_tooltip(self, r);
}

/* ---- public ---- */

int dd_viewer_new(const dd_timeline_t *tl, const dd_viewer_opts_t *opts, dd_viewer_t **out,
                  char *err, size_t err_size) {
  assert(tl && out);
  if (err && err_size) err[0] = '\0';
  *out = NULL;
  dd_viewer_t *self = calloc(1, sizeof *self);
  if (!self) return DD_ENOMEM;
  self->tl = tl;
  self->sel = -1;
  self->hover = -1;
  self->w = opts && opts->width ? opts->width : DD_VIEWER_WIDTH;
  self->h = opts && opts->height ? opts->height : DD_VIEWER_HEIGHT;
  if (self->w < 640) self->w = 640;
  if (self->h < 360) self->h = 360;
  snprintf(self->title, sizeof self->title, "%s", opts && opts->title ? opts->title : "timeline");
  snprintf(self->subtitle, sizeof self->subtitle, "%s",
           opts && opts->subtitle ? opts->subtitle : "");
  self->origin = dd_timeline_first_us(tl);
  self->span = (double)(dd_timeline_last_us(tl) - self->origin);
  char path[1024];
  int rc = dd_viewer_find_font(opts ? opts->font_path : NULL, path, sizeof path);
  if (rc) {
    snprintf(self->err, sizeof self->err, "no usable TrueType font (set DD_FONT)");
    goto out_destroy;
  }
  if (TTF_Init() != 0) {
    s_set_err(self, "TTF_Init");
    rc = DD_EIO;
    goto out_destroy;
  }
  self->ttf_init = true;
  rc = s_open_fonts(self, path);
  if (rc) goto out_destroy;
  rc = s_build(self);
  if (rc) goto out_destroy;
  dd_viewer_fit(self);
  *out = self;
  return 0;
out_destroy:
  if (err && err_size) snprintf(err, err_size, "%s", self->err[0] ? self->err : dd_strerror(rc));
  dd_viewer_destroy(&self);
  return rc;
}

void dd_viewer_destroy(dd_viewer_t **self_p) {
  assert(self_p);
  dd_viewer_t *self = *self_p;
  if (!self) return;
  s_cache_clear(self);
  s_free_fields(self);
  for (int f = 0; f < S_F_N; f++)
    if (self->font[f]) TTF_CloseFont(self->font[f]);
  if (self->ttf_init) TTF_Quit();
  size_t nk = dd_timeline_kind_count(self->tl);
  if (self->kind_short)
    for (size_t k = 0; k < nk; k++)
      free(self->kind_short[k]);
  free(self->kind_short);
  if (self->verdict_label)
    for (size_t i = 0; i < dd_timeline_count(self->tl); i++)
      free(self->verdict_label[i]);
  free(self->verdict_label);
  free(self->kind_alarm);
  free(self->fam_rgb);
  free(self->order);
  free(self->rows);
  free(self->span_open);
  free(self->row_of_event);
  free(self->lane_spans);
  free(self->lane_span_off);
  free(self->lanes);
  free(self);
  *self_p = NULL;
}

const char *dd_viewer_error(const dd_viewer_t *self) { return self->err; }

int dd_viewer_render_surface(dd_viewer_t *self, SDL_Surface **out) {
  assert(self && out);
  *out = NULL;
  SDL_Surface *s =
      SDL_CreateRGBSurfaceWithFormat(0, self->w, self->h, 32, SDL_PIXELFORMAT_ARGB8888);
  if (!s) {
    s_set_err(self, "SDL_CreateRGBSurfaceWithFormat");
    return DD_ENOMEM;
  }
  SDL_Renderer *r = SDL_CreateSoftwareRenderer(s);
  if (!r) {
    s_set_err(self, "SDL_CreateSoftwareRenderer");
    SDL_FreeSurface(s);
    return DD_EIO;
  }
  s_draw(self, r);
  SDL_RenderFlush(r);
  s_cache_clear(self); /* the textures belong to this renderer */
  SDL_DestroyRenderer(r);
  *out = s;
  return 0;
}

int dd_viewer_screenshot(dd_viewer_t *self, const char *png_path) {
  assert(self && png_path);
  SDL_Surface *s = NULL;
  int rc = dd_viewer_render_surface(self, &s);
  if (rc) return rc;
  if (IMG_SavePNG(s, png_path) != 0) {
    s_set_err(self, png_path);
    rc = DD_EIO;
  }
  SDL_FreeSurface(s);
  return rc;
}

int dd_viewer_run(dd_viewer_t *self) {
  assert(self);
  if (SDL_InitSubSystem(SDL_INIT_VIDEO) != 0) {
    s_set_err(self, "SDL video");
    return DD_ENOTSUP;
  }
  int rc = 0;
  /* Without a display SDL falls back to drivers that show nothing; waiting on an invisible
   * window would look like a hang. They are fine when asked for (tests, CI). */
  const char *drv = SDL_GetCurrentVideoDriver();
  const char *asked = SDL_GetHint(SDL_HINT_VIDEODRIVER);
  if (drv && (!strcmp(drv, "offscreen") || !strcmp(drv, "dummy")) &&
      !(asked && strstr(asked, drv))) {
    snprintf(self->err, sizeof self->err,
             "no display: SDL chose its '%s' video driver, which shows nothing", drv);
    rc = DD_ENOTSUP;
    goto out_quit;
  }
  char title[400];
  snprintf(title, sizeof title, "duodiag timeline \xE2\x80\x94 %s", self->title);
  SDL_Window *win = SDL_CreateWindow(title, SDL_WINDOWPOS_UNDEFINED, SDL_WINDOWPOS_UNDEFINED,
                                     self->w, self->h, SDL_WINDOW_RESIZABLE);
  if (!win) {
    s_set_err(self, "SDL_CreateWindow");
    rc = DD_ENOTSUP;
    goto out_quit;
  }
  SDL_SetWindowMinimumSize(win, 640, 360);
  SDL_Renderer *r =
      SDL_CreateRenderer(win, -1, SDL_RENDERER_ACCELERATED | SDL_RENDERER_PRESENTVSYNC);
  if (!r) r = SDL_CreateRenderer(win, -1, SDL_RENDERER_SOFTWARE);
  if (!r) {
    s_set_err(self, "SDL_CreateRenderer");
    rc = DD_ENOTSUP;
    goto out_window;
  }
  bool quit = false, dirty = true;
  while (!quit) {
    if (dirty) {
      int ow, oh;
      if (SDL_GetRendererOutputSize(r, &ow, &oh) == 0 && ow > 0 && oh > 0) {
        self->w = ow;
        self->h = oh;
      }
      s_draw(self, r);
      SDL_RenderPresent(r);
      dirty = false;
    }
    SDL_Event e;
    if (!SDL_WaitEvent(&e)) {
      s_set_err(self, "SDL_WaitEvent");
      rc = DD_EIO;
      break;
    }
    do {
      if (e.type == SDL_WINDOWEVENT && (e.window.event == SDL_WINDOWEVENT_EXPOSED ||
                                        e.window.event == SDL_WINDOWEVENT_SIZE_CHANGED))
        dirty = true;
      if (dd_viewer_handle(self, &e, &quit)) dirty = true;
    } while (!quit && SDL_PollEvent(&e));
  }
  s_cache_clear(self);
  SDL_DestroyRenderer(r);
out_window:
  SDL_DestroyWindow(win);
out_quit:
  SDL_QuitSubSystem(SDL_INIT_VIDEO);
  return rc;
}

void dd_viewer_window(const dd_viewer_t *self, double *t0_us, double *t1_us) {
  *t0_us = self->t0;
  *t1_us = self->t1;
}

void dd_viewer_set_window(dd_viewer_t *self, double t0_us, double t1_us) {
  if (!isfinite(t0_us) || !isfinite(t1_us)) return;
  if (t1_us < t0_us) {
    double t = t0_us;
    t0_us = t1_us;
    t1_us = t;
  }
  double max_span = (self->span > 1e3 ? self->span : 1e3) * 100.0;
  if (t1_us - t0_us < S_MIN_SPAN) {
    double c = (t0_us + t1_us) / 2;
    t0_us = c - S_MIN_SPAN / 2;
    t1_us = c + S_MIN_SPAN / 2;
  }
  if (t1_us - t0_us > max_span) {
    double c = (t0_us + t1_us) / 2;
    t0_us = c - max_span / 2;
    t1_us = c + max_span / 2;
  }
  /* Keep some of the timeline in view. */
  double lo = -max_span, hi = self->span + max_span;
  if (t0_us < lo) {
    t1_us += lo - t0_us;
    t0_us = lo;
  }
  if (t1_us > hi) {
    t0_us -= t1_us - hi;
    t1_us = hi;
  }
  self->t0 = t0_us;
  self->t1 = t1_us;
}

void dd_viewer_fit(dd_viewer_t *self) {
  double m = self->span > 0 ? self->span * 0.03 : 1000.0;
  dd_viewer_set_window(self, -m, self->span + m);
}

void dd_viewer_zoom(dd_viewer_t *self, double factor, int x) {
  if (!(factor > 0) || !isfinite(factor)) return;
  SDL_Rect p;
  dd_viewer_plot_rect(self, &p);
  if (x < p.x || x > p.x + p.w) x = p.x + p.w / 2;
  double t = s_t_of(self, &p, x);
  dd_viewer_set_window(self, t - (t - self->t0) / factor, t + (self->t1 - t) / factor);
}

void dd_viewer_pan(dd_viewer_t *self, int dx) {
  SDL_Rect p;
  dd_viewer_plot_rect(self, &p);
  double dt = dx * (self->t1 - self->t0) / p.w;
  dd_viewer_set_window(self, self->t0 + dt, self->t1 + dt);
}

void dd_viewer_select(dd_viewer_t *self, long event) {
  if (event < 0 || (size_t)event >= dd_timeline_count(self->tl)) {
    self->sel = -1;
    s_free_fields(self);
    return;
  }
  self->sel = event;
  if (s_load_fields(self, (size_t)event) != 0) s_free_fields(self);
}

long dd_viewer_selected(const dd_viewer_t *self) { return self->sel; }

/* The row drawn at pixel row y, or NULL. */
static const s_row_t *s_row_at(dd_viewer_t *self, const SDL_Rect *p, int y) {
  int rel = y - p->y + self->scroll;
  for (size_t i = 0; i < self->n_rows; i++) {
    const s_row_t *row = &self->rows[i];
    if (rel >= row->y && rel < row->y + row->h) return row;
  }
  return NULL;
}

long dd_viewer_hit(dd_viewer_t *self, int x, int y) {
  SDL_Rect p;
  dd_viewer_plot_rect(self, &p);
  if (x < p.x - S_HIT_PX || x > p.x + p.w + S_HIT_PX || y < p.y || y >= p.y + p.h) return -1;
  const s_row_t *row = s_row_at(self, &p, y);
  if (!row) return -1;
  double px_us = (self->t1 - self->t0) / p.w;
  double t = s_t_of(self, &p, x);
  long best = -1;
  double best_d = S_HIT_PX + 0.5;
  if (row->family == UINT32_MAX) {
    const dd_tl_series_t *s = dd_timeline_series(self->tl, row->series);
    for (size_t i = s_series_lower(self, s, t - S_HIT_PX * px_us); i < s->n; i++) {
      double d = fabs(s_x_of(self, &p, s_rel(self, s->t_us[i])) - x);
      if (s_rel(self, s->t_us[i]) > t + S_HIT_PX * px_us) break;
      if (d < best_d) {
        best_d = d;
        best = (long)s->event[i];
      }
    }
    return best;
  }
  for (size_t i = s_row_lower(self, row, t - S_HIT_PX * px_us); i < row->n; i++) {
    double te = s_rel(self, dd_timeline_event(self->tl, row->ev[i])->t_us);
    if (te > t + S_HIT_PX * px_us) break;
    double d = fabs(s_x_of(self, &p, te) - x);
    if (d < best_d) {
      best_d = d;
      best = (long)row->ev[i];
    }
  }
  return best;
}

int dd_viewer_event_xy(dd_viewer_t *self, size_t i, int *x, int *y) {
  assert(i < dd_timeline_count(self->tl));
  const dd_tl_event_t *e = dd_timeline_event(self->tl, i);
  double t = s_rel(self, e->t_us);
  if (t < self->t0 || t > self->t1) return DD_ENOENT;
  SDL_Rect p;
  dd_viewer_plot_rect(self, &p);
  const s_lane_t *ln = &self->lanes[e->lane];
  for (size_t k = 0; k < ln->n_rows; k++) {
    const s_row_t *row = &self->rows[ln->row0 + k];
    if (row->family != e->family) continue;
    int cy = p.y - self->scroll + row->y + row->h / 2;
    if (cy < p.y || cy >= p.y + p.h) return DD_ENOENT;
    *x = s_px(s_x_of(self, &p, t));
    *y = cy;
    return 0;
  }
  return DD_ENOENT;
}

bool dd_viewer_handle(dd_viewer_t *self, const SDL_Event *e, bool *quit) {
  SDL_Rect p;
  dd_viewer_plot_rect(self, &p);
  switch (e->type) {
  case SDL_QUIT: *quit = true; return false;
  case SDL_WINDOWEVENT:
    if (e->window.event == SDL_WINDOWEVENT_SIZE_CHANGED) {
      self->w = e->window.data1 < 640 ? 640 : e->window.data1;
      self->h = e->window.data2 < 360 ? 360 : e->window.data2;
      return true;
    }
    if (e->window.event == SDL_WINDOWEVENT_LEAVE && self->hover >= 0) {
      self->hover = -1;
      return true;
    }
    return false;
  case SDL_MOUSEWHEEL: {
    int dy = e->wheel.y, dx = e->wheel.x;
    if (e->wheel.direction == SDL_MOUSEWHEEL_FLIPPED) {
      dy = -dy;
      dx = -dx;
    }
    if (dx) dd_viewer_pan(self, dx * p.w / 20);
    if (dy && (SDL_GetModState() & KMOD_SHIFT)) {
      self->scroll -= dy * 40;
      s_clamp_scroll(self);
    } else if (dy) {
      dd_viewer_zoom(self, pow(1.25, dy), self->mouse_x);
    }
    self->hover = -1;
    return dx || dy;
  }
  case SDL_KEYDOWN:
    switch (e->key.keysym.sym) {
    case SDLK_q: *quit = true; return false;
    case SDLK_ESCAPE:
      if (self->sel >= 0) {
        dd_viewer_select(self, -1);
        return true;
      }
      *quit = true;
      return false;
    case SDLK_f: dd_viewer_fit(self); return true;
    case SDLK_PLUS:
    case SDLK_EQUALS:
    case SDLK_KP_PLUS: dd_viewer_zoom(self, 1.5, p.x + p.w / 2); return true;
    case SDLK_MINUS:
    case SDLK_KP_MINUS: dd_viewer_zoom(self, 1 / 1.5, p.x + p.w / 2); return true;
    case SDLK_LEFT: dd_viewer_pan(self, -p.w / 10); return true;
    case SDLK_RIGHT: dd_viewer_pan(self, p.w / 10); return true;
    case SDLK_UP:
      self->scroll -= 40;
      s_clamp_scroll(self);
      return true;
    case SDLK_DOWN:
      self->scroll += 40;
      s_clamp_scroll(self);
      return true;
    case SDLK_PAGEUP:
      self->scroll -= p.h * 9 / 10;
      s_clamp_scroll(self);
      return true;
    case SDLK_PAGEDOWN:
      self->scroll += p.h * 9 / 10;
      s_clamp_scroll(self);
      return true;
    case SDLK_HOME:
      dd_viewer_set_window(self, -0.03 * (self->t1 - self->t0), 0.97 * (self->t1 - self->t0));
      return true;
    case SDLK_END:
      dd_viewer_set_window(self, self->span - 0.97 * (self->t1 - self->t0),
                           self->span + 0.03 * (self->t1 - self->t0));
      return true;
    default: return false;
    }
  case SDL_MOUSEBUTTONDOWN:
    self->mouse_x = e->button.x;
    self->mouse_y = e->button.y;
    if (e->button.button != SDL_BUTTON_LEFT) return false;
    self->pressed = true;
    self->dragging = false;
    self->press_x = e->button.x;
    self->press_t0 = self->t0;
    return self->hover >= 0;
  case SDL_MOUSEMOTION: {
    self->mouse_x = e->motion.x;
    self->mouse_y = e->motion.y;
    if (self->pressed) {
      int dx = e->motion.x - self->press_x;
      if (!self->dragging && abs(dx) > 3) self->dragging = true;
      if (self->dragging) {
        double span = self->t1 - self->t0;
        double t0 = self->press_t0 - dx * span / p.w;
        dd_viewer_set_window(self, t0, t0 + span);
        return true;
      }
      return false;
    }
    long h = dd_viewer_hit(self, e->motion.x, e->motion.y);
    bool changed = h != self->hover || h >= 0;
    self->hover = h;
    return changed;
  }
  case SDL_MOUSEBUTTONUP: {
    if (e->button.button != SDL_BUTTON_LEFT || !self->pressed) return false;
    bool was_drag = self->dragging;
    self->pressed = false;
    self->dragging = false;
    if (was_drag) return true;
    if (s_panel_open(self) && e->button.x >= self->w - S_PANEL_W) return false;
    if (e->button.y < p.y || e->button.y >= p.y + p.h) return false;
    dd_viewer_select(self, dd_viewer_hit(self, e->button.x, e->button.y));
    return true;
  }
  default: return false;
  }
}
