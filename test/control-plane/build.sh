#!/usr/bin/env bash
# Installs what the floodgate test control plane needs and builds
# kube-apiserver 1.20.2 from Debian's own `kubernetes` source package, once per
# machine. The binary is cached at
#   ${FLOODGATE_CACHE:-/var/cache/floodgate}/kube-apiserver-1.20.2/kube-apiserver
# and this script does nothing more when that binary already runs `--version`.
#
# Env:
#   FLOODGATE_CACHE       cache root (default /var/cache/floodgate)
#   FLOODGATE_KEEP_BUILD  1 = keep the source/work tree after a good build
#   FLOODGATE_REBUILD     1 = rebuild even if the cached binary works
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
FG_TAG="floodgate-cp build"
# shellcheck source=lib.sh
source "$HERE/lib.sh"

WORK="$FG_APISERVER_DIR/work"
FG_LOG="$FG_APISERVER_DIR/build.log"

export DEBIAN_FRONTEND=noninteractive
APT_OPTS=(-y -q -o DPkg::Lock::Timeout=600 -o APT::Get::Assume-Yes=true)
RUNTIME_PKGS=(etcd-server golang-go rsync jq openssl curl)
BUILD_PKGS=(dpkg-dev golang-github-modern-go-reflect2-dev)
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
  nice -n 19 make WHAT=cmd/kube-apiserver || fail "make WHAT=cmd/kube-apiserver failed (see Go errors above)"
}

install_binary() {
  local -a outs=("$WORK"/src/_output/local/bin/linux/*/kube-apiserver)
  local out="${outs[0]}"
  [[ -x "$out" ]] || fail "no kube-apiserver under $WORK/src/_output/local/bin"
  "$out" --version || fail "built $out does not run"
  install -m 0755 "$out" "$FG_APISERVER_BIN.tmp"
  mv -f "$FG_APISERVER_BIN.tmp" "$FG_APISERVER_BIN"
  "$FG_APISERVER_BIN" --version
}

cleanup_work() { rm -rf "$WORK"; }

# Fast path, no lock or log needed: everything is there already.
if [[ "${FLOODGATE_REBUILD:-0}" != 1 ]] && cached_binary_ok && [[ -z "$(missing_pkgs "${RUNTIME_PKGS[@]}")" ]]; then
  skip_step "install runtime packages" "all installed: ${RUNTIME_PKGS[*]}"
  skip_step "build kube-apiserver $FG_K8S_VERSION" "cached: $FG_APISERVER_BIN, $("$FG_APISERVER_BIN" --version)"
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

if [[ "${FLOODGATE_REBUILD:-0}" != 1 ]] && cached_binary_ok; then
  skip_step "build kube-apiserver $FG_K8S_VERSION" "cached: $FG_APISERVER_BIN, $("$FG_APISERVER_BIN" --version)"
  fg_info "done"
  exit 0
fi

run_step "install build packages (${BUILD_PKGS[*]})" install_pkgs "${BUILD_PKGS[@]}"
run_step "enable deb-src ($SRC_LIST)" enable_deb_src
run_step "download + unpack kubernetes source package" fetch_source
run_step "vendor reflect2 1.0.2 from golang-github-modern-go-reflect2-dev" replace_reflect2
run_step "go build cmd/kube-apiserver (~5-10 min on 2 cores)" go_build
run_step "install binary into $FG_APISERVER_BIN" install_binary
if [[ "${FLOODGATE_KEEP_BUILD:-0}" == 1 ]]; then
  skip_step "remove work tree" "FLOODGATE_KEEP_BUILD=1, kept $WORK"
else
  run_step "remove work tree $WORK" cleanup_work
fi
fg_info "done: $("$FG_APISERVER_BIN" --version)"
