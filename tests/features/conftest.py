"""Fixtures for feature tests: a few events in a fresh store."""

from __future__ import annotations

from datetime import datetime, timedelta

import duckdb
import pytest

T0 = datetime(2026, 3, 2, 10, 0)


def add(con: duckdb.DuckDBPyConnection, rows: list[dict]) -> None:
    for n, row in enumerate(rows):
        con.execute(
            "INSERT INTO events (event_id, ts, event_action, error_message, user_name, "
            "source_ip, source_as_number, doc, ingested_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, '{}', now())",
            [
                f"e{n}",
                row["ts"],
                row.get("action"),
                row.get("msg"),
                row.get("user"),
                row.get("ip"),
                row.get("asn"),
            ],
        )


@pytest.fixture
def events(store: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    m = timedelta(minutes=1)
    add(
        store,
        [
            {
                "ts": T0 + 1 * m,
                "action": "A",
                "msg": "m1",
                "user": "u1",
                "ip": "1.1.1.1",
                "asn": 10,
            },
            {
                "ts": T0 + 2 * m,
                "action": "A",
                "msg": "m2",
                "user": "u1",
                "ip": "1.1.1.1",
                "asn": 20,
            },
            {
                "ts": T0 + 3 * m,
                "action": "B",
                "msg": "m2",
                "user": "u2",
                "ip": "2.2.2.2",
                "asn": 30,
            },
            {
                "ts": T0 + 4 * m,
                "action": "B",
                "msg": None,
                "user": None,
                "ip": "2.2.2.2",
                "asn": None,
            },
            {
                "ts": T0 + 16 * m,
                "action": "A",
                "msg": "m1",
                "user": "u1",
                "ip": "1.1.1.1",
                "asn": 5,
            },
        ],
    )
    return store
