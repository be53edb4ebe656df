/* dd_drive: a vehicle running a drive cycle (idle, accelerate, cruise, decelerate, stop, repeat):
 * speed, engine speed, temperatures, air flow, throttle, load, fuel trims and battery voltage
 * that stay consistent with each other. Driven by an injected "now" and a seeded dd_rng. */
#ifndef DD_DRIVE_H
#define DD_DRIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dd_obd.h"

#define DD_DRIVE_MAX_GEARS 10u   /* forward gears a transmission may have */
#define DD_DRIVE_STEP_US 100000u /* the model advances in fixed 100 ms steps */

/* The signals the model produces; also the names "live" DIDs refer to in vehicle files. */
typedef enum {
  DD_DRIVE_SPEED = 0,      /* "speed": vehicle speed, km/h */
  DD_DRIVE_RPM,            /* "rpm": engine speed, 1/min */
  DD_DRIVE_COOLANT,        /* "coolant_temp": engine coolant temperature, degC */
  DD_DRIVE_INTAKE,         /* "intake_temp": intake air temperature, degC */
  DD_DRIVE_MAF,            /* "maf": mass air flow, g/s */
  DD_DRIVE_THROTTLE,       /* "throttle": absolute throttle position, % */
  DD_DRIVE_BATTERY,        /* "battery_voltage": supply voltage, V */
  DD_DRIVE_STFT,           /* "stft": short term fuel trim, % */
  DD_DRIVE_LTFT,           /* "ltft": long term fuel trim, % */
  DD_DRIVE_LOAD,           /* "load": calculated engine load, % */
  DD_DRIVE_MAP,            /* "map": intake manifold absolute pressure, kPa */
  DD_DRIVE_FUEL_LEVEL,     /* "fuel_level": fuel tank level, % */
  DD_DRIVE_AMBIENT,        /* "ambient_temp": ambient air temperature, degC */
  DD_DRIVE_BARO,           /* "baro": barometric pressure, kPa */
  DD_DRIVE_RUN_TIME,       /* "run_time": time since engine start, s */
  DD_DRIVE_ENGINE_RUNNING, /* "engine_running": 1 running, 0 off */
  DD_DRIVE_GEAR,           /* "gear": engaged gear, 0 = neutral/park */
  DD_DRIVE_ODOMETER,       /* "odometer": distance travelled, km */
  DD_DRIVE_SIGNAL_COUNT
} dd_drive_signal_t;

/* "speed", "rpm", ... (see the enum); NULL for an invalid value. */
const char *dd_drive_signal_name(dd_drive_signal_t sig);
/* "km/h", "rpm", "degC", ...; NULL for an invalid value. */
const char *dd_drive_signal_unit(dd_drive_signal_t sig);
/* Name -> signal. Returns 0 or DD_ENOENT. */
int dd_drive_signal_from_name(const char *name, dd_drive_signal_t *sig);

typedef enum {
  DD_DRIVE_GASOLINE = 0, /* spark ignition, throttled */
  DD_DRIVE_DIESEL,       /* compression ignition, unthrottled, turbocharged */
} dd_drive_fuel_t;

/* The vehicle and the cycle. dd_drive_params_default() gives a 1.5 t petrol car. */
typedef struct {
  dd_drive_fuel_t fuel;                   /* engine type */
  double displacement_l;                  /* swept volume, litres */
  double max_torque_nm;                   /* peak engine torque, N m */
  double idle_rpm;                        /* warm idle speed, 1/min */
  double max_rpm;                         /* rev limit, 1/min */
  double gear_ratios[DD_DRIVE_MAX_GEARS]; /* forward gear ratios, first gear first */
  size_t n_gears;                         /* used entries of gear_ratios */
  double final_drive;                     /* axle ratio */
  double wheel_circumference_m;           /* rolling circumference of a driven wheel, m */
  double mass_kg;                         /* vehicle mass with driver, kg */
  double drag_area_m2;                    /* drag coefficient times frontal area, m^2 */
  double tank_l;                          /* fuel tank capacity, litres */
  double fuel_start_pct;                  /* fuel level at start, % */
  double ambient_c;                       /* ambient air temperature, degC */
  double baro_kpa;                        /* barometric pressure, kPa */
  double coolant_start_c;                 /* coolant at start (NAN: ambient, a cold start) */
  double battery_rest_v;                  /* battery at rest with engine off, V */
  double charge_v;                        /* regulated voltage with engine running, V */
  bool engine_on_at_start;                /* engine running when the model starts */
  /* the cycle (each duration varies by up to +-jitter from cycle to cycle) */
  double cycle_idle_s;     /* standstill with engine idling, s */
  double cycle_cruise_kmh; /* cruise speed, km/h */
  double cycle_cruise_s;   /* cruise duration, s */
  double cycle_accel_ms2;  /* acceleration towards cruise, m/s^2 */
  double cycle_decel_ms2;  /* deceleration to stop, m/s^2 */
  double cycle_jitter;     /* relative variation of the above, 0-0.5 */
} dd_drive_params_t;

