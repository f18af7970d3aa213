"""The ``stdout`` output: one line per alert (or the JSON document) on standard output."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import TextIO

from trailspike.outputs.base import AlertDoc, alert_line


class StdoutOutput:
    """Print alerts; ``as_json`` prints each whole document on one line instead."""

    name = "stdout"

    def __init__(self, stream: TextIO | None = None, as_json: bool = False) -> None:
        self.stream = stream
        self.as_json = as_json

    def send(self, alerts: Sequence[AlertDoc]) -> list[str | None]:
        out = self.stream if self.stream is not None else sys.stdout
        for doc in alerts:
            out.write((json.dumps(doc, default=str) if self.as_json else alert_line(doc)) + "\n")
        out.flush()
        return [None] * len(alerts)

    def close(self) -> None:
        return None
