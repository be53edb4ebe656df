/* check_traces: candump logs and LINKTYPE_CAN_SOCKETCAN pcap files, read back by our readers,
 * by can-utils (log2asc, asc2log) and by libpcap. Run with "--write-pcap FILE" or
 * "--write-candump FILE" it only writes the sample trace (for tests/integration scripts). */
#include <check.h>
#include <errno.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dd_can.h"
#include "dd_candump.h"
#include "dd_err.h"
#include "dd_pcap.h"

/* The sample trace: one frame of each shape. */
typedef struct {
  const char *ifname; /* interface */
  uint64_t ts_us;     /* time stamp relative to the epoch below */
  const char *frame;  /* can-utils text */
  bool tx;            /* own transmission */
} sample_t;

#define SAMPLE_EPOCH_US 1700000000000001ull

static const sample_t s_sample[] = {
    {"can0", 0, "7E0#0322F190", true},
    {"can0", 99, "123##1AABB", false},
    {"can0", 149, "123##3", false},
    {"can0", 159, "1FFFFFFF##2001122334455667788990011", false},
    {"can0", 199, "12345678#R", false},
    {"vcan1", 299, "20000004#0004000000000000", false},
    {"can0", 399, "123#R7", true},
    {"can0", 499, "000#", false},
    {"can0", 500499, "7FF#1122334455667788", false},
    {"vcan1", 600000, "18DAF110#0322F190", false},
    {"can0", 700000,
     "7E8##0"
     "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F"
     "202122232425262728292A2B2C2D2E2F303132333435363738393A3B3C3D3E3F",
     false},
};
#define SAMPLE_N (sizeof s_sample / sizeof s_sample[0])

static dd_can_frame_t s_sample_frame(size_t i) {
  dd_can_frame_t f;
  /* No ck_assert here: the --write-* modes run outside the test runner. */
  if (dd_can_parse(s_sample[i].frame, &f) != 0) {
    fprintf(stderr, "check_traces: bad sample frame %s\n", s_sample[i].frame);
    abort();
  }
  f.ts_us = s_sample[i].ts_us;
  if (s_sample[i].tx) f.flags |= DD_CAN_F_TX;
  return f;
}

static int s_write_sample_pcap(const char *path) {
  dd_pcap_opts_t o = {.epoch_us = SAMPLE_EPOCH_US};
  dd_pcap_writer_t *w;
  int rc = dd_pcap_writer_open(path, &o, &w);
  if (rc != 0) return rc;
  for (size_t i = 0; i < SAMPLE_N && rc == 0; i++) {
    dd_can_frame_t f = s_sample_frame(i);
    rc = dd_pcap_writer_write(w, &f);
  }
  dd_pcap_writer_destroy(&w);
  return rc;
}

static int s_write_sample_candump(const char *path, bool direction) {
  dd_candump_opts_t o = {.epoch_us = SAMPLE_EPOCH_US, .direction = direction};
  dd_candump_writer_t *w;
  int rc = dd_candump_writer_open(path, &o, &w);
  if (rc != 0) return rc;
  for (size_t i = 0; i < SAMPLE_N && rc == 0; i++) {
    dd_can_frame_t f = s_sample_frame(i);
    rc = dd_candump_writer_write(w, s_sample[i].ifname, &f);
  }
  int rc2 = dd_candump_writer_close(&w);
  return rc ? rc : rc2;
}

/* A fresh temporary folder per test (the fork of each test cleans nothing up by itself). */
static char s_dir[64];

static void s_setup(void) {
  snprintf(s_dir, sizeof s_dir, "/tmp/dd-check-traces-XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(s_dir));
}

static void s_teardown(void) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", s_dir);
  ck_assert_int_eq(system(cmd), 0);
}

static void s_path(char *buf, size_t size, const char *name) {
  snprintf(buf, size, "%s/%s", s_dir, name);
}

