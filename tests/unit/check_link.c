/* check_link: duodiag-netem as a real process between a client and a server living in this test,
 * started and commanded through the harness (dd_rig, dd_ctl): a zmq link carries messages whole,
 * in order, with the configured delay (the lower bound is exact, the upper bound generous since
 * the machine is shared); a mid-stream change to 300 ms with Gilbert-Elliott loss loses nothing
 * and keeps order; back to clean, latency falls; outages hold messages and release them in
 * order; a delay ramp; a reconnecting client keeps its routing id; on a udp link random loss,
 * duplication, corruption (one bit per corrupted copy) and reordering are really applied and
 * match the link's own timeline events; bad commands are refused with a precise message. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <dirent.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zmq.h>

#include "dd_child.h"
#include "dd_collector.h"
#include "dd_ctl.h"
#include "dd_err.h"
#include "dd_rig.h"

#define MS 1000ull
#define SEC 1000000ull
#define S_MAX 8192
#define S_LINK "im"

/* ---- timeline helpers ----------------------------------------------------------------------- */

/* Events of kind from process proc whose line contains needle (NULL: any). */
static int s_count(const dd_rig_t *rig, const char *kind, const char *needle) {
  char path[512], line[8192], k[128];
  snprintf(path, sizeof path, "%s/timeline.jsonl", dd_rig_dir(rig));
  snprintf(k, sizeof k, "\"kind\":\"%s\"", kind);
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  int n = 0;
  while (fgets(line, sizeof line, f))
    if (strstr(line, k) && strstr(line, "\"proc\":\"" S_LINK "\"") &&
        (!needle || strstr(line, needle)))
      n++;
  fclose(f);
  return n;
}

/* Events of kind from the link, in direction dir (NULL: any), whose number field key is within
 * tol of value. Numbers are compared as numbers: the timeline writes 100 as 1e2. */
static int s_count_num(const dd_rig_t *rig, const char *kind, const char *dir, const char *key,
                       double value, double tol) {
  char path[512], line[8192];
  snprintf(path, sizeof path, "%s/timeline.jsonl", dd_rig_dir(rig));
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  int n = 0;
  while (fgets(line, sizeof line, f)) {
    json_t *o = json_loads(line, 0, NULL);
    const char *k = json_string_value(json_object_get(o, "kind"));
    const char *p = json_string_value(json_object_get(o, "proc"));
    const char *d = json_string_value(json_object_get(o, "dir"));
    json_t *v = json_object_get(o, key);
    if (k && p && !strcmp(k, kind) && !strcmp(p, S_LINK) && (!dir || (d && !strcmp(d, dir))) &&
        json_is_number(v) && json_number_value(v) >= value - tol &&
        json_number_value(v) <= value + tol)
      n++;
    json_decref(o);
  }
  fclose(f);
  return n;
}

/* The run folder goes once a test has passed (a failing one keeps it for inspection). */
static void s_rm_tree(const char *path) {
  DIR *d = opendir(path);
  if (d) {
    struct dirent *de;
    while ((de = readdir(d))) {
      if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
      char sub[1024];
      snprintf(sub, sizeof sub, "%s/%s", path, de->d_name);
      if (de->d_type == DT_DIR)
        s_rm_tree(sub); /* real folders only, never a link's target */
      else
        remove(sub);
    }
    closedir(d);
  }
  remove(path);
}

/* Destroy the rig, then remove its folder. */
static void s_rig_done(dd_rig_t **rig) {
  char dir[512];
  snprintf(dir, sizeof dir, "%s", dd_rig_dir(*rig));
  dd_rig_destroy(rig);
  s_rm_tree(dir);
}

/* The collector hands every event here: the link's start event tells its bound address. */
typedef struct {
  char listen[128]; /* from netem.start */
} s_seen_t;

static void s_on_event(const Duodiag__Event *ev, const char *json, void *arg) {
  s_seen_t *seen = arg;
  if (strcmp(ev->kind, "netem.start") != 0) return;
  json_t *o = json_loads(json, 0, NULL);
  const char *l = json_string_value(json_object_get(o, "listen"));
  if (l) snprintf(seen->listen, sizeof seen->listen, "%s", l);
  json_decref(o);
}

static uint64_t s_now(dd_rig_t *rig) { return dd_clock_now_us(dd_loop_clock(dd_rig_loop(rig))); }

static void s_run_for(dd_rig_t *rig, uint64_t us) {
  uint64_t end = s_now(rig) + us;
  for (uint64_t now = s_now(rig); now < end; now = s_now(rig))
    dd_loop_step(dd_rig_loop(rig), end - now < 2 * MS ? end - now : 2 * MS);
}

static int s_cmd(dd_rig_t *rig, const char *action, const char *json) {
  dd_ctl_result_t res;
  return dd_ctl_call(dd_rig_ctl(rig), dd_rig_loop(rig), S_LINK, "action", action, json, 5 * SEC,
                     &res);
}

static dd_rig_t *s_rig(s_seen_t *seen) {
  dd_rig_t *rig = NULL;
  ck_assert_int_eq(dd_rig_new(NULL, &rig), 0);
  dd_collector_on_event(dd_rig_collector(rig), s_on_event, seen);
  return rig;
}

