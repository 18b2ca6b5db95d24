"""The WebSocket gateway: authentication before the upgrade, subprotocol
negotiation, path prefixes, reconnection, dead-connection detection, TLS,
compression and concurrent handling of a station's CALLs."""

from __future__ import annotations

import asyncio
import base64
import os
import ssl
import time

import orjson
import pytest
import websockets
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory

from tests.conftest import TRANSPORTS
from tests.helpers import RawStation, basic_auth, connect, register, wait_until, ws_url
from volta.blocks.provisioning import service as provisioning
from volta.ocpp.versions import Version


@pytest.fixture(params=TRANSPORTS)
def transport(request: pytest.FixtureRequest) -> str:
    """Every test here runs on both WebSocket stacks."""
    return str(request.param)


async def status_of_refusal(url: str, **kw) -> int:
    with pytest.raises(InvalidStatus) as info:
        async with websockets.connect(url, open_timeout=5, **kw):
            pass
    return info.value.response.status_code


async def test_basic_auth_security_profile_1(volta):
    """Security profile 1: HTTP Basic, username = station id, checked before
    the upgrade; 401 with WWW-Authenticate on failure."""
    await register(volta, "SEC1", password="correct-horse-battery")
    url = ws_url(volta, "SEC1")
    proto = {"subprotocols": ["ocpp1.6"]}
    assert await status_of_refusal(url, **proto) == 401
    assert (
        await status_of_refusal(
            url, additional_headers=basic_auth("SEC1", "wrong-password"), **proto
        )
        == 401
    )
    assert (
        await status_of_refusal(
            url, additional_headers=basic_auth("OTHER", "correct-horse-battery"), **proto
        )
        == 401
    )
    assert (
        await status_of_refusal(url, additional_headers={"Authorization": "Basic !!!"}, **proto)
        == 401
    )
    with pytest.raises(InvalidStatus) as info:
        async with websockets.connect(url, **proto):
            pass
    assert info.value.response.headers["WWW-Authenticate"].startswith("Basic")
    async with connect(volta, "SEC1", "ocpp1.6", password="correct-horse-battery") as ws:
        r = await RawStation(ws).call("Heartbeat", {})
        assert r[0] == 3


async def test_password_is_stored_hashed(volta):
    await register(volta, "SEC2", password="plain-text-secret")
    row = await provisioning.find_station(volta.db, "SEC2")
    assert row["password_hash"].startswith("pbkdf2_sha256$")
    assert "plain-text-secret" not in row["password_hash"]


async def test_unknown_station_is_refused(volta):
    """Refused as a station without credentials is (401), not 404: the answer
    does not tell which ids exist (issue 12)."""
    assert await status_of_refusal(ws_url(volta, "NOBODY"), subprotocols=["ocpp1.6"]) == 401
    assert await provisioning.find_station(volta.db, "NOBODY") is None


