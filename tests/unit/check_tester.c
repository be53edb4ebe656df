/* check_tester: the UDS tester channel (dd_tester) on a mock CAN port with loopback echo and a
 * manual clock, confirming requests by the bus echo: P2client starts at the echo of each
 * request's last frame even when the client's own TesterPresent (or anything else) finishes
 * sending before that echo is back, the plain case of an echo at once, and more messages awaiting
 * their echoes than the tester keeps track of.
 *
 * ISO 14229-2:2013 application layer timing (P2client; 9.2 Table 3 in the 2021 edition): the
 * client waits P2client for the start of the response from the confirmation that the request
 * went out (T_Data.con, N_USData.con on CAN per ISO 15765-3/14229-3), not from the moment it
 * handed the request down. Here that confirmation is the bus's TX echo of the last frame.
 * Vectors: ReadDataByIdentifier 22 F1 90 -> 62 F1 90 ..., TesterPresent 3E 80 (ISO 14229-1
 * service layouts), single and first/consecutive frames with 0xCC padding (ISO 15765-2:2016
 * 9.6.2, 9.6.3, 9.6.4, 10.4.2). Times are virtual, so the expected instants are exact. */
#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dd_can.h"
#include "dd_canmux.h"
#include "dd_canport_mock.h"
#include "dd_clock.h"
#include "dd_err.h"
#include "dd_isotp.h"
#include "dd_loop.h"
#include "dd_tester.h"
#include "dd_uds.h"
#include "dd_uds_client.h"

#define S_MS 1000ull
#define S_S 1000000ull
#define S_T0 (1 * S_S)      /* clock at the start of each test */
#define S_P2 (150 * S_MS)   /* P2client of dd_uds_client_cfg_default (50 ms + dP2 100 ms) */
#define S_MARGIN (1 * S_MS) /* slack allowed on an expected instant */
/* Messages dd_tester tracks at once while they wait for their echo (S_MAX_CONFIRM in
 * dd_tester.c); past it the oldest is confirmed without its echo. */
#define S_TESTER_MAX_CONFIRM 8
#define S_MAX_REC 128

typedef struct {
  int status;       /* result status */
  bool final;       /* the request is over */
  uint64_t done_at; /* when the result was made */
  uint8_t data[64]; /* the response (first bytes) */
  size_t len;       /* its length */
} s_res_t;

typedef struct {
  dd_can_frame_t f; /* an echo of one of our frames */
  uint64_t at;      /* loop time it was received */
} s_echo_t;

typedef struct {
  dd_clock_t clock;          /* manual; the mock port's clock follows it */
  dd_loop_t *loop;           /* stepped by the test */
  dd_canport_t *port;        /* mock with loopback, owned by mux */
  dd_canmux_t *mux;          /* the port on the loop */
  dd_tester_t *t;            /* under test */
  s_res_t res[S_MAX_REC];    /* results handed to the callback */
  size_t n_res;              /* their count */
  s_echo_t echo[S_MAX_REC];  /* TX echoes seen on the port */
  size_t n_echo;             /* their count */
  uint64_t tx_at[S_MAX_REC]; /* loop time of each frame handed to the port */
  size_t n_tx;               /* their count */
  int remote[2];             /* pipe standing for another input of the loop (e.g. the
                                remote party's socket) that hands in requests */
  uint8_t queued[8];         /* the request that input carries */
  size_t queued_len;         /* its length */
} s_env_t;

static void s_on_bus(const dd_can_frame_t *f, uint64_t now, void *arg) {
  s_env_t *e = arg;
  if (!(f->flags & DD_CAN_F_TX)) return;
  ck_assert_uint_lt(e->n_echo, S_MAX_REC);
  e->echo[e->n_echo++] = (s_echo_t){.f = *f, .at = now};
}

