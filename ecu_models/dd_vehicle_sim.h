/* dd_vehicle_sim: a whole simulated vehicle in one process: the drive model and every ECU of a
 * vehicle file, each ECU its own node on the CAN network (virtual bus or SocketCAN), with the
 * harness's fault injection and vehicle actions. */
#ifndef DD_VEHICLE_SIM_H
#define DD_VEHICLE_SIM_H

#include "dd_proc.h"
#include "dd_vehicle.h"

typedef struct dd_vehicle_sim dd_vehicle_sim_t;

typedef struct {
  const char *vehicle_path; /* vehicle YAML file */
  const char *bus_endpoint; /* virtual bus to join, or NULL */
  const char *can_iface;    /* SocketCAN interface instead (HIL), or NULL */
  uint64_t state_period_us; /* vehicle.state event period (default 1 s) */
} dd_vehicle_sim_cfg_t;

/* Loads the file (errors printed as FILE:LINE:COL lines; DD_ECONFIG), joins the network. */
int dd_vehicle_sim_new(dd_proc_t *proc, const dd_vehicle_sim_cfg_t *cfg, dd_vehicle_sim_t **out);
void dd_vehicle_sim_destroy(dd_vehicle_sim_t **self_p);
const dd_vehicle_t *dd_vehicle_sim_vehicle(const dd_vehicle_sim_t *self);

#endif