static void s_spawn(dd_rig_t *rig, s_seen_t *seen, const char *const *args) {
  ck_assert_int_eq(dd_rig_spawn(rig, S_LINK, "netem", args, 10 * SEC), 0);
  uint64_t end = s_now(rig) + 5 * SEC;
  while (!seen->listen[0] && s_now(rig) < end)
    dd_loop_step(dd_rig_loop(rig), 10 * MS);
  ck_assert_msg(seen->listen[0], "no netem.start event with the bound address");
}

static void s_finish(dd_rig_t **rig) {
  ck_assert_int_eq(dd_rig_stop_all(*rig, 5 * SEC), 0); /* STOP -> exit 0, timeline flushed */
}

/* ---- the zmq side: a DEALER client and a ROUTER server in this process --------------------------
 */

typedef struct {
  dd_rig_t *rig;          /* harness */
  void *client;           /* DEALER, routing id "tester" */
  void *server;           /* ROUTER: the real server */
  bool echo;              /* server answers every message */
  uint32_t sent;          /* client messages sent */
  uint32_t got;           /* server: messages received */
  uint32_t got_back;      /* client: echoes received */
  bool out_of_order;      /* a message came out of order (either side) */
  bool bad_shape;         /* a message was not [seq][time][payload] */
  char last_id[64];       /* routing id the server saw last */
  uint64_t lat[S_MAX];    /* server: one-way latency of message i (us) */
  uint64_t rtt[S_MAX];    /* client: round trip of message i (us) */
  uint64_t arrive[S_MAX]; /* server: arrival time of message i */
} s_zenv_t;

static void s_zsend(s_zenv_t *e, void *sock, const void *id, size_t id_len, uint32_t seq,
                    uint64_t t) {
  uint8_t pad[100];
  memset(pad, (int)(seq & 0xff), sizeof pad);
  if (id) zmq_send(sock, id, id_len, ZMQ_SNDMORE);
  zmq_send(sock, &seq, sizeof seq, ZMQ_SNDMORE);
  zmq_send(sock, &t, sizeof t, ZMQ_SNDMORE);
  zmq_send(sock, pad, sizeof pad, 0);
}

/* Read one message of up to 5 parts; returns the number of parts, 0 if none. */
static int s_zrecv(void *sock, uint8_t part[5][128], size_t len[5]) {
  int n = 0;
  int more = 1;
  while (more) {
    int r = zmq_recv(sock, n < 5 ? part[n] : part[4], 128, n == 0 ? ZMQ_DONTWAIT : 0);
    if (r < 0) return n;
    if (n < 5) len[n] = (size_t)r;
    n++;
    size_t sz = sizeof more;
    zmq_getsockopt(sock, ZMQ_RCVMORE, &more, &sz);
  }
  return n;
}

static bool s_shape_ok(uint8_t part[5][128], const size_t len[5], int n, int first, uint32_t seq) {
  if (n != first + 3 || len[first] != 4 || len[first + 1] != 8 || len[first + 2] != 100)
    return false;
  for (int i = 0; i < 100; i++)
    if (part[first + 2][i] != (uint8_t)(seq & 0xff)) return false;
  return true;
}

static int s_on_server(dd_loop_t *loop, void *zsock, int fd, void *arg) {
  s_zenv_t *e = arg;
  uint8_t part[5][128];
  size_t len[5];
  int n;
  while ((n = s_zrecv(zsock, part, len)) > 0) {
    uint64_t now = s_now(e->rig);
    uint32_t seq = 0;
    uint64_t t = 0;
    if (n >= 3 && len[1] == 4 && len[2] == 8) {
      memcpy(&seq, part[1], 4);
      memcpy(&t, part[2], 8);
    }
    if (!s_shape_ok(part, len, n, 1, seq)) e->bad_shape = true;
    if (seq != e->got) e->out_of_order = true;
    snprintf(e->last_id, sizeof e->last_id, "%.*s", (int)len[0], (const char *)part[0]);
    if (seq < S_MAX) {
      e->lat[seq] = now - t;
      e->arrive[seq] = now;
    }
    e->got++;
    if (e->echo) s_zsend(e, zsock, part[0], len[0], seq, t);
  }
  return 0;
}

static int s_on_client(dd_loop_t *loop, void *zsock, int fd, void *arg) {
  s_zenv_t *e = arg;
  uint8_t part[5][128];
  size_t len[5];
  int n;
  while ((n = s_zrecv(zsock, part, len)) > 0) {
    uint32_t seq = 0;
    uint64_t t = 0;
    if (n >= 2 && len[0] == 4 && len[1] == 8) {
      memcpy(&seq, part[0], 4);
      memcpy(&t, part[1], 8);
    }
    if (!s_shape_ok(part, len, n, 0, seq)) e->bad_shape = true;
    if (seq != e->got_back) e->out_of_order = true;
    if (seq < S_MAX) e->rtt[seq] = s_now(e->rig) - t;
    e->got_back++;
  }
  return 0;
}

static void *s_dealer(dd_rig_t *rig, const char *id, const char *ep) {
  void *s = zmq_socket(dd_rig_zctx(rig), ZMQ_DEALER);
  int zero = 0;
  zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
  zmq_setsockopt(s, ZMQ_ROUTING_ID, id, strlen(id));
  ck_assert_int_eq(zmq_connect(s, ep), 0);
  return s;
}