static void s_on_result(dd_tester_t *t, const dd_uds_result_t *res, void *arg) {
  s_env_t *e = arg;
  ck_assert_uint_lt(e->n_res, S_MAX_REC);
  s_res_t *r = &e->res[e->n_res++];
  *r = (s_res_t){.status = res->status, .final = res->final, .done_at = res->done_at};
  r->len = res->len < sizeof r->data ? res->len : sizeof r->data;
  if (res->data && r->len) memcpy(r->data, res->data, r->len);
}

/* The other input: one byte means "send the queued request now". */
static int s_on_remote(dd_loop_t *loop, void *zsock, int fd, void *arg) {
  s_env_t *e = arg;
  uint8_t b;
  ck_assert_int_eq(read(fd, &b, 1), 1);
  ck_assert_int_eq(dd_tester_request(e->t, e->queued, e->queued_len, false, s_on_result, e), 0);
  return 0;
}

/* Record the handoff time of frames given to the port since the last look. */
static void s_note_tx(s_env_t *e) {
  uint32_t calls = dd_canport_mock_tx_calls(e->port);
  while (e->n_tx < calls) {
    ck_assert_uint_lt(e->n_tx, S_MAX_REC);
    e->tx_at[e->n_tx++] = dd_loop_now(e->loop);
  }
}

static void s_up(s_env_t *e, bool tp_functional, uint64_t tp_period_us) {
  memset(e, 0, sizeof *e);
  dd_clock_init_manual(&e->clock, S_T0);
  e->loop = dd_loop_new(&e->clock);
  ck_assert_ptr_nonnull(e->loop);
  dd_canport_mock_cfg_t mcfg = {.opts = {.loopback = true}};
  ck_assert_int_eq(dd_canport_mock_new(&mcfg, &e->port), 0);
  dd_canport_mock_set_now(e->port, S_T0);
  ck_assert_int_eq(dd_canmux_new(e->loop, e->port, &e->mux), 0);
  ck_assert_int_gt(dd_canmux_listen(e->mux, s_on_bus, e), 0);
  dd_isotp_cfg_t icfg;
  dd_isotp_cfg_default(&icfg); /* 7E0 / 7E8, functional 7DF, padding CC */
  dd_uds_client_cfg_t ucfg;
  dd_uds_client_cfg_default(&ucfg); /* tx_confirm_us 0: dd_tester puts its 30 s fallback there */
  ucfg.tp_period_us = tp_period_us;
  ucfg.tp_functional = tp_functional;
  ck_assert_int_eq(dd_tester_new(e->mux, &icfg, &ucfg, &e->t), 0);
  dd_tester_confirm_by_echo(e->t, true);
  ck_assert_uint_eq(dd_uds_client_p2(dd_tester_client(e->t)), S_P2);
  dd_loop_step(e->loop, 0); /* the loop's "now" is S_T0 from here */
}

static void s_down(s_env_t *e) {
  dd_tester_destroy(&e->t);
  dd_canmux_destroy(&e->mux);
  dd_loop_destroy(&e->loop);
}

static uint64_t s_now(s_env_t *e) { return dd_clock_now_us(&e->clock); }

/* Step the loop until nothing more happens at the current instant. */
static void s_settle(s_env_t *e) {
  for (int i = 0; i < 1000; i++) {
    dd_loop_stats_t a = dd_loop_stats(e->loop);
    ck_assert_int_eq(dd_loop_step(e->loop, 0), 0);
    s_note_tx(e);
    dd_loop_stats_t b = dd_loop_stats(e->loop);
    if (a.timers_fired == b.timers_fired && a.reader_calls == b.reader_calls) return;
  }
  ck_abort_msg("the loop never settles at %llu us", (unsigned long long)s_now(e));
}

/* Move time to t, stopping at every loop deadline and every frame the mock releases, so each
 * handler runs at its exact instant. */
