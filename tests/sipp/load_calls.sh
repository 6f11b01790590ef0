#!/usr/bin/env bash
# Call load on a release `vss serve`, with SIPp callers and callees on the same machine
# (issue 5). Run through `tests/sipp/load.sh calls RATE COUNT` or directly:
#
#   tests/sipp/load_calls.sh RATE COUNT
#
# Signalling only, INVITE to BYE (no RTP; every call's SDP still goes through the
# media engine, which opens relay ports for both legs). Two runs of COUNT calls at RATE
# per second, each against the same server:
#   auth     slots → vss → carrier: call_slot.xml (INVITE → 407 → ACK → INVITE with
#            Proxy-Authorization, 100, 180, 200, ACK, BYE, 200), cycling over 999
#            provisioned slots, to a SIPp UAS behind a trunk (call_callee.xml, answer)
#   no-auth  carrier → vss → slot: call_carrier.xml to a DID (the carrier is known by
#            its address, no challenge) ringing a registered slot (call_callee.xml).
#            The routing plan has no carrier-to-carrier path, so this is the call
#            without proxy authentication.
# Each call lasts LOAD_HOLD_MS (default 0) between ACK and BYE. Before them (after a
# 100-call warm-up), unless LOAD_MEM=0, a memory run on the fresh server: LOAD_MEM
# (default 2000) authenticated calls held up at once (a long pause before the BYE), the
# server's RSS before, at the plateau and after. It needs 4 file descriptors per call
# in vss (ulimit -n).
#
# Prints for each run: calls per second achieved, failed calls (SIPp's counts on both
# sides), the server's CPU time (utime + stime of all its threads, /proc/PID/stat) per
# 1,000 calls and per call, per-thread CPU, and its RSS before and after; at the end,
# the CDRs written (one per call expected, all ANSWERED).
#
# Environment: VSS_BIN (default target/release/vss), LOAD_AUTH=both|auth|no-auth
# (default both), LOAD_HOLD_MS, LOAD_MEM, LOAD_DB=sqlite|postgres, LOAD_KEEP=1 keeps the
# work directory, LOAD_TRACE=1 has SIPp write every message there (slow), CALLS_PORT_BASE
# as in calls.sh (default 25060; the fixed SIPp ports are base+0..+42 and base+1000..).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
here=$(pwd)
root=$(cd ../.. && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"

usage() {
  cat >&2 <<'USAGE'
usage: tests/sipp/load_calls.sh RATE COUNT    (or: tests/sipp/load.sh calls RATE COUNT)
         COUNT calls at RATE per second, INVITE to BYE, slots → carrier with proxy
         authentication and carrier → slot without, against a release `vss serve`
         (VSS_BIN, default target/release/vss). LOAD_AUTH=both|auth|no-auth,
         LOAD_HOLD_MS (call length, default 0), LOAD_MEM (calls held for the memory
         run, default 2000; 0 skips it), LOAD_DB=sqlite|postgres, LOAD_KEEP=1.
USAGE
  exit 2
}

[[ $# -eq 2 ]] || usage
rate=$1
count=$2
[[ $rate =~ ^[1-9][0-9]*$ && $count =~ ^[1-9][0-9]*$ ]] || usage
which_runs=${LOAD_AUTH:-both}
case "$which_runs" in both | auth | no-auth) ;; *) usage ;; esac
hold_ms=${LOAD_HOLD_MS:-0}
mem_calls=${LOAD_MEM:-2000}
[[ $hold_ms =~ ^[0-9]+$ && $mem_calls =~ ^[0-9]+$ ]] || usage

command -v sipp >/dev/null || { echo "load_calls.sh: sipp not found (apt-get install sip-tester)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "load_calls.sh: python3 not found (it reads the CDRs)" >&2; exit 1; }
bin=${VSS_BIN:-$root/target/release/vss}
if [[ ! -x "$bin" ]]; then
  echo "load_calls.sh: $bin not found; build it first: cargo build --release -p vss" >&2
  exit 1
fi

# Every call holds four media sockets (RTP and RTCP of both legs) in vss while it is up.
fds=$(ulimit -n)
if [[ $fds != unlimited ]] && ((mem_calls * 4 + 1000 > fds)); then
  echo "load_calls.sh: LOAD_MEM=$mem_calls calls need $((mem_calls * 4 + 1000)) file descriptors in vss; ulimit -n is $fds" >&2
  exit 1
fi

work=$(mktemp -d)
callee_pid=""
sampler_pid=""
cleanup() {
  if [[ -n "$callee_pid" ]]; then kill "$callee_pid" 2>/dev/null || true; fi
  if [[ -n "$sampler_pid" ]]; then kill "$sampler_pid" 2>/dev/null || true; fi
  lib_cleanup
  if [[ -n "${LOAD_KEEP:-}" ]]; then
    echo "load_calls.sh: work directory kept: $work"
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

call_ports
number=5550100
did=4420001

# SIPp options every run shares: bounded, statistics every second, big socket buffers.
common=(-max_recv_loops 10000 -buff_size 4194304 -default_behaviors "all,-bye"
  -key domain "$domain" -trace_err -trace_stat -fd 1)
# trace NAME: with LOAD_TRACE=1, SIPp's options to write every message to NAME.msg in
# the work directory (slow: for finding out why calls fail, not for measuring).
trace() {
  if [[ -n "${LOAD_TRACE:-}" ]]; then echo -trace_msg -message_file "$work/$1.msg"; fi
}

# start_callee NAME IP PORT MP: a SIPp UAS answering every call (call_callee.xml), in
# the background until stop_callee.
start_callee() {
  local name=$1 ip=$2 port=$3 mp=$4
  # shellcheck disable=SC2046 # trace's options: two words or none, split on purpose
  sipp -sf "$here/call_callee.xml" -key mode answer -i "$ip" -p "$port" -mp "$mp" \
    "${common[@]}" -error_file "$work/$name.err" -stf "$work/$name.csv" $(trace "$name") \
    >"$work/$name.out" 2>&1 </dev/null &
  callee_pid=$!
  wait_udp_bound "$ip:$port" || { echo "load_calls.sh: nothing bound $ip:$port" >&2; return 1; }
}
stop_callee() {
  stop_sipp "$callee_pid"
  callee_pid=""
}

total_failed=0
calls_made=0

# measure NAME CALLS RATE HOLD_MS SIPP-ARGS...: one SIPp UAC run of CALLS calls against
# the server, with its CPU and memory before and after; prints the result lines.
measure() {
  local name=$1 n=$2 r=$3 hold=$4; shift 4
  # SIPp's limit on calls up at once: the calls of a hold plus two seconds at the rate.
  local limit=$((r * (hold / 1000 + 2)))
  limit=$((limit > 1000 ? limit : 1000))
  local budget=$((n * 3 / r + hold / 1000 + 60))
  local status=0 u0 s0 u1 s1 rss0 rss1 start_ns end_ns
  read -r u0 s0 < <(cpu_ticks "$server_pid")
  thread_ticks "$server_pid" >"$work/$name.threads0"
  rss0=$(rss_kib "$server_pid")
  local load0
  load0=$(cut -d' ' -f1-3 /proc/loadavg)
  start_ns=$(date +%s%N)
  TIMEFORMAT='%U %S'
  # shellcheck disable=SC2046 # as in start_callee
  { time timeout $((budget + 30)) sipp "$target" "$@" -r "$r" -rp 1000 -m "$n" -l "$limit" \
    -d "$hold" -timeout "$budget" -timeout_error "${common[@]}" \
    -error_file "$work/$name.err" -stf "$work/$name.csv" $(trace "$name") \
    >"$work/$name.out" 2>&1 </dev/null || status=$?; } 2>"$work/$name.time"
  end_ns=$(date +%s%N)
  read -r u1 s1 < <(cpu_ticks "$server_pid")
  thread_ticks "$server_pid" >"$work/$name.threads1"
  rss1=$(rss_kib "$server_pid")
  local ok failed retrans sipp_user sipp_sys
  ok=$(stat_col "$work/$name.csv" 'SuccessfulCall(C)')
  failed=$(stat_col "$work/$name.csv" 'FailedCall(C)')
  retrans=$(stat_col "$work/$name.csv" 'Retransmissions(C)')
  read -r sipp_user sipp_sys <"$work/$name.time" || true
  calls_made=$((calls_made + n))
  awk -v name="$name" -v n="$n" -v r="$r" -v ok="$ok" -v failed="$failed" -v retrans="$retrans" \
    -v ns=$((end_ns - start_ns)) -v du=$((u1 - u0)) -v ds=$((s1 - s0)) -v hz="$(getconf CLK_TCK)" \
    -v rss0="$rss0" -v rss1="$rss1" -v su="${sipp_user:-?}" -v ss="${sipp_sys:-?}" \
    -v status="$status" -v hold="$hold" -v l0="$load0" -v l1="$(cut -d' ' -f1-3 /proc/loadavg)" 'BEGIN {
    secs = ns / 1e9
    cpu = (du + ds) / hz
    printf "load_calls.sh %s: %d calls asked at %d/s, %d ms each between ACK and BYE\n", name, n, r, hold
    printf "  calls         : %d ok, %d failed, %d SIPp retransmissions, in %.1f s (sipp exit %d)\n", ok, failed, retrans, secs, status
    printf "  achieved      : %.0f calls/s\n", ok / secs
    printf "  server CPU    : %.2f s (user %.2f, system %.2f)\n", cpu, du / hz, ds / hz
    if (ok > 0)
      printf "  per call      : %.3f CPU s per 1,000 calls = %.0f us per call\n", cpu * 1000 / ok, cpu * 1e6 / ok
    printf "  server memory : VmRSS %d KiB before, %d KiB after\n", rss0, rss1
    printf "  caller SIPp   : user %s s, system %s s (on the same 2 cores)\n", su, ss
    printf "  load average  : %s before, %s after\n", l0, l1
  }'
  awk -v hz="$(getconf CLK_TCK)" 'NR == FNR { before[$1] = $3; next }
    { by[$2] += $3 - before[$1] }
    END { printf "  server threads:"; for (t in by) printf " %s %.2f s;", t, by[t] / hz; print "" }' \
    "$work/$name.threads0" "$work/$name.threads1"
  if ((status != 0 || failed > 0 || ok != n)); then
    echo "load_calls.sh $name: not every call succeeded; the caller's errors:" >&2
    sipp_errors "$work/$name.err" >&2
    total_failed=$((total_failed + (n - ok)))
  fi
}

# callee_result NAME: the callee's own count of failed calls (SIPp UAS).
callee_result() {
  local failed
  failed=$(stat_col "$work/$1.csv" 'FailedCall(C)')
  echo "  callee SIPp   : $(stat_col "$work/$1.csv" 'SuccessfulCall(C)') ok, $failed failed"
  if ((failed > 0)); then
    echo "load_calls.sh $1: the callee saw failed calls:" >&2
    sipp_errors "$work/$1.err" >&2
    total_failed=$((total_failed + failed))
  fi
}

# 999 AUTO slots call (pw<extension>); slot 6002 also answers the DID.
write_slots_csv "$work/slots.csv" 999 0 0
write_users_csv "$work/slots.csv" "$work/users.csv"
db=${LOAD_DB:-sqlite}
case "$db" in
  sqlite) url="sqlite://$work/vss.db" ;;
  postgres)
    pg_create
    url=$pg_url
    ;;
  *)
    echo "load_calls.sh: LOAD_DB must be sqlite or postgres" >&2
    exit 2
    ;;
