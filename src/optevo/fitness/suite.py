"""The paired multi-task fitness: a candidate scored against Adam on every
task of `FitnessConfig.tasks`, each run on the same seed, initial weights and batch order as
Adam's (the task runner's pairing, `optevo.tasks.tensor`), so seed noise cancels.

    from optevo.fitness import fitness, preset
    result = fitness(genome, preset("suite"))
    result.fitness                          # weighted mean of the tasks' d: 0 = Adam's level
    [(t.task, t.d, t.score, t.adam) for t in result.tasks]

Per task (a registry task at its `search` or `validate` budget, times `task_scale`):

1. Screen. The task's grid is `screen_lrs` times the task's reference rate over 1e-3: the
   paper's grid 10 ... 1e-5 around Adam's usual 1e-3 becomes, on a task Adam trains best at
   1e-2, 100 ... 1e-4, so a candidate's rate is sought around Adam's on that task and Adam's
   own rate is on the grid. Each rate trains `task_screen_fraction` of the full run's schedule
   and is scored on the validation split. SPEC 5's screen rule, per task: a rate whose run
   diverges or does not beat the trivial score is rejected; no rate left: "failed_screen".
   On the tasks of `PACKED_TASKS` (small MLP-like models, on a CPU) the screen's rates
   train as one packed model (`optevo.tasks.packed`: stacked weights, the same seed, initial
   weights and batches per rate, the rule stepping each rate's row): the sequential runs'
   outcomes within float tolerance, 1.9-10.8x faster there (docs/results/packed-tasks/).
   With the early-stopped screen (`SuiteFitness.screen_rule: early-stop`, off by default):
   the rates run nearest the task's reference rate first, each scored at a quarter, half and
   three quarters of its screen, and a rate that trails the best rate so far there by more
   than `early_stop_margin` (0.5) of that rate's gain over the trivial score is stopped:
   hopeless, it is not chosen (`TaskScore.screen_stopped`), and it costs only the steps it
   trained. With the halving screen (`screen_rule: halving`, `halving_screen`): every rate
   trains to a quarter of its screen, the better half goes on to the half, and so on (7
   rates: 7, 4, 2, 1 train each quarter, half the screen's steps). Packed screens keep the
   full rule (their rates train together).
2. Full run at the best remaining rate (ties: the one nearest the reference rate), scored on
   the validation split; a diverged run scores the trivial score ("diverged"). A screen run
   is the first steps of the full run at its rate (the same seed, batches and schedule), so
   where the runner can resume a run (`TensorSession`: every tensor task; not packed
   screens) the chosen rate's screen run trains on to the end instead of starting again:
   the same score as a fresh full run (tested), the screen's steps saved.
   With the fair rate rule (`FitnessConfig.fair_lr`, off by default; meant for the funnel's
   upper rungs): the screen also tries the half-decades around its best rate (x sqrt(10),
   / sqrt(10); sequential runs) and keeps the best of the three; when the full run at the
   chosen rate diverges, the next lower rate that passed the screen runs in full instead,
   down to the lowest (`TaskScore.lr_fallback` lists the rates that diverged). Adam's
   reference runs under the same rule.
3. Adam's reference: Adam through the same screen and full run, same seed, at its own best
   rate. Computed once per process for each (task, size, seed, protocol) and kept
   (`adam_reference`: a memo of a deterministic computation, nothing an executor must know
   about); every result records the reference it was compared with (`TaskScore.adam`,
   `adam_lr`, `trivial`), so a stored score can be checked and reproduced.
4. d = (candidate - Adam) / |Adam - trivial|, negated where lower is better, clipped to
   [-1, 1]: 0 is Adam's score, -1 the trivial predictor's (and a failed, diverged or faulty
   task), 1 a candidate that beats Adam by as much as Adam beats the trivial predictor.

The suite's fitness is the weighted mean of d. Clipping bounds what one task can contribute
(a loss that a candidate drives far below Adam's cannot outweigh the other tasks), and a
mean of differences keeps how much better or worse a candidate is, which a rank against
Adam alone would not. Status "ok" when any task's full run finished; otherwise "diverged"
when one diverged, else "failed_screen" (the particle search draws such a child again, as
for the single-task protocol); "error" (fitness None) only when every task raised. A task
that fails, diverges or raises scores -1 and the run goes on with the others.

The trivial score: for a loss, the runner's (the training targets' mean or class
frequencies); for accuracy, the validation share of the training set's most frequent class
(chance), not the runner's floor of 0, so a candidate that learns nothing scores -1 there too.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from optevo import library
from optevo.fitness.config import SuiteFitness, TaskRef
from optevo.fitness.protocol import guarded
from optevo.fitness.result import FitnessResult, Status, TaskScore
from optevo.fitness.spec import resolve_device
from optevo.optim.spec import OptimizerSpec
from optevo.space.genome import Genome
from optevo.tasks.base import Budget, RunOutcome, RunRequest, Task, TaskOptions
from optevo.tasks.packed import packable_model, packable_spec, run_packed
from optevo.tasks.registry import get_task
from optevo.tasks.tensor import TensorRunner
from optevo.transfer.lrtest import HALF_DECADE, goodness, norm_lr, pick_best

ADAM_LR = 1e-3
"""The rate of `screen_lrs` that lands on each task's reference rate."""

