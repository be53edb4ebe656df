/* check_drive: unit tests of the drive-cycle vehicle model: determinism, plausibility over a
 * simulated hour, consistency between signals, and the fault-injection controls. The bounds
 * are physical plausibility limits (warm engine near the 88-92 degC thermostat range, charging
 * voltage 13.8-14.6 V, resting battery 12.2-12.8 V, gear-consistent engine speed). */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_drive.h"
#include "dd_err.h"

#define S_SEC 1000000ull
#define S_T0 5000000ull /* an arbitrary start time */
#ifndef S_PLAUSIBLE_SEEDS
#define S_PLAUSIBLE_SEEDS 4 /* seeds the hour-long plausibility run is repeated with */
#endif

static dd_drive_t *s_new(uint64_t seed) {
  dd_drive_params_t p;
  dd_drive_params_default(&p);
  dd_drive_t *d = dd_drive_new(&p, seed, S_T0);
  ck_assert_ptr_nonnull(d);
  return d;
}

START_TEST(test_signal_names) {
  for (int i = 0; i < DD_DRIVE_SIGNAL_COUNT; i++) {
    const char *n = dd_drive_signal_name((dd_drive_signal_t)i);
    ck_assert_ptr_nonnull(n);
    ck_assert_ptr_nonnull(dd_drive_signal_unit((dd_drive_signal_t)i));
    dd_drive_signal_t back;
    ck_assert_int_eq(dd_drive_signal_from_name(n, &back), 0);
    ck_assert_int_eq(back, i);
  }
  dd_drive_signal_t s;
  ck_assert_int_eq(dd_drive_signal_from_name("speed", &s), 0);
  ck_assert_int_eq(s, DD_DRIVE_SPEED);
  ck_assert_int_eq(dd_drive_signal_from_name("sped", &s), DD_ENOENT);
  ck_assert_ptr_null(dd_drive_signal_name(DD_DRIVE_SIGNAL_COUNT));
  ck_assert_str_eq(dd_drive_phase_name(DD_DRIVE_PHASE_CRUISE), "cruise");
}
END_TEST

START_TEST(test_params_check) {
  dd_drive_params_t p;
  dd_drive_params_default(&p);
  char why[128];
  ck_assert_int_eq(dd_drive_params_check(&p, why, sizeof why), 0);
  p.gear_ratios[2] = p.gear_ratios[1] + 0.1;
  ck_assert_int_eq(dd_drive_params_check(&p, why, sizeof why), DD_EINVAL);
  ck_assert_str_eq(why, "gear ratios must decrease from first to top gear");
  ck_assert_ptr_null(dd_drive_new(&p, 1, 0));
  dd_drive_params_default(&p);
  p.n_gears = 0;
  ck_assert_int_eq(dd_drive_params_check(&p, NULL, 0), DD_EINVAL);
  dd_drive_params_default(&p);
  p.mass_kg = NAN;
  ck_assert_int_eq(dd_drive_params_check(&p, why, sizeof why), DD_EINVAL);
  dd_drive_params_default(&p);
  p.max_rpm = p.idle_rpm * 2;
  ck_assert_int_eq(dd_drive_params_check(&p, why, sizeof why), DD_EINVAL);
}
END_TEST

START_TEST(test_deterministic) {
  dd_drive_t *a = s_new(7), *b = s_new(7), *c = s_new(8);
  bool differs = false;
  double va[DD_DRIVE_SIGNAL_COUNT], vb[DD_DRIVE_SIGNAL_COUNT], vc[DD_DRIVE_SIGNAL_COUNT];
  for (uint64_t t = 0; t <= 3600; t += 10) {
    dd_drive_update(a, S_T0 + t * S_SEC);
    dd_drive_update(b, S_T0 + t * S_SEC);
    dd_drive_update(c, S_T0 + t * S_SEC);
    dd_drive_values(a, va);
    dd_drive_values(b, vb);
    dd_drive_values(c, vc);
    ck_assert_mem_eq(va, vb, sizeof va);
    differs |= memcmp(va, vc, sizeof va) != 0;
  }
  ck_assert_msg(differs, "another seed should give another drive");
  dd_drive_destroy(&a);
  dd_drive_destroy(&b);
  dd_drive_destroy(&c);
  ck_assert_ptr_null(a);
}
END_TEST

