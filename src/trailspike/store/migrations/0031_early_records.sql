-- Early results: anomaly records of a bucket computed from part of its data, before it ends.
-- Only functions whose value can only grow as a bucket fills (rare, high_count,
-- high_non_zero_count, high_distinct_count) get them, so an early record understates the final
-- one rather than inventing it (the false positives that made Kibana ignore Elastic's interim
-- results, kibana#90316, came from partial buckets of other functions). record_id is the id the
-- final record of the same anomaly has, so a rule never alerts on both. data_end is the end of
-- the data the record saw; every cut-off of a bucket is kept (what was known when).
CREATE TABLE early_records (
    record_id VARCHAR NOT NULL,
    data_end TIMESTAMP NOT NULL,                  -- the record saw events in [timestamp, data_end)
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
    influencers VARCHAR,
    explanation VARCHAR,
    is_interim BOOLEAN NOT NULL DEFAULT true,
    created_at TIMESTAMP NOT NULL,
    score_confidence DOUBLE DEFAULT 1.0,
    PRIMARY KEY (record_id, data_end)
);
CREATE INDEX early_records_job_time ON early_records (job_id, timestamp);
