#!/usr/bin/env bash
# make demo: the most end-to-end run duodiag has, with its outputs kept. Usage: demo.sh BUILD OUT
set -euo pipefail
build=${1:-build}
out=${2:-runs/demo}
rm -rf "$out"
mkdir -p "$out"
echo "demo: ISO-TP transfers between two nodes through the virtual CAN bus process"
echo "      (500 kbit/s classic CAN and 500k/2M CAN FD), measured against the bus's limit"
"$build/duodiag" bench isotp --messages 5 --out "$out" | tee "$out/figures.txt"
echo
echo "demo: outputs in $out/"
for d in "$out"/*/; do
  [[ -f $d/timeline.jsonl ]] || continue
  printf '  %-28s %6d events   %s\n' "${d}timeline.jsonl" "$(wc -l <"$d/timeline.jsonl")" \
    "$(ls "$d" | grep -E '\.(log|pcap)$' | tr '\n' ' ')"
done
echo "demo: figures in $out/figures.txt; open a can.pcap in Wireshark (Decode As ISO15765)"
