#!/usr/bin/env bash
# libvirtd-env.sh — a private libvirtd for integration tests, isolated from the host's.
#
# Usage: libvirtd-env.sh start|stop|kill|status|uri DIR
#        libvirtd-env.sh gc
#
#   start DIR   start (or restart) a private libvirtd whose whole state lives under DIR and
#               print its URI, qemu+unix:///system?socket=DIR/sock/libvirt-sock, once it answers.
#               Idempotent: when the daemon already runs it only prints the URI.
#   kill DIR    SIGKILL the daemon only; QEMU and dnsmasq keep running, so a later `start DIR`
#               reconnects to them (tests use this to exercise the close callback).
#   stop DIR    SIGTERM the daemon, kill everything left in its network namespace, delete the
#               namespace. Also cleans up after a crashed run that used the same DIR.
#   status DIR  print "running PID NETNS URI" (exit 0) or "stopped NETNS" (exit 3).
#   uri DIR     print the URI without starting anything.
#   gc          delete maaslab-test-* namespaces that have no process left (stale runs).
#
# Isolation, and why each piece is there:
#   * Network: a fresh namespace, `ip netns add maaslab-test-<hash of DIR>`, with only `lo`
#     up and no uplink. Bridges, taps, dnsmasq and iptables rules libvirt creates stay in it.
#   * Files: `ip netns exec NS unshare --mount --propagation private` gives the daemon its own
#     mount namespace, where a tmpfs hides the host's /run (its systemd and D-Bus sockets, and
#     any /run/libvirt) and DIR's subfolders are bind-mounted over /etc/libvirt, /run/libvirt,
#     /var/lib/libvirt, /var/cache/libvirt and /var/log/libvirt. Nothing is mounted on the
#     host, and the host's libvirt folders are never written.
#   * Socket: unix_sock_dir is DIR/sock, outside the bind mounts, so test processes on the
#     host side connect to it directly; auth is "none" and nothing listens on TCP or TLS.
#   * QEMU: KVM where /dev/kvm is usable, TCG otherwise; as root, no security driver, no cgroups, no private /dev namespace, console
#     logs written to files (no virtlogd), VNC on 127.0.0.1 only.
#
# Environment: MAASLAB_LIBVIRTD_TIMEOUT (seconds to wait for the socket, default 30);
#   MAASLAB_LIBVIRTD_NO_QEMU=1 hides the QEMU emulators from this daemon (bind-mounts
#   /dev/null over them in its mount namespace), to test what happens where QEMU cannot run;
#   MAASLAB_LIBVIRTD_NO_KVM=1 hides /dev/kvm (the daemon's /dev is a copy without it, so
#   libvirt offers only the `qemu` (TCG) domain type), so a KVM host tests the TCG path too;
#   MAASLAB_LIBVIRTD_SOCK_GROUP=GID gives the read-write socket to that group, as a distribution's
#   libvirtd does with its `libvirt` group (unix_sock_group, unix_sock_rw_perms 0660, and the
#   socket folder 0755 like /run/libvirt), so that a process of another user in that group (the
#   agent's pod, through a hostPath volume) can connect; unset, the sockets are root's only;
#   MAASLAB_LIBVIRTD_HOST_USER=UID:GID gives this daemon's view of /etc/passwd and /etc/group
#   (copies bound over them in its mount namespace) a user and a group of those numbers, as a
#   host has them after `useradd`: libvirtd names every client of its socket (it looks up the
#   peer's uid and primary gid and refuses the connection with "Failed to find user record"
#   when either has no name), so a pod's user must exist on the host; the host keeps its files;
#   MAASLAB_CACHE (default ~/.cache/maaslab): QEMU capability files are shared between runs
#   through MAASLAB_CACHE/libvirtd-qemu-caps, which saves ~3.5 s of probing per fresh DIR.
#   libvirtd checks each file against the QEMU binary and itself, and re-probes when stale.
set -euo pipefail

