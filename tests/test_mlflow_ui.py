"""The MLflow UI as a model owner sees it: the real `mlflow server` on a registry the platform wrote, in Chromium.

The owner finds every version of the readiness model with its alias and, on the version's run, the back-test
evidence; screenshot var/reports/mlflow_models.png.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from readiness_platform.model_registry import CHALLENGER, CHAMPION, Registry
from readiness_platform.settings import REPO_ROOT, Settings
from tests.browser import free_port, open_browser, save_screenshot, server_process
from tests.test_model_registry import _register_both, _registry

pytestmark = pytest.mark.slow

MLFLOW = REPO_ROOT / ".venv" / "bin" / "mlflow"
SCREENSHOT = REPO_ROOT / "var" / "reports" / "mlflow_models.png"
TIMEOUT_S = 90.0  # the server's first start and the React app's first render are slow on two cores


@contextmanager
def mlflow_server(settings: Settings, log_path: Path) -> Iterator[str]:
    """`mlflow server` (what `make mlflow` runs) on the settings' registry at a free port; its base URL."""
    base_url = f"http://127.0.0.1:{(port := free_port())}"
    with server_process([str(MLFLOW), "server", "--backend-store-uri", settings.mlflow_uri, "--default-artifact-root",
                         settings.mlflow_artifacts, "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
                        f"{base_url}/health", log_path, TIMEOUT_S):
        yield base_url


def test_mlflow_ui_shows_the_versions_their_aliases_and_evidence(tmp_path: Path, scored) -> None:
    from playwright.sync_api import expect

    registry: Registry = _registry(tmp_path)
    versions = _register_both(registry, scored)
    registry.promote(versions["v1"], CHAMPION, by="owner", reason="first model")
    registry.promote(versions["v2"], CHALLENGER, by="owner", reason="evaluate v2")
    run_id = registry.client.get_model_version(registry.name, versions["v2"]).run_id
    alert_rate = registry.client.get_run(run_id).data.metrics["alert_rate_per_game"]

    with mlflow_server(registry.settings, tmp_path / "mlflow.log") as base_url, \
            open_browser(viewport=(1400, 900), timeout_s=TIMEOUT_S) as page:
        def shown(locator) -> None:  # noqa: ANN001
            expect(locator).to_be_visible(timeout=TIMEOUT_S * 1000)

        # the registered model: one row per version, each alias on its version
        page.goto(f"{base_url}/#/models/{registry.name}")
        for v in versions.values():
            shown(page.get_by_role("link", name=f"Version {v}", exact=True))
        shown(page.get_by_text(f"@ {CHAMPION}").first)
        shown(page.get_by_text(f"@ {CHALLENGER}").first)
        save_screenshot(page, SCREENSHOT)

        # the challenger's run: the back-test metrics the cutover's gates read
        page.goto(f"{base_url}/#/experiments/0/runs/{run_id}")  # the UI resolves the run's own experiment
        shown(page.get_by_text("alert_rate_per_game").first)
        shown(page.get_by_text(f"{alert_rate:.4g}"[:5]).first)
    assert SCREENSHOT.stat().st_size > 0
