/* dd_bench_isotp: ISO-TP throughput through the virtual bus process, measured against the
 * limit computed from the exact bit counts of the very frames that carried it, and the error of
 * real frame delivery times against their computed times. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dd_bench.h"
#include "dd_canbits.h"
#include "dd_canmux.h"
#include "dd_canport_vbus.h"
#include "dd_err.h"
#include "dd_isotp_link.h"
#include "dd_log.h"
#include "dd_proc.h"
#include "dd_rig.h"

#define S_MAX_SAMPLES 200000

typedef struct {
  const char *label;     /* figure name part, e.g. "classic500k" */
  bool fd;               /* CAN FD with bit-rate switch */
  uint32_t nominal_bps;  /* arbitration rate */
  uint32_t data_bps;     /* data rate */
  int messages;          /* messages to send */
} s_cfg_t;

typedef struct {
  const s_cfg_t *cfg;       /* what runs */
  size_t size;              /* bytes per message */
  dd_isotp_link_t *tx, *rx; /* tester -> ecu */
  uint8_t *payload;         /* message content */
  int sent, received;       /* progress */
  uint64_t t_start, t_end;  /* first send, last reception (loop time, us) */
  uint64_t bus_ns;          /* sum of the frames' computed wire times */
  uint64_t frames;          /* frames counted in bus_ns */
  double *late;             /* delivery lateness samples, us */
  size_t n_late;            /* samples */
  int error;                /* first failure, or 0 */
} s_run_t;

static void s_on_ecu_frame(const dd_can_frame_t *f, uint64_t now, void *arg) {
  s_run_t *r = arg;
  if (f->flags & DD_CAN_F_ERR) return;
  r->bus_ns += dd_canbits_duration_ns(f, r->cfg->nominal_bps, r->cfg->data_bps);
  r->frames++;
  if (r->n_late < S_MAX_SAMPLES) r->late[r->n_late++] = (double)now - (double)f->ts_us;
}

static void s_send_next(s_run_t *r) {
  if (r->sent >= r->cfg->messages) return;
  r->payload[0] = (uint8_t)r->sent; /* each message differs */
  int rc = dd_isotp_link_send(r->tx, r->payload, r->size);
  if (rc < 0) r->error = rc;
  else r->sent++;
}

static void s_on_tx(dd_isotp_link_t *link, const dd_isotp_event_t *ev, void *arg) {
  s_run_t *r = arg;
  if (ev->kind == DD_ISOTP_EV_TX_DONE) s_send_next(r);
  else if (ev->kind == DD_ISOTP_EV_TX_ERROR) r->error = ev->error;
}

static void s_on_rx(dd_isotp_link_t *link, const dd_isotp_event_t *ev, void *arg) {
  s_run_t *r = arg;
  if (ev->kind == DD_ISOTP_EV_RX_ERROR) {
    r->error = ev->error;
  } else if (ev->kind == DD_ISOTP_EV_RX_DONE) {
    if (ev->len != r->size || ev->data[0] != (uint8_t)r->received ||
        memcmp(ev->data + 1, r->payload + 1, r->size - 1) != 0)
      r->error = DD_EILSEQ;
    r->received++;
    r->t_end = ev->time_us;
  }
}

