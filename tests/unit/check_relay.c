/* check_relay: the relay's store-and-forward core (dd_relay) driven with an injected "now":
 * delivery with the inner bytes unchanged, order kept while a destination is away, retries,
 * limits and their error texts, the two-ends rule that keeps sessions apart, hello echo,
 * close and idle expiry, fairness across sessions; and the routing-id <-> party-name mapping.
 * The relay protocol is duodiag's own (RelayForward/RelayError in sim/wire/duodiag.proto and the
 * conventions in dd_relay.h); the expected values below follow from that text. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_err.h"
#include "dd_relay.h"
#include "dd_relay_server.h"
#include "dd_scenario.h"
#include "dd_wire.h"

#define MS 1000ull

static char s_err[512];

static dd_relay_t *s_new(size_t msgs, size_t bytes) {
  dd_relay_cfg_t cfg = {
      .max_msgs = msgs, .max_bytes = bytes, .retry_us = 100 * MS, .idle_us = 60000 * MS};
  dd_relay_t *r = NULL;
  ck_assert_int_eq(dd_relay_new(&cfg, &r), 0);
  return r;
}

static int s_fw(dd_relay_t *r, const char *from, const char *session, const char *to,
                const char *text, uint64_t now) {
  return dd_relay_forward(r, from, session, to, (const uint8_t *)text, strlen(text), now, s_err,
                          sizeof s_err);
}

/* Peek and expect a message with these fields; then report result. */
static void s_expect(dd_relay_t *r, uint64_t now, const char *session, const char *from,
                     const char *to, const char *text, dd_relay_result_t result) {
  dd_relay_out_t out;
  ck_assert_msg(dd_relay_peek(r, now, &out), "nothing due, expected '%s'", text);
  ck_assert_str_eq(out.session, session);
  ck_assert_str_eq(out.from, from);
  ck_assert_str_eq(out.to, to);
  ck_assert_uint_eq(out.len, strlen(text));
  ck_assert_mem_eq(out.inner, text, out.len);
  dd_relay_done(r, result, now);
}

/* Something is due for delivery at now (the sessions' idle deadlines are far away here). */
static bool s_due(dd_relay_t *r, uint64_t now) { return dd_relay_next_deadline(r) <= now; }

/* Take notes until one of kind; false when none. */
static bool s_note(dd_relay_t *r, dd_relay_note_kind_t kind, dd_relay_note_t *out) {
  while (dd_relay_take_note(r, out))
    if (out->kind == kind) return true;
  return false;
}

START_TEST(test_pass_through_keeps_bytes) {
  dd_relay_t *r = s_new(0, 0);
  /* Binary inner with NUL bytes: forwarded byte for byte. */
  const uint8_t inner[] = {0x08, 0x01, 0x00, 0xFF, 0x12, 0x00, 0x7E};
  ck_assert_int_eq(
      dd_relay_forward(r, "fd", "s1", "svc", inner, sizeof inner, 0, s_err, sizeof s_err), 0);
  dd_relay_out_t out;
  ck_assert(dd_relay_peek(r, 0, &out));
  ck_assert_str_eq(out.session, "s1");
  ck_assert_str_eq(out.from, "fd");
  ck_assert_str_eq(out.to, "svc");
  ck_assert_uint_eq(out.len, sizeof inner);
  ck_assert_mem_eq(out.inner, inner, sizeof inner);
  ck_assert(!out.stored);
  dd_relay_done(r, DD_RELAY_SENT, 0);
  ck_assert(!dd_relay_peek(r, 0, &out));
  dd_relay_stats_t st = dd_relay_stats(r);
  ck_assert_uint_eq(st.received, 1);
  ck_assert_uint_eq(st.forwarded, 1);
  ck_assert_uint_eq(st.forwarded_bytes, sizeof inner);
  ck_assert_uint_eq(st.stored, 0);
  ck_assert_uint_eq(st.queued_msgs, 0);
  dd_relay_note_t n;
  ck_assert(s_note(r, DD_RELAY_NOTE_SESSION_OPEN, &n));
  ck_assert_str_eq(n.session, "s1");
  ck_assert_str_eq(n.party, "fd");
  ck_assert_str_eq(n.peer, "svc");
  /* The answer goes back the other way in the same session. */
  ck_assert_int_eq(s_fw(r, "svc", "s1", "fd", "ack", 10), 0);
  s_expect(r, 10, "s1", "svc", "fd", "ack", DD_RELAY_SENT);
  dd_relay_destroy(&r);
  ck_assert_ptr_null(r);
}
END_TEST

