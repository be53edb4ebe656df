/* dd_err: message and name lookup for the error table in dd_err.h. */
#include "dd_err.h"

#include <string.h>

typedef struct {
  int code;         /* negative error value */
  const char *name; /* symbolic name */
  const char *msg;  /* human-readable text */
} s_entry_t;

static const s_entry_t s_table[] = {
#define DD_ERR_ROW(name, value, msg) {(value), #name, (msg)},
    DD_ERRORS(DD_ERR_ROW)
#undef DD_ERR_ROW
};

static const s_entry_t *s_find(int code) {
  for (size_t i = 0; i < sizeof s_table / sizeof s_table[0]; i++)
    if (s_table[i].code == code) return &s_table[i];
  return NULL;
}

const char *dd_strerror(int code) {
  if (code == 0) return "success";
  const s_entry_t *e = s_find(code);
  if (e) return e->msg;
  if (code < 0 && code > -4096) return strerror(-code);
  return "unknown error";
}

const char *dd_err_name(int code) {
  if (code == 0) return "DD_OK";
  const s_entry_t *e = s_find(code);
  return e ? e->name : "DD_UNKNOWN";
}

bool dd_err_known(int code) { return code == 0 || s_find(code) != NULL; }
