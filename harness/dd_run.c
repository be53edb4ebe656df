/* dd_run: one scenario run: spawn the parties and links, play the timeline, judge the
 * expectations from the collected events, stop everything and write the verdict files. */
#include "dd_run.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <regex.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dd_child.h"
#include "dd_clock.h"
#include "dd_collector.h"
#include "dd_ctl.h"
#include "dd_err.h"
#include "dd_expect.h"
#include "dd_log.h"
#include "dd_rig.h"
#include "dd_socketcan_ctl.h"
#include "dd_vehicle.h"

#define S_MAX_PROCS 28            /* processes of one run (dd_rig holds 32) */
#define S_MAX_ARGS 96             /* own arguments of one process */
#define S_S 1000000ull            /* one second in microseconds */
#define S_CMD_TIMEOUT (5 * S_S)   /* answer time of a command */
#define S_GRACE (300 * 1000ull)   /* collector delay absorbed by deadlines (real time) */
#define S_SETTLE S_S              /* time after the last known deadline before the end */
#define S_STOP_GRACE (5 * S_S)    /* time to stop politely */
#define S_HARNESS "harness"       /* proc of the harness's own events */

typedef struct {
  char name[64];             /* process id */
  char exe[32];              /* "bus" for duodiag-bus */
  char *argv[S_MAX_ARGS + 1]; /* own arguments (owned), NULL-terminated */
  int argc;                  /* how many */
  dd_child_t *child;         /* the first instance (NULL once restarted or real) */
  uint64_t ready_timeout_us; /* Ready wait */
  bool real;                 /* hardware: registers by itself, never spawned */
  bool killed;               /* stopped on purpose by a step */
} s_proc_t;

typedef struct {
  bool done;      /* executed */
  bool due_known; /* due is set */
  uint64_t due;   /* absolute time it runs */
  uint32_t seen;  /* EVENT: matching events seen */
} s_step_t;

typedef struct {
  const dd_scenario_t *sc;    /* the scenario */
  const dd_run_opts_t *opts;  /* options */
  dd_run_result_t *res;       /* result being filled */
  dd_rig_t *rig;              /* processes */
  dd_expect_t *ex;            /* judge */
  s_proc_t procs[S_MAX_PROCS]; /* every process of the run */
  int n_procs;                /* how many */
  int n_killed;               /* instances stopped on purpose (they count as bad exits) */
  s_step_t *steps;            /* per timeline step */
  bool started;               /* t0 is set */
  uint64_t t0;                /* run start (monotonic us) */
  char **pre;                 /* events collected before t0 (JSON lines) */
  size_t n_pre, cap_pre;      /* used, allocated */
  dd_expect_result_t *queue;  /* results to write as expect.result */
  size_t n_queue, cap_queue;  /* used, allocated */
  bool in_expect;             /* inside a dd_expect call */
  bool finished;              /* dd_expect_finish done */
  bool stop_step;             /* a stop step ran */
  bool failed;                /* failed outside the expectations (reason in res) */
  uint64_t seed;              /* the run's seed */
  bool present[DD_SC_P_COUNT]; /* parties in the run */
  bool link_on[DD_SC_L_COUNT]; /* links with a netem process */
  char link_proc[DD_SC_L_COUNT][48]; /* their process names */
  char link_listen[DD_SC_L_COUNT][300]; /* where their clients connect */
  char ep[DD_SC_P_COUNT][300]; /* servers' own endpoints (ipc) */
  char udp_addr[64];          /* the service device's UDP address */
  const char *vehicle_path;   /* vehicle file in use */
  dd_vehicle_t *veh;          /* it, loaded: ECU names to request ids */
  char default_vehicle[PATH_MAX]; /* used when the scenario names none */
  char inline_vehicle[PATH_MAX];  /* an inline vehicle, written into the run folder */
  const char *terminal_proc0; /* process name of the first terminal */
  const char *can_iface;      /* HIL: the SocketCAN interface that is the bus (NULL: virtual) */
  bool can_configure;         /* set its bit rates through libsocketcan first */
  const char *cut_ecu;        /* armed power cut during a flash: the ECU */
  double cut_pct;             /* ... at this progress */
  char short_dir[64];         /* symlink made for a long run folder path ("" none) */
} s_run_t;

/* ---- small helpers ---------------------------------------------------------------------- */

static void s_fail(s_run_t *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void s_fail(s_run_t *r, const char *fmt, ...) {
  if (r->failed) return; /* the first reason is the cause; later ones follow from it */
  r->failed = true;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->res->reason, sizeof r->res->reason, fmt, ap);
  va_end(ap);
  dd_error("%s: %s", r->sc->name, r->res->reason);
}

static uint64_t s_now(s_run_t *r) { return dd_clock_now_us(dd_loop_clock(dd_rig_loop(r->rig))); }

void dd_run_slug(const char *name, char *buf, size_t cap) {
  size_t n = 0;
  for (const char *p = name; *p && n + 1 < cap; p++) {
    char c = *p;
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-' || c == '=' || c == ',';
    if (!ok && n && buf[n - 1] == '-') continue; /* one dash for a run of odd characters */
    buf[n++] = ok ? c : '-';
  }
  while (n && buf[n - 1] == '-') n--;
  if (!n && cap > 1) buf[n++] = '_';
  if (cap) buf[n < cap ? n : cap - 1] = 0;
  if (!strcmp(buf, ".") || !strcmp(buf, "..")) snprintf(buf, cap, "_");
}

static int s_copy_file(const char *src, const char *dst) {
  FILE *in = fopen(src, "rb");
  if (!in) return -errno;
  FILE *out = fopen(dst, "wb");
  if (!out) {
    int e = -errno;
    fclose(in);
    return e;
  }
  char buf[8192];
  size_t n;
  int rc = 0;
  while ((n = fread(buf, 1, sizeof buf, in)) > 0)
    if (fwrite(buf, 1, n, out) != n) rc = DD_EIO;
  fclose(in);
  if (fclose(out) != 0) rc = DD_EIO;
  return rc;
}

/* A free UDP port on the loopback (released again: the service device binds it right away). */
static int s_free_udp_port(void) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof a;
  int rc = bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
                   getsockname(fd, (struct sockaddr *)&a, &len) == 0
               ? ntohs(a.sin_port)
               : -errno;
  close(fd);
  return rc;
}

/* The source tree (vehicle files, keys): $DD_SOURCE_DIR, else the build's, else ".". */
static const char *s_source_dir(void) {
  const char *e = getenv("DD_SOURCE_DIR");
  if (e && *e) return e;
#ifdef DD_SOURCE_DIR
  return DD_SOURCE_DIR;
#else
  return ".";
#endif
}

/* ---- the harness's own events ----------------------------------------------------------- */

static void s_emit(s_run_t *r, const char *kind, const dd_field_t *f, size_t n) {
  Duodiag__Field fv[DD_EVENTS_MAX_FIELDS];
  Duodiag__Field *fp[DD_EVENTS_MAX_FIELDS];
  static char empty[] = "";
  if (n > DD_EVENTS_MAX_FIELDS) n = DD_EVENTS_MAX_FIELDS;
  for (size_t i = 0; i < n; i++) {
    duodiag__field__init(&fv[i]);
    fv[i].key = (char *)f[i].key;
    switch (f[i].type) {
    case DD_FT_INT:
      fv[i].value_case = DUODIAG__FIELD__VALUE_INT_VALUE;
      fv[i].int_value = f[i].i;
      break;
    case DD_FT_DBL:
      fv[i].value_case = DUODIAG__FIELD__VALUE_DOUBLE_VALUE;
      fv[i].double_value = f[i].d;
      break;
    case DD_FT_BOOL:
      fv[i].value_case = DUODIAG__FIELD__VALUE_BOOL_VALUE;
      fv[i].bool_value = f[i].b;
      break;
    default:
      fv[i].value_case = DUODIAG__FIELD__VALUE_STRING_VALUE;
      fv[i].string_value = f[i].s && f[i].s[0] ? (char *)f[i].s : empty;
      break;
    }
    fp[i] = &fv[i];
  }
  dd_clock_t *clk = dd_loop_clock(dd_rig_loop(r->rig));
  Duodiag__Event ev = DUODIAG__EVENT__INIT;
  ev.mono_us = dd_clock_now_us(clk);
  ev.wall_us = (int64_t)dd_clock_wall_us(clk);
  ev.process = (char *)S_HARNESS;
  ev.kind = (char *)kind;
  ev.n_fields = n;
  ev.fields = fp;
  int rc = dd_collector_write(dd_rig_collector(r->rig), &ev);
  if (rc < 0) dd_warn("cannot write %s to the timeline: %s", kind, dd_strerror(rc));
}

/* Results become final inside dd_expect calls; they are written once the call has returned. */
static void s_on_result(void *arg, const dd_expect_result_t *res) {
  s_run_t *r = arg;
  if (r->n_queue == r->cap_queue) {
    size_t cap = r->cap_queue ? 2 * r->cap_queue : 16;
    dd_expect_result_t *q = realloc(r->queue, cap * sizeof *q);
    if (!q) return; /* the summary still lists it from dd_expect */
    r->queue = q;
    r->cap_queue = cap;
  }
  r->queue[r->n_queue++] = *res;
}

static void s_flush_results(s_run_t *r) {
  for (size_t i = 0; i < r->n_queue; i++) {
    dd_field_t f[DD_EXPECT_FIELDS];
    size_t n = dd_expect_result_fields(&r->queue[i], f, DD_EXPECT_FIELDS);
    s_emit(r, "expect.result", f, n);
  }
  r->n_queue = 0;
}

