from __future__ import annotations

from trailspike.normalise.javamap import hashmap_order, java_string_hash, java_to_string


def test_java_string_hash_matches_java() -> None:
    # Values of "".hashCode() etc. computed by the JVM.
    assert java_string_hash("") == 0
    assert java_string_hash("a") == 97
    assert java_string_hash("hello") == 99162322
    assert java_string_hash("polygenelubricants") == -2147483648


def test_order_matches_elastic_fixtures() -> None:
    # From Elastic's expected outputs (create-key-pair, assume-role).
    assert hashmap_order(["keyName", "keyFingerprint", "keyMaterial"]) == [
        "keyMaterial",
        "keyFingerprint",
        "keyName",
    ]
    assert (
        java_to_string(
            {
                "credentials": {"accessKeyId": "A", "sessionToken": "H", "expiration": "E"},
                "assumedRoleUser": {"assumedRoleId": "X", "arn": "Y"},
            }
        )
        == "{assumedRoleUser={assumedRoleId=X, arn=Y}, "
        "credentials={accessKeyId=A, sessionToken=H, expiration=E}}"
    )


def test_table_grows_past_twelve_keys() -> None:
    keys = [f"k{i}" for i in range(20)]
    order = hashmap_order(keys)
    assert sorted(order) == sorted(keys) and len(order) == 20


def test_values_render_like_java() -> None:
    assert (
        java_to_string({"a": 1.0, "b": 1e10, "c": False, "d": [], "e": [None]})
        == "{a=1.0, b=1.0E10, c=false}"
    )
