/* dd_wire: encode, checked decode and ZeroMQ framing of duodiag envelopes, and the JSON line
 * form of timeline events. */
#include "dd_wire.h"

#include <assert.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "dd_err.h"

/* The schema has no recursive message (a relayed envelope travels as bytes), so nesting is at
 * most Envelope > body > element > element; anything deeper is an error in the schema. */
#define S_DEPTH_MAX 8u
#define S_CAN_ID_MAX 0x1FFFFFFFu /* ISO 11898-1: the 29-bit extended identifier */

/* ---- reasons and statistics --------------------------------------------------------------- */

static const char *const s_reason_names[DD_WIRE_R__COUNT] = {
    [DD_WIRE_R_TOO_BIG] = "too_big",
    [DD_WIRE_R_BUDGET] = "budget",
    [DD_WIRE_R_UNPACK] = "unpack",
    [DD_WIRE_R_VERSION] = "version",
    [DD_WIRE_R_NO_BODY] = "no_body",
    [DD_WIRE_R_UNKNOWN_BODY] = "unknown_body",
    [DD_WIRE_R_STRING] = "string",
    [DD_WIRE_R_BYTES] = "bytes",
    [DD_WIRE_R_ENUM] = "enum",
    [DD_WIRE_R_NUMBER] = "number",
    [DD_WIRE_R_REPEATED] = "repeated",
    [DD_WIRE_R_MISSING] = "missing",
    [DD_WIRE_R_FORMAT] = "format",
    [DD_WIRE_R_CONSISTENCY] = "consistency",
    [DD_WIRE_R_FRAMING] = "framing",
    [DD_WIRE_R_CHECKSUM] = "checksum",
};

void dd_wire_stats_init(dd_wire_stats_t *stats) {
  assert(stats);
  memset(stats, 0, sizeof *stats);
  stats->last_reason = -1;
}

uint64_t dd_wire_stats_rejected(const dd_wire_stats_t *stats) {
  assert(stats);
  uint64_t sum = 0;
  for (int r = 0; r < DD_WIRE_R__COUNT; r++) sum += stats->rejected[r];
  return sum;
}

const char *dd_wire_reason_name(int reason) {
  if (reason < 0 || reason >= DD_WIRE_R__COUNT) return "?";
  return s_reason_names[reason];
}

/* The error code reported for a rejection reason. */
static int s_reason_code(dd_wire_reason_t why) {
  switch (why) {
  case DD_WIRE_R_TOO_BIG:
  case DD_WIRE_R_BUDGET:
    return DD_EWIRE_TOO_BIG;
  case DD_WIRE_R_VERSION:
    return DD_EWIRE_VERSION;
  case DD_WIRE_R_CHECKSUM:
    return DD_EWIRE_CHECKSUM;
  default:
    return DD_EWIRE_MALFORMED;
  }
}

static int s_reject(dd_wire_stats_t *stats, dd_wire_reason_t why) {
  if (stats) {
    stats->rejected[why]++;
    stats->last_reason = (int)why;
  }
  return s_reason_code(why);
}

/* ---- formats -------------------------------------------------------------------------------- */

/* Well-formed UTF-8 as defined by the UTF8-octets grammar of RFC 3629 section 4 (no overlong
 * forms, no surrogates, nothing above U+10FFFF); NUL bytes are refused too, because a C string
 * would silently end there. */
static bool s_utf8_ok(const uint8_t *p, size_t n) {
  size_t i = 0;
  while (i < n) {
    uint8_t c = p[i];
    if (c == 0x00) return false;
    if (c < 0x80) {
      i++;
      continue;
    }
    size_t tail;
    uint8_t lo = 0x80, hi = 0xBF; /* allowed range of the first continuation byte */
    if (c >= 0xC2 && c <= 0xDF) {
      tail = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
      tail = 2;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      tail = 3;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    } else {
      return false;
    }
    if (n - i - 1 < tail) return false;
    if (p[i + 1] < lo || p[i + 1] > hi) return false;
    for (size_t k = 2; k <= tail; k++)
      if (p[i + k] < 0x80 || p[i + k] > 0xBF) return false;
    i += tail + 1;
  }
  return true;
}

