"""The genome as data: construction rules, JSON, canonical form and hash, rendering,
random initialisation and mutation (SPEC 1, 1.4, 1.5, 2)."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from optevo import DecayGenome, Genome, Node, library
from optevo.integrity import check
from optevo.search.candidates import mutate_genome, random_genome
from optevo.space.config import SpaceConfig
from optevo.space.graph import parse_hidden

FILL = Node("identity", ("g",))


def adam() -> Genome:
    return Genome((Node("sqrt", ("s",)), FILL, FILL, FILL), Node("div", ("v", "h0")))


def lin_dec() -> DecayGenome:
    return DecayGenome((Node("identity", ("lin_dec",)),), Node("identity", ("h0",)))


def output_rules_hold(genome: Genome) -> bool:
    hidden_inputs = [parse_hidden(r) is not None for r in genome.output.inputs]
    if genome.output.arity == 1:
        return hidden_inputs[0]
    return any(hidden_inputs)


# -- construction --------------------------------------------------------------------------


def test_adam_genome_prints_as_adam() -> None:
    g = adam()
    assert str(g) == "u = v / (sqrt(|s|) + eps)\nmomentum: none"
    latex = g.to_latex()
    assert r"\hat{v}" in latex and r"\hat{s}" in latex and r"\sqrt" in latex
    assert "momentum: none" in latex


def test_str_lists_decay_functions_and_flip() -> None:
    g = Genome(
        (Node("identity", ("g",), (lin_dec(),)),),
        Node("identity", ("h0",)),
        "nesterov",
        flipped=True,
    )
    assert str(g).splitlines() == ["u = -(d1(t)*g)", "momentum: nesterov", "d1(t) = lin_dec"]
    assert r"d_{1}" in g.to_latex()


@pytest.mark.parametrize(
    ("hidden", "output", "message"),
    [
        ((Node("nope", ("g",)),), Node("identity", ("h0",)), "unknown operation"),
        ((Node("identity", ("g", "s")),), Node("identity", ("h0",)), "takes 1 input"),
        ((Node("identity", ("zz",)),), Node("identity", ("h0",)), "unknown operand"),
        ((Node("identity", ("g",)),), Node("identity", ("h3",)), "missing node"),
        ((Node("identity", ("h0",)),), Node("identity", ("h0",)), "cannot read itself"),
        ((Node("identity", ("h1",)), Node("neg", ("h0",))), Node("identity", ("h0",)), "cycle"),
        ((Node("identity", ("g",)),), Node("identity", ("g",)), "must read a hidden node"),
        ((Node("add", ("g", "g")),), Node("identity", ("h0",)), "must differ"),
        ((Node("square", ("g",)),), Node("identity", ("h0",)), "not allowed"),
        ((), Node("identity", ("h0",)), "at least one hidden node"),
    ],
)
def test_invalid_graphs_are_rejected(hidden: tuple[Node, ...], output: Node, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Genome(hidden, output)


def test_a_cycle_among_inactive_nodes_is_allowed() -> None:
    g = Genome(
        (Node("identity", ("g",)), Node("neg", ("h2",)), Node("neg", ("h1",))),
        Node("identity", ("h0",)),
    )
    assert g.active_names() == ("h0", "out")


# -- canonical form and hash -----------------------------------------------------------------


def test_canonical_hash_is_sha256_of_the_documented_canonical_form() -> None:
    g = adam()
    assert g.canonical() == "none|+|div(v,sqrt(s))"
    assert g.canonical_hash() == hashlib.sha256(b"none|+|div(v,sqrt(s))").hexdigest()


def test_canonical_form_of_a_genome_with_decay_functions() -> None:
    # A change to this format changes every stored hash: it must be deliberate.
    assert library.genome("Opt4").canonical() == (
        "none|+|div(qh_g,clip(two,abs([atan(identity(demon_dec))]*exp(v))))"
    )
    assert library.genome("Opt10").canonical() == (
        "nesterov|+|i1e(i1e([mul(identity(demon_dec),lin_inc)]*g))"
    )


def test_hash_ignores_inactive_nodes_and_commutative_order() -> None:
    base = Genome((Node("exp", ("g",)), FILL), Node("add", ("h0", "v")))
    other_inactive = Genome((Node("exp", ("g",)), Node("tanh", ("lam",))), Node("add", ("h0", "v")))
    swapped = Genome((Node("exp", ("g",)), FILL), Node("add", ("v", "h0")))
    assert base.canonical_hash() == other_inactive.canonical_hash() == swapped.canonical_hash()
    assert base != other_inactive  # structurally different, canonically equal


def test_hash_distinguishes_what_changes_behaviour() -> None:
    base = Genome((Node("exp", ("g",)), FILL), Node("sub", ("h0", "v")))
    variants = [
        Genome((Node("exp", ("g",)), FILL), Node("sub", ("v", "h0"))),  # not commutative
        Genome((Node("exp", ("g",)), FILL), Node("sub", ("h0", "v")), "momentum"),
        Genome((Node("exp", ("g",)), FILL), Node("sub", ("h0", "v")), flipped=True),
        Genome((Node("exp", ("g",), (lin_dec(),)), FILL), Node("sub", ("h0", "v"))),
    ]
    hashes = {base.canonical_hash(), *(v.canonical_hash() for v in variants)}
    assert len(hashes) == 5


def test_commutative_swap_carries_decays_with_inputs() -> None:
    a = Genome((Node("exp", ("g",)),), Node("mul", ("h0", "v"), (lin_dec(), None)))
    b = Genome((Node("exp", ("g",)),), Node("mul", ("v", "h0"), (None, lin_dec())))
    c = Genome((Node("exp", ("g",)),), Node("mul", ("v", "h0"), (lin_dec(), None)))
    assert a.canonical_hash() == b.canonical_hash() != c.canonical_hash()


# -- random genomes ----------------------------------------------------------------------------


def test_random_is_deterministic_for_a_seed() -> None:
    a = [random_genome(np.random.default_rng(5)) for _ in range(3)]
    assert a[0] == a[1] == a[2]
    assert random_genome(np.random.default_rng(6)) != a[0]


@pytest.mark.slow  # 1,000 genomes, over 3 s
def test_1000_random_genomes_round_trip_and_pass_the_integrity_check() -> None:
    rng = np.random.default_rng(0)
    momenta, decays = set(), 0
    for _ in range(1000):
        g = random_genome(rng)
        back = Genome.from_json(g.to_json())
        assert back == g
        assert back.canonical_hash() == g.canonical_hash()
        result = check(g)
        assert result.passed and result.flipped == g.flipped
        assert output_rules_hold(g)
        assert len(g.hidden) == 4
        momenta.add(g.momentum)
        decays += len(g.decay_functions()) > 0
    assert momenta == {"none", "momentum", "nesterov"}
    assert decays > 50  # decay functions appear (p = 0.15 per connection)


def test_random_decay_functions_stay_within_unit_interval() -> None:
    rng = np.random.default_rng(3)
    for _ in range(200):
        d = DecayGenome.random(rng)
        table = d.table(100)
        assert np.all(table >= 0) and np.all(table <= 1)
        assert len(d.hidden) == 1


def test_hidden_node_arity_follows_spec_probabilities() -> None:
    rng = np.random.default_rng(11)
    unary = total = out_unary = 0
    for _ in range(300):
        g = random_genome(rng)
        unary += sum(n.arity == 1 for n in g.hidden)
        total += len(g.hidden)
        out_unary += g.output.arity == 1
    # Accepted genomes are biased by the integrity check, so only loose bounds hold.
    assert 0.6 < unary / total < 0.9
    assert out_unary / 300 < 0.6


# -- mutation ----------------------------------------------------------------------------------


def test_mutations_keep_output_rules_validity_and_integrity() -> None:
    rng = np.random.default_rng(1)
    g = random_genome(rng)
    changed_momentum = changed_decay = 0
    for _ in range(300):
        child = mutate_genome(g, rng)
        assert child != g
        assert output_rules_hold(child)
        assert check(child).passed
        assert Genome.from_json(child.to_json()) == child
        changed_momentum += child.momentum != g.momentum
        changed_decay += child.decay_functions() != g.decay_functions()
        g = child
    assert changed_momentum > 10 and changed_decay > 5


def test_mutating_only_decays_leaves_the_equation_alone() -> None:
    config = SpaceConfig(mutation_weights=(0.0, 0.0, 0.0, 0.0, 1.0))
    rng = np.random.default_rng(2)
    parent = library.genome("Adam")
    for _ in range(30):
        child = mutate_genome(parent, rng, config)
        assert child.momentum == parent.momentum
        strip = [(n.op, n.inputs) for n in (*child.hidden, child.output)]
        assert strip == [(n.op, n.inputs) for n in (*parent.hidden, parent.output)]
        assert child.decay_functions() != parent.decay_functions()


def test_mutation_is_deterministic_for_a_seed() -> None:
    parent = library.genome("Opt6")
    a = mutate_genome(parent, np.random.default_rng(9))
    b = mutate_genome(parent, np.random.default_rng(9))
    assert a == b


# -- JSON input -------------------------------------------------------------------------------


def valid_dict() -> dict:
    return json.loads(adam().to_json())


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(schema="optevo.genome/99"), "unknown schema version"),
        (lambda d: d["output"].update(op="frobnicate"), "unknown operation"),
        (lambda d: d["output"].update(inputs=["v"]), "takes 2 input"),
        (lambda d: d["output"].update(inputs=["v", "h9"]), "missing node"),
        (lambda d: d["hidden"][0].update(inputs=["nope"]), "unknown operand"),
        (
            lambda d: (
                d["hidden"][0].update(inputs=["h1"])
                or d["hidden"][1].update(inputs=["h0"])
                or d["output"].update(inputs=["v", "h0"])
            ),
            "cycle",
        ),
        (lambda d: d["hidden"][0].update(decays=[None, None]), "missing connection"),
        (lambda d: d.update(momentum=3), "momentum"),
        (lambda d: d.update(momentum="heavy-ball"), "momentum"),
        (lambda d: d.update(flipped="yes"), "flipped"),
        (lambda d: d.update(hidden={}), "hidden"),
        (lambda d: d["output"].update(op=7), "op"),
        (lambda d: d["output"].update(inputs="v"), "inputs"),
        (lambda d: d["output"].update(inputs=[1, 2]), "inputs"),
        (lambda d: d["output"].update(inputs=[]), "arity"),
        (lambda d: d.update(extra=1), "unknown field"),
        (lambda d: d.pop("output"), "missing field"),
        (lambda d: d["hidden"][0].update(decays=[{"hidden": [], "output": {}}]), "decays"),
        (
            lambda d: d["hidden"][0].update(
                decays=[
                    {
                        "hidden": [{"op": "exp", "inputs": ["lin_dec"]}],
                        "output": {"op": "identity", "inputs": ["h0"]},
                    }
                ]
            ),
            "not allowed",
        ),
        (
            lambda d: d["hidden"][0].update(
                decays=[
                    {
                        "hidden": [{"op": "identity", "inputs": ["g"]}],
                        "output": {"op": "identity", "inputs": ["h0"]},
                    }
                ]
            ),
            "unknown operand",
        ),
        (lambda d: d["hidden"][0].update(decays=["lin_dec"]), "expected a JSON object"),
    ],
)
def test_from_json_names_the_problem(change, message: str) -> None:
    d = valid_dict()
    change(d)
    with pytest.raises(ValueError, match=message):
        Genome.from_json(json.dumps(d))


@pytest.mark.parametrize("text", ["", "{", "[]", "null", "42", '"genome"', b"\xff\xfe", "[" * 5000])
def test_from_json_rejects_non_genomes(text: str | bytes) -> None:
    with pytest.raises(ValueError):
        Genome.from_json(text)


def test_from_json_rejects_non_text_with_value_error() -> None:
    with pytest.raises(ValueError):
        Genome.from_json(123)  # type: ignore[arg-type]


def test_library_genomes_round_trip() -> None:
    for name in library.names():
        g = library.genome(name)
        assert Genome.from_json(g.to_json()) == g


@pytest.mark.parametrize(
    ("hidden", "output", "flipped", "text"),
    [
        ((Node("add", ("v", "s")),), Node("sub", ("g", "h0")), False, "g - (v + s)"),
        ((Node("sub", ("v", "s")),), Node("sub", ("h0", "g")), False, "v - s - g"),
        ((Node("add", ("g", "v")),), Node("mul", ("h0", "s")), False, "(g + v) * s"),
        ((Node("add", ("g", "v")),), Node("div", ("h0", "s")), False, "(g + v) / (s + eps)"),
        ((Node("abs", ("g",)),), Node("clip", ("v", "h0")), False, "clip(v, ±|g|)"),
        ((Node("abs", ("g",)),), Node("sqrt", ("h0",)), False, "sqrt(|g|)"),
        ((Node("identity", ("g",)),), Node("identity", ("h0",)), True, "-g"),
        ((Node("add", ("g", "v")),), Node("identity", ("h0",)), True, "-(g + v)"),
        ((Node("exp", ("g",)),), Node("neg", ("h0",)), False, "-exp(g)"),
    ],
)
def test_equation_text_uses_only_needed_parentheses(hidden, output, flipped, text) -> None:
    assert Genome(hidden, output, flipped=flipped).equation() == text


def test_named_equations_read_like_the_paper() -> None:
    assert library.genome("Opt1").equation() == "qh_g + softsign(clip(w5, ±|w5 - qh_g2|))"
    assert library.genome("Opt4").equation() == "qh_g / (clip(two, ±|d1(t)*exp(v)|) + eps)"
    assert library.genome("AddSign-ld").equation() == "(one + d1(t)*sign_g * sign_v) * g"
