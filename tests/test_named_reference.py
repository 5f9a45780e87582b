"""Every named optimizer against an independent float64 reference written from the SPEC.

The reference below re-derives each update of SPEC 7.2 / 7.4 (and Adam of SPEC 6) from the
formulas, with its own one-cycle schedule (SPEC 4), cycled momentum (SPEC 1), decay schedules
(SPEC 2) and learning-rate factors (SPEC 7.3). Nothing but `create`, `NAMES` and
`library.lr_schedule` is imported from optevo.

Protocol (SPEC, "Indexing"): the k-th `step()` reads every schedule at t = k and bias-corrects
with the exponent k + 1; v = EMA_0.9(g), s = EMA_0.99(g^2), lam = EMA_0.999(g^3); every "/" of
an update is x / (y + eps), eps = 1e-7.

Each optimizer runs 100 steps on three parameter tensors of different shapes, from random
weights, fed a fixed seeded stream of random gradients that does not depend on the weights,
and the weights are compared after every step, in two precisions:

* float64 parameters: optevo then computes in float64 too, and the only differences left are
  rounding, so the tolerance is tight (rtol 1e-9) and catches even an eps in the wrong place.
* float32 parameters (the normal use): optevo computes in float32, the reference in float64
  from the same float32-rounded gradients. float32 has a unit roundoff of 6e-8; each step adds
  a rounding of about that size relative to |w| plus the relative rounding of the update (a few
  ulp through the ops of a genome), so after 100 steps of weights of size 1..3 the drift is
  at most 100 * 6e-8 * 3 ~ 2e-5 and in practice a random walk, measured up to 1.6e-6 absolute
  (3e-7 relative). An element that passes near zero keeps the absolute error it gathered
  while it was large, hence atol = 2e-6 next to rtol = 1e-5: a margin of about 8 over the
  measured errors, while a real error of an update (lr * O(1) = 1e-3 .. 1e-2 per step) is
  hundreds of times larger. Errors smaller than that (an eps misplaced) are the float64
  run's job.

A1, A4 and A5 cannot put the SPEC's "+ eps" inside their clip bound in the search space (the
library clips to sqrt(S) / sigmoid(S), not sqrt(S) + eps / sigmoid(S + eps)); the reference
keeps the SPEC formula and the comparison allows for the difference, see `_deviation_atol`.

AdamW and Lion are genomes of the extended space (constants as genes); their references are
written from their papers: AdamW (Loshchilov & Hutter) with torch.optim.AdamW's defaults, betas
(0.9, 0.999), eps 1e-8, w <- w (1 - lr wd) - lr u with wd 0.01; Lion (Chen et al. 2023,
Algorithm 2): u = sign(0.9 m + 0.1 g) with m the EMA_0.99 of g before this step.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from scipy import special

from helpers.spec_reference import dtanh as _dtanh
from helpers.spec_reference import lr_factor_ref, one_cycle_ref
from helpers.spec_reference import momentum_ref as mu_ref
from helpers.spec_reference import softsign as _softsign
from optevo import library
from optevo.optim import NAMES, create

EPS = 1e-7
T = 100
PEAK = 1e-2
SHAPES = [(3, 4), (5,), (2, 3, 2, 2)]
N_ELEMENTS = sum(math.prod(shape) for shape in SHAPES)
CONFIGS = {"warm": (5, 10), "nowarm": (0, 0)}  # (W, H) of the one-cycle schedule

EXPECTED_NAMES = [
    "Adam", "RMSProp", "SGD", "Momentum", "Nesterov", "QHM", "PowerSign-ld", "AddSign-ld",
    "Opt1", "Opt2", "Opt3", "Opt4", "Opt41", "Opt42", "Opt5", "Opt6", "Opt61", "Opt7",
    "Opt71", "Opt8", "Opt81", "Opt9", "Opt91", "Opt10", "Opt101",
    "A1", "A2", "A3", "A4", "A5",
    "LR1", "LR2", "LR3", "LR4", "LR5", "LR6", "LR7", "LR8", "LR9",
    "AdamW", "Lion",
]  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Schedules, written from the SPEC
# ---------------------------------------------------------------------------------------------


def decay(name: str, t: float, T: int) -> float:
    """SPEC 2's schedules of the step t in [0, T)."""
    r = ((2 * t) % T) / T
    b = 0.95 * (1.0 - (t + 1.0) / T)
    return {
        "lin_dec": 1.0 - t / T,
        "lin_inc": t / T,
        "cos_inc": 0.5 * (1.0 - math.cos(math.pi * t / T)),
        "cyc_cos_inc": 0.5 * (1.0 - math.cos(2.0 * math.pi * t / T)),
        "cos_inc_restart": 0.5 * (1.0 - math.cos(math.pi * r)),
        "lin_inc_restart": r,
        "exp_dec": 0.01 ** (t / T),
        "exp_inc": 1.0 - 0.01 ** (t / T),
        "demon_dec": b / (0.05 + b),
    }[name]


