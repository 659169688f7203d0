"""Every relative link and image in README.md and docs/*.md points at a committed file: the
published results (docs/results.md) and the README's figures cannot silently lose their pictures
or reports when a study directory is renamed or regenerated."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# Markdown links/images ](target) and HTML src="target"; external and in-page links are skipped.
LINK = re.compile(r"\]\(([^)\s]+)\)|src=\"([^\"]+)\"")


def _targets(page: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)  # code blocks hold commands, not links
    found = [a or b for a, b in LINK.findall(text)]
    return [t.split("#")[0] for t in found if not re.match(r"[a-z]+:", t) and not t.startswith("#")]


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_relative_links_resolve(page: Path) -> None:
    missing = [t for t in _targets(page) if t and not (page.parent / t).exists()]
    assert not missing, f"{page.relative_to(ROOT)}: links to missing files {missing}"
