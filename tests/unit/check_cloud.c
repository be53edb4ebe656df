/* check_cloud: the cloud server's core (dd_cloud) with an injected "now": the vehicle registry
 * over the project's vehicle files (hit, miss, duplicates), presence with heartbeats and
 * timeouts, the terminal list and its make filter, the terminals file and its error messages,
 * and the payment ledger: charging, idempotent retries (a lost confirmation included), conflicts,
 * amount and currency checks, orders paid once, payments that come before their order, and
 * scripted failures. The rules checked are those written in dd_cloud.h; the registry's expected
 * values come from ecu_models/vehicles/corvan_meridian_2019.yaml, read back through dd_vehicle. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_cloud.h"
#include "dd_err.h"

#define MS 1000ull
#define S_VEHICLES DD_SOURCE_DIR "/ecu_models/vehicles"
#define S_CORVAN S_VEHICLES "/corvan_meridian_2019.yaml"

static char s_err[4096];

static dd_cloud_t *s_new(void) {
  dd_cloud_cfg_t cfg = {.presence_timeout_us = 3000 * MS, .order_wait_us = 2000 * MS};
  dd_cloud_t *c = NULL;
  ck_assert_int_eq(dd_cloud_new(&cfg, &c), 0);
  return c;
}

static void s_terminals(dd_cloud_t *c, const char *yaml) {
  int rc = dd_cloud_load_terminals_string(c, yaml, strlen(yaml), "t.yaml", s_err, sizeof s_err);
  ck_assert_msg(rc == 0, "terminals: %s", s_err);
}

/* A shop serving Corvan, 30.00 EUR, whose terminal process is "term1". */
static dd_cloud_t *s_shop(void) {
  dd_cloud_t *c = s_new();
  s_terminals(c, "terminals:\n"
                 "  - {id: shop-1, name: Shop One, makes: [Corvan], fee_minor: 3000,\n"
                 "     currency: EUR, rating: 4.5}\n");
  ck_assert_int_eq(dd_cloud_presence(c, "term1", "shop-1", true, 0), 0);
  dd_cloud_order_in_t o = {.order_id = "o1",
                           .session_id = "s1",
                           .merchant_id = "m1",
                           .merchant_name = "Shop One Ltd",
                           .fee_minor = 3000,
                           .currency = "EUR"};
  ck_assert_int_eq(dd_cloud_order(c, "term1", &o, 1, NULL), 0);
  return c;
}

static void s_pay(dd_cloud_t *c, const char *party, const char *pid, const char *order,
                  int64_t amount, const char *cur, const char *payer, uint64_t now) {
  dd_cloud_payment_in_t p = {.payment_id = pid,
                             .order_id = order,
                             .amount_minor = amount,
                             .currency = cur,
                             .payer_id = payer};
  ck_assert_int_eq(dd_cloud_pay(c, party, &p, now, NULL), 0);
}

static dd_cloud_out_t s_take(dd_cloud_t *c, dd_cloud_out_kind_t kind) {
  dd_cloud_out_t o;
  ck_assert_msg(dd_cloud_take_out(c, &o), "no answer queued");
  ck_assert_int_eq(o.kind, kind);
  return o;
}

static void s_none(dd_cloud_t *c) {
  dd_cloud_out_t o;
  ck_assert_msg(!dd_cloud_take_out(c, &o), "unexpected answer for %s to %s", o.payment_id, o.to);
}

/* ---- registry ---- */

