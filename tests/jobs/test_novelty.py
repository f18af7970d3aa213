"""Early results of a burst of new methods count only the methods known by their data end."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import duckdb
from jobs_synth import T0, baseline_events, insert_events

from trailspike.core.settings import load_settings
from trailspike.jobs.runner import run_jobs
from trailspike.store.db import open_store

SETTINGS = load_settings(environ={}, config_path=Path("/nonexistent.toml"))
USER = "rare_method_for_a_username"
LATER = datetime(2027, 1, 1)
DAY8 = T0 + timedelta(days=8)
SECRETS = ["GetSecretValue", "ListSecrets", "ListKeys", "DescribeParameters", "Decrypt"]
BURST_START = DAY8 + timedelta(hours=10, minutes=4)


def secrets_team(days: int) -> list[dict[str, Any]]:
    """Two people who use the secrets methods every working hour (so they are known)."""
    return [
        {
            "ts": T0 + timedelta(days=d, hours=h, minutes=7 * n),
            "event_action": action,
            "user_identity_arn": f"arn:aws:iam::111122223333:user/ops{k}",
            "user_name": f"ops{k}",
            "source_ip": "10.0.1.1",
            "source_geo_city_name": "Dublin",
        }
        for d in range(days)
        for h in range(9, 17)
        for k in range(2)
        for n, action in enumerate(SECRETS)
    ]


def calls(user: str, actions: list[str], start: datetime) -> list[dict[str, Any]]:
    """``user`` calls each action once, seven minutes apart from ``start``."""
    return [
        {
            "ts": start + timedelta(minutes=7 * n, seconds=30),
            "event_action": action,
            "user_identity_arn": f"arn:aws:iam::111122223333:user/{user}",
            "user_name": user,
            "source_ip": "10.0.0.3",
            "source_geo_city_name": "Dublin",
        }
        for n, action in enumerate(actions)
    ]


def rows(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, dict[str, Any]]:
    cur = con.execute(
        f"SELECT * FROM {table} WHERE job_id = ? AND partition_field_value = 'u2'",
        [USER],
    )
    names = [d[0] for d in cur.description]
    found = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    return {r["by_field_value"]: r for r in found}


def world(con: duckdb.DuckDBPyConnection, actions: list[str]) -> None:
    insert_events(con, baseline_events(9))
    insert_events(con, secrets_team(9))
    insert_events(con, calls("u2", actions, BURST_START))


def test_a_burst_scores_each_new_method_by_the_methods_known_by_its_data_end(store, tmp_path):
    world(store, SECRETS)
    run_jobs(store, [USER], end=DAY8 + timedelta(hours=14), now=LATER, settings=SETTINGS)
    early, final = rows(store, "early_records"), rows(store, "records")
    assert set(final) == set(SECRETS)
    ordered = sorted(early.values(), key=lambda r: r["data_end"])
    assert [r["by_field_value"] for r in ordered] == SECRETS
    # An early result never shows more than its final record, and the last method's early
    # result already knows the whole burst.
    for r in ordered:
        assert r["probability"] >= final[r["by_field_value"]]["probability"]
        assert r["record_id"] == final[r["by_field_value"]]["record_id"]
    assert ordered[-1]["probability"] == final[SECRETS[-1]]["probability"]
    # Each result says how many new methods it counted: the early ones those seen by then.
    counts = [json.loads(r["explanation"])["novelty_burst"]["new_categories"] for r in ordered]
    assert counts == [1, 2, 3, 4, 5]
    for method in SECRETS:
        burst = json.loads(final[method]["explanation"])["novelty_burst"]
        assert burst["new_categories"] == 5
        assert burst["burst_probability"] < burst["own_probability"]
    # The burst grows more surprising as it grows.
    probabilities = [r["probability"] for r in ordered]
    assert probabilities[-1] < probabilities[0] / 10
    assert all(b <= a for a, b in pairwise(probabilities[1:]))

    # The same first method alone (no burst) gets exactly the first early result's probability.
    con = open_store(tmp_path / "alone.duckdb")
    world(con, SECRETS[:1])
    run_jobs(con, [USER], end=DAY8 + timedelta(hours=14), now=LATER, settings=SETTINGS)
    (single,) = rows(con, "records").values()
    assert single["probability"] == ordered[0]["probability"]
    assert single["probability"] > final[SECRETS[0]]["probability"] * 10
    con.close()


def test_a_live_run_counts_only_the_new_methods_of_the_data_known_so_far(store):
    world(store, SECRETS)
    # 10:40 minus the query delay and CloudTrail's delivery delay: data known to about 10:23,
    # i.e. the first three methods (10:04, 10:11, 10:18).
    run_jobs(store, [USER], now=DAY8 + timedelta(hours=10, minutes=40), settings=SETTINGS)
    early = sorted(rows(store, "early_records").values(), key=lambda r: r["data_end"])
    assert [r["by_field_value"] for r in early] == SECRETS[:3]
    assert rows(store, "records") == {}
    run_jobs(store, [USER], end=DAY8 + timedelta(hours=14), now=LATER, settings=SETTINGS)
    final = rows(store, "records")
    # What the live run knew of the third method could only understate the whole hour.
    assert early[2]["probability"] >= final[SECRETS[2]]["probability"]
    assert early[2]["probability"] < early[0]["probability"]
