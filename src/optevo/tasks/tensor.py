"""The runner of the search and validation suites: in-memory tensors, seeded batches, a score on
a held-out split.

A run: `torch.manual_seed(seed)`, build the model (so the seed fixes the initial weights),
build the optimizer with the run's whole schedule, train `steps` steps on batches drawn by a
generator seeded with `seed` (epochs of a random permutation), then score the split. Two runs
with the same seed see the same initial weights and batch order whatever the optimizer: the
paired comparison of a candidate with Adam rests on that.

Scores: accuracy (higher is better; the worst score is 0), or a loss (lower is better: MSE,
cross-entropy in nats, bits per character) whose worst score is the trivial predictor's on
that split (the training targets' mean for MSE, their class frequencies for cross-entropy):
a run never scores worse than knowing nothing, so a loss is clipped there. A training loss
that diverges by the one rule of `optevo.tasks.base.DivergenceWatch` ends the run with the
worst score.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from optevo.tasks.base import (
    BLOWUP,
    METRIC_DIRECTION,
    DivergenceWatch,
    Monitor,
    RunOutcome,
    RunRequest,
    finite_weights,
)

Split = tuple[Tensor, Tensor]
Loss = Literal["cross-entropy", "mse"] | Callable[[Tensor, Tensor], Tensor]
"""A built-in training loss by name, or a user's (model output, targets) -> scalar loss."""
SPLITS = ("train", "val", "test")


@dataclass(frozen=True, eq=False)
class TensorData:
    """Inputs and targets of each split, as tensors (class targets int64, the class on the
    last axis of the model's output: `(N,)` for one label, `(N, T)` for one per position).

    `info` holds what a model factory needs to know (input size, classes, vocabulary)."""

    name: str
    train: Split
    val: Split
    test: Split
    info: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for split in SPLITS:
            x, y = getattr(self, split)
            if len(x) != len(y):
                raise ValueError(f"{self.name} {split}: {len(x)} inputs but {len(y)} targets")
            if len(x) == 0:
                raise ValueError(f"{self.name}: the {split} split is empty")

    def split(self, name: str) -> Split:
        if name not in SPLITS:
            raise ValueError(f"unknown split {name!r}; known: {', '.join(SPLITS)}")
        result: Split = getattr(self, name)
        return result

    def __repr__(self) -> str:
        sizes = ", ".join(f"{s}={len(self.split(s)[1])}" for s in SPLITS)
        return f"TensorData({self.name!r}, {sizes}, x{tuple(self.train[0].shape[1:])})"


