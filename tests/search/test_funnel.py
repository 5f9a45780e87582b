"""The funnel inside the search (issue 16 item 1): promotion counts against a hand-written
rule, the configuration, the leaderboard, and (with real training) serial = process pool and
a run killed at or inside a rung resuming to the uninterrupted run's end."""

from __future__ import annotations

import itertools
import math
import os
import signal
import time
from pathlib import Path

import pytest

from helpers.search import SyntheticExecutor, count_rows, micro_config
from optevo.config import ConfigError
from optevo.search.api import resume_search, start_search, summarize
from optevo.search.config import RunConfig
from optevo.search.executors import SerialExecutor
from optevo.search.funnel import Ladder, promoted_count
from optevo.search.records import funnel_rung, is_stage, rung_stage
from optevo.search.store import RunStore
from optevo.search.worker import Worker

FUNNEL = {
    "rungs": [
        {"fitness": {"total_steps": 80}, "keep": 0.5},
        {"fitness": {"total_steps": 80}, "keep": 0.5, "seeds": 2},
    ]
}


# ------------------------------------------------------------------------------ the rule


def test_promotions_follow_the_top_fraction_of_every_result_so_far() -> None:
    ladder = Ladder(1)
    k = lambda f: (0, f, 0.0)  # noqa: E731
    # batch 1: 4 results, keep 0.5 -> ceil(2) = the best two: 0.9 and 0.7
    assert ladder.promote(1, 0.5, [k(0.5), k(0.9), None, k(0.7)]) == [1, 3]
    # batch 2: 6 results so far -> the top 3 of all: 0.95, 0.9, 0.7; only 0.95 is new
    assert ladder.promote(1, 0.5, [k(0.6), k(0.95)]) == [1]
    # batch 3, one result: 7 so far, top 4 = 0.95, 0.9, 0.7, 0.6 -> 0.55 is not among them
    assert ladder.promote(1, 0.5, [k(0.55)]) == []
    # a tie goes to the earlier result: 8 so far, top 4 = 0.95, 0.9, 0.7 and the first 0.6
    assert ladder.promote(1, 0.5, [k(0.6)]) == []
    # 9 so far, top 5: 0.65 passes the earlier 0.6
    assert ladder.promote(1, 0.5, [k(0.65)]) == [0]
    assert [promoted_count(n, 0.5) for n in (1, 2, 3, 4, 7)] == [1, 1, 2, 2, 4]
    assert promoted_count(3, 1.0) == 3 and promoted_count(10, 0.1) == 1


def test_rung_stages_are_named_and_parsed() -> None:
    assert rung_stage(2) == "rung-2" and funnel_rung("rung-2") == 2
    assert funnel_rung("search") == 0 and funnel_rung("final") is None
    assert funnel_rung("rung-0") is None and funnel_rung("rung-x") is None
    assert is_stage("rung-3") and not is_stage("rung-03")
    with pytest.raises(ValueError):
        rung_stage(0)


# ------------------------------------------------------------------------------ the config


def test_a_rungs_fitness_is_written_as_overrides_of_the_search_fitness() -> None:
    cfg = micro_config(funnel=FUNNEL)
    assert cfg.stages()[-2:] == ("rung-1", "rung-2")
    rung1 = cfg.stage_fitness("rung-1")
    assert rung1.total_steps == 80 and cfg.fitness.total_steps == 60
    assert rung1.model_copy(update={"total_steps": 60}) == cfg.fitness
    with pytest.raises(ValueError, match="no such funnel rung"):
        cfg.stage_fitness("rung-3")
    assert micro_config().stages() == ("init", "search", "final")


@pytest.mark.parametrize(
    ("funnel", "field"),
    [
        ({"rungs": [{"keep": 0}]}, "funnel.rungs.0.keep"),
        ({"rungs": [{"keep": 1.5}]}, "funnel.rungs.0.keep"),
        ({"rungs": []}, "funnel.rungs"),
        ({"rungs": [{"seeds": 0}]}, "funnel.rungs.0.seeds"),
        ({"rungs": [{"fitness": {"total_steps": -1}}]}, "funnel.rungs.0.fitness"),
    ],
)
def test_a_bad_funnel_is_refused_naming_the_field(funnel: dict, field: str) -> None:
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        micro_config(funnel=funnel)


# ------------------------------------------------------------------------------ in a run


def expected_promotions(values: list[list[float | None]], keep: float) -> list[list[int]]:
    """The rule written out another way: after each batch, the threshold is the value at
    place ceil(keep x n) of every result so far, best first (earlier first on ties)."""
    everything: list[tuple[float, int]] = []
    out = []
    for batch in values:
        start = len(everything)
        everything += [(-math.inf if v is None else v, start + j) for j, v in enumerate(batch)]
        n = math.ceil(keep * len(everything) - 1e-9)
        ok = [(v, i) for v, i in everything if v != -math.inf]
        top = {i for _, i in sorted(ok, key=lambda x: (-x[0], x[1]))[:n]}
        out.append([j for j in range(len(batch)) if start + j in top])
    return out


