/* dd_socketcand: the socketcand ASCII protocol (linux-can/socketcand, doc/protocol.md and the
 * daemon's src/state_nobus.c, src/state_raw.c, src/socketcand.c) as a sans-I/O core: it parses
 * the elements a client sends, formats the frames a client receives, and keeps one client's
 * session (mode NO_BUS -> BCM -> RAW). It never touches a socket; dd_socketcand_server does.
 *
 * What is spoken (client C, server S):
 *   S: < hi >                               on connect
 *   C: < open vbus0 >       S: < ok >       the configured bus name; any other name gets
 *                                           < error could not open bus > and the connection
 *                                           is closed (state_nobus.c)
 *   C: < rawmode >          S: < ok >       frames from the bus are forwarded from now on
 *   C: < bcmmode >          S: < ok >       back to BCM mode: no more frames forwarded
 *   C: < echo >             S: < echo >     liveness probe (BCM and RAW modes)
 *   C: < send ID LEN B0 B1 ... >            classic frame: ID hex, LEN decimal 0..8, bytes hex
 *   C: < fdsend ID FLAGS LEN B0 ... >       CAN FD frame: FLAGS hex (0x01 BRS, 0x02 ESI),
 *                                           LEN decimal 0..64
 *   S: < frame ID SEC.USEC HEXDATA >        a classic frame (RAW mode)
 *   S: < fdframe ID FLAGS SEC.USEC HEXDATA > a CAN FD frame (RAW mode)
 *   S: < error CLASS SEC.USEC >             an error frame, when asked for
 * Malformed or unsupported input gets "< error TEXT >" (the daemon's own unknown-command reply
 * is "< error unknown command >") and is counted; nothing a client sends ends the session except
 * opening a bus this server does not have. */
#ifndef DD_SOCKETCAND_H
#define DD_SOCKETCAND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dd_can.h"

/* The daemon's default TCP port (socketcand.h PORT). */
#define DD_SOCKETCAND_PORT 29536
/* Bus name bytes, NUL included: "at maximum 16 characters" (doc/protocol.md, Mode NO_BUS). */
#define DD_SOCKETCAND_BUS_MAX 17
/* Longest element accepted from a client, '<' to '>'. */
#define DD_SOCKETCAND_ELEMENT_MAX 1024
/* Longest element this module writes, NUL included. */
#define DD_SOCKETCAND_TEXT_MAX 256

/* ---- one element ---- */

typedef enum {
  DD_SOCKETCAND_CMD_OPEN,        /* < open BUS > */
  DD_SOCKETCAND_CMD_RAWMODE,     /* < rawmode > */
  DD_SOCKETCAND_CMD_BCMMODE,     /* < bcmmode > */
  DD_SOCKETCAND_CMD_CONTROLMODE, /* < controlmode > (not served) */
  DD_SOCKETCAND_CMD_ISOTPMODE,   /* < isotpmode > (not served) */
  DD_SOCKETCAND_CMD_ECHO,        /* < echo > */
  DD_SOCKETCAND_CMD_SEND,        /* < send ... >: a classic frame */
  DD_SOCKETCAND_CMD_FDSEND,      /* < fdsend ... >: a CAN FD frame */
  DD_SOCKETCAND_CMD_UNSERVED,    /* a command of the protocol this server does not serve (BCM
                                  * jobs and filters, statistics, ISO-TP, bit timing) */
} dd_socketcand_cmd_kind_t;

typedef struct {
  dd_socketcand_cmd_kind_t kind;   /* what the client asked */
  char bus[DD_SOCKETCAND_BUS_MAX]; /* OPEN: the bus name */
  dd_can_frame_t frame;            /* SEND/FDSEND: the frame (ts_us 0) */
  char word[16];                   /* the command word as sent (truncated), for messages */
} dd_socketcand_cmd_t;

/* Parse one element elem[0..len) that starts with '<' and ends with '>'. Returns 0 with *cmd,
 * DD_ENOTSUP for an unknown command word, or DD_EILSEQ for a malformed element; on an error
 * *why (if not NULL) points to a static text without '<' or '>' that says what was wrong. */
