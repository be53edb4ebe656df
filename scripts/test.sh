#!/usr/bin/env bash
# Runs every test of both builds (normal, then ASan+UBSan with libFuzzer targets), writes JUnit
# files next to them and ends with one summary line. Usage: scripts/test.sh BUILD ASAN_BUILD
set -uo pipefail
build=${1:-build}
asan=${2:-build-asan}
jobs=$(nproc 2>/dev/null || echo 2)
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

total_pass=0
total_fail=0
status=0
for dir in "$build" "$asan"; do
  echo "== tests in $dir"
  out=$(mktemp)
  # The VM test runs a gcc-built program inside qemu whatever the build: once is enough.
  exclude=()
  [[ $dir == "$asan" ]] && exclude=(-LE 'vm|scenario')
  ctest --test-dir "$dir" --output-on-failure -j "$jobs" --output-junit "$PWD/$dir/junit.xml" \
    "${exclude[@]}" 2>&1 | tee "$out"
  rc=${PIPESTATUS[0]}
  line=$(grep -E '^[0-9]+% tests passed, [0-9]+ tests failed out of [0-9]+' "$out" | tail -n 1)
  rm -f "$out"
  if [[ -z $line ]]; then
    echo "test: ctest in $dir printed no summary" >&2
    status=1
    continue
  fi
  failed=$(sed -E 's/.* ([0-9]+) tests failed out of ([0-9]+)/\1/' <<<"$line")
  ran=$(sed -E 's/.* out of ([0-9]+)/\1/' <<<"$line")
  total_pass=$((total_pass + ran - failed))
  total_fail=$((total_fail + failed))
  ((rc != 0)) && status=1
done
echo "test: JUnit results in $build/junit.xml and $asan/junit.xml"
echo "$total_pass passed, $total_fail failed"
exit $status
