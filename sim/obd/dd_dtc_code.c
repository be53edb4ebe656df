/* dd_dtc_code: DTC bytes <-> text (SAE J2012 / ISO 15031-6 5.3) and a small description table. */
#include "dd_dtc_code.h"

#include <assert.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "dd_err.h"

static const char s_letters[4] = {'P', 'C', 'B', 'U'};
static const char s_hex[] = "0123456789ABCDEF";

char dd_dtc_code_letter(uint16_t code) { return s_letters[code >> 14]; }

void dd_dtc_code_format(uint16_t code, char out[DD_DTC_TEXT_SIZE]) {
  assert(out);
  /* Bits 15-14 system letter, 13-12 first digit (0-3), then three 4-bit digits (J2012 5.3). */
  out[0] = s_letters[code >> 14];
  out[1] = (char)('0' + ((code >> 12) & 0x3));
  out[2] = s_hex[(code >> 8) & 0xF];
  out[3] = s_hex[(code >> 4) & 0xF];
  out[4] = s_hex[code & 0xF];
  out[5] = '\0';
}

void dd_dtc_code_format3(uint32_t dtc, char out[DD_DTC_TEXT3_SIZE]) {
  assert(out);
  dd_dtc_code_format((uint16_t)((dtc >> 8) & 0xFFFF), out);
  out[5] = '-';
  out[6] = s_hex[(dtc >> 4) & 0xF];
  out[7] = s_hex[dtc & 0xF];
  out[8] = '\0';
}

static int s_hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = (char)toupper((unsigned char)c);
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Parses the 5-character code part; returns NULL or the reason it is not a code. */
static const char *s_parse5(const char *t, uint16_t *code) {
  int sys = -1;
  switch (toupper((unsigned char)t[0])) {
  case 'P': sys = DD_DTC_POWERTRAIN; break;
  case 'C': sys = DD_DTC_CHASSIS; break;
  case 'B': sys = DD_DTC_BODY; break;
  case 'U': sys = DD_DTC_NETWORK; break;
  default: return "the first character must be P, C, B or U";
  }
  if (t[1] < '0' || t[1] > '3') return "the second character must be a digit 0-3";
  int d[3];
  for (int i = 0; i < 3; i++) {
    d[i] = s_hexval(t[2 + i]);
    if (d[i] < 0) return "characters 3-5 must be hex digits (0-9, A-F)";
  }
  *code = (uint16_t)(sys << 14 | (t[1] - '0') << 12 | d[0] << 8 | d[1] << 4 | d[2]);
  return NULL;
}

static const char *s_parse(const char *text, bool allow3, uint32_t *dtc) {
  size_t n = strlen(text);
  if (n < 5) return "too short: a DTC is a letter and four digits, e.g. P0301";
  uint16_t code = 0;
  const char *why = s_parse5(text, &code);
  if (why) return why;
  uint8_t ftb = 0;
  if (n == 5) {
    *dtc = (uint32_t)code << 8;
    return NULL;
  }
  if (!allow3) return "too long: a 2-byte DTC has five characters, e.g. P0301";
  const char *f = text + 5;
  if (*f == '-' || *f == ':') f++;
  if (strlen(f) != 2) return "the failure type must be two hex digits, e.g. P0301-1F";
  int hi = s_hexval(f[0]), lo = s_hexval(f[1]);
  if (hi < 0 || lo < 0) return "the failure type must be two hex digits, e.g. P0301-1F";
  ftb = (uint8_t)(hi << 4 | lo);
  *dtc = (uint32_t)code << 8 | ftb;
  return NULL;
}

int dd_dtc_code_parse(const char *text, uint16_t *code) {
  assert(text && code);
  uint32_t dtc;
  if (s_parse(text, false, &dtc)) return DD_EILSEQ;
  *code = (uint16_t)(dtc >> 8);
  return 0;
}

int dd_dtc_code_parse3(const char *text, uint32_t *dtc) {
  assert(text && dtc);
  return s_parse(text, true, dtc) ? DD_EILSEQ : 0;
}

const char *dd_dtc_code_problem(const char *text, bool allow3) {
  assert(text);
  uint32_t dtc;
  return s_parse(text, allow3, &dtc);
}

/* Descriptions in duodiag's own words; the authoritative texts are SAE J2012-DA's. */
typedef struct {
  uint16_t code;    /* 2-byte DTC */
  const char *text; /* description */
} s_desc_t;

static const s_desc_t s_desc[] = {
    {0x0011, "Intake camshaft position timing over-advanced (bank 1)"},
    {0x0101, "Mass air flow sensor circuit range/performance"},
    {0x0113, "Intake air temperature sensor 1 circuit high"},
    {0x0118, "Engine coolant temperature sensor 1 circuit high"},
    {0x0121, "Throttle/pedal position sensor A circuit range/performance"},
    {0x0128, "Coolant temperature below thermostat regulating temperature"},
    {0x0133, "O2 sensor circuit slow response (bank 1, sensor 1)"},
    {0x0134, "O2 sensor circuit no activity detected (bank 1, sensor 1)"},
    {0x0171, "System too lean (bank 1)"},
    {0x0172, "System too rich (bank 1)"},
    {0x0299, "Turbocharger/supercharger A underboost"},
    {0x0300, "Random/multiple cylinder misfire detected"},
    {0x0301, "Cylinder 1 misfire detected"},
    {0x0302, "Cylinder 2 misfire detected"},
    {0x0303, "Cylinder 3 misfire detected"},
    {0x0304, "Cylinder 4 misfire detected"},
    {0x0305, "Cylinder 5 misfire detected"},
    {0x0306, "Cylinder 6 misfire detected"},
    {0x0325, "Knock sensor 1 circuit (bank 1)"},
    {0x0335, "Crankshaft position sensor A circuit"},
    {0x0401, "Exhaust gas recirculation flow insufficient"},
    {0x0420, "Catalyst system efficiency below threshold (bank 1)"},
    {0x0442, "Evaporative emission system leak detected (small leak)"},
    {0x0455, "Evaporative emission system leak detected (large leak)"},
    {0x0500, "Vehicle speed sensor A"},
    {0x0562, "System voltage low"},
    {0x0563, "System voltage high"},
    {0x0606, "Control module processor"},
    {0x0700, "Transmission control system (MIL request)"},
    {0x4035, "Left front wheel speed sensor circuit"},
    {0x4040, "Right front wheel speed sensor circuit"},
    {0x4045, "Left rear wheel speed sensor circuit"},
    {0x4050, "Right rear wheel speed sensor circuit"},
    {0x4110, "Pump motor circuit"},
    {0x8001, "Driver frontal stage 1 deployment control"},
    {0xC001, "High speed CAN communication bus"},
    {0xC073, "Control module communication bus A off"},
    {0xC100, "Lost communication with ECM/PCM A"},
    {0xC101, "Lost communication with TCM"},
    {0xC121, "Lost communication with anti-lock brake system control module"},
    {0xC140, "Lost communication with body control module"},
    {0xC155, "Lost communication with instrument panel cluster control module"},
    {0xC401, "Invalid data received from ECM/PCM A"},
};

const char *dd_dtc_code_description(uint16_t code) {
  for (size_t i = 0; i < sizeof s_desc / sizeof s_desc[0]; i++)
    if (s_desc[i].code == code) return s_desc[i].text;
  return NULL;
}
