"""``trailspike serve``: the web UI over a store (anomaly explorer, alerts, rules and jobs)."""

from __future__ import annotations

import click

from trailspike.cli.options import db_option, resolve_settings, setting_option


@click.command("serve")
@db_option
@click.option(
    "--host", default=None, help="Address to bind (default 127.0.0.1; others need --token)."
)
@click.option("--port", default=None, type=int, help="Port to listen on (default 8000).")
@click.option(
    "--token", default=None, help="Access token the browser must present (setting `token`)."
)
@setting_option
def serve(
    db: str | None,
    host: str | None,
    port: int | None,
    token: str | None,
    setting_pairs: tuple[tuple[str, str], ...],
) -> None:
    """Serve the web UI: overview, anomaly explorer, alerts with triage, rules and jobs.

    The store is opened per page, read-only, so run it over a store no other process is
    writing (stop `trailspike run`, or serve a copy). Binding beyond loopback requires a token;
    open http://HOST:PORT/?token=TOKEN once and the browser keeps a session cookie.

    \b
    Example:
      trailspike serve --db trailspike.duckdb
      trailspike serve --host 0.0.0.0 --port 8080 --token "$(openssl rand -hex 16)"
    """
    import uvicorn

    from trailspike.web.app import create_app

    settings = resolve_settings(db, setting_pairs, host=host, port=port, token=token)
    app = create_app(settings)
    problem = app.state.store.problem()
    if problem:
        # serve anyway: pages explain the same and work as soon as the store is free
        click.secho(f"warning: {problem}", fg="yellow", err=True)
    click.echo(
        f"trailspike UI on http://{settings['host']}:{settings['port']}/ "
        f"(store {settings['db']}; Ctrl-C to stop)",
        err=True,
    )
    uvicorn.run(
        app,
        host=settings["host"],
        port=settings["port"],
        log_level="warning",
        proxy_headers=False,
        server_header=False,
    )
