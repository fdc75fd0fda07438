#!/usr/bin/env bash
# The README's test command: installs what it needs, then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
step() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*"; }
start=$SECONDS

bash scripts/install-deps.sh
step "helm: $(bash scripts/ensure-helm.sh)"
step "lint"
npm run --silent lint
step "unit, integration and lab tests"
mapfile -t tests < <(find dist -name "*.test.js" | sort)
node --test --test-concurrency=1 --test-reporter=spec "${tests[@]}"
step "parser fuzzing (bounded)"
FUZZ_SECONDS=${FUZZ_SECONDS:-60} bash native/fuzz/run-fuzz.sh
step "the demo, end to end (npm run demo)"
bash test/control-plane/build.sh
node dist/demo/demo.js
step "all tests passed in $((SECONDS - start)) s"
