#!/usr/bin/env bash
# Relay CPU per packet, VSS against rtpengine (userspace forwarding), per process and
# system-wide, on loopback. Not part of `make test`: it needs rtpengine and minutes.
#
#   tests/media/compare.sh CALLS SECONDS [ROUNDS]
#
# Each round runs the RTP load tool (media/examples/rtp_load) three times with the same
# CALLS and SECONDS: the direct baseline (no relay; each end sends straight to the other),
# the VSS relay (`rtp_load relay`, started here, or the one at VSS_NG) and rtpengine
# (started here with --table=-1, as BENCHMARKS.md shows). Odd rounds run VSS before
# rtpengine, even rounds after, so neither always follows the baseline.
#
# Per-process cost: the relay process's user + system CPU per delivered packet.
# System-wide cost ("sys"): the whole machine's busy CPU (wall time × CPUs − idle −
# iowait − steal, from /proc/stat) per delivered packet with the relay, minus the same
# round's direct baseline. It also counts a relay whose packets the kernel forwards in
# the sender's softirq, and it also counts whatever else the machine does: on a
# saturated machine (busy % near 100) it cannot show anything. Attributed cost ("attr"):
# the same subtraction over the CPU of the load tool, the relay and ksoftirqd only; it
# holds under other load where the kernel charges softirq time to the task it interrupts
# (see media/src/loadgen/cpu.rs).
#
# Limits: CALLS 1-10000, SECONDS 1-120, ROUNDS 1-10 (default 3); every run has a time
# limit, and everything started here is stopped on exit.
#
# Environment:
#   RTP_LOAD_BIN    the load tool (default target/release/examples/rtp_load; build it with
#                   cargo build --release -p media --example rtp_load)
#   VSS_NG          load an already running VSS relay at this loopback ng address instead
#                   of starting one (VSS_PID: its process id; default: the port's owner)
#   RTPENGINE_BIN   default: rtpengine on PATH (Debian: apt-get install rtpengine-daemon)
#   COMPARE_VSS_PORT, COMPARE_RTPENGINE_PORT   ng ports (default 22299, 22223)
#   COMPARE_VSS_KERNEL  auto|on|off: the started VSS relay's in-kernel forwarding
#                   (media.kernel_forwarding; default auto: on when run as root)
#   COMPARE_KEEP=1  keep the work directory (every run's full report, relay logs)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=../sipp/lib.sh
source "$root/tests/sipp/lib.sh"

usage() {
  echo "usage: tests/media/compare.sh CALLS SECONDS [ROUNDS]   (1-10000, 1-120, 1-10; default 3 rounds)" >&2
  exit 2
}
[[ $# -eq 2 || $# -eq 3 ]] || usage
calls=$1
seconds=$2
rounds=${3:-3}
for n in "$calls" "$seconds" "$rounds"; do
  [[ $n =~ ^[1-9][0-9]*$ ]] || usage
done
((calls <= 10000 && seconds <= 120 && rounds <= 10)) || usage

bin=${RTP_LOAD_BIN:-$root/target/release/examples/rtp_load}
if [[ ! -x "$bin" ]]; then
  echo "compare.sh: $bin not found; build it: cargo build --release -p media --example rtp_load" >&2
  echo "  (or set RTP_LOAD_BIN)" >&2
  exit 1
fi
rtpengine=${RTPENGINE_BIN:-$(command -v rtpengine || true)}
if [[ -z "$rtpengine" || ! -x "$rtpengine" ]]; then
  echo "compare.sh: rtpengine not found; install it: apt-get install rtpengine-daemon" >&2
  echo "  (or set RTPENGINE_BIN)" >&2
  exit 1
fi
vss_port=${COMPARE_VSS_PORT:-22299}
vss_kernel=${COMPARE_VSS_KERNEL:-auto}
case "$vss_kernel" in auto | on | off) ;; *) echo "compare.sh: COMPARE_VSS_KERNEL must be auto, on or off" >&2; exit 2 ;; esac
rtpe_port=${COMPARE_RTPENGINE_PORT:-22223}
vss_ng=${VSS_NG:-}
if [[ -n "$vss_ng" && ! $vss_ng =~ ^(127\.[0-9.]+|\[::1\]):[0-9]+$ ]]; then
  echo "compare.sh: VSS_NG must be a loopback address with a port, e.g. 127.0.0.1:22222" >&2
  exit 2