/* A zmq link with optional initial parameters between a fresh client and server. */
static s_zenv_t *s_zenv(const char *params, s_seen_t *seen) {
  s_zenv_t *e = calloc(1, sizeof *e);
  ck_assert_ptr_nonnull(e);
  e->rig = s_rig(seen);
  char link_ep[256], srv_ep[256];
  dd_rig_endpoint(e->rig, "link", link_ep, sizeof link_ep);
  dd_rig_endpoint(e->rig, "server", srv_ep, sizeof srv_ep);
  e->server = zmq_socket(dd_rig_zctx(e->rig), ZMQ_ROUTER);
  int zero = 0;
  zmq_setsockopt(e->server, ZMQ_LINGER, &zero, sizeof zero);
  ck_assert_int_eq(zmq_bind(e->server, srv_ep), 0);
  const char *args[] = {"--kind", "zmq",       "--listen",
                        link_ep,  "--connect", srv_ep,
                        "--seed", "7",         params ? "--params" : NULL,
                        params,   NULL};
  s_spawn(e->rig, seen, args);
  ck_assert_str_eq(seen->listen, link_ep);
  e->client = s_dealer(e->rig, "tester", link_ep);
  dd_loop_add_zsock(dd_rig_loop(e->rig), e->server, s_on_server, e);
  dd_loop_add_zsock(dd_rig_loop(e->rig), e->client, s_on_client, e);
  return e;
}

static void s_zenv_free(s_zenv_t *e) {
  dd_loop_remove_zsock(dd_rig_loop(e->rig), e->server);
  dd_loop_remove_zsock(dd_rig_loop(e->rig), e->client);
  zmq_close(e->client);
  zmq_close(e->server);
  s_rig_done(&e->rig);
  free(e);
}

/* Send n messages at rate per second (paced on the clock), stepping the loop. */
static void s_zsend_paced(s_zenv_t *e, uint32_t n, double rate) {
  uint64_t t0 = s_now(e->rig);
  uint32_t end = e->sent + n, first = e->sent;
  while (e->sent < end) {
    uint64_t now = s_now(e->rig);
    while (e->sent < end && t0 + (uint64_t)((double)(e->sent - first) * 1e6 / rate) <= now) {
      s_zsend(e, e->client, NULL, 0, e->sent, s_now(e->rig));
      e->sent++;
    }
    dd_loop_step(dd_rig_loop(e->rig), 200);
  }
}

/* Step until the server has count messages (and the client count echoes if echoing). */
static bool s_zwait(s_zenv_t *e, uint32_t count, uint64_t timeout) {
  uint64_t end = s_now(e->rig) + timeout;
  while ((e->got < count || (e->echo && e->got_back < count)) && s_now(e->rig) < end)
    dd_loop_step(dd_rig_loop(e->rig), 5 * MS);
  return e->got >= count && (!e->echo || e->got_back >= count);
}

static int s_cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* Median and extremes of v[from .. to). */
static void s_stats(const uint64_t *v, uint32_t from, uint32_t to, uint64_t *min, uint64_t *med,
                    uint64_t *max) {
  uint32_t n = to - from;
  uint64_t *c = malloc(n * sizeof *c);
  memcpy(c, v + from, n * sizeof *c);
  qsort(c, n, sizeof *c, s_cmp_u64);
  *min = c[0];
  *med = c[n / 2];
  *max = c[n - 1];
  free(c);
}

/* ---- zmq tests ------------------------------------------------------------------------------ */

START_TEST(test_zmq_delay_order_and_echo) {
  s_seen_t seen = {0};
  s_zenv_t *e = s_zenv("{\"delay_ms\":20}", &seen);
  e->echo = true;
  s_zsend_paced(e, 2000, 5000.0);
  ck_assert_msg(s_zwait(e, 2000, 20 * SEC), "got %u of 2000, %u echoes", e->got, e->got_back);
  ck_assert(!e->out_of_order);
  ck_assert(!e->bad_shape); /* three parts, whole */
  ck_assert_str_eq(e->last_id, "tester");
  s_run_for(e->rig, 1100 * MS); /* one netem.counters period */
  uint64_t mn, med, mx;
  s_stats(e->lat, 0, 2000, &mn, &med, &mx);
  ck_assert_uint_ge(mn, 20 * MS); /* the delay is a lower bound, exactly */
  ck_assert_msg(med < 120 * MS, "median one-way %llu us", (unsigned long long)med);
  ck_assert_msg(mx < 1020 * MS, "max one-way %llu us", (unsigned long long)mx);
  s_stats(e->rtt, 0, 2000, &mn, &med, &mx);
  ck_assert_uint_ge(mn, 40 * MS); /* 20 ms each way */
  ck_assert_msg(med < 240 * MS, "median round trip %llu us", (unsigned long long)med);
  s_finish(&e->rig);
  ck_assert_int_eq(s_count(e->rig, "netem.start", "\"link_kind\":\"zmq\""), 1);
  ck_assert_int_eq(s_count_num(e->rig, "netem.set", NULL, "delay_ms", 20.0, 0),
                   2); /* up and down */
  ck_assert_int_ge(s_count(e->rig, "netem.counters", "\"dir\":\"up\",\"rx\":2000"), 1);
  ck_assert_int_ge(s_count(e->rig, "netem.counters", "\"dir\":\"down\",\"rx\":2000"), 1);
  ck_assert_int_eq(s_count(e->rig, "netem.peer", "\"id\":\"tester\""), 1);
  ck_assert_int_eq(s_count(e->rig, "netem.summary", "\"dir\":\"up\",\"rx\":2000,\"tx\":2000"), 1);
  ck_assert_int_eq(s_count(e->rig, "netem.summary", "\"dir\":\"down\",\"rx\":2000,\"tx\":2000"), 1);
  s_zenv_free(e);
}
END_TEST