# ---------------------------------------------------------------------------------------------
# The updates u of SPEC 7.2 / 7.4, on float64 numpy arrays of one parameter tensor
# ---------------------------------------------------------------------------------------------


@dataclass
class Ctx:
    g: np.ndarray  # gradient
    w: np.ndarray  # weight before this step's update
    v: np.ndarray  # v_hat
    s: np.ndarray  # s_hat
    lam: np.ndarray  # lam_hat
    v_raw: np.ndarray  # un-corrected EMA_0.9(g), for sign(m) of PowerSign / AddSign
    k: int
    T: int
    m_before: np.ndarray  # Lion's m = EMA_beta2(g) before this step's update

    @property
    def qh_g(self):
        return 0.3 * self.g + 0.7 * self.v

    @property
    def qh_g2(self):
        return 0.05 * self.g**2 + 0.95 * self.s

    @property
    def qh_g3(self):
        return 0.01 * self.g**3 + 0.99 * self.lam

    def d(self, name: str) -> float:
        return decay(name, float(self.k), self.T)


def div(x, y):
    """The search space's division (SPEC 1.3, and every "/" of SPEC 7.2)."""
    return x / (y + EPS)


def clip(x, y):
    """clip(x, -|y|, |y|)."""
    c = np.abs(y)
    return np.minimum(np.maximum(x, -c), c)


def norm(x):
    """x / max(1, ||x||_2) over the whole parameter tensor (clip_by_norm(x, 1))."""
    return x / max(1.0, float(np.sqrt(np.sum(x * x))))


def _opt1(c: Ctx):
    w5 = 1e-5 * c.w
    return c.qh_g + _softsign(clip(w5, w5 - c.qh_g2))


def _opt23(second: str) -> Callable[[Ctx], np.ndarray]:
    def u(c: Ctx):
        w5 = 1e-5 * c.w
        q = c.qh_g2 if second == "g2" else c.qh_g3
        return c.qh_g + _softsign(w5 / np.sqrt(1.0 + (w5 - q) ** 2))

    return u


def _opt4(c: Ctx):
    bound = np.abs(math.atan(c.d("demon_dec")) * np.exp(c.v))
    return div(c.qh_g, clip(2.0, bound))


def _opt5(c: Ctx):
    return div(c.qh_g, clip(2.0, np.exp(c.v)))


def _opt6(c: Ctx):
    return div(c.qh_g, np.abs(_dtanh(c.d("cos_inc")) * np.exp(1e-4 * c.w)))


def _opt61(c: Ctx):
    return div(c.qh_g, np.abs(np.exp(1e-4 * c.w)))


def _a(c: Ctx):
    return max(c.d("cyc_cos_inc"), c.d("lin_inc_restart"))


def _adam(c: Ctx):
    return div(c.v, np.sqrt(np.abs(c.s)))


@dataclass(frozen=True)
class Ref:
    update: Callable[[Ctx], np.ndarray]
    momentum: str = "none"  # none | momentum | nesterov
    lr_factor: str | None = None  # LRk multiplied with the base schedule
    beta1: float = 0.9  # the rate of v (Lion: of m)
    beta2: float = 0.99  # the rate of s
    weight_decay: float = 0.0  # decoupled: w <- w (1 - lr wd) - lr u, as AdamW


