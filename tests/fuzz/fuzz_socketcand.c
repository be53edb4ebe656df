/* fuzz_socketcand: client input through the socketcand element parser and a whole session.
 * Whatever parses as a frame must be valid and survive format -> parse unchanged; every reply is
 * one well-formed element; the session always makes progress and never holds more than its
 * buffer. */
#include <stdlib.h>
#include <string.h>

#include "dd_can.h"
#include "dd_err.h"
#include "dd_fuzz.h"
#include "dd_socketcand.h"

static void s_check_frame(const dd_can_frame_t *f) {
  if (!dd_can_frame_valid(f)) abort();
  char text[DD_SOCKETCAND_TEXT_MAX];
  int n = dd_socketcand_format_send(f, text, sizeof text);
  if (n <= 0 || (size_t)n >= sizeof text) abort();
  dd_socketcand_cmd_t again;
  if (dd_socketcand_parse(text, (size_t)n, &again, NULL) != 0) abort();
  if (!dd_can_frame_equal(f, &again.frame)) abort();
  n = dd_socketcand_format_frame(f, 1234567890123456ull, text, sizeof text);
  if (n <= 0 || (size_t)n >= sizeof text || text[0] != '<' || text[n - 1] != '>') abort();
}

/* A reply is "< ... >" with nothing inside that could end it early. */
static void s_check_reply(const char *text) {
  size_t n = strlen(text);
  if (n < 4 || n >= DD_SOCKETCAND_TEXT_MAX || text[0] != '<' || text[n - 1] != '>') abort();
  if (memchr(text + 1, '<', n - 2) || memchr(text + 1, '>', n - 2)) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *s = (const char *)data;

  /* The whole input as one element. */
  dd_socketcand_cmd_t cmd;
  const char *why = NULL;
  int rc = dd_socketcand_parse(s, size, &cmd, &why);
  if (rc == 0) {
    if (cmd.kind == DD_SOCKETCAND_CMD_SEND || cmd.kind == DD_SOCKETCAND_CMD_FDSEND)
      s_check_frame(&cmd.frame);
  } else if (rc != DD_EILSEQ && rc != DD_ENOTSUP) {
    abort();
  } else if (!why || memchr(why, '<', strlen(why)) || memchr(why, '>', strlen(why))) {
    abort();
  }

  /* The input as a stream, in chunks whose sizes come from the input itself. */
  dd_socketcand_session_t sess;
  dd_socketcand_session_init(&sess, "vbus0");
  size_t pos = 0;
  unsigned actions = 0;
  while (pos < size) {
    size_t chunk = 1 + (unsigned char)s[pos] % 97;
    if (chunk > size - pos) chunk = size - pos;
    size_t end = pos + chunk;
    while (pos < end) {
      size_t took = dd_socketcand_session_feed(&sess, s + pos, end - pos);
      if (sess.in_len > sizeof sess.in) abort();
      pos += took;
      dd_socketcand_action_t act;
      bool any = false;
      while (dd_socketcand_session_next(&sess, &act)) {
        any = true;
        if (++actions > 2 * size + 2) abort(); /* at most one action per element */
        if (act.kind == DD_SOCKETCAND_ACT_SEND) {
          if (sess.mode == DD_SOCKETCAND_MODE_NO_BUS) abort();
          s_check_frame(&act.frame);
        } else {
          s_check_reply(act.text);
          if (act.kind == DD_SOCKETCAND_ACT_CLOSE && !sess.closed) abort();
        }
      }
      if (!took && !any && !sess.closed) abort(); /* stuck: buffer full, nothing to take */
    }
  }
  return 0;
}
