/* dd_viewer: the SDL2 timeline viewer: one lane per process, events coloured by kind family,
 * numeric series as small charts, verdict markers, an event detail panel; interactive in a
 * window or rendered headless to a PNG with the software renderer. */
#ifndef DD_VIEWER_H
#define DD_VIEWER_H

#include <SDL.h>
#include <stdbool.h>
#include <stddef.h>

#include "dd_timeline.h"

#define DD_VIEWER_WIDTH 1600 /* default width in pixels */
#define DD_VIEWER_HEIGHT 900 /* default height in pixels */

typedef struct {
  int width;             /* window or picture width (0: DD_VIEWER_WIDTH); at least 640 */
  int height;            /* window or picture height (0: DD_VIEWER_HEIGHT); at least 360 */
  const char *font_path; /* a regular TrueType font; NULL: $DD_FONT, then known locations */
  const char *title;     /* run name for the title bar; NULL: "timeline" */
  const char *subtitle;  /* shown at the right of the title bar (e.g. the file); may be NULL */
} dd_viewer_opts_t;

typedef struct dd_viewer dd_viewer_t;

/* Find a usable regular font: hint if not NULL, else $DD_FONT, else the first existing file
 * of a list of known locations (Debian, Fedora, Arch, macOS; DejaVu, Liberation, FreeFont).
 * Writes the path into buf. DD_ENOENT when none exists (hint or $DD_FONT naming a missing
 * file is DD_ENOENT too, rather than a silent fallback). */
int dd_viewer_find_font(const char *hint, char *buf, size_t size);

/* A viewer of tl (which must outlive it). Opens the fonts: DD_ENOENT without one, DD_EIO when
 * SDL_ttf fails; the reason goes to err (may be NULL). opts may be NULL. The view starts
 * fitted to the whole timeline. */
int dd_viewer_new(const dd_timeline_t *tl, const dd_viewer_opts_t *opts, dd_viewer_t **out,
                  char *err, size_t err_size);
void dd_viewer_destroy(dd_viewer_t **self_p);
/* The last SDL/SDL_ttf/SDL_image error text behind a failure ("" when none). */
const char *dd_viewer_error(const dd_viewer_t *self);

/* ---- drawing ---- */
/* Draw one frame into an ARGB8888 surface of the viewer's size with the software renderer
 * (no window or display needed). *out is owned by the caller (SDL_FreeSurface). */
int dd_viewer_render_surface(dd_viewer_t *self, SDL_Surface **out);
/* Render one frame headless and save it as PNG (DD_EIO: see dd_viewer_error). */
int dd_viewer_screenshot(dd_viewer_t *self, const char *png_path);
/* Open a window and run until it is closed or q is pressed (DD_ENOTSUP without a display). */
int dd_viewer_run(dd_viewer_t *self);

/* ---- view state: what the mouse and keys change ---- */
/* Show the whole timeline. */
void dd_viewer_fit(dd_viewer_t *self);
/* Visible window, in microseconds relative to the first event. */
void dd_viewer_window(const dd_viewer_t *self, double *t0_us, double *t1_us);
void dd_viewer_set_window(dd_viewer_t *self, double t0_us, double t1_us);
/* Zoom by factor (> 1 in, < 1 out) keeping the time under pixel column x in place. */
void dd_viewer_zoom(dd_viewer_t *self, double factor, int x);
/* Move the window by dx pixels (positive: later times come into view). */
void dd_viewer_pan(dd_viewer_t *self, int dx);
/* Select an event (its fields fill the side panel); -1 clears the selection. */
void dd_viewer_select(dd_viewer_t *self, long event);
long dd_viewer_selected(const dd_viewer_t *self);
/* The event drawn at or nearest (within a few pixels) to pixel (x, y), or -1. */
long dd_viewer_hit(dd_viewer_t *self, int x, int y);
/* Where event i is drawn: 0 with its centre, DD_ENOENT when outside the visible window. */
int dd_viewer_event_xy(dd_viewer_t *self, size_t i, int *x, int *y);
/* The lane area: the rectangle in which lanes, events and charts are drawn. */
void dd_viewer_plot_rect(dd_viewer_t *self, SDL_Rect *out);
/* Feed one SDL event (wheel, keys, drag, click, motion, resize). Returns true when the
 * picture must be redrawn; *quit becomes true on q, Escape without a selection, or SDL_QUIT. */
bool dd_viewer_handle(dd_viewer_t *self, const SDL_Event *e, bool *quit);

#endif
