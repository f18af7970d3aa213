"""The starlette application of ``trailspike serve``: factory, templates, assets, errors.

``create_app(settings)`` builds the app over the store named by the ``db`` setting (or over a
connection the service passes in), with security middleware and the routes of
:mod:`trailspike.web.routes`.

Implementation decisions: Jinja2 with autoescape on for every template (log text is hostile);
plotly.js is served from the installed ``plotly`` Python package, so the UI needs no network and
the chart library version is the one pinned in pyproject. A token is mandatory when the
``host`` setting is not a loopback address; the factory refuses to build an open app.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from trailspike.core.errors import ConfigError, InputError, StoreBusyError, TrailspikeError
from trailspike.web import library, routes
from trailspike.web.rendering import build_templates, render
from trailspike.web.security import SecurityMiddleware, is_loopback
from trailspike.web.store import FileStore, SharedStore, Store, StoreMissingError


def plotly_js_path() -> Path:
    """Where the installed plotly package keeps its minified plotly.js bundle."""
    return Path(str(resources.files("plotly") / "package_data" / "plotly.min.js"))


def check_binding(settings: dict[str, Any]) -> None:
    """Refuse to serve beyond loopback without a token.

    >>> check_binding({"host": "127.0.0.1", "token": ""})
    >>> check_binding({"host": "0.0.0.0", "token": ""})
    Traceback (most recent call last):
    ...
    trailspike.core.errors.ConfigError: ...
    """
    if not is_loopback(str(settings.get("host", "127.0.0.1"))) and not settings.get("token"):
        raise ConfigError(
            f"serving on {settings['host']} exposes alerts and logs beyond this machine: "
            "set an access token with --token (or the `token` setting), or bind 127.0.0.1"
        )


def create_app(settings: dict[str, Any], con: duckdb.DuckDBPyConnection | None = None) -> Starlette:
    """Build the web UI.

    Parameters
    ----------
    settings
        Resolved settings (:func:`trailspike.core.settings.load_settings`); uses ``db``,
        ``host`` and ``token``.
    con
        A connection owned by an embedding process (the service). Without it, the UI opens the
        ``db`` file per request: read-only for pages, read-write only for alert actions.
    """
    check_binding(settings)
    store: Store
    if con is not None:
        store = SharedStore(con, label=str(settings.get("db", "shared connection")))
    else:
        file_store = FileStore(settings["db"])
        file_store.prepare()
        store = file_store
    static_dir = Path(str(resources.files("trailspike.web") / "static"))
    app = Starlette(
        routes=[
            Route("/static/vendor/plotly.min.js", serve_plotly),
            Mount("/static", StaticFiles(directory=static_dir), name="static"),
            *routes.ROUTES,
        ],
        middleware=[
            Middleware(
                SecurityMiddleware,
                token=str(settings.get("token") or ""),
                loopback_only=is_loopback(str(settings.get("host", "127.0.0.1"))),
            )
        ],
        exception_handlers={TrailspikeError: handle_error, HTTPException: handle_http_error},
        lifespan=_lifespan,
    )
    app.state.settings = settings
    app.state.store = store
    app.state.templates = build_templates()
    return app


@contextlib.asynccontextmanager
async def _lifespan(app: Starlette) -> AsyncIterator[None]:
    library.warm_triage(app.state.settings)
    yield


async def serve_plotly(request: Request) -> Response:
    """plotly.min.js from the installed package, cacheable for a day."""
    return FileResponse(
        plotly_js_path(),
        media_type="text/javascript",
        headers={"Cache-Control": "public, max-age=86400"},
    )


async def handle_error(request: Request, exc: Exception) -> Response:
    """User-facing errors as a page: a busy or missing store is 503, bad input 400."""
    status = 500
    title = "Error"
    if isinstance(exc, StoreBusyError):
        status, title = 503, "The store is busy"
    elif isinstance(exc, StoreMissingError):
        status, title = 503, "No store yet"
    elif isinstance(exc, (InputError, ConfigError)):
        status, title = 400, "Bad request"
    return render(request, "error.html", status_code=status, title=title, message=str(exc))


async def handle_http_error(request: Request, exc: Exception) -> Response:
    """HTTP errors (404, 405, …) in the site's layout."""
    assert isinstance(exc, HTTPException)
    return render(
        request,
        "error.html",
        status_code=exc.status_code,
        title=f"{exc.status_code}",
        message=str(exc.detail),
    )
