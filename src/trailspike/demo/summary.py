"""What the demo prints after the pipeline ran: the alert table and the closing hints."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb


def alert_rows(con: duckdb.DuckDBPyConnection) -> list[tuple[Any, ...]]:
    """Every alert: bucket time, rule, score, short id, reason (oldest first)."""
    return con.execute(
        "SELECT original_time, rule_name, record_score, alert_uuid, reason FROM alerts "
        "ORDER BY original_time, rule_name"
    ).fetchall()


def alert_table(con: duckdb.DuckDBPyConnection, limit: int = 60) -> Any:
    """A rich table of the alerts (the most recent ``limit`` when there are more)."""
    from rich.table import Table

    rows = alert_rows(con)
    shown = rows[-limit:]
    title = f"Alerts ({len(rows)})" + (f", the last {limit}" if len(rows) > limit else "")
    table = Table(title=title, title_justify="left")
    for column, kwargs in (
        ("bucket (UTC)", {"no_wrap": True}),
        ("rule", {}),
        ("score", {"justify": "right"}),
        ("id", {"no_wrap": True}),
        ("reason", {"overflow": "fold"}),
    ):
        table.add_column(column, **kwargs)
    for when, rule, score, uuid, reason in shown:
        table.add_row(
            f"{when:%Y-%m-%d %H:%M}", rule, f"{score:.0f}", str(uuid)[:12], _short(str(reason))
        )
    return table


def _short(text: str, width: int = 160) -> str:
    """Trim long reasons for the terminal (the report and the UI show them whole).

    >>> _short("abc", 10)
    'abc'
    >>> _short("x" * 20, 10)
    'xxxxxxxxx…'
    """
    return text if len(text) <= width else text[: width - 1] + "…"


def closing_hints(db_path: Path, report: Path | None, first_alert: str | None) -> list[str]:
    """How to go on from the demo: the web UI, a triage, the scorecard."""
    lines = [f"Web UI:     trailspike serve --db {db_path}   (then open http://127.0.0.1:8000)"]
    if first_alert:
        lines.append(f"Triage:     trailspike triage {first_alert[:12]} --db {db_path}")
    lines.append(f"Scorecard:  trailspike eval scenarios --world {db_path.parent / 'world'}")
    if report is not None:
        lines.append(f"Report:     {report}")
    return lines
