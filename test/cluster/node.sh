#!/usr/bin/env bash
# test/cluster/node.sh up|down [--wipe]|status [STATE_DIR]   (default /tmp/floodgate-node)
#
# A one-node Kubernetes 1.20 cluster on this machine, for the tests that run
# floodgate as users install it (test/cluster/). Everything is a real part:
#   - etcd + kube-apiserver (test/control-plane/start.sh in node mode, state in STATE_DIR/cp),
#     listening on the node address, so pods reach it through the `kubernetes` Service;
#   - kube-controller-manager (ServiceAccount tokens, Deployments, DaemonSets, endpoints, GC)
#     and kube-scheduler;
#   - kubelet with its built-in dockershim driving Docker (scripts/ensure-docker.sh), pods on
#     Docker's bridge (docker0, no CNI plugin), the pause image built from build/pause;
#   - kube-proxy (iptables mode) for Service ClusterIPs;
#   - no CoreDNS (no image registry): dnsmasq on the node address is the cluster DNS,
#     answering <service>.<namespace>.svc.cluster.local from a hosts file that a loop
#     rewrites from the API server's Services every 2 s, NXDOMAIN for the rest of
#     cluster.local, and nothing else (no upstream: pods resolve only Service names).
# All binaries come from Debian's kubernetes 1.20.2 source (build.sh --node, cached).
#
# Addresses (fixed: one node per machine, since a kubelet removes the pod
# containers of any other kubelet on the same Docker):
#   node  fg-node, 10.213.0.1/32 on fgnode0, a bridge without ports (InternalIP,
#         kube-apiserver, kubelet :10250, cluster DNS)
#   lab   network namespace fgnode-lab, 10.213.1.66/24 on its eth0, a veth to the
#         node's fgnlab0 (10.213.1.1/24): traffic from "outside" the node
# `down` stops everything, removes the pod containers, the node's iptables
# chains (kube-proxy --cleanup, KUBE-*), the kubelet's mounts and cgroups and
# the interfaces; --wipe also removes STATE_DIR. Run under the shared lock:
#   flock /tmp/floodgate-heavy.lock test/cluster/node.sh up
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
CP_DIR="$ROOT/test/control-plane"
FG_TAG="floodgate-node"
# shellcheck source=../control-plane/lib.sh
source "$CP_DIR/lib.sh"

NODE_NAME=fg-node
NODE_IP=10.213.0.1
NODE_DEV=fgnode0
LAB_NS=fgnode-lab
LAB_DEV=fgnlab0
LAB_HOST_IP=10.213.1.1
LAB_IP=10.213.1.66
POD_CIDR=172.17.0.0/16 # Docker's default bridge
SERVICE_CIDR=10.96.0.0/16

CMD="${1:-}"; shift || true
WIPE=0
if [[ "${1:-}" == --wipe ]]; then WIPE=1; shift; fi
STATE_ARG="${1:-${FLOODGATE_NODE_STATE_DIR:-/tmp/floodgate-node}}"
mkdir -p "$STATE_ARG"
STATE="$(cd "$STATE_ARG" && pwd -P)"
[[ "$STATE" =~ ^[A-Za-z0-9._/+-]+$ ]] || fg_die "state dir '$STATE' must not contain spaces or shell metacharacters"
CP="$STATE/cp"
FG_LOG="$STATE/node.log"
KUBECTL="$(fg_kubectl)"

kc() { "$KUBECTL" --kubeconfig "$CP/kubeconfig" "$@" 2>/dev/null; }

pause_image() { echo "floodgate.local/pause:$(cat "$FG_NODE_DIR/pause.version")"; }

# ---------------------------------------------------------------- up

preflight() {
  [[ $EUID -eq 0 ]] || fail "root needed (kubelet, Docker, network namespaces)"
  local c
  for c in "${FG_NODE_CMDS[@]}" pause; do
    [[ -x "$FG_NODE_DIR/$c" ]] || fail "$FG_NODE_DIR/$c missing: run test/control-plane/build.sh --node"
  done
  for c in dnsmasq conntrack iptables ip docker "$KUBECTL"; do
    command -v "$c" >/dev/null || fail "$c not found (build.sh --node and scripts/ensure-docker.sh install what is missing)"
  done
}

ensure_docker() { bash "$ROOT/scripts/ensure-docker.sh"; }

