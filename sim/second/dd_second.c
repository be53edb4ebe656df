/* dd_second: the second diagnostic device process: record reader, remote diagnosis, packages. */
#include "dd_second.h"

#include <errno.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "dd_err.h"
#include "dd_log.h"
#include "dd_package.h"
#include "dd_second_diag.h"
#include "dd_wire.h"

#define S_ID_MAX 256
#define S_CHUNK (64u * 1024u) /* package chunk towards the service device */

#define S_MAX_SESSIONS 65536 /* sessions tracked at most (a bound against a flood of ids) */

/* One remote session's records: each session numbers its records from 1 (S42). */
typedef struct {
  char *id;                /* session id (owned) */
  dd_second_track_t track; /* its sequence */
} s_session_t;

struct dd_second {
  dd_proc_t *proc;                            /* owning process */
  char id[S_ID_MAX];                          /* party id */
  char token[S_ID_MAX];                       /* hello token */
  uint8_t sk[DD_PACKAGE_SECRET_KEY_BYTES];    /* signing key */
  void *svc;                                  /* DEALER to the service device */
  int hello_timer;                            /* hello retry, 0 once welcomed */
  bool welcomed;                              /* ServiceWelcome accepted */
  uint64_t seq;                               /* envelope counter */
  dd_wire_stats_t ws;                         /* decode counters */
  s_session_t *sessions;                      /* record sequence, per session (owned) */
  size_t n_sessions, cap_sessions;            /* used, allocated */
  dd_second_diag_t diag;                      /* diagnosis */
  uint64_t reported_changes;                  /* diag.changes at the last report */
  uint64_t packages;                          /* packages built */
};

static uint64_t s_now(dd_second_t *self) { return dd_loop_now(dd_proc_loop(self->proc)); }
static dd_events_t *s_ev(dd_second_t *self) { return dd_proc_events(self->proc); }

static void s_env(dd_second_t *self, Duodiag__Envelope *env) {
  dd_wire_envelope_init(env, dd_proc_name(self->proc), ++self->seq, s_now(self));
}

static void s_hello(dd_second_t *self) {
  Duodiag__ServiceHello h = DUODIAG__SERVICE_HELLO__INIT;
  h.session_id = "*";
  h.token = self->token;
  h.device_id = self->id;
  Duodiag__Envelope env;
  s_env(self, &env);
  env.body_case = DUODIAG__ENVELOPE__BODY_SERVICE_HELLO;
  env.service_hello = &h;
  dd_wire_send(self->svc, &env, ZMQ_DONTWAIT);
}

static int s_on_hello_timer(dd_loop_t *loop, int timer_id, void *arg) {
  dd_second_t *self = arg;
  if (!self->welcomed) s_hello(self);
  return 0;
}

/* ---- diagnosis ---- */

static char *s_report(dd_second_t *self, bool publish) {
  char dtcs[512], findings[2048];
  size_t n = dd_second_diag_report(&self->diag, dtcs, sizeof dtcs, findings, sizeof findings);
  if (publish)
    dd_events_emit(s_ev(self), "second.diagnosis", DD_S("dtcs", dtcs), DD_S("findings", findings),
                   DD_I("n_findings", (int64_t)n), DD_I("n_dtcs", (int64_t)self->diag.n_dtcs),
                   DD_END);
  self->reported_changes = self->diag.changes;
  json_t *j = json_pack("{ss ss sI}", "dtcs", dtcs, "findings", findings, "n_findings",
                        (json_int_t)n);
  char *out = j ? json_dumps(j, JSON_COMPACT) : NULL;
  json_decref(j);
  return out;
}

/* The tracker of a session, made on its first record; NULL when too many sessions. */
static dd_second_track_t *s_track(dd_second_t *self, const char *id) {
  for (size_t i = self->n_sessions; i-- > 0;) /* the latest sessions first */
    if (!strcmp(self->sessions[i].id, id)) return &self->sessions[i].track;
  if (self->n_sessions == S_MAX_SESSIONS) return NULL;
  if (self->n_sessions == self->cap_sessions) {
    size_t cap = self->cap_sessions ? 2 * self->cap_sessions : 8;
    s_session_t *n = realloc(self->sessions, cap * sizeof *n);
    if (!n) return NULL;
    self->sessions = n;
    self->cap_sessions = cap;
  }
  s_session_t *s = &self->sessions[self->n_sessions];
  if (!(s->id = strdup(id))) return NULL;
  dd_second_track_init(&s->track);
  self->n_sessions++;
  return &s->track;
}

