"""The ``world`` fixture: a store with a builder for events, records and alerts."""

from __future__ import annotations

import duckdb
import pytest
from triage_world import World


@pytest.fixture
def world(store: duckdb.DuckDBPyConnection) -> World:
    return World(store)
