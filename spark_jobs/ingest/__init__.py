"""Ingest stream: the tracking feed (landing folder or Kafka) -> bronze Delta tables, exactly once."""
