"""fraudwatch: streaming anti-fraud report aggregation platform."""

__version__ = "0.1.0"
