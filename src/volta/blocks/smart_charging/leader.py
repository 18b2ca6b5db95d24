"""The site allocator runs on the leader only (docs/smart-charging.md,
"Several nodes").

The engine keeps live per-EVSE state (draws, suspension, the transactions
of the last run) and coalesces runs per tree: two nodes allocating one site
would each send profiles from half the picture. So with several nodes only
the leader's engine allocates:

- the hooks (hooks.py) run on the node holding the station; there they
  answer `managed()` from the local cached tree (no I/O, as before) and,
  when this node does not lead, forward their input (the hook's name, the
  station, the request and the answer) with `node.to_leader(TOPIC, ...)`;
  the leader's listener runs the same hook on its engine;
- the API's site routes (api/sites.py) make the leader recompute through
  the same topic and wait for its "done" (published to every node) before
  they answer, as on one node; a change of the tree is told to every node,
  whose cached tree answers `managed()`;
- the leader sends profiles through `services.router.call`, which reaches
  the node holding the station;
- a node that becomes the leader runs `run_all()` (allocation recomputed
  from the database, only differences sent); one that stops leading drops
  its live state and schedules nothing more.

With SoloNode (one process) `is_leader()` is always true: every input is a
direct call, nothing is serialised.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
import weakref
from typing import Any

from volta.blocks.smart_charging import sites as site_store
from volta.blocks.smart_charging.engine import Engine, engine_of
from volta.ocpp.versions import Version
from volta.services import CallContext, FollowUp, Services, StationState

log = logging.getLogger(__name__)

# To the leader: a hook's input, or an API operation.
TOPIC = "smart_charging"
# To every node: the tree changed (forget the cached one); an operation ran.
TREE_TOPIC = "smart_charging.tree"
DONE_TOPIC = "smart_charging.done"

# Hooks by name, as the leader runs them (filled by `leader_hook`).
HOOKS: dict[str, FollowUp] = {}


def leader_hook(fn: FollowUp) -> FollowUp:
    """Make `fn` a follow-up that runs on the leader: called directly there
    (and on one node), forwarded from any other node."""
    name = fn.__name__
    HOOKS[name] = fn

    async def follow_up(
        ctx: CallContext, request: dict[str, Any], response: dict[str, Any]
    ) -> None:
        if ctx.services.node.is_leader():
            await fn(ctx, request, response)
            return
        # Only what the leader would act on goes to it: the cached tree is
        # read again here when due (the leader's hooks do so on their own).
        engine = engine_of(ctx.services)
        await engine.sites()
        if engine.wants(ctx.station_id):
            await forward(ctx, name, request, response)

    follow_up.__name__ = follow_up.__qualname__ = name
    follow_up.__doc__ = fn.__doc__
    return follow_up


async def forward(
    ctx: CallContext, hook: str, request: dict[str, Any], response: dict[str, Any]
) -> None:
    """Hand a hook's input to the leader's engine."""
    await ctx.services.node.to_leader(
        TOPIC,
        {
            "op": "hook",
            "hook": hook,
            "station_id": ctx.station_id,
            "version": ctx.version.value,
            "request": request,
            "response": response,
        },
    )


# -- the API's operations --------------------------------------------------------


class _Waiting:
    """The API's operations this node handed to the leader, by reply token."""

    def __init__(self) -> None:
        self.replies: dict[str, asyncio.Future[None]] = {}


_waiting: weakref.WeakKeyDictionary[Any, _Waiting] = weakref.WeakKeyDictionary()


def _waiting_of(services: Services) -> _Waiting:
    found = _waiting.get(services.db)
    if found is None:
        found = _waiting[services.db] = _Waiting()
    return found


async def tree_changed(services: Services) -> None:
    """The tree or a placement changed (API): every node's engine reads it
    again before it next answers `managed()` or runs."""
    engine_of(services).tree_changed()
    if services.node.clustered:
        await services.node.publish(TREE_TOPIC, {})


async def recompute(services: Services, *site_ids: int | None) -> None:
    """Run the trees of these sites now (their roots, once each), on the
    leader; returns once it ran (or after a bounded wait)."""
    await _on_leader(services, {"op": "recompute", "sites": [s for s in site_ids if s]})


async def placed(
    services: Services, station_id: str, before: int | None, site_id: int | None
) -> None:
    """A station was hung from `site_id` (from `before`): its fallback and
    profiles are sent again, those of the site it left cleared, both trees
    recomputed, on the leader."""
    await _on_leader(
        services, {"op": "placed", "station_id": station_id, "before": before, "site": site_id}
    )


