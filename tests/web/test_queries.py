"""Overview and alert queries over the test world."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from webworld import ATTACKER_ARN, RULE, build_world

from trailspike.rules.grouping import PRINCIPAL_FIELDS
from trailspike.store.db import open_store
from trailspike.web import queries

ARN_FIELD = PRINCIPAL_FIELDS[0]


@pytest.fixture(scope="module")
def con(world) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = open_store(world[0], read_only=True)
    yield connection
    connection.close()


def test_ingest_status(con: duckdb.DuckDBPyConnection) -> None:
    status = queries.ingest_status(con)
    assert status["files"] == 2 and status["events"] == 16 and status["quarantined"] == 1
    assert status["last_file"]["path"].endswith("file1.json.gz")


def test_rule_summary_has_last_warnings(con: duckdb.DuckDBPyConnection) -> None:
    rows = {r["rule_id"]: r for r in queries.rule_summaries(con)}
    assert rows[RULE]["executions"] == 3 and rows[RULE]["open_alerts"] == 2
    assert rows[RULE]["warnings"] and "is behind" in rows[RULE]["warnings"][0]


def test_principal_filter_is_a_literal_substring(con: duckdb.DuckDBPyConnection) -> None:
    assert len(queries.alerts(con, principal="MALLORY")) == 2  # case-insensitive
    assert len(queries.alerts(con, principal="lagos")) == 3  # a city influencer
    assert queries.alerts(con, principal="%") == []  # LIKE wildcards are escaped
    assert queries.alerts(con, principal="field") == []  # JSON keys are not values


def test_exception_items_of_a_rule(con: duckdb.DuckDBPyConnection) -> None:
    items = queries.exception_items(con, [RULE])
    assert [i["name"] for i in items] == ["deploy runner"]
    assert items[0]["entries"][0]["value"] == "198.51.100.7"
    assert queries.exception_items(con, []) == []


def test_service_status_is_empty_when_the_service_never_ran(tmp_path) -> None:
    connection = open_store(tmp_path / "empty.duckdb")
    try:
        assert queries.service_status(connection) == {}
    finally:
        connection.close()


def test_groups_follow_the_alert_document_before_the_record(tmp_path: Path) -> None:
    # The alert was raised from an early record that named one ARN; the final record (three
    # accounts' roles) names none. The group is the ARN the alert was raised for.
    con = open_store(tmp_path / "web.duckdb")
    build_world(con)
    raised_for = "arn:aws:iam::999999999999:user/early"
    doc = {
        "influencers": [
            {"influencer_field_name": ARN_FIELD, "influencer_field_values": [raised_for]}
        ]
    }
    con.execute(
        "UPDATE alerts SET doc = ? WHERE record_score = (SELECT max(record_score) FROM alerts)",
        [json.dumps(doc)],
    )
    groups = queries.alert_groups(con, queries.alerts(con), "principal")
    # The group's link (principal filter) lists that alert, although its record names no one.
    assert len(queries.alerts(con, principal=raised_for)) == 1
    con.close()
    keys = {g["key"]: g["alerts"] for g in groups}
    assert keys[raised_for] == 1 and keys[ATTACKER_ARN] == 1  # the other spike alert
    assert sum(keys.values()) == 3
    with pytest.raises(ValueError, match="cannot group alerts by 'city'"):
        queries.alert_groups(con, [], "city")
