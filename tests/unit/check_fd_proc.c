/* check_fd_proc: the first device as a real process (duodiag-first-device) on a simulated
 * vehicle (duodiag-bus + duodiag-vehicle) with the cloud (duodiag-cloud), while the test itself
 * plays the target terminal (a ROUTER on the IM link, a DEALER to the cloud) and the service
 * device (a ROUTER for the service link, a UDP socket for the direct path), speaking the
 * messages of docs/FLOWS.md. Checked: VIN events, registry lookup, local diagnosis and history,
 * the session up to established, a control signal refused before payment, records arriving
 * over UDP and acknowledged, and a path switch when probes stop being answered. */
#include <arpa/inet.h>
#include <check.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <sodium.h>
#include <zmq.h>

#include "dd_clock.h"
#include "dd_ctl.h"
#include "dd_err.h"
#include "dd_image.h"
#include "dd_package.h"
#include "dd_rig.h"
#include "dd_wire.h"

#define S_S 1000000ull
#define S_VIN "4CVBS2KA6KT104377"

/* The fake terminal and service device. */
typedef struct {
  dd_rig_t *rig;          /* processes */
  void *im;               /* terminal ROUTER (the first device connects) */
  void *svc;              /* service ROUTER */
  void *tcloud;           /* terminal's DEALER to the cloud */
  int udp;                /* service UDP socket */
  char udp_ep[64];        /* its host:port */
  char svc_ep[512];       /* service endpoint */
  uint8_t fd_id[256];     /* the first device's routing id */
  size_t fd_id_len;       /* its length */
  char session[128];      /* session id from SessionOpen */
  bool im_requested;      /* ImRequest seen */
  bool order_accepted;    /* OrderDecision accept seen */
  bool paid;              /* PaymentConfirmation reached the terminal */
  bool signalled;         /* S17 + S2 sent */
  bool hello;             /* ServiceHello seen */
  bool echo_probes;       /* answer probes */
  uint64_t probes, records, max_seq; /* counters */
  uint64_t control_results, control_refused; /* ControlResults seen, refused ones */
  uint64_t seq;           /* our envelope counter */
  struct sockaddr_storage fd_addr; /* where the first device's datagrams come from */
  socklen_t fd_addr_len;  /* its length */
  uint64_t messages;      /* SessionMessages received */
  int prog_phase;         /* last ProgramStatus phase from the first device */
  int im_prog_phase;      /* last ProgramStatus phase the terminal got (S402 progress) */
  uint64_t prog_acked;    /* last ProgramAck.next_offset */
} s_fake_t;

static void s_env(s_fake_t *f, Duodiag__Envelope *env, const char *sender) {
  dd_wire_envelope_init(env, sender, ++f->seq, 1);
}

static void s_to_fd(s_fake_t *f, void *sock, Duodiag__Envelope *env) {
  ck_assert_int_eq(dd_wire_send_to(sock, f->fd_id, f->fd_id_len, env, 0), 0);
}

static void s_send_signal_and_address(s_fake_t *f) {
  Duodiag__ConnectRequestSignal sig = DUODIAG__CONNECT_REQUEST_SIGNAL__INIT;
  sig.session_id = f->session;
  sig.order_id = "order-1";
  sig.media = DUODIAG__IM_REQUEST__MEDIA__VOICE;
  Duodiag__Envelope env;
  s_env(f, &env, "shop-1");
  env.body_case = DUODIAG__ENVELOPE__BODY_CONNECT_REQUEST_SIGNAL;
  env.connect_request_signal = &sig;
  s_to_fd(f, f->im, &env);
  Duodiag__ConnectionAddress a = DUODIAG__CONNECTION_ADDRESS__INIT;
  a.session_id = f->session;
  a.service_endpoint = f->svc_ep;
  a.udp_endpoint = f->udp_ep;
  a.relay_endpoint = "";
  a.token = "tok-1";
  s_env(f, &env, "shop-1");
  env.body_case = DUODIAG__ENVELOPE__BODY_CONNECTION_ADDRESS;
  env.connection_address = &a;
  s_to_fd(f, f->im, &env);
  f->signalled = true;
}

