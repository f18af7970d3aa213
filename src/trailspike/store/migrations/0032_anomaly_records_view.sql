-- Every anomaly by record_id: its final record, or while its bucket is open the latest early
-- result of it (0031). Alerts raised on an early result name a record_id that has no final record
-- yet; triage and the web UI read the anomaly behind an alert from here.
CREATE VIEW anomaly_records AS
SELECT * FROM records
UNION ALL BY NAME
SELECT * EXCLUDE (data_end) FROM (
    SELECT * FROM early_records e
    WHERE NOT EXISTS (SELECT 1 FROM records r WHERE r.record_id = e.record_id)
    QUALIFY row_number() OVER (PARTITION BY record_id ORDER BY data_end DESC) = 1
);
