"""The web UI of ``trailspike serve``: overview, anomaly explorer, alerts with triage, rules, jobs.

``app.create_app(settings)`` builds the starlette application; ``routes`` holds the thin page
handlers, ``queries`` the read queries over the store, ``charts`` the plotly figures,
``security`` the headers, CSRF and token checks, and ``library`` the calls into other parts.
"""
