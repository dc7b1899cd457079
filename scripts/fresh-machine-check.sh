#!/usr/bin/env bash
# The README's two commands on a bare Debian 12: builds a minimal root with debootstrap, installs only
# `make` in it, copies a clean clone of one commit into it and runs `make demo` then `make test` there
# with chroot, as a new user on a new machine would. Prints the time of each phase and the demo's test
# accuracy; exits non-zero when any phase fails (its log's tail is printed). Needs root and debootstrap.
#
#   scripts/fresh-machine-check.sh [--commit REV] [--keep]
#     --commit REV   the commit to check (default HEAD of this clone; uncommitted changes are not seen)
#     --keep         leave the root in place for inspection (its path is printed); mounts are removed
#   env: CVTRAIN_FRESH_CACHE   (default /var/cache/cvtrain-fresh) the debootstrap tarball and apt's
#                              downloaded .deb files, reused between runs; packages are always installed
#                              anew into a fresh root from the project's own list
#        CVTRAIN_FRESH_MIRROR  (default http://deb.debian.org/debian) the Debian mirror
#        CVTRAIN_FRESH_LOGS    (default a temporary folder, printed) where each phase's log goes
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
commit=HEAD
keep=0
while (($#)); do
  case "$1" in
    --commit) commit=${2:?--commit needs a revision}; shift 2 ;;
    --keep) keep=1; shift ;;
    -h | --help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "fresh-machine-check: unknown argument '$1'" >&2; exit 2 ;;
  esac
done

say() { echo "fresh-machine-check: $*"; }
if [[ $(id -u) -ne 0 ]]; then say "needs root (debootstrap, chroot, mount)" >&2; exit 2; fi
if ! command -v debootstrap >/dev/null; then say "needs debootstrap (apt-get install debootstrap)" >&2; exit 2; fi
commit=$(git -C "$repo" rev-parse --verify "$commit^{commit}")

cache=${CVTRAIN_FRESH_CACHE:-/var/cache/cvtrain-fresh}
mirror=${CVTRAIN_FRESH_MIRROR:-http://deb.debian.org/debian}
logs=${CVTRAIN_FRESH_LOGS:-$(mktemp -d /tmp/cvtrain-fresh-logs.XXXXXX)}
mkdir -p "$cache/archives/partial" "$logs"
tarball=$cache/bookworm-minbase.tar
root=$(mktemp -d /var/tmp/cvtrain-fresh-root.XXXXXX)
mounts=()  # mount points inside the root, in mount order

cleanup() {
  local status=$?
  for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do
    umount "${mounts[i]}" 2>/dev/null || umount -l "${mounts[i]}" 2>/dev/null || true
  done
  if ((keep)); then
    say "root kept at $root"
  elif ! grep -q " ${root}[/ ]" /proc/mounts; then  # never delete through a mount that stayed
    rm -rf --one-file-system "$root"
  else
    say "a mount under $root stayed; not removing it" >&2
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# stamp T0: prefixes each line with the seconds since T0, "[  12s] ...".
stamp() {
  local line
  while IFS= read -r line; do printf '[%4ds] %s\n' $((EPOCHSECONDS - $1)) "$line"; done
}

# phase NAME LOG COMMAND...: runs COMMAND with its output, time-stamped, in LOG and prints the seconds
# it took; on failure prints the log's tail and exits with the command's status.
phase() {
  local name=$1 log=$logs/$2.log start=$EPOCHSECONDS status
  shift 2
  set +e
  "$@" 2>&1 | stamp "$start" > "$log"
  status=${PIPESTATUS[0]}
  set -e
  say "$name: $((EPOCHSECONDS - start)) s$( ((status)) && echo " FAILED (exit $status)")"
  if ((status)); then
    echo "---- last lines of $log ----"
    tail -n 40 "$log"
    exit "$status"
  fi
}

# at LOG REGEX: the stamp (seconds) of LOG's first line matching REGEX, or "?".
at() {
  local s
  s=$(grep -m1 -E "^\[ *[0-9]+s\] .*($2)" "$1" | sed -E 's/^\[ *([0-9]+)s\].*/\1/') || true
  echo "${s:-?}"
}

# The minimal root: debootstrap once, then unpack its tarball (a month at most, then made anew).
make_root() {
  if [[ -f $tarball ]] && [[ -z $(find "$tarball" -mtime +30) ]]; then
    tar -C "$root" -xpf "$tarball"
  else
    debootstrap --variant=minbase bookworm "$root" "$mirror"
    tar -C "$root" -cpf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
  fi
}

# What any Debian 12 machine has: the release, its updates and security sources, name resolution, /proc,
# shared memory (OpenMPI), and apt's download cache bound to the one kept between runs.
prepare_root() {
  cat > "$root/etc/apt/sources.list" <<EOF
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb ${mirror%/debian}/debian-security bookworm-security main
EOF
  cp -L /etc/resolv.conf "$root/etc/resolv.conf"
  mount -t proc proc "$root/proc" && mounts+=("$root/proc")
  mount -t sysfs -o ro sysfs "$root/sys" && mounts+=("$root/sys")
  mount -t tmpfs -o mode=1777 shm "$root/dev/shm" && mounts+=("$root/dev/shm")
  mount --bind "$cache/archives" "$root/var/cache/apt/archives" && mounts+=("$root/var/cache/apt/archives")
  chroot "$root" chown _apt:root /var/cache/apt/archives/partial  # apt downloads as _apt
}

# in_root COMMAND: runs a shell command in the root as root, with a login's plain environment.
in_root() {
  chroot "$root" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM=dumb \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin bash -c "$1"
}

say "commit $(git -C "$repo" log -1 --format='%h %s' "$commit" | cut -c1-80)"
say "root $root, logs $logs, CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores"
total=$(date +%s)
phase "minimal Debian 12 root" root make_root
prepare_root
phase "apt-get install make" make in_root \
  "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends make"
phase "clean clone" clone git clone -q --no-hardlinks --no-checkout "$repo" "$root/root/cvtrain"
git -C "$root/root/cvtrain" checkout -q --detach "$commit"
phase "make demo (first command)" demo in_root "cd /root/cvtrain && make demo"
accuracy=$(grep -o 'test accuracy [0-9.]*%' "$logs/demo.log" | tail -1 || true)
if [[ -z $accuracy ]]; then say "make demo printed no test accuracy" >&2; tail -n 20 "$logs/demo.log"; exit 1; fi
say "demo: $accuracy; build started at $(at "$logs/demo.log" '\[1/') s (packages and configuration before)," \
  "training at $(at "$logs/demo.log" 'cvtrain: .* -> runs/demo') s"
phase "make test (second command)" test in_root "cd /root/cvtrain && make test"
say "tests: $(grep -oE '[0-9]+% tests passed.*' "$logs/test.log" || echo '?'); build started at" \
  "$(at "$logs/test.log" '\[1/') s, tests at $(at "$logs/test.log" 'Test project') s"
say "passed in $(($(date +%s) - total)) s"
