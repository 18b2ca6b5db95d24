"""Local authorization lists: which tokens a station can check offline."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, status

from volta.api.models import LocalListChange, LocalListOut, LocalListSet, LocalListVersionOut
from volta.blocks.local_list import service
from volta.blocks.provisioning import service as provisioning
from volta.http import ServicesDep
from volta.services import Services

router = APIRouter(tags=["local-lists"])


async def _station(services: Services, station_id: str) -> None:
    if await provisioning.find_station(services.db, station_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"station {station_id} not found")


async def _answer(services: Services, station_id: str, sent: dict[str, Any]) -> LocalListOut:
    found = await service.get_list(services.db, station_id)
    assert found is not None
    extra = {k: sent[k] for k in ("sent", "update_type", "command") if k in sent}
    return LocalListOut(**found, **extra)


@router.get("/stations/{station_id}/local-list", response_model=LocalListOut)
async def get_local_list(station_id: str, services: ServicesDep) -> LocalListOut:
    """The list Volta keeps for the station: its version and each entry,
    with `pending` for what the station does not hold yet."""
    await _station(services, station_id)
    found = await service.get_list(services.db, station_id)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"station {station_id} has no local list")
    return LocalListOut(**found)


@router.put("/stations/{station_id}/local-list", response_model=LocalListOut)
async def set_local_list(
    station_id: str, body: LocalListSet, services: ServicesDep
) -> LocalListOut:
    """Replace the whole list and send it as a Full update (now if the
    station is online, else when it is back). 422 for unknown tokens."""
    await _station(services, station_id)
    try:
        sent = await service.change_and_sync(
            services, station_id, service.set_members(services.db, station_id, body.tokens)
        )
    except service.UnknownTokens as exc:
        raise HTTPException(422, str(exc)) from None
    return await _answer(services, station_id, sent)


@router.patch("/stations/{station_id}/local-list", response_model=LocalListOut)
async def change_local_list(
    station_id: str, body: LocalListChange, services: ServicesDep
) -> LocalListOut:
    """Add and remove tokens with a Differential update."""
    await _station(services, station_id)
    try:
        sent = await service.change_and_sync(
            services,
            station_id,
            service.change_members(services.db, station_id, add=body.add, remove=body.remove),
        )
    except service.UnknownTokens as exc:
        raise HTTPException(422, str(exc)) from None
    return await _answer(services, station_id, sent)


@router.delete("/stations/{station_id}/local-list", response_model=LocalListOut)
async def clear_local_list(station_id: str, services: ServicesDep) -> LocalListOut:
    """Empty the station's list (a Full update without entries)."""
    await _station(services, station_id)
    return await _answer(services, station_id, await service.clear(services, station_id))


@router.post("/stations/{station_id}/local-list/sync", response_model=LocalListOut)
async def sync_local_list(
    station_id: str, services: ServicesDep, full: bool = False
) -> LocalListOut:
    """Send what is pending now (`full=true`: the whole list)."""
    await _station(services, station_id)
    if await service.get_list(services.db, station_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"station {station_id} has no local list")
    return await _answer(
        services, station_id, await service.sync(services, station_id, force_full=full)
    )


@router.post("/stations/{station_id}/local-list/version", response_model=LocalListVersionOut)
async def local_list_version(station_id: str, services: ServicesDep) -> LocalListVersionOut:
    """Ask the station which list version it holds (GetLocalListVersion). A
    version that differs from Volta's record makes the next update Full."""
    await _station(services, station_id)
    return LocalListVersionOut(**await service.query_version(services, station_id))
