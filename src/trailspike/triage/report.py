"""Triage one alert: run every investigation step, weigh a verdict, render Markdown/HTML/JSON.

``triage_alert`` is what the CLI (``trailspike triage``), the web UI's alert page and the demo
report call. The steps automate the rule's investigation guide: error history, other alerts for
the same principals, a change just before, request parameters, enumeration or secret access,
source addresses, human or automation, time of day, cadence of the commands, scope, MITRE.

Implementation decisions: a step that fails on odd data becomes a step result saying so (with the
error) instead of losing the whole report, because a partial triage still saves the analyst time;
the failure is also listed in the report's notes. All log text reaches HTML through Jinja2 with
autoescaping and reaches Markdown through :func:`md_escape`; the HTML fragment has no scripts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import duckdb
import jinja2
import orjson

from trailspike.core.settings import load_settings
from trailspike.core.timeutil import utcnow
from trailspike.triage import actor, rulemeta, scope, steps
from trailspike.triage.context import AlertContext, load_alert_context, resolve_alert_id
from trailspike.triage.results import AlertSummary, StepResult, TriageReport, Verdict
from trailspike.triage.verdict import decide_verdict

__all__ = [
    "STEPS",
    "AlertSummary",
    "StepResult",
    "TriageReport",
    "Verdict",
    "md_escape",
    "render_html_fragment",
    "render_json",
    "render_markdown",
    "sparkline",
    "triage_alert",
]

STEPS: tuple[Callable[[AlertContext], StepResult], ...] = (
    steps.error_history,
    steps.related_alerts,
    steps.recent_changes,
    steps.request_parameters,
    steps.enumeration,
    actor.source_ips,
    actor.actor_type,
    actor.time_of_day,
    actor.command_cadence,
    scope.scope,
    rulemeta.mitre,
)


def _run_step(fn: Callable[[AlertContext], StepResult], ctx: AlertContext) -> StepResult:
    try:
        return fn(ctx)
    except (duckdb.Error, ValueError, KeyError, TypeError) as exc:
        ctx.notes.append(f"step {fn.__name__} failed: {type(exc).__name__}: {exc}")
        return StepResult(
            fn.__name__,
            ((fn.__doc__ or "").strip().splitlines() or [fn.__name__])[0],
            f"Could not run this step: {type(exc).__name__}: {exc}",
            {},
            "",
        )


def _summary(ctx: AlertContext) -> AlertSummary:
    alert, record = ctx.alert, ctx.record
    return AlertSummary(
        alert_uuid=str(alert["alert_uuid"]),
        rule_id=str(alert["rule_id"]),
        rule_name=str(alert["rule_name"]),
        job_id=str(alert["job_id"]),
        record_id=str(alert["record_id"]),
        severity=str(alert["severity"]),
        risk_score=int(alert["risk_score"]),
        record_score=float(alert["record_score"]),
        bucket_start=ctx.bucket_start,
        bucket_end=ctx.bucket_end,
        reason=str(alert["reason"]),
        workflow_status=str(alert["workflow_status"]),
        function=str(record.get("function") or ""),
        actual=_number(record.get("actual")),
        typical=_number(record.get("typical")),
        principals=ctx.principals,
        access_keys=ctx.access_keys,
        user_names=ctx.user_names,
        source_ips=ctx.source_ips,
        event_count=len(ctx.events),
    )


def _number(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def triage_alert(
    con: duckdb.DuckDBPyConnection,
    alert_uuid: str,
    settings: Mapping[str, Any] | None = None,
    *,
    now: datetime | None = None,
) -> TriageReport:
    """Run every investigation step for one alert.

    Parameters
    ----------
    con
        An open store (read-only is enough).
    alert_uuid
        The alert's uuid or a unique prefix of it.
    settings
        Resolved settings (``aws_ip_ranges`` is read); default: :func:`load_settings`.
    now
        The time the triage runs at (default: the current UTC time); windows never pass it.

    Returns
    -------
    TriageReport
    """
    resolved = load_settings() if settings is None else settings
    moment = now or utcnow()
    uuid = resolve_alert_id(con, alert_uuid)
    ctx = load_alert_context(con, uuid, resolved, moment)
    results = tuple(_run_step(fn, ctx) for fn in STEPS)
    return TriageReport(
        alert=_summary(ctx),
        steps=results,
        verdict=decide_verdict(results),
        generated_at=moment,
        notes=tuple(ctx.notes),
    )


# --- rendering -------------------------------------------------------------------------------

_SPARK = "▁▂▃▄▅▆▇█"


def sparkline(values: Sequence[float]) -> str:
    """A one-line bar chart of ``values`` (zero is a space-like lowest bar).

    >>> sparkline([0, 1, 2, 4])
    '▁▃▅█'
    """
    top = max(values, default=0)
    if top <= 0:
        return _SPARK[0] * len(values)
    return "".join(_SPARK[min(7, round(v / top * 7))] for v in values)


def some(values: Sequence[str], limit: int = 10) -> str:
    """The first ``limit`` values and how many there were in all (a flood has hundreds).

    >>> some(["a", "b", "c"], 2), some([])
    ('a, b … and 1 more (3 in all)', '-')
    """
    if not values:
        return "-"
    shown = ", ".join(values[:limit])
    more = len(values) - limit
    return f"{shown} … and {more:,} more ({len(values):,} in all)" if more > 0 else shown


def _display(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M:%S}"
    if isinstance(value, float) and abs(value) >= 1000 and value.is_integer():
        return f"{value:,.0f}"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list) and value and all(isinstance(v, int) for v in value):
        return sparkline(value) + f" (max {max(value)})"
    if isinstance(value, list):
        return ", ".join(_display(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_display(v)}" for k, v in value.items())
    return str(value)


def _split_evidence(evidence: Mapping[str, Any]) -> tuple[list[tuple[str, str]], list[Any]]:
    """Scalars (shown as a list) and tables (lists of row dicts) of a step's evidence."""
    facts: list[tuple[str, str]] = []
    tables: list[tuple[str, list[str], list[list[str]]]] = []
    for key, value in evidence.items():
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            columns = list(value[0])
            rows = [[_display(row.get(c)) for c in columns] for row in value]
            tables.append((key, columns, rows))
        else:
            facts.append((key, _display(value)))
    return facts, tables


