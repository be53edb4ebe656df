/* check_control: S5 authorization: outside a session, before payment, before the request
 * signal, from a terminal that does not hold the session (by its word or by its link), in another
 * session, actuator tests while moving or at an unknown speed, reflash with the engine running or
 * during another reflash, unknown actions, and the planted accept-without-payment defect. */
#include <check.h>
#include <math.h>
#include <stdlib.h>

#include "dd_control.h"

static dd_control_ctx_t s_ok(void) {
  return (dd_control_ctx_t){.window_open = true, .paid = true, .established = true,
                            .session_id = "s1", .terminal_id = "shop-a"};
}

START_TEST(test_session_rules) {
  dd_control_ctx_t c = s_ok();
  ck_assert_int_eq(dd_control_authorize(&c, DD_CTL_READ_DTCS, "s1", "shop-a"), DD_CTL_OK);
  ck_assert_int_eq(dd_control_authorize(&c, DD_CTL_READ_DTCS, "s1", "shop-b"),
                   DD_CTL_WRONG_TERMINAL);
  ck_assert_int_eq(dd_control_authorize(&c, DD_CTL_READ_DTCS, "s2", "shop-a"),
                   DD_CTL_WRONG_SESSION);
  ck_assert_int_eq(dd_control_authorize(&c, DD_CTL_READ_DTCS, "", ""), DD_CTL_WRONG_TERMINAL);
  ck_assert_int_eq(dd_control_authorize(&c, DD_CTL_READ_DTCS, "s1", NULL),
                   DD_CTL_WRONG_TERMINAL);
  /* the holder's id claimed over another terminal's link */
  c.link_terminal = "shop-b";
  ck_assert_int_eq(dd_control_authorize(&c, DD_CTL_READ_DTCS, "s1", "shop-a"),
                   DD_CTL_WRONG_TERMINAL);
  c.link_terminal = "shop-a";
  ck_assert_int_eq(dd_control_authorize(&c, DD_CTL_READ_DTCS, "s1", "shop-a"), DD_CTL_OK);
  c.link_terminal = "";
  ck_assert_int_eq(dd_control_authorize(&c, DD_CTL_READ_DTCS, "s1", "shop-a"), DD_CTL_OK);
  /* paid, but S17 has not come */
  c.established = false;
  ck_assert_int_eq(dd_control_authorize(&c, DD_CTL_READ_DTCS, "s1", "shop-a"),
                   DD_CTL_NOT_CONNECTED);
  /* before payment: refused, and a foreign terminal is told only that it is foreign */
  c.paid = false;
  ck_assert_int_eq(dd_control_authorize(&c, DD_CTL_CLEAR_DTCS, "s1", "shop-a"), DD_CTL_NOT_PAID);
  ck_assert_int_eq(dd_control_authorize(&c, DD_CTL_CLEAR_DTCS, "s1", "shop-b"),
                   DD_CTL_WRONG_TERMINAL);
  ck_assert_int_eq(dd_control_check_session(&c, "s1", "shop-a"), DD_CTL_NOT_PAID);
  c.window_open = false;
  ck_assert_int_eq(dd_control_authorize(&c, DD_CTL_CLEAR_DTCS, "s1", "shop-a"),
                   DD_CTL_NO_SESSION);
  ck_assert_int_eq(dd_control_authorize(&c, DD_CTL_READ_DTCS, "s1", "shop-b"),
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
  ck_assert_int_eq(dd_control_authorize(&c, DD_CTL_ECU_RESET, "s1", "shop-a"),
                   DD_CTL_VEHICLE_MOVING);
  ck_assert_int_eq(dd_control_authorize(&c, DD_CTL_READ_PIDS, "s1", "shop-a"), DD_CTL_OK);
  ck_assert_int_eq(dd_control_authorize(&c, DD_CTL_STREAM_PIDS, "s1", "shop-a"), DD_CTL_OK);
  c.speed_kmh = 0.5; /* the stationary bound itself counts as moving */
  ck_assert_int_eq(dd_control_check_vehicle(&c, DD_CTL_IO_CONTROL), DD_CTL_VEHICLE_MOVING);
  c.speed_kmh = NAN; /* unknown speed: fail safe */
  ck_assert_int_eq(dd_control_check_vehicle(&c, DD_CTL_IO_CONTROL), DD_CTL_VEHICLE_MOVING);
  ck_assert_int_eq(dd_control_check_vehicle(&c, DD_CTL_READ_DTCS), DD_CTL_OK);
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
  ck_assert_int_eq(dd_control_check_vehicle(&c, DD_CTL__COUNT), DD_CTL_UNKNOWN_ACTION);
}
END_TEST

START_TEST(test_names) {
  dd_control_action_t a = DD_CTL__COUNT;
  ck_assert(!dd_control_action_from_wire(0, &a));
  ck_assert(!dd_control_action_from_wire(11, &a));
  ck_assert(dd_control_action_from_wire(1, &a));
  ck_assert_int_eq(a, DD_CTL_READ_DTCS);
  ck_assert(dd_control_action_from_wire(7, &a)); /* ControlSignal.IO_CONTROL = 7 */
  ck_assert_int_eq(a, DD_CTL_IO_CONTROL);
  ck_assert(dd_control_action_from_wire(10, &a));
  ck_assert_str_eq(dd_control_action_name(a), "start_reflash");
  ck_assert_str_eq(dd_control_verdict_name(DD_CTL_VEHICLE_MOVING), "vehicle_moving");
  ck_assert_str_eq(dd_control_verdict_name(DD_CTL_NOT_CONNECTED), "not_connected");
  ck_assert_str_eq(dd_control_verdict_name(DD_CTL_UNKNOWN_ACTION), "unknown_action");
  ck_assert_str_eq(dd_control_verdict_text(DD_CTL_NOT_PAID), "the session's order is not paid");
  ck_assert_str_eq(dd_control_verdict_name((dd_control_verdict_t)99), "?");
}
END_TEST

int main(void) {
  Suite *s = suite_create("control");
  TCase *tc = tcase_create("authorize");
  tcase_add_test(tc, test_session_rules);
  tcase_add_test(tc, test_vehicle_conditions);
  tcase_add_test(tc, test_names);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