START_TEST(test_order_kept_while_away) {
  dd_relay_t *r = s_new(0, 0);
  ck_assert_int_eq(s_fw(r, "fd", "s1", "svc", "r1", 0), 0);
  /* The first delivery finds the service device not connected: it is stored, not lost. */
  dd_relay_out_t out;
  ck_assert(dd_relay_peek(r, 0, &out));
  dd_relay_done(r, DD_RELAY_GONE, 0);
  dd_relay_note_t n;
  ck_assert(s_note(r, DD_RELAY_NOTE_END_ABSENT, &n));
  ck_assert_str_eq(n.party, "svc");
  ck_assert_uint_eq(n.count, 1);
  char txt[16];
  for (int i = 2; i <= 10; i++) {
    snprintf(txt, sizeof txt, "r%d", i);
    ck_assert_int_eq(s_fw(r, "fd", "s1", "svc", txt, (uint64_t)i * MS), 0);
  }
  ck_assert_uint_eq(dd_relay_waiting(r, "s1", "svc"), 10);
  ck_assert_uint_eq(dd_relay_stats(r).stored, 10);
  ck_assert(!s_due(r, 50 * MS)); /* retry not before 100 ms */
  ck_assert_uint_eq(dd_relay_next_deadline(r), 100 * MS);
  /* It comes back (any message from it): everything leaves at once, in order. */
  dd_relay_seen(r, "svc", 60 * MS);
  ck_assert_uint_eq(dd_relay_next_deadline(r), 0);
  for (int i = 1; i <= 10; i++) {
    snprintf(txt, sizeof txt, "r%d", i);
    s_expect(r, 60 * MS, "s1", "fd", "svc", txt, DD_RELAY_SENT);
  }
  ck_assert(!s_due(r, 60 * MS));
  ck_assert(s_note(r, DD_RELAY_NOTE_FLUSHED, &n));
  ck_assert_str_eq(n.party, "svc");
  ck_assert_uint_eq(n.count, 10);
  ck_assert_uint_eq(n.waited_us, 60 * MS);
  dd_relay_stats_t st = dd_relay_stats(r);
  ck_assert_uint_eq(st.late, 10);
  ck_assert_uint_eq(st.forwarded, 10);
  ck_assert_uint_eq(st.gone, 1);
  ck_assert_uint_eq(st.queued_msgs, 0);
  ck_assert_uint_eq(st.peak_msgs, 10);
  dd_relay_destroy(&r);
}
END_TEST

START_TEST(test_retry_when_not_seen) {
  dd_relay_t *r = s_new(0, 0);
  ck_assert_int_eq(s_fw(r, "fd", "s1", "svc", "a", 0), 0);
  dd_relay_out_t out;
  ck_assert(dd_relay_peek(r, 0, &out));
  dd_relay_done(r, DD_RELAY_GONE, 0);
  ck_assert_int_eq(s_fw(r, "fd", "s1", "svc", "b", 10 * MS), 0);
  /* Not seen again: the relay tries every retry_us; each failure pushes the next try. */
  ck_assert(!s_due(r, 99 * MS));
  ck_assert(dd_relay_peek(r, 100 * MS, &out));
  ck_assert_mem_eq(out.inner, "a", 1);
  ck_assert(out.stored);
  dd_relay_done(r, DD_RELAY_GONE, 100 * MS);
  ck_assert_uint_eq(dd_relay_next_deadline(r), 200 * MS);
  s_expect(r, 200 * MS, "s1", "fd", "svc", "a", DD_RELAY_SENT);
  s_expect(r, 200 * MS, "s1", "fd", "svc", "b", DD_RELAY_SENT);
  /* Present again: the next message passes straight through. */
  ck_assert_int_eq(s_fw(r, "fd", "s1", "svc", "c", 201 * MS), 0);
  ck_assert(dd_relay_peek(r, 201 * MS, &out));
  ck_assert(!out.stored);
  dd_relay_done(r, DD_RELAY_SENT, 201 * MS);
  ck_assert_uint_eq(dd_relay_stats(r).gone, 2);
  dd_relay_destroy(&r);
}
END_TEST

