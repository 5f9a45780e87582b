"""Checks of what `EvolvedOptimizer` is handed: param-group settings (constructor and
`add_param_group` alike) and state dicts (at `load_state_dict`, before anything changes)."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from optevo.schedules import check_schedule


def check_number(name: str, value: Any, minimum: float, below: float | None = None) -> float:
    """`value` as a float; a TypeError if it is not a real number (or a one-element tensor),
    a ValueError if it is not finite or outside [minimum, below)."""
    if torch.is_tensor(value) and value.numel() == 1 and not value.is_complex():
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    number = float(value)
    if not math.isfinite(number) or number < minimum or (below is not None and number >= below):
        bound = f">= {minimum}" if below is None else f"in [{minimum}, {below})"
        raise ValueError(f"{name} must be a finite number {bound}, got {value}")
    return number


def check_group(group: Mapping[str, Any], defaults: Mapping[str, Any]) -> None:
    """The settings of one param group (defaults filled in): lr and weight decay finite and
    >= 0, momentum None or in [0, 1), a known schedule with consistent step counts, and the
    optimizer's own genome."""
    check_number("lr", group["lr"], minimum=0.0)
    check_number("weight_decay", group["weight_decay"], minimum=0.0)
    if group["momentum"] is not None:
        check_number("momentum", group["momentum"], minimum=0.0, below=1.0)
    check_schedule(
        group["schedule"], group["total_steps"], group["warmup_steps"], group["hold_steps"]
    )
    if group.get("genome_hash") != defaults["genome_hash"]:
        raise ValueError(
            "a param group of an optimizer with a different genome "
            f"(hash {str(group.get('genome_hash'))[:12]}..., "
            f"this one {defaults['genome_hash'][:12]}...)"
        )


def check_state_dict(
    state_dict: Any,
    param_groups: Sequence[Mapping[str, Any]],
    state_names: Sequence[str],
    defaults: Mapping[str, Any],
) -> None:
    """Raise ValueError unless `state_dict` was saved by an `EvolvedOptimizer` with this
    genome (its hash in every param group) over parameters shaped like these."""
    if (
        not isinstance(state_dict, Mapping)
        or not isinstance(state_dict.get("state"), Mapping)
        or not isinstance(state_dict.get("param_groups"), Sequence)
    ):
        raise ValueError("not an optimizer state dict (needs 'state' and 'param_groups')")
    saved_groups = state_dict["param_groups"]
    if len(saved_groups) != len(param_groups):
        raise ValueError(
            f"the state dict has {len(saved_groups)} param group(s), this optimizer "
            f"{len(param_groups)}"
        )
    params: dict[Any, torch.Tensor] = {}
    for i, (saved, group) in enumerate(zip(saved_groups, param_groups, strict=True)):
        _check_saved_group(i, saved, group, defaults)
        params.update(zip(saved["params"], group["params"], strict=True))
    keeps = set(state_names)
    for index, state in state_dict["state"].items():
        p = params.get(index)
        if p is None:
            raise ValueError(f"state for parameter {index!r}, which no param group lists")
        if not isinstance(state, Mapping):
            raise ValueError(f"state of parameter {index}: expected a dict")
        for name, value in state.items():
            if name == "step":
                _check_step(index, value)
            elif name not in keeps:
                raise ValueError(
                    f"state of parameter {index} holds {str(name)[:40]!r}, which this genome "
                    f"does not keep (it keeps {sorted(keeps) or 'no tensors'})"
                )
            elif not torch.is_tensor(value) or value.shape != p.shape:
                shape = tuple(value.shape) if torch.is_tensor(value) else type(value).__name__
                raise ValueError(
                    f"state {name!r} of parameter {index} has shape {shape}, "
                    f"its parameter {tuple(p.shape)}"
                )


def _check_saved_group(
    i: int, saved: Any, group: Mapping[str, Any], defaults: Mapping[str, Any]
) -> None:
    if not isinstance(saved, Mapping) or not isinstance(saved.get("params"), Sequence):
        raise ValueError(f"param group {i} of the state dict has no parameter list")
    if "genome_hash" not in saved:
        raise ValueError(
            "this state dict was not saved by an EvolvedOptimizer (its param groups carry no "
            "genome hash); it cannot be loaded into one"
        )
    if saved["genome_hash"] != defaults["genome_hash"]:
        raise ValueError(
            "this state dict was saved by an optimizer with a different genome "
            f"(hash {str(saved['genome_hash'])[:12]}..., "
            f"this one {defaults['genome_hash'][:12]}...)"
        )
    if len(saved["params"]) != len(group["params"]):
        raise ValueError(
            f"param group {i}: the state dict lists {len(saved['params'])} parameters, "
            f"this optimizer {len(group['params'])}"
        )
    try:
        check_group({**defaults, **saved}, defaults)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"param group {i} of the state dict: {exc}") from None


def _check_step(index: Any, value: Any) -> None:
    if torch.is_tensor(value):
        if value.numel() != 1 or value.is_complex():
            raise ValueError(f"step of parameter {index} must be one number")
        value = value.item()
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if not ok or not math.isfinite(value) or value < 0 or value != int(value) or value >= 2**53:
        raise ValueError(f"step of parameter {index} must be a whole number >= 0, got {value!r}")
