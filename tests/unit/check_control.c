/* check_control: S5 authorization: outside a session, unpaid, wrong terminal or session,
 * actuator tests while moving, reflash with the engine running or during another reflash, and
 * the planted accept-without-payment defect. */
#include <check.h>
#include <stdlib.h>

#include "dd_control.h"

static dd_control_ctx_t s_ok(void) {
  return (dd_control_ctx_t){.established = true, .paid = true, .session_id = "s1",
                            .terminal_id = "shop-a"};
}

START_TEST(test_session_rules) {
  dd_control_ctx_t c = s_ok();
  ck_assert_int_eq(dd_control_authorize(&c, DD_CTL_READ_DTCS, "s1", "shop-a"), DD_CTL_OK);
  ck_assert_int_eq(dd_control_authorize(&c, DD_CTL_READ_DTCS, "s1", "shop-b"),
                   DD_CTL_WRONG_TERMINAL);
  ck_assert_int_eq(dd_control_authorize(&c, DD_CTL_READ_DTCS, "s2", "shop-a"),
                   DD_CTL_WRONG_SESSION);
  ck_assert_int_eq(dd_control_authorize(&c, DD_CTL_READ_DTCS, "", ""), DD_CTL_WRONG_SESSION);
  c.paid = false;
  ck_assert_int_eq(dd_control_authorize(&c, DD_CTL_CLEAR_DTCS, "s1", "shop-a"), DD_CTL_NOT_PAID);
  c.established = false;
  ck_assert_int_eq(dd_control_authorize(&c, DD_CTL_CLEAR_DTCS, "s1", "shop-a"),
                   DD_CTL_NO_SESSION);
  c.accept_unpaid = true; /* the planted defect lets it through */
  ck_assert_int_eq(dd_control_authorize(&c, DD_CTL_CLEAR_DTCS, NULL, NULL), DD_CTL_OK);
}
END_TEST

START_TEST(test_vehicle_conditions) {
  dd_control_ctx_t c = s_ok();
  c.speed_kmh = 12;
  ck_assert_int_eq(dd_control_authorize(&c, DD_CTL_IO_CONTROL, "s1", "shop-a"),
                   DD_CTL_VEHICLE_MOVING);
  ck_assert_int_eq(dd_control_authorize(&c, DD_CTL_ROUTINE, "s1", "shop-a"),
                   DD_CTL_VEHICLE_MOVING);
  ck_assert_int_eq(dd_control_authorize(&c, DD_CTL_READ_PIDS, "s1", "shop-a"), DD_CTL_OK);
  ck_assert_int_eq(dd_control_authorize(&c, DD_CTL_STREAM_PIDS, "s1", "shop-a"), DD_CTL_OK);
  c.speed_kmh = 0.2;
  ck_assert_int_eq(dd_control_authorize(&c, DD_CTL_IO_CONTROL, "s1", "shop-a"), DD_CTL_OK);
  c.engine_running = true;
  ck_assert_int_eq(dd_control_authorize(&c, DD_CTL_START_REFLASH, "s1", "shop-a"),
                   DD_CTL_ENGINE_RUNNING);
  c.engine_running = false;
  ck_assert_int_eq(dd_control_authorize(&c, DD_CTL_START_REFLASH, "s1", "shop-a"), DD_CTL_OK);
  c.reflash_active = true;
  ck_assert_int_eq(dd_control_authorize(&c, DD_CTL_READ_DTCS, "s1", "shop-a"), DD_CTL_BUSY);
  ck_assert_int_eq(dd_control_authorize(&c, DD_CTL_STOP_STREAM, "s1", "shop-a"), DD_CTL_OK);
  ck_assert_str_eq(dd_control_action_name(DD_CTL_START_REFLASH), "start_reflash");
  ck_assert_str_eq(dd_control_verdict_name(DD_CTL_VEHICLE_MOVING), "vehicle_moving");
}
END_TEST

int main(void) {
  Suite *s = suite_create("control");
  TCase *tc = tcase_create("authorize");
  tcase_add_test(tc, test_session_rules);
  tcase_add_test(tc, test_vehicle_conditions);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
