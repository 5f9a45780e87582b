"""Report tests build their runs with the search tests' helpers (synthetic fitness)."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers.search import SyntheticExecutor, micro_config
from optevo.search.api import start_search
from optevo.search.elimination import eliminate
from optevo.search.elimination_config import elimination_protocol

REPORT_RUN = {"strategy": {"particles": 3, "time_steps": 2, "mutations": 3}}


@pytest.fixture(scope="session")
def eliminated_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished search (synthetic fitness, 3 particles x 2 time-steps) with a finished
    elimination 5 -> 3 -> 2."""
    run_dir = tmp_path_factory.mktemp("report") / "run"
    cfg = micro_config(**REPORT_RUN)
    assert start_search(cfg, run_dir, executor=SyntheticExecutor()).finished
    elim = elimination_protocol(cfg.fitness, "scaled", tops=(5, 3, 2), bases=(5, 6), seeds=2)
    assert eliminate(run_dir, elim, executor=SyntheticExecutor()).finished
    return run_dir
