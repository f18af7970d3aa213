from __future__ import annotations

from datetime import datetime

from trailspike.normalise import ecs_fields
from trailspike.normalise.cloudtrail import to_ecs
from trailspike.store.events import INSERT_COLUMNS, EventBatch, event_row, insert_events


def test_insert_columns_follow_the_events_contract(store) -> None:
    assert INSERT_COLUMNS[: len(ecs_fields.EVENT_COLUMNS)] == tuple(
        ecs_fields.EVENT_COLUMNS.values()
    )
    table_columns = {r[0] for r in store.execute("DESCRIBE events").fetchall()}
    assert set(INSERT_COLUMNS) <= table_columns
    assert len(event_row({})) == len(ecs_fields.EVENT_COLUMNS)


def test_event_row_reads_each_mapped_field() -> None:
    doc = to_ecs(
        {
            "eventTime": "2026-01-01T00:00:00Z",
            "eventID": "e",
            "eventName": "A",
            "eventSource": "s",
            "errorCode": "C",
            "errorMessage": "M",
            "awsRegion": "r",
            "sourceIPAddress": "1.2.3.4",
            "userAgent": "ua",
            "requestParameters": {"k": 1},
            "userIdentity": {
                "arn": "arn",
                "type": "T",
                "accessKeyId": "K",
                "userName": "u",
                "principalId": "p",
                "accountId": "acct",
            },
        }
    )
    doc["source"]["geo"] = {"city_name": "X", "country_iso_code": "SE"}
    doc["source"]["as"] = {"number": 5, "organization": {"name": "O"}}
    row = dict(zip(ecs_fields.EVENT_COLUMNS.values(), event_row(doc), strict=True))
    assert row == {
        "ts": "2026-01-01T00:00:00.000Z",
        "event_id": "e",
        "event_action": "A",
        "event_provider": "s",
        "event_outcome": "failure",
        "error_code": "C",
        "error_message": "M",
        "user_identity_arn": "arn",
        "user_identity_type": "T",
        "user_identity_access_key_id": "K",
        "user_name": "u",
        "user_id": "p",
        "source_address": "1.2.3.4",
        "source_ip": "1.2.3.4",
        "source_geo_city_name": "X",
        "source_geo_country_iso_code": "SE",
        "source_as_number": 5,
        "source_as_organization_name": "O",
        "cloud_account_id": "acct",
        "cloud_region": "r",
        "user_agent": "ua",
        "request_parameters": '{"k":1}',
    }


def test_insert_is_idempotent_and_counts_per_file(store) -> None:
    now = datetime(2026, 1, 1)
    batch = EventBatch()
    for event_id, path in (("a", "f1"), ("b", "f1"), ("a", "f2"), ("c", "f2")):
        doc = {"@timestamp": "2026-01-01T00:00:00.000Z", "event": {"id": event_id}}
        batch.add(doc, "{}", path, now)
    assert insert_events(store, batch.to_arrow()) == {"f1": 2, "f2": 1}
    assert insert_events(store, batch.to_arrow()) == {}
    assert store.execute("SELECT count(*) FROM events").fetchone() == (3,)


def test_attacker_text_is_data_not_sql(store) -> None:
    evil = "x'); DROP TABLE events; --"
    batch = EventBatch()
    batch.add(
        {"@timestamp": "2026-01-01T00:00:00.000Z", "event": {"id": evil, "action": evil}},
        "{}",
        evil,
        datetime(2026, 1, 1),
    )
    insert_events(store, batch.to_arrow())
    assert store.execute("SELECT event_action FROM events").fetchone() == (evil,)


def test_duplicates_are_found_across_batches_and_only_at_the_same_time(store) -> None:
    now = datetime(2026, 1, 1)

    def batch_of(*events: tuple[str, str]) -> EventBatch:
        batch = EventBatch()
        for event_id, stamp in events:
            doc = {"@timestamp": stamp, "event": {"id": event_id}}
            batch.add(doc, "{}", "f", now)
        return batch

    first = batch_of(("a", "2026-01-01T00:00:00.000Z"), ("b", "2026-01-03T00:00:00.000Z"))
    assert insert_events(store, first.to_arrow()) == {"f": 2}
    # "a" again inside a batch spanning other times is a duplicate; so is "b" at its time.
    again = batch_of(
        ("c", "2025-12-31T00:00:00.000Z"),
        ("a", "2026-01-01T00:00:00.000Z"),
        ("b", "2026-01-03T00:00:00.000Z"),
        ("c", "2025-12-31T00:00:00.000Z"),
    )
    assert insert_events(store, again.to_arrow()) == {"f": 1}
    stored = store.execute("SELECT event_id FROM events ORDER BY ts").fetchall()
    assert stored == [("c",), ("a",), ("b",)]


