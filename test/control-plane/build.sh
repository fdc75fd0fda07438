#!/usr/bin/env bash
# build.sh [--node]
#
# Installs what the floodgate test control plane needs and builds
# kube-apiserver 1.20.2 from Debian's own `kubernetes` source package, once per
# machine. The binary is cached at
#   ${FLOODGATE_CACHE:-/var/cache/floodgate}/kube-apiserver-1.20.2/kube-apiserver
# and this script does nothing more when that binary already runs `--version`.
#
# With --node it also builds, from the same source, what a one-node cluster
# needs (test/cluster/node.sh): kubelet (its built-in dockershim drives Docker),
# kube-controller-manager, kube-scheduler, kube-proxy, and the pause binary of
# the pod sandbox image (build/pause/linux/pause.c, static), cached in
#   ${FLOODGATE_CACHE:-/var/cache/floodgate}/kube-node-1.20.2/
# Only what is missing is built, all in one `make` over one source tree.
#
# Env:
#   FLOODGATE_CACHE       cache root (default /var/cache/floodgate)
#   FLOODGATE_KEEP_BUILD  1 = keep the source/work tree after a good build
#   FLOODGATE_REBUILD     1 = rebuild even if the cached binaries work
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
FG_TAG="floodgate-cp build"
# shellcheck source=lib.sh
source "$HERE/lib.sh"

WITH_NODE=0
case "${1:-}" in
  "") ;;
  --node) WITH_NODE=1 ;;
  *) fg_die "usage: build.sh [--node]" ;;
esac

WORK="$FG_APISERVER_DIR/work"
FG_LOG="$FG_APISERVER_DIR/build.log"

export DEBIAN_FRONTEND=noninteractive
APT_OPTS=(-y -q -o DPkg::Lock::Timeout=600 -o APT::Get::Assume-Yes=true)
RUNTIME_PKGS=(etcd-server golang-go rsync jq openssl curl)
BUILD_PKGS=(dpkg-dev golang-github-modern-go-reflect2-dev)
if ((WITH_NODE)); then
  # conntrack: kube-proxy clears UDP conntrack entries with it; dnsmasq-base
  # (the binary, no service): the node's stand-in for cluster DNS; gcc and a
  # static libc: the pause binary.
  RUNTIME_PKGS+=(conntrack dnsmasq-base)
  BUILD_PKGS+=(gcc libc6-dev)
fi
SRC_LIST=/etc/apt/sources.list.d/floodgate-src.sources
APT_UPDATED_MARK="$FG_APISERVER_DIR/.apt-updated-$$"

missing_pkgs() { # print the packages of "$@" that are not installed
  local p
  for p in "$@"; do
    dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null | grep -qx installed || echo "$p"
  done
}

apt_update_once() {
  [[ -e "$APT_UPDATED_MARK" ]] && return 0
  apt-get "${APT_OPTS[@]}" update || fail "apt-get update failed (network to deb.debian.org? apt lock held?)"
  touch "$APT_UPDATED_MARK"
}