# The pod sandbox image: the static pause binary, alone (as build/pause's Dockerfile).
ensure_pause_image() {
  local image want have ctx
  image="$(pause_image)"
  want="$(sha256sum "$FG_NODE_DIR/pause" | cut -c1-16)"
  have="$(docker image inspect --format '{{ index .Config.Labels "dev.floodgate.pause" }}' "$image" 2>/dev/null || true)"
  [[ "$have" == "$want" ]] && { echo "$image up to date"; return 0; }
  ctx="$(mktemp -d)"
  cp "$FG_NODE_DIR/pause" "$ctx/pause"
  printf 'FROM scratch\nCOPY pause /pause\nLABEL dev.floodgate.pause=%s\nUSER 65535:65535\nENTRYPOINT ["/pause"]\n' "$want" >"$ctx/Dockerfile"
  DOCKER_BUILDKIT=0 docker build -q -t "$image" "$ctx" || { rm -rf "$ctx"; fail "docker build of $image failed"; }
  rm -rf "$ctx"
}

ensure_network() {
  if ! ip link show "$NODE_DEV" >/dev/null 2>&1; then
    # A bridge without ports, as a dummy device would be (no dummy module on
    # these kernels): it only carries the node's address.
    ip link add "$NODE_DEV" type bridge
  fi
  ip addr replace "$NODE_IP/32" dev "$NODE_DEV"
  ip link set "$NODE_DEV" up
  if ! ip netns exec "$LAB_NS" true 2>/dev/null; then
    ip netns add "$LAB_NS"
  fi
  if ! ip link show "$LAB_DEV" >/dev/null 2>&1; then
    ip link add "$LAB_DEV" type veth peer name eth0 netns "$LAB_NS"
  fi
  ip addr replace "$LAB_HOST_IP/24" dev "$LAB_DEV"
  ip link set "$LAB_DEV" up
  ip netns exec "$LAB_NS" ip addr replace "$LAB_IP/24" dev eth0
  ip netns exec "$LAB_NS" ip link set eth0 up
  ip netns exec "$LAB_NS" ip link set lo up
  # The lab reaches the node address through the node's side of the link.
  ip netns exec "$LAB_NS" ip route replace "$NODE_IP/32" via "$LAB_HOST_IP"
  # Host settings the node changes, restored by `down`: pods reach other pods
  # through Service addresses (docker0 to docker0 is routed), and kube-proxy
  # 1.20 always sets route_localnet.
  [[ -s "$STATE/sysctl.saved" ]] || sysctl net.ipv4.ip_forward net.ipv4.conf.all.route_localnet >"$STATE/sysctl.saved"
  # kube-proxy and kubelet make iptables (nft) tables; `down` removes those it finds empty and new.
  [[ -e "$STATE/nft-tables.before" ]] || nft list tables >"$STATE/nft-tables.before"
  sysctl -qw net.ipv4.ip_forward=1
}

start_control_plane() {
  FLOODGATE_CP_NODE_IP="$NODE_IP" FLOODGATE_CP_NODE_NAME="$NODE_NAME" bash "$CP_DIR/start.sh" "$CP"
}

write_node_files() {
  # shellcheck disable=SC1091
  . "$CP/env"
  local token ca
  token="$(fg_token "$CP/tokens.csv" "system:node:$NODE_NAME")"
  [[ -n "$token" ]] || fail "no token for system:node:$NODE_NAME in $CP/tokens.csv"
  ca="$(base64 -w0 <"$CP/pki/ca.crt")"
  umask 077
  cat >"$STATE/kubelet.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: floodgate
  cluster: {server: "$APISERVER_URL", certificate-authority-data: "$ca"}
users:
- name: kubelet
  user: {token: "$token"}
contexts:
- name: kubelet@floodgate
  context: {cluster: floodgate, user: kubelet}
current-context: kubelet@floodgate
EOF
  mkdir -p "$STATE/kubelet" "$STATE/dns"
  cat >"$STATE/kubelet-config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: "$CP/pki/ca.crt"}
authorization: {mode: Webhook}
cgroupDriver: cgroupfs
clusterDNS: [$NODE_IP]
clusterDomain: cluster.local
failSwapOn: false
# A shared test machine: the host's own disk use must not evict pods or images.
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
imageGCHighThresholdPercent: 99
imageGCLowThresholdPercent: 98
makeIPTablesUtilChains: false
serializeImagePulls: false
maxPods: 30
EOF
  echo "kubelet kubeconfig and config written"
}

