# shellcheck shell=bash disable=SC2034,SC2154
# (SC2034/SC2154: this file sets variables for, and reads `work` from, the script that
# sources it.)
# Shared by the scripts of tests/sipp and by tests/media/compare.sh (source it; it does
# nothing on its own): slots CSV files, a fresh PostgreSQL database per run, stopping a
# process, and starting and stopping `vss serve` on loopback ports the kernel picks.
# The caller sets `work` (a temporary directory) and `root` (the repository) first, and
# calls `lib_cleanup` from its EXIT trap.

server_pid=""
pg_db=""
pg_admin_url=""
pg_url=""

# call_ports: the SIP domain and the loopback addresses and ports of the SIPp peers of
# the call scripts (calls.sh, load_calls.sh): carriers on 127.0.0.1, slots on 127.0.0.2,
# ports from CALLS_PORT_BASE (default 25060) up.
call_ports() {
  domain=vss.test
  base=${CALLS_PORT_BASE:-25060}
  carrier_ip=127.0.0.1
  slot_ip=127.0.0.2
  carrier_port=$base
  silent_port=$((base + 2))
  closed_port=$((base + 4))
  backup_port=$((base + 6))
  carrier_uac_port=$((base + 8))
  caller_port=$((base + 40))
  callee_port=$((base + 42))
}

# write_slots_csv FILE AUTO MF LS: the first AUTO, MF and LS extensions of each slot range
# (6001.., 7001.., 8001..), each with the password pw<extension>, for `vss provision slots`.
write_slots_csv() {
  local file=$1 auto=$2 mf=$3 ls=$4 e
  {
    echo "extension,password,hub,kind"
    for ((e = 6001; e < 6001 + auto; e++)); do echo "$e,pw$e,auto1,AUTO"; done
    for ((e = 7001; e < 7001 + mf; e++)); do echo "$e,pw$e,mf1,MF"; done
    for ((e = 8001; e < 8001 + ls; e++)); do echo "$e,pw$e,,LS"; done
  } >"$file"
}

# write_users_csv SLOTS_CSV FILE: a SIPp injection file (USER;PASSWORD, in order) with
# every slot of SLOTS_CSV.
write_users_csv() {
  { echo "SEQUENTIAL"; tail -n +2 "$1" | awk -F, '{ print $1 ";" $2 }'; } >"$2"
}

