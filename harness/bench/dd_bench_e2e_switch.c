/* dd_bench_e2e_switch: part 2 of `duodiag bench e2e`: latency steps on the direct path, each
 * from well below to well above the first device's threshold, with every party a process (a
 * scenario run by the harness); the time from each step (the link applying it) to the first
 * device's switch to the relay, beside the time its own path algorithm (dd_transport, fed the
 * ideal probe echoes of the same step with no processing at all) needs. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_bench.h"
#include "dd_bench_e2e.h"
#include "dd_err.h"
#include "dd_log.h"
#include "dd_transport.h"

#define S_BASE_MS 20       /* one-way delay of the direct link between steps */
#define S_STEP_MS 250      /* one-way delay after a step (round trip 500 ms) */
#define S_THRESHOLD_MS 150 /* first device's threshold (S44) */
#define S_HYST_MS 30       /* its hysteresis */
#define S_HOLD_MS 1000     /* its hold time: short, so steps follow each other quickly */
#define S_PROBE_MS 100     /* probe interval (S43) */
#define S_MAX_STEPS 50     /* --steps limit */
#define S_TARGET_MS 1000.0 /* target of the switch time */

typedef struct {
  unsigned steps;                 /* steps expected */
  uint64_t t_step[S_MAX_STEPS];   /* when each step took effect (us) */
  unsigned n_step;                /* steps seen */
  uint64_t t_switch[S_MAX_STEPS]; /* the switch to the relay after each */
  unsigned n_switch;              /* switches seen */
  bool in_step;                   /* a step is in force: the next direct netem.set is it */
  unsigned to_relay, to_direct;   /* progress note */
} s_view_t;

static const char *s_str(json_t *ev, const char *key) {
  const char *s = json_string_value(json_object_get(ev, key));
  return s ? s : "";
}

static uint64_t s_t(json_t *ev) {
  return (uint64_t)json_integer_value(json_object_get(ev, "t_us"));
}

/* Steps are named step-K by the scenario; the link's own netem.set (the delay in force from
 * then on) gives the time; the harness's scenario.step is the fallback. */
static bool s_on_event(json_t *ev, void *arg) {
  s_view_t *v = arg;
  const char *kind = s_str(ev, "kind");
  if (!strcmp(kind, "scenario.step") && !strncmp(s_str(ev, "name"), "step-", 5)) {
    if (v->n_step < S_MAX_STEPS) v->t_step[v->n_step++] = s_t(ev);
    v->in_step = true;
  } else if (!strcmp(kind, "netem.set") && !strcmp(s_str(ev, "link"), "direct") && v->in_step &&
             v->n_step) {
    /* the first direction set after the step's command: the step is on the wire */
    v->t_step[v->n_step - 1] = s_t(ev);
    v->in_step = false;
  } else if (!strcmp(kind, "transport.switched") && !strcmp(s_str(ev, "to"), "relay")) {
    if (v->n_switch < v->n_step) v->t_switch[v->n_switch++] = s_t(ev);
  }
  return true;
}

static void s_watch(json_t *ev, char *note, size_t cap, void *arg) {
  s_view_t *v = arg;
  if (strcmp(s_str(ev, "kind"), "transport.switched")) return;
  if (!strcmp(s_str(ev, "to"), "relay"))
    v->to_relay++;
  else
    v->to_direct++;
  snprintf(note, cap, "step %u of %u: on the %s path", v->to_relay, v->steps, s_str(ev, "to"));
}

/* The first device's path algorithm alone: a step at `at` (us after a 10 s calm start), probes
 * answered after exactly the links' delays (a probe sent at t meets d(t) up and d(t + d(t))
 * down), nothing else in the way. Returns the step-to-switch time in us (UINT64_MAX: none). */
static uint64_t s_model(uint64_t phase_us) {
  dd_transport_cfg_t cfg;
  dd_transport_cfg_default(&cfg);
  cfg.probe_interval_us = S_PROBE_MS * 1000ull;
  cfg.threshold_us = S_THRESHOLD_MS * 1000ull;
  cfg.hysteresis_us = S_HYST_MS * 1000ull;
  cfg.hold_us = S_HOLD_MS * 1000ull;
  if (cfg.probe_timeout_us < 3 * cfg.probe_interval_us) /* as duodiag-first-device does */
    cfg.probe_timeout_us = 3 * cfg.probe_interval_us;
  dd_transport_t tr;
  uint64_t now = 1000000, step = now + 10000000 + phase_us;
  dd_transport_init(&tr, &cfg, now);
  enum { S_INFLIGHT = 64 };
  uint64_t echo_at[S_INFLIGHT];
  uint32_t echo_id[S_INFLIGHT];
  size_t n = 0;
  while (now < step + 10000000) {
    /* next event: the transport's deadline or the earliest echo */
    uint64_t next = dd_transport_next_deadline(&tr);
    size_t e = n;
    for (size_t i = 0; i < n; i++)
      if (echo_at[i] <= next && (e == n || echo_at[i] < echo_at[e])) e = i;
    now = e < n ? echo_at[e] : next;
    if (e < n) {
      dd_transport_on_echo(&tr, echo_id[e], now);
      echo_at[e] = echo_at[n - 1];
      echo_id[e] = echo_id[n - 1];
      n--;
    }
    uint32_t id;
    while (dd_transport_poll(&tr, now, &id)) {
      uint64_t up = (now < step ? S_BASE_MS : S_STEP_MS) * 1000ull;
      uint64_t down = (now + up < step ? S_BASE_MS : S_STEP_MS) * 1000ull;
      if (n < S_INFLIGHT) {
        echo_at[n] = now + up + down;
        echo_id[n++] = id;
      }
    }
    dd_transport_switch_t sw;
    if (dd_transport_take_switch(&tr, &sw) && sw.to == DD_PATH_RELAY)
      return sw.at_us >= step ? sw.at_us - step : 0;
  }
  return UINT64_MAX;
}

