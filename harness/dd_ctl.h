/* dd_ctl: the harness end of the control channel: a ROUTER that every process's DEALER joins;
 * it records who said Ready, sends commands by process id and collects their results. */
#ifndef DD_CTL_H
#define DD_CTL_H

#include <stdbool.h>
#include <stdint.h>

#include "dd_loop.h"

typedef struct dd_ctl dd_ctl_t;

typedef struct {
  bool ok;          /* the command succeeded */
  int code;         /* 0 or a dd error code */
  char text[256];   /* detail */
  char json[4096];  /* the result as JSON ("" when none; cut at 4095 bytes) */
} dd_ctl_result_t;

int dd_ctl_new(void *zctx, const char *endpoint, dd_ctl_t **out);
void dd_ctl_destroy(dd_ctl_t **self_p);
void *dd_ctl_zsock(dd_ctl_t *self);

/* Handle input (call from the loop reader). */
void dd_ctl_on_input(dd_ctl_t *self);
bool dd_ctl_is_ready(const dd_ctl_t *self, const char *process);
/* Forget that process was ready (it is being started again under the same name). */
void dd_ctl_forget(dd_ctl_t *self, const char *process);
/* Step loop until process is ready or timeout_us passes: 0 or DD_ETIMEDOUT. */
int dd_ctl_wait_ready(dd_ctl_t *self, dd_loop_t *loop, const char *process, uint64_t timeout_us);

/* Send a command (kind: "stop", "set", "action", "ping"); returns the command id (> 0). */
int64_t dd_ctl_send(dd_ctl_t *self, const char *process, const char *kind, const char *key,
                    const char *value, const char *args_json);
/* Send and step loop until the result arrives or timeout_us passes. */
int dd_ctl_call(dd_ctl_t *self, dd_loop_t *loop, const char *process, const char *kind,
                const char *key, const char *args_json, uint64_t timeout_us,
                dd_ctl_result_t *res);

#endif
