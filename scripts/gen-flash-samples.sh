#!/usr/bin/env bash
# Regenerates, byte for byte, the sample flash images in ecu_models/images/ and the TEST signing
# key pair in ecu_models/keys/. Image bytes come from a fixed xorshift32 sequence (the same one
# tests/unit/check_hex.c and check_srec.c regenerate to compare); binutils' objcopy writes the
# Intel HEX and S-record files, so the samples also come from a writer independent of dd_hex and
# dd_srec. The key seed is SHA-256 of a fixed phrase: the key is public and for simulations only.
# Usage: scripts/gen-flash-samples.sh        (needs cc, pkg-config, libsodium, objcopy)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
command -v objcopy >/dev/null || { echo "gen-flash-samples: objcopy (binutils) not found" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cat >"$tmp/gen.c" <<'EOF'
/* Writes the sample image payloads (*.bin) and the TEST key files. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_package.h"

static uint32_t s_next(uint32_t *x) {
  *x ^= *x << 13;
  *x ^= *x >> 17;
  *x ^= *x << 5;
  return *x;
}

static int s_bin(const char *path, size_t len, uint32_t seed, const char *ident) {
  uint8_t *b = malloc(len);
  if (!b) return 1;
  for (size_t i = 0; i < len; i++) b[i] = (uint8_t)(s_next(&seed) >> 24);
  memcpy(b, ident, strlen(ident));
  FILE *f = fopen(path, "wb");
  int rc = !f || fwrite(b, 1, len, f) != len;
  if (f && fclose(f) != 0) rc = 1;
  free(b);
  return rc;
}

int main(int argc, char **argv) {
  if (argc != 2) return 2;
  if (s_bin("engine-app.bin", 0x7000, 0x454E4732u, "duodiag sample ECM app S19.05.0 for 84512307AB") ||
      s_bin("engine-cal.bin", 0x1000, 0x43414C32u, "duodiag sample ECM calibration S19.05.0") ||
      s_bin("abs-app.bin", 0x4000, 0x41425332u, "duodiag sample ABS app B8.3.0 for 84401922AC"))
    return 1;
  static const char phrase[] = "duodiag TEST signing key - for simulations only";
  uint8_t seed[32], pk[32], sk[64];
  if (sodium_init() < 0) return 1;
  crypto_hash_sha256(seed, (const uint8_t *)phrase, strlen(phrase));
  if (dd_package_keypair_from_seed(seed, pk, sk) != 0) return 1;
  static const char note[] =
      "duodiag TEST signing key (Ed25519). PUBLIC AND FOR SIMULATIONS ONLY: never sign or\n"
      "accept real ECU software with it. Made by scripts/gen-flash-samples.sh: seed = SHA-256 of\n"
      "\"duodiag TEST signing key - for simulations only\".";
  char path[4096];
  snprintf(path, sizeof path, "%s/test-signing.key", argv[1]);
  if (dd_package_key_save(path, DD_PACKAGE_KEY_SECRET, seed, note) != 0) return 1;
  snprintf(path, sizeof path, "%s/test-signing.pub", argv[1]);
  if (dd_package_key_save(path, DD_PACKAGE_KEY_PUBLIC, pk, note) != 0) return 1;
  return 0;
}
EOF

# shellcheck disable=SC2046
cc -std=gnu11 -O1 -I"$root/sim/core" -I"$root/sim/pkg" "$tmp/gen.c" "$root/sim/pkg/dd_package.c" \
  "$root/sim/pkg/dd_image.c" "$root/sim/pkg/dd_hex.c" "$root/sim/pkg/dd_srec.c" \
  "$root/sim/core/dd_err.c" $(pkg-config --cflags --libs libsodium) -o "$tmp/gen"
mkdir -p "$root/ecu_models/images" "$root/ecu_models/keys"
(cd "$tmp" && ./gen "$root/ecu_models/keys")

# The ECM of ecu_models/vehicles/corvan_meridian_2019.yaml (flash from 0x00080000, 64 KiB
# sectors): application at 0x00080000, calibration at 0x00090000, entry at the application.
# Below 1 MiB objcopy writes 02/03 segment records.
(cd "$tmp" && objcopy -I binary -O ihex --change-section-address .data=0x00080000 \
  --add-section .cal=engine-cal.bin --set-section-flags .cal=alloc,load,contents \
  --change-section-address .cal=0x00090000 --set-start 0x00080000 \
  engine-app.bin engine-app-v2.hex)
# The ABS of the same vehicle (flash from 0x00010000, 16 KiB sectors): 24-bit addresses, S2/S8.
(cd "$tmp" && objcopy -I binary -O srec --change-addresses 0x00010000 abs-app.bin abs-app-v2.s28)
cp "$tmp/engine-app-v2.hex" "$tmp/abs-app-v2.s28" "$root/ecu_models/images/"
echo "gen-flash-samples: wrote ecu_models/images/ and ecu_models/keys/test-signing.{key,pub}"