def _flat(out: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """Class scores as (N, C) and targets as (N,) (one row per position of a sequence)."""
    return out.reshape(-1, out.shape[-1]), y.reshape(-1)


def training_loss(kind: Loss, out: Tensor, y: Tensor) -> Tensor:
    if callable(kind):
        return kind(out, y)
    if kind == "mse":
        return F.mse_loss(out, y)
    return F.cross_entropy(*_flat(out, y))


def _sums(metric: str, out: Tensor, y: Tensor) -> tuple[float, int]:
    """(sum over the batch, count) of the metric's per-item quantity."""
    if metric == "mse":
        return float(F.mse_loss(out.float(), y, reduction="sum")), y.numel()
    logits, target = _flat(out.float(), y)
    if metric == "accuracy":
        right = (logits.argmax(1) == target) & torch.isfinite(logits).all(1)  # NaN: wrong
        return float(right.sum()), target.numel()
    return float(F.cross_entropy(logits, target, reduction="sum")), target.numel()


def worst_score(metric: str, y_train: Tensor, y: Tensor) -> float:
    """The worst score a run gets on a split with targets `y`: 0 for accuracy, else the
    trivial predictor's loss (the training targets' mean for MSE, their class frequencies
    for cross-entropy and bits per character)."""
    if metric == "accuracy":
        return 0.0
    if metric == "mse":
        mean = y_train.float().mean(0, keepdim=True)
        return float(((y.float() - mean) ** 2).mean())
    classes = max(int(y_train.max()), int(y.max())) + 1
    counts = torch.bincount(y_train.reshape(-1), minlength=classes).double() + 0.5
    logp = (counts / counts.sum()).log()
    nats = float(-logp[y.reshape(-1)].mean())
    return nats / math.log(2) if metric == "bits-per-char" else nats


def trivial_score(metric: str, y_train: Tensor, y: Tensor) -> float:
    """The trivial predictor's score on a split with targets `y`, which the suite fitness
    normalises by: `worst_score` for a loss; for accuracy, the split's share of the training
    targets' most frequent class (chance), not the floor of 0."""
    if metric != "accuracy":
        return worst_score(metric, y_train, y)
    majority = int(torch.bincount(y_train.reshape(-1)).argmax())
    return float((y.reshape(-1) == majority).double().mean())


class _Scored(Protocol):
    @property
    def higher_is_better(self) -> bool: ...

    def worst(self, split: str) -> float: ...

    def score(self, model: nn.Module, split: str) -> float: ...


def train_steps(
    model: nn.Module,
    opt: torch.optim.Optimizer,
    batches: Iterator[tuple[Tensor, Tensor]],
    loss: Loss,
    steps: int,
    device: str,
    stop: Callable[[int], bool] | None = None,
    watch: DivergenceWatch | None = None,
    start: int = 0,
) -> tuple[str, int, DivergenceWatch]:
    """The training loop of every tensor-like task: batches of `batches` until `steps` are
    done, stopped by the one divergence rule (`DivergenceWatch`), or by `stop(done)` returning
    True (a monitor, `checked_stop`); ("ok", "diverged" or "stopped", steps done, the watch).
    A resumable run (`TensorSession`) passes its own `watch` and the steps it has `start`ed
    from: it trains steps `start + 1 .. steps`."""
    watch = DivergenceWatch(device, steps) if watch is None else watch
    status, done = "ok", start
    model.train()
    # zip takes from the range first: a segment's end draws no batch of the next segment
    for _, (x, y) in zip(range(steps - start), batches, strict=False):
        value = training_loss(loss, model(x), y)
        opt.zero_grad(set_to_none=True)
        value.backward()
        opt.step()
        done += 1
        if watch.diverged(done, value, force=done == steps):
            status = "diverged"
            break
        if stop is not None and done < steps and stop(done):
            status = "stopped"
            break
    return status, done, watch


def checked_stop(
    runner: _Scored, model: nn.Module, split: str, steps: int, monitor: Monitor | None
) -> tuple[Callable[[int], bool] | None, dict[str, float]]:
    """`train_steps`'s `stop` for a monitor: at each of its checkpoints the model is scored
    on `split` (then trained on) and the monitor decides; the dict holds the last score."""
    if monitor is None:
        return None, {}
    at = set(monitor.checkpoints(steps))
    last: dict[str, float] = {}

    def stop(done: int) -> bool:
        if done not in at:
            return False
        score = runner.score(model, split)
        last["score"] = score
        return bool(math.isfinite(score) and monitor(done, score)) or not math.isfinite(score)

    return stop, last


def finish_run(
    runner: _Scored,
    model: nn.Module,
    split: str,
    status: str,
    done: int,
    watch: DivergenceWatch,
    t0: float,
    stopped_at: float = math.nan,
) -> RunOutcome:
    """A run's outcome: diverged when a weight is not finite; the worst score when diverged
    or not finite, and never worse than it (see the module); a run its monitor stopped keeps
    the score it was stopped at (`stopped_at`)."""
    if status == "ok" and not finite_weights(model):
        status = "diverged"
    worst = runner.worst(split)
    if status == "stopped" and not math.isfinite(stopped_at):
        status = "diverged"  # a checkpoint's score was not finite
    if status == "stopped":
        score = stopped_at
    else:
        score = worst if status == "diverged" else runner.score(model, split)
    if not math.isfinite(score):
        score = worst
    score = max(score, worst) if runner.higher_is_better else min(score, worst)
    extra = {"train_loss": watch.last} if math.isfinite(watch.last) else {}
    return RunOutcome(score, status, time.perf_counter() - t0, done, extra)


def _finish(metric: str, total: float, count: int) -> float:
    mean = total / count
    return mean / math.log(2) if metric == "bits-per-char" else mean


class TensorRunner:
    """Runs of one tensor task: its data (moved to the device once), model factory, training
    loss and metric."""

    def __init__(
        self,
        data: TensorData,
        make_model: Callable[[], nn.Module],
        loss: Loss,
        metric: str,
        batch_size: int,
        device: str = "cpu",
        eval_batch_size: int = 1024,
        channels_last: bool = False,
    ) -> None:
        if metric not in METRIC_DIRECTION or metric == "perplexity":
            raise ValueError(
                f"a tensor task's metric is accuracy, mse, cross-entropy or "
                f"bits-per-char, not {metric!r}"
            )
        n = len(data.train[1])
        if n < batch_size:
            raise ValueError(f"{data.name}: batch size {batch_size} exceeds the {n} examples")
        self.data, self.make_model, self.loss, self.metric = data, make_model, loss, metric
        self.batch_size, self.device, self.eval_batch_size = batch_size, device, eval_batch_size
        self.channels_last = channels_last
        self._on_device = {s: tuple(self._place(t) for t in data.split(s)) for s in SPLITS}
        self._worst: dict[str, float] = {}

    def _place(self, t: Tensor) -> Tensor:
        t = t.to(self.device)
        if self.channels_last and t.ndim == 4:  # convolutions on a CPU: about 1.15x faster
            t = t.contiguous(memory_format=torch.channels_last)
        return t

    @property
    def higher_is_better(self) -> bool:
        return METRIC_DIRECTION[self.metric] == "max"

    def worst(self, split: str) -> float:
        """The worst score on `split`: 0 for accuracy, else the trivial predictor's loss."""
        if split not in self._worst:
            self._worst[split] = self._trivial(split)
        return self._worst[split]

    def _trivial(self, split: str) -> float:
        return worst_score(self.metric, self.data.train[1], self.data.split(split)[1])

    def trivial(self, split: str) -> float:
        """The trivial predictor's score on `split` (`trivial_score`)."""
        return trivial_score(self.metric, self.data.train[1], self.data.split(split)[1])

    def run(self, request: RunRequest, monitor: Monitor | None = None) -> RunOutcome:
        """One run (see the module); a `monitor` is asked at its checkpoints whether to stop."""
        t0 = time.perf_counter()
        seed, steps = request.seed, request.steps
        torch.manual_seed(seed)
        model = self.new_model()
        opt = request.build(model.parameters())
        stop, last = checked_stop(self, model, request.split, steps, monitor)
        status, done, watch = train_steps(
            model, opt, self._batches(seed), self.loss, steps, self.device, stop
        )
        at = last.get("score", math.nan)
        return finish_run(self, model, request.split, status, done, watch, t0, at)

    def new_model(self) -> nn.Module:
        """A fresh model on the device, its initial weights drawn from torch's global RNG."""
        model = self.make_model().to(self.device)
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        return model

    def start(self, request: RunRequest) -> TensorSession:
        """`request`'s run as a resumable session (`TensorSession`): trained in segments, each
        scored, up to `request.steps`."""
        return TensorSession(self, request)

    def _batches(self, seed: int) -> Iterator[tuple[Tensor, Tensor]]:
        """Training batches without end: epochs of a random permutation drawn by a generator
        seeded with `seed` (the same batches for the same seed, whatever the optimizer)."""
        x_all, y_all = self._on_device["train"]
        order = torch.Generator().manual_seed(seed)
        while True:
            perm = torch.randperm(len(y_all), generator=order)
            for pos in range(0, len(perm) - self.batch_size + 1, self.batch_size):
                idx = perm[pos : pos + self.batch_size].to(self.device)
                yield x_all[idx], y_all[idx]

    @torch.no_grad()
    def score(self, model: nn.Module, split: str) -> float:
        """The metric of `model` on `split` (may be non-finite; `run` clips it)."""
        x_all, y_all = self._on_device[split]
        model.eval()
        total, count = 0.0, 0
        for i in range(0, len(y_all), self.eval_batch_size):
            out = model(x_all[i : i + self.eval_batch_size])
            s, n = _sums(self.metric, out, y_all[i : i + self.eval_batch_size])
            total, count = total + s, count + n
        model.train()
        return _finish(self.metric, total, count)


class TensorSession:
    """One run of a `TensorRunner` trained in segments: `advance(to)` trains up to step `to`
    and returns the outcome a run of `to` steps (of the same schedule, `request.total_steps`
    long) gets; the next `advance` trains on from there. Advanced in any number of segments,
    a session ends with the weights, score and divergence of one uninterrupted `run` (its
    own copy of torch's RNG state is swapped in for each segment, so sessions advanced in
    turn do not share dropout draws). The screen of a fitness advances a rate to its screen's
    end and, if the rate is chosen, on to the full run: the screen's steps are not trained
    twice. A diverged session stays diverged."""

    def __init__(self, runner: TensorRunner, request: RunRequest) -> None:
        self.runner, self.request = runner, request
        self.t0 = time.perf_counter()
        torch.manual_seed(request.seed)
        self.model = runner.new_model()
        self.opt = request.build(self.model.parameters())
        self._rng = _rng_state(runner.device)
        self._batches = runner._batches(request.seed)
        self.watch = DivergenceWatch(runner.device, request.steps)
        self.done = 0
        self.last: RunOutcome | None = None

    def advance(self, to: int) -> RunOutcome:
        """Train up to step `to` (at most `request.steps`) and score the request's split; the
        outcome's `steps` is every step the session has trained."""
        if not self.done <= to <= self.request.steps:
            raise ValueError(f"advance to {to}: outside {self.done}..{self.request.steps}")
        if self.last is not None and self.last.status == "diverged":
            return self.last
        runner = self.runner
        outer = _rng_state(runner.device)
        _set_rng_state(runner.device, self._rng)
        try:
            status, done, _ = train_steps(
                self.model,
                self.opt,
                self._batches,
                runner.loss,
                to,
                runner.device,
                watch=self.watch,
                start=self.done,
            )
        finally:
            self._rng = _rng_state(runner.device)
            _set_rng_state(runner.device, outer)
        self.done = done
        split = self.request.split
        self.last = finish_run(runner, self.model, split, status, done, self.watch, self.t0)
        return self.last


def _rng_state(device: str) -> tuple[Tensor, Tensor | None]:
    cuda = torch.cuda.get_rng_state(device) if str(device).startswith("cuda") else None
    return torch.get_rng_state(), cuda


def _set_rng_state(device: str, state: tuple[Tensor, Tensor | None]) -> None:
    torch.set_rng_state(state[0])
    if state[1] is not None:
        torch.cuda.set_rng_state(state[1], device)


__all__ = [
    "BLOWUP",
    "SPLITS",
    "TensorData",
    "TensorRunner",
    "TensorSession",
    "finish_run",
    "train_steps",
    "training_loss",
    "trivial_score",
    "worst_score",
]
