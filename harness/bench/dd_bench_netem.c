/* dd_bench_netem: accuracy and cost of a real duodiag-netem link. For zmq (a DEALER and a ROUTER
 * in this process, over loopback TCP) and udp (two sockets here): the delivery delay minus the
 * injected delay at 10, 50 and 200 ms and 1k and 10k messages/s; the throughput ceiling of a
 * clean link against a direct connection measured in the same run; the link process's CPU time
 * per 1000 messages; and, on udp, the measured loss rate and mean burst length of random and
 * Gilbert-Elliott loss against the configured (analytic) values. */
#include <arpa/inet.h>
#include <dirent.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zmq.h>

#include "dd_bench.h"
#include "dd_child.h"
#include "dd_collector.h"
#include "dd_ctl.h"
#include "dd_err.h"
#include "dd_link.h"
#include "dd_log.h"
#include "dd_netem_loss.h"
#include "dd_proc.h"
#include "dd_rig.h"

#define S_MS 1000ull
#define S_SEC 1000000ull
#define S_MSG 64                   /* bytes per message: [seq][~seq][send time][padding] */
#define S_MAX_SAMPLES 100000       /* latency samples per phase */
#define S_LOSS_N 40000u            /* datagrams per loss model */
#define S_CEILING_US (1500 * S_MS) /* how long each throughput measurement runs */
#define S_PACE_US 250              /* send timer period */

typedef enum { S_ZMQ, S_UDP } s_kind_t;

typedef struct {
  s_kind_t kind;       /* zmq or udp */
  dd_rig_t *rig;       /* harness with the link process */
  dd_loop_t *loop;     /* the rig's loop */
  char link_addr[128]; /* where clients go (from the link's netem.start event) */
  /* zmq */
  void *server;        /* ROUTER */
  void *client;        /* DEALER through the link */
  void *direct;        /* DEALER straight to the server */
  char server_ep[128]; /* its bound endpoint */
  /* udp */
  int userver, uclient, udirect;            /* sockets; udirect sends straight to userver */
  struct sockaddr_in server_addr, link_sin; /* targets */
  /* the phase running */
  uint32_t base;         /* first seq of the phase */
  uint32_t sent;         /* seqs used so far (global) */
  uint32_t received;     /* messages of the phase received */
  uint32_t stale;        /* messages of earlier phases still arriving */
  uint32_t order_errors; /* zmq: a message arrived before an earlier one */
  int64_t last_seq;      /* highest seq received in the phase */
  double *lat;           /* latency samples (us) of the phase */
  uint8_t *got;          /* udp loss phases: seq received */
  size_t n_got;          /* its size */
  bool direct_phase;     /* the phase sends on the direct path */
  uint32_t phase_n;      /* messages the phase sends */
  double rate;           /* messages per second, 0 = as fast as the window allows */
  uint32_t window;       /* ceiling phases: messages in flight at most */
  uint64_t t0;           /* phase start */
  int send_timer;        /* pacing timer */
  uint64_t carried;      /* messages through the link (for the CPU figure) */
  int64_t late[3];       /* the link's own release lateness p50, p99, max (us), up */
  bool have_late;        /* its netem.summary arrived */
} s_bench_t;

static uint64_t s_now(s_bench_t *b) { return dd_clock_now_us(dd_loop_clock(b->loop)); }

/* ---- sending and receiving ------------------------------------------------------------------ */

static void s_fill(uint8_t *m, uint32_t seq, uint64_t t) {
  uint32_t inv = ~seq;
  memset(m, 0x5a, S_MSG);
  memcpy(m, &seq, 4);
  memcpy(m + 4, &inv, 4);
  memcpy(m + 8, &t, 8);
}