/* Totals over every session. */
static dd_second_track_t s_totals(const dd_second_t *self, uint64_t *lost) {
  dd_second_track_t t = {0};
  *lost = 0;
  for (size_t i = 0; i < self->n_sessions; i++) {
    const dd_second_track_t *k = &self->sessions[i].track;
    t.records += k->records;
    t.duplicated += k->duplicated;
    t.out_of_order += k->out_of_order;
    t.invalid += k->invalid;
    *lost += dd_second_track_lost(k);
  }
  return t;
}

static void s_on_record(dd_second_t *self, const Duodiag__VehicleRecord *r) {
  dd_second_track_t *track = s_track(self, r->session_id);
  if (!track) {
    dd_events_emit(s_ev(self), "second.anomaly", DD_S("anomaly", "too_many_sessions"),
                   DD_I("seq", (int64_t)r->seq), DD_I("expected", 0),
                   DD_S("session_id", r->session_id), DD_END);
    return;
  }
  uint64_t expected = track->max_seq + 1;
  dd_second_seq_t v = dd_second_track_on(track, r->seq);
  if (v != DD_SECOND_SEQ_IN_ORDER)
    dd_events_emit(s_ev(self), "second.anomaly", DD_S("anomaly", dd_second_seq_name(v)),
                   DD_I("seq", (int64_t)r->seq), DD_I("expected", (int64_t)expected),
                   DD_S("session_id", r->session_id), DD_END);
  if (v == DD_SECOND_SEQ_DUPLICATE || v == DD_SECOND_SEQ_INVALID) return;
  dd_events_emit(s_ev(self), "second.record", DD_I("seq", (int64_t)r->seq),
                 DD_I("request_id", (int64_t)r->request_id), DD_S("session_id", r->session_id),
                 DD_I("ecu_id", r->ecu_id), DD_I("values", (int64_t)r->n_values),
                 DD_I("bytes", (int64_t)r->payload.len), DD_B("last", r->last), DD_END);
  for (size_t i = 0; i < r->n_values; i++)
    dd_second_diag_add_value(&self->diag, r->values[i]->name, r->values[i]->value);
  dd_second_diag_add_payload(&self->diag, r->payload.data, r->payload.len);
  if (r->last && self->diag.changes != self->reported_changes) free(s_report(self, true));
}

/* ---- packages ---- */

static bool s_jnum(json_t *v, unsigned long long max, unsigned long long *out) {
  if (json_is_integer(v) && json_integer_value(v) >= 0 &&
      (unsigned long long)json_integer_value(v) <= max) {
    *out = (unsigned long long)json_integer_value(v);
    return true;
  }
  if (!json_is_string(v)) return false;
  char *end;
  errno = 0;
  unsigned long long x = strtoull(json_string_value(v), &end, 0);
  if (errno || end == json_string_value(v) || *end || x > max) return false;
  *out = x;
  return true;
}

static const char *s_jstr(json_t *args, const char *key, const char *dflt) {
  const char *s = json_string_value(json_object_get(args, key));
  return s ? s : dflt;
}

/* Offer and chunks; the offer's signature (of the SHA-256) only when sign is set; hold: the
 * first device waits for the technician's START_REFLASH. */
