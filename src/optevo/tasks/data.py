"""The data of the search and validation suites: built in code or read from files that ship with
Python or scikit-learn, never downloaded; deterministic for a data seed; cached in-process.

Sources (the `source` of a task; `load(source)` builds it once per process):

- `fashion-mnist`: the embedded Fashion-MNIST's training file as the `quick` fitness reads it
  (`optevo.data.load`: normalised with the training split's statistics), 10,000 images held
  out as val and test (5,000 each); its test file is never read.

- `synthetic:teacher`: 32 correlated Gaussian features, 10 classes given by a random two-layer
  tanh network, 5% of the labels flipped at random.
- `synthetic:sort`: sequences of 16 tokens over 64 symbols; the target is the sequence
  sorted.
- `synthetic:heavy-tailed`: binary logistic regression on 50 Student-t features (3 degrees of
  freedom) scaled by 10^U(-2, 2): badly scaled and heavy-tailed, left unnormalised.
- `synthetic:manifold`: 64 features on a smooth 6-dimensional manifold plus noise, standardised.
- `python:stdlib-source`: characters of 16 modules of this Python's standard library (their
  text depends on the Python version), windows of 64.
- `synthetic:shapes`: 16x16 grey images of six shapes (disc, ring, square, frame, plus,
  cross) at random places, sizes and contrasts over a noisy, shaded background.
- `python:pydoc-topics`: characters of the language reference's topics that ship with Python
  (`pydoc_data.topics`: English prose with code), windows of 64.
- `sklearn:breast-cancer`: scikit-learn's bundled breast-cancer table, its 30 raw features
  unnormalised (their scales span 1e-3 to 4e3).
- `synthetic:ratings`: 600 users x 400 items with rank-6 preferences plus biases and noise;
  24,000 observed (user, item) ratings to train on, standardised.

Splits are fixed by the data seed: `val` for choosing (learning rates, candidates), `test`
for reporting.
"""

from __future__ import annotations

import functools
import sysconfig
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from optevo.tasks.tensor import TensorData

DATA_SEED = 0
"""The seed every data set is built with (a task's data never changes between runs)."""

BUILDERS: dict[str, Callable[[int], TensorData]] = {}
"""Source name -> builder(seed) -> TensorData (uncached; `load` caches)."""


def _builder(source: str) -> Callable[[Callable[[int], TensorData]], Callable[[int], TensorData]]:
    def register(fn: Callable[[int], TensorData]) -> Callable[[int], TensorData]:
        BUILDERS[source] = fn
        return fn

    return register


@functools.cache
def load(source: str, seed: int = DATA_SEED) -> TensorData:
    """The data set `source` (see the module docstring), built once per process and seed."""
    if source not in BUILDERS:
        raise KeyError(f"unknown data source {source!r}; known: {', '.join(BUILDERS)}")
    return BUILDERS[source](seed)


def _f32(a: np.ndarray) -> Tensor:
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))


def _i64(a: np.ndarray) -> Tensor:
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.int64))


def _three_way(
    name: str,
    x: Tensor,
    y: Tensor,
    sizes: tuple[int, int],
    rng: np.random.Generator,
    info: dict[str, int],
) -> TensorData:
    """Shuffle, then hold out `sizes` = (val, test) examples; the rest trains."""
    perm = torch.from_numpy(rng.permutation(len(y)))
    val, test = sizes
    parts = perm[val + test :], perm[:val], perm[val : val + test]

    def pick(p: Tensor) -> tuple[Tensor, Tensor]:
        xp = x[p]
        return xp, xp if y is x else y[p]  # an autoencoder's targets are its inputs

    train_, val_, test_ = (pick(p) for p in parts)
    return TensorData(name, train_, val_, test_, info)


def _standardise(x: np.ndarray) -> np.ndarray:
    """Each feature shifted and scaled to mean 0 and standard deviation 1 (generated data:
    over all rows, which are drawn alike)."""
    out: np.ndarray = (x - x.mean(0)) / (x.std(0) + 1e-8)
    return out


# -- search suite -------------------------------------------------------------------------------


@_builder("fashion-mnist")
def fashion_mnist(seed: int) -> TensorData:
    from optevo.data import load as load_images

    data = load_images("fashion-mnist", val_size=10_000, seed=seed)
    (x, y), half = data.val, len(data.val[1]) // 2
    info = {"channels": data.in_channels, "classes": data.num_classes}
    return TensorData("fashion-mnist", data.train, (x[:half], y[:half]), (x[half:], y[half:]), info)