START_TEST(test_busy_is_not_absent) {
  dd_relay_t *r = s_new(0, 0);
  ck_assert_int_eq(s_fw(r, "fd", "s1", "svc", "a", 0), 0);
  dd_relay_out_t out;
  ck_assert(dd_relay_peek(r, 0, &out));
  dd_relay_done(r, DD_RELAY_BUSY, 0);
  dd_relay_note_t n;
  ck_assert(!s_note(r, DD_RELAY_NOTE_END_ABSENT, &n));
  ck_assert_uint_eq(dd_relay_next_deadline(r), 100 * MS);
  ck_assert(!s_due(r, 50 * MS));
  s_expect(r, 100 * MS, "s1", "fd", "svc", "a", DD_RELAY_SENT);
  ck_assert_uint_eq(dd_relay_stats(r).busy, 1);
  ck_assert_uint_eq(dd_relay_stats(r).gone, 0);
  dd_relay_destroy(&r);
}
END_TEST

START_TEST(test_buffer_full_messages) {
  dd_relay_t *r = s_new(3, 1u << 20);
  ck_assert_int_eq(s_fw(r, "fd", "s1", "svc", "m1", 0), 0);
  dd_relay_out_t out;
  ck_assert(dd_relay_peek(r, 0, &out));
  dd_relay_done(r, DD_RELAY_GONE, 0);
  ck_assert_int_eq(s_fw(r, "fd", "s1", "svc", "m2", 1), 0);
  ck_assert_int_eq(s_fw(r, "fd", "s1", "svc", "m3", 2), 0);
  ck_assert_int_eq(s_fw(r, "fd", "s1", "svc", "m4", 3), DD_ENOSPC);
  ck_assert_str_eq(s_err, "session s1: relay buffer full (3 messages / 1048576 bytes); "
                          "message dropped");
  ck_assert_uint_eq(dd_relay_waiting(r, "s1", "svc"), 3);
  ck_assert_uint_eq(dd_relay_stats(r).dropped_full, 1);
  /* What was stored is intact and in order; the dropped one is not there. */
  dd_relay_seen(r, "svc", 10);
  s_expect(r, 10, "s1", "fd", "svc", "m1", DD_RELAY_SENT);
  s_expect(r, 10, "s1", "fd", "svc", "m2", DD_RELAY_SENT);
  s_expect(r, 10, "s1", "fd", "svc", "m3", DD_RELAY_SENT);
  ck_assert(!s_due(r, 10));
  /* Room again. */
  ck_assert_int_eq(s_fw(r, "fd", "s1", "svc", "m5", 11), 0);
  s_expect(r, 11, "s1", "fd", "svc", "m5", DD_RELAY_SENT);
  dd_relay_destroy(&r);
}
END_TEST

START_TEST(test_buffer_full_bytes_and_pass_through) {
  dd_relay_t *r = s_new(64, 100);
  char big[151];
  memset(big, 'x', 150);
  big[150] = '\0';
  /* The destination is present and nothing waits: a message above the limit goes through. */
  ck_assert_int_eq(s_fw(r, "fd", "s1", "svc", big, 0), 0);
  s_expect(r, 0, "s1", "fd", "svc", big, DD_RELAY_SENT);
  /* Away: 60 + 40 bytes fit, one more byte does not. */
  char b60[61], b40[41];
  memset(b60, 'a', 60);
  b60[60] = '\0';
  memset(b40, 'b', 40);
  b40[40] = '\0';
  ck_assert_int_eq(s_fw(r, "fd", "s1", "svc", b60, 1), 0);
  dd_relay_out_t out;
  ck_assert(dd_relay_peek(r, 1, &out));
  dd_relay_done(r, DD_RELAY_GONE, 1);
  ck_assert_int_eq(s_fw(r, "fd", "s1", "svc", "c", 2), 0);
  ck_assert_int_eq(s_fw(r, "fd", "s1", "svc", b40, 3), DD_ENOSPC); /* 61 + 40 > 100 */
  ck_assert_str_eq(s_err, "session s1: relay buffer full (64 messages / 100 bytes); "
                          "message dropped");
  ck_assert_uint_eq(dd_relay_stats(r).queued_bytes, 61);
  ck_assert_int_eq(s_fw(r, "fd", "s1", "svc", "123456789012345678901234567890123456789", 4),
                   0); /* 61 + 39 = 100 fits exactly */
  ck_assert_uint_eq(dd_relay_stats(r).queued_bytes, 100);
  ck_assert_uint_eq(dd_relay_stats(r).peak_bytes, 150); /* the pass-through one counted */
  dd_relay_destroy(&r);
}
END_TEST

