-- Run once by the ClickHouse image at first start: a read-only user for Grafana and analysts.
-- The writer user is the image's CLICKHOUSE_USER; passwords come from the environment (.env).
CREATE USER IF NOT EXISTS fraudwatch_grafana IDENTIFIED WITH sha256_password BY 'change-me-at-first-start'
    SETTINGS readonly = 1;
CREATE DATABASE IF NOT EXISTS fraudwatch;
GRANT SELECT ON fraudwatch.* TO fraudwatch_grafana;