def _adamw(c: Ctx):
    """torch.optim.AdamW's update direction: m_hat / (sqrt(v_hat) + eps), eps = 1e-8."""
    return c.v / (np.sqrt(c.s) + 1e-8)


def _lion(c: Ctx):
    """Lion (Algorithm 2 of Chen et al. 2023): sign(beta1 m + (1 - beta1) g), beta1 = 0.9."""
    return np.sign(0.9 * c.m_before + 0.1 * c.g)


REFERENCES: dict[str, Ref] = {
    # Baselines (SPEC 7.4; Adam as written in the search space, SPEC 6)
    "Adam": Ref(_adam),
    # The SPEC names RMSProp without a formula: the search space's g / (sqrt(|s_hat|) + eps).
    "RMSProp": Ref(lambda c: div(c.g, np.sqrt(np.abs(c.s)))),
    "SGD": Ref(lambda c: c.g),
    "Momentum": Ref(lambda c: c.g, "momentum"),
    "Nesterov": Ref(lambda c: c.g, "nesterov"),
    "QHM": Ref(lambda c: c.qh_g),
    "PowerSign-ld": Ref(lambda c: np.exp(c.d("lin_dec") * np.sign(c.g) * np.sign(c.v_raw)) * c.g),
    "AddSign-ld": Ref(lambda c: (1.0 + c.d("lin_dec") * np.sign(c.g) * np.sign(c.v_raw)) * c.g),
    # Discovered optimizers (SPEC 7.2) and their ablations (Table 11)
    "Opt1": Ref(_opt1),
    "Opt2": Ref(_opt23("g2")),
    "Opt3": Ref(_opt23("g3")),
    "Opt4": Ref(_opt4, lr_factor="LR1"),
    "Opt41": Ref(_opt5, lr_factor="LR1"),  # Opt4 without the inner atan(demon_dec)
    "Opt42": Ref(_opt5),  # Opt4 without any decay (no inner decay, no LR1)
    "Opt5": Ref(_opt5, lr_factor="LR1"),
    "Opt6": Ref(_opt6, lr_factor="LR1"),
    "Opt61": Ref(_opt61),
    "Opt7": Ref(lambda c: np.tanh(_a(c) * np.arcsinh(c.qh_g))),
    "Opt71": Ref(lambda c: np.tanh(np.arcsinh(c.qh_g))),
    "Opt8": Ref(lambda c: np.arcsinh(_a(c) * np.arcsinh(c.qh_g))),
    "Opt81": Ref(lambda c: np.arcsinh(np.arcsinh(c.qh_g))),
    "Opt9": Ref(
        lambda c: special.erfc(c.d("exp_dec")) * c.g * np.exp(np.arctan(c.qh_g2)), "nesterov"
    ),
    "Opt91": Ref(lambda c: c.g * np.exp(np.arctan(c.qh_g2)), "nesterov"),
    "Opt10": Ref(
        lambda c: special.i1e(special.i1e(c.d("demon_dec") * c.d("lin_inc") * c.g)), "nesterov"
    ),
    "Opt101": Ref(lambda c: special.i1e(special.i1e(c.g)), "nesterov"),
    # Adam variants (Table 9), S = s_hat, with the SPEC's eps inside the bounds
    "A1": Ref(lambda c: clip(c.v, np.sqrt(c.s) + EPS)),
    "A2": Ref(lambda c: clip(c.v, np.abs(np.log(c.s + EPS)))),
    "A3": Ref(lambda c: clip(c.v, np.sqrt(np.abs(np.log(c.s + EPS))))),
    "A4": Ref(lambda c: clip(c.v, special.expit(c.s + EPS))),
    "A5": Ref(lambda c: norm(clip(c.v, np.sqrt(c.s) + EPS))),
    # Learning-rate schedules for Adam (Table 10)
    **{f"LR{i}": Ref(_adam, lr_factor=f"LR{i}") for i in range(1, 10)},
    # The extended space: AdamW with torch's defaults; Lion with beta2 = 0.99 (the rate of m)
    "AdamW": Ref(_adamw, beta2=0.999, weight_decay=0.01),
    "Lion": Ref(_lion, beta1=0.99),
}

