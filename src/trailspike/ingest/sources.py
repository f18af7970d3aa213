"""Expand the ``PATH...`` arguments of ``trailspike ingest`` into files and S3 objects to read.

A source is a file, a directory (read recursively), a glob, ``-`` (standard input) or
``s3://bucket/prefix``. Each expands to :class:`SourceFile` entries that carry the identity used
by incremental ingest (path or ``s3://`` key, size, and mtime or ETag) and a way to open them.

Implementation decisions: inside a directory only files that can hold CloudTrail JSON are taken
(``.json``, ``.jsonl``, ``.ndjson``, ``.log``, ``.gz``), so README or LICENSE files next to the logs
are not reported as bad records; a file named explicitly is always read. S3 goes through boto3
(DuckDB's httpfs extension cannot be installed offline), honouring the standard AWS environment
and ``--endpoint-url`` / setting ``s3_endpoint_url``.
"""

from __future__ import annotations

import glob
import io
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import IO, Any, cast

from trailspike.core.errors import InputError, SourceLocation
from trailspike.ingest.dated import may_hold_since

DATA_SUFFIXES = (".json", ".jsonl", ".ndjson", ".log", ".gz")
STDIN = "-"


@dataclass(frozen=True)
class SourceFile:
    """One file or object to ingest.

    ``path`` is what ``ingested_files`` and quarantine rows record; ``fingerprint`` is the mtime
    (local) or ETag (S3); ``open`` returns a binary stream, possibly gzip-compressed.
    """

    path: str
    size: int | None
    fingerprint: str | None
    open: Callable[[], IO[bytes]]

    @property
    def remembered(self) -> bool:
        """Whether re-runs can recognise this input (standard input cannot be)."""
        return self.path != STDIN


def _local_file(path: Path) -> SourceFile:
    stat = path.stat()
    resolved = path.resolve()
    return SourceFile(
        str(resolved),
        stat.st_size,
        str(stat.st_mtime_ns),
        lambda: open(resolved, "rb"),
    )


def _is_data_file(path: Path) -> bool:
    return not path.name.startswith(".") and path.name.lower().endswith(DATA_SUFFIXES)


def _walk_directory(folder: Path, since: date | None = None) -> Iterator[SourceFile]:
    for root, dirs, files in os.walk(folder):
        parts = Path(root).parts
        dirs[:] = sorted(
            d
            for d in dirs
            if not d.startswith(".") and (since is None or may_hold_since((*parts, d), since))
        )
        for name in sorted(files):
            path = Path(root) / name
            if _is_data_file(path) and path.is_file():
                yield _local_file(path)


def _expand_local(source: str, since: date | None = None) -> list[SourceFile]:
    path = Path(source)
    if path.is_dir():
        return list(_walk_directory(path, since))
    if path.is_file():
        return [_local_file(path)]
    if glob.has_magic(source):
        found: list[SourceFile] = []
        for match in sorted(glob.glob(source, recursive=True)):
            candidate = Path(match)
            if candidate.is_dir():
                found.extend(_walk_directory(candidate, since))
            elif candidate.is_file():
                found.append(_local_file(candidate))
        return found
    raise InputError("no such file or directory", SourceLocation(source))


def s3_client(settings: Mapping[str, Any]) -> Any:
    """A boto3 S3 client honouring the AWS environment and setting ``s3_endpoint_url``."""
    import boto3

    endpoint = str(settings.get("s3_endpoint_url") or "") or None
    return boto3.client("s3", endpoint_url=endpoint)