/* Run a shell command, return its whole standard output (malloc'd). */
static char *s_run(const char *cmd) {
  FILE *p = popen(cmd, "r");
  ck_assert_msg(p != NULL, "cannot run %s", cmd);
  size_t cap = 4096, n = 0;
  char *out = malloc(cap);
  ck_assert_ptr_nonnull(out);
  size_t got;
  while ((got = fread(out + n, 1, cap - n - 1, p)) > 0) {
    n += got;
    if (n + 1 == cap) {
      cap *= 2;
      out = realloc(out, cap);
      ck_assert_ptr_nonnull(out);
    }
  }
  out[n] = '\0';
  int status = pclose(p);
  ck_assert_msg(status == 0, "\"%s\" failed (status %d)", cmd, status);
  return out;
}

/* The external tools must be installed (scripts/bootstrap.sh installs can-utils). */
static void s_need_tool(const char *tool) {
  ck_assert_msg(access(tool, X_OK) == 0,
                "%s is missing: install can-utils (scripts/bootstrap.sh) for the interop check",
                tool);
}

/* ---- candump ---- */

START_TEST(test_candump_format_line) {
  char line[DD_CANDUMP_LINE_MAX];
  dd_can_frame_t f;
  ck_assert_int_eq(dd_can_parse("7E0#0322F190", &f), 0);
  int n = dd_candump_format_line("can0", &f, 1700000000000001ull, false, line, sizeof line);
  ck_assert_str_eq(line, "(1700000000.000001) can0 7E0#0322F190\n");
  ck_assert_int_eq(n, (int)strlen(line));
  /* candump.c: the seconds are zero-padded to 10 digits. */
  dd_candump_format_line("vcan1", &f, 5, false, line, sizeof line);
  ck_assert_str_eq(line, "(0000000000.000005) vcan1 7E0#0322F190\n");
  dd_candump_format_line("can0", &f, 2000000, true, line, sizeof line);
  ck_assert_str_eq(line, "(0000000002.000000) can0 7E0#0322F190 R\n");
  f.flags |= DD_CAN_F_TX;
  dd_candump_format_line("can0", &f, 2000000, true, line, sizeof line);
  ck_assert_str_eq(line, "(0000000002.000000) can0 7E0#0322F190 T\n");
  dd_candump_format_line("can0", &f, 2000000, false, line, sizeof line);
  ck_assert_str_eq(line, "(0000000002.000000) can0 7E0#0322F190\n");

  ck_assert_int_eq(dd_candump_format_line("", &f, 0, false, line, sizeof line), DD_EINVAL);
  ck_assert_int_eq(dd_candump_format_line("a b", &f, 0, false, line, sizeof line), DD_EINVAL);
  ck_assert_int_eq(
      dd_candump_format_line("0123456789012345678901234567890123", &f, 0, false, line, sizeof line),
      DD_EINVAL);
  ck_assert_int_eq(dd_candump_format_line("can0", &f, 0, false, line, 10), DD_ENOSPC);
  f.len = 9;
  ck_assert_int_eq(dd_candump_format_line("can0", &f, 0, false, line, sizeof line), DD_ECAN_FRAME);
}
END_TEST

START_TEST(test_candump_round_trip) {
  char path[128];
  s_path(path, sizeof path, "rt.log");
  ck_assert_int_eq(s_write_sample_candump(path, true), 0);
  dd_candump_reader_t *r;
  ck_assert_int_eq(dd_candump_reader_open(path, &r), 0);
  dd_candump_record_t rec;
  for (size_t i = 0; i < SAMPLE_N; i++) {
    ck_assert_int_eq(dd_candump_reader_next(r, &rec), 0);
    ck_assert_uint_eq(dd_candump_reader_line(r), i + 1);
    dd_can_frame_t f = s_sample_frame(i);
    ck_assert_msg(dd_can_frame_equal(&rec.frame, &f), "frame %zu differs", i);
    ck_assert_uint_eq(rec.frame.flags & DD_CAN_F_TX, f.flags & DD_CAN_F_TX);
    ck_assert_uint_eq(rec.frame.ts_us, SAMPLE_EPOCH_US + s_sample[i].ts_us);
    ck_assert_uint_eq(rec.ts_ns, (SAMPLE_EPOCH_US + s_sample[i].ts_us) * 1000u);
    ck_assert_str_eq(rec.ifname, s_sample[i].ifname);
  }
  ck_assert_int_eq(dd_candump_reader_next(r, &rec), DD_ENOENT);
  ck_assert_int_eq(dd_candump_reader_next(r, &rec), DD_ENOENT);
  dd_candump_reader_destroy(&r);
  ck_assert_ptr_null(r);
}
END_TEST

