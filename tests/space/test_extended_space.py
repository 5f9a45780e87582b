"""The extended space: constants as genes (`optevo.space.genes`), JSON schema 2, the canonical
form and hashes with constants, their text forms, their mutation, and what the compiler,
the integrity check and the fingerprint make of them."""

from __future__ import annotations

import json
import math
import pickle

import numpy as np
import pytest
import torch

from optevo import Genome, Node, library
from optevo.compile import compile_genome
from optevo.fingerprint import behaviour_hash
from optevo.integrity import check
from optevo.scheduled import ScheduledRule
from optevo.search.config import RunConfig
from optevo.space.config import DEFAULT_SPACE, EXTENDED_SPACE, SpaceConfig
from optevo.space.genes import GENES, WD_MUTATION_RANGE, Constants, mutate_constant
from optevo.space.genome import SCHEMA, SCHEMA_EXTENDED
from optevo.space.ops import OpContext

FILL = Node("identity", ("g",))
ADAM_V1 = (
    '{"schema": "optevo.genome/1", "momentum": "none", "flipped": false, '
    '"hidden": [{"op": "sqrt", "inputs": ["s"]}, {"op": "identity", "inputs": ["g"]}, '
    '{"op": "identity", "inputs": ["g"]}, {"op": "identity", "inputs": ["g"]}], '
    '"output": {"op": "div", "inputs": ["v", "h0"]}}'
)
"""Adam as a file written before schema 2 existed."""


def adam(**constants: float) -> Genome:
    return Genome((Node("sqrt", ("s",)), FILL, FILL, FILL), Node("div", ("v", "h0")), "none",
                  constants=Constants(constants))  # fmt: skip


def extended_genomes(n: int, seed: int) -> list[Genome]:
    """Random genomes of the extended space with constants moved."""
    rng = np.random.default_rng(seed)
    moving = EXTENDED_SPACE.model_copy(update={"constant_mutation_p": 1.0})
    out: list[Genome] = []
    while len(out) < n:
        g = Genome.propose(rng, EXTENDED_SPACE)
        if g is None:
            continue
        for _ in range(3):
            g = g.propose_mutation(rng, moving) or g
        out.append(g)
    return out


# -- constants as data ---------------------------------------------------------------------------


def test_default_valued_constants_are_not_held_so_one_optimizer_has_one_form() -> None:
    plain = adam()
    defaults = adam(beta_v=0.9, beta_s=0.99, eps=1e-7, wd=0.0, mix_g=0.3)
    assert defaults == plain and not defaults.constants and not defaults.is_extended
    assert defaults.canonical() == plain.canonical() == "none|+|div(v,sqrt(s))"
    assert defaults.canonical_hash() == plain.canonical_hash()
    assert defaults.to_json() == plain.to_json() == Genome.from_json(ADAM_V1).to_json()
    assert json.loads(defaults.to_json())["schema"] == SCHEMA


def test_constants_are_ordered_hashable_and_read_with_defaults() -> None:
    c = Constants({"wd": 0.01, "beta_s": 0.999, "eps": 1e-7})
    assert list(c) == ["beta_s", "wd"] and dict(c) == {"beta_s": 0.999, "wd": 0.01}
    assert c == Constants([("beta_s", 0.999), ("wd", 0.01)]) and hash(c) == hash(Constants(c))
    assert c.value("eps") == 1e-7 and c.value("beta_s") == 0.999
    assert c.replace("wd", 0.0) == Constants({"beta_s": 0.999})
    g = adam(beta_s=0.999)
    assert g.constant("beta_s") == 0.999 and g.constant("beta_v") == 0.9
    assert g.with_constants({"wd": 0.1}).constants == Constants({"beta_s": 0.999, "wd": 0.1})
    with pytest.raises(KeyError, match="unknown constant"):
        g.constant("beta")
    # Process and Ray executors pickle genomes (in memory, never to files).
    adamw = library.genome("AdamW")
    again = pickle.loads(pickle.dumps(adamw))
    assert again == adamw and hash(again) == hash(adamw) and again.constants == adamw.constants


