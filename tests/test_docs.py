"""Reference docs are generated from the code and must not drift from it (the datasette idea)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import click
import pytest

from trailspike.cli import cli
from trailspike.core.settings import SETTINGS

ROOT = Path(__file__).resolve().parents[1]


def _gen_docs():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("gen_docs", ROOT / "tools" / "gen_docs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_reference_is_current() -> None:
    expected = _gen_docs().cli_markdown()
    assert (ROOT / "docs" / "cli.md").read_text() == expected, (
        "docs/cli.md is stale: run .venv/bin/python tools/gen_docs.py"
    )


def test_settings_reference_is_current() -> None:
    expected = _gen_docs().settings_markdown()
    assert (ROOT / "docs" / "settings.md").read_text() == expected, (
        "docs/settings.md is stale: run .venv/bin/python tools/gen_docs.py"
    )


def test_every_setting_has_a_heading() -> None:
    text = (ROOT / "docs" / "settings.md").read_text()
    headings = set(re.findall(r"^## `([a-z0-9_]+)`$", text, flags=re.M))
    assert {s.name for s in SETTINGS} <= headings


def _leaf_commands() -> list[tuple[str, click.Command, click.Context]]:
    found = []

    def walk(command: click.Command, ctx: click.Context, path: str) -> None:
        if isinstance(command, click.Group):
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                assert sub is not None
                walk(sub, click.Context(sub, info_name=name, parent=ctx), f"{path} {name}")
        else:
            found.append((path, command, ctx))

    root = click.Context(cli, info_name="trailspike")
    walk(cli, root, "trailspike")
    return found


LEAVES = _leaf_commands()


@pytest.mark.parametrize("path,command,ctx", LEAVES, ids=[leaf[0] for leaf in LEAVES])
def test_every_command_has_help_with_an_example(
    path: str, command: click.Command, ctx: click.Context
) -> None:
    text = command.get_help(ctx)
    assert "example" in text.lower(), f"`{path} --help` shows no example"
