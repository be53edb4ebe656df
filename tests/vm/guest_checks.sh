#!/bin/bash
# guest_checks: the part of scripts/vm-can-test.sh that runs inside the VM, with the host's root
# file system (read-only) as its root: sets up the CAN interfaces, runs vm_can_check and the
# duodiag-canbridge checks, and prints one "DDVM PASS|FAIL" line per check and a "DDVM SUMMARY"
# line.
# Usage (in the guest): guest_checks.sh /path/to/vm_can_check
set -u

PROG=${1:?usage: guest_checks.sh VM_CAN_CHECK}
IP=/sbin/ip # iproute2 from the host, never a shell's built-in ip
passed=0
failed=0

pass() { echo "DDVM PASS $*"; passed=$((passed + 1)); }
fail() { echo "DDVM FAIL $*"; failed=$((failed + 1)); }

# Runs "$@" quietly; on failure prints its output as one FAIL line named $name.
step() {
  local name=$1 out
  shift
  if out=$("$@" 2>&1); then
    pass "$name"
  else
    fail "$name: $(echo "$out" | tr '\n' ' ')"
    return 1
  fi
}

echo "DDVM INFO kernel $(uname -r), $(nproc) cpu(s)"

# vcan0: CAN FD (MTU 72), up. vcan1: classic (MTU 16; a new vcan has 72), left down for the
# error checks.
step "setup: vcan0 with CAN FD (mtu 72), up" \
  sh -c "$IP link add dev vcan0 type vcan && $IP link set vcan0 mtu 72 && $IP link set vcan0 up"
step "setup: vcan1 classic (mtu 16), down" \
  sh -c "$IP link add dev vcan1 type vcan && $IP link set vcan1 mtu 16"

# vm_can_check prints its own PASS/FAIL lines; count them as they go by, and count a crash or
# an exit status that disagrees with the lines as a failure too.
{
  "$PROG" vcan0 vcan1 2>&1
  echo "DDVM-EXIT $?"
} | {
  status=""
  while IFS= read -r line; do
    case $line in
    "DDVM PASS "*) passed=$((passed + 1)) ;;
    "DDVM FAIL "*) failed=$((failed + 1)) ;;
    "DDVM-EXIT "*) status=${line#DDVM-EXIT }; continue ;;
    esac
    echo "$line"
  done
  if [[ $status != 0 ]] && ((failed == 0)) || [[ -z $status ]]; then
    echo "DDVM FAIL vm_can_check exited with status ${status:-unknown}"
    failed=$((failed + 1))
  fi
  echo "$passed $failed" >"${TMPDIR:-/tmp}/ddvm-counts" # this subshell's counts, for the summary
}
read -r passed failed <"${TMPDIR:-/tmp}/ddvm-counts" || { passed=0; failed=$((failed + 1)); }

# ---- duodiag-canbridge: the virtual bus joined to vcan0 --------------------------------------
# The duodiag executables come from the host's build folder, which vm-can-test.sh links next to
# the test program. A socketcand client on bash's /dev/tcp is the node on the virtual bus;
# cansend and candump are the kernel side.
BUILD=$(dirname "$PROG")/build
T=$(mktemp -d "${TMPDIR:-/tmp}/bridge.XXXXXX") # tmpfs: the host's root is read-only here
elem=""

# wait_line FILE PATTERN SECONDS: until a line of FILE matches PATTERN.
wait_line() {
  local i
  for ((i = 0; i < $3 * 20; i++)); do
    grep -q -- "$2" "$1" 2>/dev/null && return 0
    sleep 0.05
  done
  return 1
}
# read_elem [SECONDS]: the next socketcand element ("< ... >") from fd 3 into $elem.
read_elem() {
  elem=""
  IFS= read -r -d '>' -t "${1:-5}" -u 3 elem || return 1
  elem="<${elem#*<}>"
}

