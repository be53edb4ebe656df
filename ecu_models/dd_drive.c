/* dd_drive: a deterministic vehicle and drive-cycle model (longitudinal dynamics, automatic
 * gearbox, engine air path, coolant warm-up, charging system) stepped at fixed 100 ms. */
#include "dd_drive.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_err.h"
#include "dd_rng.h"

#define S_DT ((double)DD_DRIVE_STEP_US / 1e6)    /* step, s */
#define S_MAX_GAP_STEPS (6ull * 3600ull * 10ull) /* six hours of steps */
#define S_G 9.81                                 /* gravity, m/s^2 */
#define S_AIR_RHO 1.2                            /* air density for drag, kg/m^3 */
#define S_ROLL 0.012                             /* rolling resistance coefficient */
#define S_DRIVELINE_EFF 0.9                      /* gearbox and axle efficiency */
#define S_VE 0.85                                /* volumetric efficiency */
#define S_R_AIR 287.05                           /* gas constant of air, J/(kg K) */
#define S_THERMOSTAT_C 88.0                      /* thermostat opening temperature */

static const struct {
  const char *name; /* signal name in vehicle files */
  const char *unit; /* unit */
} s_signals[DD_DRIVE_SIGNAL_COUNT] = {
    [DD_DRIVE_SPEED] = {"speed", "km/h"},
    [DD_DRIVE_RPM] = {"rpm", "rpm"},
    [DD_DRIVE_COOLANT] = {"coolant_temp", "degC"},
    [DD_DRIVE_INTAKE] = {"intake_temp", "degC"},
    [DD_DRIVE_MAF] = {"maf", "g/s"},
    [DD_DRIVE_THROTTLE] = {"throttle", "%"},
    [DD_DRIVE_BATTERY] = {"battery_voltage", "V"},
    [DD_DRIVE_STFT] = {"stft", "%"},
    [DD_DRIVE_LTFT] = {"ltft", "%"},
    [DD_DRIVE_LOAD] = {"load", "%"},
    [DD_DRIVE_MAP] = {"map", "kPa"},
    [DD_DRIVE_FUEL_LEVEL] = {"fuel_level", "%"},
    [DD_DRIVE_AMBIENT] = {"ambient_temp", "degC"},
    [DD_DRIVE_BARO] = {"baro", "kPa"},
    [DD_DRIVE_RUN_TIME] = {"run_time", "s"},
    [DD_DRIVE_ENGINE_RUNNING] = {"engine_running", ""},
    [DD_DRIVE_GEAR] = {"gear", ""},
    [DD_DRIVE_ODOMETER] = {"odometer", "km"},
};

const char *dd_drive_signal_name(dd_drive_signal_t sig) {
  return (unsigned)sig < DD_DRIVE_SIGNAL_COUNT ? s_signals[sig].name : NULL;
}

const char *dd_drive_signal_unit(dd_drive_signal_t sig) {
  return (unsigned)sig < DD_DRIVE_SIGNAL_COUNT ? s_signals[sig].unit : NULL;
}

int dd_drive_signal_from_name(const char *name, dd_drive_signal_t *sig) {
  assert(name && sig);
  for (int i = 0; i < DD_DRIVE_SIGNAL_COUNT; i++)
    if (strcmp(name, s_signals[i].name) == 0) {
      *sig = (dd_drive_signal_t)i;
      return 0;
    }
  return DD_ENOENT;
}

const char *dd_drive_phase_name(dd_drive_phase_t phase) {
  switch (phase) {
  case DD_DRIVE_PHASE_STOP: return "stop";
  case DD_DRIVE_PHASE_ACCEL: return "accelerate";
  case DD_DRIVE_PHASE_CRUISE: return "cruise";
  case DD_DRIVE_PHASE_DECEL: return "decelerate";
  case DD_DRIVE_PHASE_HOLD: return "hold";
  }
  return "?";
}

