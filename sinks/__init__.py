"""ClickHouse side of the platform: schema migrations, the embedded engine, the batching writer."""
