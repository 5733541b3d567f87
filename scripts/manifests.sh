#!/usr/bin/env bash
# Renders every overlay of deploy/kubernetes with `kubectl kustomize`, validates every object
# against the Kubernetes 1.34 OpenAPI schemas (kubernetes-validate, strict: unknown fields fail), and
# checks pod security levels and NetworkPolicies (scripts/manifest-policy.py).
# 1.34 is the API version the server is built against (k8s-openapi feature v1_34).
set -Eeuo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
source "$ROOT/scripts/env.sh"
K8S_VERSION="1.34.0"
out="target/manifests"
mkdir -p "$out"
status=0 objects=0
for dir in deploy/kubernetes/overlays/*/; do
  name="$(basename "$dir")"
  if ! kubectl kustomize "$dir" > "$out/$name.yaml" 2> "$out/$name.err"; then
    echo "manifests: overlay $name does not render:" >&2; cat "$out/$name.err" >&2; status=1; continue
  fi
  n=$(grep -c '^kind:' "$out/$name.yaml" || true)
  if PYTHONPATH="$ROOT/target/pytools" python3 -m kubernetes_validate --strict -k "$K8S_VERSION" --quiet "$out/$name.yaml"; then
    echo "manifests: $name: $n objects valid for Kubernetes $K8S_VERSION"
    objects=$((objects + n))
  else
    echo "manifests: $name: objects above do not validate ($out/$name.yaml)" >&2; status=1
  fi
  # Pod security: what each namespace enforces holds for the pods in it; every namespace with pods
  # has a NetworkPolicy (PyYAML comes with kubernetes-validate in target/pytools).
  PYTHONPATH="$ROOT/target/pytools" python3 scripts/manifest-policy.py "$out/$name.yaml" || status=1
done
echo "manifests: $objects objects in all"
exit "$status"