START_TEST(test_registry_hit_and_miss) {
  dd_cloud_t *c = s_new();
  ck_assert_int_eq(dd_cloud_load_vehicles(c, S_VEHICLES, s_err, sizeof s_err), 0);
  ck_assert_uint_ge(dd_cloud_vehicle_count(c), 3);
  const dd_cloud_vehicle_t *v = dd_cloud_vin_lookup(c, "4CVBS2KA6KT104377");
  ck_assert_ptr_nonnull(v);
  ck_assert_str_eq(v->make, "Corvan");
  ck_assert_str_eq(v->model, "Meridian");
  ck_assert_int_eq(v->model_year, 2019);
  ck_assert_str_eq(v->vehicle_type, "passenger_car");
  ck_assert_str_eq(v->chassis_number, "MB2-104377");
  ck_assert_str_eq(v->engine, "CV20G (2.0 L I4 petrol, port injection)");
  /* The ECUs as the vehicle loader reads them from the same file. */
  dd_vehicle_t *ref = NULL;
  ck_assert_int_eq(dd_vehicle_load(S_CORVAN, &ref, s_err, sizeof s_err), 0);
  ck_assert_uint_eq(v->n_ecus, ref->n_ecus);
  for (size_t i = 0; i < ref->n_ecus; i++) {
    ck_assert_str_eq(v->ecus[i].name, ref->ecus[i].name);
    ck_assert_uint_eq(v->ecus[i].request_can_id, ref->ecus[i].request_id);
    ck_assert_uint_eq(v->ecus[i].response_can_id, ref->ecus[i].response_id);
  }
  ck_assert_str_eq(v->ecus[0].name, "ECM");
  ck_assert_uint_eq(v->ecus[0].request_can_id, 0x7E0);
  ck_assert_uint_eq(v->ecus[0].response_can_id, 0x7E8);
  dd_vehicle_destroy(&ref);
  /* A well-formed VIN that is not registered (check digit correct per 49 CFR 565.15 is not
   * needed for a miss), and the other files. */
  ck_assert_ptr_null(dd_cloud_vin_lookup(c, "1HGCM82633A004352"));
  ck_assert_ptr_nonnull(dd_cloud_vin_lookup(c, "KPNSD4JC3NU513208"));
  ck_assert_ptr_nonnull(dd_cloud_vin_lookup(c, "ZLVZZZ5SZM0021847"));
  dd_cloud_stats_t st = dd_cloud_stats(c);
  ck_assert_uint_eq(st.vin_queries, 4);
  ck_assert_uint_eq(st.vin_found, 3);
  dd_cloud_destroy(&c);
  ck_assert_ptr_null(c);
}
END_TEST

START_TEST(test_registry_load_errors) {
  dd_cloud_t *c = s_new();
  ck_assert_int_eq(dd_cloud_load_vehicles(c, S_CORVAN, s_err, sizeof s_err), 0);
  ck_assert_uint_eq(dd_cloud_vehicle_count(c), 1);
  /* The same VIN again (the folder holds the same file). */
  ck_assert_int_eq(dd_cloud_load_vehicles(c, S_VEHICLES, s_err, sizeof s_err), DD_ECONFIG);
  ck_assert_ptr_nonnull(strstr(s_err, "VIN 4CVBS2KA6KT104377 is already registered from"));
  ck_assert_int_eq(dd_cloud_load_vehicles(c, "/nonexistent/vehicles", s_err, sizeof s_err),
                   DD_ENOENT);
  ck_assert_ptr_nonnull(strstr(s_err, "/nonexistent/vehicles"));
  /* A folder without vehicle files. */
  ck_assert_int_eq(dd_cloud_load_vehicles(c, DD_SOURCE_DIR "/sim/cloud", s_err, sizeof s_err),
                   DD_ECONFIG);
  ck_assert_ptr_nonnull(strstr(s_err, "no vehicle files"));
  dd_cloud_destroy(&c);
}
END_TEST

/* ---- presence and the list ---- */

START_TEST(test_presence_timeout) {
  dd_cloud_t *c = s_new();
  ck_assert_int_eq(dd_cloud_presence(c, "term1", "shop-1", true, 0), 0);
  dd_cloud_presence_t p;
  ck_assert(dd_cloud_take_presence(c, &p));
  ck_assert_str_eq(p.terminal, "shop-1");
  ck_assert(p.online);
  ck_assert_str_eq(p.why, "heartbeat");
  ck_assert(dd_cloud_online(c, "shop-1"));
  /* Heartbeats every second keep it online; no new change is reported. */
  for (uint64_t t = 1000; t <= 5000; t += 1000)
    ck_assert_int_eq(dd_cloud_presence(c, "term1", "shop-1", true, t * MS), 0);
  ck_assert(!dd_cloud_take_presence(c, &p));
  ck_assert_uint_eq(dd_cloud_next_deadline(c), 8000 * MS);
  dd_cloud_tick(c, 8000 * MS - 1);
  ck_assert(dd_cloud_online(c, "shop-1"));
  dd_cloud_tick(c, 8000 * MS);
  ck_assert(!dd_cloud_online(c, "shop-1"));
  ck_assert(dd_cloud_take_presence(c, &p));
  ck_assert(!p.online);
  ck_assert_str_eq(p.why, "timeout");
  ck_assert_uint_eq(dd_cloud_next_deadline(c), UINT64_MAX);
  /* Back, then a goodbye. */
  ck_assert_int_eq(dd_cloud_presence(c, "term1", "shop-1", true, 9000 * MS), 0);
  ck_assert(dd_cloud_online(c, "shop-1"));
  ck_assert_int_eq(dd_cloud_presence(c, "term1", "shop-1", false, 9100 * MS), 0);
  ck_assert(!dd_cloud_online(c, "shop-1"));
  ck_assert(dd_cloud_take_presence(c, &p) && p.online);
  ck_assert(dd_cloud_take_presence(c, &p) && !p.online);
  ck_assert_str_eq(p.why, "bye");
  ck_assert_uint_eq(dd_cloud_stats(c).heartbeats, 8);
  /* A terminal first seen through its heartbeat gets a bare profile. */
  const dd_cloud_terminal_t *t = dd_cloud_terminal(c, "shop-1");
  ck_assert_str_eq(t->name, "shop-1");
  ck_assert_uint_eq(t->n_makes, 0);
  ck_assert_int_eq(dd_cloud_presence(c, "x", "", true, 0), DD_EINVAL);
  dd_cloud_destroy(&c);
}
END_TEST

