-- The `uniq` states of 0003, replaced by the sketches of 0015 (which explains why, and keeps the states of
-- days no stored fact can rebuild in report_rollup_1d_uniq_before_0015). A migration of its own because
-- 0015 reads them: run again after a failure, 0015 must still find them.
ALTER TABLE {db}.report_rollup_1h DROP COLUMN IF EXISTS victims_uniq, DROP COLUMN IF EXISTS contacts_uniq;

ALTER TABLE {db}.report_rollup_1d DROP COLUMN IF EXISTS victims_uniq, DROP COLUMN IF EXISTS contacts_uniq;