async def touch(services: Services, station_id: str) -> None:
    """Something of the station changed (an EVSE's priority): recompute soon."""
    await _on_leader(services, {"op": "touch", "station_id": station_id}, wait=False)


async def _on_leader(services: Services, data: dict[str, Any], *, wait: bool = True) -> None:
    node = services.node
    if node.is_leader():
        await _apply(services, engine_of(services), data)
        return
    if not wait:
        await node.to_leader(TOPIC, data)
        return
    token = uuid.uuid4().hex
    waiting = _waiting_of(services)
    reply = waiting.replies[token] = asyncio.get_running_loop().create_future()
    try:
        await node.to_leader(TOPIC, {**data, "reply": token})
        # (a run lowers, then raises: two rounds of sends at most)
        async with asyncio.timeout(2 * services.settings.call_timeout + 5.0):
            await reply
    except TimeoutError:
        log.warning("the leader did not confirm %s in time; answering with what is stored", data)
    finally:
        waiting.replies.pop(token, None)


async def _apply(services: Services, engine: Engine, data: dict[str, Any]) -> None:
    """Run one input on this node's (the leader's) engine."""
    op = data["op"]
    if op == "hook":
        fn = HOOKS.get(data["hook"])
        if fn is None:
            log.warning("unknown smart charging hook %r from another node", data["hook"])
            return
        ctx = CallContext(services, StationState(data["station_id"]), Version(data["version"]))
        await fn(ctx, data["request"], data["response"])
    elif op == "recompute":
        engine.tree_changed()
        await _run(engine, *data["sites"])
    elif op == "placed":
        station_id, before, site_id = data["station_id"], data["before"], data["site"]
        engine.station_moved(station_id)
        if before is not None and before != site_id:
            await engine.left_site(station_id)
        await _run(engine, before, site_id)
    elif op == "touch":
        await engine.touch(data["station_id"])
    else:
        log.warning("unknown smart charging operation %r from another node", op)


async def _run(engine: Engine, *site_ids: int | None) -> None:
    sites = await engine.sites()
    roots = {site_store.root_of(sites, s) for s in site_ids if s is not None and s in sites}
    for root in sorted(roots):
        await engine.run(root)


def register(services: Services) -> None:
    """The listeners and the leadership callback (volta.housekeeping's
    register_cluster_callbacks), and the first run if this node leads."""
    node = services.node
    engine = engine_of(services)

    # A station's inputs build on each other (a session's start forgets the
    # draw its meter values then set): one at a time per station, in the
    # order they came (the node runs each message's listener in a task of
    # its own, started in order; asyncio.Lock wakes its waiters in order).
    order: dict[str, list[Any]] = {}  # station -> [lock, inputs holding or waiting]

    async def from_a_node(data: dict[str, Any]) -> None:
        if not node.is_leader():
            return  # leadership moved while it was on its way: the new leader recomputes
        if data.get("op") != "hook":
            services.spawn(_answer(services, engine, data), name=f"smart charging {data['op']}")
            return
        station_id = data["station_id"]
        entry = order.setdefault(station_id, [asyncio.Lock(), 0])
        entry[1] += 1
        try:
            async with entry[0]:
                await _apply(services, engine, data)
        finally:
            entry[1] -= 1
            if not entry[1]:
                del order[station_id]

    async def tree(_: dict[str, Any]) -> None:
        engine.tree_changed()

    async def done(data: dict[str, Any]) -> None:
        reply = _waiting_of(services).replies.get(data.get("reply", ""))
        if reply is not None and not reply.done():
            reply.set_result(None)

    async def leadership(leading: bool) -> None:
        if leading:
            engine.tree_changed()
            services.spawn(engine.run_all(), name="allocate sites")
        else:
            engine.stand_down()

    node.listen(TOPIC, from_a_node, leader_only=True)
    node.listen(TREE_TOPIC, tree)
    node.listen(DONE_TOPIC, done)
    node.on_leadership(leadership)
    if node.is_leader():
        # The allocation survives a restart: recompute, send only differences.
        services.spawn(engine.run_all(), name="allocate sites")


async def _answer(services: Services, engine: Engine, data: dict[str, Any]) -> None:
    try:
        await _apply(services, engine, data)
    finally:
        if data.get("reply"):
            await services.node.publish(DONE_TOPIC, {"reply": data["reply"]})
