#!/usr/bin/env bash
# The full check CI runs: set-up, lint, type check, every test. Stops at the first failure.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/setup.sh
echo '== lint'
npm run --silent lint
echo '== typecheck'
npm run --silent typecheck
echo '== test'
npm test --silent
