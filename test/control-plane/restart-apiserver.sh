#!/usr/bin/env bash
# restart-apiserver.sh [STATE_DIR]  (default /tmp/floodgate-cp)
#
# Stops and restarts only kube-apiserver of a running test control plane, with
# the very same flags (STATE_DIR/apiserver.args), port, serving certificate and
# tokens, so clients keep their kubeconfig; etcd (and so all objects and their
# resourceVersions) stays up. For testing that watches survive a restart.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
FG_TAG="floodgate-cp restart-apiserver"
# shellcheck source=lib.sh
source "$HERE/lib.sh"

DIR="${1:-$FG_DEFAULT_STATE_DIR}"
[[ -d "$DIR" ]] || fg_die "no state dir $DIR: run start.sh first"
STATE="$(cd "$DIR" && pwd -P)"
FG_LOG="$STATE/restart.log"

fg_lock "$STATE"

[[ -s "$STATE/apiserver.args" ]] || fg_die "$STATE/apiserver.args missing: start the control plane with start.sh first"
fg_pid_alive "$STATE/etcd.pid" etcd || fg_die "etcd of $STATE is not running: use start.sh instead"

stop_apiserver() { fg_stop_pid "$STATE/apiserver.pid" kube-apiserver 20; }
wait_port_free() {
  # shellcheck disable=SC1091
  . "$STATE/ports"
  local i
  for ((i = 0; i < 100; i++)); do
    fg_port_in_use "$APISERVER_PORT" "$(fg_apiserver_host "$STATE")" || return 0
    sleep 0.1
  done
  fail "port $APISERVER_PORT still in use 10s after kube-apiserver stopped"
}

if fg_pid_alive "$STATE/apiserver.pid" kube-apiserver; then
  run_step "stop kube-apiserver (pid $(cat "$STATE/apiserver.pid"))" stop_apiserver
else
  skip_step "stop kube-apiserver" "not running"
fi
run_step "wait for port to be released" wait_port_free
run_step "start kube-apiserver with the same flags" fg_start_apiserver "$STATE"
run_step "wait for kube-apiserver /readyz" fg_wait_apiserver "$STATE" 180
fg_info "restarted: kube-apiserver pid $(cat "$STATE/apiserver.pid")"
