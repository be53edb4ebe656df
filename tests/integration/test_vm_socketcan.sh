#!/usr/bin/env bash
# test_vm_socketcan: the SocketCAN backend, controller settings and ISO-TP against a real Linux
# CAN stack, in a qemu VM (scripts/vm-can-test.sh); skipped with status 77 without qemu.
set -euo pipefail

ROOT=${DD_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}

if ! command -v qemu-system-x86_64 >/dev/null 2>&1; then
  echo "SKIPPED: qemu-system-x86_64 not found; the SocketCAN backend was not tested against a kernel"
  exit 77 # CTest SKIP_RETURN_CODE
fi
exec bash "$ROOT/scripts/vm-can-test.sh" "$@"
