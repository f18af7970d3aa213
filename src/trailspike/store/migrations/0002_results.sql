-- Anomaly-detection results, with Elastic's field names (result types bucket, record, influencer,
-- model_plot) and the persisted model state per job.
CREATE TABLE job_state (
    job_id VARCHAR PRIMARY KEY,
    job_revision VARCHAR,                         -- content hash of the job definition
    last_bucket_end TIMESTAMP,                    -- every bucket before this is final and scored
    state BLOB,                                   -- serialised models and normaliser (models/state.py)
    memory_bytes BIGINT,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE buckets (
    job_id VARCHAR NOT NULL,
    timestamp TIMESTAMP NOT NULL,                 -- bucket start
    bucket_span INTEGER NOT NULL,                 -- seconds
    anomaly_score DOUBLE NOT NULL,
    initial_anomaly_score DOUBLE NOT NULL,
    event_count BIGINT NOT NULL,
    is_interim BOOLEAN NOT NULL DEFAULT false,
    PRIMARY KEY (job_id, timestamp)
);

CREATE TABLE records (
    record_id VARCHAR PRIMARY KEY,                -- {job_id}_record_{ts ms}_{span}_{detector}_{hash}
    job_id VARCHAR NOT NULL,
    timestamp TIMESTAMP NOT NULL,                 -- bucket start
    bucket_span INTEGER NOT NULL,
    detector_index INTEGER NOT NULL,
    function VARCHAR NOT NULL,
    function_description VARCHAR NOT NULL,
    field_name VARCHAR,
    by_field_name VARCHAR,
    by_field_value VARCHAR,
    over_field_name VARCHAR,
    over_field_value VARCHAR,
    partition_field_name VARCHAR,
    partition_field_value VARCHAR,
    probability DOUBLE NOT NULL,
    record_score DOUBLE NOT NULL,
    initial_record_score DOUBLE NOT NULL,
    typical DOUBLE,
    actual DOUBLE,
    multi_bucket_impact DOUBLE,
    influencers VARCHAR,                          -- JSON: [{influencer_field_name, influencer_field_values}]
    explanation VARCHAR,                          -- JSON: anomaly_score_explanation
    is_interim BOOLEAN NOT NULL DEFAULT false,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX records_job_time ON records (job_id, timestamp);

CREATE TABLE influencers (
    job_id VARCHAR NOT NULL,
    timestamp TIMESTAMP NOT NULL,
    bucket_span INTEGER NOT NULL,
    influencer_field_name VARCHAR NOT NULL,
    influencer_field_value VARCHAR NOT NULL,
    influencer_score DOUBLE NOT NULL,
    initial_influencer_score DOUBLE NOT NULL,
    probability DOUBLE NOT NULL,
    is_interim BOOLEAN NOT NULL DEFAULT false,
    PRIMARY KEY (job_id, timestamp, influencer_field_name, influencer_field_value)
);

CREATE TABLE model_plot (
    job_id VARCHAR NOT NULL,
    timestamp TIMESTAMP NOT NULL,
    detector_index INTEGER NOT NULL,
    partition_field_value VARCHAR NOT NULL DEFAULT '',
    by_field_value VARCHAR NOT NULL DEFAULT '',
    model_lower DOUBLE,
    model_median DOUBLE,
    model_upper DOUBLE,
    actual DOUBLE,
    PRIMARY KEY (job_id, timestamp, detector_index, partition_field_value, by_field_value)
);