def test_a_random_search_funnel_promotes_what_the_rule_says(tmp_path: Path) -> None:
    cfg = micro_config(
        final={"top": 2, "baselines": [], "seeds": 1},
        strategy={"kind": "random", "batch": 6, "budget": 18},
        funnel=FUNNEL,
    )
    ex = SyntheticExecutor()
    summary = start_search(cfg, tmp_path / "run", executor=ex)
    with RunStore.open(tmp_path / "run", lock=False) as store:
        search = store.evaluations("search")
        rung1 = {e.key for e in store.evaluations("rung-1")}
        rung2 = {e.key for e in store.evaluations("rung-2")}
        trials2 = [store.trials(k) for k in rung2]
    assert len(search) == 18
    batches = [search[i : i + 6] for i in range(0, 18, 6)]
    want1 = expected_promotions([[e.fitness for e in b] for b in batches], 0.5)
    got1 = [[j for j, e in enumerate(b) if f"{e.key}/rung-1" in rung1] for b in batches]
    assert got1 == want1
    assert len(want1[0]) == 3  # the first batch: successive halving of 6
    # rung 2 from rung 1's results (the synthetic fitness: same score, seed noise only)
    with RunStore.open(tmp_path / "run", lock=False) as store:
        r1 = {e.key: e for e in store.evaluations("rung-1")}
    vals2 = [
        [r1[f"{b[j].key}/rung-1"].fitness for j in js] for b, js in zip(batches, want1, strict=True)
    ]
    want2 = expected_promotions(vals2, 0.5)
    got2 = [
        [j for j in js if f"{b[j].key}/rung-2" in rung2]
        for b, js in zip(batches, want1, strict=True)
    ]
    assert got2 == [[js[i] for i in w] for js, w in zip(want1, want2, strict=True)]
    assert all(len(t) == 2 for t in trials2)  # rung 2: two seeds
    seeds: dict[str, set[int]] = {}
    for trial in ex.trials:
        seeds.setdefault(trial.stage, set()).add(trial.seed)
    # every candidate of a stage shares its seeds (paired); each rung's are fresh
    assert [len(seeds[s]) for s in ("search", "rung-1", "rung-2")] == [1, 1, 2]
    assert not (seeds["search"] & seeds["rung-1"]) and not (seeds["rung-1"] & seeds["rung-2"])
    # the leaderboard ranks by the rung reached first; the final stage takes its top two
    board = summary.leaderboard
    assert [s.evaluation.rung for s in board[:2]] == [2, 2]
    assert all(
        a.evaluation.rank_key() >= b.evaluation.rank_key() for a, b in itertools.pairwise(board)
    )
    finals = [s.evaluation.request.parent_hash for s in summary.final]
    assert set(finals) == {s.evaluation.canonical_hash for s in board[:2]}
    assert summary.counts["rung-1"] == sum(map(len, want1))


def test_the_particle_ga_moves_to_a_promoted_child(tmp_path: Path) -> None:
    cfg = micro_config(
        final={"top": 0, "baselines": []},
        strategy={"particles": 2, "time_steps": 2, "mutations": 3, "init_factor": 0},
        funnel={"rungs": [{"keep": 0.34}]},
    )
    start_search(cfg, tmp_path / "run", executor=SyntheticExecutor())
    with RunStore.open(tmp_path / "run", lock=False) as store:
        moves = store.trajectories()
        by_key = {e.key: e for e in store.evaluations()}
    checked = 0
    for p, steps in moves.items():
        for t, key in enumerate(steps):
            if t == 0:
                continue
            children = [
                e for k, e in by_key.items() if k.startswith(f"p{p:03d}/t{t:02d}/") and e.rung == 0
            ]
            promoted = [by_key[f"{c.key}/rung-1"] for c in children if f"{c.key}/rung-1" in by_key]
            if promoted:  # a promoted child beats every child that was not
                assert by_key[key].rung == 1 and key.endswith("/rung-1")
                checked += 1
    assert checked >= 2


# ------------------------------------------------------------------------------ real runs


def rows(run_dir: Path) -> list[tuple]:
    with RunStore.open(run_dir, lock=False) as store:
        return sorted(
            (e.key, e.status, e.fitness, e.canonical_hash, e.duplicate_of)
            for e in store.evaluations()
        )


def funnel_micro() -> RunConfig:
    return micro_config(
        strategy={"kind": "random", "batch": 4, "budget": 8},
        funnel=FUNNEL,
        final={"top": 1, "baselines": [], "seeds": 1},
    )


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("funnel") / "run"
    assert start_search(funnel_micro(), run_dir).finished
    return run_dir


