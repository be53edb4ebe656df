/* dd_cloud_server: ZeroMQ front of the cloud server's registry, presence and ledger core. */
#include "dd_cloud_server.h"

#include <assert.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "dd_err.h"
#include "dd_log.h"
#include "dd_wire.h"

#define S_PARTY_MAX DD_CLOUD_ID_MAX

struct dd_cloud_server {
  dd_proc_t *proc;    /* owning process */
  char endpoint[512]; /* bound address */
  dd_cloud_t *core;   /* registry, presence, ledger */
  void *router;       /* parties connect here */
  dd_loop_deadline_t timer; /* at the core's next deadline */
  uint64_t seq;       /* envelope sequence */
  dd_wire_stats_t ws; /* decode counters */
};


/* ---- sending -------------------------------------------------------------------------------- */

static uint64_t s_now(dd_cloud_server_t *self) { return dd_loop_now(dd_proc_loop(self->proc)); }

/* Send env to party; 0 or the send error (EHOSTUNREACH: not connected). */
static int s_send(dd_cloud_server_t *self, const char *party, Duodiag__Envelope *env) {
  uint8_t id[DD_WIRE_IDENTITY_MAX];
  int n = dd_wire_party_id(party, id, sizeof id);
  if (n <= 0) return n ? n : DD_EINVAL;
  int rc = dd_wire_send_to(self->router, id, (size_t)n, env, ZMQ_DONTWAIT);
  if (rc < 0 && rc != -EHOSTUNREACH)
    dd_warn("cloud: %s to %s not sent: %s", dd_wire_body_name(env), party, dd_strerror(rc));
  return rc;
}

static void s_env(dd_cloud_server_t *self, Duodiag__Envelope *env) {
  dd_wire_envelope_init(env, dd_proc_name(self->proc), ++self->seq, s_now(self));
}

/* Send what the core has queued and publish presence changes. */
static void s_drain(dd_cloud_server_t *self) {
  dd_events_t *ev = dd_proc_events(self->proc);
  dd_cloud_out_t o;
  while (dd_cloud_take_out(self->core, &o)) {
    Duodiag__PaymentConfirmation pc = DUODIAG__PAYMENT_CONFIRMATION__INIT;
    pc.payment_id = o.payment_id;
    pc.order_id = o.order_id;
    pc.ok = o.ok;
    pc.reason = o.reason;
    pc.charged_minor = o.charged_minor;
    pc.duplicate = o.duplicate;
    Duodiag__Envelope env;
    s_env(self, &env);
    env.body_case = DUODIAG__ENVELOPE__BODY_PAYMENT_CONFIRMATION;
    env.payment_confirmation = &pc;
    int rc = s_send(self, o.to, &env);
    if (o.kind == DD_CLOUD_OUT_CONFIRM)
      dd_events_emit(
          ev, "cloud.payment", DD_S("payment_id", o.payment_id), DD_S("order_id", o.order_id),
          DD_S("payer", o.payer), DD_S("terminal", o.terminal), DD_I("amount", o.amount_minor),
          DD_S("currency", o.currency), DD_B("ok", o.ok), DD_B("duplicate", o.duplicate),
          DD_I("charged", o.charged_minor), DD_S("code", o.code ? dd_err_name(o.code) : ""),
          DD_S("reason", o.reason), DD_I("waited_us", o.waited_us), DD_S("to", o.to),
          DD_B("sent", rc == 0), DD_END);
    else
      dd_events_emit(ev, "cloud.payment_notify", DD_S("payment_id", o.payment_id),
                     DD_S("order_id", o.order_id), DD_S("terminal", o.terminal), DD_S("to", o.to),
                     DD_B("sent", rc == 0), DD_END);
  }
  dd_cloud_presence_t p;
  while (dd_cloud_take_presence(self->core, &p))
    dd_events_emit(ev, "cloud.presence", DD_S("terminal", p.terminal), DD_B("online", p.online),
                   DD_S("why", p.why), DD_END);
}

static int s_on_timer(dd_loop_t *loop, int id, void *arg);

/* Run the core's timeouts, send what they produced and arm the timer for the next one. */
static void s_service(dd_cloud_server_t *self) {
  dd_loop_t *loop = dd_proc_loop(self->proc);
  uint64_t now = dd_loop_now(loop);
  dd_cloud_tick(self->core, now);
  s_drain(self);
  dd_loop_deadline_set(loop, &self->timer, dd_cloud_next_deadline(self->core), s_on_timer, self);
}

