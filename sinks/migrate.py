"""Versioned schema migrations: ordered SQL files, recorded in a migrations table, applied once."""

from __future__ import annotations

import hashlib
import itertools
import logging
import re
from dataclasses import dataclass
from importlib import resources

from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError

from fraudwatch.errors import MigrationError

log = logging.getLogger(__name__)
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()[:16]

    def statements(self, database: str, timezone: str) -> list[str]:
        text = "\n".join(line for line in self.sql.splitlines() if not line.lstrip().startswith("--"))
        rendered = text.replace("{db}", database).replace("{tz}", timezone)
        return [part.strip() for part in rendered.split(";") if part.strip()]


def available() -> list[Migration]:
    found = []
    for entry in resources.files("sinks.migrations").iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), match.group(2), entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    for earlier, later in itertools.pairwise(found):
        if earlier.version == later.version:
            raise MigrationError(
                f"two migrations share version {later.version:04d}: {earlier.name} and {later.name}; renumber one"
            )
    return found


def applied(client: Client, database: str) -> dict[int, str]:
    rows = client.query(f"SELECT version, checksum FROM {database}.schema_migrations").result_rows
    return {int(version): str(checksum) for version, checksum in rows}


def migrate(client: Client, database: str, timezone: str) -> list[Migration]:
    """Apply every migration not yet recorded; returns those applied now (empty = already current)."""
    client.command(f"CREATE DATABASE IF NOT EXISTS {database}")
    client.command(
        f"CREATE TABLE IF NOT EXISTS {database}.schema_migrations "
        "(version UInt32, name String, checksum String, applied_at DateTime64(3, 'UTC') DEFAULT now64(3)) "
        "ENGINE = MergeTree ORDER BY version"
    )
    done = applied(client, database)
    newly: list[Migration] = []
    for migration in available():
        if migration.version in done:
            if done[migration.version] != migration.checksum:
                log.warning(
                    "applied migration differs from the file; leaving the schema as it is",
                    extra={"version": migration.version, "migration": migration.name},
                )
            continue
        for statement in migration.statements(database, timezone):
            try:
                client.command(statement)
            except ClickHouseError as exc:
                raise MigrationError(
                    f"migration {migration.version:04d}_{migration.name} failed; "
                    f"later migrations were not applied: {exc}"
                ) from exc
        client.insert(
            f"{database}.schema_migrations",
            [[migration.version, migration.name, migration.checksum]],
            column_names=["version", "name", "checksum"],
        )
        log.info("applied migration", extra={"version": migration.version, "migration": migration.name})
        newly.append(migration)
    return newly
