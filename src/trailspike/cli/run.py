"""``trailspike run``: the long-running service (ingest, jobs, rules, outputs, every interval)."""

from __future__ import annotations

import logging

import click

from trailspike.cli.options import db_option, resolve_settings, setting_option


@click.command("run")
@click.option("--once", is_flag=True, help="Run one cycle and exit (for cron or tests).")
@click.option("--interval", default=None, help="Time between cycles (setting service_interval).")
@click.option(
    "--source", "sources", multiple=True, help="Path or s3:// prefix to ingest (repeatable)."
)
@click.option("--output", "outputs", multiple=True, help="Alert output name (repeatable).")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors on stderr.")
@db_option
@setting_option
def run(
    once: bool,
    interval: str | None,
    sources: tuple[str, ...],
    outputs: tuple[str, ...],
    quiet: bool,
    db: str | None,
    setting_pairs: tuple[tuple[str, str], ...],
) -> None:
    """Run the service: every interval ingest new files, run the jobs, execute due rules
    (catching up missed runs) and send new alerts to the outputs.

    The store is held only during a cycle, so `trailspike alerts ack ID` works in between.
    SIGTERM or Ctrl-C stop it after the current step; after a crash or kill -9 it resumes
    where it was, without losing or repeating alerts.

    \b
    Examples:
      trailspike run --source s3://my-trail-bucket/AWSLogs/ --output ndjson --output webhook \\
          --setting webhook_url https://hooks.slack.com/services/… --setting webhook_format slack
      trailspike run --once --source ./AWSLogs
    """
    from trailspike.service.runner import CycleReport, Service

    extra = {
        "service_interval": interval,
        "sources": ",".join(sources) if sources else None,
        "outputs": ",".join(outputs) if outputs else None,
    }
    settings = resolve_settings(db, setting_pairs, **extra)
    logging.basicConfig(
        level=logging.WARNING if quiet else logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
    )
    service = Service(settings)
    log = logging.getLogger("trailspike.service")
    log.info(
        "serving %s every %s; sources: %s; outputs: %s",
        settings["db"],
        settings["service_interval"],
        settings["sources"] or "none",
        settings["outputs"] or "none",
    )
    errors: list[str] = []

    def report_cycle(report: CycleReport) -> None:
        log.info(report.summary_line())
        errors[:] = report.errors

    cycles = service.run(once=once, on_cycle=report_cycle)
    log.info("stopped after %d cycles", cycles)
    if once and errors:
        # For cron: a step failed (the others ran); the details were logged above.
        raise click.exceptions.Exit(1)
