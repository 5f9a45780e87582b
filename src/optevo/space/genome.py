"""The optimizer genome (SPEC 1): the weight-update equation as a graph, plus momentum type.

A `Genome` is immutable plain data. It is built and checked from the operation table, goes
to and from JSON, has a canonical form and a stable hash, prints as an equation, and is
drawn and mutated by pure functions of a `numpy.random.Generator`.

A genome of the extended space also carries evolvable constants (`optevo.space.genes`: EMA
rates, eps, quasi-hyperbolic weights, decoupled weight decay) and may read the extended
operations and operands (`sign`, `dir`). A genome of the paper's space has none of these: its
canonical form, hashes and JSON (schema `optevo.genome/1`) are those of the paper's space.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from optevo.space.constants import LOCAL_EDITS, MOMENTUM_TYPES, MUTATIONS, default_space
from optevo.space.decay import DecayGenome
from optevo.space.genes import (
    EMA_BETA,
    EPS_OPERATIONS,
    GENES,
    NO_CONSTANTS,
    QH_WEIGHT,
    Constants,
    latex_number,
    mutate_constant,
)
from optevo.space.graph import (
    GraphError,
    GraphMixin,
    Node,
    canonical_expr,
    parse_hidden,
    validate_graph,
)
from optevo.space.limits import MAX_TOTAL_NODES
from optevo.space.local import delete_node, insert_node
from optevo.space.mutation import (
    GraphSpace,
    draw_graph,
    graph_config_space,
    mutate_connection,
    mutate_graph_node,
    mutate_operation,
    pick_weighted,
    replace_node,
)
from optevo.space.ops import (
    EXTENDED_BINARY,
    EXTENDED_OPERANDS,
    EXTENDED_UNARY,
    OPERANDS,
    OPERATIONS,
    PAPER_OPERANDS,
    UPDATE_BINARY,
    UPDATE_UNARY,
)
from optevo.space.render import (
    TooLargeToTypeset,
    graph_sympy,
    graph_sympy_parts,
    graph_text,
    graph_text_parts,
    typeset_time_limit,
)

if TYPE_CHECKING:
    from optevo.space.config import SpaceConfig

SCHEMA = "optevo.genome/1"
"""The JSON schema of a genome of the paper's space (no constants, no extended operations)."""

SCHEMA_EXTENDED = "optevo.genome/2"
"""The JSON schema of a genome of the extended space: schema 1 plus a `constants` object."""

SCHEMAS: tuple[str, ...] = (SCHEMA, SCHEMA_EXTENDED)
"""Every schema `Genome.from_json` reads; `to_json` writes the first that holds the genome."""


