"""The rule's MITRE ATT&CK mapping, from the alert document or the shipped rule definition.

Implementation decisions: the alert document carries ``kibana.alert.rule.threat`` (Elastic's
shape), so that is read first; an older alert without it falls back to the rule TOML shipped in
``trailspike/definitions/rules`` with the same ``rule_id``. The step says which source it used.
"""

from __future__ import annotations

import tomllib
from importlib import resources
from typing import Any

from trailspike.triage.context import AlertContext, Query
from trailspike.triage.results import StepResult

THREAT_FIELD = "kibana.alert.rule.threat"


def _threat_from_doc(doc: dict[str, Any]) -> list[dict[str, Any]] | None:
    value: Any = doc.get(THREAT_FIELD)
    if value is None:
        node: Any = doc
        for part in THREAT_FIELD.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        value = node
    return value if isinstance(value, list) else None


def _threat_from_definitions(rule_id: str) -> tuple[list[dict[str, Any]], str] | None:
    try:
        folder = resources.files("trailspike.definitions") / "rules"
        entries = list(folder.iterdir())
    except (FileNotFoundError, ModuleNotFoundError, NotADirectoryError):
        return None
    for entry in entries:
        if not entry.name.endswith(".toml"):
            continue
        try:
            data = tomllib.loads(entry.read_text())
        except (tomllib.TOMLDecodeError, UnicodeDecodeError):
            continue
        rule = data.get("rule", {})
        if isinstance(rule, dict) and rule.get("rule_id") == rule_id:
            threat = rule.get("threat", [])
            return (threat if isinstance(threat, list) else []), f"definitions/rules/{entry.name}"
    return None


def techniques_table(threat: list[dict[str, Any]]) -> list[dict[str, str]]:
    """One row per tactic/technique pair (tactics without techniques get an empty technique).

    >>> techniques_table([{"tactic": {"id": "TA0007", "name": "Discovery"},
    ...                    "technique": [{"id": "T1526", "name": "Cloud Service Discovery"}]}])
    [{'tactic': 'TA0007 Discovery', 'technique': 'T1526 Cloud Service Discovery'}]
    """
    rows: list[dict[str, str]] = []
    for item in threat:
        if not isinstance(item, dict):
            continue
        tactic = item.get("tactic") or {}
        tactic_text = f"{tactic.get('id', '')} {tactic.get('name', '')}".strip()
        techniques = item.get("technique") or []
        if not techniques:
            rows.append({"tactic": tactic_text, "technique": ""})
        for tech in techniques:
            text = f"{tech.get('id', '')} {tech.get('name', '')}".strip()
            rows.append({"tactic": tactic_text, "technique": text})
            for sub in tech.get("subtechnique") or []:
                sub_text = f"{sub.get('id', '')} {sub.get('name', '')}".strip()
                rows.append({"tactic": tactic_text, "technique": sub_text})
    return rows


def mitre(ctx: AlertContext) -> StepResult:
    """The MITRE ATT&CK tactics and techniques the rule maps this kind of activity to."""
    question = "Which MITRE ATT&CK tactics and techniques does the rule map to?"
    threat = _threat_from_doc(ctx.doc)
    source = f"the alert document's {THREAT_FIELD}"
    if threat is None:
        found = _threat_from_definitions(str(ctx.alert["rule_id"]))
        threat, source = found if found else ([], "nowhere: no mapping in the alert or rule files")
    rows = techniques_table(threat)
    tactics = sorted({r["tactic"] for r in rows})
    techniques = sorted({r["technique"] for r in rows if r["technique"]})
    finding = (
        f"{ctx.alert['rule_name']} maps to {len(tactics)} tactics "
        f"({'; '.join(tactics) or 'none'}) and techniques {', '.join(techniques) or 'none'} "
        f"(from {source})."
    )
    return StepResult(
        "mitre",
        question,
        finding,
        {"source": source, "rows": rows},
        Query("SELECT doc FROM alerts WHERE alert_uuid = ?", (ctx.alert["alert_uuid"],)).text(),
    )
