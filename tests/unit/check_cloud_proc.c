/* check_cloud_proc: the cloud and relay servers as real processes under the harness (dd_rig):
 * the test talks to each through its own DEALER sockets, as the first device, a terminal and a
 * service device would, checks every answer, drives harness commands, and then checks the
 * timeline events in RUN_DIR/timeline.jsonl. Also: bad usage exits 2, and a relay killed and
 * started again has lost what it held. Uses the built duodiag-cloud and duodiag-relay. */
#include <check.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "dd_child.h"
#include "dd_err.h"
#include "dd_rig.h"
#include "dd_wire.h"

#define S_READY_US 20000000ull
#define S_CORVAN_VIN "4CVBS2KA6KT104377"

/* ---- helpers ---- */

static void *s_dealer(dd_rig_t *rig, const char *id, const char *ep) {
  void *s = zmq_socket(dd_rig_zctx(rig), ZMQ_DEALER);
  ck_assert_ptr_nonnull(s);
  int linger = 0;
  zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
  zmq_setsockopt(s, ZMQ_ROUTING_ID, id, strlen(id));
  dd_wire_limit_socket(s);
  ck_assert_int_eq(zmq_connect(s, ep), 0);
  return s;
}

static uint64_t s_seq;

static void s_send(void *s, const char *sender, Duodiag__Envelope *env) {
  ck_assert_int_eq(dd_wire_send(s, env, 0), 0);
  (void)sender;
}

static void s_env(Duodiag__Envelope *env, const char *sender) {
  dd_wire_envelope_init(env, sender, ++s_seq, 1);
}

/* The next envelope on s within timeout_ms, or NULL. */
static Duodiag__Envelope *s_recv(void *s, int timeout_ms) {
  zmq_pollitem_t it = {s, 0, ZMQ_POLLIN, 0};
  if (zmq_poll(&it, 1, timeout_ms) <= 0) return NULL;
  Duodiag__Envelope *env = NULL;
  ck_assert_int_eq(dd_wire_recv(s, &env, NULL, 0), 0);
  return env;
}

static Duodiag__Envelope *s_expect(void *s, Duodiag__Envelope__BodyCase body) {
  Duodiag__Envelope *env = s_recv(s, 5000);
  ck_assert_msg(env != NULL, "no answer");
  ck_assert_msg(env->body_case == body, "got %s", dd_wire_body_name(env));
  return env;
}

/* Round trip a Probe so that everything sent on s before has been handled. */
static void s_sync(void *s, const char *sender) {
  static uint64_t probe_id;
  Duodiag__Probe p = DUODIAG__PROBE__INIT;
  p.probe_id = ++probe_id;
  Duodiag__Envelope env;
  s_env(&env, sender);
  env.body_case = DUODIAG__ENVELOPE__BODY_PROBE;
  env.probe = &p;
  s_send(s, sender, &env);
  Duodiag__Envelope *e = s_expect(s, DUODIAG__ENVELOPE__BODY_PROBE_ECHO);
  ck_assert_uint_eq(e->probe_echo->probe_id, probe_id);
  dd_wire_free(&e);
}

/* Events of kind in the run's timeline whose fields include every field of match (JSON); the
 * lines of that kind go to seen[cap] (for failure messages). */
static int s_events_seen(dd_rig_t *rig, const char *kind, const char *match, char *seen,
                         size_t cap) {
  char path[1024];
  snprintf(path, sizeof path, "%s/timeline.jsonl", dd_rig_dir(rig));
  FILE *f = fopen(path, "r");
  ck_assert_ptr_nonnull(f);
  json_t *m = json_loads(match ? match : "{}", 0, NULL);
  ck_assert_ptr_nonnull(m);
  char line[8192];
  int n = 0;
  if (seen && cap) seen[0] = '\0';
  while (fgets(line, sizeof line, f)) {
    json_t *ev = json_loads(line, 0, NULL);
    if (!ev) continue;
    bool hit = json_is_string(json_object_get(ev, "kind")) &&
               !strcmp(json_string_value(json_object_get(ev, "kind")), kind);
    if (hit && seen && strlen(seen) + strlen(line) < cap) strcat(seen, line);
    const char *k;
    json_t *v;
    json_object_foreach(m, k, v) {
      if (hit && !json_equal(json_object_get(ev, k), v)) hit = false;
    }
    n += hit;
    json_decref(ev);
  }
  json_decref(m);
  fclose(f);
  return n;
}