# pg_create: a new, uniquely named database on the server of VSS_TEST_PG_URL (default
# postgres://postgres@127.0.0.1:5432/postgres); sets pg_url to it. lib_cleanup drops it.
# (Not in a command substitution: the name must survive for pg_drop.)
pg_create() {
  command -v psql >/dev/null || { echo "psql not found (apt-get install postgresql-client)" >&2; return 1; }
  pg_admin_url=${VSS_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}
  local name query base prefix
  name="vss_sipp_$(date +%s)_$$_${RANDOM}"
  if ! PGCONNECT_TIMEOUT=5 psql "$pg_admin_url" -X -w -q -v ON_ERROR_STOP=1 \
      -c "CREATE DATABASE $name" >/dev/null; then
    echo "cannot create database $name at $pg_admin_url (is PostgreSQL running? make postgres)" >&2
    return 1
  fi
  pg_db=$name
  # The same server and credentials, another database: replace the URL's path.
  base=${pg_admin_url%%\?*}
  query=""
  [[ $pg_admin_url == *\?* ]] && query="?${pg_admin_url#*\?}"
  if [[ $base =~ ^[a-z]+://[^/]*$ ]]; then prefix=$base; else prefix=${base%/*}; fi
  pg_url="$prefix/$name$query"
}

pg_drop() {
  if [[ -n "$pg_db" ]]; then
    PGCONNECT_TIMEOUT=5 psql "$pg_admin_url" -X -w -q \
      -c "DROP DATABASE IF EXISTS $pg_db WITH (FORCE)" >/dev/null 2>&1 ||
      echo "warning: could not drop database $pg_db" >&2
    pg_db=""
  fi
}

# write_config FILE DATABASE_URL [EXTRA_TOML]: vss on 127.0.0.1 with kernel-picked ports,
# domain vss.test, no media control socket.
write_config() {
  cat >"$1" <<TOML
[sip]
listen = ["udp:127.0.0.1:0", "tcp:127.0.0.1:0"]
domain = "vss.test"
[media]
ng_listen = ""
[database]
url = "$2"
${3:-}
TOML
}

# provision BIN CONFIG SLOTS_CSV: `vss provision slots`, quiet unless it fails.
provision() {
  local out
  if ! out=$(cd "$work" && "$1" provision slots "$3" --config "$2" 2>&1); then
    echo "$out" >&2
    echo "vss provision slots failed" >&2
    return 1
  fi
  echo "  $out"
}

# start_vss BIN CONFIG LOG: starts `vss serve` in $work; sets server_pid, target (UDP) and
# target_tcp once it listens.
start_vss() {
  local bin=$1 config=$2 log=$3
  (cd "$work" && RUST_LOG=${VSS_SIPP_LOG:-info} NO_COLOR=1 exec "$bin" serve --config "$config") >"$log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 300); do
    if grep -q 'SIP listening transport="tcp"' "$log"; then
      target=$(listening udp "$log")
      target_tcp=$(listening tcp "$log")
      return 0
    fi
    if ! kill -0 "$server_pid" 2>/dev/null; then
      cat "$log" >&2
      echo "vss exited at start" >&2
      server_pid=""
      return 1
    fi
    sleep 0.1
  done
  cat "$log" >&2
  echo "vss did not start listening within 30 s" >&2
  return 1
}

listening() {
  grep "SIP listening transport=\"$1\"" "$2" | sed -E 's/.*addr=([^ ]+).*/\1/' | head -n1
}

# wait_udp_bound IP:PORT: up to 5 s for a UDP socket bound to IP:PORT (a background
# SIPp or helper ready to receive); fails, silently, if none appears.
wait_udp_bound() {
  for _ in $(seq 1 50); do
    if ss -Huln "src $1" 2>/dev/null | grep -q .; then return 0; fi
    sleep 0.1
  done
  return 1
}

# stop_process PID TENTHS [SIGNAL]: SIGNAL (default TERM), up to TENTHS tenths of a
# second for it to end, then SIGKILL; reaps it if it is this shell's child.
stop_process() {
  local pid=$1 tenths=$2 signal=${3:-TERM}
  kill -"$signal" "$pid" 2>/dev/null || true
  for _ in $(seq 1 "$tenths"); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# stop_sipp [PID]: SIGINT (SIPp writes its last statistics and ends), up to 5 s, then
# SIGKILL; nothing without a PID.
stop_sipp() {
  if [[ -n ${1:-} ]]; then stop_process "$1" 50 INT; fi
}

# stop_vss: SIGTERM, then up to 10 s for the orderly shutdown (database writes flushed).
stop_vss() {
  if [[ -n "$server_pid" ]]; then
    stop_process "$server_pid" 100
    server_pid=""
  fi
}

lib_cleanup() {
  stop_vss
  pg_drop
}

# --- /proc and SIPp statistics, for the load and fault scripts ------------------------

# /proc/PID/stat fields 14 and 15: user and system time in clock ticks. The command name
# (field 2) may hold spaces, so count from the ')' that ends it.
cpu_ticks() {
  local stat
  stat=$(<"/proc/$1/stat")
  stat=${stat##*) }
  # After the name, the state is field 3: utime and stime are the 12th and 13th words.
  awk '{ print $12, $13 }' <<<"$stat"
}
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
# One line per thread: TID NAME TICKS (user + system), to tell the SIP core's thread
# from the database workers and the media threads.
thread_ticks() {
  local t stat name
  local -a f
  for t in /proc/"$1"/task/*; do
    stat=$(<"$t/stat") || continue
    name=${stat#*(}
    name=${name%)*}
    read -r -a f <<<"${stat##*) }"
    echo "${t##*/} ${name// /_} $((f[11] + f[12]))"
  done
}
# stat_col FILE COLUMN: the last value of a column of a SIPp statistics file (cumulative
# counters); 0 when the file or the column is missing.
stat_col() {
  awk -F';' -v col="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == col) c = i; next }
    { v = $c } END { print (v == "" ? 0 : v) }' "$1" 2>/dev/null || echo 0
}
# sipp_errors FILE: the first ten events of a SIPp error file, one per line. Never fails
# (with pipefail, head closing the pipe early would otherwise end the script).
sipp_errors() {
  { sed -E 's/(20[0-9]{2}-[0-9]{2}-[0-9]{2}\t)/\n\1/g' "$1" 2>/dev/null |
    grep -v -e 'Failed to delete FD from epoll' -e '^$' | head -n 10; } || true
}
