"""Offline geolocation of ``source.ip``: ECS ``source.geo.*`` and ``source.as.*``.

With MaxMind-format databases configured (settings ``geoip_city_db``, ``geoip_asn_db``; GeoLite2
City/ASN or MaxMind's test databases) the fields match Elastic's geoip processor: city, continent,
country, region and location from the City database, AS number and organisation from the ASN
database. With neither configured, the country and AS-organisation data that the ``geoip2fast``
package ships is used instead (no city, region, location or AS number); the enricher says so once
through :attr:`GeoEnricher.notice`.

Implementation decisions: a corpus has few distinct source addresses (thousands) among millions
of events, so every lookup is cached per address; the cache is bounded so hostile input cannot
exhaust memory. A corrupt database is reported as a :class:`ConfigError` naming the file, both
when it is opened (a probe lookup) and if a later lookup hits bad data.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from trailspike.core.errors import ConfigError

_PROBE_ADDRESSES = ("89.160.20.156", "8.8.8.8", "2001:db8::1")
_CACHE_SIZE = 1 << 18
FALLBACK_NOTICE = (
    "GeoIP: no geoip_city_db configured; using the country and AS-organisation data bundled "
    "with geoip2fast (no city names). See docs/ingest.md to install GeoLite2-City."
)

GeoResult = tuple[dict[str, Any] | None, dict[str, Any] | None]


def _open_mmdb(path: str) -> Any:
    import maxminddb

    if not Path(path).is_file():
        raise ConfigError(f"GeoIP database {path} does not exist")
    try:
        reader = maxminddb.open_database(path)
        for address in _PROBE_ADDRESSES:
            reader.get(address)
    except (maxminddb.InvalidDatabaseError, ValueError, OSError) as exc:
        raise ConfigError(
            f"GeoIP database {path} is corrupt or not a MaxMind DB file: {exc}"
        ) from exc
    return reader


def _english(entry: Mapping[str, Any] | None) -> str | None:
    if not entry:
        return None
    names = entry.get("names") or {}
    name = names.get("en")
    return str(name) if name else None


def city_fields(record: Mapping[str, Any]) -> dict[str, Any]:
    """ECS ``source.geo`` fields from a MaxMind City record (Elastic's default properties).

    >>> geo = city_fields({"country": {"iso_code": "SE", "names": {"en": "Sweden"}},
    ...                    "subdivisions": [{"iso_code": "E", "names": {"en": "Östergötland"}}]})
    >>> geo["country_iso_code"], geo["region_iso_code"], geo["region_name"]
    ('SE', 'SE-E', 'Östergötland')
    """
    geo: dict[str, Any] = {}
    city = _english(record.get("city"))
    if city:
        geo["city_name"] = city
    continent = _english(record.get("continent"))
    if continent:
        geo["continent_name"] = continent
    country = record.get("country") or {}
    if country.get("iso_code"):
        geo["country_iso_code"] = country["iso_code"]
    country_name = _english(country)
    if country_name:
        geo["country_name"] = country_name
    location = record.get("location") or {}
    if "latitude" in location and "longitude" in location:
        geo["location"] = {"lat": location["latitude"], "lon": location["longitude"]}
    subdivisions = record.get("subdivisions") or []
    if subdivisions:
        sub = subdivisions[0]
        if sub.get("iso_code") and country.get("iso_code"):
            geo["region_iso_code"] = f"{country['iso_code']}-{sub['iso_code']}"
        sub_name = _english(sub)
        if sub_name:
            geo["region_name"] = sub_name
    return geo


def asn_fields(record: Mapping[str, Any]) -> dict[str, Any]:
    """ECS ``source.as`` fields from a MaxMind ASN record.

    >>> asn_fields({"autonomous_system_number": 29518, "autonomous_system_organization": "B2"})
    {'number': 29518, 'organization': {'name': 'B2'}}
    """
    out: dict[str, Any] = {}
    if record.get("autonomous_system_number") is not None:
        out["number"] = int(record["autonomous_system_number"])
    if record.get("autonomous_system_organization"):
        out["organization"] = {"name": record["autonomous_system_organization"]}
    return out


_FALLBACK_DB: Any = None


def fallback_database() -> Any:
    """geoip2fast's bundled country/ASN database, loaded once per process (~110 MB, ~0.2 s).

    Shared by every :class:`GeoEnricher` of the process, and loaded before ingest's worker
    processes are forked from their server (``trailspike.ingest.preload_geo``), so that they share
    its pages instead of loading a copy each.
    """
    global _FALLBACK_DB
    if _FALLBACK_DB is None:
        from geoip2fast import GeoIP2Fast

        # The IPv4+IPv6 ASN file: its IPv4-only sibling misses some AWS ranges.
        _FALLBACK_DB = GeoIP2Fast(geoip2fast_data_file="geoip2fast-asn-ipv6.dat.gz")
    return _FALLBACK_DB


class GeoEnricher:
    """Look up ``source.geo`` / ``source.as`` for an address, from .mmdb files or geoip2fast.

    Parameters
    ----------
    city_db, asn_db
        Paths of MaxMind-format databases; empty means not configured.
    fallback
        Use geoip2fast's bundled country/ASN data when no database is configured.
    """

    def __init__(self, city_db: str = "", asn_db: str = "", *, fallback: bool = True) -> None:
        self.city_db = city_db
        self.asn_db = asn_db
        self._city = _open_mmdb(city_db) if city_db else None
        self._asn = _open_mmdb(asn_db) if asn_db else None
        self._fallback: Any = None
        self.uses_fallback = fallback and not city_db and not asn_db
        self.notice = FALLBACK_NOTICE if self.uses_fallback else ""
        self.lookup = lru_cache(maxsize=_CACHE_SIZE)(self._lookup_uncached)

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> GeoEnricher:
        """Build the enricher from settings ``geoip_city_db`` and ``geoip_asn_db``."""
        return cls(
            str(settings.get("geoip_city_db") or ""), str(settings.get("geoip_asn_db") or "")
        )

    def _mmdb_get(self, reader: Any, path: str, ip: str) -> Any:
        import maxminddb

        try:
            return reader.get(ip)
        except (maxminddb.InvalidDatabaseError, ValueError) as exc:
            raise ConfigError(f"GeoIP database {path} is corrupt: {exc}") from exc

    def _fallback_lookup(self, ip: str) -> GeoResult:
        if self._fallback is None:
            self._fallback = fallback_database()
        result = self._fallback.lookup(ip)
        if getattr(result, "is_private", False):
            return None, None
        geo: dict[str, Any] = {}
        code = getattr(result, "country_code", "") or ""
        if code and len(code) == 2 and code != "--":
            geo["country_iso_code"] = code
            if getattr(result, "country_name", ""):
                geo["country_name"] = result.country_name
        org = getattr(result, "asn_name", "") or ""
        return (geo or None), ({"organization": {"name": org}} if org else None)

    def _lookup_uncached(self, ip: str) -> GeoResult:
        try:
            parsed = ipaddress.ip_address(ip)
        except ValueError:
            return None, None
        if not parsed.is_global:
            return None, None
        if self.uses_fallback:
            return self._fallback_lookup(ip)
        geo = as_ = None
        if self._city is not None:
            record = self._mmdb_get(self._city, self.city_db, ip)
            geo = city_fields(record) if record else None
        if self._asn is not None:
            record = self._mmdb_get(self._asn, self.asn_db, ip)
            as_ = asn_fields(record) if record else None
        return geo or None, as_ or None

    def enrich(self, source: dict[str, Any], ip: str) -> None:
        """Add ``geo`` and ``as`` to an ECS ``source`` object for ``ip`` (when known)."""
        geo, as_ = self.lookup(ip)
        # Cached results are shared; each document gets its own (two-level) dicts.
        if geo:
            geo = dict(geo)
            if "location" in geo:
                geo["location"] = dict(geo["location"])
            source["geo"] = geo
        if as_:
            as_ = dict(as_)
            if "organization" in as_:
                as_["organization"] = dict(as_["organization"])
            source["as"] = as_