_MD_SPECIAL = str.maketrans(
    {
        "\\": "\\\\",
        "`": "\\`",
        "*": "\\*",
        "_": "\\_",
        "[": "\\[",
        "]": "\\]",
        "|": "\\|",
        "<": "&lt;",
        ">": "&gt;",
        "&": "&amp;",
        "\n": " ",
        "\r": " ",
    }
)


def md_escape(text: str) -> str:
    """Make log text inert in Markdown: no markup, no HTML, no table breaks.

    >>> md_escape("<img src=x onerror=alert(1)> a|b *c*")
    '&lt;img src=x onerror=alert(1)&gt; a\\\\|b \\\\*c\\\\*'
    """
    return text.translate(_MD_SPECIAL)


def _fence(text: str) -> str:
    longest = max((len(run) for run in text.split("\n") for run in _backtick_runs(run)), default=0)
    return "`" * max(3, longest + 1)


def _backtick_runs(line: str) -> list[str]:
    runs, current = [], ""
    for ch in line:
        if ch == "`":
            current += ch
        elif current:
            runs.append(current)
            current = ""
    if current:
        runs.append(current)
    return runs


def render_markdown(report: TriageReport) -> str:
    """The report as Markdown (every piece of log text escaped)."""
    a = report.alert
    e = md_escape
    lines = [
        f"# Triage: {e(a.rule_name)}",
        "",
        f"**Verdict hint: {e(report.verdict.headline)}**",
        "",
        f"- alert: `{e(a.alert_uuid)}` ({e(a.severity)}, risk {a.risk_score}, "
        f"record score {a.record_score:.1f}, {e(a.workflow_status)})",
        f"- anomaly: {e(a.job_id)} `{e(a.function)}` actual {_display(a.actual)} vs typical "
        f"{_display(a.typical)}, bucket {_display(a.bucket_start)} – {_display(a.bucket_end)} UTC",
        f"- principals: {e(some(a.principals))}",
        f"- access keys: {e(some(a.access_keys))}; user names: {e(some(a.user_names))}",
        f"- source IPs: {e(some(a.source_ips))}; events in the bucket: {a.event_count:,}",
        f"- generated: {_display(report.generated_at)} UTC",
        "",
    ]
    for note in report.notes:
        lines += [f"> note: {e(note)}", ""]
    for number, step in enumerate(report.steps, 1):
        lines += [
            f"## {number}. {e(step.question)}",
            "",
            f"*{e(step.name)}* — signal: **{step.verdict_signal}**"
            + (f" ({e('; '.join(step.reasons))})" if step.reasons else ""),
            "",
            e(step.finding),
            "",
        ]
        facts, tables = _split_evidence(step.evidence)
        lines += [f"- {e(k)}: {e(v)}" for k, v in facts]
        for name, columns, rows in tables:
            lines += ["", f"{e(name)}:", "", "| " + " | ".join(e(c) for c in columns) + " |"]
            lines.append("|" + "---|" * len(columns))
            lines += ["| " + " | ".join(e(c) for c in row) + " |" for row in rows]
        if step.query:
            fence = _fence(step.query)
            lines += ["", "Reproduce:", "", f"{fence}sql", step.query, fence]
        lines.append("")
    return "\n".join(lines)