static void s_control(s_fake_t *f, uint64_t id, Duodiag__ControlSignal__Action action) {
  Duodiag__ControlSignal c = DUODIAG__CONTROL_SIGNAL__INIT;
  c.control_id = id;
  c.session_id = f->session;
  c.terminal_id = "shop-1";
  c.action = action;
  Duodiag__Envelope env;
  s_env(f, &env, "shop-1");
  env.body_case = DUODIAG__ENVELOPE__BODY_CONTROL_SIGNAL;
  env.control_signal = &c;
  s_to_fd(f, f->im, &env);
}

static void s_on_im(s_fake_t *f, Duodiag__Envelope *e) {
  Duodiag__Envelope env;
  switch (e->body_case) {
  case DUODIAG__ENVELOPE__BODY_SESSION_OPEN:
    snprintf(f->session, sizeof f->session, "%s", e->session_open->session_id);
    ck_assert_str_eq(e->session_open->terminal_id, "shop-1");
    ck_assert_str_eq(e->session_open->vin, S_VIN);
    /* S5 before any payment: must be refused */
    s_control(f, 1, DUODIAG__CONTROL_SIGNAL__ACTION__CLEAR_DTCS);
    break;
  case DUODIAG__ENVELOPE__BODY_SESSION_MESSAGE:
    f->messages++;
    break;
  case DUODIAG__ENVELOPE__BODY_IM_REQUEST: {
    f->im_requested = true;
    Duodiag__ImAnswer a = DUODIAG__IM_ANSWER__INIT;
    a.session_id = f->session;
    a.accepted = true;
    s_env(f, &env, "shop-1");
    env.body_case = DUODIAG__ENVELOPE__BODY_IM_ANSWER;
    env.im_answer = &a;
    s_to_fd(f, f->im, &env);
    /* S14: the same order to the cloud and to the owner */
    Duodiag__Merchant m = DUODIAG__MERCHANT__INIT;
    m.merchant_id = "m-1";
    m.name = "Shop One Ltd";
    Duodiag__Order o = DUODIAG__ORDER__INIT;
    o.order_id = "order-1";
    o.session_id = f->session;
    o.merchant = &m;
    o.fee_minor = 3000;
    o.currency = "EUR";
    s_env(f, &env, "shop-1");
    env.body_case = DUODIAG__ENVELOPE__BODY_ORDER;
    env.order = &o;
    ck_assert_int_eq(dd_wire_send(f->tcloud, &env, 0), 0);
    s_to_fd(f, f->im, &env);
    break;
  }
  case DUODIAG__ENVELOPE__BODY_ORDER_DECISION:
    f->order_accepted = e->order_decision->accept;
    break;
  case DUODIAG__ENVELOPE__BODY_CONTROL_RESULT:
    f->control_results++;
    if (!e->control_result->accepted) f->control_refused++;
    break;
  case DUODIAG__ENVELOPE__BODY_PROGRAM_STATUS:
    f->im_prog_phase = e->program_status->phase;
    break;
  default:
    break;
  }
}

static void s_on_service(s_fake_t *f, Duodiag__Envelope *e) {
  if (e->body_case == DUODIAG__ENVELOPE__BODY_PROGRAM_STATUS) f->prog_phase = e->program_status->phase;
  if (e->body_case == DUODIAG__ENVELOPE__BODY_PROGRAM_ACK) f->prog_acked = e->program_ack->next_offset;
  if (e->body_case != DUODIAG__ENVELOPE__BODY_SERVICE_HELLO) return;
  ck_assert_str_eq(e->service_hello->token, "tok-1");
  ck_assert_str_eq(e->service_hello->vin, S_VIN);
  f->hello = true;
  Duodiag__ServiceWelcome w = DUODIAG__SERVICE_WELCOME__INIT;
  w.session_id = f->session;
  w.accepted = true;
  w.service_id = "svc";
  w.next_record_seq = 1;
  Duodiag__Envelope env;
  s_env(f, &env, "svc");
  env.body_case = DUODIAG__ENVELOPE__BODY_SERVICE_WELCOME;
  env.service_welcome = &w;
  s_to_fd(f, f->svc, &env);
}

