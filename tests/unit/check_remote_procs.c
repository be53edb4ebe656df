/* check_remote_procs: the remote parties as real processes under the harness (dd_rig): cloud,
 * relay, two terminals (one accepting, one refusing), the service device and the second device.
 * The test plays the first device with its own DEALER and UDP sockets, speaking the messages of
 * docs/FLOWS.md: S11 (the terminals are listed), S12-S17 and S2 with the payment through the
 * cloud, a refusing terminal, S3 with a wrong and a right token, vehicle records over UDP and
 * the relay with duplicates and reordering on purpose (the second device must get each exactly
 * once, in order), S41/S5 technician commands, and a programming package that reaches the fake
 * first device and resumes after it stops acknowledging. Then it checks the timeline. */
#include <arpa/inet.h>
#include <check.h>
#include <jansson.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zmq.h>

#include "dd_err.h"
#include "dd_package.h"
#include "dd_rig.h"
#include "dd_wire.h"

#define S_READY_US 20000000ull
#define S_TOKEN "tok-42"
#define S_VIN "4CVBS2KA6KT104377"

static uint64_t s_seq;
static dd_rig_t *s_rig;

/* ---- helpers ---- */

static void *s_dealer(const char *id, const char *ep) {
  void *s = zmq_socket(dd_rig_zctx(s_rig), ZMQ_DEALER);
  ck_assert_ptr_nonnull(s);
  int linger = 0;
  zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
  zmq_setsockopt(s, ZMQ_ROUTING_ID, id, strlen(id));
  dd_wire_limit_socket(s);
  ck_assert_int_eq(zmq_connect(s, ep), 0);
  return s;
}

static void s_env(Duodiag__Envelope *env) { dd_wire_envelope_init(env, "fd1", ++s_seq, 1); }

static void s_send(void *s, Duodiag__Envelope *env) {
  dd_wire_reason_t why = DD_WIRE_R__COUNT;
  int rc = dd_wire_check(env, &why);
  ck_assert_msg(rc == 0, "%s breaks the wire rules: %s", dd_wire_body_name(env),
                dd_wire_reason_name((int)why));
  ck_assert_int_eq(dd_wire_send(s, env, 0), 0);
}

/* Step the harness loop (collector, control) for about ms milliseconds. */
static void s_pump(int ms) {
  for (int i = 0; i < ms / 5 + 1; i++) dd_loop_step(dd_rig_loop(s_rig), 5000);
}

/* The next envelope on s within timeout_ms (the harness loop keeps running), or NULL. */
static Duodiag__Envelope *s_recv(void *s, int timeout_ms) {
  for (int waited = 0; waited <= timeout_ms; waited += 10) {
    zmq_pollitem_t it = {s, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&it, 1, 5) > 0) {
      Duodiag__Envelope *env = NULL;
      ck_assert_int_eq(dd_wire_recv(s, &env, NULL, 0), 0);
      return env;
    }
    dd_loop_step(dd_rig_loop(s_rig), 5000);
  }
  return NULL;
}

/* Like s_recv, but VehicleAcks (which the service device may repeat at any time) are skipped. */
static Duodiag__Envelope *s_recv_no_ack(void *s, int timeout_ms) {
  Duodiag__Envelope *env;
  while ((env = s_recv(s, timeout_ms)) && env->body_case == DUODIAG__ENVELOPE__BODY_VEHICLE_ACK)
    dd_wire_free(&env);
  return env;
}

/* The next envelope on s, which must be of kind body (VehicleAcks skipped unless asked for). */
static Duodiag__Envelope *s_expect(void *s, Duodiag__Envelope__BodyCase body) {
  Duodiag__Envelope *env = body == DUODIAG__ENVELOPE__BODY_VEHICLE_ACK ? s_recv(s, 5000)
                                                                       : s_recv_no_ack(s, 5000);
  ck_assert_msg(env != NULL, "no %d", body);
  ck_assert_msg(env->body_case == body, "got %s, want %d", dd_wire_body_name(env), body);
  return env;
}

