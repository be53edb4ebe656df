/* check_socketcand: the socketcand protocol core (element parser, frame formatter, client
 * session) and the TCP server in front of a mock CAN port, with real loopback TCP clients.
 *
 * Vectors: the command examples of linux-can/socketcand doc/protocol.md ("< send 123 0 >",
 * "< send 1AAAAAAA 2 1 F1 >", "< open can0 >", "< rawmode >", "< echo >"); the daemon's output
 * format in src/state_raw.c ("< frame %03X %ld.%06ld " + "%02X" bytes + " >", "< fdframe ... >",
 * "< error %03X %ld.%06ld >") and its example "< frame 123 23.424242 1A220344 >" as quoted in
 * the project's reference notes (network.md 4.1); the send forms written by two independent
 * clients: python-can 4.1 ("< send {id:X} {len:X} {bytes as %x} >", lowercase, unpadded) and
 * socketcandcl ("< fdsend %03X %02X %d %02x ... >"). */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dd_can.h"
#include "dd_canport_mock.h"
#include "dd_clock.h"
#include "dd_err.h"
#include "dd_events.h"
#include "dd_loop.h"
#include "dd_socketcand.h"
#include "dd_socketcand_server.h"

static int s_parse(const char *text, dd_socketcand_cmd_t *cmd) {
  return dd_socketcand_parse(text, strlen(text), cmd, NULL);
}

static dd_can_frame_t s_frame(const char *text) {
  dd_can_frame_t f;
  ck_assert_int_eq(dd_can_parse(text, &f), 0);
  return f;
}

/* ---- parser ---- */

START_TEST(test_parse_doc_examples) {
  dd_socketcand_cmd_t cmd;
  /* doc/protocol.md, "Send a single frame": ID 123, no data. */
  ck_assert_int_eq(s_parse("< send 123 0 >", &cmd), 0);
  ck_assert_int_eq(cmd.kind, DD_SOCKETCAND_CMD_SEND);
  dd_can_frame_t want = s_frame("123#");
  ck_assert(dd_can_frame_equal(&cmd.frame, &want));
  /* "ID: 1AAAAAAA, Length: 2, Data: 0x01 0xF1": 8 digits make it extended. */
  ck_assert_int_eq(s_parse("< send 1AAAAAAA 2 1 F1 >", &cmd), 0);
  want = s_frame("1AAAAAAA#01F1");
  ck_assert(dd_can_frame_equal(&cmd.frame, &want));
  ck_assert(cmd.frame.flags & DD_CAN_F_EFF);
  /* An 8-digit identifier below 0x800 is still extended (element_length == 8). */
  ck_assert_int_eq(s_parse("< send 00000123 1 AA >", &cmd), 0);
  ck_assert_uint_eq(cmd.frame.id, 0x123);
  ck_assert(cmd.frame.flags & DD_CAN_F_EFF);
  ck_assert_int_eq(s_parse("< open can0 >", &cmd), 0);
  ck_assert_int_eq(cmd.kind, DD_SOCKETCAND_CMD_OPEN);
  ck_assert_str_eq(cmd.bus, "can0");
  ck_assert_int_eq(s_parse("< rawmode >", &cmd), 0);
  ck_assert_int_eq(cmd.kind, DD_SOCKETCAND_CMD_RAWMODE);
  ck_assert_int_eq(s_parse("< bcmmode >", &cmd), 0);
  ck_assert_int_eq(cmd.kind, DD_SOCKETCAND_CMD_BCMMODE);
  ck_assert_int_eq(s_parse("< echo >", &cmd), 0);
  ck_assert_int_eq(cmd.kind, DD_SOCKETCAND_CMD_ECHO);
  /* BCM jobs from the doc are recognised, not served. */
  ck_assert_int_eq(s_parse("< add 1 0 123 8 11 22 33 44 55 66 77 88 >", &cmd), 0);
  ck_assert_int_eq(cmd.kind, DD_SOCKETCAND_CMD_UNSERVED);
  ck_assert_int_eq(s_parse("< subscribe 0 0 123 >", &cmd), 0);
  ck_assert_int_eq(cmd.kind, DD_SOCKETCAND_CMD_UNSERVED);
  ck_assert_int_eq(s_parse("< can0 B 500000 875 0 0 0 0 0 0 >", &cmd), 0);
  ck_assert_int_eq(cmd.kind, DD_SOCKETCAND_CMD_UNSERVED);
}
END_TEST