/* Each line is flushed as written: another reader sees it before the writer closes. */
START_TEST(test_candump_flushes_each_line) {
  char path[128];
  s_path(path, sizeof path, "flush.log");
  dd_candump_writer_t *w;
  ck_assert_int_eq(dd_candump_writer_open(path, NULL, &w), 0);
  dd_can_frame_t f;
  ck_assert_int_eq(dd_can_parse("7E0#01", &f), 0);
  f.ts_us = 1;
  ck_assert_int_eq(dd_candump_writer_write(w, "can0", &f), 0);
  dd_candump_reader_t *r;
  ck_assert_int_eq(dd_candump_reader_open(path, &r), 0);
  dd_candump_record_t rec;
  ck_assert_int_eq(dd_candump_reader_next(r, &rec), 0);
  ck_assert_uint_eq(rec.frame.ts_us, 1);
  dd_candump_reader_destroy(&r);
  f.len = 9; /* invalid: refused, nothing written */
  ck_assert_int_eq(dd_candump_writer_write(w, "can0", &f), DD_ECAN_FRAME);
  ck_assert_int_eq(dd_candump_writer_close(&w), 0);
  ck_assert_ptr_null(w);
  struct stat st;
  ck_assert_int_eq(stat(path, &st), 0);
  ck_assert_int_eq(st.st_size, (off_t)strlen("(0000000000.000001) can0 7E0#01\n"));
  ck_assert_int_eq(dd_candump_writer_open("/nonexistent-dir/x.log", NULL, &w), -ENOENT);
  ck_assert_int_eq(dd_candump_reader_open("/nonexistent-dir/x.log", &r), -ENOENT);
}
END_TEST

/* What canplayer.c tolerates (lines not starting with '(' are skipped; 6 or 9 decimals; any
 * interface name) and what it cannot (returned as DD_EILSEQ with the line number). */
