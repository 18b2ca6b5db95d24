"""The live event stream with several writers (docs/events.md, docs/scale-out.md):
the SSE stream of any node carries every event, whichever node wrote it, and
an event whose transaction commits after a later id's is not skipped."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import httpx
import orjson

from tests.conftest import API_TOKEN
from tests.helpers import register, station, wait_until
from volta.app import Volta
from volta.events import service as events


async def read_stream(
    volta: Volta, got: list[dict[str, Any]], ready: asyncio.Event, **params: Any
) -> None:
    async with (
        httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{volta.api_port}",
            headers={"Authorization": f"Bearer {API_TOKEN}"},
            timeout=30,
        ) as client,
        client.stream("GET", "/api/v1/events/stream", params=params) as resp,
    ):
        fields: dict[str, str] = {}
        ready.set()
        async for line in resp.aiter_lines():
            if line == "":
                if "data" in fields:
                    got.append(orjson.loads(fields["data"]))
                fields.clear()
            elif not line.startswith(":") and ":" in line:
                key, value = line.split(":", 1)
                fields[key] = value.strip()


@contextlib.asynccontextmanager
async def streaming(volta: Volta, **params: Any):  # type: ignore[no-untyped-def]
    got: list[dict[str, Any]] = []
    ready = asyncio.Event()
    task = asyncio.create_task(read_stream(volta, got, ready, **params))
    await asyncio.wait_for(ready.wait(), 10)
    await asyncio.sleep(0.3)  # the stream's first look for events has run
    try:
        yield got
    finally:
        task.cancel()
        with contextlib.suppress(BaseException):
            await task


async def test_the_stream_of_any_node_carries_events_of_stations_on_the_others(nodes) -> None:
    a = await nodes("node-a")
    b = await nodes("node-b")
    await register(a, "SSE-1")
    async with streaming(b, type="station.online") as got, station(a, "SSE-1"):
        assert await wait_until(
            lambda: any(e["data"]["station_id"] == "SSE-1" for e in got), timeout=5
        )


async def test_an_event_committed_after_a_later_one_is_still_streamed(nodes) -> None:
    a = await nodes("node-a")
    async with streaming(a) as got:
        # Writer 1 takes its event id first and commits last.
        hold = asyncio.Event()
        first_written = asyncio.Event()

        async def slow_writer() -> int:
            async with a.db.write() as conn:
                event_id = await events.emit(conn, "fault.reported", station_id="SLOW")
                first_written.set()
                await hold.wait()
            return event_id

        slow = asyncio.create_task(slow_writer())
        await first_written.wait()
        # A write on another connection (as another node's would be).
        from volta.store.db import Database

        other = Database(a.settings.database_url, schema=a.db.schema)
        try:
            async with other.write() as conn:
                later = await events.emit(conn, "fault.reported", station_id="FAST")
        finally:
            await other.close()
        assert await wait_until(lambda: any(e["id"] == later for e in got))
        hold.set()
        earlier = await slow
        assert earlier < later
        assert await wait_until(lambda: any(e["id"] == earlier for e in got))
