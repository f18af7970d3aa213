"""One error hierarchy that says where bad input came from.

Every error a user can cause carries a :class:`SourceLocation` (file, line, record index) so the
message names the place to look, the way pySigma's ``SigmaError(source=...)`` does.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SourceLocation:
    """Where a piece of input came from: a file or object key, and optionally a line and record."""

    path: str
    line: int | None = None
    record: int | None = None

    def __str__(self) -> str:
        parts = [self.path]
        if self.line is not None:
            parts.append(f"line {self.line}")
        if self.record is not None:
            parts.append(f"record {self.record}")
        return ", ".join(parts)


class TrailspikeError(Exception):
    """Base class for errors a user can act on; the CLI prints them without a traceback."""

    def __init__(self, message: str, source: SourceLocation | None = None) -> None:
        self.message = message
        self.source = source
        super().__init__(f"{source}: {message}" if source else message)


class ConfigError(TrailspikeError):
    """A setting, job or rule definition is invalid."""


class InputError(TrailspikeError):
    """Input data (a CloudTrail file, a record) cannot be read."""


class StoreBusyError(TrailspikeError):
    """Another process holds the DuckDB store for writing."""
