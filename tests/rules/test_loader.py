"""Rule files: validation errors name the file and key; duplicates and bad names are refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from trailspike.core.errors import ConfigError
from trailspike.rules.loader import load_rules, shipped_rules_dir

SPIKE = shipped_rules_dir() / "ml_cloudtrail_error_message_spike.toml"


def _copy(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_loads_a_folder(tmp_path: Path) -> None:
    _copy(tmp_path, "my_rule.toml", SPIKE.read_text())
    rules = load_rules([tmp_path])
    assert rules.ids() == ["78d3d8d9-b476-451d-a9e0-7a5addd70670"]
    assert rules.get("78d3d8d9-b476-451d-a9e0-7a5addd70670").anomaly_threshold == 50


def test_unknown_key_is_refused_with_its_name(tmp_path: Path) -> None:
    path = _copy(
        tmp_path, "bad.toml", SPIKE.read_text().replace("[rule]\n", "[rule]\nthreshold = 5\n")
    )
    with pytest.raises(ConfigError) as err:
        load_rules([path])
    assert "rule.machine_learning.threshold" in str(err.value)
    assert str(path) in str(err.value)


def test_unknown_type_is_refused(tmp_path: Path) -> None:
    text = SPIKE.read_text().replace('type = "machine_learning"', 'type = "eql"')
    with pytest.raises(ConfigError, match="does not match any of the expected tags"):
        load_rules([_copy(tmp_path, "bad.toml", text)])


def test_bad_toml_names_the_line(tmp_path: Path) -> None:
    path = _copy(tmp_path, "bad.toml", "[metadata]\nmaturity = \n")
    with pytest.raises(ConfigError, match="line 2"):
        load_rules([path])


def test_risk_score_out_of_range(tmp_path: Path) -> None:
    text = SPIKE.read_text().replace("risk_score = 21", "risk_score = 210")
    with pytest.raises(ConfigError, match=r"rule\.machine_learning\.risk_score"):
        load_rules([_copy(tmp_path, "bad.toml", text)])


def test_from_after_to_is_refused(tmp_path: Path) -> None:
    text = SPIKE.read_text().replace('from = "now-60m"', 'from = "now+5m"')
    with pytest.raises(ConfigError, match="must be earlier"):
        load_rules([_copy(tmp_path, "bad.toml", text)])


def test_duplicate_rule_id_is_refused(tmp_path: Path) -> None:
    _copy(tmp_path, "one.toml", SPIKE.read_text())
    _copy(tmp_path, "two.toml", SPIKE.read_text())
    with pytest.raises(ConfigError, match="also defined in"):
        load_rules([tmp_path])


def test_file_name_pattern(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="must match"):
        load_rules([_copy(tmp_path, "My-Rule.toml", SPIKE.read_text())])


def test_unknown_rule_id_lists_known() -> None:
    with pytest.raises(ConfigError, match="known: 78d3d8d9"):
        load_rules().get("nope")


def test_exception_entry_needs_a_value(tmp_path: Path) -> None:
    text = SPIKE.read_text() + (
        '\n[[rule.exceptions]]\nname = "x"\n[[rule.exceptions.entries]]\n'
        'field = "source.ip"\ntype = "match"\n'
    )
    with pytest.raises(ConfigError, match="needs one string value"):
        load_rules([_copy(tmp_path, "bad.toml", text)])
