-- Per-day copies of the stream's per-minute aggregates, for `stream_drift` (which compares them with
-- the daily rollup over weeks). report_stats_1m holds about one row per report at ten million a
-- year (minute x category x district x source partition hardly aggregates); per day and province
-- it is a few hundred rows a day, per day and city a few thousand.
--
-- by_day_city keys on the city as `stream_drift` writes it (the district code with its last two
-- digits zeroed): ClickHouse matches a projection's expressions by their text.
--
-- An AggregatingMergeTree only takes a projection when merges rebuild it from the merged rows.
ALTER TABLE {db}.report_stats_1m MODIFY SETTING deduplicate_merge_projection_mode = 'rebuild';

ALTER TABLE {db}.report_stats_1m ADD PROJECTION IF NOT EXISTS by_day_province
(
    SELECT toDate(minute), category, province_code, sum(reports), sum(loss_fen)
    GROUP BY toDate(minute), category, province_code
);

ALTER TABLE {db}.report_stats_1m ADD PROJECTION IF NOT EXISTS by_day_city
(
    SELECT toDate(minute), category, province_code, concat(substring(region_code, 1, 4), '00'), sum(reports), sum(loss_fen)
    GROUP BY toDate(minute), category, province_code, concat(substring(region_code, 1, 4), '00')
);

ALTER TABLE {db}.report_stats_1m MATERIALIZE PROJECTION by_day_province;

ALTER TABLE {db}.report_stats_1m MATERIALIZE PROJECTION by_day_city;
