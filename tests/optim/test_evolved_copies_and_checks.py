"""EvolvedOptimizer copies and what it accepts (issue 7, items 8 and 9): deepcopy and pickle
like torch's optimizers, state dicts checked at load, param groups checked as the
constructor checks them."""

from __future__ import annotations

import copy
import io
import pickle
from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import nn

from optevo import Genome, Node
from optevo.optim import EvolvedOptimizer, Opt6, create


def net(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 3))


def train(model: nn.Module, opt: torch.optim.Optimizer, steps: int, seed: int = 1) -> None:
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        x, y = torch.randn(16, 6, generator=g), torch.randint(0, 3, (16,), generator=g)
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()


def state_ops_genome() -> Genome:
    """State-holding operations, dropout (seeded per step) and momentum: the most state."""
    return Genome(
        (Node("ema", ("g",)), Node("drop0.3", ("h0",)), Node("runmax", ("s",))),
        Node("div", ("h1", "h2")),
        "momentum",
    )


def by_deepcopy(pair: Any) -> Any:
    return copy.deepcopy(pair)


def by_pickle(pair: Any) -> Any:
    return pickle.loads(pickle.dumps(pair))


def by_torch_save(pair: Any) -> Any:
    buffer = io.BytesIO()
    torch.save(pair, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=False)


MAKERS: dict[str, Callable[[nn.Module], torch.optim.Optimizer]] = {
    "Opt6-class": lambda m: Opt6(m.parameters(), lr=1e-2, total_steps=30, warmup_steps=3),
    "Adam-genome": lambda m: create("Adam", m.parameters(), lr=1e-2, total_steps=30),
    "state-ops": lambda m: EvolvedOptimizer(
        m.parameters(), state_ops_genome(), lr=1e-3, total_steps=30, seed=5
    ),
    "torch-Adam": lambda m: torch.optim.Adam(m.parameters(), lr=1e-2),  # the yardstick
}


# -- item 8 ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("copier", [by_deepcopy, by_pickle, by_torch_save])
@pytest.mark.parametrize("maker", list(MAKERS))
@pytest.mark.parametrize("trained_first", [False, True], ids=["fresh", "trained"])
def test_copy_steps_exactly_like_the_original(
    maker: str, copier: Callable[[Any], Any], trained_first: bool
) -> None:
    model = net()
    opt = MAKERS[maker](model)
    if trained_first:
        train(model, opt, 5)
    model2, opt2 = copier((model, opt))
    assert type(opt2) is type(opt)
    train(model, opt, 6, seed=2)
    train(model2, opt2, 6, seed=2)
    for p, q in zip(model.parameters(), model2.parameters(), strict=True):
        assert torch.equal(p, q)
    if isinstance(opt, EvolvedOptimizer):
        assert opt2.genome == opt.genome and opt2.seed == opt.seed
        assert opt2.state_dict()["param_groups"] == opt.state_dict()["param_groups"]


def test_copy_is_independent_of_the_original() -> None:
    model = net()
    opt = Opt6(model.parameters(), lr=1e-2, total_steps=30)
    train(model, opt, 3)
    model2, opt2 = copy.deepcopy((model, opt))
    before = [p.clone() for p in model.parameters()]
    train(model2, opt2, 3)
    for p, q in zip(model.parameters(), before, strict=True):
        assert torch.equal(p, q)
    p0 = next(model.parameters())
    assert opt.state[p0]["step"].item() == 3


# -- item 9: state dicts --------------------------------------------------------------------------


def trained_opt6() -> tuple[nn.Module, EvolvedOptimizer]:
    model = net()
    opt = Opt6(model.parameters(), lr=1e-2, total_steps=30)
    train(model, opt, 2)
    return model, opt


def test_torch_adam_state_dict_is_refused_and_changes_nothing() -> None:
    model, opt = trained_opt6()
    adam = torch.optim.Adam(model.parameters(), lr=1e-2)
    train(model, adam, 2)
    before = copy.deepcopy(opt.state_dict())
    with pytest.raises(ValueError, match="not saved by an EvolvedOptimizer"):
        opt.load_state_dict(adam.state_dict())
    assert opt.state_dict()["param_groups"] == before["param_groups"]
    train(model, opt, 1)  # still steps (before the fix: KeyError 'schedule')