class TestAutoRegistration:
    @pytest.fixture
    def volta_settings(self):
        # No rate limit here: the storm below brings 120 new stations at once
        # (the limits are tested in tests/test_gateway_abuse.py).
        return {
            "auto_register": True,
            "auto_register_status": "Pending",
            "auto_register_per_minute": 0,
            "auto_register_per_address_per_minute": 0,
        }

    async def test_unknown_station_is_registered_pending(self, volta):
        async with connect(volta, "NEW-1", "ocpp2.0.1") as ws:
            raw = RawStation(ws)
            r = await raw.call(
                "BootNotification",
                {"chargingStation": {"model": "m", "vendorName": "v"}, "reason": "PowerUp"},
            )
            assert r[2]["status"] == "Pending"
        row = await provisioning.find_station(volta.db, "NEW-1")
        assert row is not None and row["registration_status"] == "Pending"

    async def test_a_storm_of_new_stations_is_looked_up_in_a_few_queries(self, volta):
        """A restart brings every station back at once: their look-ups before
        the upgrade share `SELECT ... IN` queries (10,000 single look-ups
        queued past the stations' timeouts on PostgreSQL), and each one is
        registered once, however its connections race."""
        ids = [f"STORM-{i:03d}" for i in range(120)]
        lookups = 0
        original = volta.db.read

        def counting_read() -> object:
            nonlocal lookups
            lookups += 1
            return original()

        volta.db.read = counting_read  # type: ignore[method-assign]

        async def boot(station_id: str) -> str:
            # 120 handshakes at once: on a loaded CI machine some took over 5 s.
            async with connect(volta, station_id, "ocpp1.6", open_timeout=30) as ws:
                r = await RawStation(ws).call(
                    "BootNotification", {"chargePointVendor": "v", "chargePointModel": "m"}
                )
                return str(r[2]["status"])

        try:
            statuses = await asyncio.gather(*(boot(i) for i in ids))
        finally:
            volta.db.read = original  # type: ignore[method-assign]
        assert statuses == ["Pending"] * len(ids)
        # Two look-ups per new station (before and after registering it),
        # answered together: far fewer reads than stations.
        assert lookups < len(ids) / 2, lookups
        rows = await asyncio.gather(*(provisioning.find_station(volta.db, i) for i in ids))
        assert [r["id"] if r else None for r in rows] == ids


@pytest.mark.parametrize("prefix", ["", "/ocpp", "/ocpp/v16/site-a"])
async def test_path_prefix_is_allowed(volta, prefix):
    await register(volta, "PFX")
    async with websockets.connect(
        ws_url(volta, "PFX", prefix=prefix), subprotocols=["ocpp1.6"]
    ) as ws:
        assert (await RawStation(ws).call("Heartbeat", {}))[0] == 3
        assert volta.router.version_of("PFX") is Version.V16
    assert await wait_until(lambda: volta.router.version_of("PFX") is None)


async def test_station_id_is_percent_decoded(volta):
    """An encoded character the id rule allows is the character (RFC 3986
    §6.2.2.2); tests/test_station_ids.py has the ones it does not."""
    await register(volta, "CP-7")
    async with websockets.connect(ws_url(volta, "CP%2D7"), subprotocols=["ocpp1.6"]) as ws:
        assert (await RawStation(ws).call("Heartbeat", {}))[0] == 3


@pytest.mark.parametrize(
    ("offered", "chosen"),
    [
        (["ocpp2.0.1", "ocpp1.6"], "ocpp2.0.1"),
        (["ocpp1.6", "ocpp2.0.1"], "ocpp1.6"),
        (["ocpp1.5", "ocpp1.6"], "ocpp1.6"),
    ],
)
async def test_subprotocol_follows_client_order(volta, offered, chosen):
    """OCPP-J 2.0.1 §3.1.2: the client lists the versions it supports in order
    of preference; the server picks the first it supports."""
    await register(volta, "SP")
    async with websockets.connect(ws_url(volta, "SP"), subprotocols=offered) as ws:
        assert ws.subprotocol == chosen
        await RawStation(ws).call("Heartbeat", {})
        assert volta.router.version_of("SP") == Version(chosen)


async def test_unsupported_subprotocol_is_refused(volta):
    await register(volta, "SP2")
    assert await status_of_refusal(ws_url(volta, "SP2"), subprotocols=["ocpp1.5"]) == 400


async def test_no_subprotocol_falls_back_to_default(volta):
    """Some 1.6 firmwares send no Sec-WebSocket-Protocol at all."""
    await register(volta, "SP3")
    async with websockets.connect(ws_url(volta, "SP3")) as ws:
        assert ws.subprotocol is None
        r = await RawStation(ws).call(
            "BootNotification", {"chargePointVendor": "v", "chargePointModel": "m"}
        )
        assert r[2]["status"] == "Accepted"
    assert (await provisioning.find_station(volta.db, "SP3"))["protocol"] == "ocpp1.6"


