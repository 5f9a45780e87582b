"""`optevo export --format python`: one standalone file that steps as EvolvedOptimizer.

The main test imports every exported file in a fresh interpreter in which optevo cannot be
imported, runs it on random gradients and compares the parameters, step by step, with
`EvolvedOptimizer` in this process. The others load exported files here (they import torch
only) to check the schedules, state dicts, low precision and the command line.
"""

from __future__ import annotations

import copy
import importlib.util
import inspect
import io
import json
import math
import subprocess
import sys
import warnings
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from optevo import Genome, Node, library
from optevo.cli import app
from optevo.compile import compile_genome
from optevo.export import _HELPERS, LR_CODE, SCHEDULE_CODE, class_name, named_source, python_source
from optevo.optim import EvolvedOptimizer
from optevo.schedules import lr_factor, momentum_cycle, one_cycle
from optevo.search.candidates import random_genome
from optevo.space.decay import DecayGenome
from optevo.space.ops import SCHEDULES

RANDOM_SEED = 17
N_RANDOM = 20
SETTINGS = {"lr": 1e-2, "total_steps": 50, "warmup_steps": 5, "hold_steps": 10}
SETTINGS["weight_decay"] = 0.01
DROPOUT_SEED = 3


def trajectory(make, steps=50, dtype=torch.float32, shapes=((3, 4), (5,), (2, 3, 2))):
    """The parameters after each of `steps` steps of the optimizer `make(params)` on random
    gradients (the same in every process: one seeded generator draws weights and gradients).
    Also run in the child interpreter, from this function's source."""
    gen = torch.Generator().manual_seed(0)
    params = [torch.randn(s, generator=gen).to(dtype).requires_grad_() for s in shapes]
    opt = make(params)
    out = []
    for _ in range(steps):
        for p in params:
            p.grad = torch.randn(p.shape, generator=gen).to(dtype)
        opt.step()
        out.append(torch.cat([p.detach().reshape(-1).double() for p in params]))
    return torch.stack(out)


CHILD = """
import sys
sys.modules["optevo"] = None  # any `import optevo` now raises ImportError
import importlib.util
import json
import warnings

import torch

try:
    import optevo  # noqa: F401
except ImportError:
    pass
else:
    raise SystemExit("optevo is importable in the child")

{trajectory}

folder, manifest = sys.argv[1], json.load(open(sys.argv[2]))
results = {{}}
for entry in manifest:
    spec = importlib.util.spec_from_file_location(entry["module"], f"{{folder}}/{{entry['file']}}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    cls = getattr(module, entry["class"])
    kwargs = entry["kwargs"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # overflow warnings of wild genomes
        results[entry["file"]] = trajectory(lambda ps: cls(ps, **kwargs))
    loaded = [m for m in sys.modules if m == "optevo" or m.startswith("optevo.")]
    assert all(sys.modules[m] is None for m in loaded), loaded
torch.save(results, sys.argv[3])
"""


def _random_genomes() -> list[Genome]:
    rng = np.random.default_rng(RANDOM_SEED)
    return [random_genome(rng) for _ in range(N_RANDOM)]


def _cases() -> list[dict[str, Any]]:
    """Every named optimizer and N_RANDOM random genomes: genome, schedule, source."""
    cases = []
    for name in library.names():
        entry = library.get(name)
        schedule = entry.lr_schedule or "one_cycle"
        cases.append(
            {
                "id": name,
                "genome": entry.genome,
                "schedule": schedule,
                "class": class_name(name),
                "source": named_source(name),
            }
        )
    for i, genome in enumerate(_random_genomes()):
        cases.append(
            {
                "id": f"random{i}",
                "genome": genome,
                "schedule": "one_cycle",
                "class": f"Evolved{genome.canonical_hash()[:12]}",
                "source": python_source(genome),
            }
        )
    return cases


def _kwargs(genome: Genome) -> dict[str, Any]:
    return {**SETTINGS, **({"seed": DROPOUT_SEED} if compile_genome(genome).random else {})}


def _reference(case: dict[str, Any], **extra: Any) -> torch.Tensor:
    kwargs = {**SETTINGS, "seed": DROPOUT_SEED, "schedule": case["schedule"], **extra}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return trajectory(lambda ps: EvolvedOptimizer(ps, case["genome"], **kwargs))