void dd_drive_params_default(dd_drive_params_t *p) {
  assert(p);
  memset(p, 0, sizeof *p);
  static const double ratios[] = {3.6, 2.1, 1.4, 1.0, 0.8, 0.65};
  p->fuel = DD_DRIVE_GASOLINE;
  p->displacement_l = 2.0;
  p->max_torque_nm = 200;
  p->idle_rpm = 750;
  p->max_rpm = 6500;
  memcpy(p->gear_ratios, ratios, sizeof ratios);
  p->n_gears = sizeof ratios / sizeof ratios[0];
  p->final_drive = 3.9;
  p->wheel_circumference_m = 1.95;
  p->mass_kg = 1500;
  p->drag_area_m2 = 0.68;
  p->tank_l = 55;
  p->fuel_start_pct = 70;
  p->ambient_c = 20;
  p->baro_kpa = 101;
  p->coolant_start_c = NAN;
  p->battery_rest_v = 12.4;
  p->charge_v = 14.2;
  p->engine_on_at_start = true;
  p->cycle_idle_s = 20;
  p->cycle_cruise_kmh = 60;
  p->cycle_cruise_s = 90;
  p->cycle_accel_ms2 = 1.2;
  p->cycle_decel_ms2 = 1.5;
  p->cycle_jitter = 0.2;
}

static int s_why(char *why, size_t cap, const char *msg) {
  if (why && cap) snprintf(why, cap, "%s", msg);
  return DD_EINVAL;
}

/* Accepts a in [lo, hi] (NAN fails). */
static bool s_in(double a, double lo, double hi) { return a >= lo && a <= hi; }

int dd_drive_params_check(const dd_drive_params_t *p, char *why, size_t cap) {
  assert(p);
  if (p->fuel != DD_DRIVE_GASOLINE && p->fuel != DD_DRIVE_DIESEL)
    return s_why(why, cap, "fuel must be gasoline or diesel");
  if (!s_in(p->displacement_l, 0.5, 10)) return s_why(why, cap, "displacement_l must be 0.5-10");
  if (!s_in(p->max_torque_nm, 50, 2000)) return s_why(why, cap, "max_torque_nm must be 50-2000");
  if (!s_in(p->idle_rpm, 400, 1500)) return s_why(why, cap, "idle_rpm must be 400-1500");
  if (!s_in(p->max_rpm, p->idle_rpm * 3, 12000))
    return s_why(why, cap, "max_rpm must be at least 3 x idle_rpm and at most 12000");
  if (p->n_gears < 1 || p->n_gears > DD_DRIVE_MAX_GEARS)
    return s_why(why, cap, "there must be 1-10 gear ratios");
  for (size_t i = 0; i < p->n_gears; i++) {
    if (!s_in(p->gear_ratios[i], 0.3, 8)) return s_why(why, cap, "gear ratios must be 0.3-8");
    if (i && p->gear_ratios[i] >= p->gear_ratios[i - 1])
      return s_why(why, cap, "gear ratios must decrease from first to top gear");
  }
  if (!s_in(p->final_drive, 1.5, 8)) return s_why(why, cap, "final_drive must be 1.5-8");
  if (!s_in(p->wheel_circumference_m, 1, 4))
    return s_why(why, cap, "wheel_circumference_m must be 1-4");
  if (!s_in(p->mass_kg, 300, 40000)) return s_why(why, cap, "mass_kg must be 300-40000");
  if (!s_in(p->drag_area_m2, 0.2, 10)) return s_why(why, cap, "drag_area_m2 must be 0.2-10");
  if (!s_in(p->tank_l, 5, 1500)) return s_why(why, cap, "tank_l must be 5-1500");
  if (!s_in(p->fuel_start_pct, 0, 100)) return s_why(why, cap, "fuel_start_pct must be 0-100");
  if (!s_in(p->ambient_c, -40, 60)) return s_why(why, cap, "ambient_c must be -40-60");
  if (!s_in(p->baro_kpa, 50, 110)) return s_why(why, cap, "baro_kpa must be 50-110");
  if (!isnan(p->coolant_start_c) && !s_in(p->coolant_start_c, -40, 120))
    return s_why(why, cap, "coolant_start_c must be -40-120 (or unset)");
  if (!s_in(p->battery_rest_v, 6, 30) || !s_in(p->charge_v, p->battery_rest_v, 32))
    return s_why(why, cap, "battery voltages must be 6-32 V with charge_v >= battery_rest_v");
  if (!s_in(p->cycle_idle_s, 1, 3600) || !s_in(p->cycle_cruise_s, 1, 36000))
    return s_why(why, cap, "cycle durations must be 1-3600 s (idle) and 1-36000 s (cruise)");
  if (!s_in(p->cycle_cruise_kmh, 5, 250)) return s_why(why, cap, "cruise speed must be 5-250 km/h");
  if (!s_in(p->cycle_accel_ms2, 0.2, 5) || !s_in(p->cycle_decel_ms2, 0.2, 8))
    return s_why(why, cap, "cycle acceleration must be 0.2-5 m/s^2, deceleration 0.2-8 m/s^2");
  if (!s_in(p->cycle_jitter, 0, 0.5)) return s_why(why, cap, "cycle_jitter must be 0-0.5");
  return 0;
}

