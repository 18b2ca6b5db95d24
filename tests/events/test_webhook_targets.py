"""Webhooks reach public addresses only, unless the operator allows more
(server-side request forgery): refused when a webhook is created or changed,
and again when the dispatcher connects (a name that resolves elsewhere later,
DNS rebinding, gets nowhere). What the delivery log tells an API client does
not tell an open port from a closed one."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import ssl
import subprocess
from collections.abc import AsyncIterator

import httpx
import pytest
import uvicorn
from ocpp.v16 import call as call16

from tests.events.receiver import running_receiver
from tests.helpers import register, station, wait_until
from volta.app import Volta
from volta.config import Settings
from volta.events import targets

INTERNAL = [
    # loopback, also spelled as the resolver reads it
    "http://127.0.0.1:8080/hook",
    "https://127.1:8080/hook",
    "https://2130706433/hook",
    "http://localhost:8080/hook",
    "https://LOCALHOST./hook",
    "https://hooks.localhost/hook",
    "http://[::1]:8080/hook",
    "https://[::ffff:127.0.0.1]/hook",
    # private networks
    "https://10.0.0.5/hook",
    "https://172.16.0.1/hook",
    "https://172.31.255.254/hook",
    "https://192.168.1.10/hook",
    "https://[fc00::1]/hook",
    "https://[fd12:3456::1]/hook",
    "https://100.64.0.1/hook",  # shared address space (carrier-grade NAT)
    # link-local, cloud metadata
    "https://169.254.169.254/latest/meta-data/",
    "https://[fe80::1]/hook",
    "https://metadata.google.internal/computeMetadata/v1/",
    "https://metadata/hook",
    # unspecified, multicast, reserved; NAT64 of a private address
    "https://0.0.0.0/hook",
    "https://[::]/hook",
    "https://224.0.0.1/hook",
    "https://[ff02::1]/hook",
    "https://240.0.0.1/hook",
    "https://[64:ff9b::a00:1]/hook",
]


@pytest.fixture
def volta_settings():
    return {"webhook_retry_base": 0.2, "housekeeping_interval": 0.2}


async def test_internal_targets_are_refused_at_creation(volta, api):
    for url in INTERNAL:
        resp = await api.post("/api/v1/webhooks", json={"url": url})
        assert resp.status_code == 422, (url, resp.text)
        detail = resp.json()["detail"]  # docs/api.md: {"detail": "..."}
        assert isinstance(detail, str), (url, detail)
        assert "url must reach a public address" in detail, (url, detail)
        assert "webhook_allow_private_targets" in detail, (url, detail)
    assert (await api.get("/api/v1/webhooks")).json() == []

    # A public address is accepted, and cannot be changed into an internal one.
    resp = await api.post("/api/v1/webhooks", json={"url": "https://93.184.216.34/hook"})
    assert resp.status_code == 201, resp.text
    hook = resp.json()
    for url in ("https://169.254.169.254/", "https://10.1.2.3/", "https://[::1]/"):
        resp = await api.patch(f"/api/v1/webhooks/{hook['id']}", json={"url": url})
        assert resp.status_code == 422, (url, resp.text)
        assert "public address" in resp.json()["detail"]
    assert (await api.get(f"/api/v1/webhooks/{hook['id']}")).json()["url"] == (
        "https://93.184.216.34/hook"
    )


class FakeDns:
    """An in-process resolver: names map to what the test says, now."""

    def __init__(self) -> None:
        self.names: dict[str, list[str]] = {}
        self.asked: list[str] = []

    async def resolve(self, host: str, port: int) -> list[targets.IPAddress]:
        self.asked.append(host)
        if host not in self.names:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [ipaddress.ip_address(a) for a in self.names[host]]


@pytest.fixture
def dns(monkeypatch) -> FakeDns:
    fake = FakeDns()
    monkeypatch.setattr(targets, "resolve", fake.resolve)
    return fake


async def deliveries(api, hook_id: int) -> list[dict]:
    return (await api.get(f"/api/v1/webhooks/{hook_id}/deliveries")).json()


async def test_a_name_rebound_to_loopback_is_refused_at_delivery(volta, api, dns):
    """The name resolved to a public address when the webhook was made, and
    to 127.0.0.1 (where a receiver listens) when the event goes out."""
    volta.services.settings.allow_http_webhooks = True
    await register(volta, "SSRF-1")
    async with running_receiver() as receiver:
        name = "hooks.rebind.test"
        dns.names[name] = ["93.184.216.34"]
        resp = await api.post(
            "/api/v1/webhooks", json={"url": f"http://{name}:{receiver.port}/hook"}
        )
        assert resp.status_code == 201, resp.text
        hook = resp.json()
        receiver.secret = hook["secret"]
        dns.names[name] = ["127.0.0.1"]  # rebound
        async with station(volta, "SSRF-1") as cp:
            await cp.call(call16.BootNotification(charge_point_vendor="v", charge_point_model="m"))

        async def refused() -> bool:
            log = await deliveries(api, hook["id"])
            return any(d["attempts"] >= 1 for d in log)

        assert await wait_until(refused)
        # (the first event is retried; the later ones wait for it, in order)
        log = [d for d in await deliveries(api, hook["id"]) if d["attempts"]]
        assert {d["last_error"] for d in log} == {"target address not allowed"}
        assert {d["last_status_code"] for d in log} == {None}

        # A mixed answer (one public, one loopback) is refused as a whole.
        dns.names[name] = ["93.184.216.34", "127.0.0.1"]
        attempts = sum(d["attempts"] for d in await deliveries(api, hook["id"]))

        async def retried() -> bool:
            return sum(d["attempts"] for d in await deliveries(api, hook["id"])) > attempts

        assert await wait_until(retried)
        log = [d for d in await deliveries(api, hook["id"]) if d["attempts"]]
        assert {d["last_error"] for d in log} == {"target address not allowed"}
        assert receiver.accepted == [] and receiver.refused == 0  # nothing got through

        # With internal targets allowed, the same name reaches the receiver:
        # Volta connects to the address it checked, the Host header keeps the name.
        volta.services.settings.webhook_allow_private_targets = True
        dns.names[name] = ["127.0.0.1"]
        assert await wait_until(lambda: len(receiver.accepted) >= 2)
        assert receiver.bad_signatures == 0
        assert receiver.headers[0]["host"] == f"{name}:{receiver.port}"
        assert [e["type"] for e in receiver.accepted[:2]] == ["station.online", "station.offline"]


async def test_allowed_networks_let_a_chosen_network_through(volta, api, dns):
    """webhook_allowed_networks opens one network without opening them all."""
    volta.services.settings.webhook_allowed_networks = "127.0.0.0/8"
    await register(volta, "SSRF-2")
    async with running_receiver() as receiver:
        resp = await api.post("/api/v1/webhooks", json={"url": receiver.url})
        assert resp.status_code == 201, resp.text
        receiver.secret = resp.json()["secret"]
        for url in ("https://10.0.0.1/h", "https://169.254.169.254/", "http://[::1]:8/h"):
            resp = await api.post("/api/v1/webhooks", json={"url": url})
            assert resp.status_code == 422, (url, resp.text)
        async with station(volta, "SSRF-2") as cp:
            await cp.call(call16.BootNotification(charge_point_vendor="v", charge_point_model="m"))
        assert await wait_until(lambda: len(receiver.accepted) >= 2)
        assert receiver.bad_signatures == 0


@contextlib.asynccontextmanager
async def tcp_server(greeting: bytes) -> AsyncIterator[int]:
    """An open port that is no HTTP server: it says `greeting` and hangs up."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(greeting)
        with contextlib.suppress(OSError):
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # nothing listens once it is closed


