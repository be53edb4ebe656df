/* dd_textrec: shared error reporting and hex digits of the HEX and S-record readers. */
#include "dd_textrec.h"

#include <stdarg.h>
#include <stdio.h>

int dd_textrec_fail(const dd_textrec_ctx_t *c, int rc, const char *fmt, ...) {
  if (!c->why || c->why_size == 0) return rc;
  int n = c->line ? snprintf(c->why, c->why_size, "%s:%lu: ", c->name, c->line)
                  : snprintf(c->why, c->why_size, "%s: ", c->name);
  if (n >= 0 && (size_t)n < c->why_size) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->why + n, c->why_size - (size_t)n, fmt, ap);
    va_end(ap);
  }
  return rc;
}

int dd_textrec_hexval(char ch) {
  if (ch >= '0' && ch <= '9') return ch - '0';
  if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
  if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
  return -1;
}

void dd_textrec_show(char ch, char *buf, size_t size) {
  unsigned char u = (unsigned char)ch;
  if (u >= 0x20 && u < 0x7F && u != '\'')
    snprintf(buf, size, "'%c'", ch);
  else
    snprintf(buf, size, "byte 0x%02X", u);
}
