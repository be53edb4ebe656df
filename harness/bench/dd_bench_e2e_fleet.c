/* dd_bench_e2e_fleet: part 3 of `duodiag bench e2e`: one duodiag-relay and one duodiag-service
 * carrying the vehicle records of a fleet. This process plays every vehicle's first device on
 * the real wire protocol (dd_fd_remote's way: ServiceHello to the service device, the relay
 * hello, each VehicleRecord envelope inside a RelayForward to the relay, VehicleAcks back from
 * the service device) and the second device that reads the records (ServiceHello with session
 * "*"). Figures: send -> acknowledgement latency, records sent / acknowledged / delivered /
 * lost, and the CPU time of the relay and the service device. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "dd_bench.h"
#include "dd_bench_e2e.h"
#include "dd_child.h"
#include "dd_clock.h"
#include "dd_collector.h"
#include "dd_err.h"
#include "dd_log.h"
#include "dd_rig.h"
#include "dd_wire.h"

#define S_SERVICE_ID "service"        /* the service device's party id (relay destination) */
#define S_READER_ID "second"          /* our second device */
#define S_PACE_US 1000ull             /* send timer period */
#define S_SETUP_US (15 * DD_US_PER_S) /* every vehicle welcomed and joined by then */
#define S_DRAIN_US (3 * DD_US_PER_S)  /* acks still awaited after the last send */
#define S_TARGET_P99_MS 5.0           /* target of the acknowledgement latency */

typedef struct s_fleet s_fleet_t;

typedef struct {
  s_fleet_t *f;       /* the fleet */
  unsigned index;     /* 0.. */
  char id[24];        /* party id and routing id, "veh-007" */
  char session[40];   /* its session id */
  char vin[18];       /* its VIN (ISO 3779 alphabet) */
  void *svc;          /* DEALER to the service device */
  void *relay;        /* DEALER to the relay */
  bool welcomed;      /* ServiceWelcome accepted */
  bool joined;        /* relay hello echoed */
  uint64_t env_seq;   /* envelope counter */
  uint64_t next_seq;  /* next record seq (from 1) */
  uint64_t due_us;    /* when it is due */
  uint64_t *sent_us;  /* send time by seq - 1 (0: not sent) */
  uint8_t *acked;     /* acknowledged, by seq - 1 */
  uint64_t delivered; /* records the second device got, in order */
} s_veh_t;

struct s_fleet {
  const dd_bench_e2e_opts_t *o; /* options */
  dd_rig_t *rig;                /* the relay and the service device */
  dd_loop_t *loop;              /* the rig's loop */
  dd_clock_t *clock;            /* its clock (read fresh for each time stamp) */
  s_veh_t *veh;                 /* the vehicles */
  unsigned n;                   /* how many */
  unsigned per_vehicle;         /* records each sends */
  uint64_t period_us;           /* between two records of one vehicle */
  void *reader;                 /* our second device's DEALER */
  bool reader_ok;               /* its ServiceWelcome */
  uint8_t *buf;                 /* inner envelope encoding */
  double *lat;                  /* latency samples, ms */
  size_t n_lat;                 /* how many */
  uint64_t sent, acked;         /* records */
  uint64_t delivered;           /* records at the second device, in order, once */
  uint64_t dup_or_gap;          /* records there twice or out of order */
  uint64_t send_errors;         /* sends refused by the socket */
  uint64_t relay_errors;        /* RelayError received */
  uint64_t refused;             /* ServiceWelcome refusals */
  char last_error[160];         /* the text of the last RelayError or refusal */
  uint64_t svc_refused;         /* service.record_refused events (records of unknown sessions) */
  dd_wire_stats_t ws;           /* decode counters */
};

static uint64_t s_now(s_fleet_t *f) { return dd_clock_now_us(f->clock); }

/* ---- receiving ---------------------------------------------------------------------------- */

