#!/usr/bin/env bash
# The whole product on one machine: set-up and install, an embedded key manager on
# loopback, the local agent (veild) registered with a token, a key and a policy, a demo
# directory guarded in place; plaintext for the permitted user, ciphertext for the backup
# user's encrypted view and on disk, a denial for anyone else; then agentctl status.
# Everything it makes (processes, mounts, users, files) is removed at the end. The agent
# runs with its state under a temporary directory, so an installed veild is not touched.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/setup.sh
bash scripts/install.sh
echo '== native self-check'
npx --no-install tsx scripts/selfcheck.ts

OWNER=veil_demo_owner BACKUP=veil_demo_backup OTHER=veil_demo_other
work=$(mktemp -d /var/tmp/veil-demo-XXXXXX)
chmod 755 "$work" # the demo users walk through it
demo="$work/payroll"
manager_pid= veild_pid=
cleanup() {
  [[ -n "$veild_pid" ]] && kill "$veild_pid" 2>/dev/null && wait "$veild_pid" 2>/dev/null || true
  umount -l "$demo" 2>/dev/null || true
  [[ -n "$manager_pid" ]] && kill "$manager_pid" 2>/dev/null && wait "$manager_pid" 2>/dev/null || true
  for user in $OWNER $BACKUP $OTHER; do userdel "$user" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
for user in $OWNER $BACKUP $OTHER; do userdel "$user" 2>/dev/null || true; useradd --no-create-home "$user"; done
mkdir -p "$demo"
chown "$OWNER" "$demo"
as() { local user=$1; shift; runuser -u "$user" -- bash -c "$*"; }

echo '== the key manager, on loopback'
veil-manager serve --data-dir "$work/manager" --listen 127.0.0.1:0 --json >"$work/manager.out" 2>"$work/manager.log" &
manager_pid=$!
for _ in $(seq 300); do [[ -s "$work/manager.out" ]] && break; sleep 0.1; done
url=$(jq -r .url "$work/manager.out")
admin=(--manager "$url" --data-dir "$work/manager")
fingerprint=$(veil-manager ca show --data-dir "$work/manager" --json | jq -r .fingerprint)
echo "manager at $url; CA fingerprint $fingerprint"

echo '== the agent: veild, registered with a one-time token'
cat >"$work/agent.json" <<JSON
{"stateDirectory": "$work/agent/state", "runtimeDirectory": "$work/agent/run"}
JSON
export VEIL_AGENT_SOCKET="$work/agent/run/agent.sock"
veild --config "$work/agent.json" >"$work/veild.log" 2>&1 &
veild_pid=$!
for _ in $(seq 300); do grep -q 'ready:' "$work/veild.log" && break; sleep 0.1; done
token=$(veil-manager token create --max-uses 1 --lifetime 600 "${admin[@]}" --json | jq -r .token)
agentctl register --manager "$url" --token "$token" --fingerprint "$fingerprint" --hostname demo-host
host_id=$(agentctl status --json | jq -r .hostId)

echo '== a key, a policy and a guard point, on the manager'
key_id=$(veil-manager key create payroll "${admin[@]}" --json | jq -r .keyId)
jq -n --arg key "$key_id" --arg owner "$OWNER" --arg backup "$BACKUP" '{
  name: "payroll",
  description: "The owner reads and writes plaintext; backup copies the encrypted bytes; everyone else is refused.",
  resourceSets: { all: { include: ["**"] } },
  userSets: { owner: { users: [$owner] }, backup: { users: [$backup] } },
  securityRules: [
    { userSet: "owner", actions: ["all_ops"], effect: ["permit", "apply_key"] },
    { userSet: "backup", actions: ["read"], effect: ["permit", "audit"] },
    { actions: ["d_rd", "d_rd_att", "f_rd_att"], effect: ["permit"] },
    { actions: ["all_ops"], effect: ["deny"] }
  ],
  keyRules: [ { resourceSet: "all", key: { keyId: $key } } ]
}' >"$work/payroll.json"
veil-manager policy put "$work/payroll.json" "${admin[@]}"
veil-manager guardpoint add "$demo" --policy payroll --host "$host_id" "${admin[@]}"
for _ in $(seq 600); do
  [[ $(agentctl status --json | jq -r --arg p "$demo" '.guardPoints[] | select(.path == $p) | .status') == guarded ]] && break
  sleep 0.1
done

echo '== through the guard point'
as "$OWNER" "echo 'Salaries 2026: 1,204 people, 84.1M' > $demo/salaries.txt"
echo "$OWNER reads:   $(as "$OWNER" "cat $demo/salaries.txt")"
echo "$BACKUP reads (the encrypted view, first bytes):"
as "$BACKUP" "od -A d -t x1 -N 48 $demo/salaries.txt"
if as "$OTHER" "cat $demo/salaries.txt" 2>"$work/denied.txt"; then
  echo "$OTHER was not refused: this must not happen" >&2
  exit 1
fi
echo "$OTHER is refused: $(cat "$work/denied.txt")"

echo '== agentctl status'
agentctl status
echo '== agentctl events (the last few)'
agentctl events --limit 6

echo '== stopping veild: the guard point goes, the data stays encrypted on disk'
kill "$veild_pid"
wait "$veild_pid" || true
veild_pid=
od -A d -t x1 -N 32 "$demo/salaries.txt"
if grep -q 'Salaries' "$demo/salaries.txt"; then
  echo 'plaintext found on disk: this must not happen' >&2
  exit 1
fi
echo 'no plaintext on disk.'

echo '== crypto benchmark (quick)'
npm run --silent bench -- crypto --quick