static void s_run_to(s_env_t *e, uint64_t t) {
  for (int guard = 0; guard < 100000; guard++) {
    s_settle(e);
    uint64_t now = s_now(e);
    if (now >= t) return;
    uint64_t next = dd_loop_next_deadline(e->loop);
    uint64_t due = dd_canport_mock_next_due(e->port);
    if (due < next) next = due;
    if (next > t) next = t;
    if (next <= now) next = now + 1;
    dd_clock_set_us(&e->clock, next);
    dd_canport_mock_set_now(e->port, next);
  }
  ck_abort_msg("no progress towards %llu us", (unsigned long long)t);
}

/* Hold the next frame handed to the port (and every later one behind it) delay_us before it
 * shows on the bus and echoes back. */
static void s_delay_next_tx(s_env_t *e, uint64_t delay_us) {
  dd_canport_mock_fault_t f = {.dir = DD_CANPORT_MOCK_TX,
                               .kind = DD_CANPORT_MOCK_DELAY,
                               .nth = dd_canport_mock_tx_calls(e->port) + 1,
                               .delay_us = delay_us};
  ck_assert_int_eq(dd_canport_mock_add_fault(e->port, &f), 0);
}

static void s_request(s_env_t *e, const uint8_t *req, size_t len, bool functional) {
  ck_assert_int_eq(dd_tester_request(e->t, req, len, functional, s_on_result, e), 0);
  s_note_tx(e);
}

/* The ECU's frame, received at the current instant (or delay_us later). */
static void s_ecu(s_env_t *e, const char *text, uint64_t delay_us) {
  if (delay_us) {
    dd_canport_mock_fault_t f = {.dir = DD_CANPORT_MOCK_RX,
                                 .kind = DD_CANPORT_MOCK_DELAY,
                                 .nth = dd_canport_mock_rx_calls(e->port) + 1,
                                 .delay_us = delay_us};
    ck_assert_int_eq(dd_canport_mock_add_fault(e->port, &f), 0);
  }
  ck_assert_int_eq(dd_canport_mock_inject_text(e->port, text), 0);
}

/* The oldest frame on the bus not yet looked at is text. */
static void s_expect_sent(s_env_t *e, const char *text) {
  dd_can_frame_t got, want;
  ck_assert_int_eq(dd_can_parse(text, &want), 0);
  ck_assert_msg(dd_canport_mock_take_sent(e->port, &got) == 0, "nothing on the bus, want %s", text);
  char g[DD_CAN_TEXT_MAX];
  dd_can_format(&got, g, sizeof g);
  ck_assert_msg(got.id == want.id && got.len == want.len &&
                    memcmp(got.data, want.data, want.len) == 0,
                "bus: %s, want %s", g, text);
}

/* Echo number i is of a frame with this id and first two payload bytes, at time at. */
static void s_expect_echo(s_env_t *e, size_t i, uint32_t id, uint8_t b0, uint8_t b1, uint64_t at) {
  ck_assert_uint_gt(e->n_echo, i);
  ck_assert_uint_eq(e->echo[i].f.id, id);
  ck_assert_uint_eq(e->echo[i].f.data[0], b0);
  ck_assert_uint_eq(e->echo[i].f.data[1], b1);
  ck_assert_uint_eq(e->echo[i].at, at);
}

/* Result i is the P2 timeout, made P2 after the confirmation at confirm_at (which is what the
 * client reports: no response started within P2client of T_Data.con). */
static void s_expect_p2_timeout(s_env_t *e, size_t i, uint64_t confirm_at) {
  ck_assert_msg(e->n_res > i,
                "no result within P2 + %llu us of the confirmation at %llu us (P2 not started: "
                "only the 30 s tx-confirm fallback would end the request)",
                (unsigned long long)S_MARGIN, (unsigned long long)confirm_at);
  ck_assert_int_eq(e->res[i].status, DD_EUDS_TIMEOUT_P2);
  ck_assert(e->res[i].final);
  ck_assert_uint_ge(e->res[i].done_at, confirm_at + S_P2);
  ck_assert_uint_le(e->res[i].done_at, confirm_at + S_P2 + S_MARGIN);
}

