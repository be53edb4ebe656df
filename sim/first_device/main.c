/* duodiag-first-device: the first diagnostic device's firmware (the VCI on the OBD port). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_err.h"
#include "dd_fd.h"
#include "dd_proc.h"

static void s_usage(FILE *to) {
  fprintf(to,
          "usage: duodiag-first-device (--bus EP | --can IFACE) --cloud EP --terminal EP\n"
          "                            [options] [common options]\n"
          "The first diagnostic device: reads the VIN and checks it with the cloud registry,\n"
          "diagnoses every ECU locally (S101-S104), finds a remote technician and pays\n"
          "(S11-S17), sends vehicle data to the service device directly over UDP or through the\n"
          "relay (S41-S45), reprograms ECUs from signed packages (S401-S402) and obeys the\n"
          "terminal's control signals (S5).\n"
          "  --bus EP                  virtual CAN bus endpoint\n"
          "  --can IFACE               SocketCAN interface (a real VCI)\n"
          "  --cloud EP                cloud server endpoint\n"
          "  --terminal EP             target terminal endpoint (the IM link)\n"
          "  --history FILE            diagnosis history, JSON Lines, appended across runs\n"
          "  --owner ID                owner id (default owner-1)\n"
          "  --fee-limit MINOR         highest diagnosis fee accepted, minor units (default any)\n"
          "  --currency CUR            owner's currency, ISO 4217 (default EUR)\n"
          "  --min-rating X10          skip terminals rated below X10 tenths of a star\n"
          "  --video                   ask for a video (not voice) connection in S13\n"
          "  --no-media                send no picture/voice/video messages in the window\n"
          "  --threshold-ms N          S44: latency above which data goes by the relay (150)\n"
          "  --hysteresis-ms N         back to direct only below threshold - N (30)\n"
          "  --hold-ms N               ... for N ms (5000)\n"
          "  --probe-ms N              latency probe period (100)\n"
          "  --retransmit-ms N         S42: resend a vehicle record not acknowledged within N ms\n"
          "                            (500)\n"
          "  --step-timeout-ms N       S11-S17: give up a session step (IM answer, order,\n"
          "                            payment confirmation...) after N ms (15000)\n"
          "  --path auto|direct|relay  path policy (default auto)\n"
          "  --trust-key FILE          Ed25519 public key programming packages must be signed\n"
          "                            with (without it every package is refused)\n"
          "  --security-secret ECU=HEX[:LEVEL]  seed-to-key constant of an ECU (name or\n"
          "                            request id) for programming, security level (default 1)\n"
          "  --defect NAME             plant a known defect (repeatable):\n"
          "%s"
          "  --autostart               run S101-S104 and then S11 at once (else wait for the\n"
          "                            harness command start)\n"
          "Harness commands: start {fee_limit}, owner {pay, fee_limit}, status.\n",
          dd_fd_defect_help());
  fputs(dd_proc_common_usage(), to);
}

static bool s_num(const char *opt, const char *text, unsigned long long max,
                  unsigned long long *out) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(text, &end, 0);
  if (errno || end == text || *end || text[0] == '-' || v > max) {
    fprintf(stderr, "duodiag-first-device: %s wants a number up to %llu, got '%s'\n", opt, max,
            text);
    return false;
  }
  *out = v;
  return true;
}

static bool s_secret(dd_fd_cfg_t *cfg, const char *text) {
  const char *eq = strchr(text, '=');
  if (!eq || eq == text || cfg->n_secrets >= DD_FD_MAX_SECRETS ||
      (size_t)(eq - text) >= DD_FD_ECU_NAME_MAX)
    return false;
  dd_fd_secret_t *s = &cfg->secrets[cfg->n_secrets];
  memcpy(s->ecu, text, (size_t)(eq - text));
  s->ecu[eq - text] = '\0';
  char *end;
  errno = 0;
  unsigned long v = strtoul(eq + 1, &end, 16);
  if (errno || end == eq + 1 || v > 0xFFFFFFFFul) return false;
  s->secret = (uint32_t)v;
  s->level = 0x01;
  if (*end == ':') {
    unsigned long l = strtoul(end + 1, &end, 0);
    if (!(l & 1) || l > 0x7D) return false;
    s->level = (uint8_t)l;
  }
  if (*end) return false;
  cfg->n_secrets++;
  return true;
}

int main(int argc, char **argv) {
  dd_proc_t *proc = NULL;
  if (dd_proc_new("first_device", &argc, argv, &proc) < 0) return DD_EXIT_USAGE;
  if (dd_proc_help_asked(proc)) {
    s_usage(stdout);
    dd_proc_destroy(&proc);
    return DD_EXIT_OK;
  }
  dd_fd_cfg_t cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.remote.owner_id = "owner-1";
  cfg.remote.media = true;
  cfg.remote.session.fee_limit_minor = INT64_MAX;
  snprintf(cfg.remote.session.currency, sizeof cfg.remote.session.currency, "EUR");
  cfg.remote.session.step_timeout_us = 15000000;
  cfg.remote.session.payment_retries = 3;
  dd_transport_cfg_default(&cfg.remote.transport);
  cfg.remote.rto_us = 500000;
  static const struct option opts[] = {
      {"bus", required_argument, 0, 'b'},        {"can", required_argument, 0, 'c'},
      {"cloud", required_argument, 0, 'C'},      {"terminal", required_argument, 0, 'T'},
      {"history", required_argument, 0, 'H'},    {"owner", required_argument, 0, 'o'},
      {"fee-limit", required_argument, 0, 'f'},  {"currency", required_argument, 0, 'u'},
      {"min-rating", required_argument, 0, 'r'}, {"video", no_argument, 0, 'v'},
      {"no-media", no_argument, 0, 'm'},         {"threshold-ms", required_argument, 0, 't'},
      {"hysteresis-ms", required_argument, 0, 'y'}, {"hold-ms", required_argument, 0, 'h'},
      {"probe-ms", required_argument, 0, 'p'},   {"path", required_argument, 0, 'P'},
      {"trust-key", required_argument, 0, 'k'},  {"security-secret", required_argument, 0, 's'},
      {"defect", required_argument, 0, 'd'},     {"autostart", no_argument, 0, 'a'},
      {"retransmit-ms", required_argument, 0, 'R'}, {"step-timeout-ms", required_argument, 0, 'S'},
      {0, 0, 0, 0}};
  int c;
  unsigned long long v;
  bool ok = true;
  while (ok && (c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
    case 'b': cfg.vehicle.bus_endpoint = optarg; break;
    case 'c': cfg.vehicle.can_iface = optarg; break;
    case 'C': cfg.remote.cloud_ep = optarg; break;
    case 'T': cfg.remote.terminal_ep = optarg; break;
    case 'H': cfg.history_path = optarg; break;
    case 'o': cfg.remote.owner_id = optarg; break;
    case 'f':
      ok = s_num("--fee-limit", optarg, INT64_MAX, &v);
      cfg.remote.session.fee_limit_minor = (int64_t)v;
      break;
    case 'u':
      ok = strlen(optarg) == 3;
      snprintf(cfg.remote.session.currency, sizeof cfg.remote.session.currency, "%s", optarg);
      break;
    case 'r':
      ok = s_num("--min-rating", optarg, 50, &v);
      cfg.remote.session.min_rating_x10 = (unsigned)v;
      break;
    case 'v': cfg.remote.session.video = true; break;
    case 'm': cfg.remote.media = false; break;
    case 't':
      ok = s_num("--threshold-ms", optarg, 600000, &v);
      cfg.remote.transport.threshold_us = v * 1000;
      break;
    case 'y':
      ok = s_num("--hysteresis-ms", optarg, 600000, &v);
      cfg.remote.transport.hysteresis_us = v * 1000;
      break;
    case 'R':
      ok = s_num("--retransmit-ms", optarg, 3600000, &v) && v > 0;
      cfg.remote.rto_us = v * 1000;
      break;
    case 'S':
      ok = s_num("--step-timeout-ms", optarg, 3600000, &v) && v > 0;
      cfg.remote.session.step_timeout_us = v * 1000;
      break;
    case 'h':
      ok = s_num("--hold-ms", optarg, 3600000, &v);
      cfg.remote.transport.hold_us = v * 1000;
      break;
    case 'p':
      ok = s_num("--probe-ms", optarg, 600000, &v) && v > 0;
      cfg.remote.transport.probe_interval_us = v * 1000;
      break;
    case 'P':
      if (!strcmp(optarg, "auto")) cfg.remote.policy = DD_FD_PATH_AUTO;
      else if (!strcmp(optarg, "direct")) cfg.remote.policy = DD_FD_PATH_DIRECT;
      else if (!strcmp(optarg, "relay")) cfg.remote.policy = DD_FD_PATH_RELAY;
      else ok = false;
      break;
    case 'k': cfg.trust_key_path = optarg; break;
    case 's':
      ok = s_secret(&cfg, optarg);
      if (!ok) fprintf(stderr, "duodiag-first-device: bad --security-secret '%s'\n", optarg);
      break;
    case 'd': {
      unsigned bit = dd_fd_defect_parse(optarg);
      if (!bit) fprintf(stderr, "duodiag-first-device: unknown defect '%s'\n", optarg);
      cfg.defects |= bit;
      ok = bit != 0;
      break;
    }
    case 'a': cfg.autostart = true; break;
    default: ok = false; break;
    }
  }
  if (ok && (!cfg.vehicle.bus_endpoint == !cfg.vehicle.can_iface)) {
    fprintf(stderr, "duodiag-first-device: give one of --bus or --can\n");
    ok = false;
  }
  if (ok && optind != argc) {
    fprintf(stderr, "duodiag-first-device: unexpected argument '%s'\n", argv[optind]);
    ok = false;
  }
  /* the probe timeout follows the probe period (a probe counts as lost after 3 periods) */
  if (cfg.remote.transport.probe_timeout_us < 3 * cfg.remote.transport.probe_interval_us)
    cfg.remote.transport.probe_timeout_us = 3 * cfg.remote.transport.probe_interval_us;
  if (!ok) {
    fprintf(stderr, "duodiag-first-device: see duodiag-first-device --help\n");
    dd_proc_destroy(&proc);
    return DD_EXIT_USAGE;
  }
  dd_fd_t *fd = NULL;
  int rc = dd_fd_new(proc, &cfg, &fd);
  if (rc < 0) {
    dd_proc_destroy(&proc);
    return rc == DD_EINVAL ? DD_EXIT_USAGE : DD_EXIT_FAILURE;
  }
  dd_proc_ready(proc);
  int code = dd_proc_run(proc);
  dd_fd_destroy(&fd);
  dd_proc_destroy(&proc);
  return code;
}
