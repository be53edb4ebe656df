/* check_canreplay: the candump replayer. Scheduling on a manual clock (absolute deadlines,
 * frames sharing a time stamp, time stamps going backwards, speed, looping, interface filter,
 * a full port, waiting for echoes), malformed logs (refused with their line, or skipped and
 * counted), and the real thing across processes: duodiag-bus and duodiag-canreplay spawned
 * through dd_rig, with this test on the bus as a node checking order, content and the recorded
 * spacing of what arrives.
 *
 * Logs are written here in can-utils candump -l syntax ("(sec.usec) iface id#data"). */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dd_can.h"
#include "dd_canmux.h"
#include "dd_canport_mock.h"
#include "dd_canport_vbus.h"
#include "dd_canreplay.h"
#include "dd_child.h"
#include "dd_clock.h"
#include "dd_err.h"
#include "dd_events.h"
#include "dd_loop.h"
#include "dd_rig.h"

#define S_T0 5000000ull /* manual clock at the start of each unit test */

static void s_write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  ck_assert_ptr_nonnull(f);
  fputs(text, f);
  fclose(f);
}

/* A temp file holding text; path into buf. */
static const char *s_log(char *buf, size_t cap, const char *text) {
  snprintf(buf, cap, "/tmp/check_canreplay.%d.XXXXXX", (int)getpid());
  int fd = mkstemp(buf);
  ck_assert_int_ge(fd, 0);
  close(fd);
  s_write_file(buf, text);
  return buf;
}

typedef struct {
  dd_clock_t clock;   /* manual */
  dd_loop_t *loop;    /* driven by dd_loop_step */
  dd_canport_t *port; /* mock */
  dd_canreplay_t *rp; /* under test */
  int done_calls;     /* done callback calls */
  int done_code;      /* its code */
  char path[128];     /* the log */
} s_env_t;

static void s_done(dd_canreplay_t *rp, int code, void *arg) {
  s_env_t *e = arg;
  e->done_calls++;
  e->done_code = code;
}

static void s_up(s_env_t *e, const char *log, const dd_canreplay_cfg_t *over,
                 const dd_canport_mock_cfg_t *mc) {
  memset(e, 0, sizeof *e);
  dd_clock_init_manual(&e->clock, S_T0);
  e->loop = dd_loop_new(&e->clock);
  ck_assert_ptr_nonnull(e->loop);
  ck_assert_int_eq(dd_canport_mock_new(mc, &e->port), 0);
  s_log(e->path, sizeof e->path, log);
  dd_canreplay_cfg_t cfg = over ? *over : (dd_canreplay_cfg_t){0};
  cfg.path = e->path;
  ck_assert_int_eq(dd_canreplay_new(e->loop, NULL, &cfg, s_done, e, &e->rp), 0);
}

static void s_down(s_env_t *e) {
  dd_canreplay_destroy(&e->rp);
  dd_canport_destroy(&e->port);
  dd_loop_destroy(&e->loop);
  unlink(e->path);
}

/* Move the manual clock to t and run what is due. */
static void s_at(s_env_t *e, uint64_t t) {
  dd_clock_set_us(&e->clock, t);
  dd_loop_step(e->loop, 0);
}

/* Take the next sent frame and check it against can-utils text. */
static void s_expect_sent(s_env_t *e, const char *text) {
  dd_can_frame_t got, want;
  ck_assert_int_eq(dd_can_parse(text, &want), 0);
  ck_assert_msg(dd_canport_mock_take_sent(e->port, &got) == 0, "nothing sent, want %s", text);
  char g[DD_CAN_TEXT_MAX];
  ck_assert_msg(dd_can_frame_equal(&got, &want), "sent %s, want %s",
                dd_can_format(&got, g, sizeof g), text);
  ck_assert(!(got.flags & DD_CAN_F_TX));
}

static const char s_basic[] = "(100.000000) can0 123#01\n"
                              "(100.010000) can0 124#02\n"
                              "(100.010000) can0 125#03\n" /* same time stamp */
                              "(100.250000) can0 126#04\n"
                              "(100.249000) can0 127#05 T\n" /* earlier than the one before */
                              "(101.000000) can0 1ABCDEF0#06\n";

