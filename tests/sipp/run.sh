#!/usr/bin/env bash
# SIPp scenarios against a real `vss serve` over loopback. Run by `make test`.
#
#   tests/sipp/run.sh                 start target/debug/vss (or $VSS_BIN) and test it
#   SIP_TARGET=127.0.0.1:5060 tests/sipp/run.sh   test a server that is already running
#                                                 (Kamailio, another vss, ...)
#
# Every scenario is bounded in calls and time and exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
here=$(pwd)
root=$(cd ../.. && pwd)

command -v sipp >/dev/null || { echo "run.sh: sipp not found (apt-get install sip-tester)" >&2; exit 1; }

work=$(mktemp -d)
server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# Start `vss serve` on loopback ports the kernel picks; sets target and target_tcp.
start_vss() {
  local bin=${VSS_BIN:-$root/target/debug/vss}
  [[ -x "$bin" ]] || { echo "run.sh: $bin not built (cargo build)" >&2; exit 1; }
  cat >"$work/vss.toml" <<TOML
[sip]
listen = ["udp:127.0.0.1:0", "tcp:127.0.0.1:0"]
domain = "vss.test"
[media]
ng_listen = ""
[database]
url = "sqlite://$work/vss.db"
TOML
  (cd "$work" && RUST_LOG=info NO_COLOR=1 exec "$bin" serve --config "$work/vss.toml") >"$work/vss.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 300); do
    if grep -q 'SIP listening transport="tcp"' "$work/vss.log"; then
      target=$(listening udp)
      target_tcp=$(listening tcp)
      return 0
    fi
    kill -0 "$server_pid" 2>/dev/null || { cat "$work/vss.log" >&2; echo "run.sh: vss exited" >&2; exit 1; }
    sleep 0.1
  done
  cat "$work/vss.log" >&2
  echo "run.sh: vss did not start listening" >&2
  exit 1
}

listening() {
  grep "SIP listening transport=\"$1\"" "$work/vss.log" | sed -E 's/.*addr=([^ ]+).*/\1/' | head -n1
}

target=${SIP_TARGET:-}
target_tcp=${SIP_TARGET_TCP:-$target}
if [[ -z "$target" ]]; then
  start_vss
fi
echo "run.sh: testing udp $target, tcp $target_tcp"

failures=0
# run NAME SCENARIO [sipp args...]: one bounded SIPp run; its logs are kept on failure.
# A `-t t1` run goes to the TCP listener.
run() {
  local name=$1 scenario=$2; shift 2
  local log="$work/$name" dest=$target
  [[ " $* " == *" -t t1 "* ]] && dest=$target_tcp
  if timeout 120 sipp "$dest" -sf "$here/$scenario" -i 127.0.0.1 -p 0 \
      -timeout 60 -timeout_error -max_recv_loops 1000 -trace_err -error_file "$log.err" \
      -trace_stat -stf "$log.csv" "$@" >"$log.out" 2>&1 </dev/null; then
    echo "  ok    $name"
  else
    echo "  FAIL  $name (sipp exit $?)"
    tail -n 20 "$log.out" "$log.err" 2>/dev/null | sed 's/^/        /'
    failures=$((failures + 1))
  fi
}

run options-udp options.xml -m 200 -r 100 -t u1
run options-tcp options.xml -m 50 -r 50 -t t1

if [[ -n "$server_pid" ]] && ! kill -0 "$server_pid" 2>/dev/null; then
  echo "run.sh: vss died during the scenarios" >&2
  cat "$work/vss.log" >&2
  failures=$((failures + 1))
fi
if ((failures > 0)); then
  echo "run.sh: $failures scenario(s) failed"
  exit 1
fi
echo "run.sh: all scenarios passed"