static void s_on_ack(s_veh_t *v, const Duodiag__VehicleAck *a, uint64_t now) {
  s_fleet_t *f = v->f;
  /* Cumulative part, then the SACK ranges (FLOWS.md S4). */
  uint64_t top = a->cumulative < f->per_vehicle ? a->cumulative : f->per_vehicle;
  for (size_t r = 0; r <= a->n_sacks; r++) {
    uint64_t lo = r == 0 ? 1 : a->sacks[r - 1]->first;
    uint64_t hi = r == 0 ? top : a->sacks[r - 1]->last;
    if (hi > f->per_vehicle) hi = f->per_vehicle;
    for (uint64_t s = lo; s >= 1 && s <= hi; s++) {
      if (v->acked[s - 1] || !v->sent_us[s - 1]) continue;
      v->acked[s - 1] = 1;
      f->acked++;
      f->lat[f->n_lat++] = (double)(now - v->sent_us[s - 1]) / 1000.0;
    }
  }
}

static int s_on_service(dd_loop_t *loop, void *zsock, int fd, void *arg) {
  s_veh_t *v = arg;
  for (int i = 0; i < 64; i++) {
    Duodiag__Envelope *env = NULL;
    int rc = dd_wire_recv(zsock, &env, &v->f->ws, ZMQ_DONTWAIT);
    if (rc == DD_EAGAIN) break;
    if (rc < 0) continue;
    uint64_t now = s_now(v->f);
    if (env->body_case == DUODIAG__ENVELOPE__BODY_VEHICLE_ACK) {
      s_on_ack(v, env->vehicle_ack, now);
    } else if (env->body_case == DUODIAG__ENVELOPE__BODY_SERVICE_WELCOME) {
      v->welcomed = env->service_welcome->accepted;
      if (!v->welcomed) {
        v->f->refused++;
        snprintf(v->f->last_error, sizeof v->f->last_error, "%s: ServiceWelcome refused: %s", v->id,
                 env->service_welcome->reason);
      }
    }
    dd_wire_free(&env);
  }
  return 0;
}

static int s_on_relay(dd_loop_t *loop, void *zsock, int fd, void *arg) {
  s_veh_t *v = arg;
  for (int i = 0; i < 64; i++) {
    Duodiag__Envelope *env = NULL;
    int rc = dd_wire_recv(zsock, &env, &v->f->ws, ZMQ_DONTWAIT);
    if (rc == DD_EAGAIN) break;
    if (rc < 0) continue;
    if (env->body_case == DUODIAG__ENVELOPE__BODY_RELAY_FORWARD) {
      v->joined = true; /* our hello, echoed */
    } else if (env->body_case == DUODIAG__ENVELOPE__BODY_RELAY_ERROR) {
      v->f->relay_errors++;
      snprintf(v->f->last_error, sizeof v->f->last_error, "%s: RelayError %s: %s", v->id,
               dd_err_name(env->relay_error->code), env->relay_error->text);
    }
    dd_wire_free(&env);
  }
  return 0;
}

/* Our second device: every record exactly once and in order, per session. */
static int s_on_reader(dd_loop_t *loop, void *zsock, int fd, void *arg) {
  s_fleet_t *f = arg;
  for (int i = 0; i < 256; i++) {
    Duodiag__Envelope *env = NULL;
    int rc = dd_wire_recv(zsock, &env, &f->ws, ZMQ_DONTWAIT);
    if (rc == DD_EAGAIN) break;
    if (rc < 0) continue;
    if (env->body_case == DUODIAG__ENVELOPE__BODY_SERVICE_WELCOME) {
      f->reader_ok = env->service_welcome->accepted;
    } else if (env->body_case == DUODIAG__ENVELOPE__BODY_VEHICLE_RECORD) {
      const Duodiag__VehicleRecord *r = env->vehicle_record;
      unsigned k;
      if (sscanf(r->session_id, "veh-%u-s1", &k) == 1 && k >= 1 && k <= f->n) {
        s_veh_t *v = &f->veh[k - 1];
        if (r->seq == v->delivered + 1) {
          v->delivered++;
          f->delivered++;
        } else {
          f->dup_or_gap++;
        }
      }
    }
    dd_wire_free(&env);
  }
  return 0;
}

