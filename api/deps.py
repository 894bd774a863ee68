"""Dependencies of the routes: the services, and the caller's key - checked, rate-limited, audited."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import APIKeyHeader

from api.keys import AuthError, KeyStoreUnavailable, Principal, key_id_of
from api.services import Services

api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="The key issued by `readiness keys issue`.")


class MissingKey(AuthError):
    outcome = "invalid_key"

    def __init__(self) -> None:
        super().__init__("missing API key: send it in the X-API-Key header (an admin issues keys with "
                         "`readiness keys issue`)")


def get_services(request: Request) -> Services:
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]


def authenticate(services: Services, token: str | None) -> Principal:
    """The key's principal, or the AuthError saying why not (also used by the WebSocket)."""
    if not token:
        raise MissingKey()
    return services.keys.authenticate(token)


def principal(request: Request, services: ServicesDep, token: Annotated[str | None, Security(api_key)]) -> Principal:
    """The caller, after its key and its rate limit are checked (401 / 429)."""
    try:
        who = authenticate(services, token)
    except KeyStoreUnavailable:
        raise
    except AuthError as e:
        request.state.audit = (key_id_of(token or ""), e.outcome)
        raise HTTPException(401, str(e), headers={"WWW-Authenticate": "ApiKey"}) from e
    request.state.audit = (who.key_id, None)
    decision = services.limiter.check(who.key_id)
    if not decision.allowed:
        request.state.audit = (who.key_id, "rate_limited")
        raise HTTPException(429, f"rate limit of {services.settings.rate_limit_per_second} requests/s exceeded",
                            headers={"Retry-After": str(decision.retry_after_s)})
    return who


PrincipalDep = Annotated[Principal, Depends(principal)]
