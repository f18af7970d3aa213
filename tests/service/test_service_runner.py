"""The service in-process: cycles, catch-up, delivery retries, state, and sharing the store."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "rules"))
from rules_helpers import SPIKE_RULE, add_records, spike_record

from trailspike.core.errors import StoreBusyError, TrailspikeError
from trailspike.outputs.base import AlertDoc
from trailspike.rules.engine import default_settings
from trailspike.rules.loader import load_rules
from trailspike.service.access import open_store_waiting
from trailspike.service.runner import Service, ServiceLock
from trailspike.store.db import open_store

T0 = datetime(2026, 3, 2, 10, 0)


class Memory:
    name = "memory"

    def __init__(self) -> None:
        self.down = False
        self.seen: list[str] = []

    def send(self, alerts: Sequence[AlertDoc]) -> list[str | None]:
        if self.down:
            return ["down"] * len(alerts)
        self.seen.extend(str(a["kibana.alert.uuid"]) for a in alerts)
        return [None] * len(alerts)

    def close(self) -> None:
        return None


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _service(tmp_path: Path, clock: Clock, out: Memory) -> Service:
    settings = {**default_settings(), "db": str(tmp_path / "s.duckdb"), "outputs": ""}
    rules = load_rules()
    rules.items = [i for i in rules.items if i.rule_id == SPIKE_RULE]
    return Service(settings, rules=rules, outputs=[out], clock=clock)


def test_cycles_alert_once_catch_up_and_retry_delivery(tmp_path: Path) -> None:
    con = open_store(tmp_path / "s.duckdb")
    add_records(con, spike_record(T0, 87.0), spike_record(T0 + timedelta(minutes=30), 75.0))
    con.close()
    clock, out = Clock(T0 + timedelta(minutes=20)), Memory()
    service = _service(tmp_path, clock, out)
    out.down = True
    first = service.run_cycle()
    assert [len(r.alerts_created) for r in first.executions] == [1]  # only 10:15 is due
    assert first.failed == {"memory": 1} and out.seen == []
    out.down = False
    clock.now = T0 + timedelta(minutes=80)  # the service "was down": 10:30 … 11:15 are due
    second = service.run_cycle()
    assert [r.executed_at.strftime("%H:%M") for r in second.executions] == [
        "10:30",
        "10:45",
        "11:00",
        "11:15",
    ]
    assert second.alerts_created == 1
    assert second.delivered == {"memory": 2}  # the earlier failure is delivered now
    assert len(set(out.seen)) == len(out.seen) == 2
    assert service.run_cycle().delivered == {}
    con = open_store(tmp_path / "s.duckdb")
    state = dict(con.execute("SELECT key, value FROM service_state").fetchall())
    con.close()
    assert state["cycles"] == "3"
    assert state["last_cycle_started_at"].startswith("2026-03-02T11:20")


def test_history_before_first_start_is_not_delivered(tmp_path: Path) -> None:
    from trailspike.rules.engine import execute_rule

    con = open_store(tmp_path / "s.duckdb")
    add_records(con, spike_record(T0, 87.0))
    execute_rule(con, load_rules().get(SPIKE_RULE), T0 + timedelta(minutes=15))
    con.close()
    out = Memory()
    report = _service(tmp_path, Clock(T0 + timedelta(days=30)), out).run_cycle()
    assert report.delivered == {} and out.seen == []


def test_a_failing_step_does_not_stop_the_others(tmp_path: Path) -> None:
    clock, out = Clock(T0 + timedelta(minutes=20)), Memory()
    service = _service(tmp_path, clock, out)
    con = open_store(tmp_path / "s.duckdb")
    add_records(con, spike_record(T0, 87.0))
    con.close()
    service.settings = {**service.settings, "sources": str(tmp_path / "missing-folder")}
    report = service.run_cycle()
    assert report.errors and report.errors[0].startswith("ingest:")
    assert report.alerts_created == 1 and report.delivered == {"memory": 1}


def test_data_out_of_time_stays_on_record_until_newer_replaces_it(tmp_path: Path) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ingest"))
    from ingest_helpers import record, write_s3_file

    def errors(day: int, first: int) -> list[dict[str, object]]:
        return [
            record(first + k, eventTime=f"2026-01-{day:02d}T10:{k:02d}:00Z", errorCode="X",
                   errorMessage=f"no {first + k}")
            for k in range(10)
        ]  # fmt: skip

    source = tmp_path / "trail"
    source.mkdir()
    write_s3_file(source / "d2.json.gz", errors(2, 100))
    write_s3_file(source / "d3.json.gz", errors(3, 200))
    clock, out = Clock(datetime(2026, 1, 4)), Memory()
    service = _service(tmp_path, clock, out)
    service.settings = {**service.settings, "sources": str(source)}
    assert not service.run_cycle().errors  # ingests, the jobs analyse up to the 3rd
    write_s3_file(source / "d1.json.gz", errors(1, 300))  # a region delivered late
    clock.now += timedelta(minutes=5)
    assert not service.run_cycle().errors
    clock.now += timedelta(minutes=5)
    service.run_cycle()  # nothing new: the notice stays
    con = open_store(tmp_path / "s.duckdb")
    state = dict(con.execute("SELECT key, value FROM service_state").fetchall())
    con.close()
    seen = json.loads(state["last_out_of_time"])
    assert seen["at"].startswith("2026-01-04T00:05")
    assert "high_distinct_count_error_message 10 (analysed up to" in seen["notes"][0]


def test_only_one_service_per_store(tmp_path: Path) -> None:
    first = ServiceLock(str(tmp_path / "s.duckdb"))
    first.acquire()
    try:
        with pytest.raises(TrailspikeError, match="already serves this store"):
            ServiceLock(str(tmp_path / "s.duckdb")).acquire()
    finally:
        first.release()
    again = ServiceLock(str(tmp_path / "s.duckdb"))
    again.acquire()
    again.release()


HOLD = (
    "import sys, time\n"
    "from trailspike.store.db import open_store\n"
    "con = open_store(sys.argv[1]); print('held', flush=True); time.sleep(float(sys.argv[2]))\n"
)


def test_commands_wait_for_a_busy_store_then_explain(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    open_store(path).close()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path), "4"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(StoreBusyError, match="frees the store between cycles"):
            open_store_waiting(path, wait=0.5)
        con = open_store_waiting(path, wait=30)  # the holder exits after 4 s
        con.close()
    finally:
        holder.kill()
        holder.wait()


def test_missing_store_is_explained(tmp_path: Path) -> None:
    with pytest.raises(TrailspikeError, match="no store at"):
        open_store_waiting(tmp_path / "none.duckdb", read_only=True, must_exist=True)
    assert not (tmp_path / "none.duckdb").exists()


def test_run_once_exits_non_zero_when_a_step_failed(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from trailspike.cli import cli
    from trailspike.core.timeutil import bucket_start, utcnow

    con = open_store(tmp_path / "s.duckdb")
    latest = bucket_start(utcnow(), timedelta(minutes=15))
    add_records(con, spike_record(latest - timedelta(minutes=15), 87.0))
    con.close()
    args = [
        "run", "--once", "--db", str(tmp_path / "s.duckdb"), "--source", str(tmp_path / "nope"),
        "--output", "ndjson", "--setting", "ndjson_path", str(tmp_path / "a.ndjson"),
    ]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1
    # The other steps still ran: the alert was raised and delivered.
    assert len((tmp_path / "a.ndjson").read_text().splitlines()) == 1


def test_the_service_prunes_to_the_retention_once_a_day(tmp_path: Path) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "jobs"))
    from jobs_synth import insert_events

    con = open_store(tmp_path / "s.duckdb")
    days = [T0 - timedelta(days=d) for d in range(20)]
    insert_events(con, [{"ts": at, "error_message": "denied", "error_code": "X"} for at in days])
    con.close()
    clock, out = Clock(T0 + timedelta(hours=1)), Memory()
    settings = {
        **default_settings(),
        "db": str(tmp_path / "s.duckdb"),
        "outputs": "",
        "events_retention": "7d",
    }
    service = Service(settings, rules=load_rules(), outputs=[out], clock=clock)
    first = service.run_cycle()
    assert first.pruned == "deleted 12 events" and "retention: deleted 12" in first.summary_line()
    clock.now += timedelta(hours=2)
    assert service.run_cycle().pruned == ""  # pruned less than a day ago
    clock.now += timedelta(days=1)
    assert service.run_cycle().pruned == "deleted nothing"
    con = open_store(tmp_path / "s.duckdb")
    left = con.execute("SELECT min(ts), count(*) FROM events").fetchone()
    shown = con.execute("SELECT value FROM service_state WHERE key = 'last_prune'").fetchone()
    con.close()
    assert shown == ("deleted nothing",)  # the web overview shows the last prune
    assert left == (T0 - timedelta(days=7), 8)


def test_a_bad_retention_stops_the_service_at_start(tmp_path: Path) -> None:
    settings = {**default_settings(), "db": str(tmp_path / "s.duckdb"), "events_retention": "1d"}
    with pytest.raises(TrailspikeError, match="shorter than 7d"):
        Service(settings, rules=load_rules(), outputs=[Memory()])


def test_a_standing_warning_is_logged_once_until_it_goes_away(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock, out = Clock(T0 + timedelta(minutes=20)), Memory()
    service = _service(tmp_path, clock, out)  # the spike rule; its job has no input yet

    def logged() -> list[str]:
        found = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
        caplog.clear()
        return found

    with caplog.at_level("WARNING", logger="trailspike.service"):
        service.run_cycle()
        first = logged()
        assert len(first) == 1 and "no events are stored yet" in first[0]
        clock.now += timedelta(minutes=45)  # three more executions, the same condition
        assert [len(r.warnings) for r in service.run_cycle().executions] == [1, 1, 1]
        assert logged() == []
        con = open_store(tmp_path / "s.duckdb")
        add_records(con, spike_record(T0 + timedelta(minutes=45), 30.0))
        con.execute(
            "INSERT INTO job_state (job_id, last_bucket_end, updated_at) VALUES (?, ?, ?)",
            ["high_distinct_count_error_message", clock.now, clock.now],
        )
        con.close()
        clock.now += timedelta(minutes=15)
        service.run_cycle()  # the job has run: no warning
        assert logged() == []
        con = open_store(tmp_path / "s.duckdb")
        con.execute("DELETE FROM job_state")
        con.execute("DELETE FROM records")
        con.close()
        clock.now += timedelta(minutes=15)
        service.run_cycle()
        assert len(logged()) == 1  # it came back: logged again


def test_between_daily_full_scans_only_recent_dated_folders_are_listed(tmp_path: Path) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ingest"))
    from ingest_helpers import record, write_s3_file

    trail = tmp_path / "AWSLogs" / "123456789012" / "CloudTrail" / "us-east-1"

    def deliver(day: str, n: int) -> None:
        folder = trail / day
        folder.mkdir(parents=True, exist_ok=True)
        write_s3_file(folder / f"f{n}.json.gz", [record(n)])

    deliver("2026/02/20", 1)
    clock, out = Clock(T0), Memory()  # T0 is 2026-03-02 10:00
    settings = {
        **default_settings(),
        "db": str(tmp_path / "s.duckdb"),
        "outputs": "",
        "sources": str(tmp_path / "AWSLogs"),
        "ingest_workers": 1,
    }
    service = Service(settings, rules=load_rules(), outputs=[out], clock=clock)
    first = service.run_cycle()
    assert first.ingest.startswith("1 files") and "folders from" not in first.ingest
    deliver("2026/02/21", 2)  # late, into an old folder
    deliver("2026/03/01", 3)
    clock.now += timedelta(hours=1)
    second = service.run_cycle()
    assert "folders from 2026-02-28" in second.ingest
    assert second.ingest.startswith("1 files (0 skipped)")  # only the recent folder's file
    clock.now += timedelta(days=1)
    third = service.run_cycle()  # the daily full scan finds the late file
    assert third.ingest.startswith("3 files (2 skipped)") and "folders from" not in third.ingest
    con = open_store(tmp_path / "s.duckdb")
    assert con.execute("SELECT count(*) FROM ingested_files").fetchone() == (3,)
    con.close()
