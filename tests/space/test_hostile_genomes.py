"""Hostile genomes (issue 7, items 1-4): shared and deep graphs cost time linear in their size,
limits refuse the rest with a clear ValueError, and messages never echo a huge input."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from optevo import Genome, Node
from optevo.compile import compile_genome
from optevo.optim import EvolvedOptimizer
from optevo.space.genome import SCHEMA
from optevo.space.graph import DAG_PREFIX, parse_hidden
from optevo.space.limits import MAX_GENOME_BYTES, MAX_HIDDEN_NODES, MAX_TOTAL_NODES


def genome_json(hidden: list[dict[str, Any]], output: dict[str, Any]) -> str:
    return json.dumps({"schema": SCHEMA, "momentum": "none", "hidden": hidden, "output": output})


def fibonacci(n: int) -> str:
    """Node i adds nodes i+1 and i+2; the output is v / h0. Expanded as a tree, h0 has
    about 1.6^n terms."""
    hidden = [{"op": "add", "inputs": [f"h{i + 1}", f"h{i + 2}"]} for i in range(n - 2)]
    hidden += [{"op": "add", "inputs": [f"h{n - 1}", "g"]}, {"op": "exp", "inputs": ["g"]}]
    return genome_json(hidden, {"op": "div", "inputs": ["v", "h0"]})


def chain(n: int, op: str = "neg") -> str:
    """h0 = op(h1), h1 = op(h2), ..., h(n-1) = op(g); the output reads h0."""
    hidden = [{"op": op, "inputs": [f"h{i + 1}"]} for i in range(n - 1)]
    hidden.append({"op": op, "inputs": ["g"]})
    return genome_json(hidden, {"op": "identity", "inputs": ["h0"]})


def exercise(g: Genome) -> None:
    """Everything a user does with a genome: round trip, forms, hash, compile, one step."""
    back = Genome.from_json(g.to_json())
    assert back == g and back.canonical_hash() == g.canonical_hash()
    assert str(g) and g.equation() and g.to_latex()
    assert compile_genome(g).state_names is not None
    p = torch.nn.Parameter(torch.ones(5))
    opt = EvolvedOptimizer([p], g, lr=0.1, total_steps=4)
    p.grad = torch.full((5,), 0.5)
    opt.step()


# -- item 1: a 60-node Fibonacci-shaped DAG -----------------------------------------------------


def test_fibonacci_dag_of_60_nodes_takes_well_under_a_second() -> None:
    start = time.perf_counter()
    g = Genome.from_json(fibonacci(60))
    exercise(g)
    assert time.perf_counter() - start < 0.5
    # Shared nodes are named, not expanded: the text grows with the node count.
    text = str(g)
    assert len(text) < 5_000 and "h2 = h3 + h4" in text
    assert g.canonical().startswith(f"none|+|{DAG_PREFIX}")


def test_dag_canonical_form_ignores_commutative_order_and_inactive_nodes() -> None:
    g = Genome.from_json(fibonacci(40))
    swapped = json.loads(fibonacci(40))
    for node in swapped["hidden"][:-2]:
        node["inputs"].reverse()  # add is commutative
    swapped["hidden"].append({"op": "tanh", "inputs": ["g"]})  # inactive
    assert Genome.from_dict(swapped).canonical_hash() == g.canonical_hash()
    changed = json.loads(fibonacci(40))
    changed["hidden"][20]["op"] = "sub"
    assert Genome.from_dict(changed).canonical_hash() != g.canonical_hash()


def test_shared_and_duplicated_subgraphs_hash_alike() -> None:
    # The same tree spelled with a shared node and with two copies of it: one canonical form.
    shared = Genome((Node("exp", ("g",)), Node("neg", ("h0",))), Node("add", ("h0", "h1")))
    copied = Genome(
        (Node("exp", ("g",)), Node("neg", ("h2",)), Node("exp", ("g",))), Node("add", ("h0", "h1"))
    )
    assert shared.canonical() == copied.canonical() == "none|+|add(exp(g),neg(exp(g)))"
    once = json.loads(fibonacci(30))
    twice = json.loads(fibonacci(30))
    n = len(twice["hidden"])
    twice["hidden"].append(dict(twice["hidden"][1]))  # a copy of h1 ...
    twice["hidden"][0]["inputs"] = [f"h{n}", "h2"]  # ... read instead of h1
    assert Genome.from_dict(twice).canonical() == Genome.from_dict(once).canonical()


# -- item 2: deep chains --------------------------------------------------------------------------


@pytest.mark.parametrize("op", ["neg", "tanh"])
def test_chain_at_the_node_limit_works_without_recursion(op: str) -> None:
    assert sys.getrecursionlimit() // 3 < MAX_HIDDEN_NODES  # deeper than nesting allows
    g = Genome.from_json(chain(MAX_HIDDEN_NODES, op))
    exercise(g)
    assert len(g.active_names()) == MAX_HIDDEN_NODES + 1


def test_chain_of_300_evaluates_like_its_short_form() -> None:
    # 300 negations are the identity: the compiled rule must agree (and not recurse).
    rule = compile_genome(Genome.from_json(chain(300)))
    g = torch.randn(7)
    assert torch.equal(rule.update(g, {}, 0), g)


def test_chain_of_10000_is_refused_by_the_limit() -> None:
    with pytest.raises(ValueError, match=f"more than the limit of {MAX_HIDDEN_NODES:,}"):
        Genome.from_json(chain(10_000))


# -- item 3: references ---------------------------------------------------------------------------


@pytest.mark.parametrize("ref", ["h١", "h٠", "h²", "h01", "h-1", "h 1", "H1", "h"])
def test_only_ascii_h_digits_are_node_references(ref: str) -> None:
    assert parse_hidden(ref) is None
    data = json.loads(chain(3))
    data["hidden"][0]["inputs"] = [ref]
    with pytest.raises(ValueError, match=r"genome\.h0: unknown operand") as info:
        Genome.from_dict(data)
    assert not isinstance(info.value, KeyError)


def test_long_references_name_the_field() -> None:
    data = json.loads(chain(3))
    data["hidden"][0]["inputs"] = ["h" + "9" * 5000]
    with pytest.raises(ValueError, match=r"genome\.h0\.inputs\[0\]") as info:
        Genome.from_dict(data)
    assert len(str(info.value)) < 300
    data["hidden"][0]["inputs"] = ["h" + "9" * 20]  # short enough to be a name
    with pytest.raises(ValueError, match=r"genome\.h0: reference to missing node .h9999"):
        Genome.from_dict(data)


# -- item 4: sizes --------------------------------------------------------------------------------


def test_huge_strings_are_refused_quickly_with_a_short_message() -> None:
    data = json.loads(chain(3))
    data["hidden"][0]["op"] = "x" * 50_000_000
    start = time.perf_counter()
    with pytest.raises(ValueError, match="bytes of JSON, more than the limit") as as_json:
        Genome.from_json(json.dumps(data))
    with pytest.raises(ValueError, match=r"genome\.h0\.op: 'xxxx.*50,000,000 characters") as obj:
        Genome.from_dict(data)
    with pytest.raises(ValueError, match="unknown operation 'xxx") as direct:
        Genome((Node("x" * 50_000_000, ("g",)),), Node("identity", ("h0",)))
    assert time.perf_counter() - start < 5
    for info in (as_json, obj, direct):
        assert len(str(info.value)) < 300


def test_node_counts_are_limited_before_nodes_are_built() -> None:
    node = {"op": "neg", "inputs": ["g"]}
    many = {"schema": SCHEMA, "momentum": "none", "hidden": [node] * 1_400_000,
            "output": {"op": "identity", "inputs": ["h0"]}}  # fmt: skip
    start = time.perf_counter()
    with pytest.raises(ValueError, match="1,400,000 hidden nodes, more than the limit"):
        Genome.from_dict(many)
    assert time.perf_counter() - start < 1
    assert len(json.dumps(node)) * 1_400_000 > MAX_GENOME_BYTES  # as JSON text: refused by size


def test_decay_functions_count_towards_the_total() -> None:
    decay = {"hidden": [{"op": "identity", "inputs": ["lin_dec"]}] * 999,
             "output": {"op": "identity", "inputs": ["h0"]}}  # fmt: skip
    hidden = [{"op": "neg", "inputs": ["g"], "decays": [decay]}] * 20
    data = json.loads(genome_json(hidden, {"op": "identity", "inputs": ["h0"]}))
    with pytest.raises(ValueError, match=f"more than {MAX_TOTAL_NODES:,} nodes"):
        Genome.from_dict(data)


def test_unknown_fields_are_listed_briefly() -> None:
    data = json.loads(chain(2))
    for i in range(50):
        data[f"extra{i}" * 1000] = 1
    with pytest.raises(ValueError, match="and 45 more") as info:
        Genome.from_dict(data)
    assert len(str(info.value)) < 600


# -- Hypothesis: DAG-shaped genomes ---------------------------------------------------------------

UNARY = ["neg", "exp", "tanh", "sqrt", "abs", "ema", "identity"]
BINARY = ["add", "sub", "mul", "div", "max"]
OPERANDS = ["g", "v", "s", "g2", "one"]


@pytest.fixture(scope="module", autouse=True)
def _warm_up() -> None:
    """First calls into torch and sympy cost seconds once; keep them out of the deadlines."""
    exercise(Genome.from_json(fibonacci(8)))


@st.composite
def dag_genomes(draw: st.DrawFn) -> str:
    """Node i reads nodes after it (so the graph is acyclic) or operands; long chains and
    heavily shared nodes are both likely."""
    n = draw(st.integers(1, 120))
    hidden = []
    for i in range(n):
        later = [f"h{j}" for j in range(i + 1, min(n, i + 4))]
        refs = st.sampled_from(later + OPERANDS) if later else st.sampled_from(OPERANDS)
        if draw(st.booleans()):
            first = draw(refs)
            second = draw(refs.filter(lambda r, first=first: r != first))
            hidden.append({"op": draw(st.sampled_from(BINARY)), "inputs": [first, second]})
        else:
            hidden.append({"op": draw(st.sampled_from(UNARY)), "inputs": [draw(refs)]})
    output = {"op": draw(st.sampled_from(["identity", "neg"])), "inputs": ["h0"]}
    return genome_json(hidden, output)


@settings(max_examples=60, deadline=2000)
@given(dag_genomes())
def test_generated_dags_round_trip_hash_and_compile(text: str) -> None:
    g = Genome.from_json(text)
    back = Genome.from_json(g.to_json())
    assert back == g
    assert back.canonical_hash() == g.canonical_hash()
    assert len(g.canonical_hash()) == 64
    assert g.equation()
    rule = compile_genome(g)
    state = rule.init_state(torch.zeros(3))
    u = rule.update(torch.tensor([0.5, -1.0, 2.0]), state, 0)
    assert u.shape == (3,)
