#!/usr/bin/env bash
# start.sh [STATE_DIR]  (default /tmp/floodgate-cp)
#
# Starts a real Kubernetes control plane for integration tests, with no
# kubelet: etcd (Debian's etcd-server) and kube-apiserver 1.20.2 (built by
# build.sh), both on 127.0.0.1 on free ports, with static-token auth and RBAC.
# Writes STATE_DIR/kubeconfig (admin, group system:masters),
# STATE_DIR/kubeconfig-user (non-admin user "floodgate-user") and STATE_DIR/env.
#
# Idempotent: when the control plane of STATE_DIR already runs and is ready it
# is reused; when only etcd runs, only kube-apiserver is started.
#
# For a node (test/cluster/node.sh), FLOODGATE_CP_NODE_IP=<address> and
# FLOODGATE_CP_NODE_NAME=<name> start it so that a kubelet and pods can use it:
# kube-apiserver listens on and advertises that address (pods reach it through
# the `kubernetes` Service), serves a certificate of our own CA (pki/ca.crt,
# which kube-controller-manager puts in every ServiceAccount token Secret), has
# a client certificate for the kubelet's API (logs, exec, the Summary API
# through the node proxy), authorizes with Node,RBAC, and keeps the
# ServiceAccount admission plugin on (pods get their token), which needs
# kube-controller-manager to create each namespace's `default` ServiceAccount.
# tokens.csv then also holds the kubelet's user system:node:<name>. A state dir
# keeps the mode it was first started with.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
FG_TAG="floodgate-cp start"
# shellcheck source=lib.sh
source "$HERE/lib.sh"

STATE="$(fg_state_dir "${1:-}")"
[[ "$STATE" =~ ^[A-Za-z0-9._/+-]+$ ]] || fg_die "state dir '$STATE' must not contain spaces or shell metacharacters"
FG_LOG="$STATE/start.log"

fg_lock "$STATE"

NODE_IP="${FLOODGATE_CP_NODE_IP:-}"
NODE_NAME="${FLOODGATE_CP_NODE_NAME:-}"
if [[ -n "$NODE_IP" ]]; then
  [[ "$NODE_IP" =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$ ]] || fg_die "FLOODGATE_CP_NODE_IP=$NODE_IP is not an IPv4 address"
  [[ "$NODE_NAME" =~ ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$ ]] || fg_die "FLOODGATE_CP_NODE_NAME='$NODE_NAME' is not a valid node name"
  # (Not `ip | grep -q`: with pipefail, grep's early exit can fail the pipeline.)
  [[ "$(ip -o -4 addr show)" == *" inet $NODE_IP/"* ]] || fg_die "no interface has the node address $NODE_IP"
fi
if [[ -s "$STATE/ports" ]]; then
  had_host="$(fg_port "$STATE" APISERVER_HOST)"
  if [[ "$had_host" != "$NODE_IP" ]]; then
    fg_die "$STATE was started ${had_host:+for a node at $had_host}${had_host:-without a node}, now ${NODE_IP:+for a node at $NODE_IP}${NODE_IP:-without one}: use another state dir, or stop.sh --wipe it"
  fi
fi

ETCD_BIN="$(command -v etcd || true)"
preflight() {
  [[ -n "$ETCD_BIN" ]] || fail "etcd not found: run test/control-plane/build.sh (installs etcd-server)"
  [[ -x "$FG_APISERVER_BIN" ]] || fail "$FG_APISERVER_BIN missing: run test/control-plane/build.sh first"
  local t
  for t in openssl curl setsid flock; do
    command -v "$t" >/dev/null || fail "$t not found: run test/control-plane/build.sh"
  done
}

ports_reusable() { # true if STATE/ports exists and its ports can be used again
  [[ -s "$STATE/ports" ]] || return 1
  local ETCD_CLIENT_PORT="" ETCD_PEER_PORT="" APISERVER_PORT=""
  # shellcheck disable=SC1091
  . "$STATE/ports"
  [[ -n "$ETCD_CLIENT_PORT" && -n "$ETCD_PEER_PORT" && -n "$APISERVER_PORT" ]] || return 1
  if ! fg_pid_alive "$STATE/etcd.pid" etcd; then
    fg_port_in_use "$ETCD_CLIENT_PORT" && return 1
    fg_port_in_use "$ETCD_PEER_PORT" && return 1
  fi
  if ! fg_pid_alive "$STATE/apiserver.pid" kube-apiserver; then
    fg_port_in_use "$APISERVER_PORT" && return 1
  fi
  return 0
}

