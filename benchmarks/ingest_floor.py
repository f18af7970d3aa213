"""How close to ``zcat`` can any ingest get on this machine? The floors under issue 2's goal.

Issue 2 asks ingest (parse, normalise, GeoIP, store, with the whole ECS document kept per
event) to take at most the wall time of ``zcat FILES | wc -c``. This script times what no ingest
can skip, on the same files, with DuckDB doing all of it natively (its JSON reader, its threads,
no Python per record):

1. ``decompress``: read every file's JSON value (DuckDB's gzip and reader, nothing parsed);
2. ``parse``: cut the records out of ``{"Records": [...]}`` and read ``eventID`` and
   ``eventTime`` from each;
3. ``store``: (2) plus writing each record's JSON text, unchanged, into a table of a fresh
   DuckDB file and checkpointing it: an ingest that stores the raw record and does no
   normalising at all.

It alternates ``zcat`` and the floors for a few rounds and prints, from each one's fastest
round, wall and CPU seconds, the wall time as a ratio to ``zcat``'s, and the ideal ratio: the
CPU spread over all cores with none idle. Speed goals live here, never in tests.

Usage::

    python benchmarks/ingest_floor.py --corpus DIR     # a folder of CloudTrail .json.gz files
    python benchmarks/ingest_floor.py --events 300000  # generate one first (benchmarks/ingest.py)
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).parent))
from ingest import generate  # the ingest benchmark's corpus generator

MAX_OBJECT = 64 * 1024 * 1024  # CloudTrail files reach 15 MB of JSON; DuckDB's default is 16 MiB


def _source(folder: Path) -> str:
    # The folder is ours (a benchmark argument), not log content; DuckDB takes no bound table
    # function arguments here.
    glob = str(folder / "*.json.gz").replace("'", "''")
    return f"read_json_objects('{glob}', maximum_object_size={MAX_OBJECT})"


def _records(folder: Path) -> str:
    return f"SELECT unnest(json_extract(json, '$.Records[*]')) AS rec FROM {_source(folder)}"


def floor_queries(folder: Path) -> dict[str, str]:
    """The SQL of each floor over ``folder``'s ``*.json.gz`` files."""
    records = _records(folder)
    return {
        "decompress": f"SELECT sum(length(json)) FROM {_source(folder)}",
        "parse": (
            "SELECT count(DISTINCT id), max(ts) FROM (SELECT rec->>'eventID' AS id, "
            f"(rec->>'eventTime')::TIMESTAMP AS ts FROM ({records}))"
        ),
        "store": (
            "CREATE TABLE events AS SELECT rec->>'eventID' AS id, "
            f"(rec->>'eventTime')::TIMESTAMP AS ts, rec::VARCHAR AS doc FROM ({records})"
        ),
    }


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def timed(step: Callable[[], object]) -> tuple[float, float]:
    """Wall and CPU seconds (this process and its children) of ``step``."""
    wall0, cpu0 = time.perf_counter(), _cpu()
    step()
    return time.perf_counter() - wall0, _cpu() - cpu0


def run_zcat(paths: list[Path]) -> None:
    cmd = "zcat " + " ".join(f"'{p}'" for p in paths) + " | wc -c"
    subprocess.run(["sh", "-c", cmd], check=True, stdout=subprocess.DEVNULL)


def run_floor(name: str, sql: str, work: Path) -> None:
    db = work / "floor.duckdb"
    db.unlink(missing_ok=True)
    con = duckdb.connect(str(db) if name == "store" else ":memory:")
    try:
        con.execute(sql).fetchall()
        if name == "store":
            con.execute("CHECKPOINT")
    finally:
        con.close()
        db.unlink(missing_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, help="folder of CloudTrail .json.gz files")
    parser.add_argument("--events", type=int, default=300_000, help="events to generate")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="trailspike-floor-"))
    folder = args.corpus or work / "corpus"
    if args.corpus is None:
        generate(folder, args.events, max(1, args.events // 10_000))
    paths = sorted(folder.glob("*.json.gz"))
    if not paths:
        raise SystemExit(f"{folder}: no .json.gz files")
    cores = os.cpu_count() or 1
    queries = floor_queries(folder)
    results: dict[str, list[tuple[float, float]]] = {"zcat": [], **{k: [] for k in queries}}
    for _ in range(args.rounds):
        results["zcat"].append(timed(lambda: run_zcat(paths)))
        for name, sql in queries.items():
            results[name].append(timed(lambda n=name, q=sql: run_floor(n, q, work)))
    zcat_wall = min(w for w, _ in results["zcat"])
    print(f"{len(paths)} files; load average {os.getloadavg()[0]:.1f}; {cores} cores")
    print("x zcat: wall / zcat's wall; ideal: CPU / cores / zcat's wall (all cores busy)")
    print(f"{'step':<11} {'wall s':>7} {'CPU s':>7} {'x zcat':>7} {'ideal x zcat':>13}")
    for name, runs in results.items():
        wall, cpu = min(w for w, _ in runs), min(c for _, c in runs)
        print(
            f"{name:<11} {wall:>7.2f} {cpu:>7.2f} {wall / zcat_wall:>7.2f} "
            f"{cpu / cores / zcat_wall:>13.2f}"
        )


if __name__ == "__main__":
    main()
