/* check_delivery: exactly-once in-order delivery through lossy, duplicating, reordering paths
 * with path switches, driven by an injected clock and a seeded random source; SACK ranges;
 * window limits; and the planted no-resend-on-switch defect made visible. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "dd_delivery.h"
#include "dd_err.h"
#include "dd_rng.h"

typedef struct {
  uint64_t at;   /* arrival time at the receiver */
  uint64_t seq;  /* record */
  uint8_t body[8]; /* payload: the seq, little-endian */
} s_pkt_t;

typedef struct {
  s_pkt_t q[20000]; /* in flight */
  int n;            /* count */
} s_net_t;

static void s_put(s_net_t *net, uint64_t at, const dd_dsend_out_t *o) {
  ck_assert_int_lt(net->n, 20000);
  s_pkt_t *p = &net->q[net->n++];
  p->at = at;
  p->seq = o->seq;
  memcpy(p->body, o->data, o->len < 8 ? o->len : 8);
}

static void s_body(uint64_t seq, uint8_t out[8]) {
  for (int i = 0; i < 8; i++) out[i] = (uint8_t)(seq >> (8 * i));
}

/* Runs N records through a path that loses loss_pct, duplicates dup_pct, delays 10..60 ms
 * (so it reorders), and switches paths every switch_ms, dropping what was in flight on the
 * old path. Returns the worst delivery delay in microseconds. */
static uint64_t s_run(uint64_t n_records, int loss_pct, int dup_pct, uint64_t switch_ms,
                      bool defect, uint64_t rto_us) {
  dd_rng_t rng;
  dd_rng_seed(&rng, 7);
  dd_dsend_t *tx = NULL;
  dd_drecv_t *rx = NULL;
  dd_dsend_cfg_t cfg = {.rto_us = rto_us, .no_resend_on_switch = defect};
  ck_assert_int_eq(dd_dsend_new(&cfg, &tx), 0);
  ck_assert_int_eq(dd_drecv_new(&rx), 0);
  static s_net_t net;
  net.n = 0;
  uint64_t pushed = 0, delivered = 0, worst = 0;
  static uint64_t push_time[100001];
  for (uint64_t t = 0; delivered < n_records && t < 600000000ull; t += 1000) {
    /* 1 record per ms at the source. */
    if (pushed < n_records) {
      uint8_t b[8];
      s_body(pushed + 1, b);
      uint64_t seq;
      ck_assert_int_eq(dd_dsend_push(tx, b, 8, t, &seq), 0);
      push_time[seq] = t;
      pushed++;
    }
    if (switch_ms && t % (switch_ms * 1000) == 0 && t) {
      net.n = 0; /* the old path's packets are gone */
      dd_dsend_on_path_change(tx, t);
    }
    dd_dsend_out_t o;
    while (dd_dsend_poll(tx, t, &o)) {
      if ((int)dd_rng_below(&rng, 100) < loss_pct) continue;
      s_put(&net, t + 10000 + dd_rng_below(&rng, 50000), &o);
      if ((int)dd_rng_below(&rng, 100) < dup_pct) s_put(&net, t + 10000 + dd_rng_below(&rng, 50000), &o);
    }
    bool got = false;
    for (int i = 0; i < net.n;) {
      if (net.q[i].at > t) {
        i++;
        continue;
      }
      dd_drecv_on_record(rx, net.q[i].seq, net.q[i].body, 8);
      net.q[i] = net.q[--net.n];
      got = true;
    }
    uint64_t seq;
    uint8_t *data;
    size_t len;
    while (dd_drecv_take(rx, &seq, &data, &len)) {
      ck_assert_uint_eq(seq, delivered + 1); /* in order, exactly once */
      uint8_t b[8];
      s_body(seq, b);
      ck_assert_int_eq(len, 8);
      ck_assert_mem_eq(data, b, 8);
      delivered++;
      if (t - push_time[seq] > worst) worst = t - push_time[seq];
    }
    if (got && dd_rng_below(&rng, 100) >= (unsigned)loss_pct) { /* acks get lost too */
      uint64_t cum;
      dd_seq_range_t sacks[DD_DELIVERY_MAX_SACKS];
      size_t ns = dd_drecv_ack(rx, &cum, sacks, DD_DELIVERY_MAX_SACKS);
      dd_dsend_on_ack(tx, cum, sacks, ns);
    }
  }
  ck_assert_uint_eq(delivered, n_records);
  dd_drecv_stats_t rs = dd_drecv_stats(rx);
  ck_assert_uint_eq(rs.delivered, n_records);
  if (dup_pct || loss_pct) ck_assert_uint_gt(rs.duplicates, 0);
  dd_dsend_destroy(&tx);
  dd_drecv_destroy(&rx);
  return worst;
}

START_TEST(test_clean_path) {
  uint64_t worst = s_run(2000, 0, 0, 0, false, 200000);
  ck_assert_uint_le(worst, 61000);
}
END_TEST

START_TEST(test_loss_duplication_reordering) {
  s_run(20000, 10, 10, 0, false, 200000);
}
END_TEST

