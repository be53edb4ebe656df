/* check_session: S11-S17 and S2 on the first device's side: the happy path with every message
 * it must send, the terminal choice policy and the owner's own choice, each refusal (no terminal,
 * rejected, fee too high, other currency, owner declines, payment refused), timeouts at each wait
 * with their details, payment retried with the same idempotency key at its own interval, closing
 * the window, and answers that do not belong to the session. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "dd_err.h"
#include "dd_session.h"

static dd_terminal_t s_term(const char *id, const char *make, int64_t fee, unsigned rating,
                            bool online) {
  dd_terminal_t t = {.fee_minor = fee, .rating_x10 = rating, .online = online, .n_makes = 1};
  strcpy(t.id, id);
  strcpy(t.name, id);
  strcpy(t.makes[0], make);
  strcpy(t.currency, "EUR");
  return t;
}

static dd_session_cfg_t s_cfg(void) {
  dd_session_cfg_t c = {.fee_limit_minor = 3000, .step_timeout_us = 5000000, .payment_retries = 2};
  strcpy(c.make, "Volkswagen");
  strcpy(c.currency, "EUR");
  return c;
}

static dd_session_t *s_new(void) {
  dd_session_cfg_t c = s_cfg();
  dd_session_t *s = NULL;
  ck_assert_int_eq(dd_session_new(&c, "vci1", &s), 0);
  return s;
}

static void s_expect(dd_session_t *s, dd_session_action_kind_t kind, dd_session_action_t *a) {
  ck_assert(dd_session_take_action(s, a));
  ck_assert_int_eq(a->kind, kind);
}

/* Drives the session up to the order; returns the session id. */
static void s_to_order(dd_session_t *s, dd_session_action_t *a) {
  dd_terminal_t t[3] = {s_term("shop-a", "Volkswagen", 2500, 42, true),
                        s_term("shop-b", "Toyota", 1000, 49, true),
                        s_term("shop-c", "Volkswagen", 2000, 45, false)};
  dd_session_start(s, 0);
  s_expect(s, DD_SA_LIST_REQUEST, a);
  ck_assert_int_eq(dd_session_on_list(s, t, 3, 100), 0);
  s_expect(s, DD_SA_OPEN_AND_IM, a);
  ck_assert_str_eq(a->terminal_id, "shop-a"); /* b: wrong make, c: offline */
  ck_assert_str_eq(a->session_id, dd_session_id(s));
  ck_assert_int_eq(dd_session_on_im_answer(s, dd_session_id(s), true, "", 200), 0);
  ck_assert_int_eq(dd_session_state(s), DD_SS_AWAIT_ORDER);
}

START_TEST(test_happy_path) {
  dd_session_t *s = s_new();
  dd_session_action_t a;
  s_to_order(s, &a);
  ck_assert_int_eq(dd_session_on_order(s, dd_session_id(s), "ord-1", 2500, "EUR", 300), 0);
  s_expect(s, DD_SA_DECISION, &a);
  ck_assert(a.accept);
  ck_assert_str_eq(a.order_id, "ord-1");
  s_expect(s, DD_SA_PAYMENT, &a);
  ck_assert_int_eq(a.amount_minor, 2500);
  ck_assert_str_eq(a.currency, "EUR");
  char pay[64];
  strcpy(pay, a.payment_id);
  ck_assert(!dd_session_paid(s));
  ck_assert_int_eq(dd_session_on_payment(s, pay, true, false, "", 400), 0);
  ck_assert_int_eq(dd_session_on_signal(s, dd_session_id(s), "ord-1", 500), 0);
  ck_assert(dd_session_paid(s));
  ck_assert_int_eq(dd_session_on_address(s, dd_session_id(s), "tcp://svc:1", "127.0.0.1:9",
                                         "tcp://relay:2", "tok", 600), 0);
  ck_assert_int_eq(dd_session_state(s), DD_SS_ESTABLISHED);
  ck_assert_str_eq(dd_session_service_ep(s), "tcp://svc:1");
  ck_assert_uint_eq(dd_session_next_deadline(s), UINT64_MAX);
  /* Every state change was reported, in order. */
  dd_session_state_t from, to, expect[] = {DD_SS_LISTING, DD_SS_IM_REQUESTED, DD_SS_AWAIT_ORDER,
                                           DD_SS_PAYING, DD_SS_AWAIT_SIGNAL, DD_SS_AWAIT_ADDRESS,
                                           DD_SS_ESTABLISHED};
  for (size_t i = 0; i < sizeof expect / sizeof *expect; i++) {
    ck_assert(dd_session_take_transition(s, &from, &to));
    ck_assert_int_eq(to, expect[i]);
  }
  ck_assert(!dd_session_take_transition(s, &from, &to));
  dd_session_destroy(&s);
}
END_TEST

