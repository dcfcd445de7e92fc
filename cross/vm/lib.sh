# A virtual Raspberry Pi: Debian bookworm (arm64 under qemu, or amd64) with systemd as PID 1 in
# systemd-nspawn. Sourced by cross/vm/test.sh; one machine at a time.
#   vm_root ARCH              the cached root tarball (built by mmdebstrap once, then reused)
#   vm_create NAME ARCH       a fresh root for machine NAME under target/vm/
#   vm_boot [NSPAWN_OPTS...]  boot it; returns once systemd reports running (or degraded)
#   vm CMD...                 run CMD inside the booted guest (its namespaces, a clean env)
#   vm_poweroff / vm_cut      clean shutdown / kill the container at once (a power cut)

VM_CACHE=${MOODKIOSK_VM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/moodkiosk-vm}
# What a Raspberry Pi OS Lite image has that the tests use: systemd, D-Bus, adduser (the package's
# postinst), curl (to ask the page).
VM_PACKAGES=systemd,systemd-sysv,dbus,adduser,curl
VM_SUITE=bookworm
VM_DIR=""; VM_NSPAWN=""; VM_LEADER=""

vm_log() { echo "vm: $*" >&2; }

# qemu's binfmt handler for arm64 binaries, registered when missing (Debian's qemu-user-static
# ships the line; the F flag opens the interpreter now, so it also works inside the container).
vm_binfmt() {
  [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] && return 0
  if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
    mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
  fi
  cat /usr/lib/binfmt.d/qemu-aarch64.conf > /proc/sys/fs/binfmt_misc/register
  vm_log "registered qemu-aarch64 with binfmt_misc"
}

# Path of the root tarball for ARCH, built on first use. Keyed by suite and package list, so a
# changed list builds a new one; delete $VM_CACHE to rebuild.
vm_root() {
  local arch=$1 key tar
  key=$(echo "$VM_SUITE $arch $VM_PACKAGES" | sha256sum | cut -c1-12)
  tar="$VM_CACHE/$VM_SUITE-$arch-$key.tar"
  if [ ! -s "$tar" ]; then
    [ "$arch" = arm64 ] && vm_binfmt
    mkdir -p "$VM_CACHE"
    vm_log "building the $arch root with mmdebstrap (cached in $tar)"
    mmdebstrap --quiet --format=tar --architectures="$arch" --variant=minbase --include="$VM_PACKAGES" \
      "$VM_SUITE" "$tar.part" >&2
    mv "$tar.part" "$tar"
  fi
  echo "$tar"
}

vm_create() {
  local name=$1 arch=$2 tar
  tar=$(vm_root "$arch")
  [ "$arch" = arm64 ] && vm_binfmt
  VM_DIR="$PWD/target/vm/$name"
  rm -rf "$VM_DIR"
  mkdir -p "$VM_DIR/root"
  tar -C "$VM_DIR/root" -xf "$tar"
  # The machine's name in its logs; the same on every boot of this root.
  echo "$name" > "$VM_DIR/root/etc/hostname"
}

# Boot the root with systemd as PID 1. Extra options go to systemd-nspawn (--private-network).
vm_boot() {
  local i state
  systemd-nspawn --register=no --keep-unit --console=passive --quiet \
    -D "$VM_DIR/root" "$@" -b >> "$VM_DIR/nspawn.log" 2>&1 &
  VM_NSPAWN=$!
  VM_LEADER=""
  for i in $(seq 600); do
    vm_find_leader && break
    kill -0 "$VM_NSPAWN" 2>/dev/null || { cat "$VM_DIR/nspawn.log" >&2; return 1; }
    sleep 0.1
  done
  [ -n "$VM_LEADER" ] || { vm_log "systemd-nspawn started no container"; return 1; }
  for i in $(seq 300); do
    state=$(vm systemctl is-system-running 2>/dev/null || true)
    case "$state" in
      running|degraded) return 0 ;;
    esac
    sleep 1
  done
  vm_log "the guest did not finish booting: $state"
  return 1
}

# The guest's PID 1: the child of systemd-nspawn in a PID namespace of its own (nspawn forks
# short-lived helpers too, which share ours).
vm_find_leader() {
  local pid ours
  ours=$(readlink /proc/self/ns/pid)
  VM_LEADER=""
  for pid in $(pgrep -P "$VM_NSPAWN" || true); do
    if [ "$(readlink "/proc/$pid/ns/pid" 2>/dev/null)" != "$ours" ] && [ -e "/proc/$pid/ns/pid" ]; then
      VM_LEADER=$pid
      return 0
    fi
  done
  return 1
}

vm() {
  nsenter -t "$VM_LEADER" -m -u -i -n -p -- \
    env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 SYSTEMD_PAGER= SYSTEMD_COLORS=0 "$@"
}

vm_wait_exit() {
  local i
  for i in $(seq "$1"); do
    kill -0 "$VM_NSPAWN" 2>/dev/null || { wait "$VM_NSPAWN" 2>/dev/null || true; return 0; }
    sleep 1
  done
  return 1
}

vm_poweroff() {
  vm systemctl poweroff --no-block >/dev/null 2>&1 || true
  vm_wait_exit 120 || { vm_log "the guest did not power off in 120 s"; vm_cut; return 1; }
}

# A power cut: SIGKILL to the guest's PID 1 ends every process in it at once, nothing is flushed
# by them; systemd-nspawn then exits (or is killed too).
# (Written data the kernel holds in its page cache survives here, as it would not on a real board
# without fsync: the journal fsyncs every record by default.)
vm_cut() {
  kill -KILL "$VM_LEADER" 2>/dev/null || true
  vm_wait_exit 10 || { kill -KILL "$VM_NSPAWN" 2>/dev/null; vm_wait_exit 20; } || true
}

vm_cleanup() {
  if [ -n "$VM_NSPAWN" ] && kill -0 "$VM_NSPAWN" 2>/dev/null; then vm_cut; fi
}
