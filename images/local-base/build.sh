#!/usr/bin/env bash
# images/local-base/build.sh debian|node|busybox ...
#
# Local stand-ins for the public base images floodgate builds on, made from
# what these machines reach (Debian's archive and the npm registry; no image
# registry), and tagged with the public names so that images/Dockerfile and
# the chart stay exactly what a user with registry access builds and installs:
#   debian   debian:bookworm-slim   mmdebstrap --variant=minbase bookworm, docker import
#   node     node:24-bookworm-slim  debian + the official Node.js 24 build (scripts/ensure-node.sh
#                                   --package-dir: pinned version, sha512-checked) + npm (pinned)
#   busybox  busybox:1.36           debian + Debian's busybox (the chart's `helm test` image)
# Each image carries a label with the hash of its inputs (the recipe, its
# Dockerfile, versions, the host's CA store and apt settings) and is rebuilt
# only when they change. An image of that name WITHOUT our label (a real one,
# pulled from a registry) is never replaced. Needs a Docker engine
# (scripts/ensure-docker.sh) and root (mmdebstrap).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"

SUITE=bookworm
MIRROR=${FLOODGATE_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${FLOODGATE_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
NPM_VERSION=11.19.1
NPM_INTEGRITY='sha512-ztsxKxt/kkIaAs+2i0GU6I+DRmUdrNasxTZKJe9TCdSjKxlhah/4r/hl5ygMD6XAg1qZ9c2TNomR4qgOydp10g=='
LABEL_KEY=dev.floodgate.stand-in.inputs
# Bump when the way an image is made changes in this script (its other inputs are hashed).
RECIPE=1
# How the Debian rootfs is made, as the official slim image: no documentation, no
# locales but the C one (hashed into the debian image's inputs).
DPKG_OPTS=(--dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*'
  --dpkgopt='path-include=/usr/share/doc/*/copyright' --dpkgopt='path-exclude=/usr/share/locale/*'
  --dpkgopt='path-exclude=/usr/share/info/*')

T0=$SECONDS
TMPS=()
trap '((${#TMPS[@]} == 0)) || rm -rf "${TMPS[@]}"' EXIT
tmpdir() { local -n _dir=$1; _dir=$(mktemp -d "/var/tmp/floodgate-$2.XXXXXX"); TMPS+=("$_dir"); } # tmpdir VAR NAME
info() { printf '[local-base +%ss] %s\n' "$((SECONDS - T0))" "$*" >&2; }
die() { printf 'local-base: %s\n' "$*" >&2; exit 1; }

# The host's apt network settings a container needs to use the same archive
# (here: a snapshot mirror whose Release files are past Valid-Until).
host_apt_conf() { apt-config dump 2>/dev/null | grep -E '^Acquire::(Check-Valid-Until|Check-Date|https?::Proxy|Retries) ' || true; }

sources_deb822() {
  cat <<EOF
Types: deb
URIs: $MIRROR
Suites: $SUITE $SUITE-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $SECURITY_MIRROR
Suites: $SUITE-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
}

# What the official debian:*-slim images (debuerreotype) add to /etc/apt/apt.conf.d:
# apt keeps no package caches and no translations in the image.
docker_apt_conf() {
  cat <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
Acquire::Languages "none";
Acquire::GzipIndexes "true";
APT::AutoRemove::SuggestsImportant "false";
EOF
}

inputs_hash() { # inputs_hash NAME: what the image NAME is made from
  {
    echo "$1"
    echo "recipe $RECIPE"
    case $1 in
      debian) echo "$SUITE minbase ${DPKG_OPTS[*]}"; sources_deb822; host_apt_conf; docker_apt_conf ;;
      node) image_label debian:bookworm-slim; sha256sum "$HERE/node.Dockerfile" /etc/ssl/certs/ca-certificates.crt
        grep -E '^(version|integrity)=' "$ROOT/scripts/ensure-node.sh"; echo "npm $NPM_VERSION $NPM_INTEGRITY" ;;
      busybox) image_label debian:bookworm-slim; sha256sum "$HERE/busybox.Dockerfile" ;;
    esac
  } | sha256sum | cut -c1-16
}

# quiet_build TAG ARGS...: docker build (the classic builder: no BuildKit frontend
# image to pull), its output shown only when it fails.
quiet_build() {
  local tag=$1 log; shift
  log=$(mktemp)
  if ! DOCKER_BUILDKIT=0 docker build "$@" >"$log" 2>&1; then
    tail -n 30 "$log" >&2; rm -f "$log"; die "docker build of $tag failed"
  fi
  rm -f "$log"
}

image_label() { docker image inspect --format "{{ index .Config.Labels \"$LABEL_KEY\" }}" "$1" 2>/dev/null || true; }
image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

# up_to_date TAG HASH: true when TAG need not be (re)built.
up_to_date() {
  local tag=$1 want=$2 have
  image_exists "$tag" || return 1
  have=$(image_label "$tag")
  if [[ -z $have || $have == '<no value>' ]]; then
    info "$tag exists and is not a stand-in (no $LABEL_KEY label): using it as it is"
    return 0
  fi
  [[ $have == "$want" ]]
}

