"""A small document model (sections of paragraphs, tables and figures) written out both as a
self-contained HTML page and as Markdown, so the two reports say the same thing."""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Image:
    """An image file beside the page (`src` relative to it)."""

    src: str
    alt: str
    css_class: str = ""


@dataclass(frozen=True)
class Code:
    text: str


Cell = str | Image | Code | tuple["str | Image | Code", ...]


@dataclass(frozen=True)
class Para:
    text: str


@dataclass(frozen=True)
class Table:
    header: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    id: str = ""
    caption: str = ""


@dataclass(frozen=True)
class Figure:
    image: Image
    caption: str


Block = Para | Table | Figure


@dataclass
class Section:
    title: str
    id: str
    blocks: list[Block] = field(default_factory=list)
    level: int = 2


@dataclass
class Document:
    title: str
    intro: list[Block]
    sections: list[Section]

    def images(self) -> list[str]:
        """Every image file the document references."""
        out: list[str] = []
        for block in [*self.intro, *(b for s in self.sections for b in s.blocks)]:
            if isinstance(block, Figure):
                out.append(block.image.src)
            elif isinstance(block, Table):
                for row in block.rows:
                    for cell in row:
                        out.extend(p.src for p in _parts(cell) if isinstance(p, Image))
        return out


def _parts(cell: Cell) -> Sequence[str | Image | Code]:
    return cell if isinstance(cell, tuple) else (cell,)


# ----------------------------------------------------------------------------------------------
# HTML
# ----------------------------------------------------------------------------------------------

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto;
       max-width: 1100px; padding: 0 1em; color: #222; line-height: 1.4; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ddd; padding-bottom: .2em; }
table { border-collapse: collapse; margin: .8em 0; font-size: .9em; }
th, td { border: 1px solid #ccc; padding: .3em .5em; vertical-align: middle; text-align: left; }
th { background: #f3f3f3; }
tr:nth-child(even) td { background: #fafafa; }
code { font-size: .85em; white-space: pre-wrap; word-break: break-word; }
img.eq { max-height: 7em; max-width: 560px; display: block; }
figure { margin: 1em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: .85em; color: #555; }
nav a { margin-right: 1em; }
"""


def _cell_html(cell: Cell) -> str:
    out = []
    for part in _parts(cell):
        if isinstance(part, Image):
            cls = f' class="{html.escape(part.css_class)}"' if part.css_class else ""
            out.append(f'<img src="{html.escape(part.src)}" alt="{html.escape(part.alt)}"{cls}>')
        elif isinstance(part, Code):
            out.append(f"<code>{html.escape(part.text)}</code>")
        else:
            out.append(html.escape(part))
    return " ".join(out)


def _block_html(block: Block) -> str:
    if isinstance(block, Para):
        return f"<p>{html.escape(block.text)}</p>"
    if isinstance(block, Figure):
        img = block.image
        return (
            f'<figure><img src="{html.escape(img.src)}" alt="{html.escape(img.alt)}">'
            f"<figcaption>{html.escape(block.caption)}</figcaption></figure>"
        )
    ident = f' id="{html.escape(block.id)}"' if block.id else ""
    lines = [f"<table{ident}>"]
    if block.caption:
        lines.append(f"<caption>{html.escape(block.caption)}</caption>")
    lines.append("<thead><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in block.header))
    lines.append("</tr></thead><tbody>")
    for row in block.rows:
        lines.append("<tr>" + "".join(f"<td>{_cell_html(c)}</td>" for c in row) + "</tr>")
    lines.append("</tbody></table>")
    return "\n".join(lines)


def to_html(doc: Document) -> str:
    nav = " ".join(
        f'<a href="#{html.escape(s.id)}">{html.escape(s.title)}</a>'
        for s in doc.sections
        if s.level == 2
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(doc.title)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(doc.title)}</h1>",
        *(_block_html(b) for b in doc.intro),
        f"<nav>{nav}</nav>",
    ]
    for section in doc.sections:
        h = f"h{section.level}"
        parts.append(f'<section id="{html.escape(section.id)}">')
        parts.append(f"<{h}>{html.escape(section.title)}</{h}>")
        parts.extend(_block_html(b) for b in section.blocks)
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


# ----------------------------------------------------------------------------------------------
# Markdown
# ----------------------------------------------------------------------------------------------


def _md(text: str) -> str:
    """Text as Markdown shows it: `<`, `>` and `&` HTML-escaped (Markdown passes raw HTML
    through, so a run's name must not become a tag), `[` and `]` backslash-escaped (nor a
    link), a line break a space (nor a heading)."""
    escaped = html.escape(text, quote=False).replace("[", r"\[").replace("]", r"\]")
    return escaped.replace("\r", " ").replace("\n", " ")


def _md_text(text: str) -> str:
    """`_md` for a table cell (`|` would end the cell)."""
    return _md(text).replace("|", r"\|")


def _cell_md(cell: Cell) -> str:
    out = []
    for part in _parts(cell):
        if isinstance(part, Image):
            out.append(f"![{_md_text(part.alt)}]({_md_url(part.src)})")
        elif isinstance(part, Code):
            # A code span shows its text literally (no HTML inside it): only ` and | matter.
            out.append(
                "`" + part.text.replace("\n", " ").replace("|", r"\|").replace("`", "'") + "`"
            )
        else:
            out.append(_md_text(part))
    return " ".join(out)


def _md_url(src: str) -> str:
    return src.replace(" ", "%20").replace("(", "%28").replace(")", "%29").replace("<", "%3C")


def _block_md(block: Block) -> str:
    if isinstance(block, Para):
        return _md(block.text)
    if isinstance(block, Figure):
        image = block.image
        return f"![{_md_text(image.alt)}]({_md_url(image.src)})\n\n*{_md(block.caption)}*"
    lines = []
    if block.caption:
        lines += [f"*{_md(block.caption)}*", ""]
    lines.append("| " + " | ".join(_md_text(h) for h in block.header) + " |")
    lines.append("|" + "---|" * len(block.header))
    for row in block.rows:
        lines.append("| " + " | ".join(_cell_md(c) for c in row) + " |")
    return "\n".join(lines)


def to_markdown(doc: Document) -> str:
    parts = [f"# {_md(doc.title)}", *(_block_md(b) for b in doc.intro)]
    for section in doc.sections:
        parts.append(f"{'#' * section.level} {_md(section.title)}")
        parts.extend(_block_md(b) for b in section.blocks)
    return "\n\n".join(parts) + "\n"
