#!/usr/bin/env bash
# scripts/build-images.sh: builds the controller and agent images from
# images/Dockerfile, as it is (its targets controller and agent, which share
# its build stages), and prints their sizes. Used by the test command and by
# scripts/cluster-up.sh.
#
# The base image (the Dockerfile's ARG NODE_IMAGE, node:24-bookworm-slim) is
# used when Docker has it or can pull it; when no registry answers (the test
# machines), images/local-base/build.sh makes a local stand-in of that name from
# Debian's archive and the npm registry (rebuilt only when its inputs change).
#
# Env: FLOODGATE_IMAGE_TAG (default dev), FLOODGATE_CONTROLLER_IMAGE,
# FLOODGATE_AGENT_IMAGE (repositories, default ghcr.io/floodgate/floodgate-*).
# Prints one line per image on stdout: "<image> <size in bytes>".
set -euo pipefail
cd "$(dirname "$0")/.."

TAG=${FLOODGATE_IMAGE_TAG:-dev}
CONTROLLER_IMAGE=${FLOODGATE_CONTROLLER_IMAGE:-ghcr.io/floodgate/floodgate-controller}:$TAG
AGENT_IMAGE=${FLOODGATE_AGENT_IMAGE:-ghcr.io/floodgate/floodgate-agent}:$TAG
T0=$SECONDS
info() { printf '[build-images +%ss] %s\n' "$((SECONDS - T0))" "$*" >&2; }
die() { printf 'build-images: %s\n' "$*" >&2; exit 1; }

docker version --format '{{.Server.Version}}' >/dev/null 2>&1 || die "no Docker engine answers (bash scripts/ensure-docker.sh starts one)"

DOCKERFILE=images/Dockerfile
base=$(sed -n 's/^ARG NODE_IMAGE=//p' "$DOCKERFILE")
[[ $base == node:24-bookworm-slim ]] || die "the local stand-in is made for node:24-bookworm-slim, $DOCKERFILE says ${base:-nothing}"
if docker image inspect "$base" >/dev/null 2>&1 && [[ -z $(docker image inspect --format '{{ index .Config.Labels "dev.floodgate.stand-in" }}' "$base" | sed 's/<no value>//') ]]; then
  info "base $base: present (not a stand-in)"
elif docker image inspect "$base" >/dev/null 2>&1 || ! docker pull --quiet "$base" >/dev/null 2>&1; then
  info "base $base: no registry answers; local stand-in (images/local-base/build.sh)"
  bash images/local-base/build.sh node
else
  info "base $base: pulled"
fi

# --network host: the test machines' dockerd runs with "iptables": false
# (scripts/ensure-docker.sh), so only the host's network reaches the npm
# registry and Debian's archive from a build container.
# The second target reuses the first one's build stages from the layer cache.
build() { # build TARGET IMAGE
  local t0=$SECONDS log="${TMPDIR:-/tmp}/floodgate-build-$1.log"
  info "docker build -f $DOCKERFILE --target $1 -t $2 . (the first build takes a few minutes; later ones reuse Docker's layer cache)"
  nice -n 10 docker build --network host -f "$DOCKERFILE" --target "$1" -t "$2" --build-arg VERSION="$(node -p 'require("./package.json").version')" . \
    >"$log" 2>&1 \
    || { tail -n 40 "$log" >&2; die "docker build -f $DOCKERFILE --target $1 failed"; }
  info "$2: built in $((SECONDS - t0)) s"
}
build controller "$CONTROLLER_IMAGE"
build agent "$AGENT_IMAGE"

for image in "$CONTROLLER_IMAGE" "$AGENT_IMAGE"; do
  size=$(docker image inspect --format '{{.Size}}' "$image")
  info "$image: $(numfmt --to=si --suffix=B "$size") ($size bytes; base $base: $(numfmt --to=si --suffix=B "$(docker image inspect --format '{{.Size}}' "$base")"))"
  echo "$image $size"
done