START_TEST(test_parse_client_forms) {
  dd_socketcand_cmd_t cmd;
  /* python-can 4.1: lowercase unpadded bytes, length in hex (equal to decimal up to 8). */
  ck_assert_int_eq(s_parse("< send 7E0 8 2 10 3 0 0 0 0 0 >", &cmd), 0);
  dd_can_frame_t want = s_frame("7E0#0210030000000000");
  ck_assert(dd_can_frame_equal(&cmd.frame, &want));
  /* python-can 4.1 writes an extended id without leading zeros: above 0x7FF it is extended. */
  ck_assert_int_eq(s_parse("< send 12345 1 ff >", &cmd), 0);
  ck_assert_uint_eq(cmd.frame.id, 0x12345);
  ck_assert(cmd.frame.flags & DD_CAN_F_EFF);
  /* socketcandcl: "< fdsend %03X %02X %d %02x ... >"; flags 01 = CANFD_BRS. */
  ck_assert_int_eq(s_parse("< fdsend 123 01 12 00 11 22 33 44 55 66 77 88 99 aa bb >", &cmd), 0);
  ck_assert_int_eq(cmd.kind, DD_SOCKETCAND_CMD_FDSEND);
  want = s_frame("123##100112233445566778899AABB");
  ck_assert(dd_can_frame_equal(&cmd.frame, &want));
  /* flags 02 = CANFD_ESI; 8-digit id: extended. */
  ck_assert_int_eq(s_parse("< fdsend 18DAF110 02 2 ca fe >", &cmd), 0);
  ck_assert(cmd.frame.flags & DD_CAN_F_ESI);
  ck_assert(!(cmd.frame.flags & DD_CAN_F_BRS));
  ck_assert(cmd.frame.flags & DD_CAN_F_EFF);
  /* A length between CAN FD steps is padded up to the next one (9 -> 12, zeros). */
  ck_assert_int_eq(s_parse("< fdsend 123 00 9 1 2 3 4 5 6 7 8 9 >", &cmd), 0);
  ck_assert_uint_eq(cmd.frame.len, 12);
  ck_assert_uint_eq(cmd.frame.data[8], 9);
  ck_assert_uint_eq(cmd.frame.data[11], 0);
  /* White space is any amount; '<' and '>' may touch the words. */
  ck_assert_int_eq(s_parse("<send\t123  1\n\n42>", &cmd), 0);
  ck_assert_uint_eq(cmd.frame.data[0], 0x42);
}
END_TEST

START_TEST(test_parse_malformed) {
  static const char *const bad[] = {
      "< send 123 >",                     /* no length */
      "< send >",                         /* nothing */
      "< send 123 2 11 >",                /* fewer bytes than the length */
      "< send 123 1 11 22 >",             /* more bytes */
      "< send 123 9 1 2 3 4 5 6 7 8 9 >", /* above 8 */
      "< send 12G 0 >",                   /* not hex */
      "< send 123456789 0 >",             /* 9 digits */
      "< send 20000000 0 >",              /* above 29 bits */
      "< send 123 1 123 >",               /* a byte of 3 digits */
      "< send 123 x >",                   /* length not decimal */
      "< send 123 1 -1 >",
      "< fdsend 123 01 65 >", /* above 64 */
      "< fdsend 123 100 0 >", /* flags of 3 digits */
      "< fdsend 123 01 >",    /* no length */
      "< fdsend 123 01 2 1 >",
      "< open >", /* no name */
      "< open a b >",
      "< rawmode now >",
      "< >",
      "<>",
      "< send 123 1 4<2 >",      /* stray '<' */
      "< open a>b >",            /* stray '>' (only when parsed alone) */
      "< send 123 1 \x01 >",     /* control byte */
      "< send 123 1 \xc3\xa9 >", /* not ASCII */
      "send 123 0",              /* not enclosed */
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    dd_socketcand_cmd_t cmd;
    const char *why = NULL;
    int rc = dd_socketcand_parse(bad[i], strlen(bad[i]), &cmd, &why);
    ck_assert_msg(rc == DD_EILSEQ, "\"%s\" gave %d", bad[i], rc);
    ck_assert_ptr_nonnull(why);
    ck_assert(strlen(why) > 0 && !strchr(why, '<') && !strchr(why, '>'));
  }
  dd_socketcand_cmd_t cmd;
  ck_assert_int_eq(s_parse("< frobnicate >", &cmd), DD_ENOTSUP);
  ck_assert_int_eq(s_parse("< SEND 123 0 >", &cmd), DD_ENOTSUP); /* words are case-sensitive */
  /* 81 fields: more than any command has. */
  char many[512] = "< send 123 8";
  for (int i = 0; i < 78; i++)
    strcat(many, " 1");
  strcat(many, " >");
  ck_assert_int_eq(s_parse(many, &cmd), DD_EILSEQ);
  /* A bus name longer than 16 characters is no bus name. */
  ck_assert_int_eq(s_parse("< open abcdefghijklmnopq >", &cmd), 0);
  ck_assert_str_eq(cmd.bus, "");
}
END_TEST

