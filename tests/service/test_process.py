"""`trailspike run` as a real process: kill -9 and restart lose and duplicate nothing; SIGTERM."""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "rules"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "outputs"))
from outputs_fakes import serve
from rules_helpers import SPIKE_RULE, add_records, spike_record

from trailspike.core.timeutil import bucket_start, utcnow
from trailspike.store.db import open_store


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRAILSPIKE_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _command(tmp_path: Path, port: int, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "trailspike", "run",
        "--db", str(tmp_path / "s.duckdb"),
        "--output", "ndjson", "--output", "webhook",
        "--setting", "ndjson_path", str(tmp_path / "alerts.ndjson"),
        "--setting", "webhook_url", f"http://127.0.0.1:{port}/hook",
        "--setting", "webhook_retries", "1",
        *extra,
    ]  # fmt: skip


def _ndjson_ids(tmp_path: Path) -> list[str]:
    path = tmp_path / "alerts.ndjson"
    if not path.exists():
        return []
    lines = path.read_text().splitlines()
    return [json.loads(line)["kibana.alert.uuid"] for line in lines if line.endswith("}")]


def _seed(tmp_path: Path) -> None:
    """Two anomalies in the last hour; the spike rule last ran two hours ago (catch-up due)."""
    latest = bucket_start(utcnow(), timedelta(minutes=15))
    con = open_store(tmp_path / "s.duckdb")
    add_records(
        con,
        spike_record(latest - timedelta(minutes=15), 88.0),
        spike_record(latest - timedelta(minutes=30), 71.0),
    )
    then = latest - timedelta(hours=2)
    con.execute(
        "INSERT INTO rule_executions VALUES (?, ?, ?, ?, 0, '[]')",
        [SPIKE_RULE, then, then - timedelta(hours=1), then],
    )
    con.close()


@pytest.mark.slow
def test_kill_9_and_restart_lose_and_duplicate_nothing(tmp_path: Path) -> None:
    _seed(tmp_path)
    port = _free_port()  # nothing listens yet: every webhook delivery fails for now
    log = (tmp_path / "service.log").open("w")
    proc = subprocess.Popen(
        _command(tmp_path, port, "--interval", "1s"), cwd=tmp_path, env=_env(), stderr=log
    )
    deadline = time.monotonic() + 120
    while len(_ndjson_ids(tmp_path)) < 2 and time.monotonic() < deadline:
        assert proc.poll() is None, (tmp_path / "service.log").read_text()
        time.sleep(0.2)
    time.sleep(1.5)  # a few more cycles retrying the webhook
    proc.kill()  # SIGKILL: no clean-up at all
    proc.wait()
    # Kill it a few more times at random moments, mid-cycle or asleep.
    rng = random.Random(7)
    for _ in range(3):
        proc = subprocess.Popen(
            _command(tmp_path, port, "--interval", "1s"), cwd=tmp_path, env=_env(), stderr=log
        )
        time.sleep(rng.uniform(0.5, 4.0))
        proc.kill()
        proc.wait()
    with serve(port) as (_, rec):
        done = subprocess.run(
            _command(tmp_path, port, "--once"), cwd=tmp_path, env=_env(), stderr=log, timeout=120
        )
        assert done.returncode == 0, (tmp_path / "service.log").read_text()
    log.close()
    con = open_store(tmp_path / "s.duckdb", read_only=True)
    alerts = [r[0] for r in con.execute("SELECT alert_uuid FROM alerts").fetchall()]
    deliveries = con.execute(
        "SELECT output, delivered_at IS NOT NULL, attempts FROM alert_deliveries ORDER BY output"
    ).fetchall()
    con.close()
    assert len(alerts) == 2
    assert sorted(_ndjson_ids(tmp_path)) == sorted(alerts)  # each exactly once
    posted = [json.loads(body)["kibana.alert.uuid"] for _, _, _, body in rec.requests]
    assert sorted(posted) == sorted(alerts)  # each exactly once, after the restart
    assert [(o, ok) for o, ok, _ in deliveries] == [("ndjson", True)] * 2 + [("webhook", True)] * 2
    assert all(attempts >= 2 for o, _, attempts in deliveries if o == "webhook")


def test_sigterm_stops_cleanly(tmp_path: Path) -> None:
    _seed(tmp_path)
    log_path = tmp_path / "service.log"
    with serve() as (url, rec), log_path.open("w") as log:
        port = int(url.rsplit(":", 1)[1])
        proc = subprocess.Popen(
            _command(tmp_path, port, "--interval", "10m"), cwd=tmp_path, env=_env(), stderr=log
        )
        deadline = time.monotonic() + 120
        while "cycle " not in log_path.read_text() and time.monotonic() < deadline:
            assert proc.poll() is None, log_path.read_text()
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    text = log_path.read_text()
    assert "received SIGTERM" in text and "stopped after 1 cycles" in text
    assert len(rec.requests) == 2
    # The lock is released: another service may start on the same store.
    done = subprocess.run(
        _command(tmp_path, port, "--once"),
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
