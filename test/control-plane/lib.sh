# shellcheck shell=bash
# Shared helpers for the floodgate test control-plane scripts.
# Sourced by build.sh, start.sh, stop.sh and restart-apiserver.sh.

FG_K8S_VERSION="1.20.2"
FG_CACHE_DIR="${FLOODGATE_CACHE:-/var/cache/floodgate}"
FG_APISERVER_DIR="$FG_CACHE_DIR/kube-apiserver-$FG_K8S_VERSION"
FG_APISERVER_BIN="$FG_APISERVER_DIR/kube-apiserver"
# The one-node cluster's binaries (build.sh --node; used by test/cluster/node.sh).
# shellcheck disable=SC2034 # used by the scripts that source this file
FG_NODE_DIR="$FG_CACHE_DIR/kube-node-$FG_K8S_VERSION"
# shellcheck disable=SC2034
FG_NODE_CMDS=(kubelet kube-controller-manager kube-scheduler kube-proxy)
FG_DEFAULT_STATE_DIR="/tmp/floodgate-cp"

FG_TAG="${FG_TAG:-floodgate-cp}"
FG_T0="$EPOCHREALTIME"
FG_CURRENT_STEP=""
# Where the output of each step goes; scripts override this.
FG_LOG="${FG_LOG:-/dev/null}"

_fg_since() { # seconds elapsed since $1 (an EPOCHREALTIME value), one decimal
  awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'
}

fg_info() { printf '[%s +%ss] %s\n' "$FG_TAG" "$(_fg_since "$FG_T0")" "$*"; }

fg_die() { # print an error naming the current step and exit
  local where=""
  [[ -n "$FG_CURRENT_STEP" ]] && where=" in step '$FG_CURRENT_STEP'"
  printf '[%s] ERROR%s: %s\n' "$FG_TAG" "$where" "$*" >&2
  exit 1
}

# fail: used *inside* a step body: explain why, exit non-zero. run_step then
# reports which step failed and shows the tail of the step log.
fail() { printf 'FAILED: %s\n' "$*" >&2; exit 1; }

# fg_since_marker FILE: the lines of FILE after its last "===== ..." marker
# line (markers open each step and each daemon start).
fg_since_marker() { awk '/^===== / { n = 0; delete buf; next } { buf[n++] = $0 } END { for (i = 0; i < n; i++) print buf[i] }' "$1"; }

# run_step NAME CMD [ARGS...]
# Runs CMD (usually a shell function) in a subshell with `set -e` really in
# force (it would be silently disabled inside `if CMD`), output appended to
# $FG_LOG. Prints one progress line: "NAME ... ok (3.2s)". On failure prints
# which step failed, its exit code, the reason and the last log lines, and
# exits the script.
run_step() {
  local name="$1"; shift
  local t0="$EPOCHREALTIME" rc
  FG_CURRENT_STEP="$name"
  printf '[%s +%ss] %s ... ' "$FG_TAG" "$(_fg_since "$FG_T0")" "$name"
  printf '\n===== %s: %s =====\n' "$(date -Is)" "$name" >>"$FG_LOG"
  set +e
  ( set -euo pipefail; "$@" ) >>"$FG_LOG" 2>&1 </dev/null
  rc=$?
  set -e
  if [[ $rc -ne 0 ]]; then
    printf 'FAILED (exit %d, %ss)\n' "$rc" "$(_fg_since "$t0")"
    {
      printf '[%s] ERROR: step "%s" failed with exit code %d.\n' "$FG_TAG" "$name" "$rc"
      if [[ "$FG_LOG" != /dev/null ]]; then
        local out reason
        out="$(fg_since_marker "$FG_LOG")"
        reason="$(grep '^FAILED: ' <<<"$out" | tail -n 1 | sed 's/^FAILED: //')" || true
        [[ -n "$reason" ]] && printf '[%s] reason: %s\n' "$FG_TAG" "$reason"
        printf '[%s] output of the step (last 25 lines; all in %s):\n' "$FG_TAG" "$FG_LOG"
        tail -n 25 <<<"$out" | sed 's/^/    /'
      fi
    } >&2
    exit "$rc"
  fi
  printf 'ok (%ss)\n' "$(_fg_since "$t0")"
  FG_CURRENT_STEP=""
}