fi

# Each run gets this long (call set-up through ng included) before it is stopped.
run_limit=$((seconds + 60 + calls / 20))

work=$(mktemp -d)
started_pid=""
started_log=""
stop_started() {
  if [[ -n "$started_pid" ]]; then
    stop_process "$started_pid" 50
    started_pid=""
  fi
}
cleanup() {
  stop_started
  if [[ -n "${COMPARE_KEEP:-}" ]]; then
    echo "compare.sh: work directory kept: $work"
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# udp_port_taken PORT: whether any local UDP socket is bound to PORT (/proc/net/udp*).
udp_port_taken() {
  local hex
  hex=$(printf '%04X' "$1")
  cat /proc/net/udp /proc/net/udp6 2>/dev/null | awk -v p=":$hex" 'NR > 1 && substr($2, length($2) - 4) == p { f = 1 } END { exit !f }'
}

# start_relay NAME PORT LOG COMMAND...: starts a relay in the background (sets
# started_pid) after checking that nobody else holds its ng port: loading someone else's
# relay would measure the wrong process.
start_relay() {
  local name=$1 port=$2 log=$3
  shift 3
  if udp_port_taken "$port"; then
    echo "compare.sh: UDP port $port is already in use; stop what holds it or set COMPARE_${name}_PORT" >&2
    return 1
  fi
  "$@" >"$log" 2>&1 &
  started_pid=$!
  started_log=$log
}

# load OUT ARGS...: one run of the load tool, its report in OUT.
load() {
  local out=$1
  shift
  if ! timeout --kill-after=5 "$run_limit" "$bin" --calls "$calls" --seconds "$seconds" "$@" >"$out" 2>&1; then
    cat "$out" >&2
    if [[ -n "$started_pid" ]]; then
      echo "compare.sh: the relay's log ($started_log):" >&2
      tail -n 20 "$started_log" >&2
    fi
    echo "compare.sh: load run failed: $bin $*" >&2
    return 1
  fi
}

# field FILE NAME: one figure of a report (empty when it is missing).
field() {
  case $2 in
    proc) sed -n 's/^relay pid .*(\([0-9.]*\) µs\/packet)$/\1/p' "$1" ;;
    machine) sed -n 's/^machine cpu .*=  *\([0-9.]*\) µs\/packet.*/\1/p' "$1" ;;
    busy) sed -n 's/^machine cpu .* CPUs (\([0-9.]*\) %).*/\1/p' "$1" ;;
    attr) sed -n 's/^attributed cpu .*=  *\([0-9.]*\) µs\/packet.*/\1/p' "$1" ;;
    load) awk '/^load average/ { print $3 }' "$1" ;;
    loss) sed -n 's/^lost .*(\([0-9.]*\) %)$/\1/p' "$1" ;;
    rate) sed -n 's/^offered packets .*(\([0-9]*\)\/s)$/\1/p' "$1" ;;
  esac
}

vss_run() {
  local r=$1
  if [[ -n "$vss_ng" ]]; then
    load "$work/vss.$r" --ng "$vss_ng" ${VSS_PID:+--pid "$VSS_PID"}
  else
    start_relay VSS "$vss_port" "$work/vss-relay.$r.log" "$bin" relay --ng "127.0.0.1:$vss_port" --kernel "$vss_kernel"
    load "$work/vss.$r" --ng "127.0.0.1:$vss_port" --pid "$started_pid"
    stop_started
  fi
}

rtpengine_run() {
  local r=$1
  start_relay RTPENGINE "$rtpe_port" "$work/rtpengine.$r.log" "$rtpengine" --config-file=none \
    --interface=127.0.0.1 --listen-ng="127.0.0.1:$rtpe_port" --port-min=40000 --port-max=49999 \
    --table=-1 --foreground --log-stderr --log-level=3 --num-threads=2 --delete-delay=0
  load "$work/rtpengine.$r" --ng "127.0.0.1:$rtpe_port" --pid "$started_pid"
  stop_started
}

