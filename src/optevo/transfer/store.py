"""Where a bench or a validation keeps its results: one JSON line per finished training run,
appended (and fsynced) the moment it ends, so a killed one resumes without re-running a
finished run.

`<out>/runs.jsonl`: every run (learning-rate test runs and final seeds). A run is identified
by its `RunKey` (task, optimizer genome + schedule, phase, learning rate, seed, steps of the
whole schedule and steps trained); a truncated last line (killed mid-write) is ignored.
`<out>/bench.json`: per task, the settings of the latest `optevo bench` invocation (scale,
steps, seeds, optimizers in order), from which its table is built (`optevo validate` keeps
its own `summary.json` instead). No pickle anywhere.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from optevo.config import short
from optevo.transfer.lrtest import norm_lr

RUNS_FILE = "runs.jsonl"
MANIFEST_FILE = "bench.json"
SCHEMA = "optevo.bench/1"
TABLE_SETTINGS = (
    "scale",
    "total_steps",
    "warmup_steps",
    "hold_steps",
    "batch_size",
    "seeds",
    "lr_seed",
    "order",
    "optimizers",
)
"""The keys of a task's settings in the manifest that the tables are built from."""


@dataclass(frozen=True)
class RunKey:
    task: str
    optimizer: str  # the row label
    genome_hash: str
    schedule: str
    phase: str  # "lr" (learning-rate test) or "final"
    lr: float
    seed: int
    steps: int  # steps trained
    total_steps: int  # length of the schedule

    def __post_init__(self) -> None:
        if self.phase not in ("lr", "final"):
            raise ValueError(f"unknown phase {self.phase!r}")
        object.__setattr__(self, "lr", norm_lr(self.lr))

    def ident(self) -> tuple[Any, ...]:
        # The label is for people; the genome and schedule identify the optimizer.
        return (
            self.task,
            self.genome_hash,
            self.schedule,
            self.phase,
            self.lr,
            self.seed,
            self.steps,
            self.total_steps,
        )


@dataclass(frozen=True)
class RunRecord:
    key: RunKey
    metric: float | None  # accuracy in [0, 1] or perplexity; None = non-finite (diverged)
    status: str  # "ok" or "diverged"
    seconds: float
    extra: dict[str, Any]

    @property
    def diverged(self) -> bool:
        """Whether the run diverged by its task runner's rule (status not "ok") or has no
        finite metric."""
        return self.status != "ok" or self.metric is None or not math.isfinite(self.metric)

    def to_json(self) -> str:
        data = {"schema": SCHEMA, **asdict(self.key)}
        data.update(metric=self.metric, status=self.status, seconds=round(self.seconds, 3))
        data["extra"] = self.extra
        data["time"] = time.time()
        return json.dumps(data, allow_nan=False)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunRecord:
        """A record from its JSON form, every field checked by type: TypeError or ValueError
        naming the field (a string where a number belongs, an infinite rate, ...). A metric
        that is not finite reads as None (the run diverged)."""
        if not isinstance(d, dict):
            raise TypeError(f"a record is a JSON object, not {type(d).__name__}")
        lr = _number(d, "lr")
        if not (math.isfinite(lr) and lr > 0):
            raise ValueError(f"lr {lr!r} is not a positive finite rate")
        key = RunKey(
            task=_text(d, "task"),
            optimizer=_text(d, "optimizer"),
            genome_hash=_text(d, "genome_hash"),
            schedule=_text(d, "schedule"),
            phase=_text(d, "phase"),
            lr=lr,
            seed=_whole(d, "seed"),
            steps=_whole(d, "steps"),
            total_steps=_whole(d, "total_steps"),
        )
        metric = None if d.get("metric") is None else _number(d, "metric")
        extra = d.get("extra") or {}
        if not isinstance(extra, dict):
            raise TypeError(f"extra is {type(extra).__name__}, not an object")
        return cls(
            key,
            metric if metric is not None and math.isfinite(metric) else None,
            _text(d, "status"),
            _number(d, "seconds") if "seconds" in d else 0.0,
            dict(extra),
        )


def _text(d: dict[str, Any], name: str) -> str:
    value = d[name]
    if not isinstance(value, str):
        raise TypeError(f"{name} is {type(value).__name__}, not a string")
    return value


def _number(d: dict[str, Any], name: str) -> float:
    value = d[name]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} is {type(value).__name__}, not a number")
    return float(value)


