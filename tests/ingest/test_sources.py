from __future__ import annotations

import io
from pathlib import Path

import pytest
from ingest_helpers import record, write_s3_file

from trailspike.core.errors import InputError
from trailspike.ingest.sources import S3Stream, expand_sources, split_s3_url


def test_directory_is_read_recursively_and_skips_non_log_files(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    one = write_s3_file(tmp_path / "a" / "one.json.gz", [record(1)])
    two = write_s3_file(tmp_path / "a" / "b" / "two.json", [record(2)], gz=False)
    (tmp_path / "README.md").write_text("not a log")
    (tmp_path / ".hidden.json").write_text("{}")
    found = [f.path for f in expand_sources([str(tmp_path)], {})]
    assert found == [str(one.resolve()), str(two.resolve())]


def test_glob_and_explicit_file_are_deduplicated(tmp_path: Path) -> None:
    one = write_s3_file(tmp_path / "one.json.gz", [record(1)])
    found = expand_sources([str(tmp_path / "*.gz"), str(one)], {})
    assert [f.path for f in found] == [str(one.resolve())]
    assert found[0].size == one.stat().st_size and found[0].fingerprint


def test_missing_path_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        expand_sources([str(tmp_path / "nope.json")], {})


def test_stdin_is_not_remembered() -> None:
    [source] = expand_sources(["-"], {})
    assert source.path == "-" and not source.remembered


def test_split_s3_url() -> None:
    assert split_s3_url("s3://bucket") == ("bucket", "")
    with pytest.raises(InputError):
        split_s3_url("s3:///key")


def test_an_s3_read_that_breaks_is_an_os_error() -> None:
    # botocore's StreamingBody over a socket that resets: botocore raises its own exception,
    # which the ingest does not treat as a file error; S3Stream makes it an OSError.
    from botocore.response import StreamingBody
    from urllib3.exceptions import ProtocolError

    class Resets(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def read(self, n: int = -1) -> bytes:
            raise ProtocolError("Connection broken: ConnectionResetError(104)")

    stream = S3Stream(StreamingBody(Resets(), 100), "s3://b/k.json.gz")
    with pytest.raises(OSError, match=r"reading s3://b/k.json.gz failed: .*Connection broken"):
        stream.read(10)


def test_a_recent_listing_skips_older_dated_folders(tmp_path: Path) -> None:
    from datetime import date

    base = tmp_path / "AWSLogs" / "123456789012" / "CloudTrail" / "us-east-1"
    days = ("2025/12/31", "2026/02/27", "2026/02/28", "2026/03/01")
    for day in days:
        folder = base / day
        folder.mkdir(parents=True)
        (folder / "f.json").write_text("{}")
    (tmp_path / "AWSLogs" / "loose.json").write_text("{}")
    (base / "12345").mkdir()  # a number that is not a date part is walked
    (base / "12345" / "x.json").write_text("{}")
    recent = expand_sources([str(tmp_path)], {}, since=date(2026, 2, 28))
    found = sorted(Path(f.path).relative_to(tmp_path.resolve()).as_posix() for f in recent)
    assert found == [
        "AWSLogs/123456789012/CloudTrail/us-east-1/12345/x.json",
        "AWSLogs/123456789012/CloudTrail/us-east-1/2026/02/28/f.json",
        "AWSLogs/123456789012/CloudTrail/us-east-1/2026/03/01/f.json",
        "AWSLogs/loose.json",
    ]
    assert len(expand_sources([str(tmp_path)], {})) == 6
