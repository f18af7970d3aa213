"""Jinja2 environment, template filters and the page renderer.

Implementation decisions: autoescape is on for every template and string; data for charts goes
through :func:`json_for_script`, which escapes ``<``, ``>``, ``&`` and quotes as ``\\u`` sequences
so a hostile string cannot close the ``<script type="application/json">`` block it sits in.
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Any

from jinja2 import Environment, PackageLoader, Undefined, select_autoescape
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse

from trailspike.web.charts import severity_of
from trailspike.web.security import CSRF_FIELD, csrf_token_for

_SCRIPT_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "'": "\\u0027"}


def json_for_script(value: Any) -> Markup:
    """JSON safe to place inside ``<script type="application/json">``.

    >>> str(json_for_script({"m": "</script><img src=x onerror=alert(1)>"}))
    '{"m": "\\\\u003c/script\\\\u003e\\\\u003cimg src=x onerror=alert(1)\\\\u003e"}'
    """
    text = json.dumps(_finite(value), default=str, allow_nan=False, ensure_ascii=False)
    for char, escaped in _SCRIPT_ESCAPES.items():
        text = text.replace(char, escaped)
    # every markup-significant character is escaped above, so the text is safe as markup
    return Markup(text)


def _finite(value: Any) -> Any:
    """Replace NaN and infinities (which JSON cannot carry) by ``None``, recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def fmt_time(value: datetime | None, seconds: bool = False) -> str:
    """Naive UTC time as ``YYYY-MM-DD HH:MM`` (``–`` when missing).

    >>> fmt_time(datetime(2026, 1, 2, 3, 4, 5))
    '2026-01-02 03:04'
    """
    if value is None or isinstance(value, Undefined):
        return "–"
    return value.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def fmt_num(value: float | int | None, digits: int = 1) -> str:
    """A number for a table cell: integers plainly, others rounded, ``–`` when missing.

    >>> fmt_num(3.0), fmt_num(2.345), fmt_num(None), fmt_num(12345)
    ('3', '2.3', '–', '12,345')
    """
    if value is None or isinstance(value, Undefined):
        return "–"
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.{digits}f}"


def fmt_prob(value: float | None) -> str:
    """A probability in scientific notation.

    >>> fmt_prob(0.000123)
    '1.23e-04'
    """
    return "–" if value is None else f"{value:.2e}"


def pretty_json(value: Any) -> str:
    """Indented JSON for a ``<pre>`` block (escaped by autoescape like any text)."""
    return json.dumps(value, indent=2, default=str, sort_keys=False)


def build_templates() -> Environment:
    """The Jinja2 environment: package templates with autoescape everywhere."""
    env = Environment(
        loader=PackageLoader("trailspike.web", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        {
            "json_script": json_for_script,
            "time": fmt_time,
            "num": fmt_num,
            "prob": fmt_prob,
            "pretty_json": pretty_json,
            "anomaly_severity": severity_of,
        }
    )
    env.globals["CSRF_FIELD"] = CSRF_FIELD
    return env


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render a page with the request, the CSRF token and the store label available."""
    env: Environment = request.app.state.templates
    html = env.get_template(template).render(
        request=request,
        csrf_token=csrf_token_for(request),
        store_label=request.app.state.store.describe(),
        **context,
    )
    return HTMLResponse(html, status_code=status_code)
