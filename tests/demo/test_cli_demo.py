"""The demo commands through click: generate a world, and score an empty store."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from trailspike.cli import cli
from trailspike.store.db import open_store


def test_demo_generate_writes_world_and_labels(tmp_path: Path) -> None:
    out = tmp_path / "world"
    result = CliRunner().invoke(
        cli, ["demo", "generate", "--out", str(out), "--days", "1", "--scale", "0.1"]
    )
    assert result.exit_code == 0, result.output
    assert "events in" in result.output
    assert (out / "scenarios.json").exists() and (out / "world.json").exists()
    assert any(out.joinpath("AWSLogs").rglob("*.json.gz"))


def test_demo_help_has_an_example() -> None:
    for args in (["demo", "--help"], ["demo", "generate", "--help"], ["eval", "scenarios", "-h"]):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 0 and "Example:" in result.output


def test_eval_scenarios_reports_misses_without_failing(tmp_path: Path) -> None:
    world = tmp_path / "world"
    assert (
        CliRunner()
        .invoke(cli, ["demo", "generate", "--out", str(world), "--days", "1", "--scale", "0.1"])
        .exit_code
        == 0
    )
    open_store(tmp_path / "demo.duckdb").close()  # an empty store beside the world
    result = CliRunner().invoke(cli, ["eval", "scenarios", "--world", str(world), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert [s["outcome"] for s in data["scenarios"]] == [
        "missed",
        "missed",
        "missed",
        "quiet",
        "quiet",
    ]
    assert not all(g["ok"] for g in data["goals"])


def test_eval_scenarios_names_a_missing_world(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["eval", "scenarios", "--world", str(tmp_path / "nope")])
    assert result.exit_code != 0
    assert "scenarios.json not found" in str(result.exception or result.output)
