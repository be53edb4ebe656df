#!/usr/bin/env bash
# vm-can-test: runs duodiag's SocketCAN checks (tests/vm/) against a real Linux CAN stack by
# booting Debian's own kernel under qemu, for machines whose kernel has no CAN.
#
# Usage: scripts/vm-can-test.sh [--timeout SECONDS] [--keep] [--refresh] [--no-sanitize]
#   --timeout S     kill the VM after S seconds (default 120)
#   --keep          keep the work folder (test program, console log) and say where it is
#   --refresh       rebuild the cached kernel image and initramfs
#   --no-sanitize   build the test program without AddressSanitizer/UBSan
# The bridge checks run duodiag-bus, duodiag-canbridge and duodiag-socketcand from a CMake build
# folder: $DD_BUILD_DIR (set by ctest), else ROOT/build.
# Exit status: 0 every check passed; 1 a check failed or the VM gave no result;
# 2 something needed to run the VM is missing (message says what).
#
# How it works: the kernel package is fetched with apt-get download (no install, no root) and
# unpacked into ${XDG_CACHE_HOME:-~/.cache}/duodiag/vm/<kernel>/, with the uncompressed kernel
# (booted through its PVH entry, about twice as fast as the bzImage) and a small initramfs:
# busybox-static, the CAN, slcan and 9p modules, and an /init that mounts the host's root
# read-only over 9p and runs tests/vm/guest_checks.sh from it. The test program and can-utils
# thus run in the guest straight from the host, and a change to the tests needs no new
# initramfs. Results come back on the serial console as "DDVM PASS|FAIL" lines.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${DD_VM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/duodiag/vm}
TIMEOUT=120
KEEP=0
REFRESH=0
SANITIZE=1
CC=${CC:-gcc}

say() { printf 'vm-can-test: %s\n' "$*"; }
die() { # die STATUS MESSAGE
  printf 'vm-can-test: error: %s\n' "$2" >&2
  exit "$1"
}

while (($#)); do
  case $1 in
  --timeout) TIMEOUT=${2:?--timeout needs seconds}; shift 2 ;;
  --keep) KEEP=1; shift ;;
  --refresh) REFRESH=1; shift ;;
  --no-sanitize) SANITIZE=0; shift ;;
  -h | --help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) die 2 "unknown option $1 (see --help)" ;;
  esac
done

T_START=$(date +%s.%N)
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

# ---- prerequisites --------------------------------------------------------------------------
missing=()
for tool in qemu-system-x86_64 apt-get apt-cache dpkg-deb cpio gzip xz "$CC" timeout flock \
  sha1sum candump cansend isotpsend isotprecv; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
[[ -x /sbin/ip ]] || missing+=("/sbin/ip (iproute2)")
BUSYBOX=$(command -v busybox || true)
if [[ -z $BUSYBOX ]]; then
  missing+=("busybox")
elif command -v readelf >/dev/null && readelf -l "$BUSYBOX" 2>/dev/null | grep -q 'program interpreter'; then
  missing+=("a static busybox (package busybox-static; $BUSYBOX is dynamically linked)")
