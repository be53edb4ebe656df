/* dd_dtc_code: diagnostic trouble codes as bytes and as text ("P0301", "P0301-1F") per SAE J2012
 * / ISO 15031-6, with short descriptions of the codes duodiag's vehicles use. */
#ifndef DD_DTC_CODE_H
#define DD_DTC_CODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Buffer sizes, terminating NUL included: "P0301" and "P0301-1F". */
#define DD_DTC_TEXT_SIZE 6
#define DD_DTC_TEXT3_SIZE 9

/* The system letter in bits 15-14 of a 2-byte DTC (SAE J2012 / ISO 15031-6 5.3). */
typedef enum {
  DD_DTC_POWERTRAIN = 0, /* 00: P */
  DD_DTC_CHASSIS = 1,    /* 01: C */
  DD_DTC_BODY = 2,       /* 10: B */
  DD_DTC_NETWORK = 3,    /* 11: U */
} dd_dtc_system_t;

/* Letter of a 2-byte code's system: 'P', 'C', 'B' or 'U'. */
char dd_dtc_code_letter(uint16_t code);

/* 2-byte DTC (as in OBD services $03/$07/$0A) -> "P0301"; never fails. */
void dd_dtc_code_format(uint16_t code, char out[DD_DTC_TEXT_SIZE]);

/* "P0301" (letter case-insensitive, hex digits) -> 2-byte DTC. Returns 0, or DD_EILSEQ when the
 * text is not exactly one letter P/C/B/U, a digit 0-3 and three hex digits. */
int dd_dtc_code_parse(const char *text, uint16_t *code);

/* 3-byte UDS DTC (ISO 14229-1 DTC format SAE J2012-DA: 2-byte code, then the failure type byte)
 * held in the low 24 bits -> "P0301-1F"; never fails. */
void dd_dtc_code_format3(uint32_t dtc, char out[DD_DTC_TEXT3_SIZE]);

/* "P0301-1F", "P0301:1F", "P03011F" or "P0301" (failure type 00) -> 3-byte DTC in the low 24
 * bits. Returns 0 or DD_EILSEQ. */
int dd_dtc_code_parse3(const char *text, uint32_t *dtc);

/* Why a text is not a DTC, for error messages ("the letter must be P, C, B or U", ...); NULL
 * when the text parses (as a 2- or 3-byte DTC when allow3 is set). */
const char *dd_dtc_code_problem(const char *text, bool allow3);

/* Short English description of a 2-byte code, or NULL when the table does not know it. */
const char *dd_dtc_code_description(uint16_t code);

#endif
