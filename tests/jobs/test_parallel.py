"""Jobs run in threads (setting ``job_threads``): the rows and model states of one job after
the other, and a run killed or failing in a thread resumes to them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from jobs_synth import T0
from test_runner import END, LATER, SETTINGS, SPIKE, USER, fresh_store, snapshot

import trailspike
from trailspike.jobs import bucket as bucket_module
from trailspike.jobs.chunking import CommitPolicy
from trailspike.jobs.loader import load_jobs
from trailspike.jobs.parallel import costliest_first, estimated_series
from trailspike.jobs.runner import run_jobs
from trailspike.store.db import open_store
from trailspike.store.results import load_job_state

ONE = {**SETTINGS, "job_threads": 1}
TWO = {**SETTINGS, "job_threads": 2}
ERRORS = "rare_error_code"


@pytest.fixture
def one_after_another(tmp_path) -> dict[str, list]:
    con = fresh_store(tmp_path / "sequential.duckdb")
    run_jobs(con, [SPIKE, ERRORS, USER], end=END, now=LATER, settings=ONE)
    result = snapshot(con)
    result["blobs"] = con.execute("SELECT job_id, state FROM job_state ORDER BY 1").fetchall()
    con.close()
    return result


def test_two_threads_store_the_rows_and_state_bytes_of_one(tmp_path, one_after_another):
    con = fresh_store(tmp_path / "threads.duckdb")
    summaries = run_jobs(con, [SPIKE, ERRORS, USER], end=END, now=LATER, settings=TWO)
    assert [s.job_id for s in summaries] == [SPIKE, ERRORS, USER]  # the order asked for
    assert all(s.status == "ran" for s in summaries)
    result = snapshot(con)
    result["blobs"] = con.execute("SELECT job_id, state FROM job_state ORDER BY 1").fetchall()
    assert result == one_after_another


def test_the_costliest_job_is_started_first(tmp_path):
    con = fresh_store(tmp_path / "order.duckdb")
    jobs = [load_jobs().get(j) for j in (SPIKE, ERRORS, USER)]
    costs = [estimated_series(con, job) for job in jobs]
    assert costs[2] > costs[1] >= costs[0] == 1  # the spike job has one series
    assert costliest_first(con, jobs)[0] == 2
    assert costliest_first(con, jobs[:2]) == ([1, 0] if costs[1] > 1 else [0, 1])  # ties stay


def test_a_job_failing_in_a_thread_lets_the_running_one_finish_then_raises(
    tmp_path, one_after_another, monkeypatch
):
    con = fresh_store(tmp_path / "fails.duckdb")
    real = bucket_module.write_buckets
    written: dict[str, int] = {}

    def spike_dies_on_its_third_write(c, rows):
        job = rows[0]["job_id"] if rows else None
        written[job] = written.get(job, 0) + 1
        if job == SPIKE and written[job] == 3:
            raise KeyboardInterrupt("killed")
        return real(c, rows)

    monkeypatch.setattr(bucket_module, "write_buckets", spike_dies_on_its_third_write)
    day = timedelta(days=1)
    with pytest.raises(KeyboardInterrupt):
        run_jobs(
            con,
            [SPIKE, USER],
            end=END,
            now=LATER,
            settings=TWO,
            commit_policy=CommitPolicy(base=day, longest=day),
        )
    spike = load_job_state(con, SPIKE)
    user = load_job_state(con, USER)
    # The user job (the costliest: first, in the caller's thread) ran to its end; the spike
    # job (the other thread) kept the days it committed and nothing of the open one.
    assert user is not None and user.last_bucket_end == END
    assert spike is not None and T0 < spike.last_bucket_end < END
    assert _stored_until(con, SPIKE) + timedelta(minutes=15) == spike.last_bucket_end
    monkeypatch.setattr(bucket_module, "write_buckets", real)
    run_jobs(con, [SPIKE, ERRORS, USER], end=END, now=LATER, settings=TWO)
    assert snapshot(con) == {k: v for k, v in one_after_another.items() if k != "blobs"}


def _stored_until(con: duckdb.DuckDBPyConnection, job_id: str) -> datetime:
    sql = "SELECT max(timestamp) FROM buckets WHERE job_id = ?"
    return con.execute(sql, [job_id]).fetchall()[0][0]


# The child runs the spike and user jobs in two threads with chunks of 1, 2 and 3 days (a clock
# that stands still). The user job's second chunk (days 1-3) holds its results unsaved until the
# spike job saves its last chunk, which kills the process with SIGKILL: both jobs have an open
# transaction at the kill, each with results written and nothing committed.
KILLED_IN_THREADS = """
import os, signal, sys, threading
from datetime import datetime, timedelta
from pathlib import Path
from trailspike.core.settings import load_settings
from trailspike.jobs import runner
from trailspike.jobs.chunking import CommitPolicy
from trailspike.jobs.runner import run_jobs
from trailspike.store.db import open_store
from trailspike.store.db import open_store

end = datetime.fromisoformat(sys.argv[2])
day3 = datetime.fromisoformat(sys.argv[3])
real = runner.save_job_state
user_open = threading.Event()

def kill_with_both_chunks_open(con, job_id, revision, until, blob, size):
    if job_id == "rare_method_for_a_username" and until == day3:
        user_open.set()
        threading.Event().wait(60)  # held open until the kill
    if job_id == "high_distinct_count_error_message" and until == end:
        user_open.wait(60)
        os.kill(os.getpid(), signal.SIGKILL)
    return real(con, job_id, revision, until, blob, size)

runner.save_job_state = kill_with_both_chunks_open
policy = CommitPolicy(
    base=timedelta(days=1), longest=timedelta(days=3), seconds=30, clock=lambda: 0.0
)
run_jobs(
    open_store(Path(sys.argv[1])),
    ["high_distinct_count_error_message", "rare_method_for_a_username"],
    end=end,
    now=datetime(2027, 1, 1),
    settings=load_settings(
        environ={}, config_path=Path("/nonexistent.toml"), overrides={"job_threads": 2}
    ),
    commit_policy=policy,
)
"""


def test_run_killed_with_two_jobs_open_in_threads_resumes_exactly(tmp_path):
    path = tmp_path / "sigkill.duckdb"
    fresh_store(path).close()
    src = str(Path(trailspike.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    day3 = T0 + timedelta(days=3)
    child = subprocess.run(
        [sys.executable, "-c", KILLED_IN_THREADS, str(path), END.isoformat(), day3.isoformat()],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr
    con = open_store(path)
    spike, user = load_job_state(con, SPIKE), load_job_state(con, USER)
    # Each job kept exactly its committed chunks: the spike job days 0-3, the user job day 0.
    assert spike is not None and spike.last_bucket_end == day3
    assert user is not None and user.last_bucket_end == T0 + timedelta(days=1)
    assert _stored_until(con, SPIKE) + timedelta(minutes=15) == spike.last_bucket_end
    user_rows = con.execute(
        "SELECT count(*) FROM records WHERE job_id = ? AND timestamp >= ?",
        [USER, user.last_bucket_end],
    ).fetchall()[0][0]
    assert user_rows == 0
    run_jobs(con, [SPIKE, USER], end=END, now=LATER, settings=TWO)
    once = fresh_store(tmp_path / "once.duckdb")
    run_jobs(once, [SPIKE, USER], end=END, now=LATER, settings=ONE)
    assert snapshot(con) == snapshot(once)