bridge_checks() {
  local exe p rc
  for exe in duodiag-bus duodiag-canbridge duodiag-socketcand; do
    if [[ ! -x $BUILD/$exe ]]; then
      fail "bridge: $BUILD/$exe not found (vm-can-test.sh links DD_BUILD_DIR there)"
      return
    fi
  done
  $IP link set lo up # TCP to the socketcand server
  "$BUILD/duodiag-bus" --endpoint "ipc://$T/bus" --candump "$T/bus.log" 2>"$T/bus.err" &
  local bus=$!
  "$BUILD/duodiag-canbridge" --bus "ipc://$T/bus" --can vcan0 --fd --timeline "$T/bridge.jsonl" \
    2>"$T/bridge.err" &
  local bridge=$!
  "$BUILD/duodiag-socketcand" --bus "ipc://$T/bus" --port 29536 --timeline "$T/scd.jsonl" \
    2>"$T/scd.err" &
  local scd=$!
  # Ready = joined the bus (and, for the bridge, vcan0 open).
  if wait_line "$T/bridge.jsonl" '"kind":"proc.ready"' 30 &&
    wait_line "$T/scd.jsonl" '"kind":"proc.ready"' 30; then
    pass "bridge: duodiag-bus, duodiag-canbridge --fd on vcan0 and duodiag-socketcand ready"
  else
    fail "bridge: processes not ready: $(cat "$T"/*.err | tr '\n' ' ')"
    kill $bus $bridge $scd 2>/dev/null
    return
  fi
  echo "DDVM INFO bridge processes ready at $(up) s"
  candump -L vcan0 >"$T/vcan0.log" 2>&1 &
  local dump=$!
  if ! exec 3<>/dev/tcp/127.0.0.1/29536; then
    fail "bridge: cannot connect to duodiag-socketcand"
    kill $bus $bridge $scd $dump 2>/dev/null
    return
  fi
  local hs=""
  read_elem && hs+=$elem
  printf '< open vbus0 >' >&3
  read_elem && hs+=$elem
  printf '< rawmode >' >&3
  read_elem && hs+=$elem
  sleep 0.5 # candump settles
  local ts='[0-9]+\.[0-9]{6}'

  cansend vcan0 123#DEADBEEF
  read_elem
  if [[ $hs == "< hi >< ok >< ok >" && $elem =~ ^"< frame 123 "$ts" DEADBEEF >"$ ]]; then
    pass "bridge: cansend vcan0 123#DEADBEEF -> node on the virtual bus -- $elem"
  else
    fail "bridge: cansend vcan0 123#DEADBEEF -> node on the virtual bus: handshake '$hs', got '$elem'"
  fi
  cansend vcan0 18DAF110##1AABBCCDD
  read_elem
  if [[ $elem =~ ^"< fdframe 18DAF110 01 "$ts" AABBCCDD >"$ ]]; then
    pass "bridge: cansend vcan0 18DAF110##1AABBCCDD (FD, BRS) -> node on the virtual bus -- $elem"
  else
    fail "bridge: cansend vcan0 18DAF110##1AABBCCDD -> node on the virtual bus: got '$elem'"
  fi

  printf '< send 321 2 ca fe >' >&3
  if wait_line "$T/vcan0.log" ' vcan0 321#CAFE$' 10; then
    pass "bridge: node on the virtual bus sends 321#CAFE -> candump vcan0"
  else
    fail "bridge: 321#CAFE from the virtual bus never reached vcan0: $(tr '\n' ';' <"$T/vcan0.log")"
  fi
  printf '< fdsend 1ABCDEF0 01 12 0 1 2 3 4 5 6 7 8 9 a b >' >&3
  # candump shows the flags byte: BRS (1), plus FDF (4) on kernels that set it.
  if wait_line "$T/vcan0.log" ' vcan0 1ABCDEF0##[15]000102030405060708090A0B$' 10; then
    pass "bridge: node on the virtual bus sends 1ABCDEF0##1000102030405060708090A0B -> candump vcan0"
  else
    fail "bridge: the FD frame from the virtual bus never reached vcan0: $(tr '\n' ';' <"$T/vcan0.log")"
  fi

  # No loop: each frame once on each side, and nothing back to the node that sent it.
  local back=""
  read_elem 1 && back=$elem
  local n1 n2 b1 b2
  n1=$(grep -c ' vcan0 123#DEADBEEF$' "$T/vcan0.log")
  n2=$(grep -c ' vcan0 321#CAFE$' "$T/vcan0.log")
  b1=$(grep -c ' vbus0 123#DEADBEEF$' "$T/bus.log")
  b2=$(grep -c ' vbus0 321#CAFE$' "$T/bus.log")
  if [[ -z $back && $n1 == 1 && $n2 == 1 && $b1 == 1 && $b2 == 1 ]]; then
    pass "bridge: no loop -- each frame once on vcan0 and once on the virtual bus"
  else
    fail "bridge: loop? back to sender '$back'; on vcan0 $n1 x 123, $n2 x 321; on the bus $b1 x 123, $b2 x 321"
  fi
  exec 3>&-

  echo "DDVM INFO bridge frames checked at $(up) s"
  rc=""
  for p in $bridge $scd $bus; do
    kill -TERM "$p"
    wait "$p"
    rc+="$? "
  done
  kill $dump 2>/dev/null
  wait $dump 2>/dev/null
  if [[ $rc == "0 0 0 " ]] && grep -q '"kind":"canbridge.down","vbus_to_vcan0":2,"vcan0_to_vbus":2' \
    "$T/bridge.jsonl"; then
    pass "bridge: clean stop on SIGTERM (exit 0 each), 2 frames forwarded each way"
  else
    fail "bridge: stop: exit codes $rc; $(grep canbridge.down "$T/bridge.jsonl") $(cat "$T"/*.err | tr '\n' ' ')"
  fi
}
up() { cut -d' ' -f1 /proc/uptime; }
echo "DDVM INFO bridge checks start at $(up) s"
bridge_checks
echo "DDVM INFO bridge checks done at $(up) s"