START_TEST(test_candump_reader_tolerance) {
  static const char text[] =
      "# a comment\n"                                                        /* 1 */
      "DROPCOUNT: 3\n"                                                       /* 2 */
      "\n"                                                                   /* 3 */
      "(1700000000.000001) can0 7E0#0322F190\n"                              /* 4 ok */
      "(1700000000.000002500) a_very_long_interface_name_0 123##1AABB R\r\n" /* 5 ok */
      "   (1700000000.000001) can0 7E0#00\n"                                 /* 6 skipped */
      "(1700000000.5) can0 123#\n"                                           /* 7 bad */
      "(1700000000.000003) can0 123#1\n"                                     /* 8 bad */
      "(1700000000.000004) can0\n"                                           /* 9 bad */
      "(1700000000.000005) can0 123#11 X\n"                                  /* 10 bad */
      "(1700000000.000006)can0 123#11\n"                                     /* 11 bad */
      "(1700000000.000007)  vcan0\t123#11 T \n"                              /* 12 ok */
      "(1700000000.0000070) can0 123#11\n"                                   /* 13 bad */
      "(99999999999999999999.000000) can0 123#11\n"                          /* 14 bad */
      "(1700000000.000008 can0 123#11\n"                                     /* 15 bad */
      "(1.000009) can0 123#11";                                              /* 16 ok, no newline */
  FILE *in = fmemopen((void *)text, sizeof text - 1, "r");
  ck_assert_ptr_nonnull(in);
  dd_candump_reader_t *r;
  ck_assert_int_eq(dd_candump_reader_new(in, true, &r), 0);
  dd_candump_record_t rec;

  ck_assert_int_eq(dd_candump_reader_next(r, &rec), 0);
  ck_assert_uint_eq(dd_candump_reader_line(r), 4);
  ck_assert_uint_eq(rec.frame.id, 0x7E0);
  ck_assert_uint_eq(rec.frame.ts_us, 1700000000000001ull);

  ck_assert_int_eq(dd_candump_reader_next(r, &rec), 0);
  ck_assert_uint_eq(dd_candump_reader_line(r), 5);
  ck_assert_str_eq(rec.ifname, "a_very_long_interface_name_0");
  ck_assert_uint_eq(rec.ts_ns, 1700000000000002500ull);
  ck_assert_uint_eq(rec.frame.ts_us, 1700000000000002ull);
  ck_assert_uint_eq(rec.frame.flags, DD_CAN_F_FD | DD_CAN_F_BRS);

  static const unsigned long bad1[] = {7, 8, 9, 10, 11};
  for (size_t i = 0; i < 5; i++) {
    ck_assert_int_eq(dd_candump_reader_next(r, &rec), DD_EILSEQ);
    ck_assert_uint_eq(dd_candump_reader_line(r), bad1[i]);
  }
  ck_assert_int_eq(dd_candump_reader_next(r, &rec), 0);
  ck_assert_uint_eq(dd_candump_reader_line(r), 12);
  ck_assert_str_eq(rec.ifname, "vcan0");
  ck_assert_uint_eq(rec.frame.flags, DD_CAN_F_TX);
  for (unsigned long l = 13; l <= 15; l++) {
    ck_assert_int_eq(dd_candump_reader_next(r, &rec), DD_EILSEQ);
    ck_assert_uint_eq(dd_candump_reader_line(r), l);
  }
  ck_assert_int_eq(dd_candump_reader_next(r, &rec), 0);
  ck_assert_uint_eq(dd_candump_reader_line(r), 16);
  ck_assert_uint_eq(rec.frame.ts_us, 1000009);
  ck_assert_int_eq(dd_candump_reader_next(r, &rec), DD_ENOENT);
  dd_candump_reader_destroy(&r);

  ck_assert_int_eq(dd_candump_parse_line("# x", 3, &rec), DD_ENOENT);
  ck_assert_int_eq(dd_candump_parse_line("", 0, &rec), DD_ENOENT);
}
END_TEST

/* Splits on white space into at most max tokens; returns the count. */
static size_t s_tokens(char *line, char **tok, size_t max) {
  size_t n = 0;
  for (char *save = NULL, *t = strtok_r(line, " \t\r", &save); t && n < max;
       t = strtok_r(NULL, " \t\r", &save))
    tok[n++] = t;
  return n;
}

/* can-utils log2asc reads our log with its own parser (lib.c parse_canframe, the one
 * canplayer uses) and writes Vector ASC: its reading of every frame must be ours. The
 * expected lines follow log2asc.c's layout (formats.md 3.2): classic "<t> <ch> <id>[x] Rx d
 * <dlc> <bytes>", remote "r <len>", "ErrorFrame", and CAN FD "<t> CANFD <ch> Rx <id>[x] <brs>
 * <esi> <dlc> <len> <bytes> 130000 130 <flags: 1000 FDF, 2000 BRS, 4000 ESI> 0 0 0 0 0";
 * time relative to the first frame. Compared token by token. */
