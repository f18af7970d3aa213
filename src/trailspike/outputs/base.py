"""The contract every alert output keeps, and its error type.

An output receives a batch of alert documents and answers, per alert, whether it went through.
Answering per alert (rather than all-or-nothing) lets a bulk index report that one document was
rejected while the others landed; the delivery loop retries only what failed.

Implementation decisions: a ``Protocol`` rather than a base class, so third-party outputs need no
import from trailspike beyond this file's names; outputs are built from settings by a factory in
:mod:`trailspike.outputs.registry`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

AlertDoc = dict[str, Any]


class OutputError(Exception):
    """An output could not deliver; the message says why (it is stored as ``last_error``)."""


class Output(Protocol):
    """Something alerts can be sent to."""

    name: str

    def send(self, alerts: Sequence[AlertDoc]) -> list[str | None]:
        """Deliver ``alerts``; return, in order, ``None`` per delivered alert or an error text."""
        ...

    def close(self) -> None:
        """Release connections and files."""
        ...


def alert_line(doc: AlertDoc) -> str:
    """One human line for an alert: time, severity, rule, score and reason.

    >>> alert_line({"kibana.alert.original_time": "2026-01-01T10:00:00.000Z",
    ...     "kibana.alert.severity": "low", "kibana.alert.rule.name": "Spike",
    ...     "record_score": 87.2, "kibana.alert.reason": "Spike: 37 distinct …",
    ...     "kibana.alert.uuid": "abcdef0123456789"})
    '2026-01-01T10:00:00.000Z low score 87 abcdef012345 Spike: 37 distinct …'
    """
    uuid = str(doc.get("kibana.alert.uuid", ""))[:12]
    return (
        f"{doc.get('kibana.alert.original_time', '?')} {doc.get('kibana.alert.severity', '?')} "
        f"score {float(doc.get('record_score', 0)):.0f} {uuid} "
        f"{doc.get('kibana.alert.reason', '')}"
    )
