#!/usr/bin/env bash
# test_hil: hardware-in-the-loop mode of `duodiag run` with the first device marked real. The
# harness must not spawn it, must say how the device joins (RUN_DIR/real-first_device.cmd, a
# run.wait_real event) and wait for it; a device started from that line (here the duodiag
# firmware itself, as a lab would start it on a VCI) registers and the run passes. Without the
# device the run fails after register_timeout with a message that names the party and the file.
set -uo pipefail

name=test_hil
fail() {
  echo "$name: FAIL: $*" >&2
  exit 1
}
build=${DD_BUILD_DIR:?$name: DD_BUILD_DIR is not set}
src=${DD_SOURCE_DIR:?$name: DD_SOURCE_DIR is not set}
tmp=$(mktemp -d /tmp/dd-hil-XXXXXX)
run_pid=""
fd_pid=""
cleanup() {
  for p in $fd_pid $run_pid; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

scenario() { # scenario FILE REGISTER_TIMEOUT
  cat >"$1" <<EOF
name: hil-first-device
timeout: 60s
vehicle: $src/ecu_models/vehicles/corvan_meridian_2019.yaml
parties: {first_device: {mode: real, register_timeout: $2}, cloud: sim}
timeline:
  - at: 0s
    diagnose: true
  - after: fd.local_diagnosis + 300ms
    stop: true
expect:
  - {event: fd.vin, source: uds, vin: 4CVBS2KA6KT104377, valid: true, within: 10s}
  - {event: fd.local_diagnosis, ecus: 4, dtcs: 5, within: 15s}
EOF
}

# 1. The device joins from the line the harness wrote.
scenario "$tmp/hil.yaml" 30s
"$build/duodiag" run "$tmp/hil.yaml" --out "$tmp/out" --no-progress >"$tmp/run.log" 2>&1 &
run_pid=$!
cmd="$tmp/out/hil-first-device/real-first_device.cmd"
for ((i = 0; i < 200; i++)); do
  [[ -s $cmd ]] && break
  kill -0 "$run_pid" 2>/dev/null || break
  sleep 0.1
done
[[ -s $cmd ]] || { cat "$tmp/run.log"; fail "the harness wrote no $cmd"; }
grep -q '^duodiag-first-device --name first_device --control ' "$cmd" ||
  fail "unexpected join line: $(cat "$cmd")"
# The harness spawned no first device of its own.
grep -q 'spawn duodiag-first-device' "$tmp/run.log" && fail "the real first device was spawned"
(cd "$tmp" && PATH="$build:$PATH" exec bash -c "exec $(cat "$cmd")") >"$tmp/fd.log" 2>&1 &
fd_pid=$!
wait "$run_pid"
rc=$?
run_pid=""
if ((rc != 0)); then
  cat "$tmp/run.log" "$tmp/fd.log"
  fail "the run with the registered device exited $rc (want 0)"
fi
tl="$tmp/out/hil-first-device/timeline.jsonl"
grep -q '"kind":"run.wait_real".*"name":"first_device"' "$tl" || fail "no run.wait_real event"
grep -q '"proc":"first_device","kind":"fd.local_diagnosis"' "$tl" ||
  fail "no local diagnosis from the registered device on the timeline"
kill -TERM "$fd_pid" 2>/dev/null
wait "$fd_pid" 2>/dev/null
fd_pid=""
echo "$name: real first device registered and the run passed"

# 2. Nobody joins: a clear failure after register_timeout.
scenario "$tmp/hil2.yaml" 2s
"$build/duodiag" run "$tmp/hil2.yaml" --out "$tmp/out2" --no-progress >"$tmp/run2.log" 2>&1
rc=$?
((rc == 1)) || { cat "$tmp/run2.log"; fail "the run without the device exited $rc (want 1)"; }
grep -q 'party first_device (real) did not register on the control channel within 2.0 s' \
  "$tmp/run2.log" || { cat "$tmp/run2.log"; fail "no clear message about the missing device"; }
grep -q 'real-first_device.cmd' "$tmp/run2.log" || fail "the message does not say how to join"
echo "$name: a missing real device fails the run with a clear message"
echo "$name: PASS"
