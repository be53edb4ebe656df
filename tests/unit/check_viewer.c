/* check_viewer: the timeline viewer rendered headless (software renderer on a surface, no
 * display) to PNG and decoded again with SDL2_image: size, markers where the events are,
 * verdict colours, side panel, tooltip, status bar; the view logic driven by synthetic SDL
 * events (zoom, pan, fit, click, drag, keys); `duodiag view --screenshot`; the window loop
 * under SDL's dummy video driver. */
#include <SDL.h>
#include <SDL_image.h>
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dd_cli.h"
#include "dd_err.h"
#include "dd_timeline.h"
#include "dd_viewer.h"

int dd_cli_view(int argc, char **argv); /* until dd_cli.h lists it */

#define S_W 1200
#define S_H 700

/* A synthetic run: bus load every 100 ms for 5 s, a device's UDS exchanges, two verdicts. */
static char *s_text(bool malformed) {
  size_t cap = 1 << 16, o = 0;
  char *t = malloc(cap);
  ck_assert_ptr_nonnull(t);
  const long long t0 = 5000000;
  o += (size_t)snprintf(t + o, cap - o,
                        "{\"t_us\":%lld,\"wall_us\":1767225600000000,\"proc\":\"harness\","
                        "\"kind\":\"proc.started\"}\n",
                        t0);
  for (int k = 1; k <= 50; k++)
    o += (size_t)snprintf(t + o, cap - o,
                          "{\"t_us\":%lld,\"proc\":\"bus\",\"kind\":\"can.busload\","
                          "\"load_pct\":%d.5,\"frames\":%d}\n",
                          t0 + k * 100000LL, 20 + (k % 7) * 5, k);
  for (int k = 0; k < 4; k++) {
    o += (size_t)snprintf(t + o, cap - o,
                          "{\"t_us\":%lld,\"proc\":\"dev\",\"kind\":\"uds.request\","
                          "\"sid\":\"0x22\"}\n",
                          t0 + 500000LL + k * 1000000LL);
    o += (size_t)snprintf(t + o, cap - o,
                          "{\"t_us\":%lld,\"proc\":\"dev\",\"kind\":\"uds.response\","
                          "\"sid\":\"0x62\"}\n",
                          t0 + 520000LL + k * 1000000LL);
  }
  o += (size_t)snprintf(t + o, cap - o,
                        "{\"t_us\":%lld,\"proc\":\"harness\",\"kind\":\"expect.result\","
                        "\"name\":\"vin_fast\",\"verdict\":\"PASS\"}\n"
                        "{\"t_us\":%lld,\"proc\":\"harness\",\"kind\":\"expect.result\","
                        "\"name\":\"vin_slow\",\"verdict\":\"FAIL\",\"observed\":\"900 ms\","
                        "\"deadline\":\"500 ms\"}\n",
                        t0 + 1500000LL, t0 + 3500000LL);
  if (malformed) o += (size_t)snprintf(t + o, cap - o, "{\"t_us\":1,\"proc\":\n");
  return t;
}

static dd_timeline_t *s_timeline(bool malformed) {
  char *text = s_text(malformed);
  dd_timeline_t *tl = NULL;
  ck_assert_int_eq(dd_timeline_load_mem(text, strlen(text), NULL, &tl), 0);
  free(text);
  return tl;
}

static dd_viewer_t *s_viewer(const dd_timeline_t *tl) {
  dd_viewer_t *v = NULL;
  char err[256];
  dd_viewer_opts_t o = {.width = S_W, .height = S_H, .title = "test-run"};
  int rc = dd_viewer_new(tl, &o, &v, err, sizeof err);
  ck_assert_msg(rc == 0, "dd_viewer_new: %s", err);
  return v;
}

/* The PNG decoded again, as ARGB8888. */
static SDL_Surface *s_png(const char *path) {
  SDL_Surface *img = IMG_Load(path);
  ck_assert_msg(img != NULL, "IMG_Load %s: %s", path, IMG_GetError());
  SDL_Surface *s = SDL_ConvertSurfaceFormat(img, SDL_PIXELFORMAT_ARGB8888, 0);
  SDL_FreeSurface(img);
  ck_assert_ptr_nonnull(s);
  return s;
}