START_TEST(test_call_pattern_independent) {
  /* fine-grained updates (every step, and odd intervals) and coarse ones agree exactly */
  dd_drive_t *fine = s_new(99), *coarse = s_new(99);
  uint64_t t = S_T0;
  for (int k = 0; k < 20; k++) {
    uint64_t end = S_T0 + (uint64_t)(k + 1) * 37 * S_SEC;
    while (t < end) {
      t += 33333; /* not a multiple of the step */
      if (t > end) t = end;
      dd_drive_update(fine, t);
    }
    dd_drive_update(coarse, end);
    double a[DD_DRIVE_SIGNAL_COUNT], b[DD_DRIVE_SIGNAL_COUNT];
    dd_drive_values(fine, a);
    dd_drive_values(coarse, b);
    ck_assert_mem_eq(a, b, sizeof a);
  }
  /* going back in time changes nothing */
  double before[DD_DRIVE_SIGNAL_COUNT], after[DD_DRIVE_SIGNAL_COUNT];
  dd_drive_values(coarse, before);
  dd_drive_update(coarse, S_T0);
  dd_drive_values(coarse, after);
  ck_assert_mem_eq(before, after, sizeof before);
  dd_drive_destroy(&fine);
  dd_drive_destroy(&coarse);
}
END_TEST

/* A check inside the hot loop: Check's assertions record every passing check, which is slow
 * over 36000 steps, so only a failure goes through Check. */
#define S_CHECK(cond)                                                                              \
  do {                                                                                             \
    if (!(cond))                                                                                   \
      ck_abort_msg("t=%.1f s: %s (speed %.2f rpm %.0f gear %.0f)", t, #cond, v[DD_DRIVE_SPEED],    \
                   v[DD_DRIVE_RPM], v[DD_DRIVE_GEAR]);                                             \
  } while (0)

