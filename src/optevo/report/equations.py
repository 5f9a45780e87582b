"""Equations as images, self-contained: a genome's LaTeX (`Genome.to_latex`) rendered to SVG
by matplotlib's own math renderer (mathtext), no TeX installation and no network."""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.mathtext import MathTextParser
from matplotlib.transforms import ScaledTranslation

from optevo.space.genome import Genome

_PARSER = MathTextParser("path")


def latex_lines(genome: Genome) -> list[str]:
    """The update, each decay function and the momentum type, one LaTeX line each."""
    return genome.to_latex().split(r" \\ ")


def render_latex(lines: list[str], path: str | Path, fontsize: float = 12.0) -> bool:
    """Write the LaTeX `lines` (math mode, one under the other) as an SVG or PNG image.
    False (and nothing written) when mathtext cannot typeset one of them."""
    prop = FontProperties(size=fontsize)
    heights = []
    try:
        for line in lines:
            _, height, _, _, _ = _PARSER.parse(f"${line}$", dpi=72, prop=prop)
            heights.append(height)
    except (ValueError, RuntimeError):
        return False
    fig = Figure(figsize=(1.0, 0.3))
    offset = 0.0
    for line, height in zip(lines, heights, strict=True):
        shift = ScaledTranslation(0.0, -offset / 72.0, fig.dpi_scale_trans)
        fig.text(
            0.0, 1.0, f"${line}$", fontproperties=prop, va="top", transform=fig.transFigure + shift
        )
        offset += height + 0.6 * fontsize
    path = Path(path)
    try:
        fig.savefig(
            path,
            bbox_inches="tight",
            pad_inches=0.05,
            format=path.suffix[1:] or "svg",
            transparent=True,
        )
    except (ValueError, RuntimeError):
        path.unlink(missing_ok=True)
        return False
    return True


def render_genome(genome: Genome, path: str | Path) -> bool:
    return render_latex(latex_lines(genome), path)
