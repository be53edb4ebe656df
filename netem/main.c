/* duodiag-netem: one impaired network link (zmq or udp) as its own process. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_err.h"
#include "dd_link.h"
#include "dd_log.h"
#include "dd_proc.h"
#include "duodiag.pb-c.h"

#define S_MAX_PARAMS 16

static void s_usage(FILE *to) {
  fprintf(to,
          "usage: duodiag-netem --kind zmq|udp --listen EP --connect EP [--params JSON]...\n"
          "                     [--realtime PRIO] [common options]\n"
          "Runs one impaired link. zmq: clients (DEALER) connect to the ROUTER bound at EP\n"
          "(tcp://HOST:PORT, ipc://PATH) instead of the server's own ROUTER at --connect; each\n"
          "client keeps its routing id. udp: datagrams to --listen HOST:PORT go on to --connect\n"
          "HOST:PORT, answers go back to the last client. --params is a \"set\" command, e.g.\n"
          "'{\"delay_ms\":50,\"jitter_ms\":5,\"loss_pct\":1}' (repeatable, applied in order).\n"
          "The harness changes the link with the actions set, ramp, outage, restore, counters,\n"
          "get and reset (docs/NETEM.md). The link name is the process --name; --seed seeds it.\n"
          "--realtime PRIO runs the link under SCHED_FIFO PRIO (1..99) with its memory locked,\n"
          "for exact timing on a loaded machine (needs CAP_SYS_NICE).\n");
  fputs(dd_proc_common_usage(), to);
}

/* A command from the harness: ACTION key=action args_json=JSON, or SET key=param value=V
 * (the same as the action set {"key": V} on both directions). Errors travel as
 * {"error": "..."} in the result, beside the code. */
static int s_on_command(dd_proc_t *proc, const dd_proc_command_t *cmd, char **result_json,
                        void *arg) {
  dd_link_t *link = arg;
  char err[DD_LINK_ERR_MAX] = "";
  char *args = NULL;
  const char *action = cmd->key;
  int rc;
  if (cmd->kind == DUODIAG__COMMAND__KIND__SET) {
    json_error_t je;
    json_t *v = json_loads(cmd->value ? cmd->value : "", JSON_DECODE_ANY, &je);
    if (!v) v = json_string(cmd->value ? cmd->value : "");
    json_t *o = json_object();
    if (o && v && cmd->key) json_object_set(o, cmd->key, v);
    args = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    json_decref(v);
    action = "set";
    rc = args ? dd_link_command(link, action, args, result_json, err, sizeof err) : DD_ENOMEM;
  } else {
    rc = dd_link_command(link, action, cmd->args_json, result_json, err, sizeof err);
  }
  free(args);
  if (rc < 0 && err[0]) {
    json_t *o = json_pack("{ss}", "error", err);
    free(*result_json);
    *result_json = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
  }
  return rc;
}

int main(int argc, char **argv) {
  dd_proc_t *proc = NULL;
  if (dd_proc_new("netem", &argc, argv, &proc) < 0) return DD_EXIT_USAGE;
  if (dd_proc_help_asked(proc)) {
    s_usage(stdout);
    dd_proc_destroy(&proc);
    return DD_EXIT_OK;
  }
  dd_link_cfg_t cfg = {.name = dd_proc_name(proc), .seed = dd_proc_seed(proc)};
  const char *kind = NULL, *params[S_MAX_PARAMS];
  int n_params = 0, realtime = 0;
  static const struct option opts[] = {
      {"kind", required_argument, 0, 'k'},     {"listen", required_argument, 0, 'l'},
      {"connect", required_argument, 0, 'c'},  {"params", required_argument, 0, 'p'},
      {"realtime", required_argument, 0, 'r'}, {0, 0, 0, 0}};
  int c;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
    case 'k': kind = optarg; break;
    case 'l': cfg.listen = optarg; break;
    case 'c': cfg.connect = optarg; break;
    case 'r':
      realtime = atoi(optarg);
      if (realtime < 1 || realtime > 99) {
        fprintf(stderr, "duodiag-netem: --realtime wants a priority 1..99, got '%s'\n", optarg);
        dd_proc_destroy(&proc);
        return DD_EXIT_USAGE;
      }
      break;
    case 'p':
      if (n_params == S_MAX_PARAMS) {
        fprintf(stderr, "duodiag-netem: at most %d --params\n", S_MAX_PARAMS);
        dd_proc_destroy(&proc);
        return DD_EXIT_USAGE;
      }
      params[n_params++] = optarg;
      break;
    default:
      fprintf(stderr, "duodiag-netem: see duodiag-netem --help\n");
      dd_proc_destroy(&proc);
      return DD_EXIT_USAGE;
    }
  }
  const char *missing = !kind          ? "--kind"
                        : !cfg.listen  ? "--listen"
                        : !cfg.connect ? "--connect"
                                       : NULL;
  if (missing || optind != argc) {
    fprintf(stderr, "duodiag-netem: %s%s; see duodiag-netem --help\n",
            missing ? missing : "unexpected argument ", missing ? " is required" : argv[optind]);
    dd_proc_destroy(&proc);
    return DD_EXIT_USAGE;
  }
  if (!strcmp(kind, "zmq"))
    cfg.kind = DD_LINK_ZMQ;
  else if (!strcmp(kind, "udp"))
    cfg.kind = DD_LINK_UDP;
  else {
    fprintf(stderr, "duodiag-netem: --kind is zmq or udp, not '%s'\n", kind);
    dd_proc_destroy(&proc);
    return DD_EXIT_USAGE;
  }
  dd_link_t *link = NULL;
  int rc = dd_link_new(dd_proc_zctx(proc), dd_proc_loop(proc), dd_proc_events(proc), &cfg, &link);
  if (rc < 0) {
    dd_proc_destroy(&proc);
    return rc == DD_EINVAL ? DD_EXIT_USAGE : DD_EXIT_FAILURE;
  }
  for (int i = 0; i < n_params; i++) {
    char err[DD_LINK_ERR_MAX];
    if (dd_link_command(link, "set", params[i], NULL, err, sizeof err) < 0) {
      fprintf(stderr, "duodiag-netem: --params: %s\n", err);
      dd_link_destroy(&link);
      dd_proc_destroy(&proc);
      return DD_EXIT_USAGE;
    }
  }
  if (realtime) {
    /* After the sockets: ZeroMQ's I/O threads exist now and are switched too. */
    int n = dd_link_realtime(realtime);
    if (n < 0)
      dd_warn("--realtime %d: %s; running with normal scheduling", realtime, dd_strerror(n));
    else
      dd_info("SCHED_FIFO %d on %d thread(s)", realtime, n);
    dd_events_emit(dd_proc_events(proc), "netem.realtime", DD_S("link", dd_proc_name(proc)),
                   DD_I("priority", realtime), DD_I("threads", n < 0 ? 0 : n),
                   DD_S("error", n < 0 ? dd_strerror(n) : ""), DD_END);
  }
  dd_info("%s link %s -> %s", dd_link_kind_name(cfg.kind), dd_link_listen_addr(link), cfg.connect);
  dd_proc_on_command(proc, s_on_command, link);
  dd_proc_ready(proc);
  int code = dd_proc_run(proc);
  dd_link_destroy(&link);
  dd_proc_destroy(&proc);
  return code;
}