START_TEST(test_zmq_midstream_set_and_back) {
  s_seen_t seen = {0};
  s_zenv_t *e = s_zenv(NULL, &seen);
  uint64_t mn, med, mx;
  /* Clean. */
  s_zsend_paced(e, 200, 2000.0);
  ck_assert(s_zwait(e, 200, 10 * SEC));
  s_stats(e->lat, 0, 200, &mn, &med, &mx);
  ck_assert_msg(med < 100 * MS, "clean median %llu us", (unsigned long long)med);
  /* 300 ms and 5 % Gilbert loss (p/(p+r) = 2.6316/52.6316 = 0.05, mean burst 1/r = 2): loss
   * turns into retransmission delay (RTO 20 ms, doubling). */
  ck_assert_int_eq(s_cmd(e->rig, "set",
                         "{\"delay_ms\":300,\"gemodel\":{\"p\":2.6316,\"r\":50},"
                         "\"rto_ms\":20}"),
                   0);
  s_zsend_paced(e, 400, 1000.0);
  /* Back to clean while those are still on their way. */
  ck_assert_int_eq(s_cmd(e->rig, "set", "{\"delay_ms\":0,\"loss_pct\":0}"), 0);
  ck_assert_msg(s_zwait(e, 600, 60 * SEC), "got %u of 600", e->got);
  ck_assert(!e->out_of_order);
  ck_assert(!e->bad_shape);
  s_stats(e->lat, 200, 600, &mn, &med, &mx);
  ck_assert_uint_ge(mn, 300 * MS); /* every message sent after the set waited 300 ms */
  ck_assert_uint_ge(mx, 320 * MS); /* and some waited for retransmissions on top */
  s_zsend_paced(e, 200, 2000.0);
  ck_assert(s_zwait(e, 800, 10 * SEC));
  ck_assert(!e->out_of_order);
  s_stats(e->lat, 600, 800, &mn, &med, &mx);
  /* Falls again: well under the 300 ms of before (the bound is loose: a loaded machine can
   * stall a process for tens of ms). */
  ck_assert_msg(med < 100 * MS && mn < 50 * MS, "clean again: median %llu min %llu us",
                (unsigned long long)med, (unsigned long long)mn);
  s_finish(&e->rig);
  int retrans = s_count(e->rig, "netem.retransmit", "\"dir\":\"up\"");
  ck_assert_int_gt(retrans, 0);
  ck_assert_int_eq(s_count(e->rig, "netem.drop", NULL), 0); /* a zmq link never drops */
  ck_assert_int_eq(s_count(e->rig, "netem.set", "\"loss_model\":\"gemodel\""), 2);
  ck_assert_int_eq(s_count_num(e->rig, "netem.set", NULL, "expected_loss_pct", 5.0, 0.001), 2);
  ck_assert_int_eq(s_count(e->rig, "netem.summary", "\"rx\":800,\"tx\":800"), 1);
  s_zenv_free(e);
}
END_TEST

START_TEST(test_zmq_outage_holds_and_releases_in_order) {
  s_seen_t seen = {0};
  s_zenv_t *e = s_zenv("{\"delay_ms\":10}", &seen);
  s_zsend_paced(e, 20, 2000.0);
  ck_assert(s_zwait(e, 20, 5 * SEC));
  /* Down until restored: everything waits. */
  ck_assert_int_eq(s_cmd(e->rig, "outage", "{\"dir\":\"up\"}"), 0);
  s_zsend_paced(e, 100, 1000.0);
  s_run_for(e->rig, 400 * MS);
  ck_assert_uint_eq(e->got, 20);
  uint64_t restored = s_now(e->rig);
  ck_assert_int_eq(s_cmd(e->rig, "restore", NULL), 0);
  ck_assert_msg(s_zwait(e, 120, 10 * SEC), "got %u of 120 after restore", e->got);
  ck_assert(!e->out_of_order);
  for (uint32_t i = 20; i < 120; i++)
    ck_assert_uint_ge(e->arrive[i], restored);
  /* A timed outage of 0.3 s: TCP's retransmission timer (200 ms, doubling, started when the
   * link went down) first fires after the end at +600 ms, plus the 10 ms path delay. */
  uint64_t down = s_now(e->rig);
  ck_assert_int_eq(s_cmd(e->rig, "outage", "{\"for_s\":0.3}"), 0);
  s_zsend_paced(e, 50, 1000.0);
  ck_assert_msg(s_zwait(e, 170, 10 * SEC), "got %u of 170 after the timed outage", e->got);
  ck_assert(!e->out_of_order);
  for (uint32_t i = 120; i < 170; i++)
    ck_assert_uint_ge(e->arrive[i], down + 600 * MS);
  s_finish(&e->rig);
  ck_assert_int_eq(s_count(e->rig, "netem.outage", "\"dir\":\"up\",\"from_us\""), 2);
  ck_assert_int_eq(s_count(e->rig, "netem.outage", "\"until_us\":-1"), 1);
  ck_assert_int_eq(s_count(e->rig, "netem.restore", "\"dir\":\"up\""), 1);
  ck_assert_int_eq(s_count(e->rig, "netem.outage_end", "\"dir\":\"up\""), 1);
  ck_assert_int_ge(s_count(e->rig, "netem.hold", "\"dir\":\"up\""), 150);
  s_zenv_free(e);
}
END_TEST