/* ---- event patterns (after: steps) ------------------------------------------------------- */

static bool s_value_eq(const json_t *f, const dd_sc_value_t *v) {
  if (json_is_number(f) && v->is_num) return json_number_value(f) == v->num;
  if (json_is_boolean(f) && v->is_bool) return json_is_true(f) == v->b;
  if (json_is_string(f)) return !strcmp(json_string_value(f), v->text ? v->text : "");
  if (json_is_number(f) && v->text) {
    char t[64];
    if (json_is_integer(f)) snprintf(t, sizeof t, "%lld", (long long)json_integer_value(f));
    else snprintf(t, sizeof t, "%g", json_real_value(f));
    return !strcmp(t, v->text);
  }
  return false;
}

static bool s_matcher(const dd_sc_matcher_t *m, const json_t *obj) {
  const json_t *f = json_object_get(obj, m->field);
  if (!f) return false;
  double x = json_is_number(f) ? json_number_value(f) : 0;
  switch (m->op) {
  case DD_SC_OP_EQ: return s_value_eq(f, &m->v[0]);
  case DD_SC_OP_NE: return !s_value_eq(f, &m->v[0]);
  case DD_SC_OP_LT: return json_is_number(f) && x < m->v[0].num;
  case DD_SC_OP_LE: return json_is_number(f) && x <= m->v[0].num;
  case DD_SC_OP_GT: return json_is_number(f) && x > m->v[0].num;
  case DD_SC_OP_GE: return json_is_number(f) && x >= m->v[0].num;
  case DD_SC_OP_BETWEEN: return json_is_number(f) && x >= m->v[0].num && x <= m->v[1].num;
  case DD_SC_OP_IN:
    for (size_t i = 0; i < m->n_set; i++)
      if (s_value_eq(f, &m->set[i])) return true;
    return false;
  case DD_SC_OP_REGEX: {
    if (!json_is_string(f)) return false;
    regex_t re;
    if (regcomp(&re, m->v[0].text, REG_EXTENDED | REG_NOSUB) != 0) return false;
    bool ok = regexec(&re, json_string_value(f), 0, NULL, 0) == 0;
    regfree(&re);
    return ok;
  }
  default: return false;
  }
}

static bool s_pattern(const dd_sc_pattern_t *p, const char *proc, const char *kind,
                      const json_t *obj) {
  if (!p->kind || strcmp(p->kind, kind)) return false;
  if (p->proc && strcmp(p->proc, proc)) return false;
  for (size_t i = 0; i < p->n_match; i++)
    if (!s_matcher(&p->match[i], obj)) return false;
  return true;
}

/* ---- commands to the processes ---------------------------------------------------------- */

static s_proc_t *s_proc(s_run_t *r, const char *name) {
  for (int i = 0; i < r->n_procs; i++)
    if (!strcmp(r->procs[i].name, name)) return &r->procs[i];
  return NULL;
}

/* One ACTION command; 0, or the run fails with what the process said. */
static int s_cmd(s_run_t *r, const char *proc, const char *key, const char *args, size_t step) {
  if (!s_proc(r, proc)) {
    s_fail(r, "step %zu: process %s is not in this run (add it under parties:)", step, proc);
    return DD_ENOENT;
  }
  dd_ctl_result_t res;
  memset(&res, 0, sizeof res);
  int rc = dd_ctl_call(dd_rig_ctl(r->rig), dd_rig_loop(r->rig), proc, "action", key, args,
                       S_CMD_TIMEOUT, &res);
  if (rc == 0 && !res.ok) rc = res.code ? res.code : DD_EINVAL;
  if (rc < 0)
    s_fail(r, "step %zu: %s refused %s %s: %s%s%s%s", step, proc, key, args ? args : "{}",
           dd_strerror(rc), res.text[0] ? " (" : "", res.text, res.text[0] ? ")" : "");
  return rc;
}

/* The process of terminal id (the first terminal is "terminal"). */
static const char *s_terminal_proc(s_run_t *r, const char *id, char *buf, size_t cap) {
  if (!id || !r->sc->n_terminals || !strcmp(id, r->sc->terminals[0].id)) return r->terminal_proc0;
  snprintf(buf, cap, "terminal-%s", id);
  return buf;
}

static void s_sid(json_t *a, int sid) {
  if (sid < 0) return;
  char t[8];
  snprintf(t, sizeof t, "0x%02X", sid);
  json_object_set_new(a, "sid", json_string(t));
}

static int s_exec_ecu(s_run_t *r, const dd_sc_step_t *st) {
  const dd_sc_fault_t *f = &st->fault;
  json_t *a = json_object();
  const char *key = NULL;
  if (f->ecu && f->kind != DD_SC_FAULT_SPEED && f->kind != DD_SC_FAULT_ENGINE)
    json_object_set_new(a, "ecu", json_string(f->ecu));
  switch (f->kind) {
  case DD_SC_FAULT_SET_DTC:
    key = "set_dtc";
    json_object_set_new(a, "dtc", json_string(f->dtc_text ? f->dtc_text : ""));
    break;
  case DD_SC_FAULT_CLEAR_DTC:
    key = "clear_dtc";
    json_object_set_new(a, "dtc", json_string(f->dtc_text && f->dtc != 0xFFFFFF ? f->dtc_text : "all"));
    break;
  case DD_SC_FAULT_DELAY:
    key = "delay";
    s_sid(a, f->service);
    json_object_set_new(a, "ms", json_integer((json_int_t)(f->duration_us / 1000)));
    json_object_set_new(a, "count", json_integer(f->count));
    break;
  case DD_SC_FAULT_DROP:
    key = "drop";
    s_sid(a, f->service);
    json_object_set_new(a, "count", json_integer(f->count));
    if (f->probability < 1.0)
      dd_warn("step %zu: the vehicle drops every matching response (probability %.2f not modelled)",
              st->index, f->probability);
    break;
  case DD_SC_FAULT_FORCE_NRC: {
    key = "force_nrc";
    s_sid(a, f->service);
    char t[8];
    snprintf(t, sizeof t, "0x%02X", f->nrc);
    json_object_set_new(a, "nrc", json_string(t));
    json_object_set_new(a, "count", json_integer(f->count));
    break;
  }
  case DD_SC_FAULT_PENDING_FOREVER:
    key = "pending_forever";
    s_sid(a, f->service);
    break;
  case DD_SC_FAULT_POWER_CYCLE:
    key = "power_cycle";
    json_object_set_new(a, "off_ms", json_integer((json_int_t)(f->duration_us / 1000)));
    break;
  case DD_SC_FAULT_POWER_CUT_FLASH:
    /* Armed here; the cut itself is sent when a reflash.phase event of that ECU reaches the
     * progress (see s_on_event). */
    {
      /* reflash.phase names the ECU as the vehicle file does ("ECM"); the step may name its
       * role ("engine") */
      const dd_vehicle_ecu_t *e = r->veh && f->ecu ? dd_vehicle_ecu_find(r->veh, f->ecu) : NULL;
      r->cut_ecu = e ? e->name : f->ecu;
    }
    r->cut_pct = f->percent;
    json_decref(a);
    return 0;
  case DD_SC_FAULT_SPEED:
    key = "speed";
    json_object_set_new(a, "kmh", json_real(f->speed_kmh));
    break;
  case DD_SC_FAULT_CLEAR:
    key = "clear_faults";
    break;
  case DD_SC_FAULT_ENGINE:
    key = "engine";
    json_object_set_new(a, "on", json_boolean(f->engine_on));
    break;
  default:
    json_decref(a);
    s_fail(r, "step %zu: unknown ECU action", st->index);
    return DD_EINVAL;
  }
  char *args = json_dumps(a, JSON_COMPACT);
  json_decref(a);
  int rc = args ? s_cmd(r, "vehicle", key, args, st->index) : DD_ENOMEM;
  free(args);
  return rc;
}

static int s_exec_link(s_run_t *r, const dd_sc_step_t *st) {
  for (size_t i = 0; i < st->link.n_changes; i++) {
    const dd_sc_link_change_t *ch = &st->link.changes[i];
    if (!r->link_on[ch->link]) {
      s_fail(r, "step %zu: link %s has no link process in this run", st->index, ch->name);
      return DD_ENOENT;
    }
    for (size_t k = 0; k < ch->n_ops; k++) {
      char *args = dd_sc_link_op_json(&ch->ops[k]);
      if (!args) return DD_ENOMEM;
      int rc = s_cmd(r, r->link_proc[ch->link], dd_sc_link_op_name(ch->ops[k].op), args,
                     st->index);
      free(args);
      if (rc < 0) return rc;
    }
  }
  return 0;
}

static int s_spawn_proc(s_run_t *r, s_proc_t *p);

