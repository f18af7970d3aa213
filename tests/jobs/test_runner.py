"""The runner end to end over stored events: detection, influencers, final buckets, resume."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pytest
from jobs_synth import T0, baseline_events, insert_events

import trailspike
from trailspike.core.errors import ConfigError
from trailspike.core.settings import load_settings
from trailspike.jobs import bucket as bucket_module
from trailspike.jobs.chunking import CommitPolicy
from trailspike.jobs.loader import load_jobs
from trailspike.jobs.runner import run_jobs
from trailspike.models.factory import load_state
from trailspike.store.db import open_store
from trailspike.store.results import load_job_state, query_records

SETTINGS = load_settings(environ={}, config_path=Path("/nonexistent.toml"))
# The kill tests below stop one job at a known point of a run of one job after the other;
# runs of jobs in threads have their own in test_parallel.py.
ONE_AT_A_TIME = {**SETTINGS, "job_threads": 1}
SPIKE = "high_distinct_count_error_message"
USER = "rare_method_for_a_username"
ATTACKER = "arn:aws:iam::111122223333:user/attacker"
LATER = datetime(2027, 1, 1)


def burst(at: datetime, messages: int, *, user: str = "attacker") -> list[dict[str, Any]]:
    return [
        {
            "ts": at + timedelta(seconds=k),
            "event_action": "ListRoles",
            "error_code": "AccessDenied",
            "error_message": f"User is not authorized to perform iam:ListRoles on role/r{k}",
            "user_identity_arn": f"arn:aws:iam::111122223333:user/{user}",
            "user_name": user,
            "source_ip": "203.0.113.9",
            "source_geo_city_name": "Lagos",
        }
        for k in range(messages)
    ]


def run(con: duckdb.DuckDBPyConnection, ids: list[str], end: datetime, **kw: Any) -> list:
    return run_jobs(con, ids, end=end, now=LATER, settings=SETTINGS, **kw)


def test_burst_of_distinct_messages_scores_with_its_arn_as_top_influencer(store, add_events):
    add_events(baseline_events(8))
    at = T0 + timedelta(days=8, hours=3, minutes=2)
    add_events(burst(at, 40))
    (summary,) = run(store, [SPIKE], T0 + timedelta(days=8, hours=6))
    assert summary.status == "ran" and summary.records >= 1
    top = query_records(store, SPIKE, limit=1)[0]
    assert top["timestamp"] == datetime(2026, 1, 13, 3, 0)
    assert top["record_score"] >= 50
    assert top["actual"] == 45 or top["actual"] >= 40
    influencers = {
        i["influencer_field_name"]: i["influencer_field_values"]
        for i in json.loads(top["influencers"])
    }
    assert influencers["aws.cloudtrail.user_identity.arn"][0] == ATTACKER
    best = store.execute(
        "SELECT influencer_field_value FROM influencers WHERE job_id = ? "
        "AND influencer_field_name = 'aws.cloudtrail.user_identity.arn' "
        "ORDER BY influencer_score DESC LIMIT 1",
        [SPIKE],
    ).fetchall()
    assert best == [(ATTACKER,)]
    assert all(r["actual"] > r["typical"] for r in query_records(store, SPIKE))


def test_repeated_single_message_does_not_raise_distinct_count(store, add_events):
    add_events(baseline_events(8))
    at = T0 + timedelta(days=8, hours=3, minutes=2)
    add_events(
        [
            {**row, "error_message": "User is not authorized to perform iam:ListRoles"}
            for row in burst(at, 400)
        ]
    )
    run(store, [SPIKE], T0 + timedelta(days=8, hours=6))
    scores = [
        r["record_score"]
        for r in query_records(store, SPIKE, since=T0 + timedelta(days=8, hours=3))
    ]
    assert max(scores, default=0.0) < 50


def test_new_method_for_known_user_scores_high_for_rare(store, add_events):
    add_events(baseline_events(8))
    at = T0 + timedelta(days=8, hours=3, minutes=2)
    add_events([{**burst(at, 1, user="u2")[0], "event_action": "DeleteTrail"}])
    run(store, [USER], T0 + timedelta(days=8, hours=6))
    (top,) = query_records(store, USER, limit=1)
    assert (top["partition_field_value"], top["by_field_value"]) == ("u2", "DeleteTrail")
    assert top["record_score"] >= 50
    routine = query_records(store, USER, since=at - timedelta(hours=3))
    assert all(r["by_field_value"] == "DeleteTrail" for r in routine if r["record_score"] >= 50)


def test_only_final_buckets_are_processed(store, add_events):
    add_events(baseline_events(2))
    last_event = store.execute("SELECT max(ts) FROM events").fetchall()[0][0]
    (summary,) = run_jobs(store, [SPIKE], now=LATER, settings=SETTINGS)
    assert summary.end == datetime(2026, 1, 6, 23, 45) and summary.end <= last_event
    now = datetime(2026, 1, 6, 12, 1)  # minus delivery delay 15m and query_delay 2m: 11:44
    store.execute("DELETE FROM job_state")
    store.execute("DELETE FROM buckets")
    (summary,) = run_jobs(store, [SPIKE], now=now, settings=SETTINGS)
    assert summary.end == datetime(2026, 1, 6, 11, 30)
    (again,) = run_jobs(store, [SPIKE], now=now, settings=SETTINGS)
    assert again.status == "up to date" and again.buckets == 0


def test_an_event_dated_in_the_future_does_not_make_buckets_final(store, add_events):
    # Two days of errors, then one record dated 2099 (a clock set wrong, a forged record). It
    # vouched for every bucket up to now, so files still on their way would come too late.
    add_events(baseline_events(2))
    add_events([{"ts": datetime(2099, 1, 1), "error_message": "from the future"}])
    now = datetime(2026, 1, 9)
    (summary,) = run_jobs(store, [SPIKE], now=now, settings=SETTINGS)
    assert summary.end == datetime(2026, 1, 6, 23, 45)  # the last real event's bucket
    store.execute("DELETE FROM job_state")
    store.execute("DELETE FROM buckets")
    store.execute("DELETE FROM events WHERE ts > ?", [now])
    (without,) = run_jobs(store, [SPIKE], now=now, settings=SETTINGS)
    assert without.end == summary.end


def test_changed_job_definition_needs_a_reset(store, add_events, tmp_path):
    add_events(baseline_events(1))
    run(store, [SPIKE], T0 + timedelta(hours=6))
    data = json.loads((Path(load_jobs().sources[SPIKE])).read_text())
    data["analysis_config"]["bucket_span"] = "30m"
    (tmp_path / "j.json").write_text(json.dumps(data))
    changed = load_jobs([tmp_path / "j.json"])
    with pytest.raises(ConfigError, match="jobs reset"):
        run(store, [SPIKE], T0 + timedelta(hours=12), jobs=changed, keep_going=False)
    (summary,) = run(store, [SPIKE], T0 + timedelta(hours=12), jobs=changed)
    assert summary.status == "error" and "jobs reset" in (summary.error or "")


# ---------------------------------------------------------------- resume and replay

RESULT_QUERIES = {
    "buckets": "SELECT * FROM buckets ORDER BY job_id, timestamp",
    "records": "SELECT * EXCLUDE (created_at) FROM records ORDER BY record_id",
    "early_records": "SELECT * EXCLUDE (created_at) FROM early_records ORDER BY ALL",
    "influencers": "SELECT * FROM influencers ORDER BY ALL",
    "model_plot": "SELECT * FROM model_plot ORDER BY ALL",
    "job_state": "SELECT job_id, last_bucket_end, state FROM job_state ORDER BY job_id",
}


def canonical(obj: Any) -> Any:
    """Model state as plain nested values, to compare learnt state by content.

    The serialised bytes are not compared: pickle records which equal objects are *shared*
    (a string or tuple reused after a reload), which depends on how runs were split even when
    every number is the same.
    """
    if isinstance(obj, np.ndarray):
        return ("ndarray", obj.dtype.str, obj.shape, obj.tobytes())
    if isinstance(obj, dict):
        return ("dict", sorted((repr(k), canonical(v)) for k, v in obj.items()))
    if isinstance(obj, (list, tuple)):
        return (type(obj).__name__, [canonical(v) for v in obj])
    if isinstance(obj, (set, frozenset)):
        return ("set", sorted(repr(v) for v in obj))
    if isinstance(obj, float) and math.isnan(obj):
        return ("nan",)
    if hasattr(obj, "__getstate__") and hasattr(obj, "__dict__"):
        state = obj.__getstate__()
        return (type(obj).__name__, canonical(state if isinstance(state, dict) else vars(obj)))
    return obj


def snapshot(con: duckdb.DuckDBPyConnection) -> dict[str, list]:
    out = {name: con.execute(sql).fetchall() for name, sql in RESULT_QUERIES.items()}
    out["job_state"] = [
        (job, end, canonical(load_state(blob))) for job, end, blob in out["job_state"]
    ]
    return out


def fresh_store(path: Path) -> duckdb.DuckDBPyConnection:
    con = open_store(path)
    insert_events(con, baseline_events(6, seed=3))
    insert_events(con, burst(T0 + timedelta(days=4, hours=5), 30))
    insert_events(
        con,
        [
            {
                **burst(T0 + timedelta(days=5, hours=1), 1, user="u3")[0],
                "event_action": "StopLogging",
            }
        ],
    )
    return con


END = T0 + timedelta(days=6)


@pytest.fixture
def one_shot(tmp_path) -> dict[str, list]:
    con = fresh_store(tmp_path / "once.duckdb")
    run(con, [SPIKE, USER], END)
    result = snapshot(con)
    con.close()
    assert len(result["records"]) > 0 and len(result["influencers"]) > 0
    return result


def test_chunked_runs_equal_one_shot(tmp_path, one_shot):
    con = fresh_store(tmp_path / "chunks.duckdb")
    for end in (
        T0 + timedelta(hours=7, minutes=30),
        T0 + timedelta(days=2, hours=1),
        T0 + timedelta(days=4, hours=5, minutes=15),
        END,
    ):
        run(con, [SPIKE, USER], end, commit_interval=timedelta(hours=5))
    assert snapshot(con) == one_shot


def test_a_resumed_series_job_stores_the_state_bytes_of_one_run(tmp_path):
    # The rare jobs' blobs may still differ in how numpy's dtypes are shared (equal content).
    blobs = []
    for name, ends in (("once", (END,)), ("split", (T0 + timedelta(days=2, hours=1), END))):
        con = fresh_store(tmp_path / f"{name}.duckdb")
        for end in ends:
            run(con, [SPIKE], end)
        blobs.append(con.execute("SELECT state FROM job_state").fetchall())
        con.close()
    assert blobs[0] == blobs[1]


def test_bucket_by_bucket_equals_one_shot_for_the_last_hours(tmp_path, one_shot):
    con = fresh_store(tmp_path / "steps.duckdb")
    run(con, [SPIKE, USER], END - timedelta(hours=8))
    t = END - timedelta(hours=8)
    while t < END:
        t += timedelta(minutes=15)
        run(con, [SPIKE, USER], t)
    assert snapshot(con) == one_shot


def test_killed_run_resumes_without_lost_or_doubled_results(tmp_path, one_shot, monkeypatch):
    con = fresh_store(tmp_path / "killed.duckdb")
    calls = {"n": 0}
    real = bucket_module.write_buckets

    def dies_on_third_write(c, rows):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt("killed")
        return real(c, rows)

    monkeypatch.setattr(bucket_module, "write_buckets", dies_on_third_write)
    with pytest.raises(KeyboardInterrupt):
        # One-day chunks whatever the machine's speed (the default policy would grow them).
        day = timedelta(days=1)
        policy = CommitPolicy(base=day, longest=day)
        run_jobs(
            con, [SPIKE, USER], end=END, now=LATER, settings=ONE_AT_A_TIME, commit_policy=policy
        )
    state = load_job_state(con, SPIKE)
    assert state is not None and state.last_bucket_end is not None
    stored_until = con.execute(
        "SELECT max(timestamp) FROM buckets WHERE job_id = ?", [SPIKE]
    ).fetchall()[0][0]
    # Everything before the saved point is stored, nothing of the rolled-back chunk is.
    assert stored_until + timedelta(minutes=15) == state.last_bucket_end < END
    monkeypatch.setattr(bucket_module, "write_buckets", real)
    run(con, [SPIKE, USER], END)
    assert snapshot(con) == one_shot


# The child opens the store, lets the runner's chunks grow as if processing took no time (a
# clock that stands still: chunks of 1, 2 and 3 days), and kills itself with SIGKILL as the last
# chunk's state is saved, its results written: no Python cleanup, no rollback, the open
# transaction only in the WAL. (With one-day chunks the same kill would leave 5 days saved.)
KILLED_CHILD = """
import os, signal, sys
from datetime import datetime, timedelta
from pathlib import Path
from trailspike.core.settings import load_settings
from trailspike.jobs import runner
from trailspike.jobs.chunking import CommitPolicy
from trailspike.jobs.runner import run_jobs
from trailspike.store.db import open_store

