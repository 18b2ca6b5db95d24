"""Sessions from an app or a QR code: start one for a token on a station or
EVSE, follow it, stop it; and the QR code a charger carries."""

from __future__ import annotations

import io
from typing import Annotated, Literal

import segno
from fastapi import APIRouter, HTTPException, Query, Response, status
from fastapi.exceptions import RequestValidationError

from volta.api.models import (
    CommandOut,
    Id,
    Offset,
    RemoteStartCreate,
    RemoteStartOut,
    TransactionOut,
)
from volta.blocks.authorization.models import Limits
from volta.blocks.provisioning import service as provisioning
from volta.blocks.remote_control import sessions
from volta.blocks.smart_charging.validation import ProfileInvalid, parse_profile
from volta.blocks.transactions import service as tx_service
from volta.blocks.transactions import v21 as tx_v21
from volta.http import ServicesDep
from volta.services import Services

router = APIRouter(tags=["sessions"])


@router.post("/remote-starts", response_model=RemoteStartOut, status_code=201)
async def start_session(body: RemoteStartCreate, services: ServicesDep) -> RemoteStartOut:
    """Ask the station to start charging for `id_token` (1.6
    RemoteStartTransaction, 2.0.1 RequestStartTransaction with this record's
    id as remoteStartId). `status` is the station's answer; it becomes
    `Started` with `transaction_id` once the session begins. 409 when the
    station is offline or the token may not start (Blocked, Expired,
    Unknown, ConcurrentTx, EVSE reserved for another driver). A
    `charging_profile` (a TxProfile) goes with the request; once the station
    accepts, it shows among the station's charging profiles; 422 when it
    breaks a rule (docs/smart-charging.md)."""
    profile = None
    try:
        if body.charging_profile is not None:
            profile = parse_profile(services.schemas, body.evse_id or 0, body.charging_profile)
        found = await sessions.start_session(
            services,
            sessions.StartRequest(
                station_id=body.station_id,
                id_token=body.id_token,
                evse_id=body.evse_id,
                id_token_type=body.id_token_type,
                limits=body.limits.columns() if body.limits else None,
                charging_profile=profile,
            ),
        )
    except ProfileInvalid as exc:
        raise RequestValidationError(
            [
                {"loc": ("body", "charging_profile"), "msg": m, "type": "value_error"}
                for m in exc.problems
            ]
        ) from None
    except sessions.SessionRefused as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    return RemoteStartOut(**found)


@router.get("/remote-starts", response_model=list[RemoteStartOut])
async def list_remote_starts(
    services: ServicesDep,
    station_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> list[RemoteStartOut]:
    rows = await sessions.list_remote_starts(
        services.db, station_id=station_id, limit=limit, offset=offset
    )
    return [RemoteStartOut(**r) for r in rows]


@router.get("/remote-starts/{remote_start_id}", response_model=RemoteStartOut)
async def get_remote_start(remote_start_id: Id, services: ServicesDep) -> RemoteStartOut:
    """What became of a start request: the app polls this for its session."""
    found = await sessions.get_remote_start(services.db, remote_start_id)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"remote start {remote_start_id} not found")
    return RemoteStartOut(**found)


@router.post("/transactions/{transaction_id}/stop", response_model=CommandOut)
async def stop_session(transaction_id: Id, services: ServicesDep) -> CommandOut:
    """Ask the station to stop the session (RemoteStopTransaction /
    RequestStopTransaction); the command carries the station's answer."""
    try:
        command = await sessions.stop_session(services, transaction_id)
    except LookupError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    except sessions.SessionRefused as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    return CommandOut(**command)


@router.put("/transactions/{transaction_id}/limits", response_model=TransactionOut)
async def set_limits(transaction_id: Id, body: Limits, services: ServicesDep) -> TransactionOut:
    """Set an active session's limits (absent ones are cleared). Volta stops
    the session when one is reached; 409 when it has ended. A 2.1 station
    is given the new limit at once (it asks the station for a
    TransactionEvent and answers it with `transactionLimit`, E16) and then
    enforces it itself: `station_limit` shows what it reports holding."""
    try:
        await sessions.set_limits(services.db, transaction_id, body.columns())
    except LookupError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    except sessions.SessionRefused as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    tx_v21.limits_changed(services, transaction_id)
    found = await tx_service.get_transaction(services.db, transaction_id)
    assert found is not None
    found.pop("meter_values", None)
    return TransactionOut(**found)


def start_url(services: Services, station_id: str, evse_id: int) -> str:
    base = services.settings.public_url.rstrip("/")
    if not base:
        host = services.settings.host
        host = "localhost" if host in ("0.0.0.0", "::", "") else host
        base = f"http://{host}:{services.settings.api_port}"
    return f"{base}/start/{station_id}/{evse_id}"


@router.get(
    "/stations/{station_id}/evses/{evse_id}/qr",
    responses={
        200: {
            "content": {"image/svg+xml": {}, "image/png": {}},
            "description": "a QR code of the EVSE's start URL",
        }
    },
    response_class=Response,
)
async def evse_qr_code(
    station_id: str,
    evse_id: Id,
    services: ServicesDep,
    format: Literal["svg", "png"] = "svg",
    scale: Annotated[int, Query(ge=1, le=40)] = 8,
) -> Response:
    """A printable QR code for the EVSE (1.6: the connector). It encodes
    `<public_url>/start/<station>/<evse>`, which the operator's driver app
    or web page resolves into POST /api/v1/remote-starts. The URL is also in
    the `X-Start-Url` header."""
    if evse_id < 1:
        raise HTTPException(422, "evse_id must be 1 or more")
    if await provisioning.find_station(services.db, station_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"station {station_id} not found")
    url = start_url(services, station_id, evse_id)
    qr = segno.make(url, error="m")
    buf = io.BytesIO()
    if format == "png":
        qr.save(buf, kind="png", scale=scale, border=4)
        media = "image/png"
    else:
        qr.save(buf, kind="svg", scale=scale, border=4, title=f"{station_id} EVSE {evse_id}")
        media = "image/svg+xml"
    return Response(buf.getvalue(), media_type=media, headers={"X-Start-Url": url})
