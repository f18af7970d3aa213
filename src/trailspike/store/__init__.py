"""The embedded DuckDB store: events, quarantine, job results, alerts."""