start_daemon() { # start_daemon NAME COMM CMD...: launch unless already running
  local name="$1" comm="$2"; shift 2
  if fg_pid_alive "$STATE/$name.pid" "$comm"; then echo "$name already running (pid $(cat "$STATE/$name.pid"))"; return 0; fi
  printf '\n===== %s: starting %s =====\n' "$(date -Is)" "$name" >>"$STATE/$name.log"
  fg_launch "$STATE/$name.log" "$STATE/$name.pid" "$comm" "$@"
  echo "$name pid $(cat "$STATE/$name.pid"), log $STATE/$name.log"
}

start_controller_manager() {
  start_daemon kube-controller-manager kube-controller "$FG_NODE_DIR/kube-controller-manager" \
    --kubeconfig="$CP/kubeconfig" --leader-elect=false --port=0 --secure-port=0 \
    --service-account-private-key-file="$CP/pki/sa.key" --root-ca-file="$CP/pki/ca.crt" \
    --cluster-cidr="$POD_CIDR" --service-cluster-ip-range="$SERVICE_CIDR" \
    --controllers='*,-csrsigning,-csrapproving,-csrcleaner,-bootstrapsigner,-tokencleaner' \
    --node-monitor-grace-period=40s --v=1
}

start_scheduler() {
  start_daemon kube-scheduler kube-scheduler "$FG_NODE_DIR/kube-scheduler" \
    --kubeconfig="$CP/kubeconfig" --leader-elect=false --port=0 --secure-port=0 --v=1
}

start_proxy() {
  start_daemon kube-proxy kube-proxy "$FG_NODE_DIR/kube-proxy" \
    --kubeconfig="$CP/kubeconfig" --hostname-override="$NODE_NAME" --bind-address="$NODE_IP" \
    --proxy-mode=iptables --cluster-cidr="$POD_CIDR" \
    --conntrack-max-per-core=0 --conntrack-tcp-timeout-established=0 --conntrack-tcp-timeout-close-wait=0 \
    --healthz-bind-address=127.0.0.1:10256 --metrics-bind-address=127.0.0.1:10249 --v=1
}

start_dns() {
  touch "$STATE/dns/services"
  start_daemon dns-sync bash bash "$HERE/node.sh" dns-sync "$STATE"
  start_daemon dnsmasq dnsmasq dnsmasq --keep-in-foreground --log-facility=- --pid-file="$STATE/dnsmasq.own.pid" \
    --listen-address="$NODE_IP" --bind-interfaces --port=53 --no-resolv --no-hosts \
    --hostsdir="$STATE/dns" --local=/cluster.local/ --domain-needed --user=root
}

start_kubelet() {
  start_daemon kubelet kubelet "$FG_NODE_DIR/kubelet" \
    --config="$STATE/kubelet-config.yaml" --kubeconfig="$STATE/kubelet.kubeconfig" \
    --container-runtime=docker --docker-endpoint=unix:///var/run/docker.sock \
    --pod-infra-container-image="$(pause_image)" \
    --hostname-override="$NODE_NAME" --node-ip="$NODE_IP" \
    --root-dir="$STATE/kubelet" --cert-dir="$STATE/kubelet/pki" --v=1
}

wait_node_ready() {
  local start=$SECONDS since status beat
  # Ready as reported by this kubelet: a heartbeat newer than its start (the
  # node object of an earlier run can still say Ready).
  since="$(date -u -d "@$(stat -c %Y "$STATE/kubelet.pid")" +%Y-%m-%dT%H:%M:%SZ)"
  while ((SECONDS - start < 180)); do
    fg_pid_alive "$STATE/kubelet.pid" kubelet || { tail -n 20 "$STATE/kubelet.log"; fail "kubelet exited (see $STATE/kubelet.log)"; }
    read -r status beat < <(kc get node "$NODE_NAME" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status} {.status.conditions[?(@.type=="Ready")].lastHeartbeatTime}' || true) || true
    if [[ "$status" == True && ! "$beat" < "$since" ]]; then echo "node $NODE_NAME Ready after $((SECONDS - start))s (heartbeat $beat)"; return 0; fi
    sleep 1
  done
  fail "node $NODE_NAME not Ready within 180s (see $STATE/kubelet.log)"
}

wait_service_accounts() {
  local start=$SECONDS
  while ((SECONDS - start < 120)); do
    if [[ "$(kc -n default get secret -o name)" == *secret/default-token-* ]]; then
      echo "ServiceAccount default/default has its token Secret after $((SECONDS - start))s"; return 0
    fi
    sleep 1
  done
  fail "kube-controller-manager made no token for default/default within 120s (see $STATE/kube-controller-manager.log)"
}

