"""The fitness as a scorer for simplification and ablation, its results kept in a SQLite file
as each finishes (a killed run loses nothing finished: run the command again to go on)."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from pathlib import Path

from optevo import jsonio
from optevo.fitness import FitnessConfig, FitnessResult, fitness
from optevo.space.genome import Genome


class ScoreStore:
    """One SQLite file (WAL): every fitness result by (fitness config, genome, schedule, seed)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(self.path, timeout=30.0)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS scores (key TEXT PRIMARY KEY, genome TEXT NOT NULL, "
            "seed INTEGER NOT NULL, fitness REAL, result TEXT NOT NULL, created REAL)"
        )
        self._conn.commit()

    def get(self, key: str) -> FitnessResult | None:
        row = self._conn.execute("SELECT result FROM scores WHERE key = ?", (key,)).fetchone()
        return None if row is None else FitnessResult.from_dict(json.loads(row[0]))

    def put(self, key: str, genome: Genome, seed: int, result: FitnessResult) -> None:
        with self._conn:
            self._conn.execute(
                "INSERT OR REPLACE INTO scores VALUES (?, ?, ?, ?, ?, ?)",
                (
                    key,
                    genome.to_json(),
                    seed,
                    result.fitness,
                    jsonio.dumps(result.to_dict()),
                    time.time(),
                ),
            )

    def count(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM scores").fetchone()[0])

    def close(self) -> None:
        self._conn.close()


class FitnessScorer:
    """`fitness(genome, config at seed)`, the best validation accuracy (0 when the protocol
    rejects the genome), read from `store` when it holds it. `trained` counts fresh runs."""

    def __init__(
        self, config: FitnessConfig, schedule: str = "one_cycle", store: ScoreStore | None = None
    ) -> None:
        self.config = config
        self.schedule = schedule
        self.store = store
        self.trained = 0
        self._config_key = hashlib.sha256(config.model_dump_json().encode()).hexdigest()[:16]

    def key(self, genome: Genome, seed: int) -> str:
        return f"{self._config_key}/{self.schedule}/{genome.canonical_hash()}/{seed}"

    def result(self, genome: Genome, seed: int) -> FitnessResult:
        key = self.key(genome, seed)
        stored = None if self.store is None else self.store.get(key)
        if stored is not None:
            return stored
        result = fitness(genome, self.config.model_copy(update={"seed": seed}), self.schedule)
        self.trained += 1
        if self.store is not None:
            self.store.put(key, genome, seed, result)
        return result

    def score(self, genome: Genome, seed: int) -> float:
        value = self.result(genome, seed).fitness
        return 0.0 if value is None else float(value)