/* VIN: 17 characters, digits and capital letters except I, O and Q (ISO 3779; 49 CFR 565.15). */
bool dd_wire_vin_valid(const char *vin) {
  if (!vin) return false;
  size_t i = 0;
  for (; vin[i]; i++) {
    char c = vin[i];
    bool ok = (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z' && c != 'I' && c != 'O' && c != 'Q');
    if (!ok || i >= 17) return false;
  }
  return i == 17;
}

/* ISO 4217 alphabetic code: three capital letters. */
static bool s_currency_ok(const char *s) {
  for (int i = 0; i < 3; i++)
    if (s[i] < 'A' || s[i] > 'Z') return false;
  return s[3] == '\0';
}

/* ---- field rules ---------------------------------------------------------------------------- */

typedef enum {
  S_MAXLEN,    /* string/bytes length <= arg (replaces the default limit) */
  S_MAXCOUNT,  /* repeated count <= arg (replaces DD_WIRE_MAX_REPEATED) */
  S_NONEMPTY,  /* string/bytes non-empty, message present */
  S_VIN,       /* string empty or a valid VIN */
  S_CURRENCY,  /* string empty or an ISO 4217 alphabetic code */
  S_EXACTLEN,  /* bytes length == arg */
  S_EXACT_OR_EMPTY, /* bytes length == arg or 0 */
  S_ENUM_SET,  /* enum not the unspecified zero */
  S_UMAX,      /* unsigned <= arg */
  S_UMIN,      /* unsigned >= arg */
  S_INONNEG,   /* signed >= 0 */
  S_IPOS,      /* signed > 0 */
  S_RATE,      /* double in [0, DD_WIRE_MAX_RATE_HZ] */
} s_rule_kind_t;

typedef struct {
  const ProtobufCMessageDescriptor *msg; /* message the field belongs to */
  const char *field;                     /* field name in the schema */
  s_rule_kind_t kind;                    /* what is checked */
  uint64_t arg;                          /* limit for the kinds that take one */
} s_rule_t;

/* Every rule a receiver relies on beyond the generic ones (bounded strings/bytes/counts, valid
 * UTF-8, known enum numbers, finite doubles), by message and field. */
static const s_rule_t s_rules[] = {
    {&duodiag__envelope__descriptor, "sender", S_NONEMPTY, 0},
    /* registry */
    {&duodiag__vin_query__descriptor, "vin", S_NONEMPTY, 0},
    {&duodiag__vin_query__descriptor, "vin", S_VIN, 0},
    {&duodiag__vin_info__descriptor, "vin", S_VIN, 0},
    {&duodiag__ecu_info__descriptor, "request_can_id", S_UMAX, S_CAN_ID_MAX},
    {&duodiag__ecu_info__descriptor, "response_can_id", S_UMAX, S_CAN_ID_MAX},
    {&duodiag__dtc_text__descriptor, "dtc", S_UMAX, 0xFFFFFF},
    {&duodiag__ecu_info__descriptor, "ecu_address", S_UMAX, 0xFF},
    {&duodiag__ecu_info__descriptor, "tester_address", S_UMAX, 0xFF},
    {&duodiag__ecu_info__descriptor, "functional_address", S_UMAX, 0xFF},
    /* terminals */
    {&duodiag__terminal_info__descriptor, "terminal_id", S_NONEMPTY, 0},
    {&duodiag__terminal_info__descriptor, "fee_minor", S_INONNEG, 0},
    {&duodiag__terminal_info__descriptor, "currency", S_CURRENCY, 0},
    {&duodiag__terminal_info__descriptor, "rating_x10", S_UMAX, 50},
    {&duodiag__presence__descriptor, "terminal_id", S_NONEMPTY, 0},
    /* session window */
    {&duodiag__session_open__descriptor, "session_id", S_NONEMPTY, 0},
    {&duodiag__session_open__descriptor, "terminal_id", S_NONEMPTY, 0},
    {&duodiag__session_open__descriptor, "owner_id", S_NONEMPTY, 0},
    {&duodiag__session_open__descriptor, "vin", S_VIN, 0},
    {&duodiag__session_message__descriptor, "session_id", S_NONEMPTY, 0},
    {&duodiag__session_message__descriptor, "kind", S_ENUM_SET, 0},
    {&duodiag__session_message__descriptor, "payload", S_MAXLEN, DD_WIRE_MAX_CHUNK},
    {&duodiag__session_close__descriptor, "session_id", S_NONEMPTY, 0},
    {&duodiag__im_request__descriptor, "session_id", S_NONEMPTY, 0},
    {&duodiag__im_request__descriptor, "media", S_ENUM_SET, 0},
    {&duodiag__im_answer__descriptor, "session_id", S_NONEMPTY, 0},
    /* order and payment */
    {&duodiag__order__descriptor, "order_id", S_NONEMPTY, 0},
    {&duodiag__order__descriptor, "session_id", S_NONEMPTY, 0},
    {&duodiag__order__descriptor, "merchant", S_NONEMPTY, 0},
    {&duodiag__order__descriptor, "fee_minor", S_INONNEG, 0},
    {&duodiag__order__descriptor, "currency", S_NONEMPTY, 0},
    {&duodiag__order__descriptor, "currency", S_CURRENCY, 0},
    {&duodiag__merchant__descriptor, "merchant_id", S_NONEMPTY, 0},
    {&duodiag__order_decision__descriptor, "order_id", S_NONEMPTY, 0},
    {&duodiag__payment__descriptor, "payment_id", S_NONEMPTY, 0},
    {&duodiag__payment__descriptor, "order_id", S_NONEMPTY, 0},
    {&duodiag__payment__descriptor, "amount_minor", S_IPOS, 0},
    {&duodiag__payment__descriptor, "currency", S_NONEMPTY, 0},
    {&duodiag__payment__descriptor, "currency", S_CURRENCY, 0},
    {&duodiag__payment_confirmation__descriptor, "payment_id", S_NONEMPTY, 0},
    {&duodiag__payment_confirmation__descriptor, "charged_minor", S_INONNEG, 0},
    {&duodiag__connect_request_signal__descriptor, "session_id", S_NONEMPTY, 0},
    {&duodiag__connect_request_signal__descriptor, "media", S_ENUM_SET, 0},
    /* connection and service link */
    {&duodiag__connection_address__descriptor, "session_id", S_NONEMPTY, 0},
    {&duodiag__connection_address__descriptor, "service_endpoint", S_NONEMPTY, 0},
    {&duodiag__service_hello__descriptor, "session_id", S_NONEMPTY, 0},
    {&duodiag__service_hello__descriptor, "device_id", S_NONEMPTY, 0},
    {&duodiag__service_hello__descriptor, "vin", S_VIN, 0},
    {&duodiag__service_welcome__descriptor, "session_id", S_NONEMPTY, 0},
    /* vehicle data: DIDs and routine ids are 2 bytes (ISO 14229-1 dataIdentifier), PIDs 1 */
    {&duodiag__vehicle_data_request__descriptor, "session_id", S_NONEMPTY, 0},
    {&duodiag__vehicle_data_request__descriptor, "kind", S_ENUM_SET, 0},
    {&duodiag__vehicle_data_request__descriptor, "items", S_UMAX, 0xFFFF},
    {&duodiag__vehicle_data_request__descriptor, "items", S_MAXCOUNT, 256},
    {&duodiag__vehicle_data_request__descriptor, "ecu_id", S_UMAX, S_CAN_ID_MAX},
    {&duodiag__vehicle_data_request__descriptor, "rate_hz", S_RATE, 0},
    {&duodiag__vehicle_record__descriptor, "session_id", S_NONEMPTY, 0},
    {&duodiag__vehicle_record__descriptor, "seq", S_UMIN, 1},
    {&duodiag__vehicle_record__descriptor, "path", S_ENUM_SET, 0},
    {&duodiag__vehicle_record__descriptor, "ecu_id", S_UMAX, S_CAN_ID_MAX},
    {&duodiag__vehicle_ack__descriptor, "session_id", S_NONEMPTY, 0},
    {&duodiag__vehicle_ack__descriptor, "sacks", S_MAXCOUNT, DD_WIRE_MAX_SACKS},
    /* programming data */
    {&duodiag__program_offer__descriptor, "package_id", S_NONEMPTY, 0},
    {&duodiag__program_offer__descriptor, "total_size", S_UMIN, 1},
    {&duodiag__program_offer__descriptor, "total_size", S_UMAX, DD_WIRE_MAX_PACKAGE},
    {&duodiag__program_offer__descriptor, "sha256", S_EXACTLEN, 32},
    {&duodiag__program_offer__descriptor, "target_ecu", S_UMAX, S_CAN_ID_MAX},
    {&duodiag__program_offer__descriptor, "signature", S_EXACT_OR_EMPTY, 64},
    {&duodiag__program_chunk__descriptor, "package_id", S_NONEMPTY, 0},
    {&duodiag__program_chunk__descriptor, "data", S_MAXLEN, DD_WIRE_MAX_CHUNK},
    {&duodiag__program_ack__descriptor, "package_id", S_NONEMPTY, 0},
    {&duodiag__program_status__descriptor, "package_id", S_NONEMPTY, 0},
    {&duodiag__program_status__descriptor, "phase", S_ENUM_SET, 0},
    {&duodiag__program_status__descriptor, "percent", S_UMAX, 100},
    {&duodiag__program_status__descriptor, "nrc", S_UMAX, 0xFF},
    /* control signals */
    {&duodiag__control_signal__descriptor, "session_id", S_NONEMPTY, 0},
    {&duodiag__control_signal__descriptor, "action", S_ENUM_SET, 0},
    {&duodiag__control_signal__descriptor, "ecu_id", S_UMAX, S_CAN_ID_MAX},
    {&duodiag__control_signal__descriptor, "ids", S_UMAX, 0xFFFF},
    {&duodiag__control_signal__descriptor, "ids", S_MAXCOUNT, 256},
    {&duodiag__control_signal__descriptor, "rate_hz", S_RATE, 0},
    {&duodiag__control_result__descriptor, "nrc", S_UMAX, 0xFF},
    /* relay */
    {&duodiag__relay_forward__descriptor, "session_id", S_NONEMPTY, 0},
    {&duodiag__relay_forward__descriptor, "destination", S_NONEMPTY, 0},
    {&duodiag__relay_forward__descriptor, "inner", S_NONEMPTY, 0},
    {&duodiag__relay_forward__descriptor, "inner", S_MAXLEN, DD_WIRE_MAX_INNER},
    /* harness */
    {&duodiag__ready__descriptor, "process", S_NONEMPTY, 0},
    {&duodiag__command__descriptor, "kind", S_ENUM_SET, 0},
    {&duodiag__command__descriptor, "args_json", S_MAXLEN, DD_WIRE_MAX_TEXT},
    {&duodiag__command_result__descriptor, "result_json", S_MAXLEN, DD_WIRE_MAX_TEXT},
    {&duodiag__event__descriptor, "mono_us", S_UMAX, INT64_MAX}, /* a JSON integer */
    {&duodiag__event__descriptor, "process", S_NONEMPTY, 0},
    {&duodiag__event__descriptor, "kind", S_NONEMPTY, 0},
    {&duodiag__event__descriptor, "fields", S_MAXCOUNT, DD_WIRE_MAX_EVENT_FIELDS},
    {&duodiag__field__descriptor, "key", S_NONEMPTY, 0},
    {&duodiag__field__descriptor, "key", S_MAXLEN, DD_WIRE_MAX_KEY},
};

#define S_NRULES (sizeof s_rules / sizeof s_rules[0])
#define S_FIELD_RULES_MAX 8u

/* The rules of one field (indices into s_rules), and its length and count limits. */
typedef struct {
  const s_rule_t *rule[S_FIELD_RULES_MAX]; /* value rules */
  size_t n;                                /* used entries of rule */
  uint64_t maxlen;                         /* string/bytes length limit */
  uint64_t maxcount;                       /* repeated count limit */
} s_field_rules_t;

static void s_rules_for(const ProtobufCMessageDescriptor *md, const ProtobufCFieldDescriptor *f,
                        s_field_rules_t *fr) {
  fr->n = 0;
  fr->maxlen = f->type == PROTOBUF_C_TYPE_STRING ? DD_WIRE_MAX_STRING : DD_WIRE_MAX_BYTES;
  fr->maxcount = DD_WIRE_MAX_REPEATED;
  for (size_t i = 0; i < S_NRULES; i++) {
    const s_rule_t *r = &s_rules[i];
    if (r->msg != md || strcmp(r->field, f->name) != 0) continue;
    if (r->kind == S_MAXLEN)
      fr->maxlen = r->arg;
    else if (r->kind == S_MAXCOUNT)
      fr->maxcount = r->arg;
    else {
      assert(fr->n < S_FIELD_RULES_MAX);
      fr->rule[fr->n++] = r;
    }
  }
}

static size_t s_elem_size(ProtobufCType t) {
  switch (t) {
  case PROTOBUF_C_TYPE_INT32:
  case PROTOBUF_C_TYPE_SINT32:
  case PROTOBUF_C_TYPE_SFIXED32:
  case PROTOBUF_C_TYPE_UINT32:
  case PROTOBUF_C_TYPE_FIXED32:
  case PROTOBUF_C_TYPE_FLOAT:
  case PROTOBUF_C_TYPE_ENUM:
    return 4;
  case PROTOBUF_C_TYPE_INT64:
  case PROTOBUF_C_TYPE_SINT64:
  case PROTOBUF_C_TYPE_SFIXED64:
  case PROTOBUF_C_TYPE_UINT64:
  case PROTOBUF_C_TYPE_FIXED64:
  case PROTOBUF_C_TYPE_DOUBLE:
    return 8;
  case PROTOBUF_C_TYPE_BOOL:
    return sizeof(protobuf_c_boolean);
  case PROTOBUF_C_TYPE_STRING:
    return sizeof(char *);
  case PROTOBUF_C_TYPE_BYTES:
    return sizeof(ProtobufCBinaryData);
  case PROTOBUF_C_TYPE_MESSAGE:
    return sizeof(ProtobufCMessage *);
  }
  return 0;
}

static int s_check_msg(const ProtobufCMessage *m, unsigned depth);

/* Check one value of field f at p against the generic limits and its rules; returns -1 when
 * fine, else the reason. */
static int s_check_value(const ProtobufCFieldDescriptor *f, const void *p,
                         const s_field_rules_t *fr, unsigned depth) {
  uint64_t u = 0;
  int64_t i = 0;
  double d = 0;
  size_t len = 0;
  const char *s = NULL;
  const ProtobufCBinaryData *b = NULL;
  switch (f->type) {
  case PROTOBUF_C_TYPE_STRING:
    s = *(char *const *)p;
    if (!s) return DD_WIRE_R_MISSING; /* protobuf-c's own default is "", never NULL */
    len = strnlen(s, (size_t)fr->maxlen + 1);
    if (len > fr->maxlen || !s_utf8_ok((const uint8_t *)s, len)) return DD_WIRE_R_STRING;
    break;
  case PROTOBUF_C_TYPE_BYTES:
    b = p;
    len = b->len;
    if (len > fr->maxlen) return DD_WIRE_R_BYTES;
    if (len && !b->data) return DD_WIRE_R_MISSING;
    break;
  case PROTOBUF_C_TYPE_ENUM:
    i = *(const int32_t *)p;
    if (!protobuf_c_enum_descriptor_get_value(f->descriptor, (int)i)) return DD_WIRE_R_ENUM;
    break;
  case PROTOBUF_C_TYPE_DOUBLE:
    d = *(const double *)p;
    if (!isfinite(d)) return DD_WIRE_R_NUMBER;
    break;
  case PROTOBUF_C_TYPE_FLOAT:
    d = *(const float *)p;
    if (!isfinite(d)) return DD_WIRE_R_NUMBER;
    break;
  case PROTOBUF_C_TYPE_UINT32:
  case PROTOBUF_C_TYPE_FIXED32:
    u = *(const uint32_t *)p;
    break;
  case PROTOBUF_C_TYPE_UINT64:
  case PROTOBUF_C_TYPE_FIXED64:
    u = *(const uint64_t *)p;
    break;
  case PROTOBUF_C_TYPE_INT32:
  case PROTOBUF_C_TYPE_SINT32:
  case PROTOBUF_C_TYPE_SFIXED32:
    i = *(const int32_t *)p;
    break;
  case PROTOBUF_C_TYPE_INT64:
  case PROTOBUF_C_TYPE_SINT64:
  case PROTOBUF_C_TYPE_SFIXED64:
    i = *(const int64_t *)p;
    break;
  case PROTOBUF_C_TYPE_BOOL:
    break;
  case PROTOBUF_C_TYPE_MESSAGE: {
    const ProtobufCMessage *sub = *(const ProtobufCMessage *const *)p;
    if (!sub) {
      /* an absent sub-message is fine unless required; a hole in a repeated one never is */
      if (f->label == PROTOBUF_C_LABEL_REPEATED) return DD_WIRE_R_MISSING;
      break;
    }
    if (sub->descriptor != f->descriptor) return DD_WIRE_R_UNPACK; /* hand-built mix-up */
    int why = s_check_msg(sub, depth + 1);
    if (why >= 0) return why;
    break;
  }
  }

  for (size_t k = 0; k < fr->n; k++) {
    const s_rule_t *r = fr->rule[k];
    switch (r->kind) {
    case S_NONEMPTY:
      if (f->type == PROTOBUF_C_TYPE_MESSAGE && !*(const ProtobufCMessage *const *)p)
        return DD_WIRE_R_MISSING;
      if ((s || b) && len == 0) return DD_WIRE_R_MISSING;
      break;
    case S_VIN:
      if (len && !dd_wire_vin_valid(s)) return DD_WIRE_R_FORMAT;
      break;
    case S_CURRENCY:
      if (len && !s_currency_ok(s)) return DD_WIRE_R_FORMAT;
      break;
    case S_EXACTLEN:
      if (len != r->arg) return DD_WIRE_R_BYTES;
      break;
    case S_EXACT_OR_EMPTY:
      if (len != 0 && len != r->arg) return DD_WIRE_R_BYTES;
      break;
    case S_ENUM_SET:
      if (i == 0) return DD_WIRE_R_ENUM;
      break;
    case S_UMAX:
      if (u > r->arg) return DD_WIRE_R_NUMBER;
      break;
    case S_UMIN:
      if (u < r->arg) return DD_WIRE_R_NUMBER;
      break;
    case S_INONNEG:
      if (i < 0) return DD_WIRE_R_NUMBER;
      break;
    case S_IPOS:
      if (i <= 0) return DD_WIRE_R_NUMBER;
      break;
    case S_RATE:
      if (!(d >= 0.0 && d <= DD_WIRE_MAX_RATE_HZ)) return DD_WIRE_R_NUMBER;
      break;
    case S_MAXLEN:
    case S_MAXCOUNT:
      break; /* folded into fr */
    }
  }
  return -1;
}

/* Walk every set field of m (through its descriptor) and check it; -1 or the reason. */
static int s_check_msg(const ProtobufCMessage *m, unsigned depth) {
  if (depth > S_DEPTH_MAX) return DD_WIRE_R_UNPACK;
  const ProtobufCMessageDescriptor *md = m->descriptor;
  const char *base = (const char *)m;
  for (unsigned fi = 0; fi < md->n_fields; fi++) {
    const ProtobufCFieldDescriptor *f = &md->fields[fi];
    s_field_rules_t fr;
    s_rules_for(md, f, &fr);
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
      size_t n = *(const size_t *)(base + f->quantifier_offset);
      if (n > fr.maxcount) return DD_WIRE_R_REPEATED;
      const char *arr = *(const char *const *)(base + f->offset);
      if (n && !arr) return DD_WIRE_R_MISSING;
      size_t es = s_elem_size(f->type);
      for (size_t k = 0; k < n; k++) {
        int why = s_check_value(f, arr + k * es, &fr, depth);
        if (why >= 0) return why;
      }
      continue;
    }
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
      if (*(const uint32_t *)(base + f->quantifier_offset) != f->id) continue;
    } else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->quantifier_offset &&
               f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_MESSAGE) {
      if (!*(const protobuf_c_boolean *)(base + f->quantifier_offset)) continue;
    }
    int why = s_check_value(f, base + f->offset, &fr, depth);
    if (why >= 0) return why;
  }
  return -1;
}

