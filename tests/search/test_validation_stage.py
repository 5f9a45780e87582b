"""A search run's validation stage (`RunConfig.validation`, `optevo.search.validation`): the
run's best genomes beside named optimizers and the baselines, run by `optevo validate`'s
protocol into RUN/validate/, shown by the report, and not trained again when the run is
resumed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers.search import SyntheticExecutor, micro_config
from helpers.threads import torch_threads
from optevo.config import ConfigError
from optevo.search.api import resume_search, start_search
from optevo.search.store import RunStore
from optevo.search.validation import DONE_META, VALIDATE_DIR
from optevo.transfer.store import ResultStore

TASKS = ["cancer-logreg", "ratings-mf"]


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """One torch thread, as the suites' budgets are measured (and restored afterwards)."""
    with torch_threads(1):
        yield


def config(**validation: object):  # type: ignore[no-untyped-def]
    section = {"top": 2, "seeds": 2, "scale": 0.02, "tasks": TASKS, "named": ["LR3"]}
    return micro_config(
        strategy={"kind": "random", "batch": 4, "budget": 8},
        final={"top": 2, "baselines": ["Adam"], "seeds": 1},
        validation={**section, **validation},
    )


def test_the_stage_validates_the_final_top_beside_named_and_baselines(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    summary = start_search(config(), run_dir, executor=SyntheticExecutor())
    found = [s for s in summary.final if s.evaluation.key.startswith("final/top")]
    labels = [f"#{i + 1} {s.evaluation.canonical_hash[:10]}" for i, s in enumerate(found)]
    data = json.loads((run_dir / VALIDATE_DIR / "summary.json").read_text())
    rows = list(data["optimizers"])
    assert rows == [*labels, "LR3", "Adam", "AdamW", "Lion"]
    assert [t["task"] for t in data["tasks"]] == TASKS
    records = ResultStore(run_dir / VALIDATE_DIR).records()
    finals = [r for r in records if r.key.phase != "lr"]
    # every optimizer: 2 seeds on each of the 2 tasks (none fails these convex tasks)
    assert len(finals) == 6 * 2 * 2
    with RunStore.open(run_dir, lock=False) as store:
        assert store.get_meta(DONE_META) is not None
    before = len(records)
    resume_search(run_dir, executor=SyntheticExecutor())
    assert len(ResultStore(run_dir / VALIDATE_DIR).records()) == before  # nothing re-run

    from optevo.report.page import validation_section
    from optevo.report.run_data import collect

    section = validation_section(collect(run_dir).run_dir)
    assert section is not None and section.title == "Validation"


def test_a_stage_cut_short_goes_on_when_the_run_is_resumed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import optevo.search.validation as stage

    run_dir = tmp_path / "run"
    real = stage.run_validate
    calls = {"n": 0}

    def dying(cfg, out, on_event=None, jobs=1, threads=1):  # type: ignore[no-untyped-def]
        def event(e):  # type: ignore[no-untyped-def]
            if e.kind == "done":
                calls["n"] += 1
                if calls["n"] == 5:
                    raise KeyboardInterrupt
        return real(cfg, out, event, jobs=jobs, threads=threads)

    monkeypatch.setattr(stage, "run_validate", dying)
    with pytest.raises(KeyboardInterrupt):
        start_search(config(top=1), run_dir, executor=SyntheticExecutor())
    with RunStore.open(run_dir, lock=False) as store:
        assert store.get_meta(DONE_META) is None and store.get_meta("finished") is None
    assert len(ResultStore(run_dir / VALIDATE_DIR).records()) == 5
    monkeypatch.setattr(stage, "run_validate", real)
    trained: list[object] = []
    resume_search(
        run_dir,
        executor=SyntheticExecutor(),
        on_validate=lambda e: trained.append(e) if e.kind == "done" else None,
    )
    total = len(ResultStore(run_dir / VALIDATE_DIR).records())
    assert len(trained) == total - 5 > 0


def test_a_bad_validation_section_is_refused_naming_the_field() -> None:
    with pytest.raises(ConfigError, match=r"validation\.tasks"):
        config(tasks=["no-such-task"])
    with pytest.raises(ConfigError, match=r"validation\.named"):
        config(named=["Opt99"])
    with pytest.raises(ConfigError, match=r"validation\.top"):
        config(top=0)


def test_a_run_without_a_genome_with_a_fitness_skips_the_stage_with_a_warning(
    tmp_path: Path,
) -> None:
    run_dir = tmp_path / "run"
    with pytest.warns(UserWarning, match="validation stage is skipped"):
        summary = start_search(config(), run_dir, executor=SyntheticExecutor(fail_below=1.0))
    assert summary.finished and not summary.leaderboard
    assert not (run_dir / VALIDATE_DIR).exists()