static int s_on_timer(dd_loop_t *loop, int id, void *arg) {
  dd_cloud_server_t *self = arg;
  s_service(self);
  return 0;
}

/* ---- requests ------------------------------------------------------------------------------- */

static void s_on_vin_query(dd_cloud_server_t *self, const char *party, const Duodiag__VinQuery *q) {
  const dd_cloud_vehicle_t *v = dd_cloud_vin_lookup(self->core, q->vin);
  Duodiag__VinInfo vi = DUODIAG__VIN_INFO__INIT;
  Duodiag__EcuInfo ecus[DD_VEHICLE_MAX_ECUS];
  Duodiag__EcuInfo *ptrs[DD_VEHICLE_MAX_ECUS];
  Duodiag__DtcText texts[DD_VEHICLE_MAX_ECUS][DD_CLOUD_MAX_DTC_TEXTS];
  Duodiag__DtcText *tptrs[DD_VEHICLE_MAX_ECUS][DD_CLOUD_MAX_DTC_TEXTS];
  vi.vin = q->vin;
  if (v) {
    vi.found = true;
    vi.make = (char *)v->make;
    vi.model = (char *)v->model;
    vi.vehicle_type = (char *)v->vehicle_type;
    vi.model_year = v->model_year > 0 ? (uint32_t)v->model_year : 0;
    vi.engine = (char *)v->engine;
    vi.chassis_number = (char *)v->chassis_number;
    for (size_t i = 0; i < v->n_ecus; i++) {
      duodiag__ecu_info__init(&ecus[i]);
      ecus[i].name = (char *)v->ecus[i].name;
      ecus[i].request_can_id = v->ecus[i].request_can_id;
      ecus[i].response_can_id = v->ecus[i].response_can_id;
      ecus[i].extended_ids = v->ecus[i].extended_ids;
      ecus[i].can_fd = v->ecus[i].can_fd;
      ecus[i].extended_addressing = v->ecus[i].ext_addressing;
      ecus[i].ecu_address = v->ecus[i].ecu_address;
      ecus[i].tester_address = v->ecus[i].tester_address;
      ecus[i].functional_address = v->ecus[i].functional_address;
      for (size_t k = 0; k < v->ecus[i].n_dtc_texts; k++) {
        duodiag__dtc_text__init(&texts[i][k]);
        texts[i][k].dtc = v->ecus[i].dtc_texts[k].dtc;
        texts[i][k].text = (char *)v->ecus[i].dtc_texts[k].text;
        tptrs[i][k] = &texts[i][k];
      }
      ecus[i].n_dtc_texts = v->ecus[i].n_dtc_texts;
      ecus[i].dtc_texts = tptrs[i];
      ptrs[i] = &ecus[i];
    }
    vi.n_ecus = v->n_ecus;
    vi.ecus = ptrs;
  }
  Duodiag__Envelope env;
  s_env(self, &env);
  env.body_case = DUODIAG__ENVELOPE__BODY_VIN_INFO;
  env.vin_info = &vi;
  int rc = s_send(self, party, &env);
  dd_events_emit(dd_proc_events(self->proc), "cloud.vin_query", DD_S("vin", q->vin),
                 DD_B("found", v != NULL), DD_S("make", v ? v->make : ""),
                 DD_S("model", v ? v->model : ""), DD_S("from", party), DD_B("sent", rc == 0),
                 DD_END);
}