esac
max_cps=$((rate * 2 > 1000 ? rate * 2 : 1000))
config="$work/vss.toml"
# Four media ports per call (RTP and RTCP of both legs): room for 5,000 calls.
export VSS_MEDIA__RTP_PORTS=40000-59999
write_config "$config" "$url" "$(
  cat <<TOML
[b2bua]
# The load generator's rate must not meet the server's own limit.
max_cps = $max_cps

[[trunks]]
name = "carrier1"
address = "$carrier_ip:$carrier_port"
prefixes = [""]
inbound_acl = ["$carrier_ip"]
dids = { "$did" = "6002" }
options_interval_s = 0
TOML
)"
echo "load_calls.sh: $bin, database $db, $(($(wc -l <"$work/slots.csv") - 1)) slots; $(nproc) CPUs; $(uptime)"
provision "$bin" "$config" "$work/slots.csv"
start_vss "$bin" "$config" "$work/vss.log"
echo "load_calls.sh: vss pid $server_pid listening on udp $target"

# The callee slot registers (for the DID) from the address it answers on.
sipp "$target" -sf "$here/register_auth.xml" -inf "$here/calls_callee.csv" -i "$slot_ip" \
  -p "$callee_port" -m 1 -timeout 20 -timeout_error "${common[@]}" \
  -error_file "$work/register.err" -stf "$work/register.csv" >"$work/register.out" 2>&1 </dev/null || {
  echo "load_calls.sh: slot 6002 could not register" >&2
  sipp_errors "$work/register.err" >&2
  exit 1
}

