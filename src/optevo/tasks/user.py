"""Your own model and data as a task: define it in a Python file, name it where a task is
named (`--task my_tasks.py:fashion_cnn`, `fitness.tasks`, `optevo validate --tasks`).

    # my_tasks.py
    import torch
    from torch import nn
    from optevo.tasks.user import task

    def make_model() -> nn.Module:
        return nn.Sequential(nn.Flatten(), nn.Linear(64, 10))

    x, y = torch.randn(1200, 64), torch.randint(0, 10, (1200,))
    blobs = task("blobs", make_model, data=(x, y), metric="accuracy", steps=300, batch_size=32)

Data is in-memory tensors (`data=`: a `TensorData`, a mapping of "train", "val" and "test" to
(inputs, targets), or one (inputs, targets) pair split 80/10/10 by a fixed seed), or a
`loaders(split, generator)` factory of batches (a `DataLoader` with the user's own transforms;
`optevo.tasks.loader`). The same seed gives the same initial weights and the same batches
whatever the optimizer: optevo seeds torch before building the model and, for a loader task,
hands the train loader a generator seeded with the run's seed (and warns once if the loader
does not follow it).

A task reference is `FILE.py:NAME` or `package.module:NAME`, NAME being a `Task` (made with
`task`) or a function of no arguments returning one. Loading a reference imports that code:
commands that only read a run (`status`, `show`, `report`, `export`, `plot`) call
`forbid_imports()` first and never import a task file. A loaded task is registered under its
reference (`optevo.tasks.registry.TASKS`), with the SHA-256 of its file
(`task_file_hashes`), which a search run stores and checks on `--resume`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import importlib.util
import re
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from optevo.tasks.base import METRIC_DIRECTION, Budget, Metric, Runner, Task, TaskOptions
from optevo.tasks.loader import LoaderRunner, Loaders
from optevo.tasks.tensor import SPLITS, Loss, TensorData, TensorRunner

REF = re.compile(r"^(?P<where>[^:]+\.py|[A-Za-z_][\w.]*):(?P<name>[A-Za-z_]\w*)$")
"""FILE.py:NAME or package.module:NAME."""

SPLIT_SEED = 0
"""The seed of the 80/10/10 split of a task given one (inputs, targets) pair."""


class TaskLoadError(ValueError):
    """A task reference that cannot be loaded; its message is one line naming it."""


_LOADED: dict[str, tuple[Task, str | None, str | None]] = {}
"""reference -> (task, file path or None for a module, SHA-256 of the file or None)."""

_FORBIDDEN = False


def is_reference(name: str) -> bool:
    """Whether `name` is a user task reference (`FILE.py:NAME`, `package.module:NAME`)."""
    return bool(REF.match(name))


def forbid_imports() -> None:
    """From now on, in this process, no task file is imported: a reference not loaded yet
    stays unresolved (commands that only read a run)."""
    global _FORBIDDEN
    _FORBIDDEN = True


def imports_allowed() -> bool:
    return not _FORBIDDEN


def _split(name: str, x: Tensor, y: Tensor) -> TensorData:
    if len(x) != len(y):
        raise ValueError(f"task {name}: {len(x)} inputs but {len(y)} targets")
    if len(x) < 10:
        raise ValueError(f"task {name}: {len(x)} examples are too few to split 80/10/10")
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(SPLIT_SEED))
    a, b = int(0.8 * len(x)), int(0.9 * len(x))
    parts = [perm[:a], perm[a:b], perm[b:]]
    train, val, test = ((x[p], y[p]) for p in parts)
    return TensorData(name, train, val, test)


def as_tensor_data(name: str, data: Any) -> TensorData:
    """A `TensorData` from what `task(data=...)` accepts (see the module)."""
    if isinstance(data, TensorData):
        return data
    if isinstance(data, Mapping):
        missing = [s for s in SPLITS if s not in data]
        if missing:
            raise ValueError(
                f"task {name}: data has no {', '.join(missing)} split (give train, val and "
                "test, or one (inputs, targets) pair to split 80/10/10)"
            )
        return TensorData(name, *(tuple(data[s]) for s in SPLITS))  # type: ignore[arg-type]
    if isinstance(data, (tuple, list)) and len(data) == 2:
        x, y = data
        if isinstance(x, Tensor) and isinstance(y, Tensor):
            return _split(name, x, y)
    raise TypeError(
        f"task {name}: data must be a TensorData, a mapping of train/val/test to (inputs, "
        f"targets), or one (inputs, targets) pair of tensors, not {type(data).__name__}"
    )


def task(
    name: str,
    model: Callable[[], nn.Module],
    *,
    data: Any = None,
    loaders: Loaders | None = None,
    metric: Metric = "accuracy",
    loss: Loss | None = None,
    steps: int = 1000,
    batch_size: int = 128,
    reference_lr: float = 1e-3,
    validate_steps: int | None = None,
    warmup_fraction: float = 1 / 15,
    hold_fraction: float = 2 / 15,
) -> Task:
    """A task of your own model and data (see the module).

    `model()` returns a fresh model (optevo seeds torch first). `metric`: accuracy,
    cross-entropy, bits-per-char or mse (its direction and worst score as for the built-in
    tasks). `loss`: the training loss, "cross-entropy" (default; "mse" when the metric is) or
    your own `(output, targets) -> scalar`. `steps` and `batch_size` are the `search` size's
    budget (a one-cycle schedule with `warmup_fraction` and `hold_fraction` of it at the peak
    rate); `validate_steps` the `validate` and `bench` sizes' (default: `steps`).
    `reference_lr`: a peak rate at which Adam trains the task well (the screen's grid is
    centred there). With `loaders`, `batch_size` is the loader's own and is not used.
    """
    if (data is None) == (loaders is None):
        raise ValueError(f"task {name}: give data= or loaders=, one of them")
    if metric not in METRIC_DIRECTION or metric == "perplexity":
        raise ValueError(
            f"task {name}: metric must be accuracy, cross-entropy, bits-per-char or mse, "
            f"not {metric!r}"
        )
    if not callable(model):
        raise TypeError(f"task {name}: model must be a function returning a fresh nn.Module")
    for what, value in (("steps", steps), ("batch_size", batch_size)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"task {name}: {what} must be a whole number >= 1, got {value!r}")
    if not reference_lr > 0:
        raise ValueError(f"task {name}: reference_lr must be positive, got {reference_lr!r}")
    train_loss: Loss = loss if loss is not None else ("mse" if metric == "mse" else "cross-entropy")

    def budget(total: int) -> Budget:
        warmup = round(total * warmup_fraction)
        hold = min(round(total * hold_fraction), total - warmup)
        return Budget(
            total_steps=total, warmup_steps=warmup, hold_steps=hold, batch_size=batch_size
        )

    search = budget(steps)
    final = budget(validate_steps or steps)
    tensors = None if data is None else as_tensor_data(name, data)

    def build(opts: TaskOptions, size: Budget) -> Runner:
        device = opts.device
        if loaders is not None:
            return LoaderRunner(name, loaders, model, train_loss, metric, device)
        assert tensors is not None
        chosen = opts.data if opts.data is not None else tensors
        return TensorRunner(
            chosen, model, train_loss, metric, opts.batch_size or size.batch_size, device,
            opts.eval_batch_size or 1024,
        )

    return Task(
        name,
        name,
        metric,
        search,
        "your own data",
        build,
        needs_root=False,
        family="user",
        source=f"user:{name}",
        sizes={"search": search, "validate": final, "bench": final},
        reference_lr=reference_lr,
    )


def _file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _import(ref: str, where: str) -> tuple[Any, str | None, str | None]:
    """The module `where` names (a file or a dotted module), its path and the file's hash."""
    if where.endswith(".py"):
        path = Path(where).expanduser().resolve()
        if not path.is_file():
            raise TaskLoadError(f"task {ref}: no file {where}")
        digest = _file_hash(path)
        module_name = f"optevo_user_tasks_{digest[:16]}"
        if module_name in sys.modules:
            return sys.modules[module_name], str(path), digest
        spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:
            raise TaskLoadError(f"task {ref}: {where} cannot be imported as Python")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException as exc:
            del sys.modules[module_name]
            if isinstance(exc, KeyboardInterrupt):
                raise
            raise TaskLoadError(
                f"task {ref}: importing {where} raised {type(exc).__name__}: {exc}"
            ) from exc
        return module, str(path), digest
    try:
        module = importlib.import_module(where)
    except ModuleNotFoundError as exc:
        raise TaskLoadError(f"task {ref}: no module {where} ({exc})") from exc
    except Exception as exc:
        raise TaskLoadError(
            f"task {ref}: importing {where} raised {type(exc).__name__}: {exc}"
        ) from exc
    file: str | None = getattr(module, "__file__", None)
    module_hash = _file_hash(Path(file)) if file and Path(file).is_file() else None
    return module, file, module_hash


