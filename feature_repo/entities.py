"""The one entity the features describe."""

from feast import Entity, ValueType

pitcher = Entity(
    name="pitcher",
    join_keys=["pitcher_id"],
    value_type=ValueType.INT64,
    description="A pitcher, by MLBAM id (Statcast `pitcher`).",
)
