"""The Feast feature repository: the readiness features online (Redis or SQLite) and offline (Delta)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from readiness_platform.settings import Tables


def repo_objects(tables: Tables) -> list:
    """Entity, views and services of the repository over the lakehouse at `tables`."""
    from feature_repo.entities import pitcher
    from feature_repo.feature_services import readiness_services
    from feature_repo.feature_views import readiness_view
    from readiness_platform.domain.scores import MODEL_VERSIONS

    views = {v: readiness_view(v, tables) for v in MODEL_VERSIONS}
    return [pitcher, *views.values(), *readiness_services(views)]