/* Case 1: a physical request whose echo is late, and the client's own TesterPresent (3E 80,
 * functional, S3client) finishing at ISO-TP level before that echo. Each request's P2client must
 * start at its own echo: an ECU that stays silent gives DD_EUDS_TIMEOUT_P2 exactly P2 after the
 * request's echo, not P2 after its handoff, not P2 after the TesterPresent's echo, and not
 * 30 s later. Two rounds, 2 s apart (one S3client period): in the first the TesterPresent's own
 * echo is later still, in the second it shows together with the request's. */
START_TEST(test_late_echo_then_keepalive) {
  s_env_t e;
  s_up(&e, true, DD_UDS_S3_CLIENT_US);
  dd_uds_client_set_session(dd_tester_client(e.t), DD_UDS_SESSION_EXTENDED, s_now(&e));
  static const uint8_t reqs[2][3] = {{0x22, 0xF1, 0x90}, {0x22, 0xF1, 0x91}};
  static const char *const bus[2] = {"7E0#0322F190CCCCCCCC", "7E0#0322F191CCCCCCCC"};
  uint64_t tp_at = S_T0 + DD_UDS_S3_CLIENT_US; /* TesterPresent due */
  for (size_t round = 0; round < 2; round++, tp_at += DD_UDS_S3_CLIENT_US) {
    size_t tx0 = e.n_tx, echo0 = e.n_echo, res0 = e.n_res;
    s_run_to(&e, tp_at - 5 * S_MS);
    uint64_t req_at = s_now(&e);
    s_delay_next_tx(&e, 20 * S_MS); /* the request's echo: 20 ms late */
    s_request(&e, reqs[round], 3, false);
    if (round == 0) s_delay_next_tx(&e, 30 * S_MS); /* the TesterPresent's: later still */
    s_run_to(&e, tp_at);
    /* The keep-alive has been handed over and is done at ISO-TP level; no echo yet. */
    ck_assert_uint_eq(e.n_tx, tx0 + 2);
    ck_assert_uint_eq(e.tx_at[tx0], req_at);
    ck_assert_uint_eq(e.tx_at[tx0 + 1], tp_at);
    ck_assert_uint_eq(e.n_echo, echo0);
    uint64_t echo_at = req_at + 20 * S_MS;
    s_run_to(&e, echo_at);
    s_expect_echo(&e, echo0, 0x7E0, 0x03, 0x22, echo_at);
    uint64_t tp_echo_at = round == 0 ? tp_at + 30 * S_MS : echo_at;
    s_run_to(&e, tp_echo_at);
    s_expect_echo(&e, echo0 + 1, 0x7DF, 0x02, 0x3E, tp_echo_at);
    s_expect_sent(&e, bus[round]);
    s_expect_sent(&e, "7DF#023E80CCCCCCCCCC");
    /* Not P2 after the handoff (that would be 20 ms earlier). */
    s_run_to(&e, echo_at + S_P2 - 1);
    ck_assert_uint_eq(e.n_res, res0);
    s_run_to(&e, echo_at + S_P2 + S_MARGIN);
    s_expect_p2_timeout(&e, res0, echo_at);
    ck_assert_uint_eq(e.n_res, res0 + 1);
  }
  s_down(&e);
}
END_TEST

/* Case 1, functional: a functional request (7DF) with a late echo, then a physical TesterPresent
 * (7E0) done before it. The collection window of a functional request is P2client from its
 * confirmation; a response inside it is one result, and the window closes P2 after the
 * request's echo with status 0 (not 30 s later). */
