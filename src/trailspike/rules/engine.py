"""Execute machine_learning rules: windows, the anomaly query, dedup, exceptions, suppression.

One execution at time ``at`` reads the final records of the rule's job whose bucket start lies in
``[at + from, at + to]`` with ``record_score >= anomaly_threshold``, best first, at most
``max_signals`` (Kibana's ``buildAnomalyQuery``). Each record becomes one alert whose id is
``sha256(record_id + rule_id)``; ids already stored are skipped, so overlapping windows, re-runs
and restarts never duplicate an alert. :func:`backfill` replays history as if the rule had run
every ``interval``; :func:`run_due_rules` is what the service calls: it runs every missed
execution since the last one (catch-up), up to ``rules_max_catchup``, and says exactly which
range was skipped beyond that and how to backfill it.

Implementation decisions: execution times sit on a grid aligned to the interval (epoch-aligned),
so backfill and the service produce the same windows. Alerts of one execution and its
``rule_executions`` row are written in one transaction: a kill -9 leaves either both or
neither. Warnings (job not run or behind, look-back too short for bucket span + delays as in
kibana#158152, more matches than ``max_signals``, missed time) are stored with the execution and
returned.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import duckdb

from trailspike.core.settings import SETTINGS
from trailspike.core.timeutil import bucket_start, parse_duration, parse_relative
from trailspike.rules.alerts import alert_uuid, build_alert_doc, existing_ids, insert_alert
from trailspike.rules.anomaly import AnomalyRecord, fetch_records
from trailspike.rules.exceptions import ValueLists, first_matching_item, rule_exception_items
from trailspike.rules.jobinfo import JobInfo, load_job_info
from trailspike.rules.reason import explain
from trailspike.rules.schema import MachineLearningRuleData
from trailspike.rules.suppression import Suppressor, group_key

Settings = Mapping[str, Any]


@dataclass
class ExecutionResult:
    """What one execution did: its window, the alerts it created and why others were not."""

    rule_id: str
    executed_at: datetime
    window_start: datetime
    window_end: datetime
    alerts_created: list[str] = field(default_factory=list)
    records_matched: int = 0
    duplicates: int = 0
    excepted: int = 0
    suppressed: int = 0
    warnings: list[str] = field(default_factory=list)


def default_settings() -> dict[str, Any]:
    """Every setting at its default (library calls without a settings mapping)."""
    return {s.name: s.default for s in SETTINGS}


def rule_window(rule: MachineLearningRuleData, at: datetime) -> tuple[datetime, datetime]:
    """``[at + from, at + to]`` for one execution."""
    return parse_relative(rule.from_, at), parse_relative(rule.to, at)


def execution_times(interval: timedelta, start: datetime, end: datetime) -> list[datetime]:
    """Grid points (multiples of ``interval`` since the epoch) in ``[start, end]``.

    >>> times = execution_times(
    ...     timedelta(minutes=15), datetime(2026, 1, 1, 0, 5), datetime(2026, 1, 1, 0, 45)
    ... )
    >>> [t.strftime("%H:%M") for t in times]
    ['00:15', '00:30', '00:45']
    """
    first = bucket_start(start, interval)
    if first < start:
        first += interval
    times = []
    t = first
    while t <= end:
        times.append(t)
        t += interval
    return times


def required_lookback(rule: MachineLearningRuleData, job: JobInfo, settings: Settings) -> timedelta:
    """Look-back needed so every final record is seen by at least one execution.

    A record for the bucket starting at ``T`` exists from ``T + span + delivery delay + query
    delay``; the next execution may come one ``interval`` later and must still reach back to ``T``.
    """
    delay = parse_duration(str(settings["cloudtrail_delivery_delay"]))
    query_delay = parse_duration(str(settings["query_delay"]))
    return timedelta(seconds=job.bucket_span_seconds) + delay + query_delay + rule.interval_td()


def lookback_warning(rule: MachineLearningRuleData, job: JobInfo, settings: Settings) -> str | None:
    """A warning with a suggested ``from`` when the rule cannot see all final records."""
    need = required_lookback(rule, job, settings)
    if rule.lookback() >= need:
        return None
    minutes = 5 * math.ceil(need.total_seconds() / 300)
    return (
        f"rule {rule.rule_id} looks back {_minutes(rule.lookback())} but job {job.job_id} writes a "
        f"record up to {_minutes(need - rule.interval_td())} after its bucket starts (bucket span "
        f"+ CloudTrail delivery delay + query delay) and runs come every {rule.interval}: "
        f'anomalies can be missed; set from = "now-{minutes}m" or more (kibana#158152)'
    )


def _minutes(delta: timedelta) -> str:
    return f"{int(delta.total_seconds() // 60)}m"


def job_warnings(
    con: duckdb.DuckDBPyConnection, job_id: str, job: JobInfo | None, window_start: datetime
) -> list[str]:
    """Warnings about the rule's job: undefined, never run, or behind the window."""
    if job is None:
        return [f"job {job_id} is not defined: this rule can never raise an alert"]
    row = con.execute("SELECT last_bucket_end FROM job_state WHERE job_id = ?", [job_id]).fetchone()
    if row is None:
        has = con.execute("SELECT count(*) FROM records WHERE job_id = ?", [job_id]).fetchone()
        if has and has[0]:
            return []
        return [
            f"job {job_id} has not run: there are no results to alert on. Run `trailspike jobs "
            "run` or start `trailspike run`"
        ]
    if row[0] is not None and row[0] < window_start:
        return [
            f"job {job_id} has analysed data only up to {row[0]:%Y-%m-%d %H:%M}, before this "
            "window starts: the job is behind (is `trailspike run` ingesting new files?)"
        ]
    return []


