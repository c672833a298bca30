from __future__ import annotations

from pathlib import Path

from portal import config

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_opens_with_the_two_commands() -> None:
    first_lines = README.read_text(encoding="utf-8").splitlines()[:5]
    assert any(line.strip().startswith("make run") for line in first_lines)
    assert any(line.strip().startswith("make test") for line in first_lines)


def test_readme_lists_every_setting_as_the_code_defines_it() -> None:
    assert config.markdown_table() in README.read_text(encoding="utf-8")
