"""The planned programs (reused buffers, in-place calls) against the genome evaluated the plain
way, expression by expression with `OPERATIONS[...].fn`: the values must be the same bits.
Genomes of the extended space are evaluated with their constants (EMA rates, eps, weights of
the quasi-hyperbolic operands, beta_dir, weight decay)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import Tensor

from optevo import Genome, library
from optevo.compile import compile_genome
from optevo.space.config import EXTENDED_SPACE
from optevo.space.genes import EMA_BETA, QH_WEIGHT
from optevo.space.graph import parse_hidden
from optevo.space.ops import (
    AGG_BETAS,
    EMA_INPUT_POWER,
    EMA_RATES,
    OPERATIONS,
    QH_MIX,
    STATE_EMA_RATE,
    WEIGHT_SCALES,
    OpContext,
    operation_fn,
)

STEPS = 6
CONSTANTS_ONLY = EXTENDED_SPACE.model_copy(update={"constant_mutation_p": 1.0})
"""The extended space with every mutation moving a constant."""
SEGMENTS = (20, 30, 14)
POWERS = {"g": 1, "g2": 2, "g3": 3}


def plain_update(genome: Genome, g: Tensor, w: Tensor, state: dict, k: int, decays, ctx) -> Tensor:
    """SPEC 1's update written the plain way (one new tensor per expression)."""
    rule = compile_genome(genome)
    memo: dict[str, Tensor] = {}
    rates = {ema: genome.constant(EMA_BETA[ema]) for ema in EMA_RATES}
    beta_dir = genome.constant("beta_dir")
    # Lion's direction reads v as it was before this step.
    direction = (
        torch.mul(state["v"], beta_dir).add_(g, alpha=1.0 - beta_dir) if "v" in state else None
    )

    def power(p: int) -> Tensor:
        return g if p == 1 else g * g if p == 2 else g * g * g

    for ema in ("v", "s", "lam"):
        if ema in state:
            state[ema].lerp_(power(EMA_INPUT_POWER[ema]), 1.0 - rates[ema])

    def hat(ema: str) -> Tensor:
        return state[ema] / (1.0 - rates[ema] ** (k + 1))

    def operand(ref: str) -> Tensor:
        if ref in POWERS:
            return power(POWERS[ref])
        if ref in EMA_RATES:
            return hat(ref)
        if ref in ("one", "two"):
            return torch.full_like(g, 1.0 if ref == "one" else 2.0)
        if ref in WEIGHT_SCALES:
            return w * WEIGHT_SCALES[ref]
        if ref == "sign_g":
            return torch.sign(g)
        if ref == "sign_v":
            return torch.sign(state["v"])
        if ref in QH_MIX:
            _, p, ema = QH_MIX[ref]
            mix = genome.constant(QH_WEIGHT[ref])
            return mix * power(POWERS[p]) + (1.0 - mix) * hat(ema)
        if ref == "dir":
            assert direction is not None
            return direction
        betas, p, ema = AGG_BETAS[ref]
        return sum(betas) / len(betas) * state[ema] - power(POWERS[p])

    def value(name: str) -> Tensor:
        if name not in memo:
            node = genome.node(name)
            args = []
            for ref, d in zip(node.inputs, node.decays, strict=True):
                x = value(ref) if parse_hidden(ref) is not None else operand(ref)
                args.append(x if d is None else x * decays[rule.decays.index(d)])
            op = OPERATIONS[node.op]
            if op.state == "ema":
                buf = state[f"{name}.ema"]
                buf.lerp_(args[0], 1.0 - STATE_EMA_RATE)
                memo[name] = buf / (1.0 - STATE_EMA_RATE ** (k + 1))
            elif op.state == "delta":
                memo[name] = state[f"{name}.delta"].neg_().add_(args[0])
            elif op.state == "runmax":
                buf = state[f"{name}.runmax"]
                memo[name] = torch.maximum(buf, args[0], out=buf)
            else:
                fn = operation_fn(node.op, genome.constant("eps"))
                memo[name] = fn(*args, ctx) if op.needs_ctx else fn(*args)
        return memo[name]

    u = value(genome.active_names()[-1])
    return -u if genome.flipped else u


def plain_delta(
    u: Tensor, state: dict, lr, mu: float, momentum: str, w: Tensor, wd: float
) -> Tensor:
    if momentum == "none":
        delta = u * (-lr) if isinstance(lr, float) else -lr * u
    else:
        m = state["m"]
        m.mul_(mu).sub_(lr * u)
        delta = m if momentum == "momentum" else mu * m - lr * u
    # The decoupled weight decay of the extended space: -|lr| wd w beside the step.
    return delta if wd == 0.0 else delta + w * (-abs(lr) * wd)