# skip_step NAME WHY: print a progress line for a step that is not needed.
skip_step() { printf '[%s +%ss] %s ... skipped (%s)\n' "$FG_TAG" "$(_fg_since "$FG_T0")" "$1" "$2"; }

fg_state_dir() { # resolve the state dir argument to an absolute path
  local d="${1:-$FG_DEFAULT_STATE_DIR}"
  mkdir -p "$d" || fg_die "cannot create state dir $d"
  (cd "$d" && pwd -P)
}

fg_kubectl() { # path of a kubectl binary, or empty
  if [[ -x /usr/local/bin/kubectl ]]; then echo /usr/local/bin/kubectl
  else command -v kubectl || true
  fi
}

# fg_pid_alive PIDFILE [EXPECTED_COMM]: true if the pid in PIDFILE runs
# (and, if given, its /proc/PID/comm equals EXPECTED_COMM).
fg_pid_alive() {
  local pidfile="$1" comm="${2:-}" pid
  [[ -s "$pidfile" ]] || return 1
  pid="$(cat "$pidfile")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  if [[ -n "$comm" ]]; then
    [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == "$comm" ]] || return 1
  fi
  return 0
}

# fg_stop_pid PIDFILE NAME [TIMEOUT_S]: SIGTERM, wait, then SIGKILL.
fg_stop_pid() {
  local pidfile="$1" name="$2" timeout="${3:-15}" pid i
  if ! fg_pid_alive "$pidfile" "$name"; then rm -f "$pidfile"; return 0; fi
  pid="$(cat "$pidfile")"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < timeout * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$pidfile"; return 0; }
    sleep 0.1
  done
  echo "$name (pid $pid) ignored SIGTERM for ${timeout}s; sending SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$pidfile"; return 0; }
    sleep 0.1
  done
  fail "$name (pid $pid) survived SIGKILL"
}

# fg_free_port: print a currently free TCP port on 127.0.0.1.
fg_free_port() {
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})' 2>/dev/null \
    || python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'
}

# ---------------------------------------------------------------------------
# Control-plane state dir layout (STATE = state dir):
#   STATE/ports              ETCD_CLIENT_PORT=, ETCD_PEER_PORT=, APISERVER_PORT=
#   STATE/etcd/              etcd data dir;  STATE/etcd.pid, STATE/etcd.log
#   STATE/pki/               sa.key, sa.crt; serving/ (apiserver --cert-dir)
#   STATE/tokens.csv         static token file (admin + non-admin user)
#   STATE/apiserver.args     kube-apiserver flags, one per line (for restarts)
#   STATE/apiserver.pid, STATE/apiserver.log
#   STATE/kubeconfig, STATE/kubeconfig-user, STATE/env
# ---------------------------------------------------------------------------

fg_port_in_use() { # fg_port_in_use PORT [HOST]: true if something listens on HOST (127.0.0.1):PORT
  (exec 3<>"/dev/tcp/${2:-127.0.0.1}/$1") 2>/dev/null
}

# fg_apiserver_host STATE: the address kube-apiserver listens on: 127.0.0.1,
# or the node's address for a control plane started for a node
# (FLOODGATE_CP_NODE_IP, see start.sh), which pods must reach.
fg_apiserver_host() { local h; h="$(fg_port "$1" APISERVER_HOST)"; echo "${h:-127.0.0.1}"; }

# fg_launch LOGFILE PIDFILE COMM CMD [ARGS...]: start CMD detached (own
# session via setsid --fork, stdin /dev/null, output to LOGFILE, and no other
# inherited file descriptor: a daemon that kept the caller's lock files open,
# such as `flock /tmp/floodgate-heavy.lock`'s, would hold those locks for as
# long as it runs). The process writes its own pid to PIDFILE before it execs CMD; we
# then wait until that pid's /proc/PID/comm is COMM (the exec happened), so a
# later fg_pid_alive PIDFILE COMM cannot race the exec.
# Close every file descriptor but 0, 1 and 2 of the current shell.
fg_close_fds() {
  local fd
  for fd in "/proc/$BASHPID/fd/"*; do
    fd=${fd##*/}
    if [[ $fd =~ ^[0-9]+$ ]] && ((fd > 2)); then eval "exec $fd>&-" 2>/dev/null || true; fi
  done
}
export -f fg_close_fds

fg_launch() {
  local log="$1" pidfile="$2" comm="$3" pid="" i; shift 3
  rm -f "$pidfile"
  # shellcheck disable=SC2016
  setsid --fork bash -c 'fg_close_fds; echo $$ >"$0.tmp" && mv -f "$0.tmp" "$0" && exec "$@"' "$pidfile" "$@" \
    </dev/null >>"$log" 2>&1 9>&- 8>&-
  for ((i = 0; i < 100; i++)); do
    [[ -s "$pidfile" ]] && pid="$(cat "$pidfile")"
    if [[ -n "$pid" ]]; then
      [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == "$comm" ]] && return 0
      kill -0 "$pid" 2>/dev/null || fail "$comm (pid $pid) exited right after start; see $log"
    fi
    sleep 0.05
  done
  fail "$comm did not start within 5s (pid file $pidfile: '${pid}')"
}