# ---- duodiag run --can: the whole harness with the bus on the kernel's CAN ---------------------
# Hardware in the loop as a lab runs it: no virtual bus process; the simulated vehicle's ECUs
# and the first device open vcan0 through SocketCAN, and the local diagnosis (UDS and OBD-II
# over the kernel's CAN) must pass. --can-configure on a vcan must fail with a clear message
# (a virtual interface has no controller to set up through libsocketcan).
hil_checks() {
  local src out=$T/hil sc=$T/hil.yaml rc
  src=$(cd "$(dirname "$0")/../.." && pwd)
  cat >"$sc" <<EOF
name: hil-vcan
timeout: 90s
vehicle: $src/ecu_models/vehicles/corvan_meridian_2019.yaml
parties: {first_device: sim, cloud: sim}
timeline:
  - at: 0s
    diagnose: true
  - after: fd.local_diagnosis + 300ms
    stop: true
expect:
  - {event: fd.vin, source: uds, vin: 4CVBS2KA6KT104377, valid: true, within: 60s}
  - {event: fd.local_diagnosis, ecus: 4, dtcs: 5, failed: 0, within: 80s}
EOF
  DD_SOURCE_DIR=$src "$BUILD/duodiag" run "$sc" --can vcan0 --out "$out" --no-progress \
    >"$T/hil.log" 2>&1
  rc=$?
  local tl=$out/hil-vcan/timeline.jsonl
  if ((rc == 0)) && grep -q '"kind":"run.can","iface":"vcan0"' "$tl" &&
    ! grep -q '"kind":"run.spawn","name":"bus"' "$tl"; then
    pass "hil: duodiag run --can vcan0: local diagnosis of 4 ECUs over the kernel's CAN"
  else
    fail "hil: duodiag run --can vcan0 exited $rc: $(grep -E 'FAIL|error' "$T/hil.log" | head -8 | tr '\n' ' ')"
  fi
  DD_SOURCE_DIR=$src "$BUILD/duodiag" run "$sc" --can vcan0 --can-configure --out "$out-cfg" \
    --no-progress >"$T/hil-cfg.log" 2>&1
  rc=$?
  if ((rc == 1)) && grep -q 'bus: cannot .* vcan0 through libsocketcan' "$T/hil-cfg.log"; then
    pass "hil: --can-configure on a vcan fails clearly: $(grep -o 'bus: cannot[^(]*' "$T/hil-cfg.log" | head -1)"
  else
    fail "hil: --can-configure on vcan0 exited $rc: $(grep -E 'error' "$T/hil-cfg.log" | head -3 | tr '\n' ' ')"
  fi
}
echo "DDVM INFO hil checks start at $(up) s"
hil_checks
echo "DDVM INFO hil checks done at $(up) s"

echo "DDVM SUMMARY passed=$passed failed=$failed"
