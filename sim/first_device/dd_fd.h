/* dd_fd: the first diagnostic device (the VCI on the OBD port) wired together: vehicle access
 * (S101-S104), the remote side (S11-S17, S2-S3, S41-S45), programming (S401-S402) and remote
 * control (S5), with the harness commands and the planted defects of the test campaign. */
#ifndef DD_FD_H
#define DD_FD_H

#include <stdbool.h>
#include <stdint.h>

#include "dd_fd_remote.h"
#include "dd_fd_vehicle.h"
#include "dd_proc.h"

/* Planted defects (--defect NAME), each a known bug the harness must catch. */
enum {
  DD_FD_DEFECT_NO_HYSTERESIS = 1u << 0,         /* relay -> direct at once below threshold */
  DD_FD_DEFECT_NO_RESEND_ON_SWITCH = 1u << 1,   /* path change does not resend unacked records */
  DD_FD_DEFECT_WRONG_BSC_WRAP = 1u << 2,        /* block counter wraps FF -> 01 */
  DD_FD_DEFECT_IGNORE_0X78 = 1u << 3,           /* 7F xx 78 taken as a final negative response */
  DD_FD_DEFECT_ACCEPT_UNSIGNED = 1u << 4,       /* package signature not verified */
  DD_FD_DEFECT_ACCEPT_UNPAID_CONTROL = 1u << 5, /* control signals outside a paid session */
};

#define DD_FD_MAX_SECRETS 16

typedef struct {
  char ecu[DD_FD_ECU_NAME_MAX]; /* ECU name or request id text */
  uint32_t secret;              /* seed-to-key constant */
  uint8_t level;                /* security level */
} dd_fd_secret_t;

typedef struct {
  dd_fd_vehicle_cfg_t vehicle;            /* CAN side */
  dd_fd_remote_cfg_t remote;              /* remote side */
  const char *history_path;               /* diagnosis history (JSON Lines), or NULL */
  const char *trust_key_path;             /* Ed25519 public key packages must be signed with */
  bool autostart;                         /* run S101-S104 then S11 at once */
  unsigned defects;                       /* DD_FD_DEFECT_* bits */
  dd_fd_secret_t secrets[DD_FD_MAX_SECRETS]; /* security access constants per ECU */
  size_t n_secrets;                       /* entries of secrets */
} dd_fd_cfg_t;

typedef struct dd_fd dd_fd_t;

int dd_fd_new(dd_proc_t *proc, const dd_fd_cfg_t *cfg, dd_fd_t **out);
void dd_fd_destroy(dd_fd_t **self_p);

/* "no_hysteresis" -> DD_FD_DEFECT_NO_HYSTERESIS ...; 0 for an unknown name. */
unsigned dd_fd_defect_parse(const char *name);
/* The defect names, one per line with a short description (for --help). */
const char *dd_fd_defect_help(void);

#endif
