/* check_service_proc: the service device as a real process (duodiag-service under dd_rig) serving
 * several first devices at once. The test plays three first devices (DEALERs with their own
 * routing ids, records over UDP) and the second device, and checks what docs/FLOWS.md S3/S4 ask
 * of a service device with a table of sessions: each session's records are ordered and
 * de-duplicated on their own and acknowledged to their own device only; a hello for an open
 * session resumes it (even from a new routing id); the table is bounded (--max-sessions: a
 * refused hello says why and leaves an event); SessionClose from the session's own device frees
 * it (from another device it is ignored); sessions idle for --session-idle-s are freed; records
 * of a freed session are refused. Then the timeline and the summary's accounts. Packages go to
 * one first device: the most recent session's, kept while a transfer to it is under way. */
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
#include "dd_rig.h"
#include "dd_wire.h"

#define S_READY_US 20000000ull

static dd_rig_t *s_rig;
static uint64_t s_seq;

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

static void s_send(void *s, Duodiag__Envelope *env) {
  dd_wire_reason_t why = DD_WIRE_R__COUNT;
  ck_assert_msg(dd_wire_check(env, &why) == 0, "%s breaks the wire rules: %s",
                dd_wire_body_name(env), dd_wire_reason_name((int)why));
  ck_assert_int_eq(dd_wire_send(s, env, 0), 0);
}