START_TEST(test_total_limit) {
  dd_relay_cfg_t cfg = {.max_msgs = 10, .max_bytes = 100, .max_total_bytes = 150};
  dd_relay_t *r = NULL;
  ck_assert_int_eq(dd_relay_new(&cfg, &r), 0);
  char b80[81];
  memset(b80, 'z', 80);
  b80[80] = '\0';
  dd_relay_out_t out;
  for (int i = 0; i < 2; i++) {
    char sid[8];
    snprintf(sid, sizeof sid, "s%d", i);
    ck_assert_int_eq(s_fw(r, "fd", sid, "svc", "h", 0), 0);
    ck_assert(dd_relay_peek(r, 0, &out));
    dd_relay_done(r, DD_RELAY_GONE, 0); /* svc away in both sessions */
  }
  /* "h" + "h" = 2 bytes waiting; 80 more in s0 fit; 80 in s1 exceed the 150 in all. */
  ck_assert_int_eq(s_fw(r, "fd", "s0", "svc", b80, 1), 0);
  ck_assert_int_eq(s_fw(r, "fd", "s1", "svc", b80, 2), DD_ENOSPC);
  ck_assert_str_eq(s_err, "session s1: relay store full (150 bytes over all sessions); "
                          "message dropped");
  dd_relay_destroy(&r);
}
END_TEST

START_TEST(test_sessions_kept_apart) {
  dd_relay_t *r = s_new(2, 1000);
  ck_assert_int_eq(s_fw(r, "fd1", "s1", "svc", "a1", 0), 0);
  ck_assert_int_eq(s_fw(r, "fd2", "s2", "svc", "b1", 0), 0);
  /* A third party can neither send into s1 nor be sent to in it. */
  ck_assert_int_eq(s_fw(r, "fd2", "s1", "svc", "intruder", 1), DD_EPERM);
  ck_assert_str_eq(s_err, "session s1: party fd2 is not one of its ends (fd1, svc); "
                          "message dropped");
  ck_assert_int_eq(s_fw(r, "fd1", "s1", "fd2", "leak", 1), DD_EPERM);
  ck_assert_int_eq(s_fw(r, "svc", "s2", "fd1", "leak", 1), DD_EPERM);
  ck_assert_uint_eq(dd_relay_stats(r).refused, 3);
  /* svc is away: it is away in both sessions (one party, one connection). */
  dd_relay_out_t out;
  ck_assert(dd_relay_peek(r, 2, &out));
  dd_relay_done(r, DD_RELAY_GONE, 2);
  ck_assert(!s_due(r, 3));
  /* s1 fills up; s2 still takes its own messages. */
  ck_assert_int_eq(s_fw(r, "fd1", "s1", "svc", "a2", 4), 0);
  ck_assert_int_eq(s_fw(r, "fd1", "s1", "svc", "a3", 4), DD_ENOSPC);
  ck_assert_int_eq(s_fw(r, "fd2", "s2", "svc", "b2", 5), 0);
  ck_assert_uint_eq(dd_relay_waiting(r, "s1", "svc"), 2);
  ck_assert_uint_eq(dd_relay_waiting(r, "s2", "svc"), 2);
  /* Back: each message leaves with its own session id, order kept per session, and the
   * sessions take turns. */
  dd_relay_seen(r, "svc", 10);
  s_expect(r, 10, "s1", "fd1", "svc", "a1", DD_RELAY_SENT);
  s_expect(r, 10, "s2", "fd2", "svc", "b1", DD_RELAY_SENT);
  s_expect(r, 10, "s1", "fd1", "svc", "a2", DD_RELAY_SENT);
  s_expect(r, 10, "s2", "fd2", "svc", "b2", DD_RELAY_SENT);
  ck_assert(!s_due(r, 10));
  dd_relay_destroy(&r);
}
END_TEST