write_env() {
  cat >"$STATE/env" <<EOF
NODE_STATE_DIR=$STATE
NODE_NAME=$NODE_NAME
NODE_IP=$NODE_IP
LAB_NS=$LAB_NS
LAB_DEV=$LAB_DEV
LAB_HOST_IP=$LAB_HOST_IP
LAB_IP=$LAB_IP
POD_CIDR=$POD_CIDR
SERVICE_CIDR=$SERVICE_CIDR
PAUSE_IMAGE=$(pause_image)
KUBECONFIG=$CP/kubeconfig
CP_STATE_DIR=$CP
EOF
  grep -v '^$' "$STATE/env"
}

# ---------------------------------------------------------------- dns-sync

# The cluster DNS's records: one line per Service with a ClusterIP.
dns_sync_loop() {
  local out="$STATE/dns/services" tmp="$STATE/dns/.services.tmp"
  while :; do
    if kc get svc -A -o 'jsonpath={range .items[*]}{.spec.clusterIP} {.metadata.name}.{.metadata.namespace}.svc.cluster.local{"\n"}{end}' \
      | awk '$1 ~ /^[0-9.]+$/' >"$tmp"; then
      cmp -s "$tmp" "$out" || mv -f "$tmp" "$out"
    fi
    sleep 2
  done
}

# ---------------------------------------------------------------- down

remove_pod_containers() {
  local ids
  ids="$(docker ps -aq --filter label=io.kubernetes.docker.type 2>/dev/null || true)"
  if [[ -n "$ids" ]]; then
    # shellcheck disable=SC2086
    docker rm -f $ids >/dev/null
    echo "removed $(wc -w <<<"$ids") pod container(s)"
  else
    echo "no pod containers"
  fi
}

# Rules that jump to KUBE-* chains, then those chains, in every table kube-proxy
# and kubelet use (never another chain or rule).
remove_kube_chains() {
  local ipt table rule chain
  for ipt in iptables ip6tables; do
    for table in filter nat mangle; do
      while IFS= read -r rule; do
        # shellcheck disable=SC2086
        $ipt -t "$table" ${rule/#-A/-D} 2>/dev/null || true
      done < <($ipt -t "$table" -S 2>/dev/null | grep -E -- '^-A [^ ]+ .*-j KUBE-' | grep -v '^-A KUBE-' || true)
      for chain in $($ipt -t "$table" -S 2>/dev/null | sed -n 's/^-N \(KUBE-[^ ]*\)$/\1/p'); do
        $ipt -t "$table" -F "$chain" 2>/dev/null || true
      done
      for chain in $($ipt -t "$table" -S 2>/dev/null | sed -n 's/^-N \(KUBE-[^ ]*\)$/\1/p'); do
        $ipt -t "$table" -X "$chain" 2>/dev/null || true
      done
    done
  done
}

cleanup_proxy() {
  "$FG_NODE_DIR/kube-proxy" --cleanup --proxy-mode=iptables >/dev/null 2>&1 || true
  remove_kube_chains
  echo "KUBE-* chains left: $( (iptables-save; ip6tables-save) 2>/dev/null | grep -c '^:KUBE-' || true)"
  # The ip/ip6 tables iptables-nft made for them, when they hold no rule any more.
  local table
  while read -r table; do
    [[ $table =~ ^table\ (ip|ip6)\ (filter|nat|mangle)$ ]] || continue
    grep -qxF "$table" "$STATE/nft-tables.before" 2>/dev/null && continue
    # A rule is a line with a handle that opens no table or chain ("table ip nat"
    # is split on purpose; no grep -q at the end of a pipefail pipeline).
    # shellcheck disable=SC2143,SC2086
    if [[ -z "$(nft -a list $table | grep -E '# handle [0-9]+$' | grep -vE '^\s*(table|chain) ')" ]]; then
      nft delete $table && echo "deleted the empty $table"
    fi
  done < <(nft list tables)
  rm -f "$STATE/nft-tables.before"
}

unmount_kubelet() {
  local m n=0
  # Deepest first; the kubelet also bind-mounts its root dir onto itself (a shared mount).
  for m in $(findmnt -rn -o TARGET | grep -E "^$STATE/kubelet(/|\$)" | sort -r); do
    umount "$m" 2>/dev/null || umount -l "$m" || true
    n=$((n + 1))
  done
  echo "unmounted $n kubelet mount(s)"
}

remove_cgroups() {
  local d
  for d in /sys/fs/cgroup/*/kubepods; do
    if [[ -d "$d" ]]; then find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null || true; fi
  done
  echo "kubepods cgroups left: $(find /sys/fs/cgroup/*/kubepods -maxdepth 0 -type d 2>/dev/null | wc -l)"
}