static Uint32 s_px(SDL_Surface *s, int x, int y) {
  ck_assert(x >= 0 && y >= 0 && x < s->w && y < s->h);
  return ((Uint32 *)((Uint8 *)s->pixels + (size_t)y * (size_t)s->pitch))[x] & 0xFFFFFF;
}

static int s_r(Uint32 c) { return (c >> 16) & 0xFF; }
static int s_g(Uint32 c) { return (c >> 8) & 0xFF; }
static int s_b(Uint32 c) { return c & 0xFF; }

static size_t s_find(const dd_timeline_t *tl, const char *kind, size_t nth) {
  for (size_t i = 0; i < dd_timeline_count(tl); i++)
    if (!strcmp(dd_timeline_kind_name(tl, dd_timeline_event(tl, i)->kind), kind) && nth-- == 0)
      return i;
  ck_abort_msg("no %s event", kind);
  return 0;
}

static void s_tmp_png(char *buf, size_t size) {
  snprintf(buf, size, "/tmp/dd-viewer-XXXXXX");
  int fd = mkstemp(buf);
  ck_assert_int_ge(fd, 0);
  close(fd);
}

START_TEST(test_screenshot_png_not_blank) {
  dd_timeline_t *tl = s_timeline(false);
  dd_viewer_t *v = s_viewer(tl);
  char path[64];
  s_tmp_png(path, sizeof path);
  ck_assert_int_eq(dd_viewer_screenshot(v, path), 0);
  SDL_Surface *s = s_png(path);
  ck_assert_int_eq(s->w, S_W);
  ck_assert_int_eq(s->h, S_H);

  /* A bus-load marker is drawn where the event is: its pixel differs from the lane's
   * background halfway to the next marker, and from a device marker (another family). */
  size_t bl = s_find(tl, "can.busload", 10), bl2 = s_find(tl, "can.busload", 11);
  int x, y, x2, y2;
  ck_assert_int_eq(dd_viewer_event_xy(v, bl, &x, &y), 0);
  ck_assert_int_eq(dd_viewer_event_xy(v, bl2, &x2, &y2), 0);
  ck_assert_int_eq(y, y2);
  ck_assert_int_gt(x2 - x, 12);
  Uint32 marker = s_px(s, x, y), gap = s_px(s, (x + x2) / 2, y - 5);
  ck_assert_msg(marker != gap, "marker %06x same as background %06x", marker, gap);
  size_t req = s_find(tl, "uds.request", 0);
  int xr, yr;
  ck_assert_int_eq(dd_viewer_event_xy(v, req, &xr, &yr), 0);
  ck_assert_int_ne(yr, y); /* another lane */
  ck_assert_uint_ne(s_px(s, xr, yr), marker);
  ck_assert_uint_ne(s_px(s, xr, yr), s_px(s, xr, yr - 8));

  /* Verdicts: the PASS diamond is green, the FAIL one red. */
  size_t pass = s_find(tl, "expect.result", 0), fail = s_find(tl, "expect.result", 1);
  ck_assert_int_eq(dd_viewer_event_xy(v, pass, &x, &y), 0);
  Uint32 c = s_px(s, x, y);
  ck_assert_msg(s_g(c) > s_r(c) + 40 && s_g(c) > s_b(c) + 40, "PASS marker %06x", c);
  ck_assert_int_eq(dd_viewer_event_xy(v, fail, &x, &y), 0);
  c = s_px(s, x, y);
  ck_assert_msg(s_r(c) > s_g(c) + 80 && s_r(c) > s_b(c) + 80, "FAIL marker %06x", c);

  /* The lane area is a picture, not a flat fill: many colours. */
  SDL_Rect p;
  dd_viewer_plot_rect(v, &p);
  Uint32 seen[512];
  size_t n_seen = 0;
  for (int yy = p.y; yy < p.y + p.h && n_seen < 512; yy += 3)
    for (int xx = p.x; xx < p.x + p.w && n_seen < 512; xx += 3) {
      Uint32 px = s_px(s, xx, yy);
      bool known = false;
      for (size_t k = 0; k < n_seen && !known; k++)
        known = seen[k] == px;
      if (!known) seen[n_seen++] = px;
    }
  ck_assert_uint_gt(n_seen, 30);
  /* The title bar is dark, the picture around it light. */
  c = s_px(s, 4, 4);
  ck_assert_int_lt(s_r(c) + s_g(c) + s_b(c), 200);
  SDL_FreeSurface(s);
  unlink(path);
  dd_viewer_destroy(&v);
  ck_assert_ptr_null(v);
  dd_timeline_destroy(&tl);
}
END_TEST

