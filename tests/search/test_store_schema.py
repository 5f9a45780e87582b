"""Run stores written before the evaluations table was declared column by column still open,
read back and resume: the on-disk schema is the same."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from helpers.search import SyntheticExecutor, micro_config
from optevo import jsonio, library
from optevo.config import ConfigError
from optevo.fingerprint import Identity
from optevo.fitness import FitnessResult
from optevo.search.api import resume_search, start_search
from optevo.search.store import SCHEMA_VERSION, RunStore

# The schema as it was written out by hand (optevo.run/1), copied here unchanged.
OLD_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS trials (
    key TEXT NOT NULL, seed_index INTEGER NOT NULL, seed INTEGER NOT NULL,
    result TEXT NOT NULL, seconds REAL, host TEXT, created REAL,
    PRIMARY KEY (key, seed_index)
);
CREATE TABLE IF NOT EXISTS evaluations (
    key TEXT PRIMARY KEY, seq INTEGER NOT NULL UNIQUE, stage TEXT NOT NULL,
    particle INTEGER, time_step INTEGER, child INTEGER, attempt INTEGER, name TEXT,
    schedule TEXT NOT NULL, genome TEXT NOT NULL, canonical_hash TEXT NOT NULL,
    behaviour_hash TEXT NOT NULL, parent_hash TEXT, status TEXT NOT NULL, fitness REAL,
    fitness_std REAL, fitness_values TEXT NOT NULL, best_lr REAL, screen_acc REAL,
    seconds REAL, host TEXT, error TEXT, duplicate_of TEXT, proposals INTEGER,
    integrity_rejections INTEGER, duplicate_rejections INTEGER, created REAL
);
CREATE INDEX IF NOT EXISTS eval_canonical ON evaluations (stage, canonical_hash);
CREATE INDEX IF NOT EXISTS eval_behaviour ON evaluations (stage, behaviour_hash);
CREATE TABLE IF NOT EXISTS particles (
    particle INTEGER NOT NULL, time_step INTEGER NOT NULL, key TEXT NOT NULL,
    PRIMARY KEY (particle, time_step)
);
"""


def old_store(run_dir: Path, config_json: str) -> sqlite3.Connection:
    """A run database as the old code created it, with one trial and one evaluation written
    by the old code's literal INSERTs."""
    run_dir.mkdir(parents=True)
    conn = sqlite3.connect(run_dir / "run.sqlite")
    conn.executescript(OLD_SCHEMA)
    meta = {"schema": SCHEMA_VERSION, "config_json": config_json, "created": "0.0"}
    conn.executemany("INSERT INTO meta VALUES (?, ?)", meta.items())
    result = FitnessResult(0.75, "ok", 0.1, {0.1: 0.6, 1.0: 0.2}, seconds=2.0)
    conn.execute(
        "INSERT INTO trials VALUES (?, ?, ?, ?, ?, ?, ?)",
        ("p000/t00", 0, 11, jsonio.dumps(result.to_dict()), 2.0, "old-host", 0.0),
    )
    genome = library.genome("Opt6")
    ident = Identity.of(genome)
    row = (
        "p000/t00", 1, "search", 0, 0, None, None, None, "one_cycle", genome.to_json(),
        ident.canonical, ident.behaviour, None, "ok", 0.75, None, json.dumps([0.75]), 0.1, 0.6,
        2.0, "old-host", None, None, 3, 2, 1, 0.0,
    )  # fmt: skip
    conn.execute(f"INSERT INTO evaluations VALUES ({', '.join('?' * len(row))})", row)
    conn.commit()
    return conn


def columns(db: Path) -> dict[str, list[tuple]]:
    conn = sqlite3.connect(db)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        out = {t: conn.execute(f"PRAGMA table_info({t})").fetchall() for t in sorted(tables)}
        indexes = conn.execute("SELECT name, tbl_name FROM sqlite_master WHERE type='index'")
        out["indexes"] = sorted(indexes.fetchall())
        return out
    finally:
        conn.close()


