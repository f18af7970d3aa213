"""The whole demo, end to end: generate, ingest, run jobs, backfill rules, score, report.

:func:`run_demo` is what ``trailspike demo`` (and so ``make demo``) runs. Each step is
idempotent: the world is regenerated only when its parameters changed, ingest skips files it has
read, jobs resume after their last final bucket, and rule backfills never raise the same anomaly
twice. The HTML report comes from the triage package when it is installed.

Implementation decisions: the demo resolves city names with MaxMind's public *test* GeoIP
databases in ``../shared/data/geoip`` when they are beside the repository (the world's people
use exactly the addresses those databases know), unless the user configured their own
``geoip_city_db``; without them ingest falls back to geoip2fast's country data, the city-based
rule then has nothing to work on, and the demo says so. Jobs and rules run with ``now`` = the end
of the world, so results do not depend on the wall clock.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from trailspike.demo.generate import WorldParams, existing_world, generate_world

SHARED_GEOIP = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "geoip"
CITY_TEST_DB = SHARED_GEOIP / "GeoLite2-City-Test.mmdb"
ASN_TEST_DB = SHARED_GEOIP / "GeoLite2-ASN-Test.mmdb"


@dataclass
class DemoResult:
    """What one demo run did: per-step seconds, counts and where the outputs are."""

    world_dir: Path
    db_path: Path
    world: dict[str, Any]
    generated: bool
    steps: dict[str, float] = field(default_factory=dict)
    events_stored: int = 0
    alerts: int = 0
    report_path: Path | None = None
    notes: list[str] = field(default_factory=list)


def demo_settings(base: Mapping[str, Any], db_path: Path) -> dict[str, Any]:
    """Settings for the demo: the demo store, and the test GeoIP databases when available."""
    settings = dict(base)
    settings["db"] = str(db_path)
    if not settings.get("geoip_city_db") and CITY_TEST_DB.exists():
        settings["geoip_city_db"] = str(CITY_TEST_DB)
        if not settings.get("geoip_asn_db") and ASN_TEST_DB.exists():
            settings["geoip_asn_db"] = str(ASN_TEST_DB)
    return settings


@contextmanager
def _timed(result: DemoResult, step: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        result.steps[step] = time.perf_counter() - started


def world_bounds(world: Mapping[str, Any]) -> tuple[datetime, datetime]:
    """Start and end of a generated world (naive UTC) from its ``world.json``."""
    return datetime.fromisoformat(world["start"]), datetime.fromisoformat(world["end"])


def run_demo(
    out_dir: Path,
    params: WorldParams,
    base_settings: Mapping[str, Any],
    *,
    progress: bool = False,
    say: Callable[[str], None] = print,
) -> DemoResult:
    """Generate (or reuse) the world in ``out_dir/world``, then run the pipeline into
    ``out_dir/demo.duckdb`` and write ``out_dir/report.html``.

    ``say`` receives one line per step (the CLI prints them); ``progress`` shows rich bars.
    """
    from trailspike.store.db import open_store

    world_dir, db_path = out_dir / "world", out_dir / "demo.duckdb"
    world = existing_world(world_dir, params)
    result = DemoResult(world_dir, db_path, world or {}, generated=world is None)
    if world is None:
        # A new world invalidates everything derived from the old one.
        for stale in (db_path, db_path.with_name(db_path.name + ".wal")):
            stale.unlink(missing_ok=True)
        with _timed(result, "generate"):
            result.world = _generate(world_dir, params, progress)
        say(
            f"Generated {result.world['events']:,} events in {result.world['files']:,} files "
            f"({result.steps['generate']:.1f} s) into {world_dir}"
        )
    else:
        say(f"Reusing the world in {world_dir} (seed {params.seed}): {world['events']:,} events")
    settings = demo_settings(base_settings, db_path)
    if "geoip_city_db" in settings and settings["geoip_city_db"] == str(CITY_TEST_DB):
        say(f"GeoIP: MaxMind test databases from {SHARED_GEOIP}")
    elif not settings.get("geoip_city_db"):
        result.notes.append(
            "no geoip_city_db: cities are unknown, so the Unusual City rule cannot fire"
        )
    start, end = world_bounds(result.world)
    con = open_store(db_path)
    try:
        _pipeline(con, result, world_dir, settings, start, end, progress, say)
    finally:
        con.close()
    return result


def _generate(world_dir: Path, params: WorldParams, progress: bool) -> dict[str, Any]:
    if not progress:
        return generate_world(world_dir, params)
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task("generate", total=None)
        return generate_world(
            world_dir,
            params,
            on_total=lambda n: bar.update(task, total=n),
            on_file=lambda n: bar.advance(task, n),
        )


def _pipeline(
    con: Any,
    result: DemoResult,
    world_dir: Path,
    settings: Mapping[str, Any],
    start: datetime,
    end: datetime,
    progress: bool,
    say: Callable[[str], None],
) -> None:
    from trailspike.ingest.pipeline import ingest
    from trailspike.jobs.runner import run_jobs
    from trailspike.rules.engine import backfill
    from trailspike.rules.loader import load_rules

    with _timed(result, "ingest"):
        # The world's clock, as for the jobs: its last day may be after today's date.
        summary = ingest(
            con,
            [str(world_dir / "AWSLogs")],
            settings,
            progress=progress,
            now=end + timedelta(hours=1),
        )
    say(f"Ingest: {summary.summary_line()} ({result.steps['ingest']:.1f} s)")
    result.notes.extend(summary.notes)
    with _timed(result, "jobs"):
        runs = run_jobs(
            con, end=end, now=end + timedelta(hours=1), settings=settings, progress=progress
        )
    say(
        f"Jobs: {len(runs)} jobs over {start:%Y-%m-%d} .. {end:%Y-%m-%d} "
        f"({result.steps['jobs']:.1f} s)"
    )
    rules = list(load_rules())
    with _timed(result, "rules"):
        _backfill(con, backfill, rules, start, end, settings, progress)
    say(f"Rules: {len(rules)} rules backfilled ({result.steps['rules']:.1f} s)")
    result.events_stored = int(con.execute("SELECT count(*) FROM events").fetchone()[0])
    result.alerts = int(con.execute("SELECT count(*) FROM alerts").fetchone()[0])


def _backfill(
    con: Any,
    backfill: Any,
    rules: list[Any],
    start: datetime,
    end: datetime,
    settings: Mapping[str, Any],
    progress: bool,
) -> None:
    """Replay every rule over the world, resuming after the executions a rerun already did."""
    plan = []
    for rule in rules:
        # Each rule runs until its last window still starts inside the world, so the world's
        # last anomalies are seen; a window wholly after it sees no results and warned that
        # the job was behind (Spike in AWS Error Messages ran until two look-backs after).
        until = end + rule.lookback() - rule.interval_td()
        row = con.execute(
            "SELECT max(executed_at) FROM rule_executions WHERE rule_id = ?", [rule.rule_id]
        ).fetchone()
        begin = start if row[0] is None else row[0] + timedelta(seconds=1)
        if begin <= until:
            plan.append((rule, begin, until))
    if not progress:
        for rule, begin, until in plan:
            backfill(con, [rule], begin, until, settings)
        return
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        for rule, begin, until in plan:
            task = bar.add_task(rule.name, total=None)
            backfill(
                con,
                [rule],
                begin,
                until,
                settings,
                progress=lambda done, total, t=task: bar.update(t, completed=done, total=total),
            )


def write_report(con: Any, result: DemoResult, settings: Mapping[str, Any]) -> Path | None:
    """Write ``report.html`` beside the store with the triage package's report, if installed."""
    try:
        from trailspike.triage.html import write_demo_report
    except ImportError:
        result.notes.append("the triage package is not available: no HTML report")
        return None
    path = result.db_path.parent / "report.html"
    with _timed(result, "report"):
        write_demo_report(
            con, path, demo_settings(settings, result.db_path), title="trailspike demo"
        )
    result.report_path = path
    return path