START_TEST(test_list_filter_and_order) {
  dd_cloud_t *c = s_new();
  s_terminals(c, "terminals:\n"
                 "  - {id: zeta, makes: [Corvan, Vellora], fee_minor: 2000, currency: EUR}\n"
                 "  - {id: alpha, makes: [Daeyang], fee_minor: 1500, currency: EUR, online: true}\n"
                 "  - {id: mid, name: Mid Shop, makes: [corvan], fee_minor: 4500, currency: EUR,\n"
                 "     rating: 4.2}\n"
                 "  - {id: off, makes: [Corvan], fee_minor: 100, currency: EUR}\n");
  ck_assert_uint_eq(dd_cloud_terminal_count(c), 4);
  ck_assert_int_eq(dd_cloud_presence(c, "p-zeta", "zeta", true, 0), 0);
  ck_assert_int_eq(dd_cloud_presence(c, "p-mid", "mid", true, 0), 0);
  const dd_cloud_terminal_t *out[8];
  /* Every make: the three online ones, by id; "off" never sent a heartbeat. */
  ck_assert_uint_eq(dd_cloud_list(c, NULL, out, 8), 3);
  ck_assert_str_eq(out[0]->id, "alpha");
  ck_assert_str_eq(out[1]->id, "mid");
  ck_assert_str_eq(out[2]->id, "zeta");
  ck_assert_str_eq(out[1]->name, "Mid Shop");
  ck_assert_uint_eq(out[1]->rating_x10, 42);
  ck_assert_int_eq(out[1]->fee_minor, 4500);
  ck_assert_str_eq(out[1]->currency, "EUR");
  /* A make, whatever its case. */
  ck_assert_uint_eq(dd_cloud_list(c, "CORVAN", out, 8), 2);
  ck_assert_str_eq(out[0]->id, "mid");
  ck_assert_str_eq(out[1]->id, "zeta");
  ck_assert_uint_eq(dd_cloud_list(c, "Vellora", out, 8), 1);
  ck_assert_uint_eq(dd_cloud_list(c, "Nonesuch", out, 8), 0);
  /* Less room than matches: the count, and the smallest ids. */
  ck_assert_uint_eq(dd_cloud_list(c, "", out, 1), 3);
  ck_assert_str_eq(out[0]->id, "alpha");
  /* A static terminal goes offline only by command. */
  ck_assert_int_eq(dd_cloud_set_static(c, "alpha", false, 0), 0);
  ck_assert_uint_eq(dd_cloud_list(c, "", out, 8), 2);
  ck_assert_int_eq(dd_cloud_set_static(c, "off", true, 0), 0);
  ck_assert_uint_eq(dd_cloud_list(c, "corvan", out, 8), 3);
  ck_assert_int_eq(dd_cloud_set_static(c, "nobody", true, 0), DD_ENOENT);
  dd_cloud_destroy(&c);
}
END_TEST

START_TEST(test_registration_keeps_file_settings) {
  dd_cloud_t *c = s_new();
  s_terminals(c, "terminals:\n"
                 "  - id: shop-1\n"
                 "    online: true\n"
                 "    payment_failure: card declined\n");
  dd_cloud_terminal_t t;
  memset(&t, 0, sizeof t);
  snprintf(t.id, sizeof t.id, "shop-1");
  snprintf(t.name, sizeof t.name, "Shop One");
  snprintf(t.makes[0], sizeof t.makes[0], "Corvan");
  t.n_makes = 1;
  t.fee_minor = 2500;
  snprintf(t.currency, sizeof t.currency, "CNY");
  t.rating_x10 = 48;
  ck_assert_int_eq(dd_cloud_put_terminal(c, &t, false, "term1", 0), 0);
  const dd_cloud_terminal_t *p = dd_cloud_terminal(c, "shop-1");
  ck_assert_str_eq(p->name, "Shop One");
  ck_assert_int_eq(p->fee_minor, 2500);
  ck_assert_str_eq(p->currency, "CNY");
  ck_assert(p->static_online);
  ck_assert_str_eq(p->payment_failure, "card declined");
  t.rating_x10 = 51;
  ck_assert_int_eq(dd_cloud_put_terminal(c, &t, false, "term1", 0), DD_EINVAL);
  t.rating_x10 = 50;
  snprintf(t.currency, sizeof t.currency, "eur");
  ck_assert_int_eq(dd_cloud_put_terminal(c, &t, false, "term1", 0), DD_EINVAL);
  dd_cloud_destroy(&c);
}
END_TEST

