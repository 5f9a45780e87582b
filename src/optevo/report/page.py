"""`optevo report`: a run as a self-contained HTML page and the same as Markdown.

The page holds the leaderboard with every equation rendered from LaTeX, the final
re-evaluation, the elimination rounds, fitness over time per particle, the genealogy of the
best genome and, for the top genomes, their learning-rate schedule, decay functions and
update surface. Images are files in `img/` beside the page (SVG equations, PNG figures);
nothing is fetched from the network.

    from optevo.report.page import write_report
    files = write_report("runs/quick-20260101-120000")
    files.html  # runs/quick-.../report/index.html
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure as MplFigure

from optevo.fitness.config import SuiteFitness
from optevo.report import document as doc
from optevo.report.equations import latex_lines, render_latex
from optevo.report.plots import decay_figure, save, schedule_figure, surface, surface_figure
from optevo.report.run_data import (
    Featured,
    RunData,
    collect,
    featured,
    genealogy,
    search_evaluation,
)
from optevo.report.run_figures import elimination_figure, particles_figure, progress_figure
from optevo.report.schedules import PAPER_HOLD, PAPER_STEPS, PAPER_WARMUP, decay_roles
from optevo.report.subjects import Subject
from optevo.search.records import Evaluation
from optevo.space.genome import Genome

HTML_NAME = "index.html"
MARKDOWN_NAME = "report.md"
IMAGE_DIR = "img"


@dataclass(frozen=True)
class ReportFiles:
    html: Path
    markdown: Path
    images: tuple[Path, ...]
    seconds: float


@dataclass(frozen=True)
class ScheduleSpan:
    """The run length the schedule and decay figures are drawn over."""

    total_steps: int = PAPER_STEPS
    warmup_steps: int = PAPER_WARMUP
    hold_steps: int = PAPER_HOLD


def write_report(
    run_dir: str | Path,
    out_dir: str | Path | None = None,
    top: int = 3,
    rows: int = 20,
    span: ScheduleSpan | None = None,
) -> ReportFiles:
    """Write `index.html`, `report.md` and `img/` for the run in `run_dir` into `out_dir`
    (default `RUNDIR/report`). `top` genomes get figures; the leaderboard has `rows` rows."""
    t0 = time.perf_counter()
    data = collect(run_dir)
    out = Path(out_dir) if out_dir is not None else Path(run_dir) / "report"
    images = _Images(out)
    document = build(data, images, top, rows, span or ScheduleSpan())
    html_path = out / HTML_NAME
    md_path = out / MARKDOWN_NAME
    html_path.write_text(doc.to_html(document))
    md_path.write_text(doc.to_markdown(document))
    return ReportFiles(html_path, md_path, tuple(images.written), time.perf_counter() - t0)


class _Images:
    """Writes the report's images into `out/img` (each equation once)."""

    def __init__(self, out: Path) -> None:
        self.dir = out / IMAGE_DIR
        self.dir.mkdir(parents=True, exist_ok=True)
        self.written: list[Path] = []
        self._equations: dict[str, doc.Image | None] = {}

    def equation(self, genome: Genome) -> doc.Image | None:
        key = genome.canonical_hash()[:16]
        if key not in self._equations:
            name = f"eq-{key}.svg"
            ok = render_latex(latex_lines(genome), self.dir / name)
            if ok:
                self.written.append(self.dir / name)
            self._equations[key] = (
                doc.Image(f"{IMAGE_DIR}/{name}", _plain(genome), "eq") if ok else None
            )
        return self._equations[key]

    def figure(self, fig: MplFigure, name: str, alt: str) -> doc.Image:
        path = save(fig, self.dir / name)
        self.written.append(path)
        return doc.Image(f"{IMAGE_DIR}/{name}", alt)


def _plain(genome: Genome) -> str:
    text = f"u = {genome.equation()}"
    if genome.momentum != "none":
        text += f" [{genome.momentum}]"
    return text


def _seeds(ev: Evaluation) -> str:
    return ", ".join("-" if v is None else f"{v:.4f}" for v in ev.fitness_values)


def _lr(ev: Evaluation) -> str:
    return "-" if ev.best_lr is None else f"{ev.best_lr:g}"