START_TEST(test_late_echo_functional_then_keepalive) {
  s_env_t e;
  s_up(&e, false, DD_UDS_S3_CLIENT_US);
  dd_uds_client_set_session(dd_tester_client(e.t), DD_UDS_SESSION_EXTENDED, s_now(&e));
  uint64_t tp_at = S_T0 + DD_UDS_S3_CLIENT_US;
  s_run_to(&e, tp_at - 5 * S_MS);
  uint64_t req_at = s_now(&e);
  s_delay_next_tx(&e, 20 * S_MS);
  static const uint8_t req[] = {0x22, 0xF1, 0x90};
  s_request(&e, req, sizeof req, true);
  s_run_to(&e, tp_at);
  ck_assert_uint_eq(e.n_tx, 2);
  ck_assert_uint_eq(e.tx_at[1], tp_at); /* the physical keep-alive, before the echo */
  ck_assert_uint_eq(e.n_echo, 0);
  uint64_t echo_at = req_at + 20 * S_MS;
  s_run_to(&e, echo_at);
  s_expect_echo(&e, 0, 0x7DF, 0x03, 0x22, echo_at);
  s_expect_echo(&e, 1, 0x7E0, 0x02, 0x3E, echo_at);
  s_expect_sent(&e, "7DF#0322F190CCCCCCCC");
  s_expect_sent(&e, "7E0#023E80CCCCCCCCCC");
  s_run_to(&e, echo_at + 30 * S_MS);
  s_ecu(&e, "7E8#0662F190414243CC", 0); /* one ECU answers */
  s_run_to(&e, echo_at + S_P2 - 1);
  ck_assert_uint_eq(e.n_res, 1);
  ck_assert_int_eq(e.res[0].status, 0);
  ck_assert(!e.res[0].final);
  ck_assert_uint_eq(e.res[0].len, 6);
  ck_assert_mem_eq(e.res[0].data, "\x62\xF1\x90\x41\x42\x43", 6);
  ck_assert_uint_eq(e.res[0].done_at, echo_at + 30 * S_MS);
  s_run_to(&e, echo_at + S_P2 + S_MARGIN);
  ck_assert_msg(e.n_res == 2, "the functional window did not close P2 after the echo");
  ck_assert_int_eq(e.res[1].status, 0);
  ck_assert(e.res[1].final);
  ck_assert_uint_ge(e.res[1].done_at, echo_at + S_P2);
  ck_assert_uint_le(e.res[1].done_at, echo_at + S_P2 + S_MARGIN);
  s_down(&e);
}
END_TEST

/* Case 2: the echo at once. A positive response inside P2 is the result; a silent ECU gives the
 * P2 timeout P2 after the echo; for a segmented request P2 runs from the echo of the last
 * consecutive frame (ISO 15765-2:2016 9.6.3/9.6.4 first and consecutive frames, flow control
 * from the ECU after 10 ms), not from the first frame. */
