/* check_service_core: the service device's sans-I/O parts (dd_service_core): record intake with
 * duplicates and reordering across the UDP and relay paths, the acknowledgements it produces
 * (cumulative + SACK ranges as in RFC 2018), session resume, and the pacing of a package to the
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
