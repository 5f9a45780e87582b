"""The batched trainer: grouped K copies equal K sequential runs; determinism; divergence."""

from __future__ import annotations

import pytest
import torch

from helpers.fitness import train_spec as spec
from optevo import library
from optevo.fitness.loop import train_copies
from optevo.fitness.spec import StopRule


@pytest.mark.parametrize("name", ["Adam", "Opt10", "A5", "Opt1"])
def test_grouped_equals_sequential(digits, name: str) -> None:
    lrs = [0.3, 0.03, 0.003]
    seq = train_copies(library.genome(name), digits, spec(), lrs, layout="sequential")
    grp = train_copies(library.genome(name), digits, spec(), lrs, layout="packed")
    for a, b in zip(seq, grp, strict=True):
        assert a.status == b.status
        assert a.steps == b.steps
        torch.testing.assert_close(
            torch.tensor(a.train_loss), torch.tensor(b.train_loss), rtol=1e-3, atol=1e-4
        )
        torch.testing.assert_close(
            torch.tensor(a.val_acc), torch.tensor(b.val_acc), rtol=0, atol=0.01
        )


def test_grouped_equals_sequential_with_different_seeds(digits) -> None:
    seq = train_copies(
        library.genome("QHM"), digits, spec(), [0.1, 0.1], seeds=[1, 2], layout="sequential"
    )
    grp = train_copies(
        library.genome("QHM"), digits, spec(), [0.1, 0.1], seeds=[1, 2], layout="packed"
    )
    assert seq[0].train_loss != seq[1].train_loss  # the seeds matter
    for a, b in zip(seq, grp, strict=True):
        torch.testing.assert_close(
            torch.tensor(a.train_loss), torch.tensor(b.train_loss), rtol=1e-3, atol=1e-4
        )


@pytest.mark.parametrize("layout", ["sequential", "packed"])
def test_a_diverging_copy_stops_alone(digits, layout: str) -> None:
    # SGD at lr 1e6 overflows to NaN within the first epoch; the copy at lr 1 goes on.
    runs = train_copies(library.genome("SGD"), digits, spec(), [1e6, 1.0], layout=layout)
    assert runs[0].status == "diverged" and runs[0].steps == 10
    assert runs[1].status == "ok" and runs[1].steps == 60
    assert all(torch.isfinite(torch.tensor(runs[1].train_loss)))
    assert runs[1].best_val_acc > 0.5


def test_stop_rule_once_and_always(digits) -> None:
    once = StopRule(20, 1.01, once=True)
    (r,) = train_copies(library.genome("Adam"), digits, spec(stop_rules=(once,)), [0.01])
    assert r.status == "stopped" and r.steps == 20
    later = StopRule(30, 0.0)  # never fires
    (r,) = train_copies(library.genome("Adam"), digits, spec(stop_rules=(later,)), [0.01])
    assert r.status == "ok" and r.steps == 60


def test_training_is_deterministic_for_a_seed(digits) -> None:
    a = train_copies(library.genome("Opt6"), digits, spec(seed=3), [0.1])[0]
    b = train_copies(library.genome("Opt6"), digits, spec(seed=3), [0.1])[0]
    c = train_copies(library.genome("Opt6"), digits, spec(seed=4), [0.1])[0]
    assert a.train_loss == b.train_loss and a.val_acc == b.val_acc
    assert a.train_loss != c.train_loss


def test_epoch_curves_have_one_entry_per_epoch(digits) -> None:
    (r,) = train_copies(library.genome("Adam"), digits, spec(total_steps=55), [0.01])
    assert r.steps == 55
    assert len(r.train_acc) == len(r.val_acc) == 6  # 5 full epochs of 10 + a last one of 5
    assert all(0.0 <= a <= 1.0 for a in r.train_acc + r.val_acc)
    assert r.best_val_acc == max(r.val_acc)
