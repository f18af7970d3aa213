"""How fast can the jobs' aggregation alone go? The floor under issue 3's speed goal.

Issue 3 asks for >= 2M events of history per second for the five ``security_cloudtrail`` jobs
("aggregate in DuckDB, vectorise the models per bucket"). ``benchmarks/jobs.py`` times whole
runs; this script times only what a run cannot do without, on the same store: each job's
feature rows (one DuckDB statement per detector over the whole history, as the runner issues
per chunk) and its bucket event counts. Whatever a job costs beyond these figures is models,
results and explanations.

    .venv/bin/python benchmarks/jobs.py --db /tmp/bench.duckdb --jobs   # make the 2M store once
    .venv/bin/python benchmarks/jobs_floor.py --db /tmp/bench.duckdb

The store is opened read-only. Each job is timed ``--rounds`` times; the fastest round is shown.
Nothing here is asserted: it prints.
"""

from __future__ import annotations

import argparse
import resource
import time
from datetime import datetime, timedelta
from pathlib import Path

import duckdb

from jobs import JOBS  # the five jobs of Elastic's module, as benchmarks/jobs.py runs them
from trailspike.features.bucket_duckdb import features_and_counts
from trailspike.features.contract import FeatureRequest, feature_request
from trailspike.jobs.loader import load_jobs


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime


def history_range(con: duckdb.DuckDBPyConnection) -> tuple[datetime, datetime, int]:
    """First and last event times (the last plus a day, so every bucket is whole) and count."""
    first, last, n = con.execute("SELECT min(ts), max(ts), count(*) FROM events").fetchall()[0]
    if first is None or last is None:
        raise SystemExit("the store has no events")
    day = first.replace(hour=0, minute=0, second=0, microsecond=0)
    return day, last + timedelta(days=1), int(n)


def aggregate(
    con: duckdb.DuckDBPyConnection, request: FeatureRequest, start: datetime, end: datetime
) -> int:
    """Feature rows and bucket counts of one job over ``[start, end)``, as the runner reads them
    per chunk (one statement for both where the job allows): the rows made."""
    rows, counts = features_and_counts(con, request, start, end)
    return rows.num_rows + len(counts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", type=Path, required=True, help="a store made by benchmarks/jobs.py")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    con = duckdb.connect(str(args.db), read_only=True)
    start, end, events = history_range(con)
    print(f"{events:,} events, {start:%Y-%m-%d} to {end:%Y-%m-%d}")
    print(f"{'job':<36} {'rows':>9} {'wall s':>7} {'CPU s':>7} {'events/CPU s':>13}")
    total_cpu = 0.0
    jobs = load_jobs()
    for job in (jobs.get(job_id) for job_id in JOBS):
        request = feature_request(job)
        best: tuple[float, float, int] | None = None
        for _ in range(args.rounds):
            wall0, cpu0 = time.perf_counter(), _cpu()
            rows = aggregate(con, request, start, end)
            took = (time.perf_counter() - wall0, _cpu() - cpu0, rows)
            best = took if best is None or took[1] < best[1] else best
        assert best is not None
        wall, cpu, rows = best
        total_cpu += cpu
        print(f"{job.job_id:<36} {rows:>9,} {wall:>7.2f} {cpu:>7.2f} {events / cpu:>13,.0f}")
    print(f"{'all five':<36} {'':>9} {'':>7} {total_cpu:>7.2f} {events / total_cpu:>13,.0f}")
    print(f"with both cores busy all the time: {events / total_cpu * 2:,.0f} events/s")


if __name__ == "__main__":
    main()
