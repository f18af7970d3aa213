"""The outputs registry: names from settings, plugins, and clear errors."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import pytest

from trailspike.core.errors import ConfigError
from trailspike.outputs.base import AlertDoc
from trailspike.outputs.ndjson import NdjsonOutput
from trailspike.outputs.registry import OUTPUTS, create_outputs, register_output
from trailspike.outputs.stdout import StdoutOutput
from trailspike.rules.engine import default_settings


def test_builds_named_outputs(tmp_path: Path) -> None:
    settings = {
        **default_settings(),
        "outputs": "stdout,ndjson",
        "ndjson_path": str(tmp_path / "a"),
    }
    outputs = create_outputs(settings)
    assert [type(o) for o in outputs] == [StdoutOutput, NdjsonOutput]


def test_unknown_output_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown output 'kafka'.*ndjson.*webhook"):
        create_outputs({**default_settings(), "outputs": "kafka"})


def test_outputs_that_need_settings_say_which() -> None:
    with pytest.raises(ConfigError, match="webhook_url"):
        create_outputs({**default_settings(), "outputs": "webhook"})
    with pytest.raises(ConfigError, match="elasticsearch_url"):
        create_outputs({**default_settings(), "outputs": "elasticsearch"})


def test_a_plugin_output_can_be_registered() -> None:
    class Memory:
        name = "memory"

        def __init__(self) -> None:
            self.seen: list[AlertDoc] = []

        def send(self, alerts: Sequence[AlertDoc]) -> list[str | None]:
            self.seen.extend(alerts)
            return [None] * len(alerts)

        def close(self) -> None:
            return None

    register_output("memory", lambda settings: Memory())
    try:
        (out,) = create_outputs({**default_settings(), "outputs": "memory"})
        assert out.send([{"a": 1}]) == [None]
    finally:
        OUTPUTS.pop("memory")


def test_stdout_prints_one_line_per_alert() -> None:
    stream = io.StringIO()
    StdoutOutput(stream).send(
        [{"kibana.alert.uuid": "abcdef0123456789", "kibana.alert.reason": "r", "record_score": 51}]
    )
    assert stream.getvalue().strip().endswith("score 51 abcdef012345 r")


def test_every_builtin_has_a_class_with_its_name() -> None:
    from trailspike.outputs.registry import BUILTIN, output_classes

    classes = output_classes()
    assert sorted(classes) == sorted(BUILTIN)
    assert all(cls.name == name for name, cls in classes.items())
