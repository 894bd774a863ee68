"""Publication of the features to the online store (Feast)."""
