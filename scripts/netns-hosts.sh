#!/usr/bin/env bash
# Several "hosts" on this machine, for multi-host MPI runs over real TCP: each host is a network
# namespace (cvt-h1, cvt-h2, ...) with one interface, eth0, address 10.77.0.K/24, plugged into a
# bridge that lives in its own namespace (cvt-sw), so nothing touches the machine's own network.
# The file system, processes and users stay shared: a run folder is visible to every host.
#
#   scripts/netns-hosts.sh up N              make hosts 1..N (removes any earlier ones first)
#   scripts/netns-hosts.sh down              remove every host and the switch
#   scripts/netns-hosts.sh wire N DELAY_US RATE_MBIT
#                                            hosts 1..N joined instead by build/bench/net_wire: every
#                                            packet delayed DELAY_US one way, each host's link limited
#                                            to RATE_MBIT (0: unlimited); for kernels without tc netem
#   scripts/netns-hosts.sh cut K | mend K    take host K's link down (its cable pulled) / up again
#   scripts/netns-hosts.sh mpirun N ARGS...  Open MPI from host 1, one rank on each of hosts 1..N,
#                                            TCP only (no shared memory), then ARGS (the program)
#
# Needs root and ip (iproute2); `up` and `wire` exit 77 with a message where namespaces cannot be made.
# Open MPI reaches the other hosts through scripts/netns-rsh, its "remote shell": ip netns exec.
# env: CVTRAIN_NET_WIRE  the net_wire program (default build/bench/net_wire)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
net=10.77.0
sw=cvt-sw
wire_pid=/run/cvt-net-wire.pid

say() { echo "netns-hosts: $*" >&2; }
hosts() { ip netns list | grep -o '^cvt-h[0-9]*' | sort -V || true; }

down() {
  local h
  if [[ -s $wire_pid ]]; then kill "$(cat "$wire_pid")" 2> /dev/null || true; rm -f "$wire_pid"; fi
  for h in $(hosts) $(ip netns list | grep -o "^$sw\b" || true); do
    ip netns pids "$h" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
    ip netns del "$h"
  done
}

# namespaces cvt-h1..N (and the switch's) with loopback up; exits 77 where none can be made
make_namespaces() {
  local n=$1 k
  [[ $n =~ ^[0-9]+$ && $n -ge 1 && $n -le 16 ]] || { say "N must be 1..16, got '$n'"; exit 2; }
  [[ $(id -u) -eq 0 ]] || { say "needs root (ip netns)"; exit 77; }
  down
  if ! ip netns add "$sw" 2> /tmp/netns-hosts.$$; then
    say "cannot make network namespaces here: $(head -1 /tmp/netns-hosts.$$)"; rm -f /tmp/netns-hosts.$$; exit 77
  fi
  rm -f /tmp/netns-hosts.$$
  for k in $(seq 1 "$n"); do
    ip netns add "cvt-h$k"
    ip -n "cvt-h$k" link set lo up
    # a host's TCP gives up on a peer that stopped acknowledging after 5 retransmissions (about
    # 13 s) instead of Linux's default 15 (about 15 minutes): a host cut off mid-run ends the job
    # promptly, even when the launcher was sending to it at that moment
    ip netns exec "cvt-h$k" sysctl -q -w net.ipv4.tcp_retries2=5
  done
}

up() {
  local n=$1 k
  make_namespaces "$n"
  ip -n "$sw" link add br0 type bridge
  ip -n "$sw" link set br0 up
  for k in $(seq 1 "$n"); do
    ip link add "h$k" netns "$sw" type veth peer name eth0 netns "cvt-h$k"
    ip -n "$sw" link set "h$k" master br0 up
    ip -n "cvt-h$k" addr add "$net.$k/24" dev eth0
    ip -n "cvt-h$k" link set eth0 up
  done
  say "$n hosts up: $(for k in $(seq 1 "$n"); do printf 'cvt-h%d=%s.%d ' "$k" "$net" "$k"; done)"
}