@_builder("synthetic:teacher")
def teacher_classes(seed: int) -> TensorData:
    rng = np.random.default_rng([seed, 1])
    n, d, classes, hidden = 20_480, 32, 10, 64
    mix = rng.normal(size=(d, d)) / np.sqrt(d)
    x = rng.normal(size=(n, d)) @ mix  # correlated features
    x = _standardise(x)
    w1 = rng.normal(size=(d, hidden)) / np.sqrt(d)
    w2 = rng.normal(size=(hidden, classes)) / np.sqrt(hidden)
    y = np.argmax(np.tanh(x @ w1) @ w2, axis=1)
    flip = rng.random(n) < 0.05
    y[flip] = rng.integers(0, classes, flip.sum())
    info = {"inputs": d, "classes": classes}
    return _three_way("teacher", _f32(x), _i64(y), (2048, 2048), rng, info)


@_builder("synthetic:sort")
def sort_sequences(seed: int) -> TensorData:
    rng = np.random.default_rng([seed, 2])
    n, length, symbols = 20_480, 16, 64
    x = _i64(rng.integers(0, symbols, (n, length)))
    y = x.sort(1).values
    return _three_way("sort", x, y, (2048, 2048), rng, {"vocab": symbols, "length": length})


@_builder("synthetic:heavy-tailed")
def heavy_tailed_logistic(seed: int) -> TensorData:
    rng = np.random.default_rng([seed, 3])
    n, d = 8192, 50
    scales = 10.0 ** rng.uniform(-2, 2, d)
    t = rng.standard_t(3.0, size=(n, d))
    x = t * scales
    w = rng.normal(size=d) * 1.5 / np.sqrt(d) / scales  # every feature matters, whatever its scale
    p = 1.0 / (1.0 + np.exp(-np.clip(x @ w, -30, 30)))
    y = (rng.random(n) < p).astype(np.int64)
    return _three_way(
        "heavy-tailed", _f32(x), _i64(y), (2048, 2048), rng, {"inputs": d, "classes": 2}
    )


@_builder("synthetic:manifold")
def manifold(seed: int) -> TensorData:
    rng = np.random.default_rng([seed, 4])
    n, latent, hidden, d = 12_288, 6, 32, 64
    z = rng.normal(size=(n, latent))
    a = rng.normal(size=(latent, hidden)) * 1.5 / np.sqrt(latent)
    b = rng.normal(size=(hidden, d)) / np.sqrt(hidden)
    x = np.tanh(z @ a + rng.normal(size=hidden) * 0.5) @ b
    x = x + 0.05 * x.std() * rng.normal(size=x.shape)
    x = _standardise(x)
    t = _f32(x)
    return _three_way("manifold", t, t, (2048, 2048), rng, {"inputs": d})


# Pure-Python modules present in CPython 3.11 to 3.13 (single files in all three).
STDLIB_MODULES = (
    "argparse.py", "ast.py", "calendar.py", "configparser.py", "dataclasses.py", "difflib.py",
    "fractions.py", "functools.py", "inspect.py", "pprint.py", "shlex.py", "textwrap.py",
    "tokenize.py", "heapq.py", "csv.py", "gettext.py",
)  # fmt: skip
WINDOW = 64
VOCAB = 97
"""Character ids: 0 any other character, 1 newline, 2-96 the printable ASCII 32..126."""


def encode(text: str) -> Tensor:
    """Characters as ids (see `VOCAB`); a tab is a space."""
    codes = np.frombuffer(text.replace("\t", " ").encode("utf-32-le"), dtype=np.uint32)
    ids = np.zeros(len(codes), dtype=np.int64)
    ids[codes == 10] = 1
    printable = (codes >= 32) & (codes <= 126)
    ids[printable] = codes[printable].astype(np.int64) - 30
    return torch.from_numpy(ids)


