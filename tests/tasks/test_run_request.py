"""`RunRequest` (one training run as a value) and `DivergenceWatch` (the one divergence rule of
every task runner), against hand-written expectations."""

from __future__ import annotations

import math

import pytest
import torch

from optevo.optim.spec import named
from optevo.tasks.base import BLOWUP, Budget, DivergenceWatch, RunRequest

ADAM = named(["Adam"])[0]


def test_a_request_on_a_budget_takes_its_schedule() -> None:
    budget = Budget(total_steps=150, warmup_steps=10, hold_steps=20, batch_size=8)
    full = RunRequest.of(ADAM, 1e-3, 4, budget)
    assert (full.steps, full.total_steps, full.warmup_steps, full.hold_steps) == (150, 150, 10, 20)
    assert full.split == "val"
    screen = RunRequest.of(ADAM, 1e-3, 4, budget, steps=15, split="test")
    assert (screen.steps, screen.total_steps, screen.split) == (15, 150, "test")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"steps": 11}, "outside 0..10"), ({"steps": -1}, "outside"), ({"split": "train"}, "split")],
)
def test_a_bad_request_is_refused(kwargs: dict[str, object], message: str) -> None:
    base: dict[str, object] = {"steps": 10, "split": "val"}
    with pytest.raises(ValueError, match=message):
        RunRequest(ADAM, 1e-3, 0, total_steps=10, **{**base, **kwargs})  # type: ignore[arg-type]


def test_the_request_builds_the_optimizer_with_its_schedule() -> None:
    p = torch.nn.Parameter(torch.ones(3))
    opt = RunRequest(ADAM, 0.5, 0, 10, 10, 2, 3).build([p])
    reference = ADAM.build([torch.nn.Parameter(torch.ones(3))], 0.5, 10, 2, 3, seed=0)
    assert type(opt) is type(reference)
    assert opt.param_groups[0]["lr"] == reference.param_groups[0]["lr"]


def _first_divergence(losses: list[float], device: str, steps: int) -> int | None:
    watch = DivergenceWatch(device, steps)
    for done, loss in enumerate(losses, start=1):
        if watch.diverged(done, torch.tensor(loss)):
            return done
    return None


def test_a_loss_past_blowup_times_the_first_diverges_at_once_on_a_cpu() -> None:
    first = 2.0
    limit = BLOWUP * first  # 2000
    losses = [first, 5.0, limit, limit * 1.001, 1.0]
    assert _first_divergence(losses, "cpu", 5) == 4
    assert _first_divergence([first, math.nan], "cpu", 5) == 2
    assert _first_divergence([first, math.inf], "cpu", 5) == 2
    assert _first_divergence([first, 3.0, 1.0], "cpu", 3) is None


def test_elsewhere_the_loss_is_read_every_20_steps_and_at_the_last() -> None:
    losses = [1.0] * 5 + [math.nan] * 40
    assert _first_divergence(losses, "cuda", 45) == 20
    assert _first_divergence([1.0] * 24 + [math.nan], "cuda", 25) == 25  # the last step


def test_a_tiny_first_loss_gets_a_floor() -> None:
    # a first loss of 0 would make every later loss a blow-up without the 1e-6 floor
    assert _first_divergence([0.0, BLOWUP * 1e-6 * 0.5], "cpu", 2) is None
    assert _first_divergence([0.0, BLOWUP * 1e-6 * 2], "cpu", 2) == 2


def test_the_watch_reads_floats_too_and_keeps_the_last_loss() -> None:
    watch = DivergenceWatch("cpu", 3)
    assert math.isnan(watch.last)
    assert not watch.diverged(1, 1.5)
    assert not watch.diverged(2, 0.25)
    assert watch.last == 0.25
