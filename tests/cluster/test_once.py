"""Work done once across nodes: two or three Volta nodes on one PostgreSQL
schema and a real NATS server, real stations over real sockets, a real
webhook receiver.

What an operator checks: every event reaches a webhook once and in order
whichever node's station raised it, also when the node sending them stops;
a session limit is enforced once (one stop asked, one event); a
reservation expires on the leader only; a local list owed is sent once, by
the node holding the station, also after a token changed on another node's
API; a site whose stations are on two nodes is allocated by the leader and
both stations get their profiles, also when the API of the other node
changes the limit; and when the leader stops, the next one recomputes.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time

import asyncpg
import httpx
import orjson
import pytest
import sqlalchemy as sa
import websockets

from tests.blocks.test_sites import boot, fleet, make_site, place, start
from tests.cluster.processes import NodeProcess, pg_database
from tests.conftest import api_client
from tests.events.receiver import running_receiver
from tests.helpers import add_token, answer, now_iso, register, station, wait_until
from volta import housekeeping
from volta.app import Volta
from volta.blocks.local_list import service as local_lists
from volta.blocks.smart_charging.engine import engine_of
from volta.store.models import Event, EvseAllocation, Reservation, Webhook, utcnow

FAST = {
    "webhook_allow_private_targets": True,
    "webhook_retry_base": 0.2,
    "webhook_max_attempts": 50,
    "webhook_timeout": 1.0,
    "housekeeping_interval": 0.2,
}


def api_of(volta: Volta) -> httpx.AsyncClient:
    return api_client(volta)


async def the_leader(*volta: Volta, timeout: float = 10.0) -> Volta:
    """The one node that leads (waits until exactly one does)."""
    found: list[Volta] = []

    def one() -> bool:
        found[:] = [v for v in volta if v.services.node.is_leader()]
        return len(found) == 1

    assert await wait_until(one, timeout=timeout), "no single leader"
    return found[0]


async def online_everywhere(station_id: str, *volta: Volta) -> bool:
    return await wait_until(lambda: all(station_id in v.router.online() for v in volta), timeout=5)


async def visit(volta: Volta, station_id: str) -> None:
    """A station connects, boots and leaves: station.online, station.offline
    (returns once its offline event is stored: the next visit's events come
    after it, also in id order; see docs/events.md on commit order)."""
    before = len(await event_ids(volta))
    async with station(volta, station_id) as cp:
        await cp.call("BootNotification", {"chargePointVendor": "v", "chargePointModel": "m"})
    assert await wait_until(lambda: _more(volta, before + 2))


async def _more(volta: Volta, count: int) -> bool:
    return len(await event_ids(volta)) >= count


async def event_ids(volta: Volta) -> list[int]:
    async with volta.db.read() as conn:
        return [
            int(i) for i in (await conn.execute(sa.select(Event.id).order_by(Event.id))).scalars()
        ]


async def test_events_from_both_nodes_reach_a_webhook_once_in_order(nodes):
    a = await nodes(node_id="a", **FAST)
    b = await nodes(node_id="b", **FAST)
    for i in range(3):
        await register(a, f"WH-A{i}")
        await register(a, f"WH-B{i}")
    async with api_of(a) as api, running_receiver() as receiver:
        r = await api.post("/api/v1/webhooks", json={"url": receiver.url})
        assert r.status_code == 201, r.text
        receiver.secret = r.json()["secret"]
        # Stations on both nodes, one after the other (events in commit order).
        for i in range(3):
            await visit(a, f"WH-A{i}")
            await visit(b, f"WH-B{i}")
        assert await wait_until(lambda: len(receiver.accepted) >= 12)
        assert not await wait_until(lambda: len(receiver.accepted) > 12, timeout=1.0)
        assert receiver.ids() == await event_ids(a)  # every event, once, in order
        assert {e["data"]["station_id"] for e in receiver.accepted} == {
            *(f"WH-A{i}" for i in range(3)),
            *(f"WH-B{i}" for i in range(3)),
        }

        # The receiver fails for a while: deliveries wait at the lease holder.
        receiver.fail_next = 10**6
        for i in range(3):
            await visit(a, f"WH-A{i}")
            await visit(b, f"WH-B{i}")
        assert await wait_until(lambda: receiver.refused >= 2)
        async with a.db.read() as conn:
            holder_id = (await conn.execute(sa.select(Webhook.dispatch_node))).scalar_one()
        assert holder_id in ("a", "b")
        holder, other = (a, b) if holder_id == "a" else (b, a)
        # The node sending them stops; the receiver is well again: the other
        # node takes the webhook over and sends the rest, each once, in order.
        await holder.stop()
        receiver.fail_next = 0
        expected = await event_ids(other)
        assert await wait_until(lambda: len(receiver.accepted) >= len(expected))
        assert not await wait_until(lambda: len(receiver.accepted) > len(expected), timeout=1.0)
        assert receiver.ids() == expected
        delivery_ids = [h["x-volta-delivery-id"] for h in receiver.headers]
        assert len(delivery_ids) == len(set(delivery_ids))
        assert receiver.bad_signatures == 0
        async with other.db.read() as conn:
            holder_now = (await conn.execute(sa.select(Webhook.dispatch_node))).scalar_one()
        assert holder_now == other.services.node.node_id


async def test_a_session_limit_is_enforced_once(nodes):
    """A 1 s session limit with two nodes running housekeeping every 0.2 s:
    the station (on the node that does not lead) is asked to stop once, and
    one limit.reached event is raised."""
    a = await nodes(node_id="a", **FAST)
    b = await nodes(node_id="b", **FAST)
    leader = await the_leader(a, b)
    follower = b if leader is a else a
    await register(a, "LIM-1")
    await add_token(a, "LIM-CARD", limits={"limit_seconds": 1})
    async with station(follower, "LIM-1") as cp:
        await cp.call("BootNotification", {"chargePointVendor": "v", "chargePointModel": "m"})
        assert await online_everywhere("LIM-1", a, b)
        await cp.call(
            "StartTransaction",
            {"connectorId": 1, "idTag": "LIM-CARD", "meterStart": 0, "timestamp": now_iso()},
        )
        assert await wait_until(
            lambda: any(a == "RemoteStopTransaction" for a, _ in cp.received), timeout=6
        )
        await asyncio.sleep(1.0)  # five more housekeeping runs on each node
        assert [a for a, _ in cp.received].count("RemoteStopTransaction") == 1
    async with a.db.read() as conn:
        reached = (
            await conn.execute(
                sa.select(sa.func.count()).select_from(Event).where(Event.type == "limit.reached")
            )
        ).scalar_one()
    assert reached == 1


async def test_reservations_expire_on_the_leader_only(nodes):
    a = await nodes(node_id="a", housekeeping_interval=3600)
    b = await nodes(node_id="b", housekeeping_interval=3600)
    leader = await the_leader(a, b)
    follower = b if leader is a else a
    await register(a, "RES-1")
    async with a.db.write() as conn:
        await conn.execute(
            sa.insert(Reservation).values(
                id=7,
                station_id="RES-1",
                evse_id=1,
                id_token="RES-CARD",
                expires_at=utcnow() - dt.timedelta(seconds=1),
                status="Accepted",
                created_at=utcnow(),
                updated_at=utcnow(),
            )
        )

    async def status() -> str:
        async with a.db.read() as conn:
            return str(
                (
                    await conn.execute(sa.select(Reservation.status).where(Reservation.id == 7))
                ).scalar_one()
            )

    done = await housekeeping.run_once(follower.services)
    assert done["reservations_expired"] == 0
    assert await status() == "Accepted"
    done = await housekeeping.run_once(leader.services)
    assert done["reservations_expired"] == 1
    assert await status() == "Expired"


async def test_a_local_list_is_sent_once_by_the_node_holding_the_station(nodes):
    a = await nodes(node_id="a", housekeeping_interval=3600)
    b = await nodes(node_id="b", housekeeping_interval=3600)
    await register(a, "LL-1")
    await add_token(a, "LL-CARD")
    async with station(b, "LL-1") as cp:
        cp.handlers["SendLocalList"] = answer({"status": "Accepted"})
        await cp.call("BootNotification", {"chargePointVendor": "v", "chargePointModel": "m"})
        assert await online_everywhere("LL-1", a, b)
        # A list is owed now (made while the station is connected).
        await local_lists.set_members(a.db, "LL-1", None)
        # Node a does not hold the station: its housekeeping sends nothing.
        assert await local_lists.sync_all(a.services) == 0
        assert (await housekeeping.run_once(a.services))["lists"] == 0
        assert not [x for x, _ in cp.received if x == "SendLocalList"]
        # Node b does, and sends it once.
        assert await local_lists.sync_all(b.services) == 1
        assert await local_lists.sync_all(b.services) == 0
        sent = [kw for x, kw in cp.received if x == "SendLocalList"]
        assert len(sent) == 1 and sent[0]["update_type"] == "Full"

        # A token changed through node a's API: node b sends the change.
        async with api_of(a) as api:
            r = await api.patch("/api/v1/id-tokens/LL-CARD", json={"status": "Blocked"})
            assert r.status_code == 200, r.text
        assert await wait_until(
            lambda: [x for x, _ in cp.received].count("SendLocalList") == 2, timeout=5
        )
        await asyncio.sleep(0.5)
        sent = [kw for x, kw in cp.received if x == "SendLocalList"]
        assert len(sent) == 2 and sent[1]["update_type"] == "Differential"


async def test_a_site_on_two_nodes_is_allocated_by_the_leader(nodes):
    a = await nodes(node_id="a")
    b = await nodes(node_id="b")
    leader = await the_leader(a, b)
    follower = b if leader is a else a
    for sid in ("SITE-L", "SITE-F"):
        await register(a, sid)
        await add_token(a, f"CARD-{sid}")
    async with api_of(leader) as api_l, api_of(follower) as api_f:
        site = await make_site(api_l, 32.0)
        await place(api_l, "SITE-L", site)
        await place(api_f, "SITE-F", site)  # placed through the follower's API
        async with (
            fleet(leader, ["SITE-L"], "1.6") as (on_leader,),
            fleet(follower, ["SITE-F"], "1.6") as (on_follower,),
        ):
            both = (on_leader, on_follower)
            for r in both:
                await boot(r.cp)
            assert await online_everywhere("SITE-L", a, b)
            assert await online_everywhere("SITE-F", a, b)
            # The fallback: 32 A shared by two idle EVSEs.
            assert await wait_until(lambda: all(r.fallback == 16.0 for r in both))
            txs = [await start(r.cp) for r in both]
            assert await wait_until(lambda: all(r.tx_limit == 16.0 for r in both))
            # Only the leader's engine runs.
            assert engine_of(leader.services).last
            assert not engine_of(follower.services).last

            # The limit changed through the follower's API: the leader runs,
            # and the answer comes once both stations have their profiles.
            r = await api_f.put(f"/api/v1/sites/{site}/limit", json={"max_current_a": 24.0})
            assert r.status_code == 200, r.text
            assert (on_leader.tx_limit, on_follower.tx_limit) == (12.0, 12.0)

            # The session at the follower's station ends: its input reaches
            # the leader, which raises the other station within 2 s.
            await on_follower.cp.call(
                "StopTransaction",
                {"transactionId": int(txs[1]), "meterStop": 1000, "timestamp": now_iso()},
            )
            assert await wait_until(lambda: on_leader.tx_limit == 24.0)
            assert not engine_of(follower.services).last

            # The station has its 24 A profile before Volta has stored its
            # answer: the leader stops once the confirmation is in the
            # database (under load it came after the stop in one CI run).
            async def confirmed() -> bool:
                async with follower.db.read() as conn:
                    row = (
                        await conn.execute(
                            sa.select(EvseAllocation.limit_a, EvseAllocation.status).where(
                                EvseAllocation.station_id == "SITE-L",
                                EvseAllocation.evse_id == 1,
                            )
                        )
                    ).first()
                return row is not None and (row.limit_a, row.status) == (24.0, "Accepted")

            assert await wait_until(confirmed)

            # The leader stops (its station, still charging, leaves with it).
            # The follower leads, recomputes from the database, and allocates
            # from now on: the station that left is counted at the 24 A it
            # confirmed, so a new session here gets what a 30 A limit leaves.
            await leader.stop()
            assert await the_leader(follower, timeout=15) is follower
            assert await wait_until(lambda: engine_of(follower.services).last)
            await start(on_follower.cp)
            r = await api_f.put(f"/api/v1/sites/{site}/limit", json={"max_current_a": 30.0})
            assert r.status_code == 200, r.text
            assert on_follower.tx_limit == 6.0


async def test_a_webhook_made_on_one_node_gets_the_next_event_of_another(nodes):
    """Each node keeps which event types webhooks want for a second; a
    webhook created through node a's API is told to node b at once, so the
    very next event b raises is delivered."""
    a = await nodes(node_id="a", **FAST)
    b = await nodes(node_id="b", **FAST)
    for sid in ("HK-1", "HK-2"):
        await register(a, sid)
    await visit(b, "HK-1")  # b has just read that no webhook wants anything
    async with api_of(a) as api, running_receiver() as receiver:
        r = await api.post("/api/v1/webhooks", json={"url": receiver.url})
        assert r.status_code == 201, r.text
        receiver.secret = r.json()["secret"]
        await asyncio.sleep(0.05)  # the NATS message's way
        await visit(b, "HK-2")
        assert await wait_until(lambda: len(receiver.accepted) >= 2)
        assert [(e["type"], e["data"]["station_id"]) for e in receiver.accepted] == [
            ("station.online", "HK-2"),
            ("station.offline", "HK-2"),
        ]


@pytest.mark.slow
async def test_a_killed_sender_s_webhook_is_resumed_after_its_lease(nats_server, tmp_path):
    """Two `volta serve` processes; the node holding the webhook's sender
    lease is killed (SIGKILL) while deliveries wait: the other node resumes
    them once the lease passed (three webhook timeouts: 3 s here), every
    event once, in order."""
    settings = {
        "webhook_allow_private_targets": True,
        "webhook_timeout": 1.0,
        "webhook_retry_base": 0.2,
        "webhook_max_attempts": 100,
    }
    async with pg_database() as url, running_receiver(fail_next=10**6) as receiver:
        a = NodeProcess(url, nats_server.url, "node-a", tmp_path, **settings)
        b = NodeProcess(url, nats_server.url, "node-b", tmp_path, **settings)
        try:
            await a.start()
            await b.start()
            async with a.client() as api:
                r = await api.post("/api/v1/webhooks", json={"url": receiver.url})
                assert r.status_code == 201, r.text
                receiver.secret = r.json()["secret"]
                for i in range(4):
                    r = await api.post("/api/v1/stations", json={"id": f"KW-{i}"})
                    assert r.status_code == 201, r.text
            # Events from stations on both nodes; the receiver refuses them.
            for i, node in enumerate((a, b, a, b)):
                async with websockets.connect(
                    node.ws_url(f"KW-{i}"),
                    subprotocols=["ocpp1.6"],  # type: ignore[list-item]
                ) as ws:
                    boot = {"chargePointVendor": "v", "chargePointModel": "m"}
                    await ws.send(orjson.dumps([2, "b1", "BootNotification", boot]).decode())
                    await ws.recv()
            assert await wait_until(lambda: receiver.refused >= 3)
            conn = await asyncpg.connect(url)
            try:
                holder = await conn.fetchval("SELECT dispatch_node FROM webhooks")
                assert holder in ("node-a", "node-b")
                killed, survivor = (a, b) if holder == "node-a" else (b, a)
                killed.kill()
                killed_at = time.monotonic()
                receiver.fail_next = 0

                async def all_delivered() -> bool:
                    ids = [r["id"] for r in await conn.fetch("SELECT id FROM events ORDER BY id")]
                    return bool(ids) and receiver.ids() == ids

                assert await wait_until(all_delivered, timeout=15, interval=0.2)
                took = time.monotonic() - killed_at
                assert not await wait_until(
                    lambda: len(receiver.accepted) > len(set(receiver.ids())), timeout=1.0
                )
                now_holder = await conn.fetchval("SELECT dispatch_node FROM webhooks")
            finally:
                await conn.close()
            assert now_holder == survivor.node_id
            assert took < 3.0 + 5.0, took  # the lease, then a poll or two
            delivery_ids = [h["x-volta-delivery-id"] for h in receiver.headers]
            assert len(delivery_ids) == len(set(delivery_ids))
            assert receiver.ids() == sorted(receiver.ids())
            assert {e["type"] for e in receiver.accepted} >= {"station.online"}
        finally:
            a.stop()
            b.stop()
