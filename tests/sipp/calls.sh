#!/usr/bin/env bash
# Calls through a real `vss serve` (issue 5), with SIPp as slots and as the carrier.
#
#   tests/sipp/calls.sh    provision slots, start target/debug/vss (or $VSS_BIN) on SQLite
#                          with four carrier trunks pointing at SIPp on 127.0.0.1, run
#                          every call scenario, stop vss, and check the CDRs it wrote
#
# Addresses: vss listens on 127.0.0.1 (ports the kernel picks). The carrier is 127.0.0.1
# (the trunks' inbound_acl); slots call and answer from 127.0.0.2, since vss takes any
# INVITE from a trunk's address for the carrier. SIPp's fixed ports start at
# CALLS_PORT_BASE (default 25060): carrier UAS +0, a silent trunk +2, a closed port +4,
# the backup trunk +6, the carrier's own calls +8; slots +40 (caller) and +42 (callee);
# SIPp media ports +1000 and up.
#
# RTP: the first call plays a G.711 capture from the slot (SIPp play_pcap_audio, which
# needs a raw socket: root or CAP_NET_RAW); the carrier echoes it (-rtp_echo) and a small
# counter on the slot's media port counts what comes back through the relay. Without a
# raw socket that check is skipped (said so in the output) and the call runs without RTP.
#
# Every SIPp run is bounded in calls and time; any failure makes the exit status non-zero
# and shows SIPp's errors and the end of the server's log.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
here=$(pwd)
root=$(cd ../.. && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"

command -v sipp >/dev/null || { echo "calls.sh: sipp not found (apt-get install sip-tester)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "calls.sh: python3 not found (it reads the CDRs)" >&2; exit 1; }

work=$(mktemp -d)
bg_pids=()
cleanup() {
  local p
  for p in "${bg_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  lib_cleanup
  if [[ -n "${CALLS_KEEP:-}" ]]; then
    echo "calls.sh: work directory kept: $work"
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

call_ports
pcap=/usr/share/sip-tester/g711a.pcap
failures=0
caller_failed=0
server_log="$work/vss.log"

# Whether SIPp can play RTP here: play_pcap_audio writes through a raw socket.
can_play_rtp() {
  [[ -r $pcap ]] && python3 -c 'import socket; socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_UDP)' 2>/dev/null
}

show_failure() {
  local log=$1
  {
    grep -E 'Successful call|Failed call' "$log.out" 2>/dev/null || tail -n 20 "$log.out" 2>/dev/null
    # SIPp writes its events without line breaks between them.
    sed -E 's/(20[0-9]{2}-[0-9]{2}-[0-9]{2}\t)/\n\1/g' "$log.err" 2>/dev/null |
      grep -v -e 'Failed to delete FD from epoll' -e '^$' | head -n 12
    echo "--- end of the server's log:"
    tail -n 30 "$server_log"
  } | sed 's/^/        /'
}

# sipp_args NAME: the options every SIPp run here shares (bounded, traced into $work).
sipp_args() {
  local log="$work/$1"
  echo -timeout 60 -timeout_error -max_recv_loops 1000 -default_behaviors all,-bye -d 300 \
    -key domain "$domain" -trace_err -error_file "$log.err" \
    -trace_msg -message_file "$log.msg" -trace_stat -stf "$log.csv"
}

# callee NAME MODE IP PORT COUNT [sipp args...]: call_callee.xml in the background,
# listening on IP:PORT until it has served COUNT calls; waited for by `finish`.
callee() {
  local name=$1 mode=$2 ip=$3 port=$4 count=$5; shift 5
  local log="$work/$name"
  caller_failed=0
  # shellcheck disable=SC2046
  timeout 120 sipp -sf "$here/call_callee.xml" -key mode "$mode" -i "$ip" -p "$port" \
    -m "$count" $(sipp_args "$name") "$@" >"$log.out" 2>&1 </dev/null &
  bg_pids+=($!)
  eval "pid_${name//[^a-zA-Z0-9]/_}=$!"
  # Ready once the socket is bound.
  wait_udp_bound "$ip:$port" || { echo "calls.sh: SIPp $name did not bind $ip:$port" >&2; return 1; }
}

# finish NAME: wait for a background callee and report its result. After a caller
# failed, its callee would only wait for its timeout: it is stopped instead.
finish() {
  local name=$1 var="pid_${1//[^a-zA-Z0-9]/_}" status=0
  if ((caller_failed)); then
    kill "${!var}" 2>/dev/null || true
    wait "${!var}" 2>/dev/null || true
    echo "  stop  $name (its caller failed)"
    return 0
  fi
  wait "${!var}" || status=$?
  result "$name" "$status"
}

# result NAME STATUS: count and print the outcome of one SIPp run.
result() {
  if (($2 == 0)); then
    echo "  ok    $1"
  else
    echo "  FAIL  $1 (sipp exit $2)"
    caller_failed=1
    show_failure "$work/$1"
    failures=$((failures + 1))
  fi
}

# caller NAME SCENARIO IP PORT COUNT [sipp args...]: a SIPp UAC toward vss, in the
# foreground.
caller() {
  local name=$1 scenario=$2 ip=$3 port=$4 count=$5; shift 5
  local log="$work/$name" status=0
  # shellcheck disable=SC2046
  timeout 120 sipp "$target" -sf "$here/$scenario" -i "$ip" -p "$port" -m "$count" \
    -r 10 $(sipp_args "$name") "$@" >"$log.out" 2>&1 </dev/null || status=$?
  result "$name" "$status"
}

# slot_call NAME MODE NUMBER COUNT [sipp args...]: slot 6001 calls NUMBER COUNT times.
slot_call() {
  local name=$1 mode=$2 number=$3 count=$4; shift 4
  caller "$name" call_slot.xml "$slot_ip" "$caller_port" "$count" \
    -inf "$here/calls_caller.csv" -key mode "$mode" -key number "$number" \
    -auth_uri "$number@$domain" -mp $((base + 1100)) "$@"
}

# carrier_call NAME MODE DID COUNT: the carrier calls DID COUNT times.
carrier_call() {
  caller "$1" call_carrier.xml "$carrier_ip" "$carrier_uac_port" "$4" \
    -key mode "$2" -key number "$3" -mp $((base + 1200))
}

# rtp_counter PORT FILE: counts the RTP packets (version 2, PCMA) that reach
# $slot_ip:PORT until it is stopped (SIGTERM, or 60 s), then writes the count and the
# addresses they came from into FILE.
rtp_counter() {
  python3 - "$slot_ip" "$1" "$2" <<'PY' &
import signal, socket, sys, time
ip, port, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
stop = []
signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((ip, port))
s.settimeout(0.1)
count, sources, end = 0, set(), time.monotonic() + 60
while not stop and time.monotonic() < end:
    try:
        data, src = s.recvfrom(2048)
    except (socket.timeout, InterruptedError):
        continue
    if len(data) >= 12 and data[0] >> 6 == 2 and data[1] & 0x7F == 8:
        count += 1
        sources.add("%s:%d" % src)
with open(out, "w") as f:
    f.write("%d %s\n" % (count, ",".join(sorted(sources))))
PY
  bg_pids+=($!)
  rtp_counter_pid=$!
  wait_udp_bound "$slot_ip:$1" || { echo "calls.sh: the RTP counter did not bind $slot_ip:$1" >&2; return 1; }
}

# pcap_packets FILE: the number of packets in a pcap capture (classic format).
pcap_packets() {
  python3 - "$1" <<'PY'
import struct, sys
data = open(sys.argv[1], "rb").read()
order = "<" if data[:4] == b"\xd4\xc3\xb2\xa1" else ">"
n, at = 0, 24
while at + 16 <= len(data):
    incl = struct.unpack(order + "I", data[at + 8:at + 12])[0]
    at += 16 + incl
    n += 1
print(n)
PY
}

scenarios() {
  echo "calls.sh: slots register from $slot_ip"
  caller register-caller register_auth.xml "$slot_ip" "$caller_port" 1 -inf "$here/calls_caller.csv"
  caller register-callee register_auth.xml "$slot_ip" "$callee_port" 1 -inf "$here/calls_callee.csv"

  # a. Slot → carrier with RTP through the relay, echoed by the carrier.
  local sent back=0 from=""
  if can_play_rtp; then
    rtp_counter $((base + 1110)) "$work/rtp.count"
    callee a-carrier answer "$carrier_ip" "$carrier_port" 1 -mp $((base + 1000)) -rtp_echo
    slot_call a-slot-rtp rtp 5550001 1
    finish a-carrier
    kill -TERM "$rtp_counter_pid" 2>/dev/null || true
    wait "$rtp_counter_pid" || true
    read -r back from <"$work/rtp.count" || true
    sent=$(pcap_packets "$pcap")
    # Loopback loses nothing, but the relay may drop a first packet while it sets up;
    # nearly all must return, and from the relay (one address, not the carrier's own).
    if [[ -n "$sent" ]] && ((back * 100 >= sent * 95)) && [[ $from != *,* && $from != "$carrier_ip:$((base + 1000))" ]]; then
      echo "  ok    a-rtp-echo ($back of $sent packets back, from ${from:-?})"
    else
      echo "  FAIL  a-rtp-echo (${back:-0} of ${sent:-?} packets came back)"
      failures=$((failures + 1))
    fi
  else
    echo "  skip  a-rtp-echo (play_pcap_audio needs a raw socket: root or CAP_NET_RAW)"
    callee a-carrier answer "$carrier_ip" "$carrier_port" 1 -mp $((base + 1000))
    slot_call a-slot-rtp bye 5550001 1
    finish a-carrier
  fi

  # b. Carrier → DID → registered slot; the slot hangs up.
  callee b-slot bye "$slot_ip" "$callee_port" 2 -mp $((base + 1300))
  carrier_call b-carrier wait 4420001 2
  finish b-slot

  # c. CANCEL while the carrier rings.
  callee c-carrier ring "$carrier_ip" "$carrier_port" 2 -mp $((base + 1000))
  slot_call c-slot-cancel cancel 5550003 2
  finish c-carrier

  # d. BYE from each side: the carrier hangs up a slot's call; the carrier hangs up its
  #    own call to a slot (the other two combinations are a and b).
  callee d1-carrier bye "$carrier_ip" "$carrier_port" 2 -mp $((base + 1000))
  slot_call d1-slot-wait wait 5550004 2
  finish d1-carrier
  callee d2-slot answer "$slot_ip" "$callee_port" 2 -mp $((base + 1300))
  carrier_call d2-carrier bye 4420002 2
  finish d2-slot

  # e. Hold (a=sendonly → 200 a=recvonly) and resume, relayed to the carrier.
  callee e-carrier hold "$carrier_ip" "$carrier_port" 2 -mp $((base + 1000))
  slot_call e-slot-hold hold 5550005 2
  finish e-carrier

  # f. The carrier is busy: the caller gets 486.
  callee f-carrier busy "$carrier_ip" "$carrier_port" 2 -mp $((base + 1000))
  slot_call f-slot-busy busy 5550006 2
  finish f-carrier

  # g. Failover: the first trunk for 77… never answers (b2bua.trunk_answer_timeout_s);
  #    the first for 78… has nothing listening (ICMP port unreachable). Both calls end
  #    up on the backup trunk.
  callee g-silent silent "$carrier_ip" "$silent_port" 2 -mp $((base + 1020))
  callee g-backup answer "$carrier_ip" "$backup_port" 4 -mp $((base + 1040))
  slot_call g1-slot-timeout bye 7750007 2
  slot_call g2-slot-closed bye 7850008 2
  finish g-silent
  finish g-backup

  # h. The echo service (9001): hold and resume are offers to the echo itself, answered
  #    by the media engine (no callee).
  slot_call h-slot-echo-hold hold 9001 2
}

# check_cdrs DB: one CDR per call, each with the disposition, code, hang-up side,
# direction and trunk its scenario gives.
check_cdrs() {
  python3 - "$1" <<'PY'
import sqlite3, sys
expected = {
    # dst: (calls, disposition, sip_code, hangup_side, direction, trunk)
    "5550001": (1, "ANSWERED", 200, "caller", "outbound", "carrier1"),
    "4420001": (2, "ANSWERED", 200, "callee", "inbound", "carrier1"),
    "5550003": (2, "CANCELLED", 487, "caller", "outbound", "carrier1"),
    "5550004": (2, "ANSWERED", 200, "callee", "outbound", "carrier1"),
    "4420002": (2, "ANSWERED", 200, "caller", "inbound", "carrier1"),
    "5550005": (2, "ANSWERED", 200, "caller", "outbound", "carrier1"),
    "5550006": (2, "BUSY", 486, "callee", "outbound", "carrier1"),
    "7750007": (2, "ANSWERED", 200, "caller", "outbound", "backup"),
    "7850008": (2, "ANSWERED", 200, "caller", "outbound", "backup"),
    "9001": (2, "ANSWERED", 200, "caller", "internal", None),
}
db = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True)
rows = db.execute(
    "select dst, disposition, sip_code, hangup_side, direction, trunk, slot, src"
    " from call_records order by start_time").fetchall()
bad = []
total = sum(e[0] for e in expected.values())
if len(rows) != total:
    bad.append("%d CDRs, expected %d" % (len(rows), total))
seen = {}
for r in rows:
    seen.setdefault(r[0], []).append(r)
for dst, (n, disp, code, side, direction, trunk) in expected.items():
    got = seen.pop(dst, [])
    if len(got) != n:
        bad.append("%s: %d CDRs, expected %d" % (dst, len(got), n))
    for r in got:
        want = (disp, code, side, direction, trunk)
        if tuple(r[1:6]) != want:
            bad.append("%s: %s, expected %s" % (dst, r[1:6], want))
        slot = "6002" if direction == "inbound" else "6001"
        if r[6] != slot:
            bad.append("%s: slot %s, expected %s" % (dst, r[6], slot))
for dst, got in seen.items():
    bad.append("%s: %d unexpected CDRs: %s" % (dst, len(got), got[0]))
if bad:
    print("\n".join(bad))
    sys.exit(1)
print("%d CDRs, one per call, as expected" % len(rows))
PY
}

bin=${VSS_BIN:-$root/target/debug/vss}
[[ -x "$bin" ]] || { echo "calls.sh: $bin not built (cargo build -p vss)" >&2; exit 1; }
write_slots_csv "$work/slots.csv" 5 0 0
config="$work/vss.toml"
write_config "$config" "sqlite://$work/vss.db" "$(
  cat <<TOML
[b2bua]
# A trunk that sends nothing at all for 1 s is given up for the next (scenario g).
trunk_answer_timeout_s = 1

# The carrier: every number, calls in from 127.0.0.1 to two DIDs of slot 6002. No
# OPTIONS pings: SIPp scenarios take any request for a new call.
[[trunks]]
name = "carrier1"
address = "$carrier_ip:$carrier_port"
prefixes = [""]
inbound_acl = ["$carrier_ip"]
dids = { "4420001" = "6002", "4420002" = "6002" }
options_interval_s = 0

# 77… first goes to a trunk that never answers, 78… to a port where nothing listens;
# both fail over to the backup trunk (same prefixes, later in the list).
[[trunks]]
name = "silent"
address = "$carrier_ip:$silent_port"
prefixes = ["77"]
options_interval_s = 0

[[trunks]]
name = "closed"
address = "$carrier_ip:$closed_port"
prefixes = ["78"]
options_interval_s = 0

[[trunks]]
name = "backup"
address = "$carrier_ip:$backup_port"
prefixes = ["77", "78"]
options_interval_s = 0
TOML
)"
echo "calls.sh: vss with sqlite"
provision "$bin" "$config" "$work/slots.csv"
start_vss "$bin" "$config" "$server_log"
echo "calls.sh: testing udp $target; carrier $carrier_ip:$carrier_port, slots on $slot_ip"
scenarios
if ! kill -0 "$server_pid" 2>/dev/null; then
  echo "calls.sh: vss died during the scenarios" >&2
  tail -n 50 "$server_log" >&2
  failures=$((failures + 1))
elif grep -q 'panicked' "$server_log"; then
  echo "calls.sh: vss panicked during the scenarios" >&2
  grep -A5 'panicked' "$server_log" >&2
  failures=$((failures + 1))
fi
# The orderly stop flushes the CDR journal into the database.
stop_vss
if out=$(check_cdrs "$work/vss.db" 2>&1); then
  echo "  ok    cdrs ($out)"
else
  echo "  FAIL  cdrs"
  while IFS= read -r line; do echo "        $line"; done <<<"$out"
  failures=$((failures + 1))
fi

if ((failures > 0)); then
  echo "calls.sh: $failures check(s) failed"
  exit 1
fi
echo "calls.sh: all call scenarios passed"