/* The service device's own view: records it refused as not of its session. */
static void s_on_event(const Duodiag__Event *ev, const char *json, void *arg) {
  s_fleet_t *f = arg;
  if (!strcmp(ev->kind, "service.record_refused")) f->svc_refused++;
}

/* ---- sending ------------------------------------------------------------------------------ */

static void s_env(s_veh_t *v, Duodiag__Envelope *env, uint64_t now) {
  dd_wire_envelope_init(env, v->id, ++v->env_seq, now);
}

/* S3: ServiceHello, and the relay hello (dd_relay.h: a RelayForward addressed to its own sender
 * makes it an end of the session; the relay echoes it). */
static int s_hello(s_veh_t *v) {
  uint64_t now = s_now(v->f);
  Duodiag__ServiceHello h = DUODIAG__SERVICE_HELLO__INIT;
  h.session_id = v->session;
  h.token = "";
  h.device_id = v->id;
  h.vin = v->vin;
  Duodiag__Envelope env;
  s_env(v, &env, now);
  env.body_case = DUODIAG__ENVELOPE__BODY_SERVICE_HELLO;
  env.service_hello = &h;
  int rc = dd_wire_send(v->svc, &env, ZMQ_DONTWAIT);
  if (rc < 0) return rc;
  Duodiag__Probe p = DUODIAG__PROBE__INIT;
  p.sent_us = now;
  Duodiag__Envelope inner;
  s_env(v, &inner, now);
  inner.body_case = DUODIAG__ENVELOPE__BODY_PROBE;
  inner.probe = &p;
  uint8_t ib[256];
  size_t len = 0;
  rc = dd_wire_encode(&inner, ib, sizeof ib, &len);
  if (rc < 0) return rc;
  Duodiag__RelayForward fw = DUODIAG__RELAY_FORWARD__INIT;
  fw.session_id = v->session;
  fw.destination = v->id;
  fw.inner.data = ib;
  fw.inner.len = len;
  s_env(v, &env, now);
  env.body_case = DUODIAG__ENVELOPE__BODY_RELAY_FORWARD;
  env.relay_forward = &fw;
  return dd_wire_send(v->relay, &env, ZMQ_DONTWAIT);
}

/* One live-data record (S42: an OBD-II answer for engine speed and vehicle speed, decoded),
 * through the relay (S44). */
static void s_send_record(s_veh_t *v) {
  s_fleet_t *f = v->f;
  uint64_t seq = v->next_seq, now = s_now(f);
  unsigned rpm = 800 + (unsigned)((seq * 37 + v->index * 11) % 2400);
  unsigned kmh = (unsigned)((seq + v->index) % 120);
  uint8_t payload[7] = {0x41, 0x0C,        (uint8_t)((rpm * 4) >> 8), (uint8_t)(rpm * 4), 0x41,
                        0x0D, (uint8_t)kmh};
  Duodiag__Value val[2], *vals[2] = {&val[0], &val[1]};
  duodiag__value__init(&val[0]);
  duodiag__value__init(&val[1]);
  val[0].name = "engine_rpm";
  val[0].unit = "rpm";
  val[0].value = rpm;
  val[1].name = "vehicle_speed";
  val[1].unit = "km/h";
  val[1].value = kmh;
  Duodiag__VehicleRecord r = DUODIAG__VEHICLE_RECORD__INIT;
  r.session_id = v->session;
  r.seq = seq;
  r.request_id = 1;
  r.sampled_us = now;
  r.path = DUODIAG__VEHICLE_RECORD__PATH__RELAY;
  r.payload.data = payload;
  r.payload.len = sizeof payload;
  r.n_values = 2;
  r.values = vals;
  r.ecu_id = 0x7E8;
  r.last = seq == f->per_vehicle;
  Duodiag__Envelope inner;
  s_env(v, &inner, now);
  inner.body_case = DUODIAG__ENVELOPE__BODY_VEHICLE_RECORD;
  inner.vehicle_record = &r;
  size_t len = 0;
  int rc = dd_wire_encode(&inner, f->buf, DD_WIRE_MAX_INNER, &len);
  if (rc == 0) {
    Duodiag__RelayForward fw = DUODIAG__RELAY_FORWARD__INIT;
    fw.session_id = v->session;
    fw.destination = S_SERVICE_ID;
    fw.inner.data = f->buf;
    fw.inner.len = len;
    Duodiag__Envelope env;
    s_env(v, &env, now);
    env.body_case = DUODIAG__ENVELOPE__BODY_RELAY_FORWARD;
    env.relay_forward = &fw;
    now = s_now(f);
    rc = dd_wire_send(v->relay, &env, ZMQ_DONTWAIT);
  }
  v->next_seq++;
  v->due_us += f->period_us;
  if (rc < 0) {
    f->send_errors++;
    return;
  }
  v->sent_us[seq - 1] = now ? now : 1;
  f->sent++;
}

