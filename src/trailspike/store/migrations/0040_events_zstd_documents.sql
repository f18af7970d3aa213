-- events with the ECS document (doc) and request_parameters stored ZSTD-compressed.
-- Measured (docs/ingest.md): with DuckDB's automatic choice (FSST/dictionary) writing the ~1.3 KB
-- documents cost ~27 us of CPU per event in the ingesting process, the largest single cost of
-- ingest; ZSTD cut it to ~17 us and the store file 4.4x (300k benchmark events: 284 -> 65 MB),
-- and a json_extract over every doc ran no slower. Same columns, same meaning, same order.
CREATE TABLE events_new (
    event_id VARCHAR NOT NULL,                    -- event.id (CloudTrail eventID); unique by ingest
    ts TIMESTAMP NOT NULL,
    event_action VARCHAR,
    event_provider VARCHAR,
    event_outcome VARCHAR,
    error_code VARCHAR,
    error_message VARCHAR,
    user_identity_arn VARCHAR,
    user_identity_type VARCHAR,
    user_identity_access_key_id VARCHAR,
    user_name VARCHAR,
    user_id VARCHAR,
    source_address VARCHAR,
    source_ip VARCHAR,
    source_geo_city_name VARCHAR,
    source_geo_country_iso_code VARCHAR,
    source_as_number BIGINT,
    source_as_organization_name VARCHAR,
    cloud_account_id VARCHAR,
    cloud_region VARCHAR,
    user_agent VARCHAR,
    request_parameters VARCHAR USING COMPRESSION zstd,
    doc VARCHAR NOT NULL USING COMPRESSION zstd,
    source_file VARCHAR,
    ingested_at TIMESTAMP NOT NULL
);
INSERT INTO events_new SELECT * FROM events ORDER BY ts;
DROP TABLE events;
ALTER TABLE events_new RENAME TO events;
