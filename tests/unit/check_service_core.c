/* check_service_core: the service device's sans-I/O parts (dd_service_core): record intake with
 * duplicates and reordering across the UDP and relay paths, the acknowledgements it produces
 * (cumulative + SACK ranges as in RFC 2018), session resume, the table of sessions served at once
 * (kept apart, resumed, bounded, freed when idle), and the pacing of a package to the
 * first device (64 KiB chunks, 4 outstanding, resume from the acknowledged offset). Vectors are
 * hand-built sequences whose expected outcome follows from the rules in dd_service_core.h. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_err.h"
#include "dd_second_diag.h"
#include "dd_service_core.h"

static dd_svc_intake_t *s_intake(void) {
  dd_svc_intake_t *in = NULL;
  ck_assert_int_eq(dd_svc_intake_new(&in), 0);
  bool resumed = true;
  uint64_t next = 0;
  ck_assert_int_eq(dd_svc_intake_open(in, "s1", &resumed, &next), 0);
  ck_assert(!resumed);
  ck_assert_uint_eq(next, 1);
  return in;
}

static dd_drecv_verdict_t s_rec(dd_svc_intake_t *in, uint64_t seq, dd_svc_path_t path) {
  char data[32];
  snprintf(data, sizeof data, "rec-%llu", (unsigned long long)seq);
  dd_drecv_verdict_t v;
  ck_assert_int_eq(dd_svc_intake_on_record(in, "s1", seq, path, (uint8_t *)data, strlen(data) + 1,
                                           1000, &v),
                   0);
  return v;
}

/* Take everything deliverable; returns how many, checking they come as first, first+1, ... */
static int s_take_all(dd_svc_intake_t *in, uint64_t first) {
  uint64_t seq;
  uint8_t *d;
  size_t len;
  int n = 0;
  while (dd_svc_intake_take(in, &seq, &d, &len)) {
    ck_assert_uint_eq(seq, first + (uint64_t)n);
    char want[32];
    snprintf(want, sizeof want, "rec-%llu", (unsigned long long)seq);
    ck_assert_str_eq((char *)d, want);
    free(d);
    n++;
  }
  return n;
}

START_TEST(test_intake_reorder_and_duplicates) {
  dd_svc_intake_t *in = s_intake();
  /* 1 direct, 3 relay (ahead of a gap), 1 again direct (duplicate), 2 relay fills the gap. */
  ck_assert_int_eq(s_rec(in, 1, DD_SVC_PATH_DIRECT), DD_DRECV_DELIVERABLE);
  ck_assert_int_eq(s_take_all(in, 1), 1);
  ck_assert_int_eq(s_rec(in, 3, DD_SVC_PATH_RELAY), DD_DRECV_BUFFERED);
  ck_assert_int_eq(s_rec(in, 5, DD_SVC_PATH_RELAY), DD_DRECV_BUFFERED);
  ck_assert_int_eq(s_take_all(in, 2), 0);
  ck_assert(dd_svc_intake_ack_due(in, 1000));
  uint64_t cum = 99;
  dd_seq_range_t r[4];
  size_t n = dd_svc_intake_ack(in, 1000, &cum, r, 4);
  ck_assert_uint_eq(cum, 1);
  ck_assert_uint_eq(n, 2);
  ck_assert_uint_eq(r[0].first, 3);
  ck_assert_uint_eq(r[0].last, 3);
  ck_assert_uint_eq(r[1].first, 5);
  ck_assert_uint_eq(r[1].last, 5);
  /* Nothing new: no ack until the 20 ms re-ack period for the held gap. */
  ck_assert(!dd_svc_intake_ack_due(in, 1000 + DD_SVC_ACK_PERIOD_US - 1));
  ck_assert(dd_svc_intake_ack_due(in, 1000 + DD_SVC_ACK_PERIOD_US));
  ck_assert_uint_eq(dd_svc_intake_deadline(in), 1000 + DD_SVC_ACK_PERIOD_US);
  ck_assert_int_eq(s_rec(in, 1, DD_SVC_PATH_DIRECT), DD_DRECV_DUPLICATE);
  ck_assert_int_eq(s_rec(in, 3, DD_SVC_PATH_DIRECT), DD_DRECV_DUPLICATE);
  ck_assert(dd_svc_intake_ack_due(in, 1001)); /* a duplicate is acknowledged again */
  ck_assert_int_eq(s_rec(in, 2, DD_SVC_PATH_RELAY), DD_DRECV_DELIVERABLE);
  ck_assert_int_eq(s_take_all(in, 2), 2); /* 2 and 3 */
  ck_assert_int_eq(s_rec(in, 4, DD_SVC_PATH_DIRECT), DD_DRECV_DELIVERABLE);
  ck_assert_int_eq(s_take_all(in, 4), 2); /* 4 and 5 */
  n = dd_svc_intake_ack(in, 2000, &cum, r, 4);
  ck_assert_uint_eq(cum, 5);
  ck_assert_uint_eq(n, 0);
  ck_assert(!dd_svc_intake_ack_due(in, 10000000));
  ck_assert_uint_eq(dd_svc_intake_deadline(in), UINT64_MAX);
  dd_svc_intake_stats_t st = dd_svc_intake_stats(in);
  ck_assert_uint_eq(st.received, 7);
  ck_assert_uint_eq(st.direct, 4);
  ck_assert_uint_eq(st.relay, 3);
  ck_assert_uint_eq(st.duplicates, 2);
  ck_assert_uint_eq(st.delivered, 5);
  dd_svc_intake_destroy(&in);
  ck_assert_ptr_null(in);
}
END_TEST

