"""AdamW and Lion as genomes of the extended space step like the optimizers they name:
`torch.optim.AdamW`, `optevo.optim.lion.Lion` and `lion_pytorch.Lion`; their standalone Python
export steps like the compiled rule."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
import torch

from optevo import library
from optevo.export import named_source, python_source
from optevo.optim import NAMES, EvolvedOptimizer, create
from optevo.optim.lion import Lion
from optevo.schedules import lr_factor, lr_table

STEPS = 50
SHAPES = ((3, 4), (5,), (2, 3, 2))

Make = Callable[[list[torch.nn.Parameter]], torch.optim.Optimizer]


def trajectory(make: Make, dtype: torch.dtype = torch.float64, before_step=None) -> torch.Tensor:
    """The parameters after each step on a seeded stream of gradients of several scales."""
    gen = torch.Generator().manual_seed(0)
    params = [
        torch.nn.Parameter(torch.randn(s, generator=gen, dtype=torch.float64).to(dtype))
        for s in SHAPES
    ]
    opt = make(params)
    out = []
    for k in range(STEPS):
        for i, p in enumerate(params):
            scale = 10.0 ** (i - 2 + (k % 3))
            p.grad = (scale * torch.randn(p.shape, generator=gen, dtype=torch.float64)).to(dtype)
        if before_step is not None:
            before_step(opt, k)
        opt.step()
        out.append(torch.cat([p.detach().reshape(-1).double() for p in params]))
    return torch.stack(out)


def test_library_names_include_the_extended_genomes() -> None:
    assert {"AdamW", "Lion"} <= set(library.names()) and {"AdamW", "Lion"} <= set(NAMES)
    assert library.genome("AdamW").is_extended and library.genome("Lion").is_extended
    assert library.lr_schedule("AdamW") is None and library.lr_schedule("Lion") is None
    with pytest.raises(ValueError, match="no recommended learning rate yet: pass lr="):
        create("Lion", [torch.nn.Parameter(torch.ones(2))], total_steps=10)


def test_adamw_genome_steps_like_torch_adamw_at_a_constant_rate() -> None:
    ours = trajectory(
        lambda ps: create("AdamW", ps, lr=1e-2, total_steps=STEPS, schedule="constant")
    )
    torch_adamw = trajectory(
        lambda ps: torch.optim.AdamW(ps, lr=1e-2, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)
    )
    torch.testing.assert_close(ours, torch_adamw, rtol=1e-10, atol=1e-14)


def test_adamw_genome_steps_like_torch_adamw_under_the_one_cycle_schedule() -> None:
    peak, W, H = 3e-2, 5, 10
    factors = lr_table("one_cycle", STEPS, W, H)

    def set_lr(opt: torch.optim.Optimizer, k: int) -> None:
        for group in opt.param_groups:
            group["lr"] = peak * float(factors[k])

    ours = trajectory(lambda ps: create("AdamW", ps, lr=peak, total_steps=STEPS, warmup_steps=W,
                                        hold_steps=H))  # fmt: skip
    ref = trajectory(
        lambda ps: torch.optim.AdamW(ps, lr=peak, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01),
        before_step=set_lr,
    )
    torch.testing.assert_close(ours, ref, rtol=1e-10, atol=1e-14)


def test_adamw_genome_in_float32_is_torch_adamw_to_rounding() -> None:
    ours = trajectory(
        lambda ps: create("AdamW", ps, lr=1e-2, total_steps=STEPS, schedule="constant"),
        torch.float32,
    )
    ref = trajectory(
        lambda ps: torch.optim.AdamW(ps, lr=1e-2, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01),
        torch.float32,
    )
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
def test_lion_genome_steps_like_optevo_lion(dtype: torch.dtype) -> None:
    kwargs = {"lr": 1e-2, "total_steps": STEPS, "warmup_steps": 5, "hold_steps": 10}
    ours = trajectory(lambda ps: create("Lion", ps, **kwargs), dtype)
    ref = trajectory(lambda ps: Lion(ps, **kwargs), dtype)
    torch.testing.assert_close(ours, ref, rtol=1e-12, atol=0.0)


def test_lion_genome_with_weight_decay_steps_like_both_lions() -> None:
    lion_pytorch = pytest.importorskip("lion_pytorch")
    genome = library.genome("Lion").with_constants({"wd": 0.1})
    ours = trajectory(lambda ps: EvolvedOptimizer(ps, genome, 1e-2, STEPS, schedule="constant"))
    optevo_lion = trajectory(
        lambda ps: Lion(ps, 1e-2, STEPS, weight_decay=0.1, schedule="constant")
    )
    theirs = trajectory(lambda ps: lion_pytorch.Lion(ps, lr=1e-2, weight_decay=0.1))
    torch.testing.assert_close(ours, optevo_lion, rtol=1e-12, atol=1e-15)
    torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=1e-15)


def _module(source: str, folder: Path, name: str) -> ModuleType:
    path = folder / f"{name}.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _load(source: str, folder: Path, name: str) -> type[torch.optim.Optimizer]:
    cls: type[torch.optim.Optimizer] = getattr(_module(source, folder, name), name)
    return cls


@pytest.mark.parametrize("name", ["AdamW", "Lion"])
@pytest.mark.parametrize("momentum", ["none", "nesterov"])
def test_export_carries_the_constants_and_steps_like_the_compiled_rule(
    name: str, momentum: str, tmp_path: Path
) -> None:
    genome = library.genome(name)
    if momentum != "none":  # the weight decay beside a momentum step, and a non-default eps
        genome = genome.with_constants({"wd": 0.05, "eps": 1e-6, "beta_dir": 0.8})
        genome = type(genome)(genome.hidden, genome.output, momentum, constants=genome.constants)
    source = python_source(genome, name) if momentum != "none" else named_source(name)
    for gene, value in genome.constants.items():
        assert repr(value) in source, gene
    cls = _load(source, tmp_path, name)
    kwargs = {"lr": 1e-2, "total_steps": STEPS, "warmup_steps": 5, "hold_steps": 10}
    exported = trajectory(lambda ps: cls(ps, **kwargs))
    compiled = trajectory(lambda ps: EvolvedOptimizer(ps, genome, **kwargs))
    torch.testing.assert_close(exported, compiled, rtol=1e-12, atol=1e-15)


def test_export_keeps_the_paper_s_eps_in_the_lr8_factor(tmp_path: Path) -> None:
    """EPS in an exported file is the genome's; the LR8 factor keeps its own 1e-7."""
    source = python_source(library.genome("AdamW"), "AdamW8", schedule="LR8")
    assert "EPS = 1e-8" in source
    module = _module(source, tmp_path, "AdamW8")
    T = 40
    ours = torch.tensor([module.lr_factor(k, T) for k in range(T)], dtype=torch.float64)
    torch.testing.assert_close(ours, torch.from_numpy(lr_factor("LR8", T)), rtol=1e-14, atol=0.0)