SPLIT = "val"
"""The split a suite fitness scores on (the tasks' `test` split is for reporting)."""


@dataclass(frozen=True)
class TaskRun:
    """One optimizer's screen and full run on a task: "ok", "failed_screen" or "diverged";
    `score` is the trivial score unless "ok"."""

    status: str
    score: float
    lr: float | None
    screen: dict[float, float | None]
    steps: int = 0
    """Optimizer steps trained in all (the screen's rates and the full run)."""
    fallback: tuple[float, ...] = ()
    """The fair rule: the rates whose full run diverged before `lr`'s."""
    stopped: tuple[float, ...] = ()
    """The early-stopped screen: the rates stopped as hopeless."""


CHECKPOINTS = (0.25, 0.5, 0.75)
"""Where the early-stopped screen looks at a rate: these fractions of its screen run."""


@dataclass
class Hopeless:
    """The early-stopped screen's monitor of one rate (`SuiteFitness.screen_rule`): it
    records the rate's score at each checkpoint, and stops the rate where it trails `best`
    (the best rate so far, its score at each checkpoint) by more than `margin` times `gap`
    (that rate's final gain over the trivial score)."""

    best: dict[int, float]
    gap: float
    higher_is_better: bool
    margin: float
    seen: dict[int, float] = field(default_factory=dict)

    def checkpoints(self, steps: int) -> tuple[int, ...]:
        return tuple(sorted({max(1, round(steps * f)) for f in CHECKPOINTS} - {steps}))

    def __call__(self, done: int, score: float) -> bool:
        self.seen[done] = score
        ref = self.best.get(done)
        if ref is None or not self.gap > 0:
            return False
        behind = ref - score if self.higher_is_better else score - ref
        return behind > self.margin * self.gap


@dataclass(frozen=True)
class Reference:
    """Adam's run on one task and seed, which a candidate's run there is compared with."""

    lr: float
    score: float
    trivial: float


_REFERENCES: dict[tuple[Any, ...], Reference] = {}


def suite_fitness(genome: Genome, schedule: str, config: SuiteFitness) -> FitnessResult:
    """The paired multi-task fitness of `genome` under `schedule` (see the module)."""
    spec = OptimizerSpec("candidate", genome, schedule)
    return combine([score_task(spec, ref, config) for ref in config.tasks])


def combine(scores: list[TaskScore]) -> FitnessResult:
    """The suite's result from its tasks' scores: the weighted mean of d, and a status."""
    statuses = {s.status for s in scores}
    errors = [f"task {s.task}: {s.error}" for s in scores if s.error]
    if statuses == {"error"}:
        return FitnessResult(None, "error", error=errors[0], tasks=scores)
    # weights are at most 1e6 (TaskRef) and d lies in [-1, 1]: neither sum can overflow
    value = sum(s.weight * s.d for s in scores) / sum(s.weight for s in scores)
    status: Status
    if "ok" in statuses:
        status = "ok"
    elif "diverged" in statuses:
        status = "diverged"
    else:
        status = "failed_screen"
    return FitnessResult(value, status, tasks=scores, error=errors[0] if errors else None)