static int s_cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static int s_run(const s_cfg_t *cfg, size_t size, const char *out_dir) {
  int rc;
  dd_rig_t *rig = NULL;
  s_run_t r = {.cfg = cfg, .size = size};
  r.payload = malloc(size);
  r.late = malloc(S_MAX_SAMPLES * sizeof *r.late);
  if (!r.payload || !r.late) {
    rc = DD_ENOMEM;
    goto out;
  }
  for (size_t i = 0; i < size; i++) r.payload[i] = (uint8_t)(i * 7 + 3);
  char dir[512];
  if (out_dir) snprintf(dir, sizeof dir, "%s/%s", out_dir, cfg->label);
  rc = dd_rig_new(out_dir ? dir : NULL, &rig);
  if (rc < 0) goto out;
  char ep[256], nb[16], db[16], candump[600], pcap[600];
  snprintf(nb, sizeof nb, "%u", cfg->nominal_bps);
  snprintf(db, sizeof db, "%u", cfg->data_bps);
  snprintf(candump, sizeof candump, "%s/can.log", dd_rig_dir(rig));
  snprintf(pcap, sizeof pcap, "%s/can.pcap", dd_rig_dir(rig));
  const char *args[] = {"--endpoint", dd_rig_endpoint(rig, "bus", ep, sizeof ep), "--bitrate",
                        nb, "--dbitrate", db, out_dir ? "--candump" : NULL, candump, "--pcap",
                        pcap, NULL};
  rc = dd_rig_spawn(rig, "bus", "bus", args, 10 * DD_US_PER_S);
  if (rc < 0) goto out;

  dd_loop_t *loop = dd_rig_loop(rig);
  dd_canport_opts_t popts = {.fd = cfg->fd, .loopback = true};
  dd_canport_t *p1 = NULL, *p2 = NULL;
  dd_canmux_t *tester = NULL, *ecu = NULL;
  rc = dd_canport_vbus_open(dd_rig_zctx(rig), ep, "tester", &popts, &p1);
  if (!rc) rc = dd_canmux_new(loop, p1, &tester);
  if (!rc) rc = dd_canport_vbus_open(dd_rig_zctx(rig), ep, "ecu", &popts, &p2);
  if (!rc) rc = dd_canmux_new(loop, p2, &ecu);
  dd_isotp_cfg_t tc, ec;
  dd_isotp_cfg_default(&tc);
  tc.fd = cfg->fd;
  tc.tx_dl = cfg->fd ? 64 : 8;
  tc.brs = cfg->fd;
  tc.rx_max = (uint32_t)size;
  ec = tc;
  ec.tx_id = tc.rx_id;
  ec.rx_id = tc.tx_id;
  if (!rc) rc = dd_isotp_link_new(tester, &tc, s_on_tx, &r, &r.tx);
  if (!rc) rc = dd_isotp_link_new(ecu, &ec, s_on_rx, &r, &r.rx);
  if (!rc) rc = dd_canmux_listen(ecu, s_on_ecu_frame, &r) > 0 ? 0 : DD_ENOSPC;
  if (rc < 0) goto out_links;

  /* Both nodes must have joined before the clock starts. */
  uint64_t deadline = dd_loop_now(loop) + 5 * DD_US_PER_S;
  while (!(dd_canport_vbus_attached(p1, NULL, NULL) && dd_canport_vbus_attached(p2, NULL, NULL))) {
    if (dd_loop_now(loop) > deadline) {
      dd_error("bench: nodes did not join the bus within 5 s");
      rc = DD_ETIMEDOUT;
      goto out_links;
    }
    dd_loop_step(loop, 10000);
  }
  r.t_start = dd_clock_now_us(dd_loop_clock(loop));
  dd_loop_step(loop, 0);
  r.t_start = dd_loop_now(loop);
  s_send_next(&r);
  deadline = r.t_start + 120 * DD_US_PER_S;
  int last_pct = -1;
  bool tty = isatty(STDERR_FILENO);
  while (r.received < cfg->messages && !r.error) {
    if (dd_loop_now(loop) > deadline) {
      r.error = DD_ETIMEDOUT;
      break;
    }
    dd_loop_step(loop, 100000);
    int pct = 100 * r.received / cfg->messages;
    if (tty && pct / 10 != last_pct / 10) {
      fprintf(stderr, "\r  %s: %3d%%", cfg->label, pct);
      last_pct = pct;
    }
    if (dd_rig_check_children(rig)) r.error = DD_ECHILD_FAILED;
  }
  fprintf(stderr, "%s  %s: %s (%d messages of %zu bytes)\n", tty ? "\r" : "", cfg->label,
          r.error ? "failed" : "done", r.received, size);
  if (r.error) {
    dd_error("bench: %s transfer failed after %d of %d messages: %s", cfg->label, r.received,
             cfg->messages, dd_strerror(r.error));
    rc = r.error;
    goto out_links;
  }
  /* Let the last FC echo and frames settle so every frame is counted. */
  for (int i = 0; i < 5; i++) dd_loop_step(loop, 2000);

  double bytes = (double)size * cfg->messages;
  double secs = (double)(r.t_end - r.t_start) / 1e6;
  double limit = bytes / ((double)r.bus_ns / 1e9);
  char name[96];
  snprintf(name, sizeof name, "isotp.%s.throughput", cfg->label);
  dd_bench_figure_limit(name, bytes / secs, "B/s", limit);
  snprintf(name, sizeof name, "isotp.%s.frames", cfg->label);
  dd_bench_figure(name, (double)r.frames, "frames");
  qsort(r.late, r.n_late, sizeof *r.late, s_cmp);
  if (r.n_late) {
    snprintf(name, sizeof name, "isotp.%s.frame_time_error_p50", cfg->label);
    dd_bench_figure(name, r.late[r.n_late / 2], "us");
    snprintf(name, sizeof name, "isotp.%s.frame_time_error_p99", cfg->label);
    dd_bench_figure(name, r.late[(size_t)((double)r.n_late * 0.99)], "us");
  }
out_links:
  dd_isotp_link_destroy(&r.tx);
  dd_isotp_link_destroy(&r.rx);
  dd_canmux_destroy(&tester);
  dd_canmux_destroy(&ecu);
out:
  if (rig && dd_rig_stop_all(rig, 3 * DD_US_PER_S) && !rc) rc = DD_ECHILD_FAILED;
  dd_rig_destroy(&rig);
  free(r.payload);
  free(r.late);
  return rc;
}