async def test_reconnect_replaces_old_connection(volta, api):
    """The newest connection wins; the old one is closed and its close does
    not unregister the new one."""
    await register(volta, "RC")
    async with connect(volta, "RC", "ocpp1.6") as old, connect(volta, "RC", "ocpp2.0.1") as new:
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(old.recv(), 5)
        assert old.close_code == 1000
        await asyncio.sleep(0.2)  # let the old handler finish its cleanup
        assert volta.router.version_of("RC") is Version.V201

        # The new connection is recorded in the background, through the
        # station's write queue (under load it took longer than the old one's
        # cleanup in one CI run, and longer than 10 s in another).
        async def recorded() -> bool:
            body = (await api.get("/api/v1/stations/RC")).json()
            return bool(body["online"] is True and body["protocol"] == "ocpp2.0.1")

        assert await wait_until(recorded, timeout=30)
        # Commands reach the new connection.
        task = asyncio.create_task(api.post("/api/v1/stations/RC/commands/ClearCache", json={}))
        frame = orjson.loads(await asyncio.wait_for(new.recv(), 5))
        assert frame[2] == "ClearCache"
        await new.send(orjson.dumps([3, frame[1], {"status": "Accepted"}]).decode())
        assert (await task).json()["status"] == "accepted"
    assert await wait_until(lambda: volta.router.version_of("RC") is None)


def _delay_online_record(monkeypatch: pytest.MonkeyPatch, protocol: str) -> asyncio.Event:
    """The station.online record of a `protocol` connection is held back 0.5 s
    while it is prepared (as a slow read of the webhooks' wishes did under
    load); the event is set once it is ready to join the write queue."""
    from volta.events import service as events

    real = events.event_rows
    ready = asyncio.Event()

    async def slow(db, type_, **data):  # type: ignore[no-untyped-def]
        if type_ == "station.online" and data.get("protocol") == protocol:
            await asyncio.sleep(0.5)
            rows = await real(db, type_, **data)
            ready.set()
            return rows
        return await real(db, type_, **data)

    monkeypatch.setattr(events, "event_rows", slow)
    return ready


async def test_a_replaced_connections_late_record_does_not_overwrite_the_new_one(
    volta, api, monkeypatch
):
    """The old connection's record, prepared while the new connection came
    and recorded itself, is dropped: the station stays recorded on the new
    connection, with its protocol (a CI run saw the old protocol for good)."""
    await register(volta, "RC2")
    ready = _delay_online_record(monkeypatch, "ocpp1.6")
    async with connect(volta, "RC2", "ocpp1.6") as old, connect(volta, "RC2", "ocpp2.0.1"):
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(old.recv(), 10)
        await asyncio.wait_for(ready.wait(), 10)
        async with volta.db.write("RC2"):  # behind anything queued for RC2
            pass
        body = (await api.get("/api/v1/stations/RC2")).json()
        assert body["online"] is True
        assert body["protocol"] == "ocpp2.0.1"
        assert volta.router.version_of("RC2") is Version.V201

    # The new connection's close records the station offline.
    async def offline() -> bool:
        return (await api.get("/api/v1/stations/RC2")).json()["online"] is False

    assert await wait_until(offline)


class TestDeadConnection:
    @pytest.fixture
    def volta_settings(self):
        return {"ping_interval": 0.3, "ping_timeout": 0.3}

    async def test_silent_peer_is_dropped_within_ping_timeout(self, volta, api):
        """A station whose TCP connection died without a close frame stops
        answering pings; it is marked offline within interval + timeout."""
        await register(volta, "DEAD")
        reader, writer = await asyncio.open_connection("127.0.0.1", volta.ocpp_port)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            (
                "GET /ocpp/DEAD HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ocpp1.6\r\n\r\n"
            ).encode()
        )
        status_line = await asyncio.wait_for(reader.readline(), 5)
        assert b"101" in status_line
        assert await wait_until(lambda: volta.router.version_of("DEAD") is not None)
        started = time.monotonic()
        assert await wait_until(lambda: volta.router.version_of("DEAD") is None)
        # ping interval 0.3 s + pong timeout 0.3 s + close timeout 0.3 s, with
        # slack for a loaded CI machine (4.9 s seen with three workers on two
        # cores); nothing else drops a silent peer this soon (no ping: never).
        assert time.monotonic() - started < 6.0
        assert (await api.get("/api/v1/stations/DEAD")).json()["online"] is False
        writer.close()


