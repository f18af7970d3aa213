"""Datafeed queries compile to SQL with bound parameters and select the right events."""

from __future__ import annotations

from datetime import datetime

import duckdb
import pytest

from trailspike.features.query import QueryError, compile_where, parse_query

ROWS = [
    ("e1", "GetObject", "AccessDenied", "alice", "Paris", 16509),
    ("e2", "PutObject", None, "bob", "Berlin", 14618),
    ("e3", "ListBuckets", "Throttling", "'; DROP TABLE events; --", None, None),
]


@pytest.fixture
def events(store: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    for eid, action, code, user, city, asn in ROWS:
        store.execute(
            "INSERT INTO events (event_id, ts, event_action, error_code, user_name, "
            "source_geo_city_name, source_as_number, doc, ingested_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, now())",
            [
                eid,
                datetime(2026, 1, 1),
                action,
                code,
                user,
                city,
                asn,
                '{"aws": {"cloudtrail": {"flattened": {"x": "' + eid + '"}}}}',
            ],
        )
    return store


def select(con: duckdb.DuckDBPyConnection, query: dict) -> list[str]:
    where, params = compile_where(parse_query(query))
    sql = f"SELECT event_id FROM events WHERE {where} ORDER BY event_id"
    return [r[0] for r in con.execute(sql, params).fetchall()]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"term": {"event.action": "GetObject"}}, ["e1"]),
        ({"term": {"event.action": {"value": "PutObject"}}}, ["e2"]),
        ({"terms": {"user.name": ["alice", "bob"]}}, ["e1", "e2"]),
        ({"exists": {"field": "aws.cloudtrail.error_code"}}, ["e1", "e3"]),
        ({"bool": {"must_not": {"exists": {"field": "source.geo.city_name"}}}}, ["e3"]),
        ({"range": {"source.as.number": {"gte": 15000}}}, ["e1"]),
        (
            {"range": {"@timestamp": {"gte": "2026-01-01T00:00:00Z", "lt": "2026-01-02"}}},
            ["e1", "e2", "e3"],
        ),
        (
            {"bool": {"should": [{"term": {"user.name": "bob"}}, {"term": {"error_code": "x"}}]}},
            ["e2"],
        ),
        ({"term": {"aws.cloudtrail.flattened.x": "e3"}}, ["e3"]),
        ({"term": {"user.name": "'; DROP TABLE events; --"}}, ["e3"]),
        (
            {
                "bool": {
                    "filter": [
                        {"term": {"event.dataset": "aws.cloudtrail"}},
                        {"term": {"event.module": "aws"}},
                    ]
                }
            },
            ["e1", "e2", "e3"],
        ),
        ({"term": {"event.dataset": "okta.system"}}, []),
        ({"match_all": {}}, ["e1", "e2", "e3"]),
    ],
)
def test_query_selects(events: duckdb.DuckDBPyConnection, query: dict, expected: list[str]) -> None:
    assert select(events, query) == expected


def test_values_are_never_in_sql_text() -> None:
    where, params = compile_where(parse_query({"term": {"user.name": "x' OR 1=1 --"}}))
    assert "OR 1=1" not in where
    assert params == ["x' OR 1=1 --"]


@pytest.mark.parametrize(
    ("query", "key"),
    [
        ({"match": {"a": "b"}}, "query.match"),
        ({"bool": {"filter": [{"term": {"a": 1, "b": 2}}]}}, "query.bool.filter[0].term"),
        ({"range": {"a": {"near": 3}}}, "query.range.a.near"),
        ({"exists": {"field": "a b"}}, "query.exists.field"),
        ({"bool": {"must_nott": []}}, "query.bool.must_nott"),
    ],
)
def test_bad_queries_name_the_key(query: dict, key: str) -> None:
    with pytest.raises(QueryError) as err:
        parse_query(query)
    assert err.value.key == key