START_TEST(test_zmq_ramp) {
  s_seen_t seen = {0};
  s_zenv_t *e = s_zenv(NULL, &seen);
  s_zsend_paced(e, 10, 1000.0); /* the path is up (the link's DEALER has connected) */
  ck_assert(s_zwait(e, 10, 5 * SEC));
  ck_assert_int_eq(s_cmd(e->rig, "ramp", "{\"dir\":\"up\",\"delay_ms_to\":100,\"over_s\":0.5}"), 0);
  uint64_t replied = s_now(e->rig);
  s_zsend_paced(e, 400, 500.0); /* 0.8 s: the ramp, then 0.3 s at 100 ms */
  ck_assert(s_zwait(e, 410, 10 * SEC));
  ck_assert(!e->out_of_order);
  /* Exact lower bound: the ramp started before the reply and the link read each message after
   * it was sent, so the delay it got is at least the ramp's value at (send time - reply). */
  for (uint32_t i = 10; i < 410; i++) {
    uint64_t sent = e->arrive[i] - e->lat[i];
    double f = (double)(sent - replied) / 500000.0;
    uint64_t floor_us = (uint64_t)((f < 1.0 ? f : 1.0) * 100000.0);
    ck_assert_msg(e->lat[i] >= floor_us, "message %u: %llu us < ramp %llu us", i,
                  (unsigned long long)e->lat[i], (unsigned long long)floor_us);
  }
  /* And it is a ramp, not a jump: about 4 ms for the first 20, 50 ms around message 125. */
  uint64_t mn, med, mx;
  s_stats(e->lat, 10, 30, &mn, &med, &mx);
  ck_assert_msg(med < 50 * MS, "start of ramp: median %llu us", (unsigned long long)med);
  s_stats(e->lat, 125, 145, &mn, &med, &mx);
  ck_assert_msg(med >= 35 * MS && med < 90 * MS, "mid ramp: median %llu us",
                (unsigned long long)med);
  s_finish(&e->rig);
  ck_assert_int_eq(s_count_num(e->rig, "netem.ramp", "up", "to_ms", 100.0, 0), 1);
  ck_assert_int_eq(s_count_num(e->rig, "netem.ramp_done", "up", "delay_ms", 100.0, 0), 1);
  s_zenv_free(e);
}
END_TEST

START_TEST(test_zmq_reconnect_keeps_id) {
  s_seen_t seen = {0};
  s_zenv_t *e = s_zenv(NULL, &seen);
  e->echo = true;
  s_zsend_paced(e, 5, 1000.0);
  ck_assert(s_zwait(e, 5, 5 * SEC));
  ck_assert_str_eq(e->last_id, "tester");
  /* The client goes away and comes back with the same id. */
  dd_loop_remove_zsock(dd_rig_loop(e->rig), e->client);
  zmq_close(e->client);
  char link_ep[256];
  e->client = s_dealer(e->rig, "tester", dd_rig_endpoint(e->rig, "link", link_ep, sizeof link_ep));
  dd_loop_add_zsock(dd_rig_loop(e->rig), e->client, s_on_client, e);
  e->last_id[0] = 0;
  s_zsend_paced(e, 5, 1000.0);
  ck_assert(s_zwait(e, 10, 5 * SEC)); /* and the answers reach the new connection */
  ck_assert_str_eq(e->last_id, "tester");
  ck_assert(!e->out_of_order);
  s_finish(&e->rig);
  ck_assert_int_eq(s_count(e->rig, "netem.peer", NULL), 1); /* the same DEALER serves it */
  ck_assert_int_eq(s_count(e->rig, "netem.undeliverable", NULL), 0);
  s_zenv_free(e);
}
END_TEST

START_TEST(test_commands_refused_with_reasons) {
  s_seen_t seen = {0};
  s_zenv_t *e = s_zenv(NULL, &seen);
  ck_assert_int_eq(s_cmd(e->rig, "set", "{\"loss_pct\":140}"), DD_EINVAL);
  ck_assert_int_eq(s_cmd(e->rig, "set", "{\"dealy_ms\":5}"), DD_EINVAL);
  ck_assert_int_eq(s_cmd(e->rig, "set", "{\"dup_pct\":5}"), DD_EINVAL); /* a zmq link */
  ck_assert_int_eq(s_cmd(e->rig, "blackhole", NULL), DD_EINVAL);
  ck_assert_int_eq(s_cmd(e->rig, "counters", NULL), 0);
  ck_assert_int_eq(s_cmd(e->rig, "get", "{\"dir\":\"down\"}"), 0);
  ck_assert_int_eq(s_cmd(e->rig, "reset", NULL), 0);
  /* A SET command: key = parameter, value = its JSON value (or a bare word). */
  ck_assert_int_gt(dd_ctl_send(dd_rig_ctl(e->rig), S_LINK, "set", "delay_ms", "25", NULL), 0);
  ck_assert_int_gt(dd_ctl_send(dd_rig_ctl(e->rig), S_LINK, "set", "dist", "uniform", NULL), 0);
  s_run_for(e->rig, 300 * MS);
  s_finish(&e->rig);
  ck_assert_int_eq(s_count_num(e->rig, "netem.set", NULL, "delay_ms", 25.0, 0), 4);
  ck_assert_int_eq(s_count(e->rig, "netem.set", "\"dist\":\"uniform\""), 2);
  ck_assert_int_eq(s_count(e->rig, "netem.rejected", "loss_pct: 140 is out of range 0..100"), 1);
  ck_assert_int_eq(s_count(e->rig, "netem.rejected", "(did you mean \\\"delay_ms\\\"?)"), 1);
  ck_assert_int_eq(s_count(e->rig, "netem.rejected", "a zmq link never duplicates"), 1);
  ck_assert_int_eq(s_count(e->rig, "netem.rejected", "unknown action \\\"blackhole\\\""), 1);
  ck_assert_int_eq(s_count(e->rig, "netem.set", "\"args\":\"reset\""), 2);
  s_zenv_free(e);
}
END_TEST

