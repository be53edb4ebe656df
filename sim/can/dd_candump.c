/* dd_candump: writer and tolerant reader of the candump -l log format (can-utils candump.c,
 * lib.c; canplayer.c for what a reader must accept). */
#include "dd_candump.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dd_err.h"

struct dd_candump_writer {
  FILE *out;              /* log file */
  dd_candump_opts_t opts; /* time base and direction suffix */
};

struct dd_candump_reader {
  FILE *in;           /* log stream */
  bool own;           /* close in on destroy */
  char *buf;          /* getline buffer */
  size_t cap;         /* its capacity */
  unsigned long line; /* number of the last line read */
};

static bool s_space(char c) { return c == ' ' || c == '\t'; }

static bool s_ifname_ok(const char *ifname) {
  size_t n = strlen(ifname);
  if (n == 0 || n >= DD_CANDUMP_IFNAME_MAX) return false;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)ifname[i] <= ' ' || ifname[i] == 0x7F) return false;
  return true;
}

int dd_candump_format_line(const char *ifname, const dd_can_frame_t *f, uint64_t ts_us,
                           bool direction, char *buf, size_t size) {
  assert(ifname && f && buf);
  if (!s_ifname_ok(ifname)) return DD_EINVAL;
  if (!dd_can_frame_valid(f)) return DD_ECAN_FRAME;
  char frame[DD_CAN_TEXT_MAX];
  dd_can_format(f, frame, sizeof frame);
  /* candump.c: "(%010llu.%06llu) " then the interface, a space and the frame; -x adds the
   * direction as " T" / " R". */
  int n = snprintf(buf, size, "(%010llu.%06llu) %s %s%s\n", (unsigned long long)(ts_us / 1000000u),
                   (unsigned long long)(ts_us % 1000000u), ifname, frame,
                   direction ? ((f->flags & DD_CAN_F_TX) ? " T" : " R") : "");
  if (n < 0) return DD_EINVAL;
  if ((size_t)n >= size) return DD_ENOSPC;
  return n;
}

int dd_candump_writer_open(const char *path, const dd_candump_opts_t *opts,
                           dd_candump_writer_t **out) {
  assert(path && out);
  *out = NULL;
  dd_candump_writer_t *self = calloc(1, sizeof *self);
  if (!self) return DD_ENOMEM;
  if (opts) self->opts = *opts;
  self->out = fopen(path, "w");
  if (!self->out) {
    int err = errno ? -errno : DD_EIO;
    free(self);
    return err;
  }
  *out = self;
  return 0;
}

int dd_candump_writer_write(dd_candump_writer_t *self, const char *ifname,
                            const dd_can_frame_t *f) {
  assert(self && ifname && f);
  char line[DD_CANDUMP_LINE_MAX];
  int n = dd_candump_format_line(ifname, f, self->opts.epoch_us + f->ts_us, self->opts.direction,
                                 line, sizeof line);
  if (n < 0) return n;
  if (fwrite(line, 1, (size_t)n, self->out) != (size_t)n || fflush(self->out) != 0)
    return errno ? -errno : DD_EIO;
  return 0;
}

int dd_candump_writer_close(dd_candump_writer_t **self_p) {
  assert(self_p);
  dd_candump_writer_t *self = *self_p;
  if (!self) return 0;
  int rc = fclose(self->out) == 0 ? 0 : (errno ? -errno : DD_EIO);
  free(self);
  *self_p = NULL;
  return rc;
}

void dd_candump_writer_destroy(dd_candump_writer_t **self_p) {
  (void)dd_candump_writer_close(self_p);
}

/* Decimal digits in [*i, end) into *v; returns the count, or -1 on overflow. */
static int s_digits(const char *s, size_t end, size_t *i, uint64_t *v) {
  int n = 0;
  *v = 0;
  while (*i < end && s[*i] >= '0' && s[*i] <= '9') {
    uint64_t d = (uint64_t)(s[*i] - '0');
    if (*v > (UINT64_MAX - d) / 10) return -1;
    *v = *v * 10 + d;
    (*i)++;
    n++;
  }
  return n;
}

/* A white-space separated token starting at *i; returns its length, *start its offset. */
static size_t s_token(const char *s, size_t end, size_t *i, size_t *start) {
  while (*i < end && s_space(s[*i]))
    (*i)++;
  *start = *i;
  while (*i < end && !s_space(s[*i]))
    (*i)++;
  return *i - *start;
}

