"""The chart rendered once per values file (helm template), parsed."""

from __future__ import annotations

import pytest
import yaml

from tests.helm.chart import ENVIRONMENTS, render


@pytest.fixture(scope="session")
def rendered() -> dict[str, str]:
    """`helm template` of every values file, as text."""
    out = {}
    for env in ENVIRONMENTS:
        result = render(env)
        assert result.returncode == 0, f"helm template for {env} failed:\n{result.stderr}"
        out[env] = result.stdout
    return out


@pytest.fixture(scope="session")
def manifests(rendered: dict[str, str]) -> dict[str, list[dict]]:
    """The rendered objects of every values file."""
    return {env: [d for d in yaml.safe_load_all(text) if d] for env, text in rendered.items()}
