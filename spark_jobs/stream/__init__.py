"""The readiness stream: the tracking feed -> bronze, features and readiness in Delta, exactly once."""