START_TEST(test_intake_sessions) {
  dd_svc_intake_t *in = s_intake();
  dd_drecv_verdict_t v;
  /* A record of another session is refused and not acknowledged. */
  ck_assert_int_eq(dd_svc_intake_on_record(in, "other", 1, DD_SVC_PATH_DIRECT, (const uint8_t *)"x",
                                           1, 0, &v),
                   DD_ENOENT);
  ck_assert_int_eq(v, DD_DRECV_REFUSED);
  ck_assert(!dd_svc_intake_ack_due(in, 0));
  ck_assert_int_eq(s_rec(in, 1, DD_SVC_PATH_DIRECT), DD_DRECV_DELIVERABLE);
  ck_assert_int_eq(s_take_all(in, 1), 1);
  ck_assert_int_eq(s_rec(in, 2, DD_SVC_PATH_DIRECT), DD_DRECV_DELIVERABLE);
  ck_assert_int_eq(s_take_all(in, 2), 1);
  /* The same session again (first device reconnected): resume at 3. */
  bool resumed = false;
  uint64_t next = 0;
  ck_assert_int_eq(dd_svc_intake_open(in, "s1", &resumed, &next), 0);
  ck_assert(resumed);
  ck_assert_uint_eq(next, 3);
  ck_assert_int_eq(s_rec(in, 2, DD_SVC_PATH_RELAY), DD_DRECV_DUPLICATE);
  /* Another session starts from 1. */
  ck_assert_int_eq(dd_svc_intake_open(in, "s2", &resumed, &next), 0);
  ck_assert(!resumed);
  ck_assert_uint_eq(next, 1);
  ck_assert_str_eq(dd_svc_intake_session(in), "s2");
  ck_assert_int_eq(dd_svc_intake_open(in, "", &resumed, &next), DD_EINVAL);
  dd_svc_intake_destroy(&in);
}
END_TEST

/* ---- session table ---- */

static dd_svc_table_t *s_table(size_t max, uint64_t idle_us) {
  dd_svc_table_cfg_t cfg = {.max_sessions = max, .idle_us = idle_us};
  dd_svc_table_t *t = NULL;
  ck_assert_int_eq(dd_svc_table_new(&cfg, &t), 0);
  return t;
}

static dd_svc_session_t *s_open(dd_svc_table_t *t, const char *sid, const char *peer, uint64_t now,
                                bool want_resumed, uint64_t want_next) {
  bool resumed = !want_resumed;
  uint64_t next = 0;
  dd_svc_session_t *s = NULL;
  ck_assert_int_eq(
      dd_svc_table_open(t, sid, (const uint8_t *)peer, strlen(peer), now, &resumed, &next, &s), 0);
  ck_assert(resumed == want_resumed);
  ck_assert_uint_eq(next, want_next);
  ck_assert_ptr_nonnull(s);
  ck_assert_str_eq(dd_svc_session_id(s), sid);
  ck_assert(dd_svc_session_is_peer(s, (const uint8_t *)peer, strlen(peer)));
  return s;
}

/* A record of session sid whose payload names both, so a mix-up between sessions shows. */
static dd_drecv_verdict_t s_trec(dd_svc_table_t *t, const char *sid, uint64_t seq, uint64_t now,
                                 dd_svc_session_t **out) {
  char data[64];
  snprintf(data, sizeof data, "%s/%llu", sid, (unsigned long long)seq);
  dd_drecv_verdict_t v = DD_DRECV_REFUSED;
  ck_assert_int_eq(dd_svc_table_on_record(t, sid, seq, DD_SVC_PATH_RELAY, (uint8_t *)data,
                                          strlen(data) + 1, now, &v, out),
                   0);
  return v;
}

