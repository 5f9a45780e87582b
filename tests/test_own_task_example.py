"""Issue 25: `examples/own_task` end to end at a tiny scale, as its README runs it: a search
on each task, the validation of the best genome on both, its export, and a plain PyTorch loop
training the user's network with the exported file."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "own_task"
OPTEVO = [str(Path(sys.executable).parent / "optevo")]  # the console script, as a user runs it


def run(*args: str, cwd: Path) -> str:
    env = {**os.environ, "OPTEVO_EXAMPLE_STEPS": "30"}
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.mark.slow
@pytest.mark.subprocess
def test_the_own_task_example_end_to_end(tmp_path: Path) -> None:
    fashion = Path(os.environ.get("FASHION_MNIST", "/usr/share/datasets/fashion-mnist"))
    assert (fashion / "train-images-idx3-ubyte.gz").is_file(), (
        f"the example reads Fashion-MNIST from {fashion}: apt-get install dataset-fashion-mnist"
    )
    tasks = str(EXAMPLE / "tasks.py")
    out = run(*OPTEVO, "search", "--preset", "tiny", "--task", f"{tasks}:fashion_cnn",
              "--run-dir", "run", cwd=tmp_path)  # fmt: skip
    assert f"task code imported: {tasks}:fashion_cnn" in " ".join(out.split())
    best = re.search(r"best found genome #1 ([0-9a-f]+)", out)
    assert best is not None, out
    run(*OPTEVO, "search", "--preset", "tiny", "--task", f"{tasks}:text_lm",
        "--run-dir", "run-text", cwd=tmp_path)  # fmt: skip
    run(*OPTEVO, "validate", "--run", "run", "--tasks", f"{tasks}:fashion_cnn,{tasks}:text_lm",
        "--seeds", "2", "--no-baselines", "--out", "val", cwd=tmp_path)  # fmt: skip
    summary = json.loads((tmp_path / "val" / "summary.json").read_text())
    metrics = {t["task"]: t["metric"] for t in summary["tasks"]}
    assert metrics == {f"{tasks}:fashion_cnn": "accuracy", f"{tasks}:text_lm": "bits-per-char"}
    run(*OPTEVO, "export", best.group(1), "--run", "run", "--format", "python",
        "-o", "found_opt.py", cwd=tmp_path)  # fmt: skip
    assert "import optevo" not in (tmp_path / "found_opt.py").read_text()
    trained = run(sys.executable, str(EXAMPLE / "train_with_export.py"), "found_opt.py",
                  "--steps", "30", cwd=tmp_path)  # fmt: skip
    accuracy = float(re.search(r"test accuracy ([0-9.]+)", trained).group(1))  # type: ignore[union-attr]
    assert 0.0 <= accuracy <= 1.0