slot_uac=(-sf "$here/call_slot.xml" -inf "$work/users.csv" -key mode bye -key number "$number"
  -auth_uri "$number@$domain" -i "$slot_ip" -p "$caller_port" -mp $((base + 1100)))
carrier_uac=(-sf "$here/call_carrier.xml" -key mode bye -key number "$did"
  -i "$carrier_ip" -p "$carrier_uac_port" -mp $((base + 1200)))

# A short warm-up, so that the measured runs do not pay for first-time set-up.
start_callee warmup-callee "$carrier_ip" "$carrier_port" $((base + 1000))
measure warmup 100 50 0 "${slot_uac[@]}" >/dev/null
stop_callee

# The memory run comes first, on a fresh server: after the rate runs the allocator keeps
# the memory their transactions (up to 32 s each) used, and new calls would reuse it.
if ((mem_calls > 0)); then
  # All LOAD_MEM calls up at once: set-up at most 500/s, then held 5 s past the last.
  mem_rate=$((rate < 500 ? rate : 500))
  hold=$(((mem_calls / mem_rate + 5) * 1000))
  start_callee mem-callee "$carrier_ip" "$carrier_port" $((base + 1000))
  rss_before=$(rss_kib "$server_pid")
  echo "$rss_before" >"$work/mem.peak"
  # Sample while the calls are up (in the background; measure runs here, so that its
  # counts of calls and failures stay in this shell); the plateau is the largest value.
  (
    peak=$rss_before
    while kill -0 "$server_pid" 2>/dev/null; do
      now_rss=$(rss_kib "$server_pid") || break
      if ((now_rss > peak)); then
        peak=$now_rss
        echo "$peak" >"$work/mem.peak"
      fi
      sleep 0.25
    done
  ) &
  sampler_pid=$!
  measure mem "$mem_calls" "$mem_rate" "$hold" "${slot_uac[@]}"
  kill "$sampler_pid" 2>/dev/null || true
  wait "$sampler_pid" 2>/dev/null || true
  sampler_pid=""
  peak=$(<"$work/mem.peak")
  stop_callee
  callee_result mem-callee
  awk -v n="$mem_calls" -v b="$rss_before" -v p="$peak" -v a="$(rss_kib "$server_pid")" 'BEGIN {
    printf "  memory        : VmRSS %d KiB before, %d KiB with %d calls up, %d KiB after: %.1f KiB per active call (relay buffers included)\n", b, p, n, a, (p - b) / n
  }'
