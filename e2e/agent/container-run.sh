#!/usr/bin/env bash
# Runs one container from an unpacked image (the local agent's image mode, e2e/agent/README.md;
# the image tests use it too). Needs root, util-linux (unshare, nsenter) and overlayfs.
#
#   container-run.sh --lower ROOTFS --state DIR --user UID:GID [--wd DIR] [--hostname NAME]
#                    [--read-only] [--bind HOST:CONTAINER[:ro]]... [--env NAME=VALUE]... -- ARGV...
#
# In a new mount (and UTS) namespace: an overlay of the unpacked image (ROOTFS, shared and never
# written) and DIR/upper (this container's writes, emptied at every start) at DIR/root; /proc, a
# minimal /dev (null zero full random urandom tty, /dev/shm), the binds; the root remounted
# read-only with --read-only; then ARGV runs chrooted there as UID:GID, in --wd (default /), with
# exactly the --env variables. Each step execs the next, so the caller's child pid is the
# container's process from start to end (signals, exit status) and nothing is left behind: the
# mounts go away with the namespace when the process exits.
# Not a security boundary: no user, PID or network namespace, no seccomp, no cgroup limits; the
# process sees the host's processes in /proc.
set -euo pipefail

if [[ "${ECHONET_CONTAINER_NS:-}" != 1 ]]; then
  exec env ECHONET_CONTAINER_NS=1 unshare --mount --uts --propagation private -- "$0" "$@"
fi

die() { echo "container-run: $*" >&2; exit 127; }
lower='' state='' user='' wd=/ hostname='' readonly=0
binds=() envs=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --lower) lower="$2"; shift 2 ;;
    --state) state="$2"; shift 2 ;;
    --user) user="$2"; shift 2 ;;
    --wd) wd="$2"; shift 2 ;;
    --hostname) hostname="$2"; shift 2 ;;
    --read-only) readonly=1; shift ;;
    --bind) binds+=("$2"); shift 2 ;;
    --env) envs+=("$2"); shift 2 ;;
    --) shift; break ;;
    *) die "unknown argument: $1" ;;
  esac
done
[[ -n "$lower" && -n "$state" && -n "$user" && $# -gt 0 ]] || die "need --lower, --state, --user and a command"
[[ -d "$lower" ]] || die "$lower: no such directory"
uid="${user%%:*}" gid="${user#*:}"
nsenter_bin="$(command -v nsenter)"

root="$state/root"
rm -rf "$state/upper" "$state/work"
mkdir -p "$state/upper" "$state/work" "$root"
mount -t overlay overlay -o "lowerdir=$lower,upperdir=$state/upper,workdir=$state/work" "$root"

mkdir -p "$root/proc" "$root/dev"
mount -t proc -o nosuid,nodev,noexec proc "$root/proc"
mount -t tmpfs -o nosuid,mode=755,size=64k devtmp "$root/dev"
for d in null zero full random urandom tty; do
  touch "$root/dev/$d"
  mount --bind "/dev/$d" "$root/dev/$d"
done
ln -s /proc/self/fd "$root/dev/fd"
ln -s /proc/self/fd/0 "$root/dev/stdin"
ln -s /proc/self/fd/1 "$root/dev/stdout"
ln -s /proc/self/fd/2 "$root/dev/stderr"
mkdir -p "$root/dev/shm"
mount -t tmpfs -o nosuid,nodev,mode=1777,size=64m shm "$root/dev/shm"

for b in "${binds[@]}"; do
  IFS=: read -r host ctr mode <<<"$b"
  [[ "$ctr" == /* ]] || die "bind $b: container path must be absolute"
  [[ -e "$host" ]] || die "bind $b: $host does not exist"
  if [[ -d "$host" ]]; then
    mkdir -p "$root$ctr"
  else
    mkdir -p "$(dirname "$root$ctr")"
    [[ -e "$root$ctr" ]] || touch "$root$ctr"
  fi
  mount --bind "$host" "$root$ctr"
  if [[ "$mode" == ro ]]; then mount -o remount,bind,ro "$root$ctr"; fi
done

if [[ -n "$hostname" ]]; then hostname "$hostname"; fi
if [[ $readonly == 1 ]]; then mount -o remount,ro "$root"; fi
[[ -d "$root$wd" ]] || mkdir -p "$root$wd" 2>/dev/null || die "working directory $wd does not exist in the image"

exec env -i "${envs[@]}" "$nsenter_bin" --root="$root" --wd="$root$wd" --setuid "$uid" --setgid "$gid" -- "$@"