/* Exactly n events of kind matching match; the failure shows the events of that kind. */
#define S_EVENTS_EQ(rig, kind, match, n)                                                           \
  do {                                                                                             \
    char seen_[4096];                                                                              \
    int got_ = s_events_seen((rig), (kind), (match), seen_, sizeof seen_);                         \
    ck_assert_msg(got_ == (n), "%d %s events match %s, want %d; all of that kind:\n%s", got_,      \
                  (kind), (match) ? (match) : "{}", (n), seen_);                                   \
  } while (0)

static void s_vin_query(void *fd, const char *vin) {
  Duodiag__VinQuery q = DUODIAG__VIN_QUERY__INIT;
  q.vin = (char *)vin;
  Duodiag__Envelope env;
  s_env(&env, "fd1");
  env.body_case = DUODIAG__ENVELOPE__BODY_VIN_QUERY;
  env.vin_query = &q;
  s_send(fd, "fd1", &env);
}

/* Ask for the list (make may be ""); returns the ids joined by spaces. */
static void s_list(void *fd, const char *make, char *ids, size_t cap) {
  Duodiag__TerminalListRequest q = DUODIAG__TERMINAL_LIST_REQUEST__INIT;
  q.make_filter = (char *)make;
  Duodiag__Envelope env;
  s_env(&env, "fd1");
  env.body_case = DUODIAG__ENVELOPE__BODY_TERMINAL_LIST_REQUEST;
  env.terminal_list_request = &q;
  s_send(fd, "fd1", &env);
  Duodiag__Envelope *e = s_expect(fd, DUODIAG__ENVELOPE__BODY_TERMINAL_LIST);
  ids[0] = '\0';
  for (size_t i = 0; i < e->terminal_list->n_terminals; i++) {
    const Duodiag__TerminalInfo *t = e->terminal_list->terminals[i];
    ck_assert(t->online);
    size_t used = strlen(ids);
    snprintf(ids + used, cap - used, "%s%s", i ? " " : "", t->terminal_id);
    if (!strcmp(t->terminal_id, "shop-1")) {
      ck_assert_str_eq(t->name, "Shop One");
      ck_assert_int_eq(t->fee_minor, 3000);
      ck_assert_str_eq(t->currency, "EUR");
      ck_assert_uint_eq(t->rating_x10, 45);
      ck_assert_uint_eq(t->n_makes, 1);
      ck_assert_str_eq(t->makes[0], "Corvan");
    }
  }
  dd_wire_free(&e);
}

static void s_presence(void *term, bool online) {
  Duodiag__Presence p = DUODIAG__PRESENCE__INIT;
  p.terminal_id = "shop-1";
  p.online = online;
  Duodiag__Envelope env;
  s_env(&env, "term1");
  env.body_case = DUODIAG__ENVELOPE__BODY_PRESENCE;
  env.presence = &p;
  s_send(term, "term1", &env);
}

static void s_order(void *term, const char *order_id) {
  Duodiag__Merchant m = DUODIAG__MERCHANT__INIT;
  m.merchant_id = "m-1";
  m.name = "Shop One Ltd";
  Duodiag__Order o = DUODIAG__ORDER__INIT;
  o.order_id = (char *)order_id;
  o.session_id = "s1";
  o.merchant = &m;
  o.fee_minor = 3000;
  o.currency = "EUR";
  Duodiag__Envelope env;
  s_env(&env, "term1");
  env.body_case = DUODIAG__ENVELOPE__BODY_ORDER;
  env.order = &o;
  s_send(term, "term1", &env);
}

static void s_payment(void *fd, const char *pid, const char *order_id, const char *payer) {
  Duodiag__Payment p = DUODIAG__PAYMENT__INIT;
  p.payment_id = (char *)pid;
  p.order_id = (char *)order_id;
  p.amount_minor = 3000;
  p.currency = "EUR";
  p.payer_id = (char *)payer;
  Duodiag__Envelope env;
  s_env(&env, "fd1");
  env.body_case = DUODIAG__ENVELOPE__BODY_PAYMENT;
  env.payment = &p;
  s_send(fd, "fd1", &env);
}