int dd_socketcand_parse(const char *elem, size_t len, dd_socketcand_cmd_t *cmd, const char **why);

/* Write the element a RAW-mode client receives for frame f stamped wall_us (microseconds since
 * the Unix epoch) into buf, NUL-terminated. Returns its length, DD_ENOTSUP for a remote frame
 * (the daemon does not forward those in RAW mode: state_raw.c leaves them "TODO"), DD_ECAN_FRAME
 * for an invalid frame, DD_ENOSPC when size is too small (DD_SOCKETCAND_TEXT_MAX always fits). */
int dd_socketcand_format_frame(const dd_can_frame_t *f, uint64_t wall_us, char *buf, size_t size);

/* Write "< send ... >" or "< fdsend ... >" for f, as a client writes it (the form the daemon's
 * parser reads and the daemon's own client socketcandcl writes). Same returns as above, remote
 * and error frames are DD_ENOTSUP. */
int dd_socketcand_format_send(const dd_can_frame_t *f, char *buf, size_t size);

/* ---- one client's session ---- */

typedef enum {
  DD_SOCKETCAND_MODE_NO_BUS, /* connected, no bus opened */
  DD_SOCKETCAND_MODE_BCM,    /* bus opened; frames can be sent, none are forwarded */
  DD_SOCKETCAND_MODE_RAW,    /* every frame on the bus is forwarded */
} dd_socketcand_mode_t;

typedef enum {
  DD_SOCKETCAND_ACT_REPLY, /* write text to the client */
  DD_SOCKETCAND_ACT_SEND,  /* put frame on the bus (nothing to write back) */
  DD_SOCKETCAND_ACT_CLOSE, /* write text, then close the connection */
} dd_socketcand_act_kind_t;

typedef struct {
  dd_socketcand_act_kind_t kind;     /* what the caller does */
  char text[DD_SOCKETCAND_TEXT_MAX]; /* REPLY/CLOSE: the element to write */
  dd_can_frame_t frame;              /* SEND: the frame */
  bool error;                        /* the reply is an error (malformed or unserved input) */
  bool opened;                       /* the reply confirms < open >: the client joined the bus */
} dd_socketcand_action_t;

typedef struct {
  uint64_t elements; /* complete elements taken */
  uint64_t errors;   /* elements answered with < error ... > */
  uint64_t sends;    /* frames the client sent */
  uint64_t junk;     /* bytes dropped outside elements (before '<', or in an overlong one) */
} dd_socketcand_session_stats_t;

/* Caller-allocated; one per connection. */
typedef struct {
  char in[DD_SOCKETCAND_ELEMENT_MAX];  /* bytes received, not yet taken */
  size_t in_len;                       /* bytes in `in` */
  dd_socketcand_mode_t mode;           /* where the session is */
  char bus[DD_SOCKETCAND_BUS_MAX];     /* the one bus name this server serves */
  bool closed;                         /* a CLOSE action was given: take no more input */
  dd_socketcand_session_stats_t stats; /* counters */
} dd_socketcand_session_t;

/* bus: the name clients must open (at most DD_SOCKETCAND_BUS_MAX - 1 bytes; longer names are
 * cut). */
void dd_socketcand_session_init(dd_socketcand_session_t *s, const char *bus);
/* The greeting the server writes first: "< hi >". */
const char *dd_socketcand_greeting(void);

/* Take received bytes; returns how many were taken (fewer than len when the buffer is full:
 * call dd_socketcand_session_next until it returns false, then feed the rest). */
size_t dd_socketcand_session_feed(dd_socketcand_session_t *s, const char *data, size_t len);
/* The next thing to do for the input taken so far; false when more input is needed. An
 * element longer than DD_SOCKETCAND_ELEMENT_MAX is dropped with an error reply. */
bool dd_socketcand_session_next(dd_socketcand_session_t *s, dd_socketcand_action_t *act);
/* True when frames from the bus go to this client (RAW mode). */
bool dd_socketcand_session_raw(const dd_socketcand_session_t *s);

#endif
