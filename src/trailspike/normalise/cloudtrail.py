"""CloudTrail record → nested ECS document, following Elastic's AWS CloudTrail ingest pipeline.

The mapping mirrors ``default.yml`` of Elastic's AWS integration (see
``../shared/data/elastic_fixtures/MAPPING_NOTES.md``): renames into ``aws.cloudtrail.*``,
``user.*``, ``cloud.*``, ``source.*``, ``event.*``; the Java ``Map.toString`` string form plus the
``flattened`` object form of requestParameters and friends; ConsoleLogin booleans and outcome;
the ECS categorisation table; ``related.user``/``related.entity``; TLS details; and the recursive
dropping of nulls and empty strings. One small function per field group.

Implementation decisions:

- Values are read from the record with nulls and empty strings already dropped (as Elastic's
  script does before its renames), so ``arn: ""`` yields no field at all.
- ``eventTime`` is accepted with a space instead of ``T`` (Panther and Athena exports write it that
  way; Elastic would silently keep the harvest time instead). Other dates follow Elastic: ISO 8601
  or dropped.
- ``sharedEventID`` is mapped as well as the ``sharedEventId`` spelling Elastic's pipeline looks
  for (which CloudTrail never writes), so the field is not lost.
- ``event.module``/``event.dataset``, ``cloud.provider`` and ``cloud.service.name`` are added as
  the integration's data stream and its newer pipeline versions set them.
- ``related.entity`` follows the older, sorted variant (identity ids, resource ARNs and a few
  request ids); the newer ``actor.*``/``target.*`` entity fields are not produced.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from trailspike.normalise.categories import categorize
from trailspike.normalise.javamap import java_to_string
from trailspike.normalise.useragent import parse_user_agent
from trailspike.normalise.values import drop_empty, format_timestamp, is_ip_address

if TYPE_CHECKING:
    from trailspike.normalise.geo import GeoEnricher

ECS_VERSION = "8.11.0"
# Elastic stores the flattened object only while its string form is shorter than this.
FLATTENED_LIMIT = 32766
_OBJECT_FIELDS = (
    ("requestParameters", "request_parameters"),
    ("responseElements", "response_elements"),
    ("additionalEventData", "additional_eventdata"),
    ("serviceEventDetails", "service_event_details"),
)
_RENAMES = (  # CloudTrail key -> aws.cloudtrail key
    ("eventVersion", "event_version"),
    ("eventCategory", "event_category"),
    ("errorCode", "error_code"),
    ("errorMessage", "error_message"),
    ("requestID", "request_id"),
    ("eventType", "event_type"),
    ("apiVersion", "api_version"),
    ("managementEvent", "management_event"),
    ("readOnly", "read_only"),
    ("recipientAccountId", "recipient_account_id"),
    ("sharedEventID", "shared_event_id"),
    ("sharedEventId", "shared_event_id"),
    ("vpcEndpointId", "vpc_endpoint_id"),
)
_ENTITY_REQUEST_KEYS = ("bucketName", "roleArn", "keyId", "functionName", "secretId")


def _put(doc: dict[str, Any], path: str, value: Any) -> None:
    node = doc
    parts = path.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value


def _append_unique(items: list[Any], value: Any) -> None:
    if value is not None and value not in items:
        items.append(value)


def map_identity(rec: dict[str, Any], doc: dict[str, Any], ct: dict[str, Any]) -> list[str]:
    """userIdentity → user.*, cloud.account.id, aws.cloudtrail.user_identity.*; → related.user."""
    related_user: list[str] = []
    identity = rec.get("userIdentity")
    if not isinstance(identity, dict):
        return related_user
    ui: dict[str, Any] = {}
    user: dict[str, Any] = {}
    if "type" in identity:
        ui["type"] = identity["type"]
    if "userName" in identity:
        _append_unique(related_user, identity["userName"])
        user["name"] = identity["userName"]
    if "principalId" in identity:
        user["id"] = identity["principalId"]
    if "arn" in identity:
        ui["arn"] = identity["arn"]
    if "accountId" in identity:
        _put(doc, "cloud.account.id", identity["accountId"])
    if "accessKeyId" in identity:
        ui["access_key_id"] = identity["accessKeyId"]
    if "invokedBy" in identity:
        ui["invoked_by"] = identity["invokedBy"]
    session = identity.get("sessionContext")
    if isinstance(session, dict):
        sc: dict[str, Any] = {}
        attributes = session.get("attributes")
        if isinstance(attributes, dict):
            if "mfaAuthenticated" in attributes:
                sc["mfa_authenticated"] = attributes["mfaAuthenticated"]
            created = format_timestamp(attributes.get("creationDate"))
            if created:
                sc["creation_date"] = created
        issuer = session.get("sessionIssuer")
        if isinstance(issuer, dict):
            si: dict[str, Any] = {}
            for key, target in (("type", "type"), ("principalId", "principal_id")):
                if key in issuer:
                    si[target] = issuer[key]
            if "userName" in issuer:  # for assumed roles user.name is the role name
                user["name"] = issuer["userName"]
            for key, target in (("arn", "arn"), ("accountId", "account_id")):
                if key in issuer:
                    si[target] = issuer[key]
            if si:
                sc["session_issuer"] = si
        if sc:
            ui["session_context"] = sc
    if ui:
        ct["user_identity"] = ui
    if user:
        doc.setdefault("user", {}).update(user)
    return related_user


def _map_source(rec: dict[str, Any], doc: dict[str, Any], geo: GeoEnricher | None) -> None:
    address = rec.get("sourceIPAddress")
    if not isinstance(address, str):
        return
    source: dict[str, Any] = {"address": address}
    if is_ip_address(address):
        source["ip"] = address
        if geo is not None:
            geo.enrich(source, address)
    doc["source"] = source


def _map_objects(rec: dict[str, Any], raw: dict[str, Any], ct: dict[str, Any]) -> dict[str, Any]:
    """requestParameters & co: Java string form plus the flattened object; returns flattened."""
    flattened: dict[str, Any] = {}
    for key, target in _OBJECT_FIELDS:
        if key not in rec:
            continue
        text = java_to_string(raw[key])
        ct[target] = text
        if len(text) < FLATTENED_LIMIT:
            flattened[target] = rec[key]
    ct["flattened"] = flattened
    return flattened


def _map_console_login(rec: dict[str, Any], flattened: dict[str, Any], ct: dict[str, Any]) -> None:
    if rec.get("eventName") != "ConsoleLogin":
        return
    extra = flattened.get("additional_eventdata")
    if not isinstance(extra, dict):
        return
    aed: dict[str, Any] = {}
    if "MobileVersion" in extra:
        aed["mobile_version"] = extra["MobileVersion"] != "No"
    if "LoginTo" in extra:
        aed["login_to"] = extra["LoginTo"]
    if "MFAUsed" in extra:
        aed["mfa_used"] = extra["MFAUsed"] != "No"
    if aed:
        ct["console_login"] = {"additional_eventdata": aed}


def _map_event(rec: dict[str, Any], doc: dict[str, Any], ct: dict[str, Any], flat: dict) -> None:
    event = doc.setdefault("event", {})
    event.update({"kind": "event", "module": "aws", "dataset": "aws.cloudtrail"})
    if "eventSource" in rec:
        event["provider"] = rec["eventSource"]
    if "eventName" in rec:
        event["action"] = rec["eventName"]
    if "eventID" in rec:
        event["id"] = rec["eventID"]
    failed = "error_code" in ct or "error_message" in ct
    event["outcome"] = "failure" if failed else "success"
    action = event.get("action")
    response = flat.get("response_elements")
    if action == "ConsoleLogin" and isinstance(response, dict):
        login = response.get("ConsoleLogin")
        if isinstance(login, str):
            event["outcome"] = login.lower()
    category, types = categorize(action if isinstance(action, str) else None)
    event["type"] = types
    if category:
        event["category"] = category


def _map_user_targets(doc: dict[str, Any], flat: dict[str, Any], related_user: list[str]) -> None:
    request = flat.get("request_parameters")
    response = flat.get("response_elements")
    if isinstance(request, dict):
        for key in ("userName", "newUserName"):
            if isinstance(request.get(key), str):
                _append_unique(related_user, request[key])
        if isinstance(request.get("newUserName"), str):
            _put(doc, "user.changes.name", request["newUserName"])
        if isinstance(request.get("groupName"), str):
            _put(doc, "group.name", request["groupName"])
        if isinstance(request.get("userName"), str):
            _put(doc, "user.target.name", request["userName"])
    if isinstance(response, dict):
        group = response.get("group")
        if isinstance(group, dict) and isinstance(group.get("groupId"), str):
            _put(doc, "group.id", group["groupId"])
        user = response.get("user")
        if isinstance(user, dict) and isinstance(user.get("userId"), str):
            _put(doc, "user.target.id", user["userId"])


def related_entities(rec: dict[str, Any]) -> list[str]:
    """Identity, resource and request ids for ``related.entity`` (sorted, de-duplicated).

    >>> related_entities({"userIdentity": {"principalId": "P", "arn": "arn:x", "userName": "u"}})
    ['P', 'arn:x', 'u']
    """
    found: set[str] = set()
    identity = rec.get("userIdentity")
    if isinstance(identity, dict):
        for key in ("principalId", "arn", "userName"):
            if isinstance(identity.get(key), str):
                found.add(identity[key])
        session = identity.get("sessionContext")
        issuer = session.get("sessionIssuer") if isinstance(session, dict) else None
        if isinstance(issuer, dict):
            for key in ("arn", "userName"):
                if isinstance(issuer.get(key), str):
                    found.add(issuer[key])
    resources = rec.get("resources")
    if isinstance(resources, list):
        for resource in resources:
            if isinstance(resource, dict) and isinstance(resource.get("ARN"), str):
                found.add(resource["ARN"])
    request = rec.get("requestParameters")
    if isinstance(request, dict):
        for key in _ENTITY_REQUEST_KEYS:
            if isinstance(request.get(key), str):
                found.add(request[key])
    response = rec.get("responseElements")
    if isinstance(response, dict):
        assumed = response.get("assumedRoleUser")
        if isinstance(assumed, dict) and isinstance(assumed.get("arn"), str):
            found.add(assumed["arn"])
    return sorted(found)


def _map_resources(rec: dict[str, Any], ct: dict[str, Any]) -> None:
    resources = rec.get("resources")
    if not isinstance(resources, list):
        return
    unique: dict[tuple[str, str, str], dict[str, Any]] = {}
    for original in resources:
        if not isinstance(original, dict):
            continue
        resource = dict(original)
        if "ARN" in resource:
            resource["arn"] = resource.pop("ARN")
        if "accountId" in resource:
            resource["account_id"] = resource.pop("accountId")
        key = (
            str(resource.get("arn", "")),
            str(resource.get("account_id", "")),
            str(resource.get("type", "")),
        )
        unique[key] = resource
    if unique:
        ct["resources"] = list(unique.values())


def _map_tls(rec: dict[str, Any], doc: dict[str, Any]) -> None:
    details = rec.get("tlsDetails")
    if not isinstance(details, dict):
        return
    tls: dict[str, Any] = {}
    version = details.get("tlsVersion")
    if isinstance(version, str) and "v" in version:
        protocol, _, number = version.partition("v")
        tls["version_protocol"] = protocol.lower()
        tls["version"] = number
    if "cipherSuite" in details:
        tls["cipher"] = details["cipherSuite"]
    if "clientProvidedHostHeader" in details:
        tls["client"] = {"server_name": details["clientProvidedHostHeader"]}
    if tls:
        doc["tls"] = tls


IdentityMapper = Callable[[dict[str, Any], dict[str, Any], dict[str, Any]], list[str]]


def open_document(
    rec: dict[str, Any], map_identity_of: IdentityMapper | None = None
) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """The start of a record's ECS document, shared by :func:`to_ecs` and the ingest fast path:
    ``@timestamp``, ``ecs``, the renamed ``aws.cloudtrail`` keys, identity and ``cloud``.

    ``map_identity_of`` replaces :func:`map_identity` (the fast path's memoised one, which must
    make the same changes to the document).

    Returns the document, its ``aws.cloudtrail`` object (not attached yet) and the related
    user names found so far.
    """
    doc: dict[str, Any] = {}
    timestamp = format_timestamp(rec.get("eventTime"))
    if timestamp:
        doc["@timestamp"] = timestamp
    doc["ecs"] = {"version": ECS_VERSION}
    ct: dict[str, Any] = {}
    for key, target in _RENAMES:
        if key in rec:
            ct[target] = rec[key]
    related_user = (map_identity_of or map_identity)(rec, doc, ct)
    cloud = doc.setdefault("cloud", {})
    cloud["provider"] = "aws"
    if "awsRegion" in rec:
        cloud["region"] = rec["awsRegion"]
    provider = rec.get("eventSource")
    if isinstance(provider, str) and provider.endswith(".amazonaws.com"):
        cloud["service"] = {"name": provider.split(".", 1)[0]}
    return doc, ct, related_user


def close_document(
    rec: dict[str, Any], doc: dict[str, Any], ct: dict[str, Any], related_user: list[str]
) -> None:
    """The end of a record's ECS document: ``related`` and ``aws.cloudtrail`` attached."""
    related: dict[str, Any] = {}
    if related_user:
        related["user"] = related_user
    entities = related_entities(rec)
    if entities:
        related["entity"] = entities
    if related:
        doc["related"] = related
    doc["aws"] = {"cloudtrail": ct}