static int s_events_seen(const char *kind, const char *match, char *seen, size_t cap) {
  char path[1024];
  snprintf(path, sizeof path, "%s/timeline.jsonl", dd_rig_dir(s_rig));
  FILE *f = fopen(path, "r");
  ck_assert_ptr_nonnull(f);
  json_t *m = json_loads(match ? match : "{}", 0, NULL);
  ck_assert_ptr_nonnull(m);
  static char line[16384];
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

#define S_EVENTS_EQ(kind, match, n)                                                                \
  do {                                                                                             \
    static char seen_[8192];                                                                       \
    int got_ = s_events_seen((kind), (match), seen_, sizeof seen_);                                \
    ck_assert_msg(got_ == (n), "%d %s events match %s, want %d; all of that kind:\n%s", got_,      \
                  (kind), (match) ? (match) : "{}", (n), seen_);                                   \
  } while (0)

#define S_EVENTS_GE(kind, match, n)                                                                \
  do {                                                                                             \
    static char seen_[8192];                                                                       \
    int got_ = s_events_seen((kind), (match), seen_, sizeof seen_);                                \
    ck_assert_msg(got_ >= (n), "%d %s events match %s, want >= %d; all of that kind:\n%s", got_,   \
                  (kind), (match) ? (match) : "{}", (n), seen_);                                   \
  } while (0)

/* A free UDP port on 127.0.0.1 (bound and released; the service binds it right after). */
static int s_free_udp_port(void) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
  socklen_t l = sizeof a;
  getsockname(fd, (struct sockaddr *)&a, &l);
  close(fd);
  return ntohs(a.sin_port);
}

/* S11: the ids listed for make (joined by spaces). */
static void s_list(void *cloud, const char *make, char *ids, size_t cap) {
  Duodiag__TerminalListRequest q = DUODIAG__TERMINAL_LIST_REQUEST__INIT;
  q.make_filter = (char *)make;
  Duodiag__Envelope env;
  s_env(&env);
  env.body_case = DUODIAG__ENVELOPE__BODY_TERMINAL_LIST_REQUEST;
  env.terminal_list_request = &q;
  s_send(cloud, &env);
  Duodiag__Envelope *e = s_expect(cloud, DUODIAG__ENVELOPE__BODY_TERMINAL_LIST);
  ids[0] = '\0';
  for (size_t i = 0; i < e->terminal_list->n_terminals; i++) {
    size_t used = strlen(ids);
    snprintf(ids + used, cap - used, "%s%s", i ? " " : "", e->terminal_list->terminals[i]->terminal_id);
    if (!strcmp(e->terminal_list->terminals[i]->terminal_id, "shop-1")) {
      ck_assert_str_eq(e->terminal_list->terminals[i]->name, "Shop One");
      ck_assert_int_eq(e->terminal_list->terminals[i]->fee_minor, 3000);
      ck_assert_uint_eq(e->terminal_list->terminals[i]->rating_x10, 45);
    }
  }
  dd_wire_free(&e);
}

static void s_open(void *im, const char *session, const char *terminal) {
  Duodiag__SessionOpen o = DUODIAG__SESSION_OPEN__INIT;
  o.session_id = (char *)session;
  o.terminal_id = (char *)terminal;
  o.owner_id = "owner-1";
  o.vin = S_VIN;
  Duodiag__Envelope env;
  s_env(&env);
  env.body_case = DUODIAG__ENVELOPE__BODY_SESSION_OPEN;
  env.session_open = &o;
  s_send(im, &env);
}

static void s_im_request(void *im, const char *session) {
  Duodiag__ImRequest q = DUODIAG__IM_REQUEST__INIT;
  q.session_id = (char *)session;
  q.media = DUODIAG__IM_REQUEST__MEDIA__VIDEO;
  Duodiag__Envelope env;
  s_env(&env);
  env.body_case = DUODIAG__ENVELOPE__BODY_IM_REQUEST;
  env.im_request = &q;
  s_send(im, &env);
}

/* A VehicleRecord envelope encoded into buf; returns its length. */
static size_t s_record(uint64_t seq, int path, const uint8_t *payload, size_t plen, bool last,
                       uint8_t *buf, size_t cap) {
  Duodiag__VehicleRecord r = DUODIAG__VEHICLE_RECORD__INIT;
  r.session_id = "s1";
  r.seq = seq;
  r.request_id = 1;
  r.sampled_us = seq * 1000;
  r.path = path;
  r.payload.data = (uint8_t *)payload;
  r.payload.len = plen;
  r.ecu_id = 0x7E0;
  r.last = last;
  Duodiag__Envelope env;
  s_env(&env);
  env.body_case = DUODIAG__ENVELOPE__BODY_VEHICLE_RECORD;
  env.vehicle_record = &r;
  size_t len = 0;
  ck_assert_int_eq(dd_wire_encode(&env, buf, cap, &len), 0);
  return len;
}