@pytest.mark.slow  # real training, starts a Ray cluster
@pytest.mark.subprocess
def test_the_process_pool_and_ray_make_the_serial_runs_funnel(
    reference: Path, tmp_path: Path
) -> None:
    def with_executor(executor: dict) -> RunConfig:
        return micro_config(
            strategy={"kind": "random", "batch": 4, "budget": 8},
            funnel=FUNNEL,
            final={"top": 1, "baselines": [], "seeds": 1},
            executor=executor,
        )

    start_search(with_executor({"kind": "process", "workers": 2, "threads": 1}), tmp_path / "p")
    assert rows(tmp_path / "p") == rows(reference)
    stages = {r[0].rsplit("/", 1)[-1] for r in rows(reference)}
    assert {"rung-1", "rung-2"} <= stages

    try:
        import ray
    except ImportError:
        pytest.fail("the Ray executor test needs Ray: pip install 'optevo[ray]' (make test does)")
    from optevo.search.executors import make_executor

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        cfg = with_executor({"kind": "ray", "threads": 1})
        executor = make_executor(cfg)
        start_search(cfg, tmp_path / "ray", executor=executor)
        executor.close()
    finally:
        ray.shutdown()
    assert rows(tmp_path / "ray") == rows(reference)


@pytest.mark.slow  # real training
@pytest.mark.subprocess
@pytest.mark.parametrize(
    "kill_when",
    [
        # at the boundary: the first batch's search stage stored, its rung 1 not yet
        "SELECT COUNT(*) FROM evaluations WHERE stage = 'search'",
        # inside rung 2: one of its two seeds stored, the evaluation not yet
        "SELECT COUNT(*) FROM trials WHERE key LIKE '%/rung-2'",
    ],
)
def test_a_run_killed_at_or_inside_a_rung_resumes_to_the_same_end(
    reference: Path, tmp_path: Path, kill_when: str
) -> None:
    import subprocess
    import sys

    cfg = funnel_micro()
    config_file = tmp_path / "f.yaml"
    config_file.write_text(cfg.to_yaml())
    run_dir = tmp_path / "run"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from optevo.cli import main; main()",
            "search",
            "--config",
            str(config_file),
            "--run-dir",
            str(run_dir),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        if count_rows(run_dir / "run.sqlite", kill_when) >= 1:
            break
        time.sleep(0.02)
    assert proc.poll() is None, (proc.stderr.read() if proc.stderr else b"").decode()[-2000:]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    with RunStore.open(run_dir, lock=False) as store:
        assert store.get_meta("finished") is None
        before = store.trial_keys()
    trained: list[tuple[str, int]] = []

    class Counting(SerialExecutor):
        def run(self, trials, on_done):  # type: ignore[no-untyped-def]
            trained.extend((t.key, t.seed_index) for t in trials)
            super().run(trials, on_done)

    summary = resume_search(run_dir, executor=Counting(Worker(cfg), 1))
    assert summary.finished
    assert rows(run_dir) == rows(reference)
    assert not set(trained) & before  # nothing stored was trained again
    with RunStore.open(run_dir, lock=False) as store:
        assert summarize(store).leaderboard[0].evaluation.rung >= 1


# ------------------------------------------------------------------------------ step budget


def test_a_step_budget_stops_the_search_before_its_next_batch(tmp_path: Path) -> None:
    cfg = micro_config(
        strategy={"kind": "random", "batch": 4, "budget": 40},
        final={"top": 1, "baselines": ["Adam"], "seeds": 2},
        budget_steps=1000,
    )
    ex = SyntheticExecutor(steps=100)
    summary = start_search(cfg, tmp_path / "run", executor=ex)
    # 400, 800, 1200 steps after batches 1-3: the fourth is not started
    assert ex.batches == [4, 4, 4, 4]  # the last: the final stage (top 1 and Adam, 2 seeds)
    assert summary.counts["requested"] == 12 and summary.finished
    with RunStore.open(tmp_path / "run", lock=False) as store:
        assert "1,200 steps trained" in (store.get_meta("budget_spent") or "")
    again = SyntheticExecutor(steps=100)
    resume_search(tmp_path / "run", executor=again)
    assert again.trials == []  # the replay stops at the same place; nothing is trained


