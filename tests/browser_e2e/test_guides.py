"""The illustrated guides (docs/guides/): every picture they show is one the browser tests take, and every
link leads to a file that exists. Runs without a browser, so the SQLite run checks it too."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.browser import GUIDE_IMAGES, REPO

GUIDES = sorted((REPO / "docs" / "guides").glob("*.md"))
TESTS = Path(__file__).resolve().parent
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def browser_test_sources() -> str:
    """A picture's name is a string literal in the browser test that takes it (guide_screenshot(page, "name"))."""
    return "\n".join(source.read_text(encoding="utf-8") for source in TESTS.glob("test_*.py")
                     if source.name != Path(__file__).name)


def test_the_guides_exist() -> None:
    assert {g.name for g in GUIDES} >= {"resident.md", "resident.en.md", "clerk.md", "admin.md"}


@pytest.mark.parametrize("guide", GUIDES, ids=lambda g: g.name)
def test_every_picture_is_taken_by_a_test_and_every_link_resolves(guide: Path) -> None:
    sources = browser_test_sources()
    for target in LINK.findall(guide.read_text(encoding="utf-8")):
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        path = (guide.parent / target).resolve()
        assert path.exists(), f"{guide.name} links to {target}, which does not exist"
        if path.parent == GUIDE_IMAGES.resolve():
            assert f'"{path.stem}"' in sources, f"{guide.name} shows {target}, which no browser test takes"