static void s_udp_record(int udp, const struct sockaddr_in *to, uint64_t seq, const uint8_t *p,
                         size_t plen, bool last) {
  uint8_t buf[2048];
  size_t len = s_record(seq, 1, p, plen, last, buf, sizeof buf - DD_WIRE_DGRAM_TRAILER);
  uint32_t crc = dd_wire_crc32c(buf, len); /* the datagram trailer (dd_wire.h) */
  for (int k = 0; k < 4; k++) buf[len++] = (uint8_t)(crc >> (24 - 8 * k));
  ck_assert_int_eq(sendto(udp, buf, len, 0, (const struct sockaddr *)to, sizeof *to), (ssize_t)len);
}

static void s_relay_record(void *relay, uint64_t seq, const uint8_t *p, size_t plen, bool last) {
  uint8_t buf[2048];
  Duodiag__RelayForward fw = DUODIAG__RELAY_FORWARD__INIT;
  fw.session_id = "s1";
  fw.destination = "svc";
  fw.inner.data = buf;
  fw.inner.len = s_record(seq, 2, p, plen, last, buf, sizeof buf);
  Duodiag__Envelope env;
  s_env(&env);
  env.body_case = DUODIAG__ENVELOPE__BODY_RELAY_FORWARD;
  env.relay_forward = &fw;
  s_send(relay, &env);
}

static void s_program_ack(void *svc, const char *pkg, uint64_t next) {
  Duodiag__ProgramAck a = DUODIAG__PROGRAM_ACK__INIT;
  a.package_id = (char *)pkg;
  a.next_offset = next;
  Duodiag__Envelope env;
  s_env(&env);
  env.body_case = DUODIAG__ENVELOPE__BODY_PROGRAM_ACK;
  env.program_ack = &a;
  s_send(svc, &env);
}

static void s_program_status(void *s, const char *pkg, int phase, unsigned percent) {
  Duodiag__ProgramStatus st = DUODIAG__PROGRAM_STATUS__INIT;
  st.package_id = (char *)pkg;
  st.phase = phase;
  st.percent = percent;
  Duodiag__Envelope env;
  s_env(&env);
  env.body_case = DUODIAG__ENVELOPE__BODY_PROGRAM_STATUS;
  env.program_status = &st;
  s_send(s, &env);
}

static void s_call(const char *proc, const char *key, const char *args, int want) {
  dd_ctl_result_t res;
  int rc = dd_ctl_call(dd_rig_ctl(s_rig), dd_rig_loop(s_rig), proc, "action", key, args, 5000000,
                       &res);
  ck_assert_msg(rc == want, "%s %s %s: %d (%s)", proc, key, args, rc, res.text);
}

/* ---- the test ---- */

