"""The validate tests train on one torch thread (as the suites' budgets are measured; two
threads on a busy 2-core machine make these tiny models ten times slower) and restore torch's
thread count afterwards (`--threads` in a CLI test sets it for the whole process)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
