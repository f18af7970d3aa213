from __future__ import annotations

from shared_data import shared_path
from trailspike.normalise.categories import CATEGORIES


def test_table_matches_elastic_pipeline() -> None:
    import yaml

    pipeline = yaml.safe_load(shared_path("elastic_fixtures", "default.yml").read_text())
    [script] = [
        p["script"]
        for p in pipeline["processors"]
        if p.get("script", {}).get("tag") == "Add ECS categorization"
    ]
    expected = {name: (v["category"][0], tuple(v["type"])) for name, v in script["params"].items()}
    assert expected == CATEGORIES