/* Send the next message of the phase; false when the transport pushes back. */
static bool s_send_one(s_bench_t *b) {
  uint8_t m[S_MSG];
  s_fill(m, b->sent, s_now(b));
  if (b->kind == S_ZMQ) {
    if (zmq_send(b->direct_phase ? b->direct : b->client, m, S_MSG, ZMQ_DONTWAIT) < 0) return false;
  } else {
    const struct sockaddr_in *to = b->direct_phase ? &b->server_addr : &b->link_sin;
    if (sendto(b->direct_phase ? b->udirect : b->uclient, m, S_MSG, MSG_DONTWAIT,
               (const struct sockaddr *)to, sizeof *to) != S_MSG)
      return false;
  }
  b->sent++;
  return true;
}

static void s_take(s_bench_t *b, const uint8_t *m, size_t len, uint64_t now) {
  uint32_t seq, inv;
  uint64_t t;
  if (len != S_MSG) return;
  memcpy(&seq, m, 4);
  memcpy(&inv, m + 4, 4);
  memcpy(&t, m + 8, 8);
  if (seq != ~inv || seq < b->base) {
    b->stale++;
    return;
  }
  if (b->kind == S_ZMQ && (int64_t)seq <= b->last_seq) b->order_errors++;
  if ((int64_t)seq > b->last_seq) b->last_seq = seq;
  uint32_t i = seq - b->base;
  if (b->lat && b->received < S_MAX_SAMPLES) b->lat[b->received] = (double)(now - t);
  if (b->got && i < b->n_got) b->got[i] = 1;
  b->received++;
}

static int s_on_zserver(dd_loop_t *loop, void *zsock, int fd, void *arg) {
  s_bench_t *b = arg;
  uint8_t id[256], m[S_MSG + 1];
  for (int k = 0; k < 4096; k++) {
    if (zmq_recv(zsock, id, sizeof id, ZMQ_DONTWAIT) < 0) break;
    int n = zmq_recv(zsock, m, sizeof m, 0);
    s_take(b, m, n < 0 ? 0 : (size_t)n, s_now(b));
  }
  return 0;
}

static int s_on_userver(dd_loop_t *loop, void *zsock, int fd, void *arg) {
  s_bench_t *b = arg;
  uint8_t m[2048];
  for (int k = 0; k < 4096; k++) {
    ssize_t n = recv(fd, m, sizeof m, MSG_DONTWAIT);
    if (n < 0) break;
    s_take(b, m, (size_t)n, s_now(b));
  }
  return 0;
}

/* Paced phases: everything due by now leaves (timer every S_PACE_US on an absolute grid). */
static int s_on_pace(dd_loop_t *loop, int id, void *arg) {
  s_bench_t *b = arg;
  uint64_t now = s_now(b);
  uint32_t done = b->sent - b->base;
  uint64_t due = (uint64_t)((double)(now - b->t0) * b->rate / 1e6) + 1;
  if (due > b->phase_n) due = b->phase_n;
  while (done < due && s_send_one(b))
    done++;
  return 0;
}

/* ---- the link ------------------------------------------------------------------------------- */

/* The link's own events: its bound address at start, its release lateness at the end. */
static void s_on_event(const Duodiag__Event *ev, const char *json, void *arg) {
  s_bench_t *b = arg;
  bool start = !strcmp(ev->kind, "netem.start"), summary = !strcmp(ev->kind, "netem.summary");
  if (!start && !summary) return;
  json_t *o = json_loads(json, 0, NULL);
  const char *dir = json_string_value(json_object_get(o, "dir"));
  if (start) {
    const char *l = json_string_value(json_object_get(o, "listen"));
    if (l) snprintf(b->link_addr, sizeof b->link_addr, "%s", l);
  } else if (dir && !strcmp(dir, "up")) {
    b->late[0] = json_integer_value(json_object_get(o, "late_p50_us"));
    b->late[1] = json_integer_value(json_object_get(o, "late_p99_us"));
    b->late[2] = json_integer_value(json_object_get(o, "late_max_us"));
    b->have_late = true;
  }
  json_decref(o);
}

static int s_cmd(s_bench_t *b, const char *action, const char *json) {
  dd_ctl_result_t res;
  int rc =
      dd_ctl_call(dd_rig_ctl(b->rig), b->loop, "link", "action", action, json, 5 * S_SEC, &res);
  if (rc < 0) dd_error("bench: link %s %s failed: %s", action, json ? json : "", dd_strerror(rc));
  return rc;
}

