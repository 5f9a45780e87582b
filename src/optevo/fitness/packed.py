"""The packed layout: all K copies as one `GroupedConvNet` (grouped convolutions). Copies of
one genome and schedule are adjacent rows of the (K, N) parameter matrix, stepped by that
genome's compiled rule (copies of one genome share one rule evaluation), one learning rate per
row. For a GPU, where one small model leaves most of the chip idle.

With `TrainSpec.cuda_graphs` the step runs from fixed buffers, with the learning rates,
momentum, bias corrections and decay values read from device tensors written before each
step: on CUDA it is captured once as a CUDA graph (after a few warm-up steps on a side stream)
and replayed; elsewhere the same code runs eagerly, with the plain step's numbers."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from optevo.data import ImageSet
from optevo.fitness.cuda_graphs import GRAPH_WARMUP_STEPS, STEP_VALUE_BUFFERS, graph_backend
from optevo.fitness.layout import EpochStats, Layout, new_model, validate
from optevo.fitness.spec import CopySpec, TrainSpec, autocast
from optevo.models import grouped_from_models
from optevo.program import State, Workspace
from optevo.scheduled import ScheduledRule
from optevo.space.genome import Genome
from optevo.space.ops import OpContext


@dataclass
class RuleGroup:
    """The copies of one (genome, schedule): rows `start:stop` of the packed model."""

    scheduled: ScheduledRule
    start: int
    stop: int
    state: State
    peak: Tensor
    ctx: OpContext
    workspace: Workspace


class PackedLayout(Layout):
    """All K copies as one GroupedConvNet; copies of one genome and schedule are adjacent rows,
    stepped by that genome's compiled rule on their (rows, N) block of the parameter matrix.

    With `spec.cuda_graphs` the step reads everything from fixed buffers (`_static_step`):
    the batch, and the per-step scalars of every rule, one vector for all groups written
    before each step (`_load_step_values`). On CUDA that step is captured as a graph."""

    def __init__(
        self, copies: list[CopySpec], data: ImageSet, spec: TrainSpec, device: str
    ) -> None:
        self.data, self.spec, self.device = data, spec, device
        keys: dict[tuple[Genome, str], list[int]] = {}
        for i, c in enumerate(copies):
            keys.setdefault((c.genome, c.schedule or spec.schedule), []).append(i)
        order = [i for members in keys.values() for i in members]  # row -> copies index
        self.specs = [copies[i] for i in order]
        self.k = len(copies)
        self.output_order = [order.index(i) for i in range(self.k)]
        models = [new_model(data, spec, c.seed, device) for c in self.specs]
        model = grouped_from_models(models).to(device)
        if spec.channels_last:
            model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        del models
        self.model = model
        self.params = list(model.parameters())
        self.sizes = [v.numel() for v in model.copy_views(0)]
        flat = flatten_rows(model.stacked_views())
        self.groups: list[RuleGroup] = []
        start = 0
        for (genome, schedule), members in keys.items():
            stop = start + len(members)
            scheduled = ScheduledRule.create(
                genome, spec.total_steps, spec.warmup_steps, spec.hold_steps, schedule
            )
            rows = self.specs[start:stop]
            peak = torch.tensor([c.lr for c in rows], device=device, dtype=flat.dtype)
            rng = None
            if scheduled.rule.random:
                rng = torch.Generator(device=device).manual_seed(rows[0].seed)
            self.groups.append(
                RuleGroup(
                    scheduled,
                    start,
                    stop,
                    scheduled.init_state(flat[start:stop]),
                    peak.unsqueeze(1),
                    OpContext(generator=rng, segments=tuple(self.sizes)),
                    scheduled.workspace(flat[start:stop]),
                )
            )
            start = stop
        self.active = torch.ones(self.k, 1, dtype=torch.bool, device=device)
        # (K, N) buffers reused at every step, and their (K, *shape) views per parameter.
        shapes = [v.shape for v in model.stacked_views()]
        self.g = torch.empty_like(flat)
        self.g_views = row_views(self.g, shapes)
        self.w: Tensor | None = None
        if any(g.scheduled.rule.needs_weight for g in self.groups):
            self.w = torch.empty_like(flat)
            self.w_views = row_views(self.w, shapes)
        self.change = torch.empty_like(flat)
        self.change_views = row_views(self.change, shapes)
        self.zero = torch.zeros((), device=device, dtype=flat.dtype)
        self.static = spec.cuda_graphs
        self.backend = graph_backend(device) if self.static else None
        self.graph: Any = None  # the captured step, once captured
        self.use_graph = self.backend is not None
        self.warm_steps = 0
        self.x_static: Tensor | None = None
        self.y_static: Tensor | None = None
        if self.static:
            self._bind_step_values(flat)

    def _bind_step_values(self, flat: Tensor) -> None:
        """One device vector of every group's per-step scalars, each group's workspace bound
        to its slice."""
        sizes = [grp.scheduled.rule.delta_program.n_step_values for grp in self.groups]
        self.values = torch.zeros(sum(sizes), dtype=flat.dtype, device=self.device)
        pinned = self.backend is not None and self.backend.pin_memory
        self.values_host = [
            torch.zeros(sum(sizes), dtype=flat.dtype, pin_memory=pinned)
            for _ in range(STEP_VALUE_BUFFERS if self.backend is not None else 1)
        ]
        self.values_events: list[Any] = [None] * len(self.values_host)
        self.values_turn = 0
        for grp, part in zip(self.groups, self.values.split(sizes), strict=True):
            grp.workspace.bind_static(part, grp.peak)

    def _load_step_values(self, k: int) -> None:
        values = [v for grp in self.groups for v in grp.scheduled.step_values(k)]
        i = self.values_turn
        self.values_turn = (i + 1) % len(self.values_host)
        host = self.values_host[i]
        event = self.values_events[i]
        if event is not None:
            event.synchronize()  # the copy that last read this buffer is done
        host.copy_(torch.tensor(values, dtype=host.dtype))
        if self.use_graph and self.backend is not None:
            self.values.copy_(host, non_blocking=True)
            self.values_events[i] = self.backend.record_event()
        else:
            self.values.copy_(host)

    def train_step(self, x: Tensor, y: Tensor, k: int, stats: EpochStats) -> None:
        if not self.static:
            super().train_step(x, y, k, stats)
            return
        self._load_step_values(k)
        if self.x_static is None or self.y_static is None:
            self.x_static, self.y_static = torch.empty_like(x), torch.empty_like(y)
        self.x_static.copy_(x)
        self.y_static.copy_(y)
        if self.graph is not None:
            self.graph.replay()
        elif not self.use_graph or self.backend is None:
            self._static_step(stats)
        elif self.warm_steps < GRAPH_WARMUP_STEPS:
            # Warm-up (cuBLAS/cuDNN handles, autograd's buffers) off the capture's stream.
            self.backend.side_stream(lambda: self._static_step(stats), self.device)
            self.warm_steps += 1
        else:
            self._capture(stats)

    def _generators(self) -> list[torch.Generator]:
        gens = list(self.model.generators or [])
        gens += [grp.ctx.generator for grp in self.groups if grp.ctx.generator is not None]
        return gens

    def _capture(self, stats: EpochStats) -> None:
        """Capture the step as a CUDA graph and replay it (this step's update); on failure,
        warn and go on eagerly from the same buffers."""
        assert self.backend is not None
        try:
            graph = self.backend.capture(lambda: self._static_step(stats), self._generators())
        except Exception as exc:  # any failure: this run goes on eagerly
            warnings.warn(
                f"CUDA graph capture failed ({exc}); training goes on without graphs",
                RuntimeWarning,
                stacklevel=2,
            )
            self.backend.synchronize(self.device)
            self.use_graph = False
            self._static_step(stats)
            return
        self.graph = graph
        graph.replay()

    def _static_step(self, stats: EpochStats) -> None:
        """The training step from the fixed buffers: what the CUDA graph holds."""
        assert self.x_static is not None and self.y_static is not None
        logits = self.forward(self.x_static, cache=not self.use_graph)
        losses = self.losses(logits, self.y_static)
        self._update(losses, None)
        stats.add(losses, logits, self.y_static)

    def forward(self, x: Tensor, cache: bool = True) -> Tensor:
        self.model.train()
        with autocast(self.spec, self.device, cache):
            logits: Tensor = self.model(x)
        return logits

    def losses(self, logits: Tensor, y: Tensor) -> Tensor:
        k = self.k
        return (
            F.cross_entropy(logits.float().flatten(0, 1), y.repeat(k), reduction="none")
            .view(k, -1)
            .mean(1)
        )

    def step(self, losses: Tensor, k: int) -> None:
        self._update(losses, k)

    def _update(self, losses: Tensor, k: int | None) -> None:
        """Backward, then every group's rule on its rows (k None: the step's scalars come
        from the bound step values), the change masked to the active copies."""
        for p in self.params:
            p.grad = None
        losses.sum().backward()
        with torch.no_grad():
            torch._foreach_copy_(self.g_views, self.model.stacked_grad_views())
            if self.w is not None:
                torch._foreach_copy_(self.w_views, self.model.stacked_views())
            for grp in self.groups:
                rows = slice(grp.start, grp.stop)
                w = None if self.w is None else self.w[rows]
                if k is None:
                    delta = grp.scheduled.delta_static(
                        self.g[rows], grp.state, grp.workspace, w, grp.ctx
                    )
                else:
                    delta = grp.scheduled.delta(
                        self.g[rows], grp.state, k, grp.peak, w, grp.ctx, grp.workspace
                    )
                torch.where(self.active[rows], delta, self.zero, out=self.change[rows])
            torch._foreach_add_(self.model.stacked_views(), self.change_views)

    def validate(self) -> list[tuple[float, float]]:
        return validate(self.model, self.data, self.spec, self.device)

    def retire(self, i: int) -> None:
        if not bool(self.active[i]):
            return
        self.active[i] = False
        grp = next(g for g in self.groups if g.start <= i < g.stop)
        with torch.no_grad():
            for view in self.model.copy_views(i):
                view.zero_()  # so NaNs cannot leak into anything
            for buf in grp.state.values():
                buf[i - grp.start].zero_()

    def any_active(self) -> bool:
        return bool(self.active.any())


def flatten_rows(stacked: list[Tensor]) -> Tensor:
    """(K, *shape_j) tensors -> one (K, sum_j numel_j) matrix (a copy)."""
    return torch.cat([t.reshape(t.shape[0], -1) for t in stacked], dim=1)


def row_views(flat: Tensor, shapes: list[torch.Size]) -> list[Tensor]:
    """A (K, N) matrix as (K, *shape_j) views, the inverse of `flatten_rows`."""
    sizes = [math.prod(shape[1:]) for shape in shapes]
    parts = flat.split(sizes, dim=1)
    return [part.view(shape) for part, shape in zip(parts, shapes, strict=True)]
