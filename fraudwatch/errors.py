"""Typed error hierarchy: every failure the platform reports to a user is one of these."""

from __future__ import annotations


class FraudwatchError(Exception):
    """Base class; the message says what is wrong and what to do about it."""


class ConfigurationError(FraudwatchError):
    """A setting is missing or inconsistent."""


class BrokerError(FraudwatchError):
    """The Kafka broker could not be started, reached or used."""


class StorageError(FraudwatchError):
    """ClickHouse could not be reached, or rejected a statement."""


class MigrationError(StorageError):
    """A schema migration failed; later migrations were not applied."""


class InvalidEnvelopeError(FraudwatchError):
    """A message on the raw topic is not a well-formed report envelope."""