/* ---- formatter ---- */

START_TEST(test_format_frames) {
  char buf[DD_SOCKETCAND_TEXT_MAX];
  /* The reference example: id 0x123, 4 bytes, time 23.424242. */
  dd_can_frame_t f = s_frame("123#1A220344");
  int n = dd_socketcand_format_frame(&f, 23424242, buf, sizeof buf);
  ck_assert_str_eq(buf, "< frame 123 23.424242 1A220344 >");
  ck_assert_int_eq(n, (int)strlen(buf));
  f = s_frame("1AAAAAAA#01F1");
  dd_socketcand_format_frame(&f, 1700000000000001ull, buf, sizeof buf);
  ck_assert_str_eq(buf, "< frame 1AAAAAAA 1700000000.000001 01F1 >");
  f = s_frame("00000012#");
  dd_socketcand_format_frame(&f, 5000000, buf, sizeof buf);
  ck_assert_str_eq(buf, "< frame 00000012 5.000000  >"); /* the daemon's form for no data */
  f = s_frame("7FF#");
  dd_socketcand_format_frame(&f, 0, buf, sizeof buf);
  ck_assert_str_eq(buf, "< frame 7FF 0.000000  >");
  f = s_frame("123##3AABB"); /* FD, BRS and ESI */
  dd_socketcand_format_frame(&f, 1500000, buf, sizeof buf);
  ck_assert_str_eq(buf, "< fdframe 123 03 1.500000 AABB >");
  f = s_frame("123##0");
  dd_socketcand_format_frame(&f, 1500000, buf, sizeof buf);
  ck_assert_str_eq(buf, "< fdframe 123 00 1.500000  >");
  /* The TX flag (our own echo) changes nothing in the text. */
  f = s_frame("321#11");
  f.flags |= DD_CAN_F_TX;
  dd_socketcand_format_frame(&f, 1, buf, sizeof buf);
  ck_assert_str_eq(buf, "< frame 321 0.000001 11 >");
  /* Error frame: "< error %03X sec.usec >" with the class bits (CAN_ERR_CRTL = 0x4). */
  dd_can_frame_t e = {.id = 0x4, .flags = DD_CAN_F_ERR, .len = 8};
  dd_socketcand_format_frame(&e, 2000000, buf, sizeof buf);
  ck_assert_str_eq(buf, "< error 004 2.000000 >");
  /* No RAW-mode form for a remote frame; invalid frames and short buffers are errors. */
  f = s_frame("123#R");
  ck_assert_int_eq(dd_socketcand_format_frame(&f, 0, buf, sizeof buf), DD_ENOTSUP);
  dd_can_frame_t invalid = {.id = 0x800, .len = 1};
  ck_assert_int_eq(dd_socketcand_format_frame(&invalid, 0, buf, sizeof buf), DD_ECAN_FRAME);
  f = s_frame("123#1122");
  ck_assert_int_eq(dd_socketcand_format_frame(&f, 0, buf, 20), DD_ENOSPC);
  /* The longest element fits DD_SOCKETCAND_TEXT_MAX. */
  dd_can_frame_t big = {.id = 0x1FFFFFFF,
                        .flags = DD_CAN_F_EFF | DD_CAN_F_FD | DD_CAN_F_BRS | DD_CAN_F_ESI,
                        .len = 64};
  memset(big.data, 0xEE, 64);
  n = dd_socketcand_format_frame(&big, UINT64_MAX, buf, sizeof buf);
  ck_assert_int_gt(n, 0);
  ck_assert_int_lt(n, DD_SOCKETCAND_TEXT_MAX);
}
END_TEST

