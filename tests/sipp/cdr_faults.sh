#!/usr/bin/env bash
# The CDR fault tests of issue 6, against a real `vss serve` under SIPp call load.
# Run by `make test` (through run.sh) or directly:
#
#   tests/sipp/cdr_faults.sh
#
# The load: a SIPp carrier (cdr_bye.xml) calls a DID at CDR_FAULTS_RATE calls/s (default
# 30), vss rings a registered SIPp slot (call_callee.xml, answers), and the carrier hangs
# up after 200 ms. For every call whose BYE got its 200, the carrier writes
# "BYE-200 <Call-ID>" to its log: vss journals (fsync) the CDR before that 200 leaves, so
# each of those calls must end up in the database exactly once, found by its
# `a_leg_call_id` (the carrier's Call-ID).
#
#   kill-sqlite, kill-postgres
#       vss on SQLite, then on a fresh database of the shared PostgreSQL
#       ($VSS_TEST_PG_URL, as run.sh); `kill -9` of vss once ~100 calls have completed,
#       with calls still in progress; vss restarted on the same database and journal;
#       once the CDR count has reached the completed calls and stopped moving: every
#       completed call has exactly one CDR, no call has two (calls cut by the kill may
#       have one or none).
#   kill-outage
#       the same on a private PostgreSQL cluster (below) that is stopped for the last
#       5 s before the kill, so the journal holds ~5 s of unshipped CDRs when vss dies;
#       the cluster comes back, vss restarts (it needs its database to start) and must
#       replay them: each completed call exactly once.
#   outage
#       vss on a private PostgreSQL cluster (initdb + pg_ctl in a temporary directory,
#       a free port; the machine's shared server is never touched), call load for
#       ~45 s; the cluster is stopped (`pg_ctl stop -m fast`) for CDR_FAULTS_OUTAGE_S
#       (default 30) while calls go on, then started again. Every call must succeed on
#       both SIPp sides (the journal is local: BYEs are answered during the outage);
#       after the journal drains, every call has exactly one CDR, none twice, none
#       extra; vss logged "CDR database unreachable" once and "CDR database is back"
#       once.
#
# Environment: VSS_BIN (default target/debug/vss), VSS_TEST_PG_URL (the shared server
# for kill-postgres), CDR_FAULTS_RATE, CDR_FAULTS_OUTAGE_S, CDR_FAULTS_ONLY=kill-sqlite|
# kill-postgres|kill-outage|outage (one test), CDR_FAULTS_KEEP=1 keeps the work
# directory. Every process is bounded in time; the whole script takes about 2 minutes. Any
# failed check makes the exit status non-zero and shows the logs that explain it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
here=$(pwd)
root=$(cd ../.. && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"

for tool in sipp python3 psql ss; do
  command -v "$tool" >/dev/null || { echo "cdr_faults.sh: $tool not found (make deps)" >&2; exit 1; }
done
bin=${VSS_BIN:-$root/target/debug/vss}
[[ -x "$bin" ]] || { echo "cdr_faults.sh: $bin not built (cargo build -p vss)" >&2; exit 1; }
rate=${CDR_FAULTS_RATE:-30}
outage_s=${CDR_FAULTS_OUTAGE_S:-30}
only=${CDR_FAULTS_ONLY:-}
[[ $rate =~ ^[1-9][0-9]*$ && $outage_s =~ ^[1-9][0-9]*$ ]] || {
  echo "cdr_faults.sh: CDR_FAULTS_RATE and CDR_FAULTS_OUTAGE_S are positive integers" >&2
  exit 2
}

top=$(mktemp -d)
work=$top
caller_pid=""
callee_pid=""
pg_private=""
pg_private_port=""
failures=0

# as_pg CMD...: a PostgreSQL server program, as the postgres user when we are root
# (initdb and postgres refuse to run as root).
as_pg() {
  if ((EUID == 0)); then runuser -u postgres -- "$@"; else "$@"; fi
}
pg_bin() {
  local b
  b=$(find /usr/lib/postgresql/*/bin -maxdepth 1 -name "$1" 2>/dev/null | sort -V | tail -n1)
  [[ -n $b ]] || b=$(command -v "$1" || true)
  [[ -n $b ]] || { echo "cdr_faults.sh: $1 not found (apt-get install postgresql)" >&2; return 1; }
  echo "$b"
}

private_pg_remove() {
  if [[ -n $pg_private ]]; then
    if [[ -f $pg_private/data/postmaster.pid ]]; then
      as_pg "$(pg_bin pg_ctl)" -D "$pg_private/data" -m immediate -w -t 30 stop >/dev/null 2>&1 ||
        echo "cdr_faults.sh: warning: the private PostgreSQL in $pg_private did not stop" >&2
    fi
    rm -rf "$pg_private"
    pg_private=""
  fi
}

cleanup() {
  stop_sipp "$caller_pid"
  stop_sipp "$callee_pid"
  lib_cleanup
  private_pg_remove
  if [[ -n ${CDR_FAULTS_KEEP:-} ]]; then
    echo "cdr_faults.sh: work directory kept: $top"
  else
    rm -rf "$top"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# free_port PROTO IP: a port the kernel has just handed out (and taken back) on IP.
free_port() {
  python3 - "$1" "$2" <<'PY'
import socket, sys
kind = socket.SOCK_DGRAM if sys.argv[1] == "udp" else socket.SOCK_STREAM
s = socket.socket(socket.AF_INET, kind)
s.bind((sys.argv[2], 0))
print(s.getsockname()[1])
PY
}

fail() {
  echo "  FAIL  $1"
  failures=$((failures + 1))
  shift
  local log
  for log in "$@"; do
    [[ -s $log ]] || continue
    echo "        --- end of $(basename "$log") (without its \"call ended\" lines):"
    grep -v 'call ended' "$log" | tail -n 25 | sed 's/^/        /'
  done
}

slot_ip=127.0.0.2
did=4420001

# setup_vss NAME URL: a work directory for one test, its configuration (a DID of slot
# 6002 from the carrier on 127.0.0.1) and provisioned slots.
setup_vss() {
  work="$top/$1"
  mkdir -p "$work"
  write_slots_csv "$work/slots.csv" 2 0 0
  config="$work/vss.toml"
  write_config "$config" "$2" "$(
    cat <<TOML
[b2bua]
max_cps = 5000

# The carrier: known by its address, calls in to a DID of slot 6002. Nothing is called
# out, and no OPTIONS pings (SIPp takes any request for a new call).
[[trunks]]
name = "carrier1"
address = "127.0.0.1:9"
prefixes = [""]
inbound_acl = ["127.0.0.1"]
dids = { "$did" = "6002" }
options_interval_s = 0
TOML
  )"
  provision "$bin" "$config" "$work/slots.csv" >/dev/null
}

# start_slot: slot 6002 registers from $slot_ip and answers every call in the
# background (call_callee.xml) until stop_sipp.
start_slot() {
  local port mp
  port=$(free_port udp "$slot_ip")
  mp=$(free_port udp "$slot_ip")
  if ! timeout 30 sipp "$target" -sf "$here/register_auth.xml" -inf "$here/calls_callee.csv" \
    -i "$slot_ip" -p "$port" -m 1 -timeout 20 -timeout_error -key domain vss.test \
    -default_behaviors all,-bye -trace_err -error_file "$work/register.err" \
    >"$work/register.out" 2>&1 </dev/null; then
    sipp_errors "$work/register.err" >&2
    echo "cdr_faults.sh: slot 6002 could not register" >&2
    return 1
  fi
  sipp -sf "$here/call_callee.xml" -key mode answer -key domain vss.test -i "$slot_ip" \
    -p "$port" -mp "$mp" -max_recv_loops 10000 -default_behaviors all,-bye \
    -trace_err -error_file "$work/slot.err" -trace_stat -fd 1 -stf "$work/slot.csv" \
    >"$work/slot.out" 2>&1 </dev/null &
  callee_pid=$!
  wait_udp_bound "$slot_ip:$port" || { echo "cdr_faults.sh: the slot's SIPp did not bind $slot_ip:$port" >&2; return 1; }
}

# start_carrier COUNT: the carrier's calls (cdr_bye.xml) in the background, at most
# COUNT of them; "BYE-200 <Call-ID>" lines go to $work/carrier.log.
start_carrier() {
  local mp
  mp=$(free_port udp 127.0.0.1)
  timeout 300 sipp "$target" -sf "$here/cdr_bye.xml" -key number "$did" -key domain vss.test \
    -i 127.0.0.1 -p 0 -mp "$mp" -r "$rate" -m "$1" -l $((rate * 4)) -d 200 \
    -timeout 240 -timeout_error -max_recv_loops 10000 -default_behaviors all,-bye \
    -trace_logs -log_file "$work/carrier.log" -trace_err -error_file "$work/carrier.err" \
    -trace_stat -fd 1 -stf "$work/carrier.csv" >"$work/carrier.out" 2>&1 </dev/null &
  caller_pid=$!
}

completed() {
  if [[ -f $work/carrier.log ]]; then grep -c '^BYE-200 ' "$work/carrier.log" || true; else echo 0; fi
}

# wait_completed N SECONDS: until N calls have completed, at most SECONDS.
wait_completed() {
  local n=$1 limit=$(($2 * 10))
  for _ in $(seq 1 "$limit"); do
    (($(completed) >= n)) && return 0
    kill -0 "$caller_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "cdr_faults.sh: only $(completed) of $n calls completed" >&2
  return 1
}

# cdr_rows URL FILE: the a_leg_call_id of every CDR row, one a line.
cdr_rows() {
  case "$1" in
    sqlite://*)
      python3 - "${1#sqlite://}" >"$2" <<'PY'
import sqlite3, sys
db = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True, timeout=10)
for (c,) in db.execute("select a_leg_call_id from call_records"):
    print(c)
PY
      ;;
    *) PGCONNECT_TIMEOUT=5 psql "$1" -X -w -A -t -q -v ON_ERROR_STOP=1 \
      -c "select a_leg_call_id from call_records" >"$2" ;;
  esac
}

# wait_drained URL SECONDS: until the CDR table holds at least as many rows as calls
# completed and has not changed for 3 s (the journal is drained), at most SECONDS.
wait_drained() {
  local url=$1 limit=$(($2 * 2)) want last=-1 same=0 n
  want=$(completed)
  for _ in $(seq 1 "$limit"); do
    if cdr_rows "$url" "$work/rows" 2>/dev/null; then
      n=$(wc -l <"$work/rows")
      if ((n == last)); then same=$((same + 1)); else same=0; last=$n; fi
      ((n >= want && same >= 6)) && return 0
    fi
    sleep 0.5
  done
  echo "cdr_faults.sh: CDR rows: $last after $2 s, $want calls completed" >&2
  return 1
}

# check_cdrs NAME ROWS EXTRA_ALLOWED: every call in carrier.log has exactly one row in
# ROWS, no a_leg_call_id has two; rows of calls not completed are allowed only if
# EXTRA_ALLOWED is 1. Prints the counts.
check_cdrs() {
  python3 - "$work/carrier.log" "$2" "$3" "$1" <<'PY'
import collections, sys
log, rows_file, extra_ok, name = sys.argv[1], sys.argv[2], sys.argv[3] == "1", sys.argv[4]
acked = set()
with open(log) as f:
    for line in f:
        if line.startswith("BYE-200 "):
            acked.add(line.split()[1])
rows = collections.Counter(l.strip() for l in open(rows_file) if l.strip())
twice = {c: n for c, n in rows.items() if n > 1}
missing = sorted(acked - rows.keys())
extra = sorted(rows.keys() - acked)
print("%s: %d calls completed (200 to the BYE), %d CDR rows, %d duplicates, %d missing, %d rows of calls cut short"
      % (name, len(acked), sum(rows.values()), len(twice), len(missing), len(extra)))
bad = False
if twice:
    print("  a_leg_call_id with more than one CDR: %s" % list(twice.items())[:5]); bad = True
if missing:
    print("  completed calls without a CDR: %s" % missing[:5]); bad = True
if extra and not extra_ok:
    print("  CDRs of calls the carrier did not see completed: %s" % extra[:5]); bad = True
if not acked:
    print("  no call completed: the load did not run"); bad = True
sys.exit(1 if bad else 0)
PY
}

# private_pg_init: a new PostgreSQL cluster in a temporary directory on a free port
# of 127.0.0.1, trust authentication, started; private_pg_remove stops and removes it.
private_pg_init() {
  local initdb
  [[ -z $pg_private ]] || return 0
  initdb=$(pg_bin initdb)
  pg_private=$(mktemp -d /tmp/vss-cdr-pg.XXXXXX)
  if ((EUID == 0)); then
    id postgres >/dev/null 2>&1 || { echo "cdr_faults.sh: no postgres user to run PostgreSQL as" >&2; return 1; }
    chown postgres: "$pg_private"
  fi
  pg_private_port=$(free_port tcp 127.0.0.1)
  if ! as_pg "$initdb" -D "$pg_private/data" -U postgres -A trust --no-sync \
    >"$pg_private/initdb.log" 2>&1; then
    cat "$pg_private/initdb.log" >&2
    echo "cdr_faults.sh: initdb failed" >&2
    return 1
  fi
  private_pg_ctl start
}

# private_pg_db NAME: a new database on the private cluster; sets pg_private_url to it.
private_pg_db() {
  PGCONNECT_TIMEOUT=5 psql "postgres://postgres@127.0.0.1:$pg_private_port/postgres" -X -w -q \
    -v ON_ERROR_STOP=1 -c "CREATE DATABASE $1" >/dev/null
  pg_private_url="postgres://postgres@127.0.0.1:$pg_private_port/$1"
}

# private_pg_ctl start|stop: the private cluster on its port, its socket in its own
# directory (never the shared server's), waiting until it is up or down.
private_pg_ctl() {
  local ctl
  ctl=$(pg_bin pg_ctl)
  case "$1" in
    start)
      as_pg "$ctl" -D "$pg_private/data" -l "$pg_private/server.log" -w -t 30 \
        -o "-p $pg_private_port -k $pg_private -c listen_addresses=127.0.0.1" start >/dev/null ||
        { tail -n 20 "$pg_private/server.log" >&2; echo "cdr_faults.sh: private PostgreSQL did not start" >&2; return 1; }
      ;;
    stop)
      as_pg "$ctl" -D "$pg_private/data" -m fast -w -t 30 stop >/dev/null
      ;;
  esac
}

# kill_test NAME URL [outage]: kill -9 of vss while calls complete; restart; one CDR
# per call. With "outage" (URL on the private cluster), the database is stopped for the
# last 5 s before the kill, so the journal holds that many unshipped CDRs at the kill;
# it is started again before vss (which does not start without its database).
kill_test() {
  local name=$1 url=$2 outage=${3:-} replay out
  echo "cdr_faults.sh: $name"
  setup_vss "$name" "$url"
  : >"$work/vss.log"
  start_vss "$bin" "$config" "$work/vss.log"
  start_slot
  start_carrier 100000
  if ! wait_completed 100 30; then
    fail "$name (the load did not start)" "$work/vss.log" "$work/carrier.err" "$work/slot.err"
    stop_sipp "$caller_pid"; caller_pid=""
    stop_sipp "$callee_pid"; callee_pid=""
    stop_vss
    return 0
  fi
  local before
  if [[ -n $outage ]]; then
    private_pg_ctl stop
    before=$(completed)
    wait_completed $((before + rate * 5)) 30 || true
    echo "  PostgreSQL stopped after $before completed calls"
  fi
  before=$(completed)
  kill -9 "$server_pid"
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
  # Calls in progress at the kill never get their BYE answered; stop the load.
  stop_sipp "$caller_pid"; caller_pid=""
  stop_sipp "$callee_pid"; callee_pid=""
  echo "  kill -9 of vss after $before completed calls ($(completed) when the load stopped)"
  if [[ -n $outage ]]; then
    private_pg_ctl start
    echo "  PostgreSQL started again"
  fi
  # Created here: start_vss reads the log before the server's shell has opened it.
  : >"$work/vss-restart.log"
  start_vss "$bin" "$config" "$work/vss-restart.log"
  # The journal is opened (and its replay logged) after the SIP sockets.
  for _ in $(seq 1 300); do
    grep -q 'vss ready' "$work/vss-restart.log" && break
    sleep 0.1
  done
  replay=$(grep -o 'journal holds unshipped CDRs; replaying.*' "$work/vss-restart.log" | head -n1 || true)
  echo "  restarted: ${replay:-nothing left to replay in the journal}"
  if [[ -n $outage && -z $replay ]]; then
    fail "$name (the journal had nothing to replay, though the database was down)" "$work/vss.log" "$work/vss-restart.log"
  fi
  if ! wait_drained "$url" 60; then
    fail "$name (the journal did not drain)" "$work/vss-restart.log"
    stop_vss
    return 0
  fi
  if out=$(check_cdrs "$name" "$work/rows" 1); then
    echo "  ok    $out"
  else
    fail "$name: $out" "$work/vss.log" "$work/vss-restart.log"
  fi
  if grep -q 'panicked' "$work/vss.log" "$work/vss-restart.log"; then
    fail "$name (vss panicked)" "$work/vss.log" "$work/vss-restart.log"
  fi
  stop_vss
}

# outage_test: the private cluster goes away for $outage_s seconds under call load.
outage_test() {
  local name=outage before_s=5 after_s=10 total during_a during_b out ok failed slot_failed
  echo "cdr_faults.sh: $name (PostgreSQL stopped for $outage_s s under $rate calls/s)"
  private_pg_init
  private_pg_db vss_outage
  setup_vss "$name" "$pg_private_url"
  : >"$work/vss.log"
  start_vss "$bin" "$config" "$work/vss.log"
  start_slot
  total=$((rate * (before_s + outage_s + after_s)))
  start_carrier "$total"
  if ! wait_completed $((rate * before_s / 2)) 30; then
    fail "$name (the load did not start)" "$work/vss.log" "$work/carrier.err"
    return 0
  fi
  sleep "$before_s"
  private_pg_ctl stop
  during_a=$(completed)
  echo "  PostgreSQL stopped after $during_a completed calls"
  # The outage itself is the test: real seconds of calls with no database.
  sleep "$outage_s"
  during_b=$(completed)
  private_pg_ctl start
  echo "  PostgreSQL started again; $((during_b - during_a)) calls completed while it was down"
  local waited=0
  while kill -0 "$caller_pid" 2>/dev/null && ((waited < 1200)); do
    sleep 0.1
    waited=$((waited + 1))
  done
  local status=0
  wait "$caller_pid" || status=$?
  caller_pid=""
  # The slot's last calls end 100 ms after the carrier's.
  sleep 1
  stop_sipp "$callee_pid"
  callee_pid=""
  ok=$(stat_col "$work/carrier.csv" 'SuccessfulCall(C)')
  failed=$(stat_col "$work/carrier.csv" 'FailedCall(C)')
  slot_failed=$(stat_col "$work/slot.csv" 'FailedCall(C)')
  echo "  carrier SIPp: $ok ok, $failed failed of $total (exit $status); slot SIPp: $slot_failed failed"
  if ((status != 0 || failed > 0 || ok != total || slot_failed > 0)); then
    fail "$name (calls failed while PostgreSQL was away)" "$work/vss.log"
    sipp_errors "$work/carrier.err" | sed 's/^/        /'
    sipp_errors "$work/slot.err" | sed 's/^/        /'
  fi
  if ((during_b - during_a < rate * outage_s / 2)); then
    fail "$name (only $((during_b - during_a)) calls completed during the outage)" "$work/vss.log"
  fi
  # The shipper retries with backoff (at most 10 s apart): wait for its line.
  for _ in $(seq 1 120); do
    grep -q 'CDR database is back' "$work/vss.log" && break
    sleep 0.5
  done
  if ! grep -q 'CDR database is back' "$work/vss.log"; then
    fail "$name (vss never logged that the database is back)" "$work/vss.log" "$pg_private/server.log"
  fi
  if ! wait_drained "$pg_private_url" 60; then
    fail "$name (the journal did not drain)" "$work/vss.log"
  elif out=$(check_cdrs "$name" "$work/rows" 0); then
    echo "  ok    $out"
  else
    fail "$name: $out" "$work/vss.log"
  fi
  local down back
  down=$(grep -c 'CDR database unreachable' "$work/vss.log" || true)
  back=$(grep -c 'CDR database is back' "$work/vss.log" || true)
  if ((down == 1 && back == 1)); then
    echo "  ok    $name log: one \"CDR database unreachable\", one \"CDR database is back\""
  else
    fail "$name log: $down \"CDR database unreachable\" and $back \"CDR database is back\" lines, expected one each" "$work/vss.log"
    grep -E 'CDR database (unreachable|is back)' "$work/vss.log" | sed 's/^/        /'
  fi
  if grep -q 'panicked' "$work/vss.log"; then
    fail "$name (vss panicked)" "$work/vss.log"
  fi
  stop_vss
}

started=$SECONDS
if [[ -z $only || $only == kill-sqlite ]]; then
  kill_test kill-sqlite "sqlite://$top/kill-sqlite/vss.db"
fi
if [[ -z $only || $only == kill-postgres ]]; then
  pg_create
  kill_test kill-postgres "$pg_url"
  pg_drop
fi
if [[ -z $only || $only == kill-outage ]]; then
  private_pg_init
  private_pg_db vss_kill
  kill_test kill-outage "$pg_private_url" outage
fi
if [[ -z $only || $only == outage ]]; then
  outage_test
fi
private_pg_remove

if ((failures > 0)); then
  echo "cdr_faults.sh: $failures check(s) failed ($((SECONDS - started)) s)"
  exit 1
fi
echo "cdr_faults.sh: every completed call has exactly one CDR ($((SECONDS - started)) s)"
