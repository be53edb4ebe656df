#!/bin/bash
# guest_checks: the part of scripts/vm-can-test.sh that runs inside the VM, with the host's root
# file system (read-only) as its root: sets up the CAN interfaces, runs vm_can_check and
# prints one "DDVM PASS|FAIL" line per check and a "DDVM SUMMARY" line.
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
  echo "DDVM SUMMARY passed=$passed failed=$failed"
}
