#!/usr/bin/env bash
# Makes sure PostgreSQL is up for the tests and prints, as the only line on standard output,
# the URL they should use (make test exports it as VSS_TEST_PG_URL). Messages go to stderr.
#
# 1. VSS_TEST_PG_URL already set: it is checked with psql and printed; nothing else happens.
# 2. Nothing accepts connections on 127.0.0.1:5432: the Debian cluster on that port is
#    started with pg_ctlcluster (created first with pg_createcluster if there is no cluster
#    at all), and the script waits until it is ready.
# 3. If role postgres can log in over TCP without a password (trust, as on CI machines), the
#    URL is postgres://postgres@127.0.0.1:5432/postgres.
# 4. Otherwise (a developer's box, where pg_hba.conf asks for a password over TCP), a role
#    `vss` with password `vss`, LOGIN and CREATEDB is created once, through the postgres OS
#    user over the local socket (peer authentication), and the URL is
#    postgres://vss:vss@127.0.0.1:5432/postgres. CREATEDB is all the tests need: each run
#    creates its own uniquely named database and drops it. An existing role `vss` is never
#    changed; if its password is not `vss`, the script stops and says so. The server keeps
#    listening on localhost only (Debian's default), so the well-known password is not
#    reachable from other machines.
#
# Starting a cluster or creating the role needs root or sudo; nothing else does.
set -euo pipefail

host=127.0.0.1
# Another port (for a second cluster) can be chosen with VSS_TEST_PG_PORT.
port="${VSS_TEST_PG_PORT:-5432}"

log() { echo "start-postgres: $*" >&2; }
die() {
  log "$*"
  exit 1
}

can_connect() { PGCONNECT_TIMEOUT=5 psql "$1" -X -w -Atqc 'select 1' >/dev/null 2>&1; }

as_root() {
  if [[ $(id -u) -eq 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    die "need root or sudo to run: $*"
  fi
}

as_postgres() {
  if [[ $(id -un) == postgres ]]; then
    "$@"
  elif [[ $(id -u) -eq 0 ]]; then
    runuser -u postgres -- "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo -u postgres "$@"
  else
    die "need root or sudo to run as user postgres: $*"
  fi
}

for tool in psql pg_isready; do
  command -v "$tool" >/dev/null 2>&1 ||
    die "$tool is missing (PostgreSQL client tools): run scripts/install-deps.sh"
done

if [[ -n "${VSS_TEST_PG_URL:-}" ]]; then
  can_connect "$VSS_TEST_PG_URL" || die "VSS_TEST_PG_URL is set, but psql cannot connect with it"
  echo "$VSS_TEST_PG_URL"
  exit 0
fi

if ! pg_isready -q -h "$host" -p "$port"; then
  command -v pg_lsclusters >/dev/null 2>&1 ||
    die "nothing accepts connections on $host:$port, and without Debian's postgresql-common" \
      "this script cannot start a server: start one, or set VSS_TEST_PG_URL"
  version="" cluster=""
  read -r version cluster < <(pg_lsclusters -h | awk -v p="$port" '$3 == p { print $1, $2; exit }') || true
  if [[ -z "$version" ]]; then
    if [[ -n "$(pg_lsclusters -h)" ]]; then
      die "there are PostgreSQL clusters, but none on port $port (see pg_lsclusters):" \
        "move one to $port, or set VSS_TEST_PG_URL"
    fi
    version="$(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' 2>/dev/null | sort -V | tail -n 1)"
    [[ -n "$version" ]] || die "no PostgreSQL server is installed: run scripts/install-deps.sh"
    cluster=main
    log "creating cluster $version/$cluster on port $port"
    as_root pg_createcluster -p "$port" "$version" "$cluster" >&2
  fi
  log "starting cluster $version/$cluster"
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" "$cluster" start >&2
  for _ in $(seq 1 30); do
    pg_isready -q -h "$host" -p "$port" && break
    sleep 1
  done
  pg_isready -q -h "$host" -p "$port" ||
    die "PostgreSQL $version/$cluster did not accept connections on $host:$port within 30 s" \
      "(see /var/log/postgresql/postgresql-$version-$cluster.log)"
fi

url="postgres://postgres@$host:$port/postgres"
if can_connect "$url"; then
  echo "$url"
  exit 0
fi

url="postgres://vss:vss@$host:$port/postgres"
if ! can_connect "$url"; then
  exists="$(as_postgres psql -X -w -p "$port" -d postgres -Atqc \
    "select 1 from pg_roles where rolname = 'vss'")" ||
    die "cannot reach PostgreSQL as the postgres OS user over the local socket (peer" \
      "authentication); create a role for the tests yourself and set VSS_TEST_PG_URL"
  if [[ "$exists" == 1 ]]; then
    die "role vss exists but cannot log in over TCP with password vss; this script does not" \
      "change an existing role: set VSS_TEST_PG_URL to a URL that works"
  fi
  log "postgres cannot log in over TCP without a password; creating role vss" \
    "(password vss, LOGIN CREATEDB) for the tests"
  as_postgres psql -X -w -q -p "$port" -d postgres -v ON_ERROR_STOP=1 \
    -c "create role vss login createdb password 'vss'" >&2
  can_connect "$url" ||
    die "created role vss, but it cannot log in over TCP: check the host lines for" \
      "$host in pg_hba.conf (they should say scram-sha-256 or md5)"
fi
echo "$url"
