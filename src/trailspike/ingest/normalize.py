"""Normalise input to ECS documents without storing anything (``trailspike normalize``).

Reads the same sources and shapes as ingest and applies the same validation, yielding each ECS
document or, for a rejected record, a one-line description of where it is and why.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from trailspike.core.errors import SourceLocation
from trailspike.ingest.reader import read_file
from trailspike.ingest.sources import expand_sources
from trailspike.ingest.validate import check_record
from trailspike.normalise.cloudtrail import to_ecs
from trailspike.normalise.geo import GeoEnricher


def normalize_sources(
    sources: Sequence[str], settings: Mapping[str, Any]
) -> Iterator[dict[str, Any] | str]:
    """ECS documents for every record in ``sources``; strings describe the rejected ones."""
    geo = GeoEnricher.from_settings(settings)
    for source in expand_sources(sources, settings):
        stream = source.open()
        reader, entries = read_file(stream)
        for entry in entries:
            where = SourceLocation(source.path, entry.line, entry.index)
            if entry.kind == "ecs":
                yield entry.payload
                continue
            reason = str(entry.payload) if entry.kind == "bad" else check_record(entry.payload)
            if reason:
                yield f"{where}: {reason}"
                continue
            try:
                yield to_ecs(entry.payload, geo)
            except Exception as exc:  # as in ingest: one record's failure must not stop the rest
                yield f"{where}: could not be normalised: {exc!r}"[:300]
        if reader.damage:
            yield f"{source.path}: {reader.damage}"
