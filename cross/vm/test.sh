#!/usr/bin/env bash
# The package as deployed: Debian bookworm with systemd as PID 1 (systemd-nspawn; arm64 through
# qemu's binfmt handler), the .deb installed with apt, the service driven with systemctl and
# journalctl inside the guest, and its journal read from the host.
#   cross/vm/test.sh ARCH BINARY [SCENARIO...]     (root; default scenarios: a b c d)
#   cross/vm/test.sh amd64 target/release/moodkiosk
#   cross/vm/test.sh arm64 target/aarch64-unknown-linux-gnu/dist/moodkiosk a b
# Scenarios (one guest for a-c, a second for d):
#   a  fresh install, shipped conffile, no camera, no GPIO: active after READY, no restart loop,
#      StatusText names what is missing, the page answers, no config dump in the log; a config
#      error stops it with exit 78 and one line, no restart loop
#   b  replay source, simulated LEDs: visitors journaled; reload applies an edited value; kill -9
#      is restarted and seq continues; a hung daemon is restarted by WatchdogSec; the sandbox
#      holds; systemd-analyze security <= 2.0
#   c  upgrade to a rebuilt package with a bumped version keeps the edited conffile and the
#      journal and runs the new binary; remove keeps the data; purge removes data, user, conffile
#   d  power cut while visitors are recorded (broker on the host): valid JSON lines, no seq twice,
#      MQTT catches up completely after the next boot
# Needs systemd-container, mmdebstrap (and qemu-user-static for arm64): scripts/deps.sh --test.
# Roots are cached in ~/.cache/moodkiosk-vm; guests live in target/vm/ while they run
# (KEEP=1 keeps them for a look).
set -euo pipefail
cd "$(dirname "$0")/../.."
. cross/vm/lib.sh
arch=${1:?arch: amd64 or arm64}
bin=${2:?path of the moodkiosk binary for that arch}
shift 2
scenarios=${*:-a b c d}
[ "$(id -u)" = 0 ] || { echo "cross/vm/test.sh: needs root (systemd-nspawn)" >&2; exit 1; }
for tool in systemd-nspawn mmdebstrap nsenter python3; do
  command -v "$tool" >/dev/null || { echo "cross/vm/test.sh: $tool missing (scripts/deps.sh --test)" >&2; exit 1; }
done