def _json_default(value: Any) -> Any:
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    return str(value)


def render_json(report: TriageReport) -> str:
    """The report as indented JSON (times as ISO-8601 UTC without offset)."""
    data = report.to_dict()
    return orjson.dumps(
        data,
        default=_json_default,
        option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS | orjson.OPT_NAIVE_UTC,
    ).decode()


_ENV = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
_ENV.filters["show"] = _display
_ENV.filters["some"] = some

FRAGMENT_TEMPLATE = _ENV.from_string(
    """\
<section class="ts-triage ts-verdict-{{ report.verdict.label | replace(' ', '-') }}">
  <h2>Triage: {{ a.rule_name }}</h2>
  <p class="ts-verdict"><strong>Verdict hint:</strong> {{ report.verdict.headline }}</p>
  <dl class="ts-alert">
    <dt>Alert</dt><dd><code>{{ a.alert_uuid }}</code> {{ a.severity }}, risk {{ a.risk_score }},
      record score {{ '%.1f' | format(a.record_score) }}, {{ a.workflow_status }}</dd>
    <dt>Anomaly</dt><dd>{{ a.job_id }} {{ a.function }}: actual {{ a.actual | show }},
      typical {{ a.typical | show }}; bucket {{ a.bucket_start | show }} to
      {{ a.bucket_end | show }} UTC</dd>
    <dt>Principals</dt><dd>{{ a.principals | some }}</dd>
    <dt>Access keys</dt><dd>{{ a.access_keys | some }}</dd>
    <dt>Source IPs</dt><dd>{{ a.source_ips | some }}</dd>
  </dl>
  {% for note in report.notes %}<p class="ts-note">{{ note }}</p>{% endfor %}
  <ol class="ts-steps">
  {% for step in report.steps %}
    <li class="ts-step ts-signal-{{ step.verdict_signal }}" id="step-{{ step.name }}">
      <h3>{{ step.question }}</h3>
      <p class="ts-signal">{{ step.name }}: <strong>{{ step.verdict_signal }}</strong>
        {% if step.reasons %}({{ step.reasons | join('; ') }}){% endif %}</p>
      <p class="ts-finding">{{ step.finding }}</p>
      {% set facts, tables = split(step.evidence) %}
      {% if facts %}<dl class="ts-facts">{% for k, v in facts %}
        <dt>{{ k }}</dt><dd>{{ v }}</dd>{% endfor %}</dl>{% endif %}
      {% for name, columns, rows in tables %}
      <table class="ts-evidence"><caption>{{ name }}</caption>
        <thead><tr>{% for c in columns %}<th>{{ c }}</th>{% endfor %}</tr></thead>
        <tbody>{% for row in rows %}<tr>{% for cell in row %}<td>{{ cell }}</td>{% endfor %}</tr>
        {% endfor %}</tbody></table>
      {% endfor %}
      {% if step.query %}<details class="ts-query"><summary>Reproduce</summary>
        <pre><code>{{ step.query }}</code></pre></details>{% endif %}
    </li>
  {% endfor %}
  </ol>
</section>
"""
)


def render_html_fragment(report: TriageReport) -> str:
    """The report as an HTML fragment (a ``<section>``; escaped, no scripts, no styles)."""
    return FRAGMENT_TEMPLATE.render(report=report, a=report.alert, split=_split_evidence)
