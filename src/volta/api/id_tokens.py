"""Id tokens (RFID cards, key fobs, app accounts)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Response, status
from sqlalchemy.exc import IntegrityError

from volta.api.models import IdTokenOut, Offset
from volta.blocks.authorization import service
from volta.blocks.authorization.models import IdTokenCreate, IdTokenUpdate
from volta.blocks.local_list import service as local_lists
from volta.http import ServicesDep

router = APIRouter(tags=["id-tokens"])


@router.get("/id-tokens", response_model=list[IdTokenOut])
async def list_tokens(
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> list[IdTokenOut]:
    return [
        IdTokenOut(**t) for t in await service.list_tokens(services.db, limit=limit, offset=offset)
    ]


@router.post("/id-tokens", response_model=IdTokenOut, status_code=201)
async def add_token(body: IdTokenCreate, services: ServicesDep) -> IdTokenOut:
    try:
        await service.add_token(
            services.db,
            body.token,
            status=body.status,
            token_type=body.type,
            expires_at=body.expires_at,
            group_id=body.group_id,
            language1=body.language1,
            language2=body.language2,
            note=body.note,
            limits=body.limits.columns() if body.limits else None,
        )
    except IntegrityError:
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"id token {body.token} already exists"
        ) from None
    return await get_token(body.token, services)


@router.get("/id-tokens/{token}", response_model=IdTokenOut)
async def get_token(token: str, services: ServicesDep) -> IdTokenOut:
    row = await service.get_token(services.db, token)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"id token {token} not found")
    return IdTokenOut(**row)


@router.patch("/id-tokens/{token}", response_model=IdTokenOut)
async def update_token(token: str, body: IdTokenUpdate, services: ServicesDep) -> IdTokenOut:
    values = body.model_dump(exclude_unset=True, exclude={"limits"})
    if "limits" in body.model_fields_set:
        limits = body.limits.columns() if body.limits else {}
        values.update(
            {c: limits.get(c) for c in ("limit_energy_wh", "limit_seconds", "limit_cost")}
        )
    if not await service.update_token(services.db, token, **values):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"id token {token} not found")
    # Stations whose local list holds the token get the change now if online.
    services.spawn(local_lists.sync_everywhere(services), name="local-lists-after-token-change")
    return await get_token(token, services)


@router.delete("/id-tokens/{token}", status_code=204)
async def remove_token(token: str, services: ServicesDep) -> Response:
    if not await service.remove_token(services.db, token):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"id token {token} not found")
    services.spawn(local_lists.sync_everywhere(services), name="local-lists-after-token-removal")
    return Response(status_code=204)