def score_task(spec: OptimizerSpec, ref: TaskRef, config: SuiteFitness) -> TaskScore:
    """The candidate `spec` on one task, against Adam's reference there. Adam's reference
    failing raises (the suite is misconfigured); the candidate failing is the task's -1."""
    task = get_task(ref.name)
    adam = adam_reference(ref, config)
    t0 = time.perf_counter()

    def candidate() -> TaskScore:
        runner = build_runner(ref.name, ref.size, resolve_device(config.device))
        run = screen_and_run(spec, task, ref, config, runner, adam.trivial)
        return scored(ref, adam, run, task.higher_is_better)

    score = guarded(candidate, functools.partial(_error, ref, adam))
    score.seconds = time.perf_counter() - t0
    return score


def scored(ref: TaskRef, adam: Reference, run: TaskRun, higher_is_better: bool) -> TaskScore:
    """A candidate's `TaskScore` from its run on the task and Adam's reference there."""
    d = normalized(run.score, adam, higher_is_better) if run.status == "ok" else -1.0
    return _task_score(
        ref,
        adam,
        run.status,
        run.score,
        d,
        lr=run.lr,
        screen=run.screen,
        steps=run.steps,
        lr_fallback=run.fallback,
        screen_stopped=run.stopped,
    )


def _error(ref: TaskRef, adam: Reference, message: str) -> TaskScore:
    return _task_score(ref, adam, "error", None, -1.0, error=message)


def suite_fitness_many(
    items: Sequence[tuple[Genome, str]], config: SuiteFitness
) -> list[FitnessResult]:
    """`suite_fitness` of several candidates at once (`fitness_many`; an executor's `pack`):
    on a task whose screens run packed (`packed_screen`), the full runs of the candidates
    train as one packed model too (each copy its own genome, rate, seed-identical initial
    weights and batches: `optevo.tasks.packed`); the other tasks one candidate at a time.
    The same screens, rates and statuses as `suite_fitness` of each, the full runs' scores
    within float tolerance (tested). A packed full run that raises is run one by one."""
    specs = [OptimizerSpec("candidate", g, s) for g, s in items]
    scores: list[list[TaskScore]] = [[] for _ in specs]
    for ref in config.tasks:
        for i, score in enumerate(score_task_many(specs, ref, config)):
            scores[i].append(score)
    return [combine(s) for s in scores]


def score_task_many(
    specs: Sequence[OptimizerSpec], ref: TaskRef, config: SuiteFitness
) -> list[TaskScore]:
    """`score_task` of each of `specs`, their full runs packed where their screens are."""
    task = get_task(ref.name)
    adam = adam_reference(ref, config)
    runner = build_runner(ref.name, ref.size, resolve_device(config.device))
    together = [i for i, spec in enumerate(specs) if packed_screen(task, runner, spec)]
    if len(together) < 2:
        return [score_task(spec, ref, config) for spec in specs]
    out = {i: score_task(specs[i], ref, config) for i in range(len(specs)) if i not in together}
    hib = task.higher_is_better
    plans: dict[int, Plan] = {}
    seconds: dict[int, float] = {}
    for i in together:
        t0 = time.perf_counter()

        def plan(i: int = i) -> Plan | TaskRun | TaskScore:
            return plan_task(specs[i], task, ref, config, runner, adam.trivial)

        result = guarded(plan, functools.partial(_error, ref, adam))
        seconds[i] = time.perf_counter() - t0
        if isinstance(result, Plan):
            plans[i] = result
        else:
            out[i] = result if isinstance(result, TaskScore) else scored(ref, adam, result, hib)
    firsts: dict[int, RunOutcome] = {}
    if plans:
        t0 = time.perf_counter()
        requests = [
            RunRequest.of(specs[i], p.order[0], config.seed, p.rates.budget, None, SPLIT)
            for i, p in plans.items()
        ]
        outcomes = guarded(lambda: run_packed(runner, requests), lambda message: None)
        if outcomes is not None:
            firsts = dict(zip(plans, outcomes, strict=True))
        share = (time.perf_counter() - t0) / len(plans)
        for i in plans:
            seconds[i] += share
    for i, p in plans.items():
        t0 = time.perf_counter()

        def finish(i: int = i, p: Plan = p) -> TaskScore:
            return scored(ref, adam, finish_task(p, firsts.get(i)), hib)

        out[i] = guarded(finish, functools.partial(_error, ref, adam))
        seconds[i] += time.perf_counter() - t0
    for i, t in seconds.items():
        out[i].seconds = t
    return [out[i] for i in range(len(specs))]


