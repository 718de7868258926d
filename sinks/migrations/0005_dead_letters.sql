-- Messages on the raw topic that could not be processed. Keyed by source position, so a redelivered
-- poison message collapses into one row; the payload is kept only as a redacted preview and a digest.
CREATE TABLE IF NOT EXISTS {db}.dead_letters
(
    src_topic       LowCardinality(String),
    src_epoch       LowCardinality(String),
    src_partition   UInt16,
    src_offset      UInt64,
    error           String,
    payload_sha256  String,
    payload_bytes   UInt32,
    payload_preview String,
    failed_at       DateTime64(3, '{tz}') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
ORDER BY (src_topic, src_epoch, src_partition, src_offset);
