"""The elimination protocol after a search (SPEC 7.1), as configuration.

The best `rounds[0].candidates` distinct genomes of a finished search are re-trained on a
larger surrogate over `seeds` training seeds and ranked by their mean validation accuracy;
the best `rounds[1].candidates` go on to the next round, and so on; the best `survivors` of
the last round are the run's short list. The paper: 50 -> ConvNet base 64 -> 24 -> base 96 ->
12 -> base 128 -> 6, 16,000 steps, 3 seeds.

    from optevo.search.elimination_config import elimination_protocol
    cfg = elimination_protocol(run_config.fitness, "paper")
    cfg = elimination_protocol(run_config.fitness, tops=(6, 3, 1), bases=(24, 32), steps=(600,))
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Literal

from pydantic import Field, model_validator

from optevo.config import Int, StrictModel, build
from optevo.fitness.config import (
    PAPER,
    FitnessConfig,
    SingleTaskFitness,
    SuiteFitness,
    build_fitness,
)

Protocol = Literal["auto", "paper", "scaled"]
PROTOCOLS: tuple[str, ...] = ("auto", "paper", "scaled")

PAPER_TOPS: tuple[int, ...] = (50, 24, 12, 6)
"""Genomes entering each round, then the survivors of the last round (SPEC 7.1)."""
PAPER_BASES: tuple[int, ...] = (64, 96, 128)
PAPER_STEPS = 16_000
PAPER_SEEDS = 3
PAPER_SEARCH_BASE = PAPER.base
"""The search surrogate the paper's bases and steps are relative to (SPEC 5: base 48, 8,000
steps: the paper's fitness protocol, `optevo.fitness.PAPER`)."""
PAPER_SEARCH_STEPS = PAPER.total_steps

SCALED_TOPS: tuple[int, ...] = (8, 4, 2, 1)
"""The `scaled` protocol halves like the paper's (50 -> 24 -> 12 -> 6) from a start a 2-core
CPU can afford."""


class EliminationRound(StrictModel):
    """One round: how many genomes enter it and the fitness protocol they are trained with."""

    candidates: Int = Field(ge=1)
    fitness: FitnessConfig


class EliminationConfig(StrictModel):
    """The rounds, the survivors of the last round and the training seeds of every round.
    `protocol` records where it came from ("paper", "scaled", "paper, customised", ...)."""

    protocol: str = "custom"
    rounds: tuple[EliminationRound, ...] = Field(min_length=1)
    survivors: Int = Field(ge=1)
    seeds: Int = Field(PAPER_SEEDS, ge=1, le=100)

    @model_validator(mode="after")
    def _shrinking(self) -> EliminationConfig:
        tops = self.tops()
        for a, b in itertools.pairwise(tops):
            if b > a:
                raise ValueError(
                    f"each round keeps at most as many genomes as entered it, got {_arrow(tops)}"
                )
        return self

    def tops(self) -> tuple[int, ...]:
        """Genomes entering each round, then the survivors: (50, 24, 12, 6) for the paper."""
        return (*(r.candidates for r in self.rounds), self.survivors)

    def advancing(self, round_number: int) -> int:
        """How many genomes of round `round_number` (from 1) go on (or survive the last)."""
        return self.tops()[round_number]

    def round_fitness(self, round_number: int) -> FitnessConfig:
        if not 1 <= round_number <= len(self.rounds):
            raise ValueError(
                f"elimination round {round_number} does not exist ({len(self.rounds)} rounds)"
            )
        return self.rounds[round_number - 1].fitness

    def describe(self) -> str:
        """One line: `50 -> base 64, 16000 steps -> 24 -> ... -> 6, 3 seeds`."""
        parts = []
        for r in self.rounds:
            fit = r.fitness
            if isinstance(fit, SuiteFitness):
                parts.append(f"{r.candidates} -> suite tasks at {fit.task_scale:g}x")
            else:
                parts.append(f"{r.candidates} -> base {fit.base}, {fit.total_steps} steps")
        return " -> ".join(parts) + f" -> {self.survivors} ({self.seeds} seeds each)"


