"""The validate tests train on one torch thread (as the suites' budgets are measured; two
threads on a busy 2-core machine make these tiny models ten times slower) and restore torch's
thread count afterwards (`--threads` in a CLI test sets it for the whole process)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from helpers.threads import torch_threads


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    with torch_threads(1):
        yield