struct dd_drive {
  dd_drive_params_t p;    /* parameters */
  dd_rng_t rng;           /* the model's random source */
  uint64_t t_us;          /* model time */
  dd_drive_phase_t phase; /* cycle phase */
  double phase_left_s;    /* time left in a timed phase (STOP, CRUISE) */
  double cruise_ms;       /* this cycle's cruise speed, m/s */
  double hold_ms;         /* HOLD target, m/s */
  unsigned cycles;        /* completed cycles */
  bool engine_on;         /* engine running */
  bool engine_cmd;        /* requested engine state (applied at the next step) */
  double off_s;           /* time since the engine stopped, s */
  double v;               /* speed, m/s */
  double a;               /* acceleration of the last step, m/s^2 */
  unsigned gear;          /* 0 = neutral/park, 1..n */
  double rpm;             /* engine speed */
  double load;            /* calculated load, % */
  double throttle;        /* throttle, % */
  double map;             /* manifold pressure, kPa */
  double maf;             /* air flow, g/s */
  double coolant;         /* coolant, degC */
  double intake;          /* intake air, degC */
  double ambient;         /* ambient, degC */
  double stft, ltft;      /* fuel trims, % */
  double ltft_base;       /* this engine's own long-term correction, % */
  double trim_bias;       /* injected fuel-system error, % */
  double battery;         /* supply voltage, V */
  double battery_force;   /* forced voltage, or NAN */
  double fuel_l;          /* fuel in the tank, litres */
  double run_time;        /* since engine start, s */
  double odometer_km;     /* distance, km */
};

static double s_jitter(dd_drive_t *self) {
  return 1.0 + self->p.cycle_jitter * (2.0 * dd_rng_unit(&self->rng) - 1.0);
}

static double s_clamp(double x, double lo, double hi) { return x < lo ? lo : x > hi ? hi : x; }

/* First-order lag of x towards target with time constant tau (s) over one step. */
static double s_lag(double x, double target, double tau) {
  return x + (target - x) * (S_DT >= tau ? 1.0 : S_DT / tau);
}

static void s_enter(dd_drive_t *self, dd_drive_phase_t phase) {
  self->phase = phase;
  switch (phase) {
  case DD_DRIVE_PHASE_STOP: self->phase_left_s = self->p.cycle_idle_s * s_jitter(self); break;
  case DD_DRIVE_PHASE_ACCEL:
    self->cruise_ms = self->p.cycle_cruise_kmh / 3.6 * s_jitter(self);
    break;
  case DD_DRIVE_PHASE_CRUISE: self->phase_left_s = self->p.cycle_cruise_s * s_jitter(self); break;
  default: break;
  }
}

/* Engine speed in gear g at speed v. */
static double s_gear_rpm(const dd_drive_t *self, unsigned g, double v) {
  return v / self->p.wheel_circumference_m * 60.0 * self->p.gear_ratios[g - 1] *
         self->p.final_drive;
}

/* Warm idle plus the cold-start fast idle. */
static double s_idle(const dd_drive_t *self) {
  double cold = self->coolant < 60 ? (60 - self->coolant) * 8 : 0;
  return self->p.idle_rpm + (cold > 350 ? 350 : cold);
}

