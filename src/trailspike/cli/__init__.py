"""The ``trailspike`` command: a click group whose subcommands are imported only when used.

Implementation decisions: heavy libraries (scipy, pyspark, uvicorn) load lazily so ``--help`` is
fast. Each subcommand lives in its own module here and only parses input and calls library code.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from trailspike import __version__
from trailspike.core.errors import TrailspikeError

# command name -> "module:attribute" of its click command or group.
COMMANDS: dict[str, str] = {
    "rules": "trailspike.cli.rules:rules",
    "alerts": "trailspike.cli.alerts:alerts",
    "run": "trailspike.cli.run:run",
    "anomalies": "trailspike.cli.anomalies:anomalies",
    "jobs": "trailspike.cli.jobs:jobs",
    "demo": "trailspike.cli.demo:demo",
    "eval": "trailspike.cli.eval:eval_group",
    "ingest": "trailspike.cli.ingest:ingest",
    "normalize": "trailspike.cli.ingest:normalize",
    "quarantine": "trailspike.cli.ingest:quarantine",
    "serve": "trailspike.cli.serve:serve",
    "store": "trailspike.cli.store:store",
    "triage": "trailspike.cli.triage:triage",
}


class LazyGroup(click.Group):
    """A group that imports a subcommand's module only when that subcommand is needed."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        command = getattr(importlib.import_module(module_name), attr)
        assert isinstance(command, click.Command)
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="trailspike")
@click.option("--debug/--no-debug", default=False, help="Show tracebacks for errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Turn AWS CloudTrail logs into Elastic-style ML anomaly alerts, on one machine.

    \b
    Example:
      trailspike ingest ./AWSLogs --db trailspike.duckdb
      trailspike jobs run && trailspike rules backfill --start 2026-01-01 --end 2026-01-22
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


def main(argv: list[str] | None = None) -> Any:
    """Console-script entry point: user errors print one line, not a traceback."""
    try:
        return cli.main(args=argv, prog_name="trailspike", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except TrailspikeError as exc:
        if "--debug" in (argv if argv is not None else sys.argv):
            raise
        click.secho(f"error: {exc}", fg="red", err=True)
        sys.exit(2)