fi
if [[ $which_runs != no-auth ]]; then
  start_callee auth-callee "$carrier_ip" "$carrier_port" $((base + 1000))
  measure auth "$count" "$rate" "$hold_ms" "${slot_uac[@]}"
  stop_callee
  callee_result auth-callee
fi
if [[ $which_runs != auth ]]; then
  start_callee no-auth-callee "$slot_ip" "$callee_port" $((base + 1300))
  measure no-auth "$count" "$rate" "$hold_ms" "${carrier_uac[@]}"
  stop_callee
  callee_result no-auth-callee
fi

# The orderly stop flushes every CDR of the journal into the database.
stop_vss

if [[ $db == sqlite ]]; then
  python3 - "$work/vss.db" "$calls_made" <<'PY' || total_failed=$((total_failed + 1))
import sqlite3, sys
db = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True)
want = int(sys.argv[2])
rows = dict(db.execute("select disposition, count(*) from call_records group by disposition"))
total = sum(rows.values())
print("load_calls.sh cdrs: %d CDRs for %d calls: %s" % (total, want, rows))
sys.exit(0 if total == want and rows.get("ANSWERED") == want else 1)
PY
fi
if ((total_failed > 0)); then
  echo "load_calls.sh: $total_failed failed call(s) or checks" >&2
  exit 1
fi