START_TEST(test_terminals_file_errors) {
  dd_cloud_t *c = s_new();
  const char *bad = "terminals:\n"
                    "  - id: a\n"
                    "    colour: red\n"
                    "  - id: b\n"
                    "    currency: euro\n"
                    "    rating: 7\n"
                    "  - name: no id\n"
                    "  - id: a\n";
  ck_assert_int_eq(
      dd_cloud_load_terminals_string(c, bad, strlen(bad), "t.yaml", s_err, sizeof s_err),
      DD_ECONFIG);
  ck_assert_ptr_nonnull(strstr(s_err, "t.yaml:3:5: terminals[0].colour: unknown key"));
  ck_assert_ptr_nonnull(strstr(s_err, "t.yaml:5:15: terminals[1].currency: expected an ISO 4217"));
  ck_assert_ptr_nonnull(strstr(s_err, "t.yaml:6:13: terminals[1].rating: expected a number "
                                      "from 0 to 5, got '7'"));
  ck_assert_ptr_nonnull(strstr(s_err, "t.yaml:7:5: terminals[2]: id is required"));
  ck_assert_ptr_nonnull(strstr(s_err, "t.yaml:8:9: terminals[3].id: a is already the id of "
                                      "terminals[0]"));
  ck_assert_uint_eq(dd_cloud_terminal_count(c), 0); /* all or nothing */
  const char *syntax = "terminals: [ {id: a\n";
  ck_assert_int_eq(
      dd_cloud_load_terminals_string(c, syntax, strlen(syntax), "s.yaml", s_err, sizeof s_err),
      DD_ECONFIG);
  ck_assert_ptr_nonnull(strstr(s_err, "s.yaml:"));
  ck_assert_ptr_nonnull(strstr(s_err, "YAML syntax"));
  const char *top = "shops: []\n";
  ck_assert_int_eq(
      dd_cloud_load_terminals_string(c, top, strlen(top), "u.yaml", s_err, sizeof s_err),
      DD_ECONFIG);
  ck_assert_ptr_nonnull(strstr(s_err, "u.yaml:1:1: shops: unknown key"));
  ck_assert_int_eq(dd_cloud_load_terminals(c, "/nonexistent.yaml", s_err, sizeof s_err), DD_ENOENT);
  dd_cloud_destroy(&c);
}
END_TEST

/* ---- ledger ---- */

START_TEST(test_payment_charged_and_notified) {
  dd_cloud_t *c = s_shop();
  s_pay(c, "fd1", "p1", "o1", 3000, "EUR", "owner-1", 10);
  dd_cloud_out_t o = s_take(c, DD_CLOUD_OUT_CONFIRM);
  ck_assert_str_eq(o.to, "fd1");
  ck_assert_str_eq(o.payment_id, "p1");
  ck_assert_str_eq(o.order_id, "o1");
  ck_assert(o.ok);
  ck_assert(!o.duplicate);
  ck_assert_int_eq(o.charged_minor, 3000);
  ck_assert_str_eq(o.terminal, "shop-1"); /* term1 speaks for shop-1 */
  ck_assert_str_eq(o.reason, "");
  /* The terminal that registered the order hears of it, to send its S17 signal. */
  o = s_take(c, DD_CLOUD_OUT_NOTIFY);
  ck_assert_str_eq(o.to, "term1");
  ck_assert_str_eq(o.payment_id, "p1");
  ck_assert(o.ok);
  s_none(c);
  ck_assert_uint_eq(dd_cloud_total_count(c), 1);
  const dd_cloud_total_t *t = dd_cloud_total(c, 0);
  ck_assert_str_eq(t->terminal, "shop-1");
  ck_assert_str_eq(t->currency, "EUR");
  ck_assert_int_eq(t->charged_minor, 3000);
  ck_assert_uint_eq(t->payments, 1);
  dd_cloud_destroy(&c);
}
END_TEST

