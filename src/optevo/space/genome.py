"""The optimizer genome (SPEC 1): the weight-update equation as a graph, plus momentum type.

A `Genome` is immutable plain data. It is built and checked from the operation table, goes
to and from JSON, has a canonical form and a stable hash, prints as an equation, and is
drawn and mutated by pure functions of a `numpy.random.Generator`.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from optevo.space.constants import MOMENTUM_TYPES, MUTATIONS, default_space
from optevo.space.decay import DecayGenome
from optevo.space.graph import (
    GraphError,
    GraphMixin,
    Node,
    canonical_expr,
    parse_hidden,
    validate_graph,
)
from optevo.space.limits import MAX_TOTAL_NODES
from optevo.space.mutation import (
    GraphSpace,
    draw_graph,
    graph_config_space,
    mutate_graph_node,
    pick_weighted,
    replace_node,
)
from optevo.space.ops import OPERANDS, UPDATE_BINARY, UPDATE_UNARY
from optevo.space.render import graph_sympy, graph_sympy_parts, graph_text, graph_text_parts

if TYPE_CHECKING:
    from optevo.space.config import SpaceConfig

SCHEMA = "optevo.genome/1"
"""The JSON schema version written by `Genome.to_json` and required by `Genome.from_json`."""


@dataclass(frozen=True)
class Genome(GraphMixin):
    """An optimizer: the update `u` as a graph over the operands of SPEC 1.1.

    `hidden` are the free-floating hidden nodes (`h0`, `h1`, ...), `output` the output node,
    `momentum` one of "none", "momentum", "nesterov", and `flipped` reverses the sign of `u`
    (set by the integrity check). Construction validates every structural rule and raises
    ValueError naming the problem.
    """

    hidden: tuple[Node, ...]
    output: Node
    momentum: str = "none"
    flipped: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.hidden, tuple) or not all(isinstance(n, Node) for n in self.hidden):
            raise ValueError("genome: hidden must be a tuple of Node")
        if not isinstance(self.output, Node):
            raise ValueError("genome: output must be a Node")
        if self.momentum not in MOMENTUM_TYPES:
            raise ValueError(
                f"genome: unknown momentum type {self.momentum!r}; expected one of {MOMENTUM_TYPES}"
            )
        if not isinstance(self.flipped, bool):
            raise ValueError("genome: flipped must be a bool")
        total = len(self.hidden) + 1
        for node in (*self.hidden, self.output):
            if not all(d is None or isinstance(d, DecayGenome) for d in node.decays):
                raise ValueError("genome: a decay function must be a DecayGenome or None")
            total += sum(len(d.hidden) + 1 for d in node.decays if d is not None)
        if total > MAX_TOTAL_NODES:
            raise GraphError(
                f"genome: {total:,} nodes with its decay functions, more than the limit of "
                f"{MAX_TOTAL_NODES:,}"
            )
        validate_graph(self.hidden, self.output, OPERANDS, UPDATE_UNARY, UPDATE_BINARY, "genome")

    # -- identity -------------------------------------------------------------------------

    def canonical(self) -> str:
        """Canonical form: the active graph only, commutative inputs sorted, plus the genes
        that change behaviour (momentum type, sign)."""
        return _canonical(self)

    def canonical_hash(self) -> str:
        """SHA-256 of the canonical form: stable across processes and versions."""
        return _hash(self)

    # -- JSON -----------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "momentum": self.momentum,
            "flipped": self.flipped,
            "hidden": [_node_dict(n) for n in self.hidden],
            "output": _node_dict(self.output),
        }

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_json(cls, text: str | bytes) -> Genome:
        """Parse and validate a genome; any problem is a ValueError that names it."""
        from optevo.space.serialize import genome_from_json

        return genome_from_json(text)

    @classmethod
    def from_dict(cls, obj: Any) -> Genome:
        from optevo.space.serialize import genome_from_obj

        return genome_from_obj(obj)

    # -- forms ----------------------------------------------------------------------------

    def decay_functions(self) -> list[DecayGenome]:
        """The decay functions on active connections, in order of appearance (deduplicated)."""
        seen: dict[DecayGenome, None] = {}
        for name in self.active_names():
            for d in self.node(name).decays:
                if d is not None:
                    seen.setdefault(d)
        return list(seen)

    def equation(self) -> str:
        """The update as one readable line, decay functions named d1, d2, ...

        A large graph (one that shares subexpressions many times over, or a long chain)
        reads `<expression> where h0 = ...; h3 = ...`: its shared and deep nodes are named."""
        names = self._decay_names()
        return graph_text(
            self.hidden, self.output, lambda r: r, lambda d: names[d], negate=self.flipped
        )

    def __str__(self) -> str:
        names = self._decay_names()
        body, definitions = graph_text_parts(
            self.hidden, self.output, lambda r: r, lambda d: names[d], negate=self.flipped
        )
        lines = [f"u = {body}", *(f"  {name} = {text}" for name, text in definitions)]
        lines.append(f"momentum: {self.momentum}")
        for i, d in enumerate(self.decay_functions()):
            lines.append(f"d{i + 1}(t) = {d}")
        return "\n".join(lines)

    def _decay_names(self) -> dict[DecayGenome, str]:
        return {d: f"d{i + 1}(t)" for i, d in enumerate(self.decay_functions())}

    def _decay_symbols(self) -> dict[DecayGenome, Any]:
        import sympy as sp

        return {
            d: sp.Function(f"d_{i + 1}", real=True)(sp.Symbol("t", real=True))
            for i, d in enumerate(self.decay_functions())
        }

    def to_sympy(self) -> Any:
        """The update as one sympy expression (a ValueError for a graph too deep for it)."""
        decays = self._decay_symbols()
        expr = graph_sympy(self.hidden, self.output, _operand_symbol, lambda d: decays[d])
        return -expr if self.flipped else expr

    def to_latex(self) -> str:
        """The update as LaTeX, with the momentum type and decay functions (via sympy).

        A large graph names its shared and deep nodes `h_i` and defines them after `u`."""
        import sympy as sp

        names = {_operand_symbol(n): OPERANDS[n].latex for n in OPERANDS}
        decays = self._decay_symbols()
        expr, definitions = graph_sympy_parts(
            self.hidden, self.output, _operand_symbol, lambda d: decays[d]
        )
        body = sp.latex(-expr if self.flipped else expr, symbol_names=names)
        parts = [f"u = {body}"]
        for i, value in definitions:
            parts.append(f"h_{{{i}}} = {sp.latex(value, symbol_names=names)}")
        for i, d in enumerate(self.decay_functions()):
            parts.append(f"d_{{{i + 1}}}(t) = {d.to_latex()}")
        parts.append(rf"\text{{momentum: {self.momentum}}}")
        return r" \\ ".join(parts)

    # -- proposals (pure structure; accepting a candidate is the search layer's job) ------

    @classmethod
    def propose(cls, rng: np.random.Generator, config: SpaceConfig | None = None) -> Genome | None:
        """One random draw of SPEC 1.4, or None when its active graph has a cycle.

        Not integrity-checked: `optevo.search.random_genome` redraws until a draw passes.
        `config` defaults to the default space.
        """
        space_config = default_space() if config is None else config
        space = _space(space_config)

        def decayer(r: np.random.Generator) -> DecayGenome | None:
            if r.random() < space_config.decay_p:
                return DecayGenome.random(r, space_config)
            return None

        hidden, output = draw_graph(rng, space, decayer)
        momentum = MOMENTUM_TYPES[int(rng.integers(len(MOMENTUM_TYPES)))]
        try:
            return cls(hidden, output, momentum)
        except GraphError:
            return None

    def propose_mutation(
        self, rng: np.random.Generator, config: SpaceConfig | None = None
    ) -> Genome | None:
        """One SPEC 1.5 mutation, or None when it does not apply or makes a cycle.

        The child has `flipped` cleared; `optevo.search.mutate_genome` redraws until a child
        passes the integrity check (which sets the flag again) and is new. `config` defaults
        to the default space.
        """
        config = default_space() if config is None else config
        return self._mutate_once(rng, _space(config), config)

    def with_flipped(self, flipped: bool) -> Genome:
        """This genome with the sign flag set to `flipped`."""
        if flipped == self.flipped:
            return self
        return Genome(self.hidden, self.output, self.momentum, flipped)

    def _mutate_once(
        self, rng: np.random.Generator, space: GraphSpace, config: SpaceConfig
    ) -> Genome | None:
        names = self.active_names()
        name = names[int(rng.integers(len(names)))]
        kind = pick_weighted(rng, MUTATIONS, config.mutation_weights)
        node = self.node(name)
        if kind == "momentum":
            others = [m for m in MOMENTUM_TYPES if m != self.momentum]
            return Genome(self.hidden, self.output, others[int(rng.integers(2))], False)
        if kind == "decay":
            side = int(rng.integers(node.arity))
            decays = list(node.decays)
            current = decays[side]
            if current is None:
                decays[side] = DecayGenome.random(rng, config)
            elif rng.random() < config.decay_delete_p:
                decays[side] = None
            else:
                decays[side] = current.mutate(rng, config)
            new: Node | None = node.replace(decays=tuple(decays))
        else:
            new = mutate_graph_node(rng, space, node, name, kind, config.swap_p)
        if new is None:
            return None
        hidden, output = replace_node(self.hidden, self.output, name, new)
        try:
            return Genome(hidden, output, self.momentum, False)
        except GraphError:
            return None


def _space(config: SpaceConfig) -> GraphSpace:
    return graph_config_space(config, tuple(OPERANDS), UPDATE_UNARY, UPDATE_BINARY, decay=False)


def _node_dict(node: Node) -> dict[str, Any]:
    out: dict[str, Any] = {"op": node.op, "inputs": list(node.inputs)}
    if any(d is not None for d in node.decays):
        out["decays"] = [None if d is None else d.to_dict() for d in node.decays]
    return out


@functools.lru_cache(maxsize=65536)
def _canonical(genome: Genome) -> str:
    body = canonical_expr(genome.hidden, genome.output)
    sign = "-" if genome.flipped else "+"
    return f"{genome.momentum}|{sign}|{body}"


@functools.lru_cache(maxsize=65536)
def _hash(genome: Genome) -> str:
    return hashlib.sha256(_canonical(genome).encode()).hexdigest()


@functools.cache
def _operand_symbol(name: str) -> Any:
    import sympy as sp

    return sp.Symbol(name, real=True)


def uses_hidden(node: Node) -> bool:
    return any(parse_hidden(r) is not None for r in node.inputs)
