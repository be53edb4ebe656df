#!/usr/bin/env bash
# Regenerates, byte for byte, the reflash scenario images of this folder (see README.md): a
# fixed xorshift32 byte sequence per region with an identification string at the start and,
# at offset 0x100 of the flash area, the 32-byte software version field the simulated ECUs
# publish in DID F189 (ecu_models/dd_ecu.c, sim/uds/dd_flash.h). binutils' objcopy writes the
# Intel HEX and S-record files, as for the other samples (scripts/gen-flash-samples.sh).
# Usage: ecu_models/images/gen-reflash-images.sh        (needs python3 and objcopy)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
command -v objcopy >/dev/null || { echo "gen-reflash-images: objcopy (binutils) not found" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

python3 - "$tmp" <<'EOF'
import sys

def region(path, length, seed, ident, version=None):
    x, out = seed, bytearray(length)
    for i in range(length):
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        out[i] = x >> 24
    out[0:len(ident)] = ident.encode()
    if version is not None:  # the version field: ASCII, NUL-padded to 32 bytes
        out[0x100:0x120] = version.encode().ljust(32, b"\0")
    open(path, "wb").write(out)

d = sys.argv[1]
# ECM of the Corvan Meridian 2019 (flash from 0x00080000, 64 KiB sectors): 48 KiB
# application with its version field, 4 KiB calibration at 0x00090000.
region(d + "/ecm-app.bin", 0xC000, 0x45434D33,
       "duodiag reflash sample ECM app S19.06.0 for 84512300", "S19.06.0")
region(d + "/ecm-cal.bin", 0x1000, 0x43414C33, "duodiag reflash sample ECM calibration S19.06.0")
# TCM of the same vehicle (flash from 0x00120000, 16 sectors of 16 KiB, maxNumberOfBlockLength
# 0x0402): the whole 256 KiB area, one region of 256 TransferData blocks of 1024 bytes.
region(d + "/tcm-app.bin", 0x40000, 0x54434D32,
       "duodiag reflash sample TCM app T6A.12 for 84533110AA", "T6A.12")
EOF

(cd "$tmp" && objcopy -I binary -O ihex --change-section-address .data=0x00080000 \
  --add-section .cal=ecm-cal.bin --set-section-flags .cal=alloc,load,contents \
  --change-section-address .cal=0x00090000 --set-start 0x00080000 \
  ecm-app.bin engine-app-v3.hex)
(cd "$tmp" && objcopy -I binary -O srec --change-addresses 0x00120000 tcm-app.bin tcm-app-v2.s28)
cp "$tmp/engine-app-v3.hex" "$tmp/tcm-app-v2.s28" "$here/"
echo "gen-reflash-images: wrote engine-app-v3.hex and tcm-app-v2.s28 in $here"
