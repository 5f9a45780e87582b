"""The CUDA calls of the packed layout's graphed step, behind one backend (so that the tests
drive the same control flow on a CPU with a stand-in)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

GRAPH_WARMUP_STEPS = 3
"""Steps run eagerly (on a side stream) before the training step is captured as a CUDA graph."""

STEP_VALUE_BUFFERS = 4
"""Pinned host buffers the per-step values are copied from, in turn (so the host never writes
one that a copy still reads, and runs at most this many steps ahead of the device)."""


class CudaGraphs:
    """What the packed layout asks of CUDA to capture and replay its step: pinned host
    memory, events, a side stream for the warm-up steps, the capture."""

    pin_memory = True

    def record_event(self) -> Any:
        event = torch.cuda.Event()
        event.record()
        return event

    def side_stream(self, fn: Callable[[], None], device: str) -> None:
        side = torch.cuda.Stream(device=device)
        side.wait_stream(torch.cuda.current_stream(device))
        with torch.cuda.stream(side):
            fn()
        torch.cuda.current_stream(device).wait_stream(side)

    def capture(self, fn: Callable[[], None], generators: list[torch.Generator]) -> Any:
        """`fn`'s kernels as a CUDA graph (not run: `replay()` runs them), with the draws of
        `generators` advancing at every replay as they would eagerly."""
        graph = torch.cuda.CUDAGraph()
        if generators and not hasattr(graph, "register_generator_state"):
            raise RuntimeError(
                f"torch {torch.__version__} cannot capture draws of its own generators "
                "(CUDAGraph.register_generator_state is torch 2.5 and newer)"
            )
        for gen in generators:
            graph.register_generator_state(gen)
        with torch.cuda.graph(graph):
            fn()
        return graph

    def synchronize(self, device: str) -> None:
        torch.cuda.synchronize(device)


def graph_backend(device: str) -> CudaGraphs | None:
    """The CUDA-graph backend for a run on `device` (None: the fixed-buffer step runs eagerly)."""
    return CudaGraphs() if device.startswith("cuda") else None
