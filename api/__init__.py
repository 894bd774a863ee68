"""The read API of pitcher readiness: FastAPI app, its security layer (keys, audit, rate limit) and key CLI."""
