#!/usr/bin/env bash
# The README's main command: installs what it needs, then runs the end-to-end demo (as root).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash test/control-plane/build.sh
printf "helm: %s\n" "$(bash scripts/ensure-helm.sh)"
node dist/demo/demo.js
