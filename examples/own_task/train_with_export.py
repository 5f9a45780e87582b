"""Train `fashion_cnn`'s network with an exported optimizer in a plain PyTorch loop: the
exported file needs only torch (not optevo).

    python examples/own_task/train_with_export.py found_opt.py --lr 1e-3 --steps 600
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
from pathlib import Path
from types import ModuleType

import torch
import torch.nn.functional as F


def load_module(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_optimizer(path: Path) -> type[torch.optim.Optimizer]:
    module = load_module(path, "exported_optimizer")
    classes = [
        c for _, c in inspect.getmembers(module, inspect.isclass)
        if issubclass(c, torch.optim.Optimizer) and c.__module__ == module.__name__
    ]  # fmt: skip
    if len(classes) != 1:
        raise SystemExit(f"{path}: expected one optimizer class, found {len(classes)}")
    return classes[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("optimizer", type=Path, help="a file written by optevo export")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--steps", type=int, default=600)
    args = parser.parse_args()
    Optimizer = load_optimizer(args.optimizer)
    tasks = load_module(Path(__file__).with_name("tasks.py"), "own_tasks")  # the model, data
    fashion_loaders = tasks.fashion_loaders
    torch.manual_seed(0)
    model = tasks.small_cnn()
    opt = Optimizer(model.parameters(), lr=args.lr, total_steps=args.steps)
    batches = iter(())
    gen = torch.Generator().manual_seed(0)
    for _ in range(args.steps):
        try:
            x, y = next(batches)
        except StopIteration:
            batches = iter(fashion_loaders("train", gen))
            x, y = next(batches)
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    right = total = 0
    with torch.no_grad():
        for x, y in fashion_loaders("test", gen):
            right += int((model(x).argmax(1) == y).sum())
            total += len(y)
    print(f"{Optimizer.__name__}: {args.steps} steps at lr {args.lr:g}: "
          f"test accuracy {right / total:.4f} (last training loss {loss.item():.4f})")


if __name__ == "__main__":
    main()
