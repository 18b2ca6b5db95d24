"""The picows adapter's flow control, without a network: what a slow or a
flooding station does to `PicowsStation` (the end-to-end behaviour is in
tests/test_gateway.py and tests/faults/, run on both transports)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from picows import WSCloseCode, WSMsgType
from picows.picows import _make_test_ws_frame

from volta.gateway.handshake import Admission
from volta.gateway.picows_server import MAX_QUEUE, PicowsStation
from volta.gateway.transport import TransportClosed
from volta.ocpp.versions import Version


class FakeSocket:
    def __init__(self) -> None:
        self.reading = True

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True


class FakeTransport:
    """The part of picows' WSTransport the adapter uses."""

    def __init__(self) -> None:
        self.underlying_transport = FakeSocket()
        self.sent: list[tuple[WSMsgType, bytes]] = []
        self.is_close_frame_sent = False
        self.is_disconnected = False

    def send(self, kind: WSMsgType, data: bytes, rsv1: bool = False) -> None:
        self.sent.append((kind, data))

    def send_close(self, code: WSCloseCode, reason: bytes = b"") -> None:
        self.is_close_frame_sent = True

    def disconnect(self, graceful: bool = True) -> None:
        self.is_disconnected = True


class FakeServer:
    close_timeout = 0.1

    def started(self, station: PicowsStation) -> None:
        pass


def text_frame(text: str) -> Any:
    return _make_test_ws_frame(WSMsgType.TEXT, text.encode(), True, False)


@pytest.fixture
async def station() -> tuple[PicowsStation, FakeTransport]:
    admission = Admission({"id": "CP1"}, Version.V16)
    listener = PicowsStation(FakeServer(), admission, Version.V16, None, None)  # type: ignore[arg-type]
    transport = FakeTransport()
    listener.on_ws_connected(transport)  # type: ignore[arg-type]
    return listener, transport


async def test_a_flood_of_messages_pauses_reading_until_they_are_taken(station):
    """The receive queue is bounded: past MAX_QUEUE unread messages the socket
    stops being read (the station waits on its TCP window)."""
    listener, transport = station
    for i in range(MAX_QUEUE):
        listener.on_ws_frame(transport, text_frame(f'[2,"{i}","Heartbeat",{{}}]'))
    assert transport.underlying_transport.reading is False
    messages = aiter(listener)
    taken = [await anext(messages) for _ in range(MAX_QUEUE - MAX_QUEUE // 4)]
    assert taken[0] == '[2,"0","Heartbeat",{}]'
    assert transport.underlying_transport.reading is True


async def test_send_waits_while_the_write_buffer_is_full(station):
    """Back-pressure: between pause_writing and resume_writing nothing more is
    written, so a station that stops reading cannot grow our buffer."""
    listener, transport = station
    listener.pause_writing()
    sending = asyncio.create_task(listener.send('[3,"a",{}]'))
    await asyncio.sleep(0.01)
    assert not sending.done() and transport.sent == []
    listener.resume_writing()
    await asyncio.wait_for(sending, 1)
    assert transport.sent == [(WSMsgType.TEXT, b'[3,"a",{}]')]


async def test_send_waiting_on_a_full_buffer_fails_when_the_connection_drops(station):
    listener, transport = station
    listener.pause_writing()
    sending = asyncio.create_task(listener.send('[3,"a",{}]'))
    await asyncio.sleep(0.01)
    listener.on_ws_disconnected(transport)  # type: ignore[arg-type]
    with pytest.raises(TransportClosed):
        await asyncio.wait_for(sending, 1)
    assert transport.sent == []


async def test_messages_end_when_the_connection_closes(station):
    listener, transport = station
    listener.on_ws_frame(transport, text_frame('[2,"x","Heartbeat",{}]'))
    listener.on_ws_disconnected(transport)  # type: ignore[arg-type]
    assert [m async for m in listener] == ['[2,"x","Heartbeat",{}]']
    assert listener.close_code == 1006
