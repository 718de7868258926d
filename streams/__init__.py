"""Stream processing: envelopes on the raw topic, the pure per-report functions, the Faust agents."""
