/* dd_second_diag: sequence tracking and rule-based remote diagnosis of the second device. */
#include "dd_second_diag.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_dtc_code.h"
#include "dd_obd.h"

/* ---- tracker ---- */

void dd_second_track_init(dd_second_track_t *t) { memset(t, 0, sizeof *t); }

void dd_second_track_free(dd_second_track_t *t) {
  free(t->seen);
  memset(t, 0, sizeof *t);
}

static bool s_bit(const dd_second_track_t *t, uint64_t seq) {
  return seq / 8 < t->cap && (t->seen[seq / 8] >> (seq % 8)) & 1;
}

dd_second_seq_t dd_second_track_on(dd_second_track_t *t, uint64_t seq) {
  if (!seq || seq > DD_SECOND_TRACK_MAX) {
    t->invalid++;
    return DD_SECOND_SEQ_INVALID;
  }
  if (seq / 8 >= t->cap) {
    size_t ncap = t->cap ? t->cap : 64;
    while (ncap <= seq / 8) ncap *= 2;
    uint8_t *n = realloc(t->seen, ncap);
    if (!n) {
      t->invalid++;
      return DD_SECOND_SEQ_INVALID;
    }
    memset(n + t->cap, 0, ncap - t->cap);
    t->seen = n;
    t->cap = ncap;
  }
  if (s_bit(t, seq)) {
    t->duplicated++;
    return DD_SECOND_SEQ_DUPLICATE;
  }
  t->seen[seq / 8] |= (uint8_t)(1u << (seq % 8));
  t->records++;
  dd_second_seq_t v = DD_SECOND_SEQ_IN_ORDER;
  if (seq < t->max_seq) {
    t->out_of_order++;
    v = DD_SECOND_SEQ_OUT_OF_ORDER;
  } else if (seq > t->max_seq + 1) {
    v = DD_SECOND_SEQ_GAP;
  }
  if (seq > t->max_seq) t->max_seq = seq;
  return v;
}

uint64_t dd_second_track_lost(const dd_second_track_t *t) {
  return t->max_seq - t->records; /* every distinct record seen is <= max_seq */
}

const char *dd_second_seq_name(dd_second_seq_t v) {
  static const char *const names[] = {"in_order", "gap", "out_of_order", "duplicate", "invalid"};
  return (unsigned)v < 5 ? names[v] : "?";
}

/* ---- diagnosis ---- */

void dd_second_diag_init(dd_second_diag_t *d) { memset(d, 0, sizeof *d); }

void dd_second_diag_add_dtc(dd_second_diag_t *d, uint16_t code) {
  for (size_t i = 0; i < d->n_dtcs; i++)
    if (d->dtcs[i] == code) return;
  if (d->n_dtcs < DD_SECOND_MAX_DTCS) {
    d->dtcs[d->n_dtcs++] = code;
    d->changes++;
  }
}

static bool s_has(const char *name, const char *const *needles) {
  char low[128];
  size_t n = strlen(name);
  if (n >= sizeof low) n = sizeof low - 1;
  for (size_t i = 0; i < n; i++) low[i] = (char)tolower((unsigned char)name[i]);
  low[n] = '\0';
  for (const char *const *k = needles; *k; k++)
    if (strstr(low, *k)) return true;
  return false;
}

static void s_set(dd_second_diag_t *d, double *slot, bool *have, double v) {
  if (!isfinite(v)) return;
  if (!*have || *slot != v) d->changes++;
  *slot = v;
  *have = true;
}

void dd_second_diag_add_value(dd_second_diag_t *d, const char *name, double value) {
  uint32_t dtc3;
  if (name[0] && dd_dtc_code_parse3(name, &dtc3) == 0) {
    dd_second_diag_add_dtc(d, (uint16_t)(dtc3 >> 8));
    return;
  }
  static const char *const stft[] = {"stft", "short_term_fuel", "short term fuel", NULL};
  static const char *const ltft[] = {"ltft", "long_term_fuel", "long term fuel", NULL};
  static const char *const cool[] = {"coolant", NULL};
  static const char *const volt[] = {"module_v", "voltage", NULL};
  if (s_has(name, stft)) s_set(d, &d->stft, &d->have_stft, value);
  else if (s_has(name, ltft)) s_set(d, &d->ltft, &d->have_ltft, value);
  else if (s_has(name, cool)) s_set(d, &d->coolant_c, &d->have_coolant, value);
  else if (s_has(name, volt)) s_set(d, &d->module_v, &d->have_v, value);
}

