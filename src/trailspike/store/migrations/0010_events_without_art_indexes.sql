-- events without its ART indexes (the PRIMARY KEY on event_id and the index on ts).
-- DuckDB keeps an ART index in memory as a whole while it checks inserts against it, and it grows
-- with every event stored (~150 bytes per key): a few million events filled ingest's 512 MB
-- memory cap. Duplicates are now found by a join of each batch against the events of the batch's
-- time range (store/events.py), which zone maps on ts keep cheap; same columns, same meaning.
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
    request_parameters VARCHAR,
    doc VARCHAR NOT NULL,
    source_file VARCHAR,
    ingested_at TIMESTAMP NOT NULL
);
INSERT INTO events_new SELECT * FROM events ORDER BY ts;
DROP INDEX events_ts;
DROP TABLE events;
ALTER TABLE events_new RENAME TO events;