/* ---- the udp side -----------------------------------------------------------------------------
 */

#define S_DGRAM 64

typedef struct {
  dd_rig_t *rig;           /* harness */
  int client, server;      /* sockets of this test */
  struct sockaddr_in link; /* the link's client-side address */
  uint32_t seen[S_MAX];    /* copies of seq i received intact */
  uint32_t corrupted;      /* copies received with a bit flipped */
  uint32_t bad_flips;      /* copies damaged otherwise than by exactly one bit */
  uint32_t copies;         /* all copies received */
  uint32_t overtaken;      /* arrivals with a seq below the highest seen before */
  uint32_t fast;           /* arrivals within 10 ms of sending */
  int64_t max_seq;         /* highest seq received */
  uint32_t echoes;         /* answers the client received */
  uint32_t kdrops;         /* datagrams the kernel dropped at the server socket (cumulative) */
} s_uenv_t;

/* [seq][~seq][send time][~send time][pattern of seq]: every field is checkable, so a flipped
 * bit anywhere is found and the number of flipped bits counted. */
static void s_dgram(uint8_t *b, uint32_t seq, uint64_t t) {
  uint32_t inv = ~seq;
  uint64_t tinv = ~t;
  memcpy(b, &seq, 4);
  memcpy(b + 4, &inv, 4);
  memcpy(b + 8, &t, 8);
  memcpy(b + 16, &tinv, 8);
  for (int i = 24; i < S_DGRAM; i++)
    b[i] = (uint8_t)(seq * 31u + (uint32_t)i);
}

static int s_pattern_flips(const uint8_t *b, uint32_t seq) {
  int bits = 0;
  for (int i = 24; i < S_DGRAM; i++)
    bits += __builtin_popcount((unsigned)(b[i] ^ (uint8_t)(seq * 31u + (uint32_t)i)));
  return bits;
}

/* Bits flipped in a datagram of S_DGRAM bytes (0 = intact), and its seq and send time. */
static int s_flips(const uint8_t *b, uint32_t *seq_out, uint64_t *t_out) {
  uint32_t seq, inv;
  uint64_t t, tinv;
  memcpy(&seq, b, 4);
  memcpy(&inv, b + 4, 4);
  memcpy(&t, b + 8, 8);
  memcpy(&tinv, b + 16, 8);
  int head = __builtin_popcount(seq ^ ~inv) + __builtin_popcountll(t ^ ~tinv);
  int p1 = s_pattern_flips(b, seq), p2 = s_pattern_flips(b, ~inv);
  *seq_out = seq;
  *t_out = t;
  return head + (p1 < p2 ? p1 : p2);
}

static int s_on_udp_server(dd_loop_t *loop, void *zsock, int fd, void *arg) {
  s_uenv_t *e = arg;
  uint8_t b[2048];
  struct sockaddr_in from;
  socklen_t fl = sizeof from;
  ssize_t n;
  for (;;) {
    /* recvmsg for SO_RXQ_OVFL: what the kernel dropped here is not the link's doing. */
    struct iovec iov = {.iov_base = b, .iov_len = sizeof b};
    union {
      char buf[CMSG_SPACE(sizeof(uint32_t))];
      struct cmsghdr align;
    } ctl;
    struct msghdr mh = {.msg_name = &from,
                        .msg_namelen = sizeof from,
                        .msg_iov = &iov,
                        .msg_iovlen = 1,
                        .msg_control = ctl.buf,
                        .msg_controllen = sizeof ctl.buf};
    n = recvmsg(fd, &mh, MSG_DONTWAIT);
    if (n < 0) break;
    fl = mh.msg_namelen;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL)
        memcpy(&e->kdrops, CMSG_DATA(c), sizeof e->kdrops);
    uint64_t now = s_now(e->rig);
    e->copies++;
    uint32_t seq;
    uint64_t t;
    int flips = n == S_DGRAM ? s_flips(b, &seq, &t) : -1;
    if (flips == 1) e->corrupted++;
    if (flips != 0) {
      if (flips != 1) e->bad_flips++;
      continue;
    }
    if (seq >= S_MAX) {
      e->bad_flips++;
      continue;
    }
    e->seen[seq]++;
    if ((int64_t)seq < e->max_seq)
      e->overtaken++;
    else
      e->max_seq = seq;
    if (now - t < 20 * MS) e->fast++; /* under the delay: can only be a reordered one */
    if (seq >= 7000 && seq < 7010)    /* echo range: answer through the link */
      sendto(fd, b, (size_t)n, 0, (struct sockaddr *)&from, fl);
  }
  return 0;
}