# The library's deliberate deviation (module docstring): per step and element, |du| <= eps for
# A1 and A4 (a clip bound moved by at most eps; sigmoid is 1/4-Lipschitz), and for A5 the
# projection norm() is 1-Lipschitz in the L2 norm, so |du| <= eps * sqrt(numel) per element.
_DEVIATION_PER_STEP = {
    "A1": EPS,
    "A4": EPS,
    "A5": EPS * math.sqrt(max(math.prod(shape) for shape in SHAPES)),
}


def _deviation_atol(name: str, lrs: np.ndarray) -> np.ndarray:
    """Bound on |dw| after each step from the deviation: momentum type none, so
    |dw_k| <= sum_{j<=k} lr_j * |du_j| (a factor 2 of margin for the rounding of the bound)."""
    return 2.0 * _DEVIATION_PER_STEP.get(name, 0.0) * np.cumsum(lrs)


# ---------------------------------------------------------------------------------------------
# The two runs
# ---------------------------------------------------------------------------------------------


def _initial_weights() -> list[np.ndarray]:
    rng = np.random.default_rng(1234)
    return [rng.standard_normal(shape) for shape in SHAPES]


def _gradient_stream() -> list[list[np.ndarray]]:
    """T steps of gradients for each tensor, independent of the weights.

    Per element: a scale log-uniform in [1e-5, 3] (so eps = 1e-7 matters next to sqrt(s) for
    some elements and not at all for others), a bias (so the signs of g and v agree and
    disagree, and v_hat drifts), noise, and a slow common swell of the magnitude (so the
    short-memory v_hat outgrows the long-memory sqrt(s_hat) and the clips of A1-A5 engage).
    """
    rng = np.random.default_rng(5678)
    scales = [10.0 ** rng.uniform(-5.0, math.log10(3.0), shape) for shape in SHAPES]
    biases = [rng.uniform(-1.0, 1.0, shape) for shape in SHAPES]
    stream = []
    for k in range(T):
        swell = math.exp(0.8 * math.sin(2.0 * math.pi * k / 30.0))
        stream.append(
            [
                sc * swell * (b + 0.7 * rng.standard_normal(sc.shape))
                for sc, b in zip(scales, biases, strict=True)
            ]
        )
    return stream


