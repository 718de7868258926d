-- Hourly and daily rollups of the fact table, for analysts and dashboards.
--
-- Source: `reports`, not the stream's per-minute sums. Distinct victims and distinct scammer
-- contacts are uniq states, which cannot be rebuilt from sums, and facts are written exactly once
-- (the sink leaves out every source position ClickHouse already holds), so a materialized view on
-- `reports` makes the rollups exactly-once too. The daily rollup is fed from the hourly one
-- (a cascading view), so the two agree by construction.
--
-- Time bases: every report lands twice in each rollup, once with basis = 'reported' (bucketed by
-- reported_at) and once with basis = 'occurred' (bucketed by occurred_at). A report that arrives
-- today about a fraud that happened last week therefore counts in today's 'reported' bucket and in
-- last week's 'occurred' bucket. Always filter on basis: summing both double-counts.
--
-- Hours and days are in the configured zone: `hour` is DateTime('{tz}') and `day` is the Date
-- of the instant in that zone, so toMonday(day) and toStartOfDay(hour) are weeks and days there.
--
-- Headline classes (the five classes of the official statistics) are derived from the category
-- code as in streams/taxonomy.json: four categories are their own class, everything else is
-- 'other_types'. Keep this expression in step with the taxonomy (a test compares them).
--
-- Distinct victims: the ID-card hash when known, else the phone hash, empty = not counted. Both
-- carry their kind as a prefix ("id:…", "phone:…"), so the two never collide.

