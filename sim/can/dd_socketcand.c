/* dd_socketcand: socketcand protocol elements and client sessions, without I/O. */
#include "dd_socketcand.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "dd_err.h"

#define S_MAX_TOKENS 80 /* fdsend: word, id, flags, length and 64 data bytes, with room */

/* linux/can.h canfd_frame.flags, carried as-is by < fdsend > and < fdframe >. */
#define S_CANFD_BRS 0x01
#define S_CANFD_ESI 0x02

typedef struct {
  const char *p; /* first character */
  size_t n;      /* length */
} s_tok_t;

static bool s_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static int s_hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* 1..max_digits hex digits, nothing else. The daemon reads these with sscanf %x / %hhx. */
static bool s_hex(const s_tok_t *t, size_t max_digits, uint32_t *out) {
  if (t->n == 0 || t->n > max_digits) return false;
  uint32_t v = 0;
  for (size_t i = 0; i < t->n; i++) {
    int d = s_hexval(t->p[i]);
    if (d < 0) return false;
    v = v << 4 | (uint32_t)d;
  }
  *out = v;
  return true;
}

/* 1..3 decimal digits (the daemon reads lengths with %hhu). */
static bool s_dec(const s_tok_t *t, uint32_t *out) {
  if (t->n == 0 || t->n > 3) return false;
  uint32_t v = 0;
  for (size_t i = 0; i < t->n; i++) {
    if (t->p[i] < '0' || t->p[i] > '9') return false;
    v = v * 10 + (uint32_t)(t->p[i] - '0');
  }
  *out = v;
  return true;
}

static bool s_is(const s_tok_t *t, const char *word) {
  size_t n = strlen(word);
  return t->n == n && memcmp(t->p, word, n) == 0;
}

/* The identifier of < send > / < fdsend >: hex, at most 29 bits. The daemon sets CAN_EFF_FLAG
 * when the field has exactly 8 digits (state_raw.c, element_length(buf, 2) == 8). An identifier
 * above 0x7FF written with fewer digits cannot be a base identifier, so it is taken as extended
 * too (python-can 4.1 writes extended identifiers without leading zeros). */
static int s_parse_id(const s_tok_t *t, dd_can_frame_t *f, const char **why) {
  uint32_t id;
  if (!s_hex(t, 8, &id)) {
    *why = "identifier is not 1 to 8 hex digits";
    return DD_EILSEQ;
  }
  if (id > DD_CAN_EFF_MASK) {
    *why = "identifier above 1FFFFFFF";
    return DD_EILSEQ;
  }
  f->id = id;
  if (t->n == 8 || id > DD_CAN_SFF_MASK) f->flags |= DD_CAN_F_EFF;
  return 0;
}

/* count data bytes from toks, each 1 or 2 hex digits (%hhx in the daemon). */
static int s_parse_data(const s_tok_t *toks, size_t count, dd_can_frame_t *f, const char **why) {
  for (size_t i = 0; i < count; i++) {
    uint32_t b;
    if (!s_hex(&toks[i], 2, &b)) {
      *why = "data byte is not 1 or 2 hex digits";
      return DD_EILSEQ;
    }
    f->data[i] = (uint8_t)b;
  }
  return 0;
}

/* < send ID LEN B0 .. B(LEN-1) >: state_raw.c reads LEN with %hhu, requires LEN <= 8 and exactly
 * LEN bytes. */
static int s_parse_send(const s_tok_t *tok, size_t nt, dd_can_frame_t *f, const char **why) {
  if (nt < 3) {
    *why = "send needs an identifier and a length";
    return DD_EILSEQ;
  }
  int rc = s_parse_id(&tok[1], f, why);
  if (rc < 0) return rc;
  uint32_t len;
  if (!s_dec(&tok[2], &len)) {
    *why = "send length is not a decimal number";
    return DD_EILSEQ;
  }
  if (len > DD_CAN_MAX_DLEN) {
    *why = "send length above 8";
    return DD_EILSEQ;
  }
  if (nt - 3 != len) {
    *why = "send byte count differs from its length";
    return DD_EILSEQ;
  }
  f->len = (uint8_t)len;
  return s_parse_data(&tok[3], len, f, why);
}

