/* check_vin: unit tests of VIN validation, check digit, model year and WMI zones.
 *
 * Vectors: 1M8GDM9AXKP042788 is the widely published worked example of the check digit (it
 * comes out as X); 1G4AH59H45G118341 is the worked example of 49 CFR 565.15 Table V;
 * 1FTMW1T88MFA00001 is the sample VIN of NHTSA's vPIC API documentation; LJCPCBLCX11000237 is a
 * published Chinese VIN with an X check digit. The transliteration values are those of 49 CFR
 * 565.15 Table IV; the year codes those of Table VI. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_err.h"
#include "dd_vin.h"

START_TEST(test_transliteration_table) {
  /* 49 CFR 565.15(c) Table IV; note S = 2 (not 1) and K = 2 */
  const char *letters = "ABCDEFGHJKLMNPRSTUVWXYZ";
  const int values[] = {1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 7, 9, 2, 3, 4, 5, 6, 7, 8, 9};
  for (size_t i = 0; letters[i]; i++)
    ck_assert_int_eq(dd_vin_char_value(letters[i]), values[i]);
  for (char c = '0'; c <= '9'; c++)
    ck_assert_int_eq(dd_vin_char_value(c), c - '0');
  ck_assert_int_eq(dd_vin_char_value('I'), -1);
  ck_assert_int_eq(dd_vin_char_value('O'), -1);
  ck_assert_int_eq(dd_vin_char_value('Q'), -1);
  ck_assert_int_eq(dd_vin_char_value('a'), -1);
  ck_assert_int_eq(dd_vin_char_value('-'), -1);
  ck_assert(!dd_vin_char_valid('\0'));
}
END_TEST

START_TEST(test_published_check_digits) {
  static const struct {
    const char *vin;
    char check;
  } v[] = {
      {"1M8GDM9AXKP042788", 'X'},
      {"1G4AH59H45G118341", '4'},
      {"1FTMW1T88MFA00001", '8'},
      {"LJCPCBLCX11000237", 'X'},
  };
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
    ck_assert_int_eq(dd_vin_compute_check_digit(v[i].vin), v[i].check);
    dd_vin_report_t rep;
    ck_assert_int_eq(dd_vin_validate(v[i].vin, DD_VIN_CHECK_ALWAYS, &rep), 0);
    ck_assert_int_eq(rep.problem, DD_VIN_OK);
  }
}
END_TEST

START_TEST(test_wrong_check_digit) {
  dd_vin_report_t rep;
  /* 1G4AH59H45G118341 with position 9 changed to 7 */
  ck_assert_int_eq(dd_vin_validate("1G4AH59H75G118341", DD_VIN_CHECK_AUTO, &rep), DD_EINVAL);
  ck_assert_int_eq(rep.problem, DD_VIN_BAD_CHECK_DIGIT);
  ck_assert_int_eq(rep.position, 9);
  ck_assert_int_eq(rep.found, '7');
  ck_assert_int_eq(rep.expected, '4');
  ck_assert_str_eq(rep.text, "position 9: check digit is 7, expected 4");
  /* X expected */
  ck_assert_int_eq(dd_vin_validate("1M8GDM9A3KP042788", DD_VIN_CHECK_AUTO, &rep), DD_EINVAL);
  ck_assert_str_eq(rep.text, "position 9: check digit is 3, expected X");
  /* the weighted sum of 1G4AH59H45G118341 is 411; position 17 (weight 2) going from 1 to 9
   * adds 16: 427 mod 11 = 9 */
  ck_assert_int_eq(dd_vin_compute_check_digit("1G4AH59H45G118349"), '9');
}
END_TEST

START_TEST(test_check_policy) {
  /* a European VIN with a filler in position 9 */
  const char *eu = "WVWZZZ1JZ3W386752";
  ck_assert(!dd_vin_requires_check_digit(eu));
  ck_assert_int_eq(dd_vin_validate(eu, DD_VIN_CHECK_AUTO, NULL), 0);
  ck_assert_int_eq(dd_vin_validate(eu, DD_VIN_CHECK_NEVER, NULL), 0);
  dd_vin_report_t rep;
  ck_assert_int_eq(dd_vin_validate(eu, DD_VIN_CHECK_ALWAYS, &rep), DD_EINVAL);
  ck_assert_int_eq(rep.problem, DD_VIN_BAD_CHECK_DIGIT);
  ck_assert_int_eq(rep.found, 'Z');
  /* North-American WMIs 1-5 need it; NEVER switches it off */
  for (char c = '1'; c <= '5'; c++) {
    char vin[] = "1G4AH59H45G118341";
    vin[0] = c;
    ck_assert(dd_vin_requires_check_digit(vin));
  }
  ck_assert(!dd_vin_requires_check_digit("6G4AH59H45G118341"));
  ck_assert(!dd_vin_requires_check_digit("JG4AH59H45G118341"));
  ck_assert_int_eq(dd_vin_validate("1G4AH59H75G118341", DD_VIN_CHECK_NEVER, NULL), 0);
}
END_TEST

