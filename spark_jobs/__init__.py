"""Spark Structured Streaming and batch jobs: argparse + SparkSession + wiring in main.py, writers in sinks.py."""