/* < fdsend ID FLAGS LEN B0 .. >: state_raw.c reads FLAGS with %hhx into canfd_frame.flags and
 * LEN with %hhu, up to 64 bytes. A length between the CAN FD steps is rounded up to the next
 * step, the added bytes zero, as a controller would send it (ISO 11898-1:2015 10.4.2.4 table 5;
 * the kernel's can_fd_len2dlc rounds the same way). */
static int s_parse_fdsend(const s_tok_t *tok, size_t nt, dd_can_frame_t *f, const char **why) {
  if (nt < 4) {
    *why = "fdsend needs an identifier, flags and a length";
    return DD_EILSEQ;
  }
  int rc = s_parse_id(&tok[1], f, why);
  if (rc < 0) return rc;
  uint32_t flags, len;
  if (!s_hex(&tok[2], 2, &flags)) {
    *why = "fdsend flags are not 1 or 2 hex digits";
    return DD_EILSEQ;
  }
  if (!s_dec(&tok[3], &len)) {
    *why = "fdsend length is not a decimal number";
    return DD_EILSEQ;
  }
  if (len > DD_CANFD_MAX_DLEN) {
    *why = "fdsend length above 64";
    return DD_EILSEQ;
  }
  if (nt - 4 != len) {
    *why = "fdsend byte count differs from its length";
    return DD_EILSEQ;
  }
  f->flags |= DD_CAN_F_FD;
  if (flags & S_CANFD_BRS) f->flags |= DD_CAN_F_BRS;
  if (flags & S_CANFD_ESI) f->flags |= DD_CAN_F_ESI;
  rc = s_parse_data(&tok[4], len, f, why);
  if (rc < 0) return rc;
  f->len = dd_can_fd_len((uint8_t)len); /* data was zeroed by the caller */
  return 0;
}

/* Commands of the protocol (doc/protocol.md: BCM, CONTROL and ISO-TP modes) that this server
 * recognises but does not serve. */
static const char *const s_unserved[] = {"add",        "update",    "delete",    "sendrtr",
                                         "filter",     "muxfilter", "subscribe", "unsubscribe",
                                         "statistics", "isotpconf", "sendpdu"};

