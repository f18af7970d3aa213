"""CloudTrail record → (ECS document, typed column values) in one pass: the ingest fast path.

:func:`fast_event` produces exactly what the reference path produces — :func:`to_ecs` for the
document and :func:`trailspike.store.events.event_row` for the ``events`` columns — but in one
pass over the record, with the column values taken while the document is built instead of dug
out of it afterwards. ``tests/normalise/test_fast.py`` checks that both paths agree on real
CloudTrail samples, demo-generator files, hand-made edge cases and random records.

Implementation decisions:

- Measured per record (``benchmarks/ingest.py --stages 10``, both paths on the same 100k
  records, GC paused): reference ``to_ecs`` 18.6 + ``event_row`` 3.0 + encode to text 2.9 +
  append 1.3 µs, this path 20.0 + encode to bytes 2.5 + append 1.0 µs: ~2.5 µs (~8 %) less,
  57 vs 60 µs of CPU per event for the whole ingest. A first profile (at load ~5) had put
  ``event_row`` and Arrow building at 9 and 6 µs, which is what this path was built for; most
  of the real cost is the ~60 fields of dictionary work per record that both paths do.
- The document is built as the reference builds it (same keys in the same order, so the same
  JSON bytes), reusing the reference's helpers for the rarer parts (resources, TLS, console login,
  user targets, Java map strings); only the hot common parts are written out here. Validation
  stays :func:`check_record`, so quarantine reasons cannot differ.
- The document shares the GeoIP and user-agent caches' objects and the categorisation
  table's tuples instead of copying them per event (the reference path copies): the pipeline
  encodes each document to JSON at once and never changes it, so nothing can alter a cached
  object through it. Measured on 10k benchmark records, interleaved runs, the minimum of 15:
  ``fast_event`` plus encoding 28.6 -> 27.4 µs. The same holds for the TLS object per distinct
  details, and for ``userIdentity`` and the Java strings of ``requestParameters`` & co, which
  :mod:`trailspike.normalise.memo` normalises once per distinct value (session 5: -18 % worker
  CPU per record on the demo world, where identities repeat; ~1 % more on the benchmark corpus,
  whose identities are all unique, within the noise).
- Not done in DuckDB SQL: writing the documents into the store costs ~8 µs per event in the
  ingesting process (DuckDB compresses them single-threaded), 2.3x ``zcat``'s whole time per
  event, so SQL normalising could not reach ``zcat`` speed either; and the byte-identical
  document (HashMap-ordered Java strings, uap-core user agents, recursive null dropping, key
  order that depends on the data, orjson's number formats) has no SQL form short of a Python
  UDF per record. Measured in session 4 (DuckDB 2.0.1, one thread, a 10k-record benchmark
  file bound as one JSON value, load ~3): cutting it into records took 9-10 µs per event
  (orjson 7-10 at the same time), and a SQL prototype of the typed columns and about two
  thirds of the document 21-25 µs, against ~50 µs for this whole worker path then; GeoIP,
  user agents, Java strings, categories and the type checks of validation were still missing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from trailspike.normalise.categories import CATEGORIES
from trailspike.normalise.cloudtrail import (
    _OBJECT_FIELDS,
    FLATTENED_LIMIT,
    _map_console_login,
    _map_resources,
    _map_tls,
    _map_user_targets,
    close_document,
    open_document,
)
from trailspike.normalise.memo import identity_parts, java_text
from trailspike.normalise.useragent import parse_user_agent_shared
from trailspike.normalise.values import drop_empty, is_ip_address
from trailspike.store.events import as_text

if TYPE_CHECKING:
    from trailspike.normalise.geo import GeoEnricher

Row = tuple[Any, ...]
_INFO = ("info",)


def _event(rec: dict[str, Any], ct: dict[str, Any], flat: dict[str, Any]) -> dict[str, Any]:
    """The ECS ``event`` object (the reference's ``_map_event`` on a fresh document)."""
    event: dict[str, Any] = {"kind": "event", "module": "aws", "dataset": "aws.cloudtrail"}
    if "eventSource" in rec:
        event["provider"] = rec["eventSource"]
    action = rec.get("eventName")
    if "eventName" in rec:
        event["action"] = action
    if "eventID" in rec:
        event["id"] = rec["eventID"]
    event["outcome"] = "failure" if ("error_code" in ct or "error_message" in ct) else "success"
    if action == "ConsoleLogin":
        response = flat.get("response_elements")
        if isinstance(response, dict):
            login = response.get("ConsoleLogin")
            if isinstance(login, str):
                event["outcome"] = login.lower()
    entry = CATEGORIES.get(action) if isinstance(action, str) else None
    if entry is None:
        event["type"] = _INFO
    else:  # tuples: encoded as the same JSON arrays, without a list per event
        event["type"] = entry[1]
        event["category"] = (entry[0],)
    return event


# TLS details per distinct (version, cipher, host header): a trail has few. Bounded in entries
# and in the length of what is kept (the values are attacker-controlled).
_TLS_CACHE: dict[tuple[tuple[str, str], ...], dict[str, Any]] = {}
_TLS_CACHE_ENTRIES = 1024
_TLS_CACHE_TEXT = 512


def _tls(rec: dict[str, Any], doc: dict[str, Any]) -> None:
    """``tls.*`` as :func:`_map_tls` writes it, the object shared between equal details.

    >>> one, two = {}, {}
    >>> _tls({"tlsDetails": {"tlsVersion": "TLSv1.2"}}, one)
    >>> _tls({"tlsDetails": {"tlsVersion": "TLSv1.2"}}, two)
    >>> one["tls"], one["tls"] is two["tls"]
    ({'version_protocol': 'tls', 'version': '1.2'}, True)
    """
    details = rec["tlsDetails"]
    key = tuple(details.items()) if details.__class__ is dict and len(details) <= 3 else ()
    size = 0
    for _, value in key:
        # Strings only: True == 1 == 1.0 as keys, but they are written differently.
        if value.__class__ is not str:
            key = ()
            break
        size += len(value)
    found = _TLS_CACHE.get(key) if key else None
    if found is not None:
        doc["tls"] = found
        return
    _map_tls(rec, doc)
    tls = doc.get("tls")
    if key and tls is not None and size <= _TLS_CACHE_TEXT:
        if len(_TLS_CACHE) >= _TLS_CACHE_ENTRIES:
            _TLS_CACHE.clear()
        _TLS_CACHE[key] = tls


def _drop_empty_but_identity(record: dict[str, Any], identity: dict[str, Any]) -> dict[str, Any]:
    """``drop_empty(record)`` given the already cleaned ``userIdentity`` (same keys, same order).

    >>> _drop_empty_but_identity({"a": None, "userIdentity": {"x": ""}, "b": 1}, {})
    {'b': 1}
    """
    copy = dict(record)
    copy["userIdentity"] = 0  # kept in place, and nothing below it is walked
    rec: dict[str, Any] = drop_empty(copy)  # ``copy`` itself or a new dict: ours to change
    if identity:
        rec["userIdentity"] = identity
    else:
        del rec["userIdentity"]
    return rec


def fast_event(
    record: dict[str, Any],
    geo: GeoEnricher | None,
    synthetic_id: Callable[[dict[str, Any]], str] | None = None,
) -> tuple[dict[str, Any], Row]:
    """The ECS document of a valid CloudTrail record and its ``events`` column values.

    Parameters
    ----------
    record
        A record that :func:`trailspike.ingest.validate.check_record` accepted.
    geo
        GeoIP enricher, or None to leave ``source.geo``/``source.as`` out.
    synthetic_id
        Makes ``event.id`` from the record when it has no ``eventID`` (the reference path's
        :func:`trailspike.ingest.normalizer.synthetic_event_id`); None leaves it out.

    Returns
    -------
    tuple
        ``(document, row)``: the document equal to ``to_ecs(record, geo)`` (plus the synthetic
        id), and the first 22 ``INSERT_COLUMNS`` values equal to ``event_row(document)``.

    Examples
    --------
    >>> doc, row = fast_event({"eventTime": "2014-07-16T15:49:27Z", "eventID": "e1",
    ...                        "eventName": "CreateUser", "errorCode": "AccessDenied"}, None)
    >>> row[:5], doc["event"]["category"]  # a tuple: encoded as the JSON array ["iam"]
    (('2014-07-16T15:49:27.000Z', 'e1', 'CreateUser', None, 'failure'), ('iam',))
    """
    identity = record.get("userIdentity")
    parts = identity_parts(identity) if identity.__class__ is dict else None
    if parts is None:
        rec = drop_empty(record)
        doc, ct, related_user = open_document(rec)
    else:  # a memoised identity: neither cleaned nor mapped again
        rec = _drop_empty_but_identity(record, parts.cleaned)
        doc, ct, related_user = open_document(rec, parts.apply)
    timestamp = doc.get("@timestamp")
    cloud = doc["cloud"]
    address = rec.get("sourceIPAddress")
    ip = city = country = number = org = None
    if isinstance(address, str):
        source: dict[str, Any] = {"address": address}
        if is_ip_address(address):
            source["ip"] = ip = address
            if geo is not None:
                # The cached objects themselves, not copies (see the module docstring).
                found, as_ = geo.lookup(address)
                if found:
                    source["geo"] = found
                    city = found.get("city_name")
                    country = found.get("country_iso_code")
                if as_:
                    source["as"] = as_
                    number = as_.get("number")
                    org = (as_.get("organization") or {}).get("name")
        doc["source"] = source
    agent = rec.get("userAgent")
    if isinstance(agent, str):
        doc["user_agent"] = parse_user_agent_shared(agent)
    else:
        agent = None
    flattened: dict[str, Any] = {}
    for key, target in _OBJECT_FIELDS:
        if key in rec:
            text = java_text(record[key])
            ct[target] = text
            if len(text) < FLATTENED_LIMIT:
                flattened[target] = rec[key]
    ct["flattened"] = flattened
    if "resources" in rec:
        _map_resources(rec, ct)
    if "insightDetails" in rec:
        flattened["insight_details"] = rec["insightDetails"]
    if rec.get("eventName") == "ConsoleLogin":
        _map_console_login(rec, flattened, ct)
    event = doc["event"] = _event(rec, ct, flattened)
    _map_user_targets(doc, flattened, related_user)
    if "tlsDetails" in rec:
        _tls(rec, doc)
    close_document(rec, doc, ct, related_user)
    if "id" not in event and synthetic_id is not None:
        event["id"] = synthetic_id(record)
    ui = ct.get("user_identity") or {}
    user = doc.get("user") or {}
    row = (
        timestamp,
        event.get("id"),
        event.get("action"),
        event.get("provider"),
        event["outcome"],
        # Strings or absent (check_record), so stored as they are: no as_text call.
        ct.get("error_code"),
        ct.get("error_message"),
        as_text(ui.get("arn")),
        as_text(ui.get("type")),
        as_text(ui.get("access_key_id")),
        as_text(user.get("name")),
        as_text(user.get("id")),
        address if isinstance(address, str) else None,
        ip,
        city,
        country,
        number if isinstance(number, int) else None,
        org,
        as_text((cloud.get("account") or {}).get("id")),
        cloud.get("region"),  # awsRegion: a string or absent (check_record)
        agent,
        as_text(flattened.get("request_parameters")),
    )
    return doc, row
