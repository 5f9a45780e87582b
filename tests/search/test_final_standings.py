"""The final leaderboard keeps a baseline beside a found genome that is the same optimizer
(a search seeded with Adam that finds nothing better ends with Adam as its best genome): both
rows stay, and the verdict says the best found genome is Adam itself."""

from __future__ import annotations

from pathlib import Path

from helpers.search import SyntheticExecutor, micro_config, synthetic_score
from optevo import library
from optevo.cli.search import verdict
from optevo.fitness import FitnessResult
from optevo.search.api import read_summary, start_search
from optevo.search.executors import OnDone
from optevo.search.records import Trial, TrialResult
from optevo.space.genome import Genome


class AdamBest(SyntheticExecutor):
    """Adam scores 0.9 + seed noise; every other genome at most 0.45 + seed noise."""

    def run(self, trials: list[Trial], on_done: OnDone) -> None:
        adam = library.get("Adam").genome.canonical_hash()
        for trial in trials:
            self.trials.append(trial)
            genome = Genome.from_json(trial.genome_json)
            base = 0.9 if genome.canonical_hash() == adam else 0.5 * synthetic_score(genome, 0)
            score = base + 0.001 * (trial.seed % 7)
            result = FitnessResult(score, "ok", 1.0).to_dict()
            on_done(trial, TrialResult.from_dict({**result, "host": "adam-best"}))


def test_a_search_that_finds_only_adam_shows_adam_and_says_so(tmp_path: Path) -> None:
    cfg = micro_config(
        strategy={"seed_genomes": ["Adam"], "seeded": 1},
        final={"top": 2, "baselines": ["Adam"], "seeds": 2},
    )
    summary = start_search(cfg, tmp_path / "run", executor=AdamBest())
    names = [s.name for s in summary.final]
    assert len(names) == 3 and "Adam" in names, names
    best, adam = summary.final[0], next(s for s in summary.final if s.name == "Adam")
    assert best.name.startswith("#1 ")
    # the same optimizer on the same fresh seeds: the same numbers (a reused result)
    assert best.evaluation.fitness_values == adam.evaluation.fitness_values
    assert best.fitness is not None and abs(best.fitness - 0.9) < 0.01
    line = verdict(summary.final)
    assert line is not None and "is Adam itself" in line and "nothing that beat Adam" in line
    # the stored run reads back the same rows
    assert [s.name for s in read_summary(tmp_path / "run").final] == names


def test_a_found_genome_other_than_adam_gets_the_noise_verdict(tmp_path: Path) -> None:
    cfg = micro_config(final={"top": 1, "baselines": ["Adam"], "seeds": 2})
    summary = start_search(cfg, tmp_path / "run", executor=SyntheticExecutor(fail_below=0.0))
    best = next(s for s in summary.final if s.name.startswith("#1"))
    adam = next(s for s in summary.final if s.name == "Adam")
    assert best.evaluation.canonical_hash != adam.evaluation.canonical_hash
    line = verdict(summary.final)
    assert line is not None and "itself" not in line
    diff = f"{best.fitness - adam.fitness:+.4f}"  # type: ignore[operator]
    assert diff in line and "seed noise" in line