choose_ports() {
  local c p a
  c="$(fg_free_port)"; p="$(fg_free_port)"; a="$(fg_free_port)"
  while [[ "$p" == "$c" ]]; do p="$(fg_free_port)"; done
  while [[ "$a" == "$c" || "$a" == "$p" ]]; do a="$(fg_free_port)"; done
  [[ -n "$c" && -n "$p" && -n "$a" ]] || fail "could not find free ports on 127.0.0.1"
  printf 'ETCD_CLIENT_PORT=%s\nETCD_PEER_PORT=%s\nAPISERVER_PORT=%s\n' "$c" "$p" "$a" >"$STATE/ports"
  [[ -z "$NODE_IP" ]] || printf 'APISERVER_HOST=%s\n' "$NODE_IP" >>"$STATE/ports"
  cat "$STATE/ports"
}

gen_credentials() {
  mkdir -p "$STATE/pki/serving"
  chmod 700 "$STATE/pki"
  if [[ ! -s "$STATE/pki/sa.key" || ! -s "$STATE/pki/sa.crt" ]]; then
    openssl genrsa -out "$STATE/pki/sa.key" 2048 || fail "openssl genrsa failed"
    openssl req -x509 -new -key "$STATE/pki/sa.key" -subj /CN=floodgate-service-accounts \
      -days 3650 -out "$STATE/pki/sa.crt" || fail "openssl req (service-account cert) failed"
  else
    echo "reusing service-account key pair"
  fi
  if [[ ! -s "$STATE/tokens.csv" ]]; then
    local admin user
    admin="$(openssl rand -hex 24)"; user="$(openssl rand -hex 24)"
    # token,user,uid,"group1,group2"
    umask 077
    {
      printf '%s,floodgate-admin,floodgate-admin,"system:masters"\n' "$admin"
      printf '%s,floodgate-user,floodgate-user,"floodgate-users"\n' "$user"
      [[ -z "$NODE_IP" ]] || printf '%s,system:node:%s,system:node:%s,"system:nodes"\n' "$(openssl rand -hex 24)" "$NODE_NAME" "$NODE_NAME"
    } >"$STATE/tokens.csv"
  else
    echo "reusing tokens.csv"
  fi
  [[ -z "$NODE_IP" ]] || gen_node_pki
}