def test_the_funnels_rungs_count_against_the_step_budget(tmp_path: Path) -> None:
    cfg = micro_config(
        strategy={"kind": "random", "batch": 4, "budget": 40},
        final={"top": 0, "baselines": []},
        funnel={"rungs": [{"keep": 0.5}]},
        budget_steps=1000,
    )
    ex = SyntheticExecutor(steps=100, fail_below=0.0)
    start_search(cfg, tmp_path / "run", executor=ex)
    # batch 1: 4 + 2 promoted = 600 steps; batch 2: 4 more and at least 1 promoted > 1000
    with RunStore.open(tmp_path / "run", lock=False) as store:
        assert len(store.evaluations("search")) == 8
        assert len(store.evaluations("rung-1")) >= 3


@pytest.mark.parametrize(
    "strategy",
    [
        {"kind": "particle", "particles": 2, "time_steps": 50, "mutations": 3, "init_factor": 2},
        {"kind": "regularized", "population": 4, "tournament": 2, "batch": 3, "budget": 500},
        {"kind": "random", "batch": 5, "budget": 500},
    ],
)
@pytest.mark.parametrize("funnel", [None, {"rungs": [{"keep": 0.5, "seeds": 2}]}])
def test_every_strategy_spends_the_same_step_budget(
    tmp_path: Path, strategy: dict, funnel: dict | None
) -> None:
    """The budget is counted the same way whatever the strategy: the steps of every trial of
    the init, search and rung stages (counted here from the store), stopping at the first
    batch boundary at or past the budget."""
    extra = {} if funnel is None else {"funnel": funnel}
    cfg = micro_config(
        strategy=strategy, final={"top": 0, "baselines": []}, budget_steps=3000, **extra
    )
    ex = SyntheticExecutor(steps=100)
    start_search(cfg, tmp_path / "run", executor=ex)
    spent = 100 * len(ex.trials)
    with RunStore.open(tmp_path / "run", lock=False) as store:
        trained = [e for e in store.evaluations() if e.duplicate_of is None]
        counted = sum(len(store.trials(e.key)) for e in trained) * 100
    assert counted == spent
    # stopped at the first batch boundary past the budget: the last batch crossed it
    last_batch = ex.batches[-1] * 100
    assert 3000 <= spent < 3000 + last_batch + (2 * 100 * ex.batches[-1] if funnel else 0)


@pytest.mark.slow  # renders equations and figures
def test_the_report_describes_the_funnel_and_ranks_by_rung(tmp_path: Path) -> None:
    from optevo.report.page import write_report

    cfg = micro_config(
        strategy={"kind": "random", "batch": 6, "budget": 12},
        final={"top": 0, "baselines": []},
        funnel={"rungs": [{"keep": 0.5, "fitness": {"total_steps": 80}}]},
        budget_steps=10**9,
    )
    start_search(cfg, tmp_path / "run", executor=SyntheticExecutor(steps=10))
    files = write_report(tmp_path / "run", tmp_path / "report", top=1, rows=5)
    text = files.markdown.read_text()
    assert "Funnel: rung 1: top 50%, 1 fresh seed, digits" in text
    with RunStore.open(tmp_path / "run", lock=False) as store:
        n = len(store.evaluations("rung-1"))
    assert f"Evaluations at the rungs: rung-1 {n};" in text
    assert "Stopped by a budget of 1,000,000,000 optimizer steps." in text
    # the leaderboard's first row is a genome that reached rung 1
    first = next(line for line in text.splitlines() if line.startswith("| 1 |"))
    assert "/rung-1" in first


def test_a_budget_spent_by_the_initial_population_still_evaluates_the_first_search_batch(
    tmp_path: Path,
) -> None:
    cfg = micro_config(
        strategy={"particles": 2, "time_steps": 5, "mutations": 2, "init_factor": 2},
        final={"top": 1, "baselines": [], "seeds": 1},
        budget_steps=100,
    )
    ex = SyntheticExecutor(steps=100, fail_below=0.0)
    summary = start_search(cfg, tmp_path / "run", executor=ex)
    # the initial population (4) spends 400 steps, past the budget; the particles' first
    # evaluation (2) still runs, so there is a leaderboard and a final stage; then it stops
    assert ex.batches == [4, 2, 1]
    assert len(summary.leaderboard) == 2 and len(summary.final) == 1


def test_the_elimination_starts_from_the_funnel_aware_leaderboard(tmp_path: Path) -> None:
    from optevo.search.elimination import search_candidates

    cfg = micro_config(
        strategy={"kind": "random", "batch": 6, "budget": 12},
        final={"top": 0, "baselines": []},
        funnel={"rungs": [{"keep": 0.34}]},
    )
    start_search(cfg, tmp_path / "run", executor=SyntheticExecutor(fail_below=0.0))
    with RunStore.open(tmp_path / "run", lock=False) as store:
        candidates = search_candidates(store)
        promoted = len(store.evaluations("rung-1"))
    assert promoted >= 2
    assert [c.rung for c in candidates[:promoted]] == [1] * promoted
    assert all(c.rung == 0 for c in candidates[promoted:])