START_TEST(test_hello_echo_and_join) {
  dd_relay_t *r = s_new(0, 0);
  /* The service device says hello first: addressed to itself, echoed back. */
  ck_assert_int_eq(s_fw(r, "svc", "s1", "svc", "hello", 0), 0);
  dd_relay_note_t n;
  ck_assert(s_note(r, DD_RELAY_NOTE_SESSION_OPEN, &n));
  ck_assert_str_eq(n.party, "svc");
  ck_assert_str_eq(n.peer, "");
  s_expect(r, 0, "s1", "svc", "svc", "hello", DD_RELAY_SENT);
  /* The first device joins as the second end by sending; a third cannot. */
  ck_assert_int_eq(s_fw(r, "fd", "s1", "svc", "r1", 1), 0);
  ck_assert(s_note(r, DD_RELAY_NOTE_END_JOINED, &n));
  ck_assert_str_eq(n.party, "fd");
  s_expect(r, 1, "s1", "fd", "svc", "r1", DD_RELAY_SENT);
  ck_assert_int_eq(s_fw(r, "x", "s1", "x", "hello", 2), DD_EPERM);
  /* A hello of the first device is echoed with itself as the sender. */
  ck_assert_int_eq(s_fw(r, "fd", "s1", "fd", "hi", 3), 0);
  s_expect(r, 3, "s1", "fd", "fd", "hi", DD_RELAY_SENT);
  dd_relay_destroy(&r);
}
END_TEST

START_TEST(test_close_and_expiry) {
  dd_relay_t *r = s_new(0, 0);
  ck_assert_int_eq(s_fw(r, "fd", "s1", "svc", "a", 0), 0);
  dd_relay_out_t out;
  ck_assert(dd_relay_peek(r, 0, &out));
  dd_relay_done(r, DD_RELAY_GONE, 0);
  ck_assert_int_eq(s_fw(r, "fd", "s1", "svc", "bb", 1), 0);
  ck_assert_int_eq(dd_relay_close(r, "other", "s1", 2, s_err, sizeof s_err), DD_EPERM);
  ck_assert_int_eq(dd_relay_close(r, "fd", "nope", 2, s_err, sizeof s_err), DD_ENOENT);
  ck_assert_int_eq(dd_relay_close(r, "fd", "s1", 2, s_err, sizeof s_err), 0);
  ck_assert(!dd_relay_has_session(r, "s1"));
  dd_relay_note_t n;
  ck_assert(s_note(r, DD_RELAY_NOTE_SESSION_CLOSED, &n));
  ck_assert_str_eq(n.party, "fd");
  ck_assert_uint_eq(n.count, 2);
  ck_assert_uint_eq(n.bytes, 3);
  dd_relay_stats_t st = dd_relay_stats(r);
  ck_assert_uint_eq(st.discarded, 2);
  ck_assert_uint_eq(st.queued_msgs, 0);
  ck_assert_uint_eq(st.queued_bytes, 0);
  ck_assert_uint_eq(st.sessions, 0);
  ck_assert(!s_due(r, 1000 * MS));
  /* Idle expiry (60 s in s_new): a session untouched that long is forgotten. */
  ck_assert_int_eq(s_fw(r, "fd", "s2", "svc", "x", 10 * MS), 0);
  ck_assert(dd_relay_peek(r, 10 * MS, &out));
  dd_relay_done(r, DD_RELAY_GONE, 10 * MS);
  ck_assert_int_eq(s_fw(r, "fd", "s2", "svc", "y", 20 * MS), 0);
  dd_relay_tick(r, 20 * MS + 59999 * MS);
  ck_assert(dd_relay_has_session(r, "s2"));
  dd_relay_tick(r, 20 * MS + 60000 * MS);
  ck_assert(!dd_relay_has_session(r, "s2"));
  ck_assert(s_note(r, DD_RELAY_NOTE_SESSION_EXPIRED, &n));
  ck_assert_str_eq(n.session, "s2");
  ck_assert_uint_eq(n.count, 2);
  ck_assert_uint_eq(dd_relay_stats(r).discarded, 4);
  ck_assert_uint_eq(dd_relay_next_deadline(r), UINT64_MAX);
  dd_relay_destroy(&r);
}
END_TEST

START_TEST(test_bad_input_and_session_table) {
  dd_relay_cfg_t cfg = {.max_sessions = 2};
  dd_relay_t *r = NULL;
  ck_assert_int_eq(dd_relay_new(&cfg, &r), 0);
  ck_assert_int_eq(s_fw(r, "fd", "", "svc", "a", 0), DD_EINVAL);
  ck_assert_int_eq(s_fw(r, "fd", "s", "", "a", 0), DD_EINVAL);
  ck_assert_int_eq(s_fw(r, "fd", "s", "svc", "", 0), DD_EINVAL);
  char longid[DD_RELAY_ID_MAX + 1];
  memset(longid, 'q', DD_RELAY_ID_MAX);
  longid[DD_RELAY_ID_MAX] = '\0';
  ck_assert_int_eq(s_fw(r, "fd", longid, "svc", "a", 0), DD_ENAMETOOLONG);
  longid[DD_RELAY_ID_MAX - 1] = '\0'; /* 255 bytes: the longest allowed */
  ck_assert_int_eq(s_fw(r, "fd", longid, "svc", "a", 0), 0);
  ck_assert_int_eq(s_fw(r, "fd", "s2", "svc", "a", 0), 0);
  ck_assert_int_eq(s_fw(r, "fd", "s3", "svc", "a", 0), DD_ENOSPC);
  ck_assert_str_eq(s_err, "session s3: relay has 2 sessions open already; message dropped");
  ck_assert_uint_eq(dd_relay_stats(r).refused, 5);
  ck_assert_uint_eq(dd_relay_stats(r).sessions, 2);
  dd_relay_destroy(&r);
}
END_TEST