START_TEST(test_retry_after_lost_confirmation) {
  dd_cloud_t *c = s_shop();
  s_pay(c, "fd1", "p1", "o1", 3000, "EUR", "owner-1", 10);
  s_take(c, DD_CLOUD_OUT_CONFIRM); /* this confirmation is lost on the way */
  s_take(c, DD_CLOUD_OUT_NOTIFY);
  /* The first device retries the same payment id, possibly after reconnecting. */
  for (int i = 0; i < 3; i++) {
    s_pay(c, i ? "fd1-again" : "fd1", "p1", "o1", 3000, "EUR", "owner-1", 2000 * MS);
    dd_cloud_out_t o = s_take(c, DD_CLOUD_OUT_CONFIRM);
    ck_assert_str_eq(o.to, i ? "fd1-again" : "fd1");
    ck_assert(o.ok);
    ck_assert(o.duplicate);
    ck_assert_int_eq(o.charged_minor, 3000);
    s_none(c); /* no second notice to the terminal */
  }
  ck_assert_int_eq(dd_cloud_total(c, 0)->charged_minor, 3000);
  ck_assert_uint_eq(dd_cloud_total(c, 0)->payments, 1);
  dd_cloud_stats_t st = dd_cloud_stats(c);
  ck_assert_uint_eq(st.payments, 1);
  ck_assert_uint_eq(st.charged, 1);
  ck_assert_uint_eq(st.duplicates, 3);
  ck_assert_uint_eq(st.notices, 1);
  dd_cloud_destroy(&c);
}
END_TEST

START_TEST(test_conflicts_and_paid_once) {
  dd_cloud_t *c = s_shop();
  s_pay(c, "fd1", "p1", "o1", 3000, "EUR", "owner-1", 10);
  s_take(c, DD_CLOUD_OUT_CONFIRM);
  s_take(c, DD_CLOUD_OUT_NOTIFY);
  /* The same key for another amount: refused, the first payment stays. */
  s_pay(c, "fd1", "p1", "o1", 2999, "EUR", "owner-1", 11);
  dd_cloud_out_t o = s_take(c, DD_CLOUD_OUT_CONFIRM);
  ck_assert(!o.ok);
  ck_assert(!o.duplicate);
  ck_assert_int_eq(o.code, DD_EEXIST);
  ck_assert_str_eq(o.reason, "payment id p1 is already used for another payment");
  ck_assert_int_eq(o.charged_minor, 0);
  /* Another payer with the same key is a conflict too. */
  s_pay(c, "fd2", "p1", "o1", 3000, "EUR", "owner-2", 12);
  ck_assert_int_eq(s_take(c, DD_CLOUD_OUT_CONFIRM).code, DD_EEXIST);
  /* A new payment id for the paid order: refused, no double charge. */
  s_pay(c, "fd1", "p2", "o1", 3000, "EUR", "owner-1", 13);
  o = s_take(c, DD_CLOUD_OUT_CONFIRM);
  ck_assert(!o.ok);
  ck_assert_int_eq(o.code, DD_EEXIST);
  ck_assert_str_eq(o.reason, "order o1 is paid already (payment p1)");
  s_none(c);
  s_pay(c, "fd1", "p1", "o1", 3000, "EUR", "owner-1", 14);
  o = s_take(c, DD_CLOUD_OUT_CONFIRM);
  ck_assert(o.ok && o.duplicate);
  ck_assert_int_eq(dd_cloud_total(c, 0)->charged_minor, 3000);
  ck_assert_uint_eq(dd_cloud_stats(c).conflicts, 2);
  dd_cloud_destroy(&c);
}
END_TEST

START_TEST(test_amount_and_currency_refused) {
  dd_cloud_t *c = s_shop();
  s_pay(c, "fd1", "p1", "o1", 2500, "EUR", "owner-1", 10);
  dd_cloud_out_t o = s_take(c, DD_CLOUD_OUT_CONFIRM);
  ck_assert(!o.ok);
  ck_assert_int_eq(o.code, DD_EINVAL);
  ck_assert_str_eq(o.reason, "amount 2500 does not match the order's fee 3000 (EUR minor units)");
  s_pay(c, "fd1", "p2", "o1", 3000, "USD", "owner-1", 11);
  o = s_take(c, DD_CLOUD_OUT_CONFIRM);
  ck_assert(!o.ok);
  ck_assert_str_eq(o.reason, "currency USD does not match the order's EUR");
  s_none(c); /* no notice for refusals */
  /* A refusal is final for its id: the retry repeats it. */
  s_pay(c, "fd1", "p1", "o1", 2500, "EUR", "owner-1", 12);
  o = s_take(c, DD_CLOUD_OUT_CONFIRM);
  ck_assert(!o.ok && o.duplicate);
  ck_assert_int_eq(o.code, DD_EINVAL);
  /* The right amount under a new id goes through: the order was never paid. */
  s_pay(c, "fd1", "p3", "o1", 3000, "EUR", "owner-1", 13);
  ck_assert(s_take(c, DD_CLOUD_OUT_CONFIRM).ok);
  s_take(c, DD_CLOUD_OUT_NOTIFY);
  dd_cloud_stats_t st = dd_cloud_stats(c);
  ck_assert_uint_eq(st.payments, 3);
  ck_assert_uint_eq(st.refused, 2);
  ck_assert_uint_eq(st.charged, 1);
  /* Input the wire codec would also refuse: nothing recorded, nothing answered. */
  dd_cloud_payment_in_t bad = {
      .payment_id = "p9", .order_id = "o1", .amount_minor = 0, .currency = "EUR"};
  ck_assert_int_eq(dd_cloud_pay(c, "fd1", &bad, 14, NULL), DD_EINVAL);
  bad.amount_minor = 3000;
  bad.currency = "EURO";
  ck_assert_int_eq(dd_cloud_pay(c, "fd1", &bad, 14, NULL), DD_EINVAL);
  s_none(c);
  dd_cloud_destroy(&c);
}
END_TEST

