from __future__ import annotations

from datetime import datetime

from trailspike.ingest.quarantine import (
    QuarantinedRecord,
    count_by_reason,
    forget_quarantined,
    list_quarantine,
    quarantine_records,
)


def test_list_filter_forget_and_summary(store) -> None:
    rows = [
        QuarantinedRecord("/logs/a.json", 1, 1, "invalid sourceIPAddress '1.2.3.999'", "{…}"),
        QuarantinedRecord("/logs/a.json", 2, 2, "invalid sourceIPAddress '300.1.1.1'", "{…}"),
        QuarantinedRecord("/logs/b.json", 7, 9, "missing eventTime", "{'; DROP TABLE events"),
    ]
    quarantine_records(store, rows, datetime(2026, 1, 1))
    assert list_quarantine(store) == rows
    assert list_quarantine(store, "b.json") == rows[2:]
    assert list_quarantine(store, limit=1) == rows[:1]
    assert count_by_reason(store) == [("invalid sourceIPAddress", 2), ("missing eventTime", 1)]
    forget_quarantined(store, "/logs/a.json")
    assert list_quarantine(store) == rows[2:]