START_TEST(test_remote_flows) {
  ck_assert_int_eq(dd_rig_new(NULL, &s_rig), 0);
  char cloud_ep[512], relay_ep[512], svc_ep[512], im1_ep[512], im2_ep[512], udp_ep[64],
      port_s[16];
  dd_rig_endpoint(s_rig, "cloud", cloud_ep, sizeof cloud_ep);
  dd_rig_endpoint(s_rig, "relay", relay_ep, sizeof relay_ep);
  dd_rig_endpoint(s_rig, "svc", svc_ep, sizeof svc_ep);
  dd_rig_endpoint(s_rig, "im1", im1_ep, sizeof im1_ep);
  dd_rig_endpoint(s_rig, "im2", im2_ep, sizeof im2_ep);
  int port = s_free_udp_port();
  snprintf(udp_ep, sizeof udp_ep, "127.0.0.1:%d", port);
  snprintf(port_s, sizeof port_s, "%d", port);

  const char *cloud_args[] = {"--endpoint", cloud_ep, "--vehicles",
                              DD_SOURCE_DIR "/ecu_models/vehicles", NULL};
  ck_assert_int_eq(dd_rig_spawn(s_rig, "cloud", "cloud", cloud_args, S_READY_US), 0);
  const char *relay_args[] = {"--endpoint", relay_ep, "--retry-ms", "50", NULL};
  ck_assert_int_eq(dd_rig_spawn(s_rig, "relay", "relay", relay_args, S_READY_US), 0);
  const char *svc_args[] = {"--endpoint", svc_ep,  "--udp",   udp_ep,  "--relay",   relay_ep,
                            "--id",       "svc",   "--token", S_TOKEN, "--chunk",   "4096",
                            "--stall-ms", "300",   NULL};
  ck_assert_int_eq(dd_rig_spawn(s_rig, "svc", "service", svc_args, S_READY_US), 0);
  const char *t1_args[] = {"--endpoint", im1_ep, "--cloud", cloud_ep, "--id", "shop-1",
                           "--display-name", "Shop One", "--makes", "Corvan,Vellora", "--fee",
                           "3000", "--currency", "EUR", "--rating", "45", "--service-endpoint",
                           svc_ep, "--udp-endpoint", udp_ep, "--relay-endpoint", relay_ep,
                           "--token", S_TOKEN, NULL};
  ck_assert_int_eq(dd_rig_spawn(s_rig, "term1", "terminal", t1_args, S_READY_US), 0);
  const char *t2_args[] = {"--endpoint", im2_ep, "--cloud", cloud_ep, "--id", "shop-2",
                           "--makes", "Corvan", "--fee", "2000", "--accept", "no",
                           "--reject-reason", "closed today", "--service-endpoint", svc_ep, NULL};
  ck_assert_int_eq(dd_rig_spawn(s_rig, "term2", "terminal", t2_args, S_READY_US), 0);
  const char *sd_args[] = {"--service", svc_ep, "--id", "second-1", NULL};
  ck_assert_int_eq(dd_rig_spawn(s_rig, "second", "second", sd_args, S_READY_US), 0);

  void *cloud = s_dealer("fd1", cloud_ep), *im1 = s_dealer("fd1", im1_ep),
       *im2 = s_dealer("fd1", im2_ep), *svc = s_dealer("fd1", svc_ep),
       *relay = s_dealer("fd1", relay_ep);

  /* S11: both terminals listed once they have registered. */
  char ids[256] = "";
  for (int i = 0; i < 40 && strcmp(ids, "shop-1 shop-2"); i++) {
    s_list(cloud, "corvan", ids, sizeof ids);
    if (strcmp(ids, "shop-1 shop-2")) s_pump(50);
  }
  ck_assert_str_eq(ids, "shop-1 shop-2");
  s_list(cloud, "Vellora", ids, sizeof ids);
  ck_assert_str_eq(ids, "shop-1");

  /* S12: the session window with a text (answered) and a picture (counted). */
  s_open(im1, "s1", "shop-1");
  Duodiag__SessionMessage m = DUODIAG__SESSION_MESSAGE__INIT;
  m.session_id = "s1";
  m.seq = 1;
  m.kind = DUODIAG__SESSION_MESSAGE__KIND__TEXT;
  m.payload.data = (uint8_t *)"engine shakes at idle";
  m.payload.len = strlen("engine shakes at idle");
  Duodiag__Envelope env;
  s_env(&env);
  env.body_case = DUODIAG__ENVELOPE__BODY_SESSION_MESSAGE;
  env.session_message = &m;
  s_send(im1, &env);
  Duodiag__Envelope *e = s_expect(im1, DUODIAG__ENVELOPE__BODY_SESSION_MESSAGE);
  ck_assert_int_eq(e->session_message->kind, DUODIAG__SESSION_MESSAGE__KIND__TEXT);
  ck_assert_uint_eq(e->session_message->payload.len, strlen("re: engine shakes at idle"));
  ck_assert_mem_eq(e->session_message->payload.data, "re: engine shakes at idle",
                   e->session_message->payload.len);
  dd_wire_free(&e);
  uint8_t pic[300] = {0xFF, 0xD8};
  m.seq = 2;
  m.kind = DUODIAG__SESSION_MESSAGE__KIND__PICTURE;
  m.payload.data = pic;
  m.payload.len = sizeof pic;
  m.mime = "image/jpeg";
  s_env(&env);
  env.body_case = DUODIAG__ENVELOPE__BODY_SESSION_MESSAGE;
  env.session_message = &m;
  s_send(im1, &env);

  /* S13-S14: accepted; the order arrives. */
  s_im_request(im1, "s1");
  e = s_expect(im1, DUODIAG__ENVELOPE__BODY_IM_ANSWER);
  ck_assert(e->im_answer->accepted);
  dd_wire_free(&e);
  e = s_expect(im1, DUODIAG__ENVELOPE__BODY_ORDER);
  char order_id[64];
  snprintf(order_id, sizeof order_id, "%s", e->order->order_id);
  ck_assert_str_eq(e->order->session_id, "s1");
  ck_assert_int_eq(e->order->fee_minor, 3000);
  ck_assert_str_eq(e->order->currency, "EUR");
  ck_assert_str_eq(e->order->merchant->name, "Shop One");
  dd_wire_free(&e);

  /* S15-S16: go ahead and pay through the cloud. */
  Duodiag__OrderDecision d = DUODIAG__ORDER_DECISION__INIT;
  d.order_id = order_id;
  d.accept = true;
  s_env(&env);
  env.body_case = DUODIAG__ENVELOPE__BODY_ORDER_DECISION;
  env.order_decision = &d;
  s_send(im1, &env);
  Duodiag__Payment pay = DUODIAG__PAYMENT__INIT;
  pay.payment_id = "p1";
  pay.order_id = order_id;
  pay.amount_minor = 3000;
  pay.currency = "EUR";
  pay.payer_id = "owner-1";
  s_env(&env);
  env.body_case = DUODIAG__ENVELOPE__BODY_PAYMENT;
  env.payment = &pay;
  s_send(cloud, &env);
  e = s_expect(cloud, DUODIAG__ENVELOPE__BODY_PAYMENT_CONFIRMATION);
  ck_assert(e->payment_confirmation->ok);
  dd_wire_free(&e);

  /* S17 and S2 from the terminal. */
  e = s_expect(im1, DUODIAG__ENVELOPE__BODY_CONNECT_REQUEST_SIGNAL);
  ck_assert_str_eq(e->connect_request_signal->order_id, order_id);
  ck_assert_int_eq(e->connect_request_signal->media, DUODIAG__IM_REQUEST__MEDIA__VIDEO);
  dd_wire_free(&e);
  e = s_expect(im1, DUODIAG__ENVELOPE__BODY_CONNECTION_ADDRESS);
  ck_assert_str_eq(e->connection_address->service_endpoint, svc_ep);
  ck_assert_str_eq(e->connection_address->udp_endpoint, udp_ep);
  ck_assert_str_eq(e->connection_address->relay_endpoint, relay_ep);
  ck_assert_str_eq(e->connection_address->token, S_TOKEN);
  dd_wire_free(&e);

  /* The refusing terminal. */
  s_open(im2, "s2", "shop-2");
  s_im_request(im2, "s2");
  e = s_expect(im2, DUODIAG__ENVELOPE__BODY_IM_ANSWER);
  ck_assert(!e->im_answer->accepted);
  ck_assert_str_eq(e->im_answer->reason, "closed today");
  dd_wire_free(&e);
  ck_assert_ptr_null(s_recv(im2, 200)); /* no order */

  /* S3: a wrong token is refused, the right one accepted. */
  Duodiag__ServiceHello h = DUODIAG__SERVICE_HELLO__INIT;
  h.session_id = "s1";
  h.token = "wrong";
  h.device_id = "fd1";
  h.vin = S_VIN;
  s_env(&env);
  env.body_case = DUODIAG__ENVELOPE__BODY_SERVICE_HELLO;
  env.service_hello = &h;
  s_send(svc, &env);
  e = s_expect(svc, DUODIAG__ENVELOPE__BODY_SERVICE_WELCOME);
  ck_assert(!e->service_welcome->accepted);
  dd_wire_free(&e);
  h.token = S_TOKEN;
  s_env(&env);
  env.body_case = DUODIAG__ENVELOPE__BODY_SERVICE_HELLO;
  env.service_hello = &h;
  s_send(svc, &env);
  e = s_expect(svc, DUODIAG__ENVELOPE__BODY_SERVICE_WELCOME);
  ck_assert(e->service_welcome->accepted);
  ck_assert_uint_eq(e->service_welcome->next_record_seq, 1);
  ck_assert_str_eq(e->service_welcome->service_id, "svc");
  dd_wire_free(&e);
  s_pump(100); /* the service's relay hello */

  /* S43: a probe on the direct path. */
  int udp = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  Duodiag__Probe pr = DUODIAG__PROBE__INIT;
  pr.probe_id = 77;
  pr.sent_us = 5;
  s_env(&env);
  env.body_case = DUODIAG__ENVELOPE__BODY_PROBE;
  env.probe = &pr;
  uint8_t pbuf[256];
  size_t plen;
  ck_assert_int_eq(dd_wire_encode_datagram(&env, pbuf, sizeof pbuf, &plen), 0);
  ck_assert_int_eq(sendto(udp, pbuf, plen, 0, (struct sockaddr *)&to, sizeof to), (ssize_t)plen);
  struct timeval tv = {.tv_sec = 5};
  setsockopt(udp, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ssize_t got = recv(udp, pbuf, sizeof pbuf, 0);
  ck_assert_int_gt(got, 0);
  ck_assert_int_eq(dd_wire_decode_datagram(pbuf, (size_t)got, &e, NULL), 0);
  ck_assert_int_eq(e->body_case, DUODIAG__ENVELOPE__BODY_PROBE_ECHO);
  ck_assert_uint_eq(e->probe_echo->probe_id, 77);
  dd_wire_free(&e);

  /* S4: records on both paths, out of order and duplicated on purpose. Record 5 holds DTCs
   * P0301 and P0171 (SAE J1979 $43 response) and ends the request. */
  static const uint8_t live[] = {0x41, 0x0C, 0x0F, 0xA0};
  static const uint8_t dtcs[] = {0x43, 0x02, 0x03, 0x01, 0x01, 0x71};
  s_udp_record(udp, &to, 1, live, sizeof live, false);
  s_udp_record(udp, &to, 3, live, sizeof live, false);
  s_relay_record(relay, 2, live, sizeof live, false);
  s_udp_record(udp, &to, 1, live, sizeof live, false);
  s_relay_record(relay, 5, dtcs, sizeof dtcs, true);
  s_udp_record(udp, &to, 4, live, sizeof live, false);
  s_relay_record(relay, 3, live, sizeof live, false);
  uint64_t cum = 0;
  for (int i = 0; i < 50 && cum < 5; i++) {
    e = s_recv(svc, 2000);
    ck_assert_ptr_nonnull(e);
    if (e->body_case == DUODIAG__ENVELOPE__BODY_VEHICLE_ACK) {
      ck_assert_str_eq(e->vehicle_ack->session_id, "s1");
      ck_assert_uint_ge(e->vehicle_ack->cumulative, cum);
      cum = e->vehicle_ack->cumulative;
    }
    dd_wire_free(&e);
  }
  ck_assert_uint_eq(cum, 5);

  /* S41 and S5 from the technician. */
  s_call("term1", "request", "{\"kind\":\"live_pids\",\"pids\":[12,\"0x0D\"],\"rate_hz\":5,\"count\":10}", 0);
  e = s_expect(im1, DUODIAG__ENVELOPE__BODY_VEHICLE_DATA_REQUEST);
  ck_assert_int_eq(e->vehicle_data_request->kind, DUODIAG__VEHICLE_DATA_REQUEST__KIND__LIVE_PIDS);
  ck_assert_uint_eq(e->vehicle_data_request->n_items, 2);
  ck_assert_uint_eq(e->vehicle_data_request->items[1], 0x0D);
  ck_assert_uint_eq(e->vehicle_data_request->count, 10);
  dd_wire_free(&e);
  s_call("term1", "request", "{\"kind\":\"levitate\"}", DD_EINVAL);
  s_call("term1", "control", "{\"action\":\"io_control\",\"ecu_id\":\"0x7E0\",\"ids\":[\"0xF000\"],\"args_hex\":\"03 01\"}", 0);
  e = s_expect(im1, DUODIAG__ENVELOPE__BODY_CONTROL_SIGNAL);
  ck_assert_int_eq(e->control_signal->action, DUODIAG__CONTROL_SIGNAL__ACTION__IO_CONTROL);
  ck_assert_uint_eq(e->control_signal->ecu_id, 0x7E0);
  ck_assert_str_eq(e->control_signal->terminal_id, "shop-1");
  ck_assert_uint_eq(e->control_signal->args.len, 2);
  uint64_t control_id = e->control_signal->control_id;
  dd_wire_free(&e);
  Duodiag__ControlResult cr = DUODIAG__CONTROL_RESULT__INIT;
  cr.control_id = control_id;
  cr.accepted = false;
  cr.reason = "vehicle moving";
  cr.nrc = 0x22;
  s_env(&env);
  env.body_case = DUODIAG__ENVELOPE__BODY_CONTROL_RESULT;
  env.control_result = &cr;
  s_send(im1, &env);
  /* A runtime change of the script: the accepting terminal now refuses. */
  dd_ctl_result_t res;
  ck_assert_int_eq(dd_ctl_call(dd_rig_ctl(s_rig), dd_rig_loop(s_rig), "term1", "set",
                               "reject_reason", "\"lunch\"", 5000000, &res), 0);

  /* S401: the second device builds a package; it reaches the first device in 4 KiB chunks,
   * 4 outstanding; we acknowledge two, go silent, and the service resumes from 8192. */
  s_call("second", "program", "{\"image\":\"engine-app-v2.hex\",\"package_id\":\"pkg-1\"}", 0);
  e = s_expect(svc, DUODIAG__ENVELOPE__BODY_PROGRAM_OFFER);
  ck_assert_str_eq(e->program_offer->package_id, "pkg-1");
  ck_assert_uint_eq(e->program_offer->target_ecu, 0x7E0);
  ck_assert_str_eq(e->program_offer->software_version, "S19.05.0");
  uint64_t total = e->program_offer->total_size;
  uint8_t sha[32];
  memcpy(sha, e->program_offer->sha256.data, 32);
  dd_wire_free(&e);
  ck_assert_uint_gt(total, 8 * 4096);
  uint8_t *pkg = calloc(1, total);
  for (int i = 0; i < 4; i++) {
    e = s_expect(svc, DUODIAG__ENVELOPE__BODY_PROGRAM_CHUNK);
    ck_assert_uint_eq(e->program_chunk->offset, (uint64_t)i * 4096);
    ck_assert_uint_eq(e->program_chunk->data.len, 4096);
    memcpy(pkg + e->program_chunk->offset, e->program_chunk->data.data, 4096);
    dd_wire_free(&e);
  }
  ck_assert_ptr_null(s_recv_no_ack(svc, 100)); /* window full */
  s_program_ack(svc, "pkg-1", 8192);
  for (int i = 4; i < 6; i++) {
    e = s_expect(svc, DUODIAG__ENVELOPE__BODY_PROGRAM_CHUNK);
    ck_assert_uint_eq(e->program_chunk->offset, (uint64_t)i * 4096);
    dd_wire_free(&e);
  }
  /* Silence: after the stall time the offer comes again, then chunks from 8192. */
  e = s_recv_no_ack(svc, 2000);
  ck_assert_ptr_nonnull(e);
  ck_assert_int_eq(e->body_case, DUODIAG__ENVELOPE__BODY_PROGRAM_OFFER);
  ck_assert_str_eq(e->program_offer->package_id, "pkg-1");
  dd_wire_free(&e);
  uint64_t have = 8192;
  bool first = true;
  for (int i = 0; i < 1000 && have < total; i++) {
    e = s_recv(svc, 2000);
    ck_assert_ptr_nonnull(e);
    if (e->body_case == DUODIAG__ENVELOPE__BODY_PROGRAM_CHUNK) {
      const Duodiag__ProgramChunk *c = e->program_chunk;
      if (first) ck_assert_uint_eq(c->offset, 8192);
      first = false;
      if (c->offset == have) {
        memcpy(pkg + have, c->data.data, c->data.len);
        have += c->data.len;
        ck_assert(c->last == (have == total));
      }
      s_program_ack(svc, "pkg-1", have);
    }
    dd_wire_free(&e);
  }
  ck_assert_uint_eq(have, total);
  /* What arrived is the offered, authentic package for the engine ECU. */
  uint8_t got_sha[32];
  crypto_hash_sha256(got_sha, pkg, total);
  ck_assert_mem_eq(got_sha, sha, 32);
  uint8_t pk[32];
  char why[256];
  ck_assert_int_eq(dd_package_key_load(DD_SOURCE_DIR "/ecu_models/keys/test-signing.pub",
                                       DD_PACKAGE_KEY_PUBLIC, pk, why, sizeof why), 0);
  dd_package_target_t tgt = {"ECM", 0x7E0, "84512307AB"};
  dd_package_t *p = NULL;
  ck_assert_msg(dd_package_open(pkg, total, pk, &tgt, &p, why, sizeof why) == 0, "%s", why);
  dd_package_destroy(&p);
  free(pkg);
  s_program_status(svc, "pkg-1", DUODIAG__PROGRAM_STATUS__PHASE__DONE, 100);
  s_program_status(im1, "pkg-1", DUODIAG__PROGRAM_STATUS__PHASE__DONE, 100);
  s_call("second", "program", "{\"image\":\"no-such.hex\"}", -2);
  s_pump(300);

  close(udp);
  zmq_close(cloud);
  zmq_close(im1);
  zmq_close(im2);
  zmq_close(svc);
  zmq_close(relay);
  ck_assert_int_eq(dd_rig_stop_all(s_rig, 5000000), 0);

  /* The timeline. */
  S_EVENTS_EQ("terminal.session", "{\"session_id\":\"s1\",\"accepted\":true}", 1);
  S_EVENTS_EQ("terminal.message", "{\"message_kind\":\"picture\",\"bytes\":300,\"media\":1}", 1);
  S_EVENTS_EQ("terminal.im", "{\"session_id\":\"s1\",\"accepted\":true,\"media\":\"video\"}", 1);
  S_EVENTS_EQ("terminal.im", "{\"session_id\":\"s2\",\"accepted\":false,\"reason\":\"closed today\"}", 1);
  S_EVENTS_EQ("terminal.order", "{\"session_id\":\"s1\",\"fee\":3000}", 1);
  S_EVENTS_EQ("terminal.paid", "{\"payment_id\":\"p1\",\"ok\":true,\"known\":true}", 1);
  S_EVENTS_EQ("terminal.connected", "{\"session_id\":\"s1\"}", 1);
  S_EVENTS_EQ("terminal.control_result", "{\"accepted\":false,\"reason\":\"vehicle moving\",\"nrc\":34}", 1);
  S_EVENTS_EQ("terminal.program_status", "{\"package_id\":\"pkg-1\",\"phase\":7,\"percent\":100}", 1);
  S_EVENTS_EQ("terminal.set", "{\"key\":\"reject_reason\",\"reject_reason\":\"lunch\"}", 1);
  S_EVENTS_EQ("service.hello", "{\"session\":\"s1\",\"accepted\":false,\"reason\":\"bad token\"}", 1);
  S_EVENTS_EQ("service.hello", "{\"session\":\"s1\",\"accepted\":true}", 1);
  S_EVENTS_EQ("service.record", "{\"duplicate\":true}", 2);
  S_EVENTS_EQ("service.record", "{\"path\":\"relay\"}", 3);
  S_EVENTS_EQ("service.record", NULL, 7);
  for (int s = 1; s <= 5; s++) {
    char match[64];
    snprintf(match, sizeof match, "{\"seq\":%d,\"request_id\":1}", s);
    const char *mp = match;
    S_EVENTS_EQ("second.record", mp, 1);
  }
  S_EVENTS_EQ("second.anomaly", NULL, 0);
  S_EVENTS_EQ("second.summary", "{\"records\":5,\"lost\":0,\"duplicated\":0,\"out_of_order\":0}", 1);
  S_EVENTS_GE("second.diagnosis", "{\"dtcs\":\"P0301,P0171\"}", 1);
  S_EVENTS_EQ("second.package", "{\"package_id\":\"pkg-1\",\"target\":2016,\"tamper\":\"none\"}", 1);
  S_EVENTS_EQ("second.program_status", "{\"package_id\":\"pkg-1\",\"phase\":7}", 1);
  S_EVENTS_GE("service.program_resume", "{\"package_id\":\"pkg-1\",\"from\":8192}", 1);
  S_EVENTS_EQ("service.program_done", "{\"package_id\":\"pkg-1\"}", 1);
  S_EVENTS_EQ("service.summary", "{\"delivered\":5,\"forwarded\":5,\"duplicates\":2}", 1);
  dd_rig_destroy(&s_rig);
}
END_TEST

/* Bad usage: exit 2 with a reason. */
START_TEST(test_bad_usage) {
  ck_assert_int_eq(dd_rig_new(NULL, &s_rig), 0);
  const char *a1[] = {"--endpoint", "ipc:///tmp/x", NULL};
  ck_assert_int_eq(dd_rig_spawn(s_rig, "t1", "terminal", a1, S_READY_US), DD_ECHILD_FAILED);
  const char *a2[] = {"--endpoint", "ipc:///tmp/x", "--udp", "nohost", "--id", "svc", NULL};
  ck_assert_int_eq(dd_rig_spawn(s_rig, "s1", "service", a2, S_READY_US), DD_ECHILD_FAILED);
  const char *a3[] = {"--service", "ipc:///tmp/x", "--id", "x", "--key", "/nonexistent", NULL};
  ck_assert_int_eq(dd_rig_spawn(s_rig, "d1", "second", a3, S_READY_US), DD_ECHILD_FAILED);
  dd_rig_stop_all(s_rig, 1000000);
  dd_rig_destroy(&s_rig);
}
END_TEST

int main(void) {
  Suite *s = suite_create("remote_procs");
  TCase *tc = tcase_create("processes");
  tcase_set_timeout(tc, 90);
  tcase_add_test(tc, test_remote_flows);
  tcase_add_test(tc, test_bad_usage);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
