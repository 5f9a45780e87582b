"""Decay functions (SPEC 2): tiny graphs over the 14 schedules of the step t."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from optevo.space.constants import default_space
from optevo.space.graph import GraphMixin, Node, canonical_expr, fold_graph, validate_graph
from optevo.space.mutation import (
    GRAPH_MUTATIONS,
    draw_graph,
    graph_config_space,
    mutate_graph_node,
    pick_weighted,
    replace_node,
)
from optevo.space.ops import DECAY_BINARY, DECAY_UNARY, OPERATIONS, SCHEDULES, schedule_table
from optevo.space.render import graph_sympy, graph_sympy_parts, graph_text

if TYPE_CHECKING:
    from optevo.space.config import SpaceConfig


@dataclass(frozen=True)
class DecayGenome(GraphMixin):
    """A decay function: hidden node(s) and an output node over the schedules of SPEC 2.

    Its value depends only on the step t (and the run length T), so a run evaluates it once
    as a table of T values (`table`).
    """

    hidden: tuple[Node, ...]
    output: Node

    def __post_init__(self) -> None:
        if not isinstance(self.hidden, tuple) or not all(isinstance(n, Node) for n in self.hidden):
            raise ValueError("decay: hidden must be a tuple of Node")
        if not isinstance(self.output, Node):
            raise ValueError("decay: output must be a Node")
        for node in (*self.hidden, self.output):
            if any(d is not None for d in node.decays):
                raise ValueError("decay: a decay function cannot itself carry decay functions")
        validate_graph(self.hidden, self.output, SCHEDULES, DECAY_UNARY, DECAY_BINARY, "decay")

    # -- evaluation -----------------------------------------------------------------------

    def table(self, T: int) -> np.ndarray:
        """The decay values at t = 0..T-1 (float64, read-only)."""
        return _table(self, T)

    def window(self, T: int, start: int, stop: int) -> np.ndarray:
        """`table(T)[start:stop]`, computed for those steps only (not cached)."""
        return _evaluate(self, T, start, stop)

    def is_valid(self, T: int | None = None) -> bool:
        """SPEC 2's check: every value at t = 0..T-1 is finite and within [0, 1] (T defaults
        to the default space's `decay_check_steps`)."""
        values = self.table(default_space().decay_check_steps if T is None else T)
        return bool(np.all(np.isfinite(values)) and values.min() >= 0.0 and values.max() <= 1.0)

    # -- forms ----------------------------------------------------------------------------

    def canonical(self) -> str:
        return self._canonical

    @functools.cached_property
    def _canonical(self) -> str:
        return canonical_expr(self.hidden, self.output)

    def __str__(self) -> str:
        return graph_text(self.hidden, self.output, lambda ref: ref)

    def to_sympy(self) -> Any:
        return graph_sympy(self.hidden, self.output, _schedule_symbol)

    def to_latex(self) -> str:
        """LaTeX of the decay function (a large one names its shared and deep nodes)."""
        import sympy as sp

        expr, definitions = graph_sympy_parts(self.hidden, self.output, _schedule_symbol)
        parts = [sp.latex(expr), *(f"h_{{{i}}} = {sp.latex(v)}" for i, v in definitions)]
        return r",\ ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "hidden": [{"op": n.op, "inputs": list(n.inputs)} for n in self.hidden],
            "output": {"op": self.output.op, "inputs": list(self.output.inputs)},
        }

    # -- search ---------------------------------------------------------------------------

    @classmethod
    def random(cls, rng: np.random.Generator, config: SpaceConfig | None = None) -> DecayGenome:
        """A random decay function whose values stay within [0, 1] (redrawn until they do);
        `config` defaults to the default space."""
        config = default_space() if config is None else config
        space = _space(config)
        for _ in range(config.max_tries):
            hidden, output = draw_graph(rng, space, None)
            try:
                decay = cls(hidden, output)
            except ValueError:
                continue
            if decay.is_valid(config.decay_check_steps):
                return decay
        raise RuntimeError(f"no valid decay function in {config.max_tries} draws")

    def mutate(self, rng: np.random.Generator, config: SpaceConfig | None = None) -> DecayGenome:
        """One of the first three mutations of SPEC 1.5 on a random active node (`config`
        defaults to the default space)."""
        config = default_space() if config is None else config
        space = _space(config)
        names = self.active_names()
        weights = config.mutation_weights[: len(GRAPH_MUTATIONS)]
        if sum(weights) <= 0:  # e.g. "decay-only": the decay graph itself mutates as usual
            weights = default_space().mutation_weights[: len(GRAPH_MUTATIONS)]
        for _ in range(config.max_tries):
            name = names[int(rng.integers(len(names)))]
            kind = pick_weighted(rng, GRAPH_MUTATIONS, weights)
            node = mutate_graph_node(rng, space, self.node(name), name, kind, config.swap_p)
            if node is None:
                continue
            hidden, output = replace_node(self.hidden, self.output, name, node)
            try:
                child = DecayGenome(hidden, output)
            except ValueError:
                continue
            if child != self and child.is_valid(config.decay_check_steps):
                return child
        raise RuntimeError(f"no valid decay mutation in {config.max_tries} draws")


def _space(config: SpaceConfig) -> Any:
    return graph_config_space(config, tuple(SCHEDULES), DECAY_UNARY, DECAY_BINARY, decay=True)


def _schedule_symbol(ref: str) -> Any:
    import sympy as sp

    return sp.Function(ref)(_t_symbol())


@functools.cache
def _t_symbol() -> Any:
    import sympy as sp

    return sp.Symbol("t", real=True)


@functools.lru_cache(maxsize=4096)
def _table(decay: DecayGenome, T: int) -> np.ndarray:
    out = _evaluate(decay, T, 0, T)
    out.setflags(write=False)
    return out


def _evaluate(decay: DecayGenome, T: int, start: int, stop: int) -> np.ndarray:
    if (start, stop) == (0, T):
        leaves = {name: _schedule(name, T) for name in _leaves(decay)}
    else:
        leaves = {name: schedule_table(name, T, start, stop) for name in _leaves(decay)}

    def apply(op: str, args: list[torch.Tensor]) -> torch.Tensor:
        return OPERATIONS[op].fn(*args)

    with np.errstate(all="ignore"):
        value = fold_graph(decay.hidden, decay.output, leaves.__getitem__, apply, _undecayed)
        out: np.ndarray = value.expand(stop - start).numpy().copy()
        return out


def _undecayed(_decay: Any, inner: torch.Tensor) -> torch.Tensor:
    return inner


@functools.lru_cache(maxsize=256)
def _schedule(name: str, T: int) -> torch.Tensor:
    """A whole schedule table, shared by the decay functions evaluated at this T (the
    operations read their inputs and never write them)."""
    return schedule_table(name, T)


def _leaves(decay: DecayGenome) -> set[str]:
    return {r for n in (*decay.hidden, decay.output) for r in n.inputs if r in SCHEDULES}
