"""The repository's objects for the Feast CLI, rooted where the platform's settings say.

The CLI collects module-level objects, so this module builds them at import from `get_settings()`
(READINESS_HOME / READINESS_LAKEHOUSE_URI); the platform itself calls `feature_repo.repo_objects(tables)`.
"""

from feature_repo import repo_objects
from readiness_platform.settings import get_settings

_objects = {o.name: o for o in repo_objects(get_settings().tables)}
pitcher = _objects["pitcher"]
pitcher_readiness_v1 = _objects["pitcher_readiness_v1"]
pitcher_readiness_v2 = _objects["pitcher_readiness_v2"]
readiness_v1 = _objects["readiness_v1"]
readiness_v2 = _objects["readiness_v2"]
