"""Lion (Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms", Algorithm 2) under
optevo's schedule convention: `lr` is the peak learning rate of the one-cycle schedule over the
whole run (linear warm-up, hold, cosine decay; SPEC 4), as for `EvolvedOptimizer`.

At step k, with lr_k = lr * schedule(k), gradient g and momentum m (zero at the start):

    c = beta1 * m + (1 - beta1) * g
    w <- w - lr_k * (sign(c) + weight_decay * w)
    m <- beta2 * m + (1 - beta2) * g

The defaults are the paper's: beta1 = 0.9, beta2 = 0.99, no weight decay. This is the update of
the `lion-pytorch` package (`lion_pytorch.Lion`, decoupled_weight_decay=False) with its
`group["lr"]` set to lr_k before every step; `tests/validate/test_lion.py` checks both.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor

from optevo.schedules import check_schedule, lr_table

__all__ = ["Lion"]


class Lion(torch.optim.Optimizer):
    """Lion with a scheduled learning rate.

    Args:
        params: parameters or param groups.
        lr: the peak learning rate (the rate itself when `schedule="constant"`).
        total_steps: T, the length of the run in `step()` calls.
        warmup_steps: W, the one-cycle schedule's linear warm-up in steps.
        hold_steps: H, the steps held at the peak rate after the warm-up.
        betas: (beta1, beta2), the interpolation and the momentum coefficients.
        weight_decay: decoupled, scaled by the scheduled rate (`w <- w - lr_k * wd * w`).
        schedule: "one_cycle" (default), "LR1".."LR9" or "constant" (see `optevo.schedules`).

    Past `total_steps` a scheduled rate stays at 0 (the one-cycle schedule has ended);
    "constant" goes on at `lr`.
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float,
        total_steps: int,
        warmup_steps: int = 0,
        hold_steps: int = 0,
        betas: tuple[float, float] = (0.9, 0.99),
        weight_decay: float = 0.0,
        schedule: str = "one_cycle",
    ) -> None:
        if not (lr >= 0 and lr < float("inf")):
            raise ValueError(f"lr must be finite and >= 0, got {lr}")
        if not all(0.0 <= b <= 1.0 for b in betas):
            raise ValueError(f"betas must lie in [0, 1], got {betas}")
        if not weight_decay >= 0:
            raise ValueError(f"weight_decay must be >= 0, got {weight_decay}")
        check_schedule(schedule, total_steps, warmup_steps, hold_steps)
        defaults = {
            "lr": lr,
            "betas": tuple(betas),
            "weight_decay": weight_decay,
            "total_steps": total_steps,
            "warmup_steps": warmup_steps,
            "hold_steps": hold_steps,
            "schedule": schedule,
        }
        super().__init__(params, defaults)

    def scheduled_lr(self, group: dict[str, Any], k: int) -> float:
        """The learning rate of `group` at step k (0-based)."""
        T = group["total_steps"]
        if k >= T:
            return float(group["lr"]) if group["schedule"] == "constant" else 0.0
        factor = lr_table(
            group["schedule"], T, group["warmup_steps"], group["hold_steps"], start=k, stop=k + 1
        )[0]
        return float(group["lr"]) * float(factor)

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            wd = float(group["weight_decay"])
            rates: dict[int, float] = {}  # lr_k by step count k (parameters share one)
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise RuntimeError("Lion does not support sparse gradients")
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                k = state["step"]
                if k not in rates:
                    rates[k] = self.scheduled_lr(group, k)
                lr_k = rates[k]
                m = state["exp_avg"]
                if wd != 0.0 and lr_k != 0.0:
                    p.mul_(1.0 - lr_k * wd)
                c = m.mul(beta1).add_(p.grad, alpha=1.0 - beta1)
                p.add_(c.sign_(), alpha=-lr_k)
                m.mul_(beta2).add_(p.grad, alpha=1.0 - beta2)
                state["step"] += 1
        return loss