/* ---- rules across fields of one body -------------------------------------------------------- */

static const char *const s_reserved_keys[] = {"t_us", "wall_us", "proc", "kind"};

static int s_check_event(const Duodiag__Event *ev) {
  for (size_t i = 0; i < ev->n_fields; i++) {
    const Duodiag__Field *f = ev->fields[i];
    if (f->value_case == DUODIAG__FIELD__VALUE__NOT_SET) return DD_WIRE_R_MISSING;
    for (size_t r = 0; r < sizeof s_reserved_keys / sizeof s_reserved_keys[0]; r++)
      if (strcmp(f->key, s_reserved_keys[r]) == 0) return DD_WIRE_R_CONSISTENCY;
    for (size_t j = 0; j < i; j++)
      if (strcmp(f->key, ev->fields[j]->key) == 0) return DD_WIRE_R_CONSISTENCY;
  }
  return -1;
}

/* Control actions that name their targets in ids. */
static bool s_action_needs_ids(Duodiag__ControlSignal__Action a) {
  switch (a) {
  case DUODIAG__CONTROL_SIGNAL__ACTION__READ_DIDS:
  case DUODIAG__CONTROL_SIGNAL__ACTION__READ_PIDS:
  case DUODIAG__CONTROL_SIGNAL__ACTION__STREAM_PIDS:
  case DUODIAG__CONTROL_SIGNAL__ACTION__IO_CONTROL:
  case DUODIAG__CONTROL_SIGNAL__ACTION__ROUTINE:
    return true;
  default:
    return false;
  }
}