/* Take what session s has deliverable; checks the order and that each record is its own. */
static int s_ttake(dd_svc_session_t *s, uint64_t first) {
  uint64_t seq;
  uint8_t *d;
  size_t len;
  int n = 0;
  while (dd_svc_intake_take(dd_svc_session_intake(s), &seq, &d, &len)) {
    ck_assert_uint_eq(seq, first + (uint64_t)n);
    char want[64];
    snprintf(want, sizeof want, "%s/%llu", dd_svc_session_id(s), (unsigned long long)seq);
    ck_assert_str_eq((char *)d, want);
    free(d);
    n++;
  }
  return n;
}

/* The ack a session would send now: cumulative and number of SACK ranges. */
static uint64_t s_tack(dd_svc_session_t *s, uint64_t now, size_t *nsacks) {
  uint64_t cum = 0;
  dd_seq_range_t r[8];
  size_t n = dd_svc_intake_ack(dd_svc_session_intake(s), now, &cum, r, 8);
  if (nsacks) *nsacks = n;
  return cum;
}

/* Three first devices at once: each session keeps its own order, duplicates and acks; a record
 * of a session that said no hello is refused and counted. (Before the table, the service device
 * kept one intake, and every hello restarted it: the records of the other sessions were
 * refused.) */
START_TEST(test_table_sessions_apart) {
  dd_svc_table_t *t = s_table(0, 0);
  ck_assert_uint_eq(dd_svc_table_max(t), DD_SVC_SESSIONS_DEFAULT);
  ck_assert_uint_eq(dd_svc_table_idle_us(t), DD_SVC_IDLE_DEFAULT_US);
  dd_svc_session_t *a = s_open(t, "veh-1-s1", "veh-1", 0, false, 1);
  dd_svc_session_t *b = s_open(t, "veh-2-s1", "veh-2", 0, false, 1);
  dd_svc_session_t *c = s_open(t, "veh-3-s1", "veh-3", 0, false, 1);
  ck_assert_ptr_eq(dd_svc_table_find(t, "veh-2-s1"), b);
  ck_assert_ptr_null(dd_svc_table_find(t, "veh-4-s1"));
  dd_svc_session_t *got = NULL;
  /* interleaved: a 1, b 2 (gap), c 1, a 2, b 1, a 2 again (duplicate), c 1 again */
  ck_assert_int_eq(s_trec(t, "veh-1-s1", 1, 10, &got), DD_DRECV_DELIVERABLE);
  ck_assert_ptr_eq(got, a);
  ck_assert_int_eq(s_ttake(a, 1), 1);
  ck_assert_int_eq(s_trec(t, "veh-2-s1", 2, 11, &got), DD_DRECV_BUFFERED);
  ck_assert_ptr_eq(got, b);
  ck_assert_int_eq(s_ttake(b, 1), 0);
  ck_assert_int_eq(s_trec(t, "veh-3-s1", 1, 12, NULL), DD_DRECV_DELIVERABLE);
  ck_assert_int_eq(s_ttake(c, 1), 1);
  ck_assert_int_eq(s_trec(t, "veh-1-s1", 2, 13, NULL), DD_DRECV_DELIVERABLE);
  ck_assert_int_eq(s_ttake(a, 2), 1);
  ck_assert_int_eq(s_trec(t, "veh-2-s1", 1, 14, NULL), DD_DRECV_DELIVERABLE);
  ck_assert_int_eq(s_ttake(b, 1), 2);
  ck_assert_int_eq(s_trec(t, "veh-1-s1", 2, 15, NULL), DD_DRECV_DUPLICATE);
  ck_assert_int_eq(s_trec(t, "veh-3-s1", 1, 16, NULL), DD_DRECV_DUPLICATE);
  /* A record of no open session: refused, no entry, no ack work. */
  dd_drecv_verdict_t v = DD_DRECV_DELIVERABLE;
  got = a;
  ck_assert_int_eq(dd_svc_table_on_record(t, "veh-9-s1", 1, DD_SVC_PATH_DIRECT,
                                          (const uint8_t *)"x", 1, 17, &v, &got),
                   DD_ENOENT);
  ck_assert_int_eq(v, DD_DRECV_REFUSED);
  ck_assert_ptr_null(got);
  /* Each session's ack goes to its own device and says its own cumulative. */
  dd_svc_session_t *due[8];
  ck_assert_uint_eq(dd_svc_table_deadline(t), 0);
  size_t n = dd_svc_table_due(t, 20, due, 8);
  ck_assert_uint_eq(n, 3);
  bool seen[3] = {false, false, false};
  for (size_t i = 0; i < n; i++) {
    size_t plen = 0;
    const uint8_t *peer = dd_svc_session_peer(due[i], &plen);
    size_t nsacks = 9;
    uint64_t cum = s_tack(due[i], 20, &nsacks);
    ck_assert_uint_eq(nsacks, 0);
    if (due[i] == a) {
      ck_assert(plen == 5 && !memcmp(peer, "veh-1", 5));
      ck_assert_uint_eq(cum, 2);
      seen[0] = true;
    } else if (due[i] == b) {
      ck_assert(plen == 5 && !memcmp(peer, "veh-2", 5));
      ck_assert_uint_eq(cum, 2);
      seen[1] = true;
    } else {
      ck_assert_ptr_eq(due[i], c);
      ck_assert(plen == 5 && !memcmp(peer, "veh-3", 5));
      ck_assert_uint_eq(cum, 1);
      seen[2] = true;
    }
  }
  ck_assert(seen[0] && seen[1] && seen[2]);
  /* Acknowledged and without a gap: nothing is due any more, and nothing will be. */
  ck_assert_uint_eq(dd_svc_table_due(t, 10000000, due, 8), 0);
  dd_svc_table_stats_t st = dd_svc_table_stats(t);
  ck_assert_uint_eq(st.open, 3);
  ck_assert_uint_eq(st.opened, 3);
  ck_assert_uint_eq(st.unknown, 1);
  ck_assert_uint_eq(st.rec.received, 7);
  ck_assert_uint_eq(st.rec.relay, 7);
  ck_assert_uint_eq(st.rec.duplicates, 2);
  ck_assert_uint_eq(st.rec.refused, 1);
  ck_assert_uint_eq(st.rec.delivered, 5);
  ck_assert_uint_eq(st.rec.acks, 3);
  dd_svc_table_destroy(&t);
  ck_assert_ptr_null(t);
}
END_TEST