START_TEST(test_view_window_zoom_pan_fit) {
  dd_timeline_t *tl = s_timeline(false);
  dd_viewer_t *v = s_viewer(tl);
  double span = (double)(dd_timeline_last_us(tl) - dd_timeline_first_us(tl));
  double t0, t1;
  dd_viewer_window(v, &t0, &t1);
  ck_assert(t0 < 0 && t1 > span); /* fitted, with a margin */
  double w = t1 - t0, mid = (t0 + t1) / 2;
  SDL_Rect p;
  dd_viewer_plot_rect(v, &p);
  dd_viewer_zoom(v, 2.0, p.x + p.w / 2);
  dd_viewer_window(v, &t0, &t1);
  ck_assert(fabs((t1 - t0) - w / 2) < 1e-6 * w);
  ck_assert(fabs((t0 + t1) / 2 - mid) < 1e-3 * w);
  double before = t0;
  dd_viewer_pan(v, 100);
  dd_viewer_window(v, &t0, &t1);
  ck_assert(fabs((t0 - before) - 100 * (t1 - t0) / p.w) < 1e-6 * w);
  /* Keys: f fits again, - zooms out by 1.5, + in, arrows pan. */
  bool quit = false;
  SDL_Event e = {.key = {.type = SDL_KEYDOWN, .keysym = {.sym = SDLK_f}}};
  ck_assert(dd_viewer_handle(v, &e, &quit));
  dd_viewer_window(v, &t0, &t1);
  ck_assert(fabs((t1 - t0) - w) < 1e-6 * w);
  e.key.keysym.sym = SDLK_MINUS;
  ck_assert(dd_viewer_handle(v, &e, &quit));
  dd_viewer_window(v, &t0, &t1);
  ck_assert(fabs((t1 - t0) - w * 1.5) < 1e-6 * w);
  e.key.keysym.sym = SDLK_PLUS;
  ck_assert(dd_viewer_handle(v, &e, &quit));
  e.key.keysym.sym = SDLK_RIGHT;
  dd_viewer_window(v, &before, &t1);
  ck_assert(dd_viewer_handle(v, &e, &quit));
  dd_viewer_window(v, &t0, &t1);
  ck_assert(t0 > before);
  /* The wheel zooms about the mouse: the time under it stays put. */
  SDL_Event m = {.motion = {.type = SDL_MOUSEMOTION, .x = p.x + p.w / 4, .y = p.y + 5}};
  dd_viewer_handle(v, &m, &quit);
  dd_viewer_window(v, &t0, &t1);
  double under = t0 + (t1 - t0) / 4;
  double old_w = t1 - t0;
  SDL_Event wh = {.wheel = {.type = SDL_MOUSEWHEEL, .y = 1}};
  ck_assert(dd_viewer_handle(v, &wh, &quit));
  dd_viewer_window(v, &t0, &t1);
  ck_assert(fabs((t1 - t0) - old_w / 1.25) < 1e-6 * w);
  ck_assert(fabs(t0 + (t1 - t0) * (p.w / 4) / p.w - under) < 1e-3 * w);
  ck_assert(!quit);
  /* Never narrower than 10 us, never inverted. */
  dd_viewer_set_window(v, 1000, 1001);
  dd_viewer_window(v, &t0, &t1);
  ck_assert(t1 - t0 >= 10.0 - 1e-9);
  dd_viewer_set_window(v, 5000, 4000);
  dd_viewer_window(v, &t0, &t1);
  ck_assert(t0 == 4000 && t1 == 5000);
  dd_viewer_destroy(&v);
  dd_timeline_destroy(&tl);
}
END_TEST