@dataclass(frozen=True)
class Genome(GraphMixin):
    """An optimizer: the update `u` as a graph over the operands of SPEC 1.1.

    `hidden` are the free-floating hidden nodes (`h0`, `h1`, ...), `output` the output node,
    `momentum` one of "none", "momentum", "nesterov", and `flipped` reverses the sign of `u`
    (set by the integrity check). `constants` (extended space) holds the evolvable constants
    that differ from their defaults (a mapping is accepted and converted; a default value is
    dropped). Construction validates every structural rule and raises ValueError naming the
    problem.
    """

    hidden: tuple[Node, ...]
    output: Node
    momentum: str = "none"
    flipped: bool = False
    constants: Constants = NO_CONSTANTS

    def __post_init__(self) -> None:
        if not isinstance(self.constants, Constants):
            if not isinstance(self.constants, Mapping):
                raise ValueError("genome: constants must be a mapping of name to value")
            object.__setattr__(self, "constants", Constants(self.constants))
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
        validate_graph(
            self.hidden, self.output, OPERANDS, EXTENDED_UNARY, EXTENDED_BINARY, "genome"
        )

    # -- the extended space ---------------------------------------------------------------

    @property
    def is_extended(self) -> bool:
        """Whether this genome needs the extended space: it holds a constant, or one of its
        nodes (active or not) an extended operation or operand."""
        return bool(self.constants) or _extended_nodes(self)

    def constant(self, name: str) -> float:
        """The value of the evolvable constant `name` (`optevo.space.genes.GENES`): this
        genome's, else its default (the paper's value)."""
        if name not in GENES:
            raise KeyError(f"unknown constant {name!r}; known: {', '.join(GENES)}")
        return self.constants.value(name)

    def live_constants(self) -> tuple[str, ...]:
        """The constants the active graph reads (in `GENES` order): the rate of each EMA it
        keeps, beta_dir for `dir`, eps for ln/1/x/x/y, each quasi-hyperbolic weight it reads,
        and always wd (it acts beside the graph)."""
        return _live_constants(self)

    def with_constants(self, values: Mapping[str, float]) -> Genome:
        """This genome with the constants in `values` set (the others kept)."""
        merged = Constants({**self.constants, **values})
        if merged == self.constants:
            return self
        return dataclasses.replace(self, constants=merged)

    # -- identity -------------------------------------------------------------------------

    def canonical(self) -> str:
        """Canonical form: the active graph only, commutative inputs sorted, plus the genes
        that change behaviour (momentum type, sign) and the constants the active graph reads
        that differ from their defaults (none in the paper's space)."""
        return _canonical(self)

    def canonical_hash(self) -> str:
        """SHA-256 of the canonical form: stable across processes and versions."""
        return _hash(self)

    # -- JSON -----------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The JSON object: schema 1 for a genome of the paper's space, else schema 2 with
        the constants that differ from their defaults."""
        out: dict[str, Any] = {
            "schema": SCHEMA_EXTENDED if self.is_extended else SCHEMA,
            "momentum": self.momentum,
            "flipped": self.flipped,
        }
        if self.is_extended:
            out["constants"] = dict(self.constants)
        out["hidden"] = [_node_dict(n) for n in self.hidden]
        out["output"] = _node_dict(self.output)
        return out

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
        text = graph_text(
            self.hidden, self.output, lambda r: r, lambda d: names[d], negate=self.flipped
        )
        return f"{text} with {self.constants.items_text()}" if self.constants else text

    def __str__(self) -> str:
        names = self._decay_names()
        body, definitions = graph_text_parts(
            self.hidden, self.output, lambda r: r, lambda d: names[d], negate=self.flipped
        )
        lines = [f"u = {body}", *(f"  {name} = {text}" for name, text in definitions)]
        lines.append(f"momentum: {self.momentum}")
        if self.constants:
            lines.append(f"constants: {self.constants.items_text()}")
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
        """The update as LaTeX, with the momentum type, decay functions and constants (via
        sympy).

        A large graph names its shared and deep nodes `h_i` and defines them after `u`. A
        genome whose typesetting takes more than `TYPESET_SECONDS` (nested transcendental
        functions that sympy expands level by level) reads `u = \\text{too large to typeset}`
        with its momentum type and constants (its plain form, `str(genome)`, is always
        available)."""
        try:
            with typeset_time_limit():
                return self._to_latex()
        except TooLargeToTypeset:
            parts = [r"u = \text{too large to typeset}", *self._latex_footer()]
            return r" \\ ".join(parts)

    def _latex_footer(self) -> list[str]:
        parts = [rf"\text{{momentum: {self.momentum}}}"]
        if self.constants:
            values = ", ".join(
                f"{GENES[n].latex} = {latex_number(x)}" for n, x in self.constants.items()
            )
            parts.append(rf"\text{{constants: }} {values}")
        return parts

    def _to_latex(self) -> str:
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
        parts.extend(self._latex_footer())
        return r" \\ ".join(parts)

    # -- proposals (pure structure; accepting a candidate is the search layer's job) ------

    @classmethod
    def propose(cls, rng: np.random.Generator, config: SpaceConfig | None = None) -> Genome | None:
        """One random draw of SPEC 1.4, or None when its active graph has a cycle.

        Not integrity-checked: `optevo.search.random_genome` redraws until a draw passes.
        `config` defaults to the default space. In the extended space the draw may use its
        operations and operands; its constants start at their defaults.
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

        In the extended space, with probability `config.constant_mutation_p` the mutation
        moves one constant the active graph reads instead (`optevo.space.genes`). The child
        has `flipped` cleared; `optevo.search.mutate_genome` redraws until a child passes the
        integrity check (which sets the flag again) and is new. `config` defaults to the
        default space.
        """
        config = default_space() if config is None else config
        if config.kind == "extended" and rng.random() < config.constant_mutation_p:
            return self._constant_edit(rng, config)
        return self._mutate_once(rng, _space(config), config)

    def propose_local_edit(
        self, rng: np.random.Generator, config: SpaceConfig | None = None
    ) -> Genome | None:
        """One local edit (for a local search warm-started from a known-good genome), or
        None when the drawn edit does not apply or makes a cycle.

        The kind is drawn with `config.local_weights` (`LOCAL_EDITS`; `constant` only in the
        extended space): `replace` an active node's operation (same arity), change one
        `connection`, `insert` a unary node on an active connection (in an inactive hidden
        slot, or a new one), `delete` an active hidden node (its readers read one of its
        inputs), change one `decay` function (add, delete or mutate, as SPEC 1.5), change one
        `constant`, or the `momentum` type. The child has `flipped` cleared, as with
        `propose_mutation`. `config` defaults to the default space.
        """
        config = default_space() if config is None else config
        space = _space(config)
        kind = pick_weighted(rng, LOCAL_EDITS, _local_weights(config))
        if kind == "constant":
            return self._constant_edit(rng, config)
        if kind == "momentum":
            return self._momentum_edit(rng)
        if kind == "insert":
            return self._graph_edit(insert_node(rng, space, self.hidden, self.output))
        if kind == "delete":
            return self._graph_edit(delete_node(rng, self.hidden, self.output))
        names = self.active_names()
        name = names[int(rng.integers(len(names)))]
        node = self.node(name)
        if kind == "replace":
            new = mutate_operation(rng, space, node)
        elif kind == "connection":
            new = mutate_connection(rng, space, node, name, config.swap_p)
        else:
            new = _decay_edit(rng, node, config)
        if new is None:
            return None
        return self._graph_edit(replace_node(self.hidden, self.output, name, new))

    def with_flipped(self, flipped: bool) -> Genome:
        """This genome with the sign flag set to `flipped`."""
        if flipped == self.flipped:
            return self
        return dataclasses.replace(self, flipped=flipped)

    def _mutate_once(
        self, rng: np.random.Generator, space: GraphSpace, config: SpaceConfig
    ) -> Genome | None:
        names = self.active_names()
        name = names[int(rng.integers(len(names)))]
        kind = pick_weighted(rng, MUTATIONS, config.mutation_weights)
        node = self.node(name)
        if kind == "momentum":
            return self._momentum_edit(rng)
        if kind == "decay":
            new: Node | None = _decay_edit(rng, node, config)
        else:
            new = mutate_graph_node(rng, space, node, name, kind, config.swap_p)
        if new is None:
            return None
        return self._graph_edit(replace_node(self.hidden, self.output, name, new))

    def _graph_edit(self, graph: tuple[tuple[Node, ...], Node] | None) -> Genome | None:
        """The child with this graph (momentum and constants kept, flipped cleared), or
        None when there is no graph or it breaks a rule (a cycle)."""
        if graph is None:
            return None
        try:
            return Genome(graph[0], graph[1], self.momentum, False, self.constants)
        except GraphError:
            return None

    def _momentum_edit(self, rng: np.random.Generator) -> Genome:
        others = [m for m in MOMENTUM_TYPES if m != self.momentum]
        momentum = others[int(rng.integers(len(others)))]
        return Genome(self.hidden, self.output, momentum, False, self.constants)

    def _constant_edit(self, rng: np.random.Generator, config: SpaceConfig) -> Genome | None:
        """One live constant moved (`optevo.space.genes.mutate_constant`); None when the
        move changed nothing (a value clipped at its bound)."""
        constants = mutate_constant(rng, self.constants, self.live_constants(), config)
        if constants == self.constants:
            return None
        return Genome(self.hidden, self.output, self.momentum, False, constants)


def _space(config: SpaceConfig) -> GraphSpace:
    if config.kind == "extended":
        return graph_config_space(
            config, EXTENDED_OPERANDS, EXTENDED_UNARY, EXTENDED_BINARY, decay=False
        )
    return graph_config_space(config, PAPER_OPERANDS, UPDATE_UNARY, UPDATE_BINARY, decay=False)


def _local_weights(config: SpaceConfig) -> tuple[float, ...]:
    """`config.local_weights`, with no constant edits in the paper's space (its genomes have
    no constants); a ValueError when nothing is left to draw."""
    weights = tuple(
        0.0 if kind == "constant" and config.kind != "extended" else w
        for kind, w in zip(LOCAL_EDITS, config.local_weights, strict=True)
    )
    if sum(weights) <= 0:
        raise ValueError(
            "local_weights: every local edit of this space has weight 0 (constant edits "
            "apply in the extended space only)"
        )
    return weights


def _decay_edit(rng: np.random.Generator, node: Node, config: SpaceConfig) -> Node:
    """SPEC 1.5's decay mutation on one of the node's connections: add a random decay
    function if there is none; else delete it (`decay_delete_p`) or mutate its graph."""
    side = int(rng.integers(node.arity))
    decays = list(node.decays)
    current = decays[side]
    if current is None:
        decays[side] = DecayGenome.random(rng, config)
    elif rng.random() < config.decay_delete_p:
        decays[side] = None
    else:
        decays[side] = current.mutate(rng, config)
    return node.replace(decays=tuple(decays))


def _node_dict(node: Node) -> dict[str, Any]:
    out: dict[str, Any] = {"op": node.op, "inputs": list(node.inputs)}
    if any(d is not None for d in node.decays):
        out["decays"] = [None if d is None else d.to_dict() for d in node.decays]
    return out


def _extended_nodes(genome: Genome) -> bool:
    for node in (*genome.hidden, genome.output):
        if OPERATIONS[node.op].extended:
            return True
        if any(r in OPERANDS and OPERANDS[r].extended for r in node.inputs):
            return True
    return False


@functools.lru_cache(maxsize=65536)
def _live_constants(genome: Genome) -> tuple[str, ...]:
    names = genome.active_names()
    ops = {genome.node(n).op for n in names}
    operands = {r for n in names for r in genome.node(n).inputs if r in OPERANDS}
    states = {state for r in operands for state in OPERANDS[r].needs}
    live = {EMA_BETA[s] for s in states}
    live |= {QH_WEIGHT[r] for r in operands if r in QH_WEIGHT}
    if "dir" in operands:
        live.add("beta_dir")
    if ops & EPS_OPERATIONS:
        live.add("eps")
    live.add("wd")
    return tuple(n for n in GENES if n in live)


@functools.lru_cache(maxsize=65536)
def _canonical(genome: Genome) -> str:
    body = canonical_expr(genome.hidden, genome.output)
    sign = "-" if genome.flipped else "+"
    form = f"{genome.momentum}|{sign}|{body}"
    # Only constants that differ from their defaults and that the active graph reads: a
    # genome of the paper's space keeps its form, and an unread constant changes nothing.
    constants = genome.constants.items_text(genome.live_constants(), sep=",")
    return f"{form}|{constants}" if constants else form


@functools.lru_cache(maxsize=65536)
def _hash(genome: Genome) -> str:
    return hashlib.sha256(_canonical(genome).encode()).hexdigest()


@functools.cache
def _operand_symbol(name: str) -> Any:
    import sympy as sp

    return sp.Symbol(name, real=True)


def uses_hidden(node: Node) -> bool:
    return any(parse_hidden(r) is not None for r in node.inputs)