async def test_calls_are_answered_concurrently(volta):
    """A slow handler does not hold up the station's next CALL."""
    release = asyncio.Event()
    handlers = volta.services.handlers.handlers
    original = handlers[(Version.V16, "DataTransfer")]

    async def slow(ctx, payload):
        await asyncio.wait_for(release.wait(), 5)
        return {"status": "Accepted"}

    handlers[(Version.V16, "DataTransfer")] = slow
    try:
        await register(volta, "CC")
        async with connect(volta, "CC", "ocpp1.6") as ws:
            raw = RawStation(ws)
            await raw.send(orjson.dumps([2, "slow", "DataTransfer", {"vendorId": "x"}]).decode())
            await raw.send(orjson.dumps([2, "fast", "Heartbeat", {}]).decode())
            first = await raw.recv()
            assert first[1] == "fast"
            release.set()
            second = await raw.recv()
            assert second[1] == "slow" and second[2] == {"status": "Accepted"}
    finally:
        handlers[(Version.V16, "DataTransfer")] = original


async def test_permessage_deflate_is_negotiated(volta):
    """RFC 7692 compression, which OCPP-J 2.0.1 §5.3 asks the CSMS to support."""
    await register(volta, "ZIP")
    async with websockets.connect(
        ws_url(volta, "ZIP"), subprotocols=["ocpp2.0.1"], compression="deflate"
    ) as ws:
        assert "permessage-deflate" in ws.response.headers.get("Sec-WebSocket-Extensions", "")
        r = await RawStation(ws).call("Heartbeat", {})
        assert r[0] == 3


class TestTls:
    @pytest.fixture
    def volta_settings(self, certificate):
        return {"tls_cert": str(certificate[0]), "tls_key": str(certificate[1])}

    async def test_security_profile_2_over_tls(self, volta, certificate):
        """Profile 2: TLS with Basic auth."""
        await register(volta, "TLS1", password="tls-station-password")
        context = ssl.create_default_context(cafile=str(certificate[0]))
        url = f"wss://127.0.0.1:{volta.ocpp_port}/ocpp/TLS1"
        async with websockets.connect(
            url,
            ssl=context,
            subprotocols=["ocpp2.0.1"],
            additional_headers=basic_auth("TLS1", "tls-station-password"),
        ) as ws:
            assert (await RawStation(ws).call("Heartbeat", {}))[0] == 3
        with pytest.raises((OSError, InvalidHandshake, ConnectionClosed)):
            async with websockets.connect(
                f"ws://127.0.0.1:{volta.ocpp_port}/ocpp/TLS1", open_timeout=2
            ):
                pass


async def test_reconnect_reuses_verified_password_but_not_a_wrong_one(volta, monkeypatch):
    """A reconnecting station skips the PBKDF2 check (cheap reconnect storms);
    a wrong password, or a password changed by the operator, is still checked."""
    import volta.gateway.handshake as server_module

    calls: list[str] = []
    real = server_module.verify_password

    def counting(password: str, stored: str) -> bool:
        calls.append(password)
        return real(password, stored)

    monkeypatch.setattr(server_module, "verify_password", counting)
    await register(volta, "CACHE1", password="first-password-1")
    for _ in range(3):
        async with connect(volta, "CACHE1", "ocpp1.6", password="first-password-1") as ws:
            assert (await RawStation(ws).call("Heartbeat", {}))[0] == 3
    assert calls == ["first-password-1"]
    url = ws_url(volta, "CACHE1")
    wrong = basic_auth("CACHE1", "not-the-password")
    assert await status_of_refusal(url, additional_headers=wrong, subprotocols=["ocpp1.6"]) == 401
    await provisioning.update_station(volta.db, "CACHE1", password="second-password-2")
    old = basic_auth("CACHE1", "first-password-1")
    assert await status_of_refusal(url, additional_headers=old, subprotocols=["ocpp1.6"]) == 401
    async with connect(volta, "CACHE1", "ocpp1.6", password="second-password-2") as ws:
        assert (await RawStation(ws).call("Heartbeat", {}))[0] == 3


