"""Equations as images, self-contained: a genome's LaTeX (`Genome.to_latex`) rendered to SVG
by matplotlib's own math renderer (mathtext), no TeX installation and no network."""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.mathtext import MathTextParser

from optevo.space.genome import Genome

_PARSER = MathTextParser("path")


def latex_lines(genome: Genome) -> list[str]:
    """The update, each decay function and the momentum type, one LaTeX line each."""
    return genome.to_latex().split(r" \\ ")


def render_latex(lines: list[str], path: str | Path, fontsize: float = 12.0) -> bool:
    """Write the LaTeX `lines` (math mode, one under the other) as an SVG or PNG image.
    False (and nothing written) when mathtext cannot typeset one of them."""
    prop = FontProperties(size=fontsize)
    sizes = []
    try:
        for line in lines:
            width, height, depth, _, _ = _PARSER.parse(f"${line}$", dpi=72, prop=prop)
            sizes.append((width, height, depth))
    except (ValueError, RuntimeError):
        return False
    pad, gap = 3.0, 0.5 * fontsize  # points
    width = max(w for w, _, _ in sizes) + 2 * pad
    total = sum(h for _, h, _ in sizes) + gap * (len(sizes) - 1) + 2 * pad
    fig = Figure(figsize=(width / 72.0, total / 72.0))
    top = total - pad
    for line, (_, height, depth) in zip(lines, sizes, strict=True):
        # The baseline of a line lies `depth` above its bottom edge (figure points from below).
        fig.text(pad / width, (top - height + depth) / total, f"${line}$", fontproperties=prop)
        top -= height + gap
    path = Path(path)
    try:
        fig.savefig(path, format=path.suffix[1:] or "svg", transparent=True)
    except (ValueError, RuntimeError):
        path.unlink(missing_ok=True)
        return False
    return True


def render_genome(genome: Genome, path: str | Path) -> bool:
    return render_latex(latex_lines(genome), path)
