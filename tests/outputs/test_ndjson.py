"""ndjson output: one line per alert, never the same alert twice, survives a torn last line."""

from __future__ import annotations

import json
from pathlib import Path

from trailspike.outputs.ndjson import NdjsonOutput


def _doc(i: int) -> dict[str, object]:
    return {"kibana.alert.uuid": f"u{i}", "kibana.alert.reason": f"reason {i}"}


def test_appends_and_skips_alerts_already_in_the_file(tmp_path: Path) -> None:
    path = tmp_path / "out" / "alerts.ndjson"
    assert NdjsonOutput(path).send([_doc(1), _doc(2)]) == [None, None]
    # A new output object (a restarted service) re-sending u2 does not duplicate it.
    assert NdjsonOutput(path).send([_doc(2), _doc(3)]) == [None, None]
    ids = [json.loads(line)["kibana.alert.uuid"] for line in path.read_text().splitlines()]
    assert ids == ["u1", "u2", "u3"]


def test_torn_last_line_is_closed_before_appending(tmp_path: Path) -> None:
    path = tmp_path / "alerts.ndjson"
    path.write_text(json.dumps(_doc(1)) + "\n" + '{"kibana.alert.uuid": "u2", "kiba')
    assert NdjsonOutput(path).send([_doc(2)]) == [None]
    lines = path.read_text().splitlines()
    assert json.loads(lines[-1]) == _doc(2)
    assert len(lines) == 3


def test_unwritable_path_is_reported(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    (error,) = NdjsonOutput(blocker / "alerts.ndjson").send([_doc(1)])
    assert error is not None and "cannot write" in error
