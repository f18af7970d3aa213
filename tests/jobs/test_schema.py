"""JobConfig: Elastic's job shape, strict about unknown keys and functions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from trailspike.core.errors import ConfigError
from trailspike.jobs.loader import load_job_file, load_jobs
from trailspike.jobs.schema import JobConfig, job_json_schema

BASE = {
    "job_id": "my_job",
    "analysis_config": {
        "bucket_span": "15m",
        "detectors": [{"function": "high_count", "partition_field_name": "user.name"}],
        "influencers": ["source.ip"],
    },
}


def write(tmp_path: Path, data: object, name: str = "my_job.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


def test_minimal_job_has_defaults() -> None:
    job = JobConfig.model_validate(BASE)
    assert job.bucket_span_seconds == 900
    assert job.model_memory_limit_bytes == 1024 << 20
    assert job.model_prune_window.days == 30
    assert job.datafeed.clause() is not None


def test_unknown_key_names_file_and_key(tmp_path: Path) -> None:
    data = json.loads(json.dumps(BASE))
    data["analysis_config"]["detectors"][0]["feild_name"] = "x"
    path = write(tmp_path, data)
    with pytest.raises(ConfigError) as err:
        load_job_file(path)
    text = str(err.value)
    assert str(path) in text
    assert "analysis_config.detectors.0.feild_name" in text and "unknown key" in text


def test_unknown_function_is_named(tmp_path: Path) -> None:
    data = json.loads(json.dumps(BASE))
    data["analysis_config"]["detectors"][0]["function"] = "high_entropy"
    with pytest.raises(ConfigError, match="unknown function 'high_entropy'"):
        load_job_file(write(tmp_path, data))


def test_unsupported_datafeed_query_is_named(tmp_path: Path) -> None:
    data = {**BASE, "datafeed": {"query": {"bool": {"filter": [{"wildcard": {"a": "b*"}}]}}}}
    with pytest.raises(ConfigError, match=r"query\.bool\.filter\[0\]\.wildcard"):
        load_job_file(write(tmp_path, data))


def test_pasted_elasticsearch_job_is_accepted() -> None:
    data = {
        **BASE,
        "create_time": 1700000000000,
        "job_version": "8.15.0",
        "model_snapshot_id": "1",
        "datafeed_config": {
            "datafeed_id": "datafeed-my_job",
            "job_id": "my_job",
            "indices": ["logs-*"],
            "query": {"bool": {"must_not": [{"terms": {"user.name": ["svc"]}}]}},
        },
    }
    job = JobConfig.model_validate(data)
    assert job.datafeed.datafeed_id == "datafeed-my_job"


def test_field_name_rules_follow_the_function() -> None:
    bad = json.loads(json.dumps(BASE))
    bad["analysis_config"]["detectors"][0] = {"function": "mean"}
    with pytest.raises(ValueError, match="needs field_name"):
        JobConfig.model_validate(bad)
    bad["analysis_config"]["detectors"][0] = {"function": "rare", "field_name": "x"}
    with pytest.raises(ValueError, match="takes no field_name"):
        JobConfig.model_validate(bad)


def test_custom_rule_scope_must_name_a_job_filter() -> None:
    data = json.loads(json.dumps(BASE))
    data["analysis_config"]["detectors"][0]["custom_rules"] = [
        {"actions": ["skip_result"], "scope": {"user.name": {"filter_id": "svc"}}}
    ]
    with pytest.raises(ValueError, match="filter 'svc' is not in the job's filters"):
        JobConfig.model_validate(data)
    data["filters"] = {"svc": ["automation"]}
    job = JobConfig.model_validate(data)
    assert job.analysis_config.detectors[0].custom_rules[0].scope["user.name"].filter_id == "svc"


def test_model_revision_ignores_description_but_not_detectors() -> None:
    one = JobConfig.model_validate(BASE)
    two = JobConfig.model_validate({**BASE, "description": "changed"})
    data = json.loads(json.dumps(BASE))
    data["analysis_config"]["bucket_span"] = "30m"
    three = JobConfig.model_validate(data)
    assert one.model_revision == two.model_revision != three.model_revision


def test_trailspike_settings_are_checked_and_change_the_model_revision() -> None:
    data = json.loads(json.dumps(BASE))
    data["analysis_config"]["detectors"] = [
        {"function": "high_distinct_count", "field_name": "aws.cloudtrail.error_message"}
    ]
    plain = JobConfig.model_validate(data)
    assert plain.wording_fields == ()
    data["custom_settings"] = {"trailspike": {"wording_fields": ["aws.cloudtrail.error_message"]}}
    worded = JobConfig.model_validate(data)
    assert worded.wording_fields == ("aws.cloudtrail.error_message",)
    assert worded.model_revision != plain.model_revision  # the feature changed
    data["custom_settings"] = {"trailspike": {"wording_fields": ["source.ip"]}}
    with pytest.raises(ValueError, match=r"'source\.ip' is no detector's field_name"):
        JobConfig.model_validate(data)
    data["custom_settings"] = {"trailspike": {"wording": ["aws.cloudtrail.error_message"]}}
    with pytest.raises(ValueError, match="unknown key 'wording'"):
        JobConfig.model_validate(data)
    data["custom_settings"] = {"created_by": "kibana", "anything": {"else": 1}}
    assert JobConfig.model_validate(data).model_revision == plain.model_revision


def test_duplicate_ids_across_files_fail(tmp_path: Path) -> None:
    write(tmp_path, BASE, "a.json")
    write(tmp_path, BASE, "b.json")
    with pytest.raises(ConfigError, match="also defined in"):
        load_jobs([tmp_path])


def test_exported_json_schema_matches_docs() -> None:
    docs = Path(__file__).resolve().parents[2] / "docs" / "job.schema.json"
    assert json.loads(docs.read_text()) == job_json_schema()
