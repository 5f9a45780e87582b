"""The report in a real browser: headless Chromium (Debian's `chromium`, installed by
`.ci/run`) renders the leaderboard and loads every image; a screenshot is saved in the test's
temporary folder. No network: the page is a local file and references only local files."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from helpers.browser import chromium_path
from optevo.report.page import write_report
from optevo.report.run_data import collect

# Skipped where Chromium is missing, a failure in CI (tests/conftest.py).
pytestmark = pytest.mark.browser

WINDOW = (1200, 2400)

PROBE = """<script>
window.addEventListener('load', () => {
  const board = document.getElementById('leaderboard');
  const box = board.getBoundingClientRect();
  const out = document.createElement('pre');
  out.id = 'probe';
  out.textContent = JSON.stringify({
    images: [...document.images].map(i => ({
      src: i.getAttribute('src'), complete: i.complete, natural: i.naturalWidth,
      shown: i.getBoundingClientRect().width})),
    board: {width: box.width, height: box.height,
            rows: board.querySelectorAll('tbody tr').length,
            first: board.querySelector('tbody tr td:nth-child(2)').textContent}});
  document.body.appendChild(out);
});
</script></body>"""


def chromium() -> str:
    path = chromium_path()
    if path:
        return path
    pytest.fail(
        "headless Chromium is needed for this test and was not found: "
        "apt-get install -y chromium (the CI script .ci/run installs it)"
    )


def run_chromium(profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [
        chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
        *args,
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_chromium_renders_the_leaderboard_and_every_image(
    eliminated_run: Path, tmp_path: Path
) -> None:
    files = write_report(eliminated_run, tmp_path / "report")
    data = collect(eliminated_run)
    rows = min(20, len(data.summary.leaderboard))
    page = files.html.resolve()

    # The DOM Chromium built from the page itself.
    dom = run_chromium(tmp_path / "p1", "--dump-dom", page.as_uri()).stdout
    table = re.search(r'<table id="leaderboard">(.*?)</table>', dom, re.S)
    assert table is not None, dom[:2000]
    assert len(re.findall(r"<tr>", table.group(1))) == rows + 1  # header + rows
    best = data.summary.leaderboard[0].evaluation.canonical_hash[:10]
    assert best in table.group(1)

    # The same page with a probe that reports what the browser laid out and loaded.
    probe = page.with_name("probe.html")
    probe.write_text(page.read_text().replace("</body>", PROBE))
    dom = run_chromium(
        tmp_path / "p2", "--virtual-time-budget=15000", "--dump-dom", probe.as_uri()
    ).stdout
    found = re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S)
    assert found is not None, "the probe did not run: " + dom[-2000:]
    report = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    board = report["board"]
    assert board["rows"] == rows and board["first"] == best
    assert board["width"] > 400 and board["height"] > 20 * rows
    images = report["images"]
    assert len(images) == len(re.findall(r"<img ", page.read_text())) >= 10
    broken = [i["src"] for i in images if not (i["complete"] and i["natural"] > 0)]
    assert broken == [], f"images the browser could not load: {broken}"
    assert all(i["shown"] > 50 for i in images), images

    # A screenshot, kept in the test's temporary folder.
    shot = tmp_path / "report.png"
    run_chromium(tmp_path / "p3", f"--screenshot={shot}", page.as_uri())
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = imread(shot)[..., :3]
    assert pixels.shape[:2] == (WINDOW[1], WINDOW[0])
    ink = np.mean(np.any(pixels < 0.9, axis=-1))
    colours = len(np.unique((pixels * 255).astype(np.uint8).reshape(-1, 3), axis=0))
    assert ink > 0.03 and colours > 50, (ink, colours)  # text, tables and figures drawn