START_TEST(test_payment_before_order) {
  dd_cloud_t *c = s_new();
  dd_cloud_payment_in_t p = {.payment_id = "p1",
                             .order_id = "o7",
                             .amount_minor = 1200,
                             .currency = "CNY",
                             .payer_id = "owner"};
  bool pending = false;
  ck_assert_int_eq(dd_cloud_pay(c, "fd1", &p, 100 * MS, &pending), 0);
  ck_assert(pending);
  s_none(c);
  ck_assert_uint_eq(dd_cloud_next_deadline(c), 2100 * MS);
  /* The first device retries while it waits: both copies are answered once the order comes. */
  ck_assert_int_eq(dd_cloud_pay(c, "fd1", &p, 600 * MS, &pending), 0);
  ck_assert(pending);
  dd_cloud_tick(c, 900 * MS);
  s_none(c);
  dd_cloud_order_in_t o = {.order_id = "o7",
                           .session_id = "s7",
                           .merchant_id = "m",
                           .fee_minor = 1200,
                           .currency = "CNY"};
  ck_assert_int_eq(dd_cloud_order(c, "shop-7", &o, 1000 * MS, NULL), 0);
  dd_cloud_out_t a = s_take(c, DD_CLOUD_OUT_CONFIRM);
  ck_assert(a.ok && !a.duplicate);
  ck_assert_uint_eq(a.waited_us, 900 * MS);
  ck_assert_str_eq(a.terminal, "shop-7"); /* no presence: the party is the terminal */
  a = s_take(c, DD_CLOUD_OUT_CONFIRM);
  ck_assert(a.ok && a.duplicate);
  a = s_take(c, DD_CLOUD_OUT_NOTIFY);
  ck_assert_str_eq(a.to, "shop-7");
  s_none(c);
  ck_assert_uint_eq(dd_cloud_stats(c).pending, 0);
  ck_assert_uint_eq(dd_cloud_next_deadline(c), UINT64_MAX);
  /* An order that never comes: refused once the wait is over. */
  p.payment_id = "p2";
  p.order_id = "o8";
  ck_assert_int_eq(dd_cloud_pay(c, "fd1", &p, 5000 * MS, &pending), 0);
  dd_cloud_tick(c, 6999 * MS);
  s_none(c);
  dd_cloud_tick(c, 7000 * MS);
  a = s_take(c, DD_CLOUD_OUT_CONFIRM);
  ck_assert(!a.ok);
  ck_assert_int_eq(a.code, DD_ENOENT);
  ck_assert_str_eq(a.reason, "unknown order o8 (waited 2000 ms for it)");
  /* The order arriving late does not revive the refused payment. */
  o.order_id = "o8";
  ck_assert_int_eq(dd_cloud_order(c, "shop-7", &o, 8000 * MS, NULL), 0);
  s_none(c);
  dd_cloud_destroy(&c);
  /* Without waiting, an unknown order is refused at once. */
  dd_cloud_cfg_t cfg = {.order_wait_us = UINT64_MAX};
  ck_assert_int_eq(dd_cloud_new(&cfg, &c), 0);
  ck_assert_int_eq(dd_cloud_pay(c, "fd1", &p, 0, &pending), 0);
  ck_assert(!pending);
  a = s_take(c, DD_CLOUD_OUT_CONFIRM);
  ck_assert_str_eq(a.reason, "unknown order o8");
  dd_cloud_destroy(&c);
}
END_TEST

