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
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import duckdb
import pyarrow as pa

from trailspike.core.settings import SETTINGS
from trailspike.core.timeutil import bucket_start, parse_duration, parse_relative
from trailspike.rules.alerts import alert_uuid, build_alert_doc, existing_ids, insert_alert
from trailspike.rules.anomaly import AnomalyRecord
from trailspike.rules.exceptions import ValueLists, first_matching_item, rule_exception_items
from trailspike.rules.jobinfo import JobInfo, load_job_info
from trailspike.rules.reason import EventFilter, explain
from trailspike.rules.schema import ExceptionItem, MachineLearningRuleData
from trailspike.rules.sources import RecordSource, ReplaySource, query_source, replay_source
from trailspike.rules.suppression import Suppressor, group_key

Settings = Mapping[str, Any]
BACKFILL_CHUNK = 500


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


@dataclass
class RulePlan:
    """What executions of one rule need, read once: its jobs, their state, its exceptions."""

    rule: MachineLearningRuleData
    settings: Settings
    jobs: dict[str, JobInfo | None]
    last_bucket_end: dict[str, datetime | None]
    has_results: dict[str, bool]
    items: list[ExceptionItem]
    idle: dict[str, str]  # job id -> why a job without results has nothing to analyse
    lists: ValueLists
    static_warnings: list[str]


def plan_rule(
    con: duckdb.DuckDBPyConnection, rule: MachineLearningRuleData, settings: Settings
) -> RulePlan:
    """Read what :func:`execute_rule` and :func:`backfill` need about ``rule`` once."""
    jobs = {job_id: load_job_info(job_id) for job_id in rule.job_ids()}
    last_end: dict[str, datetime | None] = {}
    has_results: dict[str, bool] = {}
    for job_id in jobs:
        row = con.execute(
            "SELECT last_bucket_end FROM job_state WHERE job_id = ?", [job_id]
        ).fetchone()
        if row is not None:
            last_end[job_id] = row[0]
        count = con.execute(
            "SELECT count(*) FROM (SELECT 1 FROM records WHERE job_id = ? LIMIT 1)", [job_id]
        ).fetchone()
        has_results[job_id] = bool(count and count[0])
    idle = {
        job_id: reason
        for job_id, job in jobs.items()
        if job is not None and job_id not in last_end and not has_results[job_id]
        if (reason := idle_reason(con, job))
    }
    static = [
        msg
        for job in jobs.values()
        if job is not None and (msg := lookback_warning(rule, job, settings))
    ]
    return RulePlan(
        rule,
        settings,
        jobs,
        last_end,
        has_results,
        rule_exception_items(con, rule),
        idle,
        ValueLists(con),
        static,
    )


GEOIP_CITY_HINT = (
    ": city names come from a MaxMind-format City database (set geoip_city_db, see "
    "docs/ingest.md#geoip; the bundled fallback has countries only), then re-ingest"
)


def idle_reason(con: duckdb.DuckDBPyConnection, job: JobInfo) -> str:
    """Why a job with no state and no results has nothing to analyse, or "" if it has.

    The usual cause in the field is not a job that never ran but a datafeed that selects no
    event: the city job without a City database (no city names). Saying "run the job" for that
    sent people in circles.
    """
    if con.execute("SELECT 1 FROM events LIMIT 1").fetchone() is None:
        return (
            "no events are stored yet (run `trailspike ingest`, or `trailspike run` with sources)"
        )
    wanted = EventFilter()
    for name in job.exists:
        wanted.present(name)
    if not job.exists or con.execute(wanted.statement("1", "LIMIT 1"), wanted.params).fetchone():
        return ""
    hint = GEOIP_CITY_HINT if "source.geo.city_name" in job.exists else ""
    return f"no stored event has {', '.join(job.exists)}, so it has nothing to analyse{hint}"


def job_warnings(plan: RulePlan, window_start: datetime) -> list[str]:
    """Warnings about the rule's jobs: undefined, never run, or behind the window."""
    warnings = []
    for job_id, job in plan.jobs.items():
        if job is None:
            warnings.append(f"job {job_id} is not defined: this rule can never raise an alert")
        elif reason := plan.idle.get(job_id):
            warnings.append(f"job {job_id} has no results: {reason}")
        elif job_id not in plan.last_bucket_end and not plan.has_results[job_id]:
            warnings.append(
                f"job {job_id} has not run: there are no results to alert on. Run `trailspike "
                "jobs run` or start `trailspike run`"
            )
        elif (end := plan.last_bucket_end.get(job_id)) is not None and end < window_start:
            warnings.append(
                f"job {job_id} has analysed data only up to {end:%Y-%m-%d %H:%M}, before this "
                "window starts: the job is behind (is `trailspike run` ingesting new files? "
                "For logs from the past, replay them with `trailspike rules backfill`)"
            )
    return warnings


def run_executions(
    con: duckdb.DuckDBPyConnection,
    plan: RulePlan,
    times: Sequence[datetime],
    records_for: RecordSource,
    first_warning: str | None = None,
) -> list[ExecutionResult]:
    """Execute ``plan.rule`` at each of ``times`` in one transaction (alerts and executions).

    ``records_for`` gives each execution its candidates (:mod:`.sources`: live from the store,
    or in a backfill the records a live job would have written by then).
    """
    rule = plan.rule
    results: list[ExecutionResult] = []
    con.execute("BEGIN TRANSACTION")
    try:
        for at in times:
            start, end = rule_window(rule, at)
            result = ExecutionResult(rule.rule_id, at, start, end)
            if first_warning and not results:
                result.warnings.append(first_warning)
            result.warnings.extend(job_warnings(plan, start))
            result.warnings.extend(plan.static_warnings)
            records, total = records_for(start, end, at)
            _raise_alerts(con, plan, at, result, records, total)
            results.append(result)
        _store_executions(con, results)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return results