# The node mode's CA, kube-apiserver's serving certificate and its client
# certificate for the kubelet (kept across restarts, like the tokens).
gen_node_pki() {
  local pki="$STATE/pki"
  [[ -s "$pki/ca.crt" && -s "$pki/serving/apiserver.crt" && -s "$pki/apiserver-kubelet-client.crt" ]] && { echo "reusing the node pki"; return 0; }
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$pki/ca.key" -out "$pki/ca.crt" -days 3650 \
    -subj /CN=floodgate-test-ca -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
    || fail "openssl: CA"
  openssl req -newkey rsa:2048 -nodes -keyout "$pki/serving/apiserver.key" -out "$pki/serving/apiserver.csr" -subj /CN=kube-apiserver \
    || fail "openssl: serving key"
  openssl x509 -req -in "$pki/serving/apiserver.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial -days 3650 \
    -out "$pki/serving/apiserver.crt" -extfile <(printf '%s\n' \
      "subjectAltName=IP:$NODE_IP,IP:10.96.0.1,IP:127.0.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local" \
      "extendedKeyUsage=serverAuth" "keyUsage=critical,digitalSignature,keyEncipherment") \
    || fail "openssl: serving certificate"
  openssl req -newkey rsa:2048 -nodes -keyout "$pki/apiserver-kubelet-client.key" -out "$pki/apiserver-kubelet-client.csr" \
    -subj "/O=system:masters/CN=kube-apiserver-kubelet-client" || fail "openssl: kubelet client key"
  openssl x509 -req -in "$pki/apiserver-kubelet-client.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial -days 3650 \
    -out "$pki/apiserver-kubelet-client.crt" -extfile <(printf '%s\n' "extendedKeyUsage=clientAuth" "keyUsage=critical,digitalSignature,keyEncipherment") \
    || fail "openssl: kubelet client certificate"
  rm -f "$pki"/*.csr "$pki"/serving/*.csr
}

start_etcd() {
  # shellcheck disable=SC1091
  . "$STATE/ports"
  mkdir -p "$STATE/etcd"
  chmod 700 "$STATE/etcd"
  if fg_port_in_use "$ETCD_CLIENT_PORT" || fg_port_in_use "$ETCD_PEER_PORT"; then
    fail "etcd port $ETCD_CLIENT_PORT or $ETCD_PEER_PORT on 127.0.0.1 is already in use"
  fi
  # etcd reads ETCD_* variables as flags: don't let the caller's env leak in.
  local -a unset_env=() v
  for v in $(compgen -e | grep '^ETCD_' || true); do unset_env+=(-u "$v"); done
  printf '\n===== %s: starting etcd =====\n' "$(date -Is)" >>"$STATE/etcd.log"
  fg_launch "$STATE/etcd.log" "$STATE/etcd.pid" etcd env "${unset_env[@]}" "$ETCD_BIN" \
    --name=floodgate \
    --data-dir="$STATE/etcd" \
    --listen-client-urls="http://127.0.0.1:$ETCD_CLIENT_PORT" \
    --advertise-client-urls="http://127.0.0.1:$ETCD_CLIENT_PORT" \
    --listen-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-advertise-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster="floodgate=http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster-state=new \
    --initial-cluster-token=floodgate-test \
    --logger=zap --log-outputs=stderr
  echo "etcd pid $(cat "$STATE/etcd.pid"), log $STATE/etcd.log"
}

wait_etcd() {
  # shellcheck disable=SC1091
  . "$STATE/ports"
  local start=$SECONDS
  while ((SECONDS - start < 60)); do
    if ! fg_pid_alive "$STATE/etcd.pid" etcd; then
      echo "--- etcd output (last 15 lines):"; fg_since_marker "$STATE/etcd.log" | tail -n 15
      fail "etcd exited during startup (see $STATE/etcd.log)"
    fi
    if curl -s --max-time 3 "http://127.0.0.1:$ETCD_CLIENT_PORT/health" | grep -q '"health":"true"'; then
      echo "etcd healthy after $((SECONDS - start))s"; return 0
    fi
    sleep 0.3
  done
  fail "etcd not healthy after 60s (see $STATE/etcd.log)"
}

write_apiserver_args() {
  # shellcheck disable=SC1091
  . "$STATE/ports"
  cat >"$STATE/apiserver.args" <<EOF
--etcd-servers=http://127.0.0.1:$ETCD_CLIENT_PORT
--bind-address=127.0.0.1
--secure-port=$APISERVER_PORT
--advertise-address=127.0.0.1
--cert-dir=$STATE/pki/serving
--token-auth-file=$STATE/tokens.csv
--authorization-mode=RBAC
--service-account-issuer=https://kubernetes.default.svc
--service-account-key-file=$STATE/pki/sa.crt
--service-account-signing-key-file=$STATE/pki/sa.key
--service-cluster-ip-range=10.96.0.0/16
EOF
  if [[ -z "$NODE_IP" ]]; then
    # No kube-controller-manager creates the `default` ServiceAccounts here.
    echo "--disable-admission-plugins=ServiceAccount" >>"$STATE/apiserver.args"
  else
    sed -i -e "s|^--bind-address=.*|--bind-address=$NODE_IP|" -e "s|^--advertise-address=.*|--advertise-address=$NODE_IP|" \
      -e 's|^--authorization-mode=RBAC$|--authorization-mode=Node,RBAC|' "$STATE/apiserver.args"
    cat >>"$STATE/apiserver.args" <<EOF
--tls-cert-file=$STATE/pki/serving/apiserver.crt
--tls-private-key-file=$STATE/pki/serving/apiserver.key
--kubelet-client-certificate=$STATE/pki/apiserver-kubelet-client.crt
--kubelet-client-key=$STATE/pki/apiserver-kubelet-client.key
--kubelet-preferred-address-types=InternalIP
--allow-privileged=true
EOF
  fi
  cat "$STATE/apiserver.args"
}

kubeconfig_for() { # kubeconfig_for USER TOKEN
  # shellcheck disable=SC1091
  . "$STATE/ports"
  local ca
  if [[ -n "$NODE_IP" ]]; then ca="$(base64 -w0 <"$STATE/pki/ca.crt")"; else ca="$(base64 -w0 <"$STATE/pki/serving/apiserver.crt")"; fi
  cat <<EOF
apiVersion: v1
kind: Config
clusters:
- name: floodgate
  cluster:
    server: https://$(fg_apiserver_host "$STATE"):$APISERVER_PORT
    certificate-authority-data: $ca
users:
- name: $1
  user:
    token: $2
contexts:
- name: $1@floodgate
  context:
    cluster: floodgate
    user: $1
    namespace: default
current-context: $1@floodgate
EOF
}

write_client_files() {
  [[ -s "$STATE/pki/serving/apiserver.crt" ]] || fail "kube-apiserver wrote no $STATE/pki/serving/apiserver.crt"
  # shellcheck disable=SC1091
  . "$STATE/ports"
  local admin user
  admin="$(fg_token "$STATE/tokens.csv" floodgate-admin)"
  user="$(fg_token "$STATE/tokens.csv" floodgate-user)"
  umask 077
  kubeconfig_for floodgate-admin "$admin" >"$STATE/kubeconfig.tmp" && mv -f "$STATE/kubeconfig.tmp" "$STATE/kubeconfig"
  kubeconfig_for floodgate-user "$user" >"$STATE/kubeconfig-user.tmp" && mv -f "$STATE/kubeconfig-user.tmp" "$STATE/kubeconfig-user"
  cat >"$STATE/env.tmp" <<EOF
STATE_DIR=$STATE
KUBECONFIG=$STATE/kubeconfig
KUBECONFIG_USER=$STATE/kubeconfig-user
APISERVER_URL=https://$(fg_apiserver_host "$STATE"):$APISERVER_PORT
ETCD_URL=http://127.0.0.1:$ETCD_CLIENT_PORT
ADMIN_TOKEN=$admin
USER_TOKEN=$user
EOF
  mv -f "$STATE/env.tmp" "$STATE/env"
  grep -v TOKEN "$STATE/env"
}

wait_default_namespace() {
  # The "default" namespace is created by a controller shortly after /readyz.
  # shellcheck disable=SC1091
  . "$STATE/env"
  local start=$SECONDS
  while ((SECONDS - start < 60)); do
    if curl -sk --max-time 5 -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $ADMIN_TOKEN" \
      "$APISERVER_URL/api/v1/namespaces/default" | grep -qx 200; then
      echo "namespace default exists after $((SECONDS - start))s"; return 0
    fi
    sleep 0.5
  done
  fail "namespace 'default' not created within 60s"
}

stop_apiserver() { fg_stop_pid "$STATE/apiserver.pid" kube-apiserver 20; }

fg_info "state dir: $STATE (log $FG_LOG)"
run_step "preflight (etcd, kube-apiserver $FG_K8S_VERSION, openssl, curl)" preflight

etcd_up=0; api_up=0
fg_pid_alive "$STATE/etcd.pid" etcd && etcd_up=1
fg_pid_alive "$STATE/apiserver.pid" kube-apiserver && api_up=1

if ((etcd_up && api_up)) && fg_apiserver_ready "$STATE"; then
  skip_step "start etcd + kube-apiserver" "already running from $STATE: etcd pid $(cat "$STATE/etcd.pid"), kube-apiserver pid $(cat "$STATE/apiserver.pid")"
  [[ -s "$STATE/env" && -s "$STATE/kubeconfig" && -s "$STATE/kubeconfig-user" ]] \
    || run_step "write kubeconfig, kubeconfig-user, env" write_client_files
  fg_info "ready: $(grep '^APISERVER_URL=' "$STATE/env"), KUBECONFIG=$STATE/kubeconfig (env file $STATE/env)"
  exit 0
fi
if ((api_up && !etcd_up)); then
  run_step "stop orphaned kube-apiserver (its etcd is gone)" stop_apiserver
  api_up=0
fi

if ((etcd_up)) || ports_reusable; then
  skip_step "choose free loopback ports" "reusing $(tr '\n' ' ' <"$STATE/ports")"
else
  run_step "choose free loopback ports" choose_ports
fi
run_step "generate service-account key pair + tokens.csv" gen_credentials
if ((etcd_up)); then
  skip_step "start etcd" "already running, pid $(cat "$STATE/etcd.pid")"
else
  run_step "start etcd (client 127.0.0.1:$(fg_port "$STATE" ETCD_CLIENT_PORT), peer 127.0.0.1:$(fg_port "$STATE" ETCD_PEER_PORT))" start_etcd
  run_step "wait for etcd /health" wait_etcd
fi
if ((api_up)); then
  skip_step "start kube-apiserver" "already running, pid $(cat "$STATE/apiserver.pid")"
else
  run_step "write kube-apiserver flags ($STATE/apiserver.args)" write_apiserver_args
  run_step "start kube-apiserver (https://$(fg_apiserver_host "$STATE"):$(fg_port "$STATE" APISERVER_PORT))" fg_start_apiserver "$STATE"
fi
run_step "wait for kube-apiserver /readyz" fg_wait_apiserver "$STATE" 180
run_step "write kubeconfig, kubeconfig-user, env" write_client_files
run_step "wait for namespace 'default'" wait_default_namespace
fg_info "ready: $(grep '^APISERVER_URL=' "$STATE/env"), KUBECONFIG=$STATE/kubeconfig (env file $STATE/env)"
