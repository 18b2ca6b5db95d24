"""Webhooks: operators' HTTPS endpoints that get every event they asked for,
signed, in order, at least once, with retries and back-off.

Each POST carries the event as JSON and these headers:

  X-Volta-Event-Id       the event id: the receiver's key against repeats
  X-Volta-Event-Type     e.g. session.ended
  X-Volta-Delivery-Id    this webhook's delivery of the event
  X-Volta-Signature      t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" with the secret>

A 2xx answer delivers it. Anything else (or no answer within
`webhook_timeout`) is retried after `webhook_retry_base` x 2^(attempt-1)
seconds (at most an hour), up to `webhook_max_attempts`, then it is
`failed`. A webhook's deliveries go out in event order: one that fails holds
back the later ones of the same webhook until it is delivered or failed.
Pending deliveries live in the database, so a restart resumes them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import ipaddress
import logging
import secrets
import time
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
import sqlalchemy as sa

from volta import __version__
from volta.config import Settings
from volta.events import service as events
from volta.events.service import TYPES, message
from volta.store.db import Database
from volta.store.models import Event, Webhook, WebhookDelivery, utcnow

log = logging.getLogger(__name__)

MAX_DELAY = 3600.0


class BadWebhook(ValueError):
    """The webhook cannot be stored as given; the message says why."""


def check_url(url: str, allow_http: bool) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise BadWebhook("url must be an absolute https:// URL")
    if parts.scheme == "http" and not allow_http and not _loopback(parts.hostname):
        raise BadWebhook(
            "url must use https (plain http only for loopback, or with allow_http_webhooks)"
        )


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_types(types: list[str]) -> None:
    unknown = sorted(set(types) - {*TYPES, "*"})
    if unknown:
        raise BadWebhook(f"unknown event types: {', '.join(unknown)}")
    if not types:
        raise BadWebhook('event_types may not be empty (use ["*"] for all)')


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


async def create(
    db: Database,
    url: str,
    event_types: list[str],
    description: str | None,
    *,
    allow_http: bool,
) -> dict[str, Any]:
    check_url(url, allow_http)
    check_types(event_types)
    secret = "whsec_" + secrets.token_urlsafe(32)
    async with db.write() as conn:
        webhook_id = (
            await conn.execute(
                sa.insert(Webhook)
                .values(
                    url=url,
                    secret=secret,
                    event_types=event_types,
                    description=description,
                    active=True,
                    created_at=utcnow(),
                )
                .returning(Webhook.id)
            )
        ).scalar_one()
    events.forget_hooks(db)
    found = await get(db, int(webhook_id))
    assert found is not None
    return {**found, "secret": secret}


async def get(db: Database, webhook_id: int) -> dict[str, Any] | None:
    async with db.read() as conn:
        row = (
            (await conn.execute(sa.select(Webhook).where(Webhook.id == webhook_id)))
            .mappings()
            .first()
        )
    return _public(dict(row)) if row else None


def _public(row: dict[str, Any]) -> dict[str, Any]:
    row.pop("secret", None)
    return row


async def list_webhooks(db: Database) -> list[dict[str, Any]]:
    async with db.read() as conn:
        rows = (await conn.execute(sa.select(Webhook).order_by(Webhook.id))).mappings().all()
    return [_public(dict(r)) for r in rows]


async def update(db: Database, webhook_id: int, *, allow_http: bool, **values: Any) -> bool:
    if "url" in values:
        check_url(values["url"], allow_http)
    if "event_types" in values:
        check_types(values["event_types"])
    if not values:
        return await get(db, webhook_id) is not None
    async with db.write() as conn:
        result = await conn.execute(
            sa.update(Webhook).where(Webhook.id == webhook_id).values(**values)
        )
    events.forget_hooks(db)
    return bool(result.rowcount)


async def remove(db: Database, webhook_id: int) -> bool:
    async with db.write() as conn:
        await conn.execute(
            sa.delete(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook_id)
        )
        result = await conn.execute(sa.delete(Webhook).where(Webhook.id == webhook_id))
    events.forget_hooks(db)
    return bool(result.rowcount)


async def deliveries(
    db: Database, webhook_id: int, *, status: str | None = None, limit: int = 100, offset: int = 0
) -> list[dict[str, Any]]:
    stmt = (
        sa.select(WebhookDelivery, Event.type.label("event_type"))
        .join(Event, Event.id == WebhookDelivery.event_id)
        .where(WebhookDelivery.webhook_id == webhook_id)
        .order_by(WebhookDelivery.id.desc())
        .limit(limit)
        .offset(offset)
    )
    if status is not None:
        stmt = stmt.where(WebhookDelivery.status == status)
    async with db.read() as conn:
        return [dict(r) for r in (await conn.execute(stmt)).mappings().all()]


class Dispatcher:
    """Sends due deliveries; one loop per process.

    Given the database and the settings it uses, not the kernel's container:
    events sit below the blocks and the kernel (the import-linter layers in
    pyproject.toml)."""

    def __init__(self, db: Database, settings: Settings, *, interval: float = 0.5) -> None:
        self.db = db
        self.settings = settings
        self.interval = interval
        self._client: httpx.AsyncClient | None = None
        self._inflight: set[asyncio.Task[bool]] = set()

    async def run(self) -> None:
        settings = self.settings
        self._client = httpx.AsyncClient(
            timeout=settings.webhook_timeout,
            headers={"User-Agent": f"Volta/{__version__}"},
            follow_redirects=False,
        )
        try:
            while True:
                try:
                    sent = await self.run_once()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("webhook dispatch failed; trying again")
                    sent = 0
                if not sent:
                    await asyncio.sleep(self.interval)
        finally:
            # A shutdown lets the POSTs in flight finish and be recorded, so
            # none is delivered again after the restart.
            if self._inflight:
                await asyncio.wait(self._inflight, timeout=settings.webhook_timeout + 1)
            await self._client.aclose()

    async def run_once(self) -> int:
        """Send what is due, each webhook's deliveries in event order."""
        db = self.db
        now = utcnow()
        async with db.read() as conn:
            due = (
                await conn.execute(
                    sa.select(
                        WebhookDelivery.id,
                        WebhookDelivery.webhook_id,
                        WebhookDelivery.attempts,
                        WebhookDelivery.next_attempt_at,
                        Webhook.url,
                        Webhook.secret,
                        Event.id.label("event_id"),
                        Event.type.label("event_type"),
                        Event.created_at.label("event_created_at"),
                        Event.data.label("event_data"),
                    )
                    .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
                    .join(Event, Event.id == WebhookDelivery.event_id)
                    .where(WebhookDelivery.status == "pending", Webhook.active.is_(True))
                    .order_by(WebhookDelivery.webhook_id, WebhookDelivery.event_id)
                    .limit(200)
                )
            ).all()
        blocked: set[int] = set()
        attempts = []
        for row in due:
            if row.webhook_id in blocked:
                continue
            if row.next_attempt_at > now:
                blocked.add(row.webhook_id)  # holds back this webhook's later events
                continue
            attempts.append(row)
        by_hook: dict[int, list[Any]] = {}
        for row in attempts:
            by_hook.setdefault(row.webhook_id, []).append(row)
        results = await asyncio.gather(*(self._send_in_order(rows) for rows in by_hook.values()))
        return sum(results)

    async def _send_in_order(self, rows: list[Any]) -> int:
        sent = 0
        for row in rows:
            # Shielded: a shutdown waits for an answer in flight rather than
            # forget it was delivered (and deliver it again after the restart).
            task = asyncio.create_task(self._attempt(row))
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)
            ok = await asyncio.shield(task)
            if not ok:
                break
            sent += 1
        return sent

    async def _attempt(self, row: Any) -> bool:
        assert self._client is not None
        body = orjson.dumps(
            message(row.event_id, row.event_type, row.event_created_at, row.event_data)
        )
        stamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "X-Volta-Event-Id": str(row.event_id),
            "X-Volta-Event-Type": row.event_type,
            "X-Volta-Delivery-Id": str(row.id),
            "X-Volta-Signature": sign(row.secret, stamp, body),
        }
        code: int | None = None
        error: str | None = None
        try:
            response = await self._client.post(row.url, content=body, headers=headers)
            code = response.status_code
            if not 200 <= code < 300:
                error = f"HTTP {code}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:300]
        settings = self.settings
        attempts = row.attempts + 1
        values: dict[str, Any] = {"attempts": attempts, "last_status_code": code}
        if error is None:
            values.update(status="delivered", delivered_at=utcnow(), last_error=None)
        else:
            values["last_error"] = error
            if attempts >= settings.webhook_max_attempts:
                values["status"] = "failed"
                log.warning("webhook delivery %s failed for good: %s", row.id, error)
            else:
                delay = min(settings.webhook_retry_base * 2 ** (attempts - 1), MAX_DELAY)
                values["next_attempt_at"] = utcnow() + dt.timedelta(seconds=delay)
        async with self.db.write() as conn:
            await conn.execute(
                sa.update(WebhookDelivery).where(WebhookDelivery.id == row.id).values(**values)
            )
        return error is None
