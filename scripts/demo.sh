#!/usr/bin/env bash
# Shows what Veil does today: set-up, the native core's round-trip self-check, and a short
# crypto benchmark. Grows with the project (guard points come with the FUSE layer).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/setup.sh
echo '== native self-check'
npx --no-install tsx scripts/selfcheck.ts
echo '== crypto benchmark (quick)'
npm run --silent bench -- crypto --quick