readonly NS_PREFIX=maaslab-test-
readonly SELF="${BASH_SOURCE[0]}"
# A daemon with /dev/kvm hidden probes other capabilities: it keeps its own copy of the cache.
caps_cache="${MAASLAB_CACHE:-${HOME:-/root}/.cache/maaslab}/libvirtd-qemu-caps"
[[ ${MAASLAB_LIBVIRTD_NO_KVM:-} == 1 ]] && caps_cache+=-nokvm
readonly CAPS_CACHE=$caps_cache

die() {
  echo "libvirtd-env: $*" >&2
  exit 1
}

usage() {
  sed -n '2,18p' "$SELF" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

# abs_dir DIR: the canonical absolute path (DIR is created when missing).
abs_dir() {
  mkdir -p -- "$1"
  (cd -- "$1" && pwd -P)
}

# netns_name DIR: stable per DIR, so `stop` finds the namespace of a crashed run.
netns_name() {
  local hash
  hash=$(printf '%s' "$1" | sha256sum | cut -c1-10)
  echo "${NS_PREFIX}${hash}"
}

uri_for() {
  echo "qemu+unix:///system?socket=$1/sock/libvirt-sock"
}

netns_exists() {
  [[ -e "/run/netns/$1" ]]
}

# daemon_pid DIR: the PID of a live libvirtd started for DIR, or nothing.
daemon_pid() {
  local pidfile="$1/libvirtd.pid" pid
  [[ -s "$pidfile" ]] || return 0
  pid=$(<"$pidfile")
  [[ "$pid" =~ ^[0-9]+$ ]] || return 0
  if alive "$pid" && [[ "$(<"/proc/$pid/comm")" == libvirtd ]]; then
    echo "$pid"
  fi
}

# alive PID: the process exists and is not a zombie. A killed daemon stays a zombie until
# its parent (PID 1 here, which reaps lazily) collects it; it must count as gone.
alive() {
  local state
  state=$(awk '/^State:/ { print $2 }' "/proc/$1/status" 2>/dev/null) || return 1
  [[ -n "$state" && "$state" != Z ]]
}

write_configs() {
  local dir="$1"
  mkdir -p "$dir"/{etc,run,lib,cache,log,sock}
  mkdir -p "$dir"/etc/{qemu/networks/autostart,storage/autostart,nwfilter}
  # The socket's group: root's only, or a group's (see MAASLAB_LIBVIRTD_SOCK_GROUP above).
  # libvirt reads a leading "+" as a numeric GID, never a name to look up.
  local group=root rw_perms=0700 group_gid=${MAASLAB_LIBVIRTD_SOCK_GROUP:-}
  if [[ -n $group_gid ]]; then
    group="+$group_gid"
    rw_perms=0660
    chmod 0755 "$dir/sock"
  else
    chmod 0700 "$dir/sock"
  fi
  cat >"$dir/etc/libvirtd.conf" <<EOF
# Written by test/libvirtd/libvirtd-env.sh; the daemon reads it through -f.
unix_sock_dir = "$dir/sock"
unix_sock_group = "$group"
unix_sock_ro_perms = "0700"
unix_sock_rw_perms = "$rw_perms"
unix_sock_admin_perms = "0700"
auth_unix_ro = "none"
auth_unix_rw = "none"
listen_tls = 0
listen_tcp = 0
log_outputs = "2:file:$dir/log/libvirtd.log"
log_filters = "3:qemu.qemu_monitor 3:qemu.qemu_monitor_json 3:rpc 3:util.object 3:util.threadjob"
keepalive_interval = 5
keepalive_count = 5
EOF
  cat >"$dir/etc/qemu.conf" <<'EOF'
# Written by test/libvirtd/libvirtd-env.sh: QEMU as root inside a container (KVM where
# /dev/kvm is usable, TCG otherwise).
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
namespaces = [ ]
cgroup_controllers = [ ]
stdio_handler = "file"
vnc_listen = "127.0.0.1"
spice_listen = "127.0.0.1"
vnc_auto_unix_socket = 0
set_process_name = 1
EOF
}

# hide_kvm: a host without KVM, for this daemon and its QEMUs only. /dev/kvm must be absent,
# not merely useless: libvirt stats it and, as root, finds a stand-in (say /dev/null bound over
# it) "usable", so every capability lookup finds its cached no-KVM probe stale and re-probes
# QEMU (~2 s a call, measured). So /dev becomes a fresh tmpfs holding the host's entries except
# kvm: device nodes made anew (a bound /dev/ptmx would not find its pts sibling, and QEMU could
# open no pty), folders (pts, shm, net, ...) bound from a private view of the old /dev.
hide_kvm() {
  local old=/run/maaslab-host-dev entry name kind major minor mode
  mkdir -p "$old"
  mount --rbind /dev "$old"
  mount -t tmpfs -o mode=0755,size=1m maaslab-dev /dev
  for entry in "$old"/* "$old"/.[!.]*; do
    [[ -e $entry || -L $entry ]] || continue
    name=${entry##*/}
    [[ $name == kvm ]] && continue
    if [[ -L $entry ]]; then
      cp -P "$entry" "/dev/$name"
    elif [[ -d $entry ]]; then
      mkdir "/dev/$name"
      mount --rbind "$entry" "/dev/$name"
    elif [[ -c $entry || -b $entry ]]; then
      # (No process substitution here: it needs /dev/fd, which may not be back yet.)
      read -r major minor mode <<<"$(stat -c '%t %T %a' "$entry")"
      kind=c
      [[ -b $entry ]] && kind=b
      mknod -m "$mode" "/dev/$name" "$kind" "$((16#$major))" "$((16#$minor))"
    else
      touch "/dev/$name"
      mount --bind "$entry" "/dev/$name"
    fi
  done
}