static int s_on_udp_client(dd_loop_t *loop, void *zsock, int fd, void *arg) {
  s_uenv_t *e = arg;
  uint8_t b[2048];
  while (recv(fd, b, sizeof b, MSG_DONTWAIT) >= 0)
    e->echoes++;
  return 0;
}

static int s_udp_bound(struct sockaddr_in *addr) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ck_assert_int_ge(fd, 0);
  int size = 4 * 1024 * 1024;
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
  socklen_t l = sizeof *addr;
  getsockname(fd, (struct sockaddr *)addr, &l);
  return fd;
}

static void s_usend_paced(s_uenv_t *e, uint32_t first, uint32_t n, double rate) {
  uint64_t t0 = s_now(e->rig);
  uint32_t i = 0;
  uint8_t b[S_DGRAM];
  while (i < n) {
    uint64_t now = s_now(e->rig);
    while (i < n && t0 + (uint64_t)((double)i * 1e6 / rate) <= now) {
      s_dgram(b, first + i, s_now(e->rig));
      ck_assert_int_eq(
          sendto(e->client, b, sizeof b, 0, (struct sockaddr *)&e->link, sizeof e->link), S_DGRAM);
      i++;
    }
    dd_loop_step(dd_rig_loop(e->rig), 200);
  }
}

static void s_ureset(s_uenv_t *e) {
  memset(e->seen, 0, sizeof e->seen);
  e->corrupted = e->bad_flips = e->copies = e->overtaken = e->fast = 0;
  e->max_seq = -1;
}

static uint32_t s_distinct(const s_uenv_t *e, uint32_t from, uint32_t n, uint32_t *dups) {
  uint32_t d = 0, k = 0;
  for (uint32_t i = from; i < from + n; i++) {
    if (e->seen[i]) d++;
    if (e->seen[i] > 1) k += e->seen[i] - 1;
  }
  if (dups) *dups = k;
  return d;
}

