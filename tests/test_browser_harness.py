"""The browser harness itself: headless Chromium loads a local page, runs its JS, and takes a screenshot."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser import open_browser, save_screenshot, serve_directory

COUNTER_PAGE = """<!doctype html>
<html>
  <head><meta charset="utf-8"><title>counter</title></head>
  <body>
    <h1>Counter <span id="count">0</span></h1>
    <script>
      let count = 0;
      setInterval(() => { document.getElementById("count").textContent = String(++count); }, 100);
    </script>
  </body>
</html>
"""


@pytest.mark.slow
def test_browser_sees_the_page_change_and_takes_a_screenshot(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text(COUNTER_PAGE, encoding="utf-8")

    with serve_directory(site) as base_url, open_browser() as page:
        page.goto(f"{base_url}/index.html")
        assert page.title() == "counter"
        assert page.evaluate("1 + 1") == 2

        first = int(page.text_content("#count"))
        # The counter ticks every 100 ms: it must move on by at least 3 ticks within the default timeout.
        page.wait_for_function(
            "first => Number(document.getElementById('count').textContent) >= first + 3", arg=first)
        later = int(page.text_content("#count"))
        assert later >= first + 3

        shot = save_screenshot(page, tmp_path / "shots" / "counter.png")

    assert shot.is_file()
    data = shot.read_bytes()
    assert len(data) > 0
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