/* The commanded acceleration for this step (before the engine's torque limit). */
static double s_command(dd_drive_t *self) {
  const dd_drive_params_t *p = &self->p;
  double v = self->v;
  if (!self->engine_on) return v > 0 ? -0.6 : 0; /* coasting and braking gently to a halt */
  switch (self->phase) {
  case DD_DRIVE_PHASE_STOP:
    self->phase_left_s -= S_DT;
    if (self->phase_left_s <= 0) s_enter(self, DD_DRIVE_PHASE_ACCEL);
    return v > 0 ? -p->cycle_decel_ms2 : 0;
  case DD_DRIVE_PHASE_ACCEL:
    if (v >= self->cruise_ms - 0.2) {
      s_enter(self, DD_DRIVE_PHASE_CRUISE);
      return 0;
    }
    return fmin(p->cycle_accel_ms2, (self->cruise_ms - v) / 1.5 + 0.1);
  case DD_DRIVE_PHASE_CRUISE:
    /* the driver wanders a little around the cruise speed */
    self->cruise_ms += dd_rng_normal(&self->rng) * 0.02;
    self->cruise_ms = s_clamp(self->cruise_ms, p->cycle_cruise_kmh / 3.6 * 0.75,
                              p->cycle_cruise_kmh / 3.6 * 1.25);
    self->phase_left_s -= S_DT;
    if (self->phase_left_s <= 0) s_enter(self, DD_DRIVE_PHASE_DECEL);
    return s_clamp((self->cruise_ms - v) / 3.0, -0.8, 0.8);
  case DD_DRIVE_PHASE_DECEL:
    if (v <= 0) {
      self->cycles++;
      s_enter(self, DD_DRIVE_PHASE_STOP);
      return 0;
    }
    return -p->cycle_decel_ms2;
  case DD_DRIVE_PHASE_HOLD:
    if (self->hold_ms <= 0) return -fmin(p->cycle_decel_ms2, v / S_DT); /* brake to a halt */
    return s_clamp((self->hold_ms - v) / 1.5, -p->cycle_decel_ms2, p->cycle_accel_ms2);
  }
  return 0;
}

/* Automatic gear choice with hysteresis. */
static void s_shift(dd_drive_t *self, double a) {
  const dd_drive_params_t *p = &self->p;
  if (self->v < 0.3 && a <= 0.05) {
    self->gear = 0;
    return;
  }
  if (self->gear == 0) self->gear = 1;
  double down = p->idle_rpm * 1.45;
  double up = a > 0.4 ? p->idle_rpm * 3.7 : p->idle_rpm * 2.6;
  while (self->gear < p->n_gears && s_gear_rpm(self, self->gear, self->v) > up &&
         s_gear_rpm(self, self->gear + 1, self->v) > down + 150)
    self->gear++;
  while (self->gear > 1 && s_gear_rpm(self, self->gear, self->v) < down)
    self->gear--;
}