static void s_on_list_request(dd_cloud_server_t *self, const char *party,
                              const Duodiag__TerminalListRequest *q) {
  size_t cap = dd_cloud_terminal_count(self->core);
  if (cap > DD_WIRE_MAX_REPEATED) cap = DD_WIRE_MAX_REPEATED;
  const dd_cloud_terminal_t **ts = cap ? calloc(cap, sizeof *ts) : NULL;
  Duodiag__TerminalInfo *infos = cap ? calloc(cap, sizeof *infos) : NULL;
  Duodiag__TerminalInfo **ptrs = cap ? calloc(cap, sizeof *ptrs) : NULL;
  char *(*makes)[DD_CLOUD_MAX_MAKES] = cap ? calloc(cap, sizeof *makes) : NULL;
  size_t n = 0;
  if (cap && (!ts || !infos || !ptrs || !makes)) {
    dd_error("cloud: out of memory for a terminal list");
  } else {
    n = dd_cloud_list(self->core, q->make_filter, ts, cap);
    if (n > cap) n = cap;
  }
  for (size_t i = 0; i < n; i++) {
    duodiag__terminal_info__init(&infos[i]);
    infos[i].terminal_id = (char *)ts[i]->id;
    infos[i].name = (char *)ts[i]->name;
    for (size_t m = 0; m < ts[i]->n_makes; m++)
      makes[i][m] = (char *)ts[i]->makes[m];
    infos[i].n_makes = ts[i]->n_makes;
    infos[i].makes = makes[i];
    infos[i].fee_minor = ts[i]->fee_minor;
    infos[i].currency = (char *)ts[i]->currency;
    infos[i].rating_x10 = ts[i]->rating_x10;
    infos[i].online = true; /* the list holds online terminals only */
    ptrs[i] = &infos[i];
  }
  Duodiag__TerminalList tl = DUODIAG__TERMINAL_LIST__INIT;
  tl.n_terminals = n;
  tl.terminals = ptrs;
  Duodiag__Envelope env;
  s_env(self, &env);
  env.body_case = DUODIAG__ENVELOPE__BODY_TERMINAL_LIST;
  env.terminal_list = &tl;
  int rc = s_send(self, party, &env);
  dd_events_emit(dd_proc_events(self->proc), "cloud.terminal_list", DD_S("from", party),
                 DD_S("make", q->make_filter), DD_I("count", n), DD_B("sent", rc == 0), DD_END);
  free(ts);
  free(infos);
  free(ptrs);
  free(makes);
}

/* A terminal registers its profile with a TerminalList holding its TerminalInfo. */
static void s_on_registration(dd_cloud_server_t *self, const char *party,
                              const Duodiag__TerminalList *tl) {
  for (size_t i = 0; i < tl->n_terminals; i++) {
    const Duodiag__TerminalInfo *ti = tl->terminals[i];
    dd_cloud_terminal_t t;
    memset(&t, 0, sizeof t);
    snprintf(t.id, sizeof t.id, "%s", ti->terminal_id);
    snprintf(t.name, sizeof t.name, "%s", ti->name);
    char makes[256] = "";
    for (size_t m = 0; m < ti->n_makes && m < DD_CLOUD_MAX_MAKES; m++) {
      snprintf(t.makes[t.n_makes++], sizeof t.makes[0], "%s", ti->makes[m]);
      size_t used = strlen(makes);
      snprintf(makes + used, sizeof makes - used, "%s%s", m ? "," : "", ti->makes[m]);
    }
    t.fee_minor = ti->fee_minor;
    snprintf(t.currency, sizeof t.currency, "%s", ti->currency);
    t.rating_x10 = ti->rating_x10;
    uint64_t now = s_now(self);
    int rc = strlen(ti->terminal_id) >= DD_CLOUD_ID_MAX
                 ? DD_ENAMETOOLONG
                 : dd_cloud_put_terminal(self->core, &t, false, party, now);
    if (rc == 0 && ti->online) rc = dd_cloud_presence(self->core, party, t.id, true, now);
    dd_events_emit(dd_proc_events(self->proc), "cloud.terminal_registered",
                   DD_S("terminal", ti->terminal_id), DD_S("name", ti->name), DD_S("makes", makes),
                   DD_I("fee_minor", ti->fee_minor), DD_S("currency", ti->currency),
                   DD_I("rating_x10", ti->rating_x10), DD_S("from", party), DD_B("ok", rc == 0),
                   DD_S("code", rc ? dd_err_name(rc) : ""), DD_END);
  }
}

