"""`optevo report`: the HTML parses, every image it references exists, the tables hold the
run's numbers, the genealogy follows the particles, and runs of other shapes report too."""

from __future__ import annotations

import itertools
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from typer.testing import CliRunner

from helpers.search import SyntheticExecutor, micro_config
from optevo.cli import app
from optevo.report.page import write_report
from optevo.report.run_data import collect, featured, genealogy, search_evaluation
from optevo.search.api import start_search

runner = CliRunner()


class Page(HTMLParser):
    """The tags a test looks at: images, tables (id -> rows of cell texts), sections."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.images: list[dict[str, str | None]] = []
        self.tables: dict[str, list[list[str]]] = {}
        self.sections: list[str] = []
        self.stack: list[str] = []
        self._table: str | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag not in ("img", "meta", "br"):
            self.stack.append(tag)
        if tag == "img":
            self.images.append(a)
            if self._cell is not None:
                self._cell.append(f"[img {a.get('src')}]")
        elif tag == "table":
            self._table = a.get("id") or f"table{len(self.tables)}"
            self.tables[self._table] = []
        elif tag == "tr" and self._table is not None:
            self.tables[self._table].append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "section":
            self.sections.append(a.get("id") or "")

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes <{self.stack[-1:]}>"
        self.stack.pop()
        if tag in ("td", "th") and self._cell is not None and self._table is not None:
            self.tables[self._table][-1].append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def parse(path: Path) -> Page:
    page = Page()
    page.feed(path.read_text())
    page.close()
    assert page.stack == [], f"unclosed tags: {page.stack}"
    return page


@pytest.fixture(scope="module")
def report(eliminated_run: Path, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    out = tmp_path_factory.mktemp("out") / "report"
    files = write_report(eliminated_run, out)
    return files, parse(files.html)


def test_html_parses_and_every_image_exists(report) -> None:  # type: ignore[no-untyped-def]
    files, page = report
    assert files.html.name == "index.html" and files.markdown.name == "report.md"
    srcs = [img["src"] for img in page.images]
    assert len(srcs) >= 10
    for img in page.images:
        assert img.get("alt"), img
        src = img["src"]
        assert src and not re.match(r"^[a-z]+:", src), f"not a relative file: {src}"
        path = files.html.parent / src
        assert path.is_file(), src
        head = path.read_bytes()[:200]
        assert head.startswith(b"\x89PNG") or b"<svg" in head, src
        assert path.stat().st_size > 1000, src
    assert {files.html.parent / s for s in srcs} == set(files.images)
    # The Markdown shows the same images.
    md = files.markdown.read_text()
    assert set(re.findall(r"\]\((img/[^)]+)\)", md)) == set(srcs)
    # Self-contained: no script, no stylesheet or font from elsewhere.
    html = files.html.read_text()
    assert "<script" not in html and "http://" not in html and "https://" not in html
    assert page.sections[:2] == ["leaderboard-section", "final"]
    assert {"elimination", "fitness", "genealogy", "top", "top-1", "top-2", "top-3"} <= set(
        page.sections
    )


def test_tables_hold_the_runs_numbers(eliminated_run: Path, report) -> None:  # type: ignore[no-untyped-def]
    files, page = report
    data = collect(eliminated_run)
    board = page.tables["leaderboard"]
    assert board[0][:3] == ["rank", "genome", "fitness"]
    assert len(board) - 1 == min(20, len(data.summary.leaderboard))
    for row, standing in zip(board[1:], data.summary.leaderboard, strict=False):
        ev = standing.evaluation
        assert row[1] == ev.canonical_hash[:10]
        assert row[2] == f"{ev.fitness:.4f}"
        assert row[-1].startswith("[img img/eq-")  # the equation, rendered from LaTeX

    elim = data.elimination
    assert elim is not None and elim.finished
    for rnd in elim.rounds:
        table = page.tables[f"elim-{rnd.number}"]
        assert len(table) - 1 == len(rnd.ranking)
        marked = [row[1] for row in table[1:] if row[6] == "yes"]
        assert marked == [e.canonical_hash[:10] for e in rnd.ranking[: rnd.advancing]]
        first = rnd.ranking[0]
        assert table[1][2] == f"{first.fitness:.4f} ± {first.fitness_std:.4f}"
    final = page.tables["final-table"]
    assert {row[1] for row in final[1:]} == {s.name for s in data.summary.final}
    # The featured genomes are the elimination's survivors first.
    tops = featured(data, 3)
    assert tops[0].evaluation == elim.survivors[0]
    assert tops[0].source.startswith("elimination")
    assert page.tables["top-1-table"][1][1].startswith("[img img/eq-")
    assert files.seconds > 0


def test_genealogy_follows_the_particle(eliminated_run: Path, report) -> None:  # type: ignore[no-untyped-def]
    _, page = report
    data = collect(eliminated_run)
    best = featured(data, 1)[0].evaluation
    found = search_evaluation(data, best.canonical_hash, best.request.schedule)
    assert found is not None
    chain = genealogy(data, found)
    assert chain[-1] == found
    assert chain[0].request.stage == "init" or chain[0].request.time_step == 0
    assert len(chain) >= 2
    for parent, child in itertools.pairwise(chain):
        if child.request.stage == "search" and child.request.time_step:
            path = data.trajectories[child.request.particle]
            assert path[child.request.time_step - 1] == parent.key
            assert child.request.parent_hash == parent.canonical_hash
        else:  # a particle's start, found in the initial population
            assert parent.request.stage == "init"
            assert parent.canonical_hash == child.canonical_hash
    rows = page.tables["genealogy-table"][1:]
    assert [r[1] for r in rows] == [e.canonical_hash[:10] for e in chain]
    assert [r[4] for r in rows] == [e.key for e in chain]


def test_report_of_a_random_search_without_final_or_elimination(tmp_path: Path) -> None:
    cfg = micro_config(
        strategy={"kind": "random", "batch": 4, "budget": 8}, final={"top": 0, "baselines": []}
    )
    start_search(cfg, tmp_path / "run", executor=SyntheticExecutor())
    files = write_report(tmp_path / "run", top=2, rows=3)
    assert files.html == tmp_path / "run" / "report" / "index.html"
    page = parse(files.html)
    assert "final" not in page.sections and "elimination" not in page.sections
    assert len(page.tables["leaderboard"]) - 1 <= 3
    srcs = {img["src"] for img in page.images}
    assert "img/fitness-order.png" in srcs and "img/fitness-particles.png" not in srcs
    for src in srcs:
        assert (files.html.parent / str(src)).is_file()


def test_report_command(eliminated_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "rep"
    result = runner.invoke(app, ["report", str(eliminated_run), "-o", str(out), "--top", "1"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert f"wrote {out / 'index.html'} and {out / 'report.md'}" in text
    page = parse(out / "index.html")
    assert "top-1" in page.sections and "top-2" not in page.sections
    for args, message in [
        (["report", str(tmp_path / "nowhere")], "run directory not found"),
        (["report", str(tmp_path)], "holds no run"),
        (
            ["report", str(eliminated_run), "--steps", "10", "--warmup", "8", "--hold", "5"],
            "exceed --steps",
        ),
    ]:
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert message in " ".join(result.output.split())


@pytest.mark.parametrize(
    ("fitness", "needle"),
    [
        ({}, "fitness = best validation accuracy on the selection seed(s)"),
        (
            {"tasks": [{"name": "teacher-mlp", "weight": 1, "size": "search"}]},
            "fitness = the paired suite score against Adam",
        ),
    ],
)
def test_the_leaderboard_says_what_its_fitness_is(
    tmp_path: Path, fitness: dict[str, object], needle: str
) -> None:
    cfg = micro_config(
        strategy={"kind": "random", "batch": 4, "budget": 4},
        final={"top": 0, "baselines": []},
        fitness=fitness,
    )
    start_search(cfg, tmp_path / "run", executor=SyntheticExecutor())
    files = write_report(tmp_path / "run", top=1, rows=3)
    text = files.html.read_text()
    assert needle in text
    other = "paired suite score" if not fitness else "best validation accuracy"
    assert other not in text


def test_damaged_validation_and_ablation_files_are_named_and_the_report_is_whole(
    tmp_path: Path,
) -> None:
    # issue 27 G11: files of the right JSON shape but the wrong types inside
    cfg = micro_config(
        strategy={"kind": "random", "batch": 4, "budget": 8}, final={"top": 0, "baselines": []}
    )
    run = tmp_path / "run"
    start_search(cfg, run, executor=SyntheticExecutor())
    (run / "validate").mkdir()
    (run / "validate" / "summary.json").write_text(
        '{"schema": "optevo.validate/1", "tasks": [{"task": 5, "rows": "x"}], "overall": 3}'
    )
    (run / "ablation").mkdir()
    (run / "ablation" / "a.json").write_text(
        '{"label": "mine", "base": ["a"], "rows": [{"part": "x", "mean": "nope"}]}'
    )
    files = write_report(run, top=2, rows=3)
    page = parse(files.html)
    assert "validation" in page.sections and "ablation" in page.sections
    text = files.html.read_text()
    assert "damaged" in text and "summary.json" in text
    assert "mine: not shown (a damaged ablation record" in text
    assert files.markdown.is_file() and "leaderboard-section" in page.sections
