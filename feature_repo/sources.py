"""Where the features come from: the silver Delta table offline, the stream's push online.

Offline, each model version is the slice of silver `pitch_features` it scored (final rows only, one per
pitch), read by Feast's Spark offline store - so point-in-time joins run on Spark, here and on a cluster.
Online, the stream pushes each micro-batch's latest row per pitcher (provisional ones included) through
the version's push source; the Dagster `online_features` asset repairs the store from the lakehouse.
"""

from feast import PushSource
from feast.infra.offline_stores.contrib.spark_offline_store.spark_source import SparkSource

from readiness_platform.settings import Tables


def pitch_features_source(version: str, tables: Tables) -> SparkSource:
    """Silver `pitch_features` as scored by `version`: the training and repair source."""
    return SparkSource(
        name=f"pitch_features_{version}",
        query=f"SELECT * FROM delta.`{tables.pitch_features}` WHERE model_version = '{version}'",
        timestamp_field="event_time",
        description=f"Final features and indices of every pitch, model {version} (silver pitch_features).",
        owner="data-platform@readiness",
    )


def readiness_push_source(version: str, tables: Tables) -> PushSource:
    """What the stream pushes after each micro-batch for `version`."""
    return PushSource(
        name=f"readiness_{version}_push",
        batch_source=pitch_features_source(version, tables),
        description=f"Each pitcher's latest row under model {version}, pushed by the readiness stream.",
    )