static int s_on_pace(dd_loop_t *loop, int id, void *arg) {
  s_fleet_t *f = arg;
  uint64_t now = s_now(f);
  for (unsigned i = 0; i < f->n; i++) {
    s_veh_t *v = &f->veh[i];
    while (v->next_seq <= f->per_vehicle && v->due_us <= now)
      s_send_record(v);
  }
  return 0;
}

/* ---- the processes ------------------------------------------------------------------------ */

/* CPU time of a running child so far, all its threads (ZeroMQ's I/O thread too), us: the first
 * field of /proc/PID/task/TID/schedstat (time on a CPU, ns, kept exactly by the scheduler). */
static uint64_t s_cpu_us(s_fleet_t *f, const char *name) {
  struct dd_child *c = dd_rig_child(f->rig, name);
  if (!c) return 0;
  char path[96];
  snprintf(path, sizeof path, "/proc/%d/task", (int)dd_child_pid(c));
  DIR *d = opendir(path);
  if (!d) return 0;
  uint64_t ns = 0;
  struct dirent *de;
  while ((de = readdir(d))) {
    if (de->d_name[0] == '.') continue;
    char file[400];
    snprintf(file, sizeof file, "%s/%s/schedstat", path, de->d_name);
    FILE *fp = fopen(file, "r");
    unsigned long long run = 0;
    if (fp && fscanf(fp, "%llu", &run) == 1) ns += run;
    if (fp) fclose(fp);
  }
  closedir(d);
  return ns / 1000;
}

static void *s_dealer(s_fleet_t *f, const char *id, const char *ep) {
  void *s = zmq_socket(dd_rig_zctx(f->rig), ZMQ_DEALER);
  if (!s) return NULL;
  int linger = 0;
  zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
  zmq_setsockopt(s, ZMQ_ROUTING_ID, id, strlen(id));
  dd_wire_limit_socket(s);
  if (zmq_connect(s, ep) != 0) {
    dd_error("e2e fleet: cannot connect to %s: %s", ep, zmq_strerror(zmq_errno()));
    zmq_close(s);
    return NULL;
  }
  return s;
}

/* ZeroMQ ipc paths are short (sun_path): a long run folder is reached through a short link. */
static int s_rig_dir(const char *dir, char *link, size_t cap, const char **use) {
  link[0] = '\0';
  *use = dir;
  if (strlen(dir) <= 80) return 0;
  const char *tmp = getenv("TMPDIR");
  snprintf(link, cap, "%s/ddb-XXXXXX", tmp && *tmp && strlen(tmp) < 40 ? tmp : "/tmp");
  if (!mkdtemp(link) || rmdir(link) != 0 || symlink(dir, link) != 0) {
    link[0] = '\0';
    return DD_ENAMETOOLONG;
  }
  *use = link;
  return 0;
}