void dd_second_diag_add_payload(dd_second_diag_t *d, const uint8_t *p, size_t len) {
  if (!len) return;
  if (p[0] == 0x43 || p[0] == 0x47 || p[0] == 0x4A) {
    /* SAE J1979 services $03/$07/$0A positive responses. */
    uint16_t codes[DD_SECOND_MAX_DTCS];
    size_t n = 0;
    if (dd_obd_parse_dtcs(p, len, codes, DD_SECOND_MAX_DTCS, &n) == 0)
      for (size_t i = 0; i < n; i++) dd_second_diag_add_dtc(d, codes[i]);
  } else if (p[0] == 0x41) {
    dd_obd_value_t vals[16];
    size_t n = 0;
    if (dd_obd_parse_values(p, len, vals, 16, &n) < 0) return;
    for (size_t i = 0; i < n; i++) {
      switch (vals[i].pid) {
      case 0x05: s_set(d, &d->coolant_c, &d->have_coolant, vals[i].value); break;
      case 0x06: s_set(d, &d->stft, &d->have_stft, vals[i].value); break;
      case 0x07: s_set(d, &d->ltft, &d->have_ltft, vals[i].value); break;
      case 0x42: s_set(d, &d->module_v, &d->have_v, vals[i].value); break;
      default: break;
      }
    }
  } else if (p[0] == 0x59 && len >= 3 && p[1] == 0x02) {
    /* ISO 14229-1:2013 11.3.2.2 reportDTCByStatusMask: 59 02 mask {DTC(3) status}. */
    for (size_t i = 3; i + 4 <= len; i += 4) {
      if (p[i + 3] & 0x09) /* testFailed or confirmedDTC */
        dd_second_diag_add_dtc(d, (uint16_t)(p[i] << 8 | p[i + 1]));
    }
  }
}

static void s_cat(char *buf, size_t cap, const char *text) {
  size_t used = strlen(buf);
  if (used + 1 < cap) snprintf(buf + used, cap - used, "%s", text);
}

/* The finding of one DTC into out. */
static void s_dtc_finding(uint16_t code, char *out, size_t cap) {
  char txt[DD_DTC_TEXT_SIZE];
  dd_dtc_code_format(code, txt);
  if (code == 0x0300) {
    snprintf(out, cap, "%s: random misfire: check ignition coils, spark plugs and fuel delivery",
             txt);
  } else if (code >= 0x0301 && code <= 0x0312) {
    unsigned cyl = (unsigned)(code - 0x0300);
    if (code >= 0x0310) cyl = 10 + (code - 0x0310);
    snprintf(out, cap, "%s: cylinder %u misfire: check ignition coil and spark plug of cylinder %u",
             txt, cyl, cyl);
  } else if (code == 0x0171 || code == 0x0174) {
    snprintf(out, cap, "%s: system too lean: check for vacuum leak, MAF sensor and fuel pressure",
             txt);
  } else if (code == 0x0172 || code == 0x0175) {
    snprintf(out, cap, "%s: system too rich: check injectors and fuel pressure regulator", txt);
  } else if (code == 0x0420 || code == 0x0430) {
    snprintf(out, cap, "%s: catalyst efficiency low: check catalytic converter and O2 sensors", txt);
  } else if (code == 0x0128) {
    snprintf(out, cap, "%s: coolant below thermostat temperature: check thermostat", txt);
  } else if (code == 0x0442 || code == 0x0455 || code == 0x0456) {
    snprintf(out, cap, "%s: evaporative system leak: check fuel cap and EVAP hoses", txt);
  } else {
    const char *desc = dd_dtc_code_description(code);
    snprintf(out, cap, "%s: %s: see the service manual", txt, desc ? desc : "unknown code");
  }
}

size_t dd_second_diag_report(const dd_second_diag_t *d, char *dtcs, size_t dcap, char *findings,
                             size_t fcap) {
  if (dcap) dtcs[0] = '\0';
  if (fcap) findings[0] = '\0';
  size_t n = 0;
  char line[256];
  for (size_t i = 0; i < d->n_dtcs; i++) {
    char txt[DD_DTC_TEXT_SIZE];
    dd_dtc_code_format(d->dtcs[i], txt);
    if (i) s_cat(dtcs, dcap, ",");
    s_cat(dtcs, dcap, txt);
    s_dtc_finding(d->dtcs[i], line, sizeof line);
    if (n++) s_cat(findings, fcap, "; ");
    s_cat(findings, fcap, line);
  }
  /* Fuel trims (SAE J1979 PIDs 06/07): their sum beyond +-10 % points at a mixture fault. */
  if (d->have_stft || d->have_ltft) {
    double trim = (d->have_stft ? d->stft : 0) + (d->have_ltft ? d->ltft : 0);
    if (trim > 10.0)
      snprintf(line, sizeof line, "lean fuel trims (%+.1f %%): check for vacuum leak", trim);
    else if (trim < -10.0)
      snprintf(line, sizeof line, "rich fuel trims (%+.1f %%): check injectors and fuel pressure",
               trim);
    else line[0] = '\0';
    if (line[0]) {
      if (n++) s_cat(findings, fcap, "; ");
      s_cat(findings, fcap, line);
    }
  }
  if (d->have_coolant && d->coolant_c > 110.0) {
    snprintf(line, sizeof line, "coolant %.0f degC: overheating, check the cooling system",
             d->coolant_c);
    if (n++) s_cat(findings, fcap, "; ");
    s_cat(findings, fcap, line);
  }
  if (d->have_v && d->module_v > 0.0 && d->module_v < 12.0) {
    snprintf(line, sizeof line, "module voltage %.1f V: check battery and charging", d->module_v);
    if (n++) s_cat(findings, fcap, "; ");
    s_cat(findings, fcap, line);
  }
  return n;
}