restore_sysctls() {
  [[ -s "$STATE/sysctl.saved" ]] || { echo "nothing saved"; return 0; }
  local key value
  while read -r key _ value; do sysctl -qw "$key=$value"; done <"$STATE/sysctl.saved" # "key = value" lines
  cat "$STATE/sysctl.saved"
  rm -f "$STATE/sysctl.saved"
}

remove_network() {
  ip netns del "$LAB_NS" 2>/dev/null || true
  ip link del "$LAB_DEV" 2>/dev/null || true
  ip link del "$NODE_DEV" 2>/dev/null || true
  echo "removed $LAB_NS, $LAB_DEV, $NODE_DEV"
}

stop_daemon() { fg_stop_pid "$STATE/$1.pid" "$2" 20; }
stop_dns() { stop_daemon dnsmasq dnsmasq; stop_daemon dns-sync bash; }

node_down() {
  run_step "stop kubelet" stop_daemon kubelet kubelet
  run_step "remove the pod containers" remove_pod_containers
  run_step "stop kube-proxy" stop_daemon kube-proxy kube-proxy
  run_step "remove the node's iptables chains (kube-proxy --cleanup, KUBE-*)" cleanup_proxy
  run_step "stop kube-scheduler" stop_daemon kube-scheduler kube-scheduler
  run_step "stop kube-controller-manager" stop_daemon kube-controller-manager kube-controller
  run_step "stop dnsmasq and its sync loop" stop_dns
  run_step "unmount the kubelet's volumes" unmount_kubelet
  run_step "remove the kubepods cgroups" remove_cgroups
  run_step "stop the control plane" bash "$CP_DIR/stop.sh" "$CP"
  run_step "remove the node's interfaces and lab namespace" remove_network
  run_step "restore the host's ip_forward and route_localnet" restore_sysctls
  if ((WIPE)); then
    exec 9>&-
    rm -rf "$STATE"
    fg_info "stopped; removed $STATE"
  else
    fg_info "stopped (state kept in $STATE)"
  fi
}

# ---------------------------------------------------------------- main

case "$CMD" in
  up)
    fg_lock "$STATE"
    fg_info "state dir: $STATE (log $FG_LOG)"
    run_step "preflight (node binaries, Docker, dnsmasq, conntrack)" preflight
    run_step "Docker engine (scripts/ensure-docker.sh)" ensure_docker
    run_step "pause image $(pause_image)" ensure_pause_image
    run_step "node address $NODE_IP on $NODE_DEV, lab $LAB_NS ($LAB_IP) on $LAB_DEV ($LAB_HOST_IP)" ensure_network
    run_step "control plane for node $NODE_NAME (etcd, kube-apiserver on $NODE_IP)" start_control_plane
    run_step "kubelet kubeconfig and config" write_node_files
    run_step "start kube-controller-manager" start_controller_manager
    run_step "start kube-scheduler" start_scheduler
    run_step "start kube-proxy (iptables)" start_proxy
    run_step "start the cluster DNS (dnsmasq on $NODE_IP:53, Services only)" start_dns
    run_step "start kubelet (dockershim)" start_kubelet
    run_step "wait for node $NODE_NAME Ready" wait_node_ready
    run_step "wait for ServiceAccount tokens" wait_service_accounts
    run_step "write $STATE/env" write_env
    fg_info "ready: KUBECONFIG=$CP/kubeconfig (env file $STATE/env)"
    ;;
  down)
    [[ -d "$STATE" ]] || { skip_step "stop node" "no state dir $STATE"; exit 0; }
    fg_lock "$STATE"
    node_down
    ;;
  status)
    for d in kubelet:kubelet kube-proxy:kube-proxy kube-scheduler:kube-scheduler kube-controller-manager:kube-controller dnsmasq:dnsmasq dns-sync:bash; do
      if fg_pid_alive "$STATE/${d%%:*}.pid" "${d#*:}"; then echo "${d%%:*}: running (pid $(cat "$STATE/${d%%:*}.pid"))"; else echo "${d%%:*}: stopped"; fi
    done
    if [[ -s "$CP/kubeconfig" ]]; then kc get nodes -o wide || true; fi
    ;;
  dns-sync) dns_sync_loop ;;
  *) fg_die "usage: node.sh up|down [--wipe]|status [STATE_DIR]" ;;
esac
