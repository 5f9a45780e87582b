"""Genome JSON input: strict checks that turn any bad input into a ValueError naming it."""

from __future__ import annotations

import json
from typing import Any

from optevo.space.config import MOMENTUM_TYPES
from optevo.space.decay import DecayGenome
from optevo.space.genome import SCHEMA, Genome
from optevo.space.graph import Node

_GENOME_KEYS = {"schema", "momentum", "flipped", "hidden", "output"}
_NODE_KEYS = {"op", "inputs", "decays"}
_DECAY_KEYS = {"hidden", "output"}


def genome_from_json(text: str | bytes) -> Genome:
    if not isinstance(text, str | bytes | bytearray):
        raise ValueError(f"genome JSON must be str or bytes, got {type(text).__name__}")
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
        return _genome(obj)
    except ValueError:
        raise
    except (TypeError, KeyError, AttributeError, IndexError, RecursionError) as exc:
        # A guard: the checks below should make this unreachable.
        raise ValueError(f"genome: malformed input ({type(exc).__name__}: {exc})") from None


def _mapping(obj: Any, keys: set[str], required: set[str], where: str) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise ValueError(f"{where}: expected a JSON object, got {_kind(obj)}")
    unknown = sorted(str(k) for k in obj if k not in keys)
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {unknown}")
    missing = sorted(required - obj.keys())
    if missing:
        raise ValueError(f"{where}: missing field(s) {missing}")
    return obj


def _kind(obj: Any) -> str:
    return {
        dict: "an object",
        list: "an array",
        str: "a string",
        bool: "a boolean",
        int: "a number",
        float: "a number",
        type(None): "null",
    }.get(type(obj), type(obj).__name__)


def _genome(obj: Any) -> Genome:
    data = _mapping(obj, _GENOME_KEYS, _GENOME_KEYS - {"flipped"}, "genome")
    schema = data["schema"]
    if schema != SCHEMA:
        raise ValueError(
            f"genome: unknown schema version {schema!r}; this version reads {SCHEMA!r}"
        )
    momentum = data["momentum"]
    if not isinstance(momentum, str) or momentum not in MOMENTUM_TYPES:
        raise ValueError(f"genome.momentum: expected one of {MOMENTUM_TYPES}, got {momentum!r}")
    flipped = data.get("flipped", False)
    if not isinstance(flipped, bool):
        raise ValueError(f"genome.flipped: expected a boolean, got {_kind(flipped)}")
    hidden_raw = data["hidden"]
    if not isinstance(hidden_raw, list):
        raise ValueError(f"genome.hidden: expected an array, got {_kind(hidden_raw)}")
    hidden = tuple(_node(n, f"genome.h{i}", decays=True) for i, n in enumerate(hidden_raw))
    output = _node(data["output"], "genome.out", decays=True)
    return Genome(hidden, output, momentum, flipped)


def _node(obj: Any, where: str, decays: bool) -> Node:
    keys = _NODE_KEYS if decays else _NODE_KEYS - {"decays"}
    data = _mapping(obj, keys, {"op", "inputs"}, where)
    op = data["op"]
    if not isinstance(op, str):
        raise ValueError(f"{where}.op: expected a string, got {_kind(op)}")
    inputs = data["inputs"]
    if not isinstance(inputs, list) or not all(isinstance(r, str) for r in inputs):
        raise ValueError(f"{where}.inputs: expected an array of strings")
    if not 1 <= len(inputs) <= 2:
        raise ValueError(
            f"{where}.inputs: wrong arity: a node has 1 or 2 inputs, got {len(inputs)}"
        )
    raw_decays = data.get("decays")
    if raw_decays is None:
        parsed: tuple[DecayGenome | None, ...] = (None,) * len(inputs)
    else:
        if not isinstance(raw_decays, list):
            raise ValueError(f"{where}.decays: expected an array, got {_kind(raw_decays)}")
        if len(raw_decays) != len(inputs):
            raise ValueError(
                f"{where}.decays: {len(raw_decays)} decay function(s) for {len(inputs)} "
                "connection(s): a decay function on a missing connection"
            )
        parsed = tuple(
            None if d is None else _decay(d, f"{where}.decays[{i}]")
            for i, d in enumerate(raw_decays)
        )
    return Node(op, tuple(inputs), parsed)


def _decay(obj: Any, where: str) -> DecayGenome:
    data = _mapping(obj, _DECAY_KEYS, _DECAY_KEYS, where)
    hidden_raw = data["hidden"]
    if not isinstance(hidden_raw, list):
        raise ValueError(f"{where}.hidden: expected an array, got {_kind(hidden_raw)}")
    hidden = tuple(_node(n, f"{where}.h{i}", decays=False) for i, n in enumerate(hidden_raw))
    output = _node(data["output"], f"{where}.out", decays=False)
    try:
        return DecayGenome(hidden, output)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