int dd_socketcand_parse(const char *elem, size_t len, dd_socketcand_cmd_t *cmd, const char **why) {
  assert(elem && cmd);
  const char *dummy;
  if (!why) why = &dummy;
  *why = "";
  memset(cmd, 0, sizeof *cmd);
  if (len < 2 || elem[0] != '<' || elem[len - 1] != '>') {
    *why = "element is not enclosed in angle brackets";
    return DD_EILSEQ;
  }
  s_tok_t tok[S_MAX_TOKENS];
  size_t nt = 0;
  for (size_t i = 1; i < len - 1;) {
    if (s_space(elem[i])) {
      i++;
      continue;
    }
    size_t j = i;
    while (j < len - 1 && !s_space(elem[j]))
      j++;
    if (nt == S_MAX_TOKENS) {
      *why = "too many fields";
      return DD_EILSEQ;
    }
    tok[nt++] = (s_tok_t){elem + i, j - i};
    i = j;
  }
  if (nt == 0) {
    *why = "empty element";
    return DD_EILSEQ;
  }
  for (size_t i = 0; i < nt; i++)
    for (size_t k = 0; k < tok[i].n; k++)
      if (tok[i].p[k] == '<' || tok[i].p[k] == '>' || (unsigned char)tok[i].p[k] < 0x20 ||
          (unsigned char)tok[i].p[k] > 0x7e) {
        *why = "element holds a stray angle bracket or a non-printable byte";
        return DD_EILSEQ;
      }
  size_t wn = tok[0].n < sizeof cmd->word - 1 ? tok[0].n : sizeof cmd->word - 1;
  memcpy(cmd->word, tok[0].p, wn);

  static const struct {
    const char *word;              /* command */
    dd_socketcand_cmd_kind_t kind; /* its kind */
  } s_plain[] = {{"rawmode", DD_SOCKETCAND_CMD_RAWMODE},
                 {"bcmmode", DD_SOCKETCAND_CMD_BCMMODE},
                 {"controlmode", DD_SOCKETCAND_CMD_CONTROLMODE},
                 {"isotpmode", DD_SOCKETCAND_CMD_ISOTPMODE},
                 {"echo", DD_SOCKETCAND_CMD_ECHO}};
  for (size_t i = 0; i < sizeof s_plain / sizeof s_plain[0]; i++) {
    if (!s_is(&tok[0], s_plain[i].word)) continue;
    if (nt != 1) {
      *why = "this command takes no arguments";
      return DD_EILSEQ;
    }
    cmd->kind = s_plain[i].kind;
    return 0;
  }
  if (s_is(&tok[0], "open")) {
    if (nt != 2) {
      *why = "open takes one bus name";
      return DD_EILSEQ;
    }
    cmd->kind = DD_SOCKETCAND_CMD_OPEN;
    /* A longer name is no bus of ours; keep it recognisably too long (cut, but not equal). */
    size_t n = tok[1].n < sizeof cmd->bus - 1 ? tok[1].n : sizeof cmd->bus - 1;
    memcpy(cmd->bus, tok[1].p, n);
    if (tok[1].n >= sizeof cmd->bus) cmd->bus[0] = '\0';
    return 0;
  }
  if (s_is(&tok[0], "send")) {
    cmd->kind = DD_SOCKETCAND_CMD_SEND;
    return s_parse_send(tok, nt, &cmd->frame, why);
  }
  if (s_is(&tok[0], "fdsend")) {
    cmd->kind = DD_SOCKETCAND_CMD_FDSEND;
    return s_parse_fdsend(tok, nt, &cmd->frame, why);
  }
  for (size_t i = 0; i < sizeof s_unserved / sizeof s_unserved[0]; i++)
    if (s_is(&tok[0], s_unserved[i])) {
      cmd->kind = DD_SOCKETCAND_CMD_UNSERVED;
      return 0;
    }
  /* NO_BUS mode bit timing / control mode: < can0 B ... > and < can0 C ... > (protocol.md). */
  if (nt >= 2 && (s_is(&tok[1], "B") || s_is(&tok[1], "C"))) {
    cmd->kind = DD_SOCKETCAND_CMD_UNSERVED;
    return 0;
  }
  *why = "unknown command";
  return DD_ENOTSUP;
}

/* The identifier as the daemon prints it: "%03X" for a base one, "%08X" for an extended one. */
static void s_id(const dd_can_frame_t *f, char *buf, size_t cap) {
  if (f->flags & DD_CAN_F_EFF)
    snprintf(buf, cap, "%08X", (unsigned)f->id);
  else
    snprintf(buf, cap, "%03X", (unsigned)f->id);
}

/* "SEC.USEC" as the daemon prints a struct timeval (%ld.%06ld). */
static int s_stamp(uint64_t wall_us, char *buf, size_t size) {
  return snprintf(buf, size, "%llu.%06llu", (unsigned long long)(wall_us / 1000000u),
                  (unsigned long long)(wall_us % 1000000u));
}

