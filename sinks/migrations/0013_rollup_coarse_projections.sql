-- Two coarser copies of the daily rollup inside it, for long ranges (migration 0006 explains how
-- projections on this table work; merges rebuild them).
--
-- by_province  per day, category, headline class and province (no city): about a tenth of the rows
--              of by_region at ten million reports a year. ClickHouse reads it when a query groups
--              and filters on those columns only; the trend queries write their region filter so
--              that a province or "everywhere" leaves city_code out of the query once the
--              parameters are bound.
-- by_month     per month, category, headline class and province: what a whole-year question
--              without a day filter ("distinct victims per province") reads. Merging uniq states
--              costs per state, so thirty times fewer rows is what makes a year of them cheap.
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
        uniqMerge(victims_uniq),
        uniqMerge(contacts_uniq)
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
        uniqMerge(victims_uniq),
        uniqMerge(contacts_uniq)
    GROUP BY basis, toStartOfMonth(day), category, headline, province_code
);

-- Parts written before this migration get them too (background mutations).
ALTER TABLE {db}.report_rollup_1d MATERIALIZE PROJECTION by_province;

ALTER TABLE {db}.report_rollup_1d MATERIALIZE PROJECTION by_month;