static void s_step(dd_drive_t *self) {
  const dd_drive_params_t *p = &self->p;
  dd_rng_t *rng = &self->rng;

  if (self->engine_cmd != self->engine_on) {
    self->engine_on = self->engine_cmd;
    if (self->engine_on) {
      self->run_time = 0;
      if (self->phase != DD_DRIVE_PHASE_HOLD) s_enter(self, DD_DRIVE_PHASE_STOP);
    } else {
      self->off_s = 0;
    }
  }

  /* longitudinal dynamics: F = m a + drag + rolling resistance */
  double a = s_command(self);
  double v = self->v;
  double f_res =
      0.5 * S_AIR_RHO * p->drag_area_m2 * v * v + (v > 0 ? S_ROLL * p->mass_kg * S_G : 0);
  if (self->engine_on && self->gear > 0 && a > 0) {
    double wheel_r = p->wheel_circumference_m / (2 * M_PI);
    double f_max = p->max_torque_nm * S_DRIVELINE_EFF * p->gear_ratios[self->gear - 1] *
                   p->final_drive / wheel_r;
    double a_max = (f_max - f_res) / p->mass_kg;
    if (a > a_max) a = a_max > 0 ? a_max : 0;
  }
  v += a * S_DT;
  if (v < 0) v = 0;
  self->v = v;
  self->a = a;
  self->odometer_km += v * S_DT / 1000.0;
  s_shift(self, a);

  double ambient_drift = dd_rng_normal(rng) * 0.002;
  self->ambient = s_clamp(self->ambient + ambient_drift, p->ambient_c - 1.5, p->ambient_c + 1.5);

  if (self->engine_on) {
    self->run_time += S_DT;
    /* engine speed: idle when declutched, gear speed (never below idle) when driving */
    double idle = s_idle(self);
    double target = idle;
    if (self->gear > 0) {
      double gr = s_gear_rpm(self, self->gear, v);
      target = gr > idle ? gr : (a > 0 ? idle + 250 : idle); /* slipping clutch/converter */
    }
    self->rpm = s_lag(self->rpm, target, 0.25) + dd_rng_normal(rng) * 6;
    self->rpm = s_clamp(self->rpm, idle * 0.9, p->max_rpm);

    /* load from the torque the wheels need; overrun (coasting in gear) cuts fuel */
    double f = p->mass_kg * a + f_res;
    double torque = 0;
    bool overrun = false;
    if (self->gear > 0 && v > 0.5) {
      double wheel_rpm = v / p->wheel_circumference_m * 60.0;
      double p_wheel = f * v;
      double omega = 2 * M_PI * (wheel_rpm * p->gear_ratios[self->gear - 1] * p->final_drive) / 60;
      if (p_wheel < 0)
        overrun = true;
      else
        torque = p_wheel / S_DRIVELINE_EFF / (omega > 1 ? omega : 1);
    }
    double idle_load = 20 + (self->coolant < 60 ? (60 - self->coolant) * 0.1 : 0);
    double load = overrun ? 9 : idle_load + (100 - idle_load) * torque / p->max_torque_nm;
    load = s_clamp(load + dd_rng_normal(rng) * 0.4, 5, 100);
    self->load = s_lag(self->load, load, 0.15);

    double frac = s_clamp((self->load - 18) / 82, 0, 1);
    if (p->fuel == DD_DRIVE_GASOLINE) {
      self->throttle = s_lag(self->throttle, overrun ? 2.5 : 3.5 + 62 * pow(frac, 0.9), 0.1);
      self->map = s_lag(self->map, overrun ? 22 : 28 + (p->baro_kpa - 28) * pow(frac, 0.8), 0.1);
    } else {
      double spool = s_clamp(self->rpm / 2500.0, 0, 1);
      self->throttle = s_lag(self->throttle, overrun ? 0 : 100 * frac, 0.1);
      self->map = s_lag(self->map, p->baro_kpa * (1 + 1.2 * frac * spool), 0.4);
    }
    double t_k = self->intake + 273.15;
    double rho = self->map * 1000.0 / (S_R_AIR * t_k); /* kg/m^3 */
    double maf = p->displacement_l / 1000.0 * self->rpm / 120.0 * S_VE * rho * 1000.0;
    self->maf = s_clamp(maf + dd_rng_normal(rng) * 0.05, 0, 655.35);

    /* coolant: combustion heat against losses, the thermostat caps it near 90 degC */
    double heat = 0.06 + 0.16 * self->load / 100 + 0.00002 * self->rpm;
    double loss = 0.0006 * (self->coolant - self->ambient) +
                  (self->coolant > S_THERMOSTAT_C ? 0.05 * (self->coolant - S_THERMOSTAT_C) : 0);
    self->coolant += (heat - loss) * S_DT;

    /* intake air: heat soak at low speed, ram air when moving */
    double soak = v < 3 ? 12 : 12 * exp(-v / 8) + 2;
    self->intake = s_lag(self->intake, self->ambient + soak, 60);

    /* fuel trims: closed loop once warm; the LTFT learns the engine's own error and any bias */
    if (self->coolant > 40 && !overrun) {
      double err = self->ltft_base + self->trim_bias;
      self->ltft = s_lag(self->ltft, err, 120);
      self->stft = 0.9 * self->stft + dd_rng_normal(rng) * 0.8 + 0.1 * (err - self->ltft);
    } else {
      self->stft = s_lag(self->stft, 0, 0.5);
    }
    self->stft = s_clamp(self->stft, -25, 25);

    /* charging system */
    double vb = p->charge_v - (self->rpm < p->idle_rpm * 1.2 ? 0.1 : 0);
    self->battery = s_lag(self->battery, vb, 2) + dd_rng_normal(rng) * 0.01;

    /* fuel burnt: stoichiometric petrol, lean-running diesel */
    double afr = p->fuel == DD_DRIVE_GASOLINE ? 14.7 : 14.5 * (1 + 2 * (1 - self->load / 100));
    double density = p->fuel == DD_DRIVE_GASOLINE ? 745 : 832; /* g/L */
    self->fuel_l -= (overrun ? 0 : self->maf / afr / density) * S_DT;
    if (self->fuel_l < 0) self->fuel_l = 0;
  } else {
    self->off_s += S_DT;
    self->run_time = 0;
    self->gear = v > 0 ? self->gear : 0;
    self->rpm = s_lag(self->rpm, 0, 0.3);
    if (self->rpm < 50) self->rpm = 0;
    self->load = 0;
    self->throttle = 0;
    self->map = s_lag(self->map, p->baro_kpa, 0.5);
    self->maf = 0;
    self->stft = 0;
    self->coolant += -0.0004 * (self->coolant - self->ambient) * S_DT;
    self->intake = s_lag(self->intake, self->ambient + (self->coolant - self->ambient) * 0.15, 300);
    /* surface charge fades to the resting voltage */
    double vb = p->battery_rest_v + 0.3 * exp(-self->off_s / 600);
    self->battery = s_lag(self->battery, vb, 2) + dd_rng_normal(rng) * 0.003;
  }
  if (!isnan(self->battery_force)) self->battery = self->battery_force;
  self->t_us += DD_DRIVE_STEP_US;
}