START_TEST(test_schedule_absolute) {
  s_env_t e;
  s_up(&e, s_basic, NULL, NULL);
  ck_assert_uint_eq(dd_canreplay_stats(e.rp).frames, 6);
  ck_assert_uint_eq(dd_canreplay_stats(e.rp).span_us, 1000000);
  dd_loop_step(e.loop, 0);
  ck_assert_int_eq(dd_canreplay_start(e.rp, e.port), 0);
  ck_assert_int_eq(dd_canreplay_start(e.rp, e.port), DD_EBUSY);
  s_expect_sent(&e, "123#01"); /* deadline = start: at once */
  ck_assert_uint_eq(dd_canport_mock_sent_count(e.port), 0);
  ck_assert_uint_eq(dd_loop_next_deadline(e.loop), S_T0 + 10000);
  s_at(&e, S_T0 + 9999);
  ck_assert_uint_eq(dd_canport_mock_sent_count(e.port), 0);
  s_at(&e, S_T0 + 10000); /* both frames of 100.010000, in file order */
  s_expect_sent(&e, "124#02");
  s_expect_sent(&e, "125#03");
  ck_assert_uint_eq(dd_canport_mock_sent_count(e.port), 0);
  ck_assert_uint_eq(dd_loop_next_deadline(e.loop), S_T0 + 250000);
  /* Late by 30 ms: the frame goes out, the one stamped earlier right behind it, and the
   * next deadline stays where the log puts it (no drift). */
  s_at(&e, S_T0 + 280000);
  s_expect_sent(&e, "126#04");
  s_expect_sent(&e, "127#05"); /* the " T" direction mark is not sent on */
  ck_assert_uint_eq(dd_loop_next_deadline(e.loop), S_T0 + 1000000);
  ck_assert_int_eq(e.done_calls, 0);
  s_at(&e, S_T0 + 1000000);
  s_expect_sent(&e, "1ABCDEF0#06");
  ck_assert_int_eq(e.done_calls, 1);
  ck_assert_int_eq(e.done_code, 0);
  ck_assert(dd_canreplay_done(e.rp));
  dd_canreplay_stats_t st = dd_canreplay_stats(e.rp);
  ck_assert_uint_eq(st.sent, 6);
  ck_assert_uint_eq(st.passes, 1);
  ck_assert_uint_eq(st.late_max_us, 30000);
  ck_assert_uint_eq(dd_loop_next_deadline(e.loop), DD_NEVER);
  s_down(&e);
}
END_TEST

START_TEST(test_schedule_speed) {
  s_env_t e;
  dd_canreplay_cfg_t cfg = {.speed = 2.0};
  s_up(&e, s_basic, &cfg, NULL);
  dd_canreplay_start(e.rp, e.port);
  s_expect_sent(&e, "123#01");
  ck_assert_uint_eq(dd_loop_next_deadline(e.loop), S_T0 + 5000);
  s_at(&e, S_T0 + 5000);
  s_expect_sent(&e, "124#02");
  s_expect_sent(&e, "125#03");
  ck_assert_uint_eq(dd_loop_next_deadline(e.loop), S_T0 + 125000);
  s_at(&e, S_T0 + 125000);
  s_expect_sent(&e, "126#04");
  s_expect_sent(&e, "127#05");
  ck_assert_uint_eq(dd_loop_next_deadline(e.loop), S_T0 + 500000);
  s_at(&e, S_T0 + 500000);
  s_expect_sent(&e, "1ABCDEF0#06");
  ck_assert_int_eq(e.done_calls, 1);
  s_down(&e);
  /* Half speed: 10 ms -> 20 ms. */
  cfg.speed = 0.5;
  s_up(&e, s_basic, &cfg, NULL);
  dd_canreplay_start(e.rp, e.port);
  s_expect_sent(&e, "123#01");
  ck_assert_uint_eq(dd_loop_next_deadline(e.loop), S_T0 + 20000);
  s_down(&e);
}
END_TEST

