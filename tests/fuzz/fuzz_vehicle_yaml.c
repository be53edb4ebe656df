/* fuzz_vehicle_yaml: arbitrary bytes through the vehicle-file loader; a failure must come with
 * a FILE:LINE:COL message, and a vehicle that loads must be usable (OBD answers, drive model). */
#include <stdlib.h>
#include <string.h>

#include "dd_drive.h"
#include "dd_err.h"
#include "dd_fuzz.h"
#include "dd_obd.h"
#include "dd_vehicle.h"

static void s_exercise(const dd_vehicle_t *v) {
  if (v->n_ecus == 0 || v->n_ecus > DD_VEHICLE_MAX_ECUS) abort();
  if (dd_vin_validate(v->vin, DD_VIN_CHECK_AUTO, NULL) != 0) abort();
  dd_drive_t *d = dd_drive_new(&v->drive, 1, 0);
  if (!d) abort(); /* the loader accepted what the model rejects */
  dd_drive_update(d, 2000000);
  dd_obd_state_t st;
  memset(&st, 0, sizeof st);
  dd_drive_obd_live(d, &st.live);
  for (size_t i = 0; i < v->n_ecus; i++) {
    const dd_vehicle_ecu_t *e = &v->ecus[i];
    for (size_t k = 0; k < e->n_dtcs; k++)
      dd_obd_state_add_dtc(&st, e->dtcs[k].dtc, e->dtcs[k].status, e->dtcs[k].permanent);
    for (size_t k = 0; k < e->n_dids; k++) {
      const dd_vehicle_did_t *did = &e->dids[k];
      uint8_t raw[4];
      if (did->kind == DD_DID_LIVE &&
          dd_vehicle_did_encode(did, dd_drive_get(d, did->signal), raw) != did->size)
        abort();
      if (did->kind == DD_DID_BYTES && did->len > DD_VEHICLE_MAX_DATA) abort();
    }
    if (!e->has_obd) continue;
    static const uint8_t reqs[][4] = {
        {0x01, 0x00}, {0x01, 0x0C, 0x0D, 0x05}, {0x03}, {0x09, 0x02}, {0x09, 0x0A}, {0x09, 0x04}};
    static const size_t lens[] = {2, 4, 1, 2, 2, 2};
    for (size_t r = 0; r < sizeof lens / sizeof lens[0]; r++) {
      uint8_t out[512];
      size_t len;
      if (dd_obd_respond(&e->obd, &st, reqs[r], lens[r], true, out, sizeof out, &len, NULL) != 0)
        abort();
    }
  }
  dd_drive_destroy(&d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char err[2048];
  dd_vehicle_t *v = NULL;
  int rc = dd_vehicle_load_string((const char *)data, size, "fuzz.yaml", &v, err, sizeof err);
  if (rc == 0) {
    if (!v) abort();
    s_exercise(v);
    dd_vehicle_destroy(&v);
  } else {
    if (v) abort();
    if (rc != DD_ECONFIG && rc != DD_ENOMEM) abort();
    if (rc == DD_ECONFIG && strncmp(err, "fuzz.yaml", 9) != 0) abort();
  }
  return 0;
}
