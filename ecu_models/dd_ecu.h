/* dd_ecu: one simulated ECU on a CAN port: its ISO-TP channels (physical and functional), its
 * UDS server with DIDs, DTC memory, security, routines and flash/bootloader, its OBD-II
 * responder when it is the emissions ECU, its power state, and fault injection. It is built
 * from an ECU of a vehicle file and reads live values from the vehicle's drive model. */
#ifndef DD_ECU_H
#define DD_ECU_H

#include <stdbool.h>
#include <stdint.h>

#include "dd_canmux.h"
#include "dd_drive.h"
#include "dd_events.h"
#include "dd_vehicle.h"

typedef struct dd_ecu dd_ecu_t;

typedef struct {
  const dd_vehicle_t *vehicle;   /* the vehicle (not owned; outlives the ECU) */
  const dd_vehicle_ecu_t *def;   /* this ECU in it */
  dd_drive_t *drive;             /* the vehicle model (not owned) */
  dd_events_t *events;           /* timeline (not owned; may be NULL) */
  uint64_t seed;                 /* deterministic security seeds */
} dd_ecu_cfg_t;

int dd_ecu_new(dd_canmux_t *mux, const dd_ecu_cfg_t *cfg, dd_ecu_t **out);
void dd_ecu_destroy(dd_ecu_t **self_p);

const char *dd_ecu_name(const dd_ecu_t *self);

/* Fault injection and vehicle actions, from the harness (args: a JSON object as text).
 *   set_dtc {"dtc":"P0301"} / clear_dtc {"dtc":"P0301"|"all"}: a test fails / passes (the DTC
 *       memory runs its status bits), or a clear as 0x14 FFFFFF does
 *   operation_cycle {}: end an operation cycle (DTC confirmation and aging)
 *   force_nrc {"sid":"0x22","nrc":"0x31","count":1}: answer the next matching request(s) so
 *   delay {"sid":..,"ms":..,"count":..} / drop {"sid":..,"count":..}: hold or lose responses
 *   pending_forever {"sid":"0x31"}: answer 0x78 again and again
 *   clear_faults {}: remove every injected fault
 *   power_cycle {"off_ms":200}: power off, then on (a clean restart)
 *   power_cut {"off_ms":500}: power lost now, mid-operation if one runs (a flash write is torn)
 * Returns 0, DD_EINVAL with *why set, or DD_ENOTSUP for an unknown key. */
int dd_ecu_command(dd_ecu_t *self, const char *key, const char *args_json, char *why, size_t cap);

bool dd_ecu_powered(const dd_ecu_t *self);
bool dd_ecu_app_valid(const dd_ecu_t *self);
const char *dd_ecu_sw_version(const dd_ecu_t *self);

#endif