static int s_send_package(dd_second_t *self, const char *package_id, const uint8_t *pkg,
                          size_t len, uint32_t target, const char *version, bool sign,
                          bool hold) {
  uint8_t sha[32], sig[DD_PACKAGE_SIGNATURE_BYTES];
  crypto_hash_sha256(sha, pkg, len);
  int rc = sign ? dd_package_sign(sha, sizeof sha, self->sk, sig) : 0;
  if (rc < 0) return rc;
  Duodiag__ProgramOffer o = DUODIAG__PROGRAM_OFFER__INIT;
  o.package_id = (char *)package_id;
  o.total_size = len;
  o.sha256.data = sha;
  o.sha256.len = 32;
  o.target_ecu = target;
  o.signature.data = sign ? sig : NULL;
  o.signature.len = sign ? sizeof sig : 0;
  o.software_version = (char *)version;
  o.hold = hold;
  Duodiag__Envelope env;
  s_env(self, &env);
  env.body_case = DUODIAG__ENVELOPE__BODY_PROGRAM_OFFER;
  env.program_offer = &o;
  if ((rc = dd_wire_send(self->svc, &env, 0)) < 0) return rc;
  for (size_t off = 0; off < len; off += S_CHUNK) {
    size_t n = len - off < S_CHUNK ? len - off : S_CHUNK;
    Duodiag__ProgramChunk c = DUODIAG__PROGRAM_CHUNK__INIT;
    c.package_id = (char *)package_id;
    c.offset = off;
    c.data.data = (uint8_t *)pkg + off;
    c.data.len = n;
    c.last = off + n == len;
    s_env(self, &env);
    env.body_case = DUODIAG__ENVELOPE__BODY_PROGRAM_CHUNK;
    env.program_chunk = &c;
    if ((rc = dd_wire_send(self->svc, &env, 0)) < 0) return rc;
  }
  return 0;
}

static int s_cmd_program(dd_second_t *self, json_t *args, char **result) {
  const char *image = s_jstr(args, "image", NULL);
  const char *ecu_name = s_jstr(args, "ecu_name", "ECM");
  const char *hw_part = s_jstr(args, "hw_part", "84512307AB");
  const char *version = s_jstr(args, "version", "S19.05.0");
  const char *tamper = s_jstr(args, "tamper", "none");
  const char *start = s_jstr(args, "start", "auto");
  char pid_buf[64];
  snprintf(pid_buf, sizeof pid_buf, "pkg-%llu", (unsigned long long)self->packages + 1);
  const char *package_id = s_jstr(args, "package_id", pid_buf);
  unsigned long long ecu = 0x7E0;
  json_t *e = json_object_get(args, "ecu_id");
  if (!e) e = json_object_get(args, "ecu");
  if (!image || (e && !s_jnum(e, 0x1FFFFFFF, &ecu))) return DD_EINVAL;
  bool t_data = !strcmp(tamper, "data"), t_sig = !strcmp(tamper, "signature"),
       t_target = !strcmp(tamper, "target"), t_unsigned = !strcmp(tamper, "unsigned");
  if (!t_data && !t_sig && !t_target && !t_unsigned && strcmp(tamper, "none")) return DD_EINVAL;
  bool hold = !strcmp(start, "on_control");
  if (!hold && strcmp(start, "auto")) return DD_EINVAL;
  char path[1024];
  snprintf(path, sizeof path, "%s", image);
  if (image[0] != '/' && access(path, R_OK) != 0)
    snprintf(path, sizeof path, "%s/ecu_models/images/%s", DD_SOURCE_DIR, image);
  dd_image_t *img = NULL;
  char why[DD_IMAGE_WHY_MAX];
  int rc = dd_image_load(path, &img, why, sizeof why);
  if (rc < 0) {
    dd_warn("second: cannot load %s: %s", path, rc == -ENOENT ? "no such file" : why);
    dd_events_emit(s_ev(self), "second.package_failed", DD_S("package_id", package_id),
                   DD_S("image", image), DD_S("error", dd_err_name(rc)), DD_END);
    return rc;
  }
  dd_package_meta_t meta = {0};
  meta.package_id = package_id;
  meta.target.ecu_name = ecu_name;
  /* An 11-bit id as is; a larger one is a 29-bit id (DD_PACKAGE_CAN_EFF, dd_package.h). */
  meta.target.can_id = ecu > 0x7FF ? (uint32_t)ecu | DD_PACKAGE_CAN_EFF : (uint32_t)ecu;
  meta.target.hw_part = t_target ? "XX-WRONG-PART" : hw_part;
  meta.sw_version = version;
  meta.created_at = dd_clock_wall_us(dd_proc_clock(self->proc)) / 1000000u;
  uint8_t *pkg = NULL;
  size_t len = 0;
  rc = dd_package_build(img, &meta, t_unsigned ? NULL : self->sk, &pkg, &len);
  dd_image_destroy(&img);
  if (rc < 0) {
    dd_events_emit(s_ev(self), "second.package_failed", DD_S("package_id", package_id),
                   DD_S("image", image), DD_S("error", dd_err_name(rc)), DD_END);
    return rc;
  }
  if (t_data) {
    size_t h = (size_t)pkg[6] << 8 | pkg[7]; /* header length, dd_package.h layout */
    pkg[h < len ? h : len / 2] ^= 0xFF;
  } else if (t_sig) {
    pkg[len - 1] ^= 0x01;
  }
  rc = s_send_package(self, package_id, pkg, len, (uint32_t)ecu, version, !t_unsigned, hold);
  free(pkg);
  if (rc < 0) return rc;
  self->packages++;
  dd_events_emit(s_ev(self), "second.package", DD_S("package_id", package_id),
                 DD_I("size", (int64_t)len), DD_I("target", (int64_t)ecu), DD_S("version", version),
                 DD_S("tamper", tamper), DD_S("ecu_name", ecu_name),
                 DD_S("hw_part", meta.target.hw_part), DD_B("hold", hold), DD_END);
  json_t *j = json_pack("{ss sI}", "package_id", package_id, "size", (json_int_t)len);
  *result = j ? json_dumps(j, JSON_COMPACT) : NULL;
  json_decref(j);
  return 0;
}

