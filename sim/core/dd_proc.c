/* dd_proc: process lifecycle shared by every duodiag executable. */
#include "dd_proc.h"

#include <assert.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>
#include <zmq.h>

#include "dd_err.h"
#include "dd_log.h"
#include "dd_wire.h"
#include "duodiag.pb-c.h"

struct dd_proc {
  char name[64];             /* process id */
  char role[32];             /* party role */
  bool help;                 /* --help was given */
  uint64_t seed;             /* --seed */
  void *zctx;                /* ZeroMQ context */
  dd_clock_t clock;          /* the process clock */
  dd_loop_t *loop;           /* the process loop */
  dd_events_t *events;       /* timeline publisher */
  dd_rng_t rng;              /* seeded random source */
  void *control;             /* DEALER to the harness, or NULL */
  int sigfd;                 /* signalfd for SIGTERM/SIGINT */
  bool want_ready;           /* dd_proc_ready was called */
  bool ready_sent;           /* Ready has gone out */
  int exit_code;             /* what dd_proc_run returns */
  uint64_t seq;              /* control envelope sequence */
  dd_proc_command_fn on_cmd; /* role's command handler */
  void *on_cmd_arg;          /* its argument */
  dd_wire_stats_t wstats;    /* rejected control messages */
};

const char *dd_proc_common_usage(void) {
  return "Common options:\n"
         "  --name ID        process id (default: the role)\n"
         "  --control EP     harness control endpoint (ZeroMQ, e.g. ipc:///tmp/x/ctl)\n"
         "  --events EP      timeline collector endpoint\n"
         "  --timeline FILE  append this process's events to FILE (JSON Lines)\n"
         "  --seed N         random seed (default 1)\n"
         "  -v, --verbose    debug log\n"
         "Exit codes: 0 stopped cleanly, 1 failure, 2 bad usage or input, 3 harness lost.\n";
}

/* Remove argv[i .. i+n-1] in place. */
static void s_shift(int *argc, char **argv, int i, int n) {
  for (int j = i; j + n <= *argc; j++) argv[j] = argv[j + n];
  *argc -= n;
}

int dd_proc_new(const char *role, int *argc, char **argv, dd_proc_t **out) {
  assert(role && argc && argv && out);
  dd_proc_t *self = calloc(1, sizeof *self);
  if (!self) return DD_ENOMEM;
  self->sigfd = -1;
  self->seed = 1;
  snprintf(self->role, sizeof self->role, "%s", role);
  snprintf(self->name, sizeof self->name, "%s", role);
  const char *control = NULL, *events = NULL, *timeline = NULL;
  dd_log_level_t level = dd_log_level_parse(getenv("DD_LOG_LEVEL"), DD_LOG_INFO);

  for (int i = 1; i < *argc;) {
    const char *a = argv[i];
    const char **slot = NULL;
    if (!strcmp(a, "--name") || !strcmp(a, "--control") || !strcmp(a, "--events") ||
        !strcmp(a, "--timeline") || !strcmp(a, "--seed")) {
      if (i + 1 >= *argc) {
        fprintf(stderr, "%s: option %s needs a value\n", role, a);
        free(self);
        return DD_EINVAL;
      }
      const char *v = argv[i + 1];
      if (!strcmp(a, "--name")) snprintf(self->name, sizeof self->name, "%s", v);
      else if (!strcmp(a, "--control")) slot = &control;
      else if (!strcmp(a, "--events")) slot = &events;
      else if (!strcmp(a, "--timeline")) slot = &timeline;
      else {
        char *end;
        self->seed = strtoull(v, &end, 0);
        if (*end || !*v) {
          fprintf(stderr, "%s: --seed wants a number, got '%s'\n", role, v);
          free(self);
          return DD_EINVAL;
        }
      }
      if (slot) *slot = v;
      s_shift(argc, argv, i, 2);
    } else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
      level = DD_LOG_DEBUG;
      s_shift(argc, argv, i, 1);
    } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      self->help = true;
      s_shift(argc, argv, i, 1);
    } else {
      i++;
    }
  }
  dd_log_setup(self->name, level);
  if (self->help) {
    *out = self;
    return 0;
  }

  dd_clock_init_real(&self->clock);
  dd_rng_seed(&self->rng, self->seed);
  self->zctx = zmq_ctx_new();
  self->loop = dd_loop_new(&self->clock);
  int rc = (!self->zctx || !self->loop) ? DD_ENOMEM : 0;
  if (!rc) rc = dd_events_new(self->zctx, self->name, &self->clock, events, &self->events);
  if (!rc && timeline) rc = dd_events_open_file(self->events, timeline);
  if (!rc && control) {
    self->control = zmq_socket(self->zctx, ZMQ_DEALER);
    int linger = 2000;
    zmq_setsockopt(self->control, ZMQ_ROUTING_ID, self->name, strlen(self->name));
    zmq_setsockopt(self->control, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_connect(self->control, control) != 0) {
      dd_error("cannot connect to harness at %s: %s", control, zmq_strerror(errno));
      rc = DD_EINVAL;
    }
  }
  if (!rc) {
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    self->sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (self->sigfd < 0) rc = -errno;
  }
  if (rc) {
    dd_proc_destroy(&self);
    return rc;
  }
  signal(SIGPIPE, SIG_IGN);
  dd_events_emit(self->events, "proc.started", DD_S("role", self->role),
                 DD_I("pid", getpid()), DD_I("seed", (int64_t)self->seed), DD_END);
  *out = self;
  return 0;
}