START_TEST(test_schedule_loop) {
  s_env_t e;
  dd_canreplay_cfg_t cfg = {.loop = true};
  /* Three frames 10 ms apart: the period is 20 ms + one 10 ms gap = 30 ms. */
  s_up(&e, "(7.000000) vcan0 100#00\n(7.010000) vcan0 101#01\n(7.020000) vcan0 102#02\n", &cfg,
       NULL);
  dd_canreplay_start(e.rp, e.port);
  static const char *const want[] = {"100#00", "101#01", "102#02", "100#00",
                                     "101#01", "102#02", "100#00"};
  for (unsigned k = 0; k < 7; k++) {
    uint64_t at = S_T0 + 10000ull * k;
    if (k) {
      ck_assert_uint_eq(dd_loop_next_deadline(e.loop), at);
      s_at(&e, at);
    }
    s_expect_sent(&e, want[k]);
    ck_assert_uint_eq(dd_canport_mock_sent_count(e.port), 0);
  }
  ck_assert_uint_eq(dd_canreplay_stats(e.rp).passes, 3);
  ck_assert_int_eq(e.done_calls, 0); /* a loop never ends by itself */
  s_down(&e);
  /* One frame: it repeats every second. */
  s_up(&e, "(1.500000) can0 7DF#0201\n", &cfg, NULL);
  dd_canreplay_start(e.rp, e.port);
  s_expect_sent(&e, "7DF#0201");
  ck_assert_uint_eq(dd_loop_next_deadline(e.loop), S_T0 + 1000000);
  s_at(&e, S_T0 + 1000000);
  s_expect_sent(&e, "7DF#0201");
  s_down(&e);
}
END_TEST

START_TEST(test_iface_filter) {
  s_env_t e;
  dd_canreplay_cfg_t cfg = {.iface = "can1"};
  s_up(&e,
       "(10.000000) can0 100#00\n(10.500000) can1 200#01\n(10.600000) can0 101#02\n"
       "(10.700000) can1 201#03\n",
       &cfg, NULL);
  dd_canreplay_stats_t st = dd_canreplay_stats(e.rp);
  ck_assert_uint_eq(st.frames, 2);
  ck_assert_uint_eq(st.filtered, 2);
  dd_canreplay_start(e.rp, e.port);
  s_expect_sent(&e, "200#01"); /* time 0 is the first frame played, not the first line */
  ck_assert_uint_eq(dd_loop_next_deadline(e.loop), S_T0 + 200000);
  s_at(&e, S_T0 + 200000);
  s_expect_sent(&e, "201#03");
  ck_assert_int_eq(e.done_calls, 1);
  s_down(&e);
}
END_TEST

START_TEST(test_malformed_lines) {
  char path[128];
  dd_clock_t clock;
  dd_clock_init_manual(&clock, S_T0);
  dd_loop_t *loop = dd_loop_new(&clock);
  const char *text = "# recorded on the bench\n"
                     "(1.000000) can0 123#11\n"
                     "(1.100000) can0 12#3#44\n" /* line 3: bad frame */
                     "(1.200000) can0 124#22\n"
                     "(1.3 can0 125#33\n"                          /* line 5: bad time stamp */
                     "(1.400000) can0 20000080#0000080000000000\n" /* error frame */
                     "(1.500000) can0 126#4\n"; /* line 7: odd number of digits */
  s_log(path, sizeof path, text);
  dd_canreplay_t *rp = NULL;
  dd_canreplay_cfg_t cfg = {.path = path};
  /* By default: refused before anything is sent. */
  ck_assert_int_eq(dd_canreplay_new(loop, NULL, &cfg, NULL, NULL, &rp), DD_EILSEQ);
  ck_assert_ptr_null(rp);
  /* Skipped and counted on request; the error frame cannot be sent. */
  cfg.skip_malformed = true;
  ck_assert_int_eq(dd_canreplay_new(loop, NULL, &cfg, NULL, NULL, &rp), 0);
  dd_canreplay_stats_t st = dd_canreplay_stats(rp);
  ck_assert_uint_eq(st.malformed, 3);
  ck_assert_uint_eq(st.unsendable, 1);
  ck_assert_uint_eq(st.frames, 2);
  ck_assert_uint_eq(st.lines, 7);
  dd_canport_t *port = NULL;
  ck_assert_int_eq(dd_canport_mock_new(NULL, &port), 0);
  dd_canreplay_start(rp, port);
  dd_clock_set_us(&clock, S_T0 + 200000);
  dd_loop_step(loop, 0);
  ck_assert_uint_eq(dd_canport_mock_sent_count(port), 2);
  ck_assert(dd_canreplay_done(rp));
  dd_canreplay_destroy(&rp);
  dd_canport_destroy(&port);
  unlink(path);
  /* Nothing to play, no file, a bad speed. */
  s_log(path, sizeof path, "# only a comment\n\n");
  ck_assert_int_eq(dd_canreplay_new(loop, NULL, &cfg, NULL, NULL, &rp), DD_ENOENT);
  unlink(path);
  cfg.path = "/nonexistent/dir/x.log";
  ck_assert_int_eq(dd_canreplay_new(loop, NULL, &cfg, NULL, NULL, &rp), DD_ENOENT);
  s_log(path, sizeof path, "(1.000000) can0 123#\n");
  cfg.path = path;
  cfg.speed = -1;
  ck_assert_int_eq(dd_canreplay_new(loop, NULL, &cfg, NULL, NULL, &rp), DD_EINVAL);
  cfg.speed = NAN;
  ck_assert_int_eq(dd_canreplay_new(loop, NULL, &cfg, NULL, NULL, &rp), DD_EINVAL);
  cfg.speed = 1;
  cfg.iface = "can9";
  ck_assert_int_eq(dd_canreplay_new(loop, NULL, &cfg, NULL, NULL, &rp), DD_ENOENT);
  unlink(path);
  dd_loop_destroy(&loop);
}
END_TEST