CREATE TABLE IF NOT EXISTS {db}.report_rollup_1h
(
    basis            LowCardinality(String),
    hour             DateTime('{tz}'),
    category         LowCardinality(String),
    headline         LowCardinality(String),
    province_code    LowCardinality(String),
    city_code        LowCardinality(String),
    channel          LowCardinality(String),
    victim_age_band  LowCardinality(String),
    leak_linked      UInt8,
    reports          SimpleAggregateFunction(sum, UInt64),
    loss_fen         SimpleAggregateFunction(sum, UInt64),
    leak_reports     SimpleAggregateFunction(sum, UInt64),
    leak_loss_fen    SimpleAggregateFunction(sum, UInt64),
    victims_uniq     AggregateFunction(uniq, String),
    contacts_uniq    AggregateFunction(uniq, String)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (basis, hour, category, headline, province_code, city_code, channel, victim_age_band, leak_linked);

CREATE TABLE IF NOT EXISTS {db}.report_rollup_1d
(
    basis            LowCardinality(String),
    day              Date,
    category         LowCardinality(String),
    headline         LowCardinality(String),
    province_code    LowCardinality(String),
    city_code        LowCardinality(String),
    channel          LowCardinality(String),
    victim_age_band  LowCardinality(String),
    leak_linked      UInt8,
    reports          SimpleAggregateFunction(sum, UInt64),
    loss_fen         SimpleAggregateFunction(sum, UInt64),
    leak_reports     SimpleAggregateFunction(sum, UInt64),
    leak_loss_fen    SimpleAggregateFunction(sum, UInt64),
    victims_uniq     AggregateFunction(uniq, String),
    contacts_uniq    AggregateFunction(uniq, String)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (basis, day, category, headline, province_code, city_code, channel, victim_age_band, leak_linked);

-- When the views took over from the backfill. The view only aggregates facts ingested at or after
-- the cutover and the backfill only those ingested before it, so a worker writing while this
-- migration runs is counted once, not twice or never. Until the cutover row exists the view lets
-- nothing through. Do not drop this table: the view reads it on every insert.
CREATE TABLE IF NOT EXISTS {db}.rollup_cutover
(
    step       String,
    cutover_at DateTime64(3, 'UTC')
)
ENGINE = MergeTree
ORDER BY step;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.report_rollup_1h_mv TO {db}.report_rollup_1h AS
SELECT
    basis,
    toStartOfHour(moment) AS hour,
    category,
    if(category IN ('part_time_job', 'fake_shopping', 'investment', 'game_trading'), category, 'other_types')
        AS headline,
    province_code,
    city_code,
    channel,
    victim_age_band,
    leak_linked,
    count() AS reports,
    sum(amount_lost_fen) AS loss_fen,
    countIf(leak_linked != 0) AS leak_reports,
    sumIf(amount_lost_fen, leak_linked != 0) AS leak_loss_fen,
    uniqIfState(
        if(victim_id_hash != '', victim_id_hash, victim_phone_hash), victim_id_hash != '' OR victim_phone_hash != ''
    ) AS victims_uniq,
    uniqArrayState(arrayFilter(c -> c != '', scammer_contacts)) AS contacts_uniq
FROM {db}.reports
ARRAY JOIN ['reported', 'occurred'] AS basis, [reported_at, occurred_at] AS moment
WHERE ingested_at >= (
    SELECT ifNull(minOrNull(cutover_at), toDateTime64('2999-12-31 00:00:00', 3, 'UTC'))
    FROM {db}.rollup_cutover WHERE step = 'cutover'
)
GROUP BY basis, hour, category, headline, province_code, city_code, channel, victim_age_band, leak_linked;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.report_rollup_1d_mv TO {db}.report_rollup_1d AS
SELECT
    basis,
    toDate(hour) AS day,
    category,
    headline,
    province_code,
    city_code,
    channel,
    victim_age_band,
    leak_linked,
    sum(reports) AS reports,
    sum(loss_fen) AS loss_fen,
    sum(leak_reports) AS leak_reports,
    sum(leak_loss_fen) AS leak_loss_fen,
    uniqMergeState(victims_uniq) AS victims_uniq,
    uniqMergeState(contacts_uniq) AS contacts_uniq
FROM {db}.report_rollup_1h
GROUP BY basis, day, category, headline, province_code, city_code, channel, victim_age_band, leak_linked;

INSERT INTO {db}.rollup_cutover (step, cutover_at)
SELECT 'cutover', now64(3)
WHERE (SELECT count() FROM {db}.rollup_cutover WHERE step = 'cutover') = 0;

-- Backfill the facts that were there before the cutover (the daily rollup follows through its view).
-- Guarded by a marker so that re-running this migration after a later failure does not add them twice.
INSERT INTO {db}.report_rollup_1h
SELECT
    basis,
    toStartOfHour(moment) AS hour,
    category,
    if(category IN ('part_time_job', 'fake_shopping', 'investment', 'game_trading'), category, 'other_types')
        AS headline,
    province_code,
    city_code,
    channel,
    victim_age_band,
    leak_linked,
    count() AS reports,
    sum(amount_lost_fen) AS loss_fen,
    countIf(leak_linked != 0) AS leak_reports,
    sumIf(amount_lost_fen, leak_linked != 0) AS leak_loss_fen,
    uniqIfState(
        if(victim_id_hash != '', victim_id_hash, victim_phone_hash), victim_id_hash != '' OR victim_phone_hash != ''
    ) AS victims_uniq,
    uniqArrayState(arrayFilter(c -> c != '', scammer_contacts)) AS contacts_uniq
FROM {db}.reports
ARRAY JOIN ['reported', 'occurred'] AS basis, [reported_at, occurred_at] AS moment
WHERE ingested_at < (SELECT min(cutover_at) FROM {db}.rollup_cutover WHERE step = 'cutover')
  AND (SELECT count() FROM {db}.rollup_cutover WHERE step = 'backfilled') = 0
GROUP BY basis, hour, category, headline, province_code, city_code, channel, victim_age_band, leak_linked;

INSERT INTO {db}.rollup_cutover (step, cutover_at)
SELECT 'backfilled', now64(3)
WHERE (SELECT count() FROM {db}.rollup_cutover WHERE step = 'backfilled') = 0;
