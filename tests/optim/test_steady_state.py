"""A steady-state `step()` allocates nothing of the parameters' size: gradients are gathered
into the bucket's buffers, the update runs in the rule's workspace, and the weight change is
added from there. Measured with torch.profiler's memory records."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.profiler import ProfilerActivity, profile

from optevo import Genome, Node, library
from optevo.optim import EvolvedOptimizer, create

# Every kind of call a program makes: state operations, dropout, per-tensor norm, clip, mix,
# weights, decays, constants, momentum.
BUSY = Genome(
    (
        Node("ema", ("qh_g",)),
        Node("drop0.3", ("h0",)),
        Node("clip", ("h1", "agg_g2")),
        Node("mix", ("w4", "two")),
    ),
    Node("add", ("h2", "h3")),
    "nesterov",
    flipped=True,
)


def net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3), nn.Flatten(), nn.Linear(8 * 6 * 6, 64), nn.SiLU(), nn.Linear(64, 10)
    )


def with_grads(model: nn.Module) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    params = list(model.parameters())
    for p in params:
        p.grad = (torch.randn(p.shape, generator=gen) * 1e-2).to(p.dtype)
    return params


def largest_allocation(opt: torch.optim.Optimizer, steps: int = 3) -> int:
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        for _ in range(steps):
            opt.step()
    return max([e.cpu_memory_usage for e in prof.events()] + [0])


@pytest.mark.parametrize("name", ["Adam", "Opt6", "Opt10", "A5", "busy"])
def test_steady_state_step_allocates_nothing_parameter_sized(name: str) -> None:
    params = with_grads(net())
    genome = BUSY if name == "busy" else library.genome(name)
    opt = EvolvedOptimizer(params, genome, lr=1e-3, total_steps=100, weight_decay=0.1)
    smallest = min(p.numel() for p in params) * 4  # bytes of the smallest parameter (a bias)
    assert largest_allocation(opt) > smallest  # the first steps create state and buffers
    assert largest_allocation(opt) < min(smallest, 64)


def test_low_precision_and_channels_last_parameters_allocate_nothing_either() -> None:
    model = net().to(torch.bfloat16).to(memory_format=torch.channels_last)
    params = with_grads(model)
    opt = create("Opt6", params, lr=1e-3, total_steps=100)
    largest_allocation(opt)
    assert largest_allocation(opt) < 64


def test_workspace_buffers_stay_the_same_between_steps() -> None:
    params = with_grads(net())
    opt = create("A5", params, lr=1e-3, total_steps=100)
    opt.step()
    (bucket,) = opt._buckets[id(opt.param_groups[0])][1]
    assert bucket.workspace is not None
    pointers = [*bucket.workspace.data_ptrs(), bucket.g.data_ptr()]
    state = {name: t.data_ptr() for name, t in bucket.state.items()}
    for _ in range(3):
        opt.step()
    assert [*bucket.workspace.data_ptrs(), bucket.g.data_ptr()] == pointers
    assert {name: t.data_ptr() for name, t in bucket.state.items()} == state