static int s_exec_proc(s_run_t *r, const dd_sc_step_t *st) {
  const char *name = st->proc.proc;
  s_proc_t *p = s_proc(r, name);
  if (!p) {
    s_fail(r, "step %zu: %s %s: no such process in this run%s", st->index,
           dd_sc_action_name(st->action), name,
           !strncmp(name, "ecu.", 4) ? " (ECUs run inside the vehicle process: use an ecu: "
                                       "power_cycle step)" : "");
    return DD_ENOENT;
  }
  if (p->real) {
    s_fail(r, "step %zu: %s is real hardware and cannot be %s by the harness", st->index, name,
           st->action == DD_SC_ACT_KILL ? "killed" : "restarted");
    return DD_ENOTSUP;
  }
  if (st->action == DD_SC_ACT_KILL) {
    if (p->child && !dd_child_exited(p->child, NULL, NULL)) {
      kill(dd_child_pid(p->child), st->proc.signal ? st->proc.signal : SIGKILL);
      p->killed = true;
      r->n_killed++;
    } else if (!p->child) {
      /* A restarted instance: dd_rig gives no handle on it; ask it to stop. */
      dd_ctl_send(dd_rig_ctl(r->rig), name, "stop", NULL, NULL, NULL);
      p->killed = true;
    }
    return 0;
  }
  /* RESTART: stop (if running), wait the down time, start again with the same arguments. */
  if (p->child && !dd_child_exited(p->child, NULL, NULL)) {
    dd_child_stop(p->child, S_S);
    r->n_killed++;
  } else if (p->child && !p->killed) {
    r->n_killed++; /* it had died; its exit is accounted for by the restart */
  }
  uint64_t until = s_now(r) + st->proc.down_us;
  while (s_now(r) < until) dd_loop_step(dd_rig_loop(r->rig), until - s_now(r) < 20000 ? until - s_now(r) : 20000);
  p->child = NULL;
  p->killed = false;
  return s_spawn_proc(r, p);
}

static int s_exec_session(s_run_t *r, const dd_sc_step_t *st) {
  const dd_sc_session_t *s = &st->session;
  char tb[80];
  const char *term = s_terminal_proc(r, s->terminal, tb, sizeof tb);
  char buf[512];
  int rc;
  if (s->close) {
    json_t *a = json_pack("{s:s}", "reason", s->reason ? s->reason : "closed by the scenario");
    char *t = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    rc = t ? s_cmd(r, term, "close", t, st->index) : DD_ENOMEM;
    free(t);
    return rc;
  }
  snprintf(buf, sizeof buf, "{\"accept\":%s,\"fee\":%lld}", s->accept ? "true" : "false",
           (long long)s->fee_minor);
  if ((rc = s_cmd(r, term, "set", buf, st->index)) < 0) return rc;
  if (s->pay && s->amount_minor > 0 && s->amount_minor != s->fee_minor)
    snprintf(buf, sizeof buf, "{\"pay\":true,\"amount\":%lld}", (long long)s->amount_minor);
  else if (s->pay) snprintf(buf, sizeof buf, "{\"pay\":true}");
  else snprintf(buf, sizeof buf, "{\"pay\":false}");
  if ((rc = s_cmd(r, "first_device", "owner", buf, st->index)) < 0) return rc;
  /* S12-S13: the owner turns to this terminal, for voice or video */
  json_t *a = json_object();
  if (r->sc->first_device.fee_limit_minor >= 0)
    json_object_set_new(a, "fee_limit", json_integer(r->sc->first_device.fee_limit_minor));
  if (s->terminal) json_object_set_new(a, "terminal", json_string(s->terminal));
  json_object_set_new(a, "media", json_string(s->media == DD_SC_MEDIA_VIDEO ? "video" : "voice"));
  char *t = json_dumps(a, JSON_COMPACT);
  json_decref(a);
  rc = t ? s_cmd(r, "first_device", "start", t, st->index) : DD_ENOMEM;
  free(t);
  return rc;
}

static json_t *s_u32_array(const uint32_t *v, size_t n) {
  json_t *a = json_array();
  for (size_t i = 0; i < n; i++) json_array_append_new(a, json_integer(v[i]));
  return a;
}

/* The request id of the ECU a step names (the terminal addresses ECUs as the first device's
 * scan reports them: by CAN request id); unknown names fail the run with the known ones. */
static int s_ecu_id(s_run_t *r, const dd_sc_step_t *st, const char *name, uint32_t *id) {
  if (!name) return 0;
  const dd_vehicle_ecu_t *e = r->veh ? dd_vehicle_ecu_find(r->veh, name) : NULL;
  if (e) {
    *id = e->request_id;
    return 0;
  }
  char known[256] = "";
  for (size_t i = 0; r->veh && i < r->veh->n_ecus; i++) {
    size_t n = strlen(known);
    snprintf(known + n, sizeof known - n, "%s%s", n ? ", " : "", r->veh->ecus[i].name);
  }
  s_fail(r, "step %zu: ECU '%s' is not in the vehicle %s (its ECUs: %s)", st->index, name,
         r->vehicle_path ? r->vehicle_path : "(none)", known[0] ? known : "none");
  return DD_EINVAL;
}

static int s_exec_request(s_run_t *r, const dd_sc_step_t *st) {
  static const char *const kinds[DD_SC_REQ_COUNT] = {"live_pids", "dtcs", "dids",
                                                     "freeze_frame", "history", "vin_info"};
  const dd_sc_request_t *q = &st->request;
  char tb[80];
  json_t *a = json_object();
  json_object_set_new(a, "kind", json_string(kinds[q->kind]));
  json_object_set_new(a, q->kind == DD_SC_REQ_DIDS ? "dids" : "pids", s_u32_array(q->items, q->n_items));
  if (q->rate_hz > 0) json_object_set_new(a, "rate_hz", json_real(q->rate_hz));
  if (q->count) json_object_set_new(a, "count", json_integer(q->count));
  uint32_t ecu_id = q->ecu_id;
  int rc = s_ecu_id(r, st, q->ecu, &ecu_id);
  if (rc < 0) {
    json_decref(a);
    return rc;
  }
  if (ecu_id) json_object_set_new(a, "ecu_id", json_integer(ecu_id));
  char *t = json_dumps(a, JSON_COMPACT);
  json_decref(a);
  rc = t ? s_cmd(r, s_terminal_proc(r, q->terminal, tb, sizeof tb), "request", t, st->index) : DD_ENOMEM;
  free(t);
  return rc;
}

static int s_exec_control(s_run_t *r, const dd_sc_step_t *st) {
  const dd_sc_control_t *c = &st->control;
  char tb[80];
  json_t *a = json_object();
  json_object_set_new(a, "action", json_string(dd_sc_control_name(c->action)));
  uint32_t ecu_id = c->ecu_id;
  int rc = s_ecu_id(r, st, c->ecu, &ecu_id);
  if (rc < 0) {
    json_decref(a);
    return rc;
  }
  if (ecu_id) json_object_set_new(a, "ecu_id", json_integer(ecu_id));
  json_object_set_new(a, "ids", s_u32_array(c->ids, c->n_ids));
  if (c->rate_hz > 0) json_object_set_new(a, "rate_hz", json_real(c->rate_hz));
  if (c->n_args) {
    char hex[1024] = "";
    for (size_t i = 0; i < c->n_args && 2 * i + 2 < sizeof hex; i++)
      snprintf(hex + 2 * i, 3, "%02X", c->args[i]);
    json_object_set_new(a, "args_hex", json_string(hex));
  }
  if (c->package) json_object_set_new(a, "package_id", json_string(c->package));
  char *t = json_dumps(a, JSON_COMPACT);
  json_decref(a);
  rc = t ? s_cmd(r, s_terminal_proc(r, c->terminal, tb, sizeof tb), "control", t, st->index) : DD_ENOMEM;
  free(t);
  return rc;
}

static int s_exec_program(s_run_t *r, const dd_sc_step_t *st) {
  const dd_sc_program_t *p = &st->program;
  static const char *const tamper[] = {"none", "unsigned", "signature"};
  json_t *a = json_object();
  json_object_set_new(a, "image", json_string(p->image_path ? p->image_path : p->image));
  if (p->target) {
    /* The package names the ECU as the vehicle does ("engine" is the role of "ECM"). */
    const dd_vehicle_ecu_t *e = r->veh ? dd_vehicle_ecu_find(r->veh, p->target) : NULL;
    uint32_t id = 0;
    if (!e && s_ecu_id(r, st, p->target, &id) < 0) {
      json_decref(a);
      return DD_EINVAL;
    }
    json_object_set_new(a, "ecu_name", json_string(e->name));
    /* ... at its request id, for its hardware part number (F191, else F187) as the first
     * device reads it back before it flashes */
    json_object_set_new(a, "ecu_id", json_integer(e->request_id));
    const dd_vehicle_did_t *hw = dd_vehicle_did(e, 0xF191);
    if (!hw || hw->kind != DD_DID_BYTES || !hw->len) hw = dd_vehicle_did(e, 0xF187);
    if (hw && hw->kind == DD_DID_BYTES && hw->len)
      json_object_set_new(a, "hw_part", json_stringn((const char *)hw->data, hw->len));
  }
  if (p->hw_part) json_object_set_new(a, "hw_part", json_string(p->hw_part)); /* another target */
  if (p->version) json_object_set_new(a, "version", json_string(p->version));
  if (p->package) json_object_set_new(a, "package_id", json_string(p->package));
  json_object_set_new(a, "tamper", json_string(tamper[p->signature]));
  json_object_set_new(a, "start", json_string(p->auto_start ? "auto" : "on_control"));
  char *t = json_dumps(a, JSON_COMPACT);
  json_decref(a);
  int rc = t ? s_cmd(r, "second", "program", t, st->index) : DD_ENOMEM;
  free(t);
  return rc;
}

