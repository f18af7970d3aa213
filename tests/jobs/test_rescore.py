"""Renormalisation as columns, and writes of a run appending after what is stored."""

from __future__ import annotations

from datetime import datetime, timedelta

import duckdb
import numpy as np
import pytest

from trailspike.jobs.rescore import rescore_window
from trailspike.store.db import open_store
from trailspike.store.results import (
    appending,
    record_id,
    scored_in_window,
    update_scores,
    write_buckets,
    write_influencers,
    write_records,
)

T0 = datetime(2026, 1, 1, 10)
END = T0 + timedelta(hours=3)


def bucket(ts: datetime, score: float, job: str = "j") -> dict:
    return {
        "job_id": job,
        "timestamp": ts,
        "bucket_span": 3600,
        "anomaly_score": score,
        "initial_anomaly_score": score,
        "event_count": 1,
    }


def record(ts: datetime, by: str, p: float, score: float, confidence: float = 1.0) -> dict:
    return {
        "record_id": record_id("j", ts, 3600, 0, by=by),
        "job_id": "j",
        "timestamp": ts,
        "bucket_span": 3600,
        "detector_index": 0,
        "function": "rare",
        "function_description": "rare",
        "by_field_name": "event.action",
        "by_field_value": by,
        "probability": p,
        "record_score": score,
        "initial_record_score": score,
        "score_confidence": confidence,
    }


def influencer(ts: datetime, value: str, p: float, score: float) -> dict:
    return {
        "job_id": "j",
        "timestamp": ts,
        "bucket_span": 3600,
        "influencer_field_name": "user.name",
        "influencer_field_value": value,
        "influencer_score": score,
        "initial_influencer_score": score,
        "probability": p,
        "score_confidence": 0.5,
    }


def scorer(p: np.ndarray, confidence: np.ndarray) -> np.ndarray:
    out: np.ndarray = np.round(np.where(p < 0.01, -np.log10(p) * 10 * confidence, 0.0), 6)
    return out


def stored(path: str) -> duckdb.DuckDBPyConnection:
    con = open_store(path)
    write_buckets(con, [bucket(T0 + timedelta(hours=h), 50.0) for h in range(4)])
    write_records(
        con,
        [
            record(T0, "a", 1e-4, 45.0),  # changes (down)
            record(T0, "b", 1e-3, 30.0),  # unchanged
            record(T0 + timedelta(hours=1), "c", 1e-5, 30.0, 0.5),  # changes (down)
            record(T0 + timedelta(hours=3), "d", 1e-6, 1.0),  # outside the window
        ],
    )
    write_influencers(
        con, [influencer(T0, "bob", 1e-4, 50.0), influencer(T0 + timedelta(hours=2), "al", 0.5, 0)]
    )
    return con


def tables(con: duckdb.DuckDBPyConnection) -> list[list[tuple]]:
    return [
        con.execute(f"SELECT * EXCLUDE (created_at) FROM {t} ORDER BY ALL").fetchall()
        if t == "records"
        else con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall()
        for t in ("buckets", "records", "influencers")
    ]


def test_rescore_window_is_the_tuple_path(tmp_path) -> None:
    old = stored(str(tmp_path / "old.duckdb"))
    records, influencers = scored_in_window(old, "j", T0, END)
    record_scores = scorer(np.array([r[1] for r in records]), np.array([r[2] for r in records]))
    influencer_scores = scorer(
        np.array([i[3] for i in influencers]), np.array([i[4] for i in influencers])
    )
    update_scores(
        old,
        "j",
        [(r[0], float(s)) for r, s in zip(records, record_scores, strict=True)],
        [(*i[:3], float(s)) for i, s in zip(influencers, influencer_scores, strict=True)],
        T0,
        END,
    )
    new = stored(str(tmp_path / "new.duckdb"))
    rescore_window(new, "j", T0, END, scorer)
    assert tables(new) == tables(old)
    scores = dict(new.execute("SELECT by_field_value, record_score FROM records").fetchall())
    assert scores == {"a": 40.0, "b": 30.0, "c": 25.0, "d": 1.0}


def test_a_renormalisation_never_lifts_a_score_above_its_initial_one(tmp_path) -> None:
    con = stored(str(tmp_path / "s.duckdb"))
    rescore_window(con, "j", T0, END, lambda p, c: np.full(len(p), 99.0))
    records = con.execute("SELECT by_field_value, record_score, initial_record_score FROM records")
    assert all(score <= initial for _, score, initial in records.fetchall())
    influencers = con.execute("SELECT influencer_score, initial_influencer_score FROM influencers")
    assert all(score <= initial for score, initial in influencers.fetchall())


def test_appending_inserts_only_after_what_is_stored() -> None:
    con = open_store(":memory:")
    write_buckets(con, [bucket(T0, 10.0)])
    with appending(con, "j", T0):  # a row is stored from T0 on: writes still replace
        write_buckets(con, [bucket(T0, 20.0)])
    with appending(con, "j", T0 + timedelta(hours=1)):  # nothing stored from then on
        write_buckets(con, [bucket(T0 + timedelta(hours=1), 30.0)])
        write_buckets(con, [bucket(T0, 40.0)])  # before the appending time: replaces
        write_buckets(con, [bucket(T0, 50.0, "other")])  # another job: checked as usual
        write_buckets(con, [bucket(T0, 60.0, "other")])
        with pytest.raises(duckdb.ConstraintException):
            write_buckets(con, [bucket(T0 + timedelta(hours=1), 70.0)])  # each row once
    rows = con.execute("SELECT job_id, anomaly_score FROM buckets ORDER BY ALL").fetchall()
    assert rows == [("j", 30.0), ("j", 40.0), ("other", 60.0)]
