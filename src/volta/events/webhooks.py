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

Webhooks reach public addresses only unless the settings allow more
(volta.events.targets), and what the delivery log says of a failure is one of
"connection failed", "timeout", "target address not allowed" or "HTTP <code>":
no transport detail (which would tell open ports from closed ones). The
detail goes to the server log at debug level.

The signing secrets are sealed in the database (AES-GCM, volta.secretbox)
with a key kept outside it; `prepare_secrets` seals rows from before.
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
import weakref
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
import sqlalchemy as sa

from volta import __version__
from volta.config import Settings
from volta.events import service as events
from volta.events.service import TYPES, message
from volta.events.targets import GuardedTransport, TargetPolicy, TargetRefused, check_at_creation
from volta.secretbox import KEY_FILE, SecretBox, SecretKeyError, is_sealed, load_key
from volta.store.db import Database
from volta.store.models import CaCertificate, Event, Webhook, WebhookDelivery, utcnow

log = logging.getLogger(__name__)

MAX_DELAY = 3600.0
# What a sealed secret is bound to (AES-GCM associated data).
SECRET_PURPOSE = "webhook secret"


class BadWebhook(ValueError):
    """The webhook cannot be stored as given; the message says why."""


def check_url(url: str, allow_http: bool) -> None:
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        raise BadWebhook("url may not hold spaces or control characters")
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise BadWebhook("url must be an absolute https:// URL")
    if parts.scheme == "http" and not allow_http and not _loopback(parts.hostname):
        raise BadWebhook(
            "url must use https (plain http only for loopback, or with allow_http_webhooks)"
        )
    try:
        parts.port  # noqa: B018 (raises on a port out of range)
    except ValueError:
        raise BadWebhook("url has an invalid port") from None


def policy(settings: Settings) -> TargetPolicy:
    return TargetPolicy.from_settings(
        settings.webhook_allow_private_targets, settings.webhook_allowed_networks
    )


async def check_target(url: str, settings: Settings) -> None:
    """Refuse an internal target unless the settings allow it (422 in the API)."""
    parts = urlsplit(url)
    assert parts.hostname is not None
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        await check_at_creation(parts.hostname, port, policy(settings))
    except TargetRefused as exc:
        raise BadWebhook(
            f"url must reach a public address: {exc} (loopback, private, link-local, "
            "multicast, reserved and cloud metadata targets are refused unless "
            "webhook_allow_private_targets or webhook_allowed_networks allow them)"
        ) from None


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


# The key that seals the secrets, per Database, once it was needed.
_boxes: weakref.WeakKeyDictionary[Database, SecretBox] = weakref.WeakKeyDictionary()


def key_file(settings: Settings, db: Database) -> Path:
    """Where the key file is: the setting, else beside the SQLite database,
    else (PostgreSQL) the working directory, like the admin password file."""
    if settings.secret_key_file:
        return Path(settings.secret_key_file).expanduser().resolve()
    if db.is_sqlite:
        database = sa.engine.make_url(db.url).database
        if database and database != ":memory:":
            return Path(database).resolve().parent / KEY_FILE
    return Path(KEY_FILE).resolve()


async def prepare_secrets(db: Database, settings: Settings, *, need: bool = False) -> None:
    """At start (and when a secret is first needed): check the settings, load
    the key when the database holds secrets (or `need`), check that it opens
    every sealed secret, and seal the secrets kept in clear before (an
    idempotent step: a sealed value starts with `enc:v1:`).

    Raises SecretKeyError, with what to do, when the key is missing or is not
    the one the secrets were sealed with: Volta does not start then."""
    policy(settings)  # a bad webhook_allowed_networks stops the start here
    async with db.read() as conn:
        rows = (await conn.execute(sa.select(Webhook.id, Webhook.secret))).all()
        # The certificate authorities' keys are sealed with the same key.
        ca_keys = (
            await conn.execute(sa.select(CaCertificate.name, CaCertificate.sealed_key))
        ).all()
    if not rows and not ca_keys and not need:
        return
    sealed = [r for r in rows if is_sealed(r.secret)]
    path = key_file(settings, db)
    box, created = load_key(settings.secret_key, path, create=not sealed and not ca_keys)
    for ca in ca_keys:
        box.open(ca.sealed_key, ca_key_purpose(ca.name))
    if created:
        log.warning(
            "created the secret key file %s: it seals the webhook secrets in the database; "
            "back it up apart from the database (without it they cannot be opened)",
            path,
        )
    for row in sealed:
        box.open(row.secret, SECRET_PURPOSE)
    clear = [r for r in rows if not is_sealed(r.secret)]
    if clear:
        async with db.write() as conn:
            for row in clear:
                await conn.execute(
                    sa.update(Webhook)
                    .where(Webhook.id == row.id, Webhook.secret == row.secret)
                    .values(secret=box.seal(row.secret, SECRET_PURPOSE))
                )
        log.warning("sealed %d webhook secrets that were kept in clear", len(clear))
    _boxes[db] = box


