/* dd_tester: a UDS/OBD tester channel to one ECU on a live CAN port: the sans-I/O UDS client
 * (P2/P2*, 0x78, TesterPresent) joined to an ISO-TP channel and the loop's timers. Requests are
 * asynchronous (a callback gets the result); dd_tester_call waits for one by stepping the loop,
 * for sequential code such as tests and scripted sequences. */
#ifndef DD_TESTER_H
#define DD_TESTER_H

#include "dd_canmux.h"
#include "dd_isotp.h"
#include "dd_uds_client.h"

typedef struct dd_tester dd_tester_t;
typedef void (*dd_tester_fn)(dd_tester_t *t, const dd_uds_result_t *res, void *arg);

/* isotp: tx_id = the ECU's request id, rx_id = its response id, func_tx_id = functional id. */
int dd_tester_new(dd_canmux_t *mux, const dd_isotp_cfg_t *isotp, const dd_uds_client_cfg_t *uds,
                  dd_tester_t **out);
void dd_tester_destroy(dd_tester_t **self_p);

/* Start a request; fn gets each result (functional requests may give several). 0 or DD_EBUSY,
 * DD_EINVAL, DD_EMSGSIZE. */
int dd_tester_request(dd_tester_t *self, const uint8_t *req, size_t len, bool functional,
                      dd_tester_fn fn, void *arg);

/* Send and wait (stepping the loop) for the final result, at most timeout_us. Returns the
 * result status (0, DD_EUDS_NRC with *nrc, DD_EUDS_TIMEOUT_*, ...), or DD_ETIMEDOUT.
 * The response goes to resp (cap bytes; *resp_len). */
int dd_tester_call(dd_tester_t *self, const uint8_t *req, size_t len, bool functional,
                   uint64_t timeout_us, uint8_t *resp, size_t cap, size_t *resp_len,
                   uint8_t *nrc);

/* Start P2client only when the port's echo shows the request's last frame has left the bus
 * (needs a port opened with loopback). Without it the request counts as sent once ISO-TP has
 * handed its last frame to the port, which for long requests over a slow bus starts P2 early. */
void dd_tester_confirm_by_echo(dd_tester_t *self, bool on);

dd_uds_client_t *dd_tester_client(dd_tester_t *self);
bool dd_tester_busy(const dd_tester_t *self);

#endif
