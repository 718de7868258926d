-- Run once by the ClickHouse image at first start: a read-only user for Grafana and analysts.
-- The writer user is the image's CLICKHOUSE_USER; passwords come from the environment (.env); change
-- this one at first start (ALTER USER fraudwatch_grafana IDENTIFIED BY '…'), see docs/operations.md.
-- The plugin sets max_execution_time on each query, which plain readonly = 1 would refuse.
CREATE SETTINGS PROFILE IF NOT EXISTS fraudwatch_grafana_profile
    SETTINGS readonly = 1,
             max_execution_time = 60 CHANGEABLE_IN_READONLY,
             max_memory_usage = 4000000000;
CREATE USER IF NOT EXISTS fraudwatch_grafana
    IDENTIFIED WITH sha256_password BY 'change-me-at-first-start'
    DEFAULT DATABASE fraudwatch
    SETTINGS PROFILE 'fraudwatch_grafana_profile';
CREATE DATABASE IF NOT EXISTS fraudwatch;
GRANT SELECT ON fraudwatch.* TO fraudwatch_grafana;
