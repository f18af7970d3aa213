from __future__ import annotations

from typing import Any

import pytest

from trailspike.normalise.cloudtrail import to_ecs
from trailspike.normalise.values import drop_empty, format_timestamp


def base(**extra: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "eventVersion": "1.08",
        "eventTime": "2026-01-01T10:00:00Z",
        "eventSource": "iam.amazonaws.com",
        "eventName": "CreateUser",
        "awsRegion": "us-east-1",
        "eventID": "e-1",
        "requestParameters": {"userName": "bob", "tags": None},
        "responseElements": {"user": {"userId": "AIDABOB", "userName": "bob"}},
    }
    record.update(extra)
    return record


def test_core_fields() -> None:
    doc = to_ecs(
        base(
            userIdentity={
                "type": "IAMUser",
                "userName": "alice",
                "principalId": "P",
                "arn": "arn:aws:iam::1:user/alice",
                "accountId": "1",
            }
        )
    )
    assert doc["@timestamp"] == "2026-01-01T10:00:00.000Z"
    assert doc["event"]["action"] == "CreateUser"
    assert doc["event"]["provider"] == "iam.amazonaws.com"
    assert doc["event"]["id"] == "e-1"
    assert doc["event"]["outcome"] == "success"
    assert doc["event"]["category"] == ["iam"] and doc["event"]["type"] == ["user", "creation"]
    assert doc["cloud"] == {
        "provider": "aws",
        "region": "us-east-1",
        "account": {"id": "1"},
        "service": {"name": "iam"},
    }
    assert doc["user"]["name"] == "alice" and doc["user"]["id"] == "P"
    assert doc["user"]["target"] == {"name": "bob", "id": "AIDABOB"}
    assert doc["related"]["user"] == ["alice", "bob"]
    ct = doc["aws"]["cloudtrail"]
    assert ct["request_parameters"] == "{userName=bob}"
    assert ct["flattened"]["request_parameters"] == {"userName": "bob"}
    assert ct["user_identity"] == {"type": "IAMUser", "arn": "arn:aws:iam::1:user/alice"}


def test_error_makes_failure_and_console_login_uses_its_response() -> None:
    assert to_ecs(base(errorCode="AccessDenied"))["event"]["outcome"] == "failure"
    assert to_ecs(base(errorMessage="nope"))["event"]["outcome"] == "failure"
    login = to_ecs(
        base(
            eventName="ConsoleLogin",
            errorMessage="Failed authentication",
            responseElements={"ConsoleLogin": "Success"},
            additionalEventData={"MFAUsed": "Yes", "MobileVersion": "No"},
        )
    )
    assert login["event"]["outcome"] == "success"
    assert login["aws"]["cloudtrail"]["console_login"] == {
        "additional_eventdata": {"mfa_used": True, "mobile_version": False}
    }


def test_assumed_role_user_name_is_the_role() -> None:
    identity = {
        "type": "AssumedRole",
        "principalId": "AROA:sess",
        "arn": "arn:aws:sts::1:assumed-role/r/s",
        "sessionContext": {
            "attributes": {"mfaAuthenticated": "false", "creationDate": "20131102T010628Z"},
            "sessionIssuer": {"type": "Role", "userName": "r", "arn": "arn:aws:iam::1:role/r"},
        },
    }
    doc = to_ecs(base(userIdentity=identity))
    assert doc["user"]["name"] == "r"
    sc = doc["aws"]["cloudtrail"]["user_identity"]["session_context"]
    assert sc["mfa_authenticated"] == "false"
    assert "creation_date" not in sc  # non-ISO dates are dropped, as in Elastic
    assert sc["session_issuer"] == {"type": "Role", "arn": "arn:aws:iam::1:role/r"}


@pytest.mark.parametrize(
    ("address", "ip"),
    [
        ("89.160.20.156", "89.160.20.156"),
        ("2001:db8::1", "2001:db8::1"),
        ("ec2.amazonaws.com", None),
        ("AWS Internal", None),
    ],
)
def test_source_ip_only_for_literal_addresses(address: str, ip: str | None) -> None:
    source = to_ecs(base(sourceIPAddress=address))["source"]
    assert source["address"] == address
    assert source.get("ip") == ip


def test_nulls_and_empty_strings_disappear() -> None:
    doc = to_ecs(
        base(
            userIdentity={"type": "IdentityCenterUser", "arn": ""},
            requestParameters=None,
            responseElements={},
            errorCode="",
        )
    )
    ct = doc["aws"]["cloudtrail"]
    assert ct["user_identity"] == {"type": "IdentityCenterUser"}
    assert "request_parameters" not in ct and "response_elements" not in ct
    assert ct["flattened"] == {}
    assert doc["event"]["outcome"] == "success"


def test_resources_are_renamed_and_deduplicated() -> None:
    resource = {"ARN": "arn:aws:s3:::b", "accountId": "1", "type": "AWS::S3::Bucket"}
    doc = to_ecs(base(resources=[resource, dict(resource)]))
    assert doc["aws"]["cloudtrail"]["resources"] == [
        {"arn": "arn:aws:s3:::b", "account_id": "1", "type": "AWS::S3::Bucket"}
    ]


def test_tls_details_and_shared_event_id() -> None:
    doc = to_ecs(
        base(
            tlsDetails={
                "tlsVersion": "TLSv1.2",
                "cipherSuite": "C",
                "clientProvidedHostHeader": "iam.amazonaws.com",
            },
            sharedEventID="s-1",
        )
    )
    assert doc["tls"] == {
        "version_protocol": "tls",
        "version": "1.2",
        "cipher": "C",
        "client": {"server_name": "iam.amazonaws.com"},
    }
    assert doc["aws"]["cloudtrail"]["shared_event_id"] == "s-1"


def test_huge_parameters_keep_only_the_string_form() -> None:
    doc = to_ecs(base(requestParameters={"policy": "x" * 40000}))
    ct = doc["aws"]["cloudtrail"]
    assert ct["request_parameters"].startswith("{policy=xxx")
    assert "request_parameters" not in ct["flattened"]


def test_drop_empty_keeps_zero_and_false() -> None:
    assert drop_empty({"a": 0, "b": False, "c": [None, {}], "d": {"e": ""}}) == {"a": 0, "b": False}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2014-07-16T15:49:27Z", "2014-07-16T15:49:27.000Z"),
        ("2014-07-16T15:49:27.123456Z", "2014-07-16T15:49:27.123Z"),
        ("2021-05-20 15:53:47Z", "2021-05-20T15:53:47.000Z"),
        ("2022-02-08T09:23:37+11:00", "2022-02-07T22:23:37.000Z"),
        ("20131102T010628Z", None),
        ("...", None),
        (17, None),
    ],
)
def test_format_timestamp(text: Any, expected: str | None) -> None:
    assert format_timestamp(text) == expected
