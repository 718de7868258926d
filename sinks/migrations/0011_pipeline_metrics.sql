-- Operational samples of the pipeline, for the Pipeline health dashboard. Expected writers: the
-- worker (consumer lag, reports it rejected) and the API (reports it rejected).
--
-- Metric names the dashboard reads:
--   consumer_lag      gauge: messages in the raw topic not yet committed by the worker, all
--                     partitions together, sampled every few seconds
--   reports_rejected  count of reports rejected since the writer's previous sample of this metric
--                     (a delta, not a running total, so restarts need no special handling)
-- Other names may be added freely; the dashboard ignores them. Samples older than 30 days are dropped.
CREATE TABLE IF NOT EXISTS {db}.pipeline_metrics
(
    ts      DateTime64(3, '{tz}'),
    metric  LowCardinality(String),
    value   Float64
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (metric, ts)
TTL toDateTime(ts) + INTERVAL 30 DAY;