START_TEST(test_port_full_and_echoes) {
  s_env_t e;
  /* The port takes two frames at a time: the rest wait, in order, retried each millisecond. */
  dd_canport_mock_cfg_t mc = {.tx_limit = 2, .opts = {.loopback = true}};
  dd_canreplay_cfg_t cfg = {.await_echo = true};
  s_up(&e,
       "(1.000000) can0 101#01\n(1.000000) can0 102#02\n(1.000000) can0 103#03\n(1.000000) can0 "
       "104#04\n"
       "(1.000000) can0 105#05\n",
       &cfg, &mc);
  dd_canreplay_start(e.rp, e.port);
  ck_assert_uint_eq(dd_canport_mock_sent_count(e.port), 2);
  ck_assert_uint_eq(dd_canreplay_stats(e.rp).waits, 1);
  ck_assert_uint_eq(dd_loop_next_deadline(e.loop), S_T0 + 1000);
  s_expect_sent(&e, "101#01");
  s_expect_sent(&e, "102#02");
  s_at(&e, S_T0 + 1000);
  s_expect_sent(&e, "103#03");
  s_expect_sent(&e, "104#04");
  s_at(&e, S_T0 + 2000);
  s_expect_sent(&e, "105#05");
  dd_canreplay_stats_t st = dd_canreplay_stats(e.rp);
  ck_assert_uint_eq(st.sent, 5);
  ck_assert_uint_eq(st.waits, 2);
  ck_assert_uint_eq(st.late_max_us, 2000);
  /* Everything is sent, but the end waits for the bus to have carried every frame. */
  ck_assert_int_eq(e.done_calls, 0);
  dd_can_frame_t f;
  int echoes = 0;
  while (dd_canport_recv(e.port, &f) == 0) {
    ck_assert_int_eq(e.done_calls, 0);
    dd_canreplay_on_frame(e.rp, &f);
    echoes++;
  }
  ck_assert_int_eq(echoes, 5);
  ck_assert_int_eq(e.done_calls, 1);
  /* A frame of another node is no echo. */
  dd_can_frame_t other;
  dd_can_parse("7E8#01", &other);
  dd_canreplay_on_frame(e.rp, &other);
  ck_assert_uint_eq(dd_canreplay_stats(e.rp).echoed, 5);
  s_down(&e);

  /* Echoes that never come (frames the bus refused): the end comes 2 s after the last send,
   * as a failure. */
  s_up(&e, "(1.000000) can0 101#01\n(1.000000) can0 102#02\n", &cfg, &mc);
  dd_canreplay_start(e.rp, e.port);
  ck_assert(dd_canport_recv(e.port, &f) == 0);
  dd_canreplay_on_frame(e.rp, &f); /* one of two */
  s_at(&e, S_T0 + 1999999);
  ck_assert_int_eq(e.done_calls, 0);
  s_at(&e, S_T0 + 2000000);
  ck_assert_int_eq(e.done_calls, 1);
  ck_assert_int_eq(e.done_code, DD_ETIMEDOUT);
  s_down(&e);
}
END_TEST

