"""The console's webhooks pages (issue 17, part D): the webhooks with their
last delivery, an admin's add (the signing secret shown once, in the answer
to the POST, never stored in clear nor logged), enable / disable and delete;
a webhook's page with its deliveries, newest first, paginated and polled.

The same service as the HTTP API (volta.events.webhooks), with the same
checks: a loopback or private target is refused unless the settings allow
it, and the page shows the refusal as the API words it."""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, HTTPException, Request, Response, status
from fastapi.responses import HTMLResponse

from volta.events import service as events
from volta.events import webhooks
from volta.http import ServicesDep
from volta.services import Services
from volta.store.models import Webhook
from volta.store.search import text_in
from volta.web.i18n import tr
from volta.web.paging import Paging, paging
from volta.web.views import Admin, User, _field, _form, render

log = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)

STATES = ("enabled", "disabled")
DELIVERY_STATUSES = ("pending", "delivered", "failed")
# The columns a page shows: never the (sealed) secret.
_COLUMNS = (
    Webhook.id,
    Webhook.url,
    Webhook.event_types,
    Webhook.description,
    Webhook.active,
    Webhook.created_at,
)


async def _tell_nodes(services: Services) -> None:
    """As the API does: other nodes forget the event types webhooks want."""
    if services.node.clustered:
        await services.node.publish(events.CHANGED_TOPIC, {})


async def _page_of_webhooks(services: Services, p: Paging) -> list[dict[str, Any]]:
    stmt = sa.select(*_COLUMNS).order_by(Webhook.id).limit(p.limit).offset(p.offset)
    if p.q:
        stmt = stmt.where(text_in(p.q, Webhook.url, Webhook.description))
    state = p.params.get("state")
    if state in STATES:
        stmt = stmt.where(Webhook.active.is_(state == "enabled"))
    async with services.db.read() as conn:
        rows = [dict(r) for r in (await conn.execute(stmt)).mappings().all()]
    rows = p.window(rows)
    for row in rows:
        last = await webhooks.deliveries(services.db, row["id"], limit=1)
        row["last"] = last[0] if last else None
    return rows


async def _list(request: Request, services: Services, **extra: Any) -> HTMLResponse:
    p = paging(request, "state")
    return render(
        request,
        "webhooks.html",
        p=p,
        hooks=await _page_of_webhooks(services, p),
        states=STATES,
        event_types=events.TYPES,
        **extra,
    )


@router.get("/webhooks")
async def webhooks_page(request: Request, user: User, services: ServicesDep) -> HTMLResponse:
    return await _list(request, services)


@router.post("/webhooks")
async def add_webhook(request: Request, user: Admin, services: ServicesDep) -> HTMLResponse:
    form = await _form(request)
    url = _field(form, "url")
    types = [t for t in form.getlist("event_types") if isinstance(t, str)]
    if "*" in types or not types:
        types = ["*"]
    description = _field(form, "description")[:200] or None
    if len(url) > 500:
        return _problem(request, tr(request, "The URL is too long (at most 500 characters)."))
    try:
        created = await webhooks.create(
            services.db, url, types, description, settings=services.settings
        )
    except webhooks.BadWebhook as exc:
        return _problem(request, str(exc))
    await _tell_nodes(services)
    # The secret is in this answer only: not logged, not stored in clear.
    log.info("dashboard: %s added webhook %s", user["username"], created["id"])
    return render(request, "_webhook_created.html", hook=created, secret=created["secret"])


def _problem(request: Request, message: str) -> HTMLResponse:
    response = render(request, "_notice.html", message=message, kind="bad")
    response.headers["X-Volta-Outcome"] = "error"  # the form keeps what was typed
    return response


async def _webhook(services: Services, webhook_id: int) -> dict[str, Any]:
    found = await webhooks.get(services.db, webhook_id) if 0 < webhook_id < 2**31 else None
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"webhook {webhook_id} not found")
    return found


@router.post("/webhooks/{webhook_id}/enable")
async def enable_webhook(
    request: Request, webhook_id: int, user: Admin, services: ServicesDep
) -> Response:
    return await _set_active(request, services, user, webhook_id, True)


@router.post("/webhooks/{webhook_id}/disable")
async def disable_webhook(
    request: Request, webhook_id: int, user: Admin, services: ServicesDep
) -> Response:
    return await _set_active(request, services, user, webhook_id, False)


async def _set_active(
    request: Request, services: Services, user: dict[str, Any], webhook_id: int, active: bool
) -> Response:
    await _webhook(services, webhook_id)
    await webhooks.update(services.db, webhook_id, settings=services.settings, active=active)
    await _tell_nodes(services)
    log.info(
        "dashboard: %s %s webhook %s",
        user["username"],
        "enabled" if active else "disabled",
        webhook_id,
    )
    return _reload(request)


def _reload(request: Request, target: str | None = None) -> Response:
    """htmx loads the page again (the one the form is on), or `target`."""
    if target:
        return Response(status_code=204, headers={"HX-Redirect": target})
    return Response(status_code=204, headers={"HX-Refresh": "true"})


@router.post("/webhooks/{webhook_id}/delete")
async def delete_webhook(
    request: Request, webhook_id: int, user: Admin, services: ServicesDep
) -> Response:
    await _webhook(services, webhook_id)
    await webhooks.remove(services.db, webhook_id)
    await _tell_nodes(services)
    log.info("dashboard: %s deleted webhook %s", user["username"], webhook_id)
    return _reload(request, "/webhooks")


async def _deliveries(
    request: Request, services: Services, webhook_id: int
) -> tuple[Paging, list[dict[str, Any]]]:
    p = paging(request, "status")
    wanted = p.params.get("status")
    rows = await webhooks.deliveries(
        services.db,
        webhook_id,
        status=wanted if wanted in DELIVERY_STATUSES else None,
        limit=p.limit,
        offset=p.offset,
    )
    return p, p.window(rows)


@router.get("/webhooks/{webhook_id}")
async def webhook_page(
    request: Request, webhook_id: int, user: User, services: ServicesDep
) -> HTMLResponse:
    hook = await _webhook(services, webhook_id)
    p, rows = await _deliveries(request, services, webhook_id)
    return render(
        request,
        "webhook.html",
        hook=hook,
        p=p,
        deliveries=rows,
        delivery_statuses=DELIVERY_STATUSES,
        live_url=f"/webhooks/{webhook_id}/deliveries" + p.url(page=p.page)[len(p.path) :],
    )


@router.get("/webhooks/{webhook_id}/deliveries")
async def deliveries_fragment(
    request: Request, webhook_id: int, user: User, services: ServicesDep
) -> HTMLResponse:
    """The deliveries table as it is now (the page shown; htmx polls it)."""
    hook = await _webhook(services, webhook_id)
    p, rows = await _deliveries(request, services, webhook_id)
    p.path = f"/webhooks/{webhook_id}"
    return render(request, "_webhook_deliveries.html", hook=hook, p=p, deliveries=rows)
