"""The compiler: every operand and state-holding operation against its SPEC definition,
written out here step by step; only the state the active graph reads is kept."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from optevo import DecayGenome, Genome, Node
from optevo.compile import compile_genome
from optevo.space.ops import OpContext

STEPS = 12
G = torch.randn(STEPS, 7, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 2
W = torch.randn(7, generator=torch.Generator().manual_seed(1), dtype=torch.float64)


def run(genome: Genome, decays: list[float] | None = None) -> tuple[list[np.ndarray], dict]:
    rule = compile_genome(genome)
    state = rule.init_state(G[0])
    outs = []
    for k in range(STEPS):
        u = rule.update(G[k], state, k, decays or [], W, OpContext())
        outs.append(u.clone().numpy())
    return outs, state


def reference(value) -> list[np.ndarray]:
    """Roll the SPEC's EMAs by hand and call value(k, g, v, s, lam, v_hat, s_hat, lam_hat)."""
    g_np = G.numpy()
    v = s = lam = np.zeros(7)
    out = []
    for k in range(STEPS):
        g = g_np[k]
        v = 0.9 * v + 0.1 * g
        s = 0.99 * s + 0.01 * g**2
        lam = 0.999 * lam + 0.001 * g**3
        hats = (v / (1 - 0.9 ** (k + 1)), s / (1 - 0.99 ** (k + 1)), lam / (1 - 0.999 ** (k + 1)))
        out.append(value(k, g, v, s, lam, *hats))
    return out


w = W.numpy()
OPERAND_REF = {
    "g": lambda k, g, v, s, lam, vh, sh, lh: g,
    "g2": lambda k, g, v, s, lam, vh, sh, lh: g**2,
    "g3": lambda k, g, v, s, lam, vh, sh, lh: g**3,
    "v": lambda k, g, v, s, lam, vh, sh, lh: vh,
    "s": lambda k, g, v, s, lam, vh, sh, lh: sh,
    "lam": lambda k, g, v, s, lam, vh, sh, lh: lh,
    "one": lambda k, g, v, s, lam, vh, sh, lh: np.ones(7),
    "two": lambda k, g, v, s, lam, vh, sh, lh: np.full(7, 2.0),
    "w6": lambda k, g, v, s, lam, vh, sh, lh: 1e-6 * w,
    "w5": lambda k, g, v, s, lam, vh, sh, lh: 1e-5 * w,
    "w4": lambda k, g, v, s, lam, vh, sh, lh: 1e-4 * w,
    "w3": lambda k, g, v, s, lam, vh, sh, lh: 1e-3 * w,
    "sign_g": lambda k, g, v, s, lam, vh, sh, lh: np.sign(g),
    "sign_v": lambda k, g, v, s, lam, vh, sh, lh: np.sign(vh),
    "qh_g": lambda k, g, v, s, lam, vh, sh, lh: 0.3 * g + 0.7 * vh,
    "qh_g2": lambda k, g, v, s, lam, vh, sh, lh: 0.05 * g**2 + 0.95 * sh,
    "qh_g3": lambda k, g, v, s, lam, vh, sh, lh: 0.01 * g**3 + 0.99 * lh,
    "agg_g": lambda k, g, v, s, lam, vh, sh, lh: np.mean([b * v - g for b in (0, 0.9, 0.999)], 0),
    "agg_g2": lambda k, g, v, s, lam, vh, sh, lh: np.mean(
        [b * s - g**2 for b in (0, 0.99, 0.999)], 0
    ),
    "agg_g3": lambda k, g, v, s, lam, vh, sh, lh: np.mean(
        [b * lam - g**3 for b in (0, 0.999, 0.9999)], 0
    ),
}
NEEDS = {
    "v": {"v"},
    "s": {"s"},
    "lam": {"lam"},
    "sign_v": {"v"},
    "qh_g": {"v"},
    "qh_g2": {"s"},
    "qh_g3": {"lam"},
    "agg_g": {"v"},
    "agg_g2": {"s"},
    "agg_g3": {"lam"},
}


