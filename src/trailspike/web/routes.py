"""Thin page handlers: parse the request, run queries in a worker thread, render a template.

Implementation decisions: every DuckDB call for a page happens in one function run by the store
(one short connection per page). Time windows default to the last 7 days *of the job's data*,
not of the wall clock, so a historical store (the demo world, a backfill) opens on its data.
"""

from __future__ import annotations

import hmac
from datetime import datetime, timedelta
from typing import Any

import duckdb
from starlette.datastructures import QueryParams
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from trailspike.core.errors import InputError, TrailspikeError
from trailspike.core.timeutil import parse_relative, parse_time, utcnow
from trailspike.web import anomalies, charts, library, queries
from trailspike.web.rendering import render
from trailspike.web.security import CSRF_FIELD, csrf_valid, safe_next, set_session_cookie

RANGES = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}
THRESHOLDS = {"warning": 3.0, "minor": 25.0, "major": 50.0, "critical": 75.0}
CONTEXT_AROUND_ALERT = timedelta(hours=12)


def parse_when(text: str | None, name: str) -> datetime | None:
    """A time filter: ISO-8601 or ``now-…`` (UTC); empty is no filter.

    >>> parse_when("2026-01-02T03:00", "from")
    datetime.datetime(2026, 1, 2, 3, 0)
    """
    if not text or not text.strip():
        return None
    try:
        if text.strip().startswith("now"):
            return parse_relative(text, utcnow())
        return parse_time(text)
    except TrailspikeError as exc:
        raise InputError(f"{name}: {exc.message}") from exc


def time_window(params: QueryParams, bounds: dict[str, Any]) -> tuple[datetime, datetime, str]:
    """The explorer's ``[start, end)`` from ``range`` (24h, 7d, 30d, all) or ``from``/``to``."""
    span = timedelta(seconds=int(bounds.get("span") or 900))
    data_end = bounds["last"] + span if bounds.get("last") else utcnow()
    data_start = bounds.get("first") or data_end - RANGES["7d"]
    start = parse_when(params.get("from"), "from")
    end = parse_when(params.get("to"), "to")
    if start or end:
        return start or data_start, end or data_end, "custom"
    choice = params.get("range", "7d")
    if choice == "all":
        return data_start, data_end, "all"
    return (
        data_end - RANGES.get(choice, RANGES["7d"]),
        data_end,
        choice if choice in RANGES else "7d",
    )


def _definitions(kind: str) -> tuple[dict[str, Any], str | None]:
    try:
        found = library.job_definitions() if kind == "jobs" else library.rule_definitions()
    except TrailspikeError as exc:
        return {}, f"could not load {kind}: {exc}"
    return found, None


