-- A coarser copy of the daily rollup inside it: per day, category, headline class, province and city
-- (no channel, age band or leak flag). At ten million reports a year the full daily rollup hardly
-- aggregates (most dimension combinations hold one report a day); this projection has about a
-- quarter of its rows, and ClickHouse reads it instead whenever a query groups and filters on those
-- columns only and asks for these aggregates (sum(...) and uniqMerge(...) exactly as written here).
--
-- An AggregatingMergeTree only takes a projection when merges rebuild it from the merged rows.
ALTER TABLE {db}.report_rollup_1d MODIFY SETTING deduplicate_merge_projection_mode = 'rebuild';

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
        uniqMerge(victims_uniq),
        uniqMerge(contacts_uniq)
    GROUP BY basis, day, category, headline, province_code, city_code
);

-- Parts written before this migration get it too (a background mutation).
ALTER TABLE {db}.report_rollup_1d MATERIALIZE PROJECTION by_region;