/* The first device comes back (relay restart, outage) and says hello again for its session: the
 * same intake goes on, under the routing id it uses now. */
START_TEST(test_table_resume) {
  dd_svc_table_t *t = s_table(4, 0);
  dd_svc_session_t *a = s_open(t, "s1", "fd-a", 0, false, 1);
  s_open(t, "s2", "fd-b", 0, false, 1);
  for (uint64_t q = 1; q <= 3; q++)
    s_trec(t, "s1", q, 100 + q, NULL);
  ck_assert_int_eq(s_trec(t, "s1", 5, 104, NULL), DD_DRECV_BUFFERED);
  ck_assert_int_eq(s_ttake(a, 1), 3);
  size_t nsacks;
  ck_assert_uint_eq(s_tack(a, 110, &nsacks), 3);
  ck_assert_uint_eq(nsacks, 1);
  dd_svc_session_t *again = s_open(t, "s1", "fd-a2", 200, true, 4);
  ck_assert_ptr_eq(again, a);
  ck_assert(!dd_svc_session_is_peer(a, (const uint8_t *)"fd-a", 4));
  ck_assert_uint_eq(dd_svc_session_active_us(a), 200);
  ck_assert_uint_eq(dd_svc_session_opened_us(a), 0);
  /* what it had is kept: 2 is a duplicate, 5 is held, 4 fills the gap */
  ck_assert_int_eq(s_trec(t, "s1", 2, 201, NULL), DD_DRECV_DUPLICATE);
  ck_assert_int_eq(s_trec(t, "s1", 5, 202, NULL), DD_DRECV_DUPLICATE);
  ck_assert_int_eq(s_trec(t, "s1", 4, 203, NULL), DD_DRECV_DELIVERABLE);
  ck_assert_int_eq(s_ttake(a, 4), 2);
  ck_assert_uint_eq(s_tack(a, 204, &nsacks), 5);
  ck_assert_uint_eq(nsacks, 0);
  dd_svc_table_stats_t st = dd_svc_table_stats(t);
  ck_assert_uint_eq(st.opened, 2);
  ck_assert_uint_eq(st.resumed, 1);
  ck_assert_uint_eq(st.open, 2);
  /* bad hellos */
  bool resumed;
  uint64_t next;
  ck_assert_int_eq(dd_svc_table_open(t, "", (const uint8_t *)"x", 1, 0, &resumed, &next, NULL),
                   DD_EINVAL);
  ck_assert_int_eq(dd_svc_table_open(t, "s3", (const uint8_t *)"x", 0, 0, &resumed, &next, NULL),
                   DD_EINVAL);
  uint8_t long_peer[DD_SVC_PEER_MAX + 1];
  memset(long_peer, 'p', sizeof long_peer);
  ck_assert_int_eq(
      dd_svc_table_open(t, "s3", long_peer, sizeof long_peer, 0, &resumed, &next, NULL), DD_EINVAL);
  char long_sid[DD_SVC_SESSION_MAX + 1];
  memset(long_sid, 's', DD_SVC_SESSION_MAX);
  long_sid[DD_SVC_SESSION_MAX] = '\0';
  ck_assert_int_eq(
      dd_svc_table_open(t, long_sid, (const uint8_t *)"x", 1, 0, &resumed, &next, NULL), DD_EINVAL);
  ck_assert_uint_eq(dd_svc_table_stats(t).open, 2);
  dd_svc_table_destroy(&t);
}
END_TEST

