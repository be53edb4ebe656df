/* dd_vin: vehicle identification numbers: ISO 3779 syntax, the North-American check digit and
 * model year (49 CFR 565.15), and a rough region/country from the WMI (ISO 3780). */
#ifndef DD_VIN_H
#define DD_VIN_H

#include <stdbool.h>
#include <stddef.h>

#define DD_VIN_LEN 17                /* characters in a VIN (ISO 3779 5.1) */
#define DD_VIN_SIZE (DD_VIN_LEN + 1) /* buffer size with the terminating NUL */

/* When the position-9 check digit must be right (dd_vin_validate flags). */
typedef enum {
  DD_VIN_CHECK_AUTO = 0, /* when dd_vin_requires_check_digit() says so */
  DD_VIN_CHECK_ALWAYS,   /* always (e.g. a vehicle built for the US market outside it) */
  DD_VIN_CHECK_NEVER,    /* never */
} dd_vin_check_t;

/* What is wrong with a VIN. */
typedef enum {
  DD_VIN_OK = 0,
  DD_VIN_BAD_LENGTH,      /* not 17 characters */
  DD_VIN_BAD_CHAR,        /* a character outside 0-9, A-Z without I, O, Q */
  DD_VIN_BAD_CHECK_DIGIT, /* position 9 differs from the computed check digit */
  DD_VIN_BAD_YEAR,        /* position 10 is not a model-year code (North-American rules) */
} dd_vin_problem_t;

typedef struct {
  dd_vin_problem_t problem; /* DD_VIN_OK when valid */
  int position;             /* 1-based position of the problem; 0 for the length */
  char found;               /* the character found there (0 for the length) */
  char expected;            /* the right check digit, or a suggested replacement, or 0 */
  char text[128];           /* human-readable, e.g. "position 9: check digit is 7, expected 3" */
} dd_vin_report_t;

/* The 49 CFR 565.15 Table IV value of a VIN character (digits keep their value, A=1 ... Z=9),
 * or -1 when c may not appear in a VIN. */
int dd_vin_char_value(char c);

/* True for the characters ISO 3779 allows: 0-9 and A-Z without I, O and Q. */
bool dd_vin_char_valid(char c);

/* The check digit ('0'-'9' or 'X') computed over the 17 characters at vin (49 CFR 565.15(c)),
 * or 0 when one of them is not a VIN character. Position 9 itself is weighted 0. */
char dd_vin_compute_check_digit(const char *vin);

/* True when the VIN's WMI is North-American (first character 1-5), where 49 CFR 565 makes the
 * check digit mandatory. Vehicles from elsewhere built for the US market carry one too; the VIN
 * alone cannot tell, hence DD_VIN_CHECK_ALWAYS. */
bool dd_vin_requires_check_digit(const char *vin);

/* Validates a NUL-terminated VIN. Returns 0, or DD_EINVAL with rep (if not NULL) saying where
 * and what is wrong. With North-American rules (check digit required) position 10 must also
 * be a model-year code. */
int dd_vin_validate(const char *vin, dd_vin_check_t check, dd_vin_report_t *rep);

/* Model year from position 10 under 49 CFR 565.15(d): the 30-year code cycle is resolved with
 * position 7 as the rule asks of passenger cars, MPVs and light trucks: a digit there means
 * 1980-2009, a letter 2010-2039. Returns 0, or DD_EINVAL when position 10 is not a year code
 * (I, O, Q, U, Z, 0) or the string is shorter than 10 characters. */
int dd_vin_model_year(const char *vin, int *year);

/* The two years (30 apart, 1980-2039) a position-10 code stands for. Returns 0 or DD_EINVAL. */
int dd_vin_year_candidates(char code, int *first, int *second);

/* The position-10 code of a model year 1980-2039, or 0 outside that range. */
char dd_vin_year_code(int year);

/* Rough region ("North America", "Europe", "Asia", "Africa", "Oceania", "South America") from
 * the first character (ISO 3780 zones), or "unknown". */
const char *dd_vin_region(const char *vin);

/* Rough country from the first two characters, e.g. "Germany" for W?, "Japan" for J?, or
 * "unknown"; the authoritative list is the WMI register kept for ISO 3780. */
const char *dd_vin_country(const char *vin);

#endif
