-- Rules engine state beyond 0003: exception items, shared value lists, alert suppression, the
-- wall-clock time an alert row was written (so the service knows what it has still to deliver),
-- and the long-running service's own state.
ALTER TABLE alerts ADD COLUMN inserted_at TIMESTAMP;
-- Alert suppression: the group-by values (JSON) and until when later anomalies fold into this alert.
ALTER TABLE alerts ADD COLUMN suppression_key VARCHAR;
ALTER TABLE alerts ADD COLUMN suppression_until TIMESTAMP;

-- Exception items in Kibana's shape: entries (JSON list) are ANDed, items of a list are ORed.
-- list_id is the rule_id for a rule's own exceptions, or a shared list named in `exceptions_list`.
CREATE TABLE exception_items (
    item_id VARCHAR PRIMARY KEY,
    list_id VARCHAR NOT NULL,
    name VARCHAR NOT NULL,
    entries VARCHAR NOT NULL,                     -- JSON: [{field, operator, type, value|list}]
    comment VARCHAR,
    created_at TIMESTAMP NOT NULL
);

-- Value lists (e.g. allow-listed automation ARNs) that exception entries of type "list" refer to.
CREATE TABLE value_lists (
    list_id VARCHAR PRIMARY KEY,
    description VARCHAR,
    created_at TIMESTAMP NOT NULL
);
CREATE TABLE value_list_items (
    list_id VARCHAR NOT NULL,
    value VARCHAR NOT NULL,
    PRIMARY KEY (list_id, value)
);

-- Anomalies folded into an existing alert by alert suppression; remembered so a later overlapping
-- window neither raises them nor counts them twice.
CREATE TABLE suppressed_anomalies (
    alert_uuid VARCHAR PRIMARY KEY,               -- the id the alert would have had
    rule_id VARCHAR NOT NULL,
    record_id VARCHAR NOT NULL,
    suppressed_into VARCHAR NOT NULL,             -- alerts.alert_uuid that counts it
    suppressed_at TIMESTAMP NOT NULL
);

-- Key/value state of `trailspike run` (first start, last cycle, counters).
CREATE TABLE service_state (
    key VARCHAR PRIMARY KEY,
    value VARCHAR NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