START_TEST(test_party_names) {
  char name[DD_RELAY_ID_MAX];
  uint8_t id[255];
  ck_assert_int_eq(dd_wire_party_name((const uint8_t *)"service", 7, name, sizeof name), 0);
  ck_assert_str_eq(name, "service");
  ck_assert_int_eq(dd_wire_party_id("service", id, sizeof id), 7);
  ck_assert_mem_eq(id, "service", 7);
  /* A ROUTER-made id (zero byte first, zmq_socket(3)) and one starting with '~'. */
  const uint8_t anon[] = {0x00, 0x6B, 0x8B, 0x45, 0x67};
  ck_assert_int_eq(dd_wire_party_name(anon, sizeof anon, name, sizeof name), 0);
  ck_assert_str_eq(name, "~006b8b4567");
  ck_assert_int_eq(dd_wire_party_id(name, id, sizeof id), 5);
  ck_assert_mem_eq(id, anon, 5);
  ck_assert_int_eq(dd_wire_party_name((const uint8_t *)"~x", 2, name, sizeof name), 0);
  ck_assert_str_eq(name, "~7e78");
  ck_assert_int_eq(dd_wire_party_id("~7", id, sizeof id), DD_EINVAL);
  ck_assert_int_eq(dd_wire_party_id("~zz", id, sizeof id), DD_EINVAL);
  ck_assert_int_eq(dd_wire_party_id("", id, sizeof id), DD_EINVAL);
  uint8_t big[200];
  memset(big, 1, sizeof big);
  ck_assert_int_eq(dd_wire_party_name(big, sizeof big, name, sizeof name), DD_ENAMETOOLONG);
}
END_TEST

/* The relay is a ROUTER that both ends connect to with a DEALER (dd_relay.h): in a run, the link
 * between the relay and the service device has the service device as its client and the relay as
 * its server, like the first device's relay link. A link pointed the other way connects the service
 * device to its own ROUTER, and nothing forwarded through the relay can reach it. */
START_TEST(test_relay_links_end_at_the_relay) {
  static const char yaml[] = "name: wiring\n";
  dd_scenario_opts_t o = {.no_file_checks = true};
  dd_scenario_list_t *list = NULL;
  ck_assert_int_eq(dd_scenario_load_mem("wiring.yaml", yaml, strlen(yaml), &o, &list, NULL), 0);
  const dd_scenario_t *sc = dd_scenario_list_get(list, 0);
  ck_assert_ptr_nonnull(sc);
  const dd_sc_link_t *fd = &sc->links[DD_SC_L_RELAY], *svc = &sc->links[DD_SC_L_RELAY_SERVICE];
  ck_assert_str_eq(fd->client, "first_device");
  ck_assert_str_eq(fd->server, "relay");
  ck_assert_str_eq(svc->client, "service");
  ck_assert_str_eq(svc->server, "relay");
  dd_scenario_list_destroy(&list);
}
END_TEST

int main(void) {
  Suite *s = suite_create("relay");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, test_pass_through_keeps_bytes);
  tcase_add_test(tc, test_order_kept_while_away);
  tcase_add_test(tc, test_retry_when_not_seen);
  tcase_add_test(tc, test_busy_is_not_absent);
  tcase_add_test(tc, test_buffer_full_messages);
  tcase_add_test(tc, test_buffer_full_bytes_and_pass_through);
  tcase_add_test(tc, test_total_limit);
  tcase_add_test(tc, test_sessions_kept_apart);
  tcase_add_test(tc, test_hello_echo_and_join);
  tcase_add_test(tc, test_close_and_expiry);
  tcase_add_test(tc, test_bad_input_and_session_table);
  tcase_add_test(tc, test_party_names);
  tcase_add_test(tc, test_relay_links_end_at_the_relay);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
