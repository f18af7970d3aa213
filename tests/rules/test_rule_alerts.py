"""Reading alerts, ack/close, and the exception proposed when closing a false positive."""

from __future__ import annotations

from datetime import datetime, timedelta

import duckdb
import pytest
from rules_helpers import CI_ARN, SPIKE_RULE, add_error_burst, add_records, spike_record

from trailspike.core.errors import ConfigError, TrailspikeError
from trailspike.rules.alerts import (
    exception_toml,
    get_alert,
    list_alerts,
    set_workflow_status,
    suggest_exception,
)
from trailspike.rules.engine import execute_rule
from trailspike.rules.exceptions import add_exception_item
from trailspike.rules.loader import load_rules, parse_rule_text, shipped_rules_dir

RULE = load_rules().get(SPIKE_RULE)
T0 = datetime(2026, 3, 2, 10, 0)


@pytest.fixture
def two_alerts(store: duckdb.DuckDBPyConnection) -> list[str]:
    add_error_burst(store, T0)
    add_records(store, spike_record(T0, 87.0), spike_record(T0 + timedelta(minutes=15), 60.0))
    return execute_rule(store, RULE, T0 + timedelta(minutes=30)).alerts_created


def test_list_filters(store: duckdb.DuckDBPyConnection, two_alerts: list[str]) -> None:
    assert [a.record_score for a in list_alerts(store)] == [60.0, 87.0]
    assert [a.record_score for a in list_alerts(store, since=T0 + timedelta(minutes=5))] == [60.0]
    assert list_alerts(store, rule_id="other") == []
    assert len(list_alerts(store, status="open")) == 2
    with pytest.raises(ConfigError):
        list_alerts(store, status="done")


def test_ack_and_close_update_row_and_doc(
    store: duckdb.DuckDBPyConnection, two_alerts: list[str]
) -> None:
    first = two_alerts[0]
    acked = set_workflow_status(store, first[:10], "acknowledged")
    assert acked.workflow_status == "acknowledged"
    assert acked.doc["kibana.alert.workflow_status"] == "acknowledged"
    closed = set_workflow_status(store, first, "closed", "false_positive")
    assert (closed.workflow_status, closed.close_reason) == ("closed", "false_positive")
    assert closed.doc["kibana.alert.workflow_reason"] == "false_positive"
    assert [a.alert_uuid for a in list_alerts(store, status="closed")] == [first]
    with pytest.raises(ConfigError):
        set_workflow_status(store, first, "closed", "bored")


def test_get_alert_prefix_rules(store: duckdb.DuckDBPyConnection, two_alerts: list[str]) -> None:
    with pytest.raises(TrailspikeError, match="at least 6"):
        get_alert(store, "abc")
    with pytest.raises(TrailspikeError, match="no alert"):
        get_alert(store, "ffffffffffff")
    assert get_alert(store, two_alerts[1]).alert_uuid == two_alerts[1]


def test_suggested_exception_would_have_suppressed_it(
    store: duckdb.DuckDBPyConnection, two_alerts: list[str]
) -> None:
    alert = get_alert(store, two_alerts[0])
    item = suggest_exception(alert)
    assert item.entries[0].field == "aws.cloudtrail.user_identity.arn"
    assert item.entries[0].value == CI_ARN
    # The TOML form pastes into a rule file and parses.
    text = (shipped_rules_dir() / "ml_cloudtrail_error_message_spike.toml").read_text()
    text = text.replace("[[tests]]", exception_toml(item) + "\n[[tests]]", 1)
    parsed = parse_rule_text(text, shipped_rules_dir() / "x.toml")
    assert parsed.rule.exceptions[0].entries == item.entries
    # Stored, it keeps the same anomaly quiet: clear the alerts and re-run.
    add_exception_item(store, SPIKE_RULE, item)
    store.execute("DELETE FROM alerts")
    result = execute_rule(store, RULE, T0 + timedelta(minutes=30))
    assert result.excepted == 2 and result.alerts_created == []


def test_suggestion_names_every_attributed_principal(store: duckdb.DuckDBPyConnection) -> None:
    mallory = "arn:aws:iam::123456789012:user/mallory"
    both = [
        {"influencer_field_name": "aws.cloudtrail.user_identity.arn",
         "influencer_field_values": [mallory, CI_ARN]},
        {"influencer_field_name": "source.ip", "influencer_field_values": ["203.0.113.7"]},
    ]  # fmt: skip
    add_records(store, spike_record(T0, 87.0, influencers=both))
    (uuid,) = execute_rule(store, RULE, T0 + timedelta(minutes=15)).alerts_created
    item = suggest_exception(get_alert(store, uuid))
    assert [(e.field, e.type, e.value) for e in item.entries] == [
        ("aws.cloudtrail.user_identity.arn", "match_any", sorted([CI_ARN, mallory]))
    ]
    add_exception_item(store, SPIKE_RULE, item)
    store.execute("DELETE FROM alerts")
    assert execute_rule(store, RULE, T0 + timedelta(minutes=30)).excepted == 1


def test_suggestion_falls_back_to_the_source_address(store: duckdb.DuckDBPyConnection) -> None:
    only_ip = [{"influencer_field_name": "source.ip", "influencer_field_values": ["192.0.2.4"]}]
    add_records(store, spike_record(T0, 87.0, influencers=only_ip))
    (uuid,) = execute_rule(store, RULE, T0 + timedelta(minutes=15)).alerts_created
    item = suggest_exception(get_alert(store, uuid))
    assert [(e.field, e.value) for e in item.entries] == [("source.ip", "192.0.2.4")]
