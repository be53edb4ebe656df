/* dd_ctl: ROUTER-side bookkeeping of Ready messages and command results. */
#include "dd_ctl.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "dd_err.h"
#include "dd_log.h"
#include "dd_wire.h"

#define S_MAX_PROCS 64
#define S_MAX_PENDING 64

typedef struct {
  char name[64]; /* process id (= its routing id) */
  bool ready;    /* Ready received */
} s_proc_t;

typedef struct {
  uint64_t id;          /* command id */
  bool done;            /* result received */
  dd_ctl_result_t res;  /* the result */
} s_pending_t;

struct dd_ctl {
  void *router;                    /* bound ROUTER */
  s_proc_t procs[S_MAX_PROCS];     /* known processes */
  int n_procs;                     /* used entries */
  s_pending_t pend[S_MAX_PENDING]; /* recent commands (ring) */
  uint64_t next_id;                /* next command id */
  uint64_t seq;                    /* envelope sequence */
  dd_wire_stats_t ws;              /* rejected messages */
};

int dd_ctl_new(void *zctx, const char *endpoint, dd_ctl_t **out) {
  dd_ctl_t *self = calloc(1, sizeof *self);
  if (!self) return DD_ENOMEM;
  dd_wire_stats_init(&self->ws);
  self->next_id = 1;
  self->router = zmq_socket(zctx, ZMQ_ROUTER);
  int one = 1, zero = 0;
  zmq_setsockopt(self->router, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
  zmq_setsockopt(self->router, ZMQ_ROUTER_HANDOVER, &one, sizeof one);
  zmq_setsockopt(self->router, ZMQ_LINGER, &zero, sizeof zero);
  dd_wire_limit_socket(self->router);
  if (zmq_bind(self->router, endpoint) != 0) {
    int rc = -errno;
    dd_error("control: cannot bind %s: %s", endpoint, zmq_strerror(errno));
    zmq_close(self->router);
    free(self);
    return rc;
  }
  *out = self;
  return 0;
}

void dd_ctl_destroy(dd_ctl_t **self_p) {
  assert(self_p);
  dd_ctl_t *self = *self_p;
  if (!self) return;
  zmq_close(self->router);
  free(self);
  *self_p = NULL;
}

void *dd_ctl_zsock(dd_ctl_t *self) { return self->router; }

static s_proc_t *s_proc(dd_ctl_t *self, const char *name, bool create) {
  for (int i = 0; i < self->n_procs; i++)
    if (!strcmp(self->procs[i].name, name)) return &self->procs[i];
  if (!create || self->n_procs == S_MAX_PROCS) return NULL;
  s_proc_t *p = &self->procs[self->n_procs++];
  snprintf(p->name, sizeof p->name, "%s", name);
  p->ready = false;
  return p;
}

void dd_ctl_on_input(dd_ctl_t *self) {
  for (;;) {
    uint8_t id[DD_WIRE_IDENTITY_MAX + 1];
    size_t idlen = 0;
    Duodiag__Envelope *env = NULL;
    int rc = dd_wire_recv_from(self->router, id, sizeof id - 1, &idlen, &env, &self->ws,
                               ZMQ_DONTWAIT);
    if (rc == DD_EAGAIN || rc == -ETERM) return;
    if (rc < 0) {
      dd_warn("control: rejected a message: %s", dd_strerror(rc));
      continue;
    }
    id[idlen] = 0;
    if (env->body_case == DUODIAG__ENVELOPE__BODY_READY) {
      s_proc_t *p = s_proc(self, (const char *)id, true);
      if (p) p->ready = true;
    } else if (env->body_case == DUODIAG__ENVELOPE__BODY_COMMAND_RESULT) {
      const Duodiag__CommandResult *r = env->command_result;
      s_pending_t *p = &self->pend[r->command_id % S_MAX_PENDING];
      if (p->id == r->command_id) {
        p->done = true;
        p->res.ok = r->ok;
        p->res.code = r->code;
        snprintf(p->res.text, sizeof p->res.text, "%s", r->text);
        snprintf(p->res.json, sizeof p->res.json, "%s", r->result_json);
      }
    } else {
      dd_warn("control: unexpected %s from %s", dd_wire_body_name(env), (const char *)id);
    }
    dd_wire_free(&env);
  }
}

bool dd_ctl_is_ready(const dd_ctl_t *self, const char *process) {
  for (int i = 0; i < self->n_procs; i++)
    if (!strcmp(self->procs[i].name, process)) return self->procs[i].ready;
  return false;
}

void dd_ctl_forget(dd_ctl_t *self, const char *process) {
  s_proc_t *p = s_proc(self, process, false);
  if (p) p->ready = false;
}

int dd_ctl_wait_ready(dd_ctl_t *self, dd_loop_t *loop, const char *process, uint64_t timeout_us) {
  uint64_t end = dd_clock_now_us(dd_loop_clock(loop)) + timeout_us;
  while (!dd_ctl_is_ready(self, process)) {
    uint64_t now = dd_clock_now_us(dd_loop_clock(loop));
    if (now >= end) return DD_ETIMEDOUT;
    int rc = dd_loop_step(loop, end - now);
    if (rc < 0) return rc;
  }
  return 0;
}

static Duodiag__Command__Kind s_kind(const char *k) {
  if (!strcmp(k, "stop")) return DUODIAG__COMMAND__KIND__STOP;
  if (!strcmp(k, "set")) return DUODIAG__COMMAND__KIND__SET;
  if (!strcmp(k, "ping")) return DUODIAG__COMMAND__KIND__PING;
  return DUODIAG__COMMAND__KIND__ACTION;
}

int64_t dd_ctl_send(dd_ctl_t *self, const char *process, const char *kind, const char *key,
                    const char *value, const char *args_json) {
  Duodiag__Command cmd = DUODIAG__COMMAND__INIT;
  cmd.command_id = self->next_id++;
  cmd.kind = s_kind(kind);
  cmd.key = (char *)(key ? key : "");
  cmd.value = (char *)(value ? value : "");
  cmd.args_json = (char *)(args_json ? args_json : "");
  Duodiag__Envelope env;
  dd_wire_envelope_init(&env, "harness", ++self->seq, 0);
  env.body_case = DUODIAG__ENVELOPE__BODY_COMMAND;
  env.command = &cmd;
  s_pending_t *p = &self->pend[cmd.command_id % S_MAX_PENDING];
  *p = (s_pending_t){.id = cmd.command_id};
  int rc = dd_wire_send_to(self->router, process, strlen(process), &env, ZMQ_DONTWAIT);
  return rc < 0 ? rc : (int64_t)cmd.command_id;
}

int dd_ctl_call(dd_ctl_t *self, dd_loop_t *loop, const char *process, const char *kind,
                const char *key, const char *args_json, uint64_t timeout_us,
                dd_ctl_result_t *res) {
  int64_t id = dd_ctl_send(self, process, kind, key, NULL, args_json);
  if (id < 0) return (int)id;
  s_pending_t *p = &self->pend[(uint64_t)id % S_MAX_PENDING];
  uint64_t end = dd_clock_now_us(dd_loop_clock(loop)) + timeout_us;
  while (!(p->id == (uint64_t)id && p->done)) {
    uint64_t now = dd_clock_now_us(dd_loop_clock(loop));
    if (now >= end) return DD_ETIMEDOUT;
    int rc = dd_loop_step(loop, end - now);
    if (rc < 0) return rc;
  }
  if (res) *res = p->res;
  return p->res.code;
}
