"""Reference docs are generated from the code and must not drift from it (the datasette idea)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import click
import pytest

from trailspike.cli import cli
from trailspike.core.settings import SETTINGS

ROOT = Path(__file__).resolve().parents[1]


def test_reference_docs_are_current() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "gen_docs.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


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
                child = click.Context(sub, info_name=name, parent=ctx, **sub.context_settings)
                walk(sub, child, f"{path} {name}")
        else:
            found.append((path, command, ctx))

    # With the commands' own context settings, as click builds them: a context without them
    # has only --help, and click caches the help option it first builds on the command, so a
    # later `-h` in another test failed with "No such option".
    root = click.Context(cli, info_name="trailspike", **cli.context_settings)
    walk(cli, root, "trailspike")
    return found


LEAVES = _leaf_commands()


@pytest.mark.parametrize("path,command,ctx", LEAVES, ids=[leaf[0] for leaf in LEAVES])
def test_every_command_has_help_with_an_example(
    path: str, command: click.Command, ctx: click.Context
) -> None:
    text = command.get_help(ctx)
    assert "example" in text.lower(), f"`{path} --help` shows no example"