def _load(source: str, folder: Path, name: str = "exported") -> ModuleType:
    path = folder / f"{name}.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _optimizer_class(module: ModuleType) -> type[torch.optim.Optimizer]:
    classes = [
        v
        for v in vars(module).values()
        if isinstance(v, type)
        and issubclass(v, torch.optim.Optimizer)
        and v.__module__ == module.__name__
    ]
    assert len(classes) == 1
    return classes[0]


# ---------------------------------------------------------------------------------------------
# The exported files, in an interpreter without optevo, against EvolvedOptimizer
# ---------------------------------------------------------------------------------------------


@pytest.mark.subprocess
@pytest.mark.slow
def test_every_named_and_random_genome_steps_like_evolved_optimizer(tmp_path: Path) -> None:
    cases = _cases()
    genomes = [c["genome"] for c in cases]
    # The random draw covers what is hardest to match: dropout, state-holding operations,
    # per-tensor norms, flipped genomes, both momentum types, several decay functions.
    ops = {g.node(n).op for g in genomes for n in g.active_names()}
    assert {"drop0.3", "drop0.1", "runmax", "delta", "norm"} <= ops
    assert any(g.flipped for g in genomes) and any(len(g.decay_functions()) > 1 for g in genomes)
    manifest = []
    for i, case in enumerate(cases):
        (tmp_path / f"opt{i}.py").write_text(case["source"], encoding="utf-8")
        manifest.append(
            {
                "file": f"opt{i}.py",
                "module": f"opt{i}",
                "class": case["class"],
                "kwargs": _kwargs(case["genome"]),
            }
        )
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    child = CHILD.format(trajectory=inspect.getsource(trajectory))
    out = tmp_path / "trajectories.pt"
    result = subprocess.run(
        [
            sys.executable,
            "-I",
            "-c",
            child,
            str(tmp_path),
            str(tmp_path / "manifest.json"),
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    exported = torch.load(out)
    mismatched = []
    for i, case in enumerate(cases):
        ours, ref = exported[f"opt{i}.py"], _reference(case)
        try:
            torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-6, equal_nan=True)
        except AssertionError as exc:
            mismatched.append(f"{case['id']} ({case['genome'].equation()}): {exc}")
    assert not mismatched, "\n".join(mismatched)


# ---------------------------------------------------------------------------------------------
# Schedules, decay functions, settings
# ---------------------------------------------------------------------------------------------


def _helpers(tmp_path: Path, genome: Genome, schedule: str = "one_cycle") -> ModuleType:
    return _load(python_source(genome, schedule=schedule), tmp_path, f"m{abs(hash(genome))}")


def _genome_with_decay(decay: DecayGenome, momentum: str = "none") -> Genome:
    return Genome((Node("identity", ("g",), (decay,)),), Node("identity", ("h0",)), momentum)


def test_every_schedule_and_learning_rate_factor_is_optevo_s(tmp_path: Path) -> None:
    adam = library.genome("Adam")
    T = 37
    t = torch.arange(T, dtype=torch.float64)
    module = _helpers(tmp_path, adam, "LR1")
    namespace = vars(module).copy()
    for name in SCHEDULE_CODE:  # all 14, whichever file they appear in
        exec(_HELPERS[name], namespace)
        torch.testing.assert_close(namespace[name](t, T), SCHEDULES[name](t, T), rtol=0, atol=0)
    for name in LR_CODE:
        m = _load(python_source(adam, schedule=name), tmp_path, f"lr_{name}")
        ours = [m.one_cycle(k, T, 4, 3) * m.lr_factor(k, T) for k in range(T)]
        ref = one_cycle(T, 4, 3) * lr_factor(name, T)
        np.testing.assert_allclose(ours, ref, rtol=1e-14, atol=0)
    momentum = _helpers(
        tmp_path, _genome_with_decay(DecayGenome.random(np.random.default_rng(0)), "nesterov")
    )
    for T, W, H in [(50, 5, 10), (50, 0, 0), (50, 1, 0), (7, 3, 4), (1, 0, 0), (9, 0, 3)]:
        np.testing.assert_allclose(
            [momentum.one_cycle(k, T, W, H) for k in range(T)], one_cycle(T, W, H), rtol=1e-14
        )
        assert [momentum.cycled_momentum(k, T, W, H) for k in range(T)] == list(
            momentum_cycle(T, W, H)
        )


def test_decay_functions_are_optevo_s(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    T = 64
    t = torch.arange(T, dtype=torch.float64)
    for i in range(40):
        decay = DecayGenome.random(rng)
        module = _load(python_source(_genome_with_decay(decay)), tmp_path, f"decay{i}")
        np.testing.assert_allclose(module.d1(t, T).numpy(), decay.table(T), rtol=1e-14, atol=0)
        assert str(decay) in inspect.getdoc(module.d1)


@pytest.mark.parametrize("name", ["Momentum", "Nesterov", "Opt9", "Opt6"])
def test_constant_schedule_momentum_and_steps_past_the_end(name: str, tmp_path: Path) -> None:
    entry = library.get(name)
    case = {"genome": entry.genome, "schedule": "constant"}
    cls = _optimizer_class(_load(named_source(name), tmp_path))
    extra: dict[str, Any] = {"total_steps": 30, "schedule": "constant"}
    if entry.genome.momentum != "none":
        extra["momentum"] = 0.5
    kwargs = {**SETTINGS, **extra}
    with pytest.warns(RuntimeWarning, match="past total_steps=30"):
        ours = trajectory(lambda ps: cls(ps, **kwargs))
    torch.testing.assert_close(ours, _reference(case, **extra), rtol=1e-5, atol=1e-6)
    # The scheduled learning rate is 0 past the end (only momentum moves the weights).
    scheduled = {**SETTINGS, "total_steps": 30}
    with pytest.warns(RuntimeWarning):
        still = trajectory(lambda ps: cls(ps, **scheduled))
    ref = _reference({**case, "schedule": entry.lr_schedule or "one_cycle"}, total_steps=30)
    torch.testing.assert_close(still, ref, rtol=1e-5, atol=1e-6)
    if entry.genome.momentum == "none":
        torch.testing.assert_close(still[29:], still[29:30].expand(21, -1), rtol=0, atol=0)


def test_bad_settings_are_refused(tmp_path: Path) -> None:
    cls = _optimizer_class(_load(named_source("Opt9"), tmp_path))
    p = [torch.zeros(2, requires_grad=True)]
    for bad in (
        {"lr": -1.0},
        {"warmup_steps": 8},
        {"schedule": "LR3"},
        {"momentum": 1.0},
        {"total_steps": 0},
    ):
        with pytest.raises(ValueError):
            cls(p, **{"lr": 0.1, "total_steps": 10, "hold_steps": 5, **bad})


# ---------------------------------------------------------------------------------------------
# State dicts, copies, low precision, param groups
# ---------------------------------------------------------------------------------------------


def _state_cases() -> list[tuple[str, Genome, str, str]]:
    randoms = _random_genomes()
    picked = [
        next(g for g in randoms if compile_genome(g).random),
        next(g for g in randoms if any(".runmax" in n for n in compile_genome(g).state_names)),
        next(g for g in randoms if any(".delta" in n for n in compile_genome(g).state_names)),
    ]
    cases = [
        (
            name,
            library.genome(name),
            library.get(name).lr_schedule or "one_cycle",
            named_source(name),
        )
        for name in ("Opt6", "Opt9", "Momentum")
    ]
    cases += [(g.canonical_hash()[:8], g, "one_cycle", python_source(g)) for g in picked]
    return cases


def _steps(opt: torch.optim.Optimizer, params: list[torch.Tensor], grads) -> None:
    for gs in grads:
        for p, g in zip(params, gs, strict=True):
            p.grad = g.clone()
        opt.step()


def _roundtrip(state_dict: dict[str, Any]) -> dict[str, Any]:
    buffer = io.BytesIO()
    torch.save(state_dict, buffer)
    buffer.seek(0)
    return torch.load(buffer)


@pytest.mark.parametrize("case", _state_cases(), ids=lambda c: c[0])
def test_state_dict_round_trip_continues_exactly(case, tmp_path: Path) -> None:
    _, genome, schedule, source = case
    cls = _optimizer_class(_load(source, tmp_path))
    kwargs = _kwargs(genome)
    gen = torch.Generator().manual_seed(4)
    start = [torch.randn(s, generator=gen) for s in ((3, 4), (5,))]
    grads = [[torch.randn(p.shape, generator=gen) for p in start] for _ in range(50)]

    def fresh() -> list[torch.Tensor]:
        return [p.clone().requires_grad_() for p in start]

    straight = fresh()
    _steps(cls(straight, **kwargs), straight, grads)

    first = fresh()
    opt = cls(first, **kwargs)
    _steps(opt, first, grads[:25])
    saved = _roundtrip(opt.state_dict())
    assert set(saved["state"][0]) == {"step", *compile_genome(genome).state_names}
    assert float(saved["state"][0]["step"]) == 25
    second = [p.detach().clone().requires_grad_() for p in first]
    resumed = cls(second, **kwargs)
    resumed.load_state_dict(_roundtrip(saved))  # torch loads the tensors without copying
    _steps(resumed, second, grads[25:])
    for a, b in zip(second, straight, strict=True):
        assert torch.equal(a, b)

    # The state dicts of EvolvedOptimizer and of the exported class load into each other.
    ref_kwargs = {**kwargs, "schedule": schedule}
    third = [p.detach().clone().requires_grad_() for p in first]
    evolved = EvolvedOptimizer(third, genome, **ref_kwargs)
    evolved.load_state_dict(_roundtrip(saved))
    _steps(evolved, third, grads[25:])
    torch.testing.assert_close(third, straight, rtol=1e-5, atol=1e-6)
    ref = fresh()
    ref_opt = EvolvedOptimizer(ref, genome, **ref_kwargs)
    _steps(ref_opt, ref, grads[:25])
    fourth = [p.detach().clone().requires_grad_() for p in ref]
    from_evolved = cls(fourth, **kwargs)
    from_evolved.load_state_dict(_roundtrip(ref_opt.state_dict()))
    _steps(from_evolved, fourth, grads[25:])
    torch.testing.assert_close(fourth, straight, rtol=1e-5, atol=1e-6)

    # A deep copy keeps the dropout seed (torch pickles defaults, state and groups only).
    copied = copy.deepcopy(resumed)
    assert getattr(copied, "seed", None) == getattr(resumed, "seed", None)
    assert copied.state_dict()["param_groups"] == resumed.state_dict()["param_groups"]


def test_a_state_dict_of_another_genome_is_refused(tmp_path: Path) -> None:
    adam = _optimizer_class(_load(named_source("Adam"), tmp_path, "adam"))
    other = EvolvedOptimizer(
        [torch.zeros(2, requires_grad=True)], library.genome("RMSProp"), 0.1, 10
    )
    with pytest.raises(ValueError, match="another genome"):
        adam([torch.zeros(2, requires_grad=True)], 0.1, 10).load_state_dict(other.state_dict())


@pytest.mark.parametrize("name", ["Adam", "Opt6", "Nesterov"])
def test_bfloat16_parameters_keep_float32_state_like_evolved_optimizer(
    name: str, tmp_path: Path
) -> None:
    entry = library.get(name)
    cls = _optimizer_class(_load(named_source(name), tmp_path))
    schedule = entry.lr_schedule or "one_cycle"
    ours = trajectory(lambda ps: cls(ps, **SETTINGS), dtype=torch.bfloat16)
    ref = trajectory(
        lambda ps: EvolvedOptimizer(ps, entry.genome, schedule=schedule, **SETTINGS),
        dtype=torch.bfloat16,
    )
    torch.testing.assert_close(ours, ref, rtol=0, atol=0)
    p = torch.zeros(3, dtype=torch.bfloat16, requires_grad=True)
    opt = cls([p], **SETTINGS)
    p.grad = torch.ones(3, dtype=torch.bfloat16)
    opt.step()
    saved = _roundtrip(opt.state_dict())
    again = cls([p.detach().clone().requires_grad_()], **SETTINGS)
    again.load_state_dict(saved)
    for key, value in next(iter(again.state.values())).items():
        assert key == "step" or value.dtype == torch.float32


def test_param_groups_and_parameters_without_gradients(tmp_path: Path) -> None:
    """Two groups with their own lr; one parameter gets a gradient every other step only, so
    its step count falls behind and its dropout draws come from its own generator."""
    genome = next(g for g in _random_genomes() if compile_genome(g).random)
    cls = _optimizer_class(_load(python_source(genome), tmp_path))
    gen = torch.Generator().manual_seed(6)
    start = [torch.randn(s, generator=gen) for s in ((4,), (2, 2), (3,))]
    grads = [[torch.randn(p.shape, generator=gen) for p in start] for _ in range(20)]

    def run(make) -> list[torch.Tensor]:
        ps = [p.clone().requires_grad_() for p in start]
        opt = make([{"params": ps[:2]}, {"params": ps[2:], "lr": 0.05}])
        for k, gs in enumerate(grads):
            for i, (p, g) in enumerate(zip(ps, gs, strict=True)):
                p.grad = None if (i == 1 and k % 2) else g.clone()
            opt.step()
        return ps

    kwargs = {**SETTINGS, "total_steps": 20, "seed": 1}
    ours = run(lambda groups: cls(groups, **kwargs))
    ref = run(lambda groups: EvolvedOptimizer(groups, genome, **kwargs))
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-6)


def test_the_file_is_readable(tmp_path: Path) -> None:
    source = named_source("Opt6")
    module = _load(source, tmp_path)
    doc = inspect.getdoc(module.Opt6)
    assert library.genome("Opt6").equation() in doc and r"\operatorname{qh}_{g}" in doc
    weight_change = inspect.getsource(module.Opt6._weight_change)
    for line in ("h0 = torch.exp(w4)", "h1 = torch.abs(d1 * h0)", "u = qh_g / (h1 + EPS)"):
        assert line in weight_change
    # Only the helpers the genome uses: no dropout, no momentum cycle, no unused schedule.
    for absent in ("def drop", "def cycled_momentum", "def lin_dec", "def clip_by_norm"):
        assert absent not in source
    assert "import optevo" not in source and "from optevo" not in source
    assert len(source.splitlines()) < 300
    compile(source, "opt6.py", "exec")
    assert math.isfinite(module.lr_factor(10, 100))


# ---------------------------------------------------------------------------------------------
# The command line
# ---------------------------------------------------------------------------------------------

runner = CliRunner()


def test_cli_export_python_json_and_force(tmp_path: Path) -> None:
    out = tmp_path / "x.py"
    result = runner.invoke(app, ["export", "Opt6", "--format", "python", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text(encoding="utf-8") == named_source("Opt6")
    assert "class Opt6(torch.optim.Optimizer)" in out.read_text(encoding="utf-8")
    again = runner.invoke(app, ["export", "Opt6", "--format", "python", "-o", str(out)])
    assert again.exit_code == 2 and "exists; pass --force" in again.output
    out.write_text("mine")
    forced = runner.invoke(app, ["export", "Adam", "--format", "python", "-o", str(out), "--force"])
    assert forced.exit_code == 0 and "class Adam(" in out.read_text(encoding="utf-8")

    as_json = tmp_path / "g.json"
    result = runner.invoke(app, ["export", "Opt6", "-o", str(as_json)])  # json by default
    assert result.exit_code == 0, result.output
    assert Genome.from_json(as_json.read_text()) == library.genome("Opt6")
    assert as_json.read_text() == library.genome("Opt6").to_json(indent=2) + "\n"

    from_file = tmp_path / "f.py"
    result = runner.invoke(
        app, ["export", str(as_json), "--format", "python", "-o", str(from_file)]
    )
    assert result.exit_code == 0, result.output
    assert from_file.read_text() == python_source(library.genome("Opt6"))


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["export", "Opt6", "--format", "xml", "-o", "x.py"], "--format must be json or python"),
        (["export", "3fa2c1", "--format", "python", "-o", "x.py"], "neither a named optimizer"),
        (["export", "Opt6", "--format", "python", "-o", "/nonexistent/x.py"], "does not exist"),
    ],
)
def test_cli_export_errors(args: list[str], needle: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert needle in " ".join(result.output.split())