static void s_write(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  ck_assert_ptr_nonnull(f);
  fputs(text, f);
  fclose(f);
}

/* ---- cloud ---- */

START_TEST(test_cloud_flows) {
  dd_rig_t *rig = NULL;
  ck_assert_int_eq(dd_rig_new(NULL, &rig), 0);
  char terms[1024], ep[512];
  snprintf(terms, sizeof terms, "%s/terminals.yaml", dd_rig_dir(rig));
  s_write(terms, "terminals:\n"
                 "  - {id: shop-static, makes: [Corvan], fee_minor: 5000, currency: EUR,\n"
                 "     online: true}\n"
                 "  - {id: shop-vel, makes: [Vellora], fee_minor: 4000, currency: EUR,\n"
                 "     online: true}\n");
  dd_rig_endpoint(rig, "cloud", ep, sizeof ep);
  const char *veh = DD_SOURCE_DIR "/ecu_models/vehicles";
  const char *args[] = {
      "--endpoint", ep,  "--vehicles", veh, "--terminals", terms, "--presence-timeout-ms",
      "2000",       NULL};
  ck_assert_int_eq(dd_rig_spawn(rig, "cloud", "cloud", args, S_READY_US), 0);
  void *fd = s_dealer(rig, "fd1", ep), *term = s_dealer(rig, "term1", ep);

  /* S102-S103: the registry. */
  s_vin_query(fd, S_CORVAN_VIN);
  Duodiag__Envelope *e = s_expect(fd, DUODIAG__ENVELOPE__BODY_VIN_INFO);
  ck_assert(e->vin_info->found);
  ck_assert_str_eq(e->vin_info->vin, S_CORVAN_VIN);
  ck_assert_str_eq(e->vin_info->make, "Corvan");
  ck_assert_str_eq(e->vin_info->model, "Meridian");
  ck_assert_uint_eq(e->vin_info->model_year, 2019);
  ck_assert_str_eq(e->vin_info->chassis_number, "MB2-104377");
  ck_assert_str_eq(e->vin_info->engine, "CV20G (2.0 L I4 petrol, port injection)");
  ck_assert_uint_ge(e->vin_info->n_ecus, 1);
  ck_assert_str_eq(e->vin_info->ecus[0]->name, "ECM");
  ck_assert_uint_eq(e->vin_info->ecus[0]->request_can_id, 0x7E0);
  ck_assert_uint_eq(e->vin_info->ecus[0]->response_can_id, 0x7E8);
  dd_wire_free(&e);
  s_vin_query(fd, "1HGCM82633A004352");
  e = s_expect(fd, DUODIAG__ENVELOPE__BODY_VIN_INFO);
  ck_assert(!e->vin_info->found);
  ck_assert_str_eq(e->vin_info->vin, "1HGCM82633A004352");
  ck_assert_str_eq(e->vin_info->make, "");
  dd_wire_free(&e);

  /* S11: the terminal registers its profile and is listed with the file's static ones. */
  Duodiag__TerminalInfo ti = DUODIAG__TERMINAL_INFO__INIT;
  char *makes[] = {"Corvan"};
  ti.terminal_id = "shop-1";
  ti.name = "Shop One";
  ti.n_makes = 1;
  ti.makes = makes;
  ti.fee_minor = 3000;
  ti.currency = "EUR";
  ti.rating_x10 = 45;
  ti.online = true;
  Duodiag__TerminalInfo *tip = &ti;
  Duodiag__TerminalList reg = DUODIAG__TERMINAL_LIST__INIT;
  reg.n_terminals = 1;
  reg.terminals = &tip;
  Duodiag__Envelope env;
  s_env(&env, "term1");
  env.body_case = DUODIAG__ENVELOPE__BODY_TERMINAL_LIST;
  env.terminal_list = &reg;
  s_send(term, "term1", &env);
  s_sync(term, "term1");
  char ids[512];
  s_list(fd, "Corvan", ids, sizeof ids);
  ck_assert_str_eq(ids, "shop-1 shop-static");
  s_list(fd, "", ids, sizeof ids);
  ck_assert_str_eq(ids, "shop-1 shop-static shop-vel");
  s_list(fd, "Daeyang", ids, sizeof ids);
  ck_assert_str_eq(ids, "");

  /* S14-S16: order, payment, the terminal's notice, an idempotent retry. */
  s_order(term, "o1");
  s_presence(term, true);
  s_sync(term, "term1");
  s_payment(fd, "p1", "o1", "owner-1");
  e = s_expect(fd, DUODIAG__ENVELOPE__BODY_PAYMENT_CONFIRMATION);
  ck_assert_str_eq(e->payment_confirmation->payment_id, "p1");
  ck_assert_str_eq(e->payment_confirmation->order_id, "o1");
  ck_assert(e->payment_confirmation->ok);
  ck_assert(!e->payment_confirmation->duplicate);
  ck_assert_int_eq(e->payment_confirmation->charged_minor, 3000);
  dd_wire_free(&e);
  e = s_expect(term, DUODIAG__ENVELOPE__BODY_PAYMENT_CONFIRMATION);
  ck_assert_str_eq(e->payment_confirmation->payment_id, "p1");
  ck_assert(e->payment_confirmation->ok);
  dd_wire_free(&e);
  s_payment(fd, "p1", "o1", "owner-1");
  e = s_expect(fd, DUODIAG__ENVELOPE__BODY_PAYMENT_CONFIRMATION);
  ck_assert(e->payment_confirmation->ok);
  ck_assert(e->payment_confirmation->duplicate);
  ck_assert_int_eq(e->payment_confirmation->charged_minor, 3000);
  dd_wire_free(&e);
  ck_assert_ptr_null(s_recv(term, 200)); /* no second notice */

  /* A scripted failure from the harness. */
  dd_ctl_result_t res;
  ck_assert_int_eq(
      dd_ctl_call(dd_rig_ctl(rig), dd_rig_loop(rig), "cloud", "action", "fail_payments",
                  "{\"payer\":\"owner-2\",\"reason\":\"card declined\"}", 5000000, &res),
      0);
  ck_assert(res.ok);
  ck_assert_int_eq(dd_ctl_call(dd_rig_ctl(rig), dd_rig_loop(rig), "cloud", "action",
                               "fail_payments", "{\"payer\":1}", 5000000, &res),
                   DD_EINVAL);
  ck_assert_int_eq(dd_ctl_call(dd_rig_ctl(rig), dd_rig_loop(rig), "cloud", "action", "levitate",
                               NULL, 5000000, &res),
                   DD_ENOTSUP);
  s_order(term, "o2");
  s_sync(term, "term1");
  s_payment(fd, "p2", "o2", "owner-2");
  e = s_expect(fd, DUODIAG__ENVELOPE__BODY_PAYMENT_CONFIRMATION);
  ck_assert(!e->payment_confirmation->ok);
  ck_assert_str_eq(e->payment_confirmation->reason, "card declined");
  ck_assert_int_eq(e->payment_confirmation->charged_minor, 0);
  dd_wire_free(&e);
  ck_assert_ptr_null(s_recv(term, 200));

  /* S11: without heartbeats the terminal drops off the list after the timeout (2 s). */
  bool gone = false;
  for (int i = 0; i < 60 && !gone; i++) {
    usleep(100000);
    s_list(fd, "Corvan", ids, sizeof ids);
    gone = !strcmp(ids, "shop-static");
  }
  ck_assert_msg(gone, "shop-1 still listed: %s", ids);

  zmq_close(fd);
  zmq_close(term);
  ck_assert_int_eq(dd_rig_stop_all(rig, 5000000), 0);
  S_EVENTS_EQ(rig, "cloud.up", "{\"vehicles\":3,\"terminals\":2}", 1);
  S_EVENTS_EQ(rig, "cloud.vin_query",
              "{\"vin\":\"" S_CORVAN_VIN "\",\"found\":true,\"make\":\"Corvan\"}", 1);
  S_EVENTS_EQ(rig, "cloud.vin_query", "{\"found\":false}", 1);
  S_EVENTS_EQ(rig, "cloud.terminal_registered",
              "{\"terminal\":\"shop-1\",\"ok\":true,\"from\":\"term1\"}", 1);
  S_EVENTS_EQ(rig, "cloud.presence", "{\"terminal\":\"shop-1\",\"online\":true}", 1);
  S_EVENTS_EQ(rig, "cloud.presence",
              "{\"terminal\":\"shop-1\",\"online\":false,\"why\":\"timeout\"}", 1);
  S_EVENTS_EQ(rig, "cloud.order", "{\"order_id\":\"o1\",\"ok\":true}", 1);
  S_EVENTS_EQ(rig, "cloud.payment",
              "{\"payment_id\":\"p1\",\"order_id\":\"o1\",\"amount\":3000,\"ok\":true,"
              "\"duplicate\":false,\"terminal\":\"shop-1\"}",
              1);
  S_EVENTS_EQ(rig, "cloud.payment", "{\"payment_id\":\"p1\",\"ok\":true,\"duplicate\":true}", 1);
  S_EVENTS_EQ(rig, "cloud.payment_notify", "{\"payment_id\":\"p1\",\"to\":\"term1\",\"sent\":true}",
              1);
  S_EVENTS_EQ(rig, "cloud.payment",
              "{\"payment_id\":\"p2\",\"ok\":false,\"reason\":\"card declined\"}", 1);
  S_EVENTS_EQ(rig, "cloud.failure_rule", "{\"match\":\"payer\",\"value\":\"owner-2\"}", 1);
  S_EVENTS_EQ(rig, "cloud.ledger_terminal",
              "{\"terminal\":\"shop-1\",\"charged_minor\":3000,\"payments\":1}", 1);
  S_EVENTS_EQ(rig, "cloud.ledger_summary",
              "{\"payments\":2,\"charged\":1,\"refused\":1,\"duplicates\":1}", 1);
  S_EVENTS_EQ(rig, "proc.stopped", "{\"exit\":0}", 1);
  dd_rig_destroy(&rig);
}
END_TEST

