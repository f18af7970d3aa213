from __future__ import annotations

import gzip
import io
import json
from dataclasses import replace
from pathlib import Path

import duckdb
import orjson
from ingest_helpers import record, write_lines, write_s3_file

from shared_data import shared_path
from trailspike.core.settings import load_settings
from trailspike.ingest import pipeline
from trailspike.ingest.pipeline import ingest
from trailspike.ingest.sources import expand_sources

SETTINGS = load_settings({}, environ={})


def count(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    row = con.execute(sql).fetchone()
    assert row is not None
    return int(row[0])


def test_ingest_stores_typed_columns_and_the_document(store, tmp_path: Path) -> None:
    path = write_s3_file(
        tmp_path / "a.json.gz", [record(1, errorCode="AccessDenied", errorMessage="no")]
    )
    summary = ingest(store, [str(path)], SETTINGS)
    assert (summary.files, summary.records, summary.stored) == (1, 1, 1)
    row = store.execute(
        "SELECT event_id, ts, event_action, event_outcome, error_code, user_identity_arn, "
        "source_ip, request_parameters, source_file, json_extract_string(doc, '$.event.id') "
        "FROM events"
    ).fetchone()
    assert row is not None
    assert row[0] == record(1)["eventID"] == row[9]
    assert str(row[1]) == "2026-01-01 10:01:00"
    assert row[2:7] == (
        "GetObject",
        "failure",
        "AccessDenied",
        "arn:aws:iam::123456789012:user/alice",
        "89.160.20.156",
    )
    assert json.loads(row[7]) == {"bucketName": "logs", "key": "k1"}
    assert row[8] == str(path.resolve())


def test_rerun_skips_files_and_force_counts_duplicates(store, tmp_path: Path) -> None:
    write_s3_file(tmp_path / "a.json.gz", [record(n) for n in range(5)])
    first = ingest(store, [str(tmp_path)], SETTINGS)
    again = ingest(store, [str(tmp_path)], SETTINGS)
    forced = ingest(store, [str(tmp_path)], SETTINGS, force=True)
    assert (first.stored, first.duplicates) == (5, 0)
    assert (again.skipped_files, again.records, again.stored) == (1, 0, 0)
    assert (forced.records, forced.stored, forced.duplicates) == (5, 0, 5)
    assert count(store, "SELECT count(*) FROM events") == 5


def test_duplicates_within_and_across_files(store, tmp_path: Path) -> None:
    write_s3_file(tmp_path / "a.json.gz", [record(1), record(2), record(1)])
    write_s3_file(tmp_path / "b.json.gz", [record(2), record(3)])
    summary = ingest(store, [str(tmp_path)], SETTINGS)
    assert (summary.records, summary.stored, summary.duplicates) == (5, 3, 2)
    rows = store.execute("SELECT stored, duplicates FROM ingested_files ORDER BY path").fetchall()
    assert rows == [(2, 1), (1, 1)]


def test_changed_file_is_read_again(store, tmp_path: Path) -> None:
    path = write_s3_file(tmp_path / "a.json.gz", [record(1)])
    ingest(store, [str(path)], SETTINGS)
    write_s3_file(path, [record(1), record(2)])
    summary = ingest(store, [str(path)], SETTINGS)
    assert (summary.skipped_files, summary.stored, summary.duplicates) == (0, 1, 1)


def test_killed_run_resumes_without_storing_twice(store, tmp_path: Path) -> None:
    path = write_s3_file(tmp_path / "a.json.gz", [record(n) for n in range(4)])
    ingest(store, [str(path)], SETTINGS)
    # What a run killed mid-file leaves: some events stored, the file marked incomplete.
    store.execute("UPDATE ingested_files SET complete = false")
    store.execute("DELETE FROM events WHERE event_id = ?", [record(3)["eventID"]])
    summary = ingest(store, [str(path)], SETTINGS)
    assert (summary.records, summary.stored, summary.duplicates) == (4, 1, 3)
    assert count(store, "SELECT count(*) FROM events") == 4
    assert count(store, "SELECT count(*) FROM ingested_files WHERE complete") == 1


def test_bad_records_are_quarantined_and_the_rest_kept(store, tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "mixed.jsonl",
        [
            record(1),
            "{broken",
            record(2, eventTime="soon"),
            record(3, sourceIPAddress="1.2.3.999"),
            record(4, sourceIPAddress="ec2.amazonaws.com"),
            17,
            record(5, eventTime="\uff12026-01-01T00:00:00Z"),  # used to abort the whole run
        ],
    )
    summary = ingest(store, [str(path)], SETTINGS)
    assert (summary.records, summary.stored, summary.quarantined) == (7, 2, 5)
    rows = store.execute("SELECT line, record_index, reason, snippet FROM quarantine ORDER BY id")
    got = rows.fetchall()
    assert [(r[0], r[1]) for r in got] == [(2, 2), (3, 3), (4, 4), (6, 6), (7, 7)]
    assert got[0][2].startswith("bad JSON") and got[0][3] == "{broken"
    assert got[1][2] == "eventTime is not an ISO 8601 time: 'soon'"
    assert got[2][2] == "invalid sourceIPAddress '1.2.3.999'"
    assert "JSON object" in got[3][2]
    # A service name in sourceIPAddress is source.address only, and the event is kept.
    kept = store.execute(
        "SELECT source_address, source_ip FROM events WHERE event_id = ?", [record(4)["eventID"]]
    ).fetchone()
    assert kept == ("ec2.amazonaws.com", None)
    # Re-reading the file does not duplicate its quarantine rows.
    ingest(store, [str(path)], SETTINGS, force=True)
    assert count(store, "SELECT count(*) FROM quarantine") == 5


def test_impossible_dates_are_quarantined_and_the_rest_kept(store, tmp_path: Path) -> None:
    """``2026-02-30T…Z`` matched the plain CloudTrail form, and DuckDB's cast of its @timestamp
    aborted the whole run (nothing stored). Repeats of one record, so the later ones are filled
    in from its template (normalise/template.py), which checks the time as validation does."""
    times = ["2026-02-27T10:00:00Z", "2026-02-28T10:00:00Z", "2026-02-30T10:00:00Z"]
    times += ["2026-03-01T10:00:00Z", "2026-13-01T10:00:00Z", "2026-03-01T10:00:60Z"]
    same = {"requestParameters": {"bucketName": "logs"}}
    records = [
        {**record(n), **same, "eventTime": time, "requestID": f"r{n}"}
        for n, time in enumerate(times)
    ]
    path = write_s3_file(tmp_path / "dates.json.gz", records)
    summary = ingest(store, [str(path)], SETTINGS)
    assert (summary.records, summary.stored, summary.quarantined) == (6, 3, 3)
    reasons = store.execute("SELECT reason FROM quarantine ORDER BY id").fetchall()
    assert reasons == [(f"eventTime is not an ISO 8601 time: {times[n]!r}",) for n in (2, 4, 5)]


def test_hostile_records_are_quarantined_and_the_rest_kept(store, tmp_path: Path) -> None:
    """Each of these aborted the whole run (a traceback, nothing stored). The NaN makes orjson
    refuse the file, so its records are salvaged one by one by the stdlib decoder, which gives
    integers beyond 64 bits, lone surrogates and recursion errors that orjson never does."""

    def raw(n: int, extra: str) -> str:
        return orjson.dumps(record(n)).decode()[:-1] + "," + extra + "}"

    pieces = [
        raw(1, '"requestParameters": {"n": 123456789012345678901234567890}'),
        raw(2, '"additionalEventData": {"x": NaN}'),
        raw(3, '"userAgent": "\\ud800x"'),
        raw(4, '"requestParameters": ' + "[" * 5000 + "]" * 5000),
        orjson.dumps(record(5)).decode(),
        # A valid time, but one no CloudTrail record has: near year 1, the rules' window
        # arithmetic overflowed (now - 60m before datetime.min) and every backfill failed.
        orjson.dumps({**record(6), "eventTime": "0001-01-01T00:00:00Z"}).decode(),
    ]
    path = tmp_path / "hostile.json.gz"
    path.write_bytes(gzip.compress(('{"Records": [' + ",".join(pieces) + "]}").encode()))
    ecs = {"@timestamp": "2026-01-01T00:00:00Z", "event": {"id": "ecs-1", "action": ["a", "b"]}}
    ecs_path = tmp_path / "export.ndjson"
    ecs_path.write_text(json.dumps({"_source": ecs}) + "\n")
    summary = ingest(store, [str(path), str(ecs_path)], SETTINGS)
    assert (summary.records, summary.stored, summary.quarantined) == (7, 3, 4)
    stored = store.execute("SELECT event_id, request_parameters FROM events ORDER BY 1").fetchall()
    # The big integer is kept as orjson reads it (the nearest float), as when nothing is wrong.
    assert stored[0] == ("00000000-0000-4000-8000-000000000001", '{"n":1.2345678901234568e+29}')
    reasons = [r for (r,) in store.execute("SELECT reason FROM quarantine ORDER BY id").fetchall()]
    assert reasons == [
        "record holds text that is not valid Unicode (a lone surrogate escape)",
        "record nested too deeply to decode",
        "eventTime '0001-01-01T00:00:00Z' is before CloudTrail began (November 2013)",
        "ECS field event.action must be a string, got list",
    ]


def test_absurdly_large_record_is_quarantined(store, tmp_path: Path) -> None:
    settings = load_settings({"max_record_bytes": 5000}, environ={})
    huge = record(2, requestParameters={"policy": "x" * 20000})
    path = write_s3_file(tmp_path / "a.json.gz", [record(1), huge])
    summary = ingest(store, [str(path)], settings)
    assert (summary.stored, summary.quarantined) == (1, 1)
    reason = store.execute("SELECT reason FROM quarantine").fetchone()
    assert reason is not None and "over max_record_bytes 5,000" in reason[0]


def test_truncated_gzip_keeps_earlier_records_and_reports(store, tmp_path: Path) -> None:
    data = gzip.compress(b"\n".join(orjson.dumps(record(n)) for n in range(300)))
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(data[: len(data) // 2])
    summary = ingest(store, [str(path)], SETTINGS)
    assert 0 < summary.stored < 300
    assert summary.damaged_files == [str(path.resolve())]
    assert any("truncated" in note for note in summary.notes)
    reasons = [r[0] for r in store.execute("SELECT reason FROM quarantine").fetchall()]
    assert any("truncated" in r for r in reasons)


def test_records_without_event_id_get_a_stable_synthetic_id(store, tmp_path: Path) -> None:
    rec = record(1)
    del rec["eventID"]
    path = write_lines(tmp_path / "a.jsonl", [rec, rec])
    summary = ingest(store, [str(path)], SETTINGS)
    assert (summary.stored, summary.duplicates) == (1, 1)
    row = store.execute("SELECT event_id, json_extract_string(doc, '$.event.id') FROM events")
    event_id, doc_id = row.fetchone() or ("", "")
    assert event_id.startswith("sha256:") and event_id == doc_id


def test_parallel_workers_give_the_same_result_as_one_process(tmp_path: Path) -> None:
    from trailspike.ingest import pipeline
    from trailspike.store.db import open_store

    for n in range(3):
        write_s3_file(
            tmp_path / f"f{n}.json.gz", [record(n * 100 + i) for i in range(50)] + [record(1)]
        )
    results = []
    for workers, limit in ((1, pipeline.PARALLEL_MIN_BYTES), (2, 0)):
        con = open_store(tmp_path / f"w{workers}.duckdb")
        saved = pipeline.PARALLEL_MIN_BYTES
        pipeline.PARALLEL_MIN_BYTES = limit
        try:
            settings = load_settings({"ingest_workers": workers}, environ={})
            summary = ingest(con, [str(tmp_path / "*.json.gz")], settings)
        finally:
            pipeline.PARALLEL_MIN_BYTES = saved
        ids = con.execute("SELECT list(event_id ORDER BY event_id) FROM events").fetchone()
        results.append((summary.records, summary.stored, summary.duplicates, ids))
        con.close()
    assert results[0] == results[1]
    assert results[0][:3] == (153, 150, 3)


def test_every_shared_sample_is_stored_or_quarantined(store) -> None:
    folder = shared_path("cloudtrail_samples")
    files = [
        str(p)
        for p in sorted(folder.rglob("*"))
        if p.suffix in (".jsonl", ".json", ".gz") and p.name != "tests_index.jsonl"
    ]
    summary = ingest(store, files, SETTINGS)
    assert summary.records > 500
    assert summary.records == summary.stored + summary.duplicates + summary.quarantined
    assert count(store, "SELECT count(*) FROM quarantine WHERE reason = ''") == 0
    # The lookup-events file and its flattened copy hold the same six events.
    assert (
        count(store, "SELECT count(*) FROM events WHERE source_file LIKE '%aws_cloudtrail.jsonl'")
        == 6
    )


class _BreaksAfter(io.RawIOBase):
    """A file whose reading fails after ``size`` bytes, as an S3 connection reset does."""

    def __init__(self, data: bytes, size: int) -> None:
        super().__init__()
        self._data, self._pos, self._size = data, 0, size

    def readable(self) -> bool:
        return True

    def read(self, n: int | None = -1) -> bytes:
        if self._pos >= self._size:
            raise OSError("connection reset")
        end = min(self._size, self._pos + (n if n and n > 0 else len(self._data)))
        out, self._pos = self._data[self._pos : end], end
        return out


def test_a_file_that_fails_mid_read_is_read_again_by_the_next_run(
    store, tmp_path: Path, monkeypatch
) -> None:
    # Plain JSON lines, so the part before the break holds whole records.
    path = write_lines(tmp_path / "a.jsonl", [record(n) for n in range(40)])
    data = path.read_bytes()
    (real,) = expand_sources([str(path)], SETTINGS)
    broken = replace(real, open=lambda: _BreaksAfter(data, len(data) // 2))
    monkeypatch.setattr(pipeline, "expand_sources", lambda sources, settings, since=None: [broken])
    first = ingest(store, [str(path)], SETTINGS)
    assert first.stored < 40  # what came before the break may or may not have been stored
    assert any(
        "cannot read file: connection reset; the next run reads it again" in n for n in first.notes
    )
    complete = store.execute("SELECT complete FROM ingested_files").fetchall()
    assert complete == [(False,)]
    monkeypatch.undo()
    second = ingest(store, [str(path)], SETTINGS)
    assert (second.stored, second.duplicates) == (40 - first.stored, first.stored)
    assert count(store, "SELECT count(*) FROM events") == 40
    assert count(store, "SELECT count(*) FROM quarantine") == 0  # the failure's row is replaced
    assert store.execute("SELECT complete FROM ingested_files").fetchall() == [(True,)]