def _task_score(
    ref: TaskRef, adam: Reference, status: str, score: float | None, d: float, **rest: Any
) -> TaskScore:
    return TaskScore(
        task=ref.name,
        size=ref.size,
        weight=ref.weight,
        status=status,
        score=score,
        adam=adam.score,
        adam_lr=adam.lr,
        trivial=adam.trivial,
        d=d,
        **rest,
    )


def normalized(score: float, adam: Reference, higher_is_better: bool) -> float:
    """(score - Adam's) / |Adam's - trivial|, negated where lower is better, in [-1, 1]."""
    gap = adam.score - adam.trivial if higher_is_better else adam.trivial - adam.score
    diff = score - adam.score if higher_is_better else adam.score - score
    return max(-1.0, min(1.0, diff / gap))


def adam_reference(ref: TaskRef, config: SuiteFitness) -> Reference:
    """Adam's screen and full run on `ref`'s task at the config's seed, computed once per
    process for each (task, size, seed, protocol)."""
    device = resolve_device(config.device)
    protocol = (
        config.task_scale,
        config.task_screen_fraction,
        config.screen_lrs,
        device,
        config.fair_lr,
        config.screen_rule,
        config.early_stop_margin,
    )
    key = (ref.name, ref.size, config.seed, *protocol)
    if key not in _REFERENCES:
        _REFERENCES[key] = compute_reference(ref, config, device)
    return _REFERENCES[key]


def compute_reference(ref: TaskRef, config: SuiteFitness, device: str) -> Reference:
    """Adam's screen and full run on the task; ValueError when it does not beat the trivial
    score (d would divide by nothing)."""
    task = get_task(ref.name)
    hib = task.higher_is_better
    runner = build_runner(ref.name, ref.size, device)
    trivial = trivial_score(runner, task)
    adam = OptimizerSpec("Adam", library.genome("Adam"), "one_cycle")
    run = screen_and_run(adam, task, ref, config, runner, trivial)
    if run.status != "ok" or run.lr is None or not _beats(run.score, trivial, hib):
        raise ValueError(
            f"task {ref.name}: Adam's reference run ({run.status}, score {run.score:.4g}) does "
            f"not beat the trivial score {trivial:.4g}, so the task cannot normalise a "
            "candidate's score; give it a larger budget (task_scale) or drop it"
        )
    return Reference(run.lr, run.score, trivial)