wire() {
  local n=$1 delay_us=$2 rate_mbit=$3 k prog=${CVTRAIN_NET_WIRE:-$here/../build/bench/net_wire}
  [[ -x $prog ]] || { say "no net_wire program at $prog (build the bench targets)"; exit 2; }
  make_namespaces "$n"
  "$prog" --hosts "$n" --delay-us "$delay_us" --rate-mbit "$rate_mbit" > /run/cvt-net-wire.log 2>&1 &
  echo $! > "$wire_pid"
  for _ in $(seq 1 50); do grep -q ready /run/cvt-net-wire.log && break; sleep 0.1; done
  grep -q ready /run/cvt-net-wire.log || { cat /run/cvt-net-wire.log >&2; say "net_wire did not start"; exit 1; }
  for k in $(seq 1 "$n"); do
    ip -n "cvt-h$k" addr add "$net.$k/24" dev eth0
    ip -n "cvt-h$k" link set eth0 mtu 65000 up
  done
  say "$n hosts on net_wire (${delay_us} us one way, ${rate_mbit} Mbit/s per link; 0: unlimited)"
}

link() {
  local state=$1 k=$2 h
  ip netns list | grep -q "^cvt-h$k\b" || { say "no host $k"; exit 2; }
  ip -n "$sw" link set "h$k" "$state"
  [[ $state == up ]] || return 0
  # Address resolution that failed while the cable was out is remembered for a while, and a
  # connection made then fails at once (EHOSTUNREACH): forget it on both ends, then wait until
  # host K reaches each other host (a refused connection to port 9 is an answer).
  ip -n "cvt-h$k" neigh flush all
  for h in $(hosts); do
    [[ $h == "cvt-h$k" ]] && continue
    ip -n "$h" neigh flush to "$net.$k"
    for _ in $(seq 1 50); do
      ip netns exec "cvt-h$k" timeout 1 bash -c "exec 3<> /dev/tcp/$net.${h#cvt-h}/9" 2>&1 | grep -q refused && break
      sleep 0.1
    done
  done
}

run_mpi() {
  local n=$1 hostlist k
  shift
  hostlist=$(for k in $(seq 1 "$n"); do printf '%s.%d:1,' "$net" "$k"; done)
  # btl tcp,self: no shared memory between ranks; oob and btl both on eth0, the namespace's one link.
  # TCP keepalive on the launcher's own connections (5 s idle, then 5 probes 2 s apart): a host whose
  # link is gone is declared lost after about 15 s, not Open MPI's default 8 minutes, so mpirun and
  # the daemons end with the job instead of waiting for a host that cannot answer. routed direct:
  # every daemon talks to mpirun itself, not through a tree of the others (which failed to wire up
  # 4 hosts over 10 ms links).
  exec ip netns exec cvt-h1 mpirun --allow-run-as-root --host "${hostlist%,}" -np "$n" --bind-to none \
    --mca plm_rsh_agent "$here/netns-rsh" --mca pml ob1 --mca btl tcp,self --mca btl_tcp_if_include eth0 \
    --mca oob_tcp_if_include eth0 --mca routed direct --mca oob_tcp_keepalive_time 5 --mca oob_tcp_keepalive_intvl 2 \
    --mca oob_tcp_keepalive_probes 5 -x OMP_NUM_THREADS=1 -x PATH "$@"
}

case "${1:-}" in
  up) up "${2:?up N}" ;;
  down) down ;;
  wire) wire "${2:?wire N DELAY_US RATE_MBIT}" "${3:?wire N DELAY_US RATE_MBIT}" "${4:?wire N DELAY_US RATE_MBIT}" ;;
  cut) link down "${2:?cut K}" ;;
  mend) link up "${2:?mend K}" ;;
  mpirun) shift; run_mpi "${1:?mpirun N ARGS}" "${@:2}" ;;
  *) sed -n '2,20p' "$0"; exit 2 ;;
esac
