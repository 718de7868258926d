-- Fixed-size keys the fact-table analyses group on, computed once at insert instead of hashing
-- strings in every query. At ten million reports a year a four-week analysis reads ~800,000 rows:
-- reading and hashing the 40-byte identifier strings was most of its time, these are 8 bytes each.
-- MATERIALIZED columns are not part of `SELECT *` nor of an INSERT without a column list, so
-- writers and readers of `reports` see no difference.
--
-- victim_key   64-bit hash of the victim: the ID-card hash, else the phone hash, else (no
--              identifier) the report itself, so such reports count as one victim each.
-- contact_keys 64-bit hashes of the distinct non-empty scammer contacts, in the order of
--              arrayDistinct(arrayFilter(c -> c != '', scammer_contacts)), so the two arrays
--              can be ARRAY JOINed side by side.
ALTER TABLE {db}.reports
    ADD COLUMN IF NOT EXISTS victim_key UInt64 MATERIALIZED
        cityHash64(if(victim_id_hash != '', victim_id_hash, if(victim_phone_hash != '', victim_phone_hash, report_id))),
    ADD COLUMN IF NOT EXISTS contact_keys Array(UInt64) MATERIALIZED
        arrayMap(c -> cityHash64(c), arrayDistinct(arrayFilter(c -> c != '', scammer_contacts)));

-- Compute them for parts written before this migration (background mutations).
ALTER TABLE {db}.reports MATERIALIZE COLUMN victim_key;

ALTER TABLE {db}.reports MATERIALIZE COLUMN contact_keys;