START_TEST(test_candump_read_by_log2asc) {
  s_need_tool("/usr/bin/log2asc");
  char path[128], cmd[512];
  s_path(path, sizeof path, "interop.log");
  ck_assert_int_eq(s_write_sample_candump(path, false), 0);
  snprintf(cmd, sizeof cmd, "/usr/bin/log2asc -I '%s' can0 vcan1", path);
  char *out = s_run(cmd);
  static const char *const want[SAMPLE_N] = {
      "0.000000 1 7E0 Rx d 4 03 22 F1 90",
      "0.000099 CANFD 1 Rx 123 1 0 2 2 AA BB 130000 130 3000 0 0 0 0 0",
      "0.000149 CANFD 1 Rx 123 1 1 0 0 130000 130 7000 0 0 0 0 0",
      "0.000159 CANFD 1 Rx 1FFFFFFFx 0 1 9 12 00 11 22 33 44 55 66 77 88 99 00 11 130000 130 "
      "5000 0 0 0 0 0",
      "0.000199 1 12345678x Rx r 0",
      "0.000299 2 ErrorFrame",
      "0.000399 1 123 Rx r 7",
      "0.000499 1 0 Rx d 0",
      "0.500499 1 7FF Rx d 8 11 22 33 44 55 66 77 88",
      "0.600000 2 18DAF110x Rx d 4 03 22 F1 90",
      "0.700000 CANFD 1 Rx 7E8 0 0 f 64 00 01 02 03 04 05 06 07 08 09 0A 0B 0C 0D 0E 0F 10 11 "
      "12 13 14 15 16 17 18 19 1A 1B 1C 1D 1E 1F 20 21 22 23 24 25 26 27 28 29 2A 2B 2C 2D 2E "
      "2F 30 31 32 33 34 35 36 37 38 39 3A 3B 3C 3D 3E 3F 130000 130 1000 0 0 0 0 0",
  };
  char *save = NULL;
  char *line = strtok_r(out, "\n", &save);
  /* The header: date, "base hex  timestamps absolute", events line. */
  ck_assert_ptr_nonnull(line);
  ck_assert_msg(strncmp(line, "date ", 5) == 0, "unexpected header: %s", line);
  line = strtok_r(NULL, "\n", &save);
  ck_assert_ptr_nonnull(line);
  ck_assert_str_eq(line, "base hex  timestamps absolute");
  line = strtok_r(NULL, "\n", &save);
  ck_assert_ptr_nonnull(line);
  for (size_t i = 0; i < SAMPLE_N; i++) {
    line = strtok_r(NULL, "\n", &save);
    ck_assert_msg(line != NULL, "log2asc wrote only %zu frames", i);
    char got_buf[1024], want_buf[1024];
    snprintf(got_buf, sizeof got_buf, "%s", line);
    snprintf(want_buf, sizeof want_buf, "%s", want[i]);
    char *gt[100], *wt[100];
    size_t gn = s_tokens(got_buf, gt, 100), wn = s_tokens(want_buf, wt, 100);
    ck_assert_msg(gn == wn, "frame %zu: log2asc wrote \"%s\", expected \"%s\"", i, line, want[i]);
    for (size_t k = 0; k < gn; k++)
      ck_assert_msg(strcasecmp(gt[k], wt[k]) == 0,
                    "frame %zu: log2asc wrote \"%s\", expected \"%s\"", i, line, want[i]);
  }
  ck_assert_ptr_null(strtok_r(NULL, "\n", &save));
  free(out);
}
END_TEST

/* Back again: log2asc | asc2log gives a candump log written by can-utils, which our reader
 * must read as the same frames (asc2log names channel n "can<n-1>", re-bases the time and
 * reports every error frame as a generic one). */
START_TEST(test_candump_reads_asc2log_output) {
  s_need_tool("/usr/bin/log2asc");
  s_need_tool("/usr/bin/asc2log");
  char path[128], cmd[512];
  s_path(path, sizeof path, "back.log");
  ck_assert_int_eq(s_write_sample_candump(path, false), 0);
  snprintf(cmd, sizeof cmd, "/usr/bin/log2asc -I '%s' can0 vcan1 | /usr/bin/asc2log 2>/dev/null",
           path);
  char *out = s_run(cmd);
  FILE *in = fmemopen(out, strlen(out), "r");
  ck_assert_ptr_nonnull(in);
  dd_candump_reader_t *r;
  ck_assert_int_eq(dd_candump_reader_new(in, true, &r), 0);
  dd_candump_record_t rec;
  uint64_t first = 0;
  for (size_t i = 0; i < SAMPLE_N; i++) {
    int rc = dd_candump_reader_next(r, &rec);
    ck_assert_msg(rc == 0, "record %zu: %s (line %lu)", i, dd_err_name(rc),
                  dd_candump_reader_line(r));
    dd_can_frame_t f = s_sample_frame(i);
    if (i == 0) first = rec.frame.ts_us;
    ck_assert_uint_eq(rec.frame.ts_us - first, s_sample[i].ts_us);
    ck_assert_str_eq(rec.ifname, strcmp(s_sample[i].ifname, "can0") == 0 ? "can0" : "can1");
    if (f.flags & DD_CAN_F_ERR)
      ck_assert_uint_eq(rec.frame.flags & ~DD_CAN_F_TX, DD_CAN_F_ERR);
    else
      ck_assert_msg(dd_can_frame_equal(&rec.frame, &f), "record %zu differs", i);
  }
  ck_assert_int_eq(dd_candump_reader_next(r, &rec), DD_ENOENT);
  dd_candump_reader_destroy(&r);
  free(out);
}
END_TEST

