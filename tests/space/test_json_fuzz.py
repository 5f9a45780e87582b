"""Property tests: malformed genome JSON is answered with ValueError and nothing else."""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from optevo import Genome, library

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=8)
    | st.sampled_from(
        [
            "g",
            "h0",
            "h1",
            "v",
            "s",
            "add",
            "div",
            "identity",
            "lin_dec",
            "none",
            "optevo.genome/1",
            "nesterov",
        ]
    ),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                ["op", "inputs", "decays", "hidden", "output", "schema", "momentum", "flipped", "x"]
            )
            | st.text(max_size=4),
            children,
            max_size=5,
        )
    ),
    max_leaves=20,
)
TEMPLATES = [library.genome(n).to_dict() for n in ("Adam", "Opt4", "Opt10", "PowerSign-ld")]


def parse_or_value_error(text: str | bytes) -> Genome | None:
    try:
        return Genome.from_json(text)
    except ValueError:
        return None


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200) | st.binary(max_size=200))
def test_arbitrary_text_gives_value_error_only(text: str | bytes) -> None:
    parse_or_value_error(text)


@settings(max_examples=300, deadline=None)
@given(JSON_VALUES)
def test_arbitrary_json_gives_value_error_only(value: Any) -> None:
    parse_or_value_error(json.dumps(value))


def _paths(obj: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += _paths(v, (*prefix, i))
    return out


@settings(max_examples=500, deadline=None)
@given(st.sampled_from(range(len(TEMPLATES))), st.data(), JSON_VALUES)
def test_corrupted_genomes_give_value_error_or_a_valid_genome(
    i: int, data: Any, value: Any
) -> None:
    doc = copy.deepcopy(TEMPLATES[i])
    paths = _paths(doc)[1:]
    path = data.draw(st.sampled_from(paths))
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    if data.draw(st.booleans()):
        parent[path[-1]] = value
    elif isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent.pop(path[-1])
    result = parse_or_value_error(json.dumps(doc))
    if result is not None:  # the corruption happened to be valid: it must round-trip
        assert Genome.from_json(result.to_json()) == result
