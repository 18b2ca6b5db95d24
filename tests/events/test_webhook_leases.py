"""Several nodes' Dispatchers on one database (each its own Database
object, as two processes would have): a webhook's deliveries are sent by one
node at a time, the holder of its sender lease, so a real receiver gets each
delivery once and in event order; a node that dies keeps its lease until it
passes, and one that stops cleanly gives it back at once. No NATS here: the
lease is the database's."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator

import sqlalchemy as sa

from tests.conftest import DatabaseTarget, make_settings
from tests.events.receiver import Receiver, running_receiver
from tests.helpers import wait_until
from volta.config import Settings
from volta.events import service as events
from volta.events import webhooks
from volta.store import migrate
from volta.store.db import Database
from volta.store.models import Webhook, WebhookDelivery, utcnow

WEBHOOK_TIMEOUT = 0.5  # a lease of 1.5 s (lease_of: three timeouts)


def settings_of(database: DatabaseTarget) -> Settings:
    return make_settings(
        database,
        webhook_allow_private_targets=True,
        webhook_timeout=WEBHOOK_TIMEOUT,
        webhook_retry_base=0.1,
    )


@contextlib.asynccontextmanager
async def opened(database: DatabaseTarget) -> AsyncIterator[Database]:
    db = Database(database.url, schema=database.schema)
    try:
        yield db
    finally:
        await db.close()


@contextlib.asynccontextmanager
async def two_nodes(database: DatabaseTarget) -> AsyncIterator[tuple[Database, Database]]:
    """The databases of two nodes: on PostgreSQL each its own pool, as two
    processes have; SQLite is one process's database (several nodes need
    PostgreSQL), so there the two Dispatchers share it."""
    async with opened(database) as db_a:
        if database.kind == "sqlite":
            yield db_a, db_a
            return
        async with opened(database) as db_b:
            yield db_a, db_b


@contextlib.asynccontextmanager
async def dispatching(
    db: Database, settings: Settings, node_id: str
) -> AsyncIterator[webhooks.Dispatcher]:
    """A node's Dispatcher running until the block ends (a clean stop)."""
    dispatcher = webhooks.Dispatcher(db, settings, node_id=node_id, interval=0.02)
    task = asyncio.create_task(dispatcher.run())
    try:
        yield dispatcher
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def setup_hook(db: Database, settings: Settings, receiver: Receiver) -> int:
    await migrate.upgrade(db)
    await webhooks.prepare_secrets(db, settings)
    hook = await webhooks.create(db, receiver.url, ["*"], "leases", settings=settings)
    receiver.secret = hook["secret"]
    return int(hook["id"])


async def emit_events(db: Database, count: int) -> None:
    for i in range(count):
        async with db.write() as conn:
            await events.emit(conn, "station.online", station_id=f"LEASE-{i}")


def delivery_ids(receiver: Receiver) -> list[str]:
    return [h["x-volta-delivery-id"] for h in receiver.headers]


async def pending(db: Database) -> int:
    async with db.read() as conn:
        return int(
            (
                await conn.execute(
                    sa.select(sa.func.count())
                    .select_from(WebhookDelivery)
                    .where(WebhookDelivery.status == "pending")
                )
            ).scalar_one()
        )