class _Rates:
    """The runs of one candidate on one task at one seed. With a runner that can resume a run
    (`start`: `optevo.tasks.tensor.TensorSession`), a screen run is the start of the full run
    at its rate: `screen` keeps the sessions that `keep` names alive, and `full` trains the
    chosen rate's session on to the end instead of training its first steps again (the same
    weights and score as a fresh full run: `TensorSession`). Otherwise every run is fresh."""

    def __init__(
        self, spec: OptimizerSpec, runner: Any, seed: int, budget: Budget, screen_steps: int
    ) -> None:
        self.spec, self.runner, self.seed, self.budget = spec, runner, seed, budget
        self.screen_steps = screen_steps
        self.resumable = callable(getattr(runner, "start", None))
        self.sessions: dict[float, Any] = {}
        self.trained = 0

    def advance(self, lr: float, to: int) -> float | None:
        """Rate `lr`'s run up to step `to` of its full run; its score (None: diverged)."""
        if not self.resumable:
            out = self.runner.run(self._request(lr, to))
            self.trained += out.steps
            return _metric(out)
        session = self.sessions.get(lr)
        if session is None:
            session = self.sessions[lr] = self.runner.start(self._request(lr, None))
        before = session.done
        out = session.advance(to)
        self.trained += out.steps - before
        return _metric(out)

    def screen(self, lr: float) -> float | None:
        return self.advance(lr, self.screen_steps)

    def full(self, lr: float) -> float | None:
        score = self.advance(lr, self.budget.total_steps)
        self.sessions.pop(lr, None)
        return score

    def keep(self, rates: Any) -> None:
        """Free the sessions of every rate but `rates` (memory: a model and its optimizer
        state each)."""
        wanted = set(rates)
        for lr in [lr for lr in self.sessions if lr not in wanted]:
            del self.sessions[lr]

    def _request(self, lr: float, steps: int | None) -> RunRequest:
        return RunRequest.of(self.spec, lr, self.seed, self.budget, steps, SPLIT)


def screen_and_run(
    spec: OptimizerSpec,
    task: Task,
    ref: TaskRef,
    config: SuiteFitness,
    runner: Any,
    trivial: float,
) -> TaskRun:
    """The screen of `task_grid` and the full run at its best rate (steps 1-2 of the
    module), all at the config's seed."""
    plan = plan_task(spec, task, ref, config, runner, trivial)
    return plan if isinstance(plan, TaskRun) else finish_task(plan)


@dataclass
class Plan:
    """A candidate's screen on a task, done: the rates its full run tries in turn (the
    chosen rate first; with the fair rule the lower rates that passed follow, as fallbacks),
    and the runs it keeps (`_Rates`: the chosen rate's screen session goes on from there)."""

    screen: dict[float, float | None]
    order: list[float]
    stopped: tuple[float, ...]
    rates: _Rates
    trivial: float
    fair: bool


def plan_task(
    spec: OptimizerSpec,
    task: Task,
    ref: TaskRef,
    config: SuiteFitness,
    runner: Any,
    trivial: float,
) -> Plan | TaskRun:
    """Step 1 of the module: the screen (and with the fair rule its half-decades); a
    `TaskRun` when no rate passes ("failed_screen"), else the `Plan` of the full run."""
    budget = task_budget(task, ref.size, config.task_scale)
    screen_steps = max(1, round(budget.total_steps * config.task_screen_fraction))
    hib = task.higher_is_better
    rates = _Rates(spec, runner, config.seed, budget, screen_steps)
    centre = task.reference_lr

    def passes(m: float | None) -> bool:
        return m is not None and _beats(m, trivial, hib)

    def better(a: float | None, b: float | None) -> float | None:
        """The better of two passing rates (`pick_best`'s order), None for none."""
        pair = {lr: screen[lr] for lr in (a, b) if lr is not None}
        return pick_best(pair, hib, centre=centre)

    grid = task_grid(config, task)
    stopped: tuple[float, ...] = ()
    packed = packed_screen(task, runner, spec)
    best: float | None = None
    screen: dict[float, float | None]
    if config.screen_rule == "early-stop" and not packed:
        screen, stopped, used = early_stopped_screen(
            spec, task, config, runner, trivial, budget, screen_steps
        )
        rates.trained += used
    elif config.screen_rule == "halving" and not packed and rates.resumable:
        screen, stopped = halving_screen(rates, grid, hib, centre)
    elif packed:
        outs = run_packed(
            runner,
            [RunRequest.of(spec, lr, config.seed, budget, screen_steps, SPLIT) for lr in grid],
        )
        screen = {lr: _metric(out) for lr, out in zip(grid, outs, strict=True)}
        rates.trained += sum(out.steps for out in outs)
    else:
        screen = {}
        for lr in grid:  # one session alive at a time beside the best's
            screen[lr] = rates.screen(lr)
            if passes(screen[lr]):
                best = better(best, lr)
            rates.keep([best])

    passing = {lr: m for lr, m in screen.items() if passes(m) and lr not in stopped}
    best = pick_best(dict(passing), hib, centre=centre)
    rates.keep([best])
    if best is None:
        return TaskRun("failed_screen", trivial, None, screen, rates.trained, stopped=stopped)
    if not config.fair_lr:
        return Plan(screen, [best], stopped, rates, trivial, fair=False)
    # The fair rule: the half-decades around the screen's best, then the full run as the check.
    centre_lr = best
    for lr in _half_decades(centre_lr):
        if lr not in screen:
            screen[lr] = rates.screen(lr)
        if passes(screen[lr]):
            passing[lr] = screen[lr]
    rates.keep([centre_lr, *_half_decades(centre_lr)])
    trio = {lr: passing[lr] for lr in passing if lr in (centre_lr, *_half_decades(centre_lr))}
    best = pick_best(trio, hib, centre=centre_lr)
    assert best is not None
    rates.keep([best])
    order = [best, *sorted((lr for lr in passing if lr < best), reverse=True)]
    return Plan(screen, order, stopped, rates, trivial, fair=True)