START_TEST(test_click_select_panel_and_keys) {
  dd_timeline_t *tl = s_timeline(false);
  dd_viewer_t *v = s_viewer(tl);
  SDL_Surface *plain = NULL, *selected = NULL;
  ck_assert_int_eq(dd_viewer_render_surface(v, &plain), 0);
  SDL_Rect before;
  dd_viewer_plot_rect(v, &before);

  size_t fail = s_find(tl, "expect.result", 1);
  int x, y;
  ck_assert_int_eq(dd_viewer_event_xy(v, fail, &x, &y), 0);
  ck_assert_int_eq(dd_viewer_hit(v, x, y), (long)fail);
  ck_assert_int_eq(dd_viewer_hit(v, x + 3, y + 2), (long)fail); /* near enough */
  ck_assert_int_eq(dd_viewer_hit(v, x, 5), -1);                 /* the title bar */
  bool quit = false;
  SDL_Event d = {
      .button = {.type = SDL_MOUSEBUTTONDOWN, .button = SDL_BUTTON_LEFT, .x = x, .y = y}};
  SDL_Event u = d;
  u.button.type = SDL_MOUSEBUTTONUP;
  dd_viewer_handle(v, &d, &quit);
  ck_assert(dd_viewer_handle(v, &u, &quit));
  ck_assert_int_eq(dd_viewer_selected(v), (long)fail);
  /* The side panel takes room from the plot and shows up in the picture. */
  SDL_Rect after;
  dd_viewer_plot_rect(v, &after);
  ck_assert_int_lt(after.w, before.w);
  ck_assert_int_eq(dd_viewer_render_surface(v, &selected), 0);
  size_t differ = 0;
  for (int yy = after.y; yy < after.y + 300; yy++)
    for (int xx = S_W - 380; xx < S_W - 20; xx++)
      differ += ((Uint32 *)((Uint8 *)plain->pixels + yy * plain->pitch))[xx] !=
                ((Uint32 *)((Uint8 *)selected->pixels + yy * selected->pitch))[xx];
  ck_assert_uint_gt(differ, 2000);
  SDL_FreeSurface(plain);
  SDL_FreeSurface(selected);

  /* A drag pans and leaves the selection alone. */
  double t0, t1, d0;
  dd_viewer_window(v, &d0, &t1);
  SDL_Event down = {
      .button = {
          .type = SDL_MOUSEBUTTONDOWN, .button = SDL_BUTTON_LEFT, .x = after.x + 300, .y = y}};
  SDL_Event move = {.motion = {.type = SDL_MOUSEMOTION, .x = after.x + 200, .y = y}};
  SDL_Event up = {
      .button = {.type = SDL_MOUSEBUTTONUP, .button = SDL_BUTTON_LEFT, .x = after.x + 200, .y = y}};
  dd_viewer_handle(v, &down, &quit);
  ck_assert(dd_viewer_handle(v, &move, &quit));
  dd_viewer_handle(v, &up, &quit);
  dd_viewer_window(v, &t0, &t1);
  ck_assert(fabs((t0 - d0) - 100 * (t1 - t0) / after.w) < 1e-6 * (t1 - t0));
  ck_assert_int_eq(dd_viewer_selected(v), (long)fail);

  /* Esc clears the selection, a second Esc quits; q and the window's close quit. */
  SDL_Event k = {.key = {.type = SDL_KEYDOWN, .keysym = {.sym = SDLK_ESCAPE}}};
  ck_assert(dd_viewer_handle(v, &k, &quit));
  ck_assert_int_eq(dd_viewer_selected(v), -1);
  ck_assert(!quit);
  dd_viewer_handle(v, &k, &quit);
  ck_assert(quit);
  quit = false;
  k.key.keysym.sym = SDLK_q;
  dd_viewer_handle(v, &k, &quit);
  ck_assert(quit);
  quit = false;
  SDL_Event q = {.type = SDL_QUIT};
  dd_viewer_handle(v, &q, &quit);
  ck_assert(quit);
  /* A click on empty space clears the selection. */
  dd_viewer_select(v, (long)fail);
  SDL_Rect pr;
  dd_viewer_plot_rect(v, &pr);
  SDL_Event d2 = {.button = {.type = SDL_MOUSEBUTTONDOWN,
                             .button = SDL_BUTTON_LEFT,
                             .x = pr.x + 2,
                             .y = pr.y + pr.h - 2}};
  SDL_Event u2 = d2;
  u2.button.type = SDL_MOUSEBUTTONUP;
  dd_viewer_handle(v, &d2, &quit);
  dd_viewer_handle(v, &u2, &quit);
  ck_assert_int_eq(dd_viewer_selected(v), -1);
  dd_viewer_destroy(&v);
  dd_timeline_destroy(&tl);
}
END_TEST

