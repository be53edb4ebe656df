/* dd_vin: VIN validation, check digit and model year (ISO 3779, 49 CFR 565.15), WMI zones
 * (ISO 3780). */
#include "dd_vin.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "dd_err.h"

/* 49 CFR 565.15(c) Table IV transliteration; -1 marks I, O and Q. */
int dd_vin_char_value(char c) {
  static const signed char letters[26] = {
      1, 2, 3, 4, 5, 6,  7, 8,  -1, /* A-I */
      1, 2, 3, 4, 5, -1, 7, -1, 9,  /* J-R */
      2, 3, 4, 5, 6, 7,  8, 9,      /* S-Z */
  };
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'Z') return letters[c - 'A'];
  return -1;
}

bool dd_vin_char_valid(char c) { return dd_vin_char_value(c) >= 0; }

char dd_vin_compute_check_digit(const char *vin) {
  assert(vin);
  /* 49 CFR 565.15(c) Table V: position weights; position 9 (the check digit) weighs 0. */
  static const int weights[DD_VIN_LEN] = {8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2};
  int sum = 0;
  for (int i = 0; i < DD_VIN_LEN; i++) {
    int v = dd_vin_char_value(vin[i]);
    if (v < 0) return 0;
    sum += v * weights[i];
  }
  int r = sum % 11; /* 565.15(c)(3): remainder 10 is written X */
  return r == 10 ? 'X' : (char)('0' + r);
}

bool dd_vin_requires_check_digit(const char *vin) {
  assert(vin);
  /* ISO 3780 zone 1-5 is North America (US 1, 4, 5; Canada 2; Mexico 3). */
  return vin[0] >= '1' && vin[0] <= '5';
}

/* Model-year codes of 49 CFR 565.15(d) Table VI; index = year - 1980 (period 30). */
static const char s_year_codes[31] = "ABCDEFGHJKLMNPRSTVWXY123456789";

char dd_vin_year_code(int year) {
  if (year < 1980 || year > 2039) return 0;
  return s_year_codes[(year - 1980) % 30];
}

int dd_vin_year_candidates(char code, int *first, int *second) {
  assert(first && second);
  if (code == '\0') return DD_EINVAL;
  const char *p = strchr(s_year_codes, code);
  if (!p) return DD_EINVAL;
  *first = 1980 + (int)(p - s_year_codes);
  *second = *first + 30;
  return 0;
}

int dd_vin_model_year(const char *vin, int *year) {
  assert(vin && year);
  if (strnlen(vin, 10) < 10) return DD_EINVAL;
  int a, b;
  if (dd_vin_year_candidates(vin[9], &a, &b) < 0) return DD_EINVAL;
  /* 565.15(d)(2): position 7 numeric for 1980-2009, alphabetic for 2010-2039. */
  *year = (vin[6] >= '0' && vin[6] <= '9') ? a : b;
  return 0;
}

static int s_fail(dd_vin_report_t *rep, dd_vin_problem_t problem, int position, char found,
                  char expected, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static int s_fail(dd_vin_report_t *rep, dd_vin_problem_t problem, int position, char found,
                  char expected, const char *fmt, ...) {
  if (rep) {
    rep->problem = problem;
    rep->position = position;
    rep->found = found;
    rep->expected = expected;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rep->text, sizeof rep->text, fmt, ap);
    va_end(ap);
  }
  return DD_EINVAL;
}