async def test_two_nodes_send_each_delivery_once_in_order(database):
    settings = settings_of(database)
    async with (
        running_receiver() as receiver,
        two_nodes(database) as (db_a, db_b),
    ):
        await setup_hook(db_a, settings, receiver)
        await webhooks.prepare_secrets(db_b, settings)
        count = 60
        async with dispatching(db_a, settings, "node-a"), dispatching(db_b, settings, "node-b"):
            # Events arrive while both nodes poll: each run of each node
            # competes for the webhook.
            await emit_events(db_a, count // 2)
            await emit_events(db_b, count // 2)
            assert await wait_until(lambda: len(receiver.accepted) >= count, timeout=15)
            # Nothing more arrives: no delivery was sent by both nodes.
            assert not await wait_until(lambda: len(receiver.accepted) > count, timeout=0.5)
        ids = delivery_ids(receiver)
        assert len(ids) == len(set(ids)) == count
        assert receiver.ids() == sorted(receiver.ids())  # event order
        assert receiver.bad_signatures == 0
        assert await pending(db_a) == 0
        # A clean stop gave the lease back.
        async with db_a.read() as conn:
            lease = (await conn.execute(sa.select(Webhook.dispatch_node))).scalar_one()
        assert lease is None


async def test_a_dead_nodes_lease_holds_until_it_passes(database):
    settings = settings_of(database)
    async with running_receiver() as receiver, opened(database) as db:
        hook_id = await setup_hook(db, settings, receiver)
        # A node that died while holding the webhook: its lease runs 1.5 s more.
        async with db.write() as conn:
            await conn.execute(
                sa.update(Webhook)
                .where(Webhook.id == hook_id)
                .values(
                    dispatch_node="dead-node",
                    dispatch_until=utcnow() + dt.timedelta(seconds=1.5),
                )
            )
        await emit_events(db, 5)
        async with dispatching(db, settings, "survivor"):
            # Not sent while the dead node's lease holds ...
            assert not await wait_until(lambda: receiver.accepted, timeout=1.0)
            # ... then the survivor takes it over and sends all, in order.
            assert await wait_until(lambda: len(receiver.accepted) >= 5)
            async with db.read() as conn:
                holder = (await conn.execute(sa.select(Webhook.dispatch_node))).scalar_one()
            assert holder == "survivor"
        assert len(set(delivery_ids(receiver))) == 5
        assert receiver.ids() == sorted(receiver.ids())


async def test_a_clean_stop_hands_the_webhook_over_at_once(database):
    settings = settings_of(database)
    async with (
        running_receiver() as receiver,
        two_nodes(database) as (db_a, db_b),
    ):
        await setup_hook(db_a, settings, receiver)
        await webhooks.prepare_secrets(db_b, settings)
        async with dispatching(db_a, settings, "node-a"):
            await emit_events(db_a, 3)
            assert await wait_until(lambda: len(receiver.accepted) >= 3)
        # node-a stopped (its lease given back); node-b sends the next ones
        # well before a lease could have passed.
        async with dispatching(db_b, settings, "node-b"):
            await emit_events(db_b, 3)
            loop = asyncio.get_running_loop()
            started = loop.time()
            assert await wait_until(lambda: len(receiver.accepted) >= 6)
            assert loop.time() - started < webhooks.lease_of(settings)
        assert len(set(delivery_ids(receiver))) == 6
        assert receiver.ids() == sorted(receiver.ids())


async def test_a_failure_recorded_late_does_not_undo_a_delivery(database):
    """A node whose lease passed while its POST was out records what became
    of it only on a delivery still pending: what the next holder delivered
    stays delivered."""
    settings = settings_of(database)
    async with running_receiver() as receiver, opened(database) as db:
        await setup_hook(db, settings, receiver)
        await emit_events(db, 1)
        async with db.write() as conn:
            await conn.execute(
                sa.update(WebhookDelivery).values(status="delivered", delivered_at=utcnow())
            )
        async with db.read() as conn:
            row = (
                await conn.execute(sa.select(WebhookDelivery.id, WebhookDelivery.attempts))
            ).one()
        late = webhooks.Dispatcher(db, settings, node_id="late-node")
        assert not await late._record(row, None, "timeout")
        async with db.read() as conn:
            after = (await conn.execute(sa.select(WebhookDelivery))).one()
        assert (after.status, after.attempts, after.last_error) == ("delivered", 0, None)


async def test_a_node_without_the_key_leaves_the_webhook_to_the_others(database):
    """A node that cannot open the signing secrets (another key) takes no
    webhook: the deliveries wait for a node that can sign them, and none is
    failed for want of the key."""
    settings = settings_of(database)
    keyless = make_settings(
        database,
        webhook_allow_private_targets=True,
        webhook_timeout=WEBHOOK_TIMEOUT,
        secret_key="another-key-of-at-least-32-characters-long",
    )
    async with running_receiver() as receiver, two_nodes(database) as (db_a, db_b):
        await setup_hook(db_a, settings, receiver)
        await emit_events(db_a, 3)
        own = db_b is db_a  # SQLite: one Database object holds one key
        if own:
            db_b = Database(database.url, schema=database.schema)
        try:
            async with dispatching(db_b, keyless, "keyless"):
                assert not await wait_until(lambda: receiver.accepted, timeout=1.0)
                async with db_a.read() as conn:
                    hook = (await conn.execute(sa.select(Webhook.dispatch_node))).scalar_one()
                    tried = (
                        await conn.execute(sa.select(sa.func.max(WebhookDelivery.attempts)))
                    ).scalar_one()
                assert (hook, tried) == (None, 0)
                async with dispatching(db_a, settings, "with-key"):
                    assert await wait_until(lambda: len(receiver.accepted) >= 3)
        finally:
            if own:
                await db_b.close()
        assert receiver.bad_signatures == 0
