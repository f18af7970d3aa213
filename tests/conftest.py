"""Shared fixtures: a temporary store, and ../shared reference data (skipped if absent)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from hypothesis import settings

from shared_data import SHARED, SHARED_DATA, shared_path  # re-exported for fixtures
from trailspike.store.db import open_store

__all__ = ["SHARED", "SHARED_DATA", "shared_path", "store"]

# CI replays the same examples on every run, so a red build always means a changed behaviour;
# local runs keep exploring new examples.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A fresh, migrated DuckDB store in a temporary folder."""
    con = open_store(tmp_path / "test.duckdb")
    yield con
    con.close()
