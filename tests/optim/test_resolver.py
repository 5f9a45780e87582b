"""`optevo.optim.spec.genome_of` and `resolve`: the one rule from a name or a file to an
optimizer, which every command and config uses (issue 28 item 1)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from optevo import library
from optevo.optim.spec import genome_of, resolve
from optevo.search.config import read_seed_genome


def test_a_named_optimizer_brings_its_learning_rate_factor() -> None:
    genome, schedule = genome_of("LR6")
    assert genome.canonical_hash() == library.genome("Adam").canonical_hash()
    assert schedule == "LR6"
    genome, schedule = genome_of("Opt4")
    assert schedule == library.get("Opt4").lr_schedule == "LR1"
    assert genome_of("Adam")[1] == "one_cycle"


def test_a_genome_file_gets_the_base_schedule(tmp_path: Path) -> None:
    path = tmp_path / "mine.json"
    path.write_text(library.genome("Opt6").to_json())
    genome, schedule = genome_of(str(path))
    assert genome.canonical_hash() == library.genome("Opt6").canonical_hash()
    assert schedule == "one_cycle"
    assert resolve(str(path)).label == "mine" and resolve(str(path)).schedule == "one_cycle"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "an empty name"),
        ("   ", "an empty name"),
        ("adam", "Did you mean 'Adam'"),
        ("Nope", "neither a named optimizer"),
    ],
)
def test_bad_names_say_what_is_wrong(name: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        genome_of(name)
    with pytest.raises(ValueError, match=message):
        resolve(name)


def test_a_file_that_is_not_a_genome_is_named(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"schema": "something else"}))
    with pytest.raises(ValueError, match=r"bad\.json"):
        genome_of(str(path))
    with pytest.raises(ValueError, match=r"seed genome .*bad\.json"):
        read_seed_genome(str(path))


def test_the_seed_reader_is_the_same_rule() -> None:
    for name in ("Adam", "LR6", "Lion", "AdamW", "Opt10"):
        assert read_seed_genome(name)[0].canonical_hash() == genome_of(name)[0].canonical_hash()
        assert read_seed_genome(name)[1] == genome_of(name)[1]
