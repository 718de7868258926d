-- Facts: one row per report. Every row keeps where it came from (topic, broker epoch, partition,
-- offset, index inside the envelope): the sink resumes past what is already here, which is what
-- makes redelivery harmless.
CREATE TABLE IF NOT EXISTS {db}.reports
(
    report_id            String,
    reported_at          DateTime64(3, '{tz}'),
    occurred_at          DateTime64(3, '{tz}'),
    ingested_at          DateTime64(3, '{tz}') DEFAULT now64(3),
    channel              LowCardinality(String),
    region_code          LowCardinality(String),
    province_code        LowCardinality(String),
    category             LowCardinality(String),
    citizen_category     LowCardinality(String),
    amount_lost_fen      UInt64,
    victim_phone_hash    String,
    description_redacted String,
    src_topic            LowCardinality(String),
    src_epoch            LowCardinality(String),
    src_partition        UInt16,
    src_offset           UInt64,
    src_index            UInt32,
    INDEX src_offset_idx src_offset TYPE minmax GRANULARITY 4
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(reported_at)
ORDER BY (category, reported_at, report_id);

-- Per-minute aggregates written by the stream. Rows of one source partition merge together;
-- src_offset_max records how far into that partition the aggregates already reach.
CREATE TABLE IF NOT EXISTS {db}.report_stats_1m
(
    minute         DateTime('{tz}'),
    category       LowCardinality(String),
    province_code  LowCardinality(String),
    region_code    LowCardinality(String),
    src_topic      LowCardinality(String),
    src_epoch      LowCardinality(String),
    src_partition  UInt16,
    reports        SimpleAggregateFunction(sum, UInt64),
    loss_fen       SimpleAggregateFunction(sum, UInt64),
    src_offset_max SimpleAggregateFunction(max, UInt64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(minute)
ORDER BY (minute, category, province_code, region_code, src_topic, src_epoch, src_partition);