def reference_run(
    name: str,
    grads: list[list[np.ndarray]],
    W: int,
    H: int,
    lr_factor: str | None = "default",
    constant: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """The weights after each step (T x all elements, tensors flattened side by side) and the
    learning rate of each step."""
    ref = REFERENCES[name]
    factor = ref.lr_factor if lr_factor == "default" else lr_factor
    if constant:
        lrs = np.full(T, PEAK)
    else:
        lrs = PEAK * one_cycle_ref(T, W, H)
        if factor is not None:
            lrs = lrs * lr_factor_ref(factor, T)
    mus = mu_ref(T, W, H)
    ws = [w.copy() for w in _initial_weights()]
    v = [np.zeros_like(w) for w in ws]
    s = [np.zeros_like(w) for w in ws]
    lam = [np.zeros_like(w) for w in ws]
    m = [np.zeros_like(w) for w in ws]
    history = np.empty((T, N_ELEMENTS))
    b1, b2 = ref.beta1, ref.beta2
    for k in range(T):
        for i, g in enumerate(grads[k]):
            before = v[i]
            v[i] = b1 * v[i] + (1.0 - b1) * g
            s[i] = b2 * s[i] + (1.0 - b2) * g**2
            lam[i] = 0.999 * lam[i] + 0.001 * g**3
            ctx = Ctx(
                g=g,
                w=ws[i],
                v=v[i] / (1.0 - b1 ** (k + 1)),
                s=s[i] / (1.0 - b2 ** (k + 1)),
                lam=lam[i] / (1.0 - 0.999 ** (k + 1)),
                v_raw=v[i],
                k=k,
                T=T,
                m_before=before,
            )
            u = ref.update(ctx)
            ws[i] = ws[i] * (1.0 - lrs[k] * ref.weight_decay)  # AdamW's decoupled decay
            if ref.momentum == "none":
                ws[i] = ws[i] - lrs[k] * u
            elif ref.momentum == "momentum":
                m[i] = mus[k] * m[i] - lrs[k] * u
                ws[i] = ws[i] + m[i]
            else:
                m[i] = mus[k] * m[i] - lrs[k] * u
                ws[i] = ws[i] + mus[k] * m[i] - lrs[k] * u
        history[k] = np.concatenate([w.ravel() for w in ws])
    return history, lrs


def optevo_run(name: str, grads: list[list[torch.Tensor]], W: int, H: int, **kwargs) -> np.ndarray:
    """optevo's weights after each step, laid out as in `reference_run`; the parameters get
    the dtype of the gradients."""
    dtype = grads[0][0].dtype
    params = [torch.nn.Parameter(torch.tensor(w, dtype=dtype)) for w in _initial_weights()]
    opt = create(name, params, PEAK, T, warmup_steps=W, hold_steps=H, **kwargs)
    history = torch.empty(T, N_ELEMENTS, dtype=torch.float64)
    for k in range(T):
        for p, g in zip(params, grads[k], strict=True):
            p.grad = g.clone()
        opt.step()
        history[k] = torch.cat([p.detach().reshape(-1) for p in params])
    return history.numpy()


TOL = {
    # dtype: (rtol, atol); see the module docstring. Measured worst |diff| / (atol + rtol*|w|)
    # over all optimizers and both configurations: 5e-4 in float64 (0.16 for A1 with its
    # eps allowance), 0.13 in float32.
    torch.float64: (1e-9, 1e-12),
    torch.float32: (1e-5, 2e-6),
}


def _compare(name, got, want, lrs, dtype, label):
    """Weights after every step, all tensors at once (flattened side by side)."""
    rtol, atol = TOL[dtype]
    tol = atol + _deviation_atol(name, lrs)[:, None] + rtol * np.abs(want)
    err = np.abs(got - want)
    bad = ~(err <= tol)  # NaN counts as a mismatch
    if bad.any():
        k, j = np.argwhere(bad)[0]
        bounds = np.cumsum([0] + [math.prod(s) for s in SHAPES])
        i = int(np.searchsorted(bounds, j, side="right") - 1)
        a, b = got[k, j], want[k, j]
        pytest.fail(
            f"{label}: first mismatch at step k={k}, tensor {i} {SHAPES[i]}, flat index "
            f"{j - bounds[i]}: optevo {a!r} vs reference {b!r} (|diff| {err[k, j]:.3e}, "
            f"rel {err[k, j] / max(abs(b), 1e-30):.3e}, allowed {tol[k, j]:.3e}); "
            f"{int(bad.sum())} of {bad.size} values out of tolerance"
        )


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """The tensors here are tiny: intra-op threads only add overhead (torch's parallel
    repeat_interleave, used by norm() for A5, cost up to 8 ms a step with 2 threads)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def streams() -> dict[torch.dtype, tuple[list[list[np.ndarray]], list[list[torch.Tensor]]]]:
    """Per dtype: the gradients for the reference (float64 numpy) and for optevo (torch).
    For float32 the reference is fed the same float32-rounded values as optevo."""
    out = {}
    for dtype in (torch.float64, torch.float32):
        tg = [[torch.tensor(g, dtype=dtype) for g in gs] for gs in _gradient_stream()]
        ng = [[g.to(torch.float64).numpy() for g in gs] for gs in tg]
        out[dtype] = (ng, tg)
    return out


# ---------------------------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------------------------


def test_names_are_exactly_the_referenced_ones():
    assert len(NAMES) == len(set(NAMES))
    assert set(NAMES) == set(EXPECTED_NAMES)
    assert set(REFERENCES) == set(EXPECTED_NAMES)


@pytest.mark.parametrize("name", EXPECTED_NAMES)
def test_lr_schedule_of_named(name):
    expected = {"Opt4": "LR1", "Opt41": "LR1", "Opt5": "LR1", "Opt6": "LR1"}
    expected.update({f"LR{i}": f"LR{i}" for i in range(1, 10)})
    assert library.lr_schedule(name) == expected.get(name)
    assert library.lr_schedule(name) == REFERENCES[name].lr_factor


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("config", list(CONFIGS))
@pytest.mark.parametrize("name", EXPECTED_NAMES)
def test_named_optimizer_matches_reference(name, config, dtype, streams):
    W, H = CONFIGS[config]
    ref_grads, grads = streams[dtype]
    want, lrs = reference_run(name, ref_grads, W, H)
    got = optevo_run(name, grads, W, H)
    _compare(name, got, want, lrs, dtype, f"{name} ({config}, {dtype})")


@pytest.mark.parametrize(
    ("name", "schedule"),
    [("Opt4", "one_cycle"), ("Opt6", "LR3"), ("Adam", "LR5"), ("Nesterov", "LR2"),
     ("LR8", "one_cycle")],
)  # fmt: skip
def test_schedule_kwarg_overrides_the_factor(name, schedule, streams):
    W, H = CONFIGS["warm"]
    ref_grads, grads = streams[torch.float64]
    factor = None if schedule == "one_cycle" else schedule
    want, lrs = reference_run(name, ref_grads, W, H, lr_factor=factor)
    got = optevo_run(name, grads, W, H, schedule=schedule)
    _compare(name, got, want, lrs, torch.float64, f"{name} with schedule={schedule!r}")


@pytest.mark.parametrize("name", ["QHM", "Opt1", "A2", "PowerSign-ld"])
def test_constant_schedule(name, streams):
    """schedule="constant": lr_t = lr at every step (momentum-type-none genomes only, since
    the SPEC leaves mu unspecified for this mode)."""
    ref_grads, grads = streams[torch.float64]
    want, lrs = reference_run(name, ref_grads, 0, 0, lr_factor=None, constant=True)
    got = optevo_run(name, grads, 0, 0, schedule="constant")
    _compare(name, got, want, lrs, torch.float64, f"{name} with schedule='constant'")


def test_gradient_stream_exercises_the_branches():
    """Guard for this file: the stream must take both sides of the clips, signs and maxima
    that the references contain, or the comparisons above would not test them."""
    grads = _gradient_stream()
    w0 = np.concatenate([w.ravel() for w in _initial_weights()])
    v = s = np.zeros_like(w0)
    seen: dict[str, set[bool]] = {}

    def note(key, cond):
        seen.setdefault(key, set()).update(np.unique(cond).tolist())

    for k in range(T):
        g = np.concatenate([x.ravel() for x in grads[k]])
        v = 0.9 * v + 0.1 * g
        s = 0.99 * s + 0.01 * g**2
        vh, sh = v / (1 - 0.9 ** (k + 1)), s / (1 - 0.99 ** (k + 1))
        note("A1", np.abs(vh) > np.sqrt(sh) + EPS)
        note("A2", np.abs(vh) > np.abs(np.log(sh + EPS)))
        note("A3", np.abs(vh) > np.sqrt(np.abs(np.log(sh + EPS))))
        note("A4", np.abs(vh) > special.expit(sh + EPS))
        note("Opt5", np.exp(vh) < 2.0)
        note("Opt4", math.atan(decay("demon_dec", k, T)) * np.exp(vh) < 2.0)
        note("Opt1", np.abs(1e-5 * w0) > np.abs(1e-5 * w0 - (0.05 * g**2 + 0.95 * sh)))
        note("signs", np.sign(g) == np.sign(v))
        note("eps", np.sqrt(sh) < 1e3 * EPS)
        a_first = decay("cyc_cos_inc", k, T) >= decay("lin_inc_restart", k, T)
        note("Opt7", np.array([a_first]))
    # A5: norm() must both scale (||x|| > 1) and pass (||x|| <= 1) per parameter tensor.
    for i in range(len(SHAPES)):
        v = s = np.zeros(SHAPES[i])
        for k in range(T):
            g = grads[k][i]
            v = 0.9 * v + 0.1 * g
            s = 0.99 * s + 0.01 * g**2
            vh, sh = v / (1 - 0.9 ** (k + 1)), s / (1 - 0.99 ** (k + 1))
            note("A5 norm", np.array([np.linalg.norm(clip(vh, np.sqrt(sh) + EPS)) > 1.0]))
    for key, values in seen.items():
        assert values == {True, False}, f"{key}: only {values}"