def elimination_protocol(
    fitness: FitnessConfig,
    protocol: Protocol | str = "auto",
    *,
    tops: Sequence[int] | None = None,
    bases: Sequence[int] | None = None,
    steps: Sequence[int] | None = None,
    seeds: int | None = None,
) -> EliminationConfig:
    """The elimination of a run whose search used `fitness`.

    - `paper`: SPEC 7.1 as written: tops 50/24/12/6, ConvNet bases 64/96/128, 16,000 steps.
    - `scaled`: the paper's ratios applied to the run's own surrogate: bases 4/3, 2 and 8/3
      times the search base (64, 96, 128 over 48), twice the search's steps (16,000 over
      8,000), tops 8/4/2/1: for CPU-sized runs (`quick`, `tiny`).
    - `auto`: `paper` when the search ran at the paper's size (base >= 48 and >= 8,000
      steps, a single task), else `scaled`.
    `tops` (one entry per round, then the survivors), `bases` and `steps` (one per round, or
    one for all) and `seeds` replace the protocol's values. Every other fitness field (data
    set, screen, early stops) is the search's. For a paired suite fitness (`tasks`), whose
    tasks have their own networks, the bases do not apply and each round's `task_scale` is the
    search's times the round's steps over the search's `total_steps` (the scaled protocol: 2x).
    Raises ValueError naming the problem.
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown elimination protocol {protocol!r}; known: {PROTOCOLS}")
    single = fitness if isinstance(fitness, SingleTaskFitness) else None
    # a suite has no network size nor steps of its own: its rounds scale from the paper's
    search_base = single.base if single is not None else PAPER_SEARCH_BASE
    search_steps = single.total_steps if single is not None else PAPER_SEARCH_STEPS
    if protocol == "auto":
        paper_sized = (
            single is not None  # a suite: the paper's sizes do not apply
            and search_base >= PAPER_SEARCH_BASE
            and search_steps >= PAPER_SEARCH_STEPS
        )
        protocol = "paper" if paper_sized else "scaled"
    if protocol == "paper":
        default_tops, default_bases = PAPER_TOPS, PAPER_BASES
        default_steps: tuple[int, ...] = (PAPER_STEPS,)
    else:
        default_tops = SCALED_TOPS
        default_bases = tuple(
            max(1, round(search_base * b / PAPER_SEARCH_BASE)) for b in PAPER_BASES
        )
        default_steps = (round(search_steps * PAPER_STEPS / PAPER_SEARCH_STEPS),)
    custom = tops is not None or bases is not None or steps is not None or seeds is not None
    tops_t = _ints("tops", tops if tops is not None else default_tops)
    for a, b in itertools.pairwise(tops_t):
        if b > a:
            raise ValueError(
                f"tops: each round keeps at most as many genomes as entered it, got "
                f"{_arrow(tops_t)}"
            )
    if bases is None:
        n_rounds = len(tops_t) - 1
        if tops is not None and n_rounds != len(default_bases):
            raise ValueError(
                f"tops: {_arrow(tops_t)} make {n_rounds} round(s): give one base per round "
                f"(the {protocol} protocol has {len(default_bases)})"
            )
        bases_t = default_bases
    else:
        bases_t = _ints("bases", bases)
    if len(tops_t) != len(bases_t) + 1:
        raise ValueError(
            f"tops: need one entry per round plus the survivors: {len(bases_t)} round(s) "
            f"(bases {list(bases_t)}) take {len(bases_t) + 1} tops, got {list(tops_t)}"
        )
    steps_t = _ints("steps", steps if steps is not None else default_steps)
    if len(steps_t) == 1:
        steps_t = steps_t * len(bases_t)
    if len(steps_t) != len(bases_t):
        raise ValueError(
            f"steps: give one steps value, or one per round ({len(bases_t)}), got {list(steps_t)}"
        )
    rounds = []
    for i, (top, base, total) in enumerate(zip(tops_t, bases_t, steps_t, strict=False)):
        raw = fitness.model_dump()
        if isinstance(fitness, SuiteFitness):  # its tasks' budgets grow as the steps would
            raw["task_scale"] = fitness.task_scale * total / search_steps
        else:
            raw.update(base=base, total_steps=total)
        round_fitness = build_fitness(raw, f"elimination round {i + 1}")
        rounds.append(EliminationRound(candidates=top, fitness=round_fitness))
    raw_config = {
        "protocol": f"{protocol}, customised" if custom else protocol,
        "rounds": tuple(rounds),
        "survivors": tops_t[-1],
        "seeds": PAPER_SEEDS if seeds is None else seeds,
    }
    config = build(EliminationConfig, raw_config, "elimination")
    try:
        check_rounds(config)
    except ValueError as exc:
        raise ValueError(f"steps: {exc}") from None
    return config


def check_rounds(config: EliminationConfig) -> None:
    """ValueError naming the round when a round's fitness protocol cannot rank anything:
    a warm-up longer than the learning-rate screen (the screen then trains at a fraction of
    each rate, and every genome fails it: `--steps` far above the search's)."""
    for i, rnd in enumerate(config.rounds, 1):
        fit = rnd.fitness
        if not isinstance(fit, SingleTaskFitness):  # a suite's tasks have their own screens
            continue
        if fit.warmup_steps > fit.screen_steps:
            raise ValueError(
                f"round {i}: its warm-up ({fit.warmup_steps:,} steps = warmup_fraction "
                f"{fit.warmup_fraction:g} x {fit.total_steps:,} steps) is longer than its "
                f"learning-rate screen ({fit.screen_steps:,} steps), so every genome would "
                f"fail the screen; use at most {_most_steps(fit):,} steps"
            )


def _most_steps(fit: SingleTaskFitness) -> int:
    """The most total steps whose warm-up still fits in the screen."""
    return int(fit.screen_steps / fit.warmup_fraction) if fit.warmup_fraction > 0 else 0


def _ints(name: str, values: Sequence[int]) -> tuple[int, ...]:
    out = tuple(int(v) for v in values)
    if not out:
        raise ValueError(f"{name}: give at least one value")
    if any(v < 1 for v in out):
        raise ValueError(f"{name}: must be positive integers, got {list(out)}")
    return out


def _arrow(values: Sequence[int]) -> str:
    return " -> ".join(str(v) for v in values)