async def test_transport_setting_selects_the_stack(volta, transport):
    """The parametrization is real: the picows runs go through picows."""
    assert volta.settings.transport == transport
    assert (volta.gateway._picows is not None) == (transport == "picows")


W12 = "server_max_window_bits=12; client_max_window_bits=12"


@pytest.mark.parametrize(
    ("offer", "answer"),
    [
        ({}, f"permessage-deflate; {W12}"),
        (
            {"client_no_context_takeover": True, "server_no_context_takeover": True},
            f"permessage-deflate; server_no_context_takeover; client_no_context_takeover; {W12}",
        ),
        (
            {"client_max_window_bits": 10, "server_max_window_bits": 11},
            "permessage-deflate; server_max_window_bits=11; client_max_window_bits=10",
        ),
    ],
    ids=["context-takeover", "no-context-takeover", "window-bits"],
)
async def test_permessage_deflate_parameters_and_round_trips(volta, offer, answer):
    """RFC 7692 §7.1: the answer honours the offer's context-takeover and
    window-bits parameters; several messages round-trip (with context
    takeover the second depends on the first), and a large one too."""
    await register(volta, "ZIP2")
    factory = ClientPerMessageDeflateFactory(**offer)
    async with websockets.connect(
        ws_url(volta, "ZIP2"), subprotocols=["ocpp1.6"], compression=None, extensions=[factory]
    ) as ws:
        # Both transports answer exactly as websockets' server does.
        assert ws.response.headers.get("Sec-WebSocket-Extensions") == answer
        station = RawStation(ws)
        for _ in range(3):
            r = await station.call("Heartbeat", {})
            assert r[0] == 3 and "currentTime" in r[2]
        r = await station.call("DataTransfer", {"vendorId": "x", "data": "abc" * 100_000})
        assert r[0] == 3 and r[2]["status"] in ("Accepted", "UnknownVendorId")
        assert (await station.call("Heartbeat", {}))[0] == 3


async def test_compressed_message_inflating_past_the_limit_closes_1009(volta):
    """A small compressed frame that inflates past 1 MiB (a zip bomb) is
    refused like an oversized one."""
    await register(volta, "BOMB")
    async with websockets.connect(
        ws_url(volta, "BOMB"), subprotocols=["ocpp1.6"], compression="deflate", max_size=None
    ) as ws:
        bomb = {"vendorId": "y" * 2_000_000}
        await ws.send(orjson.dumps([2, "b", "DataTransfer", bomb]).decode())
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5)
        assert ws.close_code == 1009


async def test_fragmented_message_is_joined(volta):
    """RFC 6455 §5.4: a message may come in several frames."""
    await register(volta, "FRAG")
    async with connect(volta, "FRAG", "ocpp1.6") as ws:
        text = orjson.dumps([2, "f1", "Heartbeat", {}]).decode()
        await ws.send(iter([text[:3], text[3:9], text[9:]]))
        answer = orjson.loads(await asyncio.wait_for(ws.recv(), 5))
        assert answer[:2] == [3, "f1"]


async def test_unknown_transport_is_refused_at_start(database):
    from tests.conftest import make_settings
    from volta.app import Volta

    with pytest.raises(ValueError, match="transport"):
        Volta(make_settings(database, transport="tornado"), db_schema=database.schema)


async def test_failing_upgrade_check_answers_500(volta, monkeypatch):
    """A check that raises (the database down, say) answers 500 at once on
    either transport, rather than leaving the station waiting."""

    async def broken(path: str, headers: object) -> None:
        raise RuntimeError("database unavailable")

    monkeypatch.setattr(volta.gateway.admitter, "admit", broken)
    assert await status_of_refusal(ws_url(volta, "ANY"), subprotocols=["ocpp1.6"]) == 500
