#!/usr/bin/env bash
# Shows what Veil does today: set-up, the native core's round-trip self-check, a guard
# point made with veil-mount (plaintext through the mount, ciphertext underneath), the
# key manager (a key, a registration token, a host registered by hand with openssl and
# curl, the inventory), and a short crypto benchmark. The agent comes next.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/setup.sh
echo '== native self-check'
npx --no-install tsx scripts/selfcheck.ts

echo '== a guard point'
work=$(mktemp -d /var/tmp/veil-demo-XXXXXX)
demo="$work/data"
manager_pid=
cleanup() {
  node bin/veil-mount.js --unmount "$demo" >/dev/null 2>&1 || umount -l "$demo" 2>/dev/null || true
  [[ -n "$manager_pid" ]] && kill "$manager_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$demo"
head -c 32 /dev/urandom >"$work/demo.key"
chmod 600 "$work/demo.key"
node bin/veil-mount.js "$demo" --key-file "$work/demo.key"
echo 'Quarterly numbers: revenue 4.2M, margin 31%' >"$demo/report.txt"
echo "through the guard point:  $(cat "$demo/report.txt")"
ls -l "$demo"
node bin/veil-mount.js --unmount "$demo"
echo 'underneath, on disk (first bytes of the container):'
od -A d -t x1 -N 64 "$demo/report.txt"
if grep -q 'revenue' "$demo/report.txt"; then
  echo 'plaintext found on disk: this must not happen' >&2
  exit 1
fi
echo 'no plaintext on disk; mounting again shows it once more:'
node bin/veil-mount.js "$demo" --key-file "$work/demo.key" >/dev/null
cat "$demo/report.txt"

echo '== the key manager'
node bin/veil-manager.js serve --data-dir "$work/manager" --listen 127.0.0.1:0 --json >"$work/manager.out" 2>"$work/manager.log" &
manager_pid=$!
for _ in $(seq 100); do [[ -s "$work/manager.out" ]] && break; sleep 0.1; done
url=$(jq -r .url "$work/manager.out")
echo "manager at $url; first administrator's password in $work/manager/admin-password"
admin=(--manager "$url" --data-dir "$work/manager")
node bin/veil-manager.js key create demo-data "${admin[@]}"
token=$(node bin/veil-manager.js token create --max-uses 1 "${admin[@]}" --json | jq -r .token)
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/host.key" \
  -subj /CN=demo -out "$work/host.csr" 2>/dev/null
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072 -out "$work/transport.key" 2>/dev/null
openssl pkey -in "$work/transport.key" -pubout -out "$work/transport.pub"
jq -n --arg token "$token" --rawfile csr "$work/host.csr" --rawfile key "$work/transport.pub" \
  '{token: $token, csr: $csr, transportPublicKey: $key, hostname: "demo-host"}' >"$work/registration.json"
curl -sS --fail-with-body --cacert "$work/manager/ca.crt" -H 'content-type: application/json' \
  --data @"$work/registration.json" "$url/v1/registration" | jq -r '"registered \(.hostName) as \(.hostId)"'
node bin/veil-manager.js inventory "${admin[@]}"
kill "$manager_pid"
manager_pid=

echo '== crypto benchmark (quick)'
npm run --silent bench -- crypto --quick