async def overview(request: Request) -> Response:
    """Ingest status, jobs and rules with their last run and warnings, alerts over time."""

    def load(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
        return {
            "ingest": queries.ingest_status(con),
            "service": queries.service_status(con),
            "jobs": queries.job_summaries(con),
            "rules": queries.rule_summaries(con),
            "by_day": queries.alert_counts_by_day(con),
            # One line per actor: a burst of alerts about one principal is one incident.
            "open_groups": queries.alert_groups(
                con, queries.alerts(con, status="open"), "principal"
            )[:10],
        }

    data = await request.app.state.store.read(load)
    data["alerts_chart"] = charts.alerts_by_day_figure(data["by_day"])
    return render(request, "overview.html", page="overview", **data)


async def jobs_page(request: Request) -> Response:
    """Every job: definition, progress in the store, anomaly counts."""
    summaries = await request.app.state.store.read(queries.job_summaries)
    definitions, warning = _definitions("jobs")
    by_id = {row["job_id"]: row for row in summaries}
    ids = sorted(set(by_id) | set(definitions))
    return render(
        request,
        "jobs.html",
        page="jobs",
        jobs=[
            {"job_id": i, "summary": by_id.get(i), "definition": definitions.get(i)} for i in ids
        ],
        warning=warning,
    )


async def explorer(request: Request) -> Response:
    """Anomaly explorer of one job: chart, swimlane, anomalies, selected record and events."""
    job_id = request.path_params["job_id"]
    params = request.query_params
    threshold_name = params.get("severity", "warning")
    min_score = THRESHOLDS.get(threshold_name, 3.0)
    definitions, warning = _definitions("jobs")

    def load(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
        bounds = anomalies.job_time_bounds(con, job_id)
        if bounds["first"] is None and job_id not in definitions:
            raise HTTPException(404, f"no job {job_id!r} in the store or the definitions")
        start, end, range_name = time_window(params, bounds)
        parts = anomalies.partitions(con, job_id)
        partition = params.get("partition")
        if partition is None:
            # with a model plot per partition, open on the busiest; otherwise show them all
            plotted = parts["name"] and parts["values"] and parts["plotted"]
            partition = parts["values"][0] if plotted else ""
        selected = anomalies.record(con, params["record"]) if params.get("record") else None
        recs = anomalies.anomaly_records(con, job_id, start, end, partition or None, min_score)
        return {
            "bounds": bounds,
            "start": start,
            "end": end,
            "range_name": range_name,
            "partitions": parts,
            "partition": partition,
            "model": anomalies.model_series(con, job_id, start, end, partition),
            "buckets": anomalies.bucket_series(con, job_id, start, end),
            "partition_counts": (
                anomalies.partition_event_counts(
                    con, parts["name"], partition, start, end, int(bounds["span"] or 900)
                )
                if partition and parts["name"] and not parts["plotted"]
                else None
            ),
            "records": recs,
            "swimlane": anomalies.influencer_swimlane(con, job_id, start, end),
            "selected": selected,
            "events": anomalies.source_events(con, selected) if selected else None,
        }

    data = await request.app.state.store.read(load)
    chosen = data["selected"]["record_id"] if data["selected"] else None
    line_rows = data["buckets"] if data["partition_counts"] is None else data["partition_counts"]
    data["series_chart"] = charts.series_figure(
        data["model"], line_rows, data["records"], chosen, _value_label(data["records"])
    )
    data["swimlane_chart"] = charts.swimlane_figure(data["buckets"], data["swimlane"])
    return render(
        request,
        "explorer.html",
        page="jobs",
        job_id=job_id,
        definition=definitions.get(job_id),
        warning=warning,
        threshold_name=threshold_name,
        thresholds=THRESHOLDS,
        ranges=[*RANGES, "all"],
        **data,
    )


def _value_label(records: list[dict[str, Any]]) -> str:
    if records and records[0].get("field_name"):
        return f"{records[0]['function']}({records[0]['field_name']})"
    if records:
        return str(records[0]["function"])
    return "actual"


async def record_panel(request: Request) -> Response:
    """The record panel alone (fetched when an anomaly is clicked); a full page otherwise."""
    job_id = request.path_params["job_id"]
    record_id = request.path_params["record_id"]
    if request.headers.get("x-fragment") != "1":
        return RedirectResponse(
            request.url_for("explorer", job_id=job_id).include_query_params(record=record_id),
            status_code=303,
        )

    def load(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
        rec = anomalies.record(con, record_id)
        if rec is None or rec["job_id"] != job_id:
            raise HTTPException(404, f"no anomaly record {record_id!r} in job {job_id!r}")
        return {"selected": rec, "events": anomalies.source_events(con, rec)}

    data = await request.app.state.store.read(load)
    return render(request, "_record.html", job_id=job_id, **data)


async def alerts_page(request: Request) -> Response:
    """Alerts, filtered by rule, severity, status, principal and time."""
    params = request.query_params
    rule_id = params.get("rule", "")
    severity = params.get("severity", "")
    status = params.get("status", "")
    principal = params.get("principal", "").strip()
    start = parse_when(params.get("from"), "from")
    end = parse_when(params.get("to"), "to")

    group = params.get("group", "")
    if group and group not in queries.GROUPINGS:
        raise HTTPException(400, f"group must be one of {', '.join(queries.GROUPINGS)}")

    def load(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
        rows = queries.alerts(con, rule_id, severity, status, principal, start, end)
        return {
            "alerts": rows,
            "groups": queries.alert_groups(con, rows, group) if group else None,
            "options": queries.alert_filter_options(con),
        }

    data = await request.app.state.store.read(load)
    # A group's link lists its alerts under the same filters, ungrouped.
    kept = {k: v for k, v in params.items() if v and k != "group"}
    return render(request, "alerts.html", page="alerts", params=params, kept=kept, **data)


async def alert_page(request: Request) -> Response:
    """One alert: reason, anomaly chart around it, triage report, workflow actions."""
    alert_uuid = request.path_params["alert_uuid"]
    settings = request.app.state.settings

    def load(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
        found = queries.alert(con, alert_uuid)
        if found is None:
            raise HTTPException(404, f"no alert {alert_uuid!r}")
        rec = anomalies.record(con, found["record_id"])
        start = found["original_time"] - CONTEXT_AROUND_ALERT
        end = found["original_time"] + CONTEXT_AROUND_ALERT
        partition = (rec or {}).get("partition_field_value") or ""
        model = anomalies.model_series(con, found["job_id"], start, end, partition)
        line = anomalies.bucket_series(con, found["job_id"], start, end)
        if not model and partition and rec and rec.get("partition_field_name"):
            # a rare job: chart the anomaly's partition, not the whole job
            line = anomalies.partition_event_counts(
                con, rec["partition_field_name"], partition, start, end, int(rec["bucket_span"])
            )
        triage, triage_error = None, None
        try:
            triage = library.triage_fragment(con, alert_uuid, settings)
        except TrailspikeError as exc:
            triage_error = str(exc)
        return {
            "alert": found,
            "selected": rec,
            "events": anomalies.source_events(con, rec) if rec else None,
            "model": model,
            "buckets": line,
            "records": anomalies.anomaly_records(
                con, found["job_id"], start, end, partition or None, 3.0
            ),
            "deliveries": queries.alert_deliveries(con, alert_uuid),
            "triage": triage,
            "triage_error": triage_error,
            "window": (start, end),
        }

    data = await request.app.state.store.read(load)
    data["series_chart"] = charts.series_figure(
        data["model"],
        data["buckets"],
        data["records"],
        data["alert"]["record_id"],
        _value_label(data["records"]),
    )
    return render(
        request,
        "alert.html",
        page="alerts",
        job_id=data["alert"]["job_id"],
        close_reasons=library.close_reasons(),
        explorer_from=(data["alert"]["original_time"] - timedelta(days=3)).isoformat(),
        explorer_to=(data["alert"]["original_time"] + timedelta(days=1)).isoformat(),
        **data,
    )


async def alert_status(request: Request) -> Response:
    """Acknowledge, close (with a reason) or re-open an alert; CSRF-checked form POST."""
    alert_uuid = request.path_params["alert_uuid"]
    form = await request.form()
    submitted = form.get(CSRF_FIELD)
    if not csrf_valid(request, submitted if isinstance(submitted, str) else None):
        raise HTTPException(403, "the form's CSRF token is missing or wrong: reload the page")
    action = str(form.get("action", ""))
    status = {"acknowledge": "acknowledged", "close": "closed", "reopen": "open"}.get(action)
    if status is None:
        raise InputError(f"unknown action {action!r}")
    reason = str(form.get("reason", ""))

    def apply(con: duckdb.DuckDBPyConnection) -> None:
        library.set_alert_status(con, alert_uuid, status, reason)

    await request.app.state.store.write(apply)
    back = request.url_for("alert", alert_uuid=alert_uuid)
    return RedirectResponse(str(back), status_code=303)


async def rules_page(request: Request) -> Response:
    """Every rule: definition, last execution, warnings, alerts."""
    summaries = await request.app.state.store.read(queries.rule_summaries)
    definitions, warning = _definitions("rules")
    by_id = {row["rule_id"]: row for row in summaries}
    ids = sorted(set(by_id) | set(definitions))
    rows = [
        {
            "rule_id": i,
            "summary": by_id.get(i),
            "definition": definitions.get(i),
            "body": library.rule_body(definitions.get(i) or {}),
        }
        for i in ids
    ]
    return render(request, "rules.html", page="rules", rules=rows, warning=warning)


async def rule_page(request: Request) -> Response:
    """One rule: definition, exceptions, executions and their warnings, recent alerts."""
    rule_id = request.path_params["rule_id"]
    definitions, warning = _definitions("rules")
    definition = definitions.get(rule_id)
    body = library.rule_body(definition or {})

    def load(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
        lists = [rule_id, *_list_ids(body)]
        return {
            "stored_exceptions": queries.exception_items(con, lists),
            "executions": queries.rule_executions(con, rule_id),
            "alerts": queries.alerts(con, rule_id=rule_id, limit=50),
        }

    data = await request.app.state.store.read(load)
    if definition is None and not data["executions"] and not data["alerts"]:
        raise HTTPException(404, f"no rule {rule_id!r}")
    return render(
        request,
        "rule.html",
        page="rules",
        rule_id=rule_id,
        definition=definition,
        body=body,
        exceptions=body.get("exceptions") or [],
        exception_lists=body.get("exceptions_list") or [],
        warning=warning,
        **data,
    )


def _list_ids(body: dict[str, Any]) -> list[str]:
    """Ids of the shared exception lists a rule refers to (``exceptions_list``)."""
    refs = body.get("exceptions_list") or []
    return [str(r.get("list_id") or r.get("id")) for r in refs if isinstance(r, dict)]


async def login(request: Request) -> Response:
    """Token form (GET) and check (POST) for UIs started with --token."""
    token = str(request.app.state.settings.get("token") or "")
    target = safe_next(request.query_params.get("next"))
    failed = False
    if request.method == "POST" and token:
        form = await request.form()
        given = str(form.get("token", ""))
        if hmac.compare_digest(given.encode(), token.encode()):
            response = RedirectResponse(target, status_code=303)
            set_session_cookie(response, token)
            return response
        failed = True
    return render(
        request, "login.html", status_code=401 if failed else 200, failed=failed, next=target
    )


ROUTES = [
    Route("/", overview, name="overview"),
    Route("/jobs", jobs_page, name="jobs"),
    Route("/jobs/{job_id}", explorer, name="explorer"),
    Route("/jobs/{job_id}/records/{record_id}", record_panel, name="record"),
    Route("/alerts", alerts_page, name="alerts"),
    Route("/alerts/{alert_uuid}", alert_page, name="alert"),
    Route("/alerts/{alert_uuid}/status", alert_status, methods=["POST"], name="alert_status"),
    Route("/rules", rules_page, name="rules"),
    Route("/rules/{rule_id}", rule_page, name="rule"),
    Route("/login", login, methods=["GET", "POST"], name="login"),
]
