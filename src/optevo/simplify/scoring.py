"""The fitness as a scorer for simplification and ablation, its results kept in a SQLite file
as each finishes (a killed run loses nothing finished: run the command again to go on).

The store is checked when opened: a file that is not SQLite, or a database holding anything
but a score table (a search's `run.sqlite`, say), is refused with one line naming it, and a
damaged row is an error naming the store and the row. An evaluation that errors is never
stored as a score: the scorer stops (`ScoringError`) at the first error when nothing has been
scored yet (the protocol cannot score the original genome: a configuration problem), and
after `ERROR_STREAK` errors in a row with the same message otherwise, as a search does.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from pathlib import Path

from optevo import jsonio
from optevo.config import short
from optevo.fitness import FitnessConfig, FitnessResult, fitness
from optevo.fitness.result import ERROR_STREAK
from optevo.space.genome import Genome


class ScoreStoreError(ValueError):
    """A score store that cannot be used: not SQLite, not a score store, or a damaged row
    (the message names the file, and the row)."""


_COLUMNS = ("key", "genome", "seed", "fitness", "result", "created")


class ScoreStore:
    """One SQLite file (WAL): every fitness result by (fitness config, genome, schedule, seed)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if self.path.exists() and not self.path.is_file():
            raise ScoreStoreError(f"{self.path} is not a file (a score store is one SQLite file)")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(self.path, timeout=30.0)
        try:
            self._check()
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS scores (key TEXT PRIMARY KEY, genome TEXT NOT NULL, "
                "seed INTEGER NOT NULL, fitness REAL, result TEXT NOT NULL, created REAL)"
            )
            self._conn.commit()
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            raise ScoreStoreError(f"{self.path} is not a score store ({exc})") from None
        except ScoreStoreError:
            self._conn.close()
            raise

    def _check(self) -> None:
        """Refuse a database that holds anything but the score table, or a score table of
        other columns (reading the schema fails on a file that is not SQLite)."""
        tables = {
            row[0]
            for row in self._conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        }
        others = sorted(tables - {"scores"})
        if others:
            run = "meta" in tables  # a search run's database
            hint = " (a search run's database: pass a --store of its own)" if run else ""
            raise ScoreStoreError(
                f"{self.path} is not a score store: it holds the tables "
                f"{short(', '.join(others), 120)}{hint}"
            )
        if "scores" in tables:
            columns = tuple(row[1] for row in self._conn.execute("PRAGMA table_info(scores)"))
            if columns != _COLUMNS:
                raise ScoreStoreError(
                    f"{self.path} is not a score store: its scores table has the columns "
                    f"{short(', '.join(columns), 120)}"
                )
            # every row read back once, so a damaged one stops the command before it trains
            for key, text in self._conn.execute("SELECT key, result FROM scores"):
                self._parse(key, text)

    def _parse(self, key: object, text: object) -> FitnessResult:
        try:
            if not isinstance(text, str):
                raise TypeError(f"the result is {type(text).__name__}, not JSON text")
            return FitnessResult.from_dict(json.loads(text))
        except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as exc:
            raise ScoreStoreError(
                f"{self.path}: the score row {short(str(key), 80)!r} is damaged "
                f"({short(str(exc), 160)}); delete the file (or that row) to score it again"
            ) from None

    def get(self, key: str) -> FitnessResult | None:
        row = self._conn.execute("SELECT result FROM scores WHERE key = ?", (key,)).fetchone()
        return None if row is None else self._parse(key, row[0])

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


class ScoringError(RuntimeError):
    """The fitness keeps failing: simplification or ablation stops (the message says why)."""


class FitnessScorer:
    """`fitness(genome, config at seed)`, the best validation accuracy (0 when the protocol
    rejects the genome), read from `store` when it holds it. `trained` counts fresh runs.

    An evaluation with status `error` is never stored. It raises `ScoringError` when nothing
    has been scored yet (the first evaluation is the original genome's: the fitness cannot run
    at all) or when `ERROR_STREAK` evaluations in a row failed with the same message; an
    isolated error counts as a rejected genome (0)."""

    def __init__(
        self, config: FitnessConfig, schedule: str = "one_cycle", store: ScoreStore | None = None
    ) -> None:
        self.config = config
        self.schedule = schedule
        self.store = store
        self.trained = 0
        self.scored = 0
        self.streak: tuple[str, int] = ("", 0)
        self._config_key = hashlib.sha256(config.model_dump_json().encode()).hexdigest()[:16]

    def key(self, genome: Genome, seed: int) -> str:
        return f"{self._config_key}/{self.schedule}/{genome.canonical_hash()}/{seed}"

    def result(self, genome: Genome, seed: int) -> FitnessResult:
        key = self.key(genome, seed)
        stored = None if self.store is None else self.store.get(key)
        if stored is not None and stored.status != "error":  # stores of old kept errors
            self.scored += 1
            self.streak = ("", 0)
            return stored
        result = fitness(genome, self.config.model_copy(update={"seed": seed}), self.schedule)
        self.trained += 1
        if result.status == "error":
            self._error(result.error or "")
            return result
        self.scored += 1
        self.streak = ("", 0)
        if self.store is not None:
            self.store.put(key, genome, seed, result)
        return result

    def _error(self, error: str) -> None:
        message = error.strip().split("\n", 1)[0] or "an error with no message"
        count = self.streak[1] + 1 if message == self.streak[0] else 1
        self.streak = (message, count)
        if self.scored == 0:
            raise ScoringError(
                f"the fitness cannot score the genome ({short(message, 300)}): fix the fitness "
                "configuration; nothing was stored"
            )
        if count >= ERROR_STREAK:
            raise ScoringError(
                f"the last {count} fitness evaluations all failed with the same error, so it "
                f"stopped (nothing of theirs was stored): {short(message, 300)}"
            )

    def score(self, genome: Genome, seed: int) -> float:
        value = self.result(genome, seed).fitness
        return 0.0 if value is None else float(value)