void dd_proc_destroy(dd_proc_t **self_p) {
  assert(self_p);
  dd_proc_t *self = *self_p;
  if (!self) return;
  if (self->sigfd >= 0) close(self->sigfd);
  if (self->control) zmq_close(self->control);
  dd_events_destroy(&self->events);
  dd_loop_destroy(&self->loop);
  if (self->zctx) zmq_ctx_term(self->zctx);
  free(self);
  *self_p = NULL;
}

bool dd_proc_help_asked(const dd_proc_t *self) { return self->help; }

void dd_proc_on_command(dd_proc_t *self, dd_proc_command_fn fn, void *arg) {
  self->on_cmd = fn;
  self->on_cmd_arg = arg;
}

static void s_send_control(dd_proc_t *self, Duodiag__Envelope *env) {
  if (!self->control) return;
  int rc = dd_wire_send(self->control, env, 0);
  if (rc < 0) dd_warn("control: send %s failed: %s", dd_wire_body_name(env), dd_strerror(rc));
}

static void s_maybe_send_ready(dd_proc_t *self) {
  if (!self->want_ready || self->ready_sent) return;
  if (dd_events_zsock(self->events) && !dd_events_connected(self->events)) return;
  self->ready_sent = true;
  dd_events_emit(self->events, "proc.ready", DD_S("role", self->role), DD_END);
  Duodiag__Ready ready = DUODIAG__READY__INIT;
  ready.process = self->name;
  ready.pid = getpid();
  ready.role = self->role;
  Duodiag__Envelope env;
  dd_wire_envelope_init(&env, self->name, ++self->seq, dd_loop_now(self->loop));
  env.body_case = DUODIAG__ENVELOPE__BODY_READY;
  env.ready = &ready;
  s_send_control(self, &env);
  dd_info("ready");
}

void dd_proc_ready(dd_proc_t *self) {
  self->want_ready = true;
  s_maybe_send_ready(self);
}

void dd_proc_stop(dd_proc_t *self, int exit_code) {
  self->exit_code = exit_code;
  dd_loop_stop(self->loop);
}

static int s_on_signal(dd_loop_t *loop, void *zsock, int fd, void *arg) {
  dd_proc_t *self = arg;
  struct signalfd_siginfo si;
  while (read(fd, &si, sizeof si) == (ssize_t)sizeof si) {
    dd_info("signal %u: stopping", si.ssi_signo);
    dd_events_emit(self->events, "proc.signal", DD_I("signal", si.ssi_signo), DD_END);
    dd_proc_stop(self, DD_EXIT_OK);
  }
  return 0;
}

static int s_on_events(dd_loop_t *loop, void *zsock, int fd, void *arg) {
  dd_proc_t *self = arg;
  dd_events_on_input(self->events);
  s_maybe_send_ready(self);
  return 0;
}

