"""Two tasks of your own for optevo: a CNN on Fashion-MNIST through a DataLoader with its own
transforms, and a small character model on a text file of your choice.

    optevo search --preset tiny --task examples/own_task/tasks.py:fashion_cnn

`OPTEVO_EXAMPLE_STEPS` sets the training steps of a run (default 600; CI uses a few dozen),
`OPTEVO_EXAMPLE_TEXT` the text file `text_lm` learns (default: this folder's README.md).
"""

from __future__ import annotations

import functools
import gzip
import os
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from optevo.tasks.user import task

STEPS = int(os.environ.get("OPTEVO_EXAMPLE_STEPS", "600"))
FASHION = Path(os.environ.get("FASHION_MNIST", "/usr/share/datasets/fashion-mnist"))
HERE = Path(__file__).parent


# --- fashion_cnn: your own network, your own data pipeline ------------------------------------


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (the MNIST format): a big-endian header, then uint8 values."""
    raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    dims = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * dims).reshape(shape)


class Fashion(Dataset):
    """Fashion-MNIST images in [-1, 1] with a random shift (a transform of our own) in training."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, train: bool) -> None:
        self.x = torch.from_numpy(images.copy()).float().div(127.5).sub(1).unsqueeze(1)
        self.y = torch.from_numpy(labels.astype(np.int64))
        self.train = train

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.x[i]
        if self.train:  # drawn from torch's global generator, which optevo seeds per run
            dx, dy = torch.randint(-2, 3, (2,)).tolist()
            x = torch.roll(x, shifts=(dy, dx), dims=(1, 2))
        return x, self.y[i]


@functools.cache
def fashion_arrays() -> tuple[np.ndarray, np.ndarray]:
    """The training file's images and labels (read once)."""
    images = read_idx(FASHION / "train-images-idx3-ubyte.gz")
    return images, read_idx(FASHION / "train-labels-idx1-ubyte.gz")


def fashion_loaders(split: str, generator: torch.Generator) -> DataLoader:
    images, labels = fashion_arrays()
    # 6,000 images to train on, 1,000 to choose on, 1,000 to report on (of the training file)
    part = {"train": slice(0, 6000), "val": slice(6000, 7000), "test": slice(7000, 8000)}[split]
    data = Fashion(images[part], labels[part], train=split == "train")
    if split == "train":  # shuffle with the generator optevo hands over: paired batches
        return DataLoader(data, batch_size=64, shuffle=True, generator=generator)
    return DataLoader(data, batch_size=500)


def small_cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 7 * 7, 10),
    )  # fmt: skip


fashion_cnn = task(
    "fashion_cnn", small_cnn, loaders=fashion_loaders, metric="accuracy", steps=STEPS,
    reference_lr=1e-3,
)  # fmt: skip


# --- text_lm: a character model of a text file, in-memory tensors ------------------------------

WINDOW = 32


def text_windows() -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    text = Path(os.environ.get("OPTEVO_EXAMPLE_TEXT", HERE / "README.md")).read_text()
    chars = torch.tensor([min(ord(c), 127) for c in text], dtype=torch.long)
    n = (len(chars) - 1) // WINDOW
    x = chars[: n * WINDOW].view(n, WINDOW)
    y = chars[1 : n * WINDOW + 1].view(n, WINDOW)  # the next character at every position
    a, b = int(0.8 * n), int(0.9 * n)  # contiguous splits: the text's end is held out
    return {"train": (x[:a], y[:a]), "val": (x[a:b], y[a:b]), "test": (x[b:], y[b:])}


class CharGRU(nn.Module):
    def __init__(self, vocab: int = 128, width: int = 64) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, width)
        self.gru = nn.GRU(width, width, batch_first=True)
        self.head = nn.Linear(width, vocab)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.gru(self.embed(x))
        return self.head(out)  # (batch, position, vocabulary): scored per position


text_lm = task(
    "text_lm", CharGRU, data=text_windows(), metric="bits-per-char", steps=STEPS,
    batch_size=32, reference_lr=3e-3,
)  # fmt: skip
