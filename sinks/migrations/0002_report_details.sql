-- The full per-report fact: who submitted it, derived geography, the classifier's verdict with its
-- evidence, victim profile, hashed identifiers, and the leak join's result. Columns default to
-- empty values rather than Nullable, so older rows read as "not known".
ALTER TABLE {db}.reports
    ADD COLUMN IF NOT EXISTS submitter             LowCardinality(String) DEFAULT '' AFTER channel,
    ADD COLUMN IF NOT EXISTS city_code             LowCardinality(String) DEFAULT '' AFTER province_code,
    ADD COLUMN IF NOT EXISTS category_confidence   Float32 DEFAULT 0 AFTER category,
    ADD COLUMN IF NOT EXISTS category_evidence     Array(String) DEFAULT [] AFTER category_confidence,
    ADD COLUMN IF NOT EXISTS contact_method        LowCardinality(String) DEFAULT '' AFTER citizen_category,
    ADD COLUMN IF NOT EXISTS payment_channel       LowCardinality(String) DEFAULT '' AFTER contact_method,
    ADD COLUMN IF NOT EXISTS victim_id_hash        String DEFAULT '' AFTER victim_phone_hash,
    ADD COLUMN IF NOT EXISTS victim_age_band       LowCardinality(String) DEFAULT '' AFTER victim_id_hash,
    ADD COLUMN IF NOT EXISTS victim_gender         LowCardinality(String) DEFAULT '' AFTER victim_age_band,
    ADD COLUMN IF NOT EXISTS scammer_contacts      Array(String) DEFAULT [] AFTER victim_gender,
    ADD COLUMN IF NOT EXISTS scammer_domains       Array(String) DEFAULT [] AFTER scammer_contacts,
    ADD COLUMN IF NOT EXISTS mentioned_identifiers Array(String) DEFAULT [] AFTER scammer_domains,
    ADD COLUMN IF NOT EXISTS leak_linked           UInt8 DEFAULT 0 AFTER mentioned_identifiers,
    ADD COLUMN IF NOT EXISTS leak_batch_ids        Array(String) DEFAULT [] AFTER leak_linked;
