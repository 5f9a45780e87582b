"""The README stays short and the docs site's home page is generated from it (issue 28 item
8); `make docs` builds the site strictly (in CI too, as part of `make test`)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def test_the_readme_is_at_most_300_lines_and_links_only_to_pages_that_exist() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 300
    for must in ("pip install optevo", "make run", "make test", "from optevo.optim import"):
        assert must in text, must
    links = re.findall(r"\]\((docs/[^)#]+)", text)
    assert len(links) >= 10
    missing = [link for link in links if not (ROOT / link).is_file()]
    assert missing == []


def test_every_page_of_the_nav_exists() -> None:
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))

    def pages(node: object) -> list[str]:
        if isinstance(node, str):
            return [node]
        if isinstance(node, list):
            return [p for item in node for p in pages(item)]
        if isinstance(node, dict):
            return [p for value in node.values() for p in pages(value)]
        return []

    listed = pages(config["nav"])
    assert "index.md" in listed and "reference/cli.md" in listed
    missing = [p for p in listed if p != "index.md" and not (ROOT / "docs" / p).is_file()]
    assert missing == []


def test_the_home_page_is_the_readme_with_site_links(tmp_path: Path) -> None:
    subprocess.run([sys.executable, str(ROOT / "scripts" / "docs-index.py")], check=True)
    index = (ROOT / "docs" / "index.md").read_text(encoding="utf-8")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "](docs/" not in index
    spec_link = "`docs/spec.md`" in readme  # becomes a link to the spec page
    assert index.count("](") == readme.count("](") + spec_link
    assert "](guide/quickstart.md)" in index
