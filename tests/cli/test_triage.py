"""``trailspike triage``: formats, id prefixes, files, and clear errors."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "triage"))
from triage_world import World, build_automation_bug

from trailspike.cli import cli
from trailspike.cli.triage import triage


@pytest.fixture
def store_path(store: duckdb.DuckDBPyConnection, tmp_path: Path) -> tuple[Path, str]:
    uuid = build_automation_bug(World(store))
    store.close()  # the command opens the file read-only
    return tmp_path / "test.duckdb", uuid


def test_markdown_report_for_a_prefix(store_path: tuple[Path, str]) -> None:
    path, uuid = store_path
    result = CliRunner().invoke(triage, [uuid[:8], "--db", str(path)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("# Triage: Spike in AWS Error Messages")
    assert "likely automation bug" in result.output
    assert "-- parameters:" in result.output


def test_json_report_parses(store_path: tuple[Path, str]) -> None:
    path, uuid = store_path
    result = CliRunner().invoke(triage, [uuid, "--db", str(path), "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["alert"]["alert_uuid"] == uuid


def test_html_report_to_a_file(store_path: tuple[Path, str], tmp_path: Path) -> None:
    path, uuid = store_path
    out = tmp_path / "t.html"
    result = CliRunner().invoke(
        triage, [uuid[:10], "--db", str(path), "--format", "html", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    html = out.read_text()
    assert html.startswith("<!DOCTYPE html>") and f'id="alert-{uuid}"' in html


def test_registered_in_the_root_group_with_help() -> None:
    result = CliRunner().invoke(cli, ["triage", "--help"])
    assert result.exit_code == 0, result.output
    assert "Examples:" in result.output and "trailspike triage 3f2a9c" in result.output


def test_unknown_alert_and_missing_store_are_one_line_errors(
    store_path: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from trailspike.cli import main

    path, _ = store_path
    with pytest.raises(SystemExit) as info:
        main(["triage", "nope", "--db", str(path)])
    assert info.value.code == 2
    assert "no alert with id or id prefix 'nope'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["triage", "abc", "--db", str(tmp_path / "absent.duckdb")])
    assert "no store at" in capsys.readouterr().err