/* A full table refuses a new session (DD_ENOSPC, counted) but still resumes the open ones; a
 * session that ends makes room. The default holds DD_SVC_SESSIONS_DEFAULT sessions. */
START_TEST(test_table_full) {
  dd_svc_table_t *t = NULL;
  dd_svc_table_cfg_t big = {.max_sessions = DD_SVC_SESSIONS_LIMIT + 1};
  ck_assert_int_eq(dd_svc_table_new(&big, &t), DD_EINVAL);
  ck_assert_ptr_null(t);
  t = s_table(2, 0);
  s_open(t, "a", "fd-a", 0, false, 1);
  dd_svc_session_t *b = s_open(t, "b", "fd-b", 0, false, 1);
  bool resumed;
  uint64_t next;
  dd_svc_session_t *s = b;
  ck_assert_int_eq(dd_svc_table_open(t, "c", (const uint8_t *)"fd-c", 4, 0, &resumed, &next, &s),
                   DD_ENOSPC);
  ck_assert_ptr_eq(s, b); /* untouched */
  ck_assert_ptr_null(dd_svc_table_find(t, "c"));
  s_open(t, "a", "fd-a", 1, true, 1);
  dd_svc_table_remove(t, &b, DD_SVC_END_CLOSED);
  ck_assert_ptr_null(b);
  ck_assert_ptr_null(dd_svc_table_find(t, "b"));
  s_open(t, "c", "fd-c", 2, false, 1);
  dd_svc_table_stats_t st = dd_svc_table_stats(t);
  ck_assert_uint_eq(st.full, 1);
  ck_assert_uint_eq(st.closed, 1);
  ck_assert_uint_eq(dd_svc_table_count(t), 2);
  ck_assert_uint_eq(st.open, 2);
  ck_assert_uint_eq(st.peak, 2);
  dd_svc_table_destroy(&t);

  t = s_table(0, 0);
  char sid[32];
  for (unsigned i = 0; i < DD_SVC_SESSIONS_DEFAULT; i++) {
    snprintf(sid, sizeof sid, "veh-%u", i);
    ck_assert_int_eq(
        dd_svc_table_open(t, sid, (const uint8_t *)sid, strlen(sid), i, NULL, NULL, NULL), 0);
  }
  ck_assert_int_eq(dd_svc_table_open(t, "one-more", (const uint8_t *)"x", 1, 0, NULL, NULL, NULL),
                   DD_ENOSPC);
  /* every one of them is found again (chained buckets) */
  for (unsigned i = 0; i < DD_SVC_SESSIONS_DEFAULT; i++) {
    snprintf(sid, sizeof sid, "veh-%u", i);
    dd_svc_session_t *e = dd_svc_table_find(t, sid);
    ck_assert_ptr_nonnull(e);
    ck_assert_str_eq(dd_svc_session_id(e), sid);
  }
  /* free every third one, the others stay findable */
  for (unsigned i = 0; i < DD_SVC_SESSIONS_DEFAULT; i += 3) {
    snprintf(sid, sizeof sid, "veh-%u", i);
    dd_svc_session_t *e = dd_svc_table_find(t, sid);
    dd_svc_table_remove(t, &e, DD_SVC_END_CLOSED);
  }
  for (unsigned i = 0; i < DD_SVC_SESSIONS_DEFAULT; i++) {
    snprintf(sid, sizeof sid, "veh-%u", i);
    ck_assert((dd_svc_table_find(t, sid) == NULL) == (i % 3 == 0));
  }
  ck_assert_uint_eq(dd_svc_table_stats(t).open,
                    DD_SVC_SESSIONS_DEFAULT - (DD_SVC_SESSIONS_DEFAULT + 2) / 3);
  dd_svc_table_destroy(&t);
}
END_TEST

/* Sessions without a hello or a record for idle_us are given back, the one idle longest first;
 * a record keeps a session alive; the counters of a freed session stay in the totals. */