async def test_open_and_closed_ports_read_the_same(volta, api):
    settings = volta.services.settings
    settings.webhook_allow_private_targets = True
    settings.webhook_max_attempts = 1
    await register(volta, "SSRF-3")
    async with tcp_server(b"") as silent, tcp_server(b"SSH-2.0-OpenSSH_9.6\r\n") as ssh:
        ports = {"closed": closed_port(), "open, hangs up": silent, "open, not HTTP": ssh}
        hooks = {}
        for what, port in ports.items():
            resp = await api.post(
                "/api/v1/webhooks",
                json={"url": f"http://127.0.0.1:{port}/hook", "event_types": ["station.online"]},
            )
            assert resp.status_code == 201, resp.text
            hooks[what] = resp.json()["id"]
        async with station(volta, "SSRF-3") as cp:
            await cp.call(call16.BootNotification(charge_point_vendor="v", charge_point_model="m"))

            async def all_failed() -> bool:
                for hook_id in hooks.values():
                    log = await deliveries(api, hook_id)
                    if not log or log[0]["status"] != "failed":
                        return False
                return True

            assert await wait_until(all_failed)
    seen = {}
    for what, hook_id in hooks.items():
        (delivery,) = await deliveries(api, hook_id)
        for key in ("id", "created_at", "next_attempt_at", "delivered_at"):
            delivery.pop(key, None)
        seen[what] = delivery
    assert seen["closed"]["last_error"] == "connection failed"
    assert seen["closed"]["last_status_code"] is None
    # Everything an API client reads is the same for the three ports.
    assert seen["open, hangs up"] == seen["closed"], seen
    assert seen["open, not HTTP"] == seen["closed"], seen