static int s_on_command(dd_proc_t *proc, const dd_proc_command_t *cmd, char **result_json,
                        void *arg) {
  dd_second_t *self = arg;
  if (cmd->kind != DUODIAG__COMMAND__KIND__ACTION) return DD_ENOTSUP;
  json_t *args = json_loads(cmd->args_json[0] ? cmd->args_json : "{}", 0, NULL);
  if (!args || !json_is_object(args)) {
    json_decref(args);
    return DD_EINVAL;
  }
  int rc = DD_ENOTSUP;
  if (!strcmp(cmd->key, "program")) {
    rc = s_cmd_program(self, args, result_json);
  } else if (!strcmp(cmd->key, "diagnose")) {
    *result_json = s_report(self, true);
    rc = 0;
  } else if (!strcmp(cmd->key, "summary")) {
    uint64_t lost;
    dd_second_track_t t = s_totals(self, &lost);
    json_t *j = json_pack("{sI sI sI sI sI}", "records", (json_int_t)t.records, "lost",
                          (json_int_t)lost, "duplicated", (json_int_t)t.duplicated,
                          "out_of_order", (json_int_t)t.out_of_order, "sessions",
                          (json_int_t)self->n_sessions);
    *result_json = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    rc = 0;
  }
  json_decref(args);
  return rc;
}

/* ---- reader ---- */

static int s_on_svc(dd_loop_t *loop, void *zsock, int fd, void *arg) {
  dd_second_t *self = arg;
  for (int i = 0; i < 256; i++) {
    Duodiag__Envelope *env = NULL;
    int rc = dd_wire_recv(zsock, &env, &self->ws, ZMQ_DONTWAIT);
    if (rc == DD_EAGAIN) break;
    if (rc < 0) {
      dd_events_emit(s_ev(self), "wire.rejected", DD_S("channel", "service"),
                     DD_S("error", dd_err_name(rc)), DD_END);
      continue;
    }
    switch (env->body_case) {
    case DUODIAG__ENVELOPE__BODY_SERVICE_WELCOME:
      if (!self->welcomed)
        dd_events_emit(s_ev(self), "second.connected", DD_B("accepted", env->service_welcome->accepted),
                       DD_S("service_id", env->service_welcome->service_id),
                       DD_S("reason", env->service_welcome->reason), DD_END);
      self->welcomed = env->service_welcome->accepted;
      break;
    case DUODIAG__ENVELOPE__BODY_VEHICLE_RECORD: s_on_record(self, env->vehicle_record); break;
    case DUODIAG__ENVELOPE__BODY_PROGRAM_STATUS: {
      const Duodiag__ProgramStatus *st = env->program_status;
      dd_events_emit(s_ev(self), "second.program_status", DD_S("package_id", st->package_id),
                     DD_I("phase", st->phase), DD_I("percent", st->percent),
                     DD_I("result_code", st->result_code), DD_S("message", st->message), DD_END);
      break;
    }
    default: break; /* ProgramAck: the service device's intake flow control */
    }
    dd_wire_free(&env);
  }
  return 0;
}