def to_ecs(record: dict[str, Any], geo: GeoEnricher | None = None) -> dict[str, Any]:
    """Normalise one CloudTrail record into a nested ECS document, as Elastic's pipeline does.

    Parameters
    ----------
    record
        One CloudTrail record (an element of ``Records``), already decoded from JSON.
    geo
        Optional enricher for ``source.geo.*``/``source.as.*``; None leaves them out.

    Returns
    -------
    dict
        The ECS document, nested, without nulls or empty strings.

    Examples
    --------
    >>> doc = to_ecs({"eventTime": "2014-07-16T15:49:27Z", "eventName": "CreateUser",
    ...               "eventSource": "iam.amazonaws.com", "errorCode": "AccessDenied",
    ...               "sourceIPAddress": "AWS Internal", "userIdentity": {"arn": ""}})
    >>> doc["event"]["outcome"], doc["event"]["category"], doc["source"], "user_identity" in doc
    ('failure', ['iam'], {'address': 'AWS Internal'}, False)
    """
    rec = drop_empty(record)
    doc, ct, related_user = open_document(rec)
    _map_source(rec, doc, geo)
    agent = rec.get("userAgent")
    if isinstance(agent, str):
        doc["user_agent"] = parse_user_agent(agent)
    flattened = _map_objects(rec, record, ct)
    _map_resources(rec, ct)
    if "insightDetails" in rec:
        flattened["insight_details"] = rec["insightDetails"]
    _map_console_login(rec, flattened, ct)
    _map_event(rec, doc, ct, flattened)
    _map_user_targets(doc, flattened, related_user)
    _map_tls(rec, doc)
    close_document(rec, doc, ct, related_user)
    return doc