START_TEST(test_udp_loss_dup_corrupt_reorder) {
  s_seen_t seen = {0};
  s_uenv_t *e = calloc(1, sizeof *e);
  e->rig = s_rig(&seen);
  struct sockaddr_in srv, cli;
  e->server = s_udp_bound(&srv);
  e->client = s_udp_bound(&cli);
  char connect[64];
  snprintf(connect, sizeof connect, "127.0.0.1:%u", ntohs(srv.sin_port));
  const char *args[] = {"--kind", "udp",    "--listen", "127.0.0.1:0", "--connect",
                        connect,  "--seed", "11",       NULL};
  s_spawn(e->rig, &seen, args);
  unsigned port = 0;
  ck_assert_int_eq(sscanf(seen.listen, "127.0.0.1:%u", &port), 1);
  e->link = (struct sockaddr_in){.sin_family = AF_INET,
                                 .sin_port = htons((uint16_t)port),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  dd_loop_add_fd(dd_rig_loop(e->rig), e->server, s_on_udp_server, e);
  dd_loop_add_fd(dd_rig_loop(e->rig), e->client, s_on_udp_client, e);

  /* Clean, both ways: ten answers come back to the client through the link. */
  s_ureset(e);
  s_usend_paced(e, 7000, 10, 1000.0);
  s_run_for(e->rig, 200 * MS);
  ck_assert_uint_eq(s_distinct(e, 7000, 10, NULL), 10);
  ck_assert_uint_eq(e->echoes, 10);

  /* 10 % random loss over 5000 datagrams: binomial sd 21 datagrams; +-150 is 7 sd. */
  ck_assert_int_eq(s_cmd(e->rig, "set", "{\"loss_pct\":10}"), 0);
  s_ureset(e);
  uint32_t k0 = e->kdrops;
  s_usend_paced(e, 0, 5000, 10000.0);
  s_run_for(e->rig, 300 * MS);
  uint32_t kd_loss = e->kdrops - k0; /* lost in this test's own socket buffer: not the link */
  uint32_t got = s_distinct(e, 0, 5000, NULL);
  uint32_t lost = 5000 - got - kd_loss;
  ck_assert_msg(lost >= 350 && lost <= 650, "lost %u of 5000", lost);
  ck_assert_uint_eq(e->copies, got); /* no duplicates, no corruption asked */

  /* Duplication and corruption, 20 % each, over 2000: dups sd 18, corrupted copies sd 20. */
  ck_assert_int_eq(s_cmd(e->rig, "set", "{\"loss_pct\":0,\"dup_pct\":20,\"corrupt_pct\":20}"), 0);
  s_ureset(e);
  k0 = e->kdrops;
  s_usend_paced(e, 0, 2000, 10000.0);
  s_run_for(e->rig, 300 * MS);
  uint32_t kd_dup = e->kdrops - k0;
  uint32_t dups = 0;
  uint32_t intact = s_distinct(e, 0, 2000, &dups);
  uint32_t dup_seen = e->copies + kd_dup - 2000; /* every message leaves at least once */
  ck_assert_msg(dup_seen >= 300 && dup_seen <= 500, "%u duplicates of 2000", dup_seen);
  ck_assert_msg(e->corrupted >= 360 && e->corrupted <= 600, "%u corrupted of %u copies",
                e->corrupted, e->copies);
  ck_assert_uint_eq(e->bad_flips, 0); /* every corrupted copy differs in exactly one bit */
  ck_assert_uint_eq(intact + dups + e->corrupted, e->copies);
  uint32_t corrupted = e->corrupted;

  /* Reordering: 20 ms delay, 30 % of copies go at once (after gap - 1 = 2 delayed ones). */
  ck_assert_int_eq(s_cmd(e->rig, "set",
                         "{\"dup_pct\":0,\"corrupt_pct\":0,\"delay_ms\":20,"
                         "\"reorder_pct\":30,\"gap\":3}"),
                   0);
  s_ureset(e);
  k0 = e->kdrops;
  s_usend_paced(e, 0, 1000, 2000.0);
  s_run_for(e->rig, 300 * MS);
  ck_assert_uint_eq(s_distinct(e, 0, 1000, NULL) + (e->kdrops - k0), 1000);
  ck_assert_uint_gt(e->fast, 50);      /* sent at once */
  ck_assert_uint_gt(e->overtaken, 50); /* delayed ones arriving after later ones */
  uint32_t fast = e->fast;

  dd_loop_remove_fd(dd_rig_loop(e->rig), e->server);
  dd_loop_remove_fd(dd_rig_loop(e->rig), e->client);
  s_finish(&e->rig);
  ck_assert_int_eq(s_count(e->rig, "netem.start", "\"link_kind\":\"udp\""), 1);
  ck_assert_int_eq(s_count(e->rig, "netem.peer", "\"addr\":\"127.0.0.1:"), 1);
  /* The link's own account matches what arrived. */
  ck_assert_int_eq(s_count(e->rig, "netem.drop", "\"cause\":\"random\""), (int)lost);
  /* (Exact unless this test's own socket dropped some: kd_dup, normally 0.) */
  int dup_ev = s_count(e->rig, "netem.duplicate", "\"dir\":\"up\"");
  ck_assert_int_ge(dup_ev, (int)dup_seen - (int)kd_dup);
  ck_assert_int_le(dup_ev, (int)dup_seen);
  int corrupt_ev = s_count(e->rig, "netem.corrupt", "\"dir\":\"up\"");
  ck_assert_int_ge(corrupt_ev, (int)corrupted);
  ck_assert_int_le(corrupt_ev, (int)corrupted + (int)kd_dup);
  /* Every copy faster than the delay was sent at once (exact); nearly all sent at once are
   * faster than the delay (a loaded machine may stall a few). */
  int reordered = s_count(e->rig, "netem.reorder", "\"dir\":\"up\"");
  ck_assert_int_ge(reordered, (int)fast);
  ck_assert_int_le(reordered, (int)fast + (int)fast / 10);
  ck_assert_int_eq(s_count(e->rig, "netem.summary", "\"rx_kernel_drops\":0"), 2);
  close(e->server);
  close(e->client);
  s_rig_done(&e->rig);
  free(e);
}
END_TEST

START_TEST(test_bad_usage) {
  s_seen_t seen = {0};
  dd_rig_t *rig = s_rig(&seen);
  const char *no_kind[] = {"--listen", "ipc:///tmp/x", "--connect", "ipc:///tmp/y", NULL};
  ck_assert_int_eq(dd_rig_spawn(rig, "a", "netem", no_kind, 10 * SEC), DD_ECHILD_FAILED);
  const char *bad_params[] = {"--kind",    "udp",         "--listen", "127.0.0.1:0",
                              "--connect", "127.0.0.1:9", "--params", "{\"loss_pct\":140}",
                              NULL};
  ck_assert_int_eq(dd_rig_spawn(rig, "b", "netem", bad_params, 10 * SEC), DD_ECHILD_FAILED);
  const char *bad_addr[] = {"--kind",    "udp",         "--listen", "nonsense",
                            "--connect", "127.0.0.1:9", NULL};
  ck_assert_int_eq(dd_rig_spawn(rig, "c", "netem", bad_addr, 10 * SEC), DD_ECHILD_FAILED);
  char tail[1024];
  int code = -1;
  ck_assert(dd_child_exited(dd_rig_child(rig, "b"), &code, NULL));
  ck_assert_int_eq(code, 2);
  dd_child_tail(dd_rig_child(rig, "b"), tail, sizeof tail, 5);
  ck_assert_ptr_nonnull(strstr(tail, "--params: loss_pct: 140 is out of range 0..100"));
  dd_child_tail(dd_rig_child(rig, "a"), tail, sizeof tail, 5);
  ck_assert_ptr_nonnull(strstr(tail, "--kind is required"));
  dd_child_tail(dd_rig_child(rig, "c"), tail, sizeof tail, 5);
  ck_assert_ptr_nonnull(strstr(tail, "--listen wants host:port for udp"));
  ck_assert_int_eq(dd_rig_stop_all(rig, SEC), 3);
  s_rig_done(&rig);
}
END_TEST

int main(void) {
  Suite *s = suite_create("link");
  TCase *tc = tcase_create("process");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_zmq_delay_order_and_echo);
  tcase_add_test(tc, test_zmq_midstream_set_and_back);
  tcase_add_test(tc, test_zmq_outage_holds_and_releases_in_order);
  tcase_add_test(tc, test_zmq_ramp);
  tcase_add_test(tc, test_zmq_reconnect_keeps_id);
  tcase_add_test(tc, test_commands_refused_with_reasons);
  tcase_add_test(tc, test_udp_loss_dup_corrupt_reorder);
  tcase_add_test(tc, test_bad_usage);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
