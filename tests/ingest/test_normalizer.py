from __future__ import annotations

import io
import subprocess
import sys
from datetime import datetime

import orjson
from ingest_helpers import record

from trailspike.ingest.normalizer import Context, document_for, process_stream, synthetic_event_id
from trailspike.ingest.reader import Entry
from trailspike.normalise.geo import GeoEnricher


def context(batch_size: int = 50000, max_bytes: int = 1 << 20) -> Context:
    return Context(GeoEnricher(fallback=False), max_bytes, batch_size, datetime(2026, 1, 1))


def test_chunks_respect_the_batch_size_and_count_everything() -> None:
    data = b"\n".join(orjson.dumps(record(n)) for n in range(25)) + b"\nnot json\n"
    chunks = list(process_stream(io.BytesIO(data), "f.jsonl", context(batch_size=10)))
    assert [c.table.num_rows if c.table is not None else 0 for c in chunks] == [10, 10, 5]
    assert sum(c.records for c in chunks) == 26
    assert [q.line for c in chunks for q in c.quarantined] == [26]


def test_ecs_documents_need_a_timestamp_and_get_an_id() -> None:
    doc, reason = document_for(Entry("ecs", {"event": {"action": "X"}}, 1, 1), None)
    assert doc is None and reason == "ECS document without a valid @timestamp"
    kept = {"@timestamp": "2026-01-01T10:00:00+02:00", "event": {"action": "X"}}
    doc, reason = document_for(Entry("ecs", kept, 1, 1), None)
    assert reason == "" and doc is not None
    assert doc["@timestamp"] == "2026-01-01T08:00:00.000Z"
    assert doc["event"]["id"].startswith("sha256:")


def test_synthetic_ids_differ_for_different_records() -> None:
    assert synthetic_event_id(record(1)) != synthetic_event_id(record(2))


def test_a_record_the_normaliser_trips_over_is_quarantined_not_fatal(monkeypatch) -> None:
    # Defence in depth: an error no check foresaw (simulated here) costs one record, not the file.
    import trailspike.ingest.normalizer as normalizer

    real = normalizer.fast_event

    def flaky(rec, *args):  # type: ignore[no-untyped-def]
        if rec["eventID"].endswith("2"):
            raise TypeError("unforeseen")
        return real(rec, *args)

    monkeypatch.setattr(normalizer, "fast_event", flaky)
    data = orjson.dumps({"Records": [record(1), record(2), record(3)]})
    (chunk,) = list(process_stream(io.BytesIO(data), "f.json", context()))
    assert chunk.table is not None and chunk.table.num_rows == 2
    (bad,) = chunk.quarantined
    assert (bad.record_index, bad.reason) == (2, "could not be normalised: TypeError('unforeseen')")


def test_the_workers_code_does_not_load_duckdb() -> None:
    """The fork server preloads the workers' code; DuckDB there cost 0.07 s and 14 MB per run."""
    code = (
        "import sys, trailspike.ingest.normalizer, trailspike.ingest.preload_geo; "
        "print('duckdb' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