int dd_socketcand_format_frame(const dd_can_frame_t *f, uint64_t wall_us, char *buf, size_t size) {
  assert(f && buf);
  if (!dd_can_frame_valid(f)) return DD_ECAN_FRAME;
  char ts[32];
  s_stamp(wall_us, ts, sizeof ts);
  int n;
  if (f->flags & DD_CAN_F_ERR) {
    /* state_raw.c: "< error %03X %ld.%06ld >" with the error class from can_id. */
    n = snprintf(buf, size, "< error %03X %s >", (unsigned)f->id, ts);
    return n < 0 || (size_t)n >= size ? DD_ENOSPC : n;
  }
  if (f->flags & DD_CAN_F_RTR) return DD_ENOTSUP;
  /* state_raw.c: "< frame %03X %ld.%06ld " (%08X for extended), or for a CAN FD frame
   * "< fdframe %03X %02X %ld.%06ld " with canfd_frame.flags, then the data as contiguous
   * "%02X" bytes, then " >". */
  char id[16];
  s_id(f, id, sizeof id);
  if (f->flags & DD_CAN_F_FD) {
    unsigned fl = ((f->flags & DD_CAN_F_BRS) ? S_CANFD_BRS : 0u) |
                  ((f->flags & DD_CAN_F_ESI) ? S_CANFD_ESI : 0u);
    n = snprintf(buf, size, "< fdframe %s %02X %s ", id, fl, ts);
  } else {
    n = snprintf(buf, size, "< frame %s %s ", id, ts);
  }
  if (n < 0 || (size_t)n + 2u * f->len + 3u > size) return DD_ENOSPC;
  static const char hex[] = "0123456789ABCDEF";
  size_t k = (size_t)n;
  for (unsigned i = 0; i < f->len; i++) {
    buf[k++] = hex[f->data[i] >> 4];
    buf[k++] = hex[f->data[i] & 0xF];
  }
  memcpy(buf + k, " >", 3);
  return (int)(k + 2);
}

int dd_socketcand_format_send(const dd_can_frame_t *f, char *buf, size_t size) {
  assert(f && buf);
  if (!dd_can_frame_valid(f)) return DD_ECAN_FRAME;
  if (f->flags & (DD_CAN_F_RTR | DD_CAN_F_ERR)) return DD_ENOTSUP;
  char id[16];
  s_id(f, id, sizeof id);
  int n;
  if (f->flags & DD_CAN_F_FD) {
    unsigned fl = ((f->flags & DD_CAN_F_BRS) ? S_CANFD_BRS : 0u) |
                  ((f->flags & DD_CAN_F_ESI) ? S_CANFD_ESI : 0u);
    n = snprintf(buf, size, "< fdsend %s %02X %u", id, fl, (unsigned)f->len);
  } else {
    n = snprintf(buf, size, "< send %s %u", id, (unsigned)f->len);
  }
  if (n < 0 || (size_t)n + 3u * f->len + 3u > size) return DD_ENOSPC;
  size_t k = (size_t)n;
  for (unsigned i = 0; i < f->len; i++)
    k += (size_t)snprintf(buf + k, 4, " %02X", f->data[i]);
  memcpy(buf + k, " >", 3);
  return (int)(k + 2);
}

/* ---- session ---- */

void dd_socketcand_session_init(dd_socketcand_session_t *s, const char *bus) {
  assert(s && bus);
  memset(s, 0, sizeof *s);
  s->mode = DD_SOCKETCAND_MODE_NO_BUS;
  snprintf(s->bus, sizeof s->bus, "%s", bus);
}

const char *dd_socketcand_greeting(void) { return "< hi >"; }

size_t dd_socketcand_session_feed(dd_socketcand_session_t *s, const char *data, size_t len) {
  assert(s && (data || !len));
  if (s->closed) return len; /* the connection is closing: input goes nowhere */
  size_t room = sizeof s->in - s->in_len;
  size_t n = len < room ? len : room;
  memcpy(s->in + s->in_len, data, n);
  s->in_len += n;
  return n;
}

bool dd_socketcand_session_raw(const dd_socketcand_session_t *s) {
  return s->mode == DD_SOCKETCAND_MODE_RAW;
}

static void s_reply(dd_socketcand_action_t *act, const char *text) {
  act->kind = DD_SOCKETCAND_ACT_REPLY;
  snprintf(act->text, sizeof act->text, "%s", text);
}

static void s_error(dd_socketcand_session_t *s, dd_socketcand_action_t *act, const char *what) {
  act->kind = DD_SOCKETCAND_ACT_REPLY;
  act->error = true;
  snprintf(act->text, sizeof act->text, "< error %s >", what);
  s->stats.errors++;
}

