#!/usr/bin/env bash
# test_bench_e2e: `duodiag bench e2e --quick` runs the whole system (a remote reflash, latency
# steps on the direct path, 100 vehicles through one relay and one service device) and prints
# every figure, well formed and sane: the bench exits 0, nothing is lost or delivered twice,
# ratios against physical limits measured in the same run lie in (0, 1.05], and the figures agree
# with each other. Targets (met=) are not checked: timings on a shared machine are noisy.
set -uo pipefail
build=${DD_BUILD_DIR:?test_bench_e2e: DD_BUILD_DIR is not set}
if ! command -v python3 >/dev/null 2>&1; then
  echo "test_bench_e2e: FAIL: python3 is needed to check the figures" >&2
  exit 1
fi
out=$(mktemp -d /tmp/dd-bench-e2e-test-XXXXXX)
trap 'rm -rf "$out"' EXIT

start=$SECONDS
"$build/duodiag" bench e2e --quick --seed 3 --out "$out/runs" >"$out/figures" 2>"$out/stderr"
rc=$?
cat "$out/figures"
if ((rc != 0)); then
  echo "test_bench_e2e: FAIL: duodiag bench e2e --quick exited $rc; its messages:"
  grep -v '^info' "$out/stderr" | tail -n 30
  for s in "$out"/runs/*/summary.txt; do [[ -f $s ]] && cat "$s"; done
  exit 1
fi

python3 - "$out/figures" <<'PY'
import math, re, sys

NUM = r"-?(?:\d+\.?\d*(?:e[-+]?\d+)?|inf|nan)"
LINE = re.compile(
    r"^figure: (?P<name>[a-z0-9_.]+) value=(?P<value>%s) unit=(?P<unit>\S+)"
    r"(?: limit=(?P<limit>%s) ratio=(?P<ratio>%s)"
    r"(?: target_ratio_(?P<rsense>min|max)=(?P<rtarget>%s) met=(?P<rmet>yes|no))?)?"
    r"(?: target_(?P<vsense>min|max)=(?P<vtarget>%s) met=(?P<vmet>yes|no))?$"
    % (NUM, NUM, NUM, NUM, NUM))

problems = []
fig = {}
for raw in open(sys.argv[1]):
    raw = raw.rstrip("\n")
    if not raw.startswith("figure:"):
        continue
    m = LINE.match(raw)
    if not m:
        problems.append("malformed figure line: %r" % raw)
        continue
    d = m.groupdict()
    for k in ("value", "limit", "ratio", "rtarget", "vtarget"):
        if d[k] is not None:
            d[k] = float(d[k])
            if not math.isfinite(d[k]):
                problems.append("%s: %s is not a finite number" % (d["name"], k))
    if d["name"] in fig:
        problems.append("%s printed twice" % d["name"])
    fig[d["name"]] = d

expected = {
    # part 1: remote reflash
    "e2e.reflash.image": "B", "e2e.reflash.transferred": "B", "e2e.reflash.blocks": "blocks",
    "e2e.reflash.block_length": "B", "e2e.reflash.stmin": "us", "e2e.reflash.download_time": "s",
    "e2e.reflash.transfer_rate": "B/s", "e2e.reflash.total_time": "s",
    # part 2: latency step -> transport switch
    "e2e.switch.steps": "steps", "e2e.switch.time_p50": "ms", "e2e.switch.time_max": "ms",
    "e2e.switch.model_p50": "ms", "e2e.switch.model_max": "ms",
    # part 3: one relay and one service device, 100 vehicles
    "e2e.fleet.vehicles": "vehicles", "e2e.fleet.offered_rate": "records/s",
    "e2e.fleet.records_sent": "records", "e2e.fleet.records_acked": "records",
    "e2e.fleet.records_delivered": "records", "e2e.fleet.records_lost": "records",
    "e2e.fleet.delivery_errors": "records", "e2e.fleet.latency_p50": "ms",
    "e2e.fleet.latency_p99": "ms", "e2e.fleet.latency_max": "ms",
    "e2e.fleet.relay_cpu": "ms", "e2e.fleet.relay_cpu_load": "%",
    "e2e.fleet.relay_cpu_per_1k": "ms", "e2e.fleet.service_cpu": "ms",
    "e2e.fleet.service_cpu_load": "%", "e2e.fleet.service_cpu_per_1k": "ms",
}
# Figures that carry a ratio, and which of them are against a physical limit (higher is better,
# the limit cannot be beaten: ratio in (0, 1.05]) rather than against a target.
physical = {"e2e.reflash.transfer_rate", "e2e.fleet.records_acked", "e2e.fleet.records_delivered"}
targets = {"e2e.switch.time_p50", "e2e.switch.time_max", "e2e.fleet.latency_p99"}

for name, unit in expected.items():
    if name not in fig:
        problems.append("figure %s is missing" % name)
    elif fig[name]["unit"] != unit:
        problems.append("%s: unit %s, expected %s" % (name, fig[name]["unit"], unit))
for name in fig:
    if name not in expected:
        problems.append("unexpected figure %s" % name)
for name in physical | targets:
    f = fig.get(name)
    if not f:
        continue
    if f["ratio"] is None or f["rmet"] is None:
        problems.append("%s: no limit, ratio and target" % name)
        continue
    if f["limit"] <= 0 or abs(f["ratio"] - f["value"] / f["limit"]) > 1e-3 * max(1, f["ratio"]):
        problems.append("%s: ratio %g is not value/limit" % (name, f["ratio"]))
    if not f["ratio"] > 0:
        problems.append("%s: ratio %g is not above 0" % (name, f["ratio"]))
    if name in physical and not f["ratio"] <= 1.05:
        problems.append("%s: ratio %g beats its physical limit" % (name, f["ratio"]))
    want_sense = "min" if name in physical else "max"
    if f["rsense"] != want_sense:
        problems.append("%s: target_ratio_%s, expected target_ratio_%s" % (name, f["rsense"], want_sense))
    met = f["ratio"] >= f["rtarget"] if f["rsense"] == "min" else f["ratio"] <= f["rtarget"]
    if (f["rmet"] == "yes") != met:
        problems.append("%s: met=%s does not follow from the ratio" % (name, f["rmet"]))

def v(name):
    return fig[name]["value"] if name in fig else float("nan")

def check(cond, text):
    if not cond:
        problems.append(text)

# Part 1: the whole image went over the bus in blocks no longer than the ECU allows.
check(v("e2e.reflash.transferred") >= v("e2e.reflash.image") > 0,
      "reflash: %g bytes transferred for a %g-byte image" % (v("e2e.reflash.transferred"), v("e2e.reflash.image")))
check(v("e2e.reflash.blocks") * (v("e2e.reflash.block_length") - 2) >= v("e2e.reflash.transferred"),
      "reflash: blocks x block length do not hold the bytes transferred")
check(0 < v("e2e.reflash.download_time") < v("e2e.reflash.total_time"),
      "reflash: download %g s is not inside the total %g s" % (v("e2e.reflash.download_time"), v("e2e.reflash.total_time")))
check(abs(v("e2e.reflash.transfer_rate") * v("e2e.reflash.download_time") - v("e2e.reflash.transferred"))
      <= 0.01 * v("e2e.reflash.transferred"), "reflash: rate x download time != bytes transferred")
# Part 2: every step switched, no faster than the path algorithm itself allows.
check(v("e2e.switch.steps") == 3, "switch: %g steps, expected 3 (--quick)" % v("e2e.switch.steps"))
check(0 < v("e2e.switch.time_p50") <= v("e2e.switch.time_max") < 10000,
      "switch: p50 %g ms / max %g ms out of order or range" % (v("e2e.switch.time_p50"), v("e2e.switch.time_max")))
check(0 < v("e2e.switch.model_p50") <= v("e2e.switch.model_max"), "switch: model figures out of order")
check(v("e2e.switch.time_max") >= 0.8 * v("e2e.switch.model_p50"),
      "switch: every measured switch (max %g ms) came far sooner than the algorithm allows (%g ms)"
      % (v("e2e.switch.time_max"), v("e2e.switch.model_p50")))
# Part 3: exactly once, nothing lost, latency quantiles ordered, both processes worked.
check(v("e2e.fleet.vehicles") == 100, "fleet: %g vehicles, expected 100" % v("e2e.fleet.vehicles"))
check(v("e2e.fleet.records_sent") == v("e2e.fleet.vehicles") * 60,
      "fleet: %g records sent, expected 100 x 20/s x 3 s" % v("e2e.fleet.records_sent"))
check(v("e2e.fleet.records_lost") == 0, "fleet: %g records lost" % v("e2e.fleet.records_lost"))
check(v("e2e.fleet.delivery_errors") == 0,
      "fleet: %g records delivered twice or out of order" % v("e2e.fleet.delivery_errors"))
check(v("e2e.fleet.records_acked") == v("e2e.fleet.records_sent") == v("e2e.fleet.records_delivered"),
      "fleet: sent %g, acknowledged %g, delivered %g" % (v("e2e.fleet.records_sent"),
      v("e2e.fleet.records_acked"), v("e2e.fleet.records_delivered")))
check(0 < v("e2e.fleet.latency_p50") <= v("e2e.fleet.latency_p99") <= v("e2e.fleet.latency_max") < 10000,
      "fleet: latency p50/p99/max out of order or range")
for who in ("relay", "service"):
    check(v("e2e.fleet.%s_cpu" % who) > 0 and 0 < v("e2e.fleet.%s_cpu_load" % who) < 200,
          "fleet: %s CPU %g ms / %g %%" % (who, v("e2e.fleet.%s_cpu" % who), v("e2e.fleet.%s_cpu_load" % who)))

if problems:
    print("test_bench_e2e: FAIL:")
    for p in problems:
        print("  " + p)
    sys.exit(1)
print("test_bench_e2e: %d figures, all present, well formed and sane" % len(fig))
PY
py=$?
if ((py != 0)); then
  grep -v '^info' "$out/stderr" | tail -n 20
  exit 1
fi
echo "test_bench_e2e: ok in $((SECONDS - start)) s"
