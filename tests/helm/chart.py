"""Helpers of the chart tests: the tools `scripts/setup.sh` installs (helm, kubeconform into
.tools/bin, the Kubernetes JSON schemas into .tools/k8s-schemas, promtool from Debian's prometheus)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "readiness-platform"
TOOLS = ROOT / ".tools"
SCHEMAS = TOOLS / "k8s-schemas"
ENVIRONMENTS = ("local", "staging", "production")
REGISTRY, TAG = "registry.example.com/acme", "1.2.3-test"
RELEASE, NAMESPACE = "readiness", "readiness"


def tool(name: str) -> Path:
    """A tool of the set-up, or a skip that says how to get it."""
    found = TOOLS / "bin" / name if (TOOLS / "bin" / name).exists() else shutil.which(name)
    if not found:
        pytest.skip(f"{name} is not installed: `make setup` (scripts/setup.sh) installs it")
    return Path(found)


def kube_version() -> str:
    version = SCHEMAS / "KUBERNETES_VERSION"
    if not version.exists():
        pytest.skip("no Kubernetes JSON schemas in .tools/k8s-schemas: `make setup` (scripts/setup.sh) makes them")
    return version.read_text().strip().removeprefix("v")


def helm(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run([str(tool("helm")), *args], capture_output=True, text=True, check=check, timeout=120)


def render(env: str, *extra: str) -> subprocess.CompletedProcess:
    """`helm template` of a values file for the Kubernetes version the schemas were made from."""
    return helm("template", RELEASE, str(CHART), "--namespace", NAMESPACE, "--kube-version", kube_version(),
                "-f", str(CHART / f"values-{env}.yaml"), "--set", f"image.registry={REGISTRY}",
                "--set", f"image.tag={TAG}", *extra, check=False)


def objects(docs: list[dict], kind: str) -> list[dict]:
    return [d for d in docs if d["kind"] == kind]


def one(docs: list[dict], kind: str, name_suffix: str) -> dict:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"].endswith(name_suffix)]
    assert len(found) == 1, f"expected one {kind} *{name_suffix}, found {[d['metadata']['name'] for d in found]}"
    return found[0]