def load_task(ref: str) -> Task:
    """The task `ref` names (`FILE.py:NAME` or `package.module:NAME`), imported once per
    process and registered under `ref`; a `TaskLoadError` (one line) for a missing file,
    module or name, an object that is not a task, or code that raises."""
    if ref in _LOADED:
        return _LOADED[ref][0]
    match = REF.match(ref)
    if match is None:
        raise TaskLoadError(
            f"task {ref!r}: a task of your own is named FILE.py:NAME or package.module:NAME"
        )
    if _FORBIDDEN:
        raise TaskLoadError(f"task {ref}: this command does not import task code")
    module, path, digest = _import(ref, match["where"])
    try:
        loaded = _task_in(module, ref, match["where"], match["name"])
    except TaskLoadError:
        in_use = any(entry[2] == digest for entry in _LOADED.values())
        if digest is not None and not in_use:  # a file module no loaded task comes from
            sys.modules.pop(f"optevo_user_tasks_{digest[:16]}", None)
        raise
    _LOADED[ref] = (loaded, path, digest)
    from optevo.tasks.registry import register

    register(loaded)
    return loaded


def _task_in(module: Any, ref: str, where: str, name: str) -> Task:
    """The task `name` of `module`, renamed to `ref` (see `load_task`)."""
    if not hasattr(module, name):
        found = sorted(k for k, v in vars(module).items() if isinstance(v, Task))
        has = f" (its tasks: {', '.join(found)})" if found else " (it defines no task)"
        raise TaskLoadError(f"task {ref}: {where} has no {name!r}{has}")
    obj = getattr(module, name)
    if not isinstance(obj, Task) and callable(obj):
        try:
            obj = obj()
        except Exception as exc:
            raise TaskLoadError(
                f"task {ref}: calling {name}() raised {type(exc).__name__}: {exc}"
            ) from exc
    if not isinstance(obj, Task):
        raise TaskLoadError(
            f"task {ref}: {name} is a {type(obj).__name__}, not a task (make one with "
            "optevo.tasks.user.task)"
        )
    return dataclasses.replace(obj, name=ref, column=obj.name)


