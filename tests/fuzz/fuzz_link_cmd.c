/* fuzz_link_cmd: the netem link command parser (text from the harness, i.e. outside input).
 * Input: one selector byte, then the command's JSON arguments. The selector picks the action
 * as byte % 7 in the order set, ramp, outage, restore, counters, get, reset ('1' = set,
 * '2' = ramp, '3' = outage); '#' instead means "the action name is the text up to the first
 * newline". Whatever parses must apply to both kinds of link as valid core parameters, and the
 * parameters written back as JSON must parse and apply to the same values. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dd_err.h"
#include "dd_fuzz.h"
#include "dd_link_cmd.h"

static const char *const s_actions[] = {"set",      "ramp", "outage", "restore",
                                        "counters", "get",  "reset"};

static void s_check_err(const char *err, int rc) {
  size_t n = strnlen(err, DD_LINK_ERR_MAX);
  if (n == 0 || n >= DD_LINK_ERR_MAX) abort();       /* always a message, always terminated */
  if (rc == DD_EINVAL && strchr(err, '\n')) abort(); /* one line */
}

static bool s_near(double a, double b, double tol) { return fabs(a - b) <= tol; }

/* Parameters written as JSON must come back as the same values. */
static void s_round_trip(const dd_netem_params_t *p, dd_netem_kind_t kind) {
  char *json = dd_link_params_json(p);
  if (!json) return; /* out of memory */
  dd_link_cmd_t c;
  char err[DD_LINK_ERR_MAX];
  if (dd_link_cmd_parse("set", json, strlen(json), &c, err, sizeof err) != 0) abort();
  dd_netem_params_t q;
  dd_netem_params_init(&q);
  if (dd_link_cmd_apply(&c, kind, &q, err, sizeof err) != 0) abort();
  free(json);
  if (llabs((long long)q.delay_us - (long long)p->delay_us) > 1) abort();
  if (llabs((long long)q.jitter_us - (long long)p->jitter_us) > 1) abort();
  if (q.dist != p->dist || q.reorder_gap != p->reorder_gap) abort();
  if (q.loss.model != p->loss.model) abort();
  if (llabs((long long)q.rate - (long long)p->rate) > 1) abort();
  if (!s_near(q.delay_corr, p->delay_corr, 1e-9) || !s_near(q.dup, p->dup, 1e-9) ||
      !s_near(q.corrupt, p->corrupt, 1e-9) || !s_near(q.reorder, p->reorder, 1e-9))
    abort();
  if (dd_netem_params_check(&q) != 0) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0) return 0;
  char name[40];
  const char *action;
  const char *json = (const char *)data + 1;
  size_t len = size - 1;
  if (data[0] == '#') {
    const char *nl = memchr(json, '\n', len);
    size_t n = nl ? (size_t)(nl - json) : len;
    if (n >= sizeof name) n = sizeof name - 1;
    memcpy(name, json, n);
    name[n] = 0;
    action = name;
    if (nl) {
      len -= (size_t)(nl - json) + 1;
      json = nl + 1;
    } else {
      len = 0;
    }
  } else {
    action = s_actions[data[0] % 7];
  }
  dd_link_cmd_t c;
  char err[DD_LINK_ERR_MAX];
  int rc = dd_link_cmd_parse(action, json, len, &c, err, sizeof err);
  if (rc != 0) {
    if (rc != DD_EINVAL && rc != DD_ENOMEM) abort();
    s_check_err(err, rc);
    return 0;
  }
  if ((c.dirs & ~(unsigned)DD_LINK_BOTH) || !c.dirs) abort();
  if (c.action != DD_LINK_CMD_SET) return 0;
  for (int k = 0; k < 2; k++) {
    dd_netem_kind_t kind = k ? DD_NETEM_DATAGRAM : DD_NETEM_STREAM;
    dd_netem_params_t p, before;
    dd_netem_params_init(&p);
    before = p;
    rc = dd_link_cmd_apply(&c, kind, &p, err, sizeof err);
    if (rc != 0) {
      s_check_err(err, rc);
      if (memcmp(&p, &before, sizeof p) != 0) abort(); /* refused: nothing changed */
      continue;
    }
    if (dd_netem_params_check(&p) != 0) abort();
    s_round_trip(&p, kind);
  }
  return 0;
}
