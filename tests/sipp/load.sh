#!/usr/bin/env bash
# Load tests of a release `vss serve` with SIPp on the same machine. See README.md.
#
#   tests/sipp/load.sh register RATE COUNT
#       COUNT authenticated registrations (register_auth.xml: REGISTER → 401 → REGISTER
#       → 200) started at RATE per second, cycling over every slot of the numbering plan
#       (2,997: 6001-6999, 7001-7999, 8001-8999). The first registration of each slot
#       creates its binding; the later ones refresh it. Prints registrations per second
#       achieved, failures, and the server's CPU time (user + system, from /proc) per
#       10,000 registrations and per registration.
#   tests/sipp/load.sh calls RATE COUNT
#       The B2BUA's call load (load_calls.sh, which this hands over to): COUNT calls
#       INVITE to BYE at RATE per second, slot → carrier with proxy authentication and
#       carrier → slot without, then calls held at once for memory per call. Prints
#       calls per second, failed calls, and the server's CPU seconds per 1,000 calls.
#       Its own environment (LOAD_AUTH, LOAD_HOLD_MS, LOAD_MEM, ...): see its header.
#
# Environment: VSS_BIN (default target/release/vss; build it with
# `cargo build --release -p vss`), LOAD_DB=sqlite|postgres (default sqlite; postgres uses a
# fresh database on $VSS_TEST_PG_URL, dropped at the end), LOAD_KEEP=1 keeps the work
# directory (logs, SIPp statistics) and prints its path.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
here=$(pwd)
root=$(cd ../.. && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"

usage() {
  cat >&2 <<'USAGE'
usage: tests/sipp/load.sh register RATE COUNT
         COUNT digest-authenticated registrations at RATE per second against a release
         `vss serve` (VSS_BIN, default target/release/vss); LOAD_DB=sqlite|postgres.
       tests/sipp/load.sh calls RATE COUNT
         COUNT calls (INVITE to BYE) at RATE per second through the B2BUA, with and
         without proxy authentication, and memory per active call: load_calls.sh.
USAGE
  exit 2
}

mode=${1:-}
case "$mode" in
  register) ;;
  calls)
    shift
    exec bash "$here/load_calls.sh" "$@"
    ;;
  *) usage ;;