# add_host_user DIR UID GID: in this mount namespace only, /etc/passwd and /etc/group become
# copies that also name UID and GID (user and group `maaslab-agent`), unless they already do.
add_host_user() {
  local dir="$1" uid="$2" gid="$3" users="$1/users"
  mkdir -p "$users"
  cp /etc/passwd "$users/passwd"
  cp /etc/group "$users/group"
  if ! getent passwd "$uid" >/dev/null; then
    echo "maaslab-agent:x:$uid:$gid:maaslab agent:/nonexistent:/usr/sbin/nologin" >>"$users/passwd"
  fi
  if ! getent group "$gid" >/dev/null; then
    echo "maaslab-agent:x:$gid:" >>"$users/group"
  fi
  mount --bind "$users/passwd" /etc/passwd
  mount --bind "$users/group" /etc/group
}

# inner DIR: runs as root inside the namespaces; mounts the private folders and becomes libvirtd.
inner() {
  local dir="$1" src dst
  # A fresh /run hides the host's systemd/D-Bus sockets (libvirt would otherwise register
  # machines with systemd-machined) and any host /run/libvirt.
  mount -t tmpfs -o mode=0755,size=16m maaslab-run /run
  mkdir -p /run/libvirt
  # /var/lock is /run/lock on Debian: libvirt locks a console's pty there (LCK.._pts_N) when
  # virDomainOpenConsole attaches one, so the fresh /run needs it back, private to the daemon.
  mkdir -p -m 1777 /run/lock
  for pair in etc:/etc/libvirt run:/run/libvirt lib:/var/lib/libvirt \
    cache:/var/cache/libvirt log:/var/log/libvirt; do
    src="$dir/${pair%%:*}"
    dst="${pair#*:}"
    mkdir -p "$dst" 2>/dev/null || true
    mount --bind "$src" "$dst"
  done
  if [[ ${MAASLAB_LIBVIRTD_NO_QEMU:-} == 1 ]]; then
    # A host where QEMU cannot run, for this daemon only: its emulators become /dev/null.
    local emulator
    for emulator in /usr/bin/qemu-system-* /usr/libexec/qemu-kvm; do
      if [[ -e $emulator ]]; then mount --bind /dev/null "$emulator"; fi
    done
  fi
  if [[ ${MAASLAB_LIBVIRTD_NO_KVM:-} == 1 && -e /dev/kvm ]]; then
    hide_kvm
  fi
  if [[ -n ${MAASLAB_LIBVIRTD_HOST_USER:-} ]]; then
    add_host_user "$dir" "${MAASLAB_LIBVIRTD_HOST_USER%%:*}" "${MAASLAB_LIBVIRTD_HOST_USER##*:}"
  fi
  exec libvirtd -f "$dir/etc/libvirtd.conf" -p "$dir/libvirtd.pid"
}

