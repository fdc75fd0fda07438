#!/usr/bin/env bash
# stop.sh [--wipe] [STATE_DIR]  (default /tmp/floodgate-cp)
#
# Stops the test control plane of STATE_DIR: kube-apiserver first, then etcd
# (SIGTERM, wait, SIGKILL). With --wipe also removes STATE_DIR (etcd data,
# keys, tokens, kubeconfigs). Stopping what is not running is not an error.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
FG_TAG="floodgate-cp stop"
# shellcheck source=lib.sh
source "$HERE/lib.sh"

WIPE=0; DIR_ARG=""
for a in "$@"; do
  case "$a" in
    --wipe) WIPE=1 ;;
    -h|--help) sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) fg_die "unknown option $a (usage: stop.sh [--wipe] [STATE_DIR])" ;;
    *) [[ -z "$DIR_ARG" ]] || fg_die "more than one STATE_DIR given"; DIR_ARG="$a" ;;
  esac
done
DIR="${DIR_ARG:-$FG_DEFAULT_STATE_DIR}"
if [[ ! -d "$DIR" ]]; then
  skip_step "stop control plane" "no state dir $DIR"
  exit 0
fi
STATE="$(cd "$DIR" && pwd -P)"
FG_LOG="$STATE/stop.log"

fg_lock "$STATE"

stop_one() { fg_stop_pid "$STATE/$1.pid" "$2" "$3"; }

if fg_pid_alive "$STATE/apiserver.pid" kube-apiserver; then
  run_step "stop kube-apiserver (pid $(cat "$STATE/apiserver.pid"))" stop_one apiserver kube-apiserver 20
else
  skip_step "stop kube-apiserver" "not running"; rm -f "$STATE/apiserver.pid"
fi
if fg_pid_alive "$STATE/etcd.pid" etcd; then
  run_step "stop etcd (pid $(cat "$STATE/etcd.pid"))" stop_one etcd etcd 20
else
  skip_step "stop etcd" "not running"; rm -f "$STATE/etcd.pid"
fi

wipe() {
  # Refuse to remove anything that does not look like a control-plane state dir.
  [[ -e "$STATE/ports" || -e "$STATE/tokens.csv" || -d "$STATE/etcd" || -e "$STATE/.lock" ]] \
    || fail "$STATE does not look like a control-plane state dir; not removing it"
  [[ "$STATE" != / && "$STATE" != "$HOME" ]] || fail "refusing to remove $STATE"
  rm -rf "$STATE"
}
if ((WIPE)); then
  exec 9>&-
  run_step "wipe state dir $STATE" wipe
fi
fg_info "stopped"