START_TEST(test_echo_at_once) {
  s_env_t e;
  s_up(&e, true, DD_UDS_S3_CLIENT_US); /* default session: no TesterPresent */
  static const uint8_t rdbi[] = {0x22, 0xF1, 0x90};
  uint64_t t1 = s_now(&e);
  s_request(&e, rdbi, sizeof rdbi, false);
  s_settle(&e);
  s_expect_echo(&e, 0, 0x7E0, 0x03, 0x22, t1);
  s_expect_sent(&e, "7E0#0322F190CCCCCCCC");
  s_run_to(&e, t1 + 40 * S_MS);
  s_ecu(&e, "7E8#0662F190414243CC", 0);
  s_settle(&e);
  ck_assert_uint_eq(e.n_res, 1);
  ck_assert_int_eq(e.res[0].status, 0);
  ck_assert(e.res[0].final);
  ck_assert_uint_eq(e.res[0].len, 6);
  ck_assert_mem_eq(e.res[0].data, "\x62\xF1\x90\x41\x42\x43", 6);
  ck_assert_uint_eq(e.res[0].done_at, t1 + 40 * S_MS);

  static const uint8_t rdbi2[] = {0x22, 0xF1, 0x91};
  s_run_to(&e, t1 + S_S);
  uint64_t t2 = s_now(&e);
  s_request(&e, rdbi2, sizeof rdbi2, false);
  s_settle(&e);
  s_expect_echo(&e, 1, 0x7E0, 0x03, 0x22, t2);
  s_expect_sent(&e, "7E0#0322F191CCCCCCCC");
  s_run_to(&e, t2 + S_P2 - 1);
  ck_assert_uint_eq(e.n_res, 1);
  s_run_to(&e, t2 + S_P2 + S_MARGIN);
  s_expect_p2_timeout(&e, 1, t2);

  /* WriteDataByIdentifier F190 with a 17-character VIN: 20 bytes, FF + 2 CF. */
  static const uint8_t wdbi[] = {0x2E, 0xF1, 0x90, 'W', 'D', 'B', '1', '2', '3', '4',
                                 '5',  '6',  '7',  '8', '9', '0', '1', '2', '3', '4'};
  s_run_to(&e, t2 + 2 * S_S);
  uint64_t t3 = s_now(&e);
  s_request(&e, wdbi, sizeof wdbi, false);
  s_settle(&e);
  s_expect_echo(&e, 2, 0x7E0, 0x10, 0x14, t3);
  s_expect_sent(&e, "7E0#10142EF190574442");
  s_run_to(&e, t3 + 10 * S_MS);
  s_ecu(&e, "7E8#300000CCCCCCCCCC", 0); /* FC (9.6.5): ContinueToSend, BS 0, STmin 0 */
  s_run_to(&e, t3 + 50 * S_MS);
  s_expect_sent(&e, "7E0#2131323334353637");
  s_expect_sent(&e, "7E0#2238393031323334");
  ck_assert_uint_eq(e.n_echo, 5);
  s_expect_echo(&e, 4, 0x7E0, 0x22, 0x38, t3 + 10 * S_MS);
  uint64_t last_echo = e.echo[4].at;
  s_run_to(&e, last_echo + S_P2 - 1);
  ck_assert_uint_eq(e.n_res, 2);
  s_run_to(&e, last_echo + S_P2 + S_MARGIN);
  s_expect_p2_timeout(&e, 2, last_echo);
  s_down(&e);
}
END_TEST

/* Case 2, echoes at once in a non-default session: a first request is answered; then a second
 * request comes in from another input of the loop (as the remote party's requests do) in the
 * pass in which the TesterPresent falls due. Readers run before timers in a pass (dd_loop_step),
 * so the request goes out first and the overdue keep-alive follows it in the same pump, before
 * the loop has read the request's echo. P2client must still start at the request's echo. */
START_TEST(test_echo_at_once_keepalive_same_pass) {
  s_env_t e;
  s_up(&e, true, DD_UDS_S3_CLIENT_US);
  ck_assert_int_eq(pipe(e.remote), 0);
  ck_assert_int_eq(dd_loop_add_fd(e.loop, e.remote[0], s_on_remote, &e), 0);
  dd_uds_client_set_session(dd_tester_client(e.t), DD_UDS_SESSION_EXTENDED, s_now(&e));
  uint64_t tp_at = S_T0 + DD_UDS_S3_CLIENT_US;
  s_run_to(&e, tp_at - 40 * S_MS);
  uint64_t t1 = s_now(&e);
  static const uint8_t rdbi[] = {0x22, 0xF1, 0x90};
  s_request(&e, rdbi, sizeof rdbi, false);
  s_settle(&e);
  s_expect_echo(&e, 0, 0x7E0, 0x03, 0x22, t1);
  s_run_to(&e, t1 + 10 * S_MS);
  s_ecu(&e, "7E8#0662F190414243CC", 0);
  s_settle(&e);
  ck_assert_uint_eq(e.n_res, 1);
  ck_assert_int_eq(e.res[0].status, 0);
  ck_assert(e.res[0].final);
  ck_assert_uint_eq(e.res[0].done_at, t1 + 10 * S_MS);

  s_run_to(&e, tp_at - 1);
  ck_assert_uint_eq(e.n_tx, 1); /* the keep-alive is not out yet */
  static const uint8_t next[] = {0x22, 0xF1, 0x91};
  memcpy(e.queued, next, sizeof next);
  e.queued_len = sizeof next;
  dd_clock_set_us(&e.clock, tp_at);
  dd_canport_mock_set_now(e.port, tp_at);
  ck_assert_int_eq(write(e.remote[1], "r", 1), 1);
  s_settle(&e);
  ck_assert_uint_eq(e.n_tx, 3); /* request 2, then the TesterPresent, in that pass */
  ck_assert_uint_eq(e.tx_at[1], tp_at);
  ck_assert_uint_eq(e.tx_at[2], tp_at);
  s_expect_sent(&e, "7E0#0322F190CCCCCCCC");
  s_expect_sent(&e, "7E0#0322F191CCCCCCCC");
  s_expect_sent(&e, "7DF#023E80CCCCCCCCCC");
  s_expect_echo(&e, 1, 0x7E0, 0x03, 0x22, tp_at);
  s_expect_echo(&e, 2, 0x7DF, 0x02, 0x3E, tp_at);
  s_run_to(&e, tp_at + S_P2 - 1);
  ck_assert_uint_eq(e.n_res, 1);
  s_run_to(&e, tp_at + S_P2 + S_MARGIN);
  s_expect_p2_timeout(&e, 1, tp_at);
  dd_loop_remove_fd(e.loop, e.remote[0]);
  close(e.remote[0]);
  close(e.remote[1]);
  s_down(&e);
}
END_TEST

