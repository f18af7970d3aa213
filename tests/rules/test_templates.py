"""Error-message templates: DuckDB and Python group messages alike."""

from __future__ import annotations

import duckdb
import pytest

from trailspike.rules.templates import message_template, template_sql

MESSAGES = [
    "User: arn:aws:iam::123456789012:user/ci is not authorized to perform: iam:ListUsers7",
    "Access Denied for object obj-a3f9c2e1d0 (size 1024)",
    "The facade of decade 12 was accessed",  # words of hex letters stay words
    "ec2:StartInstances on i-0abc123def4567890 failed",
    "v1.2.3 failed after 30.5 s",
    "key 6f1e2d3c-aaaa-bbbb-cccc-123456789012 is pending deletion",
    "sha 3d2f1e0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e mismatch",
    "Ünïcödé9 naïve 42",  # RE2 reads \b over ASCII; Python is told to as well
    "",
]


@pytest.mark.parametrize("message", MESSAGES)
def test_duckdb_and_python_templates_agree(message: str) -> None:
    sql, params = template_sql("m")
    row = duckdb.connect().execute(f"SELECT {sql} FROM (SELECT ? AS m)", [*params, message])
    assert row.fetchone() == (message_template(message),)


def test_object_keys_and_hashes_group_while_words_and_actions_stay() -> None:
    assert message_template(MESSAGES[1]) == "Access Denied for object obj-<hex> (size <n>)"
    assert message_template(MESSAGES[2]) == "The facade of decade <n> was accessed"
    assert message_template(MESSAGES[6]) == "sha <hex> mismatch"
    assert message_template(MESSAGES[5]) == "key <id> is pending deletion"
