"""The sequential layout: one ConvNet with an `EvolvedOptimizer` per copy (the drop-in
optimizer, exactly as a user's training script would run it). Fastest on a CPU, where the
forward/backward of one base-48 model already fills the cores."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from optevo.data import ImageSet
from optevo.fitness.layout import Layout, new_model, validate
from optevo.fitness.spec import CopySpec, TrainSpec, autocast
from optevo.optim.evolved import EvolvedOptimizer


class SequentialLayout(Layout):
    """One copy: a ConvNet and its `EvolvedOptimizer`."""

    def __init__(self, copy: CopySpec, data: ImageSet, spec: TrainSpec, device: str) -> None:
        self.specs, self.k, self.output_order = [copy], 1, [0]
        self.data, self.spec, self.device = data, spec, device
        self.model = new_model(data, spec, copy.seed, device)
        self.opt = EvolvedOptimizer(
            self.model.parameters(),
            copy.genome,
            copy.lr,
            spec.total_steps,
            spec.warmup_steps,
            spec.hold_steps,
            copy.schedule or spec.schedule,
            seed=copy.seed,
        )
        self.active = True

    def forward(self, x: Tensor) -> Tensor:
        self.model.train()
        with autocast(self.spec, self.device):
            logits: Tensor = self.model(x)
        return logits.unsqueeze(0)

    def losses(self, logits: Tensor, y: Tensor) -> Tensor:
        return F.cross_entropy(logits[0].float(), y).reshape(1)

    def step(self, losses: Tensor, k: int) -> None:
        self.opt.zero_grad(set_to_none=True)
        losses.sum().backward()
        self.opt.step()

    def validate(self) -> list[tuple[float, float]]:
        return validate(self.model, self.data, self.spec, self.device)

    def retire(self, i: int) -> None:
        self.active = False

    def any_active(self) -> bool:
        return self.active