/* Case 3: more messages awaiting echoes than the tester tracks. A request whose echo is held
 * 200 ms is followed by a TesterPresent every millisecond. When the (S_TESTER_MAX_CONFIRM+1)th
 * message is done, the oldest (the request) is confirmed without its echo, so P2 runs from that
 * moment: the ECU's silence is reported before the request's echo is even back. Then every echo
 * comes back in order, and a later request with a late echo is confirmed by its own echo again:
 * no entry was lost and the echo count is still right. */
START_TEST(test_overflow_oldest_confirmed) {
  s_env_t e;
  s_up(&e, true, 1 * S_MS);
  dd_uds_client_t *c = dd_tester_client(e.t);
  dd_uds_client_set_session(c, DD_UDS_SESSION_EXTENDED, s_now(&e)); /* TP at T0 + k ms */
  s_run_to(&e, S_T0 + 500);
  s_delay_next_tx(&e, 200 * S_MS);
  static const uint8_t rdbi[] = {0x22, 0xF1, 0x90};
  s_request(&e, rdbi, sizeof rdbi, false);
  s_run_to(&e, S_T0 + 19 * S_MS + 500);
  dd_uds_client_set_session(c, DD_UDS_SESSION_DEFAULT, s_now(&e)); /* keep-alive stops */
  ck_assert_uint_eq(e.n_tx, 20); /* the request and 19 TesterPresents */
  ck_assert_uint_gt(e.n_tx, S_TESTER_MAX_CONFIRM);
  uint64_t overflow_at = e.tx_at[S_TESTER_MAX_CONFIRM]; /* message number MAX + 1 */
  ck_assert_uint_eq(overflow_at, S_T0 + S_TESTER_MAX_CONFIRM * S_MS);
  ck_assert_uint_eq(e.n_echo, 0);
  s_run_to(&e, overflow_at + S_P2 + S_MARGIN);
  s_expect_p2_timeout(&e, 0, overflow_at);
  ck_assert_uint_eq(e.n_echo, 0); /* reported before the request's echo */

  uint64_t echo_at = S_T0 + 500 + 200 * S_MS;
  s_run_to(&e, echo_at + 50 * S_MS);
  ck_assert_uint_eq(e.n_echo, 20);
  s_expect_echo(&e, 0, 0x7E0, 0x03, 0x22, echo_at);
  s_expect_sent(&e, "7E0#0322F190CCCCCCCC");
  for (size_t i = 1; i < 20; i++) {
    s_expect_echo(&e, i, 0x7DF, 0x02, 0x3E, echo_at);
    s_expect_sent(&e, "7DF#023E80CCCCCCCCCC");
  }
  ck_assert_uint_eq(e.n_res, 1);

  static const uint8_t rdbi2[] = {0x22, 0xF1, 0x92};
  uint64_t t2 = s_now(&e);
  s_delay_next_tx(&e, 20 * S_MS);
  s_request(&e, rdbi2, sizeof rdbi2, false);
  s_run_to(&e, t2 + 20 * S_MS + S_P2 - 1);
  s_expect_echo(&e, 20, 0x7E0, 0x03, 0x22, t2 + 20 * S_MS);
  ck_assert_uint_eq(e.n_res, 1);
  s_run_to(&e, t2 + 20 * S_MS + S_P2 + S_MARGIN);
  s_expect_p2_timeout(&e, 1, t2 + 20 * S_MS);
  s_down(&e);
}
END_TEST

