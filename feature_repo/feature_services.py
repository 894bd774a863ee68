"""What each model version reads: `readiness_v1`, `readiness_v2` and `readiness_v2n`."""

from feast import FeatureService, FeatureView

from feature_repo.feature_views import V2_ONLY


def readiness_services(views: dict[str, FeatureView]) -> list[FeatureService]:
    """One service per version, over that version's view (v1 without the inputs only v2 reads)."""
    v1 = views["v1"]
    return [
        FeatureService(name="readiness_v1", features=[v1[[f.name for f in v1.features if f.name not in V2_ONLY]]],
                       description="Readiness as model v1 sees it (tracking inputs at face value)."),
        FeatureService(name="readiness_v2", features=[views["v2"]],
                       description="Readiness as model v2 sees it (tracking inputs weighed by data confidence)."),
        FeatureService(name="readiness_v2n", features=[views["v2n"]],
                       description="Readiness as model v2n sees it: v2 judged against the pitcher's own norms."),
    ]