def execute_rule(
    con: duckdb.DuckDBPyConnection,
    rule: MachineLearningRuleData,
    at: datetime,
    settings: Settings | None = None,
) -> ExecutionResult:
    """Run ``rule`` once as of ``at``: create an alert for each new qualifying anomaly.

    Parameters
    ----------
    con
        A writable store.
    rule
        The rule to execute.
    at
        The execution's "now" (naive UTC); the window is ``[at + from, at + to]``.
    settings
        Settings (``cloudtrail_delivery_delay``, ``query_delay``); defaults when ``None``.

    Returns
    -------
    ExecutionResult
        Ids of the alerts created, counts of skipped records and warnings.
    """
    cfg = settings if settings is not None else default_settings()
    start, end = rule_window(rule, at)
    result = ExecutionResult(rule.rule_id, at, start, end)
    jobs = {job_id: load_job_info(job_id) for job_id in rule.job_ids()}
    for job_id, job in jobs.items():
        result.warnings.extend(job_warnings(con, job_id, job, start))
        if job is not None and (msg := lookback_warning(rule, job, cfg)):
            result.warnings.append(msg)
    con.execute("BEGIN TRANSACTION")
    try:
        _raise_alerts(con, rule, at, result, jobs)
        con.execute(
            "INSERT OR REPLACE INTO rule_executions VALUES (?, ?, ?, ?, ?, ?)",
            [
                rule.rule_id,
                at,
                start,
                end,
                len(result.alerts_created),
                json.dumps(result.warnings),
            ],
        )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return result


def _raise_alerts(
    con: duckdb.DuckDBPyConnection,
    rule: MachineLearningRuleData,
    at: datetime,
    result: ExecutionResult,
    jobs: Mapping[str, JobInfo | None],
) -> None:
    records, total = fetch_records(
        con,
        rule.job_ids(),
        result.window_start,
        result.window_end,
        rule.anomaly_threshold,
        rule.max_signals,
    )
    result.records_matched = total
    if total > rule.max_signals:
        result.warnings.append(
            f"{total} anomalies matched but max_signals is {rule.max_signals}: only the "
            f"{rule.max_signals} highest-scoring were considered"
        )
    known = existing_ids(con, [alert_uuid(r.record_id, rule.rule_id) for r in records])
    items = rule_exception_items(con, rule)
    lists = ValueLists(con)
    suppressor = (
        Suppressor(con, rule.rule_id, rule.alert_suppression) if rule.alert_suppression else None
    )
    # Highest scores chose the records; time order makes suppression windows well defined.
    for record in sorted(records, key=lambda r: (r.timestamp, -r.record_score, r.record_id)):
        uuid = alert_uuid(record.record_id, rule.rule_id)
        if uuid in known:
            result.duplicates += 1
            continue
        if items and first_matching_item(items, record.fields(), lists) is not None:
            result.excepted += 1
            continue
        if _suppress(suppressor, record, uuid, result):
            continue
        _create_alert(con, rule, record, at, jobs.get(record.job_id), suppressor)
        known.add(uuid)
        result.alerts_created.append(uuid)


def _suppress(
    suppressor: Suppressor | None, record: AnomalyRecord, uuid: str, result: ExecutionResult
) -> bool:
    if suppressor is None:
        return False
    key = group_key(suppressor.suppression, record)
    if key is None:
        return False
    target = suppressor.target(key, record)
    if target is None:
        return False
    suppressor.fold(target, uuid, record)
    result.suppressed += 1
    return True


