"""Every genome of the paper's space in the library computes bit for bit what it computed before
the extended space existed (tests/optim/bitwise_reference.json, made by
tests/optim/make_bitwise_reference.py; see its docstring for what each digest covers).

Canonical hashes, behaviour hashes and the digests of JSON, text and export are compared
everywhere. Tensor digests depend on the platform's floating-point kernels, so they are compared
where the reference was made (same torch version and machine) and skipped elsewhere, naming why.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import torch

from optevo import library

HERE = Path(__file__).parent


def _maker() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "make_bitwise", HERE / "make_bitwise_reference.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


MAKER = _maker()
REFERENCE: dict[str, Any] = json.loads((HERE / "bitwise_reference.json").read_text())
NAMES = tuple(REFERENCE["genomes"])


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _same_platform() -> bool:
    return REFERENCE["platform"] == MAKER.platform_key()


def test_reference_covers_every_genome_of_the_library() -> None:
    assert REFERENCE["schema"] == MAKER.SCHEMA
    assert set(NAMES) == set(library.names())
    for name in MAKER.PAPER_NAMES:
        assert not library.genome(name).is_extended, name
    assert {n for n in NAMES if library.genome(n).is_extended} == {"AdamW", "Lion"}


@pytest.mark.parametrize("name", NAMES)
def test_hashes_json_text_and_export_are_unchanged(name: str) -> None:
    want = REFERENCE["genomes"][name]
    got = MAKER.genome_entry(name, tensors=False)
    for key, value in got.items():
        assert value == want[key], f"{name}: {key} changed"


@pytest.mark.parametrize("name", NAMES)
def test_compiled_rule_optimizer_and_integrity_are_bit_identical(name: str) -> None:
    if not _same_platform():
        pytest.skip(f"tensor digests were made on {REFERENCE['platform']}, not here")
    want = REFERENCE["genomes"][name]
    genome = library.genome(name)
    for key, dtype in MAKER.DTYPES.items():
        assert MAKER.rule_digest(genome, dtype) == want["rule"][key], f"{name} rule {key}"
        assert MAKER.optimizer_digest(name, dtype) == want["optimizer"][key], f"{name} opt {key}"
    assert MAKER._sha(repr(MAKER.check(genome).final_losses)) == want["integrity"], name


def test_paper_space_random_streams_are_unchanged() -> None:
    assert MAKER.proposals_digest() == REFERENCE["proposals"]
    assert MAKER.mutations_digest(MAKER.PAPER_NAMES) == REFERENCE["mutations"]