# seed_caps DIR / save_caps DIR: copy QEMU capability files in from, or out to, the cache.
seed_caps() {
  local dst="$1/cache/qemu/capabilities"
  [[ -d "$CAPS_CACHE" ]] || return 0
  mkdir -p "$dst"
  cp -n "$CAPS_CACHE"/*.xml "$dst"/ 2>/dev/null || true
}

save_caps() {
  local src="$1/cache/qemu/capabilities" f tmp
  [[ -d "$src" ]] || return 0
  mkdir -p "$CAPS_CACHE" 2>/dev/null || return 0
  for f in "$src"/*.xml; do
    [[ -f "$f" ]] || continue
    tmp=$(mktemp "$CAPS_CACHE/.tmp.XXXXXX") || return 0
    if ! { cp "$f" "$tmp" && mv -f "$tmp" "$CAPS_CACHE/${f##*/}"; }; then
      rm -f "$tmp"
    fi
  done
}

wait_ready() {
  local dir="$1" pid="$2" uri timeout deadline
  uri=$(uri_for "$dir")
  timeout="${MAASLAB_LIBVIRTD_TIMEOUT:-30}"
  deadline=$((SECONDS + timeout))
  while ((SECONDS < deadline)); do
    if ! alive "$pid"; then
      echo "libvirtd-env: libvirtd (pid $pid) exited during start-up; last log lines:" >&2
      tail -n 30 "$dir/log/libvirtd.log" "$dir/log/daemon.out" >&2 2>/dev/null || true
      return 1
    fi
    if [[ -S "$dir/sock/libvirt-sock" ]] && virsh -q -c "$uri" uri >/dev/null 2>&1; then
      return 0
    fi
    sleep 0.1
  done
  echo "libvirtd-env: libvirtd did not answer on $uri within ${timeout}s; last log lines:" >&2
  tail -n 30 "$dir/log/libvirtd.log" "$dir/log/daemon.out" >&2 2>/dev/null || true
  return 1
}

cmd_start() {
  local dir ns pid
  dir=$(abs_dir "$1")
  ns=$(netns_name "$dir")
  [[ $EUID -eq 0 ]] || die "must run as root (it creates network and mount namespaces)"
  [[ ${MAASLAB_LIBVIRTD_HOST_USER:-} =~ ^([0-9]+:[0-9]+)?$ ]] ||
    die "MAASLAB_LIBVIRTD_HOST_USER must be UID:GID, not '$MAASLAB_LIBVIRTD_HOST_USER'"
  [[ ${MAASLAB_LIBVIRTD_SOCK_GROUP:-} =~ ^[0-9]*$ ]] ||
    die "MAASLAB_LIBVIRTD_SOCK_GROUP must be a numeric GID, not '$MAASLAB_LIBVIRTD_SOCK_GROUP'"
  pid=$(daemon_pid "$dir")
  if [[ -n "$pid" ]] && netns_exists "$ns"; then
    uri_for "$dir"
    return 0
  fi
  if ! netns_exists "$ns"; then
    ip netns add "$ns"
  fi
  ip netns exec "$ns" ip link set lo up
  echo "$ns" >"$dir/netns"
  write_configs "$dir"
  seed_caps "$dir"
  rm -f "$dir/libvirtd.pid"
  # setsid: the daemon leaves our session; the closed descriptors let callers that read our
  # stdout (execFile, $(...)) return without waiting for the daemon.
  setsid ip netns exec "$ns" unshare --mount --propagation private -- \
    "$SELF" __inner "$dir" </dev/null >>"$dir/log/daemon.out" 2>&1 &
  pid=$!
  if ! wait_ready "$dir" "$pid"; then
    cmd_stop "$dir" >/dev/null 2>&1 || true
    exit 1
  fi
  save_caps "$dir"
  uri_for "$dir"
}