static void s_on_udp(s_fake_t *f) {
  static uint8_t buf[65536];
  for (;;) {
    f->fd_addr_len = sizeof f->fd_addr;
    ssize_t n = recvfrom(f->udp, buf, sizeof buf, MSG_DONTWAIT, (struct sockaddr *)&f->fd_addr,
                         &f->fd_addr_len);
    if (n <= 0) return;
    Duodiag__Envelope *e = NULL;
    ck_assert_int_eq(dd_wire_decode_datagram(buf, (size_t)n, &e, NULL), 0);
    Duodiag__Envelope env;
    if (e->body_case == DUODIAG__ENVELOPE__BODY_PROBE) {
      f->probes++;
      if (f->echo_probes) {
        Duodiag__ProbeEcho pe = DUODIAG__PROBE_ECHO__INIT;
        pe.probe_id = e->probe->probe_id;
        pe.sent_us = e->probe->sent_us;
        s_env(f, &env, "svc");
        env.body_case = DUODIAG__ENVELOPE__BODY_PROBE_ECHO;
        env.probe_echo = &pe;
        uint8_t out[256];
        size_t len;
        ck_assert_int_eq(dd_wire_encode_datagram(&env, out, sizeof out, &len), 0);
        sendto(f->udp, out, len, 0, (struct sockaddr *)&f->fd_addr, f->fd_addr_len);
      }
    } else if (e->body_case == DUODIAG__ENVELOPE__BODY_VEHICLE_RECORD) {
      const Duodiag__VehicleRecord *r = e->vehicle_record;
      ck_assert_str_eq(r->session_id, f->session);
      ck_assert_int_eq(r->path, DUODIAG__VEHICLE_RECORD__PATH__DIRECT);
      f->records++;
      if (r->seq == f->max_seq + 1) f->max_seq = r->seq;
      Duodiag__VehicleAck a = DUODIAG__VEHICLE_ACK__INIT;
      a.session_id = f->session;
      a.cumulative = f->max_seq;
      s_env(f, &env, "svc");
      env.body_case = DUODIAG__ENVELOPE__BODY_VEHICLE_ACK;
      env.vehicle_ack = &a;
      s_to_fd(f, f->svc, &env);
    }
    dd_wire_free(&e);
  }
}

/* Run everything for ms milliseconds (or until done() says so). */
static void s_run(s_fake_t *f, int ms, bool (*done)(const s_fake_t *)) {
  dd_clock_t clk;
  dd_clock_init_real(&clk);
  uint64_t end = dd_clock_now_us(&clk) + (uint64_t)ms * 1000;
  while (dd_clock_now_us(&clk) < end && !(done && done(f))) {
    dd_loop_step(dd_rig_loop(f->rig), 1000);
    zmq_pollitem_t it[4] = {{f->im, 0, ZMQ_POLLIN, 0},
                            {f->svc, 0, ZMQ_POLLIN, 0},
                            {f->tcloud, 0, ZMQ_POLLIN, 0},
                            {NULL, f->udp, ZMQ_POLLIN, 0}};
    zmq_poll(it, 4, 2);
    for (int k = 0; k < 2; k++) {
      void *s = k == 0 ? f->im : f->svc;
      for (;;) {
        uint8_t id[256];
        size_t idlen = 0;
        Duodiag__Envelope *e = NULL;
        int rc = dd_wire_recv_from(s, id, sizeof id, &idlen, &e, NULL, ZMQ_DONTWAIT);
        if (rc == DD_EAGAIN) break;
        ck_assert_int_eq(rc, 0);
        memcpy(f->fd_id, id, idlen);
        f->fd_id_len = idlen;
        if (k == 0) s_on_im(f, e);
        else s_on_service(f, e);
        dd_wire_free(&e);
      }
    }
    for (;;) {
      Duodiag__Envelope *e = NULL;
      if (dd_wire_recv(f->tcloud, &e, NULL, ZMQ_DONTWAIT) != 0) break;
      if (e->body_case == DUODIAG__ENVELOPE__BODY_PAYMENT_CONFIRMATION &&
          e->payment_confirmation->ok)
        f->paid = true;
      dd_wire_free(&e);
    }
    if (f->paid && !f->signalled && f->session[0]) s_send_signal_and_address(f);
    s_on_udp(f);
  }
}

