"""Every operation of the table against its definition (SPEC 1.2, 1.3, 2), written here
independently with numpy/scipy, on ordinary, zero, negative and huge inputs."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.special as sps
import torch

from optevo.space.ops import (
    BINARY,
    DECAY_BINARY,
    DECAY_UNARY,
    EXTENDED_BINARY,
    EXTENDED_OPERANDS,
    EXTENDED_UNARY,
    OPERANDS,
    OPERATIONS,
    PAPER_OPERANDS,
    UNARY,
    UPDATE_BINARY,
    UPDATE_UNARY,
    OpContext,
    operation_fn,
    schedule_table,
)

EPS = 1e-7
X = np.array(
    [0.0, -0.0, 1.0, -1.0, 0.5, -2.5, 3.0, 1e-30, -1e-30, 25.0, -25.0, 1e30, -1e30, 700.0, -700.0]
)
Y = np.array([0.0, 2.0, -1.0, -3.0, 0.25, 1.5, -0.5, 1e-30, 5.0, -25.0, 3.0, 1e-3, 2.0, -1.0, 0.5])

UNARY_REF = {
    "identity": lambda x: x,
    "neg": lambda x: -x,
    "log": lambda x: np.log(np.abs(x) + EPS),
    "sqrt": lambda x: np.sqrt(np.abs(x)),
    "exp": np.exp,
    "abs": np.abs,
    "sigmoid": sps.expit,
    "recip1p": lambda x: 1.0 / (1.0 + np.abs(x)),
    "softplus": lambda x: np.logaddexp(0.0, x),
    "erf": sps.erf,
    "erfc": sps.erfc,
    "asinh": np.arcsinh,
    "tanh": np.tanh,
    "atan": np.arctan,
    "recip": lambda x: 1.0 / (x + EPS),
    "i1e": sps.i1e,
    "relu": lambda x: np.maximum(x, 0.0),
    "min0": lambda x: np.minimum(x, 0.0),
    "softsign": lambda x: x / (1.0 + np.abs(x)),
    "square": np.square,
    "dtanh": lambda x: 1.0 - np.tanh(x) ** 2,
    "dsigmoid": lambda x: sps.expit(x) * (1.0 - sps.expit(x)),
    "sign": np.sign,  # the extended space (Lion)
}
BINARY_REF = {
    "add": np.add,
    "sub": np.subtract,
    "mul": np.multiply,
    "max": np.maximum,
    "min": np.minimum,
    "div": lambda x, y: x / (y + EPS),
    "div_sqrt1p": lambda x, y: x / np.sqrt(1.0 + y * y),
    "clip": lambda x, y: np.clip(x, -np.abs(y), np.abs(y)),
    "mix": lambda x, y: 0.95 * x + 0.05 * y,
    "pow": lambda x, y: np.abs(x) ** y,
}


def test_table_sizes_match_the_spec() -> None:
    scalar_update = [n for n in UPDATE_UNARY if UNARY[n].state is None]
    state_update = [n for n in UPDATE_UNARY if UNARY[n].state is not None]
    assert len(scalar_update) == 23
    assert sorted(state_update) == ["delta", "ema", "runmax"]
    assert len(UPDATE_BINARY) == 10
    assert len(DECAY_UNARY) == 13
    assert list(DECAY_BINARY) == ["add", "sub", "mul", "max", "min", "div", "div_sqrt1p"]


def test_extended_space_adds_sign_and_dir_and_nothing_to_the_paper_s() -> None:
    assert [n for n in EXTENDED_UNARY if n not in UPDATE_UNARY] == ["sign"]
    assert EXTENDED_BINARY == UPDATE_BINARY
    assert len(PAPER_OPERANDS) == 20 and "dir" not in PAPER_OPERANDS
    assert (*PAPER_OPERANDS, "dir") == EXTENDED_OPERANDS
    assert OPERATIONS["sign"].extended and OPERANDS["dir"].extended


@pytest.mark.parametrize("name", ["log", "recip", "div"])
def test_operation_fn_sets_eps(name: str) -> None:
    x = torch.tensor([0.0, 1e-9, -2.0], dtype=torch.float64)
    args = (x,) if name != "div" else (torch.ones_like(x), x)
    assert operation_fn(name) is OPERATIONS[name].fn
    at_default = operation_fn(name, 1e-7)(*args)
    assert torch.equal(at_default, OPERATIONS[name].fn(*args))
    other = operation_fn(name, 1e-3)(*args)
    expected = {
        "log": np.log(np.abs(x.numpy()) + 1e-3),
        "recip": 1.0 / (x.numpy() + 1e-3),
        "div": 1.0 / (x.numpy() + 1e-3),
    }[name]
    np.testing.assert_allclose(other.numpy(), expected, rtol=1e-12)


@pytest.mark.parametrize("name", sorted(UNARY_REF))
def test_unary_operation_matches_definition(name: str) -> None:
    with np.errstate(all="ignore"):
        expected = UNARY_REF[name](X)
    got = OPERATIONS[name].fn(torch.tensor(X, dtype=torch.float64)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=0.0, equal_nan=True)


@pytest.mark.parametrize("name", sorted(BINARY_REF))
def test_binary_operation_matches_definition(name: str) -> None:
    xs, ys = np.meshgrid(X, Y)
    with np.errstate(all="ignore"):
        expected = BINARY_REF[name](xs, ys)
    got = OPERATIONS[name].fn(torch.tensor(xs), torch.tensor(ys)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=0.0, equal_nan=True)


def test_every_scalar_operation_has_a_reference_here() -> None:
    stateless = {n for n, op in UNARY.items() if op.state is None and not op.needs_ctx}
    assert stateless == set(UNARY_REF)
    assert set(BINARY) == set(BINARY_REF)


def test_float32_huge_inputs_give_inf_or_finite_never_errors() -> None:
    x = torch.tensor([3e38, -3e38, 0.0], dtype=torch.float32)
    assert torch.isinf(OPERATIONS["exp"].fn(x)[0])
    assert OPERATIONS["exp"].fn(x)[1] == 0.0
    assert torch.equal(OPERATIONS["softsign"].fn(x), torch.tensor([1.0, -1.0, 0.0]))


@pytest.mark.parametrize("p", [0.5, 0.3, 0.1])
def test_dropout_zeroes_with_probability_p_and_rescales(p: float) -> None:
    x = torch.full((200_000,), 2.0, dtype=torch.float64)
    out = OPERATIONS[f"drop{p}"].fn(x, OpContext(generator=torch.Generator().manual_seed(1)))
    zero = (out == 0).double().mean().item()
    assert abs(zero - p) < 0.005
    kept = out[out != 0]
    assert torch.allclose(kept, torch.full_like(kept, 2.0 / (1.0 - p)))


def test_dropout_is_deterministic_for_a_seeded_generator() -> None:
    x = torch.randn(1000)
    a = OPERATIONS["drop0.3"].fn(x, OpContext(generator=torch.Generator().manual_seed(7)))
    b = OPERATIONS["drop0.3"].fn(x, OpContext(generator=torch.Generator().manual_seed(7)))
    assert torch.equal(a, b)


def test_norm_clips_each_parameter_tensor_separately() -> None:
    # Two "parameter tensors" side by side: [3, 4] (norm 5) and [0.3, 0.4] (norm 0.5).
    x = torch.tensor([3.0, 4.0, 0.3, 0.4], dtype=torch.float64)
    out = OPERATIONS["norm"].fn(x, OpContext(segments=(2, 2)))
    expected = np.array([3 / 5, 4 / 5, 0.3, 0.4])  # norms below 1 are left alone
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12)
    # Rows (the batched layout) are separate too.
    rows = torch.tensor([[3.0, 4.0], [0.6, 0.8]], dtype=torch.float64)
    out = OPERATIONS["norm"].fn(rows, OpContext())
    np.testing.assert_allclose(out.numpy(), [[0.6, 0.8], [0.6, 0.8]], rtol=1e-12)


SCHEDULE_REF = {
    "lin_dec": lambda t, T: 1 - t / T,
    "lin_inc": lambda t, T: t / T,
    "cos_dec": lambda t, T: 0.5 * (1 + np.cos(np.pi * t / T)),
    "cos_inc": lambda t, T: 0.5 * (1 - np.cos(np.pi * t / T)),
    "cyc_cos_dec": lambda t, T: 0.5 * (1 + np.cos(2 * np.pi * t / T)),
    "cyc_cos_inc": lambda t, T: 0.5 * (1 - np.cos(2 * np.pi * t / T)),
    "cos_dec_restart": lambda t, T: 0.5 * (1 + np.cos(np.pi * ((2 * t) % T) / T)),
    "cos_inc_restart": lambda t, T: 0.5 * (1 - np.cos(np.pi * ((2 * t) % T) / T)),
    "lin_dec_restart": lambda t, T: 1 - ((2 * t) % T) / T,
    "lin_inc_restart": lambda t, T: ((2 * t) % T) / T,
    "exp_dec": lambda t, T: 0.01 ** (t / T),
    "exp_inc": lambda t, T: 1 - 0.01 ** (t / T),
    "demon_dec": lambda t, T: (0.95 * (1 - (t + 1) / T)) / (0.05 + 0.95 * (1 - (t + 1) / T)),
    "demon_inc": lambda t, T: 0.95 - (0.95 * (1 - (t + 1) / T)) / (0.05 + 0.95 * (1 - (t + 1) / T)),
}


@pytest.mark.parametrize("name", sorted(SCHEDULE_REF))
@pytest.mark.parametrize("T", [7, 100, 1000])
def test_decay_schedules_match_definition(name: str, T: int) -> None:
    t = np.arange(T, dtype=np.float64)
    np.testing.assert_allclose(
        schedule_table(name, T).numpy(), SCHEDULE_REF[name](t, T), rtol=1e-12, atol=1e-15
    )


def test_demon_dec_reaches_zero_at_the_last_step() -> None:
    assert schedule_table("demon_dec", 50)[-1] == 0.0
