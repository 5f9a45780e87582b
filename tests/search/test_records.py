"""The typed records that travel from a worker to the store: one JSON form, read back as
they were written; an evaluation aggregated from typed per-seed results."""

from __future__ import annotations

import json
import math

from helpers.search import diverged_result
from optevo import jsonio, library
from optevo.fitness import FitnessResult
from optevo.search.records import (
    Request,
    Trial,
    TrialResult,
    aggregate,
    results_from_json,
    results_to_json,
    trials_from_json,
    trials_to_json,
)


def test_a_trial_result_round_trips_through_strict_json() -> None:
    original = TrialResult(diverged_result(), "hostA")
    text = original.to_json()
    assert "NaN" not in text and "Infinity" not in text
    raw = json.loads(text)
    # The wire form is the stored form (`FitnessResult.to_dict()`) plus the host.
    assert raw.pop("host") == "hostA"
    assert raw == json.loads(jsonio.dumps(diverged_result().to_dict()))
    back = TrialResult.from_json(text)
    assert back.host == "hostA"
    r = back.result
    assert (r.fitness, r.status, r.best_lr, r.seconds) == (0.4, "diverged", 0.1, 1.5)
    assert r.screen[0.1] == 0.5 and math.isnan(r.screen[1.0])
    assert math.isnan(r.runs[0].train_loss[1]) and r.runs[0].val_acc == [0.4]
    assert TrialResult.from_json(back.to_json()).to_json() == text


def test_lists_of_results_and_trials_round_trip() -> None:
    results = [TrialResult(diverged_result(), "a"), TrialResult.failure("WorkerDied: gone")]
    back = results_from_json(results_to_json(results))
    assert [r.host for r in back] == ["a", ""]
    assert back[1].result.status == "error" and back[1].result.error == "WorkerDied: gone"
    assert back[1].result.fitness is None
    genome_json = library.genome("Adam").to_json()
    trials = [Trial("p000/t00", 0, 17, "search", genome_json, "one_cycle")]
    assert trials_from_json(trials_to_json(trials)) == trials


def test_a_result_without_a_host_reads_back_with_an_empty_one() -> None:
    assert TrialResult.from_dict(FitnessResult(0.5, "ok").to_dict()).host == ""


def test_aggregate_over_typed_results() -> None:
    request = Request("k", library.genome("Adam"), "final")
    ok = FitnessResult(0.8, "ok", 0.1, {0.1: 0.7, 1.0: 0.2}, seconds=1.0)
    rejected = FitnessResult(None, "failed_screen", None, {0.1: 0.1, 1.0: math.nan}, seconds=0.5)
    ev = aggregate(
        request, "c", "b", [TrialResult(ok, "h2"), TrialResult(rejected, "h1"), TrialResult(ok)]
    )
    assert ev.status == "mixed" and ev.fitness_values == (0.8, None, 0.8)
    assert ev.fitness is not None and math.isclose(ev.fitness, 1.6 / 3)
    assert ev.fitness_std is not None and ev.best_lr == 0.1
    assert ev.screen_acc is not None and math.isclose(ev.screen_acc, (0.7 + 0.1 + 0.7) / 3)
    assert ev.seconds == 2.5 and ev.host == "h1,h2" and ev.error is None
    ev = aggregate(request, "c", "b", [TrialResult.failure("boom")])
    assert (ev.status, ev.fitness, ev.fitness_std, ev.error) == ("error", None, None, "boom")
    assert ev.screen_acc is None and ev.best_lr is None