static void s_on_order(dd_cloud_server_t *self, const char *party, const Duodiag__Order *o) {
  dd_cloud_order_in_t in = {.order_id = o->order_id,
                            .session_id = o->session_id,
                            .merchant_id = o->merchant ? o->merchant->merchant_id : "",
                            .merchant_name = o->merchant ? o->merchant->name : "",
                            .fee_minor = o->fee_minor,
                            .currency = o->currency};
  bool dup = false;
  int rc = dd_cloud_order(self->core, party, &in, s_now(self), &dup);
  if (rc < 0) dd_warn("cloud: order %s from %s refused: %s", o->order_id, party, dd_strerror(rc));
  dd_events_emit(dd_proc_events(self->proc), "cloud.order", DD_S("order_id", o->order_id),
                 DD_S("session", o->session_id), DD_S("from", party),
                 DD_S("merchant", in.merchant_id), DD_I("fee_minor", o->fee_minor),
                 DD_S("currency", o->currency), DD_B("ok", rc == 0), DD_B("duplicate", dup),
                 DD_S("code", rc ? dd_err_name(rc) : ""), DD_END);
}

static void s_on_payment(dd_cloud_server_t *self, const char *party, const Duodiag__Payment *p) {
  dd_cloud_payment_in_t in = {.payment_id = p->payment_id,
                              .order_id = p->order_id,
                              .amount_minor = p->amount_minor,
                              .currency = p->currency,
                              .payer_id = p->payer_id};
  bool pending = false;
  int rc = dd_cloud_pay(self->core, party, &in, s_now(self), &pending);
  if (rc < 0) {
    /* Only ids too long for the ledger get here (the wire codec checked the rest). */
    Duodiag__PaymentConfirmation pc = DUODIAG__PAYMENT_CONFIRMATION__INIT;
    pc.payment_id = p->payment_id;
    pc.order_id = p->order_id;
    pc.reason = (char *)"payment refused: ids too long for the ledger";
    Duodiag__Envelope env;
    s_env(self, &env);
    env.body_case = DUODIAG__ENVELOPE__BODY_PAYMENT_CONFIRMATION;
    env.payment_confirmation = &pc;
    s_send(self, party, &env);
    dd_events_emit(dd_proc_events(self->proc), "cloud.payment", DD_S("payment_id", p->payment_id),
                   DD_S("order_id", p->order_id), DD_S("payer", p->payer_id), DD_S("terminal", ""),
                   DD_I("amount", p->amount_minor), DD_S("currency", p->currency),
                   DD_B("ok", false), DD_B("duplicate", false), DD_I("charged", 0),
                   DD_S("code", dd_err_name(rc)), DD_S("reason", pc.reason), DD_I("waited_us", 0),
                   DD_S("to", party), DD_B("sent", true), DD_END);
    return;
  }
  if (pending)
    dd_events_emit(dd_proc_events(self->proc), "cloud.payment_pending",
                   DD_S("payment_id", p->payment_id), DD_S("order_id", p->order_id),
                   DD_S("payer", p->payer_id),
                   DD_I("wait_us", dd_cloud_cfg(self->core)->order_wait_us), DD_END);
}

static void s_on_probe(dd_cloud_server_t *self, const char *party, const Duodiag__Probe *p) {
  Duodiag__ProbeEcho e = DUODIAG__PROBE_ECHO__INIT;
  e.probe_id = p->probe_id;
  e.sent_us = p->sent_us;
  e.echo_us = s_now(self);
  Duodiag__Envelope env;
  s_env(self, &env);
  env.body_case = DUODIAG__ENVELOPE__BODY_PROBE_ECHO;
  env.probe_echo = &e;
  s_send(self, party, &env);
}