def unload(ref: str) -> None:
    """Forget a loaded task (its registry entry and module): the next `load_task(ref)` imports
    its file again (a notebook editing its task file; tests)."""
    entry = _LOADED.pop(ref, None)
    if entry is None:
        return
    from optevo.tasks.registry import TASKS

    TASKS.pop(ref, None)
    if entry[2] is not None:
        sys.modules.pop(f"optevo_user_tasks_{entry[2][:16]}", None)


def task_file_hashes(refs: Any) -> dict[str, str]:
    """reference -> SHA-256 of its file, for the loaded references among `refs`."""
    out = {}
    for ref in refs:
        entry = _LOADED.get(ref)
        if entry is not None and entry[2] is not None:
            out[ref] = entry[2]
    return out


def changed_files(stored: Mapping[str, str]) -> list[str]:
    """The references of `stored` (reference -> hash at the run's start) whose file now hashes
    differently (loaded ones only)."""
    now = task_file_hashes(stored)
    return [ref for ref, digest in stored.items() if ref in now and now[ref] != digest]


__all__ = [
    "TaskLoadError",
    "as_tensor_data",
    "changed_files",
    "forbid_imports",
    "imports_allowed",
    "is_reference",
    "load_task",
    "task",
    "task_file_hashes",
    "unload",
]
