/* duodiag-relay: the relay server (S44) as its own process. */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "dd_err.h"
#include "dd_log.h"
#include "dd_proc.h"
#include "dd_relay_server.h"

static void s_usage(FILE *to) {
  fprintf(to,
          "usage: duodiag-relay --endpoint EP [--buffer-msgs N] [--buffer-bytes N]\n"
          "                     [--total-bytes N] [--max-sessions N] [--retry-ms N]\n"
          "                     [--idle-s N] [common options]\n"
          "Store-and-forward relay for the slow path of vehicle data (S44). Parties connect a\n"
          "DEALER (routing id = their process id) to EP and send RelayForward{session_id,\n"
          "destination, inner}; the inner envelope reaches the destination unchanged, at once\n"
          "when it is connected, else when it shows up again. A session joins two parties.\n"
          "  --buffer-msgs N   messages stored per session (default %u)\n"
          "  --buffer-bytes N  inner bytes stored per session (default %u)\n"
          "  --total-bytes N   inner bytes stored over all sessions (default %u)\n"
          "  --max-sessions N  sessions open at once (default %u)\n"
          "  --retry-ms N      delivery retry period towards an absent party (default %llu)\n"
          "  --idle-s N        forget a session without traffic for N s (default %llu)\n"
          "When full, the sender gets RelayError (DD_ENOSPC). The buffer is in memory only: a\n"
          "restarted relay has lost it, and senders must retransmit what was not acknowledged.\n",
          DD_RELAY_DEFAULT_MSGS, DD_RELAY_DEFAULT_BYTES, DD_RELAY_DEFAULT_TOTAL,
          DD_RELAY_DEFAULT_SESSIONS, DD_RELAY_DEFAULT_RETRY_US / 1000,
          DD_RELAY_DEFAULT_IDLE_US / 1000000);
  fputs(dd_proc_common_usage(), to);
}

/* An integer option value in 1..max; false (with a message) when it is not one. */
static bool s_number(const char *opt, const char *text, unsigned long long max,
                     unsigned long long *out) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(text, &end, 0);
  if (errno || end == text || *end || !v || v > max || text[0] == '-') {
    fprintf(stderr, "duodiag-relay: %s wants a number from 1 to %llu, got '%s'\n", opt, max, text);
    return false;
  }
  *out = v;
  return true;
}

int main(int argc, char **argv) {
  dd_proc_t *proc = NULL;
  if (dd_proc_new("relay", &argc, argv, &proc) < 0) return DD_EXIT_USAGE;
  if (dd_proc_help_asked(proc)) {
    s_usage(stdout);
    dd_proc_destroy(&proc);
    return DD_EXIT_OK;
  }
  dd_relay_server_cfg_t cfg = {0};
  static const struct option opts[] = {
      {"endpoint", required_argument, 0, 'e'},     {"buffer-msgs", required_argument, 0, 'm'},
      {"buffer-bytes", required_argument, 0, 'b'}, {"total-bytes", required_argument, 0, 't'},
      {"max-sessions", required_argument, 0, 's'}, {"retry-ms", required_argument, 0, 'r'},
      {"idle-s", required_argument, 0, 'i'},       {0, 0, 0, 0}};
  int c;
  bool ok = true;
  while (ok && (c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    unsigned long long v = 0;
    switch (c) {
    case 'e': cfg.endpoint = optarg; break;
    case 'm':
      ok = s_number("--buffer-msgs", optarg, 1u << 24, &v);
      cfg.relay.max_msgs = v;
      break;
    case 'b':
      ok = s_number("--buffer-bytes", optarg, 1ull << 40, &v);
      cfg.relay.max_bytes = v;
      break;
    case 't':
      ok = s_number("--total-bytes", optarg, 1ull << 40, &v);
      cfg.relay.max_total_bytes = v;
      break;
    case 's':
      ok = s_number("--max-sessions", optarg, 1u << 20, &v);
      cfg.relay.max_sessions = v;
      break;
    case 'r':
      ok = s_number("--retry-ms", optarg, 3600000, &v);
      cfg.relay.retry_us = v * 1000;
      break;
    case 'i':
      ok = s_number("--idle-s", optarg, 10ull * 365 * 86400, &v);
      cfg.relay.idle_us = v * 1000000;
      break;
    default: ok = false; break;
    }
  }
  if (!ok || !cfg.endpoint || optind != argc) {
    if (ok)
      fprintf(stderr, "duodiag-relay: %s\n",
              cfg.endpoint ? "unexpected argument" : "--endpoint is required");
    fprintf(stderr, "duodiag-relay: see duodiag-relay --help\n");
    dd_proc_destroy(&proc);
    return DD_EXIT_USAGE;
  }
  dd_relay_server_t *srv = NULL;
  int rc = dd_relay_server_new(proc, &cfg, &srv);
  if (rc < 0) {
    dd_error("cannot start: %s", dd_strerror(rc));
    dd_proc_destroy(&proc);
    return rc == DD_EINVAL ? DD_EXIT_USAGE : DD_EXIT_FAILURE;
  }
  dd_proc_ready(proc);
  int code = dd_proc_run(proc);
  dd_relay_server_destroy(&srv);
  dd_proc_destroy(&proc);
  return code;
}