START_TEST(test_hover_tooltip) {
  dd_timeline_t *tl = s_timeline(false);
  dd_viewer_t *v = s_viewer(tl);
  size_t req = s_find(tl, "uds.request", 1);
  int x, y;
  ck_assert_int_eq(dd_viewer_event_xy(v, req, &x, &y), 0);
  SDL_Surface *a = NULL, *b = NULL;
  ck_assert_int_eq(dd_viewer_render_surface(v, &a), 0);
  bool quit = false;
  SDL_Event m = {.motion = {.type = SDL_MOUSEMOTION, .x = x, .y = y}};
  ck_assert(dd_viewer_handle(v, &m, &quit));
  ck_assert_int_eq(dd_viewer_render_surface(v, &b), 0);
  /* The tooltip box opens below right of the pointer. */
  size_t differ = 0;
  for (int yy = y + 18; yy < y + 60 && yy < S_H; yy++)
    for (int xx = x + 16; xx < x + 150 && xx < S_W; xx++)
      differ += ((Uint32 *)((Uint8 *)a->pixels + yy * a->pitch))[xx] !=
                ((Uint32 *)((Uint8 *)b->pixels + yy * b->pitch))[xx];
  ck_assert_uint_gt(differ, 500);
  SDL_FreeSurface(a);
  SDL_FreeSurface(b);
  dd_viewer_destroy(&v);
  dd_timeline_destroy(&tl);
}
END_TEST

/* Reddish pixels in the status bar (the malformed-line warning is drawn in red). */
static size_t s_red_in_status(SDL_Surface *s) {
  size_t n = 0;
  for (int y = S_H - 20; y < S_H - 4; y++)
    for (int x = 0; x < S_W / 2; x++) {
      Uint32 c = s_px(s, x, y);
      n += s_r(c) > 150 && s_g(c) < 110 && s_b(c) < 110;
    }
  return n;
}

START_TEST(test_malformed_lines_in_status_bar) {
  dd_timeline_t *clean = s_timeline(false), *bad = s_timeline(true);
  ck_assert_uint_eq(dd_timeline_malformed(bad), 1);
  dd_viewer_t *vc = s_viewer(clean), *vb = s_viewer(bad);
  SDL_Surface *sc = NULL, *sb = NULL;
  ck_assert_int_eq(dd_viewer_render_surface(vc, &sc), 0);
  ck_assert_int_eq(dd_viewer_render_surface(vb, &sb), 0);
  ck_assert_uint_eq(s_red_in_status(sc), 0);
  ck_assert_uint_gt(s_red_in_status(sb), 20);
  SDL_FreeSurface(sc);
  SDL_FreeSurface(sb);
  dd_viewer_destroy(&vc);
  dd_viewer_destroy(&vb);
  dd_timeline_destroy(&clean);
  dd_timeline_destroy(&bad);
}
END_TEST

