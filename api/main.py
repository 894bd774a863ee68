"""The read service: `create_app(settings)` builds the FastAPI app; its lifespan starts the services.

Run it with `readiness api` (uvicorn on API_HOST:API_PORT). Every request is audited (key, route,
pitcher, outcome; never a secret or a value) and counted in /metrics.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import redis
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse

from api.audit import AuditUnavailable
from api.keys import KeyStoreUnavailable, NotPermitted
from api.ratelimit import RateLimiterUnavailable
from api.routes import calibration, health, live, pitchers
from api.services import Services
from readiness_platform.settings import Settings, get_settings
from readiness_platform.transforms.memory import tune_gc

STATIC = Path(__file__).parent / "static"
OUTCOME_OF_STATUS = {200: "ok", 202: "ok", 401: "invalid_key", 403: "denied", 404: "not_found", 422: "bad_request",
                     400: "bad_request", 429: "rate_limited", 503: "unavailable"}
UNAUDITED = {"/healthz", "/readyz", "/metrics", "/", "/openapi.json", "/docs"}


class AuditAndMetrics:
    """Pure ASGI middleware (no per-request task, unlike BaseHTTPMiddleware): audit row and metrics."""

    def __init__(self, app) -> None:  # noqa: ANN001
        self.app = app

    async def __call__(self, scope, receive, send) -> None:  # noqa: ANN001
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started, status = time.perf_counter(), [500]

        async def capture(message) -> None:  # noqa: ANN001
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send=capture)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            services: Services | None = getattr(scope["app"].state, "services", None)
            if services is not None:
                services.metrics.requests.labels(route, str(status[0])).inc()
                services.metrics.latency.labels(route).observe(time.perf_counter() - started)
                if route not in UNAUDITED:
                    key_id, outcome = scope.get("state", {}).get("audit") or (None, None)  # set by api.deps
                    pitcher = str(scope.get("path_params", {}).get("pitcher_id", ""))
                    services.audit.record(key_id, route, int(pitcher) if pitcher.isdigit() else None,
                                          outcome or OUTCOME_OF_STATUS.get(status[0], "bad_request"), status[0])


def _unavailable(what: str) -> JSONResponse:
    return JSONResponse({"detail": f"{what} is unavailable; retry shortly"}, status_code=503,
                        headers={"Retry-After": "5"})


def create_app(settings: Settings | None = None, services: Services | None = None) -> FastAPI:
    """The API bound to `settings` (default: the environment); `services` lets tests bring their own."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.services = services or Services.start(settings)
        tune_gc()  # a long-lived process: its imports are frozen out of the collections (a pause delays pushes)
        app.state.broadcaster = live.Broadcaster(app.state.services)
        app.state.broadcaster.start()
        try:
            yield
        finally:
            await app.state.broadcaster.stop()
            if services is None:
                app.state.services.close()

    app = FastAPI(title="Pitcher readiness API", version="1.0",
                  description="Readiness, fatigue and risk of pitchers, live, for keys granted those pitchers.",
                  lifespan=lifespan)
    for router in (pitchers.router, calibration.router, health.router, live.router):
        app.include_router(router)
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=[o.strip() for o in settings.cors_origins.split(",")],
                           allow_methods=["GET", "POST"], allow_headers=["X-API-Key", "Content-Type"])
    app.add_middleware(AuditAndMetrics)

    @app.exception_handler(redis.RedisError)
    async def redis_down(request: Request, exc: redis.RedisError) -> JSONResponse:
        return _unavailable("the online store (Redis)")

    @app.exception_handler(KeyStoreUnavailable)
    @app.exception_handler(AuditUnavailable)
    async def postgres_down(request: Request, exc: Exception) -> JSONResponse:
        return _unavailable("the key store or audit log (PostgreSQL)")

    @app.exception_handler(RateLimiterUnavailable)
    async def limiter_down(request: Request, exc: Exception) -> JSONResponse:
        return _unavailable("the rate limiter (Redis)")

    @app.exception_handler(NotPermitted)
    async def not_permitted(request: Request, exc: NotPermitted) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=403)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        return JSONResponse({"detail": f"invalid request: {problems}"}, status_code=422)

    @app.get("/", include_in_schema=False)
    def dashboard() -> FileResponse:
        return FileResponse(STATIC / "dashboard.html")

    return app


def main() -> None:
    import uvicorn

    settings = get_settings()
    uvicorn.run(create_app(settings), host=settings.api_host, port=settings.api_port, log_level="warning",
                access_log=False)  # the audit log is the access log, without anything secret
