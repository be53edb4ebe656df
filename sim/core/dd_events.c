/* dd_events: builds Event envelopes, publishes them on an XPUB socket (holding them until the
 * collector has subscribed) and optionally appends them to a JSON Lines file. */
#include "dd_events.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "dd_err.h"
#include "dd_log.h"
#include "dd_wire.h"
#include "duodiag.pb-c.h"

/* protobuf-c does not pack a oneof string whose pointer is the schema's default value
 * (protobuf_c_empty_string, which decoded messages use for ""), so the receiver would see the
 * value as unset. An empty string value is therefore always given as this distinct array. */
static char s_empty_value[1];

typedef struct {
  uint8_t *data; /* encoded envelope */
  size_t len;    /* its length */
} s_held_t;

struct dd_events {
  char proc[64];           /* process id */
  dd_clock_t *clock;       /* time source, not owned */
  void *pub;               /* XPUB socket, or NULL */
  bool subscribed;         /* the collector's subscription has arrived */
  s_held_t *held;          /* events waiting for the subscription */
  size_t n_held, cap_held; /* fill and size of held */
  FILE *file;              /* JSON Lines copy, or NULL */
  bool echo;               /* log each event at debug level */
  uint64_t seq;            /* envelope sequence */
  uint64_t count;          /* events emitted */
};

int dd_events_new(void *zctx, const char *proc, dd_clock_t *clock, const char *endpoint,
                  dd_events_t **out) {
  assert(proc && clock && out);
  dd_events_t *self = calloc(1, sizeof *self);
  if (!self) return DD_ENOMEM;
  snprintf(self->proc, sizeof self->proc, "%s", proc);
  self->clock = clock;
  if (endpoint) {
    assert(zctx);
    self->pub = zmq_socket(zctx, ZMQ_XPUB);
    int zero = 0, linger = 5000;
    /* No high-water mark: a slow collector makes us buffer, never drop. */
    zmq_setsockopt(self->pub, ZMQ_SNDHWM, &zero, sizeof zero);
    zmq_setsockopt(self->pub, ZMQ_LINGER, &linger, sizeof linger);
    if (!self->pub || zmq_connect(self->pub, endpoint) != 0) {
      int rc = -errno;
      dd_error("events: cannot connect to collector %s: %s", endpoint, zmq_strerror(errno));
      dd_events_destroy(&self);
      return rc;
    }
  }
  *out = self;
  return 0;
}

void dd_events_destroy(dd_events_t **self_p) {
  assert(self_p);
  dd_events_t *self = *self_p;
  if (!self) return;
  if (self->pub && self->n_held)
    dd_warn("events: %zu event(s) never reached the collector (no subscription)", self->n_held);
  for (size_t i = 0; i < self->n_held; i++) free(self->held[i].data);
  free(self->held);
  if (self->pub) zmq_close(self->pub);
  if (self->file) fclose(self->file);
  free(self);
  *self_p = NULL;
}

int dd_events_open_file(dd_events_t *self, const char *path) {
  FILE *f = fopen(path, "a");
  if (!f) {
    int rc = -errno;
    dd_error("events: cannot open timeline %s: %s", path, strerror(errno));
    return rc;
  }
  if (self->file) fclose(self->file);
  self->file = f;
  return 0;
}

void dd_events_set_echo(dd_events_t *self, bool echo) { self->echo = echo; }
void *dd_events_zsock(dd_events_t *self) { return self->pub; }
bool dd_events_connected(const dd_events_t *self) { return self->subscribed; }
uint64_t dd_events_count(const dd_events_t *self) { return self->count; }
size_t dd_events_backlog(const dd_events_t *self) { return self->n_held; }

static int s_send_raw(dd_events_t *self, const uint8_t *data, size_t len) {
  if (zmq_send(self->pub, data, len, 0) < 0) return -errno;
  return 0;
}

bool dd_events_on_input(dd_events_t *self) {
  uint8_t msg[256];
  int n;
  /* XPUB delivers subscriptions as messages: byte 1 = subscribe, 0 = unsubscribe. */
  while ((n = zmq_recv(self->pub, msg, sizeof msg, ZMQ_DONTWAIT)) >= 0)
    if (n >= 1 && msg[0] == 1) self->subscribed = true;
  if (self->subscribed && self->n_held) {
    for (size_t i = 0; i < self->n_held; i++) {
      s_send_raw(self, self->held[i].data, self->held[i].len);
      free(self->held[i].data);
    }
    self->n_held = 0;
  }
  return self->subscribed;
}

