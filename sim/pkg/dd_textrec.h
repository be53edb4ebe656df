/* dd_textrec: what the Intel HEX and S-record readers share: the reading position used in
 * their "FILE:LINE: what is wrong" messages, and hex digit helpers. */
#ifndef DD_TEXTREC_H
#define DD_TEXTREC_H

#include <stddef.h>

typedef struct {
  const char *name;   /* input name for messages */
  char *why;          /* message buffer or NULL */
  size_t why_size;    /* its size */
  unsigned long line; /* 1-based number of the line being read (0: no line) */
} dd_textrec_ctx_t;

/* Write "NAME:LINE: message" (or "NAME: message") to c->why and return rc. */
__attribute__((format(printf, 3, 4))) int dd_textrec_fail(const dd_textrec_ctx_t *c, int rc,
                                                          const char *fmt, ...);
/* Value of a hex digit, or -1. */
int dd_textrec_hexval(char ch);
/* Describe a byte for a message: 'x' when printable, else "byte 0xNN". */
void dd_textrec_show(char ch, char *buf, size_t size);

#endif