def test_canonical_form_holds_the_non_default_constants_the_active_graph_reads() -> None:
    assert adam(beta_s=0.999).canonical() == "none|+|div(v,sqrt(s))|beta_s=0.999"
    assert adam(beta_s=0.999).canonical_hash() != adam().canonical_hash()
    # lam is not read: its rate changes nothing, as an inactive node changes nothing.
    dead = adam(beta_lam=0.5)
    assert dead != adam() and dead.canonical() == adam().canonical()
    assert json.loads(dead.to_json())["constants"] == {"beta_lam": 0.5}
    assert adam(wd=0.1).canonical().endswith("|wd=0.1")  # wd acts beside the graph: always read
    assert library.genome("AdamW").canonical() == (
        "none|+|div(v,sqrt(s))|beta_s=0.999,eps=1e-08,wd=0.01"
    )
    assert library.genome("Lion").live_constants() == ("beta_v", "beta_dir", "wd")
    assert library.genome("Opt1").live_constants() == ("beta_v", "beta_s", "mix_g", "mix_g2", "wd")


def test_text_forms_show_the_constants() -> None:
    adamw, lion = library.genome("AdamW"), library.genome("Lion")
    assert str(adamw).splitlines() == [
        "u = v / (sqrt(|s|) + eps)",
        "momentum: none",
        "constants: beta_s=0.999, eps=1e-08, wd=0.01",
    ]
    assert adamw.equation() == "v / (sqrt(|s|) + eps) with beta_s=0.999, eps=1e-08, wd=0.01"
    assert str(lion).splitlines() == ["u = sign(dir)", "momentum: none", "constants: beta_v=0.99"]
    latex = adamw.to_latex()
    assert r"\text{constants: } \beta_{s} = 0.999, \epsilon = 10^{-8}, \mathrm{wd} = 0.01" in latex
    assert r"\operatorname{sign}" in lion.to_latex() and r"\beta_{v} = 0.99" in lion.to_latex()
    assert "constants" not in str(library.genome("Adam"))


# -- JSON ----------------------------------------------------------------------------------------


def test_schema_2_round_trips_and_schema_1_still_loads() -> None:
    for g in [library.genome("AdamW"), library.genome("Lion"), *extended_genomes(30, 0)]:
        d = g.to_dict()
        assert d["schema"] == (SCHEMA_EXTENDED if g.is_extended else SCHEMA)
        if g.is_extended:
            assert d["constants"] == dict(g.constants)
        assert Genome.from_json(g.to_json()) == g
        assert Genome.from_json(g.to_json(indent=2)).canonical_hash() == g.canonical_hash()
    old = Genome.from_json(ADAM_V1)
    assert old == library.genome("Adam") and not old.constants
    assert list(json.loads(library.genome("AdamW").to_json())) == [
        "schema", "momentum", "flipped", "constants", "hidden", "output"
    ]  # fmt: skip


def test_schema_2_without_constants_reads_as_all_defaults() -> None:
    d = json.loads(ADAM_V1) | {"schema": SCHEMA_EXTENDED}
    assert Genome.from_dict(d) == library.genome("Adam")
    d["constants"] = {"eps": 1e-7}
    assert Genome.from_dict(d) == library.genome("Adam")