def build(data: RunData, images: _Images, top: int, rows: int, span: ScheduleSpan) -> doc.Document:
    summary = data.summary
    cfg = summary.config
    c = summary.counts
    fit = cfg.fitness
    intro: list[doc.Block] = [
        doc.Para(
            f"Run directory {data.run_dir} ({'finished' if summary.finished else 'not finished'})"
            f"; {cfg.name}: {cfg.description or 'no description'}."
        ),
        doc.Para(
            f"Strategy {cfg.strategy.kind}; {c['requested']} search evaluations"
            + (f" of {c['planned']} planned" if cfg.budget_steps is None else "")
            + f" ({c['trained']} trained, {c['duplicates']} duplicates "
            f"reused, {c['screen_redraws']} screen redraws); fitness: {fit.describe()}, run "
            f"seed {cfg.seed}."
            + (
                ""
                if cfg.budget_steps is None
                else f" Stopped by a budget of {cfg.budget_steps:,} optimizer steps."
            )
        ),
    ]
    if cfg.funnel is not None:
        promoted = ", ".join(f"{k} {v}" for k, v in c.items() if k.startswith("rung-"))
        intro.append(
            doc.Para(
                f"Funnel: {cfg.funnel.describe()}. Evaluations at the rungs: "
                f"{promoted or 'none yet'}; a genome stands at the highest rung it reached."
            )
        )
    if summary.status_counts:
        statuses = ", ".join(f"{k} {v}" for k, v in sorted(summary.status_counts.items()))
        intro.append(doc.Para(f"Statuses of the search evaluations: {statuses}."))
    sections = [_leaderboard(data, images, rows)]
    if summary.final:
        sections.append(_final(data, images))
    if data.elimination is not None:
        sections.append(_elimination(data, images))
    if data.ablations:
        sections.append(_ablations(data))
    validation = validation_section(data.run_dir)
    if validation is not None:
        sections.append(validation)
    sections.append(_progress(data, images))
    tops = featured(data, top)
    sections.append(_genealogy(data, images, tops))
    if tops:
        sections.extend(_featured(data, images, tops, span))
    return doc.Document(f"optevo report: {cfg.name}", intro, sections)


def _equation_cell(images: _Images, genome: Genome) -> doc.Cell:
    img = images.equation(genome)
    return img if img is not None else doc.Code(_plain(genome))


def _fitness_meaning(data: RunData) -> str:
    """What a leaderboard's fitness figure is, for the run's fitness."""
    cfg = data.summary.config
    if isinstance(cfg.fitness, SuiteFitness):
        where = " at the highest rung of the funnel it reached" if cfg.funnel else ""
        return (
            "the paired suite score against Adam (the weighted mean over the tasks of d = "
            "(candidate - Adam) / |Adam - trivial|, clipped to [-1, 1]: 0 = Adam's level, -1 "
            f"the trivial predictor's){where}"
        )
    return "best validation accuracy on the selection seed(s)"


def _leaderboard(data: RunData, images: _Images, rows: int) -> doc.Section:
    board = data.summary.leaderboard
    section = doc.Section("Leaderboard", "leaderboard-section")
    if not board:
        section.blocks.append(doc.Para("No search evaluation has a fitness yet."))
        return section
    table_rows = []
    for i, s in enumerate(board[:rows], 1):
        ev = s.evaluation
        table_rows.append(
            (
                str(i),
                ev.canonical_hash[:10],
                ev.fitness_text,
                ev.status,
                str(s.times_seen),
                _lr(ev),
                ev.request.schedule,
                ev.key,
                _equation_cell(images, ev.genome),
            )
        )
    section.blocks.append(
        doc.Para(
            f"The search's distinct genomes with a fitness, best first ({len(board)} in all, "
            f"the best {min(rows, len(board))} shown); fitness = {_fitness_meaning(data)}."
        )
    )
    section.blocks.append(
        doc.Table(
            ("rank", "genome", "fitness", "status", "seen", "best lr", "schedule", "key", "update"),
            tuple(table_rows),
            id="leaderboard",
        )
    )
    return section


def _final(data: RunData, images: _Images) -> doc.Section:
    final = data.summary.final
    seeds = data.summary.config.final.seeds
    section = doc.Section("Final re-evaluation", "final")
    section.blocks.append(
        doc.Para(f"The best genomes and the baselines over {seeds} fresh training seeds.")
    )
    section.blocks.append(
        doc.Table(
            ("rank", "name", "mean ± std", "per seed", "best lr", "update"),
            tuple(
                (
                    str(i),
                    s.name,
                    s.evaluation.fitness_text,
                    _seeds(s.evaluation),
                    _lr(s.evaluation),
                    _equation_cell(images, s.evaluation.genome),
                )
                for i, s in enumerate(final, 1)
            ),
            id="final-table",
        )
    )
    return section


