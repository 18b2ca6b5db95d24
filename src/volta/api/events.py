"""Events: the log, a live stream (Server-Sent Events) and webhooks."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Annotated

import orjson
from fastapi import APIRouter, Header, HTTPException, Query, Request, Response, status
from fastapi.responses import StreamingResponse

from volta.api.models import (
    INT64_MAX,
    DeliveryOut,
    EventId,
    EventOut,
    Id,
    Offset,
    WebhookCreate,
    WebhookCreated,
    WebhookOut,
    WebhookUpdate,
)
from volta.events import service as events
from volta.events import webhooks
from volta.events.service import EventType
from volta.http import ServicesDep
from volta.services import Services

router = APIRouter(tags=["events"])

# How often the stream looks for new events, and sends a keep-alive comment.
POLL_SECONDS = 0.25
KEEPALIVE_SECONDS = 15.0
# How long a gap in the event ids is asked for again, and how many at most.
HOLE_SECONDS = 5.0
MAX_HOLES = 200


@router.get("/events", response_model=list[EventOut])
async def list_events(
    services: ServicesDep,
    after: EventId = 0,
    type_: Annotated[list[EventType] | None, Query(alias="type")] = None,
    station_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[EventOut]:
    """Events oldest first; page with `after` = the last id you saw."""
    rows = await events.list_events(
        services.db, after=after, types=list(type_ or []), station_id=station_id, limit=limit
    )
    return [EventOut(**r) for r in rows]


@router.get(
    "/events/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def stream_events(
    request: Request,
    services: ServicesDep,
    type_: Annotated[list[EventType] | None, Query(alias="type")] = None,
    station_id: str | None = None,
    after: Annotated[
        int | None, Query(ge=0, le=INT64_MAX, description="replay from after this id")
    ] = None,
    last_event_id: Annotated[str | None, Header()] = None,
) -> StreamingResponse:
    """Server-Sent Events: each event as `id`, `event` (its type) and `data`
    (JSON). A client that reconnects with `Last-Event-ID` (browsers do it
    themselves) gets what it missed; without it the stream starts now."""
    if last_event_id is not None and last_event_id.isdigit() and int(last_event_id) <= INT64_MAX:
        start = int(last_event_id)
    elif after is not None:
        start = after
    else:
        start = await events.last_event_id(services.db)
    return StreamingResponse(
        _stream(request, services, start, list(type_ or []), station_id),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _stream(
    request: Request,
    services: Services,
    start: int,
    types: list[str] | None,
    station_id: str | None,
) -> AsyncIterator[bytes]:
    cursor = start
    idle = 0.0
    # Ids below the cursor not seen yet: on PostgreSQL an event's id is taken
    # when it is written and becomes visible when its transaction commits, so
    # with several writers (group-commit lanes, other nodes) id 100 may
    # commit after id 101. Such gaps are asked for again for HOLE_SECONDS
    # (a rolled-back transaction leaves a gap for ever).
    holes: dict[int, float] = {}
    yield b"retry: 2000\n\n"
    while not await request.is_disconnected():
        now = time.monotonic()
        for hole in [h for h, since in holes.items() if now - since > HOLE_SECONDS]:
            del holes[hole]
        rows = await events.list_events(
            services.db,
            after=cursor,
            types=types,
            station_id=station_id,
            limit=500,
            also=list(holes)[:MAX_HOLES],
        )
        fresh = False
        for row in rows:
            event_id = row["id"]
            if event_id in holes:
                del holes[event_id]
            elif event_id > cursor:
                holes.update(
                    (missing, now)
                    for missing in range(cursor + 1, min(event_id, cursor + 1 + MAX_HOLES))
                )
                cursor = event_id
                fresh = True
            else:
                continue
            data = orjson.dumps(row).decode()
            yield f"id: {row['id']}\nevent: {row['type']}\ndata: {data}\n\n".encode()
        if fresh:
            idle = 0.0
            continue
        await asyncio.sleep(POLL_SECONDS)
        idle += POLL_SECONDS
        if idle >= KEEPALIVE_SECONDS:
            idle = 0.0
            yield b": keep-alive\n\n"


@router.post("/webhooks", response_model=WebhookCreated, status_code=201)
async def create_webhook(body: WebhookCreate, services: ServicesDep) -> WebhookCreated:
    """Subscribe an HTTPS endpoint. The answer holds the signing secret, the
    only time it is shown."""
    try:
        created = await webhooks.create(
            services.db,
            body.url,
            list(body.event_types),
            body.description,
            settings=services.settings,
        )
    except webhooks.BadWebhook as exc:
        raise HTTPException(422, str(exc)) from None
    return WebhookCreated(**created)


@router.get("/webhooks", response_model=list[WebhookOut])
async def list_webhooks(services: ServicesDep) -> list[WebhookOut]:
    return [WebhookOut(**w) for w in await webhooks.list_webhooks(services.db)]


@router.get("/webhooks/{webhook_id}", response_model=WebhookOut)
async def get_webhook(webhook_id: Id, services: ServicesDep) -> WebhookOut:
    found = await webhooks.get(services.db, webhook_id)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"webhook {webhook_id} not found")
    return WebhookOut(**found)


@router.patch("/webhooks/{webhook_id}", response_model=WebhookOut)
async def update_webhook(webhook_id: Id, body: WebhookUpdate, services: ServicesDep) -> WebhookOut:
    try:
        found = await webhooks.update(
            services.db,
            webhook_id,
            settings=services.settings,
            **body.model_dump(exclude_unset=True),
        )
    except webhooks.BadWebhook as exc:
        raise HTTPException(422, str(exc)) from None
    if not found:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"webhook {webhook_id} not found")
    return await get_webhook(webhook_id, services)


@router.delete("/webhooks/{webhook_id}", status_code=204)
async def delete_webhook(webhook_id: Id, services: ServicesDep) -> Response:
    if not await webhooks.remove(services.db, webhook_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"webhook {webhook_id} not found")
    return Response(status_code=204)


@router.get("/webhooks/{webhook_id}/deliveries", response_model=list[DeliveryOut])
async def webhook_deliveries(
    webhook_id: Id,
    services: ServicesDep,
    status_: Annotated[
        str | None, Query(alias="status", pattern="^(pending|delivered|failed)$")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> list[DeliveryOut]:
    """The delivery log, newest first: attempts, last HTTP status or error."""
    await get_webhook(webhook_id, services)
    rows = await webhooks.deliveries(
        services.db, webhook_id, status=status_, limit=limit, offset=offset
    )
    return [DeliveryOut(**r) for r in rows]