@pytest.mark.parametrize("operand", sorted(OPERAND_REF))
def test_operand_matches_definition(operand: str) -> None:
    genome = Genome((Node("identity", (operand,)),), Node("identity", ("h0",)))
    got, state = run(genome)
    expected = reference(OPERAND_REF[operand])
    np.testing.assert_allclose(np.array(got), np.array(expected), rtol=1e-12, atol=1e-300)
    assert set(state) == NEEDS.get(operand, set())
    assert compile_genome(genome).needs_weight == operand.startswith("w")


def test_ema_operation_is_bias_corrected_ema_095() -> None:
    got, state = run(Genome((Node("ema", ("g",)),), Node("identity", ("h0",))))
    m, expected = np.zeros(7), []
    for k in range(STEPS):
        m = 0.95 * m + 0.05 * G[k].numpy()
        expected.append(m / (1 - 0.95 ** (k + 1)))
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    assert set(state) == {"h0.ema"}


def test_delta_operation() -> None:
    got, _ = run(Genome((Node("delta", ("g",)),), Node("identity", ("h0",))))
    d, expected = np.zeros(7), []
    for k in range(STEPS):
        d = G[k].numpy() - d
        expected.append(d)
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_runmax_operation_starts_from_zero() -> None:
    got, _ = run(Genome((Node("runmax", ("g",)),), Node("identity", ("h0",))))
    r, expected = np.zeros(7), []
    for k in range(STEPS):
        r = np.maximum(G[k].numpy(), r)
        expected.append(r)
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_shared_node_is_computed_once_and_state_advances_once() -> None:
    # h0 = ema(g) is read twice; its state must advance once per step.
    two_readers = Genome((Node("ema", ("g",)),), Node("add", ("h0", "g")))
    shared = Genome((Node("ema", ("g",)), Node("neg", ("h0",))), Node("sub", ("h0", "h1")))
    got_a, _ = run(two_readers)
    got_b, _ = run(shared)
    ema = np.array(got_a) - G.numpy()
    np.testing.assert_allclose(got_b, 2 * ema, rtol=1e-10)


def test_decay_functions_multiply_their_connection() -> None:
    d = DecayGenome((Node("identity", ("lin_dec",)),), Node("identity", ("h0",)))
    genome = Genome((Node("identity", ("g",), (d,)),), Node("identity", ("h0",)))
    rule = compile_genome(genome)
    assert rule.decays == (d,)
    table = rule.decay_tables(STEPS)[0]
    np.testing.assert_allclose(table, 1 - np.arange(STEPS) / STEPS)
    state = rule.init_state(G[0])
    for k in range(STEPS):
        u = rule.update(G[k], state, k, [table[k]])
        np.testing.assert_allclose(u.numpy(), table[k] * G[k].numpy(), rtol=1e-12)


def test_flipped_genome_negates_the_update() -> None:
    plain = Genome((Node("exp", ("g",)),), Node("identity", ("h0",)))
    flipped = Genome(plain.hidden, plain.output, flipped=True)
    a, _ = run(plain)
    b, _ = run(flipped)
    np.testing.assert_allclose(b, -np.array(a))


def test_inactive_nodes_cost_nothing() -> None:
    genome = Genome(
        (Node("identity", ("g",)), Node("ema", ("lam",)), Node("runmax", ("w3",))),
        Node("identity", ("h0",)),
    )
    rule = compile_genome(genome)
    assert rule.state_names == () and not rule.needs_weight


def test_momentum_buffer_only_for_momentum_types() -> None:
    body = ((Node("identity", ("g",)),), Node("identity", ("h0",)))
    assert "m" not in compile_genome(Genome(*body)).state_names
    assert "m" in compile_genome(Genome(*body, "momentum")).state_names
    assert "m" in compile_genome(Genome(*body, "nesterov")).state_names


def test_missing_weights_are_a_clear_error() -> None:
    rule = compile_genome(Genome((Node("identity", ("w4",)),), Node("identity", ("h0",))))
    with pytest.raises(ValueError, match="reads the weights"):
        rule.update(G[0], rule.init_state(G[0]), 0)