START_TEST(test_plausible_hour) {
  dd_drive_params_t p;
  dd_drive_params_default(&p);
  static const uint64_t seeds[] = {2024, 1, 0xDEADBEEF, 31337};
  dd_drive_t *d = dd_drive_new(&p, seeds[_i % 4] + (uint64_t)(_i / 4) * 1000003u, S_T0);
  ck_assert_ptr_nonnull(d);
  double v[DD_DRIVE_SIGNAL_COUNT], prev[DD_DRIVE_SIGNAL_COUNT];
  dd_drive_values(d, prev);
  double max_speed = 0;
  double warm_at = -1, last_shift = 0;
  unsigned phases_seen = 0, moving_samples = 0, idle_samples = 0;
  for (uint64_t ds = 1; ds <= 36000; ds++) { /* every 100 ms for an hour */
    dd_drive_update(d, S_T0 + ds * 100000ull);
    dd_drive_values(d, v);
    double t = (double)ds / 10;
    phases_seen |= 1u << dd_drive_phase(d);
    S_CHECK(v[DD_DRIVE_ENGINE_RUNNING] == 1);
    S_CHECK(v[DD_DRIVE_SPEED] >= 0);
    S_CHECK(v[DD_DRIVE_SPEED] <= p.cycle_cruise_kmh * 1.25 * (1 + p.cycle_jitter) + 1);
    S_CHECK(v[DD_DRIVE_RPM] >= p.idle_rpm * 0.85);
    S_CHECK(v[DD_DRIVE_RPM] <= p.max_rpm);
    S_CHECK(v[DD_DRIVE_COOLANT] >= p.ambient_c - 0.5);
    S_CHECK(v[DD_DRIVE_COOLANT] <= 96);
    S_CHECK(v[DD_DRIVE_INTAKE] >= p.ambient_c - 3);
    S_CHECK(v[DD_DRIVE_INTAKE] <= p.ambient_c + 20);
    S_CHECK(v[DD_DRIVE_MAF] > 1.0);
    S_CHECK(v[DD_DRIVE_MAF] <= 120);
    S_CHECK(v[DD_DRIVE_THROTTLE] >= 0);
    S_CHECK(v[DD_DRIVE_THROTTLE] <= 100);
    S_CHECK(v[DD_DRIVE_LOAD] >= 5);
    S_CHECK(v[DD_DRIVE_LOAD] <= 100);
    S_CHECK(v[DD_DRIVE_MAP] >= 15);
    S_CHECK(v[DD_DRIVE_MAP] <= p.baro_kpa + 1);
    S_CHECK(v[DD_DRIVE_BATTERY] >= 13.8);
    S_CHECK(v[DD_DRIVE_BATTERY] <= 14.6);
    S_CHECK(v[DD_DRIVE_STFT] >= -25);
    S_CHECK(v[DD_DRIVE_STFT] <= 25);
    S_CHECK(v[DD_DRIVE_LTFT] >= -10);
    S_CHECK(v[DD_DRIVE_LTFT] <= 10);
    S_CHECK(v[DD_DRIVE_FUEL_LEVEL] <= prev[DD_DRIVE_FUEL_LEVEL]);
    S_CHECK(v[DD_DRIVE_ODOMETER] >= prev[DD_DRIVE_ODOMETER]);
    S_CHECK(fabs((v[DD_DRIVE_RUN_TIME]) - (t)) <= 0.05);
    /* speed changes at most what the car can do in 100 ms */
    S_CHECK(fabs(v[DD_DRIVE_SPEED] - prev[DD_DRIVE_SPEED]) <= 5 * 0.1 * 3.6);
    /* engine speed follows the gear (a second after a shift) when driving, idles standing */
    if (v[DD_DRIVE_GEAR] != prev[DD_DRIVE_GEAR]) last_shift = t;
    if (v[DD_DRIVE_GEAR] > 0 && v[DD_DRIVE_SPEED] > 25 && t - last_shift > 1.0 &&
        fabs(v[DD_DRIVE_SPEED] - prev[DD_DRIVE_SPEED]) < 0.05) {
      double gr = v[DD_DRIVE_SPEED] / 3.6 / p.wheel_circumference_m * 60 *
                  p.gear_ratios[(size_t)v[DD_DRIVE_GEAR] - 1] * p.final_drive;
      S_CHECK(fabs(v[DD_DRIVE_RPM] - gr) / gr <= 0.15);
      moving_samples++;
    }
    if (v[DD_DRIVE_SPEED] == 0 && prev[DD_DRIVE_SPEED] == 0) {
      S_CHECK(v[DD_DRIVE_GEAR] == 0);
      S_CHECK(v[DD_DRIVE_RPM] <= p.idle_rpm + 400);
      idle_samples++;
    }
    max_speed = fmax(max_speed, v[DD_DRIVE_SPEED]);
    if (warm_at < 0 && v[DD_DRIVE_COOLANT] >= 80) warm_at = t;
    memcpy(prev, v, sizeof v);
  }
  /* the engine warms up in minutes, not seconds and not hours, and stays near the thermostat */
  ck_assert_double_gt(warm_at, 240);
  ck_assert_double_lt(warm_at, 900);
  ck_assert_double_ge(v[DD_DRIVE_COOLANT], 85);
  ck_assert_double_gt(max_speed, p.cycle_cruise_kmh * 0.7);
  ck_assert_uint_ge(dd_drive_cycles(d), 8);
  ck_assert_uint_eq(phases_seen, 0x0F); /* stop, accelerate, cruise, decelerate */
  ck_assert_uint_gt(moving_samples, 1000);
  ck_assert_uint_gt(idle_samples, 1000);
  /* fuel: a few litres per hour of mixed driving */
  double used_l = (p.fuel_start_pct - v[DD_DRIVE_FUEL_LEVEL]) / 100 * p.tank_l;
  ck_assert_double_gt(used_l, 1.0);
  ck_assert_double_lt(used_l, 8.0);
  ck_assert_double_gt(v[DD_DRIVE_ODOMETER], 20);
  dd_drive_destroy(&d);
}
END_TEST

START_TEST(test_air_path_consistent) {
  /* at the same engine speed, more load means more manifold pressure and more air */
  dd_drive_t *d = s_new(3);
  double lo_load = 1e9, lo_maf = 0, hi_load = -1, hi_maf = 0;
  for (uint64_t ds = 1; ds <= 6000; ds++) {
    dd_drive_update(d, S_T0 + ds * 100000ull);
    double v[DD_DRIVE_SIGNAL_COUNT];
    dd_drive_values(d, v);
    if (v[DD_DRIVE_RPM] < 1700 || v[DD_DRIVE_RPM] > 2100 || v[DD_DRIVE_LOAD] < 15) continue;
    if (v[DD_DRIVE_LOAD] < lo_load) lo_load = v[DD_DRIVE_LOAD], lo_maf = v[DD_DRIVE_MAF];
    if (v[DD_DRIVE_LOAD] > hi_load) hi_load = v[DD_DRIVE_LOAD], hi_maf = v[DD_DRIVE_MAF];
  }
  ck_assert_double_gt(hi_load, lo_load + 10);
  ck_assert_double_gt(hi_maf, lo_maf);
  dd_drive_destroy(&d);
}
END_TEST