/* Runs after s_check_msg, so every pointer below is known to be set or NULL-checked. */
static int s_check_body(const Duodiag__Envelope *env) {
  switch (env->body_case) {
  case DUODIAG__ENVELOPE__BODY_VIN_INFO:
    if (env->vin_info->found && env->vin_info->vin[0] == '\0') return DD_WIRE_R_MISSING;
    break;
  case DUODIAG__ENVELOPE__BODY_SESSION_MESSAGE: {
    const Duodiag__SessionMessage *m = env->session_message;
    if (m->kind == DUODIAG__SESSION_MESSAGE__KIND__TEXT) {
      if (!s_utf8_ok(m->payload.data, m->payload.len)) return DD_WIRE_R_STRING;
    } else if (m->mime[0] == '\0') {
      return DD_WIRE_R_MISSING;
    }
    break;
  }
  case DUODIAG__ENVELOPE__BODY_VEHICLE_DATA_REQUEST: {
    const Duodiag__VehicleDataRequest *q = env->vehicle_data_request;
    if ((q->kind == DUODIAG__VEHICLE_DATA_REQUEST__KIND__LIVE_PIDS ||
         q->kind == DUODIAG__VEHICLE_DATA_REQUEST__KIND__DIDS) &&
        q->n_items == 0)
      return DD_WIRE_R_MISSING;
    break;
  }
  case DUODIAG__ENVELOPE__BODY_VEHICLE_ACK: {
    /* SACK ranges lie above the cumulative ack, each ordered, ascending and disjoint. */
    const Duodiag__VehicleAck *a = env->vehicle_ack;
    uint64_t floor = a->cumulative;
    for (size_t i = 0; i < a->n_sacks; i++) {
      const Duodiag__SackRange *r = a->sacks[i];
      if (r->first <= floor || r->last < r->first) return DD_WIRE_R_CONSISTENCY;
      floor = r->last;
    }
    break;
  }
  case DUODIAG__ENVELOPE__BODY_PROGRAM_CHUNK: {
    const Duodiag__ProgramChunk *c = env->program_chunk;
    if (c->data.len == 0 && !c->last) return DD_WIRE_R_MISSING;
    if (c->offset > DD_WIRE_MAX_PACKAGE || c->data.len > DD_WIRE_MAX_PACKAGE - c->offset)
      return DD_WIRE_R_CONSISTENCY;
    break;
  }
  case DUODIAG__ENVELOPE__BODY_CONTROL_SIGNAL: {
    const Duodiag__ControlSignal *c = env->control_signal;
    if (s_action_needs_ids(c->action) && c->n_ids == 0) return DD_WIRE_R_MISSING;
    if (c->action == DUODIAG__CONTROL_SIGNAL__ACTION__STREAM_PIDS && !(c->rate_hz > 0.0))
      return DD_WIRE_R_NUMBER;
    if (c->action == DUODIAG__CONTROL_SIGNAL__ACTION__START_REFLASH && c->package_id[0] == '\0')
      return DD_WIRE_R_MISSING;
    break;
  }
  case DUODIAG__ENVELOPE__BODY_EVENT:
    return s_check_event(env->event);
  case DUODIAG__ENVELOPE__BODY_CAN_FRAME:
    /* ISO 11898-1:2015: at most 64 payload bytes (CAN FD), 8 for classic frames. */
    if (env->can_frame->data.len > 64) return DD_WIRE_R_BYTES;
    if (env->can_frame->flags > 0xFF) return DD_WIRE_R_NUMBER;
    break;
  default:
    break;
  }
  return -1;
}

