"""Versioned, checksummed model state."""

from __future__ import annotations

import struct

import pytest

from trailspike.models.factory import new_normalizer, new_series_model
from trailspike.models.state import STATE_VERSION, StateError, dump_state, load_state, memory_bytes


def test_round_trip_keeps_models_identical() -> None:
    model = new_series_model("count", "high", 900.0)
    for i in range(100):
        model.learn_one(i * 900.0, float(i % 7))
    state = {"model": model, "norm": new_normalizer()}
    again = load_state(dump_state(state))
    for t, v in ((100 * 900.0, 3.0), (101 * 900.0, 40.0)):
        assert again["model"].score_one(t, v) == model.score_one(t, v)
    assert again["norm"].normalize(1e-5) == state["norm"].normalize(1e-5)


def test_a_loaded_state_dumps_to_the_same_bytes() -> None:
    # A resumed run must store the bytes an uninterrupted one stores, not only equal content.
    model = new_series_model("count", "high", 900.0)
    for i in range(300):
        model.score_one(i * 900.0, float(i % 7))
        model.learn_one(i * 900.0, float(i % 7))
    blob = dump_state({"model": model, "norm": new_normalizer()})
    resumed = load_state(blob)
    assert dump_state(resumed) == blob
    for i in range(300, 400):
        for m in (model, resumed["model"]):
            m.score_one(i * 900.0, float(i % 5))
            m.learn_one(i * 900.0, float(i % 5))
    assert dump_state(resumed["model"]) == dump_state(model)


def test_corrupt_blob_is_a_clear_error() -> None:
    blob = bytearray(dump_state({"x": 1}))
    blob[-1] ^= 0xFF
    with pytest.raises(StateError, match="checksum"):
        load_state(bytes(blob))


def test_wrong_magic_and_version_are_named() -> None:
    blob = dump_state([1, 2, 3])
    with pytest.raises(StateError, match="magic"):
        load_state(b"XXXX" + blob[4:])
    newer = blob[:4] + struct.pack(">H", STATE_VERSION + 1) + blob[6:]
    with pytest.raises(StateError, match=f"version {STATE_VERSION + 1}"):
        load_state(newer)


def test_memory_grows_with_model_content() -> None:
    small = new_series_model("metric", "both", 300.0)
    big = [new_series_model("metric", "both", 300.0) for _ in range(10)]
    assert memory_bytes(big) > 5 * memory_bytes(small)
