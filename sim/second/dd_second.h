/* dd_second: the second diagnostic device process's front: a DEALER to the service device that
 * reads every vehicle record exactly once (checked: gaps, duplicates, out-of-order arrivals are
 * reported), diagnoses remotely from them (dd_second_diag), and on the harness's program command
 * builds a signed programming package (sim/pkg/dd_package) and hands it to the service device.
 *
 * Flows (one Envelope per frame):
 *   start   -> service: ServiceHello{session_id: "*", device_id: SECOND_ID, token} (again every
 *              second until ServiceWelcome{accepted} arrives).
 *   S4      service -> VehicleRecord (the first device's envelope): second.record; anomalies:
 *              second.anomaly {anomaly: gap|duplicate|out_of_order, seq, expected}; after the last
 *              record of a request (or a DTC record) the diagnosis if it changed:
 *              second.diagnosis {dtcs, findings, n_findings}.
 *   S401    command program -> service: ProgramOffer{package_id, total_size, sha256, target_ecu,
 *              signature (Ed25519 of the SHA-256), software_version}, then ProgramChunks of
 *              64 KiB: second.package {package_id, size, target, version, tamper}.
 *   S402    service -> ProgramStatus: second.program_status {package_id, phase, percent}.
 *
 * Harness commands (ACTION key, JSON args):
 *   program {image, ecu_id, ecu_name, hw_part, version, package_id, tamper: none|data|
 *            signature|target|unsigned, start: auto|on_control}  -> {"package_id", "size"};
 *            start on_control sets the offer's hold (the first device waits for the
 *            technician's START_REFLASH); image: a path, or a file
 *            name in ecu_models/images; defaults: ecu_id 0x7E0, ecu_name "ECM", hw_part
 *            "84512307AB", version "S19.05.0". Tampering happens after signing: data flips a
 *            byte of the region data (CRC check fails), signature flips a byte of the
 *            signature, target signs for hardware part "XX-WRONG-PART" (authentic, wrong
 *            target); unsigned builds the package without a key (key id and signature all
 *            zero) and offers it without a signature.
 *   diagnose {}   -> the current diagnosis (also published)
 *   summary {}    -> {"records", "lost", "duplicated", "out_of_order"}
 * At the end: second.summary {records, lost, duplicated, out_of_order}. */
#ifndef DD_SECOND_H
#define DD_SECOND_H

#include "dd_proc.h"

typedef struct {
  const char *service;   /* service device endpoint */
  const char *second_id; /* party id */
  const char *key_path;  /* signing key (secret) file; NULL: the TEST key */
  const char *token;     /* token for the hello, or NULL */
} dd_second_cfg_t;

typedef struct dd_second dd_second_t;

/* Load the key, connect, register on the loop. 0, DD_EINVAL, DD_EILSEQ (bad key file), -errno. */
int dd_second_new(dd_proc_t *proc, const dd_second_cfg_t *cfg, dd_second_t **out);
/* Publishes second.summary and closes the socket. */
void dd_second_destroy(dd_second_t **self_p);

#endif
