/* dd_fd_vehicle: the first device's access to the vehicle: the CAN port (virtual bus or
 * SocketCAN), one UDS/OBD tester per ECU with a queue of asynchronous requests, the VIN read of
 * S101 (UDS 22 F190 and OBD 09 02, 11-bit then 29-bit OBD addresses) and the DTC scan of S104. */
#ifndef DD_FD_VEHICLE_H
#define DD_FD_VEHICLE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dd_proc.h"
#include "dd_vin.h"

#define DD_FD_MAX_ECUS 32
#define DD_FD_ECU_NAME_MAX 32

typedef struct {
  const char *bus_endpoint; /* virtual bus ROUTER endpoint, or NULL */
  const char *can_iface;    /* SocketCAN interface, or NULL */
  bool ignore_0x78;         /* planted defect: 7F xx 78 ends the request at once */
} dd_fd_vehicle_cfg_t;

/* The final result of one request: status 0 (resp holds the positive response), DD_EUDS_NRC
 * (nrc), or a timeout/transport code. */
typedef void (*dd_fd_vehicle_fn)(int status, uint8_t nrc, const uint8_t *resp, size_t len,
                                 void *arg);
/* S101 result: the VIN both sources agree on (empty when none), and whether it passed ISO 3779
 * validation. */
typedef void (*dd_fd_vin_fn)(const char *vin, bool valid, void *arg);
/* S104 result: {"ecus":[{"name","id","dtcs":[{"code","status","description"}]}], "dtcs": N};
 * borrowed for the call. */
typedef void (*dd_fd_scan_fn)(json_t *result, void *arg);

typedef struct dd_fd_vehicle dd_fd_vehicle_t;

int dd_fd_vehicle_new(dd_proc_t *proc, const dd_fd_vehicle_cfg_t *cfg, dd_fd_vehicle_t **out);
void dd_fd_vehicle_destroy(dd_fd_vehicle_t **self_p);

/* Description of a DTC of ECU idx (the registry's text), or NULL for the generic table's. */
typedef const char *(*dd_fd_describe_fn)(void *arg, size_t idx, uint32_t dtc);
/* Where the scan (S104) gets the manufacturer's DTC descriptions from. */
void dd_fd_vehicle_set_describe(dd_fd_vehicle_t *self, dd_fd_describe_fn fn, void *arg);

/* Forget every ECU (and its pending requests: their callbacks are not called). */
void dd_fd_vehicle_clear(dd_fd_vehicle_t *self);
/* Add an ECU; returns its index or a negative code. func_id: functional request id. */
int dd_fd_vehicle_add(dd_fd_vehicle_t *self, const char *name, uint32_t req_id, uint32_t resp_id,
                      uint32_t func_id, bool ext, bool fd);
/* ISO 15765-2:2016 10.3.4 extended addressing of one ECU: N_TA bytes. */
typedef struct {
  uint8_t ecu_address;        /* N_TA of requests to the ECU */
  uint8_t tester_address;     /* N_TA of its responses */
  uint8_t functional_address; /* N_TA of functional requests */
} dd_fd_ext_addr_t;
/* The same for an ECU with extended addressing (ea NULL: normal addressing). */
int dd_fd_vehicle_add_ext(dd_fd_vehicle_t *self, const char *name, uint32_t req_id,
                          uint32_t resp_id, uint32_t func_id, bool ext, bool fd,
                          const dd_fd_ext_addr_t *ea);
size_t dd_fd_vehicle_count(const dd_fd_vehicle_t *self);
const char *dd_fd_vehicle_name(const dd_fd_vehicle_t *self, size_t idx);
uint32_t dd_fd_vehicle_req_id(const dd_fd_vehicle_t *self, size_t idx);
/* Index of the ECU with request id req_id (0: the first ECU, the engine), or -1. */
int dd_fd_vehicle_find(const dd_fd_vehicle_t *self, uint32_t req_id);
/* Index by name (case-insensitive) or by request id written as a number, or -1. */
int dd_fd_vehicle_lookup(const dd_fd_vehicle_t *self, const char *name_or_id);

/* Queue a request (copied) to ECU idx; fn gets its final result later, from the loop. */
int dd_fd_vehicle_request(dd_fd_vehicle_t *self, size_t idx, const uint8_t *req, size_t len,
                          bool functional, dd_fd_vehicle_fn fn, void *arg);
/* Requests queued or outstanding. */
size_t dd_fd_vehicle_pending(const dd_fd_vehicle_t *self);

/* Tell ECU idx's tester that the ECU is back in the default session (after an ECUReset). */
void dd_fd_vehicle_default_session(dd_fd_vehicle_t *self, size_t idx);

/* S101: read the VIN (emits fd.vin per source). */
void dd_fd_vehicle_identify(dd_fd_vehicle_t *self, dd_fd_vin_fn fn, void *arg);
/* S104: 19 02 FF to every ECU (emits fd.dtc per DTC and fd.local_diagnosis). */
void dd_fd_vehicle_scan(dd_fd_vehicle_t *self, dd_fd_scan_fn fn, void *arg);

#endif