ensure_debian() {
  local tag=debian:$SUITE-slim hash tmp
  hash=$(inputs_hash debian)
  if up_to_date "$tag" "$hash"; then info "$tag: up to date ($hash)"; return 0; fi
  command -v mmdebstrap >/dev/null || {
    info "apt-get install mmdebstrap"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends mmdebstrap >/dev/null \
      || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends mmdebstrap >/dev/null; }
  }
  tmpdir tmp rootfs
  sources_deb822 >"$tmp/debian.sources"
  host_apt_conf >"$tmp/99floodgate-host"
  docker_apt_conf >"$tmp/docker-clean"
  info "$tag: mmdebstrap --variant=minbase $SUITE ($MIRROR), ~1 min"
  local -a aptopts=()
  while IFS= read -r line; do [[ -n $line ]] && aptopts+=(--aptopt="$line"); done <"$tmp/99floodgate-host"
  # shellcheck disable=SC2016 # $1 is the hook's argument (the rootfs), expanded by mmdebstrap's shell
  nice -n 10 mmdebstrap --variant=minbase --quiet "${aptopts[@]}" "${DPKG_OPTS[@]}" \
    --customize-hook="cp '$tmp/docker-clean' \"\$1\"/etc/apt/apt.conf.d/docker-clean" \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin' \
    "$SUITE" "$tmp/rootfs.tar" - <"$tmp/debian.sources" >&2 || die "mmdebstrap failed"
  docker import --change "LABEL $LABEL_KEY=$hash dev.floodgate.stand-in=$tag" --change 'CMD ["bash"]' \
    "$tmp/rootfs.tar" "$tag" >/dev/null || die "docker import failed"
  info "$tag: built ($(docker image inspect --format '{{.Size}}' "$tag" | numfmt --to=si)B)"
}

ensure_node() {
  local tag=node:24-$SUITE-slim hash ctx pkgdir tarball got
  ensure_debian
  hash=$(inputs_hash node)
  if up_to_date "$tag" "$hash"; then info "$tag: up to date ($hash)"; return 0; fi
  pkgdir=$(bash "$ROOT/scripts/ensure-node.sh" --package-dir) || die "scripts/ensure-node.sh --package-dir failed"
  tmpdir ctx node-base
  mkdir -p "$ctx/node/bin" "$ctx/node/include"
  cp "$pkgdir/bin/node" "$ctx/node/bin/node"
  cp -r "$pkgdir/include/node" "$ctx/node/include/node"
  info "$tag: npm pack npm@$NPM_VERSION"
  tarball=$(cd "$ctx" && npm pack --silent "npm@$NPM_VERSION" | tail -n 1) || die "npm pack npm@$NPM_VERSION failed"
  got="sha512-$(openssl dgst -sha512 -binary "$ctx/$tarball" | base64 -w0)"
  [[ $got == "$NPM_INTEGRITY" ]] || die "npm@$NPM_VERSION does not match its pinned sha512 integrity (got $got)"
  tar -xzf "$ctx/$tarball" -C "$ctx" && mv "$ctx/package" "$ctx/npm" && rm -f "$ctx/$tarball"
  cp /etc/ssl/certs/ca-certificates.crt "$ctx/ca-certificates.crt"
  info "$tag: docker build (node $("$pkgdir/bin/node" -v), npm $NPM_VERSION)"
  quiet_build "$tag" --network host -f "$HERE/node.Dockerfile" -t "$tag" \
    --build-arg NODE_VERSION="$("$pkgdir/bin/node" -v | tr -d v)" --build-arg NPM_VERSION="$NPM_VERSION" \
    --build-arg INPUTS="$hash" "$ctx"
  info "$tag: built ($(docker image inspect --format '{{.Size}}' "$tag" | numfmt --to=si)B)"
}

ensure_busybox() {
  local tag=busybox:1.36 hash ctx
  ensure_debian
  hash=$(inputs_hash busybox)
  if up_to_date "$tag" "$hash"; then info "$tag: up to date ($hash)"; return 0; fi
  tmpdir ctx busybox
  info "$tag: docker build (Debian's busybox)"
  quiet_build "$tag" --network host -f "$HERE/busybox.Dockerfile" -t "$tag" --build-arg INPUTS="$hash" "$ctx"
  info "$tag: built ($(docker image inspect --format '{{.Size}}' "$tag" | numfmt --to=si)B)"
}

(($#)) || die "usage: images/local-base/build.sh debian|node|busybox ..."
docker version --format '{{.Server.Version}}' >/dev/null 2>&1 || die "no Docker engine answers (bash scripts/ensure-docker.sh)"
for what in "$@"; do
  case $what in
    debian) ensure_debian ;;
    node) ensure_node ;;
    busybox) ensure_busybox ;;
    *) die "unknown image '$what' (debian, node, busybox)" ;;
  esac
done
