#!/usr/bin/env bash
# scripts/cluster-up.sh kind|k3d [helm flags...]
# Creates a local cluster (manifests/kind/cluster.yaml or manifests/k3d/cluster.yaml),
# installs metrics-server on kind (k3d ships it), builds the controller and agent
# images with scripts/build-images.sh, loads them, makes host.docker.internal
# resolve to the host on Linux, and installs the chart with the agent DaemonSet
# on: what the test command does on its one-node cluster (test/cluster/, see
# docs/running-on-a-node.md), differing only in how the cluster is made. Extra
# arguments go to `helm upgrade --install` (e.g. --set agent.daemonset.enabled=false
# to use a host agent instead). Needs Docker, kind or k3d, and kubectl; helm
# comes from scripts/ensure-helm.sh. Not run by the tests: kind's and k3d's node
# images come from a registry, which the test machines cannot reach.
set -euo pipefail
cd "$(dirname "$0")/.."

TOOL=${1:-}
CLUSTER=floodgate
NAMESPACE=floodgate-system
TAG=${FLOODGATE_IMAGE_TAG:-dev}
CONTROLLER_IMAGE=ghcr.io/floodgate/floodgate-controller
AGENT_IMAGE=ghcr.io/floodgate/floodgate-agent
METRICS_SERVER_URL=https://github.com/kubernetes-sigs/metrics-server/releases/download/v0.7.2/components.yaml

T0=$SECONDS
step() { printf '[+%ss] %s\n' "$((SECONDS - T0))" "$*"; }
die() { printf 'cluster-up: %s\n' "$*" >&2; exit 1; }

[[ $TOOL == kind || $TOOL == k3d ]] || die "usage: scripts/cluster-up.sh kind|k3d"
for bin in docker "$TOOL" kubectl jq; do
  command -v "$bin" >/dev/null || die "$bin not found on PATH"
done
docker info >/dev/null 2>&1 || die "the Docker engine does not answer (is Docker running?)"
HELM=$(bash scripts/ensure-helm.sh)

step "create the $TOOL cluster $CLUSTER"
if [[ $TOOL == kind ]]; then
  kind get clusters | grep -qx "$CLUSTER" || kind create cluster --config manifests/kind/cluster.yaml
  kubectl config use-context "kind-$CLUSTER"
  NETWORK=kind
else
  k3d cluster list -o json | grep -q "\"name\":\"$CLUSTER\"" || k3d cluster create --config manifests/k3d/cluster.yaml
  kubectl config use-context "k3d-$CLUSTER"
  NETWORK=k3d-$CLUSTER
fi

if [[ $TOOL == kind ]]; then
  step "install metrics-server (kind has none; its kubelets use self-signed certificates)"
  kubectl apply -f "$METRICS_SERVER_URL"
  kubectl -n kube-system patch deployment metrics-server --type=json \
    -p '[{"op":"add","path":"/spec/template/spec/containers/0/args/-","value":"--kubelet-insecure-tls"}]'
fi

step "build the images ($TAG, scripts/build-images.sh)"
FLOODGATE_IMAGE_TAG=$TAG FLOODGATE_CONTROLLER_IMAGE=$CONTROLLER_IMAGE FLOODGATE_AGENT_IMAGE=$AGENT_IMAGE bash scripts/build-images.sh

step "load the images into the cluster"
if [[ $TOOL == kind ]]; then
  kind load docker-image --name "$CLUSTER" "$CONTROLLER_IMAGE:$TAG" "$AGENT_IMAGE:$TAG"
else
  k3d image import --cluster "$CLUSTER" "$CONTROLLER_IMAGE:$TAG" "$AGENT_IMAGE:$TAG"
fi

if [[ $(uname -s) == Linux ]]; then
  # Docker Desktop resolves host.docker.internal; Linux Docker does not, so
  # point it at the gateway of the cluster's Docker network (the host).
  gateway=$(docker network inspect "$NETWORK" -f '{{range .IPAM.Config}}{{if .Gateway}}{{.Gateway}} {{end}}{{end}}' | awk '{print $1}')
  [[ -n $gateway ]] || die "no gateway found for Docker network $NETWORK"
  step "host.docker.internal -> $gateway in CoreDNS"
  if [[ $TOOL == kind ]]; then
    corefile=$(kubectl -n kube-system get configmap coredns -o jsonpath='{.data.Corefile}')
    if ! grep -q host.docker.internal <<<"$corefile"; then
      corefile=$(awk -v gw="$gateway" '{ print } /^ *ready$/ { match($0, /^ */); p = substr($0, 1, RLENGTH)
        print p "hosts {"; print p "  " gw " host.docker.internal"; print p "  fallthrough"; print p "}" }' <<<"$corefile")
      kubectl -n kube-system create configmap coredns --from-literal=Corefile="$corefile" --dry-run=client -o yaml | kubectl apply -f -
    fi
  else
    hosts=$(kubectl -n kube-system get configmap coredns -o jsonpath='{.data.NodeHosts}')
    grep -q host.docker.internal <<<"$hosts" || kubectl -n kube-system patch configmap coredns --type=merge \
      -p "{\"data\":{\"NodeHosts\":$(printf '%s\n%s host.docker.internal\n' "$hosts" "$gateway" | jq -Rs .)}}"
  fi
  kubectl -n kube-system rollout restart deployment coredns
fi

step "install the chart (helm upgrade --install floodgate charts/floodgate -n $NAMESPACE)"
"$HELM" upgrade --install floodgate charts/floodgate --namespace "$NAMESPACE" --create-namespace --wait --timeout 5m \
  --set controller.image.repository="$CONTROLLER_IMAGE" --set controller.image.tag="$TAG" --set controller.image.pullPolicy=Never \
  --set agent.daemonset.enabled=true \
  --set agent.daemonset.image.repository="$AGENT_IMAGE" --set agent.daemonset.image.tag="$TAG" --set agent.daemonset.image.pullPolicy=Never \
  "${@:2}"

step "done: kubectl -n $NAMESPACE get pods; the token for the host agent:"
echo "  kubectl -n $NAMESPACE get secret floodgate-agent-token -o jsonpath='{.data.token}' | base64 -d"
