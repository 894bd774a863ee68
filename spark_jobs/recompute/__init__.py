"""Batch recompute of features and scores from bronze, with the stream's own domain functions."""