START_TEST(test_engine_off_and_on) {
  dd_drive_t *d = s_new(11);
  dd_drive_hold_speed(d, 80);
  dd_drive_update(d, S_T0 + 60 * S_SEC);
  ck_assert_int_eq(dd_drive_phase(d), DD_DRIVE_PHASE_HOLD);
  ck_assert_double_eq_tol(dd_drive_get(d, DD_DRIVE_SPEED), 80, 3);
  /* engine off while moving: the car coasts to a stop, engine values drop */
  dd_drive_set_engine(d, false);
  dd_drive_update(d, S_T0 + 61 * S_SEC);
  ck_assert(!dd_drive_engine_running(d));
  ck_assert_double_gt(dd_drive_get(d, DD_DRIVE_SPEED), 60);
  dd_drive_update(d, S_T0 + 200 * S_SEC);
  ck_assert_double_eq(dd_drive_get(d, DD_DRIVE_SPEED), 0);
  ck_assert_double_eq(dd_drive_get(d, DD_DRIVE_RPM), 0);
  ck_assert_double_eq(dd_drive_get(d, DD_DRIVE_MAF), 0);
  ck_assert_double_eq(dd_drive_get(d, DD_DRIVE_RUN_TIME), 0);
  ck_assert_double_eq(dd_drive_get(d, DD_DRIVE_ENGINE_RUNNING), 0);
  ck_assert_double_eq(dd_drive_get(d, DD_DRIVE_GEAR), 0);
  ck_assert_double_eq_tol(dd_drive_get(d, DD_DRIVE_MAP), 101, 1);
  double vb = dd_drive_get(d, DD_DRIVE_BATTERY);
  ck_assert_double_ge(vb, 12.2);
  ck_assert_double_le(vb, 12.8);
  /* long standstill: the coolant cools towards ambient */
  double hot = dd_drive_get(d, DD_DRIVE_COOLANT);
  dd_drive_update(d, S_T0 + 3 * 3600 * S_SEC);
  ck_assert_double_lt(dd_drive_get(d, DD_DRIVE_COOLANT), hot);
  ck_assert_double_eq_tol(dd_drive_get(d, DD_DRIVE_BATTERY), 12.4, 0.05);
  /* restart: run time counts from zero again, the alternator charges */
  dd_drive_set_engine(d, true);
  dd_drive_update(d, S_T0 + 3 * 3600 * S_SEC + 30 * S_SEC);
  ck_assert(dd_drive_engine_running(d));
  ck_assert_double_eq_tol(dd_drive_get(d, DD_DRIVE_RUN_TIME), 30, 0.15);
  ck_assert_double_ge(dd_drive_get(d, DD_DRIVE_BATTERY), 13.8);
  ck_assert_double_ge(dd_drive_get(d, DD_DRIVE_RPM), 600);
  dd_drive_destroy(&d);
}
END_TEST

START_TEST(test_hold_stationary_and_resume) {
  dd_drive_t *d = s_new(5);
  dd_drive_update(d, S_T0 + 100 * S_SEC);
  dd_drive_hold_speed(d, 0);
  for (uint64_t s = 101; s < 400; s++) {
    dd_drive_update(d, S_T0 + s * S_SEC);
    if (s > 140) ck_assert_double_eq(dd_drive_get(d, DD_DRIVE_SPEED), 0);
  }
  ck_assert(dd_drive_engine_running(d));
  ck_assert_double_le(dd_drive_get(d, DD_DRIVE_RPM), 1200);
  dd_drive_resume_cycle(d);
  double top = 0;
  for (uint64_t s = 400; s < 700; s++) {
    dd_drive_update(d, S_T0 + s * S_SEC);
    top = fmax(top, dd_drive_get(d, DD_DRIVE_SPEED));
  }
  ck_assert_double_gt(top, 30);
  dd_drive_hold_speed(d, -5); /* clamped to standstill */
  dd_drive_update(d, S_T0 + 800 * S_SEC);
  ck_assert_double_eq(dd_drive_get(d, DD_DRIVE_SPEED), 0);
  dd_drive_destroy(&d);
}
END_TEST