START_TEST(test_pick_policy) {
  dd_session_cfg_t c = s_cfg();
  dd_terminal_t t[4] = {s_term("z", "Volkswagen", 2000, 45, true),
                        s_term("y", "Volkswagen", 1500, 45, true),
                        s_term("x", "Volkswagen", 1500, 45, true),
                        s_term("w", "Volkswagen", 3500, 50, true)};
  ck_assert_int_eq(dd_session_pick(&c, t, 4), 2); /* best rating within fee, then fee, id */
  c.min_rating_x10 = 46;
  ck_assert_int_eq(dd_session_pick(&c, t, 4), -1); /* w is better rated but too expensive */
  c.fee_limit_minor = 4000;
  ck_assert_int_eq(dd_session_pick(&c, t, 4), 3);
}
END_TEST

START_TEST(test_refusals) {
  dd_session_action_t a;
  /* No terminal fits. */
  dd_session_t *s = s_new();
  dd_terminal_t t = s_term("shop", "Toyota", 100, 50, true);
  dd_session_start(s, 0);
  ck_assert_int_eq(dd_session_on_list(s, &t, 1, 10), 0);
  ck_assert_int_eq(dd_session_outcome(s), DD_SO_NO_TERMINAL);
  dd_session_destroy(&s);
  /* Terminal rejects. */
  s = s_new();
  dd_session_start(s, 0);
  dd_terminal_t ok = s_term("shop", "volkswagen", 100, 50, true); /* make matched case-blind */
  ck_assert_int_eq(dd_session_on_list(s, &ok, 1, 10), 0);
  ck_assert_int_eq(dd_session_on_im_answer(s, dd_session_id(s), false, "busy", 20), 0);
  ck_assert_int_eq(dd_session_outcome(s), DD_SO_REJECTED);
  ck_assert_ptr_nonnull(strstr(dd_session_detail(s), "busy"));
  dd_session_destroy(&s);
  /* Fee too high: declined with the reason, nothing paid. */
  s = s_new();
  s_to_order(s, &a);
  while (dd_session_take_action(s, &a)) {
  }
  ck_assert_int_eq(dd_session_on_order(s, dd_session_id(s), "o", 4550, "EUR", 300), 0);
  s_expect(s, DD_SA_DECISION, &a);
  ck_assert(!a.accept);
  ck_assert_str_eq(a.reason, "fee 45.50 EUR above the limit 30.00 EUR");
  ck_assert(!dd_session_take_action(s, &a)); /* no payment */
  ck_assert_int_eq(dd_session_outcome(s), DD_SO_FEE_TOO_HIGH);
  dd_session_destroy(&s);
  /* Payment refused. */
  s = s_new();
  s_to_order(s, &a);
  ck_assert_int_eq(dd_session_on_order(s, dd_session_id(s), "o", 100, "EUR", 300), 0);
  while (dd_session_take_action(s, &a)) {
  }
  ck_assert_int_eq(dd_session_on_payment(s, a.payment_id, false, false, "card declined", 400), 0);
  ck_assert_int_eq(dd_session_outcome(s), DD_SO_PAYMENT_FAILED);
  ck_assert(!dd_session_paid(s));
  dd_session_destroy(&s);
}
END_TEST