START_TEST(test_cloud_bad_usage) {
  dd_rig_t *rig = NULL;
  ck_assert_int_eq(dd_rig_new(NULL, &rig), 0);
  char ep[512], terms[1024], tail[2048];
  dd_rig_endpoint(rig, "cloud", ep, sizeof ep);
  /* No vehicles. */
  const char *a1[] = {"--endpoint", ep, NULL};
  ck_assert_int_eq(dd_rig_spawn(rig, "c1", "cloud", a1, S_READY_US), DD_ECHILD_FAILED);
  int code = -1;
  ck_assert(dd_child_exited(dd_rig_child(rig, "c1"), &code, NULL));
  ck_assert_int_eq(code, 2);
  dd_child_tail(dd_rig_child(rig, "c1"), tail, sizeof tail, 5);
  ck_assert_ptr_nonnull(strstr(tail, "--vehicles is required"));
  /* A terminals file with a mistake: exit 2 and the place of the mistake in the log. */
  snprintf(terms, sizeof terms, "%s/bad.yaml", dd_rig_dir(rig));
  s_write(terms, "terminals:\n  - id: x\n    fee_minor: -5\n");
  const char *a2[] = {"--endpoint",  ep,    "--vehicles", DD_SOURCE_DIR "/ecu_models/vehicles",
                      "--terminals", terms, NULL};
  ck_assert_int_eq(dd_rig_spawn(rig, "c2", "cloud", a2, S_READY_US), DD_ECHILD_FAILED);
  ck_assert(dd_child_exited(dd_rig_child(rig, "c2"), &code, NULL));
  ck_assert_int_eq(code, 2);
  dd_child_tail(dd_rig_child(rig, "c2"), tail, sizeof tail, 5);
  ck_assert_ptr_nonnull(strstr(tail, "bad.yaml:3:16: terminals[0].fee_minor"));
  /* A relay limit that is no number. */
  const char *a3[] = {"--endpoint", ep, "--buffer-msgs", "many", NULL};
  ck_assert_int_eq(dd_rig_spawn(rig, "r1", "relay", a3, S_READY_US), DD_ECHILD_FAILED);
  ck_assert(dd_child_exited(dd_rig_child(rig, "r1"), &code, NULL));
  ck_assert_int_eq(code, 2);
  dd_rig_stop_all(rig, 1000000);
  dd_rig_destroy(&rig);
}
END_TEST