def _adam_dict(**changes: object) -> dict[str, object]:
    return json.loads(ADAM_V1) | changes


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (_adam_dict(constants={"wd": 0.1}), "constants need schema 'optevo.genome/2'"),
        (
            _adam_dict(hidden=[{"op": "sign", "inputs": ["g"]}]),
            "extended space .* needs schema 'optevo.genome/2'",
        ),
        (_adam_dict(schema="optevo.genome/3"), "unknown schema version 'optevo.genome/3'"),
        (_adam_dict(schema=SCHEMA_EXTENDED, constants={"beta": 0.9}), "unknown constant 'beta'"),
        (_adam_dict(schema=SCHEMA_EXTENDED, constants=[0.9]), "constants: expected a JSON object"),
        (
            _adam_dict(schema=SCHEMA_EXTENDED, constants={"eps": "1e-8"}),
            r"genome\.constants\.eps: expected a number, got a string",
        ),
        (
            _adam_dict(schema=SCHEMA_EXTENDED, constants={"wd": True}),
            "wd: expected a number, got a boolean",
        ),
        (
            _adam_dict(schema=SCHEMA_EXTENDED, constants={"beta_s": 1.0}),
            r"beta_s: 1\.0 is outside its range \[0\.0, 0\.99999\]",
        ),
        (
            _adam_dict(schema=SCHEMA_EXTENDED, constants={"beta_v": -0.1}),
            "beta_v: -0.1 is outside its range",
        ),
        (_adam_dict(schema=SCHEMA_EXTENDED, constants={"eps": 0}), "eps: 0.0 is outside its range"),
        (_adam_dict(schema=SCHEMA_EXTENDED, constants={"wd": -1e-3}), "wd: -0.001 is outside"),
        (_adam_dict(schema=SCHEMA_EXTENDED, constants={"mix_g": 1.0}), "mix_g: 1.0 is outside"),
    ],
)
def test_bad_constants_and_schemas_name_the_problem(data: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Genome.from_json(json.dumps(data))


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_constants_are_refused(literal: str) -> None:
    text = json.dumps(_adam_dict(schema=SCHEMA_EXTENDED, constants={"eps": 0.5}))
    text = text.replace("0.5", literal)
    with pytest.raises(ValueError, match="eps: must be finite"):
        Genome.from_json(text)


def test_constructor_checks_constants() -> None:
    with pytest.raises(ValueError, match=r"beta_v: 2\.0 is outside"):
        adam(beta_v=2.0)
    with pytest.raises(ValueError, match="constants must be a mapping"):
        Genome((FILL,), Node("identity", ("h0",)), constants=[("wd", 0.1)])  # type: ignore[arg-type]
    plain = Genome((FILL,), Node("identity", ("h0",)), constants={"wd": 0.1})  # type: ignore[arg-type]
    assert plain.constants == Constants({"wd": 0.1})


# -- behaviour -----------------------------------------------------------------------------------


def test_fingerprint_sees_constants_and_weight_decay_but_not_unread_ones() -> None:
    hashes = {
        behaviour_hash(g)
        for g in (adam(), adam(beta_s=0.999), adam(beta_s=0.999, eps=1e-8), library.genome("AdamW"))
    }
    assert len(hashes) == 4  # the last two differ in wd alone, which acts beside the update
    assert behaviour_hash(adam(beta_lam=0.5)) == behaviour_hash(adam())


def test_extended_library_genomes_pass_the_integrity_check_unflipped() -> None:
    for name in ("AdamW", "Lion"):
        result = check(library.genome(name))
        assert result.passed and not result.flipped, name


def test_weight_decay_does_not_flip_with_a_negative_learning_rate() -> None:
    """The integrity check flips a run's update by negating its learning rate: the decay must
    stay a decay (-|lr| wd w), or a flipped run of a decaying genome would blow up."""
    sgd = Genome((FILL,), Node("identity", ("h0",)), constants=Constants({"wd": 0.5}))
    rule = compile_genome(sgd)
    assert rule.needs_weight and not compile_genome(library.genome("SGD")).needs_weight
    w = torch.tensor([[2.0, -4.0], [2.0, -4.0]], dtype=torch.float64)
    g = torch.tensor([[1.0, 1.0], [1.0, 1.0]], dtype=torch.float64)
    lr = torch.tensor([[0.1], [-0.1]], dtype=torch.float64)
    delta = rule.delta(g, rule.init_state(w), 0, [], lr, 0.9, w)
    expected = torch.tensor([[-0.2, 0.1], [0.0, 0.3]], dtype=torch.float64)  # -lr g - 0.05 w
    torch.testing.assert_close(delta, expected, rtol=1e-15, atol=1e-15)


@pytest.mark.parametrize("momentum", ["none", "momentum", "nesterov"])
def test_static_step_with_weight_decay_is_the_plain_step(momentum: str) -> None:
    """`delta_static` (what a CUDA graph replays) computes -|lr| wd from its bound tensors."""
    genome = Genome(
        (Node("sqrt", ("s",)),), Node("div", ("dir", "h0")), momentum, constants={"wd": 0.03}
    )  # type: ignore[arg-type]
    scheduled = ScheduledRule.create(genome, 12, 3)
    gen = torch.Generator().manual_seed(0)
    peak = torch.tensor([[1e-2], [-3e-3]], dtype=torch.float64)
    w_a = torch.randn(2, 9, generator=gen, dtype=torch.float64)
    w_b = w_a.clone()
    state_a, state_b = scheduled.init_state(w_a), scheduled.init_state(w_b)
    ws_a, ws_b = scheduled.workspace(w_a), scheduled.workspace(w_b)
    values = torch.zeros(scheduled.rule.delta_program.n_step_values, dtype=torch.float64)
    ws_b.bind_static(values, peak)
    for k in range(12):
        g = torch.randn(2, 9, generator=gen, dtype=torch.float64)
        w_a.add_(scheduled.delta(g, state_a, k, peak, w_a, OpContext(), ws_a))
        values.copy_(torch.tensor(scheduled.step_values(k), dtype=torch.float64))
        w_b.add_(scheduled.delta_static(g, state_b, ws_b, w_b))
        assert torch.equal(w_a, w_b), k


# -- mutation of constants -----------------------------------------------------------------------


@pytest.mark.parametrize("name", list(GENES))
def test_constant_mutation_stays_in_range_and_is_deterministic(name: str) -> None:
    gene = GENES[name]
    config = EXTENDED_SPACE
    starts = [gene.default, gene.lo, gene.hi] + ([0.05] if gene.scale == "wd" else [])
    for start in starts:
        constants = Constants({name: start})
        draws = []
        rng = np.random.default_rng(7)
        for _ in range(300):
            moved = mutate_constant(rng, constants, (name,), config)
            x = moved.value(name)
            assert gene.lo <= x <= gene.hi and math.isfinite(x), (name, start, x)
            draws.append(x)
            constants = moved  # a random walk, to reach the bounds
        again = np.random.default_rng(7)
        walk = Constants({name: start})
        for x in draws:
            walk = mutate_constant(again, walk, (name,), config)
            assert walk.value(name) == x


def test_beta_moves_by_a_log_normal_factor_on_one_minus_beta() -> None:
    rng = np.random.default_rng(1)
    sigma = EXTENDED_SPACE.constant_sigma
    steps = []
    for _ in range(4000):
        moved = mutate_constant(rng, Constants(), ("beta_s",), EXTENDED_SPACE).value("beta_s")
        steps.append(math.log(1.0 - moved) - math.log(1.0 - 0.99))
    assert abs(float(np.mean(steps))) < 0.03 and abs(float(np.std(steps)) - sigma) < 0.03


def test_weight_decay_switches_on_log_uniformly_and_off_with_its_probability() -> None:
    config = EXTENDED_SPACE.model_copy(update={"wd_off_p": 0.25})
    rng = np.random.default_rng(2)
    on = [mutate_constant(rng, Constants(), ("wd",), config).value("wd") for _ in range(2000)]
    lo, hi = config.wd_on_range
    assert all(lo <= x <= hi for x in on)
    logs = np.log10(on)
    assert abs(float(np.mean(logs)) + 3.0) < 0.1  # log-uniform on [-5, -1]: mean -3
    moved = [mutate_constant(rng, Constants({"wd": 0.01}), ("wd",), config) for _ in range(2000)]
    off = sum(m.value("wd") == 0.0 for m in moved) / len(moved)
    assert abs(off - 0.25) < 0.04
    assert all(
        m.value("wd") == 0.0 or WD_MUTATION_RANGE[0] <= m.value("wd") <= WD_MUTATION_RANGE[1]
        for m in moved
    )


def test_extended_mutation_moves_one_live_constant_and_keeps_the_graph() -> None:
    config = EXTENDED_SPACE.model_copy(update={"constant_mutation_p": 1.0})
    rng = np.random.default_rng(3)
    lion = library.genome("Lion")
    seen: set[str] = set()
    for _ in range(200):
        child = lion.propose_mutation(rng, config)
        if child is None:
            continue
        assert (child.hidden, child.output, child.momentum) == (
            lion.hidden, lion.output, lion.momentum
        )  # fmt: skip
        changed = {n for n in GENES if child.constant(n) != lion.constant(n)}
        assert len(changed) == 1 and changed <= set(lion.live_constants())
        seen |= changed
    assert seen == {"beta_v", "beta_dir", "wd"}


def test_paper_space_never_moves_constants_nor_draws_extended_operations() -> None:
    rng = np.random.default_rng(4)
    for _ in range(300):
        g = Genome.propose(rng, DEFAULT_SPACE)
        if g is not None:
            assert not g.is_extended
            child = g.propose_mutation(rng, DEFAULT_SPACE)
            assert child is None or not child.is_extended
    drawn = [Genome.propose(rng, EXTENDED_SPACE) for _ in range(400)]
    text = " ".join(str(g) for g in drawn if g is not None)
    assert "sign(" in text and "dir" in text


# -- configuration -------------------------------------------------------------------------------


def test_space_config_kind_and_local_weights() -> None:
    assert DEFAULT_SPACE.kind == "paper" and EXTENDED_SPACE.kind == "extended"
    partial = SpaceConfig(local_weights={"constant": 0.5, "insert": 0.0})  # type: ignore[arg-type]
    assert partial.local_weights == (0.25, 0.15, 0.0, 0.1, 0.15, 0.5, 0.05)
    with pytest.raises(ValueError, match="unknown edit 'grow'"):
        SpaceConfig(local_weights={"grow": 1.0})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="7 finite non-negative weights"):
        SpaceConfig(local_weights=(1.0, 2.0))
    only_constants = dict.fromkeys(
        ("replace", "connection", "insert", "delete", "decay", "momentum"), 0.0
    )
    with pytest.raises(ValueError, match="paper's space has no constants"):
        SpaceConfig(local_weights=only_constants)  # type: ignore[arg-type]
    assert SpaceConfig(kind="extended", local_weights=only_constants).kind == "extended"  # type: ignore[arg-type]