START_TEST(test_timeouts_and_payment_retry) {
  dd_session_action_t a;
  dd_session_t *s = s_new();
  dd_session_start(s, 1000);
  ck_assert_uint_eq(dd_session_next_deadline(s), 1000 + 5000000);
  dd_session_tick(s, 1000 + 4999999);
  ck_assert_int_eq(dd_session_state(s), DD_SS_LISTING);
  dd_session_tick(s, 1000 + 5000000);
  ck_assert_int_eq(dd_session_outcome(s), DD_SO_TIMEOUT);
  ck_assert_str_eq(dd_session_detail(s), "no terminal list from the cloud within 5.0 s");
  dd_session_destroy(&s);

  /* The terminal never answers the IM request: the detail names the terminal and the wait. */
  s = s_new();
  dd_terminal_t t = s_term("shop-a", "Volkswagen", 2500, 42, true);
  dd_session_start(s, 0);
  ck_assert_int_eq(dd_session_on_list(s, &t, 1, 100), 0);
  dd_session_tick(s, 100 + 5000000);
  ck_assert_int_eq(dd_session_outcome(s), DD_SO_TIMEOUT);
  ck_assert_str_eq(dd_session_detail(s),
                   "terminal shop-a did not answer the IM request within 5.0 s");
  dd_session_destroy(&s);

  /* Accepted, but the order never comes. */
  s = s_new();
  s_to_order(s, &a);
  dd_session_tick(s, 200 + 4999999);
  ck_assert_int_eq(dd_session_state(s), DD_SS_AWAIT_ORDER);
  dd_session_tick(s, 200 + 5000000);
  ck_assert_int_eq(dd_session_outcome(s), DD_SO_TIMEOUT);
  ck_assert_str_eq(dd_session_detail(s),
                   "no order from terminal shop-a within 5.0 s of its acceptance");
  while (dd_session_take_action(s, &a)) ck_assert_int_ne(a.kind, DD_SA_PAYMENT);
  dd_session_destroy(&s);

  s = s_new();
  s_to_order(s, &a);
  ck_assert_int_eq(dd_session_on_order(s, dd_session_id(s), "o", 100, "EUR", 0), 0);
  s_expect(s, DD_SA_DECISION, &a);
  s_expect(s, DD_SA_PAYMENT, &a);
  char pay[64];
  strcpy(pay, a.payment_id);
  dd_session_tick(s, 5000000); /* no confirmation: retry 1 with the same id */
  s_expect(s, DD_SA_PAYMENT, &a);
  ck_assert_str_eq(a.payment_id, pay);
  dd_session_tick(s, 10000000); /* retry 2 */
  s_expect(s, DD_SA_PAYMENT, &a);
  ck_assert_str_eq(a.payment_id, pay);
  /* The ledger saw it before: duplicate, but ok. */
  ck_assert_int_eq(dd_session_on_payment(s, pay, true, true, "", 11000000), 0);
  ck_assert_int_eq(dd_session_state(s), DD_SS_AWAIT_SIGNAL);
  dd_session_tick(s, 11000000 + 5000000);
  ck_assert_int_eq(dd_session_outcome(s), DD_SO_TIMEOUT);
  ck_assert(!dd_session_paid(s));
  dd_session_destroy(&s);
}
END_TEST

/* S12: the owner's chosen terminal is asked even when another would rank higher or its listed
 * fee is above the limit (S15 judges the order); an offline choice ends the session. */
START_TEST(test_chosen_terminal) {
  dd_session_cfg_t c = s_cfg();
  dd_terminal_t t[3] = {s_term("a", "Volkswagen", 1000, 50, true),
                        s_term("b", "Volkswagen", 5500, 10, true),
                        s_term("c", "Volkswagen", 1000, 50, false)};
  ck_assert_int_eq(dd_session_pick(&c, t, 3), 0);
  strcpy(c.terminal, "b");
  ck_assert_int_eq(dd_session_pick(&c, t, 3), 1);
  strcpy(c.terminal, "c");
  ck_assert_int_eq(dd_session_pick(&c, t, 3), -1); /* offline */
  dd_session_t *s = NULL;
  ck_assert_int_eq(dd_session_new(&c, "vci1", &s), 0);
  dd_session_start(s, 0);
  ck_assert_int_eq(dd_session_on_list(s, t, 3, 10), 0);
  ck_assert_int_eq(dd_session_outcome(s), DD_SO_NO_TERMINAL);
  ck_assert_str_eq(dd_session_detail(s), "terminal c is not among the 3 online terminal(s)");
  dd_session_destroy(&s);
  strcpy(c.terminal, "b");
  ck_assert_int_eq(dd_session_new(&c, "vci1", &s), 0);
  dd_session_action_t a;
  dd_session_start(s, 0);
  ck_assert_int_eq(dd_session_on_list(s, t, 3, 10), 0);
  s_expect(s, DD_SA_LIST_REQUEST, &a);
  s_expect(s, DD_SA_OPEN_AND_IM, &a);
  ck_assert_str_eq(a.terminal_id, "b");
  ck_assert_str_eq(dd_session_terminal(s), "b");
  dd_session_destroy(&s);
}
END_TEST