/* The body's field descriptor, or NULL when body_case is not a body this build knows. */
static const ProtobufCFieldDescriptor *s_body_field(const Duodiag__Envelope *env) {
  const ProtobufCFieldDescriptor *f =
      protobuf_c_message_descriptor_get_field(&duodiag__envelope__descriptor, env->body_case);
  if (!f || !(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)) return NULL;
  return f;
}

/* Every rule of an envelope; -1 or the reason. */
static int s_check_env(const Duodiag__Envelope *env) {
  if (env->base.descriptor != &duodiag__envelope__descriptor) return DD_WIRE_R_UNPACK;
  if (env->version != DD_WIRE_VERSION) return DD_WIRE_R_VERSION;
  if (env->body_case == DUODIAG__ENVELOPE__BODY__NOT_SET)
    return env->base.n_unknown_fields ? DD_WIRE_R_UNKNOWN_BODY : DD_WIRE_R_NO_BODY;
  const ProtobufCFieldDescriptor *bf = s_body_field(env);
  if (!bf) return DD_WIRE_R_UNKNOWN_BODY;
  if (!*(const ProtobufCMessage *const *)((const char *)env + bf->offset)) return DD_WIRE_R_NO_BODY;
  int why = s_check_msg(&env->base, 0);
  if (why >= 0) return why;
  return s_check_body(env);
}

int dd_wire_check(const Duodiag__Envelope *env, dd_wire_reason_t *why) {
  assert(env);
  int r = s_check_env(env);
  if (r < 0) return 0;
  if (why) *why = (dd_wire_reason_t)r;
  return s_reason_code((dd_wire_reason_t)r);
}

/* ---- raw wire walks (protobuf encoding: developers.google.com/protocol-buffers/docs/encoding) */

static bool s_varint(const uint8_t *p, size_t n, size_t *pos, uint64_t *v) {
  uint64_t x = 0;
  for (unsigned shift = 0; shift < 64; shift += 7) {
    if (*pos >= n) return false;
    uint8_t c = p[(*pos)++];
    x |= (uint64_t)(c & 0x7F) << shift;
    if (!(c & 0x80)) {
      *v = x;
      return true;
    }
  }
  return false; /* more than 10 bytes */
}

