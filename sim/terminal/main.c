/* duodiag-terminal: the target terminal (the remote technician's end) as a process. */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_err.h"
#include "dd_log.h"
#include "dd_proc.h"
#include "dd_terminal.h"

static void s_usage(FILE *to) {
  fprintf(to,
          "usage: duodiag-terminal --endpoint EP --cloud EP --id TERMINAL_ID\n"
          "                        --service-endpoint EP [--udp-endpoint HOST:PORT]\n"
          "                        [--relay-endpoint EP] [--token T] [--profile FILE.yaml]\n"
          "                        [--display-name TEXT] [--makes A,B] [--fee MINOR]\n"
          "                        [--currency EUR] [--rating X10] [--accept yes|no]\n"
          "                        [--reject-reason TEXT] [--order-fee MINOR]\n"
          "                        [--heartbeat-ms N] [--answer-delay-ms N] [--offline]\n"
          "                        [common options]\n"
          "The target terminal (S11-S17, S2, S41, S5): registers with the cloud and sends\n"
          "Presence every heartbeat, answers the owner's session window (EP, ROUTER), accepts\n"
          "or refuses the ImRequest as scripted, sends its Order (to the cloud and the owner),\n"
          "and on the cloud's PaymentConfirmation sends ConnectRequestSignal and the\n"
          "ConnectionAddress (service, UDP, relay endpoints and token). The technician's actions\n"
          "are harness commands: request, control, message, set, close, status (see\n"
          "sim/terminal/dd_terminal.h). Options after --profile override the file.\n"
          "--answer-delay-ms N: the technician answers the ImRequest, and then writes the\n"
          "order, N ms later each (default 0).\n"
          "--offline: register with the cloud but stay offline (no heartbeats): the cloud does\n"
          "not list the terminal (S11).\n");
  fputs(dd_proc_common_usage(), to);
}

static bool s_num(const char *opt, const char *text, long long lo, long long hi, long long *out) {
  char *end;
  errno = 0;
  long long v = strtoll(text, &end, 10);
  if (errno || end == text || *end || v < lo || v > hi) {
    fprintf(stderr, "duodiag-terminal: %s wants a number from %lld to %lld, got '%s'\n", opt, lo,
            hi, text);
    return false;
  }
  *out = v;
  return true;
}

