"""Duplicates by canonical form and by behaviour (SPEC 6)."""

from __future__ import annotations

import itertools

from optevo import library
from optevo.fingerprint import Identity, SeenSet, behaviour_hash
from optevo.space.genome import Genome


def genome(hidden: list[dict], output: dict, momentum: str = "none") -> Genome:
    return Genome.from_dict(
        {
            "schema": "optevo.genome/1",
            "momentum": momentum,
            "flipped": False,
            "hidden": hidden,
            "output": output,
        }
    )


def test_commutative_inputs_share_the_canonical_form() -> None:
    a = genome([{"op": "tanh", "inputs": ["v"]}], {"op": "add", "inputs": ["h0", "g"]})
    b = genome([{"op": "tanh", "inputs": ["v"]}], {"op": "add", "inputs": ["g", "h0"]})
    assert a != b
    assert a.canonical_hash() == b.canonical_hash()
    assert behaviour_hash(a) == behaviour_hash(b)


def test_double_negation_is_caught_by_behaviour_only() -> None:
    neg2 = genome(
        [{"op": "neg", "inputs": ["v"]}, {"op": "neg", "inputs": ["h0"]}],
        {"op": "identity", "inputs": ["h1"]},
    )
    plain = genome([{"op": "identity", "inputs": ["v"]}], {"op": "identity", "inputs": ["h0"]})
    assert neg2.canonical_hash() != plain.canonical_hash()
    assert behaviour_hash(neg2) == behaviour_hash(plain)
    seen = SeenSet([plain])
    assert neg2 in seen and not seen.is_new(neg2)


def test_max_of_a_value_with_itself_and_times_one() -> None:
    x = genome([{"op": "identity", "inputs": ["qh_g"]}], {"op": "identity", "inputs": ["h0"]})
    mx = genome(
        [{"op": "max", "inputs": ["qh_g", "h1"]}, {"op": "identity", "inputs": ["qh_g"]}],
        {"op": "identity", "inputs": ["h0"]},
    )
    times_one = genome(
        [{"op": "identity", "inputs": ["qh_g"]}], {"op": "mul", "inputs": ["h0", "one"]}
    )
    assert len({x.canonical_hash(), mx.canonical_hash(), times_one.canonical_hash()}) == 3
    assert behaviour_hash(x) == behaviour_hash(mx) == behaviour_hash(times_one)


def test_momentum_type_and_sign_separate_equal_equations() -> None:
    base = genome([{"op": "identity", "inputs": ["g"]}], {"op": "identity", "inputs": ["h0"]})
    others = [
        genome([{"op": "identity", "inputs": ["g"]}], {"op": "identity", "inputs": ["h0"]}, m)
        for m in ("momentum", "nesterov")
    ]
    hashes = {behaviour_hash(g) for g in [base, *others, base.with_flipped(True)]}
    assert len(hashes) == 4


def test_the_named_optimizers_differ_except_where_the_library_says_they_are_equal() -> None:
    names = [n for n in library.names() if not n.startswith("LR")]  # LRk = Adam + a schedule
    ids = {n: Identity.of(library.genome(n)) for n in names}
    same = sorted(
        (a, b) for a, b in itertools.combinations(names, 2) if ids[a].behaviour == ids[b].behaviour
    )
    # docs/interpretations.md: Opt41 is Opt5 (removing atan(demon_dec) from Opt4 leaves Opt5),
    # and Opt42 is the same update without the LR1 factor: a schedule, which the run keys apart.
    assert same == [("Opt41", "Opt42"), ("Opt41", "Opt5"), ("Opt42", "Opt5")]
    assert library.lr_schedule("Opt42") is None and library.lr_schedule("Opt5") == "LR1"


def test_behaviour_hash_sees_decay_functions() -> None:
    opt6, opt61 = library.genome("Opt6"), library.genome("Opt61")
    assert behaviour_hash(opt6) != behaviour_hash(opt61)
    opt10, opt101 = library.genome("Opt10"), library.genome("Opt101")
    assert behaviour_hash(opt10) != behaviour_hash(opt101)