t0=$(date +%s)
step() { echo "vm $arch [$(( $(date +%s) - t0 )) s] $*"; }
fail() {
  echo "vm $arch: FAILED: $*" >&2
  if [ -n "$VM_LEADER" ] && kill -0 "$VM_NSPAWN" 2>/dev/null; then
    vm systemctl status moodkiosk --no-pager -n 0 >&2 || true
    vm journalctl -u moodkiosk --no-pager -n 40 -o short-monotonic >&2 || true
  fi
  exit 1
}
finish() {
  vm_cleanup
  [ "${KEEP:-0}" = 1 ] || rm -rf "target/vm/$arch-pi" "target/vm/$arch-pi-d"
  [ -n "${broker_pid:-}" ] && kill "$broker_pid" "$sub_pid" 2>/dev/null
  return 0
}
trap finish EXIT
# until SECONDS COMMAND...: true as soon as COMMAND succeeds, false when the time is up.
until_ok() {
  local end=$(( $(date +%s) + $1 )); shift
  while ! "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$end" ] || return 1
    sleep 0.5
  done
}
prop() { vm systemctl show moodkiosk -p "$1" --value; }
# The host's pid of the guest's process $1 (the last NSpid of a process in the guest's namespace).
host_pid() {
  local ns p
  ns=$(readlink "/proc/$VM_LEADER/ns/pid")
  for p in /proc/[0-9]*; do
    [ "$(readlink "$p/ns/pid" 2>/dev/null)" = "$ns" ] || continue
    if [ "$(awk '/^NSpid:/ {print $NF}' "$p/status" 2>/dev/null)" = "$1" ]; then
      echo "${p#/proc/}"
      return 0
    fi
  done
  return 1
}
journal() { python3 cross/vm/journal.py "$VM_DIR/root/var/lib/moodkiosk/journal"; }
jget() { journal | python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
# jtrue EXPR: the journal summary j satisfies the Python expression EXPR.
jtrue() { journal | python3 -c "import json,sys; j=json.load(sys.stdin); sys.exit(0 if ($1) else 1)"; }
restarts_are() { [ "$(prop NRestarts)" = "$1" ]; }
status_has() { api /api/status | grep -qF "$1"; }
api() { vm curl -sf --max-time 10 "http://127.0.0.1:${port:-8080}$1"; }
is_active() { [ "$(vm systemctl is-active moodkiosk)" = active ]; }
# Emulated arm64 runs the models about ten times slower.
slow=1; [ "$arch" = arm64 ] && [ "$(dpkg --print-architecture)" != arm64 ] && slow=6

# Version N and N+1: the same binary, the second package with a bumped version.
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
deb_n=$(cross/package-deb.sh "$arch" "$bin")
deb_n1=$(DEB_VERSION="$version+vm1" cross/package-deb.sh "$arch" "$bin")
step "packages $deb_n, $deb_n1"

install_in_guest() {
  cp "$1" "$VM_DIR/root/root/"
  vm apt-get install -y -q "/root/$(basename "$1")" > "$VM_DIR/apt.log" 2>&1 \
    || { cat "$VM_DIR/apt.log" >&2; fail "apt-get install $(basename "$1")"; }
}

# The config a kiosk owner would write for a replayed demo (images copied into the guest).
replay_conffile() {
  local dst="$VM_DIR/root/usr/local/share/moodkiosk-vm"
  mkdir -p "$dst/visitors"
  cp assets/astronaut.png "$dst/"
  cp assets/visitors/*.png "$dst/visitors/"
  cat <<TOML
# Edited on the virtual Pi by cross/vm/test.sh.
[source]
kind = "replay"
replay = ["/usr/local/share/moodkiosk-vm/astronaut.png", "/usr/local/share/moodkiosk-vm/visitors"]
replay_fps = 10.0
replay_loop = true
replay_hold = 15
replay_gap = 10

[detector]
min_face_size = 40

[steady]
max_missed = 3
hold_ms = 1000

[indicator]
kind = "simulated"

[journal]
dir = "/var/lib/moodkiosk/journal"
summary_interval_s = 10
$1
TOML
}
write_conffile() {
  cat > "$VM_DIR/root/etc/moodkiosk/moodkiosk.toml"
}

scenario_a() {
  step "a: install $deb_n with the shipped conffile (no camera, no GPIO)"
  install_in_guest "$deb_n"
  until_ok $((60 * slow)) is_active || fail "a: not active after install"
  local status pid
  status=$(prop StatusText)
  [[ "$status" == *"camera down"* ]] || fail "a: StatusText does not name the camera: $status"
  [[ "$status" == *"LEDs unavailable"* ]] || fail "a: StatusText does not name the LEDs: $status"
  api / | grep -q "<html" || fail "a: the page does not answer"
  api /api/status | grep -q '"state":"down"' || fail "a: /api/status does not say camera down"
  pid=$(prop MainPID)
  # Longer than two restart intervals (RestartSec=5) plus a start: a loop would show here.
  sleep $((slow > 1 ? 30 : 15))
  [ "$(prop NRestarts)" = 0 ] && [ "$(prop MainPID)" = "$pid" ] && is_active \
    || fail "a: restarted ($(prop NRestarts) restarts)"
  # Log lines carry syslog priorities: warnings and errors can be asked for alone.
  local warnings
  warnings=$(vm journalctl -u moodkiosk -p warning -o cat --no-pager)
  grep -q "LEDs unavailable" <<<"$warnings" || fail "a: no error-priority line for the LEDs: $warnings"
  grep -q "camera down" <<<"$warnings" || fail "a: no warning-priority line for the camera: $warnings"
  if grep -q "journal in" <<<"$warnings"; then fail "a: info lines logged as warnings: $warnings"; fi
  # Nothing prints the config into the system journal (check-config would: ~100 lines of TOML).
  if vm journalctl -u moodkiosk -o cat --no-pager | grep -Eq '^\[(source|web|journal)\]$'; then
    fail "a: the config was printed into the system journal"
  fi
  step "a: ok — active, 0 restarts, StatusText: $status"
  # A config error stops the service with one clear line: exit 78, no restart loop.
  cp "$VM_DIR/root/etc/moodkiosk/moodkiosk.toml" "$VM_DIR/shipped.toml"
  sed -i 's/^retention_days = 30$/retention_days = 0/' "$VM_DIR/root/etc/moodkiosk/moodkiosk.toml"
  vm systemctl restart moodkiosk 2>/dev/null || true
  is_failed() { [ "$(vm systemctl is-active moodkiosk)" = failed ]; }
  until_ok $((60 * slow)) is_failed || fail "a: a bad config did not stop the service"
  sleep 12
  is_failed && [ "$(prop NRestarts)" = 0 ] || fail "a: restarted on a bad config ($(prop NRestarts))"
  local errors
  errors=$(vm journalctl -u moodkiosk -o cat --no-pager | grep -c "journal.retention_days" || true)
  [ "$errors" = 1 ] || fail "a: the config error was logged $errors times"
  cp "$VM_DIR/shipped.toml" "$VM_DIR/root/etc/moodkiosk/moodkiosk.toml"
  vm systemctl restart moodkiosk || fail "a: restart after fixing the config"
  step "a: ok — a config error: failed, 1 line, 0 restarts; fixed and restarted"
}

scenario_b() {
  step "b: replay source, simulated LEDs"
  [ -e "$VM_DIR/root/usr/bin/moodkiosk" ] || install_in_guest "$deb_n"
  replay_conffile "" | write_conffile
  vm systemctl restart moodkiosk || fail "b: restart with the replay config"
  until_ok $((120 * slow)) jtrue 'j["happy"] > 0 and j["not_happy"] > 0' \
    || fail "b: no happy and not-happy visitors journaled: $(journal)"
  step "b: journal $(journal | cut -c1-120)"
  # Reload applies an edited value without a restart.
  local pid restarts seq
  pid=$(prop MainPID); restarts=$(prop NRestarts)
  replay_conffile $'[classifier]\nmodel = "/usr/share/moodkiosk/moodkiosk-int8.onnx"' | write_conffile
  vm systemctl reload moodkiosk || fail "b: systemctl reload"
  until_ok $((60 * slow)) status_has '"model":"/usr/share/moodkiosk/moodkiosk-int8.onnx"' \
    || fail "b: reload did not apply classifier.model: $(api /api/status)"
  [ "$(prop MainPID)" = "$pid" ] && [ "$(prop NRestarts)" = "$restarts" ] || fail "b: reload restarted"
  step "b: reload applied classifier.model (same process $pid)"
  # kill -9: systemd restarts it; numbering continues after the last journaled seq.
  seq=$(jget '["max_seq"]')
  vm systemctl kill -s KILL --kill-whom=main moodkiosk
  until_ok $((60 * slow)) restarts_are $((restarts + 1)) \
    || fail "b: not restarted after kill -9"
  until_ok $((120 * slow)) jtrue "j['max_seq'] > $seq" || fail "b: no visitor after the restart"
  [ "$(jget '["repeated"]')" = "[]" ] || fail "b: a seq was reused: $(journal)"
  [ "$(prop MainPID)" != "$pid" ] || fail "b: same process after kill -9"
  step "b: kill -9 restarted, seq $seq -> $(jget '["max_seq"]'), none repeated"
  # A daemon that stops feeding the watchdog (every thread stopped) is killed and restarted.
  pid=$(prop MainPID)
  vm sh -c "kill -STOP $pid"
  until_ok $((90 * slow)) restarts_are $((restarts + 2)) \
    || fail "b: not restarted by the watchdog"
  watchdog_logged() { vm journalctl -u moodkiosk -o cat --no-pager | grep -q "Watchdog timeout"; }
  until_ok 30 watchdog_logged || fail "b: no watchdog timeout logged"
  until_ok $((60 * slow)) is_active || fail "b: not active after the watchdog restart"
  step "b: WatchdogSec restarted the stopped daemon"
  # The sandbox, seen from inside the service's own mount namespace (entered from the host: the
  # guest's nsenter cannot under qemu-user), as root, whom only the read-only mounts stop.
  pid=$(prop MainPID)
  local hp
  hp=$(host_pid "$pid") || fail "b: no host process for guest pid $pid"
  in_service() { nsenter -t "$hp" -m -r -- /bin/sh -c "$1" 2>/dev/null; }
  in_service 'echo x > /var/lib/moodkiosk/probe && rm /var/lib/moodkiosk/probe' \
    || fail "b: the state directory is not writable"
  if in_service 'echo x > /etc/moodkiosk/probe'; then fail "b: /etc writable"; fi
  if in_service 'echo x > /usr/share/moodkiosk/probe'; then fail "b: /usr writable"; fi
  if in_service 'echo x > /root/probe'; then fail "b: /root writable"; fi
  if in_service 'echo x > /var/log/probe'; then fail "b: /var/log writable"; fi
  local st
  st=$(vm cat "/proc/$pid/status")
  grep -q '^NoNewPrivs:[[:space:]]*1' <<<"$st" || fail "b: NoNewPrivs not set"
  grep -q '^CapEff:[[:space:]]*0000000000000000' <<<"$st" || fail "b: has capabilities"
  [ "$(vm stat -c %U "/proc/$pid")" = moodkiosk ] || fail "b: not running as moodkiosk"
  local score
  score=$(vm systemd-analyze security moodkiosk --no-pager | sed -n 's/.*exposure level for moodkiosk.service: \([0-9.]*\).*/\1/p')
  python3 -c "import sys; sys.exit(0 if float('$score') <= 2.0 else 1)" || fail "b: exposure $score > 2.0"
  if vm journalctl -u moodkiosk -o cat --no-pager | grep -Eq '^\[(source|web|journal)\]$'; then
    fail "b: the config was printed into the system journal"
  fi
  step "b: ok — sandbox holds (read-only /etc /usr, no /root, no capabilities), exposure $score"
}

scenario_c() {
  step "c: upgrade to $deb_n1"
  if [ ! -e "$VM_DIR/root/usr/bin/moodkiosk" ]; then
    install_in_guest "$deb_n"
    replay_conffile "" | write_conffile
    vm systemctl restart moodkiosk || fail "c: restart with the replay config"
    until_ok $((120 * slow)) jtrue 'j["visitors"] > 0' || fail "c: no visitor before the upgrade"
  fi
  local before pid
  before=$(journal)
  grep -q "Edited on the virtual Pi" "$VM_DIR/root/etc/moodkiosk/moodkiosk.toml" || fail "c: conffile not edited"
  pid=$(prop MainPID)
  install_in_guest "$deb_n1"
  [ "$(vm dpkg-query -W -f='${Version}' moodkiosk)" = "$version+vm1" ] || fail "c: version not upgraded"
  grep -q "Edited on the virtual Pi" "$VM_DIR/root/etc/moodkiosk/moodkiosk.toml" || fail "c: conffile edits lost"
  until_ok $((60 * slow)) is_active || fail "c: not active after the upgrade"
  [ "$(prop MainPID)" != "$pid" ] || fail "c: the old process still runs"
  # The process maps the installed file (under qemu-user its exe is qemu, the maps still show
  # the binary); a process still running the replaced file would map it "(deleted)".
  local maps
  maps=$(vm grep /usr/bin/moodkiosk "/proc/$(prop MainPID)/maps" || true)
  [ -n "$maps" ] && ! grep -q deleted <<<"$maps" || fail "c: not running the installed binary: $maps"
  local seq
  seq=$(python3 -c "import json,sys; print(json.loads(sys.argv[1])['max_seq'])" "$before")
  until_ok $((120 * slow)) jtrue "j['max_seq'] > $seq" || fail "c: no visitor after the upgrade"
  python3 - "$before" "$(journal)" <<'PY' || fail "c: journal lost records in the upgrade"
import json, sys
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
sys.exit(0 if b["seqs"][: len(a["seqs"])] == a["seqs"] and not b["repeated"] else 1)
PY
  step "c: upgraded, conffile and journal kept, new process, seq $seq -> $(jget '["max_seq"]')"
  vm apt-get remove -y -q moodkiosk > "$VM_DIR/apt.log" 2>&1 || fail "c: apt-get remove"
  ! is_active || fail "c: still active after remove"
  [ "$(jget '["visitors"]')" -gt 0 ] || fail "c: remove deleted the journal"
  [ -f "$VM_DIR/root/etc/moodkiosk/moodkiosk.toml" ] || fail "c: remove deleted the conffile"
  vm apt-get purge -y -q moodkiosk > "$VM_DIR/apt.log" 2>&1 || fail "c: apt-get purge"
  [ ! -e "$VM_DIR/root/var/lib/moodkiosk" ] || fail "c: purge left /var/lib/moodkiosk"
  [ ! -e "$VM_DIR/root/etc/moodkiosk/moodkiosk.toml" ] || fail "c: purge left the conffile"
  if vm getent passwd moodkiosk >/dev/null; then fail "c: purge left the user"; fi
  if vm getent group moodkiosk >/dev/null; then fail "c: purge left the group"; fi
  step "c: ok — remove kept data and conffile; purge removed data, conffile, user and group"
}

scenario_d() {
  step "d: power cut while visitors are recorded, broker on the host"
  command -v mosquitto >/dev/null || fail "d: mosquitto missing (scripts/deps.sh --test)"
  local bport
  bport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\nlog_type all\n' "$bport" > "$VM_DIR/mosquitto.conf"
  mosquitto -c "$VM_DIR/mosquitto.conf" > "$VM_DIR/mosquitto.log" 2>&1 &
  broker_pid=$!
  until_ok 20 python3 -c "import socket; socket.create_connection(('127.0.0.1', $bport), 1)" || fail "d: broker did not start"
  mosquitto_sub -h 127.0.0.1 -p "$bport" -i vm-power-cut -c -q 1 -t 'moodkiosk/+/visitor' > "$VM_DIR/visitors.mqtt" 2>/dev/null &
  sub_pid=$!
  until_ok 20 grep -q "Received SUBSCRIBE from vm-power-cut" "$VM_DIR/mosquitto.log" || fail "d: subscriber"
  install_in_guest "$deb_n"
  replay_conffile "$(printf '[web]\nbind = "127.0.0.1:%s"\n\n[mqtt]\nenabled = true\nbroker = "mqtt://127.0.0.1:%s"\nkiosk_id = "virtual-pi"\n' "$port" "$bport")" | write_conffile
  vm systemctl restart moodkiosk || fail "d: restart with MQTT"
  until_ok $((120 * slow)) jtrue 'j["visitors"] >= 3' || fail "d: fewer than 3 visitors"
  vm_cut
  local cut seq
  cut=$(journal)
  seq=$(python3 -c "import json,sys; print(json.loads(sys.argv[1])['max_seq'])" "$cut")
  step "d: power cut at seq $seq; booting again"
  vm_boot || fail "d: second boot"
  until_ok $((60 * slow)) is_active || fail "d: not active after the power cut"
  until_ok $((120 * slow)) jtrue "j['max_seq'] >= $seq + 2" || fail "d: no new visitors after the power cut"
  # Every journaled visitor reaches the broker (the subscriber's session is on the host).
  delivered() {
    python3 - "$(journal)" "$VM_DIR/visitors.mqtt" <<'PY'
import json, sys
j = json.loads(sys.argv[1])
got = set()
for line in open(sys.argv[2], encoding="utf-8", errors="replace"):
    try:
        got.add(json.loads(line)["seq"])
    except (ValueError, KeyError, TypeError):
        pass
sys.exit(0 if set(j["seqs"]) <= got else 1)
PY
  }
  until_ok $((90 * slow)) delivered || fail "d: MQTT did not catch up: journal $(journal), broker got $(wc -l < "$VM_DIR/visitors.mqtt") visitors"
  vm_poweroff
  local after
  after=$(journal)
  python3 - "$after" <<'PY' || fail "d: journal after the power cut: $after"
import json, sys
j = json.loads(sys.argv[1])
sys.exit(0 if j["bad"] == 0 and not j["repeated"] and j["lines"] > 0 else 1)
PY
  step "d: ok — $(jget '["lines"]') valid lines, seq up to $(jget '["max_seq"]') none repeated, all on the broker"
}

# Under qemu a frame's analysis can take longer than the shipped WatchdogSec=30 (emulation, not
# a Pi's speed): the emulated guest gets a drop-in, as an owner would write one.
# qemu emulates a Raspberry Pi 4's Cortex-A72 for every service (its default CPU has SVE2, which
# no Pi has), as cross/test-aarch64.sh does.
emulation_dropin() {
  [ "$slow" = 1 ] && return 0
  mkdir -p "$VM_DIR/root/etc/systemd/system/moodkiosk.service.d" "$VM_DIR/root/etc/systemd/system.conf.d"
  printf '[Service]\nWatchdogSec=60\n' > "$VM_DIR/root/etc/systemd/system/moodkiosk.service.d/emulated.conf"
  printf '[Manager]\nDefaultEnvironment=QEMU_CPU=cortex-a72\n' > "$VM_DIR/root/etc/systemd/system.conf.d/qemu-cpu.conf"
}

needs_guest=""
for s in $scenarios; do
  case "$s" in
    a|b|c)
      if [ -z "$needs_guest" ]; then
        vm_create "$arch-pi" "$arch"
        emulation_dropin
        step "booting the $arch guest"
        vm_boot --private-network || fail "boot"
        step "booted: $(vm systemctl is-system-running || true)"
        needs_guest=1
      fi
      "scenario_$s" ;;
    d)
      if [ -n "$needs_guest" ]; then vm_poweroff; fi
      vm_create "$arch-pi-d" "$arch"
      emulation_dropin
      vm_boot || fail "boot"
      scenario_d ;;
    *) echo "unknown scenario $s" >&2; exit 2 ;;
  esac
done
[ -n "$VM_NSPAWN" ] && kill -0 "$VM_NSPAWN" 2>/dev/null && vm_poweroff
step "passed: $scenarios"