fi
pkg-config --exists libsocketcan 2>/dev/null || missing+=("libsocketcan (libsocketcan-dev)")
if ((${#missing[@]})); then
  die 2 "missing: ${missing[*]} (scripts/bootstrap.sh installs them)"
fi

mkdir -p "$CACHE"
exec 8>"$CACHE/.lock"
flock 8 # one preparer at a time; the VMs themselves share nothing
rm -rf "$CACHE"/.fetch.* "$CACHE"/.initrd.* "$CACHE"/*.new # left by an interrupted run

# ---- kernel: Debian's linux-image, fetched but not installed ---------------------------------
kpkg=${DD_VM_KERNEL_PKG:-}
if [[ -z $kpkg ]]; then
  kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
    awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }' || true)
fi
kver=""
[[ -n $kpkg ]] && kver=$(apt-cache show --no-all-versions "$kpkg" 2>/dev/null |
  awk '$1 == "Version:" { print $2; exit }' || true)
if [[ -n $kpkg && -n $kver ]]; then
  krel=${kpkg#linux-image-}
  KDIR=$CACHE/${krel}_${kver}
else
  # No package index (offline): use the newest kernel already in the cache.
  # shellcheck disable=SC2012 # cache folder names are ours: no odd characters
  KDIR=$(ls -1dt "$CACHE"/*_*/ 2>/dev/null | head -1 || true)
  KDIR=${KDIR%/}
  [[ -n $KDIR && -s $KDIR/modules/order ]] ||
    die 2 "no kernel package version known to apt-cache (${kpkg:-linux-image-amd64}) and nothing cached in $CACHE"
  krel=$(basename "$KDIR")
  krel=${krel%%_*}
  kpkg=linux-image-$krel
  say "no package index; using cached kernel $krel"
fi

# Modules the guest loads (their dependencies are added from each module's .modinfo).
WANT_MODULES=(can can_raw can_bcm can_dev vcan vxcan can_gw can_isotp slcan
  virtio_pci 9pnet_virtio 9p)

# Prints the uncompressed ELF kernel inside a bzImage on stdout (compressed payload found by
# its magic), or fails.
extract_vmlinux() {
  local img=$1 out=$2 i off
  local magics=($'\xfd7zXZ' $'\x1f\x8b\x08' $'\x28\xb5\x2f\xfd') # xz, gzip, zstd
  local tools=("xz -dc --single-stream" "gzip -dc" "zstd -dc")
  for i in "${!magics[@]}"; do
    command -v "${tools[i]%% *}" >/dev/null || continue
    for off in $(LC_ALL=C grep -abo --text -F "${magics[i]}" "$img" 2>/dev/null | cut -d: -f1 | head -3); do
      if tail -c +$((off + 1)) "$img" | ${tools[i]} 2>/dev/null >"$out.tmp";
        [[ $(head -c 4 "$out.tmp" | od -An -c | tr -d ' ') == '177ELF' ]]; then
        mv "$out.tmp" "$out"
        return 0
      fi
    done
  done
  rm -f "$out.tmp"
  return 1
}

prepare_kernel() {
  local tmp deb
  tmp=$(mktemp -d "$CACHE/.fetch.XXXXXX")
  say "fetching $kpkg $kver (apt-get download, not installed)"
  if ! (cd "$tmp" && apt-get download -q "$kpkg=$kver" >"$tmp/apt.log" 2>&1); then
    cat "$tmp/apt.log" >&2
    rm -rf "$tmp"
    die 2 "apt-get download $kpkg=$kver failed"
  fi
  deb=$(ls "$tmp"/*.deb)
  say "unpacking kernel and modules"
  mkdir -p "$tmp/x"
  dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp/x" --wildcards './boot/vmlinuz-*' './lib/modules/*'
  rm -f "$deb"
  local mroot=$tmp/x/lib/modules/$krel/kernel
  [[ -d $mroot ]] || die 2 "$kpkg has no lib/modules/$krel"

  # Module name (dashes as underscores) -> file, and load order with dependencies first.
  declare -A path=() seen=()
  local f n
  while IFS= read -r f; do
    n=$(basename "$f" .ko)
    path[${n//-/_}]=$f
  done < <(find "$mroot" -name '*.ko')
  local order=()
  add_module() {
    local m=${1//-/_} d deps
    [[ -n ${seen[$m]:-} ]] && return 0
    [[ -n ${path[$m]:-} ]] || {
      # Built into the kernel: nothing to load.
      grep -q "/${m//_/[-_]}.ko\$" "$tmp/x/lib/modules/$krel/modules.builtin" 2>/dev/null && return 0
      die 2 "module $m not found in $kpkg"
    }
    seen[$m]=1
    deps=$(tr '\0' '\n' <"${path[$m]}" | LC_ALL=C grep -a -m1 '^depends=' | cut -d= -f2 || true)
    for d in ${deps//,/ }; do add_module "$d"; done
    order+=("$m")
  }
  for n in "${WANT_MODULES[@]}"; do add_module "$n"; done

  rm -rf "$KDIR.new"
  mkdir -p "$KDIR.new/modules"
  for n in "${order[@]}"; do cp "${path[$n]}" "$KDIR.new/modules/$n.ko"; done
  printf '%s\n' "${order[@]}" >"$KDIR.new/modules/order"

  local img
  img=$(ls "$tmp"/x/boot/vmlinuz-*)
  if extract_vmlinux "$img" "$KDIR.new/vmlinux"; then
    say "kernel: uncompressed image extracted (PVH boot)"
  else
    cp "$img" "$KDIR.new/bzImage"
    say "kernel: no uncompressed image could be extracted; booting the bzImage"
  fi
  rm -rf "$tmp" "$KDIR"
  mv "$KDIR.new" "$KDIR"
  # Older kernels' folders (about 70 MB each) are no longer needed.
  find "$CACHE" -mindepth 1 -maxdepth 1 -type d -name '*_*' ! -path "$KDIR" -exec rm -rf {} +
}

T0=$(date +%s.%N)
if ((REFRESH)) || [[ ! -s $KDIR/modules/order ]] || [[ ! -s $KDIR/vmlinux && ! -s $KDIR/bzImage ]]; then
  [[ -n $kver ]] || die 2 "cannot fetch a kernel without a package index"
  prepare_kernel
  say "kernel ready in $(elapsed "$T0") s ($KDIR)"
else
  say "kernel $krel from cache ($KDIR)"
fi
KERNEL=$KDIR/vmlinux
[[ -s $KERNEL ]] || KERNEL=$KDIR/bzImage

# ---- initramfs: busybox, modules, /init ------------------------------------------------------
INIT_SCRIPT=$(
  cat <<'EOF'
#!/bin/busybox sh
# duodiag VM init: load the CAN and 9p modules, mount the host's root read-only, run the
# guest checks named on the kernel command line from it, power off.
/bin/busybox mkdir -p /proc /sys /dev /host /sbin /usr/bin /usr/sbin
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
echo
echo "DDVM INFO guest booted, init started at $(cut -d' ' -f1 /proc/uptime) s"
off() { sync; poweroff -f; sleep 10; }
while read -r m; do
  insmod "/lib/modules/$m.ko" || echo "DDVM FAIL setup: insmod $m"
done </lib/modules/order
run=""
prog=""
for arg in $(cat /proc/cmdline); do
  case $arg in
  dd.run=*) run=${arg#dd.run=} ;;
  dd.prog=*) prog=${arg#dd.prog=} ;;
  esac
done
if ! mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144,cache=loose hostroot /host; then
  echo "DDVM FAIL setup: cannot mount the host root over 9p"
  off
fi
mount -t proc proc /host/proc
mount -t sysfs sysfs /host/sys
mount -t devtmpfs devtmpfs /host/dev
mkdir -p /host/dev/pts 2>/dev/null
mount -t devpts -o ptmxmode=0666 devpts /host/dev/pts
ln -sf /proc/self/fd /host/dev/fd
mount -t tmpfs tmpfs /host/run
echo "DDVM INFO modules loaded, host root mounted at $(cut -d' ' -f1 /proc/uptime) s"
chroot /host /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  HOME=/run TMPDIR=/run /bin/bash "$run" "$prog"
echo "DDVM INFO guest checks exited with status $? at $(cut -d' ' -f1 /proc/uptime) s"
off
EOF
)
INIT_HASH=$( (printf '%s' "$INIT_SCRIPT"; cat "$KDIR/modules/order"; sha1sum <"$BUSYBOX") | sha1sum | cut -c1-12)
INITRD=$KDIR/initrd-$INIT_HASH.cpio.gz
if ((REFRESH)) || [[ ! -s $INITRD ]]; then
  T0=$(date +%s.%N)
  rd=$(mktemp -d "$CACHE/.initrd.XXXXXX")
  mkdir -p "$rd/bin" "$rd/lib/modules"
  cp "$BUSYBOX" "$rd/bin/busybox"
  cp "$KDIR"/modules/*.ko "$KDIR/modules/order" "$rd/lib/modules/"
  printf '%s\n' "$INIT_SCRIPT" >"$rd/init"
  chmod 755 "$rd/init" "$rd/bin/busybox"
  (cd "$rd" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet | gzip -1) >"$INITRD.tmp"
  mv "$INITRD.tmp" "$INITRD"
  rm -rf "$rd"
  find "$KDIR" -maxdepth 1 -name 'initrd-*.cpio.gz' ! -name "$(basename "$INITRD")" -delete
  say "initramfs built in $(elapsed "$T0") s ($(du -k "$INITRD" | cut -f1) KiB)"
else
  say "initramfs from cache"
fi
flock -u 8

# ---- the test program, built from the project's sources --------------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/duodiag-vm.XXXXXX")
# shellcheck disable=SC2317 # called through the trap
cleanup() { if ((KEEP)); then say "work folder kept: $WORK"; else rm -rf "$WORK"; fi; }
trap cleanup EXIT
[[ $WORK != *[[:space:]]* && $ROOT != *[[:space:]]* ]] ||
  die 2 "paths with spaces cannot go on the kernel command line: $WORK, $ROOT"

T0=$(date +%s.%N)
CFLAGS=(-std=gnu11 -g -O1 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes
  -Wmissing-prototypes -Wformat=2 -Wvla -Wno-unused-parameter)
# shellcheck disable=SC2054 # the comma belongs to the option
((SANITIZE)) && CFLAGS+=(-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
SOURCES=(sim/core/dd_err.c sim/core/dd_log.c sim/can/dd_can.c sim/can/dd_canport.c
  sim/can/dd_canport_socketcan.c sim/can/dd_socketcan_ctl.c sim/can/dd_isotp.c
  tests/vm/vm_can_check.c)
read -ra SOCKETCAN_FLAGS <<<"$(pkg-config --cflags --libs libsocketcan)"
if ! (cd "$ROOT" && "$CC" "${CFLAGS[@]}" -Isim/core -Isim/can "${SOURCES[@]}" \
  "${SOCKETCAN_FLAGS[@]}" -o "$WORK/vm_can_check") 2>"$WORK/build.log"; then
  cat "$WORK/build.log" >&2
  die 1 "building the test program failed"
fi
say "test program built in $(elapsed "$T0") s$( ((SANITIZE)) && echo ' (ASan+UBSan)')"

# The duodiag executables of the bridge checks: the guest finds the build folder through a link
# next to the test program.
BUILD_DIR=${DD_BUILD_DIR:-$ROOT/build}
for exe in duodiag-bus duodiag-canbridge duodiag-socketcand duodiag duodiag-vehicle duodiag-first-device duodiag-cloud duodiag-netem; do
  [[ -x $BUILD_DIR/$exe ]] ||
    die 2 "missing: $BUILD_DIR/$exe (build the project, or set DD_BUILD_DIR to a build folder)"
done
ln -s "$(cd "$BUILD_DIR" && pwd)" "$WORK/build"

# ---- boot -------------------------------------------------------------------------------------
LOG=$WORK/console.log
QEMU=(qemu-system-x86_64 -accel tcg -m 512 -smp 1 -nographic -nic none -no-reboot
  -kernel "$KERNEL" -initrd "$INITRD"
  -append "console=ttyS0 quiet loglevel=3 panic=-1 rdinit=/init dd.run=$ROOT/tests/vm/guest_checks.sh dd.prog=$WORK/vm_can_check"
  -virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap")
say "booting $krel under qemu (TCG, timeout ${TIMEOUT} s)"
T0=$(date +%s.%N)
set +e
timeout -k 5 "$TIMEOUT" "${QEMU[@]}" </dev/null 2>&1 | tee "$LOG" | tr -d '\r' |
  grep --line-buffered '^DDVM ' | sed -u 's/^DDVM /  /'
qrc=${PIPESTATUS[0]}
set -e
VM_TIME=$(elapsed "$T0")

tr -d '\r' <"$LOG" >"$LOG.txt"
passed=$(grep -c '^DDVM PASS ' "$LOG.txt" || true)
failed=$(grep -c '^DDVM FAIL ' "$LOG.txt" || true)
summary=$(grep '^DDVM SUMMARY ' "$LOG.txt" | tail -1 || true)
status=0
if ((qrc == 124 || qrc == 137)); then
  say "FAIL: the VM did not finish within $TIMEOUT s"
  status=1
elif ((qrc != 0)); then
  say "FAIL: qemu exited with status $qrc"
  status=1
fi
if [[ -z $summary ]]; then
  say "FAIL: the guest never reported a summary; console tail:"
  tail -n 25 "$LOG.txt" | sed 's/^/    /'
  status=1
fi
((failed == 0 && passed > 0)) || status=1
say "$passed passed, $failed failed; VM ran $VM_TIME s, whole run $(elapsed "$T_START") s"
if ((status == 0)); then say "PASS"; else say "FAIL"; fi
exit "$status"
