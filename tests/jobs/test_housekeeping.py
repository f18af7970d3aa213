"""Renormalisation, pruning and the memory limit, through real runs."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

from jobs_synth import T0, baseline_events

from trailspike.core.settings import load_settings
from trailspike.jobs.loader import load_jobs
from trailspike.jobs.runner import run_jobs
from trailspike.store.results import query_records

SETTINGS = load_settings(environ={}, config_path=Path("/nonexistent.toml"))
SPIKE = "high_distinct_count_error_message"


def burst(at: datetime, messages: int) -> list[dict]:
    return [
        {
            "ts": at + timedelta(seconds=k),
            "error_message": f"denied on r{k}",
            "user_identity_arn": "arn:aws:iam::1:user/x",
            "source_ip": "203.0.113.9",
        }
        for k in range(messages)
    ]


def custom_job(tmp_path: Path, job_id: str, **changes) -> Path:
    data = json.loads(Path(load_jobs().sources[job_id]).read_text())
    for dotted, value in changes.items():
        target = data
        *parents, leaf = dotted.split("__")
        for part in parents:
            target = target[part]
        target[leaf] = value
    path = tmp_path / f"{job_id}.json"
    path.write_text(json.dumps(data))
    return path


def test_bigger_anomaly_renormalises_earlier_scores_but_not_initial(store, add_events):
    add_events(baseline_events(9))
    first = T0 + timedelta(days=6, hours=4)
    add_events(burst(first + timedelta(minutes=1), 10))  # clearly anomalous: p < 1e-4
    add_events(burst(T0 + timedelta(days=8, hours=4, minutes=1), 80))
    run_jobs(
        store, [SPIKE], end=T0 + timedelta(days=9), now=datetime(2027, 1, 1), settings=SETTINGS
    )
    (early,) = [r for r in query_records(store, SPIKE) if r["timestamp"] == first]
    assert early["initial_record_score"] > early["record_score"]
    latest = query_records(store, SPIKE, limit=1)[0]
    assert latest["record_score"] == latest["initial_record_score"] >= 75
    bucket = store.execute(
        "SELECT anomaly_score, initial_anomaly_score FROM buckets "
        "WHERE job_id = ? AND timestamp = ?",
        [SPIKE, first],
    ).fetchall()
    assert bucket == [(early["record_score"], early["initial_record_score"])]


def test_partitions_unseen_for_the_prune_window_are_dropped(store, add_events, tmp_path):
    path = custom_job(
        tmp_path, "rare_method_for_a_username", analysis_config__model_prune_window="2d"
    )
    rows = baseline_events(5)
    rows = [r for r in rows if r["user_name"] != "u5" or r["ts"] < T0 + timedelta(days=1)]
    add_events(rows)
    (summary,) = run_jobs(
        store,
        end=T0 + timedelta(days=5),
        now=datetime(2027, 1, 1),
        settings=SETTINGS,
        jobs=load_jobs([path]),
    )
    assert summary.pruned == 1 and summary.models == 5


def test_memory_limit_drops_least_recently_seen_models(store, add_events, tmp_path):
    path = custom_job(
        tmp_path, "rare_method_for_a_username", analysis_limits__model_memory_limit="20kb"
    )
    add_events(baseline_events(3))
    (summary,) = run_jobs(
        store,
        end=T0 + timedelta(days=3),
        now=datetime(2027, 1, 1),
        settings=SETTINGS,
        jobs=load_jobs([path]),
    )
    assert summary.memory_status == "hard_limit" and summary.pruned > 0
    assert summary.models < 6
