/* duodiag-service: the service device (vehicle data intake, programming relay) as a process. */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "dd_err.h"
#include "dd_log.h"
#include "dd_proc.h"
#include "dd_service.h"
#include "dd_service_core.h"

static void s_usage(FILE *to) {
  fprintf(to,
          "usage: duodiag-service --endpoint EP --udp HOST:PORT --id SERVICE_ID [--relay EP]\n"
          "                       [--token T] [--chunk BYTES] [--window N] [--stall-ms N]\n"
          "                       [--max-sessions N] [--session-idle-s N] [common options]\n"
          "The service device (S3, S4, S401): first devices say ServiceHello on EP (ROUTER) and\n"
          "send VehicleRecords over UDP (HOST:PORT) or through the relay (EP, joined as\n"
          "SERVICE_ID); records reach the second device (ServiceHello with session \"*\")\n"
          "exactly once and in order, and VehicleAcks go back to the first device. Packages\n"
          "from the second device go on to the first device in chunks, resumed after a stall.\n"
          "  --token T       ServiceHello must carry T (default: any token)\n"
          "  --chunk BYTES   package chunk size towards the first device (default 16384)\n"
          "  --window N      chunks outstanding at most (default 4)\n"
          "  --stall-ms N    resume a package after N ms without ack progress (default 1000)\n"
          "  --max-sessions N  sessions (first devices) served at once, 1..65536 (default 256);\n"
          "                  a ServiceHello for one more is refused: \"service device full\"\n"
          "  --session-idle-s N  free a session after N s without a hello or a record\n"
          "                  (default 600; 0: never)\n");
  fputs(dd_proc_common_usage(), to);
}

static bool s_num(const char *opt, const char *text, unsigned long long lo, unsigned long long hi,
                  unsigned long long *out) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(text, &end, 10);
  if (errno || end == text || *end || text[0] == '-' || v < lo || v > hi) {
    fprintf(stderr, "duodiag-service: %s wants a number from %llu to %llu, got '%s'\n", opt, lo,
            hi, text);
    return false;
  }
  *out = v;
  return true;
}

int main(int argc, char **argv) {
  dd_proc_t *proc = NULL;
  if (dd_proc_new("service", &argc, argv, &proc) < 0) return DD_EXIT_USAGE;
  if (dd_proc_help_asked(proc)) {
    s_usage(stdout);
    dd_proc_destroy(&proc);
    return DD_EXIT_OK;
  }
  dd_service_cfg_t cfg = {0};
  /* 16 KiB chunks: a package of a few dozen KiB goes in several, so that a cut link costs a
   * resend from the last acknowledged chunk, not the whole package */
  cfg.chunk = 16 * 1024;
  static const struct option opts[] = {
      {"endpoint", required_argument, 0, 'e'}, {"udp", required_argument, 0, 'u'},
      {"relay", required_argument, 0, 'r'},    {"id", required_argument, 0, 'i'},
      {"token", required_argument, 0, 't'},    {"chunk", required_argument, 0, 'c'},
      {"window", required_argument, 0, 'w'},   {"stall-ms", required_argument, 0, 's'},
      {"max-sessions", required_argument, 0, 'm'},
      {"session-idle-s", required_argument, 0, 'I'},
      {0, 0, 0, 0}};
  int c;
  bool ok = true;
  while (ok && (c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    unsigned long long v = 0;
    switch (c) {
    case 'e': cfg.endpoint = optarg; break;
    case 'u': cfg.udp = optarg; break;
    case 'r': cfg.relay = optarg; break;
    case 'i': cfg.service_id = optarg; break;
    case 't': cfg.token = optarg; break;
    case 'c':
      ok = s_num("--chunk", optarg, 1, 1024 * 1024, &v);
      cfg.chunk = (uint32_t)v;
      break;
    case 'w':
      ok = s_num("--window", optarg, 1, 1024, &v);
      cfg.window = (unsigned)v;
      break;
    case 's':
      ok = s_num("--stall-ms", optarg, 1, 3600000, &v);
      cfg.stall_us = v * 1000;
      break;
    case 'm':
      ok = s_num("--max-sessions", optarg, 1, DD_SVC_SESSIONS_LIMIT, &v);
      cfg.max_sessions = (size_t)v;
      break;
    case 'I':
      ok = s_num("--session-idle-s", optarg, 0, 365ull * 24 * 3600, &v);
      cfg.session_idle_us = v ? v * 1000000ull : UINT64_MAX;
      break;
    default: ok = false; break;
    }
  }
  const char *problem = !ok               ? NULL
                        : !cfg.endpoint   ? "--endpoint is required"
                        : !cfg.udp        ? "--udp is required"
                        : !cfg.service_id ? "--id is required"
                        : optind < argc   ? "unexpected argument"
                                          : NULL;
  if (!ok || problem) {
    if (problem) fprintf(stderr, "duodiag-service: %s\n", problem);
    fprintf(stderr, "duodiag-service: see duodiag-service --help\n");
    dd_proc_destroy(&proc);
    return DD_EXIT_USAGE;
  }
  dd_service_t *svc = NULL;
  int rc = dd_service_new(proc, &cfg, &svc);
  if (rc < 0) {
    dd_error("cannot start: %s", dd_strerror(rc));
    dd_proc_destroy(&proc);
    return rc == DD_EINVAL ? DD_EXIT_USAGE : DD_EXIT_FAILURE;
  }
  dd_proc_ready(proc);
  int code = dd_proc_run(proc);
  dd_service_destroy(&svc);
  dd_proc_destroy(&proc);
  return code;
}
