"""The demo world generator: determinism, S3 layout, record shapes, scenario labels."""

from __future__ import annotations

import gzip
import re
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest

from trailspike.core.errors import ConfigError
from trailspike.demo.generate import WorldParams, existing_world, generate_world, load_scenarios
from trailspike.features.wording import wording

FILE_RE = re.compile(
    r"AWSLogs/(\d{12})/CloudTrail/([a-z]+-[a-z]+-\d)/(\d{4})/(\d{2})/(\d{2})/"
    r"\1_CloudTrail_\2_\3\4\5T\d{4}Z_[A-Za-z0-9]{16}\.json\.gz$"
)


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.json.gz"))}


def _records(root: Path) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for path in sorted(root.rglob("*.json.gz")):
        out.extend(orjson.loads(gzip.decompress(path.read_bytes()))["Records"])
    return out


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("world")
    info = generate_world(out, WorldParams(seed=3, days=3))
    return out, info


@pytest.fixture(scope="module")
def records(world: tuple[Path, dict[str, Any]]) -> list[dict[str, Any]]:
    return _records(world[0])


def test_same_seed_gives_identical_bytes_and_other_seed_differs(tmp_path: Path) -> None:
    a = _files(generate_world(tmp_path / "a", WorldParams(seed=11, days=1)) and tmp_path / "a")
    b = _files(generate_world(tmp_path / "b", WorldParams(seed=11, days=1)) and tmp_path / "b")
    c = _files(generate_world(tmp_path / "c", WorldParams(seed=12, days=1)) and tmp_path / "c")
    assert a and a == b
    assert (tmp_path / "a" / "scenarios.json").read_bytes() == (
        tmp_path / "b" / "scenarios.json"
    ).read_bytes()
    assert a.keys() != c.keys() or any(a[k] != c[k] for k in a)


def test_files_follow_the_s3_delivery_layout(world: tuple[Path, dict[str, Any]]) -> None:
    root, info = world
    paths = [str(p.relative_to(root)) for p in root.rglob("*.json.gz")]
    assert len(paths) == info["files"] > 50
    bad = [p for p in paths if not FILE_RE.search(p)]
    assert bad == []
    accounts = {FILE_RE.search(p).group(1) for p in paths}  # type: ignore[union-attr]
    assert accounts == set(info["accounts"])


def test_event_count_matches_world_info(
    world: tuple[Path, dict[str, Any]], records: list[dict[str, Any]]
) -> None:
    assert len(records) == world[1]["events"]
    assert len({r["eventID"] for r in records}) == len(records)


def test_identity_types_have_their_real_shapes(records: list[dict[str, Any]]) -> None:
    by_type = {r["userIdentity"]["type"]: r for r in records}
    assert set(by_type) == {"IAMUser", "AssumedRole", "AWSService", "Root"}
    assumed = by_type["AssumedRole"]["userIdentity"]
    issuer = assumed["sessionContext"]["sessionIssuer"]
    assert assumed["arn"].startswith("arn:aws:sts::") and ":assumed-role/" in assumed["arn"]
    assert assumed["arn"].split("/")[1] == issuer["userName"]
    assert assumed["accessKeyId"].startswith("ASIA")
    assert "creationDate" in assumed["sessionContext"]["attributes"]
    service = by_type["AWSService"]
    assert service["sourceIPAddress"] == service["userIdentity"]["invokedBy"]
    root = by_type["Root"]
    assert root["userIdentity"]["arn"].endswith(":root")
    long_term = [
        r
        for r in records
        if r["userIdentity"]["type"] == "IAMUser" and "sessionContext" not in r["userIdentity"]
    ]
    assert long_term and all(r["userIdentity"]["accessKeyId"].startswith("AKIA") for r in long_term)


def test_records_carry_the_fields_of_real_trails(records: list[dict[str, Any]]) -> None:
    required = {
        "eventVersion",
        "userIdentity",
        "eventTime",
        "eventSource",
        "eventName",
        "awsRegion",
        "sourceIPAddress",
        "userAgent",
        "requestParameters",
        "eventID",
        "eventType",
        "recipientAccountId",
    }
    assert all(required <= r.keys() for r in records)
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", r["eventTime"]) for r in records)
    tls = [r for r in records if "tlsDetails" in r]
    assert tls and all(r["tlsDetails"]["clientProvidedHostHeader"] == r["eventSource"] for r in tls)
    agents = Counter(r["userAgent"].split("/")[0] for r in records)
    assert {"aws-cli", "Mozilla", "Boto3", "APN", "aws-sdk-go"} <= set(agents)
    iam = [r for r in records if r["eventSource"] == "iam.amazonaws.com"]
    assert iam and all(r["awsRegion"] == "us-east-1" for r in iam)