echo "compare.sh: $calls calls x $seconds s, $rounds rounds; VSS kernel forwarding $vss_kernel; $(nproc) CPUs; load $(cut -d' ' -f1-3 /proc/loadavg)"
row='%-5s %-9s %9s %6s %8s %11s %6s %8s %6s\n'
# shellcheck disable=SC2059 # the format is a fixed string above
printf "$row" round run "offered/s" loss% "proc µs" "machine µs" busy% "attr µs" load
for ((r = 1; r <= rounds; r++)); do
  order=(direct vss rtpengine)
  ((r % 2 == 0)) && order=(direct rtpengine vss)
  for what in "${order[@]}"; do
    case $what in
      direct) load "$work/direct.$r" --direct ;;
      vss) vss_run "$r" ;;
      rtpengine) rtpengine_run "$r" ;;
    esac
    report="$work/$what.$r"
    # shellcheck disable=SC2059
    printf "$row" "$r" "$what" "$(field "$report" rate)" "$(field "$report" loss)" \
      "$(field "$report" proc)" "$(field "$report" machine)" "$(field "$report" busy)" \
      "$(field "$report" attr)" "$(field "$report" load)"
  done
done

echo
echo "relay cost per delivered packet, µs: proc = the relay process; sys = machine µs with the"
echo "relay − the round's direct baseline; attr = (load tool + relay + ksoftirqd) µs, likewise"
for ((r = 1; r <= rounds; r++)); do
  line=$r
  for f in direct.$r:machine direct.$r:attr vss.$r:proc vss.$r:machine vss.$r:attr \
    rtpengine.$r:proc rtpengine.$r:machine rtpengine.$r:attr; do
    line+=" $(field "$work/${f%%:*}" "${f##*:}")"
  done
  echo "$line"
done | awk '
  # A cost at or below zero is noise, not a cost: no ratio.
  function ratio(a, b) { return a > 0 && b > 0 ? sprintf("%.2f", a / b) : "-" }
  function row(name, dm, da, vp, vs, va, rp, rs, ra) {
    printf "%-5s %7.2f %7.2f | %6.2f %6.2f %6.2f | %6.2f %6.2f %6.2f | %5s %5s %5s\n", name, dm, da,
      vp, vs, va, rp, rs, ra, ratio(vp, rp), ratio(vs, rs), ratio(va, ra)
  }
  BEGIN {
    printf "%-5s %15s | %20s | %20s | %17s\n", "", "direct", "VSS", "rtpengine", "VSS / rtpengine"
    printf "%-5s %7s %7s | %6s %6s %6s | %6s %6s %6s | %5s %5s %5s\n", "round", "machine", "attr",
      "proc", "sys", "attr", "proc", "sys", "attr", "proc", "sys", "attr"
  }
  NF != 9 { print "round " $1 ": a figure is missing from a report" > "/dev/stderr"; bad = 1; next }
  {
    vs = $5 - $2; va = $6 - $3; rs = $8 - $2; ra = $9 - $3
    row($1, $2, $3, $4, vs, va, $7, rs, ra)
    n++; s[1] += $2; s[2] += $3; s[3] += $4; s[4] += vs; s[5] += va; s[6] += $7; s[7] += rs; s[8] += ra
  }
  END {
    if (n > 0) row("mean", s[1] / n, s[2] / n, s[3] / n, s[4] / n, s[5] / n, s[6] / n, s[7] / n, s[8] / n)
    exit bad
  }'
saturated=$(for f in "$work"/*.[0-9]*; do field "$f" busy; done | awk '$1 >= 90 { n++ } END { print n + 0 }')
if ((saturated > 0)); then
  echo "warning: the machine was at least 90 % busy in $saturated run(s): the sys figures cannot show"
  echo "  the relay's cost then (its work only displaced other processes'); read proc and attr."
fi
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
