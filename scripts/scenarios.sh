#!/usr/bin/env bash
# make scenarios / make soak: the scenario library run end to end by `duodiag run`, with its
# verdict table, report.html and run folders kept. Usage: scenarios.sh BUILD OUT TAGS
set -uo pipefail
build=${1:-build}
out=${2:-runs/library}
tags=${3:-not soak}
rm -rf "$out"
mkdir -p "$out"
start=$(date +%s)
echo "scenarios: duodiag run scenarios --tags '$tags' --out $out"
"$build/duodiag" run scenarios --tags "$tags" --out "$out" --no-progress 2>"$out/stderr.log"
rc=$?
passed=$(grep -c '^PASS' "$out/suite.txt" 2>/dev/null)
others=$(grep -vc '^PASS' "$out/suite.txt" 2>/dev/null)
echo "scenarios: ${passed:-0} passed, ${others:-0} not passed in $(($(date +%s) - start)) s;" \
  "report: $out/report.html"
if ((rc != 0)); then
  echo "scenarios: failed runs:"
  grep -v '^PASS' "$out/suite.txt" 2>/dev/null | sed 's/^/  /'
  for d in $(grep -v '^PASS' "$out/suite.txt" 2>/dev/null | awk '{print $NF}'); do
    echo "== $d/summary.txt"
    cat "$d/summary.txt" 2>/dev/null
  done
fi
exit $rc