/* One complete element -> one action. */
static void s_handle(dd_socketcand_session_t *s, const char *elem, size_t len,
                     dd_socketcand_action_t *act) {
  dd_socketcand_cmd_t cmd;
  const char *why = "";
  int rc = dd_socketcand_parse(elem, len, &cmd, &why);
  if (rc == DD_ENOTSUP) {
    s_error(s, act, "unknown command"); /* the daemon's own reply */
    return;
  }
  if (rc < 0) {
    s_error(s, act, why);
    return;
  }
  if (s->mode == DD_SOCKETCAND_MODE_NO_BUS) {
    /* state_nobus.c: only < open > (and bus configuration) is understood before a bus is
     * open; a bus that is not offered closes the connection. */
    if (cmd.kind == DD_SOCKETCAND_CMD_OPEN) {
      if (strcmp(cmd.bus, s->bus) == 0) {
        s->mode = DD_SOCKETCAND_MODE_BCM;
        s_reply(act, "< ok >");
        act->opened = true;
      } else {
        s_error(s, act, "could not open bus");
        act->kind = DD_SOCKETCAND_ACT_CLOSE;
        s->closed = true;
      }
    } else if (cmd.kind == DD_SOCKETCAND_CMD_UNSERVED) {
      s_error(s, act, "bus configuration is not supported by this server");
    } else {
      s_error(s, act, "unknown command");
    }
    return;
  }
  switch (cmd.kind) {
  case DD_SOCKETCAND_CMD_RAWMODE:
    s->mode = DD_SOCKETCAND_MODE_RAW;
    s_reply(act, "< ok >");
    break;
  case DD_SOCKETCAND_CMD_BCMMODE:
    s->mode = DD_SOCKETCAND_MODE_BCM;
    s_reply(act, "< ok >");
    break;
  case DD_SOCKETCAND_CMD_ECHO:
    s_reply(act, "< echo >"); /* doc/protocol.md: "returns the same string" */
    break;
  case DD_SOCKETCAND_CMD_SEND:
  case DD_SOCKETCAND_CMD_FDSEND:
    act->kind = DD_SOCKETCAND_ACT_SEND;
    act->frame = cmd.frame;
    s->stats.sends++;
    break;
  case DD_SOCKETCAND_CMD_CONTROLMODE:
  case DD_SOCKETCAND_CMD_ISOTPMODE: s_error(s, act, "mode not supported by this server"); break;
  case DD_SOCKETCAND_CMD_UNSERVED: s_error(s, act, "command not supported by this server"); break;
  case DD_SOCKETCAND_CMD_OPEN:
    s_error(s, act, "unknown command"); /* a bus is already open */
    break;
  }
}

bool dd_socketcand_session_next(dd_socketcand_session_t *s, dd_socketcand_action_t *act) {
  assert(s && act);
  memset(act, 0, sizeof *act);
  if (s->closed) return false;
  /* socketcand.c receive_command: everything before the first '<' is dropped; an element ends
   * at the first '>' after it; without one, wait for more bytes. */
  char *lt = memchr(s->in, '<', s->in_len);
  if (!lt) {
    s->stats.junk += s->in_len;
    s->in_len = 0;
    return false;
  }
  size_t start = (size_t)(lt - s->in);
  if (start) {
    s->stats.junk += start;
    memmove(s->in, lt, s->in_len - start);
    s->in_len -= start;
  }
  char *gt = memchr(s->in + 1, '>', s->in_len - 1);
  if (!gt) {
    if (s->in_len < sizeof s->in) return false;
    s->stats.junk += s->in_len;
    s->in_len = 0;
    s_error(s, act, "element too long");
    return true;
  }
  size_t len = (size_t)(gt - s->in) + 1;
  s->stats.elements++;
  s_handle(s, s->in, len, act);
  memmove(s->in, s->in + len, s->in_len - len);
  s->in_len -= len;
  return true;
}
