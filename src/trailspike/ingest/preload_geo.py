"""Imported by the ingest workers' fork server: loads geoip2fast's bundled data before the fork.

The workers are forked from one server process (``multiprocessing``'s ``forkserver``), so data it
holds is shared copy-on-write by all of them; loaded in each worker it cost ~110 MB per worker.
Only preloaded when no MaxMind database is configured (then the data is what GeoIP uses).
"""

from __future__ import annotations

from trailspike.normalise.geo import fallback_database

fallback_database()
