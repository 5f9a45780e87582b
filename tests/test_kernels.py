"""The buffer forms of the update operations give exactly the values of their definitions."""

from __future__ import annotations

import pytest
import torch

from optevo.kernels import KERNELS
from optevo.space.ops import OPERATIONS, OpContext

SPECIAL = [0.0, -0.0, 1e-7, -1e-7, 1e-40, -1e-40, 8.0, -8.0, 30.0, -30.0, 1e30, -1e30]
SPECIAL += [float("inf"), float("-inf"), float("nan")]


def inputs(dtype: torch.dtype, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    scale = 10.0 ** torch.empty(3, 200, dtype=torch.float64).uniform_(-8, 3, generator=gen)
    x = (torch.randn(3, 200, generator=gen, dtype=torch.float64) * scale).to(dtype)
    x[0, : len(SPECIAL)] = torch.tensor(SPECIAL, dtype=dtype)
    x[1, : len(SPECIAL)] = torch.tensor(SPECIAL[::-1], dtype=dtype)
    return x


def assert_same_bits(got: torch.Tensor, expected: torch.Tensor) -> None:
    assert got.shape == expected.shape and got.dtype == expected.dtype
    torch.testing.assert_close(got, expected, rtol=0, atol=0, equal_nan=True)
    finite = ~torch.isnan(expected)
    assert torch.equal(torch.signbit(got[finite]), torch.signbit(expected[finite]))


def ctx() -> OpContext:
    return OpContext(generator=torch.Generator().manual_seed(7), segments=(50, 120, 30))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", sorted(KERNELS))
def test_buffer_form_equals_definition(name: str, dtype: torch.dtype) -> None:
    kernel, op = KERNELS[name], OPERATIONS[name]
    args = [inputs(dtype, 1), inputs(dtype, 2)][: op.arity]
    scratch = [torch.empty(args[0].shape, dtype=dt or dtype) for dt in kernel.scratch]
    # Its numbers as Python floats, or as 0-dim tensors of the values' dtype (program.py).
    for scalars in (list(kernel.scalars), [torch.tensor(c, dtype=dtype) for c in kernel.scalars]):
        with torch.no_grad():
            expected = op.fn(*args, ctx()) if op.needs_ctx else op.fn(*args)
            out = torch.full_like(args[0], 123.0)
            kernel.run(out, *args, *([ctx()] if kernel.needs_ctx else []), *scratch, *scalars)
            assert_same_bits(out, expected)
            # Where the output may take over an input's buffer, it must still be exact.
            for i, ok in enumerate(kernel.alias):
                if ok:
                    shared = [a.clone() for a in args]
                    extra = [ctx()] if kernel.needs_ctx else []
                    kernel.run(shared[i], *shared, *extra, *scratch, *scalars)
                    assert_same_bits(shared[i], expected)


def test_same_input_twice() -> None:
    # div(x, x): `out` must not be x's buffer, since x is read after `out` is written.
    x = inputs(torch.float32, 3)
    out = torch.empty_like(x)
    KERNELS["div"].run(out, x, x, *KERNELS["div"].scalars)
    assert_same_bits(out, OPERATIONS["div"].fn(x, x))
