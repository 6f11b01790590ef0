#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages VSS needs, and only those that are missing.
#
#   scripts/install-deps.sh [build|test]     (default: test)
#
#   build  what `make demo` needs: a C toolchain, pkg-config and libopus (for the media crate),
#          clang and libbpf-dev (the media crate's in-kernel RTP forwarding program; without
#          them the build warns and the userspace relay carries all media)
#   test   also PostgreSQL, SIPp (package sip-tester) and iproute2 (the network namespaces of
#          the in-kernel forwarding tests with remote peers), for `make test`
#
# Each package is checked with dpkg-query; apt-get runs only when one is missing, through
# sudo when not root. When everything is present the script prints nothing. It also checks
# that cargo exists and is new enough, and says how to get Rust when it is not.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { echo "install-deps: $*" >&2; }

profile="${1:-test}"
build_packages=(build-essential pkg-config libopus-dev ca-certificates curl clang libbpf-dev)
test_packages=(postgresql sip-tester iproute2)
case "$profile" in
  build) packages=("${build_packages[@]}") ;;
  test) packages=("${build_packages[@]}" "${test_packages[@]}") ;;
  *)
    echo "usage: $0 [build|test]" >&2
    exit 2
    ;;
esac

if ! command -v dpkg-query >/dev/null 2>&1; then
  log "not a Debian/Ubuntu system: make sure these (or your distribution's equivalents)" \
    "are installed: ${packages[*]}"
else
  missing=()
  for package in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed'; then
      missing+=("$package")
    fi
  done
  if ((${#missing[@]} > 0)); then
    if [[ $(id -u) -eq 0 ]]; then
      as_root=()
    elif command -v sudo >/dev/null 2>&1; then
      as_root=(sudo)
    else
      log "missing packages: ${missing[*]}; as root, run: apt-get install ${missing[*]}"
      exit 1
    fi
    log "installing ${missing[*]}"
    "${as_root[@]}" apt-get update -qq
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
  fi
fi

if ! command -v cargo >/dev/null 2>&1; then
  if [[ -x "$HOME/.cargo/bin/cargo" ]]; then
    log "Rust is installed in ~/.cargo/bin but not on PATH: run  . \"\$HOME/.cargo/env\"  first"
  else
    log "Rust is not installed. Install it with rustup:"
    log "  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y"
    log "then open a new shell (or run  . \"\$HOME/.cargo/env\") and try again."
  fi
  exit 1
fi

# The workspace's rust-version; cargo would refuse an older toolchain with a less helpful
# message.
required="$(sed -n 's/^rust-version *= *"\([0-9.]*\)".*/\1/p' Cargo.toml | head -n 1)"
if [[ -n "$required" ]] && command -v rustc >/dev/null 2>&1; then
  have="$(rustc --version | awk '{print $2}')"
  if [[ "$(printf '%s\n%s\n' "$required" "$have" | sort -V | head -n 1)" != "$required" ]]; then
    log "Rust $have is older than the $required this workspace needs: run  rustup update"
    exit 1
  fi
fi