esac
[[ $# -eq 3 ]] || usage
rate=$2
count=$3
[[ $rate =~ ^[1-9][0-9]*$ && $count =~ ^[1-9][0-9]*$ ]] || usage

command -v sipp >/dev/null || { echo "load.sh: sipp not found (apt-get install sip-tester)" >&2; exit 1; }
bin=${VSS_BIN:-$root/target/release/vss}
if [[ ! -x "$bin" ]]; then
  echo "load.sh: $bin not found; build it first: cargo build --release -p vss" >&2
  exit 1
fi

work=$(mktemp -d)
cleanup() {
  lib_cleanup
  if [[ -n "${LOAD_KEEP:-}" ]]; then
    echo "load.sh: work directory kept: $work"
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Context switches of all the server's threads, voluntary + involuntary (a thread going
# to sleep or being preempted; their cost is part of the CPU time).
ctx_switches() {
  cat /proc/"$1"/task/*/status 2>/dev/null | awk '/_ctxt_switches:/ { n += $2 } END { print n + 0 }'
}

write_slots_csv "$work/slots.csv" 999 999 999
write_users_csv "$work/slots.csv" "$work/users.csv"
slots=$(($(wc -l <"$work/slots.csv") - 1))

db=${LOAD_DB:-sqlite}
case "$db" in
  sqlite) url="sqlite://$work/vss.db" ;;
  postgres)
    pg_create
    url=$pg_url
    ;;
  *)
    echo "load.sh: LOAD_DB must be sqlite or postgres" >&2
    exit 2
    ;;
esac
config="$work/vss.toml"
write_config "$config" "$url"
echo "load.sh: $bin, database $db, $slots slots"
provision "$bin" "$config" "$work/slots.csv"
start_vss "$bin" "$config" "$work/vss.log"
echo "load.sh: vss pid $server_pid listening on udp $target"

ticks=$(getconf CLK_TCK)
# Enough calls in flight for a second of delay at the full rate, and time for all of them.
limit=$((rate > 1000 ? rate : 1000))
budget=$((count * 3 / rate + 60))
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
read -r u0 s0 < <(cpu_ticks "$server_pid")
thread_ticks "$server_pid" >"$work/threads.before"
cs0=$(ctx_switches "$server_pid")
rss0=$(rss_kib "$server_pid")
start_ns=$(date +%s%N)
status=0
TIMEFORMAT='%U %S'
{ time timeout $((budget + 30)) sipp "$target" -sf "$here/register_auth.xml" \
  -inf "$work/users.csv" -key domain vss.test -i 127.0.0.1 -p 0 -t u1 \
  -r "$rate" -rp 1000 -m "$count" -l "$limit" \
  -timeout "$budget" -timeout_error -max_recv_loops 10000 -buff_size 4194304 -default_behaviors all,-bye \
  -trace_err -error_file "$work/sipp.err" -trace_stat -stf "$work/sipp.csv" -fd 1 \
  >"$work/sipp.out" 2>&1 </dev/null || status=$?; } 2>"$work/sipp.time"
end_ns=$(date +%s%N)
read -r u1 s1 < <(cpu_ticks "$server_pid")
thread_ticks "$server_pid" >"$work/threads.after"
cs1=$(ctx_switches "$server_pid")
rss1=$(rss_kib "$server_pid")
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
stop_vss

# The last line of SIPp's statistics file, by column name (cumulative counters).
stat() {
  awk -F';' -v col="$1" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == col) c = i; next }
    { v = $c } END { print (v == "" ? 0 : v) }' "$work/sipp.csv"
}
ok=$(stat 'SuccessfulCall(C)')
failed=$(stat 'FailedCall(C)')
retrans=$(stat 'Retransmissions(C)')
read -r sipp_user sipp_sys <"$work/sipp.time" || true
dropped=$(grep -o 'dropped_under_overload=[0-9]*' "$work/vss.log" | tail -n1 | cut -d= -f2)

awk -v ok="$ok" -v failed="$failed" -v retrans="$retrans" -v count="$count" -v rate="$rate" \
  -v ns=$((end_ns - start_ns)) -v du=$((u1 - u0)) -v ds=$((s1 - s0)) -v hz="$ticks" \
  -v su="${sipp_user:-?}" -v ss="${sipp_sys:-?}" -v rss0="$rss0" -v rss1="$rss1" \
  -v slots="$slots" -v dropped="${dropped:-?}" -v lb="$load_before" -v la="$load_after" \
  -v status="$status" -v cs=$((cs1 - cs0)) 'BEGIN {
  secs = ns / 1e9
  cpu = (du + ds) / hz
  printf "load.sh register: %d registrations asked at %d/s over %d slots (the first %d add bindings, the rest refresh)\n", count, rate, slots, (count < slots ? count : slots)
  printf "  registrations : %d ok, %d failed, %d SIPp retransmissions, in %.1f s (sipp exit %d)\n", ok, failed, retrans, secs, status
  printf "  achieved      : %.0f registrations/s = %.0f REGISTER/s (each is REGISTER-401 + REGISTER-200)\n", ok / secs, 2 * ok / secs
  printf "  server CPU    : %.2f s (user %.2f, system %.2f; %d ticks/s)\n", cpu, du / hz, ds / hz, hz
  if (ok > 0)
    printf "  per ok reg.   : %.3f CPU s per 10,000 registrations, %.1f us per registration, %.1f context switches\n", cpu * 10000 / ok, cpu * 1e6 / ok, cs / ok
  printf "  server memory : VmRSS %d KiB before, %d KiB after; messages dropped under overload: %s\n", rss0, rss1, dropped
  printf "  sipp CPU      : user %s s, system %s s (same 2 cores as the server)\n", su, ss
  printf "  load average  : %s before, %s after\n", lb, la
}'
# CPU seconds per thread name (threads that ended during the run are not counted here).
awk -v hz="$ticks" 'NR == FNR { before[$1] = $3; next }
  { by[$2] += $3 - before[$1] }
  END { printf "  server threads:"; for (n in by) printf " %s %.2f s;", n, by[n] / hz; print "" }' \
  "$work/threads.before" "$work/threads.after"
if ((status != 0 || failed > 0 || ok != count)); then
  echo "load.sh: not every registration succeeded; SIPp's errors:" >&2
  sed -E 's/(20[0-9]{2}-[0-9]{2}-[0-9]{2}\t)/\n\1/g' "$work/sipp.err" 2>/dev/null |
    grep -v -e 'Failed to delete FD from epoll' -e '^$' | head -n 10 >&2
  exit 1
fi
