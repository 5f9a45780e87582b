"""The paper preset's data path end to end on tiny CIFAR-10 files written in the real format:
restricted unpickling, split, normalisation, crop/flip/cutout augmentation in the trainer."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from optevo.fitness import fitness, preset


def write_cifar10(root: Path, n_per_batch: int = 40) -> Path:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(1, 6):
        labels = rng.integers(0, 10, n_per_batch)
        # Class-dependent brightness so the task is learnable.
        data = (rng.integers(0, 80, (n_per_batch, 3072)) + labels[:, None] * 17).astype(np.uint8)
        batch = {
            b"batch_label": f"training batch {i} of 5".encode(),
            b"labels": labels.tolist(),
            b"data": data,
            b"filenames": [b"x.png"] * n_per_batch,
        }
        with (folder / f"data_batch_{i}").open("wb") as fh:
            pickle.dump(batch, fh, protocol=2)
    return folder


@pytest.mark.slow  # real training, over 3 s
def test_paper_protocol_runs_on_cifar_format_files(tmp_path: Path) -> None:
    folder = write_cifar10(tmp_path)
    config = preset(
        "paper",
        data_root=str(folder),
        val_size=50,
        base=4,
        batch_size=25,
        epoch_steps=5,
        screen_steps=10,
        screen_stop_epoch=1,
        total_steps=30,
        full_stop_after=10,
        screen_lrs=[1.0, 0.1, 0.01],
        eval_batch_size=50,
    )
    assert config.augmentation().crop and config.augmentation().cutout
    r = fitness("Adam", config)
    assert r.status == "ok", r.error
    assert len(r.runs) == 4  # three screen runs and the full run
    assert r.fitness is not None and r.fitness > 0.3  # chance is 0.1 (measured: 0.64)
