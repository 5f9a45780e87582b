"""Schedules read a window of steps at a time: the values are those of the whole table, and a
run of 10^12 steps costs no more memory than a short one."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import torch

from optevo import library
from optevo.optim import Opt6
from optevo.scheduled import WINDOW, ScheduledRule, StepTable
from optevo.schedules import SCHEDULE_NAMES, lr_table, momentum_cycle
from optevo.space.decay import DecayGenome

T = 3 * WINDOW + 1234  # several windows and a last one that is not full
WH = [(0, 0), (100, 0), (700, 5000), (WINDOW, WINDOW + 3)]


def windows(fn, total: int, size: int) -> np.ndarray:
    return np.concatenate([fn(a, min(a + size, total)) for a in range(0, total, size)])


@pytest.mark.parametrize("schedule", SCHEDULE_NAMES)
def test_lr_windows_equal_the_whole_table(schedule: str) -> None:
    for W, H in WH:
        whole = lr_table(schedule, T, W, H)

        def window(a: int, b: int, W: int = W, H: int = H) -> np.ndarray:
            return lr_table(schedule, T, W, H, start=a, stop=b)

        part = windows(window, T, WINDOW)
        assert np.array_equal(part, whole)


def test_momentum_windows_equal_the_whole_table() -> None:
    for W, H in [*WH, (T - 1, 1), (1, 0), (0, T)]:
        whole = momentum_cycle(T, W, H)
        for size in (WINDOW, 96):
            part = windows(lambda a, b, W=W, H=H: momentum_cycle(T, W, H, start=a, stop=b), T, size)
            assert np.array_equal(part, whole), (W, H, size)


def test_decay_windows_equal_the_whole_table() -> None:
    rng = np.random.default_rng(0)
    for _ in range(40):
        d = DecayGenome.random(rng)
        with np.errstate(all="ignore"):
            whole = d.table(T)
            part = windows(lambda a, b, d=d: d.window(T, a, b), T, WINDOW)
        np.testing.assert_array_equal(part, whole)


def test_step_table_reads_its_window() -> None:
    table = StepTable(1000, lambda a, b: np.arange(a, b) * 0.5, size=64)
    assert len(table) == 1000
    assert [table[k] for k in (0, 63, 64, 999, 5)] == [0.0, 31.5, 32.0, 499.5, 2.5]
    with pytest.raises(IndexError):
        table[1000]


def test_scheduled_rule_values_match_the_tables() -> None:
    genome = library.genome("Opt6")  # a decay function, the LR1 factor
    sched = ScheduledRule.create(genome, T, 500, 100, "LR1")
    lr = lr_table("LR1", T, 500, 100)
    mu = momentum_cycle(T, 500, 100)
    decay = sched.rule.decays[0].table(T)
    for k in (0, 1, 499, 500, WINDOW - 1, WINDOW, 2 * WINDOW + 7, T - 1):
        assert sched.lr_factor(k) == lr[k]
        assert sched.mus[k] == mu[k]
        assert sched.decays[0][k] == decay[k]


def test_a_run_of_a_trillion_steps_costs_no_more_than_a_short_one() -> None:
    params = [torch.nn.Parameter(torch.ones(10))]
    params[0].grad = torch.full((10,), 0.1)
    Opt6(params, lr=1e-3, total_steps=100).step()  # first-use imports, outside the count
    tracemalloc.start()
    opt = Opt6(params, lr=1e-3, total_steps=10**12, warmup_steps=10**9)
    for _ in range(3):
        params[0].grad = torch.full((10,), 0.1)
        opt.step()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 2_000_000  # bytes: a few windows of 4096 values (was a MemoryError)
    assert float(opt.state[params[0]]["step"]) == 3