/* ---- relay ---- */

static void s_forward(void *s, const char *sender, const char *session, const char *to,
                      const char *text) {
  Duodiag__RelayForward fw = DUODIAG__RELAY_FORWARD__INIT;
  fw.session_id = (char *)session;
  fw.destination = (char *)to;
  fw.inner.data = (uint8_t *)text;
  fw.inner.len = strlen(text);
  Duodiag__Envelope env;
  s_env(&env, sender);
  env.body_case = DUODIAG__ENVELOPE__BODY_RELAY_FORWARD;
  env.relay_forward = &fw;
  s_send(s, sender, &env);
}

/* Expect a RelayForward with this inner text on s. */
static void s_expect_fw(void *s, const char *session, const char *to, const char *text) {
  Duodiag__Envelope *e = s_expect(s, DUODIAG__ENVELOPE__BODY_RELAY_FORWARD);
  ck_assert_str_eq(e->relay_forward->session_id, session);
  ck_assert_str_eq(e->relay_forward->destination, to);
  ck_assert_uint_eq(e->relay_forward->inner.len, strlen(text));
  ck_assert_mem_eq(e->relay_forward->inner.data, text, strlen(text));
  dd_wire_free(&e);
}

START_TEST(test_relay_store_and_forward) {
  dd_rig_t *rig = NULL;
  ck_assert_int_eq(dd_rig_new(NULL, &rig), 0);
  char ep[512];
  dd_rig_endpoint(rig, "relay", ep, sizeof ep);
  const char *args[] = {"--endpoint", ep, "--buffer-msgs", "4", "--retry-ms", "50", NULL};
  ck_assert_int_eq(dd_rig_spawn(rig, "relay", "relay", args, S_READY_US), 0);
  void *fd = s_dealer(rig, "fd", ep);
  /* The service device is not there yet: four records wait, the fifth is refused. */
  char txt[32];
  for (int i = 1; i <= 4; i++) {
    snprintf(txt, sizeof txt, "record-%d", i);
    s_forward(fd, "fd", "s1", "svc", txt);
  }
  s_sync(fd, "fd");
  s_forward(fd, "fd", "s1", "svc", "record-5");
  Duodiag__Envelope *e = s_expect(fd, DUODIAG__ENVELOPE__BODY_RELAY_ERROR);
  ck_assert_str_eq(e->relay_error->session_id, "s1");
  ck_assert_int_eq(e->relay_error->code, DD_ENOSPC);
  ck_assert_str_eq(e->relay_error->text, "session s1: relay buffer full (4 messages / 1048576 "
                                         "bytes); message dropped");
  dd_wire_free(&e);
  /* It connects and says hello: the four arrive in order, then the echo of the hello. */
  void *svc = s_dealer(rig, "svc", ep);
  s_forward(svc, "svc", "s1", "svc", "hello");
  for (int i = 1; i <= 4; i++) {
    snprintf(txt, sizeof txt, "record-%d", i);
    s_expect_fw(svc, "s1", "svc", txt);
  }
  s_expect_fw(svc, "s1", "svc", "hello");
  /* Now both ways straight through. */
  s_forward(fd, "fd", "s1", "svc", "record-6");
  s_expect_fw(svc, "s1", "svc", "record-6");
  s_forward(svc, "svc", "s1", "fd", "ack-6");
  s_expect_fw(fd, "s1", "fd", "ack-6");
  /* A third party is kept out of the session. */
  void *x = s_dealer(rig, "intruder", ep);
  s_forward(x, "intruder", "s1", "svc", "spoof");
  e = s_expect(x, DUODIAG__ENVELOPE__BODY_RELAY_ERROR);
  ck_assert_int_eq(e->relay_error->code, DD_EPERM);
  dd_wire_free(&e);
  ck_assert_ptr_null(s_recv(svc, 200));
  /* The service device goes away; what comes meanwhile waits and follows it when it is back. */
  zmq_close(svc);
  usleep(300000);
  s_forward(fd, "fd", "s1", "svc", "record-7");
  s_sync(fd, "fd");
  usleep(200000);
  svc = s_dealer(rig, "svc", ep);
  s_forward(svc, "svc", "s1", "svc", "hello-again");
  s_expect_fw(svc, "s1", "svc", "record-7");
  s_expect_fw(svc, "s1", "svc", "hello-again");
  dd_ctl_result_t res;
  ck_assert_int_eq(dd_ctl_call(dd_rig_ctl(rig), dd_rig_loop(rig), "relay", "action", "stats", NULL,
                               5000000, &res),
                   0);
  zmq_close(fd);
  zmq_close(svc);
  zmq_close(x);
  ck_assert_int_eq(dd_rig_stop_all(rig, 5000000), 0);
  S_EVENTS_EQ(rig, "relay.up", "{\"buffer_msgs\":4}", 1);
  S_EVENTS_EQ(rig, "relay.session_open", "{\"session\":\"s1\",\"from\":\"fd\",\"to\":\"svc\"}", 1);
  S_EVENTS_EQ(rig, "relay.buffer_full",
              "{\"session\":\"s1\",\"from\":\"fd\",\"to\":\"svc\",\"max_msgs\":4}", 1);
  S_EVENTS_EQ(rig, "relay.flushed", "{\"session\":\"s1\",\"party\":\"svc\",\"messages\":4}", 1);
  S_EVENTS_EQ(rig, "relay.flushed", "{\"session\":\"s1\",\"party\":\"svc\",\"messages\":1}", 1);
  S_EVENTS_EQ(rig, "relay.end_absent", "{\"party\":\"svc\"}", 2);
  S_EVENTS_EQ(rig, "relay.refused", "{\"from\":\"intruder\",\"code\":\"DD_EPERM\"}", 1);
  /* received: 4 + hello + 6 + ack + 7 + hello-again = 9 (record-5 and spoof refused). */
  S_EVENTS_EQ(rig, "relay.summary",
              "{\"received\":9,\"forwarded\":9,\"dropped_full\":1,\"refused\":1,\"late\":5,"
              "\"queued_msgs\":0}",
              1);
  dd_rig_destroy(&rig);
}
END_TEST

