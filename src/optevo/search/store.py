"""The run store: one SQLite file per run directory (WAL mode), written as results arrive.

It holds the run's configuration, every trial (one candidate at one training seed) and every
evaluation (a candidate over its seeds) the moment it finishes, the particles' trajectories,
and the run's progress. A run is resumed by replaying its strategy: what the store already
holds is read back instead of being trained again, so a run killed at any moment (SIGKILL
included) loses nothing finished and ends exactly as an uninterrupted one. No pickle: genomes
and results are JSON text.

A run directory is used by one process at a time: an exclusive `flock` on `RUNDIR/lock` (freed
by the kernel when the process dies, however it dies). Reading (`open(lock=False)`) needs no
write access: the database is opened by its file URI, quoted (`%`, `#`, `?` in a path are
names, not URI syntax), read-only, and on a directory that cannot be written (a read-only
mount) as immutable. Everything read back is checked: a stored value that is not what was
written is a `StoredDataError` naming the file, the row and the problem.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from optevo import jsonio
from optevo.config import ConfigError, short
from optevo.fitness import STATUSES, FitnessResult
from optevo.folderlock import FolderInUseError, lock_folder
from optevo.search.config import RunConfig, stored_run_config
from optevo.search.records import Evaluation, Request, TrialResult
from optevo.space.genome import Genome

DB_NAME = "run.sqlite"
SCHEMA_VERSION = "optevo.run/1"


def _same(x: Any) -> Any:
    return x


def _real(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None


@dataclass(frozen=True)
class Column:
    """A column of the evaluations table: its SQL declaration, the attribute it stores (of the
    evaluation's `request`, of the `evaluation`, or none: `written` only, e.g. the time), and
    how a value is written (`encode`) and read back (`decode`)."""

    name: str
    sql: str
    of: Literal["request", "evaluation", "written"]
    encode: Callable[[Any], Any] = _same
    decode: Callable[[Any], Any] = _same

    def value(self, ev: Evaluation) -> Any:
        if self.of == "written":
            return self.encode(None)
        return self.encode(getattr(ev.request if self.of == "request" else ev, self.name))

    def read(self, value: Any) -> Any:
        """A stored value, checked against the column's SQL type, then decoded; ValueError
        or TypeError saying what is wrong with it."""
        if value is None:
            if "NOT NULL" in self.sql:
                raise ValueError("missing")
        elif self.sql.startswith("TEXT"):
            if not isinstance(value, str):
                raise TypeError(f"expected text, got {type(value).__name__}")
        elif self.sql.startswith("INTEGER"):
            if not isinstance(value, int):
                raise TypeError(f"expected a whole number, got {_kind(value)}")
        elif self.sql.startswith("REAL"):
            value = _finite(value)
        return self.decode(value)


def _kind(value: Any) -> str:
    return short(repr(value), 60) if isinstance(value, int | float) else type(value).__name__


def _finite(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"expected a number, got {_kind(value)}")
    if not math.isfinite(value):
        raise ValueError(f"expected a finite number, got {value!r}")
    return float(value)


def _fitness_values(text: str) -> tuple[float | None, ...]:
    values = json.loads(text)
    if not isinstance(values, list):
        raise TypeError(f"expected a JSON list, got {type(values).__name__}")
    return tuple(None if v is None else _finite(v) for v in values)


def _status(value: str) -> str:
    if value not in (*STATUSES, "mixed"):
        raise ValueError(f"unknown status {short(repr(value), 60)}")
    return value


EVALUATION_COLUMNS: tuple[Column, ...] = (
    Column("key", "TEXT PRIMARY KEY", "request"),
    Column("seq", "INTEGER NOT NULL UNIQUE", "evaluation"),
    Column("stage", "TEXT NOT NULL", "request"),
    Column("particle", "INTEGER", "request"),
    Column("time_step", "INTEGER", "request"),
    Column("child", "INTEGER", "request"),
    Column("attempt", "INTEGER", "request"),
    Column("name", "TEXT", "request"),
    Column("schedule", "TEXT NOT NULL", "request"),
    Column("genome", "TEXT NOT NULL", "request", lambda g: g.to_json(), Genome.from_json),
    Column("canonical_hash", "TEXT NOT NULL", "evaluation"),
    Column("behaviour_hash", "TEXT NOT NULL", "evaluation"),
    Column("parent_hash", "TEXT", "request"),
    Column("status", "TEXT NOT NULL", "evaluation", decode=_status),
    Column("fitness", "REAL", "evaluation", _real),
    Column("fitness_std", "REAL", "evaluation", _real),
    Column(
        "fitness_values",
        "TEXT NOT NULL",
        "evaluation",
        lambda v: jsonio.dumps(list(v)),
        _fitness_values,
    ),
    Column("best_lr", "REAL", "evaluation", _real),
    Column("screen_acc", "REAL", "evaluation", _real),
    Column("seconds", "REAL", "evaluation", decode=lambda x: x or 0.0),
    Column("host", "TEXT", "evaluation", decode=lambda x: x or ""),
    Column("error", "TEXT", "evaluation"),
    Column("duplicate_of", "TEXT", "evaluation"),
    Column("proposals", "INTEGER", "request", decode=lambda x: x or 1),
    Column("integrity_rejections", "INTEGER", "request", decode=lambda x: x or 0),
    Column("duplicate_rejections", "INTEGER", "request", decode=lambda x: x or 0),
    Column("created", "REAL", "written", lambda _: time.time()),
)
"""The evaluations table, column by column, in its on-disk order (the only place it is
written down: CREATE, INSERT, SELECT and reading a row back are made from it)."""

_READ = tuple(c for c in EVALUATION_COLUMNS if c.of != "written")
_COLS = ", ".join(c.name for c in _READ)
_INSERT = (
    f"INSERT INTO evaluations ({', '.join(c.name for c in EVALUATION_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in EVALUATION_COLUMNS)})"
)

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS trials (
    key TEXT NOT NULL, seed_index INTEGER NOT NULL, seed INTEGER NOT NULL,
    result TEXT NOT NULL, seconds REAL, host TEXT, created REAL,
    PRIMARY KEY (key, seed_index)
);
CREATE TABLE IF NOT EXISTS evaluations (
    {", ".join(f"{c.name} {c.sql}" for c in EVALUATION_COLUMNS)}
);
CREATE INDEX IF NOT EXISTS eval_canonical ON evaluations (stage, canonical_hash);
CREATE INDEX IF NOT EXISTS eval_behaviour ON evaluations (stage, behaviour_hash);
CREATE TABLE IF NOT EXISTS particles (
    particle INTEGER NOT NULL, time_step INTEGER NOT NULL, key TEXT NOT NULL,
    PRIMARY KEY (particle, time_step)
);
"""


class StoreError(RuntimeError):
    """A run directory that cannot be used (missing, locked, not a run, unreadable)."""


class StoredDataError(StoreError, ConfigError):
    """Something a run's database holds that cannot be read back (its configuration, a
    genome, a trial's result): the message names the database file, the row and the problem.
    A StoreError and a ConfigError, so every command that reports either reports it."""


class RunStore:
    """The SQLite store of one run directory. Use `create` for a new run, `open` to resume or
    read one; `close` (or a `with` block) releases the lock."""

    def __init__(self, run_dir: Path, conn: sqlite3.Connection, lock_fd: int | None) -> None:
        self.run_dir = run_dir
        self._conn = conn
        self._lock_fd = lock_fd

    # -- opening ----------------------------------------------------------------------------

    @classmethod
    def create(cls, run_dir: str | Path, config_yaml: str, config_json: str) -> RunStore:
        """A new run in `run_dir` (created if missing; refused if it already holds a run)."""
        run_dir = Path(run_dir)
        if run_dir.exists() and not run_dir.is_dir():
            raise StoreError(f"{run_dir} exists and is not a directory")
        if (run_dir / DB_NAME).exists():
            raise StoreError(
                f"{run_dir} already holds a run; continue it with --resume {run_dir} "
                "or choose another --run-dir"
            )
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create run directory {run_dir}: {exc.strerror}") from None
        lock = _lock(run_dir)
        store = cls(run_dir, _connect(run_dir / DB_NAME), lock)
        store._conn.executescript(_SCHEMA)
        store.set_meta("schema", SCHEMA_VERSION)
        store.set_meta("config_json", config_json)
        store.set_meta("created", repr(time.time()))
        (run_dir / "config.yaml").write_text(config_yaml)
        return store

    @classmethod
    def open(cls, run_dir: str | Path, lock: bool = True) -> RunStore:
        """An existing run; `lock=False` opens it for reading (while another process runs
        it, or where it cannot be written). `lock=True` (to continue it) takes the lock
        first, before anything is read, and refuses a run that cannot be written."""
        run_dir = Path(run_dir)
        db = run_dir / DB_NAME
        check_run_dir(run_dir)
        fd = None
        if lock:
            if not (writable(run_dir) and writable(db)):
                raise StoreError(
                    f"{run_dir} is read-only: it can be read (status, report, export, show) "
                    "but not continued; copy it to a writable place to continue it"
                )
            fd = _lock(run_dir)
        try:
            conn = _connect(db, readonly=not lock)
            try:
                schema = _schema(conn)
            except sqlite3.OperationalError:
                if lock or writable(run_dir):
                    raise
                # A directory that cannot be written (a read-only mount): SQLite cannot make
                # the WAL's shared-memory file there; read the file as it stands (immutable).
                conn.close()
                conn = _connect(db, readonly=True, immutable=True)
                schema = _schema(conn)
        except sqlite3.DatabaseError as exc:
            if fd is not None:
                os.close(fd)
            raise StoreError(f"{db} is not a readable run database: {exc}") from None
        if schema is None or schema[0] != SCHEMA_VERSION:
            if fd is not None:
                os.close(fd)
            found = None if schema is None else short(repr(schema[0]), 60)
            raise StoreError(f"{db}: unknown run schema {found}, expected {SCHEMA_VERSION}")
        return cls(run_dir, conn, fd)

    def close(self) -> None:
        self._conn.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- meta -------------------------------------------------------------------------------

    def set_meta(self, key: str, value: str) -> None:
        with self._tx() as c:
            c.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def get_meta(self, key: str) -> str | None:
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    @property
    def db_path(self) -> Path:
        return self.run_dir / DB_NAME

    @property
    def config_json(self) -> str:
        value = self.get_meta("config_json")
        if value is None:
            raise StoredDataError(f"{self.db_path}: the run's configuration is missing")
        if not isinstance(value, str):
            raise StoredDataError(f"{self.db_path}: the stored configuration is not text")
        return value

    def run_config(self) -> RunConfig:
        """The configuration the run was created with (a StoredDataError naming the
        database file when it cannot be read)."""
        try:
            return stored_run_config(self.config_json, source=str(self.db_path))
        except StoredDataError:
            raise
        except ConfigError as exc:
            raise StoredDataError(str(exc)) from None

    # -- trials -----------------------------------------------------------------------------

    def put_trial(self, key: str, seed_index: int, seed: int, result: TrialResult) -> None:
        """Store one trial's result (the `result` column: `FitnessResult.to_dict()`)."""
        with self._tx() as c:
            c.execute(
                "INSERT OR REPLACE INTO trials VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    key,
                    seed_index,
                    seed,
                    jsonio.dumps(result.result.to_dict()),
                    result.result.seconds,
                    result.host,
                    time.time(),
                ),
            )

    def fitness_results(self, key: str) -> list[FitnessResult]:
        """The stored per-seed results of an evaluation, in seed order."""
        trials = self.trials(key)
        return [trials[i].result for i in sorted(trials)]

    def trial_keys(self) -> set[tuple[str, int]]:
        """(key, seed index) of every stored trial, finished evaluations or not."""
        rows = self._conn.execute("SELECT key, seed_index FROM trials").fetchall()
        return {(k, int(i)) for k, i in rows}

    def trials(self, key: str) -> dict[int, TrialResult]:
        """The stored trials of an evaluation, by seed index."""
        rows = self._conn.execute(
            "SELECT seed_index, result, host FROM trials WHERE key = ?", (key,)
        ).fetchall()
        out: dict[int, TrialResult] = {}
        for i, text, host in rows:
            try:
                if not isinstance(i, int) or i < 0:
                    raise ValueError(f"seed index {short(repr(i), 40)}")
                if not isinstance(text, str | bytes):
                    raise TypeError(f"expected JSON text, got {type(text).__name__}")
                raw = json.loads(text)
                if not isinstance(raw, dict):
                    raise TypeError(f"expected a JSON object, got {type(raw).__name__}")
                out[i] = TrialResult(
                    FitnessResult.from_dict(raw), host if isinstance(host, str) else ""
                )
            except _BAD_DATA as exc:
                raise self._bad(f"trial result of {key!r} seed {i}", exc) from None
        return out

    # -- evaluations ------------------------------------------------------------------------

    def put_evaluation(self, ev: Evaluation) -> Evaluation:
        """Store a finished evaluation; returns it with its sequence number."""
        with self._tx() as c:
            seq = c.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM evaluations").fetchone()[0]
            ev = replace(ev, seq=seq)
            c.execute(_INSERT, [col.value(ev) for col in EVALUATION_COLUMNS])
        return ev

    def get(self, key: str) -> Evaluation | None:
        row = self._conn.execute(
            f"SELECT {_COLS} FROM evaluations WHERE key = ?", (key,)
        ).fetchone()
        return None if row is None else self._evaluation(row)

    def find_trained(
        self, stages: str | Sequence[str], schedule: str, canonical: str, behaviour: str
    ) -> Evaluation | None:
        """The first trained (not duplicate) evaluation of one of `stages` (stages of one
        fidelity: the same fitness protocol and training seeds) and `schedule` with either
        fingerprint."""
        names = (stages,) if isinstance(stages, str) else tuple(stages)
        marks = ", ".join("?" * len(names))
        row = self._conn.execute(
            f"SELECT {_COLS} FROM evaluations WHERE stage IN ({marks}) AND schedule = ? "
            "AND duplicate_of IS NULL AND (canonical_hash = ? OR behaviour_hash = ?) "
            "ORDER BY seq LIMIT 1",
            (*names, schedule, canonical, behaviour),
        ).fetchone()
        return None if row is None else self._evaluation(row)

    def evaluations(self, stage: str | None = None) -> list[Evaluation]:
        """Every stored evaluation (of `stage`), in the order they finished."""
        if stage is None:
            rows = self._conn.execute(f"SELECT {_COLS} FROM evaluations ORDER BY seq")
        else:
            rows = self._conn.execute(
                f"SELECT {_COLS} FROM evaluations WHERE stage = ? ORDER BY seq", (stage,)
            )
        return [self._evaluation(r) for r in rows.fetchall()]

    def count(self, stage: str | None = None, trained_only: bool = False) -> int:
        sql = "SELECT COUNT(*) FROM evaluations WHERE 1 = 1"
        args: list[Any] = []
        if stage is not None:
            sql += " AND stage = ?"
            args.append(stage)
        if trained_only:
            sql += " AND duplicate_of IS NULL"
        return int(self._conn.execute(sql, args).fetchone()[0])

    # -- particles --------------------------------------------------------------------------

    def put_particle(self, particle: int, time_step: int, key: str) -> None:
        with self._tx() as c:
            c.execute(
                "INSERT OR REPLACE INTO particles VALUES (?, ?, ?)", (particle, time_step, key)
            )

    def trajectories(self) -> dict[int, list[str]]:
        """Each particle's position (evaluation key) at time-steps 0, 1, ..."""
        out: dict[int, list[str]] = {}
        rows = self._conn.execute(
            "SELECT particle, time_step, key FROM particles ORDER BY particle, time_step"
        )
        for p, t, key in rows.fetchall():
            if not (isinstance(p, int) and isinstance(t, int) and isinstance(key, str)):
                raise self._bad(
                    f"particle position {short(repr((p, t, key)), 80)}",
                    TypeError("expected (particle, time-step, evaluation key)"),
                )
            out.setdefault(p, []).append(key)
        return out

    # -- internals --------------------------------------------------------------------------

    def _evaluation(self, row: tuple[Any, ...]) -> Evaluation:
        """An evaluation from a row of `SELECT {_COLS}` (a StoredDataError naming the row
        and the column when a stored value is not what was written)."""
        fields: dict[str, dict[str, Any]] = {"request": {}, "evaluation": {}}
        key = short(repr(row[0]), 80)
        for col, value in zip(_READ, row, strict=True):
            try:
                fields[col.of][col.name] = col.read(value)
            except _BAD_DATA as exc:
                raise self._bad(f"evaluation {key}", exc, col.name) from None
        try:
            return Evaluation(request=Request(**fields["request"]), **fields["evaluation"])
        except _BAD_DATA as exc:
            raise self._bad(f"evaluation {key}", exc) from None

    def _bad(self, what: str, exc: BaseException, column: str | None = None) -> StoredDataError:
        reason = short(" ".join(str(exc).split()) or type(exc).__name__, 200)
        where = "" if column is None or reason.startswith(f"{column}:") else f"{column}: "
        return StoredDataError(f"{self.db_path}: stored {what} is not valid: {where}{reason}")

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        try:
            with self._conn:
                yield self._conn
        except sqlite3.OperationalError as exc:
            raise StoreError(f"cannot write the run database in {self.run_dir}: {exc}") from None


