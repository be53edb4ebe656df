#!/usr/bin/env bash
# test_pcap_tshark: Wireshark's own dissectors (tshark) decode the LINKTYPE_CAN_SOCKETCAN pcap
# that dd_pcap writes: every CAN id, flag, length, FD bit and payload of the sample trace.
set -euo pipefail

if ! command -v tshark >/dev/null 2>&1; then
  echo "test_pcap_tshark: FAIL: tshark is not installed; scripts/bootstrap.sh must install" \
       "the Debian package 'tshark' for this cross-check" >&2
  exit 1
fi
build=${DD_BUILD_DIR:?test_pcap_tshark: DD_BUILD_DIR is not set}
writer=$build/check_traces
if [[ ! -x $writer ]]; then
  echo "test_pcap_tshark: FAIL: $writer not built" >&2
  exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$writer" --write-pcap "$tmp/can.pcap"

# -n: no name resolution; the AUTOSAR NM heuristic would claim the empty frame 000#.
fields=(frame.time_epoch can.id can.flags.xtd can.flags.rtr can.flags.err can.len
        canfd.flags.brs canfd.flags.esi can.err.ctrl can.err.ctrl.rx_warning data.data)
args=()
for f in "${fields[@]}"; do args+=(-e "$f"); done
if ! tshark -n -r "$tmp/can.pcap" --disable-protocol autosar-nm -T fields -E separator='|' \
     "${args[@]}" >"$tmp/got" 2>"$tmp/err"; then
  echo "test_pcap_tshark: FAIL: tshark could not read the file:" >&2
  cat "$tmp/err" >&2
  exit 1
fi

# The sample trace of check_traces.c (epoch 1700000000.000001), as Wireshark 4.0 decodes it:
# time|id|ext|rtr|err|len|brs|esi|err.ctrl|rx_warning|data (empty where a field is absent).
cat >"$tmp/want" <<'WANT'
1700000000.000001000|2016|0|0|0|4|||||0322f190
1700000000.000100000|291|0|||2|1|0|||aabb
1700000000.000150000|291|0|||0|1|1|||
1700000000.000160000|536870911|1|||12|0|1|||001122334455667788990011
1700000000.000200000|305419896|1|1|0|0|||||
1700000000.000300000||||1|8|||1|1|
1700000000.000400000|291|0|1|0|7|||||00000000000000
1700000000.000500000|0|0|0|0|0|||||
1700000000.500500000|2047|0|0|0|8|||||1122334455667788
1700000000.600001000|417001744|1|0|0|4|||||0322f190
1700000000.700001000|2024|0|||64|0|0|||000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f
WANT

if ! diff -u "$tmp/want" "$tmp/got"; then
  echo "test_pcap_tshark: FAIL: tshark decodes the pcap differently (diff above: - expected," \
       "+ tshark)" >&2
  exit 1
fi
if tshark -n -r "$tmp/can.pcap" --disable-protocol autosar-nm 2>/dev/null | grep -q Malformed; then
  echo "test_pcap_tshark: FAIL: tshark reports a malformed packet" >&2
  exit 1
fi
echo "test_pcap_tshark: ok ($(wc -l <"$tmp/got") frames decoded by $(tshark -v | head -n 1))"