/* ---- pcap ---- */

static void s_expect_record(const char *text, const uint8_t *want, size_t n) {
  dd_can_frame_t f;
  ck_assert_int_eq(dd_can_parse(text, &f), 0);
  uint8_t rec[DD_PCAP_CANFD_RECORD];
  ck_assert_int_eq(dd_pcap_encode(&f, rec), (int)n);
  for (size_t i = 0; i < n; i++)
    ck_assert_msg(rec[i] == want[i], "%s: byte %zu is %02X, expected %02X", text, i, rec[i],
                  want[i]);
  dd_can_frame_t back;
  ck_assert_int_eq(dd_pcap_decode(rec, n, &back), 0);
  ck_assert(dd_can_frame_equal(&f, &back));
}

/* Record layout of LINKTYPE_CAN_SOCKETCAN (tcpdump.org): big-endian id word with 0x80000000
 * EFF, 0x40000000 RTR, 0x20000000 ERR; length; FD flags 0x01 BRS, 0x02 ESI, 0x04 FDF; two
 * reserved bytes; payload padded to the SocketCAN MTU (16 / 72 bytes). */
START_TEST(test_pcap_record_layout) {
  static const uint8_t classic[16] = {0x00, 0x00, 0x07, 0xE0, 0x04, 0, 0, 0,
                                      0x03, 0x22, 0xF1, 0x90, 0,    0, 0, 0};
  s_expect_record("7E0#0322F190", classic, 16);
  static const uint8_t eff[16] = {0x98, 0xDA, 0xF1, 0x10, 0x02, 0, 0, 0, 0x3E, 0x00};
  s_expect_record("18DAF110#3E00", eff, 16);
  static const uint8_t rtr[16] = {0x40, 0x00, 0x01, 0x23, 0x07};
  s_expect_record("123#R7", rtr, 16);
  static const uint8_t eff_rtr[16] = {0xD2, 0x34, 0x56, 0x78, 0x00};
  s_expect_record("12345678#R", eff_rtr, 16);
  static const uint8_t err[16] = {0x20, 0x00, 0x00, 0x04, 0x08, 0, 0, 0, 0x00, 0x04};
  s_expect_record("20000004#0004000000000000", err, 16);
  uint8_t fd[72] = {0x00, 0x00, 0x01, 0x23, 0x02, 0x05, 0, 0, 0xAA, 0xBB};
  s_expect_record("123##1AABB", fd, 72);
  uint8_t fd_esi[72] = {0x9F, 0xFF, 0xFF, 0xFF, 0x0C, 0x06, 0, 0};
  for (int k = 0; k < 12; k++)
    fd_esi[8 + k] = (uint8_t)(0x11 * k);
  s_expect_record("1FFFFFFF##2"
                  "00112233445566778899AABB",
                  fd_esi, 72);
}
END_TEST

