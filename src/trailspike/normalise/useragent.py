"""Parse ``userAgent`` into ECS ``user_agent.*`` the way Elasticsearch's user_agent processor does.

Both use the uap-core regular expressions (here through the ``ua-parser`` package and its bundled
``ua-parser-builtins`` rules), so browser, SDK and CLI names agree with Elastic's output.

Implementation decisions: parsing one string costs about a millisecond, but a CloudTrail corpus
repeats a few hundred distinct user agents millions of times, so results are cached per string
(LRU, bounded). ``user_agent.version`` is written without the trailing dot that Elasticsearch
before 8.16.2 appended ("24.0." there, "24.0" here; Elastic's own tests accept both).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

# Bounded so an attacker cycling user-agent strings cannot grow memory without limit.
_CACHE_SIZE = 65536


def _join_version(*parts: str | None) -> str | None:
    present: list[str] = []
    for part in parts:
        if part is None or part == "":
            break
        present.append(part)
    return ".".join(present) or None


@lru_cache(maxsize=_CACHE_SIZE)
def _parse_cached(text: str) -> dict[str, Any]:
    from ua_parser import parse  # imported lazily: loading the rules takes ~0.15 s

    result = parse(text)
    fields: dict[str, Any] = {"name": "Other", "original": text}
    if result.user_agent is not None:
        agent = result.user_agent
        fields["name"] = agent.family
        version = _join_version(agent.major, agent.minor, agent.patch)
        if version:
            fields["version"] = version
    if result.os is not None and result.os.family not in ("", "Other"):
        os_info: dict[str, str] = {"name": result.os.family}
        os_version = _join_version(result.os.major, result.os.minor, result.os.patch)
        if os_version:
            os_info["version"] = os_version
            os_info["full"] = f"{result.os.family} {os_version}"
        fields["os"] = os_info
    device = result.device.family if result.device is not None else "Other"
    fields["device"] = {"name": device or "Other"}
    return fields


def parse_user_agent_shared(text: str) -> dict[str, Any]:
    """The cached ECS ``user_agent`` object itself, for documents serialised at once.

    The ingest fast path encodes each document to JSON as soon as it is built and never
    changes it, so it can share the cached object instead of copying three dicts per event.
    The result must not be modified.
    """
    return _parse_cached(text)


def parse_user_agent(text: str) -> dict[str, Any]:
    """ECS ``user_agent`` object for a user-agent string (a fresh dict on each call).

    Parameters
    ----------
    text
        The CloudTrail ``userAgent`` value.

    Returns
    -------
    dict
        ``{"original", "name", "version"?, "os"?, "device": {"name"}}``.

    Examples
    --------
    >>> ua = parse_user_agent("aws-cli/1.11.10 Python/2.7.8 Linux/3.2.45 botocore/1.4.67")
    >>> ua["name"], ua["version"], ua["os"]["full"]
    ('aws-cli', '1.11.10', 'Linux 3.2.45')
    """
    out = _parse_cached(text).copy()  # the cached dict is shared: copy it and its two maps
    out["device"] = out["device"].copy()
    if "os" in out:
        out["os"] = out["os"].copy()
    return out