/* S15: the owner may decline an order within the limit; the currency must be the owner's. */
START_TEST(test_owner_declines) {
  dd_session_action_t a;
  dd_session_cfg_t c = s_cfg();
  c.decline = true;
  dd_session_t *s = NULL;
  ck_assert_int_eq(dd_session_new(&c, "vci1", &s), 0);
  s_to_order(s, &a);
  while (dd_session_take_action(s, &a)) {
  }
  ck_assert_int_eq(dd_session_on_order(s, dd_session_id(s), "o", 1000, "EUR", 300), 0);
  s_expect(s, DD_SA_DECISION, &a);
  ck_assert(!a.accept);
  ck_assert_str_eq(a.reason, "the owner declined the order (fee 10.00 EUR)");
  ck_assert(!dd_session_take_action(s, &a));
  ck_assert_int_eq(dd_session_outcome(s), DD_SO_DECLINED);
  ck_assert_str_eq(dd_session_outcome_name(DD_SO_DECLINED), "declined");
  dd_session_destroy(&s);

  s = s_new();
  s_to_order(s, &a);
  while (dd_session_take_action(s, &a)) {
  }
  ck_assert_int_eq(dd_session_on_order(s, dd_session_id(s), "o", 1000, "USD", 300), 0);
  s_expect(s, DD_SA_DECISION, &a);
  ck_assert(!a.accept);
  ck_assert_str_eq(a.reason, "fee 10.00 USD is not in the owner's currency EUR");
  ck_assert(!dd_session_take_action(s, &a));
  dd_session_destroy(&s);
}
END_TEST

/* S16: an unconfirmed payment goes again, same id and amount, every retry interval; the last
 * copy gets a whole step to be confirmed. The owner may pay another amount than the fee. */
START_TEST(test_payment_retry_interval_and_amount) {
  dd_session_action_t a;
  dd_session_cfg_t c = s_cfg();
  c.payment_retries = 3;
  c.payment_retry_us = 2000000;
  c.amount_minor = 2400;
  dd_session_t *s = NULL;
  ck_assert_int_eq(dd_session_new(&c, "vci1", &s), 0);
  s_to_order(s, &a);
  while (dd_session_take_action(s, &a)) {
  }
  ck_assert_int_eq(dd_session_on_order(s, dd_session_id(s), "o", 2500, "EUR", 0), 0);
  s_expect(s, DD_SA_DECISION, &a);
  s_expect(s, DD_SA_PAYMENT, &a);
  ck_assert_int_eq(a.amount_minor, 2400);
  char pay[64];
  strcpy(pay, a.payment_id);
  ck_assert_uint_eq(dd_session_next_deadline(s), 2000000);
  for (unsigned i = 1; i <= 3; i++) {
    dd_session_tick(s, i * 2000000 - 1);
    ck_assert(!dd_session_take_action(s, &a));
    dd_session_tick(s, i * 2000000);
    s_expect(s, DD_SA_PAYMENT, &a);
    ck_assert_str_eq(a.payment_id, pay);
    ck_assert_int_eq(a.amount_minor, 2400);
  }
  ck_assert_uint_eq(dd_session_next_deadline(s), 6000000 + 5000000);
  dd_session_tick(s, 6000000 + 4999999);
  ck_assert_int_eq(dd_session_state(s), DD_SS_PAYING);
  dd_session_tick(s, 6000000 + 5000000);
  ck_assert_int_eq(dd_session_outcome(s), DD_SO_TIMEOUT);
  ck_assert_str_eq(dd_session_detail(s), "payment vci1-p2 not confirmed (4 attempt(s), same id)");
  ck_assert(!dd_session_take_action(s, &a));
  dd_session_destroy(&s);
}
END_TEST