/* Read one field header and locate its value: wire type 2 values are [*vstart, *vstart+*vlen).
 * Groups (wire types 3, 4) are refused, as the schema has none. */
static bool s_next_field(const uint8_t *p, size_t n, size_t *pos, uint64_t *num, unsigned *wt,
                         uint64_t *val, size_t *vstart, size_t *vlen) {
  uint64_t tag;
  if (!s_varint(p, n, pos, &tag)) return false;
  *num = tag >> 3;
  *wt = (unsigned)(tag & 7);
  if (*num == 0) return false;
  switch (*wt) {
  case 0:
    return s_varint(p, n, pos, val);
  case 1:
    if (n - *pos < 8) return false;
    *pos += 8;
    return true;
  case 5:
    if (n - *pos < 4) return false;
    *pos += 4;
    return true;
  case 2: {
    uint64_t l;
    if (!s_varint(p, n, pos, &l) || l > n - *pos) return false;
    *vstart = *pos;
    *vlen = (size_t)l;
    *pos += (size_t)l;
    return true;
  }
  default:
    return false;
  }
}

/* The envelope's version as sent (field 1, varint; the last occurrence counts, as in protobuf),
 * 0 if absent; false if the top level is not a well-formed field sequence. Read before the full
 * parse so that a newer, incompatible version is reported as such. */
static bool s_peek_version(const uint8_t *p, size_t n, uint64_t *version) {
  size_t pos = 0, vs = 0, vl = 0;
  *version = 0;
  while (pos < n) {
    uint64_t num, val = 0;
    unsigned wt;
    if (!s_next_field(p, n, &pos, &num, &wt, &val, &vs, &vl)) return false;
    if (num == 1 && wt == 0) *version = val;
  }
  return true;
}

/* String fields as they are on the wire, before protobuf-c made C strings of them: a NUL inside
 * would cut the C string short unseen, so check UTF-8 (and no NUL) on the exact bytes. Nested
 * messages are walked through their descriptors. -1 or the reason. */
static int s_scan_strings(const uint8_t *p, size_t n, const ProtobufCMessageDescriptor *md,
                          unsigned depth) {
  if (depth > S_DEPTH_MAX) return DD_WIRE_R_UNPACK;
  size_t pos = 0;
  while (pos < n) {
    uint64_t num, val = 0;
    unsigned wt;
    size_t vs = 0, vl = 0;
    if (!s_next_field(p, n, &pos, &num, &wt, &val, &vs, &vl)) return DD_WIRE_R_UNPACK;
    if (wt != 2 || num > UINT32_MAX) continue;
    const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field(md, (unsigned)num);
    if (!f) continue;
    if (f->type == PROTOBUF_C_TYPE_STRING && !s_utf8_ok(p + vs, vl)) return DD_WIRE_R_STRING;
    if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
      int why = s_scan_strings(p + vs, vl, f->descriptor, depth + 1);
      if (why >= 0) return why;
    }
  }
  return -1;
}

/* ---- decode memory budget ------------------------------------------------------------------- */

/* A small input can unpack into much more memory (an empty repeated sub-message is 2 bytes on
 * the wire and a struct plus a pointer in memory). Legitimate envelopes stay well under 16
 * bytes of memory per input byte; the budget refuses more before it is allocated. */
#define S_BUDGET_FIXED (64u * 1024u)
#define S_BUDGET_PER_BYTE 16u

typedef struct {
  size_t used;   /* bytes handed out so far */
  size_t limit;  /* bytes allowed */
  bool exceeded; /* an allocation was refused */
} s_budget_t;

static void *s_budget_alloc(void *data, size_t size) {
  s_budget_t *b = data;
  if (size > b->limit - b->used) {
    b->exceeded = true;
    return NULL;
  }
  b->used += size;
  return malloc(size ? size : 1);
}

static void s_budget_free(void *data, void *ptr) {
  (void)data;
  free(ptr);
}

/* ---- public codec --------------------------------------------------------------------------- */

void dd_wire_envelope_init(Duodiag__Envelope *env, const char *sender, uint64_t seq,
                           uint64_t now_us) {
  assert(env && sender);
  duodiag__envelope__init(env);
  env->version = DD_WIRE_VERSION;
  env->sender = (char *)sender; /* protobuf-c's field is not const; it is never written */
  env->seq = seq;
  env->sent_us = now_us;
}

int dd_wire_encode(const Duodiag__Envelope *env, uint8_t *buf, size_t cap, size_t *len) {
  assert(env && len && (buf || cap == 0));
  *len = 0;
  int rc = dd_wire_check(env, NULL);
  if (rc) return rc;
  size_t need = duodiag__envelope__get_packed_size(env);
  *len = need;
  if (need > DD_WIRE_MAX) return DD_EWIRE_TOO_BIG;
  if (need > cap) return DD_ENOSPC;
  size_t done = duodiag__envelope__pack(env, buf);
  assert(done == need);
  (void)done;
  return 0;
}

int dd_wire_decode(const uint8_t *buf, size_t len, Duodiag__Envelope **out,
                   dd_wire_stats_t *stats) {
  assert(out && (buf || len == 0));
  *out = NULL;
  if (len > DD_WIRE_MAX) return s_reject(stats, DD_WIRE_R_TOO_BIG);
  uint64_t version;
  if (!s_peek_version(buf, len, &version)) return s_reject(stats, DD_WIRE_R_UNPACK);
  if (version != DD_WIRE_VERSION) return s_reject(stats, DD_WIRE_R_VERSION);

  s_budget_t budget = {.used = 0, .limit = S_BUDGET_FIXED + S_BUDGET_PER_BYTE * len};
  ProtobufCAllocator alloc = {.alloc = s_budget_alloc, .free = s_budget_free,
                              .allocator_data = &budget};
  Duodiag__Envelope *env = duodiag__envelope__unpack(&alloc, len, buf);
  if (!env) return s_reject(stats, budget.exceeded ? DD_WIRE_R_BUDGET : DD_WIRE_R_UNPACK);

  int why = s_scan_strings(buf, len, &duodiag__envelope__descriptor, 0);
  if (why < 0) why = s_check_env(env);
  if (why >= 0) {
    duodiag__envelope__free_unpacked(env, &alloc);
    return s_reject(stats, (dd_wire_reason_t)why);
  }
  if (stats) {
    stats->accepted++;
    stats->accepted_bytes += len;
  }
  *out = env;
  return 0;
}