_BAD_DATA = (ValueError, TypeError, KeyError, AttributeError, ArithmeticError, RecursionError)
"""What decoding a tampered stored value raises (JSON, genome and result parsing)."""


def writable(path: Path) -> bool:
    """Whether this process may write `path` (False on a read-only mount, even for root)."""
    return os.access(path, os.W_OK)


def check_run_dir(run_dir: Path) -> None:
    """StoreError unless `run_dir` is a directory holding a run database."""
    if not run_dir.exists():
        raise StoreError(f"run directory not found: {run_dir}")
    if not run_dir.is_dir():
        raise StoreError(f"{run_dir} is a file, not a run directory")
    if not (run_dir / DB_NAME).is_file():
        raise StoreError(f"{run_dir} holds no run (no {DB_NAME})")


def _schema(conn: sqlite3.Connection) -> tuple[Any, ...] | None:
    row: tuple[Any, ...] | None = conn.execute(
        "SELECT value FROM meta WHERE key = 'schema'"
    ).fetchone()
    return row


def _connect(path: Path, readonly: bool = False, immutable: bool = False) -> sqlite3.Connection:
    if readonly:
        # The path as a quoted file URI: `%`, `#` and `?` are part of the name.
        uri = path.absolute().as_uri() + "?mode=ro" + ("&immutable=1" if immutable else "")
        conn = sqlite3.connect(uri, uri=True, timeout=30.0)
    else:
        conn = sqlite3.connect(path, timeout=30.0)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
    return conn


def _lock(run_dir: Path) -> int:
    try:
        return lock_folder(run_dir, "the run directory")
    except FolderInUseError as exc:
        raise StoreError(str(exc)) from None