def test_error_messages_use_aws_wording(records: list[dict[str, Any]]) -> None:
    errors = [r for r in records if "errorCode" in r]
    assert 0.005 < len(errors) / len(records) < 0.2
    codes = Counter(r["errorCode"] for r in errors)
    assert {"AccessDeniedException", "NoSuchBucketPolicy", "ThrottlingException"} <= set(codes)
    denied = [r["errorMessage"] for r in errors if r["errorCode"] == "AccessDeniedException"]
    pattern = re.compile(
        r"^User: arn:aws:(iam|sts)::\d{12}:\S+ is not authorized to perform: (\w+):(\w+) "
        r"on resource: \S+ because no identity-based policy allows the \2:\3 action$"
    )
    assert all(pattern.match(m) for m in denied)


def test_people_work_in_their_hours_and_automation_runs_around_the_clock(
    records: list[dict[str, Any]],
) -> None:
    def hours(pred: Any) -> Counter[int]:
        return Counter(int(r["eventTime"][11:13]) for r in records if pred(r))

    london = hours(lambda r: r["userIdentity"].get("arn", "").endswith("user/erin"))
    assert (
        london and sum(v for h, v in london.items() if 8 <= h <= 18) / sum(london.values()) > 0.95
    )
    agent = hours(lambda r: r["eventName"] == "UpdateInstanceInformation")
    assert len(agent) == 24


def test_scenarios_are_labelled_and_present(tmp_path: Path) -> None:
    out = tmp_path / "w"
    generate_world(out, WorldParams(seed=5, days=2))
    labels = load_scenarios(out)["scenarios"]
    assert [s["id"] for s in labels] == [1, 2, 3, 4, 5]
    assert [s["malicious"] for s in labels] == [True, True, True, False, False]
    recs = _records(out)
    for s in labels:
        inside = [
            r
            for r in recs
            if s["start"] <= r["eventTime"] <= s["end"]
            and r["userIdentity"].get("arn") in s["principals"]
        ]
        assert len(inside) >= min(s["events"], 20), s["name"]
        assert s["malicious"] == bool(s["expected_jobs"])
    # The automation bug: one denial retried, a fresh encoded message each time (one by wording).
    repeated = [r for r in recs if r["eventName"] == "StartInstances" and r.get("errorCode")]
    assert len(repeated) > 1000 and len({r["errorMessage"] for r in repeated}) == len(repeated)
    assert len({wording(r["errorMessage"]) for r in repeated}) == 1
    discovery = [r for r in recs if r["sourceIPAddress"].startswith("175.16.199.")]
    assert len({r["errorMessage"] for r in discovery if "errorMessage" in r}) > 30


def test_existing_world_recognises_same_parameters(
    world: tuple[Path, dict[str, Any]],
) -> None:
    root, _ = world
    assert existing_world(root, WorldParams(seed=3, days=3)) is not None
    assert existing_world(root, WorldParams(seed=4, days=3)) is None


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (WorldParams(start="2026-11-17"), "Monday"),
        (WorldParams(start="someday"), "not a date"),
        (WorldParams(days=0), "between"),
        (WorldParams(file_minutes=7), "file_minutes"),
        (WorldParams(scale=9), "scale"),
    ],
)
def test_bad_parameters_raise_config_errors(
    tmp_path: Path, params: WorldParams, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        generate_world(tmp_path, params)


def test_load_scenarios_names_the_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"scenarios\.json not found"):
        load_scenarios(tmp_path)


def test_scale_thins_machine_traffic_but_keeps_people_and_scenarios(tmp_path: Path) -> None:
    full = generate_world(tmp_path / "full", WorldParams(seed=2, days=1))
    thin = generate_world(tmp_path / "thin", WorldParams(seed=2, days=1, scale=0.25))
    assert thin["events"] < 0.5 * full["events"]
    labels = [load_scenarios(tmp_path / d)["scenarios"] for d in ("full", "thin")]
    assert [s["events"] for s in labels[0]] == [s["events"] for s in labels[1]]