int dd_candump_parse_line(const char *s, size_t len, dd_candump_record_t *rec) {
  assert(s && rec);
  while (len > 0 && (s[len - 1] == '\n' || s[len - 1] == '\r'))
    len--;
  /* canplayer.c: lines not beginning with '(' are skipped. */
  if (len == 0 || s[0] != '(') return DD_ENOENT;
  memset(rec, 0, sizeof *rec);

  /* "(<sec>.<frac>)" with 6 (us) or 9 (ns) fractional digits, as canplayer accepts. */
  size_t i = 1;
  uint64_t sec, frac;
  int nd = s_digits(s, len, &i, &sec);
  if (nd <= 0 || i >= len || s[i] != '.') return DD_EILSEQ;
  i++;
  nd = s_digits(s, len, &i, &frac);
  if ((nd != 6 && nd != 9) || i >= len || s[i] != ')') return DD_EILSEQ;
  i++;
  if (nd == 6) frac *= 1000u;
  if (sec > (UINT64_MAX - frac) / 1000000000u) return DD_EILSEQ;
  rec->ts_ns = sec * 1000000000u + frac;
  if (i >= len || !s_space(s[i])) return DD_EILSEQ;

  size_t start;
  size_t n = s_token(s, len, &i, &start);
  if (n == 0 || n >= DD_CANDUMP_IFNAME_MAX) return DD_EILSEQ;
  memcpy(rec->ifname, s + start, n);
  rec->ifname[n] = '\0';
  if (!s_ifname_ok(rec->ifname)) return DD_EILSEQ; /* control characters, embedded NUL */

  n = s_token(s, len, &i, &start);
  if (n == 0 || dd_can_parse_n(s + start, n, &rec->frame) != 0) return DD_EILSEQ;
  rec->frame.ts_us = rec->ts_ns / 1000u;

  /* Optional direction from candump -x, then only white space. */
  n = s_token(s, len, &i, &start);
  if (n == 1 && (s[start] == 'T' || s[start] == 'R')) {
    if (s[start] == 'T') rec->frame.flags |= DD_CAN_F_TX;
    n = s_token(s, len, &i, &start);
  }
  if (n != 0) return DD_EILSEQ;
  return 0;
}

int dd_candump_reader_new(FILE *in, bool own, dd_candump_reader_t **out) {
  assert(in && out);
  *out = NULL;
  dd_candump_reader_t *self = calloc(1, sizeof *self);
  if (!self) {
    if (own) fclose(in);
    return DD_ENOMEM;
  }
  self->in = in;
  self->own = own;
  *out = self;
  return 0;
}

int dd_candump_reader_open(const char *path, dd_candump_reader_t **out) {
  assert(path && out);
  *out = NULL;
  FILE *in = fopen(path, "r");
  if (!in) return errno ? -errno : DD_EIO;
  return dd_candump_reader_new(in, true, out);
}

int dd_candump_reader_next(dd_candump_reader_t *self, dd_candump_record_t *rec) {
  assert(self && rec);
  for (;;) {
    errno = 0;
    ssize_t n = getline(&self->buf, &self->cap, self->in);
    if (n < 0) {
      if (ferror(self->in)) return errno ? -errno : DD_EIO;
      return DD_ENOENT;
    }
    self->line++;
    if (self->buf[0] != '(') continue; /* comment or other non-frame line */
    if ((size_t)n > DD_CANDUMP_READ_MAX) return DD_EILSEQ;
    /* An embedded NUL makes the line malformed rather than silently cut. */
    if (memchr(self->buf, '\0', (size_t)n)) return DD_EILSEQ;
    int rc = dd_candump_parse_line(self->buf, (size_t)n, rec);
    if (rc == DD_ENOENT) continue;
    return rc;
  }
}

unsigned long dd_candump_reader_line(const dd_candump_reader_t *self) {
  assert(self);
  return self->line;
}

void dd_candump_reader_destroy(dd_candump_reader_t **self_p) {
  assert(self_p);
  dd_candump_reader_t *self = *self_p;
  if (!self) return;
  if (self->own) fclose(self->in);
  free(self->buf);
  free(self);
  *self_p = NULL;
}