def _ablations(data: RunData) -> doc.Section:
    section = doc.Section("Ablation", "ablation")
    section.blocks.append(
        doc.Para(
            "Each part of a genome removed alone (`optevo ablate`): the fitness change over "
            "paired seeds, mean ± standard error; a part matters when removing it costs "
            "fitness by the paired t-test over the seeds (two-sided, level 0.05; records "
            "written before it keep the verdict of their time: beyond 2 standard errors)."
        )
    )
    for record in data.ablations:
        try:
            section.blocks.extend(_ablation_blocks(record))
        except (TypeError, ValueError, KeyError, AttributeError, ZeroDivisionError) as exc:
            label = record.get("label", "?")
            section.blocks.append(
                doc.Para(f"{label!s:.80}: not shown (a damaged ablation record: {exc!s:.200})")
            )
    return section


def _ablation_blocks(record: dict[str, Any]) -> list[doc.Block]:
    """One ablation record's paragraph and table (raises on a damaged record)."""
    blocks: list[doc.Block] = []
    base = record.get("base") or []
    mean = sum(base) / len(base) if base else float("nan")
    blocks.append(
        doc.Para(
            f"{record.get('label', '?')}: u = {record.get('equation', '?')} "
            f"(fitness {mean:.4f} on {record.get('fitness', {}).get('dataset', '?')}, "
            f"{len(base)} seeds)"
        )
    )
    blocks.append(
        doc.Table(
            ("part removed", "kind", "fitness change", "verdict"),
            tuple(
                (
                    str(r.get("part", "")),
                    str(r.get("kind", "")),
                    f"{float(r.get('mean', 0.0)):+.4f} ± {float(r.get('se', 0.0)):.4f}",
                    str(r.get("verdict", "")),
                )
                for r in record["rows"]
                if isinstance(r, dict)
            ),
        )
    )
    return blocks


def validation_section(run_dir: Path) -> doc.Section | None:
    """`optevo validate --run`'s tables (RUN/validate/summary.json), when there are any."""
    from optevo.validate import tables

    section = doc.Section("Validation", "validation")
    try:
        summary = tables.read_summary(run_dir / "validate")
    except ValueError as exc:
        section.blocks.append(doc.Para(f"Not shown: {exc}"))
        return section
    if summary is None:
        return None
    try:
        blocks: list[doc.Block] = [doc.Para(" ".join(tables.intro(summary)))]
        for task in summary["tasks"]:
            header, rows = tables.task_table(summary, task)
            blocks.append(doc.Table(header, tuple(rows), caption=tables.task_caption(task)))
        header, rows = tables.overall_table(summary)
        blocks.append(doc.Table(header, tuple(rows), id="validation-overall", caption="overall"))
    except (TypeError, ValueError, KeyError, AttributeError, ZeroDivisionError) as exc:
        where = run_dir / "validate" / "summary.json"
        section.blocks.append(doc.Para(f"Not shown: {where}: damaged ({exc!s:.200})"))
        return section
    section.blocks.extend(blocks)
    return section


def _elimination(data: RunData, images: _Images) -> doc.Section:
    elim = data.elimination
    assert elim is not None
    section = doc.Section("Elimination", "elimination")
    state = "finished" if elim.finished else "not finished"
    section.blocks.append(
        doc.Para(
            f"Protocol {elim.config.protocol} ({state}): {elim.config.describe()}. Ranked by "
            "the mean validation accuracy over the seeds; a genome failing a seed counts 0 "
            "there."
        )
    )
    fig = elimination_figure(data)
    if fig is not None:
        section.blocks.append(
            doc.Figure(
                images.figure(fig, "elimination.png", "elimination rounds"),
                "Each genome's fitness in the search and in every round it reached.",
            )
        )
    for rnd in elim.rounds:
        rows = []
        for i, ev in enumerate(rnd.ranking, 1):
            before = rnd.previous(ev)
            rows.append(
                (
                    str(i),
                    ev.canonical_hash[:10],
                    ev.fitness_text,
                    _seeds(ev),
                    "-" if before is None else before.fitness_text,
                    _lr(ev),
                    "yes" if i <= rnd.advancing and rnd.finished else "",
                    _equation_cell(images, ev.genome),
                )
            )
        go_on = "survive" if rnd.number == len(elim.config.rounds) else "go on"
        section.blocks.append(
            doc.Table(
                (
                    "rank",
                    "genome",
                    "mean ± std",
                    "per seed",
                    "previous",
                    "best lr",
                    go_on,
                    "update",
                ),
                tuple(rows),
                id=f"elim-{rnd.number}",
                caption=(
                    f"Round {rnd.number}: {len(rnd.ranking)} of {len(rnd.entering)} genomes "
                    f"evaluated, {rnd.fitness.size_label}; the best {rnd.advancing} {go_on}."
                ),
            )
        )
    return section