dd_drive_t *dd_drive_new(const dd_drive_params_t *p, uint64_t seed, uint64_t now_us) {
  assert(p);
  if (dd_drive_params_check(p, NULL, 0) < 0) return NULL;
  dd_drive_t *self = calloc(1, sizeof *self);
  if (!self) return NULL;
  self->p = *p;
  dd_rng_seed(&self->rng, seed);
  self->t_us = now_us;
  self->ambient = p->ambient_c;
  self->coolant = isnan(p->coolant_start_c) ? p->ambient_c : p->coolant_start_c;
  self->intake = p->ambient_c;
  self->map = p->baro_kpa;
  self->fuel_l = p->tank_l * p->fuel_start_pct / 100;
  self->battery_force = NAN;
  self->ltft_base = s_clamp(dd_rng_normal(&self->rng) * 2.0, -5, 5);
  self->ltft = self->ltft_base;
  self->engine_on = self->engine_cmd = p->engine_on_at_start;
  if (self->engine_on) {
    self->rpm = s_idle(self);
    self->load = 20;
    self->throttle = p->fuel == DD_DRIVE_GASOLINE ? 3.5 : 0;
    self->map = p->fuel == DD_DRIVE_GASOLINE ? 30 : p->baro_kpa;
    self->battery = p->charge_v;
  } else {
    self->battery = p->battery_rest_v;
    self->off_s = 3600;
  }
  s_enter(self, DD_DRIVE_PHASE_STOP);
  return self;
}

void dd_drive_destroy(dd_drive_t **self_p) {
  assert(self_p);
  free(*self_p);
  *self_p = NULL;
}

void dd_drive_update(dd_drive_t *self, uint64_t now_us) {
  assert(self);
  if (now_us <= self->t_us) return;
  uint64_t steps = (now_us - self->t_us) / DD_DRIVE_STEP_US;
  if (steps > S_MAX_GAP_STEPS) {
    self->t_us += (steps - S_MAX_GAP_STEPS) * DD_DRIVE_STEP_US;
    steps = S_MAX_GAP_STEPS;
  }
  while (steps--)
    s_step(self);
}