def _create_alert(
    con: duckdb.DuckDBPyConnection,
    rule: MachineLearningRuleData,
    record: AnomalyRecord,
    at: datetime,
    job: JobInfo | None,
    suppressor: Suppressor | None,
) -> None:
    reason, details = explain(con, record, job)
    doc = build_alert_doc(rule, record, at, f"{rule.name}: {reason}", details)
    key = group_key(suppressor.suppression, record) if suppressor else None
    if suppressor is not None and key is not None:
        doc.update(suppressor.opening_fields(key, record))
    insert_alert(con, rule, record, doc, at)
    if suppressor is not None and key is not None:
        con.execute(
            "UPDATE alerts SET suppression_key = ?, suppression_until = ? WHERE alert_uuid = ?",
            [key, suppressor.until(record), doc["kibana.alert.uuid"]],
        )
        suppressor.opened(key, doc["kibana.alert.uuid"])


def backfill(
    con: duckdb.DuckDBPyConnection,
    rules: Iterable[MachineLearningRuleData],
    start: datetime,
    end: datetime,
    settings: Settings | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[ExecutionResult]:
    """Replay ``[start, end]`` as if each rule had run every ``interval``.

    Alerts that exist already are not raised again, so a second backfill over the same range
    creates nothing. ``progress(done, total)`` is called after each execution.
    """
    plan = [
        (rule, at)
        for rule in rules
        if rule.enabled
        for at in execution_times(rule.interval_td(), start, end)
    ]
    results = []
    for done, (rule, at) in enumerate(plan, start=1):
        results.append(execute_rule(con, rule, at, settings))
        if progress is not None:
            progress(done, len(plan))
    return results


def last_execution(con: duckdb.DuckDBPyConnection, rule_id: str) -> datetime | None:
    row = con.execute(
        "SELECT max(executed_at) FROM rule_executions WHERE rule_id = ?", [rule_id]
    ).fetchone()
    return row[0] if row and row[0] is not None else None


def due_times(
    con: duckdb.DuckDBPyConnection,
    rule: MachineLearningRuleData,
    now: datetime,
    max_catchup: int,
) -> tuple[list[datetime], str | None]:
    """Executions due at ``now``: every grid point since the last execution (catch-up).

    Returns the times to run and, when more than ``max_catchup`` were missed, a warning naming
    the skipped range and the backfill command that covers it.
    """
    interval = rule.interval_td()
    latest = bucket_start(now, interval)
    previous = last_execution(con, rule.rule_id)
    if previous is None:
        return [latest], None
    times = execution_times(interval, previous + timedelta(microseconds=1), latest)
    if len(times) <= max_catchup:
        return times, None
    skipped_from, skipped_to = times[0], times[-max_catchup - 1]
    kept = times[-max_catchup:]
    start, _ = rule_window(rule, skipped_from)
    warning = (
        f"{len(times) - max_catchup} executions of rule {rule.rule_id} between "
        f"{skipped_from:%Y-%m-%d %H:%M} and {skipped_to:%Y-%m-%d %H:%M} were not run (the service "
        f"was down); anomalies from {start:%Y-%m-%d %H:%M} may have been missed: run `trailspike "
        f"rules backfill --rule {rule.rule_id} --start {skipped_from:%Y-%m-%dT%H:%M} --end "
        f"{skipped_to:%Y-%m-%dT%H:%M}`"
    )
    return kept, warning


def run_due_rules(
    con: duckdb.DuckDBPyConnection,
    rules: Iterable[MachineLearningRuleData],
    now: datetime,
    settings: Settings | None = None,
) -> list[ExecutionResult]:
    """Run every enabled rule's due executions in time order (the service's step)."""
    cfg = settings if settings is not None else default_settings()
    max_catchup = int(cfg.get("rules_max_catchup", 96))
    results: list[ExecutionResult] = []
    for rule in rules:
        if not rule.enabled:
            continue
        times, warning = due_times(con, rule, now, max_catchup)
        for index, at in enumerate(times):
            result = execute_rule(con, rule, at, cfg)
            if warning and index == 0:
                result.warnings.insert(0, warning)
                con.execute(
                    "UPDATE rule_executions SET warnings = ? WHERE rule_id = ? AND "
                    "executed_at = ? AND window_start = ?",
                    [json.dumps(result.warnings), rule.rule_id, at, result.window_start],
                )
            results.append(result)
    return results
