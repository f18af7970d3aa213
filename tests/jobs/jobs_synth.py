"""Synthetic CloudTrail-like events inserted straight into the store, for job tests."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

import duckdb
import pyarrow as pa

T0 = datetime(2026, 1, 5)  # a Monday
COLUMNS = (
    "event_action",
    "error_code",
    "error_message",
    "user_identity_arn",
    "user_name",
    "source_ip",
    "source_geo_city_name",
)


def insert_events(con: duckdb.DuckDBPyConnection, rows: list[dict[str, Any]]) -> None:
    """Insert rows (``ts`` plus any of :data:`COLUMNS`) as events with fresh ids."""
    start = con.execute("SELECT count(*) FROM events").fetchall()[0][0]
    data = {
        "event_id": [f"e{start + n}" for n in range(len(rows))],
        "ts": [r["ts"] for r in rows],
        **{c: [r.get(c) for r in rows] for c in COLUMNS},
        "doc": ["{}"] * len(rows),
        "ingested_at": [datetime(2026, 6, 1)] * len(rows),
    }
    con.register("_new_events", pa.table(data))
    con.execute("INSERT INTO events BY NAME SELECT * FROM _new_events")
    con.unregister("_new_events")


def baseline_events(days: int, seed: int = 7) -> list[dict[str, Any]]:
    """Routine error traffic: 5-15 errors per 15 minutes from six users, five messages."""
    rng = random.Random(seed)
    rows = []
    for b in range(days * 96):
        start = T0 + timedelta(minutes=15 * b)
        for _ in range(rng.randint(5, 15)):
            user = rng.randint(0, 5)
            rows.append(
                {
                    "ts": start + timedelta(seconds=rng.randint(0, 899)),
                    "event_action": rng.choice(["GetObject", "PutObject", "DescribeInstances"]),
                    "error_code": "AccessDenied",
                    "error_message": f"Access denied for operation {rng.randint(0, 4)}",
                    "user_identity_arn": f"arn:aws:iam::111122223333:user/u{user}",
                    "user_name": f"u{user}",
                    "source_ip": f"10.0.0.{user + 1}",
                    "source_geo_city_name": "Dublin",
                }
            )
    return rows