void dd_drive_values(const dd_drive_t *self, double out[DD_DRIVE_SIGNAL_COUNT]) {
  assert(self && out);
  out[DD_DRIVE_SPEED] = self->v * 3.6;
  out[DD_DRIVE_RPM] = self->rpm;
  out[DD_DRIVE_COOLANT] = self->coolant;
  out[DD_DRIVE_INTAKE] = self->intake;
  out[DD_DRIVE_MAF] = self->maf;
  out[DD_DRIVE_THROTTLE] = self->throttle;
  out[DD_DRIVE_BATTERY] = self->battery;
  out[DD_DRIVE_STFT] = self->stft;
  out[DD_DRIVE_LTFT] = self->ltft;
  out[DD_DRIVE_LOAD] = self->load;
  out[DD_DRIVE_MAP] = self->map;
  out[DD_DRIVE_FUEL_LEVEL] = self->fuel_l / self->p.tank_l * 100;
  out[DD_DRIVE_AMBIENT] = self->ambient;
  out[DD_DRIVE_BARO] = self->p.baro_kpa;
  out[DD_DRIVE_RUN_TIME] = self->run_time;
  out[DD_DRIVE_ENGINE_RUNNING] = self->engine_on ? 1 : 0;
  out[DD_DRIVE_GEAR] = self->gear;
  out[DD_DRIVE_ODOMETER] = self->odometer_km;
}

double dd_drive_get(const dd_drive_t *self, dd_drive_signal_t sig) {
  assert(self && (unsigned)sig < DD_DRIVE_SIGNAL_COUNT);
  double v[DD_DRIVE_SIGNAL_COUNT];
  dd_drive_values(self, v);
  return v[sig];
}

void dd_drive_obd_from_values(const double v[DD_DRIVE_SIGNAL_COUNT], dd_obd_live_t *out) {
  assert(v && out);
  memset(out, 0, sizeof *out);
  out->load_pct = v[DD_DRIVE_LOAD];
  out->coolant_c = v[DD_DRIVE_COOLANT];
  out->stft_pct = v[DD_DRIVE_STFT];
  out->ltft_pct = v[DD_DRIVE_LTFT];
  out->map_kpa = v[DD_DRIVE_MAP];
  out->rpm = v[DD_DRIVE_RPM];
  out->speed_kmh = v[DD_DRIVE_SPEED];
  out->intake_c = v[DD_DRIVE_INTAKE];
  out->maf_gs = v[DD_DRIVE_MAF];
  out->throttle_pct = v[DD_DRIVE_THROTTLE];
  out->run_time_s = v[DD_DRIVE_RUN_TIME];
  out->fuel_pct = v[DD_DRIVE_FUEL_LEVEL];
  out->baro_kpa = v[DD_DRIVE_BARO];
  out->module_v = v[DD_DRIVE_BATTERY];
  out->ambient_c = v[DD_DRIVE_AMBIENT];
}

void dd_drive_obd_live(const dd_drive_t *self, dd_obd_live_t *out) {
  double v[DD_DRIVE_SIGNAL_COUNT];
  dd_drive_values(self, v);
  dd_drive_obd_from_values(v, out);
}

dd_drive_phase_t dd_drive_phase(const dd_drive_t *self) {
  assert(self);
  return self->phase;
}

unsigned dd_drive_cycles(const dd_drive_t *self) {
  assert(self);
  return self->cycles;
}

void dd_drive_set_engine(dd_drive_t *self, bool on) {
  assert(self);
  self->engine_cmd = on;
}

bool dd_drive_engine_running(const dd_drive_t *self) {
  assert(self);
  return self->engine_on;
}

void dd_drive_hold_speed(dd_drive_t *self, double kmh) {
  assert(self);
  if (!(kmh >= 0)) kmh = 0;
  if (kmh > 250) kmh = 250;
  self->hold_ms = kmh / 3.6;
  self->phase = DD_DRIVE_PHASE_HOLD;
}

void dd_drive_resume_cycle(dd_drive_t *self) {
  assert(self);
  s_enter(self, DD_DRIVE_PHASE_STOP);
}

void dd_drive_set_battery(dd_drive_t *self, double volts) {
  assert(self);
  self->battery_force = volts;
}

void dd_drive_set_trim_bias(dd_drive_t *self, double pct) {
  assert(self);
  self->trim_bias = isnan(pct) ? 0 : s_clamp(pct, -40, 40);
}