static void s_reply(dd_proc_t *self, uint64_t id, int code, const char *text, char *json) {
  Duodiag__CommandResult res = DUODIAG__COMMAND_RESULT__INIT;
  res.command_id = id;
  res.ok = code == 0;
  res.code = code;
  res.text = (char *)(text ? text : (code ? dd_strerror(code) : ""));
  res.result_json = json ? json : "";
  Duodiag__Envelope env;
  dd_wire_envelope_init(&env, self->name, ++self->seq, dd_loop_now(self->loop));
  env.body_case = DUODIAG__ENVELOPE__BODY_COMMAND_RESULT;
  env.command_result = &res;
  s_send_control(self, &env);
}

static int s_on_control(dd_loop_t *loop, void *zsock, int fd, void *arg) {
  dd_proc_t *self = arg;
  for (;;) {
    Duodiag__Envelope *env = NULL;
    int rc = dd_wire_recv(zsock, &env, &self->wstats, ZMQ_DONTWAIT);
    if (rc == DD_EAGAIN) break;
    if (rc < 0) {
      dd_warn("control: rejected a message: %s", dd_strerror(rc));
      dd_events_emit(self->events, "wire.rejected", DD_S("channel", "control"),
                     DD_S("error", dd_err_name(rc)), DD_END);
      continue;
    }
    if (env->body_case != DUODIAG__ENVELOPE__BODY_COMMAND) {
      dd_warn("control: unexpected %s", dd_wire_body_name(env));
      dd_wire_free(&env);
      continue;
    }
    const Duodiag__Command *cmd = env->command;
    dd_events_emit(self->events, "proc.command", DD_I("id", (int64_t)cmd->command_id),
                   DD_I("type", cmd->kind), DD_S("key", cmd->key), DD_END);
    if (cmd->kind == DUODIAG__COMMAND__KIND__STOP) {
      s_reply(self, cmd->command_id, 0, "stopping", NULL);
      dd_proc_stop(self, DD_EXIT_OK);
    } else if (cmd->kind == DUODIAG__COMMAND__KIND__PING) {
      s_reply(self, cmd->command_id, 0, "pong", NULL);
    } else if (self->on_cmd) {
      char *json = NULL;
      int hrc = self->on_cmd(self, cmd, &json, self->on_cmd_arg);
      /* A refusal's own explanation, when the handler gave one as {"error": "..."}, becomes the
       * result text so the harness can show it. */
      const char *why = NULL;
      char text[256];
      if (hrc < 0 && json) {
        json_error_t jerr;
        json_t *j = json_loads(json, 0, &jerr);
        const char *e = json_string_value(json_object_get(j, "error"));
        if (e) {
          snprintf(text, sizeof text, "%s: %s", dd_strerror(hrc), e);
          why = text;
        }
        json_decref(j);
      }
      s_reply(self, cmd->command_id, hrc, why, json);
      free(json);
    } else {
      s_reply(self, cmd->command_id, DD_ENOTSUP, "this process takes no commands", NULL);
    }
    dd_wire_free(&env);
  }
  return 0;
}

int dd_proc_run(dd_proc_t *self) {
  assert(self && !self->help);
  dd_loop_add_fd(self->loop, self->sigfd, s_on_signal, self);
  if (dd_events_zsock(self->events))
    dd_loop_add_zsock(self->loop, dd_events_zsock(self->events), s_on_events, self);
  if (self->control) dd_loop_add_zsock(self->loop, self->control, s_on_control, self);
  int rc = dd_loop_run(self->loop);
  if (rc < 0 && self->exit_code == DD_EXIT_OK) {
    dd_error("stopped on error: %s", dd_strerror(rc));
    self->exit_code = DD_EXIT_FAILURE;
  }
  dd_events_emit(self->events, "proc.stopped", DD_I("exit", self->exit_code), DD_END);
  return self->exit_code;
}

const char *dd_proc_name(const dd_proc_t *self) { return self->name; }
const char *dd_proc_role(const dd_proc_t *self) { return self->role; }
void *dd_proc_zctx(dd_proc_t *self) { return self->zctx; }
dd_loop_t *dd_proc_loop(dd_proc_t *self) { return self->loop; }
dd_clock_t *dd_proc_clock(dd_proc_t *self) { return &self->clock; }
dd_events_t *dd_proc_events(dd_proc_t *self) { return self->events; }
dd_rng_t *dd_proc_rng(dd_proc_t *self) { return &self->rng; }
uint64_t dd_proc_seed(const dd_proc_t *self) { return self->seed; }