START_TEST(test_order_registration) {
  dd_cloud_t *c = s_shop();
  dd_cloud_order_in_t o = {.order_id = "o1",
                           .session_id = "s1",
                           .merchant_id = "m1",
                           .merchant_name = "Shop One Ltd",
                           .fee_minor = 3000,
                           .currency = "EUR"};
  bool dup = false;
  ck_assert_int_eq(dd_cloud_order(c, "term1", &o, 5, &dup), 0);
  ck_assert(dup);
  o.fee_minor = 3500;
  ck_assert_int_eq(dd_cloud_order(c, "term1", &o, 6, &dup), DD_EEXIST);
  o.order_id = "o2";
  o.currency = "eur";
  ck_assert_int_eq(dd_cloud_order(c, "term1", &o, 7, &dup), DD_EINVAL);
  o.currency = "EUR";
  o.fee_minor = -1;
  ck_assert_int_eq(dd_cloud_order(c, "term1", &o, 7, &dup), DD_EINVAL);
  dd_cloud_stats_t st = dd_cloud_stats(c);
  ck_assert_uint_eq(st.orders, 1);
  ck_assert_uint_eq(st.orders_refused, 3);
  dd_cloud_destroy(&c);
}
END_TEST

START_TEST(test_scripted_failures) {
  dd_cloud_t *c = s_shop();
  dd_cloud_order_in_t o = {.order_id = "o2",
                           .session_id = "s2",
                           .merchant_id = "m1",
                           .fee_minor = 3000,
                           .currency = "EUR"};
  ck_assert_int_eq(dd_cloud_order(c, "term1", &o, 1, NULL), 0);
  /* One payer's card is declined once. */
  ck_assert_int_eq(dd_cloud_fail_payments(c, DD_CLOUD_MATCH_PAYER, "owner-1", "card declined", 1),
                   0);
  s_pay(c, "fd2", "q1", "o2", 3000, "EUR", "owner-2", 2); /* another payer: fine */
  ck_assert(s_take(c, DD_CLOUD_OUT_CONFIRM).ok);
  s_take(c, DD_CLOUD_OUT_NOTIFY);
  s_pay(c, "fd1", "p1", "o1", 3000, "EUR", "owner-1", 3);
  dd_cloud_out_t a = s_take(c, DD_CLOUD_OUT_CONFIRM);
  ck_assert(!a.ok);
  ck_assert_int_eq(a.code, DD_EPERM);
  ck_assert_str_eq(a.reason, "card declined");
  s_none(c);
  s_pay(c, "fd1", "p2", "o1", 3000, "EUR", "owner-1", 4); /* the rule is used up */
  ck_assert(s_take(c, DD_CLOUD_OUT_CONFIRM).ok);
  s_take(c, DD_CLOUD_OUT_NOTIFY);
  /* By order and by terminal, until cleared; a default reason. */
  o.order_id = "o3";
  ck_assert_int_eq(dd_cloud_order(c, "term1", &o, 5, NULL), 0);
  ck_assert_int_eq(dd_cloud_fail_payments(c, DD_CLOUD_MATCH_ORDER, "o3", NULL, 0), 0);
  s_pay(c, "fd1", "p3", "o3", 3000, "EUR", "owner-1", 6);
  a = s_take(c, DD_CLOUD_OUT_CONFIRM);
  ck_assert_str_eq(a.reason, "payment declined");
  s_pay(c, "fd1", "p4", "o3", 3000, "EUR", "owner-1", 7);
  ck_assert(!s_take(c, DD_CLOUD_OUT_CONFIRM).ok);
  dd_cloud_clear_failures(c);
  ck_assert_int_eq(dd_cloud_fail_payments(c, DD_CLOUD_MATCH_TERMINAL, "shop-1", "bank offline", 0),
                   0);
  s_pay(c, "fd1", "p5", "o3", 3000, "EUR", "owner-1", 8);
  ck_assert_str_eq(s_take(c, DD_CLOUD_OUT_CONFIRM).reason, "bank offline");
  dd_cloud_clear_failures(c);
  ck_assert_int_eq(dd_cloud_fail_payments(c, DD_CLOUD_MATCH_ANY, NULL, "ledger closed", 0), 0);
  s_pay(c, "fd1", "p6", "o3", 3000, "EUR", "owner-1", 9);
  ck_assert_str_eq(s_take(c, DD_CLOUD_OUT_CONFIRM).reason, "ledger closed");
  dd_cloud_clear_failures(c);
  s_pay(c, "fd1", "p7", "o3", 3000, "EUR", "owner-1", 10);
  ck_assert(s_take(c, DD_CLOUD_OUT_CONFIRM).ok);
  ck_assert_int_eq(dd_cloud_total(c, 0)->charged_minor, 9000);
  ck_assert_int_eq(dd_cloud_fail_payments(c, DD_CLOUD_MATCH_PAYER, "", "x", 0), DD_EINVAL);
  for (int i = 0; i < DD_CLOUD_MAX_RULES; i++)
    ck_assert_int_eq(dd_cloud_fail_payments(c, DD_CLOUD_MATCH_ANY, NULL, "x", 0), 0);
  ck_assert_int_eq(dd_cloud_fail_payments(c, DD_CLOUD_MATCH_ANY, NULL, "x", 0), DD_ENOSPC);
  dd_cloud_destroy(&c);
}
END_TEST