install_pkgs() {
  local -a need
  mapfile -t need < <(missing_pkgs "$@")
  [[ ${#need[@]} -eq 0 ]] && { echo "all installed: $*"; return 0; }
  echo "installing: ${need[*]}"
  [[ $EUID -eq 0 ]] || fail "root needed to apt-get install ${need[*]}"
  # Try without a refresh first (fast when lists are current), else update once.
  if ! apt-get "${APT_OPTS[@]}" install --no-install-recommends "${need[@]}"; then
    apt_update_once
    apt-get "${APT_OPTS[@]}" install --no-install-recommends "${need[@]}" \
      || fail "apt-get install ${need[*]} failed"
  fi
}

cached_binary_ok() {
  [[ -x "$FG_APISERVER_BIN" ]] && "$FG_APISERVER_BIN" --version >/dev/null 2>&1
}

# The Go commands (cmd/NAME) whose cached binary is missing or does not run.
missing_cmds() {
  [[ "${FLOODGATE_REBUILD:-0}" == 1 ]] || cached_binary_ok || echo kube-apiserver
  ((WITH_NODE)) || return 0
  local c
  for c in "${FG_NODE_CMDS[@]}"; do
    if [[ "${FLOODGATE_REBUILD:-0}" == 1 ]] || ! "$FG_NODE_DIR/$c" --version >/dev/null 2>&1; then echo "$c"; fi
  done
}

pause_missing() {
  ((WITH_NODE)) || return 1
  [[ "${FLOODGATE_REBUILD:-0}" == 1 || ! -x "$FG_NODE_DIR/pause" || ! -s "$FG_NODE_DIR/pause.version" ]]
}

nothing_to_build() { [[ -z "$(missing_cmds)" ]] && ! pause_missing; }

enable_deb_src() {
  if [[ ! -f "$SRC_LIST" ]]; then
    cat >"$SRC_LIST" <<'EOF'
# Added by floodgate test/control-plane/build.sh: source packages, to build
# kube-apiserver from Debian's `kubernetes` source package.
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    rm -f "$APT_UPDATED_MARK"
  fi
  # Refresh if apt does not know the source package yet.
  if ! apt-cache showsrc kubernetes 2>/dev/null | grep -q '^Package: kubernetes'; then
    apt_update_once
  fi
  apt-cache showsrc kubernetes | grep -q '^Package: kubernetes' \
    || fail "apt does not know source package 'kubernetes' even after enabling $SRC_LIST"
}

fetch_source() {
  rm -rf "$WORK"
  mkdir -p "$WORK/dl"
  cd "$WORK/dl"
  apt-get source --download-only "kubernetes" || fail "apt-get source --download-only kubernetes failed"
  local -a dscs=(./kubernetes_*.dsc)
  local dsc="${dscs[0]}"
  [[ -f "$dsc" ]] || fail "no kubernetes_*.dsc downloaded"
  echo "source package: $dsc"
  # Unpack and apply Debian's patches.
  dpkg-source -x "$dsc" "$WORK/src" || fail "dpkg-source -x $dsc failed"
  grep -q "$FG_K8S_VERSION" "$WORK/src/debian/changelog" \
    || fail "source package is not kubernetes $FG_K8S_VERSION: $(head -n 1 "$WORK/src/debian/changelog")"
}

replace_reflect2() {
  local src=/usr/share/gocode/src/github.com/modern-go/reflect2
  local dst="$WORK/src/vendor/github.com/modern-go/reflect2"
  [[ -d "$src" ]] || fail "$src missing (golang-github-modern-go-reflect2-dev not installed?)"
  [[ -d "$dst" ]] || fail "$dst missing: unexpected source layout"
  # vendored v1.0.1 segfaults under Go >= 1.18 (first custom-resource request).
  find "$dst" -maxdepth 1 -type f \( -name '*.go' -o -name '*.s' \) -delete
  find "$src" -maxdepth 1 -type f \( -name '*.go' -o -name '*.s' \) ! -name '*_test.go' \
    -exec cp -t "$dst" {} +
  # (The build runs in GOPATH mode, so vendor/modules.txt and go.mod, which
  # still say v1.0.1, are not consulted.)
  dpkg-query -W golang-github-modern-go-reflect2-dev
  ls "$dst"
}

go_build() {
  cd "$WORK/src"
  # As debian/rules does: a GOPATH in which the tree is k8s.io/kubernetes.
  mkdir -p .go/src/k8s.io
  ln -sfn ../../.. .go/src/k8s.io/kubernetes
  export GOPATH="$WORK/src/.go"
  export CGO_ENABLED=0
  # hack/lib/init.sh forces GO111MODULE=off (GOPATH mode: vendor/ is used
  # as is) and hack/lib/golang.sh sets its own GOPATH/GOCACHE under _output/;
  # the version (v1.20.2, commit faecb196) is baked into hack/lib/version.sh
  # of the source tarball, so no KUBE_GIT_* variables are needed.
  unset GOFLAGS GO111MODULE
  export GOTOOLCHAIN=local
  export HOME="$WORK/home"; mkdir -p "$HOME"
  go version
  local what="" c
  for c in "$@"; do what+="${what:+ }cmd/$c"; done
  nice -n 19 make WHAT="$what" || fail "make WHAT=\"$what\" failed (see Go errors above)"
}

install_binaries() {
  local c out dest
  local -a outs
  for c in "$@"; do
    outs=("$WORK"/src/_output/local/bin/linux/*/"$c")
    out="${outs[0]}"
    [[ -x "$out" ]] || fail "no $c under $WORK/src/_output/local/bin"
    "$out" --version || fail "built $out does not run"
    if [[ $c == kube-apiserver ]]; then dest=$FG_APISERVER_BIN; else dest=$FG_NODE_DIR/$c; fi
    mkdir -p "$(dirname "$dest")"
    install -m 0755 "$out" "$dest.tmp"
    mv -f "$dest.tmp" "$dest"
    "$dest" --version
  done
}

# The pod sandbox's process, as build/pause/Makefile builds it (static, -Os),
# with the version of that Makefile's TAG (kubelet's sandbox image name uses it).
build_pause() {
  local dir="$WORK/src/build/pause" tag
  [[ -f "$dir/linux/pause.c" ]] || fail "$dir/linux/pause.c missing: unexpected source layout"
  tag="$(sed -n 's/^TAG[[:space:]]*?\{0,1\}=[[:space:]]*//p' "$dir/Makefile" | head -n 1)"
  [[ "$tag" =~ ^[0-9][0-9.]*$ ]] || fail "no TAG in $dir/Makefile (got '$tag')"
  mkdir -p "$FG_NODE_DIR"
  gcc -Os -Wall -Werror -static -DVERSION="v$tag-floodgate" -o "$FG_NODE_DIR/pause.tmp" "$dir/linux/pause.c" \
    || fail "gcc pause.c failed"
  strip "$FG_NODE_DIR/pause.tmp"
  mv -f "$FG_NODE_DIR/pause.tmp" "$FG_NODE_DIR/pause"
  echo "$tag" >"$FG_NODE_DIR/pause.version"
  "$FG_NODE_DIR/pause" -v
}

cleanup_work() { rm -rf "$WORK"; }

# Fast path, no lock or log needed: everything is there already.
if nothing_to_build && [[ -z "$(missing_pkgs "${RUNTIME_PKGS[@]}")" ]]; then
  skip_step "install runtime packages" "all installed: ${RUNTIME_PKGS[*]}"
  skip_step "build kube-apiserver $FG_K8S_VERSION" "cached: $FG_APISERVER_BIN, $("$FG_APISERVER_BIN" --version)"
  ((WITH_NODE)) && skip_step "build the node binaries $FG_K8S_VERSION" "cached in $FG_NODE_DIR: ${FG_NODE_CMDS[*]} pause"
  exit 0
fi

mkdir -p "$FG_APISERVER_DIR" || fg_die "cannot create cache dir $FG_APISERVER_DIR (run as root or set FLOODGATE_CACHE)"
# One build at a time per machine (parallel test runs may all call this).
exec 8>"$FG_APISERVER_DIR/.build.lock"
if ! flock -n 8; then
  fg_info "another build.sh holds $FG_APISERVER_DIR/.build.lock; waiting (up to 60 min)"
  flock -w 3600 8 || fg_die "timed out waiting for the other build.sh"
fi
rm -f "$FG_APISERVER_DIR"/.apt-updated-*
: >"$FG_LOG"
trap 'rm -f "$APT_UPDATED_MARK"' EXIT

fg_info "log: $FG_LOG"
run_step "install runtime packages (${RUNTIME_PKGS[*]})" install_pkgs "${RUNTIME_PKGS[@]}"

if nothing_to_build; then
  skip_step "build kube-apiserver $FG_K8S_VERSION" "cached: $FG_APISERVER_BIN, $("$FG_APISERVER_BIN" --version)"
  ((WITH_NODE)) && skip_step "build the node binaries $FG_K8S_VERSION" "cached in $FG_NODE_DIR"
  fg_info "done"
  exit 0
fi
mapfile -t CMDS < <(missing_cmds)

run_step "install build packages (${BUILD_PKGS[*]})" install_pkgs "${BUILD_PKGS[@]}"
run_step "enable deb-src ($SRC_LIST)" enable_deb_src
run_step "download + unpack kubernetes source package" fetch_source
run_step "vendor reflect2 1.0.2 from golang-github-modern-go-reflect2-dev" replace_reflect2
if ((${#CMDS[@]})); then
  run_step "go build ${CMDS[*]} (~5-10 min on 2 cores)" go_build "${CMDS[@]}"
  run_step "install ${CMDS[*]} into $FG_CACHE_DIR" install_binaries "${CMDS[@]}"
fi
if pause_missing; then
  run_step "build the pause binary (build/pause/linux/pause.c, static) into $FG_NODE_DIR" build_pause
fi
if [[ "${FLOODGATE_KEEP_BUILD:-0}" == 1 ]]; then
  skip_step "remove work tree" "FLOODGATE_KEEP_BUILD=1, kept $WORK"
else
  run_step "remove work tree $WORK" cleanup_work
fi
fg_info "done: $("$FG_APISERVER_BIN" --version)${CMDS:+; built ${CMDS[*]}}"
