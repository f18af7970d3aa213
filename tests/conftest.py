"""Shared fixtures: a temporary store, and ../shared reference data (skipped if absent)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from trailspike.store.db import open_store

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
SHARED_DATA = SHARED / "data"


def shared_path(*parts: str) -> Path:
    """A path under ../shared/data; the calling test is skipped with the reason if it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(
            f"reference data {path} is absent (the ../shared folder is not beside the repo)"
        )
    return path


@pytest.fixture
def store(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A fresh, migrated DuckDB store in a temporary folder."""
    con = open_store(tmp_path / "test.duckdb")
    yield con
    con.close()
