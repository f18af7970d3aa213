"""Shared fixtures: a temporary store, and ../shared reference data (skipped if absent)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from shared_data import SHARED, SHARED_DATA, shared_path  # re-exported for fixtures
from trailspike.store.db import open_store

__all__ = ["SHARED", "SHARED_DATA", "shared_path", "store"]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A fresh, migrated DuckDB store in a temporary folder."""
    con = open_store(tmp_path / "test.duckdb")
    yield con
    con.close()