static int s_on_router(dd_loop_t *loop, void *zsock, int fd, void *arg) {
  dd_cloud_server_t *self = arg;
  for (int budget = 0; budget < 1024; budget++) {
    uint8_t id[DD_WIRE_IDENTITY_MAX];
    size_t idlen = 0;
    Duodiag__Envelope *env = NULL;
    int rc = dd_wire_recv_from(zsock, id, sizeof id, &idlen, &env, &self->ws, ZMQ_DONTWAIT);
    if (rc == DD_EAGAIN || rc == -ETERM) break;
    char party[S_PARTY_MAX];
    int prc = idlen ? dd_wire_party_name(id, idlen, party, sizeof party) : DD_EINVAL;
    if (rc < 0) {
      if (rc == -EINTR) continue;
      dd_warn("cloud: rejected a message: %s (%s)", dd_strerror(rc),
              dd_wire_reason_name(self->ws.last_reason));
      dd_events_emit(dd_proc_events(self->proc), "wire.rejected", DD_S("channel", "cloud"),
                     DD_S("from", prc == 0 ? party : "?"), DD_S("error", dd_err_name(rc)),
                     DD_S("reason", dd_wire_reason_name(self->ws.last_reason)), DD_END);
      continue;
    }
    if (prc < 0) {
      dd_warn("cloud: a routing id of %zu bytes is too long for a party name", idlen);
      dd_wire_free(&env);
      continue;
    }
    switch (env->body_case) {
    case DUODIAG__ENVELOPE__BODY_VIN_QUERY: s_on_vin_query(self, party, env->vin_query); break;
    case DUODIAG__ENVELOPE__BODY_TERMINAL_LIST_REQUEST:
      s_on_list_request(self, party, env->terminal_list_request);
      break;
    case DUODIAG__ENVELOPE__BODY_TERMINAL_LIST:
      s_on_registration(self, party, env->terminal_list);
      break;
    case DUODIAG__ENVELOPE__BODY_PRESENCE: {
      int prs = dd_cloud_presence(self->core, party, env->presence->terminal_id,
                                  env->presence->online, s_now(self));
      if (prs < 0)
        dd_warn("cloud: presence of %s from %s refused: %s", env->presence->terminal_id, party,
                dd_strerror(prs));
      break;
    }
    case DUODIAG__ENVELOPE__BODY_ORDER: s_on_order(self, party, env->order); break;
    case DUODIAG__ENVELOPE__BODY_PAYMENT: s_on_payment(self, party, env->payment); break;
    case DUODIAG__ENVELOPE__BODY_PROBE: s_on_probe(self, party, env->probe); break;
    default:
      dd_warn("cloud: unexpected %s from %s", dd_wire_body_name(env), party);
      dd_events_emit(dd_proc_events(self->proc), "wire.rejected", DD_S("channel", "cloud"),
                     DD_S("from", party), DD_S("error", dd_err_name(DD_EWIRE_UNEXPECTED)),
                     DD_S("reason", dd_wire_body_name(env)), DD_END);
      break;
    }
    dd_wire_free(&env);
  }
  s_service(self);
  return 0;
}

/* ---- commands and summaries ----------------------------------------------------------------- */

static json_t *s_ledger_json(dd_cloud_server_t *self) {
  dd_cloud_stats_t st = dd_cloud_stats(self->core);
  json_t *totals = json_array();
  for (size_t i = 0; i < dd_cloud_total_count(self->core); i++) {
    const dd_cloud_total_t *t = dd_cloud_total(self->core, i);
    json_array_append_new(totals,
                          json_pack("{ss ss sI sI}", "terminal", t->terminal, "currency",
                                    t->currency, "charged_minor", (json_int_t)t->charged_minor,
                                    "payments", (json_int_t)t->payments));
  }
  return json_pack("{sI sI sI sI sI sI sI sI so}", "orders", (json_int_t)st.orders, "payments",
                   (json_int_t)st.payments, "charged", (json_int_t)st.charged, "refused",
                   (json_int_t)st.refused, "duplicates", (json_int_t)st.duplicates, "conflicts",
                   (json_int_t)st.conflicts, "pending", (json_int_t)st.pending, "notices",
                   (json_int_t)st.notices, "totals", totals);
}

static json_t *s_terminals_json(dd_cloud_server_t *self) {
  json_t *a = json_array();
  const dd_cloud_terminal_t *t;
  for (size_t i = 0; (t = dd_cloud_terminal_at(self->core, i)) != NULL; i++) {
    json_t *makes = json_array();
    for (size_t m = 0; m < t->n_makes; m++)
      json_array_append_new(makes, json_string(t->makes[m]));
    json_array_append_new(
        a, json_pack("{ss ss so sI ss sI sb}", "id", t->id, "name", t->name, "makes", makes,
                     "fee_minor", (json_int_t)t->fee_minor, "currency", t->currency, "rating_x10",
                     (json_int_t)t->rating_x10, "online", dd_cloud_online(self->core, t->id)));
  }
  return a;
}