/* Step the harness loop (collector, control) for about ms milliseconds. */
static void s_pump(int ms) {
  for (int i = 0; i < ms / 5 + 1; i++)
    dd_loop_step(dd_rig_loop(s_rig), 5000);
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

/* ServiceHello for session from the device on s; returns the welcome (accepted or not). */
static Duodiag__Envelope *s_hello(void *s, const char *session, const char *device) {
  Duodiag__ServiceHello h = DUODIAG__SERVICE_HELLO__INIT;
  h.session_id = (char *)session;
  h.token = "";
  h.device_id = (char *)device;
  h.vin = "";
  Duodiag__Envelope env;
  dd_wire_envelope_init(&env, device, ++s_seq, 1);
  env.body_case = DUODIAG__ENVELOPE__BODY_SERVICE_HELLO;
  env.service_hello = &h;
  s_send(s, &env);
  Duodiag__Envelope *e = s_recv(s, 5000);
  ck_assert_ptr_nonnull(e);
  ck_assert_int_eq(e->body_case, DUODIAG__ENVELOPE__BODY_SERVICE_WELCOME);
  ck_assert_str_eq(e->service_welcome->session_id, session);
  return e;
}

static void s_hello_ok(void *s, const char *session, const char *device, uint64_t next) {
  Duodiag__Envelope *e = s_hello(s, session, device);
  ck_assert_msg(e->service_welcome->accepted, "%s refused: %s", session,
                e->service_welcome->reason);
  ck_assert_uint_eq(e->service_welcome->next_record_seq, next);
  dd_wire_free(&e);
}

static void s_close(void *s, const char *session) {
  Duodiag__SessionClose c = DUODIAG__SESSION_CLOSE__INIT;
  c.session_id = (char *)session;
  c.reason = "done";
  Duodiag__Envelope env;
  dd_wire_envelope_init(&env, "fd", ++s_seq, 1);
  env.body_case = DUODIAG__ENVELOPE__BODY_SESSION_CLOSE;
  env.session_close = &c;
  s_send(s, &env);
}

/* One VehicleRecord of session over the direct path (S45: one datagram). The payload names the
 * session and seq, so the second device's copy shows where it came from. */
static void s_udp_record(int udp, const struct sockaddr_in *to, const char *session, uint64_t seq) {
  char text[64];
  snprintf(text, sizeof text, "%s/%llu", session, (unsigned long long)seq);
  Duodiag__VehicleRecord r = DUODIAG__VEHICLE_RECORD__INIT;
  r.session_id = (char *)session;
  r.seq = seq;
  r.request_id = 1;
  r.sampled_us = seq * 1000;
  r.path = DUODIAG__VEHICLE_RECORD__PATH__DIRECT;
  r.payload.data = (uint8_t *)text;
  r.payload.len = strlen(text);
  r.ecu_id = 0x7E8;
  Duodiag__Envelope env;
  dd_wire_envelope_init(&env, "fd", ++s_seq, 1);
  env.body_case = DUODIAG__ENVELOPE__BODY_VEHICLE_RECORD;
  env.vehicle_record = &r;
  uint8_t buf[1024];
  size_t len = 0;
  ck_assert_int_eq(dd_wire_encode_datagram(&env, buf, sizeof buf, &len), 0);
  ck_assert_int_eq(sendto(udp, buf, len, 0, (const struct sockaddr *)to, sizeof *to), (ssize_t)len);
}

/* Read acks on s for about ms; every one must be for session; returns the highest cumulative. */
static uint64_t s_acks(void *s, const char *session, int ms) {
  uint64_t cum = 0;
  Duodiag__Envelope *e;
  while ((e = s_recv(s, ms))) {
    ck_assert_int_eq(e->body_case, DUODIAG__ENVELOPE__BODY_VEHICLE_ACK);
    ck_assert_str_eq(e->vehicle_ack->session_id, session);
    if (e->vehicle_ack->cumulative > cum) cum = e->vehicle_ack->cumulative;
    dd_wire_free(&e);
    ms = 100; /* after the first one, only what follows at once */
  }
  return cum;
}

/* The records the second device got so far, as "sa/1 sb/1 ..." in arrival order. */
static void s_second(void *sd, char *out, size_t cap, int ms) {
  Duodiag__Envelope *e;
  while ((e = s_recv(sd, ms))) {
    if (e->body_case == DUODIAG__ENVELOPE__BODY_VEHICLE_RECORD) {
      size_t used = strlen(out);
      snprintf(out + used, cap - used, "%s%.*s", used ? " " : "",
               (int)e->vehicle_record->payload.len, (const char *)e->vehicle_record->payload.data);
    }
    dd_wire_free(&e);
    ms = 100;
  }
}

static int s_events(const char *kind, const char *match) {
  char path[1024];
  snprintf(path, sizeof path, "%s/timeline.jsonl", dd_rig_dir(s_rig));
  FILE *f = fopen(path, "r");
  ck_assert_ptr_nonnull(f);
  json_t *m = json_loads(match ? match : "{}", 0, NULL);
  ck_assert_ptr_nonnull(m);
  static char line[16384];
  int n = 0;
  while (fgets(line, sizeof line, f)) {
    json_t *ev = json_loads(line, 0, NULL);
    if (!ev) continue;
    bool hit = json_is_string(json_object_get(ev, "kind")) &&
               !strcmp(json_string_value(json_object_get(ev, "kind")), kind);
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
    const char *match_ = (match);                                                                  \
    int got_ = s_events((kind), match_);                                                           \
    ck_assert_msg(got_ == (n), "%d %s events match %s, want %d", got_, (kind),                     \
                  match_ ? match_ : "{}", (n));                                                    \
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

/* ---- the test ---- */

START_TEST(test_sessions_at_once) {
  ck_assert_int_eq(dd_rig_new(NULL, &s_rig), 0);
  char svc_ep[512], udp_ep[64];
  dd_rig_endpoint(s_rig, "svc", svc_ep, sizeof svc_ep);
  int port = s_free_udp_port();
  snprintf(udp_ep, sizeof udp_ep, "127.0.0.1:%d", port);
  const char *args[] = {
      "--endpoint",       svc_ep, "--udp", udp_ep, "--id", "svc", "--max-sessions", "2",
      "--session-idle-s", "3",    NULL};
  ck_assert_int_eq(dd_rig_spawn(s_rig, "svc", "service", args, S_READY_US), 0);

  void *sd = s_dealer("second", svc_ep);
  s_hello_ok(sd, "*", "second", 0);
  void *fa = s_dealer("fd-a", svc_ep), *fb = s_dealer("fd-b", svc_ep),
       *fc = s_dealer("fd-c", svc_ep);
  s_hello_ok(fa, "sa", "fd-a", 1);
  s_hello_ok(fb, "sb", "fd-b", 1);
  /* the table holds two: a third session is refused, and says why */
  Duodiag__Envelope *e = s_hello(fc, "sc", "fd-c");
  ck_assert(!e->service_welcome->accepted);
  ck_assert_str_eq(e->service_welcome->reason, "service device full: 2 sessions open");
  dd_wire_free(&e);

  /* S4: both sessions' records interleaved on one direct path, with a gap and a duplicate; and
   * one of the refused session. */
  int udp = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in to = {.sin_family = AF_INET,
                           .sin_port = htons((uint16_t)port),
                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  s_udp_record(udp, &to, "sa", 1);
  s_udp_record(udp, &to, "sb", 1);
  s_udp_record(udp, &to, "sb", 3);
  s_udp_record(udp, &to, "sa", 2);
  s_udp_record(udp, &to, "sc", 1);
  s_udp_record(udp, &to, "sb", 2);
  s_udp_record(udp, &to, "sa", 2);
  /* each device gets its own session's acks, and only those */
  ck_assert_uint_eq(s_acks(fa, "sa", 3000), 2);
  ck_assert_uint_eq(s_acks(fb, "sb", 3000), 3);
  ck_assert_ptr_null(s_recv(fc, 200));
  char got[512] = "";
  s_second(sd, got, sizeof got, 3000);
  /* per session in order and once; sb 3 waited for sb 2 */
  ck_assert_str_eq(got, "sa/1 sb/1 sa/2 sb/2 sb/3");

  /* fd-a comes back under another routing id (reconnect): its session resumes where it was,
   * and its acks go to the new connection. */
  void *fa2 = s_dealer("fd-a2", svc_ep);
  s_hello_ok(fa2, "sa", "fd-a", 3);
  s_udp_record(udp, &to, "sa", 3);
  ck_assert_uint_eq(s_acks(fa2, "sa", 3000), 3);
  ck_assert_ptr_null(s_recv(fa, 200));
  got[0] = '\0';
  s_second(sd, got, sizeof got, 3000);
  ck_assert_str_eq(got, "sa/3");

  /* SessionClose of sb from another device is ignored; from its own it frees the entry, which
   * makes room for sc. */
  s_close(fa2, "sb");
  s_pump(100);
  s_udp_record(udp, &to, "sb", 4);
  ck_assert_uint_eq(s_acks(fb, "sb", 3000), 4);
  s_close(fb, "sb");
  s_pump(100);
  s_hello_ok(fc, "sc", "fd-c", 1);
  s_udp_record(udp, &to, "sb", 5); /* refused: no such session any more */
  s_udp_record(udp, &to, "sc", 1);
  ck_assert_uint_eq(s_acks(fc, "sc", 3000), 1);
  ck_assert_ptr_null(s_recv(fb, 200));
  got[0] = '\0';
  s_second(sd, got, sizeof got, 3000);
  ck_assert_str_eq(got, "sb/4 sc/1");

  /* Idle: nothing for the idle time frees both sessions; their records are refused then. */
  s_pump(4500);
  s_udp_record(udp, &to, "sa", 4);
  s_pump(200);
  ck_assert_ptr_null(s_recv(fa2, 100));
  s_hello_ok(fa2, "sa", "fd-a", 1); /* a new entry: the old one is gone */

  close(udp);
  zmq_close(sd);
  zmq_close(fa);
  zmq_close(fa2);
  zmq_close(fb);
  zmq_close(fc);
  ck_assert_int_eq(dd_rig_stop_all(s_rig, 5000000), 0);

  S_EVENTS_EQ("service.up", "{\"max_sessions\":2,\"session_idle_s\":3.0}", 1);
  S_EVENTS_EQ("service.sessions_full", "{\"session\":\"sc\",\"device\":\"fd-c\",\"max\":2}", 1);
  S_EVENTS_EQ("service.hello", "{\"session\":\"sc\",\"accepted\":false}", 1);
  S_EVENTS_EQ("service.hello", "{\"session\":\"sa\",\"accepted\":true,\"resumed\":true}", 1);
  S_EVENTS_EQ("service.session_closed",
              "{\"session\":\"sb\",\"reason\":\"closed\",\"peer\":\"fd-b\",\"received\":4,"
              "\"delivered\":4,\"duplicates\":0}",
              1);
  S_EVENTS_EQ("service.session_closed",
              "{\"session\":\"sa\",\"reason\":\"idle\",\"peer\":\"fd-a2\"}", 1);
  S_EVENTS_EQ("service.session_closed", "{\"session\":\"sc\",\"reason\":\"idle\"}", 1);
  S_EVENTS_EQ("service.session_closed", NULL, 3);
  S_EVENTS_EQ("service.record_refused", "{\"session\":\"sc\",\"seq\":1}", 1);
  S_EVENTS_EQ("service.record_refused", "{\"session\":\"sb\",\"seq\":5}", 1);
  S_EVENTS_EQ("service.record_refused", "{\"session\":\"sa\",\"seq\":4}", 1);
  S_EVENTS_EQ("service.record", "{\"session\":\"sa\",\"duplicate\":true}", 1);
  S_EVENTS_EQ("service.summary",
              "{\"received\":9,\"direct\":9,\"duplicates\":1,\"refused\":3,\"delivered\":8,"
              "\"forwarded\":8,\"held\":0,\"sessions\":4,\"sessions_open\":1,\"sessions_peak\":2,"
              "\"sessions_resumed\":1,\"sessions_closed\":1,\"sessions_idled\":2,"
              "\"sessions_full\":1,\"unknown_session\":3}",
              1);
  dd_rig_destroy(&s_rig);
}
END_TEST

/* The next envelope on s within ms that is not a VehicleAck, or NULL. */
static Duodiag__Envelope *s_recv_no_ack(void *s, int ms) {
  Duodiag__Envelope *e;
  while ((e = s_recv(s, ms)) && e->body_case == DUODIAG__ENVELOPE__BODY_VEHICLE_ACK)
    dd_wire_free(&e);
  return e;
}

/* The second device hands the service a package of len bytes (S401: offer, then one chunk). */
static void s_package(void *sd, const char *id, const uint8_t *pkg, size_t len) {
  uint8_t sha[32];
  crypto_hash_sha256(sha, pkg, len);
  Duodiag__ProgramOffer o = DUODIAG__PROGRAM_OFFER__INIT;
  o.package_id = (char *)id;
  o.total_size = len;
  o.sha256.data = sha;
  o.sha256.len = sizeof sha;
  o.target_ecu = 0x7E0;
  o.software_version = "S1";
  Duodiag__Envelope env;
  dd_wire_envelope_init(&env, "second", ++s_seq, 1);
  env.body_case = DUODIAG__ENVELOPE__BODY_PROGRAM_OFFER;
  env.program_offer = &o;
  s_send(sd, &env);
  Duodiag__ProgramChunk c = DUODIAG__PROGRAM_CHUNK__INIT;
  c.package_id = (char *)id;
  c.offset = 0;
  c.data.data = (uint8_t *)pkg;
  c.data.len = len;
  c.last = true;
  dd_wire_envelope_init(&env, "second", ++s_seq, 1);
  env.body_case = DUODIAG__ENVELOPE__BODY_PROGRAM_CHUNK;
  env.program_chunk = &c;
  s_send(sd, &env);
}

/* Packages go to the first device of the most recent session; one under way stays with its
 * device when another vehicle says hello (it must not take a reflash over half-way), and resumes
 * when its own device says hello again. */
START_TEST(test_programming_device) {
  ck_assert_int_eq(dd_rig_new(NULL, &s_rig), 0);
  char svc_ep[512];
  dd_rig_endpoint(s_rig, "svc", svc_ep, sizeof svc_ep);
  const char *args[] = {"--endpoint", svc_ep,       "--udp", "127.0.0.1:0", "--id",
                        "svc",        "--stall-ms", "60000", NULL};
  ck_assert_int_eq(dd_rig_spawn(s_rig, "svc", "service", args, S_READY_US), 0);
  void *sd = s_dealer("second", svc_ep);
  s_hello_ok(sd, "*", "second", 0);
  void *fa = s_dealer("fd-a", svc_ep), *fb = s_dealer("fd-b", svc_ep),
       *fc = s_dealer("fd-c", svc_ep);
  s_hello_ok(fa, "sa", "fd-a", 1);
  s_hello_ok(fb, "sb", "fd-b", 1);
  uint8_t pkg[100];
  for (size_t i = 0; i < sizeof pkg; i++)
    pkg[i] = (uint8_t)(i * 7);
  s_package(sd, "pkg-1", pkg, sizeof pkg);
  /* the most recent session's device gets it */
  Duodiag__Envelope *e = s_recv_no_ack(fb, 3000);
  ck_assert_ptr_nonnull(e);
  ck_assert_int_eq(e->body_case, DUODIAG__ENVELOPE__BODY_PROGRAM_OFFER);
  ck_assert_str_eq(e->program_offer->package_id, "pkg-1");
  dd_wire_free(&e);
  e = s_recv_no_ack(fb, 3000);
  ck_assert_ptr_nonnull(e);
  ck_assert_int_eq(e->body_case, DUODIAG__ENVELOPE__BODY_PROGRAM_CHUNK);
  ck_assert_uint_eq(e->program_chunk->data.len, sizeof pkg);
  dd_wire_free(&e);
  ck_assert_ptr_null(s_recv_no_ack(fa, 200));
  /* another vehicle arrives while the package is unacknowledged: it stays with fd-b */
  s_hello_ok(fc, "sc", "fd-c", 1);
  ck_assert_ptr_null(s_recv_no_ack(fc, 300));
  /* fd-b comes back: the package resumes there */
  s_hello_ok(fb, "sb", "fd-b", 1);
  e = s_recv_no_ack(fb, 3000);
  ck_assert_ptr_nonnull(e);
  ck_assert_int_eq(e->body_case, DUODIAG__ENVELOPE__BODY_PROGRAM_OFFER);
  dd_wire_free(&e);
  Duodiag__ProgramAck a = DUODIAG__PROGRAM_ACK__INIT;
  a.package_id = "pkg-1";
  a.next_offset = sizeof pkg;
  Duodiag__Envelope env;
  dd_wire_envelope_init(&env, "fd-b", ++s_seq, 1);
  env.body_case = DUODIAG__ENVELOPE__BODY_PROGRAM_ACK;
  env.program_ack = &a;
  s_send(fb, &env);
  s_pump(300);
  zmq_close(sd);
  zmq_close(fa);
  zmq_close(fb);
  zmq_close(fc);
  ck_assert_int_eq(dd_rig_stop_all(s_rig, 5000000), 0);
  S_EVENTS_EQ("service.program_resume", "{\"package_id\":\"pkg-1\",\"reason\":\"hello\"}", 1);
  S_EVENTS_EQ("service.program_done", "{\"package_id\":\"pkg-1\"}", 1);
  dd_rig_destroy(&s_rig);
}
END_TEST

/* Bad settings: exit 2. */
START_TEST(test_bad_settings) {
  ck_assert_int_eq(dd_rig_new(NULL, &s_rig), 0);
  char svc_ep[512];
  dd_rig_endpoint(s_rig, "svc", svc_ep, sizeof svc_ep);
  const char *a1[] = {"--endpoint", svc_ep,           "--udp", "127.0.0.1:0", "--id",
                      "svc",        "--max-sessions", "0",     NULL};
  ck_assert_int_eq(dd_rig_spawn(s_rig, "s1", "service", a1, S_READY_US), DD_ECHILD_FAILED);
  const char *a2[] = {"--endpoint", svc_ep,           "--udp", "127.0.0.1:0", "--id",
                      "svc",        "--max-sessions", "65537", NULL};
  ck_assert_int_eq(dd_rig_spawn(s_rig, "s2", "service", a2, S_READY_US), DD_ECHILD_FAILED);
  dd_rig_stop_all(s_rig, 1000000);
  dd_rig_destroy(&s_rig);
}
END_TEST

int main(void) {
  Suite *s = suite_create("service_proc");
  TCase *tc = tcase_create("process");
  tcase_set_timeout(tc, 90);
  tcase_add_test(tc, test_sessions_at_once);
  tcase_add_test(tc, test_programming_device);
  tcase_add_test(tc, test_bad_settings);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