START_TEST(test_format_send_roundtrip) {
  static const char *const frames[] = {"123#",
                                       "7E0#0210030000000000",
                                       "1AAAAAAA#01F1",
                                       "00000001#FF",
                                       "123##1AABB",
                                       "18DAF110##0",
                                       "7FF##200112233445566778899AABBCCDDEEFF"};
  char buf[DD_SOCKETCAND_TEXT_MAX];
  for (size_t i = 0; i < sizeof frames / sizeof frames[0]; i++) {
    dd_can_frame_t f = s_frame(frames[i]);
    int n = dd_socketcand_format_send(&f, buf, sizeof buf);
    ck_assert_int_gt(n, 0);
    dd_socketcand_cmd_t cmd;
    ck_assert_int_eq(dd_socketcand_parse(buf, (size_t)n, &cmd, NULL), 0);
    ck_assert_msg(dd_can_frame_equal(&f, &cmd.frame), "%s -> %s", frames[i], buf);
  }
  dd_can_frame_t f = s_frame("1AAAAAAA#01F1");
  dd_socketcand_format_send(&f, buf, sizeof buf);
  ck_assert_str_eq(buf, "< send 1AAAAAAA 2 01 F1 >");
  f = s_frame("123#R");
  ck_assert_int_eq(dd_socketcand_format_send(&f, buf, sizeof buf), DD_ENOTSUP);
}
END_TEST

/* ---- session ---- */

/* Feed text, collect the actions' replies (concatenated) and sent frames. */
static size_t s_drive(dd_socketcand_session_t *s, const char *text, char *replies, size_t cap,
                      dd_can_frame_t *sent, size_t max_sent) {
  size_t nsent = 0, len = strlen(text), pos = 0;
  replies[0] = '\0';
  dd_socketcand_action_t act;
  while (pos < len) {
    pos += dd_socketcand_session_feed(s, text + pos, len - pos);
    while (dd_socketcand_session_next(s, &act)) {
      if (act.kind == DD_SOCKETCAND_ACT_SEND) {
        ck_assert_uint_lt(nsent, max_sent);
        sent[nsent++] = act.frame;
      } else {
        ck_assert_uint_lt(strlen(replies) + strlen(act.text), cap);
        strcat(replies, act.text);
        if (act.kind == DD_SOCKETCAND_ACT_CLOSE) strcat(replies, "|closed");
      }
    }
    if (s->closed) break;
  }
  return nsent;
}

START_TEST(test_session_flow) {
  dd_socketcand_session_t s;
  dd_socketcand_session_init(&s, "vbus0");
  ck_assert_str_eq(dd_socketcand_greeting(), "< hi >");
  char r[2048];
  dd_can_frame_t sent[8];
  /* Before a bus is open, only < open > is understood (state_nobus.c). */
  ck_assert_uint_eq(s_drive(&s, "< rawmode >< send 123 0 >", r, sizeof r, sent, 8), 0);
  ck_assert_str_eq(r, "< error unknown command >< error unknown command >");
  ck_assert(!dd_socketcand_session_raw(&s));
  ck_assert_uint_eq(s_drive(&s, "< open vbus0 >", r, sizeof r, sent, 8), 0);
  ck_assert_str_eq(r, "< ok >");
  ck_assert_int_eq(s.mode, DD_SOCKETCAND_MODE_BCM);
  /* BCM mode: send works, no frames are forwarded yet. */
  ck_assert_uint_eq(s_drive(&s, "< send 7E0 2 10 3 >", r, sizeof r, sent, 8), 1);
  ck_assert_str_eq(r, "");
  ck_assert(!dd_socketcand_session_raw(&s));
  ck_assert_uint_eq(s_drive(&s, "< rawmode >", r, sizeof r, sent, 8), 0);
  ck_assert_str_eq(r, "< ok >");
  ck_assert(dd_socketcand_session_raw(&s));
  ck_assert_uint_eq(
      s_drive(&s, "< echo >< add 1 0 123 0 >< isotpmode >< open vbus0 >", r, sizeof r, sent, 8), 0);
  ck_assert_str_eq(r, "< echo >< error command not supported by this server >"
                      "< error mode not supported by this server >< error unknown command >");
  ck_assert(dd_socketcand_session_raw(&s));
  ck_assert_uint_eq(s_drive(&s, "< bcmmode >", r, sizeof r, sent, 8), 0);
  ck_assert(!dd_socketcand_session_raw(&s));
  ck_assert_uint_eq(s.stats.elements, 10);
  ck_assert_uint_eq(s.stats.errors, 5);
  ck_assert_uint_eq(s.stats.sends, 1);
}
END_TEST

