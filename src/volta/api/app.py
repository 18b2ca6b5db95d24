"""The FastAPI application of the HTTP API: bearer-token auth, health, metrics
and the routers. `volta.app` adds the dashboard to it."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import time
from typing import Annotated

import orjson
import sqlalchemy as sa
from fastapi import Depends, FastAPI, HTTPException, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from volta import __version__, metrics
from volta.api import (
    availability,
    battery_swaps,
    certificates,
    charger_profiles,
    charging_profiles,
    customer_information,
    der,
    device_model,
    diagnostics,
    display_messages,
    event_streams,
    events,
    files,
    firmware,
    id_tokens,
    local_lists,
    monitoring,
    nodes,
    payments,
    plug_and_charge,
    priority_charging,
    reservations,
    security,
    sessions,
    sites,
    stations,
    tariffs,
    transactions,
    v2x,  # OCPP 2.1 V2X
)
from volta.api.edge import API_PREFIX, AUTHENTICATED, Edge
from volta.api.models import ERROR_RESPONSES
from volta.http import ServicesDep, control_character_paths, get_services
from volta.security import hash_api_token
from volta.services import Services
from volta.store.db import CommitFailed, unavailable
from volta.store.models import ApiToken

log = logging.getLogger(__name__)

# /healthz tries a write itself when writes failed and none ran for this long.
HEALTH_PROBE_AFTER = 5.0
HEALTH_PROBE_TIMEOUT = 5.0

bearer = HTTPBearer(
    auto_error=False, description="VOLTA_API_TOKEN or a token from `volta api-token`"
)


async def token_problem(services: Services, authorization: str | None) -> str | None:
    """Why an Authorization header is refused, or None when its bearer token
    is the configured one or a stored one."""
    scheme, _, token = (authorization or "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return "missing bearer token"
    configured = services.settings.api_token
    if configured and hmac.compare_digest(token.encode(), configured.encode()):
        return None
    async with services.db.read() as conn:
        found = (
            await conn.execute(
                sa.select(ApiToken.id).where(ApiToken.token_hash == hash_api_token(token))
            )
        ).first()
    return None if found is not None else "invalid bearer token"


async def require_token(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> None:
    """The edge (`volta.api.edge`) checks the token before the body is read;
    this dependency puts the scheme in the OpenAPI description and checks
    again when the app runs without the edge."""
    if request.scope.get(AUTHENTICATED):
        return
    problem = await token_problem(get_services(request), request.headers.get("authorization"))
    if problem is not None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, problem, headers={"WWW-Authenticate": "Bearer"}
        )


async def reject_control_characters(request: Request) -> None:
    """422 for a JSON body whose strings hold a control character other than
    tab, line feed and carriage return (NUL made PostgreSQL answer 500)."""
    body = await request.body()
    if not body:
        return
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return  # not JSON: the route's own parsing answers
    found = control_character_paths(document)
    if found:
        raise RequestValidationError(
            [
                {
                    "loc": ("body", *loc),
                    "msg": "control characters are not allowed",
                    "type": "value_error",
                }
                for loc in found
            ]
        )


def create_api(services: Services) -> FastAPI:
    """The HTTP API under /api/v1 (bearer token), /healthz and /metrics."""
    app = FastAPI(
        title="Volta",
        version=__version__,
        description="HTTP API of Volta, an OCPP 1.6J / 2.0.1 charging station management system.",
        docs_url=None,  # /docs and /redoc: web/api_docs.py, from local assets
        redoc_url=None,
    )
    app.state.services = services

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", "")} for e in exc.errors()]
        message = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors)
        return JSONResponse({"detail": message, "errors": errors}, status_code=422)

    @app.exception_handler(CommitFailed)
    @app.exception_handler(sa.exc.DBAPIError)
    async def _database_error(request: Request, exc: Exception) -> JSONResponse:
        # Disk full, read-only, unreachable: 503 in the documented shape, so a
        # client retries later; the driver's message (it may quote the
        # statement's parameters) is neither answered nor logged.
        if unavailable(exc):
            return JSONResponse(
                {"detail": "the database cannot be written now; try again later"},
                status_code=503,
                headers={"Retry-After": "5"},
            )
        log.error("database error in %s %s (%s)", request.method, request.url.path, type(exc))
        return JSONResponse({"detail": "internal server error"}, status_code=500)

    @app.get("/healthz", tags=["system"])
    async def healthz(services: ServicesDep) -> JSONResponse:
        """Liveness, and whether the database can be read and written (no
        token needed): 503 while writes fail (the last write failed and none
        succeeded since; when idle that long, a tiny write tries again) or
        when the database file was deleted under the running server."""
        db = services.db
        health = db.health
        db.check_file()
        idle = time.monotonic() - health.last_outcome > HEALTH_PROBE_AFTER
        if health.failing_since is not None and health.lost is None and idle:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(db.probe(), HEALTH_PROBE_TIMEOUT)
        body: dict[str, object] = {"status": "ok", "database": "ok"}
        if health.lost is not None:
            body = {"status": "failing", "database": "missing", "error": "DatabaseFileMissing"}
        elif health.failing:
            body = {"status": "failing", "database": "failing", "error": health.error}
        elif not await db.ping():
            body = {"status": "degraded", "database": "unreachable"}
        body["stations_connected"] = len(services.router.online())
        return JSONResponse(body, status_code=200 if body["database"] == "ok" else 503)

    @app.get("/metrics", tags=["system"], response_class=PlainTextResponse)
    async def prometheus_metrics() -> PlainTextResponse:
        """Prometheus metrics (no token needed; bind the API port privately)."""
        return PlainTextResponse(generate_latest(metrics.REGISTRY), media_type=CONTENT_TYPE_LATEST)

    auth = [Depends(require_token), Depends(reject_control_characters)]
    adapters = (
        stations,
        id_tokens,
        transactions,
        sessions,
        reservations,
        local_lists,
        events,
        tariffs,
        charging_profiles,
        sites,
        nodes,
        security,
        certificates,
        plug_and_charge,
        # Device management (issue 15)
        files,
        firmware,
        diagnostics,
        device_model,
        monitoring,
        display_messages,
        customer_information,
        charger_profiles,
        availability,
        # OCPP 2.1 (issue 16)
        payments,
        priority_charging,
        battery_swaps,
        event_streams,
        v2x,
        der,
    )
    for adapter in adapters:
        app.include_router(
            adapter.router, prefix="/api/v1", dependencies=auth, responses=ERROR_RESPONSES
        )

    # Stations' downloads and uploads: no token, an expiring link instead.
    app.include_router(files.transfers)

    async def check_token(authorization: str | None) -> str | None:
        return await token_problem(services, authorization)

    app.add_middleware(
        Edge,
        max_body_bytes=services.settings.max_body_bytes,
        check_token=check_token,
        # Firmware uploads (API, dashboard) and stations' uploads: their own bound.
        upload_bytes=services.settings.files_max_upload_bytes,
        upload_paths=frozenset({API_PREFIX + files.UPLOAD_PATH, files.UPLOAD_PATH}),
    )
    return app