def finish_task(plan: Plan, first: RunOutcome | None = None) -> TaskRun:
    """Step 2 of the module: the full run at the plan's rates in turn until one does not
    diverge (only the chosen rate without the fair rule). `first`: the chosen rate's full
    run when it was trained elsewhere (packed with other candidates' full runs)."""
    fallback: list[float] = []
    rates = plan.rates
    for k, lr in enumerate(plan.order):
        if k == 0 and first is not None:
            rates.trained += first.steps
            rates.keep([])
            full = _metric(first)
        else:
            full = rates.full(lr)
        if full is not None:
            return TaskRun(
                "ok", full, lr, plan.screen, rates.trained, tuple(fallback), plan.stopped
            )
        fallback.append(lr)
    return TaskRun(
        "diverged",
        plan.trivial,
        plan.order[-1],
        plan.screen,
        rates.trained,
        tuple(fallback) if plan.fair else (),
        plan.stopped,
    )


def halving_screen(
    rates: _Rates, grid: tuple[float, ...], hib: bool, centre: float
) -> tuple[dict[float, float | None], tuple[float, ...]]:
    """The successive-halving screen (`SuiteFitness.screen_rule: halving`): every rate of
    `grid` trains to the first checkpoint (`CHECKPOINTS`: a quarter of its screen) and is
    scored; the better half (rounded up) of those that did not diverge trains on to the
    next checkpoint, and so on; the rates left train to the screen's end. 7 rates: 7, 4, 2
    and 1 train each quarter, half the steps of the full screen. Ranked by score, ties by
    nearness to `centre` (`pick_best`'s order). (Each rate's screen score, None when it
    diverged or was stopped; the stopped rates.)"""
    steps = rates.screen_steps
    marks = sorted({max(1, round(steps * f)) for f in CHECKPOINTS} | {steps})
    alive = list(grid)
    scores: dict[float, float | None] = {}
    stopped: list[float] = []
    for mark in marks:
        for lr in alive:
            scores[lr] = rates.advance(lr, mark)
        alive = [lr for lr in alive if scores[lr] is not None]
        if mark == steps:
            break
        ranked = sorted(
            alive,
            key=lambda lr: (
                -goodness(scores[lr], hib),
                abs(math.log10(lr) - math.log10(centre)),
                lr,
            ),
        )
        keep = ranked[: math.ceil(len(ranked) / 2)]
        stopped += [lr for lr in alive if lr not in keep]
        alive = [lr for lr in alive if lr in keep]
        rates.keep(alive)
    screen = {lr: (scores.get(lr) if lr not in stopped else None) for lr in grid}
    return screen, tuple(stopped)