START_TEST(test_session_wrong_bus_closes) {
  dd_socketcand_session_t s;
  dd_socketcand_session_init(&s, "vbus0");
  char r[512];
  dd_can_frame_t sent[2];
  s_drive(&s, "< open can0 >< open vbus0 >", r, sizeof r, sent, 2);
  ck_assert_str_eq(r, "< error could not open bus >|closed");
  ck_assert(s.closed);
  dd_socketcand_action_t act;
  ck_assert(!dd_socketcand_session_next(&s, &act)); /* nothing after the close */
  ck_assert_uint_eq(dd_socketcand_session_feed(&s, "< echo >", 8), 8);
  ck_assert(!dd_socketcand_session_next(&s, &act));
}
END_TEST

START_TEST(test_session_partial_and_junk) {
  dd_socketcand_session_t s;
  dd_socketcand_session_init(&s, "vbus0");
  char r[512];
  dd_can_frame_t sent[4];
  const char *text = "junk\n< open vbus0 >\r\n< rawmode >  < send 1AAAAAAA 2 1 F1 >< send 123 0 >";
  /* Byte by byte: the same result as all at once. */
  char all[512] = "";
  size_t nsent = 0;
  for (size_t i = 0; text[i]; i++) {
    char one[2] = {text[i], 0};
    nsent += s_drive(&s, one, r, sizeof r, sent + nsent, 4 - nsent);
    strcat(all, r);
  }
  ck_assert_str_eq(all, "< ok >< ok >");
  ck_assert_uint_eq(nsent, 2);
  dd_can_frame_t want = s_frame("1AAAAAAA#01F1");
  ck_assert(dd_can_frame_equal(&sent[0], &want));
  want = s_frame("123#");
  ck_assert(dd_can_frame_equal(&sent[1], &want));
  ck_assert_uint_eq(s.stats.junk, 5 + 2 + 2);
  ck_assert_uint_eq(s.stats.errors, 0);
  /* An element that never ends is dropped with one error once the buffer is full. */
  char *huge = malloc(3 * DD_SOCKETCAND_ELEMENT_MAX);
  memset(huge, 'a', 3 * DD_SOCKETCAND_ELEMENT_MAX - 1);
  huge[0] = '<';
  huge[3 * DD_SOCKETCAND_ELEMENT_MAX - 1] = '\0';
  s_drive(&s, huge, r, sizeof r, sent, 4);
  free(huge);
  ck_assert_str_eq(r, "< error element too long >");
  ck_assert_uint_eq(s.stats.errors, 1);
  /* And the session goes on afterwards. */
  ck_assert_uint_eq(s_drive(&s, "< echo >", r, sizeof r, sent, 4), 0);
  ck_assert_str_eq(r, "< echo >");
}
END_TEST

/* ---- the server, with TCP clients on the loopback interface ---- */

typedef struct {
  dd_clock_t clock;            /* real */
  dd_loop_t *loop;             /* server loop */
  dd_events_t *events;         /* timeline (file) */
  dd_canport_t *port;          /* the mock port, owned by the server */
  dd_socketcand_server_t *srv; /* under test */
  char timeline[256];          /* timeline path */
} s_env_t;

static void s_env_up(s_env_t *e, int max_clients) {
  memset(e, 0, sizeof *e);
  dd_clock_init_real(&e->clock);
  e->loop = dd_loop_new(&e->clock);
  ck_assert_ptr_nonnull(e->loop);
  ck_assert_int_eq(dd_events_new(NULL, "socketcand", &e->clock, NULL, &e->events), 0);
  snprintf(e->timeline, sizeof e->timeline, "/tmp/check_socketcand.%d.jsonl", (int)getpid());
  unlink(e->timeline);
  ck_assert_int_eq(dd_events_open_file(e->events, e->timeline), 0);
  dd_canport_mock_cfg_t mc = {.opts = {.fd = true, .loopback = true}};
  ck_assert_int_eq(dd_canport_mock_new(&mc, &e->port), 0);
  dd_socketcand_server_cfg_t cfg = {.port = 0, .max_clients = max_clients};
  ck_assert_int_eq(dd_socketcand_server_new(e->loop, e->events, e->port, &cfg, &e->srv), 0);
  ck_assert_uint_gt(dd_socketcand_server_port(e->srv), 0);
  ck_assert_ptr_eq(dd_socketcand_server_canport(e->srv), e->port);
}

