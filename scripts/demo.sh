#!/usr/bin/env bash
# Shows what Veil does today: set-up, the native core's round-trip self-check, a guard
# point made with veil-mount (plaintext through the mount, ciphertext underneath), and a
# short crypto benchmark. Grows with the project: the manager and the agent come next.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/setup.sh
echo '== native self-check'
npx --no-install tsx scripts/selfcheck.ts

echo '== a guard point'
work=$(mktemp -d /var/tmp/veil-demo-XXXXXX)
demo="$work/data"
cleanup() {
  node bin/veil-mount.js --unmount "$demo" >/dev/null 2>&1 || umount -l "$demo" 2>/dev/null || true
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

echo '== crypto benchmark (quick)'
npm run --silent bench -- crypto --quick
