"""The Dagster UI end to end: the real dagster-webserver on the project's definitions, Chromium reading it.

The webserver runs as a subprocess on a temporary DAGSTER_HOME (local storage, written the way
`readiness dagster-home` writes it) with READINESS_HOME in the test's folder, so nothing under var/ is touched
except the screenshot, var/reports/dagster_ui.png.
"""

from __future__ import annotations

import json
import os
import re
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from readiness_platform.instance import write_dagster_home
from readiness_platform.settings import REPO_ROOT, Settings
from tests.browser import free_port, open_browser, save_screenshot, server_process

pytestmark = pytest.mark.slow

WEBSERVER = REPO_ROOT / ".venv" / "bin" / "dagster-webserver"
SCREENSHOT = REPO_ROOT / "var" / "reports" / "dagster_ui.png"
START_TIMEOUT_S = 60.0
UI_TIMEOUT_S = 60.0  # the first render of the React app is slow on two cores

ASSETS = ("seasonal_baselines", "pitch_features", "online_features", "active_model_version")
JOBS = ("online_publication", "v2_cutover", "rollback_to_v1", "recalibration", "late_reprocessing")

LOCATIONS_QUERY = """{ workspaceOrError { __typename ... on Workspace { locationEntries {
  name loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } } }"""


def _graphql(base_url: str, query: str) -> dict:
    request = urllib.request.Request(f"{base_url}/graphql", data=json.dumps({"query": query}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)["data"]


@contextmanager
def dagster_webserver(settings: Settings, tmp_path: Path) -> Iterator[str]:
    """dagster-webserver on the project's definitions at a free port; yields its base URL once it answers."""
    home = write_dagster_home(settings, postgres=False)
    # The "Join the Dagster community" dialog of a fresh DAGSTER_HOME would cover every page; this is the
    # file Dagster itself writes when it is dismissed (dagster._core.nux).
    (home / ".nux").mkdir(exist_ok=True)
    (home / ".nux" / "nux.yaml").write_text(yaml.safe_dump({"seen": 1}))
    workspace = tmp_path / "workspace.yaml"
    workspace.write_text(yaml.safe_dump({"load_from": [{"python_module": {
        "module_name": "readiness_platform.definitions", "working_directory": str(REPO_ROOT)}}]}))
    env = {**os.environ, "DAGSTER_HOME": str(home), "READINESS_HOME": str(settings.home)}
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    with server_process([str(WEBSERVER), "-w", str(workspace), "-h", "127.0.0.1", "-p", str(port)],
                        f"{base_url}/server_info", tmp_path / "dagster-webserver.log", START_TIMEOUT_S,
                        cwd=REPO_ROOT, env=env):
        yield base_url


def test_dagster_ui_shows_the_platforms_assets_partitions_and_jobs(settings: Settings, tmp_path: Path) -> None:
    from playwright.sync_api import Locator, expect

    from readiness_platform.defs.baselines.assets import season_partitions

    seasons = season_partitions.get_partition_keys()

    with dagster_webserver(settings, tmp_path) as base_url:
        # A broken code location still serves the UI; say why here rather than as a missing asset below.
        entries = _graphql(base_url, LOCATIONS_QUERY)["workspaceOrError"]["locationEntries"]
        assert [(e["name"], e["loadStatus"], e["locationOrLoadError"]["__typename"]) for e in entries] == [
            ("readiness_platform.definitions", "LOADED", "RepositoryLocation")], entries

        with open_browser(viewport=(1280, 1000), timeout_s=UI_TIMEOUT_S) as page:
            # expect() has its own 5 s default, not the page's
            def shown(locator: Locator) -> None:
                expect(locator).to_be_visible(timeout=UI_TIMEOUT_S * 1000)

            # (1) the asset catalog: a row per asset, its name linking to the asset's page (the link's
            # text holds the name twice, middle-truncated and in full, so match it by its address)
            page.goto(f"{base_url}/assets")
            for name in ASSETS:
                link = page.locator(f'a[href="/assets/{name}"]')
                shown(link)
                expect(link).to_contain_text(name)
            # statuses arrive after the rows: wait for them so the screenshot shows them, not spinners
            shown(page.get_by_text(f"{len(seasons)} partitions", exact=True))
            expect(page.get_by_text(re.compile(r"^Loading"))).to_have_count(0, timeout=UI_TIMEOUT_S * 1000)
            save_screenshot(page, SCREENSHOT)

            # (2) seasonal_baselines is partitioned by season: all of them listed, none materialized yet
            page.goto(f"{base_url}/assets/seasonal_baselines?view=partitions")
            shown(page.get_by_text(f"{len(seasons)} Partitions Selected", exact=True))
            shown(page.get_by_text(f"Missing ({len(seasons)})", exact=True))
            for season in (seasons[0], "2019", "2020", seasons[-1]):
                shown(page.get_by_text(season, exact=True).first)

            # (3) the jobs list: each job links to its page (icon names make the links' accessible names)
            page.goto(f"{base_url}/jobs")
            for job in JOBS:
                link = page.locator(f'a[href="/locations/readiness_platform.definitions/jobs/{job}"]')
                shown(link)
                expect(link).to_contain_text(job)

    assert SCREENSHOT.stat().st_size > 0