static void s_env_down(s_env_t *e) {
  dd_socketcand_server_destroy(&e->srv);
  dd_events_destroy(&e->events);
  dd_loop_destroy(&e->loop);
  unlink(e->timeline);
}

static int s_connect(s_env_t *e) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  ck_assert_int_ge(fd, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET,
                           .sin_port = htons(dd_socketcand_server_port(e->srv))};
  inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
  int rc = connect(fd, (struct sockaddr *)&sa, sizeof sa);
  ck_assert(rc == 0 || errno == EINPROGRESS);
  return fd;
}

static void s_write(int fd, const char *text) {
  ck_assert_int_eq(send(fd, text, strlen(text), MSG_NOSIGNAL), (ssize_t)strlen(text));
}

/* Run the server loop until the client has received exactly `want` (checked as a prefix as it
 * grows), within 3 s. */
static void s_expect(s_env_t *e, int fd, const char *want) {
  char got[4096] = "";
  size_t len = 0, wl = strlen(want);
  uint64_t end = dd_clock_now_us(&e->clock) + 3000000;
  while (len < wl && dd_clock_now_us(&e->clock) < end) {
    dd_loop_step(e->loop, 5000);
    ssize_t n = recv(fd, got + len, wl - len, 0);
    if (n > 0) len += (size_t)n;
    got[len] = '\0';
    ck_assert_msg(strncmp(got, want, len) == 0, "got \"%s\", want \"%s\"", got, want);
  }
  ck_assert_msg(len == wl, "got \"%s\", want \"%s\"", got, want);
}

/* Run the loop a little and assert nothing arrived for the client. */
static void s_expect_nothing(s_env_t *e, int fd) {
  for (int i = 0; i < 10; i++)
    dd_loop_step(e->loop, 2000);
  char c;
  ssize_t n = recv(fd, &c, 1, 0);
  ck_assert_msg(n < 0 && errno == EAGAIN, "unexpected input (n=%zd)", n);
}