uint32_t dd_wire_crc32c(const uint8_t *data, size_t len) {
  /* bitwise, reflected polynomial 0x82F63B78 (RFC 9260 appendix A) */
  uint32_t crc = 0xFFFFFFFFu;
  for (size_t i = 0; i < len; i++) {
    crc ^= data[i];
    for (int k = 0; k < 8; k++) crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
  }
  return ~crc;
}

int dd_wire_encode_datagram(const Duodiag__Envelope *env, uint8_t *buf, size_t cap, size_t *len) {
  assert(env && len && (buf || cap == 0));
  int rc = dd_wire_encode(env, buf, cap >= DD_WIRE_DGRAM_TRAILER ? cap - DD_WIRE_DGRAM_TRAILER : 0,
                          len);
  if (rc == DD_ENOSPC) *len += DD_WIRE_DGRAM_TRAILER;
  if (rc) return rc;
  uint32_t crc = dd_wire_crc32c(buf, *len);
  for (int k = 0; k < 4; k++) buf[*len + (size_t)k] = (uint8_t)(crc >> (24 - 8 * k));
  *len += DD_WIRE_DGRAM_TRAILER;
  return 0;
}

int dd_wire_decode_datagram(const uint8_t *buf, size_t len, Duodiag__Envelope **out,
                            dd_wire_stats_t *stats) {
  assert(out && (buf || len == 0));
  *out = NULL;
  if (len < DD_WIRE_DGRAM_TRAILER) return s_reject(stats, DD_WIRE_R_CHECKSUM);
  size_t n = len - DD_WIRE_DGRAM_TRAILER;
  uint32_t want = (uint32_t)buf[n] << 24 | (uint32_t)buf[n + 1] << 16 | (uint32_t)buf[n + 2] << 8 |
                  buf[n + 3];
  if (dd_wire_crc32c(buf, n) != want) return s_reject(stats, DD_WIRE_R_CHECKSUM);
  return dd_wire_decode(buf, n, out, stats);
}

void dd_wire_free(Duodiag__Envelope **env_p) {
  assert(env_p);
  if (!*env_p) return;
  /* decoded with s_budget_alloc, whose blocks come from malloc: the default allocator frees */
  duodiag__envelope__free_unpacked(*env_p, NULL);
  *env_p = NULL;
}

const char *dd_wire_body_name(const Duodiag__Envelope *env) {
  assert(env);
  if (env->body_case == DUODIAG__ENVELOPE__BODY__NOT_SET) return "none";
  const ProtobufCFieldDescriptor *f = s_body_field(env);
  return f ? f->name : "unknown";
}

/* ---- ZeroMQ --------------------------------------------------------------------------------- */

int dd_wire_limit_socket(void *zsock) {
  assert(zsock);
  int64_t max = DD_WIRE_MAX;
  if (zmq_setsockopt(zsock, ZMQ_MAXMSGSIZE, &max, sizeof max) != 0) return -zmq_errno();
  return 0;
}

/* Encode env straight into a new ZeroMQ message (no intermediate copy). */
static int s_encode_msg(const Duodiag__Envelope *env, zmq_msg_t *msg) {
  int rc = dd_wire_check(env, NULL);
  if (rc) return rc;
  size_t need = duodiag__envelope__get_packed_size(env);
  if (need > DD_WIRE_MAX) return DD_EWIRE_TOO_BIG;
  if (zmq_msg_init_size(msg, need) != 0) return -zmq_errno();
  size_t done = duodiag__envelope__pack(env, zmq_msg_data(msg));
  assert(done == need);
  (void)done;
  return 0;
}

static int s_send_msg(void *zsock, zmq_msg_t *msg, int flags) {
  if (zmq_msg_send(msg, zsock, flags) < 0) {
    int e = zmq_errno();
    zmq_msg_close(msg);
    return -e;
  }
  return 0; /* a sent message belongs to libzmq */
}

int dd_wire_send(void *zsock, const Duodiag__Envelope *env, int flags) {
  assert(zsock && env);
  zmq_msg_t msg;
  int rc = s_encode_msg(env, &msg);
  if (rc) return rc;
  return s_send_msg(zsock, &msg, flags);
}

int dd_wire_send_to(void *zsock, const void *identity, size_t idlen, const Duodiag__Envelope *env,
                    int flags) {
  assert(zsock && env && (identity || idlen == 0));
  if (idlen == 0 || idlen > DD_WIRE_IDENTITY_MAX) return DD_EINVAL;
  zmq_msg_t msg;
  int rc = s_encode_msg(env, &msg);
  if (rc) return rc;
  /* ROUTER takes the first frame as the routing id (zmq_socket(3), ZMQ_ROUTER). */
  if (zmq_send(zsock, identity, idlen, flags | ZMQ_SNDMORE) < 0) {
    int e = zmq_errno();
    zmq_msg_close(&msg);
    return -e;
  }
  return s_send_msg(zsock, &msg, flags);
}

/* Receive and drop the remaining frames of a message (all of a message's frames arrive
 * together, zmq_recv(3), so this never waits). */
static void s_drain(void *zsock) {
  int more = 1;
  size_t sz = sizeof more;
  while (zmq_getsockopt(zsock, ZMQ_RCVMORE, &more, &sz) == 0 && more) {
    zmq_msg_t part;
    zmq_msg_init(&part);
    int rc = zmq_msg_recv(&part, zsock, 0);
    zmq_msg_close(&part);
    if (rc < 0) break;
    sz = sizeof more;
  }
}

/* Receive one frame into msg; -errno on failure (msg is then closed). */
static int s_recv_part(void *zsock, zmq_msg_t *msg, int flags) {
  zmq_msg_init(msg);
  if (zmq_msg_recv(msg, zsock, flags) < 0) {
    int e = zmq_errno();
    zmq_msg_close(msg);
    return -e;
  }
  return 0;
}

/* Decode the last frame of a message (msg is closed). */
static int s_decode_last(void *zsock, zmq_msg_t *msg, Duodiag__Envelope **out,
                         dd_wire_stats_t *stats) {
  if (zmq_msg_more(msg)) {
    zmq_msg_close(msg);
    s_drain(zsock);
    return s_reject(stats, DD_WIRE_R_FRAMING);
  }
  int rc = dd_wire_decode(zmq_msg_data(msg), zmq_msg_size(msg), out, stats);
  zmq_msg_close(msg);
  return rc;
}

