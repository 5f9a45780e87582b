"""Genome JSON input: strict checks that turn any bad input into a ValueError naming it.

Sizes are checked before the work they would cost (`optevo.space.limits`): the text length
before parsing, a node list's length before its nodes are built, a name's length before it
is looked up; messages quote at most a short prefix of what they refuse.
"""

from __future__ import annotations

import json
from typing import Any

from optevo.space.constants import MOMENTUM_TYPES
from optevo.space.decay import DecayGenome
from optevo.space.genes import Constants, check_constant
from optevo.space.genome import SCHEMA, SCHEMA_EXTENDED, SCHEMAS, Genome
from optevo.space.graph import Node
from optevo.space.limits import (
    MAX_GENOME_BYTES,
    MAX_HIDDEN_NODES,
    MAX_NAME_LENGTH,
    MAX_TOTAL_NODES,
    kind,
    quote,
    quote_all,
)

_GENOME_KEYS = {"schema", "momentum", "flipped", "hidden", "output"}
_EXTENDED_KEYS = _GENOME_KEYS | {"constants"}
_NODE_KEYS = {"op", "inputs", "decays"}
_DECAY_KEYS = {"hidden", "output"}


def genome_from_json(text: str | bytes) -> Genome:
    if not isinstance(text, str | bytes | bytearray):
        raise ValueError(f"genome JSON must be str or bytes, got {type(text).__name__}")
    if len(text) > MAX_GENOME_BYTES:
        raise ValueError(
            f"genome: {len(text):,} bytes of JSON, more than the limit of {MAX_GENOME_BYTES:,}"
        )
    try:
        obj = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"genome: not valid JSON ({exc})") from None
    except RecursionError:
        raise ValueError("genome: JSON nested too deeply") from None
    return genome_from_obj(obj)


def genome_from_obj(obj: Any) -> Genome:
    """Build a Genome from parsed JSON; never a partial object, never another exception type."""
    try:
        return _genome(obj, _Budget())
    except ValueError:
        raise
    except (TypeError, KeyError, AttributeError, IndexError, RecursionError) as exc:
        # A guard: the checks below should make this unreachable.
        problem = quote(str(exc))
        raise ValueError(f"genome: malformed input ({type(exc).__name__}: {problem})") from None


class _Budget:
    """Counts the nodes of one genome as they are read, refusing past `MAX_TOTAL_NODES`
    (decay functions count once per connection, as JSON spells them)."""

    def __init__(self) -> None:
        self.nodes = 0

    def take(self, count: int, where: str) -> None:
        self.nodes += count
        if self.nodes > MAX_TOTAL_NODES:
            raise ValueError(
                f"{where}: the genome has more than {MAX_TOTAL_NODES:,} nodes with its decay "
                "functions (the limit)"
            )


def _node_list(obj: Any, where: str, budget: _Budget) -> list[Any]:
    if not isinstance(obj, list):
        raise ValueError(f"{where}: expected an array, got {kind(obj)}")
    if len(obj) > MAX_HIDDEN_NODES:
        raise ValueError(
            f"{where}: {len(obj):,} hidden nodes, more than the limit of {MAX_HIDDEN_NODES:,}"
        )
    budget.take(len(obj) + 1, where)
    return obj