def _whole(d: dict[str, Any], name: str) -> int:
    value = d[name]
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} is {type(value).__name__}, not a whole number")
    return value


class ResultStore:
    """The runs of one bench output folder (created when the first thing is written)."""

    def __init__(self, out: str | os.PathLike[str], repair: bool = True) -> None:
        """`repair`: cut a torn last line from the file (a killed run's). A process that reads
        a folder before it holds the folder's lock passes False: the torn line may be another
        process's line being written; it is skipped in memory and repaired by the lock holder
        (`reload`)."""
        self.out = Path(out)
        if self.out.exists() and not self.out.is_dir():
            raise ValueError(f"{self.out} exists and is not a folder")
        for name in (RUNS_FILE, MANIFEST_FILE):
            if (self.out / name).exists() and not (self.out / name).is_file():
                raise ValueError(f"{self.out / name} is not a file")
        self.path = self.out / RUNS_FILE
        self._records: dict[tuple[Any, ...], RunRecord] = {}
        if self.path.exists():
            self._load(repair)

    def reload(self) -> None:
        """Read the folder's runs again (after taking its lock: what another process stored
        before it counts)."""
        self._records.clear()
        if self.path.exists():
            self._load(repair=True)

    def _load(self, repair: bool) -> None:
        lines = self.path.read_bytes().splitlines()
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                record = RunRecord.from_dict(json.loads(line.decode("utf-8")))
            except (ValueError, KeyError, TypeError, RecursionError, OverflowError) as error:
                if number == len(lines):
                    # Cut short by a kill: drop the torn line, that run is simply re-run.
                    if repair:
                        self.path.write_bytes(b"".join(kept + b"\n" for kept in lines[:-1]))
                    continue
                what = f"{type(error).__name__}: {error}" if isinstance(error, KeyError) else error
                raise ValueError(
                    f"{self.path}:{number}: not a bench record ({short(str(what), 200)})"
                ) from None
            self._records[record.key.ident()] = record

    def get(self, key: RunKey) -> RunRecord | None:
        return self._records.get(key.ident())

    def add(self, record: RunRecord) -> None:
        line = record.to_json() + "\n"
        self.out.mkdir(parents=True, exist_ok=True)
        if self.path.exists() and self.path.stat().st_size:
            with self.path.open("rb") as f:
                f.seek(-1, os.SEEK_END)
                if f.read(1) != b"\n":  # a torn last line: start a fresh one
                    line = "\n" + line
        with self.path.open("a") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())
        self._records[record.key.ident()] = record

    def records(self) -> list[RunRecord]:
        return list(self._records.values())

    # -- the manifest ------------------------------------------------------------------------

    def manifest(self) -> dict[str, Any]:
        path = self.out / MANIFEST_FILE
        if not path.exists():
            return {"schema": SCHEMA, "tasks": {}}
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno})") from None
        except UnicodeDecodeError:
            raise ValueError(f"{path}: not valid JSON (not UTF-8 text)") from None
        if not isinstance(data, dict):
            raise ValueError(f"{path}: not a bench manifest (a JSON object)")
        if data.get("schema") != SCHEMA:
            raise ValueError(f"{path}: unknown schema {str(data.get('schema'))[:80]!r}")
        tasks = data.get("tasks")
        if not isinstance(tasks, dict):
            raise ValueError(f"{path}: 'tasks' is not a JSON object")
        for name, settings in tasks.items():
            where = f"{path}: task {str(name)[:80]!r}"
            if not isinstance(settings, dict):
                raise ValueError(f"{where}: its settings are not a JSON object")
            for key, kind in (("order", list), ("optimizers", dict), ("lr", dict)):
                if key in settings and not isinstance(settings[key], kind):
                    raise ValueError(f"{where}: {key} is not a JSON {kind.__name__}")
        return data

    def check_tables(self) -> None:
        """Raise ValueError unless every task of the manifest has the settings the tables are
        built from (checked before a bench starts, not after it trained)."""
        for name, settings in self.manifest()["tasks"].items():
            missing = [k for k in TABLE_SETTINGS if k not in settings]
            if missing:
                path = self.out / MANIFEST_FILE
                raise ValueError(f"{path}: task {str(name)[:80]!r}: no {', '.join(missing)}")

    def set_task(self, task: str, settings: dict[str, Any]) -> None:
        data = self.manifest()
        data["tasks"][task] = settings
        self.out.mkdir(parents=True, exist_ok=True)
        path = self.out / MANIFEST_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2) + "\n")
        os.replace(tmp, path)