int dd_bench_e2e_switch(const dd_bench_e2e_opts_t *o) {
  const char *label = "switch";
  unsigned steps = o->steps > S_MAX_STEPS ? S_MAX_STEPS : o->steps;
  char *yaml = NULL;
  size_t ylen = 0;
  FILE *y = open_memstream(&yaml, &ylen);
  if (!y) return DD_ENOMEM;
  fprintf(y,
          "# Written by duodiag bench e2e (part 2): %u latency steps on the direct path, each\n"
          "# from %d ms to %d ms one way (threshold %d ms, %d ms probes); the next step comes\n"
          "# once the first device is back on the direct path and settled.\n"
          "name: bench-e2e-switch\n"
          "tags: [bench, transport]\n"
          "timeout: %us\n"
          "vehicle: \"%s\"\n"
          "parties: {first_device: sim, terminal: sim, service: sim, second: sim, relay: sim,\n"
          "          cloud: sim}\n"
          "first_device: {threshold: %dms, hysteresis: %dms, hold: %dms, probe_interval: %dms}\n"
          "links:\n"
          "  direct: {delay: %dms}\n"
          "  relay: {delay: %dms}\n"
          "timeline:\n"
          "  - at: 0s\n"
          "    session: {terminal: shop-1, pay: true}\n"
          "  - after: session.established + 2s\n"
          "    name: step-1\n"
          "    link: {direct: {delay: %dms}}\n",
          steps, S_BASE_MS, S_STEP_MS, S_THRESHOLD_MS, S_PROBE_MS, 30 + 15 * steps, o->vehicle,
          S_THRESHOLD_MS, S_HYST_MS, S_HOLD_MS, S_PROBE_MS, S_BASE_MS, S_BASE_MS, S_STEP_MS);
  for (unsigned k = 1; k <= steps; k++) {
    fprintf(y,
            "  - after: {event: transport.switched, to: relay, nth: %u, delay: 1s}\n"
            "    name: calm-%u\n"
            "    link: {direct: {delay: %dms}}\n",
            k, k, S_BASE_MS);
    /* The return to direct happens at a probe's echo: without a varying wait, every step would
     * meet the probe schedule at the same phase. */
    unsigned phase_ms = (unsigned)((o->seed * 7919u + k * 61u) % S_PROBE_MS);
    if (k < steps)
      fprintf(y,
              "  - after: {event: transport.switched, to: direct, nth: %u, delay: %ums}\n"
              "    name: step-%u\n"
              "    link: {direct: {delay: %dms}}\n",
              k, 2000 + phase_ms, k + 1, S_STEP_MS);
  }
  fprintf(y,
          "  - after: {event: transport.switched, to: relay, nth: %u, delay: 1500ms}\n"
          "    stop: {reason: every step switched}\n"
          "expect:\n"
          "  - count: {event: transport.switched, to: relay, min: %u}\n",
          steps, steps);
  fclose(y);

  s_view_t v = {.steps = steps};
  char run_dir[PATH_MAX];
  bool passed = false;
  int rc = dd_bench_e2e_run(o, label, yaml, s_watch, &v, &passed, run_dir, sizeof run_dir);
  free(yaml);
  if (rc < 0) return rc;
  memset(&v, 0, sizeof v);
  v.steps = steps;
  rc = dd_bench_e2e_timeline(run_dir, s_on_event, &v);
  if (rc < 0) {
    dd_error("e2e switch: no timeline in %s: %s", run_dir, dd_strerror(rc));
    return rc;
  }
  if (v.n_switch < steps) {
    dd_error("e2e switch could not be measured: %u of %u steps led to a switch to the "
             "relay (run folder %s)",
             v.n_switch, steps, run_dir);
    return DD_EIO;
  }
  double t[S_MAX_STEPS], m[100];
  for (unsigned i = 0; i < steps; i++)
    t[i] = v.t_switch[i] > v.t_step[i] ? (double)(v.t_switch[i] - v.t_step[i]) / 1000.0 : 0;
  /* The algorithm over every phase of the step against the probe schedule, 1 ms apart. */
  size_t nm = 0;
  for (unsigned ph = 0; ph < 100; ph++) {
    uint64_t us = s_model(ph * (S_PROBE_MS * 10ull));
    if (us != UINT64_MAX) m[nm++] = (double)us / 1000.0;
  }
  dd_bench_e2e_sort(t, steps);
  dd_bench_e2e_sort(m, nm);
  dd_bench_figure("e2e.switch.steps", steps, "steps");
  dd_bench_figure_target("e2e.switch.time_p50", dd_bench_e2e_quantile(t, steps, 0.5), "ms",
                         S_TARGET_MS, 1.0, false);
  dd_bench_figure_target("e2e.switch.time_max", t[steps - 1], "ms", S_TARGET_MS, 1.0, false);
  if (nm) {
    dd_bench_figure("e2e.switch.model_p50", dd_bench_e2e_quantile(m, nm, 0.5), "ms");
    dd_bench_figure("e2e.switch.model_max", m[nm - 1], "ms");
  }
  return 0;
}
