"""What the rules engine needs to know about an anomaly-detection job, read from its definition.

The engine needs three facts per job: that it exists, its bucket span (for the look-back check)
and its datafeed filter (to select the source events behind an anomaly for the alert's reason).

Implementation decisions: the job definitions are plain JSON in ``trailspike/definitions/jobs``
(file name = job id) and may be extended by the jobs package's loader. To stay independent of the
jobs package's classes, this module reads the JSON itself and understands both the short
``"datafeed": {"filter": {field: value}}`` form and Elastic's
``"query": {"bool": {"filter": [{"term": ...}, {"exists": ...}]}}`` form. When the jobs
package is installed its ``load_jobs()`` is consulted too, lazily.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from trailspike.core.timeutil import parse_duration


@dataclass(frozen=True)
class JobInfo:
    """A job's id, bucket span and datafeed conditions (``terms`` equal, ``exists`` present)."""

    job_id: str
    bucket_span_seconds: int
    terms: dict[str, str] = field(default_factory=dict)
    exists: tuple[str, ...] = ()
    wording_fields: tuple[str, ...] = ()  # detector fields read by their wording


def shipped_jobs_dir() -> Path:
    return Path(str(resources.files("trailspike.definitions") / "jobs"))


def _filters_from_query(query: Any, terms: dict[str, str], exists: list[str]) -> None:
    if not isinstance(query, dict):
        return
    boolean = query.get("bool")
    if isinstance(boolean, dict):
        clauses = boolean.get("filter", []) + boolean.get("must", [])
        for clause in clauses if isinstance(clauses, list) else [clauses]:
            _filters_from_query(clause, terms, exists)
        return
    term = query.get("term")
    if isinstance(term, dict):
        for name, value in term.items():
            raw = value.get("value") if isinstance(value, dict) else value
            terms[str(name)] = str(raw)
    found = query.get("exists")
    if isinstance(found, dict) and "field" in found:
        exists.append(str(found["field"]))


def job_info_from_dict(data: dict[str, Any]) -> JobInfo:
    """Build :class:`JobInfo` from a job definition in either supported shape.

    >>> info = job_info_from_dict({"job_id": "j", "analysis_config": {"bucket_span": "15m"},
    ...     "datafeed": {"query": {"bool": {"filter": [{"term": {"event.module": "aws"}},
    ...     {"exists": {"field": "aws.cloudtrail.error_message"}}]}}}})
    >>> info.bucket_span_seconds, info.terms, info.exists
    (900, {'event.module': 'aws'}, ('aws.cloudtrail.error_message',))
    """
    analysis = data.get("analysis_config", {})
    span = analysis.get("bucket_span", "15m")
    seconds = int(span) if isinstance(span, int) else int(parse_duration(str(span)).total_seconds())
    terms: dict[str, str] = {}
    exists: list[str] = []
    feed = data.get("datafeed") or data.get("datafeed_config") or {}
    simple = feed.get("filter")
    if isinstance(simple, dict):
        for name, value in simple.items():
            if isinstance(value, str | int | float | bool):
                terms[str(name)] = str(value)
    for key in ("exists", "require"):
        listed = feed.get(key)
        if isinstance(listed, list):
            exists.extend(str(v) for v in listed)
    _filters_from_query(feed.get("query"), terms, exists)
    ours = (data.get("custom_settings") or {}).get("trailspike") or {}
    wording = tuple(str(f) for f in ours.get("wording_fields", ()))
    return JobInfo(
        str(data.get("job_id", "")), seconds, terms, tuple(dict.fromkeys(exists)), wording
    )


def _from_jobs_package(job_id: str) -> JobInfo | None:
    try:
        from trailspike.jobs.loader import load_jobs  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return None
    try:
        job = load_jobs().get(job_id)
    except Exception:  # an unknown id or a broken definition: fall back to the JSON files
        return None
    if job is None:
        return None
    dump = job.model_dump(by_alias=True) if hasattr(job, "model_dump") else {}
    info = job_info_from_dict(dump) if isinstance(dump, dict) else None
    span = int(getattr(job, "bucket_span_seconds", 0) or (info.bucket_span_seconds if info else 0))
    if info is None:
        return JobInfo(job_id, span)
    return JobInfo(job_id, span, info.terms, info.exists, info.wording_fields)


def load_job_info(job_id: str) -> JobInfo | None:
    """The job ``job_id``'s facts, or ``None`` when no such job is defined."""
    path = shipped_jobs_dir() / f"{job_id}.json"
    if path.is_file():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = None
        if isinstance(data, dict):
            data.setdefault("job_id", job_id)
            return job_info_from_dict(data)
    return _from_jobs_package(job_id)


def known_job_ids() -> set[str]:
    """Ids of every job defined (shipped JSON files, plus the jobs package when present)."""
    ids = {p.stem for p in shipped_jobs_dir().glob("*.json")}
    try:
        from trailspike.jobs.loader import load_jobs
    except ImportError:
        return ids
    # The jobs package may still be in flux; the JSON files suffice when it fails.
    with contextlib.suppress(Exception):
        ids.update(str(job.job_id) for job in load_jobs())
    return ids