def self_signed(tmp_path, name: str) -> tuple[str, str]:
    cert, key = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", f"/CN={name}", "-addext", f"subjectAltName=DNS:{name}",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return str(cert), str(key)


@contextlib.asynccontextmanager
async def https_server(cert: str, key: str) -> AsyncIterator[tuple[int, list[dict]]]:
    """An HTTPS server on loopback that records each request's headers and SNI."""
    seen: list[dict] = []

    async def app(scope, receive, send) -> None:  # a bare ASGI app
        if scope["type"] != "http":
            return
        seen.append({k.decode(): v.decode() for k, v in scope["headers"]})
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=0,
            log_config=None,
            lifespan="off",
            ssl_certfile=cert,
            ssl_keyfile=key,
        )
    )
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(200):
            if server.started:
                break
            await asyncio.sleep(0.02)
        yield server.servers[0].sockets[0].getsockname()[1], seen
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 5)


async def test_tls_checks_the_url_host_while_connecting_to_the_checked_address(tmp_path, dns):
    """The transport connects to the address it checked, yet TLS verifies
    (and SNI names) the URL's host, and Host keeps it: a certificate for
    another name is refused."""
    cert, key = self_signed(tmp_path, "hooks.tls.test")
    other_cert, other_key = self_signed(tmp_path, "other.tls.test")
    dns.names["hooks.tls.test"] = ["127.0.0.1"]
    allow = targets.TargetPolicy(allow_private=True)
    async with https_server(cert, key) as (port, seen):
        trust = ssl.create_default_context(cafile=cert)
        transport = targets.GuardedTransport(lambda: allow, verify=trust)
        async with httpx.AsyncClient(transport=transport) as client:
            resp = await client.post(f"https://hooks.tls.test:{port}/hook", content=b"{}")
        assert resp.status_code == 204
        assert seen[0]["host"] == f"hooks.tls.test:{port}"
        assert dns.asked == ["hooks.tls.test"]

        # The same server, reached by a name its certificate does not hold.
        dns.names["other.tls.test"] = ["127.0.0.1"]
        transport = targets.GuardedTransport(lambda: allow, verify=trust)
        async with httpx.AsyncClient(transport=transport) as client:
            with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                await client.post(f"https://other.tls.test:{port}/hook", content=b"{}")

    # And with internal addresses refused, the name gets no connection at all.
    async with https_server(other_cert, other_key) as (port, seen):
        refuse = targets.TargetPolicy()
        transport = targets.GuardedTransport(lambda: refuse, verify=trust)
        async with httpx.AsyncClient(transport=transport) as client:
            with pytest.raises(targets.TargetRefused):
                await client.post(f"https://hooks.tls.test:{port}/hook", content=b"{}")
        assert seen == []


async def test_urls_with_spaces_or_control_characters_are_refused(volta, api):
    for url in ("https://a\x00b.example/h", "https://ex ample.com/h", "https://x.example/\r\nX: y"):
        resp = await api.post("/api/v1/webhooks", json={"url": url})
        assert resp.status_code == 422, (url, resp.text)
        assert "control characters" in resp.json()["detail"], resp.text
    resp = await api.post("/api/v1/webhooks", json={"url": "https://93.184.216.34:99999/h"})
    assert resp.status_code == 422, resp.text
    assert "port" in resp.json()["detail"]


async def test_a_bad_allowed_network_stops_the_start(tmp_path):
    settings = Settings(
        host="127.0.0.1",
        ocpp_port=0,
        api_port=0,
        database_url=f"sqlite:///{tmp_path}/volta.db",
        api_token="x" * 40,
        webhook_allowed_networks="10.20.0.0/16, 10.0.0.0/33",
    )
    app = Volta(settings)
    with pytest.raises(ValueError, match=r"webhook_allowed_networks: '10.0.0.0/33' is not a CIDR"):
        await app.start()
    await app.stop()


def test_the_secret_key_is_not_in_the_settings_repr():
    assert "s3cret-key" not in repr(Settings(secret_key="s3cret-key" * 4))