START_TEST(test_pcap_decode_rejects) {
  dd_can_frame_t f;
  uint8_t rec[72] = {0};
  ck_assert_int_eq(dd_pcap_decode(rec, 7, &f), DD_EILSEQ);
  ck_assert_int_eq(dd_pcap_decode(rec, 8, &f), 0); /* 0x000, no data */
  rec[4] = 9;
  ck_assert_int_eq(dd_pcap_decode(rec, 16, &f), DD_EILSEQ); /* classic with 9 bytes */
  rec[5] = 0x04;
  ck_assert_int_eq(dd_pcap_decode(rec, 72, &f), DD_EILSEQ); /* FD with 9: no DLC step */
  rec[4] = 12;
  ck_assert_int_eq(dd_pcap_decode(rec, 72, &f), 0);
  ck_assert_uint_eq(f.flags, DD_CAN_F_FD);
  ck_assert_int_eq(dd_pcap_decode(rec, 16, &f), DD_EILSEQ); /* payload beyond the record */
  rec[5] = 0;
  ck_assert_int_eq(dd_pcap_decode(rec, 72, &f), 0); /* old writer: FD by record size */
  ck_assert_uint_eq(f.flags, DD_CAN_F_FD);
  rec[4] = 0x80;
  ck_assert_int_eq(dd_pcap_decode(rec, 72, &f), DD_ENOTSUP); /* CAN XL */
  rec[4] = 0;
  rec[2] = 0x08; /* 11-bit id 0x800 */
  ck_assert_int_eq(dd_pcap_decode(rec, 16, &f), DD_EILSEQ);
  dd_can_frame_t bad;
  memset(&bad, 0, sizeof bad);
  bad.len = 9;
  ck_assert_int_eq(dd_pcap_encode(&bad, rec), DD_ECAN_FRAME);
}
END_TEST

/* libpcap itself reads the file: link type 227, one record per frame with the bytes of
 * dd_pcap_encode and the time stamps; every record is on disk before the writer closes. */
START_TEST(test_pcap_read_by_libpcap) {
  char path[128];
  s_path(path, sizeof path, "sample.pcap");
  dd_pcap_opts_t o = {.epoch_us = SAMPLE_EPOCH_US};
  dd_pcap_writer_t *w;
  ck_assert_int_eq(dd_pcap_writer_open(path, &o, &w), 0);
  for (size_t i = 0; i < SAMPLE_N; i++) {
    dd_can_frame_t f = s_sample_frame(i);
    ck_assert_int_eq(dd_pcap_writer_write(w, &f), 0);
  }
  dd_can_frame_t bad;
  memset(&bad, 0, sizeof bad);
  bad.len = 9;
  ck_assert_int_eq(dd_pcap_writer_write(w, &bad), DD_ECAN_FRAME);

  char err[PCAP_ERRBUF_SIZE];
  pcap_t *p = pcap_open_offline(path, err); /* while the writer is still open */
  ck_assert_msg(p != NULL, "libpcap: %s", err);
  ck_assert_int_eq(pcap_datalink(p), 227);
  struct pcap_pkthdr *h;
  const u_char *data;
  for (size_t i = 0; i < SAMPLE_N; i++) {
    ck_assert_int_eq(pcap_next_ex(p, &h, &data), 1);
    dd_can_frame_t f = s_sample_frame(i);
    uint8_t rec[DD_PCAP_CANFD_RECORD];
    int n = dd_pcap_encode(&f, rec);
    ck_assert_int_eq((int)h->caplen, n);
    ck_assert_int_eq((int)h->len, n);
    ck_assert_int_eq(memcmp(data, rec, (size_t)n), 0);
    uint64_t t = SAMPLE_EPOCH_US + s_sample[i].ts_us;
    ck_assert_int_eq((long long)h->ts.tv_sec, (long long)(t / 1000000u));
    ck_assert_int_eq((long long)h->ts.tv_usec, (long long)(t % 1000000u));
  }
  ck_assert_int_eq(pcap_next_ex(p, &h, &data), PCAP_ERROR_BREAK);
  pcap_close(p);
  dd_pcap_writer_destroy(&w);
  ck_assert_ptr_null(w);

  /* The big-endian id of the first record, byte by byte, whatever the host order. */
  FILE *raw = fopen(path, "rb");
  ck_assert_ptr_nonnull(raw);
  uint8_t file[64];
  ck_assert_uint_eq(fread(file, 1, sizeof file, raw), sizeof file);
  fclose(raw);
  /* 24-byte file header, 16-byte record header, then the record: 00 00 07 E0 04. */
  ck_assert_uint_eq(file[40], 0x00);
  ck_assert_uint_eq(file[42], 0x07);
  ck_assert_uint_eq(file[43], 0xE0);
  ck_assert_uint_eq(file[44], 0x04);
}
END_TEST