START_TEST(test_terminal_failure_from_file) {
  dd_cloud_t *c = s_new();
  s_terminals(c, "terminals:\n"
                 "  - {id: shop-2, makes: [Corvan], fee_minor: 900, currency: GBP, online: true,\n"
                 "     payment_failure: merchant account suspended}\n");
  dd_cloud_order_in_t o = {.order_id = "o1",
                           .session_id = "s1",
                           .merchant_id = "m2",
                           .fee_minor = 900,
                           .currency = "GBP"};
  ck_assert_int_eq(dd_cloud_presence(c, "t2", "shop-2", true, 0), 0);
  ck_assert_int_eq(dd_cloud_order(c, "t2", &o, 0, NULL), 0);
  s_pay(c, "fd1", "p1", "o1", 900, "GBP", "owner-1", 1);
  dd_cloud_out_t a = s_take(c, DD_CLOUD_OUT_CONFIRM);
  ck_assert(!a.ok);
  ck_assert_str_eq(a.reason, "merchant account suspended");
  ck_assert_str_eq(a.terminal, "shop-2");
  s_none(c);
  ck_assert_uint_eq(dd_cloud_total_count(c), 0);
  dd_cloud_destroy(&c);
}
END_TEST

START_TEST(test_ledger_limits) {
  dd_cloud_cfg_t cfg = {.max_payments = 2, .max_orders = 1, .max_terminals = 1};
  dd_cloud_t *c = NULL;
  ck_assert_int_eq(dd_cloud_new(&cfg, &c), 0);
  ck_assert_int_eq(dd_cloud_presence(c, "t", "a", true, 0), 0);
  ck_assert_int_eq(dd_cloud_presence(c, "t", "b", true, 0), DD_ENOSPC);
  dd_cloud_order_in_t o = {.order_id = "o1", .session_id = "s", .fee_minor = 5, .currency = "EUR"};
  ck_assert_int_eq(dd_cloud_order(c, "t", &o, 0, NULL), 0);
  o.order_id = "o2";
  ck_assert_int_eq(dd_cloud_order(c, "t", &o, 0, NULL), DD_ENOSPC);
  s_pay(c, "fd", "p1", "o1", 4, "EUR", "x", 0);
  s_pay(c, "fd", "p2", "o1", 5, "EUR", "x", 0);
  s_pay(c, "fd", "p3", "o1", 5, "EUR", "x", 0);
  ck_assert(!s_take(c, DD_CLOUD_OUT_CONFIRM).ok);
  ck_assert(s_take(c, DD_CLOUD_OUT_CONFIRM).ok);
  s_take(c, DD_CLOUD_OUT_NOTIFY);
  dd_cloud_out_t a = s_take(c, DD_CLOUD_OUT_CONFIRM);
  ck_assert_int_eq(a.code, DD_ENOSPC);
  ck_assert_str_eq(a.reason, "the ledger is full (2 payments); try again later");
  dd_cloud_destroy(&c);
}
END_TEST

int main(void) {
  Suite *s = suite_create("cloud");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, test_registry_hit_and_miss);
  tcase_add_test(tc, test_registry_load_errors);
  tcase_add_test(tc, test_presence_timeout);
  tcase_add_test(tc, test_list_filter_and_order);
  tcase_add_test(tc, test_registration_keeps_file_settings);
  tcase_add_test(tc, test_terminals_file_errors);
  tcase_add_test(tc, test_payment_charged_and_notified);
  tcase_add_test(tc, test_retry_after_lost_confirmation);
  tcase_add_test(tc, test_conflicts_and_paid_once);
  tcase_add_test(tc, test_amount_and_currency_refused);
  tcase_add_test(tc, test_payment_before_order);
  tcase_add_test(tc, test_order_registration);
  tcase_add_test(tc, test_scripted_failures);
  tcase_add_test(tc, test_terminal_failure_from_file);
  tcase_add_test(tc, test_ledger_limits);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
