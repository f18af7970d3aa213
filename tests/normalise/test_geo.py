from __future__ import annotations

import pytest

from shared_data import shared_path
from trailspike.core.errors import ConfigError
from trailspike.normalise.geo import GeoEnricher


def test_maxmind_test_databases_match_elastic() -> None:
    geo = GeoEnricher.from_settings(
        {
            "geoip_city_db": str(shared_path("geoip", "GeoLite2-City-Test.mmdb")),
            "geoip_asn_db": str(shared_path("geoip", "GeoLite2-ASN-Test.mmdb")),
        }
    )
    assert geo.notice == ""
    source: dict = {}
    geo.enrich(source, "89.160.20.156")
    assert source["geo"]["city_name"] == "Linköping"
    assert source["geo"]["country_iso_code"] == "SE"
    assert source["geo"]["region_iso_code"] == "SE-E"
    assert source["geo"]["location"] == {"lat": 58.4167, "lon": 15.6167}
    assert source["as"] == {"number": 29518, "organization": {"name": "Bredband2 AB"}}
    # Cached results are copied: changing one document does not change the next.
    source["geo"]["city_name"] = "changed"
    again: dict = {}
    geo.enrich(again, "89.160.20.156")
    assert again["geo"]["city_name"] == "Linköping"


def test_private_and_unknown_addresses_get_nothing() -> None:
    geo = GeoEnricher(str(shared_path("geoip", "GeoLite2-City-Test.mmdb")))
    for address in ("10.0.0.1", "127.0.0.1", "not-an-ip"):
        assert geo.lookup(address) == (None, None)


def test_corrupt_database_is_a_clear_error() -> None:
    broken = shared_path("geoip", "GeoIP2-City-Test-Broken-Double-Format.mmdb")
    with pytest.raises(ConfigError, match="corrupt"):
        GeoEnricher(str(broken))


def test_missing_database_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        GeoEnricher(str(tmp_path / "nope.mmdb"))


def test_fallback_without_databases_has_country_but_no_city() -> None:
    geo = GeoEnricher.from_settings({})
    assert geo.uses_fallback and "geoip2fast" in geo.notice
    found, as_ = geo.lookup("89.160.20.156")
    assert found == {"country_iso_code": "SE", "country_name": "Sweden"}
    assert as_ == {"organization": {"name": "Bredband2 AB"}}


def test_fallback_data_is_loaded_once_per_process() -> None:
    """Every enricher uses the one copy (the fork server loads it before the workers fork)."""
    from trailspike.normalise.geo import fallback_database

    first, second = GeoEnricher.from_settings({}), GeoEnricher.from_settings({})
    first.lookup("89.160.20.156")
    second.lookup("8.8.8.8")
    assert first._fallback is second._fallback is fallback_database()
