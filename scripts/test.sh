#!/usr/bin/env bash
# The README's test command: installs what it needs, then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
step() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*"; }
start=$SECONDS

bash scripts/install-deps.sh
step "helm: $(bash scripts/ensure-helm.sh)"
# Once per machine, then cached in /var/cache/floodgate: kube-apiserver for the
# test control plane, and kubelet, kube-controller-manager, kube-scheduler,
# kube-proxy and pause for the one-node cluster, all from Debian's source.
step "Kubernetes 1.20.2 binaries (test/control-plane/build.sh --node)"
bash test/control-plane/build.sh --node
step "Docker: $(bash scripts/ensure-docker.sh)"
step "the images (scripts/build-images.sh: images/Dockerfile, targets controller and agent, on node:24-bookworm-slim)"
bash scripts/build-images.sh
step "lint"
npm run --silent lint
step "unit, integration and lab tests"
mapfile -t tests < <(find dist -name "*.test.js" ! -path 'dist/test/images/*' ! -path 'dist/test/cluster/*' | sort)
node --test --test-concurrency=1 --test-reporter=spec "${tests[@]}"
step "the images run, and the chart on a one-node cluster (test/images, test/cluster)"
cluster_start=$SECONDS
mapfile -t tests < <(find dist/test/images dist/test/cluster -name "*.test.js" | sort)
node --test --test-concurrency=1 --test-reporter=spec "${tests[@]}"
step "the images and the cluster took $((SECONDS - cluster_start)) s"
step "parser fuzzing (bounded)"
FUZZ_SECONDS=${FUZZ_SECONDS:-60} bash native/fuzz/run-fuzz.sh
step "the demo, end to end (npm run demo)"
bash test/control-plane/build.sh
node dist/demo/demo.js
step "all tests passed in $((SECONDS - start)) s"
