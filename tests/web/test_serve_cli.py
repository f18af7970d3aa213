"""``trailspike serve`` on the command line: help with an example, refusal to serve openly."""

from __future__ import annotations

import pytest

from trailspike.cli import main


def test_help_has_an_example(capsys: pytest.CaptureFixture[str]) -> None:
    main(["serve", "--help"])  # click prints the help and returns (standalone_mode off)
    out = capsys.readouterr().out
    assert "Example:" in out and "trailspike serve --db" in out and "--token" in out


def test_refuses_to_bind_beyond_loopback_without_a_token(
    capsys: pytest.CaptureFixture[str], tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no trailspike.toml here
    monkeypatch.delenv("TRAILSPIKE_TOKEN", raising=False)
    with pytest.raises(SystemExit) as exit_info:
        main(["serve", "--host", "0.0.0.0", "--db", str(tmp_path / "x.duckdb")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "token" in err and "0.0.0.0" in err


def test_problem_names_a_missing_store(tmp_path) -> None:
    from trailspike.web.store import FileStore

    assert "does not exist yet" in (FileStore(tmp_path / "nope.duckdb").problem() or "")