START_TEST(test_path_switches_lose_nothing) {
  /* A switch every 700 ms throws away everything in flight; a 10 s RTO would take long to
   * notice, but resending on the switch keeps every record's delay well under a second. */
  uint64_t worst = s_run(10000, 0, 2, 700, false, 10000000);
  ck_assert_uint_lt(worst, 1000000);
}
END_TEST

START_TEST(test_defect_no_resend_on_switch_is_visible) {
  uint64_t worst = s_run(3000, 0, 0, 700, true, 10000000);
  ck_assert_uint_ge(worst, 9000000); /* records stranded until the RTO */
}
END_TEST

START_TEST(test_sack_and_window) {
  dd_drecv_t *rx = NULL;
  ck_assert_int_eq(dd_drecv_new(&rx), 0);
  uint8_t b = 0;
  ck_assert_int_eq(dd_drecv_on_record(rx, 1, &b, 1), DD_DRECV_DELIVERABLE);
  ck_assert_int_eq(dd_drecv_on_record(rx, 3, &b, 1), DD_DRECV_BUFFERED);
  ck_assert_int_eq(dd_drecv_on_record(rx, 4, &b, 1), DD_DRECV_BUFFERED);
  ck_assert_int_eq(dd_drecv_on_record(rx, 7, &b, 1), DD_DRECV_BUFFERED);
  ck_assert_int_eq(dd_drecv_on_record(rx, 3, &b, 1), DD_DRECV_DUPLICATE);
  ck_assert_int_eq(dd_drecv_on_record(rx, 0, &b, 1), DD_DRECV_REFUSED);
  ck_assert_int_eq(dd_drecv_on_record(rx, 1 + DD_DELIVERY_WINDOW + 5, &b, 1), DD_DRECV_REFUSED);
  uint64_t seq, cum;
  uint8_t *d;
  size_t len;
  ck_assert(dd_drecv_take(rx, &seq, &d, &len));
  ck_assert(!dd_drecv_take(rx, &seq, &d, &len)); /* 2 is missing */
  ck_assert_int_eq(dd_drecv_on_record(rx, 1, &b, 1), DD_DRECV_DUPLICATE);
  dd_seq_range_t s[4];
  size_t n = dd_drecv_ack(rx, &cum, s, 4);
  ck_assert_uint_eq(cum, 1);
  ck_assert_uint_eq(n, 2);
  ck_assert_uint_eq(s[0].first, 3);
  ck_assert_uint_eq(s[0].last, 4);
  ck_assert_uint_eq(s[1].first, 7);
  ck_assert_uint_eq(s[1].last, 7);

  /* The sender treats SACKed records as delivered and resends only the hole. */
  dd_dsend_t *tx = NULL;
  dd_dsend_cfg_t cfg = {.rto_us = 1000};
  ck_assert_int_eq(dd_dsend_new(&cfg, &tx), 0);
  for (int i = 0; i < 7; i++) ck_assert_int_eq(dd_dsend_push(tx, &b, 1, 0, &seq), 0);
  dd_dsend_out_t o;
  for (int i = 0; i < 7; i++) ck_assert(dd_dsend_poll(tx, 0, &o));
  ck_assert(!dd_dsend_poll(tx, 0, &o));
  ck_assert_uint_eq(dd_dsend_on_ack(tx, cum, s, n), 4);
  ck_assert_uint_eq(dd_dsend_unacked(tx), 3); /* 2, 5, 6 */
  ck_assert_uint_eq(dd_dsend_next_deadline(tx), 1000);
  ck_assert(dd_dsend_poll(tx, 1000, &o));
  ck_assert_uint_eq(o.seq, 2);
  ck_assert(o.resend);
  ck_assert(dd_dsend_poll(tx, 1000, &o));
  ck_assert_uint_eq(o.seq, 5);
  ck_assert(dd_dsend_poll(tx, 1000, &o));
  ck_assert_uint_eq(o.seq, 6);
  ck_assert(!dd_dsend_poll(tx, 1000, &o));
  /* A cumulative ack beyond what was sent is clamped. */
  dd_dsend_on_ack(tx, 1000, NULL, 0);
  ck_assert_uint_eq(dd_dsend_unacked(tx), 0);
  /* The window is bounded. */
  for (int i = 0; i < DD_DELIVERY_WINDOW; i++) ck_assert_int_eq(dd_dsend_push(tx, &b, 1, 0, &seq), 0);
  ck_assert_int_eq(dd_dsend_push(tx, &b, 1, 0, &seq), DD_ENOSPC);
  dd_dsend_destroy(&tx);
  dd_drecv_destroy(&rx);
}
END_TEST

int main(void) {
  Suite *s = suite_create("delivery");
  TCase *tc = tcase_create("window");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_clean_path);
  tcase_add_test(tc, test_loss_duplication_reordering);
  tcase_add_test(tc, test_path_switches_lose_nothing);
  tcase_add_test(tc, test_defect_no_resend_on_switch_is_visible);
  tcase_add_test(tc, test_sack_and_window);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