int dd_bench_isotp(int argc, char **argv) {
  int messages = 20;
  size_t size = 4095;
  const char *out_dir = NULL;
  static const struct option opts[] = {{"messages", required_argument, 0, 'm'},
                                       {"size", required_argument, 0, 's'},
                                       {"out", required_argument, 0, 'o'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "m:s:o:h", opts, NULL)) != -1) {
    switch (c) {
    case 'm': messages = atoi(optarg); break;
    case 's': size = (size_t)strtoul(optarg, NULL, 0); break;
    case 'o': out_dir = optarg; break;
    case 'h':
      printf("usage: duodiag bench isotp [--messages N] [--size BYTES] [--out DIR]\n"
             "Sends N messages of BYTES (default 20 x 4095) from a tester node to an ECU node\n"
             "through the virtual bus process, BS=0 STmin=0, at 500 kbit/s classic CAN and at\n"
             "500 kbit/s / 2 Mbit/s CAN FD, and prints the throughput against the limit given by\n"
             "the exact bit counts of the frames used, and the frame delivery time error.\n"
             "With --out, each run's folder (timeline.jsonl, can.log, can.pcap, logs/) is kept\n"
             "under DIR.\n");
      return DD_EXIT_OK;
    default: return DD_EXIT_USAGE;
    }
  }
  if (messages < 1 || size < 1 || size > 65535) {
    fprintf(stderr, "duodiag bench isotp: --messages >= 1 and --size 1..65535 please\n");
    return DD_EXIT_USAGE;
  }
  dd_log_setup("bench", dd_log_level_parse(getenv("DD_LOG_LEVEL"), DD_LOG_WARN));
  const s_cfg_t cfgs[] = {
      {"classic500k", false, 500000, 500000, messages},
      {"fd500k2M", true, 500000, 2000000, messages * 3},
  };
  for (size_t i = 0; i < sizeof cfgs / sizeof cfgs[0]; i++)
    if (s_run(&cfgs[i], size, out_dir) < 0) return DD_EXIT_FAILURE;
  return DD_EXIT_OK;
}
