#!/usr/bin/env bash
# test_socketcand_pythoncan: duodiag-socketcand against an independent client, the socketcand
# interface of python-can (Debian's python3-can), through the real virtual bus: frames from one
# python-can client reach another (and never come back to the sender), frames a duodiag node
# (duodiag-canreplay) puts on the bus reach every client, and a plain TCP client checks the
# exact text on the wire (identifier width = frame format, FD flags, data), errors and echo.
set -euo pipefail

name=test_socketcand_pythoncan
fail() {
  echo "$name: FAIL: $*" >&2
  exit 1
}

# Debian's python3-can lives in the system interpreter's dist-packages.
PY=/usr/bin/python3
[[ -x $PY ]] || fail "$PY not found (scripts/bootstrap.sh installs python3 with python3-can)"
$PY -c 'import can' 2>/dev/null ||
  fail "python-can is not importable by $PY; scripts/bootstrap.sh must install the Debian package python3-can"
build=${DD_BUILD_DIR:?$name: DD_BUILD_DIR is not set}
for exe in duodiag-bus duodiag-socketcand duodiag-canreplay; do
  [[ -x $build/$exe ]] || fail "$build/$exe not built"
done

tmp=$(mktemp -d)
bus_pid=""
scd_pid=""
cleanup() {
  for p in $scd_pid $bus_pid; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
show_logs() {
  for f in "$tmp"/*.err; do
    [[ -s $f ]] && { echo "--- $(basename "$f")"; tail -n 20 "$f"; }
  done >&2
}

ep="ipc://$tmp/bus"
"$build/duodiag-bus" --endpoint "$ep" 2>"$tmp/bus.err" &
bus_pid=$!
"$build/duodiag-socketcand" --bus "$ep" --port 0 --timeline "$tmp/scd.jsonl" 2>"$tmp/scd.err" &
scd_pid=$!

# --port 0: the server picks a free port and names it in its socketcand.listening event; it is
# ready once it has joined the bus.
port=""
for _ in $(seq 100); do
  port=$($PY - "$tmp/scd.jsonl" <<'EOF' 2>/dev/null || true
import json, sys
for line in open(sys.argv[1]):
    ev = json.loads(line)
    if ev["kind"] == "socketcand.listening":
        port = ev["port"]
    if ev["kind"] == "proc.ready":  # ready = joined the bus
        print(port)
EOF
)
  [[ -n $port ]] && break
  kill -0 "$scd_pid" 2>/dev/null || { show_logs; fail "duodiag-socketcand exited early"; }
  sleep 0.1
done
[[ -n $port ]] || { show_logs; fail "duodiag-socketcand was not ready within 10 s"; }

cat >"$tmp/play.log" <<'EOF'
(1700000000.000000) can0 18DAF110#0322F190
(1700000000.020000) can0 7E8#1014620F19057445
(1700000000.040000) can0 123##100112233445566778899AABB
EOF

if ! PORT=$port BUILD=$build EP=$ep TMP=$tmp PIDS="$bus_pid $scd_pid" $PY - <<'EOF'; then
import logging, os, re, socket, subprocess, sys, time

import can

logging.getLogger("can").setLevel(logging.ERROR)  # python-can 4.1 warns on every < fdframe >
HOST, PORT = "127.0.0.1", int(os.environ["PORT"])
failures = []


def check(ok, what):
    if not ok:
        failures.append(what)
        print("  mismatch: " + what, flush=True)
        for pid in os.environ["PIDS"].split():  # a dead server explains everything after it
            try:
                os.kill(int(pid), 0)
            except OSError:
                print("  process %s (duodiag-bus or duodiag-socketcand) has died" % pid)
                sys.exit(1)


class Raw:
    """A plain TCP client: the protocol text exactly as the server writes it."""

    def __init__(self):
        self.sock = socket.create_connection((HOST, PORT), timeout=5)
        self.buf = b""
        self.expect("< hi >")
        self.send("< open vbus0 >")
        self.expect("< ok >")
        self.send("< rawmode >")
        self.expect("< ok >")

    def send(self, text):
        self.sock.sendall(text.encode("ascii"))

    def element(self, timeout=5.0):
        end = time.time() + timeout
        while b">" not in self.buf:
            left = end - time.time()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(4096)
            except socket.timeout:
                return None
            if not chunk:
                return None
            self.buf += chunk
        i = self.buf.index(b">") + 1
        start = self.buf.index(b"<")
        text, self.buf = self.buf[start:i].decode("ascii"), self.buf[i:]
        return text

    def expect(self, want):
        got = self.element()
        check(got == want, "raw client: got %r, want %r" % (got, want))

    def expect_frame(self, kind, ident, data_hex, flags=None):
        got = self.element()
        fl = "" if flags is None else " " + flags
        pat = r"< %s %s%s (\d+)\.(\d{6}) %s >" % (kind, ident, fl, data_hex)
        m = re.fullmatch(pat, got or "")
        check(m is not None, "raw client: got %r, want %r" % (got, pat))
        if m:
            check(abs(int(m.group(1)) + int(m.group(2)) / 1e6 - time.time()) < 10,
                  "raw client: time stamp of %r is not wall-clock time" % got)

    def expect_nothing(self, wait=0.3):
        got = self.element(wait)
        check(got is None, "raw client: unexpected %r" % got)


def expect_msg(bus, who, ident, data, ext=None):
    m = bus.recv(5.0)
    if m is None:
        check(False, "%s: no frame, want id %X" % (who, ident))
        return
    check(m.arbitration_id == ident, "%s: id %X, want %X" % (who, m.arbitration_id, ident))
    check(bytes(m.data) == bytes(data), "%s: data %s, want %s" % (who, bytes(m.data).hex(), bytes(data).hex()))
    check(m.dlc == len(data), "%s: dlc %d, want %d" % (who, m.dlc, len(data)))
    check(not m.is_remote_frame and not m.is_error_frame and not m.is_fd,
          "%s: flags remote=%s error=%s fd=%s" % (who, m.is_remote_frame, m.is_error_frame, m.is_fd))
    # python-can 4.1 marks every received frame extended; only an extended one can be checked
    # through it. The raw client checks the format on the wire for both.
    if ext:
        check(m.is_extended_id, "%s: id %X not extended" % (who, ident))
    check(abs(m.timestamp - time.time()) < 10, "%s: time stamp %f is not wall-clock time" % (who, m.timestamp))


def expect_none(bus, who, wait=0.3):
    m = bus.recv(wait)
    check(m is None, "%s: unexpected frame %s" % (who, m))


print("  python-can %s against port %d" % (can.__version__, PORT), flush=True)
bus1 = can.Bus(interface="socketcand", host=HOST, port=PORT, channel="vbus0")
bus2 = can.Bus(interface="socketcand", host=HOST, port=PORT, channel="vbus0")
raw = Raw()
raw2 = Raw()

# 1. python-can -> bus -> python-can, base identifier; the sender gets no copy.
bus1.send(can.Message(arbitration_id=0x123, data=b"\xde\xad\xbe\xef", is_extended_id=False))
expect_msg(bus2, "bus2", 0x123, b"\xde\xad\xbe\xef")
raw.expect_frame("frame", "123", "DEADBEEF")
raw2.expect_frame("frame", "123", "DEADBEEF")
expect_none(bus1, "bus1 (own frame)")

# 2. The other way, extended identifier (8 digits on the wire).
bus2.send(can.Message(arbitration_id=0x18DAF110, data=bytes(range(8)), is_extended_id=True))
expect_msg(bus1, "bus1", 0x18DAF110, bytes(range(8)), ext=True)
raw.expect_frame("frame", "18DAF110", "0001020304050607")
raw2.expect_frame("frame", "18DAF110", "0001020304050607")
expect_none(bus2, "bus2 (own frame)")

# 3. No data.
bus1.send(can.Message(arbitration_id=0x7FF, data=b"", is_extended_id=False))
expect_msg(bus2, "bus2", 0x7FF, b"")
raw.expect_frame("frame", "7FF", "")
raw2.expect_frame("frame", "7FF", "")

# 4. A burst keeps its order (ten elements: well inside one of python-can's 1024-byte reads).
for i in range(10):
    bus1.send(can.Message(arbitration_id=0x100 + i, data=bytes([i, 0x55]), is_extended_id=False))
for i in range(10):
    expect_msg(bus2, "bus2 burst", 0x100 + i, bytes([i, 0x55]))
for i in range(10):
    raw.expect_frame("frame", "%03X" % (0x100 + i), "%02X55" % i)
for i in range(10):
    raw2.expect_frame("frame", "%03X" % (0x100 + i), "%02X55" % i)
expect_none(bus1, "bus1 (own burst)")

# 5. Frames a duodiag node puts on the bus: duodiag-canreplay plays a log.
r = subprocess.run([os.path.join(os.environ["BUILD"], "duodiag-canreplay"), "--bus", os.environ["EP"],
                    "--log", os.path.join(os.environ["TMP"], "play.log")],
                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
check(r.returncode == 0, "duodiag-canreplay exited %d: %s" % (r.returncode, r.stdout.decode()))
expect_msg(bus1, "bus1 from canreplay", 0x18DAF110, bytes.fromhex("0322F190"), ext=True)
expect_msg(bus1, "bus1 from canreplay", 0x7E8, bytes.fromhex("1014620F19057445"))
expect_msg(bus2, "bus2 from canreplay", 0x18DAF110, bytes.fromhex("0322F190"), ext=True)
expect_msg(bus2, "bus2 from canreplay", 0x7E8, bytes.fromhex("1014620F19057445"))
for client in (raw, raw2):
    client.expect_frame("frame", "18DAF110", "0322F190")
    client.expect_frame("frame", "7E8", "1014620F19057445")
    client.expect_frame("fdframe", "123", "00112233445566778899AABB", flags="01")  # 01 = CANFD_BRS

# 6. CAN FD from a client (the daemon's < fdsend >), and from python-can's point of view.
raw.send("< fdsend 1ABCDEF0 03 16 %s >" % " ".join("%x" % b for b in range(16)))
raw2.expect_frame("fdframe", "1ABCDEF0", "000102030405060708090A0B0C0D0E0F", flags="03")
raw.expect_nothing()
expect_none(bus1, "bus1 (an FD frame has no < frame > form)")

# 7. Malformed input is answered, the connection lives on; echo answers.
raw.send("< send 123 9 >< echo >")
raw.expect("< error send length above 8 >")
raw.expect("< echo >")
# A lowercase, unpadded send as python-can 4.1 writes it, from the raw client.
raw.send("< send 12345 2 a b >")
raw2.expect_frame("frame", "00012345", "0A0B")
expect_msg(bus1, "bus1", 0x12345, b"\x0a\x0b", ext=True)

bus1.shutdown()
bus2.shutdown()
if failures:
    print("  %d mismatch(es)" % len(failures))
    sys.exit(1)
print("  every check passed", flush=True)
EOF
  show_logs
  fail "python-can checks failed (see above)"
fi

# Clean stop on SIGTERM, with the server's own counts in the timeline.
kill -TERM "$scd_pid"
scd_rc=0
wait "$scd_pid" || scd_rc=$?
scd_pid=""
[[ $scd_rc == 0 ]] || { show_logs; fail "duodiag-socketcand exited with $scd_rc on SIGTERM"; }
if ! $PY - "$tmp/scd.jsonl" <<'EOF'; then
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
stop = [e for e in ev if e["kind"] == "socketcand.stopped"]
assert len(stop) == 1, "no socketcand.stopped event"
s = stop[0]
# four clients; 1 + 1 + 1 + 10 + 1 + 1 frames sent by clients; exactly one malformed element
assert s["accepted"] == 4, s
assert s["to_bus"] == 15, s
assert s["errors"] == 1, s
assert s["overruns"] == 0, s
closed = [e for e in ev if e["kind"] == "socketcand.client_closed"]
assert len(closed) == 4, closed
EOF
  fail "the socketcand timeline does not hold the expected counts ($tmp/scd.jsonl)"
fi
kill -TERM "$bus_pid"
bus_rc=0
wait "$bus_pid" || bus_rc=$?
bus_pid=""
[[ $bus_rc == 0 ]] || fail "duodiag-bus exited with $bus_rc on SIGTERM"
echo "$name: PASS"