int dd_vin_validate(const char *vin, dd_vin_check_t check, dd_vin_report_t *rep) {
  assert(vin);
  if (rep) memset(rep, 0, sizeof *rep);
  size_t n = strnlen(vin, DD_VIN_LEN + 1);
  if (n != DD_VIN_LEN) {
    size_t full = n > DD_VIN_LEN ? strlen(vin) : n;
    return s_fail(rep, DD_VIN_BAD_LENGTH, 0, 0, 0, "VIN has %zu character%s, expected %d", full,
                  full == 1 ? "" : "s", DD_VIN_LEN);
  }
  /* ISO 3779 5.3 / 49 CFR 565.14(b): Arabic digits and capital Roman letters except I, O, Q. */
  for (int i = 0; i < DD_VIN_LEN; i++) {
    char c = vin[i];
    if (dd_vin_char_valid(c)) continue;
    int pos = i + 1;
    if (c == 'I')
      return s_fail(rep, DD_VIN_BAD_CHAR, pos, c, '1',
                    "position %d: 'I' is never used in a VIN (nor O, Q); did you mean '1'?", pos);
    if (c == 'O' || c == 'Q')
      return s_fail(rep, DD_VIN_BAD_CHAR, pos, c, '0',
                    "position %d: '%c' is never used in a VIN (nor I, %c); did you mean '0'?", pos,
                    c, c == 'O' ? 'Q' : 'O');
    if (c >= 'a' && c <= 'z') {
      char up = (char)(c - 'a' + 'A');
      if (dd_vin_char_valid(up))
        return s_fail(rep, DD_VIN_BAD_CHAR, pos, c, up,
                      "position %d: '%c' is lower case; VINs use capital letters ('%c')", pos, c,
                      up);
      return s_fail(rep, DD_VIN_BAD_CHAR, pos, c, 0,
                    "position %d: '%c' is not a VIN character (I, O and Q are never used, and "
                    "letters are capitals)",
                    pos, c);
    }
    if (c > 0x20 && c < 0x7F)
      return s_fail(rep, DD_VIN_BAD_CHAR, pos, c, 0,
                    "position %d: '%c' is not a VIN character (0-9, A-Z without I, O, Q)", pos, c);
    return s_fail(rep, DD_VIN_BAD_CHAR, pos, c, 0,
                  "position %d: byte 0x%02X is not a VIN character (0-9, A-Z without I, O, Q)", pos,
                  (unsigned char)c);
  }
  bool na = check == DD_VIN_CHECK_ALWAYS ||
            (check == DD_VIN_CHECK_AUTO && dd_vin_requires_check_digit(vin));
  if (!na) return 0;
  char want = dd_vin_compute_check_digit(vin);
  if (vin[8] != want)
    return s_fail(rep, DD_VIN_BAD_CHECK_DIGIT, 9, vin[8], want,
                  "position 9: check digit is %c, expected %c", vin[8], want);
  int a, b;
  if (dd_vin_year_candidates(vin[9], &a, &b) < 0)
    return s_fail(rep, DD_VIN_BAD_YEAR, 10, vin[9], 0,
                  "position 10: '%c' is not a model-year code (U, Z and 0 are never used)", vin[9]);
  return 0;
}

const char *dd_vin_region(const char *vin) {
  assert(vin);
  char c = vin[0];
  /* ISO 3780 geographic zones of the first WMI character. */
  if (c >= 'A' && c <= 'H') return "Africa";
  if (c >= 'J' && c <= 'R') return "Asia";
  if (c >= 'S' && c <= 'Z') return "Europe";
  if (c >= '1' && c <= '5') return "North America";
  if (c == '6' || c == '7') return "Oceania";
  if (c == '8' || c == '9' || c == '0') return "South America";
  return "unknown";
}

/* Index of a second WMI character in the ISO 3780 order: A-Z without I, O, Q, then 1-9, 0. */
static int s_order(char c) {
  static const char order[] = "ABCDEFGHJKLMNPRSTUVWXYZ1234567890";
  if (c == '\0') return -1;
  const char *p = strchr(order, c);
  return p ? (int)(p - order) : -1;
}

typedef struct {
  char first;          /* first WMI character */
  char from, to;       /* range of the second character (ISO 3780 order, inclusive) */
  const char *country; /* country name */
} s_country_t;