/* Events of kind in the run's timeline whose fields include every field of match (JSON). */
static int s_events(dd_rig_t *rig, const char *kind, const char *match) {
  char path[1024];
  snprintf(path, sizeof path, "%s/timeline.jsonl", dd_rig_dir(rig));
  FILE *fp = fopen(path, "r");
  ck_assert_ptr_nonnull(fp);
  json_t *m = json_loads(match ? match : "{}", 0, NULL);
  ck_assert_ptr_nonnull(m);
  static char line[1 << 16];
  int n = 0;
  while (fgets(line, sizeof line, fp)) {
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
  fclose(fp);
  return n;
}

static bool s_prog_over(const s_fake_t *f) {
  return f->prog_phase == DUODIAG__PROGRAM_STATUS__PHASE__DONE ||
         f->prog_phase == DUODIAG__PROGRAM_STATUS__PHASE__FAILED;
}

/* S401: offer a package for the ECM and send it in one chunk; tamper flips one data byte
 * after signing (the SHA-256 of the offer is of the bytes sent, so only the signature can
 * tell). */
static void s_offer(s_fake_t *f, const char *id, bool tamper) {
  uint8_t sk[DD_PACKAGE_SECRET_KEY_BYTES];
  char why[256];
  ck_assert_int_eq(dd_package_secret_key_load(DD_SOURCE_DIR "/ecu_models/keys/test-signing.key",
                                              sk, why, sizeof why), 0);
  static uint8_t img[4096];
  for (size_t i = 0; i < sizeof img; i++) img[i] = (uint8_t)(i * 13 + 1);
  memset(img + 0x100, 0, 32);
  memcpy(img + 0x100, "S19.05.0", 8);
  dd_image_t *im = dd_image_new();
  ck_assert_int_eq(dd_image_add(im, 0x00080000u, img, sizeof img), 0);
  dd_package_meta_t meta = {.package_id = id,
                            .target = {.ecu_name = "ECM", .can_id = 0x7E0, .hw_part = "84512300"},
                            .sw_version = "S19.05.0",
                            .created_at = 1700000000};
  uint8_t *bytes = NULL;
  size_t len = 0;
  ck_assert_int_eq(dd_package_build(im, &meta, sk, &bytes, &len), 0);
  dd_image_destroy(&im);
  if (tamper) bytes[len - 100] ^= 0x01;
  uint8_t sha[32];
  crypto_hash_sha256(sha, bytes, len);
  Duodiag__ProgramOffer o = DUODIAG__PROGRAM_OFFER__INIT;
  o.package_id = (char *)id;
  o.total_size = len;
  o.sha256.data = sha;
  o.sha256.len = 32;
  o.target_ecu = 0x7E0;
  o.software_version = "S19.05.0";
  Duodiag__Envelope env;
  s_env(f, &env, "svc");
  env.body_case = DUODIAG__ENVELOPE__BODY_PROGRAM_OFFER;
  env.program_offer = &o;
  s_to_fd(f, f->svc, &env);
  Duodiag__ProgramChunk c = DUODIAG__PROGRAM_CHUNK__INIT;
  c.package_id = (char *)id;
  c.offset = 0;
  c.data.data = bytes;
  c.data.len = len;
  c.last = true;
  s_env(f, &env, "svc");
  env.body_case = DUODIAG__ENVELOPE__BODY_PROGRAM_CHUNK;
  env.program_chunk = &c;
  s_to_fd(f, f->svc, &env);
  free(bytes);
  f->prog_phase = 0;
}

static bool s_established(const s_fake_t *f) { return f->hello && f->fd_id_len; }
static bool s_five_records(const s_fake_t *f) { return f->max_seq >= 6; }
static bool s_refused(const s_fake_t *f) { return f->control_refused >= 1; }

static void *s_router(dd_rig_t *rig, const char *name, char *ep, size_t cap) {
  dd_rig_endpoint(rig, name, ep, cap);
  void *s = zmq_socket(dd_rig_zctx(rig), ZMQ_ROUTER);
  int linger = 0;
  zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
  ck_assert_int_eq(zmq_bind(s, ep), 0);
  return s;
}

START_TEST(test_first_device_flows) {
  s_fake_t f = {.udp = -1, .echo_probes = true};
  ck_assert_int_eq(dd_rig_new(NULL, &f.rig), 0);
  dd_rig_t *rig = f.rig;
  char bus[512], cloud[512], im[512], hist[1024], terms[1024];
  dd_rig_endpoint(rig, "bus", bus, sizeof bus);
  dd_rig_endpoint(rig, "cloud", cloud, sizeof cloud);
  snprintf(hist, sizeof hist, "%s/history.jsonl", dd_rig_dir(rig));
  snprintf(terms, sizeof terms, "%s/terminals.yaml", dd_rig_dir(rig));
  FILE *tf = fopen(terms, "w");
  ck_assert_ptr_nonnull(tf);
  fputs("terminals:\n  - {id: shop-1, name: Shop One, makes: [Corvan], fee_minor: 3000,\n"
        "     currency: EUR, rating: 4.5, online: true}\n",
        tf);
  fclose(tf);
  /* an earlier run's entry: the history survives runs */
  FILE *hf = fopen(hist, "w");
  ck_assert_ptr_nonnull(hf);
  fputs("{\"wall_us\":1,\"vin\":\"" S_VIN "\",\"ecus\":[]}\n", hf);
  fclose(hf);

  f.im = s_router(rig, "im", im, sizeof im);
  f.svc = s_router(rig, "service", f.svc_ep, sizeof f.svc_ep);
  f.udp = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  ck_assert_int_eq(bind(f.udp, (struct sockaddr *)&sa, sizeof sa), 0);
  socklen_t sl = sizeof sa;
  getsockname(f.udp, (struct sockaddr *)&sa, &sl);
  snprintf(f.udp_ep, sizeof f.udp_ep, "127.0.0.1:%u", ntohs(sa.sin_port));

  const char *bus_args[] = {"--endpoint", bus, NULL};
  ck_assert_int_eq(dd_rig_spawn(rig, "bus", "bus", bus_args, 10 * S_S), 0);
  const char *veh_args[] = {DD_SOURCE_DIR "/ecu_models/vehicles/corvan_meridian_2019.yaml",
                            "--bus", bus, NULL};
  ck_assert_int_eq(dd_rig_spawn(rig, "vehicle", "vehicle", veh_args, 10 * S_S), 0);
  const char *cloud_args[] = {"--endpoint", cloud, "--vehicles",
                              DD_SOURCE_DIR "/ecu_models/vehicles", "--terminals", terms, NULL};
  ck_assert_int_eq(dd_rig_spawn(rig, "cloud", "cloud", cloud_args, 10 * S_S), 0);
  f.tcloud = zmq_socket(dd_rig_zctx(rig), ZMQ_DEALER);
  int linger = 0;
  zmq_setsockopt(f.tcloud, ZMQ_LINGER, &linger, sizeof linger);
  zmq_setsockopt(f.tcloud, ZMQ_ROUTING_ID, "shop-1", 6);
  ck_assert_int_eq(zmq_connect(f.tcloud, cloud), 0);

  const char *fd_args[] = {"--bus", bus, "--cloud", cloud, "--terminal", im, "--history", hist,
                           "--fee-limit", "5000", "--probe-ms", "50", "--threshold-ms", "150",
                           "--trust-key", DD_SOURCE_DIR "/ecu_models/keys/test-signing.pub",
                           "--security-secret", "ECM=5A3C96E1", "--autostart", NULL};
  /* programming needs the car standing with the engine off: stop it now */
  dd_ctl_result_t res;
  ck_assert_int_eq(dd_ctl_call(dd_rig_ctl(rig), dd_rig_loop(rig), "vehicle", "action", "speed",
                               "{\"kmh\":0}", 5 * S_S, &res), 0);
  ck_assert_int_eq(dd_ctl_call(dd_rig_ctl(rig), dd_rig_loop(rig), "vehicle", "action", "engine",
                               "{\"on\":false}", 5 * S_S, &res), 0);
  ck_assert_int_eq(dd_rig_spawn(rig, "fd", "first-device", fd_args, 10 * S_S), 0);

  /* S101-S17, S2, S3 */
  s_run(&f, 20000, s_established);
  ck_assert_msg(f.hello, "no ServiceHello (im_requested %d, order %d, paid %d)", f.im_requested,
                f.order_accepted, f.paid);
  ck_assert(f.order_accepted);
  s_run(&f, 300, s_refused);
  ck_assert_uint_ge(f.control_refused, 1); /* the control signal sent before payment */
  s_run(&f, 300, NULL);
  ck_assert_int_ge(s_events(rig, "fd.vin", "{\"vin\":\"" S_VIN "\",\"source\":\"uds\",\"valid\":true}"), 1);
  ck_assert_int_ge(s_events(rig, "fd.vin", "{\"source\":\"obd\",\"valid\":true}"), 1);
  ck_assert_int_eq(s_events(rig, "fd.registry", "{\"found\":true,\"make\":\"Corvan\",\"model\":\"Meridian\"}"), 1);
  ck_assert_int_eq(s_events(rig, "fd.local_diagnosis", "{\"ecus\":4,\"dtcs\":5}"), 1);
  ck_assert_int_eq(s_events(rig, "fd.dtc", "{\"ecu\":\"ECM\",\"code\":\"P0301-00\"}"), 1);
  ck_assert_int_eq(s_events(rig, "session.connected", "{\"terminal\":\"shop-1\",\"order_id\":\"order-1\"}"), 1);
  ck_assert_int_eq(s_events(rig, "session.established", NULL), 1);
  ck_assert_int_ge(s_events(rig, "control.audit", "{\"control_id\":1,\"verdict\":\"not_paid\"}") +
                       s_events(rig, "control.audit", "{\"control_id\":1,\"verdict\":\"no_session\"}"),
                   1);
  /* history: the old entry and this run's */
  hf = fopen(hist, "r");
  int lines = 0;
  char buf[8192];
  while (fgets(buf, sizeof buf, hf)) lines++;
  fclose(hf);
  ck_assert_int_eq(lines, 2);

  /* S41-S45: live data at 10 Hz, 6 samples, over UDP and acknowledged */
  Duodiag__VehicleDataRequest q = DUODIAG__VEHICLE_DATA_REQUEST__INIT;
  uint32_t pids[] = {0x0C, 0x0D};
  q.request_id = 7;
  q.session_id = f.session;
  q.kind = DUODIAG__VEHICLE_DATA_REQUEST__KIND__LIVE_PIDS;
  q.items = pids;
  q.n_items = 2;
  q.rate_hz = 10;
  q.count = 6;
  Duodiag__Envelope env;
  s_env(&f, &env, "shop-1");
  env.body_case = DUODIAG__ENVELOPE__BODY_VEHICLE_DATA_REQUEST;
  env.vehicle_data_request = &q;
  s_to_fd(&f, f.im, &env);
  s_run(&f, 5000, s_five_records);
  ck_assert_uint_ge(f.max_seq, 6);
  s_run(&f, 500, NULL);
  ck_assert_int_ge(s_events(rig, "fd.record_sent", "{\"path\":\"direct\",\"resend\":false}"), 6);
  ck_assert_int_eq(s_events(rig, "transport.switched", NULL), 0);

  /* S43-S44: probes unanswered -> the path goes to the relay */
  f.echo_probes = false;
  s_run(&f, 2000, NULL);
  ck_assert_int_ge(s_events(rig, "transport.switched", "{\"from\":\"direct\",\"to\":\"relay\"}"), 1);

  /* S401-S402: a tampered package is refused, the genuine one programs the ECM */
  s_offer(&f, "bad-1", true);
  s_run(&f, 5000, s_prog_over);
  ck_assert_int_eq(f.prog_phase, DUODIAG__PROGRAM_STATUS__PHASE__FAILED);
  s_offer(&f, "good-1", false);
  s_run(&f, 30000, s_prog_over);
  s_run(&f, 300, NULL);
  ck_assert_int_eq(s_events(rig, "fd.package_refused", "{\"package_id\":\"bad-1\"}"), 1);
  ck_assert_msg(f.prog_phase == DUODIAG__PROGRAM_STATUS__PHASE__DONE, "phase %d", f.prog_phase);
  /* the terminal follows the same progress (S402: reported to both) */
  ck_assert_msg(f.im_prog_phase == DUODIAG__PROGRAM_STATUS__PHASE__DONE, "terminal phase %d",
                f.im_prog_phase);
  ck_assert_int_eq(s_events(rig, "reflash.result", "{\"ecu\":\"ECM\",\"ok\":true,\"version\":\"S19.05.0\"}"), 1);
  ck_assert_int_ge(s_events(rig, "reflash.phase", "{\"phase\":\"transferring\"}"), 1);

  zmq_close(f.im);
  zmq_close(f.svc);
  zmq_close(f.tcloud);
  close(f.udp);
  ck_assert_int_eq(dd_rig_stop_all(rig, 5 * S_S), 0);
  dd_rig_destroy(&f.rig);
}
END_TEST

int main(void) {
  Suite *s = suite_create("fd_proc");
  TCase *tc = tcase_create("flows");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_first_device_flows);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
