-- Normalised CloudTrail events. Timestamps are naive UTC. Columns hold the ECS fields that jobs,
-- rules and triage query; `doc` keeps the whole ECS document (JSON text) for everything else.
CREATE TABLE events (
    event_id VARCHAR PRIMARY KEY,                 -- event.id (CloudTrail eventID)
    ts TIMESTAMP NOT NULL,                        -- @timestamp (eventTime)
    event_action VARCHAR,                         -- event.action (eventName)
    event_provider VARCHAR,                       -- event.provider (eventSource)
    event_outcome VARCHAR,                        -- event.outcome
    error_code VARCHAR,                           -- aws.cloudtrail.error_code
    error_message VARCHAR,                        -- aws.cloudtrail.error_message
    user_identity_arn VARCHAR,                    -- aws.cloudtrail.user_identity.arn
    user_identity_type VARCHAR,                   -- aws.cloudtrail.user_identity.type
    user_identity_access_key_id VARCHAR,          -- aws.cloudtrail.user_identity.access_key_id
    user_name VARCHAR,                            -- user.name
    user_id VARCHAR,                              -- user.id
    source_address VARCHAR,                       -- source.address
    source_ip VARCHAR,                            -- source.ip
    source_geo_city_name VARCHAR,                 -- source.geo.city_name
    source_geo_country_iso_code VARCHAR,          -- source.geo.country_iso_code
    source_as_number BIGINT,                      -- source.as.number
    source_as_organization_name VARCHAR,          -- source.as.organization.name
    cloud_account_id VARCHAR,                     -- cloud.account.id
    cloud_region VARCHAR,                         -- cloud.region
    user_agent VARCHAR,                           -- user_agent.original
    request_parameters VARCHAR,                   -- aws.cloudtrail.request_parameters (JSON text)
    doc VARCHAR NOT NULL,                         -- the whole ECS document, JSON text
    source_file VARCHAR,                          -- file or s3:// key the event came from
    ingested_at TIMESTAMP NOT NULL
);
CREATE INDEX events_ts ON events (ts);

-- Files and S3 objects already read, so a re-run skips them (identity = path + size + mtime/ETag).
CREATE TABLE ingested_files (
    path VARCHAR PRIMARY KEY,
    size BIGINT,
    fingerprint VARCHAR,                          -- mtime (local) or ETag (S3)
    records BIGINT,
    stored BIGINT,
    duplicates BIGINT,
    quarantined BIGINT,
    complete BOOLEAN NOT NULL,                    -- false while a file is part-way (resume re-reads it)
    ingested_at TIMESTAMP NOT NULL
);

-- Records set aside with the reason; the rest of their file is kept.
CREATE SEQUENCE quarantine_seq;
CREATE TABLE quarantine (
    id BIGINT PRIMARY KEY DEFAULT nextval('quarantine_seq'),
    path VARCHAR NOT NULL,
    line BIGINT,
    record_index BIGINT,
    reason VARCHAR NOT NULL,
    snippet VARCHAR,
    quarantined_at TIMESTAMP NOT NULL
);
