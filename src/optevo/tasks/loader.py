"""The runner of a user's task whose data comes through a `DataLoader` (or any iterable of
`(inputs, targets)` batches), with the user's own transforms.

The task gives `loaders(split, generator)`: an iterable of batches of `split` ("train",
"val" or "test"). For "train", optevo passes a `torch.Generator` seeded with the run's seed;
a loader that shuffles with it (`DataLoader(..., shuffle=True, generator=generator)`) and
draws its random transforms from it gives the same batches for the same seed whatever the
optimizer, which the paired fitness rests on. optevo checks it once per runner (the first
batch drawn twice with one seed must match) and warns once when it does not.

A run: `torch.manual_seed(seed)` (so the seed fixes the initial weights, and the random
transforms of a loader that uses torch's global generator), build the model, build the
optimizer with the run's whole schedule, train `steps` batches (a new pass over the loader
each time it ends, with the same generator going on), then score the split. Divergence and the
worst score follow the tensor tasks' rules (`optevo.tasks.base.DivergenceWatch`,
`optevo.tasks.tensor.worst_score`).
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Iterable, Iterator

import torch
from torch import Tensor, nn

from optevo.tasks.base import METRIC_DIRECTION, Monitor, RunOutcome, RunRequest
from optevo.tasks.tensor import (
    Loss,
    _finish,
    _sums,
    checked_stop,
    finish_run,
    train_steps,
    trivial_score,
    worst_score,
)

Loaders = Callable[[str, torch.Generator], Iterable[tuple[Tensor, Tensor]]]
"""(split, generator) -> batches of (inputs, targets)."""

PAIRING_CHECK_SEED = 12_345


class UnpairedLoaderWarning(UserWarning):
    """A loader gave different batches for the same seed: paired comparisons are noisier."""


class LoaderRunner:
    """Runs of one loader task: its loaders, model factory, training loss and metric."""

    def __init__(
        self,
        name: str,
        loaders: Loaders,
        make_model: Callable[[], nn.Module],
        loss: Loss,
        metric: str,
        device: str = "cpu",
    ) -> None:
        if metric not in METRIC_DIRECTION or metric == "perplexity":
            raise ValueError(
                f"task {name}: the metric is accuracy, mse, cross-entropy or bits-per-char, "
                f"not {metric!r}"
            )
        self.name, self.loaders, self.make_model = name, loaders, make_model
        self.loss, self.metric, self.device = loss, metric, device
        self._targets: dict[str, Tensor] = {}
        self.paired: bool | None = None
        """Whether the loader gave the same first batch twice for one seed (None: unchecked)."""

    @property
    def higher_is_better(self) -> bool:
        return METRIC_DIRECTION[self.metric] == "max"

    def _batches(self, split: str, generator: torch.Generator) -> Iterator[tuple[Tensor, Tensor]]:
        for batch in self.loaders(split, generator):
            if not (isinstance(batch, (tuple, list)) and len(batch) == 2):
                raise TypeError(
                    f"task {self.name}: a batch of {split} must be (inputs, targets), got "
                    f"{type(batch).__name__}"
                )
            x, y = batch
            yield x.to(self.device), y.to(self.device)

    def check_pairing(self) -> bool:
        """Whether two passes with generators of one seed start with the same batch; warns
        once (per runner) when they do not."""
        if self.paired is None:
            firsts = []
            for _ in range(2):
                torch.manual_seed(PAIRING_CHECK_SEED)
                gen = torch.Generator().manual_seed(PAIRING_CHECK_SEED)
                firsts.append(next(iter(self._batches("train", gen)), None))
            a, b = firsts
            if a is None or b is None:
                raise ValueError(f"task {self.name}: the train loader gave no batch")
            self.paired = all(
                p.shape == q.shape and bool(torch.equal(p, q)) for p, q in zip(a, b, strict=True)
            )
            if not self.paired:
                warnings.warn(
                    f"task {self.name}: its train loader gives different batches for the same "
                    "seed (pass the generator optevo gives it to the DataLoader and draw "
                    "random transforms from it or from torch's global generator): paired "
                    "comparisons against Adam are noisier",
                    UnpairedLoaderWarning,
                    stacklevel=2,
                )
        return self.paired

    def _all_targets(self, split: str) -> Tensor:
        if split not in self._targets:
            gen = torch.Generator().manual_seed(0)
            ys = [y.reshape(-1, *y.shape[1:]).cpu() for _, y in self._batches(split, gen)]
            if not ys:
                raise ValueError(f"task {self.name}: the {split} loader gave no batch")
            self._targets[split] = torch.cat(ys)
        return self._targets[split]

    def worst(self, split: str) -> float:
        """The worst score on `split` (`optevo.tasks.tensor.worst_score`)."""
        return worst_score(self.metric, self._all_targets("train"), self._all_targets(split))

    def trivial(self, split: str) -> float:
        """The trivial predictor's score on `split` (`optevo.tasks.tensor.trivial_score`)."""
        return trivial_score(self.metric, self._all_targets("train"), self._all_targets(split))

    def run(self, request: RunRequest, monitor: Monitor | None = None) -> RunOutcome:
        """One run (see the module); a `monitor` is asked at its checkpoints whether to stop."""
        t0 = time.perf_counter()
        self.check_pairing()
        torch.manual_seed(request.seed)
        model = self.make_model().to(self.device)
        opt = request.build(model.parameters())
        batches = self._passes(torch.Generator().manual_seed(request.seed))
        stop, last = checked_stop(self, model, request.split, request.steps, monitor)
        status, done, watch = train_steps(
            model, opt, batches, self.loss, request.steps, self.device, stop
        )
        at = last.get("score", math.nan)
        return finish_run(self, model, request.split, status, done, watch, t0, at)

    def _passes(self, generator: torch.Generator) -> Iterator[tuple[Tensor, Tensor]]:
        """Training batches without end: a new pass over the train loader each time one ends,
        the same generator going on."""
        while True:
            empty = True
            for batch in self._batches("train", generator):
                empty = False
                yield batch
            if empty:
                raise ValueError(f"task {self.name}: the train loader gave no batch")

    @torch.no_grad()
    def score(self, model: nn.Module, split: str) -> float:
        """The metric of `model` on `split` (may be non-finite; `run` clips it)."""
        model.eval()
        total, count = 0.0, 0
        for x, y in self._batches(split, torch.Generator().manual_seed(0)):
            s, n = _sums(self.metric, model(x), y)
            total, count = total + s, count + n
        model.train()
        return _finish(self.metric, total, count)


__all__ = ["LoaderRunner", "Loaders", "UnpairedLoaderWarning"]
