-- Distinct victims and scammer contacts as fixed-size sketches instead of `uniq` states, and views
-- that no longer group what the rollups' merges group anyway.
--
-- victims_sketch   uniqCombined64(12) of victim_key (migration 0007) over the reports that name a
--                  victim (an ID-card or phone hash): the same victims as 0003's victims_uniq.
-- contacts_sketch  uniqCombined64(12) of contact_keys (0007): the same distinct non-empty scammer
--                  contacts as contacts_uniq.
-- A sketch counts exactly while it holds up to 128 values (it keeps their 64-bit hashes), then turns
-- into a HyperLogLog of 4,096 registers (3 KiB): about 1.6% relative error (one standard deviation)
-- on larger counts, merged in the same time whatever it counts. The `uniq` states kept up to 65,536
-- hashes of 64-character strings each; merging a year of them ("distinct victims per province")
-- took about a second at ten million reports, and building them cost more at every insert.
--
-- Views without GROUP BY: at ten million reports a year a worker's flush hardly aggregates (nearly
-- every report is its own hour x dimensions row), so the views now write one row per report and
-- basis, with one-value states (initializeAggregation), and the 1d view passes the hourly rows
-- through with their day. The AggregatingMergeTree merges rows of equal keys, as it did, and every
-- query aggregates with sum() and uniqCombined64Merge(12)(), so no answer depends on how rows were
-- grouped before. (The sink inserts facts with optimize_on_insert = 0, so a part keeps these rows as
-- the views write them; grouping them in every insert as well cost about a fifth of the insert.)
--
-- Existing installations: the new states are built from the facts stored (the backfill below);
-- states are sets, so overlapping what the views add, or running again after a failure, counts
-- nobody twice. Its rows carry only the sketches (sums 0), so merged with the existing rows they
-- change no other number. Rollup hours and days whose facts retention already removed (only when
-- FRAUDWATCH_RETENTION_DAYS is shorter than the rollups' retention) keep their sums but cannot get
-- sketches: their distinct counts read 0, and a partly removed first day reads low. Their old
-- `uniq` states are kept in report_rollup_1d_uniq_before_0015 (basis x day x dimensions, read with
-- uniqMerge) for every day before the first stored fact.

CREATE TABLE IF NOT EXISTS {db}.report_rollup_1d_uniq_before_0015
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (basis, day, category, headline, province_code, city_code, channel, victim_age_band, leak_linked)
AS SELECT
    basis, day, category, headline, province_code, city_code, channel, victim_age_band, leak_linked,
    uniqMergeState(victims_uniq) AS victims_uniq,
    uniqMergeState(contacts_uniq) AS contacts_uniq
FROM {db}.report_rollup_1d
WHERE day <= ifNull((SELECT toDate(minOrNull(reported_at)) FROM {db}.reports), toDate('2149-06-06'))
GROUP BY basis, day, category, headline, province_code, city_code, channel, victim_age_band, leak_linked;

ALTER TABLE {db}.report_rollup_1h
    ADD COLUMN IF NOT EXISTS victims_sketch AggregateFunction(uniqCombined64(12), UInt64),
    ADD COLUMN IF NOT EXISTS contacts_sketch AggregateFunction(uniqCombined64(12), UInt64);

ALTER TABLE {db}.report_rollup_1d
    ADD COLUMN IF NOT EXISTS victims_sketch AggregateFunction(uniqCombined64(12), UInt64),
    ADD COLUMN IF NOT EXISTS contacts_sketch AggregateFunction(uniqCombined64(12), UInt64);

-- The daily view first, so that everything the hourly one writes from here on reaches the daily
-- rollup with its sketches.
ALTER TABLE {db}.report_rollup_1d_mv MODIFY QUERY
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
    reports,
    loss_fen,
    leak_reports,
    leak_loss_fen,
    victims_sketch,
    contacts_sketch
FROM {db}.report_rollup_1h;

ALTER TABLE {db}.report_rollup_1h_mv MODIFY QUERY
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
    toUInt64(1) AS reports,
    amount_lost_fen AS loss_fen,
    toUInt64(leak_linked != 0) AS leak_reports,
    if(leak_linked != 0, amount_lost_fen, 0) AS leak_loss_fen,
    initializeAggregation('uniqCombined64IfState(12)', victim_key, victim_id_hash != '' OR victim_phone_hash != '')
        AS victims_sketch,
    initializeAggregation('uniqCombined64ArrayState(12)', contact_keys) AS contacts_sketch
FROM {db}.reports
ARRAY JOIN ['reported', 'occurred'] AS basis, [reported_at, occurred_at] AS moment
WHERE ingested_at >= (
    SELECT ifNull(minOrNull(cutover_at), toDateTime64('2999-12-31 00:00:00', 3, 'UTC'))
    FROM {db}.rollup_cutover WHERE step = 'cutover'
);

-- The projections of 0006 and 0013 read the `uniq` states, which 0016 drops: dropped here, and before the
-- backfill so that its rows do not build projections about to be replaced. Until they are added
-- again below, queries read the table itself and get the same answers, slower.
ALTER TABLE {db}.report_rollup_1d DROP PROJECTION IF EXISTS by_region;

ALTER TABLE {db}.report_rollup_1d DROP PROJECTION IF EXISTS by_province;

ALTER TABLE {db}.report_rollup_1d DROP PROJECTION IF EXISTS by_month;

-- The sketches of every fact already stored (the daily rollup follows through its view). Grouped, to
-- write one row per hourly rollup row rather than one per report; with bounded memory (the grouping
-- spills to disk past 1 GB and hands the views blocks of 250,000 rows) rather than a peak that grows
-- with the data.
INSERT INTO {db}.report_rollup_1h
    (basis, hour, category, headline, province_code, city_code, channel, victim_age_band, leak_linked,
     victims_sketch, contacts_sketch)
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
    uniqCombined64IfState(12)(victim_key, victim_id_hash != '' OR victim_phone_hash != '') AS victims_sketch,
    uniqCombined64ArrayState(12)(contact_keys) AS contacts_sketch
FROM {db}.reports
ARRAY JOIN ['reported', 'occurred'] AS basis, [reported_at, occurred_at] AS moment
GROUP BY basis, hour, category, headline, province_code, city_code, channel, victim_age_band, leak_linked
SETTINGS max_bytes_before_external_group_by = 1000000000, min_insert_block_size_rows = 250000,
    min_insert_block_size_bytes = 0;

ALTER TABLE {db}.report_rollup_1d ADD PROJECTION IF NOT EXISTS by_region
(
    SELECT
        basis,
        day,
        category,
        headline,
        province_code,
        city_code,
        sum(reports),
        sum(loss_fen),
        sum(leak_reports),
        sum(leak_loss_fen),
        uniqCombined64Merge(12)(victims_sketch),
        uniqCombined64Merge(12)(contacts_sketch)
    GROUP BY basis, day, category, headline, province_code, city_code
);

ALTER TABLE {db}.report_rollup_1d ADD PROJECTION IF NOT EXISTS by_province
(
    SELECT
        basis,
        day,
        category,
        headline,
        province_code,
        sum(reports),
        sum(loss_fen),
        sum(leak_reports),
        sum(leak_loss_fen),
        uniqCombined64Merge(12)(victims_sketch),
        uniqCombined64Merge(12)(contacts_sketch)
    GROUP BY basis, day, category, headline, province_code
);

ALTER TABLE {db}.report_rollup_1d ADD PROJECTION IF NOT EXISTS by_month
(
    SELECT
        basis,
        toStartOfMonth(day),
        category,
        headline,
        province_code,
        sum(reports),
        sum(loss_fen),
        sum(leak_reports),
        sum(leak_loss_fen),
        uniqCombined64Merge(12)(victims_sketch),
        uniqCombined64Merge(12)(contacts_sketch)
    GROUP BY basis, toStartOfMonth(day), category, headline, province_code
);

-- Parts written before this migration get them too (background mutations).
ALTER TABLE {db}.report_rollup_1d MATERIALIZE PROJECTION by_region;

ALTER TABLE {db}.report_rollup_1d MATERIALIZE PROJECTION by_province;

ALTER TABLE {db}.report_rollup_1d MATERIALIZE PROJECTION by_month;
