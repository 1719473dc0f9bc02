#!/usr/bin/env bash
# Prepares a clone of Veil on Debian 12: system packages, npm dependencies, native build.
# Idempotent: each step runs only when something is missing or out of date.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { printf 'setup: %s\n' "$*"; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

# Build tools, libfuse 3 for the FUSE layer, python3 and runuser (util-linux) for the
# filesystem tests, openssl, curl and jq for the manager tests that register by hand,
# systemd for systemd-creds (veild seals the host key with it) and systemd-analyze (the
# unit's check); it need not run as PID 1; rsyslog and rsyslog-gnutls, the real syslog
# receiver (TCP and TLS) the SIEM forwarding tests start on loopback with their own
# configuration. Never add `fuse` (libfuse 2 tools): it conflicts with fuse3, and
# installing it removes fuse3.
APT_PACKAGES=(cmake g++ make openssl ca-certificates curl jq fuse3 libfuse3-dev python3 util-linux systemd rsyslog rsyslog-gnutls)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
  [[ "$status" == installed ]] || missing+=("$pkg")
done
if ((${#missing[@]} > 0)); then
  ((EUID == 0)) || die "missing Debian packages: ${missing[*]}; run this script as root, or: apt-get install ${missing[*]}"
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  say "system packages present"
fi

command -v node >/dev/null || die "node not found: install Node.js 20.11 or later (with npm)"
node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 11) ? 0 : 1)' \
  || die "Node.js $(node -v) is too old: Veil needs 20.11 or later"

if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  say "installing npm dependencies (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
else
  say "npm dependencies up to date"
fi

# cmake-js and ninja/make rebuild only what changed.
say "building the native core"
mkdir -p build
npx --no-install cmake-js compile --log-level warn >build/setup-build.log 2>&1 || {
  tail -n 40 build/setup-build.log >&2
  die "native build failed (full log: $PWD/build/setup-build.log)"
}
[[ -f build/Release/veil_native.node ]] || die "native build produced no build/Release/veil_native.node"
say "ready"