static int s_hold(dd_events_t *self, const uint8_t *data, size_t len) {
  if (self->n_held == self->cap_held) {
    size_t cap = self->cap_held ? self->cap_held * 2 : 64;
    s_held_t *h = realloc(self->held, cap * sizeof *h);
    if (!h) return DD_ENOMEM;
    self->held = h;
    self->cap_held = cap;
  }
  uint8_t *copy = malloc(len ? len : 1);
  if (!copy) return DD_ENOMEM;
  memcpy(copy, data, len);
  self->held[self->n_held++] = (s_held_t){copy, len};
  return 0;
}

int dd_events_emitv(dd_events_t *self, const char *kind, const dd_field_t *fields, size_t n) {
  assert(self && kind);
  if (n > DD_EVENTS_MAX_FIELDS) n = DD_EVENTS_MAX_FIELDS;
  Duodiag__Field fv[DD_EVENTS_MAX_FIELDS];
  Duodiag__Field *fp[DD_EVENTS_MAX_FIELDS];
  for (size_t i = 0; i < n; i++) {
    duodiag__field__init(&fv[i]);
    fv[i].key = (char *)fields[i].key;
    switch (fields[i].type) {
    case DD_FT_INT:
      fv[i].value_case = DUODIAG__FIELD__VALUE_INT_VALUE;
      fv[i].int_value = fields[i].i;
      break;
    case DD_FT_DBL:
      fv[i].value_case = DUODIAG__FIELD__VALUE_DOUBLE_VALUE;
      fv[i].double_value = fields[i].d;
      break;
    case DD_FT_STR:
      fv[i].value_case = DUODIAG__FIELD__VALUE_STRING_VALUE;
      fv[i].string_value = fields[i].s && fields[i].s[0] ? (char *)fields[i].s : s_empty_value;
      break;
    case DD_FT_BOOL:
      fv[i].value_case = DUODIAG__FIELD__VALUE_BOOL_VALUE;
      fv[i].bool_value = fields[i].b;
      break;
    case DD_FT_END:
      assert(!"DD_END inside the field array");
      break;
    }
    fp[i] = &fv[i];
  }
  Duodiag__Event ev = DUODIAG__EVENT__INIT;
  ev.mono_us = dd_clock_now_us(self->clock);
  ev.wall_us = (int64_t)dd_clock_wall_us(self->clock);
  ev.process = self->proc;
  ev.kind = (char *)kind;
  ev.n_fields = n;
  ev.fields = fp;
  self->count++;

  if (self->file || self->echo) {
    char *json = NULL;
    if (dd_wire_event_to_json(&ev, &json) == 0) {
      if (self->file) {
        fputs(json, self->file);
        fputc('\n', self->file);
        fflush(self->file);
      }
      if (self->echo) dd_debug("event %s", json);
      free(json);
    }
  }
  if (!self->pub) return 0;

  Duodiag__Envelope env;
  dd_wire_envelope_init(&env, self->proc, ++self->seq, ev.mono_us);
  env.body_case = DUODIAG__ENVELOPE__BODY_EVENT;
  env.event = &ev;
  uint8_t buf[8192];
  size_t len = 0;
  int rc = dd_wire_encode(&env, buf, sizeof buf, &len);
  if (rc < 0) {
    dd_warn("events: cannot encode %s: %s", kind, dd_strerror(rc));
    return rc;
  }
  if (!self->subscribed) return s_hold(self, buf, len);
  return s_send_raw(self, buf, len);
}

int dd_events_emit(dd_events_t *self, const char *kind, ...) {
  dd_field_t fields[DD_EVENTS_MAX_FIELDS];
  size_t n = 0;
  va_list ap;
  va_start(ap, kind);
  for (;;) {
    dd_field_t f = va_arg(ap, dd_field_t);
    if (f.type == DD_FT_END) break;
    if (n < DD_EVENTS_MAX_FIELDS) fields[n++] = f;
  }
  va_end(ap);
  return dd_events_emitv(self, kind, fields, n);
}
