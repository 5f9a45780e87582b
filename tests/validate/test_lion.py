"""Lion (optevo.optim.lion) against the paper's update written out by hand, and against the
`lion-pytorch` package where it is installed (an optional package, not a dependency)."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from optevo.optim.lion import Lion
from optevo.schedules import one_cycle

T, W, H = 20, 3, 4
LR, WD, B1, B2 = 0.05, 0.3, 0.9, 0.99


def _grads(shapes: list[tuple[int, ...]], steps: int) -> list[list[torch.Tensor]]:
    gen = torch.Generator().manual_seed(1)
    return [
        [torch.randn(s, generator=gen, dtype=torch.float64) for s in shapes] for _ in range(steps)
    ]


def _start(shapes: list[tuple[int, ...]]) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    return [torch.randn(s, generator=gen, dtype=torch.float64) for s in shapes]


def test_twenty_steps_match_the_formula_under_the_one_cycle_schedule() -> None:
    shapes = [(4, 3), (5,)]
    grads = _grads(shapes, T)
    params = [p.clone().requires_grad_() for p in _start(shapes)]
    opt = Lion(params, LR, T, W, H, betas=(B1, B2), weight_decay=WD)
    # By hand: c = b1 m + (1 - b1) g; w <- w - lr_k (sign(c) + wd w); m <- b2 m + (1 - b2) g.
    w = _start(shapes)
    m = [torch.zeros(s, dtype=torch.float64) for s in shapes]
    factor = one_cycle(T, W, H)
    for k in range(T):
        lr_k = LR * factor[k]
        for i, g in enumerate(grads[k]):
            c = B1 * m[i] + (1 - B1) * g
            w[i] = w[i] - lr_k * (torch.sign(c) + WD * w[i])
            m[i] = B2 * m[i] + (1 - B2) * g
            params[i].grad = g.clone()
        opt.step()
        for p, expected in zip(params, w, strict=True):
            torch.testing.assert_close(p.detach(), expected, rtol=0, atol=1e-12)
    assert factor[0] == 0.0 and factor[W] == 1.0  # the warm-up starts at 0: step 0 moves nothing
    for p, start in zip(params, _start(shapes), strict=True):
        assert not torch.equal(p.detach(), start)


def test_past_the_end_a_scheduled_rate_is_zero_and_a_constant_one_goes_on() -> None:
    p = torch.ones(3, requires_grad=True)
    opt = Lion([p], 0.1, total_steps=2)
    for _ in range(4):
        p.grad = torch.ones(3)
        opt.step()
    # k = 0: factor 1 (no warm-up), k = 1: cos(pi/2) -> 0.5, then 0.
    torch.testing.assert_close(p.detach(), torch.full((3,), 1 - 0.1 - 0.05))
    q = torch.ones(3, requires_grad=True)
    const = Lion([q], 0.1, total_steps=2, schedule="constant")
    for _ in range(4):
        q.grad = torch.ones(3)
        const.step()
    torch.testing.assert_close(q.detach(), torch.full((3,), 1 - 0.4))


def test_bad_arguments_are_refused() -> None:
    p = [torch.zeros(2, requires_grad=True)]
    with pytest.raises(ValueError, match="lr"):
        Lion(p, -1.0, 10)
    with pytest.raises(ValueError, match="betas"):
        Lion(p, 0.1, 10, betas=(1.5, 0.9))
    with pytest.raises(ValueError, match="weight_decay"):
        Lion(p, 0.1, 10, weight_decay=-0.1)
    with pytest.raises(ValueError, match="exceed"):
        Lion(p, 0.1, 10, warmup_steps=8, hold_steps=8)


@pytest.mark.skipif(
    importlib.util.find_spec("lion_pytorch") is None,
    reason="lion-pytorch is not installed (optional: pip install lion-pytorch)",
)
def test_matches_lion_pytorch_with_its_rate_set_each_step() -> None:
    from lion_pytorch import Lion as Reference

    shapes = [(6, 2), (3,)]
    grads = _grads(shapes, T)
    ours = [p.clone().requires_grad_() for p in _start(shapes)]
    theirs = [p.clone().requires_grad_() for p in _start(shapes)]
    a = Lion(ours, LR, T, W, H, betas=(B1, B2), weight_decay=WD)
    b = Reference(theirs, lr=LR, betas=(B1, B2), weight_decay=WD)
    factor = one_cycle(T, W, H)
    for k in range(T):
        b.param_groups[0]["lr"] = LR * factor[k]
        for x, y, g in zip(ours, theirs, grads[k], strict=True):
            x.grad, y.grad = g.clone(), g.clone()
        a.step()
        b.step()
        for x, y in zip(ours, theirs, strict=True):
            torch.testing.assert_close(x.detach(), y.detach(), rtol=0, atol=1e-12)
