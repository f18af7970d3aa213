"""Options shared by several commands: the store and generic settings."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TypeVar

import click

from trailspike.core.settings import load_settings
from trailspike.core.timeutil import parse_relative, parse_time, utcnow

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


def parse_when(text: str) -> datetime:
    """An ISO time or ``now``/``now-2h`` (naive UTC)."""
    return parse_relative(text, utcnow()) if text.strip().startswith("now") else parse_time(text)


def wait_option(fn: Any) -> Any:
    return click.option(
        "--wait",
        default=15.0,
        show_default=True,
        help="Seconds to wait for a store that `trailspike run` is using.",
    )(fn)


def store_options(fn: Any) -> Any:
    """``--db``, ``--setting`` and ``--wait``: every command that opens the store."""
    return db_option(setting_option(wait_option(fn)))


@contextmanager
def writable_store(
    db: str | None,
    setting_pairs: tuple[tuple[str, str], ...],
    wait: float,
    must_exist: bool = False,
) -> Iterator[tuple[dict[str, Any], Any]]:
    """The command's settings and a writable store, closed afterwards.

    ``must_exist``: a missing store is an error instead of a new empty one (a mistyped --db).
    """
    from trailspike.service.access import open_store_waiting

    settings = resolve_settings(db, setting_pairs)
    con = open_store_waiting(settings["db"], wait=wait, must_exist=must_exist)
    try:
        yield settings, con
    finally:
        con.close()
