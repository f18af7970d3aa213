"""The MITRE step: from the alert document, else the shipped rule, else said to be missing."""

from __future__ import annotations

import json
from datetime import datetime

from triage_world import ALERT_DAY, ALICE, World, build_automation_bug

from trailspike.triage import rulemeta
from trailspike.triage.context import load_alert_context

NOW = datetime(2026, 4, 2)


def test_techniques_come_from_the_alert_document(world: World) -> None:
    ctx = load_alert_context(world.con, build_automation_bug(world), {}, NOW)
    result = rulemeta.mitre(ctx)
    assert {"tactic": "TA0007 Discovery", "technique": "T1526 Cloud Service Discovery"} in (
        result.evidence["rows"]
    )
    assert {"tactic": "TA0004 Privilege Escalation", "technique": ""} in result.evidence["rows"]
    assert "alert document" in result.evidence["source"]
    assert result.verdict_signal == "neutral"


def test_a_missing_mapping_is_said_to_be_missing(world: World) -> None:
    uuid = world.alert(ALERT_DAY, arns=[ALICE.arn], ips=[], rule_id="no-such-rule")
    doc = json.loads(
        world.con.execute("SELECT doc FROM alerts WHERE alert_uuid = ?", [uuid]).fetchone()[0]
    )
    del doc["kibana.alert.rule.threat"]
    world.con.execute("UPDATE alerts SET doc = ? WHERE alert_uuid = ?", [json.dumps(doc), uuid])
    result = rulemeta.mitre(load_alert_context(world.con, uuid, {}, NOW))
    assert result.evidence["rows"] == []
    assert result.evidence["source"].startswith("nowhere")


def test_nested_threat_field_is_read() -> None:
    doc = {"kibana": {"alert": {"rule": {"threat": [{"tactic": {"id": "TA0001", "name": "IA"}}]}}}}
    assert rulemeta.techniques_table(rulemeta._threat_from_doc(doc) or []) == [
        {"tactic": "TA0001 IA", "technique": ""}
    ]
