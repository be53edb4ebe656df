/* dd_progress: a live progress line on a terminal, plain progress lines elsewhere. */
#include "dd_progress.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "dd_clock.h"

struct dd_progress {
  FILE *to;            /* output (not owned) */
  bool tty;            /* live line */
  size_t total;        /* runs in the suite */
  size_t done;         /* runs ended */
  size_t passed;       /* runs passed */
  size_t failed;       /* runs failed */
  char line[256];      /* the live line as last drawn ("" none) */
  double last_draw;    /* when it was drawn (monotonic s) */
  dd_clock_t clock;    /* for pacing redraws */
};

static double s_mono(dd_progress_t *self) { return (double)dd_clock_now_us(&self->clock) / 1e6; }

dd_progress_t *dd_progress_new(FILE *to, bool tty, size_t total) {
  assert(to);
  dd_progress_t *self = calloc(1, sizeof *self);
  if (!self) return NULL;
  self->to = to;
  self->tty = tty;
  self->total = total;
  dd_clock_init_real(&self->clock);
  return self;
}

void dd_progress_destroy(dd_progress_t **self_p) {
  assert(self_p);
  if (!*self_p) return;
  dd_progress_finish(*self_p);
  free(*self_p);
  *self_p = NULL;
}

void dd_progress_format(char *buf, size_t cap, size_t index, size_t total, const char *name,
                        double elapsed_s, size_t passed, size_t failed, size_t pending) {
  snprintf(buf, cap, "[%zu/%zu] %s %.1f s  PASS %zu FAIL %zu pending %zu", index, total, name,
           elapsed_s, passed, failed, pending);
}

static void s_clear(dd_progress_t *self) {
  if (!self->tty || !self->line[0]) return;
  fputs("\r\033[K", self->to);
}

static void s_draw(dd_progress_t *self) {
  if (!self->tty || !self->line[0]) return;
  fprintf(self->to, "\r\033[K%s", self->line);
  fflush(self->to);
  self->last_draw = s_mono(self);
}

void dd_progress_start(dd_progress_t *self, size_t index, const char *name) {
  if (!self->tty) {
    fprintf(self->to, "[%zu/%zu] start %s\n", index, self->total, name);
    fflush(self->to);
    return;
  }
  dd_progress_format(self->line, sizeof self->line, index, self->total, name, 0, 0, 0, 0);
  s_draw(self);
}

void dd_progress_update(dd_progress_t *self, size_t index, const char *name, double elapsed_s,
                        size_t passed, size_t failed, size_t pending) {
  if (!self->tty) return;
  if (s_mono(self) - self->last_draw < 0.1) return;
  char l[256];
  dd_progress_format(l, sizeof l, index, self->total, name, elapsed_s, passed, failed, pending);
  /* Room for the suite's counts when the terminal line is not too long already. */
  snprintf(self->line, sizeof self->line, "%s   | runs %zu/%zu done, %zu failed", l, self->done,
           self->total, self->failed);
  s_draw(self);
}

void dd_progress_print(dd_progress_t *self, const char *text) {
  s_clear(self);
  fputs(text, self->to);
  size_t n = strlen(text);
  if (n && text[n - 1] != '\n') fputc('\n', self->to);
  s_draw(self);
  fflush(self->to);
}

void dd_progress_done(dd_progress_t *self, size_t index, const char *name, bool passed,
                      double duration_s) {
  self->done++;
  if (passed) self->passed++;
  else self->failed++;
  if (!self->tty) {
    fprintf(self->to, "[%zu/%zu] %s %s (%.1f s)\n", index, self->total, passed ? "PASS" : "FAIL",
            name, duration_s);
    fflush(self->to);
  }
}

void dd_progress_finish(dd_progress_t *self) {
  s_clear(self);
  self->line[0] = 0;
  fflush(self->to);
}
