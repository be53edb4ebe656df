/* dd_vehicle_sim: drive model + ECUs + harness commands. */
#include "dd_vehicle_sim.h"

#include <assert.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dd_canmux.h"
#include "dd_canport_vbus.h"
#include "dd_drive.h"
#include "dd_ecu.h"
#include "dd_err.h"
#include "dd_log.h"
#include "duodiag.pb-c.h"

struct dd_vehicle_sim {
  dd_proc_t *proc;                            /* owning process */
  dd_vehicle_sim_cfg_t cfg;                   /* configuration (strings not owned) */
  dd_vehicle_t *vehicle;                      /* loaded vehicle file */
  dd_drive_t *drive;                          /* the vehicle model */
  dd_canmux_t *mux[DD_VEHICLE_MAX_ECUS];      /* one CAN node per ECU */
  dd_ecu_t *ecu[DD_VEHICLE_MAX_ECUS];         /* the ECUs */
  size_t n;                                   /* ECUs running */
  int drive_timer, state_timer;               /* periodic timers */
};

static int s_on_drive(dd_loop_t *loop, int id, void *arg) {
  dd_vehicle_sim_t *self = arg;
  dd_drive_update(self->drive, dd_loop_now(loop));
  return 0;
}

static int s_on_state(dd_loop_t *loop, int id, void *arg) {
  dd_vehicle_sim_t *self = arg;
  dd_drive_update(self->drive, dd_loop_now(loop));
  dd_events_emit(dd_proc_events(self->proc), "vehicle.state",
                 DD_D("speed_kmh", dd_drive_get(self->drive, DD_DRIVE_SPEED)),
                 DD_D("rpm", dd_drive_get(self->drive, DD_DRIVE_RPM)),
                 DD_D("coolant_c", dd_drive_get(self->drive, DD_DRIVE_COOLANT)),
                 DD_D("battery_v", dd_drive_get(self->drive, DD_DRIVE_BATTERY)),
                 DD_B("engine_running", dd_drive_engine_running(self->drive)),
                 DD_S("phase", dd_drive_phase_name(dd_drive_phase(self->drive))), DD_END);
  return 0;
}

/* The ECU named (or with the role named) by a command. */
static dd_ecu_t *s_find(dd_vehicle_sim_t *self, const char *name) {
  const dd_vehicle_ecu_t *e = name ? dd_vehicle_ecu_find(self->vehicle, name) : NULL;
  for (size_t i = 0; e && i < self->n; i++)
    if (!strcasecmp(dd_ecu_name(self->ecu[i]), e->name)) return self->ecu[i];
  return NULL;
}

/* Commands: vehicle-level keys act on the drive model; anything else goes to the ECU named by
 * args.ecu (see dd_ecu_command). */
static int s_on_command(dd_proc_t *proc, const dd_proc_command_t *cmd, char **result_json,
                        void *arg) {
  dd_vehicle_sim_t *self = arg;
  json_error_t jerr;
  json_t *a = cmd->args_json && *cmd->args_json ? json_loads(cmd->args_json, 0, &jerr)
                                                : json_object();
  if (!a || !json_is_object(a)) {
    json_decref(a);
    return DD_EINVAL;
  }
  int rc = 0;
  char why[256] = "";
  uint64_t now = dd_loop_now(dd_proc_loop(proc));
  dd_drive_update(self->drive, now);
  if (!strcmp(cmd->key, "speed")) {
    json_t *k = json_object_get(a, "kmh");
    if (json_is_number(k)) dd_drive_hold_speed(self->drive, json_number_value(k));
    else if (json_is_true(json_object_get(a, "resume"))) dd_drive_resume_cycle(self->drive);
    else rc = DD_EINVAL;
  } else if (!strcmp(cmd->key, "engine")) {
    json_t *on = json_object_get(a, "on");
    if (json_is_boolean(on)) dd_drive_set_engine(self->drive, json_is_true(on));
    else rc = DD_EINVAL;
  } else if (!strcmp(cmd->key, "battery")) {
    json_t *v = json_object_get(a, "volts");
    if (json_is_number(v)) dd_drive_set_battery(self->drive, json_number_value(v));
    else rc = DD_EINVAL;
  } else {
    const char *name = json_string_value(json_object_get(a, "ecu"));
    dd_ecu_t *ecu = s_find(self, name);
    if (!ecu) {
      snprintf(why, sizeof why, "no ECU named '%s' in %s", name ? name : "(none given)",
               self->vehicle->source);
      rc = DD_ENOENT;
    } else {
      rc = dd_ecu_command(ecu, cmd->key, cmd->args_json, why, sizeof why);
    }
  }
  if (rc == 0 && (!strcmp(cmd->key, "speed") || !strcmp(cmd->key, "engine") ||
                  !strcmp(cmd->key, "battery"))) {
    dd_events_emit(dd_proc_events(proc), "vehicle.action", DD_S("action", cmd->key),
                   DD_S("args", cmd->args_json), DD_END);
    s_on_state(dd_proc_loop(proc), 0, self);
  }
  if (rc < 0 && why[0]) {
    dd_warn("command %s: %s", cmd->key, why);
    json_t *r = json_pack("{s:s}", "error", why);
    *result_json = json_dumps(r, JSON_COMPACT);
    json_decref(r);
  }
  json_decref(a);
  return rc;
}

