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
