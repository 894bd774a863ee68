#!/usr/bin/env bash
# One set-up for a fresh machine, safe to run again: Debian packages, the Python environment, the JVM jars
# (Spark's and the Kafka broker's).
#   bash scripts/setup.sh          (what `make setup`, `make demo` and `make test` run first)
# Each step is skipped when what it would produce is already there and up to date.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
STAMP_DIR=.venv/.stamps

say() { printf '\n== %s\n' "$*"; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# --- Debian packages: servers the platform and its tests start on loopback (scripts/services.sh) ----
need_pkgs=()
[ -x /usr/lib/postgresql/15/bin/postgres ] || need_pkgs+=(postgresql-15 postgresql-client-15)
command -v redis-server >/dev/null || need_pkgs+=(redis-server)
command -v mvn >/dev/null || need_pkgs+=(maven)
command -v chromium >/dev/null || need_pkgs+=(chromium)
# promtool (`promtool check rules`, `promtool test rules` in tests/helm); the package's server is not started
command -v promtool >/dev/null || need_pkgs+=(prometheus)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  say "installing Debian packages: ${need_pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -q
  # Package scripts must not start system-wide servers: services.sh starts its own on other ports.
  printf '#!/bin/sh\nexit 101\n' | as_root tee /usr/sbin/policy-rc.d >/dev/null
  as_root chmod +x /usr/sbin/policy-rc.d
  as_root apt-get install -y -q --no-install-recommends "${need_pkgs[@]}"
  as_root rm -f /usr/sbin/policy-rc.d
fi

# --- Python environment ----------------------------------------------------------------------------
want=$(cat pyproject.toml constraints.txt | sha256sum | cut -c1-16)
if [ ! -f "$STAMP_DIR/python-$want" ]; then
  say "Python environment (.venv) from pyproject.toml + constraints.txt"
  [ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip wheel setuptools
  .venv/bin/python -m pip install -q -c constraints.txt --config-settings editable_mode=compat -e ".[test]"
  mkdir -p "$STAMP_DIR" && rm -f "$STAMP_DIR"/python-* && touch "$STAMP_DIR/python-$want"
fi

# --- JVM jars for Spark, resolved from Maven Central into .jars/ -----------------------------------
want=$(sha256sum jvm/pom.xml | cut -c1-16)
if [ ! -f ".jars/.resolved-$want" ]; then
  say "JVM jars (.jars/) from jvm/pom.xml"
  rm -rf .jars && mkdir -p .jars
  mvn -q -B -f jvm/pom.xml dependency:copy-dependencies
  touch ".jars/.resolved-$want"
fi

# --- Hadoop's local file system without a forked chmod per file (jvm/localfs), built into .jars/ --------
want=$(cat jvm/localfs/pom.xml jvm/localfs/src/main/java/dev/readiness/fs/*.java | sha256sum | cut -c1-16)
if [ ! -f ".jars/.localfs-$want" ]; then
  say "readiness-localfs.jar (.jars/) from jvm/localfs"
  mvn -q -B -f jvm/localfs/pom.xml package
  rm -f .jars/.localfs-* && touch ".jars/.localfs-$want"
fi

# --- The stream's pitchers' state as a JVM processor (jvm/state), built into .jars/ --------------------
want=$(cat jvm/state/pom.xml jvm/state/src/main/java/dev/readiness/state/*.java | sha256sum | cut -c1-16)
if [ ! -f ".jars/.state-$want" ]; then
  say "readiness-state.jar (.jars/) from jvm/state"
  mvn -q -B -f jvm/state/pom.xml package
  rm -f .jars/.state-* && touch ".jars/.state-$want"
fi

# --- The Kafka broker's jars (scripts/services.sh), resolved from Maven Central into .jars-kafka/ --
want=$(sha256sum jvm/kafka/pom.xml | cut -c1-16)
if [ ! -f ".jars-kafka/.resolved-$want" ]; then
  say "Kafka broker jars (.jars-kafka/) from jvm/kafka/pom.xml"
  rm -rf .jars-kafka && mkdir -p .jars-kafka
  mvn -q -B -f jvm/kafka/pom.xml dependency:copy-dependencies
  touch ".jars-kafka/.resolved-$want"
fi

# --- Deployment checks (tests/helm): helm and kubeconform built with `go install` into .tools/bin, and the
# Kubernetes JSON schemas kubeconform validates against, made offline from Go module zips (the module proxy
# serves k8s.io/kubernetes with the API server's OpenAPI document, and the operators' CRDs) -------------
# A version bump here re-runs its step. Fresh (empty Go caches) on 2 idle cores: helm 2 min 15 s (6 min with the
# cores busy), kubeconform 8 s, schemas 10-14 s; promtool's apt install above ~10 s.
HELM_VERSION=v3.22.0
KUBECONFORM_VERSION=v0.8.0
K8S_SCHEMA_VERSION=v1.35.4            # k8s.io/kubernetes: api/openapi-spec/swagger.json
SPARK_OPERATOR_VERSION=v2.4.0         # github.com/kubeflow/spark-operator/v2: SparkApplication
PROMETHEUS_OPERATOR_VERSION=v0.85.0   # github.com/prometheus-operator/prometheus-operator: PrometheusRule, ServiceMonitor
TOOLS=.tools
GO=$(command -v go || echo /usr/local/go/bin/go)
if [ ! -x "$GO" ]; then
  echo "setup: Go >= 1.21 is needed to build helm and kubeconform (https://go.dev/dl; it fetches the toolchain" \
       "helm asks for from the module proxy itself)" >&2
  exit 1
fi
go_tool() {  # go_tool NAME PACKAGE VERSION [LDFLAGS]: `go install PACKAGE@VERSION` into .tools/bin unless done
  local stamp="$TOOLS/.stamps/$1-$3-$(echo "${4:-}" | sha256sum | cut -c1-8)"
  if [ ! -x "$TOOLS/bin/$1" ] || [ ! -f "$stamp" ]; then
    say "$1 $3 (go install $2@$3 into $TOOLS/bin)"
    GOBIN="$ROOT/$TOOLS/bin" "$GO" install -ldflags "${4:-}" "$2@$3"
    mkdir -p "$TOOLS/.stamps" && rm -f "$TOOLS/.stamps/$1-"* && touch "$stamp"
  fi
}
# what helm's own release build stamps in (its Makefile): its version, and the Kubernetes version of its
# client-go (v0.37 for v3.22.0) that `helm template` and `lint` assume - `go install` alone leaves 1.20,
# which the chart's kubeVersion (>= 1.27) refuses
HELM_KUBE_MINOR=37
helm_ldflags="-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
for pkg in pkg/chartutil pkg/lint/rules; do
  helm_ldflags+=" -X helm.sh/helm/v3/$pkg.k8sVersionMajor=1 -X helm.sh/helm/v3/$pkg.k8sVersionMinor=$HELM_KUBE_MINOR"
done
go_tool helm helm.sh/helm/v3/cmd/helm "$HELM_VERSION" "$helm_ldflags"
go_tool kubeconform github.com/yannh/kubeconform/cmd/kubeconform "$KUBECONFORM_VERSION"

want=$(cat scripts/k8s_schemas.py <(echo "$K8S_SCHEMA_VERSION $SPARK_OPERATOR_VERSION $PROMETHEUS_OPERATOR_VERSION") \
       | sha256sum | cut -c1-16)
if [ ! -f "$TOOLS/k8s-schemas/.made-$want" ]; then
  say "Kubernetes $K8S_SCHEMA_VERSION JSON schemas + SparkApplication, PrometheusRule, ServiceMonitor ($TOOLS/k8s-schemas)"
  modcache="$ROOT/$TOOLS/gomod.tmp"   # a throw-away module cache: only the zips are read, nothing is kept
  module_zip() { GOMODCACHE="$modcache" "$GO" mod download -json "$1" | .venv/bin/python -c 'import json,sys; print(json.load(sys.stdin)["Zip"])'; }
  .venv/bin/python scripts/k8s_schemas.py "$TOOLS/k8s-schemas" \
    --swagger "$(module_zip "k8s.io/kubernetes@$K8S_SCHEMA_VERSION")" \
    --crds "$(module_zip "github.com/kubeflow/spark-operator/v2@$SPARK_OPERATOR_VERSION"):config/crd/bases/sparkoperator.k8s.io_sparkapplications.yaml" \
    --crds "$(module_zip "github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION"):example/prometheus-operator-crd/monitoring.coreos.com_*.yaml"
  GOMODCACHE="$modcache" "$GO" clean -modcache && rm -rf "$modcache"
  echo "$K8S_SCHEMA_VERSION" > "$TOOLS/k8s-schemas/KUBERNETES_VERSION"
  rm -f "$TOOLS/k8s-schemas/.made-"* && touch "$TOOLS/k8s-schemas/.made-$want"
fi

say "set-up complete ($ROOT)"