int dd_vehicle_sim_new(dd_proc_t *proc, const dd_vehicle_sim_cfg_t *cfg, dd_vehicle_sim_t **out) {
  assert(proc && cfg && cfg->vehicle_path && out);
  dd_vehicle_sim_t *self = calloc(1, sizeof *self);
  if (!self) return DD_ENOMEM;
  self->proc = proc;
  self->cfg = *cfg;
  char err[4096];
  int rc = dd_vehicle_load(cfg->vehicle_path, &self->vehicle, err, sizeof err);
  if (rc < 0) {
    fprintf(stderr, "%s", err);
    goto out_fail;
  }
  dd_loop_t *loop = dd_proc_loop(proc);
  uint64_t now = dd_loop_now(loop);
  self->drive = dd_drive_new(&self->vehicle->drive, dd_proc_seed(proc), now);
  if (!self->drive) {
    rc = DD_ENOMEM;
    goto out_fail;
  }
  for (size_t i = 0; i < self->vehicle->n_ecus; i++) {
    const dd_vehicle_ecu_t *def = &self->vehicle->ecus[i];
    dd_canport_opts_t po = {.fd = def->fd};
    dd_canport_t *port = NULL;
    char node[64];
    snprintf(node, sizeof node, "%s.%s", dd_proc_name(proc), def->name);
    if (cfg->can_iface) rc = dd_canport_socketcan_open(cfg->can_iface, &po, &port);
    else rc = dd_canport_vbus_open(dd_proc_zctx(proc), cfg->bus_endpoint, node, &po, &port);
    if (rc < 0) {
      dd_error("%s: cannot join the CAN network: %s", def->name, dd_strerror(rc));
      goto out_fail;
    }
    rc = dd_canmux_new(loop, port, &self->mux[i]);
    if (rc < 0) goto out_fail;
    dd_ecu_cfg_t ec = {.vehicle = self->vehicle, .def = def, .drive = self->drive,
                       .events = dd_proc_events(proc), .seed = dd_proc_seed(proc) * 131 + i};
    rc = dd_ecu_new(self->mux[i], &ec, &self->ecu[i]);
    if (rc < 0) {
      dd_error("%s: ECU model not built: %s", def->name, dd_strerror(rc));
      goto out_fail;
    }
    self->n++;
    dd_events_emit(dd_proc_events(proc), "vehicle.ecu_up", DD_S("ecu", def->name),
                   DD_S("role", dd_ecu_role_name(def->role)), DD_I("request_id", def->request_id),
                   DD_I("response_id", def->response_id), DD_S("version", dd_ecu_sw_version(self->ecu[i])),
                   DD_END);
  }
  self->drive_timer = dd_loop_timer_every(loop, 50000, s_on_drive, self);
  self->state_timer = dd_loop_timer_every(
      loop, cfg->state_period_us ? cfg->state_period_us : DD_US_PER_S, s_on_state, self);
  dd_proc_on_command(proc, s_on_command, self);
  const dd_vehicle_t *v = self->vehicle;
  dd_events_emit(dd_proc_events(proc), "vehicle.up", DD_S("vin", v->vin), DD_S("make", v->make),
                 DD_S("model", v->model), DD_I("year", v->model_year), DD_I("ecus", (int64_t)self->n),
                 DD_END);
  *out = self;
  return 0;
out_fail:
  dd_vehicle_sim_destroy(&self);
  return rc;
}

void dd_vehicle_sim_destroy(dd_vehicle_sim_t **self_p) {
  assert(self_p);
  dd_vehicle_sim_t *self = *self_p;
  if (!self) return;
  dd_loop_t *loop = dd_proc_loop(self->proc);
  if (self->drive_timer > 0) dd_loop_timer_cancel(loop, self->drive_timer);
  if (self->state_timer > 0) dd_loop_timer_cancel(loop, self->state_timer);
  for (size_t i = 0; i < DD_VEHICLE_MAX_ECUS; i++) {
    dd_ecu_destroy(&self->ecu[i]);
    dd_canmux_destroy(&self->mux[i]);
  }
  dd_drive_destroy(&self->drive);
  dd_vehicle_destroy(&self->vehicle);
  free(self);
  *self_p = NULL;
}

const dd_vehicle_t *dd_vehicle_sim_vehicle(const dd_vehicle_sim_t *self) { return self->vehicle; }
