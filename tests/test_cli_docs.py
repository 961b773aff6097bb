"""docs/cli.md is generated from --help and real runs; it must be current."""

from __future__ import annotations

from paramtool.cli import docs, main


def test_cli_docs_are_current() -> None:
    expected = docs.render()
    assert docs.PAGE.read_text() == expected, (
        "docs/cli.md is out of date: python -m paramtool.cli.docs"
    )


def test_every_command_is_documented() -> None:
    page = docs.PAGE.read_text()
    for name in main.commands:
        assert f"## paramtool {name}\n" in page
        assert f"$ paramtool {name} " in page
