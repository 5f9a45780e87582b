"""Files written whole-or-nothing get the mode a plain `open` would give them under the
umask, not mkstemp's 0600 (issue 27, G13): `sample --out` (write_lines) and `plot -o`."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from optevo.cli import app
from optevo.jsonio import temp_beside, write_lines


@pytest.fixture(params=[0o022, 0o077, 0o002])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_write_lines_follows_the_umask(tmp_path: Path, umask: int) -> None:
    path = tmp_path / "out.jsonl"
    write_lines(path, [{"a": 1}])
    assert _mode(path) == 0o666 & ~umask
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    assert _mode(path) == _mode(plain)


def test_temp_beside_is_in_the_folder_and_follows_the_umask(tmp_path: Path, umask: int) -> None:
    fd, name = temp_beside(tmp_path / "x.png", ".png")
    os.close(fd)
    assert Path(name).parent == tmp_path and name.endswith(".png")
    assert _mode(Path(name)) == 0o666 & ~umask


def test_sample_and_plot_write_files_of_the_umasks_mode(tmp_path: Path, umask: int) -> None:
    runner = CliRunner()
    out = tmp_path / "g.jsonl"
    assert runner.invoke(app, ["sample", "--count", "2", "--out", str(out)]).exit_code == 0
    assert _mode(out) == 0o666 & ~umask
    png = tmp_path / "s.png"
    done = runner.invoke(app, ["plot", "schedule", "LR6", "-o", str(png)])
    assert done.exit_code == 0, done.output
    assert _mode(png) == 0o666 & ~umask
