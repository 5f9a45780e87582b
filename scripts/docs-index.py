"""Write docs/index.md from README.md (the site's home page is the README, its `docs/` links
made relative to the site), so the pitch is written once. `make docs` runs it."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    text = re.sub(r"\]\(docs/", "](", text)
    text = text.replace("`docs/spec.md`", "[the specification](spec.md)")
    note = "<!-- generated from README.md by scripts/docs-index.py: edit the README -->\n"
    (ROOT / "docs" / "index.md").write_text(note + text, encoding="utf-8")


if __name__ == "__main__":
    main()