static int s_udp_socket(struct sockaddr_in *bound) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  int size = 8 * 1024 * 1024;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t l = sizeof a;
  if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
      getsockname(fd, (struct sockaddr *)bound, &l) != 0) {
    int rc = -errno;
    close(fd);
    return rc;
  }
  return fd;
}

static int s_setup(s_bench_t *b, const char *out_dir, bool realtime) {
  char dir[600];
  if (out_dir) snprintf(dir, sizeof dir, "%s/%s", out_dir, b->kind == S_ZMQ ? "zmq" : "udp");
  int rc = dd_rig_new(out_dir ? dir : NULL, &b->rig);
  if (rc < 0) return rc;
  b->loop = dd_rig_loop(b->rig);
  dd_collector_on_event(dd_rig_collector(b->rig), s_on_event, b);
  char connect[160];
  int zero = 0;
  if (b->kind == S_ZMQ) {
    void *ctx = dd_rig_zctx(b->rig);
    b->server = zmq_socket(ctx, ZMQ_ROUTER);
    zmq_setsockopt(b->server, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(b->server, ZMQ_RCVHWM, &zero, sizeof zero);
    if (zmq_bind(b->server, "tcp://127.0.0.1:*") != 0) return -errno;
    size_t len = sizeof b->server_ep;
    zmq_getsockopt(b->server, ZMQ_LAST_ENDPOINT, b->server_ep, &len);
    snprintf(connect, sizeof connect, "%s", b->server_ep);
    dd_loop_add_zsock(b->loop, b->server, s_on_zserver, b);
  } else {
    b->userver = s_udp_socket(&b->server_addr);
    struct sockaddr_in tmp;
    b->uclient = s_udp_socket(&tmp);
    b->udirect = s_udp_socket(&tmp);
    if (b->userver < 0 || b->uclient < 0 || b->udirect < 0) return DD_EIO;
    snprintf(connect, sizeof connect, "127.0.0.1:%u", ntohs(b->server_addr.sin_port));
    dd_loop_add_fd(b->loop, b->userver, s_on_userver, b);
  }
  const char *args[] = {"--kind",
                        b->kind == S_ZMQ ? "zmq" : "udp",
                        "--listen",
                        b->kind == S_ZMQ ? "tcp://127.0.0.1:*" : "127.0.0.1:0",
                        "--connect",
                        connect,
                        "--seed",
                        "1",
                        realtime ? "--realtime" : NULL,
                        "10",
                        NULL};
  rc = dd_rig_spawn(b->rig, "link", "netem", args, 10 * S_SEC);
  if (rc < 0) return rc;
  uint64_t end = s_now(b) + 5 * S_SEC;
  while (!b->link_addr[0] && s_now(b) < end)
    dd_loop_step(b->loop, 10 * S_MS);
  if (!b->link_addr[0]) return DD_ETIMEDOUT;
  if (b->kind == S_ZMQ) {
    void *ctx = dd_rig_zctx(b->rig);
    b->client = zmq_socket(ctx, ZMQ_DEALER);
    b->direct = zmq_socket(ctx, ZMQ_DEALER);
    zmq_setsockopt(b->client, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(b->direct, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(b->client, ZMQ_ROUTING_ID, "bench", 5);
    zmq_setsockopt(b->direct, ZMQ_ROUTING_ID, "direct", 6);
    if (zmq_connect(b->client, b->link_addr) != 0 || zmq_connect(b->direct, b->server_ep) != 0)
      return DD_EINVAL;
  } else {
    unsigned port = 0;
    if (sscanf(b->link_addr, "127.0.0.1:%u", &port) != 1) return DD_EINVAL;
    b->link_sin = (struct sockaddr_in){.sin_family = AF_INET,
                                       .sin_port = htons((uint16_t)port),
                                       .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  }
  return 0;
}

static void s_teardown(s_bench_t *b) {
  if (b->server) dd_loop_remove_zsock(b->loop, b->server);
  if (b->userver > 0) dd_loop_remove_fd(b->loop, b->userver);
  if (b->client) zmq_close(b->client);
  if (b->direct) zmq_close(b->direct);
  if (b->server) zmq_close(b->server);
  if (b->userver > 0) close(b->userver);
  if (b->uclient > 0) close(b->uclient);
  if (b->udirect > 0) close(b->udirect);
  b->client = b->direct = b->server = NULL;
  b->userver = b->uclient = b->udirect = -1;
}

/* ---- phases --------------------------------------------------------------------------------- */

static void s_phase_start(s_bench_t *b, uint32_t n, double rate, bool direct) {
  b->base = b->sent;
  b->received = 0;
  b->stale = 0;
  b->order_errors = 0;
  b->last_seq = -1;
  b->phase_n = n;
  b->rate = rate;
  b->direct_phase = direct;
  dd_loop_step(b->loop, 0);
  b->t0 = s_now(b);
}

/* A paced phase: n messages at rate per second; waits for them up to grace after the last. */
static int s_paced(s_bench_t *b, uint32_t n, double rate, uint64_t grace) {
  s_phase_start(b, n, rate, false);
  b->send_timer = dd_loop_timer_every(b->loop, S_PACE_US, s_on_pace, b);
  if (b->send_timer < 0) return b->send_timer;
  s_on_pace(b->loop, b->send_timer, b);
  uint64_t end = b->t0 + (uint64_t)((double)n * 1e6 / rate) + grace;
  while (b->received < n && s_now(b) < end) {
    dd_loop_step(b->loop, 5 * S_MS);
    if (b->sent - b->base >= n && b->send_timer) {
      dd_loop_timer_cancel(b->loop, b->send_timer);
      b->send_timer = 0;
    }
    if (dd_rig_check_children(b->rig)) return DD_ECHILD_FAILED;
  }
  if (b->send_timer) dd_loop_timer_cancel(b->loop, b->send_timer);
  b->send_timer = 0;
  b->carried += b->sent - b->base;
  return 0;
}

static int s_cmp(const void *x, const void *y) {
  double a = *(const double *)x, c = *(const double *)y;
  return a < c ? -1 : a > c;
}

static double s_quantile(double *v, size_t n, double q) {
  size_t i = (size_t)ceil(q * (double)n) - 1;
  return v[i < n ? i : n - 1];
}

static int s_latency(s_bench_t *b, const char *kname, double delay_ms, double rate, double secs) {
  char json[64];
  snprintf(json, sizeof json, "{\"delay_ms\":%g}", delay_ms);
  int rc = s_cmd(b, "set", json);
  if (rc < 0) return rc;
  uint32_t n = (uint32_t)(rate * secs);
  rc = s_paced(b, n, rate, (uint64_t)(delay_ms * 1000.0) + 1500 * S_MS);
  if (rc < 0) return rc;
  if (b->received != n || b->order_errors) {
    dd_error("bench: %s %g ms at %g/s: %u of %u received, %u out of order", kname, delay_ms, rate,
             b->received, n, b->order_errors);
    return DD_EIO;
  }
  size_t k = n < S_MAX_SAMPLES ? n : S_MAX_SAMPLES;
  for (size_t i = 0; i < k; i++)
    b->lat[i] = (b->lat[i] - delay_ms * 1000.0) / 1000.0; /* excess, ms */
  qsort(b->lat, k, sizeof *b->lat, s_cmp);
  char name[96];
  snprintf(name, sizeof name, "netem.%s.d%gms.r%gk.excess_p50", kname, delay_ms, rate / 1000.0);
  dd_bench_figure(name, s_quantile(b->lat, k, 0.50), "ms");
  snprintf(name, sizeof name, "netem.%s.d%gms.r%gk.excess_p99", kname, delay_ms, rate / 1000.0);
  dd_bench_figure_limit(name, s_quantile(b->lat, k, 0.99), "ms", 0.5);
  if (b->lat[0] < 0) {
    dd_error("bench: %s: a message arrived %.3f ms before the injected delay", kname, -b->lat[0]);
    return DD_EIO;
  }
  return 0;
}

/* Throughput with at most window messages in flight, for S_CEILING_US; messages/s received. */
static double s_ceiling(s_bench_t *b, bool direct, uint32_t window) {
  s_phase_start(b, UINT32_MAX, 0, direct);
  uint64_t end = b->t0 + S_CEILING_US, last_progress = b->t0;
  uint32_t last_received = 0, lost_allowance = 0;
  while (s_now(b) < end) {
    while (b->sent - b->base - b->received - lost_allowance < window && s_send_one(b)) {
    }
    dd_loop_step(b->loop, S_MS);
    uint64_t now = s_now(b);
    if (b->received != last_received) {
      last_received = b->received;
      last_progress = now;
    } else if (now - last_progress > 50 * S_MS) {
      /* udp: something was dropped on the way (a kernel buffer); do not wait for it. */
      lost_allowance = b->sent - b->base - b->received;
      last_progress = now;
    }
  }
  double secs = (double)(s_now(b) - b->t0) / 1e6;
  if (!direct) b->carried += b->sent - b->base;
  /* Let what is in flight arrive, so the next phase starts clean. */
  uint64_t drain = s_now(b) + 500 * S_MS;
  while (b->sent - b->base - lost_allowance > b->received && s_now(b) < drain)
    dd_loop_step(b->loop, 5 * S_MS);
  return (double)b->received / secs;
}

/* Loss and mean burst (runs of consecutive lost seqs) over n datagrams. */
static int s_loss(s_bench_t *b, const char *label, const char *json,
                  const dd_netem_loss_params_t *model) {
  int rc = s_cmd(b, "set", json);
  if (rc < 0) return rc;
  b->n_got = S_LOSS_N;
  b->got = calloc(b->n_got, 1);
  if (!b->got) return DD_ENOMEM;
  rc = s_paced(b, S_LOSS_N, 20000.0, 300 * S_MS);
  uint32_t lost = 0, bursts = 0;
  for (uint32_t i = 0; i < S_LOSS_N; i++) {
    if (b->got[i]) continue;
    lost++;
    if (i == 0 || b->got[i - 1]) bursts++;
  }
  free(b->got);
  b->got = NULL;
  if (rc < 0) return rc;
  dd_netem_loss_expect_t ex;
  rc = dd_netem_loss_expected(model, DD_NETEM_CORR_PRESERVE, &ex);
  if (rc < 0) return rc;
  char name[96];
  snprintf(name, sizeof name, "netem.udp.%s.loss_rate", label);
  dd_bench_figure_limit(name, 100.0 * lost / S_LOSS_N, "%", 100.0 * ex.loss_rate);
  snprintf(name, sizeof name, "netem.udp.%s.mean_burst", label);
  dd_bench_figure_limit(name, bursts ? (double)lost / bursts : 0.0, "msgs", ex.mean_burst);
  return 0;
}

/* CPU time of the running link process so far, all its threads (ZeroMQ's I/O thread too), us:
 * the sum of the first field of /proc/PID/task/TID/schedstat (time on a CPU, ns, kept exactly by
 * the scheduler; /proc/PID/stat's clock ticks are only samples). 0 if unreadable. */
static uint64_t s_link_cpu_us(s_bench_t *b) {
  struct dd_child *c = dd_rig_child(b->rig, "link");
  if (!c) return 0;
  char path[96];
  snprintf(path, sizeof path, "/proc/%d/task", (int)dd_child_pid(c));
  DIR *d = opendir(path);
  if (!d) return 0;
  uint64_t ns = 0;
  struct dirent *de;
  while ((de = readdir(d))) {
    if (de->d_name[0] == '.') continue;
    char file[160];
    snprintf(file, sizeof file, "%s/%s/schedstat", path, de->d_name);
    FILE *f = fopen(file, "r");
    unsigned long long run = 0;
    if (f && fscanf(f, "%llu", &run) == 1) ns += run;
    if (f) fclose(f);
  }
  closedir(d);
  return ns / 1000;
}

static void s_cpu_figure(const char *kname, const char *what, uint64_t cpu_us, uint64_t msgs) {
  if (!msgs) return;
  char name[96];
  snprintf(name, sizeof name, "netem.%s.cpu_per_1k%s", kname, what);
  dd_bench_figure(name, (double)cpu_us / 1000.0 / ((double)msgs / 1000.0), "ms");
}

/* CPU time of reaped children (the link process once stopped), us. */
static uint64_t s_children_cpu_us(void) {
  struct rusage ru;
  getrusage(RUSAGE_CHILDREN, &ru);
  return (uint64_t)ru.ru_utime.tv_sec * S_SEC + (uint64_t)ru.ru_utime.tv_usec +
         (uint64_t)ru.ru_stime.tv_sec * S_SEC + (uint64_t)ru.ru_stime.tv_usec;
}

static int s_run_kind(s_kind_t kind, const char *out_dir, double secs, bool realtime) {
  s_bench_t b = {.kind = kind, .userver = -1, .uclient = -1, .udirect = -1};
  const char *kname = kind == S_ZMQ ? "zmq" : "udp";
  uint64_t cpu0 = s_children_cpu_us();
  b.lat = malloc(S_MAX_SAMPLES * sizeof *b.lat);
  int rc = b.lat ? s_setup(&b, out_dir, realtime) : DD_ENOMEM;
  if (rc < 0) dd_error("bench: cannot start the %s link: %s", kname, dd_strerror(rc));
  if (!rc && realtime) {
    /* This process too (its ZeroMQ I/O thread exists now): the receiver's wake-ups count. */
    int n = dd_link_realtime(10);
    if (n < 0) dd_warn("bench: --realtime: %s; normal scheduling here", dd_strerror(n));
  }
  static const double delays[] = {10, 50, 200}, rates[] = {1000, 10000};
  static const char *const rate_names[] = {".r1k", ".r10k"};
  for (size_t r = 0; r < 2 && !rc; r++) {
    uint64_t c0 = s_link_cpu_us(&b), m0 = b.carried;
    for (size_t d = 0; d < 3 && !rc; d++)
      rc = s_latency(&b, kname, delays[d], rates[r], rates[r] >= 10000 ? secs / 2 : secs);
    if (!rc) s_cpu_figure(kname, rate_names[r], s_link_cpu_us(&b) - c0, b.carried - m0);
  }
  if (!rc) rc = s_cmd(&b, "reset", NULL);
  if (!rc) {
    /* Direct first, then through the link, same window: the link's cost is the ratio. */
    uint32_t window = kind == S_ZMQ ? 2000 : 256;
    double direct = s_ceiling(&b, true, window);
    uint64_t c0 = s_link_cpu_us(&b), m0 = b.carried;
    double linked = s_ceiling(&b, false, window);
    s_cpu_figure(kname, ".saturated", s_link_cpu_us(&b) - c0, b.carried - m0);
    char name[64];
    snprintf(name, sizeof name, "netem.%s.direct_throughput", kname);
    dd_bench_figure(name, direct, "msg/s");
    snprintf(name, sizeof name, "netem.%s.link_throughput", kname);
    dd_bench_figure_limit(name, linked, "msg/s", direct);
  }
  if (!rc && kind == S_UDP) {
    dd_netem_loss_params_t m;
    dd_netem_loss_random(&m, 0.05, 0.0);
    rc = s_loss(&b, "loss_random", "{\"loss_pct\":5}", &m);
    /* Simple Gilbert: loss p / (p + r) = 5 %, mean burst 1 / r = 4 (r = 25 %, p = 1.3158 %). */
    double p = 0.25 * 0.05 / 0.95;
    dd_netem_loss_gemodel(&m, p, 0.25, 1.0, 0.0);
    char json[128];
    snprintf(json, sizeof json, "{\"gemodel\":{\"p\":%.10g,\"r\":25,\"h\":0,\"k\":100}}", p * 100);
    if (!rc) rc = s_loss(&b, "loss_gemodel", json, &m);
  }
  s_teardown(&b);
  if (b.rig && dd_rig_stop_all(b.rig, 3 * S_SEC) && !rc) rc = DD_ECHILD_FAILED;
  dd_rig_destroy(&b.rig);
  free(b.lat);
  if (!rc) s_cpu_figure(kname, "", s_children_cpu_us() - cpu0, b.carried);
  if (!rc && b.have_late) {
    /* How late the link itself sent each copy after its scheduled release, over the whole run:
     * the part of the excess delay that is the link's timer, not the sockets around it. */
    static const char *const q[] = {"p50", "p99", "max"};
    for (int i = 0; i < 3; i++) {
      char name[64];
      snprintf(name, sizeof name, "netem.%s.release_late_%s", kname, q[i]);
      dd_bench_figure(name, (double)b.late[i], "us");
    }
  }
  return rc;
}

/* Declared here until dd_bench.h lists it beside dd_bench_isotp. */

int dd_bench_netem(int argc, char **argv) {
  const char *out_dir = NULL;
  double secs = 2.0;
  int kinds = 3;
  bool realtime = false;
  static const struct option opts[] = {
      {"out", required_argument, 0, 'o'},  {"seconds", required_argument, 0, 's'},
      {"kind", required_argument, 0, 'k'}, {"realtime", no_argument, 0, 'r'},
      {"help", no_argument, 0, 'h'},       {0, 0, 0, 0}};
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "o:s:k:rh", opts, NULL)) != -1) {
    switch (c) {
    case 'o': out_dir = optarg; break;
    case 'r': realtime = true; break;
    case 's': secs = atof(optarg); break;
    case 'k': kinds = !strcmp(optarg, "zmq") ? 1 : !strcmp(optarg, "udp") ? 2 : 0; break;
    case 'h':
      printf("usage: duodiag bench netem [--kind zmq|udp] [--seconds S] [--realtime] [--out DIR]\n"
             "Runs a real duodiag-netem link (zmq: DEALER -> link -> ROUTER over loopback TCP;\n"
             "udp: socket -> link -> socket) and prints, for 10, 50 and 200 ms of injected delay\n"
             "at 1k and 10k messages/s (S seconds at 1k/s, S/2 at 10k/s; default 2), the\n"
             "measured minus injected delay (p50, p99 against a 0.5 ms target); the messages/s\n"
             "of a clean link against a direct connection measured in the same run; the link\n"
             "process's CPU time per 1000 messages at 1k/s, 10k/s and saturated (all its\n"
             "threads, from /proc/PID/task/*/schedstat) and over its whole life (getrusage\n"
             "RUSAGE_CHILDREN once reaped); and on udp the loss rate and mean burst of\n"
             "5 %% random loss and of Gilbert-Elliott loss (5 %%, mean burst 4) against their\n"
             "analytic values. --realtime runs the link and this process under SCHED_FIFO 10\n"
             "(duodiag-netem --realtime). With --out, each link's run folder is kept under DIR.\n");
      return DD_EXIT_OK;
    default: return DD_EXIT_USAGE;
    }
  }
  if (!kinds || secs < 0.1 || secs > 60) {
    fprintf(stderr, "duodiag bench netem: --kind zmq|udp and --seconds 0.1..60 please\n");
    return DD_EXIT_USAGE;
  }
  dd_log_setup("bench", dd_log_level_parse(getenv("DD_LOG_LEVEL"), DD_LOG_WARN));
  if ((kinds & 1) && s_run_kind(S_ZMQ, out_dir, secs, realtime) < 0) return DD_EXIT_FAILURE;
  if ((kinds & 2) && s_run_kind(S_UDP, out_dir, secs, realtime) < 0) return DD_EXIT_FAILURE;
  return DD_EXIT_OK;
}