def test_paper_space_config_dumps_as_before_and_extended_settings_round_trip() -> None:
    """Stored runs compare their config.yaml with the configuration's dump: a paper-space
    configuration must dump the fields it always had, and no others."""
    assert list(DEFAULT_SPACE.model_dump(mode="json")) == [
        "n_hidden", "hidden_unary_p", "output_unary_p", "identity_p", "operand_p", "decay_p",
        "decay_n_hidden", "decay_unary_p", "decay_check_steps", "mutation_weights", "swap_p",
        "decay_delete_p", "max_tries",
    ]  # fmt: skip
    custom = SpaceConfig(kind="extended", constant_sigma=0.2, wd_on_range=(1e-4, 1e-2))
    dumped = custom.model_dump(mode="json")
    assert dumped["kind"] == "extended" and dumped["constant_sigma"] == 0.2
    assert "local_weights" not in dumped
    assert SpaceConfig.model_validate(dumped) == custom
    assert SpaceConfig.model_validate_json(custom.model_dump_json()) == custom


def test_run_config_reads_space_extended_as_a_plain_string() -> None:
    assert RunConfig.model_validate({"space": "extended"}).space == EXTENDED_SPACE
    assert RunConfig.model_validate({"space": "paper"}).space == DEFAULT_SPACE
    mapping = RunConfig.model_validate({"space": {"kind": "extended", "constant_sigma": 0.3}})
    assert mapping.space.kind == "extended" and mapping.space.constant_sigma == 0.3
    with pytest.raises(ValueError, match="'paper' or 'extended'"):
        RunConfig.model_validate({"space": "huge"})
