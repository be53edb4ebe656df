#!/usr/bin/env bash
# make demo: the smoke scenarios run end to end with every output kept, then the ISO-TP bench.
# Usage: demo.sh BUILD OUT
set -uo pipefail
build=${1:-build}
out=${2:-runs/demo}
rm -rf "$out"
mkdir -p "$out"

echo "demo: the scenarios tagged smoke (duodiag run scenarios --tags smoke --out $out)"
"$build/duodiag" run scenarios --tags smoke --out "$out"
verdict=$?
echo
echo "demo: verdicts (one run per line; details in each run folder's summary.txt)"
if [[ -f $out/suite.txt ]]; then
  while read -r v name dir; do
    printf '  %-4s %-40s %s\n' "$v" "$name" "$dir"
  done <"$out/suite.txt"
fi
echo
if [[ -f $out/report.html ]]; then
  echo "demo: the report to open (one HTML file, plots inline, works offline):"
  echo "  $out/report.html"
  echo
fi
echo "demo: where to look"
for d in $(find "$out" -name timeline.jsonl -printf '%h\n' | sort); do
  echo "  $d/"
  printf '    %-14s %s (%d events; duodiag view %s)\n' timeline "$d/timeline.jsonl" \
    "$(wc -l <"$d/timeline.jsonl")" "$d"
  if "$build/duodiag" view "$d" --screenshot "$d/timeline.png" >/dev/null 2>&1; then
    printf '    %-14s %s\n' picture "$d/timeline.png"
  fi
  printf '    %-14s %s\n' summary "$d/summary.txt" junit "$d/junit.xml" logs "$d/logs/"
  for f in can.log can.pcap; do [[ -f $d/$f ]] && printf '    %-14s %s\n' "$f" "$d/$f"; done
done
# The report again, now that the pictures exist, so it links them.
"$build/duodiag" report "$out" >/dev/null 2>&1 || true

echo
echo "demo: ISO-TP transfers between two nodes through the virtual CAN bus process"
echo "      (500 kbit/s classic CAN and 500k/2M CAN FD), measured against the bus's limit"
mkdir -p "$out/bench"
if "$build/duodiag" bench isotp --messages 5 --out "$out/bench" | tee "$out/bench/figures.txt"; then
  echo "demo: figures in $out/bench/figures.txt; open a can.pcap in Wireshark (Decode As ISO15765)"
fi
if [[ -f $out/report.html ]]; then
  echo
  echo "demo: report: $out/report.html"
fi
exit $verdict
