"""The search: accepting candidates, duplicates, the run configuration, strategies,
executors and the run store.

    from optevo.search import run_preset, start_search
    summary = start_search(run_preset("quick"), "runs/my-run")
"""

from optevo.fingerprint import Identity, SeenSet, behaviour_hash
from optevo.search.api import (
    RunSummary,
    Standing,
    leaderboard,
    load_config,
    planned_evaluations,
    read_summary,
    resume_search,
    start_search,
)
from optevo.search.candidates import (
    Drawn,
    NoValidCandidateError,
    draw_child,
    draw_random,
    integrity_checked,
    mutate_genome,
    random_genome,
)
from optevo.search.config import (
    ConfigError,
    RunConfig,
    load_run_config,
    run_preset,
    run_preset_names,
)
from optevo.search.records import Evaluation, Request, Trial, TrialResult
from optevo.search.store import RunStore, StoreError

__all__ = [
    "ConfigError",
    "Drawn",
    "Evaluation",
    "Identity",
    "NoValidCandidateError",
    "Request",
    "RunConfig",
    "RunStore",
    "RunSummary",
    "SeenSet",
    "Standing",
    "StoreError",
    "Trial",
    "TrialResult",
    "behaviour_hash",
    "draw_child",
    "draw_random",
    "integrity_checked",
    "leaderboard",
    "load_config",
    "load_run_config",
    "mutate_genome",
    "planned_evaluations",
    "random_genome",
    "read_summary",
    "resume_search",
    "run_preset",
    "run_preset_names",
    "start_search",
]