def test_insert_into_a_large_store_fits_a_small_memory_limit(store) -> None:
    # With the original PRIMARY KEY and ts indexes (migration 0001) DuckDB held ~100 bytes of
    # ART index per stored event in memory: the same insert failed with "Out of Memory"
    # (ART_INDEX 14 MB of the 22.8 MB allowed). The anti-join keeps memory flat.
    assert store.execute(
        "SELECT count(*) FROM duckdb_indexes() WHERE table_name = 'events'"
    ).fetchone() == (0,)
    store.execute(
        "INSERT INTO events (event_id, ts, doc, ingested_at) "
        "SELECT CASE WHEN i = 7 THEN 'old-7' ELSE uuid()::VARCHAR END, "
        "TIMESTAMP '2026-01-01' + to_seconds(i), '{}', TIMESTAMP '2026-01-01' "
        "FROM range(300000) t(i)"
    )  # CloudTrail event ids are random UUIDs: the worst case for an ART index
    store.execute("CHECKPOINT")
    store.execute("SET memory_limit = '24MB'")
    batch = EventBatch()
    for i in range(2000):
        stamp = f"2026-01-0{1 + i % 3}T00:00:{i % 60:02d}.000Z"
        batch.add({"@timestamp": stamp, "event": {"id": f"new-{i}"}}, "{}", "f", datetime.now())
    batch.add(
        {"@timestamp": "2026-01-01T00:00:07.000Z", "event": {"id": "old-7"}},
        "{}",
        "f",
        datetime.now(),
    )
    assert insert_events(store, batch.to_arrow()) == {"f": 2000}
    assert store.execute("SELECT count(*) FROM events").fetchone() == (302000,)


def test_documents_are_stored_zstd_compressed(store) -> None:
    # Migration 0040: the documents dominate the write cost and the file size (docs/ingest.md).
    doc = '{"event":{"action":"GetObject","provider":"s3.amazonaws.com"},"n":1}'
    store.execute(
        "INSERT INTO events (event_id, ts, doc, request_parameters, ingested_at) "
        "SELECT 'e' || i, TIMESTAMP '2026-01-01' + to_seconds(i), replace(?, '\"n\":1', "
        "'\"n\":' || i), '{\"k\":' || i || '}', now() "
        "FROM range(5000) t(i)",
        [doc],
    )
    store.execute("CHECKPOINT")
    methods = dict(
        store.execute(
            "SELECT column_name, string_agg(DISTINCT compression, ',') "
            "FROM pragma_storage_info('events') WHERE segment_type = 'VARCHAR' "
            "AND column_name IN ('doc', 'request_parameters') GROUP BY column_name"
        ).fetchall()
    )
    assert methods == {"doc": "ZSTD", "request_parameters": "ZSTD"}
    assert store.execute(
        "SELECT count(*) FROM events WHERE json_extract_string(doc, '$.event.action') = ?",
        ["GetObject"],
    ).fetchone() == (5000,)


def test_zstd_migration_keeps_stored_events(tmp_path) -> None:
    from trailspike.store import db

    path = tmp_path / "old.duckdb"
    con = db.duckdb.connect(str(path))
    con.execute(
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name VARCHAR, "
        "applied_at TIMESTAMP)"
    )
    for version, name, sql in db._migration_files():
        if version >= 40:
            break
        con.execute(sql)
        con.execute("INSERT INTO schema_migrations VALUES (?, ?, now())", [version, name])
    con.execute(
        "INSERT INTO events (event_id, ts, doc, source_file, ingested_at) "
        "VALUES ('b', TIMESTAMP '2026-01-02', '{\"x\":2}', 'f', now()), "
        "('a', TIMESTAMP '2026-01-01', '{\"x\":1}', 'f', now())"
    )
    con.close()
    con = db.open_store(path)
    assert con.execute("SELECT event_id, doc FROM events ORDER BY ts").fetchall() == [
        ("a", '{"x":1}'),
        ("b", '{"x":2}'),
    ]


def test_an_inserted_batch_is_not_kept_alive_by_the_open_transaction(store) -> None:
    """Uncommitted rows live in DuckDB once; the Arrow batch they came from is released.

    (A table passed to ``con.register`` stayed referenced until the commit even after
    ``unregister``, doubling the ingesting process's memory per uncommitted row.)
    """
    import gc
    import weakref

    batch = EventBatch()
    doc = {"@timestamp": "2026-01-01T00:00:00.000Z", "event": {"id": "kept"}}
    batch.add(doc, "{}", "f", datetime(2026, 1, 1))
    table = batch.to_arrow()
    alive = weakref.ref(table)
    store.execute("BEGIN")
    assert insert_events(store, table) == {"f": 1}
    del table
    gc.collect()
    assert alive() is None
    store.execute("COMMIT")
    assert store.execute("SELECT event_id FROM events").fetchall() == [("kept",)]
