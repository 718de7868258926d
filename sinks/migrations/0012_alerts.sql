-- Early-warning alerts (docs/alerts.md). The worker's detectors are the only writers of `alerts`;
-- people acknowledge alerts in `alert_acks`, so an acknowledgement never races a detector's update.
--
-- alerts: one row per version of an alert; read the current state with FINAL (or alerts_current).
--   detector        surge | repeat_contact | leak_exploitation
--   series          what the alert is about: "category|province_code", a hashed scammer contact
--                   ("phone:<hmac>"), or a leak batch id. At most one open alert per detector and series.
--   state           open | resolved
--   opened_at / resolved_at   resolved_at is 1970-01-01 while the alert is open
--   evidence        JSON: counts, expected counts, scores, windows; hashed identifiers only
--   topic_delivery / webhook_delivery   of the current state: 0 pending, 1 delivered, 2 refused by the
--                   receiver (permanent error). The worker retries pending deliveries, also after a restart.
--   version         milliseconds since the epoch of the write; the highest wins
CREATE TABLE IF NOT EXISTS {db}.alerts
(
    alert_id          String,
    detector          LowCardinality(String),
    series            String,
    state             LowCardinality(String),
    title             String,
    score             Float64,
    opened_at         DateTime64(3, '{tz}'),
    updated_at        DateTime64(3, '{tz}'),
    resolved_at       DateTime64(3, '{tz}') DEFAULT toDateTime64(0, 3, '{tz}'),
    evidence          String,
    topic_delivery    UInt8 DEFAULT 0,
    webhook_delivery  UInt8 DEFAULT 0,
    version           UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY alert_id;

CREATE TABLE IF NOT EXISTS {db}.alert_acks
(
    alert_id  String,
    acked_at  DateTime64(3, '{tz}') DEFAULT now64(3),
    acked_by  String,
    note      String
)
ENGINE = ReplacingMergeTree(acked_at)
ORDER BY alert_id;

-- The current state of every alert with its acknowledgement (acked = 0 and empty acked_by when none).
CREATE VIEW IF NOT EXISTS {db}.alerts_current AS
SELECT
    a.alert_id AS alert_id, a.detector AS detector, a.series AS series, a.state AS state, a.title AS title,
    a.score AS score, a.opened_at AS opened_at, a.updated_at AS updated_at, a.resolved_at AS resolved_at,
    a.evidence AS evidence, a.topic_delivery AS topic_delivery, a.webhook_delivery AS webhook_delivery,
    k.alert_id != '' AS acked, k.acked_at AS acked_at, k.acked_by AS acked_by, k.note AS ack_note
FROM (SELECT * FROM {db}.alerts FINAL) AS a
LEFT JOIN (SELECT * FROM {db}.alert_acks FINAL) AS k ON k.alert_id = a.alert_id
SETTINGS join_use_nulls = 0;