static void s_exec_step(s_run_t *r, size_t i) {
  const dd_sc_step_t *st = &r->sc->steps[i];
  r->steps[i].done = true;
  double at_s = r->started ? (double)(s_now(r) - r->t0) / 1e6 : 0;
  char *args = dd_sc_step_json(r->sc, st);
  dd_field_t f[] = {DD_I("index", (int64_t)st->index), DD_S("action", dd_sc_action_name(st->action)),
                    DD_D("at_s", at_s), DD_S("name", st->name ? st->name : ""),
                    DD_S("args", args ? args : ""), DD_I("line", st->loc.line)};
  s_emit(r, "scenario.step", f, sizeof f / sizeof f[0]);
  free(args);
  switch (st->action) {
  case DD_SC_ACT_LINK: s_exec_link(r, st); break;
  case DD_SC_ACT_ECU: s_exec_ecu(r, st); break;
  case DD_SC_ACT_KILL:
  case DD_SC_ACT_RESTART: s_exec_proc(r, st); break;
  case DD_SC_ACT_SESSION: s_exec_session(r, st); break;
  case DD_SC_ACT_TERMINAL: s_exec_request(r, st); break;
  case DD_SC_ACT_CONTROL: s_exec_control(r, st); break;
  case DD_SC_ACT_PROGRAM: s_exec_program(r, st); break;
  case DD_SC_ACT_DIAGNOSE: s_cmd(r, "first_device", "diagnose", "{}", st->index); break;
  case DD_SC_ACT_MARK: {
    dd_field_t m[] = {DD_S("name", st->mark), DD_I("step", (int64_t)st->index)};
    s_emit(r, "scenario.mark", m, 2);
    break;
  }
  case DD_SC_ACT_STOP: r->stop_step = true; break;
  default: break;
  }
}

/* ---- events ------------------------------------------------------------------------------ */

static void s_feed(s_run_t *r, const char *json) {
  if (r->finished) return;
  r->in_expect = true;
  dd_expect_feed_json(r->ex, json, strlen(json));
  r->in_expect = false;
  s_flush_results(r);
}

static void s_on_event(const Duodiag__Event *ev, const char *json, void *arg) {
  s_run_t *r = arg;
  const char *proc = ev->process ? ev->process : "";
  const char *kind = ev->kind ? ev->kind : "";
  if (!strcmp(proc, S_HARNESS) && !strcmp(kind, "expect.result")) return;
  if (r->started) {
    s_feed(r, json);
  } else if (r->n_pre < 100000) {
    if (r->n_pre == r->cap_pre) {
      size_t cap = r->cap_pre ? 2 * r->cap_pre : 64;
      char **p = realloc(r->pre, cap * sizeof *p);
      if (!p) return;
      r->pre = p;
      r->cap_pre = cap;
    }
    char *copy = strdup(json);
    if (copy) r->pre[r->n_pre++] = copy;
  }
  /* after: steps and an armed power cut look at the event's fields. */
  bool want = r->cut_ecu && !strcmp(kind, "reflash.phase");
  for (size_t i = 0; !want && i < r->sc->n_steps; i++)
    want = !r->steps[i].done && !r->steps[i].due_known &&
           r->sc->steps[i].when.kind == DD_SC_REF_EVENT;
  if (!want) return;
  json_t *obj = json_loads(json, 0, NULL);
  if (!obj) return;
  for (size_t i = 0; i < r->sc->n_steps; i++) {
    const dd_sc_step_t *st = &r->sc->steps[i];
    s_step_t *ss = &r->steps[i];
    if (ss->done || ss->due_known || st->when.kind != DD_SC_REF_EVENT) continue;
    if (!s_pattern(&st->when.event, proc, kind, obj)) continue;
    if (++ss->seen < (st->when.nth ? st->when.nth : 1)) continue;
    ss->due_known = true;
    ss->due = ev->mono_us + st->when.offset_us;
  }
  if (r->cut_ecu && !strcmp(kind, "reflash.phase")) {
    const char *ecu = json_string_value(json_object_get(obj, "ecu"));
    json_t *pct = json_object_get(obj, "percent");
    if (ecu && !strcasecmp(ecu, r->cut_ecu) && json_is_number(pct) &&
        json_number_value(pct) >= r->cut_pct) {
      char a[160];
      snprintf(a, sizeof a, "{\"ecu\":\"%s\",\"off_ms\":500}", r->cut_ecu);
      r->cut_ecu = NULL;
      /* Not from inside the collector's callback: a command steps the loop. Send only. */
      dd_ctl_send(dd_rig_ctl(r->rig), "vehicle", "action", "power_cut", NULL, a);
      dd_field_t f[] = {DD_S("ecu", ecu), DD_D("percent", json_number_value(pct))};
      s_emit(r, "scenario.power_cut", f, 2);
    }
  }
  json_decref(obj);
}

/* ---- processes --------------------------------------------------------------------------- */

static s_proc_t *s_add_proc(s_run_t *r, const char *name, const char *exe, uint64_t timeout) {
  if (r->n_procs == S_MAX_PROCS) return NULL;
  s_proc_t *p = &r->procs[r->n_procs++];
  memset(p, 0, sizeof *p);
  snprintf(p->name, sizeof p->name, "%s", name);
  snprintf(p->exe, sizeof p->exe, "%s", exe);
  p->ready_timeout_us = timeout ? timeout : 30 * S_S;
  return p;
}

static void s_arg(s_proc_t *p, const char *a) {
  if (p->argc < S_MAX_ARGS) p->argv[p->argc++] = strdup(a);
}