START_TEST(test_empty_and_large) {
  dd_timeline_t *tl = NULL;
  ck_assert_int_eq(dd_timeline_load_mem("", 0, NULL, &tl), 0);
  dd_viewer_t *v = s_viewer(tl);
  SDL_Surface *s = NULL;
  ck_assert_int_eq(dd_viewer_render_surface(v, &s), 0);
  ck_assert_int_eq(s->w, S_W);
  SDL_FreeSurface(s);
  ck_assert_int_eq(dd_viewer_hit(v, S_W / 2, S_H / 2), -1);
  dd_viewer_destroy(&v);
  dd_timeline_destroy(&tl);

  /* 60 000 events on 12 lanes (more than fit: the lanes scroll). */
  size_t cap = 60000 * 90, o = 0;
  char *text = malloc(cap);
  ck_assert_ptr_nonnull(text);
  for (int i = 0; i < 60000; i++)
    o += (size_t)snprintf(text + o, cap - o,
                          "{\"t_us\":%d,\"proc\":\"p%02d\",\"kind\":\"f%d.k\",\"load_pct\":%d}\n",
                          i * 37, i % 12, i % 5, i % 100);
  ck_assert_int_eq(dd_timeline_load_mem(text, o, NULL, &tl), 0);
  free(text);
  v = s_viewer(tl);
  ck_assert_int_eq(dd_viewer_render_surface(v, &s), 0);
  SDL_FreeSurface(s);
  bool quit = false;
  SDL_Event k = {.key = {.type = SDL_KEYDOWN, .keysym = {.sym = SDLK_PAGEDOWN}}};
  ck_assert(dd_viewer_handle(v, &k, &quit));
  ck_assert_int_eq(dd_viewer_render_surface(v, &s), 0);
  SDL_FreeSurface(s);
  dd_viewer_destroy(&v);
  dd_timeline_destroy(&tl);
}
END_TEST

START_TEST(test_fonts) {
  char path[1024], err[256];
  ck_assert_int_eq(dd_viewer_find_font(NULL, path, sizeof path), 0);
  ck_assert_int_eq(access(path, R_OK), 0);
  ck_assert_int_eq(dd_viewer_find_font("/nonexistent/font.ttf", path, sizeof path), DD_ENOENT);
  dd_timeline_t *tl = s_timeline(false);
  dd_viewer_t *v = NULL;
  dd_viewer_opts_t o = {.font_path = "/nonexistent/font.ttf"};
  ck_assert_int_eq(dd_viewer_new(tl, &o, &v, err, sizeof err), DD_ENOENT);
  ck_assert_ptr_null(v);
  ck_assert_ptr_nonnull(strstr(err, "font"));
  /* $DD_FONT is honoured: a missing file is an error, not a silent fallback. */
  setenv("DD_FONT", "/nonexistent/env.ttf", 1);
  ck_assert_int_eq(dd_viewer_new(tl, NULL, &v, err, sizeof err), DD_ENOENT);
  unsetenv("DD_FONT");
  /* A file that is not a font. */
  o.font_path = "/etc/hostname";
  if (access(o.font_path, R_OK) != 0) o.font_path = "/etc/passwd";
  ck_assert_int_eq(dd_viewer_new(tl, &o, &v, err, sizeof err), DD_EIO);
  ck_assert_ptr_null(v);
  dd_timeline_destroy(&tl);
}
END_TEST

static int s_view(int argc, const char *const *argv) {
  char *args[16];
  ck_assert_int_lt(argc, 16);
  for (int i = 0; i < argc; i++)
    args[i] = (char *)argv[i];
  args[argc] = NULL;
  return dd_cli_view(argc, args);
}

#define S_VIEW(...)                                                                                \
  s_view((int)(sizeof((const char *[]){__VA_ARGS__}) / sizeof(const char *)),                      \
         (const char *[]){__VA_ARGS__})