int main(int argc, char **argv) {
  dd_proc_t *proc = NULL;
  if (dd_proc_new("terminal", &argc, argv, &proc) < 0) return DD_EXIT_USAGE;
  if (dd_proc_help_asked(proc)) {
    s_usage(stdout);
    dd_proc_destroy(&proc);
    return DD_EXIT_OK;
  }
  dd_terminal_cfg_t cfg = {0};
  dd_terminal_profile_init(&cfg.profile);
  static const struct option opts[] = {
      {"endpoint", required_argument, 0, 'e'},      {"cloud", required_argument, 0, 'c'},
      {"id", required_argument, 0, 'i'},            {"display-name", required_argument, 0, 'n'},
      {"profile", required_argument, 0, 'p'},       {"makes", required_argument, 0, 'm'},
      {"fee", required_argument, 0, 'f'},           {"currency", required_argument, 0, 'C'},
      {"rating", required_argument, 0, 'r'},        {"accept", required_argument, 0, 'a'},
      {"reject-reason", required_argument, 0, 'R'}, {"order-fee", required_argument, 0, 'o'},
      {"service-endpoint", required_argument, 0, 's'}, {"udp-endpoint", required_argument, 0, 'u'},
      {"relay-endpoint", required_argument, 0, 'l'},   {"token", required_argument, 0, 't'},
      {"heartbeat-ms", required_argument, 0, 'h'},     {"answer-delay-ms", required_argument, 0, 'd'},
      {"offline", no_argument, 0, 'O'},
      {0, 0, 0, 0}};
  /* The profile file first, so that the other options override it wherever they stand. */
  for (int i = 1; i + 1 < argc; i++) {
    if (strcmp(argv[i], "--profile")) continue;
    char why[512];
    int rc = dd_terminal_profile_load(argv[i + 1], &cfg.profile, why, sizeof why);
    if (rc < 0) {
      fprintf(stderr, "duodiag-terminal: %s\n",
              rc == DD_ECONFIG ? why : dd_strerror(rc));
      dd_proc_destroy(&proc);
      return DD_EXIT_USAGE;
    }
  }
  int c;
  bool ok = true;
  const char *problem = NULL;
  while (ok && (c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    long long v = 0;
    switch (c) {
    case 'e': cfg.endpoint = optarg; break;
    case 'c': cfg.cloud = optarg; break;
    case 'i':
      if (strlen(optarg) >= sizeof cfg.profile.terminal_id) problem = "--id is too long";
      else snprintf(cfg.profile.terminal_id, sizeof cfg.profile.terminal_id, "%s", optarg);
      break;
    case 'n': snprintf(cfg.profile.name, sizeof cfg.profile.name, "%s", optarg); break;
    case 'p': break; /* read above */
    case 'm':
      if (dd_terminal_profile_set_makes(&cfg.profile, optarg) < 0)
        problem = "--makes: at most 8 makes of at most 31 bytes";
      break;
    case 'f':
      ok = s_num("--fee", optarg, 0, INT64_MAX / 2, &v);
      cfg.profile.fee_minor = v;
      break;
    case 'o':
      ok = s_num("--order-fee", optarg, 0, INT64_MAX / 2, &v);
      cfg.profile.order_fee = v;
      break;
    case 'C':
      if (strlen(optarg) != 3) problem = "--currency wants an ISO 4217 code such as EUR";
      else snprintf(cfg.profile.currency, sizeof cfg.profile.currency, "%s", optarg);
      break;
    case 'r':
      ok = s_num("--rating", optarg, 0, 50, &v);
      cfg.profile.rating_x10 = (unsigned)v;
      break;
    case 'a':
      if (!strcmp(optarg, "yes")) cfg.profile.accept = true;
      else if (!strcmp(optarg, "no")) cfg.profile.accept = false;
      else problem = "--accept wants yes or no";
      break;
    case 'R':
      snprintf(cfg.profile.reject_reason, sizeof cfg.profile.reject_reason, "%s", optarg);
      break;
    case 's': cfg.service_endpoint = optarg; break;
    case 'u': cfg.udp_endpoint = optarg; break;
    case 'l': cfg.relay_endpoint = optarg; break;
    case 't': cfg.token = optarg; break;
    case 'h':
      ok = s_num("--heartbeat-ms", optarg, 1, 3600000, &v);
      cfg.heartbeat_us = (uint64_t)v * 1000;
      break;
    case 'd':
      ok = s_num("--answer-delay-ms", optarg, 0, 3600000, &v);
      cfg.profile.answer_delay_us = (uint64_t)v * 1000;
      break;
    case 'O': cfg.offline = true; break;
    default: ok = false; break;
    }
  }
  if (ok && !problem)
    problem = !cfg.endpoint                  ? "--endpoint is required"
              : !cfg.cloud                   ? "--cloud is required"
              : !cfg.profile.terminal_id[0]  ? "--id is required (or id: in the profile)"
              : !cfg.service_endpoint        ? "--service-endpoint is required"
              : optind < argc                ? "unexpected argument"
                                             : NULL;
  if (!ok || problem) {
    if (problem) fprintf(stderr, "duodiag-terminal: %s\n", problem);
    fprintf(stderr, "duodiag-terminal: see duodiag-terminal --help\n");
    dd_proc_destroy(&proc);
    return DD_EXIT_USAGE;
  }
  dd_terminal_t *term = NULL;
  int rc = dd_terminal_new(proc, &cfg, &term);
  if (rc < 0) {
    dd_error("cannot start: %s", dd_strerror(rc));
    dd_proc_destroy(&proc);
    return rc == DD_EINVAL ? DD_EXIT_USAGE : DD_EXIT_FAILURE;
  }
  dd_proc_ready(proc);
  int code = dd_proc_run(proc);
  dd_terminal_destroy(&term);
  dd_proc_destroy(&proc);
  return code;
}