/* An option and its formatted value, as two arguments. */
static void s_opt(s_proc_t *p, const char *opt, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void s_opt(s_proc_t *p, const char *opt, const char *fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  s_arg(p, opt);
  s_arg(p, buf);
}

/* HIL: what a real party must be started with to join this run (the same options a simulated
 * one gets), written to RUN_DIR/real-NAME.cmd, logged and put on the timeline. */
static void s_real_invite(s_run_t *r, s_proc_t *p) {
  char ctl[PATH_MAX + 16], ev[PATH_MAX + 16], line[4096];
  dd_rig_endpoint(r->rig, "control", ctl, sizeof ctl);
  dd_rig_endpoint(r->rig, "events", ev, sizeof ev);
  size_t n = (size_t)snprintf(line, sizeof line, "duodiag-%s --name %s --control %s --events %s",
                              p->exe, p->name, ctl, ev);
  for (int i = 0; i < p->argc && n < sizeof line; i++)
    n += (size_t)snprintf(line + n, sizeof line - n, " '%s'", p->argv[i]);
  char path[PATH_MAX + 64];
  snprintf(path, sizeof path, "%s/real-%s.cmd", r->opts->run_dir, p->name);
  FILE *f = fopen(path, "w");
  if (f) {
    fprintf(f, "%s\n", line);
    fclose(f);
  }
  dd_info("waiting up to %.1f s for %s (real) to register on %s; a duodiag first device joins "
          "with: %s (also in %s)", (double)p->ready_timeout_us / 1e6, p->name, ctl, line, path);
  dd_field_t fl[] = {DD_S("name", p->name), DD_S("control", ctl), DD_S("cmdline", line),
                     DD_D("timeout_s", (double)p->ready_timeout_us / 1e6)};
  s_emit(r, "run.wait_real", fl, sizeof fl / sizeof fl[0]);
}

static int s_spawn_proc(s_run_t *r, s_proc_t *p) {
  if (p->real) {
    s_real_invite(r, p);
    int rc = dd_ctl_wait_ready(dd_rig_ctl(r->rig), dd_rig_loop(r->rig), p->name, p->ready_timeout_us);
    if (rc < 0)
      s_fail(r, "party %s (real) did not register on the control channel within %.1f s (start "
             "it as in %s/real-%s.cmd, or raise its register_timeout)", p->name,
             (double)p->ready_timeout_us / 1e6, r->opts->run_dir, p->name);
    return rc;
  }
  char path[PATH_MAX];
  char exe[64];
  snprintf(exe, sizeof exe, "duodiag-%s", p->exe);
  if (dd_child_find_exe(p->exe, path, sizeof path) < 0) {
    s_fail(r, "party %s: %s not found", p->name, exe);
    return DD_ENOENT;
  }
  /* The command line, for the log and the report. */
  char line[2048];
  size_t n = (size_t)snprintf(line, sizeof line, "%s --name %s", exe, p->name);
  for (int i = 0; i < p->argc && n < sizeof line; i++)
    n += (size_t)snprintf(line + n, sizeof line - n, " %s", p->argv[i]);
  dd_info("spawn %s", line);
  dd_field_t f[] = {DD_S("name", p->name), DD_S("cmdline", line)};
  s_emit(r, "run.spawn", f, 2);
  p->argv[p->argc] = NULL;
  int rc = dd_rig_spawn(r->rig, p->name, p->exe, (const char *const *)p->argv, p->ready_timeout_us);
  if (rc == DD_ETIMEDOUT)
    s_fail(r, "party %s: not ready within %.1f s (see logs/%s.log)", p->name,
           (double)p->ready_timeout_us / 1e6, p->name);
  else if (rc == DD_ECHILD_FAILED)
    s_fail(r, "party %s: exited during start-up (see logs/%s.log)", p->name, p->name);
  else if (rc < 0)
    s_fail(r, "party %s: cannot start %s: %s", p->name, exe, dd_strerror(rc));
  if (rc == 0 && !p->child) p->child = dd_rig_child(r->rig, p->name);
  /* A restarted process: dd_rig_child finds the first (dead) instance; keep no handle. */
  if (rc == 0 && p->child && dd_child_exited(p->child, NULL, NULL)) p->child = NULL;
  return rc;
}

static const char *s_server_of(const dd_sc_link_t *l) { return l->server; }

static int s_party_id(const char *name) {
  for (int i = 0; i < DD_SC_P_COUNT; i++)
    if (!strcmp(dd_sc_party_name((dd_sc_party_id_t)i), name)) return i;
  return -1;
}

/* Where a client of link l connects: the link process, or the server itself. */
static const char *s_via(s_run_t *r, dd_sc_link_id_t l) {
  if (r->link_on[l]) return r->link_listen[l];
  if (l == DD_SC_L_DIRECT) return r->udp_addr;
  int srv = s_party_id(s_server_of(&r->sc->links[l]));
  return srv >= 0 ? r->ep[srv] : "";
}

static void s_plan(s_run_t *r) {
  const dd_scenario_t *sc = r->sc;
  static const dd_sc_party_id_t remote[] = {DD_SC_P_FIRST_DEVICE, DD_SC_P_TERMINAL, DD_SC_P_SERVICE,
                                            DD_SC_P_SECOND, DD_SC_P_RELAY, DD_SC_P_CLOUD};
  /* Without a parties: section every party runs simulated (docs/SCENARIOS.md section 4);
   * with one, the parties it names. */
  bool any = false;
  for (int i = 0; i < DD_SC_P_COUNT; i++) any |= sc->parties[i].declared;
  for (size_t i = 0; i < sizeof remote / sizeof remote[0]; i++)
    r->present[remote[i]] = !any || sc->parties[remote[i]].declared;
  snprintf(r->default_vehicle, sizeof r->default_vehicle,
           "%s/ecu_models/vehicles/corvan_meridian_2019.yaml", s_source_dir());
  r->vehicle_path = sc->vehicle_path ? sc->vehicle_path : sc->vehicle;
  if (sc->vehicle_inline) {
    snprintf(r->inline_vehicle, sizeof r->inline_vehicle, "%s/vehicle.yaml", r->opts->run_dir);
    FILE *f = fopen(r->inline_vehicle, "w");
    bool ok = f && fputs(sc->vehicle_inline, f) >= 0;
    if (f && fclose(f) != 0) ok = false;
    if (ok) r->vehicle_path = r->inline_vehicle;
    else s_fail(r, "cannot write the inline vehicle to %s: %s", r->inline_vehicle, strerror(errno));
  }
  if (!r->vehicle_path && r->present[DD_SC_P_FIRST_DEVICE])
    r->vehicle_path = r->default_vehicle;
  r->present[DD_SC_P_ECUS] = r->vehicle_path && sc->parties[DD_SC_P_ECUS].mode == DD_SC_SIM;
  char verr[256];
  if (r->vehicle_path && dd_vehicle_load(r->vehicle_path, &r->veh, verr, sizeof verr) < 0)
    dd_warn("%s: ECU names in steps cannot be resolved: %s", r->sc->name, verr);
  r->can_iface = r->opts->can_iface
                     ? r->opts->can_iface
                     : sc->bus.kind == DD_SC_BUS_SOCKETCAN ? (sc->bus.iface ? sc->bus.iface : "can0")
                                                           : NULL;
  r->can_configure = r->can_iface && (r->opts->can_configure || sc->bus.configure);
  r->present[DD_SC_P_BUS] = (r->present[DD_SC_P_ECUS] || r->present[DD_SC_P_FIRST_DEVICE]) &&
                            !r->can_iface;
  for (int p = 0; p < DD_SC_P_COUNT; p++)
    dd_rig_endpoint(r->rig, dd_sc_party_name((dd_sc_party_id_t)p), r->ep[p], sizeof r->ep[p]);
  for (int l = 0; l < DD_SC_L_COUNT; l++) {
    const dd_sc_link_t *lk = &sc->links[l];
    int cl = s_party_id(lk->client), sv = s_party_id(lk->server);
    r->link_on[l] = lk->declared || (cl >= 0 && sv >= 0 && r->present[cl] && r->present[sv]);
    const char *name = lk->name ? lk->name : dd_sc_link_name((dd_sc_link_id_t)l);
    /* A link's process is named after the link, unless a party of the run has that name. */
    bool clash = s_party_id(name) >= 0 && r->present[s_party_id(name)];
    snprintf(r->link_proc[l], sizeof r->link_proc[l], clash ? "link-%s" : "%s", name);
  }
  r->terminal_proc0 = "terminal";
}

static int s_add_link(s_run_t *r, dd_sc_link_id_t l) {
  const dd_sc_link_t *lk = &r->sc->links[l];
  s_proc_t *p = s_add_proc(r, r->link_proc[l], "netem", 10 * S_S);
  if (!p) return DD_ENOSPC;
  bool udp = lk->kind == DD_SC_LINK_UDP;
  if (udp) {
    int port = s_free_udp_port();
    if (port < 0) return port;
    snprintf(r->link_listen[l], sizeof r->link_listen[l], "127.0.0.1:%d", port);
  } else {
    char ep[300];
    char nm[64];
    snprintf(nm, sizeof nm, "link-%s", lk->name ? lk->name : dd_sc_link_name(l));
    snprintf(r->link_listen[l], sizeof r->link_listen[l], "%s", dd_rig_endpoint(r->rig, nm, ep, sizeof ep));
  }
  int sv = s_party_id(lk->server);
  const char *to = udp ? r->udp_addr : (sv >= 0 ? r->ep[sv] : "");
  s_arg(p, "--kind");
  s_arg(p, udp ? "udp" : "zmq");
  s_arg(p, "--listen");
  s_arg(p, r->link_listen[l]);
  s_arg(p, "--connect");
  s_arg(p, to);
  s_opt(p, "--seed", "%llu", (unsigned long long)r->seed);
  for (size_t i = 0; i < lk->n_init; i++) {
    if (lk->init[i].op != DD_SC_LOP_SET) continue;
    char *js = dd_sc_link_op_json(&lk->init[i]);
    if (!js) return DD_ENOMEM;
    s_arg(p, "--params");
    s_arg(p, js);
    free(js);
  }
  int rc = s_spawn_proc(r, p);
  for (size_t i = 0; rc == 0 && i < lk->n_init; i++) {
    if (lk->init[i].op == DD_SC_LOP_SET) continue;
    char *js = dd_sc_link_op_json(&lk->init[i]);
    if (!js) return DD_ENOMEM;
    rc = s_cmd(r, p->name, dd_sc_link_op_name(lk->init[i].op), js, 0);
    free(js);
  }
  return rc;
}

static s_proc_t *s_party_proc(s_run_t *r, dd_sc_party_id_t id, const char *name, const char *exe) {
  const dd_sc_party_t *pt = &r->sc->parties[id];
  s_proc_t *p = s_add_proc(r, name, exe, pt->register_timeout_us);
  if (p) p->real = pt->mode == DD_SC_REAL;
  return p;
}

/* parties.X.set: each setting is an option of the party's process (retransmit_ms: 250 gives
 * --retransmit-ms 250), so a misspelt one stops the process at once with its own usage message
 * instead of being ignored. Spawns p. */
static int s_spawn_with_set(s_run_t *r, s_proc_t *p, dd_sc_party_id_t id) {
  const dd_sc_party_t *pt = &r->sc->parties[id];
  for (size_t i = 0; i < pt->n_set; i++) {
    char opt[128];
    snprintf(opt, sizeof opt, "--%s", pt->set[i].key);
    for (char *q = opt + 2; *q; q++)
      if (*q == '_') *q = '-';
    s_arg(p, opt);
    s_arg(p, pt->set[i].value ? pt->set[i].value : "");
  }
  return s_spawn_proc(r, p);
}

/* Spawn every process of the run, servers first, in an order where each finds what it needs. */
/* HIL: the bus is a SocketCAN interface. With configure, its controller is set up through
 * libsocketcan (bit timing, CAN FD data phase, bus-off restart; ISO 11898-1) and started;
 * either way its state goes on the timeline. */
static int s_can_setup(s_run_t *r) {
  const dd_sc_bus_t *b = &r->sc->bus;
  const char *ifn = r->can_iface;
  uint32_t rate = b->bitrate ? b->bitrate : 500000;
  int rc = 0;
  const char *what = "";
  if (r->can_configure) {
    dd_socketcan_ctl_stop(ifn); /* bit timing can only change while the controller is down */
    if ((rc = dd_socketcan_ctl_set_bitrate(ifn, rate, 0)) < 0) what = "set the bit rate of";
    else if (b->dbitrate && (rc = dd_socketcan_ctl_set_data_bitrate(ifn, b->dbitrate, 0)) < 0)
      what = "set the CAN FD data bit rate of";
    else if (b->restart_ms && (rc = dd_socketcan_ctl_set_restart_ms(ifn, b->restart_ms)) < 0)
      what = "set restart-ms of";
    else if ((rc = dd_socketcan_ctl_start(ifn)) < 0)
      what = "start";
    if (rc < 0) {
      s_fail(r, "bus: cannot %s %s through libsocketcan: %s%s", what, ifn, dd_strerror(rc),
             rc == DD_ENOTSUP || rc == DD_EINVAL
                 ? " (a virtual interface such as vcan has no bit timing to set: drop "
                   "configure / --can-configure)"
                              : rc == DD_EPERM ? " (needs CAP_NET_ADMIN: run as root)" : "");
      return rc;
    }
  }
  dd_socketcan_state_t st;
  bool known = dd_socketcan_ctl_get_state(ifn, &st) == 0;
  dd_field_t f[] = {DD_S("iface", ifn), DD_B("configured", r->can_configure),
                    DD_I("bitrate", r->can_configure ? rate : 0),
                    DD_I("dbitrate", r->can_configure ? b->dbitrate : 0),
                    DD_S("state", known ? dd_socketcan_state_name(st) : "unknown")};
  s_emit(r, "run.can", f, sizeof f / sizeof f[0]);
  if (known && (st == DD_SOCKETCAN_BUS_OFF || st == DD_SOCKETCAN_STOPPED)) {
    s_fail(r, "bus: %s is %s (bring it up, or let the harness: --can-configure)", ifn,
           dd_socketcan_state_name(st));
    return DD_ENETDOWN;
  }
  return 0;
}

static int s_start(s_run_t *r) {
  const dd_scenario_t *sc = r->sc;
  char root[PATH_MAX];
  int rc;
  s_plan(r);
  if (r->can_iface && (rc = s_can_setup(r)) < 0) return rc;
  char tail[PATH_MAX + 16];
  if (r->present[DD_SC_P_BUS]) {
    s_proc_t *p = s_party_proc(r, DD_SC_P_BUS, "bus", "bus");
    if (!p) return DD_ENOSPC;
    s_arg(p, "--endpoint");
    s_arg(p, r->ep[DD_SC_P_BUS]);
    s_opt(p, "--bitrate", "%u", sc->bus.bitrate ? sc->bus.bitrate : 500000);
    s_opt(p, "--dbitrate", "%u", sc->bus.dbitrate ? sc->bus.dbitrate : 2000000);
    snprintf(tail, sizeof tail, "%s/can.log", r->opts->run_dir);
    s_arg(p, "--candump");
    s_arg(p, tail);
    snprintf(tail, sizeof tail, "%s/can.pcap", r->opts->run_dir);
    s_arg(p, "--pcap");
    s_arg(p, tail);
    s_opt(p, "--seed", "%llu", (unsigned long long)r->seed);
    if ((rc = s_spawn_with_set(r, p, DD_SC_P_BUS)) < 0) return rc;
  }
  if (r->present[DD_SC_P_ECUS]) {
    s_proc_t *p = s_party_proc(r, DD_SC_P_ECUS, "vehicle", "vehicle");
    if (!p) return DD_ENOSPC;
    s_arg(p, r->vehicle_path);
    if (r->can_iface) {
      s_arg(p, "--can");
      s_arg(p, r->can_iface);
    } else {
      s_arg(p, "--bus");
      s_arg(p, r->ep[DD_SC_P_BUS]);
    }
    s_opt(p, "--seed", "%llu", (unsigned long long)r->seed);
    if ((rc = s_spawn_with_set(r, p, DD_SC_P_ECUS)) < 0) return rc;
  }
  if (r->present[DD_SC_P_CLOUD]) {
    s_proc_t *p = s_party_proc(r, DD_SC_P_CLOUD, "cloud", "cloud");
    if (!p) return DD_ENOSPC;
    s_arg(p, "--endpoint");
    s_arg(p, r->ep[DD_SC_P_CLOUD]);
    s_arg(p, "--vehicles");
    if (r->vehicle_path) s_arg(p, r->vehicle_path);
    else {
      snprintf(root, sizeof root, "%s/ecu_models/vehicles", s_source_dir());
      s_arg(p, root);
    }
    s_opt(p, "--seed", "%llu", (unsigned long long)r->seed);
    if ((rc = s_spawn_with_set(r, p, DD_SC_P_CLOUD)) < 0) return rc;
  }
  if (r->present[DD_SC_P_RELAY]) {
    s_proc_t *p = s_party_proc(r, DD_SC_P_RELAY, "relay", "relay");
    if (!p) return DD_ENOSPC;
    s_arg(p, "--endpoint");
    s_arg(p, r->ep[DD_SC_P_RELAY]);
    s_opt(p, "--seed", "%llu", (unsigned long long)r->seed);
    if ((rc = s_spawn_with_set(r, p, DD_SC_P_RELAY)) < 0) return rc;
  }
  int port = s_free_udp_port();
  if (port < 0) return port;
  snprintf(r->udp_addr, sizeof r->udp_addr, "127.0.0.1:%d", port);
  /* Links next: the service device's relay connection goes through one. */
  for (int l = 0; l < DD_SC_L_COUNT; l++)
    if (r->link_on[l] && (rc = s_add_link(r, (dd_sc_link_id_t)l)) < 0) {
      if (!r->failed) s_fail(r, "link %s: %s", sc->links[l].name, dd_strerror(rc));
      return rc;
    }
  if (r->present[DD_SC_P_SERVICE]) {
    s_proc_t *p = s_party_proc(r, DD_SC_P_SERVICE, "service", "service");
    if (!p) return DD_ENOSPC;
    s_arg(p, "--endpoint");
    s_arg(p, r->ep[DD_SC_P_SERVICE]);
    s_arg(p, "--udp");
    s_arg(p, r->udp_addr);
    s_arg(p, "--id");
    s_arg(p, "service");
    if (r->present[DD_SC_P_RELAY]) {
      s_arg(p, "--relay");
      s_arg(p, s_via(r, DD_SC_L_RELAY_SERVICE));
    }
    s_opt(p, "--seed", "%llu", (unsigned long long)r->seed);
    if ((rc = s_spawn_with_set(r, p, DD_SC_P_SERVICE)) < 0) return rc;
  }
  if (r->present[DD_SC_P_SECOND]) {
    s_proc_t *p = s_party_proc(r, DD_SC_P_SECOND, "second", "second");
    if (!p) return DD_ENOSPC;
    s_arg(p, "--service");
    s_arg(p, s_via(r, DD_SC_L_SECOND));
    s_arg(p, "--id");
    s_arg(p, "second");
    s_opt(p, "--seed", "%llu", (unsigned long long)r->seed);
    if ((rc = s_spawn_with_set(r, p, DD_SC_P_SECOND)) < 0) return rc;
  }
  if (r->present[DD_SC_P_TERMINAL]) {
    char vmake[64] = "";
    dd_vehicle_t *veh = NULL;
    char verr[256];
    if (r->vehicle_path && dd_vehicle_load(r->vehicle_path, &veh, verr, sizeof verr) == 0) {
      snprintf(vmake, sizeof vmake, "%s", veh->make);
      dd_vehicle_destroy(&veh);
    }
    size_t nt = sc->n_terminals ? sc->n_terminals : 1;
    for (size_t i = 0; i < nt; i++) {
      const dd_sc_terminal_t *t = sc->n_terminals ? &sc->terminals[i] : NULL;
      char name[80], ep[300];
      if (i == 0) snprintf(name, sizeof name, "terminal");
      else snprintf(name, sizeof name, "terminal-%s", t->id);
      s_proc_t *p = s_party_proc(r, DD_SC_P_TERMINAL, name, "terminal");
      if (!p) return DD_ENOSPC;
      s_arg(p, "--endpoint");
      s_arg(p, i == 0 ? r->ep[DD_SC_P_TERMINAL] : dd_rig_endpoint(r->rig, name, ep, sizeof ep));
      s_arg(p, "--cloud");
      s_arg(p, s_via(r, DD_SC_L_TERMINAL_CLOUD));
      s_arg(p, "--id");
      s_arg(p, t ? t->id : "shop-1");
      s_arg(p, "--service-endpoint");
      s_arg(p, s_via(r, DD_SC_L_SERVICE));
      s_arg(p, "--udp-endpoint");
      s_arg(p, s_via(r, DD_SC_L_DIRECT));
      if (r->present[DD_SC_P_RELAY]) {
        s_arg(p, "--relay-endpoint");
        s_arg(p, s_via(r, DD_SC_L_RELAY));
      }
      if (vmake[0]) {
        /* The terminal services the run's vehicle: the first device lists only such (S11). */
        s_arg(p, "--makes");
        s_arg(p, vmake);
      }
      if (t) {
        s_arg(p, "--display-name");
        s_arg(p, t->name ? t->name : t->id);
        s_arg(p, "--accept");
        s_arg(p, t->accept ? "yes" : "no");
        s_opt(p, "--fee", "%lld", (long long)t->fee_minor);
        if (t->answer_delay_us)
          s_opt(p, "--answer-delay-ms", "%llu", (unsigned long long)(t->answer_delay_us / 1000));
        if (!t->online) s_arg(p, "--offline");
      }
      if (sc->currency) {
        s_arg(p, "--currency");
        s_arg(p, sc->currency);
      }
      s_opt(p, "--seed", "%llu", (unsigned long long)r->seed);
      if ((rc = s_spawn_with_set(r, p, DD_SC_P_TERMINAL)) < 0) return rc;
    }
  }
  if (r->present[DD_SC_P_FIRST_DEVICE]) {
    const dd_sc_first_device_t *fd = &sc->first_device;
    s_proc_t *p = s_party_proc(r, DD_SC_P_FIRST_DEVICE, "first_device", "first-device");
    if (!p) return DD_ENOSPC;
    if (r->can_iface) {
      s_arg(p, "--can");
      s_arg(p, r->can_iface);
    } else {
      s_arg(p, "--bus");
      s_arg(p, r->ep[DD_SC_P_BUS]);
    }
    s_arg(p, "--cloud");
    s_arg(p, s_via(r, DD_SC_L_CLOUD));
    /* The first terminal behind the im link; the others each on a link of their own (S12: the
     * owner may turn to any of them): "IM_EP;ID=EP;..." (sim/first_device/dd_fd_remote.h). */
    char tspec[4096];
    size_t tl = (size_t)snprintf(tspec, sizeof tspec, "%s", s_via(r, DD_SC_L_IM));
    for (size_t i = 1; i < sc->n_terminals && tl < sizeof tspec; i++) {
      char name[80], ep[300];
      snprintf(name, sizeof name, "terminal-%s", sc->terminals[i].id);
      tl += (size_t)snprintf(tspec + tl, sizeof tspec - tl, ";%s=%s", sc->terminals[i].id,
                             dd_rig_endpoint(r->rig, name, ep, sizeof ep));
    }
    s_arg(p, "--terminal");
    s_arg(p, tspec);
    s_opt(p, "--history", "%s/fd-history.jsonl", r->opts->run_dir);
    if (fd->threshold_us) s_opt(p, "--threshold-ms", "%llu", (unsigned long long)(fd->threshold_us / 1000));
    if (fd->hysteresis_us) s_opt(p, "--hysteresis-ms", "%llu", (unsigned long long)(fd->hysteresis_us / 1000));
    if (fd->hold_us) s_opt(p, "--hold-ms", "%llu", (unsigned long long)(fd->hold_us / 1000));
    if (fd->probe_interval_us) s_opt(p, "--probe-ms", "%llu", (unsigned long long)(fd->probe_interval_us / 1000));
    static const char *const pol[] = {"auto", "direct", "relay"};
    s_opt(p, "--path", "%s", pol[fd->policy]);
    if (fd->fee_limit_minor >= 0) s_opt(p, "--fee-limit", "%lld", (long long)fd->fee_limit_minor);
    if (sc->currency) s_opt(p, "--currency", "%s", sc->currency);
    snprintf(root, sizeof root, "%s/ecu_models/keys/test-signing.pub", s_source_dir());
    if (access(root, R_OK) == 0) s_opt(p, "--trust-key", "%s", root);
    /* first_device.set: each setting is an option of the simulated device (security_secret:
     * "ECM=0BADC0DE" gives --security-secret ECM=0BADC0DE); they come first and so win over
     * the defaults below. */
    for (size_t i = 0; i < fd->n_set; i++) {
      char opt[128];
      snprintf(opt, sizeof opt, "--%s", fd->set[i].key);
      for (char *q = opt + 2; *q; q++)
        if (*q == '_') *q = '-';
      s_arg(p, opt);
      s_arg(p, fd->set[i].value ? fd->set[i].value : "");
    }
    /* The device holds the vehicle maker's seed-to-key constants (a VCI's programming licence):
     * each ECU's first security level. */
    for (size_t i = 0; r->veh && i < r->veh->n_ecus; i++) {
      const dd_vehicle_ecu_t *e = &r->veh->ecus[i];
      if (e->n_security)
        s_opt(p, "--security-secret", "%s=%08X:0x%02X", e->name, e->security[0].secret,
              e->security[0].level);
    }
    for (size_t i = 0; i < r->opts->n_defects; i++) s_opt(p, "--defect", "%s", r->opts->defects[i]);
    s_opt(p, "--seed", "%llu", (unsigned long long)r->seed);
    if ((rc = s_spawn_with_set(r, p, DD_SC_P_FIRST_DEVICE)) < 0) return rc;
  } else if (r->opts->n_defects) {
    dd_warn("--defect applies to the first device, which is not in %s", sc->name);
  }
  return 0;
}

/* ---- timing ------------------------------------------------------------------------------ */

/* The latest time from t0 the scenario names outright (steps, windows, deadlines). */
static uint64_t s_horizon(const dd_scenario_t *sc) {
  uint64_t h = 0;
  for (size_t i = 0; i < sc->n_steps; i++)
    if (sc->steps[i].when.kind == DD_SC_REF_START && sc->steps[i].when.offset_us > h)
      h = sc->steps[i].when.offset_us;
  for (size_t i = 0; i < sc->n_expects; i++) {
    const dd_sc_expect_t *e = &sc->expects[i];
    uint64_t t = 0;
    if (e->from.kind == DD_SC_REF_START) {
      t = e->from.offset_us;
      if (e->within_us != DD_SC_NONE) t += e->within_us + e->tolerance_us;
    }
    if (e->to.kind == DD_SC_REF_START && e->to.offset_us > t && e->to.offset_us != DD_SC_NONE)
      t = e->to.offset_us;
    if (t > h && t != DD_SC_NONE) h = t;
  }
  return h;
}

/* Every step done, and nothing pending that a later event could still decide. */
static bool s_may_end(s_run_t *r, uint64_t now, uint64_t horizon) {
  for (size_t i = 0; i < r->sc->n_steps; i++)
    if (!r->steps[i].done) return false;
  if (dd_expect_pending(r->ex) == 0) return true;
  uint64_t last = horizon;
  for (size_t i = 0; i < dd_expect_count(r->ex); i++) {
    const dd_expect_result_t *x = dd_expect_result(r->ex, i);
    if (x->state == DD_EXP_PENDING && x->deadline_us > 0 && (uint64_t)x->deadline_us > last)
      last = (uint64_t)x->deadline_us;
  }
  for (size_t i = 0; i < r->sc->n_steps; i++)
    if (r->steps[i].due > r->t0 && r->steps[i].due - r->t0 > last) last = r->steps[i].due - r->t0;
  return now >= r->t0 + last + S_SETTLE;
}

static void s_status(s_run_t *r, uint64_t now) {
  if (!r->opts->status) return;
  dd_run_status_t st = {.name = r->sc->name,
                        .elapsed_s = r->started ? (double)(now - r->t0) / 1e6 : 0};
  for (size_t i = 0; i < dd_expect_count(r->ex); i++) {
    dd_exp_state_t s = dd_expect_result(r->ex, i)->state;
    if (s == DD_EXP_MATCHED) st.passed++;
    else if (s == DD_EXP_PENDING) st.pending++;
    else st.failed++;
  }
  r->opts->status(r->opts->status_arg, &st);
}

/* Supervision: processes that died without a step asking for it. */
static void s_check_procs(s_run_t *r) {
  int dead = dd_rig_check_children(r->rig);
  for (int i = 0; i < r->n_procs; i++) {
    s_proc_t *p = &r->procs[i];
    int code = 0, sig = 0;
    if (!p->child || p->killed || !dd_child_exited(p->child, &code, &sig)) continue;
    char tail[900];
    dd_child_tail(p->child, tail, sizeof tail, 6);
    if (sig) s_fail(r, "%s died unexpectedly (signal %d); its last output:\n%s", p->name, sig, tail);
    else s_fail(r, "%s exited unexpectedly with code %d; its last output:\n%s", p->name, code, tail);
    return;
  }
  if (dead > r->n_killed)
    s_fail(r, "%d process(es) died unexpectedly (see logs/ and the messages above)", dead - r->n_killed);
}

static void s_loop(s_run_t *r) {
  const dd_scenario_t *sc = r->sc;
  dd_loop_t *loop = dd_rig_loop(r->rig);
  uint64_t horizon = s_horizon(sc);
  uint64_t margin = r->opts->time_margin_us ? r->opts->time_margin_us : 30 * S_S;
  uint64_t limit = sc->timeout_us && sc->timeout_us != DD_SC_NONE ? sc->timeout_us : 600 * S_S;
  if (horizon && horizon + margin < limit) limit = horizon + margin;
  uint64_t next_tick = 0, next_status = 0;
  for (;;) {
    dd_loop_step(loop, 20000);
    uint64_t now = s_now(r);
    if (r->opts->stop && *r->opts->stop) {
      r->res->interrupted = true;
      s_fail(r, "interrupted");
      return;
    }
    s_check_procs(r);
    if (r->failed) return;
    for (size_t i = 0; i < sc->n_steps && !r->stop_step && !r->failed; i++)
      if (!r->steps[i].done && r->steps[i].due_known && now >= r->steps[i].due) s_exec_step(r, i);
    if (r->failed || r->stop_step) return;
    if (now >= next_tick) {
      r->in_expect = true;
      dd_expect_tick(r->ex, now);
      r->in_expect = false;
      s_flush_results(r);
      next_tick = now + 100000;
    }
    if (now >= next_status) {
      s_status(r, now);
      next_status = now + 200000;
    }
    if (s_may_end(r, now, horizon)) return;
    if (now >= r->t0 + limit) {
      for (size_t i = 0; i < sc->n_steps; i++)
        if (!r->steps[i].done) {
          char what[200];
          dd_sc_pattern_describe(&sc->steps[i].when.event, what, sizeof what);
          s_fail(r, "time limit %.1f s reached; step %zu (line %d) never ran%s%s", (double)limit / 1e6,
                 i, sc->steps[i].loc.line,
                 sc->steps[i].when.kind == DD_SC_REF_EVENT ? ": no event " : "",
                 sc->steps[i].when.kind == DD_SC_REF_EVENT ? what : "");
          return;
        }
      return;
    }
  }
}

/* ---- reports ----------------------------------------------------------------------------- */

static void s_write_summary(s_run_t *r, const char *path) {
  FILE *f = fopen(path, "w");
  if (!f) {
    dd_warn("cannot write %s: %s", path, strerror(errno));
    return;
  }
  const dd_run_result_t *res = r->res;
  fprintf(f, "%s %s  (%s, %.1f s)\n", res->verdict == DD_RUN_PASS ? "PASS" : "FAIL", r->sc->name,
          r->sc->file, res->duration_s);
  for (size_t i = 0; i < dd_expect_count(r->ex); i++)
    fprintf(f, "  %s\n", dd_expect_result(r->ex, i)->text);
  if (res->reason[0]) {
    fprintf(f, "  FAIL run: ");
    for (const char *p = res->reason; *p; p++) {
      fputc(*p, f);
      if (*p == '\n' && p[1]) fputs("      ", f);
    }
    fputc('\n', f);
  }
  fprintf(f, "  %zu passed, %zu failed; run folder %s\n", res->n_passed, res->n_failed,
          r->opts->run_dir);
  fclose(f);
}

static void s_xml_text(FILE *f, const char *s) {
  for (; *s; s++) {
    switch (*s) {
    case '<': fputs("&lt;", f); break;
    case '>': fputs("&gt;", f); break;
    case '&': fputs("&amp;", f); break;
    case '"': fputs("&quot;", f); break;
    default:
      if ((unsigned char)*s >= 0x20 || *s == '\n' || *s == '\t') fputc(*s, f);
    }
  }
}

static void s_write_junit(s_run_t *r, const char *path) {
  FILE *f = fopen(path, "w");
  if (!f) {
    dd_warn("cannot write %s: %s", path, strerror(errno));
    return;
  }
  const dd_run_result_t *res = r->res;
  if (!res->reason[0]) {
    dd_expect_write_junit(r->ex, f, r->sc->name, res->duration_s);
  } else {
    /* The run itself failed: its expectations, plus one failing case saying why. */
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites tests=\"%zu\" "
               "failures=\"%zu\" time=\"%.3f\">\n",
            res->n_expect + 1, res->n_failed + 1, res->duration_s);
    dd_expect_junit_suite(r->ex, f, r->sc->name, res->duration_s);
    fputs("  <testsuite name=\"", f);
    s_xml_text(f, r->sc->name);
    fputs(".run\" tests=\"1\" failures=\"1\">\n    <testcase classname=\"", f);
    s_xml_text(f, r->sc->name);
    fputs("\" name=\"run\">\n      <failure message=\"", f);
    s_xml_text(f, res->reason);
    fputs("\"/>\n    </testcase>\n  </testsuite>\n</testsuites>\n", f);
  }
  fclose(f);
}