def _name(value: Any, where: str, what: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{where}: expected {what}, got {kind(value)}")
    if len(value) > MAX_NAME_LENGTH:
        raise ValueError(
            f"{where}: {quote(value)} is not {what} (names are at most {MAX_NAME_LENGTH} "
            "characters)"
        )
    return value


def _mapping(obj: Any, keys: set[str], required: set[str], where: str) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise ValueError(f"{where}: expected a JSON object, got {kind(obj)}")
    unknown = sorted(str(k) for k in obj if k not in keys)
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {quote_all(unknown)}")
    missing = sorted(required - obj.keys())
    if missing:
        raise ValueError(f"{where}: missing field(s) {missing}")
    return obj


def _schema(obj: Any) -> str:
    schema = obj.get("schema") if isinstance(obj, dict) else None
    if isinstance(schema, str) and schema in SCHEMAS:
        return schema
    if isinstance(obj, dict) and "schema" in obj:
        raise ValueError(
            f"genome: unknown schema version {quote(schema)}; this version reads "
            f"{' and '.join(map(repr, SCHEMAS))}"
        )
    return SCHEMA  # no schema field: `_mapping` names it missing


def _genome(obj: Any, budget: _Budget) -> Genome:
    schema = _schema(obj)
    extended = schema == SCHEMA_EXTENDED
    if not extended and isinstance(obj, dict) and "constants" in obj:
        raise ValueError(
            f"genome: constants need schema {SCHEMA_EXTENDED!r} (this genome says {SCHEMA!r})"
        )
    keys = _EXTENDED_KEYS if extended else _GENOME_KEYS
    data = _mapping(obj, keys, _GENOME_KEYS - {"flipped"}, "genome")
    momentum = data["momentum"]
    if not isinstance(momentum, str) or momentum not in MOMENTUM_TYPES:
        raise ValueError(
            f"genome.momentum: expected one of {MOMENTUM_TYPES}, got {quote(momentum)}"
        )
    flipped = data.get("flipped", False)
    if not isinstance(flipped, bool):
        raise ValueError(f"genome.flipped: expected a boolean, got {kind(flipped)}")
    hidden_raw = _node_list(data["hidden"], "genome.hidden", budget)
    hidden = tuple(_node(n, f"genome.h{i}", budget, decays=True) for i, n in enumerate(hidden_raw))
    output = _node(data["output"], "genome.out", budget, decays=True)
    constants = _constants(data.get("constants", {})) if extended else Constants()
    genome = Genome(hidden, output, momentum, flipped, constants)
    if not extended and genome.is_extended:
        raise ValueError(
            f"genome: an operation or operand of the extended space (sign, dir) needs schema "
            f"{SCHEMA_EXTENDED!r}"
        )
    return genome


def _constants(obj: Any) -> Constants:
    """The `constants` object of schema 2: known names, finite numbers in range."""
    if not isinstance(obj, dict):
        raise ValueError(f"genome.constants: expected a JSON object, got {kind(obj)}")
    return Constants({name: check_constant(name, x, "genome.constants") for name, x in obj.items()})


def _node(obj: Any, where: str, budget: _Budget, decays: bool) -> Node:
    keys = _NODE_KEYS if decays else _NODE_KEYS - {"decays"}
    data = _mapping(obj, keys, {"op", "inputs"}, where)
    op = _name(data["op"], f"{where}.op", "an operation")
    inputs = data["inputs"]
    if not isinstance(inputs, list):
        raise ValueError(f"{where}.inputs: expected an array of strings, got {kind(inputs)}")
    if not 1 <= len(inputs) <= 2:
        raise ValueError(
            f"{where}.inputs: wrong arity: a node has 1 or 2 inputs, got {len(inputs):,}"
        )
    for i, ref in enumerate(inputs):
        _name(ref, f"{where}.inputs[{i}]", "an operand or a node reference h<i>")
    raw_decays = data.get("decays")
    if raw_decays is None:
        parsed: tuple[DecayGenome | None, ...] = (None,) * len(inputs)
    else:
        if not isinstance(raw_decays, list):
            raise ValueError(f"{where}.decays: expected an array, got {kind(raw_decays)}")
        if len(raw_decays) != len(inputs):
            raise ValueError(
                f"{where}.decays: {len(raw_decays)} decay function(s) for {len(inputs)} "
                "connection(s): a decay function on a missing connection"
            )
        parsed = tuple(
            None if d is None else _decay(d, f"{where}.decays[{i}]", budget)
            for i, d in enumerate(raw_decays)
        )
    return Node(op, tuple(inputs), parsed)


def _decay(obj: Any, where: str, budget: _Budget) -> DecayGenome:
    data = _mapping(obj, _DECAY_KEYS, _DECAY_KEYS, where)
    hidden_raw = _node_list(data["hidden"], f"{where}.hidden", budget)
    hidden = tuple(
        _node(n, f"{where}.h{i}", budget, decays=False) for i, n in enumerate(hidden_raw)
    )
    output = _node(data["output"], f"{where}.out", budget, decays=False)
    try:
        return DecayGenome(hidden, output)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