START_TEST(test_battery_and_trim_faults) {
  dd_drive_t *d = s_new(21);
  dd_drive_update(d, S_T0 + 900 * S_SEC); /* warm, closed loop */
  dd_drive_set_battery(d, 11.2);
  dd_drive_update(d, S_T0 + 901 * S_SEC);
  ck_assert_double_eq(dd_drive_get(d, DD_DRIVE_BATTERY), 11.2);
  dd_obd_live_t live;
  dd_drive_obd_live(d, &live);
  ck_assert_double_eq(live.module_v, 11.2);
  dd_drive_set_battery(d, NAN);
  dd_drive_update(d, S_T0 + 920 * S_SEC);
  ck_assert_double_ge(dd_drive_get(d, DD_DRIVE_BATTERY), 13.8);
  double ltft0 = dd_drive_get(d, DD_DRIVE_LTFT);
  dd_drive_set_trim_bias(d, 20);
  dd_drive_update(d, S_T0 + 1800 * S_SEC);
  ck_assert_double_gt(dd_drive_get(d, DD_DRIVE_LTFT), ltft0 + 12);
  dd_drive_destroy(&d);
}
END_TEST

START_TEST(test_obd_view_and_gaps) {
  dd_drive_t *d = s_new(4);
  dd_drive_update(d, S_T0 + 250 * S_SEC);
  double v[DD_DRIVE_SIGNAL_COUNT];
  dd_drive_values(d, v);
  dd_obd_live_t live;
  dd_drive_obd_live(d, &live);
  ck_assert_double_eq(live.rpm, v[DD_DRIVE_RPM]);
  ck_assert_double_eq(live.speed_kmh, v[DD_DRIVE_SPEED]);
  ck_assert_double_eq(live.coolant_c, v[DD_DRIVE_COOLANT]);
  ck_assert_double_eq(live.maf_gs, v[DD_DRIVE_MAF]);
  ck_assert_double_eq(live.fuel_pct, v[DD_DRIVE_FUEL_LEVEL]);
  ck_assert_double_eq(live.run_time_s, v[DD_DRIVE_RUN_TIME]);
  ck_assert_double_eq(dd_drive_get(d, DD_DRIVE_BARO), 101);
  /* a two-day jump finishes (the state settles after six hours of model time) */
  dd_drive_update(d, S_T0 + 48ull * 3600 * S_SEC);
  dd_drive_values(d, v);
  ck_assert_double_ge(v[DD_DRIVE_COOLANT], 80);
  ck_assert(v[DD_DRIVE_ODOMETER] > 100);
  dd_drive_destroy(&d);
}
END_TEST

START_TEST(test_diesel_and_cold_start) {
  dd_drive_params_t p;
  dd_drive_params_default(&p);
  p.fuel = DD_DRIVE_DIESEL;
  p.idle_rpm = 780;
  p.max_rpm = 4500;
  p.max_torque_nm = 400;
  p.ambient_c = -10;
  p.engine_on_at_start = false;
  dd_drive_t *d = dd_drive_new(&p, 77, S_T0);
  ck_assert_ptr_nonnull(d);
  ck_assert(!dd_drive_engine_running(d));
  ck_assert_double_eq(dd_drive_get(d, DD_DRIVE_COOLANT), -10);
  ck_assert_double_eq_tol(dd_drive_get(d, DD_DRIVE_BATTERY), 12.4, 0.01);
  dd_drive_update(d, S_T0 + 600 * S_SEC);
  ck_assert_double_eq(dd_drive_get(d, DD_DRIVE_SPEED), 0); /* waits with the engine off */
  dd_drive_set_engine(d, true);
  dd_drive_update(d, S_T0 + 605 * S_SEC);
  /* cold fast idle */
  ck_assert_double_gt(dd_drive_get(d, DD_DRIVE_RPM), p.idle_rpm + 200);
  double max_map = 0;
  for (uint64_t s = 606; s < 1800; s++) {
    dd_drive_update(d, S_T0 + s * S_SEC);
    max_map = fmax(max_map, dd_drive_get(d, DD_DRIVE_MAP));
  }
  ck_assert_double_gt(max_map, p.baro_kpa + 20); /* turbocharged */
  dd_drive_destroy(&d);
}
END_TEST

static Suite *s_suite(void) {
  Suite *s = suite_create("drive");
  TCase *tc = tcase_create("drive");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_signal_names);
  tcase_add_test(tc, test_params_check);
  tcase_add_test(tc, test_deterministic);
  tcase_add_test(tc, test_call_pattern_independent);
  tcase_add_loop_test(tc, test_plausible_hour, 0, S_PLAUSIBLE_SEEDS);
  tcase_add_test(tc, test_air_path_consistent);
  tcase_add_test(tc, test_engine_off_and_on);
  tcase_add_test(tc, test_hold_stationary_and_resume);
  tcase_add_test(tc, test_battery_and_trim_faults);
  tcase_add_test(tc, test_obd_view_and_gaps);
  tcase_add_test(tc, test_diesel_and_cold_start);
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