void dd_drive_params_default(dd_drive_params_t *p);
/* Checks that p is usable (positive sizes, ratios, sane ranges). Returns 0 or DD_EINVAL with a
 * reason in why (may be NULL). */
int dd_drive_params_check(const dd_drive_params_t *p, char *why, size_t whycap);

/* Phase of the drive cycle. */
typedef enum {
  DD_DRIVE_PHASE_STOP = 0, /* standing, engine idling */
  DD_DRIVE_PHASE_ACCEL,    /* accelerating towards cruise speed */
  DD_DRIVE_PHASE_CRUISE,   /* holding cruise speed */
  DD_DRIVE_PHASE_DECEL,    /* braking to a stop */
  DD_DRIVE_PHASE_HOLD,     /* following a speed set with dd_drive_hold_speed */
} dd_drive_phase_t;

const char *dd_drive_phase_name(dd_drive_phase_t phase);

typedef struct dd_drive dd_drive_t;

/* A model starting at now_us; NULL on bad params (see dd_drive_params_check) or no memory. The
 * same params, seed and sequence of calls give the same values. */
dd_drive_t *dd_drive_new(const dd_drive_params_t *p, uint64_t seed, uint64_t now_us);
void dd_drive_destroy(dd_drive_t **self_p);

/* Advances the model to now_us in fixed steps (DD_DRIVE_STEP_US), so values depend only on the
 * seed, the calls and their times, not on how often this is called. Earlier times are ignored.
 * Gaps over six hours are skipped beyond the first six hours (the state settles by then). */
void dd_drive_update(dd_drive_t *self, uint64_t now_us);

/* Value of one signal at the last update. */
double dd_drive_get(const dd_drive_t *self, dd_drive_signal_t sig);
/* All signals at the last update, indexed by dd_drive_signal_t. */
void dd_drive_values(const dd_drive_t *self, double out[DD_DRIVE_SIGNAL_COUNT]);
/* The OBD view of the current values (service $01 PIDs). */
void dd_drive_obd_live(const dd_drive_t *self, dd_obd_live_t *out);
/* Fills an OBD view from a value array (e.g. a freeze frame taken with dd_drive_values). */
void dd_drive_obd_from_values(const double v[DD_DRIVE_SIGNAL_COUNT], dd_obd_live_t *out);

dd_drive_phase_t dd_drive_phase(const dd_drive_t *self);
/* Completed drive cycles since the start. */
unsigned dd_drive_cycles(const dd_drive_t *self);

/* ---- fault injection and preconditions (take effect at the next step) --------------------- */

/* Engine on (starts: run time restarts) or off (stalls/ignition to run: the car coasts to a
 * stop; the cycle waits). */
void dd_drive_set_engine(dd_drive_t *self, bool on);
bool dd_drive_engine_running(const dd_drive_t *self);
/* Leaves the cycle and holds kmh (0 = stationary, engine idling); the speed is approached at
 * the cycle's acceleration/deceleration. */
void dd_drive_hold_speed(dd_drive_t *self, double kmh);
/* Returns to the drive cycle, starting with a standstill phase. */
void dd_drive_resume_cycle(dd_drive_t *self);
/* Forces the battery/supply voltage (e.g. a weak battery at 11.2 V); NAN gives control back to
 * the model. */
void dd_drive_set_battery(dd_drive_t *self, double volts);
/* Adds a bias to the fuel trims (e.g. +20 for a lean condition: LTFT goes there slowly). */
void dd_drive_set_trim_bias(dd_drive_t *self, double pct);

#endif
