"""Options shared by several commands: the store and generic settings."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from trailspike.core.settings import load_settings

F = TypeVar("F", bound=Callable[..., Any])


def db_option(fn: F) -> F:
    """``--db PATH``: which DuckDB store to use (setting ``db``)."""
    return click.option(
        "--db",
        "db",
        default=None,
        metavar="PATH",
        help="DuckDB store (default: setting `db`, trailspike.duckdb).",
    )(fn)


def setting_option(fn: F) -> F:
    """``--setting NAME VALUE`` (repeatable): override any setting for this command."""
    return click.option(
        "--setting",
        "setting_pairs",
        type=(str, str),
        multiple=True,
        metavar="NAME VALUE",
        help="Override a setting (repeatable); see docs/settings.md.",
    )(fn)


def resolve_settings(
    db: str | None = None, setting_pairs: tuple[tuple[str, str], ...] = (), **extra: Any
) -> dict[str, Any]:
    """Settings for a command: the layers of core.settings plus this command's options."""
    overrides: dict[str, Any] = dict(setting_pairs)
    if db is not None:
        overrides["db"] = db
    overrides.update({k: v for k, v in extra.items() if v is not None})
    return load_settings(overrides)