def _windows(name: str, ids: Tensor, info_extra: dict[str, int] | None = None) -> TensorData:
    """Non-overlapping windows of `WINDOW` + 1 characters (input, next-character target), split
    by position in the text: the first 90% train, then 5% val, 5% test."""
    rows = (len(ids) - 1) // WINDOW
    starts = torch.arange(rows) * WINDOW
    idx = starts[:, None] + torch.arange(WINDOW + 1)
    w = ids[idx]
    x, y = w[:, :-1].contiguous(), w[:, 1:].contiguous()
    val = max(1, rows // 20)
    train = rows - 2 * val
    cut = (slice(0, train), slice(train, train + val), slice(train + val, rows))
    (tr, va, te) = ((x[c], y[c]) for c in cut)
    return TensorData(name, tr, va, te, {"vocab": VOCAB, "length": WINDOW, **(info_extra or {})})


def stdlib_dir() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


@_builder("python:stdlib-source")
def stdlib_source(seed: int) -> TensorData:
    root = stdlib_dir()
    missing = [m for m in STDLIB_MODULES if not (root / m).is_file()]
    if missing:
        raise FileNotFoundError(f"{root}: standard-library modules missing: {', '.join(missing)}")
    text = "".join((root / m).read_text(encoding="utf-8") for m in STDLIB_MODULES)
    return _windows("stdlib-source", encode(text))


# -- validation suite ---------------------------------------------------------------------------


def _shape_masks(
    kind: np.ndarray, cy: np.ndarray, cx: np.ndarray, r: np.ndarray, size: int
) -> np.ndarray:
    """Boolean `N x size x size` masks of each example's shape."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    dy = yy[None] - cy[:, None, None]
    dx = xx[None] - cx[:, None, None]
    rr = r[:, None, None]
    dist = np.sqrt(dx**2 + dy**2)
    cheb = np.maximum(np.abs(dx), np.abs(dy))
    thick = np.maximum(1.0, rr / 3)
    masks = [
        dist <= rr,  # disc
        (dist <= rr) & (dist >= rr - thick),  # ring
        cheb <= rr,  # square
        (cheb <= rr) & (cheb >= rr - thick),  # frame
        (cheb <= rr) & ((np.abs(dx) < thick / 2 + 0.5) | (np.abs(dy) < thick / 2 + 0.5)),  # plus
        (cheb <= rr) & (np.abs(np.abs(dx) - np.abs(dy)) < thick / 2 + 0.5),  # cross
    ]
    out: np.ndarray = np.zeros_like(masks[0])
    for k, m in enumerate(masks):
        out |= m & (kind == k)[:, None, None]
    return out


@_builder("synthetic:shapes")
def shapes(seed: int) -> TensorData:
    rng = np.random.default_rng([seed, 5])
    n, size, classes = 9000, 16, 6
    kind = rng.integers(0, classes, n)
    r = rng.uniform(2.5, 5.5, n)
    cy = rng.uniform(r, size - 1 - r)
    cx = rng.uniform(r, size - 1 - r)
    mask = _shape_masks(kind, cy, cx, r, size)
    contrast = rng.uniform(0.4, 1.0, n) * rng.choice([-1.0, 1.0], n)
    yy, xx = np.mgrid[0:size, 0:size] / size
    slope = rng.normal(size=(n, 2)) * 0.5
    shade = slope[:, :1, None] * yy[None] + slope[:, 1:, None] * xx[None]
    images = shade + contrast[:, None, None] * mask + rng.normal(scale=0.3, size=mask.shape)
    x = _f32(images[:, None])
    info = {"channels": 1, "classes": classes, "size": size}
    return _three_way("shapes", x, _i64(kind), (1500, 1500), rng, info)


@_builder("python:pydoc-topics")
def pydoc_topics(seed: int) -> TensorData:
    from pydoc_data.topics import topics

    text = "\n\n".join(topics[k] for k in sorted(topics))
    return _windows("pydoc-topics", encode(text))


@_builder("sklearn:breast-cancer")
def breast_cancer(seed: int) -> TensorData:
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer()
    rng = np.random.default_rng([seed, 6])
    x, y = _f32(bunch.data), _i64(bunch.target)
    return _three_way("breast-cancer", x, y, (100, 100), rng, {"inputs": x.shape[1], "classes": 2})


@_builder("synthetic:ratings")
def ratings(seed: int) -> TensorData:
    rng = np.random.default_rng([seed, 7])
    users, items, rank, train, held = 600, 400, 6, 24_000, 3000
    u = rng.normal(size=(users, rank)) / rank**0.25
    v = rng.normal(size=(items, rank)) / rank**0.25
    bu, bi = rng.normal(scale=0.5, size=users), rng.normal(scale=0.5, size=items)
    # Popular items and active users: pairs drawn with Zipf-like weights, without repeats.
    pu = 1.0 / np.arange(1, users + 1) ** 0.6
    pi = 1.0 / np.arange(1, items + 1) ** 0.8
    weights = np.outer(pu[rng.permutation(users)], pi[rng.permutation(items)]).ravel()
    flat = rng.choice(users * items, train + 2 * held, replace=False, p=weights / weights.sum())
    pu_, pi_ = flat // items, flat % items
    r = (u[pu_] * v[pi_]).sum(1) + bu[pu_] + bi[pi_] + rng.normal(scale=0.5, size=len(flat))
    r = (r - r.mean()) / r.std()
    pairs = _i64(np.stack([pu_, pi_], 1))
    info = {"users": users, "items": items}
    return _three_way("ratings", pairs, _f32(r), (held, held), rng, info)


__all__ = ["BUILDERS", "DATA_SEED", "STDLIB_MODULES", "VOCAB", "WINDOW", "encode", "load"]
