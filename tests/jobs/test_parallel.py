"""Jobs run in threads (setting ``job_threads``): the rows and model states of one job after
the other, and a run killed or failing in a thread resumes to them."""

from __future__ import annotations

import signal
import threading
import time
from datetime import datetime, timedelta

import duckdb
import pytest
from jobs_synth import T0
from test_runner import END, LATER, SETTINGS, SPIKE, USER, fresh_store, run_killed_child, snapshot

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


@pytest.mark.parametrize("failing", [SPIKE, USER])
def test_a_job_failing_in_a_thread_stops_the_other_after_its_chunk(
    tmp_path, one_after_another, monkeypatch, failing
):
    """The user job (the costliest) runs in the caller's thread, the spike job in the other;
    either failing stops the other after the chunk it is in, and a later run completes both."""
    con = fresh_store(tmp_path / "fails.duckdb")
    real = bucket_module.write_buckets
    written: dict[str, int] = {}

    def dies_on_its_third_write(c, rows):
        job = rows[0]["job_id"] if rows else None
        written[job] = written.get(job, 0) + 1
        if job == failing and written[job] == 3:
            raise KeyboardInterrupt("killed")
        return real(c, rows)

    monkeypatch.setattr(bucket_module, "write_buckets", dies_on_its_third_write)
    day = timedelta(days=1)
    with pytest.raises(KeyboardInterrupt):  # the failure itself, not the other's RunStopped
        run_jobs(
            con,
            [SPIKE, USER],
            end=END,
            now=LATER,
            settings=TWO,
            commit_policy=CommitPolicy(base=day, longest=day),
        )
    for job in (SPIKE, USER):
        state = load_job_state(con, job)
        # Each job kept whole chunks (the first one always commits before a third write)
        # and nothing after them; the failing one stopped before the end.
        assert state is not None and T0 < state.last_bucket_end <= END
        assert job != failing or state.last_bucket_end < END
        assert _rows_from(con, job, state.last_bucket_end) == 0
    monkeypatch.setattr(bucket_module, "write_buckets", real)
    run_jobs(con, [SPIKE, ERRORS, USER], end=END, now=LATER, settings=TWO)
    assert snapshot(con) == {k: v for k, v in one_after_another.items() if k != "blobs"}


def _rows_from(con: duckdb.DuckDBPyConnection, job_id: str, since: datetime) -> int:
    sql = (
        "SELECT (SELECT count(*) FROM buckets WHERE job_id = ? AND timestamp >= ?)"
        " + (SELECT count(*) FROM records WHERE job_id = ? AND timestamp >= ?)"
    )
    return int(con.execute(sql, [job_id, since, job_id, since]).fetchall()[0][0])


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
"""


def test_run_killed_with_two_jobs_open_in_threads_resumes_exactly(tmp_path):
    path = tmp_path / "sigkill.duckdb"
    fresh_store(path).close()
    day3 = T0 + timedelta(days=3)
    child = run_killed_child(KILLED_IN_THREADS, 2, str(path), END.isoformat(), day3.isoformat())
    assert child.returncode == -signal.SIGKILL, child.stderr
    con = open_store(path)
    spike, user = load_job_state(con, SPIKE), load_job_state(con, USER)
    # Each job kept exactly its committed chunks: the spike job days 0-3, the user job day 0.
    assert spike is not None and spike.last_bucket_end == day3
    assert user is not None and user.last_bucket_end == T0 + timedelta(days=1)
    assert _stored_until(con, SPIKE) + timedelta(minutes=15) == spike.last_bucket_end
    assert _rows_from(con, SPIKE, spike.last_bucket_end) == 0
    assert _rows_from(con, USER, user.last_bucket_end) == 0
    run_jobs(con, [SPIKE, USER], end=END, now=LATER, settings=TWO)
    once = fresh_store(tmp_path / "once.duckdb")
    run_jobs(once, [SPIKE, USER], end=END, now=LATER, settings=ONE)
    assert snapshot(con) == snapshot(once)


def test_a_failure_stops_the_other_thread_between_chunks_and_starts_nothing_new(monkeypatch):
    """With stand-in jobs: the caller's thread fails while the other is in its job; that one
    stops before its next chunk, the queued job never starts, the failure is raised."""
    from trailspike.jobs import parallel

    monkeypatch.setattr(parallel, "costliest_first", lambda con, jobs: list(range(len(jobs))))
    started: list[str] = []
    chunks: list[str] = []
    other_in_job = threading.Event()

    def run_one(connection, job, stopped):
        started.append(job)
        if job == "fails":
            other_in_job.wait(10)
            raise RuntimeError("broken")
        other_in_job.set()
        for _ in range(1000):
            if stopped():
                raise parallel.RunStopped(job)
            chunks.append(job)
            time.sleep(0.01)
        return job

    con = duckdb.connect()
    with pytest.raises(RuntimeError, match="broken"):
        parallel.run_in_threads(con, ["fails", "stops", "queued"], run_one, 2)
    assert sorted(started) == ["fails", "stops"]
    assert 0 < len(chunks) < 1000