static int s_on_command(dd_proc_t *proc, const dd_proc_command_t *cmd, char **result_json,
                        void *arg) {
  dd_cloud_server_t *self = arg;
  if (cmd->kind != DUODIAG__COMMAND__KIND__ACTION) return DD_ENOTSUP;
  json_error_t jerr;
  json_t *a =
      cmd->args_json && *cmd->args_json ? json_loads(cmd->args_json, 0, &jerr) : json_object();
  if (!a || !json_is_object(a)) {
    json_decref(a);
    return DD_EINVAL;
  }
  const char *key = cmd->key;
  int rc = 0;
  json_t *result = NULL;
  if (!strcmp(key, "fail_payments")) {
    dd_cloud_match_t what = DD_CLOUD_MATCH_ANY;
    const char *value = NULL;
    static const struct {
      const char *name;
      dd_cloud_match_t what;
    } keys[] = {{"payer", DD_CLOUD_MATCH_PAYER},
                {"order", DD_CLOUD_MATCH_ORDER},
                {"terminal", DD_CLOUD_MATCH_TERMINAL}};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
      json_t *v = json_object_get(a, keys[i].name);
      if (!v) continue;
      if (!json_is_string(v) || value) rc = DD_EINVAL; /* one target at most, as text */
      what = keys[i].what;
      value = json_string_value(v);
    }
    json_t *jr = json_object_get(a, "reason"), *jc = json_object_get(a, "count");
    if ((jr && !json_is_string(jr)) || (jc && (!json_is_integer(jc) || json_integer_value(jc) < 0 ||
                                               json_integer_value(jc) > 1000000)))
      rc = DD_EINVAL;
    const char *reason = jr ? json_string_value(jr) : NULL;
    unsigned count = jc ? (unsigned)json_integer_value(jc) : 0;
    if (!rc) rc = dd_cloud_fail_payments(self->core, what, value, reason, count);
    if (!rc)
      dd_events_emit(dd_proc_events(proc), "cloud.failure_rule",
                     DD_S("match", dd_cloud_match_name(what)), DD_S("value", value ? value : ""),
                     DD_S("reason", reason && *reason ? reason : "payment declined"),
                     DD_I("count", count), DD_END);
  } else if (!strcmp(key, "clear_failures")) {
    dd_cloud_clear_failures(self->core);
    dd_events_emit(dd_proc_events(proc), "cloud.failure_rule", DD_S("match", "clear"),
                   DD_S("value", ""), DD_S("reason", ""), DD_I("count", 0), DD_END);
  } else if (!strcmp(key, "set_online")) {
    const char *t = json_string_value(json_object_get(a, "terminal"));
    json_t *on = json_object_get(a, "online");
    if (!t || !json_is_boolean(on))
      rc = DD_EINVAL;
    else
      rc = dd_cloud_set_static(self->core, t, json_is_true(on), s_now(self));
  } else if (!strcmp(key, "ledger")) {
    result = s_ledger_json(self);
  } else if (!strcmp(key, "terminals")) {
    result = s_terminals_json(self);
  } else {
    rc = DD_ENOTSUP;
  }
  if (result) {
    *result_json = json_dumps(result, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(result);
    if (!*result_json) rc = DD_ENOMEM;
  }
  json_decref(a);
  s_service(self);
  return rc;
}

/* ---- life cycle ----------------------------------------------------------------------------- */