START_TEST(test_relay_restart_loses_buffer) {
  dd_rig_t *rig = NULL;
  ck_assert_int_eq(dd_rig_new(NULL, &rig), 0);
  char ep[512];
  dd_rig_endpoint(rig, "relay", ep, sizeof ep);
  const char *args[] = {"--endpoint", ep, "--retry-ms", "50", NULL};
  ck_assert_int_eq(dd_rig_spawn(rig, "relay", "relay", args, S_READY_US), 0);
  void *fd = s_dealer(rig, "fd", ep);
  s_forward(fd, "fd", "s1", "svc", "lost-1");
  s_forward(fd, "fd", "s1", "svc", "lost-2");
  s_sync(fd, "fd");
  /* The harness kills the relay and starts it again on the same endpoint. */
  struct dd_child *c = dd_rig_child(rig, "relay");
  ck_assert_int_eq(kill(dd_child_pid(c), SIGKILL), 0);
  int sig = 0;
  for (int i = 0; i < 500 && !dd_child_exited(c, NULL, &sig); i++)
    usleep(10000);
  ck_assert_int_eq(sig, SIGKILL);
  ck_assert_int_eq(dd_rig_spawn(rig, "relay-2", "relay", args, S_READY_US), 0);
  /* Both ends reconnect by themselves; what the old relay held is gone. */
  void *svc = s_dealer(rig, "svc", ep);
  s_sync(svc, "svc");
  s_forward(svc, "svc", "s1", "svc", "hello");
  s_expect_fw(svc, "s1", "svc", "hello");
  ck_assert_ptr_null(s_recv(svc, 300));
  /* The first device's retransmission is what gets the data across. */
  s_sync(fd, "fd");
  s_forward(fd, "fd", "s1", "svc", "lost-1");
  s_forward(fd, "fd", "s1", "svc", "lost-2");
  s_expect_fw(svc, "s1", "svc", "lost-1");
  s_expect_fw(svc, "s1", "svc", "lost-2");
  zmq_close(fd);
  zmq_close(svc);
  ck_assert_int_eq(dd_rig_stop_all(rig, 5000000), 1); /* the killed one */
  S_EVENTS_EQ(rig, "relay.up", NULL, 2);
  S_EVENTS_EQ(rig, "relay.summary", NULL, 1);
  S_EVENTS_EQ(rig, "relay.summary", "{\"received\":3,\"forwarded\":3}", 1);
  dd_rig_destroy(&rig);
}
END_TEST

int main(void) {
  Suite *s = suite_create("cloud_proc");
  TCase *tc = tcase_create("processes");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_cloud_flows);
  tcase_add_test(tc, test_cloud_bad_usage);
  tcase_add_test(tc, test_relay_store_and_forward);
  tcase_add_test(tc, test_relay_restart_loses_buffer);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