cmd_kill() {
  local dir pid
  dir=$(abs_dir "$1")
  pid=$(daemon_pid "$dir")
  [[ -n "$pid" ]] || die "no libvirtd is running for $dir"
  kill -KILL "$pid"
  while alive "$pid"; do sleep 0.05; done
}

# pids_of DIR NS: every process in the namespace, plus any libvirtd/qemu/dnsmasq whose
# command line or mounts name DIR (a process that somehow left the network namespace).
pids_of() {
  local dir="$1" ns="$2" p comm
  if netns_exists "$ns"; then
    ip netns pids "$ns" 2>/dev/null || true
  fi
  for p in /proc/[0-9]*; do
    [[ -r "$p/comm" ]] || continue
    comm=$(<"$p/comm") 2>/dev/null || continue
    case "$comm" in
      libvirtd | qemu-system-* | dnsmasq | qemu:*) ;;
      *) continue ;;
    esac
    if grep -qF -- "$dir/" "$p/cmdline" "$p/mountinfo" 2>/dev/null; then
      echo "${p#/proc/}"
    fi
  done
}

# reap SIGNAL DIR NS: signal the leftovers and wait up to ~5 s for them to go.
reap() {
  local sig="$1" dir="$2" ns="$3" pids i
  pids=$(pids_of "$dir" "$ns" | sort -u | grep -vx "$$" || true)
  [[ -n "$pids" ]] || return 0
  # shellcheck disable=SC2086 # word splitting of the PID list is intended
  kill "-$sig" $pids 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    pids=$(pids_of "$dir" "$ns" | sort -u || true)
    [[ -n "$pids" ]] || return 0
    sleep 0.1
  done
}

cmd_stop() {
  local dir ns pid i
  dir=$(abs_dir "$1")
  ns=$(netns_name "$dir")
  pid=$(daemon_pid "$dir")
  if [[ -n "$pid" ]]; then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 150; i++)); do
      alive "$pid" || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  reap TERM "$dir" "$ns"
  reap KILL "$dir" "$ns"
  if [[ -n "$(pids_of "$dir" "$ns")" ]]; then
    die "processes survived SIGKILL in $ns: $(pids_of "$dir" "$ns" | tr '\n' ' ')"
  fi
  if netns_exists "$ns"; then
    ip netns del "$ns"
  fi
  rm -f "$dir/libvirtd.pid" "$dir/sock/libvirt-sock" "$dir/sock/libvirt-sock-ro" \
    "$dir/sock/libvirt-admin-sock"
}

cmd_status() {
  local dir ns pid
  dir=$(abs_dir "$1")
  ns=$(netns_name "$dir")
  pid=$(daemon_pid "$dir")
  if [[ -n "$pid" ]]; then
    echo "running $pid $ns $(uri_for "$dir")"
  else
    echo "stopped $ns"
    return 3
  fi
}

cmd_gc() {
  local ns
  while read -r ns _; do
    [[ "$ns" == "$NS_PREFIX"* ]] || continue
    if [[ -z "$(ip netns pids "$ns" 2>/dev/null)" ]]; then
      ip netns del "$ns" && echo "deleted stale namespace $ns"
    fi
  done < <(ip netns list)
}

main() {
  local cmd="${1:-}"
  case "$cmd" in
    start | stop | kill | status | uri | __inner)
      [[ $# -eq 2 && -n "$2" ]] || usage
      ;;
    gc) [[ $# -eq 1 ]] || usage ;;
    *) usage ;;
  esac
  case "$cmd" in
    start) cmd_start "$2" ;;
    stop) cmd_stop "$2" ;;
    kill) cmd_kill "$2" ;;
    status) cmd_status "$2" ;;
    uri) uri_for "$(abs_dir "$2")" ;;
    gc) cmd_gc ;;
    __inner) inner "$2" ;;
  esac
}

main "$@"