static const s_country_t s_countries[] = {
    {'A', 'A', 'H', "South Africa"},
    {'A', 'J', 'N', "Ivory Coast"},
    {'B', 'A', 'E', "Angola"},
    {'B', 'F', 'K', "Kenya"},
    {'B', 'L', 'R', "Tanzania"},
    {'C', 'A', 'E', "Benin"},
    {'C', 'F', 'K', "Madagascar"},
    {'C', 'L', 'R', "Tunisia"},
    {'D', 'A', 'E', "Egypt"},
    {'D', 'F', 'K', "Morocco"},
    {'D', 'L', 'R', "Zambia"},
    {'E', 'A', 'E', "Ethiopia"},
    {'E', 'F', 'K', "Mozambique"},
    {'F', 'A', 'E', "Ghana"},
    {'F', 'F', 'K', "Nigeria"},
    {'J', 'A', '0', "Japan"},
    {'K', 'A', 'E', "Sri Lanka"},
    {'K', 'F', 'K', "Israel"},
    {'K', 'L', 'R', "South Korea"},
    {'K', 'S', '0', "Kazakhstan"},
    {'L', 'A', '0', "China"},
    {'M', 'A', 'E', "India"},
    {'M', 'F', 'K', "Indonesia"},
    {'M', 'L', 'R', "Thailand"},
    {'M', 'S', '0', "Myanmar"},
    {'N', 'A', 'E', "Iran"},
    {'N', 'F', 'K', "Pakistan"},
    {'N', 'L', 'R', "Turkey"},
    {'P', 'A', 'E', "Philippines"},
    {'P', 'F', 'K', "Singapore"},
    {'P', 'L', 'R', "Malaysia"},
    {'R', 'A', 'E', "United Arab Emirates"},
    {'R', 'F', 'K', "Taiwan"},
    {'R', 'L', 'R', "Vietnam"},
    {'R', 'S', '0', "Saudi Arabia"},
    {'S', 'A', 'M', "United Kingdom"},
    {'S', 'N', 'T', "Germany"},
    {'S', 'U', 'Z', "Poland"},
    {'S', '1', '4', "Latvia"},
    {'T', 'A', 'H', "Switzerland"},
    {'T', 'J', 'P', "Czech Republic"},
    {'T', 'R', 'V', "Hungary"},
    {'T', 'W', '1', "Portugal"},
    {'U', 'H', 'M', "Denmark"},
    {'U', 'N', 'T', "Ireland"},
    {'U', 'U', 'Z', "Romania"},
    {'U', '5', '7', "Slovakia"},
    {'V', 'A', 'E', "Austria"},
    {'V', 'F', 'R', "France"},
    {'V', 'S', 'W', "Spain"},
    {'V', 'X', '2', "Serbia"},
    {'V', '3', '5', "Croatia"},
    {'V', '6', '0', "Estonia"},
    {'W', 'A', '0', "Germany"},
    {'X', 'A', 'E', "Bulgaria"},
    {'X', 'F', 'K', "Greece"},
    {'X', 'L', 'R', "Netherlands"},
    {'X', 'S', 'W', "Russia"},
    {'X', 'X', '2', "Luxembourg"},
    {'X', '3', '0', "Russia"},
    {'Y', 'A', 'E', "Belgium"},
    {'Y', 'F', 'K', "Finland"},
    {'Y', 'L', 'R', "Malta"},
    {'Y', 'S', 'W', "Sweden"},
    {'Y', 'X', '2', "Norway"},
    {'Y', '3', '5', "Belarus"},
    {'Y', '6', '0', "Ukraine"},
    {'Z', 'A', 'R', "Italy"},
    {'Z', 'X', '2', "Slovenia"},
    {'Z', '3', '5', "Lithuania"},
    {'1', 'A', '0', "United States"},
    {'2', 'A', '0', "Canada"},
    {'3', 'A', 'W', "Mexico"},
    {'3', 'X', '7', "Costa Rica"},
    {'3', '8', '0', "Cayman Islands"},
    {'4', 'A', '0', "United States"},
    {'5', 'A', '0', "United States"},
    {'6', 'A', 'W', "Australia"},
    {'7', 'A', 'E', "New Zealand"},
    {'8', 'A', 'E', "Argentina"},
    {'8', 'F', 'K', "Chile"},
    {'8', 'L', 'R', "Ecuador"},
    {'8', 'S', 'W', "Peru"},
    {'8', 'X', '2', "Venezuela"},
    {'9', 'A', 'E', "Brazil"},
    {'9', 'F', 'K', "Colombia"},
    {'9', 'L', 'R', "Paraguay"},
    {'9', 'S', 'W', "Uruguay"},
    {'9', 'X', '2', "Trinidad and Tobago"},
    {'9', '3', '9', "Brazil"},
};

const char *dd_vin_country(const char *vin) {
  assert(vin);
  if (vin[0] == '\0') return "unknown";
  int o = s_order(vin[1]);
  if (o < 0) return "unknown";
  for (size_t i = 0; i < sizeof s_countries / sizeof s_countries[0]; i++) {
    const s_country_t *e = &s_countries[i];
    if (e->first == vin[0] && o >= s_order(e->from) && o <= s_order(e->to)) return e->country;
  }
  return "unknown";
}
