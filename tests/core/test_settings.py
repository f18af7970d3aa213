from __future__ import annotations

from pathlib import Path

import pytest

from trailspike.core.errors import ConfigError
from trailspike.core.settings import load_settings


def test_layers_in_order(tmp_path: Path) -> None:
    cfg = tmp_path / "trailspike.toml"
    cfg.write_text('db = "from-file.duckdb"\nport = 8100\n')
    env = {"TRAILSPIKE_PORT": "8200"}
    values = load_settings({"host": "0.0.0.0"}, config_path=cfg, environ=env)
    assert values["db"] == "from-file.duckdb"
    assert values["port"] == 8200
    assert values["host"] == "0.0.0.0"


def test_unknown_setting_names_its_origin(tmp_path: Path) -> None:
    cfg = tmp_path / "trailspike.toml"
    cfg.write_text("colour = 'blue'\n")
    with pytest.raises(ConfigError, match="unknown setting 'colour'"):
        load_settings(config_path=cfg, environ={})