START_TEST(test_table_idle) {
  dd_svc_table_t *t = s_table(8, 1000);
  dd_svc_session_t *a = s_open(t, "a", "fd-a", 0, false, 1);
  dd_svc_session_t *b = s_open(t, "b", "fd-b", 500, false, 1);
  ck_assert_uint_eq(dd_svc_table_deadline(t), 1000);
  ck_assert_int_eq(s_trec(t, "a", 1, 800, NULL), DD_DRECV_DELIVERABLE);
  ck_assert_int_eq(s_ttake(a, 1), 1);
  s_tack(a, 800, NULL);
  ck_assert_uint_eq(dd_svc_table_deadline(t), 1500); /* b is now the oldest */
  ck_assert_ptr_null(dd_svc_table_idle(t, 1499));
  dd_svc_session_t *s = dd_svc_table_idle(t, 1500);
  ck_assert_ptr_eq(s, b);
  dd_svc_table_remove(t, &s, DD_SVC_END_IDLE);
  ck_assert_ptr_null(dd_svc_table_idle(t, 1799));
  ck_assert_uint_eq(dd_svc_table_deadline(t), 1800);
  s = dd_svc_table_idle(t, 1800);
  ck_assert_ptr_eq(s, a);
  dd_svc_table_remove(t, &s, DD_SVC_END_IDLE);
  ck_assert_ptr_null(dd_svc_table_idle(t, 100000));
  ck_assert_uint_eq(dd_svc_table_deadline(t), UINT64_MAX);
  /* its records are refused now; a hello opens it afresh */
  dd_drecv_verdict_t v;
  ck_assert_int_eq(dd_svc_table_on_record(t, "a", 2, DD_SVC_PATH_DIRECT, (const uint8_t *)"a/2", 4,
                                          1900, &v, NULL),
                   DD_ENOENT);
  dd_svc_table_stats_t st = dd_svc_table_stats(t);
  ck_assert_uint_eq(st.idled, 2);
  ck_assert_uint_eq(st.open, 0);
  ck_assert_uint_eq(st.rec.received, 1);
  ck_assert_uint_eq(st.rec.direct, 0);
  ck_assert_uint_eq(st.rec.delivered, 1);
  ck_assert_uint_eq(st.rec.acks, 1);
  ck_assert_uint_eq(st.rec.refused, 1);
  s_open(t, "a", "fd-a", 2000, false, 1);
  dd_svc_table_destroy(&t);

  /* idle_us UINT64_MAX: never */
  t = s_table(1, UINT64_MAX);
  s_open(t, "a", "fd-a", 5, false, 1);
  ck_assert_ptr_null(dd_svc_table_idle(t, UINT64_MAX));
  ck_assert_uint_eq(dd_svc_table_deadline(t), UINT64_MAX);
  dd_svc_table_destroy(&t);
}
END_TEST

/* Acknowledgement work over many sessions: more due than one call returns, a held gap re-acked
 * every DD_SVC_ACK_PERIOD_US, quiet sessions cost nothing. */
START_TEST(test_table_due) {
  enum { N = 300 };
  dd_svc_table_t *t = s_table(N, UINT64_MAX);
  char sid[32];
  for (unsigned i = 0; i < N; i++) {
    snprintf(sid, sizeof sid, "s%u", i);
    ck_assert_int_eq(
        dd_svc_table_open(t, sid, (const uint8_t *)sid, strlen(sid), 0, NULL, NULL, NULL), 0);
    /* s0 gets record 2 only: a gap */
    ck_assert_int_eq(s_trec(t, sid, i == 0 ? 2 : 1, 1000, NULL),
                     i == 0 ? DD_DRECV_BUFFERED : DD_DRECV_DELIVERABLE);
  }
  dd_svc_session_t *due[64];
  size_t total = 0, n;
  int calls = 0;
  while ((n = dd_svc_table_due(t, 1000, due, 64)) > 0) {
    ck_assert_int_lt(++calls, 10);
    for (size_t i = 0; i < n; i++) {
      bool gap = !strcmp(dd_svc_session_id(due[i]), "s0");
      ck_assert_int_eq(s_ttake(due[i], 1),
                       gap ? 0 : 1); /* taken before the ack, as the front does */
      size_t nsacks;
      uint64_t cum = s_tack(due[i], 1000, &nsacks);
      ck_assert_uint_eq(cum, (gap ? 0 : 1));
      ck_assert_uint_eq(nsacks, (gap ? 1 : 0));
    }
    total += n;
  }
  ck_assert_uint_eq(total, N);
  /* only s0 (held gap) is left with work: re-acked after the period */
  ck_assert_uint_eq(dd_svc_table_deadline(t), 1000 + DD_SVC_ACK_PERIOD_US);
  ck_assert_uint_eq(dd_svc_table_due(t, 1000 + DD_SVC_ACK_PERIOD_US - 1, due, 64), 0);
  ck_assert_uint_eq(dd_svc_table_due(t, 1000 + DD_SVC_ACK_PERIOD_US, due, 64), 1);
  ck_assert_str_eq(dd_svc_session_id(due[0]), "s0");
  s_tack(due[0], 1000 + DD_SVC_ACK_PERIOD_US, NULL);
  ck_assert_int_eq(s_trec(t, "s0", 1, 30000, NULL), DD_DRECV_DELIVERABLE);
  ck_assert_uint_eq(dd_svc_table_due(t, 30000, due, 64), 1);
  ck_assert_int_eq(s_ttake(due[0], 1), 2);
  ck_assert_uint_eq(s_tack(due[0], 30000, NULL), 2);
  ck_assert_uint_eq(dd_svc_table_due(t, 30000, due, 64), 0);
  ck_assert_uint_eq(dd_svc_table_deadline(t), UINT64_MAX);
  dd_svc_table_destroy(&t);
}
END_TEST

