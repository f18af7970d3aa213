-- Alerts raised by rules, their executions, and delivery to outputs.
CREATE TABLE alerts (
    alert_uuid VARCHAR PRIMARY KEY,               -- sha256(record_id + rule_id): one alert per anomaly per rule
    rule_id VARCHAR NOT NULL,
    rule_name VARCHAR NOT NULL,
    record_id VARCHAR NOT NULL,                   -- the anomaly record (records.record_id)
    job_id VARCHAR NOT NULL,
    original_time TIMESTAMP NOT NULL,             -- bucket start of the anomaly
    created_at TIMESTAMP NOT NULL,                -- rule execution time
    severity VARCHAR NOT NULL,
    risk_score INTEGER NOT NULL,
    record_score DOUBLE NOT NULL,
    reason VARCHAR NOT NULL,
    workflow_status VARCHAR NOT NULL DEFAULT 'open',   -- open | acknowledged | closed
    close_reason VARCHAR,
    updated_at TIMESTAMP,
    doc VARCHAR NOT NULL                          -- the Elastic-compatible alert document, JSON text
);
CREATE INDEX alerts_time ON alerts (original_time);

CREATE TABLE rule_executions (
    rule_id VARCHAR NOT NULL,
    executed_at TIMESTAMP NOT NULL,               -- the execution's "now"
    window_start TIMESTAMP NOT NULL,
    window_end TIMESTAMP NOT NULL,
    alerts_created INTEGER NOT NULL,
    warnings VARCHAR,                             -- JSON list of strings
    PRIMARY KEY (rule_id, executed_at, window_start)
);

CREATE TABLE alert_deliveries (
    alert_uuid VARCHAR NOT NULL,
    output VARCHAR NOT NULL,
    delivered_at TIMESTAMP,                       -- null until it went through
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error VARCHAR,
    PRIMARY KEY (alert_uuid, output)
);
