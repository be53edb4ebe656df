#!/usr/bin/env bash
# The scenarios tagged smoke, run end to end by `duodiag run` with every party as a process:
# they must all pass (exit 0), and their run folders must hold the timeline and JUnit files.
set -uo pipefail
build=${DD_BUILD_DIR:?DD_BUILD_DIR not set}
src=${DD_SOURCE_DIR:?DD_SOURCE_DIR not set}
out=$(mktemp -d /tmp/dd-smoke-XXXXXX)
trap 'rm -rf "$out"' EXIT
cd "$src" || exit 1
"$build/duodiag" run scenarios --tags smoke --out "$out" --no-progress 2>"$out/stderr.log"
rc=$?
cat "$out/suite.txt" 2>/dev/null
if ((rc != 0)); then
  echo "smoke scenarios failed (exit $rc); summaries:"
  find "$out" -name summary.txt -exec cat {} \;
  grep -v '^info' "$out/stderr.log" | tail -40
  exit 1
fi
n=$(grep -c '^PASS' "$out/suite.txt")
if ((n < 2)); then
  echo "expected at least 2 smoke scenarios to pass, got $n"
  exit 1
fi
for d in $(find "$out" -name junit.xml -printf '%h\n'); do
  [[ -s $d/timeline.jsonl ]] || { echo "no timeline in $d"; exit 1; }
done
echo "smoke scenarios: $n passed"
