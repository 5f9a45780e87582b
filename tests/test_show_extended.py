"""`optevo show` on genomes of the extended space: the constants in every format."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from optevo import library
from optevo.cli import app

runner = CliRunner()
WIDE = {"COLUMNS": "200"}  # rich wraps long lines at the terminal width


def test_show_lion_and_adamw_with_their_constants() -> None:
    text = runner.invoke(app, ["show", "Lion"], env=WIDE)
    assert text.exit_code == 0, text.output
    assert "u = sign(dir)" in text.output and "constants: beta_v=0.99" in text.output
    adamw = runner.invoke(app, ["show", "AdamW"], env=WIDE)
    assert "constants: beta_s=0.999, eps=1e-08, wd=0.01" in adamw.output
    as_json = json.loads(runner.invoke(app, ["show", "AdamW", "--format", "json"]).output)
    assert as_json["schema"] == "optevo.genome/2"
    assert as_json["constants"] == {"beta_s": 0.999, "eps": 1e-08, "wd": 0.01}
    latex = runner.invoke(app, ["show", "AdamW", "--format", "latex"], env=WIDE).output
    assert r"\mathrm{wd} = 0.01" in latex


def test_show_reads_a_schema_2_file(tmp_path: Path) -> None:
    path = tmp_path / "lion_wd.json"
    path.write_text(library.genome("Lion").with_constants({"wd": 0.3}).to_json())
    result = runner.invoke(app, ["show", str(path)], env=WIDE)
    assert result.exit_code == 0, result.output
    assert "constants: beta_v=0.99, wd=0.3" in result.output
