"""Investigation steps about the errors themselves: history, related alerts, parameters, intent.

Each function takes the shared :class:`~trailspike.triage.context.AlertContext` and returns one
:class:`~trailspike.triage.results.StepResult` saying what it checked, what it found, the evidence
and the bound-parameter SQL that reproduces it. The steps follow the rule's investigation guide
(ELASTIC_REFERENCE.md §1.1), in our own words.

The thresholds and word lists they apply (what "many", "sensitive" or "a deploy" means) are in
:mod:`.vocabulary`.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import date, datetime, timedelta
from typing import Any

from trailspike.features.wording import wording, wording_sql
from trailspike.triage.context import PRINCIPAL_CLAUSE, AlertContext, Query, run_query
from trailspike.triage.results import Signal, StepResult
from trailspike.triage.vocabulary import (
    DEPLOY_ACTIONS,
    DEPLOY_LOOKBACK,
    HISTORY_DAYS,
    INTENT_LOOKBACK,
    MANY_DISTINCT_DENIED,
    MANY_SERVICES,
    NEW_WITHIN,
    RELATED_WINDOW,
    ROUTINE_LOOKBACK,
    SENSITIVE_ACTIONS,
    SENSITIVE_SERVICES,
    is_denied,
    is_read_action,
    service_of,
    shorten,
)


def _when(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M}" if value else "-"


def _error_events(ctx: AlertContext) -> list[dict[str, Any]]:
    return [e for e in ctx.events if e["error_code"] or e["error_message"]]


# --- error history ---------------------------------------------------------------------------


def _history_rows(ctx: AlertContext, column: str, values: list[str]) -> tuple[Query, list[dict]]:
    # The column comes from a fixed pair (error_message, error_code), never from input.
    assert column in ("error_message", "error_code")
    since = ctx.bucket_end - timedelta(days=HISTORY_DAYS)
    # Messages by their wording: EC2's fresh encoded message per denial is one error, not new
    # every time (features/wording.py).
    expr, masks = wording_sql(column, []) if column == "error_message" else (column, [])
    query = Query(
        f"SELECT {expr} AS value, CAST(ts AS DATE) AS day, count(*) AS n, min(ts) AS first_ts "  # noqa: S608
        f"FROM events WHERE {column} IS NOT NULL AND list_contains(?, {expr}) AND ts < ? "
        "GROUP BY ALL ORDER BY value, day",
        (*masks, values, *masks, ctx.bucket_end),
    )
    rows = run_query(ctx.con, query)
    days = [(since + timedelta(days=i + 1)).date() for i in range(HISTORY_DAYS)]
    out = []
    in_alert = Counter(_error_value(e, column) for e in ctx.events if e[column])
    by_value: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_value.setdefault(row["value"], []).append(row)
    for value in values:
        group = by_value.get(value, [])
        first = min((r["first_ts"] for r in group), default=None)
        per_day: dict[date, int] = {r["day"]: int(r["n"]) for r in group}
        daily = [per_day.get(d, 0) for d in days]
        before = [d for d in per_day if d < ctx.bucket_start.date()]
        out.append(
            {
                "field": column,
                "value": shorten(value),
                "in_alert": in_alert.get(value, 0),
                "first_seen": first,
                "days_seen_30d": sum(1 for n in daily if n),
                "total_30d": sum(daily),
                "days_before_alert": len(before),
                "new": first is None or first >= ctx.bucket_start - NEW_WITHIN,
                "daily_30d": daily,
            }
        )
    return query, out


def _error_value(event: dict[str, Any], column: str) -> str:
    value = str(event[column])
    return wording(value) if column == "error_message" else value


def error_history(ctx: AlertContext) -> StepResult:
    """History of each error message and code behind the alert: first seen, daily counts, new?"""
    errors = _error_events(ctx)
    question = "Is each error behind the alert new, or has it been seen before?"
    if not errors:
        return StepResult(
            "error_history",
            question,
            "The anomaly's bucket holds no erroring calls for these principals, so there is no "
            "error history to examine (the alert is about the calls themselves).",
            {"erroring_events": 0},
            ctx.events_query.text(),
        )
    messages_by_count = Counter(wording(e["error_message"]) for e in errors if e["error_message"])
    messages = [m for m, _ in messages_by_count.most_common()]
    codes = [
        c for c, _ in Counter(e["error_code"] for e in errors if e["error_code"]).most_common()
    ]
    q1, message_rows = _history_rows(ctx, "error_message", messages)
    q2, code_rows = _history_rows(ctx, "error_code", codes)
    rows = sorted(message_rows, key=lambda r: -r["in_alert"]) + code_rows
    new_messages = sum(1 for r in message_rows if r["new"])
    top_share = messages_by_count.most_common(1)[0][1] / len(errors) if messages_by_count else 0.0
    signal: Signal = "neutral"
    reasons: tuple[str, ...] = ()
    weight = 0
    if len(messages) >= MANY_DISTINCT_DENIED and new_messages >= 0.8 * len(messages):
        signal, weight = "suspicious", 2
        reasons = (f"{new_messages:,} distinct error messages never seen before",)
    elif len(messages) <= 2 and top_share >= 0.8 and len(errors) >= 5:
        signal, weight = "benign", 2
        who = "one principal, " if len({e["user_identity_arn"] for e in errors}) == 1 else ""
        reasons = (f"{who}one repeated message ({len(errors):,} calls)",)
    elif message_rows and all(r["days_before_alert"] >= 3 for r in message_rows):
        signal, weight = "benign", 1
        reasons = ("errors seen on earlier days",)
    finding = (
        f"{len(errors):,} erroring calls with {len(messages):,} distinct messages and "
        f"{len(codes)} error codes ({', '.join(codes[:5])}); {new_messages:,} of the messages were "
        f"first seen within {NEW_WITHIN.total_seconds() / 3600:g} h of the alert, and the most "
        f"frequent message accounts for {top_share:.0%} of the calls."
    )
    return StepResult(
        "error_history",
        question,
        finding,
        {
            "erroring_events": len(errors),
            "distinct_messages": len(messages),
            "distinct_codes": len(codes),
            "new_messages": new_messages,
            "top_message_share": round(top_share, 3),
            "history_days": HISTORY_DAYS,
            "rows": rows[:40],
        },
        q1.text() + "\n\n" + q2.text(),
        signal,
        reasons,
        weight,
    )


# --- other alerts for the same principals ----------------------------------------------------


def related_alerts(ctx: AlertContext) -> StepResult:
    """Other alerts, from any rule, naming the same ARNs, access keys or user names within 48 h."""
    question = "Did any rule alert on the same principals in the 48 hours around this alert?"
    needles = [json.dumps(v) for v in (*ctx.principals, *ctx.access_keys, *ctx.user_names)]
    # Any session of the same role: the opening quote and the role part, no closing quote.
    needles += [json.dumps(role)[:-1] for role in ctx.roles]
    start = ctx.bucket_start - RELATED_WINDOW
    end = ctx.cap(ctx.bucket_start + RELATED_WINDOW)
    query = Query(
        "SELECT alert_uuid, rule_id, rule_name, job_id, original_time, severity, record_score, "
        "workflow_status FROM alerts AS a WHERE alert_uuid <> ? AND original_time >= ? "
        "AND original_time <= ? AND EXISTS (SELECT 1 FROM unnest(?::VARCHAR[]) AS t(v) "
        "WHERE contains(a.doc, t.v)) ORDER BY original_time",
        (ctx.alert["alert_uuid"], start, end, needles),
    )
    rows = run_query(ctx.con, query) if needles else []
    other_rules = sorted({r["rule_name"] for r in rows if r["rule_id"] != ctx.alert["rule_id"]})
    signal: Signal = "neutral"
    reasons: tuple[str, ...] = ()
    weight = 0
    if other_rules:
        signal, weight = "suspicious", 2
        reasons = (f"also alerted by {', '.join(other_rules)}",)
    if not needles:
        finding = "No principal could be identified, so no related alerts were searched."
    elif not rows:
        finding = (
            f"No other alert names these {len(needles)} principal identifiers between "
            f"{_when(start)} and {_when(end)}."
        )
    else:
        finding = (
            f"{len(rows)} other alerts name the same principals between {_when(start)} and "
            f"{_when(end)}: {len(other_rules)} other rules "
            f"({', '.join(other_rules) or 'none'}) and "
            f"{sum(1 for r in rows if r['rule_id'] == ctx.alert['rule_id'])} from this rule."
        )
    return StepResult(
        "related_alerts",
        question,
        finding,
        {"window_start": start, "window_end": end, "alerts": len(rows), "rows": rows[:50]},
        query.text(),
        signal,
        reasons,
        weight,
    )


# --- request parameters ----------------------------------------------------------------------


def request_parameters(ctx: AlertContext) -> StepResult:
    """The request parameters of the erroring calls, grouped by call and parameters."""
    question = "What were the failing calls trying to do (their request parameters)?"
    calls = _error_events(ctx) or ctx.events
    groups: Counter[tuple[str, str, str, str]] = Counter()
    first: dict[tuple[str, str, str, str], datetime] = {}
    for e in calls:
        key = (
            service_of(e["event_provider"]),
            str(e["event_action"] or ""),
            str(e["error_code"] or ""),
            shorten(e["request_parameters"] or "", 300),
        )
        groups[key] += 1
        first.setdefault(key, e["ts"])
    rows = [
        {
            "service": k[0],
            "action": k[1],
            "error_code": k[2],
            "request_parameters": k[3],
            "calls": n,
            "first": first[k],
        }
        for k, n in groups.most_common(30)
    ]
    distinct_actions = len({(k[0], k[1]) for k in groups})
    if not calls:
        finding = "No calls in the anomaly's bucket matched the alert."
    else:
        top = rows[0]
        finding = (
            f"{len(calls)} calls form {len(groups)} distinct (call, parameters) groups over "
            f"{distinct_actions} API calls; the largest is {top['service']}:{top['action']} "
            f"({top['calls']} calls, {top['error_code'] or 'no error'})."
        )
    return StepResult(
        "request_parameters",
        question,
        finding,
        {"calls": len(calls), "groups": len(groups), "rows": rows},
        ctx.events_query.text(),
    )


# --- enumeration and access to secrets or data -----------------------------------------------


def enumeration(ctx: AlertContext) -> StepResult:
    """Denied List/Describe/Get across services, and denied reads of secrets, keys or objects."""
    question = "Are the errors attempts to enumerate resources or to read data or secrets?"
    start = ctx.bucket_start - INTENT_LOOKBACK
    who = ctx.principal_params
    query = Query(
        "SELECT ts, event_provider, event_action, error_code, request_parameters FROM events "  # noqa: S608
        f"WHERE ts >= ? AND ts < ? AND {PRINCIPAL_CLAUSE} ORDER BY ts LIMIT 50000",
        (start, ctx.bucket_end, *who),
    )
    rows = run_query(ctx.con, query) if ctx.has_principals else []
    denied = [r for r in rows if is_denied(r["error_code"])]
    denied_reads = [r for r in denied if is_read_action(r["event_action"])]
    read_actions = {(service_of(r["event_provider"]), r["event_action"]) for r in denied_reads}
    services = {s for s, _ in read_actions}
    sensitive = [
        r
        for r in denied
        if service_of(r["event_provider"]) in SENSITIVE_SERVICES
        and r["event_action"] in SENSITIVE_ACTIONS
    ]
    routine = _denied_before(ctx, start, sorted({str(r["event_action"]) for r in sensitive}))
    repeated = [r for r in sensitive if (r["event_provider"], r["event_action"]) in routine]
    sensitive = [r for r in sensitive if (r["event_provider"], r["event_action"]) not in routine]
    sensitive_services = sorted({service_of(r["event_provider"]) for r in sensitive})
    span = (denied_reads[-1]["ts"] - denied_reads[0]["ts"]) if denied_reads else timedelta(0)
    minutes = max(1, round(span.total_seconds() / 60))
    error_services = sorted({service_of(r["event_provider"]) for r in rows if r["error_code"]})
    signal: Signal = "neutral"
    reasons: list[str] = []
    weight = 0
    if len(read_actions) >= MANY_DISTINCT_DENIED and len(services) >= MANY_SERVICES:
        signal, weight = "suspicious", 3
        reasons.append(
            f"{len(read_actions)} distinct denied List*/Describe*/Get* across "
            f"{len(services)} services within {minutes} minutes"
        )
    if sensitive:
        signal, weight = "suspicious", weight + 2
        reasons.append(f"denied reads of {', '.join(sensitive_services)}")
    new_service = _single_new_service(ctx, error_services) if signal == "neutral" else None
    if new_service:
        signal, weight = "benign", 1
        reasons.append(f"errors confined to one service new to these principals ({new_service})")
    finding = (
        f"Between {_when(start)} and {_when(ctx.bucket_end)} the principals made {len(rows)} "
        f"calls, {len(denied)} denied; {len(read_actions)} distinct denied read/list calls across "
        f"{len(services)} services ({', '.join(sorted(services)[:8]) or 'none'}) within "
        f"{minutes} min; {len(sensitive)} denied reads of secrets, parameters, keys or objects"
        + (
            f" ({len(repeated)} more were denied the same way on earlier days, so look routine)."
            if repeated
            else "."
        )
    )
    examples = sorted(f"{s}:{a}" for s, a in read_actions)[:40]
    return StepResult(
        "enumeration",
        question,
        finding,
        {
            "window_start": start,
            "window_end": ctx.bucket_end,
            "calls": len(rows),
            "denied": len(denied),
            "distinct_denied_reads": len(read_actions),
            "services": len(services),
            "sensitive_denied": len(sensitive),
            "sensitive_denied_before": len(repeated),
            "sensitive_services": sensitive_services,
            "error_services": error_services,
            "denied_read_calls": examples,
        },
        query.text(),
        signal,
        tuple(reasons),
        weight,
    )


def _denied_before(ctx: AlertContext, until: datetime, actions: list[str]) -> set[tuple[str, str]]:
    """(provider, action) pairs of ``actions`` denied to the principals in the week before."""
    if not actions:
        return set()
    rows = ctx.con.execute(
        "SELECT DISTINCT event_provider, event_action FROM events WHERE ts >= ? AND ts < ? "  # noqa: S608
        f"AND {PRINCIPAL_CLAUSE} AND list_contains(?, event_action) AND error_code IS NOT NULL",
        [until - ROUTINE_LOOKBACK, until, *ctx.principal_params, actions],
    ).fetchall()
    return {(str(r[0]), str(r[1])) for r in rows}


def _single_new_service(ctx: AlertContext, error_services: list[str]) -> str | None:
    """The one service all errors hit, if these principals never used it in the last 30 days."""
    if len(error_services) != 1:
        return None
    who = ctx.principal_params
    row = ctx.con.execute(
        f"SELECT count(*) FROM events WHERE ts >= ? AND ts < ? AND {PRINCIPAL_CLAUSE} "  # noqa: S608
        "AND split_part(event_provider, '.', 1) = ?",
        [
            ctx.bucket_start - timedelta(days=HISTORY_DAYS),
            ctx.bucket_start - NEW_WITHIN,
            *who,
            error_services[0],
        ],
    ).fetchone()
    return error_services[0] if row is not None and row[0] == 0 else None


# --- a change just before the errors ----------------------------------------------------------


def recent_changes(ctx: AlertContext) -> StepResult:
    """Successful deploys or permission changes in the accounts shortly before the errors."""
    question = "Did a deploy or permission change just precede the errors (planned work)?"
    errors = _error_events(ctx) or ctx.events
    accounts = sorted({str(e["cloud_account_id"]) for e in errors if e["cloud_account_id"]})
    first_error = min((e["ts"] for e in errors), default=ctx.bucket_start)
    start = first_error - DEPLOY_LOOKBACK
    query = Query(
        "SELECT ts, cloud_account_id, event_provider, event_action, user_identity_arn, user_agent "
        "FROM events WHERE ts >= ? AND ts < ? AND list_contains(?, cloud_account_id) "
        "AND list_contains(?, event_action) AND error_code IS NULL ORDER BY ts DESC LIMIT 50",
        (start, first_error, accounts, sorted(DEPLOY_ACTIONS)),
    )
    rows = run_query(ctx.con, query) if accounts else []
    signal: Signal = "neutral"
    reasons: tuple[str, ...] = ()
    weight = 0
    if rows:
        latest = rows[0]
        signal, weight = "benign", 1
        reasons = (f"started after a deploy ({latest['event_action']} at {_when(latest['ts'])})",)
        finding = (
            f"{len(rows)} successful deploy or permission-change calls in the accounts in the "
            f"{DEPLOY_LOOKBACK.total_seconds() / 3600:g} h before the first error "
            f"({_when(first_error)}); the latest: {latest['event_action']} by "
            f"{latest['user_identity_arn']} at {_when(latest['ts'])}."
        )
    else:
        finding = (
            f"No successful deploy or permission change in accounts {', '.join(accounts) or '-'} "
            f"in the {DEPLOY_LOOKBACK.total_seconds() / 3600:g} h before the first error "
            f"({_when(first_error)})."
        )
    return StepResult(
        "recent_changes",
        question,
        finding,
        {"window_start": start, "window_end": first_error, "changes": len(rows), "rows": rows},
        query.text(),
        signal,
        reasons,
        weight,
    )