/* A closed window ends the session whatever its state; only this session's close counts. */
START_TEST(test_close) {
  dd_session_action_t a;
  dd_session_t *s = s_new();
  ck_assert_int_eq(dd_session_on_close(s, "x", "bye", 0), DD_EPROTO); /* nothing open */
  s_to_order(s, &a);
  ck_assert(dd_session_window_open(s));
  ck_assert(!dd_session_payment_confirmed(s));
  ck_assert_int_eq(dd_session_on_close(s, "other", "bye", 10), DD_EPROTO);
  ck_assert_int_eq(dd_session_on_close(s, dd_session_id(s), "busy now", 10), 0);
  ck_assert_int_eq(dd_session_outcome(s), DD_SO_CLOSED);
  ck_assert_str_eq(dd_session_detail(s), "closed while await_order: busy now");
  ck_assert(!dd_session_window_open(s));
  dd_session_destroy(&s);

  s = s_new();
  s_to_order(s, &a);
  ck_assert_int_eq(dd_session_on_order(s, dd_session_id(s), "o", 100, "EUR", 0), 0);
  while (dd_session_take_action(s, &a)) {
  }
  ck_assert_int_eq(dd_session_on_payment(s, a.payment_id, true, false, "", 0), 0);
  ck_assert(dd_session_payment_confirmed(s));
  ck_assert(!dd_session_paid(s)); /* paid, but S17 not yet there */
  ck_assert_int_eq(dd_session_on_signal(s, dd_session_id(s), "o", 0), 0);
  ck_assert_int_eq(dd_session_on_address(s, dd_session_id(s), "tcp://s:1", "", "", "", 0), 0);
  ck_assert(dd_session_paid(s));
  ck_assert_int_eq(dd_session_on_close(s, dd_session_id(s), "repaired", 20), 0);
  ck_assert(!dd_session_paid(s));
  ck_assert(!dd_session_payment_confirmed(s));
  ck_assert_uint_eq(dd_session_next_deadline(s), UINT64_MAX);
  dd_session_destroy(&s);
}
END_TEST

START_TEST(test_foreign_answers_ignored) {
  dd_session_action_t a;
  dd_session_t *s = s_new();
  ck_assert_int_eq(dd_session_on_im_answer(s, "x", true, "", 0), DD_EPROTO); /* not started */
  s_to_order(s, &a);
  ck_assert_int_eq(dd_session_on_order(s, "other-session", "o", 100, "EUR", 0), DD_EPROTO);
  ck_assert_int_eq(dd_session_on_order(s, dd_session_id(s), "o", 100, "EUR", 0), 0);
  ck_assert_int_eq(dd_session_on_payment(s, "not-ours", true, false, "", 0), DD_EPROTO);
  while (dd_session_take_action(s, &a)) {
  }
  ck_assert_int_eq(dd_session_on_payment(s, a.payment_id, true, false, "", 0), 0);
  ck_assert_int_eq(dd_session_on_signal(s, dd_session_id(s), "other-order", 0), DD_EPROTO);
  ck_assert_int_eq(dd_session_on_signal(s, dd_session_id(s), "o", 0), 0);
  ck_assert_int_eq(dd_session_on_address(s, dd_session_id(s), "", "", "", "", 0), DD_EPROTO);
  dd_session_destroy(&s);
}
END_TEST

int main(void) {
  Suite *s = suite_create("session");
  TCase *tc = tcase_create("setup");
  tcase_add_test(tc, test_happy_path);
  tcase_add_test(tc, test_pick_policy);
  tcase_add_test(tc, test_refusals);
  tcase_add_test(tc, test_timeouts_and_payment_retry);
  tcase_add_test(tc, test_foreign_answers_ignored);
  tcase_add_test(tc, test_chosen_terminal);
  tcase_add_test(tc, test_owner_declines);
  tcase_add_test(tc, test_payment_retry_interval_and_amount);
  tcase_add_test(tc, test_close);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
