"""Fixtures for job tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import duckdb
import pytest
from jobs_synth import insert_events


@pytest.fixture
def add_events(store: duckdb.DuckDBPyConnection) -> Callable[[list[dict[str, Any]]], None]:
    return lambda rows: insert_events(store, rows)