static void s_handshake(s_env_t *e, int fd) {
  s_expect(e, fd, "< hi >");
  s_write(fd, "< open vbus0 >");
  s_expect(e, fd, "< ok >");
  s_write(fd, "< rawmode >");
  s_expect(e, fd, "< ok >");
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

START_TEST(test_server_fanout) {
  s_env_t e;
  s_env_up(&e, 4);
  int a = s_connect(&e), b = s_connect(&e), c = s_connect(&e);
  s_handshake(&e, a);
  s_handshake(&e, b);
  s_expect(&e, c, "< hi >");
  s_write(c, "< open vbus0 >"); /* c stays in BCM mode */
  s_expect(&e, c, "< ok >");

  /* A frame from another node reaches every RAW client, stamped with wall time. */
  dd_can_frame_t f = s_frame("7E8#0462F19031");
  dd_canport_mock_set_now(e.port, 1000);
  ck_assert_int_eq(dd_canport_mock_inject(e.port, &f), 0);
  char want[DD_SOCKETCAND_TEXT_MAX];
  uint64_t wall = 1000 + (dd_clock_wall_us(&e.clock) - dd_clock_now_us(&e.clock));
  dd_socketcand_format_frame(&f, wall, want, sizeof want);
  /* The offset is read at slightly different moments: compare all but the microseconds. */
  char got_a[DD_SOCKETCAND_TEXT_MAX] = "";
  for (int i = 0; i < 300 && strlen(got_a) < strlen(want); i++) {
    dd_loop_step(e.loop, 5000);
    ssize_t n = recv(a, got_a + strlen(got_a), strlen(want) - strlen(got_a), 0);
    if (n > 0) got_a[strlen(got_a) + (size_t)n] = '\0';
  }
  ck_assert_uint_eq(strlen(got_a), strlen(want));
  ck_assert(strncmp(got_a, "< frame 7E8 ", 12) == 0);
  ck_assert_str_eq(got_a + strlen(got_a) - 13, " 0462F19031 >");
  double t_got = atof(got_a + 12), t_want = atof(want + 12);
  ck_assert_msg(t_got - t_want < 0.01 && t_want - t_got < 0.01, "%s vs %s", got_a, want);
  s_expect(&e, b, got_a);
  s_expect_nothing(&e, c);

  /* A's frame goes to the bus; once the bus echoes it, B gets it, A does not. */
  s_write(a, "< send 123 3 de ad be >");
  for (int i = 0; i < 10; i++)
    dd_loop_step(e.loop, 2000);
  dd_can_frame_t out;
  ck_assert_int_eq(dd_canport_mock_take_sent(e.port, &out), 0);
  dd_can_frame_t want_f = s_frame("123#DEADBE");
  ck_assert(dd_can_frame_equal(&out, &want_f));
  dd_socketcand_format_frame(&want_f,
                             out.ts_us + (dd_clock_wall_us(&e.clock) - dd_clock_now_us(&e.clock)),
                             want, sizeof want);
  char got_b[DD_SOCKETCAND_TEXT_MAX] = "";
  for (int i = 0; i < 300 && !strchr(got_b, '>'); i++) {
    dd_loop_step(e.loop, 5000);
    ssize_t n = recv(b, got_b + strlen(got_b), sizeof got_b - 1 - strlen(got_b), 0);
    if (n > 0) got_b[strlen(got_b) + (size_t)n] = '\0';
  }
  ck_assert(strncmp(got_b, "< frame 123 ", 12) == 0);
  ck_assert_str_eq(got_b + strlen(got_b) - 9, " DEADBE >");
  s_expect_nothing(&e, a);
  s_expect_nothing(&e, c);

  /* C (BCM mode) sends an FD frame: A and B (RAW) get it as < fdframe >. */
  s_write(c, "< fdsend 18DAF110 01 12 0 1 2 3 4 5 6 7 8 9 a b >");
  for (int i = 0; i < 10; i++)
    dd_loop_step(e.loop, 2000);
  ck_assert_int_eq(dd_canport_mock_take_sent(e.port, &out), 0);
  want_f = s_frame("18DAF110##1000102030405060708090A0B");
  ck_assert(dd_can_frame_equal(&out, &want_f));
  char got[DD_SOCKETCAND_TEXT_MAX] = "";
  for (int i = 0; i < 300 && !strchr(got, '>'); i++) {
    dd_loop_step(e.loop, 5000);
    ssize_t n = recv(a, got + strlen(got), sizeof got - 1 - strlen(got), 0);
    if (n > 0) got[strlen(got) + (size_t)n] = '\0';
  }
  ck_assert(strncmp(got, "< fdframe 18DAF110 01 ", 22) == 0);
  ck_assert_str_eq(got + strlen(got) - 27, " 000102030405060708090A0B >");
  s_expect(&e, b, got);
  s_expect_nothing(&e, c);

  /* Malformed input is answered and counted; the connection stays. */
  s_write(a, "< send 123 9 >< echo >");
  s_expect(&e, a, "< error send length above 8 >< echo >");
  dd_socketcand_server_stats_t st = dd_socketcand_server_stats(e.srv);
  ck_assert_uint_eq(st.errors, 1);
  ck_assert_uint_eq(st.to_bus, 2);
  ck_assert_uint_eq(st.to_clients, 2 + 1 + 2);
  ck_assert_uint_eq(st.clients, 3);

  /* Remote frames have no RAW-mode form: counted, not forwarded. */
  f = s_frame("555#R");
  ck_assert_int_eq(dd_canport_mock_inject(e.port, &f), 0);
  s_expect_nothing(&e, a);
  ck_assert_uint_eq(dd_socketcand_server_stats(e.srv).unforwarded, 1);

  /* A client that leaves is closed and counted. */
  close(b);
  for (int i = 0; i < 10; i++)
    dd_loop_step(e.loop, 2000);
  ck_assert_uint_eq(dd_socketcand_server_stats(e.srv).clients, 2);
  close(a);
  close(c);
  s_env_down(&e);
}
END_TEST

START_TEST(test_server_limits) {
  s_env_t e;
  s_env_up(&e, 1);
  int a = s_connect(&e);
  s_expect(&e, a, "< hi >");
  int b = s_connect(&e);
  s_expect(&e, b, "< error too many clients >");
  char c;
  for (int i = 0; i < 100; i++) { /* then the server closes it */
    dd_loop_step(e.loop, 2000);
    if (recv(b, &c, 1, 0) == 0) break;
  }
  ck_assert_int_eq(recv(b, &c, 1, 0), 0);
  close(b);
  ck_assert_uint_eq(dd_socketcand_server_stats(e.srv).refused, 1);
  /* Opening a bus that is not served closes the connection after the error. */
  s_write(a, "< open can0 >");
  s_expect(&e, a, "< error could not open bus >");
  for (int i = 0; i < 100; i++) {
    dd_loop_step(e.loop, 2000);
    if (recv(a, &c, 1, 0) == 0) break;
  }
  ck_assert_int_eq(recv(a, &c, 1, 0), 0);
  close(a);
  ck_assert_uint_eq(dd_socketcand_server_stats(e.srv).clients, 0);
  /* The slot is free again. */
  a = s_connect(&e);
  s_handshake(&e, a);
  close(a);
  for (int i = 0; i < 10; i++)
    dd_loop_step(e.loop, 2000);
  ck_assert_int_eq(s_count_kind(e.timeline, "socketcand.listening"), 1);
  ck_assert_int_eq(s_count_kind(e.timeline, "socketcand.client_refused"), 1);
  ck_assert_int_eq(s_count_kind(e.timeline, "socketcand.client_connected"), 2);
  ck_assert_int_eq(s_count_kind(e.timeline, "socketcand.client_closed"), 2);
  ck_assert_int_eq(s_count_kind(e.timeline, "socketcand.bad_input"), 1);
  s_env_down(&e);
}
END_TEST

START_TEST(test_server_slow_reader) {
  s_env_t e;
  s_env_up(&e, 2);
  int a = s_connect(&e);
  s_handshake(&e, a);
  /* Far more than the socket buffers and the hold limit: the excess is dropped and counted,
   * the server never blocks. */
  dd_can_frame_t f = s_frame("123#0011223344556677");
  int sent = 0, total = 150000; /* 7 MB of elements: more than the kernel's TCP buffers */
  for (int i = 0; i < total; i++) {
    f.data[0] = (uint8_t)i;
    if (dd_canport_mock_inject(e.port, &f) == 0) sent++;
    if (i % 200 == 0) dd_loop_step(e.loop, 0);
  }
  for (int i = 0; i < 1000; i++)
    dd_loop_step(e.loop, 0);
  dd_socketcand_server_stats_t st = dd_socketcand_server_stats(e.srv);
  ck_assert_int_eq(sent, total);
  ck_assert_uint_gt(st.overruns, 0);
  ck_assert_uint_eq(st.overruns + st.to_clients, (uint64_t)total);
  /* Reading everything now yields whole elements, each a frame that was sent. (Checked with
   * plain conditions: a Check assertion per byte would cost more than the test.) */
  char buf[65536], pending[128], bad[128] = "";
  size_t plen = 0;
  uint64_t elements = 0;
  for (int i = 0; i < 20000 && elements < st.to_clients && !bad[0]; i++) {
    dd_loop_step(e.loop, 1000);
    ssize_t n = recv(a, buf, sizeof buf, 0);
    for (ssize_t k = 0; k < n && !bad[0]; k++) {
      if (plen == sizeof pending - 1) {
        snprintf(bad, sizeof bad, "element too long");
        break;
      }
      pending[plen++] = buf[k];
      if (buf[k] != '>') continue;
      pending[plen] = '\0';
      if (strncmp(pending, "< frame 123 ", 12) != 0 || plen <= 16 ||
          strcmp(pending + plen - 16, "11223344556677 >") != 0)
        snprintf(bad, sizeof bad, "%s", pending);
      elements++;
      plen = 0;
    }
  }
  ck_assert_msg(!bad[0], "bad element: %s", bad);
  ck_assert_uint_eq(elements, st.to_clients);
  close(a);
  ck_assert_int_ge(s_count_kind(e.timeline, "socketcand.overrun"), 1);
  s_env_down(&e);
}
END_TEST

int main(void) {
  Suite *s = suite_create("socketcand");
  TCase *tc = tcase_create("protocol");
  tcase_add_test(tc, test_parse_doc_examples);
  tcase_add_test(tc, test_parse_client_forms);
  tcase_add_test(tc, test_parse_malformed);
  tcase_add_test(tc, test_format_frames);
  tcase_add_test(tc, test_format_send_roundtrip);
  tcase_add_test(tc, test_session_flow);
  tcase_add_test(tc, test_session_wrong_bus_closes);
  tcase_add_test(tc, test_session_partial_and_junk);
  suite_add_tcase(s, tc);
  TCase *ts = tcase_create("server");
  tcase_set_timeout(ts, 60);
  tcase_add_test(ts, test_server_fanout);
  tcase_add_test(ts, test_server_limits);
  tcase_add_test(ts, test_server_slow_reader);
  suite_add_tcase(s, ts);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