static int s_setup(s_fleet_t *f) {
  char rep[300], sep[300];
  dd_rig_endpoint(f->rig, "relay", rep, sizeof rep);
  dd_rig_endpoint(f->rig, "service", sep, sizeof sep);
  const char *rargs[] = {"--endpoint", rep, NULL};
  int rc = dd_rig_spawn(f->rig, "relay", "relay", rargs, 10 * DD_US_PER_S);
  if (rc < 0) return rc;
  const char *sargs[] = {"--endpoint", sep,       "--udp", "127.0.0.1:0", "--id",
                         S_SERVICE_ID, "--relay", rep,     NULL};
  rc = dd_rig_spawn(f->rig, "service", "service", sargs, 10 * DD_US_PER_S);
  if (rc < 0) return rc;

  /* The reader first, so no record waits for it. */
  f->reader = s_dealer(f, S_READER_ID, sep);
  if (!f->reader) return DD_EIO;
  dd_loop_add_zsock(f->loop, f->reader, s_on_reader, f);
  Duodiag__ServiceHello h = DUODIAG__SERVICE_HELLO__INIT;
  h.session_id = "*";
  h.token = "";
  h.device_id = S_READER_ID;
  h.vin = "";
  Duodiag__Envelope env;
  dd_wire_envelope_init(&env, S_READER_ID, 1, s_now(f));
  env.body_case = DUODIAG__ENVELOPE__BODY_SERVICE_HELLO;
  env.service_hello = &h;
  rc = dd_wire_send(f->reader, &env, ZMQ_DONTWAIT);
  uint64_t end = s_now(f) + S_SETUP_US;
  while (!rc && !f->reader_ok && s_now(f) < end && !dd_bench_e2e_stopped())
    dd_loop_step(f->loop, 10000);
  if (rc < 0 || !f->reader_ok) {
    dd_error("e2e fleet: the service device did not welcome its second device");
    return rc < 0 ? rc : DD_ETIMEDOUT;
  }

  for (unsigned i = 0; i < f->n; i++) {
    s_veh_t *v = &f->veh[i];
    v->f = f;
    v->index = i;
    snprintf(v->id, sizeof v->id, "veh-%03u", i + 1);
    snprintf(v->session, sizeof v->session, "%s-s1", v->id);
    snprintf(v->vin, sizeof v->vin, "1DDBE2E%010u", i + 1);
    v->next_seq = 1;
    v->sent_us = calloc(f->per_vehicle, sizeof *v->sent_us);
    v->acked = calloc(f->per_vehicle, 1);
    v->svc = s_dealer(f, v->id, sep);
    v->relay = s_dealer(f, v->id, rep);
    if (!v->sent_us || !v->acked || !v->svc || !v->relay) return DD_ENOMEM;
    dd_loop_add_zsock(f->loop, v->svc, s_on_service, v);
    dd_loop_add_zsock(f->loop, v->relay, s_on_relay, v);
    rc = s_hello(v);
    if (rc < 0) return rc;
  }
  for (;;) {
    unsigned ready = 0;
    for (unsigned i = 0; i < f->n; i++)
      ready += f->veh[i].welcomed && f->veh[i].joined;
    if (ready == f->n) break;
    if (s_now(f) >= end || dd_bench_e2e_stopped() || f->refused) {
      dd_error("e2e fleet: %u of %u vehicles set up (ServiceWelcome and relay hello) "
               "in %llu s%s%s",
               ready, f->n, (unsigned long long)(S_SETUP_US / DD_US_PER_S),
               f->last_error[0] ? "; " : "", f->last_error);
      return DD_ETIMEDOUT;
    }
    dd_loop_step(f->loop, 10000);
    if (dd_rig_check_children(f->rig)) return DD_ECHILD_FAILED;
  }
  return 0;
}

static void s_teardown(s_fleet_t *f) {
  for (unsigned i = 0; f->veh && i < f->n; i++) {
    s_veh_t *v = &f->veh[i];
    if (v->svc) {
      dd_loop_remove_zsock(f->loop, v->svc);
      zmq_close(v->svc);
    }
    if (v->relay) {
      dd_loop_remove_zsock(f->loop, v->relay);
      zmq_close(v->relay);
    }
    free(v->sent_us);
    free(v->acked);
  }
  if (f->reader) {
    dd_loop_remove_zsock(f->loop, f->reader);
    zmq_close(f->reader);
  }
}

