"""A user's task module for tests/tasks/test_user_tasks.py (`helpers.user_tasks:teacher`):
a task named by `package.module:NAME`."""

from __future__ import annotations

import torch
from torch import nn

from optevo.tasks.user import task


def _model() -> nn.Module:
    return nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 3))


def teacher() -> object:
    """A function returning a task (loaded lazily)."""
    g = torch.Generator().manual_seed(1)
    x = torch.randn(400, 8, generator=g)
    y = (x @ torch.randn(8, 3, generator=g)).argmax(1)
    return task("teacher", _model, data=(x, y), steps=40, batch_size=16, reference_lr=1e-2)


not_a_task = 42