def _store_executions(con: duckdb.DuckDBPyConnection, results: Sequence[ExecutionResult]) -> None:
    """Write execution rows in one statement (row-by-row inserts cost ~15 ms each in DuckDB)."""
    table = pa.table(
        {
            "rule_id": [r.rule_id for r in results],
            "executed_at": pa.array([r.executed_at for r in results], pa.timestamp("us")),
            "window_start": pa.array([r.window_start for r in results], pa.timestamp("us")),
            "window_end": pa.array([r.window_end for r in results], pa.timestamp("us")),
            "alerts_created": pa.array([len(r.alerts_created) for r in results], pa.int32()),
            "warnings": [json.dumps(r.warnings) for r in results],
        }
    )
    con.register("_new_rule_executions", table)
    try:
        con.execute("INSERT OR REPLACE INTO rule_executions SELECT * FROM _new_rule_executions")
    finally:
        con.unregister("_new_rule_executions")


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
    plan = plan_rule(con, rule, cfg)
    (result,) = run_executions(con, plan, [at], query_source(con, rule, plan.last_bucket_end))
    return result


def _raise_alerts(
    con: duckdb.DuckDBPyConnection,
    plan: RulePlan,
    at: datetime,
    result: ExecutionResult,
    records: list[AnomalyRecord],
    total: int,
) -> None:
    rule = plan.rule
    result.records_matched = total
    if total > rule.max_signals:
        result.warnings.append(
            f"{total} anomalies matched but max_signals is {rule.max_signals}: only the "
            f"{rule.max_signals} highest-scoring were considered"
        )
    if not records:
        return
    known = existing_ids(con, [alert_uuid(r.record_id, rule.rule_id) for r in records])
    suppressor = (
        Suppressor(con, rule.rule_id, rule.alert_suppression) if rule.alert_suppression else None
    )
    # Highest scores chose the records; time order makes suppression windows well defined.
    for record in sorted(records, key=lambda r: (r.timestamp, -r.record_score, r.record_id)):
        uuid = alert_uuid(record.record_id, rule.rule_id)
        if uuid in known:
            result.duplicates += 1
            continue
        if plan.items and first_matching_item(plan.items, record.fields(), plan.lists) is not None:
            result.excepted += 1
            continue
        if _suppress(suppressor, record, uuid, result):
            continue
        _create_alert(con, rule, record, at, plan.jobs.get(record.job_id), suppressor)
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
    skip_empty: bool = True,
) -> list[ExecutionResult]:
    """Replay ``[start, end]`` as if each rule had run every ``interval``.

    Alerts that exist already are not raised again, so a second backfill over the same range
    creates nothing. Candidate records are read once per rule and executions are written in
    transactions of :data:`BACKFILL_CHUNK`; an interrupted backfill is simply run again.
    ``progress(done, total)`` is called after each chunk.

    With ``skip_empty`` (the default) only executions whose window holds a candidate record
    run, plus the first and the last: an execution with nothing to see raises nothing, and
    replaying a sparse import that spans years would otherwise run (and store) hundreds of
    thousands of empty executions. The alerts are the same either way (tested).
    """
    cfg = settings if settings is not None else default_settings()
    delay = parse_duration(str(cfg["query_delay"]))
    plans = []
    for rule in rules:
        times = execution_times(rule.interval_td(), start, end) if rule.enabled else []
        if not times:
            continue
        first, _ = rule_window(rule, times[0])
        _, last = rule_window(rule, times[-1])
        source = replay_source(con, rule, first, last, delay)
        if skip_empty:
            times = _times_with_candidates(rule, times, source)
        plans.append((rule, times, source))
    total = sum(len(times) for _, times, _ in plans)
    results: list[ExecutionResult] = []
    for rule, times, source in plans:
        plan = plan_rule(con, rule, cfg)
        for i in range(0, len(times), BACKFILL_CHUNK):
            chunk = times[i : i + BACKFILL_CHUNK]
            results.extend(run_executions(con, plan, chunk, source))
            if progress is not None:
                progress(len(results), total)
    return results


def _times_with_candidates(
    rule: MachineLearningRuleData, times: list[datetime], source: ReplaySource
) -> list[datetime]:
    """The execution times whose window holds a candidate, and the first and the last."""
    # A window is the execution time plus two fixed offsets (parsed once, not per time).
    lo, hi = rule_window(rule, times[0])
    before, after = lo - times[0], hi - times[0]
    last = len(times) - 1
    return [
        at
        for i, at in enumerate(times)
        if i in (0, last) or source.has_candidates(at + before, at + after)
    ]


def analysed_range(
    con: duckdb.DuckDBPyConnection, rules: Iterable[MachineLearningRuleData]
) -> tuple[datetime, datetime] | None:
    """First bucket start and last analysed bucket end of the rules' jobs (None: no results).

    The range a backfill of imported past logs should replay: from the first result any rule
    could alert on to the end of what the jobs have analysed.
    """
    job_ids = sorted({job_id for rule in rules for job_id in rule.job_ids()})
    if not job_ids:
        return None
    row = con.execute(
        "SELECT (SELECT min(timestamp) FROM buckets WHERE list_contains($ids, job_id)), "
        "(SELECT max(last_bucket_end) FROM job_state WHERE list_contains($ids, job_id))",
        {"ids": job_ids},
    ).fetchone()
    if row is None or row[0] is None or row[1] is None:
        return None
    return row[0], row[1]


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
        if times:
            plan = plan_rule(con, rule, cfg)
            results.extend(
                run_executions(
                    con, plan, times, query_source(con, rule, plan.last_bucket_end), warning
                )
            )
    return results
