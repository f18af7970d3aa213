"""Exceptions: each entry type, negation, value lists, stored items and their effect on a run."""

from __future__ import annotations

from datetime import datetime, timedelta

import duckdb
import pytest
from rules_helpers import CI_ARN, SPIKE_RULE, add_records, spike_record

from trailspike.core.errors import ConfigError
from trailspike.rules.engine import execute_rule
from trailspike.rules.exceptions import (
    ValueLists,
    add_exception_item,
    add_list_values,
    delete_exception_item,
    entry_matches,
    list_values,
    remove_list_values,
    stored_items,
)
from trailspike.rules.loader import load_rules
from trailspike.rules.schema import ExceptionEntry, ExceptionItem

RULE = load_rules().get(SPIKE_RULE)
T0 = datetime(2026, 3, 2, 10, 0)
FIELDS = {
    "aws.cloudtrail.user_identity.arn": [CI_ARN, "arn:aws:iam::123456789012:role/app"],
    "source.ip": ["203.0.113.7"],
    "record_score": [87.0],
    "job_id": ["high_distinct_count_error_message"],
}


def _entry(**kw: object) -> ExceptionEntry:
    return ExceptionEntry.model_validate(kw)


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ({"field": "source.ip", "type": "match", "value": "203.0.113.7"}, True),
        ({"field": "source.ip", "type": "match", "value": "203.0.113.8"}, False),
        (
            {"field": "source.ip", "type": "match", "value": "203.0.113.7", "operator": "excluded"},
            False,
        ),
        (
            {"field": "source.ip", "type": "match", "value": "10.0.0.1", "operator": "excluded"},
            True,
        ),
        ({"field": "source.ip", "type": "match_any", "value": ["1.1.1.1", "203.0.113.7"]}, True),
        ({"field": "source.ip", "type": "match_any", "value": ["1.1.1.1"]}, False),
        ({"field": "source.geo.city_name", "type": "exists"}, False),
        ({"field": "source.ip", "type": "exists"}, True),
        ({"field": "source.geo.city_name", "type": "exists", "operator": "excluded"}, True),
        # Several values: a positive entry needs every value, a negated one none of them.
        (
            {
                "field": "aws.cloudtrail.user_identity.arn",
                "type": "wildcard",
                "value": "*:user/ci-*",
            },
            False,
        ),
        (
            {
                "field": "aws.cloudtrail.user_identity.arn",
                "type": "wildcard",
                "value": "arn:aws:iam::123456789012:*",
            },
            True,
        ),
        (
            {
                "field": "aws.cloudtrail.user_identity.arn",
                "type": "match",
                "value": CI_ARN,
                "operator": "excluded",
            },
            False,
        ),
        (
            {
                "field": "aws.cloudtrail.user_identity.arn",
                "type": "wildcard",
                "value": "*:user/ops?",
            },
            False,
        ),
        ({"field": "record_score", "type": "match", "value": "87"}, True),
    ],
)
def test_entry_types(entry: dict[str, object], expected: bool) -> None:
    assert entry_matches(_entry(**entry), FIELDS, ValueLists()) is expected


def test_value_list_entry(store: duckdb.DuckDBPyConnection) -> None:
    assert add_list_values(store, "automation-arns", [CI_ARN, " ", CI_ARN]) == 1
    entry = _entry(
        field="aws.cloudtrail.user_identity.arn", type="list", list={"id": "automation-arns"}
    )
    # One of the two principals is not allow-listed: the entry does not hold.
    assert not entry_matches(entry, FIELDS, ValueLists(store))
    add_list_values(store, "automation-arns", ["arn:aws:iam::123456789012:role/app"])
    entry = _entry(
        field="aws.cloudtrail.user_identity.arn", type="list", list={"id": "automation-arns"}
    )
    assert entry_matches(entry, FIELDS, ValueLists(store))
    negated = entry.model_copy(update={"operator": "excluded"})
    assert not entry_matches(negated, FIELDS, ValueLists(store))
    remove_list_values(store, "automation-arns", [CI_ARN])
    assert list_values(store, "automation-arns") == ["arn:aws:iam::123456789012:role/app"]
    assert not entry_matches(entry, FIELDS, ValueLists(store))
    missing = _entry(field="source.ip", type="list", list={"id": "nope"})
    with pytest.raises(ConfigError, match="unknown value list 'nope'"):
        entry_matches(missing, FIELDS, ValueLists(store))


