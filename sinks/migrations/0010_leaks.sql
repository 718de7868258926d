-- Seized personal-data leaks, the index the stream joins reports against, and the links it finds.
-- docs/leaks.md explains the design and has the analysts' queries. No table holds a raw identifier:
-- identifiers are "kind:keyed-hash" exactly as the producer API writes them into reports, and the
-- other columns of a leak file only count as present or absent.
--
-- leak_records: the leak index, one row per (identifier, batch). `fraudwatch leaks load` writes it,
-- the worker looks up every identifier of a flush in one query. Ordered by identifier with small
-- granules because every read is a point lookup. info_mask: what the record(s) holding the
-- identifier expose, one bit per fraudwatch.leaks.INFO_TYPES entry. class_mask: the information
-- classes of article 5 of the 2017 interpretation among them (1 = A, 2 = B, 4 = C). Both are OR-ed
-- when rows of one (identifier, batch) merge, so loading a file again changes nothing.
CREATE TABLE IF NOT EXISTS {db}.leak_records
(
    identifier  String,
    batch_id    LowCardinality(String),
    info_mask   SimpleAggregateFunction(groupBitOr, UInt32),
    class_mask  SimpleAggregateFunction(groupBitOr, UInt8)
)
ENGINE = AggregatingMergeTree
ORDER BY (identifier, batch_id)
SETTINGS index_granularity = 256;