/* ---- the run ----------------------------------------------------------------------------- */

/* A run folder used again starts clean: files of an earlier run would mix with this one's
 * (the timeline is appended to while processes start). The first device's diagnosis history
 * stays: the device keeps it across runs. */
static void s_clear_outputs(const char *dir) {
  static const char *const files[] = {"timeline.jsonl", "summary.txt", "junit.xml", "can.log",
                                      "can.pcap", "timeline.png", "result.json"};
  char path[PATH_MAX + 64];
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
    snprintf(path, sizeof path, "%s/%s", dir, files[i]);
    unlink(path);
  }
  snprintf(path, sizeof path, "%s/logs", dir);
  DIR *d = opendir(path);
  struct dirent *e;
  while (d && (e = readdir(d)))
    if (e->d_name[0] != '.') {
      snprintf(path, sizeof path, "%s/logs/%s", dir, e->d_name);
      unlink(path);
    }
  if (d) closedir(d);
}

static int s_open_rig(s_run_t *r) {
  int rc = dd_rig_mkdir_p(r->opts->run_dir);
  if (rc < 0) {
    dd_error("cannot create the run folder %s: %s", r->opts->run_dir, strerror(-rc));
    return rc;
  }
  s_clear_outputs(r->opts->run_dir);
  char real[PATH_MAX];
  if (!realpath(r->opts->run_dir, real)) return -errno;
  const char *dir = real;
  if (strlen(real) > 80) {
    /* ZeroMQ ipc paths are short (sun_path): reach the run folder through a short link. */
    const char *tmp = getenv("TMPDIR");
    snprintf(r->short_dir, sizeof r->short_dir, "%s/ddr-XXXXXX", tmp && *tmp && strlen(tmp) < 40 ? tmp : "/tmp");
    if (!mkdtemp(r->short_dir) || rmdir(r->short_dir) != 0 || symlink(real, r->short_dir) != 0) {
      r->short_dir[0] = 0;
      return DD_ENAMETOOLONG;
    }
    dir = r->short_dir;
  }
  return dd_rig_new(dir, &r->rig);
}