@pytest.mark.parametrize(
    "step", [-5, float("nan"), float("inf"), 2.5, torch.tensor(-1.0), torch.tensor([1.0, 2.0])]
)
def test_bad_step_counts_are_refused(step: Any) -> None:
    _, opt = trained_opt6()
    saved = copy.deepcopy(opt.state_dict())
    for state in saved["state"].values():
        state["step"] = step
    with pytest.raises(ValueError, match="step of parameter 0"):
        opt.load_state_dict(saved)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda sd: sd["state"][0].update(v=torch.zeros(3)), r"shape \(3,\)"),
        (lambda sd: sd["state"][0].update(exp_avg=torch.zeros(8, 6)), "does not keep"),
        (lambda sd: sd["state"].update({99: {"step": torch.tensor(1.0)}}), "no param group"),
        (lambda sd: sd["param_groups"][0].update(lr=-1.0), "lr must be"),
        (lambda sd: sd["param_groups"][0].update(schedule="cosine"), "unknown schedule"),
        (lambda sd: sd["param_groups"][0].update(genome_hash="0" * 64), "different genome"),
        (lambda sd: sd["param_groups"][0]["params"].pop(), "lists 3 parameters"),
        (lambda sd: sd.pop("state"), "not an optimizer state dict"),
    ],
    ids=["shape", "foreign-state", "unknown-index", "lr", "schedule", "genome", "params", "form"],
)
def test_damaged_state_dicts_are_refused(damage: Callable[[dict], Any], message: str) -> None:
    _, opt = trained_opt6()
    saved = copy.deepcopy(opt.state_dict())
    damage(saved)
    with pytest.raises(ValueError, match=message):
        opt.load_state_dict(saved)


def test_a_good_state_dict_still_loads_exactly() -> None:
    model, opt = trained_opt6()
    model2 = copy.deepcopy(model)
    opt2 = Opt6(model2.parameters(), lr=1e-2, total_steps=30)
    opt2.load_state_dict(copy.deepcopy(opt.state_dict()))
    train(model, opt, 3, seed=4)
    train(model2, opt2, 3, seed=4)
    for p, q in zip(model.parameters(), model2.parameters(), strict=True):
        assert torch.equal(p, q)


# -- item 9: param groups -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("group", "error"),
    [
        ({"lr": -1.0}, ValueError),
        ({"lr": float("nan")}, ValueError),
        ({"lr": float("inf")}, ValueError),
        ({"lr": "0.1"}, TypeError),
        ({"weight_decay": float("nan")}, ValueError),
        ({"weight_decay": -0.5}, ValueError),
        ({"momentum": float("nan")}, ValueError),
        ({"momentum": 5.0}, ValueError),
        ({"momentum": -0.1}, ValueError),
        ({"schedule": "cosine"}, ValueError),
        ({"total_steps": 0}, ValueError),
        ({"warmup_steps": 100}, ValueError),
    ],
)
def test_add_param_group_checks_like_the_constructor(group: dict, error: type) -> None:
    _, opt = trained_opt6()
    extra = nn.Parameter(torch.ones(4))
    with pytest.raises(error, match=next(iter(group)).split("_")[0]):
        opt.add_param_group({"params": [extra], **group})
    assert len(opt.param_groups) == 1  # nothing added
    with pytest.raises(error):
        Opt6([extra], **{"lr": 1e-2, "total_steps": 30, **group})


def test_a_valid_param_group_is_added_and_trains() -> None:
    _, opt = trained_opt6()
    extra = nn.Parameter(torch.ones(4))
    opt.add_param_group({"params": [extra], "lr": 0.05, "momentum": 0.9, "schedule": "constant"})
    extra.grad = torch.ones(4)
    opt.step()
    assert not torch.equal(extra, torch.ones(4))


def test_constructor_rejects_momentum_5() -> None:
    with pytest.raises(ValueError, match=r"momentum must be a finite number in \[0.0, 1.0\)"):
        Opt6(net().parameters(), lr=1e-2, total_steps=30, momentum=5)