def _progress(data: RunData, images: _Images) -> doc.Section:
    section = doc.Section("Fitness over time", "fitness")
    fig = particles_figure(data)
    if fig is not None:
        section.blocks.append(
            doc.Figure(
                images.figure(fig, "fitness-particles.png", "fitness over time per particle"),
                "Each particle's position (line) and children (dots) at every time-step.",
            )
        )
    fig = progress_figure(data)
    if fig is not None:
        section.blocks.append(
            doc.Figure(
                images.figure(fig, "fitness-order.png", "fitness of every evaluation"),
                "Every evaluation of the initial population and the search, in the order "
                "they finished, with the best search fitness so far.",
            )
        )
    if not section.blocks:
        section.blocks.append(doc.Para("No evaluation is stored yet."))
    return section


def _genealogy(data: RunData, images: _Images, tops: list[Featured]) -> doc.Section:
    section = doc.Section("Genealogy of the best genome", "genealogy")
    best = _search_entry(data, tops)
    if best is None:
        section.blocks.append(doc.Para("No search evaluation has a fitness yet."))
        return section
    chain = genealogy(data, best)
    section.blocks.append(
        doc.Para(
            f"{best.canonical_hash[:10]} and its ancestors, oldest first: each is the "
            "position its particle moved to (aging: the particle always moves to its best "
            "child), the first one drawn at random."
        )
    )
    rows = []
    for gen, ev in enumerate(chain):
        where = ev.request.stage
        if ev.request.particle is not None:
            where += f", particle {ev.request.particle}, time-step {ev.request.time_step}"
        rows.append(
            (
                str(gen),
                ev.canonical_hash[:10],
                where,
                ev.fitness_text,
                ev.key,
                _equation_cell(images, ev.genome),
            )
        )
    section.blocks.append(
        doc.Table(
            ("generation", "genome", "where", "fitness", "key", "update"),
            tuple(rows),
            id="genealogy-table",
        )
    )
    return section


def _search_entry(data: RunData, tops: list[Featured]) -> Evaluation | None:
    for f in tops:
        ev = search_evaluation(data, f.hash, f.evaluation.request.schedule)
        if ev is not None:
            return ev
    board = data.summary.leaderboard
    return board[0].evaluation if board else None


def _featured(
    data: RunData, images: _Images, tops: list[Featured], span: ScheduleSpan
) -> list[doc.Section]:
    intro = doc.Section("Top genomes", "top")
    intro.blocks.append(
        doc.Para(
            f"The best {len(tops)} by the {tops[0].source}. Schedules and decay functions are "
            f"drawn over T = {span.total_steps} steps (W = {span.warmup_steps}, "
            f"H = {span.hold_steps}: the paper's transfer schedule, Appendix A); the update "
            "surface at the middle of that run."
        )
    )
    out = [intro]
    for f in tops:
        ev = f.evaluation
        genome = ev.genome
        subject = Subject(f.label, genome, ev.request.schedule)
        key = f.hash[:16]
        sec = doc.Section(f"{f.label}: fitness {ev.fitness_text}", f"top-{f.rank}", level=3)
        eq = images.equation(genome)
        rows: list[tuple[doc.Cell, ...]] = [
            ("equation", eq if eq is not None else doc.Code(_plain(genome))),
            ("text", doc.Code(str(genome))),
            ("LaTeX", doc.Code(genome.to_latex())),
            ("schedule", ev.request.schedule),
            ("hash", f.hash),
        ]
        roles = decay_roles(genome)
        if roles:
            rows.append(
                ("decay functions", "; ".join(f"{r.label} = {r.decay}: {r.role}" for r in roles))
            )
        sec.blocks.append(doc.Table(("", f.label), tuple(rows), id=f"top-{f.rank}-table"))
        fig = schedule_figure([subject], span.total_steps, span.warmup_steps, span.hold_steps)
        sec.blocks.append(
            doc.Figure(
                images.figure(fig, f"schedule-{key}.png", f"learning-rate schedule of {f.label}"),
                "Effective learning-rate schedule (its schedule times the decay functions "
                "that factor out), normalised to [0, 1]; dashed: the base one-cycle schedule.",
            )
        )
        if roles:
            fig = decay_figure([subject], span.total_steps)
            sec.blocks.append(
                doc.Figure(
                    images.figure(fig, f"decay-{key}.png", f"decay functions of {f.label}"),
                    "Decay functions over the run (dashed: factored out into the schedule).",
                )
            )
        grid = surface(subject, total_steps=span.total_steps)
        sec.blocks.append(
            doc.Figure(
                images.figure(
                    surface_figure(grid, f.label), f"surface-{key}.png", f"update of {f.label}"
                ),
                f"The update u over {grid.x} and {grid.y}, the other inputs fixed.",
            )
        )
        out.append(sec)
    return out