START_TEST(test_bad_characters) {
  dd_vin_report_t rep;
  ck_assert_int_eq(dd_vin_validate("1G4AH59H45G1I8341", DD_VIN_CHECK_AUTO, &rep), DD_EINVAL);
  ck_assert_int_eq(rep.problem, DD_VIN_BAD_CHAR);
  ck_assert_int_eq(rep.position, 13);
  ck_assert_int_eq(rep.expected, '1');
  ck_assert_str_eq(rep.text,
                   "position 13: 'I' is never used in a VIN (nor O, Q); did you mean '1'?");
  ck_assert_int_eq(dd_vin_validate("1G4AH59H45GO18341", DD_VIN_CHECK_AUTO, &rep), DD_EINVAL);
  ck_assert_int_eq(rep.position, 12);
  ck_assert_int_eq(rep.expected, '0');
  ck_assert_str_eq(rep.text,
                   "position 12: 'O' is never used in a VIN (nor I, Q); did you mean '0'?");
  ck_assert_int_eq(dd_vin_validate("QG4AH59H45G118341", DD_VIN_CHECK_AUTO, &rep), DD_EINVAL);
  ck_assert_int_eq(rep.position, 1);
  ck_assert_str_eq(rep.text,
                   "position 1: 'Q' is never used in a VIN (nor I, O); did you mean '0'?");
  ck_assert_int_eq(dd_vin_validate("1g4AH59H45G118341", DD_VIN_CHECK_AUTO, &rep), DD_EINVAL);
  ck_assert_int_eq(rep.position, 2);
  ck_assert_int_eq(rep.expected, 'G');
  ck_assert_str_eq(rep.text, "position 2: 'g' is lower case; VINs use capital letters ('G')");
  ck_assert_int_eq(dd_vin_validate("1G4AH59H45G1-8341", DD_VIN_CHECK_AUTO, &rep), DD_EINVAL);
  ck_assert_str_eq(rep.text, "position 13: '-' is not a VIN character (0-9, A-Z without I, O, Q)");
  ck_assert_int_eq(dd_vin_validate("1G4AH59H45G1\x07"
                                   "8341",
                                   DD_VIN_CHECK_AUTO, &rep),
                   DD_EINVAL);
  ck_assert_str_eq(rep.text,
                   "position 13: byte 0x07 is not a VIN character (0-9, A-Z without I, O, Q)");
  /* the check digit cannot be computed over a bad character */
  ck_assert_int_eq(dd_vin_compute_check_digit("1G4AH59H45G1I8341"), 0);
}
END_TEST

START_TEST(test_lengths) {
  dd_vin_report_t rep;
  ck_assert_int_eq(dd_vin_validate("1G4AH59H45G11834", DD_VIN_CHECK_AUTO, &rep), DD_EINVAL);
  ck_assert_int_eq(rep.problem, DD_VIN_BAD_LENGTH);
  ck_assert_int_eq(rep.position, 0);
  ck_assert_str_eq(rep.text, "VIN has 16 characters, expected 17");
  ck_assert_int_eq(dd_vin_validate("1G4AH59H45G1183412", DD_VIN_CHECK_AUTO, &rep), DD_EINVAL);
  ck_assert_str_eq(rep.text, "VIN has 18 characters, expected 17");
  ck_assert_int_eq(dd_vin_validate("", DD_VIN_CHECK_AUTO, &rep), DD_EINVAL);
  ck_assert_str_eq(rep.text, "VIN has 0 characters, expected 17");
  ck_assert_int_eq(dd_vin_validate("1", DD_VIN_CHECK_AUTO, &rep), DD_EINVAL);
  ck_assert_str_eq(rep.text, "VIN has 1 character, expected 17");
}
END_TEST

