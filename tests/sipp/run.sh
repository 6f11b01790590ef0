#!/usr/bin/env bash
# SIPp scenarios against a real `vss serve` over loopback. Run by `make test`.
#
#   tests/sipp/run.sh      provision slots, start target/debug/vss (or $VSS_BIN) once with
#                          SQLite and once with PostgreSQL (a fresh database from
#                          $VSS_TEST_PG_URL, dropped at the end), run every scenario on each
#   SIP_TARGET=127.0.0.1:5060 tests/sipp/run.sh
#                          test a server that is already running (Kamailio, another vss,
#                          ...): see README.md for the slots it must have. SIP_DOMAIN sets
#                          the AOR domain (default vss.test); the expired-nonce scenario runs
#                          only with SIP_STALE_PAUSE_MS, longer than that server's nonce
#                          lifetime.
#
# Then, against their own vss: calls.sh (issue 5's calls) and cdr_faults.sh (issue 6's
# fault tests).
#
# Every SIPp run is bounded in calls and time; any failure makes the exit status non-zero
# and shows SIPp's errors and the end of the server's log.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
here=$(pwd)
root=$(cd ../.. && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"

command -v sipp >/dev/null || { echo "run.sh: sipp not found (apt-get install sip-tester)" >&2; exit 1; }

work=$(mktemp -d)
cleanup() {
  lib_cleanup
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

domain=${SIP_DOMAIN:-vss.test}
failures=0
server_log=""

# run NAME SCENARIO [sipp args...]: one bounded SIPp run; on failure its errors and the
# server's log are shown. A `-t t1` run goes to the TCP listener.
run() {
  local name=$1 scenario=$2; shift 2
  local log="$work/${name//\//-}" dest=$target
  [[ " $* " == *" -t t1 "* ]] && dest=$target_tcp
  local status=0
  timeout 120 sipp "$dest" -sf "$here/$scenario" -i 127.0.0.1 -p 0 \
    -timeout 60 -timeout_error -max_recv_loops 1000 -default_behaviors all,-bye \
    -key domain "$domain" -trace_err -error_file "$log.err" \
    -trace_msg -message_file "$log.msg" -trace_stat -stf "$log.csv" "$@" \
    >"$log.out" 2>&1 </dev/null || status=$?
  if ((status == 0)); then
    echo "  ok    $name"
  else
    echo "  FAIL  $name (sipp exit $status)"
    {
      grep -E 'Successful call|Failed call' "$log.out" || tail -n 20 "$log.out"
      # SIPp writes its events without line breaks between them.
      sed -E 's/(20[0-9]{2}-[0-9]{2}-[0-9]{2}\t)/\n\1/g' "$log.err" 2>/dev/null |
        grep -v -e 'Failed to delete FD from epoll' -e '^$' | head -n 12
      if [[ -n "$server_log" ]]; then
        echo "--- end of the server's log:"
        tail -n 30 "$server_log"
      fi
    } | sed 's/^/        /'
    failures=$((failures + 1))
  fi
}

# The scenarios, for one server. Registrar scenarios use disjoint slots (the CSV files),
# so that each one sees only its own bindings. The refused ones (wrong password, another
# slot, unprovisioned) add up to 10 counted failures from 127.0.0.1, below the default
# registrar.block_threshold of 20 per minute.
scenarios() {
  local p=$1 stale_pause=$2
  run "$p/options-udp" options.xml -m 200 -r 100 -t u1
  run "$p/options-tcp" options.xml -m 50 -r 50 -t t1
  run "$p/register-auth" register_auth.xml -inf "$here/auth_users.csv" -m 14 -r 20 -t u1
  run "$p/register-deregister" register_deregister.xml -inf "$here/auth_deregister.csv" -m 3 -r 10 -t u1
  run "$p/register-star" register_star.xml -inf "$here/auth_star.csv" -m 3 -r 10 -t u1
  run "$p/register-wrong-password" register_wrong_password.xml -inf "$here/auth_wrong_password.csv" -m 3 -r 10 -t u1
  run "$p/register-other-slot" register_other_slot.xml -inf "$here/auth_other_slot.csv" -m 3 -r 10 -t u1
  run "$p/register-unprovisioned" register_unprovisioned.xml -inf "$here/unprovisioned.csv" -m 4 -r 10 -t u1
  if [[ -n "$stale_pause" ]]; then
    run "$p/register-stale-nonce" register_stale_nonce.xml -inf "$here/auth_stale.csv" -m 3 -r 10 -d "$stale_pause" -t u1
  else
    echo "  skip  $p/register-stale-nonce (set SIP_STALE_PAUSE_MS above the server's nonce lifetime)"
  fi
}

# One `vss serve` on a database: provision, start, run every scenario, stop.
against_vss() {
  local backend=$1 url=$2 bin=${VSS_BIN:-$root/target/debug/vss}
  [[ -x "$bin" ]] || { echo "run.sh: $bin not built (cargo build)" >&2; exit 1; }
  local config="$work/vss-$backend.toml"
  server_log="$work/vss-$backend.log"
  # A nonce lifetime of 2 s lets the expired-nonce scenario wait only 3 s.
  write_config "$config" "$url" $'[registrar]\nnonce_lifetime_s = 2'
  echo "run.sh: vss with $backend"
  provision "$bin" "$config" "$work/slots.csv"
  start_vss "$bin" "$config" "$server_log"
  echo "run.sh: testing udp $target, tcp $target_tcp"
  scenarios "$backend" 3000
  if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "run.sh: vss died during the scenarios" >&2
    cat "$server_log" >&2
    failures=$((failures + 1))
  elif grep -q 'panicked' "$server_log"; then
    echo "run.sh: vss panicked during the scenarios" >&2
    grep -A5 'panicked' "$server_log" >&2
    failures=$((failures + 1))
  fi
  stop_vss
  server_log=""
}

if [[ -n "${SIP_TARGET:-}" ]]; then
  target=$SIP_TARGET
  target_tcp=${SIP_TARGET_TCP:-$target}
  echo "run.sh: testing udp $target, tcp $target_tcp, domain $domain"
  scenarios target "${SIP_STALE_PAUSE_MS:-}"
else
  # 200 AUTO, 20 MF and 10 LS slots with the passwords the CSV files use (pw<extension>).
  write_slots_csv "$work/slots.csv" 200 20 10
  against_vss sqlite "sqlite://$work/vss.db"
  pg_create
  against_vss postgres "$pg_url"
  pg_drop
fi

if ((failures > 0)); then
  echo "run.sh: $failures scenario(s) failed"
  exit 1
fi
echo "run.sh: all scenarios passed"
# Calls through the B2BUA (issue 5), then the CDR fault tests of issue 6 (kill -9,
# PostgreSQL outage): each runs its own vss.
if [[ -z "${SIP_TARGET:-}" ]]; then
  bash "$here/calls.sh" || { echo "run.sh: calls.sh failed" >&2; exit 1; }
  bash "$here/cdr_faults.sh"
fi