def test_stored_exception_keeps_a_rule_quiet(store: duckdb.DuckDBPyConnection) -> None:
    add_records(store, spike_record(T0, 87.0))
    item = ExceptionItem(
        name="ci deploys",
        entries=[
            _entry(field="aws.cloudtrail.user_identity.arn", type="match", value=CI_ARN),
            _entry(field="source.ip", type="match", value="203.0.113.7"),
        ],
    )
    item_id = add_exception_item(store, SPIKE_RULE, item)
    assert [i.name for _, _, i in stored_items(store, [SPIKE_RULE])] == ["ci deploys"]
    result = execute_rule(store, RULE, T0 + timedelta(minutes=15))
    assert (result.alerts_created, result.excepted) == ([], 1)
    # Remove the item and the anomaly alerts on the next run (exceptions are not remembered).
    assert delete_exception_item(store, item_id)
    assert len(execute_rule(store, RULE, T0 + timedelta(minutes=30)).alerts_created) == 1


def test_all_entries_of_an_item_must_hold(store: duckdb.DuckDBPyConnection) -> None:
    add_records(store, spike_record(T0, 87.0))
    item = ExceptionItem(
        name="ci from the office only",
        entries=[
            _entry(field="aws.cloudtrail.user_identity.arn", type="match", value=CI_ARN),
            _entry(field="source.ip", type="match", value="192.0.2.1"),
        ],
    )
    add_exception_item(store, SPIKE_RULE, item)
    assert len(execute_rule(store, RULE, T0 + timedelta(minutes=15)).alerts_created) == 1


def test_shared_list_and_inline_exceptions(store: duckdb.DuckDBPyConnection) -> None:
    add_records(
        store,
        spike_record(T0, 87.0),
        spike_record(T0 + timedelta(minutes=15), 90.0, influencers=[]),
    )
    add_list_values(store, "automation-arns", [CI_ARN])
    shared = ExceptionItem(
        name="automation",
        entries=[
            _entry(
                field="aws.cloudtrail.user_identity.arn",
                type="list",
                list={"id": "automation-arns"},
            )
        ],
    )
    add_exception_item(store, "shared-cloud-exceptions", shared)
    ref = {"id": "x", "list_id": "shared-cloud-exceptions", "namespace_type": "single"}
    rule = type(RULE).model_validate({**RULE.model_dump(by_alias=True), "exceptions_list": [ref]})
    result = execute_rule(store, rule, T0 + timedelta(minutes=30))
    assert (len(result.alerts_created), result.excepted) == (1, 1)
    inline = type(RULE).model_validate(
        {
            **RULE.model_dump(by_alias=True),
            "exceptions": [{"name": "all", "entries": [{"field": "job_id", "type": "exists"}]}],
        }
    )
    store.execute("DELETE FROM alerts")
    assert execute_rule(store, inline, T0 + timedelta(minutes=30)).excepted == 2


def test_allow_listed_automation_does_not_hide_another_principal(
    store: duckdb.DuckDBPyConnection,
) -> None:
    mallory = "arn:aws:iam::123456789012:user/mallory"
    both = [
        {"influencer_field_name": "aws.cloudtrail.user_identity.arn",
         "influencer_field_values": [mallory, CI_ARN]},
    ]  # fmt: skip
    add_records(store, spike_record(T0, 87.0, influencers=both))
    add_list_values(store, "automation-arns", [CI_ARN])
    item = ExceptionItem(
        name="automation",
        entries=[
            _entry(
                field="aws.cloudtrail.user_identity.arn",
                type="list",
                list={"id": "automation-arns"},
            )
        ],
    )
    add_exception_item(store, SPIKE_RULE, item)
    result = execute_rule(store, RULE, T0 + timedelta(minutes=15))
    assert (len(result.alerts_created), result.excepted) == (1, 0)
