/* dd_candump: can-utils candump log files ("(sec.usec) iface frame" lines), written and read. */
#ifndef DD_CANDUMP_H
#define DD_CANDUMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "dd_can.h"

#define DD_CANDUMP_IFNAME_MAX 32 /* interface name bytes, NUL included */
#define DD_CANDUMP_LINE_MAX 256  /* longest line written, newline and NUL included */
#define DD_CANDUMP_READ_MAX 4096 /* longer lines are reported as malformed when read */

/* ---- writing ---- */

typedef struct {
  uint64_t epoch_us; /* added to each frame's ts_us: the absolute time written (0: zero-based) */
  bool direction;    /* append " T" (own transmission, DD_CAN_F_TX) or " R", as candump -x */
} dd_candump_opts_t;

/* One log line "(%010llu.%06llu) <ifname> <frame>[ T|R]\n" for a frame at time ts_us into buf.
 * Returns its length, DD_EINVAL for an empty interface name or one with white space or longer
 * than DD_CANDUMP_IFNAME_MAX - 1, DD_ECAN_FRAME for an invalid frame, DD_ENOSPC when size is
 * too small. */
int dd_candump_format_line(const char *ifname, const dd_can_frame_t *f, uint64_t ts_us,
                           bool direction, char *buf, size_t size);

typedef struct dd_candump_writer dd_candump_writer_t;

/* Create (truncate) path; opts may be NULL (epoch 0, no direction). */
int dd_candump_writer_open(const char *path, const dd_candump_opts_t *opts,
                           dd_candump_writer_t **out);
/* Append one line and flush it, so a crash loses nothing already written. */
int dd_candump_writer_write(dd_candump_writer_t *self, const char *ifname, const dd_can_frame_t *f);
/* Close; returns 0 or the error of the final close. *self_p becomes NULL. */
int dd_candump_writer_close(dd_candump_writer_t **self_p);
void dd_candump_writer_destroy(dd_candump_writer_t **self_p);

/* ---- reading ---- */

typedef struct {
  dd_can_frame_t frame; /* the frame; ts_us from the time stamp, DD_CAN_F_TX on " T" */
  uint64_t ts_ns;       /* time stamp as written, in ns (6 or 9 digits accepted) */
  char ifname[DD_CANDUMP_IFNAME_MAX]; /* interface name as written */
} dd_candump_record_t;

/* Parse one line (without or with its "\n" / "\r\n"). Returns 0 with a record, DD_ENOENT for a
 * line that does not start with '(' (canplayer ignores those: comments, DROPCOUNT lines) and
 * DD_EILSEQ for a malformed frame line. */
int dd_candump_parse_line(const char *line, size_t len, dd_candump_record_t *rec);

typedef struct dd_candump_reader dd_candump_reader_t;

int dd_candump_reader_open(const char *path, dd_candump_reader_t **out);
/* Read from an open stream; closes it on destroy when own. */
int dd_candump_reader_new(FILE *in, bool own, dd_candump_reader_t **out);
/* Next record: 0, DD_ENOENT at the end, DD_EILSEQ for a malformed line (the next call goes on
 * after it), or a negative -errno on a read error. */
int dd_candump_reader_next(dd_candump_reader_t *self, dd_candump_record_t *rec);
/* 1-based number of the line the last call returned or failed on. */
unsigned long dd_candump_reader_line(const dd_candump_reader_t *self);
void dd_candump_reader_destroy(dd_candump_reader_t **self_p);

#endif
