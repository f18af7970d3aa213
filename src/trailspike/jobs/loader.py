"""Load job definitions from JSON files into a :class:`JobCollection`.

``load_jobs()`` reads the jobs shipped in ``trailspike/definitions/jobs``; ``load_jobs(paths)``
reads the given files or folders instead. Every file is validated on its own (schema errors name
the file and the key), then the collection is checked as a whole (job ids are unique): the
``validate``/``finalize`` split of pySigma's validators.

Implementation decisions: a file holds one job object (Kibana's JSON view, with ``datafeed`` or
``datafeed_config``), or a list of them. File names must match ``^[a-z0-9_\\-]+\\.json$`` like
detection-rules' ``FILE_PATTERN``, which keeps odd names and editor droppings out.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from trailspike.core.errors import ConfigError, SourceLocation
from trailspike.jobs.schema import JobConfig

FILE_PATTERN = re.compile(r"^[a-z0-9_\-]+\.json$")


class JobCollection:
    """An ordered set of jobs, by id."""

    def __init__(self, jobs: Sequence[JobConfig], sources: dict[str, Path] | None = None) -> None:
        self._jobs = {job.job_id: job for job in jobs}
        self.sources = dict(sources or {})

    def get(self, job_id: str) -> JobConfig:
        """The job with this id; :class:`ConfigError` listing the known ids otherwise."""
        try:
            return self._jobs[job_id]
        except KeyError:
            known = ", ".join(self._jobs) or "none"
            raise ConfigError(f"unknown job {job_id!r} (known: {known})") from None

    def __contains__(self, job_id: object) -> bool:
        return job_id in self._jobs

    def __iter__(self) -> Iterator[JobConfig]:
        return iter(self._jobs.values())

    def __len__(self) -> int:
        return len(self._jobs)

    def ids(self) -> list[str]:
        return list(self._jobs)


def shipped_jobs_dir() -> Path:
    """The folder of job definitions shipped with trailspike."""
    return Path(__file__).resolve().parents[1] / "definitions" / "jobs"


def _format_error(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"]) or "(top level)"
        message = err["msg"]
        if err["type"] == "extra_forbidden":
            message = "unknown key"
        parts.append(f"key {key}: {message}")
    return "; ".join(parts)


def parse_job(data: Any, source: SourceLocation) -> JobConfig:
    """Validate one job object; errors become :class:`ConfigError` naming the file and key."""
    try:
        return JobConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_error(exc), source=source) from None


def load_job_file(path: Path) -> list[JobConfig]:
    """The jobs in one JSON file (an object or a list of objects)."""
    source = SourceLocation(str(path))
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read job file: {exc.strerror}", source=source) from None
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"not valid JSON: {exc.msg}", source=SourceLocation(str(path), line=exc.lineno)
        ) from None
    items = data if isinstance(data, list) else [data]
    jobs = []
    for index, item in enumerate(items):
        where = SourceLocation(str(path), record=index) if isinstance(data, list) else source
        jobs.append(parse_job(item, where))
    return jobs


def _job_files(paths: Sequence[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.glob("*.json") if FILE_PATTERN.match(p.name))
        elif path.exists():
            files.append(path)
        else:
            raise ConfigError("no such job file or folder", source=SourceLocation(str(path)))
    return files


def load_jobs(paths: Sequence[Path] | None = None) -> JobCollection:
    """Load and validate jobs; the shipped ones when ``paths`` is None.

    >>> sorted(load_jobs().ids())[:2]
    ['high_distinct_count_error_message', 'rare_error_code']
    """
    files = _job_files(list(paths) if paths is not None else [shipped_jobs_dir()])
    jobs: list[JobConfig] = []
    sources: dict[str, Path] = {}
    for path in files:
        for job in load_job_file(path):
            if job.job_id in sources:
                raise ConfigError(
                    f"job id {job.job_id!r} is also defined in {sources[job.job_id]}",
                    source=SourceLocation(str(path)),
                )
            sources[job.job_id] = path
            jobs.append(job)
    return JobCollection(jobs, sources)