/* Poll everything due at now; returns the number of chunks and checks their layout. */
static int s_poll(dd_svc_prog_t *p, uint64_t now, bool *offer, uint64_t *first_off) {
  dd_svc_prog_out_t o;
  int chunks = 0;
  *offer = false;
  while (dd_svc_prog_poll(p, now, &o)) {
    if (o.kind == DD_SVC_PROG_OFFER) {
      ck_assert_int_eq(chunks, 0); /* the offer comes before the chunks */
      *offer = true;
      continue;
    }
    ck_assert_int_eq(o.kind, DD_SVC_PROG_CHUNK);
    if (!chunks && first_off) *first_off = o.offset;
    ck_assert_uint_le(o.len, p->chunk);
    ck_assert(o.last == (o.offset + o.len == p->total));
    chunks++;
  }
  return chunks;
}

START_TEST(test_prog_pacing) {
  dd_svc_prog_t p;
  dd_svc_prog_init(&p, 0, 0, 0);
  ck_assert_uint_eq(p.chunk, 64 * 1024);
  ck_assert_uint_eq(p.window, 4);
  uint64_t total = 10 * 65536 + 100; /* 11 chunks, the last one short */
  dd_svc_prog_start(&p, total, 0);
  bool offer;
  uint64_t first = 99;
  ck_assert_int_eq(s_poll(&p, 0, &offer, &first), 4); /* at most 4 outstanding */
  ck_assert(offer);
  ck_assert_uint_eq(first, 0);
  ck_assert_int_eq(s_poll(&p, 10, &offer, NULL), 0);
  /* Ack of two chunks opens room for two more. */
  ck_assert_int_eq(dd_svc_prog_on_ack(&p, 2 * 65536, 100), 1);
  ck_assert_int_eq(s_poll(&p, 100, &offer, &first), 2);
  ck_assert(!offer);
  ck_assert_uint_eq(first, 4 * 65536);
  ck_assert_int_eq(dd_svc_prog_on_ack(&p, 2 * 65536, 110), 0); /* repeated */
  ck_assert_int_eq(dd_svc_prog_on_ack(&p, 65536, 120), 0);     /* stale */
  ck_assert_uint_eq(p.stale_acks, 1);
  ck_assert_int_eq(dd_svc_prog_on_ack(&p, total + 1, 120), DD_ERANGE);
  ck_assert_int_eq(dd_svc_prog_on_ack(&p, 10 * 65536, 200), 1);
  ck_assert_int_eq(s_poll(&p, 200, &offer, &first), 1); /* the short last chunk */
  ck_assert_uint_eq(first, 10 * 65536);
  ck_assert(!p.done);
  ck_assert_int_eq(dd_svc_prog_on_ack(&p, total, 300), 1);
  ck_assert(p.done);
  ck_assert_int_eq(s_poll(&p, 10000000, &offer, NULL), 0);
  ck_assert(!offer);
  ck_assert_uint_eq(dd_svc_prog_deadline(&p), UINT64_MAX);
}
END_TEST

START_TEST(test_prog_resume_after_stall) {
  dd_svc_prog_t p;
  dd_svc_prog_init(&p, 4096, 4, 500000);
  dd_svc_prog_start(&p, 32768, 0); /* 8 chunks */
  bool offer;
  uint64_t first;
  ck_assert_int_eq(s_poll(&p, 0, &offer, &first), 4);
  ck_assert_int_eq(dd_svc_prog_on_ack(&p, 8192, 1000), 1);
  ck_assert_int_eq(s_poll(&p, 1000, &offer, &first), 2);
  ck_assert_uint_eq(first, 16384);
  /* The first device stops acknowledging: nothing until the stall deadline. */
  ck_assert_uint_eq(dd_svc_prog_deadline(&p), 1000 + 500000);
  ck_assert_int_eq(s_poll(&p, 500999, &offer, &first), 0);
  /* Then the offer again and the chunks from the last acknowledged offset (8192). */
  ck_assert_int_eq(s_poll(&p, 501000, &offer, &first), 4);
  ck_assert(offer);
  ck_assert_uint_eq(first, 8192);
  ck_assert_uint_eq(p.resumes, 1);
  /* It answers the offer with what it has: more than acknowledged before. */
  ck_assert_int_eq(dd_svc_prog_on_ack(&p, 20480, 502000), 1);
  ck_assert_int_eq(s_poll(&p, 502000, &offer, &first), 2); /* up to the end of the package */
  ck_assert(!offer);
  ck_assert_uint_eq(first, 8192 + 4 * 4096);
  /* A reconnect (new ServiceHello) resumes at once. */
  dd_svc_prog_resume(&p, 503000);
  ck_assert_int_eq(s_poll(&p, 503000, &offer, &first), 3);
  ck_assert(offer);
  ck_assert_uint_eq(first, 20480);
  ck_assert_uint_eq(p.resumes, 2);
  ck_assert_int_eq(dd_svc_prog_on_ack(&p, 32768, 504000), 1);
  ck_assert(p.done);
  dd_svc_prog_resume(&p, 505000); /* finished: nothing to resume */
  ck_assert_int_eq(s_poll(&p, 505000, &offer, NULL), 0);
  ck_assert(!offer);
}
END_TEST