fg_port() { sed -n "s/^$2=//p" "$1/ports"; } # fg_port STATE ETCD_CLIENT_PORT|ETCD_PEER_PORT|APISERVER_PORT|APISERVER_HOST

fg_token() { awk -F, -v u="$2" '$2 == u { print $1 }' "$1"; }

# fg_apiserver_ready STATE: /readyz answers "ok" with the admin token.
fg_apiserver_ready() {
  local state="$1" port token
  port="$(fg_port "$state" APISERVER_PORT)"
  token="$(fg_token "$state/tokens.csv" floodgate-admin)"
  [[ "$(curl -sk --max-time 5 -H "Authorization: Bearer $token" "https://$(fg_apiserver_host "$state"):$port/readyz" 2>/dev/null)" == ok ]]
}

# fg_start_apiserver STATE: launch kube-apiserver with STATE/apiserver.args.
fg_start_apiserver() {
  local state="$1"
  local -a args
  [[ -x "$FG_APISERVER_BIN" ]] || fail "$FG_APISERVER_BIN missing: run test/control-plane/build.sh first"
  mapfile -t args <"$state/apiserver.args"
  [[ ${#args[@]} -gt 0 ]] || fail "$state/apiserver.args is empty"
  local port host; port="$(fg_port "$state" APISERVER_PORT)"; host="$(fg_apiserver_host "$state")"
  if fg_port_in_use "$port" "$host"; then
    fail "port $host:$port is already in use by another process: $(ss -ltnpH "sport = :$port" 2>/dev/null | head -n 1)"
  fi
  printf '\n===== %s: starting kube-apiserver =====\n' "$(date -Is)" >>"$state/apiserver.log"
  fg_launch "$state/apiserver.log" "$state/apiserver.pid" kube-apiserver "$FG_APISERVER_BIN" "${args[@]}"
  echo "kube-apiserver pid $(cat "$state/apiserver.pid"), log $state/apiserver.log"
}

# fg_wait_apiserver STATE [TIMEOUT_S]: wait for /readyz; fail early if the
# process dies.
fg_wait_apiserver() {
  local state="$1" timeout="${2:-120}" start=$SECONDS
  while ((SECONDS - start < timeout)); do
    if ! fg_pid_alive "$state/apiserver.pid" kube-apiserver; then
      echo "--- kube-apiserver output (last 15 lines):"; fg_since_marker "$state/apiserver.log" | tail -n 15
      fail "kube-apiserver exited during startup (see $state/apiserver.log)"
    fi
    fg_apiserver_ready "$state" && { echo "/readyz ok after $((SECONDS - start))s"; return 0; }
    sleep 0.5
  done
  local port; port="$(fg_port "$state" APISERVER_PORT)"
  local token; token="$(fg_token "$state/tokens.csv" floodgate-admin)"
  curl -sk --max-time 5 -H "Authorization: Bearer $token" "https://$(fg_apiserver_host "$state"):$port/readyz?verbose" | grep -v '\] ok$' || true
  fail "kube-apiserver not ready after ${timeout}s (see $state/apiserver.log)"
}

# fg_lock STATE: take STATE/.lock on fd 9 (serialises start/stop/restart of
# one state dir); daemons are launched with fd 9 closed.
fg_lock() {
  exec 9>"$1/.lock"
  if ! flock -n 9; then
    fg_info "waiting for $1/.lock (another start/stop/restart is running)"
    flock -w 300 9 || fg_die "another start/stop/restart held $1/.lock for more than 300s"
  fi
}