def split_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/prefix`` → ``(bucket, prefix)``.

    >>> split_s3_url("s3://logs/AWSLogs/123/")
    ('logs', 'AWSLogs/123/')
    """
    rest = url[len("s3://") :]
    bucket, _, prefix = rest.partition("/")
    if not bucket:
        raise InputError("an S3 source needs a bucket: s3://bucket/prefix", SourceLocation(url))
    return bucket, prefix


def _s3_objects(client: Any, bucket: str, prefix: str, since: date | None) -> Iterator[Any]:
    """Every object under ``prefix``; with ``since``, dated folders before it are skipped.

    Without ``since`` one flat listing. With it the tree is walked folder by folder
    (``Delimiter='/'``) so that ``…/YYYY/MM/DD/`` folders older than ``since`` are never
    listed: a few requests per region instead of one per thousand objects of the trail.
    """
    paginator = client.get_paginator("list_objects_v2")
    if since is None:
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            yield from page.get("Contents", [])
        return
    folders = [prefix]
    while folders:
        folder = folders.pop()
        for page in paginator.paginate(Bucket=bucket, Prefix=folder, Delimiter="/"):
            yield from page.get("Contents", [])
            for sub in page.get("CommonPrefixes", []):
                name = str(sub["Prefix"])
                if may_hold_since(name.rstrip("/").split("/"), since):
                    folders.append(name)


def _expand_s3(
    url: str, settings: Mapping[str, Any], since: date | None = None
) -> list[SourceFile]:
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, prefix = split_s3_url(url)
    client = s3_client(settings)
    found: list[SourceFile] = []
    try:
        for obj in _s3_objects(client, bucket, prefix, since):
            key = obj["Key"]
            if key.endswith("/"):
                continue
            found.append(
                SourceFile(
                    f"s3://{bucket}/{key}",
                    int(obj.get("Size", 0)),
                    str(obj.get("ETag", "")).strip('"'),
                    _s3_opener(client, bucket, key),
                )
            )
    except (BotoCoreError, ClientError) as exc:
        raise InputError(f"cannot list S3 objects: {exc}", SourceLocation(url)) from exc
    found.sort(key=lambda f: f.path)  # the walk's order is not the listing's
    return found


def _s3_opener(client: Any, bucket: str, key: str) -> Callable[[], IO[bytes]]:
    def open_object() -> IO[bytes]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            body = client.get_object(Bucket=bucket, Key=key)["Body"]
        except (BotoCoreError, ClientError) as exc:
            where = SourceLocation(f"s3://{bucket}/{key}")
            raise InputError(f"cannot read S3 object: {exc}", where) from exc
        return cast(IO[bytes], S3Stream(body, f"s3://{bucket}/{key}"))

    return open_object


class S3Stream(io.RawIOBase):
    """An S3 object's body whose read errors are ``OSError``, as a local file's are.

    A connection reset or timeout in the middle of an object raises botocore's or urllib3's
    own exceptions, which the ingest treated as fatal; as ``OSError`` the object is reported
    and read again by the next run, and the other files go on.
    """

    def __init__(self, body: Any, url: str) -> None:
        super().__init__()
        self._body = body
        self._url = url

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        from botocore.exceptions import BotoCoreError
        from urllib3.exceptions import HTTPError

        try:
            data: bytes = self._body.read(None if size is None or size < 0 else size)
        except (BotoCoreError, HTTPError) as exc:
            # Only the message crosses process boundaries: botocore's exceptions do not
            # always survive pickling.
            raise OSError(f"reading {self._url} failed: {exc}") from None
        return data

    def close(self) -> None:
        self._body.close()
        super().close()


def expand_sources(
    sources: Sequence[str], settings: Mapping[str, Any], since: date | None = None
) -> list[SourceFile]:
    """All files and objects named by ``sources``, in order, each once.

    ``since``: skip folders of a date-partitioned layout (CloudTrail's ``…/YYYY/MM/DD/``) dated
    before this day (:mod:`.dated`); the service lists only recent folders between full scans.

    Raises
    ------
    InputError
        A path that does not exist, or an S3 prefix that cannot be listed.
    """
    seen: set[str] = set()
    result: list[SourceFile] = []
    for source in sources:
        if source == STDIN:
            expanded = [SourceFile(STDIN, None, None, lambda: sys.stdin.buffer)]
        elif source.startswith("s3://"):
            expanded = _expand_s3(source, settings, since)
        else:
            expanded = _expand_local(source, since)
        for item in expanded:
            if item.path not in seen:
                seen.add(item.path)
                result.append(item)
    return result
