"""ECS field names as constants, and the store column that holds each one.

Other modules never spell an ECS field name as a literal: they import it from here.
``EVENT_COLUMNS`` maps the fields the ``events`` table keeps as typed columns; any other field
is read from the stored ECS document (``events.doc``) by :func:`json_path`.
"""

from __future__ import annotations

TIMESTAMP = "@timestamp"
EVENT_ID = "event.id"
EVENT_ACTION = "event.action"
EVENT_PROVIDER = "event.provider"
EVENT_OUTCOME = "event.outcome"
EVENT_DATASET = "event.dataset"
EVENT_MODULE = "event.module"
ERROR_CODE = "aws.cloudtrail.error_code"
ERROR_MESSAGE = "aws.cloudtrail.error_message"
USER_IDENTITY_ARN = "aws.cloudtrail.user_identity.arn"
USER_IDENTITY_TYPE = "aws.cloudtrail.user_identity.type"
USER_IDENTITY_ACCESS_KEY_ID = "aws.cloudtrail.user_identity.access_key_id"
REQUEST_PARAMETERS = "aws.cloudtrail.request_parameters"
USER_NAME = "user.name"
USER_ID = "user.id"
SOURCE_ADDRESS = "source.address"
SOURCE_IP = "source.ip"
SOURCE_GEO_CITY_NAME = "source.geo.city_name"
SOURCE_GEO_COUNTRY_ISO_CODE = "source.geo.country_iso_code"
SOURCE_AS_NUMBER = "source.as.number"
SOURCE_AS_ORGANIZATION_NAME = "source.as.organization.name"
CLOUD_ACCOUNT_ID = "cloud.account.id"
CLOUD_REGION = "cloud.region"
USER_AGENT_ORIGINAL = "user_agent.original"

# ECS field -> typed column of the `events` table (store/migrations/0001_events.sql).
EVENT_COLUMNS: dict[str, str] = {
    TIMESTAMP: "ts",
    EVENT_ID: "event_id",
    EVENT_ACTION: "event_action",
    EVENT_PROVIDER: "event_provider",
    EVENT_OUTCOME: "event_outcome",
    ERROR_CODE: "error_code",
    ERROR_MESSAGE: "error_message",
    USER_IDENTITY_ARN: "user_identity_arn",
    USER_IDENTITY_TYPE: "user_identity_type",
    USER_IDENTITY_ACCESS_KEY_ID: "user_identity_access_key_id",
    USER_NAME: "user_name",
    USER_ID: "user_id",
    SOURCE_ADDRESS: "source_address",
    SOURCE_IP: "source_ip",
    SOURCE_GEO_CITY_NAME: "source_geo_city_name",
    SOURCE_GEO_COUNTRY_ISO_CODE: "source_geo_country_iso_code",
    SOURCE_AS_NUMBER: "source_as_number",
    SOURCE_AS_ORGANIZATION_NAME: "source_as_organization_name",
    CLOUD_ACCOUNT_ID: "cloud_account_id",
    CLOUD_REGION: "cloud_region",
    USER_AGENT_ORIGINAL: "user_agent",
    REQUEST_PARAMETERS: "request_parameters",
}


def json_path(field: str) -> str:
    """The DuckDB JSON path of a dotted ECS field inside ``events.doc``.

    ECS documents are nested objects, so ``a.b.c`` is ``$."a"."b"."c"``; the path is passed to
    ``json_extract_string`` as a bound parameter, never pasted into SQL.

    >>> json_path("event.dataset")
    '$."event"."dataset"'
    """
    return "$." + ".".join('"' + part.replace('"', '\\"') + '"' for part in field.split("."))
