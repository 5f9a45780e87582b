"""The built wheel in fresh venvs (issue 28, item 9): with no extras it trains a named optimizer
and its command names the missing extra in one line; with `[search]` the `tiny` search runs.
`scripts/check-wheel.sh` does the work (it needs the package registries or the local torch
wheel, as `make setup` does); `tests/test_packaging.py` checks the same promises in this
environment, with the extra's modules blocked."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = [pytest.mark.slow, pytest.mark.subprocess]


def test_the_wheel_installs_and_works_in_fresh_venvs(tmp_path: Path) -> None:
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "check-wheel.sh"), str(tmp_path / "work")],
        capture_output=True,
        text=True,
        timeout=1800,
        env={**os.environ, "PYTHON": sys.executable},
    )
    lines = [x for x in done.stdout.splitlines() if x.startswith("[check-wheel]")]
    assert done.returncode == 0, "\n".join(lines) + "\n" + done.stderr[-3000:]
    assert lines[-1] == "[check-wheel] OK"
    trained = next(x for x in lines if "LR6 trained" in x)
    first, last = (float(v) for v in trained.split("loss ")[1].split(" -> "))
    assert last < 0.01 * first
    assert any("pip install 'optevo[search]'" in x for x in lines)