int dd_wire_recv(void *zsock, Duodiag__Envelope **out, dd_wire_stats_t *stats, int flags) {
  assert(zsock && out);
  *out = NULL;
  zmq_msg_t msg;
  int rc = s_recv_part(zsock, &msg, flags);
  if (rc) return rc;
  return s_decode_last(zsock, &msg, out, stats);
}

int dd_wire_recv_from(void *zsock, uint8_t *identity, size_t idcap, size_t *idlen,
                      Duodiag__Envelope **out, dd_wire_stats_t *stats, int flags) {
  assert(zsock && identity && idlen && out);
  *out = NULL;
  *idlen = 0;
  zmq_msg_t id;
  int rc = s_recv_part(zsock, &id, flags);
  if (rc) return rc;
  size_t n = zmq_msg_size(&id);
  bool more = zmq_msg_more(&id);
  if (n == 0 || n > idcap || !more) {
    zmq_msg_close(&id);
    if (more) s_drain(zsock);
    return s_reject(stats, DD_WIRE_R_FRAMING);
  }
  memcpy(identity, zmq_msg_data(&id), n);
  zmq_msg_close(&id);
  *idlen = n; /* known even when the envelope is rejected, so the caller can answer */
  zmq_msg_t msg;
  rc = s_recv_part(zsock, &msg, flags);
  if (rc) return rc;
  return s_decode_last(zsock, &msg, out, stats);
}

/* ---- timeline events as JSON ---------------------------------------------------------------- */

/* Fewest significant digits (%.*g) that read back as exactly d. */
static int s_round_trip_digits(double d) {
  char buf[40];
  for (int p = 1; p < 17; p++) {
    snprintf(buf, sizeof buf, "%.*g", p, d);
    if (strtod(buf, NULL) == d) return p;
  }
  return 17;
}

int dd_wire_event_to_json(const Duodiag__Event *ev, char **json) {
  assert(ev && json);
  *json = NULL;
  if (ev->base.descriptor != &duodiag__event__descriptor || s_check_msg(&ev->base, 0) >= 0 ||
      s_check_event(ev) >= 0)
    return DD_EINVAL;

  int rc = DD_ENOMEM;
  int digits = 1; /* one precision for the line: the most any of its doubles needs */
  json_t *o = json_object();
  if (!o) return DD_ENOMEM;
  if (json_object_set_new(o, "t_us", json_integer((json_int_t)ev->mono_us)) ||
      json_object_set_new(o, "wall_us", json_integer((json_int_t)ev->wall_us)) ||
      json_object_set_new(o, "proc", json_string(ev->process)) ||
      json_object_set_new(o, "kind", json_string(ev->kind)))
    goto out_free_obj;
  for (size_t i = 0; i < ev->n_fields; i++) {
    const Duodiag__Field *f = ev->fields[i];
    json_t *v = NULL;
    switch (f->value_case) {
    case DUODIAG__FIELD__VALUE_INT_VALUE:
      v = json_integer((json_int_t)f->int_value);
      break;
    case DUODIAG__FIELD__VALUE_DOUBLE_VALUE: {
      int p = s_round_trip_digits(f->double_value);
      /* %g switches to exponent form when the exponent reaches the precision: give integer
       * digits room so 100.0 prints as 100.0, not 1e2. */
      double mag = fabs(f->double_value);
      if (isfinite(mag) && mag >= 1.0 && mag < 1e17) {
        int e = (int)floor(log10(mag)) + 1;
        if (e > p) p = e;
      }
      if (p > digits) digits = p;
      v = json_real(f->double_value);
      break;
    }
    case DUODIAG__FIELD__VALUE_STRING_VALUE:
      v = json_string(f->string_value);
      break;
    case DUODIAG__FIELD__VALUE_BOOL_VALUE:
      v = json_boolean(f->bool_value);
      break;
    default:
      break; /* excluded by s_check_event */
    }
    if (json_object_set_new(o, f->key, v)) goto out_free_obj;
  }

  size_t flags = JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(digits);
  size_t need = json_dumpb(o, NULL, 0, flags);
  if (need == 0) goto out_free_obj;
  char *s = malloc(need + 1);
  if (!s) goto out_free_obj;
  if (json_dumpb(o, s, need, flags) != need) {
    free(s);
    goto out_free_obj;
  }
  s[need] = '\0';
  *json = s;
  rc = 0;
out_free_obj:
  json_decref(o);
  return rc;
}

/* ---- party names: routing id <-> text ---------------------------------------------------------------------------- */

int dd_wire_party_name(const uint8_t *id, size_t idlen, char *buf, size_t cap) {
  bool plain = idlen > 0 && id[0] != '~';
  for (size_t i = 0; i < idlen && plain; i++)
    plain = id[i] >= 0x21 && id[i] <= 0x7E;
  if (plain) {
    if (idlen + 1 > cap) return DD_ENAMETOOLONG;
    memcpy(buf, id, idlen);
    buf[idlen] = '\0';
    return 0;
  }
  if (2 * idlen + 2 > cap) return DD_ENAMETOOLONG;
  static const char hex[] = "0123456789abcdef";
  buf[0] = '~';
  for (size_t i = 0; i < idlen; i++) {
    buf[1 + 2 * i] = hex[id[i] >> 4];
    buf[2 + 2 * i] = hex[id[i] & 15];
  }
  buf[1 + 2 * idlen] = '\0';
  return 0;
}

static int s_party_hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

int dd_wire_party_id(const char *name, uint8_t *id, size_t cap) {
  size_t n = strlen(name);
  if (!n) return DD_EINVAL;
  if (name[0] != '~') {
    if (n > cap || n > DD_WIRE_IDENTITY_MAX) return DD_ENAMETOOLONG;
    memcpy(id, name, n);
    return (int)n;
  }
  size_t hexlen = n - 1;
  if (!hexlen || hexlen % 2) return DD_EINVAL;
  if (hexlen / 2 > cap || hexlen / 2 > DD_WIRE_IDENTITY_MAX) return DD_ENAMETOOLONG;
  for (size_t i = 0; i < hexlen / 2; i++) {
    int hi = s_party_hex(name[1 + 2 * i]), lo = s_party_hex(name[2 + 2 * i]);
    if (hi < 0 || lo < 0) return DD_EINVAL;
    id[i] = (uint8_t)(hi << 4 | lo);
  }
  return (int)(hexlen / 2);
}
