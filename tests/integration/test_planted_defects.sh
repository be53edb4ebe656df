#!/usr/bin/env bash
# test_planted_defects: proof that the scenario library can fail. Each defect the first device
# can plant (duodiag-first-device --defect NAME: a known bug such as no hysteresis or a wrong
# block-counter wrap) must make at least one scenario of the library fail, and the same scenario
# must pass without it, so the failure is the defect's doing. A defect that appears in the
# device's list without a scenario here fails the test too: a new defect needs its proof.
set -uo pipefail

name=test_planted_defects
fail() {
  echo "$name: FAIL: $*" >&2
  exit 1
}
build=${DD_BUILD_DIR:?$name: DD_BUILD_DIR is not set}
src=${DD_SOURCE_DIR:?$name: DD_SOURCE_DIR is not set}
cd "$src" || exit 1
out=$(mktemp -d /tmp/dd-defects-XXXXXX)
trap 'rm -rf "$out"' EXIT

# defect -> the scenario that catches it
declare -A proof=(
  [no_hysteresis]=scenarios/transport/flapping-hysteresis.yaml
  [no_resend_on_switch]=scenarios/transport/direct-outage.yaml
  [wrong_block_counter_wrap]=scenarios/reflash/block-counter-wrap.yaml
  [ignore_0x78]=scenarios/reflash/reflash-500k.yaml
  [accept_unsigned]=scenarios/reflash/tampered-package.yaml
  [accept_unpaid_control]=scenarios/control/control-without-payment.yaml
)

# The device's own list of defects (its --help), so none goes without a proof.
mapfile -t listed < <("$build/duodiag-first-device" --help 2>&1 |
  sed -n '/--defect NAME/,/^  --[a-z]/p' | sed -n 's/^    \([a-z0-9_][a-z0-9_]*\) .*/\1/p')
((${#listed[@]} > 0)) || fail "could not read the defect list from duodiag-first-device --help"
for d in "${listed[@]}"; do
  [[ -n ${proof[$d]:-} ]] || fail "defect $d has no scenario that catches it (add it to $0)"
done

clean_ok=()
failed=0
for d in "${listed[@]}"; do
  sc=${proof[$d]}
  [[ -f $sc ]] || fail "$sc (the proof for $d) does not exist"
  slug=$(basename "$sc" .yaml)
  # Without the defect: the scenario passes (once per scenario).
  if [[ " ${clean_ok[*]} " != *" $sc "* ]]; then
    "$build/duodiag" run "$sc" --out "$out/clean-$slug" --no-progress >"$out/clean-$slug.log" 2>&1
    rc=$?
    if ((rc != 0)); then
      grep -E '^(FAIL|  FAIL)' "$out/clean-$slug.log" | head -8
      fail "$sc fails even without a planted defect (exit $rc)"
    fi
    clean_ok+=("$sc")
  fi
  # With it: the scenario fails, on an expectation or a check (not on a crash of the harness).
  "$build/duodiag" run "$sc" --defect "$d" --out "$out/$d" --no-progress >"$out/$d.log" 2>&1
  rc=$?
  if ((rc == 1)) && grep -q '^  FAIL ' "$out/$d.log"; then
    echo "$name: $d caught by $sc:"
    grep '^  FAIL ' "$out/$d.log" | head -4 | sed 's/^/    /'
  else
    echo "$name: $d NOT caught by $sc (exit $rc)" >&2
    failed=$((failed + 1))
  fi
done
((failed == 0)) || fail "$failed planted defect(s) went unnoticed"
echo "$name: PASS (${#listed[@]} defects, each caught)"