/* The second device's tracker and diagnosis (sans-I/O, dd_second_diag). */
START_TEST(test_second_track_and_diag) {
  dd_second_track_t t;
  dd_second_track_init(&t);
  ck_assert_int_eq(dd_second_track_on(&t, 1), DD_SECOND_SEQ_IN_ORDER);
  ck_assert_int_eq(dd_second_track_on(&t, 3), DD_SECOND_SEQ_GAP);
  ck_assert_uint_eq(dd_second_track_lost(&t), 1);
  ck_assert_int_eq(dd_second_track_on(&t, 2), DD_SECOND_SEQ_OUT_OF_ORDER);
  ck_assert_int_eq(dd_second_track_on(&t, 2), DD_SECOND_SEQ_DUPLICATE);
  ck_assert_int_eq(dd_second_track_on(&t, 0), DD_SECOND_SEQ_INVALID);
  ck_assert_int_eq(dd_second_track_on(&t, 1000), DD_SECOND_SEQ_GAP);
  ck_assert_uint_eq(t.records, 4);
  ck_assert_uint_eq(dd_second_track_lost(&t), 996);
  ck_assert_uint_eq(t.duplicated, 1);
  ck_assert_uint_eq(t.out_of_order, 1);
  dd_second_track_free(&t);

  dd_second_diag_t d;
  dd_second_diag_init(&d);
  /* SAE J1979 service $03 response: two DTCs P0301 (03 01) and P0171 (01 71). */
  static const uint8_t dtcs[] = {0x43, 0x02, 0x03, 0x01, 0x01, 0x71};
  dd_second_diag_add_payload(&d, dtcs, sizeof dtcs);
  /* Service $01 PID 06/07: STFT (A-128)*100/128: 0x8A -> +7.8 %, LTFT 0x90 -> +12.5 %. */
  static const uint8_t trims[] = {0x41, 0x06, 0x8A, 0x07, 0x90};
  dd_second_diag_add_payload(&d, trims, sizeof trims);
  char codes[128], findings[1024];
  size_t n = dd_second_diag_report(&d, codes, sizeof codes, findings, sizeof findings);
  ck_assert_str_eq(codes, "P0301,P0171");
  ck_assert_uint_eq(n, 3);
  ck_assert_ptr_nonnull(strstr(findings, "check ignition coil and spark plug of cylinder 1"));
  ck_assert_ptr_nonnull(strstr(findings, "P0171: system too lean: check for vacuum leak"));
  ck_assert_ptr_nonnull(strstr(findings, "lean fuel trims (+20.3 %): check for vacuum leak"));
  /* Values by name: a UDS-style DTC name and a low voltage. */
  dd_second_diag_add_value(&d, "P0420-00", 1);
  dd_second_diag_add_value(&d, "control_module_voltage", 11.2);
  n = dd_second_diag_report(&d, codes, sizeof codes, findings, sizeof findings);
  ck_assert_str_eq(codes, "P0301,P0171,P0420");
  ck_assert_uint_eq(n, 5);
  ck_assert_ptr_nonnull(strstr(findings, "module voltage 11.2 V"));
}
END_TEST

int main(void) {
  Suite *s = suite_create("service_core");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, test_intake_reorder_and_duplicates);
  tcase_add_test(tc, test_intake_sessions);
  tcase_add_test(tc, test_table_sessions_apart);
  tcase_add_test(tc, test_table_resume);
  tcase_add_test(tc, test_table_full);
  tcase_add_test(tc, test_table_idle);
  tcase_add_test(tc, test_table_due);
  tcase_add_test(tc, test_prog_pacing);
  tcase_add_test(tc, test_prog_resume_after_stall);
  tcase_add_test(tc, test_second_track_and_diag);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