/* Case 3, the request in the middle: TesterPresents with held echoes come first, the request
 * fourth, more TesterPresents after it, ten messages in all. The entries dropped on overflow are
 * the oldest TesterPresents; the request stays tracked and is confirmed by its own echo. */
START_TEST(test_overflow_keeps_request) {
  s_env_t e;
  s_up(&e, true, 1 * S_MS);
  dd_uds_client_t *c = dd_tester_client(e.t);
  dd_uds_client_set_session(c, DD_UDS_SESSION_EXTENDED, s_now(&e));
  /* A first request, answered, starts the tester's timer (and the keep-alive with it). */
  static const uint8_t first[] = {0x22, 0xF1, 0x8C};
  s_request(&e, first, sizeof first, false);
  s_settle(&e);
  s_ecu(&e, "7E8#0662F18C414243CC", 0);
  s_settle(&e);
  ck_assert_uint_eq(e.n_res, 1);
  ck_assert_int_eq(e.res[0].status, 0);
  ck_assert_uint_eq(e.n_echo, 1);
  s_delay_next_tx(&e, 200 * S_MS); /* the first TesterPresent's echo, and all behind it */
  s_run_to(&e, S_T0 + 3 * S_MS + 500);
  ck_assert_uint_eq(e.n_tx, 4); /* first request, TP at T0 + 1, 2, 3 ms */
  static const uint8_t rdbi[] = {0x22, 0xF1, 0x90};
  s_request(&e, rdbi, sizeof rdbi, false);
  s_run_to(&e, S_T0 + 9 * S_MS + 500);
  dd_uds_client_set_session(c, DD_UDS_SESSION_DEFAULT, s_now(&e));
  ck_assert_uint_eq(e.n_tx, 11); /* + the request and TP at T0 + 4..9 ms: 10 await echoes */
  ck_assert_uint_gt(e.n_tx - 1, S_TESTER_MAX_CONFIRM);
  ck_assert_uint_eq(e.n_echo, 1);
  uint64_t echo_at = S_T0 + 1 * S_MS + 200 * S_MS;
  s_run_to(&e, echo_at);
  ck_assert_uint_eq(e.n_echo, 11);
  s_expect_echo(&e, 4, 0x7E0, 0x03, 0x22, echo_at);
  s_run_to(&e, echo_at + S_P2 - 1);
  ck_assert_uint_eq(e.n_res, 1);
  s_run_to(&e, echo_at + S_P2 + S_MARGIN);
  s_expect_p2_timeout(&e, 1, echo_at);
  s_down(&e);
}
END_TEST

int main(void) {
  Suite *s = suite_create("tester");
  TCase *tc = tcase_create("confirm_by_echo");
  tcase_add_test(tc, test_late_echo_then_keepalive);
  tcase_add_test(tc, test_late_echo_functional_then_keepalive);
  tcase_add_test(tc, test_echo_at_once);
  tcase_add_test(tc, test_echo_at_once_keepalive_same_pass);
  tcase_add_test(tc, test_overflow_oldest_confirmed);
  tcase_add_test(tc, test_overflow_keeps_request);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
