#!/usr/bin/env bash
# Installs every Debian package duodiag needs to build, run and test. Idempotent: when all are
# present it only checks (well under a second) and installs nothing.
set -euo pipefail

# One package a line; grouped by what needs it.
PACKAGES=(
  # build
  build-essential cmake pkg-config clang libclang-rt-14-dev
  # libraries (design card + well-kept helpers)
  libzmq3-dev libsocketcan-dev libsdl2-dev libsdl2-ttf-dev libsdl2-image-dev fonts-dejavu-core
  libplot-dev
  check libprotobuf-c-dev protobuf-c-compiler libfyaml-dev libsodium-dev libjansson-dev
  libpcap-dev
  # tests: the real-kernel CAN check under qemu, and external CAN tools for interop
  qemu-system-x86 busybox-static cpio can-utils valgrind tshark libxml2-utils python3-can
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "bootstrap: all ${#PACKAGES[@]} packages present"
  exit 0
fi

echo "bootstrap: installing ${#missing[@]} missing package(s): ${missing[*]}"
if [[ $(id -u) -eq 0 ]]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  SUDO=(sudo -n)
elif command -v sudo >/dev/null 2>&1 && [[ -t 0 ]]; then
  SUDO=(sudo)
else
  echo "bootstrap: error: installing needs root; run as root or through sudo:" >&2
  echo "  sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "bootstrap: error: apt-get not found; duodiag's bootstrap supports Debian 12 and its derivatives." >&2
  echo "  packages needed: ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "bootstrap: done"