def test_the_generated_schema_is_the_old_one(tmp_path: Path) -> None:
    cfg = micro_config()
    old_store(tmp_path / "old", cfg.model_dump_json()).close()
    RunStore.create(tmp_path / "new", cfg.to_yaml(), cfg.model_dump_json()).close()
    assert columns(tmp_path / "new" / "run.sqlite") == columns(tmp_path / "old" / "run.sqlite")


def test_a_store_with_the_old_schema_opens_and_reads_back(tmp_path: Path) -> None:
    cfg = micro_config()
    old_store(tmp_path / "run", cfg.model_dump_json()).close()
    with RunStore.open(tmp_path / "run") as store:
        assert store.run_config() == cfg
        (trial,) = store.trials("p000/t00").values()
        assert trial.host == "old-host" and trial.result.fitness == 0.75
        assert trial.result.screen == {0.1: 0.6, 1.0: 0.2}
        ev = store.get("p000/t00")
        assert ev is not None and ev.genome == library.genome("Opt6")
        assert (ev.fitness, ev.best_lr, ev.screen_acc, ev.seconds) == (0.75, 0.1, 0.6, 2.0)
        assert ev.fitness_values == (0.75,) and ev.host == "old-host" and ev.seq == 1
        r = ev.request
        assert (r.particle, r.time_step, r.child, r.attempt, r.name) == (0, 0, None, None, None)
        assert (r.proposals, r.integrity_rejections, r.duplicate_rejections) == (3, 2, 1)
        # New rows go into the old table beside the old one.
        again = store.put_evaluation(replace(ev, request=replace(r, key="p001/t00", particle=1)))
        assert again.seq == 2 and store.get("p001/t00") == again
        assert [e.key for e in store.evaluations("search")] == ["p000/t00", "p001/t00"]


def test_a_run_of_the_old_format_resumes(tmp_path: Path) -> None:
    """A whole run written, its evaluations table dropped and made again with the old literal
    schema (rows kept), then resumed: the result equals the uninterrupted run."""
    cfg = micro_config(final={"top": 1, "baselines": [], "seeds": 2})
    start_search(cfg, tmp_path / "ref", executor=SyntheticExecutor())
    with RunStore.open(tmp_path / "ref", lock=False) as store:
        reference = [(e.key, e.fitness, e.status, e.duplicate_of) for e in store.evaluations()]
    start_search(cfg, tmp_path / "run", executor=SyntheticExecutor())
    conn = sqlite3.connect(tmp_path / "run" / "run.sqlite")
    rows = conn.execute("SELECT * FROM evaluations ORDER BY seq").fetchall()
    conn.executescript("DROP TABLE evaluations; DELETE FROM meta WHERE key = 'finished';")
    conn.executescript(OLD_SCHEMA)
    half = rows[: len(rows) // 2]
    conn.executemany(f"INSERT INTO evaluations VALUES ({', '.join('?' * len(rows[0]))})", half)
    conn.commit()
    conn.close()
    executor = SyntheticExecutor()
    summary = resume_search(tmp_path / "run", executor=executor)
    assert summary.finished and not executor.trials  # every trial was stored
    with RunStore.open(tmp_path / "run", lock=False) as store:
        got = [(e.key, e.fitness, e.status, e.duplicate_of) for e in store.evaluations()]
    assert sorted(got) == sorted(reference)


def test_a_bad_stored_configuration_is_one_line_naming_the_file(tmp_path: Path) -> None:
    cfg = micro_config()
    old_store(tmp_path / "run", cfg.model_dump_json().replace('"seed":0', '"seed":-1')).close()
    with RunStore.open(tmp_path / "run") as store, pytest.raises(ConfigError) as info:
        store.run_config()
    message = str(info.value)
    assert str(tmp_path / "run" / "run.sqlite") in message and "seed" in message
    assert "\n" not in message