def stream(dtype: torch.dtype) -> list[tuple[Tensor, Tensor]]:
    gen = torch.Generator().manual_seed(0)
    out = []
    for k in range(STEPS):
        scale = 10.0 ** torch.empty(3, sum(SEGMENTS)).uniform_(-5, 1, generator=gen)
        g = (torch.randn(3, sum(SEGMENTS), generator=gen) * scale).to(dtype)
        if k == 2:
            g[:, ::7] = 0.0
        out.append((g, torch.randn(3, sum(SEGMENTS), generator=gen).to(dtype)))
    return out


def genomes(n: int, seed: int, extended: int = 60) -> list[Genome]:
    """The library, random genomes of the paper's space, then `extended` random genomes of the
    extended space with every constant moved (some several times)."""
    rng = np.random.default_rng(seed)
    out = [library.genome(name) for name in library.names()]
    while len(out) < n:
        g = Genome.propose(rng)
        if g is not None:
            out.append(g.with_flipped(bool(rng.integers(2))))
    while len(out) < n + extended:
        g = Genome.propose(rng, EXTENDED_SPACE)
        if g is None:
            continue
        for _ in range(int(rng.integers(1, 6))):
            g = g.propose_mutation(rng, CONSTANTS_ONLY) or g
        out.append(g.with_flipped(bool(rng.integers(2))))
    assert sum(bool(g.constants) for g in out) > extended // 2
    assert {n for g in out for n in g.constants} == {
        "beta_v", "beta_s", "beta_lam", "beta_dir", "eps", "mix_g", "mix_g2", "mix_g3", "wd"
    }  # fmt: skip
    assert any("dir" in str(g) for g in out) and any("sign(" in str(g) for g in out)
    return out


def same(a: Tensor, b: Tensor) -> None:
    torch.testing.assert_close(a, b, rtol=0, atol=0, equal_nan=True)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_program_equals_plain_evaluation(dtype: torch.dtype) -> None:
    data = stream(dtype)
    lr_rows = torch.tensor([[1e-2], [1e-3], [-1e-1]], dtype=dtype)
    for genome in genomes(150, seed=1):
        rule = compile_genome(genome)
        decays = [[0.3 + 0.1 * j + 0.05 * k for j in range(len(rule.decays))] for k in range(8)]
        ours, theirs = rule.init_state(data[0][0]), rule.init_state(data[0][0])
        upd_ws = rule.update_program.workspace(data[0][0])
        delta_ws = rule.delta_program.workspace(data[0][0])
        with torch.no_grad(), np.errstate(all="ignore"):
            for k, (g, w) in enumerate(data):
                ctx_a = OpContext(torch.Generator().manual_seed(k), SEGMENTS)
                ctx_b = OpContext(torch.Generator().manual_seed(k), SEGMENTS)
                lr = 1e-2 if k % 2 else lr_rows
                if k < 3:  # the update alone, with and without a workspace
                    ws = upd_ws if k % 2 else None
                    got = rule.update(g, ours, k, decays[k], w, ctx_a, ws)
                    expected = plain_update(genome, g, w, theirs, k, decays[k], ctx_b)
                else:  # the weight change
                    got = rule.delta(g, ours, k, decays[k], lr, 0.9, w, ctx_a, delta_ws)
                    u = plain_update(genome, g, w, theirs, k, decays[k], ctx_b)
                    wd = genome.constant("wd")
                    expected = plain_delta(u, theirs, lr, 0.9, genome.momentum, w, wd)
                same(got, expected)
                for name in rule.state_names:
                    same(ours[name], theirs[name])


def test_workspace_is_reused_and_results_live_in_it() -> None:
    rule = compile_genome(library.genome("Opt6"))
    g, w = stream(torch.float32)[0]
    state = rule.init_state(g)
    ws = rule.delta_program.workspace(g)
    pointers = ws.data_ptrs()
    results = set()
    for k in range(4):
        d = rule.delta(g, state, k, [0.5], 1e-3, 0.9, w, OpContext(), ws)
        results.add(d.data_ptr())
    assert ws.data_ptrs() == pointers
    assert results <= set(pointers)
    with pytest.raises(ValueError, match="another program or shape"):
        rule.delta(g[0], state, 0, [0.5], 1e-3, 0.9, w, OpContext(), ws)


def test_buffers_are_shared_between_values_that_do_not_overlap() -> None:
    # Adam, -lr * v_hat / (sqrt(|s_hat|) + eps): g^2 is dead once s is advanced, so two
    # buffers hold g^2, v_hat, s_hat, sqrt(|s_hat|), the quotient and the weight change.
    program = compile_genome(library.genome("Adam")).delta_program
    assert program.buffer_dtypes == (None, None)
    assert len(program.instructions) == 8  # lerp v, g*g, lerp s, 2 hats, sqrt, div, * -lr
