"""``trailspike ingest``, ``trailspike normalize`` and ``trailspike quarantine``.

Thin click commands: they parse options and call :func:`trailspike.ingest.pipeline.ingest`,
:func:`trailspike.normalise.cloudtrail.to_ecs` and :mod:`trailspike.ingest.quarantine`.
"""

from __future__ import annotations

import sys

import click
import orjson

from trailspike.cli.options import db_option, resolve_settings, setting_option


def _settings(db: str | None, pairs: tuple[tuple[str, str], ...], **extra: str | None) -> dict:
    return resolve_settings(db, pairs, **extra)


@click.command()
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
@db_option
@click.option("--force", is_flag=True, help="Re-read files that were already ingested.")
@click.option("--endpoint-url", default=None, help="S3 endpoint (setting `s3_endpoint_url`).")
@click.option("--geoip-city-db", default=None, metavar="MMDB", help="GeoLite2-City .mmdb file.")
@click.option("--geoip-asn-db", default=None, metavar="MMDB", help="GeoLite2-ASN .mmdb file.")
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: on a TTY).")
@setting_option
def ingest(
    paths: tuple[str, ...],
    db: str | None,
    force: bool,
    endpoint_url: str | None,
    geoip_city_db: str | None,
    geoip_asn_db: str | None,
    progress: bool | None,
    setting_pairs: tuple[tuple[str, str], ...],
) -> None:
    """Ingest CloudTrail logs into the store (files, folders, globs, - or s3://bucket/prefix).

    Accepts S3 delivery files (.json/.json.gz), JSON lines of records, lookup-events output,
    EventBridge envelopes and ECS documents exported from Elasticsearch. Files already read are
    skipped; events already stored count as duplicates; bad records go to quarantine.

    \b
    Examples:
      trailspike ingest ./AWSLogs --db trailspike.duckdb
      trailspike ingest 's3://my-trail-bucket/AWSLogs/123456789012/' --endpoint-url http://127.0.0.1:9000
      zcat events.json.gz | trailspike ingest -
    """
    from trailspike.ingest.pipeline import ingest as run_ingest
    from trailspike.store.db import open_store

    settings = _settings(
        db,
        setting_pairs,
        s3_endpoint_url=endpoint_url,
        geoip_city_db=geoip_city_db,
        geoip_asn_db=geoip_asn_db,
    )
    show = sys.stderr.isatty() if progress is None else progress
    con = open_store(settings["db"])
    try:
        summary = run_ingest(con, list(paths), settings, force=force, progress=show)
    finally:
        con.close()
    for note in summary.notes:
        click.echo(f"note: {note}", err=True)
    click.echo(summary.summary_line())


@click.command()
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
@click.option("--endpoint-url", default=None, help="S3 endpoint (setting `s3_endpoint_url`).")
@click.option("--geoip-city-db", default=None, metavar="MMDB", help="GeoLite2-City .mmdb file.")
@click.option("--geoip-asn-db", default=None, metavar="MMDB", help="GeoLite2-ASN .mmdb file.")
@setting_option
def normalize(
    paths: tuple[str, ...],
    endpoint_url: str | None,
    geoip_city_db: str | None,
    geoip_asn_db: str | None,
    setting_pairs: tuple[tuple[str, str], ...],
) -> None:
    """Print the ECS documents for CloudTrail input, one JSON per line, storing nothing.

    Bad records are reported on stderr with file, line and reason.

    \b
    Examples:
      trailspike normalize events.json.gz | jq '.aws.cloudtrail.error_code'
      trailspike normalize ./AWSLogs > ecs.ndjson
    """
    from trailspike.ingest.normalize import normalize_sources

    settings = _settings(
        None,
        setting_pairs,
        s3_endpoint_url=endpoint_url,
        geoip_city_db=geoip_city_db,
        geoip_asn_db=geoip_asn_db,
    )
    out = sys.stdout.buffer
    bad = 0
    for item in normalize_sources(list(paths), settings):
        if isinstance(item, dict):
            out.write(orjson.dumps(item) + b"\n")
        else:
            bad += 1
            click.echo(f"skipped: {item}", err=True)
    out.flush()
    if bad:
        click.echo(f"{bad} records skipped", err=True)


@click.command()
@db_option
@click.option("--path", "path_like", default=None, help="Only files whose path contains this.")
@click.option("--limit", default=100, show_default=True, help="How many records to list.")
@click.option("--summary", is_flag=True, help="Counts per reason instead of the records.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@setting_option
def quarantine(
    db: str | None,
    path_like: str | None,
    limit: int,
    summary: bool,
    as_json: bool,
    setting_pairs: tuple[tuple[str, str], ...],
) -> None:
    """List the records ingest set aside, with file, line, record index, reason and snippet.

    \b
    Examples:
      trailspike quarantine --summary
      trailspike quarantine --path 2026/01/15 --limit 20
    """
    from rich.console import Console
    from rich.table import Table

    from trailspike.ingest.quarantine import count_by_reason, list_quarantine
    from trailspike.store.db import open_store

    settings = _settings(db, setting_pairs)
    con = open_store(settings["db"])
    try:
        if summary:
            reasons = count_by_reason(con)
            for reason, count in reasons:
                click.echo(f"{count:8,}  {reason}")
            if not reasons:
                click.echo("quarantine is empty")
            return
        rows = list_quarantine(con, path_like, limit)
    finally:
        con.close()
    if as_json:
        for row in rows:
            click.echo(orjson.dumps(row.__dict__).decode())
        return
    if not rows:
        click.echo("quarantine is empty")
        return
    table = Table("path", "line", "record", "reason", "snippet")
    for row in rows:
        table.add_row(
            _short_path(row.path),
            "" if row.line is None else str(row.line),
            "" if row.record_index is None else str(row.record_index),
            row.reason,
            row.snippet[:80],
        )
    Console(markup=False, highlight=False).print(table)


def _short_path(path: str, keep: int = 2) -> str:
    """The last ``keep`` parts of a path, so table rows stay readable.

    >>> _short_path("/a/b/c/d.json")
    '…/c/d.json'
    """
    parts = path.rstrip("/").split("/")
    return path if len(parts) <= keep else "…/" + "/".join(parts[-keep:])