/* ---- the part ----------------------------------------------------------------------------- */

static void s_cpu_figures(const char *who, uint64_t cpu_us, uint64_t window_us, uint64_t records) {
  char name[64];
  snprintf(name, sizeof name, "e2e.fleet.%s_cpu", who);
  dd_bench_figure(name, (double)cpu_us / 1000.0, "ms");
  snprintf(name, sizeof name, "e2e.fleet.%s_cpu_load", who);
  dd_bench_figure(name, window_us ? 100.0 * (double)cpu_us / (double)window_us : 0, "%");
  snprintf(name, sizeof name, "e2e.fleet.%s_cpu_per_1k", who);
  dd_bench_figure(name, records ? (double)cpu_us / 1000.0 / ((double)records / 1000.0) : 0, "ms");
}

int dd_bench_e2e_fleet(const dd_bench_e2e_opts_t *o) {
  const char *label = "fleet";
  s_fleet_t f = {.o = o, .n = o->vehicles};
  f.per_vehicle = (unsigned)(o->rate_hz * o->fleet_s + 0.5);
  if (!f.per_vehicle) f.per_vehicle = 1;
  f.period_us = (uint64_t)(1e6 / o->rate_hz);
  dd_wire_stats_init(&f.ws);
  char dir[PATH_MAX], link[PATH_MAX] = "";
  const char *use = NULL;
  snprintf(dir, sizeof dir, "%s/fleet", o->work);
  int rc = mkdir(dir, 0755) == 0 || errno == EEXIST ? 0 : -errno;
  if (!rc) rc = s_rig_dir(dir, link, sizeof link, &use);
  if (!rc) rc = dd_rig_new(use, &f.rig);
  f.veh = calloc(f.n, sizeof *f.veh);
  f.buf = malloc(DD_WIRE_MAX_INNER);
  f.lat = malloc((size_t)f.n * f.per_vehicle * sizeof *f.lat);
  if (!rc && (!f.veh || !f.buf || !f.lat)) rc = DD_ENOMEM;
  if (rc < 0) {
    dd_error("e2e fleet: cannot start: %s", dd_strerror(rc));
    goto out;
  }
  f.loop = dd_rig_loop(f.rig);
  f.clock = dd_loop_clock(f.loop);
  dd_collector_on_event(dd_rig_collector(f.rig), s_on_event, &f);
  dd_bench_e2e_progress(o, label, "starting the relay, the service device and %u vehicles", f.n);
  rc = s_setup(&f);
  if (rc < 0) {
    dd_bench_e2e_progress_done(o);
    dd_error("e2e fleet could not be measured: set-up failed: %s", dd_strerror(rc));
    goto out;
  }

  /* Vehicles start spread over one period, so records leave evenly. */
  uint64_t t0 = s_now(&f) + 100000;
  for (unsigned i = 0; i < f.n; i++)
    f.veh[i].due_us = t0 + f.period_us * i / f.n;
  uint64_t cpu_relay0 = s_cpu_us(&f, "relay"), cpu_svc0 = s_cpu_us(&f, "service");
  int timer = dd_loop_timer_every(f.loop, S_PACE_US, s_on_pace, &f);
  uint64_t total = (uint64_t)f.n * f.per_vehicle, last_send = 0, next_note = 0;
  while (!dd_bench_e2e_stopped()) {
    dd_loop_step(f.loop, 2000);
    uint64_t now = s_now(&f);
    bool all_sent = f.sent + f.send_errors >= total;
    if (all_sent && !last_send) {
      last_send = now;
      dd_loop_timer_cancel(f.loop, timer);
      timer = 0;
    }
    if (all_sent && (f.acked >= f.sent || now > last_send + S_DRAIN_US)) break;
    if (now >= next_note) {
      dd_bench_e2e_progress(o, label, "%5.1f s  sent %llu of %llu, acknowledged %llu",
                            now > t0 ? (double)(now - t0) / 1e6 : 0.0, (unsigned long long)f.sent,
                            (unsigned long long)total, (unsigned long long)f.acked);
      next_note = now + 250000;
    }
    if (dd_rig_check_children(f.rig)) {
      rc = DD_ECHILD_FAILED;
      break;
    }
  }
  if (timer) dd_loop_timer_cancel(f.loop, timer);
  uint64_t t_end = s_now(&f);
  uint64_t cpu_relay = s_cpu_us(&f, "relay") - cpu_relay0,
           cpu_svc = s_cpu_us(&f, "service") - cpu_svc0;
  /* Records still on their way to the second device. */
  uint64_t settle = s_now(&f) + 500000;
  while (f.delivered < f.acked && s_now(&f) < settle)
    dd_loop_step(f.loop, 5000);
  dd_bench_e2e_progress_done(o);
  fprintf(stderr, "  %s: %u vehicles x %u records: %llu sent, %llu acknowledged (%s)\n", label, f.n,
          f.per_vehicle, (unsigned long long)f.sent, (unsigned long long)f.acked, dir);
  if (f.relay_errors || f.send_errors)
    dd_warn("e2e fleet: %llu RelayErrors, %llu sends refused; last: %s",
            (unsigned long long)f.relay_errors, (unsigned long long)f.send_errors, f.last_error);
  if (f.svc_refused)
    dd_warn("e2e fleet: the service device refused %llu records as not of a session it serves "
            "(service.record_refused)",
            (unsigned long long)f.svc_refused);
  if (rc < 0 || dd_bench_e2e_stopped()) {
    if (rc < 0) dd_error("e2e fleet could not be measured: %s", dd_strerror(rc));
    rc = rc < 0 ? rc : DD_ECANCELED;
    goto out;
  }
  if (!f.n_lat) {
    dd_error("e2e fleet could not be measured: no record was acknowledged (%llu sent)",
             (unsigned long long)f.sent);
    rc = DD_EIO;
    goto out;
  }
  dd_bench_e2e_sort(f.lat, f.n_lat);
  dd_bench_figure("e2e.fleet.vehicles", f.n, "vehicles");
  dd_bench_figure("e2e.fleet.offered_rate", f.n * o->rate_hz, "records/s");
  dd_bench_figure("e2e.fleet.records_sent", (double)f.sent, "records");
  /* Lost: sent and never acknowledged (the sender does not retransmit here, so every record
   * the system dropped shows). */
  dd_bench_figure_target("e2e.fleet.records_acked", (double)f.acked, "records", (double)f.sent, 1.0,
                         true);
  dd_bench_figure_target("e2e.fleet.records_delivered", (double)f.delivered, "records",
                         (double)f.sent, 1.0, true);
  dd_bench_figure_value_target("e2e.fleet.records_lost", (double)(f.sent - f.acked), "records", 0,
                               false);
  dd_bench_figure_value_target("e2e.fleet.delivery_errors", (double)f.dup_or_gap, "records", 0,
                               false);
  dd_bench_figure("e2e.fleet.latency_p50", dd_bench_e2e_quantile(f.lat, f.n_lat, 0.50), "ms");
  dd_bench_figure_target("e2e.fleet.latency_p99", dd_bench_e2e_quantile(f.lat, f.n_lat, 0.99), "ms",
                         S_TARGET_P99_MS, 1.0, false);
  dd_bench_figure("e2e.fleet.latency_max", f.lat[f.n_lat - 1], "ms");
  s_cpu_figures("relay", cpu_relay, t_end - t0, f.sent);
  s_cpu_figures("service", cpu_svc, t_end - t0, f.sent);
  rc = 0;
out:
  s_teardown(&f);
  if (f.rig && dd_rig_stop_all(f.rig, 3 * DD_US_PER_S) && !rc) rc = DD_ECHILD_FAILED;
  dd_rig_destroy(&f.rig);
  if (link[0]) unlink(link);
  free(f.veh);
  free(f.buf);
  free(f.lat);
  return rc;
}
