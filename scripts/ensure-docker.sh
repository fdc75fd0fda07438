#!/usr/bin/env bash
# Makes a Docker engine answer on /var/run/docker.sock, for building and running
# floodgate's images in the test command. Idempotent: when an engine already
# answers it is used as it is (this script never stops or reconfigures one).
#
# Otherwise (a fresh Debian 12 machine, no systemd) it installs Debian's
# docker.io (20.10) and starts `dockerd` itself, detached, with a config file of
# its own (never /etc/docker/daemon.json):
#   $FLOODGATE_CACHE/docker/daemon.json   (default /var/cache/floodgate)
#   /var/log/floodgate-dockerd.log        dockerd's output
# Settings, and why:
#   - "iptables": false, "ip-forward": false: dockerd adds no chains or rules to
#     the host's firewall, does not set the FORWARD policy to DROP and does not
#     turn on IP forwarding, all of which other tests' network namespaces would
#     feel. Builds use `--network host`; the one-node cluster
#     (test/cluster/node.sh) turns forwarding on while it runs, for pods that
#     reach each other through Service addresses.
#   - When this process lacks CAP_SYS_RESOURCE (these test machines), the
#     default OCI runtime is a TEST-ONLY wrapper around runc
#     (scripts/docker/runc-no-negative-oom): kubelet gives every pod sandbox
#     oom_score_adj -998, lowering it needs CAP_SYS_RESOURCE, and runc then
#     fails with "can't get final child's PID from pipe". The wrapper raises a
#     negative oomScoreAdj in the bundle's config.json to 0 and execs runc. On a
#     normal machine (or with the capability) runc is used as is.
# Prints the engine's version line on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."

die() { echo "ensure-docker: $*" >&2; exit 1; }
info() { echo "ensure-docker: $*" >&2; }

SOCK=/var/run/docker.sock
DIR=${FLOODGATE_CACHE:-/var/cache/floodgate}/docker
LOG=/var/log/floodgate-dockerd.log
WRAPPER_NAME=floodgate-runc
APT_PACKAGES=(docker.io jq)

# CAP_SYS_RESOURCE is bit 24 of the effective capability set.
has_sys_resource() {
  local eff
  eff=$(awk '/^CapEff:/ { print $2 }' /proc/self/status)
  (( (16#$eff >> 24) & 1 ))
}

answers() { docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

report() {
  local v rt
  v=$(docker version --format '{{.Server.Version}}' 2>/dev/null)
  rt=$(docker info --format '{{.DefaultRuntime}}' 2>/dev/null || echo '?')
  echo "docker $v (default runtime $rt, $(docker info --format '{{.Driver}}' 2>/dev/null) storage)"
}

# An engine that answers is used as it is, but say when pod sandboxes will fail on it.
check_runtime() {
  if ! has_sys_resource && [[ $(docker info --format '{{.DefaultRuntime}}' 2>/dev/null) != "$WRAPPER_NAME" ]]; then
    info "warning: this engine was not started by ensure-docker.sh and runs runc as is; without CAP_SYS_RESOURCE kubelet's pod sandboxes (oom_score_adj -998) will not start on it"
  fi
}

if answers; then check_runtime; report; exit 0; fi

[[ $(id -u) -eq 0 ]] || die "no Docker engine answers on $SOCK, and starting one needs root"

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  info "apt-get install ${missing[*]} (Debian's Docker engine)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v dockerd >/dev/null || die "dockerd not found after installing docker.io"
runc=$(command -v runc) || die "runc not found (docker.io depends on it)"

mkdir -p "$DIR"
exec 8>"$DIR/.start.lock"
flock -w 300 8 || die "another ensure-docker.sh held $DIR/.start.lock for 300 s"
# Another caller may have started it while we waited for the lock, or the
# package's init script (a machine with systemd) did.
if answers; then check_runtime; report; exit 0; fi

runtime_json=''
if ! has_sys_resource; then
  install -m 0755 scripts/docker/runc-no-negative-oom "$DIR/$WRAPPER_NAME.new"
  sed -i "s|^RUNC=.*|RUNC=$runc|" "$DIR/$WRAPPER_NAME.new"
  mv -f "$DIR/$WRAPPER_NAME.new" "$DIR/$WRAPPER_NAME"
  runtime_json=$(printf ',\n  "runtimes": { "%s": { "path": "%s" } },\n  "default-runtime": "%s"' \
    "$WRAPPER_NAME" "$DIR/$WRAPPER_NAME" "$WRAPPER_NAME")
fi
cat >"$DIR/daemon.json.new" <<EOF
{
  "iptables": false,
  "ip-forward": false,
  "storage-driver": "overlay2",
  "log-driver": "json-file",
  "log-opts": { "max-size": "10m", "max-file": "2" }$runtime_json
}
EOF
mv -f "$DIR/daemon.json.new" "$DIR/daemon.json"

# A stale pid file from a dockerd that died would stop the new one.
if [[ -s /var/run/docker.pid ]] && ! kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then rm -f /var/run/docker.pid; fi
info "starting dockerd (config $DIR/daemon.json, log $LOG)"
printf '\n===== %s: dockerd started by ensure-docker.sh =====\n' "$(date -Is)" >>"$LOG"
# Own session and no inherited file descriptor but 0-2: it outlives the test
# that started it, and must not keep a caller's lock file (e.g. the one of
# `flock /tmp/floodgate-heavy.lock`) open, which would hold that lock.
# shellcheck disable=SC2016
setsid bash -c 'for fd in /proc/$$/fd/*; do fd=${fd##*/}; if ((fd > 2)); then eval "exec $fd>&-" 2>/dev/null || true; fi; done
  exec dockerd --config-file "$0"' "$DIR/daemon.json" </dev/null >>"$LOG" 2>&1 &
for ((i = 0; i < 120; i++)); do
  answers && break
  sleep 0.5
done
answers || { tail -n 20 "$LOG" >&2; die "dockerd did not answer within 60 s (log: $LOG)"; }
report
