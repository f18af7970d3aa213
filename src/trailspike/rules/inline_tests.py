"""Run the ``[[tests]]`` kept inside rule files (Panther's idea of tests living with detections).

Each test names an ndjson file of anomaly records (relative to the rule file), an execution time
and how many alerts the rule must raise. The records go into a throw-away in-memory store, the
rule executes once, and the alerts are counted.

Implementation decisions: record rows are written with :func:`insert_records`, which the test
suite uses too, so fixtures share one shape: the ``records`` table's columns with Elastic's names
and ISO timestamps; omitted optional columns take neutral defaults.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from trailspike.core.errors import ConfigError, SourceLocation
from trailspike.core.timeutil import parse_time, utcnow
from trailspike.rules.anomaly import RECORD_COLUMNS
from trailspike.rules.engine import execute_rule
from trailspike.rules.loader import LoadedRule
from trailspike.store.db import open_store

_DEFAULTS: dict[str, Any] = {
    "detector_index": 0,
    "function_description": None,
    "probability": 0.0,
    "is_interim": False,
}


def insert_records(con: duckdb.DuckDBPyConnection, rows: Iterable[Mapping[str, Any]]) -> int:
    """Insert anomaly records given as dicts with ``records`` column names; return the count."""
    values = []
    for row in rows:
        data = {**_DEFAULTS, **row}
        if data["function_description"] is None:
            data["function_description"] = str(data.get("function", ""))
        data.setdefault("initial_record_score", data.get("record_score"))
        for key in ("influencers", "explanation"):
            if isinstance(data.get(key), list | dict):
                data[key] = json.dumps(data[key])
        ts = data["timestamp"]
        data["timestamp"] = parse_time(ts) if isinstance(ts, str) else ts
        values.append([data.get(col) for col in RECORD_COLUMNS] + [utcnow()])
    if values:
        marks = ", ".join("?" for _ in range(len(RECORD_COLUMNS) + 1))
        con.executemany(
            f"INSERT INTO records ({', '.join(RECORD_COLUMNS)}, created_at) VALUES ({marks})",  # noqa: S608
            values,
        )
    return len(values)


def read_records_file(path: Path) -> list[dict[str, Any]]:
    """Anomaly records from an ndjson file; a bad line is an error naming file and line."""
    rows = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", SourceLocation(str(path))) from exc
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except ValueError as exc:
            raise ConfigError(f"not JSON: {exc}", SourceLocation(str(path), number)) from exc
    return rows


@dataclass(frozen=True)
class InlineTestResult:
    rule_id: str
    name: str
    expected: int
    actual: int

    @property
    def passed(self) -> bool:
        return self.expected == self.actual


def run_inline_tests(loaded: LoadedRule) -> list[InlineTestResult]:
    """Run every ``[[tests]]`` entry of one rule file."""
    results = []
    for test in loaded.file.tests:
        con = open_store(":memory:")
        try:
            insert_records(con, read_records_file(loaded.path.parent / test.records))
            at: datetime = parse_time(test.at)
            outcome = execute_rule(con, loaded.rule, at)
            results.append(
                InlineTestResult(
                    loaded.rule_id, test.name, test.expected_alerts, len(outcome.alerts_created)
                )
            )
        finally:
            con.close()
    return results