START_TEST(test_model_year) {
  int y = 0;
  /* position 7 '9' (a digit): 1980-2009, so K = 1989 */
  ck_assert_int_eq(dd_vin_model_year("1M8GDM9AXKP042788", &y), 0);
  ck_assert_int_eq(y, 1989);
  /* position 7 '9': 5 is 2005 (not 2035) */
  ck_assert_int_eq(dd_vin_model_year("1G4AH59H45G118341", &y), 0);
  ck_assert_int_eq(y, 2005);
  /* position 7 a letter: 2010-2039 */
  ck_assert_int_eq(dd_vin_model_year("4CVBS2KA6KT104377", &y), 0);
  ck_assert_int_eq(y, 2019);
  ck_assert_int_eq(dd_vin_model_year("1FTMW1T88MFA00001", &y), 0);
  ck_assert_int_eq(y, 2021);
  int a, b;
  ck_assert_int_eq(dd_vin_year_candidates('A', &a, &b), 0);
  ck_assert_int_eq(a, 1980);
  ck_assert_int_eq(b, 2010);
  ck_assert_int_eq(dd_vin_year_candidates('Y', &a, &b), 0);
  ck_assert_int_eq(a, 2000);
  ck_assert_int_eq(dd_vin_year_candidates('1', &a, &b), 0);
  ck_assert_int_eq(a, 2001);
  ck_assert_int_eq(b, 2031);
  const char *never = "IOQUZ0";
  for (size_t i = 0; never[i]; i++)
    ck_assert_int_eq(dd_vin_year_candidates(never[i], &a, &b), DD_EINVAL);
  ck_assert_int_eq(dd_vin_year_candidates('\0', &a, &b), DD_EINVAL);
  for (int year = 1980; year <= 2039; year++) {
    char code = dd_vin_year_code(year);
    ck_assert(code != 0);
    ck_assert_int_eq(dd_vin_year_candidates(code, &a, &b), 0);
    ck_assert(a == year || b == year);
  }
  ck_assert_int_eq(dd_vin_year_code(1979), 0);
  ck_assert_int_eq(dd_vin_year_code(2040), 0);
  ck_assert_int_eq(dd_vin_model_year("1M8GDM9AX", &y), DD_EINVAL);
  ck_assert_int_eq(dd_vin_model_year("1M8GDM9AXUP042788", &y), DD_EINVAL);
  /* North-American rules also reject a bad year code at position 10 */
  dd_vin_report_t rep;
  char vin[] = "1M8GDM9A0UP042788";
  vin[8] = dd_vin_compute_check_digit(vin);
  ck_assert_int_eq(dd_vin_validate(vin, DD_VIN_CHECK_AUTO, &rep), DD_EINVAL);
  ck_assert_int_eq(rep.problem, DD_VIN_BAD_YEAR);
  ck_assert_int_eq(rep.position, 10);
  ck_assert_str_eq(rep.text,
                   "position 10: 'U' is not a model-year code (U, Z and 0 are never used)");
}
END_TEST

START_TEST(test_regions) {
  ck_assert_str_eq(dd_vin_region("WVWZZZ1JZ3W386752"), "Europe");
  ck_assert_str_eq(dd_vin_country("WVWZZZ1JZ3W386752"), "Germany");
  ck_assert_str_eq(dd_vin_region("JTDBR32E720000000"), "Asia");
  ck_assert_str_eq(dd_vin_country("JTDBR32E720000000"), "Japan");
  ck_assert_str_eq(dd_vin_region("1G4AH59H45G118341"), "North America");
  ck_assert_str_eq(dd_vin_country("1G4AH59H45G118341"), "United States");
  ck_assert_str_eq(dd_vin_country("2HGFA16588H000000"), "Canada");
  ck_assert_str_eq(dd_vin_country("3VWFE21C04M000000"), "Mexico");
  ck_assert_str_eq(dd_vin_country("KNADE123456789012"), "South Korea");
  ck_assert_str_eq(dd_vin_country("KF0AA000000000000"), "Israel");
  ck_assert_str_eq(dd_vin_country("KPNSD4JC3NU513208"), "South Korea");
  ck_assert_str_eq(dd_vin_country("LJCPCBLCX11000237"), "China");
  ck_assert_str_eq(dd_vin_country("ZLVZZZ5SZM0021847"), "Italy");
  ck_assert_str_eq(dd_vin_country("VF1AB000000000000"), "France");
  ck_assert_str_eq(dd_vin_country("VSSZZZ6JZ00000000"), "Spain");
  ck_assert_str_eq(dd_vin_country("SALAA000000000000"), "United Kingdom");
  ck_assert_str_eq(dd_vin_country("YV1AS000000000000"), "Sweden");
  ck_assert_str_eq(dd_vin_region("9BWZZZ377VT000000"), "South America");
  ck_assert_str_eq(dd_vin_country("9BWZZZ377VT000000"), "Brazil");
  ck_assert_str_eq(dd_vin_region("6FPAAAJGCM0000000"), "Oceania");
  ck_assert_str_eq(dd_vin_country("6FPAAAJGCM0000000"), "Australia");
  ck_assert_str_eq(dd_vin_region("AHT00000000000000"), "Africa");
  ck_assert_str_eq(dd_vin_country("AHT00000000000000"), "South Africa");
  ck_assert_str_eq(dd_vin_region("I0000000000000000"), "unknown");
  ck_assert_str_eq(dd_vin_country(""), "unknown");
  ck_assert_str_eq(dd_vin_country("Z"), "unknown");
}
END_TEST

static Suite *s_suite(void) {
  Suite *s = suite_create("vin");
  TCase *tc = tcase_create("vin");
  tcase_add_test(tc, test_transliteration_table);
  tcase_add_test(tc, test_published_check_digits);
  tcase_add_test(tc, test_wrong_check_digit);
  tcase_add_test(tc, test_check_policy);
  tcase_add_test(tc, test_bad_characters);
  tcase_add_test(tc, test_lengths);
  tcase_add_test(tc, test_model_year);
  tcase_add_test(tc, test_regions);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(s_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
