/* dd_canreplay: plays a candump log (can-utils "(sec.usec) iface frame" lines, read with
 * dd_candump) onto a CAN port at the recorded pace, on a process's loop.
 *
 * Timing: frame k is sent at the absolute deadline start + (t_k - t_0) / speed, where t_0 is the
 * time stamp of the first frame played and start the loop time when playing began; each
 * deadline is a loop timer, so errors do not add up over a long log. Frames that share a
 * deadline go out in one pass, in file order; a time stamp earlier than the one before it (logs
 * merged from several interfaces) is sent at once, never reordered. What the frame then takes
 * on the wire is the bus's business.
 *
 * Malformed lines: the whole file is checked before the first frame is sent. By default any
 * malformed line stops the replay before it starts (dd_canreplay_new returns DD_EILSEQ, each
 * bad line reported as FILE:LINE): a replay is test input, and silently different traffic
 * would make a test pass or fail for the wrong reason. With skip_malformed, such lines are
 * reported, skipped and counted instead (for logs with, say, a last line cut short by a capture
 * that was killed). Lines that are not frame lines at all (comments, empty lines) are ignored
 * as canplayer ignores them. Error frames in the log cannot be sent and are counted as skipped.
 *
 * Looping: iteration n starts at start + n * period, period = (t_last - t_0) / speed plus one
 * mean frame gap (so a log of periodic frames loops seamlessly); a log of one frame repeats
 * every second. */
#ifndef DD_CANREPLAY_H
#define DD_CANREPLAY_H

#include <stdbool.h>
#include <stdint.h>

#include "dd_canport.h"
#include "dd_events.h"
#include "dd_loop.h"

typedef struct {
  const char *path;        /* candump log to play */
  double speed;            /* 1.0 = recorded pace, 2.0 = twice as fast (0 means 1.0) */
  bool loop;               /* start over after the last frame, until stopped */
  const char *iface;       /* play only lines of this interface (NULL: all) */
  bool skip_malformed;     /* skip malformed lines instead of refusing the file */
  bool await_echo;         /* the port echoes own frames (loopback): the end waits until
                            * every frame sent has been on the bus (at most 2 s after the
                            * last send; then it ends with DD_ETIMEDOUT) */
  uint64_t progress_every; /* frames between canreplay.progress events (0: 10 % steps) */
} dd_canreplay_cfg_t;

typedef struct {
  uint64_t lines;       /* lines read (last pass) */
  uint64_t frames;      /* frames to play per pass (after the interface filter) */
  uint64_t sent;        /* frames handed to the port, over all passes */
  uint64_t echoed;      /* own frames seen back from the bus (await_echo) */
  uint64_t malformed;   /* malformed lines (skipped) */
  uint64_t filtered;    /* frame lines of other interfaces */
  uint64_t unsendable;  /* error frames in the log */
  uint64_t waits;       /* sends the port could not take at once (queue full) */
  uint64_t passes;      /* passes started */
  uint64_t late_max_us; /* worst lateness of a send behind its deadline */
  uint64_t span_us;     /* t_last - t_0 of the frames played, as recorded */
} dd_canreplay_stats_t;

typedef struct dd_canreplay dd_canreplay_t;

/* Called once when the replay has ended (never with loop). code: 0, or the error that ended it. */
typedef void (*dd_canreplay_done_fn)(dd_canreplay_t *replay, int code, void *arg);

/* Check the whole log and prepare; nothing is sent yet. Returns 0, DD_ENOENT / -errno when the
 * file cannot be read, DD_EILSEQ for malformed lines (unless skip_malformed), DD_ENOENT when no
 * frame is left to play, DD_EINVAL for a bad speed; each with a message. done may be NULL. */
int dd_canreplay_new(dd_loop_t *loop, dd_events_t *events, const dd_canreplay_cfg_t *cfg,
                     dd_canreplay_done_fn done, void *arg, dd_canreplay_t **out);
void dd_canreplay_destroy(dd_canreplay_t **self_p);

/* Begin playing now (the loop's "now") onto port (not owned; must outlive the replay). With
 * await_echo the caller passes every frame it receives from the port to dd_canreplay_on_frame.
 * Returns 0, or DD_EBUSY when already started. */
int dd_canreplay_start(dd_canreplay_t *self, dd_canport_t *port);
/* A frame received from the port (for await_echo); others than own echoes are ignored. */
void dd_canreplay_on_frame(dd_canreplay_t *self, const dd_can_frame_t *f);

bool dd_canreplay_done(const dd_canreplay_t *self);
dd_canreplay_stats_t dd_canreplay_stats(const dd_canreplay_t *self);

#endif
