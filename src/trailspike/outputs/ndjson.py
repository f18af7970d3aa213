"""The ``ndjson`` output: append each alert document as one JSON line to a file.

Implementation decisions: the file is the record of what was delivered, so the output reads the
alert ids already in it before the first append and skips them. A crash between writing a line and
recording the delivery in the store therefore cannot duplicate a line on restart. Each batch is
flushed and fsynced before success is reported.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from trailspike.outputs.base import AlertDoc

UUID_KEY = "kibana.alert.uuid"


class NdjsonOutput:
    """Append alerts to ``path`` (created with its folder when missing)."""

    name = "ndjson"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._written: set[str] | None = None

    def _already_written(self) -> set[str]:
        if self._written is None:
            self._written = set()
            if self.path.exists():
                with self.path.open(encoding="utf-8", errors="replace") as handle:
                    for line in handle:
                        try:
                            self._written.add(str(json.loads(line).get(UUID_KEY)))
                        except (ValueError, AttributeError):
                            continue  # a torn last line from a crash: ignore it
        return self._written

    def send(self, alerts: Sequence[AlertDoc]) -> list[str | None]:
        written = self._already_written()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as handle:
                if self._ends_torn():
                    handle.write("\n")  # finish a line a crash cut short, so ours stays whole
                for doc in alerts:
                    uuid = str(doc.get(UUID_KEY))
                    if uuid in written:
                        continue
                    handle.write(json.dumps(doc, default=str, sort_keys=True) + "\n")
                    written.add(uuid)
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            return [f"cannot write {self.path}: {exc.strerror}"] * len(alerts)
        return [None] * len(alerts)

    def _ends_torn(self) -> bool:
        if not self.path.exists() or self.path.stat().st_size == 0:
            return False
        with self.path.open("rb") as handle:
            handle.seek(-1, os.SEEK_END)
            return handle.read(1) != b"\n"

    def close(self) -> None:
        return None