START_TEST(test_send_failure_ends) {
  s_env_t e;
  s_up(&e, "(1.000000) can0 101#01\n(1.100000) can0 102#02\n", NULL, NULL);
  dd_canport_mock_fault_t fault = {
      .dir = DD_CANPORT_MOCK_TX, .kind = DD_CANPORT_MOCK_FAIL, .nth = 2, .error = DD_ENETDOWN};
  ck_assert_int_eq(dd_canport_mock_add_fault(e.port, &fault), 0);
  dd_canreplay_start(e.rp, e.port);
  s_at(&e, S_T0 + 100000);
  ck_assert_int_eq(e.done_calls, 1);
  ck_assert_int_eq(e.done_code, DD_ENETDOWN);
  ck_assert_uint_eq(dd_canreplay_stats(e.rp).sent, 1);
  s_down(&e);
}
END_TEST

/* ---- across processes ---- */

typedef struct {
  dd_can_frame_t f[64]; /* frames received, in order */
  int n;                /* how many */
} s_rx_t;

static void s_on_rx(const dd_can_frame_t *f, uint64_t now_us, void *arg) {
  s_rx_t *rx = arg;
  if (rx->n < 64) rx->f[rx->n++] = *f;
}

static int s_count_kind(const char *path, const char *kind) {
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  char line[4096], needle[128];
  snprintf(needle, sizeof needle, "\"kind\":\"%s\"", kind);
  int n = 0;
  while (fgets(line, sizeof line, f))
    if (strstr(line, needle)) n++;
  fclose(f);
  return n;
}

/* Recorded times (ms from the first frame) of the log the processes play. */
static const int s_rec_ms[] = {0, 50, 150, 300, 600};
static const char *const s_rec_frames[] = {"7E0#0210030000000000", "7E8#0650030032", "18DAF110#01",
                                           "123##1AABBCCDDEEFF0011", "7DF#020100"};

static void s_run_processes(double speed, bool stay) {
  dd_rig_t *rig = NULL;
  ck_assert_int_eq(dd_rig_new(NULL, &rig), 0);
  char ep[256], log[512];
  const char *bus_args[] = {"--endpoint", dd_rig_endpoint(rig, "bus", ep, sizeof ep), NULL};
  ck_assert_int_eq(dd_rig_spawn(rig, "bus", "bus", bus_args, 10 * DD_US_PER_S), 0);

  /* The log, in candump -l form, with lines this replay must pass over. */
  snprintf(log, sizeof log, "%s/play.log", dd_rig_dir(rig));
  FILE *f = fopen(log, "w");
  ck_assert_ptr_nonnull(f);
  fprintf(f, "# five frames\n");
  for (size_t i = 0; i < 5; i++) {
    fprintf(f, "(1700000000.%06d) can0 %s\n", 123456 + s_rec_ms[i] * 1000, s_rec_frames[i]);
    if (i == 1) fprintf(f, "(1700000000.200000) can1 555#FF\n"); /* another interface */
  }
  fclose(f);

  /* This test is a node on the bus, attached before the replay starts. */
  dd_loop_t *loop = dd_rig_loop(rig);
  dd_canport_opts_t popts = {.fd = true};
  dd_canport_t *port = NULL;
  dd_canmux_t *mux = NULL;
  s_rx_t rx = {.n = 0};
  ck_assert_int_eq(dd_canport_vbus_open(dd_rig_zctx(rig), ep, "listener", &popts, &port), 0);
  ck_assert_int_eq(dd_canmux_new(loop, port, &mux), 0);
  ck_assert_int_gt(dd_canmux_listen(mux, s_on_rx, &rx), 0);
  for (int i = 0; i < 500 && !dd_canport_vbus_attached(port, NULL, NULL); i++)
    dd_loop_step(loop, 10000);
  ck_assert(dd_canport_vbus_attached(port, NULL, NULL));

  char speed_s[32];
  snprintf(speed_s, sizeof speed_s, "%g", speed);
  const char *args[] = {
      "--bus", ep, "--log", log, "--iface", "can0", "--speed", speed_s, stay ? "--stay" : NULL,
      NULL};
  ck_assert_int_eq(dd_rig_spawn(rig, "replay", "canreplay", args, 10 * DD_US_PER_S), 0);
  uint64_t end = dd_clock_now_us(dd_loop_clock(loop)) + 10 * DD_US_PER_S;
  while (rx.n < 5 && dd_clock_now_us(dd_loop_clock(loop)) < end)
    dd_loop_step(loop, 10000);
  ck_assert_int_eq(rx.n, 5);

  /* In order, unchanged, and spaced as recorded (divided by the speed) on the bus's time line:
   * ts_us is each frame's end on the wire. Tolerance 40 ms for a loaded machine. */
  for (int i = 0; i < 5; i++) {
    dd_can_frame_t want;
    ck_assert_int_eq(dd_can_parse(s_rec_frames[i], &want), 0);
    char g[DD_CAN_TEXT_MAX];
    ck_assert_msg(dd_can_frame_equal(&rx.f[i], &want), "frame %d: got %s, want %s", i,
                  dd_can_format(&rx.f[i], g, sizeof g), s_rec_frames[i]);
    if (!i) continue;
    double got_ms = (double)(rx.f[i].ts_us - rx.f[0].ts_us) / 1000.0;
    double want_ms = s_rec_ms[i] / speed;
    ck_assert_msg(fabs(got_ms - want_ms) < 40.0, "frame %d at %.1f ms, recorded %.1f ms", i, got_ms,
                  want_ms);
  }

  dd_child_t *child = dd_rig_child(rig, "replay");
  ck_assert_ptr_nonnull(child);
  int code = -1, sig = 0;
  if (!stay) { /* it ends by itself, with 0, once the last frame has been on the bus */
    for (int i = 0; i < 500 && !dd_child_exited(child, &code, &sig); i++)
      dd_loop_step(loop, 10000);
    ck_assert(dd_child_exited(child, &code, &sig));
    ck_assert_int_eq(code, 0);
  } else {
    for (int i = 0; i < 20; i++)
      dd_loop_step(loop, 10000);
    ck_assert(!dd_child_exited(child, NULL, NULL)); /* --stay: waits for STOP */
  }
  dd_canmux_destroy(&mux);
  ck_assert_int_eq(dd_rig_stop_all(rig, 5 * DD_US_PER_S), 0);
  char tl[600];
  snprintf(tl, sizeof tl, "%s/timeline.jsonl", dd_rig_dir(rig));
  ck_assert_int_eq(s_count_kind(tl, "canreplay.start"), 1);
  ck_assert_int_eq(s_count_kind(tl, "canreplay.end"), 1);
  ck_assert_int_ge(s_count_kind(tl, "canreplay.progress"), 5);
  dd_rig_destroy(&rig);
}