/* ---- set-up ---- */

int dd_second_new(dd_proc_t *proc, const dd_second_cfg_t *cfg, dd_second_t **out) {
  if (!cfg->service || !cfg->second_id || !cfg->second_id[0] ||
      strlen(cfg->second_id) >= S_ID_MAX || (cfg->token && strlen(cfg->token) >= S_ID_MAX))
    return DD_EINVAL;
  if (sodium_init() < 0) return DD_EIO;
  dd_second_t *self = calloc(1, sizeof *self);
  if (!self) return DD_ENOMEM;
  self->proc = proc;
  snprintf(self->id, sizeof self->id, "%s", cfg->second_id);
  snprintf(self->token, sizeof self->token, "%s", cfg->token ? cfg->token : "");
  dd_wire_stats_init(&self->ws);
  dd_second_diag_init(&self->diag);
  char why[DD_PACKAGE_WHY_MAX];
  const char *key = cfg->key_path ? cfg->key_path : DD_SOURCE_DIR "/ecu_models/keys/test-signing.key";
  int rc = dd_package_secret_key_load(key, self->sk, why, sizeof why);
  if (rc < 0) {
    dd_error("second: cannot load the signing key %s: %s", key,
             rc == DD_EILSEQ ? why : dd_strerror(rc));
    goto out_free;
  }
  self->svc = zmq_socket(dd_proc_zctx(proc), ZMQ_DEALER);
  if (!self->svc) {
    rc = -errno;
    goto out_free;
  }
  const char *name = dd_proc_name(proc);
  int linger = 500;
  zmq_setsockopt(self->svc, ZMQ_ROUTING_ID, name, strlen(name));
  zmq_setsockopt(self->svc, ZMQ_LINGER, &linger, sizeof linger);
  dd_wire_limit_socket(self->svc);
  if (zmq_connect(self->svc, cfg->service) < 0) {
    rc = -errno;
    goto out_free;
  }
  dd_loop_t *loop = dd_proc_loop(proc);
  dd_loop_add_zsock(loop, self->svc, s_on_svc, self);
  self->hello_timer = dd_loop_timer_every(loop, 1000000ull, s_on_hello_timer, self);
  dd_proc_on_command(proc, s_on_command, self);
  s_hello(self);
  dd_events_emit(s_ev(self), "second.up", DD_S("id", self->id), DD_S("service", cfg->service),
                 DD_S("key", key), DD_END);
  *out = self;
  return 0;
out_free:
  dd_second_destroy(&self);
  return rc;
}

void dd_second_destroy(dd_second_t **self_p) {
  if (!self_p || !*self_p) return;
  dd_second_t *self = *self_p;
  dd_loop_t *loop = dd_proc_loop(self->proc);
  if (self->svc) {
    uint64_t lost;
    dd_second_track_t t = s_totals(self, &lost);
    dd_events_emit(s_ev(self), "second.summary", DD_I("records", (int64_t)t.records),
                   DD_I("lost", (int64_t)lost), DD_I("duplicated", (int64_t)t.duplicated),
                   DD_I("out_of_order", (int64_t)t.out_of_order),
                   DD_I("sessions", (int64_t)self->n_sessions),
                   DD_I("packages", (int64_t)self->packages), DD_END);
    if (self->hello_timer > 0) dd_loop_timer_cancel(loop, self->hello_timer);
    dd_loop_remove_zsock(loop, self->svc);
    zmq_close(self->svc);
  }
  for (size_t i = 0; i < self->n_sessions; i++) {
    dd_second_track_free(&self->sessions[i].track);
    free(self->sessions[i].id);
  }
  free(self->sessions);
  sodium_memzero(self->sk, sizeof self->sk);
  free(self);
  *self_p = NULL;
}