def ca_key_purpose(name: str) -> str:
    """What a certificate authority's sealed key is bound to (AES-GCM
    associated data; volta.blocks.certificates.ca seals them)."""
    return f"ca key {name}"


async def secret_box(db: Database, settings: Settings) -> SecretBox:
    box = _boxes.get(db)
    if box is None:
        await prepare_secrets(db, settings, need=True)
        box = _boxes[db]
    return box


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


async def create(
    db: Database,
    url: str,
    event_types: list[str],
    description: str | None,
    *,
    settings: Settings,
) -> dict[str, Any]:
    check_url(url, settings.allow_http_webhooks)
    check_types(event_types)
    await check_target(url, settings)
    box = await secret_box(db, settings)
    secret = "whsec_" + secrets.token_urlsafe(32)
    async with db.write() as conn:
        webhook_id = (
            await conn.execute(
                sa.insert(Webhook)
                .values(
                    url=url,
                    secret=box.seal(secret, SECRET_PURPOSE),
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


async def update(db: Database, webhook_id: int, *, settings: Settings, **values: Any) -> bool:
    if "url" in values:
        check_url(values["url"], settings.allow_http_webhooks)
    if "event_types" in values:
        check_types(values["event_types"])
    if "url" in values:
        await check_target(values["url"], settings)
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


def lease_of(settings: Settings) -> float:
    """How long a node holds a webhook's sender lease without renewing it:
    three webhook timeouts (30 s by default). The holder renews it while at
    most two remain, and starts a POST only while more than one remains, so
    a POST it starts ends (answer or timeout) before the lease can pass."""
    return 3.0 * settings.webhook_timeout


class Dispatcher:
    """Sends due deliveries; one loop per process (per node).

    With several nodes every node runs one, and a webhook's deliveries are
    sent by one node at a time: the holder of the webhook's sender lease
    (`webhooks.dispatch_node` / `dispatch_until`), taken with a conditional
    UPDATE when it is free or has passed, renewed while there is work, and
    given back at a clean stop. A node that dies keeps it until it passes
    (`lease_of`); the next holder resumes in event order. Only a POST in
    flight when its node died (or stalled past its lease) may be sent
    twice: the receiver dedups by X-Volta-Delivery-Id.

    Given the database, the settings and the node's id, not the kernel's
    container: events sit below the blocks and the kernel (the
    import-linter layers in pyproject.toml)."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        *,
        node_id: str = "solo",
        interval: float = 0.5,
        lease: float | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.node_id = node_id
        self.interval = interval
        self.lease = lease if lease is not None else lease_of(settings)
        self._client: httpx.AsyncClient | None = None
        self._inflight: set[asyncio.Task[bool]] = set()
        # Webhook id -> when (time.monotonic) this node's lease of it passes,
        # measured from before the UPDATE that took it (never later than the
        # database says).
        self._held: dict[int, float] = {}
        self._key_warned = 0.0

    async def run(self) -> None:
        settings = self.settings
        self._client = httpx.AsyncClient(
            transport=GuardedTransport(lambda: policy(self.settings)),
            timeout=settings.webhook_timeout,
            headers={"User-Agent": f"Volta/{__version__}"},
            follow_redirects=False,
            trust_env=False,
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
            # none is delivered again after the restart; then the leases go
            # back, so another node takes the webhooks over at once.
            if self._inflight:
                await asyncio.wait(self._inflight, timeout=settings.webhook_timeout + 1)
            await self._client.aclose()
            try:
                await self.release()
            except Exception:
                log.warning("webhook sender leases not given back; they pass by themselves")

    async def release(self) -> None:
        """Give back every lease this node holds (a clean stop)."""
        self._held.clear()
        async with self.db.write() as conn:
            await conn.execute(
                sa.update(Webhook)
                .where(Webhook.dispatch_node == self.node_id)
                .values(dispatch_node=None, dispatch_until=None)
            )

    async def run_once(self) -> int:
        """Send what is due of the webhooks this node holds (taking the free
        ones first), each webhook's deliveries in event order."""
        held = await self._claim()
        if not held:
            return 0
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
                    .where(
                        WebhookDelivery.status == "pending",
                        Webhook.active.is_(True),
                        WebhookDelivery.webhook_id.in_(held),
                    )
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

    async def _claim(self) -> list[int]:
        """The webhooks with due deliveries whose lease this node holds now,
        taking (one conditional UPDATE) those that are free, have passed or
        are this node's and due for renewal. No write when nothing is due."""
        now = utcnow()
        due = sa.exists().where(
            WebhookDelivery.webhook_id == Webhook.id,
            WebhookDelivery.status == "pending",
            WebhookDelivery.next_attempt_at <= now,
        )
        async with self.db.read() as conn:
            hooks = (
                await conn.execute(
                    sa.select(Webhook.id, Webhook.dispatch_node, Webhook.dispatch_until).where(
                        Webhook.active.is_(True), due
                    )
                )
            ).all()
        clock = time.monotonic()
        renew_below = self.lease - self.settings.webhook_timeout
        wanted: list[int] = []
        held: list[int] = []
        for hook in hooks:
            mine = hook.dispatch_node == self.node_id
            if not mine:
                self._held.pop(hook.id, None)
            if mine and self._held.get(hook.id, 0.0) - clock > renew_below:
                held.append(hook.id)
            elif (
                mine
                or hook.dispatch_node is None
                or hook.dispatch_until is None
                or hook.dispatch_until < now
            ):
                wanted.append(hook.id)
        if wanted and await self._can_sign():
            held.extend(await self._take(wanted))
        return held

    async def _can_sign(self) -> bool:
        """Whether this node opens the signing secrets: a node without the
        key (a host that lacks the key file the others share) takes no
        webhook, so it never fails deliveries that the others could send."""
        try:
            await secret_box(self.db, self.settings)
        except SecretKeyError as exc:
            now = time.monotonic()
            if now >= self._key_warned:
                self._key_warned = now + 60.0
                log.error("webhooks: %s; this node leaves the deliveries to the others", exc)
            return False
        return True

    async def _take(self, webhook_ids: list[int]) -> list[int]:
        """Take or renew the leases of these webhooks where no other node
        holds one that has not passed; the ones this node holds now."""
        clock = time.monotonic()
        now = utcnow()
        async with self.db.write() as conn:
            taken = (
                (
                    await conn.execute(
                        sa.update(Webhook)
                        .where(
                            Webhook.id.in_(webhook_ids),
                            sa.or_(
                                Webhook.dispatch_node.is_(None),
                                Webhook.dispatch_node == self.node_id,
                                Webhook.dispatch_until.is_(None),
                                Webhook.dispatch_until < now,
                            ),
                        )
                        .values(
                            dispatch_node=self.node_id,
                            dispatch_until=now + dt.timedelta(seconds=self.lease),
                        )
                        .returning(Webhook.id)
                    )
                )
                .scalars()
                .all()
            )
        for webhook_id in taken:
            self._held[webhook_id] = clock + self.lease
        return [int(w) for w in taken]

    async def _holding(self, webhook_id: int) -> bool:
        """Whether this node may start a POST of the webhook now: its lease
        has more than a webhook timeout left (renewed first when it is
        getting short)."""
        left = self._held.get(webhook_id, 0.0) - time.monotonic()
        if left > self.lease - self.settings.webhook_timeout:
            return True
        if left > 0 and await self._take([webhook_id]):
            return True
        self._held.pop(webhook_id, None)
        return False

    async def _send_in_order(self, rows: list[Any]) -> int:
        sent = 0
        for row in rows:
            if not await self._holding(row.webhook_id):
                break  # another node holds it now: it goes on from here
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
        code, error = await self._post(row)
        return await self._record(row, code, error)

    async def _record(self, row: Any, code: int | None, error: str | None) -> bool:
        """Store what became of the POST; True when it was delivered."""
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
                sa.update(WebhookDelivery)
                # (still pending: a node that lost the lease while its POST
                # was out never undoes what the next holder recorded)
                .where(WebhookDelivery.id == row.id, WebhookDelivery.status == "pending")
                .values(**values)
            )
        return error is None

    async def _post(self, row: Any) -> tuple[int | None, str | None]:
        """POST the delivery: its HTTP status, and the outcome an API client
        may read when it failed (never the transport's own words)."""
        assert self._client is not None
        try:
            secret = (await secret_box(self.db, self.settings)).open(row.secret, SECRET_PURPOSE)
        except SecretKeyError as exc:
            log.error("webhook %s: %s", row.webhook_id, exc)
            return None, "signing secret unavailable"
        body = orjson.dumps(
            message(row.event_id, row.event_type, row.event_created_at, row.event_data)
        )
        stamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "X-Volta-Event-Id": str(row.event_id),
            "X-Volta-Event-Type": row.event_type,
            "X-Volta-Delivery-Id": str(row.id),
            "X-Volta-Signature": sign(secret, stamp, body),
        }
        try:
            # Streamed and closed unread: a receiver's answer body is never
            # loaded (nor shown).
            async with self._client.stream("POST", row.url, content=body, headers=headers) as r:
                code = r.status_code
        except TargetRefused as exc:
            log.debug("webhook %s delivery %s refused: %s", row.webhook_id, row.id, exc)
            return None, "target address not allowed"
        except httpx.TimeoutException as exc:
            log.debug("webhook %s delivery %s: %s", row.webhook_id, row.id, _detail(exc))
            return None, "timeout"
        except (httpx.HTTPError, httpx.InvalidURL, OSError) as exc:
            log.debug("webhook %s delivery %s: %s", row.webhook_id, row.id, _detail(exc))
            return None, "connection failed"
        return code, None if 200 <= code < 300 else f"HTTP {code}"


def _detail(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]