START_TEST(test_processes_recorded_spacing) { s_run_processes(1.0, true); }
END_TEST

START_TEST(test_processes_double_speed) { s_run_processes(2.0, false); }
END_TEST

START_TEST(test_process_refuses_malformed) {
  dd_rig_t *rig = NULL;
  ck_assert_int_eq(dd_rig_new(NULL, &rig), 0);
  char ep[256], log[512];
  dd_rig_endpoint(rig, "bus", ep, sizeof ep);
  snprintf(log, sizeof log, "%s/bad.log", dd_rig_dir(rig));
  s_write_file(log, "(1.000000) can0 123#11\n(1.1 can0 124#22\n");
  const char *args[] = {"--bus", ep, "--log", log, NULL};
  ck_assert_int_eq(dd_rig_spawn(rig, "replay", "canreplay", args, 5 * DD_US_PER_S),
                   DD_ECHILD_FAILED);
  int code = -1;
  ck_assert(dd_child_exited(dd_rig_child(rig, "replay"), &code, NULL));
  ck_assert_int_eq(code, 2);
  char tail[2048], want[600];
  dd_child_tail(dd_rig_child(rig, "replay"), tail, sizeof tail, 10);
  snprintf(want, sizeof want, "%s:2: malformed candump line", log);
  ck_assert_msg(strstr(tail, want), "no \"%s\" in:\n%s", want, tail);
  dd_rig_stop_all(rig, DD_US_PER_S);
  dd_rig_destroy(&rig);
}
END_TEST

int main(void) {
  Suite *s = suite_create("canreplay");
  TCase *tc = tcase_create("schedule");
  tcase_add_test(tc, test_schedule_absolute);
  tcase_add_test(tc, test_schedule_speed);
  tcase_add_test(tc, test_schedule_loop);
  tcase_add_test(tc, test_iface_filter);
  tcase_add_test(tc, test_malformed_lines);
  tcase_add_test(tc, test_port_full_and_echoes);
  tcase_add_test(tc, test_send_failure_ends);
  suite_add_tcase(s, tc);
  TCase *tp = tcase_create("processes");
  tcase_set_timeout(tp, 60);
  tcase_add_test(tp, test_processes_recorded_spacing);
  tcase_add_test(tp, test_processes_double_speed);
  tcase_add_test(tp, test_process_refuses_malformed);
  suite_add_tcase(s, tp);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
