/* check_err: the error table: unique values, names, messages, errno pass-through. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "dd_err.h"

typedef struct {
  int code;
  const char *name;
} s_row_t;

static const s_row_t s_rows[] = {
#define ROW(name, value, msg) {(value), #name},
    DD_ERRORS(ROW)
#undef ROW
};
#define N_ROWS (sizeof s_rows / sizeof s_rows[0])

START_TEST(test_values_unique_and_negative) {
  for (size_t i = 0; i < N_ROWS; i++) {
    ck_assert_int_lt(s_rows[i].code, 0);
    for (size_t j = i + 1; j < N_ROWS; j++)
      ck_assert_msg(s_rows[i].code != s_rows[j].code, "%s and %s share %d", s_rows[i].name,
                    s_rows[j].name, s_rows[i].code);
  }
}
END_TEST

START_TEST(test_names_and_messages) {
  for (size_t i = 0; i < N_ROWS; i++) {
    ck_assert_str_eq(dd_err_name(s_rows[i].code), s_rows[i].name);
    const char *msg = dd_strerror(s_rows[i].code);
    ck_assert_ptr_nonnull(msg);
    ck_assert_int_gt(strlen(msg), 3);
    ck_assert(dd_err_known(s_rows[i].code));
  }
  ck_assert_str_eq(dd_err_name(DD_ETIMEDOUT), "DD_ETIMEDOUT");
  ck_assert_str_eq(dd_strerror(DD_EISOTP_TIMEOUT_BS),
                   "ISO-TP N_Bs timeout (no flow control from the receiver)");
}
END_TEST

START_TEST(test_errno_passthrough_and_unknown) {
  ck_assert_int_eq(DD_ETIMEDOUT, -ETIMEDOUT);
  ck_assert_str_eq(dd_strerror(-ECONNREFUSED), strerror(ECONNREFUSED));
  ck_assert_str_eq(dd_err_name(-ECONNREFUSED), "DD_UNKNOWN");
  ck_assert(!dd_err_known(-ECONNREFUSED));
  ck_assert_str_eq(dd_strerror(-99999), "unknown error");
  ck_assert_str_eq(dd_strerror(0), "success");
  ck_assert_str_eq(dd_err_name(0), "DD_OK");
}
END_TEST

int main(void) {
  Suite *s = suite_create("err");
  TCase *tc = tcase_create("table");
  tcase_add_test(tc, test_values_unique_and_negative);
  tcase_add_test(tc, test_names_and_messages);
  tcase_add_test(tc, test_errno_passthrough_and_unknown);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
