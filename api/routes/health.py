"""Liveness, readiness of the dependencies, and Prometheus metrics."""

from __future__ import annotations

import psycopg
import redis
from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.deps import ServicesDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(services: ServicesDep) -> JSONResponse:
    """Redis and PostgreSQL answer: 200, or 503 naming what is down."""
    down = []
    try:
        services.redis.ping()
    except redis.RedisError as e:
        down.append(f"redis: {type(e).__name__}")
    try:
        with psycopg.connect(services.settings.database_url, connect_timeout=2) as conn:
            conn.execute("select 1")
    except psycopg.Error as e:
        down.append(f"postgres: {type(e).__name__}")
    if down:
        return JSONResponse({"status": "unavailable", "down": down}, status_code=503, headers={"Retry-After": "5"})
    served = services.versions.champion.get()
    return JSONResponse({"status": "ready", "model_version": services.versions.get(),
                         "champion": f"{served.name} version {served.version} ({served.scoring_version})" if served
                         else None, "model_registry_error": services.versions.champion.error})


@router.get("/metrics")
def metrics(services: ServicesDep) -> Response:
    """Prometheus metrics of this process."""
    return Response(generate_latest(services.metrics.registry), media_type=CONTENT_TYPE_LATEST)