end = datetime.fromisoformat(sys.argv[2])
real = runner.save_job_state

def dies_saving_the_last_chunk(con, job_id, revision, until, blob, size):
    if until == end:
        os.kill(os.getpid(), signal.SIGKILL)
    return real(con, job_id, revision, until, blob, size)

runner.save_job_state = dies_saving_the_last_chunk
"""

# What every killed child runs after patching the runner: the spike and user jobs over the store
# in chunks of 1, 2 and 3 days (a clock that stands still), with ``threads`` job threads.
GROWN_CHUNKS_RUN = """
policy = CommitPolicy(
    base=timedelta(days=1), longest=timedelta(days=3), seconds=30, clock=lambda: 0.0
)
run_jobs(
    open_store(Path(sys.argv[1])),
    ["high_distinct_count_error_message", "rare_method_for_a_username"],
    end=end,
    now=datetime(2027, 1, 1),
    settings=load_settings(
        environ={{}}, config_path=Path("/nonexistent.toml"), overrides={{"job_threads": {threads}}}
    ),
    commit_policy=policy,
)
"""


def run_killed_child(script: str, threads: int, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``script`` then :data:`GROWN_CHUNKS_RUN` in a child Python with this tree's package;
    ``args`` follow as ``sys.argv[1:]`` (the store's path first)."""
    src = str(Path(trailspike.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    code = script + GROWN_CHUNKS_RUN.format(threads=threads)
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def test_run_killed_with_sigkill_in_a_grown_chunk_resumes_exactly(tmp_path, one_shot):
    path = tmp_path / "sigkill.duckdb"
    fresh_store(path).close()
    child = run_killed_child(KILLED_CHILD, 1, str(path), END.isoformat())
    assert child.returncode == -signal.SIGKILL, child.stderr
    con = open_store(path)
    state = load_job_state(con, SPIKE)
    # Chunks of 1 and 2 days were committed; the third, days 3-6, died open and left nothing
    # (no buckets, no state), and the user job never started.
    assert state is not None and state.last_bucket_end == T0 + timedelta(days=3)
    stored_until = con.execute(
        "SELECT max(timestamp) FROM buckets WHERE job_id = ?", [SPIKE]
    ).fetchall()[0][0]
    assert stored_until + timedelta(minutes=15) == state.last_bucket_end
    assert load_job_state(con, USER) is None
    run(con, [SPIKE, USER], END)
    assert snapshot(con) == one_shot