int dd_run_scenario(const dd_scenario_t *sc, const dd_run_opts_t *opts, dd_run_result_t *res) {
  memset(res, 0, sizeof *res);
  s_run_t run;
  memset(&run, 0, sizeof run);
  s_run_t *r = &run;
  r->sc = sc;
  r->opts = opts;
  r->res = res;
  r->seed = opts->seed_given ? opts->seed : sc->seed;
  if (opts->repeat > 1) r->seed += opts->repeat - 1; /* each repeat draws differently */
  int rc = s_open_rig(r);
  if (rc < 0) {
    snprintf(res->reason, sizeof res->reason, "cannot open the run folder %s: %s", opts->run_dir,
             dd_strerror(rc));
    res->verdict = DD_RUN_FAIL;
    return rc;
  }
  uint64_t begin = s_now(r);
  char path[PATH_MAX + 64];
  const char *src = opts->scenario_file ? opts->scenario_file : sc->file;
  const char *base = strrchr(src, '/');
  snprintf(path, sizeof path, "%s/%s", opts->run_dir, base ? base + 1 : src);
  if (s_copy_file(src, path) < 0) dd_warn("cannot copy %s into the run folder", src);

  r->steps = calloc(sc->n_steps ? sc->n_steps : 1, sizeof *r->steps);
  rc = r->steps ? dd_expect_new(sc, &r->ex) : DD_ENOMEM;
  if (rc < 0) {
    snprintf(res->reason, sizeof res->reason, "expectations: %s", dd_strerror(rc));
    res->verdict = DD_RUN_FAIL;
    goto out;
  }
  dd_expect_set_grace(r->ex, S_GRACE);
  dd_expect_on_result(r->ex, s_on_result, r);
  dd_collector_on_event(dd_rig_collector(r->rig), s_on_event, r);
  {
    char variant[512] = "";
    size_t n = 0;
    for (size_t i = 0; i < sc->n_variant && n < sizeof variant; i++)
      n += (size_t)snprintf(variant + n, sizeof variant - n, "%s%s=%s", i ? "," : "",
                            sc->variant[i].key, sc->variant[i].value);
    dd_field_t f[] = {DD_S("scenario", sc->name), DD_S("file", sc->file),
                      DD_I("seed", (int64_t)r->seed), DD_S("variant", variant),
                      DD_I("repeat", opts->repeat), DD_S("run_dir", opts->run_dir)};
    s_emit(r, "run.start", f, sizeof f / sizeof f[0]);
  }

  if (s_start(r) == 0 && !r->failed) {
    /* t0: everything is ready. Events from the start-up are judged against it too. */
    r->t0 = s_now(r);
    dd_expect_set_t0(r->ex, r->t0);
    r->started = true;
    {
      dd_field_t f[] = {DD_I("t0_us", (int64_t)r->t0), DD_I("processes", r->n_procs)};
      s_emit(r, "run.t0", f, 2);
    }
    for (size_t i = 0; i < r->n_pre; i++) s_feed(r, r->pre[i]);
    for (size_t i = 0; i < sc->n_steps; i++)
      if (sc->steps[i].when.kind == DD_SC_REF_START) {
        r->steps[i].due_known = true;
        r->steps[i].due = r->t0 + sc->steps[i].when.offset_us;
      } else if (r->steps[i].due_known && r->steps[i].due < r->t0) {
        r->steps[i].due = r->t0;
      }
    s_loop(r);
  } else if (!r->failed) {
    s_fail(r, "the processes of the run could not be started");
  }
  /* Stop the processes before the expectations are decided: what they write as they stop (their
   * *.summary accounts) belongs to the run and may be expected. */
  int bad = dd_rig_stop_all(r->rig, S_STOP_GRACE);
  uint64_t end = s_now(r);
  if (!r->started) {
    r->t0 = end;
    dd_expect_set_t0(r->ex, end);
  }
  r->in_expect = true;
  dd_expect_finish(r->ex, end);
  r->in_expect = false;
  r->finished = true;
  s_flush_results(r);
  if (bad > r->n_killed && !r->failed && r->started)
    s_fail(r, "%d process(es) did not stop cleanly (see logs/)", bad - r->n_killed);
  res->n_expect = dd_expect_count(r->ex);
  res->n_failed = dd_expect_failed(r->ex);
  res->n_passed = res->n_expect - res->n_failed - dd_expect_pending(r->ex);
  res->verdict = !r->failed && dd_expect_passed(r->ex) ? DD_RUN_PASS : DD_RUN_FAIL;
  res->duration_s = (double)(s_now(r) - begin) / 1e6;
  {
    dd_field_t f[] = {DD_S("verdict", res->verdict == DD_RUN_PASS ? "PASS" : "FAIL"),
                      DD_I("passed", (int64_t)res->n_passed), DD_I("failed", (int64_t)res->n_failed),
                      DD_S("reason", res->reason), DD_D("duration_s", res->duration_s)};
    s_emit(r, "run.end", f, sizeof f / sizeof f[0]);
  }
  snprintf(path, sizeof path, "%s/summary.txt", opts->run_dir);
  s_write_summary(r, path);
  snprintf(path, sizeof path, "%s/junit.xml", opts->run_dir);
  s_write_junit(r, path);
out:
  dd_rig_destroy(&r->rig);
  dd_expect_destroy(&r->ex);
  dd_vehicle_destroy(&r->veh);
  if (r->short_dir[0]) unlink(r->short_dir);
  for (int i = 0; i < r->n_procs; i++)
    for (int k = 0; k < r->procs[i].argc; k++) free(r->procs[i].argv[k]);
  for (size_t i = 0; i < r->n_pre; i++) free(r->pre[i]);
  free(r->pre);
  free(r->queue);
  free(r->steps);
  return 0;
}
