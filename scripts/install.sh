#!/usr/bin/env bash
# Installs Veil from this clone on this host (as root, after scripts/setup.sh): the
# commands into /usr/local/bin, veild's systemd unit, and a default /etc/veil/agent.json.
# Idempotent. It enables nothing: `systemctl enable --now veild` is the operator's call.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo=$PWD

say() { printf 'install: %s\n' "$*"; }
((EUID == 0)) || { echo 'install: error: run as root' >&2; exit 1; }
[[ -f build/Release/veil_native.node ]] || { echo 'install: error: run scripts/setup.sh first' >&2; exit 1; }

for command in veild agentctl veil-manager veil-mount veil-policy; do
  ln -sfn "$repo/bin/$command.js" "/usr/local/bin/$command"
done
say "commands linked into /usr/local/bin"

install -d -m 0755 /etc/veil
if [[ ! -e /etc/veil/agent.json ]]; then
  printf '{}\n' >/etc/veil/agent.json
  chmod 0644 /etc/veil/agent.json
  say "wrote /etc/veil/agent.json (defaults: docs/agent.md)"
fi
install -m 0644 agent/systemd/veild.service /etc/systemd/system/veild.service
say "installed /etc/systemd/system/veild.service"
if [[ -d /run/systemd/system ]]; then
  systemctl daemon-reload
  say "systemd reloaded: systemctl enable --now veild"
else
  say "systemd is not running here: start veild by hand (veild --config /etc/veil/agent.json)"
fi