START_TEST(test_pcap_reader_round_trip) {
  char path[128];
  s_path(path, sizeof path, "rt.pcap");
  ck_assert_int_eq(s_write_sample_pcap(path), 0);
  dd_pcap_reader_t *r;
  ck_assert_int_eq(dd_pcap_reader_open(path, &r), 0);
  dd_can_frame_t f;
  for (size_t i = 0; i < SAMPLE_N; i++) {
    ck_assert_int_eq(dd_pcap_reader_next(r, &f), 0);
    dd_can_frame_t want = s_sample_frame(i);
    ck_assert_msg(dd_can_frame_equal(&f, &want), "frame %zu differs", i);
    ck_assert_uint_eq(f.ts_us, SAMPLE_EPOCH_US + s_sample[i].ts_us);
  }
  ck_assert_int_eq(dd_pcap_reader_next(r, &f), DD_ENOENT);
  dd_pcap_reader_destroy(&r);
  ck_assert_ptr_null(r);

  /* Another link type is refused; so is a file that is no pcap at all. */
  s_path(path, sizeof path, "ether.pcap");
  pcap_t *dead = pcap_open_dead(DLT_EN10MB, 65535);
  pcap_dumper_t *d = pcap_dump_open(dead, path);
  ck_assert_ptr_nonnull(d);
  pcap_dump_close(d);
  pcap_close(dead);
  ck_assert_int_eq(dd_pcap_reader_open(path, &r), DD_EILSEQ);
  s_path(path, sizeof path, "text.pcap");
  FILE *t = fopen(path, "w");
  ck_assert_ptr_nonnull(t);
  fputs("this is not a capture file\n", t);
  fclose(t);
  ck_assert_int_eq(dd_pcap_reader_open(path, &r), DD_EILSEQ);
  ck_assert_int_eq(dd_pcap_reader_open("/nonexistent-dir/x.pcap", &r), DD_ENOENT);
  dd_pcap_writer_t *w;
  ck_assert_int_lt(dd_pcap_writer_open("/nonexistent-dir/x.pcap", NULL, &w), 0);
  ck_assert_ptr_null(w);
}
END_TEST

static Suite *s_suite(void) {
  Suite *s = suite_create("traces");
  TCase *tc = tcase_create("candump");
  tcase_add_checked_fixture(tc, s_setup, s_teardown);
  tcase_add_test(tc, test_candump_format_line);
  tcase_add_test(tc, test_candump_round_trip);
  tcase_add_test(tc, test_candump_flushes_each_line);
  tcase_add_test(tc, test_candump_reader_tolerance);
  tcase_add_test(tc, test_candump_read_by_log2asc);
  tcase_add_test(tc, test_candump_reads_asc2log_output);
  suite_add_tcase(s, tc);
  tc = tcase_create("pcap");
  tcase_add_checked_fixture(tc, s_setup, s_teardown);
  tcase_add_test(tc, test_pcap_record_layout);
  tcase_add_test(tc, test_pcap_decode_rejects);
  tcase_add_test(tc, test_pcap_read_by_libpcap);
  tcase_add_test(tc, test_pcap_reader_round_trip);
  suite_add_tcase(s, tc);
  return s;
}

int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "--write-pcap") == 0) {
    int rc = s_write_sample_pcap(argv[2]);
    if (rc != 0) fprintf(stderr, "check_traces: %s: %s\n", argv[2], dd_strerror(rc));
    return rc ? EXIT_FAILURE : EXIT_SUCCESS;
  }
  if (argc == 3 && strcmp(argv[1], "--write-candump") == 0) {
    int rc = s_write_sample_candump(argv[2], false);
    if (rc != 0) fprintf(stderr, "check_traces: %s: %s\n", argv[2], dd_strerror(rc));
    return rc ? EXIT_FAILURE : EXIT_SUCCESS;
  }
  if (argc != 1) {
    fprintf(stderr, "usage: check_traces [--write-pcap FILE | --write-candump FILE]\n");
    return 2;
  }
  SRunner *sr = srunner_create(s_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