def early_stopped_screen(
    spec: OptimizerSpec,
    task: Task,
    config: SuiteFitness,
    runner: Any,
    trivial: float,
    budget: Budget,
    screen_steps: int,
) -> tuple[dict[float, float | None], tuple[float, ...], int]:
    """The screen of `task_grid` with hopeless rates stopped (`Hopeless`): the rates nearest
    the task's reference rate first; (each rate's score, None when it diverged or was
    stopped; the stopped rates; the steps trained)."""
    hib = task.higher_is_better
    order = sorted(
        task_grid(config, task),
        key=lambda lr: (abs(math.log10(lr) - math.log10(task.reference_lr)), lr),
    )
    screen: dict[float, float | None] = {}
    stopped: list[float] = []
    best: tuple[float, dict[int, float]] | None = None  # (final score, checkpoint scores)
    trained = 0
    for lr in order:
        gap = 0.0 if best is None else abs(best[0] - trivial)
        monitor = Hopeless({} if best is None else best[1], gap, hib, config.early_stop_margin)
        request = RunRequest.of(spec, lr, config.seed, budget, screen_steps, SPLIT)
        out = runner.run(request, monitor)
        trained += out.steps
        if out.status == "stopped":
            screen[lr] = None
            stopped.append(lr)
            continue
        metric = _metric(out)
        screen[lr] = metric
        if metric is None or not _beats(metric, trivial, hib):
            continue
        if best is None or _beats(metric, best[0], hib):
            best = (metric, dict(monitor.seen))
    return {lr: screen[lr] for lr in task_grid(config, task)}, tuple(stopped), trained


def _half_decades(lr: float) -> tuple[float, float]:
    return norm_lr(lr * HALF_DECADE), norm_lr(lr / HALF_DECADE)


def _metric(out: RunOutcome) -> float | None:
    """A run's score, None when it diverged or has none."""
    if out.status == "diverged" or out.metric is None or not math.isfinite(out.metric):
        return None
    return float(out.metric)


PACKED_TASKS = frozenset({"teacher-mlp", "heavy-tailed-logreg", "manifold-autoencoder"})
"""Tasks whose screen trains its rates as one packed model (`optevo.tasks.packed`), where
that measured faster on a CPU (`benchmarks/packed_tasks.py`: docs/results/packed-tasks/)."""


def packed_screen(task: Task, runner: Any, spec: OptimizerSpec) -> bool:
    """Whether the screen of `spec` on `task` runs packed: a task of `PACKED_TASKS` on a CPU
    whose model and optimizer can be packed exactly; otherwise the rates run one by one."""
    return (
        task.name in PACKED_TASKS
        and isinstance(runner, TensorRunner)
        and runner.device == "cpu"
        and packable_spec(spec)
        and packable_model(runner.make_model())
    )


def _beats(score: float, trivial: float, higher_is_better: bool) -> bool:
    return score > trivial if higher_is_better else score < trivial


def task_grid(config: SuiteFitness, task: Task) -> tuple[float, ...]:
    """The task's screen rates: `screen_lrs` times its reference rate over `ADAM_LR`."""
    factor = task.reference_lr / ADAM_LR
    return tuple(norm_lr(lr * factor) for lr in config.screen_lrs)


def task_budget(task: Task, size: str, scale: float) -> Budget:
    budget = task.size(size)
    return budget if scale == 1 else budget.scaled(scale)


@functools.lru_cache(maxsize=32)
def build_runner(name: str, size: str, device: str) -> Any:
    """The runner of a task at a size (its data loaded and placed once per process)."""
    task = get_task(name)
    return task.build(TaskOptions(device=device), task.size(size))


def trivial_score(runner: Any, task: Task) -> float:
    """The trivial predictor's score on the validation split (see the module; the runner's
    `trivial`, `optevo.tasks.tensor.trivial_score`)."""
    return float(runner.trivial(SPLIT))


__all__ = [
    "ADAM_LR",
    "PACKED_TASKS",
    "Reference",
    "TaskRun",
    "adam_reference",
    "combine",
    "normalized",
    "packed_screen",
    "score_task",
    "suite_fitness",
    "suite_fitness_many",
    "task_grid",
]