START_TEST(test_cli_view_screenshot) {
  char dir[] = "/tmp/dd-view-XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(dir));
  char tl_path[128], png[128];
  snprintf(tl_path, sizeof tl_path, "%s/timeline.jsonl", dir);
  snprintf(png, sizeof png, "%s/shot.png", dir);
  char *text = s_text(true);
  FILE *f = fopen(tl_path, "w");
  ck_assert_ptr_nonnull(f);
  fputs(text, f);
  fclose(f);
  free(text);

  ck_assert_int_eq(S_VIEW("view", "--help"), 0);
  ck_assert_int_eq(S_VIEW("view"), 2);
  ck_assert_int_eq(S_VIEW("view", dir, "--size", "10x10", "--screenshot", png), 2);
  ck_assert_int_eq(S_VIEW("view", dir, "--size"), 2);
  ck_assert_int_eq(S_VIEW("view", dir, "--window", "3:1", "--screenshot", png), 2);
  ck_assert_int_eq(S_VIEW("view", dir, "--series", "nodot", "--screenshot", png), 2);
  ck_assert_int_eq(S_VIEW("view", "/nonexistent-run", "--screenshot", png), 2);
  ck_assert_int_eq(S_VIEW("view", dir, "--select", "9999", "--screenshot", png), 2);
  ck_assert_int_eq(S_VIEW("view", dir, "--font", "/nonexistent.ttf", "--screenshot", png), 2);

  ck_assert_int_eq(S_VIEW("view", dir, "--size", "900x500", "--screenshot", png), 0);
  SDL_Surface *s = s_png(png);
  ck_assert_int_eq(s->w, 900);
  ck_assert_int_eq(s->h, 500);
  SDL_FreeSurface(s);
  /* The timeline file itself, a window, a selection and a series of our choice. */
  ck_assert_int_eq(S_VIEW("view", tl_path, "--window=1:2.5", "--select", "3", "--series",
                          "can.busload.frames", "--screenshot", png),
                   0);
  s = s_png(png);
  ck_assert_int_eq(s->w, DD_VIEWER_WIDTH);
  SDL_FreeSurface(s);
  /* A PNG that cannot be written. */
  ck_assert_int_eq(S_VIEW("view", dir, "--screenshot", "/nonexistent-dir/x.png"), 1);
  unlink(png);
  unlink(tl_path);
  rmdir(dir);
}
END_TEST

static Uint32 s_push_quit(Uint32 interval, void *arg) {
  SDL_Event e = {.type = SDL_QUIT};
  SDL_PushEvent(&e);
  return 0;
}

START_TEST(test_window_loop_dummy_driver) {
  /* SDL's dummy video driver: a window without a display; a timer closes it. */
  setenv("SDL_VIDEODRIVER", "dummy", 1);
  ck_assert_int_eq(SDL_Init(SDL_INIT_TIMER | SDL_INIT_EVENTS), 0);
  dd_timeline_t *tl = s_timeline(false);
  dd_viewer_t *v = s_viewer(tl);
  SDL_TimerID id = SDL_AddTimer(200, s_push_quit, NULL);
  ck_assert_int_ne(id, 0);
  ck_assert_int_eq(dd_viewer_run(v), 0);
  dd_viewer_destroy(&v);
  dd_timeline_destroy(&tl);
  SDL_Quit();
}
END_TEST

static Suite *s_suite(void) {
  Suite *s = suite_create("viewer");
  TCase *tc = tcase_create("render");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_screenshot_png_not_blank);
  tcase_add_test(tc, test_hover_tooltip);
  tcase_add_test(tc, test_malformed_lines_in_status_bar);
  tcase_add_test(tc, test_empty_and_large);
  tcase_add_test(tc, test_fonts);
  suite_add_tcase(s, tc);
  tc = tcase_create("interact");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_view_window_zoom_pan_fit);
  tcase_add_test(tc, test_click_select_panel_and_keys);
  tcase_add_test(tc, test_window_loop_dummy_driver);
  suite_add_tcase(s, tc);
  tc = tcase_create("cli");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_cli_view_screenshot);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(s_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