-- leak_loads: one row per file loaded into a batch, written when the file is completely in
-- leak_records (so a load that died half-way has no row and is simply run again). A batch may come
-- in several files, and the same file (same SHA-256) loaded twice replaces its own row.
CREATE TABLE IF NOT EXISTS {db}.leak_loads
(
    batch_id            String,
    file_sha256         String,
    file_name           String,
    file_bytes          UInt64,
    format              LowCardinality(String),
    rows                UInt64,
    records             UInt64,
    malformed_rows      UInt64,
    identifiers         UInt64,
    records_class_a     UInt64,
    records_class_b     UInt64,
    records_class_c     UInt64,
    info_type_records   Map(String, UInt64),
    loaded_at           DateTime64(3, '{tz}') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(loaded_at)
ORDER BY (batch_id, file_sha256);

-- leak_batches: one row per seized batch, rewritten from its loads after each load (and re-graded by
-- `fraudwatch leaks rescore`). Read with FINAL.
--   source_type  website_vulnerability, trojan_phishing_fake_base_station, insider, hacker, unknown
--   industry     bank, education, business_registration, telecom, express_delivery, securities,
--                ecommerce, other
--   records      records in the batch's files (valid rows)
--   records_class_a/b/c  records by the most sensitive information class each exposes
--   severity     1 = below "serious", 2 = serious, 3 = especially serious (情节严重 / 情节特别严重),
--                graded by fraudwatch.leaks.severity with the thresholds in severity_thresholds.
--                Readers that left-join batches see 0 for a batch with no row here.
--   info_type_records  records exposing each information type (phone, location, credit, ...)
CREATE TABLE IF NOT EXISTS {db}.leak_batches
(
    batch_id             String,
    source_type          LowCardinality(String),
    industry             LowCardinality(String),
    seized_at            DateTime64(3, '{tz}'),
    records              UInt64,
    severity             UInt8,
    severity_label       LowCardinality(String),
    severity_thresholds  String,
    records_class_a      UInt64,
    records_class_b      UInt64,
    records_class_c      UInt64,
    info_type_records    Map(String, UInt64),
    identifiers          UInt64,
    files                UInt32,
    malformed_rows       UInt64,
    updated_at           DateTime64(3, '{tz}') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY batch_id;

-- report_leak_links: one row per (batch, report) whose VICTIM (phone or ID-card hash) is in the
-- batch. "Leak-linked" means having a row here. The worker writes the links of the reports it
-- inserts (linked_by = 'stream'), `fraudwatch leaks rescore` those found later ('rescore'). The
-- report's category, loss and report time are copied in, so dashboards need no join with reports.
-- ReplacingMergeTree keyed (batch_id, report_id): a link written twice (a retried flush, two
-- rescores) counts once when read with FINAL or uniqExact(report_id).
--   identifiers  the report's identifiers found in the batch
--   info_mask    what the batch's records of those identifiers expose (INFO_TYPES bits)
CREATE TABLE IF NOT EXISTS {db}.report_leak_links
(
    report_id        String,
    batch_id         String,
    linked_at        DateTime64(3, '{tz}') DEFAULT now64(3),
    category         LowCardinality(String),
    amount_lost_fen  UInt64,
    reported_at      DateTime64(3, '{tz}'),
    identifiers      Array(String),
    info_mask        UInt32,
    linked_by        LowCardinality(String)
)
ENGINE = ReplacingMergeTree(linked_at)
PARTITION BY toYYYYMM(reported_at)
ORDER BY (batch_id, report_id);

-- scammer_leak_links: the same for the reports' SCAMMER contacts (phones, QQ, bank accounts) found in
-- a batch. Kept apart so that nothing reading report_leak_links mistakes a scammer's number in a
-- leak for a victim's.
CREATE TABLE IF NOT EXISTS {db}.scammer_leak_links
(
    report_id        String,
    batch_id         String,
    linked_at        DateTime64(3, '{tz}') DEFAULT now64(3),
    category         LowCardinality(String),
    amount_lost_fen  UInt64,
    reported_at      DateTime64(3, '{tz}'),
    identifiers      Array(String),
    info_mask        UInt32,
    linked_by        LowCardinality(String)
)
ENGINE = ReplacingMergeTree(linked_at)
PARTITION BY toYYYYMM(reported_at)
ORDER BY (batch_id, report_id);

-- Leak-linked share of reports and losses per category and day (the day in the configured zone, by
-- report time). Reads the links as they are now, rescored ones included, whereas reports.leak_linked
-- and the rollups keep what was known when each report was processed.
CREATE VIEW IF NOT EXISTS {db}.leak_share_daily AS
SELECT
    toDate(reported_at) AS day,
    category,
    count() AS reports,
    sum(amount_lost_fen) AS loss_fen,
    countIf(linked) AS linked_reports,
    sumIf(amount_lost_fen, linked) AS linked_loss_fen,
    round(linked_reports / reports, 4) AS linked_share,
    if(loss_fen = 0, NULL, round(linked_loss_fen / loss_fen, 4)) AS linked_loss_share
FROM
(
    SELECT reported_at, category, amount_lost_fen, report_id IN (SELECT report_id FROM {db}.report_leak_links) AS linked
    FROM {db}.reports
)
GROUP BY day, category;

-- Every victim link with its batch's seizure date: days_after_seizure < 0 is a report made before
-- the batch was seized (found by rescore), which is where a leak was already being used.
CREATE VIEW IF NOT EXISTS {db}.leak_link_delays AS
SELECT
    l.batch_id AS batch_id,
    l.report_id AS report_id,
    l.category AS category,
    l.amount_lost_fen AS amount_lost_fen,
    l.reported_at AS reported_at,
    b.seized_at AS seized_at,
    dateDiff('day', toDate(b.seized_at), toDate(l.reported_at)) AS days_after_seizure,
    l.linked_by AS linked_by
FROM {db}.report_leak_links AS l FINAL
INNER JOIN (SELECT batch_id, seized_at FROM {db}.leak_batches FINAL) AS b ON b.batch_id = l.batch_id;

-- One row per batch: its catalogue entry, the reports and losses linked to it (each report once),
-- and how long after the seizure the linked reports came in. Sort it for the top batches.
CREATE VIEW IF NOT EXISTS {db}.leak_batch_impact AS
SELECT
    b.batch_id AS batch_id,
    b.source_type AS source_type,
    b.industry AS industry,
    b.seized_at AS seized_at,
    b.records AS records,
    b.severity AS severity,
    b.severity_label AS severity_label,
    d.linked_reports AS linked_reports,
    d.linked_loss_fen AS linked_loss_fen,
    s.scammer_linked_reports AS scammer_linked_reports,
    if(d.linked_reports = 0, NULL, d.first_report_at) AS first_linked_report_at,
    if(d.linked_reports = 0, NULL, d.last_report_at) AS last_linked_report_at,
    d.reports_before_seizure AS reports_before_seizure,
    if(d.linked_reports = 0, NULL, d.min_days) AS min_days_after_seizure,
    if(d.linked_reports = 0, NULL, d.median_days) AS median_days_after_seizure,
    if(d.linked_reports = 0, NULL, d.max_days) AS max_days_after_seizure
FROM (SELECT * FROM {db}.leak_batches FINAL) AS b
LEFT JOIN
(
    SELECT
        batch_id,
        uniqExact(report_id) AS linked_reports,
        sum(amount_lost_fen) AS linked_loss_fen,
        min(reported_at) AS first_report_at,
        max(reported_at) AS last_report_at,
        countIf(days_after_seizure < 0) AS reports_before_seizure,
        min(days_after_seizure) AS min_days,
        quantileExact(0.5)(days_after_seizure) AS median_days,
        max(days_after_seizure) AS max_days
    FROM {db}.leak_link_delays
    GROUP BY batch_id
) AS d ON d.batch_id = b.batch_id
LEFT JOIN
(
    SELECT batch_id, uniqExact(report_id) AS scammer_linked_reports
    FROM {db}.scammer_leak_links FINAL
    GROUP BY batch_id
) AS s ON s.batch_id = b.batch_id;