int dd_cloud_server_new(dd_proc_t *proc, const dd_cloud_server_cfg_t *cfg,
                        dd_cloud_server_t **out) {
  assert(proc && cfg && out);
  *out = NULL;
  if (!cfg->endpoint || !*cfg->endpoint) return DD_EINVAL;
  dd_cloud_server_t *self = calloc(1, sizeof *self);
  if (!self) return DD_ENOMEM;
  self->proc = proc;
  snprintf(self->endpoint, sizeof self->endpoint, "%s", cfg->endpoint);
  dd_wire_stats_init(&self->ws);
  int rc = dd_cloud_new(&cfg->cloud, &self->core);
  if (rc < 0) goto out_free;
  char err[4096];
  for (size_t i = 0; i < cfg->n_vehicle_paths; i++) {
    rc = dd_cloud_load_vehicles(self->core, cfg->vehicle_paths[i], err, sizeof err);
    if (rc < 0) {
      dd_error("cloud: vehicle registry:\n%s", err);
      rc = rc == DD_ENOMEM ? rc : DD_ECONFIG;
      goto out_core;
    }
  }
  if (cfg->terminals_path) {
    rc = dd_cloud_load_terminals(self->core, cfg->terminals_path, err, sizeof err);
    if (rc < 0) {
      dd_error("cloud: terminals:\n%s", err);
      rc = rc == DD_ENOMEM ? rc : DD_ECONFIG;
      goto out_core;
    }
  }
  self->router = zmq_socket(dd_proc_zctx(proc), ZMQ_ROUTER);
  if (!self->router) {
    rc = -errno;
    goto out_core;
  }
  /* MANDATORY: an answer to a party that is gone fails visibly (EHOSTUNREACH) and shows as
   * sent=false in the timeline; HANDOVER: a reconnecting party takes its id over at once. */
  int one = 1, linger = 0;
  zmq_setsockopt(self->router, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
  zmq_setsockopt(self->router, ZMQ_ROUTER_HANDOVER, &one, sizeof one);
  zmq_setsockopt(self->router, ZMQ_LINGER, &linger, sizeof linger);
  dd_wire_limit_socket(self->router);
  if (zmq_bind(self->router, cfg->endpoint) != 0) {
    /* A malformed endpoint or an unknown transport is bad usage; anything else a failure. */
    rc = errno == EINVAL || errno == EPROTONOSUPPORT ? DD_EINVAL : -errno;
    dd_error("cloud: cannot bind %s: %s", cfg->endpoint, zmq_strerror(errno));
    goto out_close;
  }
  size_t len = sizeof self->endpoint;
  zmq_getsockopt(self->router, ZMQ_LAST_ENDPOINT, self->endpoint, &len);
  dd_loop_add_zsock(dd_proc_loop(proc), self->router, s_on_router, self);
  dd_proc_on_command(proc, s_on_command, self);
  const dd_cloud_cfg_t *c = dd_cloud_cfg(self->core);
  dd_events_emit(dd_proc_events(proc), "cloud.up", DD_S("endpoint", self->endpoint),
                 DD_I("vehicles", dd_cloud_vehicle_count(self->core)),
                 DD_I("terminals", dd_cloud_terminal_count(self->core)),
                 DD_I("presence_timeout_us", c->presence_timeout_us),
                 DD_I("order_wait_us", c->order_wait_us == UINT64_MAX ? 0 : c->order_wait_us),
                 DD_END);
  s_service(self); /* statically online terminals of the file */
  *out = self;
  return 0;
out_close:
  zmq_close(self->router);
out_core:
  dd_cloud_destroy(&self->core);
out_free:
  free(self);
  return rc;
}

void dd_cloud_server_destroy(dd_cloud_server_t **self_p) {
  assert(self_p);
  dd_cloud_server_t *self = *self_p;
  if (!self) return;
  dd_events_t *ev = dd_proc_events(self->proc);
  dd_cloud_stats_t st = dd_cloud_stats(self->core);
  for (size_t i = 0; i < dd_cloud_total_count(self->core); i++) {
    const dd_cloud_total_t *t = dd_cloud_total(self->core, i);
    dd_events_emit(ev, "cloud.ledger_terminal", DD_S("terminal", t->terminal),
                   DD_S("currency", t->currency), DD_I("charged_minor", t->charged_minor),
                   DD_I("payments", t->payments), DD_END);
  }
  dd_events_emit(
      ev, "cloud.ledger_summary", DD_I("orders", st.orders), DD_I("payments", st.payments),
      DD_I("charged", st.charged), DD_I("refused", st.refused), DD_I("duplicates", st.duplicates),
      DD_I("conflicts", st.conflicts), DD_I("pending", st.pending), DD_I("notices", st.notices),
      DD_I("terminals", dd_cloud_total_count(self->core)), DD_END);
  dd_events_emit(ev, "cloud.summary", DD_I("vin_queries", st.vin_queries),
                 DD_I("vin_found", st.vin_found), DD_I("list_requests", st.list_requests),
                 DD_I("heartbeats", st.heartbeats), DD_I("orders_refused", st.orders_refused),
                 DD_I("wire_accepted", self->ws.accepted),
                 DD_I("wire_rejected", dd_wire_stats_rejected(&self->ws)), DD_END);
  dd_loop_t *loop = dd_proc_loop(self->proc);
  dd_loop_deadline_set(loop, &self->timer, DD_NEVER, s_on_timer, self);
  dd_loop_remove_zsock(loop, self->router);
  zmq_close(self->router);
  dd_cloud_destroy(&self->core);
  free(self);
  *self_p = NULL;
}

dd_cloud_t *dd_cloud_server_core(dd_cloud_server_t *self) { return self->core; }
